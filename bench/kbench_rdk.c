/*
 * kbench_rdk.c: the librdkafka set-up shared by chronik-bench and the
 * rdk_e2e test client: configuration, producer and consumer creation, topic
 * creation, assignment of every partition of a topic.
 *
 * Owned by bench/. Each function prints one line on failure and cleans up
 * what it made; nothing here keeps state between calls.
 * Not for: message loops or statistics (the clients themselves).
 */
#include <errno.h>
#include <stdio.h>

#include "kbench_rdk.h"

int kb_rdk_conf_set(rd_kafka_conf_t *conf, const char *prog, const char *const (*kv)[2])
{
	char err[512];

	for (; (*kv)[0]; kv++) {
		if (!(*kv)[1])
			continue;
		if (rd_kafka_conf_set(conf, (*kv)[0], (*kv)[1], err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK) {
			fprintf(stderr, "%s: config %s=%s: %s\n", prog, (*kv)[0], (*kv)[1], err);
			return -EINVAL;
		}
	}
	return 0;
}

/* Makes a client of TYPE from CONF, which it consumes either way. */
static rd_kafka_t *kb_rdk_client_new(const char *prog, rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));

	if (!rk) {
		fprintf(stderr, "%s: %s: %s\n", prog,
		        type == RD_KAFKA_PRODUCER ? "producer" : "consumer", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

rd_kafka_t *kb_rdk_producer_new(const char *prog, const char *const (*kv)[2], kb_rdk_dr_cb_t *dr_cb,
                                void *opaque)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (kb_rdk_conf_set(conf, prog, kv) < 0) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_opaque(conf, opaque);
	return kb_rdk_client_new(prog, RD_KAFKA_PRODUCER, conf);
}

rd_kafka_t *kb_rdk_consumer_new(const char *prog, const char *brokers, const char *group,
                                const char *const (*extra)[2])
{
	const char *const kv[][2] = {{"bootstrap.servers", brokers},
	                             {"group.id", group},
	                             {"enable.auto.commit", "false"},
	                             {"enable.partition.eof", "true"},
	                             {NULL, NULL}};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	if (kb_rdk_conf_set(conf, prog, kv) < 0 ||
	    (extra && kb_rdk_conf_set(conf, prog, extra) < 0)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = kb_rdk_client_new(prog, RD_KAFKA_CONSUMER, conf);
	if (rk)
		rd_kafka_poll_set_consumer(rk);
	return rk;
}

/* Whether the answer EV of CreateTopics for TOPIC says it was created. */
static bool kb_rdk_topic_created(rd_kafka_event_t *ev, const char *prog, const char *topic,
                                 bool exists_ok)
{
	size_t n = 0;
	const rd_kafka_topic_result_t **res =
	    rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
	rd_kafka_resp_err_t err =
	    n == 1 ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;

	if (err == RD_KAFKA_RESP_ERR_NO_ERROR ||
	    (exists_ok && err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
		return true;
	fprintf(stderr, "%s: CreateTopics %s: %s\n", prog, topic,
	        n == 1 ? rd_kafka_topic_result_error_string(res[0]) : "no result");
	return false;
}

int kb_rdk_topic_create(rd_kafka_t *rk, const char *prog, const char *topic, int partitions,
                        int timeout_ms, bool exists_ok)
{
	char err[512];
	rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof(err));
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev = NULL;
	int r = -EIO;

	if (!nt) {
		fprintf(stderr, "%s: NewTopic %s: %s\n", prog, topic, err);
		goto out;
	}
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	ev = rd_kafka_queue_poll(q, timeout_ms);
	if (!ev || rd_kafka_event_error(ev)) {
		fprintf(stderr, "%s: CreateTopics: %s\n", prog,
		        ev ? rd_kafka_event_error_string(ev) : "timed out");
		goto out;
	}
	if (kb_rdk_topic_created(ev, prog, topic, exists_ok))
		r = 0;
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (nt)
		rd_kafka_NewTopic_destroy(nt);
	rd_kafka_queue_destroy(q);
	return r;
}

/* The partition count of TOPIC from Metadata, or -EIO. */
static int kb_rdk_partition_count(rd_kafka_t *rk, const char *topic)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	int n = -EIO;

	if (rd_kafka_metadata(rk, 0, rkt, &md, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
		n = md->topics[0].partition_cnt;
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return n;
}

int kb_rdk_assign_all(rd_kafka_t *rk, const char *prog, const char *topic, int64_t offset)
{
	int n = kb_rdk_partition_count(rk, topic);
	rd_kafka_topic_partition_list_t *tps;
	rd_kafka_resp_err_t err;

	if (n < 0) {
		fprintf(stderr, "%s: no metadata for topic %s\n", prog, topic);
		return n;
	}
	tps = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(tps, topic, p)->offset = offset;
	err = rd_kafka_assign(rk, tps);
	rd_kafka_topic_partition_list_destroy(tps);
	if (err) {
		fprintf(stderr, "%s: assign failed\n", prog);
		return -EIO;
	}
	return n;
}
