/*
 * repl_hw.c: roles, the high-watermark rule, follower acknowledgements and
 * ISR decisions of the replicator's pure core (see repl_core.h for the
 * rule and its invariants).
 *
 * Owned by replicator. Every function here is deterministic: time is the
 * core's now_ms (repl_core_tick).
 * Not for: the partition table and published changes (repl_core.c); I/O.
 */
#include "repl_core_int.h"

#include <string.h>

#include "ck_err.h"

const char *repl_role_name(repl_role_t r)
{
	switch (r) {
	case REPL_ROLE_LEADER:
		return "leader";
	case REPL_ROLE_FOLLOWER:
		return "follower";
	case REPL_ROLE_NONE:
		break;
	}
	return "none";
}

repl_follower_t *repl_part_follower(repl_part_t *p, int32_t broker_id)
{
	for (size_t i = 0; i < p->n_followers; i++)
		if (p->followers[i].broker_id == broker_id)
			return &p->followers[i];
	return NULL;
}

static void repl_follower_init(repl_follower_t *f, int32_t broker_id, uint64_t now_ms)
{
	memset(f, 0, sizeof(*f));
	f->broker_id = broker_id;
	f->ack_offset = -1;
	f->last_fetch_leader_end = -1;
	f->log_start = -1;
	/* Kafka's rule: an ISR member has the whole lag time from the start
	 * of the leadership before it counts as out of sync. */
	f->last_caught_up_ms = now_ms;
}

void repl_part_followers_drop(repl_part_t *p)
{
	free(p->followers);
	p->followers = NULL;
	p->n_followers = p->cap_followers = 0;
}

/* Room for a follower per other replica (none for a single replica).
 * False (and none kept) when memory runs out: the partition then leads
 * knowing none of its followers, so no ISR member is dropped and none
 * added, and its high watermark waits. */
static bool repl_part_followers_room(repl_part_t *p, int32_t node_id)
{
	size_t need = p->n_replicas;
	repl_follower_t *v;

	for (size_t i = 0; i < p->n_replicas; i++)
		need -= p->replicas[i] == node_id;
	if (p->cap_followers >= need)
		return true;
	v = realloc(p->followers, need * sizeof(*v));
	if (!v) {
		repl_part_followers_drop(p);
		return false;
	}
	p->followers = v;
	p->cap_followers = need;
	return true;
}

void repl_part_lead_begin(repl_core_t *c, repl_part_t *p)
{
	bool room = repl_part_followers_room(p, c->node_id);

	p->n_followers = 0;
	for (size_t i = 0; room && i < p->n_replicas; i++) {
		if (p->replicas[i] == c->node_id || repl_part_follower(p, p->replicas[i]))
			continue;
		repl_follower_init(&p->followers[p->n_followers++], p->replicas[i], c->now_ms);
	}
	p->epoch_start_offset = p->log_end;
	p->leader_since_ms = c->now_ms;
}

/* Same leadership, maybe new replicas: keeps what is known of the
 * followers that stay. */
static void repl_part_followers_sync(repl_core_t *c, repl_part_t *p)
{
	repl_follower_t old[REPL_REPLICAS_MAX];
	size_t n_old = p->n_followers;

	if (n_old)
		memcpy(old, p->followers, n_old * sizeof(old[0]));
	p->n_followers = 0;
	if (!repl_part_followers_room(p, c->node_id))
		return;
	for (size_t i = 0; i < p->n_replicas; i++) {
		repl_follower_t *f;
		int32_t id = p->replicas[i];
		size_t j;

		if (id == c->node_id || repl_part_follower(p, id))
			continue;
		f = &p->followers[p->n_followers++];
		for (j = 0; j < n_old && old[j].broker_id != id; j++)
			;
		if (j < n_old)
			*f = old[j];
		else
			repl_follower_init(f, id, c->now_ms);
	}
}

void repl_part_role_set(repl_core_t *c, repl_part_t *p, repl_role_t role, int32_t epoch)
{
	bool changed = role != p->role || epoch != p->leader_epoch;

	repl_part_count(c, p, -1);
	p->role = role;
	repl_part_count(c, p, 1);
	p->leader_epoch = epoch;
	if (changed)
		p->leader_hw = -1;
	if (role != REPL_ROLE_LEADER)
		repl_part_followers_drop(p);
	else if (changed)
		repl_part_lead_begin(c, p);
	else
		repl_part_followers_sync(c, p);
}

void repl_part_default_meta(repl_core_t *c, repl_part_t *p, int32_t epoch)
{
	p->replicas[0] = c->node_id;
	p->n_replicas = 1;
	p->isr[0] = c->node_id;
	p->n_isr = 1;
	p->leader = c->node_id;
	p->partition_epoch = 0;
	repl_part_role_set(c, p, REPL_ROLE_LEADER, epoch);
}

/* The leader's candidate: min over the ISR of the acknowledged durable
 * offsets, or -1 while a member is unknown. */
static int64_t repl_part_isr_min(repl_part_t *p, int32_t node_id)
{
	int64_t m = p->durable_end;

	for (size_t i = 0; i < p->n_isr; i++) {
		repl_follower_t *f;

		if (p->isr[i] == node_id)
			continue;
		f = repl_part_follower(p, p->isr[i]);
		if (!f || f->ack_offset < 0)
			return -1;
		m = CK_MIN(m, f->ack_offset);
	}
	for (size_t j = 0; j < p->n_followers; j++) {
		const repl_follower_t *f = &p->followers[j];

		if (!f->adding || f->adding_pepoch != p->partition_epoch)
			continue;
		if (f->ack_offset < 0)
			return -1;
		m = CK_MIN(m, f->ack_offset);
	}
	return m;
}

void repl_core_isr_adding(repl_core_t *c, const char *topic, int32_t partition, const int32_t *isr,
                          size_t n)
{
	repl_part_t *p = repl_core_find_mut(c, topic, partition);

	if (!p || p->role != REPL_ROLE_LEADER)
		return;
	for (size_t i = 0; i < n; i++) {
		repl_follower_t *f = repl_part_follower(p, isr[i]);
		bool in = false;

		for (size_t k = 0; k < p->n_isr && !in; k++)
			in = p->isr[k] == isr[i];
		if (!f || in)
			continue;
		f->adding = true;
		f->adding_pepoch = p->partition_epoch;
	}
}

void repl_part_hw_update(repl_part_t *p, int32_t node_id)
{
	int64_t hw = p->hw;

	if (!p->have_log)
		return;
	/* A leader by the no-metadata default knows no replica set: it holds
	 * HW (repl_core.h). */
	if (p->role == REPL_ROLE_LEADER && p->have_meta)
		hw = CK_MAX(hw, repl_part_isr_min(p, node_id));
	else if (p->role == REPL_ROLE_FOLLOWER && p->leader_hw >= 0)
		hw = CK_MAX(hw, CK_MIN(p->leader_hw, p->log_end));
	if (hw > p->log_end) {
		/* Only a truncation below HW gets here (the candidates never
		 * pass the log end). */
		hw = p->log_end;
		p->hw_truncations++;
	}
	p->hw = CK_MAX(hw, p->log_start);
	CK_ASSERT(p->log_start <= p->hw && p->hw <= p->log_end);
}

/* Kafka's lastCaughtUpTime: a fetch at the leader's log end catches up
 * now; one at the log end of the previous fetch caught up back then. */
static void repl_follower_fetched(repl_follower_t *f, int64_t fetch_offset, int64_t leader_end,
                                  uint64_t now_ms)
{
	if (fetch_offset >= leader_end)
		f->last_caught_up_ms = CK_MAX(f->last_caught_up_ms, now_ms);
	else if (f->last_fetch_ms && fetch_offset >= f->last_fetch_leader_end)
		f->last_caught_up_ms = CK_MAX(f->last_caught_up_ms, f->last_fetch_ms);
	f->last_fetch_ms = now_ms;
	f->last_fetch_leader_end = leader_end;
	f->ack_offset = fetch_offset;
}

/* Leader role: P and its follower BROKER_ID (*RET_P, *RET_F), with the
 * errors of repl_core_follower_fetch; VALUE < 0 is CK_E_INVALID. */
static int repl_lead_follower(repl_core_t *c, const char *topic, int32_t partition,
                              int32_t broker_id, int64_t value, repl_part_t **ret_p,
                              repl_follower_t **ret_f)
{
	repl_part_t *p = topic ? repl_core_find_mut(c, topic, partition) : NULL;

	if (!p || !p->have_log)
		return CK_E_NOT_FOUND;
	if (p->role != REPL_ROLE_LEADER)
		return CK_E_NOT_LEADER;
	*ret_f = repl_part_follower(p, broker_id);
	if (!*ret_f || value < 0)
		return CK_E_INVALID;
	*ret_p = p;
	return 0;
}

int repl_core_follower_fetch(repl_core_t *c, const char *topic, int32_t partition,
                             int32_t broker_id, int64_t fetch_offset)
{
	repl_part_t *p = NULL;
	repl_follower_t *f = NULL;
	int r = repl_lead_follower(c, topic, partition, broker_id, fetch_offset, &p, &f);

	if (r)
		return r;
	if (fetch_offset > p->log_end)
		return CK_E_OFFSET_RANGE;
	repl_follower_fetched(f, fetch_offset, p->log_end, c->now_ms);
	repl_part_hw_update(p, c->node_id);
	repl_part_touch(c, p);
	return 0;
}

int repl_core_follower_start(repl_core_t *c, const char *topic, int32_t partition,
                             int32_t broker_id, int64_t log_start)
{
	repl_part_t *p = NULL;
	repl_follower_t *f = NULL;
	int r = repl_lead_follower(c, topic, partition, broker_id, log_start, &p, &f);

	if (r)
		return r;
	if (f->log_start != log_start) {
		f->log_start = log_start;
		repl_part_touch(c, p);
	}
	return 0;
}

int64_t repl_core_low_watermark(const repl_part_t *p)
{
	int64_t m = p->log_start;

	if (p->role != REPL_ROLE_LEADER)
		return m;
	for (size_t i = 0; i < p->n_isr; i++) {
		const repl_follower_t *f = NULL;

		if (p->isr[i] == p->leader)
			continue;
		for (size_t j = 0; j < p->n_followers && !f; j++)
			if (p->followers[j].broker_id == p->isr[i])
				f = &p->followers[j];
		if (!f || f->log_start < 0)
			return -1;
		m = CK_MIN(m, f->log_start);
	}
	return m;
}

int repl_core_leader_hw(repl_core_t *c, const char *topic, int32_t partition, int32_t leader_epoch,
                        int64_t hw)
{
	repl_part_t *p = topic ? repl_core_find_mut(c, topic, partition) : NULL;

	if (!p || !p->have_log)
		return CK_E_NOT_FOUND;
	if (p->role == REPL_ROLE_LEADER)
		return CK_E_NOT_LEADER;
	if (p->role != REPL_ROLE_FOLLOWER || leader_epoch != p->leader_epoch || hw < 0)
		return CK_E_INVALID;
	p->leader_hw = CK_MAX(p->leader_hw, hw);
	repl_part_hw_update(p, c->node_id);
	repl_part_touch(c, p);
	return 0;
}

bool repl_isr_shrink(const repl_part_t *p, int32_t node_id, uint64_t now_ms, uint64_t lag_max_ms,
                     int32_t *ret_isr, size_t *ret_n)
{
	int32_t isr[REPL_REPLICAS_MAX];
	size_t n = 0;

	if (p->role != REPL_ROLE_LEADER || !p->have_log)
		return false;
	for (size_t i = 0; i < p->n_isr; i++) {
		const repl_follower_t *f = NULL;

		for (size_t j = 0; j < p->n_followers; j++)
			if (p->followers[j].broker_id == p->isr[i])
				f = &p->followers[j];
		if (p->isr[i] != node_id && f && now_ms > f->last_caught_up_ms &&
		    now_ms - f->last_caught_up_ms > lag_max_ms)
			continue;
		isr[n++] = p->isr[i];
	}
	if (n == p->n_isr)
		return false;
	memcpy(ret_isr, isr, n * sizeof(isr[0]));
	*ret_n = n;
	return true;
}

bool repl_isr_expand(const repl_part_t *p, int32_t node_id, int32_t *ret_isr, size_t *ret_n)
{
	int32_t isr[REPL_REPLICAS_MAX];
	size_t n = p->n_isr;

	if (p->role != REPL_ROLE_LEADER || !p->have_log)
		return false;
	memcpy(isr, p->isr, n * sizeof(isr[0]));
	for (size_t j = 0; j < p->n_followers; j++) {
		const repl_follower_t *f = &p->followers[j];
		bool in = f->broker_id == node_id;

		for (size_t i = 0; i < p->n_isr && !in; i++)
			in = p->isr[i] == f->broker_id;
		if (in || n == REPL_REPLICAS_MAX || f->ack_offset < 0 || f->ack_offset < p->hw ||
		    f->ack_offset < p->epoch_start_offset)
			continue;
		isr[n++] = f->broker_id;
	}
	if (n == p->n_isr)
		return false;
	memcpy(ret_isr, isr, n * sizeof(isr[0]));
	*ret_n = n;
	return true;
}
