/*
 * raft_ready.c: the outbox and the Ready cycle of the Raft core
 * (chronik-raftd, pure).
 * Messages queue in a bounded outbox whose entries and entry data live in
 * arenas of their own; a full outbox drops the message (Raft tolerates
 * loss: heartbeats and probes resend). raft_ready() gathers the work in
 * the order of obligation documented in raft_core.h; raft_advance() makes
 * the window durable, records what was applied and empties the buffers.
 * Not for: deciding what to send (raft_leader.c, raft_step.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "raft_int.h"

int raft_outbox_init(raft_outbox_t *o, const raft_config_t *cfg)
{
	memset(o, 0, sizeof(*o));
	o->cap = cfg->msgs_max;
	/* Two full APPENDs per follower per Ready; more wait for the next. */
	o->ents_cap = cfg->append_entries_max * CK_MAX(cfg->n_voters, 2u) * 2;
	o->arena_cap = cfg->msg_bytes_max;
	o->msgs = calloc(o->cap, sizeof(*o->msgs));
	o->ents = calloc(o->ents_cap, sizeof(*o->ents));
	o->arena = malloc(o->arena_cap);
	if (!o->msgs || !o->ents || !o->arena) {
		raft_outbox_free(o);
		return -ENOMEM;
	}
	return 0;
}

void raft_outbox_free(raft_outbox_t *o)
{
	free(o->msgs);
	free(o->ents);
	free(o->arena);
	o->msgs = NULL;
	o->ents = NULL;
	o->arena = NULL;
}

bool raft_send(raft_t *r, const raft_msg_t *m)
{
	raft_outbox_t *o = &r->out;
	raft_msg_t *q;

	if (o->n == o->cap)
		return false;
	q = &o->msgs[o->n++];
	*q = *m;
	q->from = r->id;
	if (q->term == 0)
		q->term = r->term;
	return true;
}

bool raft_outbox_full(const raft_t *r)
{
	return r->out.n == r->out.cap;
}

uint32_t raft_outbox_room(raft_outbox_t *o, raft_entry_t **ret_ents, uint8_t **ret_buf,
                          size_t *ret_cap)
{
	*ret_ents = o->ents + o->ents_n;
	*ret_buf = o->arena + o->arena_used;
	*ret_cap = o->arena_cap - o->arena_used;
	return o->ents_cap - o->ents_n;
}

void raft_outbox_take(raft_outbox_t *o, uint32_t n, size_t bytes)
{
	CK_ASSERT(n <= o->ents_cap - o->ents_n && bytes <= o->arena_cap - o->arena_used);
	o->ents_n += n;
	o->arena_used += bytes;
}

static bool raft_hs_equal(const raft_hard_state_t *a, const raft_hard_state_t *b)
{
	return a->term == b->term && a->vote == b->vote && a->commit == b->commit;
}

static void raft_hs_get(const raft_t *r, raft_hard_state_t *ret)
{
	ret->term = r->term;
	ret->vote = r->vote;
	ret->commit = r->log.commit;
}

/* The first index not yet handed out for applying. */
static uint64_t raft_apply_from(const raft_t *r)
{
	if (r->log.has_pending_snap)
		return r->log.pending_snap.index + 1;
	return r->log.applied + 1;
}

bool raft_has_ready(const raft_t *r)
{
	raft_hard_state_t hs;

	raft_hs_get(r, &hs);
	return !raft_hs_equal(&hs, &r->prev_hs) || r->prev_ss.leader != r->leader ||
	       r->prev_ss.role != r->role || r->log.win_n > 0 || r->out.n > 0 || r->bcast_pending ||
	       r->log.has_pending_snap || r->log.commit >= raft_apply_from(r);
}

bool raft_snapshot_pending(const raft_t *r, raft_snapshot_meta_t *ret_meta)
{
	if (r->log.has_pending_snap && ret_meta)
		*ret_meta = r->log.pending_snap;
	return r->log.has_pending_snap;
}

/* Reads committed entries into the apply buffers: storage, then window. */
static int raft_ready_committed(raft_t *r, size_t *ret_n)
{
	uint64_t lo = raft_apply_from(r);
	uint64_t hi = r->log.commit;
	size_t n = 0, used = 0;
	size_t cap = r->cfg.apply_bytes_max;

	while (lo <= hi && n < r->cfg.apply_entries_max) {
		uint32_t want =
		    (uint32_t)CK_MIN(hi - lo + 1, (uint64_t)(r->cfg.apply_entries_max - n));
		int got;

		if (n > 0 && cap - used < r->cfg.entry_bytes_max)
			break; /* the next entry might not fit: leave it to the next Ready */
		got = raft_log_entries(&r->log, lo, want, cap - used, r->apply_ents + n,
		                       r->apply_arena + used, cap - used);
		if (got < 0)
			return got;
		if (got == 0)
			return CK_E_CORRUPT;
		for (int i = 0; i < got; i++) {
			const raft_entry_t *e = &r->apply_ents[n + (size_t)i];
			size_t end = e->len ? (size_t)(e->data - r->apply_arena) + e->len : 0;

			used = CK_MAX(used, end);
		}
		n += (size_t)got;
		lo += (uint64_t)got;
	}
	*ret_n = n;
	return 0;
}

int raft_ready(raft_t *r, raft_ready_t *ret)
{
	raft_hard_state_t hs;
	size_t n_committed = 0;
	int rc;

	raft_bcast_flush(r);
	rc = raft_ready_committed(r, &n_committed);
	if (rc < 0)
		return rc;
	memset(ret, 0, sizeof(*ret));
	if (r->log.has_pending_snap) {
		ret->has_snapshot = true;
		ret->snapshot = r->log.pending_snap;
	}
	raft_hs_get(r, &hs);
	if (!raft_hs_equal(&hs, &r->prev_hs)) {
		ret->has_hard_state = true;
		ret->hard_state = hs;
	}
	ret->entries = r->log.win;
	ret->n_entries = r->log.win_n;
	ret->msgs = r->out.msgs;
	ret->n_msgs = r->out.n;
	ret->committed = r->apply_ents;
	ret->n_committed = n_committed;
	r->ready_out = true;
	if (r->prev_ss.leader != r->leader || r->prev_ss.role != r->role) {
		ret->has_soft_state = true;
		ret->soft_state.leader = r->leader;
		ret->soft_state.role = r->role;
	}
	return 0;
}

void raft_advance(raft_t *r, const raft_ready_t *rd)
{
	raft_log_t *l = &r->log;

	CK_ASSERT(r->ready_out);
	CK_ASSERT(rd->n_entries == l->win_n && rd->n_msgs == r->out.n);
	r->ready_out = false;
	CK_ASSERT(rd->has_snapshot == l->has_pending_snap);
	if (rd->has_snapshot)
		l->applied = rd->snapshot.index;
	if (rd->n_committed)
		l->applied = rd->committed[rd->n_committed - 1].index;
	raft_log_stable(l);
	if (rd->has_hard_state)
		r->prev_hs = rd->hard_state;
	if (rd->has_soft_state)
		r->prev_ss = rd->soft_state;
	r->out.n = 0;
	r->out.ents_n = 0;
	r->out.arena_used = 0;
	if (r->role == RAFT_LEADER) {
		raft_progress_t *self = &r->prs[r->self];

		/* The leader's own acknowledgement: its entries are durable. */
		if (l->durable_last > self->match)
			self->match = l->durable_last;
		if (raft_maybe_commit(r))
			raft_bcast_later(r);
	}
}
