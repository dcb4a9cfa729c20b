/*
 * ck_config.h: node configuration (cluster.toml).
 *
 * The file is a TOML subset: [tables] (also dotted, [peer.2]) holding
 * key = value scalars (integers, "strings", true/false, with # comments),
 * parsed with libinih. Without a file the embedded single-node default is
 * used. CHRONIK_<TABLE>_<KEY> environment variables override file values
 * (e.g. CHRONIK_WAL_PROFILE, CHRONIK_NODE_ID, CHRONIK_LOG_LEVEL; '-' in a
 * key becomes '_': CHRONIK_WRAPPER_KAFKA_FRONTEND), plus the aliases
 * CHRONIK_DATA_DIR, CHRONIK_NUM_PARTITIONS,
 * CHRONIK_AUTO_CREATE_TOPICS_ENABLE, CHRONIK_RAFTD_SNAPSHOT_ENTRIES,
 * CHRONIK_RAFTD_COMPACT_KEEP and CHRONIK_RAFTD_BROKER_SESSION_MS (the
 * specific names, e.g. CHRONIK_NODE_DATA_DIR, win when both are set). An empty variable counts
 * as unset; unknown CHRONIK_* variables are ignored.
 * Command-line flags of chronik-server override both. Every error names the
 * file, line and key.
 *
 * Validation beyond each key's range: restart_backoff_max_ms >=
 * restart_backoff_initial_ms; max_message_bytes + 64 KiB <= frame_max_bytes;
 * [kafka] max_request_bytes >= max_message_bytes; [kafka]
 * default_replication_factor <= the number of nodes (1 without peers);
 * each [peer.N] has raft, replication and kafka; when any peer is listed,
 * node.id must be one of them; no two peers share an address, no two
 * listeners a port (a wildcard host takes the port on every address).
 * Peers are sorted by id.
 *
 * Every process loads the same file (the supervisor passes --config,
 * --data-dir and --node-id to its children), so they agree on the values.
 */
#ifndef CK_CONFIG_H
#define CK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CK_CONFIG_PATH_MAX 1024
#define CK_CONFIG_ADDR_MAX 128
#define CK_CONFIG_PEERS_MAX 16
#define CK_CONFIG_KEYS_MAX    256 /* keys ck_config.c knows, at most */
#define CK_CONFIG_WRAPPER_MAX 512

typedef enum {
	CK_WAL_PROFILE_ULTRA = 0,
	CK_WAL_PROFILE_HIGH = 1,
	CK_WAL_PROFILE_MEDIUM = 2,
	CK_WAL_PROFILE_LOW = 3,
} ck_wal_profile_t;

/* What a WAL profile sets (documented in README and docs/). */
typedef struct {
	const char *name;
	uint32_t group_window_us;  /* how long an idle writer waits to gather a group */
	uint32_t group_bytes_max;  /* bytes per group before it is cut */
	uint32_t group_appends_max;/* appends per group before it is cut */
} ck_wal_profile_info_t;

const ck_wal_profile_info_t *ck_wal_profile_info(ck_wal_profile_t p);
/* Returns the profile or -EINVAL for an unknown name. */
int ck_wal_profile_parse(const char *name);

/* Kafka's compression.type names: "producer" -1, "uncompressed" 0, "gzip" 1,
 * "snappy" 2, "lz4" 3, "zstd" 4; -2 for another name. */
int ck_config_codec_parse(const char *name);
/* The name of CODEC (-1..4). */
const char *ck_config_codec_name(int codec);

/* The children the supervisor runs, in start order. */
typedef enum {
	CK_CHILD_WALWRITER = 0,
	CK_CHILD_RAFTD = 1,
	CK_CHILD_REPLICATOR = 2,
	CK_CHILD_KAFKA_FRONTEND = 3,
	CK_CHILD_COUNT = 4,
} ck_child_t;

/* "walwriter", "raftd", "replicator", "kafka-frontend". */
const char *ck_child_name(ck_child_t c);

typedef struct {
	int32_t id;
	char raft[CK_CONFIG_ADDR_MAX];        /* host:port */
	char replication[CK_CONFIG_ADDR_MAX]; /* host:port */
	char kafka[CK_CONFIG_ADDR_MAX];       /* host:port (advertised) */
} ck_config_peer_t;

typedef struct {
	/* [node] */
	int32_t node_id;                      /* id (default 1) */
	char cluster_id[64];                  /* cluster_id (default "chronik") */
	char data_dir[CK_CONFIG_PATH_MAX];    /* data_dir (default "./data") */

	/* [listeners]: host:port strings */
	char kafka_listen[CK_CONFIG_ADDR_MAX];       /* kafka (127.0.0.1:9092) */
	char kafka_advertised[CK_CONFIG_ADDR_MAX];   /* kafka_advertised ("" = kafka) */
	char replication_listen[CK_CONFIG_ADDR_MAX]; /* replication (127.0.0.1:9291) */
	char raft_listen[CK_CONFIG_ADDR_MAX];        /* raft (127.0.0.1:5001) */
	char admin_listen[CK_CONFIG_ADDR_MAX];       /* admin (127.0.0.1:9644) */

	/* [wal] */
	ck_wal_profile_t wal_profile;   /* profile ("high") */
	int64_t segment_bytes;          /* segment_bytes (1 GiB) */
	int64_t segment_ms;             /* segment_ms (7 days) */
	int64_t retention_bytes;        /* retention_bytes (-1 = unlimited) */
	int64_t retention_ms;           /* retention_ms (7 days; -1 = unlimited) */
	int32_t index_interval_bytes;   /* index_interval_bytes (4096) */
	int32_t max_message_bytes;      /* max_message_bytes (1048588) */
	int64_t preallocate_bytes;      /* preallocate_bytes: zero-filled ahead (8 MiB) */
	int32_t checkpoint_interval_ms; /* checkpoint_interval_ms (1000) */
	int32_t retention_check_ms;     /* retention_check_ms (60000) */

	/* [replication] */
	int32_t replica_lag_time_max_ms; /* a follower behind this long leaves the ISR (30000) */

	/* [supervisor] */
	int32_t restart_backoff_initial_ms; /* first restart delay (100) */
	int32_t restart_backoff_max_ms;     /* cap of the doubling delay (5000) */
	int32_t restart_stable_ms;          /* uptime that resets the backoff (10000) */
	int32_t restart_burst;              /* crashes allowed ... (30) */
	int32_t restart_window_ms;          /* ... within this window (60000) */
	int32_t stop_timeout_ms;            /* SIGTERM -> SIGKILL (10000) */
	int32_t ready_timeout_ms;           /* child must report READY=1 within (30000) */
	int32_t watchdog_ms;                /* ping interval to systemd; 0 = from WATCHDOG_USEC */
	int32_t hang_kill_ms;               /* a ready child without keepalives this long is
	                                       killed and restarted (30000; 0 = never) */
	bool sched_batch;                   /* children under SCHED_BATCH unless the supervisor
	                                       runs under another policy than SCHED_OTHER (true) */

	/* [wrapper]: walwriter = "perf record -g -o /tmp/w.data", etc. */
	char wrapper[CK_CHILD_COUNT][CK_CONFIG_WRAPPER_MAX];

	/* [log] */
	int32_t log_level;                  /* level ("info"): a ck_log_level_t */
	char log_file[CK_CONFIG_PATH_MAX];  /* file ("" = stderr) */

	/* [metadata] */
	bool metadata_commit_leader;        /* commit = "quorum" | "leader" */
	int64_t metadata_snapshot_entries;  /* snapshot_entries (100000): raftd takes a
					       snapshot every this many applied entries */
	int64_t metadata_compact_keep;      /* compact_keep (0 = snapshot_entries / 10):
					       log entries kept below a snapshot */
	int32_t metadata_broker_session_ms; /* broker_session_ms (4000): a broker whose
					       heartbeats lapse this long is fenced */
	bool metadata_auto_leader_rebalance;        /* auto_leader_rebalance (true): the controller
	                                               moves leadership back to preferred replicas
	                                               [auto.leader.rebalance.enable] */
	int32_t metadata_leader_imbalance_check_ms; /* leader_imbalance_check_ms (300000)
	                                               [leader.imbalance.check.interval.seconds] */
	int32_t metadata_leader_imbalance_percent;  /* leader_imbalance_percent (10)
	                                               [leader.imbalance.per.broker.percentage] */

	/* [ipc] */
	int32_t ipc_frame_max_bytes;        /* frame_max_bytes (128 MiB) */

	/* [kafka]: the Kafka frontend (Kafka's broker setting in brackets) */
	int32_t kafka_max_request_bytes;    /* max_request_bytes (100 MiB) [socket.request.max.bytes] */
	int32_t kafka_idle_timeout_ms;      /* idle_timeout_ms (600000; 0 = never)
					       [connections.max.idle.ms] */
	bool kafka_auto_create_topics;      /* auto_create_topics_enable (true) */
	int32_t kafka_num_partitions;       /* num_partitions (1): auto-created and
					       CreateTopics without a count */
	int32_t kafka_default_replication_factor; /* default_replication_factor (1) */
	int32_t kafka_request_timeout_ms;   /* request_timeout_ms (30000): admin requests
					       and auto-creation without a usable timeout */
	int32_t kafka_max_inflight_requests; /* max_inflight_requests (256): per connection,
						before reading pauses */
	int32_t kafka_max_queued_response_bytes; /* max_queued_response_bytes (64 MiB): per
						    connection, before reading pauses */
	int32_t kafka_max_response_bytes;        /* max_response_bytes (100 MiB): one response
	                                            built in memory; beyond, the connection is
	                                            closed */
	int64_t kafka_max_inflight_request_bytes; /* max_inflight_request_bytes (16 MiB): the
	                                             bytes of one connection's requests in
	                                             flight before reading pauses (one
	                                             request always passes) */
	int64_t kafka_queued_max_request_bytes;  /* queued_max_request_bytes (512 MiB): the
	                                            bytes of requests over 64 KiB that all
	                                            connections together may hold in memory
	                                            (Kafka's queued.max.request.bytes); at
	                                            least max_request_bytes */
	int64_t kafka_queued_max_response_bytes; /* queued_max_response_bytes (512 MiB): the
	                                            bytes of answers in memory not yet written,
	                                            all connections; past it a connection
	                                            holding some reads no more until they
	                                            are written */
	int32_t kafka_drain_timeout_ms;     /* drain_timeout_ms (5000): on stop, requests in
					       flight are answered for at most this long */
	/* Consumer groups (Kafka's group.* broker settings of the same names). */
	int32_t kafka_group_min_session_ms;   /* group_min_session_timeout_ms (6000) */
	int32_t kafka_group_max_session_ms;   /* group_max_session_timeout_ms (1800000) */
	int32_t kafka_group_initial_delay_ms; /* group_initial_rebalance_delay_ms (0) */
	int32_t kafka_group_max_size;         /* group_max_size (1000) */
	/* compression_type: the compression.type of a topic without its own:
	 * -1 "producer" (the default), 0 "uncompressed", 1 gzip, 2 snappy,
	 * 3 lz4, 4 zstd. */
	int32_t kafka_compression_type;
	/* Offset expiry (Kafka's offsets.retention.minutes, in ms; 0 = never)
	 * and how often the coordinator looks (offsets.retention.check.interval.ms). */
	int64_t kafka_offsets_retention_ms; /* offsets_retention_ms (7 days) */
	int32_t kafka_offsets_check_ms;     /* offsets_retention_check_interval_ms (600000) */

	/* [peer.N] tables: raft, replication, kafka = host:port */
	ck_config_peer_t peers[CK_CONFIG_PEERS_MAX];
	int32_t peer_count;

	/* Bit per key (ck_config.c's table order): set by the operator (the
	 * file, the environment, an argument), not by the embedded default
	 * or left at its default. Read with ck_config_operator_set(). */
	uint8_t operator_set[CK_CONFIG_KEYS_MAX / 8];
} ck_config_t;

/* The embedded single-node configuration, as TOML text. */
extern const char ck_config_default_toml[];

/* Fills CFG with built-in defaults (the same values as the embedded TOML). */
void ck_config_defaults(ck_config_t *cfg);

/*
 * Loads the configuration: defaults, then PATH (NULL = the embedded default
 * text), then CHRONIK_* environment overrides, then validation.
 * On failure writes a one-line message naming file, line and key into ERR
 * and returns CK_E_CONFIG (or -ENOENT/-EACCES when PATH
 * cannot be read); CFG is then unspecified.
 */
int ck_config_load(ck_config_t *cfg, const char *path, char *err, size_t err_len);

/*
 * As ck_config_load(), then applies OVERRIDES (NULL or a NULL-terminated
 * array of "table.key=value" strings, e.g. "node.id=2", "node.data_dir=/d";
 * values as in the environment) after the environment and before
 * validation: for command-line flags. Errors name "argument table.key".
 */
int ck_config_load_with(ck_config_t *cfg, const char *path, const char *const *overrides,
			char *err, size_t err_len);

/* Whether environment entry ENTRY ("NAME=value" or "NAME") names a
 * setting's table (CHRONIK_<TABLE>_...) but no key of it or alias: a
 * misspelt override, which the loader does not see (callers warn). */
bool ck_config_env_misspelt(const char *entry);

/* For each of raft, replication and kafka (kafka_advertised when set) whose
 * address in this node's own [peer.N] table is not where its [listeners]
 * are (another port, or another host than a non-wildcard listener's), a
 * line for the log into MSGS (at most MAX). Not an error: a proxy between
 * the nodes is a reason for it. Returns the number of lines. */
size_t ck_config_self_peer_mismatch(const ck_config_t *cfg, char (*msgs)[512], size_t max);

/* Splits "host:port" (also "[v6]:port"; the brackets are dropped). The host
 * must be non-empty and fit HOST_LEN; the port is 0..65535. RET_HOST or
 * RET_PORT may be NULL to only validate. Returns 0 or -EINVAL. */
int ck_config_split_addr(const char *addr, char *ret_host, size_t host_len, uint16_t *ret_port);

/* Whether the operator set TABLE.KEY (file, environment or argument): what
 * Kafka's DescribeConfigs calls STATIC_BROKER_CONFIG, against DEFAULT. */
bool ck_config_operator_set(const ck_config_t *cfg, const char *table, const char *key);

#endif
