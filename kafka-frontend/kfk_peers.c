/*
 * kfk_peers.c: the frontend's IPC neighbours (shell of
 * chronik-kafka-frontend): walwriter (appends), raftd (proposals, Applied
 * events, leader id) and the replicator (PartitionState pushes).
 *
 * Owned by kafka-frontend. The clients belong to the process's ck_daemon
 * (which logs connects and losses and keeps STATUS= current); each
 * reconnects by itself when the neighbour restarts. Calls in flight are kept by
 * correlation id (kfk_idmap.h); when a connection drops every one of them
 * fails with CK_E_CLOSED, so handlers answer their clients with a
 * retriable error instead of hanging. After every (re)connect the
 * subscriptions are renewed: raftd pushes its applied index at once, the
 * replicator one PartitionState per local partition.
 * Not for: what the replies mean (handlers), partition state (kfk_parts.c).
 */
#define CK_LOG_SUBSYSTEM "peers"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "ck_daemon.h"
#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_srv.h"

/* How often raftd is asked who leads (for Metadata's controller id): soon
 * enough after a leader dies that a client asking for metadata is sent to
 * a live node (kfk_meta_controller). */
#define KFK_STATUS_INTERVAL_MS 100

typedef struct {
	kfk_call_fn fn;
	void *arg;
} kfk_call_t;

static const char *const kfk_peer_names[KFK_PEER_COUNT] = {"walwriter", "raftd", "replicator"};

bool kfk_peer_up(const kfk_srv_t *s, kfk_peer_id_t p)
{
	return s->peers[p].cl && ck_ipc_client_connected(s->peers[p].cl);
}

int kfk_peer_call(kfk_srv_t *s, kfk_peer_id_t p, ProtobufCMessage *req, uint64_t *corr_field,
                  kfk_call_fn fn, void *arg, uint64_t *ret_id)
{
	kfk_peer_t *peer = &s->peers[p];
	kfk_call_t *call;
	uint64_t id;
	int r;

	if (!kfk_peer_up(s, p))
		return -ENOTCONN;
	call = malloc(sizeof(*call));
	if (!call)
		return -ENOMEM;
	call->fn = fn;
	call->arg = arg;
	id = ck_ipc_client_next_id(peer->cl);
	*corr_field = id;
	r = kfk_idmap_put(&peer->calls, id, call);
	if (r < 0) {
		free(call);
		return r;
	}
	r = ck_ipc_client_send_msg(peer->cl, req);
	if (r < 0) {
		free(kfk_idmap_take(&peer->calls, id));
		return r;
	}
	if (ret_id)
		*ret_id = id;
	return 0;
}

void kfk_peer_cancel(kfk_srv_t *s, kfk_peer_id_t p, uint64_t id)
{
	free(kfk_idmap_take(&s->peers[p].calls, id));
}

static void kfk_peer_fail_call(void *arg, uint64_t id, void *val)
{
	kfk_call_t *call = val;

	(void)arg;
	(void)id;
	call->fn(call->arg, CK_E_CLOSED, NULL);
	free(call);
}

static void kfk_peer_complete(kfk_peer_t *peer, uint64_t id, const void *reply)
{
	kfk_call_t *call = kfk_idmap_take(&peer->calls, id);

	if (!call) {
		ck_log(CK_LOG_DEBUG, "reply for a forgotten call peer=%s id=%llu", peer->name,
		       (unsigned long long)id);
		return;
	}
	call->fn(call->arg, 0, reply);
	free(call);
}

static void kfk_peer_subscribe(kfk_srv_t *s, kfk_peer_id_t p)
{
	int r = 0;

	if (p == KFK_PEER_RAFTD) {
		Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
		Chronik__Raftd__Subscribe sub = CHRONIK__RAFTD__SUBSCRIBE__INIT;

		req.correlation_id = ck_ipc_client_next_id(s->peers[p].cl);
		req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_SUBSCRIBE;
		req.subscribe = &sub;
		/* Metadata is read from LMDB per request: the events only keep
		 * raft_applied, which partition changes are enough for. */
		sub.partitions_only = true;
		r = ck_ipc_client_send_msg(s->peers[p].cl, &req.base);
	} else if (p == KFK_PEER_REPL) {
		Chronik__Repl__ReplRequest req = CHRONIK__REPL__REPL_REQUEST__INIT;
		Chronik__Repl__Subscribe sub = CHRONIK__REPL__SUBSCRIBE__INIT;

		req.correlation_id = ck_ipc_client_next_id(s->peers[p].cl);
		req.body_case = CHRONIK__REPL__REPL_REQUEST__BODY_SUBSCRIBE;
		req.subscribe = &sub;
		r = ck_ipc_client_send_msg(s->peers[p].cl, &req.base);
	}
	if (r < 0)
		ck_log(CK_LOG_WARN, "cannot subscribe peer=%s: %s", kfk_peer_names[p],
		       ck_strerror(r));
}

static void kfk_status_reply(void *arg, int err, const void *reply)
{
	kfk_srv_t *s = arg;
	const Chronik__Raftd__RaftdReply *rep = reply;
	int32_t was = kfk_meta_controller(s);
	size_t n;

	if (err || !rep || rep->error || rep->body_case != CHRONIK__RAFTD__RAFTD_REPLY__BODY_STATUS)
		return;
	s->status_wait_ms = 0;
	s->raft_leader = rep->status->leader_id;
	s->raft_contact = rep->status->leader_contact;
	if (s->raft_contact)
		s->contact_lost_ms = 0;
	else if (!s->contact_lost_ms)
		s->contact_lost_ms = ck_clock_mono_ms();
	if (was != s->cfg->node_id && kfk_meta_controller(s) != was) {
		/* The node named until now is out of reach, or no longer
		 * leads: a leader that stops hands over, its Kafka listener
		 * already closed, before its raftd exits, and a client may
		 * have been told it until this answer (up to
		 * KFK_STATUS_INTERVAL_MS after that). Its admin clients would
		 * wait for it. */
		n = kfk_conns_controller_gone(s, was);
		if (n)
			ck_log(CK_LOG_INFO,
			       "controller %d -> %d: closed the idle admin connections told %d "
			       "count=%zu",
			       (int)was, (int)kfk_meta_controller(s), (int)was, n);
	}
	if (rep->status->applied_index > s->raft_applied)
		s->raft_applied = rep->status->applied_index;
}

static void kfk_status_tick(evutil_socket_t fd, short what, void *arg)
{
	kfk_srv_t *s = arg;
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__GetStatus st = CHRONIK__RAFTD__GET_STATUS__INIT;
	struct timeval tv = {KFK_STATUS_INTERVAL_MS / 1000, (KFK_STATUS_INTERVAL_MS % 1000) * 1000};

	(void)fd;
	(void)what;
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_STATUS;
	req.status = &st;
	if (kfk_peer_up(s, KFK_PEER_RAFTD))
		(void)kfk_peer_call(s, KFK_PEER_RAFTD, &req.base, &req.correlation_id,
		                    kfk_status_reply, s, NULL);
	/* The oldest call unanswered; raftd not connected counts too. */
	if (!s->status_wait_ms)
		s->status_wait_ms = ck_clock_mono_ms();
	(void)evtimer_add(s->status_ev, &tv);
}

static void kfk_on_connect(ck_ipc_client_t *cl, void *arg)
{
	kfk_peer_t *peer = arg;

	(void)cl;
	kfk_peer_subscribe(peer->srv, peer->id);
	if (peer->id == KFK_PEER_RAFTD)
		kfk_status_tick(-1, 0, peer->srv);
}

static void kfk_on_disconnect(ck_ipc_client_t *cl, int err, void *arg)
{
	kfk_peer_t *peer = arg;

	(void)cl;
	(void)err;
	if (peer->id == KFK_PEER_RAFTD)
		peer->srv->raft_contact = false; /* until raftd answers again */
	if (peer->calls.count)
		ck_log(CK_LOG_INFO, "failing calls in flight peer=%s calls=%zu", peer->name,
		       peer->calls.count);
	kfk_idmap_drain(&peer->calls, kfk_peer_fail_call, NULL);
}

static void kfk_wal_frame(kfk_peer_t *peer, const uint8_t *data, size_t len)
{
	Chronik__Wal__WalReply *rep = chronik__wal__wal_reply__unpack(NULL, len, data);

	if (!rep) {
		ck_log(CK_LOG_WARN, "unparsable reply peer=%s bytes=%zu", peer->name, len);
		return;
	}
	if (rep->correlation_id)
		kfk_peer_complete(peer, rep->correlation_id, rep);
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
}

static void kfk_raftd_frame(kfk_peer_t *peer, const uint8_t *data, size_t len)
{
	Chronik__Raftd__RaftdReply *rep = chronik__raftd__raftd_reply__unpack(NULL, len, data);
	kfk_srv_t *s = peer->srv;

	if (!rep) {
		ck_log(CK_LOG_WARN, "unparsable reply peer=%s bytes=%zu", peer->name, len);
		return;
	}
	if (rep->body_case == CHRONIK__RAFTD__RAFTD_REPLY__BODY_APPLIED && rep->applied &&
	    rep->applied->applied_index > s->raft_applied)
		s->raft_applied = rep->applied->applied_index;
	if (rep->correlation_id && kfk_idmap_get(&peer->calls, rep->correlation_id))
		kfk_peer_complete(peer, rep->correlation_id, rep);
	chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
}

static void kfk_repl_frame(kfk_peer_t *peer, const uint8_t *data, size_t len)
{
	Chronik__Repl__ReplReply *rep = chronik__repl__repl_reply__unpack(NULL, len, data);

	if (!rep) {
		ck_log(CK_LOG_WARN, "unparsable reply peer=%s bytes=%zu", peer->name, len);
		return;
	}
	if (rep->body_case == CHRONIK__REPL__REPL_REPLY__BODY_PARTITION && rep->partition &&
	    (rep->correlation_id == 0 || !kfk_idmap_get(&peer->calls, rep->correlation_id)))
		kfk_parts_on_state(peer->srv, rep->partition);
	else if (rep->correlation_id)
		kfk_peer_complete(peer, rep->correlation_id, rep);
	chronik__repl__repl_reply__free_unpacked(rep, NULL);
}

static void kfk_on_frame(ck_ipc_client_t *cl, const uint8_t *data, size_t len, void *arg)
{
	kfk_peer_t *peer = arg;

	(void)cl;
	switch (peer->id) {
	case KFK_PEER_WAL:
		kfk_wal_frame(peer, data, len);
		break;
	case KFK_PEER_RAFTD:
		kfk_raftd_frame(peer, data, len);
		break;
	case KFK_PEER_REPL:
		kfk_repl_frame(peer, data, len);
		break;
	default:
		break;
	}
}

static const ck_ipc_client_handlers_t kfk_peer_handlers = {
    .on_connect = kfk_on_connect,
    .on_frame = kfk_on_frame,
    .on_disconnect = kfk_on_disconnect,
};

int kfk_peers_start(kfk_srv_t *s, ck_daemon_t *d)
{
	s->raft_leader = -1;
	s->status_ev = evtimer_new(s->base, kfk_status_tick, s);
	if (!s->status_ev)
		return -ENOMEM;
	for (int i = 0; i < KFK_PEER_COUNT; i++) {
		kfk_peer_t *p = &s->peers[i];
		int r;

		p->srv = s;
		p->id = (kfk_peer_id_t)i;
		p->name = kfk_peer_names[i];
		kfk_idmap_init(&p->calls);
		r = ck_daemon_peer_add(d, kfk_peer_names[i], &kfk_peer_handlers, p, &p->cl);
		if (r < 0)
			return r;
	}
	return 0;
}

void kfk_peers_stop(kfk_srv_t *s)
{
	for (int i = 0; i < KFK_PEER_COUNT; i++) {
		kfk_peer_t *p = &s->peers[i];

		p->cl = NULL; /* the daemon frees the client */
		kfk_idmap_drain(&p->calls, kfk_peer_fail_call, NULL);
		kfk_idmap_free(&p->calls);
	}
	if (s->status_ev)
		event_free(s->status_ev);
	s->status_ev = NULL;
}
