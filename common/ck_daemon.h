/*
 * ck_daemon.h: the libevent shell every chronik child process shares.
 *
 * A child (raftd, replicator, kafka-frontend; walwriter for the first part)
 * runs one event base that
 *   - stops on SIGTERM/SIGINT and when its supervisor goes away, and
 *     reopens its log file on SIGHUP (SIGPIPE is ignored);
 *   - listens on sockets passed by the supervisor by name (LISTEN_FDNAMES),
 *     or bound here when the process runs standalone: a TCP listener from
 *     the configuration, a Unix socket at <data_dir>/run/<name>.sock;
 *   - keeps a ck_ipc_client to each neighbour's run/<name>.sock, logging
 *     connects and losses and re-sending STATUS= on each;
 *   - reports READY=1 with a STATUS= of the form
 *     "<process>: <what> (role: <role>); walwriter connected, raftd
 *     connecting" and CHRONIK_ROLE=<role>, in one datagram.
 * The process keeps its own file for what is its own: which sockets, what
 * it does with a connection or a frame, its status wording and role.
 *
 * Lifetime: ck_daemon_new(), then listeners and neighbours, then
 * ck_daemon_run() until a stop; ck_daemon_free() releases everything the
 * daemon made (also after a failed set-up). Single-threaded: every function
 * is for the thread that runs the loop.
 * Not for: the supervisor (it forks children and forwards signals, see
 * supervisor/sup_loop.c); argument parsing (ck_proc.h).
 */
#ifndef CK_DAEMON_H
#define CK_DAEMON_H

#include <stdbool.h>

#include "ck_config.h"
#include "ck_ipc.h"

struct event_base;

typedef struct ck_daemon ck_daemon_t;

typedef struct {
	/* The process ("raftd"): first word of STATUS=. Copied. */
	const char *name;
	/* data_dir and ipc_frame_max_bytes are read from it; must outlive
	 * the daemon. */
	const ck_config_t *cfg;
	/* Called from the loop on SIGTERM/SIGINT (after a log line) and when
	 * the supervisor goes away, so the process can run its own stop
	 * sequence, ending with event_base_loopexit(). NULL: stop at once
	 * (STOPPING=1 on a signal, then leave the loop). */
	void (*on_stop)(void *arg);
	void *arg;
} ck_daemon_opts_t;

/* Ignores SIGPIPE, creates the event base, registers the signals and
 * watches the supervisor (ck_listen_watch_supervisor). Call after
 * ck_proc_init(). Returns 0 and *RET_D, or -ENAMETOOLONG (data_dir too long
 * for run/<name>.sock), -ENOMEM, or ck_listen_watch_supervisor()'s error;
 * nothing is left behind on failure. */
int ck_daemon_new(const ck_daemon_opts_t *opts, ck_daemon_t **ret_d);

/* Every CK_DAEMON_KEEPALIVE_MS from the loop, once ready: WATCHDOG=1 to the
 * supervisor (NOTIFY_SOCKET), which tells a stuck child (stopped, its loop
 * blocked) from a live one in /health. ck_daemon_run() starts it; a
 * process that reports READY=1 itself calls ck_daemon_keepalive(). */
#define CK_DAEMON_KEEPALIVE_MS 1000
int ck_daemon_keepalive(ck_daemon_t *d);

/* Releases listeners, local connections, neighbour clients (their
 * on_disconnect is not called), removes a Unix socket bound here, stops
 * watching the supervisor and frees the event base. Free the process's own
 * events first. NULL is fine. */
void ck_daemon_free(ck_daemon_t *d);

struct event_base *ck_daemon_base(const ck_daemon_t *d);

/* Listens on the TCP socket passed as NAME, or binds HOSTPORT when none was
 * passed; FN(fd, ARG) gets every accepted connection. Returns 0, or -errno
 * (logged: "cannot listen on NAME addr=HOSTPORT"). */
int ck_daemon_listen_tcp(ck_daemon_t *d, const char *name, const char *hostport,
                         ck_ipc_accept_fn fn, void *arg);

/* An accept function that closes a connection politely (FIN, not a reset)
 * for a protocol not served yet. REASON is a const char * logged at debug
 * level ("raft connection closed: not implemented yet"). */
void ck_daemon_accept_close(int fd, void *reason);

/* Listens on the Unix socket passed as NAME, or (standalone) binds
 * <data_dir>/run/NAME.sock, creating data_dir and run/ if needed; that file
 * is removed again by ck_daemon_free(). Accepted connections become
 * ck_ipc connections kept in a table (at most CK_DAEMON_CONNS_MAX: more are
 * refused with a warning) and closed by ck_daemon_free(). H->on_frame gets
 * every frame with ARG; H->on_close (may be NULL) runs when one ends. The
 * daemon owns each connection's arg: do not ck_ipc_conn_set_arg() them.
 * One local socket per daemon. Returns 0, -EALREADY, -ENAMETOOLONG, or
 * -errno (logged: "cannot listen on path=..."). */
#define CK_DAEMON_CONNS_MAX 64
int ck_daemon_listen_local(ck_daemon_t *d, const char *name, const ck_ipc_handlers_t *h, void *arg);
/* Closes local connection C without calling on_close (ck_ipc_conn_close:
 * safe inside on_frame) and forgets it. */
void ck_daemon_conn_close(ck_daemon_t *d, ck_ipc_conn_t *c);

/* Keeps a connection to the neighbour NAME ("walwriter") at
 * <data_dir>/run/NAME.sock, reconnecting with backoff. Connects and losses
 * are logged ("connected to NAME", "NAME connection lost: ...") and the
 * status is sent again once the daemon is ready. H (may be NULL, as may each
 * of its members) is called with ARG after that; frames without an
 * on_frame are dropped with a debug line. *RET_CLIENT (RET_CLIENT may be
 * NULL) is owned by the daemon. Neighbours are described in STATUS= in the
 * order they were added. Returns 0, -ENOSPC (more than CK_DAEMON_PEERS_MAX),
 * -ENAMETOOLONG or -ENOMEM. */
#define CK_DAEMON_PEERS_MAX 8
int ck_daemon_peer_add(ck_daemon_t *d, const char *name, const ck_ipc_client_handlers_t *h,
                       void *arg, ck_ipc_client_t **ret_client);

/* Sets what STATUS= says: "<name>: WHAT (role: ROLE); <neighbours>" with
 * CHRONIK_ROLE=ROLE (both copied, truncated to fit). Sent at once when the
 * daemon is ready, else with READY=1 by ck_daemon_run(). */
void ck_daemon_set_status(ck_daemon_t *d, const char *what, const char *role);

/* Reports READY=1 with the status, then runs the loop until a stop. */
void ck_daemon_run(ck_daemon_t *d);

/* Ends process NAME: frees D (NULL is fine). ERR < 0 means the set-up
 * failed: logs "cannot start", sends "STATUS=NAME: cannot start: ..." and
 * returns CK_EXIT_RESTART; else logs "stopped" and returns CK_EXIT_STOPPED.
 * Free the process's own state first. */
int ck_daemon_exit(ck_daemon_t *d, const char *name, int err);

#endif
