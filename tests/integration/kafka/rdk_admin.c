/*
 * rdk_admin.c: librdkafka's C Admin API against a chronik node, run by
 * test_rdkafka.py (RdkafkaAdmin) against a node it started.
 *
 * Owned by the Kafka integration tests. One topic (3 partitions, 10
 * messages each) and one consumer group go through what an operator's tool
 * built on librdkafka does: list and describe groups (Stable with its member
 * and assignment, then Empty), list, alter and delete committed offsets,
 * delete records, the watermarks and offsets-for-times, describe and alter
 * configs, add partitions, ACL calls (which a broker without an authorizer
 * refuses with SECURITY_DISABLED), delete the group and the topic. Each step
 * prints "ok STEP" or "FAIL STEP: what was seen"; the last line is
 * "result failed=N". Exit 0 when nothing failed, 1 otherwise, 2 on bad
 * usage.
 * Not for: node management (the Python driver does it) or load.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "kbench_rdk.h"

#define ADM_PROG       "rdk_admin"
#define ADM_PARTS      3
#define ADM_PER_PART   10
#define ADM_TIMEOUT_MS 30000

static int adm_failed;

__attribute__((format(printf, 2, 3))) static void adm_fail(const char *step, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	adm_failed++;
}

static void adm_ok(const char *step)
{
	printf("ok %s\n", step);
	fflush(stdout);
}

static double adm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for the result event of TYPE on Q; NULL (and a failure) on timeout. */
static rd_kafka_event_t *adm_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type, const char *step)
{
	double end = adm_now() + ADM_TIMEOUT_MS / 1000.0;

	while (adm_now() < end) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 500);

		if (ev == NULL)
			continue;
		if (rd_kafka_event_type(ev) == type) {
			if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
				adm_fail(step, "request failed: %s",
				         rd_kafka_event_error_string(ev));
				rd_kafka_event_destroy(ev);
				return NULL;
			}
			return ev;
		}
		rd_kafka_event_destroy(ev);
	}
	adm_fail(step, "no answer within %d ms", ADM_TIMEOUT_MS);
	return NULL;
}

static rd_kafka_AdminOptions_t *adm_opts(rd_kafka_t *rk, rd_kafka_admin_op_t op)
{
	rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
	char err[256];

	rd_kafka_AdminOptions_set_request_timeout(o, ADM_TIMEOUT_MS, err, sizeof(err));
	return o;
}

/* The partition PART of TOPIC in LIST, or NULL. */
static const rd_kafka_topic_partition_t *adm_find(const rd_kafka_topic_partition_list_t *list,
                                                  const char *topic, int part)
{
	for (int i = 0; list != NULL && i < list->cnt; i++)
		if (list->elems[i].partition == part && strcmp(list->elems[i].topic, topic) == 0)
			return &list->elems[i];
	return NULL;
}

static int adm_produce(const char *brokers, const char *topic)
{
	const char *const kv[][2] = {{"bootstrap.servers", brokers}, {"acks", "all"}, {NULL, NULL}};
	rd_kafka_t *p = kb_rdk_producer_new(ADM_PROG, kv, NULL, NULL);
	int rc = 0;

	if (p == NULL)
		return -1;
	for (int part = 0; part < ADM_PARTS; part++)
		for (int i = 0; i < ADM_PER_PART; i++) {
			char v[32];

			snprintf(v, sizeof(v), "p%d-%d", part, i);
			if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
			                      RD_KAFKA_V_PARTITION(part),
			                      RD_KAFKA_V_VALUE(v, strlen(v)),
			                      RD_KAFKA_V_TIMESTAMP(1000 * (i + 1)),
			                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			                      RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR)
				rc = -1;
		}
	if (rd_kafka_flush(p, ADM_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    rd_kafka_outq_len(p) != 0)
		rc = -1;
	rd_kafka_destroy(p);
	return rc;
}

/* A subscribed consumer of GROUP that has read and committed every message. */
static rd_kafka_t *adm_group_member(const char *brokers, const char *group, const char *topic)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[256];
	const char *const kv[][2] = {
	    {"bootstrap.servers", brokers},    {"group.id", group},
	    {"client.id", "rdk-admin-member"}, {"auto.offset.reset", "earliest"},
	    {"enable.auto.commit", "false"},   {NULL, NULL}};
	rd_kafka_t *c;
	rd_kafka_topic_partition_list_t *sub;
	int got = 0;
	double end = adm_now() + 30;

	if (kb_rdk_conf_set(conf, ADM_PROG, kv) != 0) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (c == NULL) {
		rd_kafka_conf_destroy(conf);
		adm_fail("group-member", "consumer: %s", err);
		return NULL;
	}
	rd_kafka_poll_set_consumer(c);
	sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_subscribe(c, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	while (got < ADM_PARTS * ADM_PER_PART && adm_now() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);

		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			got++;
		rd_kafka_message_destroy(m);
	}
	if (got != ADM_PARTS * ADM_PER_PART) {
		adm_fail("group-member", "consumed %d of %d", got, ADM_PARTS * ADM_PER_PART);
	} else if (rd_kafka_commit(c, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		adm_fail("group-member", "commit refused");
	} else {
		adm_ok("group-member");
		return c;
	}
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	return NULL;
}

static void adm_list_groups(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *group,
                            rd_kafka_consumer_group_state_t want, const char *step)
{
	rd_kafka_AdminOptions_t *o = adm_opts(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
	rd_kafka_event_t *ev;
	const rd_kafka_ConsumerGroupListing_t **gl;
	size_t n = 0, nerr = 0;
	int found = 0;

	rd_kafka_ListConsumerGroups(rk, o, q);
	rd_kafka_AdminOptions_destroy(o);
	ev = adm_wait(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, step);
	if (ev == NULL)
		return;
	gl = rd_kafka_ListConsumerGroups_result_valid(rd_kafka_event_ListConsumerGroups_result(ev),
	                                              &n);
	rd_kafka_ListConsumerGroups_result_errors(rd_kafka_event_ListConsumerGroups_result(ev),
	                                          &nerr);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(rd_kafka_ConsumerGroupListing_group_id(gl[i]), group) != 0)
			continue;
		found++;
		if (rd_kafka_ConsumerGroupListing_state(gl[i]) != want)
			adm_fail(step, "state %s, want %s",
			         rd_kafka_consumer_group_state_name(
			             rd_kafka_ConsumerGroupListing_state(gl[i])),
			         rd_kafka_consumer_group_state_name(want));
		else if (rd_kafka_ConsumerGroupListing_is_simple_consumer_group(gl[i]))
			adm_fail(step, "listed as a simple group");
		else
			adm_ok(step);
	}
	if (nerr != 0)
		adm_fail(step, "%zu per-broker errors", nerr);
	if (found != 1)
		adm_fail(step, "group listed %d times among %zu", found, n);
	rd_kafka_event_destroy(ev);
}

static void adm_describe_group(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *group,
                               const char *topic, int members, const char *step)
{
	rd_kafka_AdminOptions_t *o = adm_opts(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
	const char *groups[1] = {group};
	rd_kafka_event_t *ev;
	const rd_kafka_ConsumerGroupDescription_t **gd;
	size_t n = 0;

	rd_kafka_DescribeConsumerGroups(rk, groups, 1, o, q);
	rd_kafka_AdminOptions_destroy(o);
	ev = adm_wait(q, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, step);
	if (ev == NULL)
		return;
	gd = rd_kafka_DescribeConsumerGroups_result_groups(
	    rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
	if (n != 1) {
		adm_fail(step, "%zu descriptions", n);
	} else if (rd_kafka_ConsumerGroupDescription_error(gd[0]) != NULL) {
		adm_fail(step, "error %s",
		         rd_kafka_error_string(rd_kafka_ConsumerGroupDescription_error(gd[0])));
	} else {
		const rd_kafka_ConsumerGroupDescription_t *d = gd[0];
		rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d);
		const rd_kafka_Node_t *coord = rd_kafka_ConsumerGroupDescription_coordinator(d);
		size_t mc = rd_kafka_ConsumerGroupDescription_member_count(d);

		if (st != (members > 0 ? RD_KAFKA_CONSUMER_GROUP_STATE_STABLE
		                       : RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY))
			adm_fail(step, "state %s", rd_kafka_consumer_group_state_name(st));
		else if (coord == NULL || rd_kafka_Node_id(coord) < 0)
			adm_fail(step, "no coordinator");
		else if (mc != (size_t)members)
			adm_fail(step, "%zu members, want %d", mc, members);
		else if (members > 0 &&
		         strcmp(rd_kafka_ConsumerGroupDescription_partition_assignor(d), "range") !=
		             0)
			adm_fail(step, "assignor '%s'",
			         rd_kafka_ConsumerGroupDescription_partition_assignor(d));
		else if (members > 0) {
			const rd_kafka_MemberDescription_t *m =
			    rd_kafka_ConsumerGroupDescription_member(d, 0);
			const rd_kafka_topic_partition_list_t *a =
			    rd_kafka_MemberAssignment_partitions(
			        rd_kafka_MemberDescription_assignment(m));
			int have = 0;

			for (int p = 0; p < ADM_PARTS; p++)
				have += adm_find(a, topic, p) != NULL;
			if (strcmp(rd_kafka_MemberDescription_client_id(m), "rdk-admin-member") !=
			    0)
				adm_fail(step, "client id '%s'",
				         rd_kafka_MemberDescription_client_id(m));
			else if (have != ADM_PARTS || a->cnt != ADM_PARTS)
				adm_fail(
				    step,
				    "assignment holds %d of the topic's %d partitions (%d listed)",
				    have, ADM_PARTS, a->cnt);
			else
				adm_ok(step);
		} else {
			adm_ok(step);
		}
	}
	rd_kafka_event_destroy(ev);
}

/* The partitions of the one group result in GR (N of them), or NULL after
 * reporting a failure of STEP. */
static const rd_kafka_topic_partition_list_t *adm_group_parts(const rd_kafka_group_result_t **gr,
                                                              size_t n, const char *step)
{
	if (n != 1 || rd_kafka_group_result_error(gr[0]) != NULL) {
		adm_fail(step, "%zu results, error %s", n,
		         n == 1 ? rd_kafka_error_string(rd_kafka_group_result_error(gr[0])) : "-");
		return NULL;
	}
	return rd_kafka_group_result_partitions(gr[0]);
}

/* Checks the committed offsets of GROUP: WANT[p] per partition
 * (RD_KAFKA_OFFSET_INVALID: none). */
static void adm_list_offsets(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *group,
                             const char *topic, const int64_t want[ADM_PARTS], const char *step)
{
	rd_kafka_AdminOptions_t *o = adm_opts(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(ADM_PARTS);
	rd_kafka_ListConsumerGroupOffsets_t *req;
	rd_kafka_event_t *ev;
	const rd_kafka_group_result_t **gr;
	const rd_kafka_topic_partition_list_t *l;
	size_t n = 0;

	for (int p = 0; p < ADM_PARTS; p++)
		rd_kafka_topic_partition_list_add(parts, topic, p);
	req = rd_kafka_ListConsumerGroupOffsets_new(group, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, o, q);
	rd_kafka_ListConsumerGroupOffsets_destroy(req);
	rd_kafka_AdminOptions_destroy(o);
	ev = adm_wait(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT, step);
	if (ev == NULL)
		return;
	gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
	    rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
	l = adm_group_parts(gr, n, step);
	if (l != NULL) {
		int bad = 0;

		for (int p = 0; p < ADM_PARTS; p++) {
			const rd_kafka_topic_partition_t *tp = adm_find(l, topic, p);

			if (tp == NULL || tp->err != RD_KAFKA_RESP_ERR_NO_ERROR ||
			    tp->offset != want[p]) {
				adm_fail(step, "partition %d: %s offset %" PRId64 ", want %" PRId64,
				         p, tp == NULL ? "absent" : rd_kafka_err2name(tp->err),
				         tp == NULL ? -2 : tp->offset, want[p]);
				bad++;
			}
		}
		if (bad == 0)
			adm_ok(step);
	}
	rd_kafka_event_destroy(ev);
}

/* Commits offsets 5 and 6 to partitions 0 and 1 of GROUP; WANT: the error
 * expected for each partition. */
static void adm_alter_offsets(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *group,
                              const char *topic, rd_kafka_resp_err_t want, const char *step)
{
	rd_kafka_AdminOptions_t *o = adm_opts(rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
	rd_kafka_AlterConsumerGroupOffsets_t *req;
	rd_kafka_event_t *ev;
	const rd_kafka_group_result_t **gr;
	const rd_kafka_topic_partition_list_t *l;
	size_t n = 0;

	rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = 5;
	rd_kafka_topic_partition_list_add(parts, topic, 1)->offset = 6;
	req = rd_kafka_AlterConsumerGroupOffsets_new(group, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, o, q);
	rd_kafka_AlterConsumerGroupOffsets_destroy(req);
	rd_kafka_AdminOptions_destroy(o);
	ev = adm_wait(q, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT, step);
	if (ev == NULL)
		return;
	gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
	    rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
	l = adm_group_parts(gr, n, step);
	if (l != NULL) {
		int bad = 0;

		for (int i = 0; l != NULL && i < l->cnt; i++)
			if (l->elems[i].err != want) {
				adm_fail(step, "partition %d: %s, want %s", l->elems[i].partition,
				         rd_kafka_err2name(l->elems[i].err),
				         rd_kafka_err2name(want));
				bad++;
			}
		if (bad == 0 && l != NULL && l->cnt == 2)
			adm_ok(step);
		else if (bad == 0)
			adm_fail(step, "%d partitions answered", l == NULL ? 0 : l->cnt);
	}
	rd_kafka_event_destroy(ev);
}

static void adm_delete_offsets(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *group,
                               const char *topic)
{
	const char *step = "delete-group-offsets";
	rd_kafka_AdminOptions_t *o = adm_opts(rk, RD_KAFKA_ADMIN_OP_DELETECONSUMERGROUPOFFSETS);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_DeleteConsumerGroupOffsets_t *req;
	rd_kafka_event_t *ev;
	const rd_kafka_group_result_t **gr;
	const rd_kafka_topic_partition_list_t *l;
	size_t n = 0;

	rd_kafka_topic_partition_list_add(parts, topic, 2);
	req = rd_kafka_DeleteConsumerGroupOffsets_new(group, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_DeleteConsumerGroupOffsets(rk, &req, 1, o, q);
	rd_kafka_DeleteConsumerGroupOffsets_destroy(req);
	rd_kafka_AdminOptions_destroy(o);
	ev = adm_wait(q, RD_KAFKA_EVENT_DELETECONSUMERGROUPOFFSETS_RESULT, step);
	if (ev == NULL)
		return;
	gr = rd_kafka_DeleteConsumerGroupOffsets_result_groups(
	    rd_kafka_event_DeleteConsumerGroupOffsets_result(ev), &n);
	l = adm_group_parts(gr, n, step);
	if (l != NULL) {
		const rd_kafka_topic_partition_t *tp = adm_find(l, topic, 2);

		if (tp == NULL || tp->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			adm_fail(step, "partition 2: %s",
			         tp == NULL ? "absent" : rd_kafka_err2name(tp->err));
		else
			adm_ok(step);
	}
	rd_kafka_event_destroy(ev);
}

static void adm_delete_records(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *topic)
{
	const char *step = "delete-records";
	rd_kafka_AdminOptions_t *o = adm_opts(rk, RD_KAFKA_ADMIN_OP_DELETERECORDS);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_DeleteRecords_t *req;
	rd_kafka_event_t *ev;
	int64_t lo = -1, hi = -1;
	rd_kafka_resp_err_t err;

	rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = 3;
	req = rd_kafka_DeleteRecords_new(parts);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_DeleteRecords(rk, &req, 1, o, q);
	rd_kafka_DeleteRecords_destroy(req);
	rd_kafka_AdminOptions_destroy(o);
	ev = adm_wait(q, RD_KAFKA_EVENT_DELETERECORDS_RESULT, step);
	if (ev == NULL)
		return;
	{
		const rd_kafka_topic_partition_t *tp = adm_find(
		    rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev)),
		    topic, 0);

		if (tp == NULL || tp->err != RD_KAFKA_RESP_ERR_NO_ERROR || tp->offset != 3)
			adm_fail(step, "partition 0: %s low watermark %" PRId64,
			         tp == NULL ? "absent" : rd_kafka_err2name(tp->err),
			         tp == NULL ? -2 : tp->offset);
		else
			adm_ok(step);
	}
	rd_kafka_event_destroy(ev);
	err = rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, ADM_TIMEOUT_MS);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR || lo != 3 || hi != ADM_PER_PART)
		adm_fail("watermarks", "%s low %" PRId64 " high %" PRId64 ", want 3 and %d",
		         rd_kafka_err2name(err), lo, hi, ADM_PER_PART);
	else
		adm_ok("watermarks");
}

static void adm_offsets_for_times(rd_kafka_t *rk, const char *topic)
{
	const char *step = "offsets-for-times";
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(ADM_PARTS);
	rd_kafka_resp_err_t err;

	/* Message i of each partition has timestamp 1000 * (i + 1). */
	rd_kafka_topic_partition_list_add(parts, topic, 1)->offset = 4500;
	rd_kafka_topic_partition_list_add(parts, topic, 2)->offset = 1000 * (ADM_PER_PART + 5);
	err = rd_kafka_offsets_for_times(rk, parts, ADM_TIMEOUT_MS);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		adm_fail(step, "%s", rd_kafka_err2name(err));
	else if (parts->elems[0].offset != 4 || parts->elems[1].offset != RD_KAFKA_OFFSET_END)
		adm_fail(step, "offsets %" PRId64 " (%s) and %" PRId64 " (%s), want 4 and -1 (end)",
		         parts->elems[0].offset, rd_kafka_err2name(parts->elems[0].err),
		         parts->elems[1].offset, rd_kafka_err2name(parts->elems[1].err));
	else
		adm_ok(step);
	rd_kafka_topic_partition_list_destroy(parts);
}

/* The value of config NAME in resource RES, or NULL. */
static const char *adm_config_value(const rd_kafka_ConfigResource_t *res, const char *name)
{
	size_t n = 0;
	const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(res, &n);

	for (size_t i = 0; i < n; i++)
		if (strcmp(rd_kafka_ConfigEntry_name(ents[i]), name) == 0)
			return rd_kafka_ConfigEntry_value(ents[i]);
	return NULL;
}

static void adm_describe_config(rd_kafka_t *rk, rd_kafka_queue_t *q, rd_kafka_ResourceType_t type,
                                const char *name, const char *key, const char *want,
                                const char *step)
{
	rd_kafka_AdminOptions_t *o = adm_opts(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
	rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(type, name);
	rd_kafka_event_t *ev;
	const rd_kafka_ConfigResource_t **rs;
	size_t n = 0;

	rd_kafka_DescribeConfigs(rk, &res, 1, o, q);
	rd_kafka_ConfigResource_destroy(res);
	rd_kafka_AdminOptions_destroy(o);
	ev = adm_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, step);
	if (ev == NULL)
		return;
	rs = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev),
	                                               &n);
	if (n != 1 || rd_kafka_ConfigResource_error(rs[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		adm_fail(step, "%zu resources, %s", n,
		         n == 1 ? rd_kafka_err2name(rd_kafka_ConfigResource_error(rs[0])) : "-");
	} else {
		const char *v = adm_config_value(rs[0], key);

		if (v == NULL || (want != NULL && strcmp(v, want) != 0))
			adm_fail(step, "%s = %s, want %s", key, v == NULL ? "(absent)" : v,
			         want == NULL ? "a value" : want);
		else
			adm_ok(step);
	}
	rd_kafka_event_destroy(ev);
}

static void adm_alter_config(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *topic)
{
	const char *step = "alter-topic-config";
	rd_kafka_AdminOptions_t *o = adm_opts(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
	rd_kafka_ConfigResource_t *res =
	    rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
	rd_kafka_event_t *ev;
	const rd_kafka_ConfigResource_t **rs;
	size_t n = 0;

	rd_kafka_ConfigResource_set_config(res, "retention.ms", "3600000");
	rd_kafka_AlterConfigs(rk, &res, 1, o, q);
	rd_kafka_ConfigResource_destroy(res);
	rd_kafka_AdminOptions_destroy(o);
	ev = adm_wait(q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, step);
	if (ev == NULL)
		return;
	rs = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
	if (n != 1 || rd_kafka_ConfigResource_error(rs[0]) != RD_KAFKA_RESP_ERR_NO_ERROR)
		adm_fail(step, "%zu resources, %s", n,
		         n == 1 ? rd_kafka_err2name(rd_kafka_ConfigResource_error(rs[0])) : "-");
	else
		adm_ok(step);
	rd_kafka_event_destroy(ev);
}

static void adm_create_partitions(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *topic)
{
	const char *step = "create-partitions";
	rd_kafka_AdminOptions_t *o = adm_opts(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
	char err[256];
	rd_kafka_NewPartitions_t *np =
	    rd_kafka_NewPartitions_new(topic, ADM_PARTS + 1, err, sizeof(err));
	rd_kafka_event_t *ev;
	const rd_kafka_topic_result_t **tr;
	size_t n = 0;
	int parts = -1;
	rd_kafka_topic_t *t;

	rd_kafka_CreatePartitions(rk, &np, 1, o, q);
	rd_kafka_NewPartitions_destroy(np);
	rd_kafka_AdminOptions_destroy(o);
	ev = adm_wait(q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, step);
	if (ev == NULL)
		return;
	tr =
	    rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
	if (n != 1 || rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		adm_fail(step, "%zu results, %s", n,
		         n == 1 ? rd_kafka_topic_result_error_string(tr[0]) : "-");
		rd_kafka_event_destroy(ev);
		return;
	}
	rd_kafka_event_destroy(ev);
	/* Another broker may answer before it applied the change (as a Kafka
	 * broker's metadata cache lags the controller): allow it 10 s. */
	t = rd_kafka_topic_new(rk, topic, NULL);
	for (double end = adm_now() + 10; parts != ADM_PARTS + 1 && adm_now() < end;) {
		const struct rd_kafka_metadata *md = NULL;

		if (rd_kafka_metadata(rk, 0, t, &md, ADM_TIMEOUT_MS) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR) {
			parts = md->topic_cnt == 1 ? md->topics[0].partition_cnt : -1;
			rd_kafka_metadata_destroy(md);
		}
		if (parts != ADM_PARTS + 1) {
			struct timespec ts = {0, 20 * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
	}
	if (parts != ADM_PARTS + 1)
		adm_fail(step, "metadata lists %d partitions, want %d", parts, ADM_PARTS + 1);
	else
		adm_ok(step);
	rd_kafka_topic_destroy(t);
}

/* A broker without an authorizer answers every ACL call SECURITY_DISABLED. */
static void adm_acls(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *topic)
{
	char err[256];
	rd_kafka_AclBinding_t *b = rd_kafka_AclBinding_new(
	    RD_KAFKA_RESOURCE_TOPIC, topic, RD_KAFKA_RESOURCE_PATTERN_LITERAL, "User:alice", "*",
	    RD_KAFKA_ACL_OPERATION_READ, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, err, sizeof(err));
	rd_kafka_AclBindingFilter_t *f = rd_kafka_AclBindingFilter_new(
	    RD_KAFKA_RESOURCE_ANY, NULL, RD_KAFKA_RESOURCE_PATTERN_ANY, NULL, NULL,
	    RD_KAFKA_ACL_OPERATION_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ANY, err, sizeof(err));
	rd_kafka_AdminOptions_t *o;
	rd_kafka_event_t *ev;
	size_t n = 0;

	o = adm_opts(rk, RD_KAFKA_ADMIN_OP_CREATEACLS);
	rd_kafka_CreateAcls(rk, &b, 1, o, q);
	rd_kafka_AdminOptions_destroy(o);
	ev = rd_kafka_queue_poll(q, ADM_TIMEOUT_MS);
	if (ev == NULL || rd_kafka_event_type(ev) != RD_KAFKA_EVENT_CREATEACLS_RESULT) {
		adm_fail("create-acls", "no answer");
	} else {
		const rd_kafka_acl_result_t **r =
		    rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &n);
		const rd_kafka_error_t *e = n == 1 ? rd_kafka_acl_result_error(r[0]) : NULL;

		if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_SECURITY_DISABLED ||
		    (e != NULL && rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_SECURITY_DISABLED))
			adm_ok("create-acls");
		else
			adm_fail("create-acls", "event %s, result %s",
			         rd_kafka_err2name(rd_kafka_event_error(ev)),
			         e == NULL ? "none" : rd_kafka_error_name(e));
	}
	if (ev != NULL)
		rd_kafka_event_destroy(ev);

	o = adm_opts(rk, RD_KAFKA_ADMIN_OP_DESCRIBEACLS);
	rd_kafka_DescribeAcls(rk, f, o, q);
	rd_kafka_AdminOptions_destroy(o);
	ev = rd_kafka_queue_poll(q, ADM_TIMEOUT_MS);
	if (ev == NULL || rd_kafka_event_type(ev) != RD_KAFKA_EVENT_DESCRIBEACLS_RESULT) {
		adm_fail("describe-acls", "no answer");
	} else {
		rd_kafka_resp_err_t e = rd_kafka_event_error(ev);

		/* librdkafka 2.0 drops DescribeAcls' top-level error: no ACLs, no error. */
		rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev), &n);
		if ((e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_SECURITY_DISABLED) ||
		    n != 0)
			adm_fail("describe-acls", "%s, %zu ACLs", rd_kafka_err2name(e), n);
		else
			adm_ok("describe-acls");
	}
	if (ev != NULL)
		rd_kafka_event_destroy(ev);

	o = adm_opts(rk, RD_KAFKA_ADMIN_OP_DELETEACLS);
	rd_kafka_DeleteAcls(rk, &f, 1, o, q);
	rd_kafka_AdminOptions_destroy(o);
	ev = rd_kafka_queue_poll(q, ADM_TIMEOUT_MS);
	if (ev == NULL || rd_kafka_event_type(ev) != RD_KAFKA_EVENT_DELETEACLS_RESULT) {
		adm_fail("delete-acls", "no answer");
	} else {
		const rd_kafka_DeleteAcls_result_response_t **r =
		    rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ev), &n);
		const rd_kafka_error_t *e =
		    n == 1 ? rd_kafka_DeleteAcls_result_response_error(r[0]) : NULL;

		if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_SECURITY_DISABLED ||
		    (e != NULL && rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_SECURITY_DISABLED))
			adm_ok("delete-acls");
		else
			adm_fail("delete-acls", "event %s, result %s",
			         rd_kafka_err2name(rd_kafka_event_error(ev)),
			         e == NULL ? "none" : rd_kafka_error_name(e));
	}
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	rd_kafka_AclBinding_destroy(b);
	rd_kafka_AclBinding_destroy(f);
}

/* Deletes GROUP (WANT: the error expected for it). */
static void adm_delete_group(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *group,
                             rd_kafka_resp_err_t want, const char *step)
{
	rd_kafka_AdminOptions_t *o = adm_opts(rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
	rd_kafka_DeleteGroup_t *dg = rd_kafka_DeleteGroup_new(group);
	rd_kafka_event_t *ev;
	const rd_kafka_group_result_t **gr;
	size_t n = 0;

	rd_kafka_DeleteGroups(rk, &dg, 1, o, q);
	rd_kafka_DeleteGroup_destroy(dg);
	rd_kafka_AdminOptions_destroy(o);
	ev = adm_wait(q, RD_KAFKA_EVENT_DELETEGROUPS_RESULT, step);
	if (ev == NULL)
		return;
	gr = rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
	if (n != 1) {
		adm_fail(step, "%zu results", n);
	} else {
		const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[0]);
		rd_kafka_resp_err_t got =
		    e == NULL ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_error_code(e);

		if (got != want)
			adm_fail(step, "%s, want %s", rd_kafka_err2name(got),
			         rd_kafka_err2name(want));
		else
			adm_ok(step);
	}
	rd_kafka_event_destroy(ev);
}

static void adm_delete_topic(rd_kafka_t *rk, rd_kafka_queue_t *q, const char *topic)
{
	const char *step = "delete-topic";
	rd_kafka_AdminOptions_t *o = adm_opts(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
	rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
	rd_kafka_event_t *ev;
	const rd_kafka_topic_result_t **tr;
	size_t n = 0;

	rd_kafka_DeleteTopics(rk, &dt, 1, o, q);
	rd_kafka_DeleteTopic_destroy(dt);
	rd_kafka_AdminOptions_destroy(o);
	ev = adm_wait(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, step);
	if (ev == NULL)
		return;
	tr = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
	if (n != 1 || rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_NO_ERROR)
		adm_fail(step, "%zu results, %s", n,
		         n == 1 ? rd_kafka_topic_result_error_string(tr[0]) : "-");
	else
		adm_ok(step);
	rd_kafka_event_destroy(ev);
}

static void adm_cluster(rd_kafka_t *rk)
{
	char *id = rd_kafka_clusterid(rk, ADM_TIMEOUT_MS);
	int32_t ctl = rd_kafka_controllerid(rk, ADM_TIMEOUT_MS);

	if (id == NULL || id[0] == '\0' || ctl < 0)
		adm_fail("cluster", "cluster id %s, controller %" PRId32,
		         id == NULL ? "(none)" : id, ctl);
	else
		adm_ok("cluster");
	if (id != NULL)
		rd_kafka_mem_free(rk, id);
}

int main(int argc, char **argv)
{
	const char *brokers, *topic;
	char group[256], ctl[16];
	rd_kafka_t *rk, *member;
	rd_kafka_queue_t *q;
	const char *conf[][2] = {{"bootstrap.servers", NULL}, {NULL, NULL}};
	const int64_t all[ADM_PARTS] = {ADM_PER_PART, ADM_PER_PART, ADM_PER_PART};
	const int64_t altered[ADM_PARTS] = {5, 6, ADM_PER_PART};
	const int64_t deleted[ADM_PARTS] = {5, 6, RD_KAFKA_OFFSET_INVALID};

	if (argc != 3) {
		fprintf(stderr, "usage: %s BROKERS TOPIC\n", ADM_PROG);
		return 2;
	}
	brokers = argv[1];
	topic = argv[2];
	snprintf(group, sizeof(group), "%s-group", topic);
	conf[0][1] = brokers;
	rk = kb_rdk_producer_new(ADM_PROG, (const char *const(*)[2])conf, NULL, NULL);
	if (rk == NULL)
		return 1;
	q = rd_kafka_queue_new(rk);
	adm_cluster(rk);
	if (kb_rdk_topic_create(rk, ADM_PROG, topic, ADM_PARTS, ADM_TIMEOUT_MS, false) != 0 ||
	    adm_produce(brokers, topic) != 0) {
		adm_fail("setup", "topic or messages not created");
		goto out;
	}
	member = adm_group_member(brokers, group, topic);
	if (member != NULL) {
		adm_list_groups(rk, q, group, RD_KAFKA_CONSUMER_GROUP_STATE_STABLE,
		                "list-groups-stable");
		adm_describe_group(rk, q, group, topic, 1, "describe-group-stable");
		adm_list_offsets(rk, q, group, topic, all, "list-group-offsets");
		/* A live group's offsets belong to its members: an admin's commit is
		 * refused, as by Kafka. */
		adm_alter_offsets(rk, q, group, topic, RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID,
		                  "alter-live-group-offsets");
		adm_list_offsets(rk, q, group, topic, all, "list-group-offsets-unaltered");
		rd_kafka_consumer_close(member);
		rd_kafka_destroy(member);
		adm_list_groups(rk, q, group, RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY,
		                "list-groups-empty");
		adm_describe_group(rk, q, group, topic, 0, "describe-group-empty");
		adm_alter_offsets(rk, q, group, topic, RD_KAFKA_RESP_ERR_NO_ERROR,
		                  "alter-group-offsets");
		adm_list_offsets(rk, q, group, topic, altered, "list-group-offsets-altered");
		adm_delete_offsets(rk, q, group, topic);
		adm_list_offsets(rk, q, group, topic, deleted, "list-group-offsets-deleted");
	}
	adm_delete_records(rk, q, topic);
	adm_offsets_for_times(rk, topic);
	snprintf(ctl, sizeof(ctl), "%" PRId32, rd_kafka_controllerid(rk, ADM_TIMEOUT_MS));
	adm_describe_config(rk, q, RD_KAFKA_RESOURCE_BROKER, ctl, "broker.id", ctl,
	                    "describe-broker-config");
	adm_alter_config(rk, q, topic);
	adm_describe_config(rk, q, RD_KAFKA_RESOURCE_TOPIC, topic, "retention.ms", "3600000",
	                    "describe-topic-config");
	adm_create_partitions(rk, q, topic);
	adm_acls(rk, q, topic);
	adm_delete_group(rk, q, group, RD_KAFKA_RESP_ERR_NO_ERROR, "delete-group");
	adm_delete_group(rk, q, group, RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, "delete-group-again");
	adm_delete_topic(rk, q, topic);
out:
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	printf("result failed=%d\n", adm_failed);
	return adm_failed == 0 ? 0 : 1;
}
