/*
 * ck_testproc.c: a chronik binary run as a child of a test (ck_testproc.h).
 * Test code only. Signals and reaps only the pid it forked itself.
 */
#include "ck_testproc.h"

#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_notify.h"
#include "ck_testlib.h"

void ck_test_proc_init(ck_test_proc_t *p, const char *bin, const char *logpath, const char *notify)
{
	const char *root = getenv("CHRONIK_BUILD_ROOT");

	memset(p, 0, sizeof(*p));
	p->notify_fd = -1;
	ck_assert_msg(root != NULL, "CHRONIK_BUILD_ROOT is not set");
	snprintf(p->bin, sizeof(p->bin), "%s/%s", root, bin);
	snprintf(p->logpath, sizeof(p->logpath), "%s", logpath);
	snprintf(p->notify, sizeof(p->notify), "%s", notify);
	ck_assert_int_eq(ck_notify_listen(p->notify, &p->notify_fd), 0);
}

void ck_test_proc_env(ck_test_proc_t *p, const char *kv)
{
	ck_assert_int_lt(p->nenv, CK_TEST_PROC_ENV_MAX);
	p->env[p->nenv] = strdup(kv);
	ck_assert_ptr_nonnull(p->env[p->nenv]);
	p->nenv++;
}

void ck_test_proc_env_clear(ck_test_proc_t *p)
{
	for (int i = 0; i < p->nenv; i++)
		free(p->env[i]);
	p->nenv = 0;
}

void ck_test_proc_pass_fd(ck_test_proc_t *p, int fd, const char *name)
{
	ck_assert_int_lt(p->nfds, CK_TEST_PROC_FDS_MAX);
	ck_assert_uint_lt(strlen(name), sizeof(p->names[0]));
	p->fds[p->nfds] = fd;
	snprintf(p->names[p->nfds], sizeof(p->names[0]), "%s", name);
	p->nfds++;
}

/* In the child: the passed fds at 3.. with systemd's variables. */
static int ck_test_proc_place_fds(const ck_test_proc_t *p)
{
	char names[CK_TEST_PROC_FDS_MAX * 33] = "", num[32];
	int moved[CK_TEST_PROC_FDS_MAX];

	/* Out of the way first: any of them may already sit at 3.. */
	for (int i = 0; i < p->nfds; i++) {
		moved[i] = fcntl(p->fds[i], F_DUPFD, 100);
		if (moved[i] < 0)
			return -1;
	}
	for (int i = 0; i < p->nfds; i++) {
		if (dup2(moved[i], 3 + i) < 0)
			return -1;
		strcat(names, i ? ":" : "");
		strcat(names, p->names[i]);
	}
	snprintf(num, sizeof(num), "%d", (int)getpid());
	(void)setenv("LISTEN_PID", num, 1);
	snprintf(num, sizeof(num), "%d", p->nfds);
	(void)setenv("LISTEN_FDS", num, 1);
	(void)setenv("LISTEN_FDNAMES", names, 1);
	return 0;
}

static void __attribute__((noreturn))
ck_test_proc_child(const ck_test_proc_t *p, pid_t parent, const char *const *args)
{
	const char *argv[CK_TEST_PROC_ARGS_MAX + 6];
	const char *vg = getenv("CHRONIK_TEST_VALGRIND");
	char nenv[300];
	int fd, argc = 0;

	/* Never outlive the test, even when it fails half-way. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	fd = open(p->logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || dup2(fd, 2) < 0)
		_exit(127);
	if (ck_test_env_clear_except("CHRONIK_BUILD_ROOT") < 0)
		_exit(127);
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDNAMES");
	snprintf(nenv, sizeof(nenv), "NOTIFY_SOCKET=%s", p->notify);
	if (putenv(nenv) != 0)
		_exit(127);
	for (int i = 0; i < p->nenv; i++) {
		if (putenv(p->env[i]) != 0)
			_exit(127);
	}
	if (p->nfds > 0 && ck_test_proc_place_fds(p) < 0)
		_exit(127);
	if (vg && vg[0] == '1') {
		argv[argc++] = "valgrind";
		argv[argc++] = "--leak-check=full";
		argv[argc++] = "--errors-for-leak-kinds=definite";
		argv[argc++] = "--error-exitcode=99";
	}
	argv[argc++] = p->bin;
	for (int i = 0; args && args[i] && i < CK_TEST_PROC_ARGS_MAX; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

void ck_test_proc_start(ck_test_proc_t *p, const char *const *args)
{
	pid_t parent = getpid(), pid;

	ck_assert_int_eq(p->pid, 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		ck_test_proc_child(p, parent, args);
	p->pid = pid;
}

bool ck_test_proc_alive(ck_test_proc_t *p)
{
	if (p->pid == 0)
		return false;
	if (waitpid(p->pid, &(int){0}, WNOHANG) == p->pid) {
		p->pid = 0;
		return false;
	}
	return true;
}

/* Receives one datagram from the child into BUF within 20 ms. Returns 1, or
 * 0 when none came (or it came from someone else). */
static int ck_test_proc_recv(ck_test_proc_t *p, char *buf, size_t len)
{
	struct pollfd pfd = {p->notify_fd, POLLIN, 0};
	pid_t from;

	if (poll(&pfd, 1, 20) <= 0 || ck_notify_recv(p->notify_fd, buf, len, &from) <= 0)
		return 0;
	return from == p->pid;
}

int ck_test_proc_wait_ready(ck_test_proc_t *p, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	char buf[1024], val[16];

	while (ck_clock_mono_ms() < deadline) {
		if (ck_test_proc_recv(p, buf, sizeof(buf))) {
			if (ck_notify_field(buf, "READY", val, sizeof(val)) && !strcmp(val, "1"))
				return 0;
			continue;
		}
		if (!ck_test_proc_alive(p))
			return -1;
	}
	return -1;
}

bool ck_test_proc_wait_notify(ck_test_proc_t *p, const char *key, const char *needle,
                              int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	char buf[1024], val[512];

	while (ck_clock_mono_ms() < deadline) {
		if (ck_test_proc_recv(p, buf, sizeof(buf)) &&
		    ck_notify_field(buf, key, val, sizeof(val)) && strstr(val, needle))
			return true;
	}
	return false;
}

int ck_test_proc_wait_exit(ck_test_proc_t *p, int timeout_ms)
{
	int r = ck_test_wait_pid(p->pid, timeout_ms);

	if (r >= 0)
		p->pid = 0;
	return r;
}

int ck_test_proc_stop(ck_test_proc_t *p, int sig, int timeout_ms)
{
	int r = ck_test_stop_pid(p->pid, sig, timeout_ms);

	if (r >= 0)
		p->pid = 0;
	return r;
}

void ck_test_proc_cleanup(ck_test_proc_t *p)
{
	if (p->pid)
		(void)ck_test_proc_stop(p, SIGKILL, 5000);
	if (p->notify_fd > 0) /* 0: a zeroed, never initialised P */
		(void)close(p->notify_fd);
	p->notify_fd = -1;
	ck_test_proc_env_clear(p);
}
