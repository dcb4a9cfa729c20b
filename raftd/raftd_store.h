/*
 * raftd_store.h: the Raft log of chronik-raftd, kept by walwriter as the
 * partition __chronik_metadata-0.
 *
 * Mapping: entry index = offset + 1, entry term = the batch's
 * partitionLeaderEpoch, entry data = the value of its record (one record
 * per entry; an empty value is the leader's no-op). Entries are written as
 * REPLICA appends carrying their own offsets and epochs, so walwriter checks
 * that each append continues the log exactly where raftd believes it ends:
 * nothing is ever written twice or at a shifted index.
 *
 * Life cycle: raftd_store_new(), then on every walwriter connect
 * raftd_store_wal_connected(). The first connect opens the log (creating it
 * when missing, retention off), scans its batch headers into an index ->
 * term table and reports on_loaded; after that the store serves the Raft
 * core (raftd_store_storage()) and appends one Ready's entries at a time.
 * When walwriter goes away during an append, the store asks the log's end
 * on reconnect and resends only what is missing, or waits until what is
 * there is durable. Recently appended entries stay in memory until
 * raftd_store_release(); older ones are read back from the segment files
 * (ck_segment, CRC checked).
 *
 * Snapshots and compaction (raftd_snap.h): entries up to the compaction
 * index are no longer read (the core gets CK_E_NOT_FOUND and sends the
 * newest snapshot instead). Once a snapshot is recorded and the log is
 * loaded, the store asks walwriter (DeleteRecords, in the background) to
 * drop the offsets below the entry at the compaction index, whose term is
 * still needed; a failure is logged and retried with the next snapshot.
 * Loading accepts a log whose start offset is above 0 as long as the
 * snapshot covers what is gone. Installing a received snapshot at index
 * S with term T cuts the log after min(last, S - 1) and covers the offsets
 * from there to S - 1 with ONE batch of term T that holds a single empty
 * record but claims every offset up to S - 1 (lastOffsetDelta, as in a
 * compacted Kafka batch): the log then ends at S with the snapshot's term,
 * and the next entry lands at S + 1 where Raft expects it.
 *
 * Owned by raftd; for its libevent thread only.
 * Not for: the hard state (raftd_hs.c), applying entries (raftd_apply.c).
 */
#ifndef RAFTD_STORE_H
#define RAFTD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft_core.h"
#include "raftd_wal.h"

struct event_base;

#define RAFTD_LOG_PARTITION 0

typedef struct raftd_store raftd_store_t;

typedef struct {
	/* The log is loaded (ERR 0) or cannot be (ERR < 0: fatal). Once. */
	void (*on_loaded)(void *arg, int err);
	/* The pending append is durable (ERR 0), or failed for good (fatal:
	 * the log does not hold what raftd wrote, or walwriter rejects it). */
	void (*on_appended)(void *arg, int err);
} raftd_store_hooks_t;

/* Returns 0 and *RET, or -ENOMEM / -ENAMETOOLONG. DATA_DIR is copied. */
int raftd_store_new(raftd_store_t **ret, struct event_base *base, const char *data_dir,
                    raftd_wal_t *wal, const raftd_store_hooks_t *h, void *arg);
void raftd_store_free(raftd_store_t *s);

/* walwriter (re)connected / went away: the owner forwards raftd_wal's
 * callbacks here. */
void raftd_store_wal_connected(raftd_store_t *s);
void raftd_store_wal_lost(raftd_store_t *s);

bool raftd_store_loaded(const raftd_store_t *s);
/* The core's view of the storage (valid while S lives). */
void raftd_store_storage(raftd_store_t *s, raft_storage_t *ret);
/* The last durable index. */
uint64_t raftd_store_last_index(const raftd_store_t *s);

/*
 * Makes the N entries ENTS durable, first dropping the log's entries from
 * ents[0].index on when there are any (a Ready's entries). The data is
 * copied. on_appended reports the outcome; one append at a time.
 * Returns 0, CK_E_AGAIN (an append is pending or the log is not loaded),
 * CK_E_INVALID (entries not contiguous, not after the log's start, a term
 * going back or over INT32_MAX) or -ENOMEM.
 */
int raftd_store_append(raftd_store_t *s, const raft_entry_t *ents, size_t n);
bool raftd_store_appending(const raftd_store_t *s);

/* Entries up to INDEX are applied: their memory copies may go. */
void raftd_store_release(raftd_store_t *s, uint64_t index);

/*
 * The newest snapshot (INDEX, TERM) and the compaction index COMPACT
 * (<= INDEX; it only grows). Before the log is loaded, a snapshot with
 * COMPACT == INDEX > 0 counts as installed: loading makes the log end at
 * it if a crash came first.
 */
void raftd_store_set_snapshot(raftd_store_t *s, uint64_t index, uint64_t term, uint64_t compact);
/* Whether the core asked for a snapshot when there was none (make one). */
bool raftd_store_snapshot_wanted(const raftd_store_t *s);
uint64_t raftd_store_compact_index(const raftd_store_t *s);
/* The term of INDEX as the core sees it (0 or CK_E_NOT_FOUND /
 * CK_E_OFFSET_RANGE). */
int raftd_store_term(raftd_store_t *s, uint64_t index, uint64_t *ret_term);

/*
 * Installs the received snapshot (INDEX >= 1, TERM) in the log as the file
 * comment says, then appends the N entries ENTS (from INDEX + 1, may be 0):
 * one operation, reported through on_appended like an append. Compaction
 * and the newest snapshot become INDEX. Returns 0, CK_E_AGAIN (an append
 * is pending, or not loaded), CK_E_INVALID, -ENOMEM.
 */
int raftd_store_install(raftd_store_t *s, uint64_t index, uint64_t term, const raft_entry_t *ents,
                        size_t n);

/*
 * Reads entries LO .. HI-1 as raft_storage_t.entries does (exposed for
 * tests): from memory when cached, else from the segment files.
 */
int raftd_store_entries(raftd_store_t *s, uint64_t lo, uint64_t hi, raft_entry_t *ret_ents,
                        uint8_t *buf, size_t buf_cap);

#endif
