/*
 * wal_sync.c: the sync thread of chronik-walwriter (shell; see wal_sync.h).
 *
 * Invariants: jobs run strictly in submission order; a group's appends are
 * reported DONE only after every file they touched was fdatasync'd; a
 * checkpoint names only fdatasync'd bytes and index entries, and is written
 * in one LMDB transaction. This thread never touches libevent: it wakes the
 * loop through an eventfd. Idle time goes to preallocation, one bounded
 * chunk at a time, re-checking the queue in between.
 */
#define CK_LOG_SUBSYSTEM "sync"

#include "wal_sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_fs.h"
#include "ck_hwckpt.h"
#include "ck_log.h"

#define WAL_PREALLOC_CHUNK (512u << 10) /* one fdatasync's worth of zeros */

typedef struct {
	wal_job_t *job;
	int phase;
} wal_done_t;

struct wal_sync {
	wal_sync_opts_t o;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	wal_job_t *head, *tail; /* submitted, not yet taken */
	bool stop;
	/* Who runs groups and idle work right now: the thread (thread_busy)
	 * or the loop itself (inline_busy, wal_sync_try_inline). Either one
	 * holds the thread-owned state below while set; both change only
	 * under MU. */
	bool thread_busy, inline_busy;
	bool idle_work; /* stores want zero-filling */
	int efd;
	bool efd_armed;   /* the thread wrote EFD since the last drain read it */
	wal_done_t *done; /* completions not yet drained */
	size_t ndone, done_cap;
	/* Thread-owned from here on. */
	wal_store_t **stores;
	size_t nstores, stores_cap;
	/* Stores written to that may want their zero tail refilled: the idle
	 * work looks at these, never at every store. */
	wal_store_t **want;
	size_t nwant, want_cap;
	/* Stores whose recovery point may have moved since the last
	 * checkpoint (written to, cut, created, retention): the checkpoint
	 * looks at these, and at every store only on every
	 * WAL_CKPT_FULL_EVERY-th pass or after a failure (ckpt_all). */
	wal_store_t **ckpts;
	size_t nckpts, ckpts_cap;
	bool ckpt_all;
	uint32_t ckpt_passes;
	/* A deletion failed, so a directory may be left under a name no log
	 * has: new logs' names are looked for on disk again (a stat each).
	 * Until then every directory under a log's name belongs to a log the
	 * loop knows (start-up loads all of them or fails; only this thread
	 * renames directories into or out of those names), and the loop
	 * refuses those names itself. */
	bool dir_strays;
};

/* A belt to the list's braces: a store the list missed gets its recovery
 * point written this many checkpoints later at most. */
#define WAL_CKPT_FULL_EVERY 64

/* ---- the store list (thread-owned) ---- */

static int wal_sync_store_add(wal_sync_t *s, wal_store_t *st)
{
	if (s->nstores == s->stores_cap) {
		size_t cap = s->stores_cap ? s->stores_cap * 2 : 16;
		wal_store_t **n = realloc(s->stores, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->stores = n;
		s->stores_cap = cap;
	}
	s->stores[s->nstores++] = st;
	return 0;
}

static int wal_ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

	return x < y ? -1 : x > y;
}

/* Drops from V (*N long) the stores of GONE (NGONE, sorted). */
static void wal_stores_drop(wal_store_t **v, size_t *n, wal_store_t **gone, size_t ngone)
{
	size_t k = 0;

	for (size_t i = 0; i < *n; i++)
		if (!bsearch(&v[i], gone, ngone, sizeof(*gone), wal_ptr_cmp))
			v[k++] = v[i];
	*n = k;
}

/* Forgets the N stores of GONE (reordered) in one pass over each list. */
static void wal_sync_store_remove(wal_sync_t *s, wal_store_t **gone, size_t n)
{
	qsort(gone, n, sizeof(*gone), wal_ptr_cmp);
	wal_stores_drop(s->stores, &s->nstores, gone, n);
	wal_stores_drop(s->want, &s->nwant, gone, n);
	wal_stores_drop(s->ckpts, &s->nckpts, gone, n);
}

/* Notes ST as a checkpoint candidate (once). Without memory the next
 * checkpoint looks at every store. */
static void wal_sync_ckpt_note(wal_sync_t *s, wal_store_t *st)
{
	if (!wal_store_ckpt_mark(st))
		return;
	if (s->nckpts == s->ckpts_cap) {
		size_t cap = s->ckpts_cap ? s->ckpts_cap * 2 : 64;
		wal_store_t **n = realloc(s->ckpts, cap * sizeof(*n));
		if (!n) {
			wal_store_ckpt_unmark(st);
			s->ckpt_all = true;
			return;
		}
		s->ckpts = n;
		s->ckpts_cap = cap;
	}
	s->ckpts[s->nckpts++] = st;
}

/* Notes that ST, just written, wants preallocation (once). Without memory
 * for the note the store simply gets no zero tail ahead. */
static void wal_sync_want(wal_sync_t *s, wal_store_t *st)
{
	for (size_t i = 0; i < s->nwant; i++)
		if (s->want[i] == st)
			return;
	if (s->nwant == s->want_cap) {
		size_t cap = s->want_cap ? s->want_cap * 2 : 16;
		wal_store_t **n = realloc(s->want, cap * sizeof(*n));
		if (!n)
			return;
		s->want = n;
		s->want_cap = cap;
	}
	s->want[s->nwant++] = st;
}

/* ---- completions ---- */

static void wal_sync_post(wal_sync_t *s, wal_job_t *job, int phase)
{
	uint64_t one = 1;
	bool wake;

	pthread_mutex_lock(&s->mu);
	if (s->ndone == s->done_cap) {
		size_t cap = s->done_cap ? s->done_cap * 2 : 64;
		wal_done_t *n = realloc(s->done, cap * sizeof(*n));
		CK_ASSERT(n != NULL); /* a lost completion would hang a client */
		s->done = n;
		s->done_cap = cap;
	}
	s->done[s->ndone++] = (wal_done_t){job, phase};
	/* Inline (the loop runs the job: the thread waits meanwhile), the
	 * caller has the loop drain without a wakeup (wal_sync_try_inline). */
	wake = !s->inline_busy;
	if (wake)
		s->efd_armed = true;
	pthread_mutex_unlock(&s->mu);
	while (wake && write(s->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void wal_sync_drain(wal_sync_t *s, void (*fn)(void *arg, wal_job_t *job, int phase), void *arg)
{
	wal_done_t *items;
	uint64_t v;
	size_t n;
	bool armed;

	/* The counter is read before the completions are taken: one posted
	 * in between is taken now, and leaves at most a wakeup for nothing. */
	pthread_mutex_lock(&s->mu);
	armed = s->efd_armed;
	s->efd_armed = false;
	pthread_mutex_unlock(&s->mu);
	while (armed && read(s->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&s->mu);
	items = s->done;
	n = s->ndone;
	s->done = NULL;
	s->ndone = s->done_cap = 0;
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++)
		fn(arg, items[i].job, items[i].phase);
	free(items);
}

/* ---- LMDB ---- */

int wal_ckpt_load(MDB_env *env, MDB_dbi dbi, const char *topic, int32_t partition, wal_ckpt_t *ret)
{
	char key[CK_TOPIC_NAME_MAX + 32];
	MDB_txn *txn;
	MDB_val k, v;
	int r, n = wal_ckpt_key(key, sizeof(key), topic, partition);

	if (n < 0)
		return n;
	r = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (r)
		return r > 0 ? -r : r;
	k = (MDB_val){(size_t)n, key};
	r = mdb_get(txn, dbi, &k, &v);
	if (r == 0)
		r = wal_ckpt_decode(v.mv_data, v.mv_size, ret);
	else
		r = r == MDB_NOTFOUND ? CK_E_NOT_FOUND : (r > 0 ? -r : r);
	mdb_txn_abort(txn);
	return r;
}

static int wal_mdb_err(int r)
{
	return r > 0 ? -r : r;
}

/* Puts (C != NULL) or deletes the checkpoint of ST inside TXN. */
static int wal_ckpt_txn_put(MDB_txn *txn, MDB_dbi dbi, wal_store_t *st, const wal_ckpt_t *c)
{
	char key[CK_TOPIC_NAME_MAX + 32];
	uint8_t val[WAL_CKPT_LEN];
	MDB_val k, v;
	int r, n = wal_ckpt_key(key, sizeof(key), wal_store_topic(st), wal_store_partition(st));

	if (n < 0)
		return n;
	k = (MDB_val){(size_t)n, key};
	if (!c) {
		r = mdb_del(txn, dbi, &k, NULL);
		return r == MDB_NOTFOUND ? 0 : wal_mdb_err(r);
	}
	wal_ckpt_encode(c, val);
	v = (MDB_val){sizeof(val), val};
	return wal_mdb_err(mdb_put(txn, dbi, &k, &v, 0));
}

/* One transaction holding one checkpoint put or delete. */
static int wal_ckpt_write_one(wal_sync_t *s, wal_store_t *st, const wal_ckpt_t *c)
{
	MDB_txn *txn;
	int r = wal_mdb_err(mdb_txn_begin(s->o.env, NULL, 0, &txn));

	if (r < 0)
		return r;
	r = wal_ckpt_txn_put(txn, s->o.dbi, st, c);
	if (r < 0) {
		mdb_txn_abort(txn);
		return r;
	}
	return wal_mdb_err(mdb_txn_commit(txn));
}

static int wal_ckpt_save_cb(void *arg, wal_store_t *st, const wal_ckpt_t *c)
{
	return wal_ckpt_write_one(arg, st, c);
}

/* Whether a log's active segment file was removed under us (deleted by
 * hand): appends go on into a file no longer there and readers, opening
 * it by name, find nothing. Says which the first time (*RET_GONE). */
static void wal_sync_file_gone(wal_store_t *st, bool *ret_gone)
{
	if (*ret_gone || !wal_store_file_gone(st))
		return;
	ck_log(CK_LOG_ERROR,
	       "segment file removed under the running node log=%s-%d: stopping the node "
	       "(started again, it recovers what is left and fetches the rest from the other "
	       "replicas)",
	       wal_store_topic(st), wal_store_partition(st));
	*ret_gone = true;
}

/* Checkpoints the logs that changed (every one every WAL_CKPT_FULL_EVERY
 * passes), checking that their active segment file is still there
 * (*RET_GONE when not). */
static int wal_sync_checkpoint(wal_sync_t *s, bool *ret_gone)
{
	bool all = s->ckpt_all || ++s->ckpt_passes % WAL_CKPT_FULL_EVERY == 0;
	wal_store_t **from = all ? s->stores : s->ckpts;
	size_t nfrom = all ? s->nstores : s->nckpts, n = 0, nfail = 0;
	wal_ckpt_t *cs = NULL;
	wal_store_t **sts = NULL;
	MDB_txn *txn = NULL;
	int r = 0;

	if (nfrom == 0)
		return 0;
	cs = malloc(nfrom * sizeof(*cs));
	sts = malloc(nfrom * sizeof(*sts));
	if (!cs || !sts) {
		s->ckpt_all = true;
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nfrom; i++) {
		wal_sync_file_gone(from[i], ret_gone);
		wal_store_ckpt_unmark(from[i]);
		if (!wal_store_ckpt(from[i], &cs[n]))
			continue;
		/* The entries a checkpoint counts must be durable first. */
		if (wal_store_index_sync(from[i]) < 0) {
			/* Tried again next time: kept at the list's front. */
			if (!all) {
				(void)wal_store_ckpt_mark(from[i]);
				from[nfail] = from[i];
			}
			nfail++;
			continue;
		}
		sts[n++] = from[i];
	}
	/* The candidates were looked at: only the failed ones stay. */
	s->nckpts = all ? 0 : nfail;
	s->ckpt_all = all && nfail > 0;
	if (n == 0)
		goto out;
	r = wal_mdb_err(mdb_txn_begin(s->o.env, NULL, 0, &txn));
	for (size_t i = 0; i < n && r == 0; i++)
		r = wal_ckpt_txn_put(txn, s->o.dbi, sts[i], &cs[i]);
	if (r == 0) {
		r = wal_mdb_err(mdb_txn_commit(txn));
		txn = NULL;
	}
	for (size_t i = 0; i < n && r == 0; i++)
		wal_store_ckpt_taken(sts[i], &cs[i]);
	if (r < 0)
		s->ckpt_all = true; /* the next one looks at every store */
out:
	if (txn)
		mdb_txn_abort(txn);
	if (r < 0)
		ck_log(CK_LOG_ERROR, "checkpoint failed err=\"%s\"", ck_strerror(r));
	free(cs);
	free(sts);
	return r;
}

/* ---- jobs ---- */

/* Writes one group: stage and pwritev; reports WRITTEN. Returns 0 or the error. */
static int wal_sync_group_write(wal_sync_t *s, wal_job_t *job, int64_t now_ms)
{
	int r;

	for (size_t i = 0; i < job->nitems && job->err == 0; i++) {
		r = wal_store_stage(job->items[i].store, job->items[i].data, job->items[i].len,
		                    now_ms);
		if (r < 0)
			job->err = r;
	}
	for (size_t i = 0; i < job->nlogs; i++) {
		r = wal_store_flush(job->logs[i].store);
		if (r < 0 && job->err == 0)
			job->err = r;
		wal_store_stats(job->logs[i].store, &job->logs[i].stats);
	}
	if (job->err == 0 && job->tell_written)
		wal_sync_post(s, job, WAL_JOB_WRITTEN);
	return job->err;
}

/*
 * Runs N queued groups as one: each is written (and reported WRITTEN) in
 * order, then every touched file gets one fdatasync, then all are DONE.
 * A store synced once is clean, so repeated stores cost nothing.
 */
static void wal_sync_groups(wal_sync_t *s, wal_job_t **jobs, size_t n)
{
	int64_t now_ms = ck_clock_wall_ms();
	int err = 0, r;

	for (size_t k = 0; k < n; k++) {
		if (err)
			jobs[k]->err = err;
		else
			err = wal_sync_group_write(s, jobs[k], now_ms);
	}
	for (size_t k = 0; k < n && err == 0; k++) {
		for (size_t i = 0; i < jobs[k]->nlogs && err == 0; i++) {
			r = wal_store_sync(jobs[k]->logs[i].store);
			if (r < 0)
				err = r;
		}
	}
	/* Only a store written to can want preallocation or have a new
	 * recovery point (jobs are gone once posted). */
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < jobs[k]->nlogs; i++) {
			wal_sync_ckpt_note(s, jobs[k]->logs[i].store);
			if (wal_store_prealloc_wanted(jobs[k]->logs[i].store))
				wal_sync_want(s, jobs[k]->logs[i].store);
		}
	for (size_t k = 0; k < n; k++) {
		if (err && jobs[k]->err == 0)
			jobs[k]->err = err;
		wal_sync_post(s, jobs[k], WAL_JOB_DONE);
	}
}

/* Whether some log of the group has a recovery point stored already: one
 * a deleted log of the same name left when its removal failed. */
static bool wal_sync_stale_ckpts(wal_sync_t *s, wal_store_new_t *logs, size_t n)
{
	wal_ckpt_t c;

	for (size_t i = 0; i < n; i++) {
		if (logs[i].err)
			continue;
		if (wal_ckpt_load(s->o.env, s->o.dbi, logs[i].topic, logs[i].partition, &c) !=
		    CK_E_NOT_FOUND)
			return true; /* found, or unsure: write */
	}
	return false;
}

/* Before a group of new logs becomes visible: their fresh recovery points
 * replace any stale one a log of the same name left, in one transaction.
 * Without a stale one nothing is written now (a new log recovers as empty
 * without one; the periodic checkpoint writes it), which keeps an fsync
 * off the creation's path. A failure is only logged: the next checkpoint
 * writes them again. */
static void wal_sync_create_ckpts(void *arg, wal_store_new_t *logs, size_t n)
{
	wal_sync_t *s = arg;
	MDB_txn *txn = NULL;
	wal_ckpt_t c;
	int r;

	if (!wal_sync_stale_ckpts(s, logs, n))
		return;
	r = wal_mdb_err(mdb_txn_begin(s->o.env, NULL, 0, &txn));

	for (size_t i = 0; i < n && r == 0; i++)
		if (logs[i].err == 0 && wal_store_ckpt(logs[i].store, &c))
			r = wal_ckpt_txn_put(txn, s->o.dbi, logs[i].store, &c);
	if (r == 0) {
		r = wal_mdb_err(mdb_txn_commit(txn));
		txn = NULL;
	}
	for (size_t i = 0; i < n && r == 0; i++)
		if (logs[i].err == 0 && wal_store_ckpt(logs[i].store, &c))
			wal_store_ckpt_taken(logs[i].store, &c);
	if (txn)
		mdb_txn_abort(txn);
	if (r < 0)
		ck_log(CK_LOG_WARN, "checkpoints of new logs not written err=\"%s\"",
		       ck_strerror(r));
}

static void wal_sync_create(wal_sync_t *s, wal_job_t *job)
{
	int r;

	for (size_t i = 0; i < job->nadmins; i++)
		job->news[i].name_free = !s->dir_strays;
	r = wal_store_create_group(s->o.data_dir, job->news, job->nadmins, wal_sync_create_ckpts,
	                           s);

	for (size_t i = 0; i < job->nadmins; i++) {
		wal_job_admin_t *a = &job->admins[i];
		wal_store_t *st = job->news[i].store;

		a->err = r < 0 ? r : job->news[i].err;
		if (a->err < 0)
			continue;
		a->err = wal_sync_store_add(s, st);
		if (a->err < 0) {
			wal_store_free(st); /* the directory stays: found at restart */
			continue;
		}
		wal_store_set_owner(st, a->owner);
		wal_store_set_prealloc(st, s->o.prealloc_bytes);
		wal_store_stats(st, &a->stats);
		a->store = st;
		wal_sync_ckpt_note(s, st);
	}
}

/* Removes the recovery points of the group's logs in one transaction,
 * before their files go. Returns 0 or the error (nothing was deleted). */
static int wal_sync_delete_ckpts(wal_sync_t *s, const wal_job_t *job)
{
	MDB_txn *txn;
	int r = wal_mdb_err(mdb_txn_begin(s->o.env, NULL, 0, &txn));

	if (r < 0)
		return r;
	for (size_t i = 0; i < job->nadmins && r == 0; i++)
		r = wal_ckpt_txn_put(txn, s->o.dbi, job->admins[i].store, NULL);
	if (r < 0) {
		mdb_txn_abort(txn);
		return r;
	}
	return wal_mdb_err(mdb_txn_commit(txn));
}

/* The logs go whatever happens to their checkpoints: the loop has already
 * forgotten them (a stale recovery point is replaced when a log of that
 * name is created again). */
static void wal_sync_delete(wal_sync_t *s, wal_job_t *job)
{
	size_t n = job->nadmins;
	wal_store_t **sts = calloc(n ? n : 1, sizeof(*sts));
	int *errs = calloc(n ? n : 1, sizeof(*errs));
	int r = wal_sync_delete_ckpts(s, job);

	CK_ASSERT(sts && errs); /* a store left behind would outlive its log */
	if (r < 0)
		ck_log(CK_LOG_ERROR, "checkpoints of deleted logs not removed err=\"%s\"",
		       ck_strerror(r));
	for (size_t i = 0; i < n; i++)
		sts[i] = job->admins[i].store;
	wal_sync_store_remove(s, sts, n);
	for (size_t i = 0; i < n; i++)
		sts[i] = job->admins[i].store; /* in the job's order again */
	wal_store_delete_group(sts, n, errs);
	for (size_t i = 0; i < n; i++) {
		job->admins[i].err = r < 0 ? r : errs[i];
		job->admins[i].store = NULL;
		if (errs[i] < 0 && !s->dir_strays) {
			s->dir_strays = true;
			ck_log(CK_LOG_WARN,
			       "a deletion failed: new logs' names are checked on disk "
			       "from now on err=\"%s\"",
			       ck_strerror(errs[i]));
		}
	}
	free(sts);
	free(errs);
}

/* The high watermark of ST's log as the replicator last checkpointed it
 * (it lags the live one: a lower bound is the safe side), or -1 when there
 * is none (no replicator, or not checkpointed yet): no bound. */
static int64_t wal_sync_hw(wal_sync_t *s, wal_store_t *st)
{
	char key[CK_HWCKPT_KEY_MAX];
	ck_hwckpt_t ck;
	MDB_txn *txn;
	MDB_val k, v;
	int n = ck_hwckpt_key(key, sizeof(key), wal_store_topic(st), wal_store_partition(st));
	int64_t hw = -1;

	if (n < 0 || !s->o.env || mdb_txn_begin(s->o.env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	k = (MDB_val){(size_t)n, key};
	if (mdb_get(txn, s->o.dbi, &k, &v) == 0 && ck_hwckpt_decode(v.mv_data, v.mv_size, &ck) == 0)
		hw = ck.hw;
	mdb_txn_abort(txn);
	return hw;
}

static void wal_sync_retention(wal_sync_t *s, wal_job_t *job)
{
	int64_t now_ms = ck_clock_wall_ms();

	job->logs = calloc(s->nstores ? s->nstores : 1, sizeof(*job->logs));
	if (!job->logs) {
		job->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < s->nstores; i++) {
		wal_store_t *st = s->stores[i];
		int r = 0;

		if (wal_store_retention_empties(st, now_ms, -1, false)) {
			/* Every record is past retention_ms, the active segment's
			 * too: the log starts over, empty, at its end (Kafka rolls
			 * and deletes them all), once the HW covers it. */
			int64_t hw = wal_sync_hw(s, st);
			wal_store_stats_t before;

			wal_store_stats(st, &before);
			if (wal_store_retention_empties(st, now_ms, hw, true)) {
				r = wal_store_start_over(st, before.end_offset, wal_ckpt_save_cb,
				                         s);
				if (r == 0) {
					ck_log(CK_LOG_INFO,
					       "log emptied by retention log=%s-%d start=%lld "
					       "size=%llu",
					       wal_store_topic(st), wal_store_partition(st),
					       (long long)before.end_offset,
					       (unsigned long long)before.size_bytes);
					r = 1;
				}
			} else {
				r = wal_store_retention(st, now_ms, hw);
			}
		} else if (wal_store_retention_due(st, now_ms) > 0) {
			r = wal_store_retention(st, now_ms, wal_sync_hw(s, st));
		}
		if (r < 0)
			ck_log(CK_LOG_ERROR, "retention failed log=%s-%d err=\"%s\"",
			       wal_store_topic(s->stores[i]), wal_store_partition(s->stores[i]),
			       ck_strerror(r));
		if (r == 0)
			continue;
		wal_sync_ckpt_note(s, s->stores[i]);
		if (r < 0)
			continue;
		wal_job_log_t *l = &job->logs[job->nlogs++];
		l->owner = wal_store_owner(s->stores[i]);
		l->store = s->stores[i];
		wal_store_stats(s->stores[i], &l->stats);
	}
}

static void wal_sync_run(wal_sync_t *s, wal_job_t *job)
{
	switch (job->kind) {
	case WAL_JOB_GROUP:
		CK_ASSERT(!"groups run through wal_sync_groups");
		break;
	case WAL_JOB_CREATE:
		wal_sync_create(s, job);
		break;
	case WAL_JOB_DELETE:
		wal_sync_delete(s, job);
		break;
	case WAL_JOB_CONFIGURE:
		job->err = wal_store_configure(job->store, &job->req, &job->cfg);
		if (job->err == 0) {
			/* The new settings may free segments of this log now
			 * (the periodic pass covers the others). */
			int r = wal_store_retention(job->store, ck_clock_wall_ms(),
			                            wal_sync_hw(s, job->store));
			if (r < 0)
				ck_log(CK_LOG_ERROR, "retention failed log=%s-%d err=\"%s\"",
				       wal_store_topic(job->store), wal_store_partition(job->store),
				       ck_strerror(r));
		}
		wal_store_stats(job->store, &job->stats);
		break;
	case WAL_JOB_TRUNCATE:
		job->err = wal_store_truncate(job->store, job->offset, wal_ckpt_save_cb, s);
		wal_store_stats(job->store, &job->stats);
		break;
	case WAL_JOB_DELETE_RECORDS:
		job->err =
		    job->start_over
		        ? wal_store_start_over(job->store, job->offset, wal_ckpt_save_cb, s)
		        : wal_store_delete_records(job->store, job->offset, wal_ckpt_save_cb, s);
		wal_store_stats(job->store, &job->stats);
		break;
	case WAL_JOB_RETENTION:
		wal_sync_retention(s, job);
		break;
	case WAL_JOB_CHECKPOINT:
		job->err = wal_sync_checkpoint(s, &job->gone);
		break;
	}
	/* A log whose recovery point may have moved. */
	if (job->kind == WAL_JOB_CONFIGURE || job->kind == WAL_JOB_TRUNCATE ||
	    job->kind == WAL_JOB_DELETE_RECORDS)
		wal_sync_ckpt_note(s, job->store);
}

/* One chunk of zero-filling for the first store noted that still wants
 * it (those that do not leave the list). Returns true when there was work. */
static bool wal_sync_idle_work(wal_sync_t *s)
{
	uint64_t free_bytes = 0, reserve = 0;

	/* Zeros ahead never take the reserve kept for appends (they took it
	 * all on a small disk, and the metadata log then failed to write). */
	if (s->nwant > 0 && ck_fs_space(s->o.data_dir, &free_bytes, &reserve) == 0 &&
	    free_bytes < 2 * reserve + WAL_PREALLOC_CHUNK)
		return false;
	while (s->nwant > 0) {
		wal_store_t *st = s->want[0];
		if (wal_store_prealloc_wanted(st) &&
		    wal_store_prealloc_step(st, WAL_PREALLOC_CHUNK) >= 0)
			return true;
		/* Done, or failed (logged; the store wants it again once its log
		 * has grown by a tail's length). */
		s->want[0] = s->want[--s->nwant];
	}
	return false;
}

/* Takes the next job, and with a group every group queued right behind it.
 * Returns how many (0: none). Called with the lock held. */
static size_t wal_sync_take(wal_sync_t *s, wal_job_t **jobs)
{
	size_t n = 0;

	while (s->head && n < WAL_GROUPS_QUEUED_MAX) {
		wal_job_t *job = s->head;
		if (n > 0 && (job->kind != WAL_JOB_GROUP || jobs[0]->kind != WAL_JOB_GROUP))
			break;
		s->head = job->next;
		if (!s->head)
			s->tail = NULL;
		jobs[n++] = job;
	}
	return n;
}

static void *wal_sync_main(void *arg)
{
	wal_sync_t *s = arg;
	wal_job_t *jobs[WAL_GROUPS_QUEUED_MAX];
	size_t n;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->inline_busy || (!s->head && !s->stop && !s->idle_work))
			pthread_cond_wait(&s->cond, &s->mu);
		n = wal_sync_take(s, jobs);
		if (n == 0 && s->stop)
			break;
		s->thread_busy = true;
		pthread_mutex_unlock(&s->mu);
		if (n == 0) {
			s->idle_work = wal_sync_idle_work(s);
		} else if (jobs[0]->kind == WAL_JOB_GROUP) {
			wal_sync_groups(s, jobs, n);
			s->idle_work = s->nwant > 0;
		} else {
			wal_sync_run(s, jobs[0]);
			wal_sync_post(s, jobs[0], WAL_JOB_DONE);
			s->idle_work = s->nwant > 0;
		}
		pthread_mutex_lock(&s->mu);
		s->thread_busy = false;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

bool wal_sync_try_inline(wal_sync_t *s, wal_job_t *job)
{
	CK_ASSERT(job->kind == WAL_JOB_GROUP || job->kind == WAL_JOB_CREATE);
	pthread_mutex_lock(&s->mu);
	if (s->head || s->thread_busy || s->stop) {
		pthread_mutex_unlock(&s->mu);
		return false;
	}
	s->inline_busy = true;
	pthread_mutex_unlock(&s->mu);
	if (job->kind == WAL_JOB_GROUP) {
		wal_sync_groups(s, &job, 1);
	} else {
		wal_sync_run(s, job);
		wal_sync_post(s, job, WAL_JOB_DONE);
	}
	pthread_mutex_lock(&s->mu);
	s->inline_busy = false;
	s->idle_work = s->nwant > 0;
	if (s->idle_work || s->head)
		pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
	return true;
}

/* ---- lifetime ---- */

int wal_sync_start(const wal_sync_opts_t *o, wal_store_t **stores, size_t n, wal_sync_t **ret)
{
	wal_sync_t *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->o = *o;
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		r = -errno;
		free(s);
		return r;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->idle_work = true;
	s->ckpt_all = true; /* recovered stores: the first checkpoint looks at all */
	for (size_t i = 0; i < n; i++) {
		wal_store_set_prealloc(stores[i], o->prealloc_bytes);
		r = wal_sync_store_add(s, stores[i]);
		if (r < 0)
			goto fail;
	}
	r = -pthread_create(&s->thread, NULL, wal_sync_main, s);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	(void)close(s->efd);
	free(s->stores);
	free(s->want);
	free(s->ckpts);
	free(s);
	return r;
}

int wal_sync_fd(const wal_sync_t *s)
{
	return s->efd;
}

void wal_sync_submit(wal_sync_t *s, wal_job_t *job)
{
	job->next = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->tail)
		s->tail->next = job;
	else
		s->head = job;
	s->tail = job;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

void wal_sync_stop(wal_sync_t *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
	(void)pthread_join(s->thread, NULL);
	for (size_t i = 0; i < s->nstores; i++)
		wal_store_free(s->stores[i]);
	free(s->stores);
	free(s->want);
	free(s->ckpts);
	free(s->done);
	(void)close(s->efd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cond);
	free(s);
}
