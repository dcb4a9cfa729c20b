/*
 * kfk_apis.h: the API versions this broker implements and advertises.
 *
 * Owned by kafka-frontend (pure). ApiVersions lists exactly this table, and
 * the dispatcher serves exactly it: a request for any other key or version
 * closes the connection (as Kafka does; kafka-python's version probe relies
 * on that), except ApiVersions itself, answered with UNSUPPORTED_VERSION and
 * the table (KIP-511). Ranges were chosen from
 * /work/shared/kafka-protocol/CLIENTS.md: every range includes what
 * librdkafka 2.0.2, kafka-python 2.0.2, kafkajs and sarama send, and the
 * minimums librdkafka's feature probes need (Produce 3 + Fetch 4 for
 * record batch v2, Produce 7 + Fetch 10 for zstd). Produce starts at v0
 * although only record batch v2 is stored: librdkafka compresses with
 * gzip, snappy or lz4 only when the broker lists Produce v0 (and lz4 only
 * when it lists FindCoordinator v0). FindCoordinator stops at v4: v5 and
 * v6 promise error codes and share groups this broker does not have
 * (kfk_coord_core.h). A v0-v2 request carrying an old message format (magic 0
 * or 1) gets UNSUPPORTED_FOR_MESSAGE_FORMAT for that partition.
 * Not for: decoding (protocol/), handlers.
 */
#ifndef KFK_APIS_H
#define KFK_APIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kfk_msgs.h"

typedef struct {
	int16_t api_key;
	int16_t min_version;
	int16_t max_version;
} kfk_api_range_t;

/* Authorized operations, answered when a client asks for them (Metadata
 * v8+, DescribeCluster, DescribeGroups v3+): Kafka's AclOperation codes as
 * bits. With no authorizer every client may do everything a resource type
 * supports, and that is what Kafka answers without one: READ, WRITE,
 * CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS and ALTER_CONFIGS on a
 * topic; READ, DELETE and DESCRIBE on a group; CREATE, ALTER, DESCRIBE,
 * CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS and IDEMPOTENT_WRITE on
 * the cluster. */
#define KFK_OPS_TOPIC   0x0df8
#define KFK_OPS_GROUP   0x0148
#define KFK_OPS_CLUSTER 0x1fa0

/* Whether S is a client software name or version KIP-511 allows (ApiVersions
 * v3+): letters, digits, '-' and '.', starting and ending with a letter or
 * digit. */
bool kfk_apis_software_ok(const char *s, size_t len);

/* The advertised table, ascending by key; *RET_N gets its length. */
const kfk_api_range_t *kfk_apis_table(size_t *ret_n);

/* The advertised range of API_KEY, or NULL when not served. */
const kfk_api_range_t *kfk_apis_find(int16_t api_key);

/* Whether API_KEY at VERSION is served. */
bool kfk_apis_supported(int16_t api_key, int16_t version);

/* Fills RESP (initialised by the caller) with ERROR_CODE and the table;
 * ITEMS must have room for the table's length (the response borrows it). */
void kfk_apis_fill_response(kfk_api_versions_response_t *resp, int16_t error_code,
                            kfk_api_versions_response_api_version_t *items);

#endif
