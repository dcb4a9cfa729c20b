/*
 * test_ck_worker.c: unit tests of the job thread (common/ck_worker.h):
 * every job's RUN runs on another thread than the loop and its DONE on the
 * loop, in submission order, jobs without RUN keeping their place among
 * slow ones; the pending count; a DONE that submits more; freeing the
 * worker with jobs queued drops them without their DONE.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "ck_testlib.h"
#include "ck_worker.h"

#define NJOBS 200

typedef struct {
	ck_work_t w;
	int id;
	int spin_us; /* RUN busy for about this long */
	pthread_t ran_on;
	bool ran;
} job_t;

static struct event_base *base;
static ck_worker_t *wk;
static pthread_t loop_thread;
static int done_order[NJOBS * 2];
static int ndone;
static int want_done;
static job_t jobs[NJOBS * 2];

static void job_run(ck_work_t *w)
{
	job_t *j = (job_t *)w;
	struct timespec t0, t;

	j->ran_on = pthread_self();
	j->ran = true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000 + (t.tv_nsec - t0.tv_nsec) / 1000 < j->spin_us);
}

static void job_done(ck_work_t *w)
{
	job_t *j = (job_t *)w;

	ck_assert(pthread_equal(pthread_self(), loop_thread));
	done_order[ndone++] = j->id;
	if (ndone == want_done)
		event_base_loopbreak(base);
}

static void loop_until_done(void)
{
	struct timeval tv = {20, 0}; /* a hang fails, not blocks */

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void setup(void)
{
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	loop_thread = pthread_self();
	ck_assert_int_eq(ck_worker_new(base, "test-worker", &wk), 0);
	ndone = 0;
	memset(jobs, 0, sizeof(jobs));
}

static void teardown(void)
{
	ck_worker_free(wk);
	event_base_free(base);
}

START_TEST(test_order_and_threads)
{
	/* Slow jobs, jobs with nothing to run, and quick ones mixed: DONE
	 * comes in submission order, every RUN off the loop's thread. */
	for (int i = 0; i < NJOBS; i++) {
		jobs[i].id = i;
		jobs[i].w.run = i % 3 == 1 ? NULL : job_run;
		jobs[i].w.done = job_done;
		jobs[i].spin_us = i % 7 == 0 ? 2000 : 0;
		ck_worker_submit(wk, &jobs[i].w);
	}
	ck_assert_uint_eq(ck_worker_pending(wk), NJOBS);
	want_done = NJOBS;
	loop_until_done();
	ck_assert_int_eq(ndone, NJOBS);
	for (int i = 0; i < NJOBS; i++) {
		ck_assert_int_eq(done_order[i], i);
		ck_assert(jobs[i].ran == (i % 3 != 1));
		if (jobs[i].ran)
			ck_assert(!pthread_equal(jobs[i].ran_on, loop_thread));
	}
	ck_assert_uint_eq(ck_worker_pending(wk), 0);
}
END_TEST

static void job_done_resubmit(ck_work_t *w)
{
	job_t *j = (job_t *)w;

	job_done(w);
	if (j->id < NJOBS) { /* the first round submits the second */
		job_t *k = &jobs[NJOBS + j->id];

		k->id = NJOBS + j->id;
		k->w.run = job_run;
		k->w.done = job_done_resubmit;
		ck_worker_submit(wk, &k->w);
	}
}

START_TEST(test_done_submits_more)
{
	for (int i = 0; i < NJOBS; i++) {
		jobs[i].id = i;
		jobs[i].w.run = job_run;
		jobs[i].w.done = job_done_resubmit;
		ck_worker_submit(wk, &jobs[i].w);
	}
	want_done = 2 * NJOBS;
	loop_until_done();
	ck_assert_int_eq(ndone, 2 * NJOBS);
	for (int i = 0; i < 2 * NJOBS; i++)
		ck_assert_int_eq(done_order[i], i);
}
END_TEST

START_TEST(test_free_drops_queued)
{
	/* Queued behind a slow job, then freed without running the loop:
	 * no DONE runs, the slow one finishes first (the join waits). */
	jobs[0].w.run = job_run;
	jobs[0].w.done = job_done;
	jobs[0].spin_us = 20000;
	ck_worker_submit(wk, &jobs[0].w);
	for (int i = 1; i < 10; i++) {
		jobs[i].id = i;
		jobs[i].w.run = job_run;
		jobs[i].w.done = job_done;
		ck_worker_submit(wk, &jobs[i].w);
	}
	ck_worker_free(wk);
	wk = NULL;
	ck_assert_int_eq(ndone, 0);
	ck_assert(!jobs[9].ran);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_worker");
	TCase *tc = tcase_create("worker");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_order_and_threads);
	tcase_add_test(tc, test_done_submits_more);
	tcase_add_test(tc, test_free_drops_queued);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
