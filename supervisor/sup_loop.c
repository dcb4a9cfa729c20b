/*
 * sup_loop.c: the supervisor's event loop and child lifecycle.
 *
 * Owned by chronik-server. One libevent loop reacts to SIGCHLD, notify
 * datagrams, timers and signals, and moves each child through its states
 * (sup_core.h) with sup_child_set_state(), the only place a state changes
 * and the place that logs "old -> new". The pure core decides restarts; this
 * file carries them out. Start order is the child table's order; stop order
 * is the reverse. A child restart never touches a listening socket: they all
 * stay open here, so connections wait in the backlog.
 * Invariants: c->pid != 0 exactly while the process is not yet reaped;
 * c->timer is pending only in STARTING (ready timeout), STOPPING (stop
 * timeout) and BACKOFF (restart delay).
 * Not for: setup (sup_node.c), fork/exec (sup_spawn.c), the control socket
 * (sup_control.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_notify.h"
#include "ck_proc.h"
#include "sup_loop.h"

#include "ck_log.h"

/* The longest one EXTEND_TIMEOUT_USEC may push a child's ready timeout. */
#define SUP_EXTEND_MAX_MS (10 * 60 * 1000)
/* The longest a controlled shutdown may take while raftd reports progress
 * (EXTEND_TIMEOUT_USEC while draining, sup_node_drain_extend). */
#define SUP_DRAIN_MAX_MS (2 * 60 * 1000)

static void sup_node_advance(sup_node_t *node);
static void sup_node_stop(sup_node_t *node, int exit_code, const char *reason);

uint64_t sup_child_uptime_ms(const sup_child_t *c, uint64_t now_ms)
{
	if (!c->pid || now_ms < c->started_ms)
		return 0;
	return now_ms - c->started_ms;
}

int64_t sup_child_silent_ms(const sup_child_t *c, uint64_t now_ms)
{
	if (!c->pid || c->alive_ms == 0)
		return -1;
	return now_ms > c->alive_ms ? (int64_t)(now_ms - c->alive_ms) : 0;
}

bool sup_child_live(const sup_child_t *c, uint64_t now_ms)
{
	return c->state == SUP_STATE_READY &&
	       sup_child_silent_ms(c, now_ms) <= (int64_t)SUP_CHILD_SILENT_MAX_MS;
}

static void sup_child_set_state(sup_child_t *c, sup_state_t state)
{
	CK_ASSERT(sup_state_transition_ok(c->state, state));
	ck_log(CK_LOG_INFO, "child %s: %s -> %s pid=%d", c->name, sup_state_name(c->state),
	       sup_state_name(state), (int)c->pid);
	c->state = state;
}

static void sup_child_arm(sup_child_t *c, uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};

	(void)evtimer_add(c->timer, &tv);
}

static int sup_node_states(const sup_node_t *node, sup_state_t *states, bool *started)
{
	for (int i = 0; i < CK_CHILD_COUNT; i++) {
		states[i] = node->children[i].state;
		if (started)
			started[i] = node->children[i].started_once;
	}
	return CK_CHILD_COUNT;
}

/* Tells systemd (when it asked) what the node is doing. */
static void sup_node_status_upward(sup_node_t *node)
{
	char text[512] = "";
	int ready = 0;
	size_t len = 0;

	for (int i = 0; i < CK_CHILD_COUNT; i++) {
		const sup_child_t *c = &node->children[i];

		if (c->state == SUP_STATE_READY) {
			ready++;
			continue;
		}
		if (len < sizeof(text))
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s %s",
			                        len ? ", " : "", c->name, sup_state_name(c->state));
	}
	if (node->phase == SUP_PHASE_STOPPING)
		(void)ck_notifyf("STATUS=stopping: %s", node->stop_reason);
	else if (ready == CK_CHILD_COUNT)
		(void)ck_notifyf("STATUS=serving: %d/%d children ready", ready, CK_CHILD_COUNT);
	else
		(void)ck_notifyf("STATUS=%s: %d/%d children ready (%s)",
		                 node->phase == SUP_PHASE_STARTING ? "starting" : "degraded", ready,
		                 CK_CHILD_COUNT, text);
}

static void sup_child_start(sup_child_t *c)
{
	sup_node_t *node = c->node;
	int r;

	c->status_text[0] = '\0';
	c->role[0] = '\0';
	r = sup_child_spawn(node, c);
	if (r < 0) {
		char reason[256];

		/* fork or socketpair failed: the machine is out of processes or
		 * fds. Stop (exit 1) rather than spin; systemd retries later. */
		ck_log(CK_LOG_ERROR, "cannot start child=%s: %s", c->name, ck_strerror(r));
		snprintf(reason, sizeof(reason), "cannot start %s: %s", c->name, ck_strerror(r));
		sup_node_stop(node, 1, reason);
		return;
	}
	if (c->started_once)
		c->restarts++;
	c->started_once = true;
	c->started_ms = ck_clock_mono_ms();
	c->alive_ms = 0;
	c->silent = false;
	sup_child_set_state(c, SUP_STATE_STARTING);
	sup_child_arm(c, (uint64_t)node->cfg.ready_timeout_ms);
	sup_node_status_upward(node);
}

/* SIGTERM to the child's process group; SIGKILL after stop_timeout_ms. */
static void sup_child_stop(sup_child_t *c)
{
	CK_ASSERT(c->pid > 0);
	if (kill(-c->pid, SIGTERM) < 0 && kill(c->pid, SIGTERM) < 0)
		ck_log(CK_LOG_WARN, "cannot signal child=%s pid=%d: %s", c->name, (int)c->pid,
		       strerror(errno));
	sup_child_set_state(c, SUP_STATE_STOPPING);
	sup_child_arm(c, (uint64_t)c->node->cfg.stop_timeout_ms);
}

/* Stops the highest running child; the loop ends when none is left. */
static void sup_node_stop_next(sup_node_t *node)
{
	sup_state_t states[CK_CHILD_COUNT];
	int i;

	while ((i = sup_order_next_stop(states, sup_node_states(node, states, NULL))) >= 0) {
		sup_child_t *c = &node->children[i];

		if (c->state == SUP_STATE_STOPPING)
			return; /* wait for it */
		if (c->state == SUP_STATE_BACKOFF) {
			(void)evtimer_del(c->timer);
			sup_child_set_state(c, SUP_STATE_STOPPED);
			continue;
		}
		sup_child_stop(c);
		return;
	}
	ck_log(CK_LOG_INFO, "all children stopped exit_code=%d", node->exit_code);
	(void)event_base_loopexit(node->base, NULL);
}

static void sup_node_stop(sup_node_t *node, int exit_code, const char *reason)
{
	char why[sizeof(node->stop_reason)];

	if (node->phase == SUP_PHASE_STOPPING)
		return;
	if (node->drain_ev)
		(void)evtimer_del(node->drain_ev);
	node->draining = false;
	snprintf(why, sizeof(why), "%s", reason); /* REASON may be stop_reason itself */
	reason = why;
	node->phase = SUP_PHASE_STOPPING;
	node->exit_code = exit_code;
	snprintf(node->stop_reason, sizeof(node->stop_reason), "%s", reason);
	ck_log(exit_code ? CK_LOG_ERROR : CK_LOG_INFO, "stopping node: %s", reason);
	(void)ck_notify("STOPPING=1");
	sup_node_status_upward(node);
	sup_node_stop_next(node);
}

static void sup_node_advance(sup_node_t *node)
{
	sup_state_t states[CK_CHILD_COUNT];
	bool started[CK_CHILD_COUNT];
	int i, n;

	if (node->phase != SUP_PHASE_STARTING)
		return;
	n = sup_node_states(node, states, started);
	i = sup_order_next_start(states, started, n);
	if (i >= 0) {
		sup_child_start(&node->children[i]);
		return;
	}
	if (!sup_order_all_ready(states, n))
		return;
	node->phase = SUP_PHASE_RUNNING;
	ck_log(CK_LOG_INFO, "node ready node_id=%d data_dir=%s startup_ms=%llu", node->cfg.node_id,
	       node->data_dir, (unsigned long long)(ck_clock_mono_ms() - node->started_ms));
	(void)ck_notify("READY=1");
	sup_node_status_upward(node);
}

/* EXTEND_TIMEOUT_USEC from a starting child (a long recovery that makes
 * progress, as systemd's protocol has it): its ready timeout becomes USEC
 * from now, at most SUP_EXTEND_MAX_MS; passed on to systemd while the node
 * starts, so that its own start timeout stretches the same way. */
static void sup_child_extend(sup_child_t *c, uint64_t usec)
{
	uint64_t ms = CK_MIN(usec / 1000 + 1, (uint64_t)SUP_EXTEND_MAX_MS);

	sup_child_arm(c, ms);
	ck_log(CK_LOG_DEBUG, "child %s extends its start timeout ms=%llu", c->name,
	       (unsigned long long)ms);
	if (c->node->phase == SUP_PHASE_STARTING)
		(void)ck_notifyf("EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)ms * 1000);
}

/* EXTEND_TIMEOUT_USEC from raftd during a controlled shutdown: fewer
 * partitions need this node than at its last look, and the controller goes
 * on moving them (a node in thousands of partitions takes it rounds): the
 * wait ends no sooner than USEC from now, SUP_DRAIN_MAX_MS after its start
 * at the latest. */
static void sup_node_drain_extend(sup_node_t *node, uint64_t usec)
{
	uint64_t spent = ck_clock_mono_ms() - node->drain_start_ms;
	uint64_t ms =
	    CK_MIN(usec / 1000 + 1, SUP_DRAIN_MAX_MS > spent ? SUP_DRAIN_MAX_MS - spent : 0);
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	/* Only while the first wait still runs, and never shorter than it. */
	if (!node->drain_ev || !evtimer_pending(node->drain_ev, NULL) ||
	    spent + ms <= (uint64_t)node->cfg.metadata_broker_session_ms + 1000)
		return;
	(void)evtimer_add(node->drain_ev, &tv);
	ck_log(CK_LOG_DEBUG, "controlled shutdown makes progress: waiting ms=%llu more",
	       (unsigned long long)ms);
}

static void sup_child_on_notify(sup_child_t *c, const char *msg, pid_t sender)
{
	sup_notify_t n;

	if (sup_notify_parse(msg, &n) < 0) {
		ck_log(CK_LOG_DEBUG, "malformed notify child=%s pid=%d", c->name, (int)sender);
		return;
	}
	if (n.watchdog)
		c->alive_ms = ck_clock_mono_ms();
	if (n.has_status) {
		snprintf(c->status_text, sizeof(c->status_text), "%s", n.status);
		ck_log(CK_LOG_DEBUG, "child %s status: %s", c->name, n.status);
	}
	if (n.has_role)
		snprintf(c->role, sizeof(c->role), "%s", n.role);
	if (n.drained && c->node->draining && c == &c->node->children[CK_CHILD_RAFTD]) {
		ck_log(CK_LOG_INFO,
		       "controlled shutdown done: partition leadership moved away ms=%llu",
		       (unsigned long long)(ck_clock_mono_ms() - c->node->drain_start_ms));
		sup_node_stop(c->node, 0, c->node->stop_reason);
	}
	if (n.has_extend && !n.ready && c->state == SUP_STATE_STARTING)
		sup_child_extend(c, n.extend_usec);
	else if (n.has_extend && c->node->draining && c == &c->node->children[CK_CHILD_RAFTD])
		sup_node_drain_extend(c->node, n.extend_usec);
	if (n.ready && c->state == SUP_STATE_STARTING) {
		/* Its keepalives (every second) are counted from here. */
		c->alive_ms = ck_clock_mono_ms();
		(void)evtimer_del(c->timer);
		sup_child_set_state(c, SUP_STATE_READY);
		if (c->node->phase == SUP_PHASE_STARTING)
			sup_node_advance(c->node);
		else
			sup_node_status_upward(c->node);
	}
}

/* Reads every queued datagram of child C. */
static void sup_child_notify_drain(sup_child_t *c)
{
	char buf[4096];
	pid_t sender;
	int n;

	while ((n = ck_notify_recv(c->notify_fd, buf, sizeof(buf), &sender)) >= 0)
		sup_child_on_notify(c, buf, sender);
	if (n != -EAGAIN)
		ck_log(CK_LOG_WARN, "notify receive failed child=%s: %s", c->name, ck_strerror(n));
}

static void sup_child_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sup_child_notify_drain(arg);
}

/* A child that died on its own while the node is not stopping. */
static void sup_child_died(sup_child_t *c, int wstatus, uint64_t uptime_ms, uint64_t now_ms)
{
	sup_exit_kind_t kind = sup_exit_classify(wstatus);
	char reason[512];
	sup_verdict_t v;

	if (c->restart_after_stop)
		kind = SUP_EXIT_CRASH; /* killed for missing its ready timeout */
	c->restart_after_stop = false;
	sup_policy_on_exit(&c->policy, &c->node->policy_cfg, kind, uptime_ms, now_ms, &v);
	switch (v.decision) {
	case SUP_DECISION_RESTART:
		ck_log(CK_LOG_WARN,
		       "child %s %s%s, restarting in %llu ms uptime_ms=%llu "
		       "crashes_in_window=%u",
		       c->name, c->last_exit, kind == SUP_EXIT_STOPPED ? " unasked" : "",
		       (unsigned long long)v.delay_ms, (unsigned long long)uptime_ms,
		       v.crashes_in_window);
		sup_child_set_state(c, SUP_STATE_BACKOFF);
		sup_child_arm(c, v.delay_ms);
		sup_node_status_upward(c->node);
		return;
	case SUP_DECISION_GIVE_UP:
		sup_child_set_state(c, SUP_STATE_FAILED);
		snprintf(reason, sizeof(reason),
		         "child %s crashed %u times within %d ms "
		         "(restart_burst %d), last: %s",
		         c->name, v.crashes_in_window, c->node->cfg.restart_window_ms,
		         c->node->cfg.restart_burst, c->last_exit);
		sup_node_stop(c->node, CK_EXIT_RESTART, reason);
		return;
	case SUP_DECISION_FATAL:
		sup_child_set_state(c, SUP_STATE_FAILED);
		snprintf(reason, sizeof(reason), "child %s failed fatally: %s%s%s", c->name,
		         c->last_exit, c->status_text[0] ? ": " : "", c->status_text);
		sup_node_stop(c->node, CK_EXIT_FATAL, reason);
		return;
	}
}

static void sup_child_reaped(sup_child_t *c, int wstatus)
{
	uint64_t now_ms = ck_clock_mono_ms();
	uint64_t uptime_ms = sup_child_uptime_ms(c, now_ms);

	sup_child_notify_drain(c); /* its last STATUS= explains the exit */
	(void)evtimer_del(c->timer);
	if (c->supervisor_fd >= 0)
		(void)close(c->supervisor_fd);
	c->supervisor_fd = -1;
	sup_exit_describe(wstatus, c->last_exit, sizeof(c->last_exit));
	if (c->node->phase == SUP_PHASE_STOPPING) {
		/* A child that does not exit 0 when asked to stop did not finish
		 * its shutdown (or was killed at stop_timeout_ms): say so. */
		bool clean = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;

		ck_log(clean ? CK_LOG_INFO : CK_LOG_WARN, "child %s %s pid=%d%s", c->name,
		       c->last_exit, (int)c->pid,
		       clean ? "" : " (while stopping: not a clean exit)");
		sup_child_set_state(c, SUP_STATE_STOPPED);
		c->pid = 0;
		sup_node_stop_next(c->node);
		return;
	}
	/* Keep the pid in the state-change line, then forget it. */
	sup_child_died(c, wstatus, uptime_ms, now_ms);
	c->pid = 0;
}

static void sup_node_reap(sup_node_t *node)
{
	int wstatus;
	pid_t pid;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		bool ours = false;

		for (int i = 0; i < CK_CHILD_COUNT; i++) {
			sup_child_t *c = &node->children[i];

			if (c->pid == pid) {
				sup_child_reaped(c, wstatus);
				ours = true;
				break;
			}
		}
		if (!ours)
			ck_log(CK_LOG_DEBUG, "reaped unknown pid=%d", (int)pid);
	}
}

static void sup_child_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	sup_child_t *c = arg;

	(void)fd;
	(void)what;
	switch (c->state) {
	case SUP_STATE_BACKOFF:
		sup_child_start(c);
		break;
	case SUP_STATE_STARTING:
		ck_log(CK_LOG_ERROR, "child %s not ready within %d ms, stopping it pid=%d", c->name,
		       c->node->cfg.ready_timeout_ms, (int)c->pid);
		c->restart_after_stop = true;
		sup_child_stop(c);
		break;
	case SUP_STATE_STOPPING:
		ck_log(CK_LOG_WARN, "child %s did not stop within %d ms, killing it pid=%d",
		       c->name, c->node->cfg.stop_timeout_ms, (int)c->pid);
		if (kill(-c->pid, SIGKILL) < 0)
			(void)kill(c->pid, SIGKILL);
		break;
	default:
		break;
	}
}

static void sup_drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	sup_node_t *node = arg;

	(void)fd;
	(void)what;
	ck_log(CK_LOG_WARN, "controlled shutdown timed out ms=%llu: stopping anyway",
	       (unsigned long long)(ck_clock_mono_ms() - node->drain_start_ms));
	sup_node_stop(node, 0, node->stop_reason);
}

/*
 * A cluster node stopped by a signal first has raftd move its partition
 * leadership away (Kafka's controlled shutdown): SIGUSR2 to a ready raftd,
 * then the children stop once it answers CHRONIK_DRAINED=1, after the
 * broker session plus a second at most, or at a second signal. Returns
 * false when there is nothing to drain (a single node, raftd not ready).
 */
static bool sup_node_drain(sup_node_t *node, const char *reason)
{
	sup_child_t *r = &node->children[CK_CHILD_RAFTD];
	int64_t ms = CK_MAX((int64_t)node->cfg.metadata_broker_session_ms + 1000, (int64_t)2000);
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	if (node->cfg.peer_count < 2 || node->phase != SUP_PHASE_RUNNING ||
	    r->state != SUP_STATE_READY || r->pid <= 0)
		return false;
	if (!node->drain_ev)
		node->drain_ev = evtimer_new(node->base, sup_drain_timeout_cb, node);
	if (!node->drain_ev || evtimer_add(node->drain_ev, &tv) < 0 || kill(r->pid, SIGUSR2) < 0)
		return false;
	node->draining = true;
	node->drain_start_ms = ck_clock_mono_ms();
	snprintf(node->stop_reason, sizeof(node->stop_reason), "%s", reason);
	ck_log(CK_LOG_INFO, "controlled shutdown: moving partition leadership away (%s)", reason);
	(void)ck_notify("STOPPING=1");
	return true;
}

static void sup_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	sup_node_t *node = arg;
	int r;

	(void)what;
	switch (sig) {
	case SIGCHLD:
		sup_node_reap(node);
		break;
	case SIGHUP:
		r = ck_log_reopen();
		ck_log(r < 0 ? CK_LOG_WARN : CK_LOG_INFO, "sighup: log reopened%s%s",
		       r < 0 ? " error=" : "", r < 0 ? ck_strerror(r) : "");
		for (int i = 0; i < CK_CHILD_COUNT; i++) {
			if (node->children[i].pid > 0)
				(void)kill(node->children[i].pid, SIGHUP);
		}
		break;
	default: {
		char reason[64];

		if (node->phase == SUP_PHASE_STOPPING) {
			ck_log(CK_LOG_INFO, "already stopping signal=SIG%s",
			       sigabbrev_np((int)sig));
			break;
		}
		snprintf(reason, sizeof(reason), "received SIG%s", sigabbrev_np((int)sig));
		if (node->draining) {
			ck_log(CK_LOG_INFO, "second signal: controlled shutdown cut short");
			sup_node_stop(node, 0, reason);
		} else if (!sup_node_drain(node, reason)) {
			sup_node_stop(node, 0, reason);
		}
		break;
	}
	}
}

static void sup_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	(void)ck_notify("WATCHDOG=1");
}

/* A ready child whose keepalives stopped (SIGSTOP, a blocked event loop)
 * is logged once, and again when it answers; the operator's /health and
 * chronik_child_up show it (sup_child_live). One silent for hang_kill_ms
 * (sup_hang_check) is killed: the restart policy brings it back, instead
 * of the partitions and requests it serves waiting as long as it hangs. */
static void sup_live_cb(evutil_socket_t fd, short what, void *arg)
{
	sup_node_t *node = arg;
	uint64_t now = ck_clock_mono_ms();

	(void)fd;
	(void)what;
	for (int i = 0; i < CK_CHILD_COUNT; i++) {
		sup_child_t *c = &node->children[i];
		bool silent = c->state == SUP_STATE_READY && !sup_child_live(c, now);

		if (silent && !c->silent)
			ck_log(CK_LOG_WARN,
			       "child %s not responding for %lld ms (stopped, or its event loop "
			       "blocked) pid=%d",
			       c->name, (long long)sup_child_silent_ms(c, now), (int)c->pid);
		else if (!silent && c->silent && c->state == SUP_STATE_READY)
			ck_log(CK_LOG_INFO, "child %s responding again pid=%d", c->name,
			       (int)c->pid);
		c->silent = silent;
		if (node->phase == SUP_PHASE_STOPPING || c->state != SUP_STATE_READY || !c->pid ||
		    !sup_hang_check(&c->hang, c->alive_ms, now, (uint64_t)node->cfg.hang_kill_ms))
			continue;
		ck_log(CK_LOG_ERROR,
		       "child %s hung: no keepalive for %lld ms (hang_kill_ms %d), killing it to "
		       "restart it pid=%d",
		       c->name, (long long)sup_child_silent_ms(c, now), node->cfg.hang_kill_ms,
		       (int)c->pid);
		(void)kill(c->pid, SIGKILL);
		c->hang = (sup_hang_t){0};
	}
}

static int sup_node_events(sup_node_t *node)
{
	struct timeval live = {1, 0};

	static const int sigs[4] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};

	node->base = event_base_new();
	if (!node->base)
		return -ENOMEM;
	for (int i = 0; i < 4; i++) {
		node->sig_evs[i] = evsignal_new(node->base, sigs[i], sup_signal_cb, node);
		if (!node->sig_evs[i] || evsignal_add(node->sig_evs[i], NULL) < 0)
			return -ENOMEM;
	}
	for (int i = 0; i < CK_CHILD_COUNT; i++) {
		sup_child_t *c = &node->children[i];

		c->timer = evtimer_new(node->base, sup_child_timer_cb, c);
		c->notify_ev = event_new(node->base, c->notify_fd, EV_READ | EV_PERSIST,
		                         sup_child_notify_cb, c);
		if (!c->timer || !c->notify_ev || event_add(c->notify_ev, NULL) < 0)
			return -ENOMEM;
	}
	node->live_ev = event_new(node->base, -1, EV_PERSIST, sup_live_cb, node);
	if (!node->live_ev || event_add(node->live_ev, &live) < 0)
		return -ENOMEM;
	node->watchdog_usec = node->cfg.watchdog_ms > 0 ? (uint64_t)node->cfg.watchdog_ms * 2000u
	                                                : ck_notify_watchdog_usec();
	if (node->watchdog_usec > 0) {
		uint64_t half = node->watchdog_usec / 2;
		struct timeval tv = {.tv_sec = (time_t)(half / 1000000),
		                     .tv_usec = (suseconds_t)(half % 1000000)};

		node->watchdog_ev = event_new(node->base, -1, EV_PERSIST, sup_watchdog_cb, node);
		if (!node->watchdog_ev || event_add(node->watchdog_ev, &tv) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void sup_node_events_free(sup_node_t *node)
{
	for (int i = 0; i < CK_CHILD_COUNT; i++) {
		sup_child_t *c = &node->children[i];

		if (c->timer)
			event_free(c->timer);
		if (c->notify_ev)
			event_free(c->notify_ev);
	}
	ck_signals_quiet_exit();
	for (int i = 0; i < 4; i++) {
		if (node->sig_evs[i])
			event_free(node->sig_evs[i]);
	}
	ck_signals_quiet_exit_done();
	if (node->watchdog_ev)
		event_free(node->watchdog_ev);
	if (node->live_ev)
		event_free(node->live_ev);
	if (node->drain_ev)
		event_free(node->drain_ev);
	if (node->base)
		event_base_free(node->base);
}

/* The kernel's ceiling for RLIMIT_NOFILE (fs.nr_open), or CAP. */
static rlim_t sup_nr_open(rlim_t cap)
{
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");
	unsigned long long v = 0;

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		(void)fclose(f);
	}
	return v > 0 && (rlim_t)v < cap ? (rlim_t)v : cap;
}

/* Raises the limit of open files to 2^20 (at most fs.nr_open), for this
 * process and the children it starts: a broker holds a connection per
 * client and walwriter three files per log with data (10,000 partitions
 * take 30,000), and a login shell's 1024, or a container's 20,000, are
 * too few. The hard limit too where allowed (root, CAP_SYS_RESOURCE), else
 * the soft one up to the hard one. */
static void sup_raise_nofile(void)
{
	const rlim_t cap = sup_nr_open((rlim_t)1 << 20);
	struct rlimit rl;
	rlim_t from;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return;
	from = rl.rlim_cur;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < cap) {
		struct rlimit up = {cap, cap};

		if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
			ck_log(CK_LOG_INFO, "open file limit raised from=%llu to=%llu",
			       (unsigned long long)from, (unsigned long long)cap);
			return;
		}
	}
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > cap ? cap : rl.rlim_max;
	if (rl.rlim_cur <= from)
		return;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		ck_log(CK_LOG_WARN, "cannot raise the open file limit from=%llu err=\"%s\"",
		       (unsigned long long)from, strerror(errno));
	else
		ck_log(CK_LOG_INFO, "open file limit raised from=%llu to=%llu",
		       (unsigned long long)from, (unsigned long long)rl.rlim_cur);
}

int sup_node_run(const sup_start_opts_t *opts)
{
	static sup_node_t node; /* large (paths); one per process */
	int r;

	sup_node_init(&node);
	(void)signal(SIGPIPE, SIG_IGN);
	r = sup_node_setup(&node, opts);
	if (r)
		goto out;
	r = sup_node_events(&node);
	if (r == 0)
		r = sup_control_start(&node);
	if (r < 0) {
		fprintf(stderr, "chronik-server: cannot set up the event loop: %s\n",
		        ck_strerror(r));
		r = 1;
		goto out;
	}
	node.started_ms = ck_clock_mono_ms();
	ck_log(CK_LOG_INFO, "starting node node_id=%d data_dir=%s config=%s version=%s",
	       node.cfg.node_id, node.data_dir,
	       node.config_path[0] ? node.config_path : "<embedded default>", CHRONIK_VERSION);
	sup_raise_nofile();
	node.phase = SUP_PHASE_STARTING;
	sup_node_advance(&node);
	(void)event_base_dispatch(node.base);
	r = node.exit_code;
	if (r)
		fprintf(stderr, "chronik-server: node stopped: %s\n", node.stop_reason);
	ck_log(r ? CK_LOG_ERROR : CK_LOG_INFO, "node stopped exit_code=%d reason=\"%s\"", r,
	       node.stop_reason);
out:
	sup_control_stop(&node);
	sup_node_events_free(&node);
	sup_node_teardown(&node);
	return r;
}
