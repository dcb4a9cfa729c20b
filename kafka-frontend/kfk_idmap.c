/*
 * kfk_idmap.c: correlation id map (kfk_idmap.h).
 *
 * Owned by kafka-frontend (pure apart from malloc).
 */
#include "kfk_idmap.h"

#include <errno.h>
#include <stdlib.h>

#include "ck_err.h"

#define KFK_IDMAP_CAP_MIN 16

static size_t kfk_idmap_hash(uint64_t id, size_t cap)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)id & (cap - 1);
}

void kfk_idmap_init(kfk_idmap_t *m)
{
	m->slots = NULL;
	m->cap = 0;
	m->count = 0;
}

void kfk_idmap_free(kfk_idmap_t *m)
{
	free(m->slots);
	kfk_idmap_init(m);
}

static size_t kfk_idmap_find(const kfk_idmap_t *m, uint64_t id, int *ret_found)
{
	size_t i = kfk_idmap_hash(id, m->cap);

	while (m->slots[i].id != 0) {
		if (m->slots[i].id == id) {
			*ret_found = 1;
			return i;
		}
		i = (i + 1) & (m->cap - 1);
	}
	*ret_found = 0;
	return i;
}

static int kfk_idmap_grow(kfk_idmap_t *m)
{
	size_t cap = m->cap ? m->cap * 2 : KFK_IDMAP_CAP_MIN;
	kfk_idmap_t n = {calloc(cap, sizeof(kfk_idmap_slot_t)), cap, 0};

	if (!n.slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		int found;

		if (m->slots[i].id == 0)
			continue;
		size_t j = kfk_idmap_find(&n, m->slots[i].id, &found);
		n.slots[j] = m->slots[i];
		n.count++;
	}
	free(m->slots);
	*m = n;
	return 0;
}

int kfk_idmap_put(kfk_idmap_t *m, uint64_t id, void *val)
{
	int found;
	size_t i;

	if (id == 0)
		return CK_E_INVALID;
	if ((m->count + 1) * 2 > m->cap) {
		int r = kfk_idmap_grow(m);
		if (r < 0)
			return r;
	}
	i = kfk_idmap_find(m, id, &found);
	if (found)
		return CK_E_EXISTS;
	m->slots[i].id = id;
	m->slots[i].val = val;
	m->count++;
	return 0;
}

void *kfk_idmap_get(const kfk_idmap_t *m, uint64_t id)
{
	int found;
	size_t i;

	if (id == 0 || m->cap == 0)
		return NULL;
	i = kfk_idmap_find(m, id, &found);
	return found ? m->slots[i].val : NULL;
}

/* Empties slot I and moves later entries of its cluster back so that every
 * entry stays reachable from its home slot. */
static void kfk_idmap_remove_at(kfk_idmap_t *m, size_t i)
{
	size_t mask = m->cap - 1, j = i;

	m->slots[i].id = 0;
	m->slots[i].val = NULL;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (m->slots[j].id == 0)
			break;
		home = kfk_idmap_hash(m->slots[j].id, m->cap);
		/* Move J into the hole I unless its home lies cyclically in (I, J]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			m->slots[j].id = 0;
			m->slots[j].val = NULL;
			i = j;
		}
	}
	m->count--;
}

void *kfk_idmap_take(kfk_idmap_t *m, uint64_t id)
{
	int found;
	size_t i;
	void *val;

	if (id == 0 || m->cap == 0)
		return NULL;
	i = kfk_idmap_find(m, id, &found);
	if (!found)
		return NULL;
	val = m->slots[i].val;
	kfk_idmap_remove_at(m, i);
	return val;
}

void kfk_idmap_drain(kfk_idmap_t *m, void (*fn)(void *arg, uint64_t id, void *val), void *arg)
{
	kfk_idmap_t old = *m;

	kfk_idmap_init(m);
	for (size_t i = 0; i < old.cap; i++) {
		if (old.slots[i].id != 0)
			fn(arg, old.slots[i].id, old.slots[i].val);
	}
	free(old.slots);
}
