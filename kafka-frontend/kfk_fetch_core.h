/*
 * kfk_fetch_core.h: Fetch response sizing and a piecewise encoder for
 * Fetch responses whose record bytes are sent with sendfile.
 *
 * Owned by kafka-frontend (pure). A Fetch response goes out as encoded
 * bytes, then the records of a partition straight from its segment file,
 * then more encoded bytes, and so on. The generated codec encodes whole
 * messages only, so this file writes the Fetch response (versions 0-12)
 * itself with the same wire rules: kfk_fw_partition() writes everything of
 * a partition up to and including the records length, the caller then
 * appends (or sends from a file) exactly that many record bytes, and
 * kfk_fw_partition_end() closes the partition. The unit tests check the
 * result byte for byte against the generated encoder.
 *
 * Sizing (KIP-74): the response holds at most max_bytes of records and each
 * partition at most its partition_max_bytes, in whole batches, except that
 * the first batch of the first partition with data is returned whole even
 * when larger, so a consumer can always make progress.
 * Where a consumer's fetch offset stands (kfk_fetch_at): records below the
 * high watermark, nothing (no error) up to the log end offset,
 * OFFSET_OUT_OF_RANGE below the log start or past the log end.
 * Not for: reading files, waiting (kfk_h_fetch.c).
 */
#ifndef KFK_FETCH_CORE_H
#define KFK_FETCH_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"
#include "kfk_types.h"

#define KFK_FETCH_VERSION_MIN 0
#define KFK_FETCH_VERSION_MAX 12

typedef struct {
	ck_buf_t *out;
	int16_t version;
	bool flex;
	/* isolation_level 1 (set after kfk_fw_begin): aborted_transactions is
	 * an empty array, as Kafka answers READ_COMMITTED; else null. */
	bool read_committed;
	int err; /* sticky: -ENOMEM or CK_E_INVALID */
} kfk_fw_t;

/* One partition's fields (records follow separately). */
typedef struct {
	int32_t partition_index;
	int16_t error_code;
	int64_t high_watermark;
	int64_t last_stable_offset;
	int64_t log_start_offset;
	int32_t preferred_read_replica; /* -1 */
} kfk_fw_part_t;

/* Starts a response body (no header) in OUT for VERSION (0..12): the top
 * level fields and the topic count. Returns 0 or CK_E_INVALID (version). */
int kfk_fw_begin(kfk_fw_t *w, ck_buf_t *out, int16_t version, int32_t throttle_time_ms,
                 int16_t error_code, int32_t session_id, int32_t topic_count);
void kfk_fw_topic(kfk_fw_t *w, kfk_str_t name, int32_t partition_count);
/* Writes P's fields, no aborted transactions, and the length of RECORDS_LEN
 * record bytes (RECORDS_LEN < 0: null records). The caller supplies exactly
 * RECORDS_LEN bytes next, then calls kfk_fw_partition_end(). */
void kfk_fw_partition(kfk_fw_t *w, const kfk_fw_part_t *p, int64_t records_len);
void kfk_fw_partition_end(kfk_fw_t *w);
void kfk_fw_topic_end(kfk_fw_t *w);
/* Ends the body. Returns 0 or the sticky error. */
int kfk_fw_end(kfk_fw_t *w);

/* The record budget of the next partition: what is left of the response's
 * max_bytes, capped at its partition_max_bytes (0 when either is used up
 * or not positive). */
uint64_t kfk_fetch_part_limit(int64_t total_left, int32_t partition_max_bytes);

/*
 * Whether to send a range of whole batches (LENGTH bytes, BATCHES batches)
 * that a segment reader cut at LIMIT bytes (it returns at least one batch,
 * so a single batch may exceed LIMIT). FIRST: no partition of this response
 * has records yet. A range within LIMIT is always taken; an oversized
 * single batch only when FIRST.
 */
bool kfk_fetch_range_take(uint64_t length, uint32_t batches, uint64_t limit, bool first);

/* Where a consumer's Fetch offset stands in a partition (Kafka's
 * Partition.fetchRecords for replica id -1). */
typedef enum {
	KFK_FETCH_AT_READ,         /* in [log start, HW): records to read */
	KFK_FETCH_AT_EMPTY,        /* in [HW, LEO]: nothing committed yet, no error */
	KFK_FETCH_AT_OUT_OF_RANGE, /* below the log start or past the LEO */
	KFK_FETCH_AT_PAST_SEEN,    /* past the log end seen: ask the log (below) */
} kfk_fetch_at_t;

/*
 * Where OFFSET stands in a partition whose log starts at LOG_START, with
 * high watermark HW and LEO_SEEN a log end offset the log is known to have
 * reached (the replicator's pushes name the log end of their last HW or log
 * start change, not of every append, so a leader whose followers lag is
 * often past it). Only an offset below the log start or past the log end
 * is OFFSET_OUT_OF_RANGE; one in [HW, LEO] reads nothing, without an error.
 * KFK_FETCH_AT_PAST_SEEN for an offset past max(LEO_SEEN, HW): the caller
 * finds whether the log's end reaches OFFSET and calls kfk_fetch_at_end().
 */
kfk_fetch_at_t kfk_fetch_at(int64_t offset, int64_t log_start, int64_t hw, int64_t leo_seen);

/* The answer for an offset past the log end seen: REACHED, the log holds
 * OFFSET - 1 or a later offset (OFFSET is at most its log end offset). */
static inline kfk_fetch_at_t kfk_fetch_at_end(bool reached)
{
	return reached ? KFK_FETCH_AT_EMPTY : KFK_FETCH_AT_OUT_OF_RANGE;
}

/* Whether a Fetch should be answered now: BYTES of records are ready, some
 * partition has an error, or the wait is over (EXPIRED). MIN_BYTES <= 0
 * answers at once. */
static inline bool kfk_fetch_ready(uint64_t bytes, int32_t min_bytes, bool any_error, bool expired)
{
	return expired || any_error || min_bytes <= 0 || bytes >= (uint64_t)min_bytes;
}

#endif
