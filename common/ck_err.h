/*
 * ck_err.h: error codes shared by every chronik process.
 *
 * A function that can fail returns int: >= 0 on success, -errno for system
 * errors, or a CK_E_* code from the reserved range below. LMDB's own codes
 * (MDB_*, around -30800) pass through unchanged. ck_strerror() names all three.
 * CK_ASSERT is for programmer mistakes only and stays on in release builds.
 */
#ifndef CK_ERR_H
#define CK_ERR_H

#include <stdio.h>
#include <stdlib.h>

enum {
	CK_E_FIRST = -10000,
	CK_E_CORRUPT = -10000,      /* bytes failed a length, magic or CRC check */
	CK_E_AGAIN = -10001,        /* transient: retry later */
	CK_E_NOT_LEADER = -10002,   /* this node does not lead the resource */
	CK_E_INVALID = -10003,      /* a request argument is out of range */
	CK_E_TOO_LARGE = -10004,    /* over a configured size limit */
	CK_E_NOT_FOUND = -10005,    /* no such log / topic / key */
	CK_E_EXISTS = -10006,       /* already exists */
	CK_E_OUT_OF_ORDER = -10007, /* replica append not contiguous with the log end, new
	                               partitions not with the topic's count */
	CK_E_CONFIG = -10008,       /* bad configuration */
	CK_E_PROTO = -10009,        /* malformed IPC or protocol frame */
	CK_E_CLOSED = -10010,       /* peer closed the connection */
	CK_E_OFFSET_RANGE = -10011, /* offset outside [log start, log end] */
	CK_E_SHUTDOWN = -10012,     /* the process is stopping */
	CK_E_TIMEOUT = -10013,      /* a deadline passed */
	CK_E_COLLISION = -10014,    /* a name collides with another's (Kafka's '.' / '_' rule) */
	CK_E_SEQUENCE = -10015,     /* an idempotent producer's batch does not follow its last */
	CK_E_FENCED = -10016,       /* an idempotent producer's epoch is older than its last */
	CK_E_STALE = -10017,        /* proposed from a view older than a change it depends on */
	CK_E_LAST = -10017,
};

/* Human-readable text for a negative error code (errno, CK_E_* or MDB_*).
 * Never returns NULL; the string is static or thread-local. */
const char *ck_strerror(int err);

/* Exit codes a child reports to the supervisor. */
enum {
	CK_EXIT_STOPPED = 0, /* clean stop: do not restart */
	CK_EXIT_RESTART = 1, /* transient failure: restart with backoff */
	CK_EXIT_FATAL = 2,   /* bad config or corrupt data: stop the node */
};

void ck_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#define CK_ASSERT(expr)                                                         \
	do {                                                                    \
		if (__builtin_expect(!(expr), 0))                               \
			ck_assert_fail(#expr, __FILE__, __LINE__);              \
	} while (0)

#define CK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CK_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
