/*
 * raftd_hs.h: the Raft hard state of chronik-raftd on disk,
 * <data_dir>/raft/hardstate, and the raft/ directory lock.
 *
 * File format (44 bytes, little-endian): magic "CKRAFTHS" (8), version u32
 * (1), term u64, vote u64, commit u64, reserved u32 (0), CRC32C u32 over
 * the preceding 40 bytes. Saved by writing raft/hardstate.tmp, fsync, rename, fsync of the
 * directory: a crash leaves the old or the new state, never a mix. Term
 * and vote must be durable before any message that depends on them leaves
 * the node; commit is advisory (it is recomputed from the log).
 * Owned by raftd. Not for: the log (raftd_store.c), LMDB.
 */
#ifndef RAFTD_HS_H
#define RAFTD_HS_H

#include <stdint.h>

#include "raft_core.h"

/* Creates <DATA_DIR>/raft when missing and takes an exclusive lock on
 * raft/lock (held until the process exits: two raftd on one data dir would
 * write one log). Returns 0 and *RET_FD, -EWOULDBLOCK when another process
 * holds it, or -errno. */
int raftd_hs_lock(const char *data_dir, int *ret_fd);

/* Loads the hard state. Returns 1 and *RET, 0 when there is none yet (a
 * fresh node), CK_E_CORRUPT (bad magic, version, size or CRC), or -errno. */
int raftd_hs_load(const char *data_dir, raft_hard_state_t *ret);

/* Saves HS durably. Returns 0 or -errno. */
int raftd_hs_save(const char *data_dir, const raft_hard_state_t *hs);

#endif
