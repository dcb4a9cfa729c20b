/*
 * test_kfk_conn_core.c: unit tests of the pure pieces behind connections
 * and IPC calls: the in-order response queue (kfk_respq.h), the
 * correlation id map (kfk_idmap.h) and the advertised API table with its
 * ApiVersions response (kfk_apis.h).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "ck_err.h"
#include "ck_rand.h"
#include "ck_testlib.h"
#include "kfk_apis.h"
#include "kfk_errors.h"
#include "kfk_idmap.h"
#include "kfk_protocol.h"
#include "kfk_respq.h"

typedef struct {
	kfk_respq_item_t q;
	int id;
} item_t;

START_TEST(test_responses_leave_in_request_order)
{
	kfk_respq_t q;
	item_t it[5];
	kfk_respq_item_t *out;

	kfk_respq_init(&q);
	for (int i = 0; i < 5; i++) {
		it[i].id = i;
		kfk_respq_push(&q, &it[i].q);
	}
	ck_assert_uint_eq(q.count, 5);
	/* Later requests finish first: nothing may leave yet. */
	kfk_respq_done(&it[3].q);
	kfk_respq_done(&it[1].q);
	ck_assert_ptr_null(kfk_respq_pop_ready(&q));
	kfk_respq_done(&it[0].q);
	out = kfk_respq_pop_ready(&q);
	ck_assert_int_eq(((item_t *)out)->id, 0);
	out = kfk_respq_pop_ready(&q);
	ck_assert_int_eq(((item_t *)out)->id, 1);
	ck_assert_ptr_null(kfk_respq_pop_ready(&q)); /* 2 still running */
	kfk_respq_done(&it[2].q);
	ck_assert_int_eq(((item_t *)kfk_respq_pop_ready(&q))->id, 2);
	ck_assert_int_eq(((item_t *)kfk_respq_pop_ready(&q))->id, 3);
	ck_assert_ptr_null(kfk_respq_pop_ready(&q));
	ck_assert_uint_eq(q.count, 1);
	/* Closing takes the rest whatever their state. */
	ck_assert_int_eq(((item_t *)kfk_respq_pop_any(&q))->id, 4);
	ck_assert_ptr_null(kfk_respq_pop_any(&q));
	ck_assert_uint_eq(q.count, 0);
	/* The queue is reusable after it emptied. */
	kfk_respq_push(&q, &it[0].q);
	kfk_respq_done(&it[0].q);
	ck_assert_ptr_eq(kfk_respq_pop_ready(&q), &it[0].q);
}
END_TEST

static int drained;
static void drain_fn(void *arg, uint64_t id, void *val)
{
	(void)arg;
	ck_assert_uint_eq((uint64_t)(uintptr_t)val, id * 3);
	drained++;
}

START_TEST(test_idmap_random_ops)
{
	enum { N = 5000 };
	static bool present[N + 1];
	kfk_idmap_t m;
	ck_rand_t r;
	size_t live = 0;

	memset(present, 0, sizeof(present));
	kfk_idmap_init(&m);
	ck_rand_seed(&r, 42);
	ck_assert_int_eq(kfk_idmap_put(&m, 0, NULL), CK_E_INVALID);
	for (int step = 0; step < 40000; step++) {
		uint64_t id = 1 + ck_rand_below(&r, N);
		void *val = (void *)(uintptr_t)(id * 3);

		if (ck_rand_below(&r, 3) != 0) {
			int rc = kfk_idmap_put(&m, id, val);
			ck_assert_int_eq(rc, present[id] ? CK_E_EXISTS : 0);
			if (!present[id])
				live++;
			present[id] = true;
		} else {
			void *got = kfk_idmap_take(&m, id);
			ck_assert_ptr_eq(got, present[id] ? val : NULL);
			if (present[id])
				live--;
			present[id] = false;
		}
		ck_assert_uint_eq(m.count, live);
	}
	for (uint64_t id = 1; id <= N; id++)
		ck_assert_ptr_eq(kfk_idmap_get(&m, id),
		                 present[id] ? (void *)(uintptr_t)(id * 3) : NULL);
	drained = 0;
	kfk_idmap_drain(&m, drain_fn, NULL);
	ck_assert_int_eq(drained, (int)live);
	ck_assert_uint_eq(m.count, 0);
	ck_assert_ptr_null(kfk_idmap_get(&m, 1));
	kfk_idmap_free(&m);
}
END_TEST

START_TEST(test_api_table)
{
	size_t n;
	const kfk_api_range_t *t = kfk_apis_table(&n);

	ck_assert_uint_ge(n, 12);
	for (size_t i = 0; i < n; i++) {
		const kfk_api_t *api = kfk_api_lookup(t[i].api_key);

		/* Every advertised version is one the codec can decode. */
		ck_assert_ptr_nonnull(api);
		ck_assert_int_ge(t[i].min_version, api->min_version);
		ck_assert_int_le(t[i].max_version, api->max_version);
		if (i)
			ck_assert_int_lt(t[i - 1].api_key, t[i].api_key);
	}
	/* What CLIENTS.md says clients need. */
	ck_assert(kfk_apis_supported(KFK_API_PRODUCE, 3));
	ck_assert(kfk_apis_supported(KFK_API_PRODUCE, 7));
	ck_assert(kfk_apis_supported(KFK_API_PRODUCE, 0)); /* librdkafka compression probe */
	ck_assert(kfk_apis_supported(KFK_API_FETCH, 4));
	ck_assert(kfk_apis_supported(KFK_API_FETCH, 11));
	ck_assert(kfk_apis_supported(KFK_API_METADATA, 0));
	ck_assert(kfk_apis_supported(KFK_API_API_VERSIONS, 0));
	ck_assert(kfk_apis_supported(KFK_API_API_VERSIONS, 3));
	ck_assert(!kfk_apis_supported(KFK_API_API_VERSIONS, 4));
	ck_assert(kfk_apis_supported(KFK_API_LIST_OFFSETS, 1));
	/* FindCoordinator v0 makes librdkafka send lz4 (kfk_apis.h). */
	ck_assert(kfk_apis_supported(KFK_API_FIND_COORDINATOR, 0));
	/* Consumer groups (kfk_group_core.h). */
	ck_assert(kfk_apis_supported(KFK_API_JOIN_GROUP, 0));
	/* Idempotent producers (kfk_h_producer_id.c). */
	ck_assert(kfk_apis_supported(KFK_API_INIT_PRODUCER_ID, 0));
	ck_assert(kfk_apis_supported(KFK_API_INIT_PRODUCER_ID, 4));
}
END_TEST

/* KIP-511's client software names and versions. */
START_TEST(test_software_names)
{
	static const char *ok[] = {"librdkafka", "2.0.2", "kafka-python", "a", "a.b-c", "9"};
	static const char *bad[] = {"", "-x-", "x-", ".x", "a b", "a_b", "é", "a/b"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		ck_assert_msg(kfk_apis_software_ok(ok[i], strlen(ok[i])), "%s", ok[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!kfk_apis_software_ok(bad[i], strlen(bad[i])), "%s", bad[i]);
	ck_assert(!kfk_apis_software_ok(NULL, 0));
}
END_TEST

START_TEST(test_api_versions_response_round_trip)
{
	int16_t v = (int16_t)_i;
	size_t n;
	kfk_api_versions_response_t resp, dec;
	kfk_api_versions_response_api_version_t items[32];
	ck_buf_t b = CK_BUF_INIT;
	kfk_arena_t arena;
	ck_span_t in;

	(void)kfk_apis_table(&n);
	kfk_api_versions_response_init(&resp);
	kfk_apis_fill_response(&resp, KFK_ERR_NONE, items);
	ck_assert_int_eq(kfk_api_versions_response_encode(&b, v, &resp), 0);
	kfk_arena_init(&arena, 0, 0);
	in = ck_span(b.data, b.len);
	ck_assert_int_eq(kfk_api_versions_response_decode(&in, v, &arena, &dec), 0);
	ck_assert_int_eq(dec.error_code, 0);
	ck_assert_int_eq(dec.api_keys.count, (int32_t)n);
	ck_assert_int_eq(dec.api_keys.items[0].api_key, KFK_API_PRODUCE);
	ck_assert_int_eq(dec.api_keys.items[0].min_version, 0);
	kfk_arena_free(&arena);
	ck_buf_free(&b);
}
END_TEST

START_TEST(test_error_mapping)
{
	/* Retriable conditions stay retriable. */
	ck_assert_int_eq(kfk_err_from_wal(CK_E_NOT_FOUND), KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION);
	ck_assert_int_eq(kfk_err_from_wal(-ENOTCONN), KFK_ERR_NOT_LEADER_OR_FOLLOWER);
	ck_assert_int_eq(kfk_err_from_wal(CK_E_CLOSED), KFK_ERR_REQUEST_TIMED_OUT);
	ck_assert_int_eq(kfk_err_from_wal(CK_E_SEQUENCE), KFK_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
	ck_assert_int_eq(kfk_err_from_wal(CK_E_FENCED), KFK_ERR_INVALID_PRODUCER_EPOCH);
	ck_assert_str_eq(kfk_err_name(KFK_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
	                 "TRANSACTIONAL_ID_AUTHORIZATION_FAILED");
	ck_assert_int_eq(kfk_err_from_wal(CK_E_AGAIN), KFK_ERR_REQUEST_TIMED_OUT);
	ck_assert_int_eq(kfk_err_from_wal(CK_E_TOO_LARGE), KFK_ERR_MESSAGE_TOO_LARGE);
	ck_assert_int_eq(kfk_err_from_wal(CK_E_CORRUPT), KFK_ERR_CORRUPT_MESSAGE);
	/* The log directory failing, whatever the errno: retriable. */
	ck_assert_int_eq(kfk_err_from_wal(-ENOSPC), KFK_ERR_KAFKA_STORAGE_ERROR);
	ck_assert_int_eq(kfk_err_from_wal(-EIO), KFK_ERR_KAFKA_STORAGE_ERROR);
	ck_assert_int_eq(kfk_err_from_wal(-EPERM), KFK_ERR_KAFKA_STORAGE_ERROR);
	ck_assert_int_eq(kfk_err_from_wal(-EROFS), KFK_ERR_KAFKA_STORAGE_ERROR);
	ck_assert_int_eq(kfk_err_from_wal(-EMFILE), KFK_ERR_KAFKA_STORAGE_ERROR);
	ck_assert_int_eq(kfk_err_from_wal(CK_E_PROTO), KFK_ERR_UNKNOWN_SERVER_ERROR);
	ck_assert_int_eq(kfk_err_from_wal(MDB_MAP_FULL), KFK_ERR_UNKNOWN_SERVER_ERROR);
	ck_assert_int_eq(kfk_err_from_raftd(CK_E_NOT_LEADER), KFK_ERR_NOT_CONTROLLER);
	ck_assert_int_eq(kfk_err_from_raftd(-ENOTCONN), KFK_ERR_NOT_CONTROLLER);
	ck_assert_int_eq(kfk_err_from_raftd(CK_E_EXISTS), KFK_ERR_TOPIC_ALREADY_EXISTS);
	ck_assert_int_eq(kfk_err_from_raftd(CK_E_TOO_LARGE), KFK_ERR_RECORD_LIST_TOO_LARGE);
	ck_assert_int_eq(kfk_err_from_raftd(CK_E_TIMEOUT), KFK_ERR_REQUEST_TIMED_OUT);
	ck_assert_int_eq(kfk_err_from_raftd(CK_E_SHUTDOWN), KFK_ERR_REQUEST_TIMED_OUT);
	ck_assert_int_eq(kfk_err_from_raftd(-EIO), KFK_ERR_UNKNOWN_SERVER_ERROR);
	ck_assert_str_eq(kfk_err_name(KFK_ERR_NOT_ENOUGH_REPLICAS), "NOT_ENOUGH_REPLICAS");
	ck_assert_str_eq(kfk_err_name(12345), "UNKNOWN");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_conn_core");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_responses_leave_in_request_order);
	tcase_add_test(tc, test_idmap_random_ops);
	tcase_add_test(tc, test_api_table);
	tcase_add_test(tc, test_software_names);
	tcase_add_loop_test(tc, test_api_versions_response_round_trip, 0, 4);
	tcase_add_test(tc, test_error_mapping);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
