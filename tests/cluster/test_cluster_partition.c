/*
 * test_cluster_partition.c: the `cluster_partition` test of the `cluster`
 * suite: three full chronik nodes in a network namespace of their own
 * (cluster_harness.h, cl_init_netns), one of them cut off the network by
 * iptables rules (cl_isolate) while the test watches it through its
 * raftd.sock and LMDB, which are files and stay reachable.
 *
 *   isolate_leader    the leader is cut off: it takes proposals into its
 *                     log but commits nothing while alone (commit and
 *                     applied index frozen, nothing acknowledged); the
 *                     other two elect a leader of a higher term within 5 s
 *                     and commit; the cut-off one leaves the leader role
 *                     (check-quorum) without raising its term (pre-vote).
 *                     Healed, it follows the new leader and all three
 *                     converge. What it took into its log as leader is
 *                     answered retriable (NOT_LEADER or
 *                     TIMEOUT) and is in no node's log or LMDB; what reached
 *                     it after it stepped down waits for a leader (10 s at
 *                     most; the heal comes sooner), is forwarded after the
 *                     heal and acknowledged, in every log exactly once
 *   isolate_follower  a follower is cut off: the majority commits on; the
 *                     follower campaigns (pre-candidate) but its applied
 *                     index and term stay; healed, it catches up and the
 *                     leader and term are the ones from before the cut
 * Both check first that every node's raft connections carry its own
 * address (raftd binds them to its listener host; `ss` in the namespace).
 * Each case runs in its own process with its own namespace. The test exits
 * 77 (SKIP) when it cannot make a namespace with iptables (needs root, ip,
 * iptables, ss); namespaces left by a failed case are deleted at the end
 * (and make the run fail).
 * Run: meson test -C <build> cluster_partition; CHRONIK_TEST_KEEP=1 keeps
 * the temp dirs; CHRONIK_CLUSTER_ONLY=isolate_leader runs just that one.
 */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_testlib.h"
#include "cluster_harness.h"

#define N_CUT  20 /* proposals to the cut-off leader while it leads */
#define N_LATE 10 /* ... and after it stepped down */

static cl_t C;

static void teardown(void)
{
	cl_cleanup(&C);
}

static void status(int i, Chronik__Raftd__RaftStatus *st, char *role, size_t role_len)
{
	ck_assert_msg(cl_status(&C, i, st, role, role_len), "node %d: no raftd status", i);
}

/* ---- proposals pipelined on one connection ---- */

typedef struct {
	int fd;
	size_t n;
	char prefix[16];
	rit_answer_t ans[N_CUT];
	size_t got;
} batch_t;

static void batch_send(batch_t *b, int i, const char *prefix, size_t n)
{
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__Propose p = CHRONIK__RAFTD__PROPOSE__INIT;

	memset(b, 0, sizeof(*b));
	ck_assert_uint_le(n, N_CUT);
	b->n = n;
	snprintf(b->prefix, sizeof(b->prefix), "%s", prefix);
	ck_assert_int_eq(ck_ipc_sync_connect(C.n[i - 1].view.raftd_sock, 5000, &b->fd), 0);
	for (size_t k = 0; k < n; k++) {
		rit_create_t cb;
		char name[64];

		snprintf(name, sizeof(name), "%s%05zu", prefix, k);
		cl_create_cmd(&cb, name, k);
		p.command = &cb.cmd;
		req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE;
		req.propose = &p;
		req.correlation_id = k + 1;
		ck_assert_int_eq(ck_ipc_sync_send_msg(b->fd, &req.base), 0);
	}
}

/* Reads the answers that come within TIMEOUT_MS (0: those there now);
 * returns how many came. */
static size_t batch_poll(batch_t *b, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	size_t got = 0;

	while (b->got < b->n) {
		struct pollfd pfd = {b->fd, POLLIN, 0};
		uint64_t now = ck_clock_mono_ms();
		int left = deadline > now ? (int)(deadline - now) : 0;
		Chronik__Raftd__RaftdReply *rep;
		ck_buf_t frame = CK_BUF_INIT;
		rit_answer_t *a;

		if (poll(&pfd, 1, left) <= 0)
			break;
		/* A frame has begun: the rest follows at once. */
		ck_assert_int_eq(ck_ipc_sync_recv(b->fd, 0, 5000, &frame), 0);
		rep = chronik__raftd__raftd_reply__unpack(NULL, frame.len, frame.data);
		ck_buf_free(&frame);
		ck_assert_ptr_nonnull(rep);
		ck_assert(rep->correlation_id >= 1 && rep->correlation_id <= b->n);
		a = &b->ans[rep->correlation_id - 1];
		ck_assert_msg(!a->answered, "two answers to %s%05llu", b->prefix,
		              (unsigned long long)rep->correlation_id - 1);
		a->answered = true;
		a->err = rep->error;
		if (rep->error == 0)
			a->result = rep->body_case == CHRONIK__RAFTD__RAFTD_REPLY__BODY_PROPOSE
			                ? rep->propose->result
			                : CK_E_PROTO;
		chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
		b->got++;
		got++;
	}
	return got;
}

static bool acked(const rit_answer_t *a)
{
	return a->answered && a->err == 0 && a->result == 0;
}

/* Nothing of B acknowledged so far (it may have been refused). */
static void batch_none_acked(const batch_t *b, const char *when)
{
	for (size_t k = 0; k < b->n; k++)
		ck_assert_msg(!acked(&b->ans[k]), "%s%05zu acknowledged %s", b->prefix, k, when);
}

/* ---- what the metadata logs hold ---- */

typedef struct {
	const char *prefix;
	size_t count[N_CUT];
} log_count_t;

static void log_count_cb(void *arg, uint64_t index, uint64_t term,
                         const Chronik__Meta__MetadataCommand *cmd)
{
	log_count_t *lc = arg;
	size_t plen = strlen(lc->prefix);
	unsigned long k;

	(void)index;
	(void)term;
	if (!cmd || cmd->cmd_case != CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC ||
	    strncmp(cmd->create_topic->name, lc->prefix, plen) != 0)
		return;
	k = strtoul(cmd->create_topic->name + plen, NULL, 10);
	ck_assert_uint_lt(k, N_CUT);
	lc->count[k]++;
}

/* How many CreateTopic entries of each topic of B node I's log holds. */
static void log_count(int i, const batch_t *b, log_count_t *lc)
{
	memset(lc, 0, sizeof(*lc));
	lc->prefix = b->prefix;
	(void)rit_meta_log(&C.n[i - 1].view, log_count_cb, lc);
}

/* Each node's raft connections carry its own address (raftd binds them to
 * its listener's host): `ss` in the namespace lists, for every ordered
 * pair of nodes, a connection from 127.0.0.<from> to <to>'s raft port. */
static void check_raft_sources(void)
{
	const char *cmd[] = {"ss", "-Htn", "state", "established", NULL};
	char out[32768], *line, *save = NULL;
	unsigned seen = 0; /* bit (from - 1) * CL_NODES + to - 1 */
	int r;

	r = cl_netns_run(&C, cmd, out, sizeof(out));
	ck_assert_msg(r == 0, "ss: exit %d %s", r, out);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char local[64], peer[64];
		int from = 0, to = 0, host, port;

		if (sscanf(line, "%*s %*s %63s %63s", local, peer) != 2 ||
		    sscanf(peer, "127.0.0.%d:%d", &host, &port) != 2)
			continue;
		for (int j = 1; j <= CL_NODES; j++)
			to = host == j && port == C.n[j - 1].raft ? j : to;
		if (!to)
			continue;
		ck_assert_msg(sscanf(local, "127.0.0.%d:%d", &from, &port) == 2 && from >= 1 &&
		                  from <= CL_NODES && from != to,
		              "raft connection %s -> %s: not from another node's address", local,
		              peer);
		seen |= 1u << ((from - 1) * CL_NODES + to - 1);
	}
	for (int from = 1; from <= CL_NODES; from++) {
		for (int to = 1; to <= CL_NODES; to++)
			ck_assert_msg(from == to ||
			                  (seen & (1u << ((from - 1) * CL_NODES + to - 1))),
			              "no raft connection from 127.0.0.%d to node %d", from, to);
	}
}

/* The cut-off leader L took no entry into its commit index beyond COMMIT
 * and raised no term beyond TERM; returns its role in ROLE. */
static void check_alone(int l, uint64_t commit, uint64_t term, char *role, size_t role_len)
{
	Chronik__Raftd__RaftStatus st;

	status(l, &st, role, role_len);
	ck_assert_msg(st.commit_index <= commit,
	              "node %d committed alone: commit index %llu, %llu at the cut", l,
	              (unsigned long long)st.commit_index, (unsigned long long)commit);
	ck_assert_msg(st.term <= term, "node %d raised its term alone: %llu -> %llu", l,
	              (unsigned long long)term, (unsigned long long)st.term);
	ck_assert_uint_le(cl_applied(&C, l), commit);
}

/* Three nodes in a fresh namespace, 100 topics "pre-*" on all: returns
 * the leader, its term in *RET_TERM. */
static int start_cluster(const char *tag, uint64_t *ret_term)
{
	Chronik__Raftd__RaftStatus st;
	char role[32];
	int l;

	cl_init_netns(&C, tag);
	cl_start_all(&C);
	l = cl_wait_leader(&C, CL_ALL, 0, 30000);
	ck_assert_int_gt(l, 0);
	cl_create_many(&C, l, "pre-", 0, 100, 2);
	cl_wait_same(&C, CL_ALL, 10000);
	check_raft_sources();
	status(l, &st, role, sizeof(role));
	ck_assert_str_eq(role, "leader");
	*ret_term = st.term;
	return l;
}

START_TEST(test_isolate_leader)
{
	Chronik__Raftd__RaftStatus st;
	batch_t cut, late;
	log_count_t lc;
	size_t n_timeout = 0;
	char role[32], name[64];
	uint64_t term0, term1, commit0, last0, t_cut, t_new, t_down, t_late, t_heal, t_late_done;
	uint64_t deadline;
	int l, next, a, b;

	l = start_cluster("part-leader", &term0);
	a = l == 1 ? 2 : 1;
	b = cl_other(l, a);

	cl_isolate(&C, l, true);
	t_cut = ck_clock_mono_ms();
	ck_test_sleep_ms(100); /* acknowledgements on their way are in */
	status(l, &st, role, sizeof(role));
	commit0 = st.commit_index;
	last0 = st.last_index;
	/* Check-quorum lets it lead for one to two election timeouts (1 s
	 * each): proposals now go into its log. */
	ck_assert_msg(!strcmp(role, "leader"), "node %d is %s 100 ms after the cut", l, role);
	batch_send(&cut, l, "cut-", N_CUT);
	deadline = ck_clock_mono_ms() + 5000;
	do {
		status(l, &st, role, sizeof(role));
		if (st.last_index >= last0 + N_CUT)
			break;
		ck_assert_msg(ck_clock_mono_ms() < deadline, "node %d: last index %llu, want %llu",
		              l, (unsigned long long)st.last_index,
		              (unsigned long long)(last0 + N_CUT));
		ck_test_sleep_ms(10);
	} while (true);
	check_alone(l, commit0, term0, role, sizeof(role));

	/* The majority elects a leader of a higher term and commits. */
	next = cl_wait_leader(&C, CL_MASK(a) | CL_MASK(b), term0, 10000);
	t_new = ck_clock_mono_ms();
	ck_assert_msg(next > 0, "the majority elected no leader");
	ck_assert_int_ne(next, l);
	ck_assert_msg(t_new - t_cut <= 5000, "new leader %llu ms after the cut",
	              (unsigned long long)(t_new - t_cut));
	status(next, &st, role, sizeof(role));
	term1 = st.term;
	ck_assert_uint_gt(term1, term0);
	printf("isolate_leader: node %d cut off at term %llu; node %d leads term %llu after %llu "
	       "ms\n",
	       l, (unsigned long long)term0, next, (unsigned long long)term1,
	       (unsigned long long)(t_new - t_cut));

	/* The cut-off leader steps down (check-quorum), term unchanged. */
	deadline = t_cut + 5000;
	for (;;) {
		check_alone(l, commit0, term0, role, sizeof(role));
		if (strcmp(role, "leader") != 0)
			break;
		ck_assert_msg(ck_clock_mono_ms() < deadline,
		              "node %d still leads 5 s after the cut", l);
		ck_test_sleep_ms(20);
	}
	t_down = ck_clock_mono_ms();
	printf("isolate_leader: node %d is %s %llu ms after the cut\n", l, role,
	       (unsigned long long)(t_down - t_cut));
	cl_create_many(&C, a, "maj-", 0, 100, 2);
	cl_create_many(&C, b, "maj2-", 0, 50, 1);
	cl_wait_same(&C, CL_MASK(a) | CL_MASK(b), 10000);
	/* Alone for a while more: nothing answered as done, nothing committed. */
	while (ck_clock_mono_ms() < t_down + 1000) {
		(void)batch_poll(&cut, 100);
		check_alone(l, commit0, term0, role, sizeof(role));
		ck_assert_str_ne(role, "leader");
	}
	/* These find no leader: they wait in its queue. */
	batch_send(&late, l, "late-", N_LATE);
	t_late = ck_clock_mono_ms();
	while (ck_clock_mono_ms() < t_late + 500) {
		(void)batch_poll(&cut, 50);
		(void)batch_poll(&late, 50);
		check_alone(l, commit0, term0, role, sizeof(role));
	}
	batch_none_acked(&cut, "while cut off");
	batch_none_acked(&late, "while cut off");
	ck_assert_uint_eq(cl_topics(&C, l, "maj-"), 0);

	/* Healed: it follows the new leader and converges. */
	cl_isolate(&C, l, false);
	t_heal = ck_clock_mono_ms();
	ck_assert_msg(t_heal - t_late < 3000, "heal %llu ms after the late proposals",
	              (unsigned long long)(t_heal - t_late));
	deadline = ck_clock_mono_ms() + 20000;
	for (;;) {
		status(l, &st, role, sizeof(role));
		if (!strcmp(role, "follower") && st.leader_id == next && st.term >= term1)
			break;
		ck_assert_msg(ck_clock_mono_ms() < deadline,
		              "node %d after the heal: role=%s leader=%d term=%llu", l, role,
		              st.leader_id, (unsigned long long)st.term);
		ck_test_sleep_ms(20);
	}
	/* Every proposal is answered (the cut lasted less than their 30 s). */
	(void)batch_poll(&cut, 40000);
	(void)batch_poll(&late, 40000);
	t_late_done = ck_clock_mono_ms();
	ck_assert_uint_eq(cut.got, N_CUT);
	ck_assert_uint_eq(late.got, N_LATE);
	(void)close(cut.fd);
	(void)close(late.fd);
	cl_wait_same(&C, CL_ALL, 30000);
	ck_assert_uint_eq(cl_topics(&C, l, "maj-"), 100);
	ck_assert_uint_eq(cl_topics(&C, l, "maj2-"), 50);
	ck_assert_uint_eq(cl_topics(&C, l, "pre-"), 100);

	/* Taken into its log as leader: never committed, refused retriable,
	 * nowhere. */
	for (int i = 1; i <= CL_NODES; i++) {
		log_count(i, &cut, &lc);
		for (size_t k = 0; k < N_CUT; k++) {
			snprintf(name, sizeof(name), "cut-%05zu", k);
			ck_assert_msg(lc.count[k] == 0, "%s in node %d's log", name, i);
			ck_assert_msg(!cl_topic_exists(&C, i, name), "%s on node %d", name, i);
		}
	}
	for (size_t k = 0; k < N_CUT; k++)
		ck_assert_msg(cut.ans[k].err == CK_E_NOT_LEADER || cut.ans[k].err == CK_E_TIMEOUT,
		              "cut-%05zu: err=%d result=%d", k, cut.ans[k].err, cut.ans[k].result);
	/* Waiting for a leader (RAFTD_QUEUE_WAIT_MS, 10 s; the heal came well
	 * within): forwarded after the heal, acknowledged, and in every log
	 * exactly once. */
	for (size_t k = 0; k < N_LATE; k++)
		ck_assert_msg(acked(&late.ans[k]), "late-%05zu: err=%d result=%d", k,
		              late.ans[k].err, late.ans[k].result);
	for (int i = 1; i <= CL_NODES; i++) {
		log_count(i, &late, &lc);
		for (size_t k = 0; k < N_LATE; k++) {
			snprintf(name, sizeof(name), "late-%05zu", k);
			ck_assert_msg(lc.count[k] == 1, "%s %zu times in node %d's log", name,
			              lc.count[k], i);
			ck_assert_msg(cl_topic_exists(&C, i, name), "%s missing on node %d", name,
			              i);
		}
	}
	for (size_t k = 0; k < N_CUT; k++)
		n_timeout += cut.ans[k].err == CK_E_TIMEOUT;
	printf("isolate_leader: of %d proposals taken while leading, %zu refused not-leader, "
	       "%zu timed out; %d queued after stepping down acknowledged %llu ms after the "
	       "heal\n",
	       N_CUT, N_CUT - n_timeout, n_timeout, N_LATE,
	       (unsigned long long)(t_late_done - t_heal));
	/* It takes writes again. */
	cl_create_many(&C, l, "after-", 0, 50, 1);
	cl_wait_same(&C, CL_ALL, 10000);
}
END_TEST

START_TEST(test_isolate_follower)
{
	Chronik__Raftd__RaftStatus st;
	char role[32];
	uint64_t term0, applied0, deadline;
	int l, f, o;

	l = start_cluster("part-follower", &term0);
	f = l == 1 ? 2 : 1;
	o = cl_other(l, f);

	cl_isolate(&C, f, true);
	ck_test_sleep_ms(100);
	applied0 = cl_applied(&C, f);
	/* The majority commits on, through the leader and the other follower. */
	cl_create_many(&C, l, "maj-", 0, 200, 2);
	cl_create_many(&C, o, "fwd-", 0, 50, 1);
	cl_wait_same(&C, CL_MASK(l) | CL_MASK(o), 10000);
	/* The cut-off follower campaigns, but pre-vote keeps its term. */
	deadline = ck_clock_mono_ms() + 10000;
	for (;;) {
		status(f, &st, role, sizeof(role));
		ck_assert_uint_eq(st.term, term0);
		if (!strcmp(role, "pre-candidate"))
			break;
		ck_assert_msg(ck_clock_mono_ms() < deadline, "node %d is %s, cut off for 10 s", f,
		              role);
		ck_test_sleep_ms(20);
	}
	ck_test_sleep_ms(1000); /* a few election timeouts in all */
	status(f, &st, role, sizeof(role));
	ck_assert_uint_eq(st.term, term0);
	ck_assert_uint_eq(cl_applied(&C, f), applied0);
	ck_assert_uint_eq(cl_topics(&C, f, "maj-"), 0);
	ck_assert_int_eq(cl_wait_leader(&C, CL_MASK(l) | CL_MASK(o), term0 - 1, 1000), l);

	cl_isolate(&C, f, false);
	cl_wait_same(&C, CL_ALL, 30000);
	ck_assert_uint_eq(cl_topics(&C, f, "maj-"), 200);
	ck_assert_uint_eq(cl_topics(&C, f, "fwd-"), 50);
	/* No election on the majority side: same leader, same term. */
	ck_assert_int_eq(cl_wait_leader(&C, CL_ALL, term0 - 1, 10000), l);
	for (int i = 1; i <= CL_NODES; i++) {
		status(i, &st, role, sizeof(role));
		ck_assert_msg(st.term == term0 && st.leader_id == l, "node %d: term %llu leader %d",
		              i, (unsigned long long)st.term, st.leader_id);
	}
	/* And the healed follower takes writes (forwarded). */
	cl_create_many(&C, f, "after-", 0, 50, 1);
	cl_wait_same(&C, CL_ALL, 10000);
	status(l, &st, role, sizeof(role));
	ck_assert_uint_eq(st.term, term0);
	ck_assert_str_eq(role, "leader");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cluster_partition");
	TCase *tc = tcase_create("cluster_partition");
	char why[512];
	int r, left;

	if (!cl_netns_usable(why, sizeof(why))) {
		printf("cluster_partition: SKIP: cannot make a network namespace with iptables "
		       "here: %s\n",
		       why);
		return 77;
	}
	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 150);
	CL_ADD_TEST(tc, test_isolate_leader);
	CL_ADD_TEST(tc, test_isolate_follower);
	suite_add_tcase(s, tc);
	r = ck_test_run_mode(s, CK_FORK);
	/* A failed case exits before its teardown: its namespace is left. */
	left = cl_netns_sweep();
	if (left > 0) {
		fprintf(stderr, "cluster_partition: deleted %d network namespaces left behind\n",
		        left);
		r = EXIT_FAILURE;
	}
	return r;
}
