/*
 * test_node.c: integration tests of one chronik node (supervisor + four
 * children), with the real binaries of the build tree.
 *
 * Each test runs in its own process (check's fork mode), creates a fresh
 * data dir with mkdtemp, writes a config on free loopback ports (found by
 * binding port 0), starts `chronik-server start` and looks at the node the
 * way an operator would: the control socket (the same request `chronik-server
 * status` sends), the CLI itself, exit codes, stderr, and which processes
 * exist. The test process is a child subreaper, so children orphaned by a
 * killed supervisor are reparented to it and their exit can be observed.
 * Cleanup kills only the supervisor it started and the child pids it saw,
 * then removes the temp dir. It runs in teardown and, because a failed
 * check assertion _exit()s and a timeout SIGKILLs the test process, also in
 * a guardian process (own session) that wakes when the test process is gone
 * and cleans up from the pid list the test keeps in the temp dir.
 *
 * Binaries: $CHRONIK_BUILD_ROOT/supervisor/chronik-server; the supervisor
 * finds its children itself (build tree layout, or $CHRONIK_LIBEXEC_DIR).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "ck_buf.h"
#include "ck_clock.h"
#include "ck_ipc.h"
#include "ck_notify.h"
#include "ck_testlib.h"
#include "control.pb-c.h"

#define NCHILD           4
#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS  30000
#define POLL_MS          20
#define SEEN_MAX         1024

typedef Chronik__Control__ControlReply reply_t;
typedef Chronik__Control__ChildStatus child_t;

static const char *const child_names[NCHILD] = {"walwriter", "raftd", "replicator",
                                                "kafka-frontend"};

/* The node under test, one per test process. */
static struct {
	char dir[256];
	char config[320];
	char log[320];
	char control[320];
	char server[1024];
	pid_t sup;
	bool sup_reaped;
	int sup_status;
	pid_t seen[SEEN_MAX];
	int nseen;
	const char *extra_args[5]; /* more `start` arguments, NULL-terminated */
	char pids_file[320];
	char wrapper[400];       /* use_wrapper() */
	char wrapper_lines[512]; /* settings_t.wrapper_lines pointing at it */
	pid_t guardian;
	int guardian_fd; /* write end; its EOF wakes the guardian */
} T;

/* Supervisor settings a test can change. */
typedef struct {
	int backoff_initial_ms;
	int backoff_max_ms;
	int burst;
	int window_ms;
	int stop_timeout_ms;
	int ready_timeout_ms;
	const char *wrapper_lines; /* appended under [wrapper] */
} settings_t;

static const settings_t default_settings = {
    .backoff_initial_ms = 100,
    .backoff_max_ms = 1000,
    .burst = 50,
    .window_ms = 60000,
    .stop_timeout_ms = 5000,
    .ready_timeout_ms = 20000,
};

static void seen_add(pid_t pid)
{
	char line[32];
	int fd, n;

	if (pid <= 0)
		return;
	for (int i = 0; i < T.nseen; i++) {
		if (T.seen[i] == pid)
			return;
	}
	if (T.nseen < SEEN_MAX)
		T.seen[T.nseen++] = pid;
	/* For the guardian, should this process die without cleaning up. */
	fd = open(T.pids_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		n = snprintf(line, sizeof(line), "%d\n", (int)pid);
		if (write(fd, line, (size_t)n) != n)
			fprintf(stderr, "cannot record pid %d\n", (int)pid);
		close(fd);
	}
}

/* Whether PID is a live process (zombies count as gone). */
static bool pid_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	bool alive = false;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		alive = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return alive;
}

/* Whether PID runs one of our binaries (guards against pid reuse). */
static bool pid_is_chronik(pid_t pid)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\0')
			buf[i] = ' ';
	}
	buf[n] = '\0';
	return strstr(buf, "chronik-") != NULL;
}

/* Reaps whatever exited among our children (the supervisor, or orphans
 * reparented to us as subreaper). */
static void reap_all(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == T.sup) {
			T.sup_reaped = true;
			T.sup_status = status;
		}
	}
}

/* Kills PIDS (chronik processes only) and waits until they are gone. */
static void kill_pids(const pid_t *pids, int n)
{
	for (int i = 0; i < n; i++) {
		if (pid_alive(pids[i]) && pid_is_chronik(pids[i]))
			(void)kill(pids[i], SIGKILL);
	}
	for (int round = 0; round < 250; round++) {
		bool any = false;

		reap_all();
		for (int i = 0; i < n; i++)
			any |= pid_alive(pids[i]);
		if (!any)
			return;
		ck_test_sleep_ms(POLL_MS);
	}
}

/* The guardian: waits for the test process to go, then cleans up after it
 * from the pid list. Never returns. */
static void __attribute__((noreturn)) guardian_main(int fd)
{
	static pid_t pids[SEEN_MAX];
	char buf[64];
	int n = 0;
	FILE *f;

	(void)setsid();
	while (read(fd, buf, sizeof(buf)) > 0 || errno == EINTR)
		;
	f = fopen(T.pids_file, "r");
	while (f && n < SEEN_MAX && fgets(buf, sizeof(buf), f))
		pids[n++] = (pid_t)atoi(buf);
	if (f)
		fclose(f);
	kill_pids(pids, n);
	(void)ck_test_rmtree(T.dir);
	_exit(0);
}

static void guardian_start(void)
{
	int p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	T.guardian = fork();
	ck_assert_int_ge(T.guardian, 0);
	if (T.guardian == 0) {
		close(p[1]);
		guardian_main(p[0]);
	}
	close(p[0]);
	T.guardian_fd = p[1];
}

static void node_cleanup(void)
{
	if (T.sup > 0 && !T.sup_reaped) {
		(void)kill(T.sup, SIGKILL);
		if (waitpid(T.sup, &T.sup_status, 0) == T.sup)
			T.sup_reaped = true;
	}
	kill_pids(T.seen, T.nseen);
	if (T.dir[0]) {
		(void)ck_test_rmtree(T.dir);
		T.dir[0] = '\0';
	}
	if (T.guardian > 0) {
		close(T.guardian_fd);
		(void)waitpid(T.guardian, NULL, 0);
		T.guardian = 0;
	}
}

/* Prints the node's log (supervisor and children) for a failing test. */
static void dump_log(void)
{
	char buf[4096];
	FILE *f = fopen(T.log, "r");
	long size;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > 12000 ? size - 12000 : 0, SEEK_SET);
	fprintf(stderr, "---- node log (%s) ----\n", T.log);
	while (fgets(buf, sizeof(buf), f))
		fputs(buf, stderr);
	fprintf(stderr, "---- end of node log ----\n");
	fclose(f);
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		dump_log();                                                                        \
		ck_abort_msg(__VA_ARGS__);                                                         \
	} while (0)

static void setup(void)
{
	const char *root = getenv("CHRONIK_BUILD_ROOT");

	memset(&T, 0, sizeof(T));
	ck_assert_msg(root && *root, "CHRONIK_BUILD_ROOT is not set (run through meson test)");
	snprintf(T.server, sizeof(T.server), "%s/supervisor/chronik-server", root);
	ck_assert_msg(access(T.server, X_OK) == 0, "%s not built", T.server);
	ck_test_mkdtemp(T.dir, sizeof(T.dir), "node");
	snprintf(T.config, sizeof(T.config), "%s/cluster.toml", T.dir);
	snprintf(T.log, sizeof(T.log), "%s/node.log", T.dir);
	snprintf(T.control, sizeof(T.control), "%s/data/run/control.sock", T.dir);
	snprintf(T.pids_file, sizeof(T.pids_file), "%s/pids", T.dir);
	guardian_start();
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
}

static void teardown(void)
{
	node_cleanup();
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	ck_test_write_file(path, text, strlen(text));
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* Makes the script TEXT, saved as NAME in the test dir, the [wrapper] of
 * CHILD in S. */
static void use_wrapper(settings_t *s, const char *child, const char *name, const char *text)
{
	snprintf(T.wrapper, sizeof(T.wrapper), "%s/%s", T.dir, name);
	write_file(T.wrapper, text, 0755);
	snprintf(T.wrapper_lines, sizeof(T.wrapper_lines), "%s = \"%s\"", child, T.wrapper);
	s->wrapper_lines = T.wrapper_lines;
}

static void node_config(const settings_t *s)
{
	char text[4096];

	snprintf(text, sizeof(text),
	         "[node]\nid = 1\ndata_dir = \"%s/data\"\n"
	         "[listeners]\nkafka = \"127.0.0.1:%d\"\nreplication = \"127.0.0.1:%d\"\n"
	         "raft = \"127.0.0.1:%d\"\nadmin = \"127.0.0.1:%d\"\n"
	         "[supervisor]\nrestart_backoff_initial_ms = %d\nrestart_backoff_max_ms = %d\n"
	         "restart_stable_ms = 10000\nrestart_burst = %d\nrestart_window_ms = %d\n"
	         "stop_timeout_ms = %d\nready_timeout_ms = %d\n"
	         "[wrapper]\n%s\n",
	         T.dir, ck_test_free_port(), ck_test_free_port(), ck_test_free_port(),
	         ck_test_free_port(), s->backoff_initial_ms, s->backoff_max_ms, s->burst,
	         s->window_ms, s->stop_timeout_ms, s->ready_timeout_ms,
	         s->wrapper_lines ? s->wrapper_lines : "");
	write_file(T.config, text, 0644);
}

/* Forks `chronik-server ARGS...` with stdout+stderr appended to OUT (a
 * file) and ENV ("K=V", NULL-terminated) added. Returns the pid. */
static pid_t spawn_server(const char *out, const char *const *env, const char *const *args)
{
	const char *argv[16];
	int argc = 0;
	pid_t pid;

	argv[argc++] = T.server;
	for (; args && *args && argc < 15; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		char self[32];

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		snprintf(self, sizeof(self), "%d", (int)getpid());
		for (; env && *env; env++) {
			if (!strcmp(*env, "WATCHDOG_PID=self"))
				setenv("WATCHDOG_PID", self, 1);
			else
				putenv((char *)*env);
		}
		execv(T.server, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static void node_start_env(const char *const *env)
{
	const char *args[8] = {"start", "--config", T.config, NULL};

	for (int i = 0; i < 4 && T.extra_args[i]; i++)
		args[3 + i] = T.extra_args[i];

	T.sup = spawn_server(T.log, env, args);
	seen_add(T.sup);
	T.sup_reaped = false;
}

/* Runs a CLI command to completion; OUT gets stdout+stderr. Returns the
 * exit status (or -1 if it did not exit normally). */
static int run_cli(const char *const *args, char *out, size_t out_len)
{
	char path[400];
	pid_t pid;
	int status = 0, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/cli.out", T.dir);
	(void)unlink(path);
	pid = spawn_server(path, NULL, args);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, out, out_len - 1) : 0;
	out[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* One status request over the control socket; NULL when no node answers. */
static reply_t *node_status(void)
{
	Chronik__Control__ControlRequest req = CHRONIK__CONTROL__CONTROL_REQUEST__INIT;
	Chronik__Control__StatusRequest st = CHRONIK__CONTROL__STATUS_REQUEST__INIT;
	ck_buf_t frame = CK_BUF_INIT;
	reply_t *reply = NULL;
	int fd, r;

	if (ck_ipc_sync_connect(T.control, 100, &fd) < 0)
		return NULL;
	req.correlation_id = 7;
	req.body_case = CHRONIK__CONTROL__CONTROL_REQUEST__BODY_STATUS;
	req.status = &st;
	r = ck_ipc_sync_send_msg(fd, &req.base);
	if (r == 0)
		r = ck_ipc_sync_recv(fd, 1 << 20, 5000, &frame);
	close(fd);
	if (r == 0)
		reply = chronik__control__control_reply__unpack(NULL, frame.len, frame.data);
	ck_buf_free(&frame);
	if (!reply)
		return NULL;
	ck_assert_uint_eq(reply->correlation_id, 7);
	ck_assert_int_eq(reply->error, 0);
	ck_assert_int_eq(reply->body_case, CHRONIK__CONTROL__CONTROL_REPLY__BODY_STATUS);
	ck_assert_uint_eq(reply->status->n_children, NCHILD);
	for (int i = 0; i < NCHILD; i++) {
		ck_assert_str_eq(reply->status->children[i]->name, child_names[i]);
		seen_add(reply->status->children[i]->pid);
	}
	return reply;
}

static const child_t *child_of(const reply_t *r, int i)
{
	return r->status->children[i];
}

static bool all_ready(const reply_t *r)
{
	for (int i = 0; i < NCHILD; i++) {
		if (strcmp(child_of(r, i)->state, "ready") || child_of(r, i)->pid <= 0)
			return false;
	}
	return true;
}

static bool sup_exited(void)
{
	reap_all();
	return T.sup_reaped;
}

/* Waits until every child is ready; returns that status (free it). */
static reply_t *wait_all_ready(int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	reply_t *r;

	for (;;) {
		r = node_status();
		if (r && all_ready(r))
			return r;
		if (r)
			chronik__control__control_reply__free_unpacked(r, NULL);
		if (sup_exited())
			FAIL("supervisor exited (status 0x%x) before all children were ready",
			     T.sup_status);
		if (ck_clock_mono_ms() > deadline)
			FAIL("children not all ready within %d ms", timeout_ms);
		ck_test_sleep_ms(POLL_MS);
	}
}

/* Writes a config on free ports and starts the supervisor with ENV, until
 * it holds its sockets (the control socket answers) or has exited for
 * another reason. A port found free can be taken by someone else before the
 * supervisor binds it: then it is tried again on new ports. */
static void node_launch(const settings_t *s, const char *const *env)
{
	uint64_t deadline = ck_clock_mono_ms() + START_TIMEOUT_MS;
	reply_t *r;

	for (int attempt = 1;; attempt++) {
		(void)unlink(T.log);
		node_config(s);
		node_start_env(env);
		while (!(r = node_status()) && !sup_exited()) {
			if (ck_clock_mono_ms() > deadline)
				FAIL("no control socket within %d ms", START_TIMEOUT_MS);
			ck_test_sleep_ms(POLL_MS);
		}
		if (r) {
			chronik__control__control_reply__free_unpacked(r, NULL);
			return;
		}
		if (attempt >= 5 || !WIFEXITED(T.sup_status) || WEXITSTATUS(T.sup_status) != 1 ||
		    !ck_test_file_contains(T.log, "Address already in use"))
			return;
		fprintf(stderr, "port taken meanwhile, retrying on new ports\n");
	}
}

static reply_t *node_start(const settings_t *s)
{
	node_launch(s, NULL);
	return wait_all_ready(START_TIMEOUT_MS);
}

/* Waits for the supervisor to exit; returns its wait status. */
static int wait_sup_exit(int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;

	while (!sup_exited()) {
		if (ck_clock_mono_ms() > deadline)
			FAIL("supervisor pid %d still running after %d ms", (int)T.sup, timeout_ms);
		ck_test_sleep_ms(POLL_MS);
	}
	return T.sup_status;
}

/* Every pid ever seen (supervisor included) must be gone within TIMEOUT. */
static void assert_all_gone(int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;

	seen_add(T.sup);
	for (;;) {
		pid_t left = 0;

		reap_all();
		for (int i = 0; i < T.nseen && !left; i++) {
			if (pid_alive(T.seen[i]))
				left = T.seen[i];
		}
		if (!left)
			return;
		if (ck_clock_mono_ms() > deadline)
			FAIL("pid %d of the node is still running %d ms later", (int)left,
			     timeout_ms);
		ck_test_sleep_ms(POLL_MS);
	}
}

static int count_substr(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* No process of the node reported a sanitizer error (ASan/UBSan builds). */
static void assert_no_sanitizer_report(void)
{
	char line[512];

	if (ck_test_sanitizer_report(T.log, line, sizeof(line)))
		FAIL("sanitizer report in the node log: %s", line);
}

static void stop_node_ok(void)
{
	int status;

	ck_assert_int_eq(kill(T.sup, SIGTERM), 0);
	status = wait_sup_exit(STOP_TIMEOUT_MS);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("supervisor did not exit 0 after SIGTERM (status 0x%x)", status);
	assert_all_gone(5000);
	assert_no_sanitizer_report();
}

/* Kills child I with SIGKILL and waits until it is ready again with a new
 * pid. Returns the milliseconds that took; the new status goes to *RET. */
static uint64_t kill_child_until_ready(int i, reply_t **ret)
{
	reply_t *before = node_status();
	pid_t old;
	uint64_t t0;

	ck_assert_ptr_nonnull(before);
	old = child_of(before, i)->pid;
	ck_assert_int_gt(old, 0);
	chronik__control__control_reply__free_unpacked(before, NULL);
	t0 = ck_clock_mono_ms();
	ck_assert_int_eq(kill(old, SIGKILL), 0);
	for (;;) {
		reply_t *r = node_status();

		if (r && child_of(r, i)->pid != old && child_of(r, i)->pid > 0 &&
		    !strcmp(child_of(r, i)->state, "ready")) {
			*ret = r;
			return ck_clock_mono_ms() - t0;
		}
		if (r)
			chronik__control__control_reply__free_unpacked(r, NULL);
		if (sup_exited())
			FAIL("supervisor exited (status 0x%x) after killing %s", T.sup_status,
			     child_names[i]);
		if (ck_clock_mono_ms() - t0 > START_TIMEOUT_MS)
			FAIL("%s not ready again within %d ms", child_names[i], START_TIMEOUT_MS);
		ck_test_sleep_ms(POLL_MS / 2);
	}
}

/* (1) A node started on free ports lists four ready children, through the
 * control socket and through `chronik-server status` (text and JSON). */
START_TEST(test_start_and_status)
{
	const char *text_args[] = {"status", "--config", T.config, NULL};
	const char *json_args[] = {"status", "--config", T.config, "--json", NULL};
	const char *version_args[] = {"version", NULL};
	char out[16384];
	reply_t *r = node_start(&default_settings);

	ck_assert_int_eq(r->status->supervisor_pid, T.sup);
	ck_assert_int_eq(r->status->node_id, 1);
	for (int i = 0; i < NCHILD; i++) {
		ck_assert_uint_eq(child_of(r, i)->restarts, 0);
	}
	/* Every child reports what it serves (STATUS= with READY=1, at once). */
	for (int i = 0; i < NCHILD; i++) {
		ck_assert_msg(child_of(r, i)->status_text[0] != '\0', "no status text of %s",
		              child_names[i]);
	}
	chronik__control__control_reply__free_unpacked(r, NULL);

	ck_assert_int_eq(run_cli(text_args, out, sizeof(out)), 0);
	for (int i = 0; i < NCHILD; i++)
		ck_assert_msg(strstr(out, child_names[i]), "no %s in:\n%s", child_names[i], out);
	ck_assert_msg(count_substr(out, " ready ") == NCHILD, "not 4 ready children:\n%s", out);
	ck_assert_int_eq(run_cli(json_args, out, sizeof(out)), 0);
	ck_assert_msg(count_substr(out, "\"state\":\"ready\"") == NCHILD, "json:\n%s", out);
	ck_assert_msg(out[0] == '{', "json does not start with an object:\n%s", out);
	ck_assert_int_eq(run_cli(version_args, out, sizeof(out)), 0);
	ck_assert_msg(!strncmp(out, "chronik-server ", 15), "version: %s", out);
	stop_node_ok();
	/* Every child stopped cleanly on SIGTERM. */
	for (int i = 0; i < NCHILD; i++) {
		char line[128];

		snprintf(line, sizeof(line), "child %s exited with status 0", child_names[i]);
		if (!ck_test_file_contains(T.log, line))
			FAIL("no '%s' in the log", line);
	}
	if (ck_test_file_contains(T.log, "not a clean exit"))
		FAIL("a clean stop logged a child's exit as unclean");
}
END_TEST

/* (2) kill -9 of each child: ready again within 1 s with a new pid and
 * restarts=1, while its siblings keep their pids. */
START_TEST(test_kill_each_child)
{
	reply_t *r0 = node_start(&default_settings), *r;
	pid_t pids[NCHILD];

	for (int i = 0; i < NCHILD; i++)
		pids[i] = child_of(r0, i)->pid;
	chronik__control__control_reply__free_unpacked(r0, NULL);
	for (int i = 0; i < NCHILD; i++) {
		uint64_t ms = kill_child_until_ready(i, &r);

		if (ms > 1000)
			FAIL("%s took %llu ms to be ready again", child_names[i],
			     (unsigned long long)ms);
		ck_assert_uint_eq(child_of(r, i)->restarts, 1);
		ck_assert_msg(strstr(child_of(r, i)->last_exit, "signal 9"), "last exit: %s",
		              child_of(r, i)->last_exit);
		for (int k = 0; k < NCHILD; k++) {
			if (k == i)
				continue;
			ck_assert_msg(child_of(r, k)->pid == pids[k],
			              "%s changed pid %d -> %d when %s was killed", child_names[k],
			              pids[k], child_of(r, k)->pid, child_names[i]);
			ck_assert_str_eq(child_of(r, k)->state, "ready");
		}
		pids[i] = child_of(r, i)->pid;
		chronik__control__control_reply__free_unpacked(r, NULL);
	}
	stop_node_ok();
}
END_TEST

/* (2) 20 kills in a row of one child are survived (burst 50). */
START_TEST(test_twenty_kills)
{
	settings_t s = default_settings;
	reply_t *r = NULL;

	s.backoff_max_ms = 200;
	s.burst = 50;
	chronik__control__control_reply__free_unpacked(node_start(&s), NULL);
	for (int n = 1; n <= 20; n++) {
		(void)kill_child_until_ready(2, &r);
		ck_assert_uint_eq(child_of(r, 2)->restarts, (unsigned)n);
		chronik__control__control_reply__free_unpacked(r, NULL);
	}
	r = wait_all_ready(START_TIMEOUT_MS);
	ck_assert_uint_eq(child_of(r, 2)->restarts, 20);
	ck_assert_uint_eq(child_of(r, 0)->restarts, 0);
	chronik__control__control_reply__free_unpacked(r, NULL);
	ck_assert(!sup_exited());
	stop_node_ok();
}
END_TEST

/* (3) SIGTERM: exit 0 and nothing of the node left, including processes
 * of an earlier restart; afterwards status says no node runs. */
START_TEST(test_sigterm_leaves_nothing)
{
	const char *args[] = {"status", "--config", T.config, NULL};
	char out[4096];
	reply_t *r;

	chronik__control__control_reply__free_unpacked(node_start(&default_settings), NULL);
	(void)kill_child_until_ready(1, &r);
	chronik__control__control_reply__free_unpacked(r, NULL);
	stop_node_ok();
	ck_assert_int_eq(run_cli(args, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "no node is running"), "status output: %s", out);
	ck_assert_msg(access(T.control, F_OK) < 0, "control socket left behind");
}
END_TEST

/* (4) A second supervisor on the same data dir refuses, clearly, and does
 * not disturb the first. */
START_TEST(test_second_supervisor_refuses)
{
	const char *args[] = {"start", "--config", T.config, NULL};
	char out[4096], pid[32];
	reply_t *r0 = node_start(&default_settings), *r1;

	ck_assert_int_eq(run_cli(args, out, sizeof(out)), 2);
	ck_assert_msg(strstr(out, "in use by another chronik-server"), "output: %s", out);
	snprintf(pid, sizeof(pid), "pid %d", (int)T.sup);
	ck_assert_msg(strstr(out, pid), "output does not name %s: %s", pid, out);
	r1 = wait_all_ready(START_TIMEOUT_MS);
	for (int i = 0; i < NCHILD; i++)
		ck_assert_int_eq(child_of(r1, i)->pid, child_of(r0, i)->pid);
	chronik__control__control_reply__free_unpacked(r0, NULL);
	chronik__control__control_reply__free_unpacked(r1, NULL);
	stop_node_ok();
}
END_TEST

/* (5) More crashes than restart_burst within the window: exit 1, nothing
 * left, and the reason on stderr. */
START_TEST(test_burst_exceeded)
{
	settings_t s = default_settings;
	reply_t *r;
	int status;

	s.backoff_initial_ms = 10;
	s.backoff_max_ms = 50;
	s.burst = 3;
	chronik__control__control_reply__free_unpacked(node_start(&s), NULL);
	for (int n = 0; n < 3; n++) {
		(void)kill_child_until_ready(1, &r);
		chronik__control__control_reply__free_unpacked(r, NULL);
	}
	r = node_status();
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(kill(child_of(r, 1)->pid, SIGKILL), 0);
	chronik__control__control_reply__free_unpacked(r, NULL);
	status = wait_sup_exit(STOP_TIMEOUT_MS);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 1)
		FAIL("supervisor status 0x%x, expected exit 1", status);
	assert_all_gone(5000);
	ck_assert_msg(ck_test_file_contains(T.log, "raftd crashed 4 times"),
	              "no burst reason in log");
}
END_TEST

/* (5) A child exiting with status 2 (here: a configuration error only the
 * child sees, injected by its wrapper) stops the node with exit 2 and the
 * child's reason. */
START_TEST(test_child_fatal_stops_node)
{
	settings_t s = default_settings;
	int status;

	use_wrapper(&s, "replicator", "bad-profile.sh",
	            "#!/bin/sh\nCHRONIK_WAL_PROFILE=bogus exec \"$@\"\n");
	node_launch(&s, NULL);
	status = wait_sup_exit(START_TIMEOUT_MS);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 2)
		FAIL("supervisor status 0x%x, expected exit 2", status);
	assert_all_gone(5000);
	ck_assert_msg(ck_test_file_contains(T.log, "node stopped: child replicator failed fatally: "
	                                           "exited with status 2"),
	              "no fatal reason in log");
	ck_assert_msg(ck_test_file_contains(T.log, "unknown profile"),
	              "child's reason not printed");
}
END_TEST

/* Receives notify datagrams on FD until one from PID holds KEY=1 or the
 * timeout passes. */
static bool notify_wait(int fd, pid_t pid, const char *key, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	char buf[4096], v[16];
	pid_t sender;

	while (ck_clock_mono_ms() < deadline) {
		int n = ck_notify_recv(fd, buf, sizeof(buf), &sender);

		if (n == -EAGAIN) {
			ck_test_sleep_ms(POLL_MS / 2);
			continue;
		}
		ck_assert_int_ge(n, 0);
		if (sender == pid && ck_notify_field(buf, key, v, sizeof(v)) && !strcmp(v, "1"))
			return true;
		if (sup_exited())
			return false;
	}
	return false;
}

/* (6) With NOTIFY_SOCKET set, the supervisor reports READY=1 once every
 * child is ready, pings WATCHDOG=1, and says STOPPING=1 on SIGTERM. */
START_TEST(test_notify_ready_and_watchdog)
{
	char path[400], env_sock[440];
	const char *env[] = {env_sock, "WATCHDOG_USEC=400000", "WATCHDOG_PID=self", NULL};
	reply_t *r;
	int fd;

	snprintf(path, sizeof(path), "%s/systemd-notify.sock", T.dir);
	snprintf(env_sock, sizeof(env_sock), "NOTIFY_SOCKET=%s", path);
	ck_assert_int_eq(ck_notify_listen(path, &fd), 0);
	node_launch(&default_settings, env);
	if (!notify_wait(fd, T.sup, "READY", START_TIMEOUT_MS))
		FAIL("no READY=1 from the supervisor");
	r = node_status();
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(all_ready(r), "READY=1 sent before every child was ready");
	chronik__control__control_reply__free_unpacked(r, NULL);
	if (!notify_wait(fd, T.sup, "WATCHDOG", 5000))
		FAIL("no WATCHDOG=1 from the supervisor");
	ck_assert_int_eq(kill(T.sup, SIGTERM), 0);
	if (!notify_wait(fd, T.sup, "STOPPING", STOP_TIMEOUT_MS))
		FAIL("no STOPPING=1 from the supervisor");
	close(fd);
	stop_node_ok();
}
END_TEST

/* (7) kill -9 of the supervisor: every child exits soon after. A new
 * supervisor started at once on the same data dir waits for them (they hold
 * the data dir lock) and then serves. */
START_TEST(test_supervisor_sigkill_no_orphans)
{
	reply_t *r = node_start(&default_settings);
	pid_t old[NCHILD];

	for (int i = 0; i < NCHILD; i++)
		old[i] = child_of(r, i)->pid;
	chronik__control__control_reply__free_unpacked(r, NULL);
	ck_assert_int_eq(kill(T.sup, SIGKILL), 0);
	(void)wait_sup_exit(5000);
	node_start_env(NULL);
	r = wait_all_ready(START_TIMEOUT_MS);
	for (int i = 0; i < NCHILD; i++) {
		ck_assert_int_ne(child_of(r, i)->pid, old[i]);
		reap_all();
		if (pid_alive(old[i]))
			FAIL("old %s (pid %d) still runs next to the new node", child_names[i],
			     (int)old[i]);
	}
	chronik__control__control_reply__free_unpacked(r, NULL);
	ck_assert_int_eq(kill(T.sup, SIGKILL), 0);
	(void)wait_sup_exit(5000);
	assert_all_gone(10000);
}
END_TEST

/* kill -9 of the supervisor and a start at once, as a restart script does:
 * the old one is not gone yet (here a zombie nobody reaped); the new one
 * waits for it rather than calling the data dir busy (exit 2). */
START_TEST(test_start_right_after_sigkill)
{
	reply_t *r = node_start(&default_settings);
	pid_t old = T.sup;

	chronik__control__control_reply__free_unpacked(r, NULL);
	ck_assert_int_eq(kill(old, SIGKILL), 0);
	node_start_env(NULL);
	r = wait_all_ready(START_TIMEOUT_MS);
	chronik__control__control_reply__free_unpacked(r, NULL);
	ck_assert_int_ne(T.sup, old);
	stop_node_ok();
}
END_TEST

/* (8) The [wrapper] command runs the child: it records that it ran, with
 * the child's arguments, and execs it, so its pid is the child's. */
START_TEST(test_wrapper_is_used)
{
	settings_t s = default_settings;
	char script[1024], record[400], buf[4096], want[64];
	reply_t *r;
	int fd;
	ssize_t n;

	snprintf(record, sizeof(record), "%s/wrapper.ran", T.dir);
	snprintf(script, sizeof(script), "#!/bin/sh\necho \"$$ $*\" >> '%s'\nexec \"$@\"\n",
	         record);
	use_wrapper(&s, "kafka-frontend", "wrap.sh", script);
	r = node_start(&s);
	fd = open(record, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "the wrapper did not run");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%d ", child_of(r, 3)->pid);
	ck_assert_msg(!strncmp(buf, want, strlen(want)), "wrapper pid line '%s', child pid %d", buf,
	              child_of(r, 3)->pid);
	ck_assert_msg(strstr(buf, "chronik-kafka-frontend") && strstr(buf, "--data-dir"),
	              "wrapper arguments: %s", buf);
	ck_assert_int_eq(count_substr(buf, "\n"), 1);
	chronik__control__control_reply__free_unpacked(r, NULL);
	stop_node_ok();
}
END_TEST

/* The value of NAME in process PID's environment, as it was exec'd, into
 * OUT ("" when absent). */
static void proc_env(pid_t pid, const char *name, char *out, size_t out_len)
{
	char path[64], *env;
	size_t len, nlen = strlen(name);

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	env = ck_test_read_text(path, &len);
	ck_assert_msg(len > 0, "cannot read %s", path);
	out[0] = '\0';
	for (char *e = env; e < env + len; e += strlen(e) + 1) {
		if (!strncmp(e, name, nlen) && e[nlen] == '=') {
			snprintf(out, out_len, "%s", e + nlen + 1);
			break;
		}
	}
	free(env);
}

/* Every child gets glibc's huge-page heap and single arena unless the
 * operator set GLIBC_TUNABLES, which is then passed on as it is; and runs
 * under SCHED_BATCH unless [supervisor] sched_batch is false or the node
 * was started under another policy than SCHED_OTHER (then it keeps that
 * one, as this test's own). */
START_TEST(test_child_tunables)
{
	static const char *const own[] = {"GLIBC_TUNABLES=glibc.malloc.check=0",
	                                  "CHRONIK_SUPERVISOR_SCHED_BATCH=false", NULL};
	const int own_policy = sched_getscheduler(0);
	const int batch = own_policy == SCHED_OTHER ? SCHED_BATCH : own_policy;
	char val[512];
	reply_t *r = node_start(&default_settings);

	for (int i = 0; i < NCHILD; i++) {
		proc_env(child_of(r, i)->pid, "GLIBC_TUNABLES", val, sizeof(val));
		ck_assert_msg(strstr(val, "glibc.malloc.hugetlb=1"), "%s: GLIBC_TUNABLES='%s'",
		              child_names[i], val);
		ck_assert_msg(sched_getscheduler(child_of(r, i)->pid) == batch,
		              "%s: policy %d, not %d", child_names[i],
		              sched_getscheduler(child_of(r, i)->pid), batch);
	}
	chronik__control__control_reply__free_unpacked(r, NULL);
	stop_node_ok();

	node_launch(&default_settings, own);
	r = wait_all_ready(START_TIMEOUT_MS);
	for (int i = 0; i < NCHILD; i++) {
		proc_env(child_of(r, i)->pid, "GLIBC_TUNABLES", val, sizeof(val));
		ck_assert_msg(!strcmp(val, "glibc.malloc.check=0"), "%s: GLIBC_TUNABLES='%s'",
		              child_names[i], val);
		ck_assert_msg(sched_getscheduler(child_of(r, i)->pid) == own_policy,
		              "%s: policy %d, not %d (this test's own)", child_names[i],
		              sched_getscheduler(child_of(r, i)->pid), own_policy);
	}
	chronik__control__control_reply__free_unpacked(r, NULL);
	stop_node_ok();
}
END_TEST

/* A bad configuration names file, line and key and exits 2 before
 * anything starts; so does a child binary that cannot be found. */
START_TEST(test_bad_config_and_missing_binary)
{
	const char *args[] = {"start", "--config", T.config, NULL};
	char out[4096], text[512];

	snprintf(text, sizeof(text),
	         "[node]\ndata_dir = \"%s/data\"\n[supervisor]\n"
	         "restart_burst = lots\n",
	         T.dir);
	write_file(T.config, text, 0644);
	ck_assert_int_eq(run_cli(args, out, sizeof(out)), 2);
	ck_assert_msg(strstr(out, "cluster.toml:4") && strstr(out, "restart_burst"),
	              "error does not name file:line and key: %s", out);
	ck_assert_msg(access(T.control, F_OK) < 0, "a node started anyway");

	node_config(&default_settings);
	ck_assert_int_eq(setenv("CHRONIK_LIBEXEC_DIR", T.dir, 1), 0);
	ck_assert_int_eq(run_cli(args, out, sizeof(out)), 2);
	ck_assert_int_eq(unsetenv("CHRONIK_LIBEXEC_DIR"), 0);
	ck_assert_msg(strstr(out, "cannot find chronik-walwriter"), "output: %s", out);
}
END_TEST

/* --data-dir and --node-id override the file, for the supervisor and for
 * the children it passes them to. */
START_TEST(test_flags_override_config)
{
	char other[280];
	const char *args[] = {"status", "--config", T.config, "--data-dir", other, "--json", NULL};
	char out[16384];
	reply_t *r;

	snprintf(other, sizeof(other), "%s/other", T.dir);
	snprintf(T.control, sizeof(T.control), "%s/run/control.sock", other);
	T.extra_args[0] = "--data-dir";
	T.extra_args[1] = other;
	T.extra_args[2] = "--node-id";
	T.extra_args[3] = "7";
	r = node_start(&default_settings);
	ck_assert_int_eq(r->status->node_id, 7);
	ck_assert_str_eq(r->status->data_dir, other);
	chronik__control__control_reply__free_unpacked(r, NULL);
	ck_assert_int_eq(run_cli(args, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "\"node_id\":7"), "status: %s", out);
	ck_assert_msg(ck_test_file_contains(T.log, "ready node_id=7"),
	              "children not given --node-id 7");
	stop_node_ok();
}
END_TEST

/* A child that never reports READY=1 is stopped after ready_timeout_ms and
 * restarted; the children after it are not started meanwhile. */
START_TEST(test_ready_timeout_holds_start_order)
{
	settings_t s = default_settings;
	uint64_t deadline;
	reply_t *r = NULL;

	use_wrapper(&s, "raftd", "never-ready.sh", "#!/bin/sh\nexec sleep 600\n");
	s.ready_timeout_ms = 300;
	s.stop_timeout_ms = 1000;
	node_launch(&s, NULL);
	deadline = ck_clock_mono_ms() + START_TIMEOUT_MS;
	for (;;) {
		r = node_status();
		ck_assert_ptr_nonnull(r);
		if (child_of(r, 1)->restarts >= 2)
			break;
		chronik__control__control_reply__free_unpacked(r, NULL);
		if (ck_clock_mono_ms() > deadline)
			FAIL("raftd was not restarted twice for its ready timeout");
		ck_test_sleep_ms(POLL_MS);
	}
	ck_assert_str_eq(child_of(r, 0)->state, "ready");
	ck_assert_msg(strstr(child_of(r, 1)->last_exit, "signal 15"), "raftd last exit: %s",
	              child_of(r, 1)->last_exit);
	for (int i = 2; i < NCHILD; i++) {
		ck_assert_str_eq(child_of(r, i)->state, "stopped");
		ck_assert_int_eq(child_of(r, i)->pid, 0);
	}
	chronik__control__control_reply__free_unpacked(r, NULL);
	ck_assert_msg(ck_test_file_contains(T.log, "not ready within 300 ms"), "no timeout in log");
	stop_node_ok();
}
END_TEST

/* A child that takes longer than ready_timeout_ms to start but says it
 * makes progress (EXTEND_TIMEOUT_USEC, as walwriter does during a long
 * recovery) is waited for: its wrapper asks for 1.5 s more every 0.3 s for
 * 3 s against a timeout of 1 s, and the node becomes ready without a
 * restart; without the messages it is stopped at its timeout (above). */
START_TEST(test_extend_timeout_waits)
{
	settings_t s = default_settings;
	uint64_t deadline;
	reply_t *r = NULL;

	use_wrapper(&s, "raftd", "slow-start.sh",
	            "#!/bin/sh\n"
	            "/usr/bin/python3 -c '\n"
	            "import os, socket, time\n"
	            "a = os.environ[\"NOTIFY_SOCKET\"]\n"
	            "a = \"\\0\" + a[1:] if a.startswith(\"@\") else a\n"
	            "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
	            "for i in range(10):\n"
	            "    s.sendto(b\"EXTEND_TIMEOUT_USEC=1500000\", a)\n"
	            "    time.sleep(0.3)\n"
	            "'\n"
	            "exec \"$@\"\n");
	s.ready_timeout_ms = 1000;
	node_launch(&s, NULL);
	deadline = ck_clock_mono_ms() + START_TIMEOUT_MS;
	for (;;) {
		r = node_status();
		ck_assert_ptr_nonnull(r);
		if (all_ready(r))
			break;
		chronik__control__control_reply__free_unpacked(r, NULL);
		if (ck_clock_mono_ms() > deadline)
			FAIL("the node did not become ready");
		ck_test_sleep_ms(POLL_MS);
	}
	ck_assert_int_eq(child_of(r, 1)->restarts, 0);
	chronik__control__control_reply__free_unpacked(r, NULL);
	ck_assert_msg(!ck_test_file_contains(T.log, "not ready within"), "a ready timeout fired");
	stop_node_ok();
}
END_TEST

/* A child that ignores SIGTERM is killed after stop_timeout_ms (a warning
 * that names the unclean exit); the node still stops with 0 and leaves
 * nothing. */
START_TEST(test_stop_timeout_kills)
{
	settings_t s = default_settings;
	static const char script[] =
	    "#!/usr/bin/python3\n"
	    "import os, signal, socket, time\n"
	    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
	    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
	    "s.sendto(b'READY=1\\nSTATUS=deaf to SIGTERM', os.environ['NOTIFY_SOCKET'])\n"
	    "time.sleep(600)\n";

	use_wrapper(&s, "kafka-frontend", "deaf.py", script);
	s.stop_timeout_ms = 500;
	chronik__control__control_reply__free_unpacked(node_start(&s), NULL);
	stop_node_ok();
	ck_assert_msg(ck_test_file_contains(T.log, "kafka-frontend did not stop within 500 ms"),
	              "no stop timeout in log");
	ck_assert_msg(ck_test_file_contains(T.log, "kafka-frontend killed by signal 9"),
	              "kafka-frontend not killed");
	ck_assert_msg(ck_test_file_contains(T.log,
	                                    "warn supervisor: child kafka-frontend killed by "
	                                    "signal 9 (SIGKILL) pid="),
	              "the kill at the stop timeout is not a warning");
	ck_assert_msg(ck_test_file_contains(T.log, "(while stopping: not a clean exit)"),
	              "the kill at the stop timeout is not called unclean");
}
END_TEST

/* SIGHUP is forwarded to the children for log reopening: nobody dies. */
START_TEST(test_sighup_keeps_children)
{
	reply_t *r0 = node_start(&default_settings), *r1;

	ck_assert_int_eq(kill(T.sup, SIGHUP), 0);
	ck_test_sleep_ms(500);
	r1 = wait_all_ready(START_TIMEOUT_MS);
	for (int i = 0; i < NCHILD; i++) {
		ck_assert_msg(child_of(r1, i)->pid == child_of(r0, i)->pid,
		              "%s restarted after SIGHUP (%s)", child_names[i],
		              child_of(r1, i)->last_exit);
		ck_assert_uint_eq(child_of(r1, i)->restarts, 0);
	}
	chronik__control__control_reply__free_unpacked(r0, NULL);
	chronik__control__control_reply__free_unpacked(r1, NULL);
	stop_node_ok();
}
END_TEST

static Suite *node_suite(void)
{
	Suite *s = suite_create("node");
	TCase *tc = tcase_create("node");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_start_and_status);
	tcase_add_test(tc, test_kill_each_child);
	tcase_add_test(tc, test_twenty_kills);
	tcase_add_test(tc, test_sigterm_leaves_nothing);
	tcase_add_test(tc, test_second_supervisor_refuses);
	tcase_add_test(tc, test_burst_exceeded);
	tcase_add_test(tc, test_child_fatal_stops_node);
	tcase_add_test(tc, test_notify_ready_and_watchdog);
	tcase_add_test(tc, test_supervisor_sigkill_no_orphans);
	tcase_add_test(tc, test_start_right_after_sigkill);
	tcase_add_test(tc, test_wrapper_is_used);
	tcase_add_test(tc, test_child_tunables);
	tcase_add_test(tc, test_sighup_keeps_children);
	tcase_add_test(tc, test_bad_config_and_missing_binary);
	tcase_add_test(tc, test_flags_override_config);
	tcase_add_test(tc, test_ready_timeout_holds_start_order);
	tcase_add_test(tc, test_extend_timeout_waits);
	tcase_add_test(tc, test_stop_timeout_kills);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(node_suite());
}
