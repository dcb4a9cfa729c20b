/*
 * wal_store_int.h: the inside of a wal_store_t, shared by wal_store.c (the
 * writer) and wal_recover.c (start-up recovery) of chronik-walwriter only.
 * Invariants are those of wal_store.h; nothing else may include this.
 */
#ifndef WAL_STORE_INT_H
#define WAL_STORE_INT_H

#include <limits.h>
#include <sys/uio.h>

#include "ck_buf.h"
#include "ck_segment.h"
#include "wal_store.h"

struct wal_store {
	const char *topic; /* in the same allocation, after dir */
	int32_t partition;
	void *owner;
	wal_log_cfg_t cfg;
	uint64_t prealloc_bytes;
	int64_t start_offset;

	/* Closed segments, then the active one (always present, last). */
	wal_segment_info_t *segs;
	size_t nsegs;
	size_t segs_cap;

	/* The active segment. */
	int log_fd;
	int index_fd;
	int time_fd;
	uint64_t write_pos;  /* end of the batches on file */
	uint64_t zero_end;   /* [write_pos, zero_end) is durable zeros */
	int64_t next_offset; /* offset after the last batch (staged included) */
	int64_t created_ms;
	wal_index_state_t idx;       /* staged entries included */
	uint64_t index_file_entries; /* entries on file (written) */
	uint64_t time_file_entries;
	bool index_dirty;        /* index entries not yet fdatasync'd */
	bool log_dirty;          /* log bytes not yet fdatasync'd */
	bool prealloc_active;    /* written since start: keep a zero tail ahead */
	uint64_t prealloc_retry_pos; /* after a failed zero fill: none before write_pos gets here */
	bool name_unsynced;      /* created lazily: <data_dir>/log not fsync'd since (activate) */
	bool dir_pending;        /* created lazily: no directory yet (wal_store_materialize) */
	wal_log_cfg_t req;       /* the settings as asked, while dir_pending (its settings file) */
	wal_topic_id_t topic_id; /* the incarnation (its topic id file when known) */
	bool cfg_lost; /* settings file missing or unreadable at recovery (wal_recover.c) */

	/* Staged for the current group. */
	struct iovec *iov;
	size_t iov_n;
	size_t iov_cap;
	uint64_t stage_bytes;
	ck_buf_t idx_stage;
	ck_buf_t time_stage;

	/* The recovery point after the last fdatasync. */
	wal_ckpt_t ckpt;
	uint64_t ckpt_seq;
	uint64_t ckpt_taken_seq;
	bool ckpt_marked; /* wal_store_ckpt_mark() */
	int failed;
	/* Last, as long as it is, then the topic: a store per log, tens of
	 * thousands of logs (a PATH_MAX array made a store 4.8 KB). */
	char dir[];
};

/* Result of scanning one segment (wal_store_scan). */
typedef struct {
	uint64_t end_pos;     /* end of the good batches */
	int64_t next_offset;  /* offset after the last good batch */
	int64_t first_max_ts; /* maxTimestamp of the segment's first batch, or INT64_MIN */
	ck_segment_end_t end; /* why it stopped, when clean */
	const char *reason;   /* why it stopped, when the bytes are bad */
	uint32_t index_fixed; /* index entries that had to be (re)written */
} wal_scan_t;

/* Allocates an empty store for DIR (fds -1). NULL on allocation failure. */
wal_store_t *wal_store_alloc(const char *dir, const char *topic, int32_t partition,
                             const wal_log_cfg_t *cfg);
/* Appends a segment to S->segs. Returns 0 or -ENOMEM. */
int wal_store_seg_push(wal_store_t *s, int64_t base, uint64_t size, int64_t max_ts);
/* Opens (creating if missing) the three files of segment BASE read-write.
 * Returns 0 or -errno; on failure nothing stays open. */
int wal_store_seg_open(const char *dir, int64_t base, bool create, int *ret_log, int *ret_index,
                       int *ret_time);
/* Removes the three files of segment BASE. Returns 0 or -errno. */
int wal_store_seg_unlink(const char *dir, int64_t base);
/* Makes the not-open active segment of S usable: opens its three files
 * (creating the missing ones) and fsyncs the directory. Returns 0 or
 * -errno. */
int wal_store_activate(wal_store_t *s);
/* Builds the directory of a log created lazily (dir_pending): its empty
 * first segment, settings file and topic id file under "<dir>.creating",
 * those files made durable, then renamed into place. Returns 0 (also when the
 * directory exists) or -errno. */
int wal_store_materialize(wal_store_t *s);

/*
 * Scans the segment (fds LOG/INDEX/TIME, based at BASE) from POS, where the
 * next batch must carry NEXT_OFFSET and *IDX is the indexing state, up to
 * the file's end. VERIFY checks CRCs. Index entries of the scanned batches
 * are derived again and written where the files disagree; afterwards the
 * index files hold exactly IDX->index_entries / time_entries entries.
 * Returns 0 and *RET, or -errno.
 */
int wal_store_scan(int log_fd, int index_fd, int time_fd, int64_t base, uint64_t pos,
                   int64_t next_offset, wal_index_state_t *idx, uint32_t interval, bool verify,
                   wal_scan_t *ret);
/* Writes the closing time entry of a segment (if due) and sizes the index
 * files exactly. Returns 0 or -errno. */
int wal_store_index_close(int index_fd, int time_fd, int64_t base, wal_index_state_t *idx);

/* Removes the closed segments that lie entirely below S's start offset
 * (and fsyncs the directory). Returns how many, or -errno (those removed
 * before the failure are forgotten, the rest stay). */
int wal_store_drop_below(wal_store_t *s);

/* Sets the recovery point to the current (durable) state. */
void wal_store_ckpt_set(wal_store_t *s);

/* pwrite of all LEN bytes. Returns 0 or -errno. */
int wal_store_pwrite(int fd, const void *buf, size_t len, uint64_t pos);

#endif
