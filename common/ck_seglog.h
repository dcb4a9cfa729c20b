/*
 * ck_seglog.h: record batches and leader epochs read from a partition's
 * segment files by path: the replicator's reads for a follower's fetch and
 * its divergence check (KIP-101), kafka-frontend's OffsetForLeaderEpoch
 * (KIP-320).
 *
 * Owned by common. walwriter is the only writer; these read what it has
 * written (its LogEvents say how far), through ck_segment; each call lists
 * and opens the files it needs and closes them. Epochs never decrease
 * along a log (a leader stamps its own; a follower keeps the leader's and
 * truncates what diverges), so the end of an epoch is found by a binary
 * search over offsets, a few batch headers read, no epoch cache.
 * Not for: when to read (the callers).
 */
#ifndef CK_SEGLOG_H
#define CK_SEGLOG_H

#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"

/*
 * Appends to OUT the whole batches of TOPIC-PARTITION (under DATA_DIR) from
 * the one holding OFFSET, leaving out those whose last offset is at or past
 * END, at most MAX_BYTES but at least one batch, all from one segment (the
 * next read goes on from where this one stopped). Returns the number of
 * bytes appended (0: no batch from OFFSET below END), or CK_E_CORRUPT,
 * CK_E_INVALID or -errno.
 */
int64_t ck_seglog_read(const char *data_dir, const char *topic, int32_t partition, int64_t offset,
                      int64_t end, size_t max_bytes, ck_buf_t *out);

/*
 * The batch holding OFFSET, or the first one after it: 1 with its leader
 * epoch, base offset and last offset, 0 when there is none, or an error.
 */
int ck_seglog_batch_at(const char *data_dir, const char *topic, int32_t partition, int64_t offset,
                      int32_t *ret_epoch, int64_t *ret_base, int64_t *ret_last);

/*
 * Where EPOCH ends in the log's offsets [START, END): the base offset of the
 * first batch whose epoch is greater, or END when there is none. Returns 0
 * and *RET, or an error.
 */
int ck_seglog_epoch_end(const char *data_dir, const char *topic, int32_t partition, int64_t start,
                       int64_t end, int32_t epoch, int64_t *ret);

#endif
