/*
 * ck_err.c: ck_strerror() and the assertion handler.
 * Owned by libck; used by every process. Holds no state besides a
 * thread-local buffer for unknown codes.
 */
#include "ck_err.h"

#include <lmdb.h>
#include <string.h>

#include "ck_log.h"

static const char *const ck_err_names[] = {
    [0] = "corrupt data",
    [1] = "try again",
    [2] = "not the leader",
    [3] = "invalid argument",
    [4] = "too large",
    [5] = "not found",
    [6] = "already exists",
    [7] = "out of order",
    [8] = "bad configuration",
    [9] = "malformed frame",
    [10] = "connection closed",
    [11] = "offset out of range",
    [12] = "shutting down",
    [13] = "timed out",
    [14] = "name collides with another",
    [15] = "producer sequence out of order",
    [16] = "producer epoch fenced",
    [17] = "proposed from a stale view",
};

const char *ck_strerror(int err)
{
	static __thread char buf[64];

	if (err >= 0)
		return "success";
	if (err <= CK_E_FIRST && err >= CK_E_LAST)
		return ck_err_names[CK_E_FIRST - err];
	if (err >= MDB_KEYEXIST && err <= MDB_LAST_ERRCODE) /* -30799 .. -30780 */
		return mdb_strerror(err);
	if (err > -4096)
		return strerror_r(-err, buf, sizeof(buf));
	snprintf(buf, sizeof(buf), "unknown error %d", err);
	return buf;
}

void ck_assert_fail(const char *expr, const char *file, int line)
{
	ck_log(CK_LOG_FATAL, "assertion failed expr=\"%s\" at=%s:%d", expr, file, line);
	abort();
}
