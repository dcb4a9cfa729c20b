/*
 * raftd_itest.h: harness of the raftd integration tests
 * (tests/integration/raftd/): a real chronik-walwriter and chronik-raftd
 * started standalone (tests/lib/ck_testproc.h) on a temp data dir with free
 * loopback ports, a blocking client of run/raftd.sock that pipelines
 * proposals over several connections, and readers of what a user of the
 * node would look at: LMDB `meta` (common/ck_meta.h), the partition log
 * directories and the metadata log __chronik_metadata-0 (common/ck_segment).
 * Only processes started here are ever signalled, by pid.
 * Test code only.
 */
#ifndef RAFTD_ITEST_H
#define RAFTD_ITEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"
#include "ck_testlib.h"
#include "ck_testproc.h"
#include "metadata.pb-c.h"
#include "raftd.pb-c.h"

typedef struct {
	char root[128];
	char data[192];
	char raftd_sock[256];
	char wal_sock[256];
	ck_test_proc_t wal;
	ck_test_proc_t raftd;
} rit_t;

/* A temp root with data dir, free ports, both processes prepared. */
void rit_init(rit_t *t, const char *tag);
/* Kills what runs and frees; the root goes with the test case's fixture. */
void rit_cleanup(rit_t *t);
/* Starts walwriter and waits for READY=1 (asserted, 30 s). */
void rit_start_wal(rit_t *t);
/* Starts raftd, waits for READY=1 and until it serves (rit_wait_serving). */
void rit_start_raftd(rit_t *t);
/* Waits until raftd leads and has applied everything in its log (and its
 * own broker registration); asserts within 60 s. */
void rit_wait_serving(rit_t *t);
/* SIGKILLs the process and reaps it. */
void rit_kill(ck_test_proc_t *p);
/* A test case NAME for tests that run on *T: a temp root per case
 * (ck_test_add_root), rit_cleanup(T) after every test, a 600 s timeout.
 * One per test binary: T must outlive the run (a file-scope rit_t). */
TCase *rit_tcase_create(const char *name, rit_t *t);

/* A blocking client of run/raftd.sock. */
typedef struct {
	int fd;
	uint64_t next_id;
	ck_buf_t frame;
} rcl_t;

void rcl_connect(rcl_t *c, const rit_t *t);
void rcl_close(rcl_t *c);
/* Sends REQ with a fresh correlation id (returned), or -1. */
int64_t rcl_send(rcl_t *c, Chronik__Raftd__RaftdRequest *req);
/* The next frame, or NULL on EOF, timeout or garbage. */
Chronik__Raftd__RaftdReply *rcl_recv(rcl_t *c, int timeout_ms);
/* Sends and waits for the reply with the same id (events are skipped). */
Chronik__Raftd__RaftdReply *rcl_call(rcl_t *c, Chronik__Raftd__RaftdRequest *req, int timeout_ms);
/* GetStatus; asserts a reply. Free with chronik__raftd__raft_status__free_unpacked
 * is not needed: the fields are copied into *RET (role into ROLE). */
void rcl_status(rcl_t *c, Chronik__Raftd__RaftStatus *ret, char *role, size_t role_len);
/* Proposes CMD and waits; returns the transport error (0: *RET_RESULT and
 * *RET_INDEX set), or -1 when the connection failed. */
int rcl_propose(rcl_t *c, const Chronik__Meta__MetadataCommand *cmd, int *ret_result,
                uint64_t *ret_index);

/* Commands. */
typedef struct {
	Chronik__Meta__MetadataCommand cmd;
	Chronik__Meta__CreateTopic ct;
	Chronik__Meta__PartitionAssignment as[4];
	Chronik__Meta__PartitionAssignment *asp[4];
	int32_t replicas[4];
	Chronik__Meta__ConfigEntry ce;
	Chronik__Meta__ConfigEntry *cep[1];
	uint8_t id[16];
	char name[64];
} rit_create_t;

/* CreateTopic NAME with PARTS partitions on broker 1, topic id from NAME,
 * with retention.ms = 3600000. */
void rit_create_cmd(rit_create_t *c, const char *name, int parts);
void rit_delete_cmd(Chronik__Meta__MetadataCommand *cmd, Chronik__Meta__DeleteTopic *dt,
                    const char *name);

/* The outcome of one proposal of rit_propose_many. */
typedef struct {
	int err;        /* transport error, CK_E_CLOSED when the connection died */
	int result;     /* the apply result */
	uint64_t index; /* the entry's index */
	bool answered;
} rit_answer_t;

/* Fills *CMD (with storage in the builder) for proposal I. */
typedef void (*rit_make_fn)(size_t i, rit_create_t *builder, void *arg);
/* Called after each answer with the count so far. */
typedef void (*rit_progress_fn)(size_t answered, void *arg);
/* A rit_make_fn: CreateTopic "PREFIX-NNNN" (ARG is the const char *PREFIX,
 * NNNN is I in four digits at least) with 1 partition. */
void rit_make_topic(size_t i, rit_create_t *builder, void *arg);

/*
 * Proposes N commands over NCONN connections at once: all are sent first
 * (pipelined), then the answers are collected. A connection that closes
 * leaves its unanswered proposals with err CK_E_CLOSED. Returns how many
 * were answered; asserts that everything settles within TIMEOUT_MS.
 */
size_t rit_propose_many(rit_t *t, int nconn, size_t n, rit_make_fn make, void *arg,
                        rit_progress_fn progress, void *parg, rit_answer_t *ans, int timeout_ms);

/* ---- what a user would look at ---- */

/* Topics whose name starts with PREFIX in LMDB: their count; for each,
 * FN(ARG, record) when FN is set. */
size_t rit_meta_topics(const rit_t *t, const char *prefix,
                       void (*fn)(void *arg, const Chronik__Meta__TopicRecord *rec), void *arg);
/* LMDB's applied_index. */
uint64_t rit_meta_applied(const rit_t *t);
/* The partition record, or NULL (free with
 * chronik__meta__partition_record__free_unpacked). */
Chronik__Meta__PartitionRecord *rit_meta_partition(const rit_t *t, const char *topic, int32_t p);
/* Whether broker ID is registered. */
bool rit_meta_broker(const rit_t *t, int32_t id);

/* Whether walwriter has the log TOPIC-P (a directory with a segment). */
bool rit_log_exists(const rit_t *t, const char *topic, int32_t p);
/* Waits up to TIMEOUT_MS until rit_log_exists is PRESENT; returns whether
 * it is. A creation (or deletion) is answered at commit and its CreateLog
 * (DeleteLog) reaches walwriter on raftd's own connection, so a check on
 * another connection right after the answer can run first. */
bool rit_wait_log(const rit_t *t, const char *topic, int32_t p, bool present, int timeout_ms);

/* Walks the metadata log from index 1, checking that entries are
 * contiguous (a batch claiming more offsets than it holds records, the gap
 * an installed snapshot leaves, skips them); calls FN(ARG, index, term,
 * command or NULL for a no-op). Returns the last index. */
uint64_t rit_meta_log(const rit_t *t,
                      void (*fn)(void *arg, uint64_t index, uint64_t term,
                                 const Chronik__Meta__MetadataCommand *cmd),
                      void *arg);
/* The metadata log's bytes (all segments, in order) into OUT. */
void rit_meta_log_bytes(const rit_t *t, ck_buf_t *out);

#endif
