/*
 * ck_daemon.c: the libevent shell every chronik child shares (ck_daemon.h).
 *
 * Owned by libck. Log lines keep the process's own subsystem name (no
 * CK_LOG_SUBSYSTEM here), so they read as the process's own.
 * Invariants: every accepted local connection is in conns[] until it
 * closes, so ck_daemon_free() closes them all; STATUS= is sent only once
 * the daemon is ready, so READY=1 always travels with the first status.
 * Not for: what a process serves (its *_loop.c).
 */
#include "ck_daemon.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_err.h"
#include "ck_listen.h"
#include "ck_log.h"
#include "ck_notify.h"
#include "ck_proc.h"

#define CK_DAEMON_TCP_MAX   4
#define CK_DAEMON_SOCK_PATH (PATH_MAX + CK_LISTEN_NAME_MAX + 8)

typedef struct {
	ck_daemon_t *d;
	char name[CK_LISTEN_NAME_MAX];
	ck_ipc_client_t *client;
	ck_ipc_client_handlers_t h;
	void *arg;
} ck_daemon_peer_t;

struct ck_daemon {
	char name[CK_LISTEN_NAME_MAX];
	const ck_config_t *cfg;
	void (*on_stop)(void *arg);
	void *arg;
	struct event_base *base;
	struct event *sig_evs[3];
	bool watching;
	bool ready;
	struct event *keepalive_ev;
	char run_dir[PATH_MAX];

	ck_ipc_listener_t *tcp[CK_DAEMON_TCP_MAX];
	size_t ntcp;

	ck_ipc_listener_t *local_listener;
	char local_path[CK_DAEMON_SOCK_PATH];
	bool local_bound_here;
	ck_ipc_handlers_t local_h;
	void *local_arg;
	ck_ipc_conn_t *conns[CK_DAEMON_CONNS_MAX];

	ck_daemon_peer_t peers[CK_DAEMON_PEERS_MAX];
	size_t npeers;

	char what[256];
	char role[64];
};

/* ---- status ---- */

/* "walwriter connected, raftd connecting" */
static void ck_daemon_peers_describe(const ck_daemon_t *d, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < d->npeers && used < len; i++) {
		const ck_daemon_peer_t *p = &d->peers[i];
		bool up = p->client && ck_ipc_client_connected(p->client);

		used += (size_t)snprintf(buf + used, len - used, "%s%s %s", i ? ", " : "", p->name,
		                         up ? "connected" : "connecting");
	}
}

/* READY=1 travels in the same datagram as the status, so nobody sees the
 * process ready without it. */
static void ck_daemon_notify_status(const ck_daemon_t *d, bool ready)
{
	char peers[256];

	ck_daemon_peers_describe(d, peers, sizeof(peers));
	(void)ck_notifyf("%sSTATUS=%s: %s (role: %s)%s%s\nCHRONIK_ROLE=%s",
	                 ready ? "READY=1\n" : "", d->name, d->what, d->role, peers[0] ? "; " : "",
	                 peers, d->role);
}

void ck_daemon_set_status(ck_daemon_t *d, const char *what, const char *role)
{
	snprintf(d->what, sizeof(d->what), "%s", what);
	snprintf(d->role, sizeof(d->role), "%s", role);
	if (d->ready)
		ck_daemon_notify_status(d, false);
}

/* ---- signals ---- */

static void ck_daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	ck_daemon_t *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		int r = ck_log_reopen();
		if (r < 0)
			ck_log(CK_LOG_WARN, "cannot reopen log: %s", ck_strerror(r));
		return;
	}
	ck_log(CK_LOG_INFO, "stopping signal=SIG%s", sigabbrev_np((int)sig));
	if (d->on_stop) {
		d->on_stop(d->arg);
		return;
	}
	(void)ck_notify("STOPPING=1");
	(void)event_base_loopexit(d->base, NULL);
}

/* ---- life cycle ---- */

/* libevent's default timer clock is CLOCK_MONOTONIC_COARSE, which moves in
 * 4 ms steps here: a 250 us group window would last 4 ms. Sub-millisecond
 * windows and long-poll deadlines need the precise clock. */
static struct event_base *ck_daemon_base_new(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (!ec)
		return NULL;
	(void)event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

static int ck_daemon_setup(ck_daemon_t *d)
{
	static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
	int r;

	if (snprintf(d->run_dir, sizeof(d->run_dir), "%s/run", d->cfg->data_dir) >=
	    (int)sizeof(d->run_dir))
		return -ENAMETOOLONG;
	d->base = ck_daemon_base_new();
	if (!d->base)
		return -ENOMEM;
	for (int i = 0; i < 3; i++) {
		d->sig_evs[i] = evsignal_new(d->base, sigs[i], ck_daemon_signal_cb, d);
		if (!d->sig_evs[i] || evsignal_add(d->sig_evs[i], NULL) < 0)
			return -ENOMEM;
	}
	r = ck_listen_watch_supervisor(d->base, d->on_stop, d->arg);
	if (r < 0)
		return r;
	d->watching = true;
	return 0;
}

int ck_daemon_new(const ck_daemon_opts_t *opts, ck_daemon_t **ret_d)
{
	ck_daemon_t *d;
	int r;

	(void)signal(SIGPIPE, SIG_IGN);
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	snprintf(d->name, sizeof(d->name), "%s", opts->name);
	d->cfg = opts->cfg;
	d->on_stop = opts->on_stop;
	d->arg = opts->arg;
	r = ck_daemon_setup(d);
	if (r < 0) {
		ck_daemon_free(d);
		return r;
	}
	*ret_d = d;
	return 0;
}

void ck_daemon_free(ck_daemon_t *d)
{
	if (!d)
		return;
	for (int i = 0; i < CK_DAEMON_CONNS_MAX; i++) {
		if (d->conns[i])
			ck_ipc_conn_close(d->conns[i]);
	}
	for (size_t i = 0; i < d->npeers; i++)
		ck_ipc_client_free(d->peers[i].client);
	for (size_t i = 0; i < d->ntcp; i++)
		ck_ipc_listener_free(d->tcp[i]);
	ck_ipc_listener_free(d->local_listener);
	if (d->local_bound_here)
		(void)unlink(d->local_path);
	if (d->watching)
		ck_listen_unwatch_supervisor();
	ck_signals_quiet_exit();
	if (d->keepalive_ev)
		event_free(d->keepalive_ev);
	for (int i = 0; i < 3; i++) {
		if (d->sig_evs[i])
			event_free(d->sig_evs[i]);
	}
	ck_signals_quiet_exit_done();
	if (d->base)
		event_base_free(d->base);
	free(d);
}

struct event_base *ck_daemon_base(const ck_daemon_t *d)
{
	return d->base;
}

static void ck_daemon_keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	(void)ck_notify("WATCHDOG=1");
}

int ck_daemon_keepalive(ck_daemon_t *d)
{
	struct timeval tv = {CK_DAEMON_KEEPALIVE_MS / 1000, (CK_DAEMON_KEEPALIVE_MS % 1000) * 1000};

	if (d->keepalive_ev || !getenv("NOTIFY_SOCKET"))
		return 0;
	d->keepalive_ev = event_new(d->base, -1, EV_PERSIST, ck_daemon_keepalive_cb, d);
	if (!d->keepalive_ev || event_add(d->keepalive_ev, &tv) < 0)
		return -ENOMEM;
	return 0;
}

void ck_daemon_run(ck_daemon_t *d)
{
	d->ready = true;
	ck_daemon_notify_status(d, true);
	if (ck_daemon_keepalive(d) < 0)
		ck_log(CK_LOG_WARN, "cannot start the keepalive to the supervisor");
	if (event_base_dispatch(d->base) < 0)
		ck_log(CK_LOG_ERROR, "event loop failed");
}

int ck_daemon_exit(ck_daemon_t *d, const char *name, int err)
{
	if (err < 0) {
		ck_log(CK_LOG_ERROR, "cannot start: %s", ck_strerror(err));
		(void)ck_notifyf("STATUS=%s: cannot start: %s", name, ck_strerror(err));
		ck_daemon_free(d);
		return CK_EXIT_RESTART;
	}
	ck_daemon_free(d);
	ck_log(CK_LOG_INFO, "stopped");
	return CK_EXIT_STOPPED;
}

/* ---- listeners ---- */

int ck_daemon_listen_tcp(ck_daemon_t *d, const char *name, const char *hostport,
                         ck_ipc_accept_fn fn, void *arg)
{
	int fd, r;

	if (d->ntcp == CK_DAEMON_TCP_MAX)
		return -ENOSPC;
	r = ck_listen_fd_or_tcp(name, hostport, 1024, &fd);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot listen on %s addr=%s: %s", name, hostport,
		       ck_strerror(r));
		return r;
	}
	d->tcp[d->ntcp] = ck_ipc_listener_new(d->base, fd, fn, arg);
	if (!d->tcp[d->ntcp])
		return -ENOMEM;
	d->ntcp++;
	return 0;
}

void ck_daemon_accept_close(int fd, void *reason)
{
	ck_log(CK_LOG_DEBUG, "%s", (const char *)reason);
	(void)shutdown(fd, SHUT_WR);
	(void)close(fd);
}

static void ck_daemon_conn_frame(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg)
{
	ck_daemon_t *d = arg;

	d->local_h.on_frame(c, data, len, d->local_arg);
}

static void ck_daemon_conn_forget(ck_daemon_t *d, ck_ipc_conn_t *c)
{
	for (int i = 0; i < CK_DAEMON_CONNS_MAX; i++) {
		if (d->conns[i] == c)
			d->conns[i] = NULL;
	}
}

static void ck_daemon_conn_on_close(ck_ipc_conn_t *c, int err, void *arg)
{
	ck_daemon_t *d = arg;

	ck_daemon_conn_forget(d, c);
	if (d->local_h.on_close)
		d->local_h.on_close(c, err, d->local_arg);
}

static const ck_ipc_handlers_t ck_daemon_conn_handlers = {
    .on_frame = ck_daemon_conn_frame,
    .on_close = ck_daemon_conn_on_close,
};

void ck_daemon_conn_close(ck_daemon_t *d, ck_ipc_conn_t *c)
{
	ck_daemon_conn_forget(d, c);
	ck_ipc_conn_close(c);
}

static void ck_daemon_local_accept(int fd, void *arg)
{
	ck_daemon_t *d = arg;

	for (int i = 0; i < CK_DAEMON_CONNS_MAX; i++) {
		if (d->conns[i])
			continue;
		d->conns[i] = ck_ipc_conn_new(d->base, fd, (size_t)d->cfg->ipc_frame_max_bytes,
		                              &ck_daemon_conn_handlers, d);
		return;
	}
	ck_log(CK_LOG_WARN, "too many local connections max=%d", CK_DAEMON_CONNS_MAX);
	(void)close(fd);
}

int ck_daemon_listen_local(ck_daemon_t *d, const char *name, const ck_ipc_handlers_t *h, void *arg)
{
	int fd, r;

	CK_ASSERT(h && h->on_frame);
	if (d->local_listener || d->local_path[0])
		return -EALREADY;
	if (snprintf(d->local_path, sizeof(d->local_path), "%s/%s.sock", d->run_dir, name) >=
	    (int)sizeof(d->local_path))
		return -ENAMETOOLONG;
	/* Standalone, the run dir may not exist yet. */
	(void)mkdir(d->cfg->data_dir, 0755);
	(void)mkdir(d->run_dir, 0750);
	r = ck_listen_fd_or_unix(name, d->local_path, 128, &fd);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot listen on path=%s: %s", d->local_path, ck_strerror(r));
		return r;
	}
	d->local_bound_here = r == 0;
	d->local_h = *h;
	d->local_arg = arg;
	d->local_listener = ck_ipc_listener_new(d->base, fd, ck_daemon_local_accept, d);
	return d->local_listener ? 0 : -ENOMEM;
}

/* ---- neighbours ---- */

static void ck_daemon_peer_connect(ck_ipc_client_t *cl, void *arg)
{
	ck_daemon_peer_t *p = arg;

	ck_log(CK_LOG_INFO, "connected to %s", p->name);
	if (p->h.on_connect)
		p->h.on_connect(cl, p->arg);
	if (p->d->ready)
		ck_daemon_notify_status(p->d, false);
}

static void ck_daemon_peer_frame(ck_ipc_client_t *cl, const uint8_t *data, size_t len, void *arg)
{
	ck_daemon_peer_t *p = arg;

	if (p->h.on_frame) {
		p->h.on_frame(cl, data, len, p->arg);
		return;
	}
	ck_log(CK_LOG_DEBUG, "frame from %s ignored bytes=%zu", p->name, len);
}

static void ck_daemon_peer_disconnect(ck_ipc_client_t *cl, int err, void *arg)
{
	ck_daemon_peer_t *p = arg;

	ck_log(CK_LOG_INFO, "%s connection lost: %s", p->name, err ? ck_strerror(err) : "closed");
	if (p->h.on_disconnect)
		p->h.on_disconnect(cl, err, p->arg);
	if (p->d->ready)
		ck_daemon_notify_status(p->d, false);
}

static const ck_ipc_client_handlers_t ck_daemon_peer_handlers = {
    .on_connect = ck_daemon_peer_connect,
    .on_frame = ck_daemon_peer_frame,
    .on_disconnect = ck_daemon_peer_disconnect,
};

int ck_daemon_peer_add(ck_daemon_t *d, const char *name, const ck_ipc_client_handlers_t *h,
                       void *arg, ck_ipc_client_t **ret_client)
{
	char path[CK_DAEMON_SOCK_PATH];
	ck_daemon_peer_t *p;

	if (d->npeers == CK_DAEMON_PEERS_MAX)
		return -ENOSPC;
	if (strlen(name) >= sizeof(p->name) ||
	    snprintf(path, sizeof(path), "%s/%s.sock", d->run_dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	p = &d->peers[d->npeers];
	p->d = d;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->h = h ? *h : (ck_ipc_client_handlers_t){0};
	p->arg = arg;
	p->client = ck_ipc_client_new(d->base, path, (size_t)d->cfg->ipc_frame_max_bytes,
	                              &ck_daemon_peer_handlers, p);
	if (!p->client)
		return -ENOMEM;
	d->npeers++;
	if (ret_client)
		*ret_client = p->client;
	return 0;
}
