/*
 * kbench_test_hist.c: unit tests of chronik-bench's pure core
 * (bench/kbench_hist.c): bucket boundaries, percentiles against exactly
 * computed ones, merging, clamping, rates.
 */
#include <check.h>
#include <stdlib.h>

#include "kbench_hist.h"

static kb_hist_t h, h2;

/* Whether GOT is within 1/64 (one sub-bucket) of WANT. */
static int close_to(uint64_t got, uint64_t want)
{
	uint64_t d = got > want ? got - want : want - got;

	return d * 64 <= want + 1;
}

START_TEST(empty_is_zero)
{
	kb_hist_init(&h);
	ck_assert_uint_eq(kb_hist_quantile(&h, 0.5), 0);
	ck_assert(kb_hist_mean(&h) == 0.0);
	ck_assert_uint_eq(h.n, 0);
}
END_TEST

START_TEST(small_values_exact)
{
	kb_hist_init(&h);
	for (uint64_t v = 0; v < 64; v++)
		kb_hist_record(&h, v);
	ck_assert_uint_eq(kb_hist_quantile(&h, 0.5), 31);
	ck_assert_uint_eq(kb_hist_quantile(&h, 1.0), 63);
	ck_assert_uint_eq(kb_hist_quantile(&h, 0.0), 0);
	ck_assert_uint_eq(h.min_us, 0);
	ck_assert_uint_eq(h.max_us, 63);
}
END_TEST

START_TEST(uniform_percentiles)
{
	kb_hist_init(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		kb_hist_record(&h, v);
	ck_assert(close_to(kb_hist_quantile(&h, 0.50), 50000));
	ck_assert(close_to(kb_hist_quantile(&h, 0.95), 95000));
	ck_assert(close_to(kb_hist_quantile(&h, 0.99), 99000));
	ck_assert(close_to(kb_hist_quantile(&h, 0.999), 99900));
	ck_assert(kb_hist_mean(&h) > 50000.0 && kb_hist_mean(&h) < 50001.0);
}
END_TEST

START_TEST(skewed_tail)
{
	/* 990 fast samples, 9 slow, 1 very slow: p99 is fast, p99.9 slow. */
	kb_hist_init(&h);
	for (int i = 0; i < 990; i++)
		kb_hist_record(&h, 1000);
	for (int i = 0; i < 9; i++)
		kb_hist_record(&h, 50000);
	kb_hist_record(&h, 3000000);
	ck_assert(close_to(kb_hist_quantile(&h, 0.99), 1000));
	ck_assert(close_to(kb_hist_quantile(&h, 0.995), 50000));
	ck_assert(close_to(kb_hist_quantile(&h, 0.999), 50000));
	ck_assert_uint_eq(kb_hist_quantile(&h, 1.0), 3000000);
}
END_TEST

START_TEST(huge_values_clamped)
{
	kb_hist_init(&h);
	kb_hist_record(&h, UINT64_MAX / 2);
	kb_hist_record(&h, 5);
	ck_assert_uint_eq(h.max_us, UINT64_MAX / 2);
	ck_assert_uint_eq(kb_hist_quantile(&h, 0.25), 5);
	ck_assert(kb_hist_quantile(&h, 0.9) > 5);
}
END_TEST

START_TEST(merge_adds)
{
	kb_hist_init(&h);
	kb_hist_init(&h2);
	for (uint64_t v = 1; v <= 1000; v++)
		kb_hist_record(v % 2 ? &h : &h2, v);
	kb_hist_merge(&h, &h2);
	ck_assert_uint_eq(h.n, 1000);
	ck_assert_uint_eq(h.min_us, 1);
	ck_assert_uint_eq(h.max_us, 1000);
	ck_assert(close_to(kb_hist_quantile(&h, 0.5), 500));
}
END_TEST

START_TEST(random_against_sorted)
{
	static uint64_t v[20000];
	unsigned seed = 7;

	kb_hist_init(&h);
	for (int i = 0; i < 20000; i++) {
		v[i] = (uint64_t)(rand_r(&seed) % 1000000) + 1;
		kb_hist_record(&h, v[i]);
	}
	for (int i = 1; i < 20000; i++) { /* insertion sort is fine at this size */
		uint64_t x = v[i];
		int j = i - 1;

		while (j >= 0 && v[j] > x) {
			v[j + 1] = v[j];
			j--;
		}
		v[j + 1] = x;
	}
	ck_assert(close_to(kb_hist_quantile(&h, 0.5), v[9999]));
	ck_assert(close_to(kb_hist_quantile(&h, 0.99), v[19799]));
}
END_TEST

START_TEST(rates)
{
	kb_rate_t r = kb_rate(1000, 1048576, 2000000);

	ck_assert(r.msgs_per_s > 499.9 && r.msgs_per_s < 500.1);
	ck_assert(r.mb_per_s > 0.49 && r.mb_per_s < 0.51);
	r = kb_rate(10, 10, 0);
	ck_assert(r.msgs_per_s == 0.0 && r.mb_per_s == 0.0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kbench_hist");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, empty_is_zero);
	tcase_add_test(tc, small_values_exact);
	tcase_add_test(tc, uniform_percentiles);
	tcase_add_test(tc, skewed_tail);
	tcase_add_test(tc, huge_values_clamped);
	tcase_add_test(tc, merge_adds);
	tcase_add_test(tc, random_against_sorted);
	tcase_add_test(tc, rates);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
