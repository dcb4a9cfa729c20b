/*
 * kfk_compress.c: gzip, snappy (xerial framing) and lz4 compression of a
 * batch's records (kfk_compress.h).
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

#include "ck_err.h"

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

int kfk_compress(int codec, const uint8_t *in, size_t len, ck_buf_t *out)
{
	switch (codec) {
	case 1:
		return kfk_deflate(in, len, out);
	case 2:
		return kfk_snappy_xerial(in, len, out);
	case 3:
		return kfk_lz4_frame(in, len, out);
	default:
		return CK_E_INVALID;
	}
}
