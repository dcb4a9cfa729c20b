/*
 * test_wal_pid.c: unit tests of walwriter's idempotent producers' state
 * (walwriter/wal_pid.h): sequence checks, duplicates, epochs, the five
 * batches kept, replica appends, truncation, expiry and the producer cap.
 */
#include <stdint.h>

#include "ck_err.h"
#include "wal_pid.h"
#include "wal_test.h"

/* A header of producer PID, epoch EPOCH, sequences SEQ.. for N records at
 * offset BASE (as wal_pids_check and wal_pids_note see it). */
static ck_batch_header_t hdr(int64_t pid, int16_t epoch, int32_t seq, int32_t n, int64_t base)
{
	ck_batch_header_t h = {0};

	h.base_offset = base;
	h.magic = 2;
	h.last_offset_delta = n - 1;
	h.records_count = n;
	h.producer_id = pid;
	h.producer_epoch = epoch;
	h.base_sequence = seq;
	h.max_timestamp = 1000;
	return h;
}

/* Appends a real batch of N records to BUF. */
static void build(ck_buf_t *buf, int64_t pid, int16_t epoch, int32_t seq, int32_t n, int64_t base,
                  int64_t now)
{
	ck_batch_opts_t o = CK_BATCH_OPTS_INIT;
	ck_batch_record_t recs[16] = {{0}};

	ck_assert_int_le(n, 16);
	o.base_offset = base;
	o.producer_id = pid;
	o.producer_epoch = epoch;
	o.base_sequence = seq;
	for (int i = 0; i < n; i++)
		recs[i].timestamp_ms = now;
	ck_assert_int_eq(ck_batch_build(buf, &o, recs, (size_t)n, NULL), 0);
}

/* Records a batch as appended at BASE. */
static void append(wal_pids_t *s, int64_t pid, int16_t epoch, int32_t seq, int32_t n, int64_t base,
                   int64_t now)
{
	ck_buf_t buf = CK_BUF_INIT;

	build(&buf, pid, epoch, seq, n, base, now);
	wal_pids_update(s, buf.data, buf.len, now);
	ck_buf_free(&buf);
}

static int check(const wal_pids_t *s, int64_t pid, int16_t epoch, int32_t seq, int32_t n,
                 wal_pid_batch_t *dup)
{
	ck_buf_t buf = CK_BUF_INIT;
	int r;

	build(&buf, pid, epoch, seq, n, 0, 5000);
	r = wal_pids_check(s, buf.data, buf.len, dup);
	ck_buf_free(&buf);
	return r;
}

START_TEST(test_sequences)
{
	wal_pids_t s = {0};
	wal_pid_batch_t d;

	/* No producer id: always passes, nothing kept. */
	ck_assert_int_eq(check(&s, -1, -1, -1, 3, &d), 0);
	/* Unknown producer: any sequence starts it. */
	ck_assert_int_eq(check(&s, 7, 0, 42, 3, &d), 0);
	append(&s, 7, 0, 0, 3, 100, 5000);
	ck_assert_ptr_nonnull(wal_pids_find(&s, 7));
	/* Next must follow 0..2. */
	ck_assert_int_eq(check(&s, 7, 0, 3, 2, &d), 0);
	ck_assert_int_eq(check(&s, 7, 0, 4, 2, &d), CK_E_SEQUENCE);
	ck_assert_int_eq(check(&s, 7, 0, 2, 2, &d), CK_E_SEQUENCE);
	/* The same batch again: its offsets. */
	ck_assert_int_eq(check(&s, 7, 0, 0, 3, &d), 1);
	ck_assert_int_eq(d.base_offset, 100);
	ck_assert_int_eq(d.last_offset, 102);
	/* Same first sequence, other length: not a duplicate. */
	ck_assert_int_eq(check(&s, 7, 0, 0, 2, &d), CK_E_SEQUENCE);
	/* Invalid: negative sequence or epoch, more than one batch. */
	ck_assert_int_eq(check(&s, 7, 0, -1, 1, &d), CK_E_INVALID);
	ck_assert_int_eq(check(&s, 7, -1, 3, 1, &d), CK_E_INVALID);
	{
		ck_buf_t buf = CK_BUF_INIT;
		/* A producer's batch first or second among two. */
		build(&buf, 7, 0, 3, 1, 0, 5000);
		build(&buf, -1, -1, -1, 1, 1, 5000);
		ck_assert_int_eq(wal_pids_check(&s, buf.data, buf.len, &d), CK_E_INVALID);
		ck_buf_reset(&buf);
		build(&buf, -1, -1, -1, 1, 0, 5000);
		build(&buf, 7, 0, 3, 1, 1, 5000);
		ck_assert_int_eq(wal_pids_check(&s, buf.data, buf.len, &d), CK_E_INVALID);
		/* Plain batches may come many together. */
		ck_buf_reset(&buf);
		build(&buf, -1, -1, -1, 1, 0, 5000);
		build(&buf, -1, -1, -1, 2, 1, 5000);
		ck_assert_int_eq(wal_pids_check(&s, buf.data, buf.len, &d), 0);
		ck_buf_free(&buf);
	}
	wal_pids_clear(&s);
	ck_assert_ptr_null(wal_pids_find(&s, 7));
}
END_TEST

START_TEST(test_five_kept)
{
	wal_pids_t s = {0};
	wal_pid_batch_t d;

	for (int i = 0; i < 7; i++)
		append(&s, 9, 2, i * 2, 2, 10 + i * 2, 5000);
	/* Batches 2..6 (sequences 4..13) are kept; 0 and 1 are not. */
	for (int i = 2; i < 7; i++) {
		ck_assert_int_eq(check(&s, 9, 2, i * 2, 2, &d), 1);
		ck_assert_int_eq(d.base_offset, 10 + i * 2);
		ck_assert_int_eq(d.last_offset, 11 + i * 2);
	}
	ck_assert_int_eq(check(&s, 9, 2, 0, 2, &d), CK_E_SEQUENCE);
	ck_assert_int_eq(check(&s, 9, 2, 2, 2, &d), CK_E_SEQUENCE);
	ck_assert_int_eq(check(&s, 9, 2, 14, 1, &d), 0);
	wal_pids_clear(&s);
}
END_TEST

START_TEST(test_epochs)
{
	wal_pids_t s = {0};
	wal_pid_batch_t d;

	append(&s, 3, 5, 0, 4, 0, 5000);
	ck_assert_int_eq(check(&s, 3, 4, 4, 1, &d), CK_E_FENCED);
	/* A newer epoch starts at 0. */
	ck_assert_int_eq(check(&s, 3, 6, 4, 1, &d), CK_E_SEQUENCE);
	ck_assert_int_eq(check(&s, 3, 6, 0, 1, &d), 0);
	append(&s, 3, 6, 0, 1, 4, 5000);
	ck_assert_int_eq(wal_pids_find(&s, 3)->epoch, 6);
	ck_assert_int_eq(wal_pids_find(&s, 3)->n, 1);
	/* The old epoch's batch is no duplicate any more: fenced. */
	ck_assert_int_eq(check(&s, 3, 5, 0, 4, &d), CK_E_FENCED);
	wal_pids_clear(&s);
}
END_TEST

START_TEST(test_wrap)
{
	wal_pids_t s = {0};
	wal_pid_batch_t d;

	ck_assert_int_eq(wal_pid_seq_add(5, 3), 8);
	ck_assert_int_eq(wal_pid_seq_add(INT32_MAX, 0), INT32_MAX);
	ck_assert_int_eq(wal_pid_seq_add(INT32_MAX, 1), 0);
	ck_assert_int_eq(wal_pid_seq_add(INT32_MAX - 1, 3), 1);
	append(&s, 1, 0, INT32_MAX - 1, 3, 50, 5000); /* INT32_MAX-1, INT32_MAX, 0 */
	ck_assert_int_eq(check(&s, 1, 0, 1, 1, &d), 0);
	ck_assert_int_eq(check(&s, 1, 0, 0, 1, &d), CK_E_SEQUENCE);
	ck_assert_int_eq(check(&s, 1, 0, INT32_MAX - 1, 3, &d), 1);
	wal_pids_clear(&s);
}
END_TEST

/* A replica append of many batches of several producers is recorded
 * whole; the follower, once leader, knows them. */
START_TEST(test_replica_batches)
{
	ck_buf_t buf = CK_BUF_INIT;
	wal_pids_t s = {0};
	wal_pid_batch_t d;
	ck_batch_record_t r = {0};
	int64_t off = 0;

	for (int i = 0; i < 6; i++) {
		ck_batch_opts_t o = CK_BATCH_OPTS_INIT;
		o.base_offset = off++;
		o.producer_id = i % 2 ? 20 : 21;
		o.producer_epoch = 0;
		o.base_sequence = i / 2;
		ck_assert_int_eq(ck_batch_build(&buf, &o, &r, 1, NULL), 0);
	}
	{
		ck_batch_opts_t o = CK_BATCH_OPTS_INIT; /* no producer */
		o.base_offset = off++;
		ck_assert_int_eq(ck_batch_build(&buf, &o, &r, 1, NULL), 0);
	}
	wal_pids_update(&s, buf.data, buf.len, 5000);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_int_eq(check(&s, 20, 0, 2, 1, &d), 1);
	ck_assert_int_eq(d.base_offset, 5);
	ck_assert_int_eq(check(&s, 21, 0, 3, 1, &d), 0);
	/* A torn tail is ignored, not read past. */
	wal_pids_clear(&s);
	wal_pids_update(&s, buf.data, buf.len - 3, 5000);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_int_eq(wal_pids_find(&s, 20)->n, 3);
	ck_buf_free(&buf);
	wal_pids_clear(&s);
}
END_TEST

START_TEST(test_truncate)
{
	wal_pids_t s = {0};
	wal_pid_batch_t d;

	append(&s, 1, 0, 0, 2, 0, 5000); /* 0..1 */
	append(&s, 2, 0, 0, 2, 2, 5000); /* 2..3 */
	append(&s, 1, 0, 2, 2, 4, 5000); /* 4..5 */
	wal_pids_truncate(&s, 4);
	/* Producer 1 keeps its first batch; its second is gone, so that
	 * batch is not a duplicate but the next in order. */
	ck_assert_int_eq(check(&s, 1, 0, 2, 2, &d), 0);
	ck_assert_int_eq(check(&s, 1, 0, 0, 2, &d), 1);
	wal_pids_truncate(&s, 2);
	ck_assert_ptr_null(wal_pids_find(&s, 2));
	ck_assert_ptr_nonnull(wal_pids_find(&s, 1));
	wal_pids_truncate(&s, 0);
	ck_assert_uint_eq(s.n, 0);
	/* Forgotten: any sequence starts it again. */
	ck_assert_int_eq(check(&s, 1, 0, 77, 1, &d), 0);
	wal_pids_clear(&s);
}
END_TEST

START_TEST(test_expiry_and_cap)
{
	wal_pids_t s = {0};
	ck_batch_header_t h;

	append(&s, 1, 0, 0, 1, 0, 1000);
	append(&s, 2, 0, 0, 1, 1, 9000);
	wal_pids_expire(&s, 10000, 5000);
	ck_assert_ptr_null(wal_pids_find(&s, 1));
	ck_assert_ptr_nonnull(wal_pids_find(&s, 2));
	wal_pids_clear(&s);
	/* Start-up notes age by the batch's max timestamp. */
	h = hdr(5, 0, 0, 1, 0);
	h.max_timestamp = 123;
	wal_pids_note(&s, &h);
	ck_assert_int_eq(wal_pids_find(&s, 5)->last_ts, 123);
	wal_pids_clear(&s);
	/* At the cap the least recent producer goes (none is a day old). */
	for (int64_t i = 0; i < WAL_PID_MAX; i++) {
		h = hdr(1000 + i, 0, 0, 1, i);
		h.max_timestamp = i == 17 ? 1 : 100000 + i;
		wal_pids_note(&s, &h);
	}
	ck_assert_uint_eq(s.n, WAL_PID_MAX);
	h = hdr(5, 0, 0, 1, WAL_PID_MAX);
	h.max_timestamp = 200000;
	wal_pids_note(&s, &h);
	ck_assert_uint_eq(s.n, WAL_PID_MAX);
	ck_assert_ptr_null(wal_pids_find(&s, 1017));
	ck_assert_ptr_nonnull(wal_pids_find(&s, 5));
	ck_assert_ptr_nonnull(wal_pids_find(&s, 1018));
	/* Sorted: every id findable. */
	for (int64_t i = 0; i < WAL_PID_MAX; i += 997)
		ck_assert(i == 17 || wal_pids_find(&s, 1000 + i) != NULL);
	wal_pids_clear(&s);
}
END_TEST

/* Logs sharing a budget: at its end a log's new producer replaces its
 * least recent one; a log without any tracks none until room is freed. */
START_TEST(test_shared_budget)
{
	wal_pid_budget_t b = {0, 3};
	wal_pids_t x = {0}, y = {0};

	x.budget = y.budget = &b;
	append(&x, 1, 0, 0, 1, 0, 1000);
	append(&x, 2, 0, 0, 1, 1, 2000);
	append(&x, 3, 0, 0, 1, 2, 3000);
	ck_assert_uint_eq(b.used, 3);
	append(&y, 9, 0, 0, 1, 0, 4000);
	ck_assert_ptr_null(wal_pids_find(&y, 9));
	ck_assert_uint_eq(b.used, 3);
	append(&x, 4, 0, 0, 1, 3, 5000);
	ck_assert_ptr_null(wal_pids_find(&x, 1));
	ck_assert_ptr_nonnull(wal_pids_find(&x, 4));
	ck_assert_uint_eq(b.used, 3);
	/* Known producers go on being recorded at the budget's end. */
	append(&x, 2, 0, 1, 1, 4, 6000);
	ck_assert_int_eq(wal_pids_find(&x, 2)->n, 2);
	wal_pids_truncate(&x, 3); /* producer 4's only batch */
	ck_assert_uint_eq(b.used, 2);
	append(&y, 9, 0, 0, 1, 0, 7000);
	ck_assert_ptr_nonnull(wal_pids_find(&y, 9));
	ck_assert_uint_eq(b.used, 3);
	wal_pids_clear(&x);
	ck_assert_uint_eq(b.used, 1);
	wal_pids_expire(&y, 1000000, 10);
	ck_assert_uint_eq(b.used, 0);
	wal_pids_clear(&y);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("wal_pid");
	TCase *tc = tcase_create("pid");

	tcase_add_test(tc, test_sequences);
	tcase_add_test(tc, test_five_kept);
	tcase_add_test(tc, test_epochs);
	tcase_add_test(tc, test_wrap);
	tcase_add_test(tc, test_replica_batches);
	tcase_add_test(tc, test_truncate);
	tcase_add_test(tc, test_expiry_and_cap);
	tcase_add_test(tc, test_shared_budget);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(suite());
}
