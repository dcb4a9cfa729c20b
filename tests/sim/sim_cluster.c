/*
 * sim_cluster.c: the simulated raftd cluster (see sim_cluster.h): nodes
 * and their Ready handling (the shell's obligations, with crashes between
 * any two of them), the faulty network, random fault events, healing and
 * the liveness check. Invariants live in sim_check.c.
 */
#include "sim_cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"

#define SIM_TRACE_LINES 256

static uint64_t sim_below(sim_cluster_t *c, uint64_t n)
{
	return ck_rand_below(&c->rand, n);
}

static bool sim_pm(sim_cluster_t *c, uint32_t per_mille)
{
	return sim_below(c, 1000) < per_mille;
}

void sim_failf(sim_cluster_t *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->failed)
		return;
	c->failed = true;
	n = snprintf(c->fail, sizeof(c->fail), "tick %llu: ", (unsigned long long)c->now);
	va_start(ap, fmt);
	vsnprintf(c->fail + n, sizeof(c->fail) - (size_t)n, fmt, ap);
	va_end(ap);
	sim_tracef(c, "FAILED: %s", c->fail);
}

void sim_tracef(sim_cluster_t *c, const char *fmt, ...)
{
	va_list ap;
	char *line;
	int n;

	if (!c->trace)
		return;
	line = c->trace[c->trace_pos++ % SIM_TRACE_LINES];
	n = snprintf(line, sizeof(c->trace[0]), "%6llu ", (unsigned long long)c->now);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(c->trace[0]) - (size_t)n, fmt, ap);
	va_end(ap);
}

static void sim_trace_dump(const sim_cluster_t *c)
{
	uint32_t n = CK_MIN(c->trace_pos, (uint32_t)SIM_TRACE_LINES);

	fprintf(stderr, "--- last %u events of seed 0x%016llx ---\n", n,
	        (unsigned long long)c->seed);
	for (uint32_t i = c->trace_pos - n; i < c->trace_pos; i++)
		fprintf(stderr, "%s\n", c->trace[i % SIM_TRACE_LINES]);
}

static sim_node_t *sim_node(sim_cluster_t *c, uint64_t id)
{
	return id >= 1 && id <= c->n ? &c->nodes[id - 1] : NULL;
}

static uint64_t sim_term(const sim_node_t *nd)
{
	raft_status_t st;

	raft_status(nd->r, &st);
	return st.term;
}

/* ---- network ---- */

static void sim_pkt_free(sim_pkt_t *p)
{
	free(p->ents);
	free(p->data);
}

static void sim_net_push(sim_cluster_t *c, const sim_node_t *from, const raft_msg_t *m, uint64_t at)
{
	sim_pkt_t *p;
	size_t bytes = 0, off = 0;

	if (c->net_n == c->net_cap) {
		c->net_cap = c->net_cap ? c->net_cap * 2 : 64;
		c->net = realloc(c->net, c->net_cap * sizeof(*c->net));
		if (!c->net)
			abort();
	}
	p = &c->net[c->net_n++];
	memset(p, 0, sizeof(*p));
	p->m = *m;
	p->at = at;
	for (uint32_t i = 0; i < m->n_entries; i++)
		bytes += m->entries[i].len;
	p->ents = m->n_entries ? malloc(m->n_entries * sizeof(*p->ents)) : NULL;
	p->data = bytes ? malloc(bytes) : NULL;
	if ((m->n_entries && !p->ents) || (bytes && !p->data))
		abort();
	for (uint32_t i = 0; i < m->n_entries; i++) {
		p->ents[i] = m->entries[i];
		p->ents[i].data = p->data + off;
		if (m->entries[i].len)
			memcpy(p->data + off, m->entries[i].data, m->entries[i].len);
		off += m->entries[i].len;
	}
	p->m.entries = p->ents;
	if (m->type == RAFT_MSG_SNAPSHOT)
		p->snap = from->st.snap;
}

static void sim_net_send(sim_cluster_t *c, sim_node_t *from, const raft_msg_t *m)
{
	int copies = 1;

	if (m->type == RAFT_MSG_SNAPSHOT &&
	    (m->snapshot.index != from->st.snap.index || m->snapshot.term != from->st.snap.term)) {
		sim_failf(c, "node %llu sends snapshot %llu/%llu but holds %llu/%llu",
		          (unsigned long long)from->id, (unsigned long long)m->snapshot.index,
		          (unsigned long long)m->snapshot.term,
		          (unsigned long long)from->st.snap.index,
		          (unsigned long long)from->st.snap.term);
		return;
	}
	if (c->chaos && sim_pm(c, c->drop_pm)) {
		c->stats.dropped++;
		return;
	}
	if (c->chaos && sim_pm(c, c->dup_pm))
		copies = 2;
	for (int k = 0; k < copies; k++) {
		uint64_t delay;

		if (!c->chaos)
			delay = sim_below(c, 2);
		else if (sim_pm(c, c->long_delay_pm))
			delay = sim_below(c, 4ull * c->cfg.election_ticks);
		else
			delay = sim_below(c, c->delay_max + 1ull);
		sim_net_push(c, from, m, c->now + delay);
	}
}

static void sim_trace_msg(sim_cluster_t *c, const raft_msg_t *m, const char *what)
{
	if (!c->trace)
		return;
	sim_tracef(c, "%s %s %llu->%llu t%llu i%llu lt%llu c%llu n%u%s%s hint%llu snap%llu/%llu",
	           what, raft_msg_type_name(m->type), (unsigned long long)m->from,
	           (unsigned long long)m->to, (unsigned long long)m->term,
	           (unsigned long long)m->index, (unsigned long long)m->log_term,
	           (unsigned long long)m->commit, m->n_entries, m->reject ? " REJECT" : "",
	           m->need_snapshot ? " NEED-SNAP" : "", (unsigned long long)m->reject_hint,
	           (unsigned long long)m->snapshot.index, (unsigned long long)m->snapshot.term);
}

/* Delivers packet K (removed from the network). */
static void sim_deliver(sim_cluster_t *c, size_t k)
{
	sim_pkt_t p = c->net[k];
	sim_node_t *to = sim_node(c, p.m.to);
	sim_node_t *from = sim_node(c, p.m.from);
	int rc;

	c->net[k] = c->net[--c->net_n];
	if (!to->r || to->group != from->group) {
		c->stats.dropped++;
		sim_trace_msg(c, &p.m, "lost");
		if (from->r && to->group != from->group && sim_pm(c, 300)) {
			/* The sender's transport noticed the broken link. */
			raft_report_unreachable(from->r, to->id);
			if (p.m.type == RAFT_MSG_SNAPSHOT)
				raft_report_snapshot(from->r, to->id, false);
			sim_node_ready(c, from);
		}
		sim_pkt_free(&p);
		return;
	}
	if (p.m.type == RAFT_MSG_SNAPSHOT && raft_snapshot_pending(to->r, NULL)) {
		/* The shell keeps a stepped snapshot's data until its Ready:
		 * another transfer is refused, its message not stepped. */
		sim_trace_msg(c, &p.m, "refused");
		c->stats.dropped++;
	} else {
		sim_trace_msg(c, &p.m, "recv");
		if (p.m.type == RAFT_MSG_SNAPSHOT) {
			to->rx_snap = p.snap;
			to->has_rx_snap = true;
		}
		rc = raft_step(to->r, &p.m);
		if (rc < 0)
			sim_failf(c, "node %llu: raft_step(%s) = %s", (unsigned long long)to->id,
			          raft_msg_type_name(p.m.type), ck_strerror(rc));
		/* A busy shell steps several messages before its next Ready. */
		if (!sim_pm(c, c->defer_pm))
			sim_node_ready(c, to);
	}
	if (p.m.type == RAFT_MSG_SNAPSHOT && from->r) {
		raft_report_snapshot(from->r, to->id, true);
		sim_node_ready(c, from);
	}
	c->stats.delivered++;
	sim_pkt_free(&p);
}

/* Delivers every due packet, in random order. */
static void sim_deliver_due(sim_cluster_t *c)
{
	for (int rounds = 0; rounds < 100000 && !c->failed; rounds++) {
		size_t due = 0, pick;

		for (size_t i = 0; i < c->net_n; i++)
			due += c->net[i].at <= c->now;
		if (due == 0)
			return;
		pick = (size_t)sim_below(c, due);
		for (size_t i = 0; i < c->net_n; i++) {
			if (c->net[i].at <= c->now && pick-- == 0) {
				sim_deliver(c, i);
				break;
			}
		}
		sim_check_all(c);
	}
}

/* ---- nodes ---- */

void sim_crash(sim_cluster_t *c, uint32_t i)
{
	sim_node_t *nd = &c->nodes[i];

	if (!nd->r)
		return;
	sim_tracef(c, "crash node %llu", (unsigned long long)nd->id);
	raft_free(nd->r);
	nd->r = NULL;
	nd->has_rx_snap = false;
	c->stats.crashes++;
}

void sim_restart(sim_cluster_t *c, uint32_t i)
{
	sim_node_t *nd = &c->nodes[i];
	raft_config_t cfg = c->cfg;
	raft_storage_t st = sim_store_storage(&nd->st);
	int rc;

	if (nd->r)
		return;
	cfg.id = nd->id;
	cfg.rand = &nd->rand;
	rc = raft_init(&nd->r, &cfg, nd->st.has_hs ? &nd->st.hs : NULL, &st, nd->st.applied);
	if (rc < 0) {
		sim_failf(c, "node %llu: raft_init = %s", (unsigned long long)nd->id,
		          ck_strerror(rc));
		return;
	}
	sim_tracef(c, "start node %llu term %llu vote %llu commit %llu applied %llu last %llu",
	           (unsigned long long)nd->id, (unsigned long long)nd->st.hs.term,
	           (unsigned long long)nd->st.hs.vote, (unsigned long long)nd->st.hs.commit,
	           (unsigned long long)nd->st.applied, (unsigned long long)sim_store_last(&nd->st));
	nd->commit_seen = CK_MAX(nd->st.hs.commit, nd->st.applied);
	sim_node_ready(c, nd);
}

/* Where a Ready may be cut short by a crash. */
enum {
	SIM_CUT_NONE = -1,
	SIM_CUT_AFTER_SNAPSHOT = 0,
	SIM_CUT_IN_ENTRIES = 1,
	SIM_CUT_BEFORE_SEND = 2,
	SIM_CUT_IN_SEND = 3,
	SIM_CUT_IN_APPLY = 4,
	SIM_CUT_BEFORE_ADVANCE = 5,
};

static void sim_ready_crash(sim_cluster_t *c, sim_node_t *nd, int cut)
{
	sim_tracef(c, "node %llu crashes handling a ready (cut %d)", (unsigned long long)nd->id,
	           cut);
	c->stats.ready_crashes++;
	sim_crash(c, (uint32_t)(nd->id - 1));
}

/* Persists: snapshot, entries, hard state. False when a crash cut it. */
static bool sim_ready_persist(sim_cluster_t *c, sim_node_t *nd, const raft_ready_t *rd, int cut)
{
	if (rd->has_snapshot) {
		if (!nd->has_rx_snap || nd->rx_snap.index != rd->snapshot.index ||
		    nd->rx_snap.term != rd->snapshot.term) {
			sim_failf(c, "node %llu: ready installs a snapshot it never received",
			          (unsigned long long)nd->id);
			return false;
		}
		sim_tracef(c, "node %llu installs snapshot %llu/%llu", (unsigned long long)nd->id,
		           (unsigned long long)rd->snapshot.index,
		           (unsigned long long)rd->snapshot.term);
		sim_store_install(&nd->st, &nd->rx_snap);
		sim_check_installed(c, nd, &nd->rx_snap);
		c->stats.snapshots++;
		if (cut == SIM_CUT_AFTER_SNAPSHOT)
			return false;
	}
	if (rd->n_entries) {
		size_t n = rd->n_entries;

		if (cut == SIM_CUT_IN_ENTRIES)
			n = (size_t)sim_below(c, n + 1); /* a torn write keeps a prefix */
		if (!sim_store_append(&nd->st, rd->entries, n)) {
			sim_failf(
			    c, "node %llu: ready entries from %llu do not fit the log (last %llu)",
			    (unsigned long long)nd->id, (unsigned long long)rd->entries[0].index,
			    (unsigned long long)sim_store_last(&nd->st));
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			const sim_ent_t *e = sim_store_get(&nd->st, rd->entries[i].index);

			sim_check_entry(c, e->index, e->term, e->cum);
		}
		if (cut == SIM_CUT_IN_ENTRIES)
			return false;
	}
	if (rd->has_hard_state) {
		sim_store_set_hs(&nd->st, &rd->hard_state);
		sim_check_commits(c, nd, rd->hard_state.commit);
	}
	return cut != SIM_CUT_BEFORE_SEND;
}

static bool sim_ready_apply(sim_cluster_t *c, sim_node_t *nd, const raft_ready_t *rd, int cut)
{
	size_t n = rd->n_committed;

	if (cut == SIM_CUT_IN_APPLY)
		n = (size_t)sim_below(c, n + 1);
	for (size_t i = 0; i < n && !c->failed; i++) {
		if (!sim_store_apply(&nd->st, &rd->committed[i])) {
			sim_failf(c, "node %llu: applies %llu after %llu",
			          (unsigned long long)nd->id,
			          (unsigned long long)rd->committed[i].index,
			          (unsigned long long)nd->st.applied);
			return false;
		}
		sim_check_applied(c, nd, rd->committed[i].index);
	}
	return cut != SIM_CUT_IN_APPLY && cut != SIM_CUT_BEFORE_ADVANCE;
}

/* One Ready, handled as raftd's shell would: persist, send, apply. */
static bool sim_ready_once(sim_cluster_t *c, sim_node_t *nd)
{
	raft_ready_t rd;
	int cut = SIM_CUT_NONE;
	int rc = raft_ready(nd->r, &rd);

	if (rc < 0) {
		sim_failf(c, "node %llu: raft_ready = %s", (unsigned long long)nd->id,
		          ck_strerror(rc));
		return false;
	}
	if (c->chaos && sim_pm(c, c->ready_crash_pm))
		cut = (int)sim_below(c, 6);
	if (!sim_ready_persist(c, nd, &rd, cut))
		goto crash;
	for (size_t i = 0; i < rd.n_msgs; i++) {
		if (cut == SIM_CUT_IN_SEND && sim_below(c, 2) == 0)
			goto crash;
		sim_trace_msg(c, &rd.msgs[i], "send");
		sim_net_send(c, nd, &rd.msgs[i]);
	}
	if (!sim_ready_apply(c, nd, &rd, cut))
		goto crash;
	if (rd.has_soft_state)
		sim_tracef(c, "node %llu is %s, leader %llu, term %llu", (unsigned long long)nd->id,
		           raft_role_name(rd.soft_state.role),
		           (unsigned long long)rd.soft_state.leader,
		           (unsigned long long)sim_term(nd));
	raft_advance(nd->r, &rd);
	return true;
crash:
	if (!c->failed)
		sim_ready_crash(c, nd, cut);
	return false;
}

void sim_node_ready(sim_cluster_t *c, sim_node_t *nd)
{
	for (int i = 0; i < 1000 && nd->r && !c->failed && raft_has_ready(nd->r); i++) {
		if (!sim_ready_once(c, nd))
			return;
	}
	if (nd->r && !c->failed && raft_has_ready(nd->r))
		sim_failf(c, "node %llu: ready never drains", (unsigned long long)nd->id);
}

/* ---- fault events ---- */

static int sim_pick_node(sim_cluster_t *c, bool up)
{
	uint32_t cand[SIM_NODES_MAX], n = 0;

	for (uint32_t i = 0; i < c->n; i++) {
		if ((c->nodes[i].r != NULL) == up)
			cand[n++] = i;
	}
	return n ? (int)cand[sim_below(c, n)] : -1;
}

static void sim_propose(sim_cluster_t *c, sim_node_t *nd)
{
	uint8_t buf[64];
	uint64_t idx;
	int len, rc;

	len = snprintf((char *)buf, sizeof(buf), "p%llu.n%llu.",
	               (unsigned long long)++c->proposal_seq, (unsigned long long)nd->id);
	len += (int)sim_below(
	    c, (uint64_t)(CK_MIN((int)sizeof(buf), (int)c->cfg.entry_bytes_max) - len + 1));
	for (int i = (int)strlen((char *)buf); i < len; i++)
		buf[i] = (uint8_t)('a' + sim_below(c, 26));
	rc = raft_propose(nd->r, buf, (size_t)len, &idx);
	if (rc == 0) {
		c->stats.proposals++;
		sim_tracef(c, "node %llu proposes %.*s at %llu", (unsigned long long)nd->id, len,
		           buf, (unsigned long long)idx);
	} else if (rc != CK_E_NOT_LEADER && rc != CK_E_AGAIN) {
		sim_failf(c, "node %llu: raft_propose = %s", (unsigned long long)nd->id,
		          ck_strerror(rc));
	}
	sim_node_ready(c, nd);
}

/* A node that believes it leads, or -1. */
static int sim_pick_leader(sim_cluster_t *c)
{
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->nodes[i].r && raft_role(c->nodes[i].r) == RAFT_LEADER)
			return (int)i;
	}
	return -1;
}

static void sim_partition(sim_cluster_t *c)
{
	int leader = sim_pick_leader(c);

	if (sim_below(c, 2) == 0) {
		/* Cut one node off, most often the leader. */
		uint32_t alone = leader >= 0 && sim_below(c, 3) > 0 ? (uint32_t)leader
		                                                    : (uint32_t)sim_below(c, c->n);

		for (uint32_t i = 0; i < c->n; i++)
			c->nodes[i].group = i == alone;
	} else {
		for (uint32_t i = 0; i < c->n; i++)
			c->nodes[i].group = (int)sim_below(c, 2);
	}
	if (c->trace) {
		char g[SIM_NODES_MAX + 1] = {0};

		for (uint32_t i = 0; i < c->n; i++)
			g[i] = (char)('0' + c->nodes[i].group);
		sim_tracef(c, "partition %s", g);
	}
}

static void sim_transfer(sim_cluster_t *c)
{
	for (uint32_t i = 0; i < c->n; i++) {
		sim_node_t *nd = &c->nodes[i];

		if (nd->r && raft_role(nd->r) == RAFT_LEADER && c->n > 1) {
			uint64_t to = 1 + sim_below(c, c->n);

			sim_tracef(c, "node %llu transfers leadership to %llu",
			           (unsigned long long)nd->id, (unsigned long long)to);
			(void)raft_transfer_leader(nd->r, to);
			sim_node_ready(c, nd);
			return;
		}
	}
}

static void sim_events(sim_cluster_t *c)
{
	int i;

	if (sim_pm(c, c->propose_pm) && (i = sim_pick_node(c, true)) >= 0)
		sim_propose(c, &c->nodes[i]);
	if (sim_pm(c, c->crash_pm) && (i = sim_pick_node(c, true)) >= 0)
		sim_crash(c, (uint32_t)i);
	/* Leader changes with entries in flight are where the subtle bugs
	 * live (Raft paper, figure 8). */
	if (sim_pm(c, c->crash_pm) && (i = sim_pick_leader(c)) >= 0)
		sim_crash(c, (uint32_t)i);
	if (sim_pm(c, c->restart_pm) && (i = sim_pick_node(c, false)) >= 0)
		sim_restart(c, (uint32_t)i);
	if (sim_pm(c, c->partition_pm))
		sim_partition(c);
	if (sim_pm(c, c->heal_pm)) {
		for (uint32_t k = 0; k < c->n; k++)
			c->nodes[k].group = 0;
		sim_tracef(c, "partition healed");
	}
	if (sim_pm(c, 10) && (i = sim_pick_node(c, true)) >= 0) {
		uint64_t keep = sim_below(c, 6);

		sim_store_compact(&c->nodes[i].st, keep);
		sim_tracef(c, "node %d compacts to snapshot %llu keeping %llu", i + 1,
		           (unsigned long long)c->nodes[i].st.snap.index, (unsigned long long)keep);
	}
	if (sim_pm(c, 2))
		sim_transfer(c);
	if (sim_pm(c, 5) && (i = sim_pick_node(c, true)) >= 0)
		c->nodes[i].st.snapshot_again = (uint32_t)sim_below(c, 3);
	/* raftd holds a leader's commit-only APPENDs while nothing urgent is
	 * in flight: followers then learn commits from later APPENDs or
	 * heartbeats only. */
	if (sim_pm(c, 20) && (i = sim_pick_node(c, true)) >= 0) {
		bool hold = sim_pm(c, 500);

		raft_hold_commit(c->nodes[i].r, hold);
		sim_tracef(c, "node %d %s its commit", i + 1, hold ? "holds" : "releases");
	}
	sim_check_all(c);
}

void sim_tick(sim_cluster_t *c)
{
	uint32_t order[SIM_NODES_MAX];

	c->now++;
	c->stats.ticks++;
	for (uint32_t i = 0; i < c->n; i++)
		order[i] = i;
	for (uint32_t i = c->n; i > 1; i--) {
		uint32_t j = (uint32_t)sim_below(c, i), t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	for (uint32_t k = 0; k < c->n && !c->failed; k++) {
		sim_node_t *nd = &c->nodes[order[k]];

		if (!nd->r)
			continue;
		if (!c->chaos || !sim_pm(c, c->skew_pm[order[k]]))
			raft_tick(nd->r);
		sim_node_ready(c, nd);
		sim_check_all(c);
	}
	sim_deliver_due(c);
	if (c->chaos && !c->failed)
		sim_events(c);
}

/* ---- set-up ---- */

static void sim_config(sim_cluster_t *c)
{
	raft_config_t *f = &c->cfg;

	memset(f, 0, sizeof(*f));
	for (uint32_t i = 0; i < c->n; i++)
		f->voters[i] = i + 1;
	f->n_voters = c->n;
	f->election_ticks = 10 + (uint32_t)sim_below(c, 11);
	f->heartbeat_ticks = 1 + (uint32_t)sim_below(c, 3);
	f->no_pre_vote = sim_below(c, 8) == 0;
	f->no_check_quorum = sim_below(c, 8) == 0;
	f->commit_mode = c->opts.commit_mode >= 0 ? (raft_commit_mode_t)c->opts.commit_mode
	                 : sim_below(c, 4) == 0   ? RAFT_COMMIT_LEADER
	                                          : RAFT_COMMIT_QUORUM;
	f->append_entries_max = 1 + (uint32_t)sim_below(c, 8);
	f->append_bytes_max = 64 + (uint32_t)sim_below(c, 256);
	f->inflight_max = 1 + (uint32_t)sim_below(c, 4);
	f->entry_bytes_max = 64;
	f->window_entries_max = 4 + (uint32_t)sim_below(c, 60);
	f->window_bytes_max = 64 + (uint32_t)sim_below(c, 1024);
	f->apply_entries_max = 1 + (uint32_t)sim_below(c, 16);
	f->apply_bytes_max = 64 + (uint32_t)sim_below(c, 512);
	if (sim_below(c, 4) == 0) {
		/* A small outbox: sends are dropped and must be retried. */
		f->msgs_max = 2 * c->n + (uint32_t)sim_below(c, 8);
		f->msg_bytes_max = 64 + (uint32_t)sim_below(c, 128);
	}
}

void sim_cluster_init(sim_cluster_t *c, uint64_t seed, const sim_opts_t *opts)
{
	static const uint32_t sizes[] = {1, 3, 3, 3, 5, 5, 5};

	memset(c, 0, sizeof(*c));
	c->seed = seed;
	c->opts = *opts;
	ck_rand_seed(&c->rand, seed);
	c->n = opts->nodes ? opts->nodes : sizes[sim_below(c, CK_ARRAY_LEN(sizes))];
	sim_config(c);
	c->drop_pm = (uint32_t)sim_below(c, 120);
	c->dup_pm = (uint32_t)sim_below(c, 60);
	c->delay_max = (uint32_t)sim_below(c, 5);
	c->long_delay_pm = (uint32_t)sim_below(c, 20);
	c->ready_crash_pm = (uint32_t)sim_below(c, 12);
	/* Calm runs and storms: leader changes with entries in flight are
	 * where the subtle bugs live. */
	c->propose_pm = 50 + (uint32_t)sim_below(c, 600);
	c->crash_pm = 1 + (uint32_t)sim_below(c, sim_below(c, 4) == 0 ? 40 : 8);
	c->restart_pm = 10 + (uint32_t)sim_below(c, 90);
	c->partition_pm = 1 + (uint32_t)sim_below(c, sim_below(c, 4) == 0 ? 40 : 8);
	c->heal_pm = 5 + (uint32_t)sim_below(c, 30);
	for (uint32_t i = 0; i < SIM_NODES_MAX; i++)
		c->skew_pm[i] = sim_below(c, 3) == 0 ? (uint32_t)sim_below(c, 300) : 0;
	c->defer_pm = sim_below(c, 2) == 0 ? (uint32_t)sim_below(c, 800) : 0;
	if (opts->trace) {
		c->trace = calloc(SIM_TRACE_LINES, sizeof(*c->trace));
		if (!c->trace)
			abort();
	}
	sim_tracef(c,
	           "seed 0x%016llx nodes %u mode %s election %u heartbeat %u pre-vote %d "
	           "check-quorum %d drop %u dup %u delay %u",
	           (unsigned long long)seed, c->n,
	           c->cfg.commit_mode == RAFT_COMMIT_LEADER ? "leader" : "quorum",
	           c->cfg.election_ticks, c->cfg.heartbeat_ticks, !c->cfg.no_pre_vote,
	           !c->cfg.no_check_quorum, c->drop_pm, c->dup_pm, c->delay_max);
	for (uint32_t i = 0; i < c->n; i++) {
		sim_node_t *nd = &c->nodes[i];

		nd->id = i + 1;
		sim_store_init(&nd->st);
		ck_rand_seed(&nd->rand, ck_rand_u64(&c->rand));
		sim_restart(c, i);
	}
}

void sim_cluster_free(sim_cluster_t *c)
{
	for (uint32_t i = 0; i < c->n; i++) {
		raft_free(c->nodes[i].r);
		sim_store_free(&c->nodes[i].st);
	}
	for (size_t i = 0; i < c->net_n; i++)
		sim_pkt_free(&c->net[i]);
	free(c->net);
	free(c->trace);
	sim_check_free(c);
	memset(c, 0, sizeof(*c));
}

void sim_heal(sim_cluster_t *c)
{
	c->chaos = false;
	sim_tracef(c, "heal: no more faults");
	for (uint32_t i = 0; i < c->n; i++) {
		c->nodes[i].group = 0;
		c->nodes[i].st.snapshot_again = 0;
	}
	for (uint32_t i = 0; i < c->n && !c->failed; i++)
		sim_restart(c, i);
}

/* ---- liveness ---- */

/* The leader every node agrees on, or RAFT_NONE. */
static uint64_t sim_stable_leader(sim_cluster_t *c)
{
	uint64_t leader = RAFT_NONE, term = 0;

	for (uint32_t i = 0; i < c->n; i++) {
		raft_status_t st;

		if (!c->nodes[i].r)
			return RAFT_NONE;
		raft_status(c->nodes[i].r, &st);
		if (st.leader == RAFT_NONE ||
		    (leader != RAFT_NONE && (st.leader != leader || st.term != term)))
			return RAFT_NONE;
		leader = st.leader;
		term = st.term;
	}
	return raft_role(c->nodes[leader - 1].r) == RAFT_LEADER ? leader : RAFT_NONE;
}

/* True once every node applied the same entry at INDEX and it holds DATA.
 * Nodes may differ for a while (commit mode "leader": a former leader's
 * own entries), but must converge. */
static bool sim_all_applied(sim_cluster_t *c, uint64_t index, const char *data)
{
	uint64_t cum0 = 0;
	bool have = false;

	for (uint32_t i = 0; i < c->n; i++) {
		const sim_store_t *s = &c->nodes[i].st;
		const sim_ent_t *e = sim_store_get(s, index);
		uint64_t cum;

		if (s->applied < index)
			return false;
		if (!e && index <= s->base)
			continue; /* covered by a snapshot installed since */
		if (!e || e->len != strlen(data) || memcmp(e->data, data, e->len) != 0)
			return false;
		if (!sim_store_cum(s, index, &cum) || (have && cum != cum0))
			return false;
		cum0 = cum;
		have = true;
	}
	return true;
}

/* Whether the leader's log lost the probe entry (overwritten uncommitted). */
static bool sim_probe_lost(const sim_cluster_t *c, uint64_t leader, uint64_t index,
                           const char *data)
{
	const sim_ent_t *e = sim_store_get(&c->nodes[leader - 1].st, index);

	return e && (e->len != strlen(data) || memcmp(e->data, data, e->len) != 0);
}

/* Once healed, a leader every node agrees on must appear, and a proposal
 * must be applied everywhere, within a bounded number of ticks. */
static void sim_liveness(sim_cluster_t *c)
{
	uint64_t budget = 80ull * c->cfg.election_ticks + 200;
	uint64_t start = c->now, proposed_term = 0, idx = 0, attempt = 0;
	char data[64] = "";

	while (!c->failed && c->now - start < budget) {
		uint64_t leader = sim_stable_leader(c);

		if (leader != RAFT_NONE && idx && sim_probe_lost(c, leader, idx, data))
			proposed_term = 0;
		if (leader != RAFT_NONE && proposed_term != sim_term(&c->nodes[leader - 1])) {
			sim_node_t *nd = &c->nodes[leader - 1];
			uint64_t at;

			snprintf(data, sizeof(data), "live.%016llx.%llu",
			         (unsigned long long)c->seed, (unsigned long long)++attempt);
			if (raft_propose(nd->r, data, strlen(data), &at) == 0) {
				idx = at;
				proposed_term = sim_term(nd);
				sim_tracef(c, "liveness: node %llu proposes %s at %llu",
				           (unsigned long long)leader, data,
				           (unsigned long long)idx);
			}
			sim_node_ready(c, nd);
		}
		if (idx && sim_all_applied(c, idx, data))
			return;
		sim_tick(c);
	}
	if (!c->failed)
		sim_failf(c, "liveness: %s within %llu ticks after healing",
		          idx ? "the probe entry was not applied alike on every node"
		              : "no leader every node agrees on",
		          (unsigned long long)budget);
}

bool sim_run(uint64_t seed, const sim_opts_t *opts, char *err, size_t err_len,
             sim_stats_t *ret_stats)
{
	sim_cluster_t *c = malloc(sizeof(*c));
	uint32_t span = opts->chaos_ticks_max - opts->chaos_ticks_min;
	uint64_t ticks;
	bool ok;

	if (!c)
		abort();
	sim_cluster_init(c, seed, opts);
	ticks = opts->chaos_ticks_min + sim_below(c, (uint64_t)span + 1);
	c->chaos = true;
	while (!c->failed && c->now < ticks)
		sim_tick(c);
	if (!c->failed)
		sim_heal(c);
	if (!c->failed)
		sim_liveness(c);
	ok = !c->failed;
	if (!ok) {
		snprintf(err, err_len, "%s [nodes %u mode %s]", c->fail, c->n,
		         c->cfg.commit_mode == RAFT_COMMIT_LEADER ? "leader" : "quorum");
		if (c->trace)
			sim_trace_dump(c);
	}
	if (ret_stats)
		*ret_stats = c->stats;
	sim_cluster_free(c);
	free(c);
	return ok;
}
