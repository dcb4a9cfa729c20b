/*
 * kfk_h_fetch.c: the Fetch API for consumers, versions 0-12 (shell handler
 * of chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. Records are read from the segment files
 * directly (ck_segment) and never beyond the high watermark the replicator
 * pushed. OFFSET_OUT_OF_RANGE only below the log start or past the log end
 * offset (kfk_fetch_at: [HW, LEO] is empty, no error, as in Kafka); the
 * log end the replicator pushed lags appends that move no high watermark,
 * so an offset past it is looked up in the segment files. The response
 * is written as encoded bytes + file ranges (sent with sendfile) + encoded
 * bytes (kfk_fetch_core.h). Sizing follows KIP-74
 * (kfk_fetch_part_limit / kfk_fetch_range_take). A fetch without enough
 * data waits up to max_wait_ms for min_bytes, woken by every PartitionState
 * change of its partitions; one of them deleted here meanwhile (its
 * deletion count moved) answers UNKNOWN_TOPIC_OR_PARTITION at once. Fetch
 * sessions (KIP-227) are not offered: session_id 0 in every response. As
 * in Kafka, a full fetch (epoch 0, which asks for a session, or -1, which
 * closes one or goes without) is served whatever session it names, and an
 * incremental one (any other epoch) gets FETCH_SESSION_ID_NOT_FOUND: no
 * session is held, session 0 included.
 * preferred_read_replica is always -1.
 * Versions 0-3 predate RecordBatch v2: their clients get the records read
 * into memory and converted down (kfk_legacy.h; magic 0 for v0-1, magic 1
 * for v2-3), at most KFK_FETCH_LEGACY_MAX bytes of log per response,
 * converted up to partition_max_bytes a partition (at least twice its
 * bytes of log), KFK_FETCH_LEGACY_OUT_MAX in all.
 * Versions 0-9 predate zstd (KIP-110): a partition of a topic whose
 * compression.type is zstd answers them UNSUPPORTED_COMPRESSION_TYPE, as
 * Kafka does.
 * Not for: follower replication (the replicator's own protocol on 9291).
 */
#define CK_LOG_SUBSYSTEM "fetch"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_err.h"
#include "ck_log.h"
#include "kfk_errors.h"
#include "kfk_fetch_core.h"
#include "kfk_legacy.h"
#include "kfk_srv.h"

#define KFK_ERR_FETCH_SESSION_ID_NOT_FOUND 70
/* Segments a single partition read may step over (empty or rolled). */
#define KFK_FETCH_SEGMENT_HOPS 8
/* The first version whose clients read RecordBatch v2. */
#define KFK_FETCH_V2_VERSION 4
/* Log bytes one response of versions 0-3 reads into memory and converts
 * (held in memory until written, unlike sendfile's ranges: a connection's
 * pipelined fetches could otherwise hold max_inflight_requests times more). */
#define KFK_FETCH_LEGACY_MAX ((int64_t)1 << 20)
/* Kafka's broker fetch.max.bytes (55 MiB): a consumer's max_bytes above it
 * is capped to it. Without the cap a fetch of ~2 GiB (librdkafka takes
 * fetch.max.bytes up to 2147483135) gave an answer too large to frame,
 * the connection closed, and the consumer never got on. */
#define KFK_FETCH_BROKER_MAX ((int64_t)55 << 20)
/* Converted message bytes one such response holds: compressed batches are
 * sent as plain messages, up to each partition's partition_max_bytes
 * (Kafka keeps their compression; converting just twice the stored bytes
 * gave a pinned client a few KiB of well-compressed records per fetch). */
#define KFK_FETCH_LEGACY_OUT_MAX ((size_t)8 << 20)

typedef struct kfk_fstate kfk_fstate_t;

typedef struct {
	kfk_waiter_t w; /* first member */
	kfk_fstate_t *fs;
	char *topic;
	int32_t partition;
	int64_t offset;
	int32_t part_max;
	int32_t leader_epoch; /* current_leader_epoch asked, -1 none */
	int16_t err;          /* decided up front */
	bool counted;         /* deletions below was read at the resolution */
	uint32_t deletions;   /* the partition's count of deletions then */
	/* Evaluation results. */
	int16_t res_err;
	bool unknown; /* no PartitionState yet */
	int64_t hw, log_start;
	int range_fd;
	uint64_t range_pos, range_len;
	ck_buf_t legacy; /* versions 0-3: the range converted down */
} kfk_fp_t;

struct kfk_fstate {
	kfk_req_t *req;
	kfk_fp_t *fps;
	int32_t n;
	struct event *timer;
	bool expired;
	bool responding;
	int16_t top_err;
};

static void kfk_fp_clear(kfk_fp_t *fp)
{
	if (fp->range_fd >= 0)
		(void)close(fp->range_fd);
	fp->range_fd = -1;
	fp->range_len = 0;
	ck_buf_free(&fp->legacy);
}

static void kfk_fetch_state_free(kfk_req_t *req)
{
	kfk_fstate_t *fs = req->hstate;

	if (!fs)
		return;
	for (int32_t i = 0; i < fs->n; i++) {
		kfk_waiter_del(&fs->fps[i].w);
		kfk_fp_clear(&fs->fps[i]);
	}
	if (fs->timer)
		event_free(fs->timer);
	fs->timer = NULL;
}

/* Reads the range of FP within LIMIT. Returns a Kafka error. */
static int16_t kfk_fp_read(kfk_srv_t *s, kfk_fp_t *fp, kfk_part_t *p, uint64_t limit, bool first)
{
	ck_segment_range_t rg;
	ck_segment_t *seg;
	int r = kfk_part_segment(s, p, fp->offset, &seg);

	for (int hop = 0; r == 1 && hop < KFK_FETCH_SEGMENT_HOPS; hop++) {
		r = ck_segment_range(seg, fp->offset, fp->hw, UINT64_MAX, limit ? limit : 1, 0,
		                     &rg);
		if (r == 1)
			break;
		if (r < 0)
			break;
		/* Nothing at or after OFFSET in this segment: the next one. */
		r = kfk_part_segment_next(s, p, seg->base_offset, &seg);
	}
	if (r == 0) {
		if (p->nbases == 0)
			return KFK_ERR_NOT_LEADER_OR_FOLLOWER; /* no log here (yet) */
		/* Below the first segment: retention removed it meanwhile. */
		return fp->offset < p->bases[0] ? KFK_ERR_OFFSET_OUT_OF_RANGE : KFK_ERR_NONE;
	}
	if (r < 0) {
		ck_log(CK_LOG_WARN, "cannot read topic=%s partition=%d offset=%lld: %s", fp->topic,
		       (int)fp->partition, (long long)fp->offset, ck_strerror(r));
		return r == CK_E_CORRUPT ? KFK_ERR_CORRUPT_MESSAGE : KFK_ERR_KAFKA_STORAGE_ERROR;
	}
	if (!kfk_fetch_range_take(rg.length, rg.batches, limit, first))
		return KFK_ERR_NONE;
	fp->range_fd = fcntl(rg.fd, F_DUPFD_CLOEXEC, 0);
	if (fp->range_fd < 0)
		return KFK_ERR_KAFKA_STORAGE_ERROR;
	fp->range_pos = rg.position;
	fp->range_len = rg.length;
	return KFK_ERR_NONE;
}

/* Whether the log of P reaches OFFSET (its log end offset is at least
 * OFFSET): a batch holds OFFSET - 1 or a later offset, or a later segment
 * starts at or past OFFSET (walwriter starts one at the log end, never
 * beyond it). Returns 1, 0, CK_E_CORRUPT or -errno. */
static int kfk_fp_log_reaches(kfk_srv_t *s, kfk_part_t *p, int64_t offset)
{
	ck_segment_t *seg;
	uint64_t pos;
	int r = kfk_part_segment(s, p, offset - 1, &seg);

	if (r != 1)
		return r;
	r = ck_segment_find(seg, offset - 1, UINT64_MAX, &pos, NULL);
	if (r != 0)
		return r;
	return kfk_part_segment_next(s, p, seg->base_offset, &seg);
}

/* Where FP's offset stands in P (kfk_fetch_at); KFK_ERR_* in *RET_ERR
 * when the log cannot be read. */
static kfk_fetch_at_t kfk_fp_at(kfk_srv_t *s, kfk_fp_t *fp, kfk_part_t *p, int16_t *ret_err)
{
	kfk_fetch_at_t at = kfk_fetch_at(fp->offset, p->log_start, p->hw, p->leo);
	int r;

	if (at != KFK_FETCH_AT_PAST_SEEN)
		return at;
	r = kfk_fp_log_reaches(s, p, fp->offset);
	if (r < 0) {
		ck_log(CK_LOG_WARN, "cannot find the log end topic=%s partition=%d: %s", fp->topic,
		       (int)fp->partition, ck_strerror(r));
		*ret_err =
		    r == CK_E_CORRUPT ? KFK_ERR_CORRUPT_MESSAGE : KFK_ERR_KAFKA_STORAGE_ERROR;
		return KFK_FETCH_AT_EMPTY;
	}
	return kfk_fetch_at_end(r == 1);
}

/* One partition's state for this evaluation. */
static void kfk_fp_eval(kfk_srv_t *s, kfk_fp_t *fp, int64_t *total_left, bool *first, bool final)
{
	kfk_part_t *p;

	kfk_fp_clear(fp);
	fp->res_err = fp->err;
	fp->unknown = false;
	fp->hw = fp->log_start = -1;
	if (fp->err != KFK_ERR_NONE)
		return;
	p = kfk_part_get(s, fp->topic, fp->partition, false);
	if (p && fp->counted && p->deletions != fp->deletions) {
		/* Deleted here since the request came (the topic deleted, or
		 * this replica moved away): answered at once, as Kafka does. */
		fp->res_err = KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		return;
	}
	if (!p || !p->known) {
		/* The replicator has not described it yet: wait, then let the
		 * client retry after refreshing its metadata. */
		fp->unknown = true;
		fp->res_err = final ? KFK_ERR_NOT_LEADER_OR_FOLLOWER : KFK_ERR_NONE;
		return;
	}
	/* Self-fenced (kfk_srv.h): the controller may have moved it, and what
	 * is appended there from now on is not here. */
	if (!kfk_part_leads(s, p)) {
		fp->res_err = KFK_ERR_NOT_LEADER_OR_FOLLOWER;
		return;
	}
	fp->hw = p->hw;
	fp->log_start = p->log_start;
	switch (kfk_fp_at(s, fp, p, &fp->res_err)) {
	case KFK_FETCH_AT_READ:
		break;
	case KFK_FETCH_AT_OUT_OF_RANGE:
		fp->res_err = KFK_ERR_OFFSET_OUT_OF_RANGE;
		return;
	default:
		return; /* nothing committed there yet */
	}
	uint64_t limit = kfk_fetch_part_limit(*total_left, fp->part_max);
	if (limit == 0 && !*first)
		return;
	fp->res_err = kfk_fp_read(s, fp, p, limit, *first);
	if (fp->range_len > 0) {
		*total_left -= (int64_t)fp->range_len;
		*first = false;
	}
}

/* Evaluates every partition. Returns the record bytes found; *RET_ERR
 * tells whether some partition has an error. */
static uint64_t kfk_fetch_eval(kfk_fstate_t *fs, bool final, bool *ret_err)
{
	const kfk_fetch_request_t *rq = fs->req->body;
	int64_t left = rq->max_bytes > 0 ? CK_MIN((int64_t)rq->max_bytes, KFK_FETCH_BROKER_MAX) : 0;
	uint64_t bytes = 0;
	bool first = true;

	*ret_err = false;
	if (fs->req->api_version < KFK_FETCH_V2_VERSION)
		left = CK_MIN(left, KFK_FETCH_LEGACY_MAX);
	for (int32_t i = 0; i < fs->n; i++) {
		kfk_fp_eval(fs->req->srv, &fs->fps[i], &left, &first, final);
		bytes += fs->fps[i].range_len;
		if (fs->fps[i].res_err != KFK_ERR_NONE)
			*ret_err = true;
	}
	return bytes;
}

/* Moves the encoded bytes so far into a piece, then FP's file range. */
static int kfk_fetch_emit_range(kfk_req_t *req, ck_buf_t *buf, kfk_fp_t *fp)
{
	int r = kfk_req_piece_mem(req, buf);

	if (r == 0) {
		r = kfk_req_piece_file(req, fp->range_fd, fp->range_pos, fp->range_len);
		fp->range_fd = -1;
	}
	return r;
}

static int kfk_fetch_encode(kfk_fstate_t *fs, ck_buf_t *buf)
{
	kfk_req_t *req = fs->req;
	const kfk_fetch_request_t *rq = req->body;
	kfk_fw_t w;
	size_t start;
	int32_t k = 0;
	int r;

	r = kfk_frame_begin(buf, &start);
	if (r == 0)
		r = kfk_response_header_write(buf, req->api_key, req->api_version,
		                              req->hdr.correlation_id);
	if (r == 0)
		r = kfk_fw_begin(&w, buf, req->api_version, 0, fs->top_err, 0,
		                 fs->top_err ? 0 : rq->topics.count);
	w.read_committed = req->api_version >= 4 && rq->isolation_level == 1;
	for (int32_t t = 0; r == 0 && !fs->top_err && t < rq->topics.count; t++) {
		const kfk_fetch_request_fetch_topic_t *ft = &rq->topics.items[t];

		kfk_fw_topic(&w, ft->topic, ft->partitions.count);
		for (int32_t i = 0; r == 0 && i < ft->partitions.count; i++, k++) {
			kfk_fp_t *fp = &fs->fps[k];
			kfk_fw_part_t part = {fp->partition, fp->res_err,   fp->hw,
			                      fp->hw,        fp->log_start, -1};

			if (req->api_version < KFK_FETCH_V2_VERSION) {
				kfk_fw_partition(&w, &part, (int64_t)fp->legacy.len);
				if (fp->legacy.len > 0 && w.err == 0)
					r = ck_buf_append(buf, fp->legacy.data, fp->legacy.len);
			} else {
				kfk_fw_partition(&w, &part, (int64_t)fp->range_len);
				if (fp->range_len > 0 && w.err == 0)
					r = kfk_fetch_emit_range(req, buf, fp);
			}
			kfk_fw_partition_end(&w);
		}
		kfk_fw_topic_end(&w);
	}
	if (r == 0)
		r = kfk_fw_end(&w);
	if (r == 0)
		r = kfk_req_piece_mem(req, buf);
	if (r == 0 && req->resp_bytes - 4 > INT32_MAX)
		r = CK_E_TOO_LARGE;
	if (r == 0)
		ck_be32_put(req->pieces->data + start, (uint32_t)(req->resp_bytes - 4));
	return r;
}

/* Versions 0-3: FP's range read and converted to a message set of the
 * version's magic, from the fetch offset on, about FULL bytes of it. */
static void kfk_fp_legacy(kfk_fp_t *fp, int16_t version, size_t full)
{
	ck_buf_t raw = CK_BUF_INIT;
	uint8_t *p = ck_buf_extend(&raw, fp->range_len);
	size_t got = 0;
	int r = p ? 0 : -ENOMEM;

	while (r == 0 && got < fp->range_len) {
		ssize_t n =
		    pread(fp->range_fd, p + got, fp->range_len - got, (off_t)(fp->range_pos + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : CK_E_CORRUPT;
		else
			got += (size_t)n;
	}
	if (r == 0)
		r = kfk_legacy_from_batches(raw.data, raw.len, version < 2 ? 0 : 1, fp->offset,
		                            full, &fp->legacy);
	ck_buf_free(&raw);
	if (r < 0 && fp->legacy.len == 0) {
		ck_log(CK_LOG_WARN,
		       "cannot convert topic=%s partition=%d offset=%lld for fetch v%d: %s",
		       fp->topic, (int)fp->partition, (long long)fp->offset, (int)version,
		       ck_strerror(r));
		fp->res_err =
		    r == CK_E_CORRUPT ? KFK_ERR_CORRUPT_MESSAGE : KFK_ERR_KAFKA_STORAGE_ERROR;
	}
	(void)close(fp->range_fd);
	fp->range_fd = -1;
	fp->range_len = 0;
}

static void kfk_fetch_respond(kfk_fstate_t *fs)
{
	kfk_req_t *req = fs->req;
	ck_buf_t buf = CK_BUF_INIT;
	size_t out_left = KFK_FETCH_LEGACY_OUT_MAX;
	int r;

	fs->responding = true;
	for (int32_t i = 0; i < fs->n; i++) {
		kfk_fp_t *fp = &fs->fps[i];

		kfk_waiter_del(&fp->w);
		if (fp->unknown)
			fp->res_err = KFK_ERR_NOT_LEADER_OR_FOLLOWER;
		if (req->api_version < KFK_FETCH_V2_VERSION && fp->range_len > 0) {
			/* Messages take more room than v2 records: at least twice
			 * the range's bytes. */
			size_t part = fp->part_max > 0 ? (size_t)fp->part_max : 0;

			kfk_fp_legacy(fp, req->api_version,
			              CK_MAX(fp->range_len * 2, CK_MIN(part, out_left)));
			out_left -= CK_MIN(out_left, fp->legacy.len);
		}
	}
	if (fs->timer)
		(void)event_del(fs->timer);
	r = kfk_fetch_encode(fs, &buf);
	ck_buf_free(&buf);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot encode fetch response: %s", ck_strerror(r));
		kfk_req_fail_conn(req, "fetch response encoding failed");
		return;
	}
	kfk_req_finish(req);
}

static void kfk_fetch_try(kfk_fstate_t *fs)
{
	const kfk_fetch_request_t *rq = fs->req->body;
	bool any_err;
	uint64_t bytes;

	if (fs->responding)
		return;
	bytes = kfk_fetch_eval(fs, fs->expired, &any_err);
	/* A fetch of no partitions has nothing to wait for: answered at once,
	 * as Kafka does. */
	if (kfk_fetch_ready(bytes, rq->min_bytes, any_err,
	                    fs->expired || rq->max_wait_ms <= 0 || fs->n == 0)) {
		kfk_fetch_respond(fs);
		return;
	}
	/* Wait: drop what was read, listen to every partition. */
	for (int32_t i = 0; i < fs->n; i++) {
		kfk_fp_t *fp = &fs->fps[i];
		kfk_part_t *p;

		kfk_fp_clear(fp);
		if (fp->err != KFK_ERR_NONE)
			continue;
		p = kfk_part_get(fs->req->srv, fp->topic, fp->partition, true);
		if (p && !fp->w.part)
			kfk_waiter_add(p, &fp->w);
	}
}

static void kfk_fp_woken(kfk_waiter_t *w)
{
	kfk_fp_t *fp = (kfk_fp_t *)w;

	kfk_fetch_try(fp->fs);
}

static void kfk_fetch_timeout(evutil_socket_t fd, short what, void *arg)
{
	kfk_fstate_t *fs = arg;

	(void)fd;
	(void)what;
	fs->expired = true;
	kfk_fetch_try(fs);
}

static void kfk_fetch_orphan(kfk_req_t *req)
{
	kfk_req_free(req);
}

/* Resolves the static part of one requested partition. */
static void kfk_fp_resolve(kfk_srv_t *s, kfk_fp_t *fp, const kfk_topic_t *t, int r)
{
	const kfk_pmeta_t *pm;
	kfk_part_t *p;

	if (r < 0) {
		fp->err = KFK_ERR_UNKNOWN_SERVER_ERROR;
		return;
	}
	if (r == 0 || fp->partition < 0 || fp->partition >= t->npart) {
		fp->err = KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		return;
	}
	pm = &t->parts[fp->partition];
	p = kfk_part_use(s, t, fp->partition);
	fp->counted = p != NULL;
	fp->deletions = p ? p->deletions : 0;
	/* The client's epoch first, as Kafka's replicas check it before
	 * whether they lead. */
	if (fp->leader_epoch >= 0 && fp->leader_epoch < pm->leader_epoch)
		fp->err = KFK_ERR_FENCED_LEADER_EPOCH;
	else if (fp->leader_epoch >= 0 && fp->leader_epoch > pm->leader_epoch)
		fp->err = KFK_ERR_UNKNOWN_LEADER_EPOCH;
	else if (!kfk_leads(s, pm))
		fp->err = KFK_ERR_NOT_LEADER_OR_FOLLOWER;
	/* zstd came with Fetch v10 (KIP-110): as Kafka, a client of an older
	 * version gets this error for a topic whose compression.type is zstd
	 * rather than batches it cannot read. */
	else if (fp->fs->req->api_version < 10 && t->cfg.compression == KFK_CODEC_ZSTD)
		fp->err = KFK_ERR_UNSUPPORTED_COMPRESSION_TYPE;
}

static int kfk_fetch_layout(kfk_req_t *req, kfk_fstate_t *fs)
{
	const kfk_fetch_request_t *rq = req->body;
	int32_t k = 0;

	for (int32_t t = 0; t < rq->topics.count; t++)
		fs->n += rq->topics.items[t].partitions.count;
	fs->fps = kfk_req_alloc(req, (size_t)fs->n, sizeof(*fs->fps));
	if (!fs->fps)
		return -1;
	kfk_meta_refresh(req->srv);
	for (int32_t t = 0; t < rq->topics.count; t++) {
		const kfk_fetch_request_fetch_topic_t *ft = &rq->topics.items[t];
		char *name = kfk_req_strdup(req, ft->topic);
		kfk_topic_t *topic = NULL;
		int r = kfk_meta_topic(req->srv, ft->topic, &topic);

		if (!name)
			return -1;
		for (int32_t i = 0; i < ft->partitions.count; i++, k++) {
			const kfk_fetch_request_fetch_partition_t *fp_in = &ft->partitions.items[i];
			kfk_fp_t *fp = &fs->fps[k];

			fp->w.fn = kfk_fp_woken;
			fp->fs = fs;
			fp->topic = name;
			fp->partition = fp_in->partition;
			fp->offset = fp_in->fetch_offset;
			fp->part_max = fp_in->partition_max_bytes;
			fp->leader_epoch = fp_in->current_leader_epoch;
			fp->range_fd = -1;
			kfk_fp_resolve(req->srv, fp, topic, r);
		}
	}
	return 0;
}

void kfk_h_fetch(kfk_req_t *req)
{
	const kfk_fetch_request_t *rq = req->body;
	kfk_fstate_t *fs = kfk_req_alloc(req, 1, sizeof(*fs));

	if (!fs) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	fs->req = req;
	req->hstate = fs;
	req->hstate_free = kfk_fetch_state_free;
	req->on_orphan = kfk_fetch_orphan;
	if (kfk_fetch_layout(req, fs) < 0) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	if (req->api_version >= 7 && rq->session_epoch != 0 && rq->session_epoch != -1) {
		fs->top_err = KFK_ERR_FETCH_SESSION_ID_NOT_FOUND;
		kfk_fetch_respond(fs);
		return;
	}
	if (rq->max_wait_ms > 0) {
		struct timeval tv = {rq->max_wait_ms / 1000, (rq->max_wait_ms % 1000) * 1000};

		fs->timer = evtimer_new(req->srv->base, kfk_fetch_timeout, fs);
		if (!fs->timer || evtimer_add(fs->timer, &tv) < 0) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
	}
	kfk_fetch_try(fs);
}
