/*
 * repl_core_int.h: what repl_core.c (the partition table, events, changes,
 * checkpoints) and repl_hw.c (roles, the high-watermark rule, followers,
 * ISR decisions) share. Internal to the core: nothing outside
 * replicator/repl_core*.c and repl_hw.c includes it.
 */
#ifndef REPL_CORE_INT_H
#define REPL_CORE_INT_H

#include "ck_hash.h"
#include "repl_core.h"

/* The partitions of one topic in the table (every one is in its topic's
 * list while it is in the table; a topic lives while its list is not
 * empty), so that a topic's metadata read touches only them. */
typedef struct {
	repl_part_t *head;
	char name[]; /* NUL-terminated */
} repl_topic_t;

struct repl_core {
	int32_t node_id;
	uint64_t now_ms;
	ck_hash_t parts;  /* repl_part_t by (topic, partition) */
	ck_hash_t topics; /* repl_topic_t by name */
	/* Partitions whose published state may have changed, FIFO. */
	repl_part_t *changes_head;
	repl_part_t *changes_tail;
	/* Partitions changed since the last repl_core_ckpt_clean(): only
	 * they can be dirty (every change touches), so the timer's walks do
	 * not visit every partition. */
	repl_part_t *ckpt_head;
	/* repl_core_count()'s answer, kept in step by repl_part_count():
	 * partitions with a log, and those of them this node leads. */
	size_t n_log;
	size_t n_led;
	/* Deletions to publish, FIFO, before any change. */
	repl_state_t *deleted;
	size_t deleted_head;
	size_t deleted_len;
	size_t deleted_cap;
};

repl_part_t *repl_core_find_mut(repl_core_t *c, const char *topic, int32_t partition);
/* Queues P for repl_core_change_next and as a checkpoint candidate
 * (once each). */
void repl_part_touch(repl_core_t *c, repl_part_t *p);

/* Applies a role and epoch: resets the follower table when the leadership
 * or its epoch changes, keeps it otherwise (rebuilt from replicas[]). */
void repl_part_role_set(repl_core_t *c, repl_part_t *p, repl_role_t role, int32_t epoch);

/* Takes P out of the counts (SIGN -1, before its log or role changes) or
 * puts it back (+1, after), so that counting never walks every partition. */
static inline void repl_part_count(repl_core_t *c, const repl_part_t *p, int sign)
{
	if (!p->have_log)
		return;
	c->n_log += (size_t)sign;
	c->n_led += (size_t)(p->role == REPL_ROLE_LEADER ? sign : 0);
}

/* Starts the follower table of a leadership afresh (every follower
 * unknown, the epoch starting at the log end). */
void repl_part_lead_begin(repl_core_t *c, repl_part_t *p);
/* Forgets (and frees) what P knew of its followers. */
void repl_part_followers_drop(repl_part_t *p);
/* The single-replica default of a partition without metadata. */
void repl_part_default_meta(repl_core_t *c, repl_part_t *p, int32_t epoch);
/* Recomputes HW from the log and the role (see repl_core.h). */
void repl_part_hw_update(repl_part_t *p, int32_t node_id);
repl_follower_t *repl_part_follower(repl_part_t *p, int32_t broker_id);

#endif
