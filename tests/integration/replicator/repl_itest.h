/*
 * repl_itest.h: harness of the replicator integration tests
 * (tests/integration/replicator/): starts a real chronik-replicator
 * standalone on the data dir of a walwriter started with the walwriter
 * harness (tests/integration/wal/wal_itest.h), on a free loopback port
 * (ck_test_free_port; the same harness also starts a real chronik-raftd),
 * as a child run by tests/lib/ck_testproc.h: it waits for READY=1 on a
 * NOTIFY_SOCKET of its own and stops only the processes it started (by
 * pid; they also die with the test through PR_SET_PDEATHSIG). A blocking replicator.proto client keeps the latest
 * PartitionState per partition as pushes arrive; a fake raftd (a Unix
 * socket at run/raftd.sock) sends Applied events; metadata is written to
 * LMDB the way raftd would (with or without parts_index and "changes").
 * Test code only.
 */
#ifndef REPL_ITEST_H
#define REPL_ITEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ck_buf.h"
#include "replicator.pb-c.h"
#include "wal_itest.h"

typedef struct {
	const wit_t *w;    /* the walwriter whose data dir is shared */
	char name[16];     /* "replicator" or "raftd" */
	char sock[160];    /* run/<name>.sock */
	int repl_port;     /* its TCP listener (replication or raft) */
	/* The process (tests/lib/ck_testproc.h): proc.pid (0 when not
	 * running), proc.logpath (its stderr, appended across restarts:
	 * <root>/<name>.log), its environment. */
	ck_test_proc_t proc;
} rit_t;

/* Prepares a replicator for W's data dir (W is wit_init'ed). */
void rit_init(rit_t *r, const wit_t *w);
/* The same for a real chronik-raftd (single node: it leads at once). */
void rit_init_raftd(rit_t *r, const wit_t *w);
/* Adds "KEY=VALUE" to the child's environment (before rit_start). */
void rit_env(rit_t *r, const char *kv);
void rit_start(rit_t *r);
/* Waits for READY=1. Returns 0, or -1 when it exited or time ran out. */
int rit_wait_ready(rit_t *r, int timeout_ms);
/* Starts and asserts READY within 30 s. */
void rit_start_ready(rit_t *r);
/* Sends SIG and reaps (SIGKILL after TIMEOUT_MS). Returns the exit status,
 * or 128 + signal. */
int rit_stop(rit_t *r, int sig, int timeout_ms);
/* Whether the replicator is still running (reaps it when not). */
bool rit_alive(rit_t *r);
/* Kills a running replicator and frees the environment. */
void rit_cleanup(rit_t *r);
/* Reads the replicator's notify datagrams until one has a STATUS= holding
 * NEEDLE and CHRONIK_ROLE=ROLE; false on timeout. */
bool rit_wait_status(rit_t *r, const char *needle, const char *role, int timeout_ms);
/* Whether the replicator's log holds NEEDLE. */
bool rit_log_has(const rit_t *r, const char *needle);

/* The latest state of one partition, as pushed. */
typedef struct {
	char topic[256];
	int32_t partition;
	int64_t hw;
	int64_t log_start;
	int64_t log_end;
	bool leader;
	int32_t epoch;
	int32_t isr_size;
	bool deleted;
	int pushes; /* how many pushes for it so far */
} rst_t;

#define RCL_VIEW_MAX 64

typedef struct {
	int fd;
	uint64_t next_id;
	ck_buf_t frame;
	rst_t view[RCL_VIEW_MAX];
	int nview;
	int pushes; /* pushes received in all */
} rcl_t;

/* Connects to run/replicator.sock (retrying up to 10 s); asserts success. */
void rcl_connect(rcl_t *c, const rit_t *r);
void rcl_close(rcl_t *c);
/* Sends a raw frame. Returns 0 or an error. */
int rcl_send_raw(rcl_t *c, const void *data, size_t len);
/* Sends REQ with a fresh correlation id (returned), -1 on failure. */
int64_t rcl_send(rcl_t *c, Chronik__Repl__ReplRequest *req);
/* The next frame, applying a push to the view; NULL on EOF, timeout or
 * garbage. Free with chronik__repl__repl_reply__free_unpacked. */
Chronik__Repl__ReplReply *rcl_recv(rcl_t *c, int timeout_ms);
/* Subscribes and waits for the reply: its error (0 = subscribed), or -1
 * when none came within TIMEOUT_MS. */
int rcl_subscribe(rcl_t *c, int timeout_ms);
/* GetPartition: the reply's error (0 fills *RET), or -1 on no reply. */
int rcl_get(rcl_t *c, const char *topic, int32_t part, rst_t *ret, int timeout_ms);
/* The view entry, or NULL. */
const rst_t *rcl_view(const rcl_t *c, const char *topic, int32_t part);
/* Reads pushes until TOPIC-PART's view satisfies the condition; returns
 * the entry, or NULL on timeout. */
const rst_t *rcl_wait_hw(rcl_t *c, const char *topic, int32_t part, int64_t hw, int timeout_ms);
const rst_t *rcl_wait_deleted(rcl_t *c, const char *topic, int32_t part, int timeout_ms);
const rst_t *rcl_wait_role(rcl_t *c, const char *topic, int32_t part, bool leader, int32_t epoch,
                           int timeout_ms);
/* ISR_SIZE 0: the replicator has not read the replica set yet. */
const rst_t *rcl_wait_isr(rcl_t *c, const char *topic, int32_t part, int32_t isr_size,
                          int timeout_ms);
/* Reads pushes for QUIET_MS; returns how many arrived. */
int rcl_drain(rcl_t *c, int quiet_ms);

/* A fake raftd: listens at <data>/run/raftd.sock. */
typedef struct {
	char path[160];
	int lfd;
	int fd; /* the replicator's connection, -1 before */
	uint64_t sub_id;
} fraft_t;

void fraft_listen(fraft_t *f, const char *data_dir);
/* Accepts the replicator and reads its Subscribe; asserts both within
 * TIMEOUT_MS. */
void fraft_accept(fraft_t *f, int timeout_ms);
/* Sends Applied (as the Subscribe reply when REPLY, else as a push). */
void fraft_applied(fraft_t *f, uint64_t index, bool reply);
void fraft_close(fraft_t *f);

/* Metadata as raftd writes it: topic TOPIC with one partition record
 * (PART), and applied_index = APPLIED, in one transaction. */
void meta_put_partition(const char *data_dir, const char *topic, int32_t part,
                        const int32_t *replicas, size_t n_replicas, const int32_t *isr,
                        size_t n_isr, int32_t leader, int32_t epoch, uint64_t applied);
/* Deletes TOPIC (and its partitions) and sets applied_index = APPLIED. */
void meta_del_topic(const char *data_dir, const char *topic, uint64_t applied);
/* The same as raftd's apply of a partition-changing entry at INDEX:
 * TOPIC's record and PART's (ISR = replicas), then "changes" (INDEX ->
 * TOPIC; skipped when !RECORDED, as an older raftd or a snapshot install
 * leaves it), parts_index and applied_index = INDEX, in one transaction. */
void meta_put_partition_at(const char *data_dir, const char *topic, int32_t part,
                           const int32_t *replicas, size_t n_replicas, int32_t leader,
                           int32_t epoch, uint64_t index, bool recorded);
/* DeleteTopic as raftd applies it at INDEX (recorded in "changes"). */
void meta_del_topic_at(const char *data_dir, const char *topic, uint64_t index);
/* The raw HW checkpoint of TOPIC-PART: 1 with *RET_HW and *RET_EPOCH
 * decoded per the documented format, 0 when missing. */
int meta_ckpt_get(const char *data_dir, const char *topic, int32_t part, int64_t *ret_hw,
                  int32_t *ret_epoch);

/* Proposes a command to the raftd of DATA_DIR (run/raftd.sock), retrying
 * while it answers CK_E_NOT_LEADER (still electing itself) until
 * TIMEOUT_MS. Returns the apply result (0, CK_E_EXISTS ...), another
 * transport error, or -1 when no reply came. */
int raftd_create_topic(const char *data_dir, const char *name, int partitions, int32_t node,
                       int timeout_ms);
int raftd_delete_topic(const char *data_dir, const char *name, int timeout_ms);
/* UpdatePartition: LEADER (-1 none) with ISR {ISR_ONE}, at LEADER_EPOCH,
 * CAS on PARTITION_EPOCH. */
int raftd_update_partition(const char *data_dir, const char *topic, int32_t part, int32_t leader,
                           int32_t isr_one, int32_t leader_epoch, int32_t partition_epoch,
                           int timeout_ms);
/* The epochs of TOPIC-PART in LMDB (asserts the record exists). */
void meta_epochs(const char *data_dir, const char *topic, int32_t part, int32_t *ret_leader_epoch,
                 int32_t *ret_partition_epoch);

/* Appends NRECS records to TOPIC-PART through C; returns the last offset + 1. */
int64_t rit_append(wcl_t *c, const char *topic, int32_t part, int nrecs);

#endif
