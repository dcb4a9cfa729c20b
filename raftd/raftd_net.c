/*
 * raftd_net.c: chronik-raftd's node-to-node transport (see raftd_net.h).
 *
 * Owned by raftd. A peer is: an outbound connection (connecting through
 * a non-blocking connect watched by one event that is also the backoff
 * timer, then a ck_ipc connection) and two buffers of packed items, `raft`
 * (droppable) and `pending` (kept while disconnected). Inbound connections
 * are a small table; each remembers the peer and incarnation of its first
 * frame. Invariants: a peer is either connected (conn), connecting
 * (connect_fd >= 0) or waiting for its timer; a peer's `gen` grows by one
 * per established outbound connection; `pending` never holds more than
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
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_log.h"
#include "raftd_msg.h"

#define RAFTD_NET_BACKOFF_MIN_MS 50
#define RAFTD_NET_BACKOFF_MAX_MS 1000
#define RAFTD_NET_CONNECT_MS     1000
/* Unacknowledged data for this long ends an outbound connection
 * (TCP_USER_TIMEOUT): about two election timeouts. */
#define RAFTD_NET_USER_TIMEOUT_MS 2500

typedef struct raftd_peer {
	struct raftd_net *net;
	uint64_t id;
	char addr[CK_CONFIG_ADDR_MAX];
	ck_ipc_conn_t *conn;
	int connect_fd;
	struct event *ev; /* connect in progress, or the backoff timer */
	int backoff_ms;
	uint64_t gen;
	bool down_logged;
	ck_buf_t raft;
	ck_buf_t pending;
	uint64_t in_incarnation; /* newest incarnation seen inbound */
} raftd_peer_t;

typedef struct {
	struct raftd_net *net;
	ck_ipc_conn_t *conn; /* NULL: free slot */
	uint64_t peer;       /* 0 until the first frame */
	uint64_t incarnation;
	uint64_t accepted; /* order of acceptance (raftd_net_t.accepts) */
} raftd_inbound_t;

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
	raftd_inbound_t in[RAFTD_NET_INBOUND_MAX];
	uint64_t accepts; /* inbound connections accepted so far */
	ck_buf_t frame;
	struct event *flush_ev; /* raftd_net_flush_soon() */
	bool flush_armed;
	struct sockaddr_storage src; /* outbound source: own raft host, port 0 */
	socklen_t src_len;           /* 0: connect unbound */
	bool src_warned;
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

static void raftd_peer_connect_cb(evutil_socket_t fd, short what, void *arg);

static void raftd_peer_schedule(raftd_peer_t *p)
{
	struct timeval tv = {p->backoff_ms / 1000, (p->backoff_ms % 1000) * 1000};

	if (p->ev)
		event_free(p->ev);
	p->ev = evtimer_new(p->net->base, raftd_peer_connect_cb, p);
	if (p->ev)
		(void)evtimer_add(p->ev, &tv);
	p->backoff_ms = CK_MIN(p->backoff_ms * 2, RAFTD_NET_BACKOFF_MAX_MS);
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
	p->backoff_ms = RAFTD_NET_BACKOFF_MIN_MS;
	raftd_peer_schedule(p);
	if (p->net->h.on_peer_down)
		p->net->h.on_peer_down(p->net->arg, p->id);
}

static const ck_ipc_handlers_t raftd_out_handlers = {raftd_out_frame, raftd_out_close};

/* Outbound connections carry this node's own address (what an operator
 * expects to see, and what firewall rules select a node by): the host of
 * its raft listener when that is a literal IP other than the wildcard. */
static void raftd_net_source_init(raftd_net_t *n)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	char host[CK_CONFIG_ADDR_MAX];

	if (ck_config_split_addr(n->cfg->raft_listen, host, sizeof(host), NULL) < 0)
		return;
	if (inet_pton(AF_INET, host, &v4.sin_addr) == 1 &&
	    v4.sin_addr.s_addr != htonl(INADDR_ANY)) {
		memcpy(&n->src, &v4, sizeof(v4));
		n->src_len = sizeof(v4);
	} else if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 &&
	           !IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr)) {
		memcpy(&n->src, &v6, sizeof(v6));
		n->src_len = sizeof(v6);
	}
}

/* Binds FD (of FAMILY) to the source address; on failure the connection
 * goes out unbound, with one warning per process. */
static void raftd_net_source_bind(raftd_net_t *n, int fd, int family)
{
	int one = 1;

	if (n->src_len == 0 || n->src.ss_family != family)
		return;
	/* The port is picked at connect(), per destination. */
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&n->src, n->src_len) == 0)
		return;
	if (!n->src_warned)
		ck_log(CK_LOG_WARN,
		       "cannot bind raft connections to the listener host, connecting unbound "
		       "addr=%s err=\"%s\"",
		       n->cfg->raft_listen, ck_strerror(-errno));
	n->src_warned = true;
}

/* Starts a non-blocking connect to the peer. Returns 0 or -errno. */
static int raftd_peer_dial(raftd_peer_t *p)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char host[CK_CONFIG_ADDR_MAX], port[8];
	uint16_t portno;
	unsigned user_timeout_ms = RAFTD_NET_USER_TIMEOUT_MS;
	int fd, r;

	if (ck_config_split_addr(p->addr, host, sizeof(host), &portno) < 0)
		return -EINVAL;
	snprintf(port, sizeof(port), "%u", portno);
	r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0)
		return r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	raftd_net_source_bind(p->net, fd, ai->ai_family);
	/* A peer cut off by the network leaves the connection open with data
	 * unacknowledged; without a bound, TCP's retransmit backoff would hold
	 * traffic back long after the network heals. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
	                 sizeof(user_timeout_ms));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		r = -errno;
		(void)close(fd);
		goto out;
	}
	p->connect_fd = fd;
	r = 0;
out:
	freeaddrinfo(ai);
	return r;
}

/* The connect finished (or timed out): wrap the socket or try later. */
static void raftd_peer_connected(raftd_peer_t *p, short what)
{
	int fd = p->connect_fd, err = 0;
	socklen_t len = sizeof(err);

	p->connect_fd = -1;
	if (!(what & EV_WRITE))
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		p->conn = ck_ipc_conn_new(p->net->base, fd, raftd_frame_max(p->net),
		                          &raftd_out_handlers, p);
		fd = -1;
		err = p->conn ? 0 : ENOMEM;
	}
	if (fd >= 0)
		(void)close(fd);
	if (err) {
		if (!p->down_logged)
			ck_log(CK_LOG_INFO, "cannot connect to peer peer=%llu addr=%s err=\"%s\"",
			       (unsigned long long)p->id, p->addr, ck_strerror(-err));
		p->down_logged = true;
		raftd_peer_schedule(p);
		return;
	}
	p->gen++;
	p->down_logged = false;
	p->backoff_ms = RAFTD_NET_BACKOFF_MIN_MS;
	ck_log(CK_LOG_INFO, "connected to peer peer=%llu addr=%s", (unsigned long long)p->id,
	       p->addr);
	if (p->net->h.on_peer_up)
		p->net->h.on_peer_up(p->net->arg, p->id);
}

static void raftd_peer_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	raftd_peer_t *p = arg;
	struct timeval tv = {RAFTD_NET_CONNECT_MS / 1000, (RAFTD_NET_CONNECT_MS % 1000) * 1000};
	int r;

	(void)fd;
	if (p->connect_fd >= 0)
		return raftd_peer_connected(p, what);
	if (p->conn)
		return;
	r = raftd_peer_dial(p);
	if (r < 0) {
		if (!p->down_logged)
			ck_log(CK_LOG_INFO, "cannot connect to peer peer=%llu addr=%s err=\"%s\"",
			       (unsigned long long)p->id, p->addr, ck_strerror(r));
		p->down_logged = true;
		return raftd_peer_schedule(p);
	}
	if (p->ev)
		event_free(p->ev);
	p->ev = event_new(p->net->base, p->connect_fd, EV_WRITE, raftd_peer_connect_cb, p);
	if (!p->ev || event_add(p->ev, &tv) < 0) {
		(void)close(p->connect_fd);
		p->connect_fd = -1;
		raftd_peer_schedule(p);
	}
}

/* ---- inbound ---- */

static raftd_inbound_t *raftd_inbound_of(raftd_net_t *n, const ck_ipc_conn_t *c)
{
	for (size_t i = 0; i < RAFTD_NET_INBOUND_MAX; i++) {
		if (n->in[i].conn == c)
			return &n->in[i];
	}
	return NULL;
}

static void raftd_inbound_drop(raftd_inbound_t *in)
{
	ck_ipc_conn_close(in->conn);
	in->conn = NULL;
	in->peer = 0;
	in->incarnation = 0;
}

/* Checks the header of ENV on IN. Returns NULL when fine, else why not. */
static const char *raftd_env_refusal(raftd_net_t *n, raftd_inbound_t *in,
                                     const Chronik__Raftnet__Envelope *env, bool *ret_restart)
{
	raftd_peer_t *p;

	*ret_restart = false;
	if (strcmp(env->cluster_id, n->cfg->cluster_id) != 0)
		return "another cluster";
	if (env->to != n->self)
		return "addressed to another node";
	p = raftd_peer_find(n, env->from);
	if (!p)
		return "unknown sender";
	if (env->incarnation == 0)
		return "no incarnation";
	if (in->peer == 0) {
		/* A peer keeps one connection to this node: an older one from it
		 * is dead (a partition, a crash) and goes. */
		for (size_t i = 0; i < RAFTD_NET_INBOUND_MAX; i++)
			if (&n->in[i] != in && n->in[i].conn && n->in[i].peer == env->from)
				raftd_inbound_drop(&n->in[i]);
		in->peer = env->from;
		in->incarnation = env->incarnation;
		if (p->in_incarnation != env->incarnation) {
			p->in_incarnation = env->incarnation;
			*ret_restart = true;
		}
		return NULL;
	}
	if (in->peer != env->from || in->incarnation != env->incarnation)
		return "sender changed on the connection";
	if (p->in_incarnation != env->incarnation)
		return "stale incarnation";
	return NULL;
}

static void raftd_in_frame(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg)
{
	raftd_net_t *n = arg;
	raftd_inbound_t *in = raftd_inbound_of(n, c);
	Chronik__Raftnet__Envelope *env;
	const char *why;
	bool restart;

	if (!in)
		return;
	env = chronik__raftnet__envelope__unpack(NULL, len, data);
	why = env ? raftd_env_refusal(n, in, env, &restart) : "unparsable frame";
	if (why) {
		static ck_log_limit_t lim; /* anyone can connect to the raft port */

		ck_log_limited(
		    &lim, CK_LOG_WARN,
		    "refusing raft connection: %s from=%llu cluster=%s incarnation=%llu bytes=%zu",
		    why, env ? (unsigned long long)env->from : 0ull, env ? env->cluster_id : "?",
		    env ? (unsigned long long)env->incarnation : 0ull, len);
		if (env)
			chronik__raftnet__envelope__free_unpacked(env, NULL);
		raftd_inbound_drop(in);
		return;
	}
	if (restart)
		ck_log(CK_LOG_INFO,
		       "peer incarnation peer=%llu incarnation=%016llx last_index=%llu",
		       (unsigned long long)env->from, (unsigned long long)env->incarnation,
		       (unsigned long long)env->last_index);
	n->h.on_envelope(n->arg, env, restart);
}

static void raftd_in_close(ck_ipc_conn_t *c, int err, void *arg)
{
	raftd_net_t *n = arg;
	raftd_inbound_t *in = raftd_inbound_of(n, c);

	if (!in)
		return;
	ck_log(CK_LOG_DEBUG, "inbound raft connection closed peer=%llu err=\"%s\"",
	       (unsigned long long)in->peer, err ? ck_strerror(err) : "eof");
	in->conn = NULL;
	in->peer = 0;
	in->incarnation = 0;
}

static const ck_ipc_handlers_t raftd_in_handlers = {raftd_in_frame, raftd_in_close};

/* The slot for a new inbound connection: a free one, else the oldest
 * connection that has not named its sender yet (a peer names itself in its
 * first frame, right after connecting, and keeps one connection: the slots
 * beyond the peers' can only hold strangers, who must not lock the peers
 * out by holding every slot). NULL when every slot holds a peer. */
static raftd_inbound_t *raftd_inbound_slot(raftd_net_t *n)
{
	raftd_inbound_t *oldest = NULL;

	for (size_t i = 0; i < RAFTD_NET_INBOUND_MAX; i++) {
		raftd_inbound_t *in = &n->in[i];

		if (!in->conn)
			return in;
		if (in->peer == 0 && (!oldest || in->accepted < oldest->accepted))
			oldest = in;
	}
	if (oldest) {
		static ck_log_limit_t lim;

		ck_log_limited(&lim, CK_LOG_WARN,
		               "raft connections full, dropping the oldest that sent nothing "
		               "valid max=%d",
		               RAFTD_NET_INBOUND_MAX);
		raftd_inbound_drop(oldest);
	}
	return oldest;
}

void raftd_net_accept(int fd, void *arg)
{
	static ck_log_limit_t lim; /* a flood of connections is one line per few */
	raftd_net_t *n = arg;
	raftd_inbound_t *in = raftd_inbound_slot(n);

	if (!in) {
		ck_log_limited(&lim, CK_LOG_WARN, "too many raft connections, refusing one max=%d",
		               RAFTD_NET_INBOUND_MAX);
		(void)close(fd);
		return;
	}
	in->conn = ck_ipc_conn_new(n->base, fd, raftd_frame_max(n), &raftd_in_handlers, n);
	in->accepted = ++n->accepts;
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
	raftd_net_t *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->base = base;
	n->cfg = cfg;
	n->h = *h;
	n->arg = arg;
	n->self = (uint64_t)cfg->node_id;
	n->incarnation = incarnation;
	raftd_net_source_init(n);
	ck_buf_init(&n->frame);
	n->flush_ev = event_new(base, -1, 0, raftd_net_flush_cb, n);
	if (!n->flush_ev) {
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
		p->connect_fd = -1;
		p->backoff_ms = 0;
		snprintf(p->addr, sizeof(p->addr), "%s", cfg->peers[i].raft);
		ck_buf_init(&p->raft);
		ck_buf_init(&p->pending);
		if (ck_config_split_addr(p->addr, NULL, 0, NULL) < 0) {
			raftd_net_free(n);
			return CK_E_CONFIG;
		}
		raftd_peer_schedule(p); /* the first attempt runs from the loop */
		if (!p->ev) {
			raftd_net_free(n);
			return -ENOMEM;
		}
		p->backoff_ms = RAFTD_NET_BACKOFF_MIN_MS;
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

		if (p->ev)
			event_free(p->ev);
		if (p->connect_fd >= 0)
			(void)close(p->connect_fd);
		ck_ipc_conn_close(p->conn);
		ck_buf_free(&p->raft);
		ck_buf_free(&p->pending);
	}
	for (size_t i = 0; i < RAFTD_NET_INBOUND_MAX; i++)
		ck_ipc_conn_close(n->in[i].conn);
	ck_buf_free(&n->frame);
	if (n->flush_ev)
		event_free(n->flush_ev);
	free(n);
}
