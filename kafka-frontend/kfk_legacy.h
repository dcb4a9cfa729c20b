/*
 * kfk_legacy.h: Kafka's message formats v0 and v1 (the "message sets" of
 * Kafka before 0.11), converted to and from RecordBatch v2, so that clients
 * pinned to an old protocol version (kafka-python's api_version=(0, 10),
 * librdkafka's broker.version.fallback) can produce and consume.
 *
 * Owned by kafka-frontend (pure: computation and memory only). A message
 * set is a sequence of entries, all big-endian:
 *   offset i64, message_size i32, then the message: crc u32 (CRC-32, IEEE,
 *   over the rest of the message), magic i8 (0 or 1), attributes i8 (bits
 *   0-2 the codec, bit 3 LogAppendTime in v1), timestamp i64 (v1 only),
 *   key bytes (i32 length, -1 null), value bytes (i32 length, -1 null).
 * A compressed message carries, as its value, a whole inner message set
 * compressed with its codec (1 gzip, 2 snappy, 3 lz4; no nesting).
 * Produce v0-2 send message sets; the log holds only v2 batches, so they
 * are converted up on the way in (as Kafka's log validator does), and
 * Fetch v0-3 answers convert down (v0-1 get magic 0, v2-3 magic 1): record
 * headers, producer ids and control batches have no place there and are
 * left out.
 * Not for: v2 batches themselves (ck_batch.h), decompression
 * (kfk_decompress.h).
 */
#ifndef KFK_LEGACY_H
#define KFK_LEGACY_H

#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"

/* Offset + message_size before each message. */
#define KFK_LEGACY_LOG_OVERHEAD 12

/*
 * Whether the LEN bytes at P start with a v0/v1 message (the magic byte
 * sits where a v2 batch's does, at byte 16).
 */
int kfk_legacy_is(const uint8_t *p, size_t len);

/*
 * Appends to OUT one v2 batch (base offset 0, no producer) holding every
 * message of the LEN bytes of message set at IN, inner messages of
 * compressed ones included, with their keys, values and (v1) timestamps
 * (-1 in v0; a v1 wrapper stamped LogAppendTime gives its timestamp to its
 * inner messages). When every top-level message is a wrapper of one codec,
 * the batch is compressed with it (kfk_compress.h), as Kafka keeps the
 * producer's codec; else it is uncompressed. MAX bounds the uncompressed
 * records and the decompressed bytes of each wrapper, so that a small
 * hostile set cannot make the broker allocate without bound. Returns the number of records (> 0);
 * CK_E_CORRUPT for a set that is empty, cut short or not whole, a bad CRC or magic, an unknown
 * codec or a compressed message inside a compressed one (the Kafka errors: CORRUPT_MESSAGE);
 * CK_E_INVALID for an inner message whose magic is not its wrapper's
 * (INVALID_RECORD); CK_E_TOO_LARGE past MAX; -ENOMEM. On failure OUT's
 * length is as before.
 */
int kfk_legacy_to_batch(const uint8_t *in, size_t len, size_t max, ck_buf_t *out);

/*
 * Appends to OUT the records of the v2 batches in the LEN bytes at IN (as
 * read from a log: whole batches; a cut-off last one is left out) as a
 * message set of MAGIC (0 or 1), uncompressed, from offset FROM on. Stops
 * at a message boundary once MAX bytes or more were appended (at least one
 * message is), so that a batch compressed well cannot grow a response
 * without bound; the client fetches the rest from the next offset. Control
 * batches are skipped. Returns 0; CK_E_CORRUPT for a
 * batch that cannot be read (its messages are left out); CK_E_TOO_LARGE
 * for a compressed batch past KFK_DECOMPRESS_MAX; -ENOMEM.
 */
int kfk_legacy_from_batches(const uint8_t *in, size_t len, int magic, int64_t from, size_t max,
                            ck_buf_t *out);

#endif
