/*
 * raft_core.c: life cycle, roles, elections and the public API of the pure
 * Raft core (chronik-raftd).
 * Every role change goes through raft_become_*(), which resets the timers
 * and the votes; terms only grow, and a vote is cast at most once per term
 * (raft_step.c). Elections start from raft_tick() or raft_campaign(), with
 * a pre-vote round first unless disabled or transferring leadership.
 * Not for: message handlers (raft_step.c, raft_leader.c), buffers
 * (raft_ready.c, raft_log.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "raft_int.h"

typedef enum {
	RAFT_CAMPAIGN_PRE_ELECTION,
	RAFT_CAMPAIGN_ELECTION,
	RAFT_CAMPAIGN_TRANSFER,
} raft_campaign_t;

static int raft_config_voters_check(const raft_config_t *c)
{
	bool self = false;

	if (c->id == RAFT_NONE || c->n_voters < 1 || c->n_voters > RAFT_VOTERS_MAX)
		return CK_E_CONFIG;
	for (uint32_t i = 0; i < c->n_voters; i++) {
		if (c->voters[i] == RAFT_NONE)
			return CK_E_CONFIG;
		for (uint32_t j = 0; j < i; j++) {
			if (c->voters[j] == c->voters[i])
				return CK_E_CONFIG;
		}
		self |= c->voters[i] == c->id;
	}
	return self ? 0 : CK_E_CONFIG;
}

#define RAFT_DEFAULT(field, value)                                                                 \
	do {                                                                                       \
		if (c->field == 0)                                                                 \
			c->field = (value);                                                        \
	} while (0)

/* Fills in defaults (C is a copy) and checks the result. */
static int raft_config_resolve(raft_config_t *c)
{
	uint64_t bytes;
	int rc = raft_config_voters_check(c);

	if (rc < 0)
		return rc;
	RAFT_DEFAULT(election_ticks, 10);
	RAFT_DEFAULT(heartbeat_ticks, 1);
	RAFT_DEFAULT(append_entries_max, 64);
	RAFT_DEFAULT(append_bytes_max, 1u << 20);
	RAFT_DEFAULT(inflight_max, 16);
	RAFT_DEFAULT(entry_bytes_max, 1u << 20);
	RAFT_DEFAULT(window_entries_max, 1024);
	RAFT_DEFAULT(window_bytes_max, 4u << 20);
	RAFT_DEFAULT(apply_entries_max, 256);
	RAFT_DEFAULT(apply_bytes_max, 4u << 20);
	RAFT_DEFAULT(msgs_max, 16 * c->n_voters + 64);
	bytes = (uint64_t)c->n_voters * c->append_bytes_max * 2;
	RAFT_DEFAULT(msg_bytes_max, (uint32_t)CK_MIN(bytes, (uint64_t)UINT32_MAX));
	if (!c->rand || c->election_ticks <= c->heartbeat_ticks || c->election_ticks > (1u << 30))
		return CK_E_CONFIG;
	if (c->commit_mode != RAFT_COMMIT_QUORUM && c->commit_mode != RAFT_COMMIT_LEADER)
		return CK_E_CONFIG;
	/* Room for one entry of the largest size everywhere it must pass, and a
	 * window slot kept free for the no-op of a new leader. */
	if (c->msgs_max < 2 * c->n_voters)
		return CK_E_CONFIG; /* a broadcast and its answers must fit */
	if (c->window_entries_max < 2 || c->window_bytes_max < c->entry_bytes_max ||
	    c->apply_bytes_max < c->entry_bytes_max || c->msg_bytes_max < c->entry_bytes_max ||
	    c->entry_bytes_max > (1u << 30))
		return CK_E_CONFIG;
	return 0;
}

static int raft_buffers_init(raft_t *r)
{
	int rc = raft_outbox_init(&r->out, &r->cfg);

	if (rc < 0)
		return rc;
	r->apply_ents = calloc(r->cfg.apply_entries_max, sizeof(*r->apply_ents));
	r->apply_arena = malloc(r->cfg.apply_bytes_max);
	r->infl_pool = calloc((size_t)r->cfg.inflight_max * r->cfg.n_voters, sizeof(uint64_t));
	if (!r->apply_ents || !r->apply_arena || !r->infl_pool)
		return -ENOMEM;
	r->n_prs = r->cfg.n_voters;
	for (uint32_t i = 0; i < r->n_prs; i++) {
		r->prs[i].id = r->cfg.voters[i];
		r->prs[i].inflight = r->infl_pool + (size_t)i * r->cfg.inflight_max;
		if (r->prs[i].id == r->id)
			r->self = i;
	}
	return 0;
}

int raft_init(raft_t **ret_r, const raft_config_t *cfg, const raft_hard_state_t *hs,
              const raft_storage_t *st, uint64_t applied)
{
	raft_hard_state_t h = {0, RAFT_NONE, 0};
	raft_t *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	r->id = cfg->id;
	rc = raft_config_resolve(&r->cfg);
	if (rc < 0)
		goto out;
	rc = CK_E_CONFIG;
	if (!st || !st->last_index || !st->term || !st->entries || !st->snapshot)
		goto out;
	rc = raft_buffers_init(r);
	if (rc < 0)
		goto out;
	rc = raft_log_init(&r->log, &r->cfg, st);
	if (rc < 0)
		goto out;
	if (hs)
		h = *hs;
	rc = CK_E_CORRUPT;
	if (h.vote != RAFT_NONE && !raft_progress_find(r, h.vote))
		goto out;
	/* Only committed entries are ever applied, so APPLIED is a commit
	 * index too (covers a crash between a snapshot and its hard state). */
	r->log.commit = CK_MAX(h.commit, applied);
	r->log.applied = applied;
	if (r->cfg.commit_mode == RAFT_COMMIT_LEADER && h.commit > raft_log_last_index(&r->log))
		r->log.commit = applied; /* a crash after installing an older snapshot */
	if (r->log.commit > raft_log_last_index(&r->log))
		goto out;
	r->term = h.term;
	r->vote = h.vote;
	if (raft_log_last_term(&r->log) > r->term) {
		/* Entries became durable but the crash came before their hard
		 * state: no term is ever below the log's. */
		r->term = raft_log_last_term(&r->log);
		r->vote = RAFT_NONE;
	}
	r->prev_hs = h;
	r->prev_ss.leader = RAFT_NONE;
	r->prev_ss.role = RAFT_FOLLOWER;
	raft_become_follower(r, r->term, RAFT_NONE);
	*ret_r = r;
	return 0;
out:
	raft_free(r);
	return rc;
}

void raft_free(raft_t *r)
{
	if (!r)
		return;
	raft_log_free(&r->log);
	raft_outbox_free(&r->out);
	free(r->apply_ents);
	free(r->apply_arena);
	free(r->infl_pool);
	free(r);
}

raft_progress_t *raft_progress_find(raft_t *r, uint64_t id)
{
	for (uint32_t i = 0; i < r->n_prs; i++) {
		if (r->prs[i].id == id)
			return &r->prs[i];
	}
	return NULL;
}

uint32_t raft_quorum(const raft_t *r)
{
	return r->n_prs / 2 + 1;
}

bool raft_pre_vote_on(const raft_t *r)
{
	return !r->cfg.no_pre_vote;
}

bool raft_check_quorum_on(const raft_t *r)
{
	return !r->cfg.no_check_quorum;
}

static void raft_reset(raft_t *r)
{
	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	r->election_timeout =
	    r->cfg.election_ticks + (uint32_t)ck_rand_below(r->cfg.rand, r->cfg.election_ticks);
	r->transferee = RAFT_NONE;
	r->bcast_pending = false;
	for (uint32_t i = 0; i < r->n_prs; i++)
		r->prs[i].vote = 0;
}

void raft_become_follower(raft_t *r, uint64_t term, uint64_t leader)
{
	CK_ASSERT(term >= r->term);
	if (term > r->term) {
		r->term = term;
		r->vote = RAFT_NONE;
	}
	r->role = RAFT_FOLLOWER;
	r->leader = leader;
	raft_reset(r);
}

static void raft_become_leader(raft_t *r)
{
	raft_entry_t noop = {raft_log_last_index(&r->log) + 1, r->term, NULL, 0};
	int n;

	CK_ASSERT(r->role == RAFT_CANDIDATE);
	r->role = RAFT_LEADER;
	r->leader = r->id;
	raft_reset(r);
	raft_leader_reset(r);
	/* The no-op of the new term commits every entry before it. A window
	 * slot is always kept free for it (raft_config_resolve). */
	n = raft_log_append(&r->log, &noop, 1, 0);
	CK_ASSERT(n == 1);
}

typedef enum { RAFT_POLL_PENDING, RAFT_POLL_WON, RAFT_POLL_LOST } raft_poll_t;

/* Records the vote of ID and counts. */
static raft_poll_t raft_poll(raft_t *r, uint64_t id, bool granted)
{
	raft_progress_t *pr = raft_progress_find(r, id);
	uint32_t yes = 0, no = 0;

	if (pr && pr->vote == 0)
		pr->vote = granted ? 1 : -1;
	for (uint32_t i = 0; i < r->n_prs; i++) {
		yes += r->prs[i].vote > 0;
		no += r->prs[i].vote < 0;
	}
	if (yes >= raft_quorum(r))
		return RAFT_POLL_WON;
	if (no > r->n_prs - raft_quorum(r))
		return RAFT_POLL_LOST;
	return RAFT_POLL_PENDING;
}

static void raft_campaign_kind(raft_t *r, raft_campaign_t kind)
{
	raft_msg_t m = {0};
	raft_poll_t res;

	if (kind == RAFT_CAMPAIGN_PRE_ELECTION) {
		r->role = RAFT_PRE_CANDIDATE;
		m.type = RAFT_MSG_PRE_VOTE;
		m.term = r->term + 1; /* the term it would take; not adopted yet */
	} else {
		r->term++;
		r->vote = r->id;
		r->role = RAFT_CANDIDATE;
		m.type = RAFT_MSG_VOTE;
		m.term = r->term;
	}
	r->leader = RAFT_NONE;
	raft_reset(r);
	res = raft_poll(r, r->id, true);
	if (res == RAFT_POLL_WON) {
		/* A single voter: no one to ask. */
		if (kind == RAFT_CAMPAIGN_PRE_ELECTION)
			raft_campaign_kind(r, RAFT_CAMPAIGN_ELECTION);
		else
			raft_become_leader(r);
		return;
	}
	m.index = raft_log_last_index(&r->log);
	m.log_term = raft_log_last_term(&r->log);
	m.transfer = kind == RAFT_CAMPAIGN_TRANSFER;
	for (uint32_t i = 0; i < r->n_prs; i++) {
		if (i == r->self)
			continue;
		m.to = r->prs[i].id;
		(void)raft_send(r, &m);
	}
}

void raft_campaign_start(raft_t *r, bool transfer)
{
	if (transfer)
		raft_campaign_kind(r, RAFT_CAMPAIGN_TRANSFER);
	else if (raft_pre_vote_on(r))
		raft_campaign_kind(r, RAFT_CAMPAIGN_PRE_ELECTION);
	else
		raft_campaign_kind(r, RAFT_CAMPAIGN_ELECTION);
}

/* A vote response reached a (pre-)candidate. */
void raft_candidate_poll(raft_t *r, uint64_t from, bool granted)
{
	raft_poll_t res = raft_poll(r, from, granted);

	if (res == RAFT_POLL_LOST) {
		raft_become_follower(r, r->term, RAFT_NONE);
	} else if (res == RAFT_POLL_WON) {
		if (r->role == RAFT_PRE_CANDIDATE) {
			raft_campaign_kind(r, RAFT_CAMPAIGN_ELECTION);
		} else {
			raft_become_leader(r);
			raft_bcast_append(r);
		}
	}
}

void raft_tick(raft_t *r)
{
	CK_ASSERT(!r->ready_out); /* see raft_core.h: the Ready cycle */
	if (r->role == RAFT_LEADER) {
		raft_leader_tick(r);
		return;
	}
	r->election_elapsed++;
	if (r->election_elapsed >= r->election_timeout) {
		r->election_elapsed = 0;
		raft_campaign_start(r, false);
	}
}

int raft_campaign(raft_t *r)
{
	CK_ASSERT(!r->ready_out); /* see raft_core.h: the Ready cycle */
	if (r->role != RAFT_LEADER)
		raft_campaign_start(r, false);
	return 0;
}

int raft_propose(raft_t *r, const void *data, size_t len, uint64_t *ret_index)
{
	raft_entry_t e;

	CK_ASSERT(!r->ready_out);
	if (r->role != RAFT_LEADER)
		return CK_E_NOT_LEADER;
	if (len == 0)
		return CK_E_INVALID;
	if (len > r->cfg.entry_bytes_max)
		return CK_E_TOO_LARGE;
	if (r->transferee != RAFT_NONE)
		return CK_E_AGAIN;
	e.index = raft_log_last_index(&r->log) + 1;
	e.term = r->term;
	e.data = data;
	e.len = (uint32_t)len;
	if (raft_log_append(&r->log, &e, 1, 1) != 1)
		return CK_E_AGAIN;
	raft_bcast_later(r);
	*ret_index = e.index;
	return 0;
}

int raft_transfer_leader(raft_t *r, uint64_t to)
{
	raft_progress_t *pr;

	CK_ASSERT(!r->ready_out); /* see raft_core.h: the Ready cycle */
	if (r->role != RAFT_LEADER)
		return CK_E_NOT_LEADER;
	pr = raft_progress_find(r, to);
	if (!pr || to == r->id)
		return CK_E_INVALID;
	if (r->transferee == to)
		return 0;
	r->transferee = to;
	/* The transfer must finish within one election timeout. */
	r->election_elapsed = 0;
	if (pr->match == raft_log_last_index(&r->log))
		(void)raft_send_timeout_now(r, to);
	else
		(void)raft_send_append(r, pr, true);
	return 0;
}

void raft_report_unreachable(raft_t *r, uint64_t to)
{
	raft_progress_t *pr = raft_progress_find(r, to);

	CK_ASSERT(!r->ready_out);
	if (r->role == RAFT_LEADER && pr && to != r->id && pr->state == RAFT_PR_REPLICATE)
		raft_pr_become_probe(pr);
}

void raft_report_snapshot(raft_t *r, uint64_t to, bool ok)
{
	raft_progress_t *pr = raft_progress_find(r, to);

	CK_ASSERT(!r->ready_out);
	if (r->role != RAFT_LEADER || !pr || pr->state != RAFT_PR_SNAPSHOT)
		return;
	if (!ok)
		pr->pending_snapshot = 0;
	raft_pr_become_probe(pr);
	/* Wait for the follower's answer (or a heartbeat) before probing. */
	pr->probe_sent = true;
}

void raft_report_restart(raft_t *r, uint64_t to, uint64_t last_index)
{
	raft_progress_t *pr = raft_progress_find(r, to);

	CK_ASSERT(!r->ready_out);
	if (r->role != RAFT_LEADER || !pr || to == r->id || last_index >= pr->match)
		return;
	pr->match = last_index;
	pr->pending_snapshot = 0;
	if (pr->state == RAFT_PR_SNAPSHOT)
		pr->state = RAFT_PR_PROBE;
	raft_pr_become_probe(pr);
	(void)raft_send_append(r, pr, true);
}

raft_role_t raft_role(const raft_t *r)
{
	return r->role;
}

uint64_t raft_leader(const raft_t *r)
{
	return r->leader;
}

void raft_status(const raft_t *r, raft_status_t *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->id = r->id;
	ret->role = r->role;
	ret->leader = r->leader;
	ret->term = r->term;
	ret->vote = r->vote;
	ret->commit = r->log.commit;
	ret->applied = r->log.applied;
	ret->last_index = raft_log_last_index(&r->log);
	ret->durable_index = r->log.durable_last;
	ret->transferee = r->transferee;
	ret->diverged = r->diverged;
	ret->leader_silent = r->role == RAFT_LEADER ? 0 : r->election_elapsed;
}

const char *raft_role_name(raft_role_t role)
{
	switch (role) {
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_PRE_CANDIDATE:
		return "pre-candidate";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_LEADER:
		return "leader";
	}
	return "unknown";
}

const char *raft_msg_type_name(raft_msg_type_t type)
{
	static const char *const names[] = {
	    [RAFT_MSG_PRE_VOTE] = "pre-vote",
	    [RAFT_MSG_PRE_VOTE_RESP] = "pre-vote-resp",
	    [RAFT_MSG_VOTE] = "vote",
	    [RAFT_MSG_VOTE_RESP] = "vote-resp",
	    [RAFT_MSG_APPEND] = "append",
	    [RAFT_MSG_APPEND_RESP] = "append-resp",
	    [RAFT_MSG_HEARTBEAT] = "heartbeat",
	    [RAFT_MSG_HEARTBEAT_RESP] = "heartbeat-resp",
	    [RAFT_MSG_SNAPSHOT] = "snapshot",
	    [RAFT_MSG_SNAPSHOT_RESP] = "snapshot-resp",
	    [RAFT_MSG_TIMEOUT_NOW] = "timeout-now",
	};

	if ((int)type < 1 || type > RAFT_MSG_TYPE_MAX)
		return "unknown";
	return names[type];
}
