/*
 * repl_shell.h: the state the replicator's shell files share.
 *
 * Owned by replicator. The shell is one libevent loop (common/ck_daemon)
 * around the pure core (repl_core.h):
 *   repl_loop.c   wiring, timers, publishing, status, the stop sequence;
 *   repl_wal.c    the walwriter client: LogEvents and LogLists into the core;
 *   repl_meta.c   LMDB `meta`: partition metadata into the core, HW
 *                 checkpoints out; the raftd client (Applied events);
 *   repl_serve.c  replicator.proto for local clients (Subscribe, GetPartition).
 * Invariant: every change the core reports goes to every subscriber, in
 * order, before any snapshot a new subscriber gets (repl_shell_flush runs
 * first).
 * Not for: replication policy (the core).
 */
#ifndef REPL_SHELL_H
#define REPL_SHELL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "ck_config.h"
#include "ck_daemon.h"
#include "ck_hash.h"
#include "ck_ipc.h"
#include "ck_meta.h"
#include "ck_prom.h"
#include "repl_core.h"

struct event;

/* The metadata log is raftd's, not a data partition. */
#define REPL_META_TOPIC "__chronik_metadata"

/* A subscriber whose unsent output passes this is dropped (it reconnects
 * and gets a fresh snapshot). */
#define REPL_SUB_OUTQ_MAX ((size_t)32 << 20)

typedef struct {
	ck_ipc_conn_t *conn;
	bool subscribed; /* gets every change */
	bool pending;    /* subscribed before the first walwriter sync */
	uint64_t sub_id; /* correlation id of its Subscribe */
} repl_sub_t;

typedef struct repl_shell {
	const ck_config_t *cfg;
	ck_daemon_t *d;
	struct event_base *base;
	repl_core_t *core;
	ck_meta_t *meta;

	/* walwriter */
	ck_ipc_client_t *walwriter;
	uint64_t wal_sub_id;
	uint64_t wal_list_id;
	bool wal_synced; /* a full LogList was applied once */

	/* raftd / metadata */
	ck_ipc_client_t *raftd;
	uint64_t raftd_sub_id;
	uint64_t meta_applied; /* applied index of the last read */
	uint64_t meta_parts;   /* its "parts_index" (ck_meta.h) */
	bool meta_read;        /* a full read succeeded once */
	bool meta_incr;        /* the last read found "changes" usable */
	/* The data dir's id (ck_dataid.h; 0: unknown) and whether this broker's
	 * record holds it: until then its logs may be newer than the metadata
	 * knows (a wiped data dir), and it leads nothing (raftd's registration
	 * moves its leaderships and ISR places first). */
	uint64_t data_id;
	bool data_ok;
	int meta_invalid_warned;
	/* Topics the next read must cover besides "changes" (names, strdup'd):
	 * logs that appeared without metadata. meta_topics_lost: one could
	 * not be remembered, the next read is a full one. */
	ck_hash_t meta_topics;
	bool meta_topics_lost;

	/* Checkpoint keys to delete at the next checkpoint ("hw/..."). */
	char **ckpt_dels;
	size_t n_ckpt_dels;
	size_t cap_ckpt_dels;

	/* Replication between nodes (repl_repl.c). */
	struct repl_repl *repl;
	size_t under_replicated; /* partitions led here with a replica out of the ISR */

	/* Local clients (run/replicator.sock). */
	repl_sub_t subs[CK_DAEMON_CONNS_MAX];

	struct event *flush_ev;
	struct event *timer_ev;
	struct event *meta_ev;      /* a metadata read held back (repl_meta.c) */
	uint64_t meta_read_ms;      /* when the last read ran (monotonic) */
	uint64_t meta_read_cost_ms; /* how long the last read took */
	bool stopping;
	char status_what[160];
	char status_role[32];
} repl_shell_t;

/* ---- repl_loop.c ---- */
/* Schedules a flush from the loop (coalescing what arrives meanwhile). */
void repl_shell_schedule(repl_shell_t *s);
/* Publishes every pending change of the core now (and queues checkpoint
 * deletions for deleted partitions). */
void repl_shell_flush(repl_shell_t *s);
/* Sends STATUS= (partitions, how many led, role) when it changed. */
void repl_shell_status(repl_shell_t *s);

/* ---- repl_wal.c ---- */
extern const ck_ipc_client_handlers_t repl_wal_handlers;

/* ---- repl_meta.c ---- */
/* Opens <data_dir>/meta. Returns 0 or an error (logged). */
int repl_meta_open(repl_shell_t *s);
void repl_meta_close(repl_shell_t *s);
/* Brings the core's metadata up to LMDB when the applied index moved (or
 * FORCE, or topics are pending): re-reads only the topics "changes" lists
 * since the last read (and the pending ones) when it can, every partition
 * record otherwise (FORCE, the first read, "changes" trimmed past the last
 * read or unknown). Returns 0 or an error (logged; the core keeps what it
 * had, the next read covers the same topics again). */
int repl_meta_refresh(repl_shell_t *s, bool force);
/* The log of TOPIC appeared without metadata: the next read covers TOPIC
 * (and runs at the next timer tick at the latest), as a full read would
 * have. */
void repl_meta_topic_want(repl_shell_t *s, const char *topic);
/* Timer callback of meta_ev: the held-back metadata read. */
void repl_meta_later_cb(evutil_socket_t fd, short what, void *arg);
/* Metadata reads on Applied events are at least this far apart, and at
 * least REPL_META_GAP_COST times the last read's duration (with many
 * partitions a read is long: the replicator spends a bounded share of a
 * CPU on them however fast metadata changes). Except a read of at most
 * REPL_META_NOW_MAX entries through "changes" (so at most that many
 * topics): it costs what raftd's apply of those entries did, and runs at
 * once. */
#define REPL_META_GAP_MS   20
#define REPL_META_GAP_COST 5
#define REPL_META_NOW_MAX  64
/* The checkpoint of TOPIC-PARTITION: 1 with *RET, 0 when there is none
 * (or it does not decode: logged). */
int repl_ckpt_load(repl_shell_t *s, const char *topic, int32_t partition, repl_ckpt_t *ret);
/* Remembers that the checkpoint of a deleted partition must go. */
void repl_ckpt_forget(repl_shell_t *s, const char *topic, int32_t partition);
/* Writes every changed HW and the pending deletions in one transaction.
 * Returns 0 or an error (logged; retried next time). */
int repl_ckpt_write(repl_shell_t *s);
extern const ck_ipc_client_handlers_t repl_raftd_handlers;

/* ---- repl_serve.c ---- */
extern const ck_ipc_handlers_t repl_serve_handlers;
/* Sends STATE (a change, correlation id 0) to every subscriber. */
void repl_serve_publish(repl_shell_t *s, const repl_state_t *st);
/* The first walwriter sync is done: answers the waiting subscribers. */
void repl_serve_synced(repl_shell_t *s);
/* Drops every subscriber entry (at stop; the daemon closes them). */
void repl_serve_reset(repl_shell_t *s);

/* ---- repl_repl.c ---- */
/* Starts replication: the peers' connections, the replication listener, the
 * tick. Returns 0 or an error. */
int repl_repl_start(repl_shell_t *s);
void repl_repl_stop(repl_shell_t *s);
/* TOPIC-PARTITION changed (its log, its state): looked at by the next
 * repl_repl_flush(). */
void repl_repl_touch(repl_shell_t *s, const char *topic, int32_t partition);
/* The partition was deleted. */
void repl_repl_forget(repl_shell_t *s, const char *topic, int32_t partition);
/* Does what the touched partitions need (notices, fetches). */
void repl_repl_flush(repl_shell_t *s);
/* A walwriter reply: true when it answered one of replication's requests
 * (then it is handled here). */
struct Chronik__Wal__WalReply;
bool repl_repl_wal_reply(repl_shell_t *s, const struct Chronik__Wal__WalReply *rep);
/* The walwriter connection was lost with requests in flight. */
void repl_repl_wal_lost(repl_shell_t *s);
/* The replicator's metrics in Prometheus text (GET /metrics). */
void repl_repl_metrics(repl_shell_t *s, ck_prom_t *t);

#endif
