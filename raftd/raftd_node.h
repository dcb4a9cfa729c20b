/*
 * raftd_node.h: the metadata service of chronik-raftd: the pure Raft core
 * (raft_core.h) driven over walwriter storage (raftd_store.h), and the
 * committed entries applied to LMDB `meta` (raftd_apply.h).
 *
 * A proposal travels: raftd_node_propose() -> a queue in the shell while
 * the core is busy (so every proposal arriving during one append joins the
 * next: group commit) -> raft_propose() -> Ready: one walwriter append for
 * all new entries -> committed (single voter: once durable) -> applied in
 * rounds (one LMDB transaction per round; partition logs created or deleted
 * in walwriter first) -> the callback with the apply result. Proposals are
 * answered after their entry is applied locally, so the caller reads its
 * own write from LMDB right away.
 *
 * Start-up: lock raft/, open LMDB, load the hard state, open the metadata
 * log through walwriter (creating it), start the core from LMDB's
 * applied_index; a single voter campaigns at once, wins, appends its no-op,
 * and everything durable in the log after applied_index is re-applied.
 * Once that replay is done the node serves (on_ready), registers its broker
 * (RegisterBroker with a fresh incarnation) and re-creates any partition
 * log of this broker that LMDB lists but walwriter lacks.
 *
 * Voters are the [peer.N] ids of the configuration, or this node alone.
 * With peers, Raft messages travel over raftd_net (TCP, the "raft"
 * listener). A proposal reaching a follower is forwarded to the leader
 * (raftd_node_net.c) and answered once the leader committed it AND this
 * node's LMDB applied it (read-your-writes). A proposal that was never in
 * a log goes out again by itself when the leader changes; one whose fate
 * became unknown (the leader's connection was lost after it was sent) is
 * sent again when applying it twice is harmless (CreateTopic with its
 * topic id, RegisterBroker, FenceBroker, AlterTopicConfigs), and answered
 * CK_E_NOT_LEADER otherwise. Snapshots (raftd_node_snap.c) are taken
 * every [metadata] snapshot_entries applied entries (100000), compact
 * the log up to compact_keep entries below them (a tenth of that; the
 * metadata log's files below go with walwriter's DeleteRecords), and are
 * sent to followers the log cannot serve. The leader is the controller
 * (raftd_ctl.c): it fences brokers whose heartbeats lapse (broker_session_ms,
 * 4000), takes them out of every ISR, and unfences them when they come
 * back.
 *
 * Commit mode: [metadata] commit / CHRONIK_METADATA_COMMIT ("quorum", the
 * default, or "leader"); CHRONIK_DISABLE_METADATA_WAL=true forces quorum.
 *
 * Owned by raftd; for its libevent thread only.
 * Not for: sockets of clients (raftd_service.c), process wiring
 * (raftd_loop.c).
 */
#ifndef RAFTD_NODE_H
#define RAFTD_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_config.h"
#include "raftd_apply.h"
#include "raftd_wal.h"

struct event_base;

typedef struct raftd_node raftd_node_t;

/* Proposals wait at most this long for their apply (CK_E_TIMEOUT); one
 * that is in no log after 10 s (no leader) is answered CK_E_NOT_LEADER. */
#define RAFTD_PROPOSE_TIMEOUT_MS 30000
/* Proposals queued in the shell at most (beyond: CK_E_AGAIN). */
#define RAFTD_QUEUE_MAX 200000

/*
 * The outcome of one proposal: ERR 0 with the entry's INDEX and the apply
 * result RES, or ERR CK_E_NOT_LEADER (this node does not lead, or lost the
 * entry to another leader: never applied, safe to propose again),
 * CK_E_TIMEOUT (outcome unknown: in flight when a connection dropped,
 * covered by a snapshot without an answer, or past the deadline),
 * CK_E_SHUTDOWN (raftd stopping: outcome unknown) with RES NULL.
 */
typedef void (*raftd_propose_cb)(void *arg, int err, uint64_t index,
                                 const raftd_apply_result_t *res);

typedef struct {
	/* LMDB applied_index advanced to APPLIED (once per apply round). */
	void (*on_applied)(void *arg, uint64_t applied);
	/* Role, term, leader or serving changed. */
	void (*on_status)(void *arg);
	/* The node serves: recovered and (single voter) replayed. Once. */
	void (*on_ready)(void *arg);
	/* A fatal error: the process should exit with EXIT_CODE (ck_err.h). */
	void (*on_fatal)(void *arg, int err, int exit_code);
} raftd_node_hooks_t;

typedef struct {
	const char *role; /* "leader", "follower", ... or "starting" */
	uint64_t term;
	int32_t leader_id; /* -1 unknown */
	/* The leader is this node, or a follower hears from it: connected to
	 * it and its last message at most RAFTD_CONTACT_TICKS ticks old. */
	bool leader_contact;
	/* Proposals can still commit: a leader connected to a quorum of the
	 * voters (itself counted), a follower in contact with its leader. */
	bool quorum_contact;
	uint64_t commit_index;
	uint64_t applied_index; /* in LMDB */
	uint64_t last_index;
	bool serving;
	size_t queued;   /* proposals not yet in the log */
	size_t inflight; /* proposals in a log or forwarded, not yet applied */
	uint64_t lag;    /* entries committed (as the leader knows) not applied here */
	uint64_t snapshot_index;
	uint64_t compact_index;
	bool transferring; /* leader handing leadership over */
	char followers[160]; /* leader: "2:lag=0 3:down" */
} raftd_node_status_t;

/*
 * Creates the node for CFG (borrowed for the node's life): takes the raft/
 * lock, opens LMDB, and talks to walwriter through WAL (borrowed; the node
 * sets its handlers). Returns 0 and *RET, or -EWOULDBLOCK (another raftd
 * holds the data dir), CK_E_CORRUPT (hard state), CK_E_CONFIG (node or
 * peer ids), -errno / MDB codes.
 */
int raftd_node_new(raftd_node_t **ret, struct event_base *base, const ck_config_t *cfg,
                   raftd_wal_t *wal, const raftd_node_hooks_t *h, void *arg);
/* Answers every proposal still waiting with CK_E_SHUTDOWN and frees N.
 * NULL is fine. */
void raftd_node_free(raftd_node_t *n);

/*
 * Proposes the packed MetadataCommand DATA (LEN bytes, copied). Returns 0
 * and calls CB(ARG, ...) exactly once later, or fails at once (CB is not
 * called): CK_E_INVALID (LEN 0), CK_E_TOO_LARGE (over the entry limit),
 * CK_E_AGAIN (queue full),
 * CK_E_SHUTDOWN (stopping), -ENOMEM.
 */
int raftd_node_propose(raftd_node_t *n, const uint8_t *data, size_t len, raftd_propose_cb cb,
                       void *arg);

/* Stops taking proposals and answers the queued ones with
 * CK_E_NOT_LEADER (the client retries elsewhere or later); a leader hands
 * leadership to its most caught-up follower (status: transferring). */
void raftd_node_stop(raftd_node_t *n);

/* Controlled shutdown (the supervisor's SIGUSR2): the broker asks the
 * controller to fence it, so that its partitions get other leaders and its
 * ISR places go; CHRONIK_DRAINED=1 goes to the supervisor once no partition
 * needs it any more (raftd_ctl.c). The node serves on meanwhile. */
void raftd_node_depart(raftd_node_t *n);

/* An accepted connection on the raft listener (an accept function for
 * ck_daemon_listen_tcp with the node as its argument). Takes FD. */
void raftd_node_accept(int fd, void *node);

void raftd_node_status(const raftd_node_t *n, raftd_node_status_t *ret);
uint64_t raftd_node_applied(const raftd_node_t *n);
/* LMDB's parts_index (ck_meta.h) as applied now. Returns 0 or an error. */
int raftd_node_parts_index(raftd_node_t *n, uint64_t *ret);

#endif
