/*
 * test_kfk_arena.c: unit tests of the request arena (kafka-frontend/protocol/kfk_arena.h):
 * alignment, chunk growth, the byte cap (and lifting it), reset keeping one
 * chunk, released standard chunks reused (bounded) and drained.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_testlib.h"
#include "kfk_arena.h"

START_TEST(test_alloc_aligned_and_distinct)
{
	kfk_arena_t a;
	void *p = NULL, *q = NULL;

	kfk_arena_init(&a, 256, 0);
	ck_assert_int_eq(kfk_arena_alloc(&a, 3, 1, &p), 0);
	ck_assert_int_eq(kfk_arena_alloc(&a, 1, 8, &q), 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_ne(p, q);
	ck_assert_uint_eq((uintptr_t)q % _Alignof(max_align_t), 0);
	memset(p, 0xaa, 3);
	memset(q, 0xbb, 8);
	ck_assert_uint_eq(((unsigned char *)p)[2], 0xaa);
	ck_assert_uint_ge(kfk_arena_used(&a), 11);
	kfk_arena_free(&a);
}
END_TEST

START_TEST(test_zero_bytes_yield_null)
{
	kfk_arena_t a;
	void *p = (void *)1;

	kfk_arena_init(&a, 0, 0);
	ck_assert_int_eq(kfk_arena_alloc(&a, 0, 16, &p), 0);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(kfk_arena_used(&a), 0);
	kfk_arena_free(&a);
}
END_TEST

START_TEST(test_grows_past_one_chunk)
{
	kfk_arena_t a;
	void *p;
	int i;

	kfk_arena_init(&a, 128, 0);
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(kfk_arena_alloc(&a, 1, 48, &p), 0);
		memset(p, i, 48);
	}
	/* Larger than a chunk gets a chunk of its own. */
	ck_assert_int_eq(kfk_arena_alloc(&a, 1, 10000, &p), 0);
	memset(p, 1, 10000);
	ck_assert_uint_ge(a.held_bytes, 10000 + 100 * 48);
	kfk_arena_free(&a);
	ck_assert_uint_eq(a.held_bytes, 0);
}
END_TEST

START_TEST(test_cap_refuses_without_allocating)
{
	kfk_arena_t a;
	void *p = NULL;

	kfk_arena_init(&a, 1024, 4096);
	ck_assert_int_eq(kfk_arena_alloc(&a, 1, 5000, &p), CK_E_TOO_LARGE);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(a.held_bytes, 0);
	ck_assert_int_eq(kfk_arena_alloc(&a, 4, 1024, &p), 0);
	ck_assert_int_eq(kfk_arena_alloc(&a, 1, 16, &p), CK_E_TOO_LARGE);
	ck_assert_uint_le(a.held_bytes, 4096);
	/* Overflowing count * size is refused too. */
	ck_assert_int_eq(kfk_arena_alloc(&a, SIZE_MAX / 2, 4, &p), CK_E_TOO_LARGE);
	kfk_arena_reset(&a);
	ck_assert_int_eq(kfk_arena_alloc(&a, 1, 1024, &p), 0);
	/* The cap lifted (a decoded request's answer): what it refused fits. */
	ck_assert_int_eq(kfk_arena_alloc(&a, 1, 5000, &p), CK_E_TOO_LARGE);
	kfk_arena_set_cap(&a, 0);
	ck_assert_int_eq(kfk_arena_alloc(&a, 1, 5000, &p), 0);
	ck_assert_int_eq(kfk_arena_alloc(&a, 64, 1024, &p), 0);
	ck_assert_uint_gt(a.held_bytes, 4096);
	kfk_arena_free(&a);
}
END_TEST

START_TEST(test_reset_keeps_one_standard_chunk)
{
	kfk_arena_t a;
	void *p, *first;
	int i;

	kfk_arena_init(&a, 512, 0);
	ck_assert_int_eq(kfk_arena_alloc(&a, 1, 64, &first), 0);
	for (i = 0; i < 40; i++)
		ck_assert_int_eq(kfk_arena_alloc(&a, 1, 64, &p), 0);
	ck_assert_int_eq(kfk_arena_alloc(&a, 1, 5000, &p), 0);
	kfk_arena_reset(&a);
	ck_assert_uint_eq(kfk_arena_used(&a), 0);
	ck_assert_uint_eq(a.held_bytes, 512);
	ck_assert_int_eq(kfk_arena_alloc(&a, 1, 64, &p), 0);
	ck_assert_uint_eq(a.held_bytes, 512);
	kfk_arena_free(&a);
}
END_TEST

/* A request arena's 4 KiB chunk, once freed, is the next request's chunk
 * (last freed, first reused); the cache keeps at most 32 per size and
 * hands each out once; drain empties it. */
START_TEST(test_released_chunks_are_reused)
{
	enum { N = 100 };
	static kfk_arena_t a[N];
	kfk_arena_chunk_t *h[N];
	void *p = NULL, *q = NULL;

	kfk_arena_cache_drain();
	ck_assert_uint_eq(kfk_arena_cache_held(), 0);
	for (int i = 0; i < N; i++) {
		kfk_arena_init(&a[i], 4096, 0);
		ck_assert_int_eq(kfk_arena_alloc(&a[i], 1, 64, &p), 0);
		h[i] = a[i].head;
	}
	for (int i = 0; i < N; i++)
		kfk_arena_free(&a[i]);
	ck_assert_uint_eq(kfk_arena_cache_held(), 32);
	for (int i = 0; i < N; i++) {
		kfk_arena_init(&a[i], 4096, 0);
		ck_assert_int_eq(kfk_arena_alloc(&a[i], 1, 4096, &p), 0);
		memset(p, i, 4096);
		if (i < 32)
			ck_assert_ptr_eq(a[i].head, h[31 - i]);
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(a[j].head, a[i].head);
	}
	ck_assert_uint_eq(kfk_arena_cache_held(), 0);
	/* Other sizes are not mixed in: a 1 KiB-chunk arena gets its own. */
	kfk_arena_free(&a[0]);
	kfk_arena_init(&a[0], 1024, 0);
	ck_assert_int_eq(kfk_arena_alloc(&a[0], 1, 1024, &q), 0);
	ck_assert_uint_eq(kfk_arena_cache_held(), 1);
	memset(q, 1, 1024);
	for (int i = 0; i < N; i++)
		kfk_arena_free(&a[i]);
	ck_assert_uint_eq(kfk_arena_cache_held(), 32);
	kfk_arena_cache_drain();
	ck_assert_uint_eq(kfk_arena_cache_held(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_arena");
	TCase *tc = tcase_create("arena");

	tcase_add_test(tc, test_alloc_aligned_and_distinct);
	tcase_add_test(tc, test_zero_bytes_yield_null);
	tcase_add_test(tc, test_grows_past_one_chunk);
	tcase_add_test(tc, test_cap_refuses_without_allocating);
	tcase_add_test(tc, test_reset_keeps_one_standard_chunk);
	tcase_add_test(tc, test_released_chunks_are_reused);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
