/*
 * raftd_node.c: start-up, the Ready cycle and proposals of chronik-raftd's
 * metadata service (see raftd_node.h).
 *
 * Owned by raftd. The Ready cycle follows raft_core.h: take a Ready,
 * install its snapshot (raftd_node_snap.c), save the hard state (only when
 * term or vote changed: commit is advisory), append its entries through
 * raftd_store (asynchronously: the core waits, proposals and messages pile
 * up in the shell and form the next append), then send (raftd_node_net.c),
 * queue the committed entries for raftd_exec.c, note the soft state and
 * advance. Applying runs beside the cycle, so the next append overlaps the
 * previous apply round.
 * Invariants: proposals in `inflight` are in index order; nothing calls
 * the core between raft_ready() and raft_advance() (ready_pending), and
 * raftd_node_pump() never nests (in_pump).
 * Not for: apply rounds (raftd_exec.c), client sockets (raftd_service.c),
 * the network (raftd_node_net.c), snapshots (raftd_node_snap.c).
 */
#define CK_LOG_SUBSYSTEM "node"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_daemon.h"
#include "ck_dataid.h"
#include "ck_err.h"
#include "ck_log.h"
#include "ck_metacmd.h"
#include "raftd_feed.h"
#include "raftd_hs.h"
#include "raftd_node_int.h"

#define RAFTD_TICK_MS         100
#define RAFTD_ELECTION_TICKS  10
/* Followers learn of a commit that may wait (raftd_node_commit_can_wait)
 * at most this much later, with the next entries or alone. */
#define RAFTD_COMMIT_WAIT_US 2000
/* A follower that has not heard from its leader for longer than this
 * (heartbeats go every tick) no longer names it as the controller: eight
 * missed heartbeats, under the shortest election timeout (a leader busy
 * applying a large delete for 300 ms was taken for gone, and clients'
 * admin connections were closed). A closed connection counts at once. */
#define RAFTD_CONTACT_TICKS 8
#define RAFTD_ENTRY_BYTES_MAX (1u << 20)
/* Committed entries waiting for their apply round, at most, before the
 * shell stops feeding proposals to the core. */
#define RAFTD_APPLY_BACKLOG_MAX  16384
#define RAFTD_READER_CHECK_TICKS 100
/* Every this many ticks the data id is read again: walwriter draws a new
 * one when a restart of its own finds a log below its checkpoint
 * (ck_dataid.h), and the broker registers again with it. */
#define RAFTD_DATAID_CHECK_TICKS 10
/* Messages stepped into the core per Ready, at most. */
#define RAFTD_STEP_BATCH 256
/* A proposal in no log after this long is answered CK_E_NOT_LEADER. */
#define RAFTD_QUEUE_WAIT_MS 10000

/* ---- proposals ---- */

void raftd_list_push(raftd_prop_list_t *l, raftd_prop_t *p)
{
	p->next = NULL;
	if (l->tail)
		l->tail->next = p;
	else
		l->head = p;
	l->tail = p;
	l->n++;
}

raftd_prop_t *raftd_list_pop(raftd_prop_list_t *l)
{
	raftd_prop_t *p = l->head;

	if (!p)
		return NULL;
	l->head = p->next;
	if (!l->head)
		l->tail = NULL;
	l->n--;
	return p;
}

void raftd_list_insert_sorted(raftd_prop_list_t *l, raftd_prop_t *p)
{
	raftd_prop_t **at = &l->head;

	if (!l->tail || l->tail->index <= p->index)
		return raftd_list_push(l, p);
	while (*at && (*at)->index <= p->index)
		at = &(*at)->next;
	p->next = *at;
	*at = p;
	l->n++;
}

void raftd_prop_finish(raftd_prop_t *p, int err, uint64_t index, const raftd_apply_result_t *res)
{
	if (p->metrics)
		raftd_metrics_observe(p->metrics, (raftd_op_t)p->op, p->remote, err,
		                      res ? res->result : 0,
		                      ck_clock_mono_ns() / 1000 - p->created_us);
	if (p->urgent)
		(*p->urgent)--;
	p->cb(p->arg, err, index, res);
	free(p->data);
	free(p);
}

static void raftd_list_fail(raftd_prop_list_t *l, int err)
{
	raftd_prop_t *p;

	while ((p = raftd_list_pop(l)) != NULL)
		raftd_prop_finish(p, err, p->index, NULL);
}

void raftd_node_requeue(struct raftd_node *n, raftd_prop_t *p)
{
	p->fwd_id = 0;
	p->index = 0;
	p->term = 0;
	p->next = n->queued.head;
	n->queued.head = p;
	if (!n->queued.tail)
		n->queued.tail = p;
	n->queued.n++;
}

/* Answers the proposals of L for which EXPIRED(p, NOW) says so, with ERR. */
static void raftd_list_expire(raftd_prop_list_t *l, uint64_t limit_ms, bool by_created,
                              uint64_t now_ms, int err)
{
	raftd_prop_t **at = &l->head, *prev = NULL;

	while (*at) {
		raftd_prop_t *p = *at;
		uint64_t t = by_created ? p->created_ms + limit_ms : p->deadline_ms;

		if (t > now_ms) {
			prev = p;
			at = &p->next;
			continue;
		}
		*at = p->next;
		if (l->tail == p)
			l->tail = prev;
		l->n--;
		raftd_prop_finish(p, err, p->index, NULL);
	}
}

/* Answers proposals that waited too long: in no log (never done:
 * CK_E_NOT_LEADER, retriable) or in a log (outcome unknown). */
static void raftd_props_expire(struct raftd_node *n, uint64_t now_ms)
{
	raftd_list_expire(&n->queued, RAFTD_QUEUE_WAIT_MS, true, now_ms, CK_E_NOT_LEADER);
	raftd_list_expire(&n->inflight, 0, false, now_ms, CK_E_TIMEOUT);
	if (n->net)
		(void)raftd_node_net_expire(n, now_ms);
}

static void raftd_node_check_serving(struct raftd_node *n);

/* How long a deletion's answer waits for the other brokers to apply it. */
#define RAFTD_DELETE_HOLD_MS 5000

/* A topic deletion is answered once the brokers have applied it too, not
 * only this one: a client that deletes a topic and creates it again at
 * once (the controller answers both) would otherwise still find the old
 * topic on a broker that had not applied the deletion yet, and its
 * produces to the old log there were acknowledged and then deleted with
 * it. Kafka's ZooKeeper controller answered DeleteTopics once the
 * replicas were gone too. Whether P (answered with RES) is held. */
static bool raftd_node_hold(struct raftd_node *n, raftd_prop_t *p, const raftd_apply_result_t *res)
{
	uint64_t now = ck_clock_mono_ms();

	if (p->op != RAFTD_OP_DELETE_TOPIC || n->role != RAFT_LEADER || n->stopping ||
	    n->cfg->peer_count <= 1 || res->result != 0 || raftd_ctl_all_applied(n, p->index, now))
		return false;
	p->has_result = true;
	p->result = *res;
	p->hold_until_ms = now + RAFTD_DELETE_HOLD_MS;
	raftd_list_push(&n->held, p);
	return true;
}

void raftd_node_held_check(struct raftd_node *n)
{
	uint64_t now = ck_clock_mono_ms();
	raftd_prop_t *p;

	/* In index order, and a broker that applied one applied the earlier. */
	while ((p = n->held.head) != NULL &&
	       (n->role != RAFT_LEADER || n->stopping || now >= p->hold_until_ms ||
	        raftd_ctl_all_applied(n, p->index, now))) {
		raftd_list_pop(&n->held);
		raftd_prop_finish(p, 0, p->index, &p->result);
	}
}

void raftd_node_answer(struct raftd_node *n, size_t count)
{
	uint64_t now_us = ck_clock_mono_ns() / 1000;

	for (size_t k = 0; k < count; k++) {
		const raftd_item_t *it = &n->items[n->item_head + k];

		while (n->inflight.head && n->inflight.head->index <= it->index) {
			raftd_prop_t *p = raftd_list_pop(&n->inflight);

			/* Another leader's entry took this index: ours is gone. */
			if (p->index == it->index && p->term == it->term) {
				if (raftd_node_hold(n, p, &n->results[k]))
					continue;
				raftd_prop_finish(p, 0, it->index, &n->results[k]);
				n->fed_answered++;
				n->answered_us = now_us;
			} else {
				raftd_prop_finish(p, CK_E_NOT_LEADER, p->index, NULL);
			}
		}
	}
	raftd_node_check_serving(n);
}

void raftd_node_answer_covered(struct raftd_node *n, uint64_t index)
{
	while (n->inflight.head && n->inflight.head->index <= index) {
		raftd_prop_t *p = raftd_list_pop(&n->inflight);

		/* Without a result its fate is in the snapshot, unknown
		 * here: not CK_E_NOT_LEADER, which says "never applied". */
		if (p->has_result)
			raftd_prop_finish(p, 0, p->index, &p->result);
		else
			raftd_prop_finish(p, CK_E_TIMEOUT, p->index, NULL);
	}
}

void raftd_node_fatal(struct raftd_node *n, int err, const char *why)
{
	int code = err == CK_E_CORRUPT || err == CK_E_CONFIG ? CK_EXIT_FATAL : CK_EXIT_RESTART;

	if (n->failed)
		return;
	n->failed = true;
	ck_log(CK_LOG_ERROR, "%s: %s", why, ck_strerror(err));
	if (n->h.on_fatal)
		n->h.on_fatal(n->arg, err, code);
}

/* Whether the leader holds its queue back for a fuller round now
 * (raftd_feed.h); starts the hold's timer. */
static bool raftd_node_feed_hold(struct raftd_node *n)
{
	raftd_feed_t f = {n->queued.n, n->inflight.n, n->fed_answered, n->answered_us};
	uint64_t now_us = ck_clock_mono_ns() / 1000;

	if (n->feed_over || n->stopping || !n->feed_ev || !raftd_feed_hold(&f, now_us))
		goto feed;
	if (!evtimer_pending(n->feed_ev, NULL)) {
		struct timeval tv = {0, RAFTD_FEED_GAP_US};

		n->hold_us = now_us;
		(void)evtimer_add(n->feed_ev, &tv);
	}
	return true;
feed:
	n->feed_over = false;
	if (n->feed_ev)
		(void)evtimer_del(n->feed_ev);
	return false;
}

static void raftd_feed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raftd_node *n = arg;
	raftd_feed_t f = {n->queued.n, n->inflight.n, n->fed_answered, n->answered_us};
	uint64_t wait = raftd_feed_wait_us(&f, n->hold_us, n->queued_us, ck_clock_mono_ns() / 1000);

	(void)fd;
	(void)what;
	if (wait > 0) { /* proposals still coming, within the bound */
		struct timeval tv = {0, (suseconds_t)wait};

		(void)evtimer_add(n->feed_ev, &tv);
		return;
	}
	n->feed_over = true;
	raftd_node_pump(n);
}

/* Hands queued proposals to the core while it takes them (leader), or
 * forwards them to the leader (follower). */
static void raftd_node_feed(struct raftd_node *n)
{
	raft_status_t st;

	if (n->role != RAFT_LEADER) {
		if (n->net)
			raftd_node_net_forward(n);
		return;
	}
	if (!n->queued.head || raftd_node_feed_hold(n))
		return;
	raft_status(n->raft, &st);
	while (n->queued.head && raftd_exec_backlog(n) < RAFTD_APPLY_BACKLOG_MAX) {
		raftd_prop_t *p = n->queued.head;
		uint64_t index;
		int r;

		if (p->only_term != 0 && p->only_term != st.term) {
			/* A controller decision of an earlier term of ours. */
			(void)raftd_list_pop(&n->queued);
			raftd_prop_finish(p, CK_E_NOT_LEADER, 0, NULL);
			continue;
		}
		r = raft_propose(n->raft, p->data, p->len, &index);

		if (r == CK_E_AGAIN || r == CK_E_NOT_LEADER)
			break;
		(void)raftd_list_pop(&n->queued);
		n->fed_answered = 0;
		if (r < 0) {
			raftd_prop_finish(p, r, 0, NULL);
			continue;
		}
		p->index = index;
		p->term = st.term;
		free(p->data);
		p->data = NULL;
		raftd_list_insert_sorted(&n->inflight, p);
	}
}

/* ---- the Ready cycle ---- */

static int raftd_node_save_hs(struct raftd_node *n, const raft_hard_state_t *hs)
{
	int r;

	if (n->has_hs && hs->term == n->hs.term && hs->vote == n->hs.vote) {
		n->hs.commit = hs->commit;
		return 0;
	}
	r = raftd_hs_save(n->cfg->data_dir, hs);
	if (r == 0) {
		n->hs = *hs;
		n->has_hs = true;
	}
	return r;
}

static void raftd_node_soft_state(struct raftd_node *n, const raft_soft_state_t *ss)
{
	raft_status_t st;
	bool leader_changed = ss->leader != n->leader;

	raft_status(n->raft, &st);
	if (ss->role != n->role) {
		ck_log(CK_LOG_INFO, "role %s -> %s term=%llu leader=%llu", raft_role_name(n->role),
		       raft_role_name(ss->role), (unsigned long long)st.term,
		       (unsigned long long)ss->leader);
		if (ss->role == RAFT_LEADER) {
			/* Our no-op is the last entry: once it is applied, every
			 * older entry is too (the replay after a restart). */
			n->lead_index = st.last_index;
			if (!n->net)
				n->registered = false;
			n->reconcile_wanted = true;
			raftd_ctl_reset(n);
		}
	} else if (leader_changed) {
		ck_log(CK_LOG_INFO, "leader %llu -> %llu term=%llu", (unsigned long long)n->leader,
		       (unsigned long long)ss->leader, (unsigned long long)st.term);
	}
	raftd_metrics_soft_state(&n->metrics, n->role, n->leader, ss->role, ss->leader,
	                         ck_clock_mono_ms());
	n->role = ss->role;
	n->leader = ss->leader;
	if (leader_changed && n->net)
		raftd_node_net_leader_changed(n);
	if (n->h.on_status)
		n->h.on_status(n->arg);
}

/* How many of the Ready's committed entries (a prefix) are in the local
 * log already, durably, and stay there. */
static size_t raftd_node_durable_committed(struct raftd_node *n, const raft_ready_t *rd)
{
	uint64_t durable = raftd_store_last_index(n->store);
	size_t k = 0;

	if (rd->has_snapshot)
		return 0; /* the log is about to be replaced */
	if (rd->n_entries && rd->entries[0].index <= durable)
		durable = rd->entries[0].index - 1;
	while (k < rd->n_committed && rd->committed[k].index <= durable)
		k++;
	return k;
}

/* The Ready's entries are durable: apply the rest, send, note the soft
 * state, advance. */
static void raftd_node_ready_finish(struct raftd_node *n)
{
	const raft_ready_t *rd = &n->rd;
	int r;

	if (n->ready_early < rd->n_committed) {
		r = raftd_exec_push(n, rd->committed + n->ready_early,
		                    rd->n_committed - n->ready_early);
		if (r < 0)
			return raftd_node_fatal(n, r, "cannot queue committed entries");
	}
	if (!n->ready_sent)
		raftd_node_net_send(n, rd);
	if (rd->has_soft_state)
		raftd_node_soft_state(n, &rd->soft_state);
	raft_advance(n->raft, rd);
	n->ready_pending = false;
	raftd_exec_kick(n);
}

void raftd_node_ready_continue(struct raftd_node *n)
{
	raft_ready_t *rd = &n->rd;
	int r;

	if (rd->has_snapshot && !n->ready_snap_done) {
		if (RAFTD_EXEC_BUSY(n)) {
			n->ready_wait_exec = true; /* raftd_exec_kick() comes back */
			return;
		}
		r = raftd_node_snap_install(n, &rd->snapshot);
		if (r < 0)
			return raftd_node_fatal(n, r, "cannot install a snapshot");
		n->ready_snap_done = true;
	}
	if (rd->has_hard_state) {
		r = raftd_node_save_hs(n, &rd->hard_state);
		if (r < 0)
			return raftd_node_fatal(n, r, "cannot save the raft hard state");
	}
	/* A leader's messages go out before its own append (Raft thesis
	 * 10.2.1): its followers write while it writes, and it counts itself
	 * toward a quorum only once its append is durable (raft_advance).
	 * None of them acknowledges anything (the hard state, the one thing
	 * they may depend on, was saved just above). */
	n->ready_sent = false;
	if (rd->n_entries && raft_role(n->raft) == RAFT_LEADER && !rd->has_snapshot) {
		raftd_node_net_send(n, rd);
		n->ready_sent = true;
	}
	/* Committed entries this node persisted in an earlier Ready are
	 * applied at once: that keeps apply rounds overlapping the next
	 * group's fsync. The others (a follower learns of entries and their
	 * commit in one message) wait for this Ready's append: LMDB's
	 * applied_index must never run ahead of the local log, or a crash in
	 * between would leave a state the log cannot explain. */
	n->ready_early = raftd_node_durable_committed(n, rd);
	r = raftd_exec_push(n, rd->committed, n->ready_early);
	if (r < 0)
		return raftd_node_fatal(n, r, "cannot queue committed entries");
	raftd_exec_kick(n);
	if (rd->has_snapshot) {
		r = raftd_store_install(n->store, rd->snapshot.index, rd->snapshot.term,
		                        rd->entries, rd->n_entries);
		if (r < 0)
			raftd_node_fatal(n, r, "cannot install a snapshot in the metadata log");
		return; /* on_appended finishes */
	}
	if (rd->n_entries) {
		r = raftd_store_append(n->store, rd->entries, rd->n_entries);
		if (r < 0)
			raftd_node_fatal(n, r, "cannot append to the metadata log");
		return; /* on_appended finishes */
	}
	raftd_node_ready_finish(n);
}

/* Takes one Ready and starts its work. */
static void raftd_node_ready_take(struct raftd_node *n)
{
	int r = raft_ready(n->raft, &n->rd);

	if (r < 0)
		return raftd_node_fatal(n, r, "cannot read committed entries");
	n->ready_pending = true;
	n->ready_snap_done = false;
	raftd_node_ready_continue(n);
}

void raftd_node_report(struct raftd_node *n, raftd_report_kind_t kind, uint64_t peer,
                       uint64_t index)
{
	if (n->n_reports == RAFTD_REPORTS_MAX)
		return; /* all are advisory: the core recovers without them */
	n->reports[n->n_reports++] = (raftd_report_t){kind, peer, index};
}

static void raftd_node_reports(struct raftd_node *n)
{
	for (size_t i = 0; i < n->n_reports; i++) {
		const raftd_report_t *rp = &n->reports[i];

		switch (rp->kind) {
		case RAFTD_REPORT_UNREACHABLE:
			raft_report_unreachable(n->raft, rp->peer);
			break;
		case RAFTD_REPORT_SNAPSHOT_OK:
		case RAFTD_REPORT_SNAPSHOT_FAILED:
			raft_report_snapshot(n->raft, rp->peer,
			                     rp->kind == RAFTD_REPORT_SNAPSHOT_OK);
			break;
		case RAFTD_REPORT_RESTART:
			raft_report_restart(n->raft, rp->peer, rp->index);
			break;
		case RAFTD_REPORT_TRANSFER:
			if (raft_transfer_leader(n->raft, rp->peer) == 0)
				ck_log(CK_LOG_INFO, "handing leadership over to=%llu",
				       (unsigned long long)rp->peer);
			break;
		}
	}
	n->n_reports = 0;
}

/* Whether followers may learn of the leader's commits late (with the next
 * entries; raft_hold_commit): no write still on its way came through a
 * follower (which answers its client once it applied the write itself) or
 * changes what clients route by (a producer told of a new topic may go to
 * a follower next), and commit_ev has not fired. */
static bool raftd_node_commit_can_wait(const struct raftd_node *n)
{
	return n->role == RAFT_LEADER && !n->commit_due && !n->stopping && n->urgent_n == 0;
}

static void raftd_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raftd_node *n = arg;

	(void)fd;
	(void)what;
	n->commit_due = true;
	raftd_node_pump(n);
}

void raftd_node_pump(struct raftd_node *n)
{
	if (!n->raft || n->in_pump)
		return;
	n->in_pump = true;
	while (!n->ready_pending && !n->failed) {
		int stepped = 0;

		raftd_node_reports(n);
		for (; n->ticks_pending; n->ticks_pending--)
			raft_tick(n->raft);
		while (stepped++ < RAFTD_STEP_BATCH && raftd_node_net_step(n))
			;
		raftd_node_feed(n);
		raftd_node_snap_maybe(n);
		raft_hold_commit(n->raft, raftd_node_commit_can_wait(n));
		if (!raft_has_ready(n->raft)) {
			if (n->inbox_n && !n->failed)
				continue;
			break;
		}
		raftd_node_ready_take(n);
		n->commit_due = false;
	}
	if (n->commit_ev && raft_commit_owed(n->raft) && !evtimer_pending(n->commit_ev, NULL)) {
		struct timeval tv = {0, RAFTD_COMMIT_WAIT_US};

		(void)evtimer_add(n->commit_ev, &tv);
	}
	if (n->net && !n->ready_pending)
		raftd_node_net_forward(n);
	n->in_pump = false;
}

/* ---- the broker's own registration ---- */

static void raftd_register_cb(void *arg, int err, uint64_t index, const raftd_apply_result_t *res)
{
	struct raftd_node *n = arg;

	if (err == 0 && res->result == 0) {
		ck_log(CK_LOG_INFO, "broker registered id=%d index=%llu", n->cfg->node_id,
		       (unsigned long long)index);
		return;
	}
	if (err == CK_E_SHUTDOWN)
		return;
	ck_log(CK_LOG_WARN, "broker registration failed, retrying: %s",
	       err ? ck_strerror(err) : res->message);
	n->registered = false;
}

static void raftd_node_register(struct raftd_node *n)
{
	const ck_config_t *cfg = n->cfg;
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__RegisterBroker reg = CHRONIK__META__REGISTER_BROKER__INIT;
	Chronik__Meta__BrokerRecord b = CHRONIK__META__BROKER_RECORD__INIT;
	const char *kafka = cfg->kafka_advertised[0] ? cfg->kafka_advertised : cfg->kafka_listen;
	char host[CK_CONFIG_ADDR_MAX];
	uint8_t buf[1024];
	uint16_t port = 0;
	size_t len;
	int r;

	if (ck_config_split_addr(kafka, host, sizeof(host), &port) < 0)
		snprintf(host, sizeof(host), "%s", kafka);
	b.id = cfg->node_id;
	b.kafka_host = host;
	b.kafka_port = port;
	b.replication = (char *)cfg->replication_listen;
	b.raft = (char *)cfg->raft_listen;
	b.incarnation = n->incarnation;
	b.data_id = n->data_id;
	reg.broker = &b;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER;
	cmd.register_broker = &reg;
	len = chronik__meta__metadata_command__get_packed_size(&cmd);
	CK_ASSERT(len <= sizeof(buf));
	(void)chronik__meta__metadata_command__pack(&cmd, buf);
	n->registered = true;
	r = raftd_node_propose(n, buf, len, raftd_register_cb, n);
	if (r < 0) {
		n->registered = false;
		ck_log(CK_LOG_WARN, "cannot propose the broker registration: %s", ck_strerror(r));
	}
}

static void raftd_node_check_serving(struct raftd_node *n)
{
	bool can_register;

	if (!n->raft || n->failed)
		return;
	if (!n->serving && (n->net || (n->role == RAFT_LEADER && n->applied >= n->lead_index))) {
		n->serving = true;
		ck_log(CK_LOG_INFO, "serving role=%s applied_index=%llu", raft_role_name(n->role),
		       (unsigned long long)n->applied);
		if (n->h.on_ready)
			n->h.on_ready(n->arg);
		if (n->h.on_status)
			n->h.on_status(n->arg);
	}
	/* With peers, the registration goes to whoever leads (forwarded). */
	can_register =
	    n->net ? n->leader != RAFT_NONE : n->role == RAFT_LEADER && n->applied >= n->lead_index;
	if (n->serving && !n->registered && !n->stopping && can_register)
		raftd_node_register(n);
}

/* A new data id in the data dir (walwriter's, see RAFTD_DATAID_CHECK_TICKS):
 * registered again with it. */
static void raftd_node_dataid_check(struct raftd_node *n)
{
	uint64_t id = 0;

	if (n->data_id == 0 || ck_dataid_load(n->cfg->data_dir, &id) != 1 || id == n->data_id)
		return;
	ck_log(CK_LOG_WARN, "new data id=%016llx (was %016llx): registering the broker again",
	       (unsigned long long)id, (unsigned long long)n->data_id);
	n->data_id = id;
	n->registered = false;
}

/* ---- events ---- */

static void raftd_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raftd_node *n = arg;
	uint64_t now = ck_clock_mono_ms();

	(void)fd;
	(void)what;
	if (n->failed)
		return;
	if (n->ticks_pending < RAFTD_ELECTION_TICKS)
		n->ticks_pending++;
	raftd_props_expire(n, now);
	raftd_node_held_check(n);
	if (++n->ticks % RAFTD_READER_CHECK_TICKS == 0) {
		int dead = 0;
		if (ck_meta_reader_check(n->meta, &dead) == 0 && dead)
			ck_log(CK_LOG_INFO, "cleared stale lmdb readers count=%d", dead);
	}
	if (n->ticks % RAFTD_DATAID_CHECK_TICKS == 0)
		raftd_node_dataid_check(n);
	raftd_node_check_serving(n);
	if (n->net) {
		raftd_node_net_tick(n);
		if (n->role == RAFT_LEADER && n->serving)
			raftd_ctl_tick(n, now);
		raftd_ctl_depart_check(n, now);
	}
	raftd_node_pump(n);
}

static void raftd_ctl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raftd_node *n = arg;

	(void)fd;
	(void)what;
	if (n->failed || !n->net)
		return;
	if (n->role == RAFT_LEADER && n->serving)
		raftd_ctl_tick(n, ck_clock_mono_ms());
	raftd_node_pump(n);
}

void raftd_node_ctl_soon(struct raftd_node *n)
{
	struct timeval now = {0, 0};

	if (n->ctl_ev && !evtimer_pending(n->ctl_ev, NULL))
		(void)evtimer_add(n->ctl_ev, &now);
}

static raft_commit_mode_t raftd_node_commit_mode(const ck_config_t *cfg)
{
	const char *v = getenv("CHRONIK_DISABLE_METADATA_WAL");
	bool quorum_only =
	    v && (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"));

	/* The seed's switch to turn its fast path off: here that is quorum. */
	if (quorum_only && cfg->metadata_commit_leader)
		ck_log(CK_LOG_WARN,
		       "CHRONIK_DISABLE_METADATA_WAL=%s: commit mode quorum, not leader", v);
	return cfg->metadata_commit_leader && !quorum_only ? RAFT_COMMIT_LEADER
	                                                   : RAFT_COMMIT_QUORUM;
}

static int raftd_node_start_raft(struct raftd_node *n)
{
	raft_config_t rc;
	raft_storage_t st;
	struct timeval tv = {0, RAFTD_TICK_MS * 1000};
	uint64_t last = raftd_store_last_index(n->store);
	int r;

	if (n->applied > last) {
		ck_log(CK_LOG_ERROR, "lmdb applied_index=%llu is past the metadata log end=%llu",
		       (unsigned long long)n->applied, (unsigned long long)last);
		return CK_E_CORRUPT;
	}
	memset(&rc, 0, sizeof(rc));
	rc.id = (uint64_t)n->cfg->node_id;
	memcpy(rc.voters, n->voters, sizeof(rc.voters));
	rc.n_voters = n->n_voters;
	rc.election_ticks = RAFTD_ELECTION_TICKS;
	rc.heartbeat_ticks = 1;
	rc.commit_mode = raftd_node_commit_mode(n->cfg);
	n->metrics.commit_leader = rc.commit_mode == RAFT_COMMIT_LEADER;
	rc.entry_bytes_max = RAFTD_ENTRY_BYTES_MAX;
	rc.rand = &n->rand;
	raftd_store_storage(n->store, &st);
	r = raft_init(&n->raft, &rc, n->has_hs ? &n->hs : NULL, &st, n->applied);
	if (r < 0)
		return r;
	ck_log(CK_LOG_INFO,
	       "raft started node_id=%d voters=%u term=%llu applied_index=%llu last_index=%llu "
	       "commit_mode=%s snapshot_index=%llu compact_index=%llu",
	       n->cfg->node_id, n->n_voters, (unsigned long long)n->hs.term,
	       (unsigned long long)n->applied, (unsigned long long)last,
	       rc.commit_mode == RAFT_COMMIT_LEADER ? "leader" : "quorum",
	       (unsigned long long)n->snap.index, (unsigned long long)n->snap.compact);
	if (n->n_voters == 1)
		(void)raft_campaign(n->raft);
	/* The first frame of this incarnation tells the leader where our
	 * log ends (raft_report_restart). */
	raftd_node_net_progress(n);
	n->reconcile_wanted = true;
	n->tick_ev = event_new(n->base, -1, EV_PERSIST, raftd_tick_cb, n);
	if (!n->tick_ev || event_add(n->tick_ev, &tv) < 0)
		return -ENOMEM;
	n->commit_ev = evtimer_new(n->base, raftd_commit_cb, n);
	n->feed_ev = evtimer_new(n->base, raftd_feed_cb, n);
	n->ctl_ev = evtimer_new(n->base, raftd_ctl_cb, n);
	if (!n->commit_ev || !n->feed_ev || !n->ctl_ev)
		return -ENOMEM;
	raftd_node_check_serving(n);
	raftd_node_pump(n);
	return 0;
}

static void raftd_store_loaded_cb(void *arg, int err)
{
	struct raftd_node *n = arg;

	if (err == 0)
		err = raftd_node_start_raft(n);
	if (err < 0)
		raftd_node_fatal(n, err, "cannot start the metadata log");
}

static void raftd_store_appended_cb(void *arg, int err)
{
	struct raftd_node *n = arg;

	if (err < 0)
		return raftd_node_fatal(n, err, "metadata log append failed");
	if (!n->ready_pending)
		return;
	raftd_node_ready_finish(n);
	raftd_node_pump(n);
}

static void raftd_wal_connect_cb(void *arg)
{
	struct raftd_node *n = arg;

	raftd_store_wal_connected(n->store);
	raftd_exec_wal_connected(n);
}

static void raftd_wal_disconnect_cb(void *arg, int err)
{
	struct raftd_node *n = arg;

	(void)err;
	raftd_store_wal_lost(n->store);
}

/* ---- life cycle ---- */

static int raftd_node_voters(struct raftd_node *n)
{
	const ck_config_t *cfg = n->cfg;

	if (cfg->node_id <= 0)
		return CK_E_CONFIG;
	if (cfg->peer_count == 0) {
		n->voters[0] = (uint64_t)cfg->node_id;
		n->n_voters = 1;
		return 0;
	}
	if (cfg->peer_count > RAFT_VOTERS_MAX)
		return CK_E_CONFIG;
	for (int32_t i = 0; i < cfg->peer_count; i++) {
		if (cfg->peers[i].id <= 0)
			return CK_E_CONFIG;
		n->voters[i] = (uint64_t)cfg->peers[i].id;
	}
	n->n_voters = (uint32_t)cfg->peer_count;
	return 0;
}

/* Whether ID is RAFT_NONE or one of the configured voters. */
static bool raftd_node_is_voter(const struct raftd_node *n, uint64_t id)
{
	for (uint32_t i = 0; i < n->n_voters; i++)
		if (n->voters[i] == id)
			return true;
	return id == RAFT_NONE;
}

/* This handle's commits skip fdatasync: the entries are durable in the
 * Raft log already, the marker covers a crash of the machine (ck_meta.h).
 * Every other process keeps LMDB's synced commits. */
static int raftd_mdb_flag_nosync(struct raftd_node *n)
{
	int rc = mdb_env_set_flags(ck_meta_env(n->meta), MDB_NOSYNC, 1);

	if (rc)
		return rc > 0 ? -rc : rc;
	n->nosync = true;
	return 0;
}

static int raftd_node_open(struct raftd_node *n)
{
	static const raftd_store_hooks_t store_hooks = {raftd_store_loaded_cb,
	                                                raftd_store_appended_cb};
	static const raftd_wal_handlers_t wal_hooks = {raftd_wal_connect_cb,
	                                               raftd_wal_disconnect_cb, NULL};
	MDB_txn *txn;
	int r;

	r = raftd_node_voters(n);
	if (r < 0)
		return r;
	r = raftd_hs_lock(n->cfg->data_dir, &n->lock_fd);
	if (r < 0)
		return r;
	/* Commits skip fdatasync (ck_meta.h): first the check that a crash of
	 * the machine did not overtake earlier ones (the supervisor ran it
	 * already; again for a raftd started alone), then the marker. */
	r = ck_meta_unsynced_recover(n->cfg->data_dir);
	if (r < 0)
		return r;
	/* MDB_WRITEMAP: a commit writes its pages in place in the map, not
	 * with a pwrite each (ck_meta.h). */
	r = ck_meta_open_flags(n->cfg->data_dir, MDB_WRITEMAP, &n->meta);
	if (r < 0)
		return r;
	r = ck_meta_unsynced_mark(n->cfg->data_dir);
	if (r < 0)
		ck_log(CK_LOG_WARN,
		       "cannot mark the metadata environment (%s): its commits keep their "
		       "fdatasync", ck_strerror(r));
	else if ((r = raftd_mdb_flag_nosync(n)) < 0)
		return r;
	r = raftd_node_snap_init(n);
	if (r < 0)
		return r;
	r = raftd_node_snap_recover(n);
	if (r < 0)
		return r;
	r = ck_meta_read_begin(n->meta, &txn);
	if (r < 0)
		return r;
	r = ck_meta_applied_index(n->meta, txn, &n->applied);
	ck_meta_read_end(txn);
	if (r < 0)
		return r;
	r = raftd_hs_load(n->cfg->data_dir, &n->hs);
	if (r < 0)
		return r;
	n->has_hs = r == 1;
	if (n->has_hs && !raftd_node_is_voter(n, n->hs.vote)) {
		/* raft_init would refuse it as corrupt; the data is fine. */
		ck_log(CK_LOG_ERROR,
		       "the stored Raft vote names node %llu, which the configuration's peer list "
		       "does not: the voters differ from those this node's Raft state was formed "
		       "with (they do not change by editing the configuration); restore the peer "
		       "list or start from an empty data dir",
		       (unsigned long long)n->hs.vote);
		return CK_E_CONFIG;
	}
	n->apply.meta = n->meta;
	n->apply.local_broker = n->cfg->node_id;
	r = raftd_exec_init(n);
	if (r < 0)
		return r;
	if (n->n_voters > 1) {
		r = raftd_node_net_start(n);
		if (r < 0)
			return r;
	}
	raftd_wal_set_handlers(n->wal, &wal_hooks, n);
	r = raftd_store_new(&n->store, n->base, n->cfg->data_dir, n->wal, &store_hooks, n);
	if (r == 0)
		raftd_store_set_snapshot(n->store, n->snap.index, n->snap.term, n->snap.compact);
	return r;
}

void raftd_node_accept(int fd, void *arg)
{
	struct raftd_node *n = arg;

	if (n->net)
		raftd_net_accept(fd, n->net);
	else
		ck_daemon_accept_close(fd, (void *)"raft connection closed: no peers configured");
}

int raftd_node_new(raftd_node_t **ret, struct event_base *base, const ck_config_t *cfg,
                   raftd_wal_t *wal, const raftd_node_hooks_t *h, void *arg)
{
	struct raftd_node *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->base = base;
	n->cfg = cfg;
	n->h = *h;
	n->arg = arg;
	n->lock_fd = -1;
	n->wal = wal;
	n->role = RAFT_FOLLOWER;
	ck_rand_seed(&n->rand, ck_rand_os_seed());
	do
		n->incarnation = ck_rand_u64(&n->rand);
	while (n->incarnation == 0);
	r = ck_dataid_load(cfg->data_dir, &n->data_id);
	if (r < 0) /* unreadable: unknown (the supervisor would have redrawn it) */
		ck_log(CK_LOG_WARN, "cannot read the data id: %s", ck_strerror(r));
	r = raftd_node_open(n);
	if (r < 0) {
		raftd_node_free(n);
		return r;
	}
	ck_log(CK_LOG_INFO,
	       "metadata state applied_index=%llu term=%llu incarnation=%016llx data_id=%016llx",
	       (unsigned long long)n->applied, (unsigned long long)n->hs.term,
	       (unsigned long long)n->incarnation, (unsigned long long)n->data_id);
	*ret = n;
	return 0;
}

void raftd_node_depart(raftd_node_t *n)
{
	raftd_ctl_depart(n);
}

void raftd_node_stop(raftd_node_t *n)
{
	uint64_t to;

	n->stopping = true;
	raftd_list_fail(&n->queued, CK_E_NOT_LEADER);
	/* A leader that stops hands over first: the cluster need not wait
	 * for an election timeout. */
	if (n->raft && n->net && n->role == RAFT_LEADER &&
	    (to = raftd_ctl_successor(n)) != RAFT_NONE) {
		raftd_node_report(n, RAFTD_REPORT_TRANSFER, to, 0);
		raftd_node_pump(n);
	}
}

void raftd_node_free(raftd_node_t *n)
{
	if (!n)
		return;
	n->stopping = true;
	n->failed = true; /* nothing new starts from the callbacks below */
	if (n->wal) {
		static const raftd_wal_handlers_t none = {NULL, NULL, NULL};

		raftd_wal_cancel(n->wal);
		raftd_wal_set_handlers(n->wal, &none, NULL);
	}
	raftd_list_fail(&n->queued, CK_E_SHUTDOWN);
	raftd_list_fail(&n->forwarded, CK_E_SHUTDOWN);
	raftd_list_fail(&n->inflight, CK_E_SHUTDOWN);
	raftd_node_held_check(n); /* committed and applied: answered as such */
	raftd_node_net_free(n);
	raftd_node_snap_free(n);
	if (n->tick_ev)
		event_free(n->tick_ev);
	if (n->commit_ev)
		event_free(n->commit_ev);
	if (n->feed_ev)
		event_free(n->feed_ev);
	if (n->ctl_ev)
		event_free(n->ctl_ev);
	raft_free(n->raft);
	raftd_store_free(n->store);
	raftd_exec_free(n);
	/* Everything committed reaches the disk; then nothing is unsynced. */
	if (n->meta && n->nosync && mdb_env_sync(ck_meta_env(n->meta), 1) == 0 &&
	    ck_meta_unsynced_clear(n->cfg->data_dir) < 0)
		ck_log(CK_LOG_WARN, "cannot remove the unsynced marker of the metadata environment");
	ck_meta_close(n->meta);
	if (n->lock_fd >= 0)
		(void)close(n->lock_fd);
	free(n);
}

static int raftd_node_enqueue_term(struct raftd_node *n, const uint8_t *data, size_t len,
                                   raftd_propose_cb cb, void *arg, bool remote, uint64_t term)
{
	raftd_prop_t *p;

	if (n->queued.n >= RAFTD_QUEUE_MAX)
		return CK_E_AGAIN;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->data = malloc(len))) {
		free(p);
		return -ENOMEM;
	}
	memcpy(p->data, data, len);
	p->len = len;
	p->cb = cb;
	p->arg = arg;
	p->remote = remote;
	p->only_term = term;
	p->idempotent = ck_metacmd_idempotent(data, len);
	if (remote || raftd_exec_routes(raftd_apply_cmd_case(data, len))) {
		p->urgent = &n->urgent_n;
		n->urgent_n++;
	}
	p->created_ms = ck_clock_mono_ms();
	p->deadline_ms = p->created_ms + RAFTD_PROPOSE_TIMEOUT_MS;
	p->metrics = &n->metrics;
	p->op = (uint8_t)raftd_metrics_op_of(data, len);
	p->created_us = ck_clock_mono_ns() / 1000;
	raftd_metrics_proposed(&n->metrics, remote);
	raftd_list_push(&n->queued, p);
	n->queued_us = p->created_us;
	raftd_node_pump(n);
	return 0;
}

int raftd_node_enqueue(struct raftd_node *n, const uint8_t *data, size_t len, raftd_propose_cb cb,
                       void *arg, bool remote)
{
	return raftd_node_enqueue_term(n, data, len, cb, arg, remote, 0);
}

int raftd_node_propose_in_term(struct raftd_node *n, const uint8_t *data, size_t len,
                               raftd_propose_cb cb, void *arg, uint64_t term)
{
	if (n->stopping || n->failed)
		return CK_E_SHUTDOWN;
	if (len == 0 || term == 0)
		return CK_E_INVALID;
	if (len > RAFTD_ENTRY_BYTES_MAX)
		return CK_E_TOO_LARGE;
	return raftd_node_enqueue_term(n, data, len, cb, arg, false, term);
}

int raftd_node_propose(raftd_node_t *n, const uint8_t *data, size_t len, raftd_propose_cb cb,
                       void *arg)
{
	if (n->stopping || n->failed)
		return CK_E_SHUTDOWN;
	if (len == 0)
		return CK_E_INVALID;
	if (len > RAFTD_ENTRY_BYTES_MAX)
		return CK_E_TOO_LARGE;
	/* A lone voter leads as soon as it has loaded its log: wait for it.
	 * With peers, a follower forwards to the leader, and while none is
	 * known the proposal waits for one (RAFTD_QUEUE_WAIT_MS at most). */
	return raftd_node_enqueue(n, data, len, cb, arg, false);
}

/* This node and the voters it has a connection to make a quorum. */
static bool raftd_node_quorum_connected(const raftd_node_t *n)
{
	uint32_t up = 0;

	for (uint32_t i = 0; i < n->n_voters; i++)
		up += n->voters[i] == (uint64_t)n->cfg->node_id || !n->net ||
		      raftd_net_connected(n->net, n->voters[i]);
	return up > n->n_voters / 2;
}

void raftd_node_status(const raftd_node_t *n, raftd_node_status_t *ret)
{
	raft_status_t st;

	memset(ret, 0, sizeof(*ret));
	ret->role = "starting";
	ret->leader_id = -1;
	ret->applied_index = n->applied;
	ret->serving = n->serving;
	ret->queued = n->queued.n;
	ret->inflight = n->inflight.n + n->forwarded.n;
	ret->snapshot_index = n->snap.index;
	ret->compact_index = n->snap.compact;
	if (!n->raft)
		return;
	raft_status(n->raft, &st);
	ret->role = raft_role_name(st.role);
	ret->term = st.term;
	ret->leader_id = st.leader == RAFT_NONE ? -1 : (int32_t)st.leader;
	ret->leader_contact =
	    st.role == RAFT_LEADER ||
	    (st.role == RAFT_FOLLOWER && st.leader != RAFT_NONE &&
	     st.leader_silent <= RAFTD_CONTACT_TICKS && (!n->net || raftd_net_connected(n->net, st.leader)));
	ret->quorum_contact =
	    st.role == RAFT_LEADER ? raftd_node_quorum_connected(n) : ret->leader_contact;
	ret->commit_index = st.commit;
	ret->last_index = st.last_index;
	ret->transferring = st.role == RAFT_LEADER && st.transferee != RAFT_NONE;
	if (st.role == RAFT_LEADER)
		ret->lag = st.commit > n->applied ? st.commit - n->applied : 0;
	else if (n->leader_commit > n->applied)
		ret->lag = n->leader_commit - n->applied;
	if (st.role == RAFT_LEADER && n->net)
		raftd_ctl_describe(n, ret->followers, sizeof(ret->followers));
}

uint64_t raftd_node_applied(const raftd_node_t *n)
{
	return n->applied;
}

int raftd_node_parts_index(raftd_node_t *n, uint64_t *ret)
{
	MDB_txn *txn;
	int r = ck_meta_read_begin(n->meta, &txn);

	if (r < 0)
		return r;
	r = ck_meta_parts_index(n->meta, txn, ret);
	ck_meta_read_end(txn);
	return r;
}
