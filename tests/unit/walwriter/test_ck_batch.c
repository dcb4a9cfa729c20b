/*
 * test_ck_batch.c: unit tests of the RecordBatch v2 module (common/ck_batch.h):
 * golden bytes from a real Kafka client library, builder/iterator round
 * trips (null keys and values, headers, negative timestamp deltas), every
 * validation rejection, in-place edits outside and inside the CRC.
 */
#include <errno.h>
#include <stdint.h>

#include "ck_batch.h"
#include "ck_crc32c.h"
#include "ck_err.h"
#include "wal_test.h"

/*
 * Built by kafka-python 2.0.2's DefaultRecordBatchBuilder (magic 2, no
 * compression, producer -1/-1/-1) from:
 *   offset 0 ts 1700000000000 key "k1" value "hello" headers [h1=v1]
 *   offset 1 ts 1700000000005 key null value "world"
 *   offset 2 ts 1699999999990 key "" value null headers [a=null, bb=""]
 */
static const char golden_hex[] =
    "00000000000000000000005f0000000002d6b6e7c90000000000020000018bcfe568000000018bcfe5680"
    "5ffffffffffffffffffffffffffff0000000326000000046b310a68656c6c6f0204683104763116000a02"
    "010a776f726c64001a00130400010402610104626200";

static size_t golden(uint8_t *out)
{
	size_t n = strlen(golden_hex) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(golden_hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void golden_records(ck_batch_record_t *recs, ck_record_header_t *h0, ck_record_header_t *h2)
{
	memset(recs, 0, 3 * sizeof(*recs));
	h0[0] = (ck_record_header_t){"h1", 2, "v1", 2};
	h2[0] = (ck_record_header_t){"a", 1, NULL, 0};
	h2[1] = (ck_record_header_t){"bb", 2, "", 0};
	recs[0] = (ck_batch_record_t){"k1", 2, "hello", 5, 1700000000000LL, h0, 1};
	recs[1] = (ck_batch_record_t){NULL, 0, "world", 5, 1700000000005LL, NULL, 0};
	recs[2] = (ck_batch_record_t){"", 0, NULL, 0, 1699999999990LL, h2, 2};
}

START_TEST(test_builder_matches_kafka_client)
{
	uint8_t want[256];
	size_t n = golden(want), len = 0;
	ck_batch_record_t recs[3];
	ck_record_header_t h0[1], h2[2];
	ck_batch_opts_t o = CK_BATCH_OPTS_INIT;
	ck_buf_t out = CK_BUF_INIT;

	golden_records(recs, h0, h2);
	o.partition_leader_epoch = 0;
	ck_assert_int_eq(ck_batch_build(&out, &o, recs, 3, &len), 0);
	ck_assert_uint_eq(len, n);
	ck_assert_uint_eq(out.len, n);
	ck_assert_mem_eq(out.data, want, n);
	ck_buf_free(&out);
}
END_TEST

START_TEST(test_golden_parse_and_iterate)
{
	uint8_t b[256];
	size_t n = golden(b);
	ck_batch_header_t h;
	ck_record_iter_t it;
	ck_record_t r;
	ck_record_header_t hd;
	ck_span_t hs;

	ck_assert_int_eq(ck_batch_validate(b, n, 0, &h), (int)n);
	ck_assert_int_eq(h.magic, 2);
	ck_assert_int_eq(h.last_offset_delta, 2);
	ck_assert_int_eq(h.records_count, 3);
	ck_assert_int_eq(h.base_timestamp, 1700000000000LL);
	ck_assert_int_eq(h.max_timestamp, 1700000000005LL);
	ck_assert_int_eq(h.producer_id, -1);
	ck_assert_int_eq(ck_batch_next_offset(&h), 3);

	ck_assert_int_eq(ck_record_iter_init(&it, b, n), 0);
	ck_assert_int_eq(ck_record_iter_next(&it, &r), 1);
	ck_assert_int_eq(r.offset, 0);
	ck_assert_int_eq(r.timestamp_ms, 1700000000000LL);
	ck_assert_int_eq(r.key_len, 2);
	ck_assert_mem_eq(r.key, "k1", 2);
	ck_assert_int_eq(r.value_len, 5);
	ck_assert_mem_eq(r.value, "hello", 5);
	ck_assert_uint_eq(r.header_count, 1);
	hs = r.headers;
	ck_assert_int_eq(ck_record_header_next(&hs, &hd), 1);
	ck_assert_uint_eq(hd.key_len, 2);
	ck_assert_mem_eq(hd.key, "h1", 2);
	ck_assert_int_eq(hd.value_len, 2);
	ck_assert_mem_eq(hd.value, "v1", 2);
	ck_assert_int_eq(ck_record_header_next(&hs, &hd), 0);

	ck_assert_int_eq(ck_record_iter_next(&it, &r), 1);
	ck_assert_int_eq(r.offset, 1);
	ck_assert_ptr_null(r.key);
	ck_assert_int_eq(r.key_len, -1);
	ck_assert_mem_eq(r.value, "world", 5);

	ck_assert_int_eq(ck_record_iter_next(&it, &r), 1);
	ck_assert_int_eq(r.offset, 2);
	ck_assert_int_eq(r.timestamp_ms, 1699999999990LL); /* negative delta */
	ck_assert_int_eq(r.key_len, 0);
	ck_assert_ptr_null(r.value);
	ck_assert_int_eq(r.value_len, -1);
	ck_assert_uint_eq(r.header_count, 2);
	hs = r.headers;
	ck_assert_int_eq(ck_record_header_next(&hs, &hd), 1);
	ck_assert_ptr_null(hd.value);
	ck_assert_int_eq(hd.value_len, -1);
	ck_assert_int_eq(ck_record_header_next(&hs, &hd), 1);
	ck_assert_int_eq(hd.value_len, 0);
	ck_assert_int_eq(ck_record_iter_next(&it, &r), 0);
}
END_TEST

START_TEST(test_builder_round_trip_sizes)
{
	/* Values around the 1-byte/2-byte varint boundaries and a big one. */
	static const size_t sizes[] = {0, 1, 63, 64, 127, 128, 8191, 8192, 100000};
	ck_buf_t out = CK_BUF_INIT;
	ck_batch_opts_t o = CK_BATCH_OPTS_INIT;
	ck_batch_builder_t b;
	ck_record_iter_t it;
	ck_record_t r;
	uint8_t *val = malloc(100000);
	size_t len;

	for (size_t i = 0; i < 100000; i++)
		val[i] = (uint8_t)(i * 13 + 7);
	o.base_offset = 1000;
	o.partition_leader_epoch = 7;
	o.producer_id = 42;
	o.producer_epoch = 3;
	o.base_sequence = 99;
	ck_assert_int_eq(ck_batch_builder_begin(&b, &out, &o), 0);
	for (size_t i = 0; i < CK_ARRAY_LEN(sizes); i++) {
		ck_batch_record_t rec = {"key", 3, val, sizes[i], 5000 - (int64_t)i * 1000,
		                         NULL,  0};
		ck_assert_int_eq(ck_batch_builder_add(&b, &rec), 0);
	}
	ck_assert_int_eq(ck_batch_builder_finish(&b, &len), 0);
	ck_assert_int_eq(ck_batch_validate(out.data, out.len, 0, NULL), (int)len);
	ck_assert_int_eq(ck_record_iter_init(&it, out.data, len), 0);
	ck_assert_int_eq(it.hdr.base_offset, 1000);
	ck_assert_int_eq(it.hdr.partition_leader_epoch, 7);
	ck_assert_int_eq(it.hdr.producer_id, 42);
	ck_assert_int_eq(it.hdr.producer_epoch, 3);
	ck_assert_int_eq(it.hdr.base_sequence, 99);
	ck_assert_int_eq(it.hdr.max_timestamp, 5000);
	for (size_t i = 0; i < CK_ARRAY_LEN(sizes); i++) {
		ck_assert_int_eq(ck_record_iter_next(&it, &r), 1);
		ck_assert_int_eq(r.offset, 1000 + (int64_t)i);
		ck_assert_int_eq(r.timestamp_ms, 5000 - (int64_t)i * 1000);
		ck_assert_int_eq(r.value_len, (int32_t)sizes[i]);
		if (sizes[i])
			ck_assert_mem_eq(r.value, val, sizes[i]);
	}
	ck_assert_int_eq(ck_record_iter_next(&it, &r), 0);
	free(val);
	ck_buf_free(&out);
}
END_TEST

START_TEST(test_builder_rejects)
{
	ck_buf_t out = CK_BUF_INIT;
	ck_batch_opts_t o = CK_BATCH_OPTS_INIT;
	ck_batch_builder_t b;
	ck_record_header_t bad = {"x", 1, "v", -5};
	ck_batch_record_t rec = {"k", 1, "v", 1, 0, &bad, 1};

	ck_assert_int_eq(ck_buf_append(&out, "prefix", 6), 0);
	/* No records. */
	ck_assert_int_eq(ck_batch_builder_begin(&b, &out, NULL), 0);
	ck_assert_int_eq(ck_batch_builder_finish(&b, NULL), CK_E_INVALID);
	ck_assert_uint_eq(out.len, 6); /* the partial batch is gone */
	/* Compression is not the builder's business. */
	o.attributes = 1;
	ck_assert_int_eq(ck_batch_builder_begin(&b, &out, &o), CK_E_INVALID);
	ck_assert_uint_eq(out.len, 6);
	/* A negative header value length other than null: sticky error. */
	ck_assert_int_eq(ck_batch_builder_begin(&b, &out, NULL), 0);
	ck_assert_int_eq(ck_batch_builder_add(&b, &rec), CK_E_INVALID);
	rec.header_count = 0;
	ck_assert_int_eq(ck_batch_builder_add(&b, &rec), CK_E_INVALID);
	ck_assert_int_eq(ck_batch_builder_finish(&b, NULL), CK_E_INVALID);
	ck_assert_uint_eq(out.len, 6);
	ck_assert_mem_eq(out.data, "prefix", 6);
	ck_buf_free(&out);
}
END_TEST

/* A valid batch of 2 records in BUF; returns its length. */
static size_t sample(ck_buf_t *buf)
{
	ck_buf_reset(buf);
	return wal_test_batch(buf, 0, 2, 20, 1, 1000);
}

static void recrc(uint8_t *p, size_t len)
{
	ck_batch_crc_update(p, len);
}

START_TEST(test_validate_rejections)
{
	ck_buf_t buf = CK_BUF_INIT;
	size_t n = sample(&buf);
	uint8_t *p = buf.data;

	ck_assert_int_eq(ck_batch_validate(p, n, 0, NULL), (int)n);
	/* Shorter than a header, or than the batch. */
	ck_assert_int_eq(ck_batch_validate(p, 60, 0, NULL), CK_E_CORRUPT);
	ck_assert_int_eq(ck_batch_validate(p, n - 1, 0, NULL), CK_E_CORRUPT);
	/* Over the caller's maximum. */
	ck_assert_int_eq(ck_batch_validate(p, n, n - 1, NULL), CK_E_TOO_LARGE);
	ck_assert_int_eq(ck_batch_validate(p, n, n, NULL), (int)n);
	/* batchLength below the minimum, or absurd. */
	n = sample(&buf), p = buf.data;
	ck_be32_put(p + 8, 48);
	ck_assert_int_eq(ck_batch_validate(p, n, 0, NULL), CK_E_CORRUPT);
	ck_be32_put(p + 8, 0x7fffffff);
	ck_assert_int_eq(ck_batch_validate(p, n, 1 << 20, NULL), CK_E_TOO_LARGE);
	ck_be32_put(p + 8, 0xffffffff);
	ck_assert_int_eq(ck_batch_validate(p, n, 0, NULL), CK_E_CORRUPT);
	/* Magic. */
	n = sample(&buf), p = buf.data;
	p[16] = 1;
	ck_assert_int_eq(ck_batch_validate(p, n, 0, NULL), CK_E_CORRUPT);
	/* CRC: any byte after it. */
	for (size_t i = CK_BATCH_CRC_START; i < n; i += 7) {
		n = sample(&buf), p = buf.data;
		p[i] ^= 0x10;
		ck_assert_int_eq(ck_batch_validate(p, n, 0, NULL), CK_E_CORRUPT);
	}
	n = sample(&buf), p = buf.data;
	p[18] ^= 1; /* the CRC itself */
	ck_assert_int_eq(ck_batch_validate(p, n, 0, NULL), CK_E_CORRUPT);
	/* Negative lastOffsetDelta / recordsCount, even with a good CRC. */
	n = sample(&buf), p = buf.data;
	ck_be32_put(p + 23, (uint32_t)-1);
	recrc(p, n);
	ck_assert_int_eq(ck_batch_validate(p, n, 0, NULL), CK_E_CORRUPT);
	n = sample(&buf), p = buf.data;
	ck_be32_put(p + 57, (uint32_t)-3);
	recrc(p, n);
	ck_assert_int_eq(ck_batch_validate(p, n, 0, NULL), CK_E_CORRUPT);
	/* Negative base offset. */
	n = sample(&buf), p = buf.data;
	ck_batch_base_offset_set(p, -5);
	ck_assert_int_eq(ck_batch_validate(p, n, 0, NULL), CK_E_CORRUPT);
	ck_buf_free(&buf);
}
END_TEST

START_TEST(test_size_peek)
{
	ck_buf_t buf = CK_BUF_INIT;
	size_t n = sample(&buf), total = 0;

	ck_assert_int_eq(ck_batch_size_peek(buf.data, 12, 0, &total), 0);
	ck_assert_uint_eq(total, n);
	ck_assert_int_eq(ck_batch_size_peek(buf.data, 11, 0, &total), CK_E_CORRUPT);
	ck_assert_int_eq(ck_batch_size_peek(buf.data, 12, n - 1, &total), CK_E_TOO_LARGE);
	ck_be32_put(buf.data + 8, 0);
	ck_assert_int_eq(ck_batch_size_peek(buf.data, 12, 0, &total), CK_E_CORRUPT);
	ck_buf_free(&buf);
}
END_TEST

START_TEST(test_set_validate)
{
	ck_buf_t buf = CK_BUF_INIT;
	int64_t records = 0;
	size_t a, b;

	a = wal_test_batch(&buf, 0, 3, 10, 1, 0);
	b = wal_test_batch(&buf, 3, 5, 10, 2, 0);
	ck_assert_int_eq(ck_batch_set_validate(buf.data, a + b, 0, &records), 2);
	ck_assert_int_eq(records, 8);
	ck_assert_int_eq(ck_batch_set_validate(buf.data, a + b - 1, 0, NULL), CK_E_CORRUPT);
	ck_assert_int_eq(ck_batch_set_validate(buf.data, 0, 0, NULL), CK_E_CORRUPT);
	ck_assert_int_eq(ck_batch_set_validate(buf.data, a + b, b - 1, NULL), CK_E_TOO_LARGE);
	buf.data[a + 30] ^= 1;
	ck_assert_int_eq(ck_batch_set_validate(buf.data, a + b, 0, NULL), CK_E_CORRUPT);
	ck_buf_free(&buf);
}
END_TEST

START_TEST(test_setters_outside_crc)
{
	ck_buf_t buf = CK_BUF_INIT;
	size_t n = sample(&buf);
	ck_batch_header_t h;

	ck_batch_base_offset_set(buf.data, 123456789012LL);
	ck_batch_leader_epoch_set(buf.data, 77);
	ck_assert_int_eq(ck_batch_validate(buf.data, n, 0, &h), (int)n);
	ck_assert_int_eq(h.base_offset, 123456789012LL);
	ck_assert_int_eq(h.partition_leader_epoch, 77);
	ck_buf_free(&buf);
}
END_TEST

START_TEST(test_log_append_time)
{
	ck_buf_t buf = CK_BUF_INIT;
	size_t n = sample(&buf);
	ck_batch_header_t h;
	ck_record_iter_t it;
	ck_record_t r;

	ck_batch_log_append_time_set(buf.data, n, 1234567);
	ck_assert_int_eq(ck_batch_validate(buf.data, n, 0, &h), (int)n);
	ck_assert_int_ne(h.attributes & CK_BATCH_ATTR_LOG_APPEND_TIME, 0);
	ck_assert_int_eq(h.max_timestamp, 1234567);
	ck_assert_int_eq(h.base_timestamp, 1234567);
	ck_assert_int_eq(ck_record_iter_init(&it, buf.data, n), 0);
	while (ck_record_iter_next(&it, &r) == 1)
		ck_assert_int_eq(r.timestamp_ms, 1234567);
	ck_buf_free(&buf);
}
END_TEST

START_TEST(test_iter_rejects)
{
	ck_buf_t buf = CK_BUF_INIT;
	size_t n = sample(&buf);
	ck_record_iter_t it;
	ck_record_t r;

	/* Not exactly one batch. */
	ck_assert_int_eq(ck_record_iter_init(&it, buf.data, n - 1), CK_E_CORRUPT);
	/* Compressed. */
	ck_be16_put(buf.data + 21, 1);
	ck_assert_int_eq(ck_record_iter_init(&it, buf.data, n), -ENOTSUP);
	/* More records announced than present. */
	n = sample(&buf);
	ck_be32_put(buf.data + 57, 3);
	ck_assert_int_eq(ck_record_iter_init(&it, buf.data, n), 0);
	ck_assert_int_eq(ck_record_iter_next(&it, &r), 1);
	ck_assert_int_eq(ck_record_iter_next(&it, &r), 1);
	ck_assert_int_eq(ck_record_iter_next(&it, &r), CK_E_CORRUPT);
	/* Fewer announced: trailing bytes. */
	n = sample(&buf);
	ck_be32_put(buf.data + 57, 1);
	ck_assert_int_eq(ck_record_iter_init(&it, buf.data, n), 0);
	ck_assert_int_eq(ck_record_iter_next(&it, &r), 1);
	ck_assert_int_eq(ck_record_iter_next(&it, &r), CK_E_CORRUPT);
	/* A record length running past the batch. */
	n = sample(&buf);
	buf.data[61] = 0x7e; /* zig-zag 63 */
	ck_assert_int_eq(ck_record_iter_init(&it, buf.data, n), 0);
	ck_assert_int_eq(ck_record_iter_next(&it, &r), CK_E_CORRUPT);
	/* An offset delta beyond lastOffsetDelta. */
	n = sample(&buf);
	ck_be32_put(buf.data + 23, 0);
	ck_assert_int_eq(ck_record_iter_init(&it, buf.data, n), 0);
	ck_assert_int_eq(ck_record_iter_next(&it, &r), 1);
	ck_assert_int_eq(ck_record_iter_next(&it, &r), CK_E_CORRUPT);
	/* A negative count given to init_records, which does not validate
	 * (INT32_MIN: no count-down past it; found by fuzz_records through
	 * the legacy down-conversion): corrupt, every time. */
	n = sample(&buf);
	ck_assert_int_eq(ck_record_iter_init(&it, buf.data, n), 0);
	{
		ck_batch_header_t h = it.hdr;

		h.records_count = INT32_MIN;
		ck_record_iter_init_records(&it, &h, buf.data + 61, n - 61);
		ck_assert_int_eq(ck_record_iter_next(&it, &r), CK_E_CORRUPT);
		ck_assert_int_eq(ck_record_iter_next(&it, &r), CK_E_CORRUPT);
		ck_record_iter_init_records(&it, &h, NULL, 0);
		ck_assert_int_eq(ck_record_iter_next(&it, &r), CK_E_CORRUPT);
	}
	ck_buf_free(&buf);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ck_batch");
	TCase *tc = tcase_create("batch");

	tcase_add_test(tc, test_builder_matches_kafka_client);
	tcase_add_test(tc, test_golden_parse_and_iterate);
	tcase_add_test(tc, test_builder_round_trip_sizes);
	tcase_add_test(tc, test_builder_rejects);
	tcase_add_test(tc, test_validate_rejections);
	tcase_add_test(tc, test_size_peek);
	tcase_add_test(tc, test_set_validate);
	tcase_add_test(tc, test_setters_outside_crc);
	tcase_add_test(tc, test_log_append_time);
	tcase_add_test(tc, test_iter_rejects);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(suite());
}
