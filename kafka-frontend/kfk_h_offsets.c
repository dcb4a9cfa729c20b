/*
 * kfk_h_offsets.c: the ListOffsets API, versions 0-7, and
 * OffsetForLeaderEpoch, versions 0-4 (shell handlers of
 * chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. -1 (latest) is the high watermark the
 * replicator pushed, -2 (earliest) the log start offset, -3 (max
 * timestamp, v7) the first record with the highest timestamp (found by
 * walking batch headers: rarely asked, never on a hot path), -4 (earliest
 * local) the log start, -5 (latest tiered) no offset; any other timestamp,
 * negative ones too (Kafka searches for those alike),
 * looks up the time index (ck_segment_find_time) and returns the first
 * record at or after it, compressed batches decompressed to find it.
 * Nothing below the log start (DeleteRecords leaves the records before it
 * in their segment; Kafka's fetchOffsetByTimestamp searches from the
 * logStartOffset) or at or beyond the high watermark is ever returned.
 * v0 answers with a one-element old_style_offsets array. A partition led
 * here that the replicator has not described yet (the first request
 * touching it) is waited for, at most KFK_AWAIT_KNOWN_MS, then
 * NOT_LEADER_OR_FOLLOWER.
 * OffsetForLeaderEpoch (KIP-101/320: a consumer checks after a leader
 * change that the log it read from was not truncated) is answered by the
 * partition's leader with kfk_epoch_core's rules, finding where an older
 * epoch ends with ck_seglog's binary search over batch headers.
 * Not for: consumer group offsets (a later issue).
 */
#define CK_LOG_SUBSYSTEM "offsets"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "ck_log.h"
#include "ck_seglog.h"
#include "kfk_admin_core.h"
#include "kfk_decompress.h"
#include "kfk_epoch_core.h"
#include "kfk_errors.h"
#include "kfk_srv.h"

#define KFK_TS_LATEST        (-1)
#define KFK_TS_EARLIEST      (-2)
#define KFK_TS_MAX_TIMESTAMP (-3)
#define KFK_TS_EARLIEST_LOCAL (-4) /* KIP-405: no tiered storage here */
#define KFK_TS_LATEST_TIERED  (-5) /* KIP-1005: nothing tiered, no offset */

typedef struct {
	int16_t err;
	int64_t offset;
	int64_t timestamp;
	int32_t leader_epoch;
} kfk_lo_result_t;

/* Of the records at or after MIN (the log start) of the batch at POS
 * (header HDR), the first with timestamp >= TS into *RES, or with TS =
 * KFK_TS_MAX_TIMESTAMP the first with the greatest timestamp; a compressed
 * batch's records are decompressed to find it, as Kafka does. Returns
 * false when no record qualifies. A batch with LogAppendTime (every record
 * has the batch's timestamp), or one that cannot be read, answers its first
 * offset at or after MIN with its maxTimestamp. */
static bool kfk_lo_in_batch(const ck_segment_t *seg, uint64_t pos, const ck_batch_header_t *hdr,
                            int64_t ts, int64_t min, kfk_lo_result_t *res)
{
	size_t total = ck_batch_total_len(hdr);
	int codec = hdr->attributes & CK_BATCH_ATTR_COMPRESSION_MASK;
	ck_buf_t plain = CK_BUF_INIT;
	bool ok, found = false;
	ck_record_iter_t it;
	ck_record_t rec;
	uint8_t *buf;

	res->offset = CK_MAX(hdr->base_offset, min);
	res->timestamp = hdr->max_timestamp;
	res->leader_epoch = hdr->partition_leader_epoch;
	if ((hdr->attributes & CK_BATCH_ATTR_LOG_APPEND_TIME) || total > ((size_t)64 << 20) ||
	    total < CK_BATCH_HEADER_LEN)
		return true;
	buf = malloc(total);
	if (!buf)
		return true;
	ok = pread(seg->log_fd, buf, total, (off_t)pos) == (ssize_t)total;
	if (ok && codec) {
		ok = kfk_decompress(codec, buf + CK_BATCH_HEADER_LEN, total - CK_BATCH_HEADER_LEN,
		                    KFK_DECOMPRESS_MAX, &plain) == 0;
		if (ok)
			ck_record_iter_init_records(&it, hdr, plain.data, plain.len);
	} else if (ok) {
		ok = ck_record_iter_init(&it, buf, total) == 0;
	}
	while (ok && ck_record_iter_next(&it, &rec) == 1) {
		if (rec.offset < min || (found && rec.timestamp_ms <= res->timestamp))
			continue;
		if (ts == KFK_TS_MAX_TIMESTAMP || rec.timestamp_ms >= ts) {
			res->offset = rec.offset;
			res->timestamp = rec.timestamp_ms;
			found = true;
			if (ts != KFK_TS_MAX_TIMESTAMP)
				break;
		}
	}
	ck_buf_free(&plain);
	free(buf);
	return found || !ok;
}

/* A private copy of P's segment bases (fresh listing). */
static int kfk_lo_bases(kfk_srv_t *s, kfk_part_t *p, int64_t **ret)
{
	const int64_t *bases;
	int n, r = kfk_part_bases(s, p, &bases, &n);

	*ret = NULL;
	if (r < 0 || n <= 0)
		return r < 0 ? r : 0;
	*ret = malloc((size_t)n * sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		(*ret)[i] = bases[i];
	return n;
}

/* Where to start reading segment SEG of P: the batch holding the log
 * start when it lies in SEG (the records before it are deleted). Returns 1
 * and *RET_POS, 0 when no batch of SEG reaches the log start, or an error. */
static int kfk_lo_seg_start(const ck_segment_t *seg, const kfk_part_t *p, uint64_t *ret_pos)
{
	*ret_pos = 0;
	if (seg->base_offset >= p->log_start)
		return 1;
	return ck_segment_find(seg, p->log_start, UINT64_MAX, ret_pos, NULL);
}

/* Whether segment I of BASES (N of them) can hold records at or after the
 * log start and below the high watermark of P. */
static bool kfk_lo_seg_live(const kfk_part_t *p, const int64_t *bases, int n, int i)
{
	return (i + 1 >= n || bases[i + 1] > p->log_start) && bases[i] < p->hw;
}

/* In SEG: the first record at or after the log start and below the high
 * watermark with timestamp >= TS (Kafka's fetchOffsetByTimestamp searches
 * from the logStartOffset). Returns 1 with *RES, 0 when none, or an error. */
static int kfk_lo_seg_by_time(const ck_segment_t *seg, const kfk_part_t *p, int64_t ts,
                              kfk_lo_result_t *res)
{
	ck_segment_iter_t it;
	ck_batch_header_t hdr;
	uint64_t pos, from;
	int r = ck_segment_find_time(seg, ts, UINT64_MAX, &pos, &hdr);

	if (r == 1)
		r = kfk_lo_seg_start(seg, p, &from);
	if (r != 1)
		return r;
	r = ck_segment_iter_init(&it, seg, CK_MAX(pos, from), UINT64_MAX, p->hw, 0);
	while (r >= 0 && (r = ck_segment_iter_next(&it)) == 1) {
		if (it.hdr.max_timestamp >= ts && ck_batch_last_offset(&it.hdr) >= p->log_start &&
		    kfk_lo_in_batch(seg, it.batch_pos, &it.hdr, ts, p->log_start, res))
			break;
	}
	ck_segment_iter_done(&it);
	return r;
}

static int kfk_lo_by_time(kfk_srv_t *s, kfk_part_t *p, int64_t ts, kfk_lo_result_t *res)
{
	int64_t *bases;
	int n = kfk_lo_bases(s, p, &bases), r = 0;

	for (int i = 0; r == 0 && i < n; i++) {
		ck_segment_t *seg;

		if (!kfk_lo_seg_live(p, bases, n, i))
			continue;
		if (kfk_part_segment(s, p, bases[i], &seg) != 1)
			continue; /* deleted by retention meanwhile */
		r = kfk_lo_seg_by_time(seg, p, ts, res);
	}
	free(bases);
	return n < 0 ? n : CK_MIN(r, 0);
}

/* The first record with the greatest timestamp at or after the log start
 * and below the high watermark: the batch with the greatest maxTimestamp
 * (the one holding the log start counts its records from there only), then
 * the record within it. */
static int kfk_lo_max_ts(kfk_srv_t *s, kfk_part_t *p, kfk_lo_result_t *res)
{
	int64_t best = INT64_MIN, best_base = -1;
	ck_batch_header_t best_hdr;
	uint64_t best_pos = 0;
	int64_t *copy;
	ck_segment_t *seg;
	int n = kfk_lo_bases(s, p, &copy), r = 0;

	if (n <= 0)
		return n;
	for (int i = 0; r >= 0 && i < n; i++) {
		ck_segment_iter_t it;
		uint64_t from;

		if (!kfk_lo_seg_live(p, copy, n, i) || kfk_part_segment(s, p, copy[i], &seg) != 1)
			continue;
		r = kfk_lo_seg_start(seg, p, &from);
		if (r != 1)
			continue;
		r = ck_segment_iter_init(&it, seg, from, UINT64_MAX, p->hw, 0);
		while (r >= 0 && (r = ck_segment_iter_next(&it)) == 1) {
			int64_t top = it.hdr.max_timestamp;
			kfk_lo_result_t part;

			if (it.hdr.base_offset < p->log_start)
				top = kfk_lo_in_batch(seg, it.batch_pos, &it.hdr,
				                      KFK_TS_MAX_TIMESTAMP, p->log_start, &part)
				          ? part.timestamp
				          : INT64_MIN;
			if (top > best) {
				best = top;
				best_base = copy[i];
				best_pos = it.batch_pos;
				best_hdr = it.hdr;
			}
		}
		ck_segment_iter_done(&it);
	}
	free(copy);
	if (r >= 0 && best_base >= 0 && kfk_part_segment(s, p, best_base, &seg) == 1)
		(void)kfk_lo_in_batch(seg, best_pos, &best_hdr, best, p->log_start, res);
	return r < 0 ? r : 0;
}

/* The partition PARTITION of T as led here by the epoch CURRENT the client
 * names (-1: any); NULL with *ERR set when it is not. One the replicator
 * has not described yet makes REQ wait to run HANDLER again (bounded,
 * kfk_req_await_part) and is NOT_LEADER_OR_FOLLOWER in this run. */
static kfk_part_t *kfk_led_part(kfk_req_t *req, void (*handler)(kfk_req_t *req),
                                const kfk_topic_t *t, int32_t partition, int32_t current,
                                int16_t *err)
{
	kfk_srv_t *s = req->srv;
	const kfk_pmeta_t *pm;
	kfk_part_t *p;

	if (!t || partition < 0 || partition >= t->npart) {
		*err = KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		return NULL;
	}
	pm = &t->parts[partition];
	/* The client's epoch first, as Kafka's replicas check it before
	 * whether they lead. */
	if (current >= 0 && current != pm->leader_epoch) {
		*err = current < pm->leader_epoch ? KFK_ERR_FENCED_LEADER_EPOCH
		                                  : KFK_ERR_UNKNOWN_LEADER_EPOCH;
		return NULL;
	}
	if (!kfk_leads(s, pm)) {
		*err = KFK_ERR_NOT_LEADER_OR_FOLLOWER;
		return NULL;
	}
	p = kfk_part_use(s, t, partition);
	if (!p || !p->known) {
		(void)kfk_req_await_part(req, p, handler);
		*err = KFK_ERR_NOT_LEADER_OR_FOLLOWER;
		return NULL;
	}
	return p;
}

static void kfk_lo_partition(kfk_req_t *req, const kfk_topic_t *t, int32_t partition, int32_t epoch,
                             int64_t ts, kfk_lo_result_t *res)
{
	kfk_srv_t *s = req->srv;
	kfk_part_t *p;
	int r = 0;

	res->offset = res->timestamp = -1;
	res->leader_epoch = -1;
	res->err = KFK_ERR_NONE;
	p = kfk_led_part(req, kfk_h_list_offsets, t, partition, epoch, &res->err);
	if (!p)
		return;
	if (ts == KFK_TS_LATEST || ts == KFK_TS_EARLIEST || ts == KFK_TS_EARLIEST_LOCAL) {
		res->offset = ts == KFK_TS_LATEST ? p->hw : p->log_start;
		res->leader_epoch = p->leader_epoch;
		return;
	}
	/* Any other timestamp, negative too, is searched for, as Kafka's
	 * fetchOffsetByTimestamp does: the first record from the log start. */
	if (ts == KFK_TS_MAX_TIMESTAMP)
		r = kfk_lo_max_ts(s, p, res);
	else if (ts != KFK_TS_LATEST_TIERED)
		r = kfk_lo_by_time(s, p, ts, res);
	if (r < 0) {
		ck_log(CK_LOG_WARN, "offset lookup failed topic=%s partition=%d: %s", t->name,
		       (int)partition, ck_strerror(r));
		res->err = KFK_ERR_KAFKA_STORAGE_ERROR;
		res->offset = res->timestamp = -1;
	}
}

/* Marks in *RET (one flag per partition entry, in request order) the
 * partitions RQ names more than once; NULL for v0 (which Kafka answers
 * per copy). Returns 0 or -ENOMEM. */
static int kfk_lo_dups(kfk_req_t *req, const kfk_list_offsets_request_t *rq, uint8_t **ret)
{
	size_t n = 0, k = 0;
	kfk_str_t *names;
	int32_t *parts;

	*ret = NULL;
	if (req->api_version < 1)
		return 0;
	for (int32_t t = 0; t < rq->topics.count; t++)
		n += (size_t)CK_MAX(rq->topics.items[t].partitions.count, 0);
	names = kfk_req_alloc(req, n + 1, sizeof(*names));
	parts = kfk_req_alloc(req, n + 1, sizeof(*parts));
	*ret = kfk_req_alloc(req, n + 1, 1);
	if (!names || !parts || !*ret)
		return -ENOMEM;
	for (int32_t t = 0; t < rq->topics.count; t++) {
		for (int32_t i = 0; i < rq->topics.items[t].partitions.count; i++, k++) {
			names[k] = rq->topics.items[t].name;
			parts[k] = rq->topics.items[t].partitions.items[i].partition_index;
		}
	}
	return kfk_parts_dups(names, parts, n, *ret);
}

void kfk_h_list_offsets(kfk_req_t *req)
{
	const kfk_list_offsets_request_t *rq = req->body;
	kfk_list_offsets_response_t resp;
	kfk_srv_t *s = req->srv;
	uint8_t *dups;
	size_t k = 0;

	kfk_meta_refresh(s);
	if (kfk_lo_dups(req, rq, &dups) < 0)
		goto oom;
	kfk_list_offsets_response_init(&resp);
	resp.topics.count = rq->topics.count;
	resp.topics.items =
	    kfk_req_alloc(req, (size_t)rq->topics.count, sizeof(*resp.topics.items));
	if (!resp.topics.items)
		goto oom;
	for (int32_t t = 0; t < rq->topics.count; t++) {
		const kfk_list_offsets_request_list_offsets_topic_t *it = &rq->topics.items[t];
		kfk_list_offsets_response_list_offsets_topic_response_t *ot = &resp.topics.items[t];
		kfk_topic_t *topic = NULL;

		if (kfk_meta_topic(s, it->name, &topic) <= 0)
			topic = NULL;
		kfk_list_offsets_response_list_offsets_topic_response_init(ot);
		ot->name = it->name;
		ot->partitions.count = it->partitions.count;
		ot->partitions.items =
		    kfk_req_alloc(req, (size_t)it->partitions.count, sizeof(*ot->partitions.items));
		if (!ot->partitions.items)
			goto oom;
		for (int32_t i = 0; i < it->partitions.count; i++) {
			const kfk_list_offsets_request_list_offsets_partition_t *ip =
			    &it->partitions.items[i];
			kfk_list_offsets_response_list_offsets_partition_response_t *op =
			    &ot->partitions.items[i];
			kfk_lo_result_t res = {.offset = -1, .timestamp = -1, .leader_epoch = -1};

			/* A partition named twice: every copy INVALID_REQUEST, as
			 * Kafka answers (v1+). */
			if (dups && dups[k++] != KFK_NAME_UNIQUE)
				res.err = KFK_ERR_INVALID_REQUEST;
			else
				kfk_lo_partition(req, topic, ip->partition_index,
				                 ip->current_leader_epoch, ip->timestamp, &res);
			kfk_list_offsets_response_list_offsets_partition_response_init(op);
			op->partition_index = ip->partition_index;
			op->error_code = res.err;
			op->offset = res.offset;
			op->timestamp = res.timestamp;
			op->leader_epoch = res.leader_epoch;
			if (req->api_version == 0 && res.err == KFK_ERR_NONE && res.offset >= 0) {
				op->old_style_offsets.items =
				    kfk_req_alloc(req, 1, sizeof(int64_t));
				if (!op->old_style_offsets.items)
					goto oom;
				op->old_style_offsets.items[0] = res.offset;
				op->old_style_offsets.count = 1;
			}
		}
	}
	if (kfk_req_awaiting(req))
		return;
	kfk_req_respond(req, &resp);
	return;
oom:
	kfk_req_fail_conn(req, "out of memory");
}

/* ---- OffsetForLeaderEpoch ---- */

static void
kfk_ole_partition(kfk_req_t *req, const kfk_topic_t *t,
                  const kfk_offset_for_leader_epoch_request_offset_for_leader_partition_t *in,
                  kfk_offset_for_leader_epoch_response_epoch_end_offset_t *out)
{
	kfk_srv_t *s = req->srv;
	kfk_epoch_end_t a = {-1, -1};
	int64_t leo, end = -1, base, last;
	int32_t prev = -1;
	kfk_part_t *p;
	int r;

	out->partition = in->partition;
	out->error_code = KFK_ERR_NONE;
	p = kfk_led_part(req, kfk_h_offset_for_leader_epoch, t, in->partition,
	                 in->current_leader_epoch, &out->error_code);
	if (!p)
		return;
	leo = CK_MAX(p->leo, p->hw);
	if (!kfk_epoch_end_direct(in->leader_epoch, t->parts[in->partition].leader_epoch, leo,
	                          &a)) {
		r = ck_seglog_epoch_end(s->cfg->data_dir, t->name, in->partition, p->log_start, leo,
		                        in->leader_epoch, &end);
		if (r == 0 && end > p->log_start &&
		    ck_seglog_batch_at(s->cfg->data_dir, t->name, in->partition, end - 1, &prev,
		                       &base, &last) == 1 &&
		    base > end - 1)
			prev = -1; /* not the batch holding END - 1 */
		if (r < 0) {
			ck_log(CK_LOG_WARN, "leader epoch lookup failed topic=%s partition=%d: %s",
			       t->name, (int)in->partition, ck_strerror(r));
			out->error_code = KFK_ERR_KAFKA_STORAGE_ERROR;
			return;
		}
		kfk_epoch_end_found(in->leader_epoch, p->log_start, end, prev, &a);
	}
	out->leader_epoch = a.epoch;
	out->end_offset = a.end_offset;
}

void kfk_h_offset_for_leader_epoch(kfk_req_t *req)
{
	const kfk_offset_for_leader_epoch_request_t *rq = req->body;
	kfk_offset_for_leader_epoch_response_t resp;
	kfk_srv_t *s = req->srv;

	kfk_meta_refresh(s);
	kfk_offset_for_leader_epoch_response_init(&resp);
	resp.topics.count = rq->topics.count;
	resp.topics.items =
	    kfk_req_alloc(req, (size_t)rq->topics.count, sizeof(*resp.topics.items));
	if (!resp.topics.items)
		goto oom;
	for (int32_t i = 0; i < rq->topics.count; i++) {
		const kfk_offset_for_leader_epoch_request_offset_for_leader_topic_t *it =
		    &rq->topics.items[i];
		kfk_offset_for_leader_epoch_response_offset_for_leader_topic_result_t *ot =
		    &resp.topics.items[i];
		kfk_topic_t *topic = NULL;

		if (kfk_meta_topic(s, it->topic, &topic) <= 0)
			topic = NULL;
		kfk_offset_for_leader_epoch_response_offset_for_leader_topic_result_init(ot);
		ot->topic = it->topic;
		ot->partitions.count = it->partitions.count;
		ot->partitions.items =
		    kfk_req_alloc(req, (size_t)it->partitions.count, sizeof(*ot->partitions.items));
		if (!ot->partitions.items)
			goto oom;
		for (int32_t k = 0; k < it->partitions.count; k++) {
			kfk_offset_for_leader_epoch_response_epoch_end_offset_init(
			    &ot->partitions.items[k]);
			kfk_ole_partition(req, topic, &it->partitions.items[k],
			                  &ot->partitions.items[k]);
		}
	}
	if (kfk_req_awaiting(req))
		return;
	kfk_req_respond(req, &resp);
	return;
oom:
	kfk_req_fail_conn(req, "out of memory");
}
