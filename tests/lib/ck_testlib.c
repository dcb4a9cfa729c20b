/*
 * ck_testlib.c: helpers every chronik test binary shares (ck_testlib.h).
 * Test code only. Waits and stops only the child pids it is given.
 */
#include "ck_testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_listen.h"

extern char **environ;

/* The root of the current test case's temp dirs ("" without a fixture). */
static char ck_test_root[64];

/* ---- temporary directories ---- */

static int ck_test_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int ck_test_rmtree(const char *dir)
{
	if (!dir || !dir[0])
		return 0;
	return nftw(dir, ck_test_rm_cb, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

bool ck_test_keep(void)
{
	const char *k = getenv("CHRONIK_TEST_KEEP");

	return k && k[0] == '1';
}

static void ck_test_root_setup(void)
{
	snprintf(ck_test_root, sizeof(ck_test_root), "/tmp/ck-test-XXXXXX");
	if (!mkdtemp(ck_test_root)) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
}

static void ck_test_root_teardown(void)
{
	if (!ck_test_keep())
		(void)ck_test_rmtree(ck_test_root);
	ck_test_root[0] = '\0';
}

void ck_test_add_root(TCase *tc)
{
	tcase_add_unchecked_fixture(tc, ck_test_root_setup, ck_test_root_teardown);
}

void ck_test_mkdtemp(char *buf, size_t len, const char *tag)
{
	int n;

	if (ck_test_root[0])
		n = snprintf(buf, len, "%s/%s-XXXXXX", ck_test_root, tag);
	else
		n = snprintf(buf, len, "/tmp/ck-test-%s-XXXXXX", tag);
	ck_assert_msg(n > 0 && (size_t)n < len, "temp dir name too long for tag %s", tag);
	ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp %s: %s", buf, strerror(errno));
}

/* ---- environment ---- */

int ck_test_env_clear_except(const char *keep)
{
	size_t keep_len = keep ? strlen(keep) : 0;

	for (char **e = environ; *e;) {
		char name[256];
		size_t n = strcspn(*e, "=");

		if (strncmp(*e, "CHRONIK_", 8) || n >= sizeof(name) ||
		    (keep && n == keep_len && !strncmp(*e, keep, n))) {
			e++;
			continue;
		}
		memcpy(name, *e, n);
		name[n] = '\0';
		if (unsetenv(name) < 0)
			return -errno;
		e = environ; /* unsetenv() may have moved the entries */
	}
	return 0;
}

void ck_test_env_clear(void)
{
	ck_assert_int_eq(ck_test_env_clear_except(NULL), 0);
}

/* ---- files ---- */

void ck_test_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

int ck_test_read_file(const char *path, ck_buf_t *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t tmp[65536];
	ssize_t n;

	if (fd < 0)
		return -errno;
	ck_buf_reset(out);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		ck_assert_int_eq(ck_buf_append(out, tmp, (size_t)n), 0);
	close(fd);
	return 0;
}

char *ck_test_read_text(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, *grown;
	size_t len = 0, cap = 0, n;
	char tmp[65536];

	while (f && (n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			grown = realloc(buf, cap);
			if (!grown)
				abort();
			buf = grown;
		}
		memcpy(buf + len, tmp, n);
		len += n;
	}
	if (f)
		fclose(f);
	if (!buf && !(buf = calloc(1, 1)))
		abort();
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return buf;
}

bool ck_test_file_contains(const char *path, const char *needle)
{
	char *text = ck_test_read_text(path, NULL);
	bool found = strstr(text, needle) != NULL;

	free(text);
	return found;
}

bool ck_test_sanitizer_report(const char *path, char *buf, size_t len)
{
	/* The sanitizers' reports, and ck_meta's nested read transaction
	 * (a sanitized build aborts on it). */
	static const char *const marks[] = {
	    "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
	    ": runtime error: ", "nested metadata read transaction"};
	char *text = ck_test_read_text(path, NULL);
	const char *hit = NULL;

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]) && !hit; i++)
		hit = strstr(text, marks[i]);
	if (hit) {
		const char *start = hit, *end = strchr(hit, '\n');

		while (start > text && start[-1] != '\n')
			start--;
		snprintf(buf, len, "%.*s", (int)(end ? end - start : (ptrdiff_t)strlen(start)),
		         start);
	}
	free(text);
	return hit != NULL;
}

int64_t ck_test_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* ---- processes ---- */

int ck_test_free_port(void)
{
	/* The ports handed out lately: a caller picks several before any
	 * server binds them, and they must differ. */
	static int recent[64];
	static unsigned next;
	int port = 0;

	for (int tries = 0; tries < 100; tries++) {
		bool seen = false;

		ck_assert_int_eq(ck_free_ports(&port, 1), 0);
		for (size_t i = 0; i < sizeof(recent) / sizeof(recent[0]); i++)
			seen |= recent[i] == port;
		if (!seen)
			break;
	}
	recent[next++ % (sizeof(recent) / sizeof(recent[0]))] = port;
	return port;
}

void ck_test_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int ck_test_exit_code(int wait_status)
{
	if (WIFEXITED(wait_status))
		return WEXITSTATUS(wait_status);
	if (WIFSIGNALED(wait_status))
		return 128 + WTERMSIG(wait_status);
	return -1;
}

int ck_test_wait_pid(pid_t pid, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	int st;

	if (pid <= 0)
		return -1;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return ck_test_exit_code(st);
		if ((r < 0 && errno != EINTR) || ck_clock_mono_ms() >= deadline)
			return -1;
		ck_test_sleep_ms(2);
	}
}

int ck_test_stop_pid(pid_t pid, int sig, int timeout_ms)
{
	int r;

	if (pid <= 0)
		return -1;
	(void)kill(pid, sig);
	r = ck_test_wait_pid(pid, timeout_ms);
	if (r < 0) {
		(void)kill(pid, SIGKILL);
		r = ck_test_wait_pid(pid, 10000);
	}
	return r;
}

/* ---- running a suite ---- */

int ck_test_run_mode(Suite *s, enum fork_status mode)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_set_fork_status(sr, mode);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int ck_test_run(Suite *s)
{
	return ck_test_run_mode(s, CK_FORK_GETENV);
}
