/*
 * fuzz_topic_cfg.c: libFuzzer target for topic configuration values, the
 * same value read by the two processes that read it: kafka-frontend
 * validates and normalises what a client sends in CreateTopics,
 * AlterConfigs or IncrementalAlterConfigs (kfk_topic_cfg.h), and raftd
 * turns the stored value into walwriter's log settings when the command
 * is applied on every node (raftd_apply_log_config). Built only with
 * -Dfuzz=true and clang; run with tests/fuzz/run.sh BUILD SECONDS
 * fuzz_topic_cfg.
 *
 * Input: a byte choosing a key (one of the keys chronik implements, or the
 * rest of the input as a name), then the value's bytes. abort() when a
 * value kafka-frontend accepted is one raftd refuses (the client would get
 * an error after its request had been validated, and no topic), or when
 * the two read it as different numbers for a key that reaches the log
 * (retention.ms, retention.bytes, segment.bytes, max.message.bytes): the
 * topic's DescribeConfigs would then not say what its log does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "kfk_errors.h"
#include "kfk_topic_cfg.h"
#include "metadata.pb-c.h"
#include "raftd_apply.h"

static void fail(const char *what, const char *key, const char *value)
{
	fprintf(stderr, "fuzz_topic_cfg: %s: %s=\"%s\"\n", what, key, value);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kfk_tcfg_defaults_t d = {.retention_ms = 604800000,
	                         .retention_bytes = -1,
	                         .segment_bytes = 1073741824,
	                         .segment_ms = 604800000,
	                         .index_interval_bytes = 4096,
	                         .max_message_bytes = 1048588,
	                         .max_message_bytes_limit = 64 << 20,
	                         .min_insync_replicas = 1,
	                         .compression = -1};
	char name[64], value[64], msg[256];
	Chronik__Meta__ConfigEntry ce = CHRONIK__META__CONFIG_ENTRY__INIT, *cep = &ce;
	raftd_log_config_t lc;
	kfk_tcfg_set_t s;
	kfk_tcfg_t eff;
	const char *bad = NULL;
	int key;

	if (size < 1 || size > 60)
		return 0;
	key = data[0] % (KFK_TCFG_COUNT + 1);
	data++;
	size--;
	if (key < KFK_TCFG_COUNT) {
		snprintf(name, sizeof(name), "%s", kfk_tcfg_info((kfk_tcfg_key_t)key)->name);
	} else {
		size_t n = memchr(data, '=', size)
		               ? (size_t)((const uint8_t *)memchr(data, '=', size) - data)
		               : 0;

		memcpy(name, data, n);
		name[n] = 0;
		data += n ? n + 1 : 0;
		size -= n ? n + 1 : 0;
	}
	memcpy(value, data, size);
	value[size] = 0;
	kfk_tcfg_set_init(&s);
	if (kfk_tcfg_set_put(&s, &d, (kfk_str_t){name, (int32_t)strlen(name)},
	                     (kfk_str_t){value, (int32_t)size}, msg, sizeof(msg)) != KFK_ERR_NONE)
		return 0;
	key = kfk_tcfg_lookup((kfk_str_t){name, (int32_t)strlen(name)});
	if (key < 0 || !s.present[key])
		fail("accepted but not stored", name, value);
	/* What the CreateTopic or AlterTopicConfigs command carries. */
	ce.name = name;
	ce.value = s.value[key];
	if (raftd_apply_log_config(&cep, 1, &lc, &bad) != 0)
		fail("kafka-frontend accepts what raftd refuses", name, s.value[key]);
	kfk_tcfg_effective(&s, &d, &eff);
	switch (key) {
	case KFK_TCFG_RETENTION_MS:
		if (lc.retention_ms != (eff.retention_ms == 0 ? 1 : eff.retention_ms))
			fail("retention.ms read differently", name, value);
		break;
	case KFK_TCFG_RETENTION_BYTES:
		if (lc.retention_bytes != (eff.retention_bytes == 0 ? 1 : eff.retention_bytes))
			fail("retention.bytes read differently", name, value);
		break;
	case KFK_TCFG_SEGMENT_BYTES:
		if (lc.segment_bytes != eff.segment_bytes)
			fail("segment.bytes read differently", name, value);
		break;
	case KFK_TCFG_MAX_MESSAGE_BYTES:
		if (lc.max_message_bytes != eff.max_message_bytes)
			fail("max.message.bytes read differently", name, value);
		break;
	default:
		break;
	}
	return 0;
}
