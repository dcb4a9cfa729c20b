/*
 * wal_loop.c: chronik-walwriter's event loop (shell): clients on the Unix
 * socket, group commit, completions from the sync thread, events, timers,
 * shutdown. The requests themselves are in wal_req.c.
 *
 * Invariants:
 *   - an append (validated and given its offsets in wal_req.c, in arrival
 *     order) is answered only after the sync thread reported its group DONE
 *     (fdatasync'd); a rejected append writes nothing;
 *   - appends arriving while a sync runs form the next group, handed over
 *     when the sync thread is idle again, or queued behind once a profile
 *     cap fills it (wal_group_decide);
 *   - a truncate or delete first flushes the log's pending appends into a
 *     group, so FIFO order on the sync thread keeps them in order;
 *   - a client is freed only when its connection is gone and no request of
 *     its is still in flight (refcount).
 * Bad bytes on a connection close that connection only, with a log line.
 * Not here: request handling (wal_req.c), file I/O (wal_sync.c,
 * wal_store.c), start-up (wal_boot.c).
 */
#define CK_LOG_SUBSYSTEM "loop"

#include "wal_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_daemon.h"
#include "ck_err.h"
#include "ck_log.h"
#include "ck_notify.h"

#define WAL_STOP_FLUSH_MS 2000

static void wal_stop_begin(wal_server_t *w, int code);
static void wal_stop_progress(wal_server_t *w);

/* ---- logs ---- */

wal_log_t *wal_log_new(const char *topic, int32_t partition)
{
	size_t tlen = strlen(topic), nlen;
	wal_log_t *l;

	if (tlen > CK_TOPIC_NAME_MAX)
		return NULL;
	/* The name's digits: at most 11 for an int32_t and its sign. */
	l = calloc(1, sizeof(*l) + 2 * (tlen + 1) + 12);
	if (!l)
		return NULL;
	nlen = (size_t)sprintf(l->name, "%s-%d", topic, partition);
	memcpy(l->name + nlen + 1, topic, tlen + 1);
	l->topic = l->name + nlen + 1;
	l->partition = partition;
	return l;
}

void wal_log_free(wal_log_t *l)
{
	if (!l)
		return;
	wal_pids_clear(&l->pids);
	free(l);
}

static bool wal_log_eq(const void *key, const void *val)
{
	return !strcmp(key, ((const wal_log_t *)val)->name);
}

wal_log_t *wal_log_find(wal_server_t *w, const char *topic, int32_t partition)
{
	char name[CK_TOPIC_NAME_MAX + 16];

	snprintf(name, sizeof(name), "%s-%d", topic, partition);
	return ck_hash_find(&w->logs, ck_hash_str(name), wal_log_eq, name);
}

int wal_log_insert(wal_server_t *w, wal_log_t *l)
{
	l->pids.budget = &w->pid_budget;
	return ck_hash_insert(&w->logs, ck_hash_str(l->name), l);
}

void wal_log_remove(wal_server_t *w, wal_log_t *l)
{
	(void)ck_hash_remove(&w->logs, ck_hash_str(l->name), l);
	wal_files_release(w, l);
}

void wal_log_info_fill(const wal_log_t *l, Chronik__Wal__LogInfo *info)
{
	chronik__wal__log_info__init(info);
	info->topic = (char *)l->topic;
	info->partition = l->partition;
	info->log_start_offset = l->start_offset;
	info->log_end_offset = l->written_end;
	info->durable_end_offset = l->durable_end;
	info->size_bytes = (int64_t)l->size_bytes;
	info->segments = l->segments;
	if (l->topic_id.known) {
		info->topic_id.data = (uint8_t *)l->topic_id.bytes;
		info->topic_id.len = WAL_TOPIC_ID_LEN;
	}
	info->settings_lost = l->cfg_lost;
}

static void wal_log_apply_stats(wal_log_t *l, const wal_store_stats_t *st)
{
	l->start_offset = st->start_offset;
	l->written_end = st->end_offset;
	l->size_bytes = st->size_bytes;
	l->segments = st->segments;
}

/* ---- clients and replies ---- */

void wal_client_unref(wal_client_t *c)
{
	if (--c->refs > 0)
		return;
	for (size_t i = 0; i < c->nsubs; i++)
		free(c->subs[i]);
	free(c->subs);
	free(c);
}

/* The connection is gone (closed by us or by the peer). */
static void wal_client_detach(wal_client_t *c)
{
	wal_server_t *w = c->srv;

	if (!c->conn)
		return;
	c->conn = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	wal_client_unref(c);
}

/* Closes every connection (requests in flight keep their client). */
static void wal_clients_close(wal_server_t *w)
{
	wal_client_t *c, *next;

	for (c = w->clients; c; c = next) {
		next = c->next;
		ck_ipc_conn_close(c->conn);
		wal_client_detach(c);
	}
}

void wal_client_kill(wal_client_t *c, const char *why, size_t len)
{
	ck_log(CK_LOG_WARN, "closing connection: %s client=%llu len=%zu", why,
	       (unsigned long long)c->id, len);
	ck_ipc_conn_close(c->conn);
	wal_client_detach(c);
}

void wal_send(wal_client_t *c, const Chronik__Wal__WalReply *rep)
{
	int r;

	if (!c->conn)
		return;
	r = ck_ipc_conn_send_msg(c->conn, &rep->base);
	if (r < 0 && r != CK_E_CLOSED)
		ck_log(CK_LOG_WARN, "reply dropped client=%llu err=\"%s\"",
		       (unsigned long long)c->id, ck_strerror(r));
}

void wal_reply_err(wal_client_t *c, uint64_t cid, int err, const char *msg)
{
	Chronik__Wal__WalReply rep = CHRONIK__WAL__WAL_REPLY__INIT;

	rep.correlation_id = cid;
	rep.error = err;
	rep.error_message = (char *)(msg ? msg : ck_strerror(err));
	wal_send(c, &rep);
}

void wal_reply_info(wal_client_t *c, uint64_t cid, const wal_log_t *l)
{
	Chronik__Wal__WalReply rep = CHRONIK__WAL__WAL_REPLY__INIT;
	Chronik__Wal__LogInfo info;

	wal_log_info_fill(l, &info);
	rep.correlation_id = cid;
	rep.body_case = CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO;
	rep.log_info = &info;
	wal_send(c, &rep);
}

/* raftd's metadata log (WAL_META_TOPIC): no subscriber of every log wants
 * its events (the replicator skips them), so only a subscription by name
 * gets them. */
bool wal_client_subscribed(const wal_client_t *c, const char *topic)
{
	if (c->sub_all && strcmp(topic, WAL_META_TOPIC) != 0)
		return true;
	for (size_t i = 0; i < c->nsubs; i++)
		if (!strcmp(c->subs[i], topic))
			return true;
	return false;
}

void wal_event_send(wal_client_t *c, const wal_log_t *l, bool deleted)
{
	Chronik__Wal__WalReply rep = CHRONIK__WAL__WAL_REPLY__INIT;
	Chronik__Wal__LogEvent ev = CHRONIK__WAL__LOG_EVENT__INIT;
	Chronik__Wal__LogInfo info;

	wal_log_info_fill(l, &info);
	ev.info = &info;
	ev.deleted = deleted;
	rep.body_case = CHRONIK__WAL__WAL_REPLY__BODY_EVENT;
	rep.event = &ev;
	wal_send(c, &rep);
}

/* Whether some client subscribes to L's events. */
static bool wal_log_watched(const wal_server_t *w, const wal_log_t *l)
{
	for (const wal_client_t *c = w->clients; c; c = c->next)
		if (wal_client_subscribed(c, l->topic))
			return true;
	return false;
}

void wal_event_publish(wal_server_t *w, const wal_log_t *l, bool deleted)
{
	for (wal_client_t *c = w->clients; c; c = c->next)
		if (wal_client_subscribed(c, l->topic))
			wal_event_send(c, l, deleted);
}

/* ---- group commit ---- */

void wal_append_free(wal_append_t *a)
{
	chronik__wal__wal_request__free_unpacked(a->req, NULL);
	wal_client_unref(a->client);
	free(a);
}

void wal_append_reply(wal_append_t *a, int err)
{
	Chronik__Wal__WalReply rep = CHRONIK__WAL__WAL_REPLY__INIT;
	Chronik__Wal__AppendResult res = CHRONIK__WAL__APPEND_RESULT__INIT;

	if (err < 0) {
		wal_reply_err(a->client, a->correlation_id, err, NULL);
		return;
	}
	res.base_offset = a->plan.base_offset;
	res.last_offset = a->plan.last_offset;
	res.log_append_time_ms = a->append_time_ms > 0 ? a->append_time_ms : -1;
	res.log_start_offset = a->log->start_offset;
	rep.correlation_id = a->correlation_id;
	rep.body_case = CHRONIK__WAL__WAL_REPLY__BODY_APPEND;
	rep.append = &res;
	wal_send(a->client, &rep);
}

size_t wal_append_len(const wal_append_t *a)
{
	return a->dup ? 0 : a->req->append->batches.len;
}

/* A group this small may run on the loop (wal_sync_try_inline): its pwritev
 * is short, and the loop is blocked only for its fdatasync. A busier writer
 * (bigger groups) keeps the thread, which overlaps its syncs with the
 * loop's reading of the next group. */
#define WAL_INLINE_GROUP_BYTES   (16u << 10)
#define WAL_INLINE_GROUP_APPENDS 4

/* Takes appends from the pending queue (in order, within the profile's caps)
 * into one group and hands it to the sync thread. */
static void wal_group_cut(wal_server_t *w)
{
	wal_job_t *job = calloc(1, sizeof(*job));
	wal_append_t *a, *head = w->pend_head, *last = NULL;
	uint64_t bytes = 0;
	uint32_t n = 0, nlogs = 0;

	CK_ASSERT(job != NULL);
	for (a = head; a && wal_group_fits(&w->limits, bytes, n, wal_append_len(a)); a = a->next) {
		bytes += wal_append_len(a);
		n++;
		last = a;
	}
	job->kind = WAL_JOB_GROUP;
	job->items = calloc(n, sizeof(*job->items));
	job->logs = calloc(n, sizeof(*job->logs));
	CK_ASSERT(job->items && job->logs);
	for (a = head; a != last->next; a = a->next) {
		wal_log_t *l = a->log;
		if (!l->group_slot) {
			job->logs[nlogs] = (wal_job_log_t){l, l->store, {0, 0, 0, 0}};
			l->group_slot = ++nlogs;
		}
		/* A duplicate writes nothing: it only waits for the group. */
		job->items[job->nitems++] =
		    (wal_job_item_t){a->req->append->batches.data, wal_append_len(a), l->store};
		l->pending--;
	}
	job->nlogs = nlogs;
	for (size_t i = 0; i < nlogs; i++) {
		wal_log_t *l = job->logs[i].owner;
		l->group_slot = 0;
		job->tell_written |= wal_log_watched(w, l);
	}
	w->pend_head = last->next;
	if (!w->pend_head)
		w->pend_tail = NULL;
	last->next = NULL;
	w->pend_bytes -= bytes;
	w->pend_count -= n;
	w->last_group_appends = n;
	job->ctx = head;
	w->jobs_inflight++;
	/* A small group meets an idle sync thread: the loop writes and syncs
	 * it itself (two thread hand-offs less on every acknowledgement). */
	if (bytes <= WAL_INLINE_GROUP_BYTES && n <= WAL_INLINE_GROUP_APPENDS &&
	    wal_try_inline(w, job))
		return;
	wal_sync_submit(w->sync, job);
}

static void wal_group_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	wal_kick(arg);
}

/* Decides, with the pure core, whether to cut a group now or later. */
void wal_kick(wal_server_t *w)
{
	wal_group_action_t act;
	uint64_t wait_ns = 0;
	struct timeval tv;

	if (!w->pend_head)
		return;
	for (;;) {
		act = wal_group_decide(&w->limits, w->pend_bytes, w->pend_count,
		                       w->pend_head->arrived_ns, ck_clock_mono_ns(),
		                       w->jobs_inflight, w->last_group_appends, &wait_ns);
		if (act == WAL_GROUP_WAIT && w->stopping)
			act = WAL_GROUP_CUT;
		if (act != WAL_GROUP_CUT)
			break;
		wal_group_cut(w);
		if (!w->pend_head)
			return;
	}
	if (act == WAL_GROUP_WAIT && !evtimer_pending(w->group_timer, NULL)) {
		tv.tv_sec = (time_t)(wait_ns / 1000000000u);
		tv.tv_usec = (suseconds_t)(wait_ns % 1000000000u / 1000u);
		(void)evtimer_add(w->group_timer, &tv);
	}
}

/* Hands every pending append of L (and those queued before them) over. */
void wal_group_flush_log(wal_server_t *w, wal_log_t *l)
{
	while (l->pending > 0)
		wal_group_cut(w);
}

void wal_submit(wal_server_t *w, wal_job_t *job)
{
	w->jobs_inflight++;
	wal_sync_submit(w->sync, job);
}

static void wal_on_close(ck_ipc_conn_t *conn, int err, void *arg)
{
	wal_client_t *c = arg;

	ck_log(err ? CK_LOG_INFO : CK_LOG_DEBUG, "client disconnected client=%llu err=\"%s\"",
	       (unsigned long long)c->id, err ? ck_strerror(err) : "eof");
	wal_client_detach(c);
}

static void wal_on_accept(int fd, void *arg)
{
	static const ck_ipc_handlers_t h = {wal_req_frame, wal_on_close};
	wal_server_t *w = arg;
	wal_client_t *c = calloc(1, sizeof(*c));

	if (!c) {
		(void)close(fd);
		return;
	}
	c->srv = w;
	c->id = ++w->next_client_id;
	c->refs = 1;
	c->conn = ck_ipc_conn_new(w->base, fd, (size_t)w->cfg->ipc_frame_max_bytes, &h, c);
	if (!c->conn) {
		free(c);
		return;
	}
	c->next = w->clients;
	if (w->clients)
		w->clients->prev = c;
	w->clients = c;
	ck_log(CK_LOG_DEBUG, "client connected client=%llu", (unsigned long long)c->id);
}

/* ---- completions ---- */

/* Takes the file stats of every log a job touched and tells subscribers. */
static void wal_job_publish_stats(wal_server_t *w, const wal_job_t *job)
{
	for (size_t i = 0; i < job->nlogs; i++) {
		wal_log_t *l = job->logs[i].owner;
		wal_log_apply_stats(l, &job->logs[i].stats);
		wal_event_publish(w, l, false);
	}
}

static void wal_done_group(wal_server_t *w, wal_job_t *job, int phase)
{
	wal_append_t *a, *next;

	/* WRITTEN is posted only for a group whose writes all succeeded; the
	 * sync thread still runs its fdatasyncs, so only the stats (final
	 * once posted) may be read here, never job->err. */
	if (phase == WAL_JOB_WRITTEN) {
		wal_job_publish_stats(w, job);
		return;
	}
	for (size_t i = 0; i < job->nlogs && job->err == 0; i++) {
		wal_log_t *l = job->logs[i].owner;
		if (!job->tell_written)
			wal_log_apply_stats(l, &job->logs[i].stats);
		l->durable_end = job->logs[i].stats.end_offset;
		wal_event_publish(w, l, false);
	}
	for (a = job->ctx; a; a = next) {
		next = a->next;
		wal_append_reply(a, job->err);
		wal_append_free(a);
	}
	if (job->err < 0) {
		ck_log(CK_LOG_ERROR, "group commit failed, stopping err=\"%s\"",
		       ck_strerror(job->err));
		wal_stop_begin(w, CK_EXIT_RESTART);
	}
}

static void wal_done_configure(wal_server_t *w, wal_job_t *job, wal_ctx_t *ctx)
{
	wal_log_t *l = ctx->log;
	const wal_log_cfg_t *c = &job->cfg;
	int64_t start = l->start_offset;

	if (job->err < 0) {
		ck_log(CK_LOG_ERROR, "settings not changed log=%s err=\"%s\"", l->name,
		       ck_strerror(job->err));
		wal_reply_err(ctx->client, ctx->correlation_id, job->err, NULL);
		return;
	}
	l->cfg = *c;
	l->cfg_lost = false;
	wal_log_apply_stats(l, &job->stats);
	ck_log(CK_LOG_INFO,
	       "log settings changed log=%s segment_bytes=%lld segment_ms=%lld "
	       "retention_bytes=%lld retention_ms=%lld max_message_bytes=%d "
	       "index_interval_bytes=%d",
	       l->name, (long long)c->segment_bytes, (long long)c->segment_ms,
	       (long long)c->retention_bytes, (long long)c->retention_ms, c->max_message_bytes,
	       c->index_interval_bytes);
	wal_reply_info(ctx->client, ctx->correlation_id, l);
	if (l->start_offset != start)
		wal_event_publish(w, l, false); /* retention freed segments */
}

static void wal_done_truncate(wal_server_t *w, wal_job_t *job, wal_ctx_t *ctx)
{
	wal_log_t *l = ctx->log;

	l->state = WAL_LOG_READY;
	wal_log_apply_stats(l, &job->stats);
	l->next_offset = l->durable_end = job->stats.end_offset;
	wal_pids_truncate(&l->pids, l->next_offset);
	if (job->err < 0) {
		wal_reply_err(ctx->client, ctx->correlation_id, job->err, NULL);
		if (job->err != CK_E_OFFSET_RANGE)
			wal_stop_begin(w, CK_EXIT_RESTART);
		return;
	}
	wal_reply_info(ctx->client, ctx->correlation_id, l);
	wal_event_publish(w, l, false);
}

static void wal_done_delete_records(wal_server_t *w, wal_job_t *job, wal_ctx_t *ctx)
{
	wal_log_t *l = ctx->log;
	int64_t before = l->start_offset, end = l->next_offset;

	/* The stats are the store's whatever happened: a start made durable
	 * holds even when removing a segment failed. */
	if (job->start_over) {
		l->state = WAL_LOG_READY;
		wal_log_apply_stats(l, &job->stats);
		l->next_offset = l->durable_end = job->stats.end_offset;
		wal_pids_clear(&l->pids); /* no batch left */
	}
	l->start_offset = job->stats.start_offset;
	l->size_bytes = job->stats.size_bytes;
	l->segments = job->stats.segments;
	if (l->start_offset != before || l->next_offset != end)
		wal_event_publish(w, l, false);
	if (job->start_over && job->err < 0 && job->err != CK_E_INVALID) {
		/* The store failed with its files half gone: as a failed
		 * truncate, walwriter starts over and recovery settles it. */
		ck_log(CK_LOG_ERROR, "start over failed log=%s offset=%lld err=\"%s\"", l->name,
		       (long long)job->offset, ck_strerror(job->err));
		wal_reply_err(ctx->client, ctx->correlation_id, job->err, NULL);
		wal_stop_begin(w, CK_EXIT_RESTART);
		return;
	}
	if (job->err < 0) {
		ck_log(CK_LOG_ERROR, "delete records failed log=%s offset=%lld err=\"%s\"", l->name,
		       (long long)job->offset, ck_strerror(job->err));
		wal_reply_err(ctx->client, ctx->correlation_id, job->err, NULL);
		return;
	}
	wal_reply_info(ctx->client, ctx->correlation_id, l);
}

static void wal_done_admin(wal_server_t *w, wal_job_t *job)
{
	wal_ctx_t *ctx = job->ctx;

	if (job->kind == WAL_JOB_CONFIGURE)
		wal_done_configure(w, job, ctx);
	else if (job->kind == WAL_JOB_TRUNCATE)
		wal_done_truncate(w, job, ctx);
	else if (job->kind == WAL_JOB_DELETE_RECORDS)
		wal_done_delete_records(w, job, ctx);
	if (ctx->client)
		wal_client_unref(ctx->client);
	free(ctx);
}

static void wal_on_done(void *arg, wal_job_t *job, int phase)
{
	wal_server_t *w = arg;

	if (job->kind == WAL_JOB_GROUP)
		wal_done_group(w, job, phase);
	if (phase != WAL_JOB_DONE)
		return;
	w->jobs_inflight--;
	switch (job->kind) {
	case WAL_JOB_GROUP:
		break;
	case WAL_JOB_RETENTION:
		w->retention_inflight = false;
		wal_job_publish_stats(w, job);
		if (w->retention_again && !w->stopping) {
			w->retention_again = false;
			wal_retention_soon(w);
		}
		break;
	case WAL_JOB_CREATE:
	case WAL_JOB_DELETE:
		wal_admin_done(w, job);
		break;
	case WAL_JOB_CHECKPOINT:
		w->ckpt_inflight = false;
		if (job->gone && !w->stopping)
			wal_stop_begin(w, CK_EXIT_FATAL); /* as wal_data_dir_gone() */
		if (w->stopping && w->pend_count == 0 && w->jobs_inflight == 0)
			w->final_ckpt_done = true;
		break;
	default:
		wal_done_admin(w, job);
		break;
	}
	free(job->items);
	free(job->logs);
	free(job->admins);
	free(job->news);
	free(job);
}

bool wal_try_inline(wal_server_t *w, wal_job_t *job)
{
	if (!wal_sync_try_inline(w->sync, job))
		return false;
	event_active(w->sync_ev, EV_READ, 0); /* wal_sync_cb drains it */
	return true;
}

static void wal_sync_cb(evutil_socket_t fd, short what, void *arg)
{
	wal_server_t *w = arg;

	wal_sync_drain(w->sync, wal_on_done, w);
	wal_kick(w);
	if (w->stopping)
		wal_stop_progress(w);
}

/* ---- timers, shutdown ---- */

static void wal_timer_add(struct event *ev, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};

	(void)evtimer_add(ev, &tv);
}

/* Hands a housekeeping job of KIND to the sync thread, unless the last one
 * (*INFLIGHT, cleared by wal_on_done) still runs. */
static void wal_submit_once(wal_server_t *w, wal_job_kind_t kind, bool *inflight)
{
	wal_job_t *job;

	if (*inflight)
		return;
	job = calloc(1, sizeof(*job));
	CK_ASSERT(job != NULL);
	job->kind = kind;
	*inflight = true;
	wal_submit(w, job);
}

void wal_retention_soon(wal_server_t *w)
{
	if (w->retention_inflight)
		w->retention_again = true;
	else
		wal_submit_once(w, WAL_JOB_RETENTION, &w->retention_inflight);
}

/* Whether the data dir this walwriter opened is gone from its path
 * (removed, or another put in its place): its lock file is not the one
 * held. Appends would go on into unlinked files, lost at the next start,
 * and the node would go on leading partitions it cannot serve. */
static bool wal_data_dir_gone(const wal_server_t *w)
{
	char path[PATH_MAX];
	struct stat held, now;

	if (w->lock_fd < 0 || fstat(w->lock_fd, &held) < 0)
		return false;
	snprintf(path, sizeof(path), "%s/log/.walwriter.lock", w->cfg->data_dir);
	if (stat(path, &now) < 0)
		return errno == ENOENT || errno == ENOTDIR;
	return held.st_dev != now.st_dev || held.st_ino != now.st_ino;
}

static void wal_ckpt_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	wal_server_t *w = arg;

	if (w->stopping)
		return;
	if (wal_data_dir_gone(w)) {
		ck_log(CK_LOG_ERROR,
		       "data dir removed or replaced under the running node path=%s: stopping the "
		       "node (started again, it rebuilds its logs from the other replicas)",
		       w->cfg->data_dir);
		wal_stop_begin(w, CK_EXIT_FATAL);
		return;
	}
	wal_submit_once(w, WAL_JOB_CHECKPOINT, &w->ckpt_inflight);
	wal_timer_add(w->ckpt_timer, w->cfg->checkpoint_interval_ms);
}

static void wal_retention_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	wal_server_t *w = arg;

	if (w->stopping)
		return;
	wal_submit_once(w, WAL_JOB_RETENTION, &w->retention_inflight);
	wal_timer_add(w->retention_timer, w->cfg->retention_check_ms);
}

/* Waits (bounded) until every reply is on its way, then leaves the loop. */
static void wal_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	wal_server_t *w = arg;
	wal_client_t *c;
	bool drained = true;

	for (c = w->clients; c; c = c->next)
		if (ck_ipc_conn_outq_bytes(c->conn) > 0)
			drained = false;
	if (!drained && ck_clock_mono_ms() < w->stop_deadline_ms) {
		wal_timer_add(w->stop_timer, 10);
		return;
	}
	wal_clients_close(w);
	(void)event_base_loopexit(w->base, NULL);
}

/* Called after every completion while stopping: pending appends go out,
 * then one last checkpoint, then the replies are flushed and we leave. */
static void wal_stop_progress(wal_server_t *w)
{
	if (w->pend_count > 0 || w->jobs_inflight > 0 || wal_admin_pending(w) > 0)
		return;
	if (!w->final_ckpt_done && w->exit_code == CK_EXIT_STOPPED) {
		wal_submit_once(w, WAL_JOB_CHECKPOINT, &w->ckpt_inflight);
		return;
	}
	if (w->stop_deadline_ms)
		return;
	w->stop_deadline_ms = ck_clock_mono_ms() + WAL_STOP_FLUSH_MS;
	wal_timer_add(w->stop_timer, 0);
}

static void wal_stop_begin(wal_server_t *w, int code)
{
	if (w->stopping) {
		if (code > w->exit_code)
			w->exit_code = code;
		return;
	}
	w->stopping = true;
	w->exit_code = code;
	ck_log(CK_LOG_INFO, "stopping pending=%u inflight=%d", w->pend_count, w->jobs_inflight);
	(void)ck_notify("STOPPING=1");
	ck_ipc_listener_free(w->listener);
	w->listener = NULL;
	wal_park_stop(w);
	wal_kick(w);
	wal_admin_cut(w);
	wal_stop_progress(w);
}

/* SIGTERM, SIGINT or the supervisor gone (ck_daemon's on_stop). */
static void wal_stop_requested(void *arg)
{
	wal_stop_begin(arg, CK_EXIT_STOPPED);
}

/* ---- run ---- */

static void wal_server_defaults(wal_server_t *w)
{
	const ck_config_t *cfg = w->cfg;
	const ck_wal_profile_info_t *p = ck_wal_profile_info(cfg->wal_profile);

	w->defaults =
	    (wal_log_cfg_t){cfg->segment_bytes, cfg->segment_ms,        cfg->retention_bytes,
	                    cfg->retention_ms,  cfg->max_message_bytes, cfg->index_interval_bytes};
	if (w->defaults.segment_bytes > WAL_SEGMENT_BYTES_MAX)
		w->defaults.segment_bytes = WAL_SEGMENT_BYTES_MAX;
	w->limits.window_ns = p ? (uint64_t)p->group_window_us * 1000u : 0;
	w->limits.bytes_max = p ? p->group_bytes_max : 0;
	w->limits.appends_max = p ? p->group_appends_max : 0;
	w->pid_budget.max = WAL_PIDS_TOTAL_MAX;
}

static int wal_server_events(wal_server_t *w)
{
	w->sync_ev = event_new(w->base, wal_sync_fd(w->sync), EV_READ | EV_PERSIST, wal_sync_cb, w);
	w->group_timer = evtimer_new(w->base, wal_group_timer_cb, w);
	w->ckpt_timer = evtimer_new(w->base, wal_ckpt_timer_cb, w);
	w->retention_timer = evtimer_new(w->base, wal_retention_timer_cb, w);
	w->stop_timer = evtimer_new(w->base, wal_stop_timer_cb, w);
	if (!w->sync_ev || !w->group_timer || !w->ckpt_timer || !w->retention_timer ||
	    !w->stop_timer || wal_admin_init(w) < 0 || wal_park_init(w) < 0)
		return -ENOMEM;
	if (event_add(w->sync_ev, NULL) < 0)
		return -ENOMEM;
	wal_timer_add(w->ckpt_timer, CK_MAX(w->cfg->checkpoint_interval_ms, 1));
	wal_timer_add(w->retention_timer, CK_MAX(w->cfg->retention_check_ms, 1));
	return 0;
}

static void wal_server_free_events(wal_server_t *w)
{
	struct event *evs[] = {w->sync_ev, w->group_timer, w->ckpt_timer, w->retention_timer,
	                       w->stop_timer};

	for (size_t i = 0; i < CK_ARRAY_LEN(evs); i++)
		if (evs[i])
			event_free(evs[i]);
}

static void wal_server_free(wal_server_t *w)
{
	size_t it = 0;
	wal_log_t *l;

	wal_clients_close(w);
	wal_admin_free(w);
	wal_park_free(w);
	while ((l = ck_hash_next(&w->logs, &it)) != NULL)
		wal_log_free(l);
	ck_hash_free(&w->logs);
}

/* Starts serving: sync thread, listener, events; READY once all is up.
 * Signals and the supervisor watch are ck_daemon's (made by the caller). */
static int wal_server_start(wal_server_t *w)
{
	wal_sync_opts_t so = {w->cfg->data_dir, w->env, w->dbi,
	                      (uint64_t)w->cfg->preallocate_bytes};
	int r;

	r = wal_sync_start(&so, w->boot_stores, w->boot_nstores, &w->sync);
	if (r < 0)
		return r;
	free(w->boot_stores);
	w->boot_stores = NULL;
	w->boot_nstores = 0;
	r = wal_server_events(w);
	if (r < 0)
		return r;
	w->listener = ck_ipc_listener_new(w->base, w->listen_fd, wal_on_accept, w);
	w->listen_fd = -1;
	if (!w->listener)
		return -ENOMEM;
	wal_files_measure(w);
	(void)ck_notifyf("READY=1\nSTATUS=serving logs=%zu profile=%s", ck_hash_count(&w->logs),
	                 ck_wal_profile_info(w->cfg->wal_profile)->name);
	if (ck_daemon_keepalive(w->daemon) < 0)
		ck_log(CK_LOG_WARN, "cannot start the keepalive to the supervisor");
	ck_log(CK_LOG_INFO, "ready logs=%zu profile=%s data_dir=%s", ck_hash_count(&w->logs),
	       ck_wal_profile_info(w->cfg->wal_profile)->name, w->cfg->data_dir);
	return 0;
}

int wal_server_run(const ck_config_t *cfg)
{
	wal_server_t w;
	const ck_daemon_opts_t dopts = {"walwriter", cfg, wal_stop_requested, &w};
	int code, r;

	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.listen_fd = -1;
	w.lock_fd = -1;
	wal_server_defaults(&w);
	(void)ck_notify("STATUS=recovering");
	code = wal_boot(&w);
	if (code != 0)
		goto out;
	r = ck_daemon_new(&dopts, &w.daemon);
	if (r == 0) {
		w.base = ck_daemon_base(w.daemon);
		r = wal_server_start(&w);
	}
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "start failed err=\"%s\"", ck_strerror(r));
		code = CK_EXIT_RESTART;
		goto out;
	}
	(void)event_base_dispatch(w.base);
	code = w.exit_code;
	if (!w.stopping) /* the loop ran dry: should not happen */
		code = CK_EXIT_RESTART;
out:
	if (w.sync) {
		CK_ASSERT(w.jobs_inflight == 0 || code != CK_EXIT_STOPPED);
		if (w.jobs_inflight == 0)
			wal_sync_stop(w.sync);
		else
			_exit(code); /* a job still runs: leave, recovery repairs */
	}
	ck_ipc_listener_free(w.listener);
	if (w.listen_fd >= 0)
		(void)close(w.listen_fd);
	wal_server_free(&w);
	wal_server_free_events(&w);
	ck_daemon_free(w.daemon);
	wal_boot_release(&w);
	ck_log(CK_LOG_INFO, "stopped code=%d", code);
	return code;
}
