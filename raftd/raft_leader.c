/*
 * raft_leader.c: the leader's side of the pure Raft core (chronik-raftd):
 * per-follower progress and flow control, APPEND / SNAPSHOT / HEARTBEAT
 * sending, the commit rule, check-quorum and leadership transfer.
 * Each follower is probed (one APPEND at a time, stepping back by the
 * follower's reject hints, a whole divergent term per round trip) until an
 * APPEND is accepted, then replicated with up to inflight_max APPENDs in
 * flight, or sent a snapshot when storage compacted what it needs.
 * Invariants: match only grows in commit mode "quorum" (a follower's
 * matching prefix never shrinks there), unless the shell reports that the
 * follower lost its log (raft_report_restart); a progress entry's next > match;
 * nothing moves a follower's next or inflight ring unless the message was
 * actually queued.
 * Not for: follower and candidate handlers (raft_step.c).
 */
#include "ck_err.h"
#include "raft_int.h"

static bool raft_leader_mode(const raft_t *r)
{
	return r->cfg.commit_mode == RAFT_COMMIT_LEADER;
}

/* ---- inflight ring ---- */

static bool raft_infl_full(const raft_t *r, const raft_progress_t *pr)
{
	return pr->infl_n == r->cfg.inflight_max;
}

static void raft_infl_add(const raft_t *r, raft_progress_t *pr, uint64_t last)
{
	CK_ASSERT(!raft_infl_full(r, pr));
	pr->inflight[(pr->infl_start + pr->infl_n) % r->cfg.inflight_max] = last;
	pr->infl_n++;
}

static void raft_infl_free_to(const raft_t *r, raft_progress_t *pr, uint64_t index)
{
	while (pr->infl_n > 0 && pr->inflight[pr->infl_start] <= index) {
		pr->infl_start = (pr->infl_start + 1) % r->cfg.inflight_max;
		pr->infl_n--;
	}
}

static void raft_infl_free_first(const raft_t *r, raft_progress_t *pr)
{
	if (pr->infl_n > 0) {
		pr->infl_start = (pr->infl_start + 1) % r->cfg.inflight_max;
		pr->infl_n--;
	}
}

/* ---- progress states ---- */

void raft_pr_become_probe(raft_progress_t *pr)
{
	if (pr->state == RAFT_PR_SNAPSHOT)
		pr->next = CK_MAX(pr->match + 1, pr->pending_snapshot + 1);
	else
		pr->next = pr->match + 1;
	pr->state = RAFT_PR_PROBE;
	pr->probe_sent = false;
	pr->pending_snapshot = 0;
	pr->infl_start = 0;
	pr->infl_n = 0;
}

static void raft_pr_become_replicate(raft_progress_t *pr)
{
	pr->state = RAFT_PR_REPLICATE;
	pr->next = pr->match + 1;
	pr->probe_sent = false;
	pr->infl_start = 0;
	pr->infl_n = 0;
}

static bool raft_pr_paused(const raft_t *r, const raft_progress_t *pr)
{
	switch (pr->state) {
	case RAFT_PR_PROBE:
		return pr->probe_sent;
	case RAFT_PR_REPLICATE:
		return raft_infl_full(r, pr);
	case RAFT_PR_SNAPSHOT:
		return true;
	}
	return true;
}

void raft_leader_reset(raft_t *r)
{
	uint64_t next = raft_log_last_index(&r->log) + 1;

	for (uint32_t i = 0; i < r->n_prs; i++) {
		raft_progress_t *pr = &r->prs[i];

		pr->match = 0;
		pr->next = next;
		pr->state = RAFT_PR_PROBE;
		pr->probe_sent = false;
		pr->recent_active = false;
		pr->pending_snapshot = 0;
		pr->snapshot_ticks = 0;
		pr->infl_start = 0;
		pr->infl_n = 0;
		pr->sent_commit = 0;
	}
	r->prs[r->self].match = r->log.durable_last;
	r->prs[r->self].recent_active = true;
	r->prs[r->self].state = RAFT_PR_REPLICATE;
}

/* ---- sending ---- */

static bool raft_send_snapshot(raft_t *r, raft_progress_t *pr)
{
	raft_msg_t m = {.type = RAFT_MSG_SNAPSHOT, .to = pr->id};

	/* A follower that is not answering would only waste a transfer. */
	if (!pr->recent_active || raft_outbox_full(r))
		return false;
	if (r->log.st.snapshot(r->log.st.ctx, &m.snapshot) < 0)
		return false;
	if (m.snapshot.index > 0 && m.snapshot.term == 0)
		return false;
	(void)raft_send(r, &m);
	pr->state = RAFT_PR_SNAPSHOT;
	pr->pending_snapshot = m.snapshot.index;
	pr->snapshot_ticks = 0;
	pr->probe_sent = false;
	pr->infl_start = 0;
	pr->infl_n = 0;
	return true;
}

/* Bytes of the outbox arena that N entries filled from BUF use. */
static size_t raft_ents_used(const raft_entry_t *ents, int n, const uint8_t *buf)
{
	size_t used = 0;

	for (int i = 0; i < n; i++) {
		if (ents[i].len)
			used = CK_MAX(used, (size_t)(ents[i].data - buf) + ents[i].len);
	}
	return used;
}

bool raft_send_append(raft_t *r, raft_progress_t *pr, bool send_if_empty)
{
	raft_msg_t m = {.type = RAFT_MSG_APPEND, .to = pr->id};
	raft_entry_t *ents;
	uint8_t *buf;
	size_t cap;
	uint32_t room;
	int rc, n = 0;

	if (raft_pr_paused(r, pr) || raft_outbox_full(r))
		return false;
	m.index = pr->next - 1;
	rc = raft_log_term(&r->log, m.index, &m.log_term);
	if (rc == CK_E_NOT_FOUND)
		return raft_send_snapshot(r, pr);
	if (rc < 0)
		return false;
	room = raft_outbox_room(&r->out, &ents, &buf, &cap);
	if (pr->next <= raft_log_last_index(&r->log)) {
		n = raft_log_entries(&r->log, pr->next, CK_MIN(room, r->cfg.append_entries_max),
		                     r->cfg.append_bytes_max, ents, buf, cap);
		if (n == CK_E_NOT_FOUND)
			return raft_send_snapshot(r, pr);
		if (n <= 0)
			return false; /* a storage error, or no room: later */
	}
	if (n == 0 && !send_if_empty)
		return false;
	raft_outbox_take(&r->out, (uint32_t)n, raft_ents_used(ents, n, buf));
	m.entries = n ? ents : NULL;
	m.n_entries = (uint32_t)n;
	m.commit = r->log.commit;
	(void)raft_send(r, &m);
	pr->sent_commit = m.commit;
	if (pr->state == RAFT_PR_REPLICATE && n > 0) {
		pr->next = ents[n - 1].index + 1;
		raft_infl_add(r, pr, ents[n - 1].index);
	} else if (pr->state == RAFT_PR_PROBE) {
		pr->probe_sent = true;
	}
	return true;
}

/* The K-th follower of a broadcast: each broadcast starts one further, so
 * that when the outbox runs full it is not always the same one left out. */
static uint32_t raft_bcast_index(raft_t *r, uint32_t k)
{
	return (r->bcast_start + k) % r->n_prs;
}

void raft_bcast_append(raft_t *r)
{
	r->bcast_start++;
	for (uint32_t k = 0; k < r->n_prs; k++) {
		uint32_t i = raft_bcast_index(r, k);

		if (i != r->self)
			(void)raft_send_append(r, &r->prs[i], true);
	}
}

void raft_bcast_flush(raft_t *r)
{
	if (!r->bcast_pending)
		return;
	r->bcast_pending = false;
	if (r->role != RAFT_LEADER)
		return;
	r->bcast_start++;
	for (uint32_t k = 0; k < r->n_prs; k++) {
		uint32_t i = raft_bcast_index(r, k);
		raft_progress_t *pr = &r->prs[i];
		bool sent = false;

		if (i == r->self)
			continue;
		/* Every entry the window allows, then the commit alone if no
		 * APPEND carried it yet. */
		while (raft_send_append(r, pr, false))
			sent = true;
		if (!sent && pr->sent_commit < r->log.commit && !r->commit_held)
			(void)raft_send_append(r, pr, true);
	}
}

void raft_hold_commit(raft_t *r, bool hold)
{
	CK_ASSERT(!r->ready_out); /* see raft_core.h: the Ready cycle */
	if (r->commit_held && !hold && r->role == RAFT_LEADER)
		r->bcast_pending = true;
	r->commit_held = hold;
}

bool raft_commit_owed(const raft_t *r)
{
	if (r->role != RAFT_LEADER)
		return false;
	/* A paused follower is sent to when it answers: not owed now. */
	for (uint32_t i = 0; i < r->n_prs; i++)
		if (i != r->self && r->prs[i].sent_commit < r->log.commit &&
		    !raft_pr_paused(r, &r->prs[i]))
			return true;
	return false;
}

void raft_bcast_heartbeat(raft_t *r)
{
	r->bcast_start++;
	for (uint32_t k = 0; k < r->n_prs; k++) {
		uint32_t i = raft_bcast_index(r, k);
		raft_msg_t m = {.type = RAFT_MSG_HEARTBEAT, .to = r->prs[i].id};

		if (i == r->self)
			continue;
		/* Never more than the follower is known to hold: it may not
		 * have the leader's entries up to commit yet. */
		m.commit = CK_MIN(r->prs[i].match, r->log.commit);
		if (raft_send(r, &m) && m.commit > r->prs[i].sent_commit)
			r->prs[i].sent_commit = m.commit;
	}
}

bool raft_send_timeout_now(raft_t *r, uint64_t to)
{
	raft_msg_t m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = to};

	return raft_send(r, &m);
}

/* ---- commit ---- */

/* The largest index a majority of voters hold durably. */
static uint64_t raft_quorum_match(const raft_t *r)
{
	uint64_t m[RAFT_VOTERS_MAX];
	uint32_t n = r->n_prs;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t v = r->prs[i].match;
		uint32_t j = i;

		for (; j > 0 && m[j - 1] < v; j--)
			m[j] = m[j - 1];
		m[j] = v;
	}
	return m[raft_quorum(r) - 1];
}

bool raft_maybe_commit(raft_t *r)
{
	uint64_t idx, t;

	if (raft_leader_mode(r))
		idx = r->prs[r->self].match;
	else
		idx = raft_quorum_match(r);
	if (idx <= r->log.commit)
		return false;
	/* Only entries of the leader's own term are committed by counting
	 * (Raft paper 5.4.2); earlier ones are committed with them. */
	if (raft_log_term(&r->log, idx, &t) < 0 || t != r->term)
		return false;
	raft_log_commit_to(&r->log, idx);
	return true;
}

/* ---- ticks ---- */

static bool raft_quorum_active(const raft_t *r)
{
	uint32_t active = 0;

	for (uint32_t i = 0; i < r->n_prs; i++)
		active += i == r->self || r->prs[i].recent_active;
	return active >= raft_quorum(r);
}

void raft_leader_tick(raft_t *r)
{
	r->heartbeat_elapsed++;
	r->election_elapsed++;
	if (r->election_elapsed >= r->cfg.election_ticks) {
		r->election_elapsed = 0;
		if (raft_check_quorum_on(r)) {
			if (!raft_quorum_active(r)) {
				raft_become_follower(r, r->term, RAFT_NONE);
				return;
			}
			for (uint32_t i = 0; i < r->n_prs; i++)
				r->prs[i].recent_active = i == r->self;
		}
		r->transferee = RAFT_NONE;
	}
	for (uint32_t i = 0; i < r->n_prs; i++) {
		raft_progress_t *pr = &r->prs[i];

		/* A snapshot nobody reported on is presumed lost. */
		if (pr->state == RAFT_PR_SNAPSHOT &&
		    ++pr->snapshot_ticks >= 2 * r->cfg.election_ticks) {
			pr->pending_snapshot = 0;
			raft_pr_become_probe(pr);
		}
	}
	if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		raft_bcast_heartbeat(r);
	}
}

/* ---- responses ---- */

/* Steps back after a reject; false when the reject is stale. */
static bool raft_pr_maybe_decr(raft_t *r, raft_progress_t *pr, const raft_msg_t *m)
{
	uint64_t hint = m->reject_hint;

	if (m->log_term > 0)
		hint = raft_log_conflict_by_term(&r->log, m->reject_hint, m->log_term);
	if (raft_leader_mode(r) && m->reject_hint < pr->match) {
		/* In commit mode "leader" a follower's log can go back (a
		 * snapshot replaced a diverged log): what it had is unknown. */
		pr->match = 0;
		raft_pr_become_probe(pr);
		pr->next = CK_MAX(CK_MIN(m->index, hint + 1), 1);
		return true;
	}
	if (pr->state == RAFT_PR_REPLICATE) {
		if (m->index <= pr->match)
			return false;
		raft_pr_become_probe(pr);
		return true;
	}
	if (pr->state != RAFT_PR_PROBE || pr->next - 1 != m->index)
		return false;
	hint = CK_MAX(CK_MIN(m->index, hint + 1), pr->match + 1);
	if (hint == pr->next) {
		/* It refuses what it acknowledged: it lost its log. Probing
		 * again at once would loop; the next heartbeat answer retries,
		 * raft_report_restart() starts it over. */
		return false;
	}
	pr->next = hint;
	pr->probe_sent = false;
	return true;
}

static bool raft_pr_maybe_update(raft_progress_t *pr, uint64_t index)
{
	bool updated = false;

	if (pr->match < index) {
		pr->match = index;
		pr->probe_sent = false;
		updated = true;
	}
	if (pr->next < index + 1)
		pr->next = index + 1;
	return updated;
}

static void raft_handle_append_ok(raft_t *r, raft_progress_t *pr, const raft_msg_t *m)
{
	bool paused = raft_pr_paused(r, pr);

	if (!raft_pr_maybe_update(pr, m->index))
		return;
	if (pr->state == RAFT_PR_PROBE) {
		raft_pr_become_replicate(pr);
	} else if (pr->state == RAFT_PR_SNAPSHOT) {
		if (pr->match < pr->pending_snapshot)
			return;
		raft_pr_become_probe(pr);
		raft_pr_become_replicate(pr);
	} else {
		raft_infl_free_to(r, pr, m->index);
	}
	if (raft_maybe_commit(r))
		raft_bcast_later(r);
	else if (paused)
		(void)raft_send_append(r, pr, true);
	while (raft_send_append(r, pr, false))
		;
	if (pr->id == r->transferee && pr->match == raft_log_last_index(&r->log))
		(void)raft_send_timeout_now(r, pr->id);
}

/* The follower took (or already had) a snapshot: its log now reaches
 * m->index. In commit mode "leader" that may be below what it held before
 * (a diverged log was replaced), so the match is set, not raised. */
static void raft_handle_snapshot_resp(raft_t *r, raft_progress_t *pr, const raft_msg_t *m)
{
	if (raft_leader_mode(r)) {
		pr->match = m->index;
	} else if (pr->state != RAFT_PR_SNAPSHOT) {
		raft_handle_append_ok(r, pr, m);
		return;
	} else {
		(void)raft_pr_maybe_update(pr, m->index);
	}
	pr->pending_snapshot = 0;
	raft_pr_become_probe(pr);
	(void)raft_send_append(r, pr, true);
}

static void raft_handle_append_resp(raft_t *r, raft_progress_t *pr, const raft_msg_t *m)
{
	if (!m->reject) {
		raft_handle_append_ok(r, pr, m);
		return;
	}
	if (m->need_snapshot) {
		/* Not for an answer to an APPEND older than what the follower
		 * is known to hold: snapshots are expensive. */
		bool stale = (pr->state == RAFT_PR_REPLICATE && m->index < pr->match) ||
		             (pr->state == RAFT_PR_PROBE && m->index != pr->next - 1) ||
		             pr->state == RAFT_PR_SNAPSHOT;
		if (!stale)
			(void)raft_send_snapshot(r, pr);
		return;
	}
	if (raft_pr_maybe_decr(r, pr, m))
		(void)raft_send_append(r, pr, true);
}

static void raft_handle_heartbeat_resp(raft_t *r, raft_progress_t *pr, const raft_msg_t *m)
{
	pr->probe_sent = false;
	if (raft_leader_mode(r) && m->index < pr->match) {
		/* The follower's log went back (see raft_pr_maybe_decr). */
		pr->match = 0;
		if (pr->state != RAFT_PR_SNAPSHOT)
			raft_pr_become_probe(pr);
		pr->next = CK_MAX(m->index + 1, 1);
	}
	if (pr->state == RAFT_PR_REPLICATE && raft_infl_full(r, pr))
		raft_infl_free_first(r, pr);
	if (pr->match < raft_log_last_index(&r->log))
		(void)raft_send_append(r, pr, true);
}

int raft_step_leader(raft_t *r, const raft_msg_t *m)
{
	raft_progress_t *pr = raft_progress_find(r, m->from);

	/* No follower can hold more of this term's log than the leader. */
	if ((m->type == RAFT_MSG_APPEND_RESP || m->type == RAFT_MSG_SNAPSHOT_RESP) && !m->reject &&
	    m->index > raft_log_last_index(&r->log))
		return CK_E_INVALID;
	switch (m->type) {
	case RAFT_MSG_APPEND_RESP:
		pr->recent_active = true;
		raft_handle_append_resp(r, pr, m);
		return 0;
	case RAFT_MSG_SNAPSHOT_RESP:
		pr->recent_active = true;
		raft_handle_snapshot_resp(r, pr, m);
		return 0;
	case RAFT_MSG_HEARTBEAT_RESP:
		pr->recent_active = true;
		raft_handle_heartbeat_resp(r, pr, m);
		return 0;
	default:
		return 0;
	}
}
