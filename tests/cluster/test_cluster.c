/*
 * test_cluster.c: the `cluster` suite: three full chronik nodes
 * (cluster_harness.h) and the cluster metadata on Raft as a user sees it
 * through raftd.sock, the supervisor's status and each node's LMDB.
 *
 *   create_and_forward  1,000 CreateTopics to node 1, then 1,000 to a
 *                       follower (forwarded): all succeed, the follower
 *                       reads its own writes at once, all three LMDBs list
 *                       the same topics within 1 s; a retried CreateTopic
 *                       is a success; status shows role, term and leader;
 *                       raft frames of another cluster, an unknown sender
 *                       or without incarnation are refused
 *   kill_leader         kill -9 of the leader's whole node during a stream
 *                       of CreateTopics: a new leader within 3 s, every
 *                       acknowledged topic on the survivors and on the old
 *                       leader after its restart, identical LMDB
 *   kill_follower       kill -9 of a follower's node during a stream,
 *                       three times: it restarts and converges
 *   kill_leader_raftd   kill -9 of the leader's raftd alone (restarted at
 *                       once; the supervisor's raft port accepts meanwhile)
 *                       during streams through both followers, three
 *                       times: both go on within 10 s of each kill (a
 *                       forward the restarting raftd took was dropped and
 *                       waited 30 s), nothing refused, all converge
 *   stop_leader         SIGSTOP of the leader's raftd past the election
 *                       timeout: the majority elects a leader and commits,
 *                       a delete forwarded to the stopped one is answered
 *                       (outcome unknown) within 15 s, not after 30,
 *                       the stopped one steps down after SIGCONT and
 *                       converges; nothing it took while cut off is
 *                       acknowledged unless the majority has it
 *   cold_restart        all three stopped and started: everything there
 *                       (the leader, stopped first, hands over);
 *                       a stopped node is fenced (the partitions it led
 *                       get a leader from their ISR), unfenced when back
 *   wipe_node           a node whose data dir was wiped catches up by
 *                       snapshot and log (snapshots every 200 entries)
 *   leader_commit_mode  CHRONIK_METADATA_COMMIT=leader: writes through the
 *                       leader and a follower, all nodes converge
 * Each test runs in its own process with its own cluster on free ports.
 * Run: meson test -C <build> --suite cluster; CHRONIK_TEST_KEEP=1 keeps
 * the temp dirs (configs, data, one log per node); CHRONIK_CLUSTER_ONLY=
 * kill_leader (a test's name) runs just that one.
 */
#include <arpa/inet.h>
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
#include "ck_ipc.h"
#include "ck_log.h"
#include "ck_testlib.h"
#include "cluster_harness.h"
#include "raftnet.pb-c.h"

#define ALL ((1u << 1) | (1u << 2) | (1u << 3))

static cl_t C;

static void teardown(void)
{
	cl_cleanup(&C);
}

static unsigned cl_bit(int i)
{
	return 1u << i;
}

static int other_than(int a, int b)
{
	for (int i = 1; i <= CL_NODES; i++) {
		if (i != a && i != b)
			return i;
	}
	return 0;
}

/* Waits until node I lists N topics PREFIX*; returns the ms it took. */
static uint64_t wait_topics(int i, const char *prefix, size_t n, int timeout_ms)
{
	uint64_t t0 = ck_clock_mono_ms(), now;
	size_t have;

	for (;;) {
		have = cl_topics(&C, i, prefix);
		now = ck_clock_mono_ms();
		if (have == n)
			return now - t0;
		ck_assert_msg(now - t0 < (uint64_t)timeout_ms,
		              "node %d lists %zu topics %s*, want %zu (after %d ms)", i, have,
		              prefix, n, timeout_ms);
		ck_test_sleep_ms(10);
	}
}

/* Connects to node I's raft port, sends one Envelope with these header
 * fields and expects the node to close the connection, logging WHY. */
static void refused(int i, const char *cluster, uint64_t from, uint64_t to, uint64_t inc,
                    const char *why)
{
	Chronik__Raftnet__Envelope env = CHRONIK__RAFTNET__ENVELOPE__INIT;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	ck_buf_t frame = CK_BUF_INIT;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)C.n[i - 1].raft);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	env.cluster_id = (char *)cluster;
	env.from = from;
	env.to = to;
	env.incarnation = inc;
	ck_assert_int_eq(ck_ipc_sync_send_msg(fd, &env.base), 0);
	/* Closed: EOF, nothing else. */
	ck_assert_int_eq(ck_ipc_sync_recv(fd, 0, 10000, &frame), CK_E_CLOSED);
	(void)close(fd);
	ck_buf_free(&frame);
	ck_assert_msg(ck_test_file_contains(C.n[i - 1].sup.logpath, why), "no \"%s\" logged", why);
}

/* How many lines of node I's log hold NEEDLE. */
static int log_count(int i, const char *needle)
{
	char *text = ck_test_read_text(C.n[i - 1].sup.logpath, NULL);
	int n = 0;

	ck_assert_ptr_nonnull(text);
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(text);
	return n;
}

START_TEST(test_create_and_forward)
{
	char text[512], want[64];
	rit_create_t b;
	rcl_t cl;
	uint64_t index, term;
	int leader, follower, result;

	cl_init(&C, "cluster-create", 0);
	cl_start_all(&C);
	leader = cl_wait_leader(&C, ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);

	cl_create_many(&C, 1, "one-", 0, 1000, 4);
	/* Node 1 answered after its own LMDB applied each one. */
	ck_assert_uint_eq(cl_topics(&C, 1, "one-"), 1000);
	for (int i = 1; i <= CL_NODES; i++)
		(void)wait_topics(i, "one-", 1000, 1000);

	follower = leader == 1 ? 2 : 1;
	cl_create_many(&C, follower, "fwd-", 0, 1000, 4);
	/* Read-your-writes on the follower: no waiting. */
	ck_assert_uint_eq(cl_topics(&C, follower, "fwd-"), 1000);
	for (int i = 1; i <= CL_NODES; i++)
		(void)wait_topics(i, "fwd-", 1000, 1000);

	/* The same CreateTopic again (a client retry) is a success. */
	rcl_connect(&cl, &C.n[follower - 1].view);
	cl_create_cmd(&b, "fwd-00007", 7);
	ck_assert_int_eq(rcl_propose(&cl, &b.cmd, &result, &index), 0);
	ck_assert_int_eq(result, 0);
	/* Another id under a taken name is refused. */
	b.id[0] ^= 0xff;
	ck_assert_int_eq(rcl_propose(&cl, &b.cmd, &result, &index), 0);
	ck_assert_int_eq(result, CK_E_EXISTS);
	rcl_close(&cl);
	cl_wait_same(&C, ALL, 10000);

	/* Node-to-node frames that do not belong: refused, the cluster goes
	 * on. */
	refused(1, "chronik-other", 2, 1, 5, "refusing raft connection: another cluster");
	refused(1, "chronik-test", 9, 1, 5, "refusing raft connection: unknown sender");
	refused(1, "chronik-test", 2, 3, 5, "refusing raft connection: addressed to another node");
	refused(1, "chronik-test", 2, 1, 0, "refusing raft connection: no incarnation");
	/* A flood of them: a bounded number of lines (CK_LOG_LIMIT_LINES per
	 * window; the flood may straddle two), not one per connection. */
	for (int k = 0; k < 40; k++)
		refused(1, "chronik-test", 9, 1, 5, "refusing raft connection: unknown sender");
	ck_assert_int_le(log_count(1, "refusing raft connection"), 2 * CK_LOG_LIMIT_LINES);
	cl_create_many(&C, 1, "late-", 0, 10, 1);
	cl_wait_same(&C, ALL, 10000);

	/* `chronik-server status` shows role, term and leader of raftd. */
	ck_assert_int_eq(cl_leader_of(&C, follower, &term), leader);
	snprintf(want, sizeof(want), "leader=%d", leader);
	for (int i = 1; i <= CL_NODES; i++) {
		uint64_t deadline = ck_clock_mono_ms() + 5000;

		do {
			cl_raftd_status_text(&C, i, text, sizeof(text));
			if (strstr(text, want) && strstr(text, "lag=0"))
				break;
			ck_test_sleep_ms(100);
		} while (ck_clock_mono_ms() < deadline);
		ck_assert_msg(strstr(text, want) && strstr(text, "term=") && strstr(text, "lag=0"),
		              "node %d status: %s", i, text);
		ck_assert_ptr_nonnull(strstr(text, i == leader ? ": leader " : ": follower "));
	}
}
END_TEST

START_TEST(test_kill_leader)
{
	Chronik__Raftd__RaftStatus st;
	cl_stream_t *s;
	char role[32], name[64];
	uint64_t term, t_kill, t_new;
	size_t acked, bad;
	int leader, target, other, next;

	cl_init(&C, "cluster-kill", 0);
	cl_start_all(&C);
	leader = cl_wait_leader(&C, ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);
	ck_assert(cl_status(&C, leader, &st, role, sizeof(role)));
	term = st.term;
	target = leader == 1 ? 2 : 1; /* a survivor takes the stream */
	other = other_than(leader, target);

	s = cl_stream_start(&C, target, "s-");
	ck_test_sleep_ms(1500);
	cl_kill9(&C, leader);
	t_kill = ck_clock_mono_ms();
	next = cl_wait_leader(&C, cl_bit(target) | cl_bit(other), term, 10000);
	t_new = ck_clock_mono_ms();
	ck_assert_msg(next > 0, "no new leader after the kill");
	ck_assert_msg(t_new - t_kill <= 3000, "new leader after %llu ms",
	              (unsigned long long)(t_new - t_kill));
	printf("kill_leader: node %d killed, node %d leads after %llu ms\n", leader, next,
	       (unsigned long long)(t_new - t_kill));
	ck_test_sleep_ms(1500); /* the stream goes on under the new leader */
	acked = cl_stream_stop(s, &bad);
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_gt(acked, 20);
	printf("kill_leader: %zu topics acknowledged by node %d\n", acked, target);

	/* Every acknowledged topic: on the node that answered at once, on
	 * the other survivor once it applied. */
	for (size_t i = 0; i < acked; i++) {
		snprintf(name, sizeof(name), "s-%05zu", i);
		ck_assert_msg(cl_topic_exists(&C, target, name), "%s missing on node %d", name,
		              target);
	}
	cl_wait_same(&C, cl_bit(target) | cl_bit(other), 10000);

	cl_start(&C, leader);
	cl_wait_same(&C, ALL, 30000);
	for (size_t i = 0; i < acked; i++) {
		snprintf(name, sizeof(name), "s-%05zu", i);
		ck_assert_msg(cl_topic_exists(&C, leader, name), "%s missing on the old leader",
		              name);
	}
	/* And it takes part again: a write through it. */
	cl_create_many(&C, leader, "after-", 0, 50, 1);
	cl_wait_same(&C, ALL, 10000);
}
END_TEST

/* A follower killed with -9 while it takes a stream of entries (it learns
 * entries and their commit in one message) comes back and converges. */
/* Opens a TCP connection to node I's raft port that never sends. */
static int idle_raft_conn(int i)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)C.n[i - 1].raft);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

START_TEST(test_kill_follower)
{
	char text[512], want[32];
	int idle[100];
	size_t nidle = 0;
	cl_stream_t *s;
	size_t acked, bad;
	int leader, victim;
	uint64_t deadline;

	cl_init(&C, "cluster-killf", 0);
	cl_start_all(&C);
	leader = cl_wait_leader(&C, ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);
	victim = leader == 1 ? 2 : 1;
	/* Strangers hold more connections to the leader's raft port than it
	 * has room for, sending nothing, and take the room each kill frees:
	 * the restarted follower must still get through. */
	while (nidle < 70)
		idle[nidle++] = idle_raft_conn(leader);
	s = cl_stream_start(&C, leader, "f-");
	for (int round = 0; round < 3; round++) {
		ck_test_sleep_ms(700);
		cl_kill9(&C, victim);
		ck_test_sleep_ms(200); /* the leader sees its connection close */
		for (int k = 0; k < 4; k++)
			idle[nidle++] = idle_raft_conn(leader);
		cl_start(&C, victim);
	}
	ck_test_sleep_ms(500);
	acked = cl_stream_stop(s, &bad);
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_gt(acked, 20);
	cl_wait_same(&C, ALL, 30000);
	ck_assert_uint_ge(cl_topics(&C, victim, "f-"), acked);
	ck_assert_int_eq(C.n[victim - 1].sup.pid > 0, 1);
	ck_assert(!ck_test_file_contains(C.n[victim - 1].sup.logpath, "exited with status 2"));
	/* The leader hears the follower again: it shows no lag. */
	snprintf(want, sizeof(want), "%d:lag=0", victim);
	deadline = ck_clock_mono_ms() + 10000;
	for (;;) {
		const char *at;

		cl_raftd_status_text(&C, leader, text, sizeof(text));
		at = strstr(text, want);
		if (at && at > text && (at[-1] == ' ' || at[-1] == '='))
			break;
		ck_assert_msg(ck_clock_mono_ms() < deadline, "leader status: %s", text);
		ck_test_sleep_ms(100);
	}
	for (size_t k = 0; k < nidle; k++)
		close(idle[k]);
}
END_TEST

/* Checks an entry of the final log: nothing the cut-off leader took in
 * its old term may be in it (committed alone). */
static void cut_entry_cb(void *arg, uint64_t index, uint64_t term,
                         const Chronik__Meta__MetadataCommand *cmd)
{
	const uint64_t *old_term = arg;

	if (!cmd || cmd->cmd_case != CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC ||
	    strncmp(cmd->create_topic->name, "cut-", 4) != 0)
		return;
	ck_assert_msg(term > *old_term, "%s committed at index %llu in the old term %llu",
	              cmd->create_topic->name, (unsigned long long)index, (unsigned long long)term);
}

START_TEST(test_stop_leader)
{
	Chronik__Raftd__RaftStatus st;
	rit_answer_t ans[20];
	char role[32], name[64];
	uint64_t term, deadline, t_stop;
	pid_t pid;
	int leader, next, a, b, dfd = -1;

	cl_init(&C, "cluster-stop", 0);
	cl_start_all(&C);
	leader = cl_wait_leader(&C, ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);
	cl_create_many(&C, leader, "pre-", 0, 100, 2);
	ck_assert(cl_status(&C, leader, &st, role, sizeof(role)));
	term = st.term;
	a = leader == 1 ? 2 : 1;
	b = other_than(leader, a);

	pid = cl_raftd_pid(&C, leader);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	t_stop = ck_clock_mono_ms();
	/* A write that is not safe to send twice, through a follower that
	 * still forwards to the stopped leader. */
	{
		Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
		Chronik__Raftd__Propose p = CHRONIK__RAFTD__PROPOSE__INIT;
		Chronik__Meta__MetadataCommand cmd;
		Chronik__Meta__DeleteTopic dt;

		ck_assert_int_eq(ck_ipc_sync_connect(C.n[a - 1].view.raftd_sock, 5000, &dfd), 0);
		rit_delete_cmd(&cmd, &dt, "pre-00000");
		p.command = &cmd;
		req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE;
		req.propose = &p;
		req.correlation_id = 77;
		ck_assert_int_eq(ck_ipc_sync_send_msg(dfd, &req.base), 0);
	}
	/* Writes that reach the stopped leader wait in its socket. */
	{
		int fd;
		rit_create_t cb;
		Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
		Chronik__Raftd__Propose p = CHRONIK__RAFTD__PROPOSE__INIT;

		ck_assert_int_eq(ck_ipc_sync_connect(C.n[leader - 1].view.raftd_sock, 5000, &fd),
		                 0);
		for (size_t i = 0; i < 20; i++) {
			snprintf(name, sizeof(name), "cut-%05zu", i);
			cl_create_cmd(&cb, name, i);
			p.command = &cb.cmd;
			req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE;
			req.propose = &p;
			req.correlation_id = i + 1;
			ck_assert_int_eq(ck_ipc_sync_send_msg(fd, &req.base), 0);
		}
		next = cl_wait_leader(&C, cl_bit(a) | cl_bit(b), term, 10000);
		ck_assert_msg(next > 0, "the majority elected no leader");
		ck_assert_int_ne(next, leader);
		/* The forwarded delete: the stopped leader cannot answer it, so
		 * the follower reports its outcome unknown a few seconds after
		 * the leader changed, not at the proposal's 30 s deadline. */
		{
			ck_buf_t frame = CK_BUF_INIT;
			Chronik__Raftd__RaftdReply *rep;
			uint64_t took;

			ck_assert_int_eq(ck_ipc_sync_recv(dfd, 0, 40000, &frame), 0);
			took = ck_clock_mono_ms() - t_stop;
			rep = chronik__raftd__raftd_reply__unpack(NULL, frame.len, frame.data);
			ck_buf_free(&frame);
			ck_assert_ptr_nonnull(rep);
			ck_assert_uint_eq(rep->correlation_id, 77);
			printf("stop_leader: forwarded delete answered err=%d after %llu ms\n",
			       rep->error, (unsigned long long)took);
			ck_assert_msg(rep->error == CK_E_TIMEOUT || rep->error == CK_E_NOT_LEADER,
			              "forwarded delete: err=%d", rep->error);
			ck_assert_msg(took < 15000, "forwarded delete answered after %llu ms",
			              (unsigned long long)took);
			chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
			(void)close(dfd);
		}
		/* The majority commits without it. */
		cl_create_many(&C, a, "maj-", 0, 100, 2);
		cl_wait_same(&C, cl_bit(a) | cl_bit(b), 10000);

		ck_assert_int_eq(kill(pid, SIGCONT), 0);
		deadline = ck_clock_mono_ms() + 10000;
		for (;;) {
			if (cl_status(&C, leader, &st, role, sizeof(role)) && st.term > term &&
			    strcmp(role, "leader") != 0 && st.leader_id == next)
				break;
			ck_assert_msg(ck_clock_mono_ms() < deadline,
			              "the old leader did not step down: role=%s term=%llu", role,
			              (unsigned long long)st.term);
			ck_test_sleep_ms(20);
		}
		/* Its answers to what it took while cut off. */
		memset(ans, 0, sizeof(ans));
		for (size_t got = 0; got < 20;) {
			ck_buf_t frame = CK_BUF_INIT;
			Chronik__Raftd__RaftdReply *rep;

			ck_assert_int_eq(ck_ipc_sync_recv(fd, 0, 60000, &frame), 0);
			rep = chronik__raftd__raftd_reply__unpack(NULL, frame.len, frame.data);
			ck_buf_free(&frame);
			ck_assert_ptr_nonnull(rep);
			ck_assert(rep->correlation_id >= 1 && rep->correlation_id <= 20);
			ans[rep->correlation_id - 1].answered = true;
			ans[rep->correlation_id - 1].err = rep->error;
			if (rep->error == 0)
				ans[rep->correlation_id - 1].result = rep->propose->result;
			chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
			got++;
		}
		(void)close(fd);
	}
	cl_wait_same(&C, ALL, 30000);
	for (size_t i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "cut-%05zu", i);
		printf("stop_leader: %s err=%d result=%d\n", name, ans[i].err, ans[i].result);
		/* Acknowledged: the majority has it. Refused: retriable. */
		if (ans[i].err == 0 && ans[i].result == 0)
			ck_assert_msg(cl_topic_exists(&C, a, name),
			              "%s acknowledged, not committed", name);
		else
			ck_assert_msg(ans[i].err == CK_E_NOT_LEADER || ans[i].err == CK_E_TIMEOUT,
			              "%s: err=%d result=%d", name, ans[i].err, ans[i].result);
	}
	ck_assert_uint_eq(cl_topics(&C, leader, "maj-"), 100);
	/* The delete was never in a log the majority kept (its leader was
	 * stopped before it arrived): the topic is still there. */
	ck_assert_uint_eq(cl_topics(&C, leader, "pre-"), 100);
	for (int i = 1; i <= CL_NODES; i++)
		(void)rit_meta_log(&C.n[i - 1].view, cut_entry_cb, &term);
}
END_TEST

/* Waits until node I's LMDB says broker B is (FENCED) fenced. */
static void wait_fenced(int i, int32_t b, int fenced, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;

	while (cl_broker_fenced(&C, i, b) != fenced) {
		ck_assert_msg(ck_clock_mono_ms() < deadline, "broker %d fenced=%d, want %d", b,
		              cl_broker_fenced(&C, i, b), fenced);
		ck_test_sleep_ms(50);
	}
}

/* CreateTopic NAME with partition 0 on replicas {A, B, C} (A leads) and
 * partition 1 on {C, A, B} (C leads), through node C. */
static void create_replicated(const char *name, int32_t a, int32_t b, int32_t c)
{
	int32_t r0[3] = {a, b, c}, r1[3] = {c, a, b};
	rit_create_t cb;
	rcl_t cl;
	uint64_t index;
	int result;

	rit_create_cmd(&cb, name, 2);
	cb.as[0].replicas = r0;
	cb.as[0].n_replicas = 3;
	cb.as[1].replicas = r1;
	cb.as[1].n_replicas = 3;
	rcl_connect(&cl, &C.n[c - 1].view);
	ck_assert_int_eq(rcl_propose(&cl, &cb.cmd, &result, &index), 0);
	ck_assert_int_eq(result, 0);
	rcl_close(&cl);
}

/* After broker DOWN was fenced: partition 0 (led by DOWN) is led by UP,
 * the first live ISR member in replica order, without DOWN in its ISR;
 * partition 1 keeps its leader LEADER and leader epoch, and DOWN leaves its
 * ISR too (as Kafka's controller does with a fenced follower). */
static void check_moved(const char *name, int32_t down, int32_t up, int leader)
{
	uint64_t deadline = ck_clock_mono_ms() + 10000;
	Chronik__Meta__PartitionRecord *p;

	for (;;) {
		p = rit_meta_partition(&C.n[leader - 1].view, name, 0);
		ck_assert_ptr_nonnull(p);
		if (p->leader == up)
			break;
		ck_assert_msg(ck_clock_mono_ms() < deadline, "%s-0 still led by %d", name,
		              p->leader);
		chronik__meta__partition_record__free_unpacked(p, NULL);
		ck_test_sleep_ms(50);
	}
	ck_assert_int_eq(p->leader_epoch, 1);
	ck_assert_uint_eq(p->n_isr, 2);
	for (size_t i = 0; i < p->n_isr; i++)
		ck_assert_int_ne(p->isr[i], down);
	chronik__meta__partition_record__free_unpacked(p, NULL);
	for (;;) {
		p = rit_meta_partition(&C.n[leader - 1].view, name, 1);
		ck_assert_ptr_nonnull(p);
		if (p->n_isr == 2)
			break;
		ck_assert_msg(ck_clock_mono_ms() < deadline, "%s-1: ISR of %zu", name, p->n_isr);
		chronik__meta__partition_record__free_unpacked(p, NULL);
		ck_test_sleep_ms(50);
	}
	ck_assert_int_eq(p->leader, leader);
	ck_assert_int_eq(p->leader_epoch, 0);
	for (size_t i = 0; i < p->n_isr; i++)
		ck_assert_int_ne(p->isr[i], down);
	chronik__meta__partition_record__free_unpacked(p, NULL);
}

START_TEST(test_cold_restart)
{
	uint64_t term = 0;
	int leader, down, up;

	cl_init(&C, "cluster-cold", 0);
	cl_start_all(&C);
	leader = cl_wait_leader(&C, ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);
	for (int i = 1; i <= CL_NODES; i++) {
		char prefix[16];

		snprintf(prefix, sizeof(prefix), "n%d-", i);
		cl_create_many(&C, i, prefix, 0, 100, 2);
	}
	cl_wait_same(&C, ALL, 10000);
	for (int i = 1; i <= CL_NODES; i++)
		ck_assert_int_eq(cl_broker_fenced(&C, leader, i), 0);

	/* A node that stops heartbeating is fenced, and the partitions it
	 * led get a new leader from their ISR; back, it is unfenced. */
	down = leader == 3 ? 2 : 3;
	up = other_than(leader, down);
	create_replicated("multi", down, up, leader);
	cl_stop(&C, down);
	wait_fenced(leader, down, 1, 15000);
	wait_fenced(up, down, 1, 5000);
	check_moved("multi", down, up, leader);
	cl_start(&C, down);
	wait_fenced(leader, down, 0, 15000);

	/* A leader stopped cleanly hands leadership over first. */
	leader = cl_wait_leader(&C, ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);
	(void)cl_leader_of(&C, leader, &term);
	cl_stop(&C, leader);
	ck_assert(ck_test_file_contains(C.n[leader - 1].sup.logpath, "handing leadership over"));
	ck_assert_int_gt(cl_wait_leader(&C, ALL & ~cl_bit(leader), term, 10000), 0);
	for (int i = 1; i <= CL_NODES; i++) {
		if (i != leader)
			cl_stop(&C, i);
	}
	cl_start_all(&C);
	ck_assert_int_gt(cl_wait_leader(&C, ALL, 0, 30000), 0);
	for (int i = 1; i <= CL_NODES; i++) {
		for (int k = 1; k <= CL_NODES; k++) {
			char prefix[16];

			snprintf(prefix, sizeof(prefix), "n%d-", k);
			ck_assert_uint_eq(cl_topics(&C, i, prefix), 100);
		}
	}
	cl_create_many(&C, 2, "again-", 0, 100, 2);
	cl_wait_same(&C, ALL, 10000);
}
END_TEST

START_TEST(test_wipe_node)
{
	char path[512];
	int leader, wiped;

	cl_init(&C, "cluster-wipe", 200);
	cl_start_all(&C);
	leader = cl_wait_leader(&C, ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);
	cl_create_many(&C, leader, "w-", 0, 1000, 4);
	cl_wait_same(&C, ALL, 10000);

	wiped = leader == 1 ? 2 : 1;
	cl_stop(&C, wiped);
	cl_create_many(&C, leader, "x-", 0, 300, 2); /* more while it is down */
	cl_wipe(&C, wiped);
	cl_start(&C, wiped);
	cl_wait_same(&C, ALL, 60000);
	ck_assert_uint_eq(cl_topics(&C, wiped, "w-"), 1000);
	ck_assert_uint_eq(cl_topics(&C, wiped, "x-"), 300);
	/* It got there by a snapshot (the leader's log was compacted). */
	snprintf(path, sizeof(path), "%s/raft/snapshot", C.n[wiped - 1].view.data);
	ck_assert_msg(access(path, F_OK) == 0, "no snapshot was installed on node %d", wiped);
	ck_assert(ck_test_file_contains(C.n[wiped - 1].sup.logpath, "snapshot applied"));
	/* And follows the log from there. */
	cl_create_many(&C, wiped, "y-", 0, 300, 2);
	cl_wait_same(&C, ALL, 10000);
	/* A restart of the caught-up node keeps everything. */
	cl_stop(&C, wiped);
	cl_start(&C, wiped);
	cl_wait_same(&C, ALL, 30000);
	ck_assert_uint_eq(cl_topics(&C, wiped, "y-"), 300);
}
END_TEST

START_TEST(test_leader_commit_mode)
{
	int leader, follower;

	cl_init(&C, "cluster-leadermode", 0);
	cl_env(&C, "CHRONIK_METADATA_COMMIT=leader");
	cl_start_all(&C);
	leader = cl_wait_leader(&C, ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);
	for (int i = 1; i <= CL_NODES; i++)
		ck_assert(ck_test_file_contains(C.n[i - 1].sup.logpath, "commit_mode=leader"));
	follower = leader == 1 ? 2 : 1;
	cl_create_many(&C, leader, "lm-", 0, 500, 4);
	cl_create_many(&C, follower, "lf-", 0, 500, 4);
	ck_assert_uint_eq(cl_topics(&C, follower, "lf-"), 500); /* read-your-writes */
	cl_wait_same(&C, ALL, 10000);
	ck_assert_uint_eq(cl_topics(&C, other_than(leader, follower), "lm-"), 500);
}
END_TEST

/* CHRONIK_CLUSTER_ONLY=name runs one test (test_ prefix left out). */
static void add(TCase *tc, const TTest *t, const char *name)
{
	const char *only = getenv("CHRONIK_CLUSTER_ONLY");

	if (!only || !*only || !strcmp(only, name + 5))
		tcase_add_test(tc, t);
}

/* Waits until stream S has acknowledged more than N topics; fails after
 * MS milliseconds with WHAT. */
static void stream_wait_past(cl_stream_t *s, size_t n, uint64_t since, int ms, const char *what,
                             int node)
{
	while (cl_stream_acked(s) <= n) {
		ck_assert_msg(ck_clock_mono_ms() - since < (uint64_t)ms,
		              "%s: the stream through node %d stalled at %zu for %d ms", what, node,
		              cl_stream_acked(s), ms);
		ck_test_sleep_ms(10);
	}
}

START_TEST(test_kill_leader_raftd)
{
	cl_stream_t *s[2];
	size_t at_kill[2], bad, total = 0;
	int leader, f[2];
	uint64_t t_kill;
	pid_t pid;

	cl_init(&C, "cluster-killr", 0);
	cl_start_all(&C);
	leader = cl_wait_leader(&C, ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);
	f[0] = leader == 1 ? 2 : 1;
	f[1] = cl_other(leader, f[0]);
	s[0] = cl_stream_start(&C, f[0], "r0-");
	s[1] = cl_stream_start(&C, f[1], "r1-");
	for (int round = 0; round < 3; round++) {
		uint64_t now = ck_clock_mono_ms();

		for (int k = 0; k < 2; k++)
			stream_wait_past(s[k], cl_stream_acked(s[k]) + 20, now, 30000,
			                 "before the kill", f[k]);
		leader = cl_wait_leader(&C, ALL, 0, 30000);
		ck_assert_int_gt(leader, 0);
		pid = cl_raftd_pid(&C, leader);
		ck_assert_int_gt(pid, 0);
		for (int k = 0; k < 2; k++)
			at_kill[k] = cl_stream_acked(s[k]);
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		t_kill = ck_clock_mono_ms();
		/* A new leader takes over in a few seconds; each stream's
		 * write in flight is answered, or tried again, by then. */
		for (int k = 0; k < 2; k++)
			stream_wait_past(s[k], at_kill[k] + 5, t_kill, 10000, "after the kill",
			                 f[k]);
		printf("kill_leader_raftd: round %d: raftd of node %d killed, both streams went on "
		       "within %llu ms\n",
		       round, leader, (unsigned long long)(ck_clock_mono_ms() - t_kill));
	}
	for (int k = 0; k < 2; k++) {
		at_kill[k] = cl_stream_stop(s[k], &bad);
		ck_assert_uint_eq(bad, 0);
		total += at_kill[k];
	}
	cl_wait_same(&C, ALL, 30000);
	for (int k = 0; k < 2; k++)
		ck_assert_uint_ge(cl_topics(&C, f[k], k ? "r1-" : "r0-"), at_kill[k]);
	ck_assert_uint_gt(total, 100);
}
END_TEST

#define ADD(tc, t) add(tc, t, #t)

int main(void)
{
	Suite *s = suite_create("cluster");
	TCase *tc = tcase_create("cluster");

	/* The nodes get a clean CHRONIK_* environment (ck_testproc.h). */
	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 240);
	ADD(tc, test_create_and_forward);
	ADD(tc, test_kill_leader);
	ADD(tc, test_kill_follower);
	ADD(tc, test_kill_leader_raftd);
	ADD(tc, test_stop_leader);
	ADD(tc, test_cold_restart);
	ADD(tc, test_wipe_node);
	ADD(tc, test_leader_commit_mode);
	suite_add_tcase(s, tc);
	return ck_test_run_mode(s, CK_FORK);
}
