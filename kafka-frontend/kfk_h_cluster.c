/*
 * kfk_h_cluster.c: ApiVersions, DescribeCluster and FindCoordinator (shell
 * handlers of chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. ApiVersions lists exactly the advertised table
 * (kfk_apis.h); its response header is always v0 (kfk_protocol.h does
 * that). DescribeCluster lists the live brokers as Metadata does.
 * FindCoordinator hands the unfenced brokers (from LMDB `brokers`; all of
 * them when none is) to kfk_coord_core.h, which picks one per key.
 * kfk_group_coordinator() gives the group handlers the same pick. A
 * transactional id gets an error (transactions are not supported), logged.
 * Not for: unsupported ApiVersions versions (kfk_dispatch.c answers those),
 * group membership (kfk_h_groups.c).
 */
#define CK_LOG_SUBSYSTEM "cluster"

#include "ck_err.h"
#include "ck_log.h"
#include "kfk_apis.h"
#include "kfk_coord_core.h"
#include "kfk_errors.h"
#include "kfk_srv.h"

void kfk_h_api_versions(kfk_req_t *req)
{
	const kfk_api_versions_request_t *rq = req->body;
	kfk_api_versions_response_t resp;
	kfk_api_versions_response_api_version_t *items;
	size_t n;

	(void)kfk_apis_table(&n);
	items = kfk_req_alloc(req, n, sizeof(*items));
	if (!items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	kfk_api_versions_response_init(&resp);
	/* v3+ names the client (KIP-511); Kafka refuses names it would not
	 * put into a metric's tags, and still lists its versions. */
	if (req->api_version >= 3 &&
	    (!kfk_apis_software_ok(rq->client_software_name.ptr,
	                           (size_t)CK_MAX(rq->client_software_name.len, 0)) ||
	     !kfk_apis_software_ok(rq->client_software_version.ptr,
	                           (size_t)CK_MAX(rq->client_software_version.len, 0))))
		kfk_apis_fill_response(&resp, KFK_ERR_INVALID_REQUEST, items);
	else
		kfk_apis_fill_response(&resp, KFK_ERR_NONE, items);
	kfk_req_respond(req, &resp);
}

/* Kafka's DescribeCluster endpoint types. */
#define KFK_ENDPOINT_TYPE_BROKERS     1
#define KFK_ENDPOINT_TYPE_CONTROLLERS 2

void kfk_h_describe_cluster(kfk_req_t *req)
{
	const kfk_describe_cluster_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_describe_cluster_response_t resp;
	const kfk_broker_t *b;
	int nb = 0, k = 0;

	kfk_meta_refresh(s);
	kfk_describe_cluster_response_init(&resp);
	resp.cluster_id = kfk_str(s->cfg->cluster_id);
	resp.controller_id = kfk_meta_controller(s);
	if (req->conn)
		kfk_conn_note_controller(req->conn, resp.controller_id);
	resp.endpoint_type = rq->endpoint_type;
	if (rq->include_cluster_authorized_operations)
		resp.cluster_authorized_operations = KFK_OPS_CLUSTER;
	/* A broker lists brokers; controllers (2) are asked of controllers. */
	if (rq->endpoint_type != KFK_ENDPOINT_TYPE_BROKERS) {
		bool known = rq->endpoint_type == KFK_ENDPOINT_TYPE_CONTROLLERS;

		resp.error_code =
		    known ? KFK_ERR_MISMATCHED_ENDPOINT_TYPE : KFK_ERR_UNSUPPORTED_ENDPOINT_TYPE;
		resp.error_message = kfk_str(known ? "The request was sent to a broker, which "
		                                     "lists brokers, not controllers."
		                                   : "Unknown endpoint type.");
		kfk_req_respond(req, &resp);
		return;
	}
	if (kfk_meta_brokers(s, &b, &nb) < 0)
		nb = 0;
	resp.brokers.items = kfk_req_alloc(req, (size_t)nb, sizeof(*resp.brokers.items));
	if (!resp.brokers.items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int i = 0; i < nb; i++) {
		kfk_describe_cluster_response_describe_cluster_broker_t *o = &resp.brokers.items[k];

		if (b[i].fenced && b[i].id != s->cfg->node_id)
			continue;
		kfk_describe_cluster_response_describe_cluster_broker_init(o);
		o->broker_id = b[i].id;
		o->host = kfk_str(b[i].host);
		o->port = b[i].port;
		o->rack = b[i].rack[0] ? kfk_str(b[i].rack) : KFK_STR_NULL;
		k++;
	}
	resp.brokers.count = k;
	kfk_req_respond(req, &resp);
}

/* The brokers that may coordinate (kfk_coord_core.h): the unfenced ones,
 * ascending ids (kfk_meta_brokers), so that every node with the same view
 * picks alike -- this node too while it is fenced (just restarted, say): were
 * it to count itself, it would claim groups the other nodes place elsewhere
 * and a group would have two coordinators. When none is unfenced (a cluster
 * starting), every registered broker counts, again alike on every node.
 * LIVE has room for every broker; returns how many. */
static int kfk_coord_live(const kfk_broker_t *b, int nb, kfk_coord_broker_t *live)
{
	int k = 0;

	for (int pass = 0; pass < 2 && k == 0; pass++) {
		for (int i = 0; i < nb; i++) {
			if (b[i].fenced && pass == 0)
				continue;
			live[k].id = b[i].id;
			live[k].host = b[i].host;
			live[k].port = b[i].port;
			k++;
		}
	}
	return k;
}

int32_t kfk_group_coordinator(kfk_srv_t *s, kfk_str_t group)
{
	kfk_coord_broker_t live[KFK_COORD_BROKERS_MAX];
	const kfk_broker_t *b;
	int nb = 0, k;

	if (kfk_meta_brokers(s, &b, &nb) < 0 || nb <= 0)
		return s->cfg->node_id; /* alone: only this node can */
	k = kfk_coord_live(b, nb < KFK_COORD_BROKERS_MAX ? nb : KFK_COORD_BROKERS_MAX, live);
	return k > 0 ? live[kfk_coord_pick(group, live, k)].id : -1;
}

void kfk_h_find_coordinator(kfk_req_t *req)
{
	static ck_log_limit_t txn_lim;
	const kfk_find_coordinator_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_find_coordinator_response_t resp;
	kfk_coord_broker_t *live = NULL;
	const kfk_broker_t *b;
	int nb = 0, k = 0, r;

	kfk_meta_refresh(s);
	if (kfk_meta_brokers(s, &b, &nb) < 0)
		nb = 0;
	if (nb > KFK_COORD_BROKERS_MAX)
		nb = KFK_COORD_BROKERS_MAX; /* as kfk_group_coordinator() */
	if (nb > 0) {
		live = kfk_req_alloc(req, (size_t)nb, sizeof(*live));
		if (!live) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
		k = kfk_coord_live(b, nb, live);
	}
	r = kfk_coord_answer(rq, req->api_version, live, k, &req->arena, &resp);
	if (r < 0) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	if (req->api_version >= 1 && rq->key_type == KFK_COORD_KEY_TRANSACTION)
		ck_log_limited(
		    &txn_lim, CK_LOG_INFO,
		    "transactions are not supported: FindCoordinator for a transactional "
		    "id refused peer=%s",
		    req->conn ? kfk_conn_peer(req->conn) : "-");
	kfk_req_respond(req, &resp);
}
