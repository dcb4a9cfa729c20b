/*
 * kfk_srv.h: the internals shared by the shell files of kafka-frontend:
 * the server context, Kafka connections, requests and their responses, the
 * IPC neighbours, local partition state and the metadata cache.
 *
 * Owned by kafka-frontend. Everything here runs on the one libevent loop of
 * the process. Ownership rules:
 *   - a kfk_conn_t owns its socket and the requests read from it until the
 *     connection closes; requests still waiting on IPC then become orphans
 *     (req->conn == NULL) owned by whatever they wait on, and free
 *     themselves when that finishes (kfk_req_finish());
 *   - a request owns its frame bytes (decoded strings borrow them), its
 *     arena, its handler state and its response pieces;
 *   - pieces handed to a connection belong to it until written.
 * Not for: the pure decisions (kfk_*_core.h, kfk_topic_cfg.h, kfk_apis.h).
 */
#ifndef KFK_SRV_H
#define KFK_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"
#include "ck_config.h"
#include "ck_hash.h"
#include "ck_ipc.h"
#include "ck_meta.h"
#include "ck_rand.h"
#include "ck_segment.h"
#include "ck_worker.h"
#include "kfk_group_core.h"
#include "kfk_idmap.h"
#include "kfk_offexp.h"
#include "kfk_pid_core.h"
#include "kfk_protocol.h"
#include "kfk_respq.h"
#include "kfk_topic_cfg.h"
#include "raftd.pb-c.h"
#include "replicator.pb-c.h"
#include "walwriter.pb-c.h"

struct event;
struct event_base;

/* A request's arena may hold at most this much beyond its frame size. */
#define KFK_ARENA_SLACK_BYTES ((size_t)1 << 20)

/* Settings: the [kafka] table of the configuration (ck_config.h documents
 * each key, its default and its environment variable). */
typedef struct {
	size_t request_bytes_max;     /* max_request_bytes (socket.request.max.bytes) */
	uint64_t idle_timeout_ms;     /* idle_timeout_ms; 0 = never */
	bool auto_create;             /* auto_create_topics_enable */
	int32_t num_partitions;       /* num_partitions */
	int16_t default_rf;           /* default_replication_factor */
	int32_t request_timeout_ms;   /* admin requests without a usable timeout */
	size_t pipeline_max;          /* max_inflight_requests per connection */
	uint64_t out_bytes_max;       /* max_queued_response_bytes per connection */
	size_t response_bytes_max;    /* max_response_bytes: one response's encoding */
	uint64_t in_bytes_max;        /* max_inflight_request_bytes per connection */
	uint64_t rx_budget;           /* queued_max_request_bytes, all connections */
	uint64_t resp_budget;         /* queued_max_response_bytes, all connections */
	uint64_t drain_ms;            /* drain_timeout_ms */
	int32_t group_min_session_ms; /* group_min_session_timeout_ms */
	int32_t group_max_session_ms; /* group_max_session_timeout_ms */
	int32_t group_initial_delay_ms; /* group_initial_rebalance_delay_ms */
	int32_t group_max_size;         /* group_max_size */
	int64_t offsets_retention_ms;   /* offsets_retention_ms (0: never) */
	int32_t offsets_check_ms;       /* offsets_retention_check_interval_ms */
} kfk_settings_t;

/* The settings of CFG's [kafka] table (validated by ck_config). */
void kfk_settings_from_config(const ck_config_t *cfg, kfk_settings_t *ret);

typedef struct kfk_srv kfk_srv_t;
typedef struct kfk_conn kfk_conn_t;
typedef struct kfk_req kfk_req_t;
typedef struct kfk_part kfk_part_t;
typedef struct kfk_topic kfk_topic_t;

/* ---- response pieces (kfk_conn.c) ---- */

/* Memory (FD < 0: LEN bytes of DATA from OFF, owned) or a file range (FD
 * owned: a dup of a segment's .log fd, sent with sendfile from OFF). */
typedef struct kfk_piece {
	struct kfk_piece *next;
	int fd;
	uint8_t *data;
	uint64_t off;
	uint64_t len;
	uint64_t mem; /* bytes of DATA it counts in kfk_srv_t.resp_mem */
} kfk_piece_t;

void kfk_piece_free(kfk_srv_t *s, kfk_piece_t *p);

/* ---- requests (kfk_req.c) ---- */

struct kfk_req {
	kfk_respq_item_t q; /* first member: the queue item */
	kfk_srv_t *srv;
	kfk_conn_t *conn; /* NULL once orphaned */
	uint8_t *frame;   /* the request bytes after the size field */
	size_t frame_len;
	size_t rx_held; /* of the server's rx_held: released with the frame */
	kfk_arena_t arena;
	kfk_request_header_t hdr;
	int16_t api_key;
	int16_t api_version;
	void *body; /* the decoded request (arena) */
	uint64_t recv_ms;
	bool no_response; /* acks=0 produce */
	bool finished;
	/* The response: pieces in order, total bytes (size field included). */
	kfk_piece_t *pieces;
	kfk_piece_t *pieces_tail;
	uint64_t resp_bytes;
	/* Handler state, freed with the request. */
	void *hstate;
	void (*hstate_free)(kfk_req_t *req);
	/* Called instead of waiting when the connection closes before the
	 * request finished: cancels what it waits on and frees it. NULL: the
	 * request finishes normally and is freed then. */
	void (*on_orphan)(kfk_req_t *req);
	bool synced;      /* kfk_req_sync_first ran for it */
	int16_t sync_err; /* how its sync ended: a Kafka error, NONE when caught up */
	/* kfk_req_at_head: runs once every earlier request of the connection
	 * is answered. */
	void (*at_head)(kfk_req_t *req);
	struct kfk_await *await; /* kfk_req_await_part */
};

/* Whether REQ must wait for the requests read before it on its connection
 * (they are not all answered yet): then HANDLER(REQ) runs once they are
 * and true is returned (the caller returns). Kafka's brokers take one
 * request of a connection at a time; an answer that describes the cluster
 * (Metadata) is so as new as its place in the stream: computed on arrival,
 * it could leave seconds later behind an acks=all Produce and tell the
 * client of a leader that another node has long replaced. */
bool kfk_req_at_head(kfk_req_t *req, void (*handler)(kfk_req_t *req));

/* Encodes MSG (the response struct of the request's API) with the right
 * header version into one piece and finishes the request. Encoding
 * failures are logged and close the connection. */
void kfk_req_respond(kfk_req_t *req, const void *msg);
/* Appends a memory piece taking BUF's bytes (BUF is left empty). */
int kfk_req_piece_mem(kfk_req_t *req, ck_buf_t *buf);
/* Appends a file piece (takes FD even on failure). */
int kfk_req_piece_file(kfk_req_t *req, int fd, uint64_t off, uint64_t len);
/* Marks the response complete (the pieces are the whole frame, or nothing
 * when no_response): the connection sends it in order. An orphan is freed. */
void kfk_req_finish(kfk_req_t *req);
/* Closes the request's connection (if any) after logging REASON, and
 * finishes the request without a response. */
void kfk_req_fail_conn(kfk_req_t *req, const char *reason);
void kfk_req_free(kfk_req_t *req);
/* Allocates NUM * SIZE zeroed bytes from the request's arena; NULL when the
 * arena refuses (the caller fails the request). */
void *kfk_req_alloc(kfk_req_t *req, size_t num, size_t size);
/* A NUL-terminated copy of S in the arena ("" for null), or NULL. */
char *kfk_req_strdup(kfk_req_t *req, kfk_str_t s);
/* Milliseconds left of a request deadline DEADLINE_MS (monotonic). */
int64_t kfk_ms_left(uint64_t deadline_ms);

/* ---- dispatch (kfk_dispatch.c) ---- */

/* Handles one request frame read on C; takes FRAME (malloc'd, LEN bytes). */
void kfk_dispatch_frame(kfk_conn_t *c, uint8_t *frame, size_t len);

/* Handlers: each ends in kfk_req_respond()/kfk_req_finish(), now or later. */
void kfk_h_api_versions(kfk_req_t *req);
void kfk_h_describe_cluster(kfk_req_t *req);
void kfk_h_describe_acls(kfk_req_t *req);
void kfk_h_create_acls(kfk_req_t *req);
void kfk_h_delete_acls(kfk_req_t *req);
void kfk_h_find_coordinator(kfk_req_t *req);
void kfk_h_metadata(kfk_req_t *req);
void kfk_h_produce(kfk_req_t *req);
void kfk_h_fetch(kfk_req_t *req);
void kfk_h_list_offsets(kfk_req_t *req);
void kfk_h_offset_for_leader_epoch(kfk_req_t *req);
void kfk_h_delete_records(kfk_req_t *req);
void kfk_h_describe_log_dirs(kfk_req_t *req);
void kfk_h_create_topics(kfk_req_t *req);
void kfk_h_delete_topics(kfk_req_t *req);
void kfk_h_create_partitions(kfk_req_t *req);
void kfk_h_describe_configs(kfk_req_t *req);
void kfk_h_alter_configs(kfk_req_t *req);
void kfk_h_incremental_alter_configs(kfk_req_t *req);
void kfk_h_join_group(kfk_req_t *req);
void kfk_h_sync_group(kfk_req_t *req);
void kfk_h_heartbeat(kfk_req_t *req);
void kfk_h_leave_group(kfk_req_t *req);
void kfk_h_offset_commit(kfk_req_t *req);
void kfk_h_offset_fetch(kfk_req_t *req);
void kfk_h_list_groups(kfk_req_t *req);
void kfk_h_describe_groups(kfk_req_t *req);
void kfk_h_delete_groups(kfk_req_t *req);
void kfk_h_offset_delete(kfk_req_t *req);
void kfk_h_elect_leaders(kfk_req_t *req);
void kfk_h_init_producer_id(kfk_req_t *req);
/* Frees the producer-id retry timer (kfk_h_producer_id.c). */
void kfk_pids_free(kfk_srv_t *s);

/* ---- consumer groups (kfk_h_groups.c) ---- */

/* Group ids longer than this are INVALID_GROUP_ID: they key LMDB records
 * (ck_meta.h), which must fit LMDB's 511 bytes with any topic name. */
#define KFK_GROUP_ID_MAX CK_META_GROUP_MAX
/* The broker that coordinates GROUP (FindCoordinator's pick, kfk_h_cluster.c);
 * -1 when no broker is live. */
int32_t kfk_group_coordinator(kfk_srv_t *s, kfk_str_t group);
bool kfk_group_is_mine(kfk_srv_t *s, kfk_str_t group);
/* Whether GROUP is a usable id: up to KFK_GROUP_ID_MAX bytes, no NUL, and
 * not empty unless EMPTY_OK (as Kafka's GroupCoordinator.isValidGroupId,
 * OffsetCommit, OffsetFetch, DescribeGroups and DeleteGroups take "" for
 * backwards compatibility; the group protocol's requests do not). */
bool kfk_group_id_ok(kfk_str_t group, bool empty_ok);
/* The error for a request on GROUP before the group state sees it:
 * INVALID_GROUP_ID (kfk_group_id_ok with EMPTY_OK), NOT_COORDINATOR
 * (another node's group), or NONE. */
int16_t kfk_group_precheck(kfk_srv_t *s, kfk_str_t group, bool empty_ok);
/* Start (the core and its timer), stop (held requests answered
 * NOT_COORDINATOR), free. */
int kfk_groups_start(kfk_srv_t *s);
void kfk_groups_stop(kfk_srv_t *s);
/* Whether this process did not run for longer than a broker session less
 * a second (the controller's silence counts from a heartbeat) before NOW (monotonic ms; SIGSTOP, a
 * paused VM, a stalled machine): the controller may have fenced this broker meanwhile and another
 * coordinator taken its groups over (and given them back). Then, in a cluster, every group's
 * membership is dropped (members join again) and requests wait for a metadata sync as at start
 * (kfk_dispatch.c). Called by the groups' tick and before each request is handled. */
void kfk_groups_stall_check(kfk_srv_t *s, uint64_t now);
/* The same when this process runs but raftd does not answer (stopped, or
 * restarting in a loop) for as long, or says it has had no contact with
 * the Raft leader for a broker session: the broker may be fenced, its groups
 * moved, while this node's metadata, which only raftd updates, still names
 * it their coordinator. Groups' members are dropped and group requests get
 * COORDINATOR_NOT_AVAILABLE until raftd answers in contact again. Called
 * with the stall check. */
void kfk_groups_raftd_check(kfk_srv_t *s, uint64_t now);
void kfk_groups_free(kfk_srv_t *s);
/* Logs (INFO, rate-limited) that REQ, of API, was answered
 * FENCED_INSTANCE_ID: another member of GROUP holds INSTANCE_ID, which is
 * how an operator finds a group.instance.id given to two consumers. */
void kfk_group_log_fenced(kfk_req_t *req, const char *api, kfk_str_t group, kfk_str_t member_id,
                          kfk_str_t instance_id);
/* Loads the stored groups this node coordinates and does not hold, once
 * per change of the broker list (kfk_group_precheck calls it). */
void kfk_groups_load(kfk_srv_t *s);
/* Offset expiry (kfk_expire.c), from the group tick at MONO_MS: marks
 * the live groups as seen and sweeps once per check interval. */
void kfk_expire_tick(kfk_srv_t *s, uint64_t mono_ms);

/* ---- connections (kfk_conn.c) ---- */

/* Takes a new accepted socket FD. */
void kfk_conn_accept(kfk_srv_t *s, int fd);
/* Requests finished: sends whatever is ready at the head of C's queue. */
void kfk_conn_kick(kfk_conn_t *c);
/* REQ, of C, is answered (its pieces final): counted as C's, then kicked. */
void kfk_conn_answered(kfk_conn_t *c, const kfk_req_t *req);
/* Closes C at once with one log line (REASON; API_KEY -1 when none). */
void kfk_conn_close(kfk_conn_t *c, int16_t api_key, const char *reason);
/* The same for a request C sent that is refused without an answer:
 * nothing more is read, and C closes once the requests before it are
 * answered and their answers written (Kafka reads one request of a
 * connection at a time, so those were answered before it saw this one). */
void kfk_conn_close_after(kfk_conn_t *c, int16_t api_key, const char *reason);
/* Records that C sent a request of API_KEY: anything but metadata and
 * admin requests makes it a data client (producer, consumer). */
void kfk_conn_note_api(kfk_conn_t *c, int16_t api_key);
/* Records the controller id C was just told. */
void kfk_conn_note_controller(kfk_conn_t *c, int32_t id);
/* The Raft leader ID this node named as the controller became unreachable
 * or handed over: closes every idle connection of an admin client (no data
 * requests ever) that was told ID. Such a client (librdkafka's admin client
 * among them) waits for its controller to come back and asks for metadata
 * again only when it (re)connects; closed, it reconnects and learns a live
 * one.
 * Returns how many were closed. */
size_t kfk_conns_controller_gone(kfk_srv_t *s, int32_t id);
const char *kfk_conn_peer(const kfk_conn_t *c);
kfk_srv_t *kfk_conn_srv(const kfk_conn_t *c);
/* Queues REQ for its response slot (before its handler runs). */
void kfk_conn_enqueue(kfk_conn_t *c, kfk_req_t *req);
/* The request memory C admitted for the frame just read (0 if none): the
 * caller releases it with the frame (kfk_req_t.rx_held). */
size_t kfk_conn_rx_take(kfk_conn_t *c);
/* Gives BYTES of request memory back; connections waiting for it go on. */
void kfk_conns_rx_release(kfk_srv_t *s, size_t bytes);
/* Closes every connection (shutdown). */
void kfk_conns_close_all(kfk_srv_t *s);
/* Shutdown: closes connections with nothing in flight, stops reading on
 * the others. Returns how many still have requests or output. */
size_t kfk_conns_drain(kfk_srv_t *s);
/* Periodic: closes connections idle longer than the idle timeout. */
void kfk_conns_sweep(kfk_srv_t *s, uint64_t now_ms);

/* ---- IPC neighbours (kfk_peers.c) ---- */

typedef enum {
	KFK_PEER_WAL = 0,
	KFK_PEER_RAFTD,
	KFK_PEER_REPL,
	KFK_PEER_COUNT,
} kfk_peer_id_t;

/* Called once with the reply (ERR 0, REPLY the unpacked WalReply /
 * RaftdReply / ReplReply, valid during the call) or a transport failure
 * (ERR CK_E_CLOSED: the connection dropped with the call in flight, REPLY
 * NULL). Never called after kfk_peer_cancel(). */
typedef void (*kfk_call_fn)(void *arg, int err, const void *reply);

/* Sends REQ (a WalRequest / RaftdRequest / ReplRequest whose
 * correlation_id this sets) to neighbour P. Returns 0 and *RET_ID (may be
 * NULL), or -ENOTCONN / an ck_ipc error (FN is then not called). */
int kfk_peer_call(kfk_srv_t *s, kfk_peer_id_t p, ProtobufCMessage *req, uint64_t *corr_field,
                  kfk_call_fn fn, void *arg, uint64_t *ret_id);
/* Forgets call ID (its reply will be dropped). */
void kfk_peer_cancel(kfk_srv_t *s, kfk_peer_id_t p, uint64_t id);
bool kfk_peer_up(const kfk_srv_t *s, kfk_peer_id_t p);
/* Registers the three neighbours with the process's daemon. */
struct ck_daemon;
int kfk_peers_start(kfk_srv_t *s, struct ck_daemon *d);
void kfk_peers_stop(kfk_srv_t *s);

/* ---- local partitions: high watermarks, segments, waiters (kfk_parts.c) ---- */

typedef struct kfk_waiter {
	struct kfk_waiter *prev, *next;
	kfk_part_t *part; /* NULL when not registered */
	void (*fn)(struct kfk_waiter *w);
} kfk_waiter_t;

#define KFK_PART_SEGS_OPEN 4

typedef struct {
	int64_t base;
	ck_segment_t seg;
	uint64_t used; /* LRU stamp */
} kfk_open_seg_t;

struct kfk_part {
	kfk_part_t *hnext;
	char *topic;
	int32_t partition;
	/* From the replicator (known false until its first PartitionState). */
	bool known;
	uint32_t deletions; /* PartitionStates that said deleted */
	bool leader;
	int64_t hw;
	int64_t log_start;
	int64_t low_watermark; /* led here: least log start over the ISR; -1 */
	int64_t leo;
	int32_t leader_epoch;
	int32_t isr_size; /* 0: the replicator has no replica set yet */
	/* Segment bases (ascending) and a few open segments. */
	int64_t *bases;
	int nbases;
	bool bases_valid;
	kfk_open_seg_t open[KFK_PART_SEGS_OPEN];
	int nopen;
	/* Produces of it on the worker thread, or in line there
	 * (kfk_h_produce.c): the next ones queue behind them. */
	uint32_t work_queued;
	/* Bytes of its appends sent to walwriter and not yet answered, and
	 * the produces waiting for them to fall (kfk_h_produce.c). */
	uint64_t wal_bytes;
	uint32_t appending; /* its appends awaiting walwriter's answer */
	struct kfk_pp *gate_head, *gate_tail;
	/* Waiters woken on every state change. */
	kfk_waiter_t waiters; /* sentinel */
	/* The topic id this state belongs to (a topic deleted and created
	 * again under the same name must not inherit it). */
	uint8_t topic_id[16];
	bool id_set;
	bool asking; /* a GetPartition is in flight (call ask_id) */
	uint64_t ask_id;
	kfk_srv_t *srv;
	/* Deleted (the last PartitionState said so, and no request used it
	 * since): a sweep that finds nothing referring to it frees it. */
	bool gone;
};

/* The partition TOPIC/PARTITION, created (unknown state) when CREATE. NULL
 * when absent (or on allocation failure). */
kfk_part_t *kfk_part_get(kfk_srv_t *s, const char *topic, int32_t partition, bool create);
/* The partition PARTITION of topic T as a request uses it: created when
 * missing, reset when T is a newer topic of the same name, and when its
 * state is unknown the replicator is asked for it (the answer wakes the
 * waiters). NULL on allocation failure. */
kfk_part_t *kfk_part_use(kfk_srv_t *s, const kfk_topic_t *t, int32_t partition);
/* Registers W (W->fn set) on P; a registered waiter is first removed. */
void kfk_waiter_add(kfk_part_t *p, kfk_waiter_t *w);
void kfk_waiter_del(kfk_waiter_t *w);
/* For handlers that answer at once (ListOffsets, OffsetForLeaderEpoch):
 * P, led here by the metadata, has no description from the replicator yet
 * (the first request touching it on this node; kfk_part_use asked for
 * one). Then REQ waits for it, at most KFK_AWAIT_KNOWN_MS counted from its
 * first wait, and HANDLER(REQ) runs again from the start; true is returned
 * and the handler must not answer in this run (kfk_req_awaiting). False
 * when P is described, the time is over, or nobody is left to answer: the
 * handler answers (NOT_LEADER_OR_FOLLOWER for a partition still unknown, a
 * retriable error). Fetch waits its own way. */
#define KFK_AWAIT_KNOWN_MS 3000
bool kfk_req_await_part(kfk_req_t *req, kfk_part_t *p, void (*handler)(kfk_req_t *req));
/* Whether this run of REQ's handler registered a wait. */
bool kfk_req_awaiting(const kfk_req_t *req);
/* Drops the wait of REQ (kfk_req_free). */
void kfk_req_await_free(kfk_req_t *req);
/* Applies a replicator PartitionState push and wakes P's waiters. */
void kfk_parts_on_state(kfk_srv_t *s, const Chronik__Repl__PartitionState *st);
/* Frees every partition (shutdown). States are kept while the replicator
 * restarts: they describe durable data, and its next subscription pushes
 * them all again. */
void kfk_parts_free_all(kfk_srv_t *s);
/* Every KFK_PARTS_SWEEP_MS at most (call it often): closes the open
 * segments whose files were removed since (retention, DeleteRecords),
 * also of partitions nobody reads, so that their disk space is freed; and
 * frees the state of deleted partitions nothing refers to any more (no
 * waiter, append, produce in line or question to the replicator), so
 * that topic churn does not grow the process. */
void kfk_parts_sweep(kfk_srv_t *s, uint64_t now_ms);
/* Wakes every partition's waiters (they look again at what they wait for). */
void kfk_parts_wake_all(kfk_srv_t *s);

/* The open segment of P holding OFFSET (the last base <= OFFSET);
 * kfk_part_segment_next(): the one after the segment with base AFTER_BASE.
 * Lists the directory when needed (and once more on a miss). Returns 1 and
 * *RET (valid until the next call on P), 0 when there is none (OFFSET below
 * the first base, or no next), or -errno. */
int kfk_part_segment(kfk_srv_t *s, kfk_part_t *p, int64_t offset, ck_segment_t **ret);
int kfk_part_segment_next(kfk_srv_t *s, kfk_part_t *p, int64_t after_base, ck_segment_t **ret);
/* Forgets the segment list and open segments (re-listed on next use). */
void kfk_part_segments_reset(kfk_part_t *p);
/* All segment bases of P (fresh listing); *RET_N their count. Borrowed. */
int kfk_part_bases(kfk_srv_t *s, kfk_part_t *p, const int64_t **ret, int *ret_n);

/* ---- metadata from LMDB (kfk_meta.c) ---- */

typedef struct {
	int32_t partition;
	int32_t leader;
	int32_t leader_epoch;
	int32_t partition_epoch; /* for compare-and-set updates (kfk_h_elect.c) */
	int32_t nreplicas;
	int32_t nisr;
	int32_t *replicas;
	int32_t *isr;
} kfk_pmeta_t;

struct kfk_topic {
	struct kfk_topic *hnext;
	uint64_t hash; /* of the name (kfk_meta.c's cache) */
	size_t name_len;
	uint8_t id[16];
	int32_t npart;
	kfk_pmeta_t *parts; /* npart entries, by partition index (leader -1 if missing) */
	/* The keys set on the topic; a topic without any shares one empty
	 * set (most topics: 231 bytes each saved). */
	const kfk_tcfg_set_t *cfg_set;
	kfk_tcfg_t cfg;
	/* Cache validity (kfk_meta.c): the refresh generation it was last
	 * checked in, and the packed record it was built from. */
	uint64_t gen;
	uint8_t *raw;
	size_t raw_len;
	char name[]; /* name_len + 1 bytes, sized to the name */
};

typedef struct {
	int32_t id;
	char host[CK_CONFIG_ADDR_MAX];
	int32_t port;
	char rack[64];
	bool fenced;
} kfk_broker_t;

/* Re-reads the applied index; when it moved, drops the cached topics whose
 * partitions changed (all of them when that is not known) and marks the
 * others to be checked against their stored record on their next lookup.
 * Handlers call it once on arrival (and after their own proposals). */
void kfk_meta_refresh(kfk_srv_t *s);
/* The topic NAME: returns 1 and *RET (cached until the next refresh that
 * sees a change: do not keep it across event callbacks), 0 when absent, or
 * a negative error. */
int kfk_meta_topic(kfk_srv_t *s, kfk_str_t name, kfk_topic_t **ret);
/* The topic with ID: as kfk_meta_topic(). */
int kfk_meta_topic_by_id(kfk_srv_t *s, const uint8_t id[16], kfk_topic_t **ret);
/* Whether a stored topic's name collides with NAME's (ck_meta.h's
 * ck_meta_topic_collision): 1 and that name in RET, 0, or an error. */
int kfk_meta_collision(kfk_srv_t *s, const char *name, char *ret, size_t ret_size);
/* Every topic name, sorted (malloc'd array of malloc'd strings; free with
 * kfk_meta_names_free). Returns the count or a negative error. */
int kfk_meta_topic_names(kfk_srv_t *s, char ***ret);
void kfk_meta_names_free(char **names, int n);
/* Brokers: the registered ones, plus this node from the configuration when
 * it is not registered yet. Cached like topics. */
int kfk_meta_brokers(kfk_srv_t *s, const kfk_broker_t **ret, int *ret_n);
/* Unfenced broker ids, ascending, into IDS (room for N); returns how many. */
int kfk_meta_live_broker_ids(kfk_srv_t *s, int32_t *ids, int n);
/* The other registered brokers' ids (fenced: down), likewise. */
int kfk_meta_fenced_broker_ids(kfk_srv_t *s, int32_t *ids, int n);
/* The controller (raft leader) id as last reported by raftd, else this
 * node's id. */
int32_t kfk_meta_controller(kfk_srv_t *s);
/* A read transaction on the metadata (opened on first use): 0 or an error.
 * The broker list is read before it, so code inside may use
 * kfk_meta_brokers() and the group coordinator pick (a nested read would
 * fail: one read transaction per thread). */
int kfk_meta_read(kfk_srv_t *s, MDB_txn **ret);
void kfk_meta_close(kfk_srv_t *s);

/* ---- proposals (kfk_propose.c) ---- */

/* Proposes CMD to raftd with a deadline of TIMEOUT_MS; FN(ARG, KAFKA_ERR,
 * MESSAGE) runs once: KFK_ERR_NONE after the command was committed and
 * applied locally (the cache is refreshed before FN runs), else a Kafka
 * error from kfk_err_from_raftd() / REQUEST_TIMED_OUT, with raftd's message
 * or NULL; never NOT_CONTROLLER: a command no leader took (or raftd not
 * reachable) is tried again until the deadline. CMD is packed at once: the
 * caller keeps ownership. Returns 0, or a negative error when it could not
 * be sent (FN is then not called). */
typedef void (*kfk_propose_fn)(void *arg, int16_t err, const char *message);
int kfk_propose(kfk_srv_t *s, const Chronik__Meta__MetadataCommand *cmd, int64_t timeout_ms,
                kfk_propose_fn fn, void *arg);

/* Read-your-writes across nodes for a write that names a topic this node
 * does not know (yet: a creation acknowledged by another node may not be
 * applied here): runs HANDLER(REQ) again once a no-op proposed through the
 * controller after REQ came is applied here, i.e. once this node holds
 * every change committed before. One no-op in flight serves every request
 * that came before it was proposed; those that come during it wait for the
 * next (at most one no-op per round trip, whatever clients send). Once per
 * request: false when REQ had its sync already or none could be proposed
 * (the caller goes on with what it knows); true when HANDLER will run (the
 * caller returns). The no-op has the node's request timeout. */
bool kfk_req_sync_first(kfk_req_t *req, void (*handler)(kfk_req_t *req));
/* False only when topic NAME (by ID when NAME is null) is certainly not
 * known here (kfk_meta_topic() found nothing). */
bool kfk_meta_knows(kfk_srv_t *s, kfk_str_t name, const uint8_t *id);

/* Auto-creation (Metadata, Produce): proposes a topic NAME with the default
 * partition count and configs; FN as above. Concurrent requests for the
 * same name share one proposal. */
int kfk_auto_create(kfk_srv_t *s, const char *name, kfk_propose_fn fn, void *arg);
/* Fails every auto-creation waiter (shutdown). */
void kfk_autos_free(kfk_srv_t *s);
/* Fails every proposal waiting for another try (shutdown). */
void kfk_props_free(kfk_srv_t *s);
/* A random topic id (UUID version 4 layout). */
void kfk_topic_id_new(kfk_srv_t *s, uint8_t id[16]);

/* ---- the server ---- */

typedef struct kfk_peer {
	kfk_srv_t *srv;
	kfk_peer_id_t id;
	const char *name;
	ck_ipc_client_t *cl;
	kfk_idmap_t calls;
} kfk_peer_t;

struct kfk_srv {
	struct event_base *base;
	const ck_config_t *cfg;
	kfk_settings_t set;
	kfk_tcfg_defaults_t tdefs;
	char adv_host[CK_CONFIG_ADDR_MAX];
	int32_t adv_port;
	uint8_t *scratch; /* read buffer shared by all connections */
	ck_worker_t *worker; /* CPU-heavy work off the loop; started on first use */
	size_t scratch_len;
	/* Connections, least recently active first. */
	kfk_conn_t *conns;
	kfk_conn_t *conns_tail;
	size_t nconns;
	/* At most this many (from RLIMIT_NOFILE): beyond, a new connection
	 * takes the place of the longest silent one (kfk_conn_accept). */
	size_t conns_max;
	/* Request memory (queued_max_request_bytes): the sizes of the frames
	 * over KFK_RX_CHUNK admitted, from their size field until their
	 * request is freed; connections whose frame waits for room, oldest
	 * first (kfk_conn.c). */
	uint64_t rx_held;
	kfk_conn_t *rx_wait_head, *rx_wait_tail;
	/* Response memory (queued_max_response_bytes): the bytes of the
	 * answers built in memory and not yet written, all connections. Past
	 * it, a connection holding some stops reading until they are written
	 * (kfk_conn.c). */
	uint64_t resp_mem;
	struct event *sweep_ev;
	/* Neighbours. */
	kfk_peer_t peers[KFK_PEER_COUNT];
	struct event *status_ev;
	int32_t raft_leader;
	bool raft_contact; /* raftd hears from raft_leader (RaftStatus.leader_contact) */
	uint64_t raft_applied;
	/* Since when (monotonic ms, 0: not) a status call to raftd is
	 * unanswered (or raftd is not connected), and since when raftd says it
	 * has no contact with the Raft leader; SELF_FENCED: one of them
	 * lasted long enough that this broker may be fenced (its partitions
	 * led elsewhere, its groups coordinated elsewhere), and until raftd is
	 * back in contact it coordinates no group (kfk_h_groups.c), serves no
	 * partition as its leader (kfk_leads) and names no partition it led as
	 * led by itself (a leader cut off from the others would otherwise keep
	 * clients waiting on it until their request timeout, kfk_h_metadata.c). */
	uint64_t status_wait_ms;
	uint64_t contact_lost_ms;
	bool self_fenced;
	/* Local partitions. */
	kfk_part_t **parts;
	size_t parts_cap;
	size_t nparts;
	uint64_t parts_sweep_ms; /* the last kfk_parts_sweep */
	/* Metadata. */
	ck_meta_t *meta;
	uint64_t meta_index;
	uint64_t meta_parts; /* parts_index the cached partitions are current to */
	uint64_t meta_gen;   /* moves with meta_index: cached topics to re-check */
	uint64_t data_id;    /* the data dir's (ck_dataid.h), 0: unknown */
	bool data_ok;        /* this broker's record holds it (kfk_meta_data_check) */
	kfk_topic_t **topics;
	size_t topics_cap;
	size_t ntopics; /* cached; the table doubles when full */
	kfk_broker_t *brokers;
	int nbrokers;
	bool brokers_valid;          /* checked since the last index move */
	uint64_t brokers_gen;        /* moves when the broker list read changes */
	uint8_t *brokers_image;      /* ck_meta_brokers_image they were read from */
	size_t brokers_image_len;
	/* Auto-creations in flight, proposals waiting to be tried again
	 * (kfk_propose.c): by name. */
	ck_hash_t autos;
	void *props;
	/* Syncs (kfk_req_sync_first): the requests waiting for the one in
	 * flight (sync_busy) and for the next, which starts when it ends. */
	void *sync_cur;
	void *sync_next;
	bool sync_busy;
	/* Whether this node's metadata has caught up with the cluster's
	 * since kafka-frontend started: one sync has completed (or failed:
	 * no quorum), or the node is alone. Until then a request waits for
	 * that sync before it is handled (kfk_dispatch.c). */
	bool meta_caught_up;
	ck_rand_t rand;
	/* Consumer groups this node coordinates (kfk_h_groups.c). */
	kfk_gcore_t groups;
	struct event *groups_ev;
	uint64_t groups_tick_ms; /* the last groups' tick or stall check */
	/* The brokers_gen the stored groups this node coordinates were last
	 * loaded at (0: load at the next group request). */
	uint64_t groups_loaded_gen;
	void *gstores; /* StoreGroup proposals in flight (kfk_h_groups.c) */
	/* Offset expiry (kfk_expire.c): when groups were last seen, the next
	 * sweep (monotonic ms) and its proposals in flight. */
	kfk_offexp_t offexp;
	uint64_t expire_next_ms;
	int expire_inflight;
	/* Producer ids (kfk_h_producer_id.c): the block InitProducerId hands
	 * ids out from (empty at start), and the requests waiting for the
	 * allocation in flight (pid_busy), oldest first. */
	kfk_pid_block_t pids;
	struct kfk_pid_wait *pid_wait_head;
	struct kfk_pid_wait *pid_wait_tail;
	bool pid_busy;
	struct event *pid_retry_ev; /* the next try after a failed allocation */
	uint64_t pid_fail_since_ms; /* monotonic: first failure of a run (0: none) */
	/* Stopping: requests in flight are answered, nothing new is read. */
	bool stopping;
	uint64_t stop_deadline_ms;
	struct event *stop_ev;
};

/* Whether this broker answers for PM as its leader: its metadata names it,
 * and it is not self-fenced (the controller may have moved PM meanwhile).
 * Every handler that serves a partition as its leader asks this. */
static inline bool kfk_leads(const kfk_srv_t *s, const kfk_pmeta_t *pm)
{
	return pm->leader == s->cfg->node_id && !s->self_fenced;
}

/* The same for the replicator's view P of a partition (described, and
 * led here by the replicator's last word). */
static inline bool kfk_part_leads(const kfk_srv_t *s, const kfk_part_t *p)
{
	return p->known && p->leader && !s->self_fenced;
}

/* Creates the server on the daemon's loop: registers the neighbours and
 * listens on the "kafka" socket (passed by the supervisor, or bound from
 * [listeners] kafka). Returns 0 and *RET or a negative error (nothing is
 * left behind but what the daemon frees itself). */
int kfk_srv_new(struct ck_daemon *d, const ck_config_t *cfg, kfk_srv_t **ret);
/* Starts a graceful stop (idempotent): no new requests are read, those in
 * flight are answered (for at most [kafka] drain_timeout_ms), then the
 * event loop is left. */
void kfk_srv_stop(kfk_srv_t *s);
/* Stops accepting, closes connections and neighbours, frees everything. */
void kfk_srv_free(kfk_srv_t *s);
/* How many Kafka connections are open. */
size_t kfk_srv_connections(const kfk_srv_t *s);
/* A random 32-bit number (not for security). */
uint32_t kfk_srv_rand(kfk_srv_t *s);

#endif
