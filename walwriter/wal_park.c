/*
 * wal_park.c: appends that wait for their log on chronik-walwriter's event
 * loop (shell).
 *
 * raftd answers a CreateTopics once the topic is committed; its CreateLog
 * to walwriter is on its way then, but not necessarily read yet: a
 * producer told that the topic exists may get here first, through another
 * connection. An Append naming a log that is unknown or still being created
 * therefore waits (parks) up to WAL_PARK_MS for it, and runs as soon as the
 * log is ready; only then is "no such log" (or "log busy") the answer.
 *
 * Invariants:
 *   - parked appends run in arrival order, and an append to a log with a
 *     parked append parks behind it, so a log's appends are never
 *     reordered;
 *   - every parked append is answered exactly once: run, expired (the
 *     answer its log gives then) or refused at stop (CK_E_SHUTDOWN);
 *   - each holds a reference to its client (a closed client's answers go
 *     nowhere);
 *   - their bytes are bounded (WAL_PENDING_BYTES_MAX): past that, an
 *     append gets its answer at once.
 * Not here: validation and queueing of the append (wal_req.c).
 */
#define CK_LOG_SUBSYSTEM "loop"

#include "wal_loop.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"

#define WAL_PARK_MS 500

struct wal_parked {
	wal_parked_t *next;
	wal_client_t *client;
	Chronik__Wal__WalRequest *req; /* an Append */
	uint64_t deadline_ns;
};

static void wal_park_arm(wal_server_t *w)
{
	uint64_t now = ck_clock_mono_ns(), due;
	struct timeval tv;

	if (!w->park_head) {
		(void)evtimer_del(w->park_timer);
		return;
	}
	due = w->park_head->deadline_ns > now ? w->park_head->deadline_ns - now : 0;
	tv.tv_sec = (time_t)(due / 1000000000u);
	tv.tv_usec = (suseconds_t)(due % 1000000000u / 1000u) + 1;
	(void)evtimer_add(w->park_timer, &tv);
}

static void wal_park_push(wal_server_t *w, wal_parked_t *p)
{
	p->next = NULL;
	if (w->park_tail)
		w->park_tail->next = p;
	else
		w->park_head = p;
	w->park_tail = p;
}

/* Answers P with ERR (or, for 0, what its log says now) and frees it. */
static void wal_park_answer(wal_parked_t *p, int err)
{
	const Chronik__Wal__Append *m = p->req->append;
	wal_server_t *w = p->client->srv;
	wal_log_t *l;

	w->park_bytes -= m->batches.len;
	if (err == 0) {
		l = wal_log_find(w, m->topic, m->partition);
		err = l ? CK_E_AGAIN : CK_E_NOT_FOUND;
	}
	wal_reply_err(p->client, p->req->correlation_id, err,
	              err == CK_E_NOT_FOUND ? "no such log" : "log busy");
	chronik__wal__wal_request__free_unpacked(p->req, NULL);
	wal_client_unref(p->client);
	free(p);
}

static void wal_park_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	wal_server_t *w = arg;
	uint64_t now = ck_clock_mono_ns();

	(void)fd;
	(void)what;
	while (w->park_head && w->park_head->deadline_ns <= now) {
		wal_parked_t *p = w->park_head;
		const Chronik__Wal__Append *m = p->req->append;

		w->park_head = p->next;
		if (!w->park_head)
			w->park_tail = NULL;
		ck_log(CK_LOG_DEBUG, "append gave up waiting for its log log=%s-%d", m->topic,
		       (int)m->partition);
		wal_park_answer(p, 0);
	}
	wal_park_arm(w);
}

int wal_park_init(wal_server_t *w)
{
	w->park_timer = evtimer_new(w->base, wal_park_timer_cb, w);
	return w->park_timer ? 0 : -ENOMEM;
}

void wal_park_stop(wal_server_t *w)
{
	wal_parked_t *p, *next;

	for (p = w->park_head; p; p = next) {
		next = p->next;
		wal_park_answer(p, CK_E_SHUTDOWN);
	}
	w->park_head = w->park_tail = NULL;
	if (w->park_timer)
		(void)evtimer_del(w->park_timer);
}

void wal_park_free(wal_server_t *w)
{
	wal_park_stop(w);
	if (w->park_timer)
		event_free(w->park_timer);
	w->park_timer = NULL;
}

bool wal_park_wanted(const wal_server_t *w, const char *topic, int32_t partition)
{
	wal_log_t *l = wal_log_find((wal_server_t *)w, topic, partition);

	if (!l || l->state == WAL_LOG_CREATING)
		return true;
	for (const wal_parked_t *p = w->park_head; p; p = p->next)
		if (p->req->append->partition == partition && !strcmp(p->req->append->topic, topic))
			return true;
	return false;
}

void wal_park(wal_server_t *w, wal_client_t *c, Chronik__Wal__WalRequest *req)
{
	const Chronik__Wal__Append *m = req->append;
	wal_parked_t *p;

	/* Bounded like the pending queue: past it, the answer comes now. */
	if (w->park_bytes + m->batches.len > WAL_PENDING_BYTES_MAX) {
		wal_log_t *l = wal_log_find(w, m->topic, m->partition);
		int err = l ? CK_E_AGAIN : CK_E_NOT_FOUND;

		wal_reply_err(c, req->correlation_id, err,
		              err == CK_E_NOT_FOUND ? "no such log" : "log busy");
		chronik__wal__wal_request__free_unpacked(req, NULL);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		wal_reply_err(c, req->correlation_id, -ENOMEM, NULL);
		chronik__wal__wal_request__free_unpacked(req, NULL);
		return;
	}
	w->park_bytes += m->batches.len;
	p->client = c;
	c->refs++;
	p->req = req;
	p->deadline_ns = ck_clock_mono_ns() + (uint64_t)WAL_PARK_MS * 1000000u;
	wal_park_push(w, p);
	if (p == w->park_head)
		wal_park_arm(w);
}

void wal_park_retry(wal_server_t *w)
{
	wal_parked_t *p = w->park_head, *next;

	if (!p)
		return;
	w->park_head = w->park_tail = NULL;
	for (; p; p = next) {
		const Chronik__Wal__Append *m = p->req->append;

		next = p->next;
		if (!p->client->conn) {
			/* Its client is gone: nobody waits for this append. */
			wal_park_answer(p, CK_E_CLOSED);
			continue;
		}
		if (wal_park_wanted(w, m->topic, m->partition)) {
			wal_park_push(w, p); /* same deadline, same order */
			continue;
		}
		w->park_bytes -= m->batches.len;
		if (!wal_req_append_run(w, p->client, p->req))
			chronik__wal__wal_request__free_unpacked(p->req, NULL);
		wal_client_unref(p->client);
		free(p);
	}
	wal_park_arm(w);
}
