/*
 * kfk_respq.h: the per-connection queue that keeps Kafka responses in
 * request order.
 *
 * Owned by kafka-frontend (pure). Kafka clients pipeline requests and match
 * responses by position (kafka-python raises CorrelationIdError otherwise),
 * while the broker completes them out of order (a metadata lookup finishes
 * before an earlier produce waits out its fsync). Every request gets a slot
 * when it is read; a handler marks its slot done whenever it finishes; only
 * done slots at the head leave the queue, so responses go out strictly in
 * order. Items are intrusive (embed kfk_respq_item_t), nothing allocates.
 * Not for: writing bytes (kfk_conn.c).
 */
#ifndef KFK_RESPQ_H
#define KFK_RESPQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kfk_respq_item {
	struct kfk_respq_item *next;
	bool done;
} kfk_respq_item_t;

typedef struct {
	kfk_respq_item_t *head;
	kfk_respq_item_t *tail;
	uint32_t count;
} kfk_respq_t;

static inline void kfk_respq_init(kfk_respq_t *q)
{
	q->head = q->tail = NULL;
	q->count = 0;
}

/* Appends IT (not done) at the tail. */
void kfk_respq_push(kfk_respq_t *q, kfk_respq_item_t *it);

/* Marks IT done; it leaves through kfk_respq_pop_ready() once every item
 * before it has. */
static inline void kfk_respq_done(kfk_respq_item_t *it)
{
	it->done = true;
}

/* The head item if it is done (removed from the queue), else NULL. */
kfk_respq_item_t *kfk_respq_pop_ready(kfk_respq_t *q);

/* Removes and returns the head whatever its state (for closing), or NULL. */
kfk_respq_item_t *kfk_respq_pop_any(kfk_respq_t *q);

#endif
