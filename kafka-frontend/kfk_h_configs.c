/*
 * kfk_h_configs.c: DescribeConfigs (0-4), AlterConfigs (0-2) and
 * IncrementalAlterConfigs (0-1) (shell handlers of chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. Topic configs are the keys of kfk_topic_cfg.h:
 * described with their effective value, whether it is the default
 * (is_default in v0, config_source from v1), synonyms when asked (the
 * topic's own value, then the broker default it overrides), type (v3) and
 * documentation when asked. Changes are validated with the same rules as
 * CreateTopics and proposed to raftd as AlterTopicConfigs: AlterConfigs
 * replaces the whole set, IncrementalAlterConfigs sets and deletes keys
 * (APPEND/SUBTRACT only on the list key cleanup.policy). Broker resources
 * are described read-only (the node's settings and the broker default of
 * every topic key) and cannot be changed. As in Kafka (its
 * ConfigAdminManager.preprocess), a change request naming one resource
 * twice changes nothing of it (INVALID_REQUEST for every copy), and a null
 * value is INVALID_REQUEST (but for an incremental DELETE). A
 * change naming a topic this node does not know first syncs with the
 * controller (kfk_req_sync_first), then runs again. A topic name that
 * breaks Kafka's rules is INVALID_TOPIC_EXCEPTION (an alter of the empty
 * name INVALID_REQUEST, as Kafka's controller), not unknown.
 * Not for: the rules themselves (kfk_topic_cfg.c).
 */
#define CK_LOG_SUBSYSTEM "configs"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_log.h"
#include "kfk_admin_core.h"
#include "kfk_errors.h"
#include "kfk_h_admin.h"
#include "kfk_srv.h"

#define KFK_RESOURCE_TOPIC  2
#define KFK_RESOURCE_BROKER 4

enum { KFK_OP_SET = 0, KFK_OP_DELETE = 1, KFK_OP_APPEND = 2, KFK_OP_SUBTRACT = 3 };

typedef kfk_describe_configs_response_describe_configs_resource_result_t kfk_dc_entry_t;
typedef kfk_describe_configs_response_describe_configs_synonym_t kfk_dc_syn_t;

/* What a describe request asks about one resource. */
typedef struct {
	kfk_req_t *req;
	const kfk_describe_configs_request_describe_configs_resource_t *res;
	bool synonyms;
	bool docs;
	kfk_dc_entry_t *out;
	int32_t n;
} kfk_dc_ctx_t;

/* Entries of one resource at most: every topic key, or every broker row. */
#define KFK_DC_ENTRIES_MAX 48
_Static_assert(KFK_TCFG_COUNT <= KFK_DC_ENTRIES_MAX, "KFK_DC_ENTRIES_MAX too small");

/* Null or empty keys ask for every config (Kafka's ConfigHelper). */
static bool kfk_dc_wanted(const kfk_dc_ctx_t *c, const char *name)
{
	if (c->res->configuration_keys.count <= 0)
		return true;
	for (int32_t i = 0; i < c->res->configuration_keys.count; i++)
		if (kfk_str_eq(c->res->configuration_keys.items[i], name))
			return true;
	return false;
}

/* Appends one entry; SYN_* describe the default it overrides (NULL: no
 * synonym list beyond the entry itself), from SYN_SOURCE. */
static void kfk_dc_add(kfk_dc_ctx_t *c, const char *name, const char *value, int8_t source,
                       bool read_only, int8_t type, const char *doc, const char *syn_name,
                       const char *syn_value, int8_t syn_source)
{
	kfk_req_t *req = c->req;
	kfk_dc_entry_t *e;
	kfk_dc_syn_t *syn;
	int ns = 0;

	if (c->n >= KFK_DC_ENTRIES_MAX)
		return; /* unreachable: the static asserts bound every list */
	e = &c->out[c->n++];

	kfk_describe_configs_response_describe_configs_resource_result_init(e);
	e->name = kfk_str(name);
	e->value = kfk_str(kfk_req_strdup(req, kfk_str(value)));
	e->read_only = read_only;
	e->is_default = source == KFK_CFG_SOURCE_DEFAULT;
	e->config_source = source;
	e->config_type = type;
	e->documentation = c->docs && doc ? kfk_str(doc) : KFK_STR_NULL;
	if (!c->synonyms)
		return;
	syn = kfk_req_alloc(req, 2, sizeof(*syn));
	if (!syn)
		return;
	if (source != KFK_CFG_SOURCE_DEFAULT) {
		kfk_describe_configs_response_describe_configs_synonym_init(&syn[ns]);
		syn[ns].name = kfk_str(name);
		syn[ns].value = e->value;
		syn[ns++].source = source;
	}
	if (syn_name) {
		kfk_describe_configs_response_describe_configs_synonym_init(&syn[ns]);
		syn[ns].name = kfk_str(syn_name);
		syn[ns].value = kfk_str(kfk_req_strdup(req, kfk_str(syn_value)));
		syn[ns++].source = syn_source;
	}
	e->synonyms.count = ns;
	e->synonyms.items = syn;
}

static void kfk_dc_topic(kfk_dc_ctx_t *c, const kfk_topic_t *t)
{
	kfk_srv_t *s = c->req->srv;

	for (int k = 0; k < KFK_TCFG_COUNT; k++) {
		const kfk_tcfg_info_t *in = kfk_tcfg_info((kfk_tcfg_key_t)k);
		char dflt[KFK_TCFG_VALUE_MAX];
		bool set = t->cfg_set->present[k];

		if (!kfk_dc_wanted(c, in->name))
			continue;
		int8_t node = kfk_tcfg_node_set(s->cfg, (kfk_tcfg_key_t)k)
		                  ? KFK_CFG_SOURCE_STATIC_BROKER
		                  : KFK_CFG_SOURCE_DEFAULT;

		kfk_tcfg_default_str(&s->tdefs, (kfk_tcfg_key_t)k, dflt, sizeof(dflt));
		kfk_dc_add(c, in->name, set ? t->cfg_set->value[k] : dflt,
		           set ? KFK_CFG_SOURCE_DYNAMIC_TOPIC : node, false, in->type, in->doc,
		           in->broker_name, dflt, node);
	}
}

/* A broker's configs: the node's own settings, then the broker default of
 * every topic key (log.retention.ms, ...: what a topic without its own
 * setting uses). All read-only: they come from the node configuration. */
static void kfk_dc_broker(kfk_dc_ctx_t *c)
{
	kfk_srv_t *s = c->req->srv;
	char v[8][32];
	/* KEY: the [kafka] key behind the row (NULL: broker.id, always the
	 * node's own): STATIC_BROKER_CONFIG when the operator set it. */
	struct {
		const char *name;
		const char *value;
		int8_t type;
		const char *key;
	} rows[] = {
	    {"auto.create.topics.enable", s->set.auto_create ? "true" : "false",
	     KFK_CFG_TYPE_BOOLEAN, "auto_create_topics_enable"},
	    {"broker.id", v[0], KFK_CFG_TYPE_INT, NULL},
	    {"connections.max.idle.ms", v[1], KFK_CFG_TYPE_LONG, "idle_timeout_ms"},
	    {"default.replication.factor", v[2], KFK_CFG_TYPE_INT, "default_replication_factor"},
	    {"num.partitions", v[3], KFK_CFG_TYPE_INT, "num_partitions"},
	    {"offsets.retention.check.interval.ms", v[4], KFK_CFG_TYPE_LONG,
	     "offsets_retention_check_interval_ms"},
	    {"offsets.retention.minutes", v[5], KFK_CFG_TYPE_INT, "offsets_retention_ms"},
	    {"socket.request.max.bytes", v[6], KFK_CFG_TYPE_INT, "max_request_bytes"},
	};

	(void)snprintf(v[0], sizeof(v[0]), "%d", (int)s->cfg->node_id);
	/* Kafka's "never" is -1; [kafka] idle_timeout_ms says it with 0. */
	if (s->set.idle_timeout_ms)
		(void)snprintf(v[1], sizeof(v[1]), "%" PRIu64, s->set.idle_timeout_ms);
	else
		(void)snprintf(v[1], sizeof(v[1]), "-1");
	(void)snprintf(v[2], sizeof(v[2]), "%d", (int)s->set.default_rf);
	(void)snprintf(v[3], sizeof(v[3]), "%d", (int)s->set.num_partitions);
	(void)snprintf(v[4], sizeof(v[4]), "%d", (int)s->set.offsets_check_ms);
	/* Whole minutes, as Kafka's; "never" (0 ms here) is -1. */
	if (s->set.offsets_retention_ms > 0)
		(void)snprintf(v[5], sizeof(v[5]), "%" PRId64,
		               CK_MAX(s->set.offsets_retention_ms / 60000, (int64_t)1));
	else
		(void)snprintf(v[5], sizeof(v[5]), "-1");
	(void)snprintf(v[6], sizeof(v[6]), "%zu", s->set.request_bytes_max);
	_Static_assert(CK_ARRAY_LEN(rows) + KFK_TCFG_COUNT <= KFK_DC_ENTRIES_MAX,
	               "KFK_DC_ENTRIES_MAX too small");
	for (size_t i = 0; i < CK_ARRAY_LEN(rows); i++) {
		int8_t src = !rows[i].key || ck_config_operator_set(s->cfg, "kafka", rows[i].key)
		                 ? KFK_CFG_SOURCE_STATIC_BROKER
		                 : KFK_CFG_SOURCE_DEFAULT;

		if (kfk_dc_wanted(c, rows[i].name))
			kfk_dc_add(c, rows[i].name, rows[i].value, src, true, rows[i].type, NULL,
			           NULL, NULL, src);
	}
	for (int k = 0; k < KFK_TCFG_COUNT; k++) {
		const kfk_tcfg_info_t *in = kfk_tcfg_info((kfk_tcfg_key_t)k);
		char dflt[KFK_TCFG_VALUE_MAX];
		int8_t src;

		if (!in->broker_name || !kfk_dc_wanted(c, in->broker_name))
			continue; /* a topic key without a broker default */
		src = kfk_tcfg_node_set(s->cfg, (kfk_tcfg_key_t)k) ? KFK_CFG_SOURCE_STATIC_BROKER
		                                                   : KFK_CFG_SOURCE_DEFAULT;
		kfk_tcfg_default_str(&s->tdefs, (kfk_tcfg_key_t)k, dflt, sizeof(dflt));
		kfk_dc_add(c, in->broker_name, dflt, src, true, in->type, in->doc, NULL, NULL, src);
	}
}

/* Whether NAME ("" or a decimal id) is this broker. */
static bool kfk_is_self(const kfk_srv_t *s, kfk_str_t name)
{
	char buf[16];

	if (name.len <= 0)
		return true;
	(void)snprintf(buf, sizeof(buf), "%d", (int)s->cfg->node_id);
	return kfk_str_eq(name, buf);
}

static void kfk_dc_resource(kfk_req_t *req, const kfk_describe_configs_request_t *rq, int32_t i,
                            kfk_describe_configs_response_describe_configs_result_t *o)
{
	const kfk_describe_configs_request_describe_configs_resource_t *res =
	    &rq->resources.items[i];
	kfk_dc_entry_t out[KFK_DC_ENTRIES_MAX];
	kfk_dc_ctx_t c = {req, res, rq->include_synonyms, rq->include_documentation, out, 0};
	kfk_topic_t *t = NULL;

	kfk_describe_configs_response_describe_configs_result_init(o);
	o->resource_type = res->resource_type;
	o->resource_name = res->resource_name;
	if (res->resource_type == KFK_RESOURCE_TOPIC) {
		char msg[256];

		o->error_code = kfk_topic_name_legal(res->resource_name, msg, sizeof(msg));
		if (o->error_code != KFK_ERR_NONE) {
			o->error_message = kfk_str(kfk_req_strdup(req, kfk_str(msg)));
			return;
		}
		if (kfk_meta_topic(req->srv, res->resource_name, &t) <= 0) {
			o->error_code = KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
			o->error_message = kfk_str("topic does not exist");
			return;
		}
		kfk_dc_topic(&c, t);
	} else if (res->resource_type == KFK_RESOURCE_BROKER &&
	           kfk_is_self(req->srv, res->resource_name)) {
		kfk_dc_broker(&c);
	} else {
		o->error_code = KFK_ERR_INVALID_REQUEST;
		o->error_message = kfk_str(res->resource_type == KFK_RESOURCE_BROKER
		                               ? "unexpected broker id: ask that broker"
		                               : "unsupported resource type");
		return;
	}
	o->configs.items = kfk_req_alloc(req, (size_t)c.n, sizeof(*o->configs.items));
	if (!o->configs.items) {
		o->error_code = KFK_ERR_UNKNOWN_SERVER_ERROR;
		return;
	}
	memcpy(o->configs.items, out, (size_t)c.n * sizeof(out[0]));
	o->configs.count = c.n;
}

static const kfk_describe_configs_request_t *kfk_dc_sort_rq;

static int kfk_dc_str_cmp(kfk_str_t a, kfk_str_t b)
{
	int32_t n = a.len < b.len ? a.len : b.len;
	int c = n > 0 ? memcmp(a.ptr, b.ptr, (size_t)n) : 0;

	return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* Whether resources X and Y ask the same (type, name, keys): 0 when they
 * do, else their order. */
static int kfk_dc_question_cmp(int32_t x, int32_t y)
{
	const kfk_describe_configs_request_describe_configs_resource_t *a =
	    &kfk_dc_sort_rq->resources.items[x];
	const kfk_describe_configs_request_describe_configs_resource_t *b =
	    &kfk_dc_sort_rq->resources.items[y];
	int c = (a->resource_type > b->resource_type) - (a->resource_type < b->resource_type);

	if (!c)
		c = kfk_dc_str_cmp(a->resource_name, b->resource_name);
	if (!c)
		c = (a->configuration_keys.count > b->configuration_keys.count) -
		    (a->configuration_keys.count < b->configuration_keys.count);
	for (int32_t k = 0; !c && k < a->configuration_keys.count; k++)
		c = kfk_dc_str_cmp(a->configuration_keys.items[k], b->configuration_keys.items[k]);
	return c;
}

static int kfk_dc_cmp(const void *pa, const void *pb)
{
	int32_t x = *(const int32_t *)pa, y = *(const int32_t *)pb;
	int c = kfk_dc_question_cmp(x, y);

	return c ? c : (x > y) - (x < y);
}

/* SAME[i]: the first resource of RQ asking what resource I asks (I itself
 * when none before it does), so a request naming one topic many times
 * builds its answer once. NULL on out of memory. */
static int32_t *kfk_dc_same(kfk_req_t *req, const kfk_describe_configs_request_t *rq)
{
	int32_t n = rq->resources.count;
	int32_t *order = kfk_req_alloc(req, (size_t)n, sizeof(*order));
	int32_t *same = kfk_req_alloc(req, (size_t)n, sizeof(*same));

	if (!order || !same)
		return NULL;
	for (int32_t i = 0; i < n; i++)
		order[i] = i;
	kfk_dc_sort_rq = rq;
	qsort(order, (size_t)n, sizeof(*order), kfk_dc_cmp);
	for (int32_t i = 0; i < n; i++) {
		int32_t cur = order[i];

		if (i > 0 && kfk_dc_question_cmp(order[i - 1], cur) == 0)
			same[cur] = same[order[i - 1]];
		else
			same[cur] = cur;
	}
	return same;
}

void kfk_h_describe_configs(kfk_req_t *req)
{
	const kfk_describe_configs_request_t *rq = req->body;
	kfk_describe_configs_response_t resp;
	int32_t *same;

	kfk_meta_refresh(req->srv);
	kfk_describe_configs_response_init(&resp);
	resp.results.count = rq->resources.count;
	resp.results.items =
	    kfk_req_alloc(req, (size_t)rq->resources.count, sizeof(*resp.results.items));
	if (!resp.results.items) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	same = kfk_dc_same(req, rq);
	if (!same) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t i = 0; i < rq->resources.count; i++) {
		if (same[i] == i)
			kfk_dc_resource(req, rq, i, &resp.results.items[i]);
		else
			resp.results.items[i] = resp.results.items[same[i]];
	}
	kfk_req_respond(req, &resp);
}

/* ---- changes ---- */

/* The resource's type and name, per entry (both alter APIs). */
typedef struct {
	int8_t type;
	kfk_str_t name;
	bool dup; /* another entry names the same resource */
} kfk_alter_res_t;

/* Fills the response fields of entry I (the two alter APIs have the same
 * fields in types of their own). */
static void kfk_alter_result(const kfk_admin_t *ad, int32_t i, int16_t *err, kfk_str_t *msg,
                             int8_t *type, kfk_str_t *name)
{
	const kfk_alter_res_t *res = ad->extra;

	*err = ad->ops[i].err;
	*msg = ad->ops[i].err ? kfk_str(ad->ops[i].msg) : KFK_STR_NULL;
	*type = res[i].type;
	*name = res[i].name;
}

static void kfk_alter_respond(kfk_admin_t *ad)
{
	kfk_req_t *req = ad->req;
	kfk_alter_configs_response_t resp;
	kfk_alter_configs_response_alter_configs_resource_response_t *items;
	kfk_incremental_alter_configs_response_t iresp;
	kfk_incremental_alter_configs_response_alter_configs_resource_response_t *iitems;

	if (req->api_key == KFK_API_ALTER_CONFIGS) {
		items = kfk_req_alloc(req, (size_t)ad->n, sizeof(*items));
		if (!items)
			goto oom;
		for (int32_t i = 0; i < ad->n; i++) {
			kfk_alter_configs_response_alter_configs_resource_response_init(&items[i]);
			kfk_alter_result(ad, i, &items[i].error_code, &items[i].error_message,
			                 &items[i].resource_type, &items[i].resource_name);
		}
		kfk_alter_configs_response_init(&resp);
		resp.responses.count = ad->n;
		resp.responses.items = items;
		kfk_req_respond(req, &resp);
		return;
	}
	iitems = kfk_req_alloc(req, (size_t)ad->n, sizeof(*iitems));
	if (!iitems)
		goto oom;
	for (int32_t i = 0; i < ad->n; i++) {
		kfk_incremental_alter_configs_response_alter_configs_resource_response_init(
		    &iitems[i]);
		kfk_alter_result(ad, i, &iitems[i].error_code, &iitems[i].error_message,
		                 &iitems[i].resource_type, &iitems[i].resource_name);
	}
	kfk_incremental_alter_configs_response_init(&iresp);
	iresp.responses.count = ad->n;
	iresp.responses.items = iitems;
	kfk_req_respond(req, &iresp);
	return;
oom:
	kfk_req_fail_conn(req, "out of memory");
}

/* Resolves the topic of an alter entry; false (OP set) when it cannot be
 * altered. */
static bool kfk_alter_target(kfk_aop_t *op, int8_t type, kfk_str_t name, kfk_topic_t **ret)
{
	kfk_srv_t *s = op->ad->req->srv;

	if (type == KFK_RESOURCE_BROKER) {
		kfk_aop_set(op, KFK_ERR_INVALID_CONFIG,
		            "broker configs are read-only (set them in the node configuration)");
		return false;
	}
	if (type != KFK_RESOURCE_TOPIC) {
		kfk_aop_set(op, KFK_ERR_INVALID_REQUEST, "unsupported resource type");
		return false;
	}
	/* Kafka's controller refuses the empty name (the default of every
	 * topic, which it does not let clients change) before the others. */
	if (name.len == 0) {
		kfk_aop_set(op, KFK_ERR_INVALID_REQUEST,
		            "Default topic resources are not allowed.");
		return false;
	}
	if (kfk_topic_name_legal(name, op->msg, sizeof(op->msg)) != KFK_ERR_NONE) {
		kfk_aop_set(op, KFK_ERR_INVALID_TOPIC_EXCEPTION, op->msg);
		return false;
	}
	if (kfk_meta_topic(s, name, ret) <= 0) {
		kfk_aop_set(op, KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION, "topic does not exist");
		return false;
	}
	return true;
}

/* Proposes the change from OLD to NEW for topic NAME: keys set in NEW and
 * different from OLD are set, keys gone are deleted (REPLACE: NEW is the
 * whole set). */
static void kfk_alter_propose(kfk_aop_t *op, const char *name, const kfk_tcfg_set_t *old,
                              const kfk_tcfg_set_t *nw, bool replace)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__AlterTopicConfigs ac = CHRONIK__META__ALTER_TOPIC_CONFIGS__INIT;
	Chronik__Meta__ConfigEntry ce[KFK_TCFG_COUNT], *ces[KFK_TCFG_COUNT];
	char *del[KFK_TCFG_COUNT];
	size_t ns = 0, nd = 0;

	for (int k = 0; k < KFK_TCFG_COUNT; k++) {
		const char *key = kfk_tcfg_info((kfk_tcfg_key_t)k)->name;

		if (nw->present[k] &&
		    (replace || !old->present[k] || strcmp(old->value[k], nw->value[k]))) {
			chronik__meta__config_entry__init(&ce[ns]);
			ce[ns].name = (char *)key;
			ce[ns].value = (char *)nw->value[k];
			ces[ns] = &ce[ns];
			ns++;
		} else if (!nw->present[k] && old->present[k] && !replace) {
			del[nd++] = (char *)key;
		}
	}
	ac.name = (char *)name;
	ac.n_set = ns;
	ac.set = ces;
	ac.n_delete_ = nd;
	ac.delete_ = del;
	ac.replace_all = replace;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS;
	cmd.alter_topic_configs = &ac;
	kfk_aop_propose(op, &cmd);
}

/* Sets the entry's error ERR, its message already in OP->msg; false. */
static bool kfk_alter_refuse(kfk_aop_t *op, int16_t err)
{
	kfk_aop_set(op, err, op->msg);
	return false;
}

/* Whether the N config KEYS of one resource are distinct; false (OP set to
 * INVALID_REQUEST, checked before any value, as in Kafka) when one is
 * named twice. */
static bool kfk_alter_keys_unique(kfk_req_t *req, kfk_aop_t *op, const kfk_str_t *keys, int32_t n)
{
	uint8_t *dups = kfk_req_alloc(req, (size_t)n, 1);

	if (!dups || kfk_names_dups(keys, (size_t)n, dups) < 0) {
		kfk_aop_set(op, KFK_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
		return false;
	}
	for (int32_t k = 0; k < n; k++) {
		if (dups[k] != KFK_NAME_UNIQUE) {
			kfk_aop_set(op, KFK_ERR_INVALID_REQUEST, "duplicate config keys");
			return false;
		}
	}
	return true;
}

/* Starts entry I of an alter request with NCONFIGS configs, NULL_KEY the
 * key of one whose value is null where that is refused (NULL: none):
 * resolves its topic into *RET_T and returns room for the config keys;
 * NULL with the entry's error set when it cannot be altered. */
static kfk_str_t *kfk_alter_start(kfk_admin_t *ad, int32_t i, int32_t nconfigs,
                                  const kfk_str_t *null_key, kfk_topic_t **ret_t)
{
	const kfk_alter_res_t *res = &((kfk_alter_res_t *)ad->extra)[i];
	kfk_aop_t *op = &ad->ops[i];
	kfk_str_t *keys = kfk_req_alloc(ad->req, (size_t)nconfigs, sizeof(*keys));

	if (res->dup) {
		kfk_aop_set(op, KFK_ERR_INVALID_REQUEST, "Each resource must appear at most once.");
		return NULL;
	}
	if (null_key) {
		(void)snprintf(op->msg, sizeof(op->msg), "Null value not supported for : %.*s",
		               null_key->len < 0 ? 0 : (int)CK_MIN(null_key->len, 200),
		               null_key->ptr);
		kfk_aop_set(op, KFK_ERR_INVALID_REQUEST, op->msg);
		return NULL;
	}
	if (!kfk_alter_target(op, res->type, res->name, ret_t))
		return NULL;
	if (!keys)
		kfk_aop_set(op, KFK_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
	return keys;
}

/* Reads resource I of an alter request (starting with kfk_alter_start):
 * its topic into *RET_T and the topic's new config set into NW. False, the
 * entry's error set, when the change is refused. */
typedef bool kfk_alter_one_fn(kfk_admin_t *ad, int32_t i, kfk_topic_t **ret_t, kfk_tcfg_set_t *nw);

/* Runs ONE for each of the COUNT resources RES (type and name filled in)
 * of an AlterConfigs or IncrementalAlterConfigs request and proposes each
 * accepted change unless VALIDATE_ONLY (REPLACE: the new set replaces the
 * whole old one). */
static void kfk_alter_all(kfk_req_t *req, kfk_alter_res_t *res, int32_t count, bool validate_only,
                          bool replace, kfk_alter_one_fn *one)
{
	kfk_admin_t *ad =
	    kfk_admin_new(req, count, req->srv->set.request_timeout_ms, kfk_alter_respond);
	kfk_str_t *names = kfk_req_alloc(req, (size_t)count, sizeof(*names));
	int32_t *types = kfk_req_alloc(req, (size_t)count, sizeof(*types));
	uint8_t *dups = kfk_req_alloc(req, (size_t)count, 1);

	if (!ad || !names || !types || !dups) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t i = 0; i < count; i++) {
		names[i] = res[i].name;
		types[i] = res[i].type;
	}
	if (kfk_parts_dups(names, types, (size_t)count, dups) < 0) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t i = 0; i < count; i++)
		res[i].dup = dups[i] != KFK_NAME_UNIQUE;
	ad->extra = res;
	kfk_meta_refresh(req->srv);
	for (int32_t i = 0; i < count; i++) {
		kfk_topic_t *t = NULL;
		kfk_tcfg_set_t nw;

		if (one(ad, i, &t, &nw) && !validate_only)
			kfk_alter_propose(&ad->ops[i], t->name, t->cfg_set, &nw, replace);
	}
	kfk_admin_release(ad);
}

static bool kfk_ac_one(kfk_admin_t *ad, int32_t i, kfk_topic_t **ret_t, kfk_tcfg_set_t *nw)
{
	kfk_req_t *req = ad->req;
	const kfk_alter_configs_request_t *rq = req->body;
	const kfk_alter_configs_request_alter_configs_resource_t *res = &rq->resources.items[i];
	kfk_aop_t *op = &ad->ops[i];
	const kfk_str_t *null_key = NULL;
	kfk_str_t *keys;

	for (int32_t k = 0; k < res->configs.count && !null_key; k++)
		if (res->configs.items[k].value.len < 0)
			null_key = &res->configs.items[k].name;
	keys = kfk_alter_start(ad, i, res->configs.count, null_key, ret_t);
	if (!keys)
		return false;
	for (int32_t k = 0; k < res->configs.count; k++)
		keys[k] = res->configs.items[k].name;
	if (!kfk_alter_keys_unique(req, op, keys, res->configs.count))
		return false;
	kfk_tcfg_set_init(nw);
	for (int32_t k = 0; k < res->configs.count; k++) {
		const kfk_alter_configs_request_alterable_config_t *c = &res->configs.items[k];
		int16_t err;

		err = kfk_tcfg_set_put(nw, &req->srv->tdefs, c->name, c->value, op->msg,
		                       sizeof(op->msg));
		if (err != KFK_ERR_NONE)
			return kfk_alter_refuse(op, err);
	}
	return true;
}

/* Applies one incremental operation to NW. */
static int16_t kfk_iac_apply(kfk_srv_t *s, kfk_tcfg_set_t *nw,
                             const kfk_incremental_alter_configs_request_alterable_config_t *c,
                             char *msg, size_t msg_len)
{
	int key = kfk_tcfg_lookup(c->name);

	/* Kafka deletes a key it does not know without a word: nothing set. */
	if (key < 0 && c->config_operation == KFK_OP_DELETE)
		return KFK_ERR_NONE;
	if (key < 0 || c->config_operation == KFK_OP_SET)
		return kfk_tcfg_set_put(nw, &s->tdefs, c->name, c->value, msg, msg_len);
	switch (c->config_operation) {
	case KFK_OP_DELETE:
		kfk_tcfg_set_del(nw, (kfk_tcfg_key_t)key);
		return KFK_ERR_NONE;
	case KFK_OP_APPEND:
	case KFK_OP_SUBTRACT:
		return kfk_tcfg_set_list_op(nw, &s->tdefs, (kfk_tcfg_key_t)key,
		                            c->config_operation == KFK_OP_APPEND, c->value, msg,
		                            msg_len);
	default:
		(void)snprintf(msg, msg_len, "unknown config operation %d",
		               (int)c->config_operation);
		return KFK_ERR_INVALID_REQUEST;
	}
}

static bool kfk_iac_one(kfk_admin_t *ad, int32_t i, kfk_topic_t **ret_t, kfk_tcfg_set_t *nw)
{
	kfk_req_t *req = ad->req;
	const kfk_incremental_alter_configs_request_t *rq = req->body;
	const kfk_incremental_alter_configs_request_alter_configs_resource_t *res =
	    &rq->resources.items[i];
	kfk_aop_t *op = &ad->ops[i];
	const kfk_str_t *null_key = NULL;
	kfk_str_t *keys;

	for (int32_t k = 0; k < res->configs.count && !null_key; k++)
		if (res->configs.items[k].config_operation != KFK_OP_DELETE &&
		    res->configs.items[k].value.len < 0)
			null_key = &res->configs.items[k].name;
	keys = kfk_alter_start(ad, i, res->configs.count, null_key, ret_t);
	if (!keys)
		return false;
	for (int32_t k = 0; k < res->configs.count; k++)
		keys[k] = res->configs.items[k].name;
	if (!kfk_alter_keys_unique(req, op, keys, res->configs.count))
		return false;
	*nw = *(*ret_t)->cfg_set;
	for (int32_t k = 0; k < res->configs.count; k++) {
		int16_t err;

		err = kfk_iac_apply(req->srv, nw, &res->configs.items[k], op->msg, sizeof(op->msg));
		if (err != KFK_ERR_NONE)
			return kfk_alter_refuse(op, err);
	}
	return true;
}

/* True when topic resource NAME of TYPE is not known here and REQ's sync
 * started: HANDLER runs again once it is over (kfk_req_sync_first). */
static bool kfk_alter_sync(kfk_req_t *req, int8_t type, kfk_str_t name,
                           void (*handler)(kfk_req_t *req))
{
	return type == KFK_RESOURCE_TOPIC && !kfk_meta_knows(req->srv, name, NULL) &&
	       kfk_req_sync_first(req, handler);
}

void kfk_h_alter_configs(kfk_req_t *req)
{
	const kfk_alter_configs_request_t *rq = req->body;
	kfk_alter_res_t *res;

	kfk_meta_refresh(req->srv);
	for (int32_t i = 0; i < rq->resources.count && !req->synced; i++)
		if (kfk_alter_sync(req, rq->resources.items[i].resource_type,
		                   rq->resources.items[i].resource_name, kfk_h_alter_configs))
			return;
	res = kfk_req_alloc(req, (size_t)rq->resources.count, sizeof(*res));
	if (!res) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t i = 0; i < rq->resources.count; i++) {
		res[i].type = rq->resources.items[i].resource_type;
		res[i].name = rq->resources.items[i].resource_name;
	}
	kfk_alter_all(req, res, rq->resources.count, rq->validate_only, true, kfk_ac_one);
}

void kfk_h_incremental_alter_configs(kfk_req_t *req)
{
	const kfk_incremental_alter_configs_request_t *rq = req->body;
	kfk_alter_res_t *res;

	kfk_meta_refresh(req->srv);
	for (int32_t i = 0; i < rq->resources.count && !req->synced; i++)
		if (kfk_alter_sync(req, rq->resources.items[i].resource_type,
		                   rq->resources.items[i].resource_name,
		                   kfk_h_incremental_alter_configs))
			return;
	res = kfk_req_alloc(req, (size_t)rq->resources.count, sizeof(*res));
	if (!res) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t i = 0; i < rq->resources.count; i++) {
		res[i].type = rq->resources.items[i].resource_type;
		res[i].name = rq->resources.items[i].resource_name;
	}
	kfk_alter_all(req, res, rq->resources.count, rq->validate_only, false, kfk_iac_one);
}
