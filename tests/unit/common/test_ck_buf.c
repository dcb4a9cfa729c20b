/*
 * test_ck_buf.c: unit tests of ck_buf_t and the bounds-checked ck_span_t
 * readers (common/ck_buf.h): growth, big/little endian, varints including
 * overlong, overflowing and 10-byte edge cases. Every failing read must
 * leave the span where it was.
 */
#include <errno.h>
#include <stdint.h>

#include "ck_buf.h"
#include "ck_err.h"
#include "ck_testlib.h"

START_TEST(test_buf_append_grows)
{
	ck_buf_t b = CK_BUF_INIT;
	uint8_t chunk[1000];

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(ck_buf_append(&b, chunk, sizeof(chunk)), 0);
	ck_assert_uint_eq(b.len, 100000);
	ck_assert_uint_ge(b.cap, b.len);
	for (int i = 0; i < 100; i++)
		ck_assert_mem_eq(b.data + i * 1000, chunk, sizeof(chunk));
	ck_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_ptr_nonnull(b.data);
	ck_buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(test_buf_extend_and_reserve)
{
	ck_buf_t b;
	uint8_t *p;

	ck_buf_init(&b);
	ck_assert_int_eq(ck_buf_append(&b, "ab", 2), 0);
	p = ck_buf_extend(&b, 3);
	ck_assert_ptr_nonnull(p);
	memcpy(p, "cde", 3);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_mem_eq(b.data, "abcde", 5);
	ck_assert_int_eq(ck_buf_reserve(&b, 4096), 0);
	ck_assert_uint_ge(b.cap, 5 + 4096);
	ck_assert_uint_eq(b.len, 5);
	/* Overflowing requests fail and leave the buffer alone. */
	ck_assert_int_eq(ck_buf_reserve(&b, SIZE_MAX), -ENOMEM);
	ck_assert_ptr_null(ck_buf_extend(&b, SIZE_MAX - 2));
	ck_assert_int_eq(ck_buf_append(&b, "x", SIZE_MAX - 1), -ENOMEM);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_mem_eq(b.data, "abcde", 5);
	/* Appending nothing to an empty buffer is fine. */
	ck_buf_free(&b);
	ck_assert_int_eq(ck_buf_append(&b, NULL, 0), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_buf_free(&b);
}
END_TEST

/* A buffer with a max grows up to it, not beyond, and says so. */
START_TEST(test_buf_max)
{
	ck_buf_t b = CK_BUF_INIT;
	uint8_t chunk[100] = {0};

	b.max = 1000;
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(ck_buf_append(&b, chunk, sizeof(chunk)), 0);
	ck_assert_uint_eq(b.len, 1000);
	ck_assert_uint_le(b.cap, 1000);
	ck_assert_int_eq(ck_buf_append(&b, chunk, 1), CK_E_TOO_LARGE);
	ck_assert_int_eq(ck_buf_reserve(&b, 1), CK_E_TOO_LARGE);
	ck_assert_ptr_null(ck_buf_extend(&b, 1));
	ck_assert_uint_eq(b.len, 1000);
	ck_buf_free(&b);
	ck_assert_uint_eq(b.max, 0);
}
END_TEST

START_TEST(test_endian_helpers)
{
	uint8_t p[8];

	ck_be16_put(p, 0x1234);
	ck_assert_int_eq(p[0], 0x12);
	ck_assert_int_eq(p[1], 0x34);
	ck_assert_uint_eq(ck_be16_get(p), 0x1234);
	ck_be32_put(p, 0xA1B2C3D4u);
	ck_assert_int_eq(p[0], 0xA1);
	ck_assert_int_eq(p[3], 0xD4);
	ck_assert_uint_eq(ck_be32_get(p), 0xA1B2C3D4u);
	ck_be64_put(p, 0x0102030405060708ull);
	ck_assert_int_eq(p[0], 1);
	ck_assert_int_eq(p[7], 8);
	ck_assert_uint_eq(ck_be64_get(p), 0x0102030405060708ull);
	ck_le32_put(p, 0xA1B2C3D4u);
	ck_assert_int_eq(p[0], 0xD4);
	ck_assert_int_eq(p[3], 0xA1);
	ck_assert_uint_eq(ck_le32_get(p), 0xA1B2C3D4u);
}
END_TEST

START_TEST(test_span_fixed_reads)
{
	const uint8_t d[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
			     0x0C, 0x0D, 0x0E, 0x0F};
	ck_span_t s = ck_span(d, sizeof(d));
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *bytes;

	ck_assert_int_eq(ck_span_u8(&s, &u8), 0);
	ck_assert_int_eq(u8, 0x01);
	ck_assert_int_eq(ck_span_be16(&s, &u16), 0);
	ck_assert_uint_eq(u16, 0x0203);
	ck_assert_int_eq(ck_span_be32(&s, &u32), 0);
	ck_assert_uint_eq(u32, 0x04050607);
	ck_assert_uint_eq(s.len, 8);
	/* 8 bytes left: a be64 fits exactly; afterwards nothing does. */
	ck_span_t save = s;
	ck_assert_int_eq(ck_span_be64(&s, &u64), 0);
	ck_assert_uint_eq(u64, 0x08090A0B0C0D0E0Full);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_int_eq(ck_span_u8(&s, &u8), -EMSGSIZE);
	s = save;
	ck_assert_int_eq(ck_span_skip(&s, 9), -EMSGSIZE);
	ck_assert_ptr_eq(s.p, save.p);
	ck_assert_int_eq(ck_span_bytes(&s, 9, &bytes), -EMSGSIZE);
	ck_assert_int_eq(ck_span_bytes(&s, 3, &bytes), 0);
	ck_assert_ptr_eq(bytes, d + 7);
	ck_assert_uint_eq(s.len, 5);
	/* Short reads do not move the span. */
	ck_assert_int_eq(ck_span_skip(&s, 3), 0);
	save = s;
	ck_assert_int_eq(ck_span_be32(&s, &u32), -EMSGSIZE);
	ck_assert_int_eq(ck_span_be64(&s, &u64), -EMSGSIZE);
	ck_assert_int_eq(ck_span_be16(&s, &u16), 0);
	ck_assert_int_eq(ck_span_be16(&s, &u16), -EMSGSIZE);
	ck_assert_uint_eq(s.len, 0);
	(void)save;
}
END_TEST

static void check_uvarint64(uint64_t v, size_t expect_len)
{
	uint8_t p[16];
	size_t n = ck_uvarint64_put(p, v);
	ck_span_t s = ck_span(p, n);
	uint64_t got = ~v;

	ck_assert_uint_eq(n, expect_len);
	ck_assert_int_eq(ck_span_uvarint64(&s, &got), 0);
	ck_assert_uint_eq(got, v);
	ck_assert_uint_eq(s.len, 0);
	/* Every truncation is short, never a wrong value. */
	for (size_t cut = 0; cut < n; cut++) {
		s = ck_span(p, cut);
		ck_assert_int_eq(ck_span_uvarint64(&s, &got), -EMSGSIZE);
		ck_assert_uint_eq(s.len, cut);
	}
}

START_TEST(test_uvarint64_round_trip)
{
	check_uvarint64(0, 1);
	check_uvarint64(1, 1);
	check_uvarint64(127, 1);
	check_uvarint64(128, 2);
	check_uvarint64(16383, 2);
	check_uvarint64(16384, 3);
	check_uvarint64(UINT32_MAX, 5);
	check_uvarint64((1ull << 35) - 1, 5);
	check_uvarint64(1ull << 35, 6);
	check_uvarint64((1ull << 63) - 1, 9);
	check_uvarint64(1ull << 63, 10);
	check_uvarint64(UINT64_MAX, 10);
}
END_TEST

START_TEST(test_uvarint64_edges)
{
	/* UINT64_MAX: nine 0xff then 0x01. */
	uint8_t max[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	uint8_t over[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	uint8_t eleven[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
	uint8_t overlong[3] = {0x80, 0x80, 0x00}; /* zero in three bytes */
	ck_span_t s;
	uint64_t v;

	s = ck_span(max, sizeof(max));
	ck_assert_int_eq(ck_span_uvarint64(&s, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	/* A 10th byte above 1 would need bit 64. */
	s = ck_span(over, sizeof(over));
	v = 42;
	ck_assert_int_eq(ck_span_uvarint64(&s, &v), -EBADMSG);
	ck_assert_uint_eq(v, 42);
	ck_assert_uint_eq(s.len, sizeof(over));
	s = ck_span(eleven, sizeof(eleven));
	ck_assert_int_eq(ck_span_uvarint64(&s, &v), -EBADMSG);
	ck_assert_uint_eq(s.len, sizeof(eleven));
	/* Non-minimal encodings are accepted, as by Kafka and protobuf. */
	s = ck_span(overlong, sizeof(overlong));
	ck_assert_int_eq(ck_span_uvarint64(&s, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_uint_eq(s.len, 0);
}
END_TEST

START_TEST(test_uvarint32_edges)
{
	uint8_t max[5] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	uint8_t over[5] = {0xff, 0xff, 0xff, 0xff, 0x1f};
	uint8_t six[6] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
	uint8_t trunc[2] = {0x80, 0x80};
	ck_span_t s;
	uint32_t v = 7;

	s = ck_span(max, sizeof(max));
	ck_assert_int_eq(ck_span_uvarint32(&s, &v), 0);
	ck_assert_uint_eq(v, UINT32_MAX);
	s = ck_span(over, sizeof(over));
	v = 7;
	ck_assert_int_eq(ck_span_uvarint32(&s, &v), -EBADMSG);
	ck_assert_uint_eq(v, 7);
	ck_assert_uint_eq(s.len, sizeof(over));
	s = ck_span(six, sizeof(six));
	ck_assert_int_eq(ck_span_uvarint32(&s, &v), -EBADMSG);
	ck_assert_uint_eq(s.len, sizeof(six));
	s = ck_span(trunc, sizeof(trunc));
	ck_assert_int_eq(ck_span_uvarint32(&s, &v), -EMSGSIZE);
	ck_assert_uint_eq(s.len, sizeof(trunc));
	s = ck_span(NULL, 0);
	ck_assert_int_eq(ck_span_uvarint32(&s, &v), -EMSGSIZE);
}
END_TEST

START_TEST(test_zigzag)
{
	static const struct {
		int64_t v;
		uint8_t enc[10];
		size_t len;
	} cases[] = {
		{0, {0x00}, 1},
		{-1, {0x01}, 1},
		{1, {0x02}, 1},
		{-64, {0x7f}, 1},
		{64, {0x80, 0x01}, 2},
		{INT64_MAX, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
		{INT64_MIN, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
	};
	uint8_t p[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = ck_varint64_put(p, cases[i].v);
		ck_span_t s = ck_span(p, n);
		int64_t got;

		ck_assert_uint_eq(n, cases[i].len);
		ck_assert_mem_eq(p, cases[i].enc, n);
		ck_assert_int_eq(ck_span_varint64(&s, &got), 0);
		ck_assert_int_eq(got, cases[i].v);
	}
	/* 32-bit zig-zag: the extremes fit in five bytes. */
	int32_t v32;
	size_t n = ck_varint64_put(p, INT32_MIN);
	ck_span_t s = ck_span(p, n);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(ck_span_varint32(&s, &v32), 0);
	ck_assert_int_eq(v32, INT32_MIN);
	n = ck_varint64_put(p, INT32_MAX);
	s = ck_span(p, n);
	ck_assert_int_eq(ck_span_varint32(&s, &v32), 0);
	ck_assert_int_eq(v32, INT32_MAX);
	/* One past INT32_MAX does not fit a varint32. */
	n = ck_varint64_put(p, (int64_t)INT32_MAX + 1);
	s = ck_span(p, n);
	ck_assert_int_eq(ck_span_varint32(&s, &v32), -EBADMSG);
	ck_assert_uint_eq(s.len, n);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_buf");
	TCase *tc = tcase_create("buf");

	tcase_add_test(tc, test_buf_append_grows);
	tcase_add_test(tc, test_buf_extend_and_reserve);
	tcase_add_test(tc, test_buf_max);
	tcase_add_test(tc, test_endian_helpers);
	tcase_add_test(tc, test_span_fixed_reads);
	tcase_add_test(tc, test_uvarint64_round_trip);
	tcase_add_test(tc, test_uvarint64_edges);
	tcase_add_test(tc, test_uvarint32_edges);
	tcase_add_test(tc, test_zigzag);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
