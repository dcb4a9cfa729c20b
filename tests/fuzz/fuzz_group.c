/*
 * fuzz_group.c: libFuzzer target for the consumer group coordinator's
 * membership state machine (kafka-frontend/kfk_group_core.h), which any
 * Kafka client drives with JoinGroup, SyncGroup, Heartbeat, LeaveGroup and
 * OffsetCommit in whatever order, with whatever ids and generations. Built
 * only with -Dfuzz=true and clang; run with tests/fuzz/run.sh BUILD
 * SECONDS fuzz_group.
 *
 * The input is a program: each op takes a byte and its operands from the
 * bytes after it (an exhausted input reads zeros): a request on one of two
 * groups, with member ids, instance ids, generations, protocols and
 * assignments picked from what the core answered so far (so that members
 * really join, sync and rebalance) or from a few wrong ones; time moving on
 * with ticks; a group dropped, and loaded again from what the state
 * callback last reported of it (a coordinator taking it over). Besides
 * "never crash" (ASan/UBSan), abort()
 * when: a request is answered twice, or not at all by the time the core
 * is freed; a waiter is answered while the core still holds it; a group's
 * generation goes back; a group breaks its own shape (the leader not a
 * member, Empty with members, a rebalanced state without protocol or
 * leader, more members than group.max.size, two members with one id); the
 * state callback reports a Stable group with members and a leader among
 * them, or an Empty one without members; a reported group loads.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "fuzz_input.h"
#include "kfk_errors.h"
#include "kfk_group_core.h"

#define WAITERS_MAX 512
#define IDS_MAX     16
#define ID_LEN      24

typedef struct {
	int answered;
} waiter_t;

static const char *const groups[] = {"g0", "g1"};

/* What the state callback last reported of a group (its copy). */
typedef struct {
	bool have;
	int32_t generation;
	char protocol_type[16], protocol[16], leader[ID_LEN];
	kfk_gload_member_t members[IDS_MAX];
	char ids[IDS_MAX][ID_LEN], inst[IDS_MAX][8];
	kfk_gproto_in_t protos[IDS_MAX][4];
	char pnames[IDS_MAX][4][16];
	uint8_t meta[IDS_MAX][4][16], assign[IDS_MAX][64];
	int nmembers;
} saved_t;

typedef struct {
	kfk_gcore_t core;
	saved_t saved[2];
	waiter_t waiters[WAITERS_MAX];
	int nwaiters;
	char ids[IDS_MAX][ID_LEN]; /* member ids the core answered with */
	int nids;
	int32_t gen_seen[2];
	bool dropped[2];
	uint64_t now;
	int next_id;
	int32_t max_members;
} fz_t;

static void fail(const char *what, long long a, long long b)
{
	fprintf(stderr, "fuzz_group: %s (%lld, %lld)\n", what, a, b);
	abort();
}

static void remember(fz_t *f, const char *id)
{
	if (!id || !*id || strlen(id) >= ID_LEN)
		return;
	for (int i = 0; i < f->nids; i++)
		if (!strcmp(f->ids[i], id))
			return;
	snprintf(f->ids[f->nids % IDS_MAX], ID_LEN, "%s", id);
	if (f->nids < IDS_MAX)
		f->nids++;
}

static void answered(fz_t *f, void *w)
{
	waiter_t *x = w;

	if (x < f->waiters || x >= f->waiters + f->nwaiters)
		fail("an answer to an unknown waiter", 0, 0);
	if (x->answered++)
		fail("a request answered twice", (long long)(x - f->waiters), x->answered);
}

static void join_done(void *arg, void *waiter, const kfk_gjoin_out_t *out)
{
	fz_t *f = arg;

	answered(f, waiter);
	remember(f, out->member_id);
	if (out->err == KFK_ERR_NONE && (!out->protocol || !out->leader || out->generation < 0))
		fail("a successful join without protocol, leader or generation", out->generation,
		     0);
	for (int i = 0; i < out->nmembers; i++)
		remember(f, out->members[i].member_id);
}

static void sync_done(void *arg, void *waiter, const kfk_gsync_out_t *out)
{
	answered(arg, waiter);
	(void)out;
}

static size_t copy_bytes(uint8_t *to, size_t cap, const uint8_t *from, size_t len)
{
	len = len < cap ? len : cap;
	if (len)
		memcpy(to, from, len);
	return len;
}

/* The core's Stable or Empty: checked, and kept for a load. */
static void state_done(void *arg, const kfk_group_t *g)
{
	fz_t *f = arg;
	saved_t *sv = &f->saved[strcmp(g->id, "g0") == 0 ? 0 : 1];
	bool leader_in = false;

	if (g->state == KFK_GROUP_EMPTY) {
		if (g->nmembers)
			fail("Empty reported with members", g->nmembers, 0);
		sv->have = false;
		return;
	}
	if (g->state != KFK_GROUP_STABLE || !g->nmembers || !g->leader || !g->protocol)
		fail("a Stable report without members, leader or protocol", g->state, g->nmembers);
	sv->have = g->nmembers <= IDS_MAX;
	sv->nmembers = sv->have ? g->nmembers : 0;
	sv->generation = g->generation;
	snprintf(sv->protocol_type, sizeof(sv->protocol_type), "%s", g->protocol_type);
	snprintf(sv->protocol, sizeof(sv->protocol), "%s", g->protocol);
	snprintf(sv->leader, sizeof(sv->leader), "%s", g->leader);
	for (int i = 0; i < sv->nmembers; i++) {
		const kfk_gmember_t *m = g->members[i];
		const kfk_gproto_t *p = kfk_gcore_member_proto(m, g->protocol);
		kfk_gload_member_t *o = &sv->members[i];
		int np = m->nprotos < 4 ? m->nprotos : 4;

		for (int k = 0; k < np; k++) {
			snprintf(sv->pnames[i][k], sizeof(sv->pnames[i][k]), "%s",
			         m->protos[k].name);
			sv->protos[i][k] = (kfk_gproto_in_t){
			    kfk_str(sv->pnames[i][k]),
			    {sv->meta[i][k],
			     (int32_t)copy_bytes(sv->meta[i][k], sizeof(sv->meta[i][k]),
			                         m->protos[k].meta, m->protos[k].meta_len)}};
		}
		leader_in |= !strcmp(m->id, g->leader);
		snprintf(sv->ids[i], ID_LEN, "%s", m->id);
		snprintf(sv->inst[i], sizeof(sv->inst[i]), "%s",
		         m->instance_id ? m->instance_id : "");
		*o = (kfk_gload_member_t){
		    .id = sv->ids[i],
		    .instance_id = sv->inst[i],
		    .client_id = "c",
		    .client_host = "/h",
		    .session_ms = m->session_ms,
		    .rebalance_ms = m->rebalance_ms,
		    .protos = sv->protos[i],
		    .nprotos = np,
		    .assignment = sv->assign[i],
		    .assignment_len = copy_bytes(sv->assign[i], sizeof(sv->assign[i]),
		                                 m->assignment, m->assignment_len),
		};
		if (!p)
			fail("a Stable member without the group's protocol", i, 0);
		if (p - m->protos >= 4)
			sv->have = false; /* its protocol not among the kept ones */
	}
	if (sv->have && !leader_in)
		fail("a Stable report whose leader is not a member", g->nmembers, 0);
}

/* Loads group G from its last report, as a successor coordinator. */
static void load(fz_t *f, int g)
{
	saved_t *sv = &f->saved[g];
	kfk_gload_t in = {.group = kfk_str(groups[g]),
	                  .generation = sv->generation,
	                  .protocol_type = sv->protocol_type,
	                  .protocol = sv->protocol,
	                  .leader = sv->leader,
	                  .members = sv->members,
	                  .nmembers = sv->nmembers};
	int r;

	if (!sv->have || kfk_gcore_find(&f->core, in.group))
		return;
	r = kfk_gcore_load(&f->core, &in, f->now);
	if (r != 0 && r != -ENOMEM)
		fail("a reported group does not load", r, sv->nmembers);
	f->dropped[g] = true; /* its generation may be behind the dropped one's */
}

static waiter_t *waiter_new(fz_t *f)
{
	if (f->nwaiters >= WAITERS_MAX)
		return NULL;
	return &f->waiters[f->nwaiters++];
}

static const char *const protos[] = {"range", "roundrobin", "x", ""};
static const char *const types[] = {"consumer", "connect", ""};
static const char *const instances[] = {"i1", "i2", ""};

static kfk_str_t pick_str(const char *const *v, size_t n, uint8_t b)
{
	return kfk_str(v[b % n]);
}

/* A member id: one the core handed out, "", or an unknown one. */
static kfk_str_t member(fz_t *f, rd_t *in)
{
	uint8_t b = u8(in);

	if (b < 0xc0 && f->nids)
		return kfk_str(f->ids[b % f->nids]);
	if (b & 1)
		return kfk_str("");
	return kfk_str("stranger");
}

static kfk_str_t instance(rd_t *in)
{
	uint8_t b = u8(in);
	kfk_str_t s = {NULL, -1};

	return b < 0x80 ? s : pick_str(instances, CK_ARRAY_LEN(instances), b);
}

/* A generation near the group's own. */
static int32_t generation(fz_t *f, int g, rd_t *in)
{
	kfk_group_t *gr = kfk_gcore_find(&f->core, kfk_str(groups[g]));
	int32_t base = gr ? gr->generation : 0;
	uint8_t b = u8(in);

	if (b == 0xff)
		return (int32_t)(uint32_t)un(in, 4);
	return base + (int32_t)(b % 4) - 2;
}

static const uint8_t metas[][24] = {
    /* ConsumerProtocolSubscription v0: topic "t", no user data */
    {0, 0, 0, 0, 0, 1, 0, 1, 't', 0xff, 0xff, 0xff, 0xff},
    /* v1: topics "t" and "u" */
    {0, 1, 0, 0, 0, 2, 0, 1, 't', 0, 1, 'u', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
    /* garbage */
    {0xff, 0xff, 0xff},
};

static void op_join(fz_t *f, uint8_t op, rd_t *in)
{
	static const int32_t sessions[] = {1, 6000, 10000, 45000, 1800001, -1};
	kfk_gproto_in_t pr[3];
	kfk_gjoin_in_t j;
	char id[ID_LEN];
	waiter_t *w = waiter_new(f);
	uint8_t b = u8(in);

	if (!w)
		return;
	memset(&j, 0, sizeof(j));
	j.group = kfk_str(groups[op >> 7]);
	j.member_id = member(f, in);
	j.instance_id = instance(in);
	j.protocol_type = pick_str(types, CK_ARRAY_LEN(types), b);
	j.nprotos = (b >> 2) % 4;
	for (int i = 0; i < j.nprotos; i++) {
		uint8_t p = u8(in);

		pr[i].name = pick_str(protos, CK_ARRAY_LEN(protos), p);
		pr[i].meta.ptr = metas[(p >> 2) % CK_ARRAY_LEN(metas)];
		pr[i].meta.len = (p & 0x80) ? -1 : (int32_t)((p >> 4) % 24);
	}
	j.protos = pr;
	j.session_ms = sessions[u8(in) % CK_ARRAY_LEN(sessions)];
	j.rebalance_ms = sessions[u8(in) % CK_ARRAY_LEN(sessions)];
	j.require_known_id = b & 0x40;
	snprintf(id, sizeof(id), "m%d", f->next_id++);
	j.new_member_id = id;
	j.client_id = "c";
	j.client_host = "/127.0.0.1";
	(void)kfk_gcore_join(&f->core, &j, w, f->now);
}

static void op_sync(fz_t *f, uint8_t op, rd_t *in)
{
	kfk_gassign_in_t as[4];
	kfk_gsync_in_t s;
	waiter_t *w = waiter_new(f);
	int g = op >> 7;
	uint8_t b = u8(in);

	if (!w)
		return;
	memset(&s, 0, sizeof(s));
	s.group = kfk_str(groups[g]);
	s.member_id = member(f, in);
	s.instance_id = instance(in);
	s.generation = generation(f, g, in);
	s.protocol_type =
	    (b & 1) ? pick_str(types, CK_ARRAY_LEN(types), b >> 1) : (kfk_str_t){NULL, -1};
	s.protocol =
	    (b & 8) ? pick_str(protos, CK_ARRAY_LEN(protos), b >> 4) : (kfk_str_t){NULL, -1};
	s.nassignments = (b >> 5) % 4;
	for (int i = 0; i < s.nassignments; i++) {
		as[i].member_id = member(f, in);
		as[i].assignment.ptr = metas[0];
		as[i].assignment.len = (int32_t)(u8(in) % 24) - 1;
	}
	s.assignments = as;
	(void)kfk_gcore_sync(&f->core, &s, w, f->now);
}

/* The group's shape, and its generation never going back. */
static void check(fz_t *f)
{
	for (int g = 0; g < 2; g++) {
		kfk_group_t *gr = kfk_gcore_find(&f->core, kfk_str(groups[g]));
		bool leader_in = gr && !gr->leader;

		if (!gr) {
			f->dropped[g] = true; /* gone: a new one starts over */
			continue;
		}
		if (gr->generation < f->gen_seen[g] && !f->dropped[g])
			fail("a generation goes back", gr->generation, f->gen_seen[g]);
		f->gen_seen[g] = gr->generation;
		f->dropped[g] = false;
		if (gr->state == KFK_GROUP_EMPTY && gr->nmembers)
			fail("Empty with members", gr->nmembers, 0);
		if (f->max_members && gr->nmembers > f->max_members)
			fail("more members than group.max.size", gr->nmembers, f->max_members);
		if ((gr->state == KFK_GROUP_COMPLETING || gr->state == KFK_GROUP_STABLE) &&
		    (!gr->protocol || !gr->leader))
			fail("a rebalanced group without protocol or leader", gr->state, 0);
		for (int i = 0; i < gr->nmembers; i++) {
			kfk_gmember_t *m = gr->members[i];

			leader_in |= gr->leader && !strcmp(gr->leader, m->id);
			for (int k = 0; k < i; k++)
				if (!strcmp(gr->members[k]->id, m->id))
					fail("two members with one id", i, k);
			if (m->join_waiter && ((waiter_t *)m->join_waiter)->answered)
				fail("a held join already answered", i, 0);
			if (m->sync_waiter && ((waiter_t *)m->sync_waiter)->answered)
				fail("a held sync already answered", i, 0);
		}
		if (!leader_in)
			fail("the leader is not a member", gr->state, gr->nmembers);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rd_t in = {data, size};
	fz_t *f = calloc(1, sizeof(*f));
	kfk_gcore_settings_t set = {6000, 1800000, 0, 0, 0};
	uint8_t mode = u8(&in);

	if (!f)
		return 0;
	set.initial_delay_ms = (mode & 1) ? 3000 : 0;
	set.max_members = (mode & 2) ? 2 : 0;
	f->max_members = set.max_members;
	f->now = 1000000;
	kfk_gcore_init(&f->core, &set, join_done, sync_done, f);
	kfk_gcore_on_state(&f->core, state_done);
	for (int ops = 0; in.len && ops < 2048; ops++) {
		uint8_t op = u8(&in);
		int g = op >> 7;
		kfk_group_t *gr;

		switch (op % 8) {
		case 0:
		case 1:
			op_join(f, op, &in);
			break;
		case 2:
			op_sync(f, op, &in);
			break;
		case 3:
			(void)kfk_gcore_heartbeat(&f->core, kfk_str(groups[g]), member(f, &in),
			                          instance(&in), generation(f, g, &in), f->now);
			break;
		case 4:
			(void)kfk_gcore_leave(&f->core, kfk_str(groups[g]), member(f, &in),
			                      instance(&in), f->now);
			break;
		case 5:
			(void)kfk_gcore_commit_check(&f->core, kfk_str(groups[g]), member(f, &in),
			                             instance(&in), generation(f, g, &in), f->now);
			(void)kfk_gcore_offset_delete_check(
			    kfk_gcore_find(&f->core, kfk_str(groups[g])), kfk_str("t"));
			break;
		case 6:
			/* Time moves on (up to ~50 s), then the caller's tick. */
			f->now += (uint64_t)u8(&in) * 200;
			kfk_gcore_tick(&f->core, f->now);
			break;
		default:
			gr = kfk_gcore_find(&f->core, kfk_str(groups[g]));
			if (gr && (op & 0x40)) {
				kfk_gcore_drop(&f->core, gr, KFK_ERR_NOT_COORDINATOR);
				f->dropped[g] = true;
			}
			if (op & 0x20)
				load(f, g);
			break;
		}
		check(f);
		if (getenv("FUZZ_GROUP_TRACE")) {
			gr = kfk_gcore_find(&f->core, kfk_str(groups[g]));
			fprintf(stderr, "op %d on %s: %s generation %d, %d members, leader %s\n",
			        op % 8, groups[g], gr ? kfk_group_state_name(gr->state) : "-",
			        gr ? gr->generation : -1, gr ? gr->nmembers : 0,
			        gr && gr->leader ? gr->leader : "-");
		}
	}
	kfk_gcore_free(&f->core, KFK_ERR_NOT_COORDINATOR);
	for (int i = 0; i < f->nwaiters; i++)
		if (f->waiters[i].answered != 1)
			fail("a request never answered", i, f->waiters[i].answered);
	free(f);
	return 0;
}
