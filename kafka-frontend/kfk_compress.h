/*
 * kfk_compress.h: compression of a batch's records with one of Kafka's
 * codecs, for the batches the broker builds itself: a v0/v1 message set
 * compressed by an old producer is converted to a v2 batch compressed with
 * the same codec (kfk_legacy.h), as Kafka keeps the producer's codec; and a
 * topic whose compression.type names a codec stores every batch with it,
 * recompressing those the producer compressed otherwise, as Kafka's log
 * validator does.
 *
 * Owned by kafka-frontend (pure: computation and memory only). Output is
 * what Kafka's clients read: 1 gzip (a gzip stream), 2 snappy (xerial's
 * framing, as Kafka's Java clients write it, in blocks of 32 KiB), 3 lz4
 * (one LZ4 frame), 4 zstd (one zstd frame, level 3). kfk_decompress() reads
 * them all back.
 * Not for: decompression (kfk_decompress.h), validating batches
 * (kfk_produce_core.h).
 */
#ifndef KFK_COMPRESS_H
#define KFK_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"

/*
 * Appends the LEN bytes at IN compressed with CODEC (1-4) to OUT. Returns
 * 0; CK_E_INVALID for another codec; -ENOMEM or CK_E_TOO_LARGE (LEN past
 * what the codec takes at once). On failure OUT's length is as before.
 */
int kfk_compress(int codec, const uint8_t *in, size_t len, ck_buf_t *out);

/*
 * The v2 batches filling the LEN bytes at IN (already validated, e.g. by
 * kfk_produce_records_check), each stored with CODEC (0 none, 1-4): a batch
 * of another codec has its records decompressed (at most
 * KFK_DECOMPRESS_MAX bytes) and compressed with CODEC, its attributes'
 * codec bits, batchLength and CRC rewritten, every other field kept
 * (offsets, timestamps, producer id, epoch and sequence). Returns 1 with
 * every batch appended to OUT when some batch changed; 0 with OUT as
 * before when all were of CODEC already; CK_E_INVALID for a codec out of
 * range, CK_E_CORRUPT for bytes that are not whole batches or records that
 * do not decompress, CK_E_TOO_LARGE, -ENOMEM (OUT as before).
 */
int kfk_batches_recompress(const uint8_t *in, size_t len, int codec, ck_buf_t *out);

#endif
