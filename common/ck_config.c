/*
 * ck_config.c: loading cluster.toml (ck_config.h).
 *
 * Owned by libck; every process loads the same file. One table, ck_cfg_keys,
 * defines each key once (table, key, type, field, range): the file parser,
 * the CHRONIK_<TABLE>_<KEY> environment overrides and the error messages all
 * read it. The file is a TOML subset parsed with libinih: a reader callback
 * lexes each line first (comments, "strings" with escapes, [table] headers),
 * hands inih a normalised "key = value" line in which a string literal is
 * replaced by one marker byte, and keeps the decoded string aside for the
 * handler. That keeps inih's own quirks (';' comments, continuation lines,
 * the 200-byte line buffer) away from user text.
 *
 * Not for: command-line flags (chronik-server), runtime reconfiguration.
 */
#include "ck_config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "ck_err.h"
#include "ck_log.h"

/* Stands in for a string literal in the line handed to inih. */
#define CK_CFG_STR_MARK '\x01'
#define CK_CFG_STR_MAX (CK_CONFIG_PATH_MAX + CK_CONFIG_WRAPPER_MAX)
#define CK_CFG_FILE_MAX (1 << 20)

static const ck_wal_profile_info_t ck_wal_profiles[] = {
	[CK_WAL_PROFILE_ULTRA] = {"ultra", 0, 256u << 10, 256},
	[CK_WAL_PROFILE_HIGH] = {"high", 0, 1u << 20, 1024},
	[CK_WAL_PROFILE_MEDIUM] = {"medium", 250, 4u << 20, 4096},
	[CK_WAL_PROFILE_LOW] = {"low", 1000, 16u << 20, 16384},
};

static const char *const ck_child_names[CK_CHILD_COUNT] = {
	[CK_CHILD_WALWRITER] = "walwriter",
	[CK_CHILD_RAFTD] = "raftd",
	[CK_CHILD_REPLICATOR] = "replicator",
	[CK_CHILD_KAFKA_FRONTEND] = "kafka-frontend",
};

const ck_wal_profile_info_t *ck_wal_profile_info(ck_wal_profile_t p)
{
	if ((unsigned)p >= CK_ARRAY_LEN(ck_wal_profiles))
		return NULL;
	return &ck_wal_profiles[p];
}

static const char *const ck_codec_names[] = {"producer", "uncompressed", "gzip",
                                             "snappy",   "lz4",          "zstd"};

int ck_config_codec_parse(const char *name)
{
	for (size_t i = 0; i < CK_ARRAY_LEN(ck_codec_names); i++)
		if (!strcmp(name, ck_codec_names[i]))
			return (int)i - 1;
	return -2;
}

const char *ck_config_codec_name(int codec)
{
	return codec >= -1 && codec <= 4 ? ck_codec_names[codec + 1] : "producer";
}

int ck_wal_profile_parse(const char *name)
{
	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < CK_ARRAY_LEN(ck_wal_profiles); i++)
		if (!strcasecmp(name, ck_wal_profiles[i].name))
			return (int)i;
	return -EINVAL;
}

const char *ck_child_name(ck_child_t c)
{
	if ((unsigned)c >= CK_CHILD_COUNT)
		return "unknown";
	return ck_child_names[c];
}

const char ck_config_default_toml[] =
    "# chronik: embedded single-node configuration (the built-in defaults).\n"
    "# Every key is optional. CHRONIK_<TABLE>_<KEY> environment variables\n"
    "# override file values, e.g. CHRONIK_WAL_PROFILE=low.\n"
    "\n"
    "[node]\n"
    "id = 1                          # this node's id (>= 1), unique in the cluster\n"
    "cluster_id = \"chronik\"          # shared by every node of one cluster\n"
    "data_dir = \"./data\"             # segments, metadata, run/ sockets\n"
    "\n"
    "[listeners]\n"
    "kafka = \"127.0.0.1:9092\"        # Kafka protocol\n"
    "kafka_advertised = \"\"           # given to clients (\"\" = kafka)\n"
    "replication = \"127.0.0.1:9291\"  # follower fetch between nodes\n"
    "raft = \"127.0.0.1:5001\"         # Raft between nodes\n"
    "admin = \"127.0.0.1:9644\"        # admin HTTP\n"
    "\n"
    "[wal]\n"
    "profile = \"high\"                # group commit: ultra|high|medium|low\n"
    "segment_bytes = 1_073_741_824   # roll a segment at this size (1 GiB)\n"
    "segment_ms = 604_800_000        # ... or at this age (7 days)\n"
    "retention_bytes = -1            # per partition; -1 = unlimited\n"
    "retention_ms = 604_800_000      # 7 days; -1 = unlimited\n"
    "index_interval_bytes = 4096     # bytes between .index entries\n"
    "max_message_bytes = 1_048_588   # largest record batch accepted\n"
    "preallocate_bytes = 8_388_608   # zero-filled ahead of the writes (8 MiB)\n"
    "checkpoint_interval_ms = 1000   # recovery point checkpoints\n"
    "retention_check_ms = 60_000     # how often retention runs\n"
    "\n"
    "[replication]\n"
    "replica_lag_time_max_ms = 30_000  # a follower behind this long leaves the ISR\n"
    "\n"
    "[supervisor]\n"
    "restart_backoff_initial_ms = 100   # first restart delay\n"
    "restart_backoff_max_ms = 5000      # cap of the doubling delay\n"
    "restart_stable_ms = 10_000         # uptime that resets the backoff\n"
    "restart_burst = 30                 # crashes allowed ...\n"
    "restart_window_ms = 60_000         # ... within this window\n"
    "stop_timeout_ms = 10_000           # SIGTERM -> SIGKILL\n"
    "ready_timeout_ms = 30_000          # a child must be ready within\n"
    "watchdog_ms = 0                    # 0 = from WATCHDOG_USEC\n"
    "hang_kill_ms = 30_000              # a child silent this long is killed (0 = never)\n"
    "sched_batch = true                 # children under SCHED_BATCH (sched(7))\n"
    "\n"
    "[wrapper]                          # command prefixes, e.g. \"perf record -g\"\n"
    "walwriter = \"\"\n"
    "raftd = \"\"\n"
    "replicator = \"\"\n"
    "kafka-frontend = \"\"\n"
    "\n"
    "[log]\n"
    "level = \"info\"                   # debug|info|warn|error\n"
    "file = \"\"                        # \"\" = stderr\n"
    "\n"
    "[metadata]\n"
    "commit = \"quorum\"                # quorum|leader (leader may lose writes)\n"
    "snapshot_entries = 100_000       # raftd snapshots every this many applied entries\n"
    "compact_keep = 0                 # log entries kept below a snapshot\n"
    "                                 # (0 = snapshot_entries / 10)\n"
    "broker_session_ms = 4000         # a broker silent this long is fenced\n"
    "auto_leader_rebalance = true     # leaders move back to preferred replicas\n"
    "leader_imbalance_check_ms = 300_000  # ... checked this often\n"
    "leader_imbalance_percent = 10    # ... for a broker whose preferred partitions\n"
    "                                 # are led elsewhere beyond this percentage\n"
    "\n"
    "[ipc]\n"
    "frame_max_bytes = 134_217_728     # largest IPC frame (128 MiB)\n"
    "\n"
    "[kafka]                            # the Kafka frontend\n"
    "max_request_bytes = 104_857_600   # largest request (socket.request.max.bytes)\n"
    "idle_timeout_ms = 600_000         # close idle connections; 0 = never\n"
    "auto_create_topics_enable = true  # Metadata requests create unknown topics\n"
    "num_partitions = 1                # partitions of a topic created without a count\n"
    "default_replication_factor = 1    # replicas of a topic created without a factor\n"
    "request_timeout_ms = 30_000       # admin requests without a usable timeout\n"
    "max_inflight_requests = 256       # per connection, before reading pauses\n"
    "max_queued_response_bytes = 67_108_864  # per connection, before reading pauses\n"
    "max_inflight_request_bytes = 16_777_216 # per connection: request bytes in flight\n"
    "queued_max_request_bytes = 536_870_912  # all connections' large requests in memory\n"
    "queued_max_response_bytes = 536_870_912 # all connections' answers in memory\n"
    "drain_timeout_ms = 5000           # on stop, answer requests in flight this long\n"
    "group_min_session_timeout_ms = 6000      # consumer group session timeouts allowed\n"
    "group_max_session_timeout_ms = 1_800_000\n"
    "group_initial_rebalance_delay_ms = 0     # a new group's first join phase waits this\n"
    "group_max_size = 1000                    # members per consumer group\n"
    "compression_type = \"producer\"          # topics' default compression.type: producer\n"
    "                                         # (as sent) or uncompressed|gzip|snappy|lz4|zstd\n"
    "offsets_retention_ms = 604_800_000       # committed offsets of a group without\n"
    "                                         # members expire after this (0: never)\n"
    "offsets_retention_check_interval_ms = 600_000\n"
    "\n"
    "# Other nodes of a cluster, one table per node id (including this one):\n"
    "# [peer.2]\n"
    "# raft = \"10.0.0.2:5001\"\n"
    "# replication = \"10.0.0.2:9291\"\n"
    "# kafka = \"10.0.0.2:9092\"\n";

void ck_config_defaults(ck_config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->node_id = 1;
	snprintf(cfg->cluster_id, sizeof(cfg->cluster_id), "chronik");
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./data");
	snprintf(cfg->kafka_listen, sizeof(cfg->kafka_listen), "127.0.0.1:9092");
	snprintf(cfg->replication_listen, sizeof(cfg->replication_listen), "127.0.0.1:9291");
	snprintf(cfg->raft_listen, sizeof(cfg->raft_listen), "127.0.0.1:5001");
	snprintf(cfg->admin_listen, sizeof(cfg->admin_listen), "127.0.0.1:9644");
	cfg->wal_profile = CK_WAL_PROFILE_HIGH;
	cfg->segment_bytes = 1LL << 30;
	cfg->segment_ms = 7LL * 24 * 3600 * 1000;
	cfg->retention_bytes = -1;
	cfg->retention_ms = 7LL * 24 * 3600 * 1000;
	cfg->index_interval_bytes = 4096;
	cfg->max_message_bytes = 1048588;
	cfg->preallocate_bytes = 8LL << 20;
	cfg->checkpoint_interval_ms = 1000;
	cfg->replica_lag_time_max_ms = 30000;
	cfg->retention_check_ms = 60000;
	cfg->restart_backoff_initial_ms = 100;
	cfg->restart_backoff_max_ms = 5000;
	cfg->restart_stable_ms = 10000;
	cfg->restart_burst = 30;
	cfg->restart_window_ms = 60000;
	cfg->stop_timeout_ms = 10000;
	cfg->ready_timeout_ms = 30000;
	cfg->watchdog_ms = 0;
	cfg->hang_kill_ms = 30000;
	cfg->sched_batch = true;
	cfg->log_level = CK_LOG_INFO;
	cfg->metadata_commit_leader = false;
	cfg->metadata_snapshot_entries = 100000;
	cfg->metadata_compact_keep = 0;
	cfg->metadata_broker_session_ms = 4000;
	cfg->metadata_auto_leader_rebalance = true;
	cfg->metadata_leader_imbalance_check_ms = 300000;
	cfg->metadata_leader_imbalance_percent = 10;
	cfg->ipc_frame_max_bytes = 128 << 20;
	cfg->kafka_max_request_bytes = 100 << 20;
	cfg->kafka_idle_timeout_ms = 10 * 60 * 1000;
	cfg->kafka_auto_create_topics = true;
	cfg->kafka_num_partitions = 1;
	cfg->kafka_default_replication_factor = 1;
	cfg->kafka_request_timeout_ms = 30000;
	cfg->kafka_max_inflight_requests = 256;
	cfg->kafka_max_queued_response_bytes = 64 << 20;
	cfg->kafka_max_response_bytes = 100 << 20;
	cfg->kafka_max_inflight_request_bytes = (int64_t)16 << 20;
	cfg->kafka_queued_max_request_bytes = (int64_t)512 << 20;
	cfg->kafka_queued_max_response_bytes = (int64_t)512 << 20;
	cfg->kafka_drain_timeout_ms = 5000;
	cfg->kafka_group_min_session_ms = 6000;
	cfg->kafka_group_max_session_ms = 1800000;
	cfg->kafka_group_initial_delay_ms = 0;
	cfg->kafka_group_max_size = 1000;
	cfg->kafka_compression_type = -1;
	cfg->kafka_offsets_retention_ms = (int64_t)7 * 24 * 3600 * 1000;
	cfg->kafka_offsets_check_ms = 600000;
}

/* ---- the key table ---------------------------------------------------- */

typedef enum {
	CK_CFG_I32,
	CK_CFG_I64,
	CK_CFG_BOOL,
	CK_CFG_STR,      /* MIN = shortest length allowed */
	CK_CFG_ADDR,     /* host:port, port in MIN..MAX */
	CK_CFG_ADDR_OPT, /* as CK_CFG_ADDR, or "" */
	CK_CFG_PROFILE,  /* ck_wal_profile_t */
	CK_CFG_LEVEL,    /* int32_t holding a ck_log_level_t */
	CK_CFG_COMMIT,   /* bool: "leader" = true, "quorum" = false */
	CK_CFG_CODEC,    /* int32_t: -1 "producer", else Kafka's codec number */
} ck_cfg_type_t;

typedef struct {
	const char *table;
	const char *key;
	ck_cfg_type_t type;
	size_t off;  /* in ck_config_t (ck_config_peer_t for peer keys) */
	size_t size; /* of the field */
	int64_t min;
	int64_t max;
} ck_cfg_key_t;

#define CK_CFG_KEY(t, k, ty, field, mn, mx)                                                 \
	{ t, k, ty, offsetof(ck_config_t, field), sizeof(((ck_config_t *)0)->field), mn, mx }
#define CK_CFG_PEER_KEY(k, field)                                                            \
	{ "peer", k, CK_CFG_ADDR, offsetof(ck_config_peer_t, field),                         \
	  sizeof(((ck_config_peer_t *)0)->field), 1, 65535 }

static const ck_cfg_key_t ck_cfg_keys[] = {
    CK_CFG_KEY("node", "id", CK_CFG_I32, node_id, 1, INT32_MAX),
    CK_CFG_KEY("node", "cluster_id", CK_CFG_STR, cluster_id, 1, 0),
    CK_CFG_KEY("node", "data_dir", CK_CFG_STR, data_dir, 1, 0),
    CK_CFG_KEY("listeners", "kafka", CK_CFG_ADDR, kafka_listen, 1, 65535),
    CK_CFG_KEY("listeners", "kafka_advertised", CK_CFG_ADDR_OPT, kafka_advertised, 1, 65535),
    CK_CFG_KEY("listeners", "replication", CK_CFG_ADDR, replication_listen, 1, 65535),
    CK_CFG_KEY("listeners", "raft", CK_CFG_ADDR, raft_listen, 1, 65535),
    CK_CFG_KEY("listeners", "admin", CK_CFG_ADDR, admin_listen, 1, 65535),
    CK_CFG_KEY("wal", "profile", CK_CFG_PROFILE, wal_profile, 0, 0),
    CK_CFG_KEY("wal", "segment_bytes", CK_CFG_I64, segment_bytes, 1024, INT32_MAX),
    CK_CFG_KEY("wal", "segment_ms", CK_CFG_I64, segment_ms, 1, INT64_MAX),
    CK_CFG_KEY("wal", "retention_bytes", CK_CFG_I64, retention_bytes, -1, INT64_MAX),
    CK_CFG_KEY("wal", "retention_ms", CK_CFG_I64, retention_ms, -1, INT64_MAX),
    CK_CFG_KEY("wal", "index_interval_bytes", CK_CFG_I32, index_interval_bytes, 0, INT32_MAX),
    CK_CFG_KEY("wal", "max_message_bytes", CK_CFG_I32, max_message_bytes, 1, INT32_MAX),
    CK_CFG_KEY("wal", "preallocate_bytes", CK_CFG_I64, preallocate_bytes, 0, 1LL << 30),
    CK_CFG_KEY("wal", "checkpoint_interval_ms", CK_CFG_I32, checkpoint_interval_ms, 1, INT32_MAX),
    CK_CFG_KEY("wal", "retention_check_ms", CK_CFG_I32, retention_check_ms, 1, INT32_MAX),
    CK_CFG_KEY("replication", "replica_lag_time_max_ms", CK_CFG_I32, replica_lag_time_max_ms, 100,
               INT32_MAX),
    CK_CFG_KEY("supervisor", "restart_backoff_initial_ms", CK_CFG_I32, restart_backoff_initial_ms,
               1, INT32_MAX),
    CK_CFG_KEY("supervisor", "restart_backoff_max_ms", CK_CFG_I32, restart_backoff_max_ms, 1,
               INT32_MAX),
    CK_CFG_KEY("supervisor", "restart_stable_ms", CK_CFG_I32, restart_stable_ms, 0, INT32_MAX),
    CK_CFG_KEY("supervisor", "restart_burst", CK_CFG_I32, restart_burst, 1, INT32_MAX),
    CK_CFG_KEY("supervisor", "restart_window_ms", CK_CFG_I32, restart_window_ms, 1, INT32_MAX),
    CK_CFG_KEY("supervisor", "stop_timeout_ms", CK_CFG_I32, stop_timeout_ms, 1, INT32_MAX),
    CK_CFG_KEY("supervisor", "ready_timeout_ms", CK_CFG_I32, ready_timeout_ms, 1, INT32_MAX),
    CK_CFG_KEY("supervisor", "watchdog_ms", CK_CFG_I32, watchdog_ms, 0, INT32_MAX),
    CK_CFG_KEY("supervisor", "hang_kill_ms", CK_CFG_I32, hang_kill_ms, 0, INT32_MAX),
    CK_CFG_KEY("supervisor", "sched_batch", CK_CFG_BOOL, sched_batch, 0, 0),
    CK_CFG_KEY("wrapper", "walwriter", CK_CFG_STR, wrapper[CK_CHILD_WALWRITER], 0, 0),
    CK_CFG_KEY("wrapper", "raftd", CK_CFG_STR, wrapper[CK_CHILD_RAFTD], 0, 0),
    CK_CFG_KEY("wrapper", "replicator", CK_CFG_STR, wrapper[CK_CHILD_REPLICATOR], 0, 0),
    CK_CFG_KEY("wrapper", "kafka-frontend", CK_CFG_STR, wrapper[CK_CHILD_KAFKA_FRONTEND], 0, 0),
    CK_CFG_KEY("log", "level", CK_CFG_LEVEL, log_level, 0, 0),
    CK_CFG_KEY("log", "file", CK_CFG_STR, log_file, 0, 0),
    CK_CFG_KEY("metadata", "commit", CK_CFG_COMMIT, metadata_commit_leader, 0, 0),
    /* Bounds against typos: a billion entries, a day without heartbeats. */
    CK_CFG_KEY("metadata", "snapshot_entries", CK_CFG_I64, metadata_snapshot_entries, 1,
               1000000000),
    CK_CFG_KEY("metadata", "compact_keep", CK_CFG_I64, metadata_compact_keep, 0, 1000000000),
    CK_CFG_KEY("metadata", "broker_session_ms", CK_CFG_I32, metadata_broker_session_ms, 100,
               86400000),
    CK_CFG_KEY("metadata", "auto_leader_rebalance", CK_CFG_BOOL, metadata_auto_leader_rebalance, 0,
               0),
    CK_CFG_KEY("metadata", "leader_imbalance_check_ms", CK_CFG_I32,
               metadata_leader_imbalance_check_ms, 100, 86400000),
    CK_CFG_KEY("metadata", "leader_imbalance_percent", CK_CFG_I32,
               metadata_leader_imbalance_percent, 0, 100),
    CK_CFG_KEY("ipc", "frame_max_bytes", CK_CFG_I32, ipc_frame_max_bytes, 4096, 1 << 30),
    CK_CFG_KEY("kafka", "max_request_bytes", CK_CFG_I32, kafka_max_request_bytes, 1024, INT32_MAX),
    CK_CFG_KEY("kafka", "idle_timeout_ms", CK_CFG_I32, kafka_idle_timeout_ms, 0, INT32_MAX),
    CK_CFG_KEY("kafka", "auto_create_topics_enable", CK_CFG_BOOL, kafka_auto_create_topics, 0, 0),
    /* 10000: kafka-frontend's KFK_PARTITIONS_MAX, a guard against typos. */
    CK_CFG_KEY("kafka", "num_partitions", CK_CFG_I32, kafka_num_partitions, 1, 10000),
    CK_CFG_KEY("kafka", "default_replication_factor", CK_CFG_I32, kafka_default_replication_factor,
               1, INT16_MAX),
    CK_CFG_KEY("kafka", "request_timeout_ms", CK_CFG_I32, kafka_request_timeout_ms, 1, INT32_MAX),
    CK_CFG_KEY("kafka", "max_inflight_requests", CK_CFG_I32, kafka_max_inflight_requests, 1, 65536),
    CK_CFG_KEY("kafka", "max_queued_response_bytes", CK_CFG_I32, kafka_max_queued_response_bytes,
               65536, INT32_MAX),
    CK_CFG_KEY("kafka", "max_response_bytes", CK_CFG_I32, kafka_max_response_bytes, 1 << 20,
               INT32_MAX),
    CK_CFG_KEY("kafka", "max_inflight_request_bytes", CK_CFG_I64, kafka_max_inflight_request_bytes,
               65536, INT64_MAX),
    CK_CFG_KEY("kafka", "queued_max_request_bytes", CK_CFG_I64, kafka_queued_max_request_bytes,
               1024, INT64_MAX),
    CK_CFG_KEY("kafka", "queued_max_response_bytes", CK_CFG_I64, kafka_queued_max_response_bytes,
               1024, INT64_MAX),
    CK_CFG_KEY("kafka", "drain_timeout_ms", CK_CFG_I32, kafka_drain_timeout_ms, 0, INT32_MAX),
    CK_CFG_KEY("kafka", "group_min_session_timeout_ms", CK_CFG_I32, kafka_group_min_session_ms, 1,
               INT32_MAX),
    CK_CFG_KEY("kafka", "group_max_session_timeout_ms", CK_CFG_I32, kafka_group_max_session_ms, 1,
               INT32_MAX),
    CK_CFG_KEY("kafka", "group_initial_rebalance_delay_ms", CK_CFG_I32,
               kafka_group_initial_delay_ms, 0, INT32_MAX),
    CK_CFG_KEY("kafka", "group_max_size", CK_CFG_I32, kafka_group_max_size, 1, INT32_MAX),
    CK_CFG_KEY("kafka", "compression_type", CK_CFG_CODEC, kafka_compression_type, 0, 0),
    CK_CFG_KEY("kafka", "offsets_retention_ms", CK_CFG_I64, kafka_offsets_retention_ms, 0,
               INT64_MAX / 2),
    CK_CFG_KEY("kafka", "offsets_retention_check_interval_ms", CK_CFG_I32, kafka_offsets_check_ms,
               1, INT32_MAX),
};

#define CK_CFG_KEY_COUNT CK_ARRAY_LEN(ck_cfg_keys)

static const ck_cfg_key_t ck_cfg_peer_keys[] = {
	CK_CFG_PEER_KEY("raft", raft),
	CK_CFG_PEER_KEY("replication", replication),
	CK_CFG_PEER_KEY("kafka", kafka),
};

static const char *const ck_cfg_tables[] = {
	"node", "listeners", "wal", "replication", "supervisor", "wrapper", "log", "metadata", "ipc",
	"kafka",
};

/* Environment names that stand for a key besides CHRONIK_<TABLE>_<KEY>. */
static const struct {
	const char *env;
	const char *table;
	const char *key;
} ck_cfg_aliases[] = {
	{"CHRONIK_DATA_DIR", "node", "data_dir"},
	/* The names kafka-frontend read before the [kafka] table existed. */
	{"CHRONIK_NUM_PARTITIONS", "kafka", "num_partitions"},
	{"CHRONIK_AUTO_CREATE_TOPICS_ENABLE", "kafka", "auto_create_topics_enable"},
	/* The names raftd read before the [metadata] keys existed. */
	{"CHRONIK_RAFTD_SNAPSHOT_ENTRIES", "metadata", "snapshot_entries"},
	{"CHRONIK_RAFTD_COMPACT_KEEP", "metadata", "compact_keep"},
	{"CHRONIK_RAFTD_BROKER_SESSION_MS", "metadata", "broker_session_ms"},
};

/* Where a key's value came from, for messages about it. */
typedef struct {
	int line;      /* > 0: the file line */
	char where[96]; /* non-empty: "environment CHRONIK_X" or "argument t.k" */
} ck_cfg_origin_t;

typedef struct {
	ck_config_t *cfg;
	const char *name; /* file name in messages */
	const char *text;
	size_t len;
	size_t pos;
	int line;
	char str[CK_CFG_STR_MAX]; /* the string literal of the current line */
	bool has_str;
	uint32_t tables_seen;
	ck_cfg_origin_t origin[CK_CFG_KEY_COUNT];
	int peer_line[CK_CONFIG_PEERS_MAX];
	uint8_t peer_set[CK_CONFIG_PEERS_MAX]; /* bit i: ck_cfg_peer_keys[i] set */
	char *err;
	size_t err_len;
	bool failed;
} ck_cfg_load_t;

/* How a value was written. */
typedef enum {
	CK_CFG_V_STRING, /* a "string" literal in the file */
	CK_CFG_V_BARE,   /* an unquoted word in the file */
	CK_CFG_V_ENV,    /* an environment value: the key's type decides */
} ck_cfg_vkind_t;

/* Records the first error only; later ones are consequences. */
static void __attribute__((format(printf, 2, 3))) ck_cfg_fail(ck_cfg_load_t *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->failed)
		return;
	ld->failed = true;
	if (!ld->err || !ld->err_len)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(ld->err, ld->err_len, fmt, ap);
	va_end(ap);
}

static const ck_cfg_key_t *ck_cfg_key_find(const ck_cfg_key_t *keys, size_t n, const char *table,
					   const char *key)
{
	for (size_t i = 0; i < n; i++)
		if ((!table || !strcmp(keys[i].table, table)) && !strcmp(keys[i].key, key))
			return &keys[i];
	return NULL;
}

/* ---- scalar parsing --------------------------------------------------- */

static bool ck_cfg_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/* TOML decimal integer: optional sign, no leading zeros, '_' only between
 * digits. Returns 0, -EINVAL (syntax) or -ERANGE. */
static int ck_cfg_int_parse(const char *s, int64_t *ret)
{
	const char *p = s;
	bool neg = false;
	uint64_t v = 0, lim;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!ck_cfg_isdigit(*p) || (p[0] == '0' && p[1] != '\0'))
		return -EINVAL;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *p; p++) {
		if (*p == '_') {
			if (!ck_cfg_isdigit(p[-1]) || !ck_cfg_isdigit(p[1]))
				return -EINVAL;
			continue;
		}
		if (!ck_cfg_isdigit(*p))
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > (lim - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (neg)
		*ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*ret = (int64_t)v;
	return 0;
}

/* A host to listen on that takes every address. */
static bool ck_cfg_host_any(const char *host)
{
	return !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "*");
}

int ck_config_split_addr(const char *addr, char *ret_host, size_t host_len, uint16_t *ret_port)
{
	const char *host, *port;
	size_t hlen;
	unsigned long v = 0;

	if (!addr)
		return -EINVAL;
	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		host = addr + 1;
		hlen = (size_t)(end - host);
		port = end + 2;
	} else {
		const char *colon = strrchr(addr, ':');
		if (!colon)
			return -EINVAL;
		host = addr;
		hlen = (size_t)(colon - addr);
		if (memchr(host, ':', hlen)) /* a bare IPv6 address needs [] */
			return -EINVAL;
		port = colon + 1;
	}
	if (hlen == 0 || (ret_host && hlen >= host_len))
		return -EINVAL;
	for (size_t i = 0; i < hlen; i++)
		if ((unsigned char)host[i] <= ' ' || host[i] == '[' || host[i] == ']' ||
		    host[i] == '/')
			return -EINVAL;
	if (!*port || strlen(port) > 5)
		return -EINVAL;
	for (const char *p = port; *p; p++) {
		if (!ck_cfg_isdigit(*p))
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -EINVAL;
	if (ret_host) {
		memcpy(ret_host, host, hlen);
		ret_host[hlen] = '\0';
	}
	if (ret_port)
		*ret_port = (uint16_t)v;
	return 0;
}

static const char *ck_cfg_vkind_name(ck_cfg_vkind_t kind, const char *val)
{
	int64_t v;

	if (kind == CK_CFG_V_STRING)
		return "a string";
	if (!strcmp(val, "true") || !strcmp(val, "false"))
		return "a boolean";
	if (ck_cfg_int_parse(val, &v) != -EINVAL)
		return "an integer";
	return NULL;
}

static int ck_cfg_int_set(const ck_cfg_key_t *k, void *field, const char *val,
			  ck_cfg_vkind_t kind, char *msg, size_t msg_len)
{
	int64_t v;
	int r;

	if (kind == CK_CFG_V_STRING) {
		snprintf(msg, msg_len, "expected an integer, got a string");
		return -1;
	}
	r = ck_cfg_int_parse(val, &v);
	if (r == -EINVAL) {
		snprintf(msg, msg_len, "invalid integer \"%s\"", val);
		return -1;
	}
	if (r == -ERANGE || v < k->min || v > k->max) {
		snprintf(msg, msg_len, "%s out of range (%lld..%lld)", val, (long long)k->min,
			 (long long)k->max);
		return -1;
	}
	if (k->type == CK_CFG_I32) {
		int32_t v32 = (int32_t)v;
		memcpy(field, &v32, sizeof(v32));
	} else {
		memcpy(field, &v, sizeof(v));
	}
	return 0;
}

/* The string-valued types: VAL is the decoded text. */
static int ck_cfg_str_set(const ck_cfg_key_t *k, void *field, const char *val, char *msg,
			  size_t msg_len)
{
	size_t len = strlen(val);
	uint16_t port = 0;
	int v;

	switch (k->type) {
	case CK_CFG_PROFILE:
		v = ck_wal_profile_parse(val);
		if (v < 0) {
			snprintf(msg, msg_len, "unknown profile \"%s\" (expected ultra|high|medium|low)",
				 val);
			return -1;
		}
		*(ck_wal_profile_t *)field = (ck_wal_profile_t)v;
		return 0;
	case CK_CFG_LEVEL:
		v = ck_log_level_parse(val);
		if (v < 0) {
			snprintf(msg, msg_len, "unknown level \"%s\" (expected debug|info|warn|error)",
				 val);
			return -1;
		}
		*(int32_t *)field = v;
		return 0;
	case CK_CFG_CODEC:
		v = ck_config_codec_parse(val);
		if (v < -1) {
			snprintf(msg, msg_len,
			         "unknown compression type \"%s\" (expected "
			         "producer|uncompressed|gzip|snappy|lz4|zstd)",
			         val);
			return -1;
		}
		*(int32_t *)field = v;
		return 0;
	case CK_CFG_COMMIT:
		if (strcmp(val, "quorum") && strcmp(val, "leader")) {
			snprintf(msg, msg_len, "unknown commit mode \"%s\" (expected quorum|leader)",
				 val);
			return -1;
		}
		*(bool *)field = !strcmp(val, "leader");
		return 0;
	case CK_CFG_ADDR:
	case CK_CFG_ADDR_OPT:
		if (!(k->type == CK_CFG_ADDR_OPT && len == 0) &&
		    ck_config_split_addr(val, NULL, 0, &port) < 0) {
			snprintf(msg, msg_len, "invalid address \"%s\" (expected host:port)", val);
			return -1;
		}
		if (len && (port < k->min || port > k->max)) {
			snprintf(msg, msg_len, "port of \"%s\" out of range (%lld..%lld)", val,
				 (long long)k->min, (long long)k->max);
			return -1;
		}
		break;
	default:
		if ((int64_t)len < k->min) {
			snprintf(msg, msg_len, "must not be empty");
			return -1;
		}
		break;
	}
	if (len >= k->size) {
		snprintf(msg, msg_len, "too long (%zu bytes, at most %zu)", len, k->size - 1);
		return -1;
	}
	memcpy(field, val, len + 1);
	return 0;
}

/* Parses VAL into K's field of BASE (a ck_config_t, or a ck_config_peer_t
 * for peer keys). Returns 0, or -1 with a message (without location). */
static int ck_cfg_key_set(const ck_cfg_key_t *k, void *base, const char *val, ck_cfg_vkind_t kind,
			  char *msg, size_t msg_len)
{
	void *field = (char *)base + k->off;
	const char *got;

	switch (k->type) {
	case CK_CFG_I32:
	case CK_CFG_I64:
		return ck_cfg_int_set(k, field, val, kind, msg, msg_len);
	case CK_CFG_BOOL:
		if (kind != CK_CFG_V_STRING && (!strcmp(val, "true") || !strcmp(val, "false"))) {
			*(bool *)field = val[0] == 't';
			return 0;
		}
		snprintf(msg, msg_len, "expected true or false, got %s",
			 kind == CK_CFG_V_STRING ? "a string" : val);
		return -1;
	default:
		break;
	}
	if (kind == CK_CFG_V_BARE) {
		got = ck_cfg_vkind_name(kind, val);
		if (got)
			snprintf(msg, msg_len, "expected a \"string\", got %s", got);
		else
			snprintf(msg, msg_len, "expected a \"string\", got %s (strings need double quotes)",
				 val);
		return -1;
	}
	return ck_cfg_str_set(k, field, val, msg, msg_len);
}

/* ---- the line lexer (inih's reader callback) -------------------------- */

static bool ck_cfg_bare_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || ck_cfg_isdigit(c) || c == '_' ||
	       c == '-';
}

/* Decodes the string literal starting at LINE[*I] == '"' into ld->str and
 * leaves *I on the closing quote. Returns 0 or -1 (failed). */
static int ck_cfg_string_lex(ck_cfg_load_t *ld, const char *line, size_t n, size_t *i)
{
	size_t j = *i + 1, len = 0;
	char c;

	if (ld->has_str) {
		ck_cfg_fail(ld, "%s:%d: only one string per line", ld->name, ld->line);
		return -1;
	}
	for (; j < n && line[j] != '"'; j++) {
		c = line[j];
		if (c == '\\' && j + 1 < n) {
			c = line[++j];
			switch (c) {
			case '"': case '\\': break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			default:
				ck_cfg_fail(ld, "%s:%d: invalid escape \\%c in string", ld->name,
					    ld->line, c);
				return -1;
			}
		} else if ((unsigned char)c < 0x20 && c != '\t') {
			ck_cfg_fail(ld, "%s:%d: control character in string", ld->name, ld->line);
			return -1;
		}
		if (len + 1 >= sizeof(ld->str)) {
			ck_cfg_fail(ld, "%s:%d: string too long (at most %zu bytes)", ld->name,
				    ld->line, sizeof(ld->str) - 1);
			return -1;
		}
		ld->str[len++] = c;
	}
	if (j >= n) {
		ck_cfg_fail(ld, "%s:%d: unterminated string", ld->name, ld->line);
		return -1;
	}
	ld->str[len] = '\0';
	ld->has_str = true;
	*i = j;
	return 0;
}

static int ck_cfg_peer_add(ck_cfg_load_t *ld, const char *num)
{
	ck_config_t *cfg = ld->cfg;
	int64_t id;

	if (ck_cfg_int_parse(num, &id) < 0 || id < 1 || id > INT32_MAX || strchr(num, '_') ||
	    num[0] == '+' || num[0] == '-') {
		ck_cfg_fail(ld, "%s:%d: [peer.%s]: peer id must be a node id >= 1", ld->name,
			    ld->line, num);
		return -1;
	}
	for (int32_t i = 0; i < cfg->peer_count; i++) {
		if (cfg->peers[i].id == id) {
			ck_cfg_fail(ld, "%s:%d: [peer.%s]: duplicate table (first on line %d)",
				    ld->name, ld->line, num, ld->peer_line[i]);
			return -1;
		}
	}
	if (cfg->peer_count >= CK_CONFIG_PEERS_MAX) {
		ck_cfg_fail(ld, "%s:%d: [peer.%s]: too many peers (at most %d)", ld->name, ld->line,
			    num, CK_CONFIG_PEERS_MAX);
		return -1;
	}
	cfg->peers[cfg->peer_count].id = (int32_t)id;
	ld->peer_line[cfg->peer_count] = ld->line;
	cfg->peer_count++;
	return 0;
}

/* Checks the table NAME of a header line. Returns 0 or -1. */
static int ck_cfg_table_open(ck_cfg_load_t *ld, const char *name)
{
	for (size_t i = 0; i < CK_ARRAY_LEN(ck_cfg_tables); i++) {
		if (strcmp(name, ck_cfg_tables[i]))
			continue;
		if (ld->tables_seen & (1u << i)) {
			ck_cfg_fail(ld, "%s:%d: [%s]: duplicate table", ld->name, ld->line, name);
			return -1;
		}
		ld->tables_seen |= 1u << i;
		return 0;
	}
	if (!strncmp(name, "peer.", 5))
		return ck_cfg_peer_add(ld, name + 5);
	ck_cfg_fail(ld,
		    "%s:%d: [%s]: unknown table (expected node|listeners|wal|replication|supervisor|"
		    "wrapper|log|metadata|ipc|kafka|peer.N)",
		    ld->name, ld->line, name);
	return -1;
}

/* A "[table]" line (LINE[0] == '['): writes "[table]\n" to OUT. */
static int ck_cfg_header_lex(ck_cfg_load_t *ld, const char *line, size_t n, char *out,
			     size_t out_len)
{
	char name[64];
	size_t i = 1, len = 0;

	if (n > 1 && line[1] == '[') {
		ck_cfg_fail(ld, "%s:%d: arrays of tables ([[...]]) are not supported", ld->name,
			    ld->line);
		return -1;
	}
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	for (; i < n && (ck_cfg_bare_key_char(line[i]) || line[i] == '.'); i++) {
		if (len + 1 >= sizeof(name))
			break;
		name[len++] = line[i];
	}
	name[len] = '\0';
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (len == 0 || i >= n || line[i] != ']') {
		ck_cfg_fail(ld, "%s:%d: invalid table header (expected [name])", ld->name, ld->line);
		return -1;
	}
	for (i++; i < n && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (i < n && line[i] != '#') {
		ck_cfg_fail(ld, "%s:%d: [%s]: unexpected text after the table header", ld->name,
			    ld->line, name);
		return -1;
	}
	if (ck_cfg_table_open(ld, name) < 0)
		return -1;
	if (len + 4 > out_len) {
		ck_cfg_fail(ld, "%s:%d: line too long", ld->name, ld->line);
		return -1;
	}
	snprintf(out, out_len, "[%s]\n", name);
	return 0;
}

/* Checks "key = value" in the normalised line OUT (length N). */
static int ck_cfg_keyline_check(ck_cfg_load_t *ld, const char *out, size_t n)
{
	size_t i = 0, key_len;

	while (i < n && ck_cfg_bare_key_char(out[i]))
		i++;
	key_len = i;
	if (i < n && out[i] == CK_CFG_STR_MARK) {
		ck_cfg_fail(ld, "%s:%d: quoted keys are not supported", ld->name, ld->line);
		return -1;
	}
	if (i == 0) {
		ck_cfg_fail(ld, "%s:%d: expected key = value", ld->name, ld->line);
		return -1;
	}
	while (i < n && (out[i] == ' ' || out[i] == '\t'))
		i++;
	if (i >= n || out[i] != '=') {
		ck_cfg_fail(ld, "%s:%d: %.*s: expected key = value", ld->name, ld->line,
			    (int)key_len, out);
		return -1;
	}
	return 0;
}

/* Normalises one line for inih: drops comments and indentation, replaces a
 * string literal by CK_CFG_STR_MARK (the text goes to ld->str). */
static int ck_cfg_line_lex(ck_cfg_load_t *ld, const char *line, size_t n, char *out,
			   size_t out_len)
{
	size_t i = 0, o = 0;
	char c;

	ld->has_str = false;
	if (ld->line == 1 && n >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3))
		i = 3;
	if (n > i && line[n - 1] == '\r')
		n--;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i < n && line[i] == '[')
		return ck_cfg_header_lex(ld, line + i, n - i, out, out_len);
	for (; i < n && line[i] != '#'; i++) {
		c = line[i];
		if (c == '"') {
			if (ck_cfg_string_lex(ld, line, n, &i) < 0)
				return -1;
			c = CK_CFG_STR_MARK;
		} else if (c == ';') {
			ck_cfg_fail(ld, "%s:%d: unexpected ';' (comments start with #)", ld->name,
				    ld->line);
			return -1;
		} else if ((unsigned char)c < 0x20 && c != '\t') {
			ck_cfg_fail(ld, "%s:%d: control character", ld->name, ld->line);
			return -1;
		}
		if (o + 3 > out_len) {
			ck_cfg_fail(ld, "%s:%d: line too long", ld->name, ld->line);
			return -1;
		}
		out[o++] = c;
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	if (o > 0 && ck_cfg_keyline_check(ld, out, o) < 0)
		return -1;
	out[o++] = '\n';
	out[o] = '\0';
	return 0;
}

static char *ck_cfg_reader(char *out, int num, void *stream)
{
	ck_cfg_load_t *ld = stream;
	const char *line, *nl;
	size_t n;

	if (ld->failed || ld->pos >= ld->len || num < 4)
		return NULL;
	line = ld->text + ld->pos;
	nl = memchr(line, '\n', ld->len - ld->pos);
	n = nl ? (size_t)(nl - line) : ld->len - ld->pos;
	ld->pos += n + (nl ? 1 : 0);
	ld->line++;
	if (ck_cfg_line_lex(ld, line, n, out, (size_t)num) < 0)
		return NULL; /* inih sees the end of input; ld->failed holds the error */
	return out;
}

/* ---- applying values -------------------------------------------------- */

static int ck_cfg_peer_set(ck_cfg_load_t *ld, const char *section, const char *name,
			   const char *val, ck_cfg_vkind_t kind)
{
	ck_config_t *cfg = ld->cfg;
	const ck_cfg_key_t *k;
	char msg[256];
	int64_t id = 0;
	int32_t i;
	unsigned bit;

	(void)ck_cfg_int_parse(section + 5, &id); /* checked by the header lexer */
	for (i = 0; i < cfg->peer_count && cfg->peers[i].id != id; i++)
		;
	CK_ASSERT(i < cfg->peer_count);
	k = ck_cfg_key_find(ck_cfg_peer_keys, CK_ARRAY_LEN(ck_cfg_peer_keys), NULL, name);
	if (!k) {
		ck_cfg_fail(ld, "%s:%d: [%s] %s: unknown key (expected raft|replication|kafka)",
			    ld->name, ld->line, section, name);
		return 0;
	}
	bit = 1u << (k - ck_cfg_peer_keys);
	if (ld->peer_set[i] & bit) {
		ck_cfg_fail(ld, "%s:%d: [%s] %s: duplicate key", ld->name, ld->line, section, name);
		return 0;
	}
	if (ck_cfg_key_set(k, &cfg->peers[i], val, kind, msg, sizeof(msg)) < 0) {
		ck_cfg_fail(ld, "%s:%d: [%s] %s: %s", ld->name, ld->line, section, name, msg);
		return 0;
	}
	ld->peer_set[i] |= (uint8_t)bit;
	return 1;
}

static int ck_cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	ck_cfg_load_t *ld = user;
	const ck_cfg_key_t *k;
	ck_cfg_vkind_t kind = CK_CFG_V_BARE;
	const char *val = value;
	char msg[256];
	size_t idx;

	if (ld->failed)
		return 0;
	if (!*section) {
		ck_cfg_fail(ld, "%s:%d: %s: key outside a table (put it under a [table] header)",
			    ld->name, ld->line, name);
		return 0;
	}
	if (value[0] == CK_CFG_STR_MARK && value[1] == '\0') {
		kind = CK_CFG_V_STRING;
		val = ld->str;
	} else if (strchr(value, CK_CFG_STR_MARK) || !*value) {
		ck_cfg_fail(ld, "%s:%d: [%s] %s: %s", ld->name, ld->line, section, name,
			    *value ? "unexpected text around the string" : "missing value");
		return 0;
	}
	if (!strncmp(section, "peer.", 5))
		return ck_cfg_peer_set(ld, section, name, val, kind);
	k = ck_cfg_key_find(ck_cfg_keys, CK_CFG_KEY_COUNT, section, name);
	if (!k) {
		ck_cfg_fail(ld, "%s:%d: [%s] %s: unknown key", ld->name, ld->line, section, name);
		return 0;
	}
	idx = (size_t)(k - ck_cfg_keys);
	if (ld->origin[idx].line) {
		ck_cfg_fail(ld, "%s:%d: [%s] %s: duplicate key (first on line %d)", ld->name,
			    ld->line, section, name, ld->origin[idx].line);
		return 0;
	}
	if (ck_cfg_key_set(k, ld->cfg, val, kind, msg, sizeof(msg)) < 0) {
		ck_cfg_fail(ld, "%s:%d: [%s] %s: %s", ld->name, ld->line, section, name, msg);
		return 0;
	}
	ld->origin[idx].line = ld->line;
	return 1;
}

/* CHRONIK_<TABLE>_<KEY>, upper case, '-' as '_'. */
static void ck_cfg_env_name(const ck_cfg_key_t *k, char *buf, size_t len)
{
	snprintf(buf, len, "CHRONIK_%s_%s", k->table, k->key);
	for (char *p = buf; *p; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
		else if (*p == '-')
			*p = '_';
	}
}

static int ck_cfg_env_apply(ck_cfg_load_t *ld, const ck_cfg_key_t *k, const char *env)
{
	ck_cfg_origin_t *o = &ld->origin[k - ck_cfg_keys];
	const char *val = getenv(env);
	char msg[256];

	if (!val || !*val) /* empty = unset, as shells make it easy to write */
		return 0;
	if (ck_cfg_key_set(k, ld->cfg, val, CK_CFG_V_ENV, msg, sizeof(msg)) < 0) {
		ck_cfg_fail(ld, "environment %s: %s", env, msg);
		return -1;
	}
	snprintf(o->where, sizeof(o->where), "environment %s", env);
	return 0;
}

/* Aliases first so that the specific name wins when both are set. */
static int ck_cfg_env_load(ck_cfg_load_t *ld)
{
	char env[64];

	for (size_t i = 0; i < CK_ARRAY_LEN(ck_cfg_aliases); i++) {
		const ck_cfg_key_t *k = ck_cfg_key_find(ck_cfg_keys, CK_CFG_KEY_COUNT,
							ck_cfg_aliases[i].table,
							ck_cfg_aliases[i].key);
		CK_ASSERT(k);
		if (ck_cfg_env_apply(ld, k, ck_cfg_aliases[i].env) < 0)
			return -1;
	}
	for (size_t i = 0; i < CK_CFG_KEY_COUNT; i++) {
		ck_cfg_env_name(&ck_cfg_keys[i], env, sizeof(env));
		if (ck_cfg_env_apply(ld, &ck_cfg_keys[i], env) < 0)
			return -1;
	}
	return 0;
}

bool ck_config_env_misspelt(const char *entry)
{
	size_t len = strcspn(entry, "="), tlen;
	char env[64], table[32];
	bool in_table = false;

	if (len <= 8 || strncmp(entry, "CHRONIK_", 8) != 0)
		return false;
	for (size_t i = 0; i < CK_ARRAY_LEN(ck_cfg_tables) && !in_table; i++) {
		tlen = strlen(ck_cfg_tables[i]);
		if (tlen + 1 >= sizeof(table) || len <= 8 + tlen + 1)
			continue;
		for (size_t k = 0; k < tlen; k++)
			table[k] = (char)(ck_cfg_tables[i][k] - 'a' + 'A');
		in_table = !memcmp(entry + 8, table, tlen) && entry[8 + tlen] == '_';
	}
	if (!in_table)
		return false;
	for (size_t i = 0; i < CK_ARRAY_LEN(ck_cfg_aliases); i++)
		if (strlen(ck_cfg_aliases[i].env) == len &&
		    !memcmp(entry, ck_cfg_aliases[i].env, len))
			return false;
	for (size_t i = 0; i < CK_CFG_KEY_COUNT; i++) {
		ck_cfg_env_name(&ck_cfg_keys[i], env, sizeof(env));
		if (strlen(env) == len && !memcmp(entry, env, len))
			return false;
	}
	return true;
}

size_t ck_config_self_peer_mismatch(const ck_config_t *cfg, char (*msgs)[512], size_t max)
{
	const ck_config_peer_t *self = NULL;
	size_t n = 0;

	for (int32_t i = 0; i < cfg->peer_count; i++)
		if (cfg->peers[i].id == cfg->node_id)
			self = &cfg->peers[i];
	if (!self)
		return 0;
	for (size_t k = 0; k < CK_ARRAY_LEN(ck_cfg_peer_keys) && n < max; k++) {
		const char *key = ck_cfg_peer_keys[k].key;
		const char *peer = (const char *)self + ck_cfg_peer_keys[k].off;
		const char *listen = !strcmp(key, "raft")          ? cfg->raft_listen
		                     : !strcmp(key, "replication") ? cfg->replication_listen
		                     : cfg->kafka_advertised[0]    ? cfg->kafka_advertised
		                                                   : cfg->kafka_listen;
		char hl[CK_CONFIG_ADDR_MAX], hp[CK_CONFIG_ADDR_MAX];
		uint16_t pl, pp;

		if (ck_config_split_addr(listen, hl, sizeof(hl), &pl) < 0 ||
		    ck_config_split_addr(peer, hp, sizeof(hp), &pp) < 0)
			continue;
		if (pl == pp && (!strcasecmp(hl, hp) || ck_cfg_host_any(hl)))
			continue;
		snprintf(msgs[n++], sizeof(msgs[0]),
		         "[peer.%d] %s = %s is not where this node's [listeners] %s = %s is "
		         "(the other nodes use the peer address: fine behind a proxy, a typo "
		         "otherwise)",
		         cfg->node_id, key, peer,
		         strcmp(key, "kafka") || !cfg->kafka_advertised[0] ? key
		                                                           : "kafka_advertised",
		         listen);
	}
	return n;
}

/* "table.key=value" pairs, after the environment. */
static int ck_cfg_overrides_load(ck_cfg_load_t *ld, const char *const *overrides)
{
	char name[64], msg[256];

	for (; overrides && *overrides; overrides++) {
		const char *o = *overrides, *eq = strchr(o, '='), *dot = strchr(o, '.');
		const ck_cfg_key_t *k = NULL;

		if (eq && dot && dot < eq && (size_t)(eq - o) < sizeof(name)) {
			memcpy(name, o, (size_t)(eq - o));
			name[eq - o] = '\0';
			name[dot - o] = '\0';
			k = ck_cfg_key_find(ck_cfg_keys, CK_CFG_KEY_COUNT, name, name + (dot - o) + 1);
		}
		if (!k) {
			ck_cfg_fail(ld, "argument %s: unknown key (expected table.key=value)", o);
			return -1;
		}
		if (ck_cfg_key_set(k, ld->cfg, eq + 1, CK_CFG_V_ENV, msg, sizeof(msg)) < 0) {
			ck_cfg_fail(ld, "argument %.*s: %s", (int)(eq - o), o, msg);
			return -1;
		}
		snprintf(ld->origin[k - ck_cfg_keys].where, sizeof(ld->origin[0].where),
			 "argument %.*s", (int)(eq - o), o);
	}
	return 0;
}

/* ---- validation across keys ------------------------------------------- */

/* Fails naming where the value of TABLE.KEY came from. */
static void __attribute__((format(printf, 4, 5)))
ck_cfg_fail_key(ck_cfg_load_t *ld, const char *table, const char *key, const char *fmt, ...)
{
	const ck_cfg_key_t *k = ck_cfg_key_find(ck_cfg_keys, CK_CFG_KEY_COUNT, table, key);
	const ck_cfg_origin_t *o;
	char msg[256];
	va_list ap;

	CK_ASSERT(k);
	o = &ld->origin[k - ck_cfg_keys];
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o->where[0])
		ck_cfg_fail(ld, "%s: %s", o->where, msg);
	else if (o->line)
		ck_cfg_fail(ld, "%s:%d: [%s] %s: %s", ld->name, o->line, table, key, msg);
	else
		ck_cfg_fail(ld, "%s: [%s] %s: %s", ld->name, table, key, msg);
}

/* Whether host:port A and B name the same place: the same port on the same
 * host (by name, case aside), or, for addresses to listen on (LISTEN), on
 * hosts of which one is a wildcard. */
static bool ck_cfg_addr_same(const char *a, const char *b, bool listen)
{
	char ha[CK_CONFIG_ADDR_MAX], hb[CK_CONFIG_ADDR_MAX];
	uint16_t pa, pb;

	if (ck_config_split_addr(a, ha, sizeof(ha), &pa) < 0 ||
	    ck_config_split_addr(b, hb, sizeof(hb), &pb) < 0 || pa != pb)
		return false;
	return !strcasecmp(ha, hb) || (listen && (ck_cfg_host_any(ha) || ck_cfg_host_any(hb)));
}

_Static_assert(CK_CFG_KEY_COUNT <= CK_CONFIG_KEYS_MAX, "CK_CONFIG_KEYS_MAX too small");

bool ck_config_operator_set(const ck_config_t *cfg, const char *table, const char *key)
{
	const ck_cfg_key_t *k = ck_cfg_key_find(ck_cfg_keys, CK_CFG_KEY_COUNT, table, key);
	size_t i = k ? (size_t)(k - ck_cfg_keys) : 0;

	return k && (cfg->operator_set[i / 8] & (1u << (i % 8)));
}

/* Whether TABLE.KEY came from the file, the environment or an argument. */
static bool ck_cfg_key_set_by_operator(ck_cfg_load_t *ld, const char *table, const char *key)
{
	const ck_cfg_key_t *k = ck_cfg_key_find(ck_cfg_keys, CK_CFG_KEY_COUNT, table, key);

	return k && (ld->origin[k - ck_cfg_keys].where[0] || ld->origin[k - ck_cfg_keys].line);
}

/* Two of this node's listeners on one port fail: the second could never
 * bind, and the node would stop at start with a less direct message. */
static int ck_cfg_listeners_validate(ck_cfg_load_t *ld)
{
	static const char *const keys[] = {"kafka", "replication", "raft", "admin"};
	const char *addrs[] = {ld->cfg->kafka_listen, ld->cfg->replication_listen,
	                       ld->cfg->raft_listen, ld->cfg->admin_listen};

	for (size_t i = 0; i < CK_ARRAY_LEN(keys); i++)
		for (size_t j = i + 1; j < CK_ARRAY_LEN(keys); j++) {
			size_t a = j, b = i; /* blame a key the operator set */

			if (!ck_cfg_addr_same(addrs[i], addrs[j], true))
				continue;
			if (!ck_cfg_key_set_by_operator(ld, "listeners", keys[j])) {
				a = i;
				b = j;
			}
			ck_cfg_fail_key(ld, "listeners", keys[a],
			                "%s takes the port of [listeners] %s = %s (each "
			                "listener needs a port of its own)",
			                addrs[a], keys[b], addrs[b]);
			return -1;
		}
	return 0;
}

static int ck_cfg_peers_validate(ck_cfg_load_t *ld)
{
	ck_config_t *cfg = ld->cfg;
	bool self = false;

	for (int32_t i = 0; i < cfg->peer_count; i++) {
		for (size_t k = 0; k < CK_ARRAY_LEN(ck_cfg_peer_keys); k++) {
			if (ld->peer_set[i] & (1u << k))
				continue;
			ck_cfg_fail(ld, "%s:%d: [peer.%d] %s: missing (a peer needs raft, "
				    "replication and kafka)",
				    ld->name, ld->peer_line[i], cfg->peers[i].id,
				    ck_cfg_peer_keys[k].key);
			return -1;
		}
		self |= cfg->peers[i].id == cfg->node_id;
	}
	/* Two nodes at one address: the others would reach only one of them. */
	for (int32_t i = 0; i < cfg->peer_count; i++)
		for (int32_t j = i + 1; j < cfg->peer_count; j++)
			for (size_t k = 0; k < CK_ARRAY_LEN(ck_cfg_peer_keys); k++) {
				size_t off = ck_cfg_peer_keys[k].off;
				const char *a = (const char *)&cfg->peers[i] + off;
				const char *b = (const char *)&cfg->peers[j] + off;

				if (!ck_cfg_addr_same(a, b, false))
					continue;
				ck_cfg_fail(ld,
				            "%s:%d: [peer.%d] %s: %s is also [peer.%d]'s (each "
				            "node needs an address of its own)",
				            ld->name, ld->peer_line[j], cfg->peers[j].id,
				            ck_cfg_peer_keys[k].key, b, cfg->peers[i].id);
				return -1;
			}
	if (cfg->peer_count > 0 && !self) {
		ck_cfg_fail_key(ld, "node", "id", "node %d has no [peer.%d] table (list every "
				"node, this one included)", cfg->node_id, cfg->node_id);
		return -1;
	}
	/* Sorted by id, so every node sees the same order. */
	for (int32_t i = 1; i < cfg->peer_count; i++) {
		ck_config_peer_t p = cfg->peers[i];
		int32_t j = i;
		for (; j > 0 && cfg->peers[j - 1].id > p.id; j--)
			cfg->peers[j] = cfg->peers[j - 1];
		cfg->peers[j] = p;
	}
	return 0;
}

/* Room an IPC frame needs around the largest record batch. */
#define CK_CFG_FRAME_OVERHEAD (64 << 10)

static int ck_cfg_validate(ck_cfg_load_t *ld)
{
	ck_config_t *cfg = ld->cfg;

	if (cfg->restart_backoff_max_ms < cfg->restart_backoff_initial_ms) {
		ck_cfg_fail_key(ld, "supervisor", "restart_backoff_max_ms",
				"%d is below restart_backoff_initial_ms %d",
				cfg->restart_backoff_max_ms, cfg->restart_backoff_initial_ms);
		return -1;
	}
	if ((int64_t)cfg->max_message_bytes + CK_CFG_FRAME_OVERHEAD > cfg->ipc_frame_max_bytes) {
		ck_cfg_fail_key(ld, "wal", "max_message_bytes",
				"%d does not fit in [ipc] frame_max_bytes %d (which needs %d "
				"bytes more)", cfg->max_message_bytes, cfg->ipc_frame_max_bytes,
				CK_CFG_FRAME_OVERHEAD);
		return -1;
	}
	if (cfg->kafka_max_request_bytes < cfg->max_message_bytes) {
		ck_cfg_fail_key(ld, "kafka", "max_request_bytes",
				"%d is below [wal] max_message_bytes %d (the largest batch "
				"could never arrive)", cfg->kafka_max_request_bytes,
				cfg->max_message_bytes);
		return -1;
	}
	if (cfg->kafka_queued_max_request_bytes < cfg->kafka_max_request_bytes) {
		ck_cfg_fail_key(ld, "kafka", "queued_max_request_bytes",
				"%" PRId64 " is below max_request_bytes %d (the largest request "
				"could never be read)",
				cfg->kafka_queued_max_request_bytes, cfg->kafka_max_request_bytes);
		return -1;
	}
	if (cfg->kafka_default_replication_factor > (cfg->peer_count ? cfg->peer_count : 1)) {
		ck_cfg_fail_key(ld, "kafka", "default_replication_factor",
				"%d is more than the %d node(s) of the cluster",
				cfg->kafka_default_replication_factor,
				cfg->peer_count ? cfg->peer_count : 1);
		return -1;
	}
	if (ck_cfg_listeners_validate(ld) < 0)
		return -1;
	return ck_cfg_peers_validate(ld);
}

/* ---- loading ---------------------------------------------------------- */

/* Reads PATH into a NUL-terminated heap buffer. */
static int ck_cfg_file_read(const char *path, char **ret_text, size_t *ret_len)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out;
	}
	if (st.st_size > CK_CFG_FILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	text = malloc(CK_CFG_FILE_MAX + 1);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	while ((n = read(fd, text + len, CK_CFG_FILE_MAX + 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		len += (size_t)n;
		if (len > CK_CFG_FILE_MAX) {
			r = -EFBIG;
			goto out;
		}
	}
	text[len] = '\0';
	*ret_text = text;
	*ret_len = len;
	text = NULL;
	r = 0;
out:
	free(text);
	(void)close(fd);
	return r;
}

int ck_config_load(ck_config_t *cfg, const char *path, char *err, size_t err_len)
{
	return ck_config_load_with(cfg, path, NULL, err, err_len);
}

int ck_config_load_with(ck_config_t *cfg, const char *path, const char *const *overrides,
			char *err, size_t err_len)
{
	ck_cfg_load_t *ld;
	char *text = NULL;
	int r;

	if (err && err_len)
		err[0] = '\0';
	ck_config_defaults(cfg);
	ld = calloc(1, sizeof(*ld));
	if (!ld)
		return -ENOMEM;
	ld->cfg = cfg;
	ld->err = err;
	ld->err_len = err_len;
	if (path) {
		r = ck_cfg_file_read(path, &text, &ld->len);
		if (r < 0) {
			ck_cfg_fail(ld, "%s: %s", path, r == -EFBIG ? "file too large" : strerror(-r));
			if (r == -EFBIG)
				r = CK_E_CONFIG;
			goto out;
		}
		ld->text = text;
		ld->name = path;
	} else {
		ld->text = ck_config_default_toml;
		ld->len = strlen(ck_config_default_toml);
		ld->name = "<embedded default>";
	}
	r = ini_parse_stream(ck_cfg_reader, ld, ck_cfg_handler, ld);
	if (r != 0 && !ld->failed)
		ck_cfg_fail(ld, "%s:%d: syntax error", ld->name, r > 0 ? r : ld->line);
	r = CK_E_CONFIG;
	if (ld->failed || ck_cfg_env_load(ld) < 0 || ck_cfg_overrides_load(ld, overrides) < 0 ||
	    ck_cfg_validate(ld) < 0)
		goto out;
	for (size_t i = 0; i < CK_CFG_KEY_COUNT; i++)
		if (ld->origin[i].where[0] || (ld->origin[i].line && path))
			cfg->operator_set[i / 8] |= (uint8_t)(1u << (i % 8));
	r = 0;
out:
	free(text);
	free(ld);
	return r;
}
