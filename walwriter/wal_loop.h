/*
 * wal_loop.h: chronik-walwriter's event loop (shell): the server object
 * shared by wal_loop.c (clients, group commit, completions, events, timers,
 * shutdown), wal_req.c (the requests) and wal_boot.c (start-up:
 * directories, lock, LMDB, recovery, socket).
 *
 * Single-threaded: everything here runs on the libevent loop, except what
 * wal_sync.c does on the sync thread. wal_admin.c groups creations and
 * deletions. The loop owns the logical state of
 * each log (offsets handed out, written and durable ends) and every client;
 * the sync thread owns the files. main.c only calls wal_server_run().
 */
#ifndef WAL_LOOP_H
#define WAL_LOOP_H

#include <stdbool.h>
#include <limits.h>
#include <stdint.h>

#include <lmdb.h>

#include "ck_config.h"
#include "ck_daemon.h"
#include "ck_hash.h"
#include "ck_ipc.h"
#include "ck_segment.h"
#include "walwriter.pb-c.h"
#include "wal_core.h"
#include "wal_pid.h"
#include "wal_sync.h"

typedef enum {
	WAL_LOG_READY = 0,
	WAL_LOG_CREATING,
	WAL_LOG_TRUNCATING,
	WAL_LOG_DELETING,
} wal_log_state_t;

typedef struct wal_log {
	const char *topic; /* in the same allocation, after name */
	int32_t partition;
	wal_log_state_t state;
	wal_store_t *store; /* the sync thread's; only passed along */
	wal_log_cfg_t cfg;
	wal_topic_id_t topic_id; /* its incarnation: CreateLog's, or recovered */
	bool cfg_lost;           /* wal_store_cfg_lost() at start, until a ConfigureLog */
	int64_t next_offset;     /* handed out to accepted appends */
	int64_t start_offset;
	int64_t written_end;
	int64_t durable_end;
	uint64_t size_bytes;
	int32_t segments;
	uint32_t pending;  /* appends not yet in a group */
	size_t group_slot; /* while cutting: 1 + index in job->logs */
	int32_t fence_epoch; /* leader appends below it are refused (Append) */
	bool holds_files;    /* its active segment's three files are open */
	wal_pids_t pids;     /* idempotent producers (wal_pid.h) */
	/* "<topic>-<partition>", then the topic: sized to them (tens of
	 * thousands of logs). */
	char name[];
} wal_log_t;

typedef struct wal_client wal_client_t;
/* Idempotent producers walwriter keeps over all its logs, at most
 * (about 150 bytes each). */
#define WAL_PIDS_TOTAL_MAX 200000

/* Appends accepted but not yet handed to the sync thread, at most: beyond
 * this a client outruns the disk and gets CK_E_AGAIN (retriable). Appends
 * waiting for their log (wal_park.c) have a bound of the same size. */
#define WAL_PENDING_BYTES_MAX ((uint64_t)512 << 20)

typedef struct wal_append wal_append_t;
typedef struct wal_parked wal_parked_t;
typedef struct wal_server wal_server_t;

/* A connection and its subscriptions; freed when the connection is gone
 * and no request of its is in flight. */
struct wal_client {
	wal_client_t *next, *prev;
	wal_server_t *srv;
	ck_ipc_conn_t *conn; /* NULL once closed */
	uint64_t id;
	int refs; /* the connection + requests in flight */
	bool sub_all;
	char **subs;
	size_t nsubs;
};

/* An accepted append, from validation to its reply. */
struct wal_append {
	wal_append_t *next;
	wal_client_t *client;
	uint64_t correlation_id;
	wal_log_t *log;
	Chronik__Wal__WalRequest *req; /* owns the batch bytes */
	wal_append_plan_t plan;
	int64_t append_time_ms;
	uint64_t arrived_ns;
	bool dup; /* a producer's batch sent again: writes nothing, answers
	           * the offsets it has once they are durable */
};

/* What an admin request answers to (a job's, or one log of a group). */
typedef struct wal_ctx {
	struct wal_ctx *next; /* queued for a group (wal_admin.c) */
	wal_client_t *client;
	uint64_t correlation_id;
	wal_log_t *log;
	wal_log_cfg_t req; /* CreateLog: the settings as asked */
} wal_ctx_t;

/* Requests waiting for their group, FIFO. */
typedef struct {
	wal_ctx_t *head;
	wal_ctx_t *tail;
	size_t n;
} wal_ctx_queue_t;

/* raftd's metadata log (ARCHITECTURE.md section 4): every metadata write
 * appends to it. */
#define WAL_META_TOPIC "__chronik_metadata"

struct wal_server {
	const ck_config_t *cfg;
	wal_log_cfg_t defaults;
	wal_group_limits_t limits;
	ck_daemon_t *daemon;     /* event base, signals, supervisor watch */
	struct event_base *base; /* the daemon's */
	int listen_fd;
	ck_ipc_listener_t *listener;
	wal_sync_t *sync;
	MDB_env *env;
	MDB_dbi dbi;
	int lock_fd;
	char sock_path[PATH_MAX]; /* bound here (standalone): removed at exit */

	struct event *sync_ev;
	struct event *group_timer;
	struct event *ckpt_timer;
	struct event *retention_timer;
	struct event *stop_timer;

	ck_hash_t logs; /* wal_log_t by name */
	/* Idempotent producers kept over every log (wal_pid.h). */
	wal_pid_budget_t pid_budget;

	wal_client_t *clients;
	uint64_t next_client_id;

	wal_append_t *pend_head;
	wal_append_t *pend_tail;
	uint64_t pend_bytes;
	uint32_t pend_count;
	uint32_t last_group_appends; /* size of the last group cut */

	/* The data directory's free space as last looked at (wal_req.c). */
	uint64_t space_free;
	uint64_t space_reserve; /* kept free: appends are refused below it */
	uint64_t space_look_ms; /* when (monotonic) */
	uint64_t space_since;   /* append bytes taken since */
	uint64_t space_refused; /* appends refused since the disk filled */

	/* Open files (wal_req.c): each log with data holds three; a log's
	 * first append is refused when they would not fit under the limit
	 * (an open failing inside a group would stop walwriter). */
	uint64_t files_logs;    /* logs that hold files */
	uint64_t files_ready;   /* files_logs when the fds were counted */
	uint64_t fds_ready;     /* fds open then (logs' and the rest) */
	uint64_t fds_limit;     /* RLIMIT_NOFILE's soft limit; 0: none */
	uint64_t files_refused; /* first appends refused since the last fitted */

	/* Creations and deletions waiting for their group (wal_admin.c). */
	wal_ctx_queue_t creates;
	wal_ctx_queue_t deletes;
	int admin_inflight;     /* their groups with the sync thread */
	bool admin_kicked;      /* admin_ev is active */
	struct event *admin_ev; /* cuts the next groups after this loop round */

	int jobs_inflight;
	bool ckpt_inflight;
	bool retention_inflight;
	bool retention_again; /* asked for while one ran: run once more */
	bool stopping;
	bool final_ckpt_done;
	uint64_t stop_deadline_ms; /* monotonic: give up flushing replies */
	int exit_code;

	/* Appends waiting for their log (wal_park.c), oldest first. */
	wal_parked_t *park_head, *park_tail;
	uint64_t park_bytes;
	struct event *park_timer;

	/* Start-up hand-over: recovered stores for the sync thread. */
	wal_store_t **boot_stores;
	size_t boot_nstores;
};

/* Runs walwriter with CFG until it stops. Returns the exit code (CK_EXIT_*). */
int wal_server_run(const ck_config_t *cfg);

/* wal_pid_load.c: rebuilds S from the batch headers of the log's last
 * 32 MiB below END (start-up), and raises *RET_EPOCH to the highest leader
 * epoch among them (the last batch's). Returns 0 or -errno (S then
 * partial). */
int wal_pids_load(const char *data_dir, const char *topic, int32_t partition, int64_t end,
                  wal_pids_t *s, int32_t *ret_epoch);

/* wal_req.c: counts the open fds and the limit (at ready). */
void wal_files_measure(wal_server_t *w);
/* wal_req.c: L no longer holds files (deleted). */
void wal_files_release(wal_server_t *w, wal_log_t *l);

/* wal_loop.c, for wal_boot.c */
wal_log_t *wal_log_find(wal_server_t *w, const char *topic, int32_t partition);
int wal_log_insert(wal_server_t *w, wal_log_t *l);
wal_log_t *wal_log_new(const char *topic, int32_t partition);
/* Frees a log no longer in the table. */
void wal_log_free(wal_log_t *l);

/* wal_loop.c, for wal_req.c and wal_admin.c */
/* An append's bytes to write (0 for a duplicate). */
size_t wal_append_len(const wal_append_t *a);
/* Answers A: ERR < 0 the error, else its offsets. */
void wal_append_reply(wal_append_t *a, int err);
void wal_append_free(wal_append_t *a);
void wal_log_remove(wal_server_t *w, wal_log_t *l);
/* Runs a retention pass soon (after the one running, if any). */
void wal_retention_soon(wal_server_t *w);
void wal_log_info_fill(const wal_log_t *l, Chronik__Wal__LogInfo *info);
void wal_client_unref(wal_client_t *c);
/* Closes C's connection after a protocol violation, with a log line. */
void wal_client_kill(wal_client_t *c, const char *why, size_t len);
void wal_send(wal_client_t *c, const Chronik__Wal__WalReply *rep);
void wal_reply_err(wal_client_t *c, uint64_t cid, int err, const char *msg);
void wal_reply_info(wal_client_t *c, uint64_t cid, const wal_log_t *l);
bool wal_client_subscribed(const wal_client_t *c, const char *topic);
void wal_event_send(wal_client_t *c, const wal_log_t *l, bool deleted);
/* Pushes L's state to every subscriber of its topic. */
void wal_event_publish(wal_server_t *w, const wal_log_t *l, bool deleted);
/* Cuts a group now or arms the window timer (the pure core decides). */
void wal_kick(wal_server_t *w);
/* Hands every pending append of L over (before a truncate or delete). */
void wal_group_flush_log(wal_server_t *w, wal_log_t *l);
void wal_submit(wal_server_t *w, wal_job_t *job);
/* Runs JOB on the loop when the sync thread is idle (wal_sync_try_inline)
 * and has its completions drained once the ready callbacks have run.
 * Returns false (nothing done: submit it) otherwise. */
bool wal_try_inline(wal_server_t *w, wal_job_t *job);

/* wal_admin.c: creations and deletions, grouped. */
int wal_admin_init(wal_server_t *w);
/* Answers nothing: drops what is still queued (the loop is gone). */
void wal_admin_free(wal_server_t *w);
/* Queues the creation (WAL_JOB_CREATE, L inserted in state CREATING, REQ
 * as asked) or deletion (WAL_JOB_DELETE, L already out of the table) of L
 * for C's request CID. */
void wal_admin_queue(wal_server_t *w, wal_job_kind_t kind, wal_client_t *c, uint64_t cid,
                     wal_log_t *l, const wal_log_cfg_t *req);
/* Hands what is queued to the sync thread, unless a group is there already. */
void wal_admin_cut(wal_server_t *w);
/* A CREATE or DELETE job is DONE: answers its requests, cuts the next. */
void wal_admin_done(wal_server_t *w, wal_job_t *job);
size_t wal_admin_pending(const wal_server_t *w);

/* wal_req.c: one frame from a client (the ck_ipc on_frame handler). */
void wal_req_frame(ck_ipc_conn_t *conn, const uint8_t *data, size_t len, void *arg);
/* Validates and queues the Append REQ of C (its log ready); TAKES REQ and
 * returns true, or answers and returns false. */
bool wal_req_append_run(wal_server_t *w, wal_client_t *c, Chronik__Wal__WalRequest *req);

/* wal_park.c: appends that wait for their log (unknown or being created). */
int wal_park_init(wal_server_t *w);
void wal_park_free(wal_server_t *w);
/* Whether an append to the log must wait: unknown, being created, or
 * behind a parked append to it. */
bool wal_park_wanted(const wal_server_t *w, const char *topic, int32_t partition);
/* Parks C's Append REQ (taken; answered exactly once). */
void wal_park(wal_server_t *w, wal_client_t *c, Chronik__Wal__WalRequest *req);
/* Runs, in order, the parked appends whose logs are ready now. */
void wal_park_retry(wal_server_t *w);
/* Refuses every parked append (CK_E_SHUTDOWN): walwriter is stopping. */
void wal_park_stop(wal_server_t *w);

/* wal_boot.c: directories, lock, LMDB, recovery of every log, the socket.
 * Returns 0 or the exit code to stop with (1 transient, 2 fatal). */
int wal_boot(wal_server_t *w);
void wal_boot_release(wal_server_t *w);

#endif
