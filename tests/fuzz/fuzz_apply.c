/*
 * fuzz_apply.c: libFuzzer target for raftd's metadata state machine
 * (raftd/raftd_apply.h): a sequence of committed entries applied to LMDB
 * `meta`. Built only with -Dfuzz=true and clang; run with
 * tests/fuzz/run.sh BUILD SECONDS fuzz_apply.
 *
 * Every node applies every committed entry, and applies it again after a
 * restart: an entry that crashes the apply crashes every raftd of the
 * cluster, for good. Entries come from kafka-frontends (which check what
 * they propose) and from peers forwarding them, so apply checks again.
 * The input is a program: each op takes a byte and its operands from the
 * bytes after it (an exhausted input reads zeros), and makes one entry:
 * raw bytes, or a command built with protobuf-c from a few topic, group
 * and config names and small numbers, so that entries meet each other's
 * state (create, grow, alter, update, delete the same topics). All of them
 * are applied in one write transaction on one environment under $TMPDIR,
 * which is aborted at the end, so each input starts from the empty state.
 *
 * Besides "never crash" (ASan/UBSan, the code's own assertions), abort()
 * when: apply fails other than with LMDB out of room, a command's result
 * is not one raftd_apply.h lists, the same entries applied again give
 * other results or effects (apply must be deterministic), or the state
 * left breaks what readers rely on (every topic has exactly its partitions
 * 0..n-1, each with replicas, its ISR within them, its leader in the ISR
 * or -1).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_err.h"
#include "fuzz_input.h"
#include "ck_meta.h"
#include "metadata.pb-c.h"
#include "raftd_apply.h"

#define ENTRIES_MAX 48
#define ITEMS_MAX   6

static int32_t i32(rd_t *r)
{
	return (int32_t)(uint32_t)un(r, 4);
}

/* Mostly small numbers, now and then any. */
static int32_t small(rd_t *r)
{
	uint8_t b = u8(r);

	return b == 0xff ? i32(r) : (int32_t)(b % 8) - 1;
}

static const char *const names[] = {
    "a", "b", "a.b", "a_b", "__chronik_metadata", "", "x-1", "__consumer_offsets"};
static const char *const keys[] = {
    "retention.ms", "segment.bytes",   "max.message.bytes",    "cleanup.policy",
    "segment.ms",   "retention.bytes", "index.interval.bytes", ""};
static const char *const values[] = {"-1",     "0", "1000", "abc", "99999999999999999999",
                                     "delete", "",  "-5"};

typedef struct {
	char strs[ITEMS_MAX * 4][24];
	int nstr;
} pool_t;

/* A name from the list, or a short string of input bytes (any bytes but
 * NUL: protobuf strings stop nowhere, C strings at NUL). */
static char *name(rd_t *r, pool_t *pool)
{
	uint8_t b = u8(r);
	char *s;
	size_t n;

	if (b < 0xe0 || pool->nstr >= (int)CK_ARRAY_LEN(pool->strs))
		return (char *)names[b % CK_ARRAY_LEN(names)];
	s = pool->strs[pool->nstr++];
	n = b % 16;
	for (size_t i = 0; i < n; i++)
		s[i] = (char)(u8(r) | 1);
	s[n] = 0;
	return s;
}

typedef struct {
	Chronik__Meta__MetadataCommand cmd;
	union {
		Chronik__Meta__CreateTopic ct;
		Chronik__Meta__DeleteTopic dt;
		Chronik__Meta__CreatePartitions cp;
		Chronik__Meta__AlterTopicConfigs ac;
		Chronik__Meta__RegisterBroker rb;
		Chronik__Meta__FenceBroker fb;
		Chronik__Meta__UpdatePartition up;
		Chronik__Meta__AllocateProducerIds ap;
		Chronik__Meta__Noop no;
		Chronik__Meta__CommitOffsets co;
		Chronik__Meta__DeleteGroup dg;
		Chronik__Meta__DeleteOffsets dof;
		Chronik__Meta__StoreGroup sg;
	} u;
	Chronik__Meta__GroupStateRecord gs;
	Chronik__Meta__GroupMemberRecord gm[ITEMS_MAX], *gmp[ITEMS_MAX];
	Chronik__Meta__BrokerRecord br;
	Chronik__Meta__PartitionAssignment as[ITEMS_MAX], *asp[ITEMS_MAX];
	int32_t ids[ITEMS_MAX][ITEMS_MAX];
	Chronik__Meta__ConfigEntry ce[ITEMS_MAX], *cep[ITEMS_MAX];
	char *dels[ITEMS_MAX];
	Chronik__Meta__GroupOffset go[ITEMS_MAX], *gop[ITEMS_MAX];
	Chronik__Meta__GroupPartition gp[ITEMS_MAX], *gpp[ITEMS_MAX];
	uint8_t id[RAFTD_TOPIC_ID_LEN];
	pool_t pool;
} build_t;

static size_t assignments(rd_t *r, build_t *b, int32_t first)
{
	size_t n = u8(r) % (ITEMS_MAX + 1);

	for (size_t i = 0; i < n; i++) {
		uint8_t f = u8(r);

		chronik__meta__partition_assignment__init(&b->as[i]);
		b->as[i].partition =
		    (f & 0x80) ? small(r) : (int32_t)((uint32_t)first + (uint32_t)i);
		b->as[i].n_replicas = f % (ITEMS_MAX + 1);
		b->as[i].replicas = b->ids[i];
		for (size_t k = 0; k < b->as[i].n_replicas; k++)
			b->ids[i][k] = (f & 0x40) ? small(r) : 1 + (int32_t)((i + k) % 3);
		b->asp[i] = &b->as[i];
	}
	return n;
}

static size_t configs(rd_t *r, build_t *b)
{
	size_t n = u8(r) % 4;

	for (size_t i = 0; i < n; i++) {
		chronik__meta__config_entry__init(&b->ce[i]);
		b->ce[i].name = (char *)keys[u8(r) % CK_ARRAY_LEN(keys)];
		b->ce[i].value = (char *)values[u8(r) % CK_ARRAY_LEN(values)];
		b->cep[i] = &b->ce[i];
	}
	return n;
}

/* Builds one command from the input into B. */
static void build(rd_t *r, build_t *b, uint8_t kind)
{
	Chronik__Meta__MetadataCommand *c = &b->cmd;

	chronik__meta__metadata_command__init(c);
	switch (kind % 13) {
	case 0:
		chronik__meta__create_topic__init(&b->u.ct);
		b->u.ct.name = name(r, &b->pool);
		for (size_t i = 0; i < sizeof(b->id); i++)
			b->id[i] = (uint8_t)(u8(r) | 1);
		b->u.ct.topic_id.data = b->id;
		b->u.ct.topic_id.len = (kind & 0x80) ? u8(r) % 20 : sizeof(b->id);
		b->u.ct.assignments = b->asp;
		b->u.ct.n_assignments = assignments(r, b, 0);
		b->u.ct.configs = b->cep;
		b->u.ct.n_configs = configs(r, b);
		b->u.ct.refuse_collision = kind & 0x40;
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC;
		c->create_topic = &b->u.ct;
		break;
	case 1:
		chronik__meta__delete_topic__init(&b->u.dt);
		b->u.dt.name = name(r, &b->pool);
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC;
		c->delete_topic = &b->u.dt;
		break;
	case 2:
		chronik__meta__create_partitions__init(&b->u.cp);
		b->u.cp.name = name(r, &b->pool);
		b->u.cp.assignments = b->asp;
		b->u.cp.n_assignments = assignments(r, b, small(r));
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_CREATE_PARTITIONS;
		c->create_partitions = &b->u.cp;
		break;
	case 3:
		chronik__meta__alter_topic_configs__init(&b->u.ac);
		b->u.ac.name = name(r, &b->pool);
		b->u.ac.set = b->cep;
		b->u.ac.n_set = configs(r, b);
		b->u.ac.n_delete_ = u8(r) % 3;
		for (size_t i = 0; i < b->u.ac.n_delete_; i++)
			b->dels[i] = (char *)keys[u8(r) % CK_ARRAY_LEN(keys)];
		b->u.ac.delete_ = b->dels;
		b->u.ac.replace_all = kind & 0x80;
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS;
		c->alter_topic_configs = &b->u.ac;
		break;
	case 4:
		chronik__meta__register_broker__init(&b->u.rb);
		chronik__meta__broker_record__init(&b->br);
		b->br.id = small(r);
		b->br.kafka_host = name(r, &b->pool);
		b->br.kafka_port = (kind & 0x80) ? i32(r) : 9092;
		b->br.replication = name(r, &b->pool);
		b->br.raft = name(r, &b->pool);
		b->br.incarnation = u8(r);
		b->br.fenced = kind & 0x40;
		b->u.rb.broker = (kind & 0x20) ? NULL : &b->br;
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER;
		c->register_broker = &b->u.rb;
		break;
	case 5:
		chronik__meta__fence_broker__init(&b->u.fb);
		b->u.fb.id = small(r);
		b->u.fb.fenced = kind & 0x80;
		b->u.fb.incarnation = u8(r);
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_FENCE_BROKER;
		c->fence_broker = &b->u.fb;
		break;
	case 6:
		chronik__meta__update_partition__init(&b->u.up);
		b->u.up.topic = name(r, &b->pool);
		b->u.up.partition = small(r);
		b->u.up.leader = small(r);
		b->u.up.n_isr = u8(r) % (ITEMS_MAX + 1);
		for (size_t k = 0; k < b->u.up.n_isr; k++)
			b->ids[0][k] = small(r);
		b->u.up.isr = b->ids[0];
		b->u.up.leader_epoch = small(r);
		b->u.up.partition_epoch = small(r);
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION;
		c->update_partition = &b->u.up;
		break;
	case 7:
		chronik__meta__allocate_producer_ids__init(&b->u.ap);
		b->u.ap.broker_id = small(r);
		b->u.ap.block_size =
		    (kind & 0x80) ? (int64_t)((uint64_t)(int64_t)i32(r) << (u8(r) % 40)) : 1000;
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS;
		c->allocate_producer_ids = &b->u.ap;
		break;
	case 8:
		chronik__meta__commit_offsets__init(&b->u.co);
		b->u.co.group = name(r, &b->pool);
		b->u.co.n_offsets = u8(r) % (ITEMS_MAX + 1);
		for (size_t i = 0; i < b->u.co.n_offsets; i++) {
			chronik__meta__group_offset__init(&b->go[i]);
			b->go[i].topic = name(r, &b->pool);
			b->go[i].partition = small(r);
			b->go[i].offset = (int64_t)i32(r);
			b->go[i].leader_epoch = small(r);
			char *meta = name(r, &b->pool);

			b->go[i].metadata = (ProtobufCBinaryData){strlen(meta), (uint8_t *)meta};
			b->gop[i] = &b->go[i];
		}
		b->u.co.offsets = b->gop;
		b->u.co.commit_ms = i32(r);
		b->u.co.view_index = u8(r) % 24; /* around the fuzz's indexes */
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS;
		c->commit_offsets = &b->u.co;
		break;
	case 9:
		chronik__meta__delete_group__init(&b->u.dg);
		b->u.dg.group = name(r, &b->pool);
		b->u.dg.view_index = u8(r) % 24;
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP;
		c->delete_group = &b->u.dg;
		break;
	case 10:
		chronik__meta__delete_offsets__init(&b->u.dof);
		b->u.dof.group = name(r, &b->pool);
		b->u.dof.n_partitions = u8(r) % (ITEMS_MAX + 1);
		for (size_t i = 0; i < b->u.dof.n_partitions; i++) {
			chronik__meta__group_partition__init(&b->gp[i]);
			b->gp[i].topic = name(r, &b->pool);
			b->gp[i].partition = small(r);
			b->gpp[i] = &b->gp[i];
		}
		b->u.dof.partitions = b->gpp;
		b->u.dof.expired_before_ms = (kind & 0x80) ? i32(r) : 0; /* expiry */
		b->u.dof.view_index = u8(r) % 24;
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS;
		c->delete_offsets = &b->u.dof;
		break;
	case 11:
		chronik__meta__store_group__init(&b->u.sg);
		chronik__meta__group_state_record__init(&b->gs);
		b->u.sg.group = name(r, &b->pool);
		b->gs.generation = i32(r);
		b->gs.protocol = name(r, &b->pool);
		b->gs.leader = name(r, &b->pool);
		b->gs.n_members = u8(r) % (ITEMS_MAX + 1);
		for (size_t i = 0; i < b->gs.n_members; i++) {
			char *a = name(r, &b->pool);

			chronik__meta__group_member_record__init(&b->gm[i]);
			b->gm[i].member_id = name(r, &b->pool);
			b->gm[i].session_ms = i32(r);
			b->gm[i].assignment = (ProtobufCBinaryData){strlen(a), (uint8_t *)a};
			b->gmp[i] = &b->gm[i];
		}
		b->gs.members = b->gmp;
		b->u.sg.state = (kind & 0x80) ? NULL : &b->gs;
		b->u.sg.view_index = u8(r) % 24;
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP;
		c->store_group = &b->u.sg;
		break;
	default:
		chronik__meta__noop__init(&b->u.no);
		c->cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_NOOP;
		c->noop = &b->u.no;
		break;
	}
}

typedef struct {
	uint8_t *data[ENTRIES_MAX];
	size_t len[ENTRIES_MAX];
	size_t n;
} entries_t;

static void entries_make(rd_t *r, entries_t *e)
{
	while (r->len && e->n < ENTRIES_MAX) {
		uint8_t op = u8(r);
		uint8_t *p = NULL;
		size_t len = 0;

		if (op < 0x10) { /* raw bytes */
			len = u8(r);
			len = len < r->len ? len : r->len;
			p = malloc(len ? len : 1);
			if (!p)
				abort();
			if (len)
				memcpy(p, r->p, len);
			r->p += len;
			r->len -= len;
		} else {
			build_t *b = calloc(1, sizeof(*b));

			if (!b)
				abort();
			build(r, b, op);
			len = chronik__meta__metadata_command__get_packed_size(&b->cmd);
			p = malloc(len ? len : 1);
			if (!p)
				abort();
			(void)chronik__meta__metadata_command__pack(&b->cmd, p);
			free(b);
		}
		e->data[e->n] = p;
		e->len[e->n++] = len;
	}
}

static ck_meta_t *meta;
static char dir[64];

static void cleanup(void)
{
	char cmd[128];

	ck_meta_close(meta);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_apply: could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/fuzz-apply.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir) || ck_meta_open(dir, &meta) < 0) {
		fprintf(stderr, "fuzz_apply: cannot open LMDB under %s\n", dir);
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

static void fail(const char *what, long long a, long long b)
{
	fprintf(stderr, "fuzz_apply: %s (%lld, %lld)\n", what, a, b);
	abort();
}

static bool known_result(int r)
{
	return r == 0 || r == CK_E_INVALID || r == CK_E_EXISTS || r == CK_E_NOT_FOUND ||
	       r == CK_E_AGAIN || r == CK_E_COLLISION || r == CK_E_OUT_OF_ORDER || r == CK_E_STALE;
}

typedef struct {
	int result[ENTRIES_MAX];
	size_t effects[ENTRIES_MAX];
	size_t n;
} outcome_t;

typedef struct {
	ck_meta_t *meta;
	MDB_txn *txn;
} walk_t;

static int check_partition(void *arg, const Chronik__Meta__PartitionRecord *p)
{
	int32_t *next = arg;
	bool leader_in = p->leader == -1;

	if (p->partition != (*next)++)
		fail("partitions not 0..n-1", p->partition, *next - 1);
	if (p->n_replicas == 0)
		fail("a partition without replicas", p->partition, 0);
	for (size_t i = 0; i < p->n_isr; i++) {
		bool in = false;

		for (size_t k = 0; k < p->n_replicas; k++)
			in |= p->isr[i] == p->replicas[k];
		if (!in)
			fail("an ISR member that is no replica", p->isr[i], p->partition);
		leader_in |= p->isr[i] == p->leader;
	}
	if (!leader_in)
		fail("a leader outside the ISR", p->leader, p->partition);
	return 0;
}

static int check_topic(void *arg, const Chronik__Meta__TopicRecord *t)
{
	walk_t *w = arg;
	int32_t next = 0;
	int r = ck_meta_partitions_foreach(w->meta, w->txn, t->name, check_partition, &next);

	if (r < 0)
		fail("cannot read the partitions of a topic", r, 0);
	if (next != t->partitions)
		fail("a topic's partition count differs from its partitions", t->partitions, next);
	return 0;
}

static void run(const entries_t *e, outcome_t *out)
{
	raftd_apply_t a = {meta, 1};
	raftd_effects_t fx = {0};
	MDB_txn *txn;
	walk_t w;
	int r = ck_meta_write_begin(meta, &txn);

	if (r < 0)
		fail("cannot begin a write transaction", r, 0);
	out->n = 0;
	for (size_t i = 0; i < e->n; i++) {
		raftd_apply_result_t res;

		raftd_effects_reset(&fx);
		r = raftd_apply_entry(&a, txn, 100 + i, e->data[i], e->len[i], &fx, &res);
		if (r == MDB_MAP_FULL)
			break;
		if (r < 0)
			fail("apply failed", r, (long long)i);
		if (getenv("FUZZ_APPLY_TRACE"))
			fprintf(stderr, "entry %zu: %zu bytes, result %d, %zu effects %s\n", i,
			        e->len[i], res.result, fx.n, res.message);
		if (!known_result(res.result))
			fail("a result raftd_apply.h does not list", res.result, (long long)i);
		out->result[out->n] = res.result;
		out->effects[out->n++] = fx.n;
	}
	w.meta = meta;
	w.txn = txn;
	r = ck_meta_topics_foreach(meta, txn, check_topic, &w);
	if (r < 0)
		fail("cannot read the topics", r, 0);
	raftd_effects_free(&fx);
	mdb_txn_abort(txn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rd_t in = {data, size};
	entries_t e = {0};
	outcome_t o1, o2;

	entries_make(&in, &e);
	run(&e, &o1);
	run(&e, &o2);
	if (o1.n != o2.n)
		fail("applied again, a different number of entries", (long long)o1.n,
		     (long long)o2.n);
	for (size_t i = 0; i < o1.n; i++)
		if (o1.result[i] != o2.result[i] || o1.effects[i] != o2.effects[i])
			fail("applied again, another outcome", (long long)i, o1.result[i]);
	for (size_t i = 0; i < e.n; i++)
		free(e.data[i]);
	return 0;
}
