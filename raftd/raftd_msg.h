/*
 * raftd_msg.h: the wire form of chronik-raftd's node-to-node messages
 * (common/proto/raftnet.proto): raft_msg_t <-> RaftMessage, and Envelopes
 * built item by item.
 *
 * An Envelope frame is its header fields (cluster, sender, incarnation,
 * receiver, commit, last index) packed as an Envelope, followed by any
 * number of items, each packed as an Envelope holding just that item:
 * protobuf merges concatenated encodings of one message (repeated fields
 * append), so the frame decodes as one Envelope with every item, in order.
 * That lets raftd pack each Raft message into the receiver's buffer the
 * moment the core hands it out (its entries point into the core's Ready,
 * valid only until raft_advance()) and write all of them with one frame.
 *
 * Owned by raftd. Pure: no I/O, no clock. Not for: connections
 * (raftd_net.c), what the items mean (raftd_node*.c).
 */
#ifndef RAFTD_MSG_H
#define RAFTD_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"
#include "raft_core.h"
#include "raftnet.pb-c.h"

/* Entries one RaftMessage may carry, at most (more: CK_E_INVALID). */
#define RAFTD_MSG_ENTRIES_MAX 65536

typedef struct {
	const char *cluster_id;
	uint64_t from;
	uint64_t incarnation;
	uint64_t to;
	uint64_t commit;
	uint64_t last_index;
} raftd_env_header_t;

/* Appends the packed header fields of H to OUT. Returns 0 or -ENOMEM. */
int raftd_env_header_pack(const raftd_env_header_t *h, ck_buf_t *out);

/* Appends ITEM (an Envelope holding only items, no header fields) packed
 * to OUT. Returns 0 or -ENOMEM. */
int raftd_env_item_pack(const Chronik__Raftnet__Envelope *item, ck_buf_t *out);

/* Appends the Raft message M as one item to OUT (its entries' data is
 * copied into OUT). Returns 0, -ENOMEM, or CK_E_INVALID (more entries than
 * RAFTD_MSG_ENTRIES_MAX). */
int raftd_msg_pack(const raft_msg_t *m, ck_buf_t *out);

/*
 * Converts the received PM into *RET, its entries into ENTS (room for
 * pm->n_entries; they borrow PM's data, so PM must outlive *RET).
 * Returns 0, or CK_E_INVALID: an unknown type, too many entries, an entry
 * over 4 GiB. Everything else (terms, indexes, contiguity) is the core's
 * to check in raft_step().
 */
int raftd_msg_unpack(const Chronik__Raftnet__RaftMessage *pm, raft_msg_t *ret, raft_entry_t *ents);

#endif
