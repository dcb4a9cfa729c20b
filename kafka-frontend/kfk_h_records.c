/*
 * kfk_h_records.c: the DeleteRecords API, versions 0-2 (shell handler of
 * chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. For each partition this broker leads, the log
 * start moves to the offset asked (-1: the high watermark) through
 * walwriter's DeleteRecords, durably; then, as Kafka's delayed
 * DeleteRecords, the partition waits until the replicator's low watermark
 * (the least log start over the ISR) reaches the offset, so that no
 * replica that may lead next still serves the records; the answer's low
 * watermark is that one. Past timeout_ms it answers REQUEST_TIMED_OUT (the
 * start has moved here; the followers move theirs with the next notice),
 * NOT_LEADER_OR_FOLLOWER when the leadership went meanwhile,
 * UNKNOWN_TOPIC_OR_PARTITION at once when the partition was deleted here
 * meanwhile (its kfk_part_t deletion count moved). As Kafka: an
 * offset past the high watermark or below -1 is OFFSET_OUT_OF_RANGE, a
 * partition led elsewhere NOT_LEADER_OR_FOLLOWER, an unknown one
 * UNKNOWN_TOPIC_OR_PARTITION, one of a topic whose cleanup.policy lacks
 * "delete" POLICY_VIOLATION; an offset below the current start changes
 * nothing and answers the start. A partition led here without state from
 * the replicator yet is waited for first (kfk_req_await_part).
 * The calls to walwriter run in parallel; the request answers once all
 * came back and waited (walwriter answers every call, or the connection
 * drop fails them), so a client that went away meanwhile only frees it
 * then.
 * Not for: retention (walwriter), the watermarks (the replicator).
 */
#define CK_LOG_SUBSYSTEM "records"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ck_err.h"
#include "ck_log.h"
#include "kfk_errors.h"
#include "kfk_srv.h"

#define KFK_DR_OFFSET_HW (-1)

typedef struct kfk_dr_state kfk_dr_state_t;

/* One partition's deletion: its answer slot, the call in flight, then the
 * wait for the low watermark. */
typedef struct {
	kfk_waiter_t w; /* first member: waiter callbacks find the partition */
	kfk_dr_state_t *st;
	kfk_delete_records_response_delete_records_partition_result_t *out;
	char *topic;
	int64_t offset; /* the offset asked, -1 resolved */
	bool waiting;   /* counted in pending until the low watermark is there */
	uint32_t deletions; /* the partition's count of deletions at the start */
} kfk_dr_part_t;

struct kfk_dr_state {
	kfk_req_t *req;
	kfk_delete_records_response_t resp;
	kfk_dr_part_t *parts;
	int32_t nparts;
	int32_t pending; /* calls in flight and waits, plus one while started */
	struct event *timer;
	bool timed_out;
};

static void kfk_dr_state_free(kfk_req_t *req)
{
	kfk_dr_state_t *st = req->hstate;

	if (!st)
		return;
	for (int32_t i = 0; i < st->nparts; i++) {
		kfk_waiter_del(&st->parts[i].w);
		free(st->parts[i].topic);
	}
	free(st->parts);
	if (st->timer)
		event_free(st->timer);
	free(st);
}

static void kfk_dr_release(kfk_dr_state_t *st)
{
	if (--st->pending > 0)
		return;
	if (st->timer)
		(void)event_del(st->timer);
	kfk_req_respond(st->req, &st->resp);
}

static void kfk_dr_wait_end(kfk_dr_part_t *dp, int16_t err, int64_t low_watermark)
{
	kfk_waiter_del(&dp->w);
	dp->waiting = false;
	dp->out->error_code = err;
	dp->out->low_watermark = low_watermark;
	kfk_dr_release(dp->st);
}

/* Done when the low watermark reached the offset; waits (or ends) else. */
static void kfk_dr_check(kfk_dr_part_t *dp)
{
	kfk_srv_t *s = dp->st->req->srv;
	kfk_part_t *p = kfk_part_get(s, dp->topic, dp->out->partition_index, false);

	if (p && kfk_part_leads(s, p) && p->low_watermark >= dp->offset) {
		kfk_dr_wait_end(dp, KFK_ERR_NONE, p->low_watermark);
		return;
	}
	if (p && p->deletions != dp->deletions) {
		/* Deleted here meanwhile: answered at once, as Kafka does. */
		kfk_dr_wait_end(dp, KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION, -1);
		return;
	}
	if (!p || (p->known && !kfk_part_leads(s, p))) {
		kfk_dr_wait_end(dp, KFK_ERR_NOT_LEADER_OR_FOLLOWER, -1);
		return;
	}
	if (dp->st->timed_out || !dp->st->req->conn) {
		kfk_dr_wait_end(dp, KFK_ERR_REQUEST_TIMED_OUT, -1);
		return;
	}
	kfk_waiter_add(p, &dp->w);
}

static void kfk_dr_woken(kfk_waiter_t *w)
{
	kfk_dr_check((kfk_dr_part_t *)w);
}

static void kfk_dr_expire(kfk_dr_state_t *st)
{
	st->timed_out = true;
	st->pending++; /* respond once, after the loop */
	for (int32_t i = 0; i < st->nparts; i++)
		if (st->parts[i].waiting)
			kfk_dr_check(&st->parts[i]);
	kfk_dr_release(st);
}

static void kfk_dr_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	kfk_dr_expire(arg);
}

/* The connection went away: stop waiting (walwriter calls in flight still
 * come back; the request frees itself with the last). */
static void kfk_dr_orphan(kfk_req_t *req)
{
	kfk_dr_expire(req->hstate);
}

static void kfk_dr_deleted(void *arg, int err, const void *reply)
{
	kfk_dr_part_t *dp = arg;
	const Chronik__Wal__WalReply *rep = reply;

	if (!err && rep->error)
		err = rep->error;
	if (!err && (rep->body_case != CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO || !rep->log_info))
		err = CK_E_PROTO;
	if (err) {
		ck_log(CK_LOG_DEBUG, "delete records failed topic=%s partition=%d: %s", dp->topic,
		       (int)dp->out->partition_index, ck_strerror(err));
		dp->out->error_code = kfk_err_from_wal(err);
	} else {
		int64_t start = rep->log_info->log_start_offset;
		kfk_part_t *p =
		    kfk_part_get(dp->st->req->srv, dp->topic, dp->out->partition_index, false);

		/* A ListOffsets right after the answer sees the new start
		 * (the replicator's state with it may come later). */
		if (p && p->known && start > p->log_start) {
			p->log_start = start;
			p->bases_valid = false;
		}
		/* Alone in the ISR, the low watermark is our start. */
		if (p && p->known && p->leader && p->isr_size == 1 && start > p->low_watermark)
			p->low_watermark = start;
		/* The replicas' starts follow: this call's count goes to the
		 * wait. */
		dp->waiting = true;
		kfk_dr_check(dp);
		return;
	}
	kfk_dr_release(dp->st);
}

/* Checks one partition of TOPIC (NULL: unknown) and starts its deletion;
 * a refusal is written into its answer slot at once. */
static void kfk_dr_start(kfk_dr_state_t *st, kfk_dr_part_t *dp, const kfk_topic_t *t,
                         int64_t offset)
{
	kfk_srv_t *s = st->req->srv;
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__DeleteRecords dr = CHRONIK__WAL__DELETE_RECORDS__INIT;
	int32_t partition = dp->out->partition_index;
	kfk_part_t *p;
	uint64_t id;
	int r;

	if (!t || partition < 0 || partition >= t->npart) {
		dp->out->error_code = KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		return;
	}
	if (!kfk_leads(s, &t->parts[partition])) {
		dp->out->error_code = KFK_ERR_NOT_LEADER_OR_FOLLOWER;
		return;
	}
	if (!t->cfg.delete_policy) { /* Kafka's rule for compact-only topics */
		dp->out->error_code = KFK_ERR_POLICY_VIOLATION;
		return;
	}
	p = kfk_part_use(s, t, partition);
	if (!p || !kfk_part_leads(s, p)) {
		dp->out->error_code = KFK_ERR_NOT_LEADER_OR_FOLLOWER; /* not yet, retriable */
		return;
	}
	if (offset == KFK_DR_OFFSET_HW)
		offset = p->hw;
	if (offset < 0 || offset > p->hw) {
		dp->out->error_code = KFK_ERR_OFFSET_OUT_OF_RANGE;
		return;
	}
	dp->topic = strdup(t->name);
	if (!dp->topic) {
		dp->out->error_code = KFK_ERR_KAFKA_STORAGE_ERROR;
		return;
	}
	dp->offset = offset;
	dp->deletions = p->deletions;
	dr.topic = dp->topic;
	dr.partition = partition;
	dr.before_offset = offset;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_RECORDS;
	req.delete_records = &dr;
	r = kfk_peer_call(s, KFK_PEER_WAL, &req.base, &req.correlation_id, kfk_dr_deleted, dp, &id);
	if (r < 0) {
		dp->out->error_code = kfk_err_from_wal(r == -ENOTCONN ? -ENOTCONN : CK_E_AGAIN);
		return;
	}
	st->pending++;
}

/* Whether REQ names a partition led here that the replicator has not
 * described yet (the first request touching it, e.g. right after its
 * creation): then it waits for that first and runs again
 * (kfk_req_await_part). */
static bool kfk_dr_await(kfk_req_t *req)
{
	const kfk_delete_records_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;

	kfk_meta_refresh(s);
	for (int32_t t = 0; t < rq->topics.count; t++) {
		const kfk_delete_records_request_delete_records_topic_t *it = &rq->topics.items[t];
		kfk_topic_t *topic = NULL;

		if (kfk_meta_topic(s, it->name, &topic) <= 0 || !topic)
			continue;
		for (int32_t i = 0; i < it->partitions.count; i++) {
			int32_t part = it->partitions.items[i].partition_index;

			if (part < 0 || part >= topic->npart || !kfk_leads(s, &topic->parts[part]))
				continue;
			if (kfk_req_await_part(req, kfk_part_use(s, topic, part),
			                       kfk_h_delete_records))
				return true;
		}
	}
	return false;
}

void kfk_h_delete_records(kfk_req_t *req)
{
	const kfk_delete_records_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_dr_state_t *st;
	int32_t n = 0, k = 0;

	if (kfk_dr_await(req))
		return;
	st = calloc(1, sizeof(*st));
	if (!st)
		goto oom;
	req->hstate = st;
	req->hstate_free = kfk_dr_state_free;
	req->on_orphan = kfk_dr_orphan;
	st->req = req;
	for (int32_t t = 0; t < rq->topics.count; t++)
		n += rq->topics.items[t].partitions.count;
	st->parts = calloc(n > 0 ? (size_t)n : 1, sizeof(*st->parts));
	if (!st->parts)
		goto oom;
	st->nparts = n;
	kfk_meta_refresh(s);
	kfk_delete_records_response_init(&st->resp);
	st->resp.topics.count = rq->topics.count;
	st->resp.topics.items =
	    kfk_req_alloc(req, (size_t)rq->topics.count, sizeof(*st->resp.topics.items));
	if (rq->topics.count > 0 && !st->resp.topics.items)
		goto oom;
	st->pending = 1;
	{
		int64_t ms = rq->timeout_ms > 0 ? rq->timeout_ms : 0;
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

		st->timer = evtimer_new(s->base, kfk_dr_timeout, st);
		if (st->timer)
			(void)evtimer_add(st->timer, &tv);
	}
	for (int32_t t = 0; t < rq->topics.count; t++) {
		const kfk_delete_records_request_delete_records_topic_t *it = &rq->topics.items[t];
		kfk_delete_records_response_delete_records_topic_result_t *ot =
		    &st->resp.topics.items[t];
		kfk_topic_t *topic = NULL;

		if (kfk_meta_topic(s, it->name, &topic) <= 0)
			topic = NULL;
		kfk_delete_records_response_delete_records_topic_result_init(ot);
		ot->name = it->name;
		ot->partitions.count = it->partitions.count;
		ot->partitions.items =
		    kfk_req_alloc(req, (size_t)it->partitions.count, sizeof(*ot->partitions.items));
		if (it->partitions.count > 0 && !ot->partitions.items)
			goto oom_started;
		for (int32_t i = 0; i < it->partitions.count; i++) {
			kfk_dr_part_t *dp = &st->parts[k++];

			dp->st = st;
			dp->w.fn = kfk_dr_woken;
			dp->out = &ot->partitions.items[i];
			kfk_delete_records_response_delete_records_partition_result_init(dp->out);
			dp->out->partition_index = it->partitions.items[i].partition_index;
			dp->out->low_watermark = -1;
			kfk_dr_start(st, dp, topic, it->partitions.items[i].offset);
		}
	}
	kfk_dr_release(st);
	return;
oom_started:
	/* Calls already in flight still come back to their slots: the
	 * request ends (and frees) with the last of them. */
	st->resp.topics.count = 0;
	ck_log(CK_LOG_WARN, "out of memory answering DeleteRecords");
	kfk_dr_release(st);
	return;
oom:
	kfk_req_fail_conn(req, "out of memory");
}
