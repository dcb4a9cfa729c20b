/*
 * kfk_coord_core.c: FindCoordinator's decisions (kfk_coord_core.h).
 *
 * Owned by kafka-frontend (pure: no I/O, no logging, no allocation but the
 * request arena).
 */
#include "kfk_coord_core.h"

#include <errno.h>
#include <stddef.h>

#include "ck_err.h"
#include "kfk_errors.h"

/* The first version that batches keys (KIP-699). */
#define KFK_COORD_BATCH_VERSION 4

/* splitmix64's finaliser: every input bit moves every output bit. */
static uint64_t kfk_coord_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

int kfk_coord_pick(kfk_str_t key, const kfk_coord_broker_t *brokers, int n)
{
	const uint8_t *s = (const uint8_t *)key.ptr;
	uint64_t h = 0xcbf29ce484222325ULL, best = 0;
	int pick = 0;

	for (int32_t i = 0; i < key.len; i++) /* FNV-1a over the key's bytes */
		h = (h ^ s[i]) * 0x100000001b3ULL;
	for (int i = 0; i < n; i++) {
		uint64_t score =
		    kfk_coord_mix(h ^ kfk_coord_mix((uint64_t)(uint32_t)brokers[i].id));

		if (i == 0 || score > best) {
			best = score;
			pick = i;
		}
	}
	return pick;
}

typedef struct {
	int16_t err;
	const char *msg; /* NULL on success */
	int32_t node_id;
	kfk_str_t host;
	int32_t port;
} kfk_coord_result_t;

static void kfk_coord_fail(kfk_coord_result_t *r, int16_t err, const char *msg)
{
	r->err = err;
	r->msg = msg;
	r->node_id = -1;
	r->host = kfk_str("");
	r->port = -1;
}

static void kfk_coord_find(int8_t key_type, kfk_str_t key, const kfk_coord_broker_t *brokers,
                           int n, kfk_coord_result_t *ret)
{
	const kfk_coord_broker_t *b;

	if (key_type != KFK_COORD_KEY_GROUP && key_type != KFK_COORD_KEY_TRANSACTION) {
		kfk_coord_fail(ret, KFK_ERR_INVALID_REQUEST,
		               "unknown coordinator key type (0 = group, 1 = transaction)");
		return;
	}
	if (key_type == KFK_COORD_KEY_TRANSACTION) {
		kfk_coord_fail(ret, KFK_TXN_UNSUPPORTED_ERR, KFK_TXN_UNSUPPORTED_MSG);
		return;
	}
	if (n <= 0) {
		kfk_coord_fail(ret, KFK_ERR_COORDINATOR_NOT_AVAILABLE, "no live broker");
		return;
	}
	b = &brokers[kfk_coord_pick(key, brokers, n)];
	if (!b->host || !b->host[0] || b->port <= 0) {
		kfk_coord_fail(ret, KFK_ERR_COORDINATOR_NOT_AVAILABLE,
		               "the coordinator has no Kafka address yet");
		return;
	}
	ret->err = KFK_ERR_NONE;
	ret->msg = NULL;
	ret->node_id = b->id;
	ret->host = kfk_str(b->host);
	ret->port = b->port;
}

/* v4+: one result per key, in request order. */
static int kfk_coord_answer_batch(const kfk_find_coordinator_request_t *rq,
                                  const kfk_coord_broker_t *brokers, int n, kfk_arena_t *arena,
                                  kfk_find_coordinator_response_t *ret)
{
	int32_t count = rq->coordinator_keys.count > 0 ? rq->coordinator_keys.count : 0;
	kfk_find_coordinator_response_coordinator_t *items = NULL;
	kfk_coord_result_t res;
	int r;

	if (count > 0) {
		r = kfk_arena_alloc(arena, (size_t)count, sizeof(*items), (void **)&items);
		if (r < 0)
			return r;
	}
	for (int32_t i = 0; i < count; i++) {
		kfk_find_coordinator_response_coordinator_t *o = &items[i];
		kfk_str_t key = rq->coordinator_keys.items[i];

		kfk_coord_find(rq->key_type, key, brokers, n, &res);
		kfk_find_coordinator_response_coordinator_init(o);
		o->key = key;
		o->node_id = res.node_id;
		o->host = res.host;
		o->port = res.port;
		o->error_code = res.err;
		o->error_message = res.msg ? kfk_str(res.msg) : KFK_STR_NULL;
	}
	ret->coordinators.count = count;
	ret->coordinators.items = items;
	return 0;
}

int kfk_coord_answer(const kfk_find_coordinator_request_t *rq, int16_t version,
                     const kfk_coord_broker_t *brokers, int n, kfk_arena_t *arena,
                     kfk_find_coordinator_response_t *ret)
{
	kfk_coord_result_t res;

	kfk_find_coordinator_response_init(ret);
	ret->throttle_time_ms = 0;
	if (version >= KFK_COORD_BATCH_VERSION)
		return kfk_coord_answer_batch(rq, brokers, n, arena, ret);
	/* v0 has no key type: the decoder's default (group) stands. */
	kfk_coord_find(version >= 1 ? rq->key_type : KFK_COORD_KEY_GROUP, rq->key, brokers, n,
	               &res);
	ret->error_code = res.err;
	ret->error_message = res.msg ? kfk_str(res.msg) : KFK_STR_NULL;
	ret->node_id = res.node_id;
	ret->host = res.host;
	ret->port = res.port;
	return 0;
}
