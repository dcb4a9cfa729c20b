/*
 * kfk_respq.c: in-order response queue (kfk_respq.h).
 *
 * Owned by kafka-frontend (pure).
 */
#include "kfk_respq.h"

void kfk_respq_push(kfk_respq_t *q, kfk_respq_item_t *it)
{
	it->next = NULL;
	it->done = false;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->count++;
}

kfk_respq_item_t *kfk_respq_pop_any(kfk_respq_t *q)
{
	kfk_respq_item_t *it = q->head;

	if (!it)
		return NULL;
	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	q->count--;
	it->next = NULL;
	return it;
}

kfk_respq_item_t *kfk_respq_pop_ready(kfk_respq_t *q)
{
	if (!q->head || !q->head->done)
		return NULL;
	return kfk_respq_pop_any(q);
}
