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
#define KFK_UTF8_REPLACEMENT    0xFFFDu

/*
 * One code point of S (N bytes) at *I, advancing *I. A malformed sequence
 * yields U+FFFD and consumes its maximal ill-formed subpart: the lead byte
 * and the continuation bytes that were valid so far (Unicode's
 * recommended practice, which Java's UTF-8 decoder follows).
 */
static uint32_t kfk_utf8_next(const uint8_t *s, size_t n, size_t *i)
{
	uint8_t b = s[(*i)++], lo = 0x80, hi = 0xBF;
	uint32_t cp;
	int need;

	if (b < 0x80)
		return b;
	if (b >= 0xC2 && b <= 0xDF) {
		need = 1;
		cp = b & 0x1Fu;
	} else if (b >= 0xE0 && b <= 0xEF) {
		need = 2;
		cp = b & 0x0Fu;
		lo = b == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
		hi = b == 0xED ? 0x9F : 0xBF; /* no surrogates */
	} else if (b >= 0xF0 && b <= 0xF4) {
		need = 3;
		cp = b & 0x07u;
		lo = b == 0xF0 ? 0x90 : 0x80;
		hi = b == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
	} else {
		return KFK_UTF8_REPLACEMENT;
	}
	for (; need > 0; need--) {
		if (*i >= n || s[*i] < lo || s[*i] > hi)
			return KFK_UTF8_REPLACEMENT;
		cp = (cp << 6) | (s[(*i)++] & 0x3Fu);
		lo = 0x80;
		hi = 0xBF;
	}
	return cp;
}

int32_t kfk_coord_key_hash(kfk_str_t key)
{
	const uint8_t *s = (const uint8_t *)key.ptr;
	size_t n = key.len > 0 ? (size_t)key.len : 0, i = 0;
	uint32_t h = 0, cp;

	while (i < n) {
		cp = kfk_utf8_next(s, n, &i);
		if (cp < 0x10000) {
			h = 31 * h + cp;
			continue;
		}
		cp -= 0x10000; /* a surrogate pair in UTF-16 */
		h = 31 * h + (0xD800 + (cp >> 10));
		h = 31 * h + (0xDC00 + (cp & 0x3FF));
	}
	return (int32_t)h;
}

int kfk_coord_pick(kfk_str_t key, int n)
{
	return (int)(((uint32_t)kfk_coord_key_hash(key) & 0x7fffffffu) % (uint32_t)n);
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
	b = &brokers[kfk_coord_pick(key, n)];
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
