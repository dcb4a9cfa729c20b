/*
 * ck_dial.c: an outbound TCP connection kept up (see ck_dial.h).
 *
 * A dialer is connecting (connect_fd >= 0, ev watches it for writability
 * with the connect timeout) or waiting (ev is the backoff timer) or idle
 * (its socket was handed over; ck_dial_again() makes it wait again).
 */
#include "ck_dial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_config.h"
#include "ck_err.h"
#include "ck_log.h"

struct ck_dial {
	struct event_base *base;
	char addr[CK_CONFIG_ADDR_MAX];
	unsigned user_timeout_ms;
	ck_dial_hooks_t h;
	void *arg;
	int connect_fd;
	struct event *ev;
	int backoff_ms;
	uint64_t connected_ms;       /* when the last socket was handed over */
	struct sockaddr_storage src; /* source: the listener's host, port 0 */
	socklen_t src_len;           /* 0: unbound */
};

static void ck_dial_cb(evutil_socket_t fd, short what, void *arg);

/* The source address: SOURCE's host when it is a literal IP other than the
 * wildcard. */
static void ck_dial_source_init(ck_dial_t *d, const char *source)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	char host[CK_CONFIG_ADDR_MAX];

	if (!source || ck_config_split_addr(source, host, sizeof(host), NULL) < 0)
		return;
	if (inet_pton(AF_INET, host, &v4.sin_addr) == 1 &&
	    v4.sin_addr.s_addr != htonl(INADDR_ANY)) {
		memcpy(&d->src, &v4, sizeof(v4));
		d->src_len = sizeof(v4);
	} else if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 &&
	           !IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr)) {
		memcpy(&d->src, &v6, sizeof(v6));
		d->src_len = sizeof(v6);
	}
}

/* Binds FD (of FAMILY) to the source address; on failure the connection
 * goes out unbound, with one warning per process. */
static void ck_dial_source_bind(ck_dial_t *d, int fd, int family)
{
	static int warned;
	int one = 1;

	if (d->src_len == 0 || d->src.ss_family != family)
		return;
	/* The port is picked at connect(), per destination. */
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&d->src, d->src_len) == 0)
		return;
	if (!warned)
		ck_log(CK_LOG_WARN,
		       "cannot bind outbound connections to the listener host, connecting unbound "
		       "to=%s err=\"%s\"",
		       d->addr, ck_strerror(-errno));
	warned = 1;
}

static void ck_dial_wait(ck_dial_t *d)
{
	struct timeval tv = {d->backoff_ms / 1000, (d->backoff_ms % 1000) * 1000};

	if (d->ev)
		event_free(d->ev);
	d->ev = evtimer_new(d->base, ck_dial_cb, d);
	if (d->ev)
		(void)evtimer_add(d->ev, &tv);
	d->backoff_ms =
	    CK_MIN(CK_MAX(d->backoff_ms * 2, CK_DIAL_BACKOFF_MIN_MS), CK_DIAL_BACKOFF_MAX_MS);
}

static void ck_dial_failed(ck_dial_t *d, int err)
{
	if (d->h.on_failed)
		d->h.on_failed(d->arg, err);
	ck_dial_wait(d);
}

/* Starts a non-blocking connect. Returns 0 or -errno. */
static int ck_dial_start(ck_dial_t *d)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char host[CK_CONFIG_ADDR_MAX], port[8];
	uint16_t portno;
	int fd, r;

	if (ck_config_split_addr(d->addr, host, sizeof(host), &portno) < 0)
		return -EINVAL;
	snprintf(port, sizeof(port), "%u", portno);
	r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0)
		return r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	ck_dial_source_bind(d, fd, ai->ai_family);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &d->user_timeout_ms,
	                 sizeof(d->user_timeout_ms));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		r = -errno;
		(void)close(fd);
		goto out;
	}
	d->connect_fd = fd;
	r = 0;
out:
	freeaddrinfo(ai);
	return r;
}

/* The connect finished (or timed out): hand the socket over or wait. */
static void ck_dial_done(ck_dial_t *d, short what)
{
	int fd = d->connect_fd, err = 0;
	socklen_t len = sizeof(err);

	d->connect_fd = -1;
	if (!(what & EV_WRITE))
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		(void)close(fd);
		return ck_dial_failed(d, -err);
	}
	if (d->ev)
		event_free(d->ev);
	d->ev = NULL;
	d->connected_ms = ck_clock_mono_ms();
	d->h.on_connected(d->arg, fd);
}

static void ck_dial_cb(evutil_socket_t fd, short what, void *arg)
{
	ck_dial_t *d = arg;
	struct timeval tv = {CK_DIAL_CONNECT_MS / 1000, (CK_DIAL_CONNECT_MS % 1000) * 1000};
	int r;

	(void)fd;
	if (d->connect_fd >= 0)
		return ck_dial_done(d, what);
	r = ck_dial_start(d);
	if (r < 0)
		return ck_dial_failed(d, r);
	if (d->ev)
		event_free(d->ev);
	d->ev = event_new(d->base, d->connect_fd, EV_WRITE, ck_dial_cb, d);
	if (!d->ev || event_add(d->ev, &tv) < 0) {
		(void)close(d->connect_fd);
		d->connect_fd = -1;
		ck_dial_wait(d);
	}
}

int ck_dial_new(struct event_base *base, const char *addr, const char *source,
                unsigned user_timeout_ms, const ck_dial_hooks_t *h, void *arg, ck_dial_t **ret)
{
	ck_dial_t *d;

	if (ck_config_split_addr(addr, NULL, 0, NULL) < 0)
		return CK_E_CONFIG;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->base = base;
	snprintf(d->addr, sizeof(d->addr), "%s", addr);
	d->user_timeout_ms = user_timeout_ms;
	d->h = *h;
	d->arg = arg;
	d->connect_fd = -1;
	d->backoff_ms = 0; /* the first attempt runs from the loop at once */
	ck_dial_source_init(d, source);
	ck_dial_wait(d);
	if (!d->ev) {
		free(d);
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}

void ck_dial_free(ck_dial_t *d)
{
	if (!d)
		return;
	if (d->ev)
		event_free(d->ev);
	if (d->connect_fd >= 0)
		(void)close(d->connect_fd);
	free(d);
}

void ck_dial_again(ck_dial_t *d, int reset)
{
	uint64_t now = ck_clock_mono_ms();

	/* A connection the peer took and dropped at once (a node restarting,
	 * a proxy that resets) keeps the backoff growing: reconnecting every
	 * CK_DIAL_BACKOFF_MIN_MS would spin (and log) for as long as it lasts. */
	if (reset && now >= d->connected_ms && now - d->connected_ms >= CK_DIAL_STABLE_MS)
		d->backoff_ms = CK_DIAL_BACKOFF_MIN_MS;
	ck_dial_wait(d);
}
