/*
 * raft_step.c: raft_step() and the message handlers of followers and
 * (pre-)candidates, in the pure Raft core of chronik-raftd.
 * Order of checks: the message is validated (hostile bytes from a peer),
 * then terms are compared (a higher term makes this node a follower, except
 * for pre-votes and leases), then the role decides. A vote is granted at
 * most once per term and only to a log at least as up to date; entries are
 * taken only after the previous entry matched; a committed entry is never
 * overwritten (a conflict there means divergence: commit mode "leader").
 * Not for: the leader's side of replication (raft_leader.c).
 */
#include "ck_err.h"
#include "raft_int.h"

static bool raft_msg_is_vote_req(const raft_msg_t *m)
{
	return m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE;
}

static int raft_msg_entries_check(const raft_t *r, const raft_msg_t *m)
{
	uint64_t prev_term = m->log_term;

	if (m->n_entries == 0)
		return 0;
	if (m->type != RAFT_MSG_APPEND || !m->entries || m->index > UINT64_MAX - m->n_entries)
		return CK_E_INVALID;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const raft_entry_t *e = &m->entries[i];

		if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term ||
		    e->len > r->cfg.entry_bytes_max || (e->len && !e->data))
			return CK_E_INVALID;
		prev_term = e->term;
	}
	return 0;
}

static int raft_msg_check(raft_t *r, const raft_msg_t *m)
{
	if ((int)m->type < 1 || m->type > RAFT_MSG_TYPE_MAX)
		return CK_E_INVALID;
	if (m->term > RAFT_NUM_MAX || m->index > RAFT_NUM_MAX || m->log_term > RAFT_NUM_MAX ||
	    m->commit > RAFT_NUM_MAX || m->reject_hint > RAFT_NUM_MAX ||
	    m->snapshot.index > RAFT_NUM_MAX || m->snapshot.term > RAFT_NUM_MAX)
		return CK_E_INVALID;
	if (m->term > r->term + RAFT_TERM_JUMP_MAX)
		return CK_E_INVALID;
	if (m->to != r->id || m->from == r->id || !raft_progress_find(r, m->from))
		return CK_E_INVALID;
	if ((m->type == RAFT_MSG_APPEND || raft_msg_is_vote_req(m)) && m->log_term > m->term)
		return CK_E_INVALID;
	if (m->type == RAFT_MSG_SNAPSHOT &&
	    (m->snapshot.term > m->term || (m->snapshot.index > 0 && m->snapshot.term == 0)))
		return CK_E_INVALID;
	return raft_msg_entries_check(r, m);
}

/* Compares terms; true when the message goes on to the role's handler. */
static bool raft_step_term(raft_t *r, const raft_msg_t *m)
{
	if (m->term > r->term) {
		if (raft_msg_is_vote_req(m)) {
			/* Leader lease: a node that heard from a leader within the
			 * election timeout does not help unseat it. */
			bool in_lease = raft_check_quorum_on(r) && r->leader != RAFT_NONE &&
			                r->election_elapsed < r->cfg.election_ticks;
			if (in_lease && !m->transfer)
				return false;
		}
		if (m->type == RAFT_MSG_PRE_VOTE ||
		    (m->type == RAFT_MSG_PRE_VOTE_RESP && !m->reject)) {
			/* Pre-votes never change terms. */
		} else if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
		           m->type == RAFT_MSG_SNAPSHOT) {
			raft_become_follower(r, m->term, m->from);
		} else {
			raft_become_follower(r, m->term, RAFT_NONE);
		}
		return true;
	}
	if (m->term < r->term) {
		raft_msg_t resp = {.to = m->from};

		if ((raft_check_quorum_on(r) || raft_pre_vote_on(r)) &&
		    (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT)) {
			/* A stale leader, perhaps cut off while this node's term
			 * moved on without it: tell it the term so it steps down. */
			resp.type = RAFT_MSG_APPEND_RESP;
			(void)raft_send(r, &resp);
		} else if (m->type == RAFT_MSG_PRE_VOTE) {
			resp.type = RAFT_MSG_PRE_VOTE_RESP;
			resp.reject = true;
			(void)raft_send(r, &resp);
		}
		return false;
	}
	return true;
}

int raft_step(raft_t *r, const raft_msg_t *m)
{
	int rc;

	CK_ASSERT(!r->ready_out); /* see raft_core.h: the Ready cycle */
	rc = raft_msg_check(r, m);
	if (rc < 0)
		return rc;
	if (!raft_step_term(r, m))
		return 0;
	if (raft_msg_is_vote_req(m))
		return raft_handle_vote_request(r, m);
	switch (r->role) {
	case RAFT_LEADER:
		return raft_step_leader(r, m);
	case RAFT_CANDIDATE:
	case RAFT_PRE_CANDIDATE:
		return raft_step_candidate(r, m);
	case RAFT_FOLLOWER:
		return raft_step_follower(r, m);
	}
	return 0;
}

int raft_handle_vote_request(raft_t *r, const raft_msg_t *m)
{
	raft_msg_t resp = {.to = m->from};
	bool pre = m->type == RAFT_MSG_PRE_VOTE;
	bool can_vote = r->vote == m->from || (r->vote == RAFT_NONE && r->leader == RAFT_NONE) ||
	                (pre && m->term > r->term);

	resp.type = pre ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP;
	if (can_vote && raft_log_up_to_date(&r->log, m->index, m->log_term)) {
		/* A granted pre-vote carries the term it was asked for, so that the
		 * pre-candidate can tell it from a stale answer. */
		resp.term = m->term;
		if (!pre) {
			r->election_elapsed = 0;
			r->vote = m->from;
		}
	} else {
		resp.term = r->term;
		resp.reject = true;
	}
	(void)raft_send(r, &resp);
	return 0;
}

/* Asks the leader for a snapshot; DIVERGED when the committed prefix
 * conflicts with the leader's log (not for a merely compacted prefix). */
static int raft_append_need_snapshot(raft_t *r, const raft_msg_t *m, bool diverged)
{
	raft_msg_t resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};

	r->diverged |= diverged;
	resp.index = m->index;
	resp.reject = true;
	resp.need_snapshot = true;
	(void)raft_send(r, &resp);
	return 0;
}

/* The leader's log conflicts with this node's committed prefix. In commit
 * mode "leader" a new leader may lack what this node applied: divergence,
 * and a snapshot replaces the state. In quorum mode no elected leader can
 * (leader completeness): the message comes from a broken or hostile peer
 * and is refused, the log and the state machine left as they are. */
static int raft_append_conflict(raft_t *r, const raft_msg_t *m)
{
	if (r->cfg.commit_mode == RAFT_COMMIT_QUORUM)
		return CK_E_INVALID;
	return raft_append_need_snapshot(r, m, true);
}

static int raft_append_reject(raft_t *r, const raft_msg_t *m)
{
	raft_msg_t resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};
	uint64_t t;
	int rc = raft_log_term(&r->log, m->index, &t);

	if (rc == CK_E_NOT_FOUND)
		return raft_append_need_snapshot(r, m, false);
	if (rc == 0 && m->index <= r->log.commit)
		return raft_append_conflict(r, m);
	resp.index = m->index;
	resp.reject = true;
	resp.reject_hint = raft_log_conflict_by_term(&r->log, m->index, m->log_term);
	if (raft_log_term(&r->log, resp.reject_hint, &t) == 0)
		resp.log_term = t;
	(void)raft_send(r, &resp);
	return 0;
}

static int raft_append_accept(raft_t *r, const raft_msg_t *m)
{
	raft_msg_t resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};
	uint64_t last_new = m->index + m->n_entries;
	uint32_t i = 0;

	while (i < m->n_entries &&
	       raft_log_match_term(&r->log, m->entries[i].index, m->entries[i].term))
		i++;
	if (i < m->n_entries) {
		int n;

		if (m->entries[i].index <= r->log.commit)
			return raft_append_conflict(r, m);
		/* One slot stays free for the no-op should this node lead. */
		n = raft_log_append(&r->log, m->entries + i, m->n_entries - i, 1);
		if (n < 0)
			return n;
		last_new = m->index + i + (uint64_t)n;
	}
	raft_log_commit_to(&r->log, CK_MIN(m->commit, last_new));
	resp.index = last_new;
	(void)raft_send(r, &resp);
	return 0;
}

static int raft_handle_append(raft_t *r, const raft_msg_t *m)
{
	if (r->diverged)
		return raft_append_need_snapshot(r, m, true);
	if (r->cfg.commit_mode == RAFT_COMMIT_QUORUM && m->index < r->log.commit) {
		/* Everything up to commit matches any leader's log. */
		raft_msg_t resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};

		resp.index = r->log.commit;
		(void)raft_send(r, &resp);
		return 0;
	}
	if (!raft_log_match_term(&r->log, m->index, m->log_term))
		return raft_append_reject(r, m);
	return raft_append_accept(r, m);
}

static int raft_handle_heartbeat(raft_t *r, const raft_msg_t *m)
{
	raft_msg_t resp = {.type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from};

	/* The leader sends min(its commit, this node's match): safe to take. */
	if (!r->diverged)
		raft_log_commit_to(&r->log, CK_MIN(m->commit, raft_log_last_index(&r->log)));
	resp.index = raft_log_last_index(&r->log);
	(void)raft_send(r, &resp);
	return 0;
}

static int raft_handle_snapshot(raft_t *r, const raft_msg_t *m)
{
	const raft_snapshot_meta_t *s = &m->snapshot;
	raft_msg_t resp = {.type = RAFT_MSG_SNAPSHOT_RESP, .to = m->from};

	if (!r->diverged) {
		if (r->cfg.commit_mode == RAFT_COMMIT_QUORUM && s->index <= r->log.commit) {
			resp.index = r->log.commit;
			(void)raft_send(r, &resp);
			return 0;
		}
		if (raft_log_match_term(&r->log, s->index, s->term)) {
			/* The log already holds it: no need to install. */
			raft_log_commit_to(&r->log, s->index);
			resp.index = s->index;
			(void)raft_send(r, &resp);
			return 0;
		}
	}
	raft_log_restore(&r->log, s);
	r->diverged = false;
	resp.index = s->index;
	(void)raft_send(r, &resp);
	return 0;
}

int raft_step_follower(raft_t *r, const raft_msg_t *m)
{
	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAPSHOT:
		r->election_elapsed = 0;
		r->leader = m->from;
		if (m->type == RAFT_MSG_APPEND)
			return raft_handle_append(r, m);
		if (m->type == RAFT_MSG_HEARTBEAT)
			return raft_handle_heartbeat(r, m);
		return raft_handle_snapshot(r, m);
	case RAFT_MSG_TIMEOUT_NOW:
		raft_campaign_start(r, true);
		return 0;
	default:
		return 0; /* stale answers to a former role */
	}
}

int raft_step_candidate(raft_t *r, const raft_msg_t *m)
{
	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAPSHOT:
		/* A leader won this term. */
		raft_become_follower(r, m->term, m->from);
		return raft_step_follower(r, m);
	case RAFT_MSG_PRE_VOTE_RESP:
		if (r->role == RAFT_PRE_CANDIDATE && (m->reject || m->term == r->term + 1))
			raft_candidate_poll(r, m->from, !m->reject);
		return 0;
	case RAFT_MSG_VOTE_RESP:
		if (r->role == RAFT_CANDIDATE)
			raft_candidate_poll(r, m->from, !m->reject);
		return 0;
	default:
		return 0;
	}
}
