/*
 * sup_loop.h: the supervisor's shell (chronik-server start).
 *
 * One libevent loop drives the child table: it owns every listening socket,
 * forks and execs the children in start order (each after the previous one
 * reported READY=1), restarts a dead child alone as the pure core decides
 * (sup_core.h), answers the control socket and reports upward to systemd.
 * The node table below is shared by the shell's files (sup_loop.c: the
 * lifecycle; sup_spawn.c: fork/exec and locating binaries; sup_control.c:
 * control socket and admin HTTP) and by nothing else.
 * Not for: decisions that can be made without I/O (sup_core.c), the CLI
 * (main.c, sup_status.c).
 */
#ifndef SUP_LOOP_H
#define SUP_LOOP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ck_config.h"
#include "sup_core.h"
#include "sup_status.h"

struct event;
struct event_base;
struct sup_control;

/* Listening sockets a child can get, at most this many plus "supervisor". */
#define SUP_CHILD_FDS_MAX 4

/* The node's listening sockets, all opened by the supervisor. */
typedef enum {
	SUP_SOCK_KAFKA = 0,
	SUP_SOCK_REPLICATION,
	SUP_SOCK_RAFT,
	SUP_SOCK_ADMIN,
	SUP_SOCK_WALWRITER,  /* run/walwriter.sock */
	SUP_SOCK_RAFTD,      /* run/raftd.sock */
	SUP_SOCK_REPLICATOR, /* run/replicator.sock */
	SUP_SOCK_COUNT,
} sup_sock_t;

typedef struct sup_child {
	ck_child_t id;
	const char *name; /* "walwriter" ... */
	struct sup_node *node;
	sup_state_t state;
	pid_t pid;               /* 0 when not running */
	bool started_once;       /* ever forked by this supervisor */
	bool restart_after_stop; /* stopped for its ready timeout: restart */
	uint64_t started_ms;     /* monotonic, of the current process */
	uint64_t alive_ms;       /* its READY=1 or last keepalive (WATCHDOG=1), 0: none */
	bool silent;             /* logged as not responding */
	sup_hang_t hang;         /* silence counted towards hang_kill_ms */
	uint32_t restarts;       /* restarts since the supervisor started */
	sup_policy_t policy;
	char binary[PATH_MAX];      /* absolute path of chronik-<name> */
	char notify_path[PATH_MAX]; /* run/notify-<name>.sock */
	int notify_fd;              /* kept across restarts */
	struct event *notify_ev;
	int supervisor_fd;   /* our end of the "supervisor" socketpair, or -1 */
	struct event *timer; /* backoff, ready timeout or stop timeout */
	sup_sock_t socks[SUP_CHILD_FDS_MAX];
	const char *sock_names[SUP_CHILD_FDS_MAX];
	int sock_count;
	char last_exit[192];                     /* "killed by signal 9 (SIGKILL)" */
	char status_text[SUP_NOTIFY_STATUS_MAX]; /* last STATUS= */
	char role[SUP_NOTIFY_ROLE_MAX];          /* last CHRONIK_ROLE= */
} sup_child_t;

typedef enum {
	SUP_PHASE_STARTING = 0, /* children being started in order */
	SUP_PHASE_RUNNING,      /* all were ready once; restarts happen alone */
	SUP_PHASE_STOPPING,     /* stopping children in reverse order */
} sup_phase_t;

typedef struct sup_node {
	struct event_base *base;
	ck_config_t cfg;
	sup_policy_cfg_t policy_cfg;
	char config_path[PATH_MAX]; /* absolute; "" = embedded default */
	char data_dir[PATH_MAX];    /* absolute */
	char run_dir[PATH_MAX];
	int lock_fd;
	int socks[SUP_SOCK_COUNT];
	char sock_paths[SUP_SOCK_COUNT][PATH_MAX]; /* Unix sockets only */
	sup_child_t children[CK_CHILD_COUNT];
	sup_phase_t phase;
	uint64_t started_ms;
	int exit_code; /* when the loop ends */
	char stop_reason[512];
	struct event *sig_evs[4]; /* TERM, INT, HUP, CHLD */
	/* Controlled shutdown (a cluster node stopped by a signal): raftd
	 * moves the node's partition leadership away before the children
	 * stop; until it says CHRONIK_DRAINED=1 or drain_ev fires. */
	bool draining;
	uint64_t drain_start_ms;
	struct event *drain_ev;
	struct event *watchdog_ev;
	struct event *live_ev;       /* every second: children's keepalives */
	uint64_t watchdog_usec;      /* interval of WATCHDOG=1 upward; 0 = off */
	struct sup_control *control; /* control socket and admin HTTP */
} sup_node_t;

/* Options of `chronik-server start` that override the configuration. */
typedef struct {
	const char *config_path; /* NULL = embedded default */
	const char *data_dir;    /* NULL = from the configuration */
	int32_t node_id;         /* 0 = from the configuration */
} sup_start_opts_t;

/*
 * Runs a node until it stops. Prints configuration and start-up errors to
 * stderr. Returns the process exit code: 0 after SIGTERM/SIGINT, 1 after a
 * child exceeded its restart burst (or a start-up failure that may pass), 2
 * for a bad configuration, a data dir locked by another supervisor, a
 * missing child binary, or a child that exited with status 2.
 */
int sup_node_run(const sup_start_opts_t *opts);

/* Milliseconds the child's current process has been running (0 if none). */
uint64_t sup_child_uptime_ms(const sup_child_t *c, uint64_t now_ms);
/* Milliseconds since C's last keepalive (or READY=1), -1 when not ready yet. */
int64_t sup_child_silent_ms(const sup_child_t *c, uint64_t now_ms);
/* Whether C is ready and not silent longer than SUP_CHILD_SILENT_MAX_MS. */
bool sup_child_live(const sup_child_t *c, uint64_t now_ms);

/* ---- sup_node.c ---- */

/* Zeroes NODE and fills the child table (names, sockets); fds are -1. */
void sup_node_init(sup_node_t *node);
/* Loads the configuration (OPTS override it), creates the data dir and
 * run/, takes the data dir lock, finds the child binaries and opens every
 * listening and notify socket. Returns 0, or the exit code (1 or 2) after
 * printing why to stderr. */
int sup_node_setup(sup_node_t *node, const sup_start_opts_t *opts);
/* Closes what setup opened, removes the socket files, releases the lock. */
void sup_node_teardown(sup_node_t *node);

/* ---- sup_spawn.c ---- */

/* Finds chronik-<NAME>: $CHRONIK_LIBEXEC_DIR, else next to this binary, else
 * the meson build tree (<dir>/../<name>/chronik-<name>), else the install
 * libexecdir and bindir. Writes the absolute path into RET (PATH_MAX bytes).
 * Returns 0, or -ENOENT with the places looked at written into TRIED. */
int sup_binary_find(const char *name, char *ret, char *tried, size_t tried_len);

/* Forks and execs child C with its sockets as fds 3.., the "supervisor"
 * socketpair end, NOTIFY_SOCKET and its [wrapper] prefix. On success sets
 * C->pid and C->supervisor_fd. Returns 0 or -errno (fork/socketpair). */
int sup_child_spawn(sup_node_t *node, sup_child_t *c);

/* ---- sup_control.c ---- */

/* Starts the control socket (run/control.sock) and, when the admin socket
 * is open, the admin HTTP endpoint. Returns 0 or -errno. */
int sup_control_start(sup_node_t *node);
void sup_control_stop(sup_node_t *node);

#endif
