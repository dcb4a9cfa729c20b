/*
 * test_ck_crc32c.c: unit tests of CRC-32C (common/ck_crc32c.h): published
 * check values (RFC 3720 appendix B.4 and the "123456789" check), chaining,
 * and the hardware path against the table path on every length 0..1024 at
 * every alignment.
 */
#include <stdint.h>
#include <stdio.h>

#include "ck_crc32c.h"
#include "ck_rand.h"
#include "ck_testlib.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static void check_vectors(crc_fn f)
{
	uint8_t buf[32];

	ck_assert_uint_eq(f(0, "123456789", 9), 0xE3069283u);
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(f(0, buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(f(0, buf, sizeof(buf)), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(f(0, buf, sizeof(buf)), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(f(0, buf, sizeof(buf)), 0x113FDB5Cu);
	ck_assert_uint_eq(f(0, "", 0), 0);
}

START_TEST(test_vectors_dispatch)
{
	check_vectors(ck_crc32c);
}
END_TEST

START_TEST(test_vectors_sw)
{
	check_vectors(ck_crc32c_sw);
}
END_TEST

START_TEST(test_chaining)
{
	const char *s = "The quick brown fox jumps over the lazy dog";
	size_t len = strlen(s);
	uint32_t whole = ck_crc32c(0, s, len);

	ck_assert_uint_eq(whole, 0x22620404u);
	for (size_t cut = 0; cut <= len; cut++) {
		ck_assert_uint_eq(ck_crc32c(ck_crc32c(0, s, cut), s + cut, len - cut), whole);
		ck_assert_uint_eq(ck_crc32c_sw(ck_crc32c_sw(0, s, cut), s + cut, len - cut), whole);
	}
}
END_TEST

START_TEST(test_hw_equals_sw)
{
	static uint8_t buf[1024 + 16];
	ck_rand_t r;

	ck_rand_seed(&r, 0xC0FFEE);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)ck_rand_u64(&r);
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len <= 1024; len++) {
			uint32_t seed = (uint32_t)ck_rand_u64(&r);
			uint32_t a = ck_crc32c(seed, buf + off, len);
			uint32_t b = ck_crc32c_sw(seed, buf + off, len);
			if (a != b)
				ck_abort_msg("hw %08x != sw %08x at off=%zu len=%zu", a, b, off, len);
		}
	}
	/* The comparison only means something when the hardware path exists;
	 * say so instead of passing silently. */
	if (!ck_crc32c_hw_available())
		fprintf(stderr, "note: no sse4.2 here, ck_crc32c uses the table path\n");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_crc32c");
	TCase *tc = tcase_create("crc32c");

	tcase_add_test(tc, test_vectors_dispatch);
	tcase_add_test(tc, test_vectors_sw);
	tcase_add_test(tc, test_chaining);
	tcase_add_test(tc, test_hw_equals_sw);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
