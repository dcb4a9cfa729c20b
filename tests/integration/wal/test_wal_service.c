/*
 * test_wal_service.c: chronik-walwriter's service as a client sees it:
 * create/append/info/list and their errors, LogAppendTime, replica appends
 * and their contiguity, the fence against leader appends of an older epoch,
 * truncation, subscriptions (end advanced, durable,
 * deleted), segment rolls and retention by size and by time, restarts that
 * keep data, SIGTERM answering every in-flight append, the data-dir lock,
 * and bad configuration (exit 2).
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_segment.h"
#include "wal_itest.h"

static int64_t now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A batch of NRECS records stamped with the current wall clock. */
static size_t fresh_batch(ck_buf_t *out, int nrecs, size_t vlen, uint32_t seed)
{
	size_t start = out->len, len = wit_batch(out, nrecs, vlen, seed);
	int64_t ts = now_ms();

	ck_be64_put(out->data + start + CK_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)ts);
	ck_be64_put(out->data + start + CK_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)ts);
	ck_batch_crc_update(out->data + start, len);
	return len;
}

static void start(wit_t *t, const char *tag)
{
	wit_init(t, tag);
	wit_env(t, "CHRONIK_WAL_RETENTION_MS=-1");
}

START_TEST(test_basic_requests_and_errors)
{
	Chronik__Wal__LogConfig cfg = CHRONIK__WAL__LOG_CONFIG__INIT;
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__ListLogs ll = CHRONIK__WAL__LIST_LOGS__INIT;
	Chronik__Wal__LogInfo info;
	Chronik__Wal__WalReply *rep;
	ck_buf_t b = CK_BUF_INIT, disk = CK_BUF_INIT;
	int64_t base, last;
	wit_t t;
	wcl_t c;

	start(&t, "basic");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "a", 0, NULL), 0);
	ck_assert_int_eq(wcl_create(&c, "a", 0, NULL), CK_E_EXISTS);
	ck_assert_int_eq(wcl_create(&c, "bad/name", 0, NULL), CK_E_INVALID);
	ck_assert_int_eq(wcl_create(&c, "a", -1, NULL), CK_E_INVALID);
	cfg.max_message_bytes = 1000;
	ck_assert_int_eq(wcl_create(&c, "small", 3, &cfg), 0);
	ck_assert_int_eq(wcl_append(&c, "nope", 0, "x", 1, false, 0, NULL, NULL), CK_E_NOT_FOUND);
	/* Three batches in one request get consecutive offsets. */
	wit_batch(&b, 2, 10, 1);
	wit_batch(&b, 1, 10, 2);
	wit_batch(&b, 4, 10, 3);
	ck_assert_int_eq(wcl_append(&c, "a", 0, b.data, b.len, false, 9, &base, &last), 0);
	ck_assert_int_eq(base, 0);
	ck_assert_int_eq(last, 6);
	ck_assert_int_eq(wcl_append(&c, "a", 0, b.data, b.len, false, 9, &base, &last), 0);
	ck_assert_int_eq(base, 7);
	ck_assert_int_eq(last, 13);
	ck_assert_int_eq(wcl_info(&c, "a", 0, &info), 0);
	ck_assert_int_eq(info.log_start_offset, 0);
	ck_assert_int_eq(info.log_end_offset, 14);
	ck_assert_int_eq(info.durable_end_offset, 14);
	ck_assert_int_eq(info.segments, 1);
	ck_assert_int_eq(info.size_bytes, 2 * (int64_t)b.len);
	/* On disk: offsets and epoch set by walwriter, the rest as sent. */
	ck_assert_int_eq(wit_read_log(t.data, "a", 0, &disk, NULL), 14);
	ck_assert_uint_eq(disk.len, 2 * b.len);
	ck_batch_header_t h;
	ck_assert_int_gt(ck_batch_validate(disk.data, disk.len, 0, &h), 0);
	ck_assert_int_eq(h.partition_leader_epoch, 9);
	ck_assert_mem_eq(disk.data + 12 + 4, b.data + 16, 30);
	/* Too large for that log: refused, nothing written. */
	ck_buf_reset(&b);
	wit_batch(&b, 1, 2000, 4);
	ck_assert_int_eq(wcl_append(&c, "small", 3, b.data, b.len, false, 0, NULL, NULL),
	                 CK_E_TOO_LARGE);
	ck_assert_int_eq(wcl_info(&c, "small", 3, &info), 0);
	ck_assert_int_eq(info.log_end_offset, 0);
	ck_assert_int_eq(info.size_bytes, 0);
	/* A good batch followed by a bad one: neither is written. */
	ck_buf_reset(&b);
	wit_batch(&b, 1, 10, 5);
	wit_batch(&b, 1, 10, 6);
	b.data[b.len - 2] ^= 1;
	ck_assert_int_eq(wcl_append(&c, "small", 3, b.data, b.len, false, 0, NULL, NULL),
	                 CK_E_CORRUPT);
	ck_assert_int_eq(wcl_info(&c, "small", 3, &info), 0);
	ck_assert_int_eq(info.log_end_offset, 0);
	ck_assert_int_eq(wcl_info(&c, "nope", 0, &info), CK_E_NOT_FOUND);
	/* Listing. */
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_LIST_LOGS;
	req.list_logs = &ll;
	rep = wcl_call(&c, &req, 10000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_uint_eq(rep->log_list->n_logs, 2);
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	/* Deleting. */
	ck_assert_int_eq(wcl_delete(&c, "small", 3), 0);
	ck_assert_int_eq(wcl_info(&c, "small", 3, &info), CK_E_NOT_FOUND);
	ck_assert_int_eq(wcl_delete(&c, "small", 3), CK_E_NOT_FOUND);
	char dir[512];
	ck_segment_log_dir(dir, sizeof(dir), t.data, "small", 3);
	ck_assert_int_eq(ck_test_file_size(dir), -1);
	ck_assert_int_eq(wcl_create(&c, "small", 3, NULL), 0); /* and again */
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGTERM, 30000), 0);
	ck_buf_free(&b);
	ck_buf_free(&disk);
	wit_cleanup(&t);
}
END_TEST

START_TEST(test_log_append_time)
{
	Chronik__Wal__WalRequest req;
	Chronik__Wal__Append ap;
	Chronik__Wal__WalReply *rep;
	ck_buf_t b = CK_BUF_INIT, disk = CK_BUF_INIT;
	ck_batch_header_t h;
	ck_record_iter_t it;
	ck_record_t r;
	wit_t t;
	wcl_t c;

	start(&t, "lat");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "l", 0, NULL), 0);
	wit_batch(&b, 3, 10, 1);
	wcl_append_req(&req, &ap, "l", 0, b.data, b.len);
	ap.log_append_time_ms = 1750000000123LL;
	rep = wcl_call(&c, &req, 10000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->error, 0);
	ck_assert_int_eq(rep->append->log_append_time_ms, 1750000000123LL);
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	/* CreateTime: the reply says -1 and the batch is untouched. */
	ap.log_append_time_ms = 0;
	rep = wcl_call(&c, &req, 10000);
	ck_assert_int_eq(rep->append->log_append_time_ms, -1);
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	ck_assert_int_eq(wit_read_log(t.data, "l", 0, &disk, NULL), 6);
	ck_assert_int_eq(ck_batch_validate(disk.data, disk.len, 0, &h), (int)b.len);
	ck_assert_int_ne(h.attributes & CK_BATCH_ATTR_LOG_APPEND_TIME, 0);
	ck_assert_int_eq(h.max_timestamp, 1750000000123LL);
	ck_assert_int_eq(ck_record_iter_init(&it, disk.data, b.len), 0);
	while (ck_record_iter_next(&it, &r) == 1)
		ck_assert_int_eq(r.timestamp_ms, 1750000000123LL);
	ck_assert_int_eq(ck_batch_validate(disk.data + b.len, b.len, 0, &h), (int)b.len);
	ck_assert_int_eq(h.attributes & CK_BATCH_ATTR_LOG_APPEND_TIME, 0);
	ck_assert_mem_eq(disk.data + b.len + 17, b.data + 17, b.len - 17);
	wcl_close(&c);
	ck_buf_free(&b);
	ck_buf_free(&disk);
	wit_cleanup(&t);
}
END_TEST

START_TEST(test_replica_append)
{
	ck_buf_t b = CK_BUF_INIT, disk = CK_BUF_INIT;
	ck_batch_opts_t o = CK_BATCH_OPTS_INIT;
	ck_batch_record_t rec = {"k", 1, "v", 1, 1000, NULL, 0};
	int64_t base, last;
	size_t l1;
	wit_t t;
	wcl_t c;

	start(&t, "replica");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "r", 0, NULL), 0);
	/* The leader's batches: offsets 0..2 then 3, epoch 5. */
	o.partition_leader_epoch = 5;
	ck_batch_record_t three[3] = {rec, rec, rec};
	ck_assert_int_eq(ck_batch_build(&b, &o, three, 3, &l1), 0);
	o.base_offset = 3;
	ck_assert_int_eq(ck_batch_build(&b, &o, &rec, 1, NULL), 0);
	ck_assert_int_eq(wcl_append(&c, "r", 0, b.data, b.len, true, 99, &base, &last), 0);
	ck_assert_int_eq(base, 0);
	ck_assert_int_eq(last, 3);
	/* Kept byte for byte, epoch included. */
	ck_assert_int_eq(wit_read_log(t.data, "r", 0, &disk, NULL), 4);
	ck_assert_uint_eq(disk.len, b.len);
	ck_assert_mem_eq(disk.data, b.data, b.len);
	/* Not contiguous with the log end (4): refused, nothing written. */
	ck_assert_int_eq(wcl_append(&c, "r", 0, b.data, b.len, true, 0, NULL, NULL),
	                 CK_E_OUT_OF_ORDER);
	ck_buf_reset(&b);
	o.base_offset = 5;
	ck_assert_int_eq(ck_batch_build(&b, &o, &rec, 1, NULL), 0);
	ck_assert_int_eq(wcl_append(&c, "r", 0, b.data, b.len, true, 0, NULL, NULL),
	                 CK_E_OUT_OF_ORDER);
	/* A gap inside one request. */
	ck_buf_reset(&b);
	o.base_offset = 4;
	ck_assert_int_eq(ck_batch_build(&b, &o, &rec, 1, NULL), 0);
	o.base_offset = 6;
	ck_assert_int_eq(ck_batch_build(&b, &o, &rec, 1, NULL), 0);
	ck_assert_int_eq(wcl_append(&c, "r", 0, b.data, b.len, true, 0, NULL, NULL),
	                 CK_E_OUT_OF_ORDER);
	ck_assert_int_eq(wit_read_log(t.data, "r", 0, NULL, NULL), 4);
	/* The right one. */
	ck_buf_reset(&b);
	o.base_offset = 4;
	ck_assert_int_eq(ck_batch_build(&b, &o, &rec, 1, NULL), 0);
	ck_assert_int_eq(wcl_append(&c, "r", 0, b.data, b.len, true, 0, &base, NULL), 0);
	ck_assert_int_eq(base, 4);
	wcl_close(&c);
	ck_buf_free(&b);
	ck_buf_free(&disk);
	wit_cleanup(&t);
}
END_TEST

/* A follower's replica append or truncate at epoch E fences the log: leader
 * appends of an older epoch (a node that led before and has not heard yet)
 * are refused, nothing written, also after a kill -9 and restart of
 * walwriter (up to the last batch's epoch); appends at E or later go on. */
START_TEST(test_leader_append_fence)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__Truncate tr = CHRONIK__WAL__TRUNCATE__INIT;
	Chronik__Wal__WalReply *rep;
	ck_buf_t b = CK_BUF_INIT;
	ck_batch_opts_t o = CK_BATCH_OPTS_INIT;
	ck_batch_record_t rec = {"k", 1, "v", 1, 1000, NULL, 0};
	int64_t base;
	wit_t t;
	wcl_t c;

	start(&t, "fence");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "f", 0, NULL), 0);
	wit_batch(&b, 3, 10, 1);
	ck_assert_int_eq(wcl_append(&c, "f", 0, b.data, b.len, false, 3, &base, NULL), 0);
	ck_assert_int_eq(base, 0);
	/* Following a leader of epoch 5 from offset 3. */
	ck_buf_reset(&b);
	o.base_offset = 3;
	o.partition_leader_epoch = 5;
	ck_assert_int_eq(ck_batch_build(&b, &o, &rec, 1, NULL), 0);
	ck_assert_int_eq(wcl_append(&c, "f", 0, b.data, b.len, true, 5, &base, NULL), 0);
	ck_assert_int_eq(base, 3);
	ck_buf_reset(&b);
	wit_batch(&b, 2, 10, 2);
	ck_assert_int_eq(wcl_append(&c, "f", 0, b.data, b.len, false, 3, NULL, NULL),
	                 CK_E_NOT_LEADER);
	ck_assert_int_eq(wcl_append(&c, "f", 0, b.data, b.len, false, 4, NULL, NULL),
	                 CK_E_NOT_LEADER);
	ck_assert_int_eq(wit_read_log(t.data, "f", 0, NULL, NULL), 4);
	/* kill -9 and restart: the fence comes back from the log's last
	 * batch (epoch 5), and still refuses the older leader's appends. */
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGKILL, 10000), 128 + SIGKILL);
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_append(&c, "f", 0, b.data, b.len, false, 4, NULL, NULL),
	                 CK_E_NOT_LEADER);
	ck_assert_int_eq(wit_read_log(t.data, "f", 0, NULL, NULL), 4);
	ck_assert_int_eq(wcl_append(&c, "f", 0, b.data, b.len, false, 5, &base, NULL), 0);
	ck_assert_int_eq(base, 4);
	/* A truncate at epoch 7 moves the fence. */
	tr.topic = "f";
	tr.partition = 0;
	tr.offset = 4;
	tr.leader_epoch = 7;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_TRUNCATE;
	req.truncate = &tr;
	rep = wcl_call(&c, &req, 10000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->error, 0);
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	ck_assert_int_eq(wcl_append(&c, "f", 0, b.data, b.len, false, 6, NULL, NULL),
	                 CK_E_NOT_LEADER);
	ck_assert_int_eq(wit_read_log(t.data, "f", 0, NULL, NULL), 4);
	/* This node leads again, at a later epoch. */
	ck_assert_int_eq(wcl_append(&c, "f", 0, b.data, b.len, false, 8, &base, NULL), 0);
	ck_assert_int_eq(base, 4);
	ck_assert_int_eq(wit_read_log(t.data, "f", 0, NULL, NULL), 6);
	wcl_close(&c);
	ck_buf_free(&b);
	wit_cleanup(&t);
}
END_TEST

START_TEST(test_truncate)
{
	ck_buf_t b = CK_BUF_INIT, disk = CK_BUF_INIT;
	int64_t base, end = -1;
	wit_t t;
	wcl_t c;

	start(&t, "trunc");
	wit_env(&t, "CHRONIK_WAL_SEGMENT_BYTES=2048");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "t", 0, NULL), 0);
	for (int i = 0; i < 30; i++) {
		ck_buf_reset(&b);
		wit_batch(&b, 3, 100, (uint32_t)i);
		ck_assert_int_eq(wcl_append(&c, "t", 0, b.data, b.len, false, 1, &base, NULL), 0);
		ck_assert_int_eq(base, 3 * i);
	}
	ck_assert_int_eq(wcl_truncate(&c, "t", 0, 91, NULL), CK_E_OFFSET_RANGE);
	ck_assert_int_eq(wcl_truncate(&c, "t", 0, 90, &end), 0);
	ck_assert_int_eq(end, 90);
	/* Offset 40 is inside the batch 39..41: the batch goes as a whole. */
	ck_assert_int_eq(wcl_truncate(&c, "t", 0, 40, &end), 0);
	ck_assert_int_eq(end, 39);
	ck_assert_int_eq(wit_read_log(t.data, "t", 0, &disk, NULL), 39);
	ck_buf_reset(&b);
	wit_batch(&b, 2, 10, 1000);
	ck_assert_int_eq(wcl_append(&c, "t", 0, b.data, b.len, false, 2, &base, NULL), 0);
	ck_assert_int_eq(base, 39);
	ck_assert_int_eq(wit_read_log(t.data, "t", 0, NULL, NULL), 41);
	wcl_close(&c);
	/* The truncation survives a crash. */
	ck_assert_int_eq(wit_stop(&t, SIGKILL, 5000), 128 + SIGKILL);
	wit_start_ready(&t);
	ck_assert_int_eq(wit_read_log(t.data, "t", 0, NULL, NULL), 41);
	wcl_connect(&c, &t);
	Chronik__Wal__LogInfo info;
	ck_assert_int_eq(wcl_info(&c, "t", 0, &info), 0);
	ck_assert_int_eq(info.log_end_offset, 41);
	ck_assert_int_eq(wcl_truncate(&c, "t", 0, 0, &end), 0);
	ck_assert_int_eq(end, 0);
	ck_assert_int_eq(wit_read_log(t.data, "t", 0, NULL, NULL), 0);
	wcl_close(&c);
	ck_buf_free(&b);
	ck_buf_free(&disk);
	wit_cleanup(&t);
}
END_TEST

/* Waits for the next event on C; NULL on timeout. */
static Chronik__Wal__WalReply *next_event(wcl_t *c, int timeout_ms)
{
	Chronik__Wal__WalReply *rep;

	while ((rep = wcl_recv(c, timeout_ms)) != NULL) {
		if (rep->correlation_id == 0 &&
		    rep->body_case == CHRONIK__WAL__WAL_REPLY__BODY_EVENT)
			return rep;
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	return NULL;
}

START_TEST(test_subscriptions)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__Subscribe sub = CHRONIK__WAL__SUBSCRIBE__INIT;
	Chronik__Wal__WalReply *rep;
	ck_buf_t b = CK_BUF_INIT;
	int64_t seen_end = -1, seen_durable = -1;
	wit_t t;
	wcl_t c, s, all;

	start(&t, "sub");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	wcl_connect(&s, &t);
	wcl_connect(&all, &t);
	ck_assert_int_eq(wcl_create(&c, "s", 0, NULL), 0);
	ck_assert_int_eq(wcl_create(&c, "x", 0, NULL), 0);
	sub.topic = "s";
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_SUBSCRIBE;
	req.subscribe = &sub;
	rep = wcl_call(&s, &req, 10000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->error, 0);
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	/* The current state comes first. */
	rep = next_event(&s, 5000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_str_eq(rep->event->info->topic, "s");
	ck_assert_int_eq(rep->event->info->log_end_offset, 0);
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	sub.topic = "";
	rep = wcl_call(&all, &req, 10000);
	ck_assert_int_eq(rep->error, 0);
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	/* Appends to x and s: the s subscriber hears only about s, up to the
	 * written end and then the durable end. */
	wit_batch(&b, 5, 10, 1);
	ck_assert_int_eq(wcl_append(&c, "x", 0, b.data, b.len, false, 0, NULL, NULL), 0);
	ck_assert_int_eq(wcl_append(&c, "s", 0, b.data, b.len, false, 0, NULL, NULL), 0);
	while (seen_durable < 5 && (rep = next_event(&s, 5000)) != NULL) {
		ck_assert_str_eq(rep->event->info->topic, "s");
		ck_assert(!rep->event->deleted);
		ck_assert_int_ge(rep->event->info->log_end_offset, seen_end);
		ck_assert_int_le(rep->event->info->durable_end_offset,
		                 rep->event->info->log_end_offset);
		seen_end = rep->event->info->log_end_offset;
		seen_durable = rep->event->info->durable_end_offset;
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	ck_assert_int_eq(seen_end, 5);
	ck_assert_int_eq(seen_durable, 5);
	/* The catch-all subscriber heard about both. */
	bool heard_x = false, heard_s = false;
	while ((!heard_x || !heard_s) && (rep = next_event(&all, 5000)) != NULL) {
		if (rep->event->info->durable_end_offset == 5) {
			heard_x |= !strcmp(rep->event->info->topic, "x");
			heard_s |= !strcmp(rep->event->info->topic, "s");
		}
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	ck_assert(heard_x && heard_s);
	/* raftd's metadata log is left out of the catch-all subscription:
	 * its events would come before x's next ones. */
	ck_assert_int_eq(wcl_create(&c, "__chronik_metadata", 0, NULL), 0);
	ck_assert_int_eq(
	    wcl_append(&c, "__chronik_metadata", 0, b.data, b.len, false, 0, NULL, NULL), 0);
	ck_assert_int_eq(wcl_append(&c, "x", 0, b.data, b.len, false, 0, NULL, NULL), 0);
	heard_x = false;
	while (!heard_x && (rep = next_event(&all, 5000)) != NULL) {
		ck_assert_str_ne(rep->event->info->topic, "__chronik_metadata");
		heard_x = !strcmp(rep->event->info->topic, "x") &&
		          rep->event->info->durable_end_offset == 10;
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	ck_assert(heard_x);
	/* Deleting s tells its subscriber. */
	ck_assert_int_eq(wcl_delete(&c, "s", 0), 0);
	rep = next_event(&s, 5000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_str_eq(rep->event->info->topic, "s");
	ck_assert(rep->event->deleted);
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	wcl_close(&c);
	wcl_close(&s);
	wcl_close(&all);
	ck_buf_free(&b);
	wit_cleanup(&t);
}
END_TEST

static int count_segments(const wit_t *t, const char *topic, int32_t part)
{
	char dir[512];
	int64_t *bases = NULL;
	int n;

	ck_segment_log_dir(dir, sizeof(dir), t->data, topic, part);
	n = ck_segment_list(dir, &bases);
	free(bases);
	return n;
}

START_TEST(test_roll_and_retention)
{
	Chronik__Wal__LogConfig by_time = CHRONIK__WAL__LOG_CONFIG__INIT;
	Chronik__Wal__LogInfo info;
	ck_buf_t b = CK_BUF_INIT;
	int64_t start_off, end;
	wit_t t;
	wcl_t c;

	wit_init(&t, "ret");
	wit_env(&t, "CHRONIK_WAL_SEGMENT_BYTES=2048");
	wit_env(&t, "CHRONIK_WAL_RETENTION_BYTES=6144");
	wit_env(&t, "CHRONIK_WAL_RETENTION_MS=-1");
	wit_env(&t, "CHRONIK_WAL_RETENTION_CHECK_MS=50");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "size", 0, NULL), 0);
	by_time.retention_ms = 400;
	by_time.retention_bytes = -1;
	ck_assert_int_eq(wcl_create(&c, "time", 0, &by_time), 0);
	for (int i = 0; i < 100; i++) {
		ck_buf_reset(&b);
		fresh_batch(&b, 2, 150, (uint32_t)i);
		ck_assert_int_eq(wcl_append(&c, "size", 0, b.data, b.len, false, 0, NULL, NULL), 0);
		ck_assert_int_eq(wcl_append(&c, "time", 0, b.data, b.len, false, 0, NULL, NULL), 0);
	}
	/* Size: old segments go until about 6 KiB remain. */
	for (int i = 0; i < 500; i++) {
		ck_assert_int_eq(wcl_info(&c, "size", 0, &info), 0);
		if (info.size_bytes < 6144 + 2048)
			break;
		usleep(10000);
	}
	ck_assert_int_ge(info.size_bytes, 6144);
	ck_assert_int_lt(info.size_bytes, 6144 + 2048);
	ck_assert_int_gt(info.log_start_offset, 0);
	ck_assert_int_eq(info.log_end_offset, 200);
	ck_assert_int_eq(count_segments(&t, "size", 0), info.segments);
	end = wit_read_log(t.data, "size", 0, NULL, &start_off);
	ck_assert_int_eq(start_off, info.log_start_offset);
	ck_assert_int_eq(end, 200);
	/* Time: everything but the active segment goes once 400 ms passed. */
	for (int i = 0; i < 500; i++) {
		ck_assert_int_eq(wcl_info(&c, "time", 0, &info), 0);
		if (info.segments == 1)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(info.segments, 1);
	ck_assert_int_gt(info.log_start_offset, 0);
	ck_assert_int_eq(count_segments(&t, "time", 0), 1);
	/* A restart keeps the moved start. */
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGTERM, 30000), 0);
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	Chronik__Wal__LogInfo again;
	ck_assert_int_eq(wcl_info(&c, "time", 0, &again), 0);
	ck_assert_int_eq(again.log_start_offset, info.log_start_offset);
	ck_assert_int_eq(again.log_end_offset, 200);
	wcl_close(&c);
	ck_buf_free(&b);
	wit_cleanup(&t);
}
END_TEST

START_TEST(test_restart_and_sigterm_inflight)
{
	enum { N = 300 };
	ck_buf_t b = CK_BUF_INIT, before = CK_BUF_INIT, after = CK_BUF_INIT;
	int ok = 0, shut = 0, replies = 0;
	int64_t acked_end = 0;
	wit_t t;
	wcl_t c;

	start(&t, "term");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "p", 0, NULL), 0);
	wit_batch(&b, 4, 500, 9);
	/* Many appends in flight, then SIGTERM: each gets an answer, acked
	 * ones are durable, walwriter exits 0. */
	for (int i = 0; i < N; i++) {
		Chronik__Wal__WalRequest req;
		Chronik__Wal__Append ap;
		wcl_append_req(&req, &ap, "p", 0, b.data, b.len);
		ck_assert_int_ge(wcl_send(&c, &req), 0);
		if (i == N / 3)
			(void)kill(t.proc.pid, SIGTERM);
	}
	for (;;) {
		Chronik__Wal__WalReply *rep = wcl_recv(&c, 10000);
		if (!rep)
			break;
		if (rep->correlation_id == 0) {
			chronik__wal__wal_reply__free_unpacked(rep, NULL);
			continue;
		}
		replies++;
		if (rep->error == 0) {
			ok++;
			ck_assert_int_eq(rep->append->base_offset, acked_end);
			acked_end = rep->append->last_offset + 1;
		} else {
			ck_assert_int_eq(rep->error, CK_E_SHUTDOWN);
			shut++;
		}
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	ck_assert_int_eq(wit_wait_exit(&t, 30000), 0);
	ck_assert_int_gt(ok, 0);
	/* Everything that was read before the close was answered. */
	ck_assert_int_eq(replies, ok + shut);
	wcl_close(&c);
	ck_assert_int_eq(wit_read_log(t.data, "p", 0, &before, NULL), acked_end);
	/* Restart: same data, same answers. */
	wit_start_ready(&t);
	ck_assert_int_eq(wit_read_log(t.data, "p", 0, &after, NULL), acked_end);
	ck_assert_uint_eq(after.len, before.len);
	ck_assert_mem_eq(after.data, before.data, before.len);
	wcl_connect(&c, &t);
	Chronik__Wal__LogInfo info;
	ck_assert_int_eq(wcl_info(&c, "p", 0, &info), 0);
	ck_assert_int_eq(info.log_end_offset, acked_end);
	wcl_close(&c);
	ck_assert_int_eq(wit_log_count(&t, "stopped code=0", NULL), 1);
	ck_buf_free(&b);
	ck_buf_free(&before);
	ck_buf_free(&after);
	wit_cleanup(&t);
}
END_TEST

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Appends BYTES worth of batches, 8 in flight. */
static void pump(wcl_t *c, const ck_buf_t *b, uint64_t bytes)
{
	uint64_t sent = 0;
	int inflight = 0;

	while (sent < bytes || inflight > 0) {
		while (sent < bytes && inflight < 8) {
			Chronik__Wal__WalRequest req;
			Chronik__Wal__Append ap;
			wcl_append_req(&req, &ap, "m", 0, b->data, b->len);
			ck_assert_int_ge(wcl_send(c, &req), 0);
			sent += b->len;
			inflight++;
		}
		Chronik__Wal__WalReply *rep = wcl_recv(c, 30000);
		ck_assert_ptr_nonnull(rep);
		if (rep->correlation_id) {
			ck_assert_int_eq(rep->error, 0);
			inflight--;
		}
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
}

START_TEST(test_memory_does_not_grow_with_data)
{
	ck_buf_t b = CK_BUF_INIT;
	Chronik__Wal__LogInfo info;
	long rss1, rss2;
	wit_t t;
	wcl_t c;

	start(&t, "mem");
	/* Under AddressSanitizer freed memory waits in a quarantine (256 MiB):
	 * that would be the sanitizer's memory, not walwriter's. */
	wit_env(&t, "ASAN_OPTIONS=quarantine_size_mb=0:halt_on_error=1:abort_on_error=1");
	wit_env(&t, "CHRONIK_WAL_SEGMENT_BYTES=8388608");
	wit_env(&t, "CHRONIK_WAL_INDEX_INTERVAL_BYTES=512");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "m", 0, NULL), 0);
	wit_batch(&b, 10, 10000, 1);
	pump(&c, &b, 32u << 20);
	rss1 = rss_kb(t.proc.pid);
	pump(&c, &b, 160u << 20);
	rss2 = rss_kb(t.proc.pid);
	ck_assert_int_eq(wcl_info(&c, "m", 0, &info), 0);
	ck_assert_int_ge(info.size_bytes, 192 << 20);
	ck_assert_int_ge(info.segments, 20);
	fprintf(stderr, "memory test: resident %ld kB after 32 MiB, %ld kB after 192 MiB\n", rss1,
	        rss2);
	/* Six times the data, the same memory (page cache is not ours). */
	ck_assert_msg(rss2 - rss1 < 16 * 1024, "resident memory grew from %ld kB to %ld kB", rss1,
	              rss2);
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGTERM, 30000), 0);
	ck_buf_free(&b);
	wit_cleanup(&t);
}
END_TEST

/* As under chronik-server: the listening socket and the supervisor's end
 * of a socketpair come as fds 3 and 4 (LISTEN_FDS); walwriter serves the
 * passed socket, binds nothing itself, and stops cleanly when the
 * supervisor goes away. */
START_TEST(test_supervisor_handover)
{
	char path[200], own[200];
	int lfd, sp[2];
	wit_t t;
	wcl_t c;

	start(&t, "sup");
	snprintf(path, sizeof(path), "%s/passed.sock", t.root);
	ck_assert_int_eq(ck_ipc_unix_listen(path, 16, &lfd), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	ck_test_proc_pass_fd(&t.proc, lfd, "walwriter");
	ck_test_proc_pass_fd(&t.proc, sp[1], "supervisor");
	wit_start_ready(&t);
	close(lfd);
	close(sp[1]);
	memcpy(t.sock, path, sizeof(path) < sizeof(t.sock) ? sizeof(path) : sizeof(t.sock));
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "h", 0, NULL), 0);
	wcl_close(&c);
	snprintf(own, sizeof(own), "%s/run/walwriter.sock", t.data);
	ck_assert_int_eq(ck_test_file_size(own), -1);
	ck_assert_int_ge(wit_log_count(&t, "passed by supervisor", NULL), 1);
	/* The supervisor dies: walwriter stops on its own, cleanly. */
	close(sp[0]);
	ck_assert_int_eq(wit_wait_exit(&t, 30000), 0);
	ck_assert_int_ge(wit_log_count(&t, "supervisor gone", NULL), 1);
	wit_cleanup(&t);
}
END_TEST

START_TEST(test_lock_and_bad_config)
{
	wit_t t, other, bad;

	start(&t, "lock");
	wit_start_ready(&t);
	/* A second walwriter on the same data dir must not run. */
	wit_init(&other, "lock2");
	memcpy(other.data, t.data, sizeof(other.data));
	memcpy(other.sock, "/nonexistent", 13);
	wit_start(&other);
	ck_assert_int_eq(wit_wait_exit(&other, 30000), 1);
	ck_assert_int_ge(wit_log_count(&other, "locked by another walwriter", NULL), 1);
	wit_cleanup(&other);
	ck_assert_int_eq(wit_stop(&t, SIGTERM, 30000), 0);
	wit_cleanup(&t);
	/* Bad configuration is fatal: exit 2. */
	wit_init(&bad, "badcfg");
	wit_env(&bad, "CHRONIK_WAL_PROFILE=turbo");
	wit_start(&bad);
	ck_assert_int_eq(wit_wait_exit(&bad, 30000), 2);
	ck_assert_int_ge(wit_log_count(&bad, "config error", NULL), 1);
	ck_assert_int_ge(wit_log_count(&bad, "CHRONIK_WAL_PROFILE", NULL), 1);
	wit_env_clear(&bad);
	wit_start_args(&bad, "--config", "/nonexistent/cluster.toml");
	ck_assert_int_eq(wit_wait_exit(&bad, 30000), 2);
	wit_start_args(&bad, "--node-id", "many");
	ck_assert_int_eq(wit_wait_exit(&bad, 30000), 2);
	wit_cleanup(&bad);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal_service");
	TCase *tc = tcase_create("service");

	tcase_set_timeout(tc, 120);
	ck_test_add_root(tc);
	tcase_add_test(tc, test_basic_requests_and_errors);
	tcase_add_test(tc, test_log_append_time);
	tcase_add_test(tc, test_replica_append);
	tcase_add_test(tc, test_leader_append_fence);
	tcase_add_test(tc, test_truncate);
	tcase_add_test(tc, test_subscriptions);
	tcase_add_test(tc, test_roll_and_retention);
	tcase_add_test(tc, test_restart_and_sigterm_inflight);
	tcase_add_test(tc, test_memory_does_not_grow_with_data);
	tcase_add_test(tc, test_supervisor_handover);
	tcase_add_test(tc, test_lock_and_bad_config);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
