/*
 * fuzz_pids.c: libFuzzer target for idempotent producers' state of one log
 * (walwriter/wal_pid.h), which decides whether a producer's batch is
 * written, answered as a duplicate, or refused. Producer ids, epochs and
 * sequences are whatever a client sends. Built only with -Dfuzz=true and
 * clang; run with tests/fuzz/run.sh BUILD SECONDS fuzz_pids.
 *
 * The input is a program: each op takes a byte and its operands from the
 * bytes after it (an exhausted input reads zeros): a leader append of one
 * producer's batch (producer from a few ids, epoch and base sequence near
 * what the state holds for it, 1-5 records), checked and, when accepted,
 * written at the log end and recorded; a replica append (recorded
 * unchecked); the log cut at an offset; time moving on and producers
 * expiring; a clear. A shared budget of 3 producers bounds the state.
 *
 * Besides "never crash", abort() when wal_pids_check() breaks wal_pid.h's
 * rules against the state it was given: a batch equal to a kept one (same
 * producer, epoch and sequences) must be a duplicate answered with that
 * batch's offsets, and a duplicate must be one; an older epoch is fenced;
 * a newer epoch starts at sequence 0; the same epoch follows the last
 * batch; an unknown producer starts anywhere. And when the state breaks
 * its shape: producers unsorted or repeated, more than the budget, a
 * producer's kept batches out of order or more than WAL_PID_BATCHES.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_batch.h"
#include "ck_buf.h"
#include "ck_err.h"
#include "fuzz_input.h"
#include "wal_pid.h"

static void fail(const char *what, long long a, long long b)
{
	fprintf(stderr, "fuzz_pids: %s (%lld, %lld)\n", what, a, b);
	abort();
}

static const int64_t pids[] = {1, 2, 3, 1000000, INT64_MAX};

typedef struct {
	wal_pids_t s;
	wal_pid_budget_t budget;
	ck_buf_t buf;
	int64_t end; /* the log end offset */
	int64_t now;
} fz_t;

/* One batch of producer PID into F->buf (offsets from F->end). */
static size_t batch(fz_t *f, int64_t pid, int16_t epoch, int32_t seq, int n)
{
	ck_batch_opts_t o = CK_BATCH_OPTS_INIT;
	ck_batch_record_t recs[5];
	size_t len = 0;

	memset(recs, 0, sizeof(recs));
	for (int i = 0; i < n; i++)
		recs[i].timestamp_ms = f->now;
	o.base_offset = f->end;
	o.producer_id = pid;
	o.producer_epoch = epoch;
	o.base_sequence = seq;
	ck_buf_reset(&f->buf);
	if (ck_batch_build(&f->buf, &o, recs, (size_t)n, &len) < 0)
		fail("cannot build a batch", n, 0);
	return len;
}

static bool same(const wal_pid_batch_t *a, const wal_pid_batch_t *b)
{
	return a->first_seq == b->first_seq && a->last_seq == b->last_seq &&
	       a->base_offset == b->base_offset && a->last_offset == b->last_offset;
}

/* What wal_pid.h says the check must answer, and the kept batch a
 * duplicate repeats. */
static int expected(const wal_pid_entry_t *e, int16_t epoch, int32_t seq, int32_t last,
                    const wal_pid_batch_t **ret_dup)
{
	*ret_dup = NULL;
	if (!e)
		return 0;
	if (epoch < e->epoch)
		return CK_E_FENCED;
	if (epoch > e->epoch)
		return seq == 0 ? 0 : CK_E_SEQUENCE;
	for (int i = 0; i < e->n; i++)
		if (e->b[i].first_seq == seq && e->b[i].last_seq == last) {
			*ret_dup = &e->b[i];
			return 1;
		}
	if (e->n == 0 || seq == wal_pid_seq_add(e->b[e->n - 1].last_seq, 1))
		return 0;
	return CK_E_SEQUENCE;
}

static void leader_append(fz_t *f, rd_t *in)
{
	uint8_t a = u8(in), b = u8(in);
	int64_t pid = pids[a % CK_ARRAY_LEN(pids)];
	const wal_pid_entry_t *e = wal_pids_find(&f->s, pid);
	int16_t epoch = e ? e->epoch : 0;
	int32_t seq = 0;
	int n = 1 + (b >> 5) % 5;
	const wal_pid_batch_t *dup;
	wal_pid_batch_t got;
	size_t len;
	int want, r;

	/* Epoch: the known one mostly, sometimes one off or any. */
	if ((a >> 3) % 8 == 1)
		epoch = (int16_t)(epoch + 1);
	else if ((a >> 3) % 8 == 2)
		epoch = (int16_t)(epoch - 1);
	else if ((a >> 3) % 8 == 3)
		epoch = (int16_t)un(in, 2);
	/* Sequence: the next one, a kept batch's again, near, or any. */
	if (e && e->n) {
		const wal_pid_batch_t *k = &e->b[(b & 7) % e->n];

		switch ((b >> 3) % 4) {
		case 0:
			seq = wal_pid_seq_add(e->b[e->n - 1].last_seq, 1);
			break;
		case 1:
			seq = k->first_seq;
			n = (int)((uint32_t)k->last_seq - (uint32_t)k->first_seq) + 1;
			n = n < 1 || n > 5 ? 1 : n;
			break;
		case 2:
			seq = wal_pid_seq_add(k->last_seq, (int32_t)(b & 3)); /* overlap or a gap */
			break;
		default:
			seq = (int32_t)un(in, 4);
			break;
		}
	} else if ((b >> 3) % 4 == 3) {
		seq = (int32_t)un(in, 4);
	}
	if (epoch < 0 || seq < 0) {
		len = batch(f, pid, epoch, seq, n);
		r = wal_pids_check(&f->s, f->buf.data, len, &got);
		if (r != CK_E_INVALID)
			fail("a negative epoch or sequence not refused", epoch, seq);
		return;
	}
	len = batch(f, pid, epoch, seq, n);
	want = expected(e, epoch, seq, wal_pid_seq_add(seq, n - 1), &dup);
	r = wal_pids_check(&f->s, f->buf.data, len, &got);
	if (r != want)
		fail("check answers against wal_pid.h's rules", r, want);
	if (r == 1 && !same(&got, dup))
		fail("a duplicate answered with other offsets", got.base_offset, dup->base_offset);
	if (r == 0) {
		wal_pids_update(&f->s, f->buf.data, len, f->now);
		f->end += n;
	}
}

static void replica_append(fz_t *f, rd_t *in)
{
	uint8_t a = u8(in);
	int64_t pid = pids[a % CK_ARRAY_LEN(pids)];
	int n = 1 + (a >> 5) % 5;
	size_t len = batch(f, pid, (int16_t)(u8(in) % 4), (int32_t)(u8(in) % 32), n);

	wal_pids_update(&f->s, f->buf.data, len, f->now);
	f->end += n;
}

static void check_shape(const fz_t *f)
{
	if (f->budget.used > f->budget.max)
		fail("more producers than the budget", (long long)f->budget.used,
		     (long long)f->budget.max);
	if (f->s.n > f->budget.used)
		fail("the budget does not count every producer", (long long)f->s.n,
		     (long long)f->budget.used);
	for (size_t i = 0; i < f->s.n; i++) {
		const wal_pid_entry_t *e = &f->s.v[i];

		if (i && e->producer_id <= f->s.v[i - 1].producer_id)
			fail("producers unsorted or repeated", (long long)i, e->producer_id);
		if (e->n > WAL_PID_BATCHES)
			fail("more kept batches than WAL_PID_BATCHES", e->n, 0);
		for (int k = 1; k < e->n; k++)
			if (e->b[k].base_offset <= e->b[k - 1].last_offset)
				fail("kept batches out of order", k, e->b[k].base_offset);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rd_t in = {data, size};
	fz_t f;

	memset(&f, 0, sizeof(f));
	f.budget.max = 3;
	f.s.budget = &f.budget;
	f.now = 1700000000000;
	for (int ops = 0; in.len && ops < 4096; ops++) {
		uint8_t op = u8(&in);
		int64_t cut;

		switch (op % 8) {
		case 0:
		case 1:
		case 2:
		case 3:
			leader_append(&f, &in);
			break;
		case 4:
			replica_append(&f, &in);
			break;
		case 5:
			/* The log cut back (a follower's truncation). */
			cut = f.end - (int64_t)(u8(&in) % 8);
			f.end = cut < 0 ? 0 : cut;
			wal_pids_truncate(&f.s, f.end);
			break;
		case 6:
			f.now += (int64_t)u8(&in) << 22; /* up to ~12 days */
			wal_pids_expire(&f.s, f.now, WAL_PID_EXPIRE_MS);
			break;
		default:
			if (op & 0x80)
				wal_pids_clear(&f.s);
			break;
		}
		check_shape(&f);
	}
	wal_pids_clear(&f.s);
	ck_buf_free(&f.buf);
	return 0;
}
