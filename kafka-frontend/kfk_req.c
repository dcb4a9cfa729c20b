/*
 * kfk_req.c: the life of one Kafka request (shell of chronik-kafka-frontend):
 * arena allocations, response encoding into pieces, finishing in order,
 * freeing orphans.
 *
 * Owned by kafka-frontend. A request is created by kfk_dispatch_frame(),
 * queued on its connection, and finished exactly once by its handler
 * (kfk_req_finish()); the connection frees it after its response was
 * queued for writing, or right away when it is an orphan.
 * Not for: decoding and routing (kfk_dispatch.c), socket I/O (kfk_conn.c).
 */
#define CK_LOG_SUBSYSTEM "request"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_srv.h"

void *kfk_req_alloc(kfk_req_t *req, size_t num, size_t size)
{
	void *p = NULL;

	if (num == 0 || size == 0)
		num = size = 1;
	if (kfk_arena_alloc(&req->arena, num, size, &p) < 0)
		return NULL;
	memset(p, 0, num * size);
	return p;
}

char *kfk_req_strdup(kfk_req_t *req, kfk_str_t s)
{
	size_t n = s.len > 0 ? (size_t)s.len : 0;
	char *p = kfk_req_alloc(req, n + 1, 1);

	if (p && n)
		memcpy(p, s.ptr, n);
	return p;
}

int64_t kfk_ms_left(uint64_t deadline_ms)
{
	uint64_t now = ck_clock_mono_ms();

	return deadline_ms > now ? (int64_t)(deadline_ms - now) : 0;
}

static void kfk_req_pieces_free(kfk_req_t *req)
{
	while (req->pieces) {
		kfk_piece_t *p = req->pieces;
		req->pieces = p->next;
		kfk_piece_free(req->srv, p);
	}
	req->pieces_tail = NULL;
	req->resp_bytes = 0;
}

void kfk_req_free(kfk_req_t *req)
{
	if (req->hstate_free)
		req->hstate_free(req);
	kfk_req_await_free(req);
	kfk_req_pieces_free(req);
	kfk_arena_free(&req->arena);
	free(req->frame);
	kfk_conns_rx_release(req->srv, req->rx_held);
	free(req);
}

static int kfk_req_piece_add(kfk_req_t *req, kfk_piece_t *p)
{
	p->next = NULL;
	if (req->pieces_tail)
		req->pieces_tail->next = p;
	else
		req->pieces = p;
	req->pieces_tail = p;
	req->resp_bytes += p->len;
	return 0;
}

int kfk_req_piece_mem(kfk_req_t *req, ck_buf_t *buf)
{
	kfk_piece_t *p;

	if (buf->len == 0)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fd = -1;
	p->data = buf->data;
	p->len = buf->len;
	p->mem = buf->len;
	req->srv->resp_mem += p->mem;
	buf->data = NULL;
	buf->len = buf->cap = 0;
	return kfk_req_piece_add(req, p);
}

int kfk_req_piece_file(kfk_req_t *req, int fd, uint64_t off, uint64_t len)
{
	kfk_piece_t *p = calloc(1, sizeof(*p));

	if (!p) {
		(void)close(fd);
		return -ENOMEM;
	}
	p->fd = fd;
	p->off = off;
	p->len = len;
	return kfk_req_piece_add(req, p);
}

void kfk_req_finish(kfk_req_t *req)
{
	kfk_conn_t *c = req->conn;

	CK_ASSERT(!req->finished);
	req->finished = true;
	if (!c) {
		kfk_req_free(req);
		return;
	}
	kfk_respq_done(&req->q);
	kfk_conn_answered(c, req);
}

void kfk_req_fail_conn(kfk_req_t *req, const char *reason)
{
	kfk_conn_t *c = req->conn;

	CK_ASSERT(!req->finished);
	kfk_req_pieces_free(req);
	req->no_response = true;
	req->finished = true;
	if (!c) {
		kfk_req_free(req);
		return;
	}
	/* It leaves the queue in its turn, answered by nothing; the
	 * connection closes once the answers before it are written. */
	kfk_respq_done(&req->q);
	kfk_conn_close_after(c, req->api_key, reason);
	kfk_conn_kick(c);
}

void kfk_req_respond(kfk_req_t *req, const void *msg)
{
	const kfk_api_t *api = kfk_api_lookup(req->api_key);
	ck_buf_t out = CK_BUF_INIT;
	size_t start;
	int r;

	CK_ASSERT(api != NULL);
	/* One response in memory is bounded: a small request can ask for a
	 * huge one (DescribeGroups naming a group with megabytes of member
	 * metadata a hundred times), which would take gigabytes and stall
	 * the loop while it is built; clients refuse such answers anyway
	 * (librdkafka's receive.message.max.bytes is 100 MB). */
	out.max = req->srv->set.response_bytes_max;
	r = kfk_frame_begin(&out, &start);
	if (r == 0)
		r = kfk_response_header_write(&out, req->api_key, req->api_version,
		                              req->hdr.correlation_id);
	if (r == 0)
		r = api->response_encode(&out, req->api_version, msg);
	if (r == 0)
		r = kfk_frame_end(&out, start);
	if (r == 0)
		r = kfk_req_piece_mem(req, &out);
	ck_buf_free(&out);
	if (r == CK_E_TOO_LARGE) {
		static ck_log_limit_t lim;

		ck_log_limited(&lim, CK_LOG_WARN,
		               "response larger than max_response_bytes=%zu: closing the "
		               "connection api_key=%d version=%d",
		               req->srv->set.response_bytes_max, (int)req->api_key,
		               (int)req->api_version);
		kfk_req_fail_conn(req, "response too large");
		return;
	}
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot encode response api_key=%d version=%d: %s",
		       (int)req->api_key, (int)req->api_version, ck_strerror(r));
		kfk_req_fail_conn(req, "response encoding failed");
		return;
	}
	kfk_req_finish(req);
}
