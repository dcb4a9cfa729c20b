/*
 * kfk_h_produce.c: the Produce API, versions 0-9 (shell handler of
 * chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. Per partition: the topic is looked up (never
 * created: Metadata requests do that), the partition must be led here, its record
 * set must pass kfk_produce_records_check(), acks=all needs the ISR to hold
 * min.insync.replicas; then the batches go to walwriter as one leader
 * Append (stored as sent, or recompressed with the topic's
 * compression.type when it names another codec; LogAppendTime topics get
 * the broker's clock stamped by walwriter). The check of compressed
 * records (each batch decompressed, up to 64 MiB) and the recompression
 * run on the server's worker thread (common/ck_worker.h), so that the loop
 * serves other clients meanwhile (gzip runs at tens of MB/s, and a request
 * may carry hundreds of batches); while a partition has produces there,
 * its next ones queue behind them, so that its
 * appends keep the order their requests came in (a producer's pipelined
 * batches, idempotent sequences). walwriter answers after fdatasync: that is the
 * acks=1 acknowledgement (sent once the high watermark covers it while the
 * leader is alone in the ISR, so that reads after it see the records, as
 * in Kafka); acks=all waits until the replicator's high watermark passes
 * the batch's last offset or timeout_ms expires (REQUEST_TIMED_OUT; the
 * data stays). acks=0 gets no response at all; if
 * anything fails the connection is closed, as Kafka does, so the client
 * notices. Versions 0-2 carry message sets of magic 0 or 1: each is
 * converted to one v2 batch first (kfk_legacy.h), as Kafka's log validator
 * converts them up; v3+ must send v2 batches (INVALID_RECORD otherwise).
 * Not for: the validation and acks rules themselves (kfk_produce_core.c).
 */
#define CK_LOG_SUBSYSTEM "produce"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ck_batch.h"
#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_admin_core.h"
#include "kfk_compress.h"
#include "kfk_decompress.h"
#include "kfk_errors.h"
#include "kfk_legacy.h"
#include "kfk_produce_core.h"
#include "kfk_srv.h"

/* The longest an acks=1 answer waits for the high watermark (the
 * replicator away): after it, it is sent as Kafka would have. */
#define KFK_ACKS1_WAIT_MS 1000

/* A partition's appends in walwriter at once, bytes (one always passes):
 * four of librdkafka's largest requests (1 MB), so that one group commit
 * covers several while the next come, and at ~300 MB/s about 14 ms of
 * writing ahead of another partition's append (kfk_pp_append; 2 MiB cost
 * a single producer a quarter of its throughput, 16 MiB gave the other
 * partition's acks=1 append a p50 of 30-75 ms). */
#define KFK_PART_WAL_BYTES (4u << 20)

typedef enum {
	KFK_PP_WAIT_TOPIC = 0,
	KFK_PP_WORKING, /* on the worker thread, or in line behind it */
	KFK_PP_GATED,   /* checked, in line for walwriter (kfk_pp_append) */
	KFK_PP_APPENDING,
	KFK_PP_WAIT_HW,
	KFK_PP_DONE,
} kfk_pp_state_t;

typedef struct kfk_pstate kfk_pstate_t;

typedef struct kfk_pp {
	kfk_waiter_t w; /* first member: waiter callbacks find the partition */
	kfk_pstate_t *ps;
	char *topic;
	int32_t partition;
	kfk_bytes_t records;
	ck_buf_t conv; /* versions 0-2: the message set as one v2 batch; or the
	                  batches recompressed with the topic's codec */
	kfk_pp_state_t state;
	int16_t err;
	const char *msg;
	int64_t base_offset;
	int64_t last_offset;
	int64_t log_append_time;
	int64_t log_start;
	int32_t leader_epoch; /* the one the append was made under */
	int32_t min_isr;      /* the topic's min.insync.replicas then */
	uint32_t deletions;   /* the partition's count of deletions then */
	uint64_t call_id;
	kfk_records_info_t info; /* the checked records' */
	/* The records' check (kfk_pp_check: on the worker thread, or the
	 * loop): its error and reason, INFO; with the topic's CODEC (-1: as
	 * sent) and MAX_MESSAGE_BYTES as the produce started. RECOMPRESS:
	 * recompressed into OUT, kfk_batches_recompress's result RC. IN_LINE
	 * counts it while on the worker. */
	ck_work_t work;
	int16_t check_err;
	const char *check_reason;
	size_t max_message_bytes;
	int codec;
	bool recompress;
	int rc;
	ck_buf_t out;
	kfk_part_t *in_line;
	/* The append: GATE is its partition (NULL: none could be had), NEXT
	 * its successor in the gate's line, WAL_LEN the bytes it holds in
	 * walwriter while sent; STAMP: the topic takes LogAppendTime. */
	kfk_part_t *gate;
	struct kfk_pp *next;
	uint64_t wal_len;
	bool stamp;
	/* The topic incarnation the append is for (walwriter refuses it for
	 * another one: the topic deleted and created again meanwhile). */
	uint8_t topic_id[16];
} kfk_pp_t;

/* One topic entry of the request: its partitions are pps[first..first+n). */
typedef struct {
	kfk_pstate_t *ps;
	int32_t first;
	int32_t n;
	kfk_str_t name; /* as the request has it; pps' topic stops at a NUL */
} kfk_ptopic_t;

struct kfk_pstate {
	kfk_req_t *req;
	kfk_pp_t *pps;
	int32_t npp;
	kfk_ptopic_t *topics;
	int pending; /* partitions not done, plus one while dispatching */
	int16_t acks;
	struct event *timer;
	bool timed_out;
};

static void kfk_prod_state_free(kfk_req_t *req)
{
	kfk_pstate_t *ps = req->hstate;

	if (!ps)
		return;
	for (int32_t i = 0; i < ps->npp; i++) {
		kfk_waiter_del(&ps->pps[i].w);
		ck_buf_free(&ps->pps[i].conv);
		ck_buf_free(&ps->pps[i].out);
	}
	if (ps->timer)
		event_free(ps->timer);
}

static void kfk_prod_respond(kfk_pstate_t *ps)
{
	kfk_req_t *req = ps->req;
	const kfk_produce_request_t *rq = req->body;
	kfk_produce_response_t resp;
	const kfk_pp_t *failed = NULL;

	if (ps->timer)
		(void)event_del(ps->timer);
	for (int32_t i = 0; i < ps->npp && !failed; i++)
		if (ps->pps[i].err != KFK_ERR_NONE)
			failed = &ps->pps[i];
	if (ps->acks == KFK_ACKS_NONE) {
		char reason[160];

		if (!failed) {
			kfk_req_finish(req);
			return;
		}
		(void)snprintf(reason, sizeof(reason),
		               "acks=0 produce failed topic=%s partition=%d error=%s",
		               failed->topic, (int)failed->partition, kfk_err_name(failed->err));
		kfk_req_fail_conn(req, reason);
		return;
	}
	kfk_produce_response_init(&resp);
	resp.responses.count = rq->topic_data.count;
	resp.responses.items =
	    kfk_req_alloc(req, (size_t)rq->topic_data.count, sizeof(*resp.responses.items));
	if (!resp.responses.items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t t = 0; t < rq->topic_data.count; t++) {
		kfk_produce_response_topic_produce_response_t *o = &resp.responses.items[t];
		const kfk_ptopic_t *pt = &ps->topics[t];

		kfk_produce_response_topic_produce_response_init(o);
		o->name = rq->topic_data.items[t].name;
		o->partition_responses.count = pt->n;
		o->partition_responses.items =
		    kfk_req_alloc(req, (size_t)pt->n, sizeof(*o->partition_responses.items));
		if (!o->partition_responses.items) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
		for (int32_t i = 0; i < pt->n; i++) {
			const kfk_pp_t *pp = &ps->pps[pt->first + i];
			kfk_produce_response_partition_produce_response_t *po =
			    &o->partition_responses.items[i];

			kfk_produce_response_partition_produce_response_init(po);
			po->index = pp->partition;
			po->error_code = pp->err;
			po->base_offset = pp->err ? -1 : pp->base_offset;
			po->log_append_time_ms = pp->err ? -1 : pp->log_append_time;
			po->log_start_offset = pp->err ? -1 : pp->log_start;
			if (pp->err && pp->msg)
				po->error_message = kfk_str(pp->msg);
		}
	}
	kfk_req_respond(req, &resp);
}

static void kfk_pp_done(kfk_pp_t *pp, int16_t err, const char *msg)
{
	kfk_pstate_t *ps = pp->ps;

	if (pp->state == KFK_PP_DONE)
		return;
	kfk_waiter_del(&pp->w);
	pp->state = KFK_PP_DONE;
	pp->err = err;
	pp->msg = msg;
	if (--ps->pending == 0)
		kfk_prod_respond(ps);
}

static void kfk_prod_timeout(evutil_socket_t fd, short what, void *arg);

/* Arms the request's timer for MS milliseconds. Returns 0 or -1. */
static int kfk_prod_arm(kfk_pstate_t *ps, int64_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	ps->timer = evtimer_new(ps->req->srv->base, kfk_prod_timeout, ps);
	if (ps->timer && evtimer_add(ps->timer, &tv) < 0) {
		event_free(ps->timer);
		ps->timer = NULL;
	}
	return ps->timer ? 0 : -1;
}

/* acks=all: done when the high watermark of the leadership the append
 * was made under covers it. Once this node follows (or leads at a later
 * epoch) the offsets may hold other records (a leader cut off from the
 * others appended alone, its tail is truncated): the write is refused,
 * retriable, whatever the high watermark says by then. acks=1 waits the
 * same way while the leader is alone in the ISR (kfk_produce_covered), at
 * most KFK_ACKS1_WAIT_MS; it succeeds whatever comes, as the append is
 * durable here and Kafka's acks=1 promises no more. */
static void kfk_pp_check_hw(kfk_pp_t *pp)
{
	kfk_srv_t *s = pp->ps->req->srv;
	kfk_part_t *p = kfk_part_get(s, pp->topic, pp->partition, true);
	bool all = pp->ps->acks == KFK_ACKS_ALL;

	/* Deleted here since the append (the topic deleted, or this replica
	 * moved away): answered at once, as Kafka does, not at the timeout. */
	if (p && p->deletions != pp->deletions) {
		if (all)
			kfk_pp_done(
			    pp, KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION,
			    "the partition was deleted while waiting for the high watermark");
		else
			kfk_pp_done(pp, KFK_ERR_NONE, NULL);
		return;
	}
	if (p && p->known && (!kfk_part_leads(s, p) || p->leader_epoch > pp->leader_epoch)) {
		if (all)
			kfk_pp_done(
			    pp, KFK_ERR_NOT_LEADER_OR_FOLLOWER,
			    s->self_fenced
			        ? "this broker lost contact with the controller while waiting "
			          "for the high watermark"
			        : "the leadership moved while waiting for the high watermark");
		else
			kfk_pp_done(pp, KFK_ERR_NONE, NULL);
		return;
	}
	if (p && p->known && p->leader_epoch == pp->leader_epoch &&
	    kfk_produce_covered(pp->ps->acks, pp->last_offset, p->hw, p->isr_size)) {
		if (all && kfk_produce_after_append(p->isr_size, pp->min_isr) != KFK_ERR_NONE)
			kfk_pp_done(pp, KFK_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
			            "the ISR shrank below min.insync.replicas after the append");
		else
			kfk_pp_done(pp, KFK_ERR_NONE, NULL);
		return;
	}
	if (pp->ps->timed_out || !pp->ps->req->conn) {
		/* Over time, or nobody left to answer. */
		if (all)
			kfk_pp_done(pp, KFK_ERR_REQUEST_TIMED_OUT,
			            "timed out waiting for the high watermark");
		else
			kfk_pp_done(pp, KFK_ERR_NONE, NULL);
		return;
	}
	if (!p) {
		kfk_pp_done(pp, all ? KFK_ERR_UNKNOWN_SERVER_ERROR : KFK_ERR_NONE,
		            all ? "out of memory" : NULL);
		return;
	}
	if (!all && !pp->ps->timer && kfk_prod_arm(pp->ps, KFK_ACKS1_WAIT_MS) < 0) {
		kfk_pp_done(pp, KFK_ERR_NONE, NULL); /* no timer: do not wait */
		return;
	}
	pp->state = KFK_PP_WAIT_HW;
	kfk_waiter_add(p, &pp->w);
}

static void kfk_pp_woken(kfk_waiter_t *w)
{
	kfk_pp_check_hw((kfk_pp_t *)w);
}

static void kfk_prod_expire(kfk_pstate_t *ps)
{
	ps->timed_out = true;
	ps->pending++; /* respond once, after the loop */
	for (int32_t i = 0; i < ps->npp; i++) {
		if (ps->pps[i].state == KFK_PP_WAIT_HW)
			kfk_pp_check_hw(&ps->pps[i]);
	}
	if (--ps->pending == 0)
		kfk_prod_respond(ps);
}

static void kfk_prod_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	kfk_prod_expire(arg);
}

/* The connection went away: stop waiting for high watermarks (appends in
 * flight still complete; the request frees itself when all are done). */
static void kfk_prod_orphan(kfk_req_t *req)
{
	kfk_prod_expire(req->hstate);
}

static void kfk_pp_send(kfk_pp_t *pp);

/* Whether an append of LEN bytes may go to walwriter now beside what P
 * has there: one always may; more while they stay within the cap. */
static bool kfk_gate_admits(const kfk_part_t *p, uint64_t len)
{
	return p->wal_bytes == 0 || p->wal_bytes + len <= KFK_PART_WAL_BYTES;
}

/* Sends the appends waiting on P that fit now, in their order. */
static void kfk_gate_pump(kfk_part_t *p)
{
	kfk_pp_t *pp;

	while ((pp = p->gate_head) && kfk_gate_admits(p, (uint64_t)pp->records.len)) {
		p->gate_head = pp->next;
		if (!p->gate_head)
			p->gate_tail = NULL;
		pp->next = NULL;
		kfk_pp_send(pp);
	}
}

static void kfk_pp_appended(void *arg, int err, const void *reply)
{
	kfk_pp_t *pp = arg;
	kfk_part_t *gate = pp->gate;
	const Chronik__Wal__WalReply *rep = reply;

	/* PP may be freed below (its request answered): the gate first. */
	if (gate) {
		gate->wal_bytes -= pp->wal_len;
		gate->appending--;
	}
	pp->wal_len = 0;
	if (!err && rep->error)
		err = rep->error;
	if (!err && (rep->body_case != CHRONIK__WAL__WAL_REPLY__BODY_APPEND || !rep->append))
		err = CK_E_PROTO;
	if (err) {
		if (err != CK_E_CLOSED && err != CK_E_TOO_LARGE && err != CK_E_CORRUPT)
			ck_log(CK_LOG_DEBUG, "append failed topic=%s partition=%d: %s", pp->topic,
			       (int)pp->partition, ck_strerror(err));
		kfk_pp_done(pp, kfk_err_from_wal(err), NULL);
	} else {
		pp->base_offset = rep->append->base_offset;
		pp->last_offset = rep->append->last_offset;
		pp->log_append_time =
		    rep->append->log_append_time_ms > 0 ? rep->append->log_append_time_ms : -1;
		pp->log_start = rep->append->log_start_offset;
		if (pp->ps->acks == KFK_ACKS_NONE)
			kfk_pp_done(pp, KFK_ERR_NONE, NULL);
		else
			kfk_pp_check_hw(pp);
	}
	if (gate)
		kfk_gate_pump(gate);
}

static void kfk_pp_send(kfk_pp_t *pp)
{
	kfk_srv_t *s = pp->ps->req->srv;
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__Append ap = CHRONIK__WAL__APPEND__INIT;
	int r;

	ap.topic = pp->topic;
	ap.partition = pp->partition;
	ap.leader_epoch = pp->leader_epoch;
	ap.batches.data = (uint8_t *)pp->records.ptr;
	ap.batches.len = (size_t)pp->records.len;
	ap.log_append_time_ms = pp->stamp ? ck_clock_wall_ms() : 0;
	ap.topic_id.data = pp->topic_id;
	ap.topic_id.len = sizeof(pp->topic_id);
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_APPEND;
	req.append = &ap;
	pp->state = KFK_PP_APPENDING;
	r = kfk_peer_call(s, KFK_PEER_WAL, &req.base, &req.correlation_id, kfk_pp_appended, pp,
	                  &pp->call_id);
	if (r < 0) {
		kfk_pp_done(pp, kfk_err_from_wal(r == -ENOTCONN ? -ENOTCONN : CK_E_AGAIN), NULL);
		return;
	}
	pp->wal_len = (uint64_t)ap.batches.len;
	if (pp->gate) {
		pp->gate->wal_bytes += pp->wal_len;
		pp->gate->appending++;
	}
}

/* The append of PP to its partition P (NULL: sent as it comes): sent now,
 * or in line behind P's earlier ones while they hold KFK_PART_WAL_BYTES in
 * walwriter, which takes appends in the order they come, whatever their
 * partition. Without the line a producer pipelining megabytes into one
 * partition would put them all ahead of every other client's small append
 * (each waiting for their writes and fdatasyncs); Kafka reads one request
 * per connection at a time. The line keeps each partition's order. */
static void kfk_pp_append(kfk_pp_t *pp, const kfk_topic_t *t, const kfk_pmeta_t *pm, kfk_part_t *p)
{
	pp->leader_epoch = pm->leader_epoch < 0 ? 0 : pm->leader_epoch;
	pp->stamp = t->cfg.log_append_time;
	memcpy(pp->topic_id, t->id, sizeof(pp->topic_id));
	pp->gate = p;
	if (!p || (!p->gate_head && kfk_gate_admits(p, (uint64_t)pp->records.len))) {
		kfk_pp_send(pp);
		return;
	}
	pp->state = KFK_PP_GATED;
	pp->next = NULL;
	if (p->gate_tail)
		p->gate_tail->next = pp;
	else
		p->gate_head = pp;
	p->gate_tail = pp;
}

/* Produce v0-2: a message set of magic 0 or 1 becomes one v2 batch, which
 * the checks and the append then see instead. Returns a Kafka error. */
static int16_t kfk_pp_upconvert(kfk_pp_t *pp)
{
	int r;

	if (pp->ps->req->api_version > 2 || pp->records.len <= 0 ||
	    !kfk_legacy_is(pp->records.ptr, (size_t)pp->records.len))
		return KFK_ERR_NONE;
	/* max.message.bytes applies to the batch as stored: checked next. */
	r = kfk_legacy_to_batch(pp->records.ptr, (size_t)pp->records.len, KFK_DECOMPRESS_MAX,
	                        &pp->conv);
	if (r == CK_E_TOO_LARGE || (r > 0 && pp->conv.len > INT32_MAX))
		return KFK_ERR_MESSAGE_TOO_LARGE;
	if (r == -ENOMEM)
		return KFK_ERR_UNKNOWN_SERVER_ERROR;
	if (r == CK_E_INVALID)
		return KFK_ERR_INVALID_RECORD;
	if (r < 0)
		return KFK_ERR_CORRUPT_MESSAGE;
	pp->records.ptr = pp->conv.data;
	pp->records.len = (int32_t)pp->conv.len;
	return KFK_ERR_NONE;
}

/* A topic whose compression.type names a codec stores every batch with it
 * (Kafka's log validator recompresses the same way): whether PP's records
 * need it (one batch of another codec, or anything else). */
static bool kfk_pp_needs_codec(const kfk_pp_t *pp, int codec)
{
	if (codec < 0)
		return false;
	return pp->info.batches != 1 || pp->records.len < CK_BATCH_HEADER_LEN ||
	       (ck_be16_get(pp->records.ptr + CK_BATCH_OFF_ATTRIBUTES) &
	        CK_BATCH_ATTR_COMPRESSION_MASK) != codec;
}

/* Checks PP's records (decompressing compressed batches) and recompresses
 * them when the topic's codec wants it. On the worker thread (the loop
 * leaves the records and these results alone until its done), or on the
 * loop. */
static void kfk_pp_check(kfk_pp_t *pp)
{
	pp->check_err = kfk_produce_records_check(
	    pp->records.ptr, pp->records.len, pp->max_message_bytes, &pp->info, &pp->check_reason);
	pp->recompress = pp->check_err == KFK_ERR_NONE && kfk_pp_needs_codec(pp, pp->codec);
	if (pp->recompress)
		pp->rc = kfk_batches_recompress(pp->records.ptr, (size_t)pp->records.len, pp->codec,
		                                &pp->out);
}

static void kfk_pp_work_run(ck_work_t *w)
{
	kfk_pp_check((kfk_pp_t *)((char *)w - offsetof(kfk_pp_t, work)));
	kfk_produce_scratch_free();
}

/* Whether checking PP's records takes more than a walk over them: a
 * compressed batch is decompressed (up to 64 MiB, tens of ms; a request
 * can carry hundreds), or the topic's codec recompresses them. */
static bool kfk_pp_heavy(const kfk_pp_t *pp)
{
	const uint8_t *p = pp->records.ptr;
	size_t pos = 0, len = pp->records.len > 0 ? (size_t)pp->records.len : 0, total;

	if (pp->codec >= 0)
		return true;
	while (pos + CK_BATCH_HEADER_LEN <= len &&
	       ck_batch_size_peek(p + pos, len - pos, 0, &total) == 0) {
		if (ck_be16_get(p + pos + CK_BATCH_OFF_ATTRIBUTES) & CK_BATCH_ATTR_COMPRESSION_MASK)
			return true;
		pos += total;
	}
	return false;
}

/* The recompression's result R (kfk_batches_recompress's, the batches in
 * PP's OUT when 1) becomes PP's records; the size limits apply again to
 * the batches as stored. Returns a Kafka error, *REASON why. */
static int16_t kfk_pp_recompressed(kfk_pp_t *pp, const kfk_topic_t *t, int r, const char **reason)
{
	if (r <= 0) {
		ck_buf_free(&pp->out);
		if (r < 0)
			*reason =
			    "records cannot be recompressed with the topic's compression.type";
		return r == 0                ? KFK_ERR_NONE
		       : r == -ENOMEM        ? KFK_ERR_UNKNOWN_SERVER_ERROR
		       : r == CK_E_TOO_LARGE ? KFK_ERR_MESSAGE_TOO_LARGE
		                             : KFK_ERR_CORRUPT_MESSAGE;
	}
	ck_buf_free(&pp->conv);
	pp->conv = pp->out;
	ck_buf_init(&pp->out);
	pp->records.ptr = pp->conv.data;
	pp->records.len = (int32_t)pp->conv.len;
	if (pp->conv.len > (size_t)t->cfg.max_message_bytes) {
		*reason = "record batch larger than max.message.bytes once recompressed with the "
		          "topic's compression.type";
		return KFK_ERR_MESSAGE_TOO_LARGE;
	}
	if ((int64_t)pp->conv.len > t->cfg.segment_bytes) {
		*reason = "record batch larger than the topic's segment.bytes once recompressed "
		          "with its compression.type";
		return KFK_ERR_RECORD_LIST_TOO_LARGE;
	}
	return KFK_ERR_NONE;
}

/* Kafka's log validator gives a batch of a CreateTime topic the largest
 * timestamp of its records as maxTimestamp (-1 when none has one) and the
 * CreateTime type, whatever the client wrote there: ListOffsets by time and
 * retention read the header. One batch (Produce v3+, or converted up);
 * copied first unless it is ours already. Returns a Kafka error. */
static int16_t kfk_pp_create_time(kfk_pp_t *pp, const kfk_records_info_t *info)
{
	int64_t want = info->max_ts > -1 ? info->max_ts : -1;
	uint16_t attrs;
	uint8_t *b;

	if (info->batches != 1 || pp->records.len < CK_BATCH_HEADER_LEN)
		return KFK_ERR_NONE;
	attrs = ck_be16_get(pp->records.ptr + CK_BATCH_OFF_ATTRIBUTES);
	if ((int64_t)ck_be64_get(pp->records.ptr + CK_BATCH_OFF_MAX_TIMESTAMP) == want &&
	    !(attrs & CK_BATCH_ATTR_LOG_APPEND_TIME))
		return KFK_ERR_NONE;
	if (pp->records.ptr != pp->conv.data) {
		pp->conv.len = 0;
		if (ck_buf_append(&pp->conv, pp->records.ptr, (size_t)pp->records.len) < 0)
			return KFK_ERR_UNKNOWN_SERVER_ERROR;
		pp->records.ptr = pp->conv.data;
	}
	b = pp->conv.data;
	ck_be16_put(b + CK_BATCH_OFF_ATTRIBUTES,
	            (uint16_t)(attrs & ~CK_BATCH_ATTR_LOG_APPEND_TIME));
	ck_be64_put(b + CK_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)want);
	ck_batch_crc_update(b, (size_t)pp->records.len);
	return KFK_ERR_NONE;
}

static void kfk_pp_reject(kfk_pp_t *pp, int16_t err, const char *reason)
{
	ck_log(CK_LOG_DEBUG, "produce rejected topic=%s partition=%d error=%s reason=\"%s\"",
	       pp->topic, (int)pp->partition, kfk_err_name(err), reason ? reason : "");
	kfk_pp_done(pp, err, reason);
}

static void kfk_pp_finish(kfk_pp_t *pp, const kfk_topic_t *t, bool recompressed);
static int kfk_pp_to_worker(kfk_pp_t *pp, kfk_part_t *p);

/* Checks one partition of a known topic and appends it (after the worker
 * thread when its records are recompressed, or others of its partition
 * are there). */
/* Kafka's rules for PP's checked records (INFO) in topic T. Returns a
 * Kafka error, *REASON why. */
static int16_t kfk_pp_rules(const kfk_pp_t *pp, const kfk_topic_t *t, const char **reason)
{
	const kfk_records_info_t *info = &pp->info;
	int16_t err;

	/* Kafka's rule since Produce v3: exactly one batch per partition. */
	if (info->batches != 1 && pp->ps->req->api_version >= 3) {
		*reason = "Produce v3 and later carry exactly one record batch per partition";
		return KFK_ERR_INVALID_RECORD;
	}
	/* zstd came with Produce v7 (KIP-110): older requests may not use it. */
	if (info->zstd && pp->ps->req->api_version < 7) {
		*reason = "zstd-compressed records need Produce v7 or later";
		return KFK_ERR_UNSUPPORTED_COMPRESSION_TYPE;
	}
	/* Kafka's rule: a batch must fit in one segment. */
	if ((int64_t)pp->records.len > t->cfg.segment_bytes) {
		*reason = "record batch larger than the topic's segment.bytes";
		return KFK_ERR_RECORD_LIST_TOO_LARGE;
	}
	/* Kafka's rule: a compacted topic keys every record. */
	if (t->cfg.compact && info->null_key) {
		*reason = "compacted topic cannot accept a record without a key";
		return KFK_ERR_INVALID_RECORD;
	}
	if (!t->cfg.log_append_time) {
		err = kfk_produce_ts_check(info, ck_clock_wall_ms(), t->cfg.ts_before_max_ms,
		                           t->cfg.ts_after_max_ms);
		if (err != KFK_ERR_NONE) {
			*reason =
			    "record timestamp out of the range message.timestamp.before.max.ms "
			    "and message.timestamp.after.max.ms allow";
			return err;
		}
	}
	return KFK_ERR_NONE;
}

/* PP's records checked (kfk_pp_check), with its topic T as it is now:
 * Kafka's rules, then the rest (kfk_pp_finish). */
static void kfk_pp_checked(kfk_pp_t *pp, const kfk_topic_t *t)
{
	const char *reason = pp->check_reason;
	int16_t err = pp->check_err;

	if (err == KFK_ERR_NONE)
		err = kfk_pp_rules(pp, t, &reason);
	if (err != KFK_ERR_NONE) {
		ck_buf_free(&pp->out);
		return kfk_pp_reject(pp, err, reason);
	}
	kfk_pp_finish(pp, t, pp->recompress);
}

static void kfk_pp_start(kfk_pp_t *pp, const kfk_topic_t *t)
{
	kfk_srv_t *s = pp->ps->req->srv;
	const kfk_pmeta_t *pm;
	kfk_part_t *p;
	int16_t err;

	if (pp->partition < 0 || pp->partition >= t->npart)
		return kfk_pp_done(pp, KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION, NULL);
	pm = &t->parts[pp->partition];
	if (!kfk_leads(s, pm))
		return kfk_pp_done(pp, KFK_ERR_NOT_LEADER_OR_FOLLOWER, NULL);
	err = kfk_pp_upconvert(pp);
	if (err != KFK_ERR_NONE)
		return kfk_pp_done(pp, err,
		                   err == KFK_ERR_MESSAGE_TOO_LARGE
		                       ? "message set (magic 0/1) decompresses past 64 MiB"
		                       : "message set (magic 0/1) cannot be converted");
	pp->codec = t->cfg.compression;
	pp->max_message_bytes = (size_t)t->cfg.max_message_bytes;
	ck_buf_init(&pp->out);
	p = kfk_part_get(s, pp->topic, pp->partition, true);
	if (p && (kfk_pp_heavy(pp) || p->work_queued) && kfk_pp_to_worker(pp, p) == 0)
		return;
	kfk_pp_check(pp);
	kfk_pp_checked(pp, t);
}

/* PP's topic T again after the worker (it may have changed or gone). */
static void kfk_pp_work_done(ck_work_t *w)
{
	kfk_pp_t *pp = (kfk_pp_t *)((char *)w - offsetof(kfk_pp_t, work));
	kfk_srv_t *s = pp->ps->req->srv;
	kfk_topic_t *t = NULL;
	int r;

	pp->in_line->work_queued--;
	pp->in_line = NULL;
	kfk_meta_refresh(s);
	r = kfk_meta_topic(s, kfk_str(pp->topic), &t);
	if (r <= 0 || pp->partition >= t->npart) {
		ck_buf_free(&pp->out);
		return kfk_pp_done(
		    pp, r < 0 ? KFK_ERR_UNKNOWN_SERVER_ERROR : KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION,
		    NULL);
	}
	if (!kfk_leads(s, &t->parts[pp->partition])) {
		ck_buf_free(&pp->out);
		return kfk_pp_done(pp, KFK_ERR_NOT_LEADER_OR_FOLLOWER, NULL);
	}
	kfk_pp_checked(pp, t);
}

/* Sends PP to the worker thread, to be checked (and recompressed) there
 * in line behind P's produces there. Returns 0, or -1 when no worker can
 * start (the caller does it on the loop). */
static int kfk_pp_to_worker(kfk_pp_t *pp, kfk_part_t *p)
{
	kfk_srv_t *s = pp->ps->req->srv;
	int r;

	if (!s->worker && (r = ck_worker_new(s->base, "kfk-compress", &s->worker)) < 0) {
		ck_log(CK_LOG_WARN, "no worker thread, recompressing on the loop: %s",
		       ck_strerror(r));
		return -1;
	}
	pp->work.run = kfk_pp_work_run;
	pp->work.done = kfk_pp_work_done;
	pp->in_line = p;
	p->work_queued++;
	pp->state = KFK_PP_WORKING;
	ck_worker_submit(s->worker, &pp->work);
	return 0;
}

/* The rest of PP's start with its topic T, its records recompressed
 * (RECOMPRESSED: kfk_batches_recompress's result in PP's RC and OUT):
 * the batch header, the ISR, the append. */
static void kfk_pp_finish(kfk_pp_t *pp, const kfk_topic_t *t, bool recompressed)
{
	kfk_srv_t *s = pp->ps->req->srv;
	const kfk_pmeta_t *pm = &t->parts[pp->partition];
	const char *reason = NULL;
	int16_t err = KFK_ERR_NONE;
	kfk_part_t *p;
	int32_t isr;

	if (recompressed)
		err = kfk_pp_recompressed(pp, t, pp->rc, &reason);
	if (err == KFK_ERR_NONE && !t->cfg.log_append_time)
		err = kfk_pp_create_time(pp, &pp->info);
	if (err != KFK_ERR_NONE)
		return kfk_pp_reject(pp, err, reason);
	p = kfk_part_use(s, t, pp->partition);
	if (p && p->known && !kfk_part_leads(s, p))
		return kfk_pp_done(pp, KFK_ERR_NOT_LEADER_OR_FOLLOWER,
		                   NULL); /* not yet, or no more */
	/* The replicator's ISR is the newer one, once it has read any. */
	isr = p && p->known && p->isr_size > 0 ? p->isr_size : pm->nisr;
	err = kfk_produce_isr_check(pp->ps->acks, isr, t->cfg.min_insync_replicas);
	if (err != KFK_ERR_NONE)
		return kfk_pp_done(pp, err, "fewer in-sync replicas than min.insync.replicas");
	pp->deletions = p ? p->deletions : 0;
	pp->min_isr = t->cfg.min_insync_replicas;
	kfk_pp_append(pp, t, pm, p);
}

static void kfk_ptopic_start(kfk_ptopic_t *pt)
{
	kfk_req_t *req = pt->ps->req;
	kfk_pp_t *first = &pt->ps->pps[pt->first];
	kfk_topic_t *t = NULL;
	int r;

	kfk_meta_refresh(req->srv);
	r = kfk_meta_topic(req->srv, kfk_str(first->topic), &t);
	for (int32_t i = 0; i < pt->n; i++) {
		kfk_pp_t *pp = &pt->ps->pps[pt->first + i];

		if (r <= 0)
			kfk_pp_done(pp,
			            r < 0 ? KFK_ERR_UNKNOWN_SERVER_ERROR
			                  : KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION,
			            NULL);
		else
			kfk_pp_start(pp, t);
	}
}

/* A topic entry: known topics start now. An unknown one is not created
 * (Kafka creates topics from Metadata requests only, which the clients'
 * allow.auto.create.topics governs): a producer writing on while its
 * topic is deleted would bring it back at once, in the default layout,
 * and the operator could not create it again in another. */
static void kfk_ptopic_dispatch(kfk_ptopic_t *pt)
{
	kfk_req_t *req = pt->ps->req;
	kfk_srv_t *s = req->srv;
	char name[CK_TOPIC_NAME_MAX + 1];
	kfk_topic_t *t = NULL;
	int16_t err;

	if (pt->n == 0)
		return;
	/* The whole name: "t\0x" must not reach topic t. */
	if (kfk_meta_topic(s, pt->name, &t) != 0) {
		kfk_ptopic_start(pt);
		return;
	}
	err = kfk_topic_name_check(pt->name, name, NULL, 0);
	for (int32_t i = 0; i < pt->n; i++)
		kfk_pp_done(&pt->ps->pps[pt->first + i],
		            err != KFK_ERR_NONE ? KFK_ERR_INVALID_TOPIC_EXCEPTION
		                                : KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION,
		            NULL);
}

/* Lays out per-partition state mirroring the request. */
static int kfk_prod_layout(kfk_req_t *req, kfk_pstate_t *ps)
{
	const kfk_produce_request_t *rq = req->body;
	int32_t k = 0;

	for (int32_t t = 0; t < rq->topic_data.count; t++)
		ps->npp += rq->topic_data.items[t].partition_data.count;
	ps->pps = kfk_req_alloc(req, (size_t)ps->npp, sizeof(*ps->pps));
	ps->topics = kfk_req_alloc(req, (size_t)rq->topic_data.count, sizeof(*ps->topics));
	if (!ps->pps || !ps->topics)
		return -1;
	for (int32_t t = 0; t < rq->topic_data.count; t++) {
		const kfk_produce_request_topic_produce_data_t *td = &rq->topic_data.items[t];
		char *name = kfk_req_strdup(req, td->name);

		if (!name)
			return -1;
		ps->topics[t] = (kfk_ptopic_t){ps, k, td->partition_data.count, td->name};
		for (int32_t i = 0; i < td->partition_data.count; i++, k++) {
			kfk_pp_t *pp = &ps->pps[k];

			pp->w.fn = kfk_pp_woken;
			pp->ps = ps;
			pp->topic = name;
			pp->partition = td->partition_data.items[i].index;
			pp->records = td->partition_data.items[i].records;
			pp->base_offset = pp->last_offset = pp->log_start = -1;
			pp->log_append_time = -1;
		}
	}
	return 0;
}

void kfk_h_produce(kfk_req_t *req)
{
	const kfk_produce_request_t *rq = req->body;
	kfk_pstate_t *ps = kfk_req_alloc(req, 1, sizeof(*ps));
	int16_t acks_err = kfk_produce_acks_check(rq->acks);

	if (!ps) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	req->hstate = ps;
	req->hstate_free = kfk_prod_state_free;
	req->on_orphan = kfk_prod_orphan;
	ps->req = req;
	ps->acks = acks_err == KFK_ERR_NONE ? rq->acks : KFK_ACKS_LEADER;
	if (kfk_prod_layout(req, ps) < 0) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	ps->pending = ps->npp + 1;
	if (acks_err != KFK_ERR_NONE) {
		for (int32_t i = 0; i < ps->npp; i++)
			kfk_pp_done(&ps->pps[i], acks_err, NULL);
	} else {
		/* acks=1 arms its timer only if a partition waits for the HW. */
		if (ps->acks == KFK_ACKS_ALL)
			(void)kfk_prod_arm(ps, rq->timeout_ms > 0 ? rq->timeout_ms : 0);
		kfk_meta_refresh(req->srv);
		for (int32_t t = 0; t < rq->topic_data.count; t++)
			kfk_ptopic_dispatch(&ps->topics[t]);
	}
	if (--ps->pending == 0)
		kfk_prod_respond(ps);
}
