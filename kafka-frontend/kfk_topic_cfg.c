/*
 * kfk_topic_cfg.c: topic configuration keys, defaults and validation
 * (kfk_topic_cfg.h).
 *
 * Owned by kafka-frontend (pure). Keys are kept in name order, the order
 * DescribeConfigs lists them in.
 */
#include "kfk_topic_cfg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>

#include "kfk_errors.h"

/* The IPC frame holding an Append needs this much room beyond the batch. */
#define KFK_TCFG_FRAME_OVERHEAD (64 << 10)

#define KFK_L INT64_MAX
#define KFK_I INT32_MAX

static const kfk_tcfg_info_t kfk_tcfg_table[KFK_TCFG_COUNT] = {
    [KFK_TCFG_CLEANUP_POLICY] = {"cleanup.policy", "log.cleanup.policy", KFK_CFG_TYPE_LIST,
                                 "\"delete\" deletes old segments past retention; "
                                 "\"compact\" keeps every record (nothing is compacted yet) and "
                                 "ignores retention unless \"delete\" is listed too.",
                                 0, 0, "delete"},
    [KFK_TCFG_COMPRESSION_TYPE] = {"compression.type", "compression.type", KFK_CFG_TYPE_STRING,
                                   "\"producer\" keeps batches as the producer compressed "
                                   "them; \"uncompressed\", \"gzip\", \"snappy\", "
                                   "\"lz4\" or \"zstd\" stores every batch so, recompressed "
                                   "on the broker where the producer's codec differs.",
                                   0, 0, NULL},
    [KFK_TCFG_DELETE_RETENTION_MS] = {"delete.retention.ms", "log.cleaner.delete.retention.ms",
                                      KFK_CFG_TYPE_LONG,
                                      "How long tombstones stay at least on a compacted "
                                      "topic (no log is compacted yet: they stay).",
                                      0, KFK_L, "86400000"},
    [KFK_TCFG_FILE_DELETE_DELAY_MS] = {"file.delete.delay.ms", "log.segment.delete.delay.ms",
                                       KFK_CFG_TYPE_LONG,
                                       "Accepted; segments past retention are deleted at once.", 0,
                                       KFK_L, "60000"},
    [KFK_TCFG_FLUSH_MESSAGES] = {"flush.messages", "log.flush.interval.messages", KFK_CFG_TYPE_LONG,
                                 "Accepted; every append is on disk before it is acknowledged.", 1,
                                 KFK_L, "9223372036854775807"},
    [KFK_TCFG_FLUSH_MS] = {"flush.ms", "log.flush.interval.ms", KFK_CFG_TYPE_LONG,
                           "Accepted; every append is on disk before it is acknowledged.", 0, KFK_L,
                           "9223372036854775807"},
    [KFK_TCFG_FOLLOWER_REPLICATION_THROTTLED_REPLICAS] = {"follower.replication.throttled.replicas",
                                                          NULL, KFK_CFG_TYPE_LIST,
                                                          "Accepted; replication is not throttled.",
                                                          0, 0, ""},
    [KFK_TCFG_INDEX_INTERVAL_BYTES] = {"index.interval.bytes", "log.index.interval.bytes",
                                       KFK_CFG_TYPE_INT,
                                       "Bytes of log between two offset index entries.", 0, KFK_I,
                                       NULL},
    [KFK_TCFG_LEADER_REPLICATION_THROTTLED_REPLICAS] = {"leader.replication.throttled.replicas",
                                                        NULL, KFK_CFG_TYPE_LIST,
                                                        "Accepted; replication is not throttled.",
                                                        0, 0, ""},
    [KFK_TCFG_LOCAL_RETENTION_BYTES] = {"local.retention.bytes", "log.local.retention.bytes",
                                        KFK_CFG_TYPE_LONG,
                                        "Accepted; there is no remote storage: every segment "
                                        "is local and retention.bytes applies.",
                                        -2, KFK_L, "-2"},
    [KFK_TCFG_LOCAL_RETENTION_MS] = {"local.retention.ms", "log.local.retention.ms",
                                     KFK_CFG_TYPE_LONG,
                                     "Accepted; there is no remote storage: every segment is "
                                     "local and retention.ms applies.",
                                     -2, KFK_L, "-2"},
    [KFK_TCFG_MAX_COMPACTION_LAG_MS] = {"max.compaction.lag.ms",
                                        "log.cleaner.max.compaction.lag.ms", KFK_CFG_TYPE_LONG,
                                        "Only the default: no log is compacted, so no bound "
                                        "on when compaction runs can be kept.",
                                        1, KFK_L, "9223372036854775807"},
    [KFK_TCFG_MAX_MESSAGE_BYTES] = {"max.message.bytes", "message.max.bytes", KFK_CFG_TYPE_INT,
                                    "The largest record batch size allowed.", 1, KFK_I, NULL},
    [KFK_TCFG_MESSAGE_DOWNCONVERSION_ENABLE] = {"message.downconversion.enable",
                                                "log.message.downconversion.enable",
                                                KFK_CFG_TYPE_BOOLEAN,
                                                "Accepted; only RecordBatch v2 is served, so "
                                                "nothing is down-converted.",
                                                0, 0, "true"},
    [KFK_TCFG_MESSAGE_FORMAT_VERSION] = {"message.format.version", "log.message.format.version",
                                         KFK_CFG_TYPE_STRING,
                                         "Accepted; ignored, as by Kafka from 3.0 on: records "
                                         "are kept as RecordBatch v2.",
                                         0, 0, "3.0-IV1"},
    [KFK_TCFG_MESSAGE_TIMESTAMP_AFTER_MAX_MS] = {"message.timestamp.after.max.ms",
                                                 "log.message.timestamp.after.max.ms",
                                                 KFK_CFG_TYPE_LONG,
                                                 "How far after the broker's clock a CreateTime "
                                                 "record's timestamp may lie.",
                                                 0, KFK_L, "9223372036854775807"},
    [KFK_TCFG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS] = {"message.timestamp.before.max.ms",
                                                  "log.message.timestamp.before.max.ms",
                                                  KFK_CFG_TYPE_LONG,
                                                  "How far before the broker's clock a "
                                                  "CreateTime record's timestamp may lie.",
                                                  0, KFK_L, "9223372036854775807"},
    [KFK_TCFG_MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS] = {"message.timestamp.difference.max.ms",
                                                      "log.message.timestamp.difference.max.ms",
                                                      KFK_CFG_TYPE_LONG,
                                                      "Deprecated: the bound before and after "
                                                      "the broker's clock where those keys are "
                                                      "at their defaults.",
                                                      0, KFK_L, "9223372036854775807"},
    [KFK_TCFG_MESSAGE_TIMESTAMP_TYPE] = {"message.timestamp.type", "log.message.timestamp.type",
                                         KFK_CFG_TYPE_STRING,
                                         "CreateTime keeps the producer's timestamps; "
                                         "LogAppendTime stamps the broker's time on append.",
                                         0, 0, "CreateTime"},
    [KFK_TCFG_MIN_CLEANABLE_DIRTY_RATIO] = {"min.cleanable.dirty.ratio",
                                            "log.cleaner.min.cleanable.ratio", KFK_CFG_TYPE_DOUBLE,
                                            "Compaction only (no log is compacted yet).", 0, 1,
                                            "0.5"},
    [KFK_TCFG_MIN_COMPACTION_LAG_MS] = {"min.compaction.lag.ms",
                                        "log.cleaner.min.compaction.lag.ms", KFK_CFG_TYPE_LONG,
                                        "Compaction only (no log is compacted yet).", 0, KFK_L,
                                        "0"},
    [KFK_TCFG_MIN_INSYNC_REPLICAS] = {"min.insync.replicas", "min.insync.replicas",
                                      KFK_CFG_TYPE_INT,
                                      "The fewest in-sync replicas an acks=all produce needs.", 1,
                                      KFK_I, NULL},
    [KFK_TCFG_PREALLOCATE] = {"preallocate", "log.preallocate", KFK_CFG_TYPE_BOOLEAN,
                              "Accepted; segment files grow as they are written.", 0, 0, "false"},
    [KFK_TCFG_REMOTE_STORAGE_ENABLE] = {"remote.storage.enable", NULL, KFK_CFG_TYPE_BOOLEAN,
                                        "Only false: there is no tiered storage.", 0, 0, "false"},
    [KFK_TCFG_RETENTION_BYTES] = {"retention.bytes", "log.retention.bytes", KFK_CFG_TYPE_LONG,
                                  "The most bytes a partition keeps before deleting old "
                                  "segments; -1 = unlimited.",
                                  -1, KFK_L, NULL},
    [KFK_TCFG_RETENTION_MS] = {"retention.ms", "log.retention.ms", KFK_CFG_TYPE_LONG,
                               "How long a segment is kept after its newest record; -1 = "
                               "unlimited.",
                               -1, KFK_L, NULL},
    [KFK_TCFG_SEGMENT_BYTES] = {"segment.bytes", "log.segment.bytes", KFK_CFG_TYPE_INT,
                                "The size at which a log rolls to a new segment file.",
                                KFK_TCFG_SEGMENT_BYTES_MIN, KFK_I, NULL},
    [KFK_TCFG_SEGMENT_INDEX_BYTES] = {"segment.index.bytes", "log.index.size.max.bytes",
                                      KFK_CFG_TYPE_INT,
                                      "Accepted; offset indexes grow as they are written.", 4,
                                      KFK_I, "10485760"},
    [KFK_TCFG_SEGMENT_JITTER_MS] = {"segment.jitter.ms", "log.roll.jitter.ms", KFK_CFG_TYPE_LONG,
                                    "Accepted; segments roll at segment.ms without jitter.", 0,
                                    KFK_L, "0"},
    [KFK_TCFG_SEGMENT_MS] = {"segment.ms", "log.roll.ms", KFK_CFG_TYPE_LONG,
                             "The age at which the active segment rolls to a new one.", 1, KFK_L,
                             NULL},
    [KFK_TCFG_UNCLEAN_LEADER_ELECTION_ENABLE] = {"unclean.leader.election.enable",
                                                 "unclean.leader.election.enable",
                                                 KFK_CFG_TYPE_BOOLEAN,
                                                 "Only false: a replica outside the ISR never "
                                                 "becomes leader.",
                                                 0, 0, "false"},
};

const kfk_tcfg_info_t *kfk_tcfg_info(kfk_tcfg_key_t key)
{
	return (unsigned)key < KFK_TCFG_COUNT ? &kfk_tcfg_table[key] : NULL;
}

int kfk_tcfg_lookup(kfk_str_t name)
{
	for (int i = 0; i < KFK_TCFG_COUNT; i++) {
		if (kfk_str_eq(name, kfk_tcfg_table[i].name))
			return i;
	}
	return -1;
}

bool kfk_tcfg_node_set(const ck_config_t *cfg, kfk_tcfg_key_t key)
{
	static const struct {
		kfk_tcfg_key_t key;
		const char *table, *name;
	} from[] = {
	    {KFK_TCFG_RETENTION_MS, "wal", "retention_ms"},
	    {KFK_TCFG_RETENTION_BYTES, "wal", "retention_bytes"},
	    {KFK_TCFG_SEGMENT_BYTES, "wal", "segment_bytes"},
	    {KFK_TCFG_SEGMENT_MS, "wal", "segment_ms"},
	    {KFK_TCFG_INDEX_INTERVAL_BYTES, "wal", "index_interval_bytes"},
	    {KFK_TCFG_MAX_MESSAGE_BYTES, "wal", "max_message_bytes"},
	    {KFK_TCFG_COMPRESSION_TYPE, "kafka", "compression_type"},
	};

	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++)
		if (from[i].key == key)
			return ck_config_operator_set(cfg, from[i].table, from[i].name);
	return false;
}

void kfk_tcfg_defaults_from_config(const ck_config_t *cfg, kfk_tcfg_defaults_t *ret)
{
	int64_t limit = (int64_t)cfg->ipc_frame_max_bytes - KFK_TCFG_FRAME_OVERHEAD;

	ret->retention_ms = cfg->retention_ms;
	ret->retention_bytes = cfg->retention_bytes;
	ret->segment_bytes = cfg->segment_bytes;
	ret->segment_ms = cfg->segment_ms;
	ret->index_interval_bytes = cfg->index_interval_bytes;
	ret->max_message_bytes = cfg->max_message_bytes;
	ret->max_message_bytes_limit = (int32_t)(limit < 1 ? 1 : limit);
	ret->min_insync_replicas = 1;
	ret->compression = (int8_t)cfg->kafka_compression_type;
}

void kfk_tcfg_set_init(kfk_tcfg_set_t *s)
{
	memset(s, 0, sizeof(*s));
}

/* At most this much of a client's string goes into an error message. */
#define KFK_SHOW(len) ((int)((len) > 64 ? 64 : (len)))

#define kfk_msg(msg, len, fmt, name)                                                               \
	do {                                                                                       \
		if (len)                                                                           \
			(void)snprintf((msg), (len), fmt, (name));                                 \
	} while (0)

/* Kafka trims a value as Java's String.trim(): every byte up to ' '
 * (blanks, newlines, other control bytes) at either end. */
static kfk_str_t kfk_trim(kfk_str_t v)
{
	while (v.len > 0 && (unsigned char)v.ptr[0] <= ' ') {
		v.ptr++;
		v.len--;
	}
	while (v.len > 0 && (unsigned char)v.ptr[v.len - 1] <= ' ')
		v.len--;
	return v;
}

/* Strict decimal with optional sign and surrounding blanks (Kafka trims).
 * Returns 0 and *RET, or -1. */
static int kfk_parse_i64(kfk_str_t v, int64_t *ret)
{
	kfk_str_t t = kfk_trim(v);
	const char *p = t.ptr, *end = t.ptr + (t.len > 0 ? t.len : 0);
	bool neg = false;
	uint64_t acc = 0, lim;
	int digits = 0;

	if (p < end && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; p < end; p++, digits++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (acc > (lim - (uint64_t)(*p - '0')) / 10)
			return -1;
		acc = acc * 10 + (uint64_t)(*p - '0');
	}
	if (!digits)
		return -1;
	*ret = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	return 0;
}

static int16_t kfk_check_number(const kfk_tcfg_info_t *in, kfk_str_t v, int64_t min, int64_t max,
                                char *out, char *msg, size_t msg_len)
{
	int64_t n;

	if (kfk_parse_i64(v, &n) < 0 ||
	    (in->type == KFK_CFG_TYPE_INT && (n < INT32_MIN || n > INT32_MAX))) {
		if (msg_len)
			(void)snprintf(msg, msg_len, "invalid value for %s: not %s number",
			               in->name,
			               in->type == KFK_CFG_TYPE_INT ? "a 32-bit" : "a 64-bit");
		return KFK_ERR_INVALID_CONFIG;
	}
	if (n < min || n > max) {
		if (msg_len)
			(void)snprintf(msg, msg_len,
			               "invalid value %" PRId64 " for %s: must be in [%" PRId64
			               ", %" PRId64 "]",
			               n, in->name, min, max);
		return KFK_ERR_INVALID_CONFIG;
	}
	(void)snprintf(out, KFK_TCFG_VALUE_MAX, "%" PRId64, n);
	return KFK_ERR_NONE;
}

/* Splits a Kafka list value on commas, trimming each item; calls FN for
 * each non-empty item. Returns the first non-zero FN result, else 0. */
static int kfk_list_each(kfk_str_t v, int (*fn)(void *arg, const char *item, size_t len), void *arg)
{
	const char *p = v.ptr, *end = v.ptr + (v.len > 0 ? v.len : 0);

	/* A blank value is the empty list; in any other, an empty item (",",
	 * "delete,") is an item, and invalid, as in Kafka. */
	if (kfk_trim(v).len <= 0)
		return 0;
	while (p <= end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		kfk_str_t item = kfk_trim((kfk_str_t){p, (int32_t)((c ? c : end) - p)});
		int r;

		if ((r = fn(arg, item.ptr, (size_t)item.len)) != 0)
			return r;
		if (!c)
			break;
		p = c + 1;
	}
	return 0;
}

/* cleanup.policy's items, as flags, and whether compact comes first (in
 * the order given, as Kafka keeps a list config's value). */
#define KFK_POLICY_DELETE        1
#define KFK_POLICY_COMPACT       2
#define KFK_POLICY_COMPACT_FIRST 4
#define KFK_POLICY_BOTH          (KFK_POLICY_DELETE | KFK_POLICY_COMPACT)

typedef struct {
	int flags;
	bool empty_item;
	const char *bad;
	size_t bad_len;
} kfk_policy_scan_t;

static int kfk_policy_item(void *arg, const char *item, size_t len)
{
	kfk_policy_scan_t *s = arg;

	if (len == 6 && !memcmp(item, "delete", 6)) {
		s->flags |= KFK_POLICY_DELETE;
		return 0;
	}
	if (len == 7 && !memcmp(item, "compact", 7)) {
		if (!(s->flags & KFK_POLICY_DELETE))
			s->flags |= KFK_POLICY_COMPACT_FIRST;
		s->flags |= KFK_POLICY_COMPACT;
		return 0;
	}
	s->empty_item = len == 0;
	s->bad = item;
	s->bad_len = len;
	return 1;
}

/* The normalised text of policy FLAGS ("" for none): each item once, in
 * the order given. */
static const char *kfk_policy_str(int flags)
{
	switch (flags & KFK_POLICY_BOTH) {
	case KFK_POLICY_DELETE:
		return "delete";
	case KFK_POLICY_COMPACT:
		return "compact";
	case KFK_POLICY_BOTH:
		return flags & KFK_POLICY_COMPACT_FIRST ? "compact,delete" : "delete,compact";
	default:
		return "";
	}
}

/* The flags of a stored (normalised) policy value. */
static int kfk_policy_flags(const char *v)
{
	const char *d = strstr(v, "delete"), *c = strstr(v, "compact");

	return (d ? KFK_POLICY_DELETE : 0) | (c ? KFK_POLICY_COMPACT : 0) |
	       (c && (!d || c < d) ? KFK_POLICY_COMPACT_FIRST : 0);
}

/* A policy list; the empty one (no deletion, no compaction: the log keeps
 * everything, as in Kafka) is a value of its own, not the default. */
static int16_t kfk_check_policy(kfk_str_t v, char *out, char *msg, size_t msg_len)
{
	kfk_policy_scan_t s = {0, false, NULL, 0};

	if (kfk_list_each(v, kfk_policy_item, &s) != 0) {
		if (msg_len && s.empty_item)
			kfk_msg(msg, msg_len, "invalid value for %s: an empty item in the list",
			        "cleanup.policy");
		else if (msg_len)
			(void)snprintf(msg, msg_len,
			               "invalid value \"%.*s\" for cleanup.policy: must be delete "
			               "or compact",
			               KFK_SHOW(s.bad_len), s.bad);
		return KFK_ERR_INVALID_CONFIG;
	}
	(void)snprintf(out, KFK_TCFG_VALUE_MAX, "%s", kfk_policy_str(s.flags));
	return KFK_ERR_NONE;
}

/* V trimmed of blanks, as Kafka trims values. */
/* Kafka's BOOLEAN: "true" or "false", any case. */
static int16_t kfk_check_bool(const kfk_tcfg_info_t *in, kfk_str_t v, char *out, char *msg,
                              size_t msg_len)
{
	kfk_str_t t = kfk_trim(v);

	if (t.len == 4 && !strncasecmp(t.ptr, "true", 4))
		(void)snprintf(out, KFK_TCFG_VALUE_MAX, "true");
	else if (t.len == 5 && !strncasecmp(t.ptr, "false", 5))
		(void)snprintf(out, KFK_TCFG_VALUE_MAX, "false");
	else {
		kfk_msg(msg, msg_len, "invalid value for %s: must be true or false", in->name);
		return KFK_ERR_INVALID_CONFIG;
	}
	return KFK_ERR_NONE;
}

/* A DOUBLE in [in->min, in->max], stored as %.15g. */
static int16_t kfk_check_double(const kfk_tcfg_info_t *in, kfk_str_t v, char *out, char *msg,
                                size_t msg_len)
{
	kfk_str_t t = kfk_trim(v);
	char buf[64], *end;
	double d;

	if (t.len <= 0 || (size_t)t.len >= sizeof(buf)) {
		kfk_msg(msg, msg_len, "invalid value for %s: not a number", in->name);
		return KFK_ERR_INVALID_CONFIG;
	}
	memcpy(buf, t.ptr, (size_t)t.len);
	buf[t.len] = '\0';
	d = strtod(buf, &end);
	if (*end != '\0' || end == buf || d != d || d < (double)in->min || d > (double)in->max) {
		if (msg_len)
			(void)snprintf(msg, msg_len,
			               "invalid value for %s: must be a number in [%" PRId64
			               ", %" PRId64 "]",
			               in->name, in->min, in->max);
		return KFK_ERR_INVALID_CONFIG;
	}
	(void)snprintf(out, KFK_TCFG_VALUE_MAX, "%.15g", d);
	return KFK_ERR_NONE;
}

/* A key with one accepted value, ONLY (what chronik does); WHY says so. */
static int16_t kfk_check_only(const kfk_tcfg_info_t *in, kfk_str_t v, const char *only,
                              const char *why, char *out, char *msg, size_t msg_len)
{
	kfk_str_t t = kfk_trim(v);

	if (t.len == (int32_t)strlen(only) && !strncasecmp(t.ptr, only, strlen(only))) {
		(void)snprintf(out, KFK_TCFG_VALUE_MAX, "%s", only);
		return KFK_ERR_NONE;
	}
	if (msg_len)
		(void)snprintf(msg, msg_len, "unsupported value \"%.*s\" for %s: only %s (%s)",
		               t.len > 0 ? KFK_SHOW(t.len) : 0, t.ptr ? t.ptr : "", in->name, only,
		               why);
	return KFK_ERR_INVALID_CONFIG;
}

/* Kafka's throttled-replicas list: "*", or partition:broker pairs (blanks
 * around items and numbers allowed), stored without the blanks. */
static int16_t kfk_check_throttled(const kfk_tcfg_info_t *in, kfk_str_t v, char *out, char *msg,
                                   size_t msg_len)
{
	kfk_str_t t = kfk_trim(v);
	size_t n = 0;
	bool bad = false;

	if (t.len == 1 && t.ptr[0] == '*') {
		(void)snprintf(out, KFK_TCFG_VALUE_MAX, "*");
		return KFK_ERR_NONE;
	}
	for (int32_t i = 0; i < t.len && !bad;) {
		int digits[2] = {0, 0}, part = 0;

		for (; i < t.len && t.ptr[i] != ','; i++) {
			char ch = t.ptr[i];

			if (ch == ' ' || ch == '\t')
				continue;
			if (ch == ':' && part == 0 && digits[0] > 0)
				part = 1;
			else if (ch >= '0' && ch <= '9')
				digits[part]++;
			else
				bad = true;
			if (!bad && n + 1 >= KFK_TCFG_VALUE_MAX) {
				kfk_msg(msg, msg_len,
				        "value for %s too long: chronik stores at most 31 "
				        "bytes (\"*\" throttles every replica)",
				        in->name);
				return KFK_ERR_INVALID_CONFIG;
			}
			if (!bad)
				out[n++] = ch;
		}
		bad |= part != 1 || digits[1] == 0;
		if (i < t.len) { /* a comma: another item must follow */
			i++;
			bad |= i >= t.len;
			if (!bad)
				out[n++] = ',';
		}
	}
	if (bad) {
		kfk_msg(msg, msg_len,
		        "invalid value for %s: must be \"*\" or a list of "
		        "partition:broker pairs",
		        in->name);
		return KFK_ERR_INVALID_CONFIG;
	}
	out[n] = '\0';
	return KFK_ERR_NONE;
}

/* A Kafka version as message.format.version takes it: 0.8.0, 2.8,
 * 3.0-IV1 (digits, dots, an optional -IV suffix). */
static int16_t kfk_check_format_version(const kfk_tcfg_info_t *in, kfk_str_t v, char *out,
                                        char *msg, size_t msg_len)
{
	kfk_str_t t = kfk_trim(v);
	int32_t i = 0, parts = 0;
	bool ok = t.len > 0 && t.len < KFK_TCFG_VALUE_MAX;

	while (ok && i < t.len && t.ptr[i] != '-') {
		int32_t start = i;

		while (i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9')
			i++;
		ok = i > start && ++parts <= 3;
		if (ok && i < t.len && t.ptr[i] == '.')
			ok = ++i < t.len;
	}
	ok = ok && parts >= 2;
	if (ok && i < t.len) {
		int32_t start;

		ok = t.len - i > 3 && !strncmp(t.ptr + i, "-IV", 3);
		start = i += 3;
		while (ok && i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9')
			i++;
		ok = ok && i > start && i == t.len;
	}
	if (!ok) {
		kfk_msg(msg, msg_len, "invalid value for %s: not a Kafka version (e.g. 3.0-IV1)",
		        in->name);
		return KFK_ERR_INVALID_CONFIG;
	}
	(void)snprintf(out, KFK_TCFG_VALUE_MAX, "%.*s", (int)t.len, t.ptr);
	return KFK_ERR_NONE;
}

static int16_t kfk_check_value(const kfk_tcfg_defaults_t *d, kfk_tcfg_key_t key, kfk_str_t v,
                               char *out, char *msg, size_t msg_len)
{
	const kfk_tcfg_info_t *in = &kfk_tcfg_table[key];
	int16_t err;

	switch (key) {
	case KFK_TCFG_MAX_MESSAGE_BYTES:
		return kfk_check_number(in, v, 1, d->max_message_bytes_limit, out, msg, msg_len);
	case KFK_TCFG_COMPRESSION_TYPE: {
		kfk_str_t t = kfk_trim(v);
		char name[16];

		if (t.len > 0 && t.len < (int32_t)sizeof(name)) {
			memcpy(name, t.ptr, (size_t)t.len);
			name[t.len] = '\0';
			if (ck_config_codec_parse(name) >= -1) {
				(void)snprintf(out, KFK_TCFG_VALUE_MAX, "%s", name);
				return KFK_ERR_NONE;
			}
		}
		kfk_msg(msg, msg_len,
		        "invalid value for %s: must be producer, uncompressed, gzip, snappy, lz4 "
		        "or zstd",
		        in->name);
		return KFK_ERR_INVALID_CONFIG;
	}
	case KFK_TCFG_MAX_COMPACTION_LAG_MS:
		err = kfk_check_number(in, v, in->min, in->max, out, msg, msg_len);
		if (err != KFK_ERR_NONE)
			return err;
		return kfk_check_only(in, kfk_str(out), in->fixed_default,
		                      "no log is compacted, so no bound on when compaction runs "
		                      "can be kept",
		                      out, msg, msg_len);
	case KFK_TCFG_UNCLEAN_LEADER_ELECTION_ENABLE:
		err = kfk_check_bool(in, v, out, msg, msg_len);
		if (err != KFK_ERR_NONE)
			return err;
		return kfk_check_only(in, kfk_str(out), "false",
		                      "a replica outside the ISR never becomes leader", out, msg,
		                      msg_len);
	case KFK_TCFG_REMOTE_STORAGE_ENABLE:
		err = kfk_check_bool(in, v, out, msg, msg_len);
		if (err != KFK_ERR_NONE)
			return err;
		return kfk_check_only(in, kfk_str(out), "false", "there is no tiered storage", out,
		                      msg, msg_len);
	case KFK_TCFG_LEADER_REPLICATION_THROTTLED_REPLICAS:
	case KFK_TCFG_FOLLOWER_REPLICATION_THROTTLED_REPLICAS:
		return kfk_check_throttled(in, v, out, msg, msg_len);
	case KFK_TCFG_MESSAGE_FORMAT_VERSION:
		return kfk_check_format_version(in, v, out, msg, msg_len);
	case KFK_TCFG_CLEANUP_POLICY:
		return kfk_check_policy(v, out, msg, msg_len);
	case KFK_TCFG_MESSAGE_TIMESTAMP_TYPE:
		if (kfk_str_eq(v, "CreateTime") || kfk_str_eq(v, "LogAppendTime")) {
			(void)snprintf(out, KFK_TCFG_VALUE_MAX, "%.*s", (int)v.len, v.ptr);
			return KFK_ERR_NONE;
		}
		if (msg_len)
			(void)snprintf(msg, msg_len,
			               "invalid value \"%.*s\" for message.timestamp.type: must be "
			               "CreateTime or LogAppendTime",
			               v.len > 0 ? KFK_SHOW(v.len) : 0, v.ptr ? v.ptr : "");
		return KFK_ERR_INVALID_CONFIG;
	default:
		break;
	}
	switch (in->type) {
	case KFK_CFG_TYPE_INT:
	case KFK_CFG_TYPE_LONG:
		return kfk_check_number(in, v, in->min, in->max, out, msg, msg_len);
	case KFK_CFG_TYPE_BOOLEAN:
		return kfk_check_bool(in, v, out, msg, msg_len);
	case KFK_CFG_TYPE_DOUBLE:
		return kfk_check_double(in, v, out, msg, msg_len);
	default:
		return KFK_ERR_INVALID_CONFIG;
	}
}

int16_t kfk_tcfg_set_put(kfk_tcfg_set_t *s, const kfk_tcfg_defaults_t *d, kfk_str_t name,
                         kfk_str_t value, char *msg, size_t msg_len)
{
	char out[KFK_TCFG_VALUE_MAX];
	int key = kfk_tcfg_lookup(name);
	int16_t err;

	if (key < 0) {
		if (msg_len)
			(void)snprintf(msg, msg_len, "unknown or unsupported topic config \"%.*s\"",
			               name.len > 0 ? KFK_SHOW(name.len) : 0,
			               name.ptr ? name.ptr : "");
		return KFK_ERR_INVALID_CONFIG;
	}
	if (value.len < 0) {
		kfk_msg(msg, msg_len, "null value for %s", kfk_tcfg_table[key].name);
		return KFK_ERR_INVALID_CONFIG;
	}
	err = kfk_check_value(d, (kfk_tcfg_key_t)key, value, out, msg, msg_len);
	if (err != KFK_ERR_NONE)
		return err;
	s->present[key] = true;
	memcpy(s->value[key], out, sizeof(out));
	return KFK_ERR_NONE;
}

void kfk_tcfg_set_del(kfk_tcfg_set_t *s, kfk_tcfg_key_t key)
{
	if ((unsigned)key < KFK_TCFG_COUNT) {
		s->present[key] = false;
		s->value[key][0] = '\0';
	}
}

int16_t kfk_tcfg_set_list_op(kfk_tcfg_set_t *s, const kfk_tcfg_defaults_t *d, kfk_tcfg_key_t key,
                             bool append, kfk_str_t value, char *msg, size_t msg_len)
{
	char out[KFK_TCFG_VALUE_MAX];
	int16_t err;

	if ((unsigned)key >= KFK_TCFG_COUNT || kfk_tcfg_table[key].type != KFK_CFG_TYPE_LIST) {
		kfk_msg(msg, msg_len, "%s is not a list config: APPEND/SUBTRACT not allowed",
		        (unsigned)key < KFK_TCFG_COUNT ? kfk_tcfg_table[key].name : "?");
		return KFK_ERR_INVALID_CONFIG;
	}
	if (value.len < 0) {
		kfk_msg(msg, msg_len, "null value for %s", kfk_tcfg_table[key].name);
		return KFK_ERR_INVALID_CONFIG;
	}
	/* The only list key is cleanup.policy: its items are a set, the
	 * default ("delete") when the topic has none of its own, as Kafka
	 * appends to and subtracts from; an empty result is kept as the
	 * empty list (the log keeps everything), as Kafka keeps it. */
	err = kfk_check_policy(value, out, msg, msg_len);
	if (err != KFK_ERR_NONE)
		return err;
	{
		int old = s->present[key] ? kfk_policy_flags(s->value[key]) : KFK_POLICY_DELETE;
		int val = kfk_policy_flags(out);
		int keep = old & KFK_POLICY_BOTH, add = val & KFK_POLICY_BOTH;
		/* APPEND puts the new items after the old ones (compact first
		 * if it came first before); SUBTRACT leaves one item or none. */
		int nw = append ? keep | add | ((keep ? old : val) & KFK_POLICY_COMPACT_FIRST)
		                : keep & ~add;

		s->present[key] = true;
		(void)snprintf(s->value[key], KFK_TCFG_VALUE_MAX, "%s", kfk_policy_str(nw));
	}
	(void)d;
	return KFK_ERR_NONE;
}

static int64_t kfk_num_or(const kfk_tcfg_set_t *s, kfk_tcfg_key_t key, int64_t dflt)
{
	kfk_str_t v;
	int64_t n;

	if (!s || !s->present[key])
		return dflt;
	v = kfk_str(s->value[key]);
	return kfk_parse_i64(v, &n) == 0 ? n : dflt;
}

void kfk_tcfg_effective(const kfk_tcfg_set_t *s, const kfk_tcfg_defaults_t *d, kfk_tcfg_t *ret)
{
	ret->retention_ms = kfk_num_or(s, KFK_TCFG_RETENTION_MS, d->retention_ms);
	ret->retention_bytes = kfk_num_or(s, KFK_TCFG_RETENTION_BYTES, d->retention_bytes);
	ret->segment_bytes = kfk_num_or(s, KFK_TCFG_SEGMENT_BYTES, d->segment_bytes);
	ret->max_message_bytes =
	    (int32_t)kfk_num_or(s, KFK_TCFG_MAX_MESSAGE_BYTES, d->max_message_bytes);
	ret->min_insync_replicas =
	    (int32_t)kfk_num_or(s, KFK_TCFG_MIN_INSYNC_REPLICAS, d->min_insync_replicas);
	ret->compact = s && s->present[KFK_TCFG_CLEANUP_POLICY] &&
	               (kfk_policy_flags(s->value[KFK_TCFG_CLEANUP_POLICY]) & KFK_POLICY_COMPACT);
	ret->delete_policy =
	    !s || !s->present[KFK_TCFG_CLEANUP_POLICY] ||
	    (kfk_policy_flags(s->value[KFK_TCFG_CLEANUP_POLICY]) & KFK_POLICY_DELETE);
	if (!ret->delete_policy) {
		ret->retention_ms = -1;
		ret->retention_bytes = -1;
	}
	ret->compression = d->compression;
	if (s && s->present[KFK_TCFG_COMPRESSION_TYPE] &&
	    ck_config_codec_parse(s->value[KFK_TCFG_COMPRESSION_TYPE]) >= -1)
		ret->compression =
		    (int8_t)ck_config_codec_parse(s->value[KFK_TCFG_COMPRESSION_TYPE]);
	ret->log_append_time = s && s->present[KFK_TCFG_MESSAGE_TIMESTAMP_TYPE] &&
	                       !strcmp(s->value[KFK_TCFG_MESSAGE_TIMESTAMP_TYPE], "LogAppendTime");
	/* Kafka (KIP-937): before/after at their default (unbounded) fall
	 * back to the deprecated difference key. */
	ret->ts_before_max_ms = kfk_num_or(s, KFK_TCFG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS, INT64_MAX);
	ret->ts_after_max_ms = kfk_num_or(s, KFK_TCFG_MESSAGE_TIMESTAMP_AFTER_MAX_MS, INT64_MAX);
	if (ret->ts_before_max_ms == INT64_MAX)
		ret->ts_before_max_ms =
		    kfk_num_or(s, KFK_TCFG_MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS, INT64_MAX);
	if (ret->ts_after_max_ms == INT64_MAX)
		ret->ts_after_max_ms =
		    kfk_num_or(s, KFK_TCFG_MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS, INT64_MAX);
}

void kfk_tcfg_default_str(const kfk_tcfg_defaults_t *d, kfk_tcfg_key_t key, char *buf, size_t len)
{
	int64_t n;

	if (!len)
		return;
	if ((unsigned)key >= KFK_TCFG_COUNT) {
		buf[0] = '\0';
		return;
	}
	if (kfk_tcfg_table[key].fixed_default) {
		(void)snprintf(buf, len, "%s", kfk_tcfg_table[key].fixed_default);
		return;
	}
	switch (key) {
	case KFK_TCFG_COMPRESSION_TYPE:
		(void)snprintf(buf, len, "%s", ck_config_codec_name(d->compression));
		return;
	case KFK_TCFG_INDEX_INTERVAL_BYTES:
		n = d->index_interval_bytes;
		break;
	case KFK_TCFG_MAX_MESSAGE_BYTES:
		n = d->max_message_bytes;
		break;
	case KFK_TCFG_MIN_INSYNC_REPLICAS:
		n = d->min_insync_replicas;
		break;
	case KFK_TCFG_RETENTION_BYTES:
		n = d->retention_bytes;
		break;
	case KFK_TCFG_RETENTION_MS:
		n = d->retention_ms;
		break;
	case KFK_TCFG_SEGMENT_BYTES:
		n = d->segment_bytes;
		break;
	default: /* KFK_TCFG_SEGMENT_MS: every other key has a fixed default */
		n = d->segment_ms;
		break;
	}
	(void)snprintf(buf, len, "%" PRId64, n);
}
