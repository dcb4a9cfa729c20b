/*
 * wal_ckpt.c: the small records of a log (pure core of chronik-walwriter,
 * see wal_core.h): the checkpoint (fixed 96 bytes), the settings file
 * (56 bytes) and the topic id file (24 bytes). Each is big-endian, starts
 * with a magic and ends in a CRC32C of the bytes before it, so a torn or
 * foreign value is recognised and ignored (recovery then scans the whole
 * log, uses node defaults, or takes the topic id for unknown).
 */
#include "wal_core.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ck_buf.h"
#include "ck_crc32c.h"
#include "ck_err.h"

#define WAL_CKPT_MAGIC 0x57434b31u /* "WCK1" */

void wal_ckpt_encode(const wal_ckpt_t *c, uint8_t *out)
{
	const int64_t v[] = {
	    c->log_start_offset,
	    c->segment_base,
	    (int64_t)c->position,
	    c->next_offset,
	    (int64_t)c->index.last_index_pos,
	    c->index.max_ts,
	    c->index.max_ts_offset,
	    c->index.last_time_ts,
	    (int64_t)c->index.index_entries,
	    (int64_t)c->index.time_entries,
	};
	uint8_t *p = out;

	ck_be32_put(p, WAL_CKPT_MAGIC);
	p += 4;
	for (size_t i = 0; i < CK_ARRAY_LEN(v); i++, p += 8)
		ck_be64_put(p, (uint64_t)v[i]);
	while (p < out + WAL_CKPT_LEN - 4)
		*p++ = 0;
	ck_be32_put(p, ck_crc32c(0, out, WAL_CKPT_LEN - 4));
}

int wal_ckpt_decode(const uint8_t *p, size_t len, wal_ckpt_t *ret)
{
	int64_t v[10];
	wal_ckpt_t c;

	if (len != WAL_CKPT_LEN || ck_be32_get(p) != WAL_CKPT_MAGIC)
		return CK_E_CORRUPT;
	if (ck_crc32c(0, p, WAL_CKPT_LEN - 4) != ck_be32_get(p + WAL_CKPT_LEN - 4))
		return CK_E_CORRUPT;
	for (size_t i = 0; i < CK_ARRAY_LEN(v); i++)
		v[i] = (int64_t)ck_be64_get(p + 4 + 8 * i);
	c.log_start_offset = v[0];
	c.segment_base = v[1];
	c.position = (uint64_t)v[2];
	c.next_offset = v[3];
	c.index.last_index_pos = (uint64_t)v[4];
	c.index.max_ts = v[5];
	c.index.max_ts_offset = v[6];
	c.index.last_time_ts = v[7];
	c.index.index_entries = (uint64_t)v[8];
	c.index.time_entries = (uint64_t)v[9];
	if (c.log_start_offset < 0 || c.segment_base < 0 || c.next_offset < c.segment_base)
		return CK_E_CORRUPT;
	*ret = c;
	return 0;
}

int wal_ckpt_key(char *buf, size_t len, const char *topic, int32_t partition)
{
	int n = snprintf(buf, len, WAL_CKPT_KEY_PREFIX "%s-%" PRId32, topic, partition);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return n;
}

#define WAL_LOG_CFG_MAGIC 0x57434631u /* "WCF1" */

void wal_log_cfg_encode(const wal_log_cfg_t *c, uint8_t *out)
{
	const int64_t v[] = {
	    c->segment_bytes, c->segment_ms,        c->retention_bytes,
	    c->retention_ms,  c->max_message_bytes, c->index_interval_bytes,
	};
	uint8_t *p = out;

	ck_be32_put(p, WAL_LOG_CFG_MAGIC);
	p += 4;
	for (size_t i = 0; i < CK_ARRAY_LEN(v); i++, p += 8)
		ck_be64_put(p, (uint64_t)v[i]);
	ck_be32_put(p, ck_crc32c(0, out, WAL_LOG_CFG_LEN - 4));
}

int wal_log_cfg_decode(const uint8_t *p, size_t len, wal_log_cfg_t *ret)
{
	int64_t v[6];

	if (len != WAL_LOG_CFG_LEN || ck_be32_get(p) != WAL_LOG_CFG_MAGIC)
		return CK_E_CORRUPT;
	if (ck_crc32c(0, p, WAL_LOG_CFG_LEN - 4) != ck_be32_get(p + WAL_LOG_CFG_LEN - 4))
		return CK_E_CORRUPT;
	for (size_t i = 0; i < CK_ARRAY_LEN(v); i++)
		v[i] = (int64_t)ck_be64_get(p + 4 + 8 * i);
	if (v[4] < 0 || v[4] > INT32_MAX || v[5] < 0 || v[5] > INT32_MAX)
		return CK_E_CORRUPT;
	ret->segment_bytes = v[0];
	ret->segment_ms = v[1];
	ret->retention_bytes = v[2];
	ret->retention_ms = v[3];
	ret->max_message_bytes = (int32_t)v[4];
	ret->index_interval_bytes = (int32_t)v[5];
	return 0;
}

/* ---- topic id ---- */

#define WAL_TOPIC_ID_MAGIC 0x57544931u /* "WTI1" */

static bool wal_topic_id_zero(const uint8_t *p)
{
	for (size_t i = 0; i < WAL_TOPIC_ID_LEN; i++)
		if (p[i])
			return false;
	return true;
}

/* *RET from 16 bytes: all zero is unknown (Kafka's ZERO_UUID). */
static void wal_topic_id_set(const uint8_t *p, wal_topic_id_t *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (wal_topic_id_zero(p))
		return;
	memcpy(ret->bytes, p, WAL_TOPIC_ID_LEN);
	ret->known = true;
}

int wal_topic_id_from_bytes(const uint8_t *p, size_t len, wal_topic_id_t *ret)
{
	if (len == 0) {
		memset(ret, 0, sizeof(*ret));
		return 0;
	}
	if (len != WAL_TOPIC_ID_LEN)
		return CK_E_INVALID;
	wal_topic_id_set(p, ret);
	return 0;
}

bool wal_topic_id_spares(const wal_topic_id_t *log, const wal_topic_id_t *req)
{
	return log->known && req->known && memcmp(log->bytes, req->bytes, WAL_TOPIC_ID_LEN) != 0;
}

const char *wal_topic_id_hex(const wal_topic_id_t *id, char *buf)
{
	static const char digits[] = "0123456789abcdef";

	if (!id->known) {
		snprintf(buf, WAL_TOPIC_ID_HEX_LEN, "unknown");
		return buf;
	}
	for (size_t i = 0; i < WAL_TOPIC_ID_LEN; i++) {
		buf[2 * i] = digits[id->bytes[i] >> 4];
		buf[2 * i + 1] = digits[id->bytes[i] & 15];
	}
	buf[2 * WAL_TOPIC_ID_LEN] = '\0';
	return buf;
}

void wal_topic_id_encode(const wal_topic_id_t *id, uint8_t *out)
{
	ck_be32_put(out, WAL_TOPIC_ID_MAGIC);
	memcpy(out + 4, id->bytes, WAL_TOPIC_ID_LEN);
	ck_be32_put(out + 4 + WAL_TOPIC_ID_LEN, ck_crc32c(0, out, WAL_TOPIC_ID_FILE_LEN - 4));
}

int wal_topic_id_decode(const uint8_t *p, size_t len, wal_topic_id_t *ret)
{
	if (len != WAL_TOPIC_ID_FILE_LEN || ck_be32_get(p) != WAL_TOPIC_ID_MAGIC)
		return CK_E_CORRUPT;
	if (ck_crc32c(0, p, WAL_TOPIC_ID_FILE_LEN - 4) !=
	    ck_be32_get(p + WAL_TOPIC_ID_FILE_LEN - 4))
		return CK_E_CORRUPT;
	wal_topic_id_set(p + 4, ret);
	return 0;
}

#define WAL_LOG_START_MAGIC 0x574c5331u /* "WLS1" */

void wal_log_start_encode(int64_t start, uint8_t *out)
{
	ck_be32_put(out, WAL_LOG_START_MAGIC);
	ck_be64_put(out + 4, (uint64_t)start);
	ck_be32_put(out + 12, ck_crc32c(0, out, WAL_LOG_START_FILE_LEN - 4));
}

int wal_log_start_decode(const uint8_t *p, size_t len, int64_t *ret)
{
	int64_t v;

	if (len != WAL_LOG_START_FILE_LEN || ck_be32_get(p) != WAL_LOG_START_MAGIC ||
	    ck_crc32c(0, p, WAL_LOG_START_FILE_LEN - 4) != ck_be32_get(p + 12))
		return CK_E_CORRUPT;
	v = (int64_t)ck_be64_get(p + 4);
	if (v < 0)
		return CK_E_CORRUPT;
	*ret = v;
	return 0;
}
