/*
 * ck_notify.c: the sd_notify readiness protocol (see ck_notify.h).
 *
 * Sender side: every process calls ck_notify() to tell whoever started it
 * (systemd, or the chronik supervisor) that it is ready, what it is doing, or
 * that it is alive (watchdog). One short-lived datagram socket per message
 * keeps the sender stateless; the receiver attributes the message with
 * SO_PASSCRED, so the sender needs no SCM_CREDENTIALS of its own.
 * Receiver side: the supervisor binds one socket per child.
 * Not for: interpreting the fields (the supervisor's pure core does that).
 */
#include "ck_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Fills ADDR for PATH (a file path, or "@name" for the abstract namespace).
 * Returns the address length or -errno. */
static int ck_notify_addr(const char *path, struct sockaddr_un *addr)
{
	size_t len = strlen(path);

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (len == 0 || (path[0] != '/' && path[0] != '@'))
		return -EINVAL;
	if (len >= sizeof(addr->sun_path))
		return -ENAMETOOLONG;
	memcpy(addr->sun_path, path, len);
	if (path[0] == '@') {
		addr->sun_path[0] = '\0';
		return (int)(offsetof(struct sockaddr_un, sun_path) + len);
	}
	return (int)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

int ck_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr;
	int fd = -1, alen, r;

	if (!path || !*path)
		return 0;
	alen = ck_notify_addr(path, &addr);
	if (alen < 0)
		return alen;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr,
	           (socklen_t)alen) < 0) {
		r = -errno;
		goto out;
	}
	r = 1;
out:
	(void)close(fd);
	return r;
}

int ck_notifyf(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	return ck_notify(buf);
}

uint64_t ck_notify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (!usec || !*usec)
		return 0;
	if (pid && *pid) {
		errno = 0;
		v = strtoull(pid, &end, 10);
		if (errno || *end || v != (unsigned long long)getpid())
			return 0;
	}
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno || *end)
		return 0;
	return (uint64_t)v;
}

int ck_notify_listen(const char *path, int *ret_fd)
{
	struct sockaddr_un addr;
	int fd = -1, one = 1, alen, r;

	alen = ck_notify_addr(path, &addr);
	if (alen < 0)
		return alen;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (path[0] == '/' && unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		goto out;
	}
	if (bind(fd, (struct sockaddr *)&addr, (socklen_t)alen) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		r = -errno;
		goto out;
	}
	*ret_fd = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		(void)close(fd);
	return r;
}

/* Closes any fds a sender passed with SCM_RIGHTS (we never keep them). */
static void ck_notify_drop_fds(struct cmsghdr *c)
{
	size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	int fds[64];

	if (n > (sizeof(fds) / sizeof(fds[0])))
		n = (sizeof(fds) / sizeof(fds[0]));
	memcpy(fds, CMSG_DATA(c), n * sizeof(int));
	for (size_t i = 0; i < n; i++)
		(void)close(fds[i]);
}

int ck_notify_recv(int fd, char *buf, size_t len, pid_t *ret_pid)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 64)];
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = len > 0 ? len - 1 : 0};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = ctl.buf,
	                     .msg_controllen = sizeof(ctl.buf)};
	pid_t pid = 0;
	ssize_t n;

	if (len == 0)
		return -EINVAL;
	n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred uc;
			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			pid = uc.pid;
		} else if (c->cmsg_type == SCM_RIGHTS) {
			ck_notify_drop_fds(c);
		}
	}
	buf[n] = '\0';
	if (ret_pid)
		*ret_pid = pid;
	return (int)n;
}

bool ck_notify_field(const char *msg, const char *key, char *ret, size_t ret_len)
{
	size_t klen = strlen(key);
	const char *line = msg;

	if (!msg || klen == 0)
		return false;
	while (*line) {
		const char *eol = strchr(line, '\n');
		size_t llen = eol ? (size_t)(eol - line) : strlen(line);

		if (llen > klen && !memcmp(line, key, klen) && line[klen] == '=') {
			size_t vlen = llen - klen - 1;
			if (ret && ret_len > 0) {
				if (vlen >= ret_len)
					vlen = ret_len - 1;
				memcpy(ret, line + klen + 1, vlen);
				ret[vlen] = '\0';
			}
			return true;
		}
		if (!eol)
			break;
		line = eol + 1;
	}
	return false;
}
