/*
 * raftd_snap.h: metadata snapshots of chronik-raftd: compacted copies of
 * the LMDB `meta` environment at its applied_index, kept under
 * <data_dir>/raft/, sent to lagging or wiped followers and installed there.
 *
 * Files:
 *   raft/snap-<index, 20 digits>.mdb  a snapshot: an LMDB data file
 *       (mdb_env_copyfd2 with MDB_CP_COMPACT, fsynced) whose "state"
 *       database holds applied_index = index. Only the newest is kept.
 *   raft/snap-rx.tmp  a snapshot being received (chunks in order).
 *   raft/snapshot     the snapshot record (44 bytes, little-endian): magic
 *       "CKRAFTSN", version u32 (1), index u64, term u64, compact u64,
 *       flags u32 (bit 0: pending install), CRC32C u32 of the first 40
 *       bytes; written to a temporary file, fsynced, renamed, directory
 *       fsynced.
 * `compact` is where the metadata log is compacted: entries up to it are
 * no longer read (walwriter has no request to delete a log prefix yet, so
 * their bytes stay on disk; see raftd_store.h).
 *
 * Installing (raftd_snap_install): the `meta` environment stays open in
 * every process of the node (readers hold it read-only), so it is never
 * swapped as a file. Instead one write transaction empties raftd's
 * databases ("state", "topics", "partitions", "brokers", "groups") and
 * copies the snapshot's records into them (a database the snapshot lacks
 * stays empty); the "offsets" checkpoints of walwriter and
 * replicator are node-local and left alone. A reader sees the old state or
 * the new one, never a mix. The environment is synced right after (it runs
 * with MDB_NOMETASYNC), before the snapshot record drops its pending flag.
 *
 * Owned by raftd. Blocking file and LMDB work, on the loop thread: a
 * metadata snapshot is a few MB. Not for: transfers over the network and
 * the Raft side (raftd_node_snap.c), the log (raftd_store.c).
 */
#ifndef RAFTD_SNAP_H
#define RAFTD_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_meta.h"
#include "raftnet.pb-c.h"

typedef struct {
	uint64_t index;   /* newest snapshot: the last index it covers (0: none) */
	uint64_t term;    /* term of that entry */
	uint64_t compact; /* the log is compacted up to here */
	bool pending;     /* received and recorded, not yet installed into LMDB */
} raftd_snap_meta_t;

/* Loads the snapshot record. Returns 1 and *RET, 0 when there is none
 * (*RET zeroed), CK_E_CORRUPT, or -errno. */
int raftd_snap_meta_load(const char *data_dir, raftd_snap_meta_t *ret);
/* Saves M durably. Returns 0 or -errno. */
int raftd_snap_meta_save(const char *data_dir, const raftd_snap_meta_t *m);

/* The path of snapshot INDEX. Returns 0 or -ENAMETOOLONG. */
int raftd_snap_path(char *buf, size_t len, const char *data_dir, uint64_t index);

/*
 * raftd's LMDB handle writes its pages in the map (MDB_WRITEMAP), and the
 * map's file is sparse: on a full file system a store into a page without
 * a disk block behind it is SIGBUS (it killed raftd mid-round once metadata
 * writes had used the reserve walwriter keeps free). So blocks are taken
 * ahead with fallocate, which fails cleanly with ENOSPC: the write is not
 * made, raftd stops with an error and is restarted, and catches up once
 * there is room again. raftd_meta_reserve takes blocks for ENV's pages in
 * use, EXTRA bytes more (what the write may add: a snapshot's size for its
 * install) and RAFTD_META_AHEAD_BYTES, twice that ahead so that the call is
 * rare; *ALLOC (may be NULL) remembers how far the file is taken
 * (UINT64_MAX: the file system cannot, writes go on as before). Returns 0
 * or -errno (logged).
 */
#define RAFTD_META_AHEAD_BYTES ((uint64_t)8 << 20)
int raftd_meta_reserve(MDB_env *env, uint64_t extra, uint64_t *alloc);

/*
 * A snapshot in two steps, so that the copy can be made while META moves
 * on (raftd's snapshot thread): raftd_snap_copy writes a compacted copy of
 * META to raft/snap-make.tmp, fsynced, and returns the applied_index it
 * holds in *RET_INDEX (and its size in *RET_BYTES, may be NULL);
 * raftd_snap_publish renames it to raft/snap-INDEX.mdb, durably;
 * raftd_snap_copy_drop removes it. Return 0, -errno, CK_E_CORRUPT or an MDB
 * error.
 */
int raftd_snap_copy(ck_meta_t *meta, const char *data_dir, uint64_t *ret_index,
                    uint64_t *ret_bytes);
int raftd_snap_publish(const char *data_dir, uint64_t index);
void raftd_snap_copy_drop(const char *data_dir);

/*
 * How many applied entries apart snapshots are taken: ENTRIES ([metadata]
 * snapshot_entries); once the last snapshot is LAST_BYTES >=
 * RAFTD_SNAP_SCALE_BYTES, one entry per RAFTD_SNAP_BYTES_PER_ENTRY bytes of
 * it when that is more. The log between two snapshots then holds about one
 * snapshot's worth of bytes, so a large state is not copied (and fsynced)
 * again every ENTRIES writes.
 */
#define RAFTD_SNAP_SCALE_BYTES     ((uint64_t)16 << 20)
#define RAFTD_SNAP_BYTES_PER_ENTRY 128
uint64_t raftd_snap_interval(uint64_t entries, uint64_t last_bytes);

/*
 * The applied index at which node NODE_ID takes its next snapshot, the
 * last one (or the last try) being at FLOOR and INTERVAL entries apart.
 * The nodes of a cluster apply the same entries: with one rule they would
 * all copy (and fsync) their state at the same index and slow down
 * together, the leader with the followers it needs. So each node's
 * snapshots fall at its own phase of the interval, a quarter of it per
 * node id (1: 0, 2: 1/4, 3: 1/2, 4: 3/4, 5: 0 again): the first index at
 * least INTERVAL / 2 past FLOOR that is PHASE modulo INTERVAL.
 */
uint64_t raftd_snap_due(uint64_t floor, uint64_t interval, int32_t node_id);

/* Opens the snapshot file PATH read-only and reads its applied_index.
 * Returns 0 and *RET_APPLIED, or CK_E_CORRUPT (not an LMDB file with an
 * applied index), -errno. */
int raftd_snap_check(const char *path, uint64_t *ret_applied);

/* Replaces raftd's databases in META by those of the snapshot file PATH
 * in one write transaction and syncs the environment (see the file
 * comment). Returns 0, CK_E_CORRUPT, -errno or an MDB error (nothing
 * changed then). */
int raftd_snap_install(ck_meta_t *meta, const char *path);

/* Removes every raft/snap-*.mdb but the one of KEEP (0: all). Open file
 * descriptors keep a removed file readable (a transfer under way). */
void raftd_snap_prune(const char *data_dir, uint64_t keep);

/* A snapshot being received. */
typedef struct {
	int fd; /* -1: none */
	uint64_t index;
	uint64_t term;
	uint64_t total;
	uint64_t written;
	uint32_t crc;
	bool complete; /* checked and renamed to raft/snap-<index>.mdb */
} raftd_snap_rx_t;

void raftd_snap_rx_init(raftd_snap_rx_t *rx);
/* Drops a transfer in progress (and its file). */
void raftd_snap_rx_reset(raftd_snap_rx_t *rx, const char *data_dir);
/*
 * Takes chunk C. A chunk at offset 0 starts a new transfer (dropping an
 * older one). Returns 0 (more to come), 1 when C completed the file and it
 * checked out (size, CRC32C, an LMDB file whose applied_index is the
 * snapshot's index): rx->complete, the file is raft/snap-<index>.mdb; or
 * CK_E_OUT_OF_ORDER (a chunk that does not continue the transfer: ignored),
 * CK_E_CORRUPT (the file failed a check: dropped), -errno (dropped).
 */
int raftd_snap_rx_chunk(raftd_snap_rx_t *rx, const char *data_dir,
                        const Chronik__Raftnet__SnapshotChunk *c);

#endif
