/*
 * test_kfk_pid_core.c: unit tests of InitProducerId's pure parts: the
 * producer-id block arithmetic (kafka-frontend/kfk_pid_core.h), the
 * advertised versions, and the request and response bytes of the versions
 * served (the generated codec, against bytes written from the protocol
 * documentation).
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "ck_buf.h"
#include "ck_err.h"
#include "ck_testlib.h"
#include "kfk_apis.h"
#include "kfk_msgs.h"
#include "kfk_pid_core.h"

START_TEST(test_empty_block_gives_nothing)
{
	kfk_pid_block_t b;
	int64_t id = 77;

	kfk_pid_block_init(&b);
	ck_assert_int_eq(kfk_pid_block_left(&b), 0);
	ck_assert(!kfk_pid_block_take(&b, &id));
	ck_assert_int_eq(id, 77); /* untouched on failure */
}
END_TEST

START_TEST(test_block_hands_out_each_id_once)
{
	kfk_pid_block_t b;
	int64_t id = -1;

	kfk_pid_block_init(&b);
	ck_assert_int_eq(kfk_pid_block_set(&b, 0, KFK_PID_BLOCK_SIZE), 0);
	ck_assert_int_eq(kfk_pid_block_left(&b), KFK_PID_BLOCK_SIZE);
	for (int64_t i = 0; i < KFK_PID_BLOCK_SIZE; i++) {
		ck_assert(kfk_pid_block_take(&b, &id));
		ck_assert_int_eq(id, i);
	}
	ck_assert_int_eq(kfk_pid_block_left(&b), 0);
	ck_assert(!kfk_pid_block_take(&b, &id));
	ck_assert_int_eq(id, KFK_PID_BLOCK_SIZE - 1);
	/* The next block (another broker took the one in between). */
	ck_assert_int_eq(kfk_pid_block_set(&b, 3000, 2), 0);
	ck_assert(kfk_pid_block_take(&b, &id));
	ck_assert_int_eq(id, 3000);
	ck_assert(kfk_pid_block_take(&b, &id));
	ck_assert_int_eq(id, 3001);
	ck_assert(!kfk_pid_block_take(&b, &id));
}
END_TEST

START_TEST(test_stale_block_refused)
{
	kfk_pid_block_t b;
	int64_t id;

	kfk_pid_block_init(&b);
	ck_assert_int_eq(kfk_pid_block_set(&b, 1000, 1000), 0);
	ck_assert(kfk_pid_block_take(&b, &id));
	/* The same block read again, or an older one: its ids may be out. */
	ck_assert_int_eq(kfk_pid_block_set(&b, 1000, 1000), CK_E_AGAIN);
	ck_assert_int_eq(kfk_pid_block_set(&b, 0, 1000), CK_E_AGAIN);
	ck_assert_int_eq(kfk_pid_block_set(&b, 1999, 5), CK_E_AGAIN);
	/* Unchanged by the refusals. */
	ck_assert_int_eq(kfk_pid_block_left(&b), 999);
	ck_assert(kfk_pid_block_take(&b, &id));
	ck_assert_int_eq(id, 1001);
	/* Right after the end is fine, even with ids left (they are dropped). */
	ck_assert_int_eq(kfk_pid_block_set(&b, 2000, 10), 0);
	ck_assert(kfk_pid_block_take(&b, &id));
	ck_assert_int_eq(id, 2000);
}
END_TEST

START_TEST(test_bad_block_refused)
{
	kfk_pid_block_t b;
	int64_t id;

	kfk_pid_block_init(&b);
	ck_assert_int_eq(kfk_pid_block_set(&b, -1, 10), CK_E_CORRUPT);
	ck_assert_int_eq(kfk_pid_block_set(&b, 0, 0), CK_E_CORRUPT);
	ck_assert_int_eq(kfk_pid_block_set(&b, 0, -5), CK_E_CORRUPT);
	ck_assert_int_eq(kfk_pid_block_set(&b, INT64_MAX - 9, 10), CK_E_CORRUPT);
	ck_assert_int_eq(kfk_pid_block_left(&b), 0);
	/* The very last ids of the range are usable. */
	ck_assert_int_eq(kfk_pid_block_set(&b, INT64_MAX - 10, 10), 0);
	ck_assert(kfk_pid_block_take(&b, &id));
	ck_assert_int_eq(id, INT64_MAX - 10);
	ck_assert_int_eq(kfk_pid_block_left(&b), 9);
}
END_TEST

START_TEST(test_advertised)
{
	for (int16_t v = 0; v <= 4; v++)
		ck_assert(kfk_apis_supported(KFK_API_INIT_PRODUCER_ID, v));
	ck_assert(!kfk_apis_supported(KFK_API_INIT_PRODUCER_ID, 5));
	ck_assert(!kfk_apis_supported(KFK_API_INIT_PRODUCER_ID, -1));
}
END_TEST

START_TEST(test_request_bytes)
{
	/* v1: null transactional id, timeout 60000 (librdkafka's idempotent
	 * producer). v4 (flexible): null compact string, timeout, id -1,
	 * epoch -1, no tags. v4 with transactional id "tx". */
	static const uint8_t v1[] = {0xff, 0xff, 0x00, 0x00, 0xea, 0x60};
	static const uint8_t v4[] = {0x00, 0x00, 0x00, 0xea, 0x60, 0xff, 0xff, 0xff,
	                             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	static const uint8_t v4tx[] = {0x03, 't',  'x',  0x00, 0x00, 0xea, 0x60, 0x00, 0x00,
	                               0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x02, 0x00};
	kfk_init_producer_id_request_t rq;
	kfk_arena_t arena;
	ck_span_t in;

	kfk_arena_init(&arena, 0, 0);
	in = ck_span(v1, sizeof(v1));
	ck_assert_int_eq(kfk_init_producer_id_request_decode(&in, 1, &arena, &rq), 0);
	ck_assert_uint_eq(in.len, 0);
	ck_assert_int_eq(rq.transactional_id.len, -1);
	ck_assert_int_eq(rq.transaction_timeout_ms, 60000);
	ck_assert_int_eq(rq.producer_id, -1); /* v3+ only: the default */
	in = ck_span(v4, sizeof(v4));
	ck_assert_int_eq(kfk_init_producer_id_request_decode(&in, 4, &arena, &rq), 0);
	ck_assert_uint_eq(in.len, 0);
	ck_assert_int_eq(rq.transactional_id.len, -1);
	ck_assert_int_eq(rq.producer_id, -1);
	ck_assert_int_eq(rq.producer_epoch, -1);
	in = ck_span(v4tx, sizeof(v4tx));
	ck_assert_int_eq(kfk_init_producer_id_request_decode(&in, 4, &arena, &rq), 0);
	ck_assert_uint_eq(in.len, 0);
	ck_assert_int_eq(rq.transactional_id.len, 2);
	ck_assert_mem_eq(rq.transactional_id.ptr, "tx", 2);
	ck_assert_int_eq(rq.producer_id, 7);
	ck_assert_int_eq(rq.producer_epoch, 2);
	kfk_arena_free(&arena);
}
END_TEST

START_TEST(test_response_bytes)
{
	/* Producer id 4660 (0x1234), epoch 0: v0-v1 plain, v2+ with tags. */
	static const uint8_t plain[] = {0x00, 0x00, 0x00, 0x00, /* throttle */
	                                0x00, 0x00,             /* error */
	                                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34, /* id */
	                                0x00, 0x00};                                    /* epoch */
	int16_t v = (int16_t)_i;
	kfk_init_producer_id_response_t resp, got;
	ck_buf_t wire = CK_BUF_INIT;
	kfk_arena_t arena;
	ck_span_t in;

	kfk_init_producer_id_response_init(&resp);
	resp.producer_id = 0x1234;
	resp.producer_epoch = 0;
	ck_assert_int_eq(kfk_init_producer_id_response_encode(&wire, v, &resp), 0);
	ck_assert_uint_eq(wire.len, sizeof(plain) + (v >= 2 ? 1 : 0));
	ck_assert_mem_eq(wire.data, plain, sizeof(plain));
	if (v >= 2)
		ck_assert_int_eq(wire.data[sizeof(plain)], 0x00);
	kfk_arena_init(&arena, 0, 0);
	in = ck_span(wire.data, wire.len);
	ck_assert_int_eq(kfk_init_producer_id_response_decode(&in, v, &arena, &got), 0);
	ck_assert_uint_eq(in.len, 0);
	ck_assert_int_eq(got.error_code, 0);
	ck_assert_int_eq(got.producer_id, 0x1234);
	ck_assert_int_eq(got.producer_epoch, 0);
	kfk_arena_free(&arena);
	ck_buf_free(&wire);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_pid_core");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_empty_block_gives_nothing);
	tcase_add_test(tc, test_block_hands_out_each_id_once);
	tcase_add_test(tc, test_stale_block_refused);
	tcase_add_test(tc, test_bad_block_refused);
	tcase_add_test(tc, test_advertised);
	tcase_add_test(tc, test_request_bytes);
	tcase_add_loop_test(tc, test_response_bytes, 0, 5);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
