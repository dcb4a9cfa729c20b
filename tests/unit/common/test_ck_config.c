/*
 * test_ck_config.c: unit tests of cluster.toml loading (common/ck_config.h):
 * the embedded default text equals ck_config_defaults(), every key can be
 * set from a file and from the environment, every error names file, line
 * and key (or the environment variable), peers, wrappers, comments and
 * string escapes, address splitting, WAL profiles and child names.
 */
#include <errno.h>
#include <stdint.h>

#include "ck_config.h"
#include "ck_err.h"
#include "ck_log.h"
#include "ck_testlib.h"

static char tmpdir[128];
static char path[256];
static char err[512];
static ck_config_t cfg;

static void setup(void)
{
	ck_test_env_clear();
	ck_test_mkdtemp(tmpdir, sizeof(tmpdir), "config");
	snprintf(path, sizeof(path), "%s/cluster.toml", tmpdir);
	err[0] = '\0';
}

static void teardown(void)
{
	(void)ck_test_rmtree(tmpdir);
}

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* Loads TEXT from a file; returns ck_config_load()'s result. */
static int load_text(const char *text)
{
	write_file(text);
	err[0] = '\0';
	return ck_config_load(&cfg, path, err, sizeof(err));
}

/* Expects TEXT to fail with exactly "<path>:<MSG>". */
static void expect_error(const char *text, const char *msg)
{
	char expect[700];

	ck_assert_int_eq(load_text(text), CK_E_CONFIG);
	snprintf(expect, sizeof(expect), "%s:%s", path, msg);
	ck_assert_str_eq(err, expect);
}

START_TEST(test_defaults_equal_embedded_text)
{
	ck_config_t d;

	ck_config_defaults(&d);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_mem_eq(&cfg, &d, sizeof(d));
	/* The same text read from a file gives the same result, but for the
	 * keys it sets counting as the operator's. */
	ck_assert_int_eq(load_text(ck_config_default_toml), 0);
	memset(cfg.operator_set, 0, sizeof(cfg.operator_set));
	ck_assert_mem_eq(&cfg, &d, sizeof(d));
}
END_TEST

/* Which keys the operator set (DescribeConfigs' STATIC_BROKER_CONFIG):
 * those in the file, the environment or an argument, not the embedded
 * default's. */
START_TEST(test_operator_set)
{
	const char *over[] = {"kafka.num_partitions=3", NULL};

	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), 0);
	ck_assert(!ck_config_operator_set(&cfg, "wal", "retention_ms"));
	ck_assert(!ck_config_operator_set(&cfg, "node", "id"));
	ck_assert_int_eq(setenv("CHRONIK_WAL_SEGMENT_MS", "60000", 1), 0);
	write_file("[wal]\nretention_ms = 5000\n");
	ck_assert_int_eq(ck_config_load_with(&cfg, path, over, err, sizeof(err)), 0);
	ck_assert(ck_config_operator_set(&cfg, "wal", "retention_ms"));
	ck_assert(ck_config_operator_set(&cfg, "wal", "segment_ms"));
	ck_assert(ck_config_operator_set(&cfg, "kafka", "num_partitions"));
	ck_assert(!ck_config_operator_set(&cfg, "wal", "segment_bytes"));
	ck_assert(!ck_config_operator_set(&cfg, "wal", "no_such_key"));
}
END_TEST

START_TEST(test_default_values)
{
	ck_config_defaults(&cfg);
	ck_assert_int_eq(cfg.node_id, 1);
	ck_assert_str_eq(cfg.cluster_id, "chronik");
	ck_assert_str_eq(cfg.data_dir, "./data");
	ck_assert_str_eq(cfg.kafka_listen, "127.0.0.1:9092");
	ck_assert_str_eq(cfg.kafka_advertised, "");
	ck_assert_str_eq(cfg.replication_listen, "127.0.0.1:9291");
	ck_assert_str_eq(cfg.raft_listen, "127.0.0.1:5001");
	ck_assert_str_eq(cfg.admin_listen, "127.0.0.1:9644");
	ck_assert_int_eq(cfg.wal_profile, CK_WAL_PROFILE_HIGH);
	ck_assert_int_eq(cfg.segment_bytes, 1073741824LL);
	ck_assert_int_eq(cfg.segment_ms, 604800000LL);
	ck_assert_int_eq(cfg.retention_bytes, -1);
	ck_assert_int_eq(cfg.retention_ms, 604800000LL);
	ck_assert_int_eq(cfg.index_interval_bytes, 4096);
	ck_assert_int_eq(cfg.max_message_bytes, 1048588);
	ck_assert_int_eq(cfg.preallocate_bytes, 8388608);
	ck_assert_int_eq(cfg.checkpoint_interval_ms, 1000);
	ck_assert_int_eq(cfg.retention_check_ms, 60000);
	ck_assert_int_eq(cfg.restart_backoff_initial_ms, 100);
	ck_assert_int_eq(cfg.restart_backoff_max_ms, 5000);
	ck_assert_int_eq(cfg.restart_stable_ms, 10000);
	ck_assert_int_eq(cfg.restart_burst, 30);
	ck_assert_int_eq(cfg.restart_window_ms, 60000);
	ck_assert_int_eq(cfg.stop_timeout_ms, 10000);
	ck_assert_int_eq(cfg.ready_timeout_ms, 30000);
	ck_assert_int_eq(cfg.watchdog_ms, 0);
	ck_assert_int_eq(cfg.hang_kill_ms, 30000);
	for (int i = 0; i < CK_CHILD_COUNT; i++)
		ck_assert_str_eq(cfg.wrapper[i], "");
	ck_assert_int_eq(cfg.log_level, CK_LOG_INFO);
	ck_assert_str_eq(cfg.log_file, "");
	ck_assert(!cfg.metadata_commit_leader);
	ck_assert_int_eq(cfg.metadata_snapshot_entries, 100000);
	ck_assert_int_eq(cfg.metadata_compact_keep, 0);
	ck_assert_int_eq(cfg.metadata_broker_session_ms, 4000);
	ck_assert_int_eq(cfg.ipc_frame_max_bytes, 128 << 20);
	ck_assert_int_eq(cfg.kafka_max_request_bytes, 104857600);
	ck_assert_int_eq(cfg.kafka_idle_timeout_ms, 600000);
	ck_assert(cfg.kafka_auto_create_topics);
	ck_assert_int_eq(cfg.kafka_num_partitions, 1);
	ck_assert_int_eq(cfg.kafka_default_replication_factor, 1);
	ck_assert_int_eq(cfg.kafka_request_timeout_ms, 30000);
	ck_assert_int_eq(cfg.kafka_max_inflight_requests, 256);
	ck_assert_int_eq(cfg.kafka_max_queued_response_bytes, 64 << 20);
	ck_assert_int_eq(cfg.kafka_max_inflight_request_bytes, 16 << 20);
	ck_assert_int_eq(cfg.kafka_queued_max_request_bytes, 512 << 20);
	ck_assert_int_eq(cfg.kafka_drain_timeout_ms, 5000);
	ck_assert_int_eq(cfg.peer_count, 0);
}
END_TEST

/* Every key once: its line in a file, its environment variable, a
 * non-default value, and how to see it in ck_config_t. */
typedef struct {
	const char *table, *key, *file_value, *env, *env_value;
	int (*check)(const ck_config_t *c);
} key_case_t;

#define CHECK(name, expr)                                                                    \
	static int name(const ck_config_t *c) { return (expr); }
CHECK(k_id, c->node_id == 3)
CHECK(k_cluster, !strcmp(c->cluster_id, "prod-eu"))
CHECK(k_data, !strcmp(c->data_dir, "/var/lib/chronik"))
CHECK(k_kafka, !strcmp(c->kafka_listen, "0.0.0.0:19092"))
CHECK(k_adv, !strcmp(c->kafka_advertised, "broker3.example:9092"))
CHECK(k_repl, !strcmp(c->replication_listen, "10.0.0.3:19291"))
CHECK(k_raft, !strcmp(c->raft_listen, "[::1]:15001"))
CHECK(k_admin, !strcmp(c->admin_listen, "127.0.0.1:19644"))
CHECK(k_profile, c->wal_profile == CK_WAL_PROFILE_LOW)
CHECK(k_segb, c->segment_bytes == 1048576)
CHECK(k_segms, c->segment_ms == 3600000)
CHECK(k_retb, c->retention_bytes == 10737418240LL)
CHECK(k_retms, c->retention_ms == -1)
CHECK(k_idx, c->index_interval_bytes == 8192)
CHECK(k_maxmsg, c->max_message_bytes == 2097152)
CHECK(k_prealloc, c->preallocate_bytes == 0)
CHECK(k_ckpt, c->checkpoint_interval_ms == 250)
CHECK(k_retchk, c->retention_check_ms == 5000)
CHECK(k_boi, c->restart_backoff_initial_ms == 50)
CHECK(k_bom, c->restart_backoff_max_ms == 2000)
CHECK(k_stable, c->restart_stable_ms == 0)
CHECK(k_burst, c->restart_burst == 5)
CHECK(k_window, c->restart_window_ms == 1000)
CHECK(k_stop, c->stop_timeout_ms == 2500)
CHECK(k_ready, c->ready_timeout_ms == 7000)
CHECK(k_wd, c->watchdog_ms == 1500)
CHECK(k_hang, c->hang_kill_ms == 0)
CHECK(k_w0, !strcmp(c->wrapper[CK_CHILD_WALWRITER], "perf record -g -o /tmp/w.data"))
CHECK(k_w1, !strcmp(c->wrapper[CK_CHILD_RAFTD], "strace -f"))
CHECK(k_w2, !strcmp(c->wrapper[CK_CHILD_REPLICATOR], "nice -n 5"))
CHECK(k_w3, !strcmp(c->wrapper[CK_CHILD_KAFKA_FRONTEND], "valgrind --error-exitcode=99"))
CHECK(k_level, c->log_level == CK_LOG_DEBUG)
CHECK(k_file, !strcmp(c->log_file, "/var/log/chronik.log"))
CHECK(k_commit, c->metadata_commit_leader)
CHECK(k_snapent, c->metadata_snapshot_entries == 200)
CHECK(k_keep, c->metadata_compact_keep == 7)
CHECK(k_session, c->metadata_broker_session_ms == 1500)
CHECK(k_frame, c->ipc_frame_max_bytes == 4194304)
CHECK(k_kreq, c->kafka_max_request_bytes == 2097152)
CHECK(k_kidle, c->kafka_idle_timeout_ms == 0)
CHECK(k_kauto, !c->kafka_auto_create_topics)
CHECK(k_knp, c->kafka_num_partitions == 6)
CHECK(k_ktmo, c->kafka_request_timeout_ms == 4500)
CHECK(k_kinfl, c->kafka_max_inflight_requests == 8)
CHECK(k_kout, c->kafka_max_queued_response_bytes == 1048576)
CHECK(k_kinb, c->kafka_max_inflight_request_bytes == 1048576)
CHECK(k_kdrain, c->kafka_drain_timeout_ms == 0)
CHECK(k_kqreq, c->kafka_queued_max_request_bytes == 4294967296LL)
CHECK(k_koret, c->kafka_offsets_retention_ms == 86400000)
CHECK(k_kochk, c->kafka_offsets_check_ms == 2500)
CHECK(k_kcodec, c->kafka_compression_type == 4)

static const key_case_t key_cases[] = {
	{"node", "id", "3", "CHRONIK_NODE_ID", "3", k_id},
	{"node", "cluster_id", "\"prod-eu\"", "CHRONIK_NODE_CLUSTER_ID", "prod-eu", k_cluster},
	{"node", "data_dir", "\"/var/lib/chronik\"", "CHRONIK_NODE_DATA_DIR", "/var/lib/chronik",
	 k_data},
	{"listeners", "kafka", "\"0.0.0.0:19092\"", "CHRONIK_LISTENERS_KAFKA", "0.0.0.0:19092",
	 k_kafka},
	{"listeners", "kafka_advertised", "\"broker3.example:9092\"",
	 "CHRONIK_LISTENERS_KAFKA_ADVERTISED", "broker3.example:9092", k_adv},
	{"listeners", "replication", "\"10.0.0.3:19291\"", "CHRONIK_LISTENERS_REPLICATION",
	 "10.0.0.3:19291", k_repl},
	{"listeners", "raft", "\"[::1]:15001\"", "CHRONIK_LISTENERS_RAFT", "[::1]:15001", k_raft},
	{"listeners", "admin", "\"127.0.0.1:19644\"", "CHRONIK_LISTENERS_ADMIN", "127.0.0.1:19644",
	 k_admin},
	{"wal", "profile", "\"low\"", "CHRONIK_WAL_PROFILE", "low", k_profile},
	{"wal", "segment_bytes", "1_048_576", "CHRONIK_WAL_SEGMENT_BYTES", "1048576", k_segb},
	{"wal", "segment_ms", "3_600_000", "CHRONIK_WAL_SEGMENT_MS", "3600000", k_segms},
	{"wal", "retention_bytes", "10737418240", "CHRONIK_WAL_RETENTION_BYTES", "10_737_418_240",
	 k_retb},
	{"wal", "retention_ms", "-1", "CHRONIK_WAL_RETENTION_MS", "-1", k_retms},
	{"wal", "index_interval_bytes", "8192", "CHRONIK_WAL_INDEX_INTERVAL_BYTES", "8192", k_idx},
	{"wal", "max_message_bytes", "2097152", "CHRONIK_WAL_MAX_MESSAGE_BYTES", "2097152",
	 k_maxmsg},
	{"wal", "preallocate_bytes", "0", "CHRONIK_WAL_PREALLOCATE_BYTES", "0", k_prealloc},
	{"wal", "checkpoint_interval_ms", "+250", "CHRONIK_WAL_CHECKPOINT_INTERVAL_MS", "250",
	 k_ckpt},
	{"wal", "retention_check_ms", "5000", "CHRONIK_WAL_RETENTION_CHECK_MS", "5000", k_retchk},
	{"supervisor", "restart_backoff_initial_ms", "50",
	 "CHRONIK_SUPERVISOR_RESTART_BACKOFF_INITIAL_MS", "50", k_boi},
	{"supervisor", "restart_backoff_max_ms", "2000", "CHRONIK_SUPERVISOR_RESTART_BACKOFF_MAX_MS",
	 "2000", k_bom},
	{"supervisor", "restart_stable_ms", "0", "CHRONIK_SUPERVISOR_RESTART_STABLE_MS", "0",
	 k_stable},
	{"supervisor", "restart_burst", "5", "CHRONIK_SUPERVISOR_RESTART_BURST", "5", k_burst},
	{"supervisor", "restart_window_ms", "1000", "CHRONIK_SUPERVISOR_RESTART_WINDOW_MS", "1000",
	 k_window},
	{"supervisor", "stop_timeout_ms", "2500", "CHRONIK_SUPERVISOR_STOP_TIMEOUT_MS", "2500",
	 k_stop},
	{"supervisor", "ready_timeout_ms", "7000", "CHRONIK_SUPERVISOR_READY_TIMEOUT_MS", "7000",
	 k_ready},
	{"supervisor", "watchdog_ms", "1500", "CHRONIK_SUPERVISOR_WATCHDOG_MS", "1500", k_wd},
	{"supervisor", "hang_kill_ms", "0", "CHRONIK_SUPERVISOR_HANG_KILL_MS", "0", k_hang},
	{"wrapper", "walwriter", "\"perf record -g -o /tmp/w.data\"", "CHRONIK_WRAPPER_WALWRITER",
	 "perf record -g -o /tmp/w.data", k_w0},
	{"wrapper", "raftd", "\"strace -f\"", "CHRONIK_WRAPPER_RAFTD", "strace -f", k_w1},
	{"wrapper", "replicator", "\"nice -n 5\"", "CHRONIK_WRAPPER_REPLICATOR", "nice -n 5", k_w2},
	{"wrapper", "kafka-frontend", "\"valgrind --error-exitcode=99\"",
	 "CHRONIK_WRAPPER_KAFKA_FRONTEND", "valgrind --error-exitcode=99", k_w3},
	{"log", "level", "\"debug\"", "CHRONIK_LOG_LEVEL", "debug", k_level},
	{"log", "file", "\"/var/log/chronik.log\"", "CHRONIK_LOG_FILE", "/var/log/chronik.log",
	 k_file},
	{"metadata", "commit", "\"leader\"", "CHRONIK_METADATA_COMMIT", "leader", k_commit},
	{"metadata", "snapshot_entries", "200", "CHRONIK_METADATA_SNAPSHOT_ENTRIES", "200",
	 k_snapent},
	{"metadata", "compact_keep", "7", "CHRONIK_METADATA_COMPACT_KEEP", "7", k_keep},
	{"metadata", "broker_session_ms", "1_500", "CHRONIK_METADATA_BROKER_SESSION_MS", "1500",
	 k_session},
	{"ipc", "frame_max_bytes", "4194304", "CHRONIK_IPC_FRAME_MAX_BYTES", "4194304", k_frame},
	{"kafka", "max_request_bytes", "2_097_152", "CHRONIK_KAFKA_MAX_REQUEST_BYTES", "2097152",
	 k_kreq},
	{"kafka", "idle_timeout_ms", "0", "CHRONIK_KAFKA_IDLE_TIMEOUT_MS", "0", k_kidle},
	{"kafka", "auto_create_topics_enable", "false",
	 "CHRONIK_KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false", k_kauto},
	{"kafka", "num_partitions", "6", "CHRONIK_KAFKA_NUM_PARTITIONS", "6", k_knp},
	/* default_replication_factor > 1 needs peers: test_kafka_table. */
	{"kafka", "request_timeout_ms", "4500", "CHRONIK_KAFKA_REQUEST_TIMEOUT_MS", "4500",
	 k_ktmo},
	{"kafka", "max_inflight_requests", "8", "CHRONIK_KAFKA_MAX_INFLIGHT_REQUESTS", "8",
	 k_kinfl},
	{"kafka", "max_queued_response_bytes", "1048576",
	 "CHRONIK_KAFKA_MAX_QUEUED_RESPONSE_BYTES", "1048576", k_kout},
	{"kafka", "max_inflight_request_bytes", "1_048_576",
	 "CHRONIK_KAFKA_MAX_INFLIGHT_REQUEST_BYTES", "1048576", k_kinb},
	{"kafka", "drain_timeout_ms", "0", "CHRONIK_KAFKA_DRAIN_TIMEOUT_MS", "0", k_kdrain},
	{"kafka", "queued_max_request_bytes", "4_294_967_296",
	 "CHRONIK_KAFKA_QUEUED_MAX_REQUEST_BYTES", "4294967296", k_kqreq},
	{"kafka", "offsets_retention_ms", "86_400_000", "CHRONIK_KAFKA_OFFSETS_RETENTION_MS",
	 "86400000", k_koret},
	{"kafka", "offsets_retention_check_interval_ms", "2500",
	 "CHRONIK_KAFKA_OFFSETS_RETENTION_CHECK_INTERVAL_MS", "2500", k_kochk},
	{"kafka", "compression_type", "\"zstd\"", "CHRONIK_KAFKA_COMPRESSION_TYPE", "zstd",
	 k_kcodec},
};

#define N_KEYS (sizeof(key_cases) / sizeof(key_cases[0]))

/* Node 3 needs a [peer.3] table once peers exist; none here, so fine. */
START_TEST(test_every_key_from_file)
{
	const key_case_t *k = &key_cases[_i];
	char text[512];

	snprintf(text, sizeof(text), "[%s]\n%s = %s\n", k->table, k->key, k->file_value);
	ck_assert_msg(load_text(text) == 0, "%s.%s: %s", k->table, k->key, err);
	ck_assert_msg(k->check(&cfg), "%s.%s not applied", k->table, k->key);
	/* The embedded default text mentions the key under its table. */
	snprintf(text, sizeof(text), "\n%s = ", k->key);
	const char *at = strstr(ck_config_default_toml, text);
	snprintf(text, sizeof(text), "\n[%s]", k->table);
	const char *table = strstr(ck_config_default_toml, text);
	ck_assert_msg(at && table && table < at, "default text lacks %s.%s", k->table, k->key);
}
END_TEST

START_TEST(test_every_key_from_env)
{
	const key_case_t *k = &key_cases[_i];

	ck_assert_int_eq(setenv(k->env, k->env_value, 1), 0);
	ck_assert_msg(ck_config_load(&cfg, NULL, err, sizeof(err)) == 0, "%s: %s", k->env, err);
	ck_assert_msg(k->check(&cfg), "%s not applied", k->env);
}
END_TEST

START_TEST(test_all_keys_together)
{
	char text[8192];
	size_t n = 0;
	const char *table = "";

	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(table, key_cases[i].table)) {
			table = key_cases[i].table;
			n += (size_t)snprintf(text + n, sizeof(text) - n, "\n[%s]  # table\n", table);
		}
		n += (size_t)snprintf(text + n, sizeof(text) - n, "  %s=%s # set\n",
				      key_cases[i].key, key_cases[i].file_value);
	}
	n += (size_t)snprintf(text + n, sizeof(text) - n,
			      "[peer.3]\nraft = \"a:1\"\nreplication = \"a:2\"\nkafka = \"a:3\"\n");
	ck_assert_uint_lt(n, sizeof(text));
	ck_assert_msg(load_text(text) == 0, "%s", err);
	for (size_t i = 0; i < N_KEYS; i++)
		ck_assert_msg(key_cases[i].check(&cfg), "%s.%s", key_cases[i].table,
			      key_cases[i].key);
}
END_TEST

START_TEST(test_env_overrides_file)
{
	ck_assert_int_eq(setenv("CHRONIK_WAL_PROFILE", "ultra", 1), 0);
	ck_assert_int_eq(setenv("CHRONIK_DATA_DIR", "/srv/alias", 1), 0);
	ck_assert_int_eq(load_text("[wal]\nprofile = \"medium\"\n[node]\ndata_dir = \"/f\"\n"), 0);
	ck_assert_int_eq(cfg.wal_profile, CK_WAL_PROFILE_ULTRA);
	ck_assert_str_eq(cfg.data_dir, "/srv/alias");
	/* The specific name wins over the alias. */
	ck_assert_int_eq(setenv("CHRONIK_NODE_DATA_DIR", "/srv/specific", 1), 0);
	ck_assert_int_eq(load_text("[node]\ndata_dir = \"/f\"\n"), 0);
	ck_assert_str_eq(cfg.data_dir, "/srv/specific");
	/* Empty variables count as unset; unknown CHRONIK_* ones are ignored. */
	ck_assert_int_eq(setenv("CHRONIK_WAL_PROFILE", "", 1), 0);
	ck_assert_int_eq(setenv("CHRONIK_BUILD_ROOT", "/tmp/x", 1), 0);
	ck_assert_int_eq(load_text("[wal]\nprofile = \"medium\"\n"), 0);
	ck_assert_int_eq(cfg.wal_profile, CK_WAL_PROFILE_MEDIUM);
	/* Profile names from the environment are case-insensitive. */
	ck_assert_int_eq(setenv("CHRONIK_WAL_PROFILE", "LOW", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.wal_profile, CK_WAL_PROFILE_LOW);
}
END_TEST

START_TEST(test_env_errors)
{
	ck_assert_int_eq(setenv("CHRONIK_WAL_PROFILE", "fast", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_WAL_PROFILE: unknown profile \"fast\" "
			      "(expected ultra|high|medium|low)");
	ck_assert_int_eq(unsetenv("CHRONIK_WAL_PROFILE"), 0);
	ck_assert_int_eq(setenv("CHRONIK_WAL_SEGMENT_BYTES", "1GiB", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_WAL_SEGMENT_BYTES: invalid integer \"1GiB\"");
	ck_assert_int_eq(setenv("CHRONIK_WAL_SEGMENT_BYTES", "100", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_WAL_SEGMENT_BYTES: 100 out of range "
			      "(1024..2147483647)");
	ck_assert_int_eq(unsetenv("CHRONIK_WAL_SEGMENT_BYTES"), 0);
	ck_assert_int_eq(setenv("CHRONIK_NODE_ID", "0", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_NODE_ID: 0 out of range (1..2147483647)");
	ck_assert_int_eq(unsetenv("CHRONIK_NODE_ID"), 0);
	ck_assert_int_eq(setenv("CHRONIK_METADATA_COMMIT", "async", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_METADATA_COMMIT: unknown commit mode \"async\" "
			      "(expected quorum|leader)");
	ck_assert_int_eq(unsetenv("CHRONIK_METADATA_COMMIT"), 0);
	/* A cross-key check names the variable that set the value. */
	ck_assert_int_eq(setenv("CHRONIK_SUPERVISOR_RESTART_BACKOFF_MAX_MS", "50", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_SUPERVISOR_RESTART_BACKOFF_MAX_MS: 50 is below "
			      "restart_backoff_initial_ms 100");
}
END_TEST

START_TEST(test_comments_escapes_whitespace)
{
	const char *text = "\xEF\xBB\xBF# a comment line\r\n"
			   "; not allowed in TOML, but this line is a comment?\n";

	/* ';' is not a TOML comment: rejected, naming the line. */
	expect_error(text, "2: unexpected ';' (comments start with #)");
	text = "# chronik\r\n"
	       "\n"
	       "   [node]   # the node table\r\n"
	       "\tid   =   7# no space before the comment\n"
	       "  cluster_id = \"a \\\"quoted\\\" # not a comment ; nor this \\\\ end\"  # real\n"
	       "data_dir=\"tab\\there\\nnewline\"\n"
	       "[peer.7]\n"
	       "raft = \"h7:5001\"\n"
	       "replication = \"h7:9291\"\n"
	       "kafka = \"h7:9092\"\n";
	ck_assert_msg(load_text(text) == 0, "%s", err);
	ck_assert_int_eq(cfg.node_id, 7);
	ck_assert_str_eq(cfg.cluster_id, "a \"quoted\" # not a comment ; nor this \\ end");
	ck_assert_str_eq(cfg.data_dir, "tab\there\nnewline");
	/* An empty file is the defaults. */
	ck_config_t d;
	ck_config_defaults(&d);
	ck_assert_int_eq(load_text(""), 0);
	ck_assert_mem_eq(&cfg, &d, sizeof(d));
	ck_assert_int_eq(load_text("# only comments\n\n   \n"), 0);
	ck_assert_mem_eq(&cfg, &d, sizeof(d));
	/* A long string (longer than inih's line buffer) survives intact. */
	char big[700], longtext[900];
	memset(big, 'x', 500);
	big[500] = '\0';
	snprintf(longtext, sizeof(longtext), "[wrapper]\nraftd = \"%s\"  # long\n", big);
	ck_assert_msg(load_text(longtext) == 0, "%s", err);
	ck_assert_str_eq(cfg.wrapper[CK_CHILD_RAFTD], big);
}
END_TEST

START_TEST(test_syntax_errors)
{
	expect_error("[node]\nid = \"3\n", "2: unterminated string");
	expect_error("[node]\ncluster_id = \"a\\qb\"\n", "2: invalid escape \\q in string");
	expect_error("[node]\ncluster_id = \"a\" \"b\"\n", "2: only one string per line");
	expect_error("[node]\ncluster_id = \"a\" b\n",
		     "2: [node] cluster_id: unexpected text around the string");
	expect_error("[node]\nid =\n", "2: [node] id: missing value");
	expect_error("[node]\nid 3\n", "2: id: expected key = value");
	expect_error("[node]\nid: 3\n", "2: id: expected key = value");
	expect_error("[node]\n\"id\" = 3\n", "2: quoted keys are not supported");
	expect_error("[node]\n= 3\n", "2: expected key = value");
	expect_error("id = 3\n", "1: id: key outside a table (put it under a [table] header)");
	expect_error("[[node]]\n", "1: arrays of tables ([[...]]) are not supported");
	expect_error("\n[node\n", "2: invalid table header (expected [name])");
	expect_error("[node] id = 1\n", "1: [node]: unexpected text after the table header");
	expect_error("[walx]\n", "1: [walx]: unknown table (expected node|listeners|wal|replication|"
				 "supervisor|wrapper|log|metadata|ipc|kafka|peer.N)");
	expect_error("[wal]\n[node]\n[wal]\n", "3: [wal]: duplicate table");
	expect_error("[wal]\nprofile = \"low\"\n# x\nprofile = \"low\"\n",
		     "4: [wal] profile: duplicate key (first on line 2)");
	expect_error("[node]\ncluster_id = \"a\x02\"\n", "2: control character in string");
}
END_TEST

START_TEST(test_value_errors)
{
	expect_error("[wal]\nsegment_ms = 1\nprofile = \"fast\"\n",
		     "3: [wal] profile: unknown profile \"fast\" (expected ultra|high|medium|low)");
	expect_error("[wal]\nfoo = 1\n", "2: [wal] foo: unknown key");
	expect_error("[wal]\nprofile = fast\n",
		     "2: [wal] profile: expected a \"string\", got fast (strings need double "
		     "quotes)");
	expect_error("[wal]\nprofile = 3\n", "2: [wal] profile: expected a \"string\", got an "
					     "integer");
	expect_error("[log]\nfile = true\n", "2: [log] file: expected a \"string\", got a boolean");
	expect_error("[node]\nid = \"3\"\n", "2: [node] id: expected an integer, got a string");
	expect_error("[node]\nid = 0\n", "2: [node] id: 0 out of range (1..2147483647)");
	expect_error("[node]\nid = 2147483648\n",
		     "2: [node] id: 2147483648 out of range (1..2147483647)");
	expect_error("[wal]\nretention_ms = 99999999999999999999\n",
		     "2: [wal] retention_ms: 99999999999999999999 out of range "
		     "(-1..9223372036854775807)");
	expect_error("[wal]\nretention_ms = -2\n",
		     "2: [wal] retention_ms: -2 out of range (-1..9223372036854775807)");
	expect_error("[wal]\nsegment_bytes = 1__000_000\n",
		     "2: [wal] segment_bytes: invalid integer \"1__000_000\"");
	expect_error("[wal]\nsegment_bytes = _1000\n",
		     "2: [wal] segment_bytes: invalid integer \"_1000\"");
	expect_error("[wal]\nsegment_bytes = 1000_\n",
		     "2: [wal] segment_bytes: invalid integer \"1000_\"");
	expect_error("[wal]\nsegment_bytes = 01024\n",
		     "2: [wal] segment_bytes: invalid integer \"01024\"");
	expect_error("[wal]\nsegment_bytes = 1.5\n",
		     "2: [wal] segment_bytes: invalid integer \"1.5\"");
	expect_error("[node]\ncluster_id = \"\"\n", "2: [node] cluster_id: must not be empty");
	expect_error("[listeners]\nkafka = \"localhost\"\n",
		     "2: [listeners] kafka: invalid address \"localhost\" (expected host:port)");
	expect_error("[listeners]\nraft = \"h:70000\"\n",
		     "2: [listeners] raft: invalid address \"h:70000\" (expected host:port)");
	expect_error("[listeners]\nadmin = \"h:0\"\n",
		     "2: [listeners] admin: port of \"h:0\" out of range (1..65535)");
	expect_error("[listeners]\nkafka_advertised = \":9092\"\n",
		     "2: [listeners] kafka_advertised: invalid address \":9092\" (expected "
		     "host:port)");
	expect_error("[log]\nlevel = \"loud\"\n",
		     "2: [log] level: unknown level \"loud\" (expected debug|info|warn|error)");
	expect_error("[kafka]\ncompression_type = \"brotli\"\n",
		     "2: [kafka] compression_type: unknown compression type \"brotli\" (expected "
		     "producer|uncompressed|gzip|snappy|lz4|zstd)");
	expect_error("[metadata]\ncommit = \"async\"\n",
		     "2: [metadata] commit: unknown commit mode \"async\" (expected quorum|leader)");
	expect_error("[ipc]\nframe_max_bytes = 100\n",
		     "2: [ipc] frame_max_bytes: 100 out of range (4096..1073741824)");
}
END_TEST

START_TEST(test_too_long_string)
{
	char text[2048], big[1100];

	memset(big, 'd', 1024);
	big[1024] = '\0';
	snprintf(text, sizeof(text), "[node]\ndata_dir = \"%s\"\n", big);
	expect_error(text, "2: [node] data_dir: too long (1024 bytes, at most 1023)");
	big[64] = '\0';
	snprintf(text, sizeof(text), "[node]\ncluster_id = \"%s\"\n", big);
	expect_error(text, "2: [node] cluster_id: too long (64 bytes, at most 63)");
	big[63] = '\0';
	snprintf(text, sizeof(text), "[node]\ncluster_id = \"%s\"\n", big);
	ck_assert_msg(load_text(text) == 0, "%s", err);
	ck_assert_str_eq(cfg.cluster_id, big);
}
END_TEST

START_TEST(test_cross_key_errors)
{
	expect_error("[supervisor]\nrestart_backoff_initial_ms = 500\n\n"
		     "restart_backoff_max_ms = 400\n",
		     "4: [supervisor] restart_backoff_max_ms: 400 is below "
		     "restart_backoff_initial_ms 500");
	expect_error("[ipc]\nframe_max_bytes = 1048576\n[wal]\nmax_message_bytes = 1000000\n",
		     "4: [wal] max_message_bytes: 1000000 does not fit in [ipc] frame_max_bytes "
		     "1048576 (which needs 65536 bytes more)");
	/* Without a line: the default value clashes with a file value. */
	ck_assert_int_eq(load_text("[ipc]\nframe_max_bytes = 65536\n"), CK_E_CONFIG);
	char expect[600];
	snprintf(expect, sizeof(expect), "%s: [wal] max_message_bytes: 1048588 does not fit in "
		 "[ipc] frame_max_bytes 65536 (which needs 65536 bytes more)", path);
	ck_assert_str_eq(err, expect);
}
END_TEST

static const char *peers3 = "[node]\nid = 2\n"
			    "[peer.3]\nraft = \"10.0.0.3:5001\"\nreplication = \"10.0.0.3:9291\"\n"
			    "kafka = \"10.0.0.3:9092\"\n"
			    "[peer.1]\nraft = \"10.0.0.1:5001\"\nreplication = \"10.0.0.1:9291\"\n"
			    "kafka = \"10.0.0.1:9092\"\n"
			    "[peer.2]\nkafka = \"[fd00::2]:9092\"\nraft = \"10.0.0.2:5001\"\n"
			    "replication = \"10.0.0.2:9291\"\n";

START_TEST(test_peers)
{
	ck_assert_msg(load_text(peers3) == 0, "%s", err);
	ck_assert_int_eq(cfg.peer_count, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(cfg.peers[i].id, i + 1);
	ck_assert_str_eq(cfg.peers[0].raft, "10.0.0.1:5001");
	ck_assert_str_eq(cfg.peers[1].kafka, "[fd00::2]:9092");
	ck_assert_str_eq(cfg.peers[1].replication, "10.0.0.2:9291");
	ck_assert_str_eq(cfg.peers[2].replication, "10.0.0.3:9291");
	/* CHRONIK_NODE_ID picks another listed node. */
	ck_assert_int_eq(setenv("CHRONIK_NODE_ID", "3", 1), 0);
	ck_assert_int_eq(load_text(peers3), 0);
	ck_assert_int_eq(cfg.node_id, 3);
	ck_assert_int_eq(setenv("CHRONIK_NODE_ID", "4", 1), 0);
	ck_assert_int_eq(load_text(peers3), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_NODE_ID: node 4 has no [peer.4] table (list "
			      "every node, this one included)");
}
END_TEST

START_TEST(test_peer_errors)
{
	expect_error("[node]\nid = 9\n[peer.1]\nraft = \"a:1\"\nreplication = \"a:2\"\n"
		     "kafka = \"a:3\"\n",
		     "2: [node] id: node 9 has no [peer.9] table (list every node, this one "
		     "included)");
	expect_error("[peer.1]\nraft = \"a:1\"\nkafka = \"a:3\"\n",
		     "1: [peer.1] replication: missing (a peer needs raft, replication and kafka)");
	expect_error("[peer.1]\nraft = \"a:1\"\nhttp = \"a:3\"\n",
		     "3: [peer.1] http: unknown key (expected raft|replication|kafka)");
	expect_error("[peer.1]\nraft = \"a:1\"\nraft = \"a:3\"\n", "3: [peer.1] raft: duplicate key");
	expect_error("[peer.1]\nraft = \"a:0\"\n",
		     "2: [peer.1] raft: port of \"a:0\" out of range (1..65535)");
	expect_error("[peer.1]\nraft = 5001\n",
		     "2: [peer.1] raft: expected a \"string\", got an integer");
	expect_error("[peer.0]\n", "1: [peer.0]: peer id must be a node id >= 1");
	expect_error("[peer.x]\n", "1: [peer.x]: peer id must be a node id >= 1");
	expect_error("[peer.01]\n", "1: [peer.01]: peer id must be a node id >= 1");
	expect_error("[peer.2]\n[peer.1]\n[peer.2]\n",
		     "3: [peer.2]: duplicate table (first on line 1)");
	char text[2048];
	size_t n = 0;
	for (int i = 1; i <= CK_CONFIG_PEERS_MAX + 1; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "[peer.%d]\n", i);
	char msg[128];
	snprintf(msg, sizeof(msg), "%d: [peer.%d]: too many peers (at most %d)",
		 CK_CONFIG_PEERS_MAX + 1, CK_CONFIG_PEERS_MAX + 1, CK_CONFIG_PEERS_MAX);
	expect_error(text, msg);
}
END_TEST

/* Two nodes at one address, two listeners on one port: refused. This node's
 * own [peer.N] elsewhere than its listeners: a warning line each. */
START_TEST(test_peer_addresses)
{
	char msgs[3][512];

	expect_error("[peer.1]\nraft = \"a:1\"\nreplication = \"a:2\"\nkafka = \"a:3\"\n"
	             "[peer.2]\nraft = \"b:1\"\nreplication = \"A:2\"\nkafka = \"b:3\"\n",
	             "5: [peer.2] replication: A:2 is also [peer.1]'s (each node needs an "
	             "address of its own)");
	expect_error("[listeners]\nadmin = \"127.0.0.1:9092\"\n",
	             "2: [listeners] admin: 127.0.0.1:9092 takes the port of [listeners] kafka = "
	             "127.0.0.1:9092 (each listener needs a port of its own)");
	/* A wildcard takes the port on every address; the key set is named. */
	expect_error("[listeners]\nkafka = \"0.0.0.0:5001\"\n",
	             "2: [listeners] kafka: 0.0.0.0:5001 takes the port of [listeners] raft = "
	             "127.0.0.1:5001 (each listener needs a port of its own)");
	/* One port on two addresses is two sockets. */
	ck_assert_msg(load_text("[listeners]\nadmin = \"127.0.0.2:9092\"\n") == 0, "%s", err);
	ck_assert_uint_eq(ck_config_self_peer_mismatch(&cfg, msgs, 3), 0);

	/* Node 2 listens on 127.0.0.1, its peer table says 10.0.0.2. */
	ck_assert_msg(load_text(peers3) == 0, "%s", err);
	ck_assert_uint_eq(ck_config_self_peer_mismatch(&cfg, msgs, 3), 3);
	ck_assert_str_eq(msgs[0], "[peer.2] raft = 10.0.0.2:5001 is not where this node's "
	                          "[listeners] raft = 127.0.0.1:5001 is (the other nodes use the "
	                          "peer address: fine behind a proxy, a typo otherwise)");
	ck_assert_uint_eq(ck_config_self_peer_mismatch(&cfg, msgs, 1), 1);
	/* Wildcard listeners on the same ports, the advertised Kafka address. */
	ck_assert_msg(load_text("[node]\nid = 1\n[listeners]\nraft = \"0.0.0.0:5001\"\n"
	                        "replication = \"[::]:9291\"\nkafka = \"0.0.0.0:9092\"\n"
	                        "kafka_advertised = \"h1:19092\"\n"
	                        "[peer.1]\nraft = \"h1:5001\"\nreplication = \"h1:9291\"\n"
	                        "kafka = \"h1:9092\"\n") == 0,
	              "%s", err);
	ck_assert_uint_eq(ck_config_self_peer_mismatch(&cfg, msgs, 3), 1);
	ck_assert_str_eq(msgs[0], "[peer.1] kafka = h1:9092 is not where this node's "
	                          "[listeners] kafka_advertised = h1:19092 is (the other nodes use "
	                          "the peer address: fine behind a proxy, a typo otherwise)");
}
END_TEST

/* [kafka]: the replication factor bounded by the node count, the names
 * kafka-frontend read before the table existed, the request size. */
START_TEST(test_kafka_table)
{
	char text[1024];
	const char *at = strstr(ck_config_default_toml, "\ndefault_replication_factor = ");
	const char *table = strstr(ck_config_default_toml, "\n[kafka]");
	const char *over[] = {"kafka.num_partitions=3", "kafka.auto_create_topics_enable=false",
			      NULL};

	ck_assert(at && table && table < at);
	snprintf(text, sizeof(text), "%s[kafka]\ndefault_replication_factor = 3\n", peers3);
	ck_assert_msg(load_text(text) == 0, "%s", err);
	ck_assert_int_eq(cfg.kafka_default_replication_factor, 3);
	snprintf(text, sizeof(text), "%s[kafka]\ndefault_replication_factor = 4\n", peers3);
	expect_error(text, "16: [kafka] default_replication_factor: 4 is more than the 3 node(s) "
			   "of the cluster");
	expect_error("[kafka]\ndefault_replication_factor = 2\n",
		     "2: [kafka] default_replication_factor: 2 is more than the 1 node(s) of the "
		     "cluster");
	expect_error("[kafka]\ndefault_replication_factor = 0\n",
		     "2: [kafka] default_replication_factor: 0 out of range (1..32767)");
	expect_error("[kafka]\nnum_partitions = 10001\n",
		     "2: [kafka] num_partitions: 10001 out of range (1..10000)");
	expect_error("[kafka]\nmax_inflight_requests = 0\n",
		     "2: [kafka] max_inflight_requests: 0 out of range (1..65536)");
	expect_error("[kafka]\nidle_timeout_ms = -1\n",
		     "2: [kafka] idle_timeout_ms: -1 out of range (0..2147483647)");
	expect_error("[kafka]\nauto_create_topics_enable = \"yes\"\n",
		     "2: [kafka] auto_create_topics_enable: expected true or false, got a string");
	expect_error("[kafka]\nmax_request_bytes = 1_000_000\n",
		     "2: [kafka] max_request_bytes: 1000000 is below [wal] max_message_bytes "
		     "1048588 (the largest batch could never arrive)");
	ck_assert_int_eq(load_text("[kafka]\nmax_request_bytes = 1_000_000\n"
				   "[wal]\nmax_message_bytes = 1_000_000\n"), 0);
	expect_error("[kafka]\nqueued_max_request_bytes = 1_048_576\n",
		     "2: [kafka] queued_max_request_bytes: 1048576 is below max_request_bytes "
		     "104857600 (the largest request could never be read)");
	/* The old names still work, below the specific ones and the file. */
	ck_assert_int_eq(setenv("CHRONIK_NUM_PARTITIONS", "4", 1), 0);
	ck_assert_int_eq(setenv("CHRONIK_AUTO_CREATE_TOPICS_ENABLE", "false", 1), 0);
	ck_assert_int_eq(load_text("[kafka]\nnum_partitions = 2\n"), 0);
	ck_assert_int_eq(cfg.kafka_num_partitions, 4);
	ck_assert(!cfg.kafka_auto_create_topics);
	ck_assert_int_eq(setenv("CHRONIK_KAFKA_NUM_PARTITIONS", "5", 1), 0);
	ck_assert_int_eq(setenv("CHRONIK_KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.kafka_num_partitions, 5);
	ck_assert(cfg.kafka_auto_create_topics);
	/* Arguments win over both. */
	ck_assert_int_eq(ck_config_load_with(&cfg, NULL, over, err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.kafka_num_partitions, 3);
	ck_assert(!cfg.kafka_auto_create_topics);
	ck_assert_int_eq(unsetenv("CHRONIK_KAFKA_NUM_PARTITIONS"), 0);
	ck_assert_int_eq(unsetenv("CHRONIK_KAFKA_AUTO_CREATE_TOPICS_ENABLE"), 0);
	/* A bad value under an old name is an error naming that name. */
	ck_assert_int_eq(setenv("CHRONIK_NUM_PARTITIONS", "0", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_NUM_PARTITIONS: 0 out of range (1..10000)");
	ck_assert_int_eq(unsetenv("CHRONIK_NUM_PARTITIONS"), 0);
	ck_assert_int_eq(setenv("CHRONIK_AUTO_CREATE_TOPICS_ENABLE", "maybe", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_AUTO_CREATE_TOPICS_ENABLE: expected true or "
			      "false, got maybe");
	ck_assert_int_eq(unsetenv("CHRONIK_AUTO_CREATE_TOPICS_ENABLE"), 0);
	ck_assert_int_eq(setenv("CHRONIK_KAFKA_DEFAULT_REPLICATION_FACTOR", "2", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_KAFKA_DEFAULT_REPLICATION_FACTOR: 2 is more "
			      "than the 1 node(s) of the cluster");
}
END_TEST

/* [metadata] snapshot_entries, compact_keep, broker_session_ms: ranges,
 * and the CHRONIK_RAFTD_* names raftd read before the keys existed. */
START_TEST(test_metadata_table)
{
	const char *over[] = {"metadata.snapshot_entries=50", NULL};

	ck_assert_int_eq(load_text("[metadata]\ncommit = \"leader\"\nsnapshot_entries = 1\n"
				   "compact_keep = 1_000_000_000\nbroker_session_ms = 100\n"),
			 0);
	ck_assert(cfg.metadata_commit_leader);
	ck_assert_int_eq(cfg.metadata_snapshot_entries, 1);
	ck_assert_int_eq(cfg.metadata_compact_keep, 1000000000);
	ck_assert_int_eq(cfg.metadata_broker_session_ms, 100);
	expect_error("[metadata]\nsnapshot_entries = 0\n",
		     "2: [metadata] snapshot_entries: 0 out of range (1..1000000000)");
	expect_error("[metadata]\nsnapshot_entries = -5\n",
		     "2: [metadata] snapshot_entries: -5 out of range (1..1000000000)");
	expect_error("[metadata]\nsnapshot_entries = 1_000_000_001\n",
		     "2: [metadata] snapshot_entries: 1_000_000_001 out of range (1..1000000000)");
	expect_error("[metadata]\ncompact_keep = -1\n",
		     "2: [metadata] compact_keep: -1 out of range (0..1000000000)");
	expect_error("[metadata]\nbroker_session_ms = 99\n",
		     "2: [metadata] broker_session_ms: 99 out of range (100..86400000)");
	expect_error("[metadata]\nbroker_session_ms = 86_400_001\n",
		     "2: [metadata] broker_session_ms: 86_400_001 out of range (100..86400000)");
	expect_error("[metadata]\nsnapshot_entries = \"200\"\n",
		     "2: [metadata] snapshot_entries: expected an integer, got a string");
	expect_error("[metadata]\nsnapshots = 200\n", "2: [metadata] snapshots: unknown key");

	/* The old names override the file ... */
	ck_assert_int_eq(setenv("CHRONIK_RAFTD_SNAPSHOT_ENTRIES", "200", 1), 0);
	ck_assert_int_eq(setenv("CHRONIK_RAFTD_COMPACT_KEEP", "20", 1), 0);
	ck_assert_int_eq(setenv("CHRONIK_RAFTD_BROKER_SESSION_MS", "1000", 1), 0);
	ck_assert_int_eq(load_text("[metadata]\nsnapshot_entries = 300\ncompact_keep = 30\n"
				   "broker_session_ms = 3000\n"),
			 0);
	ck_assert_int_eq(cfg.metadata_snapshot_entries, 200);
	ck_assert_int_eq(cfg.metadata_compact_keep, 20);
	ck_assert_int_eq(cfg.metadata_broker_session_ms, 1000);
	/* ... the specific names win over them, arguments over both. */
	ck_assert_int_eq(setenv("CHRONIK_METADATA_SNAPSHOT_ENTRIES", "400", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.metadata_snapshot_entries, 400);
	ck_assert_int_eq(cfg.metadata_compact_keep, 20);
	ck_assert_int_eq(ck_config_load_with(&cfg, NULL, over, err, sizeof(err)), 0);
	ck_assert_int_eq(cfg.metadata_snapshot_entries, 50);
	ck_assert_int_eq(unsetenv("CHRONIK_METADATA_SNAPSHOT_ENTRIES"), 0);
	/* A bad value under an old name is an error naming that name (raftd
	 * used to ignore it with a warning). */
	ck_assert_int_eq(setenv("CHRONIK_RAFTD_SNAPSHOT_ENTRIES", "0", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_RAFTD_SNAPSHOT_ENTRIES: 0 out of range "
			      "(1..1000000000)");
	ck_assert_int_eq(setenv("CHRONIK_RAFTD_SNAPSHOT_ENTRIES", "many", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_RAFTD_SNAPSHOT_ENTRIES: invalid integer "
			      "\"many\"");
	ck_assert_int_eq(unsetenv("CHRONIK_RAFTD_SNAPSHOT_ENTRIES"), 0);
	ck_assert_int_eq(setenv("CHRONIK_RAFTD_BROKER_SESSION_MS", "10", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_RAFTD_BROKER_SESSION_MS: 10 out of range "
			      "(100..86400000)");
	ck_assert_int_eq(unsetenv("CHRONIK_RAFTD_BROKER_SESSION_MS"), 0);
	ck_assert_int_eq(setenv("CHRONIK_RAFTD_COMPACT_KEEP", "-3", 1), 0);
	ck_assert_int_eq(ck_config_load(&cfg, NULL, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "environment CHRONIK_RAFTD_COMPACT_KEEP: -3 out of range "
			      "(0..1000000000)");
}
END_TEST

START_TEST(test_file_errors)
{
	char missing[300], expect[400];

	snprintf(missing, sizeof(missing), "%s/nope.toml", tmpdir);
	ck_assert_int_eq(ck_config_load(&cfg, missing, err, sizeof(err)), -ENOENT);
	snprintf(expect, sizeof(expect), "%s: %s", missing, strerror(ENOENT));
	ck_assert_str_eq(err, expect);
	ck_assert_int_eq(ck_config_load(&cfg, tmpdir, err, sizeof(err)), -EISDIR);
	/* A tiny or absent error buffer is fine. */
	char small[8];
	ck_assert_int_eq(load_text("[wal]\nprofile = \"x\"\n"), CK_E_CONFIG);
	ck_assert_int_eq(ck_config_load(&cfg, path, small, sizeof(small)), CK_E_CONFIG);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert_int_eq(ck_config_load(&cfg, path, NULL, 0), CK_E_CONFIG);
}
END_TEST

START_TEST(test_overrides)
{
	const char *ok[] = {"node.id=3", "node.data_dir=/flag", "wal.profile=medium", NULL};
	const char *bad_key[] = {"node.nope=1", NULL};
	const char *no_eq[] = {"node.id", NULL};
	const char *bad_val[] = {"wal.segment_bytes=12", NULL};
	const char *peer_check[] = {"node.id=4", NULL};

	/* Arguments win over the environment and the file. */
	ck_assert_int_eq(setenv("CHRONIK_NODE_DATA_DIR", "/env", 1), 0);
	write_file(peers3);
	ck_assert_msg(ck_config_load_with(&cfg, path, ok, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(cfg.node_id, 3);
	ck_assert_str_eq(cfg.data_dir, "/flag");
	ck_assert_int_eq(cfg.wal_profile, CK_WAL_PROFILE_MEDIUM);
	ck_assert_int_eq(ck_config_load_with(&cfg, NULL, bad_key, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "argument node.nope=1: unknown key (expected table.key=value)");
	ck_assert_int_eq(ck_config_load_with(&cfg, NULL, no_eq, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "argument node.id: unknown key (expected table.key=value)");
	ck_assert_int_eq(ck_config_load_with(&cfg, NULL, bad_val, err, sizeof(err)), CK_E_CONFIG);
	ck_assert_str_eq(err, "argument wal.segment_bytes: 12 out of range (1024..2147483647)");
	ck_assert_int_eq(ck_config_load_with(&cfg, path, peer_check, err, sizeof(err)),
			 CK_E_CONFIG);
	ck_assert_str_eq(err, "argument node.id: node 4 has no [peer.4] table (list every node, "
			      "this one included)");
}
END_TEST

START_TEST(test_split_addr)
{
	char host[64];
	uint16_t port = 0;

	ck_assert_int_eq(ck_config_split_addr("127.0.0.1:9092", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 9092);
	ck_assert_int_eq(ck_config_split_addr("[::1]:5001", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 5001);
	ck_assert_int_eq(ck_config_split_addr("broker-1.example.com:0", host, sizeof(host), &port),
			 0);
	ck_assert_str_eq(host, "broker-1.example.com");
	ck_assert_uint_eq(port, 0);
	ck_assert_int_eq(ck_config_split_addr("h:65535", NULL, 0, &port), 0);
	ck_assert_uint_eq(port, 65535);
	static const char *bad[] = {"", "host", ":9092", "host:", "host:65536", "host:12a",
				    "::1:5001", "[::1]5001", "[::1", "[]:1", "h st:1", "host:-1",
				    "host:000001", "host:+1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		port = 4242;
		strcpy(host, "untouched");
		ck_assert_msg(ck_config_split_addr(bad[i], host, sizeof(host), &port) == -EINVAL,
			      "accepted \"%s\"", bad[i]);
		ck_assert_uint_eq(port, 4242);
		ck_assert_str_eq(host, "untouched");
	}
	ck_assert_int_eq(ck_config_split_addr(NULL, host, sizeof(host), &port), -EINVAL);
	/* The host must fit the buffer. */
	ck_assert_int_eq(ck_config_split_addr("abcdefgh:1", host, 8, &port), -EINVAL);
	ck_assert_int_eq(ck_config_split_addr("abcdefg:1", host, 8, &port), 0);
	ck_assert_str_eq(host, "abcdefg");
}
END_TEST

START_TEST(test_profiles_and_children)
{
	static const struct {
		ck_wal_profile_t profile;
		const char *name;
		uint64_t window_us, bytes_max, appends_max;
	} want[] = {
	    {CK_WAL_PROFILE_ULTRA, "ultra", 0, 256u << 10, 256},
	    {CK_WAL_PROFILE_HIGH, "high", 0, 1u << 20, 1024},
	    {CK_WAL_PROFILE_MEDIUM, "medium", 250, 4u << 20, 4096},
	    {CK_WAL_PROFILE_LOW, "low", 1000, 16u << 20, 16384},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const ck_wal_profile_info_t *p = ck_wal_profile_info(want[i].profile);

		ck_assert_str_eq(p->name, want[i].name);
		ck_assert_uint_eq(p->group_window_us, want[i].window_us);
		ck_assert_uint_eq(p->group_bytes_max, want[i].bytes_max);
		ck_assert_uint_eq(p->group_appends_max, want[i].appends_max);
	}
	ck_assert_ptr_null(ck_wal_profile_info((ck_wal_profile_t)4));
	ck_assert_int_eq(ck_wal_profile_parse("medium"), CK_WAL_PROFILE_MEDIUM);
	ck_assert_int_eq(ck_wal_profile_parse("ULTRA"), CK_WAL_PROFILE_ULTRA);
	ck_assert_int_eq(ck_wal_profile_parse("fast"), -EINVAL);
	ck_assert_int_eq(ck_wal_profile_parse(NULL), -EINVAL);
	ck_assert_str_eq(ck_child_name(CK_CHILD_WALWRITER), "walwriter");
	ck_assert_str_eq(ck_child_name(CK_CHILD_RAFTD), "raftd");
	ck_assert_str_eq(ck_child_name(CK_CHILD_REPLICATOR), "replicator");
	ck_assert_str_eq(ck_child_name(CK_CHILD_KAFKA_FRONTEND), "kafka-frontend");
	ck_assert_str_eq(ck_child_name(CK_CHILD_COUNT), "unknown");
}
END_TEST

/* A misspelt CHRONIK_<TABLE>_<KEY> is told from settings, aliases and
 * variables of other tools. */
START_TEST(test_env_misspelt)
{
	static const char *const misspelt[] = {
	    "CHRONIK_KAFKA_NUM_PARTITION=4", "CHRONIK_WAL_PROFIL=low", "CHRONIK_LOG_LEVELS",
	    "CHRONIK_METADATA_COMIT=leader", "CHRONIK_NODE_IDS=2"};
	static const char *const fine[] = {"CHRONIK_KAFKA_NUM_PARTITIONS=4",
	                                   "CHRONIK_WAL_PROFILE=low",
	                                   "CHRONIK_LOG_LEVEL=debug",
	                                   "CHRONIK_NUM_PARTITIONS=3",
	                                   "CHRONIK_RAFTD_COMPACT_KEEP=5",
	                                   "CHRONIK_DATA_DIR=/d",
	                                   "CHRONIK_BUILD_ROOT=/b",
	                                   "CHRONIK_KTEST_KEEP=1",
	                                   "CHRONIK_DISABLE_METADATA_WAL=true",
	                                   "CHRONIK_WRAPPER_KAFKA_FRONTEND=valgrind",
	                                   "CHRONIK_LISTENERS_KAFKA_ADVERTISED=h:1",
	                                   "CHRONIK_WALX=1",
	                                   "PATH=/bin",
	                                   "CHRONIK_",
	                                   "CHRONIK_WAL"};

	for (size_t i = 0; i < sizeof(misspelt) / sizeof(misspelt[0]); i++)
		ck_assert_msg(ck_config_env_misspelt(misspelt[i]), "not flagged: %s", misspelt[i]);
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
		ck_assert_msg(!ck_config_env_misspelt(fine[i]), "flagged: %s", fine[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_config");
	TCase *tc = tcase_create("config");

	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults_equal_embedded_text);
	tcase_add_test(tc, test_operator_set);
	tcase_add_test(tc, test_default_values);
	tcase_add_loop_test(tc, test_every_key_from_file, 0, (int)N_KEYS);
	tcase_add_loop_test(tc, test_every_key_from_env, 0, (int)N_KEYS);
	tcase_add_test(tc, test_all_keys_together);
	tcase_add_test(tc, test_env_overrides_file);
	tcase_add_test(tc, test_env_errors);
	tcase_add_test(tc, test_comments_escapes_whitespace);
	tcase_add_test(tc, test_syntax_errors);
	tcase_add_test(tc, test_value_errors);
	tcase_add_test(tc, test_too_long_string);
	tcase_add_test(tc, test_cross_key_errors);
	tcase_add_test(tc, test_peers);
	tcase_add_test(tc, test_peer_errors);
	tcase_add_test(tc, test_peer_addresses);
	tcase_add_test(tc, test_kafka_table);
	tcase_add_test(tc, test_metadata_table);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_overrides);
	tcase_add_test(tc, test_split_addr);
	tcase_add_test(tc, test_profiles_and_children);
	tcase_add_test(tc, test_env_misspelt);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
