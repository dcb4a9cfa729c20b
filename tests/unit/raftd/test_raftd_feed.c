/*
 * test_raftd_feed.c: unit tests of when a leader's raftd holds its queued
 * proposals for a fuller round (raftd/raftd_feed.h): 16 clients in
 * lockstep are gathered into one round, a lone client and clients that
 * pause never wait, a hold for answered clients ends after a quiet gap,
 * one for writes in the log at its bound.
 */
#include "ck_testlib.h"
#include "raftd_feed.h"

/* A lone client: it is the one answered, so its next write goes at once. */
START_TEST(test_lone_client_never_waits)
{
	raftd_feed_t f = {.queued = 1, .inflight = 0, .answered = 1, .answered_us = 1000};

	ck_assert(!raftd_feed_hold(&f, 1050));
	f.answered = 0; /* its first write */
	ck_assert(!raftd_feed_hold(&f, 1050));
	f.queued = 0;
	ck_assert(!raftd_feed_hold(&f, 1050));
}
END_TEST

/* 16 clients answered together: their writes are held until all 16 are
 * queued, so they share one round. */
START_TEST(test_lockstep_clients_share_a_round)
{
	raftd_feed_t f = {.queued = 0, .inflight = 0, .answered = 16, .answered_us = 5000};

	for (f.queued = 1; f.queued < 16; f.queued++)
		ck_assert_msg(raftd_feed_hold(&f, 5000 + 10 * f.queued), "queued %zu", f.queued);
	ck_assert(!raftd_feed_hold(&f, 5200));
	f.queued = 17;
	ck_assert(!raftd_feed_hold(&f, 5200));
}
END_TEST

/* The split this prevents: 15 writes in the log, one client already back
 * (the one answered first): it waits for the 15 instead of going alone. */
START_TEST(test_waits_for_writes_in_the_log)
{
	raftd_feed_t f = {.queued = 1, .inflight = 15, .answered = 1, .answered_us = 100};

	ck_assert(raftd_feed_hold(&f, 120));
	ck_assert(raftd_feed_hold(&f, 100 + RAFTD_FEED_HOLD_US + 1)); /* still 15 in the log */
	f.queued = 16;
	ck_assert(!raftd_feed_hold(&f, 130));
}
END_TEST

/* Answers older than RAFTD_FEED_RECENT_US no longer count: clients that
 * pause between writes never wait. Younger ones do, beyond the hold's own
 * length: answered creations come back 1-2 ms later on a busy machine. */
START_TEST(test_stale_answers_do_not_hold)
{
	raftd_feed_t f = {.queued = 1, .inflight = 0, .answered = 16, .answered_us = 1000};

	ck_assert(RAFTD_FEED_RECENT_US > RAFTD_FEED_HOLD_US);
	ck_assert(raftd_feed_hold(&f, 1000 + RAFTD_FEED_HOLD_US + 1));
	ck_assert(raftd_feed_hold(&f, 1000 + RAFTD_FEED_RECENT_US));
	ck_assert(!raftd_feed_hold(&f, 1000 + RAFTD_FEED_RECENT_US + 1));
	ck_assert(!raftd_feed_hold(&f, 999)); /* a clock before the answer: no hold */
}
END_TEST

/* A hold goes on while proposals keep coming, ends after a quiet gap, and
 * never lasts past its bound. */
START_TEST(test_hold_ends_after_gap_or_bound)
{
	/* Waiting for 16 answered clients, 3 are back. */
	raftd_feed_t f = {.queued = 3, .inflight = 0, .answered = 16, .answered_us = 0};

	/* Began at 0, the last proposal at 150: wait the rest of the gap. */
	ck_assert_uint_eq(raftd_feed_wait_us(&f, 0, 150, 160), RAFTD_FEED_GAP_US - 10);
	/* Quiet for the whole gap: feed. */
	ck_assert_uint_eq(raftd_feed_wait_us(&f, 0, 150, 150 + RAFTD_FEED_GAP_US), 0);
	/* Proposals keep coming, but the bound is near: only up to it. */
	ck_assert_uint_eq(raftd_feed_wait_us(&f, 0, 950, 960), RAFTD_FEED_HOLD_US - 960);
	ck_assert_uint_eq(raftd_feed_wait_us(&f, 0, 999, RAFTD_FEED_HOLD_US), 0);
	/* A clock that steps back counts as no time passed. */
	ck_assert_uint_eq(raftd_feed_wait_us(&f, 500, 500, 400), RAFTD_FEED_GAP_US);
}
END_TEST

/* Waiting for writes still in the log (a slow round of creations): no
 * quiet gap ends it, only the bound. */
START_TEST(test_hold_for_the_log_waits_to_the_bound)
{
	raftd_feed_t f = {.queued = 2, .inflight = 14, .answered = 2, .answered_us = 0};

	ck_assert_uint_eq(raftd_feed_wait_us(&f, 0, 10, 10 + RAFTD_FEED_GAP_US),
	                  RAFTD_FEED_HOLD_US - 10 - RAFTD_FEED_GAP_US);
	ck_assert_uint_eq(raftd_feed_wait_us(&f, 0, 10, RAFTD_FEED_HOLD_US), 0);
	f.inflight = 0; /* they were answered: the gap counts again */
	ck_assert_uint_eq(raftd_feed_wait_us(&f, 0, 10, 10 + RAFTD_FEED_GAP_US), 0);
}
END_TEST

static Suite *feed_suite(void)
{
	Suite *s = suite_create("raftd_feed");
	TCase *tc = tcase_create("feed");

	tcase_add_test(tc, test_lone_client_never_waits);
	tcase_add_test(tc, test_lockstep_clients_share_a_round);
	tcase_add_test(tc, test_waits_for_writes_in_the_log);
	tcase_add_test(tc, test_stale_answers_do_not_hold);
	tcase_add_test(tc, test_hold_ends_after_gap_or_bound);
	tcase_add_test(tc, test_hold_for_the_log_waits_to_the_bound);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(feed_suite());
}
