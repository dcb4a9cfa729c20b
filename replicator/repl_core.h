/*
 * repl_core.h: the pure core of chronik-replicator: per-partition
 * replication state and the high-watermark rule.
 *
 * Owned by replicator. The core keeps one repl_part_t per local partition
 * (known from walwriter's logs, from metadata, or both) and turns events
 * into state changes:
 *   in:  log updates and deletions (walwriter LogEvent / LogInfo), partition
 *        metadata (LMDB PartitionRecords, in full or per-topic sweeps),
 *        follower acknowledgements and leader high watermarks (the
 *        follower fetch protocol, next issue), time (repl_core_tick).
 *   out: PartitionState changes to push (repl_core_change_next), high
 *        watermarks to checkpoint (repl_core_ckpt_dirty), ISR shrink/expand
 *        proposals (repl_isr_shrink, repl_isr_expand).
 *
 * The high-watermark rule (leader): HW = min over the ISR of each member's
 * acknowledged durable offset, the leader's own being walwriter's durable
 * end offset, and a follower's its next fetch offset (a follower fetches
 * the next offset only once its own walwriter made the previous ones
 * durable). A follower whose offset is unknown since this leadership began
 * holds HW back. With one replica HW = durable end.
 * Invariants, checked after every change:
 *   log_start <= HW <= log_end (for a partition with a log);
 *   HW never goes backwards, within a leader epoch or across one, except
 *   down to a log end that moved below it (truncation, as in Kafka's
 *   Log.truncateTo); that case is counted in hw_truncations.
 * A partition without metadata (walwriter knows the log, LMDB does not, or
 * not yet) counts as a single-replica partition led here, at the epoch of
 * its checkpoint, until metadata says otherwise; but its HW stays where it
 * is (its checkpoint, or its log start): without the replica set no offset
 * is known to be on every ISR member, so none is acknowledged (a new
 * topic's log reaches the replicator before its metadata may). A
 * follower's HW is the leader's, capped at the local log end.
 *
 * Pure: no I/O, no clock (time enters through repl_core_tick), no logging.
 * Allocates with malloc. Not for: IPC, LMDB, the fetch protocol's wire format
 * (repl_loop.c and the shell files).
 */
#ifndef REPL_CORE_H
#define REPL_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_hwckpt.h"

#define REPL_TOPIC_MAX    249 /* Kafka's longest topic name */
#define REPL_REPLICAS_MAX 16  /* replicas per partition (CK_CONFIG_PEERS_MAX) */
#define REPL_TOPIC_ID_LEN 16  /* a topic id (KIP-516) */

typedef enum {
	REPL_ROLE_LEADER = 0,   /* this node leads the partition */
	REPL_ROLE_FOLLOWER = 1, /* a replica, another node leads */
	REPL_ROLE_NONE = 2,     /* no leader, or this node is not a replica */
} repl_role_t;

/* "leader", "follower", "none". */
const char *repl_role_name(repl_role_t r);

/* What the leader knows of one follower, since its leadership began. */
typedef struct {
	int32_t broker_id;
	int64_t ack_offset;            /* next fetch offset; -1 = not fetched yet */
	uint64_t last_fetch_ms;        /* 0 = never */
	int64_t last_fetch_leader_end; /* leader's log end at that fetch */
	uint64_t last_caught_up_ms;    /* last time it had everything the leader had */
	int64_t log_start;             /* its log start as its last fetch said; -1 = not yet */
	/* Its addition to the ISR was proposed at partition epoch
	 * adding_pepoch (repl_core_isr_adding): until the metadata moves past
	 * that epoch it counts for HW as a member (Kafka's maximal ISR). */
	bool adding;
	int32_t adding_pepoch;
} repl_follower_t;

/*
 * One partition. Read-only outside repl_core*.c; pointers stay valid until
 * the next call that may delete partitions (log/meta updates, sweeps,
 * change_next).
 */
typedef struct repl_part {
	const char *topic; /* its topic's name (repl_topic_t: one copy per topic) */
	int32_t partition;

	/* From walwriter. */
	bool have_log;
	int64_t log_start;
	int64_t log_end;
	int64_t durable_end;
	/* The log's topic incarnation (walwriter's LogInfo.topic_id): a
	 * follower names it in its fetches and a leader refuses a fetch that
	 * names another (a log of a deleted topic is never replicated as the
	 * new topic's of the same name). */
	bool has_topic_id;
	uint8_t topic_id[REPL_TOPIC_ID_LEN];

	/* From metadata (have_meta) or the single-replica default. */
	bool have_meta;
	repl_role_t role;
	int32_t leader; /* broker id, -1 = none */
	int32_t leader_epoch;
	int32_t partition_epoch;
	int32_t replicas[REPL_REPLICAS_MAX];
	size_t n_replicas;
	int32_t isr[REPL_REPLICAS_MAX];
	size_t n_isr;

	/* Leader role: the other replicas, in replicas[] order (allocated
	 * while this node leads the partition, NULL otherwise). */
	repl_follower_t *followers;
	size_t n_followers;
	size_t cap_followers;
	int64_t epoch_start_offset; /* log end when this leadership began */
	uint64_t leader_since_ms;

	/* Follower role: the leader's HW as last received (-1 = none). */
	int64_t leader_hw;

	int64_t hw;
	uint64_t hw_truncations; /* times HW followed the log end down */

	/* Checkpoint: the loaded/last written values (-1 = none). */
	int64_t ckpt_hw;
	int32_t ckpt_epoch;

	/* Last published state (see repl_core_change_next). */
	bool pub_visible;
	int64_t pub_hw;
	int64_t pub_log_start;
	int64_t pub_low_watermark;
	bool pub_leader;
	int32_t pub_epoch;
	int32_t pub_isr_size;
	bool pub_meta; /* ... from metadata, not the no-metadata default */

	/* Core bookkeeping. */
	bool in_changes;
	bool in_ckpt;   /* a checkpoint candidate: changed since the last clean */
	bool log_seen;  /* during a log sweep */
	bool meta_seen; /* during a meta sweep */
	struct repl_part *hnext;
	struct repl_part *cnext;
	struct repl_part *knext; /* the checkpoint candidates */
	struct repl_part *kprev;
	struct repl_part *tnext; /* its topic's partitions */
	struct repl_part *tprev;
} repl_part_t;

/* The state pushed to subscribers (replicator.proto PartitionState). */
typedef struct {
	char topic[REPL_TOPIC_MAX + 1];
	int32_t partition;
	int64_t high_watermark;
	int64_t log_start_offset;
	int64_t log_end_offset;
	int64_t low_watermark; /* see repl_core_low_watermark */
	bool leader;
	int32_t leader_epoch;
	int32_t isr_size; /* 0: no metadata yet (the replica set is unknown) */
	bool deleted;
	/* What was published before (repl_core_change_next only; for
	 * "old -> new" logs): prev_visible false = first publication. */
	bool prev_visible;
	bool prev_leader;
	int32_t prev_epoch;
	bool prev_meta; /* the previous role came from metadata (not a default) */
} repl_state_t;

/* A log as walwriter describes it (LogInfo). */
typedef struct {
	const char *topic;
	int32_t partition;
	int64_t log_start;
	int64_t log_end;
	int64_t durable_end;
	const uint8_t *topic_id; /* REPL_TOPIC_ID_LEN bytes; NULL = unknown */
} repl_log_info_t;

/* A checkpointed HW (LMDB offsets "hw/<topic>-<p>", common/ck_hwckpt.h). */
typedef ck_hwckpt_t repl_ckpt_t;

/* A partition's metadata (LMDB PartitionRecord). */
typedef struct {
	const char *topic;
	int32_t partition;
	const int32_t *replicas;
	size_t n_replicas;
	const int32_t *isr;
	size_t n_isr;
	int32_t leader; /* -1 = none */
	int32_t leader_epoch;
	int32_t partition_epoch;
} repl_meta_t;

typedef struct repl_core repl_core_t;

/* A core for node NODE_ID. Returns 0 and *RET, or -ENOMEM. */
int repl_core_new(int32_t node_id, repl_core_t **ret);
/* Frees C and every partition. NULL is fine. */
void repl_core_free(repl_core_t *c);

/* Time (monotonic ms) for follower bookkeeping; never goes backwards. */
void repl_core_tick(repl_core_t *c, uint64_t now_ms);

/* The partition, or NULL. */
const repl_part_t *repl_core_find(const repl_core_t *c, const char *topic, int32_t partition);
/* How many partitions have a log, and how many of them are led here
 * (recounted only after a log came or went or a role changed). */
size_t repl_core_count(repl_core_t *c, size_t *ret_led);

/*
 * walwriter's view of a log. A log new to the core (no log known for the
 * partition yet) starts from CKPT: its HW as a floor (capped at the log
 * end) and, without metadata, its epoch; NULL = no checkpoint; ignored for
 * a known log. Offsets must satisfy
 * 0 <= log_start <= log_end and durable_end <= log_end; a durable end below
 * log_start counts as log_start. Returns 0, CK_E_INVALID (bad topic,
 * partition or offsets; nothing changed) or -ENOMEM.
 */
int repl_core_log_update(repl_core_t *c, const repl_log_info_t *info, const repl_ckpt_t *ckpt);
/* The log is gone. Returns 0 or CK_E_NOT_FOUND (no such log). */
int repl_core_log_delete(repl_core_t *c, const char *topic, int32_t partition);
/* A full list of walwriter's logs (after a reconnect): _begin, then
 * repl_core_log_update for every log listed, then _end deletes the logs
 * not listed. */
void repl_core_log_sweep_begin(repl_core_t *c);
void repl_core_log_sweep_end(repl_core_t *c);

/*
 * Partition metadata. Kept only when this node is a replica (or already
 * has the log; then it goes with the log). Returns 0, CK_E_INVALID (bad
 * topic or partition, more than REPL_REPLICAS_MAX replicas or ISR
 * members, a negative epoch; nothing changed) or -ENOMEM.
 */
int repl_core_meta_update(repl_core_t *c, const repl_meta_t *m);
/* A full read of the metadata: _begin, repl_core_meta_update for every
 * partition record, _end forgets the metadata of partitions not seen (their
 * logs, if any, become single-replica partitions led here, HW held). */
void repl_core_meta_sweep_begin(repl_core_t *c);
void repl_core_meta_sweep_end(repl_core_t *c);
/* The same for the partition records of one topic (the shell knows which
 * topics changed): _begin, repl_core_meta_update for every partition
 * record of TOPIC, _end forgets the metadata of TOPIC's partitions not
 * seen (a deleted topic: all of them). Other topics are left alone; the
 * cost is the number of TOPIC's partitions in the core. Give no update of
 * another topic in between, and do not nest with a full sweep. */
void repl_core_meta_topic_begin(repl_core_t *c, const char *topic);
void repl_core_meta_topic_end(repl_core_t *c, const char *topic);

/*
 * Pops the next partition whose published state changed (HW, log start,
 * role, leader epoch, ISR size, or it appeared or was deleted) into *RET
 * and records it as published. A log end change alone is not a change.
 * Returns true, or false when nothing is pending. Deleted partitions come
 * out with deleted = true (and are freed when nothing else refers to them).
 */
bool repl_core_change_next(repl_core_t *c, repl_state_t *ret);
/* Whether repl_core_change_next has something. */
bool repl_core_changes_pending(const repl_core_t *c);
/* The current state of P (as it would be published). */
void repl_core_state(const repl_part_t *p, repl_state_t *ret);
/* Calls FN for every partition with a log; FN returning non-zero stops the
 * walk and that value is returned. FN must not change the core. */
typedef int (*repl_part_fn)(void *arg, const repl_part_t *p);
int repl_core_foreach(const repl_core_t *c, repl_part_fn fn, void *arg);

/*
 * Checkpoints: FN is called for every partition with a log whose HW or
 * epoch differs from its checkpoint (returning non-zero stops, and that
 * value is returned). Once they are durable, repl_core_ckpt_clean() records
 * the current values as checkpointed (call it with no core change in
 * between; call it too when FN found none, so that the partitions changed
 * since are the next walk's only candidates). Both visit only partitions
 * changed since the last clean.
 */
int repl_core_ckpt_dirty(const repl_core_t *c, repl_part_fn fn, void *arg);
void repl_core_ckpt_clean(repl_core_t *c);

/*
 * Leader role: follower BROKER_ID fetched from FETCH_OFFSET, which
 * acknowledges every offset below it. Advances HW when it can. Returns 0,
 * CK_E_NOT_FOUND (no such partition with a log), CK_E_NOT_LEADER (not led
 * here), CK_E_INVALID (not a replica, or the leader itself),
 * CK_E_OFFSET_RANGE (beyond the leader's log end).
 */
int repl_core_follower_fetch(repl_core_t *c, const char *topic, int32_t partition,
                             int32_t broker_id, int64_t fetch_offset);
/*
 * Leader role: follower BROKER_ID's log start, as its fetch said (it moves
 * its start up to ours after a DeleteRecords or retention here). Call it
 * before repl_core_follower_fetch for the same fetch. Returns 0,
 * CK_E_NOT_FOUND, CK_E_NOT_LEADER, CK_E_INVALID (not a follower, or a
 * negative start).
 */
int repl_core_follower_start(repl_core_t *c, const char *topic, int32_t partition,
                             int32_t broker_id, int64_t log_start);
/*
 * The low watermark (Kafka's lowWatermarkIfLeader, over the ISR): led here,
 * the least log start over the leader and every ISR follower, -1 while an
 * ISR follower's start is unknown (it has not fetched in this leadership);
 * otherwise the local log start. A DeleteRecords is complete once it
 * reaches the asked offset: every replica that may lead next (unclean
 * election is off) has deleted the records too.
 */
int64_t repl_core_low_watermark(const repl_part_t *p);
/*
 * Follower role: the leader at LEADER_EPOCH reported HW. Returns 0,
 * CK_E_NOT_FOUND, CK_E_NOT_LEADER (this node leads it: ignored), or
 * CK_E_INVALID (an epoch other than the current one, or HW < 0).
 */
int repl_core_leader_hw(repl_core_t *c, const char *topic, int32_t partition, int32_t leader_epoch,
                        int64_t hw);

/*
 * ISR decisions (pure; the caller proposes UpdatePartition to raftd).
 * repl_isr_shrink: the ISR without the followers that have not caught up
 * with the leader's log end for longer than LAG_MAX_MS (Kafka's
 * replica.lag.time.max.ms); a follower never heard from counts from the
 * start of the leadership. repl_isr_expand: the ISR plus every replica
 * outside it whose acknowledged offset reached both HW and the start of
 * this leader epoch. Both write the new ISR to RET_ISR (room for
 * REPL_REPLICAS_MAX) and *RET_N and return true when it differs from the
 * current one; false (RET_* untouched) when not led here or unchanged.
 */
bool repl_isr_shrink(const repl_part_t *p, int32_t node_id, uint64_t now_ms, uint64_t lag_max_ms,
                     int32_t *ret_isr, size_t *ret_n);
bool repl_isr_expand(const repl_part_t *p, int32_t node_id, int32_t *ret_isr, size_t *ret_n);
/* The ISR ISR (N members) was proposed for TOPIC-PARTITION: its members
 * not in the current ISR hold HW like members from now until the
 * metadata shows another partition epoch (the addition committed, or
 * something else was, after which the proposal can no longer be). Without
 * it HW went on over the old ISR while the addition waited for its
 * commit, and the member joined holding less than HW: elected next, it
 * lost acknowledged records. */
void repl_core_isr_adding(repl_core_t *c, const char *topic, int32_t partition, const int32_t *isr,
                          size_t n);

#endif
