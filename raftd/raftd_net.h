/*
 * raftd_net.h: chronik-raftd's node-to-node transport over TCP (the "raft"
 * listener; common/proto/raftnet.proto, framing of common/ck_ipc.h).
 *
 * Connections: one OUTBOUND connection per other voter, made here to the
 * peer's raft address, reconnecting with backoff (50 ms doubling to 1 s,
 * connect attempts time out after 1 s); this node writes only on those.
 * INBOUND connections (accepted on the raft listener, handed in with
 * raftd_net_accept()) are only read, through common/ck_inbound (at most
 * CK_INBOUND_MAX, strangers evicted first). Every frame is one Envelope; its
 * header must name this cluster, a configured peer as sender, this node as
 * receiver and a non-zero incarnation that stays the same for the life of
 * the connection; frames from an incarnation older than the newest one seen
 * from that peer are refused too. A refused frame is logged and closes its
 * connection; nothing else is affected.
 *
 * Sending: items (Raft messages, forwarded proposals, their results,
 * snapshot chunks, heartbeats) are packed into the peer's buffers as they
 * are queued and written by raftd_net_flush() as one frame per peer (a
 * frame is cut at RAFTD_NET_FRAME_BYTES). Raft messages to a peer that is
 * not connected, or whose connection has more than RAFTD_NET_OUTQ_MAX
 * bytes unsent (a stopped peer), are dropped: Raft resends. The other
 * items wait for the connection (up to RAFTD_NET_PENDING_MAX bytes).
 *
 * Owned by raftd; for its libevent thread only.
 * Not for: what the items mean (raftd_node*.c), Raft (raft_*.c).
 */
#ifndef RAFTD_NET_H
#define RAFTD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_config.h"
#include "raft_core.h"
#include "raftnet.pb-c.h"

struct event_base;

#define RAFTD_NET_FRAME_BYTES  ((size_t)8 << 20)
#define RAFTD_NET_OUTQ_MAX     ((size_t)64 << 20)
#define RAFTD_NET_PENDING_MAX  ((size_t)64 << 20)

typedef struct raftd_net raftd_net_t;

typedef struct {
	/* A checked Envelope from a peer, owned by the callee (free it with
	 * chronik__raftnet__envelope__free_unpacked(env, NULL)). RESTARTED:
	 * the first frame of a new incarnation of that peer. */
	void (*on_envelope)(void *arg, Chronik__Raftnet__Envelope *env, bool restarted);
	/* The outbound connection to PEER is up / was lost (items that were
	 * written on it may or may not have arrived). */
	void (*on_peer_up)(void *arg, uint64_t peer);
	void (*on_peer_down)(void *arg, uint64_t peer);
} raftd_net_hooks_t;

/*
 * Creates the transport of node cfg->node_id with INCARNATION (non-zero)
 * towards every [peer.N] of CFG (borrowed for the net's life); first
 * connects start from the loop. Returns 0 and *RET, -ENOMEM, or
 * CK_E_CONFIG (no peers, a bad address).
 */
int raftd_net_new(raftd_net_t **ret, struct event_base *base, const ck_config_t *cfg,
                  uint64_t incarnation, const raftd_net_hooks_t *h, void *arg);
/* Closes every connection (no hooks). NULL is fine. */
void raftd_net_free(raftd_net_t *n);

/* An accepted connection on the raft listener (the daemon's accept
 * function with the net as its argument). Takes FD. */
void raftd_net_accept(int fd, void *net);

/* Header values of the next frames: this node's commit and last index. */
void raftd_net_set_progress(raftd_net_t *n, uint64_t commit, uint64_t last_index);

/* Queues the Raft message M for m->to (packed now: M and its entries may
 * go right after). Returns 0, CK_E_AGAIN (dropped: not connected or the
 * connection is backed up), CK_E_NOT_FOUND (no such peer), -ENOMEM. */
int raftd_net_send_raft(raftd_net_t *n, const raft_msg_t *m);
/* Queues ITEM (an Envelope holding items only) for PEER; it waits for the
 * connection when there is none. Returns 0, CK_E_NOT_FOUND, CK_E_AGAIN
 * (too much waiting already), -ENOMEM. */
int raftd_net_send_item(raftd_net_t *n, uint64_t peer, const Chronik__Raftnet__Envelope *item);
/* Writes what is queued, one frame per peer. */
void raftd_net_flush(raftd_net_t *n);
/* Flushes once the event loop comes round: items queued meanwhile (the
 * forward results of one apply round, say) share the frame. */
void raftd_net_flush_soon(raftd_net_t *n);

bool raftd_net_connected(const raftd_net_t *n, uint64_t peer);
/* Bytes waiting to be written to PEER (queued and unsent), for flow
 * control of snapshot transfers. */
size_t raftd_net_backlog(const raftd_net_t *n, uint64_t peer);
/* The connection generation of PEER: grows with every new outbound
 * connection (0: never connected). */
uint64_t raftd_net_generation(const raftd_net_t *n, uint64_t peer);

#endif
