/*
 * test_cluster_metrics.c: GET /metrics on the admin ports of a 3-node
 * cluster (cluster_harness.h), the way Prometheus scrapes each node.
 *
 *   metrics  every node names the same leader (chronik_raft_leader_id) and
 *            exactly one says it leads; the leader lists lag gauges
 *            (entries and seconds) for both followers, which come back to
 *            0 entries once writes stop; writes through a follower grow
 *            its forwarded-writes counter and its create_topic histogram,
 *            and the leader's forwards-received counter
 * Run: meson test -C <build> --suite cluster cluster_metrics
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_clock.h"
#include "ck_testlib.h"
#include "cluster_harness.h"
#include "prom_text.h"

#define ALL    ((1u << 1) | (1u << 2) | (1u << 3))
#define WRITES 40

static cl_t C;

static void teardown(void)
{
	cl_cleanup(&C);
}

/* GET /metrics of node I: asserts 200 and valid text; returns the body. */
static char *scrape(int i)
{
	ck_buf_t body = CK_BUF_INIT;
	char ctype[128], why[512];
	int status = 0;

	ck_assert_msg(prom_http_get(C.n[i - 1].admin, "/metrics", 10000, &status, ctype,
	                            sizeof(ctype), &body) == 0,
	              "node %d: no answer to GET /metrics", i);
	ck_assert_int_eq(status, 200);
	ck_assert_msg(prom_check((const char *)body.data, why, sizeof(why)) > 0,
	              "node %d: bad text: %s", i, why);
	return (char *)body.data;
}

static double value(const char *text, const char *series)
{
	double v = -1;

	ck_assert_msg(prom_value(text, series, &v), "no sample %s", series);
	return v;
}

static double scrape_value(int i, const char *series)
{
	char *t = scrape(i);
	double v = value(t, series);

	free(t);
	return v;
}

/* Waits until the leader reports 0 entries of lag for both followers. */
static void wait_caught_up(int leader, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	char series[128], *t = NULL;

	for (;;) {
		bool all = true;

		free(t);
		t = scrape(leader);
		for (int f = 1; f <= CL_NODES; f++) {
			if (f == leader)
				continue;
			snprintf(series, sizeof(series),
			         "chronik_raft_follower_lag_entries{follower=\"%d\"}", f);
			all &= value(t, series) == 0;
		}
		if (all)
			break;
		ck_assert_msg(ck_clock_mono_ms() < deadline, "followers still lag:\n%s", t);
		ck_test_sleep_ms(100);
	}
	for (int f = 1; f <= CL_NODES; f++) {
		if (f == leader)
			continue;
		snprintf(series, sizeof(series),
		         "chronik_raft_follower_lag_seconds{follower=\"%d\"}", f);
		ck_assert_double_eq(value(t, series), 0);
	}
	free(t);
}

START_TEST(metrics)
{
	static const char fwd_sent[] = "chronik_raft_forwards_sent_total";
	static const char fwd_recv[] = "chronik_raft_forwards_received_total";
	static const char ct_ok[] = "chronik_raft_write_latency_seconds_count{op=\"create_topic\","
	                            "commit_mode=\"quorum\",origin=\"local\",result=\"ok\"}";
	double sent0, recv0, ct0, leaders = 0;
	int leader, follower;
	char series[128];
	char *t;

	cl_init(&C, "cl-metrics", 0);
	cl_start_all(&C);
	leader = cl_wait_leader(&C, ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);
	follower = leader % CL_NODES + 1;
	/* The same leader everywhere, one node leading. */
	for (int i = 1; i <= CL_NODES; i++) {
		t = scrape(i);
		ck_assert_double_eq(value(t, "chronik_raft_leader_id"), leader);
		ck_assert_double_ge(value(t, "chronik_raft_term"), 1);
		leaders += value(t, "chronik_raft_role{role=\"leader\"}");
		ck_assert_double_eq(value(t, "chronik_raft_up"), 1);
		free(t);
	}
	ck_assert_double_eq(leaders, 1);
	/* Both followers have lag gauges on the leader. */
	t = scrape(leader);
	for (int f = 1; f <= CL_NODES; f++) {
		snprintf(series, sizeof(series),
		         "chronik_raft_follower_lag_entries{follower=\"%d\"}", f);
		ck_assert_int_eq(prom_count(t, series), f == leader ? 0 : 1);
		snprintf(series, sizeof(series),
		         "chronik_raft_follower_lag_seconds{follower=\"%d\"}", f);
		ck_assert_int_eq(prom_count(t, series), f == leader ? 0 : 1);
	}
	recv0 = value(t, fwd_recv);
	free(t);
	t = scrape(follower);
	ck_assert_int_eq(prom_count(t, "chronik_raft_follower_lag"), 0);
	free(t);
	/* Writes through a follower are forwarded to the leader. */
	sent0 = scrape_value(follower, fwd_sent);
	ct0 = scrape_value(follower, ct_ok);
	cl_create_many(&C, follower, "metrics-", 0, WRITES, 2);
	ck_assert_double_ge(scrape_value(follower, fwd_sent), sent0 + WRITES);
	ck_assert_double_ge(scrape_value(follower, ct_ok), ct0 + WRITES);
	t = scrape(leader);
	ck_assert_double_ge(value(t, fwd_recv), recv0 + WRITES);
	ck_assert_double_ge(value(t, "chronik_raft_write_latency_seconds_count{op=\"create_topic\","
	                             "commit_mode=\"quorum\",origin=\"follower\",result=\"ok\"}"),
	                    WRITES);
	free(t);
	wait_caught_up(leader, 10000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cluster_metrics");
	TCase *tc = tcase_create("metrics");

	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, metrics);
	suite_add_tcase(s, tc);
	return ck_test_run_mode(s, CK_FORK);
}
