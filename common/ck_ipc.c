/*
 * ck_ipc.c: framed protobuf-c messaging on libevent bufferevents (ck_ipc.h).
 *
 * Owned by libck; every process uses it for its Unix sockets and raftd and
 * replicator for node-to-node TCP. Invariants:
 *   - a frame is delivered to on_frame only when complete, straight from the
 *     input evbuffer (one pullup, no copy when it already sits in one chunk);
 *   - a bad frame closes only its own connection, after one warning line;
 *   - a connection, client or listener is freed only when no callback of its
 *     own is on the stack (the depth counters), so closing or freeing from
 *     inside a callback is safe.
 * The blocking helpers at the end use poll() and never touch libevent.
 * Not for: message semantics, request retries, TLS.
 */
#include "ck_ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#define CK_LOG_SUBSYSTEM "ipc"
#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"

/* Reads and writes of one loop pass: a frame's rest is read in pieces of
 * at least READ_MIN (small frames read their followers with them) and at
 * most READ_CHUNK; the bufferevent writes at most WRITE_CHUNK (libevent's
 * default, 16 KiB, would take a loop pass per 16 KiB of a large frame). */
#define CK_IPC_READ_MIN        (64u << 10)
#define CK_IPC_READ_CHUNK      (4u << 20)
#define CK_IPC_WRITE_CHUNK     (4u << 20)
#define CK_IPC_BACKOFF_MIN_MS 10
#define CK_IPC_BACKOFF_MAX_MS 1000
#define CK_IPC_ACCEPT_BATCH 64
#define CK_IPC_ACCEPT_PAUSE_MS 100

struct ck_ipc_conn {
	struct bufferevent *bev;
	int fd;
	size_t frame_max;
	ck_ipc_handlers_t h;
	ck_ipc_admit_fn admit;
	bool admitted; /* admit said yes to the frame being read */
	void *arg;
	int depth;     /* callbacks of this connection on the stack */
	bool closed;   /* no more callbacks; freed when depth drops to 0 */
	bool flushing; /* close_after_flush: waiting for the output to drain */
	/* Frames sent while the socket had nothing queued wait here until the
	 * loop has run every callback that was ready (flush_ev, activated at
	 * the tail of the active queue), then go out in one writev without a
	 * round through epoll; what the socket does not take moves to the
	 * bufferevent's output, which waits for EV_WRITE. */
	struct evbuffer *stage;
	struct event *flush_ev;
};

/* ---- connections ------------------------------------------------------ */

/* "tcp 10.0.0.2:5001", "unix /path" or "unix" for logs. */
static const char *ck_ipc_peer_str(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(buf, len, "unknown");
	} else if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "unix");
	}
	return buf;
}

static void ck_ipc_set_nodelay(int fd)
{
	int domain = 0, one = 1;
	socklen_t sl = sizeof(domain);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &sl) < 0)
		return;
	if (domain == AF_INET || domain == AF_INET6)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static pthread_once_t ck_ipc_sigpipe_once = PTHREAD_ONCE_INIT;

/* libevent writes with writev(), which raises SIGPIPE when the peer is gone;
 * a broken connection must be an error return, never a dead process. A
 * disposition the program chose itself is left alone. */
static void ck_ipc_sigpipe_ignore(void)
{
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		sa.sa_handler = SIG_IGN;
		(void)sigaction(SIGPIPE, &sa, NULL);
	}
}

/* Not inlined: gcc -O3 otherwise follows the free() into callers that
 * still hold a callback depth (so never reach it) and warns of a use after
 * free (-Wuse-after-free, a false positive). */
static __attribute__((noinline)) void ck_ipc_conn_destroy(ck_ipc_conn_t *c)
{
	if (c->flush_ev)
		event_free(c->flush_ev);
	if (c->stage)
		evbuffer_free(c->stage);
	bufferevent_free(c->bev); /* closes the fd */
	free(c);
}

/* Leaves a callback of C; frees C if it was closed meanwhile. Returns true
 * when C is gone. */
static bool ck_ipc_conn_leave(ck_ipc_conn_t *c)
{
	CK_ASSERT(c->depth > 0);
	if (--c->depth == 0 && c->closed) {
		ck_ipc_conn_destroy(c);
		return true;
	}
	return false;
}

/* Ends C with ERR, telling the owner through on_close. */
static void ck_ipc_conn_fail(ck_ipc_conn_t *c, int err)
{
	if (c->closed)
		return;
	c->closed = true;
	(void)bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	c->depth++;
	if (c->h.on_close)
		c->h.on_close(c, err, c->arg);
	(void)ck_ipc_conn_leave(c);
}

static void ck_ipc_conn_proto_error(ck_ipc_conn_t *c, const char *reason, size_t len)
{
	static ck_log_limit_t lim; /* a peer can send bad frames at will */
	char peer[80];

	ck_log_limited(&lim, CK_LOG_WARN,
	               "closing connection: %s fd=%d peer=%s len=%zu frame_max=%zu", reason, c->fd,
	               ck_ipc_peer_str(c->fd, peer, sizeof(peer)), len, c->frame_max);
	ck_ipc_conn_fail(c, CK_E_PROTO);
}

/*
 * Reads up to WANT more bytes of C's socket straight into IN. libevent 2.1's
 * evbuffer_read takes at most 4 KiB per readable event, so a large frame
 * would cost a loop pass (epoll_wait, FIONREAD, readv, timer re-arm) per
 * 4 KiB: 220 of them for a 900 KB append. Returns the bytes read; 0 when
 * the socket has none now, or at its end or an error, which the
 * bufferevent's own next read reports (the socket stays readable).
 */
static size_t ck_ipc_read_more(ck_ipc_conn_t *c, struct evbuffer *in, size_t want)
{
	struct evbuffer_iovec v;
	ssize_t n = 0;

	/* The bufferevent keeps its input's end frozen but while it reads
	 * itself; so here. */
	(void)evbuffer_unfreeze(in, 0);
	if (evbuffer_reserve_space(in, (ev_ssize_t)want, &v, 1) == 1) {
		if (v.iov_len > want)
			v.iov_len = want;
		do
			n = read(c->fd, v.iov_base, v.iov_len);
		while (n < 0 && errno == EINTR);
		v.iov_len = n > 0 ? (size_t)n : 0;
		(void)evbuffer_commit_space(in, &v, 1);
	}
	(void)evbuffer_freeze(in, 0);
	return n > 0 ? (size_t)n : 0;
}

/* Delivers every complete frame in the input buffer, reading the rest of
 * a frame begun in it as long as the socket has it. */
static void ck_ipc_read_cb(struct bufferevent *bev, void *ctx)
{
	ck_ipc_conn_t *c = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[CK_IPC_HEADER_LEN];
	size_t have, len;
	uint8_t *p;

	c->depth++;
	while (!c->closed && !c->flushing) {
		have = evbuffer_get_length(in);
		if (have < CK_IPC_HEADER_LEN)
			break;
		(void)evbuffer_copyout(in, hdr, sizeof(hdr));
		len = ck_le32_get(hdr);
		if (len == 0 || len > c->frame_max) {
			ck_ipc_conn_proto_error(c, len ? "frame too large" : "empty frame", len);
			break;
		}
		if (c->admit && !c->admitted) {
			if (!c->admit(c, len, c->arg)) {
				ck_ipc_conn_proto_error(c, "frame refused", len);
				break;
			}
			c->admitted = true;
		}
		if (have - CK_IPC_HEADER_LEN < len) {
			size_t need = CK_IPC_HEADER_LEN + len - have;
			if (ck_ipc_read_more(
			        c, in, CK_MIN(CK_MAX(need, CK_IPC_READ_MIN), CK_IPC_READ_CHUNK)) >
			    0)
				continue;
			break;
		}
		c->admitted = false;
		p = evbuffer_pullup(in, (ev_ssize_t)(CK_IPC_HEADER_LEN + len));
		if (!p) {
			ck_log(CK_LOG_ERROR, "closing connection: out of memory fd=%d len=%zu",
			       c->fd, len);
			ck_ipc_conn_fail(c, -ENOMEM);
			break;
		}
		c->h.on_frame(c, p + CK_IPC_HEADER_LEN, len, c->arg);
		if (c->closed)
			break;
		(void)evbuffer_drain(in, CK_IPC_HEADER_LEN + len);
	}
	(void)ck_ipc_conn_leave(c);
}

static void ck_ipc_write_cb(struct bufferevent *bev, void *ctx)
{
	ck_ipc_conn_t *c = ctx;

	if (c->flushing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		ck_ipc_conn_close(c);
}

static void ck_ipc_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	ck_ipc_conn_t *c = ctx;
	int err = 0;

	if (c->flushing && (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
		ck_ipc_conn_close(c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		err = EVUTIL_SOCKET_ERROR();
		err = err > 0 ? -err : -ECONNRESET;
	} else if (what & BEV_EVENT_EOF) {
		if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
			ck_ipc_conn_proto_error(c, "truncated frame at eof",
						evbuffer_get_length(bufferevent_get_input(bev)));
			return;
		}
	} else {
		return; /* BEV_EVENT_CONNECTED and friends need nothing */
	}
	ck_ipc_conn_fail(c, err);
}

/* Writes the staged frames now; the rest waits in the bufferevent. A write
 * error is left to the bufferevent too: its own writev reports it through
 * ck_ipc_event_cb. */
static void ck_ipc_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	ck_ipc_conn_t *c = arg;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	(void)fd;
	(void)what;
	if (c->closed || evbuffer_get_length(c->stage) == 0)
		return;
	if (evbuffer_get_length(out) == 0)
		(void)evbuffer_write(c->stage, c->fd);
	if (evbuffer_get_length(c->stage) > 0)
		(void)evbuffer_add_buffer(out, c->stage);
}

/* Where a frame of C goes: the stage while nothing waits in the
 * bufferevent (arming the flush), else behind what does. */
static struct evbuffer *ck_ipc_conn_sink(ck_ipc_conn_t *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (evbuffer_get_length(c->stage) > 0)
		return c->stage;
	if (evbuffer_get_length(out) > 0)
		return out;
	event_active(c->flush_ev, EV_WRITE, 0);
	return c->stage;
}

ck_ipc_conn_t *ck_ipc_conn_new(struct event_base *base, int fd, size_t frame_max,
			       const ck_ipc_handlers_t *h, void *arg)
{
	ck_ipc_conn_t *c = calloc(1, sizeof(*c));

	(void)pthread_once(&ck_ipc_sigpipe_once, ck_ipc_sigpipe_ignore);
	if (!c)
		goto fail;
	(void)evutil_make_socket_nonblocking(fd);
	ck_ipc_set_nodelay(fd);
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		goto fail;
	c->fd = fd;
	c->stage = evbuffer_new();
	c->flush_ev = event_new(base, -1, 0, ck_ipc_flush_cb, c);
	if (!c->stage || !c->flush_ev) {
		ck_ipc_conn_destroy(c);
		return NULL;
	}
	c->frame_max = frame_max ? frame_max : CK_IPC_FRAME_MAX_DEFAULT;
	c->h = *h;
	c->arg = arg;
	(void)bufferevent_set_max_single_read(c->bev, CK_IPC_READ_CHUNK);
	(void)bufferevent_set_max_single_write(c->bev, CK_IPC_WRITE_CHUNK);
	bufferevent_setcb(c->bev, ck_ipc_read_cb, ck_ipc_write_cb, ck_ipc_event_cb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0) {
		ck_ipc_conn_destroy(c);
		return NULL;
	}
	return c;
fail:
	free(c);
	(void)close(fd);
	return NULL;
}

static int ck_ipc_conn_check(const ck_ipc_conn_t *c, size_t len)
{
	if (c->closed || c->flushing)
		return CK_E_CLOSED;
	if (len > c->frame_max || len > UINT32_MAX)
		return CK_E_TOO_LARGE;
	if (len == 0)
		return CK_E_INVALID;
	return 0;
}

int ck_ipc_conn_send(ck_ipc_conn_t *c, const void *data, size_t len)
{
	struct evbuffer *out;
	uint8_t hdr[CK_IPC_HEADER_LEN];
	int r = ck_ipc_conn_check(c, len);

	if (r < 0)
		return r;
	out = ck_ipc_conn_sink(c);
	/* Room first, so a frame is queued whole or not at all. */
	if (evbuffer_expand(out, CK_IPC_HEADER_LEN + len) < 0)
		return -ENOMEM;
	ck_le32_put(hdr, (uint32_t)len);
	r = evbuffer_add(out, hdr, sizeof(hdr));
	if (r == 0)
		r = evbuffer_add(out, data, len);
	CK_ASSERT(r == 0);
	return 0;
}

int ck_ipc_conn_send_msg(ck_ipc_conn_t *c, const ProtobufCMessage *m)
{
	struct evbuffer *out;
	size_t len = protobuf_c_message_get_packed_size(m);
	struct evbuffer_iovec v;
	size_t packed;
	uint8_t *p;
	int r = ck_ipc_conn_check(c, len);

	if (r < 0)
		return r;
	out = ck_ipc_conn_sink(c);
	if (evbuffer_reserve_space(out, (ev_ssize_t)(CK_IPC_HEADER_LEN + len), &v, 1) != 1)
		return -ENOMEM;
	p = v.iov_base;
	ck_le32_put(p, (uint32_t)len);
	packed = protobuf_c_message_pack(m, p + CK_IPC_HEADER_LEN);
	CK_ASSERT(packed == len);
	v.iov_len = CK_IPC_HEADER_LEN + len;
	if (evbuffer_commit_space(out, &v, 1) < 0)
		return -ENOMEM;
	return 0;
}

size_t ck_ipc_conn_outq_bytes(const ck_ipc_conn_t *c)
{
	return evbuffer_get_length(c->stage) + evbuffer_get_length(bufferevent_get_output(c->bev));
}

void ck_ipc_conn_close(ck_ipc_conn_t *c)
{
	if (!c)
		return;
	if (c->closed) /* inside on_close, or already pending */
		return;
	c->closed = true;
	(void)bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (c->depth == 0)
		ck_ipc_conn_destroy(c);
}

void ck_ipc_conn_close_after_flush(ck_ipc_conn_t *c)
{
	if (!c || c->closed || c->flushing)
		return;
	if (ck_ipc_conn_outq_bytes(c) == 0) {
		ck_ipc_conn_close(c);
		return;
	}
	/* Everything goes through the bufferevent now: its write callback
	 * sees the output drain. */
	(void)evbuffer_add_buffer(bufferevent_get_output(c->bev), c->stage);
	c->flushing = true;
	(void)bufferevent_disable(c->bev, EV_READ);
}

void ck_ipc_conn_set_arg(ck_ipc_conn_t *c, void *arg)
{
	c->arg = arg;
}

void ck_ipc_conn_set_admit(ck_ipc_conn_t *c, ck_ipc_admit_fn admit)
{
	c->admit = admit;
}

int ck_ipc_conn_fd(const ck_ipc_conn_t *c)
{
	return c->fd;
}

/* ---- listeners -------------------------------------------------------- */

struct ck_ipc_listener {
	struct event *ev;
	struct event *pause; /* re-enables accepting after EMFILE and friends */
	int fd;
	ck_ipc_accept_fn fn;
	void *arg;
	int depth;
	bool freed;
};

static void ck_ipc_listener_destroy(ck_ipc_listener_t *l)
{
	event_free(l->ev);
	event_free(l->pause);
	(void)close(l->fd);
	free(l);
}

/* Out of descriptors or memory: the pending connection stays in the backlog
 * and would wake us at once, so stop listening for a moment. */
static void ck_ipc_listener_pause(ck_ipc_listener_t *l, int err)
{
	static ck_log_limit_t lim; /* every pause while out of fds: 10 a second */
	struct timeval tv = {0, CK_IPC_ACCEPT_PAUSE_MS * 1000};

	ck_log_limited(&lim, CK_LOG_WARN, "accept paused err=\"%s\" fd=%d pause_ms=%d",
	               ck_strerror(err), l->fd, CK_IPC_ACCEPT_PAUSE_MS);
	(void)event_del(l->ev);
	(void)evtimer_add(l->pause, &tv);
}

static void ck_ipc_listener_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	ck_ipc_listener_t *l = arg;

	(void)event_add(l->ev, NULL);
}

static void ck_ipc_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	ck_ipc_listener_t *l = arg;

	l->depth++;
	for (int i = 0; i < CK_IPC_ACCEPT_BATCH && !l->freed; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			l->fn(fd, l->arg);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
		    errno == EPERM)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			ck_ipc_listener_pause(l, -errno);
		else if (errno != EAGAIN)
			ck_log(CK_LOG_WARN, "accept failed err=\"%s\" fd=%d", strerror(errno), l->fd);
		break;
	}
	if (--l->depth == 0 && l->freed)
		ck_ipc_listener_destroy(l);
}

ck_ipc_listener_t *ck_ipc_listener_new(struct event_base *base, int listen_fd,
				       ck_ipc_accept_fn fn, void *arg)
{
	ck_ipc_listener_t *l = calloc(1, sizeof(*l));

	if (!l)
		goto fail;
	l->fd = listen_fd;
	l->fn = fn;
	l->arg = arg;
	if (evutil_make_socket_nonblocking(listen_fd) < 0)
		goto fail;
	l->ev = event_new(base, listen_fd, EV_READ | EV_PERSIST, ck_ipc_accept_cb, l);
	l->pause = evtimer_new(base, ck_ipc_listener_resume_cb, l);
	if (!l->ev || !l->pause || event_add(l->ev, NULL) < 0)
		goto fail;
	return l;
fail:
	if (l) {
		if (l->ev)
			event_free(l->ev);
		if (l->pause)
			event_free(l->pause);
		free(l);
	}
	(void)close(listen_fd);
	return NULL;
}

void ck_ipc_listener_free(ck_ipc_listener_t *l)
{
	if (!l || l->freed)
		return;
	l->freed = true;
	(void)event_del(l->ev);
	(void)event_del(l->pause);
	if (l->depth == 0)
		ck_ipc_listener_destroy(l);
}

static int ck_ipc_unix_addr(const char *path, struct sockaddr_un *sa)
{
	size_t len = strlen(path);

	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, len + 1);
	return 0;
}

int ck_ipc_unix_listen(const char *path, int backlog, int *ret_fd)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, r;

	r = ck_ipc_unix_addr(path, &sa);
	if (r < 0)
		return r;
	/* Only a socket is stale; anything else at PATH is somebody's file. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && unlink(path) < 0 && errno != ENOENT)
		return -errno;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int ck_ipc_unix_connect_flags(const char *path, int flags, int *ret_fd)
{
	struct sockaddr_un sa;
	int fd, r;

	r = ck_ipc_unix_addr(path, &sa);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd < 0)
		return -errno;
	while ((r = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 && errno == EINTR)
		;
	if (r < 0 && errno != EINPROGRESS) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int ck_ipc_unix_connect(const char *path, int *ret_fd)
{
	return ck_ipc_unix_connect_flags(path, SOCK_NONBLOCK, ret_fd);
}

/* ---- the reconnecting client ------------------------------------------ */

struct ck_ipc_client {
	struct event_base *base;
	char *path;
	size_t frame_max;
	ck_ipc_client_handlers_t h;
	void *arg;
	ck_ipc_conn_t *conn; /* non-NULL while connected */
	struct event *timer; /* the next connect attempt */
	int backoff_ms;
	uint64_t next_id;
	int depth;
	bool freed;
};

static void ck_ipc_client_destroy(ck_ipc_client_t *cl)
{
	ck_ipc_conn_close(cl->conn);
	event_free(cl->timer);
	free(cl->path);
	free(cl);
}

static bool ck_ipc_client_leave(ck_ipc_client_t *cl)
{
	if (--cl->depth == 0 && cl->freed) {
		ck_ipc_client_destroy(cl);
		return true;
	}
	return false;
}

static void ck_ipc_client_schedule(ck_ipc_client_t *cl, int delay_ms)
{
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};

	(void)evtimer_add(cl->timer, &tv);
}

static void ck_ipc_client_frame_cb(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg)
{
	ck_ipc_client_t *cl = arg;

	cl->depth++;
	if (cl->h.on_frame && !cl->freed)
		cl->h.on_frame(cl, data, len, cl->arg);
	(void)ck_ipc_client_leave(cl);
}

static void ck_ipc_client_close_cb(ck_ipc_conn_t *c, int err, void *arg)
{
	ck_ipc_client_t *cl = arg;

	cl->conn = NULL;
	if (cl->freed)
		return;
	ck_log(CK_LOG_DEBUG, "disconnected path=%s err=\"%s\"", cl->path,
	       err ? ck_strerror(err) : "eof");
	cl->depth++;
	if (cl->h.on_disconnect)
		cl->h.on_disconnect(cl, err, cl->arg);
	if (!cl->freed && !cl->conn)
		ck_ipc_client_schedule(cl, cl->backoff_ms);
	(void)ck_ipc_client_leave(cl);
}

static void ck_ipc_client_connect_cb(evutil_socket_t unused, short what, void *arg)
{
	static const ck_ipc_handlers_t h = {ck_ipc_client_frame_cb, ck_ipc_client_close_cb};
	ck_ipc_client_t *cl = arg;
	int fd, r;

	if (cl->conn)
		return;
	r = ck_ipc_unix_connect(cl->path, &fd);
	if (r == 0) {
		cl->conn = ck_ipc_conn_new(cl->base, fd, cl->frame_max, &h, cl);
		r = cl->conn ? 0 : -ENOMEM;
	}
	if (r < 0) {
		ck_log(CK_LOG_DEBUG, "connect failed path=%s err=\"%s\" retry_ms=%d", cl->path,
		       ck_strerror(r), cl->backoff_ms);
		ck_ipc_client_schedule(cl, cl->backoff_ms);
		cl->backoff_ms = CK_MIN(cl->backoff_ms * 2, CK_IPC_BACKOFF_MAX_MS);
		return;
	}
	cl->backoff_ms = CK_IPC_BACKOFF_MIN_MS;
	ck_log(CK_LOG_DEBUG, "connected path=%s fd=%d", cl->path, fd);
	cl->depth++;
	if (cl->h.on_connect)
		cl->h.on_connect(cl, cl->arg);
	(void)ck_ipc_client_leave(cl);
}

ck_ipc_client_t *ck_ipc_client_new(struct event_base *base, const char *path, size_t frame_max,
				   const ck_ipc_client_handlers_t *h, void *arg)
{
	ck_ipc_client_t *cl = calloc(1, sizeof(*cl));

	if (!cl)
		return NULL;
	cl->base = base;
	cl->path = strdup(path);
	cl->frame_max = frame_max;
	cl->h = *h;
	cl->arg = arg;
	cl->backoff_ms = CK_IPC_BACKOFF_MIN_MS;
	cl->next_id = 1;
	cl->timer = evtimer_new(base, ck_ipc_client_connect_cb, cl);
	if (!cl->path || !cl->timer) {
		if (cl->timer)
			event_free(cl->timer);
		free(cl->path);
		free(cl);
		return NULL;
	}
	/* The first attempt runs from the loop, so on_connect never runs before
	 * the caller holds the pointer. */
	ck_ipc_client_schedule(cl, 0);
	return cl;
}

void ck_ipc_client_free(ck_ipc_client_t *cl)
{
	if (!cl || cl->freed)
		return;
	cl->freed = true;
	(void)evtimer_del(cl->timer);
	if (cl->depth == 0)
		ck_ipc_client_destroy(cl);
}

bool ck_ipc_client_connected(const ck_ipc_client_t *cl)
{
	return cl->conn != NULL && !cl->freed;
}

int ck_ipc_client_send(ck_ipc_client_t *cl, const void *data, size_t len)
{
	if (!ck_ipc_client_connected(cl))
		return -ENOTCONN;
	return ck_ipc_conn_send(cl->conn, data, len);
}

int ck_ipc_client_send_msg(ck_ipc_client_t *cl, const ProtobufCMessage *m)
{
	if (!ck_ipc_client_connected(cl))
		return -ENOTCONN;
	return ck_ipc_conn_send_msg(cl->conn, m);
}

uint64_t ck_ipc_client_next_id(ck_ipc_client_t *cl)
{
	if (cl->next_id == 0)
		cl->next_id = 1;
	return cl->next_id++;
}

/* ---- blocking helpers ------------------------------------------------- */

/* Milliseconds left until DEADLINE_MS (monotonic); -1 = forever. */
static int ck_ipc_remaining_ms(int64_t deadline_ms)
{
	int64_t now;

	if (deadline_ms < 0)
		return -1;
	now = (int64_t)ck_clock_mono_ms();
	return now >= deadline_ms ? 0 : (int)CK_MIN(deadline_ms - now, INT32_MAX);
}

static int64_t ck_ipc_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : (int64_t)ck_clock_mono_ms() + timeout_ms;
}

/* Waits for EVENTS on FD. Returns 0, CK_E_TIMEOUT or -errno. */
static int ck_ipc_poll(int fd, short events, int64_t deadline_ms)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int r;

	for (;;) {
		int left = ck_ipc_remaining_ms(deadline_ms);
		r = poll(&pfd, 1, left);
		if (r > 0)
			return 0;
		if (r == 0)
			return CK_E_TIMEOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int ck_ipc_sync_connect(const char *path, int timeout_ms, int *ret_fd)
{
	int64_t deadline = ck_ipc_deadline(timeout_ms);
	struct timespec ts = {0, 10 * 1000 * 1000};
	int r;

	for (;;) {
		r = ck_ipc_unix_connect_flags(path, 0, ret_fd);
		if (r == 0)
			return 0;
		if (r != -ENOENT && r != -ECONNREFUSED && r != -EAGAIN)
			return r;
		if (ck_ipc_remaining_ms(deadline) == 0)
			return CK_E_TIMEOUT;
		(void)nanosleep(&ts, NULL);
	}
}

/* Writes the iovecs fully (blocking or not), without SIGPIPE. */
static int ck_ipc_writev_all(int fd, struct iovec *iov, int cnt)
{
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
	ssize_t n;
	int r;

	while (mh.msg_iovlen > 0) {
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			r = ck_ipc_poll(fd, POLLOUT, -1);
			if (r < 0)
				return r;
			continue;
		}
		while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov->iov_len) {
			n -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int ck_ipc_sync_send(int fd, const void *data, size_t len)
{
	uint8_t hdr[CK_IPC_HEADER_LEN];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)data, len}};

	if (len == 0)
		return CK_E_INVALID;
	if (len > UINT32_MAX)
		return CK_E_TOO_LARGE;
	ck_le32_put(hdr, (uint32_t)len);
	return ck_ipc_writev_all(fd, iov, 2);
}

int ck_ipc_sync_send_msg(int fd, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *p;
	int r;

	if (len == 0)
		return CK_E_INVALID;
	p = malloc(len);
	if (!p)
		return -ENOMEM;
	(void)protobuf_c_message_pack(m, p);
	r = ck_ipc_sync_send(fd, p, len);
	free(p);
	return r;
}

/* Reads exactly LEN bytes. Returns 0, CK_E_CLOSED on EOF before the first
 * byte, CK_E_PROTO on EOF after it, CK_E_TIMEOUT or -errno. */
static int ck_ipc_read_all(int fd, uint8_t *p, size_t len, int64_t deadline)
{
	size_t got = 0;
	ssize_t n;
	int r;

	while (got < len) {
		r = ck_ipc_poll(fd, POLLIN, deadline);
		if (r < 0)
			return r;
		n = recv(fd, p + got, len - got, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return got ? CK_E_PROTO : CK_E_CLOSED;
		got += (size_t)n;
	}
	return 0;
}

int ck_ipc_sync_recv(int fd, size_t frame_max, int timeout_ms, ck_buf_t *ret_frame)
{
	int64_t deadline = ck_ipc_deadline(timeout_ms);
	uint8_t hdr[CK_IPC_HEADER_LEN];
	uint8_t *p;
	size_t len;
	int r;

	if (!frame_max)
		frame_max = CK_IPC_FRAME_MAX_DEFAULT;
	r = ck_ipc_read_all(fd, hdr, sizeof(hdr), deadline);
	if (r < 0)
		return r;
	len = ck_le32_get(hdr);
	if (len == 0 || len > frame_max)
		return CK_E_PROTO;
	ck_buf_reset(ret_frame);
	p = ck_buf_extend(ret_frame, len);
	if (!p)
		return -ENOMEM;
	r = ck_ipc_read_all(fd, p, len, deadline);
	if (r == CK_E_CLOSED)
		r = CK_E_PROTO; /* the header promised more */
	if (r < 0)
		ck_buf_reset(ret_frame);
	return r;
}
