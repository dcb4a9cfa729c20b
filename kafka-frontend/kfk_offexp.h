/*
 * kfk_offexp.h: when the committed offsets of a consumer group expire
 * (Kafka's offsets.retention.minutes, as KIP-211 made it): the policy,
 * kept apart from the timers and LMDB walks of its shell (kfk_h_groups.c).
 *
 * A group's offsets never expire while it has live state on its
 * coordinator (members, or a rebalance under way). Once it has none, an
 * offset expires when RETENTION ms have passed both since it was committed
 * and since this coordinator last saw the group: live, or for the first
 * time since the group became this node's to coordinate. Kafka counts from
 * the moment the group became Empty; "last seen" is never earlier than
 * that, so nothing here expires sooner than in Kafka, and a coordinator
 * that just took a group over (a restart, another broker's failure) waits
 * a whole retention before expiring any of it. Forgetting a group is
 * always safe: seen again, it starts a new wait.
 *
 * The table remembers each group it was told about (its name and the wall
 * clock ms it was last seen). A sweep visits the groups with stored
 * offsets (kfk_offexp_live for those with live state, kfk_offexp_cutoff
 * for the others); at its end the groups it did not visit are forgotten,
 * so between sweeps the table holds the groups with offsets plus those
 * seen live since.
 *
 * Pure: no I/O, no clock (times are the caller's wall clock ms), no
 * logging. One thread.
 * Not for: which node coordinates a group, deleting offsets (a
 * DeleteOffsets command with expired_before_ms through Raft, so that an
 * offset committed after the sweep looked stays).
 */
#ifndef KFK_OFFEXP_H
#define KFK_OFFEXP_H

#include <stdint.h>

#include "ck_hash.h"

typedef struct {
	ck_hash_t seen; /* group name -> kfk_offexp_ent_t */
	uint64_t sweep; /* the number of the current or last sweep */
} kfk_offexp_t;

void kfk_offexp_init(kfk_offexp_t *e);
/* Forgets every group. */
void kfk_offexp_free(kfk_offexp_t *e);
/* How many groups E remembers. */
size_t kfk_offexp_count(const kfk_offexp_t *e);
/* GROUP (NUL-terminated) has live state at NOW_MS. Returns 0 or -ENOMEM
 * (not remembered: a later sweep then starts its wait anew). */
int kfk_offexp_live(kfk_offexp_t *e, const char *group, int64_t now_ms);
/* Starts a sweep. */
void kfk_offexp_sweep_begin(kfk_offexp_t *e);
/* Within a sweep: GROUP holds offsets, is coordinated here and has no live
 * state at NOW_MS. Returns the cutoff: its offsets committed before that
 * wall clock ms have expired; 0 when none can have (the group was seen
 * within RETENTION_MS, or is seen for the first time now), and always 0
 * for RETENTION_MS <= 0 (offsets never expire). -ENOMEM when the group
 * could not be remembered (nothing expires). */
int64_t kfk_offexp_cutoff(kfk_offexp_t *e, const char *group, int64_t now_ms, int64_t retention_ms);
/* Ends a sweep: forgets the groups it did not visit (neither
 * kfk_offexp_live nor kfk_offexp_cutoff since kfk_offexp_sweep_begin). */
void kfk_offexp_sweep_end(kfk_offexp_t *e);

#endif
