/*
 * ck_worker.c: a job thread for a libevent loop (see ck_worker.h).
 *
 * Two lists under one mutex: the jobs to run (the thread takes them from
 * the head) and the jobs run (the loop takes them all at once when the
 * eventfd wakes it). Both keep submission order, so DONE calls come in it.
 */
#include "ck_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_err.h"
#include "ck_log.h"

typedef struct {
	ck_work_t *head, *tail;
} ck_work_list_t;

struct ck_worker {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	pthread_t thread;
	bool quit;
	ck_work_list_t todo;
	ck_work_list_t ran;
	size_t pending; /* the loop's count: submitted, DONE not run */
	int efd;
	struct event *ev;
};

static void ck_work_list_push(ck_work_list_t *l, ck_work_t *w)
{
	w->next = NULL;
	if (l->tail)
		l->tail->next = w;
	else
		l->head = w;
	l->tail = w;
}

static void *ck_worker_main(void *arg)
{
	ck_worker_t *wk = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&wk->mu);
	for (;;) {
		ck_work_t *w;
		bool wake;

		while (!wk->todo.head && !wk->quit)
			pthread_cond_wait(&wk->cond, &wk->mu);
		if (wk->quit)
			break;
		w = wk->todo.head;
		wk->todo.head = w->next;
		if (!wk->todo.head)
			wk->todo.tail = NULL;
		pthread_mutex_unlock(&wk->mu);
		if (w->run)
			w->run(w);
		pthread_mutex_lock(&wk->mu);
		wake = !wk->ran.head; /* a wakeup is on its way otherwise */
		ck_work_list_push(&wk->ran, w);
		if (wake && write(wk->efd, &one, sizeof(one)) < 0)
			ck_log(CK_LOG_ERROR, "worker cannot wake the loop: %s",
			       ck_strerror(-errno));
	}
	pthread_mutex_unlock(&wk->mu);
	return NULL;
}

static void ck_worker_done_cb(evutil_socket_t fd, short what, void *arg)
{
	ck_worker_t *wk = arg;
	ck_work_t *w;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&wk->mu);
	w = wk->ran.head;
	wk->ran.head = wk->ran.tail = NULL;
	pthread_mutex_unlock(&wk->mu);
	while (w) {
		ck_work_t *next = w->next;

		wk->pending--;
		w->done(w); /* may free W */
		w = next;
	}
}

int ck_worker_new(struct event_base *base, const char *name, ck_worker_t **ret)
{
	ck_worker_t *wk = calloc(1, sizeof(*wk));
	int r;

	*ret = NULL;
	if (!wk)
		return -ENOMEM;
	wk->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wk->efd < 0) {
		r = -errno;
		free(wk);
		return r;
	}
	wk->ev = event_new(base, wk->efd, EV_READ | EV_PERSIST, ck_worker_done_cb, wk);
	if (!wk->ev || event_add(wk->ev, NULL) < 0) {
		if (wk->ev)
			event_free(wk->ev);
		(void)close(wk->efd);
		free(wk);
		return -ENOMEM;
	}
	(void)pthread_mutex_init(&wk->mu, NULL);
	(void)pthread_cond_init(&wk->cond, NULL);
	r = pthread_create(&wk->thread, NULL, ck_worker_main, wk);
	if (r != 0) {
		pthread_mutex_destroy(&wk->mu);
		pthread_cond_destroy(&wk->cond);
		event_free(wk->ev);
		(void)close(wk->efd);
		free(wk);
		return -r;
	}
	if (name)
		(void)pthread_setname_np(wk->thread, name);
	*ret = wk;
	return 0;
}

void ck_worker_submit(ck_worker_t *wk, ck_work_t *w)
{
	wk->pending++;
	pthread_mutex_lock(&wk->mu);
	ck_work_list_push(&wk->todo, w);
	pthread_cond_signal(&wk->cond);
	pthread_mutex_unlock(&wk->mu);
}

size_t ck_worker_pending(const ck_worker_t *wk)
{
	return wk->pending;
}

void ck_worker_free(ck_worker_t *wk)
{
	if (!wk)
		return;
	pthread_mutex_lock(&wk->mu);
	wk->quit = true;
	pthread_cond_signal(&wk->cond);
	pthread_mutex_unlock(&wk->mu);
	(void)pthread_join(wk->thread, NULL);
	pthread_mutex_destroy(&wk->mu);
	pthread_cond_destroy(&wk->cond);
	event_free(wk->ev);
	(void)close(wk->efd);
	free(wk);
}
