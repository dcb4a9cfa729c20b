/*
 * raft_core.h: the pure Raft core of chronik-raftd.
 *
 * A state machine in the style of etcd's raft: raft_tick() advances logical
 * time, raft_step() takes one message from a peer, raft_propose() appends a
 * command on the leader, and raft_ready() tells the shell what to do, which
 * it acknowledges with raft_advance(). The core does no I/O, reads no clock,
 * makes no syscalls, never logs and allocates only in raft_init(): every
 * buffer is sized from raft_config_t and bounded. Randomness (election
 * timeouts) comes from the caller's ck_rand_t.
 *
 * Roles: follower, pre-candidate (pre-vote), candidate, leader. Pre-vote and
 * check-quorum are on by default: a node that cannot reach a majority never
 * bumps its term (so it cannot disrupt the cluster when it rejoins), a
 * follower that has heard from a leader within an election timeout ignores
 * vote requests (leader lease), and a leader that has not heard from a
 * majority within an election timeout steps down.
 *
 * ---- the log ----
 * The log lives in the shell's storage (walwriter's partition
 * __chronik_metadata-0: entry index = offset + 1, entry term =
 * partitionLeaderEpoch, one MetadataCommand per entry). The core sees it as
 *   storage:  snapshot (index S, term) + durable entries S+1 .. D
 *   window:   entries D+1 .. L that the core holds in memory until the shell
 *             has made them durable (proposals, entries from the leader).
 * It asks the storage through raft_storage_t, plain synchronous function
 * pointers that must answer from memory or cheap reads (the shell keeps an
 * index -> term cache, like Kafka's leader-epoch cache; tests use memory).
 * Entries the window overrides may still be in storage: a Ready whose
 * entries start at index I tells the shell to drop its entries >= I first.
 * After every raft_advance() the window is empty, so window, outbox and
 * apply buffers are plain arenas reset at each advance.
 *
 * ---- the Ready cycle ----
 * The shell loops: feed events (raft_tick / raft_step / raft_propose), then
 * while raft_has_ready(): raft_ready(), do the work IN THIS ORDER, then
 * raft_advance():
 *   1. snapshot      install the received snapshot (replace the state
 *                    machine, drop the log up to and past its index);
 *   2. entries       drop storage entries >= entries[0].index, append;
 *      hard_state    persist term, vote, commit (after the entries, or
 *                    atomically with them); fsync both: persist before send;
 *   3. msgs          send (after the persist: a vote or an acknowledgement
 *                    must never be sent before it is durable);
 *   4. committed     apply in order (after the send); empty data = the
 *                    leader's no-op entry, applied as nothing;
 *   5. soft_state    leader id / role changed (for logging and routing).
 * Between raft_ready() and raft_advance() the shell must not call
 * raft_tick, raft_step, raft_propose or any other mutating function: the
 * Ready points into the core's buffers, which stay valid until
 * raft_advance(). Events that arrive meanwhile wait in the shell; they are
 * batched into the next Ready (group commit for free). A crash anywhere in
 * the cycle is safe: the restarted core is given what became durable.
 * Exception: when the core is leader at raft_ready(), its messages (APPENDs,
 * heartbeats, snapshots, rejections) acknowledge nothing, so the shell may
 * send them before its append (Raft thesis 10.2.1); the leader counts its
 * own entries toward a quorum only after raft_advance().
 *
 * ---- commit modes ----
 * RAFT_COMMIT_QUORUM (default): an entry is committed once a majority of
 * voters hold it durably (the leader counts itself once its Ready was
 * persisted) and it is from the leader's term (or precedes one that is).
 * RAFT_COMMIT_LEADER: committed once durable on the leader; followers follow
 * asynchronously. A leader crash can lose such entries and leave nodes that
 * applied entries a later leader never had. A follower that finds the
 * leader's log conflicting with its committed prefix marks itself diverged
 * and asks for a snapshot (RAFT_MSG_APPEND_RESP with need_snapshot), which
 * replaces its state machine; the shell must accept a snapshot whose index
 * is below its applied index in that mode (and raft_init() then tolerates a
 * hard-state commit past the log's end, should the crash come before the
 * hard state was rewritten).
 *
 * ---- snapshots ----
 * Snapshot data is the shell's (an LMDB copy at applied_index). A leader
 * whose follower needs entries that storage has compacted asks
 * storage->snapshot() for the newest snapshot's metadata and emits
 * RAFT_MSG_SNAPSHOT carrying only that metadata; the shell streams the data
 * next to it and steps the message on the receiver only once the data is
 * complete. Once stepped, a snapshot may wait for the next Ready
 * (raft_snapshot_pending()): until that Ready is advanced the shell keeps
 * its data, refuses the data of any other snapshot and so steps no other
 * SNAPSHOT message (the leader sends again). The transfer's outcome comes
 * back via raft_report_snapshot() (without a report, the leader presumes
 * the snapshot lost after two election timeouts). Between Readies the
 * shell may take a snapshot at its applied index and compact the log up to
 * it at any time: the core learns of it from CK_E_NOT_FOUND, never keeps
 * storage indexes of its own.
 *
 * Membership is static (voters from the config). Quorum arithmetic goes
 * through one voter set so that joint consensus (two sets, a majority of
 * each) can be added without reshaping the core.
 *
 * Not for: I/O, encoding messages, timers, forwarding follower writes to the
 * leader (the shell's raft_forward path), applying commands.
 */
#ifndef RAFT_CORE_H
#define RAFT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_rand.h"

#define RAFT_NONE       0  /* no node (node ids are > 0) */
#define RAFT_VOTERS_MAX 15 /* voters in one cluster, at most */
/* Terms and indexes a message may carry, at most: far beyond any a cluster
 * reaches, low enough that term + 1 or index + n never wraps. */
#define RAFT_NUM_MAX (UINT64_C(1) << 62)
/* How far above this node's term a message's term may be: terms grow by
 * one an election, so never this far in a real cluster; a term near
 * RAFT_NUM_MAX (forged, or corrupt past the frame checks) would otherwise
 * be adopted and leave no term above it to campaign at, and no leader. */
#define RAFT_TERM_JUMP_MAX (UINT64_C(1) << 32)

typedef enum {
	RAFT_FOLLOWER = 0,
	RAFT_PRE_CANDIDATE = 1,
	RAFT_CANDIDATE = 2,
	RAFT_LEADER = 3,
} raft_role_t;

typedef enum {
	RAFT_COMMIT_QUORUM = 0,
	RAFT_COMMIT_LEADER = 1,
} raft_commit_mode_t;

/* One log entry. DATA (LEN bytes) is borrowed: see where it comes from. */
typedef struct {
	uint64_t index;
	uint64_t term;
	const uint8_t *data;
	uint32_t len;
} raft_entry_t;

typedef struct {
	uint64_t index; /* last index the snapshot covers (0 = empty state) */
	uint64_t term;  /* term of that entry */
} raft_snapshot_meta_t;

/* What must be durable before any message that depends on it is sent. */
typedef struct {
	uint64_t term;
	uint64_t vote; /* RAFT_NONE when no vote in this term */
	uint64_t commit;
} raft_hard_state_t;

/* What is only reported, never persisted. */
typedef struct {
	uint64_t leader; /* RAFT_NONE when unknown */
	raft_role_t role;
} raft_soft_state_t;

typedef enum {
	RAFT_MSG_PRE_VOTE = 1,   /* term = sender's term + 1 (not adopted) */
	RAFT_MSG_PRE_VOTE_RESP,  /* reject, term = request's term if granted */
	RAFT_MSG_VOTE,           /* index/log_term = candidate's last entry */
	RAFT_MSG_VOTE_RESP,      /* reject */
	RAFT_MSG_APPEND,         /* index/log_term = previous entry, entries, commit */
	RAFT_MSG_APPEND_RESP,    /* see raft_msg_t */
	RAFT_MSG_HEARTBEAT,      /* commit */
	RAFT_MSG_HEARTBEAT_RESP, /* index = the follower's last index */
	RAFT_MSG_SNAPSHOT,       /* snapshot (data travels beside, shell's) */
	RAFT_MSG_SNAPSHOT_RESP,  /* index = follower's match after it */
	RAFT_MSG_TIMEOUT_NOW,    /* leadership transfer: campaign at once */
	RAFT_MSG_TYPE_MAX = RAFT_MSG_TIMEOUT_NOW,
} raft_msg_type_t;

/*
 * One message between nodes. Fields unused by a type are zero.
 * APPEND_RESP: success -> index = the highest index known to match the
 * leader's log; reject -> index = the rejected previous index, reject_hint
 * and log_term = the follower's guess of the last index that can match
 * (its largest index <= the rejected one whose term <= the leader's term
 * there), so that the leader skips a whole divergent term per round trip;
 * need_snapshot = the follower's committed prefix conflicts with the
 * leader's log (commit mode "leader" only).
 * ENTRIES (n_entries) are borrowed from the caller in raft_step() and from
 * the core in a Ready (valid until raft_advance()).
 */
typedef struct {
	raft_msg_type_t type;
	uint64_t from;
	uint64_t to;
	uint64_t term;
	uint64_t index;
	uint64_t log_term;
	uint64_t commit;
	uint64_t reject_hint;
	bool reject;
	bool need_snapshot;
	bool transfer; /* VOTE/PRE_VOTE of a leadership transfer: ignores leases */
	raft_snapshot_meta_t snapshot;
	const raft_entry_t *entries;
	uint32_t n_entries;
} raft_msg_t;

/*
 * The shell's storage, read synchronously. Every function returns 0 (or a
 * count) on success, CK_E_NOT_FOUND when an index was compacted into the
 * snapshot, or another negative code (passed through to the caller of the
 * core function that needed it).
 */
typedef struct {
	void *ctx;
	/* The last durable index (the snapshot's index if no entry follows it,
	 * 0 for an empty node). Read once, in raft_init(). */
	uint64_t (*last_index)(void *ctx);
	/* Term of INDEX for INDEX in [snapshot index, last index]: the
	 * snapshot's term at its own index (0 at index 0 on an empty node),
	 * CK_E_NOT_FOUND below it. */
	int (*term)(void *ctx, uint64_t index, uint64_t *ret_term);
	/* Copies entries LO .. HI-1 (all durable, LO > snapshot index,
	 * HI - LO <= capacity of RET_ENTS) into RET_ENTS, their data into BUF
	 * (BUF_CAP bytes), stopping before the first entry that does not fit.
	 * Returns how many were copied (>= 1 when LO < HI, 0 only when the
	 * first entry does not fit in BUF_CAP), CK_E_NOT_FOUND when LO was
	 * compacted. */
	int (*entries)(void *ctx, uint64_t lo, uint64_t hi, raft_entry_t *ret_ents, uint8_t *buf,
	               size_t buf_cap);
	/* The newest snapshot to send to a follower that is behind the log's
	 * start: *RET_META, or CK_E_AGAIN while one is being made (asked
	 * again later). May be the empty state {0, 0} when nothing was ever
	 * compacted. */
	int (*snapshot)(void *ctx, raft_snapshot_meta_t *ret_meta);
} raft_storage_t;

/*
 * Configuration. Zero in a numeric field means the default in brackets.
 * Capacities are the whole memory the core ever uses; every cluster member
 * must use the same entry_bytes_max.
 */
typedef struct {
	uint64_t id;                      /* this node, > 0, one of the voters */
	uint64_t voters[RAFT_VOTERS_MAX]; /* static membership */
	uint32_t n_voters;                /* 1 .. RAFT_VOTERS_MAX, ids distinct, > 0 */
	uint32_t election_ticks;          /* [10] > heartbeat_ticks */
	uint32_t heartbeat_ticks;         /* [1] */
	bool no_pre_vote;                 /* pre-vote is on unless set */
	bool no_check_quorum;             /* check-quorum (and leases) on unless set */
	raft_commit_mode_t commit_mode;   /* [RAFT_COMMIT_QUORUM] */
	uint32_t append_entries_max;      /* [64] entries per APPEND */
	uint32_t append_bytes_max;        /* [1 MiB] data bytes per APPEND (>= 1 entry) */
	uint32_t inflight_max;            /* [16] APPENDs in flight per follower */
	uint32_t entry_bytes_max;         /* [1 MiB] largest entry */
	uint32_t window_entries_max;      /* [1024] unpersisted entries held */
	uint32_t window_bytes_max;        /* [4 MiB] their data, >= entry_bytes_max */
	uint32_t apply_entries_max;       /* [256] committed entries per Ready */
	uint32_t apply_bytes_max;         /* [4 MiB] their data, >= entry_bytes_max */
	uint32_t msgs_max;                /* [16 * n_voters + 64] per Ready, >= 2 * n_voters */
	uint32_t msg_bytes_max;           /* [2 * n_voters * append_bytes_max] their entries */
	ck_rand_t *rand;                  /* required; borrowed for the core's life */
} raft_config_t;

typedef struct raft raft_t;

/* What a Ready asks for; see the file comment for the order. */
typedef struct {
	bool has_snapshot;
	raft_snapshot_meta_t snapshot;
	bool has_hard_state;
	raft_hard_state_t hard_state;
	const raft_entry_t *entries;
	size_t n_entries;
	const raft_msg_t *msgs;
	size_t n_msgs;
	const raft_entry_t *committed;
	size_t n_committed;
	bool has_soft_state;
	raft_soft_state_t soft_state;
} raft_ready_t;

typedef struct {
	uint64_t id;
	raft_role_t role;
	uint64_t leader;
	uint64_t term;
	uint64_t vote;
	uint64_t commit;
	uint64_t applied;
	uint64_t last_index;
	uint64_t durable_index; /* last index in storage as the core sees it */
	uint64_t transferee;    /* leadership transfer target, RAFT_NONE if none */
	bool diverged;          /* waiting for a snapshot (commit mode "leader") */
	uint32_t leader_silent; /* follower: ticks since the leader was last heard */
} raft_status_t;

/*
 * Creates a core for CFG (copied; cfg->rand is borrowed) restarting from
 * the durable state: HS (NULL = fresh node), the storage ST (copied; its
 * ctx is borrowed) and APPLIED, the index the shell's state machine has
 * applied (from LMDB's applied_index; entries after it are handed out
 * again). The node starts as a follower without a leader. What a crash
 * inside a Ready can leave behind is repaired, not refused: a term below
 * the log's last term is raised to it (vote cleared), a commit below
 * APPLIED is raised to it; the first Ready then persists the hard state.
 * Returns 0 and *RET_R, or CK_E_CONFIG (a bad configuration), CK_E_CORRUPT
 * (hs.commit or APPLIED past the log's end, or vote for an unknown node),
 * -ENOMEM, or an error of storage->term().
 */
int raft_init(raft_t **ret_r, const raft_config_t *cfg, const raft_hard_state_t *hs,
              const raft_storage_t *st, uint64_t applied);

/* Frees R and its buffers. NULL is fine. */
void raft_free(raft_t *r);

/* One unit of logical time: elections are due after election_ticks .. 2x
 * (randomized), heartbeats every heartbeat_ticks. */
void raft_tick(raft_t *r);

/*
 * Takes one message addressed to this node. M and its entries are only
 * read during the call. Stale or unwanted messages are ignored (0).
 * Returns 0, CK_E_INVALID (not for this node, unknown sender or type, a
 * term or index above RAFT_NUM_MAX, a term more than RAFT_TERM_JUMP_MAX
 * above this node's, entries not contiguous after index, a
 * term above the message's, an entry over entry_bytes_max), or an error of
 * the storage.
 */
int raft_step(raft_t *r, const raft_msg_t *m);

/*
 * Appends LEN bytes at DATA (copied) as a new entry on the leader; the
 * next Ready sends it, with every other entry proposed and the commit
 * reached since the last Ready, in one APPEND per follower. *RET_INDEX is
 * its index; it is committed once a later Ready hands it out in
 * `committed`.
 * Returns 0, CK_E_NOT_LEADER (raft_leader() names the known leader, or
 * RAFT_NONE), CK_E_AGAIN (leadership transfer under way, or the window is
 * full: call raft_ready() first), CK_E_TOO_LARGE (over entry_bytes_max),
 * CK_E_INVALID (LEN == 0: empty entries are the leader's no-ops).
 */
int raft_propose(raft_t *r, const void *data, size_t len, uint64_t *ret_index);

/*
 * Starts an election now (as if the election timeout had passed), with
 * pre-vote when enabled. No effect on a leader. Returns 0.
 */
int raft_campaign(raft_t *r);

/*
 * Hands leadership to voter TO: once TO's log is complete it is told to
 * campaign at once (RAFT_MSG_TIMEOUT_NOW). Proposals are refused meanwhile;
 * the transfer is abandoned after an election timeout.
 * Returns 0, CK_E_NOT_LEADER, or CK_E_INVALID (TO is this node or not a
 * voter).
 */
int raft_transfer_leader(raft_t *r, uint64_t to);

/* The shell could not reach node TO: replication to it falls back to
 * probing. No effect unless leader. */
void raft_report_unreachable(raft_t *r, uint64_t to);

/* The snapshot sent to TO was delivered (OK) or failed. No effect unless
 * leader and TO waits for a snapshot. */
void raft_report_snapshot(raft_t *r, uint64_t to, bool ok);

/*
 * Node TO restarted with its log ending at LAST_INDEX (the shell learns it
 * from the peer's first message after a restart). When that is below what
 * the leader believed TO held (its data was lost, e.g. a wiped data
 * directory), TO's progress starts over from LAST_INDEX: probing, then
 * entries or a snapshot. Match otherwise only grows in commit mode
 * "quorum"; a committed entry is never un-committed by this (commit does
 * not go back). No effect unless leader.
 */
void raft_report_restart(raft_t *r, uint64_t to, uint64_t last_index);

/*
 * While HOLD is set, a leader's new commit alone makes no APPEND: the next
 * APPEND with entries carries it (a heartbeat too). Followers then learn
 * of commits later, for fewer messages; the shell sets it while no one
 * waits on a follower's view and bounds the wait with raft_commit_owed().
 * Clearing it sends what is owed with the next Ready. A leader's election
 * still announces itself at once.
 */
void raft_hold_commit(raft_t *r, bool hold);

/* True when a leader has not sent its commit to some follower yet. */
bool raft_commit_owed(const raft_t *r);

/* True when raft_ready() has something to hand out. */
bool raft_has_ready(const raft_t *r);

/* True while a stepped snapshot waits to be installed (from raft_step()
 * until raft_advance() of the Ready that hands it out); *RET_META (may be
 * NULL) names it. */
bool raft_snapshot_pending(const raft_t *r, raft_snapshot_meta_t *ret_meta);

/*
 * Fills *RET with what the shell must do next (see the file comment).
 * Pointers in it stay valid until raft_advance(). Returns 0, or an error
 * of storage->entries() while reading committed entries (nothing changed;
 * may be retried) or CK_E_CORRUPT when storage returned nothing for a
 * committed range.
 */
int raft_ready(raft_t *r, raft_ready_t *ret);

/* Acknowledges that everything in RD (from the last raft_ready()) is done. */
void raft_advance(raft_t *r, const raft_ready_t *rd);

raft_role_t raft_role(const raft_t *r);
uint64_t raft_leader(const raft_t *r);
void raft_status(const raft_t *r, raft_status_t *ret);

/* "follower", "pre-candidate", "candidate", "leader". */
const char *raft_role_name(raft_role_t role);
/* "pre-vote", "append-resp", ...; "unknown" otherwise. */
const char *raft_msg_type_name(raft_msg_type_t type);

#endif
