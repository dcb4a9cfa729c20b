/*
 * test_ck_rand.c: unit tests of the seeded generator (common/ck_rand.h):
 * a seed fixes the sequence (simulations replay by seed), different seeds
 * give different sequences, ck_rand_below stays in range and is not
 * lopsided.
 */
#include <stdint.h>

#include "ck_rand.h"
#include "ck_testlib.h"

START_TEST(test_same_seed_same_sequence)
{
	ck_rand_t a, b;

	ck_rand_seed(&a, 12345);
	ck_rand_seed(&b, 12345);
	for (int i = 0; i < 10000; i++)
		ck_assert_uint_eq(ck_rand_u64(&a), ck_rand_u64(&b));
	/* Re-seeding restarts the sequence. */
	uint64_t first[4];
	ck_rand_seed(&a, 7);
	for (int i = 0; i < 4; i++)
		first[i] = ck_rand_u64(&a);
	ck_rand_seed(&a, 7);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(ck_rand_u64(&a), first[i]);
}
END_TEST

START_TEST(test_different_seeds_differ)
{
	ck_rand_t a, b;
	int same = 0;

	ck_rand_seed(&a, 1);
	ck_rand_seed(&b, 2);
	for (int i = 0; i < 1000; i++)
		same += ck_rand_u64(&a) == ck_rand_u64(&b);
	ck_assert_int_eq(same, 0);
	/* Seed 0 must not produce the all-zero state that sticks at 0. */
	ck_rand_seed(&a, 0);
	uint64_t or = 0;
	for (int i = 0; i < 8; i++)
		or |= ck_rand_u64(&a);
	ck_assert_uint_ne(or, 0);
}
END_TEST

START_TEST(test_below)
{
	ck_rand_t r;
	unsigned counts[10] = {0};

	ck_rand_seed(&r, 99);
	ck_assert_uint_eq(ck_rand_below(&r, 0), 0);
	ck_assert_uint_eq(ck_rand_below(&r, 1), 0);
	for (int i = 0; i < 100000; i++) {
		uint64_t v = ck_rand_below(&r, 10);
		ck_assert_uint_lt(v, 10);
		counts[v]++;
	}
	/* Each bucket expects 10000; +-5% is > 15 standard deviations. */
	for (int i = 0; i < 10; i++)
		ck_assert_msg(counts[i] > 9500 && counts[i] < 10500, "bucket %d: %u", i, counts[i]);
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_lt(ck_rand_below(&r, (1ull << 63) + 1), (1ull << 63) + 1);
}
END_TEST

START_TEST(test_os_seed)
{
	uint64_t a = ck_rand_os_seed(), b = ck_rand_os_seed();

	ck_assert_uint_ne(a, b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_rand");
	TCase *tc = tcase_create("rand");

	tcase_add_test(tc, test_same_seed_same_sequence);
	tcase_add_test(tc, test_different_seeds_differ);
	tcase_add_test(tc, test_below);
	tcase_add_test(tc, test_os_seed);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
