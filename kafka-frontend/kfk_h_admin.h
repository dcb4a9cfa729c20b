/*
 * kfk_h_admin.h: the scaffolding shared by admin handlers (kfk_h_admin.c,
 * kfk_h_configs.c): a request with N entries, each possibly proposing one
 * MetadataCommand, answered once every proposal came back.
 *
 * Owned by kafka-frontend (shell). Everything lives in the request's arena.
 */
#ifndef KFK_H_ADMIN_H
#define KFK_H_ADMIN_H

#include "kfk_srv.h"

typedef struct kfk_admin kfk_admin_t;

/* One entry's outcome. */
typedef struct {
	kfk_admin_t *ad;
	int16_t err;
	char msg[256];
} kfk_aop_t;

struct kfk_admin {
	kfk_req_t *req;
	kfk_aop_t *ops;
	int32_t n;
	int32_t timeout_ms;
	int pending; /* proposals in flight, plus one while dispatching */
	void (*respond)(kfk_admin_t *ad);
	void *extra; /* the handler's per-entry data */
	/* kfk_names_dups() of the entries (NULL: none named twice): a name's
	 * later copies get no result of their own, as in Kafka. */
	const uint8_t *dups;
	/* Called (when set) with an entry whose proposal failed with ERR
	 * before that becomes its outcome: true when it handled the entry
	 * itself (set its outcome or proposed again). */
	bool (*retry)(kfk_aop_t *op, int16_t err);
};

/* Allocates the scaffolding for N entries (all KFK_ERR_NONE) and makes it
 * the request's handler state. RESPOND runs when the last proposal came
 * back and the dispatching reference was released. NULL when out of memory. */
kfk_admin_t *kfk_admin_new(kfk_req_t *req, int32_t n, int32_t timeout_ms,
                           void (*respond)(kfk_admin_t *ad));
/* Drops one reference (the dispatching one, or a proposal's). */
void kfk_admin_release(kfk_admin_t *ad);
/* Sets OP's outcome (MSG copied; NULL = none). */
void kfk_aop_set(kfk_aop_t *op, int16_t err, const char *msg);
/* Proposes CMD for OP; its outcome becomes OP's. */
void kfk_aop_propose(kfk_aop_t *op, const Chronik__Meta__MetadataCommand *cmd);

#endif
