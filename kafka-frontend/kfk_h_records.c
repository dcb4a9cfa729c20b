/*
 * kfk_h_records.c: the DeleteRecords API, versions 0-2 (shell handler of
 * chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. For each partition this broker leads, the log
 * start moves to the offset asked (-1: the high watermark) through
 * walwriter's DeleteRecords, durably before the answer; the answer's low
 * watermark is the new log start. As Kafka: an offset past the high
 * watermark or below -1 is OFFSET_OUT_OF_RANGE, a partition led elsewhere
 * NOT_LEADER_OR_FOLLOWER, an unknown one UNKNOWN_TOPIC_OR_PARTITION; an
 * offset below the current start changes nothing and answers the start.
 * The calls to walwriter run in parallel; the request answers once all
 * came back (walwriter answers every call, or the connection drop fails
 * them), so a client that went away meanwhile only frees it then.
 * Not for: retention (walwriter), the high watermark (the replicator).
 */
#define CK_LOG_SUBSYSTEM "records"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_log.h"
#include "kfk_errors.h"
#include "kfk_srv.h"

#define KFK_DR_OFFSET_HW (-1)

typedef struct kfk_dr_state kfk_dr_state_t;

/* One partition's deletion: its answer slot and the call in flight. */
typedef struct {
	kfk_dr_state_t *st;
	kfk_delete_records_response_delete_records_partition_result_t *out;
	char *topic;
} kfk_dr_part_t;

struct kfk_dr_state {
	kfk_req_t *req;
	kfk_delete_records_response_t resp;
	kfk_dr_part_t *parts;
	int32_t nparts;
	int32_t pending; /* calls in flight, plus one while they are started */
};

static void kfk_dr_state_free(kfk_req_t *req)
{
	kfk_dr_state_t *st = req->hstate;

	if (!st)
		return;
	for (int32_t i = 0; i < st->nparts; i++)
		free(st->parts[i].topic);
	free(st->parts);
	free(st);
}

static void kfk_dr_release(kfk_dr_state_t *st)
{
	if (--st->pending == 0)
		kfk_req_respond(st->req, &st->resp);
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

		dp->out->low_watermark = start;
		/* A ListOffsets right after the answer sees the new start
		 * (the replicator's state with it may come later). */
		if (p && p->known && start > p->log_start) {
			p->log_start = start;
			p->bases_valid = false;
		}
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
	if (t->parts[partition].leader != s->cfg->node_id) {
		dp->out->error_code = KFK_ERR_NOT_LEADER_OR_FOLLOWER;
		return;
	}
	p = kfk_part_use(s, t, partition);
	if (!p || !p->known || !p->leader) {
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

void kfk_h_delete_records(kfk_req_t *req)
{
	const kfk_delete_records_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_dr_state_t *st = calloc(1, sizeof(*st));
	int32_t n = 0, k = 0;

	if (!st)
		goto oom;
	req->hstate = st;
	req->hstate_free = kfk_dr_state_free;
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
