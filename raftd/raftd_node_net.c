/*
 * raftd_node_net.c: chronik-raftd's metadata service on the network: Raft
 * messages in and out, proposals forwarded from followers to the leader,
 * broker heartbeats (see raftd_node.h for the forwarding contract).
 *
 * Owned by raftd. Received Envelopes with Raft messages wait in the inbox
 * (a ring) until the core may be stepped (no Ready out); everything else
 * in them is handled on arrival. Follower side of forwarding: a queued
 * proposal goes to the leader as a Forward (list `forwarded`, keyed by its
 * id and the connection generation it went out on); the ForwardResult
 * moves it to `inflight` (answered when this node applies its index), back
 * to `queued` (it never entered the leader's log, or its fate is unknown
 * and it is idempotent), or answers it. Leader side: a Forward becomes a
 * proposal whose callback sends the ForwardResult once it is applied here.
 * Invariants: a proposal is in exactly one list; the inbox holds at most
 * RAFTD_INBOX_MAX envelopes; nothing here calls the core while a Ready is
 * out.
 * Not for: connections (raftd_net.c), snapshots (raftd_node_snap.c).
 */
#define CK_LOG_SUBSYSTEM "node"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_fs.h"
#include "ck_log.h"
#include "raftd_msg.h"
#include "raftd_node_int.h"

#define RAFTD_HEARTBEAT_TICKS 5  /* a broker heartbeat every 500 ms */
#define RAFTD_FWD_HOLD_MS     100 /* after the leader refused a forward */
/* How long a former leader has to answer what it was forwarded before the
 * leader changed (raftd_fwd_stale_deadline): two of its longest election
 * timeouts, and its catching up with the new leader. */
#define RAFTD_FWD_STALE_MS 5000

/* The context of a follower's proposal on the leader. */
typedef struct {
	struct raftd_node *n;
	uint64_t peer;
	uint64_t id;
} raftd_fwd_ctx_t;

static void raftd_fwd_reply(struct raftd_node *n, uint64_t peer, uint64_t id, int err,
                            uint64_t index, const raftd_apply_result_t *res)
{
	Chronik__Raftnet__Envelope item = CHRONIK__RAFTNET__ENVELOPE__INIT;
	Chronik__Raftnet__ForwardResult fr = CHRONIK__RAFTNET__FORWARD_RESULT__INIT;
	Chronik__Raftnet__ForwardResult *frp = &fr;
	uint64_t term = 0;

	if (!n->net)
		return;
	fr.id = id;
	fr.error = err;
	fr.index = index;
	if (err == 0) {
		(void)raftd_store_term(n->store, index, &term);
		fr.term = term;
		fr.result = res->result;
		fr.message = (char *)res->message;
	}
	item.n_forward_results = 1;
	item.forward_results = &frp;
	if (raftd_net_send_item(n->net, peer, &item) < 0)
		ck_log(CK_LOG_WARN, "forward result dropped peer=%llu id=%llu",
		       (unsigned long long)peer, (unsigned long long)id);
	else
		raftd_net_flush_soon(n->net);
}

static void raftd_fwd_done(void *arg, int err, uint64_t index, const raftd_apply_result_t *res)
{
	raftd_fwd_ctx_t *c = arg;

	raftd_fwd_reply(c->n, c->peer, c->id, err, index, res);
	free(c);
}

/* Leader side: a follower's proposal. */
static void raftd_fwd_request(struct raftd_node *n, uint64_t peer,
                              const Chronik__Raftnet__Forward *fw)
{
	raftd_fwd_ctx_t *c;
	int r = 0;

	if (n->stopping || n->failed)
		r = CK_E_SHUTDOWN;
	else if (n->role != RAFT_LEADER)
		r = CK_E_NOT_LEADER;
	else if (fw->command.len == 0)
		r = CK_E_INVALID;
	else if (fw->command.len > (1u << 20))
		r = CK_E_TOO_LARGE;
	if (r == 0) {
		c = malloc(sizeof(*c));
		if (!c) {
			r = -ENOMEM;
		} else {
			*c = (raftd_fwd_ctx_t){n, peer, fw->id};
			r = raftd_node_enqueue(n, fw->command.data, fw->command.len, raftd_fwd_done, c,
			                       true);
			if (r < 0)
				free(c);
		}
	}
	if (r < 0)
		raftd_fwd_reply(n, peer, fw->id, r, 0, NULL);
}

/* Unlinks and returns the forwarded proposal ID sent to PEER, or NULL. */
static raftd_prop_t *raftd_fwd_take(struct raftd_node *n, uint64_t peer, uint64_t id)
{
	raftd_prop_t **at = &n->forwarded.head, *prev = NULL;

	for (; *at; prev = *at, at = &(*at)->next) {
		raftd_prop_t *p = *at;

		if (p->fwd_id != id || p->fwd_peer != peer)
			continue;
		*at = p->next;
		if (n->forwarded.tail == p)
			n->forwarded.tail = prev;
		n->forwarded.n--;
		p->next = NULL;
		return p;
	}
	return NULL;
}

static bool raftd_fwd_retriable(int err)
{
	return err == CK_E_NOT_LEADER || err == CK_E_AGAIN || err == CK_E_SHUTDOWN ||
	       err == CK_E_TIMEOUT;
}

/* Follower side: the leader's answer. */
static void raftd_fwd_result(struct raftd_node *n, uint64_t peer,
                             const Chronik__Raftnet__ForwardResult *fr)
{
	raftd_prop_t *p = raftd_fwd_take(n, peer, fr->id);

	if (!p)
		return; /* expired meanwhile */
	if (fr->error == 0) {
		p->index = fr->index;
		p->term = fr->term;
		p->has_result = true;
		p->result.result = fr->result;
		snprintf(p->result.message, sizeof(p->result.message), "%s", fr->message);
		free(p->data);
		p->data = NULL;
		if (p->index <= n->applied)
			raftd_prop_finish(p, 0, p->index, &p->result);
		else
			raftd_list_insert_sorted(&n->inflight, p);
		return;
	}
	if (fr->index == 0 && raftd_fwd_retriable(fr->error) && !n->stopping) {
		/* Never in the leader's log: send it again, to whoever leads. */
		raftd_node_requeue(n, p);
		n->fwd_hold_ms = ck_clock_mono_ms() + RAFTD_FWD_HOLD_MS;
		return;
	}
	if (fr->index != 0 && raftd_fwd_retriable(fr->error) && p->idempotent && !n->stopping) {
		raftd_node_requeue(n, p);
		return;
	}
	raftd_prop_finish(p, fr->error, fr->index, NULL);
}

/* ---- the inbox ---- */

static void raftd_inbox_push(struct raftd_node *n, Chronik__Raftnet__Envelope *env)
{
	if (n->inbox_n == RAFTD_INBOX_MAX) {
		ck_log(CK_LOG_DEBUG, "inbox full: messages dropped from=%llu count=%zu",
		       (unsigned long long)env->from, env->n_msgs);
		chronik__raftnet__envelope__free_unpacked(env, NULL);
		return;
	}
	n->inbox[(n->inbox_head + n->inbox_n) % RAFTD_INBOX_MAX] = env;
	n->inbox_n++;
}

static void raftd_inbox_pop(struct raftd_node *n)
{
	chronik__raftnet__envelope__free_unpacked(n->inbox[n->inbox_head], NULL);
	n->inbox[n->inbox_head] = NULL;
	n->inbox_head = (n->inbox_head + 1) % RAFTD_INBOX_MAX;
	n->inbox_n--;
	n->inbox_msg = 0;
}

/* Steps one received message. */
static void raftd_step_one(struct raftd_node *n, const Chronik__Raftnet__Envelope *env,
                           const Chronik__Raftnet__RaftMessage *pm)
{
	raft_entry_t *ents = NULL;
	raft_msg_t m;
	int r;

	if (pm->from != env->from || pm->n_entries > RAFTD_MSG_ENTRIES_MAX)
		return;
	if (pm->n_entries && !(ents = calloc(pm->n_entries, sizeof(*ents))))
		return;
	r = raftd_msg_unpack(pm, &m, ents);
	if (r == 0 && m.type == RAFT_MSG_SNAPSHOT && !raftd_node_snap_received(n, &m)) {
		ck_log(CK_LOG_WARN, "snapshot message without its data index=%llu from=%llu",
		       (unsigned long long)m.snapshot.index, (unsigned long long)m.from);
		r = 1;
	}
	if (r == 0)
		r = raft_step(n->raft, &m);
	if (r < 0 && r != CK_E_INVALID)
		ck_log(CK_LOG_WARN, "cannot step %s from=%llu: %s", raft_msg_type_name(m.type),
		       (unsigned long long)m.from, ck_strerror(r));
	else if (r == CK_E_INVALID)
		ck_log(CK_LOG_DEBUG, "invalid raft message type=%u from=%llu", pm->type,
		       (unsigned long long)pm->from);
	free(ents);
}

bool raftd_node_net_step(struct raftd_node *n)
{
	while (n->inbox_n) {
		Chronik__Raftnet__Envelope *env = n->inbox[n->inbox_head];

		if (n->inbox_msg >= env->n_msgs) {
			raftd_inbox_pop(n);
			continue;
		}
		raftd_step_one(n, env, env->msgs[n->inbox_msg++]);
		return true;
	}
	return false;
}

/* ---- hooks of raftd_net ---- */

static void raftd_on_envelope(void *arg, Chronik__Raftnet__Envelope *env, bool restarted)
{
	struct raftd_node *n = arg;

	if (!n->raft || n->failed) {
		/* Not started yet (a restarted raftd still loading its log) or
		 * failed: refuse forwards instead of dropping them, or their
		 * senders would wait for an answer until their deadline. */
		for (size_t i = 0; i < env->n_forwards; i++)
			raftd_fwd_reply(n, env->from, env->forwards[i]->id,
			                n->failed ? CK_E_SHUTDOWN : CK_E_NOT_LEADER, 0, NULL);
		chronik__raftnet__envelope__free_unpacked(env, NULL);
		return;
	}
	if (restarted)
		raftd_node_report(n, RAFTD_REPORT_RESTART, env->from, env->last_index);
	if (env->from == n->leader)
		n->leader_commit = env->commit;
	raftd_node_metrics_peer(n, env->from, env->last_index);
	if (env->heartbeat && n->role == RAFT_LEADER)
		raftd_ctl_heartbeat(n, env->from, env->heartbeat);
	for (size_t i = 0; i < env->n_forward_results; i++)
		raftd_fwd_result(n, env->from, env->forward_results[i]);
	for (size_t i = 0; i < env->n_chunks; i++)
		raftd_node_snap_chunk(n, env->from, env->chunks[i]);
	for (size_t i = 0; i < env->n_forwards; i++)
		raftd_fwd_request(n, env->from, env->forwards[i]);
	if (env->n_msgs)
		raftd_inbox_push(n, env);
	else
		chronik__raftnet__envelope__free_unpacked(env, NULL);
	raftd_node_pump(n);
}

static void raftd_on_peer_up(void *arg, uint64_t peer)
{
	struct raftd_node *n = arg;

	(void)peer;
	raftd_node_pump(n);
}

/*
 * Takes back the forwarded proposals whose answer may never come: those
 * sent to PEER when LOST (the connection went down), else those sent to any
 * node but the leader (leadership moved: the node they went to may have
 * appended them, or may have dropped them, a restarted raftd for one).
 * Idempotent ones go back to the front of the queue, in their order, to be
 * sent to (or proposed by) the leader: a second copy is harmless. On a lost
 * connection the others are answered CK_E_TIMEOUT (the outcome is unknown);
 * on a leader change they keep waiting for their answer. Returns how many
 * were taken back or answered.
 */
static size_t raftd_fwd_take_back(struct raftd_node *n, uint64_t peer, bool lost)
{
	raftd_prop_list_t keep = {0}, retry = {0};
	raftd_prop_t *p;
	size_t taken = 0;

	while ((p = raftd_list_pop(&n->forwarded)) != NULL) {
		bool stale = lost ? p->fwd_peer == peer : p->fwd_peer != n->leader;

		if (!stale || (!lost && (!p->idempotent || n->stopping))) {
			raftd_list_push(&keep, p);
			continue;
		}
		taken++;
		if (p->idempotent && !n->stopping)
			raftd_list_push(&retry, p);
		else /* the outcome is unknown: not CK_E_NOT_LEADER */
			raftd_prop_finish(p, CK_E_TIMEOUT, 0, NULL);
	}
	n->forwarded = keep;
	if (retry.head) {
		for (p = retry.head; p; p = p->next) {
			p->fwd_id = 0;
			p->index = 0;
		}
		retry.tail->next = n->queued.head;
		if (!n->queued.head)
			n->queued.tail = retry.tail;
		n->queued.head = retry.head;
		n->queued.n += retry.n;
	}
	return taken;
}

/*
 * The forwarded proposals a former leader still holds (those that are not
 * safe to send twice) keep waiting for its answer: once it hears of the new
 * term it answers each (committed by the new leader, or cut) within a few
 * ticks. A former leader that hears nothing (stopped, cut off behind a
 * connection that stays up) never answers: past RAFTD_FWD_STALE_MS their
 * outcome is reported unknown (CK_E_TIMEOUT) instead of at the proposal's
 * own deadline, which may be far off.
 */
static void raftd_fwd_stale_deadline(struct raftd_node *n, uint64_t now_ms)
{
	for (raftd_prop_t *p = n->forwarded.head; p; p = p->next) {
		if (p->fwd_peer != n->leader && p->deadline_ms > now_ms + RAFTD_FWD_STALE_MS)
			p->deadline_ms = now_ms + RAFTD_FWD_STALE_MS;
	}
}

static void raftd_on_peer_down(void *arg, uint64_t peer)
{
	struct raftd_node *n = arg;
	/* What went out on that connection may or may not have arrived. */
	size_t lost = raftd_fwd_take_back(n, peer, true);

	if (lost)
		ck_log(CK_LOG_INFO, "forwarded proposals without an answer peer=%llu count=%zu",
		       (unsigned long long)peer, lost);
	raftd_node_report(n, RAFTD_REPORT_UNREACHABLE, peer, 0);
	raftd_node_snap_peer_down(n, peer);
	raftd_node_pump(n);
}

/* ---- the node's side ---- */

void raftd_node_net_progress(struct raftd_node *n)
{
	raft_status_t st;

	if (!n->net || !n->raft)
		return;
	raft_status(n->raft, &st);
	raftd_net_set_progress(n->net, st.commit, st.last_index);
}

void raftd_node_net_send(struct raftd_node *n, const raft_ready_t *rd)
{
	if (!n->net)
		return; /* a lone voter has no one to talk to */
	raftd_node_net_progress(n);
	for (size_t i = 0; i < rd->n_msgs; i++) {
		const raft_msg_t *m = &rd->msgs[i];

		if (m->type == RAFT_MSG_SNAPSHOT)
			raftd_node_snap_send(n, m);
		else
			(void)raftd_net_send_raft(n->net, m);
	}
	raftd_net_flush(n->net);
}

void raftd_node_net_forward(struct raftd_node *n)
{
	Chronik__Raftnet__Envelope item = CHRONIK__RAFTNET__ENVELOPE__INIT;
	Chronik__Raftnet__Forward fw = CHRONIK__RAFTNET__FORWARD__INIT;
	Chronik__Raftnet__Forward *fwp = &fw;
	uint64_t leader = n->leader, gen;
	raftd_prop_t *p;
	bool sent = false;

	if (!n->net || n->role == RAFT_LEADER || leader == RAFT_NONE ||
	    leader == (uint64_t)n->cfg->node_id || !n->queued.head)
		return;
	if (ck_clock_mono_ms() < n->fwd_hold_ms || !raftd_net_connected(n->net, leader))
		return;
	gen = raftd_net_generation(n->net, leader);
	raftd_node_net_progress(n);
	item.n_forwards = 1;
	item.forwards = &fwp;
	while ((p = n->queued.head) != NULL) {
		if (p->remote || p->only_term != 0) {
			/* A follower's proposal that reached a former leader: the
			 * follower sends it to the new one itself; a controller
			 * decision of ours goes with our leadership. */
			(void)raftd_list_pop(&n->queued);
			raftd_prop_finish(p, CK_E_NOT_LEADER, 0, NULL);
			continue;
		}
		fw.id = n->fwd_seq + 1;
		fw.command.data = p->data;
		fw.command.len = p->len;
		if (raftd_net_send_item(n->net, leader, &item) < 0)
			break;
		(void)raftd_list_pop(&n->queued);
		p->fwd_id = ++n->fwd_seq;
		p->fwd_peer = leader;
		p->fwd_gen = gen;
		raftd_list_push(&n->forwarded, p);
		raftd_metrics_forward_sent(&n->metrics);
		sent = true;
	}
	if (sent)
		raftd_net_flush(n->net);
}

void raftd_node_net_leader_changed(struct raftd_node *n)
{
	raftd_prop_list_t keep = {0};
	raftd_prop_t *p;

	size_t back;

	n->leader_commit = 0;
	n->fwd_hold_ms = 0;
	back = raftd_fwd_take_back(n, 0, false);
	if (back)
		ck_log(CK_LOG_INFO,
		       "forwarded proposals sent again to the new leader leader=%llu count=%zu",
		       (unsigned long long)n->leader, back);
	raftd_fwd_stale_deadline(n, ck_clock_mono_ms());
	if (n->role == RAFT_LEADER)
		return;
	/* Followers' proposals this node had not proposed yet go back to
	 * them (never in a log: they send them to the new leader). */
	while ((p = raftd_list_pop(&n->queued)) != NULL) {
		if (p->remote)
			raftd_prop_finish(p, CK_E_NOT_LEADER, 0, NULL);
		else
			raftd_list_push(&keep, p);
	}
	n->queued = keep;
}

size_t raftd_node_net_expire(struct raftd_node *n, uint64_t now_ms)
{
	raftd_prop_list_t keep = {0};
	raftd_prop_t *p;
	size_t expired = 0;

	while ((p = raftd_list_pop(&n->forwarded)) != NULL) {
		if (p->deadline_ms > now_ms) {
			raftd_list_push(&keep, p);
			continue;
		}
		expired++;
		raftd_prop_finish(p, CK_E_TIMEOUT, 0, NULL);
	}
	/* The callbacks above cannot add to `forwarded`: forwarding only
	 * happens in the pump. */
	n->forwarded = keep;
	return expired;
}

/* Whether this node's data disk is too full for walwriter to take appends
 * (its reserve, ck_fs_space, plus a follower's fetch or a producer's batch):
 * the broker heartbeat says so and the controller fences the broker while
 * others have room (raftd_ctl.c), as Kafka's controller fences a broker
 * whose log directory failed. Once full, twice the reserve must be free
 * again, as walwriter wants before it takes appends again. */
#define RAFTD_STORAGE_SLACK (2u << 20)

static void raftd_node_storage_look(struct raftd_node *n)
{
	uint64_t free_b, reserve;
	bool full;

	if (ck_fs_space(n->cfg->data_dir, &free_b, &reserve) < 0)
		return;
	full = free_b < reserve * (n->storage_full ? 2 : 1) + RAFTD_STORAGE_SLACK;
	if (full != n->storage_full)
		ck_log(full ? CK_LOG_WARN : CK_LOG_INFO, "data disk %s free=%llu reserve=%llu",
		       full ? "full: the broker asks to be fenced"
		            : "has room again: unfence asked",
		       (unsigned long long)free_b, (unsigned long long)reserve);
	n->storage_full = full;
}

void raftd_node_net_heartbeat(struct raftd_node *n)
{
	Chronik__Raftnet__Envelope item = CHRONIK__RAFTNET__ENVELOPE__INIT;
	Chronik__Raftnet__BrokerHeartbeat hb = CHRONIK__RAFTNET__BROKER_HEARTBEAT__INIT;

	if (!n->net || n->role == RAFT_LEADER || n->leader == RAFT_NONE || n->stopping)
		return;
	raftd_node_net_progress(n);
	hb.broker_incarnation = n->incarnation;
	hb.applied_index = n->applied;
	hb.storage_full = n->storage_full;
	hb.shutting_down = n->departing;
	item.heartbeat = &hb;
	/* Only over a live connection: a stale heartbeat is worthless. */
	if (raftd_net_connected(n->net, n->leader) &&
	    raftd_net_send_item(n->net, n->leader, &item) == 0)
		raftd_net_flush(n->net);
}

void raftd_node_net_tick(struct raftd_node *n)
{
	if (!n->net || n->ticks % RAFTD_HEARTBEAT_TICKS != 0)
		return;
	raftd_node_storage_look(n);
	raftd_node_net_heartbeat(n);
}

int raftd_node_net_start(struct raftd_node *n)
{
	static const raftd_net_hooks_t hooks = {raftd_on_envelope, raftd_on_peer_up,
	                                        raftd_on_peer_down};

	n->inbox = calloc(RAFTD_INBOX_MAX, sizeof(*n->inbox));
	if (!n->inbox)
		return -ENOMEM;
	return raftd_net_new(&n->net, n->base, n->cfg, n->incarnation, &hooks, n);
}

void raftd_node_net_free(struct raftd_node *n)
{
	while (n->inbox && n->inbox_n)
		raftd_inbox_pop(n);
	free(n->inbox);
	n->inbox = NULL;
	raftd_net_free(n->net);
	n->net = NULL;
}
