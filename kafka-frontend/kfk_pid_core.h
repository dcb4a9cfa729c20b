/*
 * kfk_pid_core.h: the producer-id block an idempotent producer's
 * InitProducerId draws from (pure).
 *
 * Owned by kafka-frontend. Producer ids are unique across the cluster and
 * across restarts: the Raft controller hands each broker blocks of
 * consecutive ids (AllocateProducerIds, raftd_apply.c), and a broker hands
 * the ids of its current block out one by one from memory, [next, end).
 * Invariants: 0 <= next <= end; a new block starts at or above the end of
 * the one before (a block that does not is a stale read and is refused),
 * so no id is ever handed out twice by one process. A process starts with
 * no block: the block stored in LMDB when it starts may have been used by
 * its previous run, so the first request allocates a fresh one.
 * Not for: proposing, reading LMDB, answering requests
 * (kfk_h_producer_id.c).
 */
#ifndef KFK_PID_CORE_H
#define KFK_PID_CORE_H

#include <stdbool.h>
#include <stdint.h>

/* Ids asked of the controller at a time. raftd refuses more than
 * RAFTD_PRODUCER_BLOCK_MAX (raftd_apply.h); 1,000 keeps a block's worth of
 * ids lost at a restart negligible (Kafka's own blocks are 1,000 too). */
#define KFK_PID_BLOCK_SIZE 1000

typedef struct {
	int64_t next; /* the next id to hand out */
	int64_t end;  /* one past the block's last id; next == end: none left */
} kfk_pid_block_t;

/* An empty block (nothing handed out yet). */
void kfk_pid_block_init(kfk_pid_block_t *b);

/* How many ids are left in B. */
int64_t kfk_pid_block_left(const kfk_pid_block_t *b);

/* Takes the next id of B: true and *RET_ID, or false when B is exhausted
 * (*RET_ID untouched). */
bool kfk_pid_block_take(kfk_pid_block_t *b, int64_t *ret_id);

/*
 * Replaces B (whatever it had left) with the block of SIZE ids from START,
 * as read from LMDB after an allocation was applied. Returns 0, or
 * CK_E_CORRUPT when START or SIZE are out of range (negative start, size
 * < 1, start + size overflowing) and CK_E_AGAIN when the block does not
 * start at or above B's end (an older block: its ids may have been handed
 * out); B is unchanged on failure.
 */
int kfk_pid_block_set(kfk_pid_block_t *b, int64_t start, int64_t size);

#endif
