/*
 * repl_core.c: the partition table of the replicator's pure core (see
 * repl_core.h): walwriter and metadata events in, published changes and
 * checkpoints out.
 *
 * Owned by replicator. A partition lives in the table (a ck_hash keyed by
 * topic and partition) while it has a log or metadata, or sits in the
 * change queue; while it does, it is also in its topic's list (a second
 * ck_hash keyed by topic name), which per-topic metadata sweeps walk. A
 * deleted partition that was published leaves a deletion record behind,
 * so subscribers always see the deletion before any re-creation under the
 * same name. What the table holds after a metadata sweep depends on the
 * records and the logs, not on which sweeps came before: metadata is kept
 * for replicas and for partitions with a log, and goes with the log
 * otherwise, so per-topic sweeps of the changed topics leave what a full
 * sweep would.
 * Not for: the HW rule, roles and ISR decisions (repl_hw.c); any I/O.
 */
#include "repl_core_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"

int repl_core_new(int32_t node_id, repl_core_t **ret)
{
	repl_core_t *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	ck_hash_init(&c->parts);
	ck_hash_init(&c->topics);
	c->node_id = node_id;
	*ret = c;
	return 0;
}

void repl_core_free(repl_core_t *c)
{
	size_t it = 0;
	repl_part_t *p;
	repl_topic_t *t;

	if (!c)
		return;
	while ((p = ck_hash_next(&c->parts, &it)) != NULL) {
		free(p->followers);
		free(p);
	}
	ck_hash_free(&c->parts);
	it = 0;
	while ((t = ck_hash_next(&c->topics, &it)) != NULL)
		free(t);
	ck_hash_free(&c->topics);
	free(c->deleted);
	free(c);
}

void repl_core_tick(repl_core_t *c, uint64_t now_ms)
{
	if (now_ms > c->now_ms)
		c->now_ms = now_ms;
}

/* The key of a partition: what repl_hash() hashes and repl_part_eq() compares. */
typedef struct {
	const char *topic;
	int32_t partition;
} repl_key_t;

static uint64_t repl_hash(const char *topic, int32_t partition)
{
	uint8_t p[4] = {(uint8_t)partition, (uint8_t)((uint32_t)partition >> 8),
	                (uint8_t)((uint32_t)partition >> 16), (uint8_t)((uint32_t)partition >> 24)};

	return ck_hash_bytes_add(ck_hash_str(topic), p, sizeof(p));
}

static bool repl_part_eq(const void *key, const void *val)
{
	const repl_key_t *k = key;
	const repl_part_t *p = val;

	return p->partition == k->partition && !strcmp(p->topic, k->topic);
}

repl_part_t *repl_core_find_mut(repl_core_t *c, const char *topic, int32_t partition)
{
	repl_key_t k = {topic, partition};

	return ck_hash_find(&c->parts, repl_hash(topic, partition), repl_part_eq, &k);
}

const repl_part_t *repl_core_find(const repl_core_t *c, const char *topic, int32_t partition)
{
	return repl_core_find_mut((repl_core_t *)c, topic, partition);
}

static bool repl_topic_valid(const char *topic, int32_t partition)
{
	size_t len;

	if (!topic || partition < 0)
		return false;
	len = strlen(topic);
	return len > 0 && len <= REPL_TOPIC_MAX;
}

/* ---- topics ---- */

static bool repl_topic_eq(const void *key, const void *val)
{
	const repl_topic_t *t = val;

	return !strcmp(t->name, key);
}

static repl_topic_t *repl_topic_find(const repl_core_t *c, const char *name)
{
	return ck_hash_find(&c->topics, ck_hash_str(name), repl_topic_eq, name);
}

/* The topic NAME, created empty when missing; NULL without memory. */
static repl_topic_t *repl_topic_get(repl_core_t *c, const char *name)
{
	repl_topic_t *t = repl_topic_find(c, name);
	size_t n;

	if (t)
		return t;
	n = strlen(name);
	t = malloc(sizeof(*t) + n + 1);
	if (!t)
		return NULL;
	t->head = NULL;
	memcpy(t->name, name, n + 1);
	if (ck_hash_insert(&c->topics, ck_hash_str(name), t) < 0) {
		free(t);
		return NULL;
	}
	return t;
}

static void repl_topic_drop_if_empty(repl_core_t *c, repl_topic_t *t)
{
	bool found;

	if (t->head)
		return;
	found = ck_hash_remove(&c->topics, ck_hash_str(t->name), t);
	CK_ASSERT(found);
	free(t);
}

static void repl_topic_unlink(repl_core_t *c, repl_part_t *p)
{
	repl_topic_t *t = repl_topic_find(c, p->topic);

	CK_ASSERT(t != NULL);
	if (p->tprev) {
		p->tprev->tnext = p->tnext;
	} else {
		CK_ASSERT(t->head == p);
		t->head = p->tnext;
	}
	if (p->tnext)
		p->tnext->tprev = p->tprev;
	p->tnext = p->tprev = NULL;
	repl_topic_drop_if_empty(c, t);
}

static repl_part_t *repl_part_new(repl_core_t *c, const char *topic, int32_t partition)
{
	repl_topic_t *t = repl_topic_get(c, topic);
	repl_part_t *p = t ? calloc(1, sizeof(*p)) : NULL;

	if (!p) {
		if (t)
			repl_topic_drop_if_empty(c, t);
		return NULL;
	}
	p->topic = t->name;
	p->partition = partition;
	p->role = REPL_ROLE_NONE;
	p->leader = -1;
	p->leader_hw = -1;
	p->ckpt_hw = -1;
	p->ckpt_epoch = -1;
	p->pub_hw = -1;
	if (ck_hash_insert(&c->parts, repl_hash(topic, partition), p) < 0) {
		free(p);
		repl_topic_drop_if_empty(c, t);
		return NULL;
	}
	p->tnext = t->head;
	if (t->head)
		t->head->tprev = p;
	t->head = p;
	return p;
}

static void repl_ckpt_unlink(repl_core_t *c, repl_part_t *p)
{
	if (!p->in_ckpt)
		return;
	if (p->kprev)
		p->kprev->knext = p->knext;
	else
		c->ckpt_head = p->knext;
	if (p->knext)
		p->knext->kprev = p->kprev;
	p->knext = p->kprev = NULL;
	p->in_ckpt = false;
}

/* Frees P when nothing refers to it any more. */
static void repl_part_maybe_free(repl_core_t *c, repl_part_t *p)
{
	bool found;

	if (p->have_log || p->have_meta || p->in_changes)
		return;
	repl_ckpt_unlink(c, p);
	CK_ASSERT(!p->pub_visible);
	found = ck_hash_remove(&c->parts, repl_hash(p->topic, p->partition), p);
	CK_ASSERT(found);
	repl_topic_unlink(c, p);
	free(p->followers);
	free(p);
}

void repl_part_touch(repl_core_t *c, repl_part_t *p)
{
	if (!p->in_ckpt) {
		p->in_ckpt = true;
		p->kprev = NULL;
		p->knext = c->ckpt_head;
		if (p->knext)
			p->knext->kprev = p;
		c->ckpt_head = p;
	}
	if (p->in_changes)
		return;
	p->in_changes = true;
	p->cnext = NULL;
	if (c->changes_tail)
		c->changes_tail->cnext = p;
	else
		c->changes_head = p;
	c->changes_tail = p;
}

size_t repl_core_count(repl_core_t *c, size_t *ret_led)
{
	if (ret_led)
		*ret_led = c->n_led;
	return c->n_log;
}

/* ---- walwriter ---- */

static bool repl_log_info_valid(const repl_log_info_t *info)
{
	return repl_topic_valid(info->topic, info->partition) && info->log_start >= 0 &&
	       info->log_start <= info->log_end && info->durable_end <= info->log_end;
}

int repl_core_log_update(repl_core_t *c, const repl_log_info_t *info, const repl_ckpt_t *ckpt)
{
	repl_part_t *p;

	if (!repl_log_info_valid(info))
		return CK_E_INVALID;
	p = repl_core_find_mut(c, info->topic, info->partition);
	if (!p)
		p = repl_part_new(c, info->topic, info->partition);
	if (!p)
		return -ENOMEM;
	p->log_start = info->log_start;
	p->log_end = info->log_end;
	p->durable_end = CK_MAX(info->durable_end, info->log_start);
	p->has_topic_id = info->topic_id != NULL;
	if (info->topic_id)
		memcpy(p->topic_id, info->topic_id, REPL_TOPIC_ID_LEN);
	p->log_seen = true;
	if (!p->have_log) {
		p->have_log = true;
		repl_part_count(c, p, 1);
		p->hw = p->log_start;
		if (ckpt && ckpt->hw >= 0) {
			p->hw = ckpt->hw;
			p->ckpt_hw = ckpt->hw;
			p->ckpt_epoch = ckpt->leader_epoch;
		}
		if (!p->have_meta)
			repl_part_default_meta(c, p, ckpt ? CK_MAX(ckpt->leader_epoch, 0) : 0);
		else if (p->role == REPL_ROLE_LEADER)
			repl_part_lead_begin(c, p);
	}
	repl_part_hw_update(p, c->node_id);
	repl_part_touch(c, p);
	return 0;
}

/* Queues the deletion of a published partition. */
static int repl_core_deleted_push(repl_core_t *c, const repl_part_t *p)
{
	repl_state_t *st;

	if (c->deleted_head > 0 && c->deleted_head == c->deleted_len)
		c->deleted_head = c->deleted_len = 0;
	if (c->deleted_len == c->deleted_cap) {
		size_t cap = c->deleted_cap ? c->deleted_cap * 2 : 8;
		repl_state_t *n = realloc(c->deleted, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->deleted = n;
		c->deleted_cap = cap;
	}
	st = &c->deleted[c->deleted_len++];
	repl_core_state(p, st);
	st->deleted = true;
	return 0;
}

static bool repl_ids_has(const int32_t *ids, size_t n, int32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* The log is gone. Metadata of a partition this node is no replica of
 * was kept only for the log (repl_core_meta_update): it goes too, so the
 * table holds what a full metadata sweep would leave, whether metadata
 * comes in full or per-topic sweeps. */
static void repl_part_log_forget(repl_core_t *c, repl_part_t *p)
{
	/* Without memory for the record subscribers keep a stale entry until
	 * they resubscribe; the partition itself goes either way. */
	if (p->pub_visible)
		(void)repl_core_deleted_push(c, p);
	p->pub_visible = false;
	p->pub_hw = -1;
	repl_part_count(c, p, -1);
	p->have_log = false;
	p->log_start = p->log_end = p->durable_end = 0;
	p->hw = 0;
	p->hw_truncations = 0;
	p->leader_hw = -1;
	p->ckpt_hw = -1;
	p->ckpt_epoch = -1;
	repl_part_followers_drop(p);
	if (p->have_meta && p->leader != c->node_id &&
	    !repl_ids_has(p->replicas, p->n_replicas, c->node_id))
		p->have_meta = false;
	repl_part_maybe_free(c, p);
}

int repl_core_log_delete(repl_core_t *c, const char *topic, int32_t partition)
{
	repl_part_t *p;

	if (!repl_topic_valid(topic, partition))
		return CK_E_NOT_FOUND;
	p = repl_core_find_mut(c, topic, partition);
	if (!p || !p->have_log)
		return CK_E_NOT_FOUND;
	repl_part_log_forget(c, p);
	return 0;
}

void repl_core_log_sweep_begin(repl_core_t *c)
{
	repl_part_t *p;

	for (size_t it = 0; (p = ck_hash_next(&c->parts, &it)) != NULL;)
		p->log_seen = false;
}

/* Forgetting may free the partition at hand: the table allows removals
 * while iterating. */
void repl_core_log_sweep_end(repl_core_t *c)
{
	repl_part_t *p;

	for (size_t it = 0; (p = ck_hash_next(&c->parts, &it)) != NULL;)
		if (p->have_log && !p->log_seen)
			repl_part_log_forget(c, p);
}

/* ---- metadata ---- */

static bool repl_meta_valid(const repl_meta_t *m)
{
	return repl_topic_valid(m->topic, m->partition) && m->n_replicas <= REPL_REPLICAS_MAX &&
	       m->n_isr <= REPL_REPLICAS_MAX && (m->n_replicas == 0 || m->replicas) &&
	       (m->n_isr == 0 || m->isr) && m->leader_epoch >= 0 && m->partition_epoch >= 0;
}

/* Back to the single-replica default (the log stays) or gone. */
static void repl_part_meta_forget(repl_core_t *c, repl_part_t *p)
{
	p->have_meta = false;
	if (p->have_log) {
		repl_part_default_meta(c, p, p->leader_epoch);
		repl_part_hw_update(p, c->node_id);
		repl_part_touch(c, p);
	}
	repl_part_maybe_free(c, p);
}

int repl_core_meta_update(repl_core_t *c, const repl_meta_t *m)
{
	repl_part_t *p;
	bool replica;
	repl_role_t role;

	if (!repl_meta_valid(m))
		return CK_E_INVALID;
	replica = m->leader == c->node_id || repl_ids_has(m->replicas, m->n_replicas, c->node_id);
	p = repl_core_find_mut(c, m->topic, m->partition);
	if (!replica && !(p && p->have_log)) {
		if (p && p->have_meta)
			repl_part_meta_forget(c, p);
		return 0;
	}
	if (!p)
		p = repl_part_new(c, m->topic, m->partition);
	if (!p)
		return -ENOMEM;
	p->have_meta = true;
	p->meta_seen = true;
	memcpy(p->replicas, m->replicas, m->n_replicas * sizeof(int32_t));
	p->n_replicas = m->n_replicas;
	/* A follower that joins the ISR has the whole lag time from then, as
	 * from the start of a leadership (repl_hw.c): it reached the high
	 * watermark, not necessarily the log end under load, and its last
	 * catch-up from before it fell behind would drop it again at once. */
	for (size_t j = 0; j < p->n_followers; j++) {
		repl_follower_t *f = &p->followers[j];

		if (repl_ids_has(m->isr, m->n_isr, f->broker_id) &&
		    !repl_ids_has(p->isr, p->n_isr, f->broker_id))
			f->last_caught_up_ms = CK_MAX(f->last_caught_up_ms, c->now_ms);
	}
	memcpy(p->isr, m->isr, m->n_isr * sizeof(int32_t));
	p->n_isr = m->n_isr;
	p->leader = m->leader;
	p->partition_epoch = m->partition_epoch;
	if (m->leader < 0)
		role = REPL_ROLE_NONE;
	else if (m->leader == c->node_id)
		role = REPL_ROLE_LEADER;
	else
		role = replica ? REPL_ROLE_FOLLOWER : REPL_ROLE_NONE;
	repl_part_role_set(c, p, role, m->leader_epoch);
	repl_part_hw_update(p, c->node_id);
	repl_part_touch(c, p);
	return 0;
}

void repl_core_meta_sweep_begin(repl_core_t *c)
{
	repl_part_t *p;

	for (size_t it = 0; (p = ck_hash_next(&c->parts, &it)) != NULL;)
		p->meta_seen = false;
}

void repl_core_meta_sweep_end(repl_core_t *c)
{
	repl_part_t *p;

	for (size_t it = 0; (p = ck_hash_next(&c->parts, &it)) != NULL;)
		if (p->have_meta && !p->meta_seen)
			repl_part_meta_forget(c, p);
}

void repl_core_meta_topic_begin(repl_core_t *c, const char *topic)
{
	repl_topic_t *t = topic ? repl_topic_find(c, topic) : NULL;

	for (repl_part_t *p = t ? t->head : NULL; p; p = p->tnext)
		p->meta_seen = false;
}

void repl_core_meta_topic_end(repl_core_t *c, const char *topic)
{
	repl_topic_t *t = topic ? repl_topic_find(c, topic) : NULL;
	repl_part_t *p, *next;

	/* Forgetting may free P, and with the topic's last partition T: NEXT
	 * is then NULL, and T is not touched again. */
	for (p = t ? t->head : NULL; p; p = next) {
		next = p->tnext;
		if (p->have_meta && !p->meta_seen)
			repl_part_meta_forget(c, p);
	}
}

/* ---- outputs ---- */

void repl_core_state(const repl_part_t *p, repl_state_t *ret)
{
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->topic, sizeof(ret->topic), "%s", p->topic);
	ret->partition = p->partition;
	ret->high_watermark = p->hw;
	ret->log_start_offset = p->log_start;
	ret->log_end_offset = p->log_end;
	ret->low_watermark = repl_core_low_watermark(p);
	ret->leader = p->role == REPL_ROLE_LEADER;
	ret->leader_epoch = p->leader_epoch;
	ret->isr_size = p->have_meta ? (int32_t)p->n_isr : 0;
	ret->deleted = false;
}

bool repl_core_changes_pending(const repl_core_t *c)
{
	return c->deleted_head < c->deleted_len || c->changes_head != NULL;
}

static bool repl_part_pub_same(const repl_part_t *p, const repl_state_t *st)
{
	return p->pub_visible && p->pub_hw == st->high_watermark &&
	       p->pub_log_start == st->log_start_offset &&
	       p->pub_low_watermark == st->low_watermark && p->pub_leader == st->leader &&
	       p->pub_epoch == st->leader_epoch && p->pub_isr_size == st->isr_size;
}

bool repl_core_change_next(repl_core_t *c, repl_state_t *ret)
{
	repl_part_t *p;

	if (c->deleted_head < c->deleted_len) {
		*ret = c->deleted[c->deleted_head++];
		return true;
	}
	while ((p = c->changes_head) != NULL) {
		repl_state_t st;

		c->changes_head = p->cnext;
		if (!c->changes_head)
			c->changes_tail = NULL;
		p->in_changes = false;
		p->cnext = NULL;
		if (!p->have_log) {
			repl_part_maybe_free(c, p);
			continue;
		}
		repl_core_state(p, &st);
		if (repl_part_pub_same(p, &st))
			continue;
		st.prev_visible = p->pub_visible;
		st.prev_leader = p->pub_leader;
		st.prev_epoch = p->pub_epoch;
		st.prev_meta = p->pub_meta;
		p->pub_visible = true;
		p->pub_meta = p->have_meta;
		p->pub_hw = st.high_watermark;
		p->pub_log_start = st.log_start_offset;
		p->pub_low_watermark = st.low_watermark;
		p->pub_leader = st.leader;
		p->pub_epoch = st.leader_epoch;
		p->pub_isr_size = st.isr_size;
		*ret = st;
		return true;
	}
	return false;
}

int repl_core_foreach(const repl_core_t *c, repl_part_fn fn, void *arg)
{
	const repl_part_t *p;

	for (size_t it = 0; (p = ck_hash_next(&c->parts, &it)) != NULL;) {
		int r;
		if (!p->have_log)
			continue;
		r = fn(arg, p);
		if (r)
			return r;
	}
	return 0;
}

static bool repl_part_ckpt_dirty(const repl_part_t *p)
{
	return p->have_log && (p->hw != p->ckpt_hw || p->leader_epoch != p->ckpt_epoch);
}

int repl_core_ckpt_dirty(const repl_core_t *c, repl_part_fn fn, void *arg)
{
	for (const repl_part_t *p = c->ckpt_head; p; p = p->knext) {
		int r;
		if (!repl_part_ckpt_dirty(p))
			continue;
		r = fn(arg, p);
		if (r)
			return r;
	}
	return 0;
}

void repl_core_ckpt_clean(repl_core_t *c)
{
	repl_part_t *p;

	while ((p = c->ckpt_head) != NULL) {
		repl_ckpt_unlink(c, p);
		if (p->have_log) {
			p->ckpt_hw = p->hw;
			p->ckpt_epoch = p->leader_epoch;
		}
	}
}
