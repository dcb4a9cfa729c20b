/*
 * wal_admin.c: creations and deletions of logs on chronik-walwriter's event
 * loop (shell). They wait in two FIFO queues and go to the sync thread as
 * groups, one job per kind, so that logs created or deleted together share
 * their directory fsyncs and their LMDB transaction (wal_sync.c,
 * wal_store_dir.c): a burst of CreateLog requests costs a few fsyncs, not
 * a few per log.
 *
 * Invariants:
 *   - at most one round of groups is with the sync thread; requests
 *     arriving meanwhile gather behind it (the slower the disk, the bigger
 *     the next groups);
 *   - a round is cut at the end of the loop iteration that queued its first
 *     request (a burst read in one go becomes one group) or when the round
 *     before it completed;
 *   - deletions go before creations, so a name deleted and created again
 *     in one burst is deleted first (creating a name that is being created
 *     and deleting a log that is being created are refused in wal_req.c);
 *   - every queued request is answered exactly once, after its group is
 *     durable.
 * Not here: checking requests (wal_req.c), files (wal_store_dir.c).
 */
#define CK_LOG_SUBSYSTEM "loop"

#include "wal_loop.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ck_err.h"
#include "ck_log.h"

/* Logs per group job, at most (bounds one job's memory and latency). */
#define WAL_ADMIN_GROUP_MAX 4096

static void wal_admin_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	wal_server_t *w = arg;

	w->admin_kicked = false;
	wal_admin_cut(w);
}

int wal_admin_init(wal_server_t *w)
{
	w->admin_ev = event_new(w->base, -1, 0, wal_admin_ev_cb, w);
	return w->admin_ev ? 0 : -ENOMEM;
}

static void wal_ctx_free(wal_ctx_t *ctx)
{
	if (ctx->client)
		wal_client_unref(ctx->client);
	free(ctx);
}

static void wal_admin_drop(wal_ctx_queue_t *q, bool free_logs)
{
	wal_ctx_t *ctx, *next;

	for (ctx = q->head; ctx; ctx = next) {
		next = ctx->next;
		if (free_logs)
			free(ctx->log);
		wal_ctx_free(ctx);
	}
	*q = (wal_ctx_queue_t){NULL, NULL, 0};
}

void wal_admin_free(wal_server_t *w)
{
	/* Queued creations are still in the table (freed with it); queued
	 * deletions are not. */
	wal_admin_drop(&w->creates, false);
	wal_admin_drop(&w->deletes, true);
	if (w->admin_ev)
		event_free(w->admin_ev);
	w->admin_ev = NULL;
}

size_t wal_admin_pending(const wal_server_t *w)
{
	return w->creates.n + w->deletes.n + (size_t)w->admin_inflight;
}

void wal_admin_queue(wal_server_t *w, wal_job_kind_t kind, wal_client_t *c, uint64_t cid,
                     wal_log_t *l, const wal_log_cfg_t *req)
{
	wal_ctx_queue_t *q = kind == WAL_JOB_CREATE ? &w->creates : &w->deletes;
	wal_ctx_t *ctx = calloc(1, sizeof(*ctx));

	CK_ASSERT(ctx != NULL); /* a lost request would hang its client */
	ctx->client = c;
	c->refs++;
	ctx->correlation_id = cid;
	ctx->log = l;
	if (req)
		ctx->req = *req;
	if (q->tail)
		q->tail->next = ctx;
	else
		q->head = ctx;
	q->tail = ctx;
	q->n++;
	if (!w->admin_kicked) {
		w->admin_kicked = true;
		event_active(w->admin_ev, EV_TIMEOUT, 1);
	}
}

#define WAL_ADMIN_INLINE_CREATES 16

/* Takes up to WAL_ADMIN_GROUP_MAX requests from Q into one job of KIND. */
static void wal_admin_submit(wal_server_t *w, wal_job_kind_t kind, wal_ctx_queue_t *q)
{
	size_t n = CK_MIN(q->n, (size_t)WAL_ADMIN_GROUP_MAX);
	wal_job_t *job = calloc(1, sizeof(*job));
	wal_ctx_t *ctx = q->head;

	CK_ASSERT(job != NULL);
	job->kind = kind;
	job->nadmins = n;
	job->admins = calloc(n, sizeof(*job->admins));
	job->news = kind == WAL_JOB_CREATE ? calloc(n, sizeof(*job->news)) : NULL;
	CK_ASSERT(job->admins && (kind != WAL_JOB_CREATE || job->news));
	for (size_t i = 0; i < n; i++, ctx = ctx->next) {
		wal_log_t *l = ctx->log;
		job->admins[i].ctx = ctx;
		job->admins[i].owner = l;
		job->admins[i].store = l->store;
		if (kind == WAL_JOB_CREATE)
			job->news[i] = (wal_store_new_t){.topic = l->topic,
			                                 .partition = l->partition,
			                                 .req = ctx->req,
			                                 .cfg = l->cfg,
			                                 .topic_id = l->topic_id};
	}
	q->head = ctx;
	if (!ctx)
		q->tail = NULL;
	q->n -= n;
	w->admin_inflight++;
	/* A few creations are memory work (and a look for stale checkpoints):
	 * the loop does them itself when the sync thread is idle. */
	if (kind == WAL_JOB_CREATE && n <= WAL_ADMIN_INLINE_CREATES) {
		w->jobs_inflight++;
		if (wal_try_inline(w, job))
			return;
		w->jobs_inflight--;
	}
	wal_submit(w, job);
}

void wal_admin_cut(wal_server_t *w)
{
	if (w->admin_inflight > 0)
		return;
	if (w->deletes.n > 0)
		wal_admin_submit(w, WAL_JOB_DELETE, &w->deletes);
	if (w->creates.n > 0)
		wal_admin_submit(w, WAL_JOB_CREATE, &w->creates);
}

static void wal_admin_created(wal_server_t *w, wal_ctx_t *ctx, const wal_job_admin_t *a)
{
	wal_log_t *l = ctx->log;

	if (a->err < 0) {
		ck_log(CK_LOG_ERROR, "create failed log=%s err=\"%s\"", l->name,
		       ck_strerror(a->err));
		wal_log_remove(w, l);
		wal_reply_err(ctx->client, ctx->correlation_id, a->err, NULL);
		wal_log_free(l);
		return;
	}
	l->store = a->store;
	l->state = WAL_LOG_READY;
	l->start_offset = a->stats.start_offset;
	l->next_offset = l->written_end = l->durable_end = a->stats.end_offset;
	l->size_bytes = a->stats.size_bytes;
	l->segments = a->stats.segments;
	/* Debug: CreateTopics bursts make thousands (raftd logs the topics). */
	ck_log(CK_LOG_DEBUG, "log created log=%s", l->name);
	wal_reply_info(ctx->client, ctx->correlation_id, l);
	wal_event_publish(w, l, false);
}

static void wal_admin_deleted(wal_server_t *w, wal_ctx_t *ctx, const wal_job_admin_t *a)
{
	wal_log_t *l = ctx->log;

	if (a->err < 0)
		ck_log(CK_LOG_ERROR, "delete incomplete log=%s err=\"%s\"", l->name,
		       ck_strerror(a->err));
	ck_log(CK_LOG_INFO, "log deleted log=%s", l->name);
	wal_reply_info(ctx->client, ctx->correlation_id, l);
	wal_event_publish(w, l, true);
	wal_log_free(l);
}

void wal_admin_done(wal_server_t *w, wal_job_t *job)
{
	for (size_t i = 0; i < job->nadmins; i++) {
		wal_ctx_t *ctx = job->admins[i].ctx;
		if (job->kind == WAL_JOB_CREATE)
			wal_admin_created(w, ctx, &job->admins[i]);
		else
			wal_admin_deleted(w, ctx, &job->admins[i]);
		wal_ctx_free(ctx);
	}
	CK_ASSERT(w->admin_inflight > 0);
	w->admin_inflight--;
	if (job->kind == WAL_JOB_CREATE)
		wal_park_retry(w);
	wal_admin_cut(w);
}
