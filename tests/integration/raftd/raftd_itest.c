/*
 * raftd_itest.c: harness of the raftd integration tests (raftd_itest.h).
 * Starts and stops only the processes it forked itself, by pid.
 */
#include "raftd_itest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ck_batch.h"
#include "ck_clock.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_meta.h"
#include "ck_segment.h"
#include "walwriter.pb-c.h"

#define RIT_METADATA_TOPIC "__chronik_metadata"

/* A loopback TCP port that is free right now. */
static int rit_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	(void)close(fd);
	return port;
}

void rit_init(rit_t *t, const char *tag)
{
	static const char *const keys[4] = {"RAFT", "KAFKA", "REPLICATION", "ADMIN"};
	char path[300], notify[300], kv[96];
	int ports[4];

	memset(t, 0, sizeof(*t));
	ck_test_mkdtemp(t->root, sizeof(t->root), tag);
	snprintf(t->data, sizeof(t->data), "%s/data", t->root);
	snprintf(t->raftd_sock, sizeof(t->raftd_sock), "%s/run/raftd.sock", t->data);
	snprintf(t->wal_sock, sizeof(t->wal_sock), "%s/run/walwriter.sock", t->data);
	for (int i = 0; i < 4; i++) {
		do
			ports[i] = rit_free_port();
		while (i > 0 && (ports[i] == ports[i - 1] || (i > 1 && ports[i] == ports[i - 2]) ||
		                 (i > 2 && ports[i] == ports[0])));
	}
	snprintf(path, sizeof(path), "%s/walwriter.log", t->root);
	snprintf(notify, sizeof(notify), "%s/wal.notify", t->root);
	ck_test_proc_init(&t->wal, "walwriter/chronik-walwriter", path, notify);
	snprintf(path, sizeof(path), "%s/raftd.log", t->root);
	snprintf(notify, sizeof(notify), "%s/raftd.notify", t->root);
	ck_test_proc_init(&t->raftd, "raftd/chronik-raftd", path, notify);
	for (int i = 0; i < 4; i++) {
		snprintf(kv, sizeof(kv), "CHRONIK_LISTENERS_%s=127.0.0.1:%d", keys[i], ports[i]);
		ck_test_proc_env(&t->wal, kv);
		ck_test_proc_env(&t->raftd, kv);
	}
	/* CHRONIK_TEST_LOG_LEVEL=debug: more detail in both logs. */
	if (getenv("CHRONIK_TEST_LOG_LEVEL")) {
		snprintf(kv, sizeof(kv), "CHRONIK_LOG_LEVEL=%s", getenv("CHRONIK_TEST_LOG_LEVEL"));
		ck_test_proc_env(&t->wal, kv);
		ck_test_proc_env(&t->raftd, kv);
	}
	/* Small preallocation: the tests create thousands of logs. */
	ck_test_proc_env(&t->wal, "CHRONIK_WAL_PREALLOCATE_BYTES=4096");
	ck_test_proc_env(&t->raftd, "CHRONIK_WAL_PREALLOCATE_BYTES=4096");
}

void rit_cleanup(rit_t *t)
{
	ck_test_proc_cleanup(&t->raftd);
	ck_test_proc_cleanup(&t->wal);
}

void rit_kill(ck_test_proc_t *p)
{
	ck_assert_int_gt(p->pid, 0);
	ck_assert_int_eq(ck_test_proc_stop(p, SIGKILL, 10000), 128 + SIGKILL);
}

/* The rit_t of rit_tcase_create's cases: a checked fixture takes no
 * argument. Set before the run forks, so every test's child has it. */
static rit_t *rit_fixture;

static void rit_fixture_teardown(void)
{
	rit_cleanup(rit_fixture);
}

TCase *rit_tcase_create(const char *name, rit_t *t)
{
	TCase *tc = tcase_create(name);

	rit_fixture = t;
	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, NULL, rit_fixture_teardown);
	tcase_set_timeout(tc, 600);
	return tc;
}

void rit_start_wal(rit_t *t)
{
	const char *args[] = {"--data-dir", t->data, NULL};

	ck_test_proc_start(&t->wal, args);
	ck_assert_msg(ck_test_proc_wait_ready(&t->wal, 30000) == 0,
	              "walwriter did not get ready, see %s", t->wal.logpath);
}

void rit_start_raftd(rit_t *t)
{
	const char *args[] = {"--data-dir", t->data, NULL};

	ck_test_proc_start(&t->raftd, args);
	ck_assert_msg(ck_test_proc_wait_ready(&t->raftd, 30000) == 0,
	              "raftd did not get ready, see %s", t->raftd.logpath);
	rit_wait_serving(t);
}

void rit_wait_serving(rit_t *t)
{
	uint64_t deadline = ck_clock_mono_ms() + 60000;
	Chronik__Raftd__RaftStatus st;
	char role[32] = "";
	rcl_t c;

	rcl_connect(&c, t);
	for (;;) {
		rcl_status(&c, &st, role, sizeof(role));
		if (!strcmp(role, "leader") && st.last_index > 0 &&
		    st.applied_index == st.last_index && st.commit_index == st.last_index &&
		    rit_meta_broker(t, 1))
			break;
		ck_assert_msg(ck_clock_mono_ms() < deadline,
		              "raftd does not serve: role=%s applied=%llu last=%llu", role,
		              (unsigned long long)st.applied_index,
		              (unsigned long long)st.last_index);
		ck_test_sleep_ms(20);
	}
	rcl_close(&c);
}

/* ---- client ---- */

void rcl_connect(rcl_t *c, const rit_t *t)
{
	memset(c, 0, sizeof(*c));
	ck_buf_init(&c->frame);
	ck_assert_int_eq(ck_ipc_sync_connect(t->raftd_sock, 20000, &c->fd), 0);
	c->next_id = 1;
}

void rcl_close(rcl_t *c)
{
	if (c->fd > 0)
		(void)close(c->fd);
	c->fd = -1;
	ck_buf_free(&c->frame);
}

int64_t rcl_send(rcl_t *c, Chronik__Raftd__RaftdRequest *req)
{
	req->correlation_id = c->next_id++;
	if (ck_ipc_sync_send_msg(c->fd, &req->base) < 0)
		return -1;
	return (int64_t)req->correlation_id;
}

Chronik__Raftd__RaftdReply *rcl_recv(rcl_t *c, int timeout_ms)
{
	if (ck_ipc_sync_recv(c->fd, 0, timeout_ms, &c->frame) < 0)
		return NULL;
	return chronik__raftd__raftd_reply__unpack(NULL, c->frame.len, c->frame.data);
}

Chronik__Raftd__RaftdReply *rcl_call(rcl_t *c, Chronik__Raftd__RaftdRequest *req, int timeout_ms)
{
	int64_t id = rcl_send(c, req);
	Chronik__Raftd__RaftdReply *rep;

	if (id < 0)
		return NULL;
	while ((rep = rcl_recv(c, timeout_ms)) != NULL) {
		if (rep->correlation_id == (uint64_t)id)
			return rep;
		chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
	}
	return NULL;
}

void rcl_status(rcl_t *c, Chronik__Raftd__RaftStatus *ret, char *role, size_t role_len)
{
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__GetStatus gs = CHRONIK__RAFTD__GET_STATUS__INIT;
	Chronik__Raftd__RaftdReply *rep;

	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_STATUS;
	req.status = &gs;
	rep = rcl_call(c, &req, 30000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->error, 0);
	ck_assert_int_eq(rep->body_case, CHRONIK__RAFTD__RAFTD_REPLY__BODY_STATUS);
	*ret = *rep->status;
	snprintf(role, role_len, "%s", rep->status->role);
	ret->role = NULL;
	chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
}

int rcl_propose(rcl_t *c, const Chronik__Meta__MetadataCommand *cmd, int *ret_result,
                uint64_t *ret_index)
{
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__Propose p = CHRONIK__RAFTD__PROPOSE__INIT;
	Chronik__Raftd__RaftdReply *rep;
	int err;

	p.command = (Chronik__Meta__MetadataCommand *)cmd;
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE;
	req.propose = &p;
	rep = rcl_call(c, &req, 60000);
	if (!rep)
		return -1;
	err = rep->error;
	if (err == 0) {
		ck_assert_int_eq(rep->body_case, CHRONIK__RAFTD__RAFTD_REPLY__BODY_PROPOSE);
		*ret_result = rep->propose->result;
		*ret_index = rep->propose->index;
	}
	chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
	return err;
}

/* ---- commands ---- */

void rit_create_cmd(rit_create_t *c, const char *name, int parts)
{
	size_t n = strlen(name);

	ck_assert_int_le(parts, 4);
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	chronik__meta__metadata_command__init(&c->cmd);
	chronik__meta__create_topic__init(&c->ct);
	c->cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC;
	c->cmd.create_topic = &c->ct;
	c->ct.name = c->name;
	for (size_t i = 0; i < sizeof(c->id); i++)
		c->id[i] = (uint8_t)(name[i % n] + i);
	c->ct.topic_id.data = c->id;
	c->ct.topic_id.len = sizeof(c->id);
	for (int p = 0; p < parts; p++) {
		chronik__meta__partition_assignment__init(&c->as[p]);
		c->as[p].partition = p;
		c->replicas[p] = 1;
		c->as[p].replicas = &c->replicas[p];
		c->as[p].n_replicas = 1;
		c->asp[p] = &c->as[p];
	}
	c->ct.assignments = c->asp;
	c->ct.n_assignments = (size_t)parts;
	chronik__meta__config_entry__init(&c->ce);
	c->ce.name = "retention.ms";
	c->ce.value = "3600000";
	c->cep[0] = &c->ce;
	c->ct.configs = c->cep;
	c->ct.n_configs = 1;
}

void rit_delete_cmd(Chronik__Meta__MetadataCommand *cmd, Chronik__Meta__DeleteTopic *dt,
                    const char *name)
{
	chronik__meta__metadata_command__init(cmd);
	chronik__meta__delete_topic__init(dt);
	dt->name = (char *)name;
	cmd->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC;
	cmd->delete_topic = dt;
}

void rit_make_topic(size_t i, rit_create_t *builder, void *arg)
{
	char name[64];

	snprintf(name, sizeof(name), "%s-%04zu", (const char *)arg, i);
	rit_create_cmd(builder, name, 1);
}

/* ---- many proposals ---- */

typedef struct {
	rcl_t c;
	bool dead;
} rit_conn_t;

/* Settles every unanswered proposal of connection K (of NCONN). */
static size_t rit_conn_lost(rit_conn_t *cv, int k, int nconn, size_t n, rit_answer_t *ans,
                            bool *settled)
{
	size_t count = 0;

	cv[k].dead = true;
	for (size_t i = (size_t)k; i < n; i += (size_t)nconn) {
		if (settled[i])
			continue;
		ans[i].err = CK_E_CLOSED;
		settled[i] = true;
		count++;
	}
	return count;
}

/* Takes one reply from connection K. Returns how many proposals settled. */
static size_t rit_conn_read(rit_conn_t *cv, int k, int nconn, size_t n, rit_answer_t *ans,
                            bool *settled)
{
	Chronik__Raftd__RaftdReply *rep = rcl_recv(&cv[k].c, 30000);
	size_t i;

	if (!rep)
		return rit_conn_lost(cv, k, nconn, n, ans, settled);
	i = (size_t)rep->correlation_id - 1;
	if (rep->correlation_id == 0 || i >= n || settled[i]) {
		chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
		return 0;
	}
	ck_assert_int_eq((int)(i % (size_t)nconn), k);
	ans[i].err = rep->error;
	if (rep->error == 0) {
		ck_assert_int_eq(rep->body_case, CHRONIK__RAFTD__RAFTD_REPLY__BODY_PROPOSE);
		ans[i].result = rep->propose->result;
		ans[i].index = rep->propose->index;
	}
	ans[i].answered = true;
	settled[i] = true;
	chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
	return 1;
}

static void rit_send_all(rit_conn_t *cv, int nconn, size_t n, rit_make_fn make, void *arg)
{
	rit_create_t b;

	for (size_t i = 0; i < n; i++) {
		Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
		Chronik__Raftd__Propose p = CHRONIK__RAFTD__PROPOSE__INIT;
		rit_conn_t *c = &cv[i % (size_t)nconn];

		make(i, &b, arg);
		p.command = &b.cmd;
		req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE;
		req.propose = &p;
		req.correlation_id = i + 1;
		if (!c->dead && ck_ipc_sync_send_msg(c->c.fd, &req.base) < 0)
			c->dead = true;
	}
}

size_t rit_propose_many(rit_t *t, int nconn, size_t n, rit_make_fn make, void *arg,
                        rit_progress_fn progress, void *parg, rit_answer_t *ans, int timeout_ms)
{
	rit_conn_t *cv = calloc((size_t)nconn, sizeof(*cv));
	bool *settled = calloc(n, sizeof(bool));
	struct pollfd *pfd = calloc((size_t)nconn, sizeof(*pfd));
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	size_t done = 0, answered = 0;

	ck_assert(cv && settled && pfd);
	memset(ans, 0, n * sizeof(*ans));
	for (int k = 0; k < nconn; k++)
		rcl_connect(&cv[k].c, t);
	rit_send_all(cv, nconn, n, make, arg);
	for (int k = 0; k < nconn; k++) {
		if (cv[k].dead)
			done += rit_conn_lost(cv, k, nconn, n, ans, settled);
	}
	while (done < n) {
		ck_assert_msg(ck_clock_mono_ms() < deadline, "proposals unsettled: %zu of %zu",
		              n - done, n);
		for (int k = 0; k < nconn; k++) {
			pfd[k].fd = cv[k].dead ? -1 : cv[k].c.fd;
			pfd[k].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)nconn, 200) <= 0)
			continue;
		for (int k = 0; k < nconn; k++) {
			size_t got;

			if (cv[k].dead || !(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = rit_conn_read(cv, k, nconn, n, ans, settled);
			done += got;
			if (got && !cv[k].dead) {
				answered += got;
				if (progress)
					progress(answered, parg);
			}
		}
	}
	for (int k = 0; k < nconn; k++)
		rcl_close(&cv[k].c);
	free(cv);
	free(settled);
	free(pfd);
	return answered;
}

/* ---- LMDB ---- */

typedef struct {
	const char *prefix;
	void (*fn)(void *arg, const Chronik__Meta__TopicRecord *rec);
	void *arg;
	size_t count;
} rit_topics_t;

static int rit_topic_cb(void *arg, const Chronik__Meta__TopicRecord *rec)
{
	rit_topics_t *w = arg;

	if (strncmp(rec->name, w->prefix, strlen(w->prefix)) != 0)
		return 0;
	w->count++;
	if (w->fn)
		w->fn(w->arg, rec);
	return 0;
}

size_t rit_meta_topics(const rit_t *t, const char *prefix,
                       void (*fn)(void *arg, const Chronik__Meta__TopicRecord *rec), void *arg)
{
	rit_topics_t w = {prefix, fn, arg, 0};
	ck_meta_t *m;
	MDB_txn *txn;

	ck_assert_int_eq(ck_meta_open(t->data, &m), 0);
	ck_assert_int_eq(ck_meta_read_begin(m, &txn), 0);
	ck_assert_int_eq(ck_meta_topics_foreach(m, txn, rit_topic_cb, &w), 0);
	ck_meta_read_end(txn);
	ck_meta_close(m);
	return w.count;
}

uint64_t rit_meta_applied(const rit_t *t)
{
	ck_meta_t *m;
	MDB_txn *txn;
	uint64_t applied = 0;

	ck_assert_int_eq(ck_meta_open(t->data, &m), 0);
	ck_assert_int_eq(ck_meta_read_begin(m, &txn), 0);
	ck_assert_int_eq(ck_meta_applied_index(m, txn, &applied), 0);
	ck_meta_read_end(txn);
	ck_meta_close(m);
	return applied;
}

Chronik__Meta__PartitionRecord *rit_meta_partition(const rit_t *t, const char *topic, int32_t p)
{
	Chronik__Meta__PartitionRecord *rec = NULL;
	ck_meta_t *m;
	MDB_txn *txn;
	int r;

	ck_assert_int_eq(ck_meta_open(t->data, &m), 0);
	ck_assert_int_eq(ck_meta_read_begin(m, &txn), 0);
	r = ck_meta_partition_get(m, txn, topic, p, &rec);
	ck_meta_read_end(txn);
	ck_meta_close(m);
	ck_assert(r == 0 || r == CK_E_NOT_FOUND);
	return r == 0 ? rec : NULL;
}

bool rit_meta_broker(const rit_t *t, int32_t id)
{
	Chronik__Meta__BrokerRecord *rec = NULL;
	ck_meta_t *m;
	MDB_txn *txn;
	int r;

	ck_assert_int_eq(ck_meta_open(t->data, &m), 0);
	ck_assert_int_eq(ck_meta_read_begin(m, &txn), 0);
	r = ck_meta_broker_get(m, txn, id, &rec);
	ck_meta_read_end(txn);
	ck_meta_close(m);
	chronik__meta__broker_record__free_unpacked(rec, NULL);
	return r == 0;
}

bool rit_log_exists(const rit_t *t, const char *topic, int32_t p)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__GetLogInfo m = CHRONIK__WAL__GET_LOG_INFO__INIT;
	Chronik__Wal__WalReply *rep;
	ck_buf_t frame = CK_BUF_INIT;
	bool found;
	int fd = -1;

	/* Walwriter's word: a new log is on disk only with its first append. */
	m.topic = (char *)topic;
	m.partition = p;
	req.correlation_id = 1;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_LOG_INFO;
	req.log_info = &m;
	ck_assert_int_eq(ck_ipc_sync_connect(t->wal_sock, 20000, &fd), 0);
	ck_assert_int_eq(ck_ipc_sync_send_msg(fd, &req.base), 0);
	do {
		ck_assert_int_eq(ck_ipc_sync_recv(fd, 0, 20000, &frame), 0);
		rep = chronik__wal__wal_reply__unpack(NULL, frame.len, frame.data);
		ck_assert_ptr_nonnull(rep);
		if (rep->correlation_id != 1) /* an event */
			chronik__wal__wal_reply__free_unpacked(rep, NULL);
	} while (rep->correlation_id != 1);
	ck_assert_msg(rep->error == 0 || rep->error == CK_E_NOT_FOUND, "log info: error %d",
	              rep->error);
	found = rep->error == 0;
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	ck_buf_free(&frame);
	(void)close(fd);
	return found;
}

bool rit_wait_log(const rit_t *t, const char *topic, int32_t p, bool present, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;

	while (rit_log_exists(t, topic, p) != present) {
		if (ck_clock_mono_ms() >= deadline)
			return false;
		ck_test_sleep_ms(10);
	}
	return true;
}

/* ---- the metadata log ---- */

typedef void (*rit_batch_fn)(void *arg, const ck_batch_header_t *h, const uint8_t *p, size_t len);

/* Calls FN for every batch of the metadata log, CRC checked, in order. */
static void rit_meta_batches(const rit_t *t, rit_batch_fn fn, void *arg)
{
	char dir[512];
	int64_t *bases = NULL;
	int n;

	ck_assert_int_eq(ck_segment_log_dir(dir, sizeof(dir), t->data, RIT_METADATA_TOPIC, 0), 0);
	n = ck_segment_list(dir, &bases);
	ck_assert_int_gt(n, 0);
	for (int i = 0; i < n; i++) {
		ck_segment_t seg;
		ck_segment_iter_t it;
		int r;

		ck_assert_int_eq(ck_segment_open(dir, bases[i], &seg), 0);
		ck_assert_int_eq(ck_segment_iter_init(&it, &seg, 0, UINT64_MAX, INT64_MAX,
		                                      CK_SEGMENT_VERIFY_CRC),
		                 0);
		while ((r = ck_segment_iter_next(&it)) == 1) {
			const uint8_t *p;
			size_t len;

			ck_assert_int_eq(ck_segment_iter_bytes(&it, &p, &len), 0);
			fn(arg, &it.hdr, p, len);
		}
		ck_assert_int_eq(r, 0);
		ck_assert_int_ne(it.end, CK_SEGMENT_END_TORN);
		ck_segment_iter_done(&it);
		ck_segment_close(&seg);
	}
	free(bases);
}

typedef struct {
	void (*fn)(void *arg, uint64_t index, uint64_t term,
	           const Chronik__Meta__MetadataCommand *cmd);
	void *arg;
	uint64_t last;
} rit_log_walk_t;

static void rit_entry_batch(void *arg, const ck_batch_header_t *h, const uint8_t *p, size_t len)
{
	rit_log_walk_t *w = arg;
	ck_record_iter_t it;
	ck_record_t rec;
	int r;

	ck_assert_int_eq(h->base_offset, (int64_t)w->last);
	ck_assert_int_ge(h->partition_leader_epoch, 1);
	ck_assert_int_eq(ck_record_iter_init(&it, p, len), 0);
	while ((r = ck_record_iter_next(&it, &rec)) == 1) {
		Chronik__Meta__MetadataCommand *cmd = NULL;

		ck_assert_int_eq(rec.offset, (int64_t)w->last);
		w->last++;
		if (rec.value_len > 0) {
			cmd = chronik__meta__metadata_command__unpack(NULL, (size_t)rec.value_len,
			                                              rec.value);
			ck_assert_ptr_nonnull(cmd);
		}
		if (w->fn)
			w->fn(w->arg, w->last, (uint64_t)h->partition_leader_epoch, cmd);
		chronik__meta__metadata_command__free_unpacked(cmd, NULL);
	}
	ck_assert_int_eq(r, 0);
	/* A batch may claim more offsets than it has records: the gap an
	 * installed snapshot leaves (raftd_store.h). */
	w->last = (uint64_t)h->base_offset + (uint64_t)h->last_offset_delta + 1;
}

uint64_t rit_meta_log(const rit_t *t,
                      void (*fn)(void *arg, uint64_t index, uint64_t term,
                                 const Chronik__Meta__MetadataCommand *cmd),
                      void *arg)
{
	rit_log_walk_t w = {fn, arg, 0};

	rit_meta_batches(t, rit_entry_batch, &w);
	return w.last;
}

static void rit_bytes_batch(void *arg, const ck_batch_header_t *h, const uint8_t *p, size_t len)
{
	(void)h;
	ck_assert_int_eq(ck_buf_append(arg, p, len), 0);
}

void rit_meta_log_bytes(const rit_t *t, ck_buf_t *out)
{
	rit_meta_batches(t, rit_bytes_batch, out);
}
