/*
 * kfk_produce_core.h: the decisions of a Produce request: which record
 * sets are acceptable and with which error, and when an acknowledgement may
 * be sent for each acks mode.
 *
 * Owned by kafka-frontend (pure). The shell (kfk_h_produce.c) asks these
 * questions and does the I/O (walwriter appends, high-watermark waits).
 *   acks=0:  no response at all (not even an error);
 *   acks=1:  answered after the leader's durable append (walwriter replies
 *            after fdatasync);
 *   acks=-1: answered once the high watermark covers the batch's last
 *            offset; refused up front with NOT_ENOUGH_REPLICAS when the ISR
 *            is smaller than min.insync.replicas.
 * Not for: I/O, timers.
 */
#ifndef KFK_PRODUCE_CORE_H
#define KFK_PRODUCE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	KFK_ACKS_NONE = 0,
	KFK_ACKS_LEADER = 1,
	KFK_ACKS_ALL = -1,
} kfk_acks_t;

/* What a valid record set holds. */
typedef struct {
	int32_t batches;
	int64_t records;
	int64_t offsets; /* offsets it will take: sum of lastOffsetDelta + 1 */
	bool compressed; /* some batch is compressed */
	bool zstd;       /* some batch is compressed with zstd */
	bool null_key;   /* some record has a null key */
	/* The lowest and highest record timestamps, -1 (none) left out;
	 * INT64_MAX and INT64_MIN when no record has one. */
	int64_t min_ts, max_ts;
} kfk_records_info_t;

/* KFK_ERR_NONE for acks 0, 1, -1, else KFK_ERR_INVALID_REQUIRED_ACKS. */
int16_t kfk_produce_acks_check(int16_t acks);

/*
 * Validates the record set of one partition (LEN bytes at P; LEN -1 =
 * null) the way Kafka's log validator does for produce v3+: at least one
 * batch; each of magic 2 (else INVALID_RECORD), whole and with a good CRC
 * (else CORRUPT_MESSAGE), at most MAX_MESSAGE_BYTES in total
 * (MESSAGE_TOO_LARGE), not a control batch, not transactional
 * (TRANSACTIONAL_ID_AUTHORIZATION_FAILED: transactions are not served),
 * with recordsCount equal to lastOffsetDelta + 1 (INVALID_RECORD); then
 * every record is parsed (offset deltas 0..n-1 in order, else
 * INVALID_RECORD; unparsable: CORRUPT_MESSAGE), those of a compressed
 * batch once decompressed
 * (kfk_decompress.h: not a valid stream of its codec is CORRUPT_MESSAGE,
 * more than KFK_DECOMPRESS_MAX bytes MESSAGE_TOO_LARGE). Batches are
 * stored as sent, compressed or not, unless the topic's compression.type
 * names a codec (kfk_compress.h). A decompression buffer is kept between
 * calls, one per thread: kfk_produce_scratch_free() gives the calling
 * thread's back (before a thread ends).
 * Returns the Kafka error; *RET_REASON (may be NULL) names the failed check;
 * *RET_INFO is filled on success.
 */
int16_t kfk_produce_records_check(const uint8_t *p, int32_t len, size_t max_message_bytes,
                                  kfk_records_info_t *ret_info, const char **ret_reason);
void kfk_produce_scratch_free(void);

/*
 * Kafka's CreateTime bounds: INVALID_TIMESTAMP when a timestamp of INFO
 * lies more than BEFORE_MAX ms before NOW_MS or more than AFTER_MAX ms after
 * it (both >= 0; INT64_MAX = unbounded), else NONE.
 */
int16_t kfk_produce_ts_check(const kfk_records_info_t *info, int64_t now_ms, int64_t before_max,
                             int64_t after_max);

/* NOT_ENOUGH_REPLICAS when ACKS is all and ISR_SIZE < MIN_ISR, else NONE. */
int16_t kfk_produce_isr_check(int16_t acks, int32_t isr_size, int32_t min_isr);

/* The answer to an acks=all append once the high watermark covers it, as
 * Kafka's checkEnoughReplicasReachOffset: NOT_ENOUGH_REPLICAS_AFTER_APPEND
 * when the ISR shrank below MIN_ISR meanwhile (the high watermark may have
 * moved because a follower left the ISR: the records are on fewer replicas
 * than min.insync.replicas asks for), else NONE. ISR_SIZE 0: not known yet,
 * NONE. */
int16_t kfk_produce_after_append(int32_t isr_size, int32_t min_isr);

/* Whether a partition whose append ended at LAST_OFFSET may be
 * acknowledged under ACKS given the high watermark HW (exclusive: the
 * offset of the first record not yet committed) and ISR_SIZE members in
 * the ISR. acks=all needs HW past the append. acks=1 too while the leader
 * is alone in the ISR: Kafka moves the high watermark before it answers
 * then, so a ListOffsets or Fetch sent after the answer sees the records
 * (here the high watermark is the replicator's, one hop later); with
 * followers in the ISR Kafka answers before they fetch, and so does this. */
static inline bool kfk_produce_covered(int16_t acks, int64_t last_offset, int64_t hw,
                                       int32_t isr_size)
{
	if (acks == KFK_ACKS_ALL)
		return hw > last_offset;
	return acks != KFK_ACKS_LEADER || isr_size > 1 || hw > last_offset;
}

#endif
