/*
 * kfk_group_core.c: the consumer group membership state machine
 * (kfk_group_core.h).
 *
 * Owned by kafka-frontend (pure: no I/O, no logging, no clock).
 */
#include "kfk_group_core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ck_buf.h"
#include "kfk_errors.h"

/* At most this many member ids handed out and not joined with, per group. */
#define KFK_GCORE_PENDING_MAX 1000

const char *kfk_group_state_name(kfk_group_state_t st)
{
	switch (st) {
	case KFK_GROUP_EMPTY:
		return "Empty";
	case KFK_GROUP_PREPARING:
		return "PreparingRebalance";
	case KFK_GROUP_COMPLETING:
		return "CompletingRebalance";
	case KFK_GROUP_STABLE:
		return "Stable";
	default:
		return "Dead";
	}
}

/* ---- small helpers ---- */

static char *kfk_gdup(kfk_str_t s)
{
	size_t n = s.len > 0 ? (size_t)s.len : 0;
	char *p = malloc(n + 1);

	if (p) {
		if (n)
			memcpy(p, s.ptr, n);
		p[n] = '\0';
	}
	return p;
}

static bool kfk_gstr_is(kfk_str_t s, const char *c)
{
	return c && kfk_str_eq(s, c);
}

static bool kfk_gstr_empty(kfk_str_t s)
{
	return s.len <= 0;
}

static uint64_t kfk_gname_hash(kfk_str_t s)
{
	return ck_hash_bytes(s.ptr, s.len > 0 ? (size_t)s.len : 0);
}

static bool kfk_group_eq(const void *key, const void *val)
{
	const kfk_str_t *k = key;

	return kfk_str_eq(*k, ((const kfk_group_t *)val)->id);
}

static void kfk_gprotos_free(kfk_gproto_t *p, int n)
{
	for (int i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].meta);
	}
	free(p);
}

static void kfk_gmember_free(kfk_gmember_t *m)
{
	free(m->id);
	free(m->instance_id);
	free(m->client_id);
	free(m->client_host);
	kfk_gprotos_free(m->protos, m->nprotos);
	free(m->assignment);
	free(m);
}

/* A copy of the N protocols of IN, or NULL (-ENOMEM). */
static kfk_gproto_t *kfk_gprotos_copy(const kfk_gproto_in_t *in, int n)
{
	kfk_gproto_t *p = calloc(n > 0 ? (size_t)n : 1, sizeof(*p));

	if (!p)
		return NULL;
	for (int i = 0; i < n; i++) {
		size_t len = in[i].meta.len > 0 ? (size_t)in[i].meta.len : 0;

		p[i].name = kfk_gdup(in[i].name);
		p[i].meta = malloc(len ? len : 1);
		if (!p[i].name || !p[i].meta) {
			kfk_gprotos_free(p, i + 1);
			return NULL;
		}
		if (len)
			memcpy(p[i].meta, in[i].meta.ptr, len);
		p[i].meta_len = len;
	}
	return p;
}

/* Whether the protocols of M equal the N of IN (names, order and bytes). */
static bool kfk_gprotos_same(const kfk_gmember_t *m, const kfk_gproto_in_t *in, int n)
{
	if (m->nprotos != n)
		return false;
	for (int i = 0; i < n; i++) {
		size_t len = in[i].meta.len > 0 ? (size_t)in[i].meta.len : 0;

		if (!kfk_str_eq(in[i].name, m->protos[i].name) || len != m->protos[i].meta_len ||
		    (len && memcmp(in[i].meta.ptr, m->protos[i].meta, len) != 0))
			return false;
	}
	return true;
}

const kfk_gproto_t *kfk_gcore_member_proto(const kfk_gmember_t *m, const char *name)
{
	for (int i = 0; i < m->nprotos; i++) {
		if (strcmp(m->protos[i].name, name) == 0)
			return &m->protos[i];
	}
	return NULL;
}

static int kfk_gmember_index(const kfk_group_t *g, kfk_str_t id)
{
	for (int i = 0; i < g->nmembers; i++) {
		if (kfk_str_eq(id, g->members[i]->id))
			return i;
	}
	return -1;
}

static kfk_gmember_t *kfk_gmember_find(const kfk_group_t *g, kfk_str_t id)
{
	int i = kfk_gmember_index(g, id);

	return i < 0 ? NULL : g->members[i];
}

static kfk_gmember_t *kfk_gmember_by_instance(const kfk_group_t *g, kfk_str_t inst)
{
	for (int i = 0; i < g->nmembers; i++) {
		if (g->members[i]->instance_id && kfk_str_eq(inst, g->members[i]->instance_id))
			return g->members[i];
	}
	return NULL;
}

/*
 * Whether a request of MEMBER_ID naming group instance INSTANCE_ID comes
 * from a static member that a newer one replaced: G knows INSTANCE_ID under
 * another member id (Kafka's isStaticMemberFenced). Such a request is
 * answered FENCED_INSTANCE_ID before any other check of its member: the
 * UNKNOWN_MEMBER_ID the old id would get otherwise makes a client join
 * again with no member id, which replaces the newer member in turn, and
 * the two would take each other's place for good (KIP-345).
 */
static bool kfk_group_instance_fenced(const kfk_group_t *g, kfk_str_t member_id,
                                      kfk_str_t instance_id)
{
	const kfk_gmember_t *m;

	if (!g || kfk_gstr_empty(instance_id))
		return false;
	m = kfk_gmember_by_instance(g, instance_id);
	return m && !kfk_str_eq(member_id, m->id);
}

static int kfk_gpending_index(const kfk_group_t *g, kfk_str_t id)
{
	for (int i = 0; i < g->npending; i++) {
		if (kfk_str_eq(id, g->pending[i].id))
			return i;
	}
	return -1;
}

static void kfk_gpending_del(kfk_group_t *g, int i)
{
	free(g->pending[i].id);
	g->pending[i] = g->pending[--g->npending];
}

/* ---- answering waiters ---- */

static void kfk_gjoin_fail(kfk_gcore_t *c, void *waiter, int16_t err, const char *member_id)
{
	kfk_gjoin_out_t out = {
	    .err = err, .generation = -1, .leader = "", .member_id = member_id ? member_id : ""};

	c->join_done(c->arg, waiter, &out);
}

static void kfk_gsync_fail(kfk_gcore_t *c, void *waiter, int16_t err)
{
	kfk_gsync_out_t out = {.err = err};

	c->sync_done(c->arg, waiter, &out);
}

/* Answers M's held requests with ERR. */
static void kfk_gmember_fail_waiters(kfk_gcore_t *c, kfk_gmember_t *m, int16_t err)
{
	void *w;

	if (m->join_waiter) {
		w = m->join_waiter;
		m->join_waiter = NULL;
		kfk_gjoin_fail(c, w, err, m->id);
	}
	if (m->sync_waiter) {
		w = m->sync_waiter;
		m->sync_waiter = NULL;
		kfk_gsync_fail(c, w, err);
	}
}

/* ---- groups ---- */

kfk_group_t *kfk_gcore_find(const kfk_gcore_t *c, kfk_str_t id)
{
	return ck_hash_find(&c->groups, kfk_gname_hash(id), kfk_group_eq, &id);
}

static kfk_group_t *kfk_gcore_create(kfk_gcore_t *c, kfk_str_t id)
{
	kfk_group_t *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->id = kfk_gdup(id);
	g->protocol_type = kfk_gdup(kfk_str(""));
	if (!g->id || !g->protocol_type || ck_hash_insert(&c->groups, kfk_gname_hash(id), g) < 0) {
		free(g->id);
		free(g->protocol_type);
		free(g);
		return NULL;
	}
	return g;
}

static void kfk_group_free(kfk_group_t *g)
{
	for (int i = 0; i < g->nmembers; i++)
		kfk_gmember_free(g->members[i]);
	for (int i = 0; i < g->npending; i++)
		free(g->pending[i].id);
	free(g->members);
	free(g->pending);
	free(g->id);
	free(g->protocol_type);
	free(g->protocol);
	free(g->leader);
	free(g);
}

void kfk_gcore_drop(kfk_gcore_t *c, kfk_group_t *g, int16_t err)
{
	(void)ck_hash_remove(&c->groups, kfk_gname_hash(kfk_str(g->id)), g);
	for (int i = 0; i < g->nmembers; i++)
		kfk_gmember_fail_waiters(c, g->members[i], err);
	kfk_group_free(g);
}

void kfk_gcore_init(kfk_gcore_t *c, const kfk_gcore_settings_t *set, kfk_gjoin_fn join_done,
                    kfk_gsync_fn sync_done, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->set = *set;
	ck_hash_init(&c->groups);
	c->join_done = join_done;
	c->sync_done = sync_done;
	c->arg = arg;
}

void kfk_gcore_on_state(kfk_gcore_t *c, kfk_gstate_fn fn)
{
	c->state_done = fn;
}

static void kfk_group_state_done(kfk_gcore_t *c, const kfk_group_t *g)
{
	if (c->state_done)
		c->state_done(c->arg, g);
}

void kfk_gcore_free(kfk_gcore_t *c, int16_t err)
{
	kfk_group_t *g;
	size_t it = 0;

	while ((g = ck_hash_next(&c->groups, &it)) != NULL)
		kfk_gcore_drop(c, g, err);
	ck_hash_free(&c->groups);
}

/* The largest rebalance timeout of G's members. */
static int32_t kfk_group_rebalance_ms(const kfk_group_t *g)
{
	int32_t ms = 0;

	for (int i = 0; i < g->nmembers; i++) {
		if (g->members[i]->rebalance_ms > ms)
			ms = g->members[i]->rebalance_ms;
	}
	return ms;
}

/* Sets the leader to member ID (NULL: none). */
static void kfk_group_set_leader(kfk_group_t *g, const char *id)
{
	char *dup = id ? strdup(id) : NULL;

	if (id && !dup)
		return; /* keeps the old one: answers still name a member */
	free(g->leader);
	g->leader = dup;
}

/* Starts a join phase (PreparingRebalance). Held syncs are answered with
 * REBALANCE_IN_PROGRESS: their generation is over. */
static void kfk_group_prepare(kfk_gcore_t *c, kfk_group_t *g, uint64_t now_ms)
{
	if (g->state == KFK_GROUP_PREPARING)
		return;
	for (int i = 0; i < g->nmembers; i++) {
		kfk_gmember_t *m = g->members[i];

		if (m->sync_waiter) {
			void *w = m->sync_waiter;

			m->sync_waiter = NULL;
			kfk_gsync_fail(c, w, KFK_ERR_REBALANCE_IN_PROGRESS);
		}
		free(m->assignment);
		m->assignment = NULL;
		m->assignment_len = 0;
	}
	if (g->state == KFK_GROUP_EMPTY)
		g->phase_start_ms =
		    now_ms + (uint64_t)(c->set.initial_delay_ms > 0 ? c->set.initial_delay_ms : 0);
	else
		g->phase_start_ms = now_ms;
	g->state = KFK_GROUP_PREPARING;
	g->phase_deadline_ms = now_ms + (uint64_t)kfk_group_rebalance_ms(g);
	if (g->phase_deadline_ms < g->phase_start_ms)
		g->phase_deadline_ms = g->phase_start_ms;
}

/* Whether every member of G supports protocol NAME. */
static bool kfk_group_all_support(const kfk_group_t *g, const char *name)
{
	for (int k = 0; k < g->nmembers; k++) {
		if (!kfk_gcore_member_proto(g->members[k], name))
			return false;
	}
	return true;
}

/* The protocol every member supports with the most votes, each member
 * voting for the first such protocol in its own preference (ties: the
 * earlier in the first member's preference); NULL when none. */
static const char *kfk_group_pick_protocol(const kfk_group_t *g)
{
	const kfk_gmember_t *first = g->members[0];
	const char *best = NULL;
	int best_votes = -1;

	for (int i = 0; i < first->nprotos; i++) {
		const char *cand = first->protos[i].name;
		int votes = 0;

		if (!kfk_group_all_support(g, cand))
			continue;
		for (int k = 0; k < g->nmembers; k++) {
			const kfk_gmember_t *m = g->members[k];

			for (int j = 0; j < m->nprotos; j++) {
				if (!kfk_group_all_support(g, m->protos[j].name))
					continue;
				votes += strcmp(m->protos[j].name, cand) == 0;
				break;
			}
		}
		if (votes > best_votes) {
			best_votes = votes;
			best = cand;
		}
	}
	return best;
}

static void kfk_group_remove_at(kfk_group_t *g, int i)
{
	kfk_gmember_t *m = g->members[i];

	if (g->leader && strcmp(g->leader, m->id) == 0)
		kfk_group_set_leader(g, NULL);
	kfk_gmember_free(m);
	memmove(&g->members[i], &g->members[i + 1],
	        (size_t)(g->nmembers - i - 1) * sizeof(g->members[0]));
	g->nmembers--;
}

/* Out of memory ending a join phase: every held join is answered with an
 * error (the members join again) and a new phase starts. Frees LIST. */
static void kfk_group_join_again(kfk_gcore_t *c, kfk_group_t *g, kfk_gjoin_member_t *list,
                                 uint64_t now_ms)
{
	free(list);
	for (int i = 0; i < g->nmembers; i++)
		kfk_gmember_fail_waiters(c, g->members[i], KFK_ERR_UNKNOWN_SERVER_ERROR);
	g->state = KFK_GROUP_PREPARING;
	g->phase_start_ms = now_ms;
	g->phase_deadline_ms = now_ms + (uint64_t)kfk_group_rebalance_ms(g);
}

/* The leader's member list: each member's id, instance id and metadata of
 * the group's protocol, into LIST (room for every member). */
static void kfk_group_list_fill(const kfk_group_t *g, kfk_gjoin_member_t *list)
{
	for (int i = 0; i < g->nmembers; i++) {
		const kfk_gmember_t *m = g->members[i];
		const kfk_gproto_t *p = kfk_gcore_member_proto(m, g->protocol);

		list[i].member_id = m->id;
		list[i].instance_id = m->instance_id;
		list[i].meta = p ? p->meta : NULL;
		list[i].meta_len = p ? p->meta_len : 0;
	}
}

/* Ends the join phase: a new generation (Empty when nobody is left), every
 * held join answered. Members that did not join again are removed. */
static void kfk_group_complete_join(kfk_gcore_t *c, kfk_group_t *g, uint64_t now_ms)
{
	kfk_gjoin_member_t *list;
	const char *proto;
	char *proto_dup;

	for (int i = g->nmembers - 1; i >= 0; i--) {
		if (!g->members[i]->join_waiter) {
			kfk_gmember_fail_waiters(c, g->members[i], KFK_ERR_UNKNOWN_MEMBER_ID);
			kfk_group_remove_at(g, i);
		}
	}
	while (g->npending > 0)
		kfk_gpending_del(g, g->npending - 1);
	g->generation++;
	free(g->protocol);
	g->protocol = NULL;
	if (g->nmembers == 0) {
		g->state = KFK_GROUP_EMPTY;
		kfk_group_set_leader(g, NULL);
		kfk_group_state_done(c, g);
		return;
	}
	proto = kfk_group_pick_protocol(g);
	proto_dup = proto ? strdup(proto) : NULL;
	list = calloc((size_t)g->nmembers, sizeof(*list));
	if (!proto_dup || !list) {
		/* No protocol in common cannot happen (joins are checked);
		 * out of memory: every member tries again. */
		free(proto_dup);
		kfk_group_join_again(c, g, list, now_ms);
		return;
	}
	g->protocol = proto_dup;
	if (!g->leader || !kfk_gmember_find(g, kfk_str(g->leader)))
		kfk_group_set_leader(g, g->members[0]->id);
	if (!g->leader) {
		kfk_group_join_again(c, g, list, now_ms); /* out of memory */
		return;
	}
	kfk_group_list_fill(g, list);
	g->state = KFK_GROUP_COMPLETING;
	/* Members that do not sync by then are removed (the leader too). */
	g->phase_deadline_ms = now_ms + (uint64_t)kfk_group_rebalance_ms(g);
	for (int i = 0; i < g->nmembers; i++) {
		kfk_gmember_t *m = g->members[i];
		bool lead = strcmp(m->id, g->leader) == 0;
		kfk_gjoin_out_t out = {.err = KFK_ERR_NONE,
		                       .generation = g->generation,
		                       .protocol_type = g->protocol_type,
		                       .protocol = g->protocol,
		                       .leader = g->leader,
		                       .member_id = m->id,
		                       .members = lead ? list : NULL,
		                       .nmembers = lead ? g->nmembers : 0};
		void *w = m->join_waiter;

		m->join_waiter = NULL;
		m->is_new = false;
		m->expires_ms = now_ms + (uint64_t)m->session_ms;
		c->join_done(c->arg, w, &out);
	}
	free(list);
}

/* Completes the join phase when every member (and every handed-out id)
 * has joined and the initial delay is over. */
static void kfk_group_try_complete(kfk_gcore_t *c, kfk_group_t *g, uint64_t now_ms)
{
	if (g->state != KFK_GROUP_PREPARING || g->npending > 0 || now_ms < g->phase_start_ms)
		return;
	for (int i = 0; i < g->nmembers; i++) {
		if (!g->members[i]->join_waiter)
			return;
	}
	kfk_group_complete_join(c, g, now_ms);
}

/* Removes member I (its waiters answered with ERR) and rebalances. */
static void kfk_group_remove_member(kfk_gcore_t *c, kfk_group_t *g, int i, int16_t err,
                                    uint64_t now_ms)
{
	kfk_gmember_fail_waiters(c, g->members[i], err);
	kfk_group_remove_at(g, i);
	if (g->state == KFK_GROUP_STABLE || g->state == KFK_GROUP_COMPLETING)
		kfk_group_prepare(c, g, now_ms);
	if (g->state == KFK_GROUP_PREPARING)
		kfk_group_try_complete(c, g, now_ms);
}

/* ---- JoinGroup ---- */

static bool kfk_gstr_has_nul(kfk_str_t s)
{
	return s.len > 0 && memchr(s.ptr, '\0', (size_t)s.len) != NULL;
}

static int16_t kfk_gjoin_validate(const kfk_gcore_t *c, const kfk_group_t *g,
                                  const kfk_gjoin_in_t *in)
{
	if (kfk_gstr_empty(in->group))
		return KFK_ERR_INVALID_GROUP_ID;
	if (in->session_ms < c->set.min_session_ms || in->session_ms > c->set.max_session_ms)
		return KFK_ERR_INVALID_SESSION_TIMEOUT;
	if (kfk_gstr_empty(in->protocol_type) || in->nprotos <= 0)
		return KFK_ERR_INCONSISTENT_GROUP_PROTOCOL;
	/* Kept as C strings: "a\0b" would be taken for "a" (another
	 * member's instance id, replaced instead of fenced). */
	if (kfk_gstr_has_nul(in->instance_id) || kfk_gstr_has_nul(in->protocol_type) ||
	    !kfk_str_utf8(in->instance_id) || !kfk_str_utf8(in->protocol_type))
		return KFK_ERR_INVALID_REQUEST;
	if (!g || g->nmembers == 0)
		return KFK_ERR_NONE;
	if (!kfk_gstr_is(in->protocol_type, g->protocol_type))
		return KFK_ERR_INCONSISTENT_GROUP_PROTOCOL;
	/* Some protocol must be supported by every member and this one. */
	for (int i = 0; i < in->nprotos; i++) {
		bool all = true;

		for (int k = 0; k < g->nmembers && all; k++) {
			const kfk_gmember_t *m = g->members[k];
			bool has = false;

			for (int j = 0; j < m->nprotos && !has; j++)
				has = kfk_str_eq(in->protos[i].name, m->protos[j].name);
			/* The member joining again may change its own list. */
			all = has || kfk_str_eq(in->member_id, m->id);
		}
		if (all)
			return KFK_ERR_NONE;
	}
	return KFK_ERR_INCONSISTENT_GROUP_PROTOCOL;
}

static int kfk_gmember_set_protos(kfk_gmember_t *m, const kfk_gjoin_in_t *in)
{
	kfk_gproto_t *p = kfk_gprotos_copy(in->protos, in->nprotos);

	if (!p)
		return -ENOMEM;
	kfk_gprotos_free(m->protos, m->nprotos);
	m->protos = p;
	m->nprotos = in->nprotos;
	m->session_ms = in->session_ms;
	m->rebalance_ms = in->rebalance_ms >= 0 ? in->rebalance_ms : in->session_ms;
	return 0;
}

static kfk_gmember_t *kfk_gmember_new(const kfk_gjoin_in_t *in, const char *id)
{
	kfk_gmember_t *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->id = strdup(id);
	m->instance_id = kfk_gstr_empty(in->instance_id) ? NULL : kfk_gdup(in->instance_id);
	m->client_id = strdup(in->client_id ? in->client_id : "");
	m->client_host = strdup(in->client_host ? in->client_host : "");
	if (!m->id || !m->client_id || !m->client_host ||
	    (!kfk_gstr_empty(in->instance_id) && !m->instance_id) ||
	    kfk_gmember_set_protos(m, in) < 0) {
		kfk_gmember_free(m);
		return NULL;
	}
	m->is_new = true;
	return m;
}

static int kfk_group_add(kfk_group_t *g, kfk_gmember_t *m)
{
	if (g->nmembers == g->members_cap) {
		int cap = g->members_cap ? g->members_cap * 2 : 4;
		kfk_gmember_t **nm = realloc(g->members, (size_t)cap * sizeof(*nm));

		if (!nm)
			return -ENOMEM;
		g->members = nm;
		g->members_cap = cap;
	}
	g->members[g->nmembers++] = m;
	return 0;
}

static int kfk_gpending_add(kfk_group_t *g, const char *id, uint64_t expires_ms)
{
	kfk_gpending_t *np;
	char *dup;

	if (g->npending >= KFK_GCORE_PENDING_MAX)
		kfk_gpending_del(g, 0); /* the oldest-ish goes: it may join late */
	np = realloc(g->pending, (size_t)(g->npending + 1) * sizeof(*np));
	if (!np)
		return -ENOMEM;
	g->pending = np;
	dup = strdup(id);
	if (!dup)
		return -ENOMEM;
	g->pending[g->npending].id = dup;
	g->pending[g->npending].expires_ms = expires_ms;
	g->npending++;
	return 0;
}

/*
 * A static member back under a new member id while G is Stable, with the
 * protocols it had: it takes its old entry's place and assignment without a
 * rebalance (KIP-345: the point of static membership is that a restart does
 * not move partitions), as Kafka's coordinator does; the old member id is
 * gone, so its requests are refused. The leader's answer lists the members
 * (it assigns again, and its SyncGroup in Stable gets the stored
 * assignment). Returns false when a rebalance is needed instead.
 */
static bool kfk_gjoin_static_back(kfk_gcore_t *c, kfk_group_t *g, kfk_gmember_t *old,
                                  const kfk_gjoin_in_t *in, void *waiter, uint64_t now_ms)
{
	bool lead = g->leader && !strcmp(g->leader, old->id);
	kfk_gjoin_member_t *list = NULL;
	char *id, *client_id, *client_host;

	if (g->state != KFK_GROUP_STABLE || !kfk_gprotos_same(old, in->protos, in->nprotos))
		return false;
	id = strdup(in->new_member_id);
	client_id = strdup(in->client_id ? in->client_id : "");
	client_host = strdup(in->client_host ? in->client_host : "");
	list = lead ? calloc((size_t)g->nmembers, sizeof(*list)) : NULL;
	if (!id || !client_id || !client_host || (lead && !list) ||
	    kfk_gmember_set_protos(old, in) < 0) {
		free(id);
		free(client_id);
		free(client_host);
		free(list);
		return false;
	}
	kfk_gmember_fail_waiters(c, old, KFK_ERR_FENCED_INSTANCE_ID);
	if (lead)
		kfk_group_set_leader(g, id);
	free(old->id);
	old->id = id;
	free(old->client_id);
	old->client_id = client_id;
	free(old->client_host);
	old->client_host = client_host;
	old->expires_ms = now_ms + (uint64_t)old->session_ms;
	if (lead)
		kfk_group_list_fill(g, list);
	/* Still Stable, with the member's new id: what a successor must load
	 * (with the old id it would fence the member, KIP-345's rule). */
	kfk_group_state_done(c, g);
	c->join_done(c->arg, waiter,
	             &(kfk_gjoin_out_t){.err = KFK_ERR_NONE,
	                                .generation = g->generation,
	                                .protocol_type = g->protocol_type,
	                                .protocol = g->protocol,
	                                .leader = g->leader ? g->leader : "",
	                                .member_id = old->id,
	                                .members = list,
	                                .nmembers = lead ? g->nmembers : 0});
	free(list);
	return true;
}

/* A new member (empty member id) joins G. */
static int kfk_gjoin_new(kfk_gcore_t *c, kfk_group_t *g, const kfk_gjoin_in_t *in, void *waiter,
                         uint64_t now_ms)
{
	kfk_gmember_t *m, *old;

	if (!kfk_gstr_empty(in->instance_id) &&
	    (old = kfk_gmember_by_instance(g, in->instance_id)) != NULL) {
		if (kfk_gjoin_static_back(c, g, old, in, waiter, now_ms))
			return 0;
		/* A static member back with a new id, or other protocols: the
		 * old one is fenced, and the group rebalances. */
		kfk_group_remove_member(c, g, kfk_gmember_index(g, kfk_str(old->id)),
		                        KFK_ERR_FENCED_INSTANCE_ID, now_ms);
	} else if (in->require_known_id && kfk_gstr_empty(in->instance_id)) {
		if (kfk_gpending_add(g, in->new_member_id, now_ms + (uint64_t)in->session_ms) < 0) {
			kfk_gjoin_fail(c, waiter, KFK_ERR_UNKNOWN_SERVER_ERROR, "");
			return -ENOMEM;
		}
		kfk_gjoin_fail(c, waiter, KFK_ERR_MEMBER_ID_REQUIRED, in->new_member_id);
		return 0;
	}
	if (c->set.max_members > 0 && g->nmembers >= c->set.max_members) {
		kfk_gjoin_fail(c, waiter, KFK_ERR_GROUP_MAX_SIZE_REACHED, "");
		return 0;
	}
	m = kfk_gmember_new(in, in->new_member_id);
	if (!m || kfk_group_add(g, m) < 0) {
		if (m)
			kfk_gmember_free(m);
		kfk_gjoin_fail(c, waiter, KFK_ERR_UNKNOWN_SERVER_ERROR, "");
		return -ENOMEM;
	}
	if (g->nmembers == 1) {
		free(g->protocol_type);
		g->protocol_type = kfk_gdup(in->protocol_type);
		if (!g->protocol_type)
			g->protocol_type = strdup("");
	}
	m->join_waiter = waiter;
	m->expires_ms = now_ms + (uint64_t)m->session_ms;
	kfk_group_prepare(c, g, now_ms);
	kfk_group_try_complete(c, g, now_ms);
	return 0;
}

/* The answer to a member that joins again during CompletingRebalance or
 * Stable with nothing changed: the current generation. */
static int kfk_gjoin_current(kfk_gcore_t *c, const kfk_group_t *g, const kfk_gmember_t *m,
                             void *waiter)
{
	bool lead = g->leader && !strcmp(m->id, g->leader);
	kfk_gjoin_member_t *list = NULL;
	kfk_gjoin_out_t out = {.err = KFK_ERR_NONE,
	                       .generation = g->generation,
	                       .protocol_type = g->protocol_type,
	                       .protocol = g->protocol,
	                       .leader = g->leader ? g->leader : "",
	                       .member_id = m->id};

	/* The leader asking again (its answer was lost) needs the members
	 * to assign, as Kafka gives them: without them it assigns nothing
	 * to anybody and the group consumes nothing. */
	if (lead && g->nmembers > 0) {
		list = calloc((size_t)g->nmembers, sizeof(*list));
		if (!list) {
			kfk_gjoin_fail(c, waiter, KFK_ERR_UNKNOWN_SERVER_ERROR, m->id);
			return -ENOMEM;
		}
		kfk_group_list_fill(g, list);
		out.members = list;
		out.nmembers = g->nmembers;
	}
	c->join_done(c->arg, waiter, &out);
	free(list);
	return 0;
}

/* A known member (or a handed-out id) joins G. */
static int kfk_gjoin_known(kfk_gcore_t *c, kfk_group_t *g, const kfk_gjoin_in_t *in, void *waiter,
                           uint64_t now_ms)
{
	int pi = kfk_gpending_index(g, in->member_id);
	kfk_gmember_t *m;
	bool same;

	if (kfk_group_instance_fenced(g, in->member_id, in->instance_id)) {
		kfk_gjoin_fail(c, waiter, KFK_ERR_FENCED_INSTANCE_ID, "");
		return 0;
	}
	if (pi >= 0) {
		kfk_gjoin_in_t as_new = *in;
		char *id = g->pending[pi].id;

		g->pending[pi].id = NULL;
		kfk_gpending_del(g, pi);
		as_new.new_member_id = id;
		as_new.require_known_id = false;
		pi = kfk_gjoin_new(c, g, &as_new, waiter, now_ms);
		free(id);
		return pi;
	}
	m = kfk_gmember_find(g, in->member_id);
	if (!m) {
		kfk_gjoin_fail(c, waiter, KFK_ERR_UNKNOWN_MEMBER_ID, "");
		return 0;
	}
	if (m->instance_id && !kfk_gstr_is(in->instance_id, m->instance_id)) {
		kfk_gjoin_fail(c, waiter, KFK_ERR_FENCED_INSTANCE_ID, m->id);
		return 0;
	}
	if (m->join_waiter) {
		/* A second join while one is held: the first is answered as
		 * superseded, the new one is held in its place. */
		void *w = m->join_waiter;

		m->join_waiter = NULL;
		kfk_gjoin_fail(c, w, KFK_ERR_REBALANCE_IN_PROGRESS, m->id);
	}
	m->expires_ms = now_ms + (uint64_t)in->session_ms;
	same = kfk_gprotos_same(m, in->protos, in->nprotos);
	if (g->state == KFK_GROUP_COMPLETING && same)
		return kfk_gjoin_current(c, g, m, waiter);
	if (g->state == KFK_GROUP_STABLE && same && strcmp(m->id, g->leader ? g->leader : ""))
		return kfk_gjoin_current(c, g, m, waiter);
	if (!same && kfk_gmember_set_protos(m, in) < 0) {
		kfk_gjoin_fail(c, waiter, KFK_ERR_UNKNOWN_SERVER_ERROR, m->id);
		return -ENOMEM;
	}
	m->join_waiter = waiter;
	kfk_group_prepare(c, g, now_ms);
	kfk_group_try_complete(c, g, now_ms);
	return 0;
}

int kfk_gcore_join(kfk_gcore_t *c, const kfk_gjoin_in_t *in, void *waiter, uint64_t now_ms)
{
	kfk_group_t *g = kfk_gstr_empty(in->group) ? NULL : kfk_gcore_find(c, in->group);
	int16_t err = kfk_gjoin_validate(c, g, in);
	bool created = false;
	int r;

	if (err != KFK_ERR_NONE) {
		kfk_gjoin_fail(c, waiter, err, "");
		return 0;
	}
	if (!g) {
		if (!kfk_gstr_empty(in->member_id)) {
			kfk_gjoin_fail(c, waiter, KFK_ERR_UNKNOWN_MEMBER_ID, "");
			return 0;
		}
		g = kfk_gcore_create(c, in->group);
		if (!g) {
			kfk_gjoin_fail(c, waiter, KFK_ERR_UNKNOWN_SERVER_ERROR, "");
			return -ENOMEM;
		}
		created = true;
	}
	r = kfk_gstr_empty(in->member_id) ? kfk_gjoin_new(c, g, in, waiter, now_ms)
	                                  : kfk_gjoin_known(c, g, in, waiter, now_ms);
	if (created && g->nmembers == 0 && g->npending == 0)
		kfk_gcore_drop(c, g, KFK_ERR_UNKNOWN_SERVER_ERROR);
	return r;
}

/* ---- SyncGroup, Heartbeat, LeaveGroup, commits ---- */

/* The member of a request, or an error: FENCED_INSTANCE_ID (its instance
 * id belongs to another member id, or it is not the member's),
 * UNKNOWN_MEMBER_ID (no group, no such member, an empty group),
 * ILLEGAL_GENERATION. */
static int16_t kfk_gcore_member(kfk_gcore_t *c, kfk_str_t group, kfk_str_t member_id,
                                kfk_str_t instance_id, int32_t generation, kfk_group_t **ret_g,
                                kfk_gmember_t **ret_m)
{
	kfk_group_t *g = kfk_gstr_empty(group) ? NULL : kfk_gcore_find(c, group);
	kfk_gmember_t *m = g ? kfk_gmember_find(g, member_id) : NULL;

	if (kfk_gstr_empty(group))
		return KFK_ERR_INVALID_GROUP_ID;
	if (kfk_group_instance_fenced(g, member_id, instance_id))
		return KFK_ERR_FENCED_INSTANCE_ID;
	if (!m)
		return KFK_ERR_UNKNOWN_MEMBER_ID;
	if (m->instance_id && !kfk_gstr_is(instance_id, m->instance_id))
		return KFK_ERR_FENCED_INSTANCE_ID;
	*ret_g = g;
	*ret_m = m;
	if (generation != g->generation)
		return KFK_ERR_ILLEGAL_GENERATION;
	return KFK_ERR_NONE;
}

static int kfk_gsync_store(kfk_group_t *g, const kfk_gsync_in_t *in)
{
	for (int i = 0; i < g->nmembers; i++) {
		kfk_gmember_t *m = g->members[i];

		free(m->assignment);
		m->assignment = NULL;
		m->assignment_len = 0;
		for (int k = 0; k < in->nassignments; k++) {
			const kfk_gassign_in_t *a = &in->assignments[k];
			size_t len = a->assignment.len > 0 ? (size_t)a->assignment.len : 0;

			if (!kfk_str_eq(a->member_id, m->id))
				continue;
			m->assignment = malloc(len ? len : 1);
			if (!m->assignment)
				return -ENOMEM;
			if (len)
				memcpy(m->assignment, a->assignment.ptr, len);
			m->assignment_len = len;
			break;
		}
	}
	return 0;
}

static void kfk_gsync_answer(kfk_gcore_t *c, const kfk_group_t *g, const kfk_gmember_t *m,
                             void *waiter)
{
	kfk_gsync_out_t out = {.err = KFK_ERR_NONE,
	                       .protocol_type = g->protocol_type,
	                       .protocol = g->protocol,
	                       .assignment = m->assignment ? m->assignment : (const uint8_t *)"",
	                       .assignment_len = m->assignment_len};

	c->sync_done(c->arg, waiter, &out);
}

int kfk_gcore_sync(kfk_gcore_t *c, const kfk_gsync_in_t *in, void *waiter, uint64_t now_ms)
{
	kfk_group_t *g = NULL;
	kfk_gmember_t *m = NULL;
	int16_t err =
	    kfk_gcore_member(c, in->group, in->member_id, in->instance_id, in->generation, &g, &m);

	if (err == KFK_ERR_NONE &&
	    ((in->protocol_type.len >= 0 && !kfk_gstr_is(in->protocol_type, g->protocol_type)) ||
	     (in->protocol.len >= 0 && !kfk_gstr_is(in->protocol, g->protocol))))
		err = KFK_ERR_INCONSISTENT_GROUP_PROTOCOL;
	if (err == KFK_ERR_NONE && g->state == KFK_GROUP_PREPARING)
		err = KFK_ERR_REBALANCE_IN_PROGRESS;
	if (err != KFK_ERR_NONE) {
		kfk_gsync_fail(c, waiter, err);
		return 0;
	}
	m->expires_ms = now_ms + (uint64_t)m->session_ms;
	if (g->state == KFK_GROUP_STABLE) {
		kfk_gsync_answer(c, g, m, waiter);
		return 0;
	}
	/* CompletingRebalance: held until the leader's assignments come. */
	if (m->sync_waiter) {
		void *w = m->sync_waiter;

		m->sync_waiter = NULL;
		kfk_gsync_fail(c, w, KFK_ERR_REBALANCE_IN_PROGRESS);
	}
	m->sync_waiter = waiter;
	if (!g->leader || strcmp(m->id, g->leader) != 0)
		return 0;
	if (kfk_gsync_store(g, in) < 0) {
		/* Everyone joins again. */
		kfk_group_prepare(c, g, now_ms);
		return -ENOMEM;
	}
	g->state = KFK_GROUP_STABLE;
	kfk_group_state_done(c, g);
	for (int i = 0; i < g->nmembers; i++) {
		kfk_gmember_t *o = g->members[i];
		void *w = o->sync_waiter;

		if (!w)
			continue;
		o->sync_waiter = NULL;
		kfk_gsync_answer(c, g, o, w);
	}
	return 0;
}

/* ---- a group taken over ---- */

static int kfk_gload_check(const kfk_gload_t *in)
{
	bool leader = false;

	if (in->nmembers <= 0 || !in->protocol || !in->protocol_type || !in->leader ||
	    kfk_gstr_empty(in->group))
		return -EINVAL;
	for (int i = 0; i < in->nmembers; i++) {
		const kfk_gload_member_t *m = &in->members[i];

		bool has = false;

		if (!m->id || !m->id[0] || m->session_ms <= 0 || m->nprotos <= 0)
			return -EINVAL;
		for (int k = 0; k < m->nprotos; k++)
			has = has || kfk_str_eq(m->protos[k].name, in->protocol);
		if (!has)
			return -EINVAL;
		leader = leader || strcmp(m->id, in->leader) == 0;
		for (int k = 0; k < i; k++) {
			const char *o = in->members[k].instance_id;

			if (strcmp(in->members[k].id, m->id) == 0 ||
			    (m->instance_id && m->instance_id[0] && o &&
			     strcmp(o, m->instance_id) == 0))
				return -EINVAL;
		}
	}
	return leader ? 0 : -EINVAL;
}

/* Member IN of a loaded group, or NULL (-ENOMEM). */
static kfk_gmember_t *kfk_gload_member(const kfk_gload_member_t *in, uint64_t now_ms)
{
	kfk_gjoin_in_t join = {
	    .instance_id = in->instance_id ? kfk_str(in->instance_id) : KFK_STR_NULL,
	    .protos = in->protos,
	    .nprotos = in->nprotos,
	    .session_ms = in->session_ms,
	    .rebalance_ms = in->rebalance_ms > 0 ? in->rebalance_ms : in->session_ms,
	    .client_id = in->client_id,
	    .client_host = in->client_host,
	};
	kfk_gmember_t *m = kfk_gmember_new(&join, in->id);

	if (!m)
		return NULL;
	m->is_new = false;
	m->expires_ms = now_ms + (uint64_t)in->session_ms;
	m->assignment = malloc(in->assignment_len ? in->assignment_len : 1);
	if (!m->assignment) {
		kfk_gmember_free(m);
		return NULL;
	}
	if (in->assignment_len)
		memcpy(m->assignment, in->assignment, in->assignment_len);
	m->assignment_len = in->assignment_len;
	return m;
}

int kfk_gcore_load(kfk_gcore_t *c, const kfk_gload_t *in, uint64_t now_ms)
{
	kfk_group_t *g;

	if (kfk_gload_check(in) < 0)
		return -EINVAL;
	if (kfk_gcore_find(c, in->group))
		return -EEXIST;
	g = kfk_gcore_create(c, in->group);
	if (!g)
		return -ENOMEM;
	free(g->protocol_type);
	g->protocol_type = strdup(in->protocol_type);
	g->protocol = strdup(in->protocol);
	g->leader = strdup(in->leader);
	g->generation = in->generation;
	g->state = KFK_GROUP_STABLE;
	for (int i = 0; i < in->nmembers && g->protocol_type && g->protocol && g->leader; i++) {
		kfk_gmember_t *m = kfk_gload_member(&in->members[i], now_ms);

		if (!m || kfk_group_add(g, m) < 0) {
			if (m)
				kfk_gmember_free(m);
			break;
		}
	}
	if (g->nmembers == in->nmembers && g->protocol_type && g->protocol && g->leader)
		return 0;
	kfk_gcore_drop(c, g, KFK_ERR_NONE);
	return -ENOMEM;
}

int16_t kfk_gcore_heartbeat(kfk_gcore_t *c, kfk_str_t group, kfk_str_t member_id,
                            kfk_str_t instance_id, int32_t generation, uint64_t now_ms)
{
	kfk_group_t *g = NULL;
	kfk_gmember_t *m = NULL;
	int16_t err = kfk_gcore_member(c, group, member_id, instance_id, generation, &g, &m);

	if (err != KFK_ERR_NONE)
		return err;
	m->expires_ms = now_ms + (uint64_t)m->session_ms;
	return g->state == KFK_GROUP_PREPARING ? KFK_ERR_REBALANCE_IN_PROGRESS : KFK_ERR_NONE;
}

int16_t kfk_gcore_leave(kfk_gcore_t *c, kfk_str_t group, kfk_str_t member_id, kfk_str_t instance_id,
                        uint64_t now_ms)
{
	kfk_group_t *g = kfk_gstr_empty(group) ? NULL : kfk_gcore_find(c, group);
	kfk_gmember_t *m = NULL;
	int i;

	if (kfk_gstr_empty(group))
		return KFK_ERR_INVALID_GROUP_ID;
	if (!g)
		return KFK_ERR_UNKNOWN_MEMBER_ID;
	if (!kfk_gstr_empty(member_id)) {
		if (kfk_group_instance_fenced(g, member_id, instance_id))
			return KFK_ERR_FENCED_INSTANCE_ID;
		m = kfk_gmember_find(g, member_id);
		if (m && m->instance_id && !kfk_gstr_empty(instance_id) &&
		    !kfk_gstr_is(instance_id, m->instance_id))
			return KFK_ERR_FENCED_INSTANCE_ID;
	} else if (!kfk_gstr_empty(instance_id)) {
		m = kfk_gmember_by_instance(g, instance_id);
	}
	if (!m) {
		i = kfk_gpending_index(g, member_id);
		if (i < 0 || kfk_gstr_empty(member_id))
			return KFK_ERR_UNKNOWN_MEMBER_ID;
		kfk_gpending_del(g, i);
		kfk_group_try_complete(c, g, now_ms);
		return KFK_ERR_NONE;
	}
	kfk_group_remove_member(c, g, kfk_gmember_index(g, kfk_str(m->id)),
	                        KFK_ERR_UNKNOWN_MEMBER_ID, now_ms);
	return KFK_ERR_NONE;
}

int kfk_gsub_names(const uint8_t *meta, size_t len, kfk_str_t topic)
{
	size_t i = 6;
	int32_t n;
	int found = 0;

	if (!meta || len < 6 || (int16_t)ck_be16_get(meta) < 0)
		return -1;
	n = (int32_t)ck_be32_get(meta + 2);
	if (n < 0)
		return -1;
	for (int32_t k = 0; k < n; k++) {
		int16_t sl;

		if (len - i < 2 || (sl = (int16_t)ck_be16_get(meta + i)) < 0 ||
		    len - i - 2 < (size_t)sl)
			return -1;
		if (topic.len == sl &&
		    (sl == 0 || memcmp(meta + i + 2, topic.ptr, (size_t)sl) == 0))
			found = 1;
		i += 2 + (size_t)sl;
	}
	return found;
}

int16_t kfk_gcore_offset_delete_check(const kfk_group_t *g, kfk_str_t topic)
{
	if (!g || g->nmembers == 0)
		return KFK_ERR_NONE;
	if (!g->protocol_type || strcmp(g->protocol_type, "consumer") != 0)
		return KFK_ERR_NON_EMPTY_GROUP;
	for (int k = 0; k < g->nmembers; k++) {
		const kfk_gmember_t *m = g->members[k];

		for (int p = 0; p < m->nprotos; p++) {
			if (kfk_gsub_names(m->protos[p].meta, m->protos[p].meta_len, topic) != 0)
				return KFK_ERR_GROUP_SUBSCRIBED_TO_TOPIC;
		}
	}
	return KFK_ERR_NONE;
}

int16_t kfk_gcore_commit_check(kfk_gcore_t *c, kfk_str_t group, kfk_str_t member_id,
                               kfk_str_t instance_id, int32_t generation, uint64_t now_ms)
{
	/* The empty group (Kafka takes commits to it) never has members. */
	kfk_group_t *g = kfk_gstr_empty(group) ? NULL : kfk_gcore_find(c, group);
	kfk_gmember_t *m = NULL;
	int16_t err;

	if (kfk_group_instance_fenced(g, member_id, instance_id))
		return KFK_ERR_FENCED_INSTANCE_ID;
	if (generation < 0 && kfk_gstr_empty(member_id)) {
		/* Outside the group protocol: only while nobody is in it. */
		return !g || g->nmembers == 0 ? KFK_ERR_NONE : KFK_ERR_UNKNOWN_MEMBER_ID;
	}
	if (!g)
		return generation < 0 ? KFK_ERR_UNKNOWN_MEMBER_ID : KFK_ERR_ILLEGAL_GENERATION;
	err = kfk_gcore_member(c, group, member_id, instance_id, generation, &g, &m);
	if (err != KFK_ERR_NONE)
		return err;
	if (g->state == KFK_GROUP_COMPLETING)
		return KFK_ERR_REBALANCE_IN_PROGRESS;
	m->expires_ms = now_ms + (uint64_t)m->session_ms;
	return KFK_ERR_NONE;
}

/* ---- time ---- */

/* Whether member M is gone: its session is over (a held join or sync
 * keeps it), or G's sync phase ended without its SyncGroup. */
static bool kfk_gmember_gone(const kfk_group_t *g, const kfk_gmember_t *m, uint64_t now_ms)
{
	if (m->join_waiter)
		return false;
	if (g->state == KFK_GROUP_COMPLETING && now_ms >= g->phase_deadline_ms && !m->sync_waiter)
		return true;
	return !m->sync_waiter && m->expires_ms <= now_ms;
}

static void kfk_group_tick(kfk_gcore_t *c, kfk_group_t *g, uint64_t now_ms)
{
	for (int i = g->npending - 1; i >= 0; i--) {
		if (g->pending[i].expires_ms <= now_ms)
			kfk_gpending_del(g, i);
	}
	for (int i = g->nmembers - 1; i >= 0; i--) {
		if (i >= g->nmembers)
			continue; /* a rebalance above removed more */
		if (kfk_gmember_gone(g, g->members[i], now_ms))
			kfk_group_remove_member(c, g, i, KFK_ERR_UNKNOWN_MEMBER_ID, now_ms);
	}
	if (g->state != KFK_GROUP_PREPARING)
		return;
	if (now_ms >= g->phase_deadline_ms && now_ms >= g->phase_start_ms)
		kfk_group_complete_join(c, g, now_ms);
	else
		kfk_group_try_complete(c, g, now_ms);
}

void kfk_gcore_tick(kfk_gcore_t *c, uint64_t now_ms)
{
	kfk_group_t *g;
	size_t it = 0;

	while ((g = ck_hash_next(&c->groups, &it)) != NULL) {
		kfk_group_tick(c, g, now_ms);
		if (g->state != KFK_GROUP_EMPTY || g->nmembers > 0 || g->npending > 0) {
			g->empty_since_ms = 0;
			continue;
		}
		/* Nothing left to remember (offsets live in the metadata)
		 * once it has been Empty for the settings' while. */
		if (!g->empty_since_ms)
			g->empty_since_ms = now_ms + 1;
		if (now_ms + 1 - g->empty_since_ms >=
		    (uint64_t)(c->set.empty_keep_ms > 0 ? c->set.empty_keep_ms : 0))
			kfk_gcore_drop(c, g, KFK_ERR_NONE);
	}
}
