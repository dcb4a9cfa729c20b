/*
 * kfk_idmap.h: a map from 64-bit correlation ids to pointers.
 *
 * Owned by kafka-frontend (pure apart from malloc). The frontend keeps one
 * per IPC neighbour to find the waiting call when a reply arrives; replies
 * come in any order and thousands of appends may be in flight, so lookups
 * are O(1): open addressing with linear probing and backward-shift
 * deletion, growing at 50% load. Id 0 is reserved (pushed events carry it).
 * Not for: anything that needs ordering.
 */
#ifndef KFK_IDMAP_H
#define KFK_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint64_t id; /* 0 = empty slot */
	void *val;
} kfk_idmap_slot_t;

typedef struct {
	kfk_idmap_slot_t *slots;
	size_t cap; /* a power of two, or 0 before the first put */
	size_t count;
} kfk_idmap_t;

void kfk_idmap_init(kfk_idmap_t *m);
void kfk_idmap_free(kfk_idmap_t *m);

/* Stores ID -> VAL (ID != 0, not present yet). Returns 0, CK_E_INVALID
 * (id 0), CK_E_EXISTS, or -ENOMEM (the map is unchanged). */
int kfk_idmap_put(kfk_idmap_t *m, uint64_t id, void *val);

/* Removes ID and returns its value, or NULL when absent. */
void *kfk_idmap_take(kfk_idmap_t *m, uint64_t id);

/* The value of ID without removing it, or NULL. */
void *kfk_idmap_get(const kfk_idmap_t *m, uint64_t id);

/* Empties the map, then calls FN for every entry it held (in no particular
 * order): for failing every call in flight when a connection drops. FN may
 * use the map again (it is empty and valid by then). */
void kfk_idmap_drain(kfk_idmap_t *m, void (*fn)(void *arg, uint64_t id, void *val), void *arg);

#endif
