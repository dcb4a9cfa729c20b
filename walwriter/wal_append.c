/*
 * wal_append.c: validation and offset assignment of appends, and per-log
 * settings (pure core of chronik-walwriter, see wal_core.h).
 *
 * Invariant: an append either passes as a whole and is prepared in place,
 * or fails and its bytes are untouched; nothing of a rejected request is
 * ever written. No I/O, no clock, no logging.
 */
#include "wal_core.h"

#include <errno.h>

#include "ck_err.h"

static int64_t wal_cfg_pick(int64_t req, int64_t def)
{
	return req != 0 ? req : def;
}

int wal_log_cfg_resolve(const wal_log_cfg_t *defaults, const wal_log_cfg_t *req, wal_log_cfg_t *ret)
{
	wal_log_cfg_t c;

	c.segment_bytes = wal_cfg_pick(req->segment_bytes, defaults->segment_bytes);
	c.segment_ms = wal_cfg_pick(req->segment_ms, defaults->segment_ms);
	c.retention_bytes = wal_cfg_pick(req->retention_bytes, defaults->retention_bytes);
	c.retention_ms = wal_cfg_pick(req->retention_ms, defaults->retention_ms);
	c.max_message_bytes =
	    (int32_t)wal_cfg_pick(req->max_message_bytes, defaults->max_message_bytes);
	c.index_interval_bytes =
	    (int32_t)wal_cfg_pick(req->index_interval_bytes, defaults->index_interval_bytes);
	if (c.segment_bytes < CK_BATCH_HEADER_LEN || c.segment_bytes > WAL_SEGMENT_BYTES_MAX)
		return CK_E_INVALID;
	if (c.segment_ms <= 0 || c.index_interval_bytes < 0)
		return CK_E_INVALID;
	if (c.retention_bytes < -1 || c.retention_ms < -1)
		return CK_E_INVALID;
	if (c.max_message_bytes < 1)
		return CK_E_INVALID;
	*ret = c;
	return 0;
}

/* Pass 1: every batch valid, offsets consistent. Nothing is written. */
static int wal_append_check(const uint8_t *p, size_t len, const wal_append_args_t *a,
                            wal_append_plan_t *plan)
{
	ck_batch_header_t h;
	int64_t next = a->log_end;
	size_t pos = 0;

	if (len == 0)
		return CK_E_CORRUPT;
	plan->base_offset = a->replica ? -1 : a->log_end;
	plan->batches = 0;
	plan->records = 0;
	while (pos < len) {
		int r = ck_batch_validate(p + pos, len - pos, a->max_bytes, &h);
		if (r < 0)
			return r;
		if (a->replica) {
			if (h.base_offset != next)
				return CK_E_OUT_OF_ORDER;
			if (plan->base_offset < 0)
				plan->base_offset = h.base_offset;
		}
		if (next > INT64_MAX - 1 - h.last_offset_delta)
			return CK_E_OFFSET_RANGE;
		next += (int64_t)h.last_offset_delta + 1;
		if (plan->batches == INT32_MAX)
			return CK_E_TOO_LARGE;
		plan->batches++;
		plan->records += h.records_count;
		pos += (size_t)r;
	}
	plan->next_offset = next;
	plan->last_offset = next - 1;
	return 0;
}

int wal_append_prepare(uint8_t *batches, size_t len, const wal_append_args_t *args,
                       wal_append_plan_t *ret)
{
	wal_append_plan_t plan;
	int64_t next = args->log_end;
	size_t pos = 0;
	int r;

	r = wal_append_check(batches, len, args, &plan);
	if (r < 0)
		return r;
	if (!args->replica) {
		while (pos < len) {
			uint8_t *p = batches + pos;
			ck_batch_header_t h;
			(void)ck_batch_header_parse(p, len - pos, &h);
			ck_batch_base_offset_set(p, next);
			ck_batch_leader_epoch_set(p, args->leader_epoch);
			if (args->append_time_ms > 0)
				ck_batch_log_append_time_set(p, ck_batch_total_len(&h),
				                             args->append_time_ms);
			next += (int64_t)h.last_offset_delta + 1;
			pos += ck_batch_total_len(&h);
		}
	}
	*ret = plan;
	return 0;
}
