/*
 * kfk_dispatch.c: from a request frame to its handler (shell of
 * chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. Parses the request header, checks the API key
 * and version against the advertised table (kfk_apis.h), decodes the body
 * into the request's arena and calls the handler. An unknown key or version
 * closes the connection, as Kafka does (kafka-python's version probe relies
 * on it), except ApiVersions, which answers UNSUPPORTED_VERSION with the
 * supported ranges in a v0 body (KIP-511). An undecodable header or body
 * closes the connection with one log line.
 * Not for: the handlers themselves (kfk_h_*.c), framing (kfk_conn.c).
 */
#define CK_LOG_SUBSYSTEM "dispatch"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_apis.h"
#include "kfk_errors.h"
#include "kfk_srv.h"

typedef void (*kfk_handler_fn)(kfk_req_t *req);

static kfk_handler_fn kfk_handler(int16_t api_key)
{
	switch (api_key) {
	case KFK_API_PRODUCE:
		return kfk_h_produce;
	case KFK_API_FETCH:
		return kfk_h_fetch;
	case KFK_API_LIST_OFFSETS:
		return kfk_h_list_offsets;
	case KFK_API_DELETE_RECORDS:
		return kfk_h_delete_records;
	case KFK_API_OFFSET_FOR_LEADER_EPOCH:
		return kfk_h_offset_for_leader_epoch;
	case KFK_API_DESCRIBE_LOG_DIRS:
		return kfk_h_describe_log_dirs;
	case KFK_API_METADATA:
		return kfk_h_metadata;
	case KFK_API_FIND_COORDINATOR:
		return kfk_h_find_coordinator;
	case KFK_API_API_VERSIONS:
		return kfk_h_api_versions;
	case KFK_API_CREATE_TOPICS:
		return kfk_h_create_topics;
	case KFK_API_DELETE_TOPICS:
		return kfk_h_delete_topics;
	case KFK_API_DESCRIBE_CONFIGS:
		return kfk_h_describe_configs;
	case KFK_API_ALTER_CONFIGS:
		return kfk_h_alter_configs;
	case KFK_API_CREATE_PARTITIONS:
		return kfk_h_create_partitions;
	case KFK_API_INCREMENTAL_ALTER_CONFIGS:
		return kfk_h_incremental_alter_configs;
	case KFK_API_DESCRIBE_CLUSTER:
		return kfk_h_describe_cluster;
	case KFK_API_JOIN_GROUP:
		return kfk_h_join_group;
	case KFK_API_SYNC_GROUP:
		return kfk_h_sync_group;
	case KFK_API_HEARTBEAT:
		return kfk_h_heartbeat;
	case KFK_API_LEAVE_GROUP:
		return kfk_h_leave_group;
	case KFK_API_OFFSET_COMMIT:
		return kfk_h_offset_commit;
	case KFK_API_OFFSET_FETCH:
		return kfk_h_offset_fetch;
	case KFK_API_LIST_GROUPS:
		return kfk_h_list_groups;
	case KFK_API_DESCRIBE_GROUPS:
		return kfk_h_describe_groups;
	case KFK_API_DELETE_GROUPS:
		return kfk_h_delete_groups;
	case KFK_API_OFFSET_DELETE:
		return kfk_h_offset_delete;
	case KFK_API_ELECT_LEADERS:
		return kfk_h_elect_leaders;
	case KFK_API_INIT_PRODUCER_ID:
		return kfk_h_init_producer_id;
	case KFK_API_DESCRIBE_ACLS:
		return kfk_h_describe_acls;
	case KFK_API_CREATE_ACLS:
		return kfk_h_create_acls;
	case KFK_API_DELETE_ACLS:
		return kfk_h_delete_acls;
	default:
		return NULL;
	}
}

/* ApiVersions at a version we do not speak: error 35 and the table, in a
 * v0 body (any client can read that: the error code comes first). */
static void kfk_api_versions_unsupported(kfk_req_t *req)
{
	kfk_api_versions_response_t resp;
	size_t n;
	kfk_api_versions_response_api_version_t *items;

	(void)kfk_apis_table(&n);
	items = kfk_req_alloc(req, n, sizeof(*items));
	if (!items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	kfk_api_versions_response_init(&resp);
	kfk_apis_fill_response(&resp, KFK_ERR_UNSUPPORTED_VERSION, items);
	req->api_version = 0;
	kfk_req_respond(req, &resp);
}

static void kfk_dispatch_reject(kfk_conn_t *c, kfk_req_t *req, const char *what, int err)
{
	char reason[160];

	if (err)
		(void)snprintf(reason, sizeof(reason), "%s: %s", what, ck_strerror(err));
	else
		(void)snprintf(reason, sizeof(reason), "%s (version %d)", what,
		               (int)req->api_version);
	kfk_conn_close_after(c, req->api_key, reason);
	kfk_req_free(req);
}

/* A request of a key or version we do not speak: the connection closes. */
static void kfk_dispatch_unsupported(kfk_conn_t *c, kfk_req_t *req)
{
	kfk_dispatch_reject(
	    c, req, kfk_apis_find(req->api_key) ? "unsupported api version" : "unsupported api key",
	    0);
}

static kfk_req_t *kfk_req_new(kfk_conn_t *c, uint8_t *frame, size_t len)
{
	kfk_srv_t *s = kfk_conn_srv(c);
	kfk_req_t *req = calloc(1, sizeof(*req));
	size_t cap;

	if (!req)
		return NULL;
	req->srv = s;
	req->conn = c;
	req->frame = frame;
	req->frame_len = len;
	req->recv_ms = ck_clock_mono_ms();
	req->api_key = -1;
	/* Decoded structs are bigger than their wire form: room for that, but
	 * bounded by what the frame could possibly describe. */
	cap = len > (SIZE_MAX - KFK_ARENA_SLACK_BYTES) / 32 ? SIZE_MAX
	                                                    : len * 32 + KFK_ARENA_SLACK_BYTES;
	kfk_arena_init(&req->arena, 4096, cap);
	return req;
}

/* A client id that is not UTF-8 read as Kafka reads it (Java's decoder):
 * every ill-formed byte becomes U+FFFD, so what is echoed (member ids,
 * DescribeGroups) is a string every client can decode. Returns 0 or
 * -ENOMEM. */
static int kfk_client_id_fix(kfk_req_t *req)
{
	static const unsigned char repl[3] = {0xef, 0xbf, 0xbd};
	kfk_str_t s = req->hdr.client_id;
	const unsigned char *p = (const unsigned char *)s.ptr;
	unsigned char *out;
	int32_t i = 0, n = 0;

	if (kfk_str_utf8(s))
		return 0;
	if (kfk_arena_alloc(&req->arena, (size_t)s.len, 3, (void **)&out) < 0)
		return -ENOMEM;
	while (i < s.len) {
		int32_t k = kfk_utf8_seq(p + i, s.len - i);

		if (k) {
			memcpy(out + n, p + i, (size_t)k);
			n += k;
			i += k;
		} else {
			memcpy(out + n, repl, sizeof(repl));
			n += (int32_t)sizeof(repl);
			i++;
		}
	}
	req->hdr.client_id = (kfk_str_t){(const char *)out, n};
	return 0;
}

void kfk_dispatch_frame(kfk_conn_t *c, uint8_t *frame, size_t len)
{
	kfk_req_t *req = kfk_req_new(c, frame, len);
	ck_span_t in = ck_span(frame, len);
	const kfk_api_t *api;
	kfk_handler_fn fn;
	int r;

	if (!req) {
		free(frame);
		kfk_conns_rx_release(kfk_conn_srv(c), kfk_conn_rx_take(c));
		kfk_conn_close(c, -1, "out of memory");
		return;
	}
	req->rx_held = kfk_conn_rx_take(c);
	r = kfk_request_header_parse(&in, &req->arena, &req->hdr, NULL);
	if (r < 0 && len >= 2 && ck_be16_get(frame) == KFK_API_API_VERSIONS) {
		/* An ApiVersions newer than ours may come with a v1 header:
		 * read it so the client learns our versions (KIP-511). */
		in = ck_span(frame, len);
		r = kfk_request_header_decode(&in, 1, &req->arena, &req->hdr);
	}
	if (r >= 0)
		r = kfk_client_id_fix(req);
	if (r < 0 && len >= 4) {
		/* A version we do not speak may come with a header we cannot
		 * read (its layout follows the version): the log line names
		 * the key and version all the same. */
		req->api_key = (int16_t)ck_be16_get(frame);
		req->api_version = (int16_t)ck_be16_get(frame + 2);
		if (!kfk_apis_supported(req->api_key, req->api_version)) {
			kfk_dispatch_unsupported(c, req);
			return;
		}
	}
	if (r < 0) {
		kfk_dispatch_reject(c, req, "undecodable request header", r);
		return;
	}
	req->api_key = req->hdr.request_api_key;
	req->api_version = req->hdr.request_api_version;
	kfk_conn_note_api(c, req->api_key);
	api = kfk_api_lookup(req->api_key);
	fn = kfk_handler(req->api_key);
	if (!kfk_apis_supported(req->api_key, req->api_version) || !api || !fn) {
		if (req->api_key == KFK_API_API_VERSIONS) {
			kfk_conn_enqueue(c, req);
			kfk_api_versions_unsupported(req);
			return;
		}
		kfk_dispatch_unsupported(c, req);
		return;
	}
	req->body = kfk_req_alloc(req, 1, api->request_size);
	if (!req->body) {
		kfk_dispatch_reject(c, req, "request body", -ENOMEM);
		return;
	}
	r = api->request_decode(&in, req->api_version, &req->arena, req->body);
	if (r < 0) {
		kfk_dispatch_reject(c, req, "undecodable request body", r);
		return;
	}
	if (in.len > 0)
		ck_log(CK_LOG_DEBUG, "request with trailing bytes peer=%s api_key=%d bytes=%zu",
		       kfk_conn_peer(c), (int)req->api_key, in.len);
	/* The frame's bound was for decoding it. The answer is built in the
	 * same arena and its size follows the cluster, not the request: a
	 * Metadata request for every topic of 160,000 needs ~20 MB. */
	kfk_arena_set_cap(&req->arena, 0);
	kfk_conn_enqueue(c, req);
	/* A node that has just started knows the cluster as its own copy of
	 * the metadata had it when it stopped: partitions led elsewhere since
	 * would still be its own, and it would take produces as a stale
	 * leader (truncated later: acks=1 records lost, an idempotent
	 * producer's sequence broken). As a Kafka broker serves clients only
	 * once caught up with the metadata log, requests wait for one sync
	 * through the Raft leader first. */
	kfk_groups_stall_check(req->srv, ck_clock_mono_ms());
	if (!req->srv->meta_caught_up && req->api_key != KFK_API_API_VERSIONS &&
	    kfk_req_sync_first(req, fn))
		return;
	fn(req);
}
