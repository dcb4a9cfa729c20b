/*
 * test_kfk_epoch_core.c: unit tests of OffsetForLeaderEpoch's answer
 * (kafka-frontend/kfk_epoch_core.h), on Kafka's leader-epoch cache cases.
 */
#include <check.h>

#include "ck_testlib.h"
#include "kfk_epoch_core.h"

#define ASSERT_ANSWER(a, e, o)                                                                     \
	do {                                                                                       \
		ck_assert_int_eq((a).epoch, (e));                                                  \
		ck_assert_int_eq((a).end_offset, (o));                                             \
	} while (0)

/* Undefined, newer and current epochs need no log read. */
START_TEST(test_direct_answers)
{
	kfk_epoch_end_t a;

	ck_assert(kfk_epoch_end_direct(-1, 5, 100, &a));
	ASSERT_ANSWER(a, -1, -1);
	ck_assert(kfk_epoch_end_direct(6, 5, 100, &a));
	ASSERT_ANSWER(a, -1, -1);
	ck_assert(kfk_epoch_end_direct(5, 5, 100, &a));
	ASSERT_ANSWER(a, 5, 100);
	ck_assert(kfk_epoch_end_direct(0, 0, 0, &a)); /* a new, empty log */
	ASSERT_ANSWER(a, 0, 0);
	ck_assert(!kfk_epoch_end_direct(4, 5, 100, &a));
	ck_assert(!kfk_epoch_end_direct(0, 5, 100, &a));
}
END_TEST

/* A log of epochs 0 (offsets 0-9), 3 (10-19), 5 (20-): what the search
 * found becomes Kafka's answer. */
START_TEST(test_found_answers)
{
	kfk_epoch_end_t a;

	/* Epoch 0 ends where 3 starts. */
	kfk_epoch_end_found(0, 0, 10, 0, &a);
	ASSERT_ANSWER(a, 0, 10);
	/* Epochs 1 and 2 were never in the log: the floor is 0, and they end
	 * where 3 starts too. */
	kfk_epoch_end_found(2, 0, 10, 0, &a);
	ASSERT_ANSWER(a, 0, 10);
	kfk_epoch_end_found(4, 0, 20, 3, &a);
	ASSERT_ANSWER(a, 3, 20);
	/* Below the log's first epoch (retention took epoch 0): the epoch
	 * asked, ending at the log start. */
	kfk_epoch_end_found(2, 10, 10, -1, &a);
	ASSERT_ANSWER(a, 2, 10);
	/* A log start inside the first batch: never an end below it. */
	kfk_epoch_end_found(2, 12, 10, -1, &a);
	ASSERT_ANSWER(a, 2, 12);
	/* No greater epoch in the log: its end. */
	kfk_epoch_end_found(4, 0, 30, 3, &a);
	ASSERT_ANSWER(a, 3, 30);
	/* An unreadable previous batch: the epoch asked. */
	kfk_epoch_end_found(4, 0, 20, -1, &a);
	ASSERT_ANSWER(a, 4, 20);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("epoch");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_direct_answers);
	tcase_add_test(tc, test_found_answers);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
