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

#define CK_LISTEN_FDS_START 3

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

/* Sets PR_SET_PDEATHSIG(SIGTERM) and watches the "supervisor" fd (if it was
 * passed): on EOF calls ON_LOST(ARG), or event_base_loopexit(BASE) when
 * ON_LOST is NULL. Call from a child's main() after creating its event base.
 * Returns 0 or -errno. */
struct event_base;
int ck_listen_watch_supervisor(struct event_base *base, void (*on_lost)(void *arg), void *arg);

#endif
