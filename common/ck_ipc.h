/*
 * ck_ipc.h: framed protobuf-c messaging over stream sockets on libevent.
 *
 * A frame is a 4-byte little-endian payload length followed by the payload,
 * one packed protobuf-c message. The same framing serves Unix sockets between
 * the processes of a node and TCP between nodes. A frame longer than the
 * connection's frame_max, or a zero-length frame, is a protocol error: the
 * connection is closed with a log line and no other connection is affected.
 * Correlation ids live in the messages themselves (see common/proto/).
 *
 * Ownership: a ck_ipc_conn_t owns its fd and closes it when freed. Every
 * function here is for the thread running the connection's event_base.
 * The first ck_ipc_conn_new() sets SIGPIPE to SIG_IGN when it is still at
 * SIG_DFL (libevent writes with writev): a dead peer is an error return.
 * Exec'd children inherit that; a supervisor restores SIG_DFL before exec
 * if a child needs it.
 * Not for: message semantics, retries of requests (the caller's job).
 */
#ifndef CK_IPC_H
#define CK_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ck_buf.h"

struct event_base;

#define CK_IPC_FRAME_MAX_DEFAULT (128u << 20)
#define CK_IPC_HEADER_LEN 4

typedef struct ck_ipc_conn ck_ipc_conn_t;

typedef struct {
	/* One complete frame. DATA is valid only during the call. The handler
	 * may call ck_ipc_conn_close() or send on C. */
	void (*on_frame)(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg);
	/* The connection ended: ERR is 0 for EOF, CK_E_PROTO for a bad frame
	 * (already logged), or -errno. C is freed right after this returns. */
	void (*on_close)(ck_ipc_conn_t *c, int err, void *arg);
} ck_ipc_handlers_t;

/* Wraps a connected, non-blocking FD. FRAME_MAX 0 = the default. Returns NULL
 * on allocation failure (FD is then closed). */
ck_ipc_conn_t *ck_ipc_conn_new(struct event_base *base, int fd, size_t frame_max,
			       const ck_ipc_handlers_t *h, void *arg);
/* Queues one frame holding LEN bytes of DATA. Returns 0, CK_E_TOO_LARGE,
 * CK_E_CLOSED (the connection is closing) or -ENOMEM; CK_E_INVALID when LEN
 * is 0 (an empty frame is a protocol error, so a message must not pack to
 * zero bytes: wrap it in a oneof envelope or give it an id). */
int ck_ipc_conn_send(ck_ipc_conn_t *c, const void *data, size_t len);
/* Packs M straight into the output buffer as one frame. Same returns. */
int ck_ipc_conn_send_msg(ck_ipc_conn_t *c, const ProtobufCMessage *m);
/* Bytes queued for writing (for backpressure decisions). */
size_t ck_ipc_conn_outq_bytes(const ck_ipc_conn_t *c);
/* Closes without calling on_close. Safe inside on_frame: the memory is
 * released once the callback returns. Queued output is discarded. */
void ck_ipc_conn_close(ck_ipc_conn_t *c);
/* Closes after the queued output has been written (or failed). */
void ck_ipc_conn_close_after_flush(ck_ipc_conn_t *c);
void ck_ipc_conn_set_arg(ck_ipc_conn_t *c, void *arg);
/* Asks ADMIT (NULL: nobody) about every frame of C once its length is
 * known, before its body is awaited: false refuses the frame, a protocol
 * error that closes C (on_close with CK_E_PROTO). For owners that bound
 * what strangers may make them buffer. */
typedef bool (*ck_ipc_admit_fn)(ck_ipc_conn_t *c, size_t len, void *arg);
void ck_ipc_conn_set_admit(ck_ipc_conn_t *c, ck_ipc_admit_fn admit);
int ck_ipc_conn_fd(const ck_ipc_conn_t *c);

/* Accepting connections on a listening socket (Unix or TCP). */
typedef struct ck_ipc_listener ck_ipc_listener_t;
/* FD is a new non-blocking, close-on-exec connected socket, owned by the
 * callee. */
typedef void (*ck_ipc_accept_fn)(int fd, void *arg);
/* Takes ownership of LISTEN_FD (made non-blocking; closed on failure too).
 * Accepts in batches; on EMFILE/ENFILE/ENOBUFS/ENOMEM it logs and pauses
 * accepting for 100 ms (the connection waits in the backlog), on
 * ECONNABORTED it goes on. FN may free the listener. NULL on failure. */
ck_ipc_listener_t *ck_ipc_listener_new(struct event_base *base, int listen_fd,
				       ck_ipc_accept_fn fn, void *arg);
/* Closes the listening fd; safe inside FN. NULL is fine. */
void ck_ipc_listener_free(ck_ipc_listener_t *l);

/* Binds and listens on a Unix stream socket at PATH (a stale socket file is
 * removed first). Returns 0 and *RET_FD, or -errno (-ENAMETOOLONG when PATH
 * does not fit sockaddr_un). */
int ck_ipc_unix_listen(const char *path, int backlog, int *ret_fd);
/* Starts a non-blocking connect to the Unix socket at PATH. Returns 0 with
 * *RET_FD connected or connecting, or -errno. */
int ck_ipc_unix_connect(const char *path, int *ret_fd);

/*
 * A client that keeps one connection to a Unix socket path, reconnecting with
 * backoff (10 ms doubling to 1 s) whenever it drops. on_connect runs after
 * every (re)connect: subscribe again there. on_disconnect runs once per lost
 * connection: fail or re-send in-flight requests there.
 */
typedef struct ck_ipc_client ck_ipc_client_t;
typedef struct {
	void (*on_connect)(ck_ipc_client_t *cl, void *arg);
	void (*on_frame)(ck_ipc_client_t *cl, const uint8_t *data, size_t len, void *arg);
	void (*on_disconnect)(ck_ipc_client_t *cl, int err, void *arg);
} ck_ipc_client_handlers_t;

/* The first attempt runs from the event loop, never inside this call.
 * Returns NULL on allocation failure. */
ck_ipc_client_t *ck_ipc_client_new(struct event_base *base, const char *path, size_t frame_max,
				   const ck_ipc_client_handlers_t *h, void *arg);
/* Closes the connection without calling on_disconnect; safe inside any of
 * the client's callbacks. NULL is fine. */
void ck_ipc_client_free(ck_ipc_client_t *cl);
bool ck_ipc_client_connected(const ck_ipc_client_t *cl);
/* Returns 0, -ENOTCONN when not connected, or as ck_ipc_conn_send(). */
int ck_ipc_client_send(ck_ipc_client_t *cl, const void *data, size_t len);
int ck_ipc_client_send_msg(ck_ipc_client_t *cl, const ProtobufCMessage *m);
/* A fresh correlation id (never 0). */
uint64_t ck_ipc_client_next_id(ck_ipc_client_t *cl);

/*
 * Blocking helpers for command-line tools, tests and benchmarks.
 */
/* Connects to PATH, retrying (while the socket is missing or refuses) until
 * TIMEOUT_MS has passed (< 0: forever). Returns 0 with a blocking *RET_FD,
 * or -errno / CK_E_TIMEOUT. */
int ck_ipc_sync_connect(const char *path, int timeout_ms, int *ret_fd);
int ck_ipc_sync_send(int fd, const void *data, size_t len);
int ck_ipc_sync_send_msg(int fd, const ProtobufCMessage *m);
/* Reads one frame into RET_FRAME (replacing its contents). Returns 0,
 * CK_E_CLOSED on EOF, CK_E_PROTO on a bad length or EOF inside a frame,
 * CK_E_TIMEOUT, or -errno. TIMEOUT_MS < 0 waits forever. After a timeout
 * inside a frame the stream is out of step: close FD. FRAME_MAX 0 = the
 * default. */
int ck_ipc_sync_recv(int fd, size_t frame_max, int timeout_ms, ck_buf_t *ret_frame);

#endif
