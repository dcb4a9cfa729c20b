/*
 * test_kfk_topic_cfg.c: unit tests of the topic configuration rules
 * (kafka-frontend/kfk_topic_cfg.h): accepted keys and values, Kafka's
 * INVALID_CONFIG cases, normalisation, list operations on cleanup.policy,
 * effective values over node defaults.
 */
#include <check.h>
#include <string.h>

#include "ck_config.h"
#include "ck_testlib.h"
#include "kfk_errors.h"
#include "kfk_topic_cfg.h"

static kfk_tcfg_defaults_t defs;

static void setup(void)
{
	ck_config_t cfg;

	ck_config_defaults(&cfg);
	kfk_tcfg_defaults_from_config(&cfg, &defs);
}

static int16_t put(kfk_tcfg_set_t *s, const char *k, const char *v, char *msg)
{
	return kfk_tcfg_set_put(s, &defs, kfk_str(k), v ? kfk_str(v) : KFK_STR_NULL, msg, 200);
}

START_TEST(test_defaults_follow_node_config)
{
	ck_config_t cfg;
	kfk_tcfg_t eff;
	char buf[KFK_TCFG_VALUE_MAX];

	ck_config_defaults(&cfg);
	cfg.retention_ms = 3600000;
	cfg.segment_bytes = 1 << 20;
	kfk_tcfg_defaults_from_config(&cfg, &defs);
	kfk_tcfg_effective(NULL, &defs, &eff);
	ck_assert_int_eq(eff.retention_ms, 3600000);
	ck_assert_int_eq(eff.segment_bytes, 1 << 20);
	ck_assert_int_eq(eff.max_message_bytes, cfg.max_message_bytes);
	ck_assert_int_eq(eff.min_insync_replicas, 1);
	ck_assert(!eff.log_append_time);
	kfk_tcfg_default_str(&defs, KFK_TCFG_RETENTION_MS, buf, sizeof(buf));
	ck_assert_str_eq(buf, "3600000");
	kfk_tcfg_default_str(&defs, KFK_TCFG_CLEANUP_POLICY, buf, sizeof(buf));
	ck_assert_str_eq(buf, "delete");
	kfk_tcfg_default_str(&defs, KFK_TCFG_MESSAGE_TIMESTAMP_TYPE, buf, sizeof(buf));
	ck_assert_str_eq(buf, "CreateTime");
	/* The largest batch allowed must still fit an IPC frame. */
	ck_assert_int_eq(defs.max_message_bytes_limit, cfg.ipc_frame_max_bytes - (64 << 10));
}
END_TEST

START_TEST(test_valid_values_are_stored_normalised)
{
	kfk_tcfg_set_t s;
	kfk_tcfg_t eff;
	char msg[200];

	kfk_tcfg_set_init(&s);
	ck_assert_int_eq(put(&s, "retention.ms", " 86400000 ", msg), KFK_ERR_NONE);
	ck_assert_int_eq(put(&s, "retention.bytes", "-1", msg), KFK_ERR_NONE);
	ck_assert_int_eq(put(&s, "segment.bytes", "+1048576", msg), KFK_ERR_NONE);
	ck_assert_int_eq(put(&s, "max.message.bytes", "2000000", msg), KFK_ERR_NONE);
	ck_assert_int_eq(put(&s, "min.insync.replicas", "2", msg), KFK_ERR_NONE);
	ck_assert_int_eq(put(&s, "cleanup.policy", " delete ,delete", msg), KFK_ERR_NONE);
	ck_assert_int_eq(put(&s, "message.timestamp.type", "LogAppendTime", msg), KFK_ERR_NONE);
	ck_assert_str_eq(s.value[KFK_TCFG_RETENTION_MS], "86400000");
	ck_assert_str_eq(s.value[KFK_TCFG_SEGMENT_BYTES], "1048576");
	ck_assert_str_eq(s.value[KFK_TCFG_CLEANUP_POLICY], "delete");
	kfk_tcfg_effective(&s, &defs, &eff);
	ck_assert_int_eq(eff.retention_ms, 86400000);
	ck_assert_int_eq(eff.retention_bytes, -1);
	ck_assert_int_eq(eff.segment_bytes, 1048576);
	ck_assert_int_eq(eff.max_message_bytes, 2000000);
	ck_assert_int_eq(eff.min_insync_replicas, 2);
	ck_assert(eff.log_append_time);
}
END_TEST

/* The CreateTime bounds: before/after at their defaults fall back to the
 * deprecated difference key (KIP-937), each on its own. */
START_TEST(test_timestamp_bounds_fall_back)
{
	kfk_tcfg_set_t s;
	kfk_tcfg_t eff;
	char msg[200];

	kfk_tcfg_effective(NULL, &defs, &eff);
	ck_assert_int_eq(eff.ts_before_max_ms, INT64_MAX);
	ck_assert_int_eq(eff.ts_after_max_ms, INT64_MAX);
	kfk_tcfg_set_init(&s);
	ck_assert_int_eq(put(&s, "message.timestamp.difference.max.ms", "1000", msg), KFK_ERR_NONE);
	kfk_tcfg_effective(&s, &defs, &eff);
	ck_assert_int_eq(eff.ts_before_max_ms, 1000);
	ck_assert_int_eq(eff.ts_after_max_ms, 1000);
	ck_assert_int_eq(put(&s, "message.timestamp.after.max.ms", "5", msg), KFK_ERR_NONE);
	kfk_tcfg_effective(&s, &defs, &eff);
	ck_assert_int_eq(eff.ts_before_max_ms, 1000);
	ck_assert_int_eq(eff.ts_after_max_ms, 5);
	ck_assert_int_eq(put(&s, "message.timestamp.before.max.ms", "0", msg), KFK_ERR_NONE);
	kfk_tcfg_effective(&s, &defs, &eff);
	ck_assert_int_eq(eff.ts_before_max_ms, 0);
	/* Set explicitly to the default: the difference key applies again. */
	ck_assert_int_eq(put(&s, "message.timestamp.before.max.ms", "9223372036854775807", msg),
	                 KFK_ERR_NONE);
	kfk_tcfg_effective(&s, &defs, &eff);
	ck_assert_int_eq(eff.ts_before_max_ms, 1000);
}
END_TEST

/* compression.type: producer (the default) keeps batches as sent; each
 * codec name makes the topic's batches stored with it. */
START_TEST(test_compression_type_effective)
{
	static const char *const names[] = {"uncompressed", "gzip", "snappy", "lz4", "zstd"};
	kfk_tcfg_set_t s;
	kfk_tcfg_t eff;
	char msg[256];

	kfk_tcfg_effective(NULL, &defs, &eff);
	ck_assert_int_eq(eff.compression, -1);
	kfk_tcfg_set_init(&s);
	ck_assert_int_eq(put(&s, "compression.type", "producer", msg), KFK_ERR_NONE);
	kfk_tcfg_effective(&s, &defs, &eff);
	ck_assert_int_eq(eff.compression, -1);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(put(&s, "compression.type", names[i], msg), KFK_ERR_NONE);
		kfk_tcfg_effective(&s, &defs, &eff);
		ck_assert_int_eq(eff.compression, i);
	}
}
END_TEST

/* Kafka's other topic keys: checked, stored normalised, with defaults. */
START_TEST(test_kafka_keys_accepted)
{
	static const char *const good[][3] = {
	    {"segment.ms", "60000", "60000"},
	    {"index.interval.bytes", "0", "0"},
	    {"compression.type", " producer", "producer"},
	    {"compression.type", "zstd ", "zstd"},
	    {"compression.type", "\tlz4\r\n", "lz4"},
	    {"retention.ms", "\n5000\n", "5000"},
	    {"compression.type", "uncompressed", "uncompressed"},
	    {"unclean.leader.election.enable", "FALSE", "false"},
	    {"preallocate", "True", "true"},
	    {"message.downconversion.enable", "false", "false"},
	    {"min.cleanable.dirty.ratio", "0.25", "0.25"},
	    {"delete.retention.ms", "0", "0"},
	    {"file.delete.delay.ms", "1000", "1000"},
	    {"flush.messages", "1", "1"},
	    {"flush.ms", "1000", "1000"},
	    {"max.compaction.lag.ms", "9223372036854775807", "9223372036854775807"},
	    {"message.format.version", "3.0-IV1", "3.0-IV1"},
	    {"message.format.version", " 2.8", "2.8"},
	    {"message.format.version", "0.10.2-IV0", "0.10.2-IV0"},
	    {"message.format.version", "0.8.0", "0.8.0"},
	    {"leader.replication.throttled.replicas", "*", "*"},
	    {"leader.replication.throttled.replicas", "", ""},
	    {"follower.replication.throttled.replicas", " 0 : 1 , 2:3 ", "0:1,2:3"},
	    {"local.retention.ms", "-2", "-2"},
	    {"local.retention.bytes", "1000", "1000"},
	    {"remote.storage.enable", "False", "false"},
	    {"cleanup.policy", "compact", "compact"},
	    {"cleanup.policy", "delete, compact,compact", "delete,compact"},
	    {"cleanup.policy", "compact,delete", "compact,delete"},
	    {"min.compaction.lag.ms", "5", "5"},
	    {"segment.index.bytes", "4096", "4096"},
	    {"segment.jitter.ms", "7", "7"},
	    {"message.timestamp.before.max.ms", "0", "0"},
	    {"message.timestamp.after.max.ms", "3600000", "3600000"},
	    {"message.timestamp.difference.max.ms", " 60000", "60000"},
	};
	kfk_tcfg_set_t s;
	char msg[200], buf[KFK_TCFG_VALUE_MAX];

	kfk_tcfg_set_init(&s);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int k = kfk_tcfg_lookup(kfk_str(good[i][0]));

		ck_assert_msg(k >= 0, "%s unknown", good[i][0]);
		ck_assert_msg(put(&s, good[i][0], good[i][1], msg) == KFK_ERR_NONE, "%s=%s: %s",
		              good[i][0], good[i][1], msg);
		ck_assert_str_eq(s.value[k], good[i][2]);
	}
	kfk_tcfg_default_str(&defs, KFK_TCFG_SEGMENT_MS, buf, sizeof(buf));
	ck_assert_str_eq(buf, "604800000");
	kfk_tcfg_default_str(&defs, KFK_TCFG_INDEX_INTERVAL_BYTES, buf, sizeof(buf));
	ck_assert_str_eq(buf, "4096");
	kfk_tcfg_default_str(&defs, KFK_TCFG_FLUSH_MESSAGES, buf, sizeof(buf));
	ck_assert_str_eq(buf, "9223372036854775807");
	kfk_tcfg_default_str(&defs, KFK_TCFG_UNCLEAN_LEADER_ELECTION_ENABLE, buf, sizeof(buf));
	ck_assert_str_eq(buf, "false");
	/* Every key has a default, and it passes its own check. */
	for (int k = 0; k < KFK_TCFG_COUNT; k++) {
		kfk_tcfg_default_str(&defs, (kfk_tcfg_key_t)k, buf, sizeof(buf));
		ck_assert_msg(buf[0] != '\0' ||
		                  k == KFK_TCFG_LEADER_REPLICATION_THROTTLED_REPLICAS ||
		                  k == KFK_TCFG_FOLLOWER_REPLICATION_THROTTLED_REPLICAS,
		              "%s has no default", kfk_tcfg_info(k)->name);
		ck_assert_msg(put(&s, kfk_tcfg_info(k)->name, buf, msg) == KFK_ERR_NONE,
		              "%s default %s refused: %s", kfk_tcfg_info(k)->name, buf, msg);
	}
	/* The message names what is not supported. */
	ck_assert_int_eq(put(&s, "compression.type", "brotli", msg), KFK_ERR_INVALID_CONFIG);
	ck_assert_ptr_nonnull(
	    strstr(msg, "must be producer, uncompressed, gzip, snappy, lz4 or zstd"));
	ck_assert_int_eq(put(&s, "unclean.leader.election.enable", "true", msg),
	                 KFK_ERR_INVALID_CONFIG);
	ck_assert_ptr_nonnull(strstr(msg, "only false"));
	ck_assert_int_eq(put(&s, "remote.storage.enable", "true", msg), KFK_ERR_INVALID_CONFIG);
	ck_assert_ptr_nonnull(strstr(msg, "no tiered storage"));
	ck_assert_int_eq(put(&s, "leader.replication.throttled.replicas",
	                     "0:1,1:1,2:1,3:1,4:1,5:1,6:1,7:1,8:1", msg),
	                 KFK_ERR_INVALID_CONFIG);
	ck_assert_ptr_nonnull(strstr(msg, "too long"));
}
END_TEST

START_TEST(test_invalid_values_are_invalid_config)
{
	static const char *const bad[][2] = {
	    {"message.format.version", "abc"},
	    {"message.format.version", "3"},
	    {"message.format.version", "3.0-IV"},
	    {"message.format.version", "3.0-"},
	    {"message.format.version", "3..0"},
	    {"message.format.version", ""},
	    {"leader.replication.throttled.replicas", "0"},
	    {"leader.replication.throttled.replicas", "a:1"},
	    {"leader.replication.throttled.replicas", "0:1,"},
	    {"follower.replication.throttled.replicas", ":1"},
	    {"follower.replication.throttled.replicas", "0:1:2"},
	    {"follower.replication.throttled.replicas", "*,0:1"},
	    {"local.retention.ms", "-3"},
	    {"local.retention.bytes", "x"},
	    {"retention.ms", "-2"},
	    {"retention.ms", "12abc"},
	    {"retention.ms", ""},
	    {"retention.ms", "99999999999999999999"},
	    {"retention.bytes", "-5"},
	    {"segment.bytes", "100"},
	    {"segment.bytes", "4294967296"},
	    {"max.message.bytes", "0"},
	    {"max.message.bytes", "2147483647"},
	    {"min.insync.replicas", "0"},
	    {"cleanup.policy", "compacted"},
	    {"cleanup.policy", "delete,compact,"},
	    {"cleanup.policy", " , "},
	    {"cleanup.policy", "delete,"},
	    {"cleanup.policy", "delete,,delete"},
	    {"cleanup.policy", ",delete"},
	    {"message.timestamp.type", "createtime"},
	    {"compression.type", "brotli"},
	    {"compression.type", "none"},
	    {"compression.type", ""},
	    {"unclean.leader.election.enable", "true"},
	    {"unclean.leader.election.enable", "no"},
	    {"preallocate", "1"},
	    {"segment.ms", "0"},
	    {"segment.index.bytes", "3"},
	    {"flush.messages", "0"},
	    {"min.cleanable.dirty.ratio", "1.5"},
	    {"min.cleanable.dirty.ratio", "nan"},
	    {"min.cleanable.dirty.ratio", "0.5x"},
	    {"delete.retention.ms", "-1"},
	    {"max.compaction.lag.ms", "0"},
	    {"max.compaction.lag.ms", "86400000"},
	    {"message.timestamp.before.max.ms", "-1"},
	    {"message.timestamp.after.max.ms", "1h"},
	    {"message.timestamp.difference.max.ms", "-5"},
	    {"no.such.key", "1"},
	};
	kfk_tcfg_set_t s;
	char msg[200];

	kfk_tcfg_set_init(&s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		ck_assert_msg(put(&s, bad[i][0], bad[i][1], msg) == KFK_ERR_INVALID_CONFIG,
		              "%s=%s accepted", bad[i][0], bad[i][1]);
		ck_assert_msg(msg[0] != '\0', "no message for %s=%s", bad[i][0], bad[i][1]);
	}
	ck_assert_int_eq(put(&s, "retention.ms", NULL, msg), KFK_ERR_INVALID_CONFIG);
	/* Nothing was stored by the failures. */
	for (int k = 0; k < KFK_TCFG_COUNT; k++)
		ck_assert(!s.present[k]);
}
END_TEST

START_TEST(test_lookup_and_info)
{
	ck_assert_int_eq(kfk_tcfg_lookup(kfk_str("retention.ms")), KFK_TCFG_RETENTION_MS);
	ck_assert_int_eq(kfk_tcfg_lookup(kfk_str("retention.m")), -1);
	ck_assert_int_eq(kfk_tcfg_lookup(KFK_STR_NULL), -1);
	ck_assert_str_eq(kfk_tcfg_info(KFK_TCFG_SEGMENT_BYTES)->broker_name, "log.segment.bytes");
	ck_assert_int_eq(kfk_tcfg_info(KFK_TCFG_CLEANUP_POLICY)->type, KFK_CFG_TYPE_LIST);
	ck_assert_ptr_null(kfk_tcfg_info(KFK_TCFG_COUNT));
	/* Names are in order, as DescribeConfigs lists them. */
	for (int k = 1; k < KFK_TCFG_COUNT; k++)
		ck_assert_int_lt(strcmp(kfk_tcfg_info(k - 1)->name, kfk_tcfg_info(k)->name), 0);
}
END_TEST

START_TEST(test_list_operations)
{
	kfk_tcfg_set_t s;
	kfk_tcfg_t eff;
	char msg[200];

	kfk_tcfg_set_init(&s);
	/* APPEND to the default ("delete"): both, the new one after it, as
	 * Kafka keeps a list's order. */
	ck_assert_int_eq(kfk_tcfg_set_list_op(&s, &defs, KFK_TCFG_CLEANUP_POLICY, true,
	                                      kfk_str("compact"), msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	ck_assert_str_eq(s.value[KFK_TCFG_CLEANUP_POLICY], "delete,compact");
	kfk_tcfg_effective(&s, &defs, &eff);
	ck_assert(eff.compact && eff.delete_policy);
	ck_assert_int_eq(eff.retention_ms, defs.retention_ms);
	/* SUBTRACT delete: compact only, retention off. */
	ck_assert_int_eq(kfk_tcfg_set_list_op(&s, &defs, KFK_TCFG_CLEANUP_POLICY, false,
	                                      kfk_str("delete"), msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	ck_assert_str_eq(s.value[KFK_TCFG_CLEANUP_POLICY], "compact");
	ck_assert_int_eq(put(&s, "retention.ms", "1000", msg), KFK_ERR_NONE);
	kfk_tcfg_effective(&s, &defs, &eff);
	ck_assert(eff.compact && !eff.delete_policy);
	ck_assert_int_eq(eff.retention_ms, -1);
	ck_assert_int_eq(eff.retention_bytes, -1);
	ck_assert_int_eq(kfk_tcfg_set_list_op(&s, &defs, KFK_TCFG_CLEANUP_POLICY, true,
	                                      kfk_str("shred"), msg, sizeof(msg)),
	                 KFK_ERR_INVALID_CONFIG);
	ck_assert_str_eq(s.value[KFK_TCFG_CLEANUP_POLICY], "compact");
	/* APPEND to "compact": it stays first. */
	ck_assert_int_eq(kfk_tcfg_set_list_op(&s, &defs, KFK_TCFG_CLEANUP_POLICY, true,
	                                      kfk_str("delete"), msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	ck_assert_str_eq(s.value[KFK_TCFG_CLEANUP_POLICY], "compact,delete");
	ck_assert_int_eq(kfk_tcfg_set_list_op(&s, &defs, KFK_TCFG_CLEANUP_POLICY, false,
	                                      kfk_str("delete"), msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	ck_assert_str_eq(s.value[KFK_TCFG_CLEANUP_POLICY], "compact");
	/* Nothing left: the empty list, kept (Kafka: no deletion, no
	 * compaction, the log keeps everything), not the default. */
	ck_assert_int_eq(kfk_tcfg_set_list_op(&s, &defs, KFK_TCFG_CLEANUP_POLICY, false,
	                                      kfk_str("compact"), msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	ck_assert(s.present[KFK_TCFG_CLEANUP_POLICY]);
	ck_assert_str_eq(s.value[KFK_TCFG_CLEANUP_POLICY], "");
	kfk_tcfg_effective(&s, &defs, &eff);
	ck_assert(!eff.compact && !eff.delete_policy);
	ck_assert_int_eq(eff.retention_ms, -1);
	ck_assert_int_eq(eff.retention_bytes, -1);
	/* APPEND to the empty list: just the new item. */
	ck_assert_int_eq(kfk_tcfg_set_list_op(&s, &defs, KFK_TCFG_CLEANUP_POLICY, true,
	                                      kfk_str("delete"), msg, sizeof(msg)),
	                 KFK_ERR_NONE);
	ck_assert_str_eq(s.value[KFK_TCFG_CLEANUP_POLICY], "delete");
	kfk_tcfg_effective(&s, &defs, &eff);
	ck_assert(!eff.compact && eff.delete_policy);
	ck_assert_int_eq(eff.retention_ms, 1000);
	/* SET to the empty list (blanks trimmed), as Kafka takes it. */
	ck_assert_int_eq(put(&s, "cleanup.policy", " ", msg), KFK_ERR_NONE);
	ck_assert_str_eq(s.value[KFK_TCFG_CLEANUP_POLICY], "");
	kfk_tcfg_effective(&s, &defs, &eff);
	ck_assert(!eff.compact && !eff.delete_policy);
	ck_assert_int_eq(kfk_tcfg_set_list_op(&s, &defs, KFK_TCFG_RETENTION_MS, true, kfk_str("1"),
	                                      msg, sizeof(msg)),
	                 KFK_ERR_INVALID_CONFIG);
	ck_assert_int_eq(put(&s, "retention.ms", "5", msg), KFK_ERR_NONE);
	kfk_tcfg_set_del(&s, KFK_TCFG_RETENTION_MS);
	ck_assert(!s.present[KFK_TCFG_RETENTION_MS]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_topic_cfg");
	TCase *tc = tcase_create("topic_cfg");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_defaults_follow_node_config);
	tcase_add_test(tc, test_valid_values_are_stored_normalised);
	tcase_add_test(tc, test_timestamp_bounds_fall_back);
	tcase_add_test(tc, test_kafka_keys_accepted);
	tcase_add_test(tc, test_compression_type_effective);
	tcase_add_test(tc, test_invalid_values_are_invalid_config);
	tcase_add_test(tc, test_lookup_and_info);
	tcase_add_test(tc, test_list_operations);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
