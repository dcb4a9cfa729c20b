/*
 * test_wal_delete_records.c: DeleteRecords (dropping a log prefix) as a
 * client of a real chronik-walwriter sees it: the log start moves to the
 * requested offset (never back), whole segments below it disappear from
 * disk, offsets below it are gone as after retention (no batch on file,
 * Truncate there is CK_E_OFFSET_RANGE) while those above still read back
 * intact, appends go on, and a clean restart, a SIGKILL and even segment
 * files a crash left behind keep it that way. Bad requests get a clear
 * error, change nothing and do not hurt the server.
 * Suite 'integration'; test code only.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "ck_segment.h"
#include "wal_itest.h"

#define T_MS   30000
#define NBATCH 100 /* batches of 2 records: offsets 0 .. 199 */

static void start(wit_t *t, const char *tag)
{
	wit_init(t, tag);
	wit_env(t, "CHRONIK_WAL_SEGMENT_BYTES=2048");
	wit_env(t, "CHRONIK_WAL_RETENTION_MS=-1");
	wit_env(t, "CHRONIK_WAL_RETENTION_BYTES=-1");
	wit_env(t, "CHRONIK_WAL_RETENTION_CHECK_MS=3600000");
	wit_env(t, "CHRONIK_WAL_PREALLOCATE_BYTES=0");
	wit_start_ready(t);
}

static void restart(wit_t *t, wcl_t *c, int sig)
{
	wcl_close(c);
	ck_assert_int_eq(wit_stop(t, sig, T_MS), sig == SIGKILL ? 128 + SIGKILL : 0);
	wit_start_ready(t);
	wcl_connect(c, t);
}

/* Appends N batches of 2 records as a leader; returns the log end
 * afterwards. Its epoch, 10, is past every replica append's here (those
 * fence leader appends of older epochs). */
static int64_t fill(wcl_t *c, const char *topic, int n, uint32_t seed)
{
	ck_buf_t b = CK_BUF_INIT;
	int64_t last = -1;

	for (int i = 0; i < n; i++) {
		ck_buf_reset(&b);
		wit_batch(&b, 2, 150, seed + (uint32_t)i);
		ck_assert_int_eq(wcl_append(c, topic, 0, b.data, b.len, false, 10, NULL, &last), 0);
	}
	ck_buf_free(&b);
	return last + 1;
}

/* The segment bases of TOPIC-0 on disk (free them); returns how many. */
static int disk_segments(const wit_t *t, const char *topic, int64_t **ret_bases)
{
	char dir[512];

	ck_assert_int_eq(ck_segment_log_dir(dir, sizeof(dir), t->data, topic, 0), 0);
	return ck_segment_list(dir, ret_bases);
}

static void seg_path(const wit_t *t, const char *topic, int64_t base, ck_segment_file_t kind,
                     char *buf, size_t len)
{
	char dir[512];

	ck_assert_int_eq(ck_segment_log_dir(dir, sizeof(dir), t->data, topic, 0), 0);
	ck_assert_int_eq(ck_segment_path(buf, len, dir, base, kind), 0);
}

/*
 * What a reader sees of TOPIC-0 with log start START and end END: the
 * server agrees on both; the first segment on disk holds START and every
 * earlier one is gone (no batch below it can be read, as after retention);
 * walwriter refuses to truncate below START; the offsets from the first
 * segment on read back contiguous (CRC checked) up to END, and the first
 * batch at or after START reads back by its offset.
 */
static void assert_log(const wit_t *t, wcl_t *c, const char *topic, int64_t start_off, int64_t end)
{
	Chronik__Wal__LogInfo info;
	ck_buf_t b = CK_BUF_INIT;
	int64_t *bases = NULL, first = -1, read_end;
	int n;

	ck_assert_int_eq(wcl_info(c, topic, 0, &info), 0);
	ck_assert_int_eq(info.log_start_offset, start_off);
	ck_assert_int_eq(info.log_end_offset, end);
	n = disk_segments(t, topic, &bases);
	ck_assert_int_ge(n, 1);
	ck_assert_int_eq(n, info.segments);
	ck_assert_int_le(bases[0], start_off);
	if (n > 1)
		ck_assert_int_gt(bases[1], start_off);
	if (bases[0] > 0)
		ck_assert_int_eq(wit_read_batch(t->data, topic, 0, 0, &b), 0);
	if (start_off > 0)
		ck_assert_int_eq(wcl_truncate(c, topic, 0, start_off - 1, NULL), CK_E_OFFSET_RANGE);
	read_end = wit_read_log(t->data, topic, 0, NULL, &first);
	ck_assert_int_eq(first, bases[0]);
	ck_assert_int_eq(read_end, end);
	if (start_off < end) {
		int64_t at = start_off + (start_off & 1); /* batches start at even offsets */
		ck_buf_reset(&b);
		ck_assert_int_eq(wit_read_batch(t->data, topic, 0, at, &b), 1);
		ck_assert_int_ge(b.len, CK_BATCH_HEADER_LEN);
		ck_assert_int_eq((int64_t)ck_be64_get(b.data), at);
	}
	free(bases);
	ck_buf_free(&b);
}

START_TEST(test_delete_middle_and_restart)
{
	Chronik__Wal__LogInfo before_info;
	int64_t start_off = -1, end;
	wit_t t;
	wcl_t c;

	start(&t, "dr");
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "d", 0, NULL), 0);
	end = fill(&c, "d", NBATCH, 1);
	ck_assert_int_eq(end, 2 * NBATCH);
	ck_assert_int_eq(wcl_info(&c, "d", 0, &before_info), 0);
	ck_assert_int_ge(before_info.segments, 8);

	/* The middle of a batch, in the middle of the log. */
	ck_assert_int_eq(wcl_delete_records(&c, "d", 0, 101, &start_off), 0);
	ck_assert_int_eq(start_off, 101);
	assert_log(&t, &c, "d", 101, end);
	Chronik__Wal__LogInfo after_info;
	ck_assert_int_eq(wcl_info(&c, "d", 0, &after_info), 0);
	ck_assert_int_lt(after_info.segments, before_info.segments);
	ck_assert_int_lt(after_info.size_bytes, before_info.size_bytes);
	ck_assert_int_eq(wit_log_count(&t, "log start moved", "log=d-0", "start=101", NULL), 1);

	/* The start never goes back; an offset at the start changes nothing. */
	ck_assert_int_eq(wcl_delete_records(&c, "d", 0, 50, &start_off), 0);
	ck_assert_int_eq(start_off, 101);
	ck_assert_int_eq(wcl_delete_records(&c, "d", 0, 101, &start_off), 0);
	ck_assert_int_eq(start_off, 101);

	/* Appends go on after it. */
	end = fill(&c, "d", 1, 500);
	ck_assert_int_eq(end, 2 * NBATCH + 2);
	assert_log(&t, &c, "d", 101, end);

	/* A clean restart keeps the start and the deleted segments gone. */
	restart(&t, &c, SIGTERM);
	assert_log(&t, &c, "d", 101, end);

	/* Made durable before the reply: a SIGKILL right after keeps it. */
	ck_assert_int_eq(wcl_delete_records(&c, "d", 0, 151, &start_off), 0);
	ck_assert_int_eq(start_off, 151);
	restart(&t, &c, SIGKILL);
	assert_log(&t, &c, "d", 151, end);

	/* Up to the end: only the active segment stays, empty for readers. */
	ck_assert_int_eq(wcl_delete_records(&c, "d", 0, end, &start_off), 0);
	ck_assert_int_eq(start_off, end);
	assert_log(&t, &c, "d", end, end);
	restart(&t, &c, SIGKILL);
	assert_log(&t, &c, "d", end, end);
	ck_assert_int_eq(fill(&c, "d", 3, 900), end + 6);
	assert_log(&t, &c, "d", end, end + 6);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

/* DeleteRecords pipelined between appends: the appends sent before it
 * count towards the end it is checked against; all of them succeed. */
START_TEST(test_pipelined_with_appends)
{
	Chronik__Wal__WalRequest reqs[11];
	Chronik__Wal__Append aps[10];
	Chronik__Wal__DeleteRecords dr = CHRONIK__WAL__DELETE_RECORDS__INIT;
	ck_buf_t b[10];
	int64_t ids[11], end;
	int got = 0;
	wit_t t;
	wcl_t c;

	start(&t, "drpipe");
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "p", 0, NULL), 0);
	end = fill(&c, "p", 40, 3);
	for (int i = 0; i < 10; i++) {
		b[i] = (ck_buf_t)CK_BUF_INIT;
		wit_batch(&b[i], 2, 150, 100 + (uint32_t)i);
		wcl_append_req(&reqs[i < 5 ? i : i + 1], &aps[i], "p", 0, b[i].data, b[i].len);
	}
	/* After the fifth append: its batch ends at end + 10. */
	chronik__wal__wal_request__init(&reqs[5]);
	dr.topic = "p";
	dr.partition = 0;
	dr.before_offset = end + 10;
	reqs[5].body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_RECORDS;
	reqs[5].delete_records = &dr;
	for (int i = 0; i < 11; i++) {
		ids[i] = wcl_send(&c, &reqs[i]);
		ck_assert_int_gt(ids[i], 0);
	}
	while (got < 11) {
		Chronik__Wal__WalReply *rep = wcl_recv(&c, T_MS);
		ck_assert_ptr_nonnull(rep);
		if (rep->correlation_id != 0) {
			ck_assert_msg(rep->error == 0, "request %llu failed: %d %s",
			              (unsigned long long)rep->correlation_id, rep->error,
			              rep->error_message);
			if (rep->correlation_id == (uint64_t)ids[5])
				ck_assert_int_eq(rep->log_info->log_start_offset, end + 10);
			got++;
		}
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	assert_log(&t, &c, "p", end + 10, end + 20);
	for (int i = 0; i < 10; i++)
		ck_buf_free(&b[i]);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

/* A crash after the new start was durable but before the old segments were
 * removed (simulated by putting them back): recovery removes them, and
 * their offsets stay gone. */
START_TEST(test_crash_leftovers_removed)
{
	enum { K = 3 };
	ck_buf_t saved[K][3];
	int64_t *bases = NULL, kept[K], start_off = -1, end;
	char path[512];
	int n;
	wit_t t;
	wcl_t c;

	start(&t, "drcrash");
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "x", 0, NULL), 0);
	end = fill(&c, "x", NBATCH, 7);
	n = disk_segments(&t, "x", &bases);
	ck_assert_int_gt(n, K + 2);
	/* Copies of the oldest segments' files. */
	for (int k = 0; k < K; k++) {
		kept[k] = bases[k];
		for (int f = 0; f < 3; f++) {
			saved[k][f] = (ck_buf_t)CK_BUF_INIT;
			seg_path(&t, "x", bases[k], (ck_segment_file_t)f, path, sizeof(path));
			ck_assert_int_eq(ck_test_read_file(path, &saved[k][f]), 0);
		}
	}
	free(bases);
	ck_assert_int_eq(wcl_delete_records(&c, "x", 0, 121, &start_off), 0);
	ck_assert_int_eq(start_off, 121);
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGKILL, T_MS), 128 + SIGKILL);
	for (int k = 0; k < K; k++) {
		for (int f = 0; f < 3; f++) {
			seg_path(&t, "x", kept[k], (ck_segment_file_t)f, path, sizeof(path));
			ck_assert_int_lt(ck_test_file_size(path), 0); /* deleted */
			ck_test_write_file(path, saved[k][f].data, saved[k][f].len);
			ck_buf_free(&saved[k][f]);
		}
	}
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	for (int k = 0; k < K; k++) {
		seg_path(&t, "x", kept[k], CK_SEGMENT_FILE_LOG, path, sizeof(path));
		ck_assert_msg(ck_test_file_size(path) < 0, "segment %lld came back",
		              (long long)kept[k]);
	}
	assert_log(&t, &c, "x", 121, end);
	ck_assert_int_ge(wit_log_count(&t, "segment deleted below the log start", "log=x-0", NULL),
	                 2 * K);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

/* A replica batch of 2 records at BASE (the leader's offsets, epoch 3). */
static void replica_batch(ck_buf_t *b, int64_t base, uint32_t seed)
{
	ck_buf_reset(b);
	wit_batch(b, 2, 100, seed);
	ck_be64_put(b->data, (uint64_t)base); /* not under the CRC */
}

/*
 * start_over (a follower below its leader's log start): past the end, the
 * log empties and starts at the offset asked; every segment file goes but
 * an empty one at the new start;
 * replica appends continue from there; SIGKILL keeps it; a log that never
 * had a file can start over too; a crash that left the old segment files
 * behind recovers an empty log at the old end, never their batches.
 */
START_TEST(test_start_over)
{
	Chronik__Wal__LogInfo info;
	ck_buf_t b = CK_BUF_INIT, saved[3];
	int64_t *bases = NULL, start_off = -1, last = -1, first = -1, end;
	char path[512];
	wit_t t;
	wcl_t c;

	start(&t, "drover");
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "s", 0, NULL), 0);
	end = fill(&c, "s", 20, 3);
	ck_assert_int_eq(end, 40);
	ck_assert_int_gt(disk_segments(&t, "s", &bases), 1);
	free(bases);

	/* Without the flag, past the end stays an error. */
	ck_assert_int_eq(wcl_delete_records(&c, "s", 0, 500, NULL), CK_E_OFFSET_RANGE);
	ck_assert_int_eq(wcl_start_over(&c, "s", 0, 500, &start_off), 0);
	ck_assert_int_eq(start_off, 500);
	ck_assert_int_eq(wcl_info(&c, "s", 0, &info), 0);
	ck_assert_int_eq(info.log_start_offset, 500);
	ck_assert_int_eq(info.log_end_offset, 500);
	ck_assert_int_eq(info.durable_end_offset, 500);
	/* The old files went; an empty one at the new start stays (the end
	 * survives the loss of the recovery point, as in Kafka). */
	bases = NULL;
	ck_assert_int_eq(disk_segments(&t, "s", &bases), 1);
	ck_assert_int_eq(bases[0], 500);
	free(bases);
	ck_assert_int_eq(
	    wit_log_count(&t, "log started over", "log=s-0", "old_end=40", "start=500", NULL), 1);
	/* Below the new start nothing can be cut; appends go on from it. */
	ck_assert_int_eq(wcl_truncate(&c, "s", 0, 40, NULL), CK_E_OFFSET_RANGE);
	replica_batch(&b, 40, 9);
	ck_assert_int_eq(wcl_append(&c, "s", 0, b.data, b.len, true, 3, NULL, NULL),
	                 CK_E_OUT_OF_ORDER);
	replica_batch(&b, 500, 9);
	ck_assert_int_eq(wcl_append(&c, "s", 0, b.data, b.len, true, 3, NULL, &last), 0);
	ck_assert_int_eq(last, 501);
	ck_assert_int_eq(fill(&c, "s", 1, 11), 504);
	ck_assert_int_eq(wit_read_log(t.data, "s", 0, NULL, &first), 504);
	ck_assert_int_eq(first, 500);

	/* Below the end too (the leader's batches start before our end). */
	ck_assert_int_eq(wcl_start_over(&c, "s", 0, 502, &start_off), 0);
	ck_assert_int_eq(start_off, 502);
	ck_assert_int_eq(wcl_info(&c, "s", 0, &info), 0);
	ck_assert_int_eq(info.log_end_offset, 502);
	replica_batch(&b, 502, 13);
	ck_assert_int_eq(wcl_append(&c, "s", 0, b.data, b.len, true, 4, NULL, &last), 0);
	ck_assert_int_eq(last, 503);
	ck_assert_int_eq(fill(&c, "s", 1, 15), 506);

	restart(&t, &c, SIGKILL);
	assert_log(&t, &c, "s", 502, 506);
	ck_buf_reset(&b);
	ck_assert_int_eq(wit_read_batch(t.data, "s", 0, 502, &b), 1);
	ck_assert_int_eq(wcl_start_over(&c, "s", 0, -1, NULL), CK_E_INVALID);

	/* A log that never had a file (created, nothing appended). */
	ck_assert_int_eq(wcl_create(&c, "e", 0, NULL), 0);
	ck_assert_int_eq(wcl_start_over(&c, "e", 0, 1000, &start_off), 0);
	ck_assert_int_eq(start_off, 1000);
	restart(&t, &c, SIGTERM);
	ck_assert_int_eq(wcl_info(&c, "e", 0, &info), 0);
	ck_assert_int_eq(info.log_start_offset, 1000);
	ck_assert_int_eq(info.log_end_offset, 1000);
	replica_batch(&b, 1000, 5);
	ck_assert_int_eq(wcl_append(&c, "e", 0, b.data, b.len, true, 3, NULL, &last), 0);
	ck_assert_int_eq(last, 1001);

	/* A crash before any file went: the old files are back on disk with a
	 * recovery point of the empty log at 2000. */
	ck_assert_int_eq(wcl_create(&c, "k", 0, NULL), 0);
	ck_assert_int_eq(fill(&c, "k", 1, 21), 2);
	bases = NULL;
	ck_assert_int_eq(disk_segments(&t, "k", &bases), 1);
	for (int f = 0; f < 3; f++) {
		saved[f] = (ck_buf_t)CK_BUF_INIT;
		seg_path(&t, "k", bases[0], (ck_segment_file_t)f, path, sizeof(path));
		ck_assert_int_eq(ck_test_read_file(path, &saved[f]), 0);
	}
	ck_assert_int_eq(wcl_start_over(&c, "k", 0, 2000, NULL), 0);
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGKILL, T_MS), 128 + SIGKILL);
	for (int f = 0; f < 3; f++) {
		seg_path(&t, "k", bases[0], (ck_segment_file_t)f, path, sizeof(path));
		ck_test_write_file(path, saved[f].data, saved[f].len);
		ck_buf_free(&saved[f]);
		/* Nor the empty segment at 2000 made last. */
		seg_path(&t, "k", 2000, (ck_segment_file_t)f, path, sizeof(path));
		ck_assert_int_eq(unlink(path), 0);
	}
	free(bases);
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_info(&c, "k", 0, &info), 0);
	ck_assert_int_eq(info.log_start_offset, info.log_end_offset);
	ck_assert_int_ge(info.log_start_offset, 2);
	ck_buf_reset(&b);
	ck_assert_int_eq(wit_read_batch(t.data, "k", 0, 0, &b), 1); /* on disk, below the start */
	ck_assert_int_eq(wcl_start_over(&c, "k", 0, 2000, &start_off), 0);
	ck_assert_int_eq(start_off, 2000);

	/* A log whose start was moved to its end first (DeleteRecords to the
	 * end, then retention empties it): its files go too. They stayed, and
	 * retention "emptied" it again at every pass. */
	ck_assert_int_eq(wcl_create(&c, "d", 0, NULL), 0);
	end = fill(&c, "d", 20, 31);
	ck_assert_int_eq(wcl_delete_records(&c, "d", 0, end, NULL), 0);
	bases = NULL;
	ck_assert_int_eq(disk_segments(&t, "d", &bases), 1); /* the active one, with data */
	ck_assert_int_lt(bases[0], end);
	free(bases);
	ck_assert_int_eq(wcl_start_over(&c, "d", 0, end, &start_off), 0);
	ck_assert_int_eq(start_off, end);
	bases = NULL;
	ck_assert_int_eq(disk_segments(&t, "d", &bases), 1);
	ck_assert_int_eq(bases[0], end);
	free(bases);
	ck_assert_int_eq(wcl_start_over(&c, "d", 0, end, &start_off), 0); /* done: no change */
	ck_assert_int_eq(wit_log_count(&t, "log started over", "log=d-0", NULL), 1);

	ck_buf_free(&b);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

START_TEST(test_bad_requests)
{
	Chronik__Wal__LogInfo before, after;
	int64_t start_off = -1, end;
	wit_t t;
	wcl_t c;

	start(&t, "drbad");
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "b", 0, NULL), 0);
	/* An empty log: 0 is fine (nothing to do), 1 is past its end. */
	ck_assert_int_eq(wcl_delete_records(&c, "b", 0, 0, &start_off), 0);
	ck_assert_int_eq(start_off, 0);
	ck_assert_int_eq(wcl_delete_records(&c, "b", 0, 1, NULL), CK_E_OFFSET_RANGE);
	end = fill(&c, "b", 20, 11);
	ck_assert_int_eq(wcl_info(&c, "b", 0, &before), 0);

	ck_assert_int_eq(wcl_delete_records(&c, "nosuch", 0, 1, NULL), CK_E_NOT_FOUND);
	ck_assert_int_eq(wcl_delete_records(&c, "b", 7, 1, NULL), CK_E_NOT_FOUND);
	ck_assert_int_eq(wcl_delete_records(&c, "b", -1, 1, NULL), CK_E_NOT_FOUND);
	ck_assert_int_eq(wcl_delete_records(&c, "", 0, 1, NULL), CK_E_NOT_FOUND);
	ck_assert_int_eq(wcl_delete_records(&c, "b", 0, -1, NULL), CK_E_INVALID);
	ck_assert_int_eq(wcl_delete_records(&c, "b", 0, INT64_MIN, NULL), CK_E_INVALID);
	ck_assert_int_eq(wcl_delete_records(&c, "b", 0, end + 1, NULL), CK_E_OFFSET_RANGE);
	ck_assert_int_eq(wcl_delete_records(&c, "b", 0, INT64_MAX, NULL), CK_E_OFFSET_RANGE);

	/* Nothing changed, and the server is still serving. */
	ck_assert_int_eq(wcl_info(&c, "b", 0, &after), 0);
	ck_assert_int_eq(after.log_start_offset, 0);
	ck_assert_int_eq(after.log_end_offset, before.log_end_offset);
	ck_assert_int_eq(after.segments, before.segments);
	ck_assert_int_eq(after.size_bytes, before.size_bytes);
	ck_assert_int_eq(wit_log_count(&t, "log start moved", NULL), 0);
	assert_log(&t, &c, "b", 0, end);
	ck_assert_int_eq(fill(&c, "b", 1, 99), end + 2);
	ck_assert_int_gt(t.proc.pid, 0);
	ck_assert_int_eq(kill(t.proc.pid, 0), 0);
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGTERM, T_MS), 0);
	wit_cleanup(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal_delete_records");
	TCase *tc = tcase_create("delete_records");

	tcase_set_timeout(tc, 120);
	ck_test_add_root(tc);
	tcase_add_test(tc, test_delete_middle_and_restart);
	tcase_add_test(tc, test_pipelined_with_appends);
	tcase_add_test(tc, test_crash_leftovers_removed);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_start_over);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
