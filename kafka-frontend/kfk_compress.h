/*
 * kfk_compress.h: compression of a batch's records with one of Kafka's
 * codecs, for the batches the broker builds itself: a v0/v1 message set
 * compressed by an old producer is converted to a v2 batch compressed with
 * the same codec (kfk_legacy.h), as Kafka keeps the producer's codec.
 *
 * Owned by kafka-frontend (pure: computation and memory only). Output is
 * what Kafka's clients read: 1 gzip (a gzip stream), 2 snappy (xerial's
 * framing, as Kafka's Java clients write it, in blocks of 32 KiB), 3 lz4
 * (one LZ4 frame). kfk_decompress() reads all three back.
 * Not for: zstd (not a codec of message formats v0/v1), decompression
 * (kfk_decompress.h).
 */
#ifndef KFK_COMPRESS_H
#define KFK_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"

/*
 * Appends the LEN bytes at IN compressed with CODEC (1-3) to OUT. Returns
 * 0; CK_E_INVALID for another codec; -ENOMEM or CK_E_TOO_LARGE (LEN past
 * what the codec takes at once). On failure OUT's length is as before.
 */
int kfk_compress(int codec, const uint8_t *in, size_t len, ck_buf_t *out);

#endif
