/*
 * test_ck_log.c: unit tests of the logging facility (common/ck_log.h):
 * level names, CHRONIK_LOG_LEVEL, the line format (time, process[pid],
 * level, subsystem, message) as written to a file, filtering, reopening
 * after rotation and keeping the old destination when a new one fails.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CK_LOG_SUBSYSTEM "testsub"
#include "ck_log.h"
#include "ck_testlib.h"

static char tmpdir[128];
static char logpath[256];

static void setup(void)
{
	ck_test_env_clear();
	ck_test_mkdtemp(tmpdir, sizeof(tmpdir), "log");
	snprintf(logpath, sizeof(logpath), "%s/chronik.log", tmpdir);
}

static void teardown(void)
{
	(void)ck_log_set_file(NULL);
	(void)ck_test_rmtree(tmpdir);
}

/* Reads the whole file at PATH into BUF (NUL-terminated). */
static size_t slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;

	ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0);
	ck_assert_msg(regexec(&re, text, 0, NULL, 0) == 0, "\"%s\" does not match /%s/", text,
		      pattern);
	regfree(&re);
}

START_TEST(test_level_parse)
{
	ck_assert_int_eq(ck_log_level_parse("debug"), CK_LOG_DEBUG);
	ck_assert_int_eq(ck_log_level_parse("info"), CK_LOG_INFO);
	ck_assert_int_eq(ck_log_level_parse("INFO"), CK_LOG_INFO);
	ck_assert_int_eq(ck_log_level_parse("warn"), CK_LOG_WARN);
	ck_assert_int_eq(ck_log_level_parse("warning"), CK_LOG_WARN);
	ck_assert_int_eq(ck_log_level_parse("error"), CK_LOG_ERROR);
	ck_assert_int_eq(ck_log_level_parse("verbose"), -EINVAL);
	ck_assert_int_eq(ck_log_level_parse(""), -EINVAL);
	ck_assert_int_eq(ck_log_level_parse(NULL), -EINVAL);
}
END_TEST

START_TEST(test_level_from_env)
{
	ck_log_set_level(CK_LOG_INFO);
	setenv("CHRONIK_LOG_LEVEL", "error", 1);
	ck_log_init("proc");
	ck_assert_int_eq(ck_log_get_level(), CK_LOG_ERROR);
	/* A bad value keeps the current level. */
	setenv("CHRONIK_LOG_LEVEL", "loud", 1);
	ck_log_init("proc");
	ck_assert_int_eq(ck_log_get_level(), CK_LOG_ERROR);
	ck_log_set_level(CK_LOG_DEBUG);
	ck_assert_int_eq(ck_log_get_level(), CK_LOG_DEBUG);
}
END_TEST

START_TEST(test_line_format)
{
	char text[4096], pattern[512];

	ck_log_init("testproc");
	ck_log_set_level(CK_LOG_INFO);
	ck_assert_int_eq(ck_log_set_file(logpath), 0);
	ck_log(CK_LOG_WARN, "disk slow path=%s ms=%d", "/x", 12);
	ck_log_write(CK_LOG_ERROR, NULL, "no subsystem given");
	ck_log(CK_LOG_DEBUG, "filtered out");
	ck_assert_uint_gt(slurp(logpath, text, sizeof(text)), 0);
	snprintf(pattern, sizeof(pattern),
		 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z "
		 "testproc\\[%d\\] warn testsub: disk slow path=/x ms=12\n"
		 "[0-9-]{10}T[0-9:]{8}\\.[0-9]{6}Z testproc\\[%d\\] error testproc: "
		 "no subsystem given\n$",
		 (int)getpid(), (int)getpid());
	assert_matches(text, pattern);
	ck_assert_ptr_null(strstr(text, "filtered"));
}
END_TEST

/* A value with a newline (a client's id) cannot start a forged line. */
START_TEST(test_control_bytes_masked)
{
	char text[4096];
	size_t n;

	ck_log_init("p");
	ck_log_set_level(CK_LOG_INFO);
	ck_assert_int_eq(ck_log_set_file(logpath), 0);
	ck_log(CK_LOG_INFO, "id=%s end",
	       "a\n2026-12-07T00:00:00.000000Z supervisor[1] warn x\r\t\x7f\x1b[31m\xc3\xa9");
	n = slurp(logpath, text, sizeof(text));
	ck_assert_uint_gt(n, 0);
	ck_assert_ptr_eq(strchr(text, '\n'), text + n - 1);
	ck_assert_ptr_nonnull(strstr(text, "id=a?2026-12-07T00:00:00.000000Z supervisor[1] warn "
	                                   "x????[31m\xc3\xa9 end\n"));
}
END_TEST

START_TEST(test_long_line_truncated)
{
	static char big[8192], text[16384];

	memset(big, 'a', sizeof(big) - 1);
	ck_log_init("p");
	ck_assert_int_eq(ck_log_set_file(logpath), 0);
	ck_log(CK_LOG_ERROR, "%s", big);
	size_t n = slurp(logpath, text, sizeof(text));
	ck_assert_uint_gt(n, 100);
	ck_assert_uint_le(n, 2048);
	ck_assert_int_eq(text[n - 1], '\n');
	ck_assert_ptr_eq(strchr(text, '\n'), text + n - 1);
}
END_TEST

START_TEST(test_reopen_after_rotation)
{
	char rotated[300], text[4096];

	ck_log_init("p");
	ck_assert_int_eq(ck_log_set_file(logpath), 0);
	ck_log(CK_LOG_ERROR, "before rotation");
	snprintf(rotated, sizeof(rotated), "%s.1", logpath);
	ck_assert_int_eq(rename(logpath, rotated), 0);
	ck_assert_int_eq(ck_log_reopen(), 0);
	ck_log(CK_LOG_ERROR, "after rotation");
	slurp(rotated, text, sizeof(text));
	ck_assert_ptr_nonnull(strstr(text, "before rotation"));
	ck_assert_ptr_null(strstr(text, "after rotation"));
	slurp(logpath, text, sizeof(text));
	ck_assert_ptr_nonnull(strstr(text, "after rotation"));
	ck_assert_ptr_null(strstr(text, "before rotation"));
}
END_TEST

START_TEST(test_bad_file_keeps_old)
{
	char bad[300], text[4096];

	ck_log_init("p");
	ck_assert_int_eq(ck_log_set_file(logpath), 0);
	snprintf(bad, sizeof(bad), "%s/missing/dir/x.log", tmpdir);
	ck_assert_int_eq(ck_log_set_file(bad), -ENOENT);
	ck_log(CK_LOG_ERROR, "still here");
	slurp(logpath, text, sizeof(text));
	ck_assert_ptr_nonnull(strstr(text, "still here"));
	/* Back to stderr: the file sees nothing more. */
	ck_assert_int_eq(ck_log_set_file(""), 0);
	ck_log(CK_LOG_ERROR, "to stderr");
	slurp(logpath, text, sizeof(text));
	ck_assert_ptr_null(strstr(text, "to stderr"));
}
END_TEST

/* The limit: CK_LOG_LIMIT_LINES per window, then nothing until the window
 * ends; the next line written carries the count of those dropped. */
START_TEST(test_limit_take)
{
	ck_log_limit_t l = {0};
	uint32_t dropped = 99;
	uint64_t t0 = 5000;

	for (int i = 0; i < CK_LOG_LIMIT_LINES; i++) {
		ck_assert(ck_log_limit_take(&l, t0 + (uint64_t)i, &dropped));
		ck_assert_uint_eq(dropped, 0);
	}
	for (int i = 0; i < 25; i++)
		ck_assert(!ck_log_limit_take(&l, t0 + CK_LOG_LIMIT_WINDOW_MS - 1, &dropped));
	ck_assert(ck_log_limit_take(&l, t0 + CK_LOG_LIMIT_WINDOW_MS, &dropped));
	ck_assert_uint_eq(dropped, 25);
	ck_assert(ck_log_limit_take(&l, t0 + CK_LOG_LIMIT_WINDOW_MS + 1, &dropped));
	ck_assert_uint_eq(dropped, 0);
	/* Time zero is a time like any other, and a clock that steps back
	 * starts a new window rather than silencing the line for good. */
	l = (ck_log_limit_t){0};
	ck_assert(ck_log_limit_take(&l, 0, &dropped));
	for (int i = 1; i < CK_LOG_LIMIT_LINES; i++)
		ck_assert(ck_log_limit_take(&l, 0, &dropped));
	ck_assert(!ck_log_limit_take(&l, 0, &dropped));
	l.window_ms = 1000000;
	ck_assert(ck_log_limit_take(&l, 10, &dropped));
	ck_assert_uint_eq(dropped, 1);
}
END_TEST

/* What a flood looks like in the log: ten lines, then one count line with
 * the next line once the window has passed. */
START_TEST(test_limited_lines)
{
	static ck_log_limit_t lim;
	char text[8192];
	int lines = 0;

	ck_log_init("p");
	ck_log_set_level(CK_LOG_INFO);
	ck_assert_int_eq(ck_log_set_file(logpath), 0);
	for (int i = 0; i < 40; i++)
		ck_log_limited(&lim, CK_LOG_WARN, "refused n=%d", i);
	ck_log_limited(&lim, CK_LOG_DEBUG, "below the level n=%d", 99);
	lim.window_ms -= CK_LOG_LIMIT_WINDOW_MS; /* the window passes */
	ck_log_limited(&lim, CK_LOG_WARN, "refused n=%d", 40);
	ck_assert_uint_gt(slurp(logpath, text, sizeof(text)), 0);
	for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	ck_assert_int_eq(lines, CK_LOG_LIMIT_LINES + 2);
	ck_assert_ptr_nonnull(strstr(text, "refused n=9\n"));
	ck_assert_ptr_null(strstr(text, "refused n=10\n"));
	ck_assert_ptr_null(strstr(text, "below the level"));
	assert_matches(text, "warn testsub: 30 lines like the next were not logged \\(at most 10 "
	                     "per 10 s\\)\n[^\n]* warn testsub: refused n=40\n$");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_log");
	TCase *tc = tcase_create("log");

	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_level_parse);
	tcase_add_test(tc, test_level_from_env);
	tcase_add_test(tc, test_line_format);
	tcase_add_test(tc, test_long_line_truncated);
	tcase_add_test(tc, test_control_bytes_masked);
	tcase_add_test(tc, test_reopen_after_rotation);
	tcase_add_test(tc, test_bad_file_keeps_old);
	tcase_add_test(tc, test_limit_take);
	tcase_add_test(tc, test_limited_lines);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
