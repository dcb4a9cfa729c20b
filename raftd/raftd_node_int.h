/*
 * raftd_node_int.h: internals of raftd's metadata service, shared by
 * raftd_node.c (start-up, the Ready cycle, proposals) and raftd_exec.c
 * (apply rounds, walwriter side effects, log reconciliation).
 * Invariants: `ready_pending` is true exactly while a Ready taken from the
 * core waits for its append; `exec` is not IDLE while an apply round runs
 * (waiting for walwriter or answering its proposals, which may re-enter
 * the node) or a reconciliation waits for walwriter; apply rounds run
 * strictly one after the other, in log order, each starting at
 * applied + 1. Not for: anything outside raftd_node.c and
 * raftd_exec.c.
 */
#ifndef RAFTD_NODE_INT_H
#define RAFTD_NODE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_meta.h"
#include "ck_rand.h"
#include "raft_core.h"
#include "raftd_apply.h"
#include "raftd_node.h"
#include "raftd_store.h"
#include "raftd_wal.h"

struct event;

/* One proposal: queued (index 0) or in the log (index set). */
typedef struct raftd_prop {
	struct raftd_prop *next;
	uint64_t index;
	uint64_t term;
	uint64_t deadline_ms;
	raftd_propose_cb cb;
	void *arg;
	uint8_t *data; /* freed once handed to the core */
	size_t len;
} raftd_prop_t;

typedef struct {
	raftd_prop_t *head;
	raftd_prop_t *tail;
	size_t n;
} raftd_prop_list_t;

/* A committed entry waiting for its apply round (data owned). */
typedef struct {
	uint64_t index;
	uint64_t term;
	uint8_t *data;
	uint32_t len;
} raftd_item_t;

typedef enum {
	RAFTD_FX_PENDING = 0,
	RAFTD_FX_INFLIGHT,
	RAFTD_FX_DONE,
} raftd_fx_state_t;

/* The context of one effect's walwriter call. */
typedef struct {
	struct raftd_node *node;
	size_t i;
	raftd_fx_state_t state;
	uint64_t round; /* the round it belongs to: stale replies are ignored */
} raftd_fx_call_t;

typedef enum {
	RAFTD_EXEC_IDLE = 0,
	RAFTD_EXEC_ROUND,     /* an apply round waits for its effects */
	RAFTD_EXEC_LIST,      /* reconciliation waits for ListLogs */
	RAFTD_EXEC_RECONCILE, /* reconciliation waits for its CreateLogs */
} raftd_exec_state_t;

struct raftd_node {
	struct event_base *base;
	const ck_config_t *cfg;
	raftd_node_hooks_t h;
	void *arg;
	int lock_fd;
	ck_meta_t *meta;
	raftd_apply_t apply;
	raftd_wal_t *wal;
	raftd_store_t *store;
	ck_rand_t rand;
	raft_t *raft;
	raft_hard_state_t hs; /* as saved */
	bool has_hs;
	uint64_t voters[RAFT_VOTERS_MAX];
	uint32_t n_voters;
	struct event *tick_ev;
	uint32_t ticks_pending;
	uint64_t ticks;
	bool in_pump;
	bool ready_pending;
	raft_ready_t rd;
	raft_role_t role;
	uint64_t leader;
	uint64_t lead_index; /* the first index of our leadership */
	bool serving;
	bool registered;
	bool stopping;
	bool failed;
	uint64_t applied; /* LMDB applied_index */
	raftd_prop_list_t queued;
	raftd_prop_list_t inflight; /* ascending index */
	/* committed entries not yet applied: items[item_head .. item_n) */
	raftd_item_t *items;
	size_t item_head;
	size_t item_n;
	size_t item_cap;
	/* the apply round in progress */
	raftd_exec_state_t exec;
	bool reconcile_wanted;
	uint64_t round;
	size_t round_n; /* items of the round */
	uint64_t round_start_ns;
	raftd_effects_t fx;
	raftd_fx_call_t *fx_calls;
	size_t fx_wave_lo; /* effects [lo, hi) are the current wave */
	size_t fx_wave_hi;
	struct event *fx_timer;
	raftd_apply_result_t *results;
	size_t results_cap;
};

/* raftd_node.c */
void raftd_node_fatal(struct raftd_node *n, int err, const char *why);
/* Feeds the core and processes its Readies until it waits for I/O. */
void raftd_node_pump(struct raftd_node *n);
/* Completes the in-log proposals up to INDEX with the round's results
 * (results[k] belongs to items[item_head + k]). */
void raftd_node_answer(struct raftd_node *n, size_t count);

/* raftd_exec.c */
int raftd_exec_init(struct raftd_node *n);
void raftd_exec_free(struct raftd_node *n);
/* Queues committed entries (copied). Returns 0 or -ENOMEM. */
int raftd_exec_push(struct raftd_node *n, const raft_entry_t *ents, size_t count);
/* Starts the next apply round or reconciliation when idle. */
void raftd_exec_kick(struct raftd_node *n);
/* walwriter is back: resend what waits. */
void raftd_exec_wal_connected(struct raftd_node *n);
size_t raftd_exec_backlog(const struct raftd_node *n);

#endif
