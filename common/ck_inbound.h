/*
 * ck_inbound.h: the inbound side of a node-to-node protocol (raftd's raft
 * port, the replicator's replication port): a bounded table of accepted
 * connections that are only read, each bound to the peer and incarnation
 * named by its first frame.
 *
 * Every frame is decoded by the caller's hook into a message and its
 * header; the header must name this cluster (cfg->cluster_id), a configured
 * peer other than this node as sender, this node as receiver, and a
 * non-zero incarnation that stays the same for the life of the connection
 * and is the sender's newest (a frame from an older incarnation is refused).
 * A refused or undecodable frame is logged (rate-limited: anyone can
 * connect) and closes its connection; nothing else is affected. A peer keeps
 * one connection: when it names itself on a new one, its older one goes.
 * At most CK_INBOUND_MAX connections are open: a new one beyond takes the
 * place of the oldest that has not named a peer yet (strangers must not
 * lock the peers out), else it is refused. What strangers make this node
 * buffer is bounded too: a first frame above CK_INBOUND_STRANGER_FRAME
 * bytes is refused while the other unnamed connections' large first frames
 * under way and it would add up to more than frame_max (a peer's large
 * first frame, a catch-up after a reconnect, rarely meets another; when it
 * does, the peer reconnects and sends again).
 * For the thread running the event base.
 * Not for: the outbound side (ck_dial.h), what messages mean.
 */
#ifndef CK_INBOUND_H
#define CK_INBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_config.h"

struct event_base;

#define CK_INBOUND_MAX 64
#define CK_INBOUND_STRANGER_FRAME (1u << 20)

typedef struct {
	const char *cluster_id;
	int64_t sender;
	int64_t receiver;
	uint64_t incarnation;
} ck_inbound_hdr_t;

typedef struct {
	/* The protocol's name in log lines ("raft"). */
	const char *name;
	/* Decodes LEN bytes into a message and fills *HDR (pointing into the
	 * message); NULL when the frame does not decode. */
	void *(*decode)(const uint8_t *data, size_t len, ck_inbound_hdr_t *hdr);
	void (*free_msg)(void *msg);
	/* A message that passed the checks, the callee's to free. RESTARTED:
	 * the first frame of a new incarnation of SENDER. */
	void (*on_msg)(void *arg, int64_t sender, void *msg, bool restarted);
} ck_inbound_hooks_t;

typedef struct ck_inbound ck_inbound_t;

/* A table for node cfg->node_id (CFG borrowed for its life), frames of at
 * most FRAME_MAX bytes (0: the default). Returns NULL when out of memory. */
ck_inbound_t *ck_inbound_new(struct event_base *base, const ck_config_t *cfg, size_t frame_max,
                             const ck_inbound_hooks_t *h, void *arg);
/* Closes every connection and frees T. NULL is fine. */
void ck_inbound_free(ck_inbound_t *t);
/* An accepted connection (a ck_ipc_accept_fn: ARG is the table). */
void ck_inbound_accept(int fd, void *t);

#endif
