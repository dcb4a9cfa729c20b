/*
 * test_ck_ipc.c: unit tests of framed IPC (common/ck_ipc.h) in one event
 * loop, over socketpairs, a Unix socket in a temp directory and loopback
 * TCP: round trips, pipelining order, large frames, the frame_max
 * boundary, bad frames closing only their own connection (with one log
 * line), closing and freeing from inside callbacks, the reconnecting
 * client, accept under EMFILE, and the blocking helpers' timeouts.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_crc32c.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_log.h"
#include "ck_rand.h"
#include "ck_testlib.h"
#include "walwriter.pb-c.h"

#define WAIT_MS 20000 /* generous: the machine is shared */

static struct event_base *base;
static struct event *tick; /* wakes the loop so RUN_UNTIL re-checks */
static char tmpdir[128], sock_path[256], log_path[256];

/* One end of a connection under test. */
typedef struct {
	ck_ipc_conn_t *conn;
	int nframes;
	size_t bytes;
	ck_buf_t last;
	bool closed;
	int close_err;
	bool echo;
	int close_on_frame;   /* ck_ipc_conn_close() on this frame number */
	bool reply_and_flush; /* answer, then ck_ipc_conn_close_after_flush() */
	bool check_seq;       /* frames carry seq (le32) + pattern */
	uint32_t next_seq;
	bool order_ok;
} peer_t;

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static void setup(void)
{
	struct timeval tv = {0, 5000};

	ck_test_env_clear();
	ck_test_mkdtemp(tmpdir, sizeof(tmpdir), "ipc");
	snprintf(sock_path, sizeof(sock_path), "%s/test.sock", tmpdir);
	snprintf(log_path, sizeof(log_path), "%s/test.log", tmpdir);
	ck_log_init("test_ck_ipc");
	ck_assert_int_eq(ck_log_set_file(log_path), 0);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	ck_assert_int_eq(event_add(tick, &tv), 0);
}

static void teardown(void)
{
	event_free(tick);
	event_base_free(base);
	(void)ck_log_set_file(NULL);
	(void)ck_test_rmtree(tmpdir);
}

#define RUN_UNTIL(cond)                                                                     \
	do {                                                                                \
		uint64_t deadline_ = ck_clock_mono_ms() + WAIT_MS;                          \
		while (!(cond)) {                                                           \
			if (ck_clock_mono_ms() > deadline_)                                 \
				ck_abort_msg("timed out waiting for %s", #cond);            \
			(void)event_base_loop(base, EVLOOP_ONCE);                           \
		}                                                                           \
	} while (0)

/* Runs the loop for about MS milliseconds. */
static void run_for(int ms)
{
	uint64_t end = ck_clock_mono_ms() + (uint64_t)ms;

	while (ck_clock_mono_ms() < end)
		(void)event_base_loop(base, EVLOOP_ONCE);
}

static void peer_frame(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg)
{
	peer_t *p = arg;

	p->nframes++;
	p->bytes += len;
	ck_buf_reset(&p->last);
	ck_assert_int_eq(ck_buf_append(&p->last, data, len), 0);
	if (p->check_seq) {
		uint32_t seq = len >= 4 ? ck_le32_get(data) : UINT32_MAX;
		bool ok = seq == p->next_seq++;
		for (size_t i = 4; ok && i < len; i++)
			ok = data[i] == (uint8_t)(seq + i);
		if (!ok)
			p->order_ok = false;
	}
	if (p->echo)
		ck_assert_int_eq(ck_ipc_conn_send(c, data, len), 0);
	if (p->reply_and_flush) {
		ck_assert_int_eq(ck_ipc_conn_send(c, "bye", 3), 0);
		ck_ipc_conn_close_after_flush(c);
		ck_assert_int_eq(ck_ipc_conn_send(c, "late", 4), CK_E_CLOSED);
		p->conn = NULL;
	}
	if (p->close_on_frame && p->nframes == p->close_on_frame) {
		ck_ipc_conn_close(c);
		ck_ipc_conn_close(c); /* twice is harmless while still in the callback */
		p->conn = NULL;
	}
}

static void peer_close(ck_ipc_conn_t *c, int err, void *arg)
{
	peer_t *p = arg;

	p->closed = true;
	p->close_err = err;
	p->conn = NULL;
	ck_ipc_conn_close(c); /* allowed, and a no-op, inside on_close */
}

static const ck_ipc_handlers_t peer_handlers = {peer_frame, peer_close};

static void peer_init(peer_t *p)
{
	memset(p, 0, sizeof(*p));
	ck_buf_init(&p->last);
	p->order_ok = true;
}

static void peer_done(peer_t *p)
{
	ck_ipc_conn_close(p->conn);
	p->conn = NULL;
	ck_buf_free(&p->last);
}

/* A and B joined by a socketpair; B accepts frames up to B_MAX. */
static void pair_open(peer_t *a, peer_t *b, size_t b_max)
{
	int sv[2];

	peer_init(a);
	peer_init(b);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
			 0);
	a->conn = ck_ipc_conn_new(base, sv[0], 0, &peer_handlers, a);
	b->conn = ck_ipc_conn_new(base, sv[1], b_max, &peer_handlers, b);
	ck_assert_ptr_nonnull(a->conn);
	ck_assert_ptr_nonnull(b->conn);
	ck_assert_int_eq(ck_ipc_conn_fd(a->conn), sv[0]);
}

/* Frame SEQ of LEN bytes: le32 seq then a pattern derived from it. */
static void make_frame(ck_buf_t *b, uint32_t seq, size_t len)
{
	uint8_t *p;

	ck_buf_reset(b);
	p = ck_buf_extend(b, len);
	ck_assert_ptr_nonnull(p);
	ck_le32_put(p, seq);
	for (size_t i = 4; i < len; i++)
		p[i] = (uint8_t)(seq + i);
}

static int count_in_log(const char *needle)
{
	static char text[1 << 16];
	FILE *f = fopen(log_path, "r");
	size_t n;
	int count = 0;

	ck_assert_msg(f != NULL, "cannot read %s: %s", log_path, strerror(errno));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (const char *p = text; (p = strstr(p, needle)); p++)
		count++;
	return count;
}

START_TEST(test_round_trip)
{
	peer_t a, b;

	pair_open(&a, &b, 0);
	b.echo = true;
	ck_assert_int_eq(ck_ipc_conn_send(a.conn, "hello", 5), 0);
	ck_assert_uint_eq(ck_ipc_conn_outq_bytes(a.conn), 4 + 5);
	RUN_UNTIL(a.nframes == 1);
	ck_assert_int_eq(b.nframes, 1);
	ck_assert_uint_eq(a.last.len, 5);
	ck_assert_mem_eq(a.last.data, "hello", 5);
	ck_assert_uint_eq(ck_ipc_conn_outq_bytes(a.conn), 0);
	/* Empty frames are refused on the sending side too. */
	ck_assert_int_eq(ck_ipc_conn_send(a.conn, "", 0), CK_E_INVALID);
	/* b goes away: a learns of it through on_close with EOF. */
	peer_done(&b);
	RUN_UNTIL(a.closed);
	ck_assert_int_eq(a.close_err, 0);
	peer_done(&a);
}
END_TEST

START_TEST(test_pipelined_in_order)
{
	peer_t a, b;
	ck_buf_t f = CK_BUF_INIT;
	ck_rand_t r;
	size_t total = 0;

	pair_open(&a, &b, 0);
	b.check_seq = true;
	b.echo = true;
	a.check_seq = true;
	ck_rand_seed(&r, 1000);
	for (uint32_t seq = 0; seq < 1000; seq++) {
		size_t len = 4 + ck_rand_below(&r, 3000);
		make_frame(&f, seq, len);
		total += len;
		ck_assert_int_eq(ck_ipc_conn_send(a.conn, f.data, f.len), 0);
	}
	RUN_UNTIL(a.nframes == 1000);
	ck_assert_int_eq(b.nframes, 1000);
	ck_assert(b.order_ok);
	ck_assert(a.order_ok);
	ck_assert_uint_eq(b.bytes, total);
	ck_assert_uint_eq(a.bytes, total);
	ck_buf_free(&f);
	peer_done(&a);
	peer_done(&b);
}
END_TEST

START_TEST(test_large_frames)
{
	static const size_t sizes[] = {16u << 20, 1, 5u << 20, 4096, 64u << 20};
	peer_t a, b;
	ck_buf_t f = CK_BUF_INIT;

	pair_open(&a, &b, 0);
	b.check_seq = true;
	for (uint32_t i = 0; i < 5; i++) {
		make_frame(&f, i, CK_MAX(sizes[i], 4));
		ck_assert_int_eq(ck_ipc_conn_send(a.conn, f.data, f.len), 0);
	}
	ck_assert_uint_gt(ck_ipc_conn_outq_bytes(a.conn), 64u << 20);
	RUN_UNTIL(b.nframes == 5);
	ck_assert(b.order_ok);
	ck_assert_uint_eq(b.last.len, 64u << 20);
	ck_assert_uint_eq(ck_crc32c(0, b.last.data, b.last.len), ck_crc32c(0, f.data, f.len));
	RUN_UNTIL(ck_ipc_conn_outq_bytes(a.conn) == 0);
	ck_buf_free(&f);
	peer_done(&a);
	peer_done(&b);
}
END_TEST

/* A large frame crosses in few loop passes: libevent 2.1 reads 4 KiB per
 * readable event and writes 16 KiB per writable one by default, which
 * made a 4 MiB frame cost over a thousand passes of both loops. */
START_TEST(test_large_frame_few_passes)
{
	peer_t a, b;
	ck_buf_t f = CK_BUF_INIT;
	int passes = 0;

	pair_open(&a, &b, 0);
	b.check_seq = true;
	make_frame(&f, 0, 4u << 20);
	ck_assert_int_eq(ck_ipc_conn_send(a.conn, f.data, f.len), 0);
	while (b.nframes == 0 && passes < 100000) {
		(void)event_base_loop(base, EVLOOP_ONCE);
		passes++;
	}
	ck_assert_int_eq(b.nframes, 1);
	ck_assert(b.order_ok);
	ck_assert_uint_eq(b.last.len, 4u << 20);
	ck_assert_msg(passes < 256, "a 4 MiB frame took %d loop passes", passes);
	ck_buf_free(&f);
	peer_done(&a);
	peer_done(&b);
}
END_TEST

START_TEST(test_send_msg)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__Append app = CHRONIK__WAL__APPEND__INIT;
	Chronik__Wal__WalRequest *got;
	ck_buf_t f = CK_BUF_INIT;
	peer_t a, b;

	pair_open(&a, &b, 2u << 20);
	make_frame(&f, 77, 1u << 20);
	app.topic = "orders";
	app.partition = 3;
	app.leader_epoch = 9;
	app.batches.data = f.data;
	app.batches.len = f.len;
	req.correlation_id = 12345;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_APPEND;
	req.append = &app;
	ck_assert_int_eq(ck_ipc_conn_send_msg(a.conn, &req.base), 0);
	RUN_UNTIL(b.nframes == 1);
	got = chronik__wal__wal_request__unpack(NULL, b.last.len, b.last.data);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(got->correlation_id, 12345);
	ck_assert_int_eq(got->body_case, CHRONIK__WAL__WAL_REQUEST__BODY_APPEND);
	ck_assert_str_eq(got->append->topic, "orders");
	ck_assert_int_eq(got->append->partition, 3);
	ck_assert_int_eq(got->append->leader_epoch, 9);
	ck_assert_uint_eq(got->append->batches.len, f.len);
	ck_assert_mem_eq(got->append->batches.data, f.data, f.len);
	chronik__wal__wal_request__free_unpacked(got, NULL);
	/* Over b's limit: b refuses it (a's own limit is the default). A
	 * message over the sender's limit is refused before queueing. */
	make_frame(&f, 78, 3u << 20);
	app.batches.data = f.data;
	app.batches.len = f.len;
	ck_assert_int_eq(ck_ipc_conn_send_msg(b.conn, &req.base), CK_E_TOO_LARGE);
	ck_assert_uint_eq(ck_ipc_conn_outq_bytes(b.conn), 0);
	ck_assert_int_eq(ck_ipc_conn_send_msg(a.conn, &req.base), 0);
	RUN_UNTIL(b.closed);
	ck_assert_int_eq(b.close_err, CK_E_PROTO);
	ck_buf_free(&f);
	peer_done(&a);
	peer_done(&b);
}
END_TEST

START_TEST(test_frame_max_boundary)
{
	peer_t a, b;
	ck_buf_t f = CK_BUF_INIT;

	pair_open(&a, &b, 65536);
	b.check_seq = true;
	make_frame(&f, 0, 65536);
	ck_assert_int_eq(ck_ipc_conn_send(a.conn, f.data, f.len), 0);
	RUN_UNTIL(b.nframes == 1);
	ck_assert(b.order_ok);
	ck_assert(!b.closed);
	/* The sender checks its own limit. */
	ck_assert_int_eq(ck_ipc_conn_send(b.conn, f.data, 65537), CK_E_TOO_LARGE);
	make_frame(&f, 1, 65537);
	ck_assert_int_eq(ck_ipc_conn_send(a.conn, f.data, f.len), 0);
	RUN_UNTIL(b.closed && a.closed);
	ck_assert_int_eq(b.nframes, 1);
	ck_assert_int_eq(b.close_err, CK_E_PROTO);
	ck_assert_msg(a.close_err == 0 || a.close_err == -ECONNRESET || a.close_err == -EPIPE,
		      "a.close_err=%d", a.close_err);
	ck_assert_int_eq(count_in_log("closing connection: frame too large"), 1);
	ck_assert_int_eq(count_in_log("len=65537 frame_max=65536"), 1);
	ck_buf_free(&f);
	peer_done(&a);
	peer_done(&b);
}
END_TEST

/* ---- a Unix socket server ---------------------------------------------- */

#define MAX_SERVED 8
static peer_t served[MAX_SERVED];
static int nserved;
static ck_ipc_listener_t *listener;

static void server_accept(int fd, void *arg)
{
	int flags = fcntl(fd, F_GETFL);
	int fdflags = fcntl(fd, F_GETFD);

	/* Accepted sockets come non-blocking and close-on-exec. */
	ck_assert(flags & O_NONBLOCK);
	ck_assert(fdflags & FD_CLOEXEC);
	ck_assert_int_lt(nserved, MAX_SERVED);
	peer_t *p = &served[nserved++];
	peer_init(p);
	p->echo = true;
	p->conn = ck_ipc_conn_new(base, fd, (size_t)(uintptr_t)arg, &peer_handlers, p);
	ck_assert_ptr_nonnull(p->conn);
}

static void server_start(size_t frame_max)
{
	int fd;

	ck_assert_int_eq(ck_ipc_unix_listen(sock_path, 16, &fd), 0);
	listener = ck_ipc_listener_new(base, fd, server_accept, (void *)(uintptr_t)frame_max);
	ck_assert_ptr_nonnull(listener);
}

static void server_stop(void)
{
	ck_ipc_listener_free(listener);
	listener = NULL;
	for (int i = 0; i < nserved; i++)
		peer_done(&served[i]);
}

static int readable_bytes(int fd)
{
	int n = 0;

	ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* Connects a raw blocking client and waits until the server has it. */
static int raw_connect(void)
{
	int fd, want = nserved + 1;

	ck_assert_int_eq(ck_ipc_sync_connect(sock_path, 5000, &fd), 0);
	RUN_UNTIL(nserved == want);
	return fd;
}

/* Sends MSG on FD and expects the server's echo. */
static void raw_echo(int fd, const char *msg)
{
	ck_buf_t got = CK_BUF_INIT;
	size_t len = strlen(msg);

	ck_assert_int_eq(ck_ipc_sync_send(fd, msg, len), 0);
	RUN_UNTIL(readable_bytes(fd) >= (int)(4 + len));
	ck_assert_int_eq(ck_ipc_sync_recv(fd, 0, 5000, &got), 0);
	ck_assert_uint_eq(got.len, len);
	ck_assert_mem_eq(got.data, msg, len);
	ck_buf_free(&got);
}

/* FD's server side closed it: FD reads EOF (or a reset). */
static void raw_expect_closed(int fd)
{
	ck_buf_t got = CK_BUF_INIT;
	int r = ck_ipc_sync_recv(fd, 0, 5000, &got);

	ck_assert_msg(r == CK_E_CLOSED || r == -ECONNRESET, "got %d", r);
	ck_buf_free(&got);
}

START_TEST(test_bad_frames_close_only_their_connection)
{
	static const uint8_t oversized[] = {0xff, 0xff, 0xff, 0xff, 'x'};
	static const uint8_t empty[] = {0, 0, 0, 0, 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'};
	static const uint8_t truncated[] = {100, 0, 0, 0, 'o', 'n', 'l', 'y'};
	static const uint8_t garbage[] = "GET / HTTP/1.1\r\n\r\n";
	struct {
		const uint8_t *bytes;
		size_t len;
		const char *reason;
	} bad[] = {
		{oversized, sizeof(oversized), "closing connection: frame too large"},
		{empty, sizeof(empty), "closing connection: empty frame"},
		{truncated, sizeof(truncated), "closing connection: truncated frame at eof"},
		{garbage, sizeof(garbage) - 1, "closing connection: frame too large"},
	};
	int good;

	nserved = 0;
	server_start(1u << 20);
	good = raw_connect();
	raw_echo(good, "first");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = raw_connect();
		peer_t *p = &served[nserved - 1];

		raw_echo(fd, "fine so far");
		ck_assert_int_eq(write(fd, bad[i].bytes, bad[i].len), (ssize_t)bad[i].len);
		if (bad[i].bytes == truncated)
			ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
		RUN_UNTIL(p->closed);
		ck_assert_int_eq(p->close_err, CK_E_PROTO);
		ck_assert_int_eq(p->nframes, 1);
		ck_assert_msg(count_in_log(bad[i].reason) >= 1, "no log line \"%s\"", bad[i].reason);
		raw_expect_closed(fd);
		close(fd);
		/* The other connection is untouched. */
		ck_assert(!served[0].closed);
		raw_echo(good, "still here");
	}
	ck_assert_int_eq(count_in_log("closing connection:"), 4);
	ck_assert_int_eq(served[0].nframes, 1 + 4);
	close(good);
	RUN_UNTIL(served[0].closed);
	ck_assert_int_eq(served[0].close_err, 0);
	server_stop();
}
END_TEST

START_TEST(test_close_inside_callbacks)
{
	peer_t a, b;
	ck_buf_t f = CK_BUF_INIT;

	/* b closes itself on the 3rd of 10 pipelined frames. */
	pair_open(&a, &b, 0);
	b.close_on_frame = 3;
	for (uint32_t i = 0; i < 10; i++) {
		make_frame(&f, i, 100);
		ck_assert_int_eq(ck_ipc_conn_send(a.conn, f.data, f.len), 0);
	}
	RUN_UNTIL(a.closed);
	ck_assert_int_eq(b.nframes, 3);
	ck_assert(!b.closed); /* closing by hand does not call on_close */
	peer_done(&a);
	peer_done(&b);

	/* b answers, then closes after the answer is flushed. */
	pair_open(&a, &b, 0);
	b.reply_and_flush = true;
	ck_assert_int_eq(ck_ipc_conn_send(a.conn, "q1", 2), 0);
	ck_assert_int_eq(ck_ipc_conn_send(a.conn, "q2", 2), 0);
	RUN_UNTIL(a.closed);
	ck_assert_int_eq(a.nframes, 1);
	ck_assert_mem_eq(a.last.data, "bye", 3);
	ck_assert_int_eq(a.close_err, 0);
	ck_assert_int_eq(b.nframes, 1); /* q2 is not read after the close */
	ck_assert(!b.closed);
	peer_done(&a);
	peer_done(&b);
	ck_buf_free(&f);
}
END_TEST

/* ---- the reconnecting client ------------------------------------------ */

typedef struct {
	int connects, disconnects, frames;
	int last_err;
	ck_buf_t last;
	bool free_on_frame;
	ck_ipc_client_t **self;
} client_state_t;

static void cl_connect(ck_ipc_client_t *cl, void *arg)
{
	client_state_t *s = arg;

	s->connects++;
	ck_assert(ck_ipc_client_connected(cl));
}

static void cl_frame(ck_ipc_client_t *cl, const uint8_t *data, size_t len, void *arg)
{
	client_state_t *s = arg;

	s->frames++;
	ck_buf_reset(&s->last);
	ck_assert_int_eq(ck_buf_append(&s->last, data, len), 0);
	if (s->free_on_frame) {
		ck_ipc_client_free(cl);
		*s->self = NULL;
	}
}

static void cl_disconnect(ck_ipc_client_t *cl, int err, void *arg)
{
	client_state_t *s = arg;

	s->disconnects++;
	s->last_err = err;
	ck_assert(!ck_ipc_client_connected(cl));
}

static const ck_ipc_client_handlers_t cl_handlers = {cl_connect, cl_frame, cl_disconnect};

START_TEST(test_client_reconnects)
{
	client_state_t s = {0};
	ck_ipc_client_t *cl;
	int attempts;

	ck_log_set_level(CK_LOG_DEBUG);
	nserved = 0;
	cl = ck_ipc_client_new(base, sock_path, 0, &cl_handlers, &s);
	ck_assert_ptr_nonnull(cl);
	ck_assert(!ck_ipc_client_connected(cl));
	ck_assert_int_eq(ck_ipc_client_send(cl, "x", 1), -ENOTCONN);
	/* No server yet: the client keeps trying with growing delays. */
	run_for(400);
	attempts = count_in_log("connect failed");
	ck_assert_int_ge(attempts, 2);
	ck_assert_msg(attempts <= 10, "%d attempts in 400 ms: no backoff?", attempts);
	ck_assert_int_eq(s.connects, 0);

	server_start(0);
	RUN_UNTIL(s.connects == 1);
	ck_assert_uint_ne(ck_ipc_client_next_id(cl), 0);
	ck_assert_uint_ne(ck_ipc_client_next_id(cl), ck_ipc_client_next_id(cl));
	ck_assert_int_eq(ck_ipc_client_send(cl, "ping", 4), 0);
	RUN_UNTIL(s.frames == 1);
	ck_assert_mem_eq(s.last.data, "ping", 4);

	/* The server restarts. */
	server_stop();
	RUN_UNTIL(s.disconnects == 1);
	ck_assert_int_eq(s.last_err, 0);
	ck_assert(!ck_ipc_client_connected(cl));
	ck_assert_int_eq(ck_ipc_client_send(cl, "x", 1), -ENOTCONN);
	run_for(50);
	nserved = 0;
	server_start(0);
	RUN_UNTIL(s.connects == 2);
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	req.correlation_id = ck_ipc_client_next_id(cl);
	ck_assert_int_eq(ck_ipc_client_send_msg(cl, &req.base), 0);
	RUN_UNTIL(s.frames == 2);
	Chronik__Wal__WalRequest *got =
		chronik__wal__wal_request__unpack(NULL, s.last.len, s.last.data);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(got->correlation_id, req.correlation_id);
	chronik__wal__wal_request__free_unpacked(got, NULL);
	ck_assert_int_eq(s.disconnects, 1);

	ck_ipc_client_free(cl);
	RUN_UNTIL(served[0].closed);
	server_stop();
	ck_buf_free(&s.last);
}
END_TEST

START_TEST(test_client_free_inside_callback)
{
	client_state_t s = {0};
	ck_ipc_client_t *cl;

	nserved = 0;
	server_start(0);
	cl = ck_ipc_client_new(base, sock_path, 0, &cl_handlers, &s);
	s.free_on_frame = true;
	s.self = &cl;
	RUN_UNTIL(s.connects == 1);
	/* Two frames arrive together; the first frees the client. */
	ck_assert_int_eq(ck_ipc_client_send(cl, "one", 3), 0);
	ck_assert_int_eq(ck_ipc_client_send(cl, "two", 3), 0);
	RUN_UNTIL(cl == NULL);
	RUN_UNTIL(served[0].closed);
	ck_assert_int_eq(s.frames, 1);
	ck_assert_int_eq(s.disconnects, 0);
	/* Freeing a client that never connected is fine too. */
	unlink(sock_path);
	cl = ck_ipc_client_new(base, sock_path, 0, &cl_handlers, &s);
	run_for(30);
	ck_ipc_client_free(cl);
	server_stop();
	ck_buf_free(&s.last);
}
END_TEST

/* ---- listeners and sockets --------------------------------------------- */

START_TEST(test_unix_listen_paths)
{
	char longpath[200];
	struct stat st;
	int fd, fd2;

	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	ck_assert_int_eq(ck_ipc_unix_listen(longpath, 0, &fd), -ENAMETOOLONG);
	ck_assert_int_eq(ck_ipc_unix_connect(longpath, &fd), -ENAMETOOLONG);
	ck_assert_int_eq(ck_ipc_sync_connect(longpath, 10, &fd), -ENAMETOOLONG);
	/* A stale socket (its owner died without unlinking) is replaced. */
	ck_assert_int_eq(ck_ipc_unix_listen(sock_path, 0, &fd), 0);
	close(fd);
	ck_assert_int_eq(ck_ipc_unix_listen(sock_path, 0, &fd), 0);
	ck_assert_int_eq(ck_ipc_sync_connect(sock_path, 1000, &fd2), 0);
	close(fd2);
	close(fd);
	/* Anything else at the path is left alone. */
	unlink(sock_path);
	FILE *f = fopen(sock_path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(ck_ipc_unix_listen(sock_path, 0, &fd), -EADDRINUSE);
	ck_assert_int_eq(stat(sock_path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	/* Nobody listening: connect fails at once. */
	unlink(sock_path);
	ck_assert_int_eq(ck_ipc_unix_connect(sock_path, &fd), -ENOENT);
}
END_TEST

static int tcp_listen(uint16_t *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

static int nodelay(int fd)
{
	int v = -1;
	socklen_t sl = sizeof(v);

	ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &sl), 0);
	return v;
}

START_TEST(test_tcp_round_trip_nodelay)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	peer_t a;
	uint16_t port;
	int lfd = tcp_listen(&port), fd;

	nserved = 0;
	listener = ck_ipc_listener_new(base, lfd, server_accept, NULL);
	ck_assert_ptr_nonnull(listener);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sa.sin_port = htons(port);
	ck_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	peer_init(&a);
	a.conn = ck_ipc_conn_new(base, fd, 0, &peer_handlers, &a);
	ck_assert_int_eq(nodelay(fd), 1);
	/* Queued while the connect is still in progress. */
	ck_assert_int_eq(ck_ipc_conn_send(a.conn, "over tcp", 8), 0);
	RUN_UNTIL(a.nframes == 1);
	ck_assert_mem_eq(a.last.data, "over tcp", 8);
	ck_assert_int_eq(nodelay(ck_ipc_conn_fd(served[0].conn)), 1);
	peer_done(&a);
	RUN_UNTIL(served[0].closed);
	server_stop();
}
END_TEST

START_TEST(test_accept_survives_emfile)
{
	struct rlimit rl, saved;
	int clients[2], fillers[64], nfill = 0;

	nserved = 0;
	server_start(0);
	clients[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	clients[1] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(clients[0], 0);
	ck_assert_int_ge(clients[1], 0);
	/* Room for two more descriptors, then use them up. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	saved = rl;
	rl.rlim_cur = (rlim_t)CK_MAX(clients[0], clients[1]) + 3;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	for (int fd; nfill < 64 && (fd = dup(0)) >= 0;)
		fillers[nfill++] = fd;
	ck_assert_int_eq(errno, EMFILE);
	ck_assert_int_ge(nfill, 2);
	for (int i = 0; i < 2; i++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		strcpy(sa.sun_path, sock_path);
		ck_assert_int_eq(connect(clients[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	/* The listener cannot accept; it pauses instead of spinning. */
	run_for(350);
	ck_assert_int_eq(nserved, 0);
	while (nfill > 0)
		close(fillers[--nfill]);
	int pauses = count_in_log("accept paused"); /* needs an fd itself */
	ck_assert_int_ge(pauses, 1);
	ck_assert_msg(pauses <= 10, "%d pauses in 350 ms", pauses);
	RUN_UNTIL(nserved == 2);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
	close(clients[0]);
	close(clients[1]);
	RUN_UNTIL(served[0].closed && served[1].closed);
	server_stop();
}
END_TEST

START_TEST(test_listener_free_inside_accept)
{
	int fd;

	nserved = 0;
	server_start(0);
	ck_assert_int_eq(ck_ipc_sync_connect(sock_path, 1000, &fd), 0);
	RUN_UNTIL(nserved == 1);
	/* Freed from inside the loop's callbacks and outside: both fine. */
	server_stop();
	close(fd);
}
END_TEST

/* ---- blocking helpers -------------------------------------------------- */

static void *listen_later(void *arg)
{
	struct timespec ts = {0, 150 * 1000 * 1000};
	int *ret_fd = arg;

	nanosleep(&ts, NULL);
	ck_assert_int_eq(ck_ipc_unix_listen(sock_path, 4, ret_fd), 0);
	return NULL;
}

typedef struct {
	int fd;
	size_t len;
} sender_arg_t;

static void *send_big(void *arg)
{
	sender_arg_t *s = arg;
	ck_buf_t f = CK_BUF_INIT;

	make_frame(&f, 5, s->len);
	ck_assert_int_eq(ck_ipc_sync_send(s->fd, f.data, f.len), 0);
	ck_buf_free(&f);
	return NULL;
}

START_TEST(test_sync_helpers)
{
	ck_buf_t got = CK_BUF_INIT;
	uint64_t t0;
	int sv[2], fd, lfd = -1;
	pthread_t th;

	/* Connect timeout when nobody ever listens. */
	t0 = ck_clock_mono_ms();
	ck_assert_int_eq(ck_ipc_sync_connect(sock_path, 100, &fd), CK_E_TIMEOUT);
	ck_assert_uint_ge(ck_clock_mono_ms() - t0, 100);
	/* Connect succeeds once the server shows up within the timeout. */
	ck_assert_int_eq(pthread_create(&th, NULL, listen_later, &lfd), 0);
	ck_assert_int_eq(ck_ipc_sync_connect(sock_path, WAIT_MS, &fd), 0);
	pthread_join(th, NULL);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	close(fd);
	close(lfd);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* Receive timeout on an idle socket. */
	t0 = ck_clock_mono_ms();
	ck_assert_int_eq(ck_ipc_sync_recv(sv[1], 0, 50, &got), CK_E_TIMEOUT);
	ck_assert_uint_ge(ck_clock_mono_ms() - t0, 50);
	/* Round trips, including one bigger than the socket buffer. */
	ck_assert_int_eq(ck_ipc_sync_send(sv[0], "abc", 3), 0);
	ck_assert_int_eq(ck_ipc_sync_recv(sv[1], 0, 1000, &got), 0);
	ck_assert_uint_eq(got.len, 3);
	ck_assert_mem_eq(got.data, "abc", 3);
	sender_arg_t sa = {sv[0], 8u << 20};
	ck_assert_int_eq(pthread_create(&th, NULL, send_big, &sa), 0);
	ck_assert_int_eq(ck_ipc_sync_recv(sv[1], 0, WAIT_MS, &got), 0);
	pthread_join(th, NULL);
	ck_assert_uint_eq(got.len, 8u << 20);
	ck_assert_uint_eq(ck_le32_get(got.data), 5);
	ck_assert_int_eq(got.data[12345], (uint8_t)(5 + 12345));
	/* A protobuf message. */
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	req.correlation_id = 99;
	ck_assert_int_eq(ck_ipc_sync_send_msg(sv[0], &req.base), 0);
	ck_assert_int_eq(ck_ipc_sync_recv(sv[1], 0, 1000, &got), 0);
	Chronik__Wal__WalRequest *m = chronik__wal__wal_request__unpack(NULL, got.len, got.data);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->correlation_id, 99);
	chronik__wal__wal_request__free_unpacked(m, NULL);
	Chronik__Wal__WalRequest empty = CHRONIK__WAL__WAL_REQUEST__INIT;
	ck_assert_int_eq(ck_ipc_sync_send_msg(sv[0], &empty.base), CK_E_INVALID);
	ck_assert_int_eq(ck_ipc_sync_send(sv[0], "", 0), CK_E_INVALID);
	/* Over the reader's frame_max, and empty: protocol errors. */
	ck_assert_int_eq(ck_ipc_sync_send(sv[0], "0123456789", 10), 0);
	ck_assert_int_eq(ck_ipc_sync_recv(sv[1], 9, 1000, &got), CK_E_PROTO);
	close(sv[0]);
	close(sv[1]);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(write(sv[0], "\0\0\0\0", 4), 4);
	ck_assert_int_eq(ck_ipc_sync_recv(sv[1], 0, 1000, &got), CK_E_PROTO);
	/* EOF between frames is CLOSED; inside a frame it is PROTO. */
	ck_assert_int_eq(write(sv[0], "\x08\0\0\0abc", 7), 7);
	close(sv[0]);
	ck_assert_int_eq(ck_ipc_sync_recv(sv[1], 0, 1000, &got), CK_E_PROTO);
	ck_assert_int_eq(ck_ipc_sync_recv(sv[1], 0, 1000, &got), CK_E_CLOSED);
	close(sv[1]);
	/* Writing to a closed peer fails with EPIPE, not SIGPIPE. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[1]);
	ck_assert_int_eq(ck_ipc_sync_send(sv[0], "x", 1), -EPIPE);
	close(sv[0]);
	ck_buf_free(&got);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_ipc");
	TCase *tc = tcase_create("ipc");

	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 50);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_pipelined_in_order);
	tcase_add_test(tc, test_large_frames);
	tcase_add_test(tc, test_large_frame_few_passes);
	tcase_add_test(tc, test_send_msg);
	tcase_add_test(tc, test_frame_max_boundary);
	tcase_add_test(tc, test_bad_frames_close_only_their_connection);
	tcase_add_test(tc, test_close_inside_callbacks);
	tcase_add_test(tc, test_client_reconnects);
	tcase_add_test(tc, test_client_free_inside_callback);
	tcase_add_test(tc, test_unix_listen_paths);
	tcase_add_test(tc, test_tcp_round_trip_nodelay);
	tcase_add_test(tc, test_listener_free_inside_accept);
	tcase_add_test(tc, test_sync_helpers);
	suite_add_tcase(s, tc);
	/* Tagged so valgrind runs (which emulate RLIMIT_NOFILE their own way)
	 * can leave it out: CK_EXCLUDE_TAGS=rlimit. */
	TCase *rl = tcase_create("rlimit");
	tcase_set_tags(rl, "rlimit");
	ck_test_add_root(rl);
	tcase_add_checked_fixture(rl, setup, teardown);
	tcase_set_timeout(rl, 50);
	tcase_add_test(rl, test_accept_survives_emfile);
	suite_add_tcase(s, rl);
	return ck_test_run(s);
}
