/*
 * test_kfk_golden.c: frames captured from real Kafka clients must decode and
 * re-encode byte for byte (kafka-frontend/protocol).
 *
 * golden/<client>.frames hold requests sent by kcat, kafka-python and
 * confluent-kafka (librdkafka) and the responses of librdkafka's mock cluster,
 * recorded by capture/capture.py; each line is "req|resp KEY VERSION HEX" with
 * HEX the frame after its 4-byte size. The directory comes from
 * $KFK_GOLDEN_DIR (set by meson). Each frame is decoded (header, then body,
 * which must be consumed exactly) and encoded again, which must give the same
 * bytes. One known mock defect is checked as such: its ApiVersions reply with
 * UNSUPPORTED_VERSION to a v3 request is not a valid ApiVersions body (KIP-511
 * wants the v0 layout); clients that read it see a nonsense throttle time.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_testlib.h"
#include "kfk_protocol.h"

#define FRAMES_MAX 512

typedef struct {
	bool request;
	int16_t key;
	int16_t version;
	uint8_t *bytes;
	size_t len;
} frame_t;

typedef struct {
	frame_t frames[FRAMES_MAX];
	size_t count;
} frames_t;

static const char *const clients[] = {"kcat", "kafka-python", "confluent-kafka"};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void frame_parse(frame_t *f, char *line)
{
	char dir[8], *hex;
	int key, version, n = 0;
	size_t i, hlen;

	ck_assert_msg(sscanf(line, "%7s %d %d %n", dir, &key, &version, &n) == 3 && n > 0,
		      "bad golden line: %.60s", line);
	hex = line + n;
	hlen = strcspn(hex, " \r\n");
	ck_assert_msg(hlen % 2 == 0, "odd hex length");
	f->request = strcmp(dir, "req") == 0;
	ck_assert_msg(f->request || strcmp(dir, "resp") == 0, "bad direction %s", dir);
	f->key = (int16_t)key;
	f->version = (int16_t)version;
	f->len = hlen / 2;
	f->bytes = malloc(f->len ? f->len : 1);
	ck_assert_ptr_nonnull(f->bytes);
	for (i = 0; i < f->len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		ck_assert_msg(hi >= 0 && lo >= 0, "bad hex");
		f->bytes[i] = (uint8_t)(hi << 4 | lo);
	}
}

static void frames_load(frames_t *fs, const char *client)
{
	const char *dir = getenv("KFK_GOLDEN_DIR");
	char path[1024], *line = NULL;
	size_t cap = 0;
	FILE *fp;

	ck_assert_msg(dir != NULL, "KFK_GOLDEN_DIR is not set");
	snprintf(path, sizeof(path), "%s/%s.frames", dir, client);
	fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	fs->count = 0;
	while (getline(&line, &cap, fp) > 0) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		ck_assert_uint_lt(fs->count, FRAMES_MAX);
		frame_parse(&fs->frames[fs->count++], line);
	}
	free(line);
	fclose(fp);
}

static void frames_free(frames_t *fs)
{
	size_t i;

	for (i = 0; i < fs->count; i++)
		free(fs->frames[i].bytes);
	fs->count = 0;
}

static bool is_mock_api_versions_defect(const frame_t *f)
{
	return !f->request && f->key == KFK_API_API_VERSIONS && f->version >= 3 && f->len >= 6 &&
	       ck_be16_get(f->bytes + 4) == 35;
}

/* ---------------------------------------------------------------- meaning
 * Byte-exact re-encoding cannot catch a mistake made the same way in both
 * directions (two fields swapped, say); these checks read values the
 * capture scenario (capture/capture.py) put there, through the decoded
 * structs. */

static void check_batches(kfk_bytes_t rec, bool partial_tail_ok)
{
	size_t off = 0;

	ck_assert_int_ge(rec.len, 0);
	while (off + 17 <= (size_t)rec.len) {
		int32_t batch_len = (int32_t)ck_be32_get(rec.ptr + off + 8);
		ck_assert_int_ge(batch_len, 49);
		ck_assert_uint_eq(rec.ptr[off + 16], 2); /* magic */
		off += 12 + (size_t)batch_len;
	}
	if (partial_tail_ok)
		ck_assert_uint_ge(off + 17, (size_t)rec.len);
	else
		ck_assert_uint_eq(off, (size_t)rec.len);
}

static void check_request(const frame_t *f, const void *msg)
{
	int32_t i, j;

	switch (f->key) {
	case KFK_API_API_VERSIONS: {
		const kfk_api_versions_request_t *m = msg;
		if (f->version >= 3) {
			ck_assert_int_gt(m->client_software_name.len, 0);
			ck_assert(memmem(m->client_software_version.ptr,
					 (size_t)m->client_software_version.len, "2.0.2", 5));
		}
		break;
	}
	case KFK_API_PRODUCE: {
		const kfk_produce_request_t *m = msg;
		ck_assert(m->acks == 1 || m->acks == -1);
		ck_assert_int_ge(m->topic_data.count, 1);
		for (i = 0; i < m->topic_data.count; i++) {
			ck_assert(kfk_str_eq(m->topic_data.items[i].name, "golden"));
			for (j = 0; j < m->topic_data.items[i].partition_data.count; j++) {
				const kfk_produce_request_partition_produce_data_t *p =
					&m->topic_data.items[i].partition_data.items[j];
				ck_assert(p->index == 0 || p->index == 1);
				check_batches(p->records, false);
			}
		}
		break;
	}
	case KFK_API_FETCH: {
		const kfk_fetch_request_t *m = msg;
		ck_assert_int_ge(m->max_wait_ms, 0);
		for (i = 0; i < m->topics.count; i++) {
			ck_assert(kfk_str_eq(m->topics.items[i].topic, "golden"));
			for (j = 0; j < m->topics.items[i].partitions.count; j++) {
				ck_assert_int_le(m->topics.items[i].partitions.items[j].partition, 1);
				ck_assert_int_ge(m->topics.items[i].partitions.items[j].fetch_offset, 0);
			}
		}
		break;
	}
	case KFK_API_JOIN_GROUP: {
		const kfk_join_group_request_t *m = msg;
		ck_assert(kfk_str_eq(m->group_id, "kcat-group") || kfk_str_eq(m->group_id, "kp-group") ||
			  kfk_str_eq(m->group_id, "ck-group"));
		ck_assert(kfk_str_eq(m->protocol_type, "consumer"));
		ck_assert_int_ge(m->protocols.count, 1);
		ck_assert_int_ge(m->session_timeout_ms, 1000);
		break;
	}
	case KFK_API_CREATE_TOPICS: {
		const kfk_create_topics_request_t *m = msg;
		ck_assert_int_eq(m->topics.count, 1);
		ck_assert(kfk_str_eq(m->topics.items[0].name, "kp-new") ||
			  kfk_str_eq(m->topics.items[0].name, "ck-new"));
		ck_assert_int_eq(m->topics.items[0].num_partitions, 2);
		ck_assert_int_eq(m->topics.items[0].replication_factor, 1);
		break;
	}
	case KFK_API_CREATE_PARTITIONS: {
		const kfk_create_partitions_request_t *m = msg;
		ck_assert_int_eq(m->topics.count, 1);
		ck_assert(kfk_str_eq(m->topics.items[0].name, "golden"));
		ck_assert_int_eq(m->topics.items[0].count, 3);
		break;
	}
	case KFK_API_ALTER_CONFIGS: {
		const kfk_alter_configs_request_t *m = msg;
		ck_assert_int_eq(m->resources.count, 1);
		ck_assert(kfk_str_eq(m->resources.items[0].resource_name, "golden"));
		ck_assert_int_eq(m->resources.items[0].configs.count, 1);
		ck_assert(kfk_str_eq(m->resources.items[0].configs.items[0].name, "retention.ms"));
		ck_assert(kfk_str_eq(m->resources.items[0].configs.items[0].value, "1000"));
		break;
	}
	case KFK_API_DESCRIBE_CONFIGS: {
		const kfk_describe_configs_request_t *m = msg;
		ck_assert_int_eq(m->resources.count, 1);
		ck_assert_int_eq(m->resources.items[0].resource_type, 2); /* topic */
		ck_assert(kfk_str_eq(m->resources.items[0].resource_name, "golden"));
		break;
	}
	default:
		break;
	}
}

static void check_response(const frame_t *f, const void *msg)
{
	int32_t i, j;

	switch (f->key) {
	case KFK_API_API_VERSIONS: {
		const kfk_api_versions_response_t *m = msg;
		bool has_fetch = false;
		ck_assert_int_eq(m->error_code, 0);
		for (i = 0; i < m->api_keys.count; i++)
			if (m->api_keys.items[i].api_key == KFK_API_FETCH)
				has_fetch = m->api_keys.items[i].max_version == 11;
		ck_assert(has_fetch);
		break;
	}
	case KFK_API_METADATA: {
		const kfk_metadata_response_t *m = msg;
		ck_assert_int_eq(m->brokers.count, 1);
		ck_assert_int_eq(m->brokers.items[0].node_id, 1);
		ck_assert(kfk_str_eq(m->brokers.items[0].host, "127.0.0.1"));
		ck_assert_int_gt(m->brokers.items[0].port, 0);
		for (i = 0; i < m->topics.count; i++)
			if (kfk_str_eq(m->topics.items[i].name, "golden"))
				ck_assert_int_eq(m->topics.items[i].partitions.count, 2);
		break;
	}
	case KFK_API_PRODUCE: {
		const kfk_produce_response_t *m = msg;
		for (i = 0; i < m->responses.count; i++) {
			ck_assert(kfk_str_eq(m->responses.items[i].name, "golden"));
			for (j = 0; j < m->responses.items[i].partition_responses.count; j++) {
				ck_assert_int_eq(
					m->responses.items[i].partition_responses.items[j].error_code, 0);
				ck_assert_int_ge(
					m->responses.items[i].partition_responses.items[j].base_offset, 0);
			}
		}
		break;
	}
	case KFK_API_FETCH: {
		const kfk_fetch_response_t *m = msg;
		for (i = 0; i < m->responses.count; i++) {
			ck_assert(kfk_str_eq(m->responses.items[i].topic, "golden"));
			for (j = 0; j < m->responses.items[i].partitions.count; j++) {
				const kfk_fetch_response_partition_data_t *p =
					&m->responses.items[i].partitions.items[j];
				ck_assert_int_ge(p->high_watermark, 0);
				if (p->records.len > 0)
					check_batches(p->records, true);
			}
		}
		break;
	}
	case KFK_API_INIT_PRODUCER_ID: {
		const kfk_init_producer_id_response_t *m = msg;
		ck_assert_int_eq(m->error_code, 0);
		ck_assert_int_ge(m->producer_id, 0);
		break;
	}
	default:
		break;
	}
}

/* Decodes header and body of F; returns the body decode result and leaves
 * the encoded header and body in OUT. */
static int frame_roundtrip(const frame_t *f, kfk_arena_t *arena, void *msg, ck_buf_t *out,
			   size_t *ret_left)
{
	const kfk_api_t *api = kfk_api_lookup(f->key);
	ck_span_t in = ck_span(f->bytes, f->len);
	int16_t hv;
	int r;

	ck_assert_msg(api != NULL, "unknown api key %d", f->key);
	if (f->request) {
		kfk_request_header_t hdr;
		ck_assert_int_eq(kfk_request_header_parse(&in, arena, &hdr, &hv), 0);
		ck_assert_int_eq(hdr.request_api_key, f->key);
		ck_assert_int_eq(hdr.request_api_version, f->version);
		ck_assert_int_eq(kfk_request_header_encode(out, hv, &hdr), 0);
		r = api->request_decode(&in, f->version, arena, msg);
		if (r == 0)
			ck_assert_int_eq(api->request_encode(out, f->version, msg), 0);
	} else {
		kfk_response_header_t hdr;
		hv = kfk_response_header_version(f->key, f->version);
		ck_assert_int_eq(kfk_response_header_decode(&in, hv, arena, &hdr), 0);
		ck_assert_int_eq(kfk_response_header_encode(out, hv, &hdr), 0);
		r = api->response_decode(&in, f->version, arena, msg);
		if (r == 0)
			ck_assert_int_eq(api->response_encode(out, f->version, msg), 0);
	}
	*ret_left = in.len;
	return r;
}

START_TEST(test_client_frames_roundtrip)
{
	static frames_t fs;
	static uint8_t msg[4096] __attribute__((aligned(16)));
	kfk_arena_t arena;
	size_t i, clean = 0, defects = 0;

	frames_load(&fs, clients[_i]);
	ck_assert_msg(fs.count >= 20, "%s: only %zu frames", clients[_i], fs.count);
	kfk_arena_init(&arena, 0, 16u << 20);
	for (i = 0; i < fs.count; i++) {
		const frame_t *f = &fs.frames[i];
		const kfk_api_t *api = kfk_api_lookup(f->key);
		ck_buf_t out = CK_BUF_INIT;
		size_t left = 0;
		int r;

		ck_assert_ptr_nonnull(api);
		ck_assert_uint_le(f->request ? api->request_size : api->response_size, sizeof(msg));
		r = frame_roundtrip(f, &arena, msg, &out, &left);
		if (is_mock_api_versions_defect(f)) {
			ck_assert_msg(r != 0 || left != 0, "%s frame %zu: mock defect decoded clean",
				      clients[_i], i);
			defects++;
		} else {
			ck_assert_msg(r == 0, "%s frame %zu (%s %d v%d): decode %d", clients[_i], i,
				      f->request ? "req" : "resp", f->key, f->version, r);
			ck_assert_msg(left == 0, "%s frame %zu (%s %d v%d): %zu bytes left",
				      clients[_i], i, f->request ? "req" : "resp", f->key,
				      f->version, left);
			ck_assert_msg(out.len == f->len && memcmp(out.data, f->bytes, f->len) == 0,
				      "%s frame %zu (%s %d v%d): re-encoding differs", clients[_i],
				      i, f->request ? "req" : "resp", f->key, f->version);
			if (f->request)
				check_request(f, msg);
			else
				check_response(f, msg);
			clean++;
		}
		ck_buf_free(&out);
		kfk_arena_reset(&arena);
	}
	ck_assert_uint_ge(clean, 20);
	ck_assert_uint_le(defects, 3);
	kfk_arena_free(&arena);
	frames_free(&fs);
}
END_TEST

/* The captures must keep covering what the clients really send; a golden
 * file that lost frames fails here rather than passing vacuously. */
START_TEST(test_golden_coverage)
{
	static const struct {
		const char *client;
		bool request;
		int16_t key, version;
	} want[] = {
		{"kcat", true, 18, 3}, {"kcat", true, 3, 2}, {"kcat", true, 0, 7},
		{"kcat", true, 1, 11}, {"kcat", true, 2, 2}, {"kcat", true, 22, 4},
		{"kcat", true, 11, 5}, {"kcat", true, 14, 3}, {"kcat", true, 12, 3},
		{"kcat", true, 8, 7}, {"kcat", true, 10, 2}, {"kcat", true, 13, 1},
		{"kcat", false, 1, 11}, {"kcat", false, 0, 7}, {"kcat", false, 22, 4},
		{"kcat", false, 11, 5}, {"kcat", false, 18, 0},
		{"kafka-python", true, 18, 0}, {"kafka-python", true, 3, 0},
		{"kafka-python", true, 3, 1}, {"kafka-python", true, 0, 7},
		{"kafka-python", true, 1, 4}, {"kafka-python", true, 2, 1},
		{"kafka-python", true, 10, 0}, {"kafka-python", true, 11, 2},
		{"kafka-python", true, 14, 1}, {"kafka-python", true, 8, 2},
		{"kafka-python", true, 9, 1}, {"kafka-python", true, 19, 3},
		{"kafka-python", false, 3, 0}, {"kafka-python", false, 1, 4},
		{"confluent-kafka", true, 9, 5}, {"confluent-kafka", true, 19, 4},
		{"confluent-kafka", true, 32, 1}, {"confluent-kafka", true, 33, 0},
		{"confluent-kafka", true, 37, 0}, {"confluent-kafka", true, 20, 1},
		{"confluent-kafka", true, 16, 0}, {"confluent-kafka", false, 9, 5},
		{"confluent-kafka", false, 8, 7},
	};
	static frames_t fs[CK_ARRAY_LEN(clients)];
	size_t c, i, j;

	for (c = 0; c < CK_ARRAY_LEN(clients); c++)
		frames_load(&fs[c], clients[c]);
	for (i = 0; i < CK_ARRAY_LEN(want); i++) {
		bool found = false;
		for (c = 0; c < CK_ARRAY_LEN(clients); c++) {
			if (strcmp(clients[c], want[i].client) != 0)
				continue;
			for (j = 0; j < fs[c].count && !found; j++) {
				const frame_t *f = &fs[c].frames[j];
				found = f->request == want[i].request && f->key == want[i].key &&
					f->version == want[i].version;
			}
		}
		ck_assert_msg(found, "golden %s has no %s %d v%d", want[i].client,
			      want[i].request ? "request" : "response", want[i].key,
			      want[i].version);
	}
	for (c = 0; c < CK_ARRAY_LEN(clients); c++)
		frames_free(&fs[c]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_golden");
	TCase *tc = tcase_create("golden");

	tcase_add_loop_test(tc, test_client_frames_roundtrip, 0, (int)CK_ARRAY_LEN(clients));
	tcase_add_test(tc, test_golden_coverage);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
