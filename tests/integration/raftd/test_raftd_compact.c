/*
 * test_raftd_compact.c: raftd drops the compacted prefix of its metadata
 * log. With a snapshot every 200 applied entries (set through the old
 * CHRONIK_RAFTD_* names, which must keep working) and the metadata log
 * reconfigured to small segments, 2,000 CreateTopic proposals make raftd
 * take snapshots and have walwriter delete the log below each compaction
 * index: the log start offset (walwriter's GetLogInfo) moves up and the old
 * segment files disappear. Killing both processes with -9 and starting them
 * again, raftd loads the log that no longer starts at 0, every topic is
 * still there, and new proposals (and another restart) work.
 * Harness: raftd_itest.h. Test code only.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_segment.h"
#include "raftd_itest.h"
#include "walwriter.pb-c.h"

#define META_TOPIC "__chronik_metadata"
#define N_TOPICS   2000
#define N_MORE     100
#define SNAP_EVERY 200
#define KEEP       20

static rit_t T;

/* ---- walwriter, asked directly over run/walwriter.sock ---- */

/* One request and its reply (events skipped); asserts a reply. */
static Chronik__Wal__WalReply *wal_call(Chronik__Wal__WalRequest *req)
{
	Chronik__Wal__WalReply *rep = NULL;
	ck_buf_t frame = CK_BUF_INIT;
	int fd = -1;

	ck_assert_int_eq(ck_ipc_sync_connect(T.wal_sock, 10000, &fd), 0);
	req->correlation_id = 1;
	ck_assert_int_eq(ck_ipc_sync_send_msg(fd, &req->base), 0);
	while (!rep) {
		ck_assert_int_eq(ck_ipc_sync_recv(fd, 0, 30000, &frame), 0);
		rep = chronik__wal__wal_reply__unpack(NULL, frame.len, frame.data);
		ck_assert_ptr_nonnull(rep);
		if (rep->correlation_id != 1) {
			chronik__wal__wal_reply__free_unpacked(rep, NULL);
			rep = NULL;
		}
	}
	(void)close(fd);
	ck_buf_free(&frame);
	return rep;
}

typedef struct {
	int64_t start;
	int64_t end;
	int32_t segments;
} meta_info_t;

static meta_info_t meta_info(void)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__GetLogInfo gi = CHRONIK__WAL__GET_LOG_INFO__INIT;
	Chronik__Wal__WalReply *rep;
	meta_info_t mi;

	gi.topic = META_TOPIC;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_LOG_INFO;
	req.log_info = &gi;
	rep = wal_call(&req);
	ck_assert_int_eq(rep->error, 0);
	ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO);
	mi = (meta_info_t){rep->log_info->log_start_offset, rep->log_info->log_end_offset,
	                   rep->log_info->segments};
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	return mi;
}

/* Small segments for the metadata log (raftd created it with 64 MiB ones),
 * so that dropping its prefix has whole files to delete. Retention stays
 * off, as raftd wants it. */
static void meta_small_segments(void)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__ConfigureLog cl = CHRONIK__WAL__CONFIGURE_LOG__INIT;
	Chronik__Wal__LogConfig cfg = CHRONIK__WAL__LOG_CONFIG__INIT;
	Chronik__Wal__WalReply *rep;

	cfg.segment_bytes = 16384;
	cfg.retention_bytes = -1;
	cfg.retention_ms = -1;
	cfg.max_message_bytes = 8 << 20;
	cl.topic = META_TOPIC;
	cl.config = &cfg;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CONFIGURE_LOG;
	req.configure_log = &cl;
	rep = wal_call(&req);
	ck_assert_msg(rep->error == 0, "ConfigureLog: %s", rep->error_message);
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
}

/* The metadata log's segment bases on disk (free them); returns how many. */
static int meta_segments(int64_t **ret_bases)
{
	char dir[512];
	int n;

	ck_assert_int_eq(ck_segment_log_dir(dir, sizeof(dir), T.data, META_TOPIC, 0), 0);
	n = ck_segment_list(dir, ret_bases);
	ck_assert_int_gt(n, 0);
	return n;
}

/* The start offset raftd reported on its last "metadata log loaded", or -1. */
static int64_t raftd_loaded_start(void)
{
	size_t len;
	char *text = ck_test_read_text(T.raftd.logpath, &len), *p = text, *at = NULL;
	int64_t v = -1;

	while (p && (p = strstr(p, "metadata log loaded")) != NULL)
		at = p++;
	if (at) {
		char *eol = strchr(at, '\n'), *f = strstr(at, "start_offset=");
		if (f && (!eol || f < eol))
			v = strtoll(f + strlen("start_offset="), NULL, 10);
	}
	free(text);
	return v;
}

static void propose_all(const char *prefix, size_t n)
{
	rit_answer_t *ans = calloc(n, sizeof(*ans));

	ck_assert_ptr_nonnull(ans);
	ck_assert_uint_eq(
	    rit_propose_many(&T, 8, n, rit_make_topic, (void *)prefix, NULL, NULL, ans, 300000), n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(ans[i].err, 0);
		ck_assert_int_eq(ans[i].result, 0);
	}
	free(ans);
}

static void check_topics(const char *prefix, size_t n)
{
	char name[64];

	ck_assert_uint_eq(rit_meta_topics(&T, prefix, NULL, NULL), n);
	for (size_t i = 0; i < n; i += 97) {
		snprintf(name, sizeof(name), "%s%04zu", prefix, i);
		ck_assert_msg(rit_wait_log(&T, name, 0, true, 10000), "no log for %s", name);
	}
}

START_TEST(test_prefix_dropped_and_restart)
{
	uint64_t deadline, applied;
	int64_t *bases = NULL, loaded;
	meta_info_t mi;
	char kv[64];
	int n;

	rit_init(&T, "compact");
	snprintf(kv, sizeof(kv), "CHRONIK_RAFTD_SNAPSHOT_ENTRIES=%d", SNAP_EVERY);
	ck_test_proc_env(&T.raftd, kv);
	snprintf(kv, sizeof(kv), "CHRONIK_RAFTD_COMPACT_KEEP=%d", KEEP);
	ck_test_proc_env(&T.raftd, kv);
	rit_start_wal(&T);
	rit_start_raftd(&T);
	meta_small_segments();
	mi = meta_info();
	ck_assert_int_eq(mi.start, 0);

	propose_all("cmp", N_TOPICS);
	check_topics("cmp-", N_TOPICS);

	/* Snapshots were taken and the log below them dropped (in the
	 * background: wait for it). */
	deadline = ck_clock_mono_ms() + 60000;
	do {
		mi = meta_info();
		if (mi.start >= N_TOPICS / 2)
			break;
		ck_test_sleep_ms(100);
	} while (ck_clock_mono_ms() < deadline);
	applied = rit_meta_applied(&T);
	ck_assert_msg(mi.start >= N_TOPICS / 2, "log start %lld after %llu applied entries",
	              (long long)mi.start, (unsigned long long)applied);
	/* The entries kept below the newest snapshot are still there. */
	ck_assert_int_le(mi.start + KEEP, (int64_t)applied);
	ck_assert(ck_test_file_contains(T.raftd.logpath, "snapshot taken"));
	ck_assert(ck_test_file_contains(T.raftd.logpath, "metadata log prefix deleted"));
	ck_assert(ck_test_file_contains(T.wal.logpath, "log start moved log=" META_TOPIC "-0"));
	/* Whole segments below the start are gone from disk. */
	n = meta_segments(&bases);
	ck_assert_int_eq(n, mi.segments);
	ck_assert_int_gt(bases[0], 0);
	ck_assert_int_le(bases[0], mi.start);
	if (n > 1)
		ck_assert_int_gt(bases[1], mi.start);
	free(bases);

	/* Both die hard and come back: raftd loads a log that does not start
	 * at 0, and nothing is lost. */
	rit_kill(&T.raftd);
	rit_kill(&T.wal);
	rit_start_wal(&T);
	ck_assert_int_ge(meta_info().start, mi.start);
	rit_start_raftd(&T);
	loaded = raftd_loaded_start();
	ck_assert_msg(loaded >= mi.start, "raftd loaded the log at start_offset=%lld",
	              (long long)loaded);
	check_topics("cmp-", N_TOPICS);
	ck_assert_uint_ge(rit_meta_applied(&T), applied);

	/* It goes on: more topics, more snapshots, a clean restart. */
	propose_all("more", N_MORE);
	check_topics("more-", N_MORE);
	ck_assert_int_eq(ck_test_proc_stop(&T.raftd, SIGTERM, 10000), 0);
	rit_start_raftd(&T);
	check_topics("cmp-", N_TOPICS);
	check_topics("more-", N_MORE);
	ck_assert_int_ge(meta_info().start, mi.start);
	ck_assert(!ck_test_file_contains(T.raftd.logpath, "metadata log failed"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("raftd_compact");
	TCase *tc = rit_tcase_create("compact", &T);

	tcase_add_test(tc, test_prefix_dropped_and_restart);
	suite_add_tcase(s, tc);
	/* The children get a clean CHRONIK_* environment (ck_testproc.h). */
	return ck_test_run_mode(s, CK_FORK);
}
