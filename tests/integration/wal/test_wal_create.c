/*
 * test_wal_create.c: many logs created and deleted at once, as raftd does
 * when it applies a burst of CreateTopic/DeleteTopic: 2,000 pipelined
 * CreateLog requests each answered once, serving appends at once, nothing
 * on disk before a log's first append, the appended ones surviving SIGKILL
 * and a restart (the others are re-created, as raftd would), then 2,000
 * pipelined DeleteLog requests leaving nothing behind; a create arriving
 * while appends flow; appends overtaking their log's creation; a delete
 * and a re-create of one name in one burst.
 * The rates are printed ("created N logs in X ms"), never asserted: the
 * machine is shared. CHRONIK_TEST_CREATE_LOGS overrides N;
 * CHRONIK_TEST_CREATE_DIR puts the bulk test's data dir under another
 * directory (another file system, or one where creating inodes is cheap).
 */
#include <dirent.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_segment.h"
#include "wal_itest.h"

#define BULK_TIMEOUT_MS 120000

static int bulk_count(void)
{
	const char *s = getenv("CHRONIK_TEST_CREATE_LOGS");
	int n = s ? atoi(s) : 0;

	return n > 0 ? n : 2000;
}

/* Moves T's data dir under $CHRONIK_TEST_CREATE_DIR when set. */
static void bulk_data_dir(wit_t *t)
{
	const char *base = getenv("CHRONIK_TEST_CREATE_DIR");

	if (!base || !base[0])
		return;
	ck_assert_int_lt(
	    snprintf(t->data, sizeof(t->data), "%s/wal-create-%d", base, (int)getpid()),
	    (int)sizeof(t->data));
	ck_assert_int_lt(snprintf(t->sock, sizeof(t->sock), "%s/run/walwriter.sock", t->data),
	                 (int)sizeof(t->sock));
}

static void bulk_name(char *buf, size_t len, int i)
{
	snprintf(buf, len, "bulk-%05d", i);
}

/* Sends N creates (or deletes) back to back, then collects the N replies.
 * Asserts each succeeded and, for creates, that the reply names its log.
 * Returns the elapsed milliseconds from the first send to the last reply. */
static uint64_t bulk_run(wcl_t *c, int n, bool create, int skip_step)
{
	int *which = calloc((size_t)n, sizeof(*which)), sent = 0;
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__CreateLog cl = CHRONIK__WAL__CREATE_LOG__INIT;
	Chronik__Wal__DeleteLog dl = CHRONIK__WAL__DELETE_LOG__INIT;
	uint64_t t0 = ck_clock_mono_ns();
	int64_t first = -1;
	char name[64];
	int got = 0;

	ck_assert_ptr_nonnull(which);
	for (int i = 0; i < n; i++) {
		int64_t id;
		if (skip_step > 0 && i % skip_step == 0)
			continue;
		which[sent++] = i;
		bulk_name(name, sizeof(name), i);
		if (create) {
			cl.topic = name;
			req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CREATE_LOG;
			req.create_log = &cl;
		} else {
			dl.topic = name;
			req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_LOG;
			req.delete_log = &dl;
		}
		id = wcl_send(c, &req);
		ck_assert_int_gt(id, 0);
		if (first < 0)
			first = id;
	}
	while (got < sent) {
		Chronik__Wal__WalReply *rep = wcl_recv(c, BULK_TIMEOUT_MS);
		ck_assert_msg(rep != NULL, "only %d of %d replies came", got, sent);
		if (rep->correlation_id == 0) { /* an event */
			chronik__wal__wal_reply__free_unpacked(rep, NULL);
			continue;
		}
		ck_assert_int_ge((int64_t)rep->correlation_id, first);
		ck_assert_int_lt((int64_t)rep->correlation_id, first + sent);
		ck_assert_msg(rep->error == 0, "request %llu failed: %d %s",
		              (unsigned long long)rep->correlation_id, rep->error,
		              rep->error_message);
		ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO);
		bulk_name(name, sizeof(name), which[(int64_t)rep->correlation_id - first]);
		ck_assert_str_eq(rep->log_info->topic, name);
		if (create) {
			ck_assert_int_eq(rep->log_info->log_end_offset, 0);
			ck_assert_int_eq(rep->log_info->segments, 1);
		}
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
		got++;
	}
	free(which);
	return (ck_clock_mono_ns() - t0) / 1000000u;
}

static void bulk_report(const char *what, int n, uint64_t ms)
{
	fprintf(stderr, "%s %d logs in %llu ms: %.0f/s\n", what, n, (unsigned long long)ms,
	        ms ? n * 1000.0 / (double)ms : 0.0);
}

/* Log directories under <data>/log, leftovers (.creating, .deleted) apart. */
static int count_dirs(const wit_t *t, int *ret_leftovers)
{
	char path[256];
	struct dirent *de;
	DIR *d;
	int n = 0, left = 0;

	snprintf(path, sizeof(path), "%s/log", t->data);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strstr(de->d_name, ".creating") || strstr(de->d_name, ".deleted") ||
		    strstr(de->d_name, ".tmp"))
			left++;
		else
			n++;
	}
	closedir(d);
	if (ret_leftovers)
		*ret_leftovers = left;
	return n;
}

static int list_count(wcl_t *c)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__ListLogs ll = CHRONIK__WAL__LIST_LOGS__INIT;
	Chronik__Wal__WalReply *rep;
	int n;

	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_LIST_LOGS;
	req.list_logs = &ll;
	rep = wcl_call(c, &req, 30000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_LOG_LIST);
	n = (int)rep->log_list->n_logs;
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	return n;
}

START_TEST(test_bulk_create_restart_delete)
{
	int n = bulk_count(), left = -1, step = n / 10 + 1, appended = 0;
	Chronik__Wal__LogInfo info;
	ck_buf_t b = CK_BUF_INIT;
	char name[64];
	uint64_t ms;
	wit_t t;
	wcl_t c;

	wit_init(&t, "bulk");
	bulk_data_dir(&t);
	wit_env(&t, "CHRONIK_WAL_RETENTION_MS=-1");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ms = bulk_run(&c, n, true, 0);
	bulk_report("created", n, ms);
	ck_assert_int_eq(list_count(&c), n);
	/* Nothing on disk yet: a log's directory comes with its first append. */
	ck_assert_int_eq(count_dirs(&t, &left), 0);
	ck_assert_int_eq(left, 0);
	/* Every new log takes appends at once. */
	wit_batch(&b, 3, 20, 7);
	for (int i = 0; i < n; i += step) {
		int64_t base = -1, last = -1;
		bulk_name(name, sizeof(name), i);
		ck_assert_int_eq(wcl_append(&c, name, 0, b.data, b.len, false, 0, &base, &last), 0);
		ck_assert_int_eq(base, 0);
		ck_assert_int_eq(last, 2);
		appended++;
	}
	ck_assert_int_eq(count_dirs(&t, &left), appended);
	ck_assert_int_eq(left, 0);
	/* A crash keeps every log that took an append; the others lived in
	 * memory only (raftd re-creates them when walwriter reconnects). */
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGKILL, 10000), 128 + SIGKILL);
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(list_count(&c), appended);
	bulk_name(name, sizeof(name), 0);
	ck_assert_int_eq(wcl_info(&c, name, 0, &info), 0);
	ck_assert_int_eq(info.log_end_offset, 3);
	ck_assert_int_eq(wit_read_log(t.data, name, 0, NULL, NULL), 3);
	bulk_name(name, sizeof(name), 1);
	ck_assert_int_eq(wcl_info(&c, name, 0, &info), CK_E_NOT_FOUND);
	ck_assert_int_eq(wit_read_log(t.data, name, 0, NULL, NULL), 0);
	ms = bulk_run(&c, n, true, step); /* what reconciliation does */
	ck_assert_int_eq(list_count(&c), n);
	/* And all go at once. */
	ms = bulk_run(&c, n, false, 0);
	bulk_report("deleted", n, ms);
	ck_assert_int_eq(list_count(&c), 0);
	ck_assert_int_eq(count_dirs(&t, &left), 0);
	ck_assert_int_eq(left, 0);
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGTERM, 30000), 0);
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(list_count(&c), 0);
	wcl_close(&c);
	ck_buf_free(&b);
	if (strcmp(t.data + strlen(t.data) - 5, "/data") != 0)
		(void)ck_test_rmtree(t.data);
	wit_cleanup(&t);
}
END_TEST

/* Creates in the middle of a stream of appends: both kinds are answered,
 * the appends in order and complete. */
START_TEST(test_create_while_appending)
{
	Chronik__Wal__WalRequest req;
	Chronik__Wal__Append ap;
	Chronik__Wal__WalRequest creq = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__CreateLog cl = CHRONIK__WAL__CREATE_LOG__INIT;
	ck_buf_t b = CK_BUF_INIT;
	int appends = 0, creates = 0;
	int64_t next_base = 0;
	char name[64];
	wit_t t;
	wcl_t c;

	wit_init(&t, "mixed");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "stream", 0, NULL), 0);
	wit_batch(&b, 2, 50, 3);
	for (int i = 0; i < 200; i++) {
		wcl_append_req(&req, &ap, "stream", 0, b.data, b.len);
		ck_assert_int_gt(wcl_send(&c, &req), 0);
		if (i % 4 == 0) {
			snprintf(name, sizeof(name), "side-%d", i);
			cl.topic = name;
			creq.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CREATE_LOG;
			creq.create_log = &cl;
			ck_assert_int_gt(wcl_send(&c, &creq), 0);
		}
	}
	while (appends < 200 || creates < 50) {
		Chronik__Wal__WalReply *rep = wcl_recv(&c, 60000);
		ck_assert_ptr_nonnull(rep);
		if (rep->correlation_id != 0) {
			ck_assert_int_eq(rep->error, 0);
			if (rep->body_case == CHRONIK__WAL__WAL_REPLY__BODY_APPEND) {
				/* Appends of one log are answered in order. */
				ck_assert_int_eq(rep->append->base_offset, next_base);
				next_base += 2;
				appends++;
			} else {
				ck_assert_int_eq(rep->body_case,
				                 CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO);
				creates++;
			}
		}
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	ck_assert_int_eq(list_count(&c), 51);
	ck_assert_int_eq(wit_read_log(t.data, "stream", 0, NULL, NULL), 400);
	wcl_close(&c);
	ck_buf_free(&b);
	wit_cleanup(&t);
}
END_TEST

/* raftd answers CreateTopics once its CreateLog is on the way: a producer
 * it answered may reach walwriter first, on another connection. Appends
 * that overtake their log's creation wait for it and run in order (the
 * first at offset 0); an append to a log nobody creates gets "no such log"
 * once the wait (500 ms) is over, never earlier. */
START_TEST(test_append_overtakes_create)
{
	Chronik__Wal__WalRequest req;
	Chronik__Wal__Append ap;
	Chronik__Wal__WalReply *rep;
	ck_buf_t b = CK_BUF_INIT;
	int64_t ids[3], next_base = 0;
	uint64_t t0;
	wit_t t;
	wcl_t prod, ctl;

	wit_init(&t, "overtake");
	wit_start_ready(&t);
	wcl_connect(&prod, &t);
	wcl_connect(&ctl, &t);
	wit_batch(&b, 2, 50, 9);
	for (int i = 0; i < 3; i++) {
		wcl_append_req(&req, &ap, "early", 0, b.data, b.len);
		ids[i] = wcl_send(&prod, &req);
		ck_assert_int_gt(ids[i], 0);
	}
	/* Nothing is answered while the log is unknown. */
	rep = wcl_recv(&prod, 100);
	ck_assert_ptr_null(rep);
	ck_assert_int_eq(wcl_create(&ctl, "early", 0, NULL), 0);
	for (int i = 0; i < 3; i++) {
		rep = wcl_recv(&prod, 10000);
		ck_assert_ptr_nonnull(rep);
		ck_assert_int_eq(rep->correlation_id, ids[i]);
		ck_assert_int_eq(rep->error, 0);
		ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_APPEND);
		ck_assert_int_eq(rep->append->base_offset, next_base);
		next_base += 2;
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	ck_assert_int_eq(wit_read_log(t.data, "early", 0, NULL, NULL), 6);
	/* A log nobody creates: not found, after the wait. */
	t0 = ck_clock_mono_ms();
	ck_assert_int_eq(wcl_append(&prod, "never", 0, b.data, b.len, false, 0, NULL, NULL),
	                 CK_E_NOT_FOUND);
	ck_assert_uint_ge(ck_clock_mono_ms() - t0, 450);
	wcl_close(&prod);
	wcl_close(&ctl);
	ck_buf_free(&b);
	wit_cleanup(&t);
}
END_TEST

/* Delete and re-create of one name pipelined behind its creation: each
 * answer is one a client can act on, and what stays matches the last
 * request that succeeded. */
START_TEST(test_create_delete_same_name)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__CreateLog cl = CHRONIK__WAL__CREATE_LOG__INIT;
	Chronik__Wal__DeleteLog dl = CHRONIK__WAL__DELETE_LOG__INIT;
	Chronik__Wal__LogInfo info;
	int errs[3], got = 0;
	int64_t first = -1;
	wit_t t;
	wcl_t c;

	wit_init(&t, "samename");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	cl.topic = dl.topic = "same";
	for (int i = 0; i < 3; i++) {
		int64_t id;
		if (i == 1) {
			req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_LOG;
			req.delete_log = &dl;
		} else {
			req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CREATE_LOG;
			req.create_log = &cl;
		}
		id = wcl_send(&c, &req);
		if (first < 0)
			first = id;
	}
	while (got < 3) {
		Chronik__Wal__WalReply *rep = wcl_recv(&c, 30000);
		ck_assert_ptr_nonnull(rep);
		if (rep->correlation_id != 0) {
			errs[rep->correlation_id - (uint64_t)first] = rep->error;
			got++;
		}
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	/* The first create wins; the delete behind it finds the log busy or
	 * deletes it; the second create then fails or succeeds to match. */
	ck_assert_int_eq(errs[0], 0);
	ck_assert(errs[1] == 0 || errs[1] == CK_E_AGAIN);
	ck_assert_int_eq(errs[2], errs[1] == 0 ? 0 : CK_E_EXISTS);
	ck_assert_int_eq(wcl_info(&c, "same", 0, &info), 0);
	ck_assert_int_eq(list_count(&c), 1);
	/* A ready log deleted and created again in one burst: the deletion
	 * goes first, the new log is empty. */
	ck_buf_t b = CK_BUF_INIT;
	wit_batch(&b, 4, 10, 1);
	ck_assert_int_eq(wcl_append(&c, "same", 0, b.data, b.len, false, 0, NULL, NULL), 0);
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_LOG;
	req.delete_log = &dl;
	first = wcl_send(&c, &req);
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CREATE_LOG;
	req.create_log = &cl;
	ck_assert_int_eq(wcl_send(&c, &req), first + 1);
	for (got = 0; got < 2;) {
		Chronik__Wal__WalReply *rep = wcl_recv(&c, 30000);
		ck_assert_ptr_nonnull(rep);
		if (rep->correlation_id != 0) {
			ck_assert_int_eq(rep->error, 0);
			got++;
		}
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	ck_assert_int_eq(wcl_info(&c, "same", 0, &info), 0);
	ck_assert_int_eq(info.log_end_offset, 0);
	ck_assert_int_eq(wit_read_log(t.data, "same", 0, NULL, NULL), 0);
	ck_buf_free(&b);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

/* Among many logs nobody writes to, the ones written get their zero tail
 * ahead (preallocation), the others stay off the disk, and readers see
 * exactly the batches. */
START_TEST(test_zero_tail_only_where_written)
{
	const char *written[2] = {"zt-3", "zt-40"};
	ck_buf_t b = CK_BUF_INIT;
	char name[64], path[512];
	int64_t size[2] = {0, 0};
	wit_t t;
	wcl_t c;

	wit_init(&t, "zerotail");
	wit_env(&t, "CHRONIK_WAL_PREALLOCATE_BYTES=65536");
	wit_env(&t, "CHRONIK_WAL_RETENTION_MS=-1");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "zt-%d", i);
		ck_assert_int_eq(wcl_create(&c, name, 0, NULL), 0);
	}
	wit_batch(&b, 5, 100, 9);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 4; i++)
			ck_assert_int_eq(
			    wcl_append(&c, written[k], 0, b.data, b.len, false, 0, NULL, NULL), 0);
	for (int w = 0; w < 500 && (size[0] < 32768 || size[1] < 32768); w++) {
		for (int k = 0; k < 2; k++) {
			ck_assert_int_eq(
			    ck_segment_log_dir(path, sizeof(path), t.data, written[k], 0), 0);
			strcat(path, "/00000000000000000000.log");
			size[k] = ck_test_file_size(path);
		}
		ck_test_sleep_ms(10);
	}
	ck_assert_msg(size[0] >= 32768 && size[1] >= 32768, "no zero tail: %lld %lld",
	              (long long)size[0], (long long)size[1]);
	for (int k = 0; k < 2; k++)
		ck_assert_int_eq(wit_read_log(t.data, written[k], 0, NULL, NULL), 20);
	ck_assert_int_eq(wit_read_log(t.data, "zt-0", 0, NULL, NULL), 0);
	ck_assert_int_eq(ck_segment_log_dir(path, sizeof(path), t.data, "zt-0", 0), 0);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_buf_free(&b);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal_create");
	TCase *tc = tcase_create("create");

	tcase_set_timeout(tc, 300);
	ck_test_add_root(tc);
	tcase_add_test(tc, test_bulk_create_restart_delete);
	tcase_add_test(tc, test_create_while_appending);
	tcase_add_test(tc, test_append_overtakes_create);
	tcase_add_test(tc, test_create_delete_same_name);
	tcase_add_test(tc, test_zero_tail_only_where_written);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
