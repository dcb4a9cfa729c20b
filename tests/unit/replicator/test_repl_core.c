/*
 * test_repl_core.c: unit tests of chronik-replicator's pure core
 * (replicator/repl_core.h): the high-watermark rule (single replica and
 * ISR), its monotonicity and truncation, log start moves, checkpoints,
 * published changes (coalescing, deletions before re-creations), log and
 * metadata sweeps (full and per topic, and a seeded comparison of the
 * two), roles from metadata, follower acknowledgements, ISR
 * shrink/expand decisions, the low watermark, input validation, a seeded random walk
 * checking the invariants after every step, and the checkpoint key/value
 * format (replicator/repl_ckpt.h) against golden bytes.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_rand.h"
#include "ck_testlib.h"
#include "ck_hwckpt.h"
#include "repl_core.h"

#define NODE 1

static repl_core_t *core_new(void)
{
	repl_core_t *c = NULL;

	ck_assert_int_eq(repl_core_new(NODE, &c), 0);
	ck_assert_ptr_nonnull(c);
	return c;
}

static int log_up(repl_core_t *c, const char *topic, int32_t part, int64_t start, int64_t end,
                  int64_t durable)
{
	repl_log_info_t li = {topic, part, start, end, durable, NULL};
	return repl_core_log_update(c, &li, NULL);
}

static int meta_up(repl_core_t *c, const char *topic, int32_t part, const int32_t *replicas,
                   size_t nr, const int32_t *isr, size_t ni, int32_t leader, int32_t epoch)
{
	repl_meta_t m = {topic, part, replicas, nr, isr, ni, leader, epoch, 0};
	return repl_core_meta_update(c, &m);
}

/* Metadata making TOPIC-PART a single-replica partition led here: HW then
 * follows the durable end (without metadata it holds). */
static void lead_here(repl_core_t *c, const char *topic, int32_t part, int32_t epoch)
{
	ck_assert_int_eq(
	    meta_up(c, topic, part, (int32_t[]){NODE}, 1, (int32_t[]){NODE}, 1, NODE, epoch), 0);
}

/* Pops every pending change into OUT (up to MAX); returns how many. */
static int drain(repl_core_t *c, repl_state_t *out, int max)
{
	repl_state_t st;
	int n = 0;

	while (repl_core_change_next(c, &st)) {
		if (n < max)
			out[n] = st;
		n++;
	}
	ck_assert(!repl_core_changes_pending(c));
	return n;
}

static int64_t hw_of(repl_core_t *c, const char *topic, int32_t part)
{
	const repl_part_t *p = repl_core_find(c, topic, part);

	ck_assert_ptr_nonnull(p);
	return p->hw;
}

START_TEST(test_single_replica_hw_is_durable_end)
{
	repl_core_t *c = core_new();
	repl_state_t st[8];

	lead_here(c, "t", 0, 0);
	/* Written but not durable: not visible to consumers yet. */
	ck_assert_int_eq(log_up(c, "t", 0, 0, 5, 0), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_str_eq(st[0].topic, "t");
	ck_assert_int_eq(st[0].partition, 0);
	ck_assert_int_eq(st[0].high_watermark, 0);
	ck_assert_int_eq(st[0].log_end_offset, 5);
	ck_assert(st[0].leader);
	ck_assert_int_eq(st[0].leader_epoch, 0);
	ck_assert_int_eq(st[0].isr_size, 1);
	ck_assert(!st[0].deleted);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 5, 5), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].high_watermark, 5);
	/* A log end move alone is no change to publish. */
	ck_assert_int_eq(log_up(c, "t", 0, 0, 9, 5), 0);
	ck_assert_int_eq(drain(c, st, 8), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 5);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 9, 9), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].high_watermark, 9);
	ck_assert_int_eq(st[0].log_end_offset, 9);
	repl_core_free(c);
}
END_TEST

/* A log that reaches the core before its metadata (a new topic: walwriter's
 * event can come before the replicator reads LMDB) is no single-replica
 * partition to acknowledge: its HW holds until the replica set is known,
 * and then waits for the followers of the ISR. */
START_TEST(test_no_hw_without_metadata)
{
	repl_core_t *c = core_new();
	int32_t three[] = {NODE, 2, 3};
	repl_state_t st[8];

	repl_core_tick(c, 1000);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 4, 4), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].high_watermark, 0);
	ck_assert_int_eq(st[0].log_end_offset, 4);
	ck_assert_int_eq(st[0].isr_size, 0); /* unknown: the frontend asks LMDB */
	ck_assert_int_eq(log_up(c, "t", 0, 0, 9, 9), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 0);
	/* The replica set arrives: the followers have fetched nothing yet. */
	ck_assert_int_eq(meta_up(c, "t", 0, three, 3, three, 3, NODE, 0), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 0);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 9), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 0);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 3, 6), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 6);
	/* The topic leaves the metadata, the log stays: HW holds again. */
	repl_core_meta_topic_begin(c, "t");
	repl_core_meta_topic_end(c, "t");
	ck_assert(!repl_core_find(c, "t", 0)->have_meta);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 12, 12), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 6);
	/* A follower's metadata for a log without any: the leader's HW. */
	ck_assert_int_eq(log_up(c, "f", 0, 0, 5, 5), 0);
	ck_assert_int_eq(hw_of(c, "f", 0), 0);
	ck_assert_int_eq(meta_up(c, "f", 0, three, 3, three, 3, 2, 1), 0);
	ck_assert_int_eq(repl_core_leader_hw(c, "f", 0, 1, 3), 0);
	ck_assert_int_eq(hw_of(c, "f", 0), 3);
	repl_core_free(c);
}
END_TEST

START_TEST(test_changes_coalesce_per_partition)
{
	repl_core_t *c = core_new();
	repl_state_t st[8];

	lead_here(c, "a", 0, 0);
	lead_here(c, "b", 3, 0);
	for (int i = 1; i <= 100; i++) {
		ck_assert_int_eq(log_up(c, "a", 0, 0, i, i), 0);
		ck_assert_int_eq(log_up(c, "b", 3, 0, 2 * i, 2 * i), 0);
	}
	ck_assert(repl_core_changes_pending(c));
	ck_assert_int_eq(drain(c, st, 8), 2);
	/* In the order the partitions first changed, with the latest values. */
	ck_assert_str_eq(st[0].topic, "a");
	ck_assert_int_eq(st[0].high_watermark, 100);
	ck_assert_str_eq(st[1].topic, "b");
	ck_assert_int_eq(st[1].partition, 3);
	ck_assert_int_eq(st[1].high_watermark, 200);
	repl_core_free(c);
}
END_TEST

START_TEST(test_hw_never_backwards)
{
	repl_core_t *c = core_new();
	repl_state_t st[8];
	const repl_part_t *p;

	lead_here(c, "t", 0, 0);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 10, 10), 0);
	(void)drain(c, st, 8);
	/* A durable end reported lower (a stale event) does not pull HW back. */
	ck_assert_int_eq(log_up(c, "t", 0, 0, 10, 4), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 10);
	ck_assert_int_eq(drain(c, st, 8), 0);
	/* Neither does a new leader epoch. */
	ck_assert_int_eq(meta_up(c, "t", 0, (int32_t[]){NODE}, 1, (int32_t[]){NODE}, 1, NODE, 7),
	                 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 10);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].leader_epoch, 7);
	ck_assert_int_eq(st[0].high_watermark, 10);
	p = repl_core_find(c, "t", 0);
	ck_assert_uint_eq(p->hw_truncations, 0);
	repl_core_free(c);
}
END_TEST

START_TEST(test_truncation_below_hw)
{
	repl_core_t *c = core_new();
	repl_state_t st[8];

	lead_here(c, "t", 0, 0);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 10, 10), 0);
	(void)drain(c, st, 8);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 4, 4), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].high_watermark, 4);
	ck_assert_int_eq(st[0].log_end_offset, 4);
	ck_assert_uint_eq(repl_core_find(c, "t", 0)->hw_truncations, 1);
	repl_core_free(c);
}
END_TEST

START_TEST(test_log_start_moves_hw)
{
	repl_core_t *c = core_new();
	repl_state_t st[8];

	lead_here(c, "t", 0, 0);
	/* Durable end below log start counts as log start. */
	ck_assert_int_eq(log_up(c, "t", 0, 20, 30, 0), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].high_watermark, 20);
	ck_assert_int_eq(st[0].log_start_offset, 20);
	ck_assert_int_eq(log_up(c, "t", 0, 20, 30, 30), 0);
	(void)drain(c, st, 8);
	/* Retention moves the start: published even though HW stays. */
	ck_assert_int_eq(log_up(c, "t", 0, 25, 30, 30), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].log_start_offset, 25);
	ck_assert_int_eq(st[0].high_watermark, 30);
	repl_core_free(c);
}
END_TEST

static int collect_cb(void *arg, const repl_part_t *p)
{
	repl_state_t *out = arg;
	int i = 0;

	while (out[i].topic[0])
		i++;
	repl_core_state(p, &out[i]);
	return 0;
}

START_TEST(test_checkpoint_start_and_dirty)
{
	repl_core_t *c = core_new();
	repl_ckpt_t ck = {.hw = 7, .leader_epoch = 3};
	repl_log_info_t li = {"t", 2, 0, 10, 10, NULL};
	repl_state_t st[8], dirty[8];

	memset(dirty, 0, sizeof(dirty));
	ck_assert_int_eq(repl_core_log_update(c, &li, &ck), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	/* Epoch and HW come from the checkpoint; without metadata HW holds. */
	ck_assert_int_eq(st[0].leader_epoch, 3);
	ck_assert_int_eq(st[0].high_watermark, 7);
	/* Metadata naming this node the only replica: HW is the durable end. */
	lead_here(c, "t", 2, 3);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].leader_epoch, 3);
	ck_assert_int_eq(st[0].high_watermark, 10);
	ck_assert_int_eq(repl_core_ckpt_dirty(c, collect_cb, dirty), 0);
	ck_assert_str_eq(dirty[0].topic, "t");
	ck_assert_int_eq(dirty[0].high_watermark, 10);
	ck_assert_int_eq(dirty[1].topic[0], '\0');
	repl_core_ckpt_clean(c);
	memset(dirty, 0, sizeof(dirty));
	ck_assert_int_eq(repl_core_ckpt_dirty(c, collect_cb, dirty), 0);
	ck_assert_int_eq(dirty[0].topic[0], '\0');
	/* A checkpoint is only a start value for a log new to the core. */
	ck = (repl_ckpt_t){.hw = 9, .leader_epoch = 8};
	li.log_end = li.durable_end = 12;
	ck_assert_int_eq(repl_core_log_update(c, &li, &ck), 0);
	ck_assert_int_eq(repl_core_find(c, "t", 2)->leader_epoch, 3);
	ck_assert_int_eq(repl_core_ckpt_dirty(c, collect_cb, dirty), 0);
	ck_assert_int_eq(dirty[0].high_watermark, 12);
	repl_core_free(c);
}
END_TEST

START_TEST(test_checkpoint_above_log_end)
{
	repl_core_t *c = core_new();
	repl_ckpt_t ck = {.hw = 50, .leader_epoch = 0};
	repl_log_info_t li = {"t", 0, 0, 10, 10, NULL};

	/* A checkpoint from an older log of the same name: HW follows the
	 * log end down. */
	ck_assert_int_eq(repl_core_log_update(c, &li, &ck), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 10);
	ck_assert_uint_eq(repl_core_find(c, "t", 0)->hw_truncations, 1);
	repl_core_free(c);
}
END_TEST

START_TEST(test_delete_and_recreate)
{
	repl_core_t *c = core_new();
	repl_state_t st[8];

	lead_here(c, "t", 0, 0);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 10, 10), 0);
	(void)drain(c, st, 8);
	ck_assert_int_eq(repl_core_log_delete(c, "t", 0), 0);
	ck_assert_int_eq(repl_core_log_delete(c, "t", 0), CK_E_NOT_FOUND);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 0, 0), 0);
	ck_assert_int_eq(drain(c, st, 8), 2);
	ck_assert(st[0].deleted);
	ck_assert_str_eq(st[0].topic, "t");
	ck_assert_int_eq(st[0].high_watermark, 10);
	ck_assert(!st[1].deleted);
	ck_assert_int_eq(st[1].high_watermark, 0);
	ck_assert_uint_eq(repl_core_find(c, "t", 0)->hw_truncations, 0);
	/* Deleted before ever published: nothing to say, nothing left. */
	ck_assert_int_eq(log_up(c, "u", 1, 0, 3, 3), 0);
	ck_assert_int_eq(repl_core_log_delete(c, "u", 1), 0);
	ck_assert_int_eq(drain(c, st, 8), 0);
	ck_assert_ptr_null(repl_core_find(c, "u", 1));
	ck_assert_uint_eq(repl_core_count(c, NULL), 1);
	repl_core_free(c);
}
END_TEST

START_TEST(test_log_sweep)
{
	repl_core_t *c = core_new();
	repl_state_t st[8];

	lead_here(c, "b", 0, 0);
	ck_assert_int_eq(log_up(c, "a", 0, 0, 1, 1), 0);
	ck_assert_int_eq(log_up(c, "b", 0, 0, 2, 2), 0);
	(void)drain(c, st, 8);
	repl_core_log_sweep_begin(c);
	ck_assert_int_eq(log_up(c, "b", 0, 0, 3, 3), 0);
	repl_core_log_sweep_end(c);
	ck_assert_int_eq(drain(c, st, 8), 2);
	ck_assert(st[0].deleted);
	ck_assert_str_eq(st[0].topic, "a");
	ck_assert_str_eq(st[1].topic, "b");
	ck_assert_int_eq(st[1].high_watermark, 3);
	ck_assert_ptr_null(repl_core_find(c, "a", 0));
	repl_core_free(c);
}
END_TEST

START_TEST(test_meta_leader_with_followers)
{
	repl_core_t *c = core_new();
	int32_t replicas[] = {NODE, 2, 3};
	int32_t isr[] = {NODE, 2};
	repl_state_t st[8];

	repl_core_tick(c, 1000);
	lead_here(c, "t", 0, 0);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 10, 10), 0);
	(void)drain(c, st, 8);
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 3, isr, 2, NODE, 4), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert(st[0].leader);
	ck_assert_int_eq(st[0].leader_epoch, 4);
	ck_assert_int_eq(st[0].isr_size, 2);
	ck_assert_int_eq(st[0].high_watermark, 10);
	/* New data waits for follower 2, which has not fetched yet. */
	ck_assert_int_eq(log_up(c, "t", 0, 0, 20, 20), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 10);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 15), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 15);
	/* Replica 3 is outside the ISR: it does not hold HW back. */
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 3, 0), 0);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 20), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 20);
	/* A follower ahead of the leader's durable end: the leader's own
	 * durability bounds HW. */
	ck_assert_int_eq(log_up(c, "t", 0, 0, 30, 24), 0);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 30), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 24);
	/* A fetch going backwards (the follower truncated) never lowers HW. */
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 21), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 24);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 31), CK_E_OFFSET_RANGE);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 9, 1), CK_E_INVALID);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, NODE, 1), CK_E_INVALID);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, -1), CK_E_INVALID);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 1, 2, 1), CK_E_NOT_FOUND);
	repl_core_free(c);
}
END_TEST

START_TEST(test_meta_new_epoch_resets_followers)
{
	repl_core_t *c = core_new();
	int32_t replicas[] = {NODE, 2};

	ck_assert_int_eq(log_up(c, "t", 0, 0, 10, 10), 0);
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 2, replicas, 2, NODE, 1), 0);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 10), 0);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 12, 12), 0);
	/* Same epoch, a new ISR list: what is known of follower 2 stays. */
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 2, replicas, 2, NODE, 1), 0);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 12), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 12);
	/* A new epoch starts from nothing known: HW holds, then follows. */
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 2, replicas, 2, NODE, 2), 0);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 14, 14), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 12);
	ck_assert_int_eq(repl_core_find(c, "t", 0)->epoch_start_offset, 12);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 14), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 14);
	repl_core_free(c);
}
END_TEST

/* Follower bookkeeping exists only while this node leads: leading a
 * partition makes room for its other replicas (more when replicas are
 * added), losing the leadership frees it, leading again starts afresh. */
START_TEST(test_followers_only_while_leading)
{
	repl_core_t *c = core_new();
	int32_t three[] = {NODE, 2, 3};
	int32_t four[] = {NODE, 2, 3, 4};
	const repl_part_t *p;

	ck_assert_int_eq(log_up(c, "t", 0, 0, 10, 10), 0);
	p = repl_core_find(c, "t", 0);
	ck_assert_ptr_null(p->followers);
	ck_assert_int_eq(meta_up(c, "t", 0, three, 3, three, 3, NODE, 1), 0);
	ck_assert_uint_eq(p->n_followers, 2);
	ck_assert_ptr_nonnull(p->followers);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 3, 10), 0);
	/* Same epoch, a fourth replica: 3's progress stays, 4 joins. */
	ck_assert_int_eq(meta_up(c, "t", 0, four, 4, three, 3, NODE, 1), 0);
	ck_assert_uint_eq(p->n_followers, 3);
	ck_assert_int_eq(p->followers[2].broker_id, 4);
	ck_assert_int_eq(p->followers[1].broker_id, 3);
	ck_assert_int_eq(p->followers[1].ack_offset, 10);
	/* Node 2 leads now: nothing of the followers is kept. */
	ck_assert_int_eq(meta_up(c, "t", 0, four, 4, four, 4, 2, 2), 0);
	ck_assert_int_eq(p->role, REPL_ROLE_FOLLOWER);
	ck_assert_ptr_null(p->followers);
	ck_assert_uint_eq(p->n_followers, 0);
	/* Leading again: every follower unknown. */
	ck_assert_int_eq(meta_up(c, "t", 0, three, 3, three, 3, NODE, 3), 0);
	ck_assert_uint_eq(p->n_followers, 2);
	ck_assert_int_eq(p->followers[1].ack_offset, -1);
	repl_core_free(c);
}
END_TEST

START_TEST(test_meta_follower_role)
{
	repl_core_t *c = core_new();
	int32_t replicas[] = {2, NODE};
	repl_state_t st[8];

	lead_here(c, "t", 0, 0);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 10, 10), 0);
	(void)drain(c, st, 8);
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 2, replicas, 2, 2, 6), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert(!st[0].leader);
	ck_assert_int_eq(st[0].leader_epoch, 6);
	ck_assert_int_eq(repl_core_find(c, "t", 0)->role, REPL_ROLE_FOLLOWER);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 10), CK_E_NOT_LEADER);
	/* The leader's HW, capped at the local log end, never backwards. */
	ck_assert_int_eq(log_up(c, "t", 0, 0, 20, 20), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 10);
	ck_assert_int_eq(repl_core_leader_hw(c, "t", 0, 6, 30), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 20);
	ck_assert_int_eq(repl_core_leader_hw(c, "t", 0, 6, 5), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 20);
	ck_assert_int_eq(repl_core_leader_hw(c, "t", 0, 5, 40), CK_E_INVALID);
	ck_assert_int_eq(repl_core_leader_hw(c, "t", 0, 6, -1), CK_E_INVALID);
	/* No leader at all. */
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 2, replicas, 2, -1, 7), 0);
	ck_assert_int_eq(repl_core_find(c, "t", 0)->role, REPL_ROLE_NONE);
	ck_assert_int_eq(repl_core_leader_hw(c, "t", 0, 7, 40), CK_E_INVALID);
	/* Led here again. */
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 2, (int32_t[]){NODE}, 1, NODE, 8), 0);
	ck_assert_int_eq(repl_core_leader_hw(c, "t", 0, 8, 40), CK_E_NOT_LEADER);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 25, 25), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 25);
	repl_core_free(c);
}
END_TEST

START_TEST(test_meta_not_replica_and_sweep)
{
	repl_core_t *c = core_new();
	repl_state_t st[8];
	size_t led = 99;

	/* Metadata of a partition this node does not hold is not kept. */
	ck_assert_int_eq(meta_up(c, "x", 0, (int32_t[]){2, 3}, 2, (int32_t[]){2}, 1, 2, 1), 0);
	ck_assert_ptr_null(repl_core_find(c, "x", 0));
	/* Metadata before the log: kept, but nothing to publish yet. */
	ck_assert_int_eq(meta_up(c, "t", 0, (int32_t[]){NODE}, 1, (int32_t[]){NODE}, 1, NODE, 3),
	                 0);
	ck_assert_ptr_nonnull(repl_core_find(c, "t", 0));
	ck_assert_int_eq(drain(c, st, 8), 0);
	ck_assert_uint_eq(repl_core_count(c, NULL), 0);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 5, 5), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].leader_epoch, 3);
	ck_assert_int_eq(st[0].high_watermark, 5);
	/* A sweep without the record: back to a single-replica leader. */
	ck_assert_int_eq(meta_up(c, "t", 0, (int32_t[]){2, NODE}, 2, (int32_t[]){2}, 1, 2, 4), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert(!st[0].leader);
	repl_core_meta_sweep_begin(c);
	repl_core_meta_sweep_end(c);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert(st[0].leader);
	ck_assert_int_eq(st[0].isr_size, 0); /* no replica set known */
	ck_assert_int_eq(st[0].leader_epoch, 4);
	ck_assert_uint_eq(repl_core_count(c, &led), 1);
	ck_assert_uint_eq(led, 1);
	/* Metadata only: a sweep without it frees the partition. */
	ck_assert_int_eq(meta_up(c, "m", 0, (int32_t[]){NODE}, 1, (int32_t[]){NODE}, 1, NODE, 0),
	                 0);
	repl_core_meta_sweep_begin(c);
	ck_assert_int_eq(meta_up(c, "t", 0, (int32_t[]){NODE}, 1, (int32_t[]){NODE}, 1, NODE, 5),
	                 0);
	repl_core_meta_sweep_end(c);
	(void)drain(c, st, 8);
	ck_assert_ptr_null(repl_core_find(c, "m", 0));
	ck_assert_int_eq(repl_core_find(c, "t", 0)->leader_epoch, 5);
	ck_assert(repl_core_find(c, "t", 0)->have_meta);
	repl_core_free(c);
}
END_TEST

static const repl_part_t *find(repl_core_t *c, const char *t, int32_t p)
{
	return repl_core_find(c, t, p);
}

/* A per-topic sweep adds, updates and forgets the partitions of its topic
 * only (not those of a topic whose name it prefixes, or is prefixed by). */
START_TEST(test_meta_topic_sweep)
{
	repl_core_t *c = core_new();
	repl_state_t st[8];
	int32_t me[] = {NODE}, two[] = {2, NODE};

	ck_assert_int_eq(meta_up(c, "a", 0, me, 1, me, 1, NODE, 1), 0);
	ck_assert_int_eq(meta_up(c, "a", 1, two, 2, two, 2, 2, 1), 0);
	ck_assert_int_eq(meta_up(c, "a", 2, me, 1, me, 1, NODE, 1), 0);
	ck_assert_int_eq(meta_up(c, "ab", 0, two, 2, two, 2, 2, 1), 0);
	ck_assert_int_eq(meta_up(c, "b", 0, me, 1, me, 1, NODE, 1), 0);
	ck_assert_int_eq(meta_up(c, "", 0, me, 1, me, 1, NODE, 1), CK_E_INVALID);
	ck_assert_int_eq(log_up(c, "a", 0, 0, 4, 4), 0);
	ck_assert_int_eq(log_up(c, "a", 1, 0, 6, 6), 0);
	ck_assert_int_eq(log_up(c, "ab", 0, 0, 2, 2), 0);
	ck_assert_int_eq(log_up(c, "b", 1, 0, 3, 3), 0); /* no metadata */
	ck_assert_int_eq(drain(c, st, 8), 4);

	/* "a" now: partition 0 led elsewhere, 1 and 2 gone, 3 new. */
	repl_core_meta_topic_begin(c, "a");
	ck_assert_int_eq(meta_up(c, "a", 0, two, 2, two, 2, 2, 2), 0);
	ck_assert_int_eq(meta_up(c, "a", 3, me, 1, me, 1, NODE, 0), 0);
	repl_core_meta_topic_end(c, "a");
	ck_assert_int_eq(drain(c, st, 8), 2);
	ck_assert_str_eq(st[0].topic, "a");
	ck_assert_int_eq(st[0].partition, 0);
	ck_assert(!st[0].leader);
	ck_assert_int_eq(st[0].leader_epoch, 2);
	ck_assert_int_eq(st[0].isr_size, 2);
	ck_assert_str_eq(st[1].topic, "a");
	ck_assert_int_eq(st[1].partition, 1); /* back to the single-replica default */
	ck_assert(st[1].leader);
	ck_assert_int_eq(st[1].isr_size, 0);
	ck_assert(!find(c, "a", 1)->have_meta);
	ck_assert_ptr_null(find(c, "a", 2)); /* metadata only: freed */
	ck_assert(find(c, "a", 3)->have_meta);
	ck_assert_int_eq(find(c, "ab", 0)->leader_epoch, 1);
	ck_assert(find(c, "ab", 0)->have_meta);
	ck_assert(find(c, "b", 0)->have_meta);

	/* Unknown topics, and "b" without its records: only b-0 goes. */
	repl_core_meta_topic_begin(c, "zz");
	repl_core_meta_topic_end(c, "zz");
	ck_assert_int_eq(drain(c, st, 8), 0);
	repl_core_meta_topic_begin(c, "b");
	repl_core_meta_topic_end(c, "b");
	ck_assert_ptr_null(find(c, "b", 0));
	ck_assert_ptr_nonnull(find(c, "b", 1));
	ck_assert_int_eq(drain(c, st, 8), 0);

	/* "a" deleted: its logs lead here again, its metadata-only partition
	 * goes, "ab" stays as it was. */
	repl_core_meta_topic_begin(c, "a");
	repl_core_meta_topic_end(c, "a");
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].partition, 0);
	ck_assert(st[0].leader);
	ck_assert_ptr_null(find(c, "a", 3));
	ck_assert(!find(c, "a", 0)->have_meta);
	ck_assert(find(c, "ab", 0)->have_meta);
	ck_assert_int_eq(find(c, "ab", 0)->role, REPL_ROLE_FOLLOWER);
	/* Partitions that come and go keep the topic index sound (ASan and
	 * the asserts in the core watch it). */
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(log_up(c, "a", i % 5, 0, 1, 1), 0);
		if (i % 3 == 0)
			ck_assert_int_eq(repl_core_log_delete(c, "a", (i + 2) % 5),
			                 i < 3 ? CK_E_NOT_FOUND : 0);
	}
	(void)drain(c, st, 8);
	repl_core_meta_topic_begin(c, "a");
	ck_assert_int_eq(meta_up(c, "a", 4, two, 2, two, 2, 2, 9), 0);
	repl_core_meta_topic_end(c, "a");
	ck_assert_int_eq(find(c, "a", 4)->leader_epoch, 9);
	repl_core_free(c);
}
END_TEST

/* The metadata of a simulated LMDB, read into one core by full sweeps and
 * into another by per-topic sweeps of the topics that changed (and of
 * topics whose log appeared without metadata, as the shell does): after
 * every read both agree on every partition's metadata. */
#define SIM_TOPICS 3
#define SIM_PARTS  3

typedef struct {
	bool exists;
	int32_t replicas[2];
	size_t nr;
	int32_t leader;
	int32_t epoch;
} sim_rec_t;

static void sim_feed(repl_core_t *c, const char *topic, const sim_rec_t *recs)
{
	for (int p = 0; p < SIM_PARTS; p++) {
		const sim_rec_t *r = &recs[p];
		if (r->exists)
			ck_assert_int_eq(meta_up(c, topic, p, r->replicas, r->nr, r->replicas,
			                         r->nr, r->leader, r->epoch),
			                 0);
	}
}

static void sim_compare(repl_core_t *full, repl_core_t *incr, const char *topic, int32_t p)
{
	const repl_part_t *a = find(full, topic, p), *b = find(incr, topic, p);

	/* Neither log nor metadata: only waiting for its change to go out. */
	if (a && !a->have_log && !a->have_meta)
		a = NULL;
	if (b && !b->have_log && !b->have_meta)
		b = NULL;
	if (!a) {
		/* Only metadata the full sweep dropped: a partition that is
		 * not a replica here lost its log. */
		ck_assert(!b || (!b->have_log && b->role == REPL_ROLE_NONE));
		return;
	}
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(a->have_log, b->have_log);
	ck_assert_int_eq(a->have_meta, b->have_meta);
	ck_assert_int_eq(a->role, b->role);
	ck_assert_int_eq(a->leader, b->leader);
	ck_assert_int_eq(a->leader_epoch, b->leader_epoch);
	ck_assert_uint_eq(a->n_replicas, b->n_replicas);
	ck_assert_uint_eq(a->n_isr, b->n_isr);
}

START_TEST(test_topic_sweeps_match_full_sweeps)
{
	static const char *const topics[SIM_TOPICS] = {"a", "ab", "b"};
	uint64_t seed = ck_rand_os_seed();
	const char *env = getenv("REPL_TEST_SEED");
	sim_rec_t db[SIM_TOPICS][SIM_PARTS];
	bool dirty[SIM_TOPICS] = {false};
	repl_core_t *full = core_new(), *incr = core_new();
	repl_state_t st;
	int reads = 0;
	ck_rand_t r;

	if (env)
		seed = strtoull(env, NULL, 0);
	ck_rand_seed(&r, seed);
	fprintf(stderr, "test_topic_sweeps_match_full_sweeps seed=%" PRIu64 " (REPL_TEST_SEED)\n",
	        seed);
	memset(db, 0, sizeof(db));
	for (int step = 0; step < 20000; step++) {
		int t = (int)ck_rand_below(&r, SIM_TOPICS), p = (int)ck_rand_below(&r, SIM_PARTS);
		uint64_t op = ck_rand_below(&r, 100);
		sim_rec_t *rec = &db[t][p];

		if (op < 35) {
			/* A partition-changing entry for topic T. */
			rec->exists = ck_rand_below(&r, 5) != 0;
			rec->nr = 1 + ck_rand_below(&r, 2);
			rec->replicas[0] = ck_rand_below(&r, 2) ? NODE : 3;
			rec->replicas[1] = 2;
			rec->leader =
			    ck_rand_below(&r, 4) ? rec->replicas[ck_rand_below(&r, rec->nr)] : -1;
			rec->epoch += (int32_t)ck_rand_below(&r, 2);
			dirty[t] = true;
		} else if (op < 60) {
			const repl_part_t *q = find(incr, topics[t], p);
			bool fresh = !q || !q->have_log;
			int64_t end = (int64_t)ck_rand_below(&r, 100);

			ck_assert_int_eq(log_up(full, topics[t], p, 0, end, end), 0);
			ck_assert_int_eq(log_up(incr, topics[t], p, 0, end, end), 0);
			if (fresh && !find(incr, topics[t], p)->have_meta)
				dirty[t] = true;
		} else if (op < 70) {
			(void)repl_core_log_delete(full, topics[t], p);
			(void)repl_core_log_delete(incr, topics[t], p);
		} else if (op < 85) {
			while (repl_core_change_next(full, &st))
				;
			while (repl_core_change_next(incr, &st))
				;
		} else {
			repl_core_meta_sweep_begin(full);
			for (int i = 0; i < SIM_TOPICS; i++)
				sim_feed(full, topics[i], db[i]);
			repl_core_meta_sweep_end(full);
			for (int i = 0; i < SIM_TOPICS; i++) {
				if (!dirty[i])
					continue;
				repl_core_meta_topic_begin(incr, topics[i]);
				sim_feed(incr, topics[i], db[i]);
				repl_core_meta_topic_end(incr, topics[i]);
				dirty[i] = false;
			}
			for (int i = 0; i < SIM_TOPICS; i++)
				for (int j = 0; j < SIM_PARTS; j++)
					sim_compare(full, incr, topics[i], j);
			reads++;
		}
	}
	ck_assert_int_gt(reads, 1000);
	repl_core_free(full);
	repl_core_free(incr);
}
END_TEST

START_TEST(test_isr_shrink)
{
	repl_core_t *c = core_new();
	int32_t replicas[] = {NODE, 2, 3};
	int32_t isr[REPL_REPLICAS_MAX];
	size_t n = 0;
	const repl_part_t *p;

	repl_core_tick(c, 1000);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 10, 10), 0);
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 3, replicas, 3, NODE, 1), 0);
	p = repl_core_find(c, "t", 0);
	/* Within the lag time from the start of the leadership: nobody goes. */
	ck_assert(!repl_isr_shrink(p, NODE, 1000 + 30000, 30000, isr, &n));
	repl_core_tick(c, 20000);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 10), 0);
	/* Follower 3 never fetched: out after the lag time; 2 caught up. */
	ck_assert(repl_isr_shrink(p, NODE, 31001, 30000, isr, &n));
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(isr[0], NODE);
	ck_assert_int_eq(isr[1], 2);
	/* Follower 2 fetching behind a growing log stops being caught up. */
	ck_assert_int_eq(log_up(c, "t", 0, 0, 20, 20), 0);
	repl_core_tick(c, 40000);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 12), 0);
	ck_assert(repl_isr_shrink(p, NODE, 50001, 30000, isr, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(isr[0], NODE);
	/* A fetch at the log end of the previous fetch caught up back then. */
	repl_core_tick(c, 45000);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 20), 0);
	ck_assert_uint_eq(p->followers[0].last_caught_up_ms, 45000);
	/* Out of the ISR, follower 2 falls behind a growing log for long,
	 * then reaches the high watermark (not the log end) and is taken back
	 * at 200000: the lag time counts from then, not from 45000 (it was
	 * dropped again at once, the ISR flapping). */
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 3, (int32_t[]){NODE}, 1, NODE, 1), 0);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 95, 95), 0);
	repl_core_tick(c, 200000);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 90), 0);
	ck_assert_uint_eq(p->followers[0].last_caught_up_ms, 45000);
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 3, (int32_t[]){NODE, 2}, 2, NODE, 1), 0);
	ck_assert(!repl_isr_shrink(p, NODE, 200001, 30000, isr, &n));
	ck_assert(!repl_isr_shrink(p, NODE, 230000, 30000, isr, &n));
	ck_assert(repl_isr_shrink(p, NODE, 230001, 30000, isr, &n));
	ck_assert_uint_eq(n, 1);
	repl_core_free(c);
}
END_TEST

START_TEST(test_low_watermark)
{
	repl_core_t *c = core_new();
	int32_t replicas[] = {NODE, 2, 3};
	int32_t isr[] = {NODE, 2};
	int32_t isr_alone[] = {NODE};
	int32_t follower_view[] = {2, NODE, 3};
	repl_state_t st[8];
	const repl_part_t *p;

	repl_core_tick(c, 1000);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 30, 30), 0);
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 3, isr, 2, NODE, 1), 0);
	(void)drain(c, st, 8);
	p = repl_core_find(c, "t", 0);
	/* ISR follower 2 has not said where its log starts yet. */
	ck_assert_int_eq(repl_core_low_watermark(p), -1);
	ck_assert_int_eq(repl_core_follower_start(c, "t", 0, 2, 0), 0);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 30), 0);
	ck_assert_int_eq(repl_core_low_watermark(p), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].low_watermark, 0);
	/* DeleteRecords here: the low watermark waits for follower 2 (3 is
	 * outside the ISR and never counts). */
	ck_assert_int_eq(log_up(c, "t", 0, 20, 30, 30), 0);
	ck_assert_int_eq(repl_core_low_watermark(p), 0);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].log_start_offset, 20);
	ck_assert_int_eq(st[0].low_watermark, 0);
	ck_assert_int_eq(repl_core_follower_start(c, "t", 0, 3, 5), 0);
	ck_assert_int_eq(repl_core_low_watermark(p), 0);
	/* A follower's start past ours (its own retention) counts as ours. */
	ck_assert_int_eq(repl_core_follower_start(c, "t", 0, 2, 25), 0);
	ck_assert_int_eq(repl_core_low_watermark(p), 20);
	ck_assert_int_eq(drain(c, st, 8), 1);
	ck_assert_int_eq(st[0].low_watermark, 20);
	/* The same start again is no change. */
	ck_assert_int_eq(repl_core_follower_start(c, "t", 0, 2, 25), 0);
	ck_assert_int_eq(drain(c, st, 8), 0);
	/* Alone in the ISR: the leader's own start. */
	ck_assert_int_eq(log_up(c, "t", 0, 28, 30, 30), 0);
	ck_assert_int_eq(repl_core_low_watermark(p), 25);
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 3, isr_alone, 1, NODE, 1), 0);
	ck_assert_int_eq(repl_core_low_watermark(p), 28);
	/* A new leadership forgets the followers' starts. */
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 3, replicas, 3, NODE, 2), 0);
	ck_assert_int_eq(repl_core_low_watermark(p), -1);
	ck_assert_int_eq(repl_core_follower_start(c, "t", 0, 2, -1), CK_E_INVALID);
	ck_assert_int_eq(repl_core_follower_start(c, "t", 0, 9, 1), CK_E_INVALID);
	ck_assert_int_eq(repl_core_follower_start(c, "t", 1, 2, 1), CK_E_NOT_FOUND);
	/* Not led here: the low watermark is the local start. */
	ck_assert_int_eq(meta_up(c, "t", 0, follower_view, 3, follower_view, 3, 2, 3), 0);
	ck_assert_int_eq(repl_core_follower_start(c, "t", 0, 2, 1), CK_E_NOT_LEADER);
	ck_assert_int_eq(repl_core_low_watermark(p), 28);
	repl_core_free(c);
}
END_TEST

START_TEST(test_isr_expand)
{
	repl_core_t *c = core_new();
	int32_t replicas[] = {NODE, 2, 3};
	int32_t isr[REPL_REPLICAS_MAX];
	size_t n = 0;
	const repl_part_t *p;

	ck_assert_int_eq(log_up(c, "t", 0, 0, 10, 10), 0);
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 3, (int32_t[]){NODE}, 1, NODE, 1), 0);
	p = repl_core_find(c, "t", 0);
	ck_assert_int_eq(p->epoch_start_offset, 10);
	ck_assert(!repl_isr_expand(p, NODE, isr, &n));
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 9), 0);
	ck_assert(!repl_isr_expand(p, NODE, isr, &n));
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 3, 10), 0);
	ck_assert(repl_isr_expand(p, NODE, isr, &n));
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(isr[0], NODE);
	ck_assert_int_eq(isr[1], 3);
	/* Not the leader: no decisions. */
	ck_assert_int_eq(meta_up(c, "t", 0, replicas, 3, (int32_t[]){2}, 1, 2, 2), 0);
	ck_assert(!repl_isr_expand(p, NODE, isr, &n));
	ck_assert(!repl_isr_shrink(p, NODE, UINT64_MAX / 2, 1, isr, &n));
	repl_core_free(c);
}
END_TEST

static int meta_pe(repl_core_t *c, const int32_t *replicas, size_t nr, const int32_t *isr,
                   size_t ni, int32_t pepoch)
{
	repl_meta_t m = {"t", 0, replicas, nr, isr, ni, NODE, 1, pepoch};
	return repl_core_meta_update(c, &m);
}

/* A proposed addition holds HW as a member until the metadata moves past
 * the partition epoch it was proposed at (Kafka's maximal ISR): HW went
 * on over the old ISR meanwhile, the member joined holding less than HW,
 * and the controller could elect it next (acks=all records lost). */
START_TEST(test_isr_adding_holds_hw)
{
	repl_core_t *c = core_new();
	int32_t replicas[] = {NODE, 2, 3};
	int32_t isr[REPL_REPLICAS_MAX];
	size_t n = 0;
	const repl_part_t *p;

	ck_assert_int_eq(log_up(c, "t", 0, 0, 10, 10), 0);
	ck_assert_int_eq(meta_pe(c, replicas, 3, (int32_t[]){NODE}, 1, 3), 0);
	p = repl_core_find(c, "t", 0);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 10), 0);
	ck_assert(repl_isr_expand(p, NODE, isr, &n));
	repl_core_isr_adding(c, "t", 0, isr, n);
	/* The leader's own log moves on; HW waits for the member to be. */
	ck_assert_int_eq(log_up(c, "t", 0, 0, 20, 20), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 10);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 15), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 15);
	/* Replica 3 was not proposed: it does not hold HW. */
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 3, 0), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 15);
	/* Committed: a member like any other. */
	ck_assert_int_eq(meta_pe(c, replicas, 3, (int32_t[]){NODE, 2}, 2, 4), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 15);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 18), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 18);
	/* Another change committed instead (epoch 5 without 3): the proposal
	 * is void and 3 no longer holds HW. */
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 3, 18), 0);
	isr[0] = NODE;
	isr[1] = 2;
	isr[2] = 3;
	repl_core_isr_adding(c, "t", 0, isr, 3);
	ck_assert_int_eq(repl_core_follower_fetch(c, "t", 0, 2, 20), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 18);
	ck_assert_int_eq(meta_pe(c, replicas, 3, (int32_t[]){NODE, 2}, 2, 5), 0);
	ck_assert_int_eq(hw_of(c, "t", 0), 20);
	repl_core_free(c);
}
END_TEST

START_TEST(test_invalid_input)
{
	repl_core_t *c = core_new();
	char long_topic[REPL_TOPIC_MAX + 2];
	int32_t many[REPL_REPLICAS_MAX + 1];

	memset(long_topic, 'x', sizeof(long_topic) - 1);
	long_topic[sizeof(long_topic) - 1] = '\0';
	for (int i = 0; i <= REPL_REPLICAS_MAX; i++)
		many[i] = i + 1;
	ck_assert_int_eq(log_up(c, long_topic, 0, 0, 1, 1), CK_E_INVALID);
	ck_assert_int_eq(log_up(c, "", 0, 0, 1, 1), CK_E_INVALID);
	ck_assert_int_eq(log_up(c, "t", -1, 0, 1, 1), CK_E_INVALID);
	ck_assert_int_eq(log_up(c, "t", 0, 5, 4, 4), CK_E_INVALID);
	ck_assert_int_eq(log_up(c, "t", 0, -1, 4, 4), CK_E_INVALID);
	ck_assert_int_eq(log_up(c, "t", 0, 0, 4, 5), CK_E_INVALID);
	ck_assert_int_eq(meta_up(c, "t", 0, many, REPL_REPLICAS_MAX + 1, many, 1, NODE, 0),
	                 CK_E_INVALID);
	ck_assert_int_eq(meta_up(c, "t", 0, many, 1, many, 1, NODE, -1), CK_E_INVALID);
	ck_assert_uint_eq(repl_core_count(c, NULL), 0);
	ck_assert_ptr_null(repl_core_find(c, "t", 0));
	ck_assert(!repl_core_changes_pending(c));
	/* A name of exactly the longest length works. */
	long_topic[REPL_TOPIC_MAX] = '\0';
	ck_assert_int_eq(log_up(c, long_topic, 0, 0, 1, 1), 0);
	ck_assert_ptr_nonnull(repl_core_find(c, long_topic, 0));
	ck_assert_int_eq(repl_core_log_delete(c, "", 0), CK_E_NOT_FOUND);
	repl_core_free(c);
}
END_TEST

static int count_cb(void *arg, const repl_part_t *p)
{
	(void)p;
	(*(int *)arg)++;
	return 0;
}

START_TEST(test_many_partitions)
{
	repl_core_t *c = core_new();
	repl_state_t st;
	char name[32];
	int n = 0, visits = 0;

	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "topic-%d", i % 300);
		lead_here(c, name, i / 300, 0);
		ck_assert_int_eq(log_up(c, name, i / 300, 0, i, i), 0);
	}
	ck_assert_uint_eq(repl_core_count(c, NULL), 3000);
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "topic-%d", i % 300);
		ck_assert_int_eq(hw_of(c, name, i / 300), i);
	}
	ck_assert_int_eq(repl_core_foreach(c, count_cb, &visits), 0);
	ck_assert_int_eq(visits, 3000);
	while (repl_core_change_next(c, &st))
		n++;
	ck_assert_int_eq(n, 3000);
	for (int i = 0; i < 3000; i += 2) {
		snprintf(name, sizeof(name), "topic-%d", i % 300);
		ck_assert_int_eq(repl_core_log_delete(c, name, i / 300), 0);
	}
	ck_assert_uint_eq(repl_core_count(c, NULL), 1500);
	n = 0;
	while (repl_core_change_next(c, &st)) {
		ck_assert(st.deleted);
		n++;
	}
	ck_assert_int_eq(n, 1500);
	repl_core_free(c);
}
END_TEST

/* The invariants after every step of a random walk over logs, metadata,
 * follower fetches and deletions, with the published stream checked
 * against the core's own state. */
static void walk_check(repl_core_t *c, int64_t *last_hw, uint64_t *last_trunc)
{
	const char *topics[] = {"a", "b"};

	for (int t = 0; t < 2; t++) {
		const repl_part_t *p = repl_core_find(c, topics[t], 0);
		if (!p || !p->have_log) {
			last_hw[t] = -1;
			last_trunc[t] = 0;
			continue;
		}
		ck_assert(p->log_start <= p->hw && p->hw <= p->log_end);
		ck_assert(p->durable_end <= p->log_end);
		if (last_hw[t] >= 0 && p->hw < last_hw[t])
			ck_assert_uint_gt(p->hw_truncations, last_trunc[t]);
		last_hw[t] = p->hw;
		last_trunc[t] = p->hw_truncations;
	}
}

typedef struct {
	size_t parts, led, dirty;
} full_scan_t;

static int full_scan_cb(void *arg, const repl_part_t *p)
{
	full_scan_t *f = arg;

	f->parts++;
	f->led += p->role == REPL_ROLE_LEADER;
	f->dirty += p->hw != p->ckpt_hw || p->leader_epoch != p->ckpt_epoch;
	return 0;
}

/* The checkpoint walk (changed partitions only) finds what a scan of every
 * partition finds, and the kept counts are what a full count gives. */
static void ckpt_count_check(repl_core_t *c)
{
	full_scan_t f = {0};
	int dirty = 0;
	size_t led = 0;

	ck_assert_int_eq(repl_core_foreach(c, full_scan_cb, &f), 0);
	ck_assert_int_eq(repl_core_ckpt_dirty(c, count_cb, &dirty), 0);
	ck_assert_uint_eq((size_t)dirty, f.dirty);
	ck_assert_uint_eq(repl_core_count(c, &led), f.parts);
	ck_assert_uint_eq(led, f.led);
}

START_TEST(test_random_walk_invariants)
{
	uint64_t seed = ck_rand_os_seed();
	const char *env = getenv("REPL_TEST_SEED");
	ck_rand_t r;
	repl_core_t *c = core_new();
	int64_t start[2] = {0, 0}, end[2] = {0, 0}, dur[2] = {0, 0}, last_hw[2] = {-1, -1};
	uint64_t last_trunc[2] = {0, 0};
	const char *topics[] = {"a", "b"};
	int32_t replicas[] = {NODE, 2, 3};

	if (env)
		seed = strtoull(env, NULL, 0);
	ck_rand_seed(&r, seed);
	fprintf(stderr, "test_random_walk_invariants seed=%" PRIu64 " (REPL_TEST_SEED)\n", seed);
	for (int step = 0; step < 20000; step++) {
		int t = (int)ck_rand_below(&r, 2);
		uint64_t op = ck_rand_below(&r, 100);
		repl_state_t st;

		repl_core_tick(c, (uint64_t)step * 10);
		if (op < 50) {
			end[t] += (int64_t)ck_rand_below(&r, 5);
			dur[t] = start[t] +
			         (int64_t)ck_rand_below(&r, (uint64_t)(end[t] - start[t] + 1));
			ck_assert_int_eq(log_up(c, topics[t], 0, start[t], end[t], dur[t]), 0);
		} else if (op < 60 && end[t] > start[t]) {
			start[t] += (int64_t)ck_rand_below(&r, (uint64_t)(end[t] - start[t] + 1));
			ck_assert_int_eq(log_up(c, topics[t], 0, start[t], end[t], dur[t]), 0);
		} else if (op < 63) {
			end[t] = start[t] +
			         (int64_t)ck_rand_below(&r, (uint64_t)(end[t] - start[t] + 1));
			dur[t] = end[t];
			ck_assert_int_eq(log_up(c, topics[t], 0, start[t], end[t], dur[t]), 0);
		} else if (op < 75) {
			size_t ni = 1 + ck_rand_below(&r, 3);
			int32_t leader = ck_rand_below(&r, 4) ? NODE : 2;
			int32_t epoch = (int32_t)ck_rand_below(&r, 4);
			ck_assert_int_eq(
			    meta_up(c, topics[t], 0, replicas, 3, replicas, ni, leader, epoch), 0);
		} else if (op < 90) {
			int32_t f = 2 + (int32_t)ck_rand_below(&r, 2);
			int64_t off = start[t] +
			              (int64_t)ck_rand_below(&r, (uint64_t)(end[t] - start[t] + 2));
			int rc = repl_core_follower_fetch(c, topics[t], 0, f, off);
			ck_assert(rc == 0 || rc == CK_E_NOT_LEADER || rc == CK_E_NOT_FOUND ||
			          rc == CK_E_OFFSET_RANGE || rc == CK_E_INVALID);
		} else if (op < 92) {
			repl_core_meta_sweep_begin(c);
			repl_core_meta_sweep_end(c);
		} else if (op < 93) {
			repl_core_meta_topic_begin(c, topics[t]);
			repl_core_meta_topic_end(c, topics[t]);
		} else if (op < 95) {
			(void)repl_core_log_delete(c, topics[t], 0);
			start[t] = end[t] = dur[t] = 0;
		} else if (op < 98) {
			while (repl_core_change_next(c, &st)) {
				const repl_part_t *p = repl_core_find(c, st.topic, 0);
				if (!st.deleted) {
					ck_assert_ptr_nonnull(p);
					ck_assert_int_eq(st.high_watermark, p->hw);
				}
			}
		} else {
			repl_core_ckpt_clean(c);
		}
		walk_check(c, last_hw, last_trunc);
		ckpt_count_check(c);
	}
	repl_core_free(c);
}
END_TEST

START_TEST(test_ckpt_format)
{
	/* Golden: version 1, epoch 7, HW 0x0000000100000002, little-endian. */
	static const uint8_t golden[CK_HWCKPT_VALUE_LEN] = {1, 0, 0, 0, 7, 0, 0, 0,
	                                                    2, 0, 0, 0, 1, 0, 0, 0};
	repl_ckpt_t ck = {.hw = 0x100000002LL, .leader_epoch = 7}, back = {-5, -5};
	uint8_t val[CK_HWCKPT_VALUE_LEN], bad[CK_HWCKPT_VALUE_LEN];
	char key[CK_HWCKPT_KEY_MAX], small[8];
	char topic[REPL_TOPIC_MAX + 1];

	ck_hwckpt_encode(val, &ck);
	ck_assert_mem_eq(val, golden, sizeof(golden));
	ck_assert_int_eq(ck_hwckpt_decode(val, sizeof(val), &back), 0);
	ck_assert_int_eq(back.hw, ck.hw);
	ck_assert_int_eq(back.leader_epoch, 7);
	/* Wrong length, version, negative values: refused, output untouched. */
	back = (repl_ckpt_t){-5, -5};
	ck_assert_int_eq(ck_hwckpt_decode(val, sizeof(val) - 1, &back), CK_E_CORRUPT);
	memcpy(bad, val, sizeof(bad));
	bad[0] = 2;
	ck_assert_int_eq(ck_hwckpt_decode(bad, sizeof(bad), &back), CK_E_CORRUPT);
	memcpy(bad, val, sizeof(bad));
	bad[15] = 0x80;
	ck_assert_int_eq(ck_hwckpt_decode(bad, sizeof(bad), &back), CK_E_CORRUPT);
	memcpy(bad, val, sizeof(bad));
	bad[7] = 0xff;
	ck_assert_int_eq(ck_hwckpt_decode(bad, sizeof(bad), &back), CK_E_CORRUPT);
	ck_assert_int_eq(back.hw, -5);
	/* Keys. */
	ck_assert_int_eq(ck_hwckpt_key(key, sizeof(key), "orders", 12), 12);
	ck_assert_str_eq(key, "hw/orders-12");
	ck_assert_int_eq(ck_hwckpt_key(key, sizeof(key), "a-b", 0), 8);
	ck_assert_str_eq(key, "hw/a-b-0");
	memset(topic, 'x', REPL_TOPIC_MAX);
	topic[REPL_TOPIC_MAX] = '\0';
	ck_assert_int_eq(ck_hwckpt_key(key, sizeof(key), topic, INT32_MAX),
	                 3 + REPL_TOPIC_MAX + 1 + 10);
	ck_assert_int_eq(ck_hwckpt_key(small, sizeof(small), "orders", 1), CK_E_TOO_LARGE);
	ck_assert_int_eq(ck_hwckpt_key(key, sizeof(key), "", 1), CK_E_INVALID);
	ck_assert_int_eq(ck_hwckpt_key(key, sizeof(key), "t", -1), CK_E_INVALID);
}
END_TEST

static Suite *repl_core_suite(void)
{
	Suite *s = suite_create("repl_core");
	TCase *tc = tcase_create("core");
	TCase *tf = tcase_create("ckpt");

	tcase_add_test(tc, test_single_replica_hw_is_durable_end);
	tcase_add_test(tc, test_no_hw_without_metadata);
	tcase_add_test(tc, test_changes_coalesce_per_partition);
	tcase_add_test(tc, test_hw_never_backwards);
	tcase_add_test(tc, test_truncation_below_hw);
	tcase_add_test(tc, test_log_start_moves_hw);
	tcase_add_test(tc, test_checkpoint_start_and_dirty);
	tcase_add_test(tc, test_checkpoint_above_log_end);
	tcase_add_test(tc, test_delete_and_recreate);
	tcase_add_test(tc, test_log_sweep);
	tcase_add_test(tc, test_meta_leader_with_followers);
	tcase_add_test(tc, test_meta_new_epoch_resets_followers);
	tcase_add_test(tc, test_followers_only_while_leading);
	tcase_add_test(tc, test_meta_follower_role);
	tcase_add_test(tc, test_meta_not_replica_and_sweep);
	tcase_add_test(tc, test_meta_topic_sweep);
	tcase_add_test(tc, test_topic_sweeps_match_full_sweeps);
	tcase_add_test(tc, test_isr_shrink);
	tcase_add_test(tc, test_isr_expand);
	tcase_add_test(tc, test_isr_adding_holds_hw);
	tcase_add_test(tc, test_low_watermark);
	tcase_add_test(tc, test_invalid_input);
	tcase_add_test(tc, test_many_partitions);
	tcase_add_test(tc, test_random_walk_invariants);
	suite_add_tcase(s, tc);
	tcase_add_test(tf, test_ckpt_format);
	suite_add_tcase(s, tf);
	return s;
}

int main(void)
{
	return ck_test_run(repl_core_suite());
}
