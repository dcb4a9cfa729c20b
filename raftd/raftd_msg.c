/*
 * raftd_msg.c: raft_msg_t <-> raftnet RaftMessage and Envelope building
 * (see raftd_msg.h).
 * Owned by raftd; pure (no I/O). Every field of raft_msg_t has its field in
 * RaftMessage; the round trip is exact (tests/unit/raftd/test_raftd_msg.c).
 * Not for: sockets (raftd_net.c).
 */
#include "raftd_msg.h"

#include <errno.h>
#include <stdlib.h>

#include "ck_err.h"

/* Packs M (any Envelope) at the end of OUT. */
static int raftd_env_pack_any(const Chronik__Raftnet__Envelope *m, ck_buf_t *out)
{
	size_t len = chronik__raftnet__envelope__get_packed_size(m);
	uint8_t *p;

	if (len == 0)
		return 0;
	p = ck_buf_extend(out, len);
	if (!p)
		return -ENOMEM;
	(void)chronik__raftnet__envelope__pack(m, p);
	return 0;
}

int raftd_env_header_pack(const raftd_env_header_t *h, ck_buf_t *out)
{
	Chronik__Raftnet__Envelope e = CHRONIK__RAFTNET__ENVELOPE__INIT;

	e.cluster_id = (char *)(h->cluster_id ? h->cluster_id : "");
	e.from = h->from;
	e.incarnation = h->incarnation;
	e.to = h->to;
	e.commit = h->commit;
	e.last_index = h->last_index;
	return raftd_env_pack_any(&e, out);
}

int raftd_env_item_pack(const Chronik__Raftnet__Envelope *item, ck_buf_t *out)
{
	return raftd_env_pack_any(item, out);
}

int raftd_msg_pack(const raft_msg_t *m, ck_buf_t *out)
{
	Chronik__Raftnet__Envelope e = CHRONIK__RAFTNET__ENVELOPE__INIT;
	Chronik__Raftnet__RaftMessage pm = CHRONIK__RAFTNET__RAFT_MESSAGE__INIT;
	Chronik__Raftnet__RaftMessage *pmp = &pm;
	Chronik__Raftnet__Entry *ents = NULL, **entp = NULL;
	int r;

	if (m->n_entries > RAFTD_MSG_ENTRIES_MAX)
		return CK_E_INVALID;
	pm.type = (uint32_t)m->type;
	pm.from = m->from;
	pm.to = m->to;
	pm.term = m->term;
	pm.index = m->index;
	pm.log_term = m->log_term;
	pm.commit = m->commit;
	pm.reject_hint = m->reject_hint;
	pm.reject = m->reject;
	pm.need_snapshot = m->need_snapshot;
	pm.transfer = m->transfer;
	pm.snapshot_index = m->snapshot.index;
	pm.snapshot_term = m->snapshot.term;
	if (m->n_entries) {
		ents = calloc(m->n_entries, sizeof(*ents));
		entp = calloc(m->n_entries, sizeof(*entp));
		if (!ents || !entp) {
			r = -ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < m->n_entries; i++) {
			chronik__raftnet__entry__init(&ents[i]);
			ents[i].index = m->entries[i].index;
			ents[i].term = m->entries[i].term;
			ents[i].data.data = (uint8_t *)m->entries[i].data;
			ents[i].data.len = m->entries[i].len;
			entp[i] = &ents[i];
		}
		pm.n_entries = m->n_entries;
		pm.entries = entp;
	}
	e.n_msgs = 1;
	e.msgs = &pmp;
	r = raftd_env_pack_any(&e, out);
out:
	free(ents);
	free(entp);
	return r;
}

int raftd_msg_unpack(const Chronik__Raftnet__RaftMessage *pm, raft_msg_t *ret, raft_entry_t *ents)
{
	raft_msg_t m = {0};

	if (pm->type < 1 || pm->type > RAFT_MSG_TYPE_MAX || pm->n_entries > RAFTD_MSG_ENTRIES_MAX)
		return CK_E_INVALID;
	for (size_t i = 0; i < pm->n_entries; i++) {
		const Chronik__Raftnet__Entry *e = pm->entries[i];

		if (e->data.len > UINT32_MAX)
			return CK_E_INVALID;
		ents[i].index = e->index;
		ents[i].term = e->term;
		ents[i].data = e->data.len ? e->data.data : NULL;
		ents[i].len = (uint32_t)e->data.len;
	}
	m.type = (raft_msg_type_t)pm->type;
	m.from = pm->from;
	m.to = pm->to;
	m.term = pm->term;
	m.index = pm->index;
	m.log_term = pm->log_term;
	m.commit = pm->commit;
	m.reject_hint = pm->reject_hint;
	m.reject = pm->reject;
	m.need_snapshot = pm->need_snapshot;
	m.transfer = pm->transfer;
	m.snapshot.index = pm->snapshot_index;
	m.snapshot.term = pm->snapshot_term;
	m.entries = pm->n_entries ? ents : NULL;
	m.n_entries = (uint32_t)pm->n_entries;
	*ret = m;
	return 0;
}
