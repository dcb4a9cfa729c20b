/*
 * test_ck_hash.c: unit tests of the generic hash table and FNV-1a
 * (common/ck_hash.h): published FNV-1a vectors and chaining, find / insert
 * / remove with keys inside the values, colliding hashes, growth to many
 * values, iteration (with removals of the current value on the way),
 * bounded memory under insert/remove churn, and a seeded random walk
 * checked against a plain array (CK_HASH_TEST_SEED replays it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_hash.h"
#include "ck_rand.h"
#include "ck_testlib.h"

typedef struct {
	char name[32];
	int id;
	int seen; /* iteration visits */
} item_t;

static bool item_eq(const void *key, const void *val)
{
	return !strcmp(key, ((const item_t *)val)->name);
}

static uint64_t item_hash(const item_t *it)
{
	return ck_hash_str(it->name);
}

static item_t *items_new(size_t n)
{
	item_t *v = calloc(n, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++) {
		snprintf(v[i].name, sizeof(v[i].name), "topic-%zu", i);
		v[i].id = (int)i;
	}
	return v;
}

START_TEST(test_fnv1a_vectors)
{
	/* Published FNV-1a 64-bit test vectors. */
	ck_assert_uint_eq(ck_hash_str(""), 0xcbf29ce484222325ull);
	ck_assert_uint_eq(ck_hash_str("a"), 0xaf63dc4c8601ec8cull);
	ck_assert_uint_eq(ck_hash_str("foobar"), 0x85944171f73967e8ull);
	ck_assert_uint_eq(ck_hash_bytes("foobar", 6), 0x85944171f73967e8ull);
	ck_assert_uint_eq(ck_hash_bytes_add(ck_hash_str("foo"), "bar", 3),
	                  ck_hash_str("foobar"));
	ck_assert_uint_eq(ck_hash_bytes_add(CK_HASH_SEED, "", 0), CK_HASH_SEED);
	/* Bytes, not strings: a NUL counts. */
	ck_assert_uint_ne(ck_hash_bytes("a\0b", 3), ck_hash_bytes("a", 1));
}
END_TEST

START_TEST(test_empty_table)
{
	ck_hash_t h = CK_HASH_INIT;
	size_t it = 0;
	item_t x = {"x", 0, 0};

	ck_assert_ptr_null(ck_hash_find(&h, 1, item_eq, "x"));
	ck_assert(!ck_hash_remove(&h, 1, &x));
	ck_assert_ptr_null(ck_hash_next(&h, &it));
	ck_assert_uint_eq(ck_hash_count(&h), 0);
	ck_hash_free(&h);
}
END_TEST

START_TEST(test_insert_find_remove)
{
	ck_hash_t h;
	item_t *v = items_new(3);

	ck_hash_init(&h);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ck_hash_insert(&h, item_hash(&v[i]), &v[i]), 0);
	ck_assert_uint_eq(ck_hash_count(&h), 3);
	ck_assert_ptr_eq(ck_hash_find(&h, ck_hash_str("topic-1"), item_eq, "topic-1"), &v[1]);
	ck_assert_ptr_null(ck_hash_find(&h, ck_hash_str("topic-9"), item_eq, "topic-9"));
	/* The right hash but another key: not found. */
	ck_assert_ptr_null(ck_hash_find(&h, ck_hash_str("topic-1"), item_eq, "topic-2"));
	ck_assert(ck_hash_remove(&h, item_hash(&v[1]), &v[1]));
	ck_assert(!ck_hash_remove(&h, item_hash(&v[1]), &v[1]));
	ck_assert_ptr_null(ck_hash_find(&h, ck_hash_str("topic-1"), item_eq, "topic-1"));
	ck_assert_ptr_eq(ck_hash_find(&h, ck_hash_str("topic-2"), item_eq, "topic-2"), &v[2]);
	ck_assert_uint_eq(ck_hash_count(&h), 2);
	/* Back in, after its tombstone. */
	ck_assert_int_eq(ck_hash_insert(&h, item_hash(&v[1]), &v[1]), 0);
	ck_assert_ptr_eq(ck_hash_find(&h, ck_hash_str("topic-1"), item_eq, "topic-1"), &v[1]);
	ck_hash_free(&h);
	ck_assert_uint_eq(ck_hash_count(&h), 0);
	free(v);
}
END_TEST

/* Every value under one hash: only the equality callback tells them apart,
 * and probing must step over tombstones. */
START_TEST(test_collisions)
{
	ck_hash_t h = CK_HASH_INIT;
	item_t *v = items_new(40);

	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(ck_hash_insert(&h, 7, &v[i]), 0);
	for (int i = 0; i < 40; i++)
		ck_assert_ptr_eq(ck_hash_find(&h, 7, item_eq, v[i].name), &v[i]);
	for (int i = 0; i < 40; i += 2)
		ck_assert(ck_hash_remove(&h, 7, &v[i]));
	for (int i = 0; i < 40; i++)
		ck_assert_ptr_eq(ck_hash_find(&h, 7, item_eq, v[i].name), i % 2 ? &v[i] : NULL);
	ck_assert_uint_eq(ck_hash_count(&h), 20);
	/* Duplicate keys are the caller's business: both stay. */
	item_t dup = v[1];
	ck_assert_int_eq(ck_hash_insert(&h, 7, &dup), 0);
	ck_assert_uint_eq(ck_hash_count(&h), 21);
	ck_assert(ck_hash_remove(&h, 7, &dup));
	ck_assert_ptr_eq(ck_hash_find(&h, 7, item_eq, v[1].name), &v[1]);
	ck_hash_free(&h);
	free(v);
}
END_TEST

START_TEST(test_many_and_iteration)
{
	const size_t n = 20000;
	ck_hash_t h = CK_HASH_INIT;
	item_t *v = items_new(n), *p;
	size_t it = 0, visited = 0;

	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(ck_hash_insert(&h, item_hash(&v[i]), &v[i]), 0);
	ck_assert_uint_eq(ck_hash_count(&h), n);
	ck_assert_uint_le(h.used * 4, h.cap * 3);
	for (size_t i = 0; i < n; i++)
		ck_assert_ptr_eq(ck_hash_find(&h, item_hash(&v[i]), item_eq, v[i].name), &v[i]);
	/* Each value once; removing the current one on the way is fine. */
	while ((p = ck_hash_next(&h, &it)) != NULL) {
		p->seen++;
		visited++;
		if (p->id % 3 == 0)
			ck_assert(ck_hash_remove(&h, item_hash(p), p));
	}
	ck_assert_uint_eq(visited, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(v[i].seen, 1);
		ck_assert_ptr_eq(ck_hash_find(&h, item_hash(&v[i]), item_eq, v[i].name),
		                 i % 3 == 0 ? NULL : &v[i]);
	}
	ck_assert_uint_eq(ck_hash_count(&h), n - (n + 2) / 3);
	ck_hash_free(&h);
	free(v);
}
END_TEST

/* Tombstones are reclaimed: a table that never holds more than a few values
 * stays small however many come and go. */
START_TEST(test_churn_keeps_memory_bounded)
{
	ck_hash_t h = CK_HASH_INIT;
	item_t *v = items_new(8);

	for (int round = 0; round < 100000; round++) {
		item_t *x = &v[round % 8];
		if (round >= 8)
			ck_assert(ck_hash_remove(&h, (uint64_t)round - 8, x));
		ck_assert_int_eq(ck_hash_insert(&h, (uint64_t)round, x), 0);
	}
	ck_assert_uint_eq(ck_hash_count(&h), 8);
	ck_assert_uint_le(h.cap, 64);
	ck_hash_free(&h);
	free(v);
}
END_TEST

/* Random inserts, removals and lookups against a plain array. */
START_TEST(test_random_against_model)
{
	const size_t n = 512;
	const char *env = getenv("CK_HASH_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 10) : ck_rand_os_seed();
	ck_hash_t h = CK_HASH_INIT;
	item_t *v = items_new(n);
	bool *in = calloc(n, sizeof(*in));
	ck_rand_t rnd;
	size_t live = 0;

	ck_assert_ptr_nonnull(in);
	fprintf(stderr, "ck_hash random walk seed=%" PRIu64 " (CK_HASH_TEST_SEED)\n", seed);
	ck_rand_seed(&rnd, seed);
	for (int step = 0; step < 200000; step++) {
		size_t i = (size_t)ck_rand_below(&rnd, n);
		uint64_t hash = item_hash(&v[i]) & 0xff; /* many collisions */
		switch (ck_rand_below(&rnd, 3)) {
		case 0:
			if (!in[i]) {
				ck_assert_int_eq(ck_hash_insert(&h, hash, &v[i]), 0);
				in[i] = true;
				live++;
			}
			break;
		case 1:
			ck_assert_int_eq(ck_hash_remove(&h, hash, &v[i]), in[i]);
			live -= in[i];
			in[i] = false;
			break;
		default:
			ck_assert_ptr_eq(ck_hash_find(&h, hash, item_eq, v[i].name),
			                 in[i] ? &v[i] : NULL);
			break;
		}
		ck_assert_uint_eq(ck_hash_count(&h), live);
	}
	ck_hash_free(&h);
	free(in);
	free(v);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_hash");
	TCase *tc = tcase_create("hash");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fnv1a_vectors);
	tcase_add_test(tc, test_empty_table);
	tcase_add_test(tc, test_insert_find_remove);
	tcase_add_test(tc, test_collisions);
	tcase_add_test(tc, test_many_and_iteration);
	tcase_add_test(tc, test_churn_keeps_memory_bounded);
	tcase_add_test(tc, test_random_against_model);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
