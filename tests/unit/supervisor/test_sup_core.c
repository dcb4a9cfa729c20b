/*
 * test_sup_core.c: unit tests of the supervisor's pure core (sup_core.h)
 * and of the pure parsers it relies on: notify datagrams (ck_notify_field,
 * sup_notify_parse) and LISTEN_FDNAMES (ck_listen_names_parse).
 * Time is simulated: every call gets now_ms explicitly.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <check.h>

#include "ck_listen.h"
#include "ck_notify.h"
#include "ck_testlib.h"
#include "sup_core.h"

static const sup_policy_cfg_t base_cfg = {
    .backoff_initial_ms = 100,
    .backoff_max_ms = 5000,
    .stable_ms = 10000,
    .burst = 30,
    .window_ms = 60000,
};

/* One crash of a process that ran UPTIME_MS, ending at NOW_MS. */
static sup_verdict_t crash(sup_policy_t *p, const sup_policy_cfg_t *cfg, uint64_t uptime_ms,
                           uint64_t now_ms)
{
	sup_verdict_t v;

	sup_policy_on_exit(p, cfg, SUP_EXIT_CRASH, uptime_ms, now_ms, &v);
	return v;
}

START_TEST(test_exit_classify)
{
	ck_assert_int_eq(sup_exit_classify(W_EXITCODE(0, 0)), SUP_EXIT_STOPPED);
	ck_assert_int_eq(sup_exit_classify(W_EXITCODE(1, 0)), SUP_EXIT_CRASH);
	ck_assert_int_eq(sup_exit_classify(W_EXITCODE(2, 0)), SUP_EXIT_FATAL);
	ck_assert_int_eq(sup_exit_classify(W_EXITCODE(3, 0)), SUP_EXIT_CRASH);
	ck_assert_int_eq(sup_exit_classify(W_EXITCODE(127, 0)), SUP_EXIT_CRASH);
	ck_assert_int_eq(sup_exit_classify(W_EXITCODE(0, SIGKILL)), SUP_EXIT_CRASH);
	ck_assert_int_eq(sup_exit_classify(W_EXITCODE(0, SIGSEGV) | 0x80), SUP_EXIT_CRASH);
	ck_assert_int_eq(sup_exit_classify(W_EXITCODE(0, SIGTERM)), SUP_EXIT_CRASH);
}
END_TEST

START_TEST(test_exit_describe)
{
	char buf[128];

	sup_exit_describe(W_EXITCODE(2, 0), buf, sizeof(buf));
	ck_assert_str_eq(buf, "exited with status 2");
	sup_exit_describe(W_EXITCODE(0, SIGKILL), buf, sizeof(buf));
	ck_assert_str_eq(buf, "killed by signal 9 (SIGKILL)");
	sup_exit_describe(W_EXITCODE(0, SIGSEGV) | 0x80, buf, sizeof(buf));
	ck_assert_str_eq(buf, "killed by signal 11 (SIGSEGV), core dumped");
	sup_exit_describe(W_EXITCODE(0, SIGKILL), buf, 8);
	ck_assert_str_eq(buf, "killed ");
}
END_TEST

START_TEST(test_state_names_and_edges)
{
	ck_assert_str_eq(sup_state_name(SUP_STATE_STOPPED), "stopped");
	ck_assert_str_eq(sup_state_name(SUP_STATE_STARTING), "starting");
	ck_assert_str_eq(sup_state_name(SUP_STATE_READY), "ready");
	ck_assert_str_eq(sup_state_name(SUP_STATE_STOPPING), "stopping");
	ck_assert_str_eq(sup_state_name(SUP_STATE_BACKOFF), "backoff");
	ck_assert_str_eq(sup_state_name(SUP_STATE_FAILED), "failed");
	ck_assert_str_eq(sup_state_name(SUP_STATE_COUNT), "?");

	ck_assert(sup_state_transition_ok(SUP_STATE_STOPPED, SUP_STATE_STARTING));
	ck_assert(sup_state_transition_ok(SUP_STATE_STARTING, SUP_STATE_READY));
	ck_assert(sup_state_transition_ok(SUP_STATE_READY, SUP_STATE_BACKOFF));
	ck_assert(sup_state_transition_ok(SUP_STATE_BACKOFF, SUP_STATE_STARTING));
	ck_assert(sup_state_transition_ok(SUP_STATE_READY, SUP_STATE_STOPPING));
	ck_assert(sup_state_transition_ok(SUP_STATE_STOPPING, SUP_STATE_STOPPED));
	ck_assert(sup_state_transition_ok(SUP_STATE_READY, SUP_STATE_FAILED));
	ck_assert(!sup_state_transition_ok(SUP_STATE_STOPPED, SUP_STATE_READY));
	ck_assert(!sup_state_transition_ok(SUP_STATE_BACKOFF, SUP_STATE_READY));
	ck_assert(!sup_state_transition_ok(SUP_STATE_FAILED, SUP_STATE_STARTING));
	ck_assert(!sup_state_transition_ok(SUP_STATE_READY, SUP_STATE_READY));
	ck_assert(!sup_state_transition_ok(SUP_STATE_READY, SUP_STATE_COUNT));
}
END_TEST

START_TEST(test_backoff_doubles_and_caps)
{
	static sup_policy_t p;
	const uint64_t want[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
	uint64_t now = 1000;

	sup_policy_init(&p);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		sup_verdict_t v = crash(&p, &base_cfg, 50, now);

		ck_assert_int_eq(v.decision, SUP_DECISION_RESTART);
		ck_assert_uint_eq(v.delay_ms, want[i]);
		ck_assert_uint_eq(v.crashes_in_window, i + 1);
		now += v.delay_ms + 50;
	}
}
END_TEST

START_TEST(test_backoff_resets_after_stable_uptime)
{
	static sup_policy_t p;
	sup_verdict_t v;

	sup_policy_init(&p);
	ck_assert_uint_eq(crash(&p, &base_cfg, 10, 1000).delay_ms, 100);
	ck_assert_uint_eq(crash(&p, &base_cfg, 10, 1200).delay_ms, 200);
	ck_assert_uint_eq(crash(&p, &base_cfg, 10, 1500).delay_ms, 400);
	/* Just below stable: keeps doubling. */
	ck_assert_uint_eq(crash(&p, &base_cfg, 9999, 12000).delay_ms, 800);
	/* Ran stable_ms: starts over. */
	v = crash(&p, &base_cfg, 10000, 30000);
	ck_assert_int_eq(v.decision, SUP_DECISION_RESTART);
	ck_assert_uint_eq(v.delay_ms, 100);
	ck_assert_uint_eq(crash(&p, &base_cfg, 10, 30200).delay_ms, 200);
}
END_TEST

START_TEST(test_burst_gives_up)
{
	static sup_policy_t p;
	sup_policy_cfg_t cfg = base_cfg;
	sup_verdict_t v;

	cfg.burst = 3;
	cfg.window_ms = 10000;
	sup_policy_init(&p);
	for (int i = 0; i < 3; i++) {
		v = crash(&p, &cfg, 10, 1000 + (uint64_t)i * 100);
		ck_assert_int_eq(v.decision, SUP_DECISION_RESTART);
	}
	/* The fourth crash within 10 s is one more than the burst allows. */
	v = crash(&p, &cfg, 10, 1300);
	ck_assert_int_eq(v.decision, SUP_DECISION_GIVE_UP);
	ck_assert_uint_eq(v.crashes_in_window, 4);
}
END_TEST

START_TEST(test_burst_window_slides)
{
	static sup_policy_t p;
	sup_policy_cfg_t cfg = base_cfg;
	sup_verdict_t v;

	cfg.burst = 3;
	cfg.window_ms = 10000;
	sup_policy_init(&p);
	/* Three crashes at 0, 1, 2 s; the next at 10.5 s sees the first one
	 * leave the window, so it is only the third within it. */
	ck_assert_int_eq(crash(&p, &cfg, 10, 0).decision, SUP_DECISION_RESTART);
	ck_assert_int_eq(crash(&p, &cfg, 10, 1000).decision, SUP_DECISION_RESTART);
	ck_assert_int_eq(crash(&p, &cfg, 10, 2000).decision, SUP_DECISION_RESTART);
	v = crash(&p, &cfg, 10, 10500);
	ck_assert_int_eq(v.decision, SUP_DECISION_RESTART);
	ck_assert_uint_eq(v.crashes_in_window, 3);
	/* 11.5 s: the crashes at 2, 10.5, 11 s remain plus this one: 4 > 3. */
	ck_assert_int_eq(crash(&p, &cfg, 10, 11000).decision, SUP_DECISION_RESTART);
	v = crash(&p, &cfg, 10, 11500);
	ck_assert_int_eq(v.decision, SUP_DECISION_GIVE_UP);
}
END_TEST

START_TEST(test_twenty_crashes_below_burst)
{
	static sup_policy_t p;
	sup_policy_cfg_t cfg = base_cfg;
	uint64_t now = 0;

	cfg.burst = 25;
	sup_policy_init(&p);
	for (int i = 0; i < 20; i++) {
		sup_verdict_t v = crash(&p, &cfg, 5, now);
		ck_assert_int_eq(v.decision, SUP_DECISION_RESTART);
		now += v.delay_ms + 5;
	}
}
END_TEST

START_TEST(test_large_burst_is_clamped)
{
	static sup_policy_t p;
	sup_policy_cfg_t cfg = base_cfg;
	sup_verdict_t v;

	cfg.burst = 100000;
	cfg.window_ms = 1000000;
	cfg.backoff_initial_ms = 0;
	ck_assert(sup_policy_cfg_sanitize(&cfg));
	ck_assert_uint_eq(cfg.burst, SUP_BURST_MAX);
	ck_assert_uint_eq(cfg.backoff_initial_ms, 1);
	ck_assert(!sup_policy_cfg_sanitize(&cfg));
	sup_policy_init(&p);
	for (uint32_t i = 0; i < SUP_BURST_MAX; i++)
		ck_assert_int_eq(crash(&p, &cfg, 1, i).decision, SUP_DECISION_RESTART);
	v = crash(&p, &cfg, 1, SUP_BURST_MAX);
	ck_assert_int_eq(v.decision, SUP_DECISION_GIVE_UP);
}
END_TEST

START_TEST(test_fatal_and_clean_exit)
{
	static sup_policy_t p;
	sup_verdict_t v;

	sup_policy_init(&p);
	sup_policy_on_exit(&p, &base_cfg, SUP_EXIT_FATAL, 100000, 5000, &v);
	ck_assert_int_eq(v.decision, SUP_DECISION_FATAL);
	/* An unrequested exit 0 is restarted like a crash and counted. */
	sup_policy_on_exit(&p, &base_cfg, SUP_EXIT_STOPPED, 100, 6000, &v);
	ck_assert_int_eq(v.decision, SUP_DECISION_RESTART);
	ck_assert_uint_eq(v.delay_ms, 100);
	ck_assert_uint_eq(v.crashes_in_window, 1);
}
END_TEST

START_TEST(test_order)
{
	sup_state_t st[4] = {SUP_STATE_STOPPED, SUP_STATE_STOPPED, SUP_STATE_STOPPED,
	                     SUP_STATE_STOPPED};
	bool started[4] = {false, false, false, false};

	ck_assert_int_eq(sup_order_next_start(st, started, 4), 0);
	st[0] = SUP_STATE_STARTING;
	started[0] = true;
	ck_assert_int_eq(sup_order_next_start(st, started, 4), -1);
	st[0] = SUP_STATE_READY;
	ck_assert_int_eq(sup_order_next_start(st, started, 4), 1);
	st[1] = SUP_STATE_READY;
	started[1] = true;
	st[0] = SUP_STATE_BACKOFF; /* a crash during start-up holds the rest */
	ck_assert_int_eq(sup_order_next_start(st, started, 4), -1);
	st[0] = SUP_STATE_READY;
	ck_assert_int_eq(sup_order_next_start(st, started, 4), 2);
	ck_assert(!sup_order_all_ready(st, 4));
	st[2] = st[3] = SUP_STATE_READY;
	started[2] = started[3] = true;
	ck_assert_int_eq(sup_order_next_start(st, started, 4), -1);
	ck_assert(sup_order_all_ready(st, 4));

	ck_assert_int_eq(sup_order_next_stop(st, 4), 3);
	st[3] = SUP_STATE_STOPPED;
	st[2] = SUP_STATE_FAILED;
	ck_assert_int_eq(sup_order_next_stop(st, 4), 1);
	st[1] = SUP_STATE_STOPPED;
	st[0] = SUP_STATE_BACKOFF;
	ck_assert_int_eq(sup_order_next_stop(st, 4), 0);
	st[0] = SUP_STATE_STOPPED;
	ck_assert_int_eq(sup_order_next_stop(st, 4), -1);
}
END_TEST

START_TEST(test_notify_field)
{
	char v[16];

	ck_assert(ck_notify_field("READY=1\nSTATUS=serving", "STATUS", v, sizeof(v)));
	ck_assert_str_eq(v, "serving");
	ck_assert(ck_notify_field("READY=1\nSTATUS=serving", "READY", v, sizeof(v)));
	ck_assert_str_eq(v, "1");
	ck_assert(!ck_notify_field("READY=1", "READ", v, sizeof(v)));
	ck_assert(!ck_notify_field("XREADY=1", "READY", v, sizeof(v)));
	ck_assert(!ck_notify_field("STATUS", "STATUS", v, sizeof(v)));
	ck_assert(ck_notify_field("STATUS=", "STATUS", v, sizeof(v)));
	ck_assert_str_eq(v, "");
	/* Truncated to the buffer, never overflowing it. */
	ck_assert(ck_notify_field("STATUS=0123456789abcdefXYZ\n", "STATUS", v, sizeof(v)));
	ck_assert_str_eq(v, "0123456789abcde");
	ck_assert(ck_notify_field("A=1\n\nB=2\n", "B", v, sizeof(v)));
	ck_assert_str_eq(v, "2");
}
END_TEST

START_TEST(test_notify_parse)
{
	sup_notify_t n;

	ck_assert_int_eq(sup_notify_parse("READY=1\nSTATUS=raftd: no role\nCHRONIK_ROLE=none", &n),
	                 0);
	ck_assert(n.ready);
	ck_assert(n.has_status);
	ck_assert_str_eq(n.status, "raftd: no role");
	ck_assert(n.has_role);
	ck_assert_str_eq(n.role, "none");
	ck_assert(!n.watchdog);
	ck_assert(!n.stopping);

	ck_assert(!n.drained);

	ck_assert_int_eq(sup_notify_parse("WATCHDOG=1", &n), 0);
	ck_assert(n.watchdog);
	ck_assert(!n.ready);
	ck_assert(!n.has_status);

	ck_assert_int_eq(sup_notify_parse("CHRONIK_DRAINED=1", &n), 0);
	ck_assert(n.drained);
	ck_assert(!n.ready);

	ck_assert_int_eq(sup_notify_parse("READY=0\nSTOPPING=1\nERRNO=5\nMAINPID=42", &n), 0);
	ck_assert(!n.ready);
	ck_assert(n.stopping);
	ck_assert(n.has_errno);
	ck_assert_int_eq(n.errno_value, 5);
	ck_assert(n.has_main_pid);
	ck_assert_int_eq(n.main_pid, 42);

	ck_assert_int_eq(sup_notify_parse("ERRNO=abc\nMAINPID=-3\nFDSTORE=1", &n), 0);
	ck_assert(!n.has_errno);
	ck_assert(!n.has_main_pid);

	ck_assert(!n.has_extend);

	ck_assert_int_eq(sup_notify_parse("EXTEND_TIMEOUT_USEC=30000000\nSTATUS=recovering", &n),
	                 0);
	ck_assert(n.has_extend);
	ck_assert_uint_eq(n.extend_usec, 30000000);
	ck_assert_int_eq(sup_notify_parse("EXTEND_TIMEOUT_USEC=18446744073709551615", &n), 0);
	ck_assert(n.has_extend);
	ck_assert_uint_eq(n.extend_usec, UINT64_MAX);
	/* Malformed, negative or past 64 bits: ignored, as systemd does. */
	ck_assert_int_eq(sup_notify_parse("EXTEND_TIMEOUT_USEC=-5", &n), 0);
	ck_assert(!n.has_extend);
	ck_assert_int_eq(sup_notify_parse("EXTEND_TIMEOUT_USEC=12x", &n), 0);
	ck_assert(!n.has_extend);
	ck_assert_int_eq(sup_notify_parse("EXTEND_TIMEOUT_USEC=18446744073709551616", &n), 0);
	ck_assert(!n.has_extend);
	ck_assert_int_eq(sup_notify_parse("EXTEND_TIMEOUT_USEC=", &n), 0);
	ck_assert(!n.has_extend);

	ck_assert_int_eq(sup_notify_parse("garbage", &n), -EINVAL);
	ck_assert(!n.ready);
	ck_assert_int_eq(sup_notify_parse("", &n), -EINVAL);
}
END_TEST

/* A child is killed after hang_kill_ms of silence seen by on-time checks;
 * a keepalive, a late check (the supervisor itself paused) or a child not
 * ready starts the count over. */
START_TEST(test_hang_check)
{
	sup_hang_t h = {0};
	uint64_t t = 100000, alive = t;
	int checks = 0;

	/* Keepalives every second: never. */
	for (int i = 0; i < 100; i++, t += 1000) {
		alive = t - 500;
		ck_assert(!sup_hang_check(&h, alive, t, 30000));
	}
	/* Silent from ALIVE on: killed at the check 30 s after it, not before. */
	alive = t;
	for (;; t += 1000) {
		checks++;
		if (sup_hang_check(&h, alive, t, 30000))
			break;
		ck_assert_int_le(checks, 40);
	}
	ck_assert_uint_eq(t - alive, 30000);
	/* 0 = never. */
	h = (sup_hang_t){0};
	for (int i = 0; i < 100; i++, t += 1000)
		ck_assert(!sup_hang_check(&h, alive, t, 0));
	/* Not ready (alive 0): nothing counted. */
	h = (sup_hang_t){0};
	for (int i = 0; i < 100; i++, t += 1000)
		ck_assert(!sup_hang_check(&h, 0, t, 30000));
	/* The whole node paused for a minute: the first check after it is late,
	 * the count starts over, and a keepalive within the next seconds keeps
	 * the child. */
	h = (sup_hang_t){0};
	alive = t;
	ck_assert(!sup_hang_check(&h, alive, t, 30000));
	t += 60000;
	ck_assert(!sup_hang_check(&h, alive, t, 30000));
	t += 1000;
	ck_assert(!sup_hang_check(&h, alive, t, 30000));
	alive = t + 200;
	t += 1000;
	ck_assert(!sup_hang_check(&h, alive, t, 30000));
	ck_assert_uint_eq(h.watched_ms, 0);
	/* Checks that come late every time (a starved supervisor) never kill. */
	for (int i = 0; i < 100; i++) {
		t += SUP_HANG_CHECK_LATE_MS + 1;
		ck_assert(!sup_hang_check(&h, alive, t, 30000));
	}
}
END_TEST

START_TEST(test_identity)
{
	char buf[SUP_IDENTITY_MAX], cluster[64];
	int32_t node = 0;
	int n;

	/* Round trip. */
	n = sup_identity_format(buf, sizeof(buf), "chronik-prod", 3, NULL);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(sup_identity_parse(buf, (size_t)n, cluster, sizeof(cluster), &node), 0);
	ck_assert_str_eq(cluster, "chronik-prod");
	ck_assert_int_eq(node, 3);
	ck_assert_int_eq(sup_identity_format(buf, 20, "chronik-prod", 3, NULL), -1);
	/* Comments, other keys, no final newline, any order. */
	const char *ok = "# x=y\nversion=1\nnode_id=2147483647\n\ncluster_id=\n";
	ck_assert_int_eq(sup_identity_parse(ok, strlen(ok), cluster, sizeof(cluster), &node), 0);
	ck_assert_str_eq(cluster, "");
	ck_assert_int_eq(node, INT32_MAX);
	ok = "node_id=7\ncluster_id=a b";
	ck_assert_int_eq(sup_identity_parse(ok, strlen(ok), cluster, sizeof(cluster), &node), 0);
	ck_assert_str_eq(cluster, "a b");
	ck_assert_int_eq(node, 7);
	/* Missing, repeated or malformed keys. */
	static const char *const bad[] = {
	    "",
	    "garbage",
	    "cluster_id=x\n",
	    "node_id=1\n",
	    "cluster_id=x\nnode_id=0\n",
	    "cluster_id=x\nnode_id=2147483648\n",
	    "cluster_id=x\nnode_id=-1\n",
	    "cluster_id=x\nnode_id=1x\n",
	    "cluster_id=x\nnode_id=\n",
	    "cluster_id=x\nnode_id=1\nnode_id=1\n",
	    "cluster_id=x\ncluster_id=y\nnode_id=1\n",
	    "# cluster_id=x\nnode_id=1\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(sup_identity_parse(bad[i], strlen(bad[i]), cluster, sizeof(cluster),
		                                 &node) == -1,
		              "accepted: %s", bad[i]);
	/* A cluster id longer than the caller's buffer, a NUL inside. */
	ok = "cluster_id=0123456789\nnode_id=1\n";
	ck_assert_int_eq(sup_identity_parse(ok, strlen(ok), cluster, 10, &node), -1);
	ck_assert_int_eq(
	    sup_identity_parse("cluster_id=a\0b\nnode_id=1\n", 24, cluster, sizeof(cluster), &node),
	    -1);
}
END_TEST

/* The voters line: written sorted, read back; a file without it (an
 * earlier version's) says so; a malformed one is refused. */
START_TEST(test_identity_voters)
{
	static const int32_t ids[] = {3, 1, 12, 2};
	int32_t many[SUP_VOTERS_MAX + 1];
	char buf[SUP_IDENTITY_MAX], voters[64], out[64], cluster[64];
	int32_t node = 0;
	int n;

	ck_assert_int_eq(sup_voters_format(ids, 4, voters, sizeof(voters)), 8);
	ck_assert_str_eq(voters, "1,2,3,12");
	ck_assert_int_eq(sup_voters_format(ids, 1, voters, sizeof(voters)), 1);
	ck_assert_str_eq(voters, "3");
	ck_assert_int_eq(sup_voters_format(ids, 4, voters, 8), -1);
	ck_assert_int_eq(sup_voters_format(ids, 0, voters, sizeof(voters)), -1);
	for (int i = 0; i <= SUP_VOTERS_MAX; i++)
		many[i] = i + 1;
	ck_assert_int_eq(sup_voters_format(many, SUP_VOTERS_MAX + 1, buf, sizeof(buf)), -1);
	ck_assert_int_gt(sup_voters_format(many, SUP_VOTERS_MAX, buf, sizeof(buf)), 0);

	n = sup_identity_format(buf, sizeof(buf), "c", 2, "1,2,3");
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(sup_identity_parse(buf, (size_t)n, cluster, sizeof(cluster), &node), 0);
	ck_assert_int_eq(node, 2);
	ck_assert_int_eq(sup_identity_voters(buf, (size_t)n, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "1,2,3");
	n = sup_identity_format(buf, sizeof(buf), "c", 2, NULL);
	ck_assert_int_eq(sup_identity_voters(buf, (size_t)n, out, sizeof(out)), 0);
	static const char *const bad[] = {
	    "voters=\n",
	    "voters=1,x\n",
	    "voters=1\nvoters=1\n",
	    "voters=1 2\n",
	    "voters=12345678901234567890123456789012345678901234567890123456789012345\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(sup_identity_voters(bad[i], strlen(bad[i]), out, sizeof(out)) == -1,
		              "accepted: %s", bad[i]);
	/* No final newline. */
	ck_assert_int_eq(sup_identity_voters("node_id=1\nvoters=4", 18, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "4");
	/* A set: written in any order, compared sorted; ids distinct, in range. */
	ck_assert_int_eq(sup_voters_normalize("3,2,1", out, sizeof(out)), 5);
	ck_assert_str_eq(out, "1,2,3");
	ck_assert_int_eq(sup_voters_normalize("007", out, sizeof(out)), 1);
	ck_assert_str_eq(out, "7");
	static const char *const bad_sets[] = {
	    "",
	    ",",
	    "1,",
	    ",1",
	    "1,,2",
	    "0",
	    "1,1",
	    "2147483648",
	    "99999999999999999999",
	    "1;2",
	    "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
	};
	for (size_t i = 0; i < sizeof(bad_sets) / sizeof(bad_sets[0]); i++)
		ck_assert_msg(sup_voters_normalize(bad_sets[i], out, sizeof(out)) == -1,
		              "accepted: %s", bad_sets[i]);
	ck_assert_int_eq(sup_voters_normalize("2147483647,1", out, sizeof(out)), 12);
}
END_TEST

START_TEST(test_fdnames_parse)
{
	char names[CK_LISTEN_FDS_MAX][CK_LISTEN_NAME_MAX];
	char longname[CK_LISTEN_NAME_MAX + 8];

	ck_assert_int_eq(ck_listen_names_parse("raft:raftd:supervisor", 3, names), 0);
	ck_assert_str_eq(names[0], "raft");
	ck_assert_str_eq(names[1], "raftd");
	ck_assert_str_eq(names[2], "supervisor");
	ck_assert_int_eq(ck_listen_names_parse("walwriter", 1, names), 0);
	ck_assert_str_eq(names[0], "walwriter");
	ck_assert_int_eq(ck_listen_names_parse(NULL, 2, names), 0);
	ck_assert_str_eq(names[0], "unknown");
	ck_assert_str_eq(names[1], "unknown");
	ck_assert_int_eq(ck_listen_names_parse("", 1, names), 0);
	ck_assert_int_eq(ck_listen_names_parse(NULL, 0, names), 0);

	ck_assert_int_eq(ck_listen_names_parse("a:b:c", 2, names), -EINVAL);
	ck_assert_int_eq(ck_listen_names_parse("a:b", 3, names), -EINVAL);
	ck_assert_int_eq(ck_listen_names_parse("a::b", 3, names), -EINVAL);
	ck_assert_int_eq(ck_listen_names_parse("a:", 2, names), -EINVAL);
	ck_assert_int_eq(ck_listen_names_parse("a", 0, names), -EINVAL);
	ck_assert_int_eq(ck_listen_names_parse("a", -1, names), -EINVAL);
	ck_assert_int_eq(ck_listen_names_parse(NULL, CK_LISTEN_FDS_MAX + 1, names), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(ck_listen_names_parse(longname, 1, names), -EINVAL);
}
END_TEST

static Suite *sup_core_suite(void)
{
	Suite *s = suite_create("sup_core");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_exit_classify);
	tcase_add_test(tc, test_exit_describe);
	tcase_add_test(tc, test_state_names_and_edges);
	tcase_add_test(tc, test_backoff_doubles_and_caps);
	tcase_add_test(tc, test_backoff_resets_after_stable_uptime);
	tcase_add_test(tc, test_burst_gives_up);
	tcase_add_test(tc, test_burst_window_slides);
	tcase_add_test(tc, test_twenty_crashes_below_burst);
	tcase_add_test(tc, test_large_burst_is_clamped);
	tcase_add_test(tc, test_fatal_and_clean_exit);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_notify_field);
	tcase_add_test(tc, test_notify_parse);
	tcase_add_test(tc, test_fdnames_parse);
	tcase_add_test(tc, test_identity);
	tcase_add_test(tc, test_identity_voters);
	tcase_add_test(tc, test_hang_check);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(sup_core_suite());
}
