/*
 * raftd_net.c: chronik-raftd's node-to-node transport (see raftd_net.h).
 *
 * Owned by raftd. A peer is: an outbound connection (kept up by a
 * ck_dial, then a ck_ipc connection) and two buffers of packed items, `raft`
 * (droppable) and `pending` (kept while disconnected). Inbound connections
 * are a small table; each remembers the peer and incarnation of its first
 * frame. Invariants: a peer is either connected (conn) or its dialer is
 * connecting or waiting; a peer's `gen` grows by one per established
 * outbound connection; `pending` never holds more than
 * RAFTD_NET_PENDING_MAX bytes.
 * Not for: the meaning of items (raftd_node*.c).
 */
#define CK_LOG_SUBSYSTEM "net"

#include "raftd_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_buf.h"
#include "ck_clock.h"
#include "ck_dial.h"
#include "ck_err.h"
#include "ck_inbound.h"
#include "ck_ipc.h"
#include "ck_log.h"
#include "raftd_msg.h"

/* Unacknowledged data for this long ends an outbound connection
 * (TCP_USER_TIMEOUT): about two election timeouts. */
#define RAFTD_NET_USER_TIMEOUT_MS 2500

typedef struct raftd_peer {
	struct raftd_net *net;
	uint64_t id;
	char addr[CK_CONFIG_ADDR_MAX];
	ck_ipc_conn_t *conn;
	ck_dial_t *dial; /* keeps the outbound connection up */
	uint64_t gen;
	bool down_logged;
	ck_buf_t raft;
	ck_buf_t pending;
} raftd_peer_t;

struct raftd_net {
	struct event_base *base;
	const ck_config_t *cfg;
	raftd_net_hooks_t h;
	void *arg;
	uint64_t self;
	uint64_t incarnation;
	uint64_t commit;
	uint64_t last_index;
	raftd_peer_t peers[CK_CONFIG_PEERS_MAX];
	size_t n_peers;
	ck_inbound_t *inbound;
	ck_buf_t frame;
	struct event *flush_ev; /* raftd_net_flush_soon() */
	bool flush_armed;
};

static raftd_peer_t *raftd_peer_find(raftd_net_t *n, uint64_t id)
{
	for (size_t i = 0; i < n->n_peers; i++) {
		if (n->peers[i].id == id)
			return &n->peers[i];
	}
	return NULL;
}

static size_t raftd_frame_max(const raftd_net_t *n)
{
	return n->cfg->ipc_frame_max_bytes > 0 ? (size_t)n->cfg->ipc_frame_max_bytes : 0;
}

/* ---- outbound ---- */

static void raftd_peer_schedule(raftd_peer_t *p)
{
	ck_dial_again(p->dial, 0);
}

static void raftd_out_frame(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg)
{
	raftd_peer_t *p = arg;

	/* Nobody writes on a connection this node made. */
	ck_log(CK_LOG_WARN, "peer wrote on an outbound connection peer=%llu bytes=%zu",
	       (unsigned long long)p->id, len);
	ck_ipc_conn_close(c);
	p->conn = NULL;
	raftd_peer_schedule(p);
	if (p->net->h.on_peer_down)
		p->net->h.on_peer_down(p->net->arg, p->id);
}

static void raftd_out_close(ck_ipc_conn_t *c, int err, void *arg)
{
	raftd_peer_t *p = arg;

	(void)c;
	p->conn = NULL;
	ck_log(CK_LOG_INFO, "connection to peer lost peer=%llu addr=%s err=\"%s\"",
	       (unsigned long long)p->id, p->addr, err ? ck_strerror(err) : "eof");
	ck_buf_reset(&p->raft);
	ck_dial_again(p->dial, 1);
	if (p->net->h.on_peer_down)
		p->net->h.on_peer_down(p->net->arg, p->id);
}

static const ck_ipc_handlers_t raftd_out_handlers = {raftd_out_frame, raftd_out_close};

/* The outbound connection is up: wrap it. */
static void raftd_peer_connected(void *arg, int fd)
{
	raftd_peer_t *p = arg;

	p->conn =
	    ck_ipc_conn_new(p->net->base, fd, raftd_frame_max(p->net), &raftd_out_handlers, p);
	if (!p->conn) {
		raftd_peer_schedule(p);
		return;
	}
	p->gen++;
	p->down_logged = false;
	ck_log(CK_LOG_INFO, "connected to peer peer=%llu addr=%s", (unsigned long long)p->id,
	       p->addr);
	if (p->net->h.on_peer_up)
		p->net->h.on_peer_up(p->net->arg, p->id);
}

static void raftd_peer_failed(void *arg, int err)
{
	raftd_peer_t *p = arg;

	if (!p->down_logged)
		ck_log(CK_LOG_INFO, "cannot connect to peer peer=%llu addr=%s err=\"%s\"",
		       (unsigned long long)p->id, p->addr, ck_strerror(err));
	p->down_logged = true;
}

/* ---- inbound ---- */

static void *raftd_env_decode(const uint8_t *data, size_t len, ck_inbound_hdr_t *hdr)
{
	Chronik__Raftnet__Envelope *env = chronik__raftnet__envelope__unpack(NULL, len, data);

	if (env) {
		hdr->cluster_id = env->cluster_id;
		hdr->sender = (int64_t)env->from;
		hdr->receiver = (int64_t)env->to;
		hdr->incarnation = env->incarnation;
	}
	return env;
}

static void raftd_env_free(void *msg)
{
	chronik__raftnet__envelope__free_unpacked(msg, NULL);
}

static void raftd_env_in(void *arg, int64_t sender, void *msg, bool restarted)
{
	raftd_net_t *n = arg;
	Chronik__Raftnet__Envelope *env = msg;

	(void)sender;
	if (restarted)
		ck_log(CK_LOG_INFO,
		       "peer incarnation peer=%llu incarnation=%016llx last_index=%llu",
		       (unsigned long long)env->from, (unsigned long long)env->incarnation,
		       (unsigned long long)env->last_index);
	n->h.on_envelope(n->arg, env, restarted);
}

void raftd_net_accept(int fd, void *arg)
{
	raftd_net_t *n = arg;

	ck_inbound_accept(fd, n->inbound);
}

/* ---- sending ---- */

static void raftd_peer_write(raftd_net_t *n, raftd_peer_t *p)
{
	raftd_env_header_t h = {n->cfg->cluster_id, n->self,      n->incarnation, p->id,
	                        n->commit,          n->last_index};
	int r;

	if (!p->conn || (p->raft.len == 0 && p->pending.len == 0))
		return;
	ck_buf_reset(&n->frame);
	r = raftd_env_header_pack(&h, &n->frame);
	/* Waiting items first: snapshot chunks precede the message they end
	 * with, and the message is only queued after its last chunk. */
	if (r == 0)
		r = ck_buf_append(&n->frame, p->pending.data, p->pending.len);
	if (r == 0)
		r = ck_buf_append(&n->frame, p->raft.data, p->raft.len);
	if (r == 0)
		r = ck_ipc_conn_send(p->conn, n->frame.data, n->frame.len);
	if (r < 0) {
		ck_log(CK_LOG_WARN, "cannot send to peer peer=%llu bytes=%zu err=\"%s\"",
		       (unsigned long long)p->id, n->frame.len, ck_strerror(r));
		if (r != -ENOMEM)
			ck_buf_reset(&p->pending);
	} else {
		ck_buf_reset(&p->pending);
	}
	ck_buf_reset(&p->raft);
	if (n->frame.cap > 2 * RAFTD_NET_FRAME_BYTES) {
		ck_buf_free(&n->frame);
		ck_buf_init(&n->frame);
	}
}

void raftd_net_flush(raftd_net_t *n)
{
	for (size_t i = 0; i < n->n_peers; i++)
		raftd_peer_write(n, &n->peers[i]);
}

static void raftd_net_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	raftd_net_t *n = arg;

	(void)fd;
	(void)what;
	n->flush_armed = false;
	raftd_net_flush(n);
}

void raftd_net_flush_soon(raftd_net_t *n)
{
	if (!n->flush_armed) {
		n->flush_armed = true;
		event_active(n->flush_ev, 0, 0);
	}
}

int raftd_net_send_raft(raftd_net_t *n, const raft_msg_t *m)
{
	raftd_peer_t *p = raftd_peer_find(n, m->to);

	if (!p)
		return CK_E_NOT_FOUND;
	if (!p->conn || ck_ipc_conn_outq_bytes(p->conn) > RAFTD_NET_OUTQ_MAX)
		return CK_E_AGAIN;
	if (p->raft.len + p->pending.len > RAFTD_NET_FRAME_BYTES)
		raftd_peer_write(n, p);
	return raftd_msg_pack(m, &p->raft);
}

int raftd_net_send_item(raftd_net_t *n, uint64_t peer, const Chronik__Raftnet__Envelope *item)
{
	raftd_peer_t *p = raftd_peer_find(n, peer);

	if (!p)
		return CK_E_NOT_FOUND;
	if (p->pending.len > RAFTD_NET_PENDING_MAX)
		return CK_E_AGAIN;
	if (p->conn && p->raft.len + p->pending.len > RAFTD_NET_FRAME_BYTES)
		raftd_peer_write(n, p);
	return raftd_env_item_pack(item, &p->pending);
}

void raftd_net_set_progress(raftd_net_t *n, uint64_t commit, uint64_t last_index)
{
	n->commit = commit;
	n->last_index = last_index;
}

bool raftd_net_connected(const raftd_net_t *n, uint64_t peer)
{
	const raftd_peer_t *p = raftd_peer_find((raftd_net_t *)n, peer);

	return p && p->conn;
}

size_t raftd_net_backlog(const raftd_net_t *n, uint64_t peer)
{
	const raftd_peer_t *p = raftd_peer_find((raftd_net_t *)n, peer);

	if (!p)
		return 0;
	return p->raft.len + p->pending.len + (p->conn ? ck_ipc_conn_outq_bytes(p->conn) : 0);
}

uint64_t raftd_net_generation(const raftd_net_t *n, uint64_t peer)
{
	const raftd_peer_t *p = raftd_peer_find((raftd_net_t *)n, peer);

	return p ? p->gen : 0;
}

/* ---- life cycle ---- */

int raftd_net_new(raftd_net_t **ret, struct event_base *base, const ck_config_t *cfg,
                  uint64_t incarnation, const raftd_net_hooks_t *h, void *arg)
{
	static const ck_dial_hooks_t raftd_dial_hooks = {raftd_peer_connected, raftd_peer_failed};
	static const ck_inbound_hooks_t raftd_in_hooks = {"raft", raftd_env_decode, raftd_env_free,
	                                                  raftd_env_in};
	raftd_net_t *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->base = base;
	n->cfg = cfg;
	n->h = *h;
	n->arg = arg;
	n->self = (uint64_t)cfg->node_id;
	n->incarnation = incarnation;
	n->inbound = ck_inbound_new(base, cfg, raftd_frame_max(n), &raftd_in_hooks, n);
	ck_buf_init(&n->frame);
	n->flush_ev = event_new(base, -1, 0, raftd_net_flush_cb, n);
	if (!n->flush_ev || !n->inbound) {
		ck_inbound_free(n->inbound);
		if (n->flush_ev)
			event_free(n->flush_ev);
		free(n);
		return -ENOMEM;
	}
	for (int32_t i = 0; i < cfg->peer_count; i++) {
		raftd_peer_t *p;

		if (cfg->peers[i].id == cfg->node_id)
			continue;
		p = &n->peers[n->n_peers++];
		p->net = n;
		p->id = (uint64_t)cfg->peers[i].id;
		snprintf(p->addr, sizeof(p->addr), "%s", cfg->peers[i].raft);
		ck_buf_init(&p->raft);
		ck_buf_init(&p->pending);
		r = ck_dial_new(base, p->addr, cfg->raft_listen, RAFTD_NET_USER_TIMEOUT_MS,
		                &raftd_dial_hooks, p, &p->dial);
		if (r < 0) {
			raftd_net_free(n);
			return r;
		}
	}
	if (incarnation == 0 || n->n_peers == 0) {
		raftd_net_free(n);
		return CK_E_CONFIG;
	}
	*ret = n;
	return 0;
}

void raftd_net_free(raftd_net_t *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_peers; i++) {
		raftd_peer_t *p = &n->peers[i];

		ck_dial_free(p->dial);
		ck_ipc_conn_close(p->conn);
		ck_buf_free(&p->raft);
		ck_buf_free(&p->pending);
	}
	ck_inbound_free(n->inbound);
	ck_buf_free(&n->frame);
	if (n->flush_ev)
		event_free(n->flush_ev);
	free(n);
}
