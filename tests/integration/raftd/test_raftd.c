/*
 * test_raftd.c: integration tests of chronik-raftd, the metadata service,
 * with a real walwriter, both standalone on a temp data dir:
 *   1. the raftd.sock service: status, Applied events, results of good and
 *      bad commands, a bad client cut off alone, STATUS= for the
 *      supervisor, a clean stop; a partitions-only subscriber hears of
 *      creations, not of config changes;
 *   2. 1,000 CreateTopic proposed concurrently: every answer, LMDB, the
 *      partition logs and the metadata log agree; after kill -9 of raftd
 *      and walwriter everything is still there, nothing was applied twice,
 *      and proposing the same topics again (same topic ids: retries)
 *      succeeds without a change;
 *   3. raftd killed with -9 in the middle of a stream: what was answered
 *      stays, the rest is retried, every topic exists exactly once and was
 *      created by the first CreateTopic the log holds for it;
 *   4. walwriter killed with -9 in the middle of a stream: raftd keeps
 *      running, reconnects and every proposal succeeds;
 *   5. the commit mode: CHRONIK_METADATA_COMMIT=leader is taken, and
 *      CHRONIK_DISABLE_METADATA_WAL=true turns it back to quorum.
 * See raftd_itest.h for the harness.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "raftd_itest.h"

static rit_t T;

/* ---- 1. the service ---- */

START_TEST(test_service)
{
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__Subscribe sub = CHRONIK__RAFTD__SUBSCRIBE__INIT;
	Chronik__Raftd__Propose empty = CHRONIK__RAFTD__PROPOSE__INIT;
	Chronik__Meta__MetadataCommand del;
	Chronik__Meta__DeleteTopic dt;
	Chronik__Raftd__RaftdReply *rep;
	Chronik__Raftd__RaftStatus st;
	rit_create_t cr;
	rcl_t c, bad;
	char role[32];
	uint64_t index = 0, idx2 = 0, applied;
	int result = -1;

	rit_init(&T, "svc");
	rit_start_wal(&T);
	rit_start_raftd(&T);
	/* The supervisor hears who leads. */
	ck_assert(ck_test_proc_wait_notify(&T.raftd, "CHRONIK_ROLE", "leader", 10000));
	ck_assert(ck_test_proc_wait_notify(&T.raftd, "STATUS", "serving", 10000));
	rcl_connect(&c, &T);
	rcl_status(&c, &st, role, sizeof(role));
	ck_assert_str_eq(role, "leader");
	ck_assert_uint_ge(st.term, 1);
	ck_assert_int_eq(st.leader_id, 1);
	ck_assert_uint_eq(st.applied_index, st.commit_index);

	/* Subscribe: the current index at once, as the reply. */
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_SUBSCRIBE;
	req.subscribe = &sub;
	rep = rcl_call(&c, &req, 30000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->body_case, CHRONIK__RAFTD__RAFTD_REPLY__BODY_APPLIED);
	ck_assert_uint_ge(rep->applied->applied_index, st.applied_index);
	chronik__raftd__raftd_reply__free_unpacked(rep, NULL);

	/* A proposal: answered with its index, and an event covers it. */
	rit_create_cmd(&cr, "svc-one", 2);
	ck_assert_int_eq(rcl_propose(&c, &cr.cmd, &result, &index), 0);
	ck_assert_int_eq(result, 0);
	ck_assert_uint_gt(index, st.applied_index);
	for (;;) {
		rep = rcl_recv(&c, 30000);
		ck_assert_ptr_nonnull(rep);
		ck_assert_uint_eq(rep->correlation_id, 0);
		ck_assert_int_eq(rep->body_case, CHRONIK__RAFTD__RAFTD_REPLY__BODY_APPLIED);
		applied = rep->applied->applied_index;
		chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
		if (applied >= index)
			break;
	}
	ck_assert_uint_ge(rit_meta_applied(&T), index);
	ck_assert(rit_wait_log(&T, "svc-one", 0, true, 10000));
	ck_assert(rit_wait_log(&T, "svc-one", 1, true, 10000));
	ck_assert(!rit_log_exists(&T, "svc-one", 2));

	/* The same CreateTopic again (a retry) succeeds without a change. */
	ck_assert_int_eq(rcl_propose(&c, &cr.cmd, &result, &idx2), 0);
	ck_assert_int_eq(result, 0);
	ck_assert_uint_gt(idx2, index);
	/* Results of commands that do not fit: the name taken by another
	 * topic id, a bad name, an unknown delete. */
	cr.id[0] ^= 0xff;
	ck_assert_int_eq(rcl_propose(&c, &cr.cmd, &result, &idx2), 0);
	ck_assert_int_eq(result, CK_E_EXISTS);
	rit_create_cmd(&cr, "bad name!", 1);
	ck_assert_int_eq(rcl_propose(&c, &cr.cmd, &result, &idx2), 0);
	ck_assert_int_eq(result, CK_E_INVALID);
	rit_delete_cmd(&del, &dt, "svc-none");
	ck_assert_int_eq(rcl_propose(&c, &del, &result, &idx2), 0);
	ck_assert_int_eq(result, CK_E_NOT_FOUND);
	/* A delete removes the records and the logs. */
	rit_delete_cmd(&del, &dt, "svc-one");
	ck_assert_int_eq(rcl_propose(&c, &del, &result, &idx2), 0);
	ck_assert_int_eq(result, 0);
	ck_assert_uint_eq(rit_meta_topics(&T, "svc-one", NULL, NULL), 0);
	ck_assert_ptr_null(rit_meta_partition(&T, "svc-one", 0));
	ck_assert(rit_wait_log(&T, "svc-one", 0, false, 10000));
	ck_assert(rit_wait_log(&T, "svc-one", 1, false, 10000));
	rcl_close(&c);

	/* A propose without a command is refused; a frame that is no request
	 * closes only its own connection. */
	rcl_connect(&c, &T);
	rcl_connect(&bad, &T);
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE;
	req.propose = &empty;
	rep = rcl_call(&c, &req, 30000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->error, CK_E_INVALID);
	chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
	ck_assert_int_eq(ck_ipc_sync_send(bad.fd, "\xff\xff\xff", 3), 0);
	ck_assert_ptr_null(rcl_recv(&bad, 10000));
	rcl_close(&bad);
	rit_create_cmd(&cr, "svc-two", 1);
	ck_assert_int_eq(rcl_propose(&c, &cr.cmd, &result, &idx2), 0);
	ck_assert_int_eq(result, 0);
	rcl_close(&c);
	ck_assert(ck_test_file_contains(T.raftd.logpath, "closing client"));

	/* A clean stop. */
	ck_assert_int_eq(ck_test_proc_stop(&T.raftd, SIGTERM, 20000), 0);
	ck_assert(ck_test_file_contains(T.raftd.logpath, "stopped"));
}
END_TEST

/* ---- 2. a thousand topics survive kill -9 ---- */

#define N_TOPICS 1000

typedef struct {
	uint64_t created[N_TOPICS];
	size_t n;
	bool bad;
} created_t;

static void note_created(void *arg, const Chronik__Meta__TopicRecord *rec)
{
	created_t *c = arg;
	size_t i = strtoul(strrchr(rec->name, '-') + 1, NULL, 10);

	if (i >= N_TOPICS || c->created[i] || rec->partitions != 1)
		c->bad = true;
	else
		c->created[i] = rec->created_index;
	c->n++;
}

typedef struct {
	int creates[N_TOPICS];
	uint64_t first[N_TOPICS];
	size_t entries;
	size_t noops;
} log_count_t;

static void count_entry(void *arg, uint64_t index, uint64_t term,
                        const Chronik__Meta__MetadataCommand *cmd)
{
	log_count_t *lc = arg;
	const char *dash;
	size_t i;

	(void)term;
	lc->entries++;
	if (!cmd) {
		lc->noops++;
		return;
	}
	if (cmd->cmd_case != CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC ||
	    strncmp(cmd->create_topic->name, "k9-", 3) != 0)
		return;
	dash = strrchr(cmd->create_topic->name, '-');
	i = strtoul(dash + 1, NULL, 10);
	ck_assert_uint_lt(i, N_TOPICS);
	if (lc->creates[i]++ == 0)
		lc->first[i] = index;
}

/* LMDB, the logs and the metadata log agree with the answers ANS. */
static void check_thousand(const rit_answer_t *ans, created_t *cr, int creates_each)
{
	log_count_t *lc = calloc(1, sizeof(*lc));
	uint64_t last;

	memset(cr, 0, sizeof(*cr));
	ck_assert_uint_eq(rit_meta_topics(&T, "k9-", note_created, cr), N_TOPICS);
	ck_assert(!cr->bad);
	for (size_t i = 0; i < N_TOPICS; i++) {
		char name[32];
		Chronik__Meta__PartitionRecord *p;

		snprintf(name, sizeof(name), "k9-%04zu", i);
		ck_assert_uint_eq(cr->created[i], ans[i].index);
		p = rit_meta_partition(&T, name, 0);
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(p->leader, 1);
		ck_assert_uint_eq(p->n_isr, 1);
		chronik__meta__partition_record__free_unpacked(p, NULL);
		ck_assert_ptr_null(rit_meta_partition(&T, name, 1));
		ck_assert_msg(rit_wait_log(&T, name, 0, true, 10000), "no log for %s", name);
	}
	last = rit_meta_log(&T, count_entry, lc);
	ck_assert_uint_eq(last, rit_meta_applied(&T));
	for (size_t i = 0; i < N_TOPICS; i++) {
		ck_assert_int_eq(lc->creates[i], creates_each);
		ck_assert_uint_eq(lc->first[i], ans[i].index);
	}
	ck_assert_uint_ge(lc->noops, 1);
	free(lc);
}

/* Subscribes C (PARTS_ONLY or not); returns the index of the first event. */
static uint64_t subscribe(rcl_t *c, bool parts_only)
{
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__Subscribe sub = CHRONIK__RAFTD__SUBSCRIBE__INIT;
	Chronik__Raftd__RaftdReply *rep;
	uint64_t applied;

	sub.partitions_only = parts_only;
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_SUBSCRIBE;
	req.subscribe = &sub;
	rep = rcl_call(c, &req, 30000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->body_case, CHRONIK__RAFTD__RAFTD_REPLY__BODY_APPLIED);
	applied = rep->applied->applied_index;
	chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
	return applied;
}

/* The index of C's next Applied event. */
static uint64_t next_event(rcl_t *c)
{
	Chronik__Raftd__RaftdReply *rep = rcl_recv(c, 30000);
	uint64_t applied;

	ck_assert_ptr_nonnull(rep);
	ck_assert_uint_eq(rep->correlation_id, 0);
	ck_assert_int_eq(rep->body_case, CHRONIK__RAFTD__RAFTD_REPLY__BODY_APPLIED);
	applied = rep->applied->applied_index;
	chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
	return applied;
}

/* A subscriber with partitions_only is told when partition records change
 * (a creation), not when only configs do; a plain one hears of both. */
START_TEST(test_subscribe_partitions_only)
{
	Chronik__Meta__MetadataCommand alter = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__AlterTopicConfigs ac = CHRONIK__META__ALTER_TOPIC_CONFIGS__INIT;
	Chronik__Meta__ConfigEntry e = CHRONIK__META__CONFIG_ENTRY__INIT, *ev[1] = {&e};
	rit_create_t cr;
	rcl_t p, all, parts;
	uint64_t i_create, i_alter, i_create2, ev_all, ev_parts;
	int result = -1;

	rit_init(&T, "sub");
	rit_start_wal(&T);
	rit_start_raftd(&T);
	rcl_connect(&p, &T);
	rcl_connect(&all, &T);
	rcl_connect(&parts, &T);
	(void)subscribe(&all, false);
	(void)subscribe(&parts, true);
	rit_create_cmd(&cr, "sub-one", 1);
	ck_assert_int_eq(rcl_propose(&p, &cr.cmd, &result, &i_create), 0);
	ck_assert_int_eq(result, 0);
	do
		ev_parts = next_event(&parts);
	while (ev_parts < i_create);
	do
		ev_all = next_event(&all);
	while (ev_all < i_create);
	/* A config change, then another creation: the partitions-only
	 * subscriber's next event is the creation's. */
	alter.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS;
	alter.alter_topic_configs = &ac;
	ac.name = "sub-one";
	e.name = "min.insync.replicas";
	e.value = "2";
	ac.set = ev;
	ac.n_set = 1;
	ck_assert_int_eq(rcl_propose(&p, &alter, &result, &i_alter), 0);
	ck_assert_int_eq(result, 0);
	rit_create_cmd(&cr, "sub-two", 1);
	ck_assert_int_eq(rcl_propose(&p, &cr.cmd, &result, &i_create2), 0);
	ck_assert_int_eq(result, 0);
	ck_assert_uint_gt(i_create2, i_alter);
	/* (Events cover rounds: another entry may share one.) */
	do
		ev_all = next_event(&all);
	while (ev_all < i_alter);
	ck_assert_uint_lt(ev_all, i_create2);
	ck_assert_uint_ge(next_event(&parts), i_create2);
	/* A new partitions-only subscriber starts from the current index. */
	rcl_close(&parts);
	rcl_connect(&parts, &T);
	ck_assert_uint_ge(subscribe(&parts, true), i_create2);
	rcl_close(&p);
	rcl_close(&all);
	rcl_close(&parts);
}
END_TEST

START_TEST(test_thousand_topics_survive_kill9)
{
	rit_answer_t *ans = calloc(N_TOPICS, sizeof(*ans));
	rit_answer_t *again = calloc(N_TOPICS, sizeof(*again));
	created_t *cr = calloc(1, sizeof(*cr));
	ck_buf_t before = CK_BUF_INIT, after = CK_BUF_INIT;
	uint64_t applied, t0;

	rit_init(&T, "k9");
	rit_start_wal(&T);
	rit_start_raftd(&T);
	t0 = ck_clock_mono_ms();
	ck_assert_uint_eq(
	    rit_propose_many(&T, 8, N_TOPICS, rit_make_topic, "k9", NULL, NULL, ans, 300000),
	    N_TOPICS);
	/* For the record only: speed is not asserted (shared machine). */
	fprintf(stderr, "raftd: %d topics created in %llu ms\n", N_TOPICS,
	        (unsigned long long)(ck_clock_mono_ms() - t0));
	for (size_t i = 0; i < N_TOPICS; i++) {
		ck_assert_int_eq(ans[i].err, 0);
		ck_assert_int_eq(ans[i].result, 0);
		for (size_t j = 0; j < i; j++)
			ck_assert_uint_ne(ans[i].index, ans[j].index);
	}
	check_thousand(ans, cr, 1);
	applied = rit_meta_applied(&T);
	rit_meta_log_bytes(&T, &before);

	/* Both processes die hard; both come back. */
	rit_kill(&T.raftd);
	rit_kill(&T.wal);
	rit_start_wal(&T);
	rit_start_raftd(&T);
	check_thousand(ans, cr, 1);
	ck_assert_uint_gt(rit_meta_applied(&T), applied); /* no-op + registration */
	/* The log before the restart is still its prefix, byte for byte. */
	rit_meta_log_bytes(&T, &after);
	ck_assert_uint_gt(after.len, before.len);
	ck_assert_mem_eq(after.data, before.data, before.len);

	/* The same topics again (retries: same topic ids): each is a
	 * success that changes nothing. */
	ck_assert_uint_eq(
	    rit_propose_many(&T, 8, N_TOPICS, rit_make_topic, "k9", NULL, NULL, again, 300000),
	    N_TOPICS);
	for (size_t i = 0; i < N_TOPICS; i++) {
		ck_assert_int_eq(again[i].err, 0);
		ck_assert_int_eq(again[i].result, 0);
	}
	check_thousand(ans, cr, 2);
	ck_buf_free(&before);
	ck_buf_free(&after);
	free(ans);
	free(again);
	free(cr);
}
END_TEST

/* ---- 3. raftd killed mid-stream ---- */

#define N_STREAM 2000

static void kill_raftd_at(size_t answered, void *arg)
{
	if (answered >= *(size_t *)arg && T.raftd.pid > 0) /* answers come in batches */
		rit_kill(&T.raftd);
}

typedef struct {
	uint64_t created[N_STREAM];
	uint64_t first_create[N_STREAM];
	int topics;
} stream_check_t;

static void stream_topic(void *arg, const Chronik__Meta__TopicRecord *rec)
{
	stream_check_t *sc = arg;
	size_t i = strtoul(strrchr(rec->name, '-') + 1, NULL, 10);

	ck_assert_uint_lt(i, N_STREAM);
	ck_assert_uint_eq(sc->created[i], 0);
	sc->created[i] = rec->created_index;
	sc->topics++;
}

static void stream_entry(void *arg, uint64_t index, uint64_t term,
                         const Chronik__Meta__MetadataCommand *cmd)
{
	stream_check_t *sc = arg;
	size_t i;

	(void)term;
	if (!cmd || cmd->cmd_case != CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC)
		return;
	i = strtoul(strrchr(cmd->create_topic->name, '-') + 1, NULL, 10);
	if (i < N_STREAM && sc->first_create[i] == 0)
		sc->first_create[i] = index;
}

static void retry_missing(size_t i, rit_create_t *b, void *arg)
{
	const size_t *map = arg;

	rit_make_topic(map[i], b, "mid");
}

START_TEST(test_raftd_killed_mid_stream)
{
	rit_answer_t *ans = calloc(N_STREAM, sizeof(*ans));
	rit_answer_t *ans2 = calloc(N_STREAM, sizeof(*ans2));
	size_t *map = calloc(N_STREAM, sizeof(*map));
	stream_check_t *sc = calloc(1, sizeof(*sc));
	size_t kill_at = N_STREAM / 4, got, missing = 0;

	rit_init(&T, "mid");
	rit_start_wal(&T);
	rit_start_raftd(&T);
	got = rit_propose_many(&T, 4, N_STREAM, rit_make_topic, "mid", kill_raftd_at, &kill_at, ans,
	                       300000);
	ck_assert_uint_ge(got, kill_at);
	ck_assert_uint_lt(got, N_STREAM); /* the kill cut some off */
	for (size_t i = 0; i < N_STREAM; i++) {
		if (ans[i].answered) {
			ck_assert_int_eq(ans[i].err, 0);
			ck_assert_int_eq(ans[i].result, 0);
		} else {
			ck_assert_int_eq(ans[i].err, CK_E_CLOSED);
			map[missing++] = i;
		}
	}
	rit_start_raftd(&T);
	/* The clients retry what got no answer: created now, or by the
	 * entry that made it into the log before the kill. */
	ck_assert_uint_eq(
	    rit_propose_many(&T, 4, missing, retry_missing, map, NULL, NULL, ans2, 300000),
	    missing);
	for (size_t k = 0; k < missing; k++) {
		ck_assert_int_eq(ans2[k].err, 0);
		ck_assert(ans2[k].result == 0 || ans2[k].result == CK_E_EXISTS);
	}
	ck_assert_uint_eq(rit_meta_topics(&T, "mid-", stream_topic, sc), N_STREAM);
	(void)rit_meta_log(&T, stream_entry, sc);
	for (size_t i = 0; i < N_STREAM; i++) {
		char name[32];

		/* Each topic was made by the first CreateTopic in the log, and
		 * an answered one by exactly the entry the answer named. */
		ck_assert_uint_eq(sc->created[i], sc->first_create[i]);
		if (ans[i].answered)
			ck_assert_uint_eq(sc->created[i], ans[i].index);
		snprintf(name, sizeof(name), "mid-%04zu", i);
		ck_assert_msg(rit_wait_log(&T, name, 0, true, 10000), "no log for %s", name);
	}
	free(ans);
	free(ans2);
	free(map);
	free(sc);
}
END_TEST

/* ---- 4. walwriter killed mid-stream ---- */

static void restart_wal_at(size_t answered, void *arg)
{
	if (answered != *(size_t *)arg)
		return;
	rit_kill(&T.wal);
	ck_test_sleep_ms(300);
	rit_start_wal(&T);
}

START_TEST(test_walwriter_restart)
{
	rit_answer_t *ans = calloc(N_TOPICS, sizeof(*ans));
	size_t at = N_TOPICS / 5;
	pid_t raftd_pid;

	rit_init(&T, "walk");
	rit_start_wal(&T);
	rit_start_raftd(&T);
	raftd_pid = T.raftd.pid;
	ck_assert_uint_eq(rit_propose_many(&T, 4, N_TOPICS, rit_make_topic, "walk", restart_wal_at,
	                                   &at, ans, 300000),
	                  N_TOPICS);
	for (size_t i = 0; i < N_TOPICS; i++) {
		char name[32];

		ck_assert_int_eq(ans[i].err, 0);
		ck_assert_int_eq(ans[i].result, 0);
		snprintf(name, sizeof(name), "walk-%04zu", i);
		/* The restarted walwriter lost the logs nobody appended to;
		 * raftd re-creates them when it reconnects. */
		ck_assert_msg(rit_wait_log(&T, name, 0, true, 10000), "no log for %s", name);
	}
	ck_assert_uint_eq(rit_meta_topics(&T, "walk-", NULL, NULL), N_TOPICS);
	ck_assert(ck_test_proc_alive(&T.raftd));
	ck_assert_int_eq(T.raftd.pid, raftd_pid);
	ck_assert_uint_eq(rit_meta_log(&T, NULL, NULL), rit_meta_applied(&T));
	free(ans);
}
END_TEST

/* ---- 4b. more logs to re-create than one chunk ---- */

/* Several chunks of raftd's re-creation (RAFTD_RECON_CHUNK, 1024). */
#define N_MANY_PARTS 9000

START_TEST(test_walwriter_restart_many_logs)
{
	Chronik__Meta__PartitionAssignment *as = calloc(N_MANY_PARTS, sizeof(*as));
	Chronik__Meta__PartitionAssignment **asp = calloc(N_MANY_PARTS, sizeof(*asp));
	Chronik__Meta__MetadataCommand del;
	Chronik__Meta__DeleteTopic dt;
	int32_t replica = 1;
	rit_create_t cr;
	rcl_t c;
	uint64_t index;
	int result;

	ck_assert(as && asp);
	rit_init(&T, "many");
	rit_start_wal(&T);
	rit_start_raftd(&T);
	rcl_connect(&c, &T);
	rit_create_cmd(&cr, "many-a", 1);
	for (int p = 0; p < N_MANY_PARTS; p++) {
		chronik__meta__partition_assignment__init(&as[p]);
		as[p].partition = p;
		as[p].replicas = &replica;
		as[p].n_replicas = 1;
		asp[p] = &as[p];
	}
	cr.ct.assignments = asp;
	cr.ct.n_assignments = N_MANY_PARTS;
	ck_assert_int_eq(rcl_propose(&c, &cr.cmd, &result, &index), 0);
	ck_assert_int_eq(result, 0);
	rit_create_cmd(&cr, "many-z", 2); /* re-created last (sorted) */
	ck_assert_int_eq(rcl_propose(&c, &cr.cmd, &result, &index), 0);
	ck_assert_int_eq(result, 0);
	ck_assert(rit_wait_log(&T, "many-a", N_MANY_PARTS - 1, true, 30000));
	ck_assert(rit_wait_log(&T, "many-z", 1, true, 30000));

	/* Walwriter loses the logs nobody appended to, twice: the second
	 * time once raftd's re-creation is under way (the first of them is
	 * back), so some CreateLogs are lost in flight and go again. */
	rit_kill(&T.wal);
	rit_start_wal(&T);
	ck_assert(rit_wait_log(&T, "many-a", 0, true, 30000));
	rit_kill(&T.wal);
	rit_start_wal(&T);

	/* Writes meanwhile are answered: a new topic, and the deletion of
	 * one whose logs are still to be re-created, which must not come
	 * back when their turn comes. */
	rit_create_cmd(&cr, "many-b", 1);
	ck_assert_int_eq(rcl_propose(&c, &cr.cmd, &result, &index), 0);
	ck_assert_int_eq(result, 0);
	rit_delete_cmd(&del, &dt, "many-z");
	ck_assert_int_eq(rcl_propose(&c, &del, &result, &index), 0);
	ck_assert_int_eq(result, 0);
	for (int32_t p = 0; p < N_MANY_PARTS; p++)
		ck_assert_msg(rit_wait_log(&T, "many-a", p, true, 30000), "no log for many-a-%d",
		              p);
	ck_assert(!rit_log_exists(&T, "many-a", N_MANY_PARTS));
	ck_assert(rit_wait_log(&T, "many-b", 0, true, 30000));
	ck_assert(ck_test_file_contains(T.raftd.logpath, "partition logs re-created count="));
	ck_assert(!rit_log_exists(&T, "many-z", 0));
	ck_assert(!rit_log_exists(&T, "many-z", 1));
	ck_assert_uint_eq(rit_meta_topics(&T, "many-z", NULL, NULL), 0);
	rcl_close(&c);
	free(as);
	free(asp);
}
END_TEST

/* ---- 5. commit mode ---- */

START_TEST(test_commit_mode_env)
{
	rit_create_t cr;
	rcl_t c;
	uint64_t index;
	int result;

	rit_init(&T, "mode");
	ck_test_proc_env(&T.raftd, "CHRONIK_METADATA_COMMIT=leader");
	rit_start_wal(&T);
	rit_start_raftd(&T);
	ck_assert(ck_test_file_contains(T.raftd.logpath, "commit_mode=leader"));
	rcl_connect(&c, &T);
	rit_create_cmd(&cr, "mode-a", 1);
	ck_assert_int_eq(rcl_propose(&c, &cr.cmd, &result, &index), 0);
	ck_assert_int_eq(result, 0);
	rcl_close(&c);
	ck_assert_int_eq(ck_test_proc_stop(&T.raftd, SIGTERM, 10000), 0);

	/* The seed's switch: its fast path off means quorum. */
	ck_test_proc_env(&T.raftd, "CHRONIK_DISABLE_METADATA_WAL=true");
	rit_start_raftd(&T);
	ck_assert(ck_test_file_contains(T.raftd.logpath, "commit_mode=quorum"));
	ck_assert(ck_test_file_contains(T.raftd.logpath,
	                                "CHRONIK_DISABLE_METADATA_WAL=true: commit mode quorum"));
	ck_assert_uint_eq(rit_meta_topics(&T, "mode-", NULL, NULL), 1);
}
END_TEST

static Suite *raftd_suite(void)
{
	Suite *s = suite_create("raftd");
	TCase *tc = rit_tcase_create("raftd", &T);

	tcase_add_test(tc, test_service);
	tcase_add_test(tc, test_subscribe_partitions_only);
	tcase_add_test(tc, test_thousand_topics_survive_kill9);
	tcase_add_test(tc, test_raftd_killed_mid_stream);
	tcase_add_test(tc, test_walwriter_restart);
	tcase_add_test(tc, test_walwriter_restart_many_logs);
	tcase_add_test(tc, test_commit_mode_env);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* The children get a clean CHRONIK_* environment (ck_testproc.h). */
	return ck_test_run_mode(raftd_suite(), CK_FORK);
}
