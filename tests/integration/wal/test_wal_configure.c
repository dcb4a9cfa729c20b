/*
 * test_wal_configure.c: changing a live log's settings through ConfigureLog
 * as a client sees it: smaller segments roll the next appends, a retention
 * change deletes old segments at once (the periodic check is an hour away
 * in these tests), max_message_bytes applies to the next append, bad
 * requests change nothing, a restart (clean or SIGKILL) keeps the settings,
 * and all-0 goes back to the node defaults. Retention deletes no segment
 * holding records at or above the log's high watermark (the replicator's
 * checkpoint in LMDB), as Kafka's does not delete what the ISR lacks.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "ck_hwckpt.h"
#include "ck_lmdb.h"
#include "ck_segment.h"
#include "wal_itest.h"

#define T_MS 30000

static int64_t now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A batch of NRECS records of VLEN bytes stamped with the wall clock. */
static size_t fresh_batch(ck_buf_t *out, int nrecs, size_t vlen, uint32_t seed)
{
	size_t start = out->len, len = wit_batch(out, nrecs, vlen, seed);
	int64_t ts = now_ms();

	ck_be64_put(out->data + start + CK_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)ts);
	ck_be64_put(out->data + start + CK_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)ts);
	ck_batch_crc_update(out->data + start, len);
	return len;
}

/* Appends N fresh batches of 2 records (VLEN bytes each). */
static void append_n(wcl_t *c, const char *topic, int n, size_t vlen)
{
	ck_buf_t b = CK_BUF_INIT;

	for (int i = 0; i < n; i++) {
		ck_buf_reset(&b);
		fresh_batch(&b, 2, vlen, (uint32_t)i);
		ck_assert_int_eq(wcl_append(c, topic, 0, b.data, b.len, false, 0, NULL, NULL), 0);
	}
	ck_buf_free(&b);
}

/* The result of appending one batch of about BYTES bytes. */
static int append_size(wcl_t *c, const char *topic, size_t bytes)
{
	ck_buf_t b = CK_BUF_INIT;
	int r;

	fresh_batch(&b, 1, bytes - 80, 9);
	r = wcl_append(c, topic, 0, b.data, b.len, false, 0, NULL, NULL);
	ck_buf_free(&b);
	return r;
}

/* Sizes of the segment files of TOPIC-0, oldest first; returns how many. */
static int segment_sizes(const wit_t *t, const char *topic, int64_t *sizes, int max)
{
	char dir[256], path[512];
	int64_t *bases = NULL;
	int n;

	snprintf(dir, sizeof(dir), "%s/log/%s-0", t->data, topic);
	n = ck_segment_list(dir, &bases);
	ck_assert_int_ge(n, 0);
	for (int i = 0; i < n && i < max; i++) {
		ck_assert_int_eq(ck_segment_path(path, sizeof(path), dir, bases[i],
		                                 CK_SEGMENT_FILE_LOG),
		                 0);
		sizes[i] = ck_test_file_size(path);
	}
	free(bases);
	return n;
}

static void start(wit_t *t, const char *tag)
{
	wit_init(t, tag);
	wit_env(t, "CHRONIK_WAL_RETENTION_MS=-1");
	wit_env(t, "CHRONIK_WAL_RETENTION_BYTES=-1");
	wit_env(t, "CHRONIK_WAL_RETENTION_CHECK_MS=3600000");
	wit_env(t, "CHRONIK_WAL_PREALLOCATE_BYTES=0");
	wit_start_ready(t);
}

START_TEST(test_roll_retention_and_max_message)
{
	Chronik__Wal__LogConfig cfg = CHRONIK__WAL__LOG_CONFIG__INIT;
	Chronik__Wal__LogConfig bad = CHRONIK__WAL__LOG_CONFIG__INIT;
	Chronik__Wal__LogInfo info, again;
	int64_t sizes[256];
	int n, before;
	wit_t t;
	wcl_t c;

	start(&t, "cfg");
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "alt", 0, NULL), 0);
	append_n(&c, "alt", 40, 150);
	ck_assert_int_eq(segment_sizes(&t, "alt", sizes, 256), 1);
	/* Smaller segments: the appends after the reply roll at 2 KiB. */
	cfg.segment_bytes = 2048;
	ck_assert_int_eq(wcl_configure(&c, "alt", 0, &cfg, &info), 0);
	ck_assert_int_eq(info.log_end_offset, 80);
	append_n(&c, "alt", 40, 150);
	n = segment_sizes(&t, "alt", sizes, 256);
	ck_assert_int_ge(n, 4);
	ck_assert_int_gt(sizes[0], 2048); /* written before the change */
	for (int i = 1; i < n; i++)
		ck_assert_int_le(sizes[i], 2048);
	ck_assert_int_eq(wcl_info(&c, "alt", 0, &info), 0);
	ck_assert_int_eq(info.segments, n);
	ck_assert_int_eq(info.log_start_offset, 0);
	/* Retention by size: enforced now, not at the next hourly check. */
	cfg.retention_bytes = 6144;
	ck_assert_int_eq(wcl_configure(&c, "alt", 0, &cfg, NULL), 0);
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_eq(wcl_info(&c, "alt", 0, &info), 0);
		if (info.log_start_offset > 0)
			break;
		usleep(10000);
	}
	ck_assert_int_gt(info.log_start_offset, 0);
	ck_assert_int_ge(info.size_bytes, 6144);
	ck_assert_int_lt(info.size_bytes, 6144 + 2048);
	ck_assert_int_eq(info.log_end_offset, 160);
	ck_assert_int_eq(segment_sizes(&t, "alt", sizes, 256), info.segments);
	ck_assert_int_eq(wit_read_log(t.data, "alt", 0, NULL, NULL), 160);
	/* Largest batch. */
	ck_assert_int_eq(append_size(&c, "alt", 1500), 0);
	cfg.max_message_bytes = 1000;
	ck_assert_int_eq(wcl_configure(&c, "alt", 0, &cfg, NULL), 0);
	ck_assert_int_eq(append_size(&c, "alt", 1500), CK_E_TOO_LARGE);
	ck_assert_int_eq(append_size(&c, "alt", 500), 0);
	/* Bad requests change nothing. */
	ck_assert_int_eq(wcl_configure(&c, "nope", 0, &cfg, NULL), CK_E_NOT_FOUND);
	bad = cfg;
	bad.segment_ms = -5;
	ck_assert_int_eq(wcl_configure(&c, "alt", 0, &bad, NULL), CK_E_INVALID);
	bad = cfg;
	bad.segment_bytes = 10;
	ck_assert_int_eq(wcl_configure(&c, "alt", 0, &bad, NULL), CK_E_INVALID);
	ck_assert_int_eq(append_size(&c, "alt", 1500), CK_E_TOO_LARGE);
	/* A clean restart, then a crash: the settings stay. */
	ck_assert_int_eq(wcl_info(&c, "alt", 0, &info), 0);
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGTERM, T_MS), 0);
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(append_size(&c, "alt", 1500), CK_E_TOO_LARGE);
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGKILL, T_MS), 128 + SIGKILL);
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_info(&c, "alt", 0, &again), 0);
	ck_assert_int_eq(again.log_start_offset, info.log_start_offset);
	ck_assert_int_eq(again.log_end_offset, info.log_end_offset);
	ck_assert_int_eq(append_size(&c, "alt", 1500), CK_E_TOO_LARGE);
	before = segment_sizes(&t, "alt", sizes, 256);
	append_n(&c, "alt", 20, 150);
	n = segment_sizes(&t, "alt", sizes, 256);
	ck_assert_int_ge(n, before + 2); /* still 2 KiB segments */
	/* All 0: the node defaults again (no size limit worth the name). */
	ck_assert_int_eq(wcl_configure(&c, "alt", 0, NULL, NULL), 0);
	ck_assert_int_eq(append_size(&c, "alt", 1500), 0);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

START_TEST(test_retention_by_time)
{
	Chronik__Wal__LogConfig cfg = CHRONIK__WAL__LOG_CONFIG__INIT;
	Chronik__Wal__LogInfo info;
	int64_t sizes[64];
	wit_t t;
	wcl_t c;

	start(&t, "cfgtime");
	wcl_connect(&c, &t);
	cfg.segment_bytes = 1024;
	ck_assert_int_eq(wcl_create(&c, "timed", 0, &cfg), 0);
	append_n(&c, "timed", 30, 150);
	ck_assert_int_ge(segment_sizes(&t, "timed", sizes, 64), 4);
	usleep(300 * 1000);
	ck_assert_int_eq(wcl_info(&c, "timed", 0, &info), 0);
	ck_assert_int_eq(info.log_start_offset, 0);
	/* Everything older than 200 ms goes but the active segment. */
	cfg.retention_ms = 200;
	ck_assert_int_eq(wcl_configure(&c, "timed", 0, &cfg, NULL), 0);
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_eq(wcl_info(&c, "timed", 0, &info), 0);
		if (info.segments == 1)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(info.segments, 1);
	ck_assert_int_gt(info.log_start_offset, 0);
	ck_assert_int_eq(info.log_end_offset, 60);
	ck_assert_int_eq(segment_sizes(&t, "timed", sizes, 64), 1);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

/* Writes the replicator's HW checkpoint of TOPIC-0 into the node's LMDB
 * (a second process on the environment, as the replicator is). */
static void put_hw(const wit_t *t, const char *topic, int64_t hw)
{
	char path[256], key[CK_HWCKPT_KEY_MAX];
	uint8_t val[CK_HWCKPT_VALUE_LEN];
	ck_hwckpt_t ck = {hw, 0};
	MDB_env *env;
	MDB_dbi dbi;
	int n = ck_hwckpt_key(key, sizeof(key), topic, 0);

	ck_assert_int_gt(n, 0);
	snprintf(path, sizeof(path), "%s/meta", t->data);
	ck_assert_int_eq(ck_lmdb_open(path, 0, 16, 0, &env), 0);
	ck_assert_int_eq(ck_lmdb_dbi(env, "offsets", &dbi), 0);
	ck_hwckpt_encode(val, &ck);
	ck_assert_int_eq(ck_lmdb_put(env, dbi, key, (size_t)n, val, sizeof(val)), 0);
	mdb_env_close(env);
}

/* Applies retention_ms 200 (after the records are older) and waits until
 * the log start stops moving; returns the log's info. */
static void retain_200ms(wcl_t *c, const char *topic, Chronik__Wal__LogInfo *info)
{
	Chronik__Wal__LogConfig cfg = CHRONIK__WAL__LOG_CONFIG__INIT;

	cfg.segment_bytes = 1024;
	cfg.retention_ms = 200;
	ck_assert_int_eq(wcl_configure(c, topic, 0, &cfg, NULL), 0);
	usleep(300 * 1000); /* the configure's retention runs on the sync thread */
	ck_assert_int_eq(wcl_info(c, topic, 0, info), 0);
}

START_TEST(test_retention_bounded_by_hw)
{
	Chronik__Wal__LogConfig cfg = CHRONIK__WAL__LOG_CONFIG__INIT;
	Chronik__Wal__LogInfo info;
	int64_t sizes[64];
	int n;
	wit_t t;
	wcl_t c;

	start(&t, "cfghw");
	wcl_connect(&c, &t);
	cfg.segment_bytes = 1024;
	ck_assert_int_eq(wcl_create(&c, "bounded", 0, &cfg), 0);
	append_n(&c, "bounded", 30, 150);
	n = segment_sizes(&t, "bounded", sizes, 64);
	ck_assert_int_ge(n, 4);
	usleep(300 * 1000);
	/* HW 0 (nothing replicated): every record is old enough, none goes. */
	put_hw(&t, "bounded", 0);
	retain_200ms(&c, "bounded", &info);
	ck_assert_int_eq(info.log_start_offset, 0);
	ck_assert_int_eq(info.segments, n);
	/* HW 20: the segments entirely below 20 go, the one holding 20 stays. */
	put_hw(&t, "bounded", 20);
	retain_200ms(&c, "bounded", &info);
	ck_assert_int_gt(info.log_start_offset, 0);
	ck_assert_int_le(info.log_start_offset, 20);
	ck_assert_int_gt(info.segments, 1);
	ck_assert_int_eq(info.log_end_offset, 60);
	ck_assert_int_eq(wit_read_log(t.data, "bounded", 0, NULL, NULL), 60);
	/* HW at the log end: all but the active segment go. */
	put_hw(&t, "bounded", 60);
	retain_200ms(&c, "bounded", &info);
	ck_assert_int_eq(info.segments, 1);
	ck_assert_int_gt(info.log_start_offset, 20);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal_configure");
	TCase *tc = tcase_create("configure");

	tcase_set_timeout(tc, 120);
	ck_test_add_root(tc);
	tcase_add_test(tc, test_roll_retention_and_max_message);
	tcase_add_test(tc, test_retention_bounded_by_hw);
	tcase_add_test(tc, test_retention_by_time);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
