/*
 * raftd_metrics.h: the metrics of chronik-raftd's metadata service, in
 * Prometheus text format (served through run/raftd.sock GetMetrics, and by
 * the supervisor on the admin port at GET /metrics).
 *
 * The core (raftd_metrics.c) is pure: no clock, no I/O, no allocation but
 * the output buffer. It keeps what cannot be read from live state later:
 *   - write latency histograms, per operation (the MetadataCommand kind),
 *     per origin (a client of this node, or a follower forwarding to this
 *     leader) and per result (ok, rejected by the state machine, error: not
 *     committed or outcome unknown), from the proposal to its answer;
 *   - counters: writes proposed, forwards sent to the leader, forwards
 *     received from followers, elections started, leader changes;
 *   - per follower (on the leader): the last index it reported and when it
 *     last had everything the leader had (Kafka's "last caught-up time").
 * Gauges (term, leader, role, indexes, follower lag) are rendered from a
 * snapshot of live state the shell passes at scrape time.
 * Histogram buckets are log spaced (1-2-5 per decade) from 50 us to 30 s
 * plus +Inf; counts are kept per bucket and rendered cumulatively.
 *
 * The shell side (raftd_node_metrics.c, declared at the end) fills the live
 * state from the node and is called by the node's hooks.
 * Owned by raftd; for its libevent thread only.
 * Not for: sockets (raftd_service.c), the supervisor's own metrics.
 */
#ifndef RAFTD_METRICS_H
#define RAFTD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"
#include "raft_core.h"

/* Operation kinds: the MetadataCommand oneof (metadata.proto), in field
 * number order (field n is kind n - 1). */
typedef enum {
	RAFTD_OP_CREATE_TOPIC = 0,
	RAFTD_OP_DELETE_TOPIC,
	RAFTD_OP_CREATE_PARTITIONS,
	RAFTD_OP_ALTER_CONFIGS,
	RAFTD_OP_REGISTER_BROKER,
	RAFTD_OP_FENCE_BROKER,
	RAFTD_OP_UPDATE_PARTITION,
	RAFTD_OP_ALLOCATE_PRODUCER_IDS,
	RAFTD_OP_NOOP,
	RAFTD_OP_COMMIT_OFFSETS,
	RAFTD_OP_DELETE_GROUP,
	RAFTD_OP_DELETE_OFFSETS,
	RAFTD_OP_STORE_GROUP,
	RAFTD_OP_OTHER, /* unknown or unparsable */
	RAFTD_OP_COUNT,
} raftd_op_t;

typedef enum {
	RAFTD_RESULT_OK = 0,   /* committed, applied, result 0 */
	RAFTD_RESULT_REJECTED, /* committed, applied, refused (topic exists ...) */
	RAFTD_RESULT_ERROR,    /* not committed, or outcome unknown */
	RAFTD_RESULT_COUNT,
} raftd_result_t;

typedef enum {
	RAFTD_ORIGIN_LOCAL = 0, /* proposed by a client of this node */
	RAFTD_ORIGIN_FOLLOWER,  /* forwarded to this leader by a follower */
	RAFTD_ORIGIN_COUNT,
} raftd_origin_t;

/* Finite bucket bounds (the last bucket is +Inf). */
#define RAFTD_METRICS_BOUNDS 19

typedef struct {
	uint64_t buckets[RAFTD_METRICS_BOUNDS + 1]; /* per bucket, not cumulative */
	uint64_t count;
	uint64_t sum_us;
} raftd_hist_t;

typedef struct {
	uint64_t id; /* 0: free slot */
	bool seen;   /* reported since this leadership started */
	uint64_t match;
	uint64_t caught_up_ms;
	uint64_t prev_ms; /* the previous report and the leader's last index then */
	uint64_t prev_leader_last;
} raftd_metrics_follower_t;

typedef struct {
	bool commit_leader; /* commit mode "leader" (else "quorum") */
	raftd_hist_t hist[RAFTD_OP_COUNT][RAFTD_ORIGIN_COUNT][RAFTD_RESULT_COUNT];
	uint64_t proposed[RAFTD_ORIGIN_COUNT]; /* [FOLLOWER]: forwards received */
	uint64_t forwards_sent;
	uint64_t elections;
	uint64_t leader_changes;
	uint64_t lead_start_ms;
	raftd_metrics_follower_t followers[RAFT_VOTERS_MAX];
} raftd_metrics_t;

/* Live state at scrape time (gauges). */
typedef struct {
	bool started; /* the Raft core runs (else only raftd_up and counters) */
	uint64_t node_id;
	raft_role_t role;
	uint64_t term;
	uint64_t leader; /* RAFT_NONE: unknown */
	uint64_t commit_index;
	uint64_t applied_index;
	uint64_t last_index;
	uint64_t apply_lag; /* committed (as the leader says) but not applied here */
	uint64_t pending;   /* proposals waiting for an answer */
	bool storage_full;  /* the data disk too full for appends (the broker asks to be fenced) */
	const uint64_t *voters;
	uint32_t n_voters;
} raftd_metrics_live_t;

/* Zeroes M; COMMIT_LEADER labels the histograms commit_mode="leader". */
void raftd_metrics_init(raftd_metrics_t *m, bool commit_leader);

/* The operation of the packed MetadataCommand DATA (LEN bytes): its first
 * field's number. Reads only the first key; RAFTD_OP_OTHER when it is not
 * a known command. */
raftd_op_t raftd_metrics_op_of(const uint8_t *data, size_t len);
/* "create_topic", ... ("other" for anything out of range). */
const char *raftd_metrics_op_name(raftd_op_t op);

/* A proposal entered the node (REMOTE: forwarded by a follower). */
void raftd_metrics_proposed(raftd_metrics_t *m, bool remote);
/* This follower forwarded a proposal to the leader. */
void raftd_metrics_forward_sent(raftd_metrics_t *m);
/* A proposal of OP was answered after LATENCY_US: ERR (transport) and
 * APPLY_RESULT (the state machine's result when ERR is 0) pick the result
 * label. */
void raftd_metrics_observe(raftd_metrics_t *m, raftd_op_t op, bool remote, int err,
                           int apply_result, uint64_t latency_us);
/* The soft state changed from (OLD_ROLE, OLD_LEADER) to (ROLE, LEADER):
 * counts elections (into candidate or pre-candidate from another role) and
 * leader changes (to a known leader); becoming leader starts follower
 * tracking over at NOW_MS. */
void raftd_metrics_soft_state(raftd_metrics_t *m, raft_role_t old_role, uint64_t old_leader,
                              raft_role_t role, uint64_t leader, uint64_t now_ms);
/* Leader: follower ID says its log ends at FOLLOWER_LAST while ours ends
 * at LEADER_LAST. A follower is caught up when it has everything the
 * leader had, now or at its previous report. Ignored when every slot is
 * taken by other ids. */
void raftd_metrics_follower_report(raftd_metrics_t *m, uint64_t id, uint64_t follower_last,
                                   uint64_t leader_last, uint64_t now_ms);

/* The histogram of (OP, ORIGIN, RESULT); NULL when out of range. */
const raftd_hist_t *raftd_metrics_hist(const raftd_metrics_t *m, raftd_op_t op,
                                       raftd_origin_t origin, raftd_result_t result);
/* The upper bound (us) of the bucket holding quantile Q (0 < Q <= 1) of H,
 * UINT64_MAX when that is the +Inf bucket, 0 when H is empty. */
uint64_t raftd_hist_quantile_us(const raftd_hist_t *h, double q);
/* The bound of bucket I in us (I < RAFTD_METRICS_BOUNDS). */
uint64_t raftd_hist_bound_us(size_t i);

/* Follower lag for LIVE at NOW_MS: entries behind the leader's last index
 * and seconds since it was last caught up (0 when caught up). A follower
 * not heard from since this leadership started counts LIVE's whole log and
 * the time since the leadership started. */
void raftd_metrics_follower_lag(const raftd_metrics_t *m, const raftd_metrics_live_t *live,
                                uint64_t id, uint64_t now_ms, uint64_t *ret_entries,
                                double *ret_seconds);

/*
 * Appends M and LIVE as Prometheus text (format 0.0.4: HELP and TYPE lines,
 * then "name{labels} value" lines) to OUT. Returns 0 or -ENOMEM (OUT may
 * hold part of the text).
 */
int raftd_metrics_render(const raftd_metrics_t *m, const raftd_metrics_live_t *live,
                         uint64_t now_ms, ck_buf_t *out);

/* ---- the shell side (raftd_node_metrics.c) ---- */

struct raftd_node;

/* Appends the node's metrics (raftd_metrics_render at this moment) to OUT.
 * Returns 0 or -ENOMEM. */
int raftd_node_metrics_render(const struct raftd_node *n, ck_buf_t *out);
/* A frame from PEER said its log ends at LAST_INDEX (counted on a
 * leader only). */
void raftd_node_metrics_peer(struct raftd_node *n, uint64_t peer, uint64_t last_index);

#endif
