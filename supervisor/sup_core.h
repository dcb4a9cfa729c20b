/*
 * sup_core.h: the supervisor's pure core (chronik-server).
 *
 * Everything the supervisor decides without touching the world: the names
 * and legal transitions of a child's states, what a wait status means, when
 * to restart a dead child and after how long, when to give up, which child
 * to start or stop next, and what a notify datagram says. No syscalls, no
 * clock reads (time enters as now_ms / uptime_ms arguments), no libevent, no
 * allocation; unit tested in tests/unit/supervisor/.
 * Not for: forking, signals, sockets, logging (sup_loop.c, sup_spawn.c).
 */
#ifndef SUP_CORE_H
#define SUP_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A child's life. STOPPED: not running and not scheduled (initial, or after
 * the node stopped it). STARTING: forked, READY=1 not seen yet. READY:
 * serving. STOPPING: SIGTERM sent (SIGKILL follows after stop_timeout_ms).
 * BACKOFF: dead, restart scheduled. FAILED: dead for good (fatal exit or
 * restart burst exceeded); the node stops. */
typedef enum {
	SUP_STATE_STOPPED = 0,
	SUP_STATE_STARTING,
	SUP_STATE_READY,
	SUP_STATE_STOPPING,
	SUP_STATE_BACKOFF,
	SUP_STATE_FAILED,
	SUP_STATE_COUNT,
} sup_state_t;

/* "stopped", "starting", "ready", "stopping", "backoff", "failed"; "?" for
 * an out-of-range value. */
const char *sup_state_name(sup_state_t s);

/* Whether FROM -> TO is a legal transition. The shell's one set_state
 * function asserts this, so an impossible path is a programmer mistake. */
bool sup_state_transition_ok(sup_state_t from, sup_state_t to);

/* What a child's wait status means to the node (see ck_err.h). */
typedef enum {
	SUP_EXIT_STOPPED = 0, /* exit 0: it stopped on purpose */
	SUP_EXIT_CRASH,       /* exit 1 (or any code but 0 and 2), or a signal */
	SUP_EXIT_FATAL,       /* exit 2: bad config or corrupt data */
} sup_exit_kind_t;

/* Classifies a waitpid() status. */
sup_exit_kind_t sup_exit_classify(int wstatus);

/* Writes "exited with status N" or "killed by signal N (SIGNAME)[, core
 * dumped]" into BUF (always NUL-terminated when LEN > 0). */
void sup_exit_describe(int wstatus, char *buf, size_t len);

/* The largest restart_burst the policy can track. */
#define SUP_BURST_MAX 1024u

/* The [supervisor] restart settings, in milliseconds. */
typedef struct {
	uint32_t backoff_initial_ms; /* delay before the first restart */
	uint32_t backoff_max_ms;     /* cap of the doubling delay */
	uint32_t stable_ms;          /* uptime after which the delay starts over */
	uint32_t burst;              /* crashes allowed (<= SUP_BURST_MAX) ... */
	uint32_t window_ms;          /* ... within this sliding window */
} sup_policy_cfg_t;

/* Per-child restart memory. Zero-initialise or call sup_policy_init(). */
typedef struct {
	uint32_t consecutive;                 /* crashes since the last stable run */
	uint32_t head;                        /* ring index of the oldest crash */
	uint32_t count;                       /* crashes held in the ring */
	uint64_t crash_ms[SUP_BURST_MAX + 1]; /* now_ms of recent crashes, oldest first */
} sup_policy_t;

typedef enum {
	SUP_DECISION_RESTART = 0, /* restart after delay_ms */
	SUP_DECISION_GIVE_UP,     /* too many crashes in the window: stop the node, exit 1 */
	SUP_DECISION_FATAL,       /* fatal exit: stop the node, exit 2 */
} sup_decision_t;

typedef struct {
	sup_decision_t decision;
	uint64_t delay_ms;          /* for SUP_DECISION_RESTART */
	uint32_t crashes_in_window; /* including this one */
} sup_verdict_t;

void sup_policy_init(sup_policy_t *p);

/* Clamps CFG into what the policy supports (burst <= SUP_BURST_MAX,
 * initial >= 1, max >= initial). Returns true when something changed. */
bool sup_policy_cfg_sanitize(sup_policy_cfg_t *cfg);

/*
 * Decides what to do about a child that died unexpectedly (the shell does
 * not ask while the node is stopping it). KIND comes from sup_exit_classify
 * (or SUP_EXIT_CRASH for a child killed for missing its ready timeout);
 * UPTIME_MS is how long that process ran; NOW_MS is any monotonic clock.
 * - FATAL kind: SUP_DECISION_FATAL.
 * - Otherwise (a crash, or an exit 0 nobody asked for: the node must keep
 *   serving, so it is restarted too and counts like a crash): the crash is
 *   recorded; more than cfg->burst crashes within the last window_ms give
 *   SUP_DECISION_GIVE_UP; else SUP_DECISION_RESTART with a delay of
 *   backoff_initial_ms doubled per consecutive crash, capped at
 *   backoff_max_ms; an uptime of at least stable_ms starts the doubling over.
 */
void sup_policy_on_exit(sup_policy_t *p, const sup_policy_cfg_t *cfg, sup_exit_kind_t kind,
                        uint64_t uptime_ms, uint64_t now_ms, sup_verdict_t *ret);

/*
 * Start and stop order over the child table (index = start order).
 * STARTED[i] tells whether child i was ever started by this supervisor.
 * sup_order_next_start: the first never-started child, when every child
 * before it is READY; -1 when there is none to start now.
 * sup_order_next_stop: the last child (highest index) that is neither
 * STOPPED nor FAILED; -1 when every child is down.
 * sup_order_all_ready: every child READY.
 */
int sup_order_next_start(const sup_state_t *states, const bool *started, int n);
int sup_order_next_stop(const sup_state_t *states, int n);
bool sup_order_all_ready(const sup_state_t *states, int n);

/*
 * Hung-child detection. A ready child sends a keepalive every second from
 * its event loop; one that stops (SIGSTOP, a loop blocked on a hung disk)
 * would stall what it serves for as long as it hangs, so the supervisor
 * kills it and the restart policy brings it back. Silence is counted only
 * over the supervisor's own on-time checks: when the supervisor itself was
 * paused or starved (the whole node stopped and continued), the count
 * starts over, so children continued with it are not taken for hung.
 */
typedef struct {
	uint64_t last_check_ms; /* the previous check, 0: none yet */
	uint64_t watched_ms;    /* silence seen by on-time checks */
} sup_hang_t;

/* A check later than this after the previous one means the supervisor did
 * not run on time: the counts start over. */
#define SUP_HANG_CHECK_LATE_MS 3000
/* A keepalive older than this counts as silence. */
#define SUP_HANG_QUIET_MS 2000

/*
 * One check at NOW_MS of a child whose last keepalive was at ALIVE_MS (0:
 * not ready: nothing is counted). Returns true when the child has been
 * silent for KILL_MS of on-time checks (KILL_MS 0: never).
 */
bool sup_hang_check(sup_hang_t *h, uint64_t alive_ms, uint64_t now_ms, uint64_t kill_ms);

/* What one notify datagram says. Text fields are truncated to fit. */
#define SUP_NOTIFY_STATUS_MAX 256
#define SUP_NOTIFY_ROLE_MAX   64
typedef struct {
	bool ready;      /* READY=1 */
	bool stopping;   /* STOPPING=1 */
	bool reloading;  /* RELOADING=1 */
	bool watchdog;   /* WATCHDOG=1 */
	bool has_status; /* STATUS=... */
	char status[SUP_NOTIFY_STATUS_MAX];
	bool has_role; /* CHRONIK_ROLE=... (ours) */
	char role[SUP_NOTIFY_ROLE_MAX];
	bool has_errno; /* ERRNO=n */
	int errno_value;
	bool drained;      /* CHRONIK_DRAINED=1: raftd moved the node's leadership away */
	bool has_main_pid; /* MAINPID=n */
	int32_t main_pid;
	bool has_extend; /* EXTEND_TIMEOUT_USEC=n: the current timeout becomes n µs from now */
	uint64_t extend_usec;
} sup_notify_t;

/* Parses MSG (newline-separated KEY=value lines). Unknown keys are ignored,
 * as systemd does. Returns 0, or -EINVAL when MSG holds no KEY=value line at
 * all (RET is then all false). */
int sup_notify_parse(const char *msg, sup_notify_t *ret);

/* The identity of a data directory (<data_dir>/node.identity, written at
 * its first start, as Kafka's meta.properties): the cluster and node it
 * belongs to, lines "cluster_id=..." and "node_id=N" ('#' comments and
 * other keys ignored). A start with another node id or cluster id is
 * refused: its data (partition replicas, Raft state, the broker's id in
 * every ISR) would be taken for another broker's. */
#define SUP_IDENTITY_FILE "node.identity"
#define SUP_IDENTITY_MAX  512

/* The file's text for CLUSTER, NODE and VOTERS (sup_voters_format's
 * text; NULL: no such line) into BUF (LEN bytes). Returns its length, or
 * -1 when it does not fit. */
int sup_identity_format(char *buf, size_t len, const char *cluster, int32_t node,
                        const char *voters);
/* The Raft voters a data directory was formed with (line "voters=1,2,3",
 * written from the configuration's [peer.N] tables, or the node alone
 * without any): Raft's membership is static, so a start with another set
 * is refused too; with another count of voters the nodes disagree on what
 * a majority is (no leader, or the stored vote names a node no longer
 * listed). A file of an earlier version, without the line, is not
 * checked (nothing tells which peer list its Raft state was formed with). */
#define SUP_VOTERS_MAX 16
/* The ids IDS (N of them, 1..SUP_VOTERS_MAX) in ascending order, joined
 * by ',', into BUF (LEN bytes). Returns the length, or -1. */
int sup_voters_format(const int32_t *ids, int n, char *buf, size_t len);
/* TEXT ("3,1,2"): distinct ids 1..2^31-1 separated by commas, at most
 * SUP_VOTERS_MAX, written as sup_voters_format does into OUT (OUT_LEN
 * bytes). Returns the length, or -1 when TEXT is not so. */
int sup_voters_normalize(const char *text, char *out, size_t out_len);
/* The voters line of LEN bytes at TEXT: 1 with its value in OUT (OUT_LEN
 * bytes, NUL terminated), 0 when there is none, -1 when it is repeated,
 * empty, too long or holds other than digits and commas. */
int sup_identity_voters(const char *text, size_t len, char *out, size_t out_len);
/* Parses LEN bytes at TEXT: 0 with CLUSTER (CLUSTER_LEN bytes, NUL
 * terminated) and *NODE; -1 when either key is missing, repeated or
 * malformed (a node id not in 1..2^31-1, a cluster id too long). */
int sup_identity_parse(const char *text, size_t len, char *cluster, size_t cluster_len,
                       int32_t *node);

#endif
