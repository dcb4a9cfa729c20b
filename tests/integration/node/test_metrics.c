/*
 * test_metrics.c: GET /metrics on a single chronik node's admin port, the
 * way Prometheus scrapes it.
 *
 *   after_writes   CreateTopics through run/raftd.sock (and one that is
 *                  refused: the topic exists), then /metrics: 200 with
 *                  Content-Type text/plain version 0.0.4, valid text, the
 *                  create_topic histogram counts them (ok and rejected),
 *                  term >= 1, this node leads, applied index > 0, every
 *                  child up, the replicator's metrics there (no
 *                  partition under-replicated); /health still 200
 *   raftd_silent   raftd stopped (SIGSTOP): /metrics still answers 200
 *                  within a few seconds with the supervisor's own metrics,
 *                  the replicator's and chronik_raft_up 0; a client that hangs up while
 *                  its scrape waits does not hurt the supervisor; once
 *                  its keepalives have stopped for 5 s, /health is 503
 *                  "not responding: raftd" and chronik_child_up of raftd
 *                  0; after SIGCONT raftd's metrics are back and /health
 *                  is 200 again
 * A node is a real `chronik-server start` (tests/lib/ck_testproc.h) on
 * free loopback ports in a temp dir. Only the supervisor started here and
 * its raftd (SIGSTOP/SIGCONT) are signalled; a helper process resumes a
 * stopped raftd after a few seconds even when this test dies.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_testlib.h"
#include "ck_testproc.h"
#include "prom_text.h"
#include "raftd_itest.h"

#define CT "chronik_raft_write_latency_seconds_count{op=\"create_topic\",commit_mode=\"quorum\""

static struct {
	char root[128];
	char config[256];
	int admin;
	rit_t view; /* raftd_sock for the raftd client */
	ck_test_proc_t sup;
	pid_t raftd;   /* stopped by a test: resumed in teardown */
	pid_t resumer; /* the helper that resumes it */
} T;

static void setup(void)
{
	char path[300], notify[300], text[1024];
	int n;

	memset(&T, 0, sizeof(T));
	ck_assert_int_eq(ck_test_env_clear_except("CHRONIK_BUILD_ROOT"), 0);
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_test_mkdtemp(T.root, sizeof(T.root), "metrics");
	snprintf(T.config, sizeof(T.config), "%s/node.toml", T.root);
	snprintf(T.view.data, sizeof(T.view.data), "%s/data", T.root);
	snprintf(T.view.raftd_sock, sizeof(T.view.raftd_sock), "%s/data/run/raftd.sock", T.root);
	T.admin = ck_test_free_port();
	n = snprintf(text, sizeof(text),
	             "[node]\nid = 1\ndata_dir = \"%s\"\n[listeners]\n"
	             "kafka = \"127.0.0.1:%d\"\nreplication = \"127.0.0.1:%d\"\n"
	             "raft = \"127.0.0.1:%d\"\nadmin = \"127.0.0.1:%d\"\n",
	             T.view.data, ck_test_free_port(), ck_test_free_port(), ck_test_free_port(),
	             T.admin);
	ck_assert_int_lt(n, (int)sizeof(text));
	ck_test_write_file(T.config, text, (size_t)n);
	snprintf(path, sizeof(path), "%s/node.log", T.root);
	snprintf(notify, sizeof(notify), "%s/node.notify", T.root);
	ck_test_proc_init(&T.sup, "supervisor/chronik-server", path, notify);
	ck_test_proc_env(&T.sup, "CHRONIK_WAL_PREALLOCATE_BYTES=4096");
}

static void teardown(void)
{
	if (T.raftd > 0)
		(void)kill(T.raftd, SIGCONT);
	if (T.resumer > 0)
		(void)ck_test_stop_pid(T.resumer, SIGKILL, 5000);
	if (T.sup.pid > 0)
		(void)ck_test_proc_stop(&T.sup, SIGTERM, 20000);
	ck_test_proc_cleanup(&T.sup);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void node_start(void)
{
	const char *args[] = {"start", "--config", T.config, NULL};

	ck_test_proc_start(&T.sup, args);
	ck_assert_msg(ck_test_proc_wait_ready(&T.sup, 60000) == 0, "node did not get ready, see %s",
	              T.sup.logpath);
}

/* GET PATH; asserts an answer within TIMEOUT_MS and returns its status. */
static int get(const char *path, int timeout_ms, char *ctype, size_t ctype_len, ck_buf_t *body)
{
	int status = 0;

	ck_assert_msg(prom_http_get(T.admin, path, timeout_ms, &status, ctype, ctype_len, body) ==
	                  0,
	              "no answer to GET %s within %d ms", path, timeout_ms);
	return status;
}

/* GET /metrics: asserts 200, the Prometheus content type and valid text. */
static char *scrape(int timeout_ms)
{
	ck_buf_t body = CK_BUF_INIT;
	char ctype[128], why[512];

	ck_assert_int_eq(get("/metrics", timeout_ms, ctype, sizeof(ctype), &body), 200);
	ck_assert_msg(!strncmp(ctype, "text/plain; version=0.0.4", 25), "Content-Type: %s", ctype);
	ck_assert_msg(prom_check((const char *)body.data, why, sizeof(why)) > 0, "bad text: %s",
	              why);
	return (char *)body.data;
}

static double value(const char *text, const char *series)
{
	double v = -1;

	ck_assert_msg(prom_value(text, series, &v), "no sample %s in:\n%s", series, text);
	return v;
}

/* CreateTopic NAME with the topic id of ID_NAME (another id for an
 * existing name: refused, not a retry). */
static void create_topic(rcl_t *c, const char *name, const char *id_name, int want_result)
{
	rit_create_t b;
	uint64_t index = 0;
	int result = -1;

	rit_create_cmd(&b, id_name, 1);
	b.ct.name = (char *)name;
	ck_assert_int_eq(rcl_propose(c, &b.cmd, &result, &index), 0);
	ck_assert_int_eq(result, want_result);
	ck_assert_uint_gt(index, 0);
}

START_TEST(after_writes)
{
	ck_buf_t body = CK_BUF_INIT;
	char name[64], ctype[128];
	rcl_t c;
	char *t;

	node_start();
	rcl_connect(&c, &T.view);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "metrics-%d", i);
		create_topic(&c, name, name, 0);
	}
	create_topic(&c, "metrics-0", "another-id", CK_E_EXISTS);
	rcl_close(&c);
	t = scrape(10000);
	ck_assert_double_ge(value(t, CT ",origin=\"local\",result=\"ok\"}"), 5);
	ck_assert_double_ge(value(t, CT ",origin=\"local\",result=\"rejected\"}"), 1);
	ck_assert_double_ge(
	    value(t, "chronik_raft_write_latency_seconds_bucket{op=\"create_topic\","
	             "commit_mode=\"quorum\",origin=\"local\",result=\"ok\",le=\"+Inf\"}"),
	    5);
	ck_assert_double_ge(value(t, "chronik_raft_writes_proposed_total"), 6);
	ck_assert_double_ge(value(t, "chronik_raft_term"), 1);
	ck_assert_double_eq(value(t, "chronik_raft_leader_id"), 1);
	ck_assert_double_eq(value(t, "chronik_raft_role{role=\"leader\"}"), 1);
	ck_assert_double_gt(value(t, "chronik_raft_applied_index"), 0);
	ck_assert_double_eq(value(t, "chronik_raft_up"), 1);
	ck_assert_double_eq(value(t, "chronik_replication_up"), 1);
	ck_assert_double_eq(value(t, "chronik_replication_under_replicated_partitions"), 0);
	ck_assert_double_eq(value(t, "chronik_replication_isr_shrinks_total"), 0);
	ck_assert_double_eq(value(t, "chronik_child_up{node=\"1\",child=\"raftd\"}"), 1);
	ck_assert_double_eq(value(t, "chronik_child_up{node=\"1\",child=\"kafka-frontend\"}"), 1);
	ck_assert_double_eq(
	    value(t, "chronik_child_restarts_total{node=\"1\",child=\"walwriter\"}"), 0);
	free(t);
	ck_assert_int_eq(get("/health", 5000, ctype, sizeof(ctype), &body), 200);
	ck_assert_str_eq(ctype, "text/plain; charset=utf-8");
	ck_assert_str_eq((const char *)body.data, "ok\n"); /* NUL-terminated */
	ck_buf_free(&body);
	ck_assert_int_eq(get("/nope", 5000, ctype, sizeof(ctype), &body), 404);
	ck_assert_str_eq(ctype, "text/plain; charset=utf-8");
	ck_buf_free(&body);
	/* A query string is ignored; HEAD answers as GET without a body;
	 * other methods are 405 Method Not Allowed. */
	ck_assert_int_eq(get("/health?probe=1", 5000, ctype, sizeof(ctype), &body), 200);
	ck_assert_str_eq((const char *)body.data, "ok\n");
	ck_buf_free(&body);
	for (int i = 0; i < 3; i++) {
		static const char *const paths[] = {"/health", "/status", "/metrics"};
		int status = 0;

		ck_assert_int_eq(prom_http_request(T.admin, "HEAD", paths[i], 5000, &status, ctype,
		                                   sizeof(ctype), &body),
		                 0);
		ck_assert_int_eq(status, 200);
		ck_assert_msg(!body.data || !body.data[0], "HEAD %s sent a body", paths[i]);
		ck_buf_free(&body);
		ck_assert_int_eq(prom_http_request(T.admin, i ? "DELETE" : "POST", paths[i], 5000,
		                                   &status, ctype, sizeof(ctype), &body),
		                 0);
		ck_assert_int_eq(status, 405);
		ck_buf_free(&body);
	}
}
END_TEST

/* The pid of the supervisor's chronik-raftd child, or 0. */
static pid_t raftd_pid(void)
{
	char path[128], *kids, *p, *comm;
	pid_t found = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)T.sup.pid, (int)T.sup.pid);
	kids = ck_test_read_text(path, NULL);
	for (p = strtok(kids, " \n"); p && !found; p = strtok(NULL, " \n")) {
		snprintf(path, sizeof(path), "/proc/%s/comm", p);
		comm = ck_test_read_text(path, NULL);
		if (!strcmp(comm, "chronik-raftd\n"))
			found = (pid_t)atoi(p);
		free(comm);
	}
	free(kids);
	return found;
}

/* Connects, sends GET /metrics and hangs up at once. */
static void scrape_and_hang_up(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)T.admin)};
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
	ck_test_sleep_ms(100); /* the scrape is waiting for raftd now */
	close(fd);
}

/* GET /health until it answers WANT or MS pass; returns the last code,
 * its body in BODY (NUL-terminated). */
static int health_until(int want, uint64_t ms, ck_buf_t *body)
{
	uint64_t end = ck_clock_mono_ms() + ms;
	char ctype[128];
	int code;

	for (;;) {
		ck_buf_reset(body);
		code = get("/health", 5000, ctype, sizeof(ctype), body);
		if (code == want || ck_clock_mono_ms() >= end)
			return code;
		ck_test_sleep_ms(200);
	}
}

START_TEST(raftd_silent)
{
	ck_buf_t body = CK_BUF_INIT;
	uint64_t t0, took;
	int code;
	char *t;

	node_start();
	T.raftd = raftd_pid();
	ck_assert_int_gt(T.raftd, 0);
	ck_assert_int_eq(kill(T.raftd, SIGSTOP), 0);
	/* Resumes raftd whatever happens to this process. */
	T.resumer = fork();
	ck_assert_int_ge(T.resumer, 0);
	if (T.resumer == 0) {
		ck_test_sleep_ms(14000);
		(void)kill(T.raftd, SIGCONT);
		_exit(0);
	}
	scrape_and_hang_up();
	scrape_and_hang_up();
	t0 = ck_clock_mono_ms();
	t = scrape(6000);
	took = ck_clock_mono_ms() - t0;
	ck_assert_msg(took >= 1000, "answered after %llu ms: did it wait for raftd at all?",
	              (unsigned long long)took);
	ck_assert_double_eq(value(t, "chronik_raft_up"), 0);
	ck_assert_double_eq(value(t, "chronik_replication_up"), 1);
	ck_assert_double_eq(value(t, "chronik_child_restarts_total{node=\"1\",child=\"raftd\"}"),
	                    0);
	ck_assert_int_eq(prom_count(t, "chronik_raft_term"), 0);
	free(t);
	/* Its keepalives stopped: /health and chronik_child_up say so once it
	 * was silent SUP_CHILD_SILENT_MAX_MS (5 s). */
	code = health_until(503, 12000, &body);
	ck_assert_msg(code == 503, "/health %d while raftd is stopped", code);
	ck_assert_msg(strstr((const char *)body.data, "not responding: raftd") != NULL,
	              "/health said: %s", (const char *)body.data);
	ck_buf_free(&body);
	t = scrape(6000);
	ck_assert_double_eq(value(t, "chronik_child_up{node=\"1\",child=\"raftd\"}"), 0);
	ck_assert_double_eq(value(t, "chronik_child_up{node=\"1\",child=\"walwriter\"}"), 1);
	free(t);
	ck_assert_int_eq(kill(T.raftd, SIGCONT), 0);
	T.raftd = 0;
	t = scrape(10000);
	ck_assert_double_eq(value(t, "chronik_raft_up"), 1);
	ck_assert_double_eq(value(t, "chronik_raft_leader_id"), 1);
	free(t);
	code = health_until(200, 5000, &body);
	ck_assert_msg(code == 200, "/health %d after raftd resumed: %s", code,
	              (const char *)body.data);
	ck_buf_free(&body);
	ck_assert(ck_test_proc_alive(&T.sup));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("node_metrics");
	TCase *tc = tcase_create("metrics");

	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, after_writes);
	tcase_add_test(tc, raftd_silent);
	suite_add_tcase(s, tc);
	return ck_test_run_mode(s, CK_FORK);
}
