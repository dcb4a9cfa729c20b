/*
 * kfk_h_metadata.c: the Metadata API, versions 0-12 (shell handler of
 * chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. Topics, partitions and brokers come from LMDB
 * (kfk_meta.c). All topics are listed for a null topic array (v1+) and for
 * an empty one in v0 (kafka-python's bootstrap probe). A requested topic
 * that does not exist is auto-created when the broker allows it
 * (auto.create.topics.enable) and the request does (always in v0-3, the
 * allow_auto_topic_creation flag from v4); the response then waits for the
 * proposal, so it already lists the new topic. Internal topics (the
 * reserved prefix) are never listed.
 * Not for: creating topics explicitly (kfk_h_admin.c).
 */
#define CK_LOG_SUBSYSTEM "metadata"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_log.h"
#include "kfk_admin_core.h"
#include "kfk_apis.h"
#include "kfk_errors.h"
#include "kfk_srv.h"

/* The first Metadata version that looks a topic up by its id. */
#define KFK_MD_BY_ID_VERSION 12

typedef struct {
	int32_t n;
	kfk_str_t *names;    /* arena; ptr NULL for unresolved topic ids */
	int16_t *errs;       /* per topic: an error decided before the lookup */
	const uint8_t **ids; /* v10+: the requested topic id, or NULL */
	int pending;
	struct kfk_md_create *creates; /* one per entry, for auto-creation */
	char **all;                    /* all topic names (malloc), when listing everything */
	int nall;
	bool own_hidden; /* a partition this self-fenced broker led went unnamed */
} kfk_md_state_t;

static void kfk_md_state_free(kfk_req_t *req)
{
	kfk_md_state_t *st = req->hstate;

	if (st && st->all)
		kfk_meta_names_free(st->all, st->nall);
}

/* The live (unfenced) brokers, for offline_replicas. */
typedef struct {
	int32_t ids[256];
	int n;
} kfk_md_live_t;

static bool kfk_md_is_live(const kfk_md_live_t *l, int32_t id)
{
	for (int i = 0; i < l->n; i++)
		if (l->ids[i] == id)
			return true;
	return false;
}

/* Replicas on brokers that are fenced or not registered (as Kafka's KRaft
 * metadata cache reports them). */
static void kfk_md_offline(kfk_req_t *req, const kfk_pmeta_t *pm, const kfk_md_live_t *live,
                           kfk_metadata_response_partition_t *o)
{
	int32_t *v;
	int k = 0;

	for (int32_t i = 0; i < pm->nreplicas; i++)
		k += !kfk_md_is_live(live, pm->replicas[i]);
	if (k == 0 || !(v = kfk_req_alloc(req, (size_t)k, sizeof(*v))))
		return;
	k = 0;
	for (int32_t i = 0; i < pm->nreplicas; i++)
		if (!kfk_md_is_live(live, pm->replicas[i]))
			v[k++] = pm->replicas[i];
	o->offline_replicas.count = k;
	o->offline_replicas.items = v;
}

static int kfk_md_fill_partition(kfk_req_t *req, const kfk_pmeta_t *pm, const kfk_md_live_t *live,
                                 kfk_metadata_response_partition_t *o)
{
	kfk_metadata_response_partition_init(o);
	o->partition_index = pm->partition;
	o->leader_id = pm->leader;
	/* Self-fenced (kfk_srv.h): its leaderships may be elsewhere by now;
	 * no leader named, and the connection closes after the answer
	 * (kfk_md_respond), so that the client asks another broker. */
	if (pm->leader == req->srv->cfg->node_id && req->srv->self_fenced) {
		o->leader_id = -1;
		((kfk_md_state_t *)req->hstate)->own_hidden = true;
	}
	o->leader_epoch = pm->leader_epoch;
	o->error_code = o->leader_id < 0 ? KFK_ERR_LEADER_NOT_AVAILABLE : KFK_ERR_NONE;
	o->replica_nodes.count = pm->nreplicas;
	o->replica_nodes.items = pm->replicas;
	o->isr_nodes.count = pm->nisr;
	o->isr_nodes.items = pm->isr;
	o->offline_replicas.count = 0;
	o->offline_replicas.items = NULL;
	if (!pm->replicas) {
		/* No partition record (yet): say so, with empty lists. */
		o->replica_nodes.count = o->isr_nodes.count = 0;
	} else {
		kfk_md_offline(req, pm, live, o);
	}
	return 0;
}

static int kfk_md_fill_topic(kfk_req_t *req, const kfk_topic_t *t, kfk_metadata_response_topic_t *o)
{
	kfk_md_live_t live;

	o->name = kfk_str(t->name);
	memcpy(o->topic_id, t->id, 16);
	o->partitions.count = t->npart;
	o->partitions.items = kfk_req_alloc(req, (size_t)t->npart, sizeof(*o->partitions.items));
	if (!o->partitions.items)
		return -1;
	live.n = kfk_meta_live_broker_ids(req->srv, live.ids, (int)CK_ARRAY_LEN(live.ids));
	for (int32_t i = 0; i < t->npart; i++)
		(void)kfk_md_fill_partition(req, &t->parts[i], &live, &o->partitions.items[i]);
	return 0;
}

static int kfk_md_fill_brokers(kfk_req_t *req, kfk_metadata_response_t *resp)
{
	kfk_srv_t *s = req->srv;
	const kfk_broker_t *b;
	int nb = 0, k = 0;

	if (kfk_meta_brokers(s, &b, &nb) < 0)
		return -1;
	resp->brokers.items = kfk_req_alloc(req, (size_t)nb, sizeof(*resp->brokers.items));
	if (!resp->brokers.items)
		return -1;
	for (int i = 0; i < nb; i++) {
		kfk_metadata_response_broker_t *o = &resp->brokers.items[k];

		if (b[i].fenced && b[i].id != s->cfg->node_id)
			continue;
		kfk_metadata_response_broker_init(o);
		o->node_id = b[i].id;
		o->host = kfk_str(b[i].host);
		o->port = b[i].port;
		o->rack = b[i].rack[0] ? kfk_str(b[i].rack) : KFK_STR_NULL;
		k++;
	}
	resp->brokers.count = k;
	return 0;
}

/* One response topic for request entry I (or a listed name). */
static void kfk_md_topic(kfk_req_t *req, kfk_str_t name, int16_t err, const uint8_t *id,
                         kfk_metadata_response_topic_t *o)
{
	kfk_topic_t *t = NULL;
	int r = 0;

	kfk_metadata_response_topic_init(o);
	o->name = name;
	if (id)
		memcpy(o->topic_id, id, 16);
	if (err != KFK_ERR_NONE) {
		o->error_code = err;
		return;
	}
	r = kfk_meta_topic(req->srv, name, &t);
	if (r < 0) {
		o->error_code = KFK_ERR_UNKNOWN_SERVER_ERROR;
	} else if (r == 0) {
		o->error_code = KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	} else if (kfk_md_fill_topic(req, t, o) < 0) {
		o->error_code = KFK_ERR_UNKNOWN_SERVER_ERROR;
		o->partitions.count = 0;
	}
}

static void kfk_md_respond(kfk_req_t *req)
{
	const kfk_metadata_request_t *rq = req->body;
	kfk_md_state_t *st = req->hstate;
	kfk_srv_t *s = req->srv;
	kfk_metadata_response_t resp;
	int32_t n = st->all ? st->nall : st->n, k = 0;

	kfk_meta_refresh(s);
	kfk_metadata_response_init(&resp);
	resp.cluster_id = kfk_str(s->cfg->cluster_id);
	resp.controller_id = kfk_meta_controller(s);
	if (req->conn)
		kfk_conn_note_controller(req->conn, resp.controller_id);
	resp.topics.items = kfk_req_alloc(req, (size_t)n, sizeof(*resp.topics.items));
	if (!resp.topics.items || kfk_md_fill_brokers(req, &resp) < 0) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t i = 0; i < n; i++) {
		if (st->all) {
			if (!strncmp(st->all[i], KFK_RESERVED_TOPIC_PREFIX,
			             strlen(KFK_RESERVED_TOPIC_PREFIX)))
				continue;
			kfk_md_topic(req, kfk_str(st->all[i]), KFK_ERR_NONE, NULL,
			             &resp.topics.items[k++]);
		} else {
			kfk_md_topic(req, st->names[i], st->errs[i], st->ids[i],
			             &resp.topics.items[k++]);
		}
		if (rq->include_topic_authorized_operations)
			resp.topics.items[k - 1].topic_authorized_operations = KFK_OPS_TOPIC;
	}
	resp.topics.count = k;
	if (rq->include_cluster_authorized_operations)
		resp.cluster_authorized_operations = KFK_OPS_CLUSTER;
	/* Closed once this answer is written: a client that asks this broker
	 * again (librdkafka asks the connection it used last) would keep
	 * learning nothing; it asks one of the brokers listed instead. */
	if (st->own_hidden && req->conn)
		kfk_conn_close_after(req->conn, req->api_key,
		                     "this broker lost contact with the controller: "
		                     "ask another broker for partition leaders");
	kfk_req_respond(req, &resp);
}

/* The context of one auto-creation. */
typedef struct kfk_md_create {
	kfk_req_t *req;
	int32_t index;
} kfk_md_create_t;

static void kfk_md_created(void *arg, int16_t err, const char *message)
{
	kfk_md_create_t *mc = arg;
	kfk_req_t *req = mc->req;
	kfk_md_state_t *st = req->hstate;

	(void)message;
	/* A name that collides with an existing topic's: for good. Failed
	 * for now (no controller, a timeout): tell the client to retry, as
	 * Kafka does while a topic is being created. */
	if (err == KFK_ERR_INVALID_TOPIC_EXCEPTION)
		st->errs[mc->index] = err;
	else if (err != KFK_ERR_NONE && err != KFK_ERR_INVALID_REQUEST)
		st->errs[mc->index] = KFK_ERR_LEADER_NOT_AVAILABLE;
	if (--st->pending == 0)
		kfk_md_respond(req);
}

/* Decides entry I: resolves ids, starts auto-creation when allowed. */
static void kfk_md_prepare(kfk_req_t *req, int32_t i, bool may_create)
{
	const kfk_metadata_request_t *rq = req->body;
	kfk_md_state_t *st = req->hstate;
	const kfk_metadata_request_topic_t *t = &rq->topics.items[i];
	kfk_topic_t *topic = NULL;
	char name[CK_TOPIC_NAME_MAX + 1];
	char msg[8];

	st->names[i] = t->name;
	if (t->name.len < 0) {
		/* v10+: by id. */
		st->ids[i] = t->topic_id;
		if (req->api_version < KFK_MD_BY_ID_VERSION) {
			/* v10 and v11 carry ids, but a topic is named by id only
			 * from v12 (Kafka: INVALID_REQUEST), and their response
			 * has no null name. */
			st->errs[i] = KFK_ERR_INVALID_REQUEST;
			st->names[i] = kfk_str("");
			return;
		}
		if (kfk_meta_topic_by_id(req->srv, t->topic_id, &topic) <= 0) {
			st->errs[i] = KFK_ERR_UNKNOWN_TOPIC_ID;
			st->names[i] = KFK_STR_NULL;
			return;
		}
		st->names[i] = kfk_str(kfk_req_strdup(req, kfk_str(topic->name)));
		return;
	}
	if (kfk_meta_topic(req->srv, t->name, &topic) > 0)
		return;
	if (kfk_topic_name_check(t->name, name, msg, sizeof(msg)) != KFK_ERR_NONE) {
		st->errs[i] = KFK_ERR_INVALID_TOPIC_EXCEPTION;
		return;
	}
	if (!may_create)
		return;
	st->creates[i].req = req;
	st->creates[i].index = i;
	if (kfk_auto_create(req->srv, name, kfk_md_created, &st->creates[i]) == 0)
		st->pending++;
	else
		st->errs[i] = KFK_ERR_LEADER_NOT_AVAILABLE;
}

/* Drops repeated names (Kafka treats the topic list as a set), keeping
 * the first copy of each in order; -1 when out of memory. */
static int32_t kfk_md_dedup(kfk_req_t *req, kfk_md_state_t *st)
{
	const kfk_metadata_request_t *rq = req->body;
	uint8_t *dups = kfk_req_alloc(req, (size_t)rq->topics.count, 1);
	int32_t k = 0;

	for (int32_t i = 0; i < rq->topics.count; i++)
		st->names[i] = rq->topics.items[i].name;
	if (!dups || kfk_names_dups(st->names, (size_t)rq->topics.count, dups) < 0)
		return -1;
	for (int32_t i = 0; i < rq->topics.count; i++) {
		if (dups[i] == KFK_NAME_DUP_LATER)
			continue;
		rq->topics.items[k] = rq->topics.items[i];
		st->names[k++] = rq->topics.items[i].name;
	}
	return k;
}

void kfk_h_metadata(kfk_req_t *req)
{
	kfk_metadata_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_md_state_t *st;
	bool all = rq->topics.count < 0 || (req->api_version == 0 && rq->topics.count == 0);
	bool may_create =
	    s->set.auto_create && (req->api_version < 4 || rq->allow_auto_topic_creation);
	int32_t n = rq->topics.count < 0 ? 0 : rq->topics.count;

	if (kfk_req_at_head(req, kfk_h_metadata))
		return;
	st = kfk_req_alloc(req, 1, sizeof(*st));
	if (!st) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	req->hstate = st;
	req->hstate_free = kfk_md_state_free;
	kfk_meta_refresh(s);
	if (all) {
		int r = kfk_meta_topic_names(s, &st->all);

		if (r < 0) {
			ck_log(CK_LOG_WARN, "cannot list topics: %s", ck_strerror(r));
			r = 0;
			st->all = NULL;
		}
		st->nall = r;
		if (!st->all)
			st->all = calloc(1, sizeof(char *));
		kfk_md_respond(req);
		return;
	}
	st->names = kfk_req_alloc(req, (size_t)n, sizeof(*st->names));
	st->errs = kfk_req_alloc(req, (size_t)n, sizeof(*st->errs));
	st->ids = kfk_req_alloc(req, (size_t)n, sizeof(*st->ids));
	st->creates = kfk_req_alloc(req, (size_t)n, sizeof(*st->creates));
	if (!st->names || !st->errs || !st->ids || !st->creates) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	st->n = kfk_md_dedup(req, st);
	if (st->n < 0) {
		st->n = 0;
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	st->pending = 1; /* held until every entry is prepared */
	for (int32_t i = 0; i < st->n; i++)
		kfk_md_prepare(req, i, may_create);
	if (--st->pending == 0)
		kfk_md_respond(req);
}
