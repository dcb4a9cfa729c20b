/*
 * kfk_fetch_core.c: piecewise Fetch response encoder and sizing rules
 * (kfk_fetch_core.h).
 *
 * Owned by kafka-frontend (pure). Wire rules as in the generated codec:
 * big-endian integers; in flexible versions (12+) compact strings, arrays
 * and bytes (uvarint length + 1, 0 = null) and a tagged-field section
 * closing every struct (written empty: every tagged field is at its
 * default for consumers).
 */
#include "kfk_fetch_core.h"

#include <errno.h>

#include "ck_err.h"

#define KFK_FETCH_FLEX_VERSION 12

static uint8_t *kfk_fw_room(kfk_fw_t *w, size_t n)
{
	uint8_t *p;

	if (w->err)
		return NULL;
	p = ck_buf_extend(w->out, n);
	if (!p)
		w->err = -ENOMEM;
	return p;
}

static void kfk_fw_i16(kfk_fw_t *w, int16_t v)
{
	uint8_t *p = kfk_fw_room(w, 2);
	if (p)
		ck_be16_put(p, (uint16_t)v);
}

static void kfk_fw_i32(kfk_fw_t *w, int32_t v)
{
	uint8_t *p = kfk_fw_room(w, 4);
	if (p)
		ck_be32_put(p, (uint32_t)v);
}

static void kfk_fw_i64(kfk_fw_t *w, int64_t v)
{
	uint8_t *p = kfk_fw_room(w, 8);
	if (p)
		ck_be64_put(p, (uint64_t)v);
}

static void kfk_fw_uvarint(kfk_fw_t *w, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = ck_uvarint64_put(tmp, v);
	uint8_t *p = kfk_fw_room(w, n);

	if (p)
		for (size_t i = 0; i < n; i++)
			p[i] = tmp[i];
}

/* An array count or a bytes length; N < 0 is null. */
static void kfk_fw_len(kfk_fw_t *w, int64_t n)
{
	if (n > INT32_MAX - 1) {
		if (!w->err)
			w->err = CK_E_INVALID;
		return;
	}
	if (w->flex)
		kfk_fw_uvarint(w, n < 0 ? 0 : (uint64_t)n + 1);
	else
		kfk_fw_i32(w, n < 0 ? -1 : (int32_t)n);
}

static void kfk_fw_tags(kfk_fw_t *w)
{
	if (w->flex)
		kfk_fw_uvarint(w, 0);
}

int kfk_fw_begin(kfk_fw_t *w, ck_buf_t *out, int16_t version, int32_t throttle_time_ms,
                 int16_t error_code, int32_t session_id, int32_t topic_count)
{
	w->out = out;
	w->version = version;
	w->flex = version >= KFK_FETCH_FLEX_VERSION;
	w->read_committed = false;
	w->err = 0;
	if (version < KFK_FETCH_VERSION_MIN || version > KFK_FETCH_VERSION_MAX)
		return CK_E_INVALID;
	if (version >= 1)
		kfk_fw_i32(w, throttle_time_ms);
	if (version >= 7) {
		kfk_fw_i16(w, error_code);
		kfk_fw_i32(w, session_id);
	}
	kfk_fw_len(w, topic_count);
	return w->err;
}

void kfk_fw_topic(kfk_fw_t *w, kfk_str_t name, int32_t partition_count)
{
	int32_t n = name.len < 0 ? 0 : name.len;
	uint8_t *p;

	if (n > 0x7fff && !w->err)
		w->err = CK_E_INVALID;
	if (w->flex)
		kfk_fw_uvarint(w, (uint64_t)n + 1);
	else
		kfk_fw_i16(w, (int16_t)n);
	p = kfk_fw_room(w, (size_t)n);
	if (p && n)
		for (int32_t i = 0; i < n; i++)
			p[i] = (uint8_t)name.ptr[i];
	kfk_fw_len(w, partition_count);
}

void kfk_fw_partition(kfk_fw_t *w, const kfk_fw_part_t *p, int64_t records_len)
{
	kfk_fw_i32(w, p->partition_index);
	kfk_fw_i16(w, p->error_code);
	kfk_fw_i64(w, p->high_watermark);
	if (w->version >= 4)
		kfk_fw_i64(w, p->last_stable_offset);
	if (w->version >= 5)
		kfk_fw_i64(w, p->log_start_offset);
	if (w->version >= 4)
		kfk_fw_len(w, w->read_committed ? 0 : -1); /* no transactions */
	if (w->version >= 11)
		kfk_fw_i32(w, p->preferred_read_replica);
	kfk_fw_len(w, records_len);
}

void kfk_fw_partition_end(kfk_fw_t *w)
{
	kfk_fw_tags(w);
}

void kfk_fw_topic_end(kfk_fw_t *w)
{
	kfk_fw_tags(w);
}

int kfk_fw_end(kfk_fw_t *w)
{
	kfk_fw_tags(w);
	return w->err;
}

uint64_t kfk_fetch_part_limit(int64_t total_left, int32_t partition_max_bytes)
{
	if (total_left <= 0 || partition_max_bytes <= 0)
		return 0;
	return (uint64_t)CK_MIN(total_left, (int64_t)partition_max_bytes);
}

bool kfk_fetch_range_take(uint64_t length, uint32_t batches, uint64_t limit, bool first)
{
	if (length == 0 || batches == 0)
		return false;
	if (length <= limit)
		return true;
	return first && batches == 1;
}

kfk_fetch_at_t kfk_fetch_at(int64_t offset, int64_t log_start, int64_t hw, int64_t leo_seen)
{
	if (offset < log_start)
		return KFK_FETCH_AT_OUT_OF_RANGE;
	if (offset < hw)
		return KFK_FETCH_AT_READ;
	if (offset <= CK_MAX(leo_seen, hw))
		return KFK_FETCH_AT_EMPTY;
	return KFK_FETCH_AT_PAST_SEEN;
}
