/*
 * chronik-metabench.c: the metadata load client of bench/meta.sh, speaking
 * the Kafka protocol directly on TCP sockets.
 *
 *   chronik-metabench create --seq N [common options]
 *   chronik-metabench create --clients C --secs S [--batch K] [common options]
 *   chronik-metabench alter --clients C --secs S --topics T [common options]
 *   chronik-metabench etcd-put (--seq N | --clients C --secs S) [common options]
 *   common: --bootstrap HOST:PORT[,HOST:PORT...] --partitions P --replication R
 *           --prefix NAME --timeout-ms MS --threads T
 *
 * create sends CreateTopics v4 (K new topics per request, default 1); alter
 * first creates T topics, then sends IncrementalAlterConfigs v0 setting
 * retention.ms of one of them to a new value per request; etcd-put sends
 * etcd puts (100-byte values) to etcd's JSON gateway over keep-alive
 * HTTP/1.1, so that etcd is driven by the same client as chronik. Each
 * client has its own connection and exactly one request in flight; clients
 * are spread round robin over the bootstrap nodes. With --threads 0 (the
 * default) each client is a thread making blocking calls; with T > 0 the
 * connections are spread over T event-driven threads (epoll), as etcd's Go
 * benchmark multiplexes its clients. Every per-topic error code is checked
 * (TOPIC_ALREADY_EXISTS included: every name is new), every etcd answer
 * must be HTTP 200 with a JSON header.
 *
 * Owned by the benchmark, not the product: librdkafka is deliberately not
 * used (its admin API queues requests and adds its own latency). Prints one
 * "result key=value ..." line and one "# ..." human line per run on stdout.
 * Exit status: 0 every request succeeded, 1 a request failed or was
 * answered with an error, 2 bad arguments.
 * Not for: percentile math (kbench_hist.c) or starting servers (meta.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ck_buf.h"
#include "ck_clock.h"
#include "kbench_hist.h"

#define MB_API_CREATE_TOPICS 19
#define MB_API_INC_ALTER     44
#define MB_RESOURCE_TOPIC    2
#define MB_ADDRS_MAX         16
#define MB_CLIENTS_MAX       1024
#define MB_BATCH_MAX         10000
#define MB_SETUP_BATCH       100
#define MB_RESP_MAX          (16u << 20)

typedef struct {
	char host[256];
	char port[16];
} mb_addr_t;

typedef struct {
	bool alter;
	bool etcd;    /* etcd-put: HTTP/JSON puts to etcd's gateway, not Kafka */
	uint64_t seq; /* >0: one client, this many requests */
	unsigned clients;
	unsigned threads; /* 0: a thread per client; else event-driven threads */
	double secs;
	unsigned batch;
	unsigned topics;
	int32_t partitions;
	int16_t replication;
	int timeout_ms;
	char prefix[128];
	char config[64]; /* alter: the topic config SET (retention.ms) */
	mb_addr_t addrs[MB_ADDRS_MAX];
	unsigned naddrs;
} mb_opts_t;

typedef struct {
	const mb_opts_t *o;
	unsigned idx;
	int fd;
	uint64_t deadline_ns; /* 0: stop after o->seq requests */
	pthread_barrier_t *start;
	ck_buf_t req, resp;
	kb_hist_t hist;
	uint64_t sent, t0_ns; /* event mode: the request in flight and its start */
	bool inflight;
	uint64_t requests, items, errors; /* items: topics / config writes done */
	int first_err;                    /* Kafka error code, or -1 for a transport failure */
	char first_msg[512];
} mb_client_t;

/* --- encoding (Kafka big-endian, non-flexible versions) ------------------ */

static void mb_put(ck_buf_t *b, uint64_t v, size_t n)
{
	uint8_t *p = ck_buf_extend(b, n);

	if (!p)
		abort(); /* a few hundred bytes: out of memory is not recoverable here */
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void mb_str(ck_buf_t *b, const char *s)
{
	size_t n = strlen(s);

	mb_put(b, n, 2);
	if (ck_buf_append(b, s, n) < 0)
		abort();
}

/* Starts a request: length placeholder and request header v1. */
static void mb_header(ck_buf_t *b, int16_t api, int16_t ver, int32_t corr)
{
	ck_buf_reset(b);
	mb_put(b, 0, 4);
	mb_put(b, (uint16_t)api, 2);
	mb_put(b, (uint16_t)ver, 2);
	mb_put(b, (uint32_t)corr, 4);
	mb_str(b, "chronik-metabench");
}

static void mb_finish(ck_buf_t *b)
{
	ck_be32_put(b->data, (uint32_t)(b->len - 4));
}

static void mb_topic_name(const mb_opts_t *o, unsigned client, uint64_t n, char *buf, size_t len)
{
	(void)snprintf(buf, len, "%s-%u-%" PRIu64, o->prefix, client, n);
}

/* CreateTopics v4 for topics FIRST..FIRST+COUNT-1 of client CLIENT. */
static void mb_create_encode(ck_buf_t *b, const mb_opts_t *o, int32_t corr, unsigned client,
                             uint64_t first, unsigned count)
{
	char name[256];

	mb_header(b, MB_API_CREATE_TOPICS, 4, corr);
	mb_put(b, count, 4);
	for (unsigned i = 0; i < count; i++) {
		mb_topic_name(o, client, first + i, name, sizeof(name));
		mb_str(b, name);
		mb_put(b, (uint32_t)o->partitions, 4);
		mb_put(b, (uint16_t)o->replication, 2);
		mb_put(b, 0, 4); /* no manual assignments */
		mb_put(b, 0, 4); /* no configs */
	}
	mb_put(b, (uint32_t)o->timeout_ms, 4);
	mb_put(b, 0, 1); /* validateOnly */
	mb_finish(b);
}

/* IncrementalAlterConfigs v0: SET config NAME of TOPIC to a value from N:
 * retention.ms (a log setting: every replica reconfigures its log) gets
 * one day plus N ms; another key (say min.insync.replicas, metadata only)
 * 1 or 2. */
static void mb_alter_encode(ck_buf_t *b, int32_t corr, const char *topic, const char *name,
                            uint64_t n)
{
	char v[32];

	if (!strcmp(name, "retention.ms"))
		(void)snprintf(v, sizeof(v), "%" PRIu64, 86400000u + n);
	else
		(void)snprintf(v, sizeof(v), "%" PRIu64, 1 + n % 2);
	mb_header(b, MB_API_INC_ALTER, 0, corr);
	mb_put(b, 1, 4);
	mb_put(b, MB_RESOURCE_TOPIC, 1);
	mb_str(b, topic);
	mb_put(b, 1, 4);
	mb_str(b, name);
	mb_put(b, 0, 1); /* SET */
	mb_str(b, v);
	mb_put(b, 0, 1); /* validateOnly */
	mb_finish(b);
}

/* --- decoding ------------------------------------------------------------- */

/* A nullable string; copies up to LEN-1 bytes into BUF when BUF is set. */
static int mb_span_str(ck_span_t *s, char *buf, size_t len)
{
	uint16_t n;
	const uint8_t *p;
	int r;

	if ((r = ck_span_be16(s, &n)) < 0)
		return r;
	if (n == 0xffff) {
		if (buf)
			buf[0] = '\0';
		return 0;
	}
	if ((r = ck_span_bytes(s, n, &p)) < 0)
		return r;
	if (buf) {
		size_t c = n < len ? n : len - 1;
		memcpy(buf, p, c);
		buf[c] = '\0';
	}
	return 0;
}

/* Records one per-item error of client C. */
static void mb_item_error(mb_client_t *c, int code, const char *what, const char *msg)
{
	c->errors++;
	if (c->first_err != 0)
		return;
	c->first_err = code;
	(void)snprintf(c->first_msg, sizeof(c->first_msg), "%s: %s", what,
	               msg && *msg ? msg : "(no message)");
}

/* The body of a CreateTopics v4 / IncrementalAlterConfigs v0 response: a
 * throttle time, then EXPECT results with an error code each. */
static int mb_decode(mb_client_t *c, ck_span_t s, bool alter, unsigned expect)
{
	uint32_t thr, n;
	uint16_t code;
	uint8_t type;
	char name[256], msg[128];
	int r = 0;

	if ((r = ck_span_be32(&s, &thr)) < 0 || (r = ck_span_be32(&s, &n)) < 0)
		return r;
	if (n != expect)
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++) {
		if (alter) {
			if ((r = ck_span_be16(&s, &code)) < 0 ||
			    (r = mb_span_str(&s, msg, sizeof(msg))) < 0 ||
			    (r = ck_span_u8(&s, &type)) < 0 ||
			    (r = mb_span_str(&s, name, sizeof(name))) < 0)
				return r;
		} else if ((r = mb_span_str(&s, name, sizeof(name))) < 0 ||
		           (r = ck_span_be16(&s, &code)) < 0 ||
		           (r = mb_span_str(&s, msg, sizeof(msg))) < 0) {
			return r;
		}
		if (code != 0)
			mb_item_error(c, (int16_t)code, name, msg);
	}
	return 0;
}

/* --- transport ------------------------------------------------------------ */

static int mb_connect(const mb_addr_t *a, int timeout_ms)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	int fd = -1, one = 1;

	if (getaddrinfo(a->host, a->port, &hints, &res) != 0)
		return -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		(void)close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -ECONNREFUSED;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int mb_io(int fd, void *p, size_t n, bool wr, int timeout_ms)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t r = wr ? send(fd, b, n, MSG_NOSIGNAL) : recv(fd, b, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) { /* a non-blocking socket (event mode) */
			struct pollfd pf = {.fd = fd, .events = wr ? POLLOUT : POLLIN};
			int pr = poll(&pf, 1, timeout_ms);

			if (pr == 0)
				return -ETIMEDOUT;
			if (pr < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The length of an HTTP response in P[0..N-1] (headers and a Content-Length
 * body), 0 while its headers are incomplete, or -EBADMSG. */
static ssize_t mb_http_frame_len(const uint8_t *p, size_t n)
{
	const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
	static const char cl[] = "\r\ncontent-length:";
	size_t hlen;

	if (!end)
		return n > 65536 ? -EBADMSG : 0;
	hlen = (size_t)(end - p) + 4;
	for (size_t i = 0; i + sizeof(cl) - 1 < hlen; i++) {
		if (strncasecmp((const char *)p + i, cl, sizeof(cl) - 1) == 0) {
			char *e;
			unsigned long v = strtoul((const char *)p + i + sizeof(cl) - 1, &e, 10);

			if (v > MB_RESP_MAX || (*e != '\r' && *e != ' '))
				return -EBADMSG;
			return (ssize_t)(hlen + v);
		}
	}
	return -EBADMSG; /* etcd's gateway always sends Content-Length */
}

/* How long client C's whole response is, from what C->resp holds so far:
 * 0 while that is not known, or -EBADMSG. */
static ssize_t mb_frame_len(const mb_client_t *c)
{
	uint32_t len;

	if (c->o->etcd)
		return mb_http_frame_len(c->resp.data, c->resp.len);
	if (c->resp.len < 4)
		return 0;
	len = ck_be32_get(c->resp.data);
	if (len < 4 || len > MB_RESP_MAX)
		return -EBADMSG;
	return 4 + (ssize_t)len;
}

/* Reads what the connection has for client C into C->resp; *DONE once the
 * whole response is in. On a non-blocking socket (event mode) nothing to
 * read is not an error; on a blocking one it is the receive timeout. */
static int mb_read(mb_client_t *c, bool blocking, bool *done)
{
	ssize_t r, frame;

	*done = false;
	if (ck_buf_reserve(&c->resp, 4096) < 0)
		return -ENOMEM;
	r = recv(c->fd, c->resp.data + c->resp.len, c->resp.cap - c->resp.len, 0);
	if (r < 0 && errno == EINTR)
		return 0;
	if (r < 0 && errno == EAGAIN)
		return blocking ? -ETIMEDOUT : 0;
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ECONNRESET;
	c->resp.len += (size_t)r;
	if ((frame = mb_frame_len(c)) <= 0)
		return (int)frame;
	if (c->resp.len > (size_t)frame)
		return -EBADMSG; /* one request in flight: nothing may follow */
	*done = c->resp.len == (size_t)frame;
	return 0;
}

/* Sends C->req and reads the whole response into C->resp (blocking). */
static int mb_roundtrip(mb_client_t *c)
{
	bool done = false;
	int r;

	if ((r = mb_io(c->fd, c->req.data, c->req.len, true, c->o->timeout_ms)) < 0)
		return r;
	ck_buf_reset(&c->resp);
	while (!done)
		if ((r = mb_read(c, true, &done)) < 0)
			return r;
	return 0;
}

/* The body of client C's Kafka response after its correlation id, which
 * must be CORR. */
static int mb_kafka_body(const mb_client_t *c, int32_t corr, ck_span_t *ret)
{
	if (c->resp.len < 8 || (int32_t)ck_be32_get(c->resp.data + 4) != corr)
		return -EBADMSG;
	*ret = ck_span(c->resp.data + 8, c->resp.len - 8);
	return 0;
}

/* --- etcd puts (the anchor's JSON gateway, with this client) ------------- */

static size_t mb_base64(const void *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = in;
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
		             (i + 2 < n ? p[i + 2] : 0);

		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* POST /v3/kv/put of key "<prefix>/c<client>/<n>" with a 100-byte value, as
 * bench/meta_etcd.py sends it. */
static void mb_etcd_encode(ck_buf_t *b, const mb_opts_t *o, unsigned client, uint64_t n)
{
	char key[192], k64[260], v64[140], body[512], head[400];
	const mb_addr_t *a = &o->addrs[client % o->naddrs];
	uint8_t value[100];
	int bl, hl;

	memset(value, 'v', sizeof(value));
	(void)mb_base64(value, sizeof(value), v64);
	(void)snprintf(key, sizeof(key), "%s/c%u/%" PRIu64, o->prefix, client, n);
	(void)mb_base64(key, strlen(key), k64);
	bl = snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);
	hl =
	    snprintf(head, sizeof(head),
	             "POST /v3/kv/put HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
	             "Content-Length: %d\r\n\r\n",
	             a->host, a->port, bl);
	ck_buf_reset(b);
	if (ck_buf_append(b, head, (size_t)hl) < 0 || ck_buf_append(b, body, (size_t)bl) < 0)
		abort();
}

/* An etcd put's answer: HTTP 200 with a JSON "header", as meta_etcd.py
 * checks it. */
static void mb_etcd_check(mb_client_t *c)
{
	const char *p = (const char *)c->resp.data;
	const char *eol = memchr(p, '\r', c->resp.len);
	char line[128];

	(void)snprintf(line, sizeof(line), "%.*s", eol ? (int)(eol - p) : 0, p);
	if (strlen(line) < 12 || strncmp(line, "HTTP/1.", 7) || strncmp(line + 8, " 200", 4)) {
		mb_item_error(c, strlen(line) >= 12 ? atoi(line + 9) : -1, "put", line);
		return;
	}
	if (!memmem(p, c->resp.len, "{\"header\":", 10)) {
		mb_item_error(c, -1, "put", "an answer without a header");
		return;
	}
	c->items++;
}

/* Encodes request number N of client C into C->req. */
static void mb_request_encode(mb_client_t *c, uint64_t n)
{
	const mb_opts_t *o = c->o;
	int32_t corr = (int32_t)(n & 0x7fffffff);
	char topic[256];

	if (o->etcd) {
		mb_etcd_encode(&c->req, o, c->idx, n);
	} else if (o->alter) {
		/* Clients walk the topics from different starting points. */
		mb_topic_name(o, 0, (c->idx + n * o->clients) % o->topics, topic, sizeof(topic));
		mb_alter_encode(&c->req, corr, topic, o->config, n * o->clients + c->idx);
	} else {
		mb_create_encode(&c->req, o, corr, c->idx, n * o->batch, o->batch);
	}
}

/* Checks the answer in C->resp to client C's request number N and counts
 * what succeeded. */
static int mb_request_check(mb_client_t *c, uint64_t n)
{
	unsigned items = c->o->alter ? 1 : c->o->batch;
	uint64_t errs = c->errors;
	ck_span_t body;
	int r;

	if (c->o->etcd) {
		mb_etcd_check(c);
		return 0;
	}
	if ((r = mb_kafka_body(c, (int32_t)(n & 0x7fffffff), &body)) < 0 ||
	    (r = mb_decode(c, body, c->o->alter, items)) < 0)
		return r;
	c->items += items - (c->errors - errs); /* only what succeeded */
	return 0;
}

/* One request of client C (number N of its run): encode, send, check. */
static int mb_request(mb_client_t *c, uint64_t n)
{
	int r;

	mb_request_encode(c, n);
	if ((r = mb_roundtrip(c)) < 0)
		return r;
	return mb_request_check(c, n);
}

/* Client C's request N failed in transport or framing: the connection is
 * out of step, so the client stops. */
static void mb_transport_error(mb_client_t *c, uint64_t n, int r)
{
	c->errors++;
	if (c->first_err != 0)
		return; /* the first error is the one to tell */
	c->first_err = -1;
	(void)snprintf(c->first_msg, sizeof(c->first_msg), "request %" PRIu64 ": %s", n,
	               strerror(-r));
}

static bool mb_client_done(const mb_client_t *c, uint64_t n)
{
	return c->deadline_ns ? ck_clock_mono_ns() >= c->deadline_ns : n >= c->o->seq;
}

/* A thread per client: blocking calls, one request in flight. */
static void *mb_client_run(void *arg)
{
	mb_client_t *c = arg;
	uint64_t t0, t1;
	int r;

	(void)pthread_barrier_wait(c->start);
	for (uint64_t n = 0; !mb_client_done(c, n); n++) {
		t0 = ck_clock_mono_ns();
		r = mb_request(c, n);
		t1 = ck_clock_mono_ns();
		c->requests++;
		if (r < 0) {
			mb_transport_error(c, n, r);
			break;
		}
		kb_hist_record(&c->hist, (t1 - t0 + 500) / 1000);
	}
	return NULL;
}

/* --- event mode: many clients on one thread -------------------------------- */

/* One event thread: clients FIRST, FIRST+STRIDE, ... of CL[0..TOTAL-1], each
 * with its own non-blocking connection and one request in flight, the way
 * etcd's Go benchmark multiplexes its clients over a few threads. */
typedef struct {
	mb_client_t *cl;
	unsigned first, stride, total;
	pthread_barrier_t *start;
} mb_evthread_t;

/* Sends client C's request number C->sent. */
static int mb_ev_send(mb_client_t *c)
{
	mb_request_encode(c, c->sent);
	ck_buf_reset(&c->resp);
	c->t0_ns = ck_clock_mono_ns();
	c->inflight = true;
	return mb_io(c->fd, c->req.data, c->req.len, true, c->o->timeout_ms);
}

/* Client C's response is complete: check it, record it, send the next
 * request. Returns 1 while the client goes on, 0 when it is done, or a
 * transport error. */
static int mb_ev_answered(mb_client_t *c)
{
	uint64_t t1 = ck_clock_mono_ns();
	int r;

	c->inflight = false;
	c->requests++;
	if ((r = mb_request_check(c, c->sent)) < 0)
		return r;
	kb_hist_record(&c->hist, (t1 - c->t0_ns + 500) / 1000);
	if (mb_client_done(c, ++c->sent))
		return 0;
	return (r = mb_ev_send(c)) < 0 ? r : 1;
}

static void *mb_ev_run(void *arg)
{
	mb_evthread_t *t = arg;
	struct epoll_event evs[64];
	unsigned active = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC), r;

	(void)pthread_barrier_wait(t->start);
	for (unsigned i = t->first; i < t->total; i += t->stride) {
		mb_client_t *c = &t->cl[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

		if (mb_client_done(c, 0))
			continue;
		r = ep < 0 ? -EMFILE : 0;
		if (r == 0 && fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
			r = -errno;
		if (r == 0 && epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			r = -errno;
		if (r == 0)
			r = mb_ev_send(c);
		if (r < 0) {
			mb_transport_error(c, 0, r);
			continue;
		}
		active++;
	}
	while (active > 0) {
		int n = epoll_wait(ep, evs, 64, t->cl[t->first].o->timeout_ms);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) { /* no answer within the timeout: every client left stops */
			for (unsigned i = t->first; i < t->total; i += t->stride)
				if (t->cl[i].inflight)
					mb_transport_error(&t->cl[i], t->cl[i].sent,
					                   n < 0 ? -errno : -ETIMEDOUT);
			break;
		}
		for (int i = 0; i < n; i++) {
			mb_client_t *c = evs[i].data.ptr;
			bool done;

			r = mb_read(c, false, &done);
			if (r == 0 && !done)
				continue;
			if (r == 0 && (r = mb_ev_answered(c)) > 0)
				continue;
			if (r < 0)
				mb_transport_error(c, c->sent, r);
			c->inflight = false;
			(void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			active--;
		}
	}
	if (ep >= 0)
		(void)close(ep);
	return NULL;
}

/* --- setup and report ---------------------------------------------------- */

/* alter mode: creates the T topics "<prefix>-0-<i>" first, MB_SETUP_BATCH a
 * request, through the first bootstrap node. */
static int mb_setup_topics(mb_opts_t *o)
{
	mb_client_t c = {.o = o, .first_err = 0};
	mb_opts_t co = *o;
	ck_span_t body;
	int r = 0;

	c.o = &co;
	co.alter = false;
	if ((c.fd = mb_connect(&o->addrs[0], o->timeout_ms)) < 0)
		return c.fd;
	for (uint64_t i = 0; i < o->topics && r == 0; i += MB_SETUP_BATCH) {
		unsigned n =
		    o->topics - i < MB_SETUP_BATCH ? (unsigned)(o->topics - i) : MB_SETUP_BATCH;
		mb_create_encode(&c.req, &co, (int32_t)i, 0, i, n);
		r = mb_roundtrip(&c);
		if (r == 0)
			r = mb_kafka_body(&c, (int32_t)i, &body);
		if (r == 0)
			r = mb_decode(&c, body, false, n);
		if (r == 0 && c.errors)
			r = -EPROTO;
	}
	if (r < 0)
		fprintf(stderr, "chronik-metabench: creating the alter topics failed: %s%s%s\n",
		        r == -EPROTO ? "" : strerror(-r), r == -EPROTO ? "" : " ",
		        c.errors ? c.first_msg : "");
	(void)close(c.fd);
	ck_buf_free(&c.req);
	ck_buf_free(&c.resp);
	return r;
}

static void mb_report(const mb_opts_t *o, mb_client_t *cl, uint64_t elapsed_ns)
{
	static kb_hist_t h;
	uint64_t req = 0, items = 0, errs = 0;
	double s = (double)elapsed_ns / 1e9;
	const char *what = o->etcd ? "etcd-put" : o->alter ? "alter" : "create";
	int first = 0;
	const char *msg = "";

	kb_hist_init(&h);
	for (unsigned i = 0; i < o->clients; i++) {
		kb_hist_merge(&h, &cl[i].hist);
		req += cl[i].requests;
		items += cl[i].items;
		errs += cl[i].errors;
		if (!first && cl[i].first_err) {
			first = cl[i].first_err;
			msg = cl[i].first_msg;
		}
	}
	printf("result mode=%s clients=%u batch=%u requests=%" PRIu64 " items=%" PRIu64
	       " errors=%" PRIu64 " secs=%.3f items_per_s=%.0f requests_per_s=%.0f p50_us=%" PRIu64
	       " p95_us=%" PRIu64 " p99_us=%" PRIu64 " max_us=%" PRIu64 " mean_us=%.0f\n",
	       what, o->clients, o->alter ? 1 : o->batch, req, items, errs, s,
	       s > 0 ? items / s : 0, s > 0 ? req / s : 0, kb_hist_quantile(&h, 0.50),
	       kb_hist_quantile(&h, 0.95), kb_hist_quantile(&h, 0.99), h.max_us, kb_hist_mean(&h));
	printf("# %s: %u client(s), %" PRIu64 " %s in %.2f s = %.0f/s; latency p50 %" PRIu64
	       " us, p99 %" PRIu64 " us, max %" PRIu64 " us; %" PRIu64 " error(s)\n",
	       what, o->clients, items,
	       o->etcd    ? "puts"
	       : o->alter ? "config writes"
	                  : "topics",
	       s, s > 0 ? items / s : 0, kb_hist_quantile(&h, 0.50), kb_hist_quantile(&h, 0.99),
	       h.max_us, errs);
	if (errs)
		fprintf(stderr, "chronik-metabench: first error (code %d) %s\n", first, msg);
}

static int mb_run(mb_opts_t *o)
{
	unsigned nth = o->threads && o->threads < o->clients ? o->threads : o->clients;
	mb_client_t *cl = calloc(o->clients, sizeof(*cl));
	pthread_t *th = calloc(nth, sizeof(*th));
	mb_evthread_t *ev = calloc(nth, sizeof(*ev));
	pthread_barrier_t start;
	uint64_t t0, errs = 0;
	int rc = 1;

	if (!cl || !th || !ev)
		goto out;
	if (o->alter && mb_setup_topics(o) < 0)
		goto out;
	for (unsigned i = 0; i < o->clients; i++)
		cl[i].fd = -1;
	/* Every client is connected before any starts: the load is all-or-nothing. */
	for (unsigned i = 0; i < o->clients; i++) {
		const mb_addr_t *a = &o->addrs[i % o->naddrs];

		cl[i] = (mb_client_t){.o = o, .idx = i, .start = &start};
		kb_hist_init(&cl[i].hist);
		cl[i].fd = mb_connect(a, o->timeout_ms);
		if (cl[i].fd < 0) {
			fprintf(stderr, "chronik-metabench: connect %s:%s: %s\n", a->host, a->port,
			        strerror(-cl[i].fd));
			goto out_close;
		}
	}
	(void)pthread_barrier_init(&start, NULL, nth + 1);
	t0 = ck_clock_mono_ns();
	for (unsigned i = 0; i < o->clients; i++)
		cl[i].deadline_ns = o->seq ? 0 : t0 + (uint64_t)(o->secs * 1e9);
	for (unsigned i = 0; i < nth; i++) {
		ev[i] = (mb_evthread_t){
		    .cl = cl, .first = i, .stride = nth, .total = o->clients, .start = &start};
		if (pthread_create(&th[i], NULL, o->threads ? mb_ev_run : mb_client_run,
		                   o->threads ? (void *)&ev[i] : (void *)&cl[i]) != 0)
			abort(); /* the barrier would wait forever */
	}
	(void)pthread_barrier_wait(&start);
	t0 = ck_clock_mono_ns();
	for (unsigned i = 0; i < nth; i++)
		(void)pthread_join(th[i], NULL);
	mb_report(o, cl, ck_clock_mono_ns() - t0);
	(void)pthread_barrier_destroy(&start);
	for (unsigned i = 0; i < o->clients; i++)
		errs += cl[i].errors;
	rc = errs ? 1 : 0;
out_close:
	for (unsigned i = 0; i < o->clients; i++) {
		if (cl[i].fd >= 0)
			(void)close(cl[i].fd);
		ck_buf_free(&cl[i].req);
		ck_buf_free(&cl[i].resp);
	}
out:
	free(cl);
	free(th);
	free(ev);
	return rc;
}

/* --- options ---------------------------------------------------------------- */

static void mb_usage(void)
{
	fprintf(stderr,
	        "usage: chronik-metabench create --seq N [options]\n"
	        "       chronik-metabench create --clients C --secs S [--batch K] [options]\n"
	        "       chronik-metabench alter --clients C --secs S --topics T [options]\n"
	        "       chronik-metabench etcd-put (--seq N | --clients C --secs S) [options]\n"
	        "options: --bootstrap HOST:PORT[,HOST:PORT...] (127.0.0.1:9092)\n"
	        "         --partitions P (1) --replication R (3) --prefix NAME (mb<pid>)\n"
	        "         --timeout-ms MS (30000)\n"
	        "         --threads T (0: a thread per client; T > 0: the clients'\n"
	        "           connections spread over T event-driven threads)\n"
	        "         --config NAME (alter: retention.ms; another key, e.g.\n"
	        "           min.insync.replicas, is set to 1 or 2)\n");
}

static int mb_num(const char *s, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > max) {
		fprintf(stderr, "chronik-metabench: bad number '%s'\n", s);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int mb_addrs_parse(mb_opts_t *o, const char *list)
{
	char buf[1024], *save = NULL, *tok, *colon;

	(void)snprintf(buf, sizeof(buf), "%s", list);
	o->naddrs = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		colon = strrchr(tok, ':');
		if (!colon || o->naddrs == MB_ADDRS_MAX ||
		    (size_t)(colon - tok) >= sizeof(o->addrs[0].host) ||
		    strlen(colon + 1) >= sizeof(o->addrs[0].port)) {
			fprintf(stderr, "chronik-metabench: bad bootstrap '%s'\n", tok);
			return -EINVAL;
		}
		*colon = '\0';
		(void)snprintf(o->addrs[o->naddrs].host, sizeof(o->addrs[0].host), "%s", tok);
		(void)snprintf(o->addrs[o->naddrs].port, sizeof(o->addrs[0].port), "%s", colon + 1);
		o->naddrs++;
	}
	return o->naddrs ? 0 : -EINVAL;
}

static int mb_opts_parse(mb_opts_t *o, int argc, char **argv)
{
	static const struct option lo[] = {{"seq", required_argument, NULL, 'n'},
	                                   {"clients", required_argument, NULL, 'c'},
	                                   {"secs", required_argument, NULL, 's'},
	                                   {"batch", required_argument, NULL, 'b'},
	                                   {"topics", required_argument, NULL, 't'},
	                                   {"bootstrap", required_argument, NULL, 'B'},
	                                   {"partitions", required_argument, NULL, 'p'},
	                                   {"replication", required_argument, NULL, 'r'},
	                                   {"prefix", required_argument, NULL, 'x'},
	                                   {"timeout-ms", required_argument, NULL, 'T'},
	                                   {"config", required_argument, NULL, 'C'},
	                                   {"threads", required_argument, NULL, 'j'},
	                                   {NULL, 0, NULL, 0}};
	double v;
	int ch;

	*o = (mb_opts_t){
	    .clients = 1, .batch = 1, .partitions = 1, .replication = 3, .timeout_ms = 30000};
	(void)snprintf(o->prefix, sizeof(o->prefix), "mb%d", (int)getpid());
	(void)snprintf(o->config, sizeof(o->config), "retention.ms");
	if (argc < 2 ||
	    (strcmp(argv[1], "create") && strcmp(argv[1], "alter") && strcmp(argv[1], "etcd-put")))
		return -EINVAL;
	o->alter = strcmp(argv[1], "alter") == 0;
	o->etcd = strcmp(argv[1], "etcd-put") == 0;
	if (mb_addrs_parse(o, "127.0.0.1:9092") < 0)
		return -EINVAL;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == 'B') {
			if (mb_addrs_parse(o, optarg) < 0)
				return -EINVAL;
			continue;
		}
		if (ch == 'x') {
			(void)snprintf(o->prefix, sizeof(o->prefix), "%s", optarg);
			continue;
		}
		if (ch == 'C') {
			(void)snprintf(o->config, sizeof(o->config), "%s", optarg);
			continue;
		}
		if (ch == '?' || mb_num(optarg, 1e12, &v) < 0)
			return -EINVAL;
		switch (ch) {
		case 'n':
			o->seq = (uint64_t)v;
			break;
		case 'c':
			o->clients = (unsigned)(v > MB_CLIENTS_MAX ? 0 : v);
			break;
		case 's':
			o->secs = v;
			break;
		case 'b':
			o->batch = (unsigned)(v > MB_BATCH_MAX ? 0 : v);
			break;
		case 't':
			o->topics = (unsigned)(v > 1e7 ? 0 : v);
			break;
		case 'p':
			o->partitions = (int32_t)(v > 100000 ? 0 : v);
			break;
		case 'r':
			o->replication = (int16_t)(v > 100 ? 0 : v);
			break;
		case 'j':
			o->threads = (unsigned)(v > MB_CLIENTS_MAX ? MB_CLIENTS_MAX : v);
			break;
		case 'T':
			o->timeout_ms = (int)(v > 3600000 ? 0 : v);
			break;
		}
	}
	if (optind != argc || o->clients == 0 || o->batch == 0 || o->partitions <= 0 ||
	    o->replication <= 0 || o->timeout_ms <= 0)
		return -EINVAL;
	if (o->seq) {
		if (o->clients != 1 || o->secs > 0)
			return -EINVAL;
	} else if (o->secs <= 0) {
		return -EINVAL;
	}
	if (o->alter && (o->topics == 0 || o->batch != 1))
		return -EINVAL;
	if (o->etcd && o->batch != 1)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	static mb_opts_t o;

	if (mb_opts_parse(&o, argc, argv) < 0) {
		mb_usage();
		return 2;
	}
	return mb_run(&o);
}
