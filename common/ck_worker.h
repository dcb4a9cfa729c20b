/*
 * ck_worker.h: one thread that runs CPU-heavy jobs off a libevent loop,
 * in order, and hands each back to the loop when it is done.
 *
 * The loop submits a job (ck_worker_submit); the thread runs its RUN
 * function, then the loop calls its DONE function, for every job in the
 * order they were submitted (one thread, one queue: a job whose RUN is
 * NULL only keeps its place in line, for callers that must not overtake
 * the jobs before them). A job is the caller's memory (embed ck_work_t in
 * it), untouched by the worker after DONE. RUN must not touch what the
 * loop uses meanwhile: it gets its inputs before the submit and leaves its
 * results in the job.
 *
 * The thread wakes the loop through an eventfd read by an event on the
 * loop's base. ck_worker_free joins the thread after the job it runs; the
 * jobs not done are dropped without their DONE (the loop is going away).
 * Not for: I/O the loop could do itself (every job costs two thread
 * hand-offs).
 */
#ifndef CK_WORKER_H
#define CK_WORKER_H

#include <stddef.h>

struct event_base;

typedef struct ck_work ck_work_t;

struct ck_work {
	ck_work_t *next;            /* the worker's */
	void (*run)(ck_work_t *w);  /* on the worker thread; NULL: nothing */
	void (*done)(ck_work_t *w); /* on the loop, after RUN */
};

typedef struct ck_worker ck_worker_t;

/* Starts the thread (its name NAME, at most 15 characters) with DONE
 * calls on BASE's loop. Returns 0 or a negative errno. */
int ck_worker_new(struct event_base *base, const char *name, ck_worker_t **ret);

/* Queues W (RUN and DONE set by the caller). */
void ck_worker_submit(ck_worker_t *wk, ck_work_t *w);

/* Jobs submitted whose DONE has not run yet. */
size_t ck_worker_pending(const ck_worker_t *wk);

/* Stops the thread once its current job returns; NULL is a no-op. */
void ck_worker_free(ck_worker_t *wk);

#endif
