/*
 * wal_pid.c: idempotent producers' state of one log (pure core of
 * chronik-walwriter, see wal_pid.h).
 *
 * A sorted array: producer ids are handed out in increasing blocks, so a
 * new producer almost always lands at the end.
 */
#include "wal_pid.h"

#include <stdlib.h>
#include <string.h>

#include "ck_err.h"

int32_t wal_pid_seq_add(int32_t base_seq, int32_t last_delta)
{
	if (base_seq > INT32_MAX - last_delta)
		return (int32_t)((int64_t)base_seq + last_delta - INT32_MAX - 1);
	return base_seq + last_delta;
}

/* Index of PRODUCER_ID, or where it would go (*FOUND false). */
static size_t wal_pids_pos(const wal_pids_t *s, int64_t producer_id, bool *found)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].producer_id < producer_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->n && s->v[lo].producer_id == producer_id;
	return lo;
}

const wal_pid_entry_t *wal_pids_find(const wal_pids_t *s, int64_t producer_id)
{
	bool found;
	size_t i = wal_pids_pos(s, producer_id, &found);

	return found ? &s->v[i] : NULL;
}

/* Whether the batches at P hold more than one batch and any of a producer. */
static bool wal_pids_crowded(const uint8_t *p, size_t len)
{
	size_t pos = 0, n = 0;
	bool producer = false;
	ck_batch_header_t h;

	while (pos < len && ck_batch_header_parse(p + pos, len - pos, &h) == 0) {
		producer |= h.producer_id >= 0;
		n++;
		pos += ck_batch_total_len(&h);
	}
	return n > 1 && producer;
}

int wal_pids_check(const wal_pids_t *s, const uint8_t *p, size_t len, wal_pid_batch_t *ret)
{
	const wal_pid_entry_t *e;
	ck_batch_header_t hdr, *h = &hdr;
	int32_t first, last;

	if (ck_batch_header_parse(p, len, h) < 0)
		return CK_E_INVALID;
	if (ck_batch_total_len(h) < len && wal_pids_crowded(p, len))
		return CK_E_INVALID;
	first = h->base_sequence;
	if (h->producer_id < 0)
		return 0;
	if (first < 0 || h->producer_epoch < 0)
		return CK_E_INVALID;
	e = wal_pids_find(s, h->producer_id);
	if (!e)
		return 0;
	if (h->producer_epoch < e->epoch)
		return CK_E_FENCED;
	if (h->producer_epoch > e->epoch || e->n == 0)
		return first == 0 || e->n == 0 ? 0 : CK_E_SEQUENCE;
	last = wal_pid_seq_add(first, h->last_offset_delta);
	for (uint8_t i = 0; i < e->n; i++) {
		if (e->b[i].first_seq == first && e->b[i].last_seq == last) {
			*ret = e->b[i];
			return 1;
		}
	}
	if (first != wal_pid_seq_add(e->b[e->n - 1].last_seq, 1))
		return CK_E_SEQUENCE;
	return 0;
}

/* Sets the count to N, keeping the shared budget's. */
static void wal_pids_count(wal_pids_t *s, size_t n)
{
	if (s->budget)
		s->budget->used = s->budget->used - s->n + n;
	s->n = n;
}

static void wal_pids_remove_at(wal_pids_t *s, size_t i)
{
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	wal_pids_count(s, s->n - 1);
}

static bool wal_pids_full(const wal_pids_t *s)
{
	return s->n >= WAL_PID_MAX || (s->budget && s->budget->used >= s->budget->max);
}

/* Makes room for one more producer when the log or the budget is full.
 * Returns false when there is none (a log without producers at the
 * budget's end). */
static bool wal_pids_make_room(wal_pids_t *s, int64_t now_ms)
{
	size_t oldest = 0;

	if (!wal_pids_full(s))
		return true;
	wal_pids_expire(s, now_ms, WAL_PID_EXPIRE_MS);
	if (!wal_pids_full(s))
		return true;
	if (s->n == 0)
		return false;
	for (size_t i = 1; i < s->n; i++)
		if (s->v[i].last_ts < s->v[oldest].last_ts)
			oldest = i;
	wal_pids_remove_at(s, oldest);
	return true;
}

static wal_pid_entry_t *wal_pids_get(wal_pids_t *s, int64_t producer_id, int64_t now_ms)
{
	bool found;
	size_t i = wal_pids_pos(s, producer_id, &found);

	if (found)
		return &s->v[i];
	if (!wal_pids_make_room(s, now_ms))
		return NULL;
	i = wal_pids_pos(s, producer_id, &found);
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;
		wal_pid_entry_t *v = realloc(s->v, cap * sizeof(*v));
		CK_ASSERT(v != NULL);
		s->v = v;
		s->cap = cap;
	}
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	wal_pids_count(s, s->n + 1);
	memset(&s->v[i], 0, sizeof(s->v[i]));
	s->v[i].producer_id = producer_id;
	return &s->v[i];
}

static void wal_pids_record(wal_pids_t *s, const ck_batch_header_t *h, int64_t ts)
{
	wal_pid_entry_t *e;
	wal_pid_batch_t b;

	if (h->producer_id < 0 || h->base_sequence < 0)
		return;
	e = wal_pids_get(s, h->producer_id, ts);
	if (!e)
		return;
	if (h->producer_epoch != e->epoch || e->n == 0) {
		e->epoch = h->producer_epoch;
		e->n = 0;
	}
	b.first_seq = h->base_sequence;
	b.last_seq = wal_pid_seq_add(h->base_sequence, h->last_offset_delta);
	b.base_offset = h->base_offset;
	b.last_offset = ck_batch_last_offset(h);
	if (e->n == WAL_PID_BATCHES) {
		memmove(&e->b[0], &e->b[1], (WAL_PID_BATCHES - 1) * sizeof(e->b[0]));
		e->n--;
	}
	e->b[e->n++] = b;
	e->last_ts = ts;
}

void wal_pids_note(wal_pids_t *s, const ck_batch_header_t *h)
{
	wal_pids_record(s, h, h->max_timestamp);
}

void wal_pids_update(wal_pids_t *s, const uint8_t *p, size_t len, int64_t now_ms)
{
	size_t pos = 0;
	ck_batch_header_t h;

	while (pos < len && ck_batch_header_parse(p + pos, len - pos, &h) == 0) {
		size_t total = ck_batch_total_len(&h);
		if (total > len - pos)
			break;
		wal_pids_record(s, &h, now_ms);
		pos += total;
	}
}

void wal_pids_truncate(wal_pids_t *s, int64_t end)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n; i++) {
		wal_pid_entry_t *e = &s->v[i];
		while (e->n > 0 && e->b[e->n - 1].last_offset >= end)
			e->n--;
		if (e->n > 0)
			s->v[k++] = *e;
	}
	wal_pids_count(s, k);
}

void wal_pids_expire(wal_pids_t *s, int64_t now_ms, int64_t max_age_ms)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].last_ts >= now_ms - max_age_ms)
			s->v[k++] = s->v[i];
	wal_pids_count(s, k);
}

void wal_pids_clear(wal_pids_t *s)
{
	wal_pids_count(s, 0);
	free(s->v);
	s->v = NULL;
	s->cap = 0;
}
