/*
 * test_kfk_admin_core.c: unit tests of CreateTopics / CreatePartitions
 * validation and replica placement (kafka-frontend/kfk_admin_core.h).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ck_config.h"
#include "ck_testlib.h"
#include "kfk_admin_core.h"
#include "kfk_errors.h"

static kfk_tcfg_defaults_t defs;
static const int32_t brokers1[] = {1};
static const int32_t brokers3[] = {1, 2, 3};
static const int32_t fenced4[] = {4};

static kfk_create_ctx_t ctx(const int32_t *b, size_t n)
{
	kfk_create_ctx_t c = {.brokers = b,
	                      .nbrokers = n,
	                      .default_partitions = 4,
	                      .default_rf = 1,
	                      .cfg_defaults = &defs};
	return c;
}

static void setup(void)
{
	ck_config_t cfg;

	ck_config_defaults(&cfg);
	kfk_tcfg_defaults_from_config(&cfg, &defs);
}

static kfk_create_topics_request_creatable_topic_t topic(const char *name, int32_t np, int16_t rf)
{
	kfk_create_topics_request_creatable_topic_t t;

	kfk_create_topics_request_creatable_topic_init(&t);
	t.name = kfk_str(name);
	t.num_partitions = np;
	t.replication_factor = rf;
	return t;
}

START_TEST(test_topic_names)
{
	char name[300], msg[200];
	char longname[251];

	ck_assert_int_eq(kfk_topic_name_check(kfk_str("orders.v1_x-y"), name, msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	ck_assert_str_eq(name, "orders.v1_x-y");
	ck_assert_int_eq(kfk_topic_name_check(kfk_str(""), name, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_TOPIC_EXCEPTION);
	ck_assert_int_eq(kfk_topic_name_check(kfk_str(".."), name, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_TOPIC_EXCEPTION);
	ck_assert_int_eq(kfk_topic_name_check(kfk_str("a b"), name, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_TOPIC_EXCEPTION);
	ck_assert_int_eq(
	    kfk_topic_name_check(kfk_str("__chronik_metadata"), name, msg, sizeof(msg)),
	    KFK_ERR_INVALID_TOPIC_EXCEPTION);
	ck_assert_ptr_nonnull(strstr(msg, "reserved"));
	memset(longname, 'a', 250);
	longname[250] = '\0';
	ck_assert_int_eq(kfk_topic_name_check(kfk_str(longname), name, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_TOPIC_EXCEPTION);
	longname[249] = '\0';
	ck_assert_int_eq(kfk_topic_name_check(kfk_str(longname), name, msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	/* An embedded NUL is not a valid character. */
	ck_assert_int_eq(kfk_topic_name_check((kfk_str_t){"ab\0c", 4}, name, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_TOPIC_EXCEPTION);
}
END_TEST

/* The names DescribeConfigs and the alters refuse as Kafka's Topic.validate
 * does: its rules alone (a broker's own topic is legal, and not found). */
START_TEST(test_topic_names_legal)
{
	char msg[200], longname[301];

	ck_assert_int_eq(kfk_topic_name_legal(kfk_str("orders.v1_x-y"), msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	ck_assert_int_eq(kfk_topic_name_legal(kfk_str("__chronik_metadata"), msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	ck_assert_int_eq(kfk_topic_name_legal(kfk_str("bad name"), msg, sizeof(msg)),
	                 KFK_ERR_INVALID_TOPIC_EXCEPTION);
	ck_assert_ptr_nonnull(strstr(msg, "bad name"));
	ck_assert_int_eq(kfk_topic_name_legal(kfk_str(""), msg, sizeof(msg)),
	                 KFK_ERR_INVALID_TOPIC_EXCEPTION);
	ck_assert_int_eq(kfk_topic_name_legal(kfk_str(".."), msg, sizeof(msg)),
	                 KFK_ERR_INVALID_TOPIC_EXCEPTION);
	memset(longname, 'x', 300);
	longname[300] = '\0';
	ck_assert_int_eq(kfk_topic_name_legal(kfk_str(longname), msg, sizeof(msg)),
	                 KFK_ERR_INVALID_TOPIC_EXCEPTION);
}
END_TEST

START_TEST(test_create_defaults_and_counts)
{
	kfk_create_ctx_t c = ctx(brokers1, 1);
	kfk_create_plan_t plan;
	kfk_create_topics_request_creatable_topic_t t = topic("t", -1, -1);
	char msg[200];
	int32_t replicas[8];

	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)), KFK_ERR_NONE);
	ck_assert_int_eq(plan.partitions, 4); /* num.partitions of the context */
	ck_assert_int_eq(plan.replication_factor, 1);
	plan.replicas = replicas;
	kfk_create_assign(&t, &c, 7, &plan);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(replicas[i], 1);

	t = topic("t", 0, 1);
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_PARTITIONS);
	/* Kafka's internal topics are not created by request. */
	t = topic("__consumer_offsets", -1, -1);
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REQUEST);
	ck_assert_str_eq(msg, "Creation of internal topic __consumer_offsets is prohibited.");
	t = topic("__transaction_state", 1, 1);
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REQUEST);
	t = topic("__consumer_offsets2", 1, 1);
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)), KFK_ERR_NONE);
	t = topic("t", -2, 1);
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_PARTITIONS);
	t = topic("t", KFK_PARTITIONS_MAX + 1, 1);
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_PARTITIONS);
	t = topic("t", 1, 0);
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REPLICATION_FACTOR);
	/* More replicas than live brokers. */
	t = topic("t", 1, 3);
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REPLICATION_FACTOR);
	ck_assert_ptr_nonnull(strstr(msg, "only 1 broker"));
	t = topic("bad name", 1, 1);
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_TOPIC_EXCEPTION);
}
END_TEST

START_TEST(test_create_configs)
{
	kfk_create_ctx_t c = ctx(brokers1, 1);
	kfk_create_plan_t plan;
	kfk_create_topics_request_creatable_topic_t t = topic("t", 1, 1);
	kfk_create_topics_request_creatable_topic_config_t cfgs[2];
	char msg[200];

	kfk_create_topics_request_creatable_topic_config_init(&cfgs[0]);
	kfk_create_topics_request_creatable_topic_config_init(&cfgs[1]);
	cfgs[0].name = kfk_str("retention.ms");
	cfgs[0].value = kfk_str("1000");
	cfgs[1].name = kfk_str("cleanup.policy");
	cfgs[1].value = kfk_str("delete");
	t.configs.count = 2;
	t.configs.items = cfgs;
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)), KFK_ERR_NONE);
	ck_assert(plan.configs.present[KFK_TCFG_RETENTION_MS]);
	ck_assert_str_eq(plan.configs.value[KFK_TCFG_RETENTION_MS], "1000");
	cfgs[1].value = kfk_str("compact");
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)), KFK_ERR_NONE);
	ck_assert_str_eq(plan.configs.value[KFK_TCFG_CLEANUP_POLICY], "compact");
	cfgs[1].value = kfk_str("compacted");
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)), KFK_ERR_INVALID_CONFIG);
	ck_assert_ptr_nonnull(strstr(msg, "cleanup.policy"));
}
END_TEST

START_TEST(test_create_manual_assignment)
{
	kfk_create_ctx_t c = ctx(brokers3, 3);
	kfk_create_plan_t plan;
	kfk_create_topics_request_creatable_topic_t t = topic("t", -1, -1);
	kfk_create_topics_request_creatable_replica_assignment_t as[2];
	int32_t r0[] = {2, 3}, r1[] = {3, 1}, bad_dup[] = {2, 2}, unknown[] = {2, 9};
	int32_t fenced9[] = {9}, fenced_only[] = {9};
	int32_t replicas[4];
	char msg[200];

	for (int i = 0; i < 2; i++)
		kfk_create_topics_request_creatable_replica_assignment_init(&as[i]);
	as[0].partition_index = 1; /* any order */
	as[0].broker_ids.count = 2;
	as[0].broker_ids.items = r1;
	as[1].partition_index = 0;
	as[1].broker_ids.count = 2;
	as[1].broker_ids.items = r0;
	t.assignments.count = 2;
	t.assignments.items = as;
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)), KFK_ERR_NONE);
	ck_assert_int_eq(plan.partitions, 2);
	ck_assert_int_eq(plan.replication_factor, 2);
	plan.replicas = replicas;
	kfk_create_assign(&t, &c, 0, &plan);
	ck_assert_int_eq(replicas[0], 2);
	ck_assert_int_eq(replicas[1], 3);
	ck_assert_int_eq(replicas[2], 3);
	ck_assert_int_eq(replicas[3], 1);

	t.num_partitions = 2;
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REQUEST);
	t.num_partitions = -1;
	as[1].broker_ids.items = bad_dup;
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REPLICA_ASSIGNMENT);
	as[1].broker_ids.items = unknown;
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REPLICA_ASSIGNMENT);
	ck_assert_ptr_nonnull(strstr(msg, "broker 9, but no such broker is registered"));
	/* A registered broker that is fenced (down) may be named beside a
	 * live one, as Kafka's controller allows; not alone. */
	c.fenced = fenced9;
	c.nfenced = 1;
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)), KFK_ERR_NONE);
	as[1].broker_ids.items = fenced_only;
	as[1].broker_ids.count = 1;
	as[0].broker_ids.count = 1;
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REPLICA_ASSIGNMENT);
	ck_assert_ptr_nonnull(strstr(msg, "partition 0 are fenced"));
	as[0].broker_ids.count = 2;
	as[1].broker_ids.count = 2;
	c.nfenced = 0;
	as[1].broker_ids.items = r0;
	as[1].partition_index = 2; /* 0 missing */
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REPLICA_ASSIGNMENT);
	as[1].partition_index = 0;
	as[1].broker_ids.count = 1; /* unequal replica counts */
	ck_assert_int_eq(kfk_create_check(&t, &c, &plan, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REPLICA_ASSIGNMENT);
}
END_TEST

START_TEST(test_round_robin_spreads_leaders)
{
	int32_t out[6 * 2];
	int leaders[4] = {0};

	kfk_assign_round_robin(brokers3, 3, 0, 6, 2, 1, out);
	for (int p = 0; p < 6; p++) {
		ck_assert_int_ne(out[p * 2], out[p * 2 + 1]);
		leaders[out[p * 2]]++;
	}
	ck_assert_int_eq(leaders[1], 2);
	ck_assert_int_eq(leaders[2], 2);
	ck_assert_int_eq(leaders[3], 2);
	/* The first partition's leader follows the start. */
	ck_assert_int_eq(out[0], brokers3[1]);
}
END_TEST

START_TEST(test_create_partitions)
{
	kfk_create_partitions_request_create_partitions_topic_t t;
	kfk_create_partitions_request_create_partitions_assignment_t as[2];
	int32_t a0[] = {1}, a1[] = {2}, out[8];
	kfk_create_ctx_t c1 = ctx(brokers1, 1), c3 = ctx(brokers3, 3);
	char msg[200];

	kfk_create_partitions_request_create_partitions_topic_init(&t);
	t.name = kfk_str("t");
	t.count = 4;
	t.assignments.count = -1;
	ck_assert_int_eq(kfk_partitions_check(&t, 2, 1, &c1, 0, out, msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	ck_assert_int_eq(out[0], 1);
	ck_assert_int_eq(out[1], 1);
	t.count = 2;
	ck_assert_int_eq(kfk_partitions_check(&t, 2, 1, &c1, 0, out, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_PARTITIONS);
	t.count = 1;
	ck_assert_int_eq(kfk_partitions_check(&t, 2, 1, &c1, 0, out, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_PARTITIONS);
	ck_assert_ptr_nonnull(strstr(msg, "higher than the requested"));
	t.count = 4;
	ck_assert_int_eq(kfk_partitions_check(&t, 2, 3, &c1, 0, out, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REPLICATION_FACTOR);
	/* Manual: one assignment per new partition, RF replicas each. */
	for (int i = 0; i < 2; i++)
		kfk_create_partitions_request_create_partitions_assignment_init(&as[i]);
	as[0].broker_ids.count = 1;
	as[0].broker_ids.items = a0;
	as[1].broker_ids.count = 1;
	as[1].broker_ids.items = a1;
	t.assignments.count = 2;
	t.assignments.items = as;
	ck_assert_int_eq(kfk_partitions_check(&t, 2, 1, &c3, 0, out, msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	ck_assert_int_eq(out[0], 1);
	ck_assert_int_eq(out[1], 2);
	t.assignments.count = 1;
	ck_assert_int_eq(kfk_partitions_check(&t, 2, 1, &c3, 0, out, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REPLICA_ASSIGNMENT);
	/* A fenced broker alone: refused; an unregistered one: refused. */
	t.assignments.count = 2;
	a1[0] = 4;
	c3.fenced = fenced4;
	c3.nfenced = 1;
	ck_assert_int_eq(kfk_partitions_check(&t, 2, 1, &c3, 0, out, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REPLICA_ASSIGNMENT);
	ck_assert_ptr_nonnull(strstr(msg, "fenced"));
	a1[0] = 5;
	ck_assert_int_eq(kfk_partitions_check(&t, 2, 1, &c3, 0, out, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REPLICA_ASSIGNMENT);
	ck_assert_ptr_nonnull(strstr(msg, "no such broker is registered"));
}
END_TEST

START_TEST(test_duplicate_names)
{
	kfk_str_t names[7] = {kfk_str("a"), kfk_str("b"),  kfk_str("a"), KFK_STR_NULL,
	                      KFK_STR_NULL, kfk_str("ab"), kfk_str("a")};
	uint8_t d[7];

	ck_assert_int_eq(kfk_names_dups(names, 7, d), 0);
	ck_assert_int_eq(d[0], KFK_NAME_DUP_FIRST);
	ck_assert_int_eq(d[1], KFK_NAME_UNIQUE);
	ck_assert_int_eq(d[2], KFK_NAME_DUP_LATER);
	ck_assert_int_eq(d[3], KFK_NAME_UNIQUE); /* null names (DeleteTopics by id) */
	ck_assert_int_eq(d[4], KFK_NAME_UNIQUE);
	ck_assert_int_eq(d[5], KFK_NAME_UNIQUE); /* a prefix is another name */
	ck_assert_int_eq(d[6], KFK_NAME_DUP_LATER);
	ck_assert_int_eq(kfk_names_dups(names, 1, d), 0);
	ck_assert_int_eq(d[0], KFK_NAME_UNIQUE);
	ck_assert_int_eq(kfk_names_dups(names, 0, d), 0);
}
END_TEST

/* (topic, partition) pairs: the same partition of the same topic twice. */
START_TEST(test_duplicate_partitions)
{
	kfk_str_t names[5] = {kfk_str("a"), kfk_str("a"), kfk_str("b"), kfk_str("a"), kfk_str("b")};
	int32_t parts[5] = {0, 1, 0, 0, 1};
	uint8_t d[5];

	ck_assert_int_eq(kfk_parts_dups(names, parts, 5, d), 0);
	ck_assert_int_eq(d[0], KFK_NAME_DUP_FIRST);
	ck_assert_int_eq(d[1], KFK_NAME_UNIQUE);
	ck_assert_int_eq(d[2], KFK_NAME_UNIQUE);
	ck_assert_int_eq(d[3], KFK_NAME_DUP_LATER);
	ck_assert_int_eq(d[4], KFK_NAME_UNIQUE);
}
END_TEST

/* A hostile request names 200,000 topics, every second one a copy of the
 * one before, the copies far apart in the request: each is classified (in
 * well under a second; the old pairwise check took minutes). */
START_TEST(test_duplicate_names_many)
{
	enum { N = 200000 };
	static char buf[N][16];
	static kfk_str_t names[N];
	static uint8_t d[N];

	for (int i = 0; i < N; i++) {
		int k = i < N / 2 ? i : i - N / 2; /* the second half repeats the first */

		(void)snprintf(buf[i], sizeof(buf[i]), "t%07d", k % 2 ? k : k + 1000000);
		names[i] = kfk_str(buf[i]);
	}
	ck_assert_int_eq(kfk_names_dups(names, N, d), 0);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(d[i], i < N / 2 ? KFK_NAME_DUP_FIRST : KFK_NAME_DUP_LATER);
	/* Distinct names only: nothing flagged. */
	for (int i = 0; i < N; i++) {
		(void)snprintf(buf[i], sizeof(buf[i]), "u%07d", i);
		names[i] = kfk_str(buf[i]);
	}
	ck_assert_int_eq(kfk_names_dups(names, N, d), 0);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(d[i], KFK_NAME_UNIQUE);
}
END_TEST

/* ElectLeaders: a preferred election moves leadership to the first
 * replica when it is in the ISR and live; an unclean one is refused. */
START_TEST(test_elect_check)
{
	const int32_t reps[] = {1, 2, 3}, all[] = {1, 2, 3}, two3[] = {2, 3};
	char msg[256];

	ck_assert_int_eq(
	    kfk_elect_check(KFK_ELECTION_PREFERRED, 2, reps, 3, all, 3, all, 3, msg, sizeof(msg)),
	    KFK_ERR_NONE);
	ck_assert_str_eq(msg, "");
	/* No leader at all: the preferred replica may still take it. */
	ck_assert_int_eq(
	    kfk_elect_check(KFK_ELECTION_PREFERRED, -1, reps, 3, all, 3, all, 3, msg, sizeof(msg)),
	    KFK_ERR_NONE);
	ck_assert_int_eq(
	    kfk_elect_check(KFK_ELECTION_PREFERRED, 1, reps, 3, all, 3, all, 3, msg, sizeof(msg)),
	    KFK_ERR_ELECTION_NOT_NEEDED);
	ck_assert_str_eq(msg, "the preferred replica 1 leads already");
	ck_assert_int_eq(
	    kfk_elect_check(KFK_ELECTION_PREFERRED, 2, reps, 3, two3, 2, all, 3, msg, sizeof(msg)),
	    KFK_ERR_PREFERRED_LEADER_NOT_AVAILABLE);
	ck_assert_str_eq(msg, "the preferred replica 1 is not in the ISR");
	ck_assert_int_eq(
	    kfk_elect_check(KFK_ELECTION_PREFERRED, 2, reps, 3, all, 3, two3, 2, msg, sizeof(msg)),
	    KFK_ERR_PREFERRED_LEADER_NOT_AVAILABLE);
	ck_assert_str_eq(msg, "the preferred replica 1 is not live");
	ck_assert_int_eq(
	    kfk_elect_check(KFK_ELECTION_PREFERRED, 2, reps, 0, all, 3, all, 3, msg, sizeof(msg)),
	    KFK_ERR_PREFERRED_LEADER_NOT_AVAILABLE);
	ck_assert_int_eq(
	    kfk_elect_check(KFK_ELECTION_UNCLEAN, 2, reps, 3, all, 3, all, 3, msg, sizeof(msg)),
	    KFK_ERR_ELECTION_NOT_NEEDED);
	ck_assert_int_eq(
	    kfk_elect_check(KFK_ELECTION_UNCLEAN, -1, reps, 3, all, 3, two3, 2, msg, sizeof(msg)),
	    KFK_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE);
	ck_assert_int_eq(kfk_elect_check(2, 2, reps, 3, all, 3, all, 3, msg, sizeof(msg)),
	                 KFK_ERR_INVALID_REQUEST);
	ck_assert_str_eq(msg, "unknown election type 2");
	/* No room for a message: none is written. */
	ck_assert_int_eq(kfk_elect_check(-1, 2, reps, 3, all, 3, all, 3, NULL, 0),
	                 KFK_ERR_INVALID_REQUEST);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_admin_core");
	TCase *tc = tcase_create("admin");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_topic_names);
	tcase_add_test(tc, test_topic_names_legal);
	tcase_add_test(tc, test_create_defaults_and_counts);
	tcase_add_test(tc, test_create_configs);
	tcase_add_test(tc, test_create_manual_assignment);
	tcase_add_test(tc, test_round_robin_spreads_leaders);
	tcase_add_test(tc, test_create_partitions);
	tcase_add_test(tc, test_duplicate_names);
	tcase_add_test(tc, test_duplicate_partitions);
	tcase_add_test(tc, test_duplicate_names_many);
	tcase_add_test(tc, test_elect_check);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
