/*
 * ck_testlib.h: helpers every chronik test binary shares (tests/lib/,
 * meson dependency ck_testlib_dep): temporary directories removed on
 * teardown, CHRONIK_* environment cleanup, small file helpers, child
 * processes waited for with a deadline, and running a check suite.
 *
 * Temporary directories: ck_test_add_root() gives a test case one root
 * directory (/tmp/ck-test-XXXXXX), made and removed by the parent process
 * as an unchecked fixture, so it goes away even when a forked test fails
 * before its own teardown; ck_test_mkdtemp() makes fresh directories under
 * it (or directly under /tmp without one). CHRONIK_TEST_KEEP=1 keeps the
 * root for a look.
 * Functions that may run in a forked child before exec (ck_test_rmtree,
 * ck_test_env_clear_except, ck_test_sleep_ms, ck_test_read_text,
 * ck_test_wait_pid) never use check's assertions; the others do.
 * Test code only; nothing a production binary links.
 */
#ifndef CK_TESTLIB_H
#define CK_TESTLIB_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ck_buf.h"

/* Removes DIR and everything below it. Returns 0, or -1 when something
 * could not be removed. NULL or "" is fine (0). */
int ck_test_rmtree(const char *dir);

/* Whether CHRONIK_TEST_KEEP=1 asks to keep temporary directories. */
bool ck_test_keep(void);

/* Adds the root-directory fixture to TC (see above). */
void ck_test_add_root(TCase *tc);

/* Creates a fresh directory "<root>/TAG-XXXXXX" (or "/tmp/ck-test-TAG-XXXXXX"
 * outside a root fixture) into BUF; asserts success. LEN >= 64 leaves room
 * for a tag of up to 24 bytes. */
void ck_test_mkdtemp(char *buf, size_t len, const char *tag);

/* Unsets every CHRONIK_* variable except the one named KEEP (NULL: none).
 * Returns 0 or -errno. */
int ck_test_env_clear_except(const char *keep);
/* Unsets every CHRONIK_* variable, so a developer's shell settings cannot
 * change a result; asserts success. */
void ck_test_env_clear(void);

/* Writes LEN bytes of DATA to PATH (created or truncated, mode 0644);
 * asserts success. */
void ck_test_write_file(const char *path, const void *data, size_t len);
/* Reads the whole file PATH into OUT (replacing its contents). Returns 0 or
 * -errno. */
int ck_test_read_file(const char *path, ck_buf_t *out);
/* The whole file PATH as a NUL-terminated string (a NUL byte in the file
 * ends it early), "" when it cannot be read; *RET_LEN (may be NULL) gets
 * the bytes read. Free with free(). Aborts when out of memory. */
char *ck_test_read_text(const char *path, size_t *ret_len);
/* Whether the file PATH holds NEEDLE (false when it cannot be read). */
bool ck_test_file_contains(const char *path, const char *needle);
/* Size of PATH in bytes, or -1. */
int64_t ck_test_file_size(const char *path);
/* The first line of a sanitizer report (ASan, LSan, UBSan) in the file
 * PATH, a process's stderr, into BUF; false when there is none. */
bool ck_test_sanitizer_report(const char *path, char *buf, size_t len);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
 * closed): someone else may take it before the caller binds it. Asserts
 * success. */
int ck_test_free_port(void);

/* Sleeps MS milliseconds (restarting after signals). */
void ck_test_sleep_ms(int ms);

/* A wait status as one number: the exit status, 128 + the signal for a
 * death by signal, -1 otherwise. */
int ck_test_exit_code(int wait_status);
/* Waits up to TIMEOUT_MS for child PID to exit. Returns its
 * ck_test_exit_code(), or -1 when it is still running (or not our child). */
int ck_test_wait_pid(pid_t pid, int timeout_ms);
/* Sends SIG to child PID and waits up to TIMEOUT_MS, then SIGKILLs it and
 * waits up to 10 s more. Returns as ck_test_wait_pid(). */
int ck_test_stop_pid(pid_t pid, int sig, int timeout_ms);

/* Runs suite S (check's fork mode from the environment, CK_FORK) and
 * returns the process exit status: EXIT_SUCCESS when every test passed. */
int ck_test_run(Suite *s);
/* The same with an explicit fork mode (CK_FORK for tests that must not
 * share a process whatever CK_FORK says). */
int ck_test_run_mode(Suite *s, enum fork_status mode);

#endif
