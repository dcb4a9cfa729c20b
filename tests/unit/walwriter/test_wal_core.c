/*
 * test_wal_core.c: unit tests of chronik-walwriter's pure core
 * (walwriter/wal_core.h): append validation and offset assignment (leader
 * and replica, every rejection leaving the bytes untouched), group cutting,
 * segment rolls, retention choices, index cadence, checkpoint and settings
 * records.
 */
#include <errno.h>
#include <stdint.h>

#include "ck_err.h"
#include "wal_core.h"
#include "wal_test.h"

static wal_append_args_t leader(int64_t end)
{
	return (wal_append_args_t){false, end, 5, 0, 1 << 20};
}

START_TEST(test_append_leader_assigns)
{
	ck_buf_t buf = CK_BUF_INIT;
	wal_append_args_t a = leader(100);
	wal_append_plan_t p;
	ck_batch_header_t h;
	size_t l1, l2, l3;
	int r;

	/* The client's offsets (7, 0, 999) are ignored by a leader append. */
	l1 = wal_test_batch(&buf, 7, 3, 10, 1, 1000);
	l2 = wal_test_batch(&buf, 0, 1, 10, 2, 1000);
	l3 = wal_test_batch(&buf, 999, 4, 10, 3, 1000);
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len, &a, &p), 0);
	ck_assert_int_eq(p.base_offset, 100);
	ck_assert_int_eq(p.last_offset, 107);
	ck_assert_int_eq(p.next_offset, 108);
	ck_assert_int_eq(p.batches, 3);
	ck_assert_int_eq(p.records, 8);
	r = ck_batch_validate(buf.data, l1, 0, &h);
	ck_assert_int_eq(r, (int)l1);
	ck_assert_int_eq(h.base_offset, 100);
	ck_assert_int_eq(h.partition_leader_epoch, 5);
	ck_assert_int_eq(h.attributes & CK_BATCH_ATTR_LOG_APPEND_TIME, 0);
	ck_assert_int_eq(ck_batch_validate(buf.data + l1, l2, 0, &h), (int)l2);
	ck_assert_int_eq(h.base_offset, 103);
	ck_assert_int_eq(ck_batch_validate(buf.data + l1 + l2, l3, 0, &h), (int)l3);
	ck_assert_int_eq(h.base_offset, 104);
	ck_buf_free(&buf);
}
END_TEST

START_TEST(test_append_log_append_time)
{
	ck_buf_t buf = CK_BUF_INIT;
	wal_append_args_t a = leader(0);
	wal_append_plan_t p;
	ck_batch_header_t h;
	size_t l1 = wal_test_batch(&buf, 0, 2, 10, 1, 1000);

	a.append_time_ms = 1700000000123LL;
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len, &a, &p), 0);
	ck_assert_int_eq(ck_batch_validate(buf.data, l1, 0, &h), (int)l1); /* CRC recomputed */
	ck_assert_int_eq(h.max_timestamp, 1700000000123LL);
	ck_assert_int_ne(h.attributes & CK_BATCH_ATTR_LOG_APPEND_TIME, 0);
	ck_buf_free(&buf);
}
END_TEST

START_TEST(test_append_replica_contiguity)
{
	ck_buf_t buf = CK_BUF_INIT, copy = CK_BUF_INIT;
	wal_append_args_t a = {true, 50, 9, 123, 1 << 20};
	wal_append_plan_t p;
	size_t l1;

	l1 = wal_test_batch(&buf, 50, 3, 10, 1, 1000);
	wal_test_batch(&buf, 53, 2, 10, 2, 1000);
	ck_batch_leader_epoch_set(buf.data, 4);
	ck_assert_int_eq(ck_buf_append(&copy, buf.data, buf.len), 0);
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len, &a, &p), 0);
	ck_assert_int_eq(p.base_offset, 50);
	ck_assert_int_eq(p.last_offset, 54);
	ck_assert_int_eq(p.next_offset, 55);
	/* Replica bytes are kept exactly: epoch and time untouched. */
	ck_assert_mem_eq(buf.data, copy.data, buf.len);
	/* Not at the log end, a gap between batches, an overlap. */
	a.log_end = 49;
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len, &a, &p), CK_E_OUT_OF_ORDER);
	a.log_end = 51;
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len, &a, &p), CK_E_OUT_OF_ORDER);
	a.log_end = 50;
	ck_batch_base_offset_set(buf.data + l1, 54);
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len, &a, &p), CK_E_OUT_OF_ORDER);
	ck_batch_base_offset_set(buf.data + l1, 52);
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len, &a, &p), CK_E_OUT_OF_ORDER);
	ck_buf_free(&buf);
	ck_buf_free(&copy);
}
END_TEST

START_TEST(test_append_rejects_whole_request)
{
	ck_buf_t buf = CK_BUF_INIT, copy = CK_BUF_INIT;
	wal_append_args_t a = leader(10);
	wal_append_plan_t p;
	size_t l1, l2;

	l1 = wal_test_batch(&buf, 0, 2, 10, 1, 1000);
	l2 = wal_test_batch(&buf, 0, 2, 300, 2, 1000);
	/* The second batch is bad: nothing of the first may be touched. */
	buf.data[l1 + 40] ^= 0xff;
	ck_assert_int_eq(ck_buf_append(&copy, buf.data, buf.len), 0);
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len, &a, &p), CK_E_CORRUPT);
	ck_assert_mem_eq(buf.data, copy.data, buf.len);
	buf.data[l1 + 40] ^= 0xff;
	/* Too large for the log's max.message.bytes. */
	a.max_bytes = l2 - 1;
	memcpy(copy.data, buf.data, buf.len);
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len, &a, &p), CK_E_TOO_LARGE);
	ck_assert_mem_eq(buf.data, copy.data, buf.len);
	a.max_bytes = l2;
	/* Trailing garbage, a truncated batch, nothing at all. */
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len - 1, &a, &p), CK_E_CORRUPT);
	ck_assert_int_eq(wal_append_prepare(buf.data, 30, &a, &p), CK_E_CORRUPT);
	ck_assert_int_eq(wal_append_prepare(buf.data, 0, &a, &p), CK_E_CORRUPT);
	/* Offsets that would overflow. */
	a.log_end = INT64_MAX - 2;
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len, &a, &p), CK_E_OFFSET_RANGE);
	ck_assert_mem_eq(buf.data, copy.data, buf.len);
	a.log_end = 10;
	ck_assert_int_eq(wal_append_prepare(buf.data, buf.len, &a, &p), 0);
	ck_assert_int_eq(p.next_offset, 14);
	ck_buf_free(&buf);
	ck_buf_free(&copy);
}
END_TEST

START_TEST(test_group_decide)
{
	wal_group_limits_t lim = {1000000, 4096, 8}; /* 1 ms window */
	uint64_t wait = 0;

	ck_assert_int_eq(wal_group_decide(&lim, 0, 0, 0, 5, 0, 0, &wait), WAL_GROUP_NOTHING);
	/* Appends arriving while a sync runs wait for it, whatever their age ... */
	ck_assert_int_eq(wal_group_decide(&lim, 100, 1, 0, 99999999, 1, 0, &wait),
	                 WAL_GROUP_NOTHING);
	/* ... unless they fill a group: it queues behind, up to a limit. */
	ck_assert_int_eq(wal_group_decide(&lim, 99999, 99, 0, 0, 1, 0, &wait), WAL_GROUP_CUT);
	ck_assert_int_eq(wal_group_decide(&lim, 10, 8, 0, 0, WAL_GROUPS_QUEUED_MAX - 1, 0, &wait),
	                 WAL_GROUP_CUT);
	ck_assert_int_eq(wal_group_decide(&lim, 99999, 99, 0, 0, WAL_GROUPS_QUEUED_MAX, 0, &wait),
	                 WAL_GROUP_NOTHING);
	/* Idle: wait for the rest of the window ... */
	ck_assert_int_eq(wal_group_decide(&lim, 100, 1, 1000, 251000, 0, 0, &wait), WAL_GROUP_WAIT);
	ck_assert_uint_eq(wait, 750000);
	/* ... cut once it passed, or at once on a cap. */
	ck_assert_int_eq(wal_group_decide(&lim, 100, 1, 1000, 1001000, 0, 0, &wait), WAL_GROUP_CUT);
	ck_assert_int_eq(wal_group_decide(&lim, 4096, 2, 1000, 1000, 0, 0, &wait), WAL_GROUP_CUT);
	ck_assert_int_eq(wal_group_decide(&lim, 10, 8, 1000, 1000, 0, 0, &wait), WAL_GROUP_CUT);
	/* A clock going backwards does not make the wait longer than the window. */
	ck_assert_int_eq(wal_group_decide(&lim, 10, 1, 5000, 1000, 0, 0, &wait), WAL_GROUP_WAIT);
	ck_assert_uint_eq(wait, 1000000);
	/* As many pending as the last group held: waiting adds only latency. */
	ck_assert_int_eq(wal_group_decide(&lim, 100, 3, 1000, 1001, 0, 3, &wait), WAL_GROUP_CUT);
	ck_assert_int_eq(wal_group_decide(&lim, 100, 2, 1000, 1001, 0, 3, &wait), WAL_GROUP_WAIT);
	ck_assert_int_eq(wal_group_decide(&lim, 100, 3, 1000, 1001, 1, 3, &wait),
	                 WAL_GROUP_NOTHING);
	/* Window 0: an idle writer cuts immediately. */
	lim.window_ns = 0;
	ck_assert_int_eq(wal_group_decide(&lim, 10, 1, 1000, 1000, 0, 0, &wait), WAL_GROUP_CUT);
	ck_assert_int_eq(wal_group_decide(&lim, 10, 1, 1000, 1000, 2, 0, &wait), WAL_GROUP_NOTHING);
}
END_TEST

START_TEST(test_group_fits)
{
	wal_group_limits_t lim = {0, 1000, 3};
	wal_group_limits_t none = {0, 0, 0};

	ck_assert(wal_group_fits(&lim, 0, 0, 5000)); /* the first always joins */
	ck_assert(wal_group_fits(&lim, 400, 1, 600));
	ck_assert(!wal_group_fits(&lim, 400, 1, 601));
	ck_assert(!wal_group_fits(&lim, 10, 3, 1));
	ck_assert(wal_group_fits(&none, 1ull << 40, 1u << 30, 1ull << 40));
}
END_TEST

static const wal_log_cfg_t cfg1 = {1000, 60000, -1, -1, 1 << 20, 4096};

START_TEST(test_roll)
{
	wal_segment_state_t seg = {0, 500, 1000};

	/* An empty segment takes anything, even an oversized batch. */
	ck_assert(!wal_roll_needed(&seg, &cfg1, 5000, 510, 999999999));
	seg.size = 900;
	ck_assert(!wal_roll_needed(&seg, &cfg1, 100, 510, 1000));
	ck_assert(wal_roll_needed(&seg, &cfg1, 101, 510, 1000));
	ck_assert(!wal_roll_needed(&seg, &cfg1, 10, 510, 60999));
	ck_assert(wal_roll_needed(&seg, &cfg1, 10, 510, 61000));
	/* Relative offsets must fit the index. */
	ck_assert(!wal_roll_needed(&seg, &cfg1, 10, 500 + (int64_t)INT32_MAX, 1000));
	ck_assert(wal_roll_needed(&seg, &cfg1, 10, 501 + (int64_t)INT32_MAX, 1000));
	/* Positions must fit a u32 whatever segment_bytes says. */
	wal_log_cfg_t big = cfg1;
	big.segment_bytes = INT64_MAX;
	seg.size = UINT32_MAX - 10;
	ck_assert(!wal_roll_needed(&seg, &big, 10, 510, 1000));
	ck_assert(wal_roll_needed(&seg, &big, 11, 510, 1000));
}
END_TEST

START_TEST(test_retention)
{
	wal_segment_info_t segs[] = {
	    {0, 100, 1000}, {10, 100, 2000}, {20, 100, 3000}, {30, 100, 9000}, {40, 50, 9500},
	};
	wal_log_cfg_t c = cfg1;

	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 1000000, -1), 0); /* unlimited */
	/* A segment without record timestamps is as old as its last write. */
	ck_assert_int_eq(wal_segment_time(-1, 4242), 4242);
	ck_assert_int_eq(wal_segment_time(INT64_MIN, 4242), 4242);
	ck_assert_int_eq(wal_segment_time(0, 4242), 0);
	ck_assert_int_eq(wal_segment_time(7, 4242), 7);
	c.retention_ms = 5000;
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 7000, -1),
	                  1); /* 2000 is 5000 old: kept */
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 7001, -1), 2);
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 1000000, -1),
	                  4); /* never the active one */
	c.retention_ms = -1;
	c.retention_bytes = 250;
	/* 450 bytes: dropping 100 leaves 350 >= 250, again 250 >= 250, then 150 < 250. */
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 0, -1), 2);
	c.retention_bytes = 0;
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 0, -1), 4);
	/* Either limit deletes; the first kept segment stops the scan. */
	c.retention_bytes = 400;
	c.retention_ms = 5000;
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 7500, -1), 2);
	ck_assert_uint_eq(wal_retention_count(segs, 1, &c, 1 << 30, -1), 0);
	/* The high watermark bounds it: a segment goes only once the next
	 * one begins at or below HW (every record of it replicated). */
	c.retention_bytes = 0;
	c.retention_ms = -1;
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 0, 0), 0);
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 0, 9), 0);
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 0, 10), 1);
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 0, 29), 2);
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 0, 30), 3);
	ck_assert_uint_eq(wal_retention_count(segs, 5, &c, 0, 1000), 4);
	/* A quiet log: every record past retention_ms, the active segment's
	 * too, empties once the HW covers its end (45 here). */
	c.retention_ms = 5000;
	c.retention_bytes = -1;
	ck_assert(!wal_retention_empties(segs, 5, &c, 14500, 45, 45)); /* 9500 not old */
	ck_assert(wal_retention_empties(segs, 5, &c, 14501, 45, 45));
	ck_assert(wal_retention_empties(segs, 5, &c, 14501, -1, -1));     /* first look */
	ck_assert(!wal_retention_empties(segs, 5, &c, 14501, 44, 45));    /* not replicated */
	ck_assert(!wal_retention_empties(segs, 5, &c, 14501, -1, 45));    /* HW unknown */
	ck_assert(wal_retention_empties(segs + 4, 1, &c, 14501, 45, 45)); /* one segment */
	segs[4].size = 0;
	ck_assert(!wal_retention_empties(segs + 4, 1, &c, 1 << 30, 45, 45)); /* empty already */
	segs[4].size = 50;
	c.retention_ms = -1;
	ck_assert(!wal_retention_empties(segs, 5, &c, INT64_MAX / 2, 45, 45));
}
END_TEST

START_TEST(test_index_cadence)
{
	wal_index_state_t s;
	wal_index_entries_t e;
	ck_batch_header_t h = {0};
	int entries = 0, times = 0;

	wal_index_state_init(&s);
	/* 100-byte batches from offset 1000 (segment base), interval 250:
	 * positions 0 (never indexed), 100, 200, 300 (indexed), ... */
	for (int i = 0; i < 20; i++) {
		h.base_offset = 1000 + 2 * i;
		h.last_offset_delta = 1;
		h.max_timestamp = i == 7 ? 1 : 100 + i; /* one batch from the past */
		wal_index_track(&s, 1000, (uint64_t)i * 100, &h, 250, &e);
		if (e.index) {
			ck_assert_uint_eq(e.position, (uint64_t)i * 100);
			ck_assert_uint_eq(e.rel_offset, 2u * (uint32_t)i);
			entries++;
		}
		if (e.time) {
			ck_assert(e.index);
			ck_assert_int_eq(e.timestamp, 100 + i);
			ck_assert_uint_eq(e.time_rel_offset, 2u * (uint32_t)i);
			times++;
		}
		ck_assert(!(i % 3 == 0 && i > 0) || e.index);
	}
	ck_assert_int_eq(entries, 6); /* 300, 600, ..., 1800 */
	ck_assert_int_eq(times, 6);
	ck_assert_uint_eq(s.index_entries, 6);
	ck_assert_int_eq(s.max_ts, 119);
	/* Closing: the last batch's timestamp was not recorded yet. */
	ck_assert(wal_index_final(&s, 1000, &e));
	ck_assert_int_eq(e.timestamp, 119);
	ck_assert_uint_eq(e.time_rel_offset, 38);
	ck_assert(!wal_index_final(&s, 1000, &e));
	/* An empty segment has no closing entry. */
	wal_index_state_init(&s);
	ck_assert(!wal_index_final(&s, 0, &e));
}
END_TEST

START_TEST(test_ckpt_record)
{
	wal_ckpt_t c = {5, 1000, 123456, 1042, {4096, 17000000000LL, 1040, 16000000000LL, 9, 8}};
	wal_ckpt_t d;
	uint8_t b[WAL_CKPT_LEN];
	char key[64];

	wal_ckpt_encode(&c, b);
	ck_assert_int_eq(wal_ckpt_decode(b, sizeof(b), &d), 0);
	ck_assert_mem_eq(&c, &d, sizeof(c));
	ck_assert_int_eq(wal_ckpt_decode(b, sizeof(b) - 1, &d), CK_E_CORRUPT);
	for (size_t i = 0; i < sizeof(b); i++) {
		b[i] ^= 0x20;
		ck_assert_int_eq(wal_ckpt_decode(b, sizeof(b), &d), CK_E_CORRUPT);
		b[i] ^= 0x20;
	}
	ck_assert_int_eq(wal_ckpt_key(key, sizeof(key), "orders", 7), 12);
	ck_assert_str_eq(key, "wal/orders-7");
	ck_assert_int_eq(wal_ckpt_key(key, 5, "orders", 7), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_log_cfg)
{
	wal_log_cfg_t req = {0, 5000, 0, -1, 0, 0}, out, back;
	uint8_t b[WAL_LOG_CFG_LEN];

	ck_assert_int_eq(wal_log_cfg_resolve(&cfg1, &req, &out), 0);
	ck_assert_int_eq(out.segment_bytes, 1000);
	ck_assert_int_eq(out.segment_ms, 5000);
	ck_assert_int_eq(out.retention_ms, -1);
	ck_assert_int_eq(out.max_message_bytes, 1 << 20);
	ck_assert_int_eq(out.index_interval_bytes, 4096);
	wal_log_cfg_encode(&req, b);
	ck_assert_int_eq(wal_log_cfg_decode(b, sizeof(b), &back), 0);
	ck_assert_mem_eq(&req, &back, sizeof(req));
	b[10] ^= 1;
	ck_assert_int_eq(wal_log_cfg_decode(b, sizeof(b), &back), CK_E_CORRUPT);
	req.segment_bytes = 10; /* smaller than a batch header */
	ck_assert_int_eq(wal_log_cfg_resolve(&cfg1, &req, &out), CK_E_INVALID);
	req.segment_bytes = 0;
	req.retention_bytes = -2;
	ck_assert_int_eq(wal_log_cfg_resolve(&cfg1, &req, &out), CK_E_INVALID);
	req.retention_bytes = 0;
	req.index_interval_bytes = -1;
	ck_assert_int_eq(wal_log_cfg_resolve(&cfg1, &req, &out), CK_E_INVALID);
}
END_TEST

/* The topic id of a log: from the proto field, the DeleteLog decision, and
 * the topic id file (golden bytes; the CRC32C computed independently). */
START_TEST(test_topic_id)
{
	static const uint8_t golden[WAL_TOPIC_ID_FILE_LEN] = {
	    'W', 'T', 'I', '1', 1,  2,  3,  4,  5,    6,    7,    8,
	    9,   10,  11,  12,  13, 14, 15, 16, 0x1e, 0x84, 0x33, 0x57};
	uint8_t raw[WAL_TOPIC_ID_LEN], zero[WAL_TOPIC_ID_LEN] = {0}, b[WAL_TOPIC_ID_FILE_LEN];
	wal_topic_id_t a, other, none, back;
	char hex[WAL_TOPIC_ID_HEX_LEN];

	for (int i = 0; i < WAL_TOPIC_ID_LEN; i++)
		raw[i] = (uint8_t)(i + 1);
	ck_assert_int_eq(wal_topic_id_from_bytes(raw, sizeof(raw), &a), 0);
	ck_assert(a.known);
	ck_assert_mem_eq(a.bytes, raw, sizeof(raw));
	ck_assert_int_eq(wal_topic_id_from_bytes(NULL, 0, &none), 0);
	ck_assert(!none.known);
	/* 16 zero bytes are Kafka's "no id". */
	ck_assert_int_eq(wal_topic_id_from_bytes(zero, sizeof(zero), &back), 0);
	ck_assert(!back.known);
	/* Any other length is refused and leaves *ret alone. */
	back = a;
	ck_assert_int_eq(wal_topic_id_from_bytes(raw, 15, &back), CK_E_INVALID);
	ck_assert_int_eq(wal_topic_id_from_bytes(raw, 17, &back), CK_E_INVALID);
	ck_assert_mem_eq(&back, &a, sizeof(a));
	raw[15] ^= 0xff;
	ck_assert_int_eq(wal_topic_id_from_bytes(raw, sizeof(raw), &other), 0);
	/* Only two known, different ids spare a log. */
	ck_assert(wal_topic_id_spares(&a, &other));
	ck_assert(wal_topic_id_spares(&other, &a));
	ck_assert(!wal_topic_id_spares(&a, &a));
	ck_assert(!wal_topic_id_spares(&a, &none));
	ck_assert(!wal_topic_id_spares(&none, &a));
	ck_assert(!wal_topic_id_spares(&none, &none));
	ck_assert_str_eq(wal_topic_id_hex(&a, hex), "0102030405060708090a0b0c0d0e0f10");
	ck_assert_str_eq(wal_topic_id_hex(&none, hex), "unknown");
	/* The file: round trip, golden bytes, every flipped bit refused. */
	wal_topic_id_encode(&a, b);
	ck_assert_mem_eq(b, golden, sizeof(b));
	ck_assert_int_eq(wal_topic_id_decode(b, sizeof(b), &back), 0);
	ck_assert_mem_eq(&back, &a, sizeof(a));
	ck_assert_int_eq(wal_topic_id_decode(b, sizeof(b) - 1, &back), CK_E_CORRUPT);
	for (size_t i = 0; i < sizeof(b); i++) {
		b[i] ^= 0x04;
		ck_assert_int_eq(wal_topic_id_decode(b, sizeof(b), &back), CK_E_CORRUPT);
		b[i] ^= 0x04;
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("wal_core");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_append_leader_assigns);
	tcase_add_test(tc, test_append_log_append_time);
	tcase_add_test(tc, test_append_replica_contiguity);
	tcase_add_test(tc, test_append_rejects_whole_request);
	tcase_add_test(tc, test_group_decide);
	tcase_add_test(tc, test_group_fits);
	tcase_add_test(tc, test_roll);
	tcase_add_test(tc, test_retention);
	tcase_add_test(tc, test_index_cadence);
	tcase_add_test(tc, test_ckpt_record);
	tcase_add_test(tc, test_log_cfg);
	tcase_add_test(tc, test_topic_id);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(suite());
}
