/*
 * test_wal_store_dir.c: the log directories of chronik-walwriter on temp
 * dirs (walwriter/wal_store_dir.c through wal_store.h): grouped creation
 * (what a new log holds, per-log EXISTS, the hook before publication, no
 * leftovers, big groups built by helper threads), the first append opening
 * the files, recovery of empty logs without touching them, changing a
 * log's settings (file replaced, rolls and retention follow, restarts keep
 * them; a missing or unreadable file: lost, retention suspended until
 * configured), the topic id file, and grouped deletion.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_err.h"
#include "ck_fs.h"
#include "ck_segment.h"
#include "wal_store.h"
#include "wal_test.h"

static const wal_log_cfg_t cfg_default = {1 << 30, 7LL * 24 * 3600 * 1000, -1, -1, 1 << 20, 256};
static const wal_log_cfg_t req_none = {0, 0, 0, 0, 0, 0};

static char data[128];

static void setup(void)
{
	char p[256];

	ck_test_mkdtemp(data, sizeof(data), "dir");
	snprintf(p, sizeof(p), "%s/log", data);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void log_path(char *buf, size_t len, const char *log, const char *file)
{
	snprintf(buf, len, "%s/log/%s%s%s", data, log, file ? "/" : "", file ? file : "");
}

static bool exists(const char *log, const char *file)
{
	char p[512];

	log_path(p, sizeof(p), log, file);
	return access(p, F_OK) == 0;
}

/* Entries of <data>/log whose names contain NEEDLE. */
static int count_entries(const char *needle)
{
	char p[256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "%s/log", data);
	d = opendir(p);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.' && strstr(de->d_name, needle) != NULL;
	closedir(d);
	return n;
}

/* Appends one batch of NREC records at the end of S, durably. */
static void append(wal_store_t *s, int nrec, size_t vlen, int64_t now_ms)
{
	ck_buf_t b = CK_BUF_INIT;
	wal_store_stats_t st;

	wal_store_stats(s, &st);
	wal_test_batch(&b, st.end_offset, nrec, vlen, (unsigned)st.end_offset, now_ms);
	ck_assert_int_eq(wal_store_stage(s, b.data, b.len, now_ms), 0);
	ck_assert_int_eq(wal_store_flush(s), 0);
	ck_assert_int_eq(wal_store_sync(s), 0);
	ck_buf_free(&b);
}

typedef struct {
	int calls;
	int built;
	int visible; /* final names already there when the hook ran */
} hook_t;

static void hook(void *arg, wal_store_new_t *logs, size_t n)
{
	hook_t *h = arg;
	char name[300];

	h->calls++;
	for (size_t i = 0; i < n; i++) {
		if (logs[i].err < 0)
			continue;
		h->built++;
		ck_assert_ptr_nonnull(logs[i].store);
		snprintf(name, sizeof(name), "%s-%d", logs[i].topic, logs[i].partition);
		h->visible += exists(name, NULL);
	}
}

START_TEST(test_create_group)
{
	wal_log_cfg_t small = req_none, timed = req_none, c, got;
	wal_store_new_t logs[5];
	wal_store_t *taken = NULL, *rec = NULL;
	uint8_t buf[WAL_LOG_CFG_LEN + 8];
	wal_store_stats_t st;
	hook_t h = {0, 0, 0};
	char p[512];
	const char *names[] = {"a", "b", "taken", "c", "d"};

	small.segment_bytes = 4096;
	timed.retention_ms = 1000;
	ck_assert_int_eq(wal_store_create(data, "taken", 0, &req_none, &cfg_default, NULL, &taken),
	                 0);
	/* The store holds its directory's path exactly (sized to it). */
	snprintf(p, sizeof(p), "%s/log/taken-0", data);
	ck_assert_str_eq(wal_store_dir(taken), p);
	append(taken, 1, 10, 1000); /* on disk now: its name is taken */
	for (int i = 0; i < 5; i++) {
		logs[i] = (wal_store_new_t){.topic = names[i],
		                            .partition = i == 2 ? 0 : i,
		                            .req = req_none,
		                            .cfg = cfg_default,
		                            .err = 1};
	}
	logs[1].req = small;
	ck_assert_int_eq(wal_log_cfg_resolve(&cfg_default, &small, &logs[1].cfg), 0);
	logs[3].topic_id = (wal_topic_id_t){{3, 3, 3}, true};
	logs[4].req = timed;
	ck_assert_int_eq(wal_log_cfg_resolve(&cfg_default, &timed, &logs[4].cfg), 0);
	ck_assert_int_eq(wal_store_create_group(data, logs, 5, hook, &h), 0);
	/* One hook call, before any new name appeared. */
	ck_assert_int_eq(h.calls, 1);
	ck_assert_int_eq(h.built, 4);
	ck_assert_int_eq(h.visible, 0);
	ck_assert_int_eq(logs[2].err, CK_E_EXISTS);
	ck_assert_ptr_null(logs[2].store);
	ck_assert_int_eq(count_entries(".creating"), 0);
	for (int i = 0; i < 5; i++) {
		char log[64];
		if (i == 2)
			continue;
		snprintf(log, sizeof(log), "%s-%d", names[i], i);
		ck_assert_int_eq(logs[i].err, 0);
		wal_store_stats(logs[i].store, &st);
		ck_assert_int_eq(st.start_offset, 0);
		ck_assert_int_eq(st.end_offset, 0);
		ck_assert_int_eq(st.segments, 1);
		/* Nothing on disk until the first append builds it all. */
		ck_assert(!exists(log, NULL));
		append(logs[i].store, 1, 10, 1000);
		ck_assert(exists(log, "00000000000000000000.log"));
		ck_assert(exists(log, "00000000000000000000.index"));
		/* Every log has its settings file, also of node defaults (a
		 * missing one means lost, wal_recover.c). */
		ck_assert(exists(log, WAL_STORE_CONFIG_FILE));
		ck_assert_int_eq(exists(log, WAL_STORE_TOPIC_ID_FILE), i == 3);
		wal_store_free(logs[i].store);
	}
	ck_assert_int_eq(count_entries(".creating"), 0);
	/* The settings file holds the request as asked. */
	log_path(p, sizeof(p), "b-1", WAL_STORE_CONFIG_FILE);
	ck_assert_int_eq(ck_fs_read_small(p, buf, sizeof(buf)), WAL_LOG_CFG_LEN);
	ck_assert_int_eq(wal_log_cfg_decode(buf, WAL_LOG_CFG_LEN, &got), 0);
	ck_assert_mem_eq(&got, &small, sizeof(got));
	/* Recovery: settings and the batch back. */
	ck_assert_int_eq(wal_store_recover(data, "b", 1, NULL, &cfg_default, false, &rec, NULL), 0);
	c = *wal_store_cfg(rec);
	ck_assert_int_eq(c.segment_bytes, 4096);
	ck_assert_int_eq(c.retention_ms, cfg_default.retention_ms);
	wal_store_stats(rec, &st);
	ck_assert_int_eq(st.end_offset, 1);
	wal_store_free(rec);
	ck_assert_int_eq(wal_store_recover(data, "d", 4, NULL, &cfg_default, false, &rec, NULL), 0);
	ck_assert_int_eq(wal_store_cfg(rec)->retention_ms, 1000);
	wal_store_free(rec);
	wal_store_free(taken);
}
END_TEST

/* A name the caller vouches for is not looked up on disk; should the vouch
 * be wrong, the log's first append fails and the directory under that
 * name keeps its data (the new directory is not renamed over it). */
START_TEST(test_create_name_free)
{
	wal_store_t *old = NULL, *rec = NULL;
	wal_store_new_t l = {.topic = "v", .partition = 0, .req = req_none, .cfg = cfg_default};
	wal_store_stats_t st;
	ck_buf_t b = CK_BUF_INIT;

	ck_assert_int_eq(wal_store_create(data, "v", 0, &req_none, &cfg_default, NULL, &old), 0);
	append(old, 2, 10, 1000);
	wal_store_free(old);
	ck_assert_int_eq(wal_store_create_group(data, &l, 1, NULL, NULL), 0);
	ck_assert_int_eq(l.err, CK_E_EXISTS);
	l.name_free = true;
	ck_assert_int_eq(wal_store_create_group(data, &l, 1, NULL, NULL), 0);
	ck_assert_int_eq(l.err, 0);
	ck_assert_ptr_nonnull(l.store);
	wal_test_batch(&b, 0, 1, 10, 0, 1000);
	ck_assert_int_lt(wal_store_stage(l.store, b.data, b.len, 1000), 0);
	ck_buf_free(&b);
	wal_store_free(l.store);
	ck_assert_int_eq(wal_store_recover(data, "v", 0, NULL, &cfg_default, false, &rec, NULL), 0);
	wal_store_stats(rec, &st);
	ck_assert_int_eq(st.end_offset, 2);
	wal_store_free(rec);
}
END_TEST

START_TEST(test_first_append_opens_files)
{
	wal_store_t *s = NULL;
	wal_store_stats_t st;
	ck_segment_t seg;
	ck_segment_iter_t it;
	char dir[256];

	ck_assert_int_eq(wal_store_create(data, "t", 0, &req_none, &cfg_default, NULL, &s), 0);
	ck_assert(!wal_store_prealloc_wanted(s));
	append(s, 3, 50, 1000);
	ck_assert(exists("t-0", "00000000000000000000.index"));
	ck_assert(exists("t-0", "00000000000000000000.timeindex"));
	append(s, 2, 50, 1001);
	wal_store_stats(s, &st);
	ck_assert_int_eq(st.end_offset, 5);
	wal_store_free(s);
	/* Readers see both batches; recovery finds the end. */
	log_path(dir, sizeof(dir), "t-0", NULL);
	ck_assert_int_eq(ck_segment_open(dir, 0, &seg), 0);
	ck_assert_int_eq(
	    ck_segment_iter_init(&it, &seg, 0, UINT64_MAX, INT64_MAX, CK_SEGMENT_VERIFY_CRC), 0);
	ck_assert_int_eq(ck_segment_iter_next(&it), 1);
	ck_assert_int_eq(it.hdr.base_offset, 0);
	ck_assert_int_eq(ck_segment_iter_next(&it), 1);
	ck_assert_int_eq(it.hdr.base_offset, 3);
	ck_assert_int_eq(ck_segment_iter_next(&it), 0);
	ck_segment_iter_done(&it);
	ck_segment_close(&seg);
	ck_assert_int_eq(wal_store_recover(data, "t", 0, NULL, &cfg_default, false, &s, NULL), 0);
	wal_store_stats(s, &st);
	ck_assert_int_eq(st.end_offset, 5);
	append(s, 1, 10, 1002);
	wal_store_stats(s, &st);
	ck_assert_int_eq(st.end_offset, 6);
	wal_store_free(s);
}
END_TEST

/* A crash can leave a log directory with no segment at all (or only an
 * empty one with stale index files): it recovers as an empty log, writes
 * nothing until an append, and that append starts clean. */
START_TEST(test_recover_empty_logs)
{
	wal_ckpt_t ck = {7, 7, 0, 7, {0, INT64_MIN, -1, INT64_MIN, 0, 0}};
	wal_store_stats_t st;
	wal_store_t *s = NULL;
	char p[512];

	log_path(p, sizeof(p), "e-0", NULL);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(wal_store_recover(data, "e", 0, NULL, &cfg_default, false, &s, NULL), 0);
	wal_store_stats(s, &st);
	ck_assert_int_eq(st.start_offset, 0);
	ck_assert_int_eq(st.end_offset, 0);
	ck_assert_int_eq(st.segments, 1);
	ck_assert(!exists("e-0", "00000000000000000000.log"));
	wal_store_free(s);
	/* Its recovery point says it starts at 7. */
	ck_assert_int_eq(wal_store_recover(data, "e", 0, &ck, &cfg_default, false, &s, NULL), 0);
	wal_store_stats(s, &st);
	ck_assert_int_eq(st.start_offset, 7);
	ck_assert_int_eq(st.end_offset, 7);
	append(s, 2, 10, 1000);
	wal_store_stats(s, &st);
	ck_assert_int_eq(st.end_offset, 9);
	ck_assert(exists("e-0", "00000000000000000007.log"));
	wal_store_free(s);
	/* An empty segment with garbage index files: truncated by the first
	 * append, never served. */
	log_path(p, sizeof(p), "g-0", NULL);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	log_path(p, sizeof(p), "g-0", "00000000000000000000.log");
	ck_test_write_file(p, "", 0);
	log_path(p, sizeof(p), "g-0", "00000000000000000000.index");
	ck_test_write_file(p, "0123456789abcdef", 16);
	ck_assert_int_eq(wal_store_recover(data, "g", 0, NULL, &cfg_default, false, &s, NULL), 0);
	append(s, 1, 10, 1000);
	wal_store_free(s);
	ck_assert_int_eq(ck_test_file_size(p), 0);
}
END_TEST

/* A group of new logs writes nothing to disk; deleting logs nobody
 * appended to does not either. */
START_TEST(test_big_group)
{
	enum { N = 300 };
	wal_store_new_t *logs = calloc(N, sizeof(*logs));
	wal_store_t **stores = calloc(N, sizeof(*stores));
	int *errs = calloc(N, sizeof(*errs));
	char(*names)[16] = calloc(N, sizeof(*names));
	hook_t h = {0, 0, 0};

	ck_assert_ptr_nonnull(logs);
	ck_assert_ptr_nonnull(stores);
	ck_assert_ptr_nonnull(errs);
	ck_assert_ptr_nonnull(names);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "big%d", i);
		logs[i] = (wal_store_new_t){
		    .topic = names[i], .req = req_none, .cfg = cfg_default, .err = 1};
		if (i % 7 == 0)
			logs[i].req.retention_bytes = 1000 + i;
	}
	ck_assert_int_eq(wal_store_create_group(data, logs, N, hook, &h), 0);
	ck_assert_int_eq(h.built, N);
	ck_assert_int_eq(count_entries("big"), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(logs[i].err, 0);
		ck_assert_ptr_nonnull(logs[i].store);
		stores[i] = logs[i].store;
	}
	append(stores[7], 2, 10, 1000); /* one of them gets a batch */
	ck_assert_int_eq(count_entries("big"), 1);
	ck_assert(exists("big7-0", WAL_STORE_CONFIG_FILE));
	wal_store_delete_group(stores, N, errs);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(errs[i], 0);
	ck_assert_int_eq(count_entries("big"), 0);
	free(logs);
	free(stores);
	free(errs);
	free(names);
}
END_TEST

/* Settings changed before the first append live in memory; the append
 * writes the latest ones with the directory. */
START_TEST(test_configure_before_append)
{
	wal_log_cfg_t req = req_none, cfg;
	wal_store_t *s = NULL;

	ck_assert_int_eq(wal_store_create(data, "p", 0, &req_none, &cfg_default, NULL, &s), 0);
	req.segment_bytes = 300;
	ck_assert_int_eq(wal_log_cfg_resolve(&cfg_default, &req, &cfg), 0);
	ck_assert_int_eq(wal_store_configure(s, &req, &cfg), 0);
	ck_assert_int_eq(wal_store_cfg(s)->segment_bytes, 300);
	ck_assert(!exists("p-0", NULL));
	append(s, 2, 100, 1000);
	append(s, 2, 100, 1001); /* over 300 bytes: rolls */
	ck_assert(exists("p-0", WAL_STORE_CONFIG_FILE));
	wal_store_free(s);
	ck_assert_int_eq(wal_store_recover(data, "p", 0, NULL, &cfg_default, false, &s, NULL), 0);
	ck_assert_int_eq(wal_store_cfg(s)->segment_bytes, 300);
	wal_store_free(s);
}
END_TEST

/* A settings file missing or unreadable at recovery: the topic's settings
 * are lost, so the log gets the node defaults with retention suspended
 * (nothing deleted by a default the topic overrode) and says so until a
 * configure writes the file again; the next recovery reads it. */
START_TEST(test_settings_lost)
{
	wal_log_cfg_t req = req_none, cfg;
	wal_store_t *s = NULL;
	char p[512];

	for (int k = 0; k < 2; k++) {
		const char *name = k ? "lb" : "lm";
		char log[16];

		snprintf(log, sizeof(log), "%s-0", name);
		req = req_none;
		req.segment_bytes = 300;
		req.retention_ms = -1;
		ck_assert_int_eq(wal_log_cfg_resolve(&cfg_default, &req, &cfg), 0);
		ck_assert_int_eq(wal_store_create(data, name, 0, &req, &cfg, NULL, &s), 0);
		append(s, 2, 100, 1000);
		ck_assert(!wal_store_cfg_lost(s));
		wal_store_free(s);
		log_path(p, sizeof(p), log, WAL_STORE_CONFIG_FILE);
		if (k)
			ck_test_write_file(p, "garbage", 7);
		else
			ck_assert_int_eq(unlink(p), 0);
		ck_assert_int_eq(
		    wal_store_recover(data, name, 0, NULL, &cfg_default, false, &s, NULL), 0);
		ck_assert(wal_store_cfg_lost(s));
		ck_assert_int_eq(wal_store_cfg(s)->segment_bytes, cfg_default.segment_bytes);
		ck_assert_int_eq(wal_store_cfg(s)->retention_ms, -1);
		ck_assert_int_eq(wal_store_cfg(s)->retention_bytes, -1);
		/* The metadata's settings come back: file written, not lost. */
		ck_assert_int_eq(wal_store_configure(s, &req, &cfg), 0);
		ck_assert(!wal_store_cfg_lost(s));
		wal_store_free(s);
		ck_assert_int_eq(
		    wal_store_recover(data, name, 0, NULL, &cfg_default, false, &s, NULL), 0);
		ck_assert(!wal_store_cfg_lost(s));
		ck_assert_int_eq(wal_store_cfg(s)->segment_bytes, 300);
		wal_store_free(s);
	}
}
END_TEST

START_TEST(test_configure)
{
	wal_log_cfg_t req = req_none, cfg, got;
	uint8_t buf[WAL_LOG_CFG_LEN];
	wal_store_stats_t st;
	wal_store_t *s = NULL;
	char p[512];

	ck_assert_int_eq(wal_store_create(data, "c", 0, &req_none, &cfg_default, NULL, &s), 0);
	for (int i = 0; i < 4; i++)
		append(s, 2, 100, 1000 + i);
	wal_store_stats(s, &st);
	ck_assert_int_eq(st.segments, 1);
	/* Smaller segments: the next append rolls at once. */
	req.segment_bytes = 300;
	ck_assert_int_eq(wal_log_cfg_resolve(&cfg_default, &req, &cfg), 0);
	ck_assert_int_eq(wal_store_configure(s, &req, &cfg), 0);
	ck_assert_int_eq(wal_store_cfg(s)->segment_bytes, 300);
	log_path(p, sizeof(p), "c-0", WAL_STORE_CONFIG_FILE);
	ck_assert_int_eq(ck_fs_read_small(p, buf, sizeof(buf)), WAL_LOG_CFG_LEN);
	ck_assert_int_eq(wal_log_cfg_decode(buf, sizeof(buf), &got), 0);
	ck_assert_mem_eq(&got, &req, sizeof(got));
	ck_assert(!exists("c-0", WAL_STORE_CONFIG_FILE ".tmp"));
	for (int i = 0; i < 4; i++)
		append(s, 2, 100, 2000 + i);
	wal_store_stats(s, &st);
	ck_assert_int_eq(st.segments, 5);
	/* Retention by size: what is left holds at least 600 bytes. */
	req.retention_bytes = 600;
	ck_assert_int_eq(wal_log_cfg_resolve(&cfg_default, &req, &cfg), 0);
	ck_assert_int_eq(wal_store_configure(s, &req, &cfg), 0);
	ck_assert_int_gt(wal_store_retention(s, 3000, -1), 0);
	wal_store_stats(s, &st);
	ck_assert_int_gt(st.start_offset, 0);
	ck_assert_int_ge(st.size_bytes, 600);
	wal_store_free(s);
	/* A restart keeps the new settings. */
	ck_assert_int_eq(wal_store_recover(data, "c", 0, NULL, &cfg_default, false, &s, NULL), 0);
	ck_assert_int_eq(wal_store_cfg(s)->segment_bytes, 300);
	ck_assert_int_eq(wal_store_cfg(s)->retention_bytes, 600);
	/* Back to the node defaults (all 0). */
	ck_assert_int_eq(wal_store_configure(s, &req_none, &cfg_default), 0);
	wal_store_free(s);
	ck_assert_int_eq(wal_store_recover(data, "c", 0, NULL, &cfg_default, false, &s, NULL), 0);
	ck_assert_mem_eq(wal_store_cfg(s), &cfg_default, sizeof(cfg_default));
	wal_store_free(s);
}
END_TEST

/* The topic id a log was created with: in memory while nothing is on
 * disk, written with the directory by the first append (a file of its
 * own, next to the settings), untouched by a settings change, read back by
 * recovery; no id, or a damaged file, is unknown. */
START_TEST(test_topic_id)
{
	wal_topic_id_t id = {{0}, true}, got;
	wal_log_cfg_t req = req_none, cfg;
	uint8_t buf[WAL_TOPIC_ID_FILE_LEN + 8];
	wal_store_t *s = NULL;
	char p[512];

	for (int i = 0; i < WAL_TOPIC_ID_LEN; i++)
		id.bytes[i] = (uint8_t)(0xa0 + i);
	req.retention_ms = 5000;
	ck_assert_int_eq(wal_log_cfg_resolve(&cfg_default, &req, &cfg), 0);
	ck_assert_int_eq(wal_store_create(data, "i", 0, &req, &cfg, &id, &s), 0);
	ck_assert_mem_eq(wal_store_topic_id(s), &id, sizeof(id));
	ck_assert(!exists("i-0", NULL)); /* pending: memory only */
	append(s, 1, 10, 1000);
	ck_assert(exists("i-0", WAL_STORE_CONFIG_FILE));
	log_path(p, sizeof(p), "i-0", WAL_STORE_TOPIC_ID_FILE);
	ck_assert_int_eq(ck_fs_read_small(p, buf, sizeof(buf)), WAL_TOPIC_ID_FILE_LEN);
	ck_assert_int_eq(wal_topic_id_decode(buf, WAL_TOPIC_ID_FILE_LEN, &got), 0);
	ck_assert_mem_eq(&got, &id, sizeof(id));
	ck_assert_int_eq(count_entries(".creating"), 0);
	/* New settings replace only the settings file. */
	ck_assert_int_eq(wal_store_configure(s, &req_none, &cfg_default), 0);
	ck_assert_int_eq(ck_fs_read_small(p, buf, sizeof(buf)), WAL_TOPIC_ID_FILE_LEN);
	wal_store_free(s);
	ck_assert_int_eq(wal_store_recover(data, "i", 0, NULL, &cfg_default, false, &s, NULL), 0);
	ck_assert_mem_eq(wal_store_topic_id(s), &id, sizeof(id));
	wal_store_free(s);
	/* Without an id: no file, unknown after recovery. */
	ck_assert_int_eq(wal_store_create(data, "n", 0, &req_none, &cfg_default, NULL, &s), 0);
	ck_assert(!wal_store_topic_id(s)->known);
	append(s, 1, 10, 1000);
	ck_assert(exists("n-0", "00000000000000000000.log"));
	ck_assert(!exists("n-0", WAL_STORE_TOPIC_ID_FILE));
	wal_store_free(s);
	ck_assert_int_eq(wal_store_recover(data, "n", 0, NULL, &cfg_default, false, &s, NULL), 0);
	ck_assert(!wal_store_topic_id(s)->known);
	wal_store_free(s);
	/* A damaged file: the log recovers, its id unknown. */
	buf[7] ^= 1;
	ck_test_write_file(p, buf, WAL_TOPIC_ID_FILE_LEN);
	ck_assert_int_eq(wal_store_recover(data, "i", 0, NULL, &cfg_default, false, &s, NULL), 0);
	ck_assert(!wal_store_topic_id(s)->known);
	wal_store_free(s);
}
END_TEST

START_TEST(test_delete_group)
{
	wal_store_t *s[3];
	int errs[3];
	char p[512];

	for (int i = 0; i < 3; i++) {
		char t[16];
		snprintf(t, sizeof(t), "del%d", i);
		ck_assert_int_eq(wal_store_create(data, t, 0, &req_none, &cfg_default, NULL, &s[i]),
		                 0);
	}
	append(s[1], 3, 100, 1000);
	append(s[2], 1, 100, 1000); /* del0 stays in memory only */
	/* One directory vanished behind walwriter's back. */
	log_path(p, sizeof(p), "del2-0", NULL);
	ck_assert_int_eq(ck_test_rmtree(p), 0);
	wal_store_delete_group(s, 3, errs);
	ck_assert_int_eq(errs[0], 0);
	ck_assert_int_eq(errs[1], 0);
	ck_assert_int_eq(errs[2], -ENOENT);
	ck_assert_int_eq(count_entries("del"), 0);
	/* The name can be created again. */
	ck_assert_int_eq(wal_store_create(data, "del1", 0, &req_none, &cfg_default, NULL, &s[0]),
	                 0);
	wal_store_free(s[0]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal_store_dir");
	TCase *tc = tcase_create("dir");

	tcase_set_timeout(tc, 60);
	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_create_group);
	tcase_add_test(tc, test_create_name_free);
	tcase_add_test(tc, test_first_append_opens_files);
	tcase_add_test(tc, test_recover_empty_logs);
	tcase_add_test(tc, test_big_group);
	tcase_add_test(tc, test_configure);
	tcase_add_test(tc, test_configure_before_append);
	tcase_add_test(tc, test_settings_lost);
	tcase_add_test(tc, test_topic_id);
	tcase_add_test(tc, test_delete_group);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
