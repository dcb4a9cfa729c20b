/*
 * test_walbench_core.c: unit tests of the pure part of chronik-walbench
 * (walbench_core.c): the batches it appends must be valid RecordBatch v2,
 * frames must split exactly, percentiles must be nearest-rank.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ck_batch.h"
#include "ck_buf.h"
#include "ck_crc32c.h"
#include "ck_err.h"
#include "walbench_core.h"

/* Walks every record of BATCH (LEN bytes) the way a Kafka consumer would and
 * checks the header against what was found. Returns the record count. */
static int32_t batch_verify(const uint8_t *b, size_t len, uint8_t fill)
{
	ck_span_t s = ck_span(b + 61, len - 61);
	int32_t count = (int32_t)ck_be32_get(b + 57);
	ck_batch_header_t hdr;
	int64_t set_records = 0;

	/* The shared validator walwriter uses must accept it too. */
	ck_assert_int_eq(ck_batch_validate(b, len, 0, &hdr), (int)len);
	ck_assert_int_eq(ck_batch_set_validate(b, len, 0, &set_records), 1);
	ck_assert_int_eq(set_records, count);

	ck_assert_uint_eq(ck_be64_get(b), 0);
	ck_assert_uint_eq(ck_be32_get(b + 8), len - 12);
	ck_assert_uint_eq(b[16], 2);
	ck_assert_uint_eq(ck_be32_get(b + 17), ck_crc32c(0, b + 21, len - 21));
	ck_assert_uint_eq(ck_be16_get(b + 21), 0);
	ck_assert_uint_eq(ck_be32_get(b + 23), (uint32_t)(count - 1));
	ck_assert_uint_eq(ck_be64_get(b + 27), ck_be64_get(b + 35));
	ck_assert_uint_eq(ck_be64_get(b + 43), UINT64_MAX);
	for (int32_t i = 0; i < count; i++) {
		int64_t rec_len, ts_delta, off_delta, key_len, val_len, headers;
		const uint8_t *val;
		uint8_t attr;
		size_t before;

		ck_assert_int_eq(ck_span_varint64(&s, &rec_len), 0);
		before = s.len;
		ck_assert_int_eq(ck_span_u8(&s, &attr), 0);
		ck_assert_int_eq(ck_span_varint64(&s, &ts_delta), 0);
		ck_assert_int_eq(ck_span_varint64(&s, &off_delta), 0);
		ck_assert_int_eq(ck_span_varint64(&s, &key_len), 0);
		ck_assert_int_eq(ck_span_varint64(&s, &val_len), 0);
		ck_assert_int_ge(val_len, 0);
		ck_assert_int_eq(ck_span_bytes(&s, (size_t)val_len, &val), 0);
		ck_assert_int_eq(ck_span_varint64(&s, &headers), 0);
		ck_assert_int_eq(attr, 0);
		ck_assert_int_eq(ts_delta, 0);
		ck_assert_int_eq(off_delta, i);
		ck_assert_int_eq(key_len, -1);
		ck_assert_int_eq(headers, 0);
		ck_assert_int_eq(rec_len, (int64_t)(before - s.len));
		for (int64_t k = 0; k < val_len; k++)
			if (val[k] != fill)
				ck_abort_msg("record %d byte %lld is %u", i, (long long)k, val[k]);
	}
	ck_assert_uint_eq(s.len, 0);
	return count;
}

START_TEST(test_batch_1k_and_64k_exact)
{
	ck_buf_t buf = CK_BUF_INIT;
	size_t len;
	int32_t records;

	ck_assert_int_eq(wb_batch_build(&buf, 1024, 1700000000000, 'v', &len, &records), 0);
	ck_assert_uint_eq(len, 1024);
	ck_assert_uint_eq(buf.len, 1024);
	ck_assert_int_eq(records, 1);
	ck_assert_int_eq(batch_verify(buf.data, len, 'v'), 1);
	ck_assert_uint_eq(ck_be64_get(buf.data + 27), 1700000000000ull);

	/* Building again replaces the previous batch. */
	ck_assert_int_eq(wb_batch_build(&buf, 65536, 42, 'q', &len, &records), 0);
	ck_assert_uint_eq(len, 65536);
	ck_assert_uint_eq(buf.len, 65536);
	ck_assert_int_eq(records, 64);
	ck_assert_int_eq(batch_verify(buf.data, len, 'q'), 64);
	ck_buf_free(&buf);
}
END_TEST

START_TEST(test_batch_many_sizes)
{
	ck_buf_t buf = CK_BUF_INIT;

	for (size_t want = WB_BATCH_MIN_LEN; want < 200000; want += want < 4096 ? 1 : 4999) {
		size_t len = 0;
		int32_t records = 0;

		ck_assert_int_eq(wb_batch_build(&buf, want, 1, 'z', &len, &records), 0);
		ck_assert_uint_le(len, want);
		ck_assert_uint_ge(len + 2, want);
		ck_assert_int_eq(records, want < 2048 ? 1 : (int32_t)(want / 1024));
		ck_assert_int_eq(batch_verify(buf.data, len, 'z'), records);
	}
	ck_buf_free(&buf);
}
END_TEST

START_TEST(test_batch_rejects_tiny)
{
	ck_buf_t buf = CK_BUF_INIT;
	size_t len = 7;
	int32_t records = 7;

	ck_assert_int_eq(wb_batch_build(&buf, WB_BATCH_MIN_LEN - 1, 1, 'z', &len, &records),
			 CK_E_INVALID);
	ck_assert_uint_eq(len, 7);
	ck_assert_int_eq(records, 7);
	ck_assert_uint_eq(buf.len, 0);
}
END_TEST

START_TEST(test_frame_split)
{
	uint8_t buf[32] = {3, 0, 0, 0, 'a', 'b', 'c', 1, 0, 0, 0, 'x', 2, 0};
	const uint8_t *p = NULL;
	size_t plen = 0;

	ck_assert_int_eq(wb_frame_next(buf, 3, 100, &p, &plen), 0);
	ck_assert_int_eq(wb_frame_next(buf, 6, 100, &p, &plen), 0);
	ck_assert_int_eq(wb_frame_next(buf, 14, 100, &p, &plen), 7);
	ck_assert_ptr_eq(p, buf + 4);
	ck_assert_uint_eq(plen, 3);
	ck_assert_int_eq(wb_frame_next(buf + 7, 7, 100, &p, &plen), 5);
	ck_assert_uint_eq(plen, 1);
	ck_assert_uint_eq(p[0], 'x');
	/* Two bytes of the third header only. */
	ck_assert_int_eq(wb_frame_next(buf + 12, 2, 100, &p, &plen), 0);
	ck_assert_int_eq(wb_frame_next(buf, 14, 2, &p, &plen), CK_E_PROTO);
	memset(buf, 0, 8);
	ck_assert_int_eq(wb_frame_next(buf, 8, 100, &p, &plen), CK_E_PROTO);
}
END_TEST

START_TEST(test_stats_nearest_rank)
{
	wb_samples_t s = {0};
	wb_stats_t st;

	/* Inserted in reverse so the sort matters. */
	for (uint64_t v = 1000; v >= 1; v--)
		ck_assert_int_eq(wb_samples_add(&s, v), 0);
	ck_assert_uint_eq(s.len, 1000);
	wb_stats_compute(s.v, s.len, &st);
	ck_assert_uint_eq(st.n, 1000);
	ck_assert_uint_eq(st.min, 1);
	ck_assert_uint_eq(st.p50, 500);
	ck_assert_uint_eq(st.p90, 900);
	ck_assert_uint_eq(st.p99, 990);
	ck_assert_uint_eq(st.p999, 999);
	ck_assert_uint_eq(st.max, 1000);
	ck_assert(st.mean > 500.49 && st.mean < 500.51);
	wb_samples_free(&s);
	ck_assert_ptr_null(s.v);

	wb_stats_compute(NULL, 0, &st);
	ck_assert_uint_eq(st.n, 0);
	ck_assert_uint_eq(st.p99, 0);
}
END_TEST

START_TEST(test_quantile_small)
{
	const uint64_t one[] = {7};
	const uint64_t three[] = {1, 2, 30};

	ck_assert_uint_eq(wb_quantile_sorted(one, 1, 0.5), 7);
	ck_assert_uint_eq(wb_quantile_sorted(one, 1, 0.999), 7);
	ck_assert_uint_eq(wb_quantile_sorted(three, 3, 0.5), 2);
	ck_assert_uint_eq(wb_quantile_sorted(three, 3, 0.99), 30);
	ck_assert_uint_eq(wb_quantile_sorted(three, 3, 0.34), 2);
	ck_assert_uint_eq(wb_quantile_sorted(three, 3, 0.33), 1);
	ck_assert_uint_eq(wb_quantile_sorted(three, 0, 0.5), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("walbench_core");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_batch_1k_and_64k_exact);
	tcase_add_test(tc, test_batch_many_sizes);
	tcase_add_test(tc, test_batch_rejects_tiny);
	tcase_add_test(tc, test_frame_split);
	tcase_add_test(tc, test_stats_nearest_rank);
	tcase_add_test(tc, test_quantile_small);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
