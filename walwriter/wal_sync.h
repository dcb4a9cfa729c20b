/*
 * wal_sync.h: chronik-walwriter's sync thread (shell).
 *
 * The event loop hands jobs over in order (a mutex and a condition
 * variable); the thread runs them strictly FIFO, so a truncate or a delete
 * always sees the appends queued before it. Creations and deletions come
 * as groups (one job for many logs): their checkpoints go into one LMDB
 * transaction and their directories share fsyncs (wal_store_dir.c). Group jobs queued back to back
 * run together: each is written in order, then one fdatasync per touched
 * file covers them all. Results come back through a completion queue whose
 * eventfd wakes the loop. A group job reports twice: WRITTEN after its
 * pwritev (end offsets may be announced) and DONE after the fdatasyncs
 * (appends may be acknowledged). When the
 * queue is empty the thread zero-fills ahead of active segments in bounded
 * chunks, so preallocation never competes with writes. A small group that
 * finds the thread idle runs on the loop instead (wal_sync_try_inline),
 * with the same completions: whoever runs groups holds the thread-owned
 * state, the other waits.
 *
 * The thread owns every wal_store_t once started, and LMDB writes (the
 * checkpoints). Not here: request parsing, policies, sockets.
 */
#ifndef WAL_SYNC_H
#define WAL_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "ck_segment.h"
#include "wal_store.h"

typedef enum {
	WAL_JOB_GROUP = 0,
	WAL_JOB_CREATE, /* a group of new logs */
	WAL_JOB_DELETE, /* a group of logs to delete */
	WAL_JOB_CONFIGURE,
	WAL_JOB_TRUNCATE,
	WAL_JOB_DELETE_RECORDS, /* move a log's start (DeleteRecords) */
	WAL_JOB_RETENTION,
	WAL_JOB_CHECKPOINT,
} wal_job_kind_t;

enum { WAL_JOB_WRITTEN = 1, WAL_JOB_DONE = 2 };

typedef struct {
	const uint8_t *data; /* validated batches, offsets set; owned by the loop */
	size_t len;
	wal_store_t *store;
} wal_job_item_t;

typedef struct {
	void *owner; /* the loop's log */
	wal_store_t *store;
	wal_store_stats_t stats; /* filled by the thread */
} wal_job_log_t;

/* One log of a CREATE or DELETE group. */
typedef struct {
	void *ctx;               /* the loop's (the request to answer) */
	void *owner;             /* the loop's log (CREATE: set as the store's owner) */
	wal_store_t *store;      /* DELETE: the store (freed); CREATE: the new one */
	wal_store_stats_t stats; /* CREATE: the new log's */
	int err;                 /* 0 or what failed for this log */
} wal_job_admin_t;

typedef struct wal_job {
	wal_job_kind_t kind;
	struct wal_job *next; /* the submission queue */
	int err;              /* 0 or the first error */
	void *ctx;            /* the loop's own context (requests to answer) */

	/* CREATE, DELETE: the logs of the group; CREATE: NEWS[i] describes
	 * ADMINS[i] (its topic points into the loop's log). */
	wal_job_admin_t *admins;
	wal_store_new_t *news;
	size_t nadmins;

	/* GROUP */
	wal_job_item_t *items;
	size_t nitems;
	/* GROUP: WRITTEN is posted (a wakeup of the loop before the
	 * fdatasync) only when someone watches one of its logs; without it
	 * DONE carries the stats. */
	bool tell_written;
	/* GROUP: one per touched log. RETENTION: filled with the logs that changed. */
	wal_job_log_t *logs;
	size_t nlogs;

	/* CONFIGURE, TRUNCATE, DELETE_RECORDS */
	wal_log_cfg_t req;       /* CONFIGURE: as asked */
	wal_log_cfg_t cfg;       /* CONFIGURE: resolved */
	int64_t offset;          /* TRUNCATE: new end; DELETE_RECORDS: new start */
	bool start_over;         /* DELETE_RECORDS: OFFSET is past the end (wal_store_start_over) */
	wal_store_t *store;      /* the store */
	wal_store_stats_t stats; /* TRUNCATE, DELETE_RECORDS: after the job */

	/* CHECKPOINT: a log's active segment file was removed (logged). */
	bool gone;
} wal_job_t;

typedef struct wal_sync wal_sync_t;

typedef struct {
	const char *data_dir;
	MDB_env *env;
	MDB_dbi dbi;             /* "offsets" */
	uint64_t prealloc_bytes; /* per active segment; 0 = off */
} wal_sync_opts_t;

/*
 * Starts the thread, which takes ownership of the N recovered STORES.
 * Returns 0 and *RET, or -errno.
 */
int wal_sync_start(const wal_sync_opts_t *o, wal_store_t **stores, size_t n, wal_sync_t **ret);
/* The eventfd to watch for completions (readable when there are some). */
int wal_sync_fd(const wal_sync_t *s);
/* Queues JOB (owned by the caller, untouched until it completes). */
void wal_sync_submit(wal_sync_t *s, wal_job_t *job);
/*
 * Runs JOB, a group or a creation (new logs live in memory until their
 * first append), on the calling thread (the loop) when the sync thread is
 * idle with nothing queued: the same writes and fdatasyncs, and the same
 * completions through the queue, without the two thread hand-offs and
 * without the eventfd: after a true return the caller has the loop call
 * wal_sync_drain() (an event made active, not a wakeup). Returns false
 * (nothing done: submit it) when the thread is busy or has work queued.
 */
bool wal_sync_try_inline(wal_sync_t *s, wal_job_t *job);
/* Calls FN for every completion in order; PHASE is WAL_JOB_WRITTEN or
 * WAL_JOB_DONE (the job is the caller's again after DONE). */
void wal_sync_drain(wal_sync_t *s, void (*fn)(void *arg, wal_job_t *job, int phase), void *arg);
/* Stops the thread once its queue is empty, joins it, frees every store
 * and S. Call only when no job is outstanding. */
void wal_sync_stop(wal_sync_t *s);

/* Reads the checkpoint of a log (main thread, before start). Returns 0,
 * CK_E_NOT_FOUND, CK_E_CORRUPT, or an LMDB error. */
int wal_ckpt_load(MDB_env *env, MDB_dbi dbi, const char *topic, int32_t partition, wal_ckpt_t *ret);

#endif
