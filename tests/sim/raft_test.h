/*
 * raft_test.h: a scripted harness for the focused tests of the Raft core
 * (test_raft_core.c): up to five nodes over sim_store_t, a FIFO network the
 * test drives message by message or runs until quiet (with nodes cut off),
 * and Ready handling in the shell's order (persist, send, apply, advance).
 * Not for: randomized simulation (sim_cluster.h), production code.
 */
#ifndef RAFT_TEST_H
#define RAFT_TEST_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "raft_core.h"
#include "sim_store.h"

#define RT_NODES_MAX 5

typedef struct {
	raft_msg_t msgs[1024];
	raft_entry_t ents[4096];
	uint8_t data[1 << 17];
	sim_snap_t snaps[1024]; /* contents of SNAPSHOT messages */
	size_t head;
	size_t n;
	size_t ents_n;
	size_t data_n;
} rt_box_t;

typedef struct {
	raft_t *r;
	sim_store_t st;
	ck_rand_t rand;
	sim_snap_t rx_snap;
	size_t readies_with_hs;
} rt_node_t;

typedef void (*rt_tweak_t)(raft_config_t *cfg);

static rt_node_t rt_nodes[RT_NODES_MAX + 1]; /* by id */
static uint32_t rt_n;
static rt_tweak_t rt_tweak;
static bool rt_cut[RT_NODES_MAX + 1]; /* cut off from the network */
static rt_box_t rt_net;               /* messages in flight */

static inline void rt_box_clear(rt_box_t *b)
{
	b->head = b->n = b->ents_n = b->data_n = 0;
}

static inline void rt_box_add(rt_box_t *b, const raft_msg_t *m, const sim_snap_t *snap)
{
	raft_msg_t *q;

	ck_assert_uint_lt(b->n, CK_ARRAY_LEN(b->msgs));
	q = &b->msgs[b->n];
	*q = *m;
	q->entries = b->ents + b->ents_n;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		raft_entry_t *e = &b->ents[b->ents_n++];

		ck_assert_uint_lt(b->data_n + m->entries[i].len, sizeof(b->data));
		*e = m->entries[i];
		e->data = b->data + b->data_n;
		if (e->len)
			memcpy(b->data + b->data_n, m->entries[i].data, e->len);
		b->data_n += e->len;
	}
	if (snap)
		b->snaps[b->n] = *snap;
	b->n++;
}

/* The first message of TYPE to TO (0 = anyone) still in B, or NULL. */
static inline const raft_msg_t *rt_find(const rt_box_t *b, raft_msg_type_t type, uint64_t to)
{
	for (size_t i = b->head; i < b->n; i++) {
		if (b->msgs[i].type == type && (to == 0 || b->msgs[i].to == to))
			return &b->msgs[i];
	}
	return NULL;
}

static inline size_t rt_count(const rt_box_t *b, raft_msg_type_t type)
{
	size_t n = 0;

	for (size_t i = b->head; i < b->n; i++)
		n += b->msgs[i].type == type;
	return n;
}

static inline raft_config_t rt_config(uint64_t id)
{
	raft_config_t c = {0};

	c.id = id;
	for (uint32_t i = 0; i < rt_n; i++)
		c.voters[i] = i + 1;
	c.n_voters = rt_n;
	c.election_ticks = 10;
	c.heartbeat_ticks = 1;
	c.entry_bytes_max = 256;
	c.window_bytes_max = 1 << 14;
	c.apply_bytes_max = 1 << 14;
	c.append_bytes_max = 1 << 12;
	c.msg_bytes_max = 1 << 15;
	c.rand = &rt_nodes[id].rand;
	if (rt_tweak)
		rt_tweak(&c);
	return c;
}

static inline raft_t *rt_r(uint64_t id)
{
	ck_assert_ptr_nonnull(rt_nodes[id].r);
	return rt_nodes[id].r;
}

static inline raft_status_t rt_status(uint64_t id)
{
	raft_status_t st;

	raft_status(rt_r(id), &st);
	return st;
}

/* Handles every Ready of node ID; messages go to OUT (the network when
 * NULL). */
static inline void rt_drain(uint64_t id, rt_box_t *out)
{
	rt_node_t *nd = &rt_nodes[id];

	if (!out)
		out = &rt_net;
	for (int k = 0; k < 100 && raft_has_ready(nd->r); k++) {
		raft_ready_t rd;

		ck_assert_int_eq(raft_ready(nd->r, &rd), 0);
		if (rd.has_snapshot) {
			ck_assert_uint_eq(rd.snapshot.index, nd->rx_snap.index);
			sim_store_install(&nd->st, &nd->rx_snap);
		}
		ck_assert(sim_store_append(&nd->st, rd.entries, rd.n_entries));
		if (rd.has_hard_state) {
			sim_store_set_hs(&nd->st, &rd.hard_state);
			nd->readies_with_hs++;
		}
		for (size_t i = 0; i < rd.n_msgs; i++)
			rt_box_add(out, &rd.msgs[i],
			           rd.msgs[i].type == RAFT_MSG_SNAPSHOT ? &nd->st.snap : NULL);
		for (size_t i = 0; i < rd.n_committed; i++)
			ck_assert(sim_store_apply(&nd->st, &rd.committed[i]));
		raft_advance(nd->r, &rd);
	}
	ck_assert(!raft_has_ready(nd->r));
}

static inline void rt_start(uint64_t id, uint64_t applied)
{
	rt_node_t *nd = &rt_nodes[id];
	raft_config_t c = rt_config(id);
	raft_storage_t st = sim_store_storage(&nd->st);

	ck_assert_int_eq(raft_init(&nd->r, &c, nd->st.has_hs ? &nd->st.hs : NULL, &st, applied), 0);
	rt_drain(id, NULL);
}

static inline void rt_crash(uint64_t id)
{
	raft_free(rt_nodes[id].r);
	rt_nodes[id].r = NULL;
}

static inline void rt_teardown(void)
{
	for (uint32_t i = 1; i <= RT_NODES_MAX; i++) {
		raft_free(rt_nodes[i].r);
		sim_store_free(&rt_nodes[i].st);
	}
	memset(rt_nodes, 0, sizeof(rt_nodes));
	memset(rt_cut, 0, sizeof(rt_cut));
	rt_box_clear(&rt_net);
	rt_n = 0;
	rt_tweak = NULL;
}

/* A fresh cluster of N nodes (ids 1..N), all started. */
static inline void rt_cluster(uint32_t n, rt_tweak_t tweak)
{
	rt_teardown();
	rt_n = n;
	rt_tweak = tweak;
	for (uint32_t i = 1; i <= n; i++) {
		sim_store_init(&rt_nodes[i].st);
		ck_rand_seed(&rt_nodes[i].rand, 1000 + i);
		rt_start(i, 0);
	}
}

/* Steps M on its target and handles the Ready (answers to the network). */
static inline void rt_deliver(const raft_msg_t *m, const sim_snap_t *snap)
{
	if (snap)
		rt_nodes[m->to].rx_snap = *snap;
	ck_assert_int_eq(raft_step(rt_r(m->to), m), 0);
	rt_drain(m->to, NULL);
}

/* Delivers the network's messages in order until it is quiet; messages
 * from or to a cut node, or to a node that is down, are lost. Returns how
 * many were delivered. */
static inline size_t rt_run(void)
{
	size_t delivered = 0;

	while (rt_net.head < rt_net.n) {
		size_t k = rt_net.head++;
		raft_msg_t m = rt_net.msgs[k];

		ck_assert_uint_lt(delivered, 100000);
		if (rt_cut[m.from] || rt_cut[m.to] || !rt_nodes[m.to].r)
			continue;
		rt_deliver(&m, m.type == RAFT_MSG_SNAPSHOT ? &rt_net.snaps[k] : NULL);
		delivered++;
	}
	rt_box_clear(&rt_net);
	return delivered;
}

/* Ticks node ID K times, handling each Ready (messages to the network). */
static inline void rt_tick(uint64_t id, int k)
{
	for (int i = 0; i < k; i++) {
		raft_tick(rt_r(id));
		rt_drain(id, NULL);
	}
}

/* Ticks every node that is up once, then runs the network; K rounds. */
static inline void rt_rounds(int k)
{
	for (int i = 0; i < k; i++) {
		for (uint32_t id = 1; id <= rt_n; id++) {
			if (rt_nodes[id].r)
				rt_tick(id, 1);
		}
		(void)rt_run();
	}
}

/* Makes node ID the leader through a real election. */
static inline void rt_elect(uint64_t id)
{
	ck_assert_int_eq(raft_campaign(rt_r(id)), 0);
	rt_drain(id, NULL);
	(void)rt_run();
	ck_assert_int_eq(raft_role(rt_r(id)), RAFT_LEADER);
}

static inline uint64_t rt_propose(uint64_t id, const char *s)
{
	uint64_t idx = 0;

	ck_assert_int_eq(raft_propose(rt_r(id), s, strlen(s), &idx), 0);
	rt_drain(id, NULL);
	return idx;
}

/* A message from FROM to TO, of TYPE at TERM; other fields zero. */
static inline raft_msg_t rt_msg(raft_msg_type_t type, uint64_t from, uint64_t to, uint64_t term)
{
	raft_msg_t m = {0};

	m.type = type;
	m.from = from;
	m.to = to;
	m.term = term;
	return m;
}

/* Gives node ID a durable log with these TERMS (entries 1..n) and TERM. */
static inline void rt_preload(uint64_t id, const uint64_t *terms, size_t n, uint64_t term)
{
	raft_hard_state_t hs = {term, RAFT_NONE, 0};

	sim_store_fill(&rt_nodes[id].st, terms, n);
	sim_store_set_hs(&rt_nodes[id].st, &hs);
}

#endif
