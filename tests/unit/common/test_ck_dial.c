/*
 * test_ck_dial.c: unit tests of the outbound dialer (common/ck_dial.h) in
 * one event loop against a loopback listener: a connection is made and
 * handed over; a peer that accepts and drops every connection at once is
 * redialed with a growing backoff, not every CK_DIAL_BACKOFF_MIN_MS; a
 * connection that lasted CK_DIAL_STABLE_MS is redialed at once after its
 * loss.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_dial.h"
#include "ck_testlib.h"

static struct event_base *base;
static int lfd = -1;
static char addr[64];
static ck_dial_t *dial;
static int accepted, connected, held_fd = -1;
static bool drop_at_once;
static uint64_t last_connect_ms;

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	int c = accept(fd, NULL, NULL);

	(void)what;
	(void)arg;
	if (c < 0)
		return;
	accepted++;
	(void)close(c);
}

static void on_connected(void *arg, int fd)
{
	(void)arg;
	connected++;
	last_connect_ms = ck_clock_mono_ms();
	if (drop_at_once) {
		(void)close(fd);
		ck_dial_again(dial, 1);
		return;
	}
	held_fd = fd;
}

static const ck_dial_hooks_t hooks = {on_connected, NULL};

static void setup(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 64), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", (int)ntohs(sa.sin_port));
	accepted = connected = 0;
	held_fd = -1;
	drop_at_once = false;
}

static void teardown(void)
{
	ck_dial_free(dial);
	dial = NULL;
	if (held_fd >= 0)
		(void)close(held_fd);
	(void)close(lfd);
	event_base_free(base);
}

/* Runs the loop for MS milliseconds. */
static void run_ms(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	(void)event_base_loopexit(base, &tv);
	(void)event_base_dispatch(base);
}

START_TEST(test_connects)
{
	struct event *ev = event_new(base, lfd, EV_READ | EV_PERSIST, on_accept, NULL);

	(void)event_add(ev, NULL);
	ck_assert_int_eq(ck_dial_new(base, addr, NULL, 5000, &hooks, NULL, &dial), 0);
	run_ms(300);
	ck_assert_int_eq(connected, 1);
	ck_assert_int_ge(held_fd, 0);
	event_free(ev);
}
END_TEST

/* A peer that accepts and drops every connection: over 1.6 s a tight loop
 * (every 50 ms) connects ~30 times; the growing backoff (50, 100, 200,
 * 400, 800 ms) at most 6. */
START_TEST(test_dropped_at_once_backs_off)
{
	struct event *ev = event_new(base, lfd, EV_READ | EV_PERSIST, on_accept, NULL);

	(void)event_add(ev, NULL);
	drop_at_once = true;
	ck_assert_int_eq(ck_dial_new(base, addr, NULL, 5000, &hooks, NULL, &dial), 0);
	run_ms(1600);
	ck_assert_int_ge(connected, 3);
	ck_assert_int_le(connected, 7);
	event_free(ev);
}
END_TEST

/* A connection that lasted CK_DIAL_STABLE_MS is redialed at once. */
START_TEST(test_stable_connection_redialed_at_once)
{
	struct event *ev = event_new(base, lfd, EV_READ | EV_PERSIST, on_accept, NULL);
	uint64_t lost;

	(void)event_add(ev, NULL);
	ck_assert_int_eq(ck_dial_new(base, addr, NULL, 5000, &hooks, NULL, &dial), 0);
	run_ms(CK_DIAL_STABLE_MS + 200);
	ck_assert_int_eq(connected, 1);
	(void)close(held_fd);
	held_fd = -1;
	lost = ck_clock_mono_ms();
	ck_dial_again(dial, 1);
	run_ms(CK_DIAL_BACKOFF_MIN_MS + 150);
	ck_assert_int_eq(connected, 2);
	ck_assert_uint_le(last_connect_ms - lost, CK_DIAL_BACKOFF_MIN_MS + 150);
	event_free(ev);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_dial");
	TCase *tc = tcase_create("dial");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_connects);
	tcase_add_test(tc, test_dropped_at_once_backs_off);
	tcase_add_test(tc, test_stable_connection_redialed_at_once);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
