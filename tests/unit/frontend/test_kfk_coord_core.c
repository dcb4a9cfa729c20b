/*
 * test_kfk_coord_core.c: unit tests of FindCoordinator's pure part
 * (kafka-frontend/kfk_coord_core.h): the deterministic pick among live
 * brokers (and what a broker leaving or coming moves), and the response of every
 * served version, decoded from the bytes a client would receive.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ck_buf.h"
#include "ck_err.h"
#include "ck_testlib.h"
#include "kfk_apis.h"
#include "kfk_coord_core.h"
#include "kfk_errors.h"
#include "kfk_msgs.h"

static const kfk_coord_broker_t one[] = {{1, "127.0.0.1", 9092}};
static const kfk_coord_broker_t three[] = {
    {1, "b1.example", 19092}, {4, "b4.example", 49092}, {7, "b7.example", 79}};

static kfk_str_t S(const char *s)
{
	return kfk_str(s);
}

/* Expects S to hold exactly C. */
static void str_is(kfk_str_t s, const char *c)
{
	ck_assert_msg(kfk_str_eq(s, c), "got \"%.*s\" (len %d), expected \"%s\"",
	              s.len > 0 ? (int)s.len : 0, s.ptr ? s.ptr : "", (int)s.len, c);
}

/* Every node picks alike; the groups spread over the brokers; a broker
 * leaving moves only its own groups, and coming back takes back only
 * those (rendezvous hashing). */
START_TEST(test_pick_is_deterministic_and_spread)
{
	static const kfk_coord_broker_t all[4] = {
	    {1, "a", 1}, {2, "b", 2}, {3, "c", 3}, {7, "d", 4}};
	kfk_coord_broker_t without[3];
	int count[4] = {0, 0, 0, 0}, moved_back = 0;
	char key[32];

	ck_assert_int_eq(kfk_coord_pick(S("anything"), all, 1), 0);
	ck_assert_int_eq(kfk_coord_pick(KFK_STR_NULL, all, 3), kfk_coord_pick(S(""), all, 3));
	for (int i = 0; i < 4000; i++) {
		int p, q, gone;

		(void)snprintf(key, sizeof(key), "group-%d", i);
		p = kfk_coord_pick(S(key), all, 4);
		ck_assert_int_ge(p, 0);
		ck_assert_int_lt(p, 4);
		ck_assert_int_eq(kfk_coord_pick(S(key), all, 4), p);
		count[p]++;
		/* Without broker GONE (the list keeps its order). */
		gone = i % 4;
		for (int b = 0, k = 0; b < 4; b++)
			if (b != gone)
				without[k++] = all[b];
		q = kfk_coord_pick(S(key), without, 3);
		if (p != gone)
			ck_assert_int_eq(without[q].id, all[p].id); /* stays */
		else
			moved_back++; /* moves away now, back when GONE returns */
	}
	for (int i = 0; i < 4; i++) {
		ck_assert_int_ge(count[i], 800);
		ck_assert_int_le(count[i], 1200);
	}
	ck_assert_int_ge(moved_back, 850);
	ck_assert_int_le(moved_back, 1150);
	/* The order of the list does not matter. */
	for (int i = 0; i < 200; i++) {
		kfk_coord_broker_t rev[4] = {all[3], all[2], all[1], all[0]};

		(void)snprintf(key, sizeof(key), "g%d", i);
		ck_assert_int_eq(rev[kfk_coord_pick(S(key), rev, 4)].id,
		                 all[kfk_coord_pick(S(key), all, 4)].id);
	}
}
END_TEST

/* Answers RQ at V against BROKERS, encodes the response and decodes it
 * again into *RET (what the client reads). */
static void answer(const kfk_find_coordinator_request_t *rq, int16_t v,
                   const kfk_coord_broker_t *brokers, int n, kfk_arena_t *arena,
                   ck_buf_t *wire, kfk_find_coordinator_response_t *ret)
{
	kfk_find_coordinator_response_t resp;
	ck_span_t in;

	ck_assert_int_eq(kfk_coord_answer(rq, v, brokers, n, arena, &resp), 0);
	ck_buf_reset(wire);
	ck_assert_int_eq(kfk_find_coordinator_response_encode(wire, v, &resp), 0);
	in = ck_span(wire->data, wire->len);
	ck_assert_int_eq(kfk_find_coordinator_response_decode(&in, v, arena, ret), 0);
	ck_assert_uint_eq(in.len, 0);
}

START_TEST(test_single_key_versions)
{
	int16_t v = (int16_t)_i;
	kfk_find_coordinator_request_t rq;
	kfk_find_coordinator_response_t got;
	ck_buf_t wire = CK_BUF_INIT;
	kfk_arena_t arena;

	kfk_arena_init(&arena, 0, 0);
	kfk_find_coordinator_request_init(&rq);
	rq.key = S("my-group");
	answer(&rq, v, one, 1, &arena, &wire, &got);
	ck_assert_int_eq(got.error_code, KFK_ERR_NONE);
	ck_assert_int_eq(got.node_id, 1);
	str_is(got.host, "127.0.0.1");
	ck_assert_int_eq(got.port, 9092);
	if (v >= 1)
		ck_assert_int_eq(got.error_message.len, -1);
	/* Transactions are not supported (no key type in v0): a fatal error
	 * for clients, with its reason, rather than a coordinator. */
	if (v >= 1) {
		rq.key_type = KFK_COORD_KEY_TRANSACTION;
		rq.key = S("txn-1");
		answer(&rq, v, three, 3, &arena, &wire, &got);
		ck_assert_int_eq(got.error_code, KFK_TXN_UNSUPPORTED_ERR);
		ck_assert_int_eq(got.error_code, 53); /* TRANSACTIONAL_ID_AUTHORIZATION_FAILED */
		str_is(got.error_message, "transactions are not supported");
		ck_assert_int_eq(got.node_id, -1);
		str_is(got.host, "");
		ck_assert_int_eq(got.port, -1);
		/* An unknown key type fails the request the way Kafka does. */
		rq.key_type = 2;
		answer(&rq, v, one, 1, &arena, &wire, &got);
		ck_assert_int_eq(got.error_code, KFK_ERR_INVALID_REQUEST);
		ck_assert_int_eq(got.node_id, -1);
		str_is(got.host, "");
		ck_assert_int_eq(got.port, -1);
		ck_assert_int_gt(got.error_message.len, 0);
	}
	kfk_arena_free(&arena);
	ck_buf_free(&wire);
}
END_TEST

START_TEST(test_v0_golden_bytes)
{
	/* Key "grp" as a client sends it; the answer byte by byte. */
	static const uint8_t req[] = {0x00, 0x03, 'g', 'r', 'p'};
	static const uint8_t want[] = {0x00, 0x00,             /* error_code */
	                               0x00, 0x00, 0x00, 0x01, /* node_id */
	                               0x00, 0x09, '1', '2', '7', '.', '0', '.', '0', '.', '1',
	                               0x00, 0x00, 0x23, 0x84}; /* port 9092 */
	kfk_find_coordinator_request_t rq;
	kfk_find_coordinator_response_t resp;
	ck_buf_t wire = CK_BUF_INIT;
	kfk_arena_t arena;
	ck_span_t in = ck_span(req, sizeof(req));

	kfk_arena_init(&arena, 0, 0);
	ck_assert_int_eq(kfk_find_coordinator_request_decode(&in, 0, &arena, &rq), 0);
	ck_assert_int_eq(kfk_coord_answer(&rq, 0, one, 1, &arena, &resp), 0);
	ck_assert_int_eq(kfk_find_coordinator_response_encode(&wire, 0, &resp), 0);
	ck_assert_uint_eq(wire.len, sizeof(want));
	ck_assert_mem_eq(wire.data, want, sizeof(want));
	kfk_arena_free(&arena);
	ck_buf_free(&wire);
}
END_TEST

START_TEST(test_v4_batch)
{
	/* v4 as the Java client sends it: key type 0, keys "a", "b" and
	 * "polygenelubricants" (compact array and strings), no tags. */
	uint8_t req[64] = {0x00, 0x04, 0x02, 'a', 0x02, 'b', 0x13};
	const char *keys[] = {"a", "b", "polygenelubricants"};
	size_t len = 7;
	kfk_find_coordinator_request_t rq;
	kfk_find_coordinator_response_t got;
	ck_buf_t wire = CK_BUF_INIT;
	kfk_arena_t arena;
	ck_span_t in;

	memcpy(req + len, "polygenelubricants", 18);
	len += 18;
	req[len++] = 0x00;
	in = ck_span(req, len);
	kfk_arena_init(&arena, 0, 0);
	ck_assert_int_eq(kfk_find_coordinator_request_decode(&in, 4, &arena, &rq), 0);
	ck_assert_uint_eq(in.len, 0);
	answer(&rq, 4, three, 3, &arena, &wire, &got);
	ck_assert_int_eq(got.coordinators.count, 3);
	for (int i = 0; i < 3; i++) {
		const kfk_find_coordinator_response_coordinator_t *c = &got.coordinators.items[i];
		const kfk_coord_broker_t *b = &three[kfk_coord_pick(S(keys[i]), three, 3)];

		str_is(c->key, keys[i]);
		ck_assert_int_eq(c->error_code, KFK_ERR_NONE);
		ck_assert_int_eq(c->error_message.len, -1);
		ck_assert_int_eq(c->node_id, b->id);
		str_is(c->host, b->host);
		ck_assert_int_eq(c->port, b->port);
	}
	/* An unknown key type fails every key. */
	rq.key_type = 3;
	answer(&rq, 4, three, 3, &arena, &wire, &got);
	ck_assert_int_eq(got.coordinators.count, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(got.coordinators.items[i].error_code, KFK_ERR_INVALID_REQUEST);
		ck_assert_int_eq(got.coordinators.items[i].node_id, -1);
		ck_assert_int_eq(got.coordinators.items[i].port, -1);
		str_is(got.coordinators.items[i].key, keys[i]);
	}
	/* No keys, no results. */
	rq.key_type = 0;
	rq.coordinator_keys.count = 0;
	answer(&rq, 4, three, 3, &arena, &wire, &got);
	ck_assert_int_eq(got.coordinators.count, 0);
	kfk_arena_free(&arena);
	ck_buf_free(&wire);
}
END_TEST

START_TEST(test_v4_transactional_keys_refused)
{
	/* v4, key type 1, keys "t1" and "t2": every key fails alone. */
	static const uint8_t req[] = {0x01, 0x03, 0x03, 't', '1', 0x03, 't', '2', 0x00};
	kfk_find_coordinator_request_t rq;
	kfk_find_coordinator_response_t got;
	ck_buf_t wire = CK_BUF_INIT;
	kfk_arena_t arena;
	ck_span_t in = ck_span(req, sizeof(req));

	kfk_arena_init(&arena, 0, 0);
	ck_assert_int_eq(kfk_find_coordinator_request_decode(&in, 4, &arena, &rq), 0);
	ck_assert_uint_eq(in.len, 0);
	ck_assert_int_eq(rq.key_type, KFK_COORD_KEY_TRANSACTION);
	answer(&rq, 4, three, 3, &arena, &wire, &got);
	ck_assert_int_eq(got.coordinators.count, 2);
	for (int i = 0; i < 2; i++) {
		const kfk_find_coordinator_response_coordinator_t *c = &got.coordinators.items[i];

		str_is(c->key, i == 0 ? "t1" : "t2");
		ck_assert_int_eq(c->error_code, KFK_TXN_UNSUPPORTED_ERR);
		str_is(c->error_message, "transactions are not supported");
		ck_assert_int_eq(c->node_id, -1);
		str_is(c->host, "");
		ck_assert_int_eq(c->port, -1);
	}
	/* Even without a live broker the reason is the same. */
	answer(&rq, 4, NULL, 0, &arena, &wire, &got);
	ck_assert_int_eq(got.coordinators.items[0].error_code, KFK_TXN_UNSUPPORTED_ERR);
	kfk_arena_free(&arena);
	ck_buf_free(&wire);
}
END_TEST

START_TEST(test_no_usable_broker)
{
	static const kfk_coord_broker_t no_addr[] = {{2, "", 9092}};
	static const kfk_coord_broker_t no_port[] = {{2, "h", 0}};
	kfk_find_coordinator_request_t rq;
	kfk_find_coordinator_response_t got;
	kfk_str_t key = S("g");
	ck_buf_t wire = CK_BUF_INIT;
	kfk_arena_t arena;

	kfk_arena_init(&arena, 0, 0);
	kfk_find_coordinator_request_init(&rq);
	rq.key = key;
	answer(&rq, 3, NULL, 0, &arena, &wire, &got);
	ck_assert_int_eq(got.error_code, KFK_ERR_COORDINATOR_NOT_AVAILABLE);
	ck_assert_int_eq(got.node_id, -1);
	answer(&rq, 2, no_addr, 1, &arena, &wire, &got);
	ck_assert_int_eq(got.error_code, KFK_ERR_COORDINATOR_NOT_AVAILABLE);
	str_is(got.host, "");
	rq.coordinator_keys.count = 1;
	rq.coordinator_keys.items = &key;
	answer(&rq, 4, no_port, 1, &arena, &wire, &got);
	ck_assert_int_eq(got.coordinators.count, 1);
	ck_assert_int_eq(got.coordinators.items[0].error_code, KFK_ERR_COORDINATOR_NOT_AVAILABLE);
	ck_assert_int_eq(got.coordinators.items[0].port, -1);
	ck_assert_str_eq(kfk_err_name(KFK_ERR_COORDINATOR_NOT_AVAILABLE),
	                 "COORDINATOR_NOT_AVAILABLE");
	kfk_arena_free(&arena);
	ck_buf_free(&wire);
}
END_TEST

START_TEST(test_arena_refusal_is_returned)
{
	kfk_str_t keys[64];
	kfk_find_coordinator_request_t rq;
	kfk_find_coordinator_response_t resp;
	kfk_arena_t arena;

	for (int i = 0; i < 64; i++)
		keys[i] = S("k");
	kfk_find_coordinator_request_init(&rq);
	rq.coordinator_keys.count = 64;
	rq.coordinator_keys.items = keys;
	kfk_arena_init(&arena, 256, 256);
	ck_assert_int_eq(kfk_coord_answer(&rq, 4, one, 1, &arena, &resp), CK_E_TOO_LARGE);
	kfk_arena_free(&arena);
}
END_TEST

START_TEST(test_advertised)
{
	/* librdkafka enables lz4 only when FindCoordinator v0 is listed. */
	ck_assert(kfk_apis_supported(KFK_API_FIND_COORDINATOR, 0));
	ck_assert(kfk_apis_supported(KFK_API_FIND_COORDINATOR, 4));
	ck_assert(!kfk_apis_supported(KFK_API_FIND_COORDINATOR, 5));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_coord_core");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_pick_is_deterministic_and_spread);
	tcase_add_loop_test(tc, test_single_key_versions, 0, 4);
	tcase_add_test(tc, test_v0_golden_bytes);
	tcase_add_test(tc, test_v4_batch);
	tcase_add_test(tc, test_v4_transactional_keys_refused);
	tcase_add_test(tc, test_no_usable_broker);
	tcase_add_test(tc, test_arena_refusal_is_returned);
	tcase_add_test(tc, test_advertised);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
