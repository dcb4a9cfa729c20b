/*
 * ck_log.c: implementation of ck_log.h. One line is formatted into a stack
 * buffer and written with a single write(2) so lines of concurrent processes
 * sharing stderr do not interleave. Not for: structured metrics.
 */
#include "ck_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static char ck_log_process[32] = "chronik";
static ck_log_level_t ck_log_level = CK_LOG_INFO;
static int ck_log_fd = STDERR_FILENO;
static char ck_log_path[4096];

static const char *const ck_log_level_names[] = {"debug", "info", "warn", "error", "fatal"};

int ck_log_level_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	if (!strcasecmp(s, "debug") || !strcasecmp(s, "trace"))
		return CK_LOG_DEBUG;
	if (!strcasecmp(s, "info"))
		return CK_LOG_INFO;
	if (!strcasecmp(s, "warn") || !strcasecmp(s, "warning"))
		return CK_LOG_WARN;
	if (!strcasecmp(s, "error"))
		return CK_LOG_ERROR;
	return -EINVAL;
}

void ck_log_init(const char *process)
{
	const char *env = getenv("CHRONIK_LOG_LEVEL");

	if (process)
		snprintf(ck_log_process, sizeof(ck_log_process), "%s", process);
	if (env && *env) {
		int lvl = ck_log_level_parse(env);
		if (lvl >= 0)
			ck_log_level = (ck_log_level_t)lvl;
	}
}

void ck_log_set_level(ck_log_level_t level)
{
	ck_log_level = level;
}

ck_log_level_t ck_log_get_level(void)
{
	return ck_log_level;
}

static int ck_log_open_path(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

int ck_log_set_file(const char *path)
{
	int fd;

	if (!path || !*path) {
		if (ck_log_fd != STDERR_FILENO)
			(void)close(ck_log_fd);
		ck_log_fd = STDERR_FILENO;
		ck_log_path[0] = '\0';
		return 0;
	}
	fd = ck_log_open_path(path);
	if (fd < 0)
		return fd;
	if (ck_log_fd != STDERR_FILENO)
		(void)close(ck_log_fd);
	ck_log_fd = fd;
	snprintf(ck_log_path, sizeof(ck_log_path), "%s", path);
	return 0;
}

int ck_log_reopen(void)
{
	if (!ck_log_path[0])
		return 0;
	int fd = ck_log_open_path(ck_log_path);
	if (fd < 0)
		return fd;
	(void)close(ck_log_fd);
	ck_log_fd = fd;
	return 0;
}

void ck_log_write(ck_log_level_t level, const char *subsystem, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n, start;
	int w;
	va_list ap;
	int saved_errno = errno;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	w = snprintf(line + n, sizeof(line) - n, ".%06ldZ %s[%d] %s %s: ", ts.tv_nsec / 1000,
		     ck_log_process, (int)getpid(), ck_log_level_names[level],
		     subsystem ? subsystem : ck_log_process);
	if (w > 0)
		n += (size_t)w < sizeof(line) - n ? (size_t)w : sizeof(line) - n - 1;
	va_start(ap, fmt);
	w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	start = n;
	if (w > 0)
		n += (size_t)w < sizeof(line) - n ? (size_t)w : sizeof(line) - n - 1;
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	/* One event, one line: a client's string with a newline in it (a
	 * transactional or group id) must not start a line of its own that
	 * reads like another event. Control bytes become '?'. */
	for (size_t i = start; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	(void)!write(ck_log_fd, line, n);
	errno = saved_errno;
}

bool ck_log_limit_take(ck_log_limit_t *l, uint64_t now_ms, uint32_t *ret_dropped)
{
	if (l->window_ms == 0 || now_ms + 1 < l->window_ms ||
	    now_ms + 1 - l->window_ms >= CK_LOG_LIMIT_WINDOW_MS) {
		l->window_ms = now_ms + 1;
		l->lines = 0;
	}
	if (l->lines >= CK_LOG_LIMIT_LINES) {
		if (l->dropped < UINT32_MAX)
			l->dropped++;
		return false;
	}
	l->lines++;
	*ret_dropped = l->dropped;
	l->dropped = 0;
	return true;
}

uint64_t ck_log_mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ck_log_dropped(ck_log_level_t level, const char *subsystem, uint32_t dropped)
{
	ck_log_write(level, subsystem,
	             "%u lines like the next were not logged (at most %d per %d s)", dropped,
	             CK_LOG_LIMIT_LINES, CK_LOG_LIMIT_WINDOW_MS / 1000);
}
