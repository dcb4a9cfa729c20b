/*
 * kbench_rdk.h: the librdkafka set-up shared by the Kafka clients of the
 * project: chronik-bench (bench/chronik-bench.c) and the end-to-end test
 * client rdk_e2e (tests/integration/kafka/rdk_e2e.c).
 *
 * Owned by bench/. Built only when librdkafka-dev is installed. Every
 * function reports a failure on stderr once, as "PROG: what: why", and
 * returns an error; callers only decide what the failure means for them.
 * Needs nothing but libc and librdkafka (not libck), so test clients link
 * it alone.
 * Not for: producing, consuming or counting (each client has its own
 * loop and its own idea of success).
 */
#ifndef KBENCH_RDK_H
#define KBENCH_RDK_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* librdkafka's delivery-report callback. */
typedef void kb_rdk_dr_cb_t(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/*
 * Applies KV to CONF: {key, value} pairs ended by a NULL key; a pair whose
 * value is NULL is skipped (librdkafka's default stays).
 * Returns 0, or -EINVAL after printing "PROG: config K=V: why" for the
 * first pair librdkafka refuses (the pairs before it are set).
 */
int kb_rdk_conf_set(rd_kafka_conf_t *conf, const char *prog, const char *const (*kv)[2]);

/*
 * A producer configured with KV (as kb_rdk_conf_set) whose delivery reports
 * go to DR_CB with OPAQUE. Returns NULL after printing why.
 */
rd_kafka_t *kb_rdk_producer_new(const char *prog, const char *const (*kv)[2], kb_rdk_dr_cb_t *dr_cb,
                                void *opaque);

/*
 * A consumer of BROKERS in group GROUP that commits nothing and reports the
 * end of each partition (RD_KAFKA_RESP_ERR__PARTITION_EOF), already
 * redirected so that rd_kafka_consumer_poll() serves it; EXTRA (NULL or a
 * list as kb_rdk_conf_set takes) is set after those. Close it with
 * rd_kafka_consumer_close() and rd_kafka_destroy(). Returns NULL after
 * printing why.
 */
rd_kafka_t *kb_rdk_consumer_new(const char *prog, const char *brokers, const char *group,
                                const char *const (*extra)[2]);

/*
 * Creates TOPIC with PARTITIONS partitions and replication factor 1 through
 * client RK, waiting up to TIMEOUT_MS for the answer. With EXISTS_OK a
 * topic that exists already counts as created.
 * Returns 0, or -EIO after printing why (refused, timed out).
 */
int kb_rdk_topic_create(rd_kafka_t *rk, const char *prog, const char *topic, int partitions,
                        int timeout_ms, bool exists_ok);

/*
 * Assigns every partition of TOPIC (from Metadata, waiting up to 30 s) to
 * consumer RK, starting at OFFSET (RD_KAFKA_OFFSET_BEGINNING or _END).
 * Returns the partition count (> 0), or -EIO after printing why (no
 * metadata, no partitions, assign refused).
 */
int kb_rdk_assign_all(rd_kafka_t *rk, const char *prog, const char *topic, int64_t offset);

#endif /* KBENCH_RDK_H */
