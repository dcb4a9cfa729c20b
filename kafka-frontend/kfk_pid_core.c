/*
 * kfk_pid_core.c: the producer-id block of InitProducerId (kfk_pid_core.h).
 *
 * Owned by kafka-frontend (pure: no I/O, no logging, no allocation).
 */
#include "kfk_pid_core.h"

#include "ck_err.h"

void kfk_pid_block_init(kfk_pid_block_t *b)
{
	b->next = 0;
	b->end = 0;
}

int64_t kfk_pid_block_left(const kfk_pid_block_t *b)
{
	return b->end - b->next;
}

bool kfk_pid_block_take(kfk_pid_block_t *b, int64_t *ret_id)
{
	CK_ASSERT(b->next >= 0 && b->next <= b->end);
	if (b->next == b->end)
		return false;
	*ret_id = b->next++;
	return true;
}

int kfk_pid_block_set(kfk_pid_block_t *b, int64_t start, int64_t size)
{
	if (start < 0 || size < 1 || start > INT64_MAX - size)
		return CK_E_CORRUPT;
	if (start < b->end)
		return CK_E_AGAIN;
	b->next = start;
	b->end = start + size;
	return 0;
}
