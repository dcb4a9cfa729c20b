/*
 * kfk_epoch_core.h: the answer of OffsetForLeaderEpoch (KIP-101, KIP-320)
 * on a partition's leader: for a leader epoch a consumer (or a tool) last
 * saw, the largest epoch at most it that the log holds and the offset where
 * that epoch ends, which is where the next greater epoch starts.
 *
 * Owned by kafka-frontend (pure). Kafka's leader-epoch cache rules, on a
 * log whose batches carry their leader's epoch (epochs never decrease along
 * a log, so the shell finds where one ends with a binary search):
 *   - an undefined epoch (-1), or one newer than the leader's current
 *     epoch: epoch -1, end offset -1;
 *   - the current epoch: the current epoch and the log end offset;
 *   - an older one: the end is the base offset of the first batch with a
 *     greater epoch (the log end when there is none), never below the log
 *     start; the epoch is that of the batch just before the end, or the
 *     epoch asked when no batch of the log precedes the end.
 * A consumer compares the end with its position and detects a truncation
 * only when the end is below it: an answer may be too large, never too
 * small.
 * Not for: reading the log, leadership and epoch fencing checks
 * (kfk_h_offsets.c).
 */
#ifndef KFK_EPOCH_CORE_H
#define KFK_EPOCH_CORE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
	int32_t epoch;
	int64_t end_offset;
} kfk_epoch_end_t;

/*
 * The answer for REQUESTED when no log read is needed (undefined, newer or
 * current epoch; CURRENT is the leader's epoch, LEO its log end): true with
 * *RET. false when the shell must find where REQUESTED ends in the log.
 */
bool kfk_epoch_end_direct(int32_t requested, int32_t current, int64_t leo, kfk_epoch_end_t *ret);

/*
 * The answer for an older REQUESTED epoch from the search: END the base
 * offset of the first batch with a greater epoch (or the log end), and
 * PREV_EPOCH the epoch of the batch holding END - 1 (-1 when END is at or
 * below LOG_START, or unknown).
 */
void kfk_epoch_end_found(int32_t requested, int64_t log_start, int64_t end, int32_t prev_epoch,
                         kfk_epoch_end_t *ret);

#endif
