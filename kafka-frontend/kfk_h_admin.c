/*
 * kfk_h_admin.c: CreateTopics (0-7), DeleteTopics (0-6) and
 * CreatePartitions (0-3) (shell handlers of chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. Each entry is validated here
 * (kfk_admin_core.c: names, counts, replication factor against the live
 * brokers, assignments, configs) and then proposed to raftd as a
 * MetadataCommand; the reply comes after the command was committed and
 * applied locally, so the response never announces a topic that Metadata
 * would not show yet. A request whose answer could come from this node
 * lagging the controller (a topic another node created or deleted a moment
 * ago) first syncs with it (kfk_req_sync_first), then runs again: a
 * DeleteTopics or CreatePartitions naming a topic not known here, a
 * CreateTopics naming one that is or asking more replicas than it knows
 * live brokers (the registrations of brokers that just started may not be
 * applied here yet), and any CreatePartitions on a follower (new partitions
 * are numbered from the count it knows). While a cluster forms, its
 * brokers register one after another in its first second or so: a
 * CreateTopics asking more replicas than are registered, but no more than
 * the configured nodes, waits for them (a sync every KFK_CT_WAIT_POLL_MS,
 * for at most KFK_CT_WAIT_MS after it arrived) before it is refused with
 * INVALID_REPLICATION_FACTOR, so that a client creating a topic as soon as
 * it can connect does not see an error Kafka's clients do not retry. validate_only
 * stops after the checks. A topic named twice in one request gets
 * INVALID_REQUEST and is answered once, as in Kafka (its clients key the
 * results by name: librdkafka refuses a response naming a topic twice).
 * CreatePartitions numbers the new partitions from the count this node
 * knows; when another one committed first, raftd refuses the proposal
 * (INVALID_PARTITIONS) and, once this node sees the newer count, the entry
 * runs again against it: it grows the topic further or gets
 * INVALID_PARTITIONS as from Kafka's controller, which takes them in turn.
 * Not for: auto-creation (kfk_propose.c), configs (kfk_h_configs.c).
 */
#define CK_LOG_SUBSYSTEM "admin"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_admin_core.h"
#include "kfk_errors.h"
#include "kfk_h_admin.h"
#include "kfk_srv.h"

void kfk_aop_set(kfk_aop_t *op, int16_t err, const char *msg)
{
	op->err = err;
	if (!msg)
		op->msg[0] = '\0';
	else if (msg != op->msg)
		(void)snprintf(op->msg, sizeof(op->msg), "%s", msg);
}

static void kfk_aop_proposed(void *arg, int16_t err, const char *message)
{
	kfk_aop_t *op = arg;
	kfk_admin_t *ad = op->ad;

	if (err != KFK_ERR_NONE && ad->retry && ad->retry(op, err)) {
		kfk_admin_release(ad);
		return;
	}
	kfk_aop_set(op, err, err != KFK_ERR_NONE ? message : NULL);
	if (err != KFK_ERR_NONE)
		ck_log(CK_LOG_INFO, "metadata change failed api_key=%d error=%s message=\"%s\"",
		       (int)ad->req->api_key, kfk_err_name(err), message ? message : "");
	kfk_admin_release(ad);
}

void kfk_aop_propose(kfk_aop_t *op, const Chronik__Meta__MetadataCommand *cmd)
{
	kfk_admin_t *ad = op->ad;
	int r;

	ad->pending++;
	r = kfk_propose(ad->req->srv, cmd, ad->timeout_ms, kfk_aop_proposed, op);
	if (r < 0) {
		ad->pending--;
		/* kfk_propose waits for raftd itself (-ENOTCONN never comes
		 * back): what is left is local, e.g. out of memory. */
		kfk_aop_set(op, kfk_err_from_raftd(r), ck_strerror(r));
	}
}

void kfk_admin_release(kfk_admin_t *ad)
{
	if (--ad->pending == 0)
		ad->respond(ad);
}

kfk_admin_t *kfk_admin_new(kfk_req_t *req, int32_t n, int32_t timeout_ms,
                           void (*respond)(kfk_admin_t *ad))
{
	kfk_admin_t *ad = kfk_req_alloc(req, 1, sizeof(*ad));

	if (!ad)
		return NULL;
	ad->ops = kfk_req_alloc(req, (size_t)n, sizeof(*ad->ops));
	if (!ad->ops)
		return NULL;
	ad->req = req;
	ad->n = n;
	ad->timeout_ms = timeout_ms;
	ad->respond = respond;
	ad->pending = 1; /* held while entries are dispatched */
	for (int32_t i = 0; i < n; i++)
		ad->ops[i].ad = ad;
	req->hstate = ad;
	return ad;
}

/* ---- CreateTopics ---- */

/* What the answer needs of a topic that passed its checks (a request may
 * name a million topics: the plans themselves are not kept). */
typedef struct {
	int32_t partitions;
	int16_t replication_factor;
	const kfk_tcfg_set_t *configs; /* the keys set in the request; NULL: none */
} kfk_ct_res_t;

/* O's configs (v5+): the topic's own keys and the node's defaults. Topics
 * that set none share one list (*SHARED, built by the first). */
static void kfk_ct_fill_configs(kfk_req_t *req, const kfk_tcfg_set_t *set,
                                kfk_create_topics_response_creatable_topic_configs_t **shared,
                                kfk_create_topics_response_creatable_topic_result_t *o)
{
	kfk_srv_t *s = req->srv;
	kfk_create_topics_response_creatable_topic_configs_t *items = set ? NULL : *shared;

	if (!items) {
		items = kfk_req_alloc(req, KFK_TCFG_COUNT, sizeof(*items));
		if (!items)
			return;
		for (int k = 0; k < KFK_TCFG_COUNT; k++) {
			kfk_create_topics_response_creatable_topic_configs_t *c = &items[k];
			char v[KFK_TCFG_VALUE_MAX];
			bool own = set && set->present[k];

			kfk_create_topics_response_creatable_topic_configs_init(c);
			if (own)
				memcpy(v, set->value[k], KFK_TCFG_VALUE_MAX);
			else
				kfk_tcfg_default_str(&s->tdefs, (kfk_tcfg_key_t)k, v, sizeof(v));
			c->name = kfk_str(kfk_tcfg_info((kfk_tcfg_key_t)k)->name);
			c->value = kfk_str(kfk_req_strdup(req, kfk_str(v)));
			c->config_source = own ? KFK_CFG_SOURCE_DYNAMIC_TOPIC
			                   : kfk_tcfg_node_set(s->cfg, (kfk_tcfg_key_t)k)
			                       ? KFK_CFG_SOURCE_STATIC_BROKER
			                       : KFK_CFG_SOURCE_DEFAULT;
		}
		if (!set)
			*shared = items;
	}
	o->configs.items = items;
	o->configs.count = KFK_TCFG_COUNT;
}

static void kfk_ct_respond(kfk_admin_t *ad)
{
	kfk_req_t *req = ad->req;
	const kfk_create_topics_request_t *rq = req->body;
	const kfk_ct_res_t *res = ad->extra;
	kfk_create_topics_response_creatable_topic_configs_t *shared = NULL;
	kfk_create_topics_response_t resp;

	kfk_create_topics_response_init(&resp);
	resp.topics.items = kfk_req_alloc(req, (size_t)ad->n, sizeof(*resp.topics.items));
	if (!resp.topics.items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	kfk_meta_refresh(req->srv);
	for (int32_t i = 0; i < ad->n; i++) {
		kfk_create_topics_response_creatable_topic_result_t *o;
		const kfk_aop_t *op = &ad->ops[i];
		kfk_topic_t *t = NULL;

		if (ad->dups[i] == KFK_NAME_DUP_LATER)
			continue;
		o = &resp.topics.items[resp.topics.count++];
		kfk_create_topics_response_creatable_topic_result_init(o);
		o->name = rq->topics.items[i].name;
		o->error_code = op->err;
		o->error_message = op->err ? kfk_str(op->msg) : KFK_STR_NULL;
		if (op->err != KFK_ERR_NONE) {
			o->configs.count = -1;
			continue;
		}
		o->num_partitions = res[i].partitions;
		o->replication_factor = res[i].replication_factor;
		if (!rq->validate_only && kfk_meta_topic(req->srv, o->name, &t) > 0)
			memcpy(o->topic_id, t->id, 16);
		/* Partitions, replication factor and configs are v5+ fields. */
		if (req->api_version >= 5)
			kfk_ct_fill_configs(req, res[i].configs, &shared, o);
	}
	kfk_req_respond(req, &resp);
}

/* Builds the CreateTopic command of PLAN and proposes it. */
static void kfk_ct_propose(kfk_aop_t *op, kfk_create_plan_t *plan)
{
	kfk_srv_t *s = op->ad->req->srv;
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__CreateTopic ct = CHRONIK__META__CREATE_TOPIC__INIT;
	Chronik__Meta__PartitionAssignment *pa = calloc((size_t)plan->partitions, sizeof(*pa));
	Chronik__Meta__PartitionAssignment **pas = calloc((size_t)plan->partitions, sizeof(*pas));
	Chronik__Meta__ConfigEntry ce[KFK_TCFG_COUNT], *ces[KFK_TCFG_COUNT];
	uint8_t id[16];
	size_t nc = 0;

	if (!pa || !pas) {
		kfk_aop_set(op, KFK_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
		goto out;
	}
	for (int32_t i = 0; i < plan->partitions; i++) {
		chronik__meta__partition_assignment__init(&pa[i]);
		pa[i].partition = i;
		pa[i].n_replicas = (size_t)plan->replication_factor;
		pa[i].replicas = &plan->replicas[(size_t)i * (size_t)plan->replication_factor];
		pas[i] = &pa[i];
	}
	for (int k = 0; k < KFK_TCFG_COUNT; k++) {
		if (!plan->configs.present[k])
			continue;
		chronik__meta__config_entry__init(&ce[nc]);
		ce[nc].name = (char *)kfk_tcfg_info((kfk_tcfg_key_t)k)->name;
		ce[nc].value = plan->configs.value[k];
		ces[nc] = &ce[nc];
		nc++;
	}
	kfk_topic_id_new(s, id);
	ct.name = plan->name;
	ct.refuse_collision = true;
	ct.topic_id.data = id;
	ct.topic_id.len = 16;
	ct.n_assignments = (size_t)plan->partitions;
	ct.assignments = pas;
	ct.n_configs = nc;
	ct.configs = ces;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC;
	cmd.create_topic = &ct;
	kfk_aop_propose(op, &cmd);
out:
	free(pa);
	free(pas);
}

/* Kafka refuses a name that collides with an existing topic's once '.'
 * and '_' are equated; raftd checks again when it applies the creation
 * (refuse_collision), against what committed before it. */
static bool kfk_ct_collides(kfk_srv_t *s, const char *name, kfk_aop_t *op)
{
	char other[CK_TOPIC_NAME_MAX + 1];
	int r = kfk_meta_collision(s, name, other, sizeof(other));

	if (r < 0)
		kfk_aop_set(op, KFK_ERR_UNKNOWN_SERVER_ERROR, ck_strerror(r));
	else if (r > 0) {
		(void)snprintf(op->msg, sizeof(op->msg),
		               "Topic '%.100s' collides with existing topic: %.100s", name, other);
		kfk_aop_set(op, KFK_ERR_INVALID_TOPIC_EXCEPTION, op->msg);
	}
	return r != 0;
}

/* LISTED: whether this node may list the topic or one whose name collides
 * with it (false: looked up already, none). */
static void kfk_ct_one(kfk_admin_t *ad, int32_t i, const uint8_t *dups, const kfk_create_ctx_t *ctx,
                       bool listed)
{
	kfk_req_t *req = ad->req;
	const kfk_create_topics_request_t *rq = req->body;
	const kfk_create_topics_request_creatable_topic_t *t = &rq->topics.items[i];
	kfk_ct_res_t *res = &((kfk_ct_res_t *)ad->extra)[i];
	kfk_create_plan_t plan;
	kfk_aop_t *op = &ad->ops[i];
	kfk_topic_t *existing = NULL;
	int16_t err;

	if (dups[i] != KFK_NAME_UNIQUE)
		return kfk_aop_set(op, KFK_ERR_INVALID_REQUEST, "Duplicate topic name.");
	err = kfk_topic_name_check(t->name, plan.name, op->msg, sizeof(op->msg));
	if (err != KFK_ERR_NONE)
		return kfk_aop_set(op, err, op->msg);
	if (listed && kfk_meta_topic(req->srv, t->name, &existing) > 0) {
		(void)snprintf(op->msg, sizeof(op->msg), "topic '%.200s' already exists",
		               plan.name);
		return kfk_aop_set(op, KFK_ERR_TOPIC_ALREADY_EXISTS, op->msg);
	}
	if (listed && kfk_ct_collides(req->srv, plan.name, op))
		return;
	err = kfk_create_check(t, ctx, &plan, op->msg, sizeof(op->msg));
	if (err != KFK_ERR_NONE)
		return kfk_aop_set(op, err, op->msg);
	res->partitions = plan.partitions;
	res->replication_factor = plan.replication_factor;
	if (t->configs.count > 0) {
		kfk_tcfg_set_t *own = kfk_req_alloc(req, 1, sizeof(*own));

		if (!own)
			return kfk_aop_set(op, KFK_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
		*own = plan.configs;
		res->configs = own;
	}
	kfk_aop_set(op, KFK_ERR_NONE, NULL);
	if (rq->validate_only)
		return;
	plan.replicas =
	    calloc((size_t)plan.partitions * (size_t)plan.replication_factor, sizeof(int32_t));
	if (!plan.replicas)
		return kfk_aop_set(op, KFK_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
	kfk_create_assign(t, ctx, kfk_srv_rand(req->srv), &plan);
	kfk_ct_propose(op, &plan);
	free(plan.replicas);
}

#define KFK_CT_WAIT_MS      5000
#define KFK_CT_WAIT_POLL_MS 100

/* A CreateTopics waiting for brokers to register (its hstate meanwhile). */
typedef struct {
	struct event *timer;
} kfk_ct_wait_t;

static void kfk_ct_wait_free(kfk_req_t *req)
{
	kfk_ct_wait_t *w = req->hstate;

	if (w && w->timer)
		event_free(w->timer);
	req->hstate = NULL;
	req->hstate_free = NULL;
	req->on_orphan = NULL;
}

static void kfk_ct_wait_orphan(kfk_req_t *req)
{
	kfk_req_free(req);
}

static void kfk_ct_wait_done(evutil_socket_t fd, short what, void *arg)
{
	kfk_req_t *req = arg;

	(void)fd;
	(void)what;
	kfk_ct_wait_free(req);
	req->synced = false; /* sync again: registrations may have come */
	kfk_h_create_topics(req);
}

/* Whether REQ, asking RF replicas of the registered brokers, waits for
 * more of them (true: it runs again later). */
static bool kfk_ct_wait(kfk_req_t *req, int32_t rf)
{
	kfk_srv_t *s = req->srv;
	struct timeval tv = {0, KFK_CT_WAIT_POLL_MS * 1000};
	kfk_ct_wait_t *w;

	if (rf > s->cfg->peer_count || s->stopping || !req->conn ||
	    ck_clock_mono_ms() >= req->recv_ms + KFK_CT_WAIT_MS)
		return false;
	w = kfk_req_alloc(req, 1, sizeof(*w));
	if (!w || !(w->timer = evtimer_new(s->base, kfk_ct_wait_done, req)))
		return false;
	if (evtimer_add(w->timer, &tv) < 0) {
		event_free(w->timer);
		return false;
	}
	req->hstate = w;
	req->hstate_free = kfk_ct_wait_free;
	req->on_orphan = kfk_ct_wait_orphan;
	return true;
}

/* Whether this node lists NAME, or a topic whose name collides with it. */
static bool kfk_ct_listed(kfk_srv_t *s, kfk_str_t name)
{
	char cname[CK_TOPIC_NAME_MAX + 1], other[CK_TOPIC_NAME_MAX + 1];
	kfk_topic_t *t;

	if (kfk_meta_topic(s, name, &t) > 0)
		return true;
	if (name.len <= 0 || name.len > CK_TOPIC_NAME_MAX)
		return false;
	memcpy(cname, name.ptr, (size_t)name.len);
	cname[name.len] = '\0';
	return kfk_meta_collision(s, cname, other, sizeof(other)) > 0;
}

void kfk_h_create_topics(kfk_req_t *req)
{
	const kfk_create_topics_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	int32_t brokers[CK_CONFIG_PEERS_MAX + 1], fenced[CK_CONFIG_PEERS_MAX + 1];
	kfk_create_ctx_t ctx;
	kfk_admin_t *ad;
	kfk_str_t *names;
	uint8_t *dups;
	bool listed = false;

	/* A topic this node still lists (or one whose name collides) may be
	 * gone at the controller (deleted through another node a moment ago). */
	kfk_meta_refresh(s);
	for (int32_t i = 0; i < rq->topics.count && !listed; i++) {
		listed = kfk_ct_listed(s, rq->topics.items[i].name);
		if (listed && kfk_req_sync_first(req, kfk_h_create_topics))
			return;
	}
	ctx.nbrokers = (size_t)kfk_meta_live_broker_ids(s, brokers, (int)CK_ARRAY_LEN(brokers));
	for (int32_t i = 0; i < rq->topics.count; i++) {
		const kfk_create_topics_request_creatable_topic_t *t = &rq->topics.items[i];
		int32_t rf =
		    t->replication_factor == -1 ? s->set.default_rf : t->replication_factor;

		if (t->assignments.count == 0 && rf > 0 && (size_t)rf > ctx.nbrokers &&
		    (kfk_req_sync_first(req, kfk_h_create_topics) || kfk_ct_wait(req, rf)))
			return;
	}
	ad = kfk_admin_new(req, rq->topics.count, rq->timeout_ms, kfk_ct_respond);
	names = kfk_req_alloc(req, (size_t)rq->topics.count, sizeof(*names));
	dups = kfk_req_alloc(req, (size_t)rq->topics.count, 1);
	if (!ad || !names || !dups ||
	    !(ad->extra = kfk_req_alloc(req, (size_t)rq->topics.count, sizeof(kfk_ct_res_t)))) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	ctx.brokers = brokers;
	ctx.fenced = fenced;
	ctx.nfenced = (size_t)kfk_meta_fenced_broker_ids(s, fenced, (int)CK_ARRAY_LEN(fenced));
	ctx.default_partitions = s->set.num_partitions;
	ctx.default_rf = s->set.default_rf;
	ctx.cfg_defaults = &s->tdefs;
	for (int32_t i = 0; i < rq->topics.count; i++)
		names[i] = rq->topics.items[i].name;
	if (kfk_names_dups(names, (size_t)rq->topics.count, dups) < 0) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	ad->dups = dups;
	for (int32_t i = 0; i < rq->topics.count; i++)
		kfk_ct_one(ad, i, dups, &ctx, listed);
	kfk_admin_release(ad);
}

/* ---- DeleteTopics ---- */

static void kfk_dt_respond(kfk_admin_t *ad)
{
	kfk_req_t *req = ad->req;
	kfk_delete_topics_response_t resp;
	kfk_delete_topics_response_deletable_topic_result_t *items = ad->extra;

	kfk_delete_topics_response_init(&resp);
	resp.responses.items = items;
	for (int32_t i = 0; i < ad->n; i++) {
		kfk_delete_topics_response_deletable_topic_result_t *o =
		    &items[resp.responses.count];

		if (ad->dups[i] == KFK_NAME_DUP_LATER)
			continue;
		*o = items[i];
		o->error_code = ad->ops[i].err;
		o->error_message = ad->ops[i].err ? kfk_str(ad->ops[i].msg) : KFK_STR_NULL;
		resp.responses.count++;
	}
	kfk_req_respond(req, &resp);
}

static bool kfk_uuid_zero(const uint8_t *id)
{
	static const uint8_t zero[16];

	return !memcmp(id, zero, sizeof(zero));
}

static const kfk_delete_topics_request_t *kfk_dt_sort_rq;

static int kfk_dt_id_cmp(const void *a, const void *b)
{
	const kfk_delete_topics_request_delete_topic_state_t *v = kfk_dt_sort_rq->topics.items;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	int c = memcmp(v[x].topic_id, v[y].topic_id, 16);

	return c ? c : (x > y) - (x < y);
}

/* Marks in DUPS (KFK_NAME_UNIQUE or not, as kfk_names_dups) the entries of
 * a DeleteTopics v6+ request RQ naming by id a topic another entry names by
 * the same id. Returns 0 or -ENOMEM. */
static int kfk_dt_id_dups(kfk_req_t *req, const kfk_delete_topics_request_t *rq, uint8_t *dups)
{
	int32_t *idx = kfk_req_alloc(req, (size_t)rq->topics.count + 1, sizeof(*idx));
	int32_t n = 0;

	if (!idx)
		return -ENOMEM;
	for (int32_t i = 0; i < rq->topics.count; i++) {
		if (rq->topics.items[i].name.len < 0)
			idx[n++] = i;
	}
	kfk_dt_sort_rq = rq;
	qsort(idx, (size_t)n, sizeof(*idx), kfk_dt_id_cmp);
	/* Equal ids end up next to each other, lowest index first. */
	for (int32_t k = 1; k < n; k++) {
		if (memcmp(rq->topics.items[idx[k - 1]].topic_id, rq->topics.items[idx[k]].topic_id,
		           16))
			continue;
		if (dups[idx[k - 1]] == KFK_NAME_UNIQUE)
			dups[idx[k - 1]] = KFK_NAME_DUP_FIRST;
		dups[idx[k]] = KFK_NAME_DUP_LATER;
	}
	return 0;
}

static void kfk_dt_one(kfk_admin_t *ad, int32_t i, kfk_str_t name, const uint8_t *id,
                       const uint8_t *dups)
{
	kfk_req_t *req = ad->req;
	kfk_delete_topics_response_deletable_topic_result_t *o =
	    &((kfk_delete_topics_response_deletable_topic_result_t *)ad->extra)[i];
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__DeleteTopic dt = CHRONIK__META__DELETE_TOPIC__INIT;
	kfk_aop_t *op = &ad->ops[i];
	kfk_topic_t *t = NULL;
	int r;

	kfk_delete_topics_response_deletable_topic_result_init(o);
	o->name = name;
	if (id)
		memcpy(o->topic_id, id, 16);
	if (dups[i] != KFK_NAME_UNIQUE)
		return kfk_aop_set(op, KFK_ERR_INVALID_REQUEST,
		                   name.len >= 0 ? "Duplicate topic name." : "Duplicate topic id.");
	/* v6+: a name or an id, as Kafka's controller checks. */
	if (id && name.len >= 0 && !kfk_uuid_zero(id))
		return kfk_aop_set(op, KFK_ERR_INVALID_REQUEST,
		                   "You may not specify both topic name and topic id.");
	if (id && name.len < 0 && kfk_uuid_zero(id))
		return kfk_aop_set(op, KFK_ERR_INVALID_REQUEST,
		                   "Neither topic name nor id were specified.");
	r = name.len >= 0 ? kfk_meta_topic(req->srv, name, &t)
	                  : kfk_meta_topic_by_id(req->srv, id, &t);
	if (r <= 0)
		return kfk_aop_set(op,
		                   r < 0           ? KFK_ERR_UNKNOWN_SERVER_ERROR
		                   : name.len >= 0 ? KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION
		                                   : KFK_ERR_UNKNOWN_TOPIC_ID,
		                   r < 0 ? ck_strerror(r) : "this server does not host this topic");
	o->name = kfk_str(kfk_req_strdup(req, kfk_str(t->name)));
	memcpy(o->topic_id, t->id, 16);
	dt.name = (char *)o->name.ptr;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC;
	cmd.delete_topic = &dt;
	kfk_aop_set(op, KFK_ERR_NONE, NULL);
	kfk_aop_propose(op, &cmd);
}

void kfk_h_delete_topics(kfk_req_t *req)
{
	const kfk_delete_topics_request_t *rq = req->body;
	bool v6 = req->api_version >= 6;
	int32_t n = v6 ? rq->topics.count : rq->topic_names.count;
	kfk_admin_t *ad;
	kfk_str_t *names;
	uint8_t *dups;

	kfk_meta_refresh(req->srv);
	for (int32_t i = 0; i < n; i++) {
		if (!kfk_meta_knows(req->srv,
		                    v6 ? rq->topics.items[i].name : rq->topic_names.items[i],
		                    v6 ? rq->topics.items[i].topic_id : NULL)) {
			if (kfk_req_sync_first(req, kfk_h_delete_topics))
				return;
			break;
		}
	}
	ad = kfk_admin_new(req, n < 0 ? 0 : n, rq->timeout_ms, kfk_dt_respond);
	names = kfk_req_alloc(req, (size_t)(n < 0 ? 0 : n), sizeof(*names));
	dups = kfk_req_alloc(req, (size_t)(n < 0 ? 0 : n), 1);
	if (!ad || !names || !dups ||
	    !(ad->extra =
	          kfk_req_alloc(req, (size_t)ad->n,
	                        sizeof(kfk_delete_topics_response_deletable_topic_result_t)))) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t i = 0; i < ad->n; i++)
		names[i] = v6 ? rq->topics.items[i].name : rq->topic_names.items[i];
	if (kfk_names_dups(names, (size_t)ad->n, dups) < 0 ||
	    (v6 && kfk_dt_id_dups(req, rq, dups) < 0)) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	ad->dups = dups;
	for (int32_t i = 0; i < ad->n; i++)
		kfk_dt_one(ad, i, names[i], v6 ? rq->topics.items[i].topic_id : NULL, dups);
	kfk_admin_release(ad);
}

/* ---- CreatePartitions ---- */

static void kfk_cp_respond(kfk_admin_t *ad)
{
	kfk_req_t *req = ad->req;
	const kfk_create_partitions_request_t *rq = req->body;
	const uint8_t *dups = ad->dups;
	kfk_create_partitions_response_t resp;
	kfk_create_partitions_response_create_partitions_topic_result_t *items;
	int32_t k = 0;

	items = kfk_req_alloc(req, (size_t)ad->n, sizeof(*items));
	if (!items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	kfk_create_partitions_response_init(&resp);
	for (int32_t i = 0; i < ad->n; i++) {
		if (dups[i] == KFK_NAME_DUP_LATER)
			continue;
		kfk_create_partitions_response_create_partitions_topic_result_init(&items[k]);
		items[k].name = rq->topics.items[i].name;
		items[k].error_code = ad->ops[i].err;
		items[k].error_message = ad->ops[i].err ? kfk_str(ad->ops[i].msg) : KFK_STR_NULL;
		k++;
	}
	resp.results.count = k;
	resp.results.items = items;
	kfk_req_respond(req, &resp);
}

static void kfk_cp_propose(kfk_aop_t *op, const char *name, int32_t first, int32_t add, int16_t rf,
                           int32_t *replicas)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__CreatePartitions cp = CHRONIK__META__CREATE_PARTITIONS__INIT;
	Chronik__Meta__PartitionAssignment *pa = calloc((size_t)add, sizeof(*pa));
	Chronik__Meta__PartitionAssignment **pas = calloc((size_t)add, sizeof(*pas));

	if (!pa || !pas) {
		kfk_aop_set(op, KFK_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
		goto out;
	}
	for (int32_t i = 0; i < add; i++) {
		chronik__meta__partition_assignment__init(&pa[i]);
		pa[i].partition = first + i;
		pa[i].n_replicas = (size_t)rf;
		pa[i].replicas = &replicas[(size_t)i * (size_t)rf];
		pas[i] = &pa[i];
	}
	cp.name = (char *)name;
	cp.n_assignments = (size_t)add;
	cp.assignments = pas;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_CREATE_PARTITIONS;
	cmd.create_partitions = &cp;
	kfk_aop_propose(op, &cmd);
out:
	free(pa);
	free(pas);
}

/* What a CreatePartitions entry proposed: the count it numbered the new
 * partitions from, and how often it ran again. */
typedef struct {
	int32_t from;
	int32_t tries;
} kfk_cp_state_t;

/* Fills CTX, BROKERS and FENCED (CK_CONFIG_PEERS_MAX + 1 ids each) with
 * the brokers this node knows. */
static void kfk_cp_ctx(kfk_srv_t *s, kfk_create_ctx_t *ctx, int32_t *brokers, int32_t *fenced)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->brokers = brokers;
	ctx->fenced = fenced;
	ctx->nbrokers = (size_t)kfk_meta_live_broker_ids(s, brokers, CK_CONFIG_PEERS_MAX + 1);
	ctx->nfenced = (size_t)kfk_meta_fenced_broker_ids(s, fenced, CK_CONFIG_PEERS_MAX + 1);
}

static void kfk_cp_one(kfk_admin_t *ad, int32_t i, const kfk_create_ctx_t *ctx);

/* Runs an entry raftd refused as numbered from a stale count again, once
 * this node knows the newer one (not before: it would only be refused
 * again), a few times at most. */
static bool kfk_cp_retry(kfk_aop_t *op, int16_t err)
{
	kfk_admin_t *ad = op->ad;
	int32_t i = (int32_t)(op - ad->ops);
	kfk_cp_state_t *st = &((kfk_cp_state_t *)ad->extra)[i];
	const kfk_create_partitions_request_t *rq = ad->req->body;
	int32_t brokers[CK_CONFIG_PEERS_MAX + 1], fenced[CK_CONFIG_PEERS_MAX + 1];
	kfk_create_ctx_t ctx;
	kfk_topic_t *t = NULL;

	if (err != KFK_ERR_INVALID_PARTITIONS || st->tries >= 8)
		return false;
	kfk_meta_refresh(ad->req->srv);
	if (kfk_meta_topic(ad->req->srv, rq->topics.items[i].name, &t) <= 0 || t->npart == st->from)
		return false;
	st->tries++;
	kfk_cp_ctx(ad->req->srv, &ctx, brokers, fenced);
	kfk_cp_one(ad, i, &ctx);
	return true;
}

static void kfk_cp_one(kfk_admin_t *ad, int32_t i, const kfk_create_ctx_t *ctx)
{
	kfk_req_t *req = ad->req;
	const kfk_create_partitions_request_t *rq = req->body;
	const kfk_create_partitions_request_create_partitions_topic_t *ct = &rq->topics.items[i];
	kfk_aop_t *op = &ad->ops[i];
	kfk_topic_t *t = NULL;
	int32_t *replicas;
	int16_t rf, err;
	bool grows;

	if (ad->dups[i] != KFK_NAME_UNIQUE)
		return kfk_aop_set(op, KFK_ERR_INVALID_REQUEST,
		                   "topic named more than once in the request");
	if (kfk_meta_topic(req->srv, ct->name, &t) <= 0)
		return kfk_aop_set(op, KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION,
		                   "this server does not host this topic");
	rf = t->npart > 0 && t->parts[0].nreplicas > 0 ? (int16_t)t->parts[0].nreplicas
	                                               : req->srv->set.default_rf;
	/* Room for the new partitions' replicas only for a count that can be
	 * valid: a hostile one (up to 2^31 - 1) sized gigabytes and stalled
	 * the loop zeroing them; kfk_partitions_check refuses it. */
	grows = ct->count > t->npart && ct->count <= KFK_PARTITIONS_MAX;
	replicas =
	    grows ? kfk_req_alloc(req, (size_t)(ct->count - t->npart) * (size_t)rf, sizeof(int32_t))
	          : NULL;
	if (grows && !replicas)
		return kfk_aop_set(op, KFK_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
	err = kfk_partitions_check(ct, t->npart, rf, ctx, kfk_srv_rand(req->srv), replicas, op->msg,
	                           sizeof(op->msg));
	if (err != KFK_ERR_NONE)
		return kfk_aop_set(op, err, op->msg);
	kfk_aop_set(op, KFK_ERR_NONE, NULL);
	((kfk_cp_state_t *)ad->extra)[i].from = t->npart;
	if (!rq->validate_only)
		kfk_cp_propose(op, t->name, t->npart, ct->count - t->npart, rf, replicas);
}

void kfk_h_create_partitions(kfk_req_t *req)
{
	const kfk_create_partitions_request_t *rq = req->body;
	int32_t brokers[CK_CONFIG_PEERS_MAX + 1], fenced[CK_CONFIG_PEERS_MAX + 1];
	kfk_create_ctx_t ctx;
	kfk_admin_t *ad;
	kfk_str_t *names;
	uint8_t *dups;

	/* The new partitions are numbered from the count this node knows: on
	 * a follower, which may lag, know the controller's first. */
	kfk_meta_refresh(req->srv);
	if (kfk_meta_controller(req->srv) != req->srv->cfg->node_id &&
	    kfk_req_sync_first(req, kfk_h_create_partitions))
		return;
	for (int32_t i = 0; i < rq->topics.count; i++) {
		if (!kfk_meta_knows(req->srv, rq->topics.items[i].name, NULL)) {
			if (kfk_req_sync_first(req, kfk_h_create_partitions))
				return;
			break;
		}
	}
	ad = kfk_admin_new(req, rq->topics.count, rq->timeout_ms, kfk_cp_respond);
	names = kfk_req_alloc(req, (size_t)rq->topics.count, sizeof(*names));
	if (!ad || !names || !(ad->dups = dups = kfk_req_alloc(req, (size_t)rq->topics.count, 1)) ||
	    !(ad->extra = kfk_req_alloc(req, (size_t)rq->topics.count, sizeof(kfk_cp_state_t)))) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	ad->retry = kfk_cp_retry;
	kfk_cp_ctx(req->srv, &ctx, brokers, fenced);
	for (int32_t i = 0; i < rq->topics.count; i++)
		names[i] = rq->topics.items[i].name;
	if (kfk_names_dups(names, (size_t)rq->topics.count, dups) < 0) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t i = 0; i < rq->topics.count; i++)
		kfk_cp_one(ad, i, &ctx);
	kfk_admin_release(ad);
}
