/*
 * ck_dial.h: an outbound TCP connection kept up: a non-blocking connect to
 * host:port, again after every failure or loss, with backoff.
 *
 * A dialer starts its first attempt from the event loop (not inside
 * ck_dial_new), waits at most CK_DIAL_CONNECT_MS for each, and after a
 * failure tries again after a delay that starts at CK_DIAL_BACKOFF_MIN_MS
 * and doubles up to CK_DIAL_BACKOFF_MAX_MS. A connected socket goes to the
 * caller, who owns it from then on (wraps it in a ck_ipc_conn, say) and calls
 * ck_dial_again() once it is lost. Sockets are non-blocking, close-on-exec,
 * with TCP_USER_TIMEOUT set (a peer cut off by the network otherwise keeps a
 * connection open with data unacknowledged, and TCP's retransmit backoff
 * holds traffic back long after the network heals), and bound to the host
 * of the caller's own listener when that is a literal IP other than the
 * wildcard (what an operator expects to see, and what firewall rules select
 * a node by).
 * Used by raftd and the replicator for their node-to-node connections; for
 * the thread running the event base.
 * Not for: what is sent on the connection, inbound connections.
 */
#ifndef CK_DIAL_H
#define CK_DIAL_H

struct event_base;

#define CK_DIAL_BACKOFF_MIN_MS 50
#define CK_DIAL_BACKOFF_MAX_MS 1000
#define CK_DIAL_CONNECT_MS     1000
#define CK_DIAL_STABLE_MS      1000

typedef struct ck_dial ck_dial_t;

typedef struct {
	/* A connected socket FD: the caller's from now on. */
	void (*on_connected)(void *arg, int fd);
	/* An attempt failed with ERR (-errno); the next follows the backoff.
	 * May be NULL. */
	void (*on_failed)(void *arg, int err);
} ck_dial_hooks_t;

/* A dialer of ADDR ("host:port"), binding to the host of SOURCE (the
 * caller's listener address; NULL: unbound), with USER_TIMEOUT_MS.
 * Returns 0 and *RET, CK_E_CONFIG (ADDR does not parse) or -ENOMEM. */
int ck_dial_new(struct event_base *base, const char *addr, const char *source,
                unsigned user_timeout_ms, const ck_dial_hooks_t *h, void *arg, ck_dial_t **ret);
/* Stops dialing and frees D (a socket already handed over stays the
 * caller's). NULL is fine. */
void ck_dial_free(ck_dial_t *d);
/* The connection D gave is gone: dial again after the backoff, from
 * CK_DIAL_BACKOFF_MIN_MS when RESET and the connection lasted
 * CK_DIAL_STABLE_MS or more, else after the current delay (which goes on
 * doubling: a peer that accepts and drops at once is not redialed in a
 * tight loop). */
void ck_dial_again(ck_dial_t *d, int reset);

#endif
