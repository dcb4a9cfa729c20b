/*
 * ck_batch.h: Kafka RecordBatch v2 (magic 2): parsing, validation, in-place
 * edits, a builder for uncompressed batches and a record iterator.
 *
 * Layout (all big-endian), offsets from the start of the batch:
 *   baseOffset i64 @0, batchLength i32 @8 (= total size - 12),
 *   partitionLeaderEpoch i32 @12, magic i8 @16 (= 2), crc u32 @17,
 *   attributes i16 @21, lastOffsetDelta i32 @23, baseTimestamp i64 @27,
 *   maxTimestamp i64 @35, producerId i64 @43, producerEpoch i16 @51,
 *   baseSequence i32 @53, recordsCount i32 @57, records @61.
 * The CRC32C covers the bytes from attributes (@21) to the end, so
 * baseOffset and partitionLeaderEpoch can be set without recomputing it.
 *
 * Records (uncompressed): length varint, attributes i8, timestampDelta
 * varlong, offsetDelta varint, keyLength varint (-1 = null), key,
 * valueLength varint (-1 = null), value, headerCount varint, then per header
 * keyLength varint, key, valueLength varint (-1 = null), value. Every varint
 * is zig-zag encoded.
 *
 * Pure code: no I/O, no clock, no logging. Every byte handed in is treated as
 * hostile: lengths and counts are checked against what remains. Shared by
 * walwriter (validation on append, recovery), readers, tests, the benchmark
 * and the broker's internal topics. Not here: compression, file access
 * (ck_segment.h).
 */
#ifndef CK_BATCH_H
#define CK_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"

#define CK_BATCH_MAGIC        2
#define CK_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */
#define CK_BATCH_HEADER_LEN   61 /* everything before the first record */
#define CK_BATCH_CRC_START    21 /* the CRC covers [21, end) */
/* The smallest legal batchLength: a header without records. */
#define CK_BATCH_LENGTH_MIN (CK_BATCH_HEADER_LEN - CK_BATCH_LOG_OVERHEAD)
/* The largest total size any function here accepts, whatever the caller's
 * limit (batchLength is an i32). */
#define CK_BATCH_TOTAL_MAX ((size_t)INT32_MAX)

enum {
	CK_BATCH_OFF_BASE_OFFSET = 0,
	CK_BATCH_OFF_LENGTH = 8,
	CK_BATCH_OFF_LEADER_EPOCH = 12,
	CK_BATCH_OFF_MAGIC = 16,
	CK_BATCH_OFF_CRC = 17,
	CK_BATCH_OFF_ATTRIBUTES = 21,
	CK_BATCH_OFF_LAST_OFFSET_DELTA = 23,
	CK_BATCH_OFF_BASE_TIMESTAMP = 27,
	CK_BATCH_OFF_MAX_TIMESTAMP = 35,
	CK_BATCH_OFF_PRODUCER_ID = 43,
	CK_BATCH_OFF_PRODUCER_EPOCH = 51,
	CK_BATCH_OFF_BASE_SEQUENCE = 53,
	CK_BATCH_OFF_RECORDS_COUNT = 57,
};

/* Attribute bits. */
#define CK_BATCH_ATTR_COMPRESSION_MASK 0x0007
#define CK_BATCH_ATTR_LOG_APPEND_TIME  0x0008
#define CK_BATCH_ATTR_TRANSACTIONAL    0x0010
#define CK_BATCH_ATTR_CONTROL          0x0020
#define CK_BATCH_ATTR_DELETE_HORIZON   0x0040

#define CK_BATCH_NO_PRODUCER_ID (-1)
#define CK_BATCH_NO_SEQUENCE    (-1)
#define CK_BATCH_NO_TIMESTAMP   (-1)

typedef struct {
	int64_t base_offset;
	int32_t batch_length;
	int32_t partition_leader_epoch;
	int8_t magic;
	uint32_t crc;
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t records_count;
} ck_batch_header_t;

/* Total size on disk / on the wire: batchLength + 12. */
static inline size_t ck_batch_total_len(const ck_batch_header_t *h)
{
	return (size_t)(uint32_t)h->batch_length + CK_BATCH_LOG_OVERHEAD;
}
static inline int64_t ck_batch_last_offset(const ck_batch_header_t *h)
{
	return h->base_offset + h->last_offset_delta;
}
/* The offset after the batch: where the next batch starts. */
static inline int64_t ck_batch_next_offset(const ck_batch_header_t *h)
{
	return h->base_offset + h->last_offset_delta + 1;
}

/*
 * Decodes the 61 header bytes at P without judging them.
 * Returns 0, or CK_E_CORRUPT when LEN < CK_BATCH_HEADER_LEN.
 */
int ck_batch_header_parse(const uint8_t *p, size_t len, ck_batch_header_t *ret);

/*
 * Reads the total size of the batch at P from its first 12 bytes.
 * MAX_BYTES caps the size (0 = CK_BATCH_TOTAL_MAX).
 * Returns 0 and *RET_TOTAL, or CK_E_CORRUPT (LEN < 12, or batchLength below
 * the 49-byte minimum), CK_E_TOO_LARGE (total > MAX_BYTES).
 */
int ck_batch_size_peek(const uint8_t *p, size_t len, size_t max_bytes, size_t *ret_total);

/*
 * Checks the fields of a parsed header that need no body: batchLength at
 * least the minimum (CK_E_CORRUPT) and at most MAX_BYTES (0 = no limit
 * beyond CK_BATCH_TOTAL_MAX; CK_E_TOO_LARGE), magic 2, lastOffsetDelta >= 0,
 * recordsCount >= 0, baseOffset >= 0 (CK_E_CORRUPT). Returns 0 or the code.
 */
int ck_batch_header_check(const ck_batch_header_t *h, size_t max_bytes);

/* CRC32C of a batch of TOTAL bytes at P (over [21, TOTAL)). TOTAL >= 61. */
uint32_t ck_batch_crc_compute(const uint8_t *p, size_t total);

/*
 * Fully validates the batch at the start of P, of which LEN bytes are
 * available (more batches may follow). Checks the header (as
 * ck_batch_header_check), that the whole batch is within LEN, and the CRC.
 * MAX_BYTES as above. Returns the batch's total size (> 0) and fills *RET_HDR
 * (may be NULL), or CK_E_CORRUPT (short, truncated, bad magic, CRC, deltas),
 * CK_E_TOO_LARGE. Nothing is written on failure.
 */
int ck_batch_validate(const uint8_t *p, size_t len, size_t max_bytes, ck_batch_header_t *ret_hdr);

/*
 * Validates a concatenation of batches filling exactly LEN bytes at P
 * (at least one). Returns the number of batches, or the first batch's error;
 * an incomplete last batch is CK_E_CORRUPT. *RET_RECORDS (may be NULL) gets
 * the sum of recordsCount.
 */
int ck_batch_set_validate(const uint8_t *p, size_t len, size_t max_bytes, int64_t *ret_records);

/* In-place edits of fields outside the CRC. P holds at least 61 bytes. */
void ck_batch_base_offset_set(uint8_t *p, int64_t base_offset);
void ck_batch_leader_epoch_set(uint8_t *p, int32_t epoch);

/* Recomputes and stores the CRC of the TOTAL-byte batch at P. */
void ck_batch_crc_update(uint8_t *p, size_t total);

/*
 * Stamps LogAppendTime on the TOTAL-byte batch at P: sets the timestamp-type
 * attribute, baseTimestamp and maxTimestamp to TS_MS, and recomputes the CRC.
 * Record timestamps of such a batch read as maxTimestamp.
 */
void ck_batch_log_append_time_set(uint8_t *p, size_t total, int64_t ts_ms);

/*
 * Builder of uncompressed batches.
 *
 * A record header: KEY is KEY_LEN bytes (not NUL-terminated); VALUE NULL is a
 * null header value. The same struct is what ck_record_header_next() yields.
 */
typedef struct {
	const char *key;
	size_t key_len;
	const void *value;
	int32_t value_len;
} ck_record_header_t;

typedef struct {
	const void *key; /* NULL = null key */
	size_t key_len;
	const void *value; /* NULL = null value (a tombstone) */
	size_t value_len;
	int64_t timestamp_ms;
	const ck_record_header_t *headers;
	size_t header_count;
} ck_batch_record_t;

typedef struct {
	int64_t base_offset;
	int32_t partition_leader_epoch;
	int16_t attributes;  /* compression bits must be 0 */
	int64_t producer_id; /* CK_BATCH_NO_PRODUCER_ID for none */
	int16_t producer_epoch;
	int32_t base_sequence;
} ck_batch_opts_t;

/* baseOffset 0, epoch -1, no attributes, no producer. */
#define CK_BATCH_OPTS_INIT                                                                         \
	{                                                                                          \
		0, -1, 0, CK_BATCH_NO_PRODUCER_ID, -1, CK_BATCH_NO_SEQUENCE                        \
	}

typedef struct {
	ck_buf_t *out;
	size_t start; /* where the batch begins in OUT */
	ck_batch_opts_t opts;
	int32_t count;
	int64_t base_ts;
	int64_t max_ts;
	int err; /* sticky: the first failure */
} ck_batch_builder_t;

/*
 * Starts a batch at the end of OUT (which the builder appends to; OUT stays
 * owned by the caller). OPTS NULL = CK_BATCH_OPTS_INIT.
 * Returns 0, -ENOMEM, or CK_E_INVALID (compression bits set).
 */
int ck_batch_builder_begin(ck_batch_builder_t *b, ck_buf_t *out, const ck_batch_opts_t *opts);
/*
 * Appends one record (copied). The first record's timestamp becomes
 * baseTimestamp. Returns 0, -ENOMEM, CK_E_TOO_LARGE (the batch would exceed
 * an i32), CK_E_INVALID (a length does not fit). A failure is sticky.
 */
int ck_batch_builder_add(ck_batch_builder_t *b, const ck_batch_record_t *rec);
/*
 * Completes the header and the CRC. Returns 0 and *RET_LEN (may be NULL, the
 * batch's total size), CK_E_INVALID for a batch without records, or the
 * sticky error; on failure the partial batch is removed from OUT.
 */
int ck_batch_builder_finish(ck_batch_builder_t *b, size_t *ret_len);
/* Removes the partial batch from OUT. */
void ck_batch_builder_abort(ck_batch_builder_t *b);

/* Convenience: one batch holding N records. Returns as finish(). */
int ck_batch_build(ck_buf_t *out, const ck_batch_opts_t *opts, const ck_batch_record_t *recs,
                   size_t n, size_t *ret_len);

/*
 * Iterator over the records of one uncompressed batch.
 */
typedef struct {
	int64_t offset;
	int64_t timestamp_ms; /* maxTimestamp for LogAppendTime batches */
	uint8_t attributes;
	const uint8_t *key; /* NULL with key_len -1: null key */
	int32_t key_len;
	const uint8_t *value; /* NULL with value_len -1: null value */
	int32_t value_len;
	uint32_t header_count;
	ck_span_t headers; /* raw header bytes, for ck_record_header_next() */
} ck_record_t;

typedef struct {
	ck_batch_header_t hdr;
	ck_span_t rest;
	int32_t remaining;
} ck_record_iter_t;

/*
 * Starts iterating the batch at P, which must be exactly LEN bytes (one whole
 * batch; its CRC is not checked here: validate first when the bytes are not
 * trusted). Returns 0, CK_E_CORRUPT, or -ENOTSUP for a compressed batch.
 */
int ck_record_iter_init(ck_record_iter_t *it, const uint8_t *p, size_t len);
/*
 * Starts iterating the records of the batch with header HDR that are the
 * LEN bytes at RECORDS (a compressed batch's, decompressed by the caller).
 */
void ck_record_iter_init_records(ck_record_iter_t *it, const ck_batch_header_t *hdr,
                                 const uint8_t *records, size_t len);
/*
 * Returns 1 with *RET (pointers into the batch), 0 after the last record
 * (when the records filled the batch exactly), or CK_E_CORRUPT.
 */
int ck_record_iter_next(ck_record_iter_t *it, ck_record_t *ret);
/*
 * Takes the next header off HEADERS (a record's headers span). Returns 1 and
 * *RET, 0 when the span is empty, CK_E_CORRUPT.
 */
int ck_record_header_next(ck_span_t *headers, ck_record_header_t *ret);

#endif
