/*
 * raftd_loop.c: the libevent shell of chronik-raftd (see raftd_loop.h).
 *
 * Owned by raftd. The shared shell (event base, signals, sockets passed by
 * name or bound standalone, neighbour clients, READY=1/STATUS=) is
 * common/ck_daemon; this file wires raftd's parts into it: the walwriter
 * neighbour feeds raftd_wal, local connections on run/raftd.sock go to
 * raftd_service, the metadata service (raftd_node) reports its state as
 * STATUS= ("metadata service serving: leader term=2 leader=1 commit=17
 * applied=17 lag=0 followers=2:lag=0 3:down", CHRONIK_ROLE=leader), which
 * `chronik-server status` shows; it is refreshed every second when it
 * changed. Connections on the TCP raft listener go to the node's
 * transport (raftd_net.c).
 * On SIGTERM the node stops taking proposals, queued ones are answered
 * CK_E_NOT_LEADER, a leader hands leadership over, and proposals already
 * in the log get up to RAFTD_DRAIN_MS to be applied and answered (and the
 * handover to finish) before the loop ends; without a quorum in reach (the
 * last node of a cluster to stop) they could not commit, so the wait ends
 * once none has been in reach for RAFTD_DRAIN_ALONE_MS.
 * Not for: the Raft state machine (raft_*.c), applying (raftd_apply.c).
 */
#include "raftd_loop.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_daemon.h"
#include "ck_err.h"
#include "ck_log.h"
#include "ck_notify.h"
#include "raftd_node.h"
#include "raftd_service.h"
#include "raftd_wal.h"

#define RAFTD_DRAIN_MS       3000
#define RAFTD_DRAIN_ALONE_MS 200
#define RAFTD_STATUS_MS 1000

typedef struct {
	const ck_config_t *cfg;
	ck_daemon_t *d;
	raftd_wal_t *wal;
	raftd_node_t *node;
	raftd_service_t *svc;
	struct event *status_ev; /* periodic STATUS= refresh */
	struct event *drain_ev;
	struct event *usr2_ev; /* the supervisor's controlled shutdown */
	uint64_t drain_until_ms;
	uint64_t alone_since_ms; /* draining without a quorum in reach since; 0: in reach */
	char status_text[384]; /* STATUS= last sent */
	int exit_code;
} raftd_loop_t;

/* Sends STATUS= when its text changed (FORCE: always). */
static void raftd_loop_status_send(raftd_loop_t *l, bool force)
{
	raftd_node_status_t st;
	char what[sizeof(l->status_text)], leader[16];
	int n;

	raftd_node_status(l->node, &st);
	if (st.leader_id < 0)
		snprintf(leader, sizeof(leader), "none");
	else
		snprintf(leader, sizeof(leader), "%d", st.leader_id);
	n = snprintf(what, sizeof(what),
	             "metadata service %s: %s term=%llu leader=%s commit=%llu applied=%llu lag=%llu",
	             st.serving ? "serving" : "recovering", st.role, (unsigned long long)st.term,
	             leader, (unsigned long long)st.commit_index,
	             (unsigned long long)st.applied_index, (unsigned long long)st.lag);
	if (st.followers[0] && n > 0 && (size_t)n < sizeof(what))
		snprintf(what + n, sizeof(what) - (size_t)n, " followers=%s", st.followers);
	if (!force && !strcmp(what, l->status_text))
		return;
	ck_daemon_set_status(l->d, what, st.role);
	snprintf(l->status_text, sizeof(l->status_text), "%s", what);
}

static void raftd_loop_status(raftd_loop_t *l)
{
	raftd_loop_status_send(l, true);
}

static void raftd_status_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	raftd_loop_t *l = arg;

	(void)fd;
	(void)what;
	raftd_loop_status_send(l, false);
}

/* ---- node hooks ---- */

static void raftd_on_applied(void *arg, uint64_t applied)
{
	raftd_loop_t *l = arg;

	raftd_service_applied(l->svc, applied);
}

static void raftd_on_status(void *arg)
{
	raftd_loop_status(arg);
}

static void raftd_on_ready(void *arg)
{
	raftd_loop_t *l = arg;

	ck_log(CK_LOG_INFO, "metadata service ready node_id=%d", l->cfg->node_id);
}

static void raftd_on_fatal(void *arg, int err, int exit_code)
{
	raftd_loop_t *l = arg;

	(void)ck_notifyf("STATUS=raftd: metadata service failed: %s", ck_strerror(err));
	l->exit_code = exit_code;
	(void)event_base_loopexit(ck_daemon_base(l->d), NULL);
}

/* ---- stopping ---- */

static void raftd_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	raftd_loop_t *l = arg;
	raftd_node_status_t st;
	struct timeval tv = {0, 10 * 1000};

	(void)fd;
	(void)what;
	size_t inflight;
	uint64_t now;

	raftd_node_status(l->node, &st);
	inflight = st.inflight;
	now = ck_clock_mono_ms();
	if (st.quorum_contact)
		l->alone_since_ms = 0;
	else if (!l->alone_since_ms)
		l->alone_since_ms = now;
	if ((inflight == 0 && !st.transferring) || now >= l->drain_until_ms ||
	    (l->alone_since_ms && now - l->alone_since_ms >= RAFTD_DRAIN_ALONE_MS)) {
		if (inflight)
			ck_log(CK_LOG_WARN, "stopping with proposals unanswered count=%zu",
			       inflight);
		(void)event_base_loopexit(ck_daemon_base(l->d), NULL);
		return;
	}
	(void)evtimer_add(l->drain_ev, &tv);
}

static void raftd_on_stop(void *arg)
{
	raftd_loop_t *l = arg;

	(void)ck_notify("STOPPING=1");
	if (!l->node) {
		(void)event_base_loopexit(ck_daemon_base(l->d), NULL);
		return;
	}
	raftd_node_stop(l->node);
	l->drain_until_ms = ck_clock_mono_ms() + RAFTD_DRAIN_MS;
	raftd_drain_cb(-1, 0, l);
}

static void raftd_usr2_cb(evutil_socket_t sig, short what, void *arg)
{
	raftd_loop_t *l = arg;

	(void)sig;
	(void)what;
	if (l->node)
		raftd_node_depart(l->node);
}

/* ---- connections ---- */

static void raftd_conn_frame(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg)
{
	raftd_loop_t *l = arg;

	raftd_service_frame(l->svc, c, data, len);
}

static void raftd_conn_close(ck_ipc_conn_t *c, int err, void *arg)
{
	raftd_loop_t *l = arg;

	(void)err;
	raftd_service_closed(l->svc, c);
}

static void raftd_conn_kill(void *arg, ck_ipc_conn_t *c)
{
	raftd_loop_t *l = arg;

	ck_daemon_conn_close(l->d, c);
}

static const ck_ipc_handlers_t raftd_conn_handlers = {
    .on_frame = raftd_conn_frame,
    .on_close = raftd_conn_close,
};

static int raftd_loop_setup(raftd_loop_t *l)
{
	static const raftd_node_hooks_t hooks = {raftd_on_applied, raftd_on_status, raftd_on_ready,
	                                         raftd_on_fatal};
	const ck_daemon_opts_t opts = {
	    .name = "raftd", .cfg = l->cfg, .on_stop = raftd_on_stop, .arg = l};
	struct timeval tv = {RAFTD_STATUS_MS / 1000, (RAFTD_STATUS_MS % 1000) * 1000};
	struct event_base *base;
	ck_ipc_client_t *cl = NULL;
	int r;

	r = ck_daemon_new(&opts, &l->d);
	if (r < 0)
		return r;
	base = ck_daemon_base(l->d);
	ck_daemon_set_status(l->d, "metadata service starting", "starting");
	l->wal = raftd_wal_new();
	l->status_ev = event_new(base, -1, EV_PERSIST, raftd_status_timer_cb, l);
	l->drain_ev = evtimer_new(base, raftd_drain_cb, l);
	l->usr2_ev = evsignal_new(base, SIGUSR2, raftd_usr2_cb, l);
	if (!l->wal || !l->status_ev || !l->drain_ev || !l->usr2_ev ||
	    event_add(l->status_ev, &tv) < 0 || evsignal_add(l->usr2_ev, NULL) < 0)
		return -ENOMEM;
	r = ck_daemon_peer_add(l->d, "walwriter", raftd_wal_client_handlers(), l->wal, &cl);
	if (r < 0)
		return r;
	raftd_wal_set_client(l->wal, cl);
	r = raftd_node_new(&l->node, base, l->cfg, l->wal, &hooks, l);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot open the metadata state: %s", ck_strerror(r));
		if (r == CK_E_CORRUPT || r == CK_E_CONFIG)
			l->exit_code = CK_EXIT_FATAL;
		return r;
	}
	l->svc = raftd_service_new(l->node, raftd_conn_kill, l);
	if (!l->svc)
		return -ENOMEM;
	/* Node-to-node Raft traffic (raftd_net.c through the node). */
	r = ck_daemon_listen_tcp(l->d, "raft", l->cfg->raft_listen, raftd_node_accept, l->node);
	if (r < 0)
		return r;
	return ck_daemon_listen_local(l->d, "raftd", &raftd_conn_handlers, l);
}

static void raftd_loop_free(raftd_loop_t *l)
{
	if (l->status_ev)
		event_free(l->status_ev);
	if (l->drain_ev)
		event_free(l->drain_ev);
	if (l->usr2_ev)
		event_free(l->usr2_ev);
	raftd_service_free(l->svc);
	raftd_node_free(l->node);
	raftd_wal_free(l->wal);
}

int raftd_loop_run(const ck_config_t *cfg)
{
	raftd_loop_t l = {.cfg = cfg};
	int r;

	r = raftd_loop_setup(&l);
	if (r == 0) {
		ck_log(CK_LOG_INFO, "started node_id=%d raft=%s", cfg->node_id, cfg->raft_listen);
		ck_daemon_run(l.d);
	}
	raftd_loop_free(&l);
	if (l.exit_code > 0) {
		/* The metadata state chose the exit code (corrupt data: fatal). */
		if (r < 0)
			(void)ck_notifyf("STATUS=raftd: cannot start: %s", ck_strerror(r));
		ck_daemon_free(l.d);
		ck_log(CK_LOG_ERROR, "stopped exit_code=%d", l.exit_code);
		return l.exit_code;
	}
	return ck_daemon_exit(l.d, "raftd", r);
}
