/*
 * ck_log.h: the logging facility of every chronik process.
 *
 * A line is: "<UTC time> <process>[<pid>] <level> <subsystem>: <message>"
 * where the message is short, lower case, without a trailing period, and
 * carries key=value fields. Lines go to stderr (the supervisor's children
 * inherit it) or to a file given with ck_log_set_file(), reopened by
 * ck_log_reopen() on SIGHUP. The level comes from CHRONIK_LOG_LEVEL
 * (debug|info|warn|error) unless set explicitly. Pure cores never log.
 *
 * A source file may define CK_LOG_SUBSYSTEM before including this header to
 * name its subsystem ("sync", "recovery"); the default is the process name.
 */
#ifndef CK_LOG_H
#define CK_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
	CK_LOG_DEBUG = 0,
	CK_LOG_INFO = 1,
	CK_LOG_WARN = 2,
	CK_LOG_ERROR = 3,
	CK_LOG_FATAL = 4,
} ck_log_level_t;

/* Names the process ("walwriter") and reads CHRONIK_LOG_LEVEL. */
void ck_log_init(const char *process);

/* Parses "debug", "info", "warn"/"warning", "error". Returns the level or
 * -EINVAL. */
int ck_log_level_parse(const char *s);
void ck_log_set_level(ck_log_level_t level);
ck_log_level_t ck_log_get_level(void);

/* Sends lines to PATH (appending) instead of stderr; NULL or "" = stderr.
 * Returns 0 or -errno (the previous destination stays in use on failure). */
int ck_log_set_file(const char *path);

/* Reopens the log file (after rotation). Returns 0 or -errno. */
int ck_log_reopen(void);

void ck_log_write(ck_log_level_t level, const char *subsystem, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#ifndef CK_LOG_SUBSYSTEM
#define CK_LOG_SUBSYSTEM NULL
#endif

#define ck_log(level, ...)                                                      \
	do {                                                                    \
		if ((level) >= ck_log_get_level())                              \
			ck_log_write((level), CK_LOG_SUBSYSTEM, __VA_ARGS__);   \
	} while (0)

/* A bound on how often one kind of line is written, for lines that input
 * from outside can cause at will (one per refused connection or bad
 * frame): at most CK_LOG_LIMIT_LINES per CK_LOG_LIMIT_WINDOW_MS. The first
 * line written after some were dropped is preceded by their count. One
 * ck_log_limit_t per kind of line, zero-initialised (a static). */
#define CK_LOG_LIMIT_LINES     10
#define CK_LOG_LIMIT_WINDOW_MS 10000

typedef struct {
	uint64_t window_ms; /* start of the current window + 1 (0: none yet) */
	uint32_t lines;     /* written in the current window */
	uint32_t dropped;   /* not written since the last line written */
} ck_log_limit_t;

/* Pure: whether a line may be written at NOW_MS (a monotonic clock); when
 * it may, *RET_DROPPED gets how many were dropped before it. */
bool ck_log_limit_take(ck_log_limit_t *l, uint64_t now_ms, uint32_t *ret_dropped);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t ck_log_mono_ms(void);

void ck_log_dropped(ck_log_level_t level, const char *subsystem, uint32_t dropped);

#define ck_log_limited(lim, level, ...)                                                            \
	do {                                                                                       \
		uint32_t ck_log_dropped_;                                                          \
		if ((level) >= ck_log_get_level() &&                                               \
		    ck_log_limit_take((lim), ck_log_mono_ms(), &ck_log_dropped_)) {                \
			if (ck_log_dropped_)                                                       \
				ck_log_dropped((level), CK_LOG_SUBSYSTEM, ck_log_dropped_);        \
			ck_log_write((level), CK_LOG_SUBSYSTEM, __VA_ARGS__);                      \
		}                                                                                  \
	} while (0)

#endif
