/*
 * wal_itest.c: harness of the walwriter integration tests (wal_itest.h).
 * Starts and stops only the walwriter processes it forked itself, by pid.
 */
#include "wal_itest.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_notify.h"
#include "ck_segment.h"

uint64_t wit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int wit_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static char wit_base[64];

static void wit_base_setup(void)
{
	snprintf(wit_base, sizeof(wit_base), "/tmp/wal-it-XXXXXX");
	if (!mkdtemp(wit_base)) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
}

/* CHRONIK_TEST_KEEP=1 keeps the temp dirs (and walwriter's logs) for a look. */
static bool wit_keep(void)
{
	const char *k = getenv("CHRONIK_TEST_KEEP");
	return k && k[0] == '1';
}

static void wit_base_teardown(void)
{
	if (!wit_keep())
		(void)nftw(wit_base, wit_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	wit_base[0] = '\0';
}

void wit_add_base_fixture(TCase *tc)
{
	tcase_add_unchecked_fixture(tc, wit_base_setup, wit_base_teardown);
}

void wit_init(wit_t *t, const char *tag)
{
	memset(t, 0, sizeof(*t));
	if (wit_base[0])
		snprintf(t->root, sizeof(t->root), "%s/%s-XXXXXX", wit_base, tag);
	else
		snprintf(t->root, sizeof(t->root), "/tmp/wal-it-%s-XXXXXX", tag);
	ck_assert_ptr_nonnull(mkdtemp(t->root));
	snprintf(t->data, sizeof(t->data), "%s/data", t->root);
	snprintf(t->logpath, sizeof(t->logpath), "%s/walwriter.log", t->root);
	snprintf(t->sock, sizeof(t->sock), "%s/run/walwriter.sock", t->data);
	snprintf(t->notify, sizeof(t->notify), "%s/notify", t->root);
	ck_assert_int_eq(ck_notify_listen(t->notify, &t->notify_fd), 0);
}

void wit_env(wit_t *t, const char *kv)
{
	ck_assert_int_lt(t->nenv, WIT_ENV_MAX);
	t->env[t->nenv++] = strdup(kv);
}

void wit_env_clear(wit_t *t)
{
	for (int i = 0; i < t->nenv; i++)
		free(t->env[i]);
	t->nenv = 0;
}

int64_t wit_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static const char *wit_binary(void)
{
	static char path[512];
	const char *root = getenv("CHRONIK_BUILD_ROOT");

	ck_assert_msg(root != NULL, "CHRONIK_BUILD_ROOT is not set");
	snprintf(path, sizeof(path), "%s/walwriter/chronik-walwriter", root);
	return path;
}

void wit_start_args(wit_t *t, const char *extra_arg, const char *extra_val)
{
	const char *bin = wit_binary();
	char nenv[200];
	pid_t parent = getpid();
	pid_t pid;

	ck_assert_int_eq(t->pid, 0);
	snprintf(nenv, sizeof(nenv), "NOTIFY_SOCKET=%s", t->notify);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(t->logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		/* CHRONIK_TEST_VALGRIND=1 runs walwriter under memcheck (its
		 * report lands in walwriter.log). */
		const char *vg_env = getenv("CHRONIK_TEST_VALGRIND");
		bool vg = vg_env && vg_env[0] == '1';
		/* Never outlive the test, even when it fails half-way. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(127);
		for (char **e = environ; *e;) {
			if (!strncmp(*e, "CHRONIK_", 8) && strncmp(*e, "CHRONIK_BUILD_ROOT=", 19)) {
				char name[128];
				size_t n = strcspn(*e, "=");
				snprintf(name, sizeof(name), "%.*s", (int)n, *e);
				unsetenv(name);
				continue;
			}
			e++;
		}
		putenv(nenv);
		for (int i = 0; i < t->nenv; i++)
			putenv(t->env[i]);
		if (t->pass_fds) {
			char pidenv[32];
			/* Out of the way first: either may already sit at 3 or 4. */
			int l = fcntl(t->pass_listen_fd, F_DUPFD, 100);
			int sup = fcntl(t->pass_sup_fd, F_DUPFD, 100);
			if (l < 0 || sup < 0 || dup2(l, 3) < 0 || dup2(sup, 4) < 0)
				_exit(127);
			snprintf(pidenv, sizeof(pidenv), "%d", (int)getpid());
			setenv("LISTEN_PID", pidenv, 1);
			setenv("LISTEN_FDS", "2", 1);
			setenv("LISTEN_FDNAMES", "walwriter:supervisor", 1);
		}
		const char *argv[16];
		int argc = 0;
		if (vg) {
			argv[argc++] = "valgrind";
			argv[argc++] = "--leak-check=full";
			argv[argc++] = "--errors-for-leak-kinds=definite";
			argv[argc++] = "--error-exitcode=99";
		}
		argv[argc++] = bin;
		argv[argc++] = "--data-dir";
		argv[argc++] = t->data;
		if (extra_arg) {
			argv[argc++] = extra_arg;
			argv[argc++] = extra_val;
		}
		argv[argc] = NULL;
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	t->pid = pid;
}

static int wit_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

int wit_wait_exit(wit_t *t, int timeout_ms)
{
	uint64_t deadline = wit_now_ms() + (uint64_t)timeout_ms;
	int st;

	if (t->pid == 0)
		return -1;
	for (;;) {
		pid_t r = waitpid(t->pid, &st, WNOHANG);
		if (r == t->pid) {
			t->pid = 0;
			return wit_status(st);
		}
		if (wit_now_ms() >= deadline)
			return -1;
		usleep(2000);
	}
}

int wit_wait_ready(wit_t *t, int timeout_ms)
{
	uint64_t deadline = wit_now_ms() + (uint64_t)timeout_ms;
	char buf[512];
	pid_t from;

	while (wit_now_ms() < deadline) {
		struct pollfd p = {t->notify_fd, POLLIN, 0};
		int n = poll(&p, 1, 20);
		if (n > 0 && ck_notify_recv(t->notify_fd, buf, sizeof(buf), &from) > 0) {
			if (from == t->pid && ck_notify_field(buf, "READY", buf, sizeof(buf)) &&
			    !strcmp(buf, "1"))
				return 0;
			continue;
		}
		if (waitpid(t->pid, &(int){0}, WNOHANG) == t->pid) {
			t->pid = 0;
			return -1;
		}
	}
	return -1;
}

void wit_start_ready(wit_t *t)
{
	wit_start(t);
	ck_assert_msg(wit_wait_ready(t, 30000) == 0, "walwriter did not report READY=1");
}

int wit_stop(wit_t *t, int sig, int timeout_ms)
{
	int r;

	if (t->pid == 0)
		return -1;
	(void)kill(t->pid, sig);
	r = wit_wait_exit(t, timeout_ms);
	if (r < 0 && t->pid) {
		(void)kill(t->pid, SIGKILL);
		r = wit_wait_exit(t, 10000);
	}
	return r;
}

void wit_cleanup(wit_t *t)
{
	if (t->pid)
		(void)wit_stop(t, SIGKILL, 5000);
	if (t->notify_fd > 0)
		(void)close(t->notify_fd);
	t->notify_fd = 0;
	wit_env_clear(t);
	if (t->root[0] && !wit_keep())
		(void)nftw(t->root, wit_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	t->root[0] = '\0';
}

static char *wit_log_read(const wit_t *t, size_t *ret_len)
{
	FILE *f = fopen(t->logpath, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char tmp[65536];

	if (!f) {
		*ret_len = 0;
		return strdup("");
	}
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			buf = realloc(buf, cap);
		}
		memcpy(buf + len, tmp, n);
		len += n;
	}
	fclose(f);
	if (!buf)
		buf = strdup("");
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

size_t wit_log_size(const wit_t *t)
{
	struct stat st;
	return stat(t->logpath, &st) == 0 ? (size_t)st.st_size : 0;
}

bool wit_log_has_after(const wit_t *t, size_t from, const char *needle)
{
	size_t len;
	char *s = wit_log_read(t, &len);
	bool found = from <= len && strstr(s + from, needle) != NULL;

	free(s);
	return found;
}

int wit_log_count(const wit_t *t, ...)
{
	size_t len;
	char *s = wit_log_read(t, &len), *line, *save = NULL;
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

int64_t wit_read_log(const char *data_dir, const char *topic, int32_t part, ck_buf_t *out,
                     int64_t *ret_start)
{
	char dir[512];
	int64_t *bases = NULL, end;
	int n;

	ck_assert_int_eq(ck_segment_log_dir(dir, sizeof(dir), data_dir, topic, part), 0);
	n = ck_segment_list(dir, &bases);
	ck_assert_int_ge(n, 1);
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
	int n, r = 0;

	ck_assert_int_eq(ck_segment_log_dir(dir, sizeof(dir), data_dir, topic, part), 0);
	n = ck_segment_list(dir, &bases);
	ck_assert_int_ge(n, 1);
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
