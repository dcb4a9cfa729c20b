/*
 * wal_req.c: the requests of walwriter.proto as chronik-walwriter's event
 * loop serves them (shell): parsing a frame, checking a request against the
 * logs, and either answering at once (info, list, subscribe, rejections) or
 * queueing work for the sync thread (appends into the pending group;
 * creations and deletions into their groups, wal_admin.c; configure and
 * truncate and delete-records as jobs). Appends are validated and get their
 * offsets here, in arrival order, through the pure core; nothing of a
 * rejected request reaches a file. A frame that is no request closes its
 * connection with a log line.
 * Not here: group cutting and completions (wal_loop.c), files.
 */
#define CK_LOG_SUBSYSTEM "loop"

#include "wal_loop.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_fs.h"
#include "ck_log.h"

static wal_job_t *wal_admin_job(wal_job_kind_t kind, wal_client_t *c, uint64_t cid, wal_log_t *l)
{
	wal_job_t *job = calloc(1, sizeof(*job));
	wal_ctx_t *ctx = calloc(1, sizeof(*ctx));

	CK_ASSERT(job && ctx);
	job->kind = kind;
	job->ctx = ctx;
	ctx->client = c;
	ctx->correlation_id = cid;
	ctx->log = l;
	if (c)
		c->refs++;
	if (l)
		job->store = l->store;
	return job;
}

static void wal_cfg_from_proto(const Chronik__Wal__LogConfig *p, wal_log_cfg_t *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!p)
		return;
	ret->segment_bytes = p->segment_bytes;
	ret->segment_ms = p->segment_ms;
	ret->retention_bytes = p->retention_bytes;
	ret->retention_ms = p->retention_ms;
	ret->max_message_bytes = p->max_message_bytes;
	ret->index_interval_bytes = p->index_interval_bytes;
}

static void wal_req_create(wal_server_t *w, wal_client_t *c, uint64_t cid,
                           const Chronik__Wal__CreateLog *m)
{
	wal_log_cfg_t req, cfg;
	wal_topic_id_t id;
	wal_log_t *l;

	if (!ck_topic_name_valid(m->topic) || m->partition < 0)
		return wal_reply_err(c, cid, CK_E_INVALID, "invalid topic or partition");
	if (wal_topic_id_from_bytes(m->topic_id.data, m->topic_id.len, &id) < 0)
		return wal_reply_err(c, cid, CK_E_INVALID, "topic_id must be 16 bytes or empty");
	wal_cfg_from_proto(m->config, &req);
	if (wal_log_cfg_resolve(&w->defaults, &req, &cfg) < 0)
		return wal_reply_err(c, cid, CK_E_INVALID, "log config out of range");
	if (wal_log_find(w, m->topic, m->partition))
		return wal_reply_err(c, cid, CK_E_EXISTS, NULL);
	l = wal_log_new(m->topic, m->partition);
	if (!l || wal_log_insert(w, l) < 0) {
		free(l);
		return wal_reply_err(c, cid, -ENOMEM, NULL);
	}
	l->state = WAL_LOG_CREATING;
	l->cfg = cfg;
	l->topic_id = id;
	wal_admin_queue(w, WAL_JOB_CREATE, c, cid, l, &req);
}

/* The log a request names, ready for work; replies and returns NULL when not. */
static wal_log_t *wal_req_log(wal_server_t *w, wal_client_t *c, uint64_t cid, const char *topic,
                              int32_t partition)
{
	wal_log_t *l = wal_log_find(w, topic, partition);

	if (!l) {
		wal_reply_err(c, cid, CK_E_NOT_FOUND, "no such log");
		return NULL;
	}
	if (l->state != WAL_LOG_READY) {
		wal_reply_err(c, cid, CK_E_AGAIN, "log busy");
		return NULL;
	}
	return l;
}

/* A DeleteLog naming another incarnation than the log's (raftd replaying
 * an old DeleteTopic after the name was created again) leaves the log and
 * succeeds: no log of that incarnation exists. Decided before the busy
 * check, so such a request never waits for the log. */
static void wal_req_delete(wal_server_t *w, wal_client_t *c, uint64_t cid,
                           const Chronik__Wal__DeleteLog *m)
{
	char have[WAL_TOPIC_ID_HEX_LEN], asked[WAL_TOPIC_ID_HEX_LEN];
	wal_topic_id_t id;
	wal_log_t *l;

	if (wal_topic_id_from_bytes(m->topic_id.data, m->topic_id.len, &id) < 0)
		return wal_reply_err(c, cid, CK_E_INVALID, "topic_id must be 16 bytes or empty");
	l = wal_log_find(w, m->topic, m->partition);
	if (l && wal_topic_id_spares(&l->topic_id, &id)) {
		ck_log(CK_LOG_INFO,
		       "kept: DeleteLog names an older incarnation log=%s topic_id=%s "
		       "asked_topic_id=%s",
		       l->name, wal_topic_id_hex(&l->topic_id, have), wal_topic_id_hex(&id, asked));
		return wal_reply_info(c, cid, l);
	}
	l = wal_req_log(w, c, cid, m->topic, m->partition);
	if (!l)
		return;
	wal_group_flush_log(w, l);
	wal_log_remove(w, l);
	l->state = WAL_LOG_DELETING;
	wal_admin_queue(w, WAL_JOB_DELETE, c, cid, l, NULL);
}

/* The new settings apply once durable (wal_loop.c answers); appends queued
 * before them are written under the old ones (FIFO on the sync thread). */
static void wal_req_configure(wal_server_t *w, wal_client_t *c, uint64_t cid,
                              const Chronik__Wal__ConfigureLog *m)
{
	wal_log_t *l = wal_req_log(w, c, cid, m->topic, m->partition);
	wal_log_cfg_t req, cfg;
	wal_job_t *job;

	if (!l)
		return;
	wal_cfg_from_proto(m->config, &req);
	if (wal_log_cfg_resolve(&w->defaults, &req, &cfg) < 0)
		return wal_reply_err(c, cid, CK_E_INVALID, "log config out of range");
	job = wal_admin_job(WAL_JOB_CONFIGURE, c, cid, l);
	job->req = req;
	job->cfg = cfg;
	wal_submit(w, job);
}

static void wal_req_truncate(wal_server_t *w, wal_client_t *c, uint64_t cid,
                             const Chronik__Wal__Truncate *m)
{
	wal_log_t *l = wal_req_log(w, c, cid, m->topic, m->partition);
	wal_job_t *job;
	int64_t offset;

	if (!l)
		return;
	l->fence_epoch = CK_MAX(l->fence_epoch, m->leader_epoch);
	/* to_end: the end with every accepted append (they go first). */
	offset = m->to_end ? l->next_offset : m->offset;
	if (offset < l->start_offset || offset > l->next_offset)
		return wal_reply_err(c, cid, CK_E_OFFSET_RANGE, NULL);
	wal_group_flush_log(w, l);
	l->state = WAL_LOG_TRUNCATING;
	job = wal_admin_job(WAL_JOB_TRUNCATE, c, cid, l);
	job->offset = offset;
	wal_submit(w, job);
}

/* The log's pending appends go first (FIFO on the sync thread), so the
 * end the request is checked against is what the job finds. Appends keep
 * flowing meanwhile: only the start moves. */
static void wal_req_delete_records(wal_server_t *w, wal_client_t *c, uint64_t cid,
                                   const Chronik__Wal__DeleteRecords *m)
{
	wal_log_t *l = wal_req_log(w, c, cid, m->topic, m->partition);
	wal_job_t *job;

	if (!l)
		return;
	if (m->before_offset < 0)
		return wal_reply_err(c, cid, CK_E_INVALID, "negative before_offset");
	if (m->before_offset > l->next_offset && !m->start_over)
		return wal_reply_err(c, cid, CK_E_OFFSET_RANGE, "before_offset past the log end");
	/* A start over at the log's start and end may still have files to
	 * drop (its start moved to its end before): the store decides. */
	if (!m->start_over && m->before_offset <= l->start_offset)
		return wal_reply_info(c, cid, l); /* nothing to do */
	wal_group_flush_log(w, l);
	job = wal_admin_job(WAL_JOB_DELETE_RECORDS, c, cid, l);
	job->offset = m->before_offset;
	/* The end moves too: appends wait as for a truncate. */
	job->start_over = m->start_over;
	if (job->start_over)
		l->state = WAL_LOG_TRUNCATING;
	wal_submit(w, job);
}

/* An append whose log is not ready waits for it (wal_park.c): raftd's
 * CreateLog may still be on its way when a producer it answered is here. */
static bool wal_req_append(wal_server_t *w, wal_client_t *c, Chronik__Wal__WalRequest *req)
{
	const Chronik__Wal__Append *m = req->append;

	if (!ck_topic_name_valid(m->topic) || m->partition < 0) {
		wal_reply_err(c, req->correlation_id, CK_E_NOT_FOUND, "no such log");
		return false;
	}
	if (wal_park_wanted(w, m->topic, m->partition)) {
		wal_park(w, c, req);
		return true;
	}
	return wal_req_append_run(w, c, req);
}

/* Space the data directory's disk keeps free when appends are refused
 * (ck_fs_space: 5 % of it, 1 to 32 MiB), for what is already on its way: appends since
 * the last look (at most a quarter of it), index entries, new segment
 * files, checkpoints, and raftd's metadata log, whose appends are never
 * refused (metadata writes, such as deleting a topic to free space, go on). */
#define WAL_SPACE_LOOK_MS 50

/* Whether the disk is too full for LEN more bytes (looked at with statvfs
 * every WAL_SPACE_LOOK_MS or a quarter of the reserve in appends). A write that
 * fails for want of space half way through a group stops walwriter (what
 * is on disk then is for recovery to judge): refusing the append before it
 * takes offsets keeps the node serving, and producers get
 * KAFKA_STORAGE_ERROR instead of a restarting walwriter. */
static bool wal_space_low(wal_server_t *w, size_t len)
{
	uint64_t now = ck_clock_mono_ms();
	bool low;

	if (now - w->space_look_ms >= WAL_SPACE_LOOK_MS || w->space_since >= w->space_reserve / 4) {
		w->space_look_ms = now;
		w->space_since = 0;
		if (ck_fs_space(w->cfg->data_dir, &w->space_free, &w->space_reserve) < 0) {
			w->space_free = UINT64_MAX; /* unknown: the write will tell */
			w->space_reserve = CK_FS_RESERVE_MAX;
		}
	}
	/* Once refusing, twice the reserve must be free again: no flapping
	 * (and no log line per look) at the edge. */
	low = w->space_free < w->space_reserve * (w->space_refused ? 2 : 1) + w->space_since + len;
	if (low && w->space_refused++ == 0)
		ck_log(CK_LOG_ERROR,
		       "disk full: appends refused until space is freed data_dir=%s free=%llu",
		       w->cfg->data_dir, (unsigned long long)w->space_free);
	if (!low && w->space_refused) {
		ck_log(CK_LOG_WARN, "disk has room again: appends accepted free=%llu refused=%llu",
		       (unsigned long long)w->space_free, (unsigned long long)w->space_refused);
		w->space_refused = 0;
	}
	if (!low)
		w->space_since += len;
	return low;
}

/* An idempotent producer's leader append (wal_pid.h): 0 to append it, a
 * duplicate (*DUP true, *PLAN its first writing's offsets), or the
 * refusal. */
static int wal_req_append_pids(wal_log_t *l, const Chronik__Wal__Append *m, wal_append_plan_t *plan,
                               bool *dup)
{
	ck_batch_header_t h;
	wal_pid_batch_t b;
	int r;

	(void)ck_batch_header_parse(m->batches.data, m->batches.len, &h);
	r = wal_pids_check(&l->pids, m->batches.data, m->batches.len, &b);
	if (r == 1) {
		*dup = true;
		plan->base_offset = b.base_offset;
		plan->last_offset = b.last_offset;
		plan->next_offset = b.last_offset + 1;
		ck_log(CK_LOG_DEBUG,
		       "duplicate batch of producer log=%s producer=%lld seq=%d..%d "
		       "offsets=%lld..%lld",
		       l->name, (long long)h.producer_id, (int)b.first_seq, (int)b.last_seq,
		       (long long)b.base_offset, (long long)b.last_offset);
		return 0;
	}
	if (r < 0) {
		static ck_log_limit_t lim;
		const wal_pid_entry_t *e = wal_pids_find(&l->pids, h.producer_id);
		ck_log_limited(
		    &lim, CK_LOG_INFO,
		    "producer batch refused log=%s producer=%lld epoch=%d seq=%d known_epoch=%d "
		    "last_seq=%d err=\"%s\"",
		    l->name, (long long)h.producer_id, (int)h.producer_epoch, (int)h.base_sequence,
		    e ? (int)e->epoch : -1, e && e->n ? (int)e->b[e->n - 1].last_seq : -1,
		    ck_strerror(r));
	}
	return r;
}

/* fds kept spare for connections, LMDB and files opened for a moment. */
#define WAL_FDS_SPARE 256

void wal_files_measure(wal_server_t *w)
{
	struct rlimit rl;
	struct dirent *de;
	uint64_t n = 0;
	DIR *d = opendir("/proc/self/fd");

	if (d) {
		while ((de = readdir(d)) != NULL)
			n += de->d_name[0] != '.';
		(void)closedir(d);
	}
	w->fds_ready = n;
	w->files_ready = w->files_logs;
	w->fds_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && n > 0
	                   ? (uint64_t)rl.rlim_cur
	                   : 0;
}

void wal_files_release(wal_server_t *w, wal_log_t *l)
{
	if (l->holds_files && w->files_logs > 0)
		w->files_logs--;
	l->holds_files = false;
}

/* Whether another log's three files would not fit under the open file
 * limit. Kafka, out of descriptors, takes its log directory offline; here
 * the log's first append is refused (KAFKA_STORAGE_ERROR) with a log line
 * and the logs already open go on. */
static bool wal_files_low(wal_server_t *w, const wal_log_t *l)
{
	uint64_t want = w->fds_ready + 3 * w->files_logs + 3 + WAL_FDS_SPARE;

	want -= CK_MIN(want, 3 * w->files_ready);
	if (w->fds_limit == 0 || want <= w->fds_limit) {
		w->files_refused = 0;
		return false;
	}
	if (w->files_refused++ % 1000 == 0)
		ck_log(CK_LOG_ERROR,
		       "too many open files for another log with data: log=%s refused (%llu logs "
		       "hold 3 files each, limit %llu); raise the open file limit (LimitNOFILE)",
		       l->name, (unsigned long long)w->files_logs,
		       (unsigned long long)w->fds_limit);
	return true;
}

/* Whether leader append M names another incarnation of L's topic than L
 * holds (or a topic id of a bad length): then it is answered, and nothing
 * is written. */
static bool wal_req_append_other_topic(wal_client_t *c, uint64_t cid, const wal_log_t *l,
                                       const Chronik__Wal__Append *m)
{
	char have[WAL_TOPIC_ID_HEX_LEN], asked[WAL_TOPIC_ID_HEX_LEN];
	wal_topic_id_t id;

	if (wal_topic_id_from_bytes(m->topic_id.data, m->topic_id.len, &id) < 0) {
		wal_reply_err(c, cid, CK_E_INVALID, "topic_id must be 16 bytes or empty");
		return true;
	}
	if (!wal_topic_id_spares(&l->topic_id, &id))
		return false;
	ck_log(CK_LOG_DEBUG,
	       "append refused: another incarnation of the topic log=%s topic_id=%s "
	       "asked_topic_id=%s",
	       l->name, wal_topic_id_hex(&l->topic_id, have), wal_topic_id_hex(&id, asked));
	wal_reply_err(c, cid, CK_E_NOT_FOUND,
	              "the log belongs to another incarnation of the topic");
	return true;
}

bool wal_req_append_run(wal_server_t *w, wal_client_t *c, Chronik__Wal__WalRequest *req)
{
	Chronik__Wal__Append *m = req->append;
	uint64_t cid = req->correlation_id;
	wal_log_t *l = wal_req_log(w, c, cid, m->topic, m->partition);
	wal_append_args_t args;
	wal_append_plan_t plan;
	wal_append_t *a;
	bool dup = false;
	int r;

	if (!l)
		return false;
	if (w->pend_bytes + m->batches.len > WAL_PENDING_BYTES_MAX) {
		wal_reply_err(c, cid, CK_E_AGAIN, "too many appends queued");
		return false;
	}
	if (strcmp(m->topic, WAL_META_TOPIC) != 0 && wal_space_low(w, m->batches.len)) {
		wal_reply_err(c, cid, -ENOSPC, "no space left on the data directory's disk");
		return false;
	}
	if (!l->holds_files && strcmp(m->topic, WAL_META_TOPIC) != 0 && wal_files_low(w, l)) {
		wal_reply_err(c, cid, -EMFILE, "too many open files for another log");
		return false;
	}
	if (!m->replica && wal_req_append_other_topic(c, cid, l, m))
		return false;
	if (m->replica) {
		/* Replica appends are recorded when accepted (below). */
		l->fence_epoch = CK_MAX(l->fence_epoch, m->leader_epoch);
	} else if (m->leader_epoch < l->fence_epoch) {
		ck_log(CK_LOG_DEBUG, "leader append refused log=%s epoch=%d fence=%d", l->name,
		       (int)m->leader_epoch, (int)l->fence_epoch);
		wal_reply_err(c, cid, CK_E_NOT_LEADER, "this log follows a later leader epoch");
		return false;
	}
	args.replica = m->replica;
	args.log_end = l->next_offset;
	args.leader_epoch = m->leader_epoch;
	args.append_time_ms = m->replica ? 0 : m->log_append_time_ms;
	args.max_bytes = (size_t)l->cfg.max_message_bytes;
	r = wal_append_prepare(m->batches.data, m->batches.len, &args, &plan);
	if (r == 0 && !m->replica)
		r = wal_req_append_pids(l, m, &plan, &dup);
	if (r < 0) {
		ck_log(CK_LOG_DEBUG, "append rejected log=%s err=\"%s\"", l->name, ck_strerror(r));
		wal_reply_err(c, cid, r, NULL);
		return false;
	}
	a = calloc(1, sizeof(*a));
	CK_ASSERT(a != NULL);
	a->client = c;
	c->refs++;
	a->correlation_id = cid;
	a->log = l;
	a->req = req;
	a->plan = plan;
	a->append_time_ms = dup ? 0 : args.append_time_ms; /* Kafka's: none for a duplicate */
	a->arrived_ns = ck_clock_mono_ns();
	a->dup = dup;
	if (dup && l->durable_end > plan.last_offset) {
		/* Durable already: answered at once. */
		wal_append_reply(a, 0);
		wal_append_free(a);
		return true;
	}
	if (!dup) {
		wal_pids_update(&l->pids, m->batches.data, m->batches.len, ck_clock_wall_ms());
		l->next_offset = plan.next_offset;
	}
	l->pending++;
	if (!l->holds_files) {
		l->holds_files = true;
		w->files_logs++;
	}
	if (w->pend_tail)
		w->pend_tail->next = a;
	else
		w->pend_head = a;
	w->pend_tail = a;
	w->pend_bytes += wal_append_len(a);
	w->pend_count++;
	wal_kick(w);
	return true;
}

static void wal_req_info(wal_server_t *w, wal_client_t *c, uint64_t cid,
                         const Chronik__Wal__GetLogInfo *m)
{
	wal_log_t *l = wal_log_find(w, m->topic, m->partition);

	if (!l || l->state == WAL_LOG_CREATING)
		return wal_reply_err(c, cid, CK_E_NOT_FOUND, "no such log");
	wal_reply_info(c, cid, l);
}

static void wal_req_list(wal_server_t *w, wal_client_t *c, uint64_t cid)
{
	Chronik__Wal__WalReply rep = CHRONIK__WAL__WAL_REPLY__INIT;
	Chronik__Wal__LogList list = CHRONIK__WAL__LOG_LIST__INIT;
	Chronik__Wal__LogInfo *infos = calloc(ck_hash_count(&w->logs) + 1, sizeof(*infos));
	Chronik__Wal__LogInfo **ptrs = calloc(ck_hash_count(&w->logs) + 1, sizeof(*ptrs));
	wal_log_t *l;
	size_t n = 0;

	if (!infos || !ptrs) {
		wal_reply_err(c, cid, -ENOMEM, NULL);
		goto out;
	}
	for (size_t it = 0; (l = ck_hash_next(&w->logs, &it)) != NULL;) {
		if (l->state == WAL_LOG_CREATING)
			continue;
		wal_log_info_fill(l, &infos[n]);
		ptrs[n] = &infos[n];
		n++;
	}
	list.n_logs = n;
	list.logs = ptrs;
	rep.correlation_id = cid;
	rep.body_case = CHRONIK__WAL__WAL_REPLY__BODY_LOG_LIST;
	rep.log_list = &list;
	wal_send(c, &rep);
out:
	free(infos);
	free(ptrs);
}

static void wal_req_subscribe(wal_server_t *w, wal_client_t *c, uint64_t cid,
                              const Chronik__Wal__Subscribe *m)
{
	Chronik__Wal__WalReply rep = CHRONIK__WAL__WAL_REPLY__INIT;
	wal_log_t *l;

	if (m->topic[0] == '\0') {
		c->sub_all = true;
	} else if (!wal_client_subscribed(c, m->topic)) {
		char **n = realloc(c->subs, (c->nsubs + 1) * sizeof(*n));
		char *t = strdup(m->topic);
		if (!n || !t) {
			free(t);
			if (n)
				c->subs = n;
			return wal_reply_err(c, cid, -ENOMEM, NULL);
		}
		c->subs = n;
		c->subs[c->nsubs++] = t;
	}
	rep.correlation_id = cid;
	wal_send(c, &rep);
	/* The current state first, so the subscriber never misses a step. */
	for (size_t it = 0; (l = ck_hash_next(&w->logs, &it)) != NULL;)
		if (l->state != WAL_LOG_CREATING &&
		    (m->topic[0] == '\0' || !strcmp(m->topic, l->topic)))
			wal_event_send(c, l, false);
}

static bool wal_req_mutates(const Chronik__Wal__WalRequest *req)
{
	switch (req->body_case) {
	case CHRONIK__WAL__WAL_REQUEST__BODY_LOG_INFO:
	case CHRONIK__WAL__WAL_REQUEST__BODY_LIST_LOGS:
	case CHRONIK__WAL__WAL_REQUEST__BODY_SUBSCRIBE:
		return false;
	default:
		return true;
	}
}

/* Dispatches one request. Returns true when the request was taken over. */
static bool wal_dispatch(wal_server_t *w, wal_client_t *c, Chronik__Wal__WalRequest *req)
{
	uint64_t cid = req->correlation_id;

	if (w->stopping && wal_req_mutates(req)) {
		wal_reply_err(c, cid, CK_E_SHUTDOWN, NULL);
		return false;
	}
	switch (req->body_case) {
	case CHRONIK__WAL__WAL_REQUEST__BODY_APPEND:
		return wal_req_append(w, c, req);
	case CHRONIK__WAL__WAL_REQUEST__BODY_CREATE_LOG:
		wal_req_create(w, c, cid, req->create_log);
		break;
	case CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_LOG:
		wal_req_delete(w, c, cid, req->delete_log);
		break;
	case CHRONIK__WAL__WAL_REQUEST__BODY_TRUNCATE:
		wal_req_truncate(w, c, cid, req->truncate);
		break;
	case CHRONIK__WAL__WAL_REQUEST__BODY_CONFIGURE_LOG:
		wal_req_configure(w, c, cid, req->configure_log);
		break;
	case CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_RECORDS:
		wal_req_delete_records(w, c, cid, req->delete_records);
		break;
	case CHRONIK__WAL__WAL_REQUEST__BODY_LOG_INFO:
		wal_req_info(w, c, cid, req->log_info);
		break;
	case CHRONIK__WAL__WAL_REQUEST__BODY_SUBSCRIBE:
		wal_req_subscribe(w, c, cid, req->subscribe);
		break;
	case CHRONIK__WAL__WAL_REQUEST__BODY_LIST_LOGS:
		wal_req_list(w, c, cid);
		break;
	default:
		break;
	}
	return false;
}

void wal_req_frame(ck_ipc_conn_t *conn, const uint8_t *data, size_t len, void *arg)
{
	wal_client_t *c = arg;
	Chronik__Wal__WalRequest *req = chronik__wal__wal_request__unpack(NULL, len, data);

	if (!req) {
		wal_client_kill(c, "unparsable request", len);
		return;
	}
	if (req->body_case == CHRONIK__WAL__WAL_REQUEST__BODY__NOT_SET) {
		chronik__wal__wal_request__free_unpacked(req, NULL);
		wal_client_kill(c, "request without body", len);
		return;
	}
	c->refs++; /* the client must outlive its own dispatch */
	if (!wal_dispatch(c->srv, c, req))
		chronik__wal__wal_request__free_unpacked(req, NULL);
	wal_client_unref(c);
}
