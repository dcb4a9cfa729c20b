/*
 * kfk_parts.c: local partition state in the frontend (shell of
 * chronik-kafka-frontend): high watermark and log bounds from the
 * replicator, the segment files a fetch reads, and the waiters (long-poll
 * fetches, acks=all produces) woken when that state changes.
 *
 * Owned by kafka-frontend. The replicator owns the high watermark; this is
 * the last value it pushed. A request answered at once that touches a
 * partition not described yet waits for its description (kfk_req_await_part,
 * bounded). A PartitionState marked deleted drops the
 * segment cache (the topic is gone; a new topic of the same name starts
 * afresh). Segments are listed lazily and re-listed when a lookup misses or
 * a file vanished (retention); at most KFK_PART_SEGS_OPEN are open per
 * partition, least recently used closed first, and those whose files were
 * removed are closed when the log start moves, and by a sweep every
 * KFK_PARTS_SWEEP_MS (the files may go after the start moved: segments
 * below a DeleteRecords start), so that their space is freed.
 * Not for: deciding anything about requests (handlers).
 */
#define CK_LOG_SUBSYSTEM "parts"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "ck_err.h"
#include "ck_hash.h"
#include "ck_log.h"
#include "kfk_srv.h"

/* The bucket hash of a partition (in-memory only: nothing outside this
 * process sees it, so it need not match any Kafka partitioner). */
static uint64_t kfk_part_hash(const char *topic, int32_t partition)
{
	return ck_hash_bytes_add(ck_hash_str(topic), &partition, sizeof(partition));
}

static int kfk_parts_grow(kfk_srv_t *s)
{
	size_t cap = s->parts_cap ? s->parts_cap * 2 : 256;
	kfk_part_t **n = calloc(cap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < s->parts_cap; i++) {
		kfk_part_t *p = s->parts[i];

		while (p) {
			kfk_part_t *next = p->hnext;
			size_t b = kfk_part_hash(p->topic, p->partition) & (cap - 1);

			p->hnext = n[b];
			n[b] = p;
			p = next;
		}
	}
	free(s->parts);
	s->parts = n;
	s->parts_cap = cap;
	return 0;
}

kfk_part_t *kfk_part_get(kfk_srv_t *s, const char *topic, int32_t partition, bool create)
{
	kfk_part_t *p;
	size_t b;

	if (s->parts_cap) {
		b = kfk_part_hash(topic, partition) & (s->parts_cap - 1);
		for (p = s->parts[b]; p; p = p->hnext) {
			if (p->partition == partition && !strcmp(p->topic, topic))
				return p;
		}
	}
	if (!create)
		return NULL;
	if ((s->nparts + 1) * 2 > s->parts_cap && kfk_parts_grow(s) < 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->topic = strdup(topic))) {
		free(p);
		return NULL;
	}
	p->partition = partition;
	p->srv = s;
	p->hw = p->log_start = p->low_watermark = p->leo = -1;
	p->leader_epoch = -1;
	p->waiters.next = p->waiters.prev = &p->waiters;
	b = kfk_part_hash(topic, partition) & (s->parts_cap - 1);
	p->hnext = s->parts[b];
	s->parts[b] = p;
	s->nparts++;
	return p;
}

void kfk_waiter_del(kfk_waiter_t *w)
{
	if (!w->part)
		return;
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->part = NULL;
}

void kfk_waiter_add(kfk_part_t *p, kfk_waiter_t *w)
{
	kfk_waiter_del(w);
	w->part = p;
	w->prev = p->waiters.prev;
	w->next = &p->waiters;
	p->waiters.prev->next = w;
	p->waiters.prev = w;
}

/* Wakes every waiter of P once. Each is unregistered before its callback,
 * which may re-register it (on P too: it then waits for the next change)
 * or unregister others. */
static void kfk_part_wake(kfk_part_t *p)
{
	kfk_waiter_t local;

	if (p->waiters.next == &p->waiters)
		return;
	local.next = p->waiters.next;
	local.prev = p->waiters.prev;
	local.next->prev = &local;
	local.prev->next = &local;
	p->waiters.next = p->waiters.prev = &p->waiters;
	for (kfk_waiter_t *w = local.next; w != &local; w = w->next)
		w->part = p; /* still "registered": on the local list */
	while (local.next != &local) {
		kfk_waiter_t *w = local.next;

		local.next = w->next;
		w->next->prev = &local;
		w->prev = w->next = NULL;
		w->part = NULL;
		w->fn(w);
	}
}

static void kfk_part_close_segments(kfk_part_t *p)
{
	for (int i = 0; i < p->nopen; i++)
		ck_segment_close(&p->open[i].seg);
	p->nopen = 0;
}

/* Closes P's open segments whose files retention (or DeleteRecords, or a
 * start over) removed: an open descriptor would keep their disk space
 * taken for as long as the partition is not read again. */
static void kfk_part_close_unlinked(kfk_part_t *p)
{
	for (int i = 0; i < p->nopen;) {
		struct stat st;

		if (fstat(p->open[i].seg.log_fd, &st) == 0 && st.st_nlink == 0) {
			ck_segment_close(&p->open[i].seg);
			p->open[i] = p->open[--p->nopen];
		} else {
			i++;
		}
	}
}

#define KFK_PARTS_SWEEP_MS 5000

/* Whether nothing refers to P but the table: no waiter, no append in
 * flight or in line, no produce on the worker, no question asked. */
static bool kfk_part_unreferenced(const kfk_part_t *p)
{
	return p->waiters.next == &p->waiters && !p->gate_head && p->wal_bytes == 0 &&
	       p->appending == 0 && p->work_queued == 0 && !p->asking;
}

static void kfk_part_free(kfk_part_t *p)
{
	kfk_part_segments_reset(p);
	free(p->topic);
	free(p);
}

void kfk_parts_sweep(kfk_srv_t *s, uint64_t now_ms)
{
	if (now_ms >= s->parts_sweep_ms && now_ms - s->parts_sweep_ms < KFK_PARTS_SWEEP_MS)
		return;
	s->parts_sweep_ms = now_ms;
	for (size_t i = 0; i < s->parts_cap; i++) {
		kfk_part_t **link = &s->parts[i];

		while (*link) {
			kfk_part_t *p = *link;

			if (p->nopen > 0)
				kfk_part_close_unlinked(p);
			if (!p->gone || !kfk_part_unreferenced(p)) {
				link = &p->hnext;
			} else {
				*link = p->hnext;
				s->nparts--;
				kfk_part_free(p);
			}
		}
	}
}

void kfk_parts_wake_all(kfk_srv_t *s)
{
	kfk_part_t **v;
	size_t n = 0;

	/* Listed first: a waiter's callback may add partitions to the table
	 * (which may grow); none is freed outside kfk_parts_sweep. */
	for (size_t i = 0; i < s->parts_cap; i++)
		for (kfk_part_t *p = s->parts[i]; p; p = p->hnext)
			n += p->waiters.next != &p->waiters;
	if (n == 0 || !(v = malloc(n * sizeof(*v))))
		return;
	n = 0;
	for (size_t i = 0; i < s->parts_cap; i++)
		for (kfk_part_t *p = s->parts[i]; p; p = p->hnext)
			if (p->waiters.next != &p->waiters)
				v[n++] = p;
	for (size_t i = 0; i < n; i++)
		kfk_part_wake(v[i]);
	free(v);
}

void kfk_part_segments_reset(kfk_part_t *p)
{
	kfk_part_close_segments(p);
	free(p->bases);
	p->bases = NULL;
	p->nbases = 0;
	p->bases_valid = false;
}

/* ---- requests waiting for a partition's first description ---- */

struct kfk_await {
	kfk_waiter_t w; /* first member: the waiter callback finds the wait */
	kfk_req_t *req;
	void (*handler)(kfk_req_t *req);
	struct event *timer;
	bool expired;
};

/* Runs the handler again; the wait may be freed by it (the request
 * answered), so nothing of it is touched afterwards. */
static void kfk_await_rerun(struct kfk_await *a)
{
	kfk_waiter_del(&a->w);
	a->handler(a->req);
}

static void kfk_await_woken(kfk_waiter_t *w)
{
	kfk_await_rerun((struct kfk_await *)w);
}

static void kfk_await_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct kfk_await *a = arg;

	(void)fd;
	(void)what;
	a->expired = true;
	kfk_await_rerun(a);
}

bool kfk_req_await_part(kfk_req_t *req, kfk_part_t *p, void (*handler)(kfk_req_t *req))
{
	struct kfk_await *a = req->await;

	if (!p || p->known || !req->conn)
		return false;
	if (a && a->expired)
		return false;
	if (a && a->w.part)
		return true; /* this run waits already (for another partition) */
	if (!a) {
		struct timeval tv = {KFK_AWAIT_KNOWN_MS / 1000, (KFK_AWAIT_KNOWN_MS % 1000) * 1000};

		a = calloc(1, sizeof(*a));
		if (!a)
			return false;
		a->req = req;
		a->w.fn = kfk_await_woken;
		a->timer = evtimer_new(req->srv->base, kfk_await_timeout, a);
		if (!a->timer || evtimer_add(a->timer, &tv) < 0) {
			if (a->timer)
				event_free(a->timer);
			free(a);
			return false;
		}
		req->await = a;
	}
	a->handler = handler;
	kfk_waiter_add(p, &a->w);
	return true;
}

bool kfk_req_awaiting(const kfk_req_t *req)
{
	return req->await && req->await->w.part;
}

void kfk_req_await_free(kfk_req_t *req)
{
	struct kfk_await *a = req->await;

	if (!a)
		return;
	kfk_waiter_del(&a->w);
	event_free(a->timer);
	free(a);
	req->await = NULL;
}

void kfk_parts_on_state(kfk_srv_t *s, const Chronik__Repl__PartitionState *st)
{
	kfk_part_t *p;

	if (!st->topic || !st->topic[0])
		return;
	p = kfk_part_get(s, st->topic, st->partition, !st->deleted);
	if (!p)
		return;
	if (st->deleted) {
		p->known = false;
		p->gone = true;
		p->deletions++;
		p->hw = p->log_start = p->low_watermark = p->leo = -1;
		kfk_part_segments_reset(p);
		kfk_part_wake(p);
		return;
	}
	if (p->known && st->log_start_offset > p->log_start) {
		p->bases_valid = false; /* retention moved the start: re-list */
		kfk_part_close_unlinked(p);
	}
	p->known = true;
	p->gone = false;
	p->leader = st->leader;
	p->hw = st->high_watermark;
	p->log_start = st->log_start_offset;
	p->low_watermark = st->low_watermark;
	p->leo = st->log_end_offset;
	p->leader_epoch = st->leader_epoch;
	p->isr_size = st->isr_size;
	kfk_part_wake(p);
}

static void kfk_part_asked(void *arg, int err, const void *reply)
{
	kfk_part_t *p = arg;
	const Chronik__Repl__ReplReply *rep = reply;

	p->asking = false;
	if (err || !rep || rep->error ||
	    rep->body_case != CHRONIK__REPL__REPL_REPLY__BODY_PARTITION || !rep->partition)
		return;
	/* The state may describe what the replicator knows of the topic by
	 * then, which is what pushes describe too. */
	kfk_parts_on_state(p->srv, rep->partition);
}

static void kfk_part_ask(kfk_srv_t *s, kfk_part_t *p)
{
	Chronik__Repl__ReplRequest req = CHRONIK__REPL__REPL_REQUEST__INIT;
	Chronik__Repl__GetPartition gp = CHRONIK__REPL__GET_PARTITION__INIT;

	if (p->asking || !kfk_peer_up(s, KFK_PEER_REPL))
		return;
	gp.topic = p->topic;
	gp.partition = p->partition;
	req.body_case = CHRONIK__REPL__REPL_REQUEST__BODY_GET_PARTITION;
	req.get_partition = &gp;
	p->srv = s;
	if (kfk_peer_call(s, KFK_PEER_REPL, &req.base, &req.correlation_id, kfk_part_asked, p,
	                  &p->ask_id) == 0)
		p->asking = true;
}

kfk_part_t *kfk_part_use(kfk_srv_t *s, const kfk_topic_t *t, int32_t partition)
{
	kfk_part_t *p = kfk_part_get(s, t->name, partition, true);

	if (!p)
		return NULL;
	if (p->id_set && memcmp(p->topic_id, t->id, 16) != 0) {
		/* A new topic under an old name: forget the old one's state. */
		p->known = false;
		p->hw = p->log_start = p->low_watermark = p->leo = -1;
		kfk_part_segments_reset(p);
	}
	memcpy(p->topic_id, t->id, 16);
	p->id_set = true;
	p->gone = false;
	if (!p->known)
		kfk_part_ask(s, p);
	return p;
}

void kfk_parts_free_all(kfk_srv_t *s)
{
	for (size_t i = 0; i < s->parts_cap; i++) {
		kfk_part_t *p = s->parts[i];

		while (p) {
			kfk_part_t *next = p->hnext;

			while (p->waiters.next != &p->waiters)
				kfk_waiter_del(p->waiters.next);
			if (p->asking)
				kfk_peer_cancel(s, KFK_PEER_REPL, p->ask_id);
			kfk_part_free(p);
			p = next;
		}
	}
	free(s->parts);
	s->parts = NULL;
	s->parts_cap = s->nparts = 0;
}

static int kfk_part_list(kfk_srv_t *s, kfk_part_t *p)
{
	char dir[PATH_MAX];
	int64_t *bases = NULL;
	int r;

	r = ck_segment_log_dir(dir, sizeof(dir), s->cfg->data_dir, p->topic, p->partition);
	if (r < 0)
		return r;
	r = ck_segment_list(dir, &bases);
	if (r < 0 && r != -ENOENT)
		return r;
	kfk_part_segments_reset(p);
	p->bases = bases;
	p->nbases = r < 0 ? 0 : r;
	p->bases_valid = true;
	return 0;
}

int kfk_part_bases(kfk_srv_t *s, kfk_part_t *p, const int64_t **ret, int *ret_n)
{
	int r = kfk_part_list(s, p);

	if (r < 0)
		return r;
	*ret = p->bases;
	*ret_n = p->nbases;
	return 0;
}

/* Opens (or finds open) the segment with base BASE. */
static int kfk_part_open(kfk_srv_t *s, kfk_part_t *p, int64_t base, ck_segment_t **ret)
{
	static uint64_t use_clock;
	char dir[PATH_MAX];
	kfk_open_seg_t *slot;
	int r;

	for (int i = 0; i < p->nopen; i++) {
		if (p->open[i].base == base) {
			p->open[i].used = ++use_clock;
			*ret = &p->open[i].seg;
			return 0;
		}
	}
	if (p->nopen < KFK_PART_SEGS_OPEN) {
		slot = &p->open[p->nopen];
	} else {
		slot = &p->open[0];
		for (int i = 1; i < p->nopen; i++)
			if (p->open[i].used < slot->used)
				slot = &p->open[i];
		ck_segment_close(&slot->seg);
		p->nopen--;
		*slot = p->open[p->nopen];
		slot = &p->open[p->nopen];
	}
	r = ck_segment_log_dir(dir, sizeof(dir), s->cfg->data_dir, p->topic, p->partition);
	if (r < 0)
		return r;
	r = ck_segment_open(dir, base, &slot->seg);
	if (r < 0)
		return r;
	slot->base = base;
	slot->used = ++use_clock;
	p->nopen++;
	*ret = &slot->seg;
	return 0;
}

/* Index into bases of the segment for OFFSET (NEXT: after base OFFSET). */
static ssize_t kfk_part_pick(const kfk_part_t *p, int64_t offset, bool next)
{
	ssize_t i = ck_segment_pick(p->bases, (size_t)p->nbases, offset);

	if (next)
		return i >= 0 && p->bases[i] == offset && i + 1 < p->nbases ? i + 1 : -1;
	return i;
}

static int kfk_part_find(kfk_srv_t *s, kfk_part_t *p, int64_t offset, bool next, ck_segment_t **ret)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		ssize_t i;
		int r;

		if (!p->bases_valid || attempt > 0) {
			r = kfk_part_list(s, p);
			if (r < 0)
				return r;
		}
		i = kfk_part_pick(p, offset, next);
		/* Missing: maybe a segment rolled or retention ran since the
		 * listing; re-list once before answering. */
		if (i < 0) {
			if (attempt == 0)
				continue;
			return 0;
		}
		r = kfk_part_open(s, p, p->bases[i], ret);
		if (r == -ENOENT && attempt == 0)
			continue;
		if (r < 0)
			return r;
		return 1;
	}
	return 0;
}

int kfk_part_segment(kfk_srv_t *s, kfk_part_t *p, int64_t offset, ck_segment_t **ret)
{
	return kfk_part_find(s, p, offset, false, ret);
}

int kfk_part_segment_next(kfk_srv_t *s, kfk_part_t *p, int64_t after_base, ck_segment_t **ret)
{
	return kfk_part_find(s, p, after_base, true, ret);
}
