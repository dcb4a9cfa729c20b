/*
 * repl_loop.c: the libevent shell of chronik-replicator (see repl_loop.h).
 *
 * Owned by replicator. Sockets come from the supervisor by name
 * ("replication", "replicator"); standalone (no LISTEN_FDS) it binds them
 * itself. Connections on the TCP replication listener are closed politely
 * (no follower fetch protocol yet); local IPC connections on
 * run/replicator.sock are kept open and their frames dropped, so neighbours
 * see a stable peer. The walwriter client reconnects by itself whenever
 * walwriter restarts.
 * Invariant: every accepted local connection is in conns[] until it closes,
 * so shutdown frees them all.
 * Not for: leader/follower state machines (a pure core, later), ISR and
 * high-watermark tracking (later).
 */
#include "repl_loop.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_listen.h"
#include "ck_log.h"
#include "ck_notify.h"

#define REPL_CONNS_MAX 64
#define REPL_ROLE      "none"

typedef struct {
	struct event_base *base;
	const ck_config_t *cfg;
	char run_dir[PATH_MAX];
	char local_path[PATH_MAX + 16];
	char walwriter_path[PATH_MAX + 16];
	ck_ipc_listener_t *peer_listener;
	ck_ipc_listener_t *local_listener;
	bool local_bound_here;
	ck_ipc_conn_t *conns[REPL_CONNS_MAX];
	ck_ipc_client_t *walwriter;
	struct event *sig_evs[3];
} repl_loop_t;

/* Tells the supervisor what this process serves; READY=1 travels in the
 * same datagram, so nobody sees the process ready without its status. */
static void repl_loop_status(repl_loop_t *l, bool ready)
{
	(void)ck_notifyf("%sSTATUS=replicator: partition replication not implemented yet "
	                 "(role: %s); walwriter %s\nCHRONIK_ROLE=%s",
	                 ready ? "READY=1\n" : "", REPL_ROLE,
	                 ck_ipc_client_connected(l->walwriter) ? "connected" : "connecting",
	                 REPL_ROLE);
}

/* TCP followers of other nodes: no protocol yet, so a polite FIN instead
 * of a reset. */
static void repl_peer_accept(int fd, void *arg)
{
	(void)arg;
	ck_log(CK_LOG_DEBUG, "replication connection closed: not implemented yet");
	(void)shutdown(fd, SHUT_WR);
	(void)close(fd);
}

static void repl_conn_forget(repl_loop_t *l, ck_ipc_conn_t *c)
{
	for (int i = 0; i < REPL_CONNS_MAX; i++) {
		if (l->conns[i] == c)
			l->conns[i] = NULL;
	}
}

static void repl_conn_frame(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg)
{
	(void)c;
	(void)data;
	(void)arg;
	ck_log(CK_LOG_DEBUG, "local request dropped: no replication service yet bytes=%zu", len);
}

static void repl_conn_close(ck_ipc_conn_t *c, int err, void *arg)
{
	(void)err;
	repl_conn_forget(arg, c);
}

static const ck_ipc_handlers_t repl_conn_handlers = {
    .on_frame = repl_conn_frame,
    .on_close = repl_conn_close,
};

static void repl_local_accept(int fd, void *arg)
{
	repl_loop_t *l = arg;

	for (int i = 0; i < REPL_CONNS_MAX; i++) {
		if (l->conns[i])
			continue;
		l->conns[i] = ck_ipc_conn_new(l->base, fd, (size_t)l->cfg->ipc_frame_max_bytes,
		                              &repl_conn_handlers, l);
		return;
	}
	ck_log(CK_LOG_WARN, "too many local connections max=%d", REPL_CONNS_MAX);
	(void)close(fd);
}

static void repl_walwriter_connect(ck_ipc_client_t *cl, void *arg)
{
	(void)cl;
	ck_log(CK_LOG_INFO, "connected to walwriter");
	repl_loop_status(arg, false);
}

static void repl_walwriter_frame(ck_ipc_client_t *cl, const uint8_t *data, size_t len, void *arg)
{
	(void)cl;
	(void)data;
	(void)arg;
	ck_log(CK_LOG_DEBUG, "walwriter frame ignored bytes=%zu", len);
}

static void repl_walwriter_disconnect(ck_ipc_client_t *cl, int err, void *arg)
{
	(void)cl;
	ck_log(CK_LOG_INFO, "walwriter connection lost: %s", err ? ck_strerror(err) : "closed");
	repl_loop_status(arg, false);
}

static const ck_ipc_client_handlers_t repl_walwriter_handlers = {
    .on_connect = repl_walwriter_connect,
    .on_frame = repl_walwriter_frame,
    .on_disconnect = repl_walwriter_disconnect,
};

static void repl_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	repl_loop_t *l = arg;

	(void)what;
	if (sig == SIGHUP) {
		int r = ck_log_reopen();
		if (r < 0)
			ck_log(CK_LOG_WARN, "cannot reopen log: %s", ck_strerror(r));
		return;
	}
	ck_log(CK_LOG_INFO, "stopping signal=SIG%s", sigabbrev_np((int)sig));
	(void)ck_notify("STOPPING=1");
	(void)event_base_loopexit(l->base, NULL);
}

/* Takes the passed sockets, or binds them (standalone). Returns 0 or -errno. */
static int repl_loop_listen(repl_loop_t *l)
{
	int fd, r;

	r = ck_listen_fd_or_tcp("replication", l->cfg->replication_listen, 1024, &fd);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot listen on replication addr=%s: %s",
		       l->cfg->replication_listen, ck_strerror(r));
		return r;
	}
	l->peer_listener = ck_ipc_listener_new(l->base, fd, repl_peer_accept, l);
	/* Standalone, the run dir may not exist yet. */
	(void)mkdir(l->cfg->data_dir, 0755);
	(void)mkdir(l->run_dir, 0750);
	r = ck_listen_fd_or_unix("replicator", l->local_path, 128, &fd);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot listen on path=%s: %s", l->local_path, ck_strerror(r));
		return r;
	}
	l->local_bound_here = r == 0;
	l->local_listener = ck_ipc_listener_new(l->base, fd, repl_local_accept, l);
	if (!l->peer_listener || !l->local_listener)
		return -ENOMEM;
	return 0;
}

static int repl_loop_setup(repl_loop_t *l)
{
	static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
	int r;

	if (snprintf(l->run_dir, sizeof(l->run_dir), "%s/run", l->cfg->data_dir) >=
	    (int)sizeof(l->run_dir))
		return -ENAMETOOLONG;
	snprintf(l->local_path, sizeof(l->local_path), "%s/replicator.sock", l->run_dir);
	snprintf(l->walwriter_path, sizeof(l->walwriter_path), "%s/walwriter.sock", l->run_dir);
	l->base = event_base_new();
	if (!l->base)
		return -ENOMEM;
	for (int i = 0; i < 3; i++) {
		l->sig_evs[i] = evsignal_new(l->base, sigs[i], repl_signal_cb, l);
		if (!l->sig_evs[i] || evsignal_add(l->sig_evs[i], NULL) < 0)
			return -ENOMEM;
	}
	r = ck_listen_watch_supervisor(l->base, NULL, NULL);
	if (r < 0)
		return r;
	r = repl_loop_listen(l);
	if (r < 0)
		return r;
	l->walwriter =
	    ck_ipc_client_new(l->base, l->walwriter_path, (size_t)l->cfg->ipc_frame_max_bytes,
	                      &repl_walwriter_handlers, l);
	return l->walwriter ? 0 : -ENOMEM;
}

static void repl_loop_free(repl_loop_t *l)
{
	for (int i = 0; i < REPL_CONNS_MAX; i++) {
		if (l->conns[i])
			ck_ipc_conn_close(l->conns[i]);
	}
	if (l->walwriter)
		ck_ipc_client_free(l->walwriter);
	if (l->peer_listener)
		ck_ipc_listener_free(l->peer_listener);
	if (l->local_listener)
		ck_ipc_listener_free(l->local_listener);
	if (l->local_bound_here)
		(void)unlink(l->local_path);
	ck_listen_unwatch_supervisor();
	for (int i = 0; i < 3; i++) {
		if (l->sig_evs[i])
			event_free(l->sig_evs[i]);
	}
	if (l->base)
		event_base_free(l->base);
}

int repl_loop_run(const ck_config_t *cfg)
{
	repl_loop_t l = {.cfg = cfg};
	int r;

	(void)signal(SIGPIPE, SIG_IGN);
	r = repl_loop_setup(&l);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot start: %s", ck_strerror(r));
		(void)ck_notifyf("STATUS=replicator: cannot start: %s", ck_strerror(r));
		repl_loop_free(&l);
		return CK_EXIT_RESTART;
	}
	ck_log(CK_LOG_INFO, "ready node_id=%d replication=%s role=%s", cfg->node_id,
	       cfg->replication_listen, REPL_ROLE);
	repl_loop_status(&l, true);
	(void)event_base_dispatch(l.base);
	repl_loop_free(&l);
	ck_log(CK_LOG_INFO, "stopped");
	return CK_EXIT_STOPPED;
}
