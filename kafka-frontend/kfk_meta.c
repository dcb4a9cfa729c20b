/*
 * kfk_meta.c: topics, partitions and brokers as the frontend reads them
 * from the LMDB `meta` environment (shell of chronik-kafka-frontend).
 *
 * Owned by kafka-frontend; raftd is the only writer of `meta`. Every read
 * runs in its own read transaction (a consistent snapshot). Decoded topics
 * are cached. When the applied index in LMDB moves (kfk_meta_refresh(),
 * called when a request arrives and after a proposal of ours was applied),
 * the topics whose partitions changed are dropped (ck_meta.h "changes";
 * every topic when the log does not cover the step) and the rest are
 * checked on their next lookup: a topic whose stored record is no longer
 * the one it was built from is read again. So a reader never serves state
 * older than the request that asks, and a stream of config changes or
 * creations does not re-read every other topic.
 * Not for: writing metadata (proposals go to raftd: kfk_propose.c).
 */
#define CK_LOG_SUBSYSTEM "meta"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ck_dataid.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_srv.h"

static uint64_t kfk_name_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
	return h;
}

/* The settings of every topic that sets none (never freed). */
static kfk_tcfg_set_t kfk_topic_no_cfg;

static void kfk_topic_free(kfk_topic_t *t)
{
	if (!t)
		return;
	for (int32_t i = 0; t->parts && i < t->npart; i++)
		free(t->parts[i].replicas);
	free(t->parts);
	free(t->raw);
	if (t->cfg_set != &kfk_topic_no_cfg) /* NULL before kfk_topic_configs */
		free((kfk_tcfg_set_t *)t->cfg_set);
	free(t);
}

static void kfk_meta_flush(kfk_srv_t *s)
{
	for (size_t i = 0; i < s->topics_cap; i++) {
		while (s->topics[i]) {
			kfk_topic_t *t = s->topics[i];
			s->topics[i] = t->hnext;
			kfk_topic_free(t);
		}
	}
	s->ntopics = 0;
	s->brokers_valid = false;
}

/* The cached topic named NAME (LEN bytes, hash H), or NULL. */
static kfk_topic_t **kfk_meta_slot(kfk_srv_t *s, const char *name, size_t len, uint64_t h)
{
	kfk_topic_t **pp;

	if (!s->topics_cap)
		return NULL;
	for (pp = &s->topics[h & (s->topics_cap - 1)]; *pp; pp = &(*pp)->hnext) {
		if ((*pp)->hash == h && (*pp)->name_len == len && !memcmp((*pp)->name, name, len))
			return pp;
	}
	return NULL;
}

static int kfk_meta_ensure_open(kfk_srv_t *s)
{
	int r;

	if (s->meta)
		return 0;
	r = ck_meta_open(s->cfg->data_dir, &s->meta);
	if (r < 0) {
		s->meta = NULL;
		ck_log(CK_LOG_WARN, "cannot open metadata data_dir=%s: %s", s->cfg->data_dir,
		       ck_strerror(r));
		return r;
	}
	if (ck_dataid_load(s->cfg->data_dir, &s->data_id) < 0)
		ck_log(CK_LOG_WARN, "cannot read the data id: leading as the metadata says");
	s->data_ok = true; /* until kfk_meta_data_check looks */
	return 0;
}

static void kfk_meta_evict(kfk_srv_t *s, const char *name)
{
	size_t len = strlen(name);
	kfk_topic_t **pp = kfk_meta_slot(s, name, len, kfk_name_hash(name, len));

	if (pp) {
		kfk_topic_t *t = *pp;
		*pp = t->hnext;
		kfk_topic_free(t);
		s->ntopics--;
	}
}

typedef struct {
	kfk_srv_t *s;
	uint64_t last; /* the parts_index being caught up to */
	bool saw_last;
	bool unknown;
} kfk_changes_t;

static int kfk_meta_change_cb(void *arg, uint64_t index, const char *topic)
{
	kfk_changes_t *x = arg;

	if (index > x->last)
		return 1;
	x->saw_last = index == x->last;
	if (!topic[0]) {
		x->unknown = true;
		return 1;
	}
	kfk_meta_evict(x->s, topic);
	return 0;
}

/* Drops the cached topics whose partitions the entries meta_parts+1 ..
 * PARTS changed. False when "changes" does not cover them all (ck_meta.h):
 * the caller drops everything. */
static bool kfk_meta_evict_changed(kfk_srv_t *s, MDB_txn *txn, uint64_t parts)
{
	kfk_changes_t x = {.s = s, .last = parts};
	uint64_t p0 = s->meta_parts, floor = 0;

	if (p0 == 0 || parts < p0)
		return false;
	if (parts == p0) /* no entry since changed a partition */
		return true;
	if (ck_meta_changes_floor(s->meta, txn, &floor) < 0 || floor == 0 || floor > p0 + 1)
		return false;
	if (ck_meta_changes_foreach(s->meta, txn, p0 + 1, kfk_meta_change_cb, &x) < 0)
		return false;
	return x.saw_last && !x.unknown;
}

/* Whether this broker's record holds this data dir's id (ck_dataid.h; 0:
 * unknown, as for a frontend started alone). Until it does, the broker came
 * back with data the metadata does not know (a wiped data dir) and raftd's
 * registration has yet to move its leaderships: the partitions it led read
 * as leaderless here (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE) rather
 * than taking writes into logs that another leader's will replace. On a
 * change every cached topic goes. */
static void kfk_meta_data_check(kfk_srv_t *s, MDB_txn *txn)
{
	Chronik__Meta__BrokerRecord *b = NULL;
	bool ok = s->data_id == 0;

	if (!ok && ck_meta_broker_get(s->meta, txn, s->cfg->node_id, &b) == 0) {
		ok = ck_dataid_matches(s->cfg->data_dir, b->data_id, &s->data_id);
		chronik__meta__broker_record__free_unpacked(b, NULL);
	}
	if (ok == s->data_ok)
		return;
	ck_log(CK_LOG_INFO, "%s data_id=%016llx",
	       ok ? "broker registered with this data: leading as the metadata says"
	          : "broker not registered with this data yet: leading nothing",
	       (unsigned long long)s->data_id);
	s->data_ok = ok;
	kfk_meta_flush(s);
}

void kfk_meta_refresh(kfk_srv_t *s)
{
	MDB_txn *txn;
	uint64_t idx = 0, parts = 0;
	int r;

	if (kfk_meta_ensure_open(s) < 0)
		return;
	r = ck_meta_read_begin(s->meta, &txn);
	if (r < 0)
		return;
	r = ck_meta_applied_index(s->meta, txn, &idx);
	if ((r == 0 || r == CK_E_NOT_FOUND) && idx != s->meta_index) {
		if (idx < s->meta_index || ck_meta_parts_index(s->meta, txn, &parts) < 0 ||
		    parts == 0 || !kfk_meta_evict_changed(s, txn, parts))
			kfk_meta_flush(s);
		s->brokers_valid = false;
		s->meta_parts = parts;
		s->meta_index = idx;
		s->meta_gen++;
		kfk_meta_data_check(s, txn);
	}
	ck_meta_read_end(txn);
}

typedef struct {
	kfk_topic_t *t;
	int err;
	int32_t not_leader; /* a leader read as none (kfk_meta_data_check), or -1 */
} kfk_part_load_t;

static int kfk_meta_part_cb(void *arg, const Chronik__Meta__PartitionRecord *rec)
{
	kfk_part_load_t *ld = arg;
	kfk_pmeta_t *pm;
	int32_t *ids;

	if (rec->partition < 0 || rec->partition >= ld->t->npart)
		return 0;
	pm = &ld->t->parts[rec->partition];
	ids = malloc((rec->n_replicas + rec->n_isr + 1) * sizeof(int32_t));
	if (!ids) {
		ld->err = -ENOMEM;
		return 1;
	}
	free(pm->replicas);
	pm->replicas = ids;
	pm->isr = ids + rec->n_replicas;
	memcpy(pm->replicas, rec->replicas, rec->n_replicas * sizeof(int32_t));
	memcpy(pm->isr, rec->isr, rec->n_isr * sizeof(int32_t));
	pm->nreplicas = (int32_t)rec->n_replicas;
	pm->nisr = (int32_t)rec->n_isr;
	pm->leader = rec->leader == ld->not_leader ? -1 : rec->leader;
	pm->leader_epoch = rec->leader_epoch;
	pm->partition_epoch = rec->partition_epoch;
	return 0;
}

/* Sets T's configs from REC, replacing (and freeing) the ones it had; on
 * -ENOMEM T keeps them. */
static int kfk_topic_configs(kfk_srv_t *s, kfk_topic_t *t, const Chronik__Meta__TopicRecord *rec)
{
	kfk_tcfg_set_t *set = &kfk_topic_no_cfg;
	char msg[160];

	if (rec->n_configs > 0) {
		set = malloc(sizeof(*set));
		if (!set)
			return -ENOMEM;
		kfk_tcfg_set_init(set);
		for (size_t i = 0; i < rec->n_configs; i++) {
			const Chronik__Meta__ConfigEntry *e = rec->configs[i];

			if (kfk_tcfg_set_put(set, &s->tdefs, kfk_str(e->name), kfk_str(e->value),
			                     msg, sizeof(msg)) != 0)
				ck_log(CK_LOG_WARN, "ignoring stored topic config topic=%s: %s",
				       t->name, msg);
		}
	}
	if (t->cfg_set != &kfk_topic_no_cfg) /* NULL in a topic being loaded */
		free((kfk_tcfg_set_t *)t->cfg_set);
	t->cfg_set = set;
	kfk_tcfg_effective(t->cfg_set, &s->tdefs, &t->cfg);
	return 0;
}

/* Builds a topic from its records. */
static int kfk_topic_load(kfk_srv_t *s, MDB_txn *txn, const Chronik__Meta__TopicRecord *rec,
                          kfk_topic_t **ret)
{
	size_t len = strlen(rec->name);
	kfk_topic_t *t;
	kfk_part_load_t ld;
	int r;

	if (len > CK_TOPIC_NAME_MAX || rec->partitions < 0)
		return CK_E_CORRUPT;
	t = calloc(1, sizeof(*t) + len + 1);
	if (!t)
		return -ENOMEM;
	ld = (kfk_part_load_t){t, 0, s->data_ok ? -1 : s->cfg->node_id};
	t->gen = s->meta_gen;
	memcpy(t->name, rec->name, len + 1);
	if (rec->topic_id.len == 16)
		memcpy(t->id, rec->topic_id.data, 16);
	t->npart = rec->partitions;
	t->parts = calloc((size_t)t->npart + 1, sizeof(*t->parts));
	if (!t->parts) {
		free(t);
		return -ENOMEM;
	}
	for (int32_t i = 0; i < t->npart; i++) {
		t->parts[i].partition = i;
		t->parts[i].leader = -1;
		t->parts[i].leader_epoch = -1;
	}
	r = kfk_topic_configs(s, t, rec);
	if (r < 0) {
		kfk_topic_free(t);
		return r;
	}
	r = ck_meta_partitions_foreach(s->meta, txn, t->name, kfk_meta_part_cb, &ld);
	if (r < 0 || ld.err < 0) {
		kfk_topic_free(t);
		return r < 0 ? r : ld.err;
	}
	*ret = t;
	return 0;
}

/* Doubles the table (at least 1024 buckets), keeping every topic. */
static int kfk_meta_cache_grow(kfk_srv_t *s)
{
	size_t cap = s->topics_cap ? s->topics_cap * 2 : 1024;
	kfk_topic_t **v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->topics_cap; i++) {
		while (s->topics[i]) {
			kfk_topic_t *t = s->topics[i];

			s->topics[i] = t->hnext;
			t->hnext = v[t->hash & (cap - 1)];
			v[t->hash & (cap - 1)] = t;
		}
	}
	free(s->topics);
	s->topics = v;
	s->topics_cap = cap;
	return 0;
}

/* Caches T: the cache holds every topic looked up since its last flush,
 * so the table grows with it (one topic per bucket on average). */
static int kfk_meta_cache_put(kfk_srv_t *s, kfk_topic_t *t)
{
	size_t b;

	if (s->ntopics >= s->topics_cap) {
		int r = kfk_meta_cache_grow(s);
		if (r < 0 && !s->topics_cap)
			return r; /* a full table only gets longer chains */
	}
	t->name_len = strlen(t->name);
	t->hash = kfk_name_hash(t->name, t->name_len);
	b = t->hash & (s->topics_cap - 1);
	t->hnext = s->topics[b];
	s->topics[b] = t;
	s->ntopics++;
	return 0;
}

/* Reads topic NAME in TXN into *RET (with a copy of its packed record). */
static int kfk_meta_topic_read(kfk_srv_t *s, MDB_txn *txn, const char *name, kfk_topic_t **ret)
{
	Chronik__Meta__TopicRecord *rec;
	MDB_val v;
	uint8_t *raw;
	int r = ck_meta_topic_raw(s->meta, txn, name, &v);

	if (r < 0)
		return r;
	rec = chronik__meta__topic_record__unpack(NULL, v.mv_size, v.mv_data);
	if (!rec)
		return CK_E_CORRUPT;
	raw = malloc(v.mv_size ? v.mv_size : 1);
	r = raw ? kfk_topic_load(s, txn, rec, ret) : -ENOMEM;
	chronik__meta__topic_record__free_unpacked(rec, NULL);
	if (r < 0) {
		free(raw);
		return r;
	}
	memcpy(raw, v.mv_data, v.mv_size);
	(*ret)->raw = raw;
	(*ret)->raw_len = v.mv_size;
	return 0;
}

/* Brings cached topic T up to what TXN holds, when its partitions can stay
 * (kfk_meta_refresh dropped it if they changed): an unchanged record, or
 * one of the same topic (id) and partition count whose configs changed.
 * False when it has to be read again. */
static bool kfk_topic_revalidate(kfk_srv_t *s, MDB_txn *txn, kfk_topic_t *t)
{
	Chronik__Meta__TopicRecord *rec;
	MDB_val v;
	uint8_t *raw;
	bool same;

	if (ck_meta_topic_raw(s->meta, txn, t->name, &v) < 0)
		return false;
	if (v.mv_size == t->raw_len && !memcmp(v.mv_data, t->raw, t->raw_len))
		return true;
	rec = chronik__meta__topic_record__unpack(NULL, v.mv_size, v.mv_data);
	if (!rec)
		return false;
	same = rec->partitions == t->npart && rec->topic_id.len == 16 &&
	       !memcmp(rec->topic_id.data, t->id, 16) && !strcmp(rec->name, t->name);
	raw = same ? malloc(v.mv_size ? v.mv_size : 1) : NULL;
	if (raw && kfk_topic_configs(s, t, rec) < 0) {
		free(raw);
		raw = NULL;
	}
	if (raw) {
		memcpy(raw, v.mv_data, v.mv_size);
		free(t->raw);
		t->raw = raw;
		t->raw_len = v.mv_size;
	}
	chronik__meta__topic_record__free_unpacked(rec, NULL);
	return raw != NULL;
}

bool kfk_meta_knows(kfk_srv_t *s, kfk_str_t name, const uint8_t *id)
{
	kfk_topic_t *t;

	if (name.len == 0 || name.len > CK_TOPIC_NAME_MAX)
		return true; /* no such name anywhere */
	if (name.len > 0)
		return kfk_meta_topic(s, name, &t) != 0;
	return !id || kfk_meta_topic_by_id(s, id, &t) != 0;
}

int kfk_meta_read(kfk_srv_t *s, MDB_txn **ret)
{
	const kfk_broker_t *b;
	int nb, r = kfk_meta_ensure_open(s);

	/* The broker list first: a walk in this transaction may ask for a
	 * group's coordinator, and LMDB gives a thread one read transaction
	 * at a time (a second one would fail). */
	if (r == 0)
		r = kfk_meta_brokers(s, &b, &nb);
	return r < 0 ? r : ck_meta_read_begin(s->meta, ret);
}

int kfk_meta_collision(kfk_srv_t *s, const char *name, char *ret, size_t ret_size)
{
	MDB_txn *txn;
	int r;

	if (!strpbrk(name, "._"))
		return 0;
	if ((r = kfk_meta_ensure_open(s)) < 0 || (r = ck_meta_read_begin(s->meta, &txn)) < 0)
		return r;
	r = ck_meta_topic_collision(s->meta, txn, name, ret, ret_size);
	ck_meta_read_end(txn);
	return r;
}

int kfk_meta_topic(kfk_srv_t *s, kfk_str_t name, kfk_topic_t **ret)
{
	char cname[CK_TOPIC_NAME_MAX + 1];
	kfk_topic_t *t = NULL;
	MDB_txn *txn;
	int r;

	if (name.len <= 0 || name.len > CK_TOPIC_NAME_MAX)
		return 0;
	if (s->topics_cap) {
		kfk_topic_t **pp = kfk_meta_slot(s, name.ptr, (size_t)name.len,
		                                 kfk_name_hash(name.ptr, (size_t)name.len));

		t = pp ? *pp : NULL;
		if (t && t->gen == s->meta_gen) {
			*ret = t;
			return 1;
		}
	}
	memcpy(cname, name.ptr, (size_t)name.len);
	cname[name.len] = '\0';
	if (strlen(cname) != (size_t)name.len || (r = kfk_meta_ensure_open(s)) < 0)
		return 0;
	r = ck_meta_read_begin(s->meta, &txn);
	if (r < 0)
		return r;
	if (t) {
		if (kfk_topic_revalidate(s, txn, t)) {
			ck_meta_read_end(txn);
			t->gen = s->meta_gen;
			*ret = t;
			return 1;
		}
		kfk_meta_evict(s, cname);
	}
	r = kfk_meta_topic_read(s, txn, cname, &t);
	ck_meta_read_end(txn);
	if (r == CK_E_NOT_FOUND)
		return 0;
	if (r < 0)
		return r;
	r = kfk_meta_cache_put(s, t);
	if (r < 0) {
		kfk_topic_free(t);
		return r;
	}
	*ret = t;
	return 1;
}

typedef struct {
	char **names;
	int n;
	int cap;
	const uint8_t *id;
	char *found;
	int err;
} kfk_names_t;

static int kfk_meta_name_cb(void *arg, const Chronik__Meta__TopicRecord *rec)
{
	kfk_names_t *nl = arg;
	char *copy;

	if (nl->id) {
		if (rec->topic_id.len == 16 && !memcmp(rec->topic_id.data, nl->id, 16)) {
			nl->found = strdup(rec->name);
			return 1;
		}
		return 0;
	}
	if (nl->n == nl->cap) {
		int cap = nl->cap ? nl->cap * 2 : 64;
		char **n = realloc(nl->names, (size_t)cap * sizeof(*n));

		if (!n) {
			nl->err = -ENOMEM;
			return 1;
		}
		nl->names = n;
		nl->cap = cap;
	}
	copy = strdup(rec->name);
	if (!copy) {
		nl->err = -ENOMEM;
		return 1;
	}
	nl->names[nl->n++] = copy;
	return 0;
}

static int kfk_meta_walk(kfk_srv_t *s, kfk_names_t *nl)
{
	MDB_txn *txn;
	int r = kfk_meta_ensure_open(s);

	if (r < 0)
		return r;
	r = ck_meta_read_begin(s->meta, &txn);
	if (r < 0)
		return r;
	r = ck_meta_topics_foreach(s->meta, txn, kfk_meta_name_cb, nl);
	ck_meta_read_end(txn);
	if (nl->err < 0)
		return nl->err;
	return r < 0 ? r : 0;
}

int kfk_meta_topic_names(kfk_srv_t *s, char ***ret)
{
	kfk_names_t nl = {0};
	int r = kfk_meta_walk(s, &nl);

	if (r < 0) {
		kfk_meta_names_free(nl.names, nl.n);
		return r;
	}
	*ret = nl.names;
	return nl.n;
}

void kfk_meta_names_free(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int kfk_meta_topic_by_id(kfk_srv_t *s, const uint8_t id[16], kfk_topic_t **ret)
{
	kfk_names_t nl = {0};
	int r;

	nl.id = id;
	r = kfk_meta_walk(s, &nl);
	if (r < 0 || !nl.found) {
		free(nl.found);
		return r < 0 ? r : 0;
	}
	r = kfk_meta_topic(s, kfk_str(nl.found), ret);
	free(nl.found);
	return r;
}

static int kfk_meta_broker_cb(void *arg, const Chronik__Meta__BrokerRecord *rec)
{
	kfk_srv_t *s = arg;
	kfk_broker_t *b;
	kfk_broker_t *n = realloc(s->brokers, (size_t)(s->nbrokers + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	s->brokers = n;
	b = &n[s->nbrokers++];
	memset(b, 0, sizeof(*b));
	b->id = rec->id;
	(void)snprintf(b->host, sizeof(b->host), "%s", rec->kafka_host ? rec->kafka_host : "");
	b->port = rec->kafka_port;
	(void)snprintf(b->rack, sizeof(b->rack), "%s", rec->rack ? rec->rack : "");
	b->fenced = rec->fenced;
	return 0;
}

/* This node from the configuration, when raftd has not registered it. */
static int kfk_meta_self(kfk_srv_t *s)
{
	kfk_broker_t *n;

	for (int i = 0; i < s->nbrokers; i++) {
		if (s->brokers[i].id == s->cfg->node_id)
			return 0;
	}
	n = realloc(s->brokers, (size_t)(s->nbrokers + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->brokers = n;
	n = &s->brokers[s->nbrokers];
	memset(n, 0, sizeof(*n));
	n->id = s->cfg->node_id;
	(void)snprintf(n->host, sizeof(n->host), "%s", s->adv_host);
	n->port = s->adv_port;
	/* Keep ascending ids. */
	for (int i = s->nbrokers; i > 0 && s->brokers[i - 1].id > s->brokers[i].id; i--) {
		kfk_broker_t t = s->brokers[i];
		s->brokers[i] = s->brokers[i - 1];
		s->brokers[i - 1] = t;
	}
	s->nbrokers++;
	return 0;
}

int kfk_meta_brokers(kfk_srv_t *s, const kfk_broker_t **ret, int *ret_n)
{
	MDB_txn *txn;
	int r;

	if (!s->brokers_valid) {
		static ck_log_limit_t unread_lim;
		uint8_t *img = NULL;
		size_t len = 0;
		bool same = false, unread = false;

		if (kfk_meta_ensure_open(s) < 0) {
			s->nbrokers = 0; /* no metadata yet: this node alone */
		} else if ((r = ck_meta_read_begin(s->meta, &txn)) < 0) {
			/* Keep the last view and read again next time: a
			 * broker list read as empty would make this node
			 * answer as if alone (Metadata, every group's
			 * coordinator) until the metadata changes. */
			ck_log_limited(&unread_lim, CK_LOG_WARN, "cannot read brokers: %s",
			               ck_strerror(r));
			unread = same = true;
		} else {
			/* Unchanged since the last read (the usual case: most
			 * entries are not about brokers): keep what we have. */
			r = ck_meta_brokers_image(s->meta, txn, &img, &len);
			same = r == 0 && s->brokers_image && len == s->brokers_image_len &&
			       !memcmp(img, s->brokers_image, len);
			if (!same) {
				s->nbrokers = 0;
				if (r == 0)
					r = ck_meta_brokers_foreach(s->meta, txn,
					                            kfk_meta_broker_cb, s);
				if (r < 0) {
					ck_log(CK_LOG_WARN, "cannot read brokers: %s",
					       ck_strerror(r));
					free(img);
					img = NULL;
					unread = true; /* read them again next time */
				}
			}
			ck_meta_read_end(txn);
		}
		if (same) {
			free(img);
		} else {
			free(s->brokers_image);
			s->brokers_image = img;
			s->brokers_image_len = len;
			s->brokers_gen++;
			r = kfk_meta_self(s);
			if (r < 0) {
				free(s->brokers_image);
				s->brokers_image = NULL;
				return r;
			}
		}
		if (unread && s->nbrokers == 0 && (r = kfk_meta_self(s)) < 0)
			return r;
		s->brokers_valid = !unread;
	}
	*ret = s->brokers;
	*ret_n = s->nbrokers;
	return 0;
}

/* The ids of the registered brokers that are live (FENCED false: not
 * fenced, and this node always) or fenced (FENCED true: the others). */
static int kfk_meta_broker_ids(kfk_srv_t *s, int32_t *ids, int n, bool fenced)
{
	const kfk_broker_t *b;
	int nb, k = 0;

	if (kfk_meta_brokers(s, &b, &nb) < 0)
		return 0;
	for (int i = 0; i < nb && k < n; i++) {
		bool live = !b[i].fenced || b[i].id == s->cfg->node_id;

		if (live != fenced)
			ids[k++] = b[i].id;
	}
	return k;
}

int kfk_meta_live_broker_ids(kfk_srv_t *s, int32_t *ids, int n)
{
	return kfk_meta_broker_ids(s, ids, n, false);
}

int kfk_meta_fenced_broker_ids(kfk_srv_t *s, int32_t *ids, int n)
{
	return kfk_meta_broker_ids(s, ids, n, true);
}

/* The Raft leader while raftd hears from it; otherwise this node, which
 * forwards admin writes to whichever leader comes next. A client (librdkafka
 * among them) keeps the controller id of one Metadata answer and waits for
 * that broker: naming a leader that just died would stall its admin
 * requests until its next periodic refresh, minutes later. */
int32_t kfk_meta_controller(kfk_srv_t *s)
{
	return s->raft_leader >= 0 && s->raft_contact ? s->raft_leader : s->cfg->node_id;
}

void kfk_meta_close(kfk_srv_t *s)
{
	kfk_meta_flush(s);
	free(s->topics);
	s->topics = NULL;
	s->topics_cap = 0;
	s->ntopics = 0;
	free(s->brokers);
	free(s->brokers_image);
	s->brokers_image = NULL;
	s->brokers_valid = false;
	s->brokers = NULL;
	s->nbrokers = 0;
	if (s->meta)
		ck_meta_close(s->meta);
	s->meta = NULL;
}
