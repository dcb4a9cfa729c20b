/*
 * wal_itest.h: harness of the walwriter integration tests
 * (tests/integration/wal/): starts real chronik-walwriter processes
 * standalone on a temp data dir (found through CHRONIK_BUILD_ROOT), waits
 * for READY=1 on a NOTIFY_SOCKET of its own, stops only the processes it
 * started (by pid; they also die with the test through PR_SET_PDEATHSIG),
 * and talks to them with the blocking ck_ipc helpers. Also reads the logs
 * back through common/ck_segment as any reader would. Generic helpers
 * (temp dirs, files, waiting for a pid, running the suite) are
 * tests/lib/ck_testlib.h, included here.
 * Test code only.
 */
#ifndef WAL_ITEST_H
#define WAL_ITEST_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ck_buf.h"
#include "ck_testlib.h"
#include "ck_testproc.h"
#include "walwriter.pb-c.h"

typedef struct {
	char root[96];  /* the test's temp dir */
	char data[128]; /* the data dir */
	char sock[160]; /* run/walwriter.sock */
	/* The walwriter process: proc.pid (0 when not running), proc.logpath
	 * (its stderr, appended across restarts: <root>/walwriter.log), its
	 * environment; supervisor-style socket passing (LISTEN_FDS) with
	 * ck_test_proc_pass_fd(). */
	ck_test_proc_t proc;
} wit_t;

/* Makes a temp root (ck_test_mkdtemp: under the test case's root
 * directory when ck_test_add_root() gave it one, so temp dirs go away even
 * when a forked test dies half-way; its walwriter dies with it through
 * PDEATHSIG) and a NOTIFY socket. */
void wit_init(wit_t *t, const char *tag);
/* Adds "KEY=VALUE" to the child's environment (before wit_start). */
void wit_env(wit_t *t, const char *kv);
/* Forgets the environment added so far. */
void wit_env_clear(wit_t *t);
/* Starts walwriter with --data-dir (and EXTRA_ARG when not NULL). */
void wit_start_args(wit_t *t, const char *extra_arg, const char *extra_val);
static inline void wit_start(wit_t *t)
{
	wit_start_args(t, NULL, NULL);
}
/* Waits for READY=1. Returns 0, or -1 when the child exited or the time ran out. */
int wit_wait_ready(wit_t *t, int timeout_ms);
/* Starts and asserts READY within 30 s. */
void wit_start_ready(wit_t *t);
/* Sends SIG and reaps the child (SIGKILL after TIMEOUT_MS). Returns the exit
 * status, or 128 + signal when it died by one. */
int wit_stop(wit_t *t, int sig, int timeout_ms);
/* Waits for an exit without signalling. Returns as wit_stop, or -1 on timeout. */
int wit_wait_exit(wit_t *t, int timeout_ms);
/* Kills a running child and removes the root. Safe to call twice. */
void wit_cleanup(wit_t *t);
/* Counts lines of walwriter's log holding every one of the NULL-terminated
 * needles. */
int wit_log_count(const wit_t *t, ...) __attribute__((sentinel));
/* Length of walwriter's log file so far (to look only at later lines). */
size_t wit_log_size(const wit_t *t);
/* Whether a line after byte FROM holds NEEDLE. */
bool wit_log_has_after(const wit_t *t, size_t from, const char *needle);

/* A blocking client. */
typedef struct {
	int fd;
	uint64_t next_id;
	ck_buf_t frame;
} wcl_t;

/* Connects (retrying up to 10 s); asserts success. */
void wcl_connect(wcl_t *c, const wit_t *t);
void wcl_close(wcl_t *c);
/* Sends REQ with a fresh correlation id (returned). -1 when the send failed. */
int64_t wcl_send(wcl_t *c, Chronik__Wal__WalRequest *req);
/* The next frame (reply or event), or NULL on EOF, timeout or garbage.
 * Free with chronik__wal__wal_reply__free_unpacked. */
Chronik__Wal__WalReply *wcl_recv(wcl_t *c, int timeout_ms);
/* Sends and waits for the reply with the same id; events are dropped. */
Chronik__Wal__WalReply *wcl_call(wcl_t *c, Chronik__Wal__WalRequest *req, int timeout_ms);

/* Shortcuts returning the reply's error (0 on success); -1 when the
 * connection failed. */
int wcl_create(wcl_t *c, const char *topic, int32_t part, const Chronik__Wal__LogConfig *cfg);
int wcl_delete(wcl_t *c, const char *topic, int32_t part);
/* ConfigureLog with CFG (NULL: all node defaults); *RET (may be NULL) gets
 * the reply's LogInfo on success. */
int wcl_configure(wcl_t *c, const char *topic, int32_t part, const Chronik__Wal__LogConfig *cfg,
                  Chronik__Wal__LogInfo *ret);
int wcl_append(wcl_t *c, const char *topic, int32_t part, const void *batches, size_t len,
               bool replica, int32_t epoch, int64_t *ret_base, int64_t *ret_last);
int wcl_truncate(wcl_t *c, const char *topic, int32_t part, int64_t offset, int64_t *ret_end);
int wcl_info(wcl_t *c, const char *topic, int32_t part, Chronik__Wal__LogInfo *ret);
/* DeleteRecords before BEFORE; *RET_START (may be NULL) gets the reply's
 * log start offset on success. */
int wcl_delete_records(wcl_t *c, const char *topic, int32_t part, int64_t before,
                       int64_t *ret_start);
/* DeleteRecords with start_over: the log empties and starts at AT when AT
 * is past its end. */
int wcl_start_over(wcl_t *c, const char *topic, int32_t part, int64_t at, int64_t *ret_start);
/* Request builders for pipelined use. */
void wcl_append_req(Chronik__Wal__WalRequest *req, Chronik__Wal__Append *ap, const char *topic,
                    int32_t part, const void *batches, size_t len);

/*
 * Reads log TOPIC-PART of DATA_DIR through ck_segment with CRC checks:
 * asserts the offsets are contiguous from the log start and that no
 * segment ends in a partial batch; appends every batch to OUT (may be
 * NULL). Returns the end offset; *RET_START gets the first offset.
 */
int64_t wit_read_log(const char *data_dir, const char *topic, int32_t part, ck_buf_t *out,
                     int64_t *ret_start);
/* The bytes of the batch at OFFSET (base offset) in the log, appended to
 * OUT. Returns 1, or 0 when no batch starts there. */
int wit_read_batch(const char *data_dir, const char *topic, int32_t part, int64_t offset,
                   ck_buf_t *out);

/* A batch like the test builds: NRECS records with values derived from SEED. */
size_t wit_batch(ck_buf_t *out, int nrecs, size_t value_len, uint32_t seed);

#endif
