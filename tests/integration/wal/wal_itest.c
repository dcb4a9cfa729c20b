/*
 * wal_itest.c: harness of the walwriter integration tests (wal_itest.h).
 * Starts and stops only the walwriter processes it forked itself, by pid.
 */
#include "wal_itest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_segment.h"

void wit_init(wit_t *t, const char *tag)
{
	char logpath[160], notify[160];

	memset(t, 0, sizeof(*t));
	ck_test_mkdtemp(t->root, sizeof(t->root), tag);
	snprintf(t->data, sizeof(t->data), "%s/data", t->root);
	snprintf(t->sock, sizeof(t->sock), "%s/run/walwriter.sock", t->data);
	snprintf(logpath, sizeof(logpath), "%s/walwriter.log", t->root);
	snprintf(notify, sizeof(notify), "%s/notify", t->root);
	ck_test_proc_init(&t->proc, "walwriter/chronik-walwriter", logpath, notify);
}

void wit_env(wit_t *t, const char *kv)
{
	ck_test_proc_env(&t->proc, kv);
}

void wit_env_clear(wit_t *t)
{
	ck_test_proc_env_clear(&t->proc);
}

void wit_start_args(wit_t *t, const char *extra_arg, const char *extra_val)
{
	const char *args[] = {"--data-dir", t->data, extra_arg, extra_val, NULL};

	ck_test_proc_start(&t->proc, args);
}

int wit_wait_exit(wit_t *t, int timeout_ms)
{
	return ck_test_proc_wait_exit(&t->proc, timeout_ms);
}

int wit_wait_ready(wit_t *t, int timeout_ms)
{
	return ck_test_proc_wait_ready(&t->proc, timeout_ms);
}

void wit_start_ready(wit_t *t)
{
	wit_start(t);
	ck_assert_msg(wit_wait_ready(t, 30000) == 0, "walwriter did not report READY=1");
}

int wit_stop(wit_t *t, int sig, int timeout_ms)
{
	return ck_test_proc_stop(&t->proc, sig, timeout_ms);
}

void wit_cleanup(wit_t *t)
{
	ck_test_proc_cleanup(&t->proc);
	if (t->root[0] && !ck_test_keep())
		(void)ck_test_rmtree(t->root);
	t->root[0] = '\0';
}

size_t wit_log_size(const wit_t *t)
{
	int64_t n = ck_test_file_size(t->proc.logpath);

	return n > 0 ? (size_t)n : 0;
}

bool wit_log_has_after(const wit_t *t, size_t from, const char *needle)
{
	size_t len;
	char *s = ck_test_read_text(t->proc.logpath, &len);
	bool found = from <= len && strstr(s + from, needle) != NULL;

	free(s);
	return found;
}

int wit_log_count(const wit_t *t, ...)
{
	size_t len;
	char *s = ck_test_read_text(t->proc.logpath, &len), *line, *save = NULL;
	int count = 0;

	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		va_list ap;
		const char *needle;
		bool all = true;
		va_start(ap, t);
		while ((needle = va_arg(ap, const char *)) != NULL)
			if (!strstr(line, needle))
				all = false;
		va_end(ap);
		count += all;
	}
	free(s);
	return count;
}

/* ---- client ---- */

void wcl_connect(wcl_t *c, const wit_t *t)
{
	memset(c, 0, sizeof(*c));
	ck_buf_init(&c->frame);
	ck_assert_int_eq(ck_ipc_sync_connect(t->sock, 10000, &c->fd), 0);
	c->next_id = 1;
}

void wcl_close(wcl_t *c)
{
	if (c->fd > 0)
		(void)close(c->fd);
	c->fd = -1;
	ck_buf_free(&c->frame);
}

int64_t wcl_send(wcl_t *c, Chronik__Wal__WalRequest *req)
{
	req->correlation_id = c->next_id++;
	if (ck_ipc_sync_send_msg(c->fd, &req->base) < 0)
		return -1;
	return (int64_t)req->correlation_id;
}

Chronik__Wal__WalReply *wcl_recv(wcl_t *c, int timeout_ms)
{
	if (ck_ipc_sync_recv(c->fd, 0, timeout_ms, &c->frame) < 0)
		return NULL;
	return chronik__wal__wal_reply__unpack(NULL, c->frame.len, c->frame.data);
}

Chronik__Wal__WalReply *wcl_call(wcl_t *c, Chronik__Wal__WalRequest *req, int timeout_ms)
{
	int64_t id = wcl_send(c, req);
	Chronik__Wal__WalReply *rep;

	if (id < 0)
		return NULL;
	while ((rep = wcl_recv(c, timeout_ms)) != NULL) {
		if (rep->correlation_id == (uint64_t)id)
			return rep;
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	return NULL;
}

static int wcl_simple(wcl_t *c, Chronik__Wal__WalRequest *req, Chronik__Wal__WalReply **ret)
{
	Chronik__Wal__WalReply *rep = wcl_call(c, req, 30000);
	int err;

	if (!rep)
		return -1;
	err = rep->error;
	if (ret)
		*ret = rep;
	else
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	return err;
}

int wcl_create(wcl_t *c, const char *topic, int32_t part, const Chronik__Wal__LogConfig *cfg)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__CreateLog m = CHRONIK__WAL__CREATE_LOG__INIT;

	m.topic = (char *)topic;
	m.partition = part;
	m.config = (Chronik__Wal__LogConfig *)cfg;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CREATE_LOG;
	req.create_log = &m;
	return wcl_simple(c, &req, NULL);
}

int wcl_delete(wcl_t *c, const char *topic, int32_t part)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__DeleteLog m = CHRONIK__WAL__DELETE_LOG__INIT;

	m.topic = (char *)topic;
	m.partition = part;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_LOG;
	req.delete_log = &m;
	return wcl_simple(c, &req, NULL);
}

int wcl_configure(wcl_t *c, const char *topic, int32_t part, const Chronik__Wal__LogConfig *cfg,
                  Chronik__Wal__LogInfo *ret)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__ConfigureLog m = CHRONIK__WAL__CONFIGURE_LOG__INIT;
	Chronik__Wal__WalReply *rep = NULL;
	int err;

	m.topic = (char *)topic;
	m.partition = part;
	m.config = (Chronik__Wal__LogConfig *)cfg;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CONFIGURE_LOG;
	req.configure_log = &m;
	err = wcl_simple(c, &req, &rep);
	if (err == 0 && ret) {
		ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO);
		*ret = *rep->log_info;
		ret->topic = NULL; /* freed with the reply */
	}
	if (rep)
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	return err;
}

void wcl_append_req(Chronik__Wal__WalRequest *req, Chronik__Wal__Append *ap, const char *topic,
                    int32_t part, const void *batches, size_t len)
{
	chronik__wal__wal_request__init(req);
	chronik__wal__append__init(ap);
	ap->topic = (char *)topic;
	ap->partition = part;
	ap->batches.data = (uint8_t *)batches;
	ap->batches.len = len;
	req->body_case = CHRONIK__WAL__WAL_REQUEST__BODY_APPEND;
	req->append = ap;
}

int wcl_append(wcl_t *c, const char *topic, int32_t part, const void *batches, size_t len,
               bool replica, int32_t epoch, int64_t *ret_base, int64_t *ret_last)
{
	Chronik__Wal__WalRequest req;
	Chronik__Wal__Append ap;
	Chronik__Wal__WalReply *rep = NULL;
	int err;

	wcl_append_req(&req, &ap, topic, part, batches, len);
	ap.replica = replica;
	ap.leader_epoch = epoch;
	err = wcl_simple(c, &req, &rep);
	if (err < 0 && !rep)
		return err;
	if (err == 0) {
		ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_APPEND);
		if (ret_base)
			*ret_base = rep->append->base_offset;
		if (ret_last)
			*ret_last = rep->append->last_offset;
	}
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	return err;
}

int wcl_truncate(wcl_t *c, const char *topic, int32_t part, int64_t offset, int64_t *ret_end)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__Truncate m = CHRONIK__WAL__TRUNCATE__INIT;
	Chronik__Wal__WalReply *rep = NULL;
	int err;

	m.topic = (char *)topic;
	m.partition = part;
	m.offset = offset;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_TRUNCATE;
	req.truncate = &m;
	err = wcl_simple(c, &req, &rep);
	if (!rep)
		return err;
	if (err == 0 && ret_end) {
		ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO);
		*ret_end = rep->log_info->log_end_offset;
	}
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	return err;
}

static int wcl_delrec(wcl_t *c, const char *topic, int32_t part, int64_t before, bool start_over,
                      int64_t *ret_start)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__DeleteRecords m = CHRONIK__WAL__DELETE_RECORDS__INIT;
	Chronik__Wal__WalReply *rep = NULL;
	int err;

	m.topic = (char *)topic;
	m.partition = part;
	m.before_offset = before;
	m.start_over = start_over;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_RECORDS;
	req.delete_records = &m;
	err = wcl_simple(c, &req, &rep);
	if (!rep)
		return err;
	if (err == 0) {
		ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO);
		if (ret_start)
			*ret_start = rep->log_info->log_start_offset;
	} else {
		ck_assert_ptr_nonnull(rep->error_message);
		ck_assert_int_gt((int)strlen(rep->error_message), 0);
	}
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	return err;
}

int wcl_delete_records(wcl_t *c, const char *topic, int32_t part, int64_t before,
                       int64_t *ret_start)
{
	return wcl_delrec(c, topic, part, before, false, ret_start);
}

int wcl_start_over(wcl_t *c, const char *topic, int32_t part, int64_t at, int64_t *ret_start)
{
	return wcl_delrec(c, topic, part, at, true, ret_start);
}

int wcl_info(wcl_t *c, const char *topic, int32_t part, Chronik__Wal__LogInfo *ret)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__GetLogInfo m = CHRONIK__WAL__GET_LOG_INFO__INIT;
	Chronik__Wal__WalReply *rep = NULL;
	int err;

	m.topic = (char *)topic;
	m.partition = part;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_LOG_INFO;
	req.log_info = &m;
	err = wcl_simple(c, &req, &rep);
	if (!rep)
		return err;
	if (err == 0) {
		ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO);
		*ret = *rep->log_info;
		ret->topic = NULL; /* owned by REP */
		ret->topic_id = (ProtobufCBinaryData){0, NULL};
	}
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	return err;
}

/* ---- reading logs back ---- */

/* Reads one segment whose first batch must carry EXPECT; returns the end. */
static int64_t wit_read_segment(const char *dir, int64_t base, int64_t expect, ck_buf_t *out)
{
	ck_segment_t seg;
	ck_segment_iter_t it;
	int r;

	ck_assert_int_eq(ck_segment_open(dir, base, &seg), 0);
	ck_assert_int_eq(
	    ck_segment_iter_init(&it, &seg, 0, UINT64_MAX, INT64_MAX, CK_SEGMENT_VERIFY_CRC), 0);
	while ((r = ck_segment_iter_next(&it)) == 1) {
		ck_assert_msg(it.hdr.base_offset == expect,
		              "offsets not contiguous: segment %lld batch %lld expected %lld",
		              (long long)base, (long long)it.hdr.base_offset, (long long)expect);
		expect = ck_batch_next_offset(&it.hdr);
		if (out)
			ck_assert_int_eq(ck_segment_iter_read(&it, out), 0);
	}
	ck_assert_msg(r == 0, "corrupt batch in segment %lld at %llu: %s", (long long)base,
	              (unsigned long long)it.pos, it.reason ? it.reason : "?");
	ck_assert_msg(it.end == CK_SEGMENT_END_EOF || it.end == CK_SEGMENT_END_ZERO,
	              "segment %lld ends in a partial batch at %llu (end %d)", (long long)base,
	              (unsigned long long)it.pos, it.end);
	ck_segment_iter_done(&it);
	ck_segment_close(&seg);
	return expect;
}

/* The directory of log TOPIC-PART into DIR (512 bytes) and its segment
 * bases (free them); asserts there is at least one, unless there is no
 * directory at all (0, as readers take it: an empty log). Returns how
 * many. */
static int wit_segments(const char *data_dir, const char *topic, int32_t part, char *dir,
                        int64_t **ret_bases)
{
	int n;

	ck_assert_int_eq(ck_segment_log_dir(dir, 512, data_dir, topic, part), 0);
	n = ck_segment_list(dir, ret_bases);
	if (n == -ENOENT) /* a new log: on disk with its first append */
		return 0;
	ck_assert_int_ge(n, 1);
	return n;
}

int64_t wit_read_log(const char *data_dir, const char *topic, int32_t part, ck_buf_t *out,
                     int64_t *ret_start)
{
	char dir[512];
	int64_t *bases = NULL, end;
	int n = wit_segments(data_dir, topic, part, dir, &bases);

	if (n == 0) {
		if (ret_start)
			*ret_start = 0;
		return 0;
	}
	if (ret_start)
		*ret_start = bases[0];
	end = bases[0];
	for (int i = 0; i < n; i++) {
		ck_assert_msg(bases[i] == end, "segment %lld does not continue the log at %lld",
		              (long long)bases[i], (long long)end);
		end = wit_read_segment(dir, bases[i], end, out);
	}
	free(bases);
	return end;
}

int wit_read_batch(const char *data_dir, const char *topic, int32_t part, int64_t offset,
                   ck_buf_t *out)
{
	char dir[512];
	int64_t *bases = NULL;
	ck_segment_t seg;
	ck_segment_iter_t it;
	uint64_t pos;
	ck_batch_header_t h;
	ssize_t k;
	int n = wit_segments(data_dir, topic, part, dir, &bases), r = 0;

	k = ck_segment_pick(bases, (size_t)n, offset);
	if (k < 0) {
		free(bases);
		return 0;
	}
	ck_assert_int_eq(ck_segment_open(dir, bases[k], &seg), 0);
	if (ck_segment_find(&seg, offset, UINT64_MAX, &pos, &h) == 1 && h.base_offset == offset) {
		ck_assert_int_eq(ck_segment_iter_init(&it, &seg, pos, UINT64_MAX, INT64_MAX,
		                                      CK_SEGMENT_VERIFY_CRC),
		                 0);
		it.next_offset = offset;
		if (ck_segment_iter_next(&it) == 1) {
			ck_assert_int_eq(ck_segment_iter_read(&it, out), 0);
			r = 1;
		}
		ck_segment_iter_done(&it);
	}
	ck_segment_close(&seg);
	free(bases);
	return r;
}

size_t wit_batch(ck_buf_t *out, int nrecs, size_t value_len, uint32_t seed)
{
	ck_batch_builder_t b;
	uint8_t *val = malloc(value_len + 1);
	char key[32];
	size_t len = 0;

	ck_assert_ptr_nonnull(val);
	ck_assert_int_eq(ck_batch_builder_begin(&b, out, NULL), 0);
	for (int i = 0; i < nrecs; i++) {
		ck_batch_record_t r = {0};
		for (size_t k = 0; k < value_len; k++)
			val[k] = (uint8_t)(seed * 2654435761u + (uint32_t)i * 40503u + k);
		snprintf(key, sizeof(key), "%u-%d", seed, i);
		r.key = key;
		r.key_len = strlen(key);
		r.value = val;
		r.value_len = value_len;
		r.timestamp_ms = 1700000000000LL + seed;
		ck_assert_int_eq(ck_batch_builder_add(&b, &r), 0);
	}
	ck_assert_int_eq(ck_batch_builder_finish(&b, &len), 0);
	free(val);
	return len;
}
