/*
 * test_kfk_produce_core.c: unit tests of produce validation and the acks
 * rules (kafka-frontend/kfk_produce_core.h): the Kafka error each broken
 * record set gets, and when each acks mode may answer.
 */
#include <check.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "ck_batch.h"
#include "ck_buf.h"
#include "ck_testlib.h"
#include "kfk_errors.h"
#include "kfk_produce_core.h"

#define MAX_MSG 1048588

/* A batch of N records "v0".."v{N-1}" appended to OUT. */
static size_t build(ck_buf_t *out, int n)
{
	ck_batch_record_t recs[8];
	char vals[8][16]; /* room for "v" and any int: -O0 cannot see that n <= 8 */
	size_t len = 0;

	ck_assert_int_le(n, 8);
	for (int i = 0; i < n; i++) {
		memset(&recs[i], 0, sizeof(recs[i]));
		(void)snprintf(vals[i], sizeof(vals[i]), "v%d", i);
		recs[i].value = vals[i];
		recs[i].value_len = strlen(vals[i]);
		recs[i].timestamp_ms = 1700000000000 + i;
	}
	ck_assert_int_eq(ck_batch_build(out, NULL, recs, (size_t)n, &len), 0);
	return len;
}

static int16_t check(const ck_buf_t *b, size_t max, kfk_records_info_t *info, const char **why)
{
	return kfk_produce_records_check(b->data, (int32_t)b->len, max, info, why);
}

START_TEST(test_valid_sets)
{
	ck_buf_t b = CK_BUF_INIT;
	kfk_records_info_t info;
	const char *why = "x";

	build(&b, 3);
	ck_assert_int_eq(check(&b, MAX_MSG, &info, &why), KFK_ERR_NONE);
	ck_assert_ptr_null(why);
	ck_assert_int_eq(info.batches, 1);
	ck_assert_int_eq(info.records, 3);
	ck_assert_int_eq(info.offsets, 3);
	build(&b, 2); /* two batches back to back are accepted */
	ck_assert_int_eq(check(&b, MAX_MSG, &info, NULL), KFK_ERR_NONE);
	ck_assert_int_eq(info.batches, 2);
	ck_assert_int_eq(info.records, 5);
	ck_buf_free(&b);
}
END_TEST

/* Whether some record has a null key (a compacted topic refuses that). */
START_TEST(test_null_keys_seen)
{
	ck_batch_record_t recs[2];
	ck_buf_t b = CK_BUF_INIT;
	kfk_records_info_t info;
	size_t len = 0;

	memset(recs, 0, sizeof(recs));
	recs[0].key = "k0";
	recs[0].key_len = 2;
	recs[1].key = "k1";
	recs[1].key_len = 2;
	recs[1].value = "v"; /* recs[0] is a tombstone: keyed, null value */
	recs[1].value_len = 1;
	ck_assert_int_eq(ck_batch_build(&b, NULL, recs, 2, &len), 0);
	ck_assert_int_eq(check(&b, MAX_MSG, &info, NULL), KFK_ERR_NONE);
	ck_assert(!info.null_key);
	build(&b, 1); /* a second batch, keyless */
	ck_assert_int_eq(check(&b, MAX_MSG, &info, NULL), KFK_ERR_NONE);
	ck_assert(info.null_key);
	ck_buf_free(&b);
}
END_TEST

START_TEST(test_corrupt_and_invalid)
{
	ck_buf_t b = CK_BUF_INIT;
	size_t len;
	const char *why;

	ck_assert_int_eq(kfk_produce_records_check(NULL, -1, MAX_MSG, NULL, &why),
	                 KFK_ERR_INVALID_RECORD);
	ck_assert_int_eq(kfk_produce_records_check((const uint8_t *)"", 0, MAX_MSG, NULL, &why),
	                 KFK_ERR_INVALID_RECORD);

	len = build(&b, 2);
	b.data[len - 1] ^= 0x01; /* a flipped bit in the last record */
	ck_assert_int_eq(check(&b, MAX_MSG, NULL, &why), KFK_ERR_CORRUPT_MESSAGE);
	ck_assert_str_eq(why, "crc");

	ck_buf_reset(&b);
	len = build(&b, 2);
	ck_assert_int_eq(kfk_produce_records_check(b.data, (int32_t)len - 5, MAX_MSG, NULL, &why),
	                 KFK_ERR_CORRUPT_MESSAGE);
	ck_assert_int_eq(kfk_produce_records_check(b.data, 30, MAX_MSG, NULL, &why),
	                 KFK_ERR_CORRUPT_MESSAGE);

	/* Too large for max.message.bytes, even with a good CRC. */
	ck_assert_int_eq(check(&b, len - 1, NULL, &why), KFK_ERR_MESSAGE_TOO_LARGE);
	ck_assert_int_eq(check(&b, len, NULL, &why), KFK_ERR_NONE);

	/* Old message formats (magic 0/1) are refused on produce v3+. */
	b.data[CK_BATCH_OFF_MAGIC] = 1;
	ck_assert_int_eq(check(&b, MAX_MSG, NULL, &why), KFK_ERR_INVALID_RECORD);
	b.data[CK_BATCH_OFF_MAGIC] = 2;

	/* A count that disagrees with the offset range (CRC recomputed). */
	ck_be32_put(b.data + CK_BATCH_OFF_RECORDS_COUNT, 3);
	ck_batch_crc_update(b.data, len);
	ck_assert_int_eq(check(&b, MAX_MSG, NULL, &why), KFK_ERR_INVALID_RECORD);
	ck_be32_put(b.data + CK_BATCH_OFF_RECORDS_COUNT, 2);

	/* Control batches are the broker's, never a producer's. */
	ck_be16_put(b.data + CK_BATCH_OFF_ATTRIBUTES, CK_BATCH_ATTR_CONTROL);
	ck_batch_crc_update(b.data, len);
	ck_assert_int_eq(check(&b, MAX_MSG, NULL, &why), KFK_ERR_INVALID_RECORD);
	ck_assert_str_eq(why, "control batch");

	/* Transactional batches: transactions are not served. */
	ck_be16_put(b.data + CK_BATCH_OFF_ATTRIBUTES, CK_BATCH_ATTR_TRANSACTIONAL);
	ck_batch_crc_update(b.data, len);
	ck_assert_int_eq(check(&b, MAX_MSG, NULL, &why),
	                 KFK_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
	ck_be16_put(b.data + CK_BATCH_OFF_ATTRIBUTES, 0);
	ck_batch_crc_update(b.data, len);
	ck_assert_int_eq(check(&b, MAX_MSG, NULL, &why), KFK_ERR_NONE);
	ck_buf_free(&b);
}
END_TEST

/* BATCH (one uncompressed batch) turned into the same batch with its
 * records compressed by CODEC (1 gzip, 2 snappy with xerial framing, 3 lz4,
 * 4 zstd), CRC recomputed, into OUT (reset). With TRUNCATE, the compressed
 * stream loses its last bytes (the batch length and CRC still agree). */
static void compress_batch(const ck_buf_t *batch, int codec, bool truncate, ck_buf_t *out)
{
	const uint8_t *rec = batch->data + CK_BATCH_HEADER_LEN;
	size_t rlen = batch->len - CK_BATCH_HEADER_LEN, clen = 0;
	uint8_t *c = malloc(rlen * 2 + 1024);

	ck_assert_ptr_nonnull(c);
	if (codec == 1) {
		z_stream zs;

		memset(&zs, 0, sizeof(zs));
		ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
		                 Z_OK);
		zs.next_in = (Bytef *)(uintptr_t)rec;
		zs.avail_in = (uInt)rlen;
		zs.next_out = c;
		zs.avail_out = (uInt)(rlen * 2 + 1024);
		ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
		clen = zs.total_out;
		deflateEnd(&zs);
	} else if (codec == 2) {
		static const uint8_t hdr[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
		                                0,    0,   0,   1,   0,   0,   0,   1};
		size_t n = rlen * 2 + 1000;

		memcpy(c, hdr, 16);
		ck_assert_int_eq(snappy_compress((const char *)rec, rlen, (char *)c + 20, &n),
		                 SNAPPY_OK);
		ck_be32_put(c + 16, (uint32_t)n);
		clen = 20 + n;
	} else if (codec == 3) {
		clen = LZ4F_compressFrame(c, rlen * 2 + 1024, rec, rlen, NULL);
		ck_assert(!LZ4F_isError(clen));
	} else {
		clen = ZSTD_compress(c, rlen * 2 + 1024, rec, rlen, 3);
		ck_assert(!ZSTD_isError(clen));
	}
	if (truncate)
		clen -= 3;
	out->len = 0;
	ck_assert_int_eq(ck_buf_append(out, batch->data, CK_BATCH_HEADER_LEN), 0);
	ck_assert_int_eq(ck_buf_append(out, c, clen), 0);
	ck_be32_put(out->data + CK_BATCH_OFF_LENGTH, (uint32_t)(out->len - 12));
	ck_be16_put(out->data + CK_BATCH_OFF_ATTRIBUTES, (uint16_t)codec);
	ck_batch_crc_update(out->data, out->len);
	free(c);
}

/* Compressed batches are decompressed and their records checked like
 * uncompressed ones: every codec Kafka has; a stream that is not its
 * codec's, or stops short, is CORRUPT_MESSAGE; a keyless record and the
 * timestamps are seen inside. */
START_TEST(test_compressed_records_checked)
{
	ck_buf_t b = CK_BUF_INIT, z = CK_BUF_INIT;
	kfk_records_info_t info;
	const char *why;

	build(&b, 5);
	for (int codec = 1; codec <= 4; codec++) {
		compress_batch(&b, codec, false, &z);
		ck_assert_msg(check(&z, MAX_MSG, &info, &why) == KFK_ERR_NONE, "codec %d: %s",
		              codec, why);
		ck_assert(info.compressed);
		ck_assert(info.zstd == (codec == 4)); /* Produce v7+ only */
		ck_assert_int_eq(info.records, 5);
		ck_assert(info.null_key); /* build() makes keyless records */
		ck_assert_int_eq(info.min_ts, 1700000000000);
		ck_assert_int_eq(info.max_ts, 1700000000004);
		compress_batch(&b, codec, true, &z);
		ck_assert_msg(check(&z, MAX_MSG, &info, &why) == KFK_ERR_CORRUPT_MESSAGE,
		              "codec %d truncated", codec);
	}
	/* Marked gzip, but the records are not compressed at all. */
	ck_be16_put(b.data + CK_BATCH_OFF_ATTRIBUTES, 1);
	ck_batch_crc_update(b.data, b.len);
	ck_assert_int_eq(check(&b, MAX_MSG, NULL, &why), KFK_ERR_CORRUPT_MESSAGE);
	ck_assert_str_eq(why, "compressed records");
	/* An unknown codec is corrupt. */
	ck_be16_put(b.data + CK_BATCH_OFF_ATTRIBUTES, 6);
	ck_batch_crc_update(b.data, b.len);
	ck_assert_int_eq(check(&b, MAX_MSG, NULL, NULL), KFK_ERR_CORRUPT_MESSAGE);
	/* A record count the decompressed records do not match. */
	b.len = 0;
	build(&b, 3);
	compress_batch(&b, 4, false, &z);
	ck_be32_put(z.data + CK_BATCH_OFF_RECORDS_COUNT, 2);
	ck_be32_put(z.data + CK_BATCH_OFF_LAST_OFFSET_DELTA, 1);
	ck_batch_crc_update(z.data, z.len);
	ck_assert_int_ne(check(&z, MAX_MSG, NULL, NULL), KFK_ERR_NONE);
	ck_buf_free(&b);
	ck_buf_free(&z);
}
END_TEST

/* A small batch whose records decompress past the bound is refused before
 * the broker holds them all (a zstd stream of 80 MiB of zeros). */
START_TEST(test_decompression_bounded)
{
	size_t big = (size_t)80 << 20, cap = ZSTD_compressBound(big);
	uint8_t *zeros = calloc(1, big), *c = malloc(cap);
	ck_buf_t b = CK_BUF_INIT, z = CK_BUF_INIT;
	size_t clen;
	const char *why;

	ck_assert_ptr_nonnull(zeros);
	ck_assert_ptr_nonnull(c);
	clen = ZSTD_compress(c, cap, zeros, big, 1);
	ck_assert(!ZSTD_isError(clen));
	build(&b, 1);
	ck_assert_int_eq(ck_buf_append(&z, b.data, CK_BATCH_HEADER_LEN), 0);
	ck_assert_int_eq(ck_buf_append(&z, c, clen), 0);
	ck_be32_put(z.data + CK_BATCH_OFF_LENGTH, (uint32_t)(z.len - 12));
	ck_be16_put(z.data + CK_BATCH_OFF_ATTRIBUTES, 4);
	ck_batch_crc_update(z.data, z.len);
	ck_assert_int_eq(check(&z, MAX_MSG, NULL, &why), KFK_ERR_MESSAGE_TOO_LARGE);
	free(zeros);
	free(c);
	ck_buf_free(&b);
	ck_buf_free(&z);
}
END_TEST

/* Record timestamps against message.timestamp.before/after.max.ms. */
START_TEST(test_timestamp_bounds)
{
	ck_batch_record_t recs[3];
	ck_buf_t b = CK_BUF_INIT;
	kfk_records_info_t info;
	const int64_t now = 1700000000000;
	size_t len = 0;

	memset(recs, 0, sizeof(recs));
	recs[0].timestamp_ms = now - 500;
	recs[1].timestamp_ms = -1; /* no timestamp: never out of range */
	recs[2].timestamp_ms = now + 200;
	ck_assert_int_eq(ck_batch_build(&b, NULL, recs, 3, &len), 0);
	ck_assert_int_eq(check(&b, MAX_MSG, &info, NULL), KFK_ERR_NONE);
	ck_assert_int_eq(info.min_ts, now - 500);
	ck_assert_int_eq(info.max_ts, now + 200);
	ck_assert_int_eq(kfk_produce_ts_check(&info, now, INT64_MAX, INT64_MAX), KFK_ERR_NONE);
	ck_assert_int_eq(kfk_produce_ts_check(&info, now, 500, 200), KFK_ERR_NONE);
	ck_assert_int_eq(kfk_produce_ts_check(&info, now, 499, 200), KFK_ERR_INVALID_TIMESTAMP);
	ck_assert_int_eq(kfk_produce_ts_check(&info, now, 500, 199), KFK_ERR_INVALID_TIMESTAMP);
	ck_assert_int_eq(kfk_produce_ts_check(&info, now, 0, INT64_MAX), KFK_ERR_INVALID_TIMESTAMP);
	/* Extreme timestamps against the widest bounds: no overflow. */
	info.min_ts = INT64_MIN;
	info.max_ts = INT64_MAX;
	ck_assert_int_eq(kfk_produce_ts_check(&info, now, INT64_MAX, INT64_MAX), KFK_ERR_NONE);
	ck_assert_int_eq(kfk_produce_ts_check(&info, now, INT64_MAX, 0), KFK_ERR_INVALID_TIMESTAMP);
	info.max_ts = INT64_MIN;
	ck_assert_int_eq(kfk_produce_ts_check(&info, now, 0, 0), KFK_ERR_INVALID_TIMESTAMP);
	ck_buf_free(&b);

	/* Only records without a timestamp: nothing to check. */
	recs[0].timestamp_ms = -1;
	ck_assert_int_eq(ck_batch_build(&b, NULL, recs, 2, &len), 0);
	ck_assert_int_eq(check(&b, MAX_MSG, &info, NULL), KFK_ERR_NONE);
	ck_assert_int_eq(kfk_produce_ts_check(&info, now, 0, 0), KFK_ERR_NONE);
	ck_buf_free(&b);
}
END_TEST

START_TEST(test_acks_rules)
{
	ck_assert_int_eq(kfk_produce_acks_check(0), KFK_ERR_NONE);
	ck_assert_int_eq(kfk_produce_acks_check(1), KFK_ERR_NONE);
	ck_assert_int_eq(kfk_produce_acks_check(-1), KFK_ERR_NONE);
	ck_assert_int_eq(kfk_produce_acks_check(2), KFK_ERR_INVALID_REQUIRED_ACKS);
	ck_assert_int_eq(kfk_produce_acks_check(-2), KFK_ERR_INVALID_REQUIRED_ACKS);

	ck_assert_int_eq(kfk_produce_isr_check(KFK_ACKS_ALL, 1, 2), KFK_ERR_NOT_ENOUGH_REPLICAS);
	ck_assert_int_eq(kfk_produce_isr_check(KFK_ACKS_ALL, 2, 2), KFK_ERR_NONE);
	ck_assert_int_eq(kfk_produce_isr_check(KFK_ACKS_LEADER, 1, 2), KFK_ERR_NONE);
	ck_assert_int_eq(kfk_produce_after_append(1, 2), KFK_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
	ck_assert_int_eq(kfk_produce_after_append(2, 2), KFK_ERR_NONE);
	ck_assert_int_eq(kfk_produce_after_append(0, 2), KFK_ERR_NONE); /* not known yet */

	/* acks=1 answers after the append once the high watermark covers it
	 * while the leader is alone in the ISR, whatever it is with followers. */
	ck_assert(!kfk_produce_covered(KFK_ACKS_LEADER, 10, 10, 1));
	ck_assert(kfk_produce_covered(KFK_ACKS_LEADER, 10, 11, 1));
	ck_assert(kfk_produce_covered(KFK_ACKS_LEADER, 10, 0, 2));
	ck_assert(kfk_produce_covered(KFK_ACKS_NONE, 10, 0, 1));
	/* acks=all needs the high watermark past the last offset. */
	ck_assert(!kfk_produce_covered(KFK_ACKS_ALL, 10, 10, 1));
	ck_assert(!kfk_produce_covered(KFK_ACKS_ALL, 10, 10, 3));
	ck_assert(kfk_produce_covered(KFK_ACKS_ALL, 10, 11, 3));
	ck_assert(!kfk_produce_covered(KFK_ACKS_ALL, 0, -1, 1));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_produce_core");
	TCase *tc = tcase_create("produce");

	tcase_add_test(tc, test_valid_sets);
	tcase_add_test(tc, test_null_keys_seen);
	tcase_add_test(tc, test_corrupt_and_invalid);
	tcase_add_test(tc, test_compressed_records_checked);
	tcase_add_test(tc, test_decompression_bounded);
	tcase_add_test(tc, test_timestamp_bounds);
	tcase_add_test(tc, test_acks_rules);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
