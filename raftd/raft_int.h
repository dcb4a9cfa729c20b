/*
 * raft_int.h: internals of the pure Raft core of chronik-raftd, shared by
 * raft_core.c (roles, ticks, elections, API), raft_step.c (message
 * handlers of followers and candidates), raft_leader.c (replication, flow
 * control, commit), raft_log.c (storage + window view of the log) and
 * raft_ready.c (outbox and the Ready cycle).
 * Invariants: the window holds entries durable_last+1 .. last; every buffer
 * is allocated in raft_init() and reset by raft_advance(); nothing here does
 * I/O. Not for: anything outside raftd/raft_*.c.
 */
#ifndef RAFT_INT_H
#define RAFT_INT_H

#include "raft_core.h"

/* ---- the log view (raft_log.c) ---- */

typedef struct {
	raft_storage_t st;
	uint64_t durable_last;      /* last index in storage as the core sees it */
	uint64_t durable_last_term; /* its term */
	bool has_pending_snap;      /* a snapshot to install in the next Ready */
	raft_snapshot_meta_t pending_snap;
	/* the window: entries durable_last+1 .. durable_last+n */
	raft_entry_t *win;
	uint32_t win_cap;
	uint32_t win_n;
	uint8_t *arena;
	size_t arena_cap;
	size_t arena_used;
	uint32_t entry_bytes_max;
	uint64_t commit;
	uint64_t applied;
} raft_log_t;

int raft_log_init(raft_log_t *l, const raft_config_t *cfg, const raft_storage_t *st);
void raft_log_free(raft_log_t *l);
uint64_t raft_log_last_index(const raft_log_t *l);
uint64_t raft_log_last_term(const raft_log_t *l);
/* 0 and *RET_TERM; CK_E_NOT_FOUND (compacted), CK_E_OFFSET_RANGE (past the
 * end) or a storage error. */
int raft_log_term(const raft_log_t *l, uint64_t index, uint64_t *ret_term);
/* True when the entry at INDEX exists and has TERM. */
bool raft_log_match_term(const raft_log_t *l, uint64_t index, uint64_t term);
/* Whether a log ending at (LAST_INDEX, LAST_TERM) is at least as up to date. */
bool raft_log_up_to_date(const raft_log_t *l, uint64_t last_index, uint64_t last_term);
/* The largest index <= INDEX whose term <= TERM (fast backtracking); stops
 * at the first index whose term is unknown (compacted). */
uint64_t raft_log_conflict_by_term(const raft_log_t *l, uint64_t index, uint64_t term);
/*
 * Puts ENTS (N, contiguous, ents[0].index <= last + 1, > durable commit)
 * into the window, dropping every entry from ents[0].index on. Stops early
 * when the window is full (keeping RESERVE free slots); changes nothing if
 * not even the first fits. Returns how many were taken, or a storage error.
 */
int raft_log_append(raft_log_t *l, const raft_entry_t *ents, size_t n, uint32_t reserve);
/* Copies entries LO.. (at most MAX_N, at most MAX_BYTES of data but at
 * least one) into RET_ENTS / BUF (BUF_CAP). Returns the count or an error
 * (CK_E_NOT_FOUND when LO is compacted). */
int raft_log_entries(const raft_log_t *l, uint64_t lo, uint32_t max_n, size_t max_bytes,
                     raft_entry_t *ret_ents, uint8_t *buf, size_t buf_cap);
void raft_log_commit_to(raft_log_t *l, uint64_t index);
/* Replaces the log by snapshot S (installed with the next Ready). */
void raft_log_restore(raft_log_t *l, const raft_snapshot_meta_t *s);
/* The shell made the window durable (and installed the pending snapshot). */
void raft_log_stable(raft_log_t *l);

/* ---- per-follower replication state (raft_leader.c) ---- */

typedef enum {
	RAFT_PR_PROBE = 0,     /* one APPEND at a time until the match is found */
	RAFT_PR_REPLICATE = 1, /* pipelined APPENDs, bounded by the inflight ring */
	RAFT_PR_SNAPSHOT = 2,  /* a snapshot is on its way: no APPENDs */
} raft_pr_state_t;

typedef struct {
	uint64_t id;
	uint64_t match;
	uint64_t next;
	raft_pr_state_t state;
	bool probe_sent;
	bool recent_active;
	int8_t vote; /* 1 granted, -1 rejected, 0 unknown */
	uint64_t pending_snapshot;
	uint32_t snapshot_ticks;
	uint64_t sent_commit; /* the commit of the last APPEND sent to it */
	uint64_t *inflight;   /* ring of last indexes sent, inflight_max */
	uint32_t infl_start;
	uint32_t infl_n;
} raft_progress_t;

/* ---- outgoing messages (raft_ready.c) ---- */

typedef struct {
	raft_msg_t *msgs;
	uint32_t cap;
	uint32_t n;
	raft_entry_t *ents;
	uint32_t ents_cap;
	uint32_t ents_n;
	uint8_t *arena;
	size_t arena_cap;
	size_t arena_used;
} raft_outbox_t;

struct raft {
	raft_config_t cfg;
	uint64_t id;
	uint64_t term;
	uint64_t vote;
	uint64_t leader;
	raft_role_t role;
	uint32_t self; /* index of this node in prs, or n_voters */
	raft_progress_t prs[RAFT_VOTERS_MAX];
	uint32_t n_prs;
	uint32_t bcast_start; /* rotates the order of broadcasts */
	bool commit_held;     /* raft_hold_commit() */
	bool bcast_pending;   /* new entries or a new commit to send (leader):
	                       * raft_ready() sends them, one APPEND per follower
	                       * for everything that came since the last Ready */
	uint32_t election_elapsed;
	uint32_t heartbeat_elapsed;
	uint32_t election_timeout; /* randomized, [election_ticks, 2x) */
	uint64_t transferee;
	bool diverged;
	raft_log_t log;
	raft_outbox_t out;
	raft_entry_t *apply_ents;
	uint8_t *apply_arena;
	uint64_t *infl_pool;
	bool ready_out;            /* between raft_ready() and raft_advance() */
	raft_hard_state_t prev_hs; /* as last handed out */
	raft_soft_state_t prev_ss;
};

/* raft_core.c */
void raft_become_follower(raft_t *r, uint64_t term, uint64_t leader);
void raft_campaign_start(raft_t *r, bool transfer);
void raft_candidate_poll(raft_t *r, uint64_t from, bool granted);
raft_progress_t *raft_progress_find(raft_t *r, uint64_t id);
/* Quorum arithmetic over the voter set (a second set joins for joint
 * consensus later). */
uint32_t raft_quorum(const raft_t *r);
bool raft_pre_vote_on(const raft_t *r);
bool raft_check_quorum_on(const raft_t *r);

/* raft_step.c */
int raft_step_follower(raft_t *r, const raft_msg_t *m);
int raft_step_candidate(raft_t *r, const raft_msg_t *m);
int raft_handle_vote_request(raft_t *r, const raft_msg_t *m);

/* raft_leader.c */
void raft_leader_reset(raft_t *r);
bool raft_send_append(raft_t *r, raft_progress_t *pr, bool send_if_empty);
void raft_bcast_append(raft_t *r);
/* Sends what raft_bcast_later() deferred (raft_ready() calls it). */
void raft_bcast_flush(raft_t *r);
/* New entries or commit for every follower: sent by the next raft_ready(),
 * together with whatever else comes before it. */
static inline void raft_bcast_later(raft_t *r)
{
	r->bcast_pending = true;
}
void raft_bcast_heartbeat(raft_t *r);
bool raft_maybe_commit(raft_t *r);
void raft_leader_tick(raft_t *r);
int raft_step_leader(raft_t *r, const raft_msg_t *m);
void raft_pr_become_probe(raft_progress_t *pr);
bool raft_send_timeout_now(raft_t *r, uint64_t to);

/* raft_ready.c */
int raft_outbox_init(raft_outbox_t *o, const raft_config_t *cfg);
void raft_outbox_free(raft_outbox_t *o);
/* Queues M (from and term filled in unless set); false when full. */
bool raft_send(raft_t *r, const raft_msg_t *m);
bool raft_outbox_full(const raft_t *r);
/* The free entry slots (returned count) and data arena of the outbox, to
 * fill before raft_outbox_take() claims N of them and BYTES of data. */
uint32_t raft_outbox_room(raft_outbox_t *o, raft_entry_t **ret_ents, uint8_t **ret_buf,
                          size_t *ret_cap);
void raft_outbox_take(raft_outbox_t *o, uint32_t n, size_t bytes);

#endif
