/*
 * test_raft_sim.c: randomized, deterministic simulations of a raftd cluster
 * (1, 3 or 5 nodes) over the pure Raft core (raftd/raft_core.h); see
 * sim_cluster.h for the faults and the invariants checked after every step.
 *
 * Each scenario has a seed of its own, derived from a base seed; the seed
 * fixes the cluster size, the configuration, the commit mode and every
 * fault. Environment:
 *   CHRONIK_SIM_SEED=0x...   replay one scenario, with a trace of its last
 *                            events on failure
 *   CHRONIK_SIM_LONG=1       the slow variant: many more, longer scenarios
 *   CHRONIK_SIM_SCENARIOS=N  how many scenarios (default 12000; long 35000)
 *   CHRONIK_SIM_BASE=0x...   base seed (default fixed; long: random, printed)
 *   CHRONIK_SIM_SHARD=k/n    run the scenarios i with i % n == k
 * A failure prints the scenario's seed and the command that replays it.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_rand.h"
#include "ck_testlib.h"
#include "sim_cluster.h"

#define SIM_BASE_DEFAULT 0x63686b5f72616674ull /* "chk_raft" */

static const char *sim_argv0 = "test_raft_sim";

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static bool env_long(void)
{
	const char *v = getenv("CHRONIK_SIM_LONG");

	return v && strcmp(v, "1") == 0;
}

static sim_opts_t sim_opts(bool trace)
{
	sim_opts_t o = {0};

	o.chaos_ticks_min = env_long() ? 300 : 200;
	o.chaos_ticks_max = env_long() ? 3000 : 1500;
	o.commit_mode = -1;
	o.trace = trace;
	return o;
}

/* The seed of scenario I (a mix, so that neighbours differ in everything). */
static uint64_t scenario_seed(uint64_t base, uint64_t i)
{
	ck_rand_t r;

	ck_rand_seed(&r, base ^ (i * 0x9e3779b97f4a7c15ull));
	return ck_rand_u64(&r);
}

static void report_failure(uint64_t seed, const char *err)
{
	fprintf(stderr,
	        "raft simulation failed: seed 0x%016" PRIx64 ": %s\n"
	        "replay: CHRONIK_SIM_SEED=0x%016" PRIx64 "%s %s\n",
	        seed, err, seed, env_long() ? " CHRONIK_SIM_LONG=1" : "", sim_argv0);
	ck_abort_msg("seed 0x%016" PRIx64 ": %s (replay: CHRONIK_SIM_SEED=0x%016" PRIx64 "%s)",
	             seed, err, seed, env_long() ? " CHRONIK_SIM_LONG=1" : "");
}

START_TEST(test_sim_replay)
{
	uint64_t seed = env_u64("CHRONIK_SIM_SEED", 0);
	sim_opts_t o = sim_opts(true);
	sim_stats_t st;
	char err[1024];

	if (!sim_run(seed, &o, err, sizeof(err), &st))
		report_failure(seed, err);
	printf("seed 0x%016" PRIx64 ": ok, %" PRIu64 " ticks, %" PRIu64 " leaders, %" PRIu64
	       " committed, %" PRIu64 " crashes (%" PRIu64 " mid-ready), %" PRIu64
	       " snapshots installed, %" PRIu64 " delivered, %" PRIu64 " lost\n",
	       seed, st.ticks, st.elections, st.commits, st.crashes, st.ready_crashes, st.snapshots,
	       st.delivered, st.dropped);
}
END_TEST

START_TEST(test_sim_scenarios)
{
	uint64_t dflt_base = env_long() ? ck_rand_os_seed() : SIM_BASE_DEFAULT;
	uint64_t base = env_u64("CHRONIK_SIM_BASE", dflt_base);
	uint64_t n = env_u64("CHRONIK_SIM_SCENARIOS", env_long() ? 35000 : 12000);
	unsigned shard = 0, shards = 1;
	const char *sh = getenv("CHRONIK_SIM_SHARD");
	sim_opts_t o = sim_opts(false);
	sim_stats_t sum = {0};
	uint64_t ran = 0;

	if (sh && (sscanf(sh, "%u/%u", &shard, &shards) != 2 || shards == 0 || shard >= shards))
		ck_abort_msg("bad CHRONIK_SIM_SHARD=%s (want k/n)", sh);
	printf("base seed 0x%016" PRIx64 ", %" PRIu64 " scenarios, shard %u/%u\n", base, n, shard,
	       shards);
	for (uint64_t i = shard; i < n; i += shards) {
		uint64_t seed = scenario_seed(base, i);
		sim_stats_t st;
		char err[1024];

		if (!sim_run(seed, &o, err, sizeof(err), &st))
			report_failure(seed, err);
		ran++;
		sum.ticks += st.ticks;
		sum.elections += st.elections;
		sum.commits += st.commits;
		sum.crashes += st.crashes;
		sum.ready_crashes += st.ready_crashes;
		sum.snapshots += st.snapshots;
	}
	printf("%" PRIu64 " scenarios ok: %" PRIu64 " ticks, %" PRIu64 " leaders, %" PRIu64
	       " crashes (%" PRIu64 " mid-ready), %" PRIu64 " snapshots installed\n",
	       ran, sum.ticks, sum.elections, sum.crashes, sum.ready_crashes, sum.snapshots);
	/* The faults must actually happen, or the run proves little. */
	ck_assert_uint_gt(sum.elections, ran);
	ck_assert_uint_gt(sum.crashes, 0);
	ck_assert_uint_gt(sum.ready_crashes, 0);
	ck_assert_uint_gt(sum.snapshots, 0);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("raft_sim");
	TCase *tc = tcase_create("sim");

	(void)argc;
	sim_argv0 = argv[0];
	tcase_set_timeout(tc, env_long() ? 3600 : 600);
	if (getenv("CHRONIK_SIM_SEED"))
		tcase_add_test(tc, test_sim_replay);
	else
		tcase_add_test(tc, test_sim_scenarios);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
