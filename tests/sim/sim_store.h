/*
 * sim_store.h: an in-memory stand-in for raftd's durable state, used by the
 * Raft core tests (tests/sim/): the log (snapshot + entries, as walwriter
 * would hold __chronik_metadata-0), the hard state, and a state machine
 * (as LMDB `meta` would hold it, with its applied index). It implements
 * raft_storage_t. Everything in it counts as durable: what a crash loses is
 * what never reached it (the core's window, unsent messages).
 * Every entry carries a chained hash of the log up to it ("cum"), and the
 * state machine the chained hash of what it applied, so two logs or states
 * compare in O(1): equal cum at an index means an identical prefix.
 * Not for: production code.
 */
#ifndef SIM_STORE_H
#define SIM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft_core.h"

typedef struct {
	uint64_t index;
	uint64_t term;
	uint64_t cum;
	uint8_t *data;
	uint32_t len;
} sim_ent_t;

typedef struct {
	uint64_t index;
	uint64_t term;
	uint64_t cum; /* the state at index: chained hash of entries 1..index */
} sim_snap_t;

typedef struct {
	raft_hard_state_t hs;
	bool has_hs;
	sim_snap_t snap; /* newest snapshot */
	uint64_t base;   /* entries start at base + 1; base <= snap.index */
	uint64_t base_term;
	uint64_t base_cum;
	sim_ent_t *ents;
	size_t n;
	size_t cap;
	uint64_t applied; /* state machine */
	uint64_t sm_cum;
	/* test knobs */
	uint32_t snapshot_again; /* snapshot() answers CK_E_AGAIN this many times */
	bool no_auto_snapshot;   /* snapshot() does not make a fresh one */
	uint64_t term_calls;
} sim_store_t;

void sim_store_init(sim_store_t *s);
void sim_store_free(sim_store_t *s);
raft_storage_t sim_store_storage(sim_store_t *s);

uint64_t sim_store_last(const sim_store_t *s);
/* The entry at INDEX, or NULL when compacted or past the end. */
const sim_ent_t *sim_store_get(const sim_store_t *s, uint64_t index);
/* The chained hash at INDEX; false when unknown (compacted / past end). */
bool sim_store_cum(const sim_store_t *s, uint64_t index, uint64_t *ret_cum);
uint64_t sim_cum_next(uint64_t prev, uint64_t index, uint64_t term, const uint8_t *data,
                      uint32_t len);

/* The shell's durable actions for one Ready. */
void sim_store_install(sim_store_t *s, const sim_snap_t *snap);
/* Drops entries >= ents[0].index, then appends the first N (a prefix when a
 * crash interrupts the write). Returns false when not contiguous. */
bool sim_store_append(sim_store_t *s, const raft_entry_t *ents, size_t n);
void sim_store_set_hs(sim_store_t *s, const raft_hard_state_t *hs);
/* Applies one committed entry; false when out of order or unknown. */
bool sim_store_apply(sim_store_t *s, const raft_entry_t *e);
/* Takes a snapshot at the applied index and drops entries up to
 * applied - KEEP. */
void sim_store_compact(sim_store_t *s, uint64_t keep);
/* Appends entries directly (tests building a log): terms given, data =
 * the index as text. */
void sim_store_fill(sim_store_t *s, const uint64_t *terms, size_t n);

#endif
