/*
 * test_kfk_group_core.c: unit tests of the consumer group state machine
 * (kafka-frontend/kfk_group_core.h): joins held until every member came,
 * MEMBER_ID_REQUIRED, the leader's member list, syncs held until the
 * leader's assignments, heartbeats during a rebalance, leaves, session
 * expiry, join-phase and sync-phase deadlines, protocol choice, commit
 * checks, static members (a replaced one fenced), that every held
 * request is answered exactly once (also when the group is dropped), the
 * state callback at Stable and Empty, and a stored group loaded.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_testlib.h"
#include "kfk_apis.h"
#include "kfk_errors.h"
#include "kfk_group_core.h"

/* A held request: what it was answered with, and how often. */
typedef struct {
	int answers;
	int16_t err;
	int32_t generation;
	char member_id[128];
	char leader[128];
	char protocol[32];
	int nmembers;
	char assignment[64];
} waiter_t;

static void on_join(void *arg, void *w, const kfk_gjoin_out_t *out)
{
	waiter_t *x = w;

	(void)arg;
	x->answers++;
	x->err = out->err;
	x->generation = out->generation;
	snprintf(x->member_id, sizeof(x->member_id), "%s", out->member_id);
	snprintf(x->leader, sizeof(x->leader), "%s", out->leader);
	snprintf(x->protocol, sizeof(x->protocol), "%s", out->protocol ? out->protocol : "");
	x->nmembers = out->nmembers;
}

static void on_sync(void *arg, void *w, const kfk_gsync_out_t *out)
{
	waiter_t *x = w;

	(void)arg;
	x->answers++;
	x->err = out->err;
	snprintf(x->assignment, sizeof(x->assignment), "%.*s", (int)out->assignment_len,
	         out->assignment ? (const char *)out->assignment : "");
}

static kfk_gcore_t core;
static int id_seq;

static void setup(void)
{
	kfk_gcore_settings_t set = {6000, 1800000, 0, 1000, 0};

	kfk_gcore_init(&core, &set, on_join, on_sync, NULL);
	id_seq = 0;
}

/* Frees the core (answering what it holds) while the test's waiters,
 * which live on its stack, still exist; the teardown's free is then a
 * no-op. */
static void done(void)
{
	kfk_gcore_free(&core, KFK_ERR_NOT_COORDINATOR);
}

static void teardown(void)
{
	done();
}

static const kfk_gproto_in_t range_proto[] = {{{"range", 5}, {(const uint8_t *)"m", 1}}};

/* A JoinGroup of MEMBER ("" = new) to group "g" at NOW. */
/* A JoinGroup of MEMBER (instance INST) to group "g"; NEW_ID is the id a
 * member without one gets. */
static void join_as(waiter_t *w, kfk_str_t inst, const char *member, const char *new_id, bool v4,
                    uint64_t now)
{
	kfk_gjoin_in_t in = {
	    .group = kfk_str("g"),
	    .member_id = kfk_str(member),
	    .instance_id = inst,
	    .protocol_type = kfk_str("consumer"),
	    .protos = range_proto,
	    .nprotos = 1,
	    .session_ms = 10000,
	    .rebalance_ms = 30000,
	    .require_known_id = v4,
	    .new_member_id = new_id,
	    .client_id = "c",
	    .client_host = "/127.0.0.1",
	};

	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(kfk_gcore_join(&core, &in, w, now), 0);
}

static void join(waiter_t *w, const char *member, bool v4, uint64_t now)
{
	char id[32];

	snprintf(id, sizeof(id), "c-%d", ++id_seq);
	join_as(w, KFK_STR_NULL, member, id, v4, now);
}

static void sync_req(waiter_t *w, const char *member, int32_t gen, const char *assign_to,
                     uint64_t now)
{
	kfk_gassign_in_t as[2] = {{kfk_str(assign_to ? assign_to : ""), {(const uint8_t *)"A1", 2}},
	                          {kfk_str("other"), {(const uint8_t *)"A2", 2}}};
	kfk_gsync_in_t in = {
	    .group = kfk_str("g"),
	    .member_id = kfk_str(member),
	    .instance_id = KFK_STR_NULL,
	    .generation = gen,
	    .protocol_type = KFK_STR_NULL,
	    .protocol = KFK_STR_NULL,
	    .assignments = assign_to ? as : NULL,
	    .nassignments = assign_to ? 2 : 0,
	};

	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(kfk_gcore_sync(&core, &in, w, now), 0);
}

static int16_t heartbeat(const char *member, int32_t gen, uint64_t now)
{
	return kfk_gcore_heartbeat(&core, kfk_str("g"), kfk_str(member), KFK_STR_NULL, gen, now);
}

/* One member joins (v4: MEMBER_ID_REQUIRED first) and syncs: Stable. */
static void one_member_stable(waiter_t *j, waiter_t *s, uint64_t now)
{
	char id[128];

	join(j, "", true, now);
	ck_assert_int_eq(j->answers, 1);
	ck_assert_int_eq(j->err, KFK_ERR_MEMBER_ID_REQUIRED);
	ck_assert_str_eq(j->member_id, "c-1");
	snprintf(id, sizeof(id), "%s", j->member_id);
	join(j, id, true, now);
	ck_assert_int_eq(j->answers, 1);
	ck_assert_int_eq(j->err, KFK_ERR_NONE);
	ck_assert_int_eq(j->generation, 1);
	ck_assert_str_eq(j->leader, id);
	ck_assert_int_eq(j->nmembers, 1);
	ck_assert_str_eq(j->protocol, "range");
	sync_req(s, id, 1, id, now);
	ck_assert_int_eq(s->answers, 1);
	ck_assert_int_eq(s->err, KFK_ERR_NONE);
	ck_assert_str_eq(s->assignment, "A1");
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->state, KFK_GROUP_STABLE);
}

START_TEST(test_single_member)
{
	waiter_t j, s;

	one_member_stable(&j, &s, 1000);
	ck_assert_int_eq(heartbeat("c-1", 1, 2000), KFK_ERR_NONE);
	ck_assert_int_eq(heartbeat("c-1", 0, 2000), KFK_ERR_ILLEGAL_GENERATION);
	ck_assert_int_eq(heartbeat("nobody", 1, 2000), KFK_ERR_UNKNOWN_MEMBER_ID);
	/* A follower asking again in Stable gets its assignment at once. */
	sync_req(&s, "c-1", 1, NULL, 2000);
	ck_assert_int_eq(s.answers, 1);
	ck_assert_str_eq(s.assignment, "A1");
	done();
}
END_TEST

START_TEST(test_v0_join_needs_no_member_id_round)
{
	waiter_t j;

	join(&j, "", false, 0);
	ck_assert_int_eq(j.answers, 1);
	ck_assert_int_eq(j.err, KFK_ERR_NONE);
	ck_assert_str_eq(j.member_id, "c-1");
	done();
}
END_TEST

START_TEST(test_second_member_rebalances)
{
	waiter_t j1, s1, j2, j1b, s2, s1b;

	one_member_stable(&j1, &s1, 1000);
	join(&j2, "", false, 2000); /* held: c-1 must join again */
	ck_assert_int_eq(j2.answers, 0);
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->state, KFK_GROUP_PREPARING);
	ck_assert_int_eq(heartbeat("c-1", 1, 2100), KFK_ERR_REBALANCE_IN_PROGRESS);
	join(&j1b, "c-1", false, 2200);
	/* Both answered: generation 2, the old leader stays leader. */
	ck_assert_int_eq(j1b.answers, 1);
	ck_assert_int_eq(j2.answers, 1);
	ck_assert_int_eq(j1b.generation, 2);
	ck_assert_int_eq(j2.generation, 2);
	ck_assert_str_eq(j2.leader, "c-1");
	ck_assert_int_eq(j1b.nmembers, 2);
	ck_assert_int_eq(j2.nmembers, 0);
	/* The follower's sync waits for the leader's. */
	sync_req(&s2, j2.member_id, 2, NULL, 2300);
	ck_assert_int_eq(s2.answers, 0);
	ck_assert_int_eq(heartbeat(j2.member_id, 2, 2300), KFK_ERR_NONE);
	sync_req(&s1b, "c-1", 2, j2.member_id, 2400);
	ck_assert_int_eq(s1b.answers, 1);
	ck_assert_int_eq(s2.answers, 1);
	ck_assert_str_eq(s2.assignment, "A1");
	ck_assert_str_eq(s1b.assignment, ""); /* the leader gave itself nothing */
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->state, KFK_GROUP_STABLE);
	done();
}
END_TEST

/* The leader's JoinGroup answer was lost: it joins again while the group
 * waits for its SyncGroup (CompletingRebalance) and gets the same
 * generation with the member list to assign, as Kafka answers; a follower
 * doing the same gets no list. */
START_TEST(test_leader_joins_again_while_completing)
{
	waiter_t j1, s1, j2, j1b, j1c, j2b;

	one_member_stable(&j1, &s1, 1000);
	join(&j2, "", false, 2000);
	join(&j1b, "c-1", false, 2200);
	ck_assert_int_eq(j1b.nmembers, 2);
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->state, KFK_GROUP_COMPLETING);
	join(&j1c, "c-1", false, 2300);
	ck_assert_int_eq(j1c.answers, 1);
	ck_assert_int_eq(j1c.err, KFK_ERR_NONE);
	ck_assert_int_eq(j1c.generation, 2);
	ck_assert_str_eq(j1c.leader, "c-1");
	ck_assert_int_eq(j1c.nmembers, 2);
	join(&j2b, j2.member_id, false, 2400);
	ck_assert_int_eq(j2b.answers, 1);
	ck_assert_int_eq(j2b.generation, 2);
	ck_assert_int_eq(j2b.nmembers, 0);
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->state, KFK_GROUP_COMPLETING);
	done();
}
END_TEST

START_TEST(test_join_phase_deadline_drops_the_silent)
{
	waiter_t j1, s1, j2;

	one_member_stable(&j1, &s1, 1000);
	join(&j2, "", false, 2000);
	/* c-1 keeps heartbeating but never joins: the phase ends at 2000 +
	 * its rebalance timeout (30 s) and it is out. */
	ck_assert_int_eq(heartbeat("c-1", 1, 20000), KFK_ERR_REBALANCE_IN_PROGRESS);
	ck_assert_int_eq(heartbeat("c-1", 1, 29000), KFK_ERR_REBALANCE_IN_PROGRESS);
	kfk_gcore_tick(&core, 31999);
	ck_assert_int_eq(j2.answers, 0);
	kfk_gcore_tick(&core, 32000);
	ck_assert_int_eq(j2.answers, 1);
	ck_assert_int_eq(j2.err, KFK_ERR_NONE);
	ck_assert_int_eq(j2.generation, 2);
	ck_assert_str_eq(j2.leader, j2.member_id);
	ck_assert_int_eq(heartbeat("c-1", 1, 32001), KFK_ERR_UNKNOWN_MEMBER_ID);
	done();
}
END_TEST

START_TEST(test_session_expiry_rebalances)
{
	waiter_t j1, s1, j2, j1b, s1b, s2;

	one_member_stable(&j1, &s1, 0);
	join(&j2, "", false, 100);
	join(&j1b, "c-1", false, 200);
	sync_req(&s1b, "c-1", 2, j2.member_id, 300);
	sync_req(&s2, j2.member_id, 2, NULL, 300);
	ck_assert_int_eq(s2.answers, 1);
	/* c-1 heartbeats, the other does not: after 10 s it is gone. */
	ck_assert_int_eq(heartbeat("c-1", 2, 9000), KFK_ERR_NONE);
	kfk_gcore_tick(&core, 10299);
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->nmembers, 2);
	kfk_gcore_tick(&core, 10300);
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->nmembers, 1);
	ck_assert_int_eq(heartbeat("c-1", 2, 10400), KFK_ERR_REBALANCE_IN_PROGRESS);
	join(&j1b, "c-1", false, 10500);
	ck_assert_int_eq(j1b.answers, 1);
	ck_assert_int_eq(j1b.generation, 3);
	done();
}
END_TEST

START_TEST(test_leave)
{
	waiter_t j1, s1, j2, j1b;

	one_member_stable(&j1, &s1, 0);
	join(&j2, "", false, 100);
	ck_assert_int_eq(kfk_gcore_leave(&core, kfk_str("g"), kfk_str("c-1"), KFK_STR_NULL, 200),
	                 KFK_ERR_NONE);
	/* The only member left had joined: the phase completes at once. */
	ck_assert_int_eq(j2.answers, 1);
	ck_assert_int_eq(j2.generation, 2);
	ck_assert_int_eq(kfk_gcore_leave(&core, kfk_str("g"), kfk_str("c-1"), KFK_STR_NULL, 300),
	                 KFK_ERR_UNKNOWN_MEMBER_ID);
	ck_assert_int_eq(
	    kfk_gcore_leave(&core, kfk_str("g"), kfk_str(j2.member_id), KFK_STR_NULL, 300),
	    KFK_ERR_NONE);
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->state, KFK_GROUP_EMPTY);
	/* An empty group is forgotten (its offsets are metadata). */
	kfk_gcore_tick(&core, 400);
	ck_assert_ptr_null(kfk_gcore_find(&core, kfk_str("g")));
	(void)j1b;
	done();
}
END_TEST

/* With empty_keep_ms, an Empty group stays that long (tools list it as
 * Empty, as Kafka's until its offsets retention walk), keeps its
 * generation for the next member, and is forgotten afterwards. */
START_TEST(test_empty_group_kept)
{
	waiter_t j1, s1, j2, s2;

	core.set.empty_keep_ms = 5000;
	one_member_stable(&j1, &s1, 0);
	ck_assert_int_eq(kfk_gcore_leave(&core, kfk_str("g"), kfk_str("c-1"), KFK_STR_NULL, 100),
	                 KFK_ERR_NONE);
	kfk_gcore_tick(&core, 200);
	kfk_gcore_tick(&core, 5199);
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->state, KFK_GROUP_EMPTY);
	ck_assert_str_eq(kfk_gcore_find(&core, kfk_str("g"))->protocol_type, "consumer");
	/* A member joining meanwhile restarts the while. */
	join(&j2, "", false, 5199);
	ck_assert_int_eq(j2.err, KFK_ERR_NONE);
	ck_assert_int_eq(j2.generation, 3);
	sync_req(&s2, j2.member_id, 3, j2.member_id, 5199);
	kfk_gcore_tick(&core, 5300);
	ck_assert_int_eq(
	    kfk_gcore_leave(&core, kfk_str("g"), kfk_str(j2.member_id), KFK_STR_NULL, 6000),
	    KFK_ERR_NONE);
	kfk_gcore_tick(&core, 6000);
	kfk_gcore_tick(&core, 10999);
	ck_assert_ptr_nonnull(kfk_gcore_find(&core, kfk_str("g")));
	kfk_gcore_tick(&core, 11000);
	ck_assert_ptr_null(kfk_gcore_find(&core, kfk_str("g")));
	done();
}
END_TEST

START_TEST(test_held_sync_answered_on_rebalance)
{
	waiter_t j1, s1, j2, j1b, s2, j3;

	one_member_stable(&j1, &s1, 0);
	join(&j2, "", false, 100);
	join(&j1b, "c-1", false, 100);
	sync_req(&s2, j2.member_id, 2, NULL, 200); /* held */
	ck_assert_int_eq(s2.answers, 0);
	join(&j3, "", false, 300); /* a third member: a new join phase */
	ck_assert_int_eq(s2.answers, 1);
	ck_assert_int_eq(s2.err, KFK_ERR_REBALANCE_IN_PROGRESS);
	/* Freeing the core answers the held join of the third. */
	ck_assert_int_eq(j3.answers, 0);
	done();
	ck_assert_int_eq(j3.answers, 1);
	ck_assert_int_eq(j3.err, KFK_ERR_NOT_COORDINATOR);
	done();
}
END_TEST

START_TEST(test_sync_phase_deadline)
{
	waiter_t j1, s1, j2, j1b, s2;

	one_member_stable(&j1, &s1, 0);
	join(&j2, "", false, 100);
	join(&j1b, "c-1", false, 100);
	sync_req(&s2, j2.member_id, 2, NULL, 200);
	/* The leader (c-1) never syncs: removed after the rebalance
	 * timeout, and the follower hears REBALANCE_IN_PROGRESS. */
	ck_assert_int_eq(heartbeat("c-1", 2, 20000), KFK_ERR_NONE);
	ck_assert_int_eq(heartbeat("c-1", 2, 29000), KFK_ERR_NONE);
	kfk_gcore_tick(&core, 30099);
	ck_assert_int_eq(s2.answers, 0);
	kfk_gcore_tick(&core, 30100);
	ck_assert_int_eq(s2.answers, 1);
	ck_assert_int_eq(s2.err, KFK_ERR_REBALANCE_IN_PROGRESS);
	ck_assert_int_eq(heartbeat("c-1", 2, 30200), KFK_ERR_UNKNOWN_MEMBER_ID);
	done();
}
END_TEST

START_TEST(test_validation)
{
	waiter_t w;
	kfk_gjoin_in_t in = {.group = kfk_str(""),
	                     .member_id = kfk_str(""),
	                     .instance_id = KFK_STR_NULL,
	                     .protocol_type = kfk_str("consumer"),
	                     .protos = range_proto,
	                     .nprotos = 1,
	                     .session_ms = 10000,
	                     .rebalance_ms = -1,
	                     .new_member_id = "x"};

	memset(&w, 0, sizeof(w));
	kfk_gcore_join(&core, &in, &w, 0);
	ck_assert_int_eq(w.err, KFK_ERR_INVALID_GROUP_ID);
	in.group = kfk_str("g");
	in.session_ms = 1000;
	kfk_gcore_join(&core, &in, &w, 0);
	ck_assert_int_eq(w.err, KFK_ERR_INVALID_SESSION_TIMEOUT);
	in.session_ms = 10000;
	in.member_id = kfk_str("ghost");
	kfk_gcore_join(&core, &in, &w, 0);
	ck_assert_int_eq(w.err, KFK_ERR_UNKNOWN_MEMBER_ID);
	ck_assert_ptr_null(kfk_gcore_find(&core, kfk_str("g")));
	in.member_id = kfk_str("");
	kfk_gcore_join(&core, &in, &w, 0);
	ck_assert_int_eq(w.err, KFK_ERR_NONE);
	/* Another protocol type, or no protocol in common. */
	in.protocol_type = kfk_str("connect");
	in.new_member_id = "y";
	kfk_gcore_join(&core, &in, &w, 0);
	ck_assert_int_eq(w.err, KFK_ERR_INCONSISTENT_GROUP_PROTOCOL);
	{
		const kfk_gproto_in_t rr[] = {{{"roundrobin", 10}, {(const uint8_t *)"", 0}}};

		in.protocol_type = kfk_str("consumer");
		in.protos = rr;
		kfk_gcore_join(&core, &in, &w, 0);
		ck_assert_int_eq(w.err, KFK_ERR_INCONSISTENT_GROUP_PROTOCOL);
	}
	ck_assert_int_eq(w.answers, 6);
	done();
}
END_TEST

/* An instance id with a NUL byte is refused (kept as a C string, "ab\0cd"
 * was "ab": it replaced the member of "ab\0ef" instead of being fenced). */
START_TEST(test_instance_id_with_nul)
{
	waiter_t w1, w2;

	join_as(&w1, (kfk_str_t){"ab\0cd", 5}, "", "c-1", false, 0);
	ck_assert_int_eq(w1.err, KFK_ERR_INVALID_REQUEST);
	join_as(&w2, (kfk_str_t){"ab", 2}, "", "c-2", false, 0);
	ck_assert_int_eq(w2.err, KFK_ERR_NONE);
	done();
}
END_TEST

/* Not UTF-8: refused too (DescribeGroups would hand the bytes to clients
 * that cannot read them). The check itself on the edge cases. */
START_TEST(test_instance_id_not_utf8)
{
	waiter_t w1, w2;

	join_as(&w1, (kfk_str_t){"\xed\xa0\x80id", 5}, "", "c-1", false, 0);
	ck_assert_int_eq(w1.err, KFK_ERR_INVALID_REQUEST);
	join_as(&w2, kfk_str("caf\xc3\xa9-\xf0\x9f\x98\x80"), "", "c-2", false, 0);
	ck_assert_int_eq(w2.err, KFK_ERR_NONE);
	ck_assert(kfk_str_utf8(KFK_STR_NULL));
	ck_assert(kfk_str_utf8(kfk_str("")));
	ck_assert(kfk_str_utf8(kfk_str("\xf4\x8f\xbf\xbf")));  /* U+10FFFF */
	ck_assert(!kfk_str_utf8(kfk_str("\xf4\x90\x80\x80"))); /* past it */
	ck_assert(!kfk_str_utf8(kfk_str("\xc0\xaf")));         /* overlong '/' */
	ck_assert(!kfk_str_utf8(kfk_str("\xe0\x80\xaf")));     /* overlong */
	ck_assert(!kfk_str_utf8(kfk_str("\xf0\x80\x80\xaf"))); /* overlong */
	ck_assert(!kfk_str_utf8(kfk_str("a\xc3")));            /* cut short */
	ck_assert(!kfk_str_utf8(kfk_str("\xc3\x28")));         /* bad continuation */
	ck_assert(!kfk_str_utf8(kfk_str("\x80")));             /* lone continuation */
	ck_assert(!kfk_str_utf8(kfk_str("\xff")));
	done();
}
END_TEST

START_TEST(test_protocol_vote)
{
	/* Two members support both; one prefers roundrobin, two range. */
	const kfk_gproto_in_t a[] = {{{"roundrobin", 10}, {(const uint8_t *)"r", 1}},
	                             {{"range", 5}, {(const uint8_t *)"g", 1}}};
	const kfk_gproto_in_t b[] = {{{"range", 5}, {(const uint8_t *)"g", 1}},
	                             {{"roundrobin", 10}, {(const uint8_t *)"r", 1}}};
	kfk_gjoin_in_t in = {.group = kfk_str("g"),
	                     .member_id = kfk_str(""),
	                     .instance_id = KFK_STR_NULL,
	                     .protocol_type = kfk_str("consumer"),
	                     .protos = a,
	                     .nprotos = 2,
	                     .session_ms = 10000,
	                     .rebalance_ms = 10000};
	waiter_t w1, w2, w3;

	memset(&w1, 0, sizeof(w1));
	memset(&w2, 0, sizeof(w2));
	memset(&w3, 0, sizeof(w3));
	in.new_member_id = "m1";
	kfk_gcore_join(&core, &in, &w1, 0); /* alone: generation 1 */
	ck_assert_str_eq(w1.protocol, "roundrobin");
	in.protos = b;
	in.new_member_id = "m2";
	kfk_gcore_join(&core, &in, &w2, 1);
	in.new_member_id = "m3";
	kfk_gcore_join(&core, &in, &w3, 1);
	in.protos = a;
	in.member_id = kfk_str("m1");
	kfk_gcore_join(&core, &in, &w1, 2);
	ck_assert_int_eq(w3.answers, 1);
	ck_assert_str_eq(w3.protocol, "range");
	ck_assert_str_eq(w1.protocol, "range");
	done();
}
END_TEST

/* A consumer-protocol subscription: version 1, topics "orders" and "a",
 * null user data, no owned partitions. */
static const uint8_t sub_orders_a[] = {0,    1,    0,    0,   0,   2, 0, 6,   'o',
                                       'r',  'd',  'e',  'r', 's', 0, 1, 'a', 0xff,
                                       0xff, 0xff, 0xff, 0,   0,   0, 0};

START_TEST(test_subscription_names)
{
	ck_assert_int_eq(kfk_gsub_names(sub_orders_a, sizeof(sub_orders_a), kfk_str("orders")), 1);
	ck_assert_int_eq(kfk_gsub_names(sub_orders_a, sizeof(sub_orders_a), kfk_str("a")), 1);
	ck_assert_int_eq(kfk_gsub_names(sub_orders_a, sizeof(sub_orders_a), kfk_str("order")), 0);
	ck_assert_int_eq(kfk_gsub_names(sub_orders_a, sizeof(sub_orders_a), kfk_str("b")), 0);
	/* Cut inside the topics, a negative count or length, too short. */
	ck_assert_int_eq(kfk_gsub_names(sub_orders_a, 12, kfk_str("b")), -1);
	ck_assert_int_eq(kfk_gsub_names((const uint8_t *)"\0\1\xff\xff\xff\xff", 6, kfk_str("b")),
	                 -1);
	ck_assert_int_eq(kfk_gsub_names((const uint8_t *)"\0\1\0\0\0\1\xff\xff", 8, kfk_str("b")),
	                 -1);
	ck_assert_int_eq(kfk_gsub_names((const uint8_t *)"\0\1\0", 3, kfk_str("b")), -1);
	ck_assert_int_eq(kfk_gsub_names(NULL, 0, kfk_str("b")), -1);
}
END_TEST

/* OffsetDelete's rules: anything goes for an empty or unknown group; a
 * consumer group with members refuses its members' topics; metadata that
 * does not parse counts as subscribing; another protocol type with
 * members refuses the whole group. */
START_TEST(test_offset_delete_check)
{
	kfk_gproto_in_t protos[] = {{{"range", 5}, {sub_orders_a, sizeof(sub_orders_a)}}};
	kfk_gjoin_in_t in = {
	    .group = kfk_str("g"),
	    .member_id = kfk_str(""),
	    .instance_id = KFK_STR_NULL,
	    .protocol_type = kfk_str("consumer"),
	    .protos = protos,
	    .nprotos = 1,
	    .session_ms = 10000,
	    .rebalance_ms = 30000,
	    .client_id = "c",
	    .client_host = "/127.0.0.1",
	};
	char id[32] = "c-1";
	waiter_t w, w2;

	ck_assert_int_eq(kfk_gcore_offset_delete_check(NULL, kfk_str("orders")), KFK_ERR_NONE);
	in.new_member_id = id;
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(kfk_gcore_join(&core, &in, &w, 0), 0);
	ck_assert_int_eq(w.err, KFK_ERR_NONE);
	const kfk_group_t *g = kfk_gcore_find(&core, kfk_str("g"));
	ck_assert_int_eq(kfk_gcore_offset_delete_check(g, kfk_str("orders")),
	                 KFK_ERR_GROUP_SUBSCRIBED_TO_TOPIC);
	ck_assert_int_eq(kfk_gcore_offset_delete_check(g, kfk_str("a")),
	                 KFK_ERR_GROUP_SUBSCRIBED_TO_TOPIC);
	ck_assert_int_eq(kfk_gcore_offset_delete_check(g, kfk_str("other")), KFK_ERR_NONE);
	/* A second member whose metadata does not parse: every topic counts. */
	join(&w2, "", false, 1);
	ck_assert_int_eq(kfk_gcore_offset_delete_check(g, kfk_str("other")),
	                 KFK_ERR_GROUP_SUBSCRIBED_TO_TOPIC);
	done();
	kfk_gcore_init(&core, &(kfk_gcore_settings_t){6000, 1800000, 0, 1000, 0}, on_join, on_sync,
	               NULL);
	in.protocol_type = kfk_str("connect");
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(kfk_gcore_join(&core, &in, &w, 0), 0);
	ck_assert_int_eq(
	    kfk_gcore_offset_delete_check(kfk_gcore_find(&core, kfk_str("g")), kfk_str("other")),
	    KFK_ERR_NON_EMPTY_GROUP);
	done();
}
END_TEST

START_TEST(test_commit_check)
{
	waiter_t j, s;

	/* No group: a commit from outside the protocol is fine. */
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str("g"), kfk_str(""), KFK_STR_NULL, -1, 0),
	    KFK_ERR_NONE);
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str("g"), kfk_str("m"), KFK_STR_NULL, 3, 0),
	    KFK_ERR_ILLEGAL_GENERATION);
	one_member_stable(&j, &s, 0);
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str("g"), kfk_str(""), KFK_STR_NULL, -1, 0),
	    KFK_ERR_UNKNOWN_MEMBER_ID);
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str("g"), kfk_str("c-1"), KFK_STR_NULL, 1, 0),
	    KFK_ERR_NONE);
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str("g"), kfk_str("c-1"), KFK_STR_NULL, 0, 0),
	    KFK_ERR_ILLEGAL_GENERATION);
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str("g"), kfk_str("zz"), KFK_STR_NULL, 1, 0),
	    KFK_ERR_UNKNOWN_MEMBER_ID);
	/* The empty group takes commits from outside the group protocol only
	 * (Kafka's, for backwards compatibility). */
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str(""), kfk_str(""), KFK_STR_NULL, -1, 0),
	    KFK_ERR_NONE);
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str(""), kfk_str("c-1"), KFK_STR_NULL, 1, 0),
	    KFK_ERR_ILLEGAL_GENERATION);
	done();
}
END_TEST

static int16_t sheartbeat(const char *member, const char *inst, int32_t gen, uint64_t now)
{
	return kfk_gcore_heartbeat(&core, kfk_str("g"), kfk_str(member), kfk_str(inst), gen, now);
}

START_TEST(test_static_member_replaced)
{
	kfk_gjoin_in_t in = {.group = kfk_str("g"),
	                     .member_id = kfk_str(""),
	                     .instance_id = kfk_str("inst-1"),
	                     .protocol_type = kfk_str("consumer"),
	                     .protos = range_proto,
	                     .nprotos = 1,
	                     .session_ms = 10000,
	                     .rebalance_ms = 10000,
	                     .require_known_id = true,
	                     .new_member_id = "s1"};
	waiter_t w1, w2;

	memset(&w1, 0, sizeof(w1));
	memset(&w2, 0, sizeof(w2));
	kfk_gcore_join(&core, &in, &w1, 0); /* static: no MEMBER_ID_REQUIRED */
	ck_assert_int_eq(w1.err, KFK_ERR_NONE);
	ck_assert_str_eq(w1.member_id, "s1");
	in.new_member_id = "s2";
	kfk_gcore_join(&core, &in, &w2, 10);
	ck_assert_int_eq(w2.err, KFK_ERR_NONE);
	ck_assert_str_eq(w2.member_id, "s2");
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->nmembers, 1);
	ck_assert_int_eq(sheartbeat("s1", "inst-1", w2.generation, 20), KFK_ERR_FENCED_INSTANCE_ID);
	ck_assert_int_eq(sheartbeat("s2", "inst-2", w2.generation, 20), KFK_ERR_FENCED_INSTANCE_ID);
	done();
}
END_TEST

static void sjoin(waiter_t *w, const char *inst, const char *member, const char *new_id,
                  uint64_t now)
{
	join_as(w, kfk_str(inst), member, new_id, true, now);
}

static void ssync(waiter_t *w, const char *inst, const char *member, int32_t gen,
                  const kfk_gassign_in_t *as, int nas, uint64_t now)
{
	kfk_gsync_in_t in = {.group = kfk_str("g"),
	                     .member_id = kfk_str(member),
	                     .instance_id = kfk_str(inst),
	                     .generation = gen,
	                     .protocol_type = KFK_STR_NULL,
	                     .protocol = KFK_STR_NULL,
	                     .assignments = as,
	                     .nassignments = nas};

	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(kfk_gcore_sync(&core, &in, w, now), 0);
}

/* KIP-345: a static member that comes back under a new member id while the
 * group is Stable, its protocols unchanged, takes its old place and
 * assignment: no rebalance, the same generation; the old id is refused.
 * The leader back gets the member list and stays leader. */
START_TEST(test_static_member_back_without_rebalance)
{
	kfk_gassign_in_t as[2] = {{kfk_str("s1"), {(const uint8_t *)"A1", 2}},
	                          {kfk_str("s2"), {(const uint8_t *)"A2", 2}}};
	waiter_t j1, j2, y1, y2, back, sy;
	kfk_group_t *g;

	sjoin(&j1, "inst-1", "", "s1", 0);
	sjoin(&j2, "inst-2", "", "s2", 10);
	sjoin(&j1, "inst-1", "s1", "x", 20); /* s1 joins the new generation */
	ck_assert_int_eq(j1.err, KFK_ERR_NONE);
	ck_assert_int_eq(j2.err, KFK_ERR_NONE);
	ck_assert_int_eq(j2.generation, j1.generation);
	ck_assert_str_eq(j1.leader, "s1");
	ssync(&y2, "inst-2", "s2", j1.generation, NULL, 0, 30);
	ssync(&y1, "inst-1", "s1", j1.generation, as, 2, 30);
	ck_assert_str_eq(y2.assignment, "A2");
	g = kfk_gcore_find(&core, kfk_str("g"));
	ck_assert_int_eq(g->state, KFK_GROUP_STABLE);
	/* inst-2 restarts: no LeaveGroup (static), a join with no member id. */
	sjoin(&back, "inst-2", "", "s2b", 1000);
	ck_assert_int_eq(back.answers, 1);
	ck_assert_int_eq(back.err, KFK_ERR_NONE);
	ck_assert_int_eq(back.generation, j1.generation);
	ck_assert_str_eq(back.member_id, "s2b");
	ck_assert_int_eq(back.nmembers, 0);
	ck_assert_int_eq(g->state, KFK_GROUP_STABLE);
	ck_assert_int_eq(g->nmembers, 2);
	ssync(&sy, "inst-2", "s2b", j1.generation, NULL, 0, 1010);
	ck_assert_int_eq(sy.err, KFK_ERR_NONE);
	ck_assert_str_eq(sy.assignment, "A2");
	ck_assert_int_eq(sheartbeat("s1", "inst-1", j1.generation, 1020), KFK_ERR_NONE);
	ck_assert_int_eq(sheartbeat("s2", "inst-2", j1.generation, 1020),
	                 KFK_ERR_FENCED_INSTANCE_ID);
	/* The leader back: the member list, still the leader, Stable. */
	sjoin(&back, "inst-1", "", "s1b", 2000);
	ck_assert_int_eq(back.err, KFK_ERR_NONE);
	ck_assert_int_eq(back.generation, j1.generation);
	ck_assert_str_eq(back.leader, "s1b");
	ck_assert_int_eq(back.nmembers, 2);
	ck_assert_int_eq(g->state, KFK_GROUP_STABLE);
	ssync(&sy, "inst-1", "s1b", j1.generation, as, 2, 2010);
	ck_assert_str_eq(sy.assignment, "A1");
	done();
}
END_TEST

/* KIP-345 fencing: once a join with no member id and instance id "X" has
 * replaced member s1 of "X" by s2, every request of s1 naming "X" is
 * FENCED_INSTANCE_ID (clients stop on it), not UNKNOWN_MEMBER_ID (on which
 * s1 would join again with no member id and replace s2, for good), and
 * none of them touches s2 or the group. Without an instance id, or with
 * one the group does not know, the old answers stay. */
START_TEST(test_static_member_replaced_is_fenced)
{
	kfk_gassign_in_t as[1] = {{kfk_str("s1"), {(const uint8_t *)"A1", 2}}};
	waiter_t j1, y1, j2, w;
	kfk_group_t *g;
	int32_t gen;

	sjoin(&j1, "X", "", "s1", 0);
	ck_assert_int_eq(j1.err, KFK_ERR_NONE);
	gen = j1.generation;
	ssync(&y1, "X", "s1", gen, as, 1, 10);
	ck_assert_int_eq(y1.err, KFK_ERR_NONE);
	g = kfk_gcore_find(&core, kfk_str("g"));
	ck_assert_int_eq(g->state, KFK_GROUP_STABLE);
	sjoin(&j2, "X", "", "s2", 1000); /* another process with instance "X" */
	ck_assert_int_eq(j2.err, KFK_ERR_NONE);
	ck_assert_str_eq(j2.member_id, "s2");

	ck_assert_int_eq(sheartbeat("s1", "X", gen, 1100), KFK_ERR_FENCED_INSTANCE_ID);
	ssync(&w, "X", "s1", gen, NULL, 0, 1100);
	ck_assert_int_eq(w.answers, 1);
	ck_assert_int_eq(w.err, KFK_ERR_FENCED_INSTANCE_ID);
	sjoin(&w, "X", "s1", "unused", 1100);
	ck_assert_int_eq(w.answers, 1);
	ck_assert_int_eq(w.err, KFK_ERR_FENCED_INSTANCE_ID);
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str("g"), kfk_str("s1"), kfk_str("X"), gen, 1100),
	    KFK_ERR_FENCED_INSTANCE_ID);
	/* Kafka fences a commit naming the instance without member or generation too. */
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str("g"), kfk_str(""), kfk_str("X"), -1, 1100),
	    KFK_ERR_FENCED_INSTANCE_ID);
	ck_assert_int_eq(kfk_gcore_leave(&core, kfk_str("g"), kfk_str("s1"), kfk_str("X"), 1100),
	                 KFK_ERR_FENCED_INSTANCE_ID);
	/* s2 is untouched: still the member of "X", Stable, same generation. */
	ck_assert_int_eq(g->state, KFK_GROUP_STABLE);
	ck_assert_int_eq(g->nmembers, 1);
	ck_assert_str_eq(g->members[0]->id, "s2");
	ck_assert_int_eq(g->generation, gen);
	ck_assert_int_eq(sheartbeat("s2", "X", gen, 1200), KFK_ERR_NONE);
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str("g"), kfk_str("s2"), kfk_str("X"), gen, 1200),
	    KFK_ERR_NONE);
	/* Unknown ids without the instance, or with an unknown one: as before. */
	ck_assert_int_eq(heartbeat("s1", gen, 1200), KFK_ERR_UNKNOWN_MEMBER_ID);
	ck_assert_int_eq(sheartbeat("s1", "Y", gen, 1200), KFK_ERR_UNKNOWN_MEMBER_ID);
	ck_assert_int_eq(kfk_gcore_leave(&core, kfk_str("g"), kfk_str("s1"), kfk_str("Y"), 1200),
	                 KFK_ERR_UNKNOWN_MEMBER_ID);
	ck_assert_int_eq(g->nmembers, 1);
	/* A join with no member id still replaces the member of "X". */
	sjoin(&w, "X", "", "s3", 2000);
	ck_assert_int_eq(w.err, KFK_ERR_NONE);
	ck_assert_str_eq(w.member_id, "s3");
	ck_assert_int_eq(sheartbeat("s2", "X", gen, 2100), KFK_ERR_FENCED_INSTANCE_ID);
	ck_assert_int_eq(sheartbeat("s3", "X", gen, 2100), KFK_ERR_NONE);
	/* Leaving by the right member id and instance id still works. */
	ck_assert_int_eq(kfk_gcore_leave(&core, kfk_str("g"), kfk_str("s3"), kfk_str("X"), 2200),
	                 KFK_ERR_NONE);
	ck_assert_int_eq(g->nmembers, 0);
	done();
}
END_TEST

/* The same fencing when the replacement rebalances (the group was not
 * Stable): the old member's held join is answered FENCED_INSTANCE_ID, and
 * so are its later requests; the group completes without it. */
START_TEST(test_static_member_replaced_in_rebalance_is_fenced)
{
	waiter_t j1, j2, j3, old, w;
	kfk_group_t *g;

	sjoin(&j1, "X", "", "s1", 0);
	sjoin(&j2, "Y", "", "s2", 10);
	sjoin(&j1, "X", "s1", "unused", 20);
	ck_assert_int_eq(j2.err, KFK_ERR_NONE);
	g = kfk_gcore_find(&core, kfk_str("g"));
	sjoin(&j3, "Z", "", "s3", 30); /* a rebalance: s1 and s2 join again */
	sjoin(&j1, "X", "s1", "unused", 40);
	ck_assert_int_eq(g->state, KFK_GROUP_PREPARING);
	ck_assert_int_eq(j1.answers, 0);
	sjoin(&w, "X", "", "s1b", 50); /* replaces s1 */
	ck_assert_int_eq(j1.answers, 1);
	ck_assert_int_eq(j1.err, KFK_ERR_FENCED_INSTANCE_ID);
	ck_assert_int_eq(w.answers, 0);
	ck_assert_int_eq(sheartbeat("s1", "X", g->generation, 60), KFK_ERR_FENCED_INSTANCE_ID);
	sjoin(&old, "X", "s1", "unused", 60);
	ck_assert_int_eq(old.answers, 1);
	ck_assert_int_eq(old.err, KFK_ERR_FENCED_INSTANCE_ID);
	sjoin(&j2, "Y", "s2", "unused", 70); /* the last one: a new generation */
	ck_assert_int_eq(w.answers, 1);
	ck_assert_int_eq(w.err, KFK_ERR_NONE);
	ck_assert_str_eq(w.member_id, "s1b");
	ck_assert_int_eq(j3.err, KFK_ERR_NONE);
	ck_assert_int_eq(g->nmembers, 3);
	ck_assert_int_eq(sheartbeat("s1", "X", w.generation, 80), KFK_ERR_FENCED_INSTANCE_ID);
	ck_assert_int_eq(sheartbeat("s1b", "X", w.generation, 80), KFK_ERR_NONE);
	done();
}
END_TEST

START_TEST(test_drop_answers_held)
{
	waiter_t j1, s1, j2;

	one_member_stable(&j1, &s1, 0);
	join(&j2, "", false, 100);
	ck_assert_int_eq(j2.answers, 0);
	kfk_gcore_drop(&core, kfk_gcore_find(&core, kfk_str("g")), KFK_ERR_NOT_COORDINATOR);
	ck_assert_int_eq(j2.answers, 1);
	ck_assert_int_eq(j2.err, KFK_ERR_NOT_COORDINATOR);
	ck_assert_ptr_null(kfk_gcore_find(&core, kfk_str("g")));
	done();
}
END_TEST

START_TEST(test_pending_member_ids_expire)
{
	waiter_t j1, s1, j2;

	one_member_stable(&j1, &s1, 0);
	join(&j2, "", true, 100); /* MEMBER_ID_REQUIRED, never comes back */
	ck_assert_int_eq(j2.err, KFK_ERR_MEMBER_ID_REQUIRED);
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->npending, 1);
	ck_assert_int_eq(heartbeat("c-1", 1, 5000), KFK_ERR_NONE);
	kfk_gcore_tick(&core, 10100);
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->npending, 0);
	ck_assert_int_eq(kfk_gcore_find(&core, kfk_str("g"))->state, KFK_GROUP_STABLE);
	done();
}
END_TEST

/* What the state callback saw: states and member counts, in order. */
static char states_seen[64];

static void on_state(void *arg, const kfk_group_t *g)
{
	size_t n = strlen(states_seen);

	(void)arg;
	snprintf(states_seen + n, sizeof(states_seen) - n, "%s%c%d", n ? "," : "",
	         g->state == KFK_GROUP_STABLE  ? 'S'
	         : g->state == KFK_GROUP_EMPTY ? 'E'
	                                       : '?',
	         g->nmembers);
}

START_TEST(test_state_callback)
{
	waiter_t j1, s1, j2;

	states_seen[0] = '\0';
	kfk_gcore_on_state(&core, on_state);
	one_member_stable(&j1, &s1, 0);
	ck_assert_str_eq(states_seen, "S1");
	join(&j2, "", false, 100); /* a rebalance: nothing until it completes */
	heartbeat("c-1", 1, 150);
	ck_assert_str_eq(states_seen, "S1");
	ck_assert_int_eq(kfk_gcore_leave(&core, kfk_str("g"), kfk_str("c-1"), KFK_STR_NULL, 200),
	                 KFK_ERR_NONE);
	ck_assert_int_eq(j2.generation, 2);
	ck_assert_str_eq(states_seen, "S1"); /* completing: no assignments yet */
	ck_assert_int_eq(
	    kfk_gcore_leave(&core, kfk_str("g"), kfk_str(j2.member_id), KFK_STR_NULL, 300),
	    KFK_ERR_NONE);
	ck_assert_str_eq(states_seen, "S1,E0");
	done();
}
END_TEST

/* A static member back under a new id (no rebalance) is reported: a
 * successor loading the group with the old id would fence the member. */
START_TEST(test_static_back_reported)
{
	kfk_gassign_in_t as[1] = {{kfk_str("s1"), {(const uint8_t *)"A1", 2}}};
	waiter_t j1, y1, back;
	kfk_group_t *g;

	states_seen[0] = '\0';
	kfk_gcore_on_state(&core, on_state);
	sjoin(&j1, "inst-1", "", "s1", 0);
	ck_assert_int_eq(j1.err, KFK_ERR_NONE);
	ssync(&y1, "inst-1", "s1", j1.generation, as, 1, 10);
	ck_assert_str_eq(states_seen, "S1");
	sjoin(&back, "inst-1", "", "s1b", 1000);
	ck_assert_int_eq(back.err, KFK_ERR_NONE);
	ck_assert_int_eq(back.generation, j1.generation);
	ck_assert_str_eq(states_seen, "S1,S1");
	g = kfk_gcore_find(&core, kfk_str("g"));
	ck_assert_str_eq(g->members[0]->id, "s1b");
	done();
}
END_TEST

START_TEST(test_load)
{
	const kfk_gload_member_t ms[2] = {
	    {.id = "m-1",
	     .client_id = "c",
	     .client_host = "/h",
	     .session_ms = 10000,
	     .rebalance_ms = 30000,
	     .protos = range_proto,
	     .nprotos = 1,
	     .assignment = (const uint8_t *)"A1",
	     .assignment_len = 2},
	    {.id = "m-2",
	     .instance_id = "i-2",
	     .client_id = "c",
	     .client_host = "/h",
	     .session_ms = 20000,
	     .rebalance_ms = 30000,
	     .protos = range_proto,
	     .nprotos = 1,
	     .assignment = (const uint8_t *)"A2",
	     .assignment_len = 2},
	};
	static const kfk_gproto_in_t other_proto[] = {{{"other", 5}, {(const uint8_t *)"m", 1}}};
	kfk_gload_member_t odd[2] = {ms[0], ms[1]};
	kfk_gload_t in = {.group = kfk_str("g"),
	                  .generation = 7,
	                  .protocol_type = "consumer",
	                  .protocol = "range",
	                  .leader = "m-1",
	                  .members = ms,
	                  .nmembers = 2};
	kfk_gload_t bad = in;
	kfk_group_t *g;
	waiter_t s, j;

	bad.leader = "m-9";
	ck_assert_int_eq(kfk_gcore_load(&core, &bad, 1000), -EINVAL);
	bad = in;
	bad.nmembers = 0;
	ck_assert_int_eq(kfk_gcore_load(&core, &bad, 1000), -EINVAL);
	odd[1].protos = other_proto; /* a member without the group's protocol */
	bad = in;
	bad.members = odd;
	ck_assert_int_eq(kfk_gcore_load(&core, &bad, 1000), -EINVAL);
	ck_assert_ptr_null(kfk_gcore_find(&core, kfk_str("g")));
	ck_assert_int_eq(kfk_gcore_load(&core, &in, 1000), 0);
	ck_assert_int_eq(kfk_gcore_load(&core, &in, 1000), -EEXIST);
	g = kfk_gcore_find(&core, kfk_str("g"));
	ck_assert_int_eq(g->state, KFK_GROUP_STABLE);
	ck_assert_int_eq(g->generation, 7);
	ck_assert_int_eq(g->nmembers, 2);
	/* The members go on at their generation, with their assignments. */
	ck_assert_int_eq(heartbeat("m-1", 7, 5000), KFK_ERR_NONE);
	ck_assert_int_eq(heartbeat("m-1", 6, 5000), KFK_ERR_ILLEGAL_GENERATION);
	ck_assert_int_eq(sheartbeat("m-2", "i-2", 7, 5000), KFK_ERR_NONE);
	ck_assert_int_eq(sheartbeat("m-3", "i-2", 7, 5000), KFK_ERR_FENCED_INSTANCE_ID);
	sync_req(&s, "m-1", 7, NULL, 5000);
	ck_assert_int_eq(s.err, KFK_ERR_NONE);
	ck_assert_str_eq(s.assignment, "A1");
	ck_assert_int_eq(
	    kfk_gcore_commit_check(&core, kfk_str("g"), kfk_str("m-1"), KFK_STR_NULL, 7, 5000),
	    KFK_ERR_NONE);
	/* The static member restarted, its protocols as stored: its place,
	 * no rebalance (KIP-345). */
	sjoin(&j, "i-2", "", "m-2b", 5000);
	ck_assert_int_eq(j.err, KFK_ERR_NONE);
	ck_assert_int_eq(j.generation, 7);
	ck_assert_int_eq(g->state, KFK_GROUP_STABLE);
	ck_assert_int_eq(sheartbeat("m-2b", "i-2", 7, 5000), KFK_ERR_NONE);
	/* Sessions start at the load: m-1 (10 s, heartbeat at 5 s) stays at
	 * 14.9 s; m-2 (20 s) too. m-1 silent past 15 s is removed. */
	kfk_gcore_tick(&core, 14900);
	ck_assert_int_eq(g->nmembers, 2);
	ck_assert_int_eq(sheartbeat("m-2b", "i-2", 7, 14900), KFK_ERR_NONE);
	kfk_gcore_tick(&core, 15100);
	ck_assert_int_eq(g->nmembers, 1);
	ck_assert_int_eq(g->state, KFK_GROUP_PREPARING);
	/* The one left joins again: generation 8, it leads. */
	join_as(&j, kfk_str("i-2"), "m-2b", "unused", true, 15200);
	ck_assert_int_eq(j.err, KFK_ERR_NONE);
	ck_assert_int_eq(j.generation, 8);
	ck_assert_str_eq(j.leader, "m-2b");
	done();
}
END_TEST

START_TEST(test_advertised)
{
	ck_assert(kfk_apis_supported(KFK_API_JOIN_GROUP, 0));
	ck_assert(kfk_apis_supported(KFK_API_JOIN_GROUP, 9));
	ck_assert(kfk_apis_supported(KFK_API_SYNC_GROUP, 5));
	ck_assert(kfk_apis_supported(KFK_API_HEARTBEAT, 4));
	ck_assert(kfk_apis_supported(KFK_API_LEAVE_GROUP, 5));
	ck_assert(kfk_apis_supported(KFK_API_OFFSET_COMMIT, 8));
	ck_assert(!kfk_apis_supported(KFK_API_OFFSET_COMMIT, 9));
	ck_assert(kfk_apis_supported(KFK_API_OFFSET_FETCH, 8));
	ck_assert(kfk_apis_supported(KFK_API_LIST_GROUPS, 4));
	ck_assert(kfk_apis_supported(KFK_API_DESCRIBE_GROUPS, 5));
	ck_assert(kfk_apis_supported(KFK_API_DELETE_GROUPS, 2));
	done();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_group_core");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_single_member);
	tcase_add_test(tc, test_v0_join_needs_no_member_id_round);
	tcase_add_test(tc, test_second_member_rebalances);
	tcase_add_test(tc, test_leader_joins_again_while_completing);
	tcase_add_test(tc, test_join_phase_deadline_drops_the_silent);
	tcase_add_test(tc, test_session_expiry_rebalances);
	tcase_add_test(tc, test_leave);
	tcase_add_test(tc, test_empty_group_kept);
	tcase_add_test(tc, test_instance_id_with_nul);
	tcase_add_test(tc, test_instance_id_not_utf8);
	tcase_add_test(tc, test_held_sync_answered_on_rebalance);
	tcase_add_test(tc, test_sync_phase_deadline);
	tcase_add_test(tc, test_validation);
	tcase_add_test(tc, test_protocol_vote);
	tcase_add_test(tc, test_commit_check);
	tcase_add_test(tc, test_static_member_replaced);
	tcase_add_test(tc, test_static_member_back_without_rebalance);
	tcase_add_test(tc, test_static_member_replaced_is_fenced);
	tcase_add_test(tc, test_static_member_replaced_in_rebalance_is_fenced);
	tcase_add_test(tc, test_drop_answers_held);
	tcase_add_test(tc, test_pending_member_ids_expire);
	tcase_add_test(tc, test_advertised);
	tcase_add_test(tc, test_state_callback);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_static_back_reported);
	tcase_add_test(tc, test_subscription_names);
	tcase_add_test(tc, test_offset_delete_check);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
