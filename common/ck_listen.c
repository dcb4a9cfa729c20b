/*
 * ck_listen.c: listening sockets and systemd-style socket passing (see
 * ck_listen.h).
 *
 * Child side: the passed fds are taken once per process into a small static
 * table (name -> fd); ck_listen_fd() hands each out once. Invariant: a table
 * entry is either -1 (handed out or never passed) or an fd this process owns
 * and has marked close-on-exec.
 * Supervisor side: the supervisor only uses ck_tcp_listen() here; laying fds
 * out as 3.. in a forked child is its own business (supervisor/sup_spawn.c).
 * Not for: accepting connections (ck_ipc) or the notify protocol (ck_notify).
 */
#include "ck_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_config.h"
#include "ck_rand.h"
#include "ck_ipc.h"

#define CK_LOG_SUBSYSTEM "listen"
#include "ck_log.h"

static struct {
	bool taken;
	int count;
	int fds[CK_LISTEN_FDS_MAX];
	char names[CK_LISTEN_FDS_MAX][CK_LISTEN_NAME_MAX];
} ck_listen_passed;

static struct {
	struct event *ev;
	struct event_base *base;
	void (*on_lost)(void *arg);
	void *arg;
} ck_listen_watch;

int ck_listen_names_parse(const char *names, int n_fds, char ret_names[][CK_LISTEN_NAME_MAX])
{
	const char *p = names;
	int i;

	if (n_fds < 0 || n_fds > CK_LISTEN_FDS_MAX)
		return -EINVAL;
	if (!names || !*names) {
		for (i = 0; i < n_fds; i++)
			snprintf(ret_names[i], CK_LISTEN_NAME_MAX, "unknown");
		return 0;
	}
	for (i = 0;; i++) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);

		if (i >= n_fds || len == 0 || len >= CK_LISTEN_NAME_MAX)
			return -EINVAL;
		memcpy(ret_names[i], p, len);
		ret_names[i][len] = '\0';
		if (!colon)
			break;
		p = colon + 1;
	}
	return i + 1 == n_fds ? 0 : -EINVAL;
}

/* Parses a decimal environment value into [0, MAX]. */
static int ck_listen_env_int(const char *s, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int ck_listen_fds_parse_env(void)
{
	const char *pid_s = getenv("LISTEN_PID");
	const char *fds_s = getenv("LISTEN_FDS");
	long pid, n;
	int r;

	if (!pid_s || !fds_s)
		return 0;
	if (ck_listen_env_int(pid_s, INT32_MAX, &pid) < 0 ||
	    ck_listen_env_int(fds_s, CK_LISTEN_FDS_MAX, &n) < 0)
		return -EINVAL;
	if ((pid_t)pid != getpid())
		return 0;
	r = ck_listen_names_parse(getenv("LISTEN_FDNAMES"), (int)n, ck_listen_passed.names);
	if (r < 0)
		return r;
	for (int i = 0; i < n; i++) {
		int fd = CK_LISTEN_FDS_START + i;
		int flags = fcntl(fd, F_GETFD);

		if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
			return -EBADF;
		ck_listen_passed.fds[i] = fd;
	}
	ck_listen_passed.count = (int)n;
	return (int)n;
}

int ck_listen_fds_take(void)
{
	int r;

	if (ck_listen_passed.taken)
		return ck_listen_passed.count;
	for (int i = 0; i < CK_LISTEN_FDS_MAX; i++)
		ck_listen_passed.fds[i] = -1;
	r = ck_listen_fds_parse_env();
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");
	ck_listen_passed.taken = true;
	if (r < 0)
		ck_listen_passed.count = 0;
	return r;
}

int ck_listen_fd(const char *name)
{
	for (int i = 0; i < ck_listen_passed.count; i++) {
		int fd = ck_listen_passed.fds[i];

		if (fd >= 0 && !strcmp(ck_listen_passed.names[i], name)) {
			ck_listen_passed.fds[i] = -1;
			return fd;
		}
	}
	return -ENOENT;
}

/* Creates, binds and listens one socket for AI. Returns the fd or -errno. */
static int ck_tcp_listen_one(const struct addrinfo *ai, int backlog)
{
	int one = 1, fd, r;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	return fd;
}

int ck_tcp_listen(const char *hostport, int backlog, int *ret_fd)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char host[CK_CONFIG_ADDR_MAX], port_s[8];
	uint16_t port;
	int r, fd = -EADDRNOTAVAIL;

	if (!hostport || ck_config_split_addr(hostport, host, sizeof(host), &port) < 0)
		return -EINVAL;
	snprintf(port_s, sizeof(port_s), "%u", (unsigned)port);
	r = getaddrinfo((host[0] && strcmp(host, "*")) ? host : NULL, port_s, &hints, &res);
	if (r != 0) {
		r = r == EAI_SYSTEM ? -errno : -EINVAL;
		goto out;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = ck_tcp_listen_one(ai, backlog);
		if (fd >= 0)
			break;
	}
	if (fd < 0) {
		r = fd;
		goto out;
	}
	*ret_fd = fd;
	r = 0;
out:
	if (res)
		freeaddrinfo(res);
	return r;
}

int ck_listen_fd_or_tcp(const char *name, const char *hostport, int backlog, int *ret_fd)
{
	int fd = ck_listen_fd(name), r;

	if (fd >= 0) {
		*ret_fd = fd;
		return 1;
	}
	r = ck_tcp_listen(hostport, backlog, &fd);
	if (r < 0)
		return r;
	*ret_fd = fd;
	return 0;
}

int ck_listen_fd_or_unix(const char *name, const char *path, int backlog, int *ret_fd)
{
	int fd = ck_listen_fd(name), r;

	if (fd >= 0) {
		*ret_fd = fd;
		return 1;
	}
	r = ck_ipc_unix_listen(path, backlog, &fd);
	if (r < 0)
		return r;
	*ret_fd = fd;
	return 0;
}

static void ck_listen_supervisor_cb(evutil_socket_t fd, short what, void *arg)
{
	char byte;
	ssize_t n = recv(fd, &byte, 1, MSG_DONTWAIT);

	(void)what;
	(void)arg;
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return; /* the supervisor never writes; nothing to do */
	ck_log(CK_LOG_WARN, "supervisor gone, stopping");
	(void)event_del(ck_listen_watch.ev);
	if (ck_listen_watch.on_lost)
		ck_listen_watch.on_lost(ck_listen_watch.arg);
	else
		(void)event_base_loopexit(ck_listen_watch.base, NULL);
}

int ck_listen_watch_supervisor(struct event_base *base, void (*on_lost)(void *arg), void *arg)
{
	int fd, r;

	if (!ck_listen_passed.taken) {
		r = ck_listen_fds_take();
		if (r < 0)
			return r;
	}
	if (ck_listen_watch.ev)
		return -EALREADY;
	fd = ck_listen_fd("supervisor");
	if (fd < 0)
		return 0;
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) {
		r = -errno;
		goto fail;
	}
	ck_listen_watch.base = base;
	ck_listen_watch.on_lost = on_lost;
	ck_listen_watch.arg = arg;
	ck_listen_watch.ev =
	    event_new(base, fd, EV_READ | EV_PERSIST, ck_listen_supervisor_cb, NULL);
	if (!ck_listen_watch.ev || event_add(ck_listen_watch.ev, NULL) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	return 0;
fail:
	if (ck_listen_watch.ev)
		event_free(ck_listen_watch.ev);
	ck_listen_watch.ev = NULL;
	(void)close(fd);
	return r;
}

void ck_listen_unwatch_supervisor(void)
{
	int fd;

	if (!ck_listen_watch.ev)
		return;
	fd = event_get_fd(ck_listen_watch.ev);
	event_free(ck_listen_watch.ev);
	ck_listen_watch.ev = NULL;
	(void)close(fd);
}

/* ---- free ports for tests and benchmarks ---- */

int ck_ephemeral_low_parse(const char *text)
{
	char *end;
	long lo;

	if (!text)
		return -EINVAL;
	errno = 0;
	lo = strtol(text, &end, 10);
	if (errno || end == text || lo < 1 || lo > 65535 || (*end != ' ' && *end != '\t'))
		return -EINVAL;
	return (int)lo;
}

/* Binds FD to 127.0.0.1:PORT (0: the kernel picks); returns the port bound
 * or -errno. No SO_REUSEADDR: a port in TIME_WAIT counts as taken. */
static int ck_free_port_bind(int fd, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	return ntohs(sa.sin_port);
}

int ck_free_ports(int *ports, int n)
{
	char text[64] = "";
	int fds[64], got = 0, lo = -EINVAL, r = 0, tries = 0;
	ck_rand_t rng;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");

	if (n < 1 || n > (int)(sizeof(fds) / sizeof(fds[0])))
		return -EINVAL;
	if (f) {
		if (fgets(text, sizeof(text), f))
			lo = ck_ephemeral_low_parse(text);
		(void)fclose(f);
	}
	ck_rand_seed(&rng, ck_rand_os_seed());
	/* Every port stays bound until all are picked: they are distinct. */
	while (got < n) {
		int port = 0;

		if (lo >= CK_FREE_PORT_MIN + 1000 && tries++ < 10000)
			port = CK_FREE_PORT_MIN +
			       (int)ck_rand_below(&rng, (uint64_t)(lo - CK_FREE_PORT_MIN));
		fds[got] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[got] < 0) {
			r = -errno;
			break;
		}
		r = ck_free_port_bind(fds[got], port);
		if (r < 0) {
			(void)close(fds[got]);
			if (port == 0)
				break;
			r = 0;
			continue; /* taken: another one */
		}
		ports[got++] = r;
		r = 0;
	}
	for (int i = 0; i < got; i++)
		(void)close(fds[i]);
	return r;
}
