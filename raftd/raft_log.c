/*
 * raft_log.c: the Raft core's view of the log (chronik-raftd, pure): the
 * shell's storage (snapshot + durable entries, read through
 * raft_storage_t) followed by the window of entries not yet durable.
 * Invariants: the window holds durable_last+1 .. durable_last+win_n, with
 * data packed from the start of the arena (the window is emptied by every
 * raft_advance(), so it never needs compaction); commit <= last index;
 * a pending snapshot answers for its own index and hides everything below.
 * Not for: deciding what to append (raft_step.c, raft_leader.c), I/O.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "raft_int.h"

int raft_log_init(raft_log_t *l, const raft_config_t *cfg, const raft_storage_t *st)
{
	int rc;

	memset(l, 0, sizeof(*l));
	l->st = *st;
	l->entry_bytes_max = cfg->entry_bytes_max;
	l->win_cap = cfg->window_entries_max;
	l->arena_cap = cfg->window_bytes_max;
	l->durable_last = st->last_index(st->ctx);
	rc = st->term(st->ctx, l->durable_last, &l->durable_last_term);
	if (rc < 0)
		return rc;
	l->win = calloc(l->win_cap, sizeof(*l->win));
	l->arena = malloc(l->arena_cap);
	if (!l->win || !l->arena) {
		raft_log_free(l);
		return -ENOMEM;
	}
	return 0;
}

void raft_log_free(raft_log_t *l)
{
	free(l->win);
	free(l->arena);
	l->win = NULL;
	l->arena = NULL;
}

uint64_t raft_log_last_index(const raft_log_t *l)
{
	return l->durable_last + l->win_n;
}

uint64_t raft_log_last_term(const raft_log_t *l)
{
	return l->win_n ? l->win[l->win_n - 1].term : l->durable_last_term;
}

int raft_log_term(const raft_log_t *l, uint64_t index, uint64_t *ret_term)
{
	if (index > raft_log_last_index(l))
		return CK_E_OFFSET_RANGE;
	if (index > l->durable_last) {
		*ret_term = l->win[index - l->durable_last - 1].term;
		return 0;
	}
	if (index == l->durable_last) {
		*ret_term = l->durable_last_term;
		return 0;
	}
	if (l->has_pending_snap)
		return CK_E_NOT_FOUND; /* below the snapshot about to be installed */
	return l->st.term(l->st.ctx, index, ret_term);
}

bool raft_log_match_term(const raft_log_t *l, uint64_t index, uint64_t term)
{
	uint64_t t;

	return raft_log_term(l, index, &t) == 0 && t == term;
}

bool raft_log_up_to_date(const raft_log_t *l, uint64_t last_index, uint64_t last_term)
{
	uint64_t my_term = raft_log_last_term(l);

	return last_term > my_term ||
	       (last_term == my_term && last_index >= raft_log_last_index(l));
}

uint64_t raft_log_conflict_by_term(const raft_log_t *l, uint64_t index, uint64_t term)
{
	uint64_t t;

	/* Terms only grow along the log: walk back over the entries of terms
	 * above TERM; they are what the leader has to overwrite. */
	if (index > raft_log_last_index(l))
		index = raft_log_last_index(l);
	for (; index > 0; index--) {
		if (raft_log_term(l, index, &t) < 0 || t <= term)
			return index;
	}
	return 0;
}

/* Cuts the log after index C-1 so that the next append lands at C. */
static int raft_log_truncate(raft_log_t *l, uint64_t c)
{
	uint64_t t;
	int rc;

	if (c > l->durable_last) {
		l->win_n = (uint32_t)(c - l->durable_last - 1);
		l->arena_used = 0;
		if (l->win_n) {
			const raft_entry_t *e = &l->win[l->win_n - 1];
			l->arena_used = (size_t)(e->data - l->arena) + e->len;
		}
		return 0;
	}
	rc = raft_log_term(l, c - 1, &t);
	if (rc < 0)
		return rc;
	l->durable_last = c - 1;
	l->durable_last_term = t;
	l->win_n = 0;
	l->arena_used = 0;
	return 0;
}

/* How many slots and arena bytes are free once the log is cut before C. */
static void raft_log_room(const raft_log_t *l, uint64_t c, uint32_t *ret_slots, size_t *ret_bytes)
{
	uint32_t keep = 0;
	size_t used = 0;

	if (c > l->durable_last) {
		keep = (uint32_t)(c - l->durable_last - 1);
		if (keep) {
			const raft_entry_t *e = &l->win[keep - 1];
			used = (size_t)(e->data - l->arena) + e->len;
		}
	}
	*ret_slots = l->win_cap - keep;
	*ret_bytes = l->arena_cap - used;
}

int raft_log_append(raft_log_t *l, const raft_entry_t *ents, size_t n, uint32_t reserve)
{
	uint32_t slots;
	size_t bytes;
	size_t take = 0;
	int rc;

	if (n == 0)
		return 0;
	CK_ASSERT(ents[0].index >= 1 && ents[0].index <= raft_log_last_index(l) + 1);
	CK_ASSERT(ents[0].index > l->commit);
	raft_log_room(l, ents[0].index, &slots, &bytes);
	slots = slots > reserve ? slots - reserve : 0;
	for (size_t used = 0; take < n && take < slots; take++) {
		if (ents[take].len > bytes - used)
			break;
		used += ents[take].len;
	}
	if (take == 0)
		return 0;
	rc = raft_log_truncate(l, ents[0].index);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < take; i++) {
		raft_entry_t *e = &l->win[l->win_n++];

		CK_ASSERT(ents[i].index == raft_log_last_index(l));
		e->index = ents[i].index;
		e->term = ents[i].term;
		e->len = ents[i].len;
		e->data = l->arena + l->arena_used;
		if (e->len)
			memcpy(l->arena + l->arena_used, ents[i].data, e->len);
		l->arena_used += e->len;
	}
	return (int)take;
}

/* Copies window entries from LO on (LO > durable_last). */
static int raft_log_window_copy(const raft_log_t *l, uint64_t lo, uint32_t max_n, size_t max_bytes,
                                raft_entry_t *ret_ents, uint8_t *buf, size_t buf_cap)
{
	uint32_t n = 0;
	size_t used = 0;

	for (uint64_t i = lo; i <= raft_log_last_index(l) && n < max_n; i++) {
		const raft_entry_t *e = &l->win[i - l->durable_last - 1];

		if (e->len > buf_cap - used || (n > 0 && used + e->len > max_bytes))
			break;
		ret_ents[n] = *e;
		ret_ents[n].data = buf + used;
		if (e->len)
			memcpy(buf + used, e->data, e->len);
		used += e->len;
		n++;
	}
	return (int)n;
}

int raft_log_entries(const raft_log_t *l, uint64_t lo, uint32_t max_n, size_t max_bytes,
                     raft_entry_t *ret_ents, uint8_t *buf, size_t buf_cap)
{
	uint64_t last = raft_log_last_index(l);
	uint64_t hi;
	size_t want, used = 0;
	int n;

	if (lo > last || max_n == 0)
		return 0;
	if (lo > l->durable_last)
		return raft_log_window_copy(l, lo, max_n, max_bytes, ret_ents, buf, buf_cap);
	if (l->has_pending_snap)
		return CK_E_NOT_FOUND;
	hi = CK_MIN(l->durable_last + 1, lo + max_n);
	/* Enough for one entry of any size, no more than the message takes. */
	want = CK_MAX(max_bytes, (size_t)l->entry_bytes_max);
	if (want < buf_cap)
		buf_cap = want;
	n = l->st.entries(l->st.ctx, lo, hi, ret_ents, buf, buf_cap);
	if (n < 0)
		return n;
	if ((uint64_t)n > hi - lo)
		return CK_E_CORRUPT;
	for (int i = 0; i < n; i++) {
		if (ret_ents[i].index != lo + (uint64_t)i || ret_ents[i].len > l->entry_bytes_max)
			return CK_E_CORRUPT;
		used += ret_ents[i].len;
		if (i > 0 && used > max_bytes)
			return i; /* the storage may fill BUF past max_bytes */
	}
	return n;
}

void raft_log_commit_to(raft_log_t *l, uint64_t index)
{
	if (index > l->commit) {
		CK_ASSERT(index <= raft_log_last_index(l));
		l->commit = index;
	}
}

void raft_log_restore(raft_log_t *l, const raft_snapshot_meta_t *s)
{
	l->has_pending_snap = true;
	l->pending_snap = *s;
	l->durable_last = s->index;
	l->durable_last_term = s->term;
	l->win_n = 0;
	l->arena_used = 0;
	l->commit = s->index;
}

void raft_log_stable(raft_log_t *l)
{
	if (l->win_n) {
		l->durable_last += l->win_n;
		l->durable_last_term = l->win[l->win_n - 1].term;
	}
	l->win_n = 0;
	l->arena_used = 0;
	l->has_pending_snap = false;
}
