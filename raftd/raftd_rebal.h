/*
 * raftd_rebal.h: the controller's preferred-leader rebalance, decided
 * (pure; raftd_ctl_rebal.c walks the partitions and proposes).
 *
 * Kafka's auto.leader.rebalance: every partition has a preferred leader,
 * the first replica of its assignment; topic creation spreads those over
 * the brokers, so leadership (the produce and fetch load) is spread too.
 * Failures and controlled shutdowns move leaders away, and nothing moves
 * them back by itself. So the controller periodically counts, per broker,
 * the partitions it is preferred for and how many of them another broker
 * leads; a broker whose ratio exceeds the imbalance percentage gets back
 * the leadership of those of its partitions where it can take it: it is
 * in the ISR and eligible (registered, unfenced, heard from, neither
 * shutting down nor out of disk). Partitions without a leader are the
 * fencing walk's (raftd_ctl.c), never the rebalance's.
 * Not for: LMDB, proposals, timers (raftd_ctl_rebal.c).
 */
#ifndef RAFTD_REBAL_H
#define RAFTD_REBAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_config.h"

typedef struct {
	int32_t broker;
	uint32_t preferred; /* partitions whose first replica it is */
	uint32_t elsewhere; /* ... led by another broker */
} raftd_rebal_count_t;

typedef struct {
	raftd_rebal_count_t v[CK_CONFIG_PEERS_MAX];
	size_t n;
} raftd_rebal_t;

/* Counts one partition with REPLICAS[0] as its preferred leader and LEADER
 * as its leader (< 0: none; such a partition is not counted). Brokers
 * beyond CK_CONFIG_PEERS_MAX distinct ids are not counted. */
void raftd_rebal_count(raftd_rebal_t *t, const int32_t *replicas, size_t n_replicas,
                       int32_t leader);

/* Whether BROKER's share of preferred partitions led elsewhere exceeds
 * PERCENT (0-100) percent, as counted in T. */
bool raftd_rebal_over(const raftd_rebal_t *t, int32_t broker, int32_t percent);

/* The broker that should take over the leadership of a partition (its
 * preferred replica, REPLICAS[0]) or -1: -1 when it leads already, the
 * partition has no leader, the preferred replica is not in ISR, or it is
 * not among the N_ELIGIBLE brokers of ELIGIBLE. */
int32_t raftd_rebal_candidate(int32_t leader, const int32_t *replicas, size_t n_replicas,
                              const int32_t *isr, size_t n_isr, const int32_t *eligible,
                              size_t n_eligible);

#endif
