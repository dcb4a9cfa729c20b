/*
 * sim_check.c: the invariants of the simulated raftd cluster, checked after
 * every step (see sim_cluster.h):
 *   election safety     at most one leader per term, ever;
 *   log matching        entries with the same index and term have the same
 *                       prefix (registry of (index, term) -> chained hash);
 *   state machine       every node's applied state equals its own log's
 *                       prefix; in commit mode "quorum" no two nodes commit
 *                       or apply different entries at one index;
 *   leader completeness (quorum) a leader of term T holds every entry that
 *                       was committed in a term below T;
 *   durability          (quorum) the highest committed entry is durable on
 *                       a majority, crashed nodes included;
 *   core view           after each Ready a node's core agrees with its
 *                       store (durable index, term, vote, applied).
 */
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "sim_cluster.h"

static bool sim_quorum_mode(const sim_cluster_t *c)
{
	return c->cfg.commit_mode == RAFT_COMMIT_QUORUM;
}

/* ---- log matching ---- */

static size_t sim_reg_slot(const sim_reg_t *reg, size_t cap, uint64_t index, uint64_t term)
{
	size_t h = (size_t)((index * 0x9e3779b97f4a7c15ull) ^ (term * 0xc2b2ae3d27d4eb4full));

	for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
		if (reg[i].key_term == 0 || (reg[i].key_index == index && reg[i].key_term == term))
			return i;
	}
}

static void sim_reg_grow(sim_cluster_t *c)
{
	size_t cap = c->reg_cap ? c->reg_cap * 2 : 1024;
	sim_reg_t *reg = calloc(cap, sizeof(*reg));

	if (!reg)
		abort();
	for (size_t i = 0; i < c->reg_cap; i++) {
		if (c->reg[i].key_term)
			reg[sim_reg_slot(reg, cap, c->reg[i].key_index, c->reg[i].key_term)] =
			    c->reg[i];
	}
	free(c->reg);
	c->reg = reg;
	c->reg_cap = cap;
}

void sim_check_entry(sim_cluster_t *c, uint64_t index, uint64_t term, uint64_t cum)
{
	size_t k;

	if (term == 0) {
		sim_failf(c, "entry %llu has term 0", (unsigned long long)index);
		return;
	}
	if (2 * (c->reg_n + 1) > c->reg_cap)
		sim_reg_grow(c);
	k = sim_reg_slot(c->reg, c->reg_cap, index, term);
	if (c->reg[k].key_term == 0) {
		c->reg[k].key_index = index;
		c->reg[k].key_term = term;
		c->reg[k].cum = cum;
		c->reg_n++;
	} else if (c->reg[k].cum != cum) {
		sim_failf(c, "log matching: two different logs hold entry %llu of term %llu",
		          (unsigned long long)index, (unsigned long long)term);
	}
}

/* ---- committed entries ---- */

static void sim_commit_register(sim_cluster_t *c, const sim_node_t *nd, uint64_t index,
                                uint64_t term, uint64_t cum, const char *how)
{
	sim_commit_t *e;
	uint64_t node_term = nd->st.hs.term;

	if (!sim_quorum_mode(c) || index == 0)
		return;
	if (index >= c->committed_cap) {
		size_t cap = CK_MAX(c->committed_cap * 2, (size_t)index + 1024);

		c->committed = realloc(c->committed, cap * sizeof(*c->committed));
		if (!c->committed)
			abort();
		memset(c->committed + c->committed_cap, 0,
		       (cap - c->committed_cap) * sizeof(*c->committed));
		c->committed_cap = cap;
	}
	e = &c->committed[index];
	if (e->term == 0) {
		e->term = term;
		e->cum = cum;
		e->commit_term = node_term;
		if (index > c->gc) {
			c->gc = index;
			c->stats.commits = index;
		}
		return;
	}
	if (e->cum != cum || e->term != term) {
		sim_failf(c,
		          "state machine safety: node %llu %s %llu (term %llu) but %llu (term "
		          "%llu) was committed there",
		          (unsigned long long)nd->id, how, (unsigned long long)index,
		          (unsigned long long)term, (unsigned long long)index,
		          (unsigned long long)e->term);
		return;
	}
	e->commit_term = CK_MIN(e->commit_term, node_term);
}

void sim_check_commits(sim_cluster_t *c, sim_node_t *nd, uint64_t commit)
{
	for (uint64_t i = nd->commit_seen + 1; i <= commit && !c->failed; i++) {
		const sim_ent_t *e = sim_store_get(&nd->st, i);

		if (!e) {
			if (i > sim_store_last(&nd->st))
				sim_failf(c,
				          "node %llu persisted commit %llu past its log end %llu",
				          (unsigned long long)nd->id, (unsigned long long)commit,
				          (unsigned long long)sim_store_last(&nd->st));
			continue;
		}
		sim_commit_register(c, nd, i, e->term, e->cum, "committed");
	}
	nd->commit_seen = CK_MAX(nd->commit_seen, commit);
}

void sim_check_applied(sim_cluster_t *c, sim_node_t *nd, uint64_t index)
{
	const sim_ent_t *e = sim_store_get(&nd->st, index);

	if (!e) {
		sim_failf(c, "node %llu applied %llu which its log does not hold",
		          (unsigned long long)nd->id, (unsigned long long)index);
		return;
	}
	if (e->cum != nd->st.sm_cum) {
		sim_failf(c, "node %llu: state after applying %llu differs from its log",
		          (unsigned long long)nd->id, (unsigned long long)index);
		return;
	}
	sim_commit_register(c, nd, index, e->term, e->cum, "applied");
}

void sim_check_installed(sim_cluster_t *c, sim_node_t *nd, const sim_snap_t *s)
{
	if (s->index > 0)
		sim_commit_register(c, nd, s->index, s->term, s->cum, "installed a snapshot at");
	nd->commit_seen = CK_MAX(nd->commit_seen, s->index);
}

/* ---- per step ---- */

static void sim_check_election(sim_cluster_t *c, const sim_node_t *nd, uint64_t term)
{
	if (term >= c->lot_cap) {
		size_t cap = CK_MAX(c->lot_cap * 2, (size_t)term + 64);

		c->leader_of_term = realloc(c->leader_of_term, cap * sizeof(uint64_t));
		if (!c->leader_of_term)
			abort();
		memset(c->leader_of_term + c->lot_cap, 0, (cap - c->lot_cap) * sizeof(uint64_t));
		c->lot_cap = cap;
	}
	if (c->leader_of_term[term] == 0) {
		c->leader_of_term[term] = nd->id;
		c->stats.elections++;
	} else if (c->leader_of_term[term] != nd->id) {
		sim_failf(c, "election safety: nodes %llu and %llu both lead term %llu",
		          (unsigned long long)c->leader_of_term[term], (unsigned long long)nd->id,
		          (unsigned long long)term);
	}
}

/* Does ST hold committed entry K (in its log or under its snapshot)? */
static bool sim_holds(const sim_cluster_t *c, const sim_store_t *st, uint64_t k)
{
	uint64_t cum;

	if (st->snap.index >= k)
		return true;
	return sim_store_cum(st, k, &cum) && cum == c->committed[k].cum;
}

static void sim_check_completeness(sim_cluster_t *c, const sim_node_t *nd, uint64_t term)
{
	uint64_t k = c->gc;

	for (int scanned = 0; k > 0 && scanned < 4096; k--, scanned++) {
		const sim_commit_t *e = &c->committed[k];

		if (e->term != 0 && e->commit_term < term)
			break;
	}
	if (k == 0 || c->committed[k].term == 0 || c->committed[k].commit_term >= term)
		return;
	if (!sim_holds(c, &nd->st, k))
		sim_failf(c,
		          "leader completeness: leader %llu of term %llu lacks entry %llu "
		          "committed in term %llu",
		          (unsigned long long)nd->id, (unsigned long long)term,
		          (unsigned long long)k, (unsigned long long)c->committed[k].commit_term);
}

static void sim_check_durable(sim_cluster_t *c)
{
	uint32_t holders = 0;

	if (c->gc == 0)
		return;
	for (uint32_t i = 0; i < c->n; i++)
		holders += sim_holds(c, &c->nodes[i].st, c->gc);
	if (holders < c->n / 2 + 1)
		sim_failf(c, "durability: committed entry %llu is durable on %u of %u nodes",
		          (unsigned long long)c->gc, holders, c->n);
}

/* The core's view of the log must be what the store holds. */
static void sim_check_view(sim_cluster_t *c, const sim_node_t *nd, const raft_status_t *st)
{
	if (st->durable_index != sim_store_last(&nd->st) || st->last_index != st->durable_index ||
	    st->applied != nd->st.applied || st->term != nd->st.hs.term ||
	    st->vote != nd->st.hs.vote || st->commit != nd->st.hs.commit ||
	    st->commit > st->last_index || st->applied > st->commit)
		sim_failf(c,
		          "node %llu: core (term %llu vote %llu commit %llu applied %llu last "
		          "%llu durable %llu) disagrees with its store (term %llu vote %llu commit "
		          "%llu applied %llu last %llu)",
		          (unsigned long long)nd->id, (unsigned long long)st->term,
		          (unsigned long long)st->vote, (unsigned long long)st->commit,
		          (unsigned long long)st->applied, (unsigned long long)st->last_index,
		          (unsigned long long)st->durable_index, (unsigned long long)nd->st.hs.term,
		          (unsigned long long)nd->st.hs.vote, (unsigned long long)nd->st.hs.commit,
		          (unsigned long long)nd->st.applied,
		          (unsigned long long)sim_store_last(&nd->st));
}

void sim_check_all(sim_cluster_t *c)
{
	for (uint32_t i = 0; i < c->n && !c->failed; i++) {
		const sim_node_t *nd = &c->nodes[i];
		raft_status_t st;

		if (!nd->r)
			continue;
		raft_status(nd->r, &st);
		if (!raft_has_ready(nd->r))
			sim_check_view(c, nd, &st);
		if (st.role != RAFT_LEADER)
			continue;
		sim_check_election(c, nd, st.term);
		if (sim_quorum_mode(c))
			sim_check_completeness(c, nd, st.term);
	}
	if (!c->failed && sim_quorum_mode(c))
		sim_check_durable(c);
}

void sim_check_free(sim_cluster_t *c)
{
	free(c->reg);
	free(c->leader_of_term);
	free(c->committed);
	c->reg = NULL;
	c->leader_of_term = NULL;
	c->committed = NULL;
}
