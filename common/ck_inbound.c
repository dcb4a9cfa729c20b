/*
 * ck_inbound.c: inbound node-to-node connections (see ck_inbound.h).
 */
#include "ck_inbound.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_log.h"

typedef struct {
	struct ck_inbound *t;
	ck_ipc_conn_t *conn; /* NULL: free slot */
	int64_t peer;        /* 0 until the first frame */
	uint64_t incarnation;
	size_t reserved;   /* its large first frame's share of strangers */
	uint64_t accepted; /* order of acceptance */
} ck_inbound_conn_t;

struct ck_inbound {
	struct event_base *base;
	const ck_config_t *cfg;
	size_t frame_max;
	ck_inbound_hooks_t h;
	void *arg;
	ck_inbound_conn_t in[CK_INBOUND_MAX];
	uint64_t accepts;
	size_t strangers; /* the unnamed connections' reserved bytes */
	/* The newest incarnation seen from each peer (cfg->peers order). */
	uint64_t newest[CK_CONFIG_PEERS_MAX];
	/* One budget per kind of line: anyone can connect. */
	ck_log_limit_t lim_refused, lim_full, lim_evict, lim_large;
};

static ck_inbound_conn_t *ck_inbound_of(ck_inbound_t *t, const ck_ipc_conn_t *c)
{
	for (size_t i = 0; i < CK_INBOUND_MAX; i++) {
		if (t->in[i].conn == c)
			return &t->in[i];
	}
	return NULL;
}

/* Gives back what IN's first frame reserved. */
static void ck_inbound_release(ck_inbound_conn_t *in)
{
	in->t->strangers -= in->reserved;
	in->reserved = 0;
}

static void ck_inbound_drop(ck_inbound_conn_t *in)
{
	ck_inbound_release(in);
	ck_ipc_conn_close(in->conn);
	in->conn = NULL;
	in->peer = 0;
	in->incarnation = 0;
}

static bool ck_inbound_admit(ck_ipc_conn_t *c, size_t len, void *arg)
{
	ck_inbound_t *t = arg;
	ck_inbound_conn_t *in = ck_inbound_of(t, c);
	size_t budget = t->frame_max ? t->frame_max : CK_IPC_FRAME_MAX_DEFAULT;

	if (!in || in->peer != 0 || len <= CK_INBOUND_STRANGER_FRAME)
		return true;
	if (t->strangers + len > budget) {
		ck_log_limited(&t->lim_large, CK_LOG_WARN,
		               "refusing %s connection: a first frame of %zu bytes while unnamed "
		               "connections' frames hold %zu of %zu",
		               t->h.name, len, t->strangers, budget);
		return false;
	}
	in->reserved = len;
	t->strangers += len;
	return true;
}

/* The newest incarnation slot of peer ID, or NULL when ID is not a peer. */
static uint64_t *ck_inbound_newest(ck_inbound_t *t, int64_t id)
{
	if (id == t->cfg->node_id)
		return NULL;
	for (int32_t i = 0; i < t->cfg->peer_count; i++)
		if (t->cfg->peers[i].id == id)
			return &t->newest[i];
	return NULL;
}

/* Checks HDR on IN. Returns NULL when fine, else why not. */
static const char *ck_inbound_refusal(ck_inbound_t *t, ck_inbound_conn_t *in,
                                      const ck_inbound_hdr_t *hdr, bool *ret_restart)
{
	uint64_t *newest;

	*ret_restart = false;
	if (!hdr->cluster_id || strcmp(hdr->cluster_id, t->cfg->cluster_id) != 0)
		return "another cluster";
	if (hdr->receiver != t->cfg->node_id)
		return "addressed to another node";
	newest = ck_inbound_newest(t, hdr->sender);
	if (!newest)
		return "unknown sender";
	if (hdr->incarnation == 0)
		return "no incarnation";
	if (in->peer == 0) {
		/* A peer keeps one connection to this node: an older one from it
		 * is dead (a partition, a crash) and goes. */
		for (size_t i = 0; i < CK_INBOUND_MAX; i++)
			if (&t->in[i] != in && t->in[i].conn && t->in[i].peer == hdr->sender)
				ck_inbound_drop(&t->in[i]);
		in->peer = hdr->sender;
		in->incarnation = hdr->incarnation;
		if (*newest != hdr->incarnation) {
			*newest = hdr->incarnation;
			*ret_restart = true;
		}
		return NULL;
	}
	if (in->peer != hdr->sender || in->incarnation != hdr->incarnation)
		return "sender changed on the connection";
	if (*newest != hdr->incarnation)
		return "stale incarnation";
	return NULL;
}

static void ck_inbound_frame(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg)
{
	ck_inbound_t *t = arg;
	ck_inbound_conn_t *in = ck_inbound_of(t, c);
	ck_inbound_hdr_t hdr = {0};
	const char *why;
	bool restart = false;
	void *msg;

	if (!in)
		return;
	ck_inbound_release(in);
	msg = t->h.decode(data, len, &hdr);
	why = msg ? ck_inbound_refusal(t, in, &hdr, &restart) : "unparsable frame";
	if (why) {
		ck_log_limited(&t->lim_refused, CK_LOG_WARN,
		               "refusing %s connection: %s from=%lld cluster=%s incarnation=%llu "
		               "bytes=%zu",
		               t->h.name, why, (long long)hdr.sender,
		               hdr.cluster_id ? hdr.cluster_id : "?",
		               (unsigned long long)hdr.incarnation, len);
		if (msg)
			t->h.free_msg(msg);
		ck_inbound_drop(in);
		return;
	}
	t->h.on_msg(t->arg, hdr.sender, msg, restart);
}

static void ck_inbound_close(ck_ipc_conn_t *c, int err, void *arg)
{
	ck_inbound_t *t = arg;
	ck_inbound_conn_t *in = ck_inbound_of(t, c);

	if (!in)
		return;
	ck_log(CK_LOG_DEBUG, "inbound %s connection closed peer=%lld err=\"%s\"", t->h.name,
	       (long long)in->peer, err ? ck_strerror(err) : "eof");
	ck_inbound_release(in);
	in->conn = NULL;
	in->peer = 0;
	in->incarnation = 0;
}

static const ck_ipc_handlers_t ck_inbound_handlers = {ck_inbound_frame, ck_inbound_close};

/* The slot for a new connection: a free one, else the oldest connection
 * that has not named its sender yet (a peer names itself in its first
 * frame, right after connecting, and keeps one connection: the slots beyond
 * the peers' can only hold strangers). NULL when every slot holds a peer. */
static ck_inbound_conn_t *ck_inbound_slot(ck_inbound_t *t)
{
	ck_inbound_conn_t *oldest = NULL;

	for (size_t i = 0; i < CK_INBOUND_MAX; i++) {
		ck_inbound_conn_t *in = &t->in[i];

		if (!in->conn)
			return in;
		if (in->peer == 0 && (!oldest || in->accepted < oldest->accepted))
			oldest = in;
	}
	if (oldest) {
		ck_log_limited(&t->lim_evict, CK_LOG_WARN,
		               "%s connections full, dropping the oldest that sent nothing valid "
		               "max=%d",
		               t->h.name, CK_INBOUND_MAX);
		ck_inbound_drop(oldest);
	}
	return oldest;
}

void ck_inbound_accept(int fd, void *arg)
{
	ck_inbound_t *t = arg;
	ck_inbound_conn_t *in = ck_inbound_slot(t);

	if (!in) {
		ck_log_limited(&t->lim_full, CK_LOG_WARN,
		               "too many %s connections, refusing one max=%d", t->h.name,
		               CK_INBOUND_MAX);
		(void)close(fd);
		return;
	}
	in->t = t;
	in->conn = ck_ipc_conn_new(t->base, fd, t->frame_max, &ck_inbound_handlers, t);
	if (in->conn)
		ck_ipc_conn_set_admit(in->conn, ck_inbound_admit);
	in->accepted = ++t->accepts;
}

ck_inbound_t *ck_inbound_new(struct event_base *base, const ck_config_t *cfg, size_t frame_max,
                             const ck_inbound_hooks_t *h, void *arg)
{
	ck_inbound_t *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->base = base;
	t->cfg = cfg;
	t->frame_max = frame_max;
	t->h = *h;
	t->arg = arg;
	return t;
}

void ck_inbound_free(ck_inbound_t *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < CK_INBOUND_MAX; i++)
		ck_ipc_conn_close(t->in[i].conn);
	free(t);
}
