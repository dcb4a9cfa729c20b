/*
 * test_repl_service.c: integration tests of chronik-replicator with a real
 * chronik-walwriter on a temp data dir (and a fake raftd where metadata
 * events matter): high watermarks follow durable appends and reach
 * subscribers; new and deleted logs; the metadata log stays out; HW
 * checkpoints in LMDB (periodic, at clean stop, removed with the log);
 * restarts of walwriter and of the replicator (clean and SIGKILL);
 * partition roles and epochs from LMDB metadata, on raftd's Applied events
 * and without raftd, read per topic through "changes" when raftd recorded
 * the entries and in full otherwise, and for logs that appear without
 * metadata; subscribers wait for the first walwriter listing; the
 * replication port closes connections; bad requests; and the whole
 * metadata path with a real chronik-raftd (create, leadership updates,
 * delete).
 */
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "repl_itest.h"

#define T_MS 15000

typedef struct {
	wit_t w;
	rit_t r;
	wcl_t wc;
	rcl_t rc;
} env_t;

static void env_init(env_t *e)
{
	memset(e, 0, sizeof(*e));
	e->wc.fd = -1;
	e->rc.fd = -1;
}

static void env_start(env_t *e, const char *tag, const char *ckpt_ms)
{
	char kv[96];

	env_init(e);
	wit_init(&e->w, tag);
	wit_start_ready(&e->w);
	wcl_connect(&e->wc, &e->w);
	rit_init(&e->r, &e->w);
	snprintf(kv, sizeof(kv), "CHRONIK_WAL_CHECKPOINT_INTERVAL_MS=%s", ckpt_ms);
	rit_env(&e->r, kv);
}

static void env_end(env_t *e)
{
	rcl_close(&e->rc);
	wcl_close(&e->wc);
	rit_cleanup(&e->r);
	wit_cleanup(&e->w);
}

/* Metadata naming this node (1) the only replica and leader of TOPIC-PART
 * at epoch 0, as raftd writes it for a one-node cluster: without metadata
 * a log's HW holds. */
static void env_lead(env_t *e, const char *topic, int32_t part, uint64_t applied)
{
	int32_t me[] = {1};

	meta_put_partition(e->w.data, topic, part, me, 1, me, 1, 1, 0, applied);
}

static void env_subscribe(env_t *e)
{
	rcl_connect(&e->rc, &e->r);
	ck_assert_int_eq(rcl_subscribe(&e->rc, T_MS), 0);
}

START_TEST(test_hw_tracks_durable_end)
{
	env_t e;
	const rst_t *v;
	rst_t g;
	int64_t end;

	env_start(&e, "hw", "1000");
	env_lead(&e, "t", 0, 1);
	env_lead(&e, "t", 1, 2);
	env_lead(&e, "u", 0, 3);
	ck_assert_int_eq(wcl_create(&e.wc, "t", 0, NULL), 0);
	ck_assert_int_eq(wcl_create(&e.wc, "t", 1, NULL), 0);
	end = rit_append(&e.wc, "t", 0, 5);
	ck_assert_int_eq(end, 5);
	rit_start_ready(&e.r);
	env_subscribe(&e);
	/* The snapshot: every partition, at once. */
	v = rcl_wait_hw(&e.rc, "t", 0, 5, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->hw, 5);
	ck_assert_int_eq(v->log_end, 5);
	ck_assert_int_eq(v->log_start, 0);
	ck_assert(v->leader);
	ck_assert_int_eq(v->isr_size, 1);
	ck_assert_int_eq(v->epoch, 0);
	v = rcl_wait_hw(&e.rc, "t", 1, 0, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->hw, 0);
	/* Every acknowledged append is covered by a pushed HW. */
	for (int i = 0; i < 5; i++) {
		end = rit_append(&e.wc, "t", 0, 3);
		v = rcl_wait_hw(&e.rc, "t", 0, end, T_MS);
		ck_assert_ptr_nonnull(v);
		ck_assert_int_eq(v->hw, end);
	}
	ck_assert_int_eq(end, 20);
	/* A log created after the subscription. */
	ck_assert_int_eq(wcl_create(&e.wc, "u", 0, NULL), 0);
	ck_assert_ptr_nonnull(rcl_wait_hw(&e.rc, "u", 0, 0, T_MS));
	ck_assert_int_eq(rit_append(&e.wc, "u", 0, 7), 7);
	ck_assert_ptr_nonnull(rcl_wait_hw(&e.rc, "u", 0, 7, T_MS));
	/* The metadata log is raftd's: never a partition here. */
	ck_assert_int_eq(wcl_create(&e.wc, "__chronik_metadata", 0, NULL), 0);
	(void)rit_append(&e.wc, "__chronik_metadata", 0, 2);
	ck_assert_int_eq(rcl_get(&e.rc, "__chronik_metadata", 0, &g, T_MS), CK_E_NOT_FOUND);
	(void)rcl_drain(&e.rc, 300);
	ck_assert_ptr_null(rcl_view(&e.rc, "__chronik_metadata", 0));
	/* GetPartition agrees with the pushes. */
	ck_assert_int_eq(rcl_get(&e.rc, "t", 0, &g, T_MS), 0);
	ck_assert_str_eq(g.topic, "t");
	ck_assert_int_eq(g.hw, 20);
	ck_assert_int_eq(g.log_end, 20);
	ck_assert(g.leader);
	ck_assert_int_eq(rcl_get(&e.rc, "nope", 0, &g, T_MS), CK_E_NOT_FOUND);
	ck_assert_int_eq(rcl_get(&e.rc, "t", 7, &g, T_MS), CK_E_NOT_FOUND);
	/* What `chronik-server status` shows. */
	ck_assert(rit_wait_status(&e.r, "replicator: 3 partitions, 3 led", "leader", T_MS));
	ck_assert_int_eq(rit_stop(&e.r, SIGTERM, T_MS), 0);
	ck_assert(rit_log_has(&e.r, "checkpoint written at stop"));
	env_end(&e);
}
END_TEST

/* Polls LMDB until the checkpoint of TOPIC-PART is HW (or, with HW < 0,
 * gone). */
static bool ckpt_wait(const char *data, const char *topic, int32_t part, int64_t hw)
{
	uint64_t deadline = ck_clock_mono_ms() + T_MS;

	while (ck_clock_mono_ms() < deadline) {
		int64_t got = -1;
		int32_t epoch = -1;
		int found = meta_ckpt_get(data, topic, part, &got, &epoch);
		if (hw < 0 ? !found : (found && got == hw))
			return true;
		usleep(20000);
	}
	return false;
}

START_TEST(test_delete_and_checkpoints)
{
	env_t e;
	const rst_t *v;
	rst_t g;
	int64_t hw = -1;
	int32_t epoch = -1;

	env_start(&e, "del", "100");
	env_lead(&e, "t", 0, 1);
	ck_assert_int_eq(wcl_create(&e.wc, "t", 0, NULL), 0);
	ck_assert_int_eq(rit_append(&e.wc, "t", 0, 4), 4);
	rit_start_ready(&e.r);
	env_subscribe(&e);
	ck_assert_ptr_nonnull(rcl_wait_hw(&e.rc, "t", 0, 4, T_MS));
	/* Periodic checkpoints, while running. */
	ck_assert_msg(ckpt_wait(e.w.data, "t", 0, 4), "no checkpoint hw=4");
	ck_assert_int_eq(meta_ckpt_get(e.w.data, "t", 0, &hw, &epoch), 1);
	ck_assert_int_eq(epoch, 0);
	ck_assert_int_eq(rit_append(&e.wc, "t", 0, 2), 6);
	ck_assert_msg(ckpt_wait(e.w.data, "t", 0, 6), "no checkpoint hw=6");
	/* A deleted log: pushed as deleted, gone from GetPartition and from
	 * the checkpoints. */
	ck_assert_int_eq(wcl_delete(&e.wc, "t", 0), 0);
	v = rcl_wait_deleted(&e.rc, "t", 0, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(rcl_get(&e.rc, "t", 0, &g, T_MS), CK_E_NOT_FOUND);
	ck_assert_msg(ckpt_wait(e.w.data, "t", 0, -1), "checkpoint of a deleted log stayed");
	/* Created again: starts over at 0. */
	ck_assert_int_eq(wcl_create(&e.wc, "t", 0, NULL), 0);
	v = rcl_wait_hw(&e.rc, "t", 0, 0, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->hw, 0);
	ck_assert_int_eq(rit_append(&e.wc, "t", 0, 2), 2);
	v = rcl_wait_hw(&e.rc, "t", 0, 2, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->hw, 2);
	ck_assert_msg(ckpt_wait(e.w.data, "t", 0, 2), "no checkpoint after re-creation");
	ck_assert_int_eq(rit_stop(&e.r, SIGTERM, T_MS), 0);
	env_end(&e);
}
END_TEST

START_TEST(test_restarts)
{
	env_t e;
	const rst_t *v;
	rst_t g;
	int64_t hw = -1;
	int32_t epoch = -1;

	/* Checkpoints only at stop (the timer is an hour away). */
	env_start(&e, "restart", "3600000");
	env_lead(&e, "t", 0, 1);
	ck_assert_int_eq(wcl_create(&e.wc, "t", 0, NULL), 0);
	ck_assert_int_eq(rit_append(&e.wc, "t", 0, 10), 10);
	rit_start_ready(&e.r);
	env_subscribe(&e);
	ck_assert_ptr_nonnull(rcl_wait_hw(&e.rc, "t", 0, 10, T_MS));
	ck_assert_int_eq(meta_ckpt_get(e.w.data, "t", 0, &hw, &epoch), 0);
	ck_assert_int_eq(rit_stop(&e.r, SIGTERM, T_MS), 0);
	ck_assert_int_eq(meta_ckpt_get(e.w.data, "t", 0, &hw, &epoch), 1);
	ck_assert_int_eq(hw, 10);
	rcl_close(&e.rc);
	/* Appends while the replicator is down: rebuilt from walwriter. */
	ck_assert_int_eq(rit_append(&e.wc, "t", 0, 5), 15);
	rit_start_ready(&e.r);
	env_subscribe(&e);
	v = rcl_wait_hw(&e.rc, "t", 0, 15, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->hw, 15);
	/* walwriter restarts: the last state is still served, then the
	 * replicator reconnects and follows again. */
	wcl_close(&e.wc);
	ck_assert_int_eq(wit_stop(&e.w, SIGTERM, T_MS), 0);
	usleep(200000);
	ck_assert(rit_alive(&e.r));
	ck_assert_int_eq(rcl_get(&e.rc, "t", 0, &g, T_MS), 0);
	ck_assert_int_eq(g.hw, 15);
	wit_start_ready(&e.w);
	wcl_connect(&e.wc, &e.w);
	ck_assert_int_eq(rit_append(&e.wc, "t", 0, 5), 20);
	v = rcl_wait_hw(&e.rc, "t", 0, 20, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->hw, 20);
	ck_assert(rit_log_has(&e.r, "walwriter connection lost"));
	/* A crash of the replicator itself. */
	ck_assert_int_eq(rit_stop(&e.r, SIGKILL, T_MS), 128 + SIGKILL);
	rcl_close(&e.rc);
	rit_start_ready(&e.r);
	env_subscribe(&e);
	v = rcl_wait_hw(&e.rc, "t", 0, 20, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->hw, 20);
	ck_assert(v->leader);
	ck_assert_int_eq(rit_stop(&e.r, SIGTERM, T_MS), 0);
	ck_assert_int_eq(meta_ckpt_get(e.w.data, "t", 0, &hw, &epoch), 1);
	ck_assert_int_eq(hw, 20);
	env_end(&e);
}
END_TEST

START_TEST(test_metadata_from_raftd_events)
{
	env_t e;
	fraft_t f;
	const rst_t *v;
	rst_t g;
	int32_t me[] = {1};
	int32_t two[] = {2, 1};

	/* No timer refresh: only Applied events bring metadata in. */
	env_start(&e, "meta", "3600000");
	fraft_listen(&f, e.w.data);
	ck_assert_int_eq(wcl_create(&e.wc, "t", 0, NULL), 0);
	ck_assert_int_eq(rit_append(&e.wc, "t", 0, 3), 3);
	meta_put_partition(e.w.data, "t", 0, me, 1, me, 1, 1, 5, 1);
	rit_start_ready(&e.r);
	fraft_accept(&f, T_MS);
	fraft_applied(&f, 1, true);
	env_subscribe(&e);
	v = rcl_wait_role(&e.rc, "t", 0, true, 5, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->hw, 3);
	ck_assert_int_eq(v->isr_size, 1);
	/* Another node leads now: this one follows, HW waits for the leader. */
	meta_put_partition(e.w.data, "t", 0, two, 2, two, 2, 2, 6, 2);
	fraft_applied(&f, 2, false);
	v = rcl_wait_role(&e.rc, "t", 0, false, 6, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->isr_size, 2);
	ck_assert_int_eq(v->hw, 3);
	{
		/* The log grows (at the new epoch: walwriter is fenced with it
		 * now, an append of epoch 0 is refused; AGAIN while the fence
		 * is being written). */
		ck_buf_t b = CK_BUF_INIT;
		int64_t base = -1, last = -1;
		uint64_t until = ck_clock_mono_ms() + T_MS;
		int r;

		(void)wit_batch(&b, 4, 16, 4);
		while ((r = wcl_append(&e.wc, "t", 0, b.data, b.len, false, 6, &base, &last)) ==
		           CK_E_AGAIN &&
		       ck_clock_mono_ms() < until)
			ck_test_sleep_ms(20);
		ck_assert_int_eq(r, 0);
		ck_assert_int_eq(last, 6);
		ck_buf_free(&b);
	}
	(void)rcl_drain(&e.rc, 300);
	ck_assert_int_eq(rcl_get(&e.rc, "t", 0, &g, T_MS), 0);
	ck_assert_int_eq(g.hw, 3);
	ck_assert_int_eq(g.log_end, 7);
	ck_assert(!g.leader);
	/* The topic leaves the metadata, the log stays: led here alone by
	 * default, but with no replica set its HW holds. */
	meta_del_topic(e.w.data, "t", 3);
	fraft_applied(&f, 3, false);
	v = rcl_wait_role(&e.rc, "t", 0, true, 6, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->isr_size, 0);
	ck_assert_int_eq(v->hw, 3);
	(void)rcl_drain(&e.rc, 300);
	ck_assert_int_eq(rcl_get(&e.rc, "t", 0, &g, T_MS), 0);
	ck_assert_int_eq(g.hw, 3);
	ck_assert_int_eq(g.log_end, 7);
	ck_assert_int_eq(rit_stop(&e.r, SIGTERM, T_MS), 0);
	fraft_close(&f);
	env_end(&e);
}
END_TEST

START_TEST(test_metadata_without_raftd)
{
	env_t e;
	const rst_t *v;
	int32_t me[] = {1};

	env_start(&e, "meta-timer", "100");
	ck_assert_int_eq(wcl_create(&e.wc, "t", 0, NULL), 0);
	rit_start_ready(&e.r);
	env_subscribe(&e);
	ck_assert_ptr_nonnull(rcl_wait_hw(&e.rc, "t", 0, 0, T_MS));
	meta_put_partition(e.w.data, "t", 0, me, 1, me, 1, 1, 9, 1);
	v = rcl_wait_role(&e.rc, "t", 0, true, 9, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(rit_append(&e.wc, "t", 0, 2), 2);
	ck_assert_ptr_nonnull(rcl_wait_hw(&e.rc, "t", 0, 2, T_MS));
	/* The epoch goes into the checkpoint too. */
	ck_assert_int_eq(rit_stop(&e.r, SIGTERM, T_MS), 0);
	{
		int64_t hw = -1;
		int32_t epoch = -1;
		ck_assert_int_eq(meta_ckpt_get(e.w.data, "t", 0, &hw, &epoch), 1);
		ck_assert_int_eq(hw, 2);
		ck_assert_int_eq(epoch, 9);
	}
	env_end(&e);
}
END_TEST

/* Metadata written as raftd writes it (parts_index, "changes"): the
 * replicator re-reads only the topics the new entries changed, reads
 * everything when "changes" does not cover them, and reads the topic of a
 * log that appears without metadata. A record rewritten behind raftd's
 * back (no parts_index move, no "changes") shows which read ran. */
START_TEST(test_metadata_per_topic)
{
	env_t e;
	fraft_t f;
	const rst_t *v;
	rst_t g;
	int32_t me[] = {1}, two[] = {2, 1}, others[] = {2, 3};

	env_start(&e, "meta-topic", "200");
	rit_env(&e.r, "CHRONIK_LOG_LEVEL=debug");
	fraft_listen(&f, e.w.data);
	ck_assert_int_eq(wcl_create(&e.wc, "t", 0, NULL), 0);
	ck_assert_int_eq(wcl_create(&e.wc, "u", 0, NULL), 0);
	meta_put_partition_at(e.w.data, "t", 0, me, 1, 1, 5, 1, true);
	meta_put_partition_at(e.w.data, "u", 0, me, 1, 1, 3, 2, true);
	meta_put_partition_at(e.w.data, "o", 0, others, 2, 2, 8, 3, true);
	rit_start_ready(&e.r);
	fraft_accept(&f, T_MS);
	fraft_applied(&f, 3, true);
	env_subscribe(&e);
	ck_assert_ptr_nonnull(rcl_wait_role(&e.rc, "t", 0, true, 5, T_MS));
	ck_assert_ptr_nonnull(rcl_wait_role(&e.rc, "u", 0, true, 3, T_MS));

	/* t rewritten quietly, then an entry for u: only u is read. */
	meta_put_partition(e.w.data, "t", 0, me, 1, me, 1, 1, 6, 4);
	meta_put_partition_at(e.w.data, "u", 0, two, 2, 2, 4, 5, true);
	fraft_applied(&f, 5, false);
	v = rcl_wait_role(&e.rc, "u", 0, false, 4, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->isr_size, 2);
	(void)rcl_drain(&e.rc, 500);
	ck_assert_int_eq(rcl_get(&e.rc, "t", 0, &g, T_MS), 0);
	ck_assert_int_eq(g.epoch, 5);
	ck_assert(g.leader);
	ck_assert(rit_log_has(&e.r, "metadata read applied_index=5 topics=1 "));

	/* An entry "changes" never saw (an older raftd, a snapshot): a full
	 * read, which finds t's record as well. */
	meta_put_partition_at(e.w.data, "u", 0, me, 1, 1, 5, 6, false);
	fraft_applied(&f, 6, false);
	ck_assert_ptr_nonnull(rcl_wait_role(&e.rc, "u", 0, true, 5, T_MS));
	ck_assert_ptr_nonnull(rcl_wait_role(&e.rc, "t", 0, true, 6, T_MS));
	ck_assert(rit_log_has(&e.r, "metadata read applied_index=6 topics=all "));

	/* Recorded again from the next entry on: per topic once more. */
	meta_put_partition(e.w.data, "t", 0, me, 1, me, 1, 1, 7, 7);
	meta_put_partition_at(e.w.data, "u", 0, two, 2, 2, 6, 8, true);
	fraft_applied(&f, 8, false);
	ck_assert_ptr_nonnull(rcl_wait_role(&e.rc, "u", 0, false, 6, T_MS));
	(void)rcl_drain(&e.rc, 500);
	ck_assert_int_eq(rcl_get(&e.rc, "t", 0, &g, T_MS), 0);
	ck_assert_int_eq(g.epoch, 6);
	ck_assert(rit_log_has(&e.r, "metadata read applied_index=8 topics=1 "));

	/* u deleted: its log stays, led here alone; t is still not read. */
	meta_del_topic_at(e.w.data, "u", 9);
	fraft_applied(&f, 9, false);
	v = rcl_wait_role(&e.rc, "u", 0, true, 6, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->isr_size, 0);
	ck_assert(rit_log_has(&e.r, "metadata read applied_index=9 topics=1 "));

	/* A log of a partition led by others appears: its topic is read (at
	 * the next timer tick, no Applied event needed), so it is no
	 * single-replica leader here for long. */
	ck_assert_int_eq(wcl_create(&e.wc, "o", 0, NULL), 0);
	v = rcl_wait_role(&e.rc, "o", 0, false, 8, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->isr_size, 2);
	ck_assert_int_eq(rcl_get(&e.rc, "t", 0, &g, T_MS), 0);
	ck_assert_int_eq(g.epoch, 6);
	ck_assert_int_eq(rit_stop(&e.r, SIGTERM, T_MS), 0);
	fraft_close(&f);
	env_end(&e);
}
END_TEST

/* Reads from FD until EOF; true when it came within TIMEOUT_MS. */
static bool tcp_eof(int fd, int timeout_ms)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	char buf[64];

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return true;
		if (n < 0)
			return false;
	}
}

START_TEST(test_waits_for_walwriter_and_bad_input)
{
	env_t e;
	Chronik__Repl__ReplRequest req = CHRONIK__REPL__REPL_REQUEST__INIT;
	Chronik__Repl__Subscribe sub = CHRONIK__REPL__SUBSCRIBE__INIT;
	Chronik__Repl__ReplReply *rep;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	rcl_t bad;
	rst_t g;
	int64_t cid;
	int fd;

	/* The replicator first, walwriter later. */
	env_init(&e);
	wit_init(&e.w, "wait");
	rit_init(&e.r, &e.w);
	rit_env(&e.r, "CHRONIK_WAL_CHECKPOINT_INTERVAL_MS=1000");
	rit_start_ready(&e.r);
	rcl_connect(&e.rc, &e.r);
	ck_assert_int_eq(rcl_get(&e.rc, "t", 0, &g, T_MS), CK_E_AGAIN);
	req.body_case = CHRONIK__REPL__REPL_REQUEST__BODY_SUBSCRIBE;
	req.subscribe = &sub;
	cid = rcl_send(&e.rc, &req);
	ck_assert_int_gt(cid, 0);
	rep = rcl_recv(&e.rc, 500);
	ck_assert_msg(rep == NULL, "subscribe answered before walwriter was listed");
	wit_start_ready(&e.w);
	env_lead(&e, "t", 0, 1);
	wcl_connect(&e.wc, &e.w);
	ck_assert_int_eq(wcl_create(&e.wc, "t", 0, NULL), 0);
	ck_assert_int_eq(rit_append(&e.wc, "t", 0, 2), 2);
	for (;;) {
		rep = rcl_recv(&e.rc, T_MS);
		ck_assert_ptr_nonnull(rep);
		if (rep->correlation_id == (uint64_t)cid)
			break;
		chronik__repl__repl_reply__free_unpacked(rep, NULL);
	}
	ck_assert_int_eq(rep->error, 0);
	chronik__repl__repl_reply__free_unpacked(rep, NULL);
	ck_assert_ptr_nonnull(rcl_wait_hw(&e.rc, "t", 0, 2, T_MS));

	/* The replication port closes a connection whose frame is not an
	 * envelope from a peer (tests/cluster/test_replication.py has more). */
	a.sin_port = htons((uint16_t)e.r.repl_port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(write(fd, "\x08\x00\x00\x00garbage!", 12), 12);
	ck_assert(tcp_eof(fd, T_MS));
	close(fd);

	/* A request without a body: an error reply, the connection stays. */
	rcl_connect(&bad, &e.r);
	req = (Chronik__Repl__ReplRequest)CHRONIK__REPL__REPL_REQUEST__INIT;
	cid = rcl_send(&bad, &req);
	rep = rcl_recv(&bad, T_MS);
	ck_assert_ptr_nonnull(rep);
	ck_assert_uint_eq(rep->correlation_id, (uint64_t)cid);
	ck_assert_int_eq(rep->error, CK_E_INVALID);
	chronik__repl__repl_reply__free_unpacked(rep, NULL);
	ck_assert_int_eq(rcl_get(&bad, "t", 0, &g, T_MS), 0);
	/* A frame that does not decode: that connection goes, nothing else. */
	ck_assert_int_eq(rcl_send_raw(&bad, garbage, sizeof(garbage)), 0);
	ck_assert_ptr_null(rcl_recv(&bad, T_MS));
	rcl_close(&bad);
	ck_assert(rit_alive(&e.r));
	ck_assert_int_eq(rit_append(&e.wc, "t", 0, 3), 5);
	ck_assert_ptr_nonnull(rcl_wait_hw(&e.rc, "t", 0, 5, T_MS));
	ck_assert_int_eq(rit_stop(&e.r, SIGTERM, T_MS), 0);
	env_end(&e);
}
END_TEST

/* The whole metadata path with a real raftd: topics proposed to raftd,
 * logs created by raftd in walwriter, partition records in LMDB, Applied
 * events to the replicator. */
START_TEST(test_with_real_raftd)
{
	env_t e;
	rit_t rd;
	const rst_t *v;
	int32_t lep = -1, pep = -1;

	env_start(&e, "raftd", "1000");
	rit_init_raftd(&rd, &e.w);
	rit_start_ready(&rd);
	rit_start_ready(&e.r);
	env_subscribe(&e);
	ck_assert_int_eq(raftd_create_topic(e.w.data, "orders", 2, 1, T_MS), 0);
	/* Answered once applied and the logs exist: the replicator follows. */
	meta_epochs(e.w.data, "orders", 0, &lep, &pep);
	for (int p = 0; p < 2; p++) {
		/* The log may come before the metadata: led here by default,
		 * with no ISR known, until the replica set is read. */
		ck_assert_ptr_nonnull(rcl_wait_isr(&e.rc, "orders", p, 1, T_MS));
		v = rcl_wait_role(&e.rc, "orders", p, true, lep, T_MS);
		ck_assert_ptr_nonnull(v);
		ck_assert_int_eq(v->hw, 0);
		ck_assert_int_eq(v->isr_size, 1);
	}
	ck_assert_int_eq(rit_append(&e.wc, "orders", 1, 3), 3);
	ck_assert_ptr_nonnull(rcl_wait_hw(&e.rc, "orders", 1, 3, T_MS));
	ck_assert_int_eq(raftd_create_topic(e.w.data, "orders", 2, 1, T_MS), CK_E_EXISTS);
	/* Leadership changes decided by the controller reach the partition
	 * state: no leader, then led here at a new epoch. */
	ck_assert_int_eq(raftd_update_partition(e.w.data, "orders", 1, -1, 1, lep + 1, pep, T_MS),
	                 0);
	v = rcl_wait_role(&e.rc, "orders", 1, false, lep + 1, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->hw, 3);
	ck_assert_int_eq(
	    raftd_update_partition(e.w.data, "orders", 1, 1, 1, lep + 2, pep + 1, T_MS), 0);
	v = rcl_wait_role(&e.rc, "orders", 1, true, lep + 2, T_MS);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(rit_append(&e.wc, "orders", 1, 2), 5);
	ck_assert_ptr_nonnull(rcl_wait_hw(&e.rc, "orders", 1, 5, T_MS));
	/* DeleteTopic: raftd deletes the logs, subscribers see both go. */
	ck_assert_int_eq(raftd_delete_topic(e.w.data, "orders", T_MS), 0);
	ck_assert_ptr_nonnull(rcl_wait_deleted(&e.rc, "orders", 0, T_MS));
	ck_assert_ptr_nonnull(rcl_wait_deleted(&e.rc, "orders", 1, T_MS));
	ck_assert_int_eq(rit_stop(&e.r, SIGTERM, T_MS), 0);
	ck_assert_int_eq(rit_stop(&rd, SIGTERM, T_MS), 0);
	rit_cleanup(&rd);
	env_end(&e);
}
END_TEST

static Suite *repl_service_suite(void)
{
	Suite *s = suite_create("repl_service");
	TCase *tc = tcase_create("service");

	ck_test_add_root(tc);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_hw_tracks_durable_end);
	tcase_add_test(tc, test_delete_and_checkpoints);
	tcase_add_test(tc, test_restarts);
	tcase_add_test(tc, test_metadata_from_raftd_events);
	tcase_add_test(tc, test_metadata_without_raftd);
	tcase_add_test(tc, test_metadata_per_topic);
	tcase_add_test(tc, test_waits_for_walwriter_and_bad_input);
	tcase_add_test(tc, test_with_real_raftd);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(repl_service_suite());
}
