/*
 * test_raftd_rebal.c: unit tests of the controller's preferred-leader
 * rebalance decision (raftd/raftd_rebal.h): counts per preferred broker,
 * the imbalance percentage (strictly above it, 0 = any partition led
 * elsewhere, 100 = never), and which partition may move (its preferred
 * replica in the ISR and eligible, a leader to move from).
 */
#include "ck_testlib.h"
#include "raftd_rebal.h"

static const int32_t r123[] = {1, 2, 3}, r213[] = {2, 1, 3}, r312[] = {3, 1, 2};

START_TEST(test_counts_per_preferred_broker)
{
	raftd_rebal_t t = {0};

	raftd_rebal_count(&t, r123, 3, 1); /* led by its preferred */
	raftd_rebal_count(&t, r123, 3, 2); /* led elsewhere */
	raftd_rebal_count(&t, r213, 3, 2);
	raftd_rebal_count(&t, r312, 3, -1); /* no leader: the fencing walk's */
	raftd_rebal_count(&t, r312, 0, 3);  /* no replicas */
	ck_assert_uint_eq(t.n, 2);
	ck_assert_int_eq(t.v[0].broker, 1);
	ck_assert_uint_eq(t.v[0].preferred, 2);
	ck_assert_uint_eq(t.v[0].elsewhere, 1);
	ck_assert_int_eq(t.v[1].broker, 2);
	ck_assert_uint_eq(t.v[1].preferred, 1);
	ck_assert_uint_eq(t.v[1].elsewhere, 0);
}
END_TEST

/* Kafka's leader.imbalance.per.broker.percentage: over it, not at it. */
START_TEST(test_imbalance_percentage)
{
	raftd_rebal_t t = {0};

	for (int i = 0; i < 10; i++)
		raftd_rebal_count(&t, r123, 3, i == 0 ? 2 : 1); /* 1 of 10 elsewhere */
	ck_assert(!raftd_rebal_over(&t, 1, 10));
	ck_assert(raftd_rebal_over(&t, 1, 9));
	ck_assert(raftd_rebal_over(&t, 1, 0));
	ck_assert(!raftd_rebal_over(&t, 1, 100));
	ck_assert(!raftd_rebal_over(&t, 2, 0)); /* not counted at all */
	raftd_rebal_count(&t, r213, 3, 2);
	ck_assert(!raftd_rebal_over(&t, 2, 0)); /* nothing led elsewhere */
	raftd_rebal_count(&t, r213, 3, 3);
	ck_assert(raftd_rebal_over(&t, 2, 10)); /* 1 of 2 */
	ck_assert(!raftd_rebal_over(&t, 2, 50));
	ck_assert(raftd_rebal_over(&t, 2, 49));
}
END_TEST

START_TEST(test_candidate)
{
	const int32_t all[] = {1, 2, 3}, two3[] = {2, 3};

	/* Broker 1 is back in the ISR and eligible: it takes over from 2. */
	ck_assert_int_eq(raftd_rebal_candidate(2, r123, 3, all, 3, all, 3), 1);
	/* Already the leader. */
	ck_assert_int_eq(raftd_rebal_candidate(1, r123, 3, all, 3, all, 3), -1);
	/* Not (yet) in the ISR: still catching up. */
	ck_assert_int_eq(raftd_rebal_candidate(2, r123, 3, two3, 2, all, 3), -1);
	/* In the ISR but not eligible (fenced, shutting down, disk full). */
	ck_assert_int_eq(raftd_rebal_candidate(2, r123, 3, all, 3, two3, 2), -1);
	/* No leader: the fencing walk elects, not the rebalance. */
	ck_assert_int_eq(raftd_rebal_candidate(-1, r123, 3, all, 3, all, 3), -1);
	ck_assert_int_eq(raftd_rebal_candidate(2, r123, 0, all, 3, all, 3), -1);
}
END_TEST

/* More brokers than the table holds: the extra ones are not counted. */
START_TEST(test_table_bound)
{
	raftd_rebal_t t = {0};

	for (int32_t b = 1; b <= CK_CONFIG_PEERS_MAX + 4; b++) {
		int32_t r[] = {b, b + 1};

		raftd_rebal_count(&t, r, 2, b + 1);
	}
	ck_assert_uint_eq(t.n, CK_CONFIG_PEERS_MAX);
	ck_assert(raftd_rebal_over(&t, CK_CONFIG_PEERS_MAX, 10));
	ck_assert(!raftd_rebal_over(&t, CK_CONFIG_PEERS_MAX + 1, 10));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("raftd_rebal");
	TCase *tc = tcase_create("rebal");

	tcase_add_test(tc, test_counts_per_preferred_broker);
	tcase_add_test(tc, test_imbalance_percentage);
	tcase_add_test(tc, test_candidate);
	tcase_add_test(tc, test_table_bound);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
