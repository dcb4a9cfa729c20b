/*
 * fuzz_raft.c: libFuzzer target for what another node's raftd may send to
 * this one: Raft messages with any fields, in any order, between ticks,
 * proposals, crashes and compactions. Built only with -Dfuzz=true and
 * clang; run with tests/fuzz/run.sh BUILD SECONDS fuzz_raft.
 *
 * The raft port is open to whatever reaches it, and its peers may be
 * buggy, stale or hostile. The target is node 1 of voters {1, 2, 3}: the
 * pure core (raft_core.h) over tests/sim's in-memory store, each Ready
 * handled as raftd's shell handles it (snapshot, entries, hard state, then
 * apply). The input is a program: each op takes a byte and its operands
 * from the bytes after it (an exhausted input reads zeros): ticks, a
 * proposal, a campaign, a leadership transfer, reports, a compaction, a
 * crash and restart, and messages from a peer, either built field by field
 * (terms and indexes near the node's own, so that they mean something) or
 * decoded from protobuf bytes through raftd_msg_unpack() as raftd does.
 *
 * Besides "never crash, never read out of bounds" (ASan/UBSan, and the
 * core's own assertions), abort() when: a Ready's entries do not continue
 * the log, committed entries come out of order, a snapshot is installed
 * that was never received, the term or (in quorum mode) the commit goes
 * back, an applied entry changes under the state machine in quorum mode,
 * or the durable state the core left cannot be restarted from.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "fuzz_input.h"
#include "ck_rand.h"
#include "raft_core.h"
#include "raftd_msg.h"
#include "sim_store.h"

#define ENTS_MAX 8

/* A value near BASE: mostly BASE - 3 .. BASE + 4, sometimes anything. */
static uint64_t near(rd_t *r, uint64_t base)
{
	uint8_t b = u8(r);

	if (b == 0xff)
		return un(r, 8);
	if (b == 0xfe)
		return 0;
	return base + (uint64_t)(int64_t)((int)(b & 7) - 3);
}

typedef struct {
	sim_store_t st;
	raft_t *r;
	ck_rand_t rand;
	raft_config_t cfg;
	sim_snap_t rx_snap;
	bool has_rx_snap;
	uint64_t term_seen;   /* since the last restart */
	uint64_t commit_seen; /* durable commit (quorum mode only checked) */
	uint8_t data[64];
} node_t;

static bool trace_on;

static void trace_hs(const char *what, const raft_hard_state_t *hs)
{
	if (trace_on)
		fprintf(stderr, "  %s term %llu vote %llu commit %llu\n", what,
		        (unsigned long long)hs->term, (unsigned long long)hs->vote,
		        (unsigned long long)hs->commit);
}

static void fail(const char *what, unsigned long long a, unsigned long long b)
{
	fprintf(stderr, "fuzz_raft: %s (%llu, %llu)\n", what, a, b);
	abort();
}

static void start(node_t *n)
{
	raft_storage_t st = sim_store_storage(&n->st);
	int rc = raft_init(&n->r, &n->cfg, n->st.has_hs ? &n->st.hs : NULL, &st, n->st.applied);

	if (rc < 0)
		fail("raft_init refuses the durable state the core left", (unsigned long long)-rc,
		     n->st.applied);
	n->has_rx_snap = false;
	n->term_seen = n->st.hs.term;
}

/* Applied entries of quorum mode never change: the log's chained hash at
 * the applied index stays the state machine's. */
static void check_applied(node_t *n)
{
	uint64_t cum;

	if (n->cfg.commit_mode != RAFT_COMMIT_QUORUM || n->st.applied == 0)
		return;
	if (sim_store_cum(&n->st, n->st.applied, &cum) && cum != n->st.sm_cum)
		fail("an applied entry was overwritten", n->st.applied, sim_store_last(&n->st));
}

static void ready(node_t *n)
{
	for (int i = 0; i < 64 && raft_has_ready(n->r); i++) {
		raft_ready_t rd;
		raft_status_t s;
		int rc = raft_ready(n->r, &rd);

		if (rc < 0)
			fail("raft_ready failed", (unsigned long long)-rc, 0);
		if (rd.has_snapshot) {
			if (!n->has_rx_snap || n->rx_snap.index != rd.snapshot.index ||
			    n->rx_snap.term != rd.snapshot.term)
				fail("installs a snapshot it never received", rd.snapshot.index,
				     rd.snapshot.term);
			if (n->cfg.commit_mode == RAFT_COMMIT_QUORUM &&
			    rd.snapshot.index < n->st.applied)
				fail("a snapshot below the applied index", rd.snapshot.index,
				     n->st.applied);
			sim_store_install(&n->st, &n->rx_snap);
			n->has_rx_snap = false;
		}
		if (rd.n_entries && !sim_store_append(&n->st, rd.entries, rd.n_entries))
			fail("ready entries do not continue the log", rd.entries[0].index,
			     sim_store_last(&n->st));
		if (rd.has_hard_state) {
			trace_hs("hard state", &rd.hard_state);
			if (rd.hard_state.term < n->st.hs.term)
				fail("the durable term goes back", rd.hard_state.term,
				     n->st.hs.term);
			if (n->cfg.commit_mode == RAFT_COMMIT_QUORUM &&
			    rd.hard_state.commit < n->commit_seen)
				fail("the durable commit goes back", rd.hard_state.commit,
				     n->commit_seen);
			if (n->cfg.commit_mode == RAFT_COMMIT_QUORUM &&
			    rd.hard_state.commit > sim_store_last(&n->st))
				fail("the durable commit is past the log", rd.hard_state.commit,
				     sim_store_last(&n->st));
			sim_store_set_hs(&n->st, &rd.hard_state);
			if (rd.hard_state.commit > n->commit_seen)
				n->commit_seen = rd.hard_state.commit;
		}
		check_applied(n);
		for (size_t k = 0; k < rd.n_committed; k++)
			if (!sim_store_apply(&n->st, &rd.committed[k]))
				fail("committed entries out of order", rd.committed[k].index,
				     n->st.applied);
		raft_advance(n->r, &rd);
		raft_status(n->r, &s);
		if (s.term < n->term_seen)
			fail("the term goes back", s.term, n->term_seen);
		n->term_seen = s.term;
	}
}

static void step(node_t *n, const raft_msg_t *m)
{
	/* The shell steps a SNAPSHOT only with its data in hand, and none
	 * while another one waits for its Ready. */
	if (m->type == RAFT_MSG_SNAPSHOT) {
		if (raft_snapshot_pending(n->r, NULL))
			return;
		n->rx_snap.index = m->snapshot.index;
		n->rx_snap.term = m->snapshot.term;
		n->rx_snap.cum = m->snapshot.index * 0x9e3779b97f4a7c15ull ^ m->snapshot.term;
		n->has_rx_snap = true;
	}
	if (trace_on)
		fprintf(stderr,
		        "step %s from %llu to %llu term %llu index %llu log_term %llu "
		        "commit %llu reject %d entries %u snap %llu/%llu\n",
		        raft_msg_type_name(m->type), (unsigned long long)m->from,
		        (unsigned long long)m->to, (unsigned long long)m->term,
		        (unsigned long long)m->index, (unsigned long long)m->log_term,
		        (unsigned long long)m->commit, m->reject, m->n_entries,
		        (unsigned long long)m->snapshot.index,
		        (unsigned long long)m->snapshot.term);
	(void)raft_step(n->r, m);
}

/* A message built field by field, near this node's own state. */
static void step_built(node_t *n, rd_t *in)
{
	raft_entry_t ents[ENTS_MAX];
	raft_status_t s;
	raft_msg_t m;
	uint8_t flags;
	uint64_t idx;

	raft_status(n->r, &s);
	memset(&m, 0, sizeof(m));
	m.type = (raft_msg_type_t)(u8(in) % (RAFT_MSG_TYPE_MAX + 2));
	m.from = u8(in) % 5;
	m.to = (u8(in) & 0x80) ? 7 : 1;
	m.term = near(in, s.term);
	m.index = near(in, s.last_index);
	m.log_term = near(in, s.term);
	m.commit = near(in, s.commit);
	m.reject_hint = near(in, s.last_index);
	flags = u8(in);
	m.reject = flags & 1;
	m.need_snapshot = flags & 2;
	m.transfer = flags & 4;
	m.snapshot.index = near(in, s.commit);
	m.snapshot.term = near(in, s.term);
	m.n_entries = (flags >> 4) % (ENTS_MAX + 1);
	idx = m.index;
	for (uint32_t i = 0; i < m.n_entries; i++) {
		uint8_t b = u8(in);

		idx = (b & 0x80) ? near(in, idx + 1) : idx + 1;
		ents[i].index = idx;
		ents[i].term = (b & 0x40) ? near(in, m.term) : m.term;
		ents[i].len = b & 0x3f;
		ents[i].data = n->data;
	}
	m.entries = ents;
	step(n, &m);
}

/* A message decoded from protobuf bytes, as raftd_step_one() does. */
static void step_wire(node_t *n, rd_t *in)
{
	size_t len = u8(in);
	Chronik__Raftnet__RaftMessage *pm;
	raft_entry_t *ents = NULL;
	raft_msg_t m;

	len = len < in->len ? len : in->len;
	pm = chronik__raftnet__raft_message__unpack(NULL, len, in->p);
	in->p += len;
	in->len -= len;
	if (!pm)
		return;
	if (pm->n_entries <= RAFTD_MSG_ENTRIES_MAX &&
	    (!pm->n_entries || (ents = calloc(pm->n_entries, sizeof(*ents)))) &&
	    raftd_msg_unpack(pm, &m, ents) == 0)
		step(n, &m);
	free(ents);
	chronik__raftnet__raft_message__free_unpacked(pm, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rd_t in = {data, size};
	node_t n;
	uint8_t mode = u8(&in);
	uint64_t idx;

	trace_on = getenv("FUZZ_RAFT_TRACE") != NULL;
	memset(&n, 0, sizeof(n));
	sim_store_init(&n.st);
	ck_rand_seed(&n.rand, 1);
	n.cfg.id = 1;
	n.cfg.voters[0] = 1;
	n.cfg.voters[1] = 2;
	n.cfg.voters[2] = 3;
	n.cfg.n_voters = 3;
	n.cfg.commit_mode = (mode & 1) ? RAFT_COMMIT_LEADER : RAFT_COMMIT_QUORUM;
	n.cfg.no_pre_vote = mode & 2;
	n.cfg.no_check_quorum = mode & 4;
	/* Small buffers: raft_init() sizes every one of them, per run. */
	n.cfg.entry_bytes_max = 256;
	n.cfg.append_bytes_max = 1024;
	n.cfg.window_entries_max = 32;
	n.cfg.window_bytes_max = 4096;
	n.cfg.apply_entries_max = 16;
	n.cfg.apply_bytes_max = 4096;
	n.cfg.append_entries_max = 4;
	n.cfg.inflight_max = 2;
	n.cfg.rand = &n.rand;
	memset(n.data, 'x', sizeof(n.data));
	start(&n);
	for (int ops = 0; in.len && ops < 4096; ops++) {
		uint8_t op = u8(&in);

		if (trace_on)
			fprintf(stderr, "op %u (%u)\n", op % 12, op);

		switch (op % 12) {
		case 0:
			for (int i = 0, k = 1 + (op >> 4); i < k; i++)
				raft_tick(n.r);
			break;
		case 1:
			(void)raft_propose(n.r, n.data, 1 + (op >> 4), &idx);
			break;
		case 2:
		case 3:
		case 4:
		case 5:
			step_built(&n, &in);
			break;
		case 6:
			step_wire(&n, &in);
			break;
		case 7:
			(void)raft_campaign(n.r);
			break;
		case 8:
			(void)raft_transfer_leader(n.r, (op >> 4) % 5);
			break;
		case 9:
			switch ((op >> 4) % 3) {
			case 0:
				raft_report_unreachable(n.r, u8(&in) % 5);
				break;
			case 1:
				raft_report_snapshot(n.r, u8(&in) % 5, u8(&in) & 1);
				break;
			default:
				raft_report_restart(n.r, u8(&in) % 5, near(&in, n.st.applied));
				break;
			}
			break;
		case 10:
			/* The shell compacts between Readies, at the applied index. */
			sim_store_compact(&n.st, op >> 4);
			break;
		default:
			if ((op >> 4) & 1) {
				raft_hold_commit(n.r, (op >> 5) & 1);
				break;
			}
			/* A crash: what is in the store is what survives. */
			raft_free(n.r);
			n.r = NULL;
			start(&n);
			break;
		}
		ready(&n);
	}
	raft_free(n.r);
	sim_store_free(&n.st);
	return 0;
}
