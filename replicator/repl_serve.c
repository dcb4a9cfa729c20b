/*
 * repl_serve.c: the replicator.proto service on run/replicator.sock (see
 * common/proto/replicator.proto).
 *
 * Owned by replicator. Subscribe is answered (empty reply, then one
 * PartitionState per local partition) once walwriter's logs were listed
 * once, so a subscriber's first view is complete; until then it waits and
 * GetPartition answers CK_E_AGAIN. Changes then go to every subscriber as
 * pushes (correlation id 0) in the order the core reports them. A
 * subscriber that does not read (REPL_SUB_OUTQ_MAX queued) or sends a frame
 * that does not decode is disconnected.
 * Not for: what a PartitionState holds (repl_core.c).
 */
#include <stdio.h>
#include <string.h>

#include "ck_err.h"
#include "ck_log.h"
#include "repl_shell.h"
#include "replicator.pb-c.h"

static repl_sub_t *repl_sub_find(repl_shell_t *s, const ck_ipc_conn_t *c)
{
	for (size_t i = 0; i < CK_ARRAY_LEN(s->subs); i++)
		if (s->subs[i].conn == c)
			return &s->subs[i];
	return NULL;
}

static repl_sub_t *repl_sub_get(repl_shell_t *s, ck_ipc_conn_t *c)
{
	repl_sub_t *sub = repl_sub_find(s, c);

	if (sub)
		return sub;
	sub = repl_sub_find(s, NULL);
	if (sub) {
		memset(sub, 0, sizeof(*sub));
		sub->conn = c;
	}
	return sub;
}

static void repl_conn_drop(repl_shell_t *s, ck_ipc_conn_t *c, const char *why)
{
	repl_sub_t *sub = repl_sub_find(s, c);

	ck_log(CK_LOG_WARN, "local client dropped: %s", why);
	if (sub)
		memset(sub, 0, sizeof(*sub));
	ck_daemon_conn_close(s->d, c);
}

/* Returns 0, or -1 when C was dropped. */
static int repl_send(repl_shell_t *s, ck_ipc_conn_t *c, const Chronik__Repl__ReplReply *rep)
{
	int r = ck_ipc_conn_send_msg(c, &rep->base);

	if (r < 0) {
		repl_conn_drop(s, c, ck_strerror(r));
		return -1;
	}
	if (ck_ipc_conn_outq_bytes(c) > REPL_SUB_OUTQ_MAX) {
		repl_conn_drop(s, c, "too much output queued (not reading)");
		return -1;
	}
	return 0;
}

static void repl_state_fill(Chronik__Repl__PartitionState *ps, const repl_state_t *st)
{
	chronik__repl__partition_state__init(ps);
	ps->topic = (char *)st->topic;
	ps->partition = st->partition;
	ps->high_watermark = st->high_watermark;
	ps->log_start_offset = st->log_start_offset;
	ps->log_end_offset = st->log_end_offset;
	ps->low_watermark = st->low_watermark;
	ps->leader = st->leader;
	ps->leader_epoch = st->leader_epoch;
	ps->isr_size = st->isr_size;
	ps->deleted = st->deleted;
}

static int repl_send_state(repl_shell_t *s, ck_ipc_conn_t *c, uint64_t cid, const repl_state_t *st)
{
	Chronik__Repl__ReplReply rep = CHRONIK__REPL__REPL_REPLY__INIT;
	Chronik__Repl__PartitionState ps;

	repl_state_fill(&ps, st);
	rep.correlation_id = cid;
	rep.body_case = CHRONIK__REPL__REPL_REPLY__BODY_PARTITION;
	rep.partition = &ps;
	return repl_send(s, c, &rep);
}

static int repl_send_err(repl_shell_t *s, ck_ipc_conn_t *c, uint64_t cid, int err, const char *msg)
{
	Chronik__Repl__ReplReply rep = CHRONIK__REPL__REPL_REPLY__INIT;

	rep.correlation_id = cid;
	rep.error = err;
	rep.error_message = (char *)(msg ? msg : (err ? ck_strerror(err) : ""));
	return repl_send(s, c, &rep);
}

void repl_serve_publish(repl_shell_t *s, const repl_state_t *st)
{
	for (size_t i = 0; i < CK_ARRAY_LEN(s->subs); i++) {
		repl_sub_t *sub = &s->subs[i];
		if (sub->conn && sub->subscribed)
			(void)repl_send_state(s, sub->conn, 0, st);
	}
}

typedef struct {
	repl_shell_t *s;
	ck_ipc_conn_t *c;
} repl_snap_t;

static int repl_snap_one(void *arg, const repl_part_t *p)
{
	repl_snap_t *sn = arg;
	repl_state_t st;

	repl_core_state(p, &st);
	return repl_send_state(sn->s, sn->c, 0, &st);
}

/* The Subscribe reply, then the current state of every partition. */
static void repl_sub_start(repl_shell_t *s, repl_sub_t *sub)
{
	repl_snap_t sn = {s, sub->conn};

	/* Published == current after a flush, so the snapshot is never
	 * behind a push this subscriber gets later. */
	repl_shell_flush(s);
	sub->pending = false;
	if (repl_send_err(s, sub->conn, sub->sub_id, 0, NULL) < 0)
		return;
	if (repl_core_foreach(s->core, repl_snap_one, &sn) < 0)
		return;
	sub->subscribed = true;
}

void repl_serve_synced(repl_shell_t *s)
{
	for (size_t i = 0; i < CK_ARRAY_LEN(s->subs); i++) {
		repl_sub_t *sub = &s->subs[i];
		if (sub->conn && sub->pending)
			repl_sub_start(s, sub);
	}
}

void repl_serve_reset(repl_shell_t *s)
{
	memset(s->subs, 0, sizeof(s->subs));
}

static void repl_req_subscribe(repl_shell_t *s, ck_ipc_conn_t *c, uint64_t cid)
{
	repl_sub_t *sub = repl_sub_get(s, c);

	if (!sub) {
		(void)repl_send_err(s, c, cid, CK_E_AGAIN, "too many subscribers");
		return;
	}
	sub->sub_id = cid;
	sub->subscribed = false;
	sub->pending = true;
	if (s->wal_synced)
		repl_sub_start(s, sub);
}

static void repl_req_get(repl_shell_t *s, ck_ipc_conn_t *c, uint64_t cid,
                         const Chronik__Repl__GetPartition *g)
{
	const repl_part_t *p;
	repl_state_t st;

	if (!s->wal_synced) {
		(void)repl_send_err(s, c, cid, CK_E_AGAIN, "starting: walwriter not listed yet");
		return;
	}
	p = g->topic ? repl_core_find(s->core, g->topic, g->partition) : NULL;
	if (!p || !p->have_log) {
		(void)repl_send_err(s, c, cid, CK_E_NOT_FOUND, "no such local partition");
		return;
	}
	/* The current state: pushes queued before it are older, pushes
	 * after it are at least as new. */
	repl_core_state(p, &st);
	(void)repl_send_state(s, c, cid, &st);
}

static void repl_req_metrics(repl_shell_t *s, ck_ipc_conn_t *c, uint64_t cid)
{
	Chronik__Repl__ReplReply rep = CHRONIK__REPL__REPL_REPLY__INIT;
	Chronik__Repl__Metrics m = CHRONIK__REPL__METRICS__INIT;
	ck_buf_t text = CK_BUF_INIT;
	ck_prom_t t = {&text, 0};

	repl_repl_metrics(s, &t);
	if (t.err == 0)
		ck_prom_printf(&t, "%c", '\0'); /* a C string for protobuf-c */
	if (t.err) {
		ck_buf_free(&text);
		(void)repl_send_err(s, c, cid, t.err, "cannot render the metrics");
		return;
	}
	m.text = (char *)text.data;
	rep.correlation_id = cid;
	rep.body_case = CHRONIK__REPL__REPL_REPLY__BODY_METRICS;
	rep.metrics = &m;
	(void)repl_send(s, c, &rep);
	ck_buf_free(&text);
}

static void repl_serve_frame(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg)
{
	repl_shell_t *s = arg;
	Chronik__Repl__ReplRequest *req = chronik__repl__repl_request__unpack(NULL, len, data);

	if (!req) {
		repl_conn_drop(s, c, "request does not decode");
		return;
	}
	switch (req->body_case) {
	case CHRONIK__REPL__REPL_REQUEST__BODY_SUBSCRIBE:
		repl_req_subscribe(s, c, req->correlation_id);
		break;
	case CHRONIK__REPL__REPL_REQUEST__BODY_GET_PARTITION:
		repl_req_get(s, c, req->correlation_id, req->get_partition);
		break;
	case CHRONIK__REPL__REPL_REQUEST__BODY_METRICS:
		repl_req_metrics(s, c, req->correlation_id);
		break;
	default:
		(void)repl_send_err(s, c, req->correlation_id, CK_E_INVALID, "unknown request");
		break;
	}
	chronik__repl__repl_request__free_unpacked(req, NULL);
}

static void repl_serve_close(ck_ipc_conn_t *c, int err, void *arg)
{
	repl_shell_t *s = arg;
	repl_sub_t *sub = repl_sub_find(s, c);

	(void)err;
	if (sub)
		memset(sub, 0, sizeof(*sub));
}

const ck_ipc_handlers_t repl_serve_handlers = {
    .on_frame = repl_serve_frame,
    .on_close = repl_serve_close,
};
