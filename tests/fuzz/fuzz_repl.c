/*
 * fuzz_repl.c: libFuzzer target for the replicator's pure core
 * (replicator/repl_core.h): the high-watermark rule and the ISR decisions,
 * which decide when an acks=all write is acknowledged. Built only with
 * -Dfuzz=true and clang; run with tests/fuzz/run.sh BUILD SECONDS
 * fuzz_repl.
 *
 * The input is a program: each op takes a byte and its operands from the
 * bytes after it (an exhausted input reads zeros), on node 1 and one or two
 * partitions of topic "t": walwriter's log updates (the end growing, the
 * durable end catching up, sometimes a cut or a restart with a
 * checkpoint), metadata as raftd's apply lets it through (replicas of
 * {1, 2, 3}, the ISR within them, the leader in the ISR or none, epochs
 * moving on), follower fetches and log starts at offsets near the log's,
 * leader high watermarks (follower role), time, ISR shrink and expand
 * proposals applied as the controller would, sweeps, deletions, the
 * published changes and checkpoints drained.
 *
 * Besides "never crash" (ASan/UBSan and the core's own invariant
 * checks), abort() when a leader's HW moves up past what every ISR member
 * acknowledged (a follower's next fetch offset, the leader's durable end),
 * which would acknowledge an acks=all write that a new leader may lack;
 * when HW leaves [log start, log end]; when an expanded ISR takes a
 * follower that has not reached HW and the start of the leader epoch; or
 * when a shrunk ISR is no subset of the old one or loses the leader.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "fuzz_input.h"
#include "repl_core.h"

#define NODE 1

static void fail(const char *what, long long a, long long b)
{
	fprintf(stderr, "fuzz_repl: %s (%lld, %lld)\n", what, a, b);
	abort();
}

typedef struct {
	int64_t log_start, log_end, durable_end;
	int32_t leader_epoch, partition_epoch;
	bool has_log;
} model_t;

typedef struct {
	repl_core_t *c;
	uint64_t now;
	model_t m[2];
} fz_t;

/* An offset near BASE: BASE - 2 .. BASE + 5, or 0. */
static int64_t near(rd_t *in, int64_t base)
{
	uint8_t b = u8(in);
	int64_t v = b == 0xff ? 0 : base + (int64_t)(b % 8) - 2;

	return v < 0 ? 0 : v;
}

static void log_update(fz_t *f, int pi, rd_t *in)
{
	model_t *m = &f->m[pi];
	uint8_t b = u8(in);
	repl_log_info_t li = {"t", pi, m->log_start, m->log_end, m->durable_end, NULL};
	repl_ckpt_t ck = {0, 0};

	switch (b % 4) {
	case 0: /* appends */
		li.log_end += b >> 4;
		break;
	case 1: /* durable */
		li.durable_end = near(in, li.durable_end);
		break;
	case 2: /* a cut (a follower truncating), or retention or DeleteRecords,
	         * which walwriter and kafka-frontend keep at or below HW */
		if (b & 0x80) {
			li.log_end = near(in, li.log_start);
		} else {
			const repl_part_t *p = repl_core_find(f->c, "t", pi);

			li.log_start = near(in, li.log_start);
			if (p && p->have_log && li.log_start > p->hw)
				li.log_start = p->hw > m->log_start ? p->hw : m->log_start;
		}
		break;
	default: /* appended and made durable */
		li.log_end += b >> 4;
		li.durable_end = li.log_end;
		break;
	}
	if (li.log_start > li.log_end)
		li.log_start = li.log_end;
	if (li.durable_end > li.log_end)
		li.durable_end = li.log_end;
	ck.hw = near(in, li.log_start);
	ck.leader_epoch = m->leader_epoch;
	if (repl_core_log_update(f->c, &li, (b & 0x40) ? &ck : NULL) == 0) {
		m->log_start = li.log_start;
		m->log_end = li.log_end;
		m->durable_end = li.durable_end < li.log_start ? li.log_start : li.durable_end;
		m->has_log = true;
	}
}

static void meta_update(fz_t *f, int p, rd_t *in)
{
	model_t *m = &f->m[p];
	uint8_t b = u8(in), c = u8(in);
	int32_t replicas[3], isr[3];
	size_t nr = 0, ni = 0;
	repl_meta_t md;

	for (int32_t id = 1; id <= 3; id++)
		if (b & (1 << id))
			replicas[nr++] = id;
	if (!nr)
		replicas[nr++] = NODE;
	for (size_t i = 0; i < nr; i++)
		if (c & (1 << i))
			isr[ni++] = replicas[i];
	memset(&md, 0, sizeof(md));
	md.topic = "t";
	md.partition = p;
	md.replicas = replicas;
	md.n_replicas = nr;
	md.isr = isr;
	md.n_isr = ni;
	md.leader = ni ? isr[(c >> 4) % ni] : -1;
	if (b & 0x80)
		m->leader_epoch++;
	m->partition_epoch++;
	md.leader_epoch = m->leader_epoch;
	md.partition_epoch = m->partition_epoch;
	(void)repl_core_meta_update(f->c, &md);
}

/* Applies a new ISR as the controller's UpdatePartition would. */
static void apply_isr(fz_t *f, const repl_part_t *p, const int32_t *isr, size_t n)
{
	repl_meta_t md;
	int32_t replicas[REPL_REPLICAS_MAX];
	int32_t keep[REPL_REPLICAS_MAX];

	memcpy(replicas, p->replicas, p->n_replicas * sizeof(*replicas));
	memcpy(keep, isr, n * sizeof(*keep));
	memset(&md, 0, sizeof(md));
	md.topic = "t";
	md.partition = p->partition;
	md.replicas = replicas;
	md.n_replicas = p->n_replicas;
	md.isr = keep;
	md.n_isr = n;
	md.leader = p->leader;
	md.leader_epoch = p->leader_epoch;
	md.partition_epoch = ++f->m[p->partition].partition_epoch;
	(void)repl_core_meta_update(f->c, &md);
}

static bool in_set(const int32_t *v, size_t n, int32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

static const repl_follower_t *follower(const repl_part_t *p, int32_t id)
{
	for (size_t i = 0; i < p->n_followers; i++)
		if (p->followers[i].broker_id == id)
			return &p->followers[i];
	return NULL;
}

static void isr_change(fz_t *f, int pi, uint8_t op)
{
	const repl_part_t *p = repl_core_find(f->c, "t", pi);
	int32_t isr[REPL_REPLICAS_MAX];
	size_t n = 0;

	if (!p)
		return;
	if (op & 0x80) {
		if (!repl_isr_expand(p, NODE, isr, &n))
			return;
		for (size_t i = 0; i < n; i++) {
			const repl_follower_t *fl = follower(p, isr[i]);

			if (in_set(p->isr, p->n_isr, isr[i]) || isr[i] == NODE)
				continue;
			if (!fl || fl->ack_offset < p->hw || fl->ack_offset < p->epoch_start_offset)
				fail("the ISR takes a follower behind HW or the epoch's start",
				     isr[i], fl ? fl->ack_offset : -1);
		}
	} else {
		if (!repl_isr_shrink(p, NODE, f->now, 10000, isr, &n))
			return;
		for (size_t i = 0; i < n; i++)
			if (!in_set(p->isr, p->n_isr, isr[i]))
				fail("a shrunk ISR takes a new member", isr[i], 0);
		if (!in_set(isr, n, NODE))
			fail("a shrunk ISR loses its leader", (long long)n, 0);
	}
	apply_isr(f, p, isr, n);
}

/* HW against what the ISR acknowledged, for a leader whose HW moved up. */
static void check(fz_t *f, int pi, int64_t hw_before, bool had_log)
{
	const repl_part_t *p = repl_core_find(f->c, "t", pi);

	if (!p || !p->have_log)
		return;
	if (p->hw < p->log_start || p->hw > p->log_end)
		fail("HW outside the log", p->hw, p->log_end);
	if (!had_log || p->role != REPL_ROLE_LEADER || p->hw <= hw_before)
		return;
	if (p->hw > p->durable_end)
		fail("HW above the leader's durable end", p->hw, p->durable_end);
	for (size_t i = 0; i < p->n_isr; i++) {
		const repl_follower_t *fl;

		if (p->isr[i] == NODE)
			continue;
		fl = follower(p, p->isr[i]);
		if (!fl || fl->ack_offset < p->hw)
			fail("HW moved past an ISR member's acknowledged offset", p->hw,
			     fl ? fl->ack_offset : -1);
	}
}

static int drain_one(void *arg, const repl_part_t *p)
{
	(void)arg;
	(void)p;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rd_t in = {data, size};
	fz_t f;
	repl_state_t st;

	memset(&f, 0, sizeof(f));
	if (repl_core_new(NODE, &f.c) < 0)
		return 0;
	f.now = 1000;
	repl_core_tick(f.c, f.now);
	for (int ops = 0; in.len && ops < 2048; ops++) {
		uint8_t op = u8(&in);
		int pi = (op >> 6) & 1;
		const repl_part_t *p = repl_core_find(f.c, "t", pi);
		int64_t hw_before = p ? p->hw : -1;
		bool had_log = p && p->have_log;

		switch (op % 10) {
		case 0:
		case 1:
			log_update(&f, pi, &in);
			break;
		case 2:
			meta_update(&f, pi, &in);
			break;
		case 3:
		case 4: {
			int32_t id = 1 + u8(&in) % 4; /* 2, 3; 1 itself, 4 none */
			int64_t start = near(&in, f.m[pi].log_start);

			(void)repl_core_follower_start(f.c, "t", pi, id, start);
			(void)repl_core_follower_fetch(f.c, "t", pi, id,
			                               near(&in, p ? p->hw : 0) +
			                                   (int64_t)(u8(&in) % 4) * 4);
			break;
		}
		case 5:
			(void)repl_core_leader_hw(f.c, "t", pi,
			                          (int32_t)(u8(&in) % 4) - 1 + f.m[pi].leader_epoch,
			                          near(&in, p ? p->hw : 0));
			break;
		case 6:
			f.now += (uint64_t)u8(&in) * 100;
			repl_core_tick(f.c, f.now);
			break;
		case 7:
			isr_change(&f, pi, op);
			break;
		case 8:
			if (op & 0x80) {
				repl_core_meta_topic_begin(f.c, "t");
				repl_core_meta_topic_end(f.c, "t");
			} else if (repl_core_log_delete(f.c, "t", pi) == 0) {
				memset(&f.m[pi], 0, sizeof(f.m[pi]));
				had_log = false;
			}
			break;
		default:
			while (repl_core_change_next(f.c, &st))
				;
			(void)repl_core_ckpt_dirty(f.c, drain_one, NULL);
			repl_core_ckpt_clean(f.c);
			break;
		}
		if (getenv("FUZZ_REPL_TRACE") && (p = repl_core_find(f.c, "t", pi)) != NULL) {
			fprintf(
			    stderr,
			    "op %d p%d: %s epoch %d leader %d log %lld..%lld durable %lld hw %lld "
			    "isr",
			    op % 10, pi, repl_role_name(p->role), p->leader_epoch, p->leader,
			    (long long)p->log_start, (long long)p->log_end,
			    (long long)p->durable_end, (long long)p->hw);
			for (size_t i = 0; i < p->n_isr; i++)
				fprintf(stderr, " %d", p->isr[i]);
			for (size_t i = 0; i < p->n_followers; i++)
				fprintf(stderr, " f%d@%lld", p->followers[i].broker_id,
				        (long long)p->followers[i].ack_offset);
			fprintf(stderr, "\n");
		}
		check(&f, pi, hw_before, had_log);
	}
	repl_core_free(f.c);
	return 0;
}
