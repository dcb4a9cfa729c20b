/*
 * kfk_decompress.c: gzip, snappy, lz4 and zstd decompression of a batch's
 * records (kfk_decompress.h).
 *
 * Owned by kafka-frontend (pure). Each codec writes into OUT in steps of
 * at least KFK_STEP bytes, growing it as the output needs and never past
 * the caller's bound.
 */
#include "kfk_decompress.h"

#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "ck_err.h"

#define KFK_STEP ((size_t)64 << 10)

/* xerial's SnappyOutputStream header: magic, version, compatible version. */
static const uint8_t kfk_xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define KFK_XERIAL_HEADER 16

/* Room for at least KFK_STEP more bytes (or up to MAX) at the end of OUT,
 * whose first BASE bytes are not the output's. Returns how much, 0 when
 * MAX is reached, -ENOMEM. */
static ssize_t kfk_room(ck_buf_t *out, size_t base, size_t max)
{
	size_t used = out->len - base;
	size_t want = max - used < KFK_STEP ? max - used : KFK_STEP;

	if (used >= max)
		return 0;
	if (out->cap - out->len >= want)
		return (ssize_t)(out->cap - out->len < max - used ? out->cap - out->len
		                                                  : max - used);
	if (ck_buf_reserve(out, want) < 0)
		return -ENOMEM;
	return (ssize_t)want;
}

static int kfk_gzip(const uint8_t *in, size_t len, size_t max, ck_buf_t *out, size_t base)
{
	z_stream zs;
	int zr = Z_OK, r = 0;

	memset(&zs, 0, sizeof(zs));
	/* 15 + 32: the window Kafka's clients use, gzip or zlib header. */
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	while (r == 0) {
		ssize_t room = kfk_room(out, base, max);

		if (room <= 0) {
			r = room < 0 ? (int)room : CK_E_TOO_LARGE;
			break;
		}
		zs.next_out = out->data + out->len;
		zs.avail_out = (uInt)room;
		zr = inflate(&zs, Z_NO_FLUSH);
		out->len += (size_t)room - zs.avail_out;
		if (zr == Z_STREAM_END) {
			if (zs.avail_in == 0)
				break;
			/* Another gzip member follows. */
			if (inflateReset(&zs) != Z_OK)
				r = CK_E_CORRUPT;
		} else if (zr == Z_BUF_ERROR && zs.avail_in == 0) {
			r = CK_E_CORRUPT; /* the stream stops short */
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			r = zr == Z_MEM_ERROR ? -ENOMEM : CK_E_CORRUPT;
		}
	}
	inflateEnd(&zs);
	return r;
}

/* One raw snappy block. */
static int kfk_snappy_block(const uint8_t *in, size_t len, size_t max, ck_buf_t *out, size_t base)
{
	size_t n;

	if (snappy_uncompressed_length((const char *)in, len, &n) != SNAPPY_OK)
		return CK_E_CORRUPT;
	if (n > max - (out->len - base))
		return CK_E_TOO_LARGE;
	if (ck_buf_reserve(out, n ? n : 1) < 0)
		return -ENOMEM;
	if (snappy_uncompress((const char *)in, len, (char *)out->data + out->len, &n) != SNAPPY_OK)
		return CK_E_CORRUPT;
	out->len += n;
	return 0;
}

static int kfk_snappy(const uint8_t *in, size_t len, size_t max, ck_buf_t *out, size_t base)
{
	size_t pos = KFK_XERIAL_HEADER;

	if (len < KFK_XERIAL_HEADER || memcmp(in, kfk_xerial_magic, sizeof(kfk_xerial_magic)) != 0)
		return kfk_snappy_block(in, len, max, out, base);
	while (pos < len) {
		uint32_t n;
		int r;

		if (len - pos < 4)
			return CK_E_CORRUPT;
		n = (uint32_t)in[pos] << 24 | (uint32_t)in[pos + 1] << 16 |
		    (uint32_t)in[pos + 2] << 8 | in[pos + 3];
		pos += 4;
		if (n > len - pos)
			return CK_E_CORRUPT;
		r = kfk_snappy_block(in + pos, n, max, out, base);
		if (r < 0)
			return r;
		pos += n;
	}
	return 0;
}

static int kfk_lz4(const uint8_t *in, size_t len, size_t max, ck_buf_t *out, size_t base)
{
	LZ4F_dctx *dc = NULL;
	size_t pos = 0, hint = 1;
	int r = 0;

	if (LZ4F_isError(LZ4F_createDecompressionContext(&dc, LZ4F_VERSION)))
		return -ENOMEM;
	/* Until the input is used up and its last frame is whole (hint 0);
	 * output may still be pending in the context after the last byte. */
	while (r == 0 && (pos < len || hint != 0)) {
		ssize_t room = kfk_room(out, base, max);
		size_t src = len - pos, dst;

		if (room <= 0) {
			r = room < 0 ? (int)room : CK_E_TOO_LARGE;
			break;
		}
		dst = (size_t)room;
		hint = LZ4F_decompress(dc, out->data + out->len, &dst, in + pos, &src, NULL);
		if (LZ4F_isError(hint) || (src == 0 && dst == 0)) {
			r = CK_E_CORRUPT; /* not lz4, or it stops short */
			break;
		}
		pos += src;
		out->len += dst;
	}
	LZ4F_freeDecompressionContext(dc);
	return r;
}

static int kfk_zstd(const uint8_t *in, size_t len, size_t max, ck_buf_t *out, size_t base)
{
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	ZSTD_inBuffer ib = {in, len, 0};
	size_t zr = 1;
	int r = 0;

	if (!dc)
		return -ENOMEM;
	/* Until the input is used up and its last frame is whole (zr 0). */
	while (r == 0 && (ib.pos < ib.size || zr != 0)) {
		ssize_t room = kfk_room(out, base, max);
		ZSTD_outBuffer ob;

		if (room <= 0) {
			r = room < 0 ? (int)room : CK_E_TOO_LARGE;
			break;
		}
		ob = (ZSTD_outBuffer){out->data + out->len, (size_t)room, 0};
		zr = ZSTD_decompressStream(dc, &ob, &ib);
		if (ZSTD_isError(zr)) {
			r = CK_E_CORRUPT;
			break;
		}
		out->len += ob.pos;
		if (ob.pos == 0 && ib.pos == ib.size && zr != 0)
			r = CK_E_CORRUPT; /* the last frame stops short */
	}
	ZSTD_freeDCtx(dc);
	return r;
}

int kfk_decompress(int codec, const uint8_t *in, size_t len, size_t max, ck_buf_t *out)
{
	size_t base = out->len;
	int r;

	switch (codec) {
	case 1:
		r = kfk_gzip(in, len, max, out, base);
		break;
	case 2:
		r = kfk_snappy(in, len, max, out, base);
		break;
	case 3:
		r = kfk_lz4(in, len, max, out, base);
		break;
	case 4:
		r = kfk_zstd(in, len, max, out, base);
		break;
	default:
		r = CK_E_CORRUPT;
		break;
	}
	if (r < 0)
		out->len = base;
	return r;
}
