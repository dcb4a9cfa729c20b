/*
 * wal_policy.c: group cutting, segment rolling, retention choice and the
 * cadence of sparse index entries (pure core of chronik-walwriter, see
 * wal_core.h). Time enters as arguments; nothing here reads a clock or a file.
 */
#include "wal_core.h"

#include "ck_err.h"

wal_group_action_t wal_group_decide(const wal_group_limits_t *lim, uint64_t pending_bytes,
                                    uint32_t pending_appends, uint64_t first_ns, uint64_t now_ns,
                                    int jobs_inflight, uint32_t last_group_appends,
                                    uint64_t *ret_wait_ns)
{
	bool full = (lim->bytes_max && pending_bytes >= lim->bytes_max) ||
	            (lim->appends_max && pending_appends >= lim->appends_max);
	uint64_t age;

	if (pending_appends == 0)
		return WAL_GROUP_NOTHING;
	if (full)
		return jobs_inflight < WAL_GROUPS_QUEUED_MAX ? WAL_GROUP_CUT : WAL_GROUP_NOTHING;
	if (jobs_inflight > 0)
		return WAL_GROUP_NOTHING;
	if (last_group_appends > 0 && pending_appends >= last_group_appends)
		return WAL_GROUP_CUT;
	age = now_ns > first_ns ? now_ns - first_ns : 0;
	if (age >= lim->window_ns)
		return WAL_GROUP_CUT;
	*ret_wait_ns = lim->window_ns - age;
	return WAL_GROUP_WAIT;
}

bool wal_group_fits(const wal_group_limits_t *lim, uint64_t group_bytes, uint32_t group_appends,
                    uint64_t next_bytes)
{
	if (group_appends == 0)
		return true;
	if (lim->appends_max && group_appends >= lim->appends_max)
		return false;
	if (lim->bytes_max && group_bytes + next_bytes > lim->bytes_max)
		return false;
	return true;
}

bool wal_roll_needed(const wal_segment_state_t *seg, const wal_log_cfg_t *cfg, size_t total,
                     int64_t last_offset, int64_t now_ms)
{
	if (seg->size == 0)
		return false;
	if (seg->size + total > (uint64_t)CK_MIN(cfg->segment_bytes, WAL_SEGMENT_BYTES_MAX))
		return true;
	if (now_ms - seg->created_ms >= cfg->segment_ms)
		return true;
	if (last_offset - seg->base_offset > (int64_t)INT32_MAX)
		return true;
	return false;
}

int64_t wal_segment_time(int64_t max_ts, int64_t modified_ms)
{
	return max_ts >= 0 ? max_ts : modified_ms;
}

size_t wal_retention_count(const wal_segment_info_t *segs, size_t n, const wal_log_cfg_t *cfg,
                           int64_t now_ms, int64_t hw)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < n; i++)
		total += segs[i].size;
	for (i = 0; i + 1 < n; i++) {
		bool old =
		    cfg->retention_ms >= 0 && segs[i].max_timestamp < now_ms - cfg->retention_ms;
		bool big = cfg->retention_bytes >= 0 &&
		           total - segs[i].size >= (uint64_t)cfg->retention_bytes;
		if ((!old && !big) || (hw >= 0 && segs[i + 1].base_offset > hw))
			break;
		total -= segs[i].size;
	}
	return i;
}

bool wal_retention_empties(const wal_segment_info_t *segs, size_t n, const wal_log_cfg_t *cfg,
                           int64_t now_ms, int64_t hw, int64_t end)
{
	if (n == 0 || cfg->retention_ms < 0 || segs[n - 1].size == 0)
		return false;
	if (end >= 0 && hw < end)
		return false;
	if (segs[n - 1].max_timestamp >= now_ms - cfg->retention_ms)
		return false;
	return wal_retention_count(segs, n, cfg, now_ms, end >= 0 ? hw : -1) == n - 1;
}

void wal_index_state_init(wal_index_state_t *s)
{
	s->last_index_pos = 0;
	s->max_ts = INT64_MIN;
	s->max_ts_offset = -1;
	s->last_time_ts = INT64_MIN;
	s->index_entries = 0;
	s->time_entries = 0;
}

void wal_index_track(wal_index_state_t *s, int64_t seg_base, uint64_t pos,
                     const ck_batch_header_t *h, uint32_t interval, wal_index_entries_t *ret)
{
	ret->index = false;
	ret->time = false;
	if (h->max_timestamp > s->max_ts) {
		s->max_ts = h->max_timestamp;
		s->max_ts_offset = h->base_offset;
	}
	if (pos == 0 || pos - s->last_index_pos < interval)
		return;
	ret->index = true;
	ret->rel_offset = (uint32_t)(h->base_offset - seg_base);
	ret->position = (uint32_t)pos;
	s->last_index_pos = pos;
	s->index_entries++;
	if (s->max_ts > s->last_time_ts) {
		ret->time = true;
		ret->timestamp = s->max_ts;
		ret->time_rel_offset = (uint32_t)(s->max_ts_offset - seg_base);
		s->last_time_ts = s->max_ts;
		s->time_entries++;
	}
}

bool wal_index_final(wal_index_state_t *s, int64_t seg_base, wal_index_entries_t *ret)
{
	ret->index = false;
	ret->time = false;
	if (s->max_ts_offset < 0 || s->max_ts <= s->last_time_ts)
		return false;
	ret->time = true;
	ret->timestamp = s->max_ts;
	ret->time_rel_offset = (uint32_t)(s->max_ts_offset - seg_base);
	s->last_time_ts = s->max_ts;
	s->time_entries++;
	return true;
}
