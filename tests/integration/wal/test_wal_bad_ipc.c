/*
 * test_wal_bad_ipc.c: hostile bytes on walwriter's socket. Garbage, an
 * oversized or zero length, a truncated frame, an unparsable or bodiless
 * request each close that one connection with a log line, while another
 * client keeps appending without a hiccup. A well-framed append of a
 * corrupt batch is an error reply, not a protocol violation.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ck_buf.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "wal_itest.h"

static wit_t t;
static wcl_t good;
static int64_t good_next;

/* The other client appends one batch and gets the next offset. */
static void good_client_appends(void)
{
	ck_buf_t b = CK_BUF_INIT;
	int64_t base = -1;

	wit_batch(&b, 2, 100, (uint32_t)good_next);
	ck_assert_int_eq(wcl_append(&good, "g", 0, b.data, b.len, false, 0, &base, NULL), 0);
	ck_assert_int_eq(base, good_next);
	good_next += 2;
	ck_buf_free(&b);
}

static int raw_connect(void)
{
	int fd;
	ck_assert_int_eq(ck_ipc_sync_connect(t.sock, 10000, &fd), 0);
	return fd;
}

static void raw_write(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
}

/* The server closes FD (EOF) within 10 s; any reply frames before are
 * skipped. */
static void expect_closed(int fd)
{
	uint8_t buf[4096];

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;
		ck_assert_msg(poll(&p, 1, 10000) == 1, "connection not closed by walwriter");
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
	}
	close(fd);
}

/* Sends BYTES on a fresh connection; asserts it gets closed with a log
 * line holding WHY, and that the good client is unaffected. */
static void bad_frame(const void *bytes, size_t n, bool shut_wr, const char *why)
{
	int before = wit_log_count(&t, "closing connection", why, NULL);
	int fd = raw_connect();

	good_client_appends();
	raw_write(fd, bytes, n);
	if (shut_wr)
		ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	expect_closed(fd);
	good_client_appends();
	/* The log line may trail the close by a moment. */
	for (int i = 0; i < 500 && wit_log_count(&t, "closing connection", why, NULL) == before;
	     i++)
		usleep(10000);
	ck_assert_msg(wit_log_count(&t, "closing connection", why, NULL) == before + 1,
	              "no log line for: %s", why);
}

static void setup(void)
{
	wit_init(&t, "ipc");
	wit_env(&t, "CHRONIK_WAL_RETENTION_MS=-1");
	wit_start_ready(&t);
	wcl_connect(&good, &t);
	ck_assert_int_eq(wcl_create(&good, "g", 0, NULL), 0);
	good_next = 0;
}

static void teardown(void)
{
	wcl_close(&good);
	wit_cleanup(&t);
}

START_TEST(test_oversized_and_empty_frames)
{
	uint8_t hdr[4];

	ck_le32_put(hdr, 0xfffffff0u);
	bad_frame(hdr, 4, false, "frame too large");
	ck_le32_put(hdr, CK_IPC_FRAME_MAX_DEFAULT + 1);
	bad_frame(hdr, 4, false, "frame too large");
	ck_le32_put(hdr, 0);
	bad_frame(hdr, 4, false, "empty frame");
}
END_TEST

START_TEST(test_garbage_and_truncated_frames)
{
	uint8_t f[64];

	/* A plausible length followed by bytes that are no protobuf. */
	ck_le32_put(f, 20);
	memset(f + 4, 0xff, 20);
	bad_frame(f, 24, false, "unparsable request");
	/* Pure noise: the first four bytes make an absurd length. */
	bad_frame("GET / HTTP/1.1\r\n\r\n", 18, false, "frame too large");
	/* A frame cut short by the peer. */
	ck_le32_put(f, 100);
	memset(f + 4, 0x08, 10);
	bad_frame(f, 14, true, "truncated frame");
}
END_TEST

START_TEST(test_request_without_body)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	uint8_t buf[64];
	size_t n;

	req.correlation_id = 77;
	n = chronik__wal__wal_request__pack(&req, buf + 4);
	ck_le32_put(buf, (uint32_t)n);
	bad_frame(buf, n + 4, false, "request without body");
}
END_TEST

START_TEST(test_good_then_garbage_on_one_connection)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__ListLogs ll = CHRONIK__WAL__LIST_LOGS__INIT;
	Chronik__Wal__WalReply *rep;
	wcl_t c;
	uint8_t junk[8];

	wcl_connect(&c, &t);
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_LIST_LOGS;
	req.list_logs = &ll;
	rep = wcl_call(&c, &req, 10000);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->body_case, CHRONIK__WAL__WAL_REPLY__BODY_LOG_LIST);
	ck_assert_uint_eq(rep->log_list->n_logs, 1);
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
	ck_le32_put(junk, 4);
	memset(junk + 4, 0xfe, 4);
	raw_write(c.fd, junk, sizeof(junk));
	expect_closed(c.fd);
	c.fd = -1;
	wcl_close(&c);
	good_client_appends();
}
END_TEST

START_TEST(test_corrupt_batch_is_an_error_reply)
{
	ck_buf_t b = CK_BUF_INIT;
	Chronik__Wal__LogInfo info;

	wit_batch(&b, 3, 100, 5);
	b.data[b.len - 1] ^= 1;
	/* The good client itself sends it: an error, and the connection stays. */
	ck_assert_int_eq(wcl_append(&good, "g", 0, b.data, b.len, false, 0, NULL, NULL),
	                 CK_E_CORRUPT);
	ck_assert_int_eq(wcl_append(&good, "g", 0, b.data, 30, false, 0, NULL, NULL), CK_E_CORRUPT);
	ck_assert_int_eq(wcl_append(&good, "g", 0, "", 0, false, 0, NULL, NULL), CK_E_CORRUPT);
	ck_assert_int_eq(wcl_info(&good, "g", 0, &info), 0);
	ck_assert_int_eq(info.log_end_offset, good_next);
	good_client_appends();
	ck_buf_free(&b);
}
END_TEST

START_TEST(test_still_healthy_after_all)
{
	/* Every kind of bad input in a row, then a clean stop. */
	uint8_t hdr[4];
	ck_le32_put(hdr, 0xfffffff0u);
	for (int i = 0; i < 20; i++) {
		int fd = raw_connect();
		raw_write(fd, hdr, 4);
		expect_closed(fd);
	}
	good_client_appends();
	ck_assert_int_eq(wit_log_count(&t, "] error ", NULL), 0);
	ck_assert_int_eq(wit_stop(&t, SIGTERM, 30000), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal_bad_ipc");
	TCase *tc = tcase_create("bad_ipc");

	tcase_set_timeout(tc, 120);
	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_oversized_and_empty_frames);
	tcase_add_test(tc, test_garbage_and_truncated_frames);
	tcase_add_test(tc, test_request_without_body);
	tcase_add_test(tc, test_good_then_garbage_on_one_connection);
	tcase_add_test(tc, test_corrupt_batch_is_an_error_reply);
	tcase_add_test(tc, test_still_healthy_after_all);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
