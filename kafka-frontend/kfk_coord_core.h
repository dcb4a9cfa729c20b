/*
 * kfk_coord_core.h: FindCoordinator's decisions (pure): which broker
 * coordinates a consumer group or a transactional id, and the response for
 * each request version.
 *
 * Owned by kafka-frontend. The coordinator of a key is picked among the
 * live brokers (the caller's list) by rendezvous hashing of the key and the
 * brokers' ids, so that every node with the same list picks the same one and
 * a change of the list moves only the groups of the broker that left or
 * came. One node answers itself. The group handlers use the same pick
 * to decide whether a group is theirs (kfk_group_coordinator()).
 * Versions: v0 (group only), v1-v3 (key type), v4+ (a batch of keys, one
 * result each, KIP-699). An unknown key type is INVALID_REQUEST, for the
 * whole request (v0-v3) or for every key (v4+), as Kafka answers; a
 * transactional id is KFK_TXN_UNSUPPORTED_ERR the same way.
 * Not for: reading the broker list (the shell, kfk_h_cluster.c), group
 * membership (kfk_group_core.h).
 */
#ifndef KFK_COORD_CORE_H
#define KFK_COORD_CORE_H

#include <stdint.h>

#include "kfk_arena.h"
#include "kfk_errors.h"
#include "kfk_msgs.h"
#include "kfk_types.h"

/* FindCoordinator key types (KIP-98 added transactions). */
#define KFK_COORD_KEY_GROUP       0
#define KFK_COORD_KEY_TRANSACTION 1

/* Transactions are not supported. FindCoordinator for a transactional id
 * and InitProducerId with one answer TRANSACTIONAL_ID_AUTHORIZATION_FAILED
 * (53) and, where the response has a message, KFK_TXN_UNSUPPORTED_MSG: the
 * code librdkafka and the Java client treat as fatal at once (librdkafka
 * retries any other FindCoordinator error until init_transactions() times
 * out), so a transactional producer fails fast with the message. */
#define KFK_TXN_UNSUPPORTED_ERR KFK_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED
#define KFK_TXN_UNSUPPORTED_MSG "transactions are not supported"

/* Brokers considered, at most (the lowest ids): a bound for the stack. */
#define KFK_COORD_BROKERS_MAX 1024

/* A broker that may coordinate (unfenced; kfk_h_cluster.c picks them). */
typedef struct {
	int32_t id;
	const char *host; /* advertised Kafka host; "" or NULL when unknown */
	int32_t port;     /* advertised Kafka port; <= 0 when unknown */
} kfk_coord_broker_t;

/*
 * Which of BROKERS (N > 0) coordinates KEY: the one whose id scores highest
 * with KEY (rendezvous hashing; ties, never seen, go to the lower index).
 * A group stays where it is while other brokers come and go: one broker's
 * fencing moves only the groups it held, and its return takes back only
 * those, as Kafka's groups move only with their __consumer_offsets
 * partition's leadership. (A hash modulo N, Kafka's partition choice,
 * would re-deal most groups among healthy brokers whenever N changes.)
 */
int kfk_coord_pick(kfk_str_t key, const kfk_coord_broker_t *brokers, int n);

/*
 * Fills RET (not initialised by the caller) with the answer to RQ at
 * VERSION (0..4 served; the caller checks the advertised range): for every
 * key, the broker of BROKERS (N entries) picked by kfk_coord_pick(), or COORDINATOR_NOT_AVAILABLE
 * when N is 0 or the picked broker has no address, or INVALID_REQUEST for an unknown key type, or
 * KFK_TXN_UNSUPPORTED_ERR ("transactions are not supported") for a
 * transactional id; a
 * failed key gets node -1, host "" and port -1 as in Kafka. Strings in RET
 * borrow from RQ and BROKERS; v4's result array comes from ARENA.
 * Returns 0, or CK_E_TOO_LARGE / -ENOMEM from the arena (RET is then
 * unspecified).
 */
int kfk_coord_answer(const kfk_find_coordinator_request_t *rq, int16_t version,
                     const kfk_coord_broker_t *brokers, int n, kfk_arena_t *arena,
                     kfk_find_coordinator_response_t *ret);

#endif
