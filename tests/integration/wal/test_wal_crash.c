/*
 * test_wal_crash.c: crash durability of a real chronik-walwriter.
 *
 * A client appends batches of known contents (three logs, sizes from a few
 * bytes to several KiB, pipelined) while a second thread SIGKILLs walwriter
 * at a random moment (sometimes during its recovery), at least 50 times,
 * restarting it each time. After every restart: every acknowledged append is
 * present byte for byte at the offset it was acknowledged with, offsets are
 * contiguous, every segment ends on a whole batch (nothing partial is
 * readable through ck_segment), and walwriter's own view agrees with the
 * files. Small segments, a short checkpoint interval and preallocation make
 * kills land in rolls, checkpoints and zero-filling too. Now and then the
 * test also chops the unacknowledged end of a log at a random byte before
 * the restart, as a power cut before the fdatasync would.
 * The seed is printed; CHRONIK_TEST_SEED replays a run's choices.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_rand.h"
#include "ck_segment.h"
#include "wal_itest.h"

#define NLOGS    3
#define KILLS    55
#define INFLIGHT 16

static const char *const topics[NLOGS] = {"crash", "crash", "other.topic"};
static const int32_t parts[NLOGS] = {0, 1, 0};

typedef struct {
	int log;
	int64_t base;
	uint32_t seed;
	int nrecs;
	size_t vlen;
} acked_t;

typedef struct {
	acked_t *v;
	size_t n, cap;
} acked_vec_t;

typedef struct {
	pid_t pid;
	unsigned delay_ms;
	volatile int fired;
} killer_t;

static void *killer_main(void *arg)
{
	killer_t *k = arg;

	usleep(k->delay_ms * 1000u);
	(void)kill(k->pid, SIGKILL);
	k->fired = 1;
	return NULL;
}

static void acked_push(acked_vec_t *a, acked_t e)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 1024;
		a->v = realloc(a->v, a->cap * sizeof(*a->v));
		ck_assert_ptr_nonnull(a->v);
	}
	a->v[a->n++] = e;
}

/* The bytes walwriter must hold for an acknowledged append. */
static void expected_batch(const acked_t *e, ck_buf_t *out)
{
	ck_buf_reset(out);
	wit_batch(out, e->nrecs, e->vlen, e->seed);
	ck_batch_base_offset_set(out->data, e->base);
	ck_batch_leader_epoch_set(out->data, 0);
}

typedef struct {
	int64_t base;
	size_t pos, len;
} batch_ref_t;

/* Reads a log and indexes its batches by base offset (ascending). */
static size_t index_log(const ck_buf_t *bytes, batch_ref_t **ret)
{
	size_t pos = 0, n = 0, cap = 0;
	batch_ref_t *v = NULL;

	while (pos < bytes->len) {
		ck_batch_header_t h;
		ck_assert_int_eq(ck_batch_header_parse(bytes->data + pos, bytes->len - pos, &h), 0);
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			v = realloc(v, cap * sizeof(*v));
		}
		v[n++] = (batch_ref_t){h.base_offset, pos, ck_batch_total_len(&h)};
		pos += ck_batch_total_len(&h);
	}
	*ret = v;
	return n;
}

static const batch_ref_t *find_ref(const batch_ref_t *v, size_t n, int64_t base)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid].base < base)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].base == base ? &v[lo] : NULL;
}

/* Everything acknowledged is there, byte for byte, and the files and
 * walwriter agree on where each log ends. */
static void verify(wit_t *t, const acked_vec_t *acked, uint64_t seed, int iter)
{
	ck_buf_t bytes = CK_BUF_INIT, want = CK_BUF_INIT;
	wcl_t c;

	wcl_connect(&c, t);
	for (int l = 0; l < NLOGS; l++) {
		Chronik__Wal__LogInfo info;
		batch_ref_t *refs = NULL;
		int64_t start, end;
		size_t n;

		ck_buf_reset(&bytes);
		end = wit_read_log(t->data, topics[l], parts[l], &bytes, &start);
		ck_assert_int_eq(wcl_info(&c, topics[l], parts[l], &info), 0);
		ck_assert_msg(
		    info.log_end_offset == end && info.durable_end_offset == end,
		    "seed=%llu iter=%d log=%d walwriter end=%lld durable=%lld files end=%lld",
		    (unsigned long long)seed, iter, l, (long long)info.log_end_offset,
		    (long long)info.durable_end_offset, (long long)end);
		n = index_log(&bytes, &refs);
		for (size_t i = 0; i < acked->n; i++) {
			const acked_t *e = &acked->v[i];
			const batch_ref_t *r;
			if (e->log != l)
				continue;
			r = find_ref(refs, n, e->base);
			ck_assert_msg(
			    r != NULL,
			    "seed=%llu iter=%d acknowledged batch lost log=%d base=%lld end=%lld",
			    (unsigned long long)seed, iter, l, (long long)e->base, (long long)end);
			expected_batch(e, &want);
			ck_assert_msg(
			    r->len == want.len && !memcmp(bytes.data + r->pos, want.data, want.len),
			    "seed=%llu iter=%d acknowledged batch differs log=%d base=%lld",
			    (unsigned long long)seed, iter, l, (long long)e->base);
		}
		free(refs);
	}
	wcl_close(&c);
	ck_buf_free(&bytes);
	ck_buf_free(&want);
}

/*
 * Simulates losing what was written but not acknowledged (a power cut
 * before the fdatasync): chops the last segment of log L at a random byte,
 * never below the end of an acknowledged batch. Returns 1 when it cut.
 */
static int tear_tail(wit_t *t, int l, const acked_vec_t *acked, ck_rand_t *rnd)
{
	char dir[512], path[600];
	int64_t *bases = NULL, seg_base, max_acked = -1;
	uint64_t min_cut = 0, data_end;
	ck_segment_t seg;
	ck_segment_iter_t it;
	int n;

	ck_assert_int_eq(ck_segment_log_dir(dir, sizeof(dir), t->data, topics[l], parts[l]), 0);
	n = ck_segment_list(dir, &bases);
	if (n == -ENOENT) /* never appended to: nothing on disk to lose */
		return 0;
	ck_assert_int_ge(n, 1);
	seg_base = bases[n - 1];
	free(bases);
	for (size_t i = 0; i < acked->n; i++)
		if (acked->v[i].log == l && acked->v[i].base >= seg_base &&
		    acked->v[i].base > max_acked)
			max_acked = acked->v[i].base;
	ck_assert_int_eq(ck_segment_open(dir, seg_base, &seg), 0);
	ck_assert_int_eq(ck_segment_iter_init(&it, &seg, 0, UINT64_MAX, INT64_MAX, 0), 0);
	while (ck_segment_iter_next(&it) == 1)
		if (it.hdr.base_offset <= max_acked)
			min_cut = it.pos;
	data_end = it.pos;
	ck_segment_iter_done(&it);
	ck_segment_close(&seg);
	if (data_end <= min_cut)
		return 0;
	ck_segment_path(path, sizeof(path), dir, seg_base, CK_SEGMENT_FILE_LOG);
	ck_assert_int_eq(truncate(path, (off_t)(min_cut + ck_rand_below(rnd, data_end - min_cut))),
	                 0);
	return 1;
}

/* Creates every log over FD (CK_E_EXISTS is fine). Returns 0, or -1 when
 * the connection died first. */
static int create_logs_on(int fd, uint64_t *next_id, ck_buf_t *frame)
{
	uint64_t first = *next_id;
	int answered = 0;

	for (int l = 0; l < NLOGS; l++) {
		Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
		Chronik__Wal__CreateLog cl = CHRONIK__WAL__CREATE_LOG__INIT;

		cl.topic = (char *)topics[l];
		cl.partition = parts[l];
		req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CREATE_LOG;
		req.create_log = &cl;
		req.correlation_id = (*next_id)++;
		if (ck_ipc_sync_send_msg(fd, &req.base) < 0)
			return -1;
	}
	while (answered < NLOGS) {
		Chronik__Wal__WalReply *rep;

		if (ck_ipc_sync_recv(fd, 0, 5000, frame) < 0)
			return -1;
		rep = chronik__wal__wal_reply__unpack(NULL, frame->len, frame->data);
		ck_assert_ptr_nonnull(rep);
		if (rep->correlation_id >= first && rep->correlation_id < first + NLOGS) {
			ck_assert_msg(rep->error == 0 || rep->error == CK_E_EXISTS,
			              "create failed: %d %s", rep->error, rep->error_message);
			answered++;
		}
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
	return 0;
}

/* Creates every log over a connection of its own (as raftd does when
 * walwriter starts). */
static void create_logs(wit_t *t)
{
	ck_buf_t frame = CK_BUF_INIT;
	uint64_t id = 1;
	int fd = -1;

	ck_assert_int_eq(ck_ipc_sync_connect(t->sock, 20000, &fd), 0);
	ck_assert_int_eq(create_logs_on(fd, &id, &frame), 0);
	(void)close(fd);
	ck_buf_free(&frame);
}

/* Appends until the connection dies (the killer). Returns acks received. */
static int append_until_killed(wit_t *t, killer_t *k, ck_rand_t *rnd, acked_vec_t *acked)
{
	acked_t pending[INFLIGHT * 4];
	ck_buf_t batch = CK_BUF_INIT, frame = CK_BUF_INIT;
	int fd = -1, inflight = 0, acks = 0;
	uint64_t next_id = 1;

	while (fd < 0 && !k->fired)
		if (ck_ipc_sync_connect(t->sock, 20, &fd) < 0)
			fd = -1;
	/* First what raftd does when walwriter (re)starts: create the logs
	 * (those nobody appended to lived in memory only). */
	if (fd >= 0 && create_logs_on(fd, &next_id, &frame) < 0)
		goto out;
	while (fd >= 0) {
		while (inflight < INFLIGHT) {
			Chronik__Wal__WalRequest req;
			Chronik__Wal__Append ap;
			acked_t e;
			e.log = (int)ck_rand_below(rnd, NLOGS);
			e.nrecs = 1 + (int)ck_rand_below(rnd, 5);
			e.vlen = ck_rand_below(rnd, 4) == 0 ? ck_rand_below(rnd, 9000)
			                                    : ck_rand_below(rnd, 300);
			e.seed = (uint32_t)ck_rand_u64(rnd);
			e.base = -1;
			ck_buf_reset(&batch);
			wit_batch(&batch, e.nrecs, e.vlen, e.seed);
			wcl_append_req(&req, &ap, topics[e.log], parts[e.log], batch.data,
			               batch.len);
			req.correlation_id = next_id;
			pending[next_id % CK_ARRAY_LEN(pending)] = e;
			if (ck_ipc_sync_send_msg(fd, &req.base) < 0)
				goto out;
			next_id++;
			inflight++;
		}
		if (ck_ipc_sync_recv(fd, 0, 5000, &frame) < 0)
			goto out;
		Chronik__Wal__WalReply *rep =
		    chronik__wal__wal_reply__unpack(NULL, frame.len, frame.data);
		ck_assert_ptr_nonnull(rep);
		ck_assert_msg(rep->error == 0, "append failed: %d %s", rep->error,
		              rep->error_message);
		if (rep->correlation_id != 0) {
			acked_t e = pending[rep->correlation_id % CK_ARRAY_LEN(pending)];
			ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_APPEND);
			e.base = rep->append->base_offset;
			ck_assert_int_eq(rep->append->last_offset, e.base + e.nrecs - 1);
			acked_push(acked, e);
			inflight--;
			acks++;
		}
		chronik__wal__wal_reply__free_unpacked(rep, NULL);
	}
out:
	if (fd >= 0)
		close(fd);
	ck_buf_free(&batch);
	ck_buf_free(&frame);
	return acks;
}

/* Small segments, frequent checkpoints, preallocation; a WAL profile
 * picked at random for each start, so every group-cutting policy (and its
 * window timer) meets the kills. */
static void crash_env(wit_t *t, ck_rand_t *rnd)
{
	static const char *const profiles[] = {"ultra", "high", "medium", "low"};
	char env[64];

	wit_env_clear(t);
	wit_env(t, "CHRONIK_WAL_SEGMENT_BYTES=65536");
	wit_env(t, "CHRONIK_WAL_PREALLOCATE_BYTES=131072");
	wit_env(t, "CHRONIK_WAL_CHECKPOINT_INTERVAL_MS=25");
	wit_env(t, "CHRONIK_WAL_INDEX_INTERVAL_BYTES=1024");
	wit_env(t, "CHRONIK_WAL_RETENTION_MS=-1"); /* the batches carry 2023 timestamps */
	snprintf(env, sizeof(env), "CHRONIK_WAL_PROFILE=%s", profiles[ck_rand_below(rnd, 4)]);
	wit_env(t, env);
}

START_TEST(test_crash_durability)
{
	const char *env_seed = getenv("CHRONIK_TEST_SEED");
	uint64_t seed = env_seed ? strtoull(env_seed, NULL, 10) : ck_rand_os_seed();
	acked_vec_t acked = {0};
	ck_rand_t rnd;
	wit_t t;
	int total_acks = 0, during_recovery = 0, tears = 0;

	fprintf(stderr, "crash test seed=%llu (CHRONIK_TEST_SEED replays it)\n",
	        (unsigned long long)seed);
	ck_rand_seed(&rnd, seed);
	wit_init(&t, "crash");
	crash_env(&t, &rnd);
	wit_start_ready(&t);
	create_logs(&t);

	for (int iter = 0; iter < KILLS; iter++) {
		killer_t k = {t.proc.pid, 0, 0};
		pthread_t th;
		int status;

		/* Mostly while appending; now and then while recovering. */
		k.delay_ms = ck_rand_below(&rnd, 6) == 0 ? (unsigned)ck_rand_below(&rnd, 15)
		                                         : 20 + (unsigned)ck_rand_below(&rnd, 200);
		if (iter > 0) {
			crash_env(&t, &rnd);
			wit_start(&t);
			k.pid = t.proc.pid;
			if (k.delay_ms < 15)
				during_recovery++;
		}
		ck_assert_int_eq(pthread_create(&th, NULL, killer_main, &k), 0);
		total_acks += append_until_killed(&t, &k, &rnd, &acked);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		status = wit_wait_exit(&t, 10000);
		/* Killed, or (killed very early) never got that far. */
		ck_assert_msg(status == 128 + SIGKILL, "seed=%llu iter=%d walwriter exit status %d",
		              (unsigned long long)seed, iter, status);
		for (int l = 0; l < NLOGS; l++)
			if (ck_rand_below(&rnd, 2) == 0)
				tears += tear_tail(&t, l, &acked, &rnd);
		wit_start_ready(&t);
		create_logs(&t);
		verify(&t, &acked, seed, iter);
		(void)wit_stop(&t, SIGKILL, 5000); /* the next iteration restarts it */
	}
	fprintf(stderr,
	        "crash test: %d kills, %d during recovery, %d appends acknowledged, "
	        "%d tails torn by the test, %d torn tails cut, %d segments dropped\n",
	        KILLS, during_recovery, total_acks, tears,
	        wit_log_count(&t, "truncated torn tail", NULL),
	        wit_log_count(&t, "dropped segment", NULL));
	ck_assert_int_gt(total_acks, KILLS);
	/* A clean stop at the end keeps everything too. */
	wit_start_ready(&t);
	create_logs(&t);
	ck_assert_int_eq(wit_stop(&t, SIGTERM, 30000), 0);
	wit_start_ready(&t);
	create_logs(&t);
	verify(&t, &acked, seed, KILLS);
	ck_assert_int_eq(wit_stop(&t, SIGTERM, 30000), 0);
	ck_assert_int_eq(wit_log_count(&t, "] error ", NULL), 0);
	free(acked.v);
	wit_cleanup(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal_crash");
	TCase *tc = tcase_create("crash");

	tcase_set_timeout(tc, 600);
	ck_test_add_root(tc);
	tcase_add_test(tc, test_crash_durability);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
