/*
 * test_ck_segment.c: unit tests of the on-disk log format and its reader
 * (common/ck_segment.h): names and paths, listing, index search math, and
 * reading real files in temp dirs: lookups through good, missing and lying
 * indexes, zero and torn tails, CRC checks, bounds, sendfile ranges, time
 * lookups, and segments deleted or truncated under an open reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "ck_err.h"
#include "ck_segment.h"
#include "wal_test.h"

/* ---- names ---- */

START_TEST(test_names)
{
	char buf[256];
	int64_t base;
	ck_segment_file_t kind;

	ck_assert_int_eq(ck_segment_path(buf, sizeof(buf), "/d", 42, CK_SEGMENT_FILE_LOG), 0);
	ck_assert_str_eq(buf, "/d/00000000000000000042.log");
	ck_assert_int_eq(ck_segment_path(buf, sizeof(buf), "/d", 7, CK_SEGMENT_FILE_TIMEINDEX), 0);
	ck_assert_str_eq(buf, "/d/00000000000000000007.timeindex");
	ck_assert_int_eq(ck_segment_path(buf, 10, "/d", 7, CK_SEGMENT_FILE_LOG), -ENAMETOOLONG);

	ck_assert_int_eq(ck_segment_name_parse("00000000000000000042.index", &base, &kind), 0);
	ck_assert_int_eq(base, 42);
	ck_assert_int_eq(kind, CK_SEGMENT_FILE_INDEX);
	ck_assert_int_eq(ck_segment_name_parse("09223372036854775807.log", &base, &kind), 0);
	ck_assert_int_eq(base, INT64_MAX);
	ck_assert_int_eq(ck_segment_name_parse("99999999999999999999.log", &base, &kind),
	                 CK_E_INVALID);
	ck_assert_int_eq(ck_segment_name_parse("0000000000000000042.log", &base, &kind),
	                 CK_E_INVALID);
	ck_assert_int_eq(ck_segment_name_parse("0000000000000000004a.log", &base, &kind),
	                 CK_E_INVALID);
	ck_assert_int_eq(ck_segment_name_parse("00000000000000000042.txt", &base, &kind),
	                 CK_E_INVALID);
	ck_assert_int_eq(ck_segment_name_parse("00000000000000000042.log.x", &base, &kind),
	                 CK_E_INVALID);
}
END_TEST

START_TEST(test_topics_and_dirs)
{
	char topic[CK_TOPIC_NAME_MAX + 1], buf[512], longname[300];
	int32_t part;

	ck_assert(ck_topic_name_valid("orders"));
	ck_assert(ck_topic_name_valid("__consumer_offsets"));
	ck_assert(ck_topic_name_valid("a.b-c_D9"));
	ck_assert(!ck_topic_name_valid(""));
	ck_assert(!ck_topic_name_valid("."));
	ck_assert(!ck_topic_name_valid(".."));
	ck_assert(!ck_topic_name_valid("a/b"));
	ck_assert(!ck_topic_name_valid("a b"));
	memset(longname, 'x', 250);
	longname[250] = '\0';
	ck_assert(!ck_topic_name_valid(longname));
	longname[249] = '\0';
	ck_assert(ck_topic_name_valid(longname));

	ck_assert_int_eq(ck_segment_log_dir(buf, sizeof(buf), "/data", "t", 3), 0);
	ck_assert_str_eq(buf, "/data/log/t-3");
	ck_assert_int_eq(ck_segment_log_dir(buf, sizeof(buf), "/data", "t/x", 3), CK_E_INVALID);
	ck_assert_int_eq(ck_segment_log_dir(buf, sizeof(buf), "/data", "t", -1), CK_E_INVALID);

	ck_assert_int_eq(ck_segment_log_dir_parse("my.topic_x-3", topic, sizeof(topic), &part), 0);
	ck_assert_str_eq(topic, "my.topic_x");
	ck_assert_int_eq(part, 3);
	ck_assert_int_eq(ck_segment_log_dir_parse("a-b-12", topic, sizeof(topic), &part), 0);
	ck_assert_str_eq(topic, "a-b");
	ck_assert_int_eq(part, 12);
	ck_assert_int_eq(ck_segment_log_dir_parse("t-2147483647", topic, sizeof(topic), &part), 0);
	ck_assert_int_eq(part, INT32_MAX);
	static const char *bad[] = {
	    "topic", "topic-", "-3",          "t-03",         "t-+3",           "t-2147483648",
	    "a b-1", "..-1",   "t-1.deleted", "t-1.creating", ".walwriter.lock"};
	for (size_t i = 0; i < CK_ARRAY_LEN(bad); i++)
		ck_assert_msg(ck_segment_log_dir_parse(bad[i], topic, sizeof(topic), &part) ==
		                  CK_E_INVALID,
		              "accepted %s", bad[i]);
	ck_assert_int_eq(ck_segment_log_dir_parse("abc-1", topic, 3, &part), CK_E_INVALID);
}
END_TEST

START_TEST(test_list_and_pick)
{
	char dir[128], path[256];
	static const int64_t made[] = {500, 0, 12345678901LL, 100};
	int64_t *bases = NULL;
	int n;

	ck_test_mkdtemp(dir, sizeof(dir), "list");
	for (size_t i = 0; i < CK_ARRAY_LEN(made); i++) {
		ck_segment_path(path, sizeof(path), dir, made[i], CK_SEGMENT_FILE_LOG);
		ck_test_write_file(path, "", 0);
		ck_segment_path(path, sizeof(path), dir, made[i], CK_SEGMENT_FILE_INDEX);
		ck_test_write_file(path, "", 0);
	}
	ck_segment_path(path, sizeof(path), dir, 77, CK_SEGMENT_FILE_INDEX); /* index only */
	ck_test_write_file(path, "", 0);
	snprintf(path, sizeof(path), "%s/log.config", dir);
	ck_test_write_file(path, "x", 1);
	n = ck_segment_list(dir, &bases);
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(bases[0], 0);
	ck_assert_int_eq(bases[1], 100);
	ck_assert_int_eq(bases[2], 500);
	ck_assert_int_eq(bases[3], 12345678901LL);
	ck_assert_int_eq(ck_segment_pick(bases, 4, -1), -1);
	ck_assert_int_eq(ck_segment_pick(bases, 4, 0), 0);
	ck_assert_int_eq(ck_segment_pick(bases, 4, 99), 0);
	ck_assert_int_eq(ck_segment_pick(bases, 4, 100), 1);
	ck_assert_int_eq(ck_segment_pick(bases, 4, 499), 1);
	ck_assert_int_eq(ck_segment_pick(bases, 4, INT64_MAX), 3);
	ck_assert_int_eq(ck_segment_pick(bases, 0, 5), -1);
	free(bases);
	(void)ck_test_rmtree(dir);
	ck_assert_int_eq(ck_segment_list(dir, &bases), -ENOENT);
}
END_TEST

/* ---- index math ---- */

typedef struct {
	const uint8_t *p;
	size_t n;
} mem_index_t;

static int mem_probe(void *arg, size_t i, int64_t *ret_key)
{
	mem_index_t *m = arg;
	ck_index_entry_t e;

	if (i >= m->n)
		return 1;
	e = ck_index_entry_get(m->p + i * CK_INDEX_ENTRY_LEN);
	if (e.position == 0)
		return 1;
	*ret_key = e.rel_offset;
	return 0;
}

START_TEST(test_index_search)
{
	uint8_t idx[10 * CK_INDEX_ENTRY_LEN] = {0};
	mem_index_t m = {idx, 10};
	size_t i = 99;

	/* Entries at relative offsets 10, 20, ... 70; three zero entries follow. */
	for (int k = 0; k < 7; k++)
		ck_index_entry_put(idx + k * 8, (uint32_t)(10 * (k + 1)),
		                   (uint32_t)(1000 * (k + 1)));
	ck_assert_int_eq(ck_index_search(10, 5, mem_probe, &m, &i), 0);
	ck_assert_int_eq(ck_index_search(10, 10, mem_probe, &m, &i), 1);
	ck_assert_uint_eq(i, 0);
	ck_assert_int_eq(ck_index_search(10, 19, mem_probe, &m, &i), 1);
	ck_assert_uint_eq(i, 0);
	ck_assert_int_eq(ck_index_search(10, 20, mem_probe, &m, &i), 1);
	ck_assert_uint_eq(i, 1);
	ck_assert_int_eq(ck_index_search(10, 69, mem_probe, &m, &i), 1);
	ck_assert_uint_eq(i, 5);
	ck_assert_int_eq(ck_index_search(10, 1000000, mem_probe, &m, &i), 1);
	ck_assert_uint_eq(i, 6); /* the zero tail is not an entry */
	ck_assert_int_eq(ck_index_search(0, 50, mem_probe, &m, &i), 0);
	/* Every size from 1 to 7 entries, every target. */
	for (size_t n = 1; n <= 7; n++) {
		m.n = n;
		for (int64_t t = 0; t < 90; t++) {
			int r = ck_index_search(n, t, mem_probe, &m, &i);
			int64_t want = t / 10 - 1;
			if (want >= (int64_t)n)
				want = (int64_t)n - 1;
			if (want < 0) {
				ck_assert_int_eq(r, 0);
			} else {
				ck_assert_int_eq(r, 1);
				ck_assert_uint_eq(i, (size_t)want);
			}
		}
	}
}
END_TEST

START_TEST(test_index_valid_count)
{
	uint8_t idx[6 * 8] = {0}, t[5 * 12] = {0};

	ck_index_entry_put(idx, 1, 100);
	ck_index_entry_put(idx + 8, 5, 900);
	ck_index_entry_put(idx + 16, 9, 2000);
	ck_assert_uint_eq(ck_index_valid_count(idx, sizeof(idx)), 3);
	ck_index_entry_put(idx + 24, 9, 3000); /* offset not increasing */
	ck_assert_uint_eq(ck_index_valid_count(idx, sizeof(idx)), 3);
	ck_index_entry_put(idx + 24, 12, 1500); /* position going back */
	ck_assert_uint_eq(ck_index_valid_count(idx, sizeof(idx)), 3);
	ck_assert_uint_eq(ck_index_valid_count(idx, 20), 2); /* partial entry ignored */
	ck_assert_uint_eq(ck_index_valid_count(idx, 0), 0);

	ck_timeindex_entry_put(t, 1000, 0);
	ck_timeindex_entry_put(t + 12, 1000, 4);
	ck_timeindex_entry_put(t + 24, 2000, 9);
	ck_assert_uint_eq(ck_timeindex_valid_count(t, sizeof(t)), 3);
	ck_timeindex_entry_put(t + 36, 1999, 12);
	ck_assert_uint_eq(ck_timeindex_valid_count(t, sizeof(t)), 3);
}
END_TEST

/* ---- reading files ---- */

#define NB 40

typedef struct {
	char dir[128];
	ck_buf_t log;
	uint64_t pos[NB + 1]; /* pos[i] = start of batch i; pos[NB] = end */
	int64_t base[NB + 1]; /* base offset of batch i; base[NB] = end offset */
	int64_t maxts[NB];
} seg_fixture_t;

/* Segment at base 1000: batch i holds 1 + i % 4 records of 10 + 37*i bytes,
 * timestamps rising with i except for a dip at i = 20. */
static void seg_make(seg_fixture_t *f, uint32_t interval, bool with_index)
{
	ck_buf_t idx = CK_BUF_INIT, tidx = CK_BUF_INIT;
	char path[256];
	int64_t off = 1000, maxts = INT64_MIN;
	uint64_t last_idx = 0;

	memset(f, 0, sizeof(*f));
	ck_test_mkdtemp(f->dir, sizeof(f->dir), "seg");
	for (int i = 0; i < NB; i++) {
		int n = 1 + i % 4;
		int64_t ts = i == 20 ? 50 : 10000 + 100 * i;
		f->pos[i] = f->log.len;
		f->base[i] = off;
		wal_test_batch(&f->log, off, n, 10 + 37 * (size_t)i, (unsigned)i, ts);
		f->maxts[i] = ts + n - 1;
		if (f->pos[i] > 0 && f->pos[i] - last_idx >= interval) {
			uint8_t *p = ck_buf_extend(&idx, 8);
			ck_index_entry_put(p, (uint32_t)(off - 1000), (uint32_t)f->pos[i]);
			last_idx = f->pos[i];
			if (f->maxts[i] > maxts) {
				p = ck_buf_extend(&tidx, 12);
				ck_timeindex_entry_put(p, f->maxts[i], (uint32_t)(off - 1000));
			}
		}
		if (f->maxts[i] > maxts)
			maxts = f->maxts[i];
		off += n;
	}
	f->pos[NB] = f->log.len;
	f->base[NB] = off;
	ck_segment_path(path, sizeof(path), f->dir, 1000, CK_SEGMENT_FILE_LOG);
	ck_test_write_file(path, f->log.data, f->log.len);
	if (with_index) {
		ck_segment_path(path, sizeof(path), f->dir, 1000, CK_SEGMENT_FILE_INDEX);
		ck_test_write_file(path, idx.data, idx.len);
		ck_segment_path(path, sizeof(path), f->dir, 1000, CK_SEGMENT_FILE_TIMEINDEX);
		ck_test_write_file(path, tidx.data, tidx.len);
	}
	ck_buf_free(&idx);
	ck_buf_free(&tidx);
}

static void seg_done(seg_fixture_t *f)
{
	ck_buf_free(&f->log);
	(void)ck_test_rmtree(f->dir);
}

static void seg_check_find_open(seg_fixture_t *f, ck_segment_t *s)
{
	ck_batch_header_t h;
	uint64_t pos;

	for (int i = 0; i < NB; i++) {
		for (int64_t o = f->base[i]; o < f->base[i + 1]; o++) {
			ck_assert_int_eq(ck_segment_find(s, o, UINT64_MAX, &pos, &h), 1);
			ck_assert_uint_eq(pos, f->pos[i]);
			ck_assert_int_eq(h.base_offset, f->base[i]);
		}
	}
	ck_assert_int_eq(ck_segment_find(s, 0, UINT64_MAX, &pos, NULL), 1); /* below base */
	ck_assert_uint_eq(pos, 0);
	ck_assert_int_eq(ck_segment_find(s, f->base[NB], UINT64_MAX, &pos, NULL), 0);
	/* A position bound hides what lies beyond it. */
	ck_assert_int_eq(ck_segment_find(s, f->base[NB - 1], f->pos[NB - 1], &pos, NULL), 0);
}

static void seg_check_find_all(seg_fixture_t *f)
{
	ck_segment_t s;

	ck_assert_int_eq(ck_segment_open(f->dir, 1000, &s), 0);
	seg_check_find_open(f, &s);
	ck_segment_close(&s);
}

START_TEST(test_find_through_index)
{
	seg_fixture_t f;

	seg_make(&f, 300, true);
	seg_check_find_all(&f);
	seg_done(&f);
	seg_make(&f, 1, true); /* every batch indexed */
	seg_check_find_all(&f);
	seg_done(&f);
}
END_TEST

START_TEST(test_find_without_or_with_bad_index)
{
	seg_fixture_t f;
	char path[256];
	uint8_t e[16];

	seg_make(&f, 300, false);
	seg_check_find_all(&f);
	/* An index that lies (wrong offset for a position, then a position
	 * past the end) must not change any answer. */
	ck_index_entry_put(e, 3, (uint32_t)f.pos[10]);
	ck_index_entry_put(e + 8, 50, (uint32_t)f.log.len + 100);
	ck_segment_path(path, sizeof(path), f.dir, 1000, CK_SEGMENT_FILE_INDEX);
	ck_test_write_file(path, e, sizeof(e));
	seg_check_find_all(&f);
	/* Garbage that is not a multiple of an entry. */
	ck_test_write_file(path, "garbage", 7);
	seg_check_find_all(&f);
	seg_done(&f);
}
END_TEST

static void append_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

START_TEST(test_iter_zero_tail)
{
	seg_fixture_t f;
	char path[256];
	uint8_t zeros[5000] = {0};
	ck_segment_t s;
	ck_segment_iter_t it;
	int n = 0;

	seg_make(&f, 300, true);
	ck_segment_path(path, sizeof(path), f.dir, 1000, CK_SEGMENT_FILE_LOG);
	append_file(path, zeros, sizeof(zeros));
	ck_assert_int_eq(ck_segment_open(f.dir, 1000, &s), 0);
	ck_assert_int_eq(
	    ck_segment_iter_init(&it, &s, 0, UINT64_MAX, INT64_MAX, CK_SEGMENT_VERIFY_CRC), 0);
	while (ck_segment_iter_next(&it) == 1) {
		ck_assert_uint_eq(it.batch_pos, f.pos[n]);
		ck_assert_int_eq(it.hdr.base_offset, f.base[n]);
		n++;
	}
	ck_assert_int_eq(n, NB);
	ck_assert_int_eq(it.end, CK_SEGMENT_END_ZERO);
	ck_assert_uint_eq(it.pos, f.log.len);
	ck_segment_iter_done(&it);
	/* Without the tail the file ends exactly. */
	ck_assert_int_eq(truncate(path, (off_t)f.log.len), 0);
	ck_assert_int_eq(ck_segment_iter_init(&it, &s, 0, UINT64_MAX, INT64_MAX, 0), 0);
	while (ck_segment_iter_next(&it) == 1)
		;
	ck_assert_int_eq(it.end, CK_SEGMENT_END_EOF);
	ck_segment_iter_done(&it);
	ck_segment_close(&s);
	seg_done(&f);
}
END_TEST

START_TEST(test_iter_torn_tail_every_byte)
{
	seg_fixture_t f;
	char path[256];
	ck_segment_t s;
	ck_segment_iter_t it;
	uint64_t zero_lead = 0;

	seg_make(&f, 300, true);
	ck_segment_path(path, sizeof(path), f.dir, 1000, CK_SEGMENT_FILE_LOG);
	ck_assert_int_eq(ck_segment_open(f.dir, 1000, &s), 0);
	while (zero_lead < 8 && f.log.data[f.pos[NB - 1] + zero_lead] == 0)
		zero_lead++;
	ck_assert_uint_gt(zero_lead, 0);
	/* Cut inside the last batch at every byte: the reader returns exactly
	 * the complete batches before it, never a partial one. */
	for (uint64_t cut = f.pos[NB - 1] + 1; cut < f.pos[NB]; cut++) {
		int n = 0, r;
		ck_test_write_file(path, f.log.data, cut);
		for (unsigned flags = 0; flags <= CK_SEGMENT_VERIFY_CRC; flags++) {
			ck_assert_int_eq(
			    ck_segment_iter_init(&it, &s, 0, UINT64_MAX, INT64_MAX, flags), 0);
			n = 0;
			while ((r = ck_segment_iter_next(&it)) == 1)
				n++;
			ck_assert_int_eq(r, 0);
			ck_assert_int_eq(n, NB - 1);
			/* Only the zero high bytes of its baseOffset: preallocated
			 * space as far as anyone can tell. */
			ck_assert_msg(
			    it.end == (cut - f.pos[NB - 1] <= zero_lead ? CK_SEGMENT_END_ZERO
			                                                : CK_SEGMENT_END_TORN),
			    "cut=%llu (batch at %llu) flags=%u end=%d", (unsigned long long)cut,
			    (unsigned long long)f.pos[NB - 1], flags, it.end);
			ck_assert_uint_eq(it.pos, f.pos[NB - 1]);
			ck_segment_iter_done(&it);
		}
	}
	ck_segment_close(&s);
	seg_done(&f);
}
END_TEST

START_TEST(test_iter_crc_and_bounds)
{
	seg_fixture_t f;
	char path[256];
	ck_segment_t s;
	ck_segment_iter_t it;
	ck_buf_t out = CK_BUF_INIT;
	int n = 0, r;

	seg_make(&f, 300, true);
	ck_segment_path(path, sizeof(path), f.dir, 1000, CK_SEGMENT_FILE_LOG);
	f.log.data[f.pos[7] + 70] ^= 0x01;
	ck_test_write_file(path, f.log.data, f.log.len);
	ck_assert_int_eq(ck_segment_open(f.dir, 1000, &s), 0);
	/* Verified: stops at batch 7 with reason "crc". */
	ck_assert_int_eq(
	    ck_segment_iter_init(&it, &s, 0, UINT64_MAX, INT64_MAX, CK_SEGMENT_VERIFY_CRC), 0);
	while ((r = ck_segment_iter_next(&it)) == 1)
		n++;
	ck_assert_int_eq(r, CK_E_CORRUPT);
	ck_assert_str_eq(it.reason, "crc");
	ck_assert_int_eq(n, 7);
	ck_assert_uint_eq(it.pos, f.pos[7]);
	ck_segment_iter_done(&it);
	/* Not verified: headers are fine, so all are returned. */
	ck_assert_int_eq(ck_segment_iter_init(&it, &s, 0, UINT64_MAX, INT64_MAX, 0), 0);
	n = 0;
	while (ck_segment_iter_next(&it) == 1) {
		ck_assert_int_eq(ck_segment_iter_read(&it, &out), 0);
		n++;
	}
	ck_assert_int_eq(n, NB);
	ck_assert_uint_eq(out.len, f.log.len);
	ck_assert_mem_eq(out.data, f.log.data, f.log.len);
	ck_segment_iter_done(&it);
	/* End offset: batches whose last offset reaches it stay out. */
	ck_assert_int_eq(ck_segment_iter_init(&it, &s, 0, UINT64_MAX, f.base[5] + 1, 0), 0);
	n = 0;
	while (ck_segment_iter_next(&it) == 1)
		n++;
	ck_assert_int_eq(n, f.base[6] - f.base[5] > 1 ? 5 : 6);
	ck_assert_int_eq(it.end, CK_SEGMENT_END_BOUND);
	ck_segment_iter_done(&it);
	/* End position in the middle of batch 3. */
	ck_assert_int_eq(ck_segment_iter_init(&it, &s, 0, f.pos[3] + 10, INT64_MAX, 0), 0);
	n = 0;
	while (ck_segment_iter_next(&it) == 1)
		n++;
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(it.end, CK_SEGMENT_END_BOUND);
	ck_segment_iter_done(&it);
	/* Garbage header: bad magic. */
	f.log.data[f.pos[2] + 16] = 9;
	ck_test_write_file(path, f.log.data, f.log.len);
	ck_assert_int_eq(ck_segment_iter_init(&it, &s, 0, UINT64_MAX, INT64_MAX, 0), 0);
	n = 0;
	while ((r = ck_segment_iter_next(&it)) == 1)
		n++;
	ck_assert_int_eq(r, CK_E_CORRUPT);
	ck_assert_str_eq(it.reason, "magic");
	ck_assert_int_eq(n, 2);
	ck_segment_iter_done(&it);
	ck_buf_free(&out);
	ck_segment_close(&s);
	seg_done(&f);
}
END_TEST

START_TEST(test_range)
{
	seg_fixture_t f;
	ck_segment_t s;
	ck_segment_range_t rg;

	seg_make(&f, 300, true);
	ck_assert_int_eq(ck_segment_open(f.dir, 1000, &s), 0);
	/* From the middle of batch 4, up to 3 batches' worth of bytes. */
	ck_assert_int_eq(ck_segment_range(&s, f.base[4] + (f.base[5] - f.base[4]) / 2, INT64_MAX,
	                                  UINT64_MAX, f.pos[7] - f.pos[4], 0, &rg),
	                 1);
	ck_assert_int_eq(rg.fd, s.log_fd);
	ck_assert_uint_eq(rg.position, f.pos[4]);
	ck_assert_uint_eq(rg.length, f.pos[7] - f.pos[4]);
	ck_assert_uint_eq(rg.batches, 3);
	ck_assert_int_eq(rg.first_offset, f.base[4]);
	ck_assert_int_eq(rg.next_offset, f.base[7]);
	/* A budget smaller than one batch still gives one batch. */
	ck_assert_int_eq(ck_segment_range(&s, f.base[9], INT64_MAX, UINT64_MAX, 1, 0, &rg), 1);
	ck_assert_uint_eq(rg.batches, 1);
	ck_assert_uint_eq(rg.length, f.pos[10] - f.pos[9]);
	/* The end offset (a high watermark) bounds it. */
	ck_assert_int_eq(ck_segment_range(&s, f.base[9], f.base[12], UINT64_MAX, 1 << 30, 0, &rg),
	                 1);
	ck_assert_int_eq(rg.next_offset, f.base[12]);
	ck_assert_int_eq(ck_segment_range(&s, f.base[12], f.base[12], UINT64_MAX, 1 << 30, 0, &rg),
	                 0);
	ck_assert_int_eq(ck_segment_range(&s, f.base[NB], INT64_MAX, UINT64_MAX, 1 << 30, 0, &rg),
	                 0);
	ck_segment_close(&s);
	seg_done(&f);
}
END_TEST

START_TEST(test_find_time)
{
	seg_fixture_t f;
	ck_segment_t s;
	ck_batch_header_t h;
	uint64_t pos;

	for (int with_index = 0; with_index < 2; with_index++) {
		seg_make(&f, 300, with_index);
		ck_assert_int_eq(ck_segment_open(f.dir, 1000, &s), 0);
		for (int i = 0; i < NB; i++) {
			/* The first batch whose max timestamp reaches maxts[i]. */
			int want = 0;
			while (f.maxts[want] < f.maxts[i])
				want++;
			ck_assert_int_eq(ck_segment_find_time(&s, f.maxts[i], UINT64_MAX, &pos, &h),
			                 1);
			ck_assert_uint_eq(pos, f.pos[want]);
		}
		ck_assert_int_eq(ck_segment_find_time(&s, INT64_MIN, UINT64_MAX, &pos, &h), 1);
		ck_assert_uint_eq(pos, 0);
		ck_assert_int_eq(ck_segment_find_time(&s, 1 << 30, UINT64_MAX, &pos, &h), 0);
		ck_segment_close(&s);
		seg_done(&f);
	}
}
END_TEST

START_TEST(test_deleted_and_truncated_under_reader)
{
	seg_fixture_t f;
	char path[256];
	ck_segment_t s;
	ck_segment_iter_t it;
	ck_buf_t out = CK_BUF_INIT;
	int n = 0, r;

	seg_make(&f, 300, true);
	ck_assert_int_eq(ck_segment_open(f.dir, 1000, &s), 0);
	/* Retention removes the files: the open reader still reads them. */
	for (int k = 0; k < 3; k++) {
		ck_segment_path(path, sizeof(path), f.dir, 1000, (ck_segment_file_t)k);
		ck_assert_int_eq(unlink(path), 0);
	}
	ck_assert_int_eq(ck_segment_open(f.dir, 1000, &(ck_segment_t){0}), -ENOENT);
	seg_check_find_open(&f, &s);
	ck_segment_close(&s);
	seg_done(&f);

	/* A truncation between iter_init and reading: the batch cut in two
	 * is not handed out. */
	seg_make(&f, 300, true);
	ck_segment_path(path, sizeof(path), f.dir, 1000, CK_SEGMENT_FILE_LOG);
	ck_assert_int_eq(ck_segment_open(f.dir, 1000, &s), 0);
	ck_assert_int_eq(ck_segment_iter_init(&it, &s, 0, UINT64_MAX, INT64_MAX, 0), 0);
	ck_assert_int_eq(truncate(path, (off_t)(f.pos[20] + 30)), 0);
	while ((r = ck_segment_iter_next(&it)) == 1) {
		r = ck_segment_iter_read(&it, &out);
		if (r < 0)
			break;
		n++;
	}
	ck_assert_int_eq(n, 20);
	ck_assert_uint_eq(out.len, f.pos[20]);
	ck_assert_mem_eq(out.data, f.log.data, out.len);
	ck_segment_iter_done(&it);
	ck_buf_free(&out);
	ck_segment_close(&s);
	seg_done(&f);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ck_segment");
	TCase *tc = tcase_create("segment");

	tcase_set_timeout(tc, 60);
	ck_test_add_root(tc);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_topics_and_dirs);
	tcase_add_test(tc, test_list_and_pick);
	tcase_add_test(tc, test_index_search);
	tcase_add_test(tc, test_index_valid_count);
	tcase_add_test(tc, test_find_through_index);
	tcase_add_test(tc, test_find_without_or_with_bad_index);
	tcase_add_test(tc, test_iter_zero_tail);
	tcase_add_test(tc, test_iter_torn_tail_every_byte);
	tcase_add_test(tc, test_iter_crc_and_bounds);
	tcase_add_test(tc, test_range);
	tcase_add_test(tc, test_find_time);
	tcase_add_test(tc, test_deleted_and_truncated_under_reader);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(suite());
}
