/*
 * test_raftd_metrics.c: unit tests of raftd's metrics core
 * (raftd/raftd_metrics.c): histogram buckets, the counts quantiles are
 * read from, follower lag, election counting, the Prometheus text a
 * scraper reads (syntax and values), and the operation read from packed
 * MetadataCommands.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_testlib.h"
#include "metacmd_cases.h"
#include "prom_text.h"
#include "raftd_metrics.h"

#define LAT   "chronik_raft_write_latency_seconds"
#define CT_OK "op=\"create_topic\",commit_mode=\"quorum\",origin=\"local\",result=\"ok\""

static raftd_metrics_t M;

static void setup(void)
{
	raftd_metrics_init(&M, false);
}

/* Renders M with LIVE; asserts the text is valid and returns it (free). */
static char *render(const raftd_metrics_live_t *live, uint64_t now_ms)
{
	ck_buf_t out = CK_BUF_INIT;
	char why[512];
	int n;

	ck_assert_int_eq(raftd_metrics_render(&M, live, now_ms, &out), 0);
	ck_assert_int_eq(ck_buf_append(&out, "", 1), 0);
	n = prom_check((const char *)out.data, why, sizeof(why));
	ck_assert_msg(n > 0, "invalid Prometheus text: %s", why);
	return (char *)out.data;
}

static double value(const char *text, const char *series)
{
	double v = -1;

	ck_assert_msg(prom_value(text, series, &v), "no sample %s", series);
	return v;
}

START_TEST(buckets_are_log_spaced_and_inclusive)
{
	const raftd_hist_t *h;

	raftd_metrics_observe(&M, RAFTD_OP_CREATE_TOPIC, false, 0, 0, 30);
	raftd_metrics_observe(&M, RAFTD_OP_CREATE_TOPIC, false, 0, 0, 50);
	raftd_metrics_observe(&M, RAFTD_OP_CREATE_TOPIC, false, 0, 0, 51);
	raftd_metrics_observe(&M, RAFTD_OP_CREATE_TOPIC, false, 0, 0, 1000);
	raftd_metrics_observe(&M, RAFTD_OP_CREATE_TOPIC, false, 0, 0, 1001);
	raftd_metrics_observe(&M, RAFTD_OP_CREATE_TOPIC, false, 0, 0, 40000000);
	h = raftd_metrics_hist(&M, RAFTD_OP_CREATE_TOPIC, RAFTD_ORIGIN_LOCAL, RAFTD_RESULT_OK);
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->count, 6);
	ck_assert_uint_eq(h->sum_us, 30 + 50 + 51 + 1000 + 1001 + 40000000);
	ck_assert_uint_eq(h->buckets[0], 2);                    /* <= 50 us */
	ck_assert_uint_eq(h->buckets[1], 1);                    /* <= 100 us */
	ck_assert_uint_eq(h->buckets[4], 1);                    /* <= 1 ms */
	ck_assert_uint_eq(h->buckets[5], 1);                    /* <= 2 ms */
	ck_assert_uint_eq(h->buckets[RAFTD_METRICS_BOUNDS], 1); /* +Inf */
	/* Bounds grow by 2 to 2.5 per step: a quantile is off by that at most. */
	for (size_t i = 1; i < RAFTD_METRICS_BOUNDS; i++) {
		ck_assert_uint_gt(raftd_hist_bound_us(i), raftd_hist_bound_us(i - 1));
		ck_assert_uint_le(raftd_hist_bound_us(i), raftd_hist_bound_us(i - 1) * 5 / 2);
	}
	ck_assert_uint_eq(raftd_hist_bound_us(RAFTD_METRICS_BOUNDS), UINT64_MAX);
}
END_TEST

START_TEST(results_and_origins_are_apart)
{
	raftd_metrics_observe(&M, RAFTD_OP_DELETE_TOPIC, false, 0, 0, 10);
	raftd_metrics_observe(&M, RAFTD_OP_DELETE_TOPIC, false, 0, CK_E_NOT_FOUND, 10);
	raftd_metrics_observe(&M, RAFTD_OP_DELETE_TOPIC, false, CK_E_TIMEOUT, 0, 10);
	raftd_metrics_observe(&M, RAFTD_OP_DELETE_TOPIC, true, 0, 0, 10);
	raftd_metrics_observe(&M, (raftd_op_t)200, false, 0, 0, 10);
	ck_assert_uint_eq(
	    raftd_metrics_hist(&M, RAFTD_OP_DELETE_TOPIC, RAFTD_ORIGIN_LOCAL, RAFTD_RESULT_OK)
	        ->count,
	    1);
	ck_assert_uint_eq(
	    raftd_metrics_hist(&M, RAFTD_OP_DELETE_TOPIC, RAFTD_ORIGIN_LOCAL, RAFTD_RESULT_REJECTED)
	        ->count,
	    1);
	ck_assert_uint_eq(
	    raftd_metrics_hist(&M, RAFTD_OP_DELETE_TOPIC, RAFTD_ORIGIN_LOCAL, RAFTD_RESULT_ERROR)
	        ->count,
	    1);
	ck_assert_uint_eq(
	    raftd_metrics_hist(&M, RAFTD_OP_DELETE_TOPIC, RAFTD_ORIGIN_FOLLOWER, RAFTD_RESULT_OK)
	        ->count,
	    1);
	ck_assert_uint_eq(
	    raftd_metrics_hist(&M, RAFTD_OP_OTHER, RAFTD_ORIGIN_LOCAL, RAFTD_RESULT_OK)->count, 1);
	ck_assert_ptr_null(raftd_metrics_hist(&M, RAFTD_OP_COUNT, 0, 0));
}
END_TEST

START_TEST(quantiles_from_bucket_counts)
{
	const raftd_hist_t *h;

	for (int i = 0; i < 90; i++)
		raftd_metrics_observe(&M, RAFTD_OP_REGISTER_BROKER, false, 0, 0, 800);
	for (int i = 0; i < 9; i++)
		raftd_metrics_observe(&M, RAFTD_OP_REGISTER_BROKER, false, 0, 0, 4000);
	raftd_metrics_observe(&M, RAFTD_OP_REGISTER_BROKER, false, 0, 0, 3000000);
	h = raftd_metrics_hist(&M, RAFTD_OP_REGISTER_BROKER, RAFTD_ORIGIN_LOCAL, RAFTD_RESULT_OK);
	ck_assert_uint_eq(raftd_hist_quantile_us(h, 0.50), 1000);
	ck_assert_uint_eq(raftd_hist_quantile_us(h, 0.90), 1000);
	ck_assert_uint_eq(raftd_hist_quantile_us(h, 0.95), 5000);
	ck_assert_uint_eq(raftd_hist_quantile_us(h, 0.99), 5000);
	ck_assert_uint_eq(raftd_hist_quantile_us(h, 1.0), 5000000);
	ck_assert_uint_eq(
	    raftd_hist_quantile_us(
	        raftd_metrics_hist(&M, RAFTD_OP_NOOP, RAFTD_ORIGIN_LOCAL, RAFTD_RESULT_OK), 0.5),
	    0);
}
END_TEST

START_TEST(text_has_cumulative_buckets)
{
	raftd_metrics_live_t live = {.started = true, .node_id = 1, .role = RAFT_LEADER};
	uint64_t voters[] = {1};
	char *t;

	live.voters = voters;
	live.n_voters = 1;
	raftd_metrics_observe(&M, RAFTD_OP_CREATE_TOPIC, false, 0, 0, 80);
	raftd_metrics_observe(&M, RAFTD_OP_CREATE_TOPIC, false, 0, 0, 700);
	raftd_metrics_observe(&M, RAFTD_OP_CREATE_TOPIC, false, 0, 0, 900);
	raftd_metrics_observe(&M, RAFTD_OP_CREATE_TOPIC, false, 0, 0, 1500000);
	t = render(&live, 1000);
	ck_assert_double_eq(value(t, LAT "_bucket{" CT_OK ",le=\"0.00005\"}"), 0);
	ck_assert_double_eq(value(t, LAT "_bucket{" CT_OK ",le=\"0.0001\"}"), 1);
	ck_assert_double_eq(value(t, LAT "_bucket{" CT_OK ",le=\"0.0005\"}"), 1);
	ck_assert_double_eq(value(t, LAT "_bucket{" CT_OK ",le=\"0.001\"}"), 3);
	ck_assert_double_eq(value(t, LAT "_bucket{" CT_OK ",le=\"1\"}"), 3);
	ck_assert_double_eq(value(t, LAT "_bucket{" CT_OK ",le=\"2\"}"), 4);
	ck_assert_double_eq(value(t, LAT "_bucket{" CT_OK ",le=\"+Inf\"}"), 4);
	ck_assert_double_eq(value(t, LAT "_count{" CT_OK "}"), 4);
	ck_assert_double_eq_tol(value(t, LAT "_sum{" CT_OK "}"), 1.50168, 1e-9);
	/* Local ok series exist for every operation; the others only once
	 * they have data. */
	ck_assert_int_eq(prom_count(t, LAT "_count{op=\"fence_broker\""), 1);
	ck_assert_int_eq(prom_count(t, LAT "_count{"), RAFTD_OP_COUNT);
	ck_assert_int_eq(prom_count(t, LAT "_bucket{op=\"noop\""), RAFTD_METRICS_BOUNDS + 1);
	free(t);
}
END_TEST

START_TEST(text_gauges_and_counters)
{
	uint64_t voters[] = {1, 2, 3};
	raftd_metrics_live_t live = {
	    .started = true,
	    .node_id = 2,
	    .role = RAFT_FOLLOWER,
	    .term = 7,
	    .leader = 3,
	    .commit_index = 40,
	    .applied_index = 39,
	    .last_index = 41,
	    .apply_lag = 1,
	    .pending = 5,
	    .voters = voters,
	    .n_voters = 3,
	};
	char *t;

	raftd_metrics_proposed(&M, false);
	raftd_metrics_proposed(&M, false);
	raftd_metrics_forward_sent(&M);
	raftd_metrics_proposed(&M, true);
	t = render(&live, 5000);
	ck_assert_double_eq(value(t, "chronik_raft_up"), 1);
	ck_assert_double_eq(value(t, "chronik_raft_term"), 7);
	ck_assert_double_eq(value(t, "chronik_raft_leader_id"), 3);
	ck_assert_double_eq(value(t, "chronik_raft_role{role=\"follower\"}"), 1);
	ck_assert_double_eq(value(t, "chronik_raft_role{role=\"leader\"}"), 0);
	ck_assert_double_eq(value(t, "chronik_raft_role{role=\"candidate\"}"), 0);
	ck_assert_double_eq(value(t, "chronik_raft_commit_index"), 40);
	ck_assert_double_eq(value(t, "chronik_raft_applied_index"), 39);
	ck_assert_double_eq(value(t, "chronik_raft_last_index"), 41);
	ck_assert_double_eq(value(t, "chronik_raft_apply_lag_entries"), 1);
	ck_assert_double_eq(value(t, "chronik_raft_proposals_pending"), 5);
	ck_assert_double_eq(value(t, "chronik_raft_commit_mode{mode=\"quorum\"}"), 1);
	ck_assert_double_eq(value(t, "chronik_raft_writes_proposed_total"), 2);
	ck_assert_double_eq(value(t, "chronik_raft_forwards_sent_total"), 1);
	ck_assert_double_eq(value(t, "chronik_raft_forwards_received_total"), 1);
	/* Follower lag is the leader's business. */
	ck_assert_int_eq(prom_count(t, "chronik_raft_follower_lag"), 0);
	free(t);
	/* Before the core runs: no Raft gauges, still valid text. */
	live.started = false;
	t = render(&live, 5000);
	ck_assert_int_eq(prom_count(t, "chronik_raft_term"), 0);
	ck_assert_double_eq(value(t, "chronik_raft_up"), 1);
	free(t);
}
END_TEST

START_TEST(commit_mode_label)
{
	raftd_metrics_live_t live = {0};
	char *t;

	raftd_metrics_init(&M, true);
	t = render(&live, 0);
	ck_assert_double_eq(value(t, "chronik_raft_commit_mode{mode=\"leader\"}"), 1);
	ck_assert_double_eq(value(t, "chronik_raft_commit_mode{mode=\"quorum\"}"), 0);
	ck_assert_int_eq(prom_count(t, LAT "_count{op=\"create_topic\",commit_mode=\"leader\""), 1);
	free(t);
}
END_TEST

START_TEST(elections_and_leader_changes)
{
	raftd_metrics_soft_state(&M, RAFT_FOLLOWER, RAFT_NONE, RAFT_FOLLOWER, 2, 100);
	raftd_metrics_soft_state(&M, RAFT_FOLLOWER, 2, RAFT_PRE_CANDIDATE, RAFT_NONE, 200);
	raftd_metrics_soft_state(&M, RAFT_PRE_CANDIDATE, RAFT_NONE, RAFT_CANDIDATE, RAFT_NONE, 300);
	raftd_metrics_soft_state(&M, RAFT_CANDIDATE, RAFT_NONE, RAFT_LEADER, 1, 400);
	ck_assert_uint_eq(M.elections, 1); /* pre-vote and vote are one election */
	ck_assert_uint_eq(M.leader_changes, 2);
	ck_assert_uint_eq(M.lead_start_ms, 400);
	raftd_metrics_soft_state(&M, RAFT_LEADER, 1, RAFT_FOLLOWER, 3, 500);
	raftd_metrics_soft_state(&M, RAFT_FOLLOWER, 3, RAFT_CANDIDATE, RAFT_NONE, 600);
	ck_assert_uint_eq(M.elections, 2);
	ck_assert_uint_eq(M.leader_changes, 3);
}
END_TEST

START_TEST(follower_lag)
{
	uint64_t voters[] = {1, 2, 3}, e;
	raftd_metrics_live_t live = {
	    .started = true, .node_id = 1, .role = RAFT_LEADER, .voters = voters, .n_voters = 3};
	double s;
	char *t;

	raftd_metrics_soft_state(&M, RAFT_CANDIDATE, RAFT_NONE, RAFT_LEADER, 1, 10000);
	/* 2 caught up at 10.1 s; the leader appends at 10.2 s; 2 has it at
	 * 10.3 s: never behind for long. */
	raftd_metrics_follower_report(&M, 2, 100, 100, 10100);
	live.last_index = 110;
	raftd_metrics_follower_lag(&M, &live, 2, 10250, &e, &s);
	ck_assert_uint_eq(e, 10);
	ck_assert_double_eq_tol(s, 0.15, 1e-9);
	raftd_metrics_follower_report(&M, 2, 110, 110, 10300);
	raftd_metrics_follower_lag(&M, &live, 2, 10400, &e, &s);
	ck_assert_uint_eq(e, 0);
	ck_assert_double_eq(s, 0);
	/* Under a steady stream, behind the live end but holding what the
	 * leader had at the previous report: caught up as of that report. */
	raftd_metrics_follower_report(&M, 2, 115, 120, 10500);
	raftd_metrics_follower_report(&M, 2, 121, 130, 10600);
	live.last_index = 130;
	raftd_metrics_follower_lag(&M, &live, 2, 10650, &e, &s);
	ck_assert_uint_eq(e, 9);
	ck_assert_double_eq_tol(s, 0.15, 1e-9);
	/* 3 was never heard from: all of the log, since leadership began. */
	raftd_metrics_follower_lag(&M, &live, 3, 12000, &e, &s);
	ck_assert_uint_eq(e, 130);
	ck_assert_double_eq_tol(s, 2.0, 1e-9);
	/* A follower stuck at 50 for seconds. */
	raftd_metrics_follower_report(&M, 3, 50, 130, 12000);
	raftd_metrics_follower_report(&M, 3, 50, 130, 15000);
	raftd_metrics_follower_lag(&M, &live, 3, 16000, &e, &s);
	ck_assert_uint_eq(e, 80);
	ck_assert_double_eq_tol(s, 6.0, 1e-9);
	/* A follower's log past ours (entries of an old term) is not ahead. */
	raftd_metrics_follower_report(&M, 2, 200, 130, 16000);
	raftd_metrics_follower_lag(&M, &live, 2, 16000, &e, &s);
	ck_assert_uint_eq(e, 0);
	t = render(&live, 16000);
	ck_assert_double_eq(value(t, "chronik_raft_follower_lag_entries{follower=\"2\"}"), 0);
	ck_assert_double_eq(value(t, "chronik_raft_follower_lag_entries{follower=\"3\"}"), 80);
	ck_assert_double_eq(value(t, "chronik_raft_follower_lag_seconds{follower=\"2\"}"), 0);
	ck_assert_double_eq(value(t, "chronik_raft_follower_lag_seconds{follower=\"3\"}"), 6);
	ck_assert_int_eq(prom_count(t, "chronik_raft_follower_lag_entries{follower=\"1\"}"), 0);
	free(t);
	/* A new leadership forgets what the old one knew. */
	raftd_metrics_soft_state(&M, RAFT_LEADER, 1, RAFT_FOLLOWER, 2, 17000);
	raftd_metrics_soft_state(&M, RAFT_CANDIDATE, RAFT_NONE, RAFT_LEADER, 1, 20000);
	raftd_metrics_follower_lag(&M, &live, 2, 20500, &e, &s);
	ck_assert_uint_eq(e, 130);
	ck_assert_double_eq_tol(s, 0.5, 1e-9);
}
END_TEST

START_TEST(op_of_packed_commands)
{
	const struct {
		Chronik__Meta__MetadataCommand__CmdCase cmd_case;
		raftd_op_t op;
	} cases[] = {
	    {CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC, RAFTD_OP_CREATE_TOPIC},
	    {CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC, RAFTD_OP_DELETE_TOPIC},
	    {CHRONIK__META__METADATA_COMMAND__CMD_CREATE_PARTITIONS, RAFTD_OP_CREATE_PARTITIONS},
	    {CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS, RAFTD_OP_ALTER_CONFIGS},
	    {CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER, RAFTD_OP_REGISTER_BROKER},
	    {CHRONIK__META__METADATA_COMMAND__CMD_FENCE_BROKER, RAFTD_OP_FENCE_BROKER},
	    {CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION, RAFTD_OP_UPDATE_PARTITION},
	    {CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS,
	     RAFTD_OP_ALLOCATE_PRODUCER_IDS},
	    {CHRONIK__META__METADATA_COMMAND__CMD_NOOP, RAFTD_OP_NOOP},
	    {CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS, RAFTD_OP_COMMIT_OFFSETS},
	    {CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP, RAFTD_OP_DELETE_GROUP},
	    {CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS, RAFTD_OP_DELETE_OFFSETS},
	    {CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP, RAFTD_OP_STORE_GROUP},
	};
	static const uint8_t garbage[] = {0x08, 0x01}, long_key[] = {0xca, 0x01, 0x00},
	                     past_last[] = {(14 << 3) | 2, 0x00};
	uint8_t buf[4096];
	char name[300];

	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0'; /* a length past one varint byte */
	ck_assert_uint_eq(sizeof(cases) / sizeof(cases[0]), metacmd_n_cases());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = metacmd_pack(cases[i].cmd_case, name, buf, sizeof(buf));

		ck_assert_int_eq(raftd_metrics_op_of(buf, len), cases[i].op);
	}
	ck_assert_str_eq(raftd_metrics_op_name(RAFTD_OP_ALLOCATE_PRODUCER_IDS),
	                 "allocate_producer_ids");
	ck_assert_str_eq(raftd_metrics_op_name(RAFTD_OP_COMMIT_OFFSETS), "commit_offsets");
	ck_assert_str_eq(raftd_metrics_op_name(RAFTD_OP_DELETE_GROUP), "delete_group");
	ck_assert_str_eq(raftd_metrics_op_name(RAFTD_OP_DELETE_OFFSETS), "delete_offsets");
	ck_assert_str_eq(raftd_metrics_op_name(RAFTD_OP_OTHER), "other");
	/* Not a command: wrong wire type, unknown field (25), cut short,
	 * nothing. */
	ck_assert_int_eq(raftd_metrics_op_of(garbage, sizeof(garbage)), RAFTD_OP_OTHER);
	ck_assert_int_eq(raftd_metrics_op_of(long_key, sizeof(long_key)), RAFTD_OP_OTHER);
	ck_assert_int_eq(raftd_metrics_op_of(long_key, 1), RAFTD_OP_OTHER);
	ck_assert_int_eq(raftd_metrics_op_of(NULL, 0), RAFTD_OP_OTHER);
	/* A length-delimited field past the last command (12). */
	ck_assert_int_eq(raftd_metrics_op_of(past_last, sizeof(past_last)), RAFTD_OP_OTHER);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("raftd_metrics");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, buckets_are_log_spaced_and_inclusive);
	tcase_add_test(tc, results_and_origins_are_apart);
	tcase_add_test(tc, quantiles_from_bucket_counts);
	tcase_add_test(tc, text_has_cumulative_buckets);
	tcase_add_test(tc, text_gauges_and_counters);
	tcase_add_test(tc, commit_mode_label);
	tcase_add_test(tc, elections_and_leader_changes);
	tcase_add_test(tc, follower_lag);
	tcase_add_test(tc, op_of_packed_commands);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
