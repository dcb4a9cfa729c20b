/*
 * test_kfk_legacy.c: unit tests of the message format v0/v1 conversions
 * (kafka-frontend/kfk_legacy.h).
 *
 * Message sets are written here by hand from the format's description
 * (independent of the code under test) and read back field by field.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>
#include <zlib.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "ck_testlib.h"
#include "kfk_compress.h"
#include "kfk_decompress.h"
#include "kfk_legacy.h"

#define MAX_OUT ((size_t)1 << 20)

/* Appends one message of MAGIC to OUT: OFFSET, ATTR, TS (v1), KEY/VALUE
 * (NULL = null). */
static void msg(ck_buf_t *out, int64_t offset, int magic, uint8_t attr, int64_t ts, const char *key,
                const void *value, size_t value_len)
{
	size_t klen = key ? strlen(key) : 0;
	size_t size = 4 + 1 + 1 + (magic ? 8 : 0) + 4 + klen + 4 + (value ? value_len : 0);
	uint8_t *p = ck_buf_extend(out, 12 + size), *m = p + 12, *q;

	ck_assert_ptr_nonnull(p);
	ck_be64_put(p, (uint64_t)offset);
	ck_be32_put(p + 8, (uint32_t)size);
	m[4] = (uint8_t)magic;
	m[5] = attr;
	q = m + 6;
	if (magic) {
		ck_be64_put(q, (uint64_t)ts);
		q += 8;
	}
	ck_be32_put(q, key ? (uint32_t)klen : 0xffffffffu);
	q += 4;
	if (key)
		memcpy(q, key, klen);
	q += klen;
	ck_be32_put(q, value ? (uint32_t)value_len : 0xffffffffu);
	q += 4;
	if (value)
		memcpy(q, value, value_len);
	ck_be32_put(m, (uint32_t)crc32(0, m + 4, (uInt)(size - 4)));
}

static void gzip(const ck_buf_t *in, ck_buf_t *out)
{
	z_stream zs;
	uint8_t *p = ck_buf_extend(out, in->len + 1024);

	ck_assert_ptr_nonnull(p);
	memset(&zs, 0, sizeof(zs));
	ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = in->data;
	zs.avail_in = (uInt)in->len;
	zs.next_out = p;
	zs.avail_out = (uInt)(in->len + 1024);
	ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	out->len -= in->len + 1024 - zs.total_out;
	deflateEnd(&zs);
}

/* The records of the one batch in B, whose codec must be CODEC (the
 * records of a compressed one decompressed into DEC, which they point
 * into). */
static int records_in(const ck_buf_t *b, int codec, ck_buf_t *dec, ck_record_t *out, int max)
{
	ck_batch_header_t h;
	ck_record_iter_t it;
	int n = 0;

	ck_assert_int_eq(ck_batch_validate(b->data, b->len, 0, &h), (int)b->len);
	ck_assert_int_eq(h.attributes & CK_BATCH_ATTR_COMPRESSION_MASK, codec);
	if (codec == 0) {
		ck_assert_int_eq(ck_record_iter_init(&it, b->data, b->len), 0);
	} else {
		dec->len = 0;
		ck_assert_int_eq(kfk_decompress(codec, b->data + CK_BATCH_HEADER_LEN,
		                                b->len - CK_BATCH_HEADER_LEN, MAX_OUT, dec),
		                 0);
		ck_record_iter_init_records(&it, &h, dec->data, dec->len);
	}
	while (n < max && ck_record_iter_next(&it, &out[n]) == 1)
		n++;
	ck_assert_int_eq(n, h.records_count);
	return n;
}

static int records(const ck_buf_t *b, ck_record_t *out, int max)
{
	return records_in(b, 0, NULL, out, max);
}

static void rec_is(const ck_record_t *r, int64_t offset, const char *key, const char *value,
                   int64_t ts)
{
	ck_assert_int_eq(r->offset, offset);
	ck_assert_int_eq(r->timestamp_ms, ts);
	if (key) {
		ck_assert_int_eq(r->key_len, (int32_t)strlen(key));
		ck_assert(memcmp(r->key, key, strlen(key)) == 0);
	} else {
		ck_assert_int_eq(r->key_len, -1);
	}
	if (value) {
		ck_assert_int_eq(r->value_len, (int32_t)strlen(value));
		ck_assert(memcmp(r->value, value, strlen(value)) == 0);
	} else {
		ck_assert_int_eq(r->value_len, -1);
	}
	ck_assert_uint_eq(r->header_count, 0);
}

/* Plain messages of v1 and v0 become one v2 batch with their keys,
 * values (null too) and timestamps (-1 for v0). */
START_TEST(test_up_plain)
{
	ck_buf_t in = CK_BUF_INIT, out = CK_BUF_INIT;
	ck_record_t r[4];

	msg(&in, 0, 1, 0, 1700000000000, "k0", "v0", 2);
	msg(&in, 1, 1, 0, 1700000000007, NULL, "v1", 2);
	msg(&in, 2, 1, 0, 1700000000003, "k2", NULL, 0);
	ck_assert(kfk_legacy_is(in.data, in.len));
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), 3);
	ck_assert(!kfk_legacy_is(out.data, out.len));
	ck_assert_int_eq(records(&out, r, 4), 3);
	rec_is(&r[0], 0, "k0", "v0", 1700000000000);
	rec_is(&r[1], 1, NULL, "v1", 1700000000007);
	rec_is(&r[2], 2, "k2", NULL, 1700000000003);

	in.len = out.len = 0;
	msg(&in, 0, 0, 0, 0, "a", "b", 1);
	msg(&in, 0, 0, 0, 0, "c", "", 0);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), 2);
	ck_assert_int_eq(records(&out, r, 4), 2);
	rec_is(&r[0], 0, "a", "b", -1);
	rec_is(&r[1], 1, "c", "", -1);
	ck_buf_free(&in);
	ck_buf_free(&out);
}
END_TEST

/* A gzip wrapper's inner messages are the records; a v1 wrapper stamped
 * LogAppendTime gives them its timestamp. */
START_TEST(test_up_compressed)
{
	ck_buf_t inner = CK_BUF_INIT, z = CK_BUF_INIT, in = CK_BUF_INIT, out = CK_BUF_INIT,
	         dec = CK_BUF_INIT;
	ck_record_t r[12];

	for (int i = 0; i < 5; i++) {
		char k[8], v[16];

		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "value-%d", i);
		msg(&inner, i, 1, 0, 1700000000000 + i, k, v, strlen(v));
	}
	gzip(&inner, &z);
	msg(&in, 4, 1, 1, 1700000000004, NULL, z.data, z.len);
	msg(&in, 5, 1, 0, 1700000000009, "plain", "after", 5);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), 6);
	ck_assert_int_eq(records(&out, r, 8), 6);
	rec_is(&r[0], 0, "k0", "value-0", 1700000000000);
	rec_is(&r[4], 4, "k4", "value-4", 1700000000004);
	rec_is(&r[5], 5, "plain", "after", 1700000000009);

	in.len = out.len = 0;
	/* Wrappers only, of one codec: the batch is compressed with it. */
	msg(&in, 4, 1, 1 | 0x08, 1800000000000, NULL, z.data, z.len);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), 5);
	ck_assert_int_eq(records_in(&out, 1, &dec, r, 8), 5);
	rec_is(&r[2], 2, "k2", "value-2", 1800000000000);
	for (int codec = 2; codec <= 3; codec++) {
		ck_buf_t b = CK_BUF_INIT;

		in.len = out.len = 0;
		ck_assert_int_eq(kfk_compress(codec, inner.data, inner.len, &b), 0);
		msg(&in, 4, 1, (uint8_t)codec, 7, NULL, b.data, b.len);
		msg(&in, 9, 1, (uint8_t)codec, 7, NULL, b.data, b.len);
		ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), 10);
		ck_assert_int_eq(records_in(&out, codec, &dec, r, 12), 10);
		rec_is(&r[6], 6, "k1", "value-1", 1700000000001);
		ck_buf_free(&b);
	}

	/* The decompressed bytes are bounded, and the batch: here by 100
	 * bytes, which the first records fit in. */
	out.len = 0;
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, 16, &out), CK_E_TOO_LARGE);
	ck_assert_uint_eq(out.len, 0);
	in.len = 0;
	for (int i = 0; i < 10; i++)
		msg(&in, i, 1, 0, 1, "k", "value", 5);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, 100, &out), CK_E_TOO_LARGE);
	ck_assert_uint_eq(out.len, 0);
	ck_buf_free(&inner);
	ck_buf_free(&z);
	ck_buf_free(&in);
	ck_buf_free(&out);
	ck_buf_free(&dec);
}
END_TEST

/* LZ4 wrappers: a v1 frame as the LZ4 format has it; a v0 frame whose
 * header checksum is wrong (what magic-0 clients wrote, KAFKA-3160) is
 * accepted as Kafka accepts it, but not in v1. */
START_TEST(test_up_lz4)
{
	ck_buf_t inner = CK_BUF_INIT, inner1 = CK_BUF_INIT, in = CK_BUF_INIT, out = CK_BUF_INIT,
	         dec = CK_BUF_INIT;
	uint8_t z[1024], z1[1024];
	size_t zlen, z1len;
	ck_record_t r[4];

	msg(&inner, 0, 0, 0, 0, "k0", "v0", 2);
	msg(&inner, 1, 0, 0, 0, "k1", "v1", 2);
	msg(&inner1, 0, 1, 0, 40, "k0", "v0", 2);
	msg(&inner1, 1, 1, 0, 41, "k1", "v1", 2);
	zlen = LZ4F_compressFrame(z, sizeof(z), inner.data, inner.len, NULL);
	ck_assert(!LZ4F_isError(zlen));
	z1len = LZ4F_compressFrame(z1, sizeof(z1), inner1.data, inner1.len, NULL);
	ck_assert(!LZ4F_isError(z1len));
	msg(&in, 1, 1, 3, 5, NULL, z1, z1len);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), 2);
	ck_assert_int_eq(records_in(&out, 3, &dec, r, 4), 2);
	rec_is(&r[1], 1, "k1", "v1", 41);
	/* v0 messages inside a v1 wrapper: Kafka's "Log record magic does not
	 * match outer magic", INVALID_RECORD. */
	in.len = out.len = 0;
	msg(&in, 1, 1, 3, 5, NULL, z, zlen);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), CK_E_INVALID);
	ck_assert_uint_eq(out.len, 0);
	z1[6] ^= 0x5a; /* the header checksum, no content size or dictionary */
	in.len = out.len = 0;
	msg(&in, 1, 1, 3, 5, NULL, z1, z1len);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), CK_E_CORRUPT);
	z[6] ^= 0x5a;
	in.len = 0;
	msg(&in, 1, 0, 3, 0, NULL, z, zlen);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), 2);
	ck_assert_int_eq(records_in(&out, 3, &dec, r, 4), 2);
	rec_is(&r[0], 0, "k0", "v0", -1);
	ck_buf_free(&inner);
	ck_buf_free(&inner1);
	ck_buf_free(&in);
	ck_buf_free(&out);
	ck_buf_free(&dec);
}
END_TEST

/* Hostile or broken message sets are refused whole, OUT untouched. */
START_TEST(test_up_refused)
{
	ck_buf_t in = CK_BUF_INIT, out = CK_BUF_INIT, z = CK_BUF_INIT, inner = CK_BUF_INIT;

	ck_assert_int_eq(ck_buf_append(&out, "keep", 4), 0);
	ck_assert_int_eq(kfk_legacy_to_batch((const uint8_t *)"", 0, MAX_OUT, &out), CK_E_CORRUPT);
	msg(&in, 0, 1, 0, 1, "k", "v", 1);
	msg(&in, 1, 1, 0, 1, "k", "v", 1);
	/* Cut anywhere short of the end, but between the two messages. */
	for (size_t cut = 1; cut < in.len; cut++)
		if (cut != in.len / 2)
			ck_assert_int_eq(kfk_legacy_to_batch(in.data, cut, MAX_OUT, &out),
			                 CK_E_CORRUPT);
	/* A flipped bit anywhere in the second message: its CRC, a length or
	 * the magic no longer agree. */
	for (size_t i = in.len / 2 + 12; i < in.len; i++) {
		in.data[i] ^= 0x20;
		ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), CK_E_CORRUPT);
		in.data[i] ^= 0x20;
	}
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), 2);
	out.len = 4;
	/* Magic 2 in a message set; unknown codec; compression inside
	 * compression; a wrapper without a value. */
	in.len = 0;
	msg(&in, 0, 2, 0, 1, "k", "v", 1);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), CK_E_CORRUPT);
	in.len = 0;
	msg(&in, 0, 1, 4, 1, NULL, "zstd?", 5);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), CK_E_CORRUPT);
	msg(&inner, 0, 1, 0, 1, "k", "v", 1);
	gzip(&inner, &z);
	inner.len = 0;
	msg(&inner, 0, 1, 1, 1, NULL, z.data, z.len);
	z.len = 0;
	gzip(&inner, &z);
	in.len = 0;
	msg(&in, 0, 1, 1, 1, NULL, z.data, z.len);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), CK_E_CORRUPT);
	in.len = 0;
	msg(&in, 0, 1, 1, 1, NULL, NULL, 0);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), CK_E_CORRUPT);
	/* Not a gzip stream at all. */
	in.len = 0;
	msg(&in, 0, 0, 1, 0, NULL, "not gzip", 8);
	ck_assert_int_eq(kfk_legacy_to_batch(in.data, in.len, MAX_OUT, &out), CK_E_CORRUPT);
	ck_assert_uint_eq(out.len, 4);
	ck_assert(memcmp(out.data, "keep", 4) == 0);
	ck_buf_free(&in);
	ck_buf_free(&out);
	ck_buf_free(&z);
	ck_buf_free(&inner);
}
END_TEST

/* One v2 batch at BASE of N records "k<i>"/"v<i>", timestamps 1000 + i,
 * one header each, appended to OUT. */
static void batch(ck_buf_t *out, int64_t base, int n, int16_t attributes)
{
	ck_batch_opts_t opts = CK_BATCH_OPTS_INIT;
	ck_batch_record_t recs[16];
	ck_record_header_t h = {"h", 1, "x", 1};
	char keys[16][8], vals[16][8];

	opts.base_offset = base;
	opts.attributes = attributes;
	for (int i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", (int)base + i);
		snprintf(vals[i], sizeof(vals[i]), "v%d", (int)base + i);
		recs[i] = (ck_batch_record_t){
		    keys[i], strlen(keys[i]), vals[i], strlen(vals[i]), 1000 + base + i, &h, 1};
	}
	ck_assert_int_eq(ck_batch_build(out, &opts, recs, (size_t)n, NULL), 0);
}

/* Walks the message set in B: offsets (the first FIRST, then rising; the
 * last in *RET_LAST), magic, CRCs, keys, values, v1 timestamps; returns the
 * number of messages. */
static int walk_to(const ck_buf_t *b, int magic, int64_t first, int64_t ts_base, int64_t *ret_last)
{
	size_t pos = 0;
	int64_t prev = first - 1;
	int n = 0;

	while (pos < b->len) {
		const uint8_t *m = b->data + pos + 12;
		size_t size = ck_be32_get(b->data + pos + 8), q = 6;
		int64_t off = (int64_t)ck_be64_get(b->data + pos);
		char want[16];
		uint32_t len;

		ck_assert_uint_le(pos + 12 + size, b->len);
		if (n == 0)
			ck_assert_int_eq(off, first);
		ck_assert_int_gt(off, prev);
		prev = off;
		ck_assert_uint_eq(ck_be32_get(m), (uint32_t)crc32(0, m + 4, (uInt)(size - 4)));
		ck_assert_int_eq(m[4], magic);
		if (magic == 1) {
			ck_assert_int_eq((int64_t)ck_be64_get(m + 6), ts_base + off);
			q += 8;
		}
		len = ck_be32_get(m + q);
		snprintf(want, sizeof(want), "k%d", (int)off);
		ck_assert_uint_eq(len, strlen(want));
		ck_assert(memcmp(m + q + 4, want, len) == 0);
		q += 4 + len;
		len = ck_be32_get(m + q);
		snprintf(want, sizeof(want), "v%d", (int)off);
		ck_assert_uint_eq(len, strlen(want));
		ck_assert(memcmp(m + q + 4, want, len) == 0);
		ck_assert_uint_eq(q + 4 + len, size);
		pos += 12 + size;
		n++;
	}
	if (ret_last)
		*ret_last = prev;
	return n;
}

static int walk(const ck_buf_t *b, int magic, int64_t first, int64_t ts_base)
{
	int64_t last;
	int n = walk_to(b, magic, first, ts_base, &last);

	ck_assert_int_eq(last, first + n - 1); /* no gap */
	return n;
}

/* v2 batches become messages of magic 0 or 1, from the fetch offset on;
 * control batches are left out; a cut-off last batch too. */
START_TEST(test_down)
{
	ck_buf_t log = CK_BUF_INIT, out = CK_BUF_INIT;

	batch(&log, 10, 4, 0);
	batch(&log, 14, 1, CK_BATCH_ATTR_CONTROL);
	batch(&log, 15, 3, 0);
	ck_assert_int_eq(kfk_legacy_from_batches(log.data, log.len, 1, 0, MAX_OUT, &out), 0);
	/* 10..13, then 15..17: the control record at 14 is not a message. */
	{
		int64_t last;

		ck_assert_int_eq(walk_to(&out, 1, 10, 1000, &last), 7);
		ck_assert_int_eq(last, 17);
	}
	out.len = 0;
	ck_assert_int_eq(kfk_legacy_from_batches(log.data, log.len, 0, 12, MAX_OUT, &out), 0);
	{
		int64_t last;

		ck_assert_int_eq(walk_to(&out, 0, 12, 0, &last), 5);
		ck_assert_int_eq(last, 17);
	}
	out.len = 0;
	/* A cut-off last batch, and a budget reached after the first message
	 * (a message here: 12 + 22 + 3 + 3 = 40 bytes). */
	ck_assert_int_eq(kfk_legacy_from_batches(log.data, log.len - 5, 1, 0, MAX_OUT, &out), 0);
	ck_assert_int_eq(walk(&out, 1, 10, 1000), 4);
	out.len = 0;
	ck_assert_int_eq(kfk_legacy_from_batches(log.data, log.len, 1, 0, 1, &out), 0);
	ck_assert_int_eq(walk(&out, 1, 10, 1000), 1);
	/* Stopped inside a batch, the next fetch goes on from there. */
	out.len = 0;
	ck_assert_int_eq(kfk_legacy_from_batches(log.data, log.len, 1, 11, 60, &out), 0);
	ck_assert_int_eq(walk(&out, 1, 11, 1000), 2);
	ck_buf_free(&log);
	ck_buf_free(&out);
}
END_TEST

/* A compressed batch is decompressed first; LogAppendTime batches give
 * every message the batch's time and the v1 attribute bit. */
START_TEST(test_down_compressed_and_log_append_time)
{
	ck_buf_t plain = CK_BUF_INIT, z = CK_BUF_INIT, log = CK_BUF_INIT, out = CK_BUF_INIT,
	         recs = CK_BUF_INIT;

	batch(&plain, 20, 3, 0);
	ck_assert_int_eq(
	    ck_buf_append(&recs, plain.data + CK_BATCH_HEADER_LEN, plain.len - CK_BATCH_HEADER_LEN),
	    0);
	gzip(&recs, &z);
	ck_assert_int_eq(ck_buf_append(&log, plain.data, CK_BATCH_HEADER_LEN), 0);
	ck_assert_int_eq(ck_buf_append(&log, z.data, z.len), 0);
	ck_be32_put(log.data + CK_BATCH_OFF_LENGTH, (uint32_t)(log.len - 12));
	ck_be16_put(log.data + CK_BATCH_OFF_ATTRIBUTES, 1);
	ck_batch_crc_update(log.data, log.len);
	ck_assert_int_eq(kfk_legacy_from_batches(log.data, log.len, 1, 0, MAX_OUT, &out), 0);
	ck_assert_int_eq(walk(&out, 1, 20, 1000), 3);

	/* Round trip: the messages converted up again are the records. */
	{
		ck_buf_t back = CK_BUF_INIT;
		ck_record_t r[4];

		ck_assert_int_eq(kfk_legacy_to_batch(out.data, out.len, MAX_OUT, &back), 3);
		ck_assert_int_eq(records(&back, r, 4), 3);
		rec_is(&r[1], 1, "k21", "v21", 1021);
		ck_buf_free(&back);
	}

	/* Garbage where the gzip stream should be: nothing converted. */
	out.len = 0;
	memset(log.data + CK_BATCH_HEADER_LEN, 'x', log.len - CK_BATCH_HEADER_LEN);
	ck_batch_crc_update(log.data, log.len);
	ck_assert_int_eq(kfk_legacy_from_batches(log.data, log.len, 1, 0, MAX_OUT, &out),
	                 CK_E_CORRUPT);
	ck_assert_uint_eq(out.len, 0);

	/* LogAppendTime: maxTimestamp for all, attribute bit 3. */
	log.len = out.len = 0;
	batch(&log, 30, 2, CK_BATCH_ATTR_LOG_APPEND_TIME);
	ck_be64_put(log.data + CK_BATCH_OFF_MAX_TIMESTAMP, 5555);
	ck_batch_crc_update(log.data, log.len);
	ck_assert_int_eq(kfk_legacy_from_batches(log.data, log.len, 1, 0, MAX_OUT, &out), 0);
	ck_assert_int_eq(out.data[12 + 5], 0x08);
	ck_assert_int_eq((int64_t)ck_be64_get(out.data + 12 + 6), 5555);
	ck_buf_free(&plain);
	ck_buf_free(&z);
	ck_buf_free(&log);
	ck_buf_free(&out);
	ck_buf_free(&recs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_legacy");
	TCase *tc = tcase_create("legacy");

	tcase_add_test(tc, test_up_plain);
	tcase_add_test(tc, test_up_compressed);
	tcase_add_test(tc, test_up_lz4);
	tcase_add_test(tc, test_up_refused);
	tcase_add_test(tc, test_down);
	tcase_add_test(tc, test_down_compressed_and_log_append_time);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
