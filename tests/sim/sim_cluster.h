/*
 * sim_cluster.h: a deterministic, seeded simulation of a raftd cluster for
 * the Raft core tests (tests/sim/).
 * N nodes (each a raft_t over a sim_store_t) exchange messages over a
 * simulated network that drops, duplicates, delays and reorders them and
 * can be partitioned; nodes crash (also in the middle of handling a Ready,
 * losing what was not yet durable) and restart from their durable state.
 * One seed fixes everything: the cluster size, the configuration, the
 * faults and their timing, so a failure replays exactly.
 * After every step the invariants are checked (sim_check.c): election
 * safety, log matching, state machine safety, leader completeness,
 * durability of committed entries (commit mode "quorum"), and every node's
 * state machine matching its own log; after the faults stop, liveness.
 * Not for: production code.
 */
#ifndef SIM_CLUSTER_H
#define SIM_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft_core.h"
#include "sim_store.h"

#define SIM_NODES_MAX 5

typedef struct {
	raft_msg_t m;
	raft_entry_t *ents; /* owned copies */
	uint8_t *data;
	sim_snap_t snap; /* the snapshot's contents, for RAFT_MSG_SNAPSHOT */
	uint64_t at;     /* delivery tick */
} sim_pkt_t;

typedef struct {
	uint64_t id;
	raft_t *r; /* NULL while down */
	sim_store_t st;
	ck_rand_t rand;
	int group;            /* partition group */
	uint64_t commit_seen; /* commits registered from this node */
	sim_snap_t rx_snap;   /* snapshot data received with the last SNAPSHOT */
	bool has_rx_snap;
} sim_node_t;

typedef struct {
	uint64_t term; /* 0 = not registered */
	uint64_t cum;
	uint64_t commit_term; /* lowest term of a node that saw it committed */
} sim_commit_t;

typedef struct {
	uint64_t key_index;
	uint64_t key_term;
	uint64_t cum;
} sim_reg_t;

typedef struct {
	uint64_t elections; /* distinct leader terms */
	uint64_t proposals;
	uint64_t commits; /* highest committed index */
	uint64_t crashes;
	uint64_t ready_crashes;
	uint64_t snapshots; /* installed */
	uint64_t delivered;
	uint64_t dropped;
	uint64_t ticks;
} sim_stats_t;

typedef struct {
	uint32_t chaos_ticks_min; /* faults phase length, ticks */
	uint32_t chaos_ticks_max;
	uint32_t nodes;  /* 0 = 1, 3 or 5 at random */
	int commit_mode; /* -1 = at random */
	bool trace;      /* keep a trace of the last events, print on failure */
} sim_opts_t;

typedef struct {
	uint64_t seed;
	ck_rand_t rand;
	sim_opts_t opts;
	raft_config_t cfg;
	uint32_t n;
	sim_node_t nodes[SIM_NODES_MAX];
	sim_pkt_t *net;
	size_t net_n;
	size_t net_cap;
	uint64_t now;
	bool chaos;
	/* faults, per mille */
	uint32_t drop_pm;
	uint32_t dup_pm;
	uint32_t delay_max;
	uint32_t long_delay_pm;
	uint32_t ready_crash_pm;
	uint32_t propose_pm; /* per tick */
	uint32_t crash_pm;
	uint32_t restart_pm;
	uint32_t partition_pm;
	uint32_t heal_pm;
	uint32_t skew_pm[SIM_NODES_MAX]; /* a node's clock skips a tick */
	uint32_t defer_pm;               /* a message is stepped, its Ready left for later */
	uint64_t proposal_seq;
	/* invariant state */
	uint64_t *leader_of_term;
	size_t lot_cap;
	sim_reg_t *reg; /* (index, term) -> cum, open addressing */
	size_t reg_cap;
	size_t reg_n;
	sim_commit_t *committed;
	size_t committed_cap;
	uint64_t gc; /* highest committed index registered */
	bool failed;
	char fail[768];
	char (*trace)[160];
	uint32_t trace_pos;
	sim_stats_t stats;
} sim_cluster_t;

/* Runs the scenario of SEED: faults, then healing and the liveness check.
 * Returns true when every invariant held; otherwise false with the reason
 * in ERR (and the trace on stderr when OPTS->trace). */
bool sim_run(uint64_t seed, const sim_opts_t *opts, char *err, size_t err_len,
             sim_stats_t *ret_stats);

/* Building blocks (sim_cluster.c), also for tests that script a scenario. */
void sim_cluster_init(sim_cluster_t *c, uint64_t seed, const sim_opts_t *opts);
void sim_cluster_free(sim_cluster_t *c);
void sim_tick(sim_cluster_t *c);
void sim_heal(sim_cluster_t *c);
void sim_crash(sim_cluster_t *c, uint32_t i);
void sim_restart(sim_cluster_t *c, uint32_t i);
void sim_node_ready(sim_cluster_t *c, sim_node_t *nd);
void sim_failf(sim_cluster_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_tracef(sim_cluster_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Invariants (sim_check.c). */
void sim_check_all(sim_cluster_t *c);
void sim_check_entry(sim_cluster_t *c, uint64_t index, uint64_t term, uint64_t cum);
void sim_check_commits(sim_cluster_t *c, sim_node_t *nd, uint64_t commit);
void sim_check_applied(sim_cluster_t *c, sim_node_t *nd, uint64_t index);
void sim_check_installed(sim_cluster_t *c, sim_node_t *nd, const sim_snap_t *s);
void sim_check_free(sim_cluster_t *c);

#endif
