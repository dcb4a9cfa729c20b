/*
 * test_kfk_offexp.c: unit tests of when committed offsets expire
 * (kafka-frontend/kfk_offexp.h): a whole retention after both the commit
 * and the last sight of the group, never for a group seen for the first
 * time, never with retention 0, and forgetting what a sweep did not visit.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>

#include "ck_testlib.h"
#include "kfk_offexp.h"

#define DAY (24 * 3600 * 1000LL)
#define T0  1800000000000LL /* a wall clock ms */

/* One sweep that visits only GROUP (not live) at NOW: its cutoff. */
static int64_t sweep_one(kfk_offexp_t *e, const char *group, int64_t now, int64_t retention)
{
	int64_t c;

	kfk_offexp_sweep_begin(e);
	c = kfk_offexp_cutoff(e, group, now, retention);
	kfk_offexp_sweep_end(e);
	return c;
}

/* A group first met by a sweep waits a whole retention from then; after
 * it, offsets committed at or before now - retention have expired (the
 * cutoff is the first commit time that has not). */
START_TEST(test_first_sight_waits_a_retention)
{
	kfk_offexp_t e;

	kfk_offexp_init(&e);
	ck_assert_int_eq(sweep_one(&e, "g", T0, 7 * DAY), 0);
	ck_assert_int_eq(sweep_one(&e, "g", T0 + 7 * DAY - 1, 7 * DAY), 0);
	ck_assert_int_eq(sweep_one(&e, "g", T0 + 7 * DAY, 7 * DAY), T0 + 1);
	ck_assert_int_eq(sweep_one(&e, "g", T0 + 9 * DAY, 7 * DAY), T0 + 2 * DAY + 1);
	ck_assert_uint_eq(kfk_offexp_count(&e), 1);
	kfk_offexp_free(&e);
}
END_TEST

/* Seen live (members) restarts the wait, from the last time seen: a group
 * that was consuming until yesterday keeps its offsets, however old its
 * last commit (idle consumers do not commit unchanged offsets). */
START_TEST(test_live_group_restarts_the_wait)
{
	kfk_offexp_t e;

	kfk_offexp_init(&e);
	ck_assert_int_eq(sweep_one(&e, "g", T0, DAY), 0);
	ck_assert_int_eq(kfk_offexp_live(&e, "g", T0 + 5 * DAY), 0);
	ck_assert_int_eq(sweep_one(&e, "g", T0 + 6 * DAY - 1, DAY), 0);
	ck_assert_int_eq(sweep_one(&e, "g", T0 + 6 * DAY, DAY), T0 + 5 * DAY + 1);
	/* A live mark older than the last sight does not move it back. */
	ck_assert_int_eq(kfk_offexp_live(&e, "g", T0 + DAY), 0);
	ck_assert_int_eq(sweep_one(&e, "g", T0 + 6 * DAY, DAY), T0 + 5 * DAY + 1);
	kfk_offexp_free(&e);
}
END_TEST

/* Retention 0 (or less): never. */
START_TEST(test_zero_retention_never_expires)
{
	kfk_offexp_t e;

	kfk_offexp_init(&e);
	ck_assert_int_eq(sweep_one(&e, "g", T0, 0), 0);
	ck_assert_int_eq(sweep_one(&e, "g", T0 + 1000 * DAY, 0), 0);
	ck_assert_int_eq(sweep_one(&e, "g", T0 + 1000 * DAY, -5), 0);
	kfk_offexp_free(&e);
}
END_TEST

/* A sweep forgets the groups it did not visit (no offsets left, or no
 * longer coordinated here): met again, such a group waits anew. */
START_TEST(test_sweep_forgets_unvisited)
{
	kfk_offexp_t e;

	kfk_offexp_init(&e);
	kfk_offexp_sweep_begin(&e);
	ck_assert_int_eq(kfk_offexp_cutoff(&e, "a", T0, DAY), 0);
	ck_assert_int_eq(kfk_offexp_cutoff(&e, "b", T0, DAY), 0);
	ck_assert_int_eq(kfk_offexp_live(&e, "c", T0), 0);
	kfk_offexp_sweep_end(&e);
	ck_assert_uint_eq(kfk_offexp_count(&e), 3);
	/* Between sweeps, a live group is remembered... */
	ck_assert_int_eq(kfk_offexp_live(&e, "d", T0), 0);
	ck_assert_uint_eq(kfk_offexp_count(&e), 4);
	/* ...and the next sweep keeps only what it visits. */
	kfk_offexp_sweep_begin(&e);
	ck_assert_int_eq(kfk_offexp_cutoff(&e, "a", T0 + 2 * DAY, DAY), T0 + DAY + 1);
	ck_assert_int_eq(kfk_offexp_live(&e, "c", T0 + 2 * DAY), 0);
	kfk_offexp_sweep_end(&e);
	ck_assert_uint_eq(kfk_offexp_count(&e), 2);
	/* "b" was forgotten: it waits a whole retention again. */
	ck_assert_int_eq(sweep_one(&e, "b", T0 + 2 * DAY, DAY), 0);
	ck_assert_int_eq(sweep_one(&e, "b", T0 + 3 * DAY, DAY), T0 + 2 * DAY + 1);
	/* "c" was live at T0 + 2 days. */
	ck_assert_int_eq(sweep_one(&e, "c", T0 + 3 * DAY - 1, DAY), 0);
	ck_assert_uint_eq(kfk_offexp_count(&e), 1);
	kfk_offexp_free(&e);
}
END_TEST

/* Many groups: each keeps its own time; names are compared whole. */
START_TEST(test_many_groups)
{
	kfk_offexp_t e;
	char name[32];

	kfk_offexp_init(&e);
	kfk_offexp_sweep_begin(&e);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		ck_assert_int_eq(kfk_offexp_cutoff(&e, name, T0 + i, DAY), 0);
	}
	kfk_offexp_sweep_end(&e);
	kfk_offexp_sweep_begin(&e);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		ck_assert_int_eq(kfk_offexp_cutoff(&e, name, T0 + DAY + 2500, DAY),
		                 i <= 2500 ? T0 + 2501 : 0);
	}
	kfk_offexp_sweep_end(&e);
	ck_assert_uint_eq(kfk_offexp_count(&e), 5000);
	kfk_offexp_free(&e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_offexp");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_first_sight_waits_a_retention);
	tcase_add_test(tc, test_live_group_restarts_the_wait);
	tcase_add_test(tc, test_zero_retention_never_expires);
	tcase_add_test(tc, test_sweep_forgets_unvisited);
	tcase_add_test(tc, test_many_groups);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
