/*
 * kfk_topic_cfg.h: the topic configuration keys chronik implements, their
 * defaults, validation and effective values.
 *
 * Owned by kafka-frontend (pure: no I/O, no logging). Supported keys:
 *   retention.ms (LONG >= -1), retention.bytes (LONG >= -1),
 *   segment.bytes (INT >= 1024), max.message.bytes (INT, 1 .. the IPC frame
 *   limit minus 64 KiB), min.insync.replicas (INT >= 1),
 *   cleanup.policy (LIST of delete, compact: "compact" keeps every record
 *   -- no log is compacted yet, which Kafka's contract allows, since by
 *   default (max.compaction.lag.ms unbounded) it promises no time by which
 *   compaction runs -- and, without "delete", turns retention off, as
 *   Kafka's compacted topics never drop records by age or size),
 *   message.timestamp.type (CreateTime | LogAppendTime),
 *   message.timestamp.before.max.ms, message.timestamp.after.max.ms (LONG
 *   >= 0: how far a CreateTime record's timestamp may lie before or after
 *   the broker's clock; each falls back to the deprecated
 *   message.timestamp.difference.max.ms while at its default, as in Kafka),
 *   segment.ms (LONG >= 1: the active segment rolls at this age),
 *   index.interval.bytes (INT >= 0: bytes between offset index entries).
 * Kafka's other topic keys are accepted, checked as Kafka checks them,
 * stored and described, where what they ask for already holds here:
 *   flush.messages, flush.ms (every append is on disk before it is
 *   acknowledged, sooner than any setting asks), delete.retention.ms,
 *   min.compaction.lag.ms, min.cleanable.dirty.ratio (lower bounds and
 *   tuning of compaction, which keeping every record satisfies),
 *   max.compaction.lag.ms only its default (unbounded), file.delete.delay.ms,
 *   segment.index.bytes, segment.jitter.ms, preallocate (file handling
 *   no client can see), message.downconversion.enable (only RecordBatch v2
 *   is served: nothing is down-converted), message.format.version (Kafka
 *   ignores it from 3.0 on), leader.replication.throttled.replicas and
 *   follower.replication.throttled.replicas ("*" or partition:broker
 *   pairs, at most KFK_TCFG_VALUE_MAX - 1 bytes: nothing is throttled),
 *   local.retention.ms, local.retention.bytes (LONG >= -2: with no remote
 *   storage every segment is local);
 *   remote.storage.enable only false (there is no tiered storage),
 *   compression.type only "producer" (batches are kept as the producer
 *   compressed them) and unclean.leader.election.enable only false (an
 *   unclean election is never made): another value is INVALID_CONFIG with
 *   a message saying so rather than a setting silently not honoured.
 * Any other key is INVALID_CONFIG, as Kafka answers for unknown topic
 * configs. Numbers are stored normalised (plain decimal), so what
 * DescribeConfigs shows is what the log uses. Defaults come from the node
 * configuration ([wal] section) through kfk_tcfg_defaults_from_config().
 *
 * A topic's own settings live in a kfk_tcfg_set_t (the keys set on the
 * topic, as the TopicRecord stores them); kfk_tcfg_effective() merges them
 * with the defaults.
 * Not for: reading or writing LMDB (the shell converts records), broker
 * configs (kfk_h_configs.c).
 */
#ifndef KFK_TOPIC_CFG_H
#define KFK_TOPIC_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_config.h"
#include "kfk_types.h"

typedef enum {
	KFK_TCFG_CLEANUP_POLICY = 0,
	KFK_TCFG_COMPRESSION_TYPE,
	KFK_TCFG_DELETE_RETENTION_MS,
	KFK_TCFG_FILE_DELETE_DELAY_MS,
	KFK_TCFG_FLUSH_MESSAGES,
	KFK_TCFG_FLUSH_MS,
	KFK_TCFG_FOLLOWER_REPLICATION_THROTTLED_REPLICAS,
	KFK_TCFG_INDEX_INTERVAL_BYTES,
	KFK_TCFG_LEADER_REPLICATION_THROTTLED_REPLICAS,
	KFK_TCFG_LOCAL_RETENTION_BYTES,
	KFK_TCFG_LOCAL_RETENTION_MS,
	KFK_TCFG_MAX_COMPACTION_LAG_MS,
	KFK_TCFG_MAX_MESSAGE_BYTES,
	KFK_TCFG_MESSAGE_DOWNCONVERSION_ENABLE,
	KFK_TCFG_MESSAGE_FORMAT_VERSION,
	KFK_TCFG_MESSAGE_TIMESTAMP_AFTER_MAX_MS,
	KFK_TCFG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS,
	KFK_TCFG_MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS,
	KFK_TCFG_MESSAGE_TIMESTAMP_TYPE,
	KFK_TCFG_MIN_CLEANABLE_DIRTY_RATIO,
	KFK_TCFG_MIN_COMPACTION_LAG_MS,
	KFK_TCFG_MIN_INSYNC_REPLICAS,
	KFK_TCFG_PREALLOCATE,
	KFK_TCFG_REMOTE_STORAGE_ENABLE,
	KFK_TCFG_RETENTION_BYTES,
	KFK_TCFG_RETENTION_MS,
	KFK_TCFG_SEGMENT_BYTES,
	KFK_TCFG_SEGMENT_INDEX_BYTES,
	KFK_TCFG_SEGMENT_JITTER_MS,
	KFK_TCFG_SEGMENT_MS,
	KFK_TCFG_UNCLEAN_LEADER_ELECTION_ENABLE,
	KFK_TCFG_COUNT,
} kfk_tcfg_key_t;

/* DescribeConfigs config_type values (v3+). */
enum {
	KFK_CFG_TYPE_UNKNOWN = 0,
	KFK_CFG_TYPE_BOOLEAN = 1,
	KFK_CFG_TYPE_STRING = 2,
	KFK_CFG_TYPE_INT = 3,
	KFK_CFG_TYPE_SHORT = 4,
	KFK_CFG_TYPE_LONG = 5,
	KFK_CFG_TYPE_DOUBLE = 6,
	KFK_CFG_TYPE_LIST = 7,
};

/* DescribeConfigs config_source values (v1+). */
enum {
	KFK_CFG_SOURCE_UNKNOWN = 0,
	KFK_CFG_SOURCE_DYNAMIC_TOPIC = 1,
	KFK_CFG_SOURCE_DYNAMIC_BROKER = 2,
	KFK_CFG_SOURCE_DYNAMIC_DEFAULT_BROKER = 3,
	KFK_CFG_SOURCE_STATIC_BROKER = 4,
	KFK_CFG_SOURCE_DEFAULT = 5,
};

/* Longest stored value (with its NUL). */
#define KFK_TCFG_VALUE_MAX 32
/* The smallest segment.bytes accepted (the node config's lower bound). */
#define KFK_TCFG_SEGMENT_BYTES_MIN 1024

typedef struct {
	const char *name;        /* "retention.ms" */
	const char *broker_name; /* the broker default's name: "log.retention.ms" */
	int8_t type;             /* KFK_CFG_TYPE_* */
	const char *doc;
	/* Numbers: the accepted range (a DOUBLE's too). */
	int64_t min, max;
	/* The default when it is not the node's: Kafka's. */
	const char *fixed_default;
} kfk_tcfg_info_t;

/* Node-wide defaults and limits. */
typedef struct {
	int64_t retention_ms;
	int64_t retention_bytes;
	int64_t segment_bytes;
	int64_t segment_ms;
	int32_t index_interval_bytes;
	int32_t max_message_bytes;
	int32_t max_message_bytes_limit; /* largest max.message.bytes accepted */
	int32_t min_insync_replicas;
	int8_t compression; /* compression.type: as kfk_tcfg_t's */
} kfk_tcfg_defaults_t;

/* The keys set on one topic, values normalised. */
typedef struct {
	bool present[KFK_TCFG_COUNT];
	char value[KFK_TCFG_COUNT][KFK_TCFG_VALUE_MAX];
} kfk_tcfg_set_t;

/* A topic's effective configuration. */
typedef struct {
	int64_t retention_ms;
	int64_t retention_bytes;
	int64_t segment_bytes;
	int32_t max_message_bytes;
	int32_t min_insync_replicas;
	bool log_append_time;
	/* compression.type: -1 producer (batches kept as sent), else the codec
	 * every batch is stored with (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd:
	 * ck_config_codec_parse()). */
	int8_t compression;
#define KFK_CODEC_ZSTD 4
	int64_t ts_before_max_ms; /* CreateTime records: how old, at most */
	int64_t ts_after_max_ms;  /* ... and how far in the future */
	bool compact;       /* cleanup.policy lists compact */
	bool delete_policy; /* ... lists delete (the default): retention applies */
} kfk_tcfg_t;

const kfk_tcfg_info_t *kfk_tcfg_info(kfk_tcfg_key_t key);

/* The key named NAME, or -1 when chronik does not implement it. */
int kfk_tcfg_lookup(kfk_str_t name);

/* Whether KEY's default comes from a node configuration key the operator
 * set ([wal] retention_ms for retention.ms, ...): Kafka's
 * STATIC_BROKER_CONFIG source, against DEFAULT_CONFIG. */
bool kfk_tcfg_node_set(const ck_config_t *cfg, kfk_tcfg_key_t key);
void kfk_tcfg_defaults_from_config(const ck_config_t *cfg, kfk_tcfg_defaults_t *ret);

/* An empty set. */
void kfk_tcfg_set_init(kfk_tcfg_set_t *s);

/*
 * Validates and stores NAME = VALUE in S. Returns KFK_ERR_NONE, or
 * KFK_ERR_INVALID_CONFIG with a message in MSG (MSG_LEN bytes, may be 0)
 * for an unknown key, a null or malformed value, or one out of range; S is
 * unchanged on failure.
 */
int16_t kfk_tcfg_set_put(kfk_tcfg_set_t *s, const kfk_tcfg_defaults_t *d, kfk_str_t name,
                         kfk_str_t value, char *msg, size_t msg_len);

/* Removes KEY from S (a no-op when absent). */
void kfk_tcfg_set_del(kfk_tcfg_set_t *s, kfk_tcfg_key_t key);

/*
 * IncrementalAlterConfigs APPEND (APPEND true) or SUBTRACT of VALUE's list
 * items on the list key KEY (to or from the topic's value, else the
 * default). Returns as kfk_tcfg_set_put(); a non-list key
 * is INVALID_CONFIG. The resulting list must itself be valid; an empty list
 * after SUBTRACT removes the key (back to the default).
 */
int16_t kfk_tcfg_set_list_op(kfk_tcfg_set_t *s, const kfk_tcfg_defaults_t *d, kfk_tcfg_key_t key,
                             bool append, kfk_str_t value, char *msg, size_t msg_len);

/* The effective configuration of a topic whose own settings are S. */
void kfk_tcfg_effective(const kfk_tcfg_set_t *s, const kfk_tcfg_defaults_t *d, kfk_tcfg_t *ret);

/* The default value of KEY as text, into BUF. */
void kfk_tcfg_default_str(const kfk_tcfg_defaults_t *d, kfk_tcfg_key_t key, char *buf, size_t len);

#endif
