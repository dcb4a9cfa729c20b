/*
 * ck_listen.h: listening sockets and systemd-style socket passing.
 *
 * The supervisor opens every listening socket and hands them to its children
 * as fds 3.. with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES (colon-separated
 * names), exactly as systemd socket activation does, so the same binaries run
 * as separate systemd units. Names used: "kafka", "replication", "raft",
 * "admin" (TCP) and "walwriter", "raftd", "replicator" (Unix sockets under
 * run/), plus "supervisor": one end of a socketpair whose EOF tells the child
 * that its supervisor is gone.
 */
#ifndef CK_LISTEN_H
#define CK_LISTEN_H

#include <stddef.h>

#define CK_LISTEN_FDS_START 3
#define CK_LISTEN_FDS_MAX   32 /* more passed fds than this is refused */
#define CK_LISTEN_NAME_MAX  64 /* longest fd name, with its NUL */

/* Takes the passed fds once per process: checks LISTEN_PID, marks the fds
 * close-on-exec and unsets the variables. Returns how many fds were passed
 * (0 when none) or -errno for a malformed environment. */
int ck_listen_fds_take(void);
/* The passed fd named NAME, or -ENOENT. Call ck_listen_fds_take() first. The
 * caller owns the fd after this (a second call returns -ENOENT). */
int ck_listen_fd(const char *name);

/* Opens a TCP listening socket on "host:port" (SO_REUSEADDR, non-blocking,
 * close-on-exec). Returns 0 and *RET_FD, or -errno (-EINVAL for a bad
 * address, -EADDRINUSE ...). */
int ck_tcp_listen(const char *hostport, int backlog, int *ret_fd);

/* Lowest port ck_free_ports() hands out. */
#define CK_FREE_PORT_MIN 10000

/* Fills PORTS with N distinct loopback TCP ports nothing is bound to right
 * now (for tests and benchmarks that start servers), picked at random
 * below the kernel's ephemeral range (net.ipv4.ip_local_port_range): a
 * port the kernel hands out could become the source port of some outgoing
 * connection between the pick and a server's start (or restart, after a
 * kill), and stays taken for a minute in TIME_WAIT, so the server could
 * not listen. Falls back to ports the kernel picks when that range is
 * below CK_FREE_PORT_MIN + 1000. Returns 0 or -errno. */
int ck_free_ports(int *ports, int n);

/* The low end of the ephemeral range in TEXT (the contents of
 * /proc/sys/net/ipv4/ip_local_port_range, "32768\t60999\n"). Pure.
 * Returns it, or -EINVAL. */
int ck_ephemeral_low_parse(const char *text);

/* Splits a LISTEN_FDNAMES value ("kafka:raft") into N_FDS names. NAMES NULL
 * or "" names every fd "unknown" (systemd's default). Pure: no environment,
 * no syscalls. Returns 0, or -EINVAL when N_FDS is outside
 * [0, CK_LISTEN_FDS_MAX], the number of names differs from N_FDS, or a name
 * is empty or longer than CK_LISTEN_NAME_MAX - 1 bytes. RET_NAMES is
 * unspecified on failure. */
int ck_listen_names_parse(const char *names, int n_fds, char ret_names[][CK_LISTEN_NAME_MAX]);

/* The passed fd named NAME if there is one (returns 1), else a socket bound
 * here: a TCP listener on HOSTPORT (ck_tcp_listen) or a Unix stream listener
 * at PATH (ck_ipc_unix_listen), returning 0. *RET_FD is set either way.
 * Returns -errno when binding fails. Call ck_listen_fds_take() first. */
int ck_listen_fd_or_tcp(const char *name, const char *hostport, int backlog, int *ret_fd);
int ck_listen_fd_or_unix(const char *name, const char *path, int backlog, int *ret_fd);

/* When the "supervisor" fd was passed: sets PR_SET_PDEATHSIG(SIGTERM) and
 * watches the fd: on EOF (also an EOF that happened before this call) calls
 * ON_LOST(ARG), or event_base_loopexit(BASE) when ON_LOST is NULL. Without
 * the fd (standalone, or a systemd unit) it does nothing, so a process
 * started from a shell does not die with the shell. Call from a child's
 * main() after ck_listen_fds_take() and creating its event base. Returns 0
 * (watching or nothing to watch) or -errno. */
struct event_base;
int ck_listen_watch_supervisor(struct event_base *base, void (*on_lost)(void *arg), void *arg);
/* Stops watching and frees the watch (before event_base_free). */
void ck_listen_unwatch_supervisor(void);

#endif
