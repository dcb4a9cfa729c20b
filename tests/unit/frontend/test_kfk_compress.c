/*
 * test_kfk_compress.c: unit tests of batches rebuilt with a topic's codec
 * (kafka-frontend/kfk_compress.h, kfk_batches_recompress).
 *
 * Batches are built uncompressed with ck_batch's builder; what a codec
 * wrote is read back with kfk_decompress (tested against streams other
 * libraries wrote, in test_kfk_produce_core.c) and, for gzip and zstd,
 * with zlib and libzstd themselves.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "ck_testlib.h"
#include "kfk_compress.h"
#include "kfk_decompress.h"

/* One uncompressed batch of N records with a producer, a sequence and a
 * leader epoch, appended to OUT. */
static void build(ck_buf_t *out, int n, int64_t base_offset)
{
	ck_batch_opts_t o = CK_BATCH_OPTS_INIT;
	ck_batch_record_t recs[16];
	char vals[16][64];

	ck_assert_int_le(n, 16);
	o.base_offset = base_offset;
	o.partition_leader_epoch = 7;
	o.producer_id = 4242;
	o.producer_epoch = 3;
	o.base_sequence = 100;
	for (int i = 0; i < n; i++) {
		memset(&recs[i], 0, sizeof(recs[i]));
		(void)snprintf(vals[i], sizeof(vals[i]), "value %d: some text that compresses well",
		               i);
		recs[i].key = i % 2 ? "k" : NULL;
		recs[i].key_len = i % 2 ? 1 : 0;
		recs[i].value = vals[i];
		recs[i].value_len = strlen(vals[i]);
		recs[i].timestamp_ms = 1700000000000 + i;
	}
	ck_assert_int_eq(ck_batch_build(out, &o, recs, (size_t)n, NULL), 0);
}

static int codec_of(const uint8_t *batch)
{
	return ck_be16_get(batch + CK_BATCH_OFF_ATTRIBUTES) & CK_BATCH_ATTR_COMPRESSION_MASK;
}

/* Every codec: the batch is valid (length, CRC), every header field but
 * the codec bits, batchLength and CRC is the original's, and its records
 * decompress to the original's; back to none gives the original bytes. */
START_TEST(test_each_codec_round_trip)
{
	ck_buf_t plain = CK_BUF_INIT, z = CK_BUF_INIT, back = CK_BUF_INIT, rec = CK_BUF_INIT;
	ck_batch_header_t h0, h;

	build(&plain, 9, 0);
	ck_assert_int_eq(ck_batch_header_parse(plain.data, plain.len, &h0), 0);
	for (int codec = 1; codec <= 4; codec++) {
		z.len = back.len = rec.len = 0;
		ck_assert_int_eq(kfk_batches_recompress(plain.data, plain.len, codec, &z), 1);
		ck_assert_int_eq(ck_batch_validate(z.data, z.len, 0, &h), (int)z.len);
		ck_assert_int_eq(codec_of(z.data), codec);
		ck_assert_int_eq(h.attributes & ~CK_BATCH_ATTR_COMPRESSION_MASK,
		                 h0.attributes & ~CK_BATCH_ATTR_COMPRESSION_MASK);
		ck_assert_int_eq(h.base_offset, h0.base_offset);
		ck_assert_int_eq(h.partition_leader_epoch, 7);
		ck_assert_int_eq(h.last_offset_delta, 8);
		ck_assert_int_eq(h.base_timestamp, h0.base_timestamp);
		ck_assert_int_eq(h.max_timestamp, 1700000000008);
		ck_assert_int_eq(h.producer_id, 4242);
		ck_assert_int_eq(h.producer_epoch, 3);
		ck_assert_int_eq(h.base_sequence, 100);
		ck_assert_int_eq(h.records_count, 9);
		ck_assert_int_lt(z.len, plain.len); /* the values repeat: it compressed */
		ck_assert_int_eq(kfk_decompress(codec, z.data + CK_BATCH_HEADER_LEN,
		                                z.len - CK_BATCH_HEADER_LEN, 1 << 20, &rec),
		                 0);
		ck_assert_int_eq(rec.len, plain.len - CK_BATCH_HEADER_LEN);
		ck_assert(!memcmp(rec.data, plain.data + CK_BATCH_HEADER_LEN, rec.len));
		ck_assert_int_eq(kfk_batches_recompress(z.data, z.len, 0, &back), 1);
		ck_assert_int_eq(back.len, plain.len);
		ck_assert(!memcmp(back.data, plain.data, plain.len));
	}
	ck_buf_free(&plain);
	ck_buf_free(&z);
	ck_buf_free(&back);
	ck_buf_free(&rec);
}
END_TEST

/* What other readers see: a gzip stream zlib reads, a zstd frame libzstd
 * reads (level 3, as Kafka's default). */
START_TEST(test_streams_other_readers_read)
{
	ck_buf_t plain = CK_BUF_INIT, z = CK_BUF_INIT;
	size_t rlen;
	uint8_t *out;
	uLongf olen;

	build(&plain, 5, 0);
	rlen = plain.len - CK_BATCH_HEADER_LEN;
	out = malloc(rlen + 16);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(kfk_batches_recompress(plain.data, plain.len, 4, &z), 1);
	ck_assert_int_eq(ZSTD_decompress(out, rlen + 16, z.data + CK_BATCH_HEADER_LEN,
	                                 z.len - CK_BATCH_HEADER_LEN),
	                 rlen);
	ck_assert(!memcmp(out, plain.data + CK_BATCH_HEADER_LEN, rlen));
	z.len = 0;
	ck_assert_int_eq(kfk_batches_recompress(plain.data, plain.len, 1, &z), 1);
	ck_assert_int_eq(z.data[CK_BATCH_HEADER_LEN], 0x1f); /* gzip's magic */
	ck_assert_int_eq(z.data[CK_BATCH_HEADER_LEN + 1], 0x8b);
	{
		z_stream zs;

		memset(&zs, 0, sizeof(zs));
		ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
		zs.next_in = z.data + CK_BATCH_HEADER_LEN;
		zs.avail_in = (uInt)(z.len - CK_BATCH_HEADER_LEN);
		zs.next_out = out;
		zs.avail_out = (uInt)(rlen + 16);
		ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
		olen = zs.total_out;
		inflateEnd(&zs);
	}
	ck_assert_int_eq(olen, rlen);
	ck_assert(!memcmp(out, plain.data + CK_BATCH_HEADER_LEN, rlen));
	free(out);
	ck_buf_free(&plain);
	ck_buf_free(&z);
}
END_TEST

/* Batches already of the codec are kept byte for byte; when none change,
 * nothing is appended (0). Several batches: each on its own. */
START_TEST(test_batches_of_the_codec_kept)
{
	ck_buf_t two = CK_BUF_INIT, lz = CK_BUF_INIT, mixed = CK_BUF_INIT, out = CK_BUF_INIT;
	size_t first;

	build(&two, 3, 0);
	first = two.len;
	build(&two, 4, 3);
	ck_assert_int_eq(ck_buf_append(&out, "x", 1), 0);
	ck_assert_int_eq(kfk_batches_recompress(two.data, two.len, 0, &out), 0);
	ck_assert_int_eq(out.len, 1); /* untouched */
	out.len = 0;
	/* The first batch lz4, the second uncompressed: to lz4, the first is
	 * copied as it is and the second compressed. */
	ck_assert_int_eq(kfk_batches_recompress(two.data, first, 3, &lz), 1);
	ck_assert_int_eq(ck_buf_append(&mixed, lz.data, lz.len), 0);
	ck_assert_int_eq(ck_buf_append(&mixed, two.data + first, two.len - first), 0);
	ck_assert_int_eq(kfk_batches_recompress(mixed.data, mixed.len, 3, &out), 1);
	ck_assert_int_ge(out.len, lz.len);
	ck_assert(!memcmp(out.data, lz.data, lz.len));
	ck_assert_int_eq(ck_batch_set_validate(out.data, out.len, 0, NULL), 2);
	ck_assert_int_eq(codec_of(out.data + lz.len), 3);
	/* And all back to none: the original two batches. */
	mixed.len = 0;
	ck_assert_int_eq(kfk_batches_recompress(out.data, out.len, 0, &mixed), 1);
	ck_assert_int_eq(mixed.len, two.len);
	ck_assert(!memcmp(mixed.data, two.data, two.len));
	ck_buf_free(&two);
	ck_buf_free(&lz);
	ck_buf_free(&mixed);
	ck_buf_free(&out);
}
END_TEST

/* Bytes that are not whole batches, records that do not decompress, a
 * codec out of range: an error, OUT as before. */
START_TEST(test_bad_input_refused)
{
	ck_buf_t b = CK_BUF_INIT, out = CK_BUF_INIT;

	build(&b, 3, 0);
	ck_assert_int_eq(ck_buf_append(&out, "ab", 2), 0);
	ck_assert_int_eq(kfk_batches_recompress(b.data, b.len, 5, &out), CK_E_INVALID);
	ck_assert_int_eq(kfk_batches_recompress(b.data, b.len, -1, &out), CK_E_INVALID);
	ck_assert_int_eq(kfk_batches_recompress(b.data, b.len - 1, 1, &out), CK_E_CORRUPT);
	ck_assert_int_eq(kfk_batches_recompress(b.data, 20, 1, &out), CK_E_CORRUPT);
	/* Marked gzip, records not compressed at all. */
	ck_be16_put(b.data + CK_BATCH_OFF_ATTRIBUTES, 1);
	ck_batch_crc_update(b.data, b.len);
	ck_assert_int_eq(kfk_batches_recompress(b.data, b.len, 4, &out), CK_E_CORRUPT);
	ck_assert_int_eq(out.len, 2);
	ck_assert(!memcmp(out.data, "ab", 2));
	ck_buf_free(&b);
	ck_buf_free(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_compress");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_each_codec_round_trip);
	tcase_add_test(tc, test_streams_other_readers_read);
	tcase_add_test(tc, test_batches_of_the_codec_kept);
	tcase_add_test(tc, test_bad_input_refused);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
