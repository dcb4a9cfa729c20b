/*
 * wal_store.h: the files of one log, as chronik-walwriter's sync thread sees
 * them (shell).
 *
 * A store owns the directory <data_dir>/log/<topic>-<partition>/: the active
 * segment's fds, the write position, the zero-filled preallocated tail, the
 * indexing state and the list of closed segments (base, size, max timestamp:
 * per segment, never per batch). After start-up only the sync thread touches
 * a store; the event loop keeps its own view (wal_loop.c) fed by the stats
 * the sync thread reports.
 *
 * Invariants: bytes [0, write_pos) of the active segment are whole batches
 * with increasing offsets; [write_pos, zero_end) are zeros already durable;
 * the recovery point (wal_store_ckpt) only ever names fdatasync'd bytes. An
 * empty active segment may be "not open" (no fds, maybe no files yet: a new
 * log, or an empty one after recovery); the first append opens (creates)
 * its files, and for a new log its directory (wal_store_materialize), and
 * fsyncs them before anything is written.
 * Not here: deciding anything (wal_core.h), threads, LMDB, IPC.
 */
#ifndef WAL_STORE_H
#define WAL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal_core.h"

typedef struct wal_store wal_store_t;

typedef struct {
	int64_t start_offset; /* log start offset */
	int64_t end_offset;   /* the offset after the last batch on file */
	uint64_t size_bytes;  /* bytes of batches over all segments */
	int32_t segments;
} wal_store_stats_t;

/* What recovery cut from a log (for the warning line and tests). */
typedef struct {
	bool cut;
	int64_t segment_base;
	uint64_t position;
	uint64_t bytes_cut;
	const char *reason;
	int segments_dropped;
} wal_store_cut_t;

/* One log of a grouped creation (wal_store_create_group). */
typedef struct {
	const char *topic; /* the caller's, valid during the call */
	int32_t partition;
	wal_log_cfg_t req;       /* as asked (0 = node default), kept for restarts */
	wal_log_cfg_t cfg;       /* resolved */
	wal_topic_id_t topic_id; /* the incarnation (may be unknown) */
	bool name_free;          /* the caller knows no directory has this name */
	wal_store_t *store;      /* out: the new store (when err is 0) */
	int err;                 /* out: 0, CK_E_EXISTS, or -errno */
} wal_store_new_t;

/* Called once per group, before any new log becomes visible, with the logs
 * built so far (those with err 0); its result is only logged. */
typedef void (*wal_store_group_fn)(void *arg, wal_store_new_t *logs, size_t n);

/*
 * Creates the N logs of LOGS (distinct names) together: each a store in
 * memory for <data_dir>/log/<topic>-<partition> with an empty first
 * segment at offset 0, and nothing on disk yet (a name whose directory
 * exists gets CK_E_EXISTS without disturbing the others; the directory is
 * looked for unless the caller vouches for the name with NAME_FREE). Then BEFORE(ARG,
 * ...) runs (may be NULL). The directory, its settings file (when REQ is
 * not all 0), its topic id file (when TOPIC_ID is known) and the segment
 * files are built by the log's first append
 * (wal_store_activate), durably, before that append is acknowledged; a log
 * deleted before any append never touches the disk. After a restart a log
 * nobody appended to is gone: raftd re-creates the logs LMDB lists for
 * this broker (reconciliation), so nothing acknowledged depends on it.
 * Per-log results land in LOGS[i].err and .store. Returns 0 (per-log
 * errors only).
 */
int wal_store_create_group(const char *data_dir, wal_store_new_t *logs, size_t n,
                           wal_store_group_fn before, void *arg);

/* One log through wal_store_create_group (tests), of incarnation TOPIC_ID
 * (NULL = unknown). Returns 0 and *RET, CK_E_EXISTS, or -errno. */
int wal_store_create(const char *data_dir, const char *topic, int32_t partition,
                     const wal_log_cfg_t *req, const wal_log_cfg_t *cfg,
                     const wal_topic_id_t *topic_id, wal_store_t **ret);

/*
 * Opens an existing log directory and recovers it (wal_recover.c): scans
 * from CKPT (NULL = from the first segment), verifies every batch, cuts a
 * torn or corrupt tail (reported in *RET_CUT) and repairs indexes.
 * DEFAULTS resolve the stored settings; the topic id file gives the
 * incarnation (missing: unknown; unreadable: unknown, with a warning).
 * PREALLOC_BYTES sizes the zero tail. A hole between two segments is
 * logged; with CUT_AT_HOLE the log is cut there (another replica holds the
 * rest), else the records after it are kept.
 * Returns 0 and *RET, or -errno / CK_E_CORRUPT (unrecoverable).
 */
int wal_store_recover(const char *data_dir, const char *topic, int32_t partition,
                      const wal_ckpt_t *ckpt, const wal_log_cfg_t *defaults, bool cut_at_hole,
                      wal_store_t **ret, wal_store_cut_t *ret_cut);

/* Closes the fds and frees S (files stay). */
void wal_store_free(wal_store_t *s);

void wal_store_stats(const wal_store_t *s, wal_store_stats_t *ret);
/* Whether the active segment's .log file was unlinked (no name left). */
bool wal_store_file_gone(const wal_store_t *s);
const wal_log_cfg_t *wal_store_cfg(const wal_store_t *s);
/* Its settings file was missing or unreadable at recovery and no
 * ConfigureLog came since: node defaults with retention suspended. */
bool wal_store_cfg_lost(const wal_store_t *s);
const char *wal_store_dir(const wal_store_t *s);
void wal_store_set_prealloc(wal_store_t *s, uint64_t prealloc_bytes);

/*
 * Group commit, in this order per group:
 * stage() each append's bytes (validated, offsets set), rolling the segment
 * first when needed (that closes the old one durably and creates the next);
 * flush() writes what was staged with one pwritev (plus the index entries);
 * sync() fdatasyncs the log file and advances the recovery point.
 * Each returns 0 or -errno; after a failure the store is unusable.
 */
int wal_store_stage(wal_store_t *s, const uint8_t *data, size_t len, int64_t now_ms);
int wal_store_flush(wal_store_t *s);
int wal_store_sync(wal_store_t *s);

/*
 * Truncates the log so it ends before the batch holding OFFSET. Calls
 * SAVE(ARG, S, ckpt) with a recovery point at or before the cut before any
 * byte is removed (a crash in between then rescans instead of trusting
 * positions that no longer exist). Returns 0, CK_E_OFFSET_RANGE (OFFSET
 * outside [start, end]), or an error.
 */
typedef int (*wal_store_ckpt_fn)(void *arg, wal_store_t *s, const wal_ckpt_t *c);
int wal_store_truncate(wal_store_t *s, int64_t offset, wal_store_ckpt_fn save, void *arg);

/*
 * Moves the log start to max(start, BEFORE) (BEFORE clamped to the log
 * end) and deletes the closed segments entirely below it. SAVE(ARG, S, c)
 * makes the recovery point carrying the new start durable first, so a
 * crash never brings the deleted offsets back (recovery removes segments
 * left below the start). Returns 0 (also when the start does not move),
 * CK_E_INVALID (BEFORE < 0), the error of SAVE (nothing changed), or
 * -errno from removing files (the new start holds).
 */
int wal_store_delete_records(wal_store_t *s, int64_t before, wal_store_ckpt_fn save, void *arg);
/*
 * Empties the log (wherever its end is) and makes it start, and end, at AT
 * (>= 0): Kafka's truncate-fully-and-start-at, for a follower whose log
 * fell below its leader's log start. The start moves to the old end durably first (as
 * DeleteRecords), then every segment file goes, then SAVE makes a recovery
 * point of the empty log at AT durable: a crash at any step recovers an
 * empty log (at the old end, or at AT). The next append creates the first
 * segment at AT. Returns 0, CK_E_INVALID (AT < 0), or an error (the
 * store has failed when files were touched).
 */
int wal_store_start_over(wal_store_t *s, int64_t at, wal_store_ckpt_fn save, void *arg);

/* Deletes the closed segments retention chooses at NOW_MS, none with
 * records at or above HW (the log's high watermark, -1 = unknown: no
 * bound; see wal_retention_count). Returns how many, or -errno. */
int wal_store_retention(wal_store_t *s, int64_t now_ms, int64_t hw);
/* How many closed segments retention would delete at NOW_MS without the
 * bound of a high watermark (cheap: whether looking HW up is worth it). */
size_t wal_store_retention_due(const wal_store_t *s, int64_t now_ms);
/* Whether retention empties the log at NOW_MS (wal_retention_empties),
 * HW its high watermark, -1 unknown; with CHECK_HW false, HW is not
 * looked at (whether looking it up is worth it). */
bool wal_store_retention_empties(const wal_store_t *s, int64_t now_ms, int64_t hw, bool check_hw);

/* Removes the whole log directory (renamed away first, so a crash leaves
 * either the log or nothing). S is freed either way. Returns 0 or -errno. */
int wal_store_delete(wal_store_t *s);

/*
 * Deletes the N logs of STORES together: each directory is renamed to
 * "<dir>.deleted", <data_dir>/log is fsync'd once (from here on every log
 * is gone even after a crash; start-up removes leftovers), then their files
 * are removed and the parent fsync'd once more. ERRS[i] gets 0 or the
 * -errno of log i (its files may stay behind). Every store is freed.
 */
void wal_store_delete_group(wal_store_t **stores, size_t n, int *errs);

/*
 * Replaces the settings of S: REQ (as asked, 0 = node default) goes to the
 * settings file atomically (temp file, fsync, rename, directory fsync),
 * then CFG (resolved) applies to every later decision (roll, index
 * cadence, retention). Returns 0 or -errno (the settings stay as they were).
 */
int wal_store_configure(wal_store_t *s, const wal_log_cfg_t *req, const wal_log_cfg_t *cfg);

/* Zero-fills up to CHUNK bytes ahead of the write position (fdatasync'd).
 * Returns 1 when it did work, 0 when the tail is long enough, or -errno;
 * after a failure the store wants no zero fill until the log has grown by
 * the tail's length (or a new segment started), then tries again. */
int wal_store_prealloc_step(wal_store_t *s, size_t chunk);
bool wal_store_prealloc_wanted(const wal_store_t *s);

/*
 * The recovery point: returns true and *RET when it moved since the last
 * wal_store_ckpt_taken(). Before writing it, call wal_store_index_sync() so
 * the index entries it counts are durable.
 */
bool wal_store_ckpt(const wal_store_t *s, wal_ckpt_t *ret);
int wal_store_index_sync(wal_store_t *s);
void wal_store_ckpt_taken(wal_store_t *s, const wal_ckpt_t *c);
/* The caller's mark that the store is on its list of checkpoint
 * candidates: mark returns false when it already was. */
bool wal_store_ckpt_mark(wal_store_t *s);
void wal_store_ckpt_unmark(wal_store_t *s);

/* The owner's cookie (the event loop's log), carried for results. */
void wal_store_set_owner(wal_store_t *s, void *owner);
void *wal_store_owner(const wal_store_t *s);
const char *wal_store_topic(const wal_store_t *s);
int32_t wal_store_partition(const wal_store_t *s);
/* The incarnation the log was created for (set at creation, never
 * changed; read back by recovery). */
const wal_topic_id_t *wal_store_topic_id(const wal_store_t *s);

/* Name of the per-log settings file inside the log directory: every log
 * has one (also of node defaults); a missing or unreadable one means the
 * settings were lost (wal_recover.c). */
#define WAL_STORE_CONFIG_FILE "log.config"

/* Name of the topic id file inside the log directory (wal_topic_id_encode,
 * WAL_TOPIC_ID_FILE_LEN bytes): written once, with the directory, for a log
 * created with a known topic id; missing means unknown (a log created
 * before ids, or without one). */
#define WAL_STORE_TOPIC_ID_FILE "topic.id"

/* Name of the log start file inside the log directory (wal_log_start_encode,
 * WAL_LOG_START_FILE_LEN bytes): the start a DeleteRecords (or a start
 * over) moved it to, as Kafka's log-start-offset-checkpoint, so that the
 * start survives the loss of the recovery points in LMDB (a metadata
 * environment rebuilt after a crash of the machine). Missing: the start is
 * the first segment's base, or the recovery point's. */
#define WAL_STORE_LOG_START_FILE "log.start"

#endif
