/*
 * walbench_wal.c: the walwriter load generator of chronik-walbench
 * (walbench.h).
 *
 * N appenders share C Unix-socket connections to a running walwriter
 * (appender i on connection i % C, partition i % P). Every appender keeps
 * exactly one Append in flight: it sends the next one when the reply to the
 * previous arrives, so N appenders means N requests in flight, pipelined C
 * ways. One poll() loop drives all connections; there are no threads. The
 * latency of an Append is from queueing its frame to parsing its reply.
 * Throughput counts replies that arrive inside the measured window (after the
 * warm-up, before the deadline); no Append is sent after the deadline and the
 * ones in flight are drained before the run ends.
 *
 * Speaks the WalRequest/WalReply contract of common/proto/walwriter.proto
 * with its own framing code, so it measures the walwriter and nothing else.
 */
#define CK_LOG_SUBSYSTEM "wal"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ck_buf.h"
#include "ck_clock.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_log.h"
#include "walbench.h"
#include "walbench_core.h"
#include "walwriter.pb-c.h"

#define WB_REPLY_FRAME_MAX (64u << 20)
#define WB_READ_CHUNK (256u << 10)
#define WB_DRAIN_TIMEOUT_NS (60ull * 1000000000ull)
#define WB_CALL_TIMEOUT_MS 30000
#define WB_APPENDERS_MAX 65535 /* the appender index lives in 16 id bits */

typedef struct {
	int fd;
	ck_buf_t out;
	size_t out_off;
	ck_buf_t in;
} wb_conn_t;

typedef struct {
	uint64_t sent_ns;
	uint64_t seq;
	bool inflight;
} wb_appender_t;

typedef struct {
	const wb_wal_opts_t *o;
	wb_conn_t *conns;
	wb_appender_t *apps;
	ck_buf_t batch;
	size_t batch_len;
	int32_t records;
	uint64_t start_ns, warm_end_ns, deadline_ns, last_reply_ns;
	uint64_t queued_bytes;
	bool stopping;
	int inflight;
	uint64_t window_appends, total_appends, errors;
	int first_error;
	char first_error_msg[256];
	wb_samples_t lat;
} wb_run_t;

static int wb_conn_open(const char *path, int timeout_ms, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t until = ck_clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			*ret_fd = fd;
			return 0;
		}
		r = -errno;
		(void)close(fd);
		if ((r != -ENOENT && r != -ECONNREFUSED && r != -EAGAIN) ||
		    ck_clock_mono_ns() >= until)
			return r == -ENOENT || r == -ECONNREFUSED ? CK_E_TIMEOUT : r;
		(void)usleep(20000);
	}
}

/* Queues M as one frame on C. */
static int wb_conn_queue(wb_conn_t *c, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m), packed;
	uint8_t *p;

	if (n == 0 || n > UINT32_MAX)
		return CK_E_TOO_LARGE;
	p = ck_buf_extend(&c->out, CK_IPC_HEADER_LEN + n);
	if (!p)
		return -ENOMEM;
	ck_le32_put(p, (uint32_t)n);
	packed = protobuf_c_message_pack(m, p + CK_IPC_HEADER_LEN);
	CK_ASSERT(packed == n);
	return 0;
}

/* Writes what the socket takes now. Returns 0 or -errno. */
static int wb_conn_flush(wb_conn_t *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = 0;
	ck_buf_reset(&c->out);
	return 0;
}

/* Reads what is available. Returns bytes read (0 = nothing now), CK_E_CLOSED
 * at EOF, or -errno. */
static long wb_conn_read(wb_conn_t *c)
{
	ssize_t n;

	if (ck_buf_reserve(&c->in, WB_READ_CHUNK) < 0)
		return -ENOMEM;
	n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return CK_E_CLOSED;
	c->in.len += (size_t)n;
	return n;
}

/* Takes the next complete reply out of C's input. Returns 1 with *RET (free
 * with chronik__wal__wal_reply__free_unpacked), 0 when none is complete, or
 * CK_E_PROTO. */
static int wb_conn_next_reply(wb_conn_t *c, size_t *off, Chronik__Wal__WalReply **ret)
{
	const uint8_t *payload;
	size_t plen;
	long n = wb_frame_next(c->in.data + *off, c->in.len - *off, WB_REPLY_FRAME_MAX, &payload,
			       &plen);

	if (n <= 0)
		return (int)n;
	*off += (size_t)n;
	*ret = chronik__wal__wal_reply__unpack(NULL, plen, payload);
	return *ret ? 1 : CK_E_PROTO;
}

static void wb_conn_consume(wb_conn_t *c, size_t off)
{
	if (off == 0)
		return;
	memmove(c->in.data, c->in.data + off, c->in.len - off);
	c->in.len -= off;
}

/* Sends REQ on C and waits for the reply with the same id, ignoring pushed
 * events. Returns the reply's error code (0 = success) or a transport error. */
static int wb_conn_call(wb_conn_t *c, Chronik__Wal__WalRequest *req, char *msg, size_t msg_len)
{
	uint64_t until = ck_clock_mono_ns() + (uint64_t)WB_CALL_TIMEOUT_MS * 1000000u;
	int r = wb_conn_queue(c, &req->base);

	while (r == 0) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		Chronik__Wal__WalReply *rep = NULL;
		size_t off = 0;

		r = wb_conn_flush(c);
		if (r < 0)
			break;
		if (c->out.len)
			pfd.events |= POLLOUT;
		if (ck_clock_mono_ns() >= until)
			return CK_E_TIMEOUT;
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			return -errno;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			long n = wb_conn_read(c);

			if (n < 0)
				return (int)n;
		}
		while ((r = wb_conn_next_reply(c, &off, &rep)) == 1) {
			bool mine = rep->correlation_id == req->correlation_id;
			int err = rep->error;

			if (mine)
				(void)snprintf(msg, msg_len, "%s", rep->error_message);
			chronik__wal__wal_reply__free_unpacked(rep, NULL);
			if (mine) {
				wb_conn_consume(c, off);
				return err;
			}
		}
		wb_conn_consume(c, off);
	}
	return r;
}

static int wb_log_create(wb_run_t *run, int partition, uint64_t id)
{
	Chronik__Wal__CreateLog cl = CHRONIK__WAL__CREATE_LOG__INIT;
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	char msg[256] = "";
	int r;

	cl.topic = (char *)run->o->topic;
	cl.partition = partition;
	req.correlation_id = id;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CREATE_LOG;
	req.create_log = &cl;
	r = wb_conn_call(&run->conns[0], &req, msg, sizeof(msg));
	if (r == CK_E_EXISTS)
		r = 0;
	if (r < 0)
		ck_log(CK_LOG_ERROR, "create log failed topic=%s partition=%d err=%s msg=%s",
		       run->o->topic, partition, ck_strerror(r), msg);
	return r;
}

static int wb_log_delete(wb_run_t *run, int partition, uint64_t id)
{
	Chronik__Wal__DeleteLog dl = CHRONIK__WAL__DELETE_LOG__INIT;
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	char msg[256] = "";
	int r;

	dl.topic = (char *)run->o->topic;
	dl.partition = partition;
	req.correlation_id = id;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_LOG;
	req.delete_log = &dl;
	r = wb_conn_call(&run->conns[0], &req, msg, sizeof(msg));
	if (r < 0)
		ck_log(CK_LOG_WARN, "delete log failed topic=%s partition=%d err=%s msg=%s",
		       run->o->topic, partition, ck_strerror(r), msg);
	return r;
}

/* Queues the next Append of appender A. */
static int wb_append_send(wb_run_t *run, int a, uint64_t now_ns)
{
	Chronik__Wal__Append ap = CHRONIK__WAL__APPEND__INIT;
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	wb_appender_t *app = &run->apps[a];
	int r;

	ap.topic = (char *)run->o->topic;
	ap.partition = a % run->o->partitions;
	ap.batches.data = run->batch.data;
	ap.batches.len = run->batch_len;
	ap.log_append_time_ms = -1; /* CreateTime: keep the batch's timestamps */
	req.correlation_id = (++app->seq << 16) | (uint64_t)a;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_APPEND;
	req.append = &ap;
	r = wb_conn_queue(&run->conns[a % run->o->conns], &req.base);
	if (r < 0)
		return r;
	app->sent_ns = now_ns;
	app->inflight = true;
	run->inflight++;
	run->queued_bytes += run->batch_len;
	return 0;
}

static void wb_stop_check(wb_run_t *run, uint64_t now_ns)
{
	if (run->o->total_bytes > 0)
		run->stopping = run->queued_bytes >= run->o->total_bytes;
	else
		run->stopping = now_ns >= run->deadline_ns;
}

/* Accounts one reply and sends the appender's next Append. */
static int wb_reply_handle(wb_run_t *run, const Chronik__Wal__WalReply *rep, uint64_t now_ns)
{
	uint64_t a = rep->correlation_id & 0xffff;
	wb_appender_t *app;

	if (rep->correlation_id == 0)
		return 0; /* a pushed event */
	if (a >= (uint64_t)run->o->appenders || !run->apps[a].inflight ||
	    rep->correlation_id >> 16 != run->apps[a].seq) {
		ck_log(CK_LOG_ERROR, "reply with unknown correlation id id=%llu",
		       (unsigned long long)rep->correlation_id);
		return CK_E_PROTO;
	}
	app = &run->apps[a];
	app->inflight = false;
	run->inflight--;
	run->last_reply_ns = now_ns;
	if (rep->error != 0 || rep->body_case != CHRONIK__WAL__WAL_REPLY__BODY_APPEND) {
		if (run->errors++ == 0) {
			run->first_error = rep->error ? rep->error : CK_E_PROTO;
			(void)snprintf(run->first_error_msg, sizeof(run->first_error_msg), "%s",
				       rep->error_message);
		}
	} else {
		run->total_appends++;
		/* Throughput: completions inside the window. Latency: only appends
		 * sent after the warm-up, so start-up queueing is left out. */
		if (now_ns >= run->warm_end_ns && now_ns <= run->deadline_ns)
			run->window_appends++;
		if (app->sent_ns >= run->warm_end_ns && now_ns <= run->deadline_ns &&
		    wb_samples_add(&run->lat, now_ns - app->sent_ns) < 0)
			return -ENOMEM;
	}
	wb_stop_check(run, now_ns);
	if (run->stopping || run->errors > 0)
		return 0;
	return wb_append_send(run, (int)a, now_ns);
}

static int wb_conn_service(wb_run_t *run, wb_conn_t *c, short revents)
{
	Chronik__Wal__WalReply *rep = NULL;
	uint64_t now_ns;
	size_t off = 0;
	long n;
	int r = 0;

	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		n = wb_conn_read(c);
		if (n < 0) {
			ck_log(CK_LOG_ERROR, "walwriter connection lost err=%s", ck_strerror((int)n));
			return (int)n;
		}
	}
	now_ns = ck_clock_mono_ns();
	while (r == 0 && (r = wb_conn_next_reply(c, &off, &rep)) == 1) {
		r = wb_reply_handle(run, rep, now_ns);
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	wb_conn_consume(c, off);
	return r;
}

/* Flushes every connection; returns 0 or -errno. */
static int wb_conns_flush(wb_run_t *run, struct pollfd *pfds)
{
	for (int i = 0; i < run->o->conns; i++) {
		int r = wb_conn_flush(&run->conns[i]);

		if (r < 0)
			return r;
		pfds[i].events = POLLIN | (run->conns[i].out.len ? POLLOUT : 0);
	}
	return 0;
}

static int wb_loop(wb_run_t *run)
{
	struct pollfd *pfds = calloc((size_t)run->o->conns, sizeof(*pfds));
	uint64_t drain_until = 0;
	int r = -ENOMEM;

	if (!pfds)
		return r;
	for (int i = 0; i < run->o->conns; i++)
		pfds[i].fd = run->conns[i].fd;
	r = 0;
	for (int a = 0; r == 0 && a < run->o->appenders; a++)
		r = wb_append_send(run, a, ck_clock_mono_ns());
	while (r == 0 && (run->inflight > 0)) {
		uint64_t now_ns;

		r = wb_conns_flush(run, pfds);
		if (r < 0)
			break;
		if (poll(pfds, (nfds_t)run->o->conns, 100) < 0) {
			if (errno != EINTR)
				r = -errno;
			continue;
		}
		for (int i = 0; r == 0 && i < run->o->conns; i++)
			if (pfds[i].revents)
				r = wb_conn_service(run, &run->conns[i], pfds[i].revents);
		now_ns = ck_clock_mono_ns();
		wb_stop_check(run, now_ns);
		if ((run->stopping || run->errors) && drain_until == 0)
			drain_until = now_ns + WB_DRAIN_TIMEOUT_NS;
		if (r == 0 && drain_until && now_ns > drain_until) {
			ck_log(CK_LOG_ERROR, "appends still unanswered after drain timeout inflight=%d",
			       run->inflight);
			r = CK_E_TIMEOUT;
		}
	}
	free(pfds);
	return r;
}

static void wb_report(const wb_run_t *run)
{
	const wb_wal_opts_t *o = run->o;
	struct rusage ru;
	wb_stats_t st;
	double secs, cpu_s = 0;
	uint64_t appends;

	if (o->total_bytes > 0) {
		secs = (double)(run->last_reply_ns - run->start_ns) / 1e9;
		appends = run->total_appends;
	} else {
		secs = (double)(run->deadline_ns - run->warm_end_ns) / 1e9;
		appends = run->window_appends;
	}
	wb_stats_compute(run->lat.v, run->lat.len, &st);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	printf("wal appenders=%d conns=%d partitions=%d batch_bytes=%zu records=%d secs=%.3f "
	       "appends=%llu appends_per_s=%.0f mb_per_s=%.1f p50_us=%.1f p90_us=%.1f "
	       "p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%llu client_cpu_s=%.3f\n",
	       o->appenders, o->conns, o->partitions, run->batch_len, run->records, secs,
	       (unsigned long long)appends, (double)appends / secs,
	       (double)appends * (double)run->batch_len / 1e6 / secs, st.p50 / 1e3,
	       st.p90 / 1e3, st.p99 / 1e3, st.p999 / 1e3, st.max / 1e3,
	       (unsigned long long)run->errors, cpu_s);
	(void)fflush(stdout);
}

static int wb_run_setup(wb_run_t *run)
{
	const wb_wal_opts_t *o = run->o;
	int r;

	run->conns = calloc((size_t)o->conns, sizeof(*run->conns));
	run->apps = calloc((size_t)o->appenders, sizeof(*run->apps));
	if (!run->conns || !run->apps)
		return -ENOMEM;
	for (int i = 0; i < o->conns; i++)
		run->conns[i].fd = -1;
	r = wb_batch_build(&run->batch, o->batch_bytes, ck_clock_wall_ms(), 'v', &run->batch_len,
			   &run->records);
	for (int i = 0; r == 0 && i < o->conns; i++) {
		r = wb_conn_open(o->socket_path, i == 0 ? o->connect_timeout_ms : 5000,
				 &run->conns[i].fd);
		if (r < 0)
			ck_log(CK_LOG_ERROR, "cannot connect to walwriter path=%s err=%s",
			       o->socket_path, ck_strerror(r));
	}
	for (int p = 0; r == 0 && p < o->partitions; p++)
		r = wb_log_create(run, p, (uint64_t)p + 1);
	return r;
}

static void wb_run_free(wb_run_t *run)
{
	for (int i = 0; run->conns && i < run->o->conns; i++) {
		if (run->conns[i].fd >= 0)
			(void)close(run->conns[i].fd);
		ck_buf_free(&run->conns[i].out);
		ck_buf_free(&run->conns[i].in);
	}
	free(run->conns);
	free(run->apps);
	ck_buf_free(&run->batch);
	wb_samples_free(&run->lat);
}

int wb_wal_run(const wb_wal_opts_t *o)
{
	wb_run_t run = {.o = o};
	int r;

	if (o->appenders < 1 || o->appenders > WB_APPENDERS_MAX || o->conns < 1 ||
	    o->conns > o->appenders || o->partitions < 1 ||
	    (o->total_bytes == 0 && o->secs <= 0))
		return CK_E_INVALID;
	r = wb_run_setup(&run);
	if (r < 0)
		goto out;
	run.start_ns = ck_clock_mono_ns();
	run.warm_end_ns = run.start_ns + (uint64_t)(o->total_bytes ? 0 : o->warmup_secs * 1e9);
	run.deadline_ns = o->total_bytes ? UINT64_MAX : run.warm_end_ns + (uint64_t)(o->secs * 1e9);
	r = wb_loop(&run);
	if (r == 0 && run.errors > 0) {
		ck_log(CK_LOG_ERROR, "appends failed count=%llu first_err=%s msg=%s",
		       (unsigned long long)run.errors, ck_strerror(run.first_error),
		       run.first_error_msg);
		r = run.first_error;
	}
	if (r == 0)
		wb_report(&run);
	if (o->delete_after && run.conns && run.conns[0].fd >= 0 && r != CK_E_TIMEOUT)
		for (int p = 0; p < o->partitions; p++)
			(void)wb_log_delete(&run, p, ((uint64_t)1 << 62) + (uint64_t)p);
out:
	wb_run_free(&run);
	return r;
}
