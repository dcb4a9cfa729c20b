/*
 * raftd_apply.c: the metadata state machine of chronik-raftd (see
 * raftd_apply.h): MetadataCommand -> LMDB `meta`, plus the list of local
 * log effects.
 *
 * Owned by raftd. Every handler validates first and writes after, so a
 * rejected command writes nothing; an LMDB failure during the writes is a
 * hard error for the whole round. Nothing here reads a clock, a random
 * source or anything but the entry and LMDB: determinism is the contract.
 * Every entry that changes partition records also goes into "changes"
 * with its topic, and the old end of "changes" is trimmed at fixed
 * indexes (RAFTD_CHANGES_*), so followers can re-read just those topics.
 * Not for: transactions, walwriter requests (raftd_node.c), Raft.
 */
#include "raftd_apply.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "raftd_cfgedit.h"

#define RAFTD_REPLICAS_MAX   64
#define RAFTD_PARTITIONS_MAX 1000000
/* "changes" (ck_meta.h): at every index that is a multiple of TRIM_EVERY,
 * the keys more than KEEP entries back go. A reader further behind than
 * that reads everything. */
#define RAFTD_CHANGES_TRIM_EVERY 1024
#define RAFTD_CHANGES_KEEP       8192

void raftd_effects_reset(raftd_effects_t *fx)
{
	fx->n = 0;
}

void raftd_effects_free(raftd_effects_t *fx)
{
	free(fx->v);
	fx->v = NULL;
	fx->n = fx->cap = 0;
}

int raftd_effects_push(raftd_effects_t *fx, const raftd_effect_t *e)
{
	if (fx->n == fx->cap) {
		size_t cap = fx->cap ? fx->cap * 2 : 16;
		raftd_effect_t *v = realloc(fx->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		fx->v = v;
		fx->cap = cap;
	}
	fx->v[fx->n++] = *e;
	return 0;
}

static int raftd_result(raftd_apply_result_t *ret, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int raftd_result(raftd_apply_result_t *ret, int code, const char *fmt, ...)
{
	va_list ap;

	ret->result = code;
	va_start(ap, fmt);
	(void)vsnprintf(ret->message, sizeof(ret->message), fmt, ap);
	va_end(ap);
	return 0;
}

/* ---- configs ---- */

/* A strict decimal integer: optional '-', digits, nothing else. */
static int raftd_parse_i64(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
		return CK_E_INVALID;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0')
		return CK_E_INVALID;
	*ret = v;
	return 0;
}

typedef struct {
	const char *key;
	int64_t min;
	int64_t max;
} raftd_cfg_key_t;

#define RAFTD_CLEANUP_POLICY "cleanup.policy"

static const raftd_cfg_key_t raftd_cfg_keys[] = {
    {"segment.bytes", CK_BATCH_HEADER_LEN, INT32_MAX},
    {"segment.ms", 1, INT64_MAX},
    {"retention.bytes", -1, INT64_MAX},
    {"retention.ms", -1, INT64_MAX},
    {"max.message.bytes", 0, INT32_MAX},
    {"index.interval.bytes", 0, INT32_MAX},
};

/* Stores V of key number I. LogConfig's 0 means "node default", so a
 * retention of 0 (delete at once) becomes the smallest non-zero value. */
static void raftd_cfg_set(raftd_log_config_t *c, size_t i, int64_t v)
{
	switch (i) {
	case 0:
		c->segment_bytes = v;
		break;
	case 1:
		c->segment_ms = v;
		break;
	case 2:
		c->retention_bytes = v == 0 ? 1 : v;
		break;
	case 3:
		c->retention_ms = v == 0 ? 1 : v;
		break;
	case 4:
		c->max_message_bytes = (int32_t)v;
		break;
	default:
		c->index_interval_bytes = (int32_t)v;
		break;
	}
}

/* Whether the list POLICY (cleanup.policy's value) holds the item
 * "delete". */
static bool raftd_policy_deletes(const char *policy)
{
	for (const char *p = policy; *p;) {
		size_t n = strcspn(p, ",");
		const char *b = p, *e = p + n;

		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e - b == 6 && !memcmp(b, "delete", 6))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

int raftd_apply_log_config(Chronik__Meta__ConfigEntry *const *configs, size_t n,
                           raftd_log_config_t *ret, const char **ret_bad)
{
	raftd_log_config_t c;

	memset(&c, 0, sizeof(c));
	for (size_t j = 0; j < n; j++) {
		for (size_t i = 0; i < CK_ARRAY_LEN(raftd_cfg_keys); i++) {
			const raftd_cfg_key_t *k = &raftd_cfg_keys[i];
			int64_t v;

			if (strcmp(configs[j]->name, k->key) != 0)
				continue;
			if (raftd_parse_i64(configs[j]->value, &v) < 0 || v < k->min ||
			    v > k->max) {
				if (ret_bad)
					*ret_bad = k->key;
				return CK_E_INVALID;
			}
			raftd_cfg_set(&c, i, v);
		}
	}
	/* A topic whose cleanup.policy does not list "delete" (compact
	 * only) keeps its records whatever its retention says, as Kafka's
	 * compacted topics do. */
	for (size_t j = 0; j < n; j++) {
		if (!strcmp(configs[j]->name, RAFTD_CLEANUP_POLICY) && configs[j]->value &&
		    !raftd_policy_deletes(configs[j]->value)) {
			c.retention_ms = -1;
			c.retention_bytes = -1;
		}
	}
	*ret = c;
	return 0;
}

/* Whether NAME is a key the log settings depend on. */
static bool raftd_log_key(const char *name)
{
	if (!name)
		return false;
	if (!strcmp(name, RAFTD_CLEANUP_POLICY))
		return true;
	for (size_t i = 0; i < CK_ARRAY_LEN(raftd_cfg_keys); i++)
		if (!strcmp(name, raftd_cfg_keys[i].key))
			return true;
	return false;
}

bool raftd_apply_alter_touches_log(const Chronik__Meta__AlterTopicConfigs *c)
{
	if (c->replace_all)
		return true;
	for (size_t j = 0; j < c->n_set; j++)
		if (raftd_log_key(c->set[j]->name))
			return true;
	for (size_t j = 0; j < c->n_delete_; j++)
		if (raftd_log_key(c->delete_[j]))
			return true;
	return false;
}

/* Keys non-empty and distinct. */
static bool raftd_configs_distinct(Chronik__Meta__ConfigEntry *const *configs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!configs[i]->name || !configs[i]->name[0])
			return false;
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(configs[i]->name, configs[j]->name))
				return false;
		}
	}
	return true;
}

/* ---- assignments ---- */

int raftd_apply_is_replica(const Chronik__Meta__PartitionRecord *p, int32_t broker)
{
	for (size_t i = 0; i < p->n_replicas; i++) {
		if (p->replicas[i] == broker)
			return 1;
	}
	return 0;
}

static bool raftd_ids_valid(const int32_t *ids, size_t n, bool allow_empty)
{
	if ((n == 0 && !allow_empty) || n > RAFTD_REPLICAS_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] < 0)
			return false;
		for (size_t j = 0; j < i; j++) {
			if (ids[i] == ids[j])
				return false;
		}
	}
	return true;
}

static bool raftd_ids_contain(const int32_t *ids, size_t n, int32_t id)
{
	for (size_t i = 0; i < n; i++) {
		if (ids[i] == id)
			return true;
	}
	return false;
}

/* The N assignments number exactly FIRST .. FIRST+N-1, each with valid
 * replicas. */
static int raftd_assignments_check(Chronik__Meta__PartitionAssignment *const *as, size_t n,
                                   int32_t first)
{
	uint8_t *seen;
	int r = 0;

	if (n == 0 || n > RAFTD_PARTITIONS_MAX || first < 0 ||
	    (int64_t)first + (int64_t)n > RAFTD_PARTITIONS_MAX)
		return CK_E_INVALID;
	seen = calloc(n, 1);
	if (!seen)
		return -ENOMEM;
	for (size_t i = 0; i < n && r == 0; i++) {
		int64_t rel = (int64_t)as[i]->partition - first;

		if (rel < 0 || rel >= (int64_t)n || seen[rel] ||
		    !raftd_ids_valid(as[i]->replicas, as[i]->n_replicas, false))
			r = CK_E_INVALID;
		else
			seen[rel] = 1;
	}
	free(seen);
	return r;
}

/* The effect template for a log of TOPIC whose record carries ID. */
static raftd_effect_t raftd_effect_make(raftd_effect_kind_t kind, const char *topic,
                                        int32_t partition, const ProtobufCBinaryData *id)
{
	raftd_effect_t e = {.kind = kind, .partition = partition};

	snprintf(e.topic, sizeof(e.topic), "%s", topic);
	if (id && id->len == RAFTD_TOPIC_ID_LEN) {
		memcpy(e.topic_id, id->data, RAFTD_TOPIC_ID_LEN);
		e.has_topic_id = true;
	}
	return e;
}

/* The ids of the brokers registered as fenced, for new partitions' ISRs. */
typedef struct {
	int32_t ids[RAFTD_REPLICAS_MAX];
	size_t n;
} raftd_fenced_t;

static int raftd_fenced_cb(void *arg, const Chronik__Meta__BrokerRecord *rec)
{
	raftd_fenced_t *f = arg;

	if (rec->fenced && f->n < CK_ARRAY_LEN(f->ids))
		f->ids[f->n++] = rec->id;
	return 0;
}

/* Writes the partition records of AS (new partitions: ISR = the replicas
 * not registered as fenced, leader = the first of them, epochs 0, as
 * Kafka's controller makes them; all replicas when every one is fenced)
 * and queues CreateLog effects for the local ones, naming the topic's ID.
 * A manual assignment may name a fenced broker (a node that is down), and
 * a broker fenced after the proposal was planned lands here too. */
static int raftd_partitions_create(const raftd_apply_t *a, MDB_txn *txn, const char *topic,
                                   const ProtobufCBinaryData *id,
                                   Chronik__Meta__PartitionAssignment *const *as, size_t n,
                                   const raftd_log_config_t *cfg, raftd_effects_t *fx)
{
	raftd_fenced_t fenced = {.n = 0};
	int32_t isr[RAFTD_REPLICAS_MAX];
	int r = ck_meta_brokers_foreach(a->meta, txn, raftd_fenced_cb, &fenced);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		Chronik__Meta__PartitionRecord p = CHRONIK__META__PARTITION_RECORD__INIT;
		size_t k = 0;

		p.topic = (char *)topic;
		p.partition = as[i]->partition;
		p.n_replicas = p.n_isr = as[i]->n_replicas;
		p.replicas = p.isr = as[i]->replicas;
		for (size_t j = 0; fenced.n && j < as[i]->n_replicas && j < CK_ARRAY_LEN(isr);
		     j++) {
			if (!raftd_ids_contain(fenced.ids, fenced.n, as[i]->replicas[j]))
				isr[k++] = as[i]->replicas[j];
		}
		if (k > 0 && k < as[i]->n_replicas) {
			p.isr = isr;
			p.n_isr = k;
		}
		p.leader = p.isr[0];
		r = ck_meta_partition_put(a->meta, txn, &p);
		if (r < 0)
			return r;
		if (raftd_apply_is_replica(&p, a->local_broker)) {
			raftd_effect_t e =
			    raftd_effect_make(RAFTD_EFFECT_CREATE_LOG, topic, p.partition, id);
			e.cfg = *cfg;
			r = raftd_effects_push(fx, &e);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* ---- commands ---- */

/* Looks TOPIC up: 1 and *RET when present, 0 when not, or a hard error. */
static int raftd_topic_find(const raftd_apply_t *a, MDB_txn *txn, const char *name,
                            Chronik__Meta__TopicRecord **ret)
{
	int r;

	if (!ck_topic_name_valid(name))
		return 0;
	r = ck_meta_topic_get(a->meta, txn, name, ret);
	if (r == CK_E_NOT_FOUND)
		return 0;
	return r < 0 ? r : 1;
}

static bool raftd_topic_id_valid(const ProtobufCBinaryData *id)
{
	if (id->len != 16)
		return false;
	for (size_t i = 0; i < id->len; i++) {
		if (id->data[i])
			return true;
	}
	return false;
}

static int raftd_create_topic(const raftd_apply_t *a, MDB_txn *txn, uint64_t index,
                              const Chronik__Meta__CreateTopic *c, raftd_effects_t *fx,
                              raftd_apply_result_t *ret)
{
	Chronik__Meta__TopicRecord t = CHRONIK__META__TOPIC_RECORD__INIT, *old = NULL;
	raftd_log_config_t cfg;
	const char *bad = NULL;
	int r;

	if (!ck_topic_name_valid(c->name) || !strcmp(c->name, RAFTD_METADATA_TOPIC))
		return raftd_result(ret, CK_E_INVALID, "invalid topic name");
	if (!raftd_topic_id_valid(&c->topic_id))
		return raftd_result(ret, CK_E_INVALID, "topic id must be 16 non-zero bytes");
	r = raftd_assignments_check(c->assignments, c->n_assignments, 0);
	if (r == CK_E_INVALID)
		return raftd_result(ret, r, "partitions must be 0..n-1 with distinct replicas");
	if (r < 0)
		return r;
	if (!raftd_configs_distinct(c->configs, c->n_configs))
		return raftd_result(ret, CK_E_INVALID, "empty or duplicate config key");
	if (raftd_apply_log_config(c->configs, c->n_configs, &cfg, &bad) < 0)
		return raftd_result(ret, CK_E_INVALID, "invalid value for %s", bad);
	r = raftd_topic_find(a, txn, c->name, &old);
	if (r < 0)
		return r;
	if (r > 0) {
		/* The same command again (a client or a forwarding follower
		 * retrying after losing the answer): done already. */
		bool same = old->topic_id.len == c->topic_id.len &&
		            !memcmp(old->topic_id.data, c->topic_id.data, c->topic_id.len);

		chronik__meta__topic_record__free_unpacked(old, NULL);
		if (same)
			return raftd_result(ret, 0, "created already");
		return raftd_result(ret, CK_E_EXISTS, "topic exists");
	}
	if (c->refuse_collision) {
		char other[CK_TOPIC_NAME_MAX + 1];

		r = ck_meta_topic_collision(a->meta, txn, c->name, other, sizeof(other));
		if (r < 0)
			return r;
		if (r > 0)
			return raftd_result(ret, CK_E_COLLISION,
			                    "Topic '%s' collides with existing topic: %s", c->name,
			                    other);
	}
	t.name = c->name;
	t.topic_id = c->topic_id;
	t.partitions = (int32_t)c->n_assignments;
	t.n_configs = c->n_configs;
	t.configs = c->configs;
	t.created_index = index;
	r = ck_meta_topic_put(a->meta, txn, &t);
	if (r < 0)
		return r;
	r = raftd_partitions_create(a, txn, c->name, &c->topic_id, c->assignments, c->n_assignments,
	                            &cfg, fx);
	return r < 0 ? r : raftd_result(ret, 0, "created");
}

typedef struct {
	const raftd_apply_t *a;
	raftd_effects_t *fx;
	const ProtobufCBinaryData *id; /* the deleted record's topic id */
	int err;
} raftd_delete_ctx_t;

static int raftd_delete_partition_cb(void *arg, const Chronik__Meta__PartitionRecord *p)
{
	raftd_delete_ctx_t *d = arg;
	raftd_effect_t e;

	if (!raftd_apply_is_replica(p, d->a->local_broker))
		return 0;
	e = raftd_effect_make(RAFTD_EFFECT_DELETE_LOG, p->topic, p->partition, d->id);
	d->err = raftd_effects_push(d->fx, &e);
	return d->err < 0 ? 1 : 0;
}

static int raftd_delete_topic(const raftd_apply_t *a, MDB_txn *txn,
                              const Chronik__Meta__DeleteTopic *c, raftd_effects_t *fx,
                              raftd_apply_result_t *ret)
{
	Chronik__Meta__TopicRecord *old = NULL;
	raftd_delete_ctx_t d = {a, fx, NULL, 0};
	int r;

	r = raftd_topic_find(a, txn, c->name, &old);
	if (r <= 0)
		return r < 0 ? r : raftd_result(ret, CK_E_NOT_FOUND, "unknown topic");
	d.id = &old->topic_id;
	r = ck_meta_partitions_foreach(a->meta, txn, c->name, raftd_delete_partition_cb, &d);
	chronik__meta__topic_record__free_unpacked(old, NULL);
	if (d.err < 0)
		return d.err;
	if (r < 0)
		return r;
	r = ck_meta_topic_del(a->meta, txn, c->name);
	/* A topic created again under the name starts without offsets. */
	if (r == 0)
		r = ck_meta_topic_offsets_del(a->meta, txn, c->name);
	return r < 0 ? r : raftd_result(ret, 0, "deleted");
}

/* Whether the new partitions of C were numbered from another count than
 * the topic's CURRENT one (another CreatePartitions committed since the
 * frontend looked): 1 with CK_E_OUT_OF_ORDER in RET (the frontend answers
 * INVALID_PARTITIONS, or numbers them again from the count it now sees,
 * as Kafka's controller takes them one after the other), else 0. */
static int raftd_partitions_moved(const Chronik__Meta__CreatePartitions *c, int32_t current,
                                  raftd_apply_result_t *ret)
{
	int64_t first = INT32_MAX, count;

	for (size_t i = 0; i < c->n_assignments; i++)
		first = CK_MIN(first, (int64_t)c->assignments[i]->partition);
	if (c->n_assignments == 0 || first == current || first < 0)
		return 0;
	count = first + (int64_t)c->n_assignments;
	if (count == current)
		(void)raftd_result(ret, CK_E_OUT_OF_ORDER, "topic already has %d partitions",
		                   current);
	else if (count < current)
		(void)raftd_result(ret, CK_E_OUT_OF_ORDER,
		                   "topic currently has %d partitions, which is higher than the "
		                   "requested %" PRId64,
		                   current, count);
	else
		(void)raftd_result(ret, CK_E_OUT_OF_ORDER,
		                   "topic currently has %d partitions, not the %" PRId64
		                   " the new ones were numbered from",
		                   current, first);
	return 1;
}

static int raftd_create_partitions(const raftd_apply_t *a, MDB_txn *txn,
                                   const Chronik__Meta__CreatePartitions *c, raftd_effects_t *fx,
                                   raftd_apply_result_t *ret)
{
	Chronik__Meta__TopicRecord *t = NULL;
	raftd_log_config_t cfg;
	int r;

	r = raftd_topic_find(a, txn, c->name, &t);
	if (r <= 0)
		return r < 0 ? r : raftd_result(ret, CK_E_NOT_FOUND, "unknown topic");
	r = 0; /* found */
	if (raftd_partitions_moved(c, t->partitions, ret))
		goto out; /* an answer, not a failure of the apply */
	r = raftd_assignments_check(c->assignments, c->n_assignments, t->partitions);
	if (r == CK_E_INVALID) {
		r = raftd_result(ret, r, "new partitions must be %d..%d+k-1 with distinct replicas",
		                 t->partitions, t->partitions);
		goto out;
	}
	if (r < 0)
		goto out;
	/* Stored configs were checked when they were set. */
	if (raftd_apply_log_config(t->configs, t->n_configs, &cfg, NULL) < 0)
		memset(&cfg, 0, sizeof(cfg));
	t->partitions += (int32_t)c->n_assignments;
	r = ck_meta_topic_put(a->meta, txn, t);
	if (r < 0)
		goto out;
	r = raftd_partitions_create(a, txn, t->name, &t->topic_id, c->assignments, c->n_assignments,
	                            &cfg, fx);
	if (r == 0)
		r = raftd_result(ret, 0, "partitions=%d", t->partitions);
out:
	chronik__meta__topic_record__free_unpacked(t, NULL);
	return r;
}

static bool raftd_strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i], s))
			return true;
	}
	return false;
}

/* The configs after an AlterTopicConfigs: kept ones (not deleted, not
 * set), then the set ones, in command order. *RET_V points into T and C. */
static int raftd_configs_merge(const Chronik__Meta__TopicRecord *t,
                               const Chronik__Meta__AlterTopicConfigs *c,
                               Chronik__Meta__ConfigEntry ***ret_v, size_t *ret_n)
{
	size_t keep = c->replace_all ? 0 : t->n_configs, n = 0;
	Chronik__Meta__ConfigEntry **v = calloc(keep + c->n_set + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < keep; i++) {
		const char *name = t->configs[i]->name;
		bool set = false;

		for (size_t j = 0; j < c->n_set && !set; j++)
			set = !strcmp(c->set[j]->name, name);
		if (!set && !raftd_strv_has(c->delete_, c->n_delete_, name))
			v[n++] = t->configs[i];
	}
	for (size_t j = 0; j < c->n_set; j++)
		v[n++] = c->set[j];
	*ret_v = v;
	*ret_n = n;
	return 0;
}

/* An alteration that touches no log setting (so nothing to validate
 * against the kept entries), edited in the packed record
 * (raftd_cfgedit.h): no unpack and pack of the record. CK_E_CORRUPT when
 * the stored record does not parse (the caller then takes the long way,
 * which reports it). */
static int raftd_alter_configs_packed(const raftd_apply_t *a, MDB_txn *txn,
                                      const Chronik__Meta__AlterTopicConfigs *c,
                                      raftd_apply_result_t *ret)
{
	uint8_t stack[2048], *buf = stack;
	size_t n = 0;
	MDB_val v;
	long len;
	int r;

	if (!ck_topic_name_valid(c->name))
		return raftd_result(ret, CK_E_NOT_FOUND, "unknown topic");
	r = ck_meta_topic_raw(a->meta, txn, c->name, &v);
	if (r == CK_E_NOT_FOUND)
		return raftd_result(ret, CK_E_NOT_FOUND, "unknown topic");
	if (r < 0)
		return r;
	len = raftd_cfgedit(v.mv_data, v.mv_size, c, buf, sizeof(stack), &n);
	if (len > (long)sizeof(stack)) {
		buf = malloc((size_t)len);
		if (!buf)
			return -ENOMEM;
		len = raftd_cfgedit(v.mv_data, v.mv_size, c, buf, (size_t)len, &n);
	}
	/* The record is copied out before the put: the put may move it. */
	r = len < 0 ? (int)len : ck_meta_topic_put_raw(a->meta, txn, c->name, buf, (size_t)len);
	if (buf != stack)
		free(buf);
	return r < 0 ? r : raftd_result(ret, 0, "configs=%zu", n);
}

static int raftd_alter_configs(const raftd_apply_t *a, MDB_txn *txn,
                               const Chronik__Meta__AlterTopicConfigs *c, raftd_apply_result_t *ret)
{
	Chronik__Meta__TopicRecord *t = NULL;
	Chronik__Meta__ConfigEntry **v = NULL, **old_v;
	size_t n = 0, old_n;
	raftd_log_config_t cfg;
	const char *bad = NULL;
	int r;

	if (!raftd_apply_alter_touches_log(c) && raftd_configs_distinct(c->set, c->n_set)) {
		r = raftd_alter_configs_packed(a, txn, c, ret);
		if (r != CK_E_CORRUPT)
			return r;
	}
	r = raftd_topic_find(a, txn, c->name, &t);
	if (r <= 0)
		return r < 0 ? r : raftd_result(ret, CK_E_NOT_FOUND, "unknown topic");
	if (!raftd_configs_distinct(c->set, c->n_set)) {
		r = raftd_result(ret, CK_E_INVALID, "empty or duplicate config key");
		goto out;
	}
	r = raftd_configs_merge(t, c, &v, &n);
	if (r < 0)
		goto out;
	if (raftd_apply_log_config(v, n, &cfg, &bad) < 0) {
		r = raftd_result(ret, CK_E_INVALID, "invalid value for %s", bad);
		goto out;
	}
	old_v = t->configs;
	old_n = t->n_configs;
	t->configs = v;
	t->n_configs = n;
	r = ck_meta_topic_put(a->meta, txn, t);
	t->configs = old_v;
	t->n_configs = old_n;
	if (r == 0)
		r = raftd_result(ret, 0, "configs=%zu", n);
out:
	free(v);
	chronik__meta__topic_record__free_unpacked(t, NULL);
	return r;
}

/* The partitions a broker with new data leaves (raftd_data_new). */
typedef struct {
	const raftd_apply_t *a;
	MDB_txn *txn;
	int32_t broker;
	raftd_fenced_t fenced;
	struct raftd_leave {
		char *topic;
		int32_t partition;
	} * v;
	size_t n, cap;
} raftd_leave_t;

static int raftd_leave_partition_cb(void *arg, const Chronik__Meta__PartitionRecord *p)
{
	raftd_leave_t *l = arg;
	struct raftd_leave *v;

	if (p->n_isr < 2 || !raftd_ids_contain(p->isr, p->n_isr, l->broker))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;

		v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	v = &l->v[l->n];
	v->topic = strdup(p->topic);
	if (!v->topic)
		return -ENOMEM;
	v->partition = p->partition;
	l->n++;
	return 0;
}

static int raftd_leave_topic_cb(void *arg, const Chronik__Meta__TopicRecord *t)
{
	raftd_leave_t *l = arg;

	return ck_meta_partitions_foreach(l->a->meta, l->txn, t->name, raftd_leave_partition_cb, l);
}

/* P without L's broker in its ISR (it has another member): when it led,
 * the first other ISR member in replica order that is not fenced leads
 * (leader epoch + 1), or none (the ISR stays without it: no unclean
 * election; the controller elects a member when one is live again). */
static int raftd_leave_one(raftd_leave_t *l, Chronik__Meta__PartitionRecord *p)
{
	int32_t isr[RAFTD_REPLICAS_MAX], *old_isr = p->isr;
	size_t n_isr = 0, old_n = p->n_isr;
	int r;

	for (size_t i = 0; i < p->n_isr && n_isr < CK_ARRAY_LEN(isr); i++) {
		if (p->isr[i] != l->broker)
			isr[n_isr++] = p->isr[i];
	}
	if (p->leader == l->broker) {
		p->leader = -1;
		for (size_t i = 0; i < p->n_replicas && p->leader < 0; i++) {
			int32_t id = p->replicas[i];

			if (raftd_ids_contain(isr, n_isr, id) &&
			    !raftd_ids_contain(l->fenced.ids, l->fenced.n, id))
				p->leader = id;
		}
		p->leader_epoch++;
	}
	p->isr = isr;
	p->n_isr = n_isr;
	p->partition_epoch++;
	r = ck_meta_partition_put(l->a->meta, l->txn, p);
	p->isr = old_isr;
	p->n_isr = old_n;
	return r;
}

/*
 * Broker ID registered with new data (ck_dataid.h: its logs start empty):
 * it leaves every ISR that has another member, and the partitions it led
 * get another leader, in this entry, before it can lead or count towards
 * a high watermark again; it comes back into the ISRs as a follower that
 * caught up, as any. Kafka's controller does the same for a broker whose
 * log directory is new. *RET_N counts the partitions changed.
 */
static int raftd_data_new(const raftd_apply_t *a, MDB_txn *txn, int32_t id, size_t *ret_n)
{
	raftd_leave_t l = {.a = a, .txn = txn, .broker = id};
	int r = ck_meta_brokers_foreach(a->meta, txn, raftd_fenced_cb, &l.fenced);

	if (r == 0)
		r = ck_meta_topics_foreach(a->meta, txn, raftd_leave_topic_cb, &l);
	for (size_t i = 0; i < l.n && r == 0; i++) {
		Chronik__Meta__PartitionRecord *p = NULL;

		r = ck_meta_partition_get(a->meta, txn, l.v[i].topic, l.v[i].partition, &p);
		if (r == 0) {
			r = raftd_leave_one(&l, p);
			chronik__meta__partition_record__free_unpacked(p, NULL);
		}
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].topic);
	free(l.v);
	*ret_n = l.n;
	return r;
}

static int raftd_parts_changed(const raftd_apply_t *a, MDB_txn *txn, uint64_t index,
                               const Chronik__Meta__MetadataCommand *cmd);

static int raftd_register_broker(const raftd_apply_t *a, MDB_txn *txn, uint64_t index,
                                 const Chronik__Meta__MetadataCommand *cmd,
                                 raftd_apply_result_t *ret)
{
	const Chronik__Meta__BrokerRecord *b = cmd->register_broker->broker;
	Chronik__Meta__BrokerRecord *old = NULL;
	bool data_new = false;
	size_t moved = 0;
	int r;

	if (!b || b->id < 0 || b->kafka_port < 0 || b->kafka_port > 65535)
		return raftd_result(ret, CK_E_INVALID, "invalid broker record");
	r = ck_meta_broker_get(a->meta, txn, b->id, &old);
	if (r == 0) { /* 0 on either side: unknown (a first start, an older raftd) */
		data_new = old->data_id != 0 && b->data_id != 0 && old->data_id != b->data_id;
		chronik__meta__broker_record__free_unpacked(old, NULL);
	}
	if (r < 0 && r != CK_E_NOT_FOUND)
		return r;
	r = ck_meta_broker_put(a->meta, txn, b);
	if (r == 0)
		r = ck_meta_brokers_index_put(a->meta, txn, index);
	if (r == 0 && data_new)
		r = raftd_data_new(a, txn, b->id, &moved);
	/* Partition records changed: recorded as of an unknown topic (several). */
	if (r == 0 && moved > 0)
		r = raftd_parts_changed(a, txn, index, cmd);
	if (r < 0)
		return r;
	return data_new ? raftd_result(ret, 0, "broker %d registered with new data: left %zu isrs",
	                               b->id, moved)
	                : raftd_result(ret, 0, "broker %d registered", b->id);
}

static int raftd_fence_broker(const raftd_apply_t *a, MDB_txn *txn, uint64_t index,
                              const Chronik__Meta__FenceBroker *c, raftd_apply_result_t *ret)
{
	Chronik__Meta__BrokerRecord *b = NULL;
	int r;

	r = c->id < 0 ? CK_E_NOT_FOUND : ck_meta_broker_get(a->meta, txn, c->id, &b);
	if (r == CK_E_NOT_FOUND)
		return raftd_result(ret, r, "unknown broker");
	if (r < 0)
		return r;
	if (c->incarnation != 0 && c->incarnation != b->incarnation) {
		r = raftd_result(ret, CK_E_INVALID, "stale incarnation");
		goto out;
	}
	b->fenced = c->fenced;
	r = ck_meta_broker_put(a->meta, txn, b);
	if (r == 0)
		r = ck_meta_brokers_index_put(a->meta, txn, index);
	if (r == 0)
		r = raftd_result(ret, 0, "broker %d %s", c->id, c->fenced ? "fenced" : "unfenced");
out:
	chronik__meta__broker_record__free_unpacked(b, NULL);
	return r;
}

/* The checks of an UpdatePartition against the current record P. */
static int raftd_update_check(const Chronik__Meta__PartitionRecord *p,
                              const Chronik__Meta__UpdatePartition *c, raftd_apply_result_t *ret)
{
	if (c->partition_epoch != p->partition_epoch)
		return raftd_result(ret, CK_E_AGAIN, "partition epoch is %d, not %d",
		                    p->partition_epoch, c->partition_epoch);
	if (!raftd_ids_valid(c->isr, c->n_isr, true))
		return raftd_result(ret, CK_E_INVALID, "invalid isr");
	for (size_t i = 0; i < c->n_isr; i++) {
		if (!raftd_ids_contain(p->replicas, p->n_replicas, c->isr[i]))
			return raftd_result(ret, CK_E_INVALID, "isr member %d is no replica",
			                    c->isr[i]);
	}
	if (c->leader < -1 || (c->leader >= 0 && !raftd_ids_contain(c->isr, c->n_isr, c->leader)))
		return raftd_result(ret, CK_E_INVALID, "leader %d not in the isr", c->leader);
	if (c->leader_epoch < p->leader_epoch)
		return raftd_result(ret, CK_E_INVALID, "leader epoch going back");
	return raftd_result(ret, 0, "updated");
}

/* An ISR may only grow by brokers that are registered and not fenced (as
 * KIP-841): a leader that heard from a follower whose broker the controller
 * fenced would otherwise take it back, and the controller take it out
 * again. Returns 0 (RET says whether it is refused) or an error. */
static int raftd_update_isr_live(const raftd_apply_t *a, MDB_txn *txn,
                                 const Chronik__Meta__PartitionRecord *p,
                                 const Chronik__Meta__UpdatePartition *c, raftd_apply_result_t *ret)
{
	for (size_t i = 0; i < c->n_isr && ret->result == 0; i++) {
		Chronik__Meta__BrokerRecord *b = NULL;
		bool fenced;
		int r;

		if (raftd_ids_contain(p->isr, p->n_isr, c->isr[i]))
			continue;
		r = ck_meta_broker_get(a->meta, txn, c->isr[i], &b);
		if (r < 0 && r != CK_E_NOT_FOUND)
			return r;
		fenced = r == CK_E_NOT_FOUND || b->fenced;
		if (b)
			chronik__meta__broker_record__free_unpacked(b, NULL);
		if (fenced)
			(void)raftd_result(ret, CK_E_INVALID, "isr member %d is fenced", c->isr[i]);
	}
	return 0;
}

static int raftd_update_partition(const raftd_apply_t *a, MDB_txn *txn,
                                  const Chronik__Meta__UpdatePartition *c,
                                  raftd_apply_result_t *ret)
{
	Chronik__Meta__PartitionRecord *p = NULL;
	int r;

	r = ck_topic_name_valid(c->topic) && c->partition >= 0
	        ? ck_meta_partition_get(a->meta, txn, c->topic, c->partition, &p)
	        : CK_E_NOT_FOUND;
	if (r == CK_E_NOT_FOUND)
		return raftd_result(ret, r, "unknown partition");
	if (r < 0)
		return r;
	(void)raftd_update_check(p, c, ret);
	if (ret->result == 0)
		r = raftd_update_isr_live(a, txn, p, c, ret);
	if (r == 0 && ret->result == 0) {
		int32_t *old_isr = p->isr;
		size_t old_n = p->n_isr;

		p->leader = c->leader;
		p->isr = c->isr;
		p->n_isr = c->n_isr;
		p->leader_epoch = c->leader_epoch;
		p->partition_epoch++;
		r = ck_meta_partition_put(a->meta, txn, p);
		p->isr = old_isr;
		p->n_isr = old_n;
	}
	chronik__meta__partition_record__free_unpacked(p, NULL);
	return r;
}

static int raftd_allocate_pids(const raftd_apply_t *a, MDB_txn *txn,
                               const Chronik__Meta__AllocateProducerIds *c,
                               raftd_apply_result_t *ret)
{
	Chronik__Meta__BrokerRecord *b = NULL;
	int64_t next;
	int r;

	r = c->broker_id < 0 ? CK_E_NOT_FOUND : ck_meta_broker_get(a->meta, txn, c->broker_id, &b);
	if (r == CK_E_NOT_FOUND)
		return raftd_result(ret, r, "unknown broker");
	if (r < 0)
		return r;
	chronik__meta__broker_record__free_unpacked(b, NULL);
	if (c->block_size < 1 || c->block_size > RAFTD_PRODUCER_BLOCK_MAX)
		return raftd_result(ret, CK_E_INVALID, "block size out of range");
	r = ck_meta_producer_id_next(a->meta, txn, &next);
	if (r < 0)
		return r;
	if (next > INT64_MAX - c->block_size)
		return raftd_result(ret, CK_E_INVALID, "producer ids exhausted");
	r = ck_meta_producer_block_put(a->meta, txn, c->broker_id, next, c->block_size);
	if (r == 0)
		r = ck_meta_producer_id_next_put(a->meta, txn, next + c->block_size);
	return r < 0 ? r
	             : raftd_result(ret, 0, "producer ids %lld..%lld", (long long)next,
	                            (long long)(next + c->block_size - 1));
}

/* ---- consumer groups ---- */

/* Whether GROUP may name a group in "groups" (ck_meta.h; "" is one, as
 * Kafka keeps offsets of the empty group). A NUL byte in it is refused
 * before, from the packed entry (raftd_names_nul). */
static bool raftd_group_valid(const char *group)
{
	return group && strlen(group) <= RAFTD_GROUP_NAME_MAX;
}

/* The partition count of TOPIC into *RET, -1 when there is no such topic.
 * Returns 0 or a hard error. */
static int raftd_topic_partitions(const raftd_apply_t *a, MDB_txn *txn, const char *topic,
                                  int32_t *ret)
{
	Chronik__Meta__TopicRecord *t = NULL;
	int r = raftd_topic_find(a, txn, topic, &t);

	if (r < 0)
		return r;
	*ret = r > 0 ? t->partitions : -1;
	chronik__meta__topic_record__free_unpacked(t, NULL);
	return 0;
}

/* A group command proposed by a coordinator that judged itself one by
 * brokers older than the current ones (VIEW, its metadata index; 0: not
 * said) may come from a deposed coordinator (its raftd stalled past its
 * session, say) while another took the group over: its commits would go
 * back in time, its deletions drop what the successor's members use.
 * Returns 0 (current), 1 (stale: RET says CK_E_STALE) or an error. */
static int raftd_view_check(const raftd_apply_t *a, MDB_txn *txn, uint64_t view,
                            raftd_apply_result_t *ret)
{
	uint64_t brokers = 0;
	int r;

	if (view == 0)
		return 0;
	r = ck_meta_brokers_index(a->meta, txn, &brokers);
	if (r < 0)
		return r;
	if (view >= brokers)
		return 0;
	(void)raftd_result(ret, CK_E_STALE,
	                   "proposed from metadata at %" PRIu64 ", brokers changed at %" PRIu64,
	                   view, brokers);
	return 1;
}

/* Stores the offsets of partitions that exist; the others are skipped
 * (every node skips the same ones). Consecutive offsets of one topic
 * share one look-up of its record. */
static int raftd_commit_offsets(const raftd_apply_t *a, MDB_txn *txn,
                                const Chronik__Meta__CommitOffsets *c, raftd_apply_result_t *ret)
{
	Chronik__Meta__GroupOffsetRecord rec = CHRONIK__META__GROUP_OFFSET_RECORD__INIT;
	const char *known = NULL; /* the topic PARTS counts the partitions of */
	int32_t parts = -1;
	size_t n = 0;
	int r;

	if (!raftd_group_valid(c->group))
		return raftd_result(ret, CK_E_INVALID, "invalid group");
	r = raftd_view_check(a, txn, c->view_index, ret);
	if (r != 0)
		return r < 0 ? r : 0;
	rec.commit_ms = c->commit_ms;
	rec.protocol_type = c->protocol_type;
	for (size_t i = 0; i < c->n_offsets; i++) {
		const Chronik__Meta__GroupOffset *o = c->offsets[i];

		if (!known || strcmp(known, o->topic) != 0) {
			r = raftd_topic_partitions(a, txn, o->topic, &parts);
			if (r < 0)
				return r;
			known = o->topic;
		}
		if (o->partition < 0 || o->partition >= parts)
			continue;
		rec.offset = o->offset;
		rec.leader_epoch = o->leader_epoch;
		rec.metadata = o->metadata;
		r = ck_meta_group_offset_put(a->meta, txn, c->group, o->topic, o->partition, &rec);
		if (r < 0)
			return r;
		n++;
	}
	return raftd_result(ret, 0, "committed %zu offsets of group %s", n, c->group);
}

static int raftd_delete_group(const raftd_apply_t *a, MDB_txn *txn,
                              const Chronik__Meta__DeleteGroup *c, raftd_apply_result_t *ret)
{
	int r, s;

	if (!raftd_group_valid(c->group))
		return raftd_result(ret, CK_E_INVALID, "invalid group");
	r = raftd_view_check(a, txn, c->view_index, ret);
	if (r != 0)
		return r < 0 ? r : 0;
	r = ck_meta_group_del(a->meta, txn, c->group);
	if (r < 0 && r != CK_E_NOT_FOUND)
		return r;
	s = ck_meta_group_state_del(a->meta, txn, c->group);
	if (s < 0 && s != CK_E_NOT_FOUND)
		return s;
	if (r == CK_E_NOT_FOUND && s == CK_E_NOT_FOUND)
		return raftd_result(ret, r, "no offsets");
	return raftd_result(ret, 0, "group %s deleted", c->group);
}

/* A group's membership at a completed rebalance, or its end (no members). */
static int raftd_store_group(const raftd_apply_t *a, MDB_txn *txn,
                             const Chronik__Meta__StoreGroup *c, raftd_apply_result_t *ret)
{
	int r;

	if (!raftd_group_valid(c->group) || !c->group[0])
		return raftd_result(ret, CK_E_INVALID, "invalid group");
	r = raftd_view_check(a, txn, c->view_index, ret);
	if (r != 0)
		return r < 0 ? r : 0;
	if (!c->state || c->state->n_members == 0) {
		r = ck_meta_group_state_del(a->meta, txn, c->group);
		if (r < 0 && r != CK_E_NOT_FOUND)
			return r;
		return raftd_result(ret, 0, "group %s empty", c->group);
	}
	r = ck_meta_group_state_put(a->meta, txn, c->group, c->state);
	if (r < 0)
		return r;
	return raftd_result(ret, 0, "group %s generation %d stored", c->group,
	                    (int)c->state->generation);
}

/* Whether the offset of GROUP for TOPIC/PARTITION may go under C: always,
 * unless C expires offsets and this one was committed at or after its
 * cutoff (or is unreadable: left for an explicit delete). Returns 1, 0 or
 * an error. */
static int raftd_offset_expired(const raftd_apply_t *a, MDB_txn *txn,
                                const Chronik__Meta__DeleteOffsets *c, const char *topic,
                                int32_t partition)
{
	Chronik__Meta__GroupOffsetRecord *rec;
	int r;

	if (c->expired_before_ms <= 0)
		return 1;
	r = ck_meta_group_offset_get(a->meta, txn, c->group, topic, partition, &rec);
	if (r == CK_E_NOT_FOUND || r == CK_E_CORRUPT || r == CK_E_TOO_LARGE)
		return 0;
	if (r < 0)
		return r;
	r = rec->commit_ms < c->expired_before_ms;
	chronik__meta__group_offset_record__free_unpacked(rec, NULL);
	return r;
}

/* OffsetDelete and offset expiry: partitions without an offset are no
 * error (every node skips the same ones). */
static int raftd_delete_offsets(const raftd_apply_t *a, MDB_txn *txn,
                                const Chronik__Meta__DeleteOffsets *c, raftd_apply_result_t *ret)
{
	size_t n = 0;
	int r;

	if (!raftd_group_valid(c->group))
		return raftd_result(ret, CK_E_INVALID, "invalid group");
	r = raftd_view_check(a, txn, c->view_index, ret);
	if (r != 0)
		return r < 0 ? r : 0;
	for (size_t i = 0; i < c->n_partitions; i++) {
		const Chronik__Meta__GroupPartition *p = c->partitions[i];

		if (!p->topic || !p->topic[0] || p->partition < 0)
			continue;
		r = raftd_offset_expired(a, txn, c, p->topic, p->partition);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		r = ck_meta_group_offset_del(a->meta, txn, c->group, p->topic, p->partition);
		if (r == CK_E_NOT_FOUND)
			continue;
		if (r < 0)
			return r;
		n++;
	}
	return raftd_result(ret, 0, "%s %zu offsets of group %s",
	                    c->expired_before_ms > 0 ? "expired" : "deleted", n, c->group);
}

static int raftd_apply_cmd(const raftd_apply_t *a, MDB_txn *txn, uint64_t index,
                           const Chronik__Meta__MetadataCommand *cmd, raftd_effects_t *fx,
                           raftd_apply_result_t *ret)
{
	switch (cmd->cmd_case) {
	case CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC:
		return raftd_create_topic(a, txn, index, cmd->create_topic, fx, ret);
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC:
		return raftd_delete_topic(a, txn, cmd->delete_topic, fx, ret);
	case CHRONIK__META__METADATA_COMMAND__CMD_CREATE_PARTITIONS:
		return raftd_create_partitions(a, txn, cmd->create_partitions, fx, ret);
	case CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS:
		return raftd_alter_configs(a, txn, cmd->alter_topic_configs, ret);
	case CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER:
		return raftd_register_broker(a, txn, index, cmd, ret);
	case CHRONIK__META__METADATA_COMMAND__CMD_FENCE_BROKER:
		return raftd_fence_broker(a, txn, index, cmd->fence_broker, ret);
	case CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION:
		return raftd_update_partition(a, txn, cmd->update_partition, ret);
	case CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS:
		return raftd_allocate_pids(a, txn, cmd->allocate_producer_ids, ret);
	case CHRONIK__META__METADATA_COMMAND__CMD_NOOP:
		return raftd_result(ret, 0, "noop");
	case CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS:
		return raftd_commit_offsets(a, txn, cmd->commit_offsets, ret);
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP:
		return raftd_delete_group(a, txn, cmd->delete_group, ret);
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS:
		return raftd_delete_offsets(a, txn, cmd->delete_offsets, ret);
	case CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP:
		return raftd_store_group(a, txn, cmd->store_group, ret);
	default:
		return raftd_result(ret, CK_E_INVALID, "no command");
	}
}

/* Whether a command of this kind may create, delete or update partition
 * records (what "parts_index" and "changes" track; see ck_meta.h). */
static bool raftd_changes_partitions(int cmd_case)
{
	switch (cmd_case) {
	case CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS:
	case CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER:
	case CHRONIK__META__METADATA_COMMAND__CMD_FENCE_BROKER: /* the broker record only */
	case CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS:
	case CHRONIK__META__METADATA_COMMAND__CMD_NOOP:
	case CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS: /* "groups" only */
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP:
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS:
	case CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP:
		return false;
	default:
		return true;
	}
}

/* The topic whose partition records a command of a partition-changing
 * kind changed; NULL for a kind this file does not know ("changes" then
 * records an unknown topic: readers read everything). */
static const char *raftd_cmd_topic(const Chronik__Meta__MetadataCommand *cmd)
{
	switch (cmd->cmd_case) {
	case CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC:
		return cmd->create_topic->name;
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC:
		return cmd->delete_topic->name;
	case CHRONIK__META__METADATA_COMMAND__CMD_CREATE_PARTITIONS:
		return cmd->create_partitions->name;
	case CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION:
		return cmd->update_partition->topic;
	default:
		return NULL;
	}
}

/* Records a partition-changing entry: "changes" first (it checks its
 * invariant against the previous parts_index), then "parts_index". */
static int raftd_parts_changed(const raftd_apply_t *a, MDB_txn *txn, uint64_t index,
                               const Chronik__Meta__MetadataCommand *cmd)
{
	int r = ck_meta_change_put(a->meta, txn, index, raftd_cmd_topic(cmd));

	return r < 0 ? r : ck_meta_parts_index_put(a->meta, txn, index);
}

/* Every entry counts, whatever it holds, so every node trims at the same
 * indexes. */
static int raftd_apply_trim(const raftd_apply_t *a, MDB_txn *txn, uint64_t index)
{
	if (index % RAFTD_CHANGES_TRIM_EVERY == 0 && index > RAFTD_CHANGES_KEEP)
		return ck_meta_changes_trim(a->meta, txn, index - RAFTD_CHANGES_KEEP);
	return 0;
}

static int raftd_apply_decoded(const raftd_apply_t *a, MDB_txn *txn, uint64_t index,
                               const Chronik__Meta__MetadataCommand *cmd, raftd_effects_t *fx,
                               raftd_apply_result_t *ret)
{
	size_t fx_n = fx->n;
	int r = raftd_apply_cmd(a, txn, index, cmd, fx, ret);

	if (r == 0 && ret->result == 0 && raftd_changes_partitions(cmd->cmd_case))
		r = raftd_parts_changed(a, txn, index, cmd);
	if (r < 0)
		fx->n = fx_n;
	return r;
}

/* ---- the command kind, without decoding ---- */

/* Reads a varint at *I of P (LEN bytes). Returns false when it runs out. */
static bool raftd_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *ret)
{
	uint64_t v = 0;

	for (int shift = 0; *i < len && shift < 64; shift += 7) {
		uint8_t b = p[(*i)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/* Reads the field at *I of P (LEN bytes): its key into *RET_TAG and, when
 * it is length-delimited, its bytes into *RET_V and *RET_VLEN (else
 * *RET_VLEN is 0). Returns false when P does not parse there. */
static bool raftd_wire_next(const uint8_t *p, size_t len, size_t *i, uint64_t *ret_tag,
                            const uint8_t **ret_v, size_t *ret_vlen)
{
	uint64_t tag, v;

	if (!raftd_varint(p, len, i, &tag))
		return false;
	*ret_vlen = 0;
	switch (tag & 7) {
	case 0:
		if (!raftd_varint(p, len, i, &v))
			return false;
		break;
	case 1:
	case 5:
		v = (tag & 7) == 1 ? 8 : 4;
		if (v > len - *i)
			return false;
		*i += v;
		break;
	case 2:
		if (!raftd_varint(p, len, i, &v) || v > len - *i)
			return false;
		*ret_v = p + *i;
		*ret_vlen = v;
		*i += v;
		break;
	default:
		return false;
	}
	*ret_tag = tag;
	return true;
}

/* The MetadataCommand field P sets (its oneof case), from its top-level
 * fields alone; the last member of the oneof wins, as when decoding. 0 when
 * P does not parse. Cheap enough for every entry. */
int raftd_apply_cmd_case(const uint8_t *p, size_t len)
{
	const uint8_t *v = NULL;
	uint64_t tag, last = 0;
	size_t i = 0, vlen;

	while (i < len) {
		if (!raftd_wire_next(p, len, &i, &tag, &v, &vlen))
			return 0;
		/* The commands are messages: length-delimited fields 1 .. the
		 * last oneof member. */
		if ((tag & 7) == 2 && tag >> 3 >= 1 && tag >> 3 <= RAFTD_CMD_CASE_MAX)
			last = tag >> 3;
	}
	return (int)last;
}

/* Whether a length-delimited field along PATH (DEPTH field numbers,
 * outermost first) of the packed message P holds a NUL byte, in any of
 * its occurrences. */
static bool raftd_wire_nul(const uint8_t *p, size_t len, const uint32_t *path, size_t depth)
{
	const uint8_t *v = NULL;
	uint64_t tag;
	size_t i = 0, vlen;

	while (i < len && raftd_wire_next(p, len, &i, &tag, &v, &vlen)) {
		if ((tag & 7) != 2 || tag >> 3 != path[0])
			continue;
		if (depth == 1 ? memchr(v, 0, vlen) != NULL
		               : raftd_wire_nul(v, vlen, path + 1, depth - 1))
			return true;
	}
	return false;
}

static bool raftd_cmd_is_group(int cmd_case)
{
	return cmd_case == CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS ||
	       cmd_case == CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP ||
	       cmd_case == CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS ||
	       cmd_case == CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP;
}

/* Whether the packed command P of kind CMD_CASE names a group, or a topic
 * of CommitOffsets, holding a NUL byte: protobuf-c ends a string at its
 * first NUL, so the name would quietly be another (the "groups" keys hold
 * no NUL either). Other kinds check their names against the topic name
 * rules. */
static bool raftd_names_nul(const uint8_t *p, size_t len, int cmd_case)
{
	static const uint32_t group[] = {CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS, 1};
	static const uint32_t topic[] = {CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS, 2, 1};
	static const uint32_t del[] = {CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP, 1};
	static const uint32_t store[] = {CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP, 1};
	static const uint32_t dgroup[] = {CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS, 1};
	static const uint32_t dtopic[] = {CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS, 2,
	                                  1};

	if (cmd_case == CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS)
		return raftd_wire_nul(p, len, group, CK_ARRAY_LEN(group)) ||
		       raftd_wire_nul(p, len, topic, CK_ARRAY_LEN(topic));
	if (cmd_case == CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP)
		return raftd_wire_nul(p, len, del, CK_ARRAY_LEN(del));
	if (cmd_case == CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP)
		return raftd_wire_nul(p, len, store, CK_ARRAY_LEN(store));
	if (cmd_case == CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS)
		return raftd_wire_nul(p, len, dgroup, CK_ARRAY_LEN(dgroup)) ||
		       raftd_wire_nul(p, len, dtopic, CK_ARRAY_LEN(dtopic));
	return false;
}

int raftd_apply_entry(const raftd_apply_t *a, MDB_txn *txn, uint64_t index, const uint8_t *data,
                      size_t len, raftd_effects_t *fx, raftd_apply_result_t *ret)
{
	Chronik__Meta__MetadataCommand *cmd;
	int r = raftd_apply_trim(a, txn, index);

	if (r < 0)
		return r;
	if (len == 0)
		return raftd_result(ret, 0, "noop");
	cmd = chronik__meta__metadata_command__unpack(NULL, len, data);
	if (!cmd)
		return raftd_result(ret, CK_E_INVALID, "not a metadata command");
	if (raftd_names_nul(data, len, cmd->cmd_case))
		r = raftd_result(ret, CK_E_INVALID, "group or topic name holds a NUL byte");
	else
		r = raftd_apply_decoded(a, txn, index, cmd, fx, ret);
	chronik__meta__metadata_command__free_unpacked(cmd, NULL);
	return r;
}

int raftd_apply_entry_cmd(const raftd_apply_t *a, MDB_txn *txn, uint64_t index,
                          const Chronik__Meta__MetadataCommand *cmd, raftd_effects_t *fx,
                          raftd_apply_result_t *ret)
{
	int r;

	/* Their names need the packed entry (raftd_names_nul). */
	CK_ASSERT(!raftd_cmd_is_group(cmd->cmd_case));
	r = raftd_apply_trim(a, txn, index);
	return r < 0 ? r : raftd_apply_decoded(a, txn, index, cmd, fx, ret);
}
