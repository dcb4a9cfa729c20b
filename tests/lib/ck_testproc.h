/*
 * ck_testproc.h: one chronik binary of the build tree run as a child of a
 * test (tests/lib/, meson dependency ck_testlib_dep), the way the
 * supervisor or systemd would run it: stderr appended to a log file across
 * restarts, a NOTIFY_SOCKET of its own (READY=1, STATUS=), a clean CHRONIK_*
 * environment plus the test's own variables, optionally sockets passed as
 * LISTEN_FDS/LISTEN_FDNAMES. The child gets PR_SET_PDEATHSIG(SIGKILL), so it
 * never outlives a test that fails half-way; only the pid started here is
 * ever signalled. CHRONIK_TEST_VALGRIND=1 runs it under valgrind memcheck
 * (exit 99 on an error; the report lands in the log).
 * Binaries are found through CHRONIK_BUILD_ROOT (set by meson test).
 * Test code only.
 */
#ifndef CK_TESTPROC_H
#define CK_TESTPROC_H

#include <stdbool.h>
#include <sys/types.h>

#define CK_TEST_PROC_ENV_MAX  32
#define CK_TEST_PROC_FDS_MAX  4
#define CK_TEST_PROC_ARGS_MAX 16

typedef struct {
	char bin[512];     /* the binary's path */
	char logpath[256]; /* its stderr, appended across restarts */
	char notify[256];  /* its NOTIFY_SOCKET */
	int notify_fd;     /* -1 once closed */
	pid_t pid;         /* 0 when not running */
	char *env[CK_TEST_PROC_ENV_MAX];
	int nenv;
	/* Passed on every start: fds[i] becomes fd 3 + i, named names[i]. */
	int fds[CK_TEST_PROC_FDS_MAX];
	char names[CK_TEST_PROC_FDS_MAX][32];
	int nfds;
} ck_test_proc_t;

/* Prepares P to run $CHRONIK_BUILD_ROOT/BIN ("walwriter/chronik-walwriter")
 * with stderr appended to LOGPATH, and binds its notify socket at NOTIFY;
 * asserts success. */
void ck_test_proc_init(ck_test_proc_t *p, const char *bin, const char *logpath, const char *notify);
/* Adds "KEY=VALUE" to the child's environment (copied; for later starts). */
void ck_test_proc_env(ck_test_proc_t *p, const char *kv);
/* Forgets the environment added so far. */
void ck_test_proc_env_clear(ck_test_proc_t *p);
/* Passes FD (the caller keeps its copy) as NAME on later starts. */
void ck_test_proc_pass_fd(ck_test_proc_t *p, int fd, const char *name);

/* Starts the binary with ARGS (NULL-terminated, may be NULL) after its
 * name. Asserts it was not running and the fork worked; an exec failure
 * shows as exit status 127. */
void ck_test_proc_start(ck_test_proc_t *p, const char *const *args);
/* Waits for READY=1 from the child. Returns 0, or -1 when it exited (it is
 * reaped) or the time ran out. */
int ck_test_proc_wait_ready(ck_test_proc_t *p, int timeout_ms);
/* Waits for a notify datagram from the child whose KEY field holds NEEDLE.
 * Returns whether one came within TIMEOUT_MS. */
bool ck_test_proc_wait_notify(ck_test_proc_t *p, const char *key, const char *needle,
                              int timeout_ms);
/* Whether the child still runs (reaps it when not). */
bool ck_test_proc_alive(ck_test_proc_t *p);
/* Waits for the child's exit without signalling. Returns its
 * ck_test_exit_code(), or -1 on timeout (or when not running). */
int ck_test_proc_wait_exit(ck_test_proc_t *p, int timeout_ms);
/* Sends SIG, waits TIMEOUT_MS, then SIGKILL. Returns as
 * ck_test_proc_wait_exit(). */
int ck_test_proc_stop(ck_test_proc_t *p, int sig, int timeout_ms);
/* Kills a running child, closes the notify socket and frees the
 * environment. Safe to call twice. */
void ck_test_proc_cleanup(ck_test_proc_t *p);

#endif
