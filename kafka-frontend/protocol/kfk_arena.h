/*
 * kfk_arena.h: bump allocator for decoded Kafka requests.
 *
 * Owned by kafka-frontend. One arena per connection (or per request): the
 * decoder takes every array it builds from here, never from malloc per field,
 * and the whole request is released at once with kfk_arena_reset(). Memory
 * comes in chunks; the arena never holds more than cap_bytes of chunk
 * payload, so a hostile frame cannot make a decode allocate without bound.
 * Not thread-safe; pure apart from malloc/free.
 */
#ifndef KFK_ARENA_H
#define KFK_ARENA_H

#include <stddef.h>

typedef struct kfk_arena_chunk kfk_arena_chunk_t;

typedef struct {
	kfk_arena_chunk_t *head; /* newest chunk first */
	size_t chunk_bytes;      /* payload of a standard chunk */
	size_t cap_bytes;        /* most chunk payload held at once */
	size_t held_bytes;       /* chunk payload currently held */
	size_t used_bytes;       /* bytes handed out since init or reset */
} kfk_arena_t;

#define KFK_ARENA_CHUNK_BYTES_DEFAULT (16u * 1024u)

/* Prepares an empty arena; allocates nothing yet. CHUNK_BYTES 0 picks
 * KFK_ARENA_CHUNK_BYTES_DEFAULT; CAP_BYTES 0 means no cap. */
void kfk_arena_init(kfk_arena_t *a, size_t chunk_bytes, size_t cap_bytes);

/* Allocates COUNT * SIZE bytes (uninitialised), aligned for any type, valid
 * until the next reset or free. A zero-byte request yields NULL and 0.
 * Returns 0, CK_E_TOO_LARGE (overflow, or the cap would be exceeded) or
 * -ENOMEM; *RET_PTR is written only on success. */
int kfk_arena_alloc(kfk_arena_t *a, size_t count, size_t size, void **ret_ptr);

/* Sets the most chunk payload held at once from now on (0 = no cap); what
 * is held already stays. */
void kfk_arena_set_cap(kfk_arena_t *a, size_t cap_bytes);

/* Releases everything handed out. Keeps one standard chunk for reuse. */
void kfk_arena_reset(kfk_arena_t *a);

/* Releases all memory; the arena may be initialised again. */
void kfk_arena_free(kfk_arena_t *a);

/* Frees the calling thread's cache of released chunks (at exit, for leak
 * checkers; the cache refills itself if arenas are used again). */
void kfk_arena_cache_drain(void);
/* Chunks in the calling thread's cache (for tests). */
unsigned kfk_arena_cache_held(void);

/* Bytes handed out since init or the last reset (alignment included). */
static inline size_t kfk_arena_used(const kfk_arena_t *a) { return a->used_bytes; }

#endif
