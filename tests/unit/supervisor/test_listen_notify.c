/*
 * test_listen_notify.c: unit tests of the socket-passing and readiness
 * libraries the supervisor and every child rely on (common/ck_listen.c,
 * common/ck_notify.c): taking LISTEN_FDS the way systemd passes them, and a
 * notify datagram's round trip with the sender's pid. Each test runs in its
 * own process (check's fork mode), so environment and fds do not leak
 * between tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "ck_listen.h"
#include "ck_notify.h"
#include "ck_testlib.h"

static char tmpdir[64];

static void setup(void)
{
	ck_test_mkdtemp(tmpdir, sizeof(tmpdir), "listen");
}

static void teardown(void)
{
	ck_assert_int_eq(ck_test_rmtree(tmpdir), 0);
}

/*
 * The LISTEN_FDS tests need fds 3.., where check keeps its own result pipe:
 * they run in a grandchild that reports through its exit status, with
 * EXPECT() in place of ck_assert.
 */
#define EXPECT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);        \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

static void run_isolated(void (*fn)(void))
{
	int status = 0;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "isolated check failed (status 0x%x), see stderr", status);
}

/* Puts a fresh socket at fd TARGET (as a parent would before exec). */
static void place_fd(int target)
{
	int sp[2];

	EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	EXPECT(dup2(sp[0], target) == target);
	if (sp[0] != target)
		close(sp[0]);
	close(sp[1]);
}

static void set_listen_env(const char *pid, const char *fds, const char *names)
{
	char self[32];

	snprintf(self, sizeof(self), "%d", (int)getpid());
	setenv("LISTEN_PID", pid ? pid : self, 1);
	setenv("LISTEN_FDS", fds, 1);
	if (names)
		setenv("LISTEN_FDNAMES", names, 1);
	else
		unsetenv("LISTEN_FDNAMES");
}

static void test_take_by_name_body(void)
{
	place_fd(3);
	place_fd(4);
	place_fd(5);
	set_listen_env(NULL, "3", "raft:raftd:supervisor");
	EXPECT(ck_listen_fds_take() == 3);
	/* Taken once per process; the environment is gone for our children. */
	EXPECT(ck_listen_fds_take() == 3);
	EXPECT(getenv("LISTEN_FDS") == NULL);
	EXPECT(getenv("LISTEN_PID") == NULL);
	EXPECT(getenv("LISTEN_FDNAMES") == NULL);
	EXPECT(ck_listen_fd("raftd") == 4);
	EXPECT(ck_listen_fd("raftd") == -ENOENT);
	EXPECT(ck_listen_fd("raft") == 3);
	EXPECT(ck_listen_fd("kafka") == -ENOENT);
	EXPECT(fcntl(3, F_GETFD) & FD_CLOEXEC);
	EXPECT(fcntl(5, F_GETFD) & FD_CLOEXEC);
}

START_TEST(test_take_by_name)
{
	run_isolated(test_take_by_name_body);
}
END_TEST

static void test_take_other_pid_body(void)
{
	place_fd(3);
	set_listen_env("1", "1", "kafka");
	EXPECT(ck_listen_fds_take() == 0);
	EXPECT(ck_listen_fd("kafka") == -ENOENT);
	/* Not ours: the fd is left alone (still inheritable). */
	EXPECT(!(fcntl(3, F_GETFD) & FD_CLOEXEC));
}

START_TEST(test_take_other_pid)
{
	run_isolated(test_take_other_pid_body);
}
END_TEST

static void test_take_malformed_body(void)
{
	place_fd(3);
	set_listen_env(NULL, "1", "a:b");
	EXPECT(ck_listen_fds_take() == -EINVAL);
	EXPECT(ck_listen_fd("a") == -ENOENT);
}

START_TEST(test_take_malformed)
{
	run_isolated(test_take_malformed_body);
}
END_TEST

static void test_take_closed_fd_body(void)
{
	close(3);
	set_listen_env(NULL, "1", "kafka");
	EXPECT(ck_listen_fds_take() == -EBADF);
}

START_TEST(test_take_closed_fd)
{
	run_isolated(test_take_closed_fd_body);
}
END_TEST

START_TEST(test_take_nothing)
{
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	ck_assert_int_eq(ck_listen_fds_take(), 0);
	ck_assert_int_eq(ck_listen_fd("kafka"), -ENOENT);
}
END_TEST

START_TEST(test_fd_or_bind)
{
	int fd = -1;

	unsetenv("LISTEN_FDS");
	ck_assert_int_eq(ck_listen_fds_take(), 0);
	/* Nothing passed: binds itself (port 0 = any free port). */
	ck_assert_int_eq(ck_listen_fd_or_tcp("kafka", "127.0.0.1:0", 16, &fd), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
	ck_assert_int_eq(ck_tcp_listen("no-port", 16, &fd), -EINVAL);
	ck_assert_int_eq(ck_tcp_listen("[::1:9092", 16, &fd), -EINVAL);
}
END_TEST

static void test_fd_or_bind_passed_body(void)
{
	int fd = -1;

	place_fd(3);
	set_listen_env(NULL, "1", "kafka");
	EXPECT(ck_listen_fds_take() == 1);
	EXPECT(ck_listen_fd_or_tcp("kafka", "127.0.0.1:0", 16, &fd) == 1);
	EXPECT(fd == 3);
}

START_TEST(test_fd_or_bind_passed)
{
	run_isolated(test_fd_or_bind_passed_body);
}
END_TEST

/* ---- free ports for tests ---- */

START_TEST(test_ephemeral_low_parse)
{
	ck_assert_int_eq(ck_ephemeral_low_parse("32768\t60999\n"), 32768);
	ck_assert_int_eq(ck_ephemeral_low_parse("1024 65000"), 1024);
	ck_assert_int_eq(ck_ephemeral_low_parse(""), -EINVAL);
	ck_assert_int_eq(ck_ephemeral_low_parse("x 2"), -EINVAL);
	ck_assert_int_eq(ck_ephemeral_low_parse("70000\t80000"), -EINVAL);
	ck_assert_int_eq(ck_ephemeral_low_parse("32768"), -EINVAL);
	ck_assert_int_eq(ck_ephemeral_low_parse(NULL), -EINVAL);
}
END_TEST

/* Distinct ports below the ephemeral range, each one a server can listen
 * on. */
START_TEST(test_free_ports)
{
	char text[64] = "", addr[32];
	int ports[16], lo = 0;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f) {
		if (fgets(text, sizeof(text), f))
			lo = ck_ephemeral_low_parse(text);
		fclose(f);
	}
	ck_assert_int_eq(ck_free_ports(ports, 16), 0);
	for (int i = 0; i < 16; i++) {
		int fd = -1;

		for (int j = 0; j < i; j++)
			ck_assert_int_ne(ports[i], ports[j]);
		if (lo >= CK_FREE_PORT_MIN + 1000) {
			ck_assert_int_ge(ports[i], CK_FREE_PORT_MIN);
			ck_assert_int_lt(ports[i], lo);
		}
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", ports[i]);
		ck_assert_int_eq(ck_tcp_listen(addr, 4, &fd), 0);
		close(fd);
	}
	ck_assert_int_eq(ck_free_ports(ports, 0), -EINVAL);
}
END_TEST

START_TEST(test_notify_round_trip)
{
	char path[128], buf[64], env[160];
	pid_t sender = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/notify.sock", tmpdir);
	ck_assert_int_eq(ck_notify_listen(path, &fd), 0);
	/* A stale socket file is replaced. */
	close(fd);
	ck_assert_int_eq(ck_notify_listen(path, &fd), 0);
	ck_assert_int_eq(ck_notify_recv(fd, buf, sizeof(buf), &sender), -EAGAIN);

	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(ck_notify("READY=1"), 0);
	snprintf(env, sizeof(env), "%s", path);
	setenv("NOTIFY_SOCKET", env, 1);
	ck_assert_int_eq(ck_notifyf("READY=1\nSTATUS=%s", "serving"), 1);
	ck_assert_int_eq(ck_notify_recv(fd, buf, sizeof(buf), &sender), 22);
	ck_assert_str_eq(buf, "READY=1\nSTATUS=serving");
	ck_assert_int_eq(sender, getpid());
	/* Truncated into a small buffer, still NUL-terminated. */
	ck_assert_int_eq(ck_notify("STATUS=0123456789"), 1);
	ck_assert_int_eq(ck_notify_recv(fd, buf, 8, &sender), 7);
	ck_assert_str_eq(buf, "STATUS=");
	close(fd);

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	ck_assert_int_eq(ck_notify("READY=1"), -EINVAL);
}
END_TEST

START_TEST(test_notify_abstract)
{
	char name[64], buf[64];
	pid_t sender = 0;
	int fd;

	snprintf(name, sizeof(name), "@chronik-test-%d", (int)getpid());
	ck_assert_int_eq(ck_notify_listen(name, &fd), 0);
	setenv("NOTIFY_SOCKET", name, 1);
	ck_assert_int_eq(ck_notify("WATCHDOG=1"), 1);
	ck_assert_int_eq(ck_notify_recv(fd, buf, sizeof(buf), &sender), 10);
	ck_assert_str_eq(buf, "WATCHDOG=1");
	close(fd);
}
END_TEST

START_TEST(test_watchdog_usec)
{
	char self[32];

	snprintf(self, sizeof(self), "%d", (int)getpid());
	unsetenv("WATCHDOG_USEC");
	ck_assert_uint_eq(ck_notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	unsetenv("WATCHDOG_PID");
	ck_assert_uint_eq(ck_notify_watchdog_usec(), 30000000);
	setenv("WATCHDOG_PID", self, 1);
	ck_assert_uint_eq(ck_notify_watchdog_usec(), 30000000);
	setenv("WATCHDOG_PID", "1", 1); /* meant for another process */
	ck_assert_uint_eq(ck_notify_watchdog_usec(), 0);
	setenv("WATCHDOG_PID", self, 1);
	setenv("WATCHDOG_USEC", "soon", 1);
	ck_assert_uint_eq(ck_notify_watchdog_usec(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("listen_notify");
	TCase *tc = tcase_create("listen_notify");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_take_by_name);
	tcase_add_test(tc, test_take_other_pid);
	tcase_add_test(tc, test_take_malformed);
	tcase_add_test(tc, test_take_closed_fd);
	tcase_add_test(tc, test_take_nothing);
	tcase_add_test(tc, test_fd_or_bind);
	tcase_add_test(tc, test_fd_or_bind_passed);
	tcase_add_test(tc, test_ephemeral_low_parse);
	tcase_add_test(tc, test_free_ports);
	tcase_add_test(tc, test_notify_round_trip);
	tcase_add_test(tc, test_notify_abstract);
	tcase_add_test(tc, test_watchdog_usec);
	suite_add_tcase(s, tc);
	return ck_test_run_mode(s, CK_FORK);
}
