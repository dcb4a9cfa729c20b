/*
 * repl_net.c: the replicator's node-to-node transport (see repl_net.h).
 */
#include "repl_net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ck_dial.h"
#include "ck_err.h"
#include "ck_inbound.h"
#include "ck_ipc.h"
#include "ck_log.h"
#include "ck_rand.h"

/* Unacknowledged data for this long ends an outbound connection. */
#define REPL_NET_USER_TIMEOUT_MS 5000

typedef struct repl_peer {
	struct repl_net *net;
	int32_t id;
	char addr[CK_CONFIG_ADDR_MAX];
	ck_ipc_conn_t *conn;
	ck_dial_t *dial; /* keeps the outbound connection up */
	bool down_logged;
} repl_peer_t;

struct repl_net {
	struct event_base *base;
	const ck_config_t *cfg;
	repl_net_hooks_t h;
	void *arg;
	uint64_t incarnation;
	repl_peer_t peers[CK_CONFIG_PEERS_MAX];
	size_t n_peers;
	ck_inbound_t *inbound;
};

static repl_peer_t *repl_peer_find(repl_net_t *n, int32_t id)
{
	for (size_t i = 0; i < n->n_peers; i++) {
		if (n->peers[i].id == id)
			return &n->peers[i];
	}
	return NULL;
}

static size_t repl_frame_max(const repl_net_t *n)
{
	return n->cfg->ipc_frame_max_bytes > 0 ? (size_t)n->cfg->ipc_frame_max_bytes : 0;
}

/* ---- outbound ---- */

static void repl_out_frame(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg)
{
	repl_peer_t *p = arg;

	(void)data;
	/* Nobody writes on a connection this node made. */
	ck_log(CK_LOG_WARN, "peer wrote on an outbound replication connection peer=%d bytes=%zu",
	       (int)p->id, len);
	ck_ipc_conn_close(c);
	p->conn = NULL;
	ck_dial_again(p->dial, 0);
	if (p->net->h.on_peer_lost)
		p->net->h.on_peer_lost(p->net->arg, p->id);
}

static void repl_out_close(ck_ipc_conn_t *c, int err, void *arg)
{
	repl_peer_t *p = arg;

	(void)c;
	p->conn = NULL;
	ck_log(CK_LOG_INFO, "replication connection to peer lost peer=%d addr=%s err=\"%s\"",
	       (int)p->id, p->addr, err ? ck_strerror(err) : "eof");
	ck_dial_again(p->dial, 1);
	if (p->net->h.on_peer_lost)
		p->net->h.on_peer_lost(p->net->arg, p->id);
}

static const ck_ipc_handlers_t repl_out_handlers = {repl_out_frame, repl_out_close};

static void repl_peer_failed(void *arg, int err)
{
	repl_peer_t *p = arg;

	if (!p->down_logged)
		ck_log(CK_LOG_INFO,
		       "cannot connect to peer for replication peer=%d addr=%s err=\"%s\"",
		       (int)p->id, p->addr, ck_strerror(err));
	p->down_logged = true;
}

/* The outbound connection is up: wrap it. */
static void repl_peer_connected(void *arg, int fd)
{
	repl_peer_t *p = arg;

	p->conn = ck_ipc_conn_new(p->net->base, fd, repl_frame_max(p->net), &repl_out_handlers, p);
	if (!p->conn) {
		ck_dial_again(p->dial, 0);
		return;
	}
	p->down_logged = false;
	ck_log(CK_LOG_INFO, "replication connection to peer up peer=%d addr=%s", (int)p->id,
	       p->addr);
	if (p->net->h.on_peer_up)
		p->net->h.on_peer_up(p->net->arg, p->id);
}

/* ---- inbound ---- */

static void *repl_env_decode(const uint8_t *data, size_t len, ck_inbound_hdr_t *hdr)
{
	Chronik__Replnet__Envelope *env = chronik__replnet__envelope__unpack(NULL, len, data);

	if (env) {
		hdr->cluster_id = env->cluster_id;
		hdr->sender = env->sender;
		hdr->receiver = env->receiver;
		hdr->incarnation = env->incarnation;
	}
	return env;
}

static void repl_env_free(void *msg)
{
	chronik__replnet__envelope__free_unpacked(msg, NULL);
}

static void repl_env_in(void *arg, int64_t sender, void *msg, bool restarted)
{
	repl_net_t *n = arg;

	if (restarted && n->h.on_peer_lost)
		n->h.on_peer_lost(n->arg, (int32_t)sender);
	n->h.on_envelope(n->arg, (int32_t)sender, msg);
	repl_env_free(msg);
}

void repl_net_accept(int fd, void *arg)
{
	repl_net_t *n = arg;

	ck_inbound_accept(fd, n->inbound);
}

/* ---- the net ---- */

int repl_net_new(struct event_base *base, const ck_config_t *cfg, const repl_net_hooks_t *h,
                 void *arg, repl_net_t **ret)
{
	static const ck_dial_hooks_t repl_dial_hooks = {repl_peer_connected, repl_peer_failed};
	static const ck_inbound_hooks_t repl_in_hooks = {"replication", repl_env_decode,
	                                                 repl_env_free, repl_env_in};
	repl_net_t *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->base = base;
	n->cfg = cfg;
	n->h = *h;
	n->arg = arg;
	n->inbound = ck_inbound_new(base, cfg, repl_frame_max(n), &repl_in_hooks, n);
	if (!n->inbound) {
		free(n);
		return -ENOMEM;
	}
	while (n->incarnation == 0)
		n->incarnation = ck_rand_os_seed();
	for (int32_t i = 0; i < cfg->peer_count; i++) {
		repl_peer_t *p;

		if (cfg->peers[i].id == cfg->node_id)
			continue;
		p = &n->peers[n->n_peers++];
		p->net = n;
		p->id = cfg->peers[i].id;
		snprintf(p->addr, sizeof(p->addr), "%s", cfg->peers[i].replication);
		r = ck_dial_new(base, p->addr, cfg->replication_listen, REPL_NET_USER_TIMEOUT_MS,
		                &repl_dial_hooks, p, &p->dial);
		if (r < 0) {
			repl_net_free(n);
			return r;
		}
	}
	*ret = n;
	return 0;
}

void repl_net_free(repl_net_t *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_peers; i++) {
		repl_peer_t *p = &n->peers[i];

		ck_dial_free(p->dial);
		if (p->conn)
			ck_ipc_conn_close(p->conn);
	}
	ck_inbound_free(n->inbound);
	free(n);
}

bool repl_net_connected(const repl_net_t *n, int32_t peer)
{
	for (size_t i = 0; i < n->n_peers; i++)
		if (n->peers[i].id == peer)
			return n->peers[i].conn != NULL;
	return false;
}

int repl_net_send(repl_net_t *n, int32_t peer, Chronik__Replnet__Envelope *env)
{
	repl_peer_t *p = repl_peer_find(n, peer);

	if (!p || !p->conn)
		return -ENOTCONN;
	if (ck_ipc_conn_outq_bytes(p->conn) > REPL_NET_OUTQ_MAX)
		return CK_E_AGAIN;
	env->cluster_id = (char *)n->cfg->cluster_id;
	env->sender = n->cfg->node_id;
	env->incarnation = n->incarnation;
	env->receiver = peer;
	return ck_ipc_conn_send_msg(p->conn, &env->base);
}
