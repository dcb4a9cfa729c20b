/*
 * cluster_harness.h: a 3-node chronik cluster for the `cluster` test suite
 * (tests/cluster/): three real `chronik-server start` processes (supervisor
 * and its four children each) on free loopback ports, each with its own
 * config and data dir under the test case's temp root, talked to the way a
 * user would: raftd.sock Propose/GetStatus (tests/integration/raftd's
 * client), the supervisor's control socket, and each node's LMDB `meta`.
 *
 * Faults: SIGKILL of a whole node (its supervisor is stopped first, then
 * every child it has, then the supervisor itself: nothing restarts in
 * between), SIGSTOP/SIGCONT of one node's raftd, a clean stop (SIGTERM),
 * wiping a node's data dir. The test process is a child subreaper, so the
 * children of a killed supervisor are reaped here. Only pids started here
 * or found as children of a supervisor started here are ever signalled.
 * Binaries: $CHRONIK_BUILD_ROOT (meson test sets it).
 *
 * Network partitions (cl_init_netns): the cluster runs in a network
 * namespace of its own, `ckpart-<owner pid>-<creator pid>` (the owner is
 * the test runner that called cl_netns_usable(), the creator the forked
 * test case), node i on 127.0.0.i for every listener, each supervisor
 * exec'd by `ip netns exec` (so its pid is the server's, as without).
 * cl_isolate() drops, with iptables inside the namespace, every packet
 * between 127.0.0.i and any other address. The Unix sockets and LMDB the
 * test talks through are files: they work across namespaces. A failed case
 * exits without its teardown (check's fork mode), so the runner calls
 * cl_netns_sweep() at the end; the namespace goes with it. Nodes in a
 * namespace run without CHRONIK_TEST_VALGRIND (valgrind would wrap `ip`).
 * Test code only.
 */
#ifndef CLUSTER_HARNESS_H
#define CLUSTER_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ck_buf.h"
#include "ck_testproc.h"
#include "raftd_itest.h"

#define CL_NODES 3
/* Node masks: bit i for node i. */
#define CL_MASK(i) (1u << (i))
#define CL_ALL     (CL_MASK(1) | CL_MASK(2) | CL_MASK(3))

typedef struct {
	int id; /* 1..3 */
	char dir[160];
	char config[200];
	int kafka, repl, raft, admin; /* ports */
	ck_test_proc_t sup;
	rit_t view; /* data and raftd_sock: for the raftd client and LMDB readers */
	char control[256];
	char host[16];    /* of every listener: 127.0.0.1, or 127.0.0.<id> in a netns */
	char server[512]; /* chronik-server's path when started through `ip` */
} cl_node_t;

typedef struct {
	char root[128];
	cl_node_t n[CL_NODES];
	uint64_t snapshot_entries; /* CHRONIK_RAFTD_SNAPSHOT_ENTRIES, 0 = default */
	char netns[48];            /* "": the host's network */
	unsigned isolated;         /* bit i: node i is cut off (cl_isolate) */
} cl_t;

/* Prepares a cluster in a fresh temp dir (configs written, nothing runs). */
void cl_init(cl_t *c, const char *tag, uint64_t snapshot_entries);
/* Whether this test process can make a network namespace with loopback,
 * iptables and ss (tried once, nothing left behind); when not, WHY says what
 * failed. Also makes the caller the owner whose namespaces
 * cl_netns_sweep() removes: call it in main(), before the cases fork. */
bool cl_netns_usable(char *why, size_t why_len);
/* As cl_init, in a fresh network namespace (see above); asserts. */
void cl_init_netns(cl_t *c, const char *tag);
/* Cuts node I off the others (ON) or heals it: iptables rules inside the
 * namespace drop every packet from 127.0.0.I to another address and to
 * 127.0.0.I from another. Asserts a netns cluster and success. */
void cl_isolate(cl_t *c, int i, bool on);
/* Runs CMD (NULL-terminated, PATH lookup) inside the cluster's namespace
 * and waits; its output (stdout and stderr, cut to OUT_LEN) into OUT.
 * Returns its exit code (127: not found). */
int cl_netns_run(cl_t *c, const char *const *cmd, char *out, size_t out_len);
/* Deletes the namespaces of this runner's cases still there (cases that
 * failed before their teardown); returns how many. */
int cl_netns_sweep(void);

/* Adds "KEY=VALUE" to every node's environment (for later starts). */
void cl_env(cl_t *c, const char *kv);
/* Stops everything started (SIGTERM, then SIGKILL), deletes the network
 * namespace if any, and frees. */
void cl_cleanup(cl_t *c);

/* Starts node I (1..3) and waits for its supervisor's READY=1. */
void cl_start(cl_t *c, int i);
void cl_start_all(cl_t *c);
/* Stops node I with SIGTERM and waits (asserts a clean exit). */
void cl_stop(cl_t *c, int i);
/* SIGKILLs node I: supervisor first stopped, its children killed, then it. */
void cl_kill9(cl_t *c, int i);
/* Removes node I's data dir (the node must be down). */
void cl_wipe(cl_t *c, int i);
/* The pid of node I's child running EXE ("chronik-walwriter", ...), or 0;
 * cl_raftd_pid for "chronik-raftd". */
pid_t cl_child_pid(cl_t *c, int i, const char *exe);
pid_t cl_raftd_pid(cl_t *c, int i);

/* raftd's status on node I; false when it does not answer (ROLE ""). */
bool cl_status(cl_t *c, int i, Chronik__Raftd__RaftStatus *ret, char *role, size_t role_len);
/* Waits until some node in MASK (bit i for node i) leads with a term above
 * MIN_TERM and the others in MASK follow it; returns its id, 0 on timeout. */
int cl_wait_leader(cl_t *c, unsigned mask, uint64_t min_term, int timeout_ms);
/* The node that is neither A nor B. */
int cl_other(int a, int b);
/* The current leader's id and term as node I sees them. */
int cl_leader_of(cl_t *c, int i, uint64_t *ret_term);

/* A CreateTopic of NAME (1 partition, its replica broker 1 + i % 3, topic
 * id derived from NAME). */
void cl_create_cmd(rit_create_t *b, const char *name, size_t i);

/* Proposes N CreateTopics NAME_FMT % i (i from FIRST) to node I over
 * NCONN pipelined connections; asserts every one succeeded. */
void cl_create_many(cl_t *c, int i, const char *prefix, size_t first, size_t n, int nconn);

/* Topics named PREFIX* in node I's LMDB. */
size_t cl_topics(cl_t *c, int i, const char *prefix);
bool cl_topic_exists(cl_t *c, int i, const char *name);
uint64_t cl_applied(cl_t *c, int i);
/* Whether broker B is registered and fenced, as node I's LMDB says (-1:
 * not registered). */
int cl_broker_fenced(cl_t *c, int i, int32_t b);
/* A dump of node I's raft state in LMDB (topics, partitions, brokers,
 * applied index, producer-id state) into OUT. */
void cl_dump(cl_t *c, int i, ck_buf_t *out);
/* Waits until the nodes in MASK have equal dumps; asserts within TIMEOUT_MS. */
void cl_wait_same(cl_t *c, unsigned mask, int timeout_ms);

/* raftd's STATUS= text as the supervisor reports it (control socket). */
void cl_raftd_status_text(cl_t *c, int i, char *buf, size_t len);

/* A stream of single CreateTopics to one node from a thread, retrying a
 * topic (same name, same id) until it is acknowledged. */
typedef struct cl_stream cl_stream_t;
cl_stream_t *cl_stream_start(cl_t *c, int i, const char *prefix);
/* Stops it; returns how many topics were acknowledged (0 .. n-1 in order;
 * *RET_BAD counts answers that were neither success nor retriable). */
size_t cl_stream_stop(cl_stream_t *s, size_t *ret_bad);
/* How many it has acknowledged so far (while it runs). */
size_t cl_stream_acked(cl_stream_t *s);

/* Adds test T (its function name NAME, "test_x") to TC unless
 * CHRONIK_CLUSTER_ONLY names another ("x"). */
void cl_add_test(TCase *tc, const TTest *t, const char *name);
#define CL_ADD_TEST(tc, t) cl_add_test(tc, t, #t)

#endif
