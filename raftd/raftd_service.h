/*
 * raftd_service.h: the local IPC service of chronik-raftd on
 * run/raftd.sock (common/proto/raftd.proto).
 *
 * Requests: Propose (answered once the command is committed and applied
 * locally, with its index and apply result; transport errors in
 * RaftdReply.error: CK_E_NOT_LEADER, CK_E_TIMEOUT, CK_E_INVALID (no
 * command), CK_E_TOO_LARGE, CK_E_AGAIN, CK_E_SHUTDOWN), Subscribe (the
 * current applied index at once, as the reply, then an Applied event with
 * correlation id 0 after every apply round), GetStatus and GetMetrics (the
 * Prometheus text of raftd_metrics.h, for the supervisor's /metrics). A frame that is
 * no RaftdRequest closes its connection (logged); other connections go on.
 * Connections are accepted by the process shell (ck_daemon's local
 * socket), which forwards their frames and ends here; a client object is
 * made at a connection's first frame.
 * A client that stops reading is cut off once too much is queued for it.
 * Owned by raftd; for its libevent thread only.
 * Not for: the metadata service itself (raftd_node.c).
 */
#ifndef RAFTD_SERVICE_H
#define RAFTD_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "raftd_node.h"

#include "ck_ipc.h"

typedef struct raftd_service raftd_service_t;

/* Closes connection CONN for the service (without on_close). */
typedef void (*raftd_service_close_fn)(void *arg, ck_ipc_conn_t *conn);

/* Returns NULL on allocation failure. NODE is borrowed; CLOSE_FN(CLOSE_ARG,
 * conn) closes a connection the service gives up on. */
raftd_service_t *raftd_service_new(raftd_node_t *node, raftd_service_close_fn close_fn,
                                   void *close_arg);
/* Forgets every connection (the caller closes them). Proposals still
 * waiting complete into the void. NULL is fine. */
void raftd_service_free(raftd_service_t *s);

/* One frame from CONN (the connection's on_frame). */
void raftd_service_frame(raftd_service_t *s, ck_ipc_conn_t *conn, const uint8_t *data, size_t len);
/* CONN ended (the connection's on_close). */
void raftd_service_closed(raftd_service_t *s, ck_ipc_conn_t *conn);

/* Pushes an Applied event to every subscriber. */
void raftd_service_applied(raftd_service_t *s, uint64_t applied);

/* Connections that sent at least one request and are still open. */
size_t raftd_service_clients(const raftd_service_t *s);

#endif
