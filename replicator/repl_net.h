/*
 * repl_net.h: chronik-replicator's node-to-node transport over TCP (the
 * "replication" listener; common/proto/replnet.proto, framing of
 * common/ck_ipc.h).
 *
 * Connections: one OUTBOUND connection per other node ([peer.N]), made here
 * to the peer's replication address, reconnecting with backoff (50 ms
 * doubling to 1 s, connect attempts time out after 1 s); this node writes
 * only on those (common/ck_dial). INBOUND connections (accepted on the
 * listener) are only read (common/ck_inbound: at most CK_INBOUND_MAX, a new
 * one beyond takes the place of the oldest that has not sent a valid frame).
 * Every frame is one Envelope; its header must name this cluster, a
 * configured peer as sender, this node as receiver and a non-zero
 * incarnation that stays the same for the life of the connection. A refused
 * or undecodable frame is logged and closes its connection; nothing else is
 * affected.
 *
 * Sending is best effort: an Envelope for a peer that is not connected, or
 * whose connection has more than REPL_NET_OUTQ_MAX bytes unsent, is dropped
 * (the replication protocol resends: notices are repeated while a follower
 * is behind, a follower fetches again).
 *
 * Owned by replicator; for its libevent thread only.
 * Not for: what the items mean (repl_repl.c).
 */
#ifndef REPL_NET_H
#define REPL_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "ck_config.h"
#include "replnet.pb-c.h"

struct event_base;

#define REPL_NET_OUTQ_MAX ((size_t)64 << 20)

typedef struct repl_net repl_net_t;

typedef struct {
	/* A checked Envelope from node SENDER (valid during the call). */
	void (*on_envelope)(void *arg, int32_t sender, const Chronik__Replnet__Envelope *env);
	/* The outbound connection to PEER is up (what was dropped while it was
	 * down may be sent again). */
	void (*on_peer_up)(void *arg, int32_t peer);
	/* What was sent to PEER may never be answered: the outbound connection
	 * to it was lost (the answer to what it carried last may still come),
	 * or a frame of a new incarnation of PEER arrived (called before that
	 * frame's on_envelope: the process that was sent to is gone). May be
	 * NULL. */
	void (*on_peer_lost)(void *arg, int32_t peer);
} repl_net_hooks_t;

/* Creates the transport of cfg->node_id towards every other [peer.N] of CFG
 * (borrowed); connections start at once. Returns 0 and *RET, or -ENOMEM. */
int repl_net_new(struct event_base *base, const ck_config_t *cfg, const repl_net_hooks_t *h,
                 void *arg, repl_net_t **ret);
void repl_net_free(repl_net_t *n);

/* An inbound connection from the listener (the net owns FD from now on). */
void repl_net_accept(int fd, void *net);

/* Whether the outbound connection to PEER is up. */
bool repl_net_connected(const repl_net_t *n, int32_t peer);

/* Sends ENV (its header is filled in here) to PEER. Returns 0, -ENOTCONN,
 * CK_E_AGAIN (too much unsent), or an error of ck_ipc_conn_send_msg(). */
int repl_net_send(repl_net_t *n, int32_t peer, Chronik__Replnet__Envelope *env);

#endif
