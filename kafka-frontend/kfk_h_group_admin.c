/*
 * kfk_h_group_admin.c: committed offsets and group listings (OffsetCommit,
 * OffsetFetch, ListGroups, DescribeGroups, DeleteGroups; shell handlers of
 * chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. Committed offsets are cluster metadata: an
 * OffsetCommit is a CommitOffsets command through Raft (kfk_propose), so it
 * is answered once a quorum holds it and this node applied it, and it
 * survives the loss of any node, the coordinator's included. OffsetFetch
 * reads LMDB's "groups" database (ck_meta.h) after a sync with the Raft
 * leader (kfk_req_sync_first), so a coordinator that just took a group over
 * sees every commit its predecessor acknowledged. Only the group's
 * coordinator answers (NOT_COORDINATOR elsewhere, as Kafka), except
 * OffsetFetch: after that sync every node reads the same offsets, and
 * librdkafka 2.0-2.4's admin ListConsumerGroupOffsets crashes the client on
 * a NOT_COORDINATOR answer (librdkafka issue 5040), which a coordinator
 * move (a node lost, a broker joining) would otherwise cause. A group known
 * only by its offsets (no member since this coordinator took it) is
 * "Empty" with protocol type "".
 * Not for: membership (kfk_h_groups.c, kfk_group_core.h).
 */
#define CK_LOG_SUBSYSTEM "groups"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_apis.h"
#include "kfk_errors.h"
#include "kfk_group_core.h"
#include "kfk_h_admin.h"
#include "kfk_srv.h"

/* The longest group protocol type kept from the stored offsets ("consumer",
 * "connect", ...: longer ones are cut). */
#define KFK_GROUP_TYPE_MAX 64

/* Kafka's offset.metadata.max.bytes. */
#define KFK_OFFSET_METADATA_MAX 4096

/* ---- OffsetCommit ---- */

typedef struct {
	int16_t group_err; /* before any proposal: the whole request */
	int16_t *errs;     /* per partition, in request order */
} kfk_commit_t;

#define KFK_COMMIT_TIMEOUT_MS 5000

static int16_t kfk_commit_store_err(int16_t err)
{
	/* A commit too large to store (over 1 MiB in all): what Kafka answers
	 * when the offsets topic refuses the batch; clients raise it. */
	if (err == KFK_ERR_RECORD_LIST_TOO_LARGE)
		return KFK_ERR_INVALID_COMMIT_OFFSET_SIZE;
	/* Raft had no quorum in time, or the outcome is unknown: retriable;
	 * the client looks the coordinator up again and retries. So does
	 * NOT_COORDINATOR: the brokers changed since this node found itself
	 * the coordinator (the commit was refused: kfk_h_offset_commit). */
	return err == KFK_ERR_NONE || err == KFK_ERR_REQUEST_TIMED_OUT ||
	               err == KFK_ERR_NOT_COORDINATOR
	           ? err
	           : KFK_ERR_COORDINATOR_NOT_AVAILABLE;
}

static void kfk_commit_respond(kfk_admin_t *ad)
{
	kfk_req_t *req = ad->req;
	const kfk_offset_commit_request_t *rq = req->body;
	const kfk_commit_t *st = ad->extra;
	kfk_offset_commit_response_t resp;
	kfk_offset_commit_response_topic_t *topics;
	int16_t store = kfk_commit_store_err(ad->ops[0].err);
	int k = 0;

	kfk_offset_commit_response_init(&resp);
	topics = kfk_req_alloc(req, (size_t)(rq->topics.count > 0 ? rq->topics.count : 1),
	                       sizeof(*topics));
	if (!topics) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t t = 0; t < rq->topics.count; t++) {
		const kfk_offset_commit_request_topic_t *it = &rq->topics.items[t];
		kfk_offset_commit_response_topic_t *ot = &topics[t];

		kfk_offset_commit_response_topic_init(ot);
		ot->name = it->name;
		ot->partitions.count = it->partitions.count > 0 ? it->partitions.count : 0;
		ot->partitions.items =
		    kfk_req_alloc(req, (size_t)(ot->partitions.count ? ot->partitions.count : 1),
		                  sizeof(*ot->partitions.items));
		if (!ot->partitions.items) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
		for (int32_t p = 0; p < ot->partitions.count; p++, k++) {
			kfk_offset_commit_response_partition_t *op = &ot->partitions.items[p];

			kfk_offset_commit_response_partition_init(op);
			op->partition_index = it->partitions.items[p].partition_index;
			op->error_code = st->group_err != KFK_ERR_NONE ? st->group_err
			                 : st->errs[k] != KFK_ERR_NONE ? st->errs[k]
			                                               : store;
		}
	}
	resp.topics.count = rq->topics.count > 0 ? rq->topics.count : 0;
	resp.topics.items = topics;
	kfk_req_respond(req, &resp);
}

/* The error of one partition of a commit: unknown topic or partition, or
 * metadata over Kafka's limit. */
static int16_t kfk_commit_part_err(kfk_srv_t *s, kfk_str_t topic,
                                   const kfk_offset_commit_request_partition_t *p)
{
	kfk_topic_t *t = NULL;

	if (kfk_meta_topic(s, topic, &t) <= 0 || p->partition_index < 0 ||
	    p->partition_index >= t->npart)
		return KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	if (p->committed_metadata.len > KFK_OFFSET_METADATA_MAX)
		return KFK_ERR_OFFSET_METADATA_TOO_LARGE;
	return KFK_ERR_NONE;
}

static int kfk_group_has_offsets(kfk_srv_t *s, const char *group, char *type);

/* Fills CMD's CommitOffsets with the partitions of RQ that have no error
 * (ST->errs); returns how many, or -ENOMEM. */
static int kfk_commit_build(kfk_req_t *req, const kfk_commit_t *st,
                            Chronik__Meta__CommitOffsets *co, int total)
{
	const kfk_offset_commit_request_t *rq = req->body;
	Chronik__Meta__GroupOffset *ents = kfk_req_alloc(req, (size_t)total, sizeof(*ents));
	Chronik__Meta__GroupOffset **ptrs = kfk_req_alloc(req, (size_t)total, sizeof(*ptrs));
	const kfk_group_t *g;
	int k = 0, n = 0;

	if (!ents || !ptrs)
		return -ENOMEM;
	for (int32_t t = 0; t < rq->topics.count; t++) {
		const kfk_offset_commit_request_topic_t *it = &rq->topics.items[t];
		char *topic = kfk_req_strdup(req, it->name);

		if (!topic)
			return -ENOMEM;
		for (int32_t p = 0; p < it->partitions.count; p++, k++) {
			const kfk_offset_commit_request_partition_t *ip = &it->partitions.items[p];
			Chronik__Meta__GroupOffset *e = &ents[n];

			if (st->errs[k] != KFK_ERR_NONE)
				continue;
			chronik__meta__group_offset__init(e);
			e->topic = topic;
			e->partition = ip->partition_index;
			e->offset = ip->committed_offset;
			e->leader_epoch = ip->committed_leader_epoch;
			/* Kafka strings may hold NULs: the bytes as they came
			 * (the request outlives the command's packing). */
			if (ip->committed_metadata.len > 0) {
				e->metadata.data = (uint8_t *)ip->committed_metadata.ptr;
				e->metadata.len = (size_t)ip->committed_metadata.len;
			}
			ptrs[n++] = e;
		}
	}
	co->group = kfk_req_strdup(req, rq->group_id);
	if (!co->group)
		return -ENOMEM;
	/* The group's protocol type is stored with its offsets, so that it
	 * stays once the group is Empty: its members' ("consumer"), or, for a
	 * commit without members (AlterConsumerGroupOffsets, an assigning
	 * consumer), the one the group has, in memory or with its stored
	 * offsets. Kafka keeps it in the group's record: a simple commit to an
	 * Empty consumer group leaves it a consumer group. */
	g = kfk_gcore_find(&req->srv->groups, rq->group_id);
	if (g && g->protocol_type && g->protocol_type[0]) {
		co->protocol_type = kfk_req_strdup(req, kfk_str(g->protocol_type));
	} else {
		char type[KFK_GROUP_TYPE_MAX];

		if (kfk_group_has_offsets(req->srv, co->group, type) == 1 && type[0])
			co->protocol_type = kfk_req_strdup(req, kfk_str(type));
		else
			co->protocol_type = "";
	}
	if (!co->protocol_type)
		return -ENOMEM;
	co->offsets = ptrs;
	co->n_offsets = (size_t)n;
	co->commit_ms = (int64_t)ck_clock_wall_ms();
	return n;
}

/* Whether RQ names a topic this node does not know (yet). */
static bool kfk_commit_unknown_topic(kfk_srv_t *s, const kfk_offset_commit_request_t *rq)
{
	kfk_meta_refresh(s);
	for (int32_t t = 0; t < rq->topics.count; t++) {
		kfk_topic_t *topic = NULL;

		if (kfk_meta_topic(s, rq->topics.items[t].name, &topic) <= 0)
			return true;
	}
	return false;
}

void kfk_h_offset_commit(kfk_req_t *req)
{
	const kfk_offset_commit_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_admin_t *ad;
	kfk_commit_t *st;
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__CommitOffsets co = CHRONIK__META__COMMIT_OFFSETS__INIT;
	int total = 0, k = 0, n;

	/* A topic created a moment ago through another node may not be
	 * applied here yet: UNKNOWN_TOPIC_OR_PARTITION only after a sync with
	 * the Raft leader (read-your-writes, as for OffsetFetch). */
	if (kfk_commit_unknown_topic(s, rq) && kfk_req_sync_first(req, kfk_h_offset_commit))
		return;
	/* Kafka's offsets.commit.timeout.ms (5 s): a commit that cannot be
	 * stored by then (this node cut off from the Raft leader, say) is
	 * answered REQUEST_TIMED_OUT, which clients retry, instead of
	 * holding the member (and its rebalance) for the request timeout. */
	ad = kfk_admin_new(req, 1, CK_MIN(s->set.request_timeout_ms, KFK_COMMIT_TIMEOUT_MS),
	                   kfk_commit_respond);
	st = kfk_req_alloc(req, 1, sizeof(*st));

	for (int32_t t = 0; t < rq->topics.count; t++)
		total += rq->topics.items[t].partitions.count > 0
		             ? rq->topics.items[t].partitions.count
		             : 0;
	if (!ad || !st || !(st->errs = kfk_req_alloc(req, (size_t)(total ? total : 1), 2))) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	ad->extra = st;
	/* The coordinator check below reads this view of the brokers: the
	 * commit says so, and is refused if a broker changed since (a node
	 * whose raftd stalled went on coordinating while it was fenced and
	 * another took the group; its late commits went back in time). */
	kfk_meta_refresh(s);
	co.view_index = s->meta_index;
	st->group_err = kfk_group_precheck(s, rq->group_id, true);
	if (st->group_err == KFK_ERR_NONE)
		st->group_err = kfk_gcore_commit_check(
		    &s->groups, rq->group_id, req->api_version >= 1 ? rq->member_id : kfk_str(""),
		    rq->group_instance_id,
		    req->api_version >= 1 ? rq->generation_id_or_member_epoch : -1,
		    ck_clock_mono_ms());
	if (st->group_err == KFK_ERR_FENCED_INSTANCE_ID)
		kfk_group_log_fenced(req, "OffsetCommit", rq->group_id, rq->member_id,
		                     rq->group_instance_id);
	for (int32_t t = 0; t < rq->topics.count && st->group_err == KFK_ERR_NONE; t++) {
		const kfk_offset_commit_request_topic_t *it = &rq->topics.items[t];

		for (int32_t p = 0; p < it->partitions.count; p++)
			st->errs[k++] = kfk_commit_part_err(s, it->name, &it->partitions.items[p]);
	}
	if (st->group_err == KFK_ERR_NONE && total > 0) {
		n = kfk_commit_build(req, st, &co, total);
		if (n < 0) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
		if (n > 0) {
			cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS;
			cmd.commit_offsets = &co;
			kfk_aop_propose(&ad->ops[0], &cmd);
		}
	}
	kfk_admin_release(ad);
}

/* ---- OffsetFetch ---- */

/* One partition's committed offset, as every version answers it. */
typedef struct {
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;
	kfk_str_t metadata;
	int16_t err;
} kfk_fetched_t;

typedef struct {
	kfk_str_t name;
	kfk_fetched_t *parts;
	int32_t nparts;
	int32_t cap;
} kfk_fetched_topic_t;

typedef struct {
	int16_t err;
	kfk_fetched_topic_t *topics;
	int32_t ntopics;
	int32_t cap;
} kfk_fetched_group_t;

static void kfk_fetched_fill(kfk_req_t *req, kfk_fetched_t *f, int32_t partition,
                             const Chronik__Meta__GroupOffsetRecord *rec)
{
	f->partition = partition;
	f->offset = rec ? rec->offset : -1;
	f->leader_epoch = rec ? rec->leader_epoch : -1;
	f->metadata = kfk_str("");
	if (rec && rec->metadata.len > 0 && rec->metadata.len <= INT32_MAX) {
		char *m = kfk_req_alloc(req, rec->metadata.len, 1);

		if (m) {
			memcpy(m, rec->metadata.data, rec->metadata.len);
			f->metadata = (kfk_str_t){m, (int32_t)rec->metadata.len};
		}
	}
	f->err = KFK_ERR_NONE;
}

typedef struct {
	kfk_req_t *req;
	kfk_fetched_group_t *g;
	int err;
} kfk_fetch_all_t;

/* Room for one more of the N items of SIZE bytes in *ARR (capacity *CAP),
 * doubling in the request's arena (the old copy stays there until the
 * request ends). 0 or -ENOMEM. */
static int kfk_req_grow(kfk_req_t *req, void **arr, int32_t *cap, int32_t n, size_t size)
{
	int32_t ncap;
	void *na;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	na = kfk_req_alloc(req, (size_t)ncap, size);
	if (!na)
		return -ENOMEM;
	if (n)
		memcpy(na, *arr, (size_t)n * size);
	*arr = na;
	*cap = ncap;
	return 0;
}

/* A slot for one more partition of TOPIC (the last topic, or a new one). */
static kfk_fetched_t *kfk_fetched_slot(kfk_req_t *req, kfk_fetched_group_t *g, const char *topic)
{
	kfk_fetched_topic_t *t = g->ntopics ? &g->topics[g->ntopics - 1] : NULL;

	if (!t || !kfk_str_eq(t->name, topic)) {
		if (kfk_req_grow(req, (void **)&g->topics, &g->cap, g->ntopics, sizeof(*t)) < 0)
			return NULL;
		t = &g->topics[g->ntopics++];
		memset(t, 0, sizeof(*t));
		t->name = kfk_str(kfk_req_strdup(req, kfk_str(topic)));
		if (!t->name.ptr)
			return NULL;
	}
	if (kfk_req_grow(req, (void **)&t->parts, &t->cap, t->nparts, sizeof(*t->parts)) < 0)
		return NULL;
	return &t->parts[t->nparts++];
}

static int kfk_fetch_all_one(void *arg, const char *topic, int32_t partition,
                             const Chronik__Meta__GroupOffsetRecord *rec)
{
	kfk_fetch_all_t *a = arg;
	kfk_fetched_t *f = kfk_fetched_slot(a->req, a->g, topic);

	if (!f) {
		a->err = -ENOMEM;
		return 1;
	}
	kfk_fetched_fill(a->req, f, partition, rec);
	return 0;
}

/* The committed offsets of GROUP for the N requested TOPICS (names and
 * partition lists; N < 0: every topic the group committed) into G. */
typedef struct {
	kfk_str_t name;
	const int32_t *parts;
	int32_t nparts;
} kfk_fetch_want_t;

static int kfk_fetch_group(kfk_req_t *req, MDB_txn *txn, const char *group,
                           const kfk_fetch_want_t *want, int32_t n, kfk_fetched_group_t *g)
{
	kfk_srv_t *s = req->srv;

	if (n < 0) {
		kfk_fetch_all_t a = {req, g, 0};
		int r = ck_meta_group_offsets_foreach(s->meta, txn, group, kfk_fetch_all_one, &a);

		return a.err < 0 ? a.err : (r < 0 ? r : 0);
	}
	g->topics = kfk_req_alloc(req, (size_t)(n ? n : 1), sizeof(*g->topics));
	if (!g->topics)
		return -ENOMEM;
	g->ntopics = g->cap = n;
	for (int32_t t = 0; t < n; t++) {
		kfk_fetched_topic_t *ft = &g->topics[t];
		char *topic = kfk_req_strdup(req, want[t].name);

		ft->name = want[t].name;
		ft->nparts = want[t].nparts > 0 ? want[t].nparts : 0;
		ft->parts =
		    kfk_req_alloc(req, (size_t)(ft->nparts ? ft->nparts : 1), sizeof(*ft->parts));
		if (!topic || !ft->parts)
			return -ENOMEM;
		/* A name with a NUL byte is no topic's (it is cut there). */
		bool named = topic[0] && strlen(topic) == (size_t)want[t].name.len;

		for (int32_t p = 0; p < ft->nparts; p++) {
			Chronik__Meta__GroupOffsetRecord *rec = NULL;
			int r = named && want[t].parts[p] >= 0
			            ? ck_meta_group_offset_get(s->meta, txn, group, topic,
			                                       want[t].parts[p], &rec)
			            : CK_E_NOT_FOUND;

			kfk_fetched_fill(req, &ft->parts[p], want[t].parts[p], r == 0 ? rec : NULL);
			if (r < 0 && r != CK_E_NOT_FOUND)
				ft->parts[p].err = KFK_ERR_UNKNOWN_SERVER_ERROR;
			if (rec)
				chronik__meta__group_offset_record__free_unpacked(rec, NULL);
		}
	}
	return 0;
}

/* This node could not catch up with the Raft leader (cut off from it): the
 * offsets it holds may be older than a commit acknowledged elsewhere, and
 * an answer without error would take a consumer back. The group gets the
 * retriable ERR (COORDINATOR_NOT_AVAILABLE: clients look for the
 * coordinator again and retry; every partition too in v0-v1), no offset. */
static void kfk_fetch_unsynced(kfk_fetched_group_t *g, int16_t err)
{
	g->err = err;
	for (int32_t t = 0; t < g->ntopics; t++)
		for (int32_t p = 0; p < g->topics[t].nparts; p++) {
			kfk_fetched_t *fp = &g->topics[t].parts[p];

			fp->offset = -1;
			fp->leader_epoch = -1;
			fp->metadata = kfk_str("");
		}
}

/* Reads one group's offsets (a group-level error in G->err). */
static int kfk_fetch_one(kfk_req_t *req, kfk_str_t group, const kfk_fetch_want_t *want, int32_t n,
                         kfk_fetched_group_t *g)
{
	kfk_srv_t *s = req->srv;
	MDB_txn *txn = NULL;
	char *gname;
	int r;

	memset(g, 0, sizeof(*g));
	/* Any node answers (see the top of the file). */
	if (!kfk_group_id_ok(group, true)) {
		g->err = KFK_ERR_INVALID_GROUP_ID;
		return 0;
	}
	gname = kfk_req_strdup(req, group);
	if (!gname)
		return -ENOMEM;
	r = kfk_meta_read(s, &txn);
	if (r < 0) {
		g->err = KFK_ERR_COORDINATOR_LOAD_IN_PROGRESS;
		return 0;
	}
	r = kfk_fetch_group(req, txn, gname, want, n, g);
	ck_meta_read_end(txn);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		g->err = KFK_ERR_UNKNOWN_SERVER_ERROR;
	else if (req->sync_err != KFK_ERR_NONE)
		kfk_fetch_unsynced(g, KFK_ERR_COORDINATOR_NOT_AVAILABLE);
	return 0;
}

/* v0-v7: one group; its error goes to every partition too in v0-v1. */
static void kfk_fetch_respond_v7(kfk_req_t *req, const kfk_fetched_group_t *g)
{
	kfk_offset_fetch_response_t resp;
	kfk_offset_fetch_response_topic_t *ts;
	bool part_err = req->api_version < 2;

	kfk_offset_fetch_response_init(&resp);
	resp.error_code = g->err;
	ts = kfk_req_alloc(req, (size_t)(g->ntopics ? g->ntopics : 1), sizeof(*ts));
	if (!ts) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t t = 0; t < g->ntopics; t++) {
		const kfk_fetched_topic_t *ft = &g->topics[t];

		kfk_offset_fetch_response_topic_init(&ts[t]);
		ts[t].name = ft->name;
		ts[t].partitions.count = ft->nparts;
		ts[t].partitions.items = kfk_req_alloc(req, (size_t)(ft->nparts ? ft->nparts : 1),
		                                       sizeof(*ts[t].partitions.items));
		if (!ts[t].partitions.items) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
		for (int32_t p = 0; p < ft->nparts; p++) {
			kfk_offset_fetch_response_partition_t *o = &ts[t].partitions.items[p];

			kfk_offset_fetch_response_partition_init(o);
			o->partition_index = ft->parts[p].partition;
			o->committed_offset = ft->parts[p].offset;
			o->committed_leader_epoch = ft->parts[p].leader_epoch;
			o->metadata = ft->parts[p].metadata;
			o->error_code = part_err && g->err ? g->err : ft->parts[p].err;
		}
	}
	resp.topics.count = g->ntopics;
	resp.topics.items = ts;
	kfk_req_respond(req, &resp);
}

static int kfk_fetch_group_v8(kfk_req_t *req, const kfk_fetched_group_t *g, kfk_str_t id,
                              kfk_offset_fetch_response_group_t *o)
{
	kfk_offset_fetch_response_group_init(o);
	o->group_id = id;
	o->error_code = g->err;
	o->topics.count = g->ntopics;
	o->topics.items =
	    kfk_req_alloc(req, (size_t)(g->ntopics ? g->ntopics : 1), sizeof(*o->topics.items));
	if (!o->topics.items)
		return -ENOMEM;
	for (int32_t t = 0; t < g->ntopics; t++) {
		const kfk_fetched_topic_t *ft = &g->topics[t];
		kfk_offset_fetch_response_topics_t *ot = &o->topics.items[t];

		kfk_offset_fetch_response_topics_init(ot);
		ot->name = ft->name;
		ot->partitions.count = ft->nparts;
		ot->partitions.items = kfk_req_alloc(req, (size_t)(ft->nparts ? ft->nparts : 1),
		                                     sizeof(*ot->partitions.items));
		if (!ot->partitions.items)
			return -ENOMEM;
		for (int32_t p = 0; p < ft->nparts; p++) {
			kfk_offset_fetch_response_partitions_t *op = &ot->partitions.items[p];

			kfk_offset_fetch_response_partitions_init(op);
			op->partition_index = ft->parts[p].partition;
			op->committed_offset = ft->parts[p].offset;
			op->committed_leader_epoch = ft->parts[p].leader_epoch;
			op->metadata = ft->parts[p].metadata;
			op->error_code = ft->parts[p].err;
		}
	}
	return 0;
}

/* The requested topics of one group (v0-v7 or a v8 group) as wants; N -1
 * for all. */
#define KFK_FETCH_WANTS(req, topics, ret, ret_n)                                                   \
	do {                                                                                       \
		*(ret_n) = (topics).count;                                                         \
		*(ret) = (topics).count > 0                                                        \
		             ? kfk_req_alloc((req), (size_t)(topics).count, sizeof(**(ret)))       \
		             : NULL;                                                               \
		for (int32_t i_ = 0; *(ret) && i_ < (topics).count; i_++) {                        \
			(*(ret))[i_].name = (topics).items[i_].name;                               \
			(*(ret))[i_].parts = (topics).items[i_].partition_indexes.items;           \
			(*(ret))[i_].nparts = (topics).items[i_].partition_indexes.count;          \
		}                                                                                  \
	} while (0)

void kfk_h_offset_fetch(kfk_req_t *req)
{
	const kfk_offset_fetch_request_t *rq = req->body;
	kfk_fetch_want_t *want = NULL;
	kfk_fetched_group_t g;
	int32_t n = 0;

	/* Every commit acknowledged anywhere before this request is applied
	 * here first (a coordinator that just took the group over). */
	if (kfk_req_sync_first(req, kfk_h_offset_fetch))
		return;
	if (req->api_version >= 8) {
		kfk_offset_fetch_response_t resp;
		int32_t ng = rq->groups.count > 0 ? rq->groups.count : 0;

		kfk_offset_fetch_response_init(&resp);
		resp.groups.items =
		    kfk_req_alloc(req, (size_t)(ng ? ng : 1), sizeof(*resp.groups.items));
		if (!resp.groups.items)
			goto oom;
		resp.groups.count = ng;
		for (int32_t i = 0; i < ng; i++) {
			const kfk_offset_fetch_request_group_t *rg = &rq->groups.items[i];

			KFK_FETCH_WANTS(req, rg->topics, &want, &n);
			if ((n > 0 && !want) || kfk_fetch_one(req, rg->group_id, want, n, &g) < 0 ||
			    kfk_fetch_group_v8(req, &g, rg->group_id, &resp.groups.items[i]) < 0)
				goto oom;
		}
		kfk_req_respond(req, &resp);
		return;
	}
	/* v0-v1 have no null topic list: an empty one asks for nothing. */
	KFK_FETCH_WANTS(req, rq->topics, &want, &n);
	if ((n > 0 && !want) || kfk_fetch_one(req, rq->group_id, want, n, &g) < 0)
		goto oom;
	kfk_fetch_respond_v7(req, &g);
	return;
oom:
	kfk_req_fail_conn(req, "out of memory");
}

/* ---- ListGroups, DescribeGroups ---- */

/* Whether a group in state STATE passes ListGroups v4's filter. */
static bool kfk_list_state_ok(const kfk_list_groups_request_t *rq, const char *state)
{
	if (rq->states_filter.count <= 0)
		return true;
	for (int32_t i = 0; i < rq->states_filter.count; i++) {
		kfk_str_t f = rq->states_filter.items[i];

		if (f.len >= 0 && (size_t)f.len == strlen(state) &&
		    strncasecmp(f.ptr, state, (size_t)f.len) == 0)
			return true;
	}
	return false;
}

/* The first offset of a group: its protocol type into ARG
 * (KFK_GROUP_TYPE_MAX bytes), and the walk stops. */
static int kfk_group_first_offset(void *arg, const char *topic, int32_t partition,
                                  const Chronik__Meta__GroupOffsetRecord *rec)
{
	(void)topic;
	(void)partition;
	(void)snprintf(arg, KFK_GROUP_TYPE_MAX, "%s", rec->protocol_type ? rec->protocol_type : "");
	return 1;
}

/* Whether GROUP has committed offsets (read in TXN): 1 with the protocol
 * type stored with its first one in TYPE (KFK_GROUP_TYPE_MAX bytes; "" when
 * only simple commits were made), 0, or an error. */
static int kfk_group_stored(kfk_srv_t *s, MDB_txn *txn, const char *group, char *type)
{
	type[0] = '\0';
	return ck_meta_group_offsets_foreach(s->meta, txn, group, kfk_group_first_offset, type);
}

/* kfk_group_stored() in a read transaction of its own. */
static int kfk_group_has_offsets(kfk_srv_t *s, const char *group, char *type)
{
	MDB_txn *txn = NULL;
	int r = kfk_meta_read(s, &txn);

	if (r < 0)
		return r;
	r = kfk_group_stored(s, txn, group, type);
	ck_meta_read_end(txn);
	return r;
}

typedef struct {
	kfk_req_t *req;
	MDB_txn *txn; /* while the stored groups are walked */
	kfk_list_groups_response_listed_group_t *items;
	int32_t n, cap;
	int err;
} kfk_list_t;

static int kfk_list_add(kfk_list_t *l, const char *id, const char *type, const char *state)
{
	const kfk_list_groups_request_t *rq = l->req->body;
	kfk_list_groups_response_listed_group_t *o;

	if (!kfk_list_state_ok(rq, state))
		return 0;
	if (kfk_req_grow(l->req, (void **)&l->items, &l->cap, l->n, sizeof(*o)) < 0)
		return -ENOMEM;
	o = &l->items[l->n++];
	kfk_list_groups_response_listed_group_init(o);
	o->group_id = kfk_str(kfk_req_strdup(l->req, kfk_str(id)));
	o->protocol_type = kfk_str(type);
	o->group_state = kfk_str(state);
	return o->group_id.ptr ? 0 : -ENOMEM;
}

/* Groups with offsets only: listed as Empty when this node coordinates
 * them and has no live state for them. */
static int kfk_list_stored(void *arg, const char *group)
{
	kfk_list_t *l = arg;
	kfk_srv_t *s = l->req->srv;

	char type[KFK_GROUP_TYPE_MAX], *copy;

	if (kfk_gcore_find(&s->groups, kfk_str(group)) || !kfk_group_is_mine(s, kfk_str(group)))
		return 0;
	if (kfk_group_stored(s, l->txn, group, type) < 0)
		type[0] = '\0'; /* listed all the same, without its type */
	copy = kfk_req_strdup(l->req, kfk_str(type));
	l->err =
	    copy ? kfk_list_add(l, group, copy, kfk_group_state_name(KFK_GROUP_EMPTY)) : -ENOMEM;
	return l->err < 0;
}

void kfk_h_list_groups(kfk_req_t *req)
{
	kfk_srv_t *s = req->srv;
	kfk_list_groups_response_t resp;
	kfk_list_t l = {req, NULL, NULL, 0, 0, 0};
	kfk_group_t *g;
	MDB_txn *txn = NULL;
	size_t it = 0;

	kfk_meta_refresh(s);
	kfk_groups_load(s); /* the groups taken over, with their members */
	kfk_list_groups_response_init(&resp);
	while ((g = ck_hash_next(&s->groups.groups, &it)) != NULL && l.err == 0)
		l.err = kfk_list_add(&l, g->id, g->protocol_type, kfk_group_state_name(g->state));
	if (l.err == 0 && kfk_meta_read(s, &txn) == 0) {
		l.txn = txn;
		if (ck_meta_groups_foreach(s->meta, txn, kfk_list_stored, &l) < 0 && l.err == 0)
			resp.error_code = KFK_ERR_COORDINATOR_LOAD_IN_PROGRESS;
		ck_meta_read_end(txn);
	}
	if (l.err < 0) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	resp.groups.count = l.n;
	resp.groups.items = l.items;
	kfk_req_respond(req, &resp);
}

static int kfk_describe_members(kfk_req_t *req, const kfk_group_t *g,
                                kfk_describe_groups_response_described_group_t *o)
{
	bool full = g->state == KFK_GROUP_STABLE;

	o->members.count = g->nmembers;
	o->members.items =
	    kfk_req_alloc(req, (size_t)(g->nmembers ? g->nmembers : 1), sizeof(*o->members.items));
	if (!o->members.items)
		return -ENOMEM;
	for (int i = 0; i < g->nmembers; i++) {
		const kfk_gmember_t *m = g->members[i];
		kfk_describe_groups_response_described_group_member_t *om = &o->members.items[i];
		const kfk_gproto_t *p = NULL;

		for (int k = 0; full && g->protocol && k < m->nprotos && !p; k++)
			p = strcmp(m->protos[k].name, g->protocol) == 0 ? &m->protos[k] : NULL;
		kfk_describe_groups_response_described_group_member_init(om);
		om->member_id = kfk_str(kfk_req_strdup(req, kfk_str(m->id)));
		om->group_instance_id = m->instance_id
		                            ? kfk_str(kfk_req_strdup(req, kfk_str(m->instance_id)))
		                            : KFK_STR_NULL;
		om->client_id = kfk_str(kfk_req_strdup(req, kfk_str(m->client_id)));
		om->client_host = kfk_str(kfk_req_strdup(req, kfk_str(m->client_host)));
		om->member_metadata = p ? (kfk_bytes_t){p->meta, (int32_t)p->meta_len}
		                        : (kfk_bytes_t){(const uint8_t *)"", 0};
		om->member_assignment =
		    full && m->assignment ? (kfk_bytes_t){m->assignment, (int32_t)m->assignment_len}
		                          : (kfk_bytes_t){(const uint8_t *)"", 0};
		if (!om->member_id.ptr || !om->client_id.ptr || !om->client_host.ptr)
			return -ENOMEM;
	}
	return 0;
}

/* One group of a DescribeGroups answer. */
static int kfk_describe_one(kfk_req_t *req, kfk_str_t id,
                            kfk_describe_groups_response_described_group_t *o)
{
	kfk_srv_t *s = req->srv;
	char *name, type[KFK_GROUP_TYPE_MAX];
	kfk_group_t *g;
	int r;

	kfk_describe_groups_response_described_group_init(o);
	o->group_id = id;
	o->protocol_type = kfk_str("");
	o->protocol_data = kfk_str("");
	o->group_state = kfk_str(kfk_group_state_name(KFK_GROUP_DEAD));
	o->error_code = kfk_group_precheck(s, id, true);
	if (o->error_code != KFK_ERR_NONE)
		return 0;
	g = kfk_gcore_find(&s->groups, id);
	if (g) {
		o->group_state = kfk_str(kfk_group_state_name(g->state));
		o->protocol_type = kfk_str(kfk_req_strdup(req, kfk_str(g->protocol_type)));
		if (g->state == KFK_GROUP_STABLE && g->protocol)
			o->protocol_data = kfk_str(kfk_req_strdup(req, kfk_str(g->protocol)));
		if (!o->protocol_type.ptr || !o->protocol_data.ptr)
			return -ENOMEM;
		return kfk_describe_members(req, g, o);
	}
	name = kfk_req_strdup(req, id);
	if (!name)
		return -ENOMEM;
	r = kfk_group_has_offsets(s, name, type);
	if (r < 0) {
		o->error_code = KFK_ERR_COORDINATOR_LOAD_IN_PROGRESS;
	} else if (r > 0) {
		/* Empty, with the protocol type its members had, as in Kafka. */
		o->group_state = kfk_str(kfk_group_state_name(KFK_GROUP_EMPTY));
		o->protocol_type = kfk_str(kfk_req_strdup(req, kfk_str(type)));
		if (!o->protocol_type.ptr)
			return -ENOMEM;
	}
	return 0;
}

void kfk_h_describe_groups(kfk_req_t *req)
{
	const kfk_describe_groups_request_t *rq = req->body;
	kfk_describe_groups_response_t resp;
	int32_t n = rq->groups.count > 0 ? rq->groups.count : 0;

	kfk_describe_groups_response_init(&resp);
	resp.groups.items = kfk_req_alloc(req, (size_t)(n ? n : 1), sizeof(*resp.groups.items));
	if (!resp.groups.items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	resp.groups.count = n;
	for (int32_t i = 0; i < n; i++) {
		if (kfk_describe_one(req, rq->groups.items[i], &resp.groups.items[i]) < 0) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
		if (rq->include_authorized_operations)
			resp.groups.items[i].authorized_operations = KFK_OPS_GROUP;
	}
	kfk_req_respond(req, &resp);
}

/* ---- DeleteGroups ---- */

static void kfk_delete_groups_respond(kfk_admin_t *ad)
{
	kfk_req_t *req = ad->req;
	const kfk_delete_groups_request_t *rq = req->body;
	const bool *live = ad->extra;
	kfk_delete_groups_response_t resp;
	kfk_srv_t *s = req->srv;

	kfk_delete_groups_response_init(&resp);
	resp.results.items =
	    kfk_req_alloc(req, (size_t)(ad->n ? ad->n : 1), sizeof(*resp.results.items));
	if (!resp.results.items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	resp.results.count = ad->n;
	for (int32_t i = 0; i < ad->n; i++) {
		kfk_delete_groups_response_deletable_group_result_t *o = &resp.results.items[i];
		int16_t err = ad->ops[i].err;
		kfk_group_t *g;

		/* No offsets: fine for a group that lived here without any. */
		if (err == KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION)
			err = live[i] ? KFK_ERR_NONE : KFK_ERR_GROUP_ID_NOT_FOUND;
		else if (err != KFK_ERR_NONE && err != KFK_ERR_NOT_COORDINATOR &&
		         err != KFK_ERR_NON_EMPTY_GROUP && err != KFK_ERR_INVALID_GROUP_ID &&
		         err != KFK_ERR_GROUP_ID_NOT_FOUND)
			err = kfk_commit_store_err(err);
		if (err == KFK_ERR_NONE &&
		    (g = kfk_gcore_find(&s->groups, rq->groups_names.items[i])) && g->nmembers == 0)
			kfk_gcore_drop(&s->groups, g, KFK_ERR_NONE);
		kfk_delete_groups_response_deletable_group_result_init(o);
		o->group_id = rq->groups_names.items[i];
		o->error_code = err;
	}
	kfk_req_respond(req, &resp);
}

static int kfk_dg_any(void *arg, const char *topic, int32_t partition,
                      const Chronik__Meta__GroupOffsetRecord *rec)
{
	(void)arg;
	(void)topic;
	(void)partition;
	(void)rec;
	return 1;
}

/* Whether this node's metadata holds anything of group ID (offsets or a
 * stored membership): 1, 0, or an error (then a proposal decides). */
static int kfk_dg_stored(kfk_req_t *req, kfk_str_t id)
{
	kfk_srv_t *s = req->srv;
	Chronik__Meta__GroupStateRecord *rec = NULL;
	MDB_txn *txn = NULL;
	char *name = kfk_req_strdup(req, id);
	int r;

	if (!name)
		return -ENOMEM;
	r = kfk_meta_read(s, &txn);
	if (r < 0)
		return r;
	r = ck_meta_group_offsets_foreach(s->meta, txn, name, kfk_dg_any, NULL);
	if (r == 0) {
		r = ck_meta_group_state_get(s->meta, txn, name, &rec);
		if (r == 0)
			chronik__meta__group_state_record__free_unpacked(rec, NULL);
		r = r == 0 ? 1 : r == CK_E_NOT_FOUND ? 0 : r;
	}
	ck_meta_read_end(txn);
	return r;
}

void kfk_h_delete_groups(kfk_req_t *req)
{
	const kfk_delete_groups_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	int32_t n = rq->groups_names.count > 0 ? rq->groups_names.count : 0;
	kfk_admin_t *ad;
	bool *live;

	/* Caught up first (one sync for the request, shared with others in
	 * flight): a group this node knows nothing of then is answered
	 * GROUP_ID_NOT_FOUND without a metadata write each (a client naming
	 * thousands of unknown groups wrote as many Raft entries and log
	 * lines). */
	if (kfk_req_sync_first(req, kfk_h_delete_groups))
		return;
	ad = kfk_admin_new(req, n, s->set.request_timeout_ms, kfk_delete_groups_respond);
	live = kfk_req_alloc(req, (size_t)(n ? n : 1), sizeof(*live));
	if (!ad || !live) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	ad->extra = live;
	for (int32_t i = 0; i < n; i++) {
		kfk_str_t id = rq->groups_names.items[i];
		Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
		Chronik__Meta__DeleteGroup dg = CHRONIK__META__DELETE_GROUP__INIT;
		int16_t err = kfk_group_precheck(s, id, true);
		kfk_group_t *g = err == KFK_ERR_NONE ? kfk_gcore_find(&s->groups, id) : NULL;

		live[i] = g != NULL;
		if (err == KFK_ERR_NONE && g && g->nmembers > 0)
			err = KFK_ERR_NON_EMPTY_GROUP;
		if (err == KFK_ERR_NONE && !g && req->sync_err == KFK_ERR_NONE &&
		    kfk_dg_stored(req, id) == 0)
			err = KFK_ERR_GROUP_ID_NOT_FOUND;
		if (err != KFK_ERR_NONE) {
			kfk_aop_set(&ad->ops[i], err, NULL);
			continue;
		}
		dg.view_index = s->meta_index; /* precheck's view */
		dg.group = kfk_req_strdup(req, id);
		if (!dg.group) {
			kfk_aop_set(&ad->ops[i], KFK_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
			continue;
		}
		cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP;
		cmd.delete_group = &dg;
		kfk_aop_propose(&ad->ops[i], &cmd);
	}
	kfk_admin_release(ad);
}

/* ---- OffsetDelete ---- */

typedef struct {
	int16_t group_err; /* the whole request */
	int16_t *errs;     /* per partition, in request order; NONE = proposed */
} kfk_odel_t;

static void kfk_offset_delete_respond(kfk_admin_t *ad)
{
	kfk_req_t *req = ad->req;
	const kfk_offset_delete_request_t *rq = req->body;
	const kfk_odel_t *st = ad->extra;
	int16_t store = kfk_commit_store_err(ad->ops[0].err);
	kfk_offset_delete_response_t resp;
	int k = 0;

	kfk_offset_delete_response_init(&resp);
	resp.error_code = st->group_err;
	if (st->group_err != KFK_ERR_NONE) { /* as Kafka: no topics then */
		kfk_req_respond(req, &resp);
		return;
	}
	resp.topics.items = kfk_req_alloc(
	    req, (size_t)(rq->topics.count > 0 ? rq->topics.count : 1), sizeof(*resp.topics.items));
	if (!resp.topics.items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	resp.topics.count = rq->topics.count > 0 ? rq->topics.count : 0;
	for (int32_t t = 0; t < resp.topics.count; t++) {
		const kfk_offset_delete_request_topic_t *it = &rq->topics.items[t];
		kfk_offset_delete_response_topic_t *ot = &resp.topics.items[t];
		int32_t np = it->partitions.count > 0 ? it->partitions.count : 0;

		kfk_offset_delete_response_topic_init(ot);
		ot->name = it->name;
		ot->partitions.items =
		    kfk_req_alloc(req, (size_t)(np ? np : 1), sizeof(*ot->partitions.items));
		if (!ot->partitions.items) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
		ot->partitions.count = np;
		for (int32_t p = 0; p < np; p++, k++) {
			kfk_offset_delete_response_partition_t *op = &ot->partitions.items[p];

			kfk_offset_delete_response_partition_init(op);
			op->partition_index = it->partitions.items[p].partition_index;
			op->error_code = st->errs[k] != KFK_ERR_NONE ? st->errs[k] : store;
		}
	}
	kfk_req_respond(req, &resp);
}

/* The group-wide error of an OffsetDelete of GROUP (G its live state or
 * NULL): a group nobody knows has nothing to delete. */
static int16_t kfk_offset_delete_group_err(kfk_req_t *req, kfk_str_t group, const kfk_group_t *g)
{
	kfk_srv_t *s = req->srv;
	int16_t err = kfk_group_precheck(s, group, false);
	char *name, type[KFK_GROUP_TYPE_MAX];
	int r;

	if (err != KFK_ERR_NONE)
		return err;
	if (g) /* members of another protocol type than "consumer": NON_EMPTY_GROUP */
		return g->nmembers > 0 && strcmp(g->protocol_type, "consumer") != 0
		           ? KFK_ERR_NON_EMPTY_GROUP
		           : KFK_ERR_NONE;
	name = kfk_req_strdup(req, group);
	if (!name)
		return KFK_ERR_UNKNOWN_SERVER_ERROR;
	r = kfk_group_has_offsets(s, name, type);
	return r < 0    ? KFK_ERR_COORDINATOR_LOAD_IN_PROGRESS
	       : r == 0 ? KFK_ERR_GROUP_ID_NOT_FOUND
	                : KFK_ERR_NONE;
}

/* Fills DEL with the partitions of RQ that may go (ST->errs NONE);
 * returns how many, or -ENOMEM. */
static int kfk_offset_delete_build(kfk_req_t *req, const kfk_odel_t *st,
                                   Chronik__Meta__DeleteOffsets *del, int total)
{
	const kfk_offset_delete_request_t *rq = req->body;
	Chronik__Meta__GroupPartition *ents = kfk_req_alloc(req, (size_t)total, sizeof(*ents));
	Chronik__Meta__GroupPartition **ptrs = kfk_req_alloc(req, (size_t)total, sizeof(*ptrs));
	int k = 0, n = 0;

	if (!ents || !ptrs || !(del->group = kfk_req_strdup(req, rq->group_id)))
		return -ENOMEM;
	for (int32_t t = 0; t < rq->topics.count; t++) {
		const kfk_offset_delete_request_topic_t *it = &rq->topics.items[t];
		char *topic = kfk_req_strdup(req, it->name);

		if (!topic)
			return -ENOMEM;
		for (int32_t p = 0; p < it->partitions.count; p++, k++) {
			if (st->errs[k] != KFK_ERR_NONE)
				continue;
			chronik__meta__group_partition__init(&ents[n]);
			ents[n].topic = topic;
			ents[n].partition = it->partitions.items[p].partition_index;
			ptrs[n] = &ents[n];
			n++;
		}
	}
	del->partitions = ptrs;
	del->n_partitions = (size_t)n;
	return n;
}

void kfk_h_offset_delete(kfk_req_t *req)
{
	const kfk_offset_delete_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_admin_t *ad;
	kfk_odel_t *st;
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__DeleteOffsets del = CHRONIK__META__DELETE_OFFSETS__INIT;
	const kfk_group_t *g;
	int total = 0, k = 0, n;

	/* Whether the group has offsets, as of every commit acknowledged
	 * anywhere before this request (a coordinator that just took it). */
	if (kfk_req_sync_first(req, kfk_h_offset_delete))
		return;
	ad = kfk_admin_new(req, 1, s->set.request_timeout_ms, kfk_offset_delete_respond);
	st = kfk_req_alloc(req, 1, sizeof(*st));
	for (int32_t t = 0; t < rq->topics.count; t++)
		total += rq->topics.items[t].partitions.count > 0
		             ? rq->topics.items[t].partitions.count
		             : 0;
	if (!ad || !st || !(st->errs = kfk_req_alloc(req, (size_t)(total ? total : 1), 2))) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	ad->extra = st;
	g = kfk_gcore_find(&s->groups, rq->group_id);
	st->group_err = kfk_offset_delete_group_err(req, rq->group_id, g);
	del.view_index = s->meta_index; /* of the coordinator check above */
	for (int32_t t = 0; t < rq->topics.count && st->group_err == KFK_ERR_NONE; t++) {
		const kfk_offset_delete_request_topic_t *it = &rq->topics.items[t];
		kfk_topic_t *topic = NULL;
		bool known = kfk_meta_topic(s, it->name, &topic) > 0;
		int16_t sub = known ? kfk_gcore_offset_delete_check(g, it->name) : KFK_ERR_NONE;

		for (int32_t p = 0; p < it->partitions.count; p++, k++) {
			int32_t part = it->partitions.items[p].partition_index;

			st->errs[k] = !known || part < 0 || part >= topic->npart
			                  ? KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION
			                  : sub;
		}
	}
	if (st->group_err == KFK_ERR_NONE && total > 0) {
		n = kfk_offset_delete_build(req, st, &del, total);
		if (n < 0) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
		if (n > 0) {
			cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS;
			cmd.delete_offsets = &del;
			kfk_aop_propose(&ad->ops[0], &cmd);
		}
	}
	kfk_admin_release(ad);
}
