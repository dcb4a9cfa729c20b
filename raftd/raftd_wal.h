/*
 * raftd_wal.h: chronik-raftd's connection to walwriter (run/walwriter.sock):
 * requests with completion callbacks, matched to replies by correlation id.
 *
 The ck_ipc_client underneath belongs to the process shell (ck_daemon's
 * neighbour "walwriter", which reconnects by itself): the shell passes
 * raftd_wal_client_handlers() with the raftd_wal_t as their argument and
 * hands the client over with raftd_wal_set_client(). Every request still
 * waiting when the connection drops completes with CK_E_CLOSED (walwriter
 * may or may not have carried it out: callers re-check, e.g. with
 * GetLogInfo). Replies may come out of order. LogEvent pushes
 * (correlation id 0) go to on_event.
 * Owned by raftd; for its libevent thread only.
 * Not for: what the requests mean (raftd_store.c, raftd_node.c).
 */
#ifndef RAFTD_WAL_H
#define RAFTD_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_ipc.h"
#include "walwriter.pb-c.h"

typedef struct raftd_wal raftd_wal_t;

typedef struct {
	/* After every (re)connect. */
	void (*on_connect)(void *arg);
	/* Once per lost connection, after the pending calls completed. */
	void (*on_disconnect)(void *arg, int err);
	/* A pushed LogEvent (may be NULL). */
	void (*on_event)(void *arg, const Chronik__Wal__LogEvent *ev);
} raftd_wal_handlers_t;

/*
 * Completion of one request: ERR 0 with REP (whose own error field may be
 * set; REP is valid during the call only), or ERR CK_E_CLOSED (connection
 * lost first) / CK_E_SHUTDOWN (raftd_wal_free) with REP NULL.
 */
typedef void (*raftd_wal_cb)(void *arg, int err, const Chronik__Wal__WalReply *rep);

/* Returns NULL on allocation failure. */
raftd_wal_t *raftd_wal_new(void);
/* Sets who hears of connects, losses and events (the metadata service). */
void raftd_wal_set_handlers(raftd_wal_t *w, const raftd_wal_handlers_t *h, void *arg);
/* The callbacks to give the ck_ipc_client (with W as their argument). */
const ck_ipc_client_handlers_t *raftd_wal_client_handlers(void);
/* The client to send through (borrowed; NULL to forget it). */
void raftd_wal_set_client(raftd_wal_t *w, ck_ipc_client_t *cl);
/* Completes every pending call with CK_E_SHUTDOWN (their owner is going
 * away). */
void raftd_wal_cancel(raftd_wal_t *w);
/* Completes every pending call with CK_E_SHUTDOWN and frees W (not the
 * client). NULL is fine. */
void raftd_wal_free(raftd_wal_t *w);
bool raftd_wal_connected(const raftd_wal_t *w);

/*
 * Sends REQ (its correlation_id is set here) and calls CB(ARG, ...) exactly
 * once later. Returns 0, or -ENOTCONN / an ck_ipc_conn_send() error, in
 * which case CB is never called.
 */
int raftd_wal_call(raftd_wal_t *w, Chronik__Wal__WalRequest *req, raftd_wal_cb cb, void *arg);

/* Requests waiting for a reply. */
size_t raftd_wal_pending(const raftd_wal_t *w);

#endif
