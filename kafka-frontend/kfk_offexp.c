/*
 * kfk_offexp.c: when the committed offsets of a consumer group expire.
 * See kfk_offexp.h.
 */
#include "kfk_offexp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	int64_t seen_ms; /* wall clock ms the group was last seen */
	uint64_t sweep;  /* the last sweep that visited it */
	char name[];     /* NUL-terminated */
} kfk_offexp_ent_t;

static bool kfk_offexp_eq(const void *key, const void *val)
{
	return strcmp(key, ((const kfk_offexp_ent_t *)val)->name) == 0;
}

void kfk_offexp_init(kfk_offexp_t *e)
{
	ck_hash_init(&e->seen);
	e->sweep = 0;
}

void kfk_offexp_free(kfk_offexp_t *e)
{
	kfk_offexp_ent_t *ent;
	size_t it = 0;

	while ((ent = ck_hash_next(&e->seen, &it)) != NULL)
		free(ent);
	ck_hash_free(&e->seen);
}

size_t kfk_offexp_count(const kfk_offexp_t *e)
{
	return ck_hash_count(&e->seen);
}

/* GROUP's entry, made (seen at NOW_MS) when it has none; *NEW says which.
 * Either way it is marked visited by the current sweep. NULL: -ENOMEM. */
static kfk_offexp_ent_t *kfk_offexp_get(kfk_offexp_t *e, const char *group, int64_t now_ms,
                                        bool *new)
{
	uint64_t h = ck_hash_str(group);
	kfk_offexp_ent_t *ent = ck_hash_find(&e->seen, h, kfk_offexp_eq, group);
	size_t len;

	*new = ent == NULL;
	if (!ent) {
		len = strlen(group) + 1;
		ent = malloc(sizeof(*ent) + len);
		if (!ent)
			return NULL;
		memcpy(ent->name, group, len);
		ent->seen_ms = now_ms;
		if (ck_hash_insert(&e->seen, h, ent) < 0) {
			free(ent);
			return NULL;
		}
	}
	ent->sweep = e->sweep;
	return ent;
}

int kfk_offexp_live(kfk_offexp_t *e, const char *group, int64_t now_ms)
{
	bool new;
	kfk_offexp_ent_t *ent = kfk_offexp_get(e, group, now_ms, &new);

	if (!ent)
		return -ENOMEM;
	if (now_ms > ent->seen_ms)
		ent->seen_ms = now_ms;
	return 0;
}

void kfk_offexp_sweep_begin(kfk_offexp_t *e)
{
	e->sweep++;
}

int64_t kfk_offexp_cutoff(kfk_offexp_t *e, const char *group, int64_t now_ms, int64_t retention_ms)
{
	bool new;
	kfk_offexp_ent_t *ent = kfk_offexp_get(e, group, now_ms, &new);

	if (!ent)
		return -ENOMEM;
	/* now_ms - retention_ms: both are wall clock ms, far from the ends
	 * of int64 (retention is at most INT64_MAX / 2). */
	if (new || retention_ms <= 0 || now_ms - retention_ms < ent->seen_ms ||
	    now_ms - retention_ms <= 0)
		return 0;
	/* Kafka's rule: expired once now - commit >= retention. */
	return now_ms - retention_ms + 1;
}

void kfk_offexp_sweep_end(kfk_offexp_t *e)
{
	kfk_offexp_ent_t *ent;
	size_t it = 0;

	while ((ent = ck_hash_next(&e->seen, &it)) != NULL) {
		if (ent->sweep == e->sweep)
			continue;
		(void)ck_hash_remove(&e->seen, ck_hash_str(ent->name), ent);
		free(ent);
	}
}
