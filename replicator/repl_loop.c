/*
 * repl_loop.c: the libevent shell of chronik-replicator (see repl_loop.h
 * and repl_shell.h for how the shell files divide the work).
 *
 * Owned by replicator. The shared shell (event base, signals, sockets passed
 * by name or bound standalone, neighbour clients, READY=1/STATUS=) is
 * common/ck_daemon; this file wires the replicator's parts into it:
 *   - a flush event that publishes the core's changes once per burst of
 *     input (every walwriter frame schedules it, so a group commit touching
 *     many logs gives one pass);
 *   - a timer (checkpoint_interval_ms) that advances the core's clock,
 *     re-reads the metadata if raftd's applied index moved without an
 *     event reaching us, checkpoints HW and refreshes STATUS= (counting
 *     partitions is a walk of the table: not per flush);
 *   - the stop sequence: publish, checkpoint, then leave the loop.
 * Connections on the TCP replication listener are closed politely: the
 * follower fetch protocol is the next issue.
 * Not for: the HW rule (repl_core.h), IPC message handling (repl_wal.c,
 * repl_meta.c, repl_serve.c).
 */
#include "repl_loop.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "ck_notify.h"
#include "repl_shell.h"

#define REPL_TIMER_MIN_MS 10

/* The role across partitions: what CHRONIK_ROLE reports. */
static const char *repl_role_summary(size_t parts, size_t led)
{
	if (parts == 0)
		return "none";
	if (led == parts)
		return "leader";
	return led == 0 ? "follower" : "leader+follower";
}

void repl_shell_status(repl_shell_t *s)
{
	char what[sizeof(s->status_what)];
	size_t led = 0, parts = repl_core_count(s->core, &led);
	const char *role = repl_role_summary(parts, led);

	snprintf(what, sizeof(what), "%s%zu partitions, %zu led, %zu under-replicated",
	         s->wal_synced ? "" : "waiting for walwriter; ", parts, led, s->under_replicated);
	if (!strcmp(what, s->status_what) && !strcmp(role, s->status_role))
		return;
	snprintf(s->status_what, sizeof(s->status_what), "%s", what);
	snprintf(s->status_role, sizeof(s->status_role), "%s", role);
	ck_daemon_set_status(s->d, s->status_what, s->status_role);
}

void repl_shell_flush(repl_shell_t *s)
{
	repl_state_t st;

	while (repl_core_change_next(s->core, &st)) {
		if (st.deleted) {
			repl_ckpt_forget(s, st.topic, st.partition);
			repl_repl_forget(s, st.topic, st.partition);
		} else {
			repl_repl_touch(s, st.topic, st.partition);
		}
		/* A role change, not a new partition's first metadata. */
		if (st.prev_visible && st.prev_meta &&
		    (st.prev_leader != st.leader || st.prev_epoch != st.leader_epoch))
			ck_log(CK_LOG_INFO,
			       "partition role partition=%s-%d role=%s -> %s epoch=%d -> %d",
			       st.topic, (int)st.partition, st.prev_leader ? "leader" : "follower",
			       st.leader ? "leader" : "follower", (int)st.prev_epoch,
			       (int)st.leader_epoch);
		ck_log(CK_LOG_DEBUG,
		       "partition state partition=%s-%d hw=%" PRId64 " log_start=%" PRId64
		       " leader=%d epoch=%d isr=%d deleted=%d",
		       st.topic, (int)st.partition, st.high_watermark, st.log_start_offset,
		       (int)st.leader, (int)st.leader_epoch, (int)st.isr_size, (int)st.deleted);
		repl_serve_publish(s, &st);
	}
	repl_repl_flush(s);
}

static void repl_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	repl_shell_flush(arg);
}

void repl_shell_schedule(repl_shell_t *s)
{
	if (s->flush_ev)
		event_active(s->flush_ev, EV_TIMEOUT, 0);
}

static void repl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	repl_shell_t *s = arg;

	(void)fd;
	(void)what;
	repl_core_tick(s->core, ck_clock_mono_ms());
	(void)repl_meta_refresh(s, false);
	(void)repl_ckpt_write(s);
	repl_shell_status(s);
}

/* SIGTERM/SIGINT or the supervisor gone: the last HWs go to LMDB first. */
static void repl_on_stop(void *arg)
{
	repl_shell_t *s = arg;

	if (s->stopping)
		return;
	s->stopping = true;
	(void)ck_notify("STOPPING=1");
	if (repl_ckpt_write(s) == 0)
		ck_log(CK_LOG_INFO, "checkpoint written at stop partitions=%zu",
		       repl_core_count(s->core, NULL));
	(void)event_base_loopexit(s->base, NULL);
}

static int repl_loop_events(repl_shell_t *s)
{
	int32_t ms = CK_MAX(s->cfg->checkpoint_interval_ms, REPL_TIMER_MIN_MS);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	s->flush_ev = event_new(s->base, -1, 0, repl_flush_cb, s);
	s->timer_ev = event_new(s->base, -1, EV_PERSIST, repl_timer_cb, s);
	s->meta_ev = evtimer_new(s->base, repl_meta_later_cb, s);
	if (!s->flush_ev || !s->timer_ev || !s->meta_ev || event_add(s->timer_ev, &tv) < 0)
		return -ENOMEM;
	return 0;
}

static int repl_loop_setup(repl_shell_t *s)
{
	const ck_daemon_opts_t opts = {
	    .name = "replicator", .cfg = s->cfg, .on_stop = repl_on_stop, .arg = s};
	int r;

	r = ck_daemon_new(&opts, &s->d);
	if (r < 0)
		return r;
	s->base = ck_daemon_base(s->d);
	r = repl_core_new(s->cfg->node_id, &s->core);
	if (r < 0)
		return r;
	repl_core_tick(s->core, ck_clock_mono_ms());
	r = repl_meta_open(s);
	if (r < 0)
		return r;
	/* Metadata first, so logs listed later start with their roles. */
	(void)repl_meta_refresh(s, true);
	r = repl_loop_events(s);
	if (r < 0)
		return r;
	repl_shell_status(s);
	r = repl_repl_start(s);
	if (r < 0)
		return r;
	r = ck_daemon_listen_local(s->d, "replicator", &repl_serve_handlers, s);
	if (r < 0)
		return r;
	r = ck_daemon_peer_add(s->d, "walwriter", &repl_wal_handlers, s, &s->walwriter);
	if (r < 0)
		return r;
	return ck_daemon_peer_add(s->d, "raftd", &repl_raftd_handlers, s, &s->raftd);
}

static void repl_loop_free(repl_shell_t *s)
{
	if (s->flush_ev)
		event_free(s->flush_ev);
	if (s->timer_ev)
		event_free(s->timer_ev);
	if (s->meta_ev)
		event_free(s->meta_ev);
	s->flush_ev = s->timer_ev = s->meta_ev = NULL;
	repl_repl_stop(s);
	repl_serve_reset(s);
}

int repl_loop_run(const ck_config_t *cfg)
{
	static repl_shell_t s;
	int r;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	r = repl_loop_setup(&s);
	if (r == 0) {
		ck_log(CK_LOG_INFO, "ready node_id=%d replication=%s checkpoint_interval_ms=%d",
		       cfg->node_id, cfg->replication_listen, (int)cfg->checkpoint_interval_ms);
		ck_daemon_run(s.d);
	}
	repl_loop_free(&s);
	r = ck_daemon_exit(s.d, "replicator", r);
	repl_meta_close(&s);
	repl_core_free(s.core);
	return r;
}
