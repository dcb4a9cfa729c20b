/*
 * kfk_compress.c: gzip, snappy (xerial framing), lz4 and zstd compression
 * of a batch's records, and batches rebuilt with another codec
 * (kfk_compress.h).
 *
 * Owned by kafka-frontend (pure). Each codec reserves its worst-case
 * output size first and writes straight into OUT.
 */
#include "kfk_compress.h"

#include <errno.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "kfk_decompress.h"

/* xerial's SnappyOutputStream: magic, version 1, compatible version 1. */
static const uint8_t kfk_xerial_header[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
                                              0,    0,   0,   1,   0,   0,   0,   1};
#define KFK_XERIAL_BLOCK ((size_t)32 << 10)

static int kfk_deflate(const uint8_t *in, size_t len, ck_buf_t *out)
{
	z_stream zs;
	uLong bound;
	int zr;

	if (len > UINT32_MAX / 2)
		return CK_E_TOO_LARGE;
	memset(&zs, 0, sizeof(zs));
	/* 15 + 16: a gzip header and trailer, as Kafka's clients write. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	bound = deflateBound(&zs, (uLong)len);
	if (ck_buf_reserve(out, bound) < 0) {
		deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out->data + out->len;
	zs.avail_out = (uInt)bound;
	zr = deflate(&zs, Z_FINISH);
	if (zr == Z_STREAM_END)
		out->len += zs.total_out;
	deflateEnd(&zs);
	return zr == Z_STREAM_END ? 0 : -ENOMEM;
}

static int kfk_snappy_xerial(const uint8_t *in, size_t len, ck_buf_t *out)
{
	size_t base = out->len, pos = 0;

	if (ck_buf_append(out, kfk_xerial_header, sizeof(kfk_xerial_header)) < 0)
		return -ENOMEM;
	while (pos < len) {
		size_t n = len - pos < KFK_XERIAL_BLOCK ? len - pos : KFK_XERIAL_BLOCK;
		size_t room = snappy_max_compressed_length(n);
		uint8_t *p;

		if (ck_buf_reserve(out, 4 + room) < 0) {
			out->len = base;
			return -ENOMEM;
		}
		p = out->data + out->len;
		if (snappy_compress((const char *)in + pos, n, (char *)p + 4, &room) != SNAPPY_OK) {
			out->len = base;
			return -ENOMEM;
		}
		ck_be32_put(p, (uint32_t)room);
		out->len += 4 + room;
		pos += n;
	}
	return 0;
}

static int kfk_lz4_frame(const uint8_t *in, size_t len, ck_buf_t *out)
{
	size_t bound = LZ4F_compressFrameBound(len, NULL), n;

	if (ck_buf_reserve(out, bound) < 0)
		return -ENOMEM;
	n = LZ4F_compressFrame(out->data + out->len, bound, in, len, NULL);
	if (LZ4F_isError(n))
		return -ENOMEM;
	out->len += n;
	return 0;
}

/* One zstd frame at level 3, the level Kafka's clients and broker use by
 * default. */
static int kfk_zstd_frame(const uint8_t *in, size_t len, ck_buf_t *out)
{
	size_t bound = ZSTD_compressBound(len), n;

	if (ZSTD_isError(bound))
		return CK_E_TOO_LARGE;
	if (ck_buf_reserve(out, bound) < 0)
		return -ENOMEM;
	n = ZSTD_compress(out->data + out->len, bound, in, len, 3);
	if (ZSTD_isError(n))
		return -ENOMEM;
	out->len += n;
	return 0;
}

int kfk_compress(int codec, const uint8_t *in, size_t len, ck_buf_t *out)
{
	switch (codec) {
	case 1:
		return kfk_deflate(in, len, out);
	case 2:
		return kfk_snappy_xerial(in, len, out);
	case 3:
		return kfk_lz4_frame(in, len, out);
	case 4:
		return kfk_zstd_frame(in, len, out);
	default:
		return CK_E_INVALID;
	}
}

/* One batch of TOTAL bytes at P, stored with CODEC, appended to OUT. */
static int kfk_batch_recode(const uint8_t *p, size_t total, int codec, ck_buf_t *out,
                            ck_buf_t *plain)
{
	int from = ck_be16_get(p + CK_BATCH_OFF_ATTRIBUTES) & CK_BATCH_ATTR_COMPRESSION_MASK;
	const uint8_t *rec = p + CK_BATCH_HEADER_LEN;
	size_t rec_len = total - CK_BATCH_HEADER_LEN, start = out->len;
	uint16_t attrs;
	int r;

	if (from != 0) {
		plain->len = 0;
		r = kfk_decompress(from, rec, rec_len, KFK_DECOMPRESS_MAX, plain);
		if (r < 0)
			return r;
		rec = plain->data;
		rec_len = plain->len;
	}
	if (ck_buf_append(out, p, CK_BATCH_HEADER_LEN) < 0)
		return -ENOMEM;
	r = codec == 0 ? (ck_buf_append(out, rec, rec_len) < 0 ? -ENOMEM : 0)
	               : kfk_compress(codec, rec, rec_len, out);
	if (r == 0 && out->len - start - CK_BATCH_LOG_OVERHEAD > (size_t)INT32_MAX)
		r = CK_E_TOO_LARGE;
	if (r < 0) {
		out->len = start;
		return r;
	}
	attrs = (uint16_t)((ck_be16_get(p + CK_BATCH_OFF_ATTRIBUTES) &
	                    ~CK_BATCH_ATTR_COMPRESSION_MASK) |
	                   (unsigned)codec);
	ck_be16_put(out->data + start + CK_BATCH_OFF_ATTRIBUTES, attrs);
	ck_be32_put(out->data + start + CK_BATCH_OFF_LENGTH,
	            (uint32_t)(out->len - start - CK_BATCH_LOG_OVERHEAD));
	ck_batch_crc_update(out->data + start, out->len - start);
	return 0;
}

int kfk_batches_recompress(const uint8_t *in, size_t len, int codec, ck_buf_t *out)
{
	ck_buf_t plain;
	size_t pos = 0, start = out->len;
	int changed = 0, r = 0;

	if (codec < 0 || codec > 4)
		return CK_E_INVALID;
	ck_buf_init(&plain);
	while (pos < len) {
		size_t total;
		int from;

		r = ck_batch_size_peek(in + pos, len - pos, 0, &total);
		if (r == 0 && (total > len - pos || total < CK_BATCH_HEADER_LEN))
			r = CK_E_CORRUPT;
		if (r < 0)
			break;
		from = ck_be16_get(in + pos + CK_BATCH_OFF_ATTRIBUTES) &
		       CK_BATCH_ATTR_COMPRESSION_MASK;
		if (from == codec) {
			r = ck_buf_append(out, in + pos, total) < 0 ? -ENOMEM : 0;
		} else {
			r = kfk_batch_recode(in + pos, total, codec, out, &plain);
			changed = 1;
		}
		if (r < 0)
			break;
		pos += total;
	}
	ck_buf_free(&plain);
	if (r < 0 || !changed)
		out->len = start;
	return r < 0 ? r : changed;
}
