/*
 * test_wal_topic_id.c: a log remembers the topic incarnation (topic id) it
 * was created for, and a DeleteLog naming another incarnation spares it
 * (raftd replaying an old DeleteTopic after the name was created again).
 * A real chronik-walwriter on a temp data dir, through the harness of the
 * walwriter integration tests (tests/integration/wal/wal_itest.h): the
 * spared log keeps its data and answers success with one log line, the
 * right id or no id deletes, the id survives a crash and a restart, a log
 * nobody appended to (memory only) honours it too, a log created without
 * an id deletes as before, CreateLog of an existing log stays EXISTS, and
 * an id of another length than 16 bytes is refused, and a leader append
 * naming another incarnation than its log's is refused.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ck_err.h"
#include "wal_itest.h"

#define KEPT_LINE "kept: DeleteLog names an older incarnation"

static const uint8_t id_a[16] = {0xa1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t id_b[16] = {0xb2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static ProtobufCBinaryData id_field(const uint8_t *id, size_t len)
{
	return (ProtobufCBinaryData){id ? len : 0, (uint8_t *)id};
}

/* CreateLog (DEL false) or DeleteLog (DEL true) of TOPIC-PART with ID
 * (LEN bytes; NULL = none); returns the reply's error and, for a delete
 * that succeeded, checks the reply names the log. */
static int id_call(wcl_t *c, bool del, const char *topic, int32_t part, const uint8_t *id,
                   size_t len)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__CreateLog cm = CHRONIK__WAL__CREATE_LOG__INIT;
	Chronik__Wal__DeleteLog dm = CHRONIK__WAL__DELETE_LOG__INIT;
	Chronik__Wal__WalReply *rep;
	int err;

	if (del) {
		dm.topic = (char *)topic;
		dm.partition = part;
		dm.topic_id = id_field(id, len);
		req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_LOG;
		req.delete_log = &dm;
	} else {
		cm.topic = (char *)topic;
		cm.partition = part;
		cm.topic_id = id_field(id, len);
		req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CREATE_LOG;
		req.create_log = &cm;
	}
	rep = wcl_call(c, &req, 30000);
	ck_assert_ptr_nonnull(rep);
	err = rep->error;
	if (del && err == 0) {
		ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO);
		ck_assert_str_eq(rep->log_info->topic, topic);
		ck_assert_int_eq(rep->log_info->partition, part);
	}
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	return err;
}

static int create_id(wcl_t *c, const char *topic, int32_t part, const uint8_t *id, size_t len)
{
	return id_call(c, false, topic, part, id, len);
}

static int delete_id(wcl_t *c, const char *topic, int32_t part, const uint8_t *id, size_t len)
{
	return id_call(c, true, topic, part, id, len);
}

/* GetLogInfo: the error; on success *RET_END and the id the log reports
 * (*RET_LEN bytes into RET_ID, 0 = unknown). */
static int info_id(wcl_t *c, const char *topic, int32_t part, int64_t *ret_end, uint8_t *ret_id,
                   size_t *ret_len)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__GetLogInfo m = CHRONIK__WAL__GET_LOG_INFO__INIT;
	Chronik__Wal__WalReply *rep;
	int err;

	m.topic = (char *)topic;
	m.partition = part;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_LOG_INFO;
	req.log_info = &m;
	rep = wcl_call(c, &req, 30000);
	ck_assert_ptr_nonnull(rep);
	err = rep->error;
	if (err == 0) {
		ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO);
		ck_assert_uint_le(rep->log_info->topic_id.len, 16);
		*ret_end = rep->log_info->log_end_offset;
		*ret_len = rep->log_info->topic_id.len;
		if (*ret_len)
			memcpy(ret_id, rep->log_info->topic_id.data, *ret_len);
	}
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	return err;
}

/* Asserts the log is there with END and reports ID (NULL = unknown). */
static void assert_log(wcl_t *c, const char *topic, int64_t end, const uint8_t *id)
{
	uint8_t got[16];
	size_t len = 99;
	int64_t e = -1;

	ck_assert_int_eq(info_id(c, topic, 0, &e, got, &len), 0);
	ck_assert_int_eq(e, end);
	ck_assert_uint_eq(len, id ? 16 : 0);
	if (id)
		ck_assert_mem_eq(got, id, 16);
}

static void assert_gone(wcl_t *c, const wit_t *t, const char *topic)
{
	uint8_t got[16];
	size_t len;
	int64_t e;

	ck_assert_int_eq(info_id(c, topic, 0, &e, got, &len), CK_E_NOT_FOUND);
	ck_assert_int_eq(wit_read_log(t->data, topic, 0, NULL, NULL), 0);
}

static bool log_file_exists(const wit_t *t, const char *log, const char *file)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/log/%s%s%s", t->data, log, file ? "/" : "", file ? file : "");
	return access(p, F_OK) == 0;
}

static void append3(wcl_t *c, const char *topic)
{
	ck_buf_t b = CK_BUF_INIT;
	int64_t base = -1, last = -1;

	wit_batch(&b, 3, 20, 11);
	ck_assert_int_eq(wcl_append(c, topic, 0, b.data, b.len, false, 0, &base, &last), 0);
	ck_assert_int_eq(last - base, 2);
	ck_buf_free(&b);
}

/* Another incarnation's DeleteLog keeps the log and its data; the right
 * id deletes; so does no id. */
START_TEST(test_delete_spares_other_incarnation)
{
	wit_t t;
	wcl_t c;

	wit_init(&t, "tid");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(create_id(&c, "x", 0, id_a, 16), 0);
	append3(&c, "x");
	ck_assert(log_file_exists(&t, "x-0", "topic.id"));
	assert_log(&c, "x", 3, id_a);
	ck_assert_int_eq(delete_id(&c, "x", 0, id_b, 16), 0);
	assert_log(&c, "x", 3, id_a);
	ck_assert_int_eq(wit_read_log(t.data, "x", 0, NULL, NULL), 3);
	ck_assert_int_eq(wit_log_count(&t, KEPT_LINE, "log=x-0", (char *)NULL), 1);
	/* Still serving. */
	append3(&c, "x");
	ck_assert_int_eq(delete_id(&c, "x", 0, id_a, 16), 0);
	assert_gone(&c, &t, "x");
	ck_assert(!log_file_exists(&t, "x-0", NULL));
	/* Created again; a DeleteLog without an id deletes whatever the log's. */
	ck_assert_int_eq(create_id(&c, "x", 0, id_b, 16), 0);
	append3(&c, "x");
	ck_assert_int_eq(delete_id(&c, "x", 0, NULL, 0), 0);
	assert_gone(&c, &t, "x");
	ck_assert_int_eq(wit_log_count(&t, KEPT_LINE, (char *)NULL), 1);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

/* The id is on disk with the log: after a crash and a restart another
 * incarnation's DeleteLog still keeps it. A log created without an id
 * (as before ids) deletes whatever id a DeleteLog names. */
START_TEST(test_id_survives_restart)
{
	wit_t t;
	wcl_t c;

	wit_init(&t, "tidrestart");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(create_id(&c, "y", 0, id_a, 16), 0);
	append3(&c, "y");
	ck_assert_int_eq(create_id(&c, "old", 0, NULL, 0), 0);
	append3(&c, "old");
	assert_log(&c, "old", 3, NULL);
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGKILL, 10000), 128 + SIGKILL);
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	assert_log(&c, "y", 3, id_a);
	ck_assert_int_eq(delete_id(&c, "y", 0, id_b, 16), 0);
	assert_log(&c, "y", 3, id_a);
	ck_assert_int_eq(wit_read_log(t.data, "y", 0, NULL, NULL), 3);
	ck_assert_int_eq(wit_log_count(&t, KEPT_LINE, "log=y-0", (char *)NULL), 1);
	assert_log(&c, "old", 3, NULL);
	ck_assert_int_eq(delete_id(&c, "old", 0, id_b, 16), 0);
	assert_gone(&c, &t, "old");
	/* A clean stop and start: the same. */
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGTERM, 30000), 0);
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(delete_id(&c, "y", 0, id_b, 16), 0);
	assert_log(&c, "y", 3, id_a);
	ck_assert_int_eq(delete_id(&c, "y", 0, id_a, 16), 0);
	assert_gone(&c, &t, "y");
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

/* A log nobody appended to lives in memory only; it honours its id all
 * the same, and its first append writes the id with the directory. */
START_TEST(test_pending_log_honours_id)
{
	wit_t t;
	wcl_t c;

	wit_init(&t, "tidpending");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(create_id(&c, "z", 0, id_a, 16), 0);
	ck_assert_int_eq(delete_id(&c, "z", 0, id_b, 16), 0);
	assert_log(&c, "z", 0, id_a);
	ck_assert(!log_file_exists(&t, "z-0", NULL)); /* still nothing on disk */
	ck_assert_int_eq(delete_id(&c, "z", 0, id_a, 16), 0);
	assert_gone(&c, &t, "z");
	/* Spared while pending, then appended to: the id goes to disk and
	 * holds after a restart. */
	ck_assert_int_eq(create_id(&c, "w", 0, id_a, 16), 0);
	ck_assert_int_eq(delete_id(&c, "w", 0, id_b, 16), 0);
	append3(&c, "w");
	ck_assert(log_file_exists(&t, "w-0", "topic.id"));
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGKILL, 10000), 128 + SIGKILL);
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(delete_id(&c, "w", 0, id_b, 16), 0);
	assert_log(&c, "w", 3, id_a);
	ck_assert_int_eq(wit_log_count(&t, KEPT_LINE, (char *)NULL), 3);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

/* A leader Append names the incarnation it is for: walwriter takes it
 * for the log's id or none (16 zero bytes are none), refuses another id
 * (CK_E_NOT_FOUND: the topic was created again; nothing written) and an
 * id of another length; also after a restart, the id read from disk. */
static int append_id(wcl_t *c, const char *topic, const uint8_t *id, size_t len)
{
	Chronik__Wal__WalRequest req;
	Chronik__Wal__Append ap;
	Chronik__Wal__WalReply *rep;
	ck_buf_t b = CK_BUF_INIT;
	int err;

	wit_batch(&b, 2, 20, 5);
	wcl_append_req(&req, &ap, topic, 0, b.data, b.len);
	ap.topic_id = id_field(id, len);
	rep = wcl_call(c, &req, 30000);
	ck_assert_ptr_nonnull(rep);
	err = rep->error;
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	ck_buf_free(&b);
	return err;
}

START_TEST(test_append_names_incarnation)
{
	static const uint8_t zero[16] = {0};
	wit_t t;
	wcl_t c;

	wit_init(&t, "tidappend");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(create_id(&c, "a", 0, id_a, 16), 0);
	ck_assert_int_eq(append_id(&c, "a", id_b, 16), CK_E_NOT_FOUND);
	assert_log(&c, "a", 0, id_a);
	ck_assert_int_eq(append_id(&c, "a", id_a, 16), 0);
	ck_assert_int_eq(append_id(&c, "a", NULL, 0), 0);
	ck_assert_int_eq(append_id(&c, "a", zero, 16), 0);
	ck_assert_int_eq(append_id(&c, "a", id_a, 15), CK_E_INVALID);
	ck_assert_int_eq(append_id(&c, "a", id_b, 16), CK_E_NOT_FOUND);
	assert_log(&c, "a", 6, id_a);
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&t, SIGKILL, 10000), 128 + SIGKILL);
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(append_id(&c, "a", id_b, 16), CK_E_NOT_FOUND);
	ck_assert_int_eq(append_id(&c, "a", id_a, 16), 0);
	assert_log(&c, "a", 8, id_a);
	ck_assert_int_eq(wit_read_log(t.data, "a", 0, NULL, NULL), 8);
	/* A log created without an id takes any. */
	ck_assert_int_eq(create_id(&c, "n", 0, NULL, 0), 0);
	ck_assert_int_eq(append_id(&c, "n", id_b, 16), 0);
	assert_log(&c, "n", 2, NULL);
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

/* CreateLog of an existing log answers EXISTS whatever the id and changes
 * nothing; an id of another length is refused; 16 zero bytes are none. */
START_TEST(test_create_exists_and_bad_ids)
{
	static const uint8_t zero[16] = {0};
	uint8_t long_id[17];
	wit_t t;
	wcl_t c;

	wit_init(&t, "tidexists");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(create_id(&c, "e", 0, id_a, 16), 0);
	ck_assert_int_eq(create_id(&c, "e", 0, id_b, 16), CK_E_EXISTS);
	ck_assert_int_eq(create_id(&c, "e", 0, NULL, 0), CK_E_EXISTS);
	assert_log(&c, "e", 0, id_a);
	ck_assert_int_eq(delete_id(&c, "e", 0, id_b, 16), 0);
	assert_log(&c, "e", 0, id_a);
	ck_assert_int_eq(create_id(&c, "f", 0, id_a, 15), CK_E_INVALID);
	assert_gone(&c, &t, "f");
	memcpy(long_id, id_a, sizeof(id_a));
	long_id[16] = 0x77;
	ck_assert_int_eq(delete_id(&c, "e", 0, long_id, sizeof(long_id)), CK_E_INVALID);
	assert_log(&c, "e", 0, id_a);
	/* A zero id is no id: the log's stays unknown, and deletes. */
	ck_assert_int_eq(create_id(&c, "g", 0, zero, 16), 0);
	assert_log(&c, "g", 0, NULL);
	ck_assert_int_eq(delete_id(&c, "g", 0, id_b, 16), 0);
	assert_gone(&c, &t, "g");
	ck_assert_int_eq(delete_id(&c, "e", 0, zero, 16), 0);
	assert_gone(&c, &t, "e");
	wcl_close(&c);
	wit_cleanup(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal_topic_id");
	TCase *tc = tcase_create("topic_id");

	tcase_set_timeout(tc, 120);
	ck_test_add_root(tc);
	tcase_add_test(tc, test_delete_spares_other_incarnation);
	tcase_add_test(tc, test_id_survives_restart);
	tcase_add_test(tc, test_pending_log_honours_id);
	tcase_add_test(tc, test_create_exists_and_bad_ids);
	tcase_add_test(tc, test_append_names_incarnation);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
