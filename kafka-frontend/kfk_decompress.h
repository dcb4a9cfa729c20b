/*
 * kfk_decompress.h: the records of a compressed RecordBatch, decompressed,
 * so that produce validates them as Kafka's log validator does (each record
 * parsed: counts and offset deltas, keys for compacted topics, timestamps)
 * instead of storing bytes no consumer could read.
 *
 * Owned by kafka-frontend (pure: computation and memory only). Codecs as
 * Kafka numbers them: 1 gzip (zlib; a gzip or zlib stream, several gzip
 * members in a row accepted), 2 snappy (Kafka's Java clients frame it as
 * xerial's SnappyOutputStream does: an 8-byte magic, two version words,
 * then length-prefixed blocks; librdkafka may send one raw block), 3 lz4
 * (LZ4 frames), 4 zstd (zstd frames). Output is bounded: a batch whose
 * records decompress to more than the limit is refused, so a small hostile
 * batch cannot make the broker allocate without bound.
 * Not for: compressing (kfk_compress.h), deciding what a batch may hold
 * (kfk_produce_core.c).
 */
#ifndef KFK_DECOMPRESS_H
#define KFK_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"

/* The most bytes one batch's records may decompress to. */
#define KFK_DECOMPRESS_MAX ((size_t)64 << 20)

/*
 * Appends to OUT the LEN bytes at IN decompressed with CODEC (1-4), at most
 * MAX bytes. Returns 0; CK_E_CORRUPT when IN is not a whole, valid stream
 * of CODEC (or CODEC is not one of them); CK_E_TOO_LARGE past MAX; -ENOMEM.
 * On failure OUT's length is as before.
 */
int kfk_decompress(int codec, const uint8_t *in, size_t len, size_t max, ck_buf_t *out);

#endif
