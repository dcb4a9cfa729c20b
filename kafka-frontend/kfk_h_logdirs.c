/*
 * kfk_h_logdirs.c: the DescribeLogDirs API, versions 0-4 (shell handler of
 * chronik-kafka-frontend), what kafka-log-dirs.sh and cluster UIs read.
 *
 * Owned by kafka-frontend. A node has one log directory, <data_dir>/log
 * (made absolute), holding a replica of every partition assigned to it:
 * walwriter's ListLogs gives each log's size on disk, and the answer lists
 * the logs of the topics the request names (all when it names none), by
 * topic and partition, with Kafka's offset lag of a current log (the high
 * watermark less the log end, at least 0; 0 where this node does not track
 * the partition's high watermark) and is_future_key false (there are no
 * future logs: replicas never move between directories). A log whose topic
 * is unknown here, or whose topic id is another's (a deleted topic's log
 * not yet gone), is left out. v4 adds the file system's total and usable
 * bytes. Walwriter unreachable: the directory is answered with
 * KAFKA_STORAGE_ERROR and no topics, as Kafka answers an offline directory.
 * Not for: moving replicas between directories (AlterReplicaLogDirs is not
 * served).
 */
#define CK_LOG_SUBSYSTEM "logdirs"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "ck_err.h"
#include "ck_log.h"
#include "kfk_errors.h"
#include "kfk_srv.h"

typedef kfk_describe_log_dirs_response_describe_log_dirs_result_t kfk_ld_result_t;
typedef kfk_describe_log_dirs_response_describe_log_dirs_topic_t kfk_ld_topic_t;
typedef kfk_describe_log_dirs_response_describe_log_dirs_partition_t kfk_ld_part_t;

static int kfk_ld_cmp(const void *a, const void *b)
{
	const Chronik__Wal__LogInfo *x = *(Chronik__Wal__LogInfo *const *)a;
	const Chronik__Wal__LogInfo *y = *(Chronik__Wal__LogInfo *const *)b;
	int c = strcmp(x->topic, y->topic);

	return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Whether log L belongs to a topic this node knows (same id when L has one). */
static bool kfk_ld_known(kfk_srv_t *s, const Chronik__Wal__LogInfo *l)
{
	kfk_topic_t *t = NULL;

	if (kfk_meta_topic(s, kfk_str(l->topic), &t) != 1 || !t)
		return false;
	if (l->partition < 0 || l->partition >= t->npart)
		return false;
	return l->topic_id.len != 16 || !memcmp(l->topic_id.data, t->id, 16);
}

/* The index in LOGS (N, sorted by kfk_ld_cmp) of TOPIC's PARTITION, or -1. */
static ssize_t kfk_ld_find(Chronik__Wal__LogInfo **logs, size_t n, kfk_str_t topic,
                           int32_t partition)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *t = logs[mid]->topic;
		size_t tl = strlen(t), ml = topic.len > 0 ? (size_t)topic.len : 0;
		int c = memcmp(t, topic.ptr ? topic.ptr : "", tl < ml ? tl : ml);

		if (!c)
			c = (tl > ml) - (tl < ml);
		if (!c)
			c = (logs[mid]->partition > partition) - (logs[mid]->partition < partition);
		if (!c)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Fills R's topics from the logs of LIST the request wants (all of them
 * when it names no topics; else each named partition is looked up, so a
 * long list costs a binary search per entry). Returns 0 or -ENOMEM. */
static int kfk_ld_topics(kfk_req_t *req, const Chronik__Wal__LogList *list, kfk_ld_result_t *r)
{
	const kfk_describe_log_dirs_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	Chronik__Wal__LogInfo **logs;
	bool *want;
	size_t n = 0, nt = 0, k = 0;

	logs = kfk_req_alloc(req, list->n_logs ? list->n_logs : 1, sizeof(*logs));
	want = kfk_req_alloc(req, list->n_logs ? list->n_logs : 1, sizeof(*want));
	if (!logs || !want)
		return -ENOMEM;
	kfk_meta_refresh(s);
	for (size_t i = 0; i < list->n_logs; i++) {
		Chronik__Wal__LogInfo *l = list->logs[i];

		if (l && l->topic && kfk_ld_known(s, l))
			logs[n++] = l;
	}
	qsort(logs, n, sizeof(*logs), kfk_ld_cmp);
	for (size_t i = 0; i < n; i++)
		want[i] = rq->topics.count < 0;
	for (int32_t i = 0; i < rq->topics.count; i++) {
		const kfk_describe_log_dirs_request_describable_log_dir_topic_t *t =
		    &rq->topics.items[i];

		for (int32_t j = 0; j < t->partitions.count; j++) {
			ssize_t at = kfk_ld_find(logs, n, t->topic, t->partitions.items[j]);

			if (at >= 0)
				want[at] = true;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (want[i])
			logs[k++] = logs[i];
	n = k;
	for (size_t i = 0; i < n; i++)
		nt += !i || strcmp(logs[i - 1]->topic, logs[i]->topic) != 0;
	r->topics.items = kfk_req_alloc(req, nt ? nt : 1, sizeof(*r->topics.items));
	if (!r->topics.items)
		return -ENOMEM;
	r->topics.count = 0;
	for (size_t i = 0, end; i < n; i = end) {
		kfk_ld_topic_t *t = &r->topics.items[r->topics.count++];

		for (end = i + 1; end < n && !strcmp(logs[end]->topic, logs[i]->topic); end++)
			;
		kfk_describe_log_dirs_response_describe_log_dirs_topic_init(t);
		t->name = kfk_str(kfk_req_strdup(req, kfk_str(logs[i]->topic)));
		t->partitions.items = kfk_req_alloc(req, end - i, sizeof(*t->partitions.items));
		if (!t->name.ptr || !t->partitions.items)
			return -ENOMEM;
		t->partitions.count = (int32_t)(end - i);
		for (size_t j = i; j < end; j++) {
			kfk_ld_part_t *p = &t->partitions.items[j - i];
			kfk_part_t *lp = kfk_part_get(s, logs[j]->topic, logs[j]->partition, false);

			kfk_describe_log_dirs_response_describe_log_dirs_partition_init(p);
			p->partition_index = logs[j]->partition;
			p->partition_size = logs[j]->size_bytes;
			p->offset_lag = lp && lp->known && lp->hw > logs[j]->log_end_offset
			                    ? lp->hw - logs[j]->log_end_offset
			                    : 0;
			p->is_future_key = false;
		}
	}
	return 0;
}

static void kfk_ld_listed(void *arg, int err, const void *reply)
{
	kfk_req_t *req = arg;
	const Chronik__Wal__WalReply *rep = reply;
	kfk_srv_t *s = req->srv;
	kfk_describe_log_dirs_response_t resp;
	kfk_ld_result_t *r;
	char abs[PATH_MAX], dir[PATH_MAX + 8];
	struct statvfs vfs;

	if (!err && rep->error)
		err = rep->error;
	if (!err && (rep->body_case != CHRONIK__WAL__WAL_REPLY__BODY_LOG_LIST || !rep->log_list))
		err = CK_E_PROTO;
	kfk_describe_log_dirs_response_init(&resp);
	r = kfk_req_alloc(req, 1, sizeof(*r));
	if (!r) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	kfk_describe_log_dirs_response_describe_log_dirs_result_init(r);
	(void)snprintf(dir, sizeof(dir), "%s/log",
	               realpath(s->cfg->data_dir, abs) ? abs : s->cfg->data_dir);
	r->log_dir = kfk_str(kfk_req_strdup(req, kfk_str(dir)));
	if (statvfs(dir, &vfs) == 0) {
		r->total_bytes = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
		r->usable_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
	}
	if (err) {
		ck_log(CK_LOG_WARN, "describe log dirs: walwriter did not list the logs: %s",
		       ck_strerror(err));
		r->error_code = KFK_ERR_KAFKA_STORAGE_ERROR;
	} else if (kfk_ld_topics(req, rep->log_list, r) < 0) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	resp.results.count = 1;
	resp.results.items = r;
	kfk_req_respond(req, &resp);
}

void kfk_h_describe_log_dirs(kfk_req_t *req)
{
	Chronik__Wal__WalRequest wr = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__ListLogs ll = CHRONIK__WAL__LIST_LOGS__INIT;
	int r;

	wr.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_LIST_LOGS;
	wr.list_logs = &ll;
	/* The request waits for the answer even when its client goes (no
	 * on_orphan): walwriter answers every call, or the drop fails it. */
	r = kfk_peer_call(req->srv, KFK_PEER_WAL, &wr.base, &wr.correlation_id, kfk_ld_listed, req,
	                  NULL);
	if (r < 0)
		kfk_ld_listed(req, r, NULL);
}
