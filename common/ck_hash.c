/*
 * ck_hash.c: the generic hash table and FNV-1a (ck_hash.h).
 *
 * Owned by libck. Invariants: cap is 0 or a power of two; at least one
 * slot is always empty (NULL) once cap > 0, so every probe ends; `used`
 * counts live values and tombstones, `n` live values only; a tombstone is
 * never handed out as a value.
 */
#include "ck_hash.h"

#include <errno.h>
#include <stdlib.h>

#include "ck_err.h"

#define CK_HASH_CAP_MIN 16
#define CK_HASH_PRIME   0x100000001b3ull

/* The marker of a removed slot: a unique address no caller can own. */
static char ck_hash_tomb_mark;
#define CK_HASH_TOMB ((void *)&ck_hash_tomb_mark)

uint64_t ck_hash_bytes_add(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * CK_HASH_PRIME;
	return h;
}

uint64_t ck_hash_bytes(const void *p, size_t len)
{
	return ck_hash_bytes_add(CK_HASH_SEED, p, len);
}

uint64_t ck_hash_str(const char *s)
{
	uint64_t h = CK_HASH_SEED;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * CK_HASH_PRIME;
	return h;
}

void ck_hash_init(ck_hash_t *h)
{
	*h = (ck_hash_t)CK_HASH_INIT;
}

void ck_hash_free(ck_hash_t *h)
{
	free(h->slots);
	ck_hash_init(h);
}

void *ck_hash_find(const ck_hash_t *h, uint64_t hash, ck_hash_eq_fn eq, const void *key)
{
	size_t mask = h->cap - 1;

	if (h->cap == 0)
		return NULL;
	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		const ck_hash_slot_t *s = &h->slots[i];
		if (!s->val)
			return NULL;
		if (s->val != CK_HASH_TOMB && s->hash == hash && eq(key, s->val))
			return s->val;
	}
}

/* Puts VAL into the first free slot (empty or tombstone) of its probe run. */
static void ck_hash_place(ck_hash_t *h, uint64_t hash, void *val)
{
	size_t mask = h->cap - 1, i = hash & mask;

	while (h->slots[i].val && h->slots[i].val != CK_HASH_TOMB)
		i = (i + 1) & mask;
	if (!h->slots[i].val)
		h->used++;
	h->slots[i] = (ck_hash_slot_t){hash, val};
	h->n++;
}

/* Moves every live value into a table of CAP slots. */
static int ck_hash_rebuild(ck_hash_t *h, size_t cap)
{
	ck_hash_t nh = {calloc(cap, sizeof(ck_hash_slot_t)), cap, 0, 0};

	if (!nh.slots)
		return -ENOMEM;
	for (size_t i = 0; i < h->cap; i++) {
		ck_hash_slot_t *s = &h->slots[i];
		if (s->val && s->val != CK_HASH_TOMB)
			ck_hash_place(&nh, s->hash, s->val);
	}
	free(h->slots);
	*h = nh;
	return 0;
}

int ck_hash_insert(ck_hash_t *h, uint64_t hash, void *val)
{
	CK_ASSERT(val != NULL && val != CK_HASH_TOMB);
	if ((h->used + 1) * 4 > h->cap * 3) {
		/* Twice the live values, so tombstones alone never double it. */
		size_t cap = CK_HASH_CAP_MIN;
		while (cap < (h->n + 1) * 2)
			cap *= 2;
		if (ck_hash_rebuild(h, cap) < 0 && h->used + 2 > h->cap)
			return -ENOMEM; /* no slot to spare: the run must end */
	}
	ck_hash_place(h, hash, val);
	return 0;
}

bool ck_hash_remove(ck_hash_t *h, uint64_t hash, const void *val)
{
	size_t mask = h->cap - 1;

	if (h->cap == 0)
		return false;
	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		ck_hash_slot_t *s = &h->slots[i];
		if (!s->val)
			return false;
		if (s->val == val) {
			s->val = CK_HASH_TOMB;
			h->n--;
			return true;
		}
	}
}

void *ck_hash_next(const ck_hash_t *h, size_t *iter)
{
	while (*iter < h->cap) {
		void *v = h->slots[(*iter)++].val;
		if (v && v != CK_HASH_TOMB)
			return v;
	}
	return NULL;
}
