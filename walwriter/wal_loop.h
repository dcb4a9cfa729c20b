/*
 * wal_loop.h: chronik-walwriter's event loop (shell): the server object
 * shared by wal_loop.c (IPC, requests, group commit, events) and
 * wal_boot.c (start-up: directories, lock, LMDB, recovery, socket).
 *
 * Single-threaded: everything here runs on the libevent loop, except what
 * wal_sync.c does on the sync thread. The loop owns the logical state of
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
#include "ck_ipc.h"
#include "ck_segment.h"
#include "walwriter.pb-c.h"
#include "wal_core.h"
#include "wal_sync.h"

typedef enum {
	WAL_LOG_READY = 0,
	WAL_LOG_CREATING,
	WAL_LOG_TRUNCATING,
	WAL_LOG_DELETING,
} wal_log_state_t;

typedef struct wal_log {
	struct wal_log *hnext;
	char name[CK_TOPIC_NAME_MAX + 16];   /* "<topic>-<partition>" */
	char topic[CK_TOPIC_NAME_MAX + 1];
	int32_t partition;
	wal_log_state_t state;
	wal_store_t *store;                  /* the sync thread's; only passed along */
	wal_log_cfg_t cfg;
	int64_t next_offset;                 /* handed out to accepted appends */
	int64_t start_offset;
	int64_t written_end;
	int64_t durable_end;
	uint64_t size_bytes;
	int32_t segments;
	uint32_t pending;                    /* appends not yet in a group */
	size_t group_slot;                   /* while cutting: 1 + index in job->logs */
} wal_log_t;

typedef struct wal_client wal_client_t;
typedef struct wal_append wal_append_t;

typedef struct wal_server {
	const ck_config_t *cfg;
	wal_log_cfg_t defaults;
	wal_group_limits_t limits;
	struct event_base *base;
	int listen_fd;
	ck_ipc_listener_t *listener;
	wal_sync_t *sync;
	MDB_env *env;
	MDB_dbi dbi;
	int lock_fd;
	char sock_path[PATH_MAX];            /* bound here (standalone): removed at exit */

	struct event *sync_ev;
	struct event *group_timer;
	struct event *ckpt_timer;
	struct event *retention_timer;
	struct event *stop_timer;
	struct event *sig_term;
	struct event *sig_int;
	struct event *sig_hup;

	wal_log_t **buckets;
	size_t nbuckets;
	size_t nlogs;

	wal_client_t *clients;
	uint64_t next_client_id;

	wal_append_t *pend_head;
	wal_append_t *pend_tail;
	uint64_t pend_bytes;
	uint32_t pend_count;

	int jobs_inflight;
	bool ckpt_inflight;
	bool retention_inflight;
	bool stopping;
	bool final_ckpt_done;
	uint64_t stop_deadline_ms;           /* monotonic: give up flushing replies */
	int exit_code;

	/* Start-up hand-over: recovered stores for the sync thread. */
	wal_store_t **boot_stores;
	size_t boot_nstores;
} wal_server_t;

/* Runs walwriter with CFG until it stops. Returns the exit code (CK_EXIT_*). */
int wal_server_run(const ck_config_t *cfg);

/* wal_loop.c, for wal_boot.c */
wal_log_t *wal_log_find(wal_server_t *w, const char *topic, int32_t partition);
int wal_log_insert(wal_server_t *w, wal_log_t *l);
wal_log_t *wal_log_new(const char *topic, int32_t partition);

/* wal_boot.c: directories, lock, LMDB, recovery of every log, the socket.
 * Returns 0 or the exit code to stop with (1 transient, 2 fatal). */
int wal_boot(wal_server_t *w);
void wal_boot_release(wal_server_t *w);

#endif
