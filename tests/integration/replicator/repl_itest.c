/*
 * repl_itest.c: harness of the replicator integration tests (repl_itest.h).
 * Processes run through tests/lib/ck_testproc.h, which starts and stops
 * only the pids it forked itself.
 */
#include "repl_itest.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_buf.h"
#include "ck_clock.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_meta.h"
#include "ck_notify.h"
#include "raftd.pb-c.h"

/* NAME is the process: "replicator" (TCP "replication") or "raftd" (TCP
 * "raft"). */
static void rit_init_as(rit_t *r, const wit_t *w, const char *name)
{
	bool raftd = !strcmp(name, "raftd");
	char bin[64], logpath[160], notify[160], port[96];

	memset(r, 0, sizeof(*r));
	r->w = w;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->sock, sizeof(r->sock), "%s/run/%s.sock", w->data, name);
	snprintf(bin, sizeof(bin), "%s/chronik-%s", name, name);
	snprintf(logpath, sizeof(logpath), "%s/%s.log", w->root, name);
	snprintf(notify, sizeof(notify), "%s/notify-%s", w->root, name);
	ck_test_proc_init(&r->proc, bin, logpath, notify);
	r->repl_port = ck_test_free_port();
	snprintf(port, sizeof(port), "%s=127.0.0.1:%d",
	         raftd ? "CHRONIK_LISTENERS_RAFT" : "CHRONIK_LISTENERS_REPLICATION", r->repl_port);
	ck_test_proc_env(&r->proc, port);
}

void rit_init(rit_t *r, const wit_t *w)
{
	rit_init_as(r, w, "replicator");
}

void rit_init_raftd(rit_t *r, const wit_t *w)
{
	rit_init_as(r, w, "raftd");
}

void rit_env(rit_t *r, const char *kv)
{
	ck_test_proc_env(&r->proc, kv);
}

void rit_start(rit_t *r)
{
	const char *args[] = {"--data-dir", r->w->data, NULL};

	ck_test_proc_start(&r->proc, args);
}

int rit_wait_ready(rit_t *r, int timeout_ms)
{
	return ck_test_proc_wait_ready(&r->proc, timeout_ms);
}

/* Both fields of one datagram must match, so ck_test_proc_wait_notify
 * (one field) does not do. */
bool rit_wait_status(rit_t *r, const char *needle, const char *role, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	char buf[1024], val[512];
	pid_t from;

	while (ck_clock_mono_ms() < deadline) {
		struct pollfd p = {r->proc.notify_fd, POLLIN, 0};
		if (poll(&p, 1, 20) <= 0 ||
		    ck_notify_recv(r->proc.notify_fd, buf, sizeof(buf), &from) <= 0 ||
		    from != r->proc.pid)
			continue;
		if (ck_notify_field(buf, "STATUS", val, sizeof(val)) && strstr(val, needle) &&
		    ck_notify_field(buf, "CHRONIK_ROLE", val, sizeof(val)) && !strcmp(val, role))
			return true;
	}
	return false;
}

void rit_start_ready(rit_t *r)
{
	rit_start(r);
	ck_assert_msg(rit_wait_ready(r, 30000) == 0, "%s did not report READY=1, see %s", r->name,
	              r->proc.logpath);
}

int rit_stop(rit_t *r, int sig, int timeout_ms)
{
	return ck_test_proc_stop(&r->proc, sig, timeout_ms);
}

bool rit_alive(rit_t *r)
{
	return ck_test_proc_alive(&r->proc);
}

void rit_cleanup(rit_t *r)
{
	ck_test_proc_cleanup(&r->proc);
}

bool rit_log_has(const rit_t *r, const char *needle)
{
	return ck_test_file_contains(r->proc.logpath, needle);
}

/* ---- the replicator.proto client ---- */

void rcl_connect(rcl_t *c, const rit_t *r)
{
	memset(c, 0, sizeof(*c));
	ck_buf_init(&c->frame);
	c->next_id = 1;
	ck_assert_int_eq(ck_ipc_sync_connect(r->sock, 10000, &c->fd), 0);
}

void rcl_close(rcl_t *c)
{
	if (c->fd > 0)
		close(c->fd);
	c->fd = -1;
	ck_buf_free(&c->frame);
}

int rcl_send_raw(rcl_t *c, const void *data, size_t len)
{
	return ck_ipc_sync_send(c->fd, data, len);
}

int64_t rcl_send(rcl_t *c, Chronik__Repl__ReplRequest *req)
{
	req->correlation_id = c->next_id++;
	if (ck_ipc_sync_send_msg(c->fd, &req->base) < 0)
		return -1;
	return (int64_t)req->correlation_id;
}

static rst_t *rcl_view_get(rcl_t *c, const char *topic, int32_t part)
{
	rst_t *v = (rst_t *)rcl_view(c, topic, part);

	if (v)
		return v;
	ck_assert_int_lt(c->nview, RCL_VIEW_MAX);
	v = &c->view[c->nview++];
	memset(v, 0, sizeof(*v));
	snprintf(v->topic, sizeof(v->topic), "%s", topic);
	v->partition = part;
	return v;
}

static void rst_fill(rst_t *v, const Chronik__Repl__PartitionState *ps)
{
	v->hw = ps->high_watermark;
	v->log_start = ps->log_start_offset;
	v->log_end = ps->log_end_offset;
	v->leader = ps->leader;
	v->epoch = ps->leader_epoch;
	v->isr_size = ps->isr_size;
	v->deleted = ps->deleted;
}

Chronik__Repl__ReplReply *rcl_recv(rcl_t *c, int timeout_ms)
{
	Chronik__Repl__ReplReply *rep;

	if (ck_ipc_sync_recv(c->fd, 0, timeout_ms, &c->frame) < 0)
		return NULL;
	rep = chronik__repl__repl_reply__unpack(NULL, c->frame.len, c->frame.data);
	if (rep && rep->correlation_id == 0 &&
	    rep->body_case == CHRONIK__REPL__REPL_REPLY__BODY_PARTITION) {
		rst_t *v = rcl_view_get(c, rep->partition->topic, rep->partition->partition);
		rst_fill(v, rep->partition);
		v->pushes++;
		c->pushes++;
	}
	return rep;
}

/* Waits for the reply to CID; pushes on the way update the view. */
static Chronik__Repl__ReplReply *rcl_reply(rcl_t *c, uint64_t cid, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;

	while (ck_clock_mono_ms() < deadline) {
		Chronik__Repl__ReplReply *rep =
		    rcl_recv(c, (int)(deadline - ck_clock_mono_ms()) + 1);
		if (!rep)
			return NULL;
		if (rep->correlation_id == cid)
			return rep;
		chronik__repl__repl_reply__free_unpacked(rep, NULL);
	}
	return NULL;
}

int rcl_subscribe(rcl_t *c, int timeout_ms)
{
	Chronik__Repl__ReplRequest req = CHRONIK__REPL__REPL_REQUEST__INIT;
	Chronik__Repl__Subscribe sub = CHRONIK__REPL__SUBSCRIBE__INIT;
	Chronik__Repl__ReplReply *rep;
	int64_t cid;
	int err;

	req.body_case = CHRONIK__REPL__REPL_REQUEST__BODY_SUBSCRIBE;
	req.subscribe = &sub;
	cid = rcl_send(c, &req);
	ck_assert_int_gt(cid, 0);
	rep = rcl_reply(c, (uint64_t)cid, timeout_ms);
	if (!rep)
		return -1;
	err = rep->error;
	chronik__repl__repl_reply__free_unpacked(rep, NULL);
	return err;
}

int rcl_get(rcl_t *c, const char *topic, int32_t part, rst_t *ret, int timeout_ms)
{
	Chronik__Repl__ReplRequest req = CHRONIK__REPL__REPL_REQUEST__INIT;
	Chronik__Repl__GetPartition g = CHRONIK__REPL__GET_PARTITION__INIT;
	Chronik__Repl__ReplReply *rep;
	int64_t cid;
	int err;

	g.topic = (char *)topic;
	g.partition = part;
	req.body_case = CHRONIK__REPL__REPL_REQUEST__BODY_GET_PARTITION;
	req.get_partition = &g;
	cid = rcl_send(c, &req);
	ck_assert_int_gt(cid, 0);
	rep = rcl_reply(c, (uint64_t)cid, timeout_ms);
	if (!rep)
		return -1;
	err = rep->error;
	if (err == 0) {
		ck_assert_int_eq(rep->body_case, CHRONIK__REPL__REPL_REPLY__BODY_PARTITION);
		memset(ret, 0, sizeof(*ret));
		snprintf(ret->topic, sizeof(ret->topic), "%s", rep->partition->topic);
		ret->partition = rep->partition->partition;
		rst_fill(ret, rep->partition);
	}
	chronik__repl__repl_reply__free_unpacked(rep, NULL);
	return err;
}

const rst_t *rcl_view(const rcl_t *c, const char *topic, int32_t part)
{
	for (int i = 0; i < c->nview; i++)
		if (c->view[i].partition == part && !strcmp(c->view[i].topic, topic))
			return &c->view[i];
	return NULL;
}

typedef bool (*rcl_pred_t)(const rst_t *v, int64_t a, int64_t b);

static const rst_t *rcl_wait(rcl_t *c, const char *topic, int32_t part, rcl_pred_t pred, int64_t a,
                             int64_t b, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		const rst_t *v = rcl_view(c, topic, part);
		Chronik__Repl__ReplReply *rep;

		if (v && pred(v, a, b))
			return v;
		if (ck_clock_mono_ms() >= deadline)
			return NULL;
		rep = rcl_recv(c, (int)(deadline - ck_clock_mono_ms()) + 1);
		if (rep)
			chronik__repl__repl_reply__free_unpacked(rep, NULL);
	}
}

static bool rcl_pred_hw(const rst_t *v, int64_t hw, int64_t b)
{
	(void)b;
	return !v->deleted && v->hw >= hw;
}

static bool rcl_pred_deleted(const rst_t *v, int64_t a, int64_t b)
{
	(void)a;
	(void)b;
	return v->deleted;
}

static bool rcl_pred_role(const rst_t *v, int64_t leader, int64_t epoch)
{
	return !v->deleted && v->leader == (leader != 0) && v->epoch == epoch;
}

static bool rcl_pred_isr(const rst_t *v, int64_t isr_size, int64_t b)
{
	(void)b;
	return !v->deleted && v->isr_size == isr_size;
}

const rst_t *rcl_wait_isr(rcl_t *c, const char *topic, int32_t part, int32_t isr_size,
                          int timeout_ms)
{
	return rcl_wait(c, topic, part, rcl_pred_isr, isr_size, 0, timeout_ms);
}

const rst_t *rcl_wait_hw(rcl_t *c, const char *topic, int32_t part, int64_t hw, int timeout_ms)
{
	return rcl_wait(c, topic, part, rcl_pred_hw, hw, 0, timeout_ms);
}

const rst_t *rcl_wait_deleted(rcl_t *c, const char *topic, int32_t part, int timeout_ms)
{
	return rcl_wait(c, topic, part, rcl_pred_deleted, 0, 0, timeout_ms);
}

const rst_t *rcl_wait_role(rcl_t *c, const char *topic, int32_t part, bool leader, int32_t epoch,
                           int timeout_ms)
{
	return rcl_wait(c, topic, part, rcl_pred_role, leader, epoch, timeout_ms);
}

int rcl_drain(rcl_t *c, int quiet_ms)
{
	int before = c->pushes;
	Chronik__Repl__ReplReply *rep;

	while ((rep = rcl_recv(c, quiet_ms)) != NULL)
		chronik__repl__repl_reply__free_unpacked(rep, NULL);
	return c->pushes - before;
}

/* ---- a fake raftd ---- */

void fraft_listen(fraft_t *f, const char *data_dir)
{
	char run[140];

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	snprintf(run, sizeof(run), "%s/run", data_dir);
	(void)mkdir(data_dir, 0755);
	(void)mkdir(run, 0755);
	snprintf(f->path, sizeof(f->path), "%s/raftd.sock", run);
	ck_assert_int_eq(ck_ipc_unix_listen(f->path, 8, &f->lfd), 0);
}

void fraft_accept(fraft_t *f, int timeout_ms)
{
	struct pollfd p = {f->lfd, POLLIN, 0};
	Chronik__Raftd__RaftdRequest *req;
	ck_buf_t frame = CK_BUF_INIT;
	int fl;

	ck_assert_msg(poll(&p, 1, timeout_ms) == 1, "replicator did not connect to raftd");
	f->fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(f->fd, 0);
	fl = fcntl(f->fd, F_GETFL);
	ck_assert_int_eq(fcntl(f->fd, F_SETFL, fl & ~O_NONBLOCK), 0);
	ck_assert_int_eq(ck_ipc_sync_recv(f->fd, 0, timeout_ms, &frame), 0);
	req = chronik__raftd__raftd_request__unpack(NULL, frame.len, frame.data);
	ck_assert_ptr_nonnull(req);
	ck_assert_int_eq(req->body_case, CHRONIK__RAFTD__RAFTD_REQUEST__BODY_SUBSCRIBE);
	ck_assert_uint_ne(req->correlation_id, 0);
	f->sub_id = req->correlation_id;
	chronik__raftd__raftd_request__free_unpacked(req, NULL);
	ck_buf_free(&frame);
}

void fraft_applied(fraft_t *f, uint64_t index, bool reply)
{
	Chronik__Raftd__RaftdReply rep = CHRONIK__RAFTD__RAFTD_REPLY__INIT;
	Chronik__Raftd__Applied ap = CHRONIK__RAFTD__APPLIED__INIT;

	ap.applied_index = index;
	rep.correlation_id = reply ? f->sub_id : 0;
	rep.body_case = CHRONIK__RAFTD__RAFTD_REPLY__BODY_APPLIED;
	rep.applied = &ap;
	ck_assert_int_eq(ck_ipc_sync_send_msg(f->fd, &rep.base), 0);
}

void fraft_close(fraft_t *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->lfd > 0)
		close(f->lfd);
	f->fd = -1;
	f->lfd = 0;
}

/* ---- LMDB as raftd writes it ---- */

/* How a test write tells readers what moved (ck_meta.h). */
typedef enum {
	META_APPLIED_ONLY, /* applied_index alone: readers walk everything */
	META_PARTS_INDEX,  /* ... and parts_index, no "changes" record */
	META_RECORDED,     /* ... and a "changes" record, as raftd writes it */
} meta_track_t;

/* Writes topic TOPIC with the partition P (NULL: deletes the topic) in one
 * transaction at INDEX. */
static void meta_write(const char *data_dir, const char *topic,
                       const Chronik__Meta__PartitionRecord *p, uint64_t index, meta_track_t track)
{
	Chronik__Meta__TopicRecord t = CHRONIK__META__TOPIC_RECORD__INIT;
	ck_meta_t *m = NULL;
	MDB_txn *txn = NULL;

	ck_assert_int_eq(ck_meta_open(data_dir, &m), 0);
	ck_assert_int_eq(ck_meta_write_begin(m, &txn), 0);
	if (p) {
		t.name = (char *)topic;
		t.partitions = p->partition + 1;
		ck_assert_int_eq(ck_meta_topic_put(m, txn, &t), 0);
		ck_assert_int_eq(ck_meta_partition_put(m, txn, p), 0);
	} else {
		ck_assert_int_eq(ck_meta_topic_del(m, txn, topic), 0);
	}
	if (track == META_RECORDED)
		ck_assert_int_eq(ck_meta_change_put(m, txn, index, topic), 0);
	if (track != META_APPLIED_ONLY)
		ck_assert_int_eq(ck_meta_parts_index_put(m, txn, index), 0);
	ck_assert_int_eq(ck_meta_applied_index_put(m, txn, index), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_meta_close(m);
}

void meta_put_partition(const char *data_dir, const char *topic, int32_t part,
                        const int32_t *replicas, size_t n_replicas, const int32_t *isr,
                        size_t n_isr, int32_t leader, int32_t epoch, uint64_t applied)
{
	Chronik__Meta__PartitionRecord p = CHRONIK__META__PARTITION_RECORD__INIT;

	p.topic = (char *)topic;
	p.partition = part;
	p.replicas = (int32_t *)replicas;
	p.n_replicas = n_replicas;
	p.isr = (int32_t *)isr;
	p.n_isr = n_isr;
	p.leader = leader;
	p.leader_epoch = epoch;
	meta_write(data_dir, topic, &p, applied, META_APPLIED_ONLY);
}

void meta_del_topic(const char *data_dir, const char *topic, uint64_t applied)
{
	meta_write(data_dir, topic, NULL, applied, META_APPLIED_ONLY);
}

void meta_put_partition_at(const char *data_dir, const char *topic, int32_t part,
                           const int32_t *replicas, size_t n_replicas, int32_t leader,
                           int32_t epoch, uint64_t index, bool recorded)
{
	Chronik__Meta__PartitionRecord p = CHRONIK__META__PARTITION_RECORD__INIT;

	p.topic = (char *)topic;
	p.partition = part;
	p.replicas = p.isr = (int32_t *)replicas;
	p.n_replicas = p.n_isr = n_replicas;
	p.leader = leader;
	p.leader_epoch = epoch;
	meta_write(data_dir, topic, &p, index, recorded ? META_RECORDED : META_PARTS_INDEX);
}

void meta_del_topic_at(const char *data_dir, const char *topic, uint64_t index)
{
	meta_write(data_dir, topic, NULL, index, META_RECORDED);
}

int meta_ckpt_get(const char *data_dir, const char *topic, int32_t part, int64_t *ret_hw,
                  int32_t *ret_epoch)
{
	ck_meta_t *m = NULL;
	MDB_txn *txn = NULL;
	char key[300];
	MDB_val k, v;
	int rc, found = 0;

	snprintf(key, sizeof(key), "hw/%s-%d", topic, (int)part);
	k = (MDB_val){strlen(key), key};
	ck_assert_int_eq(ck_meta_open(data_dir, &m), 0);
	ck_assert_int_eq(ck_meta_read_begin(m, &txn), 0);
	rc = mdb_get(txn, ck_meta_offsets_dbi(m), &k, &v);
	if (rc == 0) {
		const uint8_t *b = v.mv_data;
		/* The documented format: u32 version 1, i32 epoch, i64 HW, LE. */
		ck_assert_uint_eq(v.mv_size, 16);
		ck_assert_uint_eq(ck_le32_get(b), 1);
		*ret_epoch = (int32_t)ck_le32_get(b + 4);
		*ret_hw =
		    (int64_t)((uint64_t)ck_le32_get(b + 8) | (uint64_t)ck_le32_get(b + 12) << 32);
		found = 1;
	} else {
		ck_assert_int_eq(rc, MDB_NOTFOUND);
	}
	ck_meta_read_end(txn);
	ck_meta_close(m);
	return found;
}

int64_t rit_append(wcl_t *c, const char *topic, int32_t part, int nrecs)
{
	ck_buf_t b = CK_BUF_INIT;
	int64_t base = -1, last = -1;

	(void)wit_batch(&b, nrecs, 16, (uint32_t)nrecs);
	ck_assert_int_eq(wcl_append(c, topic, part, b.data, b.len, false, 0, &base, &last), 0);
	ck_buf_free(&b);
	return last + 1;
}

/* ---- proposals to a real raftd ---- */

/* One attempt: the reply's transport error, or its apply result; -1 when
 * none came. */
static int raftd_propose_once(const char *sock, Chronik__Meta__MetadataCommand *cmd, int timeout_ms)
{
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__Propose pr = CHRONIK__RAFTD__PROPOSE__INIT;
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	ck_buf_t frame = CK_BUF_INIT;
	int fd, result = -1;

	ck_assert_int_eq(ck_ipc_sync_connect(sock, timeout_ms, &fd), 0);
	pr.command = cmd;
	req.correlation_id = 42;
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE;
	req.propose = &pr;
	ck_assert_int_eq(ck_ipc_sync_send_msg(fd, &req.base), 0);
	while (ck_clock_mono_ms() < deadline) {
		Chronik__Raftd__RaftdReply *rep;

		if (ck_ipc_sync_recv(fd, 0, (int)(deadline - ck_clock_mono_ms()) + 1, &frame) < 0)
			break;
		rep = chronik__raftd__raftd_reply__unpack(NULL, frame.len, frame.data);
		ck_assert_ptr_nonnull(rep);
		if (rep->correlation_id != 42) {
			chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
			continue;
		}
		if (rep->error != 0)
			result = rep->error;
		else if (rep->body_case == CHRONIK__RAFTD__RAFTD_REPLY__BODY_PROPOSE)
			result = rep->propose->result;
		chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
		break;
	}
	close(fd);
	ck_buf_free(&frame);
	return result;
}

static int raftd_propose(const char *data_dir, Chronik__Meta__MetadataCommand *cmd, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	char sock[200];
	int r;

	snprintf(sock, sizeof(sock), "%s/run/raftd.sock", data_dir);
	for (;;) {
		r = raftd_propose_once(sock, cmd, timeout_ms);
		if (r != CK_E_NOT_LEADER || ck_clock_mono_ms() >= deadline)
			return r;
		usleep(50000);
	}
}

int raftd_create_topic(const char *data_dir, const char *name, int partitions, int32_t node,
                       int timeout_ms)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__CreateTopic ct = CHRONIK__META__CREATE_TOPIC__INIT;
	Chronik__Meta__PartitionAssignment as[16], *asp[16];
	static uint8_t calls;
	uint8_t id[16];

	/* A fresh topic id per call: a repeated CreateTopic with the SAME id is
	 * an idempotent retry (success); a different id for an existing name
	 * is CK_E_EXISTS. */
	calls++;
	ck_assert_int_le(partitions, 16);
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(0x40 + i * 7 + calls);
	for (int i = 0; i < partitions; i++) {
		chronik__meta__partition_assignment__init(&as[i]);
		as[i].partition = i;
		as[i].replicas = &node;
		as[i].n_replicas = 1;
		asp[i] = &as[i];
	}
	ct.name = (char *)name;
	ct.topic_id.data = id;
	ct.topic_id.len = sizeof(id);
	ct.assignments = asp;
	ct.n_assignments = (size_t)partitions;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC;
	cmd.create_topic = &ct;
	return raftd_propose(data_dir, &cmd, timeout_ms);
}

int raftd_delete_topic(const char *data_dir, const char *name, int timeout_ms)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__DeleteTopic dt = CHRONIK__META__DELETE_TOPIC__INIT;

	dt.name = (char *)name;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC;
	cmd.delete_topic = &dt;
	return raftd_propose(data_dir, &cmd, timeout_ms);
}

int raftd_update_partition(const char *data_dir, const char *topic, int32_t part, int32_t leader,
                           int32_t isr_one, int32_t leader_epoch, int32_t partition_epoch,
                           int timeout_ms)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__UpdatePartition up = CHRONIK__META__UPDATE_PARTITION__INIT;

	up.topic = (char *)topic;
	up.partition = part;
	up.leader = leader;
	up.isr = &isr_one;
	up.n_isr = 1;
	up.leader_epoch = leader_epoch;
	up.partition_epoch = partition_epoch;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION;
	cmd.update_partition = &up;
	return raftd_propose(data_dir, &cmd, timeout_ms);
}

void meta_epochs(const char *data_dir, const char *topic, int32_t part, int32_t *ret_leader_epoch,
                 int32_t *ret_partition_epoch)
{
	Chronik__Meta__PartitionRecord *rec = NULL;
	ck_meta_t *m = NULL;
	MDB_txn *txn = NULL;

	ck_assert_int_eq(ck_meta_open(data_dir, &m), 0);
	ck_assert_int_eq(ck_meta_read_begin(m, &txn), 0);
	ck_assert_int_eq(ck_meta_partition_get(m, txn, topic, part, &rec), 0);
	*ret_leader_epoch = rec->leader_epoch;
	*ret_partition_epoch = rec->partition_epoch;
	chronik__meta__partition_record__free_unpacked(rec, NULL);
	ck_meta_read_end(txn);
	ck_meta_close(m);
}
