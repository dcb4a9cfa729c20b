/*
 * raftd_wal.c: chronik-raftd's walwriter client (see raftd_wal.h).
 *
 * Owned by raftd. Pending calls live in a ring ordered by correlation id
 * (ids only grow), so a reply is found by binary search and completed slots
 * (kept in place, marked done) are popped from the head; walwriter mostly answers in order, so the
 * ring stays short. Invariant: every call in the ring completes exactly once, through a reply, a
 * lost connection or raftd_wal_free(). Not for: retries (the callers decide), request contents.
 */
#define CK_LOG_SUBSYSTEM "wal"

#include "raftd_wal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_log.h"

typedef struct {
	uint64_t cid;
	bool done;
	raftd_wal_cb cb;
	void *arg;
} raftd_wal_call_t;

struct raftd_wal {
	ck_ipc_client_t *cl;
	raftd_wal_handlers_t h;
	void *arg;
	raftd_wal_call_t *ring; /* capacity a power of two */
	size_t cap;
	size_t head;
	size_t n;     /* slots in use (completed ones inside included) */
	size_t alive; /* slots not completed */
};

static raftd_wal_call_t *raftd_wal_slot(raftd_wal_t *w, size_t i)
{
	return &w->ring[(w->head + i) & (w->cap - 1)];
}

static int raftd_wal_grow(raftd_wal_t *w)
{
	size_t cap = w->cap ? w->cap * 2 : 64;
	raftd_wal_call_t *v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < w->n; i++)
		v[i] = *raftd_wal_slot(w, i);
	free(w->ring);
	w->ring = v;
	w->cap = cap;
	w->head = 0;
	return 0;
}

static void raftd_wal_pop_done(raftd_wal_t *w)
{
	while (w->n && raftd_wal_slot(w, 0)->done) {
		w->head = (w->head + 1) & (w->cap - 1);
		w->n--;
	}
}

/* The live slot of CID, or NULL. */
static raftd_wal_call_t *raftd_wal_find(raftd_wal_t *w, uint64_t cid)
{
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		raftd_wal_call_t *c = raftd_wal_slot(w, mid);

		if (c->cid == cid)
			return c->done ? NULL : c;
		if (c->cid < cid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Completes every live call with ERR (callbacks may add new calls). */
static void raftd_wal_fail_all(raftd_wal_t *w, int err)
{
	size_t n = w->n;

	for (size_t i = 0; i < n && i < w->n; i++) {
		raftd_wal_call_t *c = raftd_wal_slot(w, i), copy;

		if (c->done)
			continue;
		copy = *c;
		c->done = true;
		w->alive--;
		copy.cb(copy.arg, err, NULL);
	}
	raftd_wal_pop_done(w);
}

static void raftd_wal_on_connect(ck_ipc_client_t *cl, void *arg)
{
	raftd_wal_t *w = arg;

	(void)cl;
	if (w->h.on_connect)
		w->h.on_connect(w->arg);
}

static void raftd_wal_on_frame(ck_ipc_client_t *cl, const uint8_t *data, size_t len, void *arg)
{
	raftd_wal_t *w = arg;
	Chronik__Wal__WalReply *rep = chronik__wal__wal_reply__unpack(NULL, len, data);
	raftd_wal_call_t *c, copy;

	(void)cl;
	if (!rep) {
		ck_log(CK_LOG_WARN, "unparsable walwriter reply bytes=%zu", len);
		return;
	}
	if (rep->correlation_id == 0) {
		if (rep->body_case == CHRONIK__WAL__WAL_REPLY__BODY_EVENT && w->h.on_event)
			w->h.on_event(w->arg, rep->event);
		goto out;
	}
	c = raftd_wal_find(w, rep->correlation_id);
	if (!c) {
		ck_log(CK_LOG_WARN, "walwriter reply for no request correlation_id=%llu",
		       (unsigned long long)rep->correlation_id);
		goto out;
	}
	copy = *c;
	c->done = true;
	w->alive--;
	raftd_wal_pop_done(w);
	copy.cb(copy.arg, 0, rep);
out:
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
}

static void raftd_wal_on_disconnect(ck_ipc_client_t *cl, int err, void *arg)
{
	raftd_wal_t *w = arg;

	(void)cl;
	if (w->alive)
		ck_log(CK_LOG_WARN, "walwriter requests lost with the connection count=%zu",
		       w->alive);
	raftd_wal_fail_all(w, CK_E_CLOSED);
	if (w->h.on_disconnect)
		w->h.on_disconnect(w->arg, err);
}

static const ck_ipc_client_handlers_t raftd_wal_handlers = {
    .on_connect = raftd_wal_on_connect,
    .on_frame = raftd_wal_on_frame,
    .on_disconnect = raftd_wal_on_disconnect,
};

const ck_ipc_client_handlers_t *raftd_wal_client_handlers(void)
{
	return &raftd_wal_handlers;
}

raftd_wal_t *raftd_wal_new(void)
{
	raftd_wal_t *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	if (raftd_wal_grow(w) < 0) {
		free(w);
		return NULL;
	}
	return w;
}

void raftd_wal_set_handlers(raftd_wal_t *w, const raftd_wal_handlers_t *h, void *arg)
{
	w->h = *h;
	w->arg = arg;
}

void raftd_wal_set_client(raftd_wal_t *w, ck_ipc_client_t *cl)
{
	w->cl = cl;
}

void raftd_wal_cancel(raftd_wal_t *w)
{
	raftd_wal_fail_all(w, CK_E_SHUTDOWN);
}

void raftd_wal_free(raftd_wal_t *w)
{
	if (!w)
		return;
	w->cl = NULL;
	raftd_wal_fail_all(w, CK_E_SHUTDOWN);
	free(w->ring);
	free(w);
}

bool raftd_wal_connected(const raftd_wal_t *w)
{
	return w->cl && ck_ipc_client_connected(w->cl);
}

size_t raftd_wal_pending(const raftd_wal_t *w)
{
	return w->alive;
}

int raftd_wal_call(raftd_wal_t *w, Chronik__Wal__WalRequest *req, raftd_wal_cb cb, void *arg)
{
	raftd_wal_call_t *c;
	int r;

	if (!raftd_wal_connected(w))
		return -ENOTCONN;
	if (w->n == w->cap) {
		r = raftd_wal_grow(w);
		if (r < 0)
			return r;
	}
	req->correlation_id = ck_ipc_client_next_id(w->cl);
	r = ck_ipc_client_send_msg(w->cl, &req->base);
	if (r < 0)
		return r;
	c = raftd_wal_slot(w, w->n++);
	c->cid = req->correlation_id;
	c->done = false;
	c->cb = cb;
	c->arg = arg;
	w->alive++;
	return 0;
}
