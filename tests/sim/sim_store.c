/*
 * sim_store.c: the in-memory durable state of one simulated raftd node
 * (see sim_store.h).
 */
#include "sim_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"

static uint64_t sim_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t sim_cum_next(uint64_t prev, uint64_t index, uint64_t term, const uint8_t *data,
                      uint32_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint32_t i = 0; i < len; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	return sim_mix(prev + 0x9e3779b97f4a7c15ull) ^ sim_mix(index * 31 + term) ^
	       sim_mix(h + len);
}

void sim_store_init(sim_store_t *s)
{
	memset(s, 0, sizeof(*s));
}

static void sim_store_drop_from(sim_store_t *s, size_t k)
{
	for (size_t i = k; i < s->n; i++)
		free(s->ents[i].data);
	if (k < s->n)
		s->n = k;
}

void sim_store_free(sim_store_t *s)
{
	sim_store_drop_from(s, 0);
	free(s->ents);
	memset(s, 0, sizeof(*s));
}

uint64_t sim_store_last(const sim_store_t *s)
{
	return s->base + s->n;
}

const sim_ent_t *sim_store_get(const sim_store_t *s, uint64_t index)
{
	if (index <= s->base || index > sim_store_last(s))
		return NULL;
	return &s->ents[index - s->base - 1];
}

bool sim_store_cum(const sim_store_t *s, uint64_t index, uint64_t *ret_cum)
{
	const sim_ent_t *e = sim_store_get(s, index);

	if (e) {
		*ret_cum = e->cum;
		return true;
	}
	if (index == s->base) {
		*ret_cum = s->base_cum;
		return true;
	}
	return false;
}

static uint64_t sim_st_last_index(void *ctx)
{
	return sim_store_last(ctx);
}

static int sim_st_term(void *ctx, uint64_t index, uint64_t *ret_term)
{
	sim_store_t *s = ctx;
	const sim_ent_t *e = sim_store_get(s, index);

	s->term_calls++;
	if (e) {
		*ret_term = e->term;
		return 0;
	}
	if (index == s->base) {
		*ret_term = s->base_term;
		return 0;
	}
	return index > sim_store_last(s) ? CK_E_OFFSET_RANGE : CK_E_NOT_FOUND;
}

static int sim_st_entries(void *ctx, uint64_t lo, uint64_t hi, raft_entry_t *ret, uint8_t *buf,
                          size_t cap)
{
	sim_store_t *s = ctx;
	size_t used = 0;
	int n = 0;

	if (lo <= s->base)
		return CK_E_NOT_FOUND;
	if (hi > sim_store_last(s) + 1)
		return CK_E_OFFSET_RANGE;
	for (uint64_t i = lo; i < hi; i++) {
		const sim_ent_t *e = sim_store_get(s, i);

		if (e->len > cap - used)
			break;
		ret[n].index = e->index;
		ret[n].term = e->term;
		ret[n].len = e->len;
		ret[n].data = buf + used;
		memcpy(buf + used, e->data, e->len);
		used += e->len;
		n++;
	}
	return n;
}

static int sim_st_snapshot(void *ctx, raft_snapshot_meta_t *ret)
{
	sim_store_t *s = ctx;

	if (s->snapshot_again > 0) {
		s->snapshot_again--;
		return CK_E_AGAIN;
	}
	/* Like raftd copying LMDB: a fresh snapshot at the applied index. */
	if (!s->no_auto_snapshot && s->applied > s->snap.index && s->applied >= s->base) {
		uint64_t t = 0;

		if (sim_st_term(s, s->applied, &t) == 0) {
			s->snap.index = s->applied;
			s->snap.term = t;
			s->snap.cum = s->sm_cum;
		}
	}
	ret->index = s->snap.index;
	ret->term = s->snap.term;
	return 0;
}

raft_storage_t sim_store_storage(sim_store_t *s)
{
	raft_storage_t st = {
	    .ctx = s,
	    .last_index = sim_st_last_index,
	    .term = sim_st_term,
	    .entries = sim_st_entries,
	    .snapshot = sim_st_snapshot,
	};
	return st;
}

void sim_store_install(sim_store_t *s, const sim_snap_t *snap)
{
	sim_store_drop_from(s, 0);
	s->snap = *snap;
	s->base = snap->index;
	s->base_term = snap->term;
	s->base_cum = snap->cum;
	s->applied = snap->index;
	s->sm_cum = snap->cum;
}

static void sim_store_push(sim_store_t *s, uint64_t index, uint64_t term, const uint8_t *data,
                           uint32_t len)
{
	sim_ent_t *e;
	uint64_t prev = 0;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->ents = realloc(s->ents, s->cap * sizeof(*s->ents));
		if (!s->ents)
			abort();
	}
	(void)sim_store_cum(s, index - 1, &prev);
	e = &s->ents[s->n++];
	e->index = index;
	e->term = term;
	e->len = len;
	e->data = malloc(len ? len : 1);
	if (!e->data)
		abort();
	if (len)
		memcpy(e->data, data, len);
	e->cum = sim_cum_next(prev, index, term, data, len);
}

bool sim_store_append(sim_store_t *s, const raft_entry_t *ents, size_t n)
{
	if (n == 0)
		return true;
	if (ents[0].index <= s->base || ents[0].index > sim_store_last(s) + 1)
		return false;
	sim_store_drop_from(s, (size_t)(ents[0].index - s->base - 1));
	for (size_t i = 0; i < n; i++) {
		if (ents[i].index != sim_store_last(s) + 1)
			return false;
		sim_store_push(s, ents[i].index, ents[i].term, ents[i].data, ents[i].len);
	}
	return true;
}

void sim_store_set_hs(sim_store_t *s, const raft_hard_state_t *hs)
{
	s->hs = *hs;
	s->has_hs = true;
}

bool sim_store_apply(sim_store_t *s, const raft_entry_t *e)
{
	if (e->index != s->applied + 1)
		return false;
	s->sm_cum = sim_cum_next(s->sm_cum, e->index, e->term, e->data, e->len);
	s->applied = e->index;
	return true;
}

void sim_store_compact(sim_store_t *s, uint64_t keep)
{
	uint64_t to;
	const sim_ent_t *e;
	size_t k;

	if (s->applied > s->snap.index && s->applied > s->base) {
		e = sim_store_get(s, s->applied);
		if (!e)
			return;
		s->snap.index = s->applied;
		s->snap.term = e->term;
		s->snap.cum = s->sm_cum;
	}
	to = s->snap.index > keep ? s->snap.index - keep : 0;
	if (to <= s->base)
		return;
	e = sim_store_get(s, to);
	s->base_term = e->term;
	s->base_cum = e->cum;
	k = (size_t)(to - s->base);
	for (size_t i = 0; i < k; i++)
		free(s->ents[i].data);
	memmove(s->ents, s->ents + k, (s->n - k) * sizeof(*s->ents));
	s->n -= k;
	s->base = to;
}

void sim_store_fill(sim_store_t *s, const uint64_t *terms, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char buf[32];
		uint64_t idx = sim_store_last(s) + 1;
		int len = snprintf(buf, sizeof(buf), "e%llu", (unsigned long long)idx);

		sim_store_push(s, idx, terms[i], (const uint8_t *)buf, (uint32_t)len);
	}
}
