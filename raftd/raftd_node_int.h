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

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_meta.h"
#include "ck_rand.h"
#include "raft_core.h"
#include "raftd_apply.h"
#include "raftd_metrics.h"
#include "raftd_net.h"
#include "raftd_node.h"
#include "raftd_snap.h"
#include "raftd_store.h"
#include "raftd_wal.h"
#include "raftnet.pb-c.h"

struct event;

/*
 * One proposal. Lists: `queued` (in no log yet: waiting for the core, or,
 * on a follower, for a leader to forward to), `forwarded` (sent to the
 * leader, no answer yet), `inflight` (in a log at index/term, ascending
 * index: answered when that index is applied locally).
 */
typedef struct raftd_prop {
	struct raftd_prop *next;
	uint64_t index;
	uint64_t term;
	uint64_t created_ms;
	uint64_t deadline_ms;
	raftd_propose_cb cb;
	void *arg;
	uint8_t *data; /* freed once in the leader's log */
	size_t len;
	bool remote;     /* forwarded to this node by a follower */
	bool idempotent; /* safe to propose again when its fate is unknown */
	/* A controller decision of this term (raftd_ctl.c), 0: any. Made from
	 * what this node knew as leader then: never forwarded, nor proposed in
	 * another term (a deposed controller's fences would be committed by
	 * the new leader, on heartbeats the old one had not read). */
	uint64_t only_term;
	size_t *urgent;  /* set when followers must learn of its commit at
	                  * once: the node's count of such writes, which
	                  * raftd_prop_finish() decrements */
	/* forwarded by this node (follower side) */
	uint64_t fwd_id;
	uint64_t fwd_peer;
	uint64_t fwd_gen;
	bool has_result; /* the leader answered: committed, with this result */
	uint64_t hold_until_ms; /* in held: answered by then at the latest */
	raftd_apply_result_t result;
	/* metrics (raftd_metrics.h): the command's kind, when it came */
	raftd_metrics_t *metrics;
	uint8_t op;
	uint64_t created_us;
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

/* A log of the reconciliation: one walwriter lacks (create), one that lost
 * its settings file (CONFIGURE: its settings from the metadata again), or,
 * after a snapshot was installed, one of a topic the metadata no longer has
 * or has as another incarnation (STALE: delete the incarnation TOPIC_ID
 * names, or whatever log is there without one). TOPIC is owned. */
typedef struct {
	char *topic;
	int32_t partition;
	bool stale;
	bool configure;
	bool has_topic_id;
	uint8_t topic_id[RAFTD_TOPIC_ID_LEN];
} raftd_recon_log_t;

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
	RAFTD_EXEC_TXN,       /* a round's LMDB transaction runs on the apply thread */
	RAFTD_EXEC_POST,      /* a committed round waits for its CreateLogs */
} raftd_exec_state_t;

/* Whether an apply round holds its items (a snapshot must wait). */
#define RAFTD_EXEC_BUSY(n)                                                                         \
	((n)->exec == RAFTD_EXEC_ROUND || (n)->exec == RAFTD_EXEC_TXN ||                           \
	 (n)->exec == RAFTD_EXEC_POST)

struct raftd_node;

/* How an apply round's transaction ends (raftd_exec.c). */
typedef enum {
	RAFTD_TXN_TRY = 0, /* commit unless an entry has a local effect other
	                    * than a log creation (those follow the commit) */
	RAFTD_TXN_DRY,     /* list the effects, never commit */
	RAFTD_TXN_COMMIT,  /* commit (the effects are done) */
} raftd_txn_mode_t;

/* The apply thread (raftd_exec.c): one LMDB transaction of an apply round
 * at a time, so that its fdatasync never blocks the event loop. */
typedef struct {
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool posted; /* a job waits for the thread (under mu) */
	bool quit;   /* (under mu) */
	int efd;     /* eventfd: a job finished */
	struct event *ev;
	/* the job: a copy of the round's items, and its outcome */
	raftd_item_t *items;
	size_t cap;
	size_t n;
	raftd_txn_mode_t mode;
	int result;
	void (*then)(struct raftd_node *n, int result);
	/* (under mu) the job will commit with logs to create: the loop may
	 * start them while the commit's fdatasync runs */
	bool early;
	bool early_seen; /* the loop took it (loop only) */
} raftd_txn_worker_t;

/* Work for the core that must wait until no Ready is out. */
typedef enum {
	RAFTD_REPORT_UNREACHABLE = 1,
	RAFTD_REPORT_SNAPSHOT_OK,
	RAFTD_REPORT_SNAPSHOT_FAILED,
	RAFTD_REPORT_RESTART,
	RAFTD_REPORT_TRANSFER,
} raftd_report_kind_t;

typedef struct {
	raftd_report_kind_t kind;
	uint64_t peer;
	uint64_t index;
} raftd_report_t;

#define RAFTD_REPORTS_MAX 64
#define RAFTD_INBOX_MAX   4096

/* A snapshot on its way to one follower. */
typedef struct {
	bool active;
	uint64_t peer;
	uint64_t gen; /* the connection it started on */
	int fd;
	uint64_t size;
	uint64_t off;
	uint32_t crc;
	raft_msg_t msg; /* the core's SNAPSHOT message, sent after the data */
} raftd_snap_tx_t;

/* What the leader knows of each broker (the controller, raftd_ctl.c). */
typedef struct {
	int32_t id;
	uint64_t seen_ms; /* last heartbeat (or leadership start) */
	uint64_t incarnation;
	uint64_t graced; /* the registered incarnation its session restarted for */
	uint64_t start_reg; /* the registered incarnation at this controller's first look */
	bool walked;        /* start_reg is set */
	uint64_t applied;
	bool storage_full; /* its last heartbeat said its data disk is full */
	bool departing;    /* ... that it is shutting down (controlled shutdown) */
	bool fence_pending;
	/* the leader imbalance last logged for it (raftd_rebalance): the same
	 * counts again are not logged again; 0/0 when it was balanced */
	uint32_t imbalance_preferred, imbalance_elsewhere;
} raftd_ctl_broker_t;

struct raftd_node {
	struct event_base *base;
	const ck_config_t *cfg;
	raftd_node_hooks_t h;
	void *arg;
	int lock_fd;
	ck_meta_t *meta;
	bool nosync; /* this handle commits without fdatasync (ck_meta_unsynced_mark) */
	/* Bytes of the metadata map's file known to have disk blocks
	 * (raftd_exec.c, raftd_meta_reserve; UINT64_MAX: not checked). */
	uint64_t meta_alloc;
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
	struct event *commit_ev; /* bounds how long followers wait for a commit */
	bool commit_due;         /* commit_ev fired: send the commit now */
	struct event *feed_ev;   /* bounds how long queued proposals are held */
	struct event *ctl_ev;    /* the controller's next walk, before the next tick */
	bool feed_over;          /* feed_ev fired: hand the queue to the core */
	size_t fed_answered;     /* proposals answered since the queue was last fed */
	uint64_t answered_us;    /* when the last of them was (monotonic µs) */
	uint64_t queued_us;      /* when the last proposal was queued */
	uint64_t hold_us;        /* when the current hold began */
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
	uint64_t applied;     /* LMDB applied_index */
	uint64_t incarnation; /* of this raftd start: transport and broker */
	uint64_t data_id;     /* of the data dir (ck_dataid.h), 0: unknown */
	raftd_prop_list_t queued;
	size_t urgent_n; /* writes alive with raftd_prop_t.urgent set */
	raftd_prop_list_t forwarded;
	raftd_prop_list_t inflight; /* ascending index */
	/* Applied deletions (leader): answered once every live broker has
	 * applied them too, or at hold_until_ms (raftd_node_held_check). */
	raftd_prop_list_t held;
	/* the network (raftd_node_net.c); NULL for a lone voter */
	struct raftd_net *net;
	uint64_t fwd_seq;
	uint64_t fwd_hold_ms;               /* no forwarding before (the leader refused) */
	uint64_t leader_commit;             /* as the leader last said */
	Chronik__Raftnet__Envelope **inbox; /* envelopes with messages to step */
	size_t inbox_head;
	size_t inbox_n;
	size_t inbox_msg; /* next message of inbox[inbox_head] */
	raftd_report_t reports[RAFTD_REPORTS_MAX];
	size_t n_reports;
	/* snapshots (raftd_node_snap.c) */
	raftd_snap_meta_t snap;
	raftd_snap_rx_t rx;
	raftd_snap_tx_t tx[RAFT_VOTERS_MAX];
	struct event *tx_timer;
	uint64_t snapshot_entries; /* take one every this many applied entries */
	uint64_t snap_bytes;       /* the last snapshot's size (raftd_snap_interval) */
	uint64_t compact_keep;     /* entries kept in the log below it */
	uint64_t snap_tried;       /* applied index when a snapshot last failed */
	struct {                   /* the copy of the one being taken */
		pthread_t thread;
		bool running;      /* the thread runs or is not joined yet */
		int efd;           /* it writes here when done */
		struct event *ev;
		int result;        /* its outcome, read after the join */
		uint64_t index;
		uint64_t bytes;
	} mk;
	bool ready_wait_exec;      /* the Ready installs a snapshot once exec is idle */
	bool ready_snap_done;      /* ... and has done so */
	size_t ready_early;        /* committed entries of the Ready queued before its append */
	bool ready_sent;           /* a leader's Ready: messages sent before its append */
	/* the controller (raftd_ctl.c) */
	raftd_ctl_broker_t ctl[CK_CONFIG_PEERS_MAX];
	size_t n_ctl;
	uint64_t ctl_next_ms;
	uint64_t ctl_walk_ms; /* the last walk (0: none yet as this leader) */
	size_t ctl_updates;  /* partition updates in flight */
	bool ctl_refused;    /* one of them refused or failed since the last walk */
	bool ctl_leaderless; /* partitions may lack a leader: walk them (raftd_ctl.c) */
	/* Where the next round of the walk over partitions resumes: the topic
	 * the last round stopped in ("": none, from the first), its pass, and
	 * the fenced brokers that walk was for. */
	char ctl_resume[256];
	bool ctl_resume_isr;
	uint64_t ctl_resume_print;
	/* The last walk over partitions covered them all and changed none, for
	 * brokers as in ctl_quiet_print and partitions as of ctl_quiet_parts. */
	bool ctl_quiet;
	uint64_t ctl_quiet_print;
	uint64_t ctl_quiet_parts;
	uint64_t rebal_next_ms; /* the next preferred-leader rebalance (0: not yet set) */
	uint64_t session_ms; /* a broker silent this long is fenced */
	bool storage_full;   /* this node's data disk, as last looked at (raftd_node_net.c) */
	bool departing;      /* controlled shutdown asked (SIGUSR2, raftd_ctl_depart) */
	bool depart_done;    /* ... and CHRONIK_DRAINED=1 sent */
	uint64_t depart_ms;  /* when it was asked (monotonic) */
	uint64_t depart_next_ms; /* the next look at the partitions */
	size_t depart_needed;    /* partitions that needed this node at the last look */
	/* committed entries not yet applied: items[item_head .. item_n) */
	raftd_item_t *items;
	size_t item_head;
	size_t item_n;
	size_t item_cap;
	/* the apply round in progress */
	raftd_exec_state_t exec;
	bool reconcile_wanted;
	/* Reconciliations also delete stale logs, until they went to walwriter
	 * (a snapshot was installed: LMDB is then at least as new as whatever
	 * created a log; never at start, when LMDB may be behind the metadata
	 * log). */
	bool recon_prune;
	/* Reconciliation runs in chunks (raftd_exec.c): the stale logs, then
	 * the logs walwriter lacked when it listed them, the next one to look
	 * at, and how many were re-created and deleted so far. Apply rounds
	 * take turns with chunks (recon_turn: a round ran since the last
	 * chunk). */
	raftd_recon_log_t *recon;
	size_t recon_n, recon_next, recon_done, recon_deleted;
	bool recon_turn;
	uint64_t round;
	size_t round_n; /* items of the round */
	uint64_t round_start_ns;
	raftd_effects_t fx;
	bool fx_early;      /* the round's creations started before its commit ended */
	bool fx_early_done; /* ... and all finished */
	raftd_fx_call_t *fx_calls;
	size_t fx_wave_lo; /* effects [lo, hi) are the current wave */
	size_t fx_wave_hi;
	/* The wave's first effect not known done: replies advance it, so a
	 * wave of N effects (reconciliation: every log of the broker) costs
	 * O(N) to finish, not a scan of the wave per reply. */
	size_t fx_wave_next;
	/* Sending: the wave's effects before fx_wave_sent went out at least
	 * once; at most RAFTD_FX_WINDOW are with walwriter at a time, so
	 * the metadata log's appends on the same connection never queue
	 * behind a whole reconciliation; fx_resend: some that went out are
	 * pending again (lost connection, a retriable refusal). */
	size_t fx_wave_sent;
	size_t fx_inflight;
	bool fx_resend;
	struct event *fx_timer;
	struct event *defer_timer; /* a follower's round may wait for more entries */
	bool defer_over;           /* ... and has waited */
	uint64_t defer_due_us;     /* when defer_timer fires (monotonic µs) */
	uint64_t round_end_ms;     /* when the last round ended (monotonic) */
	raftd_apply_result_t *results;
	size_t results_cap;
	raftd_txn_worker_t txw;
	raftd_metrics_t metrics; /* raftd_metrics.h */
};

/* raftd_node.c */
void raftd_node_fatal(struct raftd_node *n, int err, const char *why);
/* Feeds the core and processes its Readies until it waits for I/O. */
void raftd_node_pump(struct raftd_node *n);
/* The controller's next walk as soon as the loop is free, not at the next
 * tick (raftd_ctl.c: a round of partition updates settled). */
void raftd_node_ctl_soon(struct raftd_node *n);
/* Completes the in-log proposals up to INDEX with the round's results
 * (results[k] belongs to items[item_head + k]). */
void raftd_node_answer(struct raftd_node *n, size_t count);

/* Finishes P (frees it). */
void raftd_prop_finish(raftd_prop_t *p, int err, uint64_t index, const raftd_apply_result_t *res);
void raftd_list_push(raftd_prop_list_t *l, raftd_prop_t *p);
raftd_prop_t *raftd_list_pop(raftd_prop_list_t *l);
/* Inserts P by ascending index (stable). */
void raftd_list_insert_sorted(raftd_prop_list_t *l, raftd_prop_t *p);
/* Puts P back at the head of `queued` (in no log: it goes out again). */
void raftd_node_requeue(struct raftd_node *n, raftd_prop_t *p);
/* Proposes DATA on behalf of the caller, even when stopping is set:
 * raftd_node_propose()'s queueing part. REMOTE: for a follower. */
int raftd_node_enqueue(struct raftd_node *n, const uint8_t *data, size_t len, raftd_propose_cb cb,
                       void *arg, bool remote);
/* raftd_node_propose() for the controller: a proposal bound to TERM (see
 * raftd_prop_t's only_term), answered CK_E_NOT_LEADER once it cannot be
 * proposed in TERM. */
int raftd_node_propose_in_term(struct raftd_node *n, const uint8_t *data, size_t len,
                               raftd_propose_cb cb, void *arg, uint64_t term);
/* Queues work for the core (done before the next Ready). */
void raftd_node_report(struct raftd_node *n, raftd_report_kind_t kind, uint64_t peer,
                       uint64_t index);
/* Answers the in-log proposals up to INDEX, which a snapshot covered:
 * those with the leader's answer succeed, the others' fate is unknown. */
void raftd_node_answer_covered(struct raftd_node *n, uint64_t index);
/* Takes the rest of the current Ready's work (after a snapshot install
 * that waited for the apply round). */
void raftd_node_ready_continue(struct raftd_node *n);

/* raftd_node_net.c: transport glue, forwarding, heartbeats */
int raftd_node_net_start(struct raftd_node *n);
void raftd_node_net_free(struct raftd_node *n);
/* Steps queued messages into the core (no Ready out). False when the
 * inbox is empty. */
bool raftd_node_net_step(struct raftd_node *n);
/* The commit and last index the next frames carry (from the core). */
void raftd_node_net_progress(struct raftd_node *n);
/* Sends the Ready's messages (snapshots start a transfer) and flushes. */
void raftd_node_net_send(struct raftd_node *n, const raft_ready_t *rd);
/* Forwards queued proposals to the leader (follower). */
void raftd_node_net_forward(struct raftd_node *n);
/* Every tick: heartbeats to the leader. */
void raftd_node_net_tick(struct raftd_node *n);
/* A broker heartbeat to the leader now (a follower with a live connection). */
void raftd_node_net_heartbeat(struct raftd_node *n);
/* Answers the held deletions every live broker has applied (or whose
 * hold is over, or all of them when this node no longer leads). */
void raftd_node_held_check(struct raftd_node *n);
/* Whether every other voter heard from within the broker session has
 * reported an applied index of INDEX or more (the controller's view). */
bool raftd_ctl_all_applied(struct raftd_node *n, uint64_t index, uint64_t now_ms);
/* The leader changed (soft state). */
void raftd_node_net_leader_changed(struct raftd_node *n);
/* A forwarded proposal expired: forget it. */
size_t raftd_node_net_expire(struct raftd_node *n, uint64_t now_ms);

/* raftd_node_snap.c: making, sending, receiving, installing snapshots */
int raftd_node_snap_init(struct raftd_node *n);
void raftd_node_snap_free(struct raftd_node *n);
/* Before raft_init(): installs a recorded snapshot LMDB lacks. */
int raftd_node_snap_recover(struct raftd_node *n);
/* Makes a snapshot when due or asked for (between Readies). */
void raftd_node_snap_maybe(struct raftd_node *n);
/* Starts sending the snapshot of M (a SNAPSHOT message) to m->to. */
void raftd_node_snap_send(struct raftd_node *n, const raft_msg_t *m);
/* Takes a received chunk from PEER. */
void raftd_node_snap_chunk(struct raftd_node *n, uint64_t peer,
                           const Chronik__Raftnet__SnapshotChunk *c);
/* Whether the SNAPSHOT message M may be stepped (its data is here). */
bool raftd_node_snap_received(struct raftd_node *n, const raft_msg_t *m);
/* The Ready's snapshot: LMDB and the snapshot record. Returns 0 or an
 * error (fatal). */
int raftd_node_snap_install(struct raftd_node *n, const raft_snapshot_meta_t *s);
/* The outbound connection to PEER went down: its transfer failed. */
void raftd_node_snap_peer_down(struct raftd_node *n, uint64_t peer);

/* raftd_ctl.c: the controller (the leader's raftd) */
void raftd_ctl_reset(struct raftd_node *n);
void raftd_ctl_heartbeat(struct raftd_node *n, uint64_t peer,
                         const Chronik__Raftnet__BrokerHeartbeat *hb);
void raftd_ctl_tick(struct raftd_node *n, uint64_t now_ms);
/* Controlled shutdown: the broker asks to be fenced (its heartbeats, or the
 * controller's own view), then CHRONIK_DRAINED=1 goes to the supervisor once
 * no partition needs it any more (raftd_ctl_depart_check, every tick). */
void raftd_ctl_depart(struct raftd_node *n);
void raftd_ctl_depart_check(struct raftd_node *n, uint64_t now_ms);
/* The follower best placed to take over leadership (connected, heard
 * from, furthest applied), or RAFT_NONE. */
uint64_t raftd_ctl_successor(const struct raftd_node *n);
/* One follower's state for STATUS= ("2:lag=0"), into BUF. */
void raftd_ctl_describe(const struct raftd_node *n, char *buf, size_t len);

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
/* Whether a command of this kind changes what clients route by
 * (partitions, their leaders, brokers); unknown kinds do. */
bool raftd_exec_routes(int cmd_case);

#endif
