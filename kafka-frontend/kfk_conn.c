/*
 * kfk_conn.c: Kafka client connections (shell of chronik-kafka-frontend):
 * size-framed reading, in-order responses, writev/sendfile output, idle
 * timeouts.
 *
 * Owned by kafka-frontend. Invariants:
 *   - an idle connection holds only this struct and its two events: frames
 *     are read through the server's shared scratch buffer and a frame body
 *     buffer exists only while a frame is incomplete, growing with the
 *     bytes that actually arrive (a hostile size field costs nothing);
 *   - responses leave strictly in request order (kfk_respq.h);
 *   - reading pauses while [kafka] max_inflight_requests requests, or
 *     requests of max_inflight_request_bytes, are queued, or
 *     max_queued_response_bytes response bytes wait to be written, or,
 *     once the answers in memory of all connections reach
 *     queued_max_response_bytes, while any of its own are not written;
 *   - the frames over KFK_RX_CHUNK that all connections hold, being read
 *     or as requests not yet freed, add up to at most
 *     queued_max_request_bytes, or are a single frame: a frame admitted
 *     when it starts can always be read whole, one that does not fit waits
 *     (its connection stops reading after its first KFK_RX_CHUNK) until
 *     the frames before it are freed, oldest waiter first;
 *   - a malformed frame, an undecodable request or a write error closes this
 *     connection only, with one log line;
 *   - a connection is never freed inside its own callbacks: kfk_conn_close()
 *     there marks it, and the callback frees it on the way out.
 * Not for: decoding requests (kfk_dispatch.c), handlers.
 */
#define CK_LOG_SUBSYSTEM "conn"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_srv.h"

#define KFK_IOV_MAX        64
#define KFK_READ_ROUNDS    16
#define KFK_RX_CHUNK       ((size_t)64 << 10)
/* A frame body buffer starts at most this big (16,000 connections that
 * each sent a few bytes of a frame held 64 KiB each). */
#define KFK_RX_FIRST       ((size_t)4 << 10)
#define KFK_SENDFILE_MAX   ((size_t)1 << 30)
#define KFK_REQ_HEADER_MIN 8 /* api key, version, correlation id */
/* While connections wait for request memory, a frame holding it must
 * arrive within this much plus a second per KFK_RX_MIN_RATE bytes. */
#define KFK_RX_SLOW_MS  10000
#define KFK_RX_MIN_RATE ((size_t)4 << 20)
/* Reading pauses while this many answers' file pieces (each holding a
 * segment file open) wait to be sent: a client that does not read holds
 * a bounded number of descriptors, not max_queued_response_bytes' worth. */
#define KFK_OUT_FILES_MAX 64
/* At the connection limit, a connection silent this long may be closed. */
#define KFK_EVICT_QUIET_MS 1000

struct kfk_conn {
	kfk_conn_t *prev, *next;
	kfk_srv_t *srv;
	int fd;
	struct event *rev;
	struct event *wev;
	struct event *cev; /* EV_CLOSED while reading pauses: a peer that hangs
	                      up is seen although its bytes are not read */
	/* Bytes read after a frame that paused reading (at most one read's):
	 * fed again, before the socket, when reading resumes. */
	uint8_t *stash;
	size_t stash_len;
	char peer[64];
	uint8_t hdr[4];
	uint8_t hdr_got;
	bool seen_bytes;
	bool read_paused;
	bool want_write;
	bool corked;
	bool dead;
	/* A request was refused: nothing more is read, and the connection
	 * closes once the requests before it are answered and written. */
	bool closing;
	int busy;
	uint8_t *rx;
	size_t rx_len;
	size_t rx_cap;
	size_t rx_got;
	/* The frame being read holds rx_len bytes of request memory
	 * (rx_admitted), or waits for them on the server's list (rx_waiting):
	 * meanwhile it reads no further than its first buffer. */
	bool rx_admitted;
	bool rx_waiting;
	kfk_conn_t *rx_wait_next;
	uint64_t rx_start_ms; /* when its size field arrived */
	kfk_respq_t q;
	uint64_t q_bytes; /* the frames of the requests in q */
	kfk_piece_t *out_head;
	kfk_piece_t *out_tail;
	uint64_t out_bytes;
	uint32_t out_files; /* pieces of out that hold a segment file open */
	uint64_t answered;  /* response bytes of answered requests still in q */
	uint64_t last_ms;
	/* The controller id this connection was last told (Metadata,
	 * DescribeCluster), -1: none; and whether it ever sent anything but
	 * metadata and admin requests (kfk_conns_controller_gone). */
	int32_t told_controller;
	bool data_client;
};

void kfk_piece_free(kfk_srv_t *s, kfk_piece_t *p)
{
	if (!p)
		return;
	s->resp_mem -= p->mem;
	if (p->fd >= 0)
		(void)close(p->fd);
	free(p->data);
	free(p);
}

const char *kfk_conn_peer(const kfk_conn_t *c)
{
	return c->peer;
}

kfk_srv_t *kfk_conn_srv(const kfk_conn_t *c)
{
	return c->srv;
}

void kfk_conn_enqueue(kfk_conn_t *c, kfk_req_t *req)
{
	kfk_respq_push(&c->q, &req->q);
	c->q_bytes += req->frame_len;
}

/* Whether C has as much in flight as it may: reading pauses. Past the
 * response memory of all connections, one with answers not yet written
 * waits until they are: clients that send and do not read hold at most
 * their last answer each, as with Kafka, which reads a connection's next
 * request only once its answer is sent; the others go on. */
static bool kfk_conn_full(const kfk_conn_t *c)
{
	const kfk_srv_t *s = c->srv;

	return c->q.count >= s->set.pipeline_max || c->q_bytes >= s->set.in_bytes_max ||
	       c->out_bytes >= s->set.out_bytes_max || c->out_files >= KFK_OUT_FILES_MAX ||
	       ((c->out_bytes > 0 || c->answered > 0) && s->resp_mem >= s->set.resp_budget);
}

static void kfk_conn_unlink(kfk_conn_t *c)
{
	kfk_srv_t *s = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->conns_tail = c->prev;
	c->prev = c->next = NULL;
}

static void kfk_conn_link_tail(kfk_conn_t *c)
{
	kfk_srv_t *s = c->srv;

	c->next = NULL;
	c->prev = s->conns_tail;
	if (s->conns_tail)
		s->conns_tail->next = c;
	else
		s->conns = c;
	s->conns_tail = c;
}

static void kfk_conn_rx_unwait(kfk_conn_t *c);

static void kfk_conn_destroy(kfk_conn_t *c)
{
	kfk_srv_t *s = c->srv;
	kfk_respq_item_t *it;

	while ((it = kfk_respq_pop_any(&c->q)) != NULL) {
		kfk_req_t *req = (kfk_req_t *)it;

		req->conn = NULL;
		if (req->finished)
			kfk_req_free(req);
		else if (req->on_orphan)
			req->on_orphan(req);
		/* else: whatever the request waits on frees it (kfk_req_finish). */
	}
	while (c->out_head) {
		kfk_piece_t *p = c->out_head;
		c->out_head = p->next;
		kfk_piece_free(s, p);
	}
	kfk_conn_rx_unwait(c);
	if (c->rx)
		kfk_conns_rx_release(s, kfk_conn_rx_take(c));
	free(c->rx);
	free(c->stash);
	if (c->cev)
		event_free(c->cev);
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->fd >= 0)
		(void)close(c->fd);
	kfk_conn_unlink(c);
	s->nconns--;
	free(c);
}

static void kfk_conn_close_log(kfk_conn_t *c, int16_t api_key, const char *reason)
{
	/* Clients can cause these at will: a bounded number of lines. */
	static ck_log_limit_t lim;
	bool normal = !strcmp(reason, "peer closed") || !strcmp(reason, "connection reset by peer");

	/* Clients hang up all the time; anything else is worth one line. */
	if (normal)
		ck_log(CK_LOG_DEBUG, "closing connection: peer=%s api_key=%d reason=\"%s\"",
		       c->peer, (int)api_key, reason);
	else
		ck_log_limited(&lim, CK_LOG_INFO,
		               "closing connection: peer=%s api_key=%d reason=\"%s\"", c->peer,
		               (int)api_key, reason);
}

static void kfk_conn_kill(kfk_conn_t *c)
{
	c->dead = true;
	if (c->busy == 0)
		kfk_conn_destroy(c);
}

void kfk_conn_close(kfk_conn_t *c, int16_t api_key, const char *reason)
{
	if (c->dead)
		return;
	kfk_conn_close_log(c, api_key, reason);
	kfk_conn_kill(c);
}

static void kfk_conn_pause(kfk_conn_t *c);

/* A closing connection goes once its queue is answered and written. */
static void kfk_conn_close_if_drained(kfk_conn_t *c)
{
	if (c->closing && !c->dead && !c->q.head && !c->out_head)
		kfk_conn_kill(c);
}

void kfk_conn_close_after(kfk_conn_t *c, int16_t api_key, const char *reason)
{
	if (c->dead || c->closing)
		return;
	kfk_conn_close_log(c, api_key, reason);
	c->closing = true;
	kfk_conn_pause(c); /* a hangup meanwhile still closes it at once */
	free(c->stash);
	c->stash = NULL;
	c->stash_len = 0;
	kfk_conn_close_if_drained(c);
}

/* Leaves a callback: frees the connection if it was closed inside. */
static void kfk_conn_release(kfk_conn_t *c)
{
	if (--c->busy == 0 && c->dead)
		kfk_conn_destroy(c);
}

static void kfk_conn_touch(kfk_conn_t *c)
{
	c->last_ms = ck_clock_mono_ms();
	/* Most recently active last: the idle sweep stops at the first
	 * connection that is not idle. */
	if (c->next) {
		kfk_conn_unlink(c);
		kfk_conn_link_tail(c);
	}
}

static void kfk_conn_cork(kfk_conn_t *c, bool on)
{
	int v = on ? 1 : 0;

	if (c->corked == on)
		return;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
	c->corked = on;
}

/* Consumes N written bytes from the head of the output queue. */
/* A piece of C's output is sent (or dropped): freed, and no longer counted. */
static void kfk_conn_piece_done(kfk_conn_t *c, kfk_piece_t *p)
{
	if (p->fd >= 0)
		c->out_files--;
	kfk_piece_free(c->srv, p);
}

static void kfk_conn_consume(kfk_conn_t *c, uint64_t n)
{
	c->out_bytes -= n;
	while (n > 0 && c->out_head) {
		kfk_piece_t *p = c->out_head;
		uint64_t take = CK_MIN(n, p->len);

		p->off += take;
		p->len -= take;
		n -= take;
		if (p->len == 0) {
			c->out_head = p->next;
			if (!c->out_head)
				c->out_tail = NULL;
			kfk_conn_piece_done(c, p);
		}
	}
	/* Empty pieces (zero-length records) are dropped too. */
	while (c->out_head && c->out_head->len == 0) {
		kfk_piece_t *p = c->out_head;
		c->out_head = p->next;
		if (!c->out_head)
			c->out_tail = NULL;
		kfk_conn_piece_done(c, p);
	}
}

/* One write step: 1 progress, 0 would block, <0 error (with *RET_WHAT). */
static int kfk_conn_write_step(kfk_conn_t *c, const char **ret_what)
{
	kfk_piece_t *p = c->out_head;
	ssize_t n;

	if (p->fd < 0) {
		struct iovec iov[KFK_IOV_MAX];
		int cnt = 0;

		for (kfk_piece_t *q = p; q && q->fd < 0 && cnt < KFK_IOV_MAX; q = q->next) {
			iov[cnt].iov_base = q->data + q->off;
			iov[cnt].iov_len = (size_t)q->len;
			cnt++;
		}
		n = writev(c->fd, iov, cnt);
		*ret_what = "write failed";
	} else {
		off_t off = (off_t)p->off;

		n = sendfile(c->fd, p->fd, &off, (size_t)CK_MIN(p->len, KFK_SENDFILE_MAX));
		*ret_what = "sendfile failed";
		if (n == 0) {
			/* The file ended before the range: never send a short frame. */
			*ret_what = "segment file shorter than the fetched range";
			return CK_E_CORRUPT;
		}
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EINTR)
			return 1;
		return -errno;
	}
	kfk_conn_consume(c, (uint64_t)n);
	return 1;
}

/* Stops reading C: the loop no longer wakes for its bytes, only for its
 * peer hanging up. */
static void kfk_conn_pause(kfk_conn_t *c)
{
	if (c->read_paused)
		return;
	c->read_paused = true;
	(void)event_del(c->rev);
	if (c->cev)
		(void)event_add(c->cev, NULL);
}

static void kfk_conn_resume_reading(kfk_conn_t *c)
{
	if (c->read_paused && !c->closing && !c->srv->stopping && !kfk_conn_full(c)) {
		c->read_paused = false;
		if (c->cev)
			(void)event_del(c->cev);
		if (!c->rx_waiting) {
			(void)event_add(c->rev, NULL);
			/* Stashed frames are fed whether or not more bytes come. */
			if (c->stash)
				event_active(c->rev, EV_READ, 0);
		}
	}
}

/* Writes what it can. Returns false when the connection was closed. */
static bool kfk_conn_flush(kfk_conn_t *c)
{
	const char *what = "";
	char reason[128];
	int r = 1;

	while (c->out_head && (r = kfk_conn_write_step(c, &what)) > 0)
		;
	if (r < 0) {
		(void)snprintf(reason, sizeof(reason), "%s (%s)", what, ck_strerror(r));
		kfk_conn_close(c, -1, reason);
		return false;
	}
	if (c->out_head) {
		if (!c->want_write) {
			c->want_write = true;
			(void)event_add(c->wev, NULL);
		}
	} else {
		if (c->want_write) {
			c->want_write = false;
			(void)event_del(c->wev);
		}
		kfk_conn_cork(c, false);
	}
	kfk_conn_touch(c);
	kfk_conn_resume_reading(c);
	kfk_conn_close_if_drained(c);
	return !c->dead;
}

static void kfk_req_at_head_orphan(kfk_req_t *req)
{
	kfk_req_free(req);
}

bool kfk_req_at_head(kfk_req_t *req, void (*handler)(kfk_req_t *req))
{
	kfk_conn_t *c = req->conn;

	if (!c || c->q.head == &req->q)
		return false;
	req->at_head = handler;
	req->on_orphan = kfk_req_at_head_orphan;
	return true;
}

/* Runs the handler of the head request if it waited to be the head. */
static void kfk_conn_run_head(kfk_conn_t *c)
{
	kfk_req_t *req = (kfk_req_t *)c->q.head;
	void (*handler)(kfk_req_t *);

	if (c->dead || !req || req->q.done || !req->at_head)
		return;
	handler = req->at_head;
	req->at_head = NULL;
	req->on_orphan = NULL;
	handler(req);
}

void kfk_conn_answered(kfk_conn_t *c, const kfk_req_t *req)
{
	c->answered += req->resp_bytes;
	kfk_conn_kick(c);
}

void kfk_conn_kick(kfk_conn_t *c)
{
	kfk_respq_item_t *it;
	bool any = false;

	if (c->dead)
		return;
	c->busy++;
	while ((it = kfk_respq_pop_ready(&c->q)) != NULL) {
		kfk_req_t *req = (kfk_req_t *)it;

		c->answered -= CK_MIN(c->answered, req->resp_bytes);
		if (!req->no_response && req->pieces) {
			for (kfk_piece_t *p = req->pieces; p; p = p->next) {
				if (p->fd >= 0) {
					kfk_conn_cork(c, true);
					c->out_files++;
				}
			}
			if (c->out_tail)
				c->out_tail->next = req->pieces;
			else
				c->out_head = req->pieces;
			c->out_tail = req->pieces_tail;
			c->out_bytes += req->resp_bytes;
			req->pieces = req->pieces_tail = NULL;
			any = true;
		}
		c->q_bytes -= req->frame_len;
		req->conn = NULL;
		kfk_req_free(req);
	}
	if (any || c->out_head)
		(void)kfk_conn_flush(c);
	else
		kfk_conn_resume_reading(c);
	kfk_conn_run_head(c);
	kfk_conn_close_if_drained(c);
	kfk_conn_release(c);
}

static void kfk_conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	kfk_conn_t *c = arg;

	(void)fd;
	(void)what;
	c->busy++;
	(void)kfk_conn_flush(c);
	kfk_conn_release(c);
}

/* A complete frame: hand it over. */
static void kfk_conn_frame(kfk_conn_t *c, uint8_t *frame, size_t len)
{
	kfk_conn_touch(c);
	kfk_dispatch_frame(c, frame, len);
	if (!c->dead && kfk_conn_full(c))
		kfk_conn_pause(c);
}

/* ---- request memory (queued_max_request_bytes) ---- */

/* Admits a frame of SIZE bytes if it fits beside those held, or is alone,
 * and no connection waits before it. */
static bool kfk_conn_rx_admit(kfk_srv_t *s, size_t size)
{
	if (s->rx_wait_head || (s->rx_held > 0 && s->rx_held + size > s->set.rx_budget))
		return false;
	s->rx_held += size;
	return true;
}

/* C's frame does not fit: C reads nothing more until it is admitted. */
static void kfk_conn_rx_wait(kfk_conn_t *c)
{
	static ck_log_limit_t lim;
	kfk_srv_t *s = c->srv;

	if (c->rx_waiting)
		return;
	(void)event_del(c->rev);
	c->rx_waiting = true;
	c->rx_wait_next = NULL;
	if (s->rx_wait_tail)
		s->rx_wait_tail->rx_wait_next = c;
	else
		s->rx_wait_head = c;
	s->rx_wait_tail = c;
	ck_log_limited(&lim, CK_LOG_WARN,
	               "request memory full: a connection waits to read its request peer=%s "
	               "request_bytes=%zu held_bytes=%" PRIu64 " queued_max_request_bytes=%" PRIu64,
	               c->peer, c->rx_len, s->rx_held, s->set.rx_budget);
}

static void kfk_conn_rx_unwait(kfk_conn_t *c)
{
	kfk_srv_t *s = c->srv;
	kfk_conn_t **pp = &s->rx_wait_head, *prev = NULL;

	if (!c->rx_waiting)
		return;
	while (*pp && *pp != c) {
		prev = *pp;
		pp = &(*pp)->rx_wait_next;
	}
	if (*pp)
		*pp = c->rx_wait_next;
	if (s->rx_wait_tail == c)
		s->rx_wait_tail = prev;
	c->rx_waiting = false;
	c->rx_wait_next = NULL;
}

void kfk_conns_rx_release(kfk_srv_t *s, size_t bytes)
{
	if (bytes == 0)
		return;
	CK_ASSERT(s->rx_held >= bytes);
	s->rx_held -= bytes;
	while (s->rx_wait_head) {
		kfk_conn_t *c = s->rx_wait_head;

		if (s->rx_held > 0 && s->rx_held + c->rx_len > s->set.rx_budget)
			break;
		kfk_conn_rx_unwait(c);
		s->rx_held += c->rx_len;
		c->rx_admitted = true;
		kfk_conn_touch(c); /* it was silent because it was not read */
		if (!c->dead && !c->read_paused && !s->stopping) {
			(void)event_add(c->rev, NULL);
			event_active(c->rev, EV_READ, 0);
		}
	}
}

size_t kfk_conn_rx_take(kfk_conn_t *c)
{
	size_t held = c->rx_admitted ? c->rx_len : 0;

	c->rx_admitted = false;
	return held;
}

/* The 4 size bytes are in: checks them and starts the frame body. */
static int kfk_conn_frame_start(kfk_conn_t *c)
{
	size_t size;
	int r;

	if (!c->seen_bytes && c->hdr[0] == 0x16 && c->hdr[1] == 0x03) {
		kfk_conn_close(c, -1, "tls handshake on the plaintext kafka port");
		return -1;
	}
	c->seen_bytes = true;
	r = kfk_frame_size_peek(c->hdr, 4, c->srv->set.request_bytes_max, &size);
	if (r == 0 && size < KFK_REQ_HEADER_MIN)
		r = CK_E_PROTO;
	if (r < 0) {
		char reason[96];

		(void)snprintf(reason, sizeof(reason), "%s (size field %d)",
		               r == CK_E_TOO_LARGE ? "request larger than the maximum"
		                                   : "malformed frame size",
		               (int)ck_be32_get(c->hdr));
		kfk_conn_close(c, -1, reason);
		return -1;
	}
	c->rx_len = size;
	c->rx_cap = CK_MIN(size, KFK_RX_FIRST);
	c->rx_got = 0;
	c->rx_start_ms = ck_clock_mono_ms();
	c->rx_admitted = size > KFK_RX_CHUNK && kfk_conn_rx_admit(c->srv, size);
	c->rx = malloc(c->rx_cap);
	if (!c->rx) {
		kfk_conn_close(c, -1, "out of memory");
		return -1;
	}
	return 0;
}

/* Feeds bytes read (into the scratch buffer, or stashed) through the
 * framing; once a frame pauses reading, the rest waits in the stash, so
 * the limits hold per frame, not per read. */
static void kfk_conn_feed(kfk_conn_t *c, const uint8_t *p, size_t n)
{
	while (n > 0 && !c->dead && !c->closing) {
		if (c->read_paused) {
			CK_ASSERT(c->stash == NULL);
			c->stash = malloc(n);
			if (!c->stash) {
				kfk_conn_close(c, -1, "out of memory");
				return;
			}
			memcpy(c->stash, p, n);
			c->stash_len = n;
			return;
		}
		if (!c->rx) {
			size_t take = CK_MIN(n, (size_t)(4 - c->hdr_got));

			memcpy(c->hdr + c->hdr_got, p, take);
			c->hdr_got = (uint8_t)(c->hdr_got + take);
			p += take;
			n -= take;
			if (c->hdr_got < 4 || kfk_conn_frame_start(c) < 0)
				continue;
		}
		size_t want = c->rx_len - c->rx_got;
		size_t take = CK_MIN(n, want);

		if (c->rx_got + take > c->rx_cap) {
			/* Grow with the bytes that arrived, never to a size field
			 * the client has not backed with data. */
			size_t cap = CK_MIN(c->rx_len, CK_MAX(c->rx_cap * 2, c->rx_got + take));
			uint8_t *nrx = realloc(c->rx, cap);

			if (!nrx) {
				kfk_conn_close(c, -1, "out of memory");
				return;
			}
			c->rx = nrx;
			c->rx_cap = cap;
		}
		memcpy(c->rx + c->rx_got, p, take);
		c->rx_got += take;
		p += take;
		n -= take;
		if (c->rx_got == c->rx_len) {
			uint8_t *frame = c->rx;

			c->rx = NULL;
			c->hdr_got = 0;
			kfk_conn_frame(c, frame, c->rx_len);
		}
	}
}

/* Reads straight into the frame being assembled. Returns bytes or <= 0. */
static ssize_t kfk_conn_read_body(kfk_conn_t *c)
{
	ssize_t n;

	if (c->rx_got == c->rx_cap) {
		size_t cap = CK_MIN(c->rx_len, CK_MAX(c->rx_cap * 2, KFK_RX_CHUNK));
		uint8_t *nrx = realloc(c->rx, cap);

		if (!nrx) {
			errno = ENOMEM;
			return -1;
		}
		c->rx = nrx;
		c->rx_cap = cap;
	}
	n = read(c->fd, c->rx + c->rx_got, c->rx_cap - c->rx_got);
	if (n > 0) {
		c->rx_got += (size_t)n;
		if (c->rx_got == c->rx_len) {
			uint8_t *frame = c->rx;

			c->rx = NULL;
			c->hdr_got = 0;
			kfk_conn_frame(c, frame, c->rx_len);
		}
	}
	return n;
}

static void kfk_conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	kfk_conn_t *c = arg;
	kfk_srv_t *s = c->srv;

	bool got = false;

	(void)what;
	c->busy++;
	if (c->stash && !c->read_paused) {
		uint8_t *st = c->stash;

		c->stash = NULL;
		kfk_conn_feed(c, st, c->stash_len);
		free(st);
		got = true;
	}
	for (int i = 0; i < KFK_READ_ROUNDS && !c->dead && !c->read_paused; i++) {
		ssize_t n;

		if (c->rx && c->rx_len > KFK_RX_CHUNK && !c->rx_admitted &&
		    c->rx_got >= KFK_RX_CHUNK) {
			kfk_conn_rx_wait(c);
			break;
		}
		/* Straight into the body once the frame's first KFK_RX_CHUNK
		 * came (the buffer grows ahead of the bytes then, not before). */
		if (c->rx && c->rx_got >= KFK_RX_CHUNK && c->rx_len - c->rx_got >= KFK_RX_CHUNK) {
			n = kfk_conn_read_body(c);
		} else {
			size_t want = s->scratch_len;

			/* A frame not admitted stops at its first KFK_RX_CHUNK. */
			if (c->rx && c->rx_len > KFK_RX_CHUNK && !c->rx_admitted)
				want = CK_MIN(want, KFK_RX_CHUNK - c->rx_got);
			n = read(fd, s->scratch, want);
			if (n > 0)
				kfk_conn_feed(c, s->scratch, (size_t)n);
		}
		if (n == 0) {
			kfk_conn_close(c, -1, "peer closed");
		} else if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			kfk_conn_close(c, -1,
			               errno == ECONNRESET ? "connection reset by peer"
			                                   : "read failed");
		} else {
			got = true;
			if ((size_t)n < s->scratch_len && !c->rx)
				break; /* drained: the next read would block */
		}
	}
	/* Bytes arriving are activity, also in the middle of a request: only
	 * a connection that sends nothing for the idle timeout is idle. */
	if (got && !c->dead)
		kfk_conn_touch(c);
	kfk_conn_release(c);
}

/* The peer hung up while reading was paused (EV_CLOSED): without it, a
 * client that pipelines up to the limit and goes away would hold its
 * requests (long polls of hours) and their memory until they end. */
static void kfk_conn_on_hangup(evutil_socket_t fd, short what, void *arg)
{
	kfk_conn_t *c = arg;

	(void)fd;
	(void)what;
	c->busy++;
	kfk_conn_close(c, -1, "peer closed");
	kfk_conn_release(c);
}

static void kfk_conn_peer_name(kfk_conn_t *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			(void)inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			(void)inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		} else {
			(void)snprintf(host, sizeof(host), "local");
		}
	}
	(void)snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
}

/* At the connection limit: closes the least recently active connection
 * that has no request in flight and has been silent for
 * KFK_EVICT_QUIET_MS. Returns whether one was closed. */
static bool kfk_conns_evict(kfk_srv_t *s)
{
	uint64_t now = ck_clock_mono_ms();

	for (kfk_conn_t *c = s->conns; c && now - c->last_ms >= KFK_EVICT_QUIET_MS; c = c->next) {
		if (c->dead || c->q.count > 0 || c->out_head || c->rx_waiting)
			continue;
		kfk_conn_close(c, -1,
		               "connection limit reached: the longest silent connection "
		               "makes room for a new one");
		return true;
	}
	return false;
}

void kfk_conn_accept(kfk_srv_t *s, int fd)
{
	static ck_log_limit_t lim;
	kfk_conn_t *c;
	int one = 1;

	if (s->nconns >= s->conns_max && !kfk_conns_evict(s)) {
		ck_log_limited(&lim, CK_LOG_WARN,
		               "connection limit reached and no connection is silent: refusing a "
		               "new one connections=%zu max=%zu",
		               s->nconns, s->conns_max);
		(void)close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || s->stopping) {
		free(c);
		(void)close(fd);
		return;
	}
	c->srv = s;
	c->fd = fd;
	c->told_controller = -1;
	kfk_respq_init(&c->q);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	kfk_conn_peer_name(c);
	c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, kfk_conn_on_read, c);
	c->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, kfk_conn_on_write, c);
	c->cev = event_new(s->base, fd, EV_CLOSED | EV_PERSIST, kfk_conn_on_hangup, c);
	kfk_conn_link_tail(c);
	s->nconns++;
	if (!c->rev || !c->wev || !c->cev || event_add(c->rev, NULL) < 0) {
		kfk_conn_close(c, -1, "out of memory");
		return;
	}
	c->last_ms = ck_clock_mono_ms();
	ck_log(CK_LOG_DEBUG, "connection accepted peer=%s connections=%zu", c->peer, s->nconns);
}

void kfk_conns_close_all(kfk_srv_t *s)
{
	while (s->conns) {
		kfk_conn_t *c = s->conns;

		c->dead = true;
		c->busy = 0;
		kfk_conn_destroy(c);
	}
}

size_t kfk_conns_drain(kfk_srv_t *s)
{
	kfk_conn_t *c = s->conns;
	size_t busy = 0;

	while (c) {
		kfk_conn_t *next = c->next;

		if (c->q.count == 0 && !c->out_head) {
			kfk_conn_close(c, -1, "shutting down");
		} else {
			busy++;
			kfk_conn_pause(c);
		}
		c = next;
	}
	return busy;
}

void kfk_conn_note_api(kfk_conn_t *c, int16_t api_key)
{
	switch (api_key) {
	case KFK_API_API_VERSIONS:
	case KFK_API_METADATA:
	case KFK_API_CREATE_TOPICS:
	case KFK_API_DELETE_TOPICS:
	case KFK_API_CREATE_PARTITIONS:
	case KFK_API_DESCRIBE_CONFIGS:
	case KFK_API_ALTER_CONFIGS:
	case KFK_API_INCREMENTAL_ALTER_CONFIGS:
	case KFK_API_DESCRIBE_CLUSTER:
	case KFK_API_ELECT_LEADERS:
	case KFK_API_DESCRIBE_ACLS:
	case KFK_API_CREATE_ACLS:
	case KFK_API_DELETE_ACLS:
	case KFK_API_SASL_HANDSHAKE:
	case KFK_API_SASL_AUTHENTICATE:
		break;
	default:
		c->data_client = true;
	}
}

void kfk_conn_note_controller(kfk_conn_t *c, int32_t id)
{
	c->told_controller = id;
}

size_t kfk_conns_controller_gone(kfk_srv_t *s, int32_t id)
{
	kfk_conn_t *c = s->conns;
	size_t n = 0;

	while (c) {
		kfk_conn_t *next = c->next;

		if (!c->dead && !c->data_client && c->told_controller == id && c->q.count == 0 &&
		    !c->out_head && !c->rx && c->hdr_got == 0) {
			kfk_conn_close(c, -1,
			               "its controller is gone: reconnect for fresh metadata");
			n++;
		}
		c = next;
	}
	return n;
}

/* While connections wait for request memory: closes those whose admitted
 * frame arrives too slowly (a client that sends a size field and then
 * trickles would otherwise hold the memory for ever). */
static void kfk_conns_rx_sweep(kfk_srv_t *s, uint64_t now_ms)
{
	kfk_conn_t *c = s->conns;

	while (c && s->rx_wait_head) {
		kfk_conn_t *next = c->next;

		if (c->rx && c->rx_admitted && !c->dead &&
		    now_ms - c->rx_start_ms > KFK_RX_SLOW_MS + c->rx_len / KFK_RX_MIN_RATE * 1000)
			kfk_conn_close(c, -1,
			               "request arriving too slowly while others wait for "
			               "request memory (queued_max_request_bytes)");
		c = next;
	}
}

void kfk_conns_sweep(kfk_srv_t *s, uint64_t now_ms)
{
	kfk_conn_t *c;

	kfk_conns_rx_sweep(s, now_ms);
	c = s->conns; /* after: that sweep may have freed the first */
	while (c) {
		kfk_conn_t *next = c->next;

		if (s->set.idle_timeout_ms == 0 || now_ms - c->last_ms < s->set.idle_timeout_ms)
			break; /* the rest were active more recently */
		/* A connection waiting for request memory is silent because it
		 * is not read. */
		if (c->q.count == 0 && !c->out_head && !c->rx_waiting)
			kfk_conn_close(c, -1,
			               c->rx || c->hdr_got
			                   ? "idle timeout in the middle of a request"
			                   : "idle timeout");
		c = next;
	}
}
