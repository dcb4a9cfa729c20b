/*
 * ck_hash.h: a small generic hash table: 64-bit hashes to non-NULL void *
 * values, open addressing with linear probing, plus the FNV-1a hash to feed
 * it.
 *
 * The table stores no keys. The caller hashes its key (ck_hash_str,
 * ck_hash_bytes, or several pieces chained with ck_hash_bytes_add) and
 * passes an equality callback that compares the key with a stored value, so
 * a value whose key lives inside it (a log's name, a partition's topic and
 * number) needs no extra allocation. Several values may share a key: the
 * table never checks for duplicates (find before insert when that matters).
 *
 * Removal leaves a tombstone, so removing any value (the current one
 * included) while iterating with ck_hash_next() is safe; inserting while
 * iterating is not (a growth moves everything). Tombstones are dropped when
 * the table grows or is rebuilt. Memory: 16 bytes per slot, at most 3/4 of
 * the slots in use (tombstones included) before it doubles.
 *
 * Pure code: no I/O, no locking (one thread per table), no logging.
 */
#ifndef CK_HASH_H
#define CK_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint64_t hash;
	void *val; /* NULL: empty; ck_hash_tombstone: removed */
} ck_hash_slot_t;

typedef struct {
	ck_hash_slot_t *slots;
	size_t cap;  /* a power of two, or 0 before the first insert */
	size_t n;    /* live values */
	size_t used; /* live values + tombstones */
} ck_hash_t;

#define CK_HASH_INIT {NULL, 0, 0, 0}

/* Whether VAL (a stored value) has the key KEY (whatever the caller hashed). */
typedef bool (*ck_hash_eq_fn)(const void *key, const void *val);

/* FNV-1a, 64 bits: the hash of LEN bytes at P, of a NUL-terminated string,
 * and the continuation of H with more bytes (CK_HASH_SEED starts a chain:
 * ck_hash_bytes(p, n) == ck_hash_bytes_add(CK_HASH_SEED, p, n)). */
#define CK_HASH_SEED 0xcbf29ce484222325ull
uint64_t ck_hash_bytes_add(uint64_t h, const void *p, size_t len);
uint64_t ck_hash_bytes(const void *p, size_t len);
uint64_t ck_hash_str(const char *s);

void ck_hash_init(ck_hash_t *h);
/* Frees the slots (not the values) and empties H. */
void ck_hash_free(ck_hash_t *h);

static inline size_t ck_hash_count(const ck_hash_t *h)
{
	return h->n;
}

/* The first value with hash HASH for which EQ(KEY, value) holds, or NULL. */
void *ck_hash_find(const ck_hash_t *h, uint64_t hash, ck_hash_eq_fn eq, const void *key);

/*
 * Adds VAL (not NULL) under HASH, growing the table when needed. When the
 * growth cannot be allocated the value still goes in as long as a free
 * slot remains. Returns 0 or -ENOMEM (H unchanged).
 */
int ck_hash_insert(ck_hash_t *h, uint64_t hash, void *val);

/* Removes the value VAL (compared by pointer) stored under HASH. Returns
 * whether it was there. */
bool ck_hash_remove(ck_hash_t *h, uint64_t hash, const void *val);

/*
 * Iteration: start with *ITER = 0; each call returns the next live value
 * (in slot order, not insertion order) or NULL at the end.
 */
void *ck_hash_next(const ck_hash_t *h, size_t *iter);

#endif
