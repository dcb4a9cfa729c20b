/*
 * repl_wal.c: the replicator's walwriter client: every log's start, end and
 * durable end into the core.
 *
 * Owned by replicator. After every (re)connect it subscribes to the events
 * of all logs (empty topic) and lists the logs: walwriter answers both in
 * order, so the list, applied as a sweep, removes the logs deleted while
 * the connection was down, and the first list marks the replicator synced
 * (subscribers are answered from then on). A log new to the core starts
 * from its HW checkpoint, and one without metadata has its topic re-read
 * at the next metadata read. The metadata log (__chronik_metadata) is
 * raftd's and is skipped. While walwriter is away the last state stays
 * published.
 * Not for: the HW rule (repl_core.h), checkpoint I/O (repl_meta.c).
 */
#include <inttypes.h>
#include <string.h>

#include "ck_err.h"
#include "ck_log.h"
#include "repl_shell.h"
#include "walwriter.pb-c.h"

static void repl_wal_connect(ck_ipc_client_t *cl, void *arg)
{
	repl_shell_t *s = arg;
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__Subscribe sub = CHRONIK__WAL__SUBSCRIBE__INIT;
	Chronik__Wal__ListLogs list = CHRONIK__WAL__LIST_LOGS__INIT;
	int r;

	req.correlation_id = s->wal_sub_id = ck_ipc_client_next_id(cl);
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_SUBSCRIBE;
	req.subscribe = &sub;
	r = ck_ipc_client_send_msg(cl, &req.base);
	if (r == 0) {
		req.correlation_id = s->wal_list_id = ck_ipc_client_next_id(cl);
		req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_LIST_LOGS;
		req.list_logs = &list;
		r = ck_ipc_client_send_msg(cl, &req.base);
	}
	/* A failed send means the connection is going: the next connect
	 * starts over. */
	if (r < 0)
		ck_log(CK_LOG_WARN, "cannot subscribe to walwriter: %s", ck_strerror(r));
}

/* One log's state into the core. */
static void repl_wal_info(repl_shell_t *s, const Chronik__Wal__LogInfo *li)
{
	const repl_part_t *p;
	repl_log_info_t info;
	repl_ckpt_t ck;
	const repl_ckpt_t *ckp = NULL;
	bool fresh;
	int r;

	if (!li || !li->topic || !strcmp(li->topic, REPL_META_TOPIC))
		return;
	p = repl_core_find(s->core, li->topic, li->partition);
	fresh = !p || !p->have_log;
	if (fresh && repl_ckpt_load(s, li->topic, li->partition, &ck) == 1)
		ckp = &ck;
	info = (repl_log_info_t){li->topic,
	                         li->partition,
	                         li->log_start_offset,
	                         li->log_end_offset,
	                         li->durable_end_offset,
	                         li->topic_id.len == REPL_TOPIC_ID_LEN ? li->topic_id.data : NULL};
	r = repl_core_log_update(s->core, &info, ckp);
	if (r == 0)
		repl_repl_touch(s, li->topic, li->partition);
	/* The core kept no metadata for it (not a replica when its topic was
	 * last read, or not committed yet): its topic's records are due again,
	 * as a full read would give them (repl_meta.c). */
	if (r == 0 && fresh && s->meta_read) {
		p = repl_core_find(s->core, li->topic, li->partition);
		if (p && !p->have_meta)
			repl_meta_topic_want(s, li->topic);
	}
	if (r < 0)
		ck_log(CK_LOG_WARN,
		       "log ignored log=%s-%d start=%" PRId64 " end=%" PRId64 " durable=%" PRId64
		       ": %s",
		       li->topic, (int)li->partition, li->log_start_offset, li->log_end_offset,
		       li->durable_end_offset, ck_strerror(r));
	repl_shell_schedule(s);
}

static void repl_wal_event(repl_shell_t *s, const Chronik__Wal__LogEvent *ev)
{
	const Chronik__Wal__LogInfo *li = ev->info;

	if (!li || !li->topic || !strcmp(li->topic, REPL_META_TOPIC))
		return;
	if (!ev->deleted) {
		repl_wal_info(s, li);
		return;
	}
	if (repl_core_log_delete(s->core, li->topic, li->partition) == 0) {
		ck_log(CK_LOG_INFO, "partition deleted log=%s-%d", li->topic, (int)li->partition);
		repl_shell_schedule(s);
	}
}

static void repl_wal_list(repl_shell_t *s, const Chronik__Wal__WalReply *rep)
{
	const Chronik__Wal__LogList *ll = rep->log_list;

	if (rep->error != 0 || rep->body_case != CHRONIK__WAL__WAL_REPLY__BODY_LOG_LIST) {
		ck_log(CK_LOG_WARN, "walwriter cannot list logs: %s",
		       rep->error ? ck_strerror(rep->error) : "no list in reply");
		return;
	}
	repl_core_log_sweep_begin(s->core);
	for (size_t i = 0; i < ll->n_logs; i++)
		repl_wal_info(s, ll->logs[i]);
	repl_core_log_sweep_end(s->core);
	repl_shell_schedule(s);
	if (s->wal_synced)
		return;
	s->wal_synced = true;
	ck_log(CK_LOG_INFO, "walwriter logs listed logs=%zu partitions=%zu", ll->n_logs,
	       repl_core_count(s->core, NULL));
	repl_serve_synced(s);
	repl_shell_status(s);
}

static void repl_wal_frame(ck_ipc_client_t *cl, const uint8_t *data, size_t len, void *arg)
{
	repl_shell_t *s = arg;
	Chronik__Wal__WalReply *rep = chronik__wal__wal_reply__unpack(NULL, len, data);

	(void)cl;
	if (!rep) {
		ck_log(CK_LOG_WARN, "walwriter frame does not decode bytes=%zu", len);
		return;
	}
	if (repl_repl_wal_reply(s, rep))
		; /* replication's append or truncate */
	else if (rep->correlation_id == 0 && rep->body_case == CHRONIK__WAL__WAL_REPLY__BODY_EVENT)
		repl_wal_event(s, rep->event);
	else if (rep->correlation_id != 0 && rep->correlation_id == s->wal_list_id)
		repl_wal_list(s, rep);
	else if (rep->correlation_id != 0 && rep->correlation_id == s->wal_sub_id &&
	         rep->error != 0)
		ck_log(CK_LOG_ERROR, "walwriter refused the subscription: %s",
		       ck_strerror(rep->error));
	chronik__wal__wal_reply__free_unpacked(rep, NULL);
}

static void repl_wal_disconnect(ck_ipc_client_t *cl, int err, void *arg)
{
	repl_shell_t *s = arg;

	(void)cl;
	(void)err;
	s->wal_sub_id = s->wal_list_id = 0;
	repl_repl_wal_lost(s);
}

const ck_ipc_client_handlers_t repl_wal_handlers = {
    .on_connect = repl_wal_connect,
    .on_frame = repl_wal_frame,
    .on_disconnect = repl_wal_disconnect,
};
