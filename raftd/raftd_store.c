/*
 * raftd_store.c: the Raft log of chronik-raftd in walwriter's partition
 * __chronik_metadata-0 (see raftd_store.h).
 *
 * Owned by raftd. State: `last` is the last index known durable; the term
 * table holds one run (first index, term) per term change of the log up to
 * the newest appended entry; the cache holds copies of entries cache_first
 * .. cache_first + cache_n - 1 (every entry of a pending append among
 * them). Invariant: at most one operation (truncate + append) is pending,
 * and every walwriter reply that does not plainly complete it goes through
 * raftd_store_sync(), which asks the log's end and decides from there, so a
 * lost connection, a walwriter restart or a busy log all take one path.
 * Not for: Raft decisions (raft_*.c), applying (raftd_apply.c).
 */
#define CK_LOG_SUBSYSTEM "store"

#include "raftd_store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ck_batch.h"
#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "ck_segment.h"
#include "raftd_apply.h"

#define RAFTD_BATCH_BYTES_MAX   (1u << 20)
#define RAFTD_BATCH_RECORDS_MAX 4096
#define RAFTD_LOG_SEGMENT_BYTES ((int64_t)64 << 20)
#define RAFTD_LOG_MESSAGE_MAX   (8 << 20)
#define RAFTD_STORE_RETRY_MS    10

typedef struct {
	uint64_t index; /* first index of the run */
	uint64_t term;
} raftd_term_run_t;

typedef struct {
	uint64_t term;
	uint32_t len;
	uint8_t *data;
} raftd_cached_t;

typedef enum {
	RAFTD_STORE_IDLE = 0, /* nothing in flight */
	RAFTD_STORE_BUSY,     /* a walwriter request in flight */
	RAFTD_STORE_WAIT,     /* waiting for the retry timer or a reconnect */
} raftd_store_state_t;

struct raftd_store {
	struct event_base *base;
	char log_dir[PATH_MAX];
	raftd_wal_t *wal;
	raftd_store_hooks_t h;
	void *arg;
	raftd_store_state_t state;
	bool loaded;
	bool failed;
	struct event *timer;
	uint64_t last;
	raftd_term_run_t *runs;
	size_t n_runs;
	size_t cap_runs;
	raftd_cached_t *cache; /* ring, capacity a power of two */
	size_t cache_cap;
	size_t cache_head;
	size_t cache_n;
	uint64_t cache_first;
	bool op;       /* an append is pending */
	bool op_trunc; /* ... that must first truncate the log at op_lo */
	bool op_gap;   /* ... whose indexes op_lo .. gap_index are one gap */
	uint64_t op_lo;
	uint64_t op_hi;
	uint64_t op_start_ns;
	uint64_t gap_index; /* an installed snapshot's index and term */
	uint64_t gap_term;
	/* compaction: entries up to `compact` are no longer read */
	uint64_t compact;
	raft_snapshot_meta_t snap; /* the newest snapshot, for the core */
	bool snap_wanted;          /* the core asked for one that is not there */
	/* walwriter's log start offset (the prefix dropped with DeleteRecords) */
	int64_t log_start;
	bool trim_wanted; /* the compaction moved: drop the prefix below it */
	bool trim_busy;   /* a DeleteRecords in flight */
	ck_buf_t out;
};

static void raftd_store_sync(raftd_store_t *s);
static void raftd_store_trim(raftd_store_t *s);
static int raftd_store_install_op(raftd_store_t *s, const raft_entry_t *ents, size_t n);
static void raftd_store_op_start(raftd_store_t *s);

/* ---- the term table ---- */

static int raftd_runs_push(raftd_store_t *s, uint64_t index, uint64_t term)
{
	if (s->n_runs && s->runs[s->n_runs - 1].term == term)
		return 0;
	if (s->n_runs == s->cap_runs) {
		size_t cap = s->cap_runs ? s->cap_runs * 2 : 16;
		raftd_term_run_t *v = realloc(s->runs, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->runs = v;
		s->cap_runs = cap;
	}
	s->runs[s->n_runs++] = (raftd_term_run_t){index, term};
	return 0;
}

/* Forgets the terms of entries FROM and later. */
static void raftd_runs_truncate(raftd_store_t *s, uint64_t from)
{
	while (s->n_runs && s->runs[s->n_runs - 1].index >= from)
		s->n_runs--;
}

static uint64_t raftd_runs_term(const raftd_store_t *s, uint64_t index)
{
	size_t lo = 0, hi = s->n_runs;

	/* The last run starting at or before INDEX. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->runs[mid].index <= index)
			lo = mid;
		else
			hi = mid;
	}
	return s->n_runs && s->runs[lo].index <= index ? s->runs[lo].term : 0;
}

/* ---- the entry cache ---- */

static raftd_cached_t *raftd_cache_at(raftd_store_t *s, uint64_t index)
{
	return &s->cache[(s->cache_head + (index - s->cache_first)) & (s->cache_cap - 1)];
}

static void raftd_cache_drop_tail(raftd_store_t *s, uint64_t from)
{
	while (s->cache_n && s->cache_first + s->cache_n - 1 >= from) {
		raftd_cached_t *c = raftd_cache_at(s, s->cache_first + s->cache_n - 1);
		free(c->data);
		c->data = NULL;
		s->cache_n--;
	}
}

static void raftd_cache_drop_head(raftd_store_t *s, uint64_t upto)
{
	while (s->cache_n && s->cache_first <= upto) {
		raftd_cached_t *c = &s->cache[s->cache_head];
		free(c->data);
		c->data = NULL;
		s->cache_head = (s->cache_head + 1) & (s->cache_cap - 1);
		s->cache_first++;
		s->cache_n--;
	}
}

static int raftd_cache_grow(raftd_store_t *s, size_t need)
{
	size_t cap = s->cache_cap ? s->cache_cap : 256;
	raftd_cached_t *v;

	while (cap < need)
		cap *= 2;
	if (cap == s->cache_cap)
		return 0;
	v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->cache_n; i++)
		v[i] = s->cache[(s->cache_head + i) & (s->cache_cap - 1)];
	free(s->cache);
	s->cache = v;
	s->cache_cap = cap;
	s->cache_head = 0;
	return 0;
}

/* Copies ENTS (contiguous, ents[0].index == the cache's next index or the
 * cache empty) into the cache. */
static int raftd_cache_push(raftd_store_t *s, const raft_entry_t *ents, size_t n)
{
	int r = raftd_cache_grow(s, s->cache_n + n);

	if (r < 0)
		return r;
	if (s->cache_n == 0) {
		s->cache_first = ents[0].index;
		s->cache_head = 0;
	}
	for (size_t i = 0; i < n; i++) {
		raftd_cached_t *c = &s->cache[(s->cache_head + s->cache_n) & (s->cache_cap - 1)];
		c->data = malloc(ents[i].len ? ents[i].len : 1);
		if (!c->data)
			return -ENOMEM;
		memcpy(c->data, ents[i].data, ents[i].len);
		c->len = ents[i].len;
		c->term = ents[i].term;
		s->cache_n++;
	}
	return 0;
}

/* ---- reading ---- */

/* Copies the records of one batch (BYTES, LEN) with offsets in [*OFF, END)
 * into ENTS/BUF. Returns 1 to go on, 0 when BUF is full or END reached, or
 * CK_E_CORRUPT. */
static int raftd_read_batch(const uint8_t *bytes, size_t len, int64_t *off, int64_t end,
                            raft_entry_t *ents, int *count, uint8_t *buf, size_t cap, size_t *used)
{
	ck_record_iter_t it;
	ck_record_t rec;
	int r = ck_record_iter_init(&it, bytes, len);

	if (r < 0)
		return CK_E_CORRUPT;
	while ((r = ck_record_iter_next(&it, &rec)) == 1) {
		size_t vlen = rec.value_len > 0 ? (size_t)rec.value_len : 0;

		if (rec.offset < *off)
			continue;
		if (rec.offset != *off)
			return CK_E_CORRUPT; /* a hole in the log */
		if (rec.offset >= end || *used + vlen > cap)
			return 0;
		if (vlen)
			memcpy(buf + *used, rec.value, vlen);
		ents[*count] = (raft_entry_t){(uint64_t)rec.offset + 1,
		                              (uint64_t)(uint32_t)it.hdr.partition_leader_epoch,
		                              buf + *used, (uint32_t)vlen};
		*used += vlen;
		(*count)++;
		(*off)++;
	}
	return r < 0 ? CK_E_CORRUPT : 1;
}

/* Where a read from the segment files stands. */
typedef struct {
	int64_t off; /* next offset wanted */
	int64_t end; /* offsets from here on are not wanted */
	raft_entry_t *ents;
	int count;
	uint8_t *buf;
	size_t cap;
	size_t used;
} raftd_read_t;

/* Reads one segment from the batch holding rd->off. Returns 1 to go on
 * with the next segment, 0 when the read is complete (END reached or BUF
 * full), or an error. */
static int raftd_read_segment(raftd_store_t *s, int64_t base, raftd_read_t *rd)
{
	ck_segment_t seg;
	ck_segment_iter_t it;
	uint64_t pos;
	int more = 1, r;

	r = ck_segment_open(s->log_dir, base, &seg);
	if (r < 0)
		return r;
	r = ck_segment_find(&seg, rd->off, UINT64_MAX, &pos, NULL);
	if (r <= 0)
		goto out;
	r = ck_segment_iter_init(&it, &seg, pos, UINT64_MAX, INT64_MAX, CK_SEGMENT_VERIFY_CRC);
	if (r < 0)
		goto out;
	while (more == 1 && (r = ck_segment_iter_next(&it)) == 1) {
		const uint8_t *p;
		size_t len;

		r = ck_segment_iter_bytes(&it, &p, &len);
		if (r < 0)
			break;
		more = raftd_read_batch(p, len, &rd->off, rd->end, rd->ents, &rd->count, rd->buf,
		                        rd->cap, &rd->used);
		r = more < 0 ? more : 0;
	}
	ck_segment_iter_done(&it);
out:
	ck_segment_close(&seg);
	if (r < 0)
		return r;
	return more == 1 && rd->off < rd->end ? 1 : 0;
}

/* Reads entries LO .. HI-1 from the segment files. Returns the count. */
static int raftd_store_read(raftd_store_t *s, uint64_t lo, uint64_t hi, raft_entry_t *ents,
                            uint8_t *buf, size_t cap)
{
	raftd_read_t rd = {(int64_t)lo - 1, (int64_t)hi - 1, ents, 0, buf, cap, 0};
	int64_t *bases = NULL;
	int n, r = 1;
	ssize_t i;

	n = ck_segment_list(s->log_dir, &bases);
	if (n < 0)
		return n;
	i = ck_segment_pick(bases, (size_t)n, rd.off);
	if (i < 0)
		r = CK_E_NOT_FOUND;
	for (; r == 1 && i < n; i++)
		r = raftd_read_segment(s, bases[i], &rd);
	free(bases);
	if (r < 0)
		return r;
	/* The log must hold every durable entry: a first entry that is not
	 * there (rather than too big for BUF) is a hole. */
	if (rd.count == 0 && rd.off < rd.end && r == 1)
		return CK_E_CORRUPT;
	return rd.count;
}

int raftd_store_entries(raftd_store_t *s, uint64_t lo, uint64_t hi, raft_entry_t *ret_ents,
                        uint8_t *buf, size_t buf_cap)
{
	size_t used = 0;
	int count = 0;

	if (lo == 0 || lo > hi)
		return CK_E_INVALID;
	if (lo <= s->compact)
		return CK_E_NOT_FOUND;
	if (lo < hi && (s->cache_n == 0 || lo < s->cache_first)) {
		uint64_t stop = s->cache_n ? CK_MIN(hi, s->cache_first) : hi;

		count = raftd_store_read(s, lo, stop, ret_ents, buf, buf_cap);
		if (count < 0 || lo + (uint64_t)count < stop)
			return count;
		for (int i = 0; i < count; i++)
			used += ret_ents[i].len;
		lo += (uint64_t)count;
	}
	for (; lo < hi && s->cache_n && lo < s->cache_first + s->cache_n; lo++) {
		raftd_cached_t *c = raftd_cache_at(s, lo);

		if (used + c->len > buf_cap)
			break;
		memcpy(buf + used, c->data, c->len);
		ret_ents[count++] = (raft_entry_t){lo, c->term, buf + used, c->len};
		used += c->len;
	}
	return count;
}

/* ---- raft_storage_t ---- */

static uint64_t raftd_st_last_index(void *ctx)
{
	return ((raftd_store_t *)ctx)->last;
}

static int raftd_st_term(void *ctx, uint64_t index, uint64_t *ret_term)
{
	raftd_store_t *s = ctx;

	if (index < s->compact)
		return CK_E_NOT_FOUND;
	if (index == 0) {
		*ret_term = 0;
		return 0;
	}
	if (s->n_runs == 0 || index < s->runs[0].index)
		return CK_E_NOT_FOUND;
	if (index > s->last && !(s->cache_n && index < s->cache_first + s->cache_n))
		return CK_E_OFFSET_RANGE;
	*ret_term = raftd_runs_term(s, index);
	return 0;
}

static int raftd_st_entries(void *ctx, uint64_t lo, uint64_t hi, raft_entry_t *ret_ents,
                            uint8_t *buf, size_t buf_cap)
{
	return raftd_store_entries(ctx, lo, hi, ret_ents, buf, buf_cap);
}

static int raftd_st_snapshot(void *ctx, raft_snapshot_meta_t *ret_meta)
{
	raftd_store_t *s = ctx;

	/* None made yet (a diverged follower in commit mode "leader" asks
	 * before anything was compacted): the shell makes one soon. */
	if (s->snap.index == 0) {
		s->snap_wanted = true;
		return CK_E_AGAIN;
	}
	*ret_meta = s->snap;
	return 0;
}

void raftd_store_storage(raftd_store_t *s, raft_storage_t *ret)
{
	ret->ctx = s;
	ret->last_index = raftd_st_last_index;
	ret->term = raftd_st_term;
	ret->entries = raftd_st_entries;
	ret->snapshot = raftd_st_snapshot;
}

uint64_t raftd_store_last_index(const raftd_store_t *s)
{
	return s->last;
}

bool raftd_store_loaded(const raftd_store_t *s)
{
	return s->loaded;
}

bool raftd_store_appending(const raftd_store_t *s)
{
	return s->op;
}

/* ---- loading ---- */

/* Builds the term table from the batch headers of the log, which starts
 * at offset START (the first segment holds it) and ends at END. */
static int raftd_store_scan(raftd_store_t *s, int64_t start, int64_t end)
{
	int64_t *bases = NULL, next = 0;
	int n, r = 0;

	s->n_runs = 0;
	n = ck_segment_list(s->log_dir, &bases);
	if (n < 0)
		return n == -ENOENT && end == 0 ? 0 : n;
	if (n > 0) {
		next = bases[0];
		if (next > start) {
			ck_log(CK_LOG_ERROR,
			       "metadata log files start after the log start segment=%lld "
			       "start=%lld",
			       (long long)next, (long long)start);
			r = CK_E_CORRUPT;
		}
	}
	for (int i = 0; i < n && r == 0 && next < end; i++) {
		ck_segment_t seg;
		ck_segment_iter_t it;

		r = ck_segment_open(s->log_dir, bases[i], &seg);
		if (r < 0)
			break;
		r = ck_segment_iter_init(&it, &seg, 0, UINT64_MAX, end, 0);
		while (r == 0 && (r = ck_segment_iter_next(&it)) == 1) {
			const ck_batch_header_t *h = &it.hdr;

			r = 0;
			/* A batch may hold fewer records than offsets: the gap
			 * left by an installed snapshot (raftd_store_install). */
			if (h->base_offset != next || h->records_count < 1 ||
			    h->records_count > h->last_offset_delta + 1 ||
			    h->partition_leader_epoch < 0) {
				ck_log(CK_LOG_ERROR,
				       "metadata log batch out of place offset=%lld "
				       "expected=%lld",
				       (long long)h->base_offset, (long long)next);
				r = CK_E_CORRUPT;
				break;
			}
			r = raftd_runs_push(s, (uint64_t)next + 1,
			                    (uint64_t)h->partition_leader_epoch);
			next = ck_batch_next_offset(h);
		}
		ck_segment_iter_done(&it);
		ck_segment_close(&seg);
	}
	free(bases);
	if (r < 0)
		return r;
	if (next != end) {
		ck_log(CK_LOG_ERROR, "metadata log ends early end=%lld expected=%lld",
		       (long long)next, (long long)end);
		return CK_E_CORRUPT;
	}
	s->last = (uint64_t)end;
	return 0;
}

static void raftd_store_fail(raftd_store_t *s, int err, const char *why)
{
	ck_log(CK_LOG_ERROR, "metadata log failed: %s err=\"%s\"", why, ck_strerror(err));
	s->failed = true;
	s->state = RAFTD_STORE_IDLE;
	if (!s->loaded)
		s->h.on_loaded(s->arg, err);
	else
		s->h.on_appended(s->arg, err);
}

static void raftd_store_retry(raftd_store_t *s)
{
	struct timeval tv = {0, RAFTD_STORE_RETRY_MS * 1000};

	s->state = RAFTD_STORE_WAIT;
	(void)evtimer_add(s->timer, &tv);
}

static void raftd_store_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	raftd_store_t *s = arg;

	(void)fd;
	(void)what;
	if (s->state == RAFTD_STORE_WAIT && raftd_wal_connected(s->wal))
		raftd_store_sync(s);
}

/* Sends REQ; on a send failure waits for the reconnect. */
static void raftd_store_call(raftd_store_t *s, Chronik__Wal__WalRequest *req, raftd_wal_cb cb)
{
	int r = raftd_wal_call(s->wal, req, cb, s);

	if (r == 0) {
		s->state = RAFTD_STORE_BUSY;
		return;
	}
	if (r == -ENOTCONN || r == CK_E_CLOSED) {
		s->state = RAFTD_STORE_WAIT;
		return;
	}
	raftd_store_fail(s, r, "cannot send to walwriter");
}

/* Common handling of a reply that failed: true when it was dealt with. */
static bool raftd_store_reply_failed(raftd_store_t *s, int err, const Chronik__Wal__WalReply *rep)
{
	if (err == CK_E_SHUTDOWN) {
		s->state = RAFTD_STORE_IDLE;
		return true;
	}
	if (err < 0) {
		s->state = RAFTD_STORE_WAIT; /* connection lost: resync on reconnect */
		return true;
	}
	if (rep->error == CK_E_AGAIN || rep->error == CK_E_SHUTDOWN || rep->error == -ENOMEM) {
		raftd_store_retry(s);
		return true;
	}
	return false;
}

static void raftd_store_create_cb(void *arg, int err, const Chronik__Wal__WalReply *rep)
{
	raftd_store_t *s = arg;

	if (raftd_store_reply_failed(s, err, rep))
		return;
	if (rep->error == CK_E_EXISTS)
		return raftd_store_retry(s); /* someone's create still runs */
	if (rep->error != 0)
		return raftd_store_fail(s, rep->error, "cannot create the metadata log");
	ck_log(CK_LOG_INFO, "metadata log created");
	raftd_store_sync(s);
}

static void raftd_store_create(raftd_store_t *s)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__CreateLog cl = CHRONIK__WAL__CREATE_LOG__INIT;
	Chronik__Wal__LogConfig cfg = CHRONIK__WAL__LOG_CONFIG__INIT;

	/* The Raft log must never lose entries to retention. */
	cfg.retention_bytes = -1;
	cfg.retention_ms = -1;
	cfg.segment_bytes = RAFTD_LOG_SEGMENT_BYTES;
	cfg.max_message_bytes = RAFTD_LOG_MESSAGE_MAX;
	cl.topic = RAFTD_METADATA_TOPIC;
	cl.partition = RAFTD_LOG_PARTITION;
	cl.config = &cfg;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CREATE_LOG;
	req.create_log = &cl;
	raftd_store_call(s, &req, raftd_store_create_cb);
}

static void raftd_store_load(raftd_store_t *s, const Chronik__Wal__LogInfo *info)
{
	int r;

	/* A dropped prefix must be covered by the snapshot: the entry at the
	 * compaction index (offset compact - 1) is still read for its term. */
	if (info->log_start_offset < 0 || info->log_start_offset > info->log_end_offset ||
	    (info->log_start_offset > 0 && (uint64_t)info->log_start_offset + 1 > s->compact)) {
		ck_log(CK_LOG_ERROR,
		       "metadata log starts after its snapshot start=%lld "
		       "compact_index=%llu",
		       (long long)info->log_start_offset, (unsigned long long)s->compact);
		return raftd_store_fail(s, CK_E_CORRUPT, "metadata log starts after its snapshot");
	}
	if (info->durable_end_offset < info->log_end_offset)
		return raftd_store_retry(s); /* wait until what is there is durable */
	s->log_start = info->log_start_offset;
	r = raftd_store_scan(s, info->log_start_offset, info->log_end_offset);
	if (r < 0)
		return raftd_store_fail(s, r, "cannot read the metadata log");
	/* Not for an installed (or received) snapshot whose log was not cut
	 * to it yet: the gap below completes that. */
	if (s->last < s->compact && s->gap_index < s->compact)
		return raftd_store_fail(s, CK_E_CORRUPT, "metadata log ends before its compaction");
	if (s->gap_index &&
	    (s->last < s->gap_index || raftd_runs_term(s, s->gap_index) != s->gap_term)) {
		/* A crash between recording an installed snapshot and making
		 * the log end there: finish that first. */
		ck_log(CK_LOG_WARN, "completing a snapshot install in the log index=%llu term=%llu",
		       (unsigned long long)s->gap_index, (unsigned long long)s->gap_term);
		s->state = RAFTD_STORE_IDLE;
		r = raftd_store_install_op(s, NULL, 0);
		if (r < 0)
			raftd_store_fail(s, r, "cannot complete a snapshot install");
		return;
	}
	s->loaded = true;
	s->state = RAFTD_STORE_IDLE;
	ck_log(CK_LOG_INFO, "metadata log loaded last_index=%llu terms=%zu start_offset=%lld",
	       (unsigned long long)s->last, s->n_runs, (long long)s->log_start);
	s->h.on_loaded(s->arg, 0);
	raftd_store_trim(s);
}

/* ---- dropping the compacted prefix ---- */

static void raftd_store_trim_cb(void *arg, int err, const Chronik__Wal__WalReply *rep)
{
	raftd_store_t *s = arg;

	s->trim_busy = false;
	if (err == CK_E_SHUTDOWN)
		return;
	if (err == 0 && rep->error == 0 &&
	    rep->body_case == CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO) {
		s->log_start = rep->log_info->log_start_offset;
		ck_log(CK_LOG_INFO,
		       "metadata log prefix deleted start_offset=%lld compact_index=%llu",
		       (long long)s->log_start, (unsigned long long)s->compact);
		raftd_store_trim(s); /* a snapshot taken meanwhile */
		return;
	}
	/* Not fatal: the bytes only stay on disk until the next snapshot. */
	ck_log(CK_LOG_WARN,
	       "metadata log prefix not deleted, retrying at the next snapshot "
	       "compact_index=%llu err=\"%s\"",
	       (unsigned long long)s->compact,
	       err < 0 ? ck_strerror(err)
	               : (rep->error_message && rep->error_message[0] ? rep->error_message
	                                                              : ck_strerror(rep->error)));
}

/*
 * Asks walwriter to drop the log below the compaction index once a new
 * snapshot is durable (its record was saved before raftd_store_set_snapshot)
 * and the log is loaded. The entry at the compaction index stays: its term
 * is still asked for. Independent of the append in flight: appends and
 * truncates only touch offsets above the compaction index. Never while an
 * installed snapshot's gap is being written (the log may not reach the
 * compaction index yet).
 */
static void raftd_store_trim(raftd_store_t *s)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__DeleteRecords dr = CHRONIK__WAL__DELETE_RECORDS__INIT;
	int64_t before = s->compact > 0 ? (int64_t)s->compact - 1 : 0;
	int r;

	if (!s->trim_wanted || !s->loaded || s->failed || s->trim_busy || (s->op && s->op_gap) ||
	    before > (int64_t)s->last)
		return;
	s->trim_wanted = false;
	if (before <= s->log_start)
		return;
	dr.topic = RAFTD_METADATA_TOPIC;
	dr.partition = RAFTD_LOG_PARTITION;
	dr.before_offset = before;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_RECORDS;
	req.delete_records = &dr;
	r = raftd_wal_call(s->wal, &req, raftd_store_trim_cb, s);
	if (r < 0) {
		ck_log(CK_LOG_WARN,
		       "metadata log prefix not deleted, retrying at the next "
		       "snapshot compact_index=%llu err=\"%s\"",
		       (unsigned long long)s->compact, ck_strerror(r));
		return;
	}
	s->trim_busy = true;
}

/* ---- appending ---- */

static void raftd_store_done(raftd_store_t *s)
{
	ck_log(CK_LOG_DEBUG, "appended entries=%llu last_index=%llu us=%llu",
	       (unsigned long long)(s->op_hi - s->op_lo + 1), (unsigned long long)s->op_hi,
	       (unsigned long long)((ck_clock_mono_ns() - s->op_start_ns) / 1000));
	bool gap = s->op_gap;

	s->op = false;
	s->op_gap = false;
	s->last = s->op_hi;
	s->state = RAFTD_STORE_IDLE;
	if (!s->loaded) {
		s->loaded = true;
		ck_log(CK_LOG_INFO, "metadata log loaded last_index=%llu terms=%zu",
		       (unsigned long long)s->last, s->n_runs);
		s->h.on_loaded(s->arg, 0);
		raftd_store_trim(s);
		return;
	}
	s->h.on_appended(s->arg, 0);
	if (gap)
		raftd_store_trim(s); /* the installed snapshot is in the log now */
}

/* The term of index I of the pending append. */
static uint64_t raftd_store_op_term(raftd_store_t *s, uint64_t i)
{
	if (s->op_gap && i <= s->gap_index)
		return s->gap_term;
	return raftd_cache_at(s, i)->term;
}

/* Appends to s->out batches covering offsets BASE .. LAST with one record
 * each (at BASE): the gap an installed snapshot leaves in the log. */
static int raftd_store_build_gap(raftd_store_t *s, int64_t base, int64_t last, int64_t now)
{
	while (base <= last) {
		int64_t span = CK_MIN(last - base, (int64_t)INT32_MAX - 1);
		ck_batch_opts_t opts = CK_BATCH_OPTS_INIT;
		ck_batch_record_t rec = {.value = "", .value_len = 0, .timestamp_ms = now};
		size_t start = s->out.len, len = 0;
		int r;

		opts.base_offset = base;
		opts.partition_leader_epoch = (int32_t)s->gap_term;
		r = ck_batch_build(&s->out, &opts, &rec, 1, &len);
		if (r < 0)
			return r;
		ck_be32_put(s->out.data + start + CK_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)span);
		ck_batch_crc_update(s->out.data + start, len);
		base += span + 1;
	}
	return 0;
}

/* Builds batches for LO .. HI from the cache into s->out: one per run of
 * equal terms, cut at RAFTD_BATCH_BYTES_MAX. */
static int raftd_store_build(raftd_store_t *s, uint64_t lo, uint64_t hi)
{
	int64_t now = ck_clock_wall_ms();
	uint64_t i = lo;

	ck_buf_reset(&s->out);
	if (s->op_gap && i <= s->gap_index) {
		int r = raftd_store_build_gap(s, (int64_t)i - 1, (int64_t)s->gap_index - 1, now);

		if (r < 0)
			return r;
		i = s->gap_index + 1;
	}
	while (i <= hi) {
		ck_batch_opts_t opts = CK_BATCH_OPTS_INIT;
		ck_batch_builder_t b;
		size_t bytes = 0;
		int r, count = 0;

		opts.base_offset = (int64_t)i - 1;
		opts.partition_leader_epoch = (int32_t)raftd_cache_at(s, i)->term;
		r = ck_batch_builder_begin(&b, &s->out, &opts);
		for (; r == 0 && i <= hi; i++) {
			raftd_cached_t *c = raftd_cache_at(s, i);
			ck_batch_record_t rec = {
			    .value = c->data, .value_len = c->len, .timestamp_ms = now};

			if (count && (c->term != (uint64_t)opts.partition_leader_epoch ||
			              bytes + c->len > RAFTD_BATCH_BYTES_MAX ||
			              count == RAFTD_BATCH_RECORDS_MAX))
				break;
			r = ck_batch_builder_add(&b, &rec);
			bytes += c->len;
			count++;
		}
		if (r == 0)
			r = ck_batch_builder_finish(&b, NULL);
		else
			ck_batch_builder_abort(&b);
		if (r < 0)
			return r;
	}
	return 0;
}

static void raftd_store_append_cb(void *arg, int err, const Chronik__Wal__WalReply *rep)
{
	raftd_store_t *s = arg;

	if (raftd_store_reply_failed(s, err, rep))
		return;
	if (rep->error != 0)
		return raftd_store_fail(s, rep->error, "walwriter refused an append");
	if (rep->body_case != CHRONIK__WAL__WAL_REPLY__BODY_APPEND ||
	    rep->append->last_offset != (int64_t)s->op_hi - 1)
		return raftd_store_fail(s, CK_E_CORRUPT, "append landed elsewhere");
	raftd_store_done(s);
}

/* Writes entries LO .. op_hi. */
static void raftd_store_write(raftd_store_t *s, uint64_t lo)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__Append ap = CHRONIK__WAL__APPEND__INIT;
	int r = raftd_store_build(s, lo, s->op_hi);

	if (r < 0)
		return raftd_store_fail(s, r, "cannot build a batch");
	ap.topic = RAFTD_METADATA_TOPIC;
	ap.partition = RAFTD_LOG_PARTITION;
	ap.replica = true;
	ap.leader_epoch = (int32_t)raftd_store_op_term(s, s->op_hi);
	ap.batches.data = s->out.data;
	ap.batches.len = s->out.len;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_APPEND;
	req.append = &ap;
	raftd_store_call(s, &req, raftd_store_append_cb);
}

static void raftd_store_truncate_cb(void *arg, int err, const Chronik__Wal__WalReply *rep)
{
	raftd_store_t *s = arg;

	if (raftd_store_reply_failed(s, err, rep))
		return;
	if (rep->error != 0)
		return raftd_store_fail(s, rep->error, "cannot truncate the metadata log");
	s->op_trunc = false;
	raftd_store_write(s, s->op_lo);
}

static void raftd_store_truncate(raftd_store_t *s)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__Truncate t = CHRONIK__WAL__TRUNCATE__INIT;

	t.topic = RAFTD_METADATA_TOPIC;
	t.partition = RAFTD_LOG_PARTITION;
	t.offset = (int64_t)s->op_lo - 1;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_TRUNCATE;
	req.truncate = &t;
	raftd_store_call(s, &req, raftd_store_truncate_cb);
}

/* Decides, from the log's end END and durable end DURABLE (as indexes),
 * what the pending append still needs. */
static void raftd_store_resume(raftd_store_t *s, uint64_t end, uint64_t durable)
{
	if (s->op_trunc) {
		if (end >= s->op_lo)
			return raftd_store_truncate(s);
		s->op_trunc = false;
	}
	if (end + 1 < s->op_lo)
		return raftd_store_fail(s, CK_E_CORRUPT, "metadata log lost durable entries");
	if (end < s->op_hi)
		return raftd_store_write(s, end + 1);
	if (end > s->op_hi)
		return raftd_store_fail(s, CK_E_CORRUPT, "metadata log holds unknown entries");
	if (durable < s->op_hi)
		return raftd_store_retry(s);
	raftd_store_done(s);
}

static void raftd_store_info_cb(void *arg, int err, const Chronik__Wal__WalReply *rep)
{
	raftd_store_t *s = arg;
	const Chronik__Wal__LogInfo *info;

	if (raftd_store_reply_failed(s, err, rep))
		return;
	/* A new log lives in walwriter's memory until its first append
	 * (wal_store.h): a walwriter that restarted before any append was
	 * acknowledged has none, and nothing in it was durable. */
	if (rep->error == CK_E_NOT_FOUND && (!s->loaded || (s->last == 0 && s->log_start == 0)))
		return raftd_store_create(s);
	if (rep->error != 0 || rep->body_case != CHRONIK__WAL__WAL_REPLY__BODY_LOG_INFO)
		return raftd_store_fail(s, rep->error ? rep->error : CK_E_PROTO,
		                        "cannot read the metadata log's state");
	info = rep->log_info;
	if (!s->loaded && !s->op)
		return raftd_store_load(s, info);
	if (info->log_end_offset < 0 || info->durable_end_offset < 0)
		return raftd_store_fail(s, CK_E_PROTO, "negative log end");
	if (s->op)
		return raftd_store_resume(s, (uint64_t)info->log_end_offset,
		                          (uint64_t)info->durable_end_offset);
	s->state = RAFTD_STORE_IDLE;
	if ((uint64_t)info->log_end_offset != s->last)
		raftd_store_fail(s, CK_E_CORRUPT, "metadata log end moved under raftd");
}

/* Asks the log's state and carries on from there. */
static void raftd_store_sync(raftd_store_t *s)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__GetLogInfo gi = CHRONIK__WAL__GET_LOG_INFO__INIT;

	if (s->failed)
		return;
	gi.topic = RAFTD_METADATA_TOPIC;
	gi.partition = RAFTD_LOG_PARTITION;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_LOG_INFO;
	req.log_info = &gi;
	raftd_store_call(s, &req, raftd_store_info_cb);
}

void raftd_store_wal_connected(raftd_store_t *s)
{
	if (s->state != RAFTD_STORE_BUSY) {
		(void)evtimer_del(s->timer);
		raftd_store_sync(s);
	}
}

void raftd_store_wal_lost(raftd_store_t *s)
{
	/* Pending calls already completed with CK_E_CLOSED; the next connect
	 * resyncs. */
	if (s->state == RAFTD_STORE_BUSY)
		s->state = RAFTD_STORE_WAIT;
}

static int raftd_store_check(const raftd_store_t *s, const raft_entry_t *ents, size_t n)
{
	uint64_t prev_term = 0;

	if (n == 0 || ents[0].index <= s->compact || ents[0].index > s->last + 1)
		return CK_E_INVALID;
	if (ents[0].index > 1 && raftd_st_term((void *)s, ents[0].index - 1, &prev_term) < 0)
		return CK_E_INVALID;
	for (size_t i = 0; i < n; i++) {
		if (ents[i].index != ents[0].index + i || ents[i].term < prev_term ||
		    ents[i].term > INT32_MAX)
			return CK_E_INVALID;
		prev_term = ents[i].term;
	}
	return 0;
}

int raftd_store_append(raftd_store_t *s, const raft_entry_t *ents, size_t n)
{
	int r;

	if (!s->loaded || s->op || s->failed)
		return CK_E_AGAIN;
	r = raftd_store_check(s, ents, n);
	if (r < 0)
		return r;
	raftd_runs_truncate(s, ents[0].index);
	raftd_cache_drop_tail(s, ents[0].index);
	if (s->cache_n && s->cache_first + s->cache_n != ents[0].index)
		raftd_cache_drop_head(s, UINT64_MAX); /* not contiguous: start over */
	for (size_t i = 0; i < n; i++) {
		r = raftd_runs_push(s, ents[i].index, ents[i].term);
		if (r < 0)
			return r;
	}
	r = raftd_cache_push(s, ents, n);
	if (r < 0)
		return r;
	s->op_trunc = ents[0].index <= s->last;
	s->op_gap = false;
	s->op_lo = ents[0].index;
	s->op_hi = ents[n - 1].index;
	raftd_store_op_start(s);
	return 0;
}

/* Starts the pending operation set up in s->op*. */
static void raftd_store_op_start(raftd_store_t *s)
{
	s->op = true;
	s->op_start_ns = ck_clock_mono_ns();
	if (s->state != RAFTD_STORE_IDLE)
		return; /* a resync in flight or waiting picks the op up */
	if (s->op_trunc)
		raftd_store_truncate(s);
	else
		raftd_store_write(s, s->op_lo);
}

/* Sets up the log for the installed snapshot (gap_index, gap_term): cut
 * it after min(last, gap_index - 1), cover the rest up to gap_index with a
 * gap batch of that term, then append ENTS (N, from gap_index + 1). */
static int raftd_store_install_op(raftd_store_t *s, const raft_entry_t *ents, size_t n)
{
	uint64_t t = CK_MIN(s->last, s->gap_index - 1);
	int r;

	CK_ASSERT(s->gap_index >= 1 && !s->op);
	for (size_t i = 0; i < n; i++) {
		if (ents[i].index != s->gap_index + 1 + i || ents[i].term < s->gap_term ||
		    ents[i].term > INT32_MAX || (i > 0 && ents[i].term < ents[i - 1].term))
			return CK_E_INVALID;
	}
	raftd_runs_truncate(s, t + 1);
	raftd_cache_drop_head(s, UINT64_MAX);
	r = raftd_runs_push(s, t + 1, s->gap_term);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = raftd_runs_push(s, ents[i].index, ents[i].term);
	if (r == 0 && n)
		r = raftd_cache_push(s, ents, n);
	if (r < 0)
		return r;
	s->op_trunc = s->last > t;
	s->op_gap = true;
	s->op_lo = t + 1;
	s->op_hi = n ? ents[n - 1].index : s->gap_index;
	raftd_store_op_start(s);
	return 0;
}

int raftd_store_install(raftd_store_t *s, uint64_t index, uint64_t term, const raft_entry_t *ents,
                        size_t n)
{
	if (!s->loaded || s->op || s->failed)
		return CK_E_AGAIN;
	if (index == 0 || term == 0 || term > INT32_MAX)
		return CK_E_INVALID;
	s->gap_index = index;
	s->gap_term = term;
	s->compact = index;
	s->trim_wanted = true;
	s->snap.index = index;
	s->snap.term = term;
	ck_log(CK_LOG_INFO, "installing snapshot in the log index=%llu term=%llu last_index=%llu",
	       (unsigned long long)index, (unsigned long long)term, (unsigned long long)s->last);
	return raftd_store_install_op(s, ents, n);
}

void raftd_store_set_snapshot(raftd_store_t *s, uint64_t index, uint64_t term, uint64_t compact)
{
	CK_ASSERT(compact <= index);
	s->snap.index = index;
	s->snap.term = term;
	if (compact > s->compact) {
		s->compact = compact;
		s->trim_wanted = true;
	}
	s->snap_wanted = false;
	/* Not yet loaded: a snapshot that was installed (the log is compacted
	 * right up to it) must also be where the log ends up. */
	if (!s->loaded && index > 0 && compact == index) {
		s->gap_index = index;
		s->gap_term = term;
	}
	raftd_store_trim(s);
}

bool raftd_store_snapshot_wanted(const raftd_store_t *s)
{
	return s->snap_wanted;
}

uint64_t raftd_store_compact_index(const raftd_store_t *s)
{
	return s->compact;
}

int raftd_store_term(raftd_store_t *s, uint64_t index, uint64_t *ret_term)
{
	return raftd_st_term(s, index, ret_term);
}

void raftd_store_release(raftd_store_t *s, uint64_t index)
{
	raftd_cache_drop_head(s, CK_MIN(index, s->last));
}

int raftd_store_new(raftd_store_t **ret, struct event_base *base, const char *data_dir,
                    raftd_wal_t *wal, const raftd_store_hooks_t *h, void *arg)
{
	raftd_store_t *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	r = ck_segment_log_dir(s->log_dir, sizeof(s->log_dir), data_dir, RAFTD_METADATA_TOPIC,
	                       RAFTD_LOG_PARTITION);
	if (r < 0) {
		free(s);
		return r;
	}
	s->base = base;
	s->wal = wal;
	s->h = *h;
	s->arg = arg;
	s->timer = evtimer_new(base, raftd_store_timer_cb, s);
	if (!s->timer) {
		free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

void raftd_store_free(raftd_store_t *s)
{
	if (!s)
		return;
	raftd_cache_drop_head(s, UINT64_MAX);
	free(s->cache);
	free(s->runs);
	ck_buf_free(&s->out);
	event_free(s->timer);
	free(s);
}
