/*
 * test_repl_follower.c: integration tests of chronik-replicator as a
 * follower, with a real chronik-walwriter on a temp data dir and the test
 * as the partition's leader (node 2): it accepts the replicator's
 * replication connection (the replicator's fetches) and connects to the
 * replicator's port to send notices and fetch replies, framed protobuf-c
 * (common/proto/replnet.proto) like a real peer. Metadata (leader 2,
 * replicas {1, 2}) is written to LMDB as raftd writes it; no raftd runs.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "repl_itest.h"
#include "replnet.pb-c.h"

#define T_MS        15000
#define CLUSTER     "ck-follower-test"
#define LEADER      2
#define INCARNATION 77

typedef struct {
	wit_t w;
	rit_t r;
	wcl_t wc;
	rcl_t rc;
	int lfd;    /* the test's replication listener (node 2's port) */
	int in_fd;  /* the replicator's connection to it: its fetches */
	int out_fd; /* ours to the replicator: notices and replies */
	ck_buf_t frame;
} fenv_t;

static int tcp_listen(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

static int tcp_connect(int port, int timeout_ms)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (ck_clock_mono_ms() < deadline) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		ck_assert_int_ge(fd, 0);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		ck_test_sleep_ms(50);
	}
	return -1;
}

/* A config naming this node 1 and the test node 2 (every listener of a
 * peer is required; only replication is used). */
static void fenv_start(fenv_t *e, const char *tag)
{
	char path[192], text[1024];
	int lport = ck_test_free_port();
	const char *args[6];

	memset(e, 0, sizeof(*e));
	e->wc.fd = e->rc.fd = e->in_fd = e->out_fd = -1;
	wit_init(&e->w, tag);
	wit_start_ready(&e->w);
	wcl_connect(&e->wc, &e->w);
	rit_init(&e->r, &e->w);
	e->lfd = tcp_listen(lport);
	snprintf(path, sizeof(path), "%s/node.toml", e->w.root);
	snprintf(text, sizeof(text),
	         "[node]\nid = 1\ncluster_id = \"%s\"\n"
	         "[listeners]\nreplication = \"127.0.0.1:%d\"\n"
	         "[peer.1]\nraft = \"127.0.0.1:%d\"\nreplication = \"127.0.0.1:%d\"\n"
	         "kafka = \"127.0.0.1:%d\"\n"
	         "[peer.2]\nraft = \"127.0.0.1:%d\"\nreplication = \"127.0.0.1:%d\"\n"
	         "kafka = \"127.0.0.1:%d\"\n",
	         CLUSTER, e->r.repl_port, ck_test_free_port(), e->r.repl_port, ck_test_free_port(),
	         ck_test_free_port(), lport, ck_test_free_port());
	ck_test_write_file(path, text, strlen(text));
	args[0] = "--config";
	args[1] = path;
	args[2] = "--data-dir";
	args[3] = e->w.data;
	args[4] = NULL;
	ck_test_proc_start(&e->r.proc, args);
	ck_assert_msg(rit_wait_ready(&e->r, 30000) == 0, "replicator not ready, see %s",
	              e->r.proc.logpath);
	rcl_connect(&e->rc, &e->r);
	ck_assert_int_eq(rcl_subscribe(&e->rc, T_MS), 0);
}

static void fenv_end(fenv_t *e)
{
	if (e->in_fd >= 0)
		close(e->in_fd);
	if (e->out_fd >= 0)
		close(e->out_fd);
	close(e->lfd);
	ck_buf_free(&e->frame);
	rcl_close(&e->rc);
	wcl_close(&e->wc);
	rit_cleanup(&e->r);
	wit_cleanup(&e->w);
}

/* The replicator's next fetch from OFFSET (asserts one within T_MS; a
 * fetch asked again while unanswered, from where it was, is skipped); free
 * with chronik__replnet__envelope__free_unpacked(*RET_ENV). */
static const Chronik__Replnet__Fetch *fenv_fetch(fenv_t *e, int64_t offset,
                                                 Chronik__Replnet__Envelope **ret_env)
{
	uint64_t deadline = ck_clock_mono_ms() + T_MS;

	if (e->in_fd < 0) {
		struct pollfd p = {e->lfd, POLLIN, 0};

		ck_assert_int_eq(poll(&p, 1, T_MS), 1);
		e->in_fd = accept4(e->lfd, NULL, NULL, SOCK_CLOEXEC);
		ck_assert_int_ge(e->in_fd, 0);
	}
	while (ck_clock_mono_ms() < deadline) {
		Chronik__Replnet__Envelope *env;

		ck_assert_int_eq(ck_ipc_sync_recv(e->in_fd, 0, T_MS, &e->frame), 0);
		env = chronik__replnet__envelope__unpack(NULL, e->frame.len, e->frame.data);
		ck_assert_ptr_nonnull(env);
		ck_assert_str_eq(env->cluster_id, CLUSTER);
		ck_assert_int_eq(env->receiver, LEADER);
		if (env->n_fetches > 0 && env->fetches[0]->fetch_offset == offset) {
			*ret_env = env;
			return env->fetches[0];
		}
		chronik__replnet__envelope__free_unpacked(env, NULL);
	}
	ck_abort_msg("no fetch from the replicator");
	return NULL;
}

static void fenv_send(fenv_t *e, Chronik__Replnet__Notice *nt, Chronik__Replnet__FetchReply *rep)
{
	Chronik__Replnet__Envelope env = CHRONIK__REPLNET__ENVELOPE__INIT;

	if (e->out_fd < 0) {
		e->out_fd = tcp_connect(e->r.repl_port, T_MS);
		ck_assert_int_ge(e->out_fd, 0);
	}
	env.cluster_id = CLUSTER;
	env.sender = LEADER;
	env.incarnation = INCARNATION;
	env.receiver = 1;
	env.n_notices = nt ? 1 : 0;
	env.notices = &nt;
	env.n_replies = rep ? 1 : 0;
	env.replies = &rep;
	ck_assert_int_eq(ck_ipc_sync_send_msg(e->out_fd, &env.base), 0);
}

static void fenv_notice(fenv_t *e, int32_t epoch, int64_t end, int64_t hw)
{
	Chronik__Replnet__Notice nt = CHRONIK__REPLNET__NOTICE__INIT;

	nt.topic = "t";
	nt.partition = 0;
	nt.leader_epoch = epoch;
	nt.log_end = end;
	nt.high_watermark = hw;
	fenv_send(e, &nt, NULL);
}

static void fenv_reply(fenv_t *e, const Chronik__Replnet__Fetch *f, int64_t end, int64_t hw,
                       int64_t truncate_to)
{
	Chronik__Replnet__FetchReply rep = CHRONIK__REPLNET__FETCH_REPLY__INIT;

	rep.topic = f->topic;
	rep.partition = f->partition;
	rep.leader_epoch = f->leader_epoch;
	rep.fetch_offset = f->fetch_offset;
	rep.high_watermark = hw;
	rep.log_end = end;
	rep.truncate_to = truncate_to;
	fenv_send(e, NULL, &rep);
}

/* The HW the replicator pushes for t-0 after QUIET_MS of no pushes. */
static int64_t fenv_hw(fenv_t *e, int quiet_ms)
{
	const rst_t *v;

	(void)rcl_drain(&e->rc, quiet_ms);
	v = rcl_view(&e->rc, "t", 0);
	ck_assert_ptr_nonnull(v);
	return v->hw;
}

/*
 * A new leader whose log lacks our tail: its notices (with a HW past the
 * point where our logs part) may come before the answer to our first fetch
 * of its leadership says where to truncate. HW must not move on them: it
 * would sit above the truncation, and a stop in between checkpoints it (the
 * next boot finds the log short of its HW, draws a new data id and leaves
 * every ISR). Once the fetch confirmed the log, the leader's HW counts.
 */
START_TEST(test_hw_waits_for_the_log_check)
{
	fenv_t e;
	Chronik__Replnet__Envelope *env;
	const Chronik__Replnet__Fetch *f;
	int32_t reps[] = {1, LEADER};
	ck_buf_t b = CK_BUF_INIT;
	int64_t base = -1, last = -1, hw = -1;
	int32_t epoch = -1;

	fenv_start(&e, "follower-hw");
	ck_assert_int_eq(wcl_create(&e.wc, "t", 0, NULL), 0);
	/* Ten records from the old leadership (epoch 0), one per batch (a log
	 * is cut at batch bounds), none committed. */
	for (int i = 0; i < 10; i++) {
		ck_buf_reset(&b);
		(void)wit_batch(&b, 1, 16, (uint32_t)i);
		ck_assert_int_eq(wcl_append(&e.wc, "t", 0, b.data, b.len, false, 0, &base, &last),
		                 0);
		ck_assert_int_eq(last, i);
	}
	meta_put_partition(e.w.data, "t", 0, reps, 2, reps, 2, LEADER, 1, 1);
	ck_assert_ptr_nonnull(rcl_wait_role(&e.rc, "t", 0, false, 1, T_MS));
	f = fenv_fetch(&e, 10, &env);
	ck_assert_int_eq(f->leader_epoch, 1);
	ck_assert_int_eq(fenv_hw(&e, 300), 0);
	/* The new leader's log ends at 20 (4 of ours and 16 of its own), its
	 * HW is 20; the notice comes first. */
	fenv_notice(&e, 1, 20, 20);
	ck_assert_int_eq(fenv_hw(&e, 500), 0);
	fenv_reply(&e, f, 20, 20, 4);
	chronik__replnet__envelope__free_unpacked(env, NULL);
	/* Truncated to 4, it asks again from there. */
	f = fenv_fetch(&e, 4, &env);
	ck_assert_int_eq(fenv_hw(&e, 100), 0);
	/* Confirmed now: HW is the leader's, up to our end. */
	fenv_reply(&e, f, 20, 20, -1);
	chronik__replnet__envelope__free_unpacked(env, NULL);
	ck_assert_ptr_nonnull(rcl_wait_hw(&e.rc, "t", 0, 4, T_MS));
	fenv_notice(&e, 1, 20, 20);
	ck_assert_int_eq(fenv_hw(&e, 300), 4);
	/* The stop's checkpoint is within the log. */
	ck_assert_int_eq(rit_stop(&e.r, SIGTERM, T_MS), 0);
	ck_assert_int_eq(meta_ckpt_get(e.w.data, "t", 0, &hw, &epoch), 1);
	ck_assert_int_eq(hw, 4);
	ck_buf_free(&b);
	fenv_end(&e);
}
END_TEST

/*
 * A node whose leadership moved on while kafka-frontend still had appends
 * of it on the way: before its first fetch of the new leadership walwriter
 * is fenced with the new epoch, so a leader append of the old epoch that
 * comes later is refused (one that came before is in the end the first
 * fetch checks, with its epoch, so the leader can say where the logs part).
 * Without the fence it was taken after the check and stayed for good.
 */
START_TEST(test_old_leader_appends_fenced)
{
	fenv_t e;
	Chronik__Replnet__Envelope *env;
	const Chronik__Replnet__Fetch *f;
	int32_t reps[] = {1, LEADER};
	ck_buf_t b = CK_BUF_INIT;
	int64_t base = -1, last = -1;

	fenv_start(&e, "follower-fence");
	ck_assert_int_eq(wcl_create(&e.wc, "t", 0, NULL), 0);
	(void)wit_batch(&b, 3, 16, 1);
	ck_assert_int_eq(wcl_append(&e.wc, "t", 0, b.data, b.len, false, 0, &base, &last), 0);
	meta_put_partition(e.w.data, "t", 0, reps, 2, reps, 2, LEADER, 1, 1);
	f = fenv_fetch(&e, 3, &env);
	ck_assert_int_eq(f->leader_epoch, 1);
	ck_assert_int_eq(f->last_epoch, 0);
	chronik__replnet__envelope__free_unpacked(env, NULL);
	ck_assert_int_eq(wcl_append(&e.wc, "t", 0, b.data, b.len, false, 0, &base, &last),
	                 CK_E_NOT_LEADER);
	ck_buf_free(&b);
	fenv_end(&e);
}
END_TEST

static Suite *repl_follower_suite(void)
{
	Suite *s = suite_create("repl_follower");
	TCase *tc = tcase_create("follower");

	ck_test_add_root(tc);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_hw_waits_for_the_log_check);
	tcase_add_test(tc, test_old_leader_appends_fenced);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(repl_follower_suite());
}
