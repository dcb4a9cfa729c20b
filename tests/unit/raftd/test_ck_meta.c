/*
 * test_ck_meta.c: unit tests of the LMDB `meta` layout (common/ck_meta.h):
 * record round trips through a reopen, applied_index, key order of the
 * walks, partitions of one topic only (even with names that prefix each
 * other), deleting a topic with its partitions, producer-id blocks,
 * missing records, corrupt values and bad keys; the raw views readers
 * use to tell a change (a topic's packed record, the brokers' image); the partition change log
 * ("changes"): records, walks, trimming and its floor, which restarts
 * whenever entries went by unrecorded; the unsynced marker: written with
 * the boot id, kept within a boot, the environment moved aside when the
 * boot changed (or cannot be read), gone after a clean stop; committed
 * offsets of consumer groups ("groups"): round trips, walks of one group
 * and of the groups (names that prefix each other), deleting a group or a
 * topic's offsets in every group, bad arguments, and keys and values of
 * another shape skipped.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ck_err.h"
#include "ck_meta.h"
#include "ck_testlib.h"

static char dir[128];
static ck_meta_t *meta;

static void setup(void)
{
	ck_test_mkdtemp(dir, sizeof(dir), "meta");
	ck_assert_int_eq(ck_meta_open(dir, &meta), 0);
}

static void teardown(void)
{
	ck_meta_close(meta);
	meta = NULL;
}

static MDB_txn *wbegin(void)
{
	MDB_txn *txn = NULL;

	ck_assert_int_eq(ck_meta_write_begin(meta, &txn), 0);
	return txn;
}

static MDB_txn *rbegin(void)
{
	MDB_txn *txn = NULL;

	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	return txn;
}

static void put_topic(MDB_txn *txn, const char *name, int32_t parts, uint64_t index)
{
	Chronik__Meta__TopicRecord t = CHRONIK__META__TOPIC_RECORD__INIT;
	Chronik__Meta__ConfigEntry ce = CHRONIK__META__CONFIG_ENTRY__INIT;
	Chronik__Meta__ConfigEntry *cev[1] = {&ce};
	uint8_t id[16];

	memset(id, 0xab, sizeof(id));
	id[0] = (uint8_t)parts;
	ce.name = "retention.ms";
	ce.value = "1000";
	t.name = (char *)name;
	t.topic_id.data = id;
	t.topic_id.len = sizeof(id);
	t.partitions = parts;
	t.configs = cev;
	t.n_configs = 1;
	t.created_index = index;
	ck_assert_int_eq(ck_meta_topic_put(meta, txn, &t), 0);
}

static void put_partition(MDB_txn *txn, const char *topic, int32_t p, int32_t leader)
{
	Chronik__Meta__PartitionRecord r = CHRONIK__META__PARTITION_RECORD__INIT;
	int32_t replicas[3] = {leader, leader + 1, leader + 2};

	r.topic = (char *)topic;
	r.partition = p;
	r.replicas = replicas;
	r.n_replicas = 3;
	r.isr = replicas;
	r.n_isr = 2;
	r.leader = leader;
	r.leader_epoch = p * 10;
	r.partition_epoch = p * 100;
	ck_assert_int_eq(ck_meta_partition_put(meta, txn, &r), 0);
}

static void put_broker(MDB_txn *txn, int32_t id, int32_t port, bool fenced)
{
	Chronik__Meta__BrokerRecord b = CHRONIK__META__BROKER_RECORD__INIT;

	b.id = id;
	b.kafka_host = "127.0.0.1";
	b.kafka_port = port;
	b.fenced = fenced;
	ck_assert_int_eq(ck_meta_broker_put(meta, txn, &b), 0);
}

static size_t image(uint8_t **img)
{
	MDB_txn *txn = rbegin();
	size_t len = 99;

	*img = NULL;
	ck_assert_int_eq(ck_meta_brokers_image(meta, txn, img, &len), 0);
	ck_meta_read_end(txn);
	return len;
}

/* A topic's packed record is what the typed read decodes, and changes
 * with it; the brokers' image is equal exactly while the brokers are. */
START_TEST(test_raw_views)
{
	Chronik__Meta__TopicRecord *t = NULL;
	MDB_txn *txn = wbegin();
	uint8_t *i0, *i1, *i2, *i3;
	size_t n0, n1, n2, n3;
	MDB_val v, v2;
	void *copy;

	n0 = 0;
	put_topic(txn, "t", 2, 5);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	txn = rbegin();
	ck_assert_int_eq(ck_meta_topic_raw(meta, txn, "t", &v), 0);
	ck_assert_int_eq(ck_meta_topic_raw(meta, txn, "nosuch", &v2), CK_E_NOT_FOUND);
	t = chronik__meta__topic_record__unpack(NULL, v.mv_size, v.mv_data);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->name, "t");
	ck_assert_int_eq(t->partitions, 2);
	chronik__meta__topic_record__free_unpacked(t, NULL);
	copy = malloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	n1 = v.mv_size;
	ck_meta_read_end(txn);
	txn = wbegin();
	put_topic(txn, "t", 3, 5);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	txn = rbegin();
	ck_assert_int_eq(ck_meta_topic_raw(meta, txn, "t", &v), 0);
	ck_assert(v.mv_size != n1 || memcmp(v.mv_data, copy, n1) != 0);
	ck_meta_read_end(txn);
	free(copy);

	n0 = image(&i0);
	ck_assert_uint_eq(n0, 0);
	free(i0);
	txn = wbegin();
	put_broker(txn, 1, 9092, false);
	put_broker(txn, 2, 9093, false);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	n1 = image(&i1);
	n2 = image(&i2);
	ck_assert_uint_gt(n1, 0);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(i1, i2, n1);
	txn = wbegin();
	put_broker(txn, 2, 9093, true); /* fenced: one flag */
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	n3 = image(&i3);
	ck_assert(n3 != n1 || memcmp(i1, i3, n1) != 0);
	free(i1);
	free(i2);
	free(i3);
}
END_TEST

/* Everything written comes back the same, also after closing and reopening
 * the environment. */
START_TEST(test_round_trip_and_reopen)
{
	Chronik__Meta__BrokerRecord b = CHRONIK__META__BROKER_RECORD__INIT, *bg = NULL;
	Chronik__Meta__TopicRecord *t = NULL;
	Chronik__Meta__PartitionRecord *p = NULL;
	MDB_txn *txn = wbegin();
	uint64_t applied = 99;

	put_topic(txn, "orders", 3, 17);
	put_partition(txn, "orders", 2, 4);
	b.id = 7;
	b.kafka_host = "10.0.0.7";
	b.kafka_port = 9092;
	b.replication = "10.0.0.7:9291";
	b.raft = "10.0.0.7:5001";
	b.incarnation = 0x1234567890abcdefULL;
	b.rack = "r1";
	ck_assert_int_eq(ck_meta_broker_put(meta, txn, &b), 0);
	ck_assert_int_eq(ck_meta_applied_index_put(meta, txn, 123456789012ULL), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_meta_close(meta);
	ck_assert_int_eq(ck_meta_open(dir, &meta), 0);

	txn = rbegin();
	ck_assert_int_eq(ck_meta_applied_index(meta, txn, &applied), 0);
	ck_assert_uint_eq(applied, 123456789012ULL);
	ck_assert_int_eq(ck_meta_topic_get(meta, txn, "orders", &t), 0);
	ck_assert_str_eq(t->name, "orders");
	ck_assert_int_eq(t->partitions, 3);
	ck_assert_uint_eq(t->topic_id.len, 16);
	ck_assert_uint_eq(t->topic_id.data[0], 3);
	ck_assert_uint_eq(t->topic_id.data[15], 0xab);
	ck_assert_uint_eq(t->n_configs, 1);
	ck_assert_str_eq(t->configs[0]->name, "retention.ms");
	ck_assert_str_eq(t->configs[0]->value, "1000");
	ck_assert_uint_eq(t->created_index, 17);
	ck_assert_int_eq(ck_meta_partition_get(meta, txn, "orders", 2, &p), 0);
	ck_assert_str_eq(p->topic, "orders");
	ck_assert_int_eq(p->partition, 2);
	ck_assert_uint_eq(p->n_replicas, 3);
	ck_assert_int_eq(p->replicas[2], 6);
	ck_assert_uint_eq(p->n_isr, 2);
	ck_assert_int_eq(p->leader, 4);
	ck_assert_int_eq(p->leader_epoch, 20);
	ck_assert_int_eq(p->partition_epoch, 200);
	ck_assert_int_eq(ck_meta_broker_get(meta, txn, 7, &bg), 0);
	ck_assert_str_eq(bg->kafka_host, "10.0.0.7");
	ck_assert_int_eq(bg->kafka_port, 9092);
	ck_assert_str_eq(bg->raft, "10.0.0.7:5001");
	ck_assert_uint_eq(bg->incarnation, 0x1234567890abcdefULL);
	ck_assert_str_eq(bg->rack, "r1");
	ck_assert(!bg->fenced);
	ck_meta_read_end(txn);
	chronik__meta__topic_record__free_unpacked(t, NULL);
	chronik__meta__partition_record__free_unpacked(p, NULL);
	chronik__meta__broker_record__free_unpacked(bg, NULL);
}
END_TEST

/* A fresh environment has applied_index 0 and no records. */
START_TEST(test_empty)
{
	Chronik__Meta__TopicRecord *t = NULL;
	Chronik__Meta__PartitionRecord *p = NULL;
	Chronik__Meta__BrokerRecord *b = NULL;
	MDB_txn *txn = rbegin();
	uint64_t applied = 5;
	int64_t next = 5, start, size;

	ck_assert_int_eq(ck_meta_applied_index(meta, txn, &applied), 0);
	ck_assert_uint_eq(applied, 0);
	ck_assert_int_eq(ck_meta_topic_get(meta, txn, "x", &t), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_meta_partition_get(meta, txn, "x", 0, &p), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_meta_broker_get(meta, txn, 1, &b), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_meta_producer_id_next(meta, txn, &next), 0);
	ck_assert_int_eq(next, 0);
	ck_assert_int_eq(ck_meta_producer_block_get(meta, txn, 1, &start, &size), CK_E_NOT_FOUND);
	/* Bad keys never reach LMDB. */
	ck_assert_int_eq(ck_meta_topic_get(meta, txn, "", &t), CK_E_INVALID);
	ck_assert_int_eq(ck_meta_partition_get(meta, txn, "x", -1, &p), CK_E_INVALID);
	ck_meta_read_end(txn);
}
END_TEST

typedef struct {
	char names[16][32];
	int n;
} names_t;

static int collect_topic(void *arg, const Chronik__Meta__TopicRecord *t)
{
	names_t *v = arg;

	snprintf(v->names[v->n++], 32, "%s", t->name);
	return 0;
}

static int collect_partition(void *arg, const Chronik__Meta__PartitionRecord *p)
{
	names_t *v = arg;

	snprintf(v->names[v->n++], 32, "%s/%d", p->topic, p->partition);
	return 0;
}

static int collect_broker(void *arg, const Chronik__Meta__BrokerRecord *b)
{
	names_t *v = arg;

	snprintf(v->names[v->n++], 32, "%d", b->id);
	return 0;
}

static int stop_at_second(void *arg, const Chronik__Meta__TopicRecord *t)
{
	names_t *v = arg;

	(void)t;
	return ++v->n == 2 ? 42 : 0;
}

/* The topics from FROM on (ck_meta_topics_foreach_from) into *V; their
 * count. */
static size_t topics_from(MDB_txn *txn, const char *from, names_t *v)
{
	memset(v, 0, sizeof(*v));
	ck_assert_int_eq(ck_meta_topics_foreach_from(meta, txn, from, collect_topic, v), 0);
	return v->n;
}

/* Walks go in key order: names bytewise, partitions and brokers
 * numerically (big-endian keys), and a callback's non-zero return stops
 * the walk and comes back. */
START_TEST(test_foreach_order)
{
	static const char *const topics[] = {"b", "a.b", "a", "a-", "B"};
	static const int32_t parts[] = {256, 1, 0, 10, 65536};
	static const int32_t brokers[] = {300, 2, 1, 70000};
	Chronik__Meta__BrokerRecord b = CHRONIK__META__BROKER_RECORD__INIT;
	MDB_txn *txn = wbegin();
	names_t v = {0};

	for (size_t i = 0; i < CK_ARRAY_LEN(topics); i++)
		put_topic(txn, topics[i], 1, i);
	for (size_t i = 0; i < CK_ARRAY_LEN(parts); i++)
		put_partition(txn, "t", parts[i], 1);
	for (size_t i = 0; i < CK_ARRAY_LEN(brokers); i++) {
		b.id = brokers[i];
		ck_assert_int_eq(ck_meta_broker_put(meta, txn, &b), 0);
	}
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);

	txn = rbegin();
	ck_assert_int_eq(ck_meta_topics_foreach(meta, txn, collect_topic, &v), 0);
	ck_assert_int_eq(v.n, 5);
	ck_assert_str_eq(v.names[0], "B");
	ck_assert_str_eq(v.names[1], "a");
	ck_assert_str_eq(v.names[2], "a-");
	ck_assert_str_eq(v.names[3], "a.b");
	ck_assert_str_eq(v.names[4], "b");
	memset(&v, 0, sizeof(v));
	ck_assert_int_eq(ck_meta_partitions_foreach(meta, txn, "t", collect_partition, &v), 0);
	ck_assert_int_eq(v.n, 5);
	ck_assert_str_eq(v.names[0], "t/0");
	ck_assert_str_eq(v.names[1], "t/1");
	ck_assert_str_eq(v.names[2], "t/10");
	ck_assert_str_eq(v.names[3], "t/256");
	ck_assert_str_eq(v.names[4], "t/65536");
	memset(&v, 0, sizeof(v));
	ck_assert_int_eq(ck_meta_brokers_foreach(meta, txn, collect_broker, &v), 0);
	ck_assert_int_eq(v.n, 4);
	ck_assert_str_eq(v.names[0], "1");
	ck_assert_str_eq(v.names[1], "2");
	ck_assert_str_eq(v.names[2], "300");
	ck_assert_str_eq(v.names[3], "70000");
	memset(&v, 0, sizeof(v));
	ck_assert_int_eq(ck_meta_topics_foreach(meta, txn, stop_at_second, &v), 42);
	ck_assert_int_eq(v.n, 2);
	/* From a topic: it and those after it; from a name that is no topic
	 * (deleted meanwhile): those after it; past the last: none. */
	ck_assert_int_eq(topics_from(txn, "a-", &v), 3);
	ck_assert_str_eq(v.names[0], "a-");
	ck_assert_str_eq(v.names[2], "b");
	ck_assert_int_eq(topics_from(txn, "a.a", &v), 2);
	ck_assert_str_eq(v.names[0], "a.b");
	ck_assert_int_eq(topics_from(txn, "c", &v), 0);
	ck_assert_int_eq(topics_from(txn, NULL, &v), 5);
	memset(&v, 0, sizeof(v));
	ck_assert_int_eq(ck_meta_topics_foreach_from(meta, txn, "a", stop_at_second, &v), 42);
	ck_assert_int_eq(v.n, 2);
	ck_meta_read_end(txn);
}
END_TEST

/* The partitions of one topic only: not those of a topic whose name
 * extends it ("a" vs "a.b", "a-", "ab") or sorts next to it. */
START_TEST(test_partitions_of_one_topic_walk)
{
	MDB_txn *txn = wbegin();
	names_t v = {0};

	put_partition(txn, "a", 0, 1);
	put_partition(txn, "a", 1, 1);
	put_partition(txn, "a.b", 0, 1);
	put_partition(txn, "a-", 3, 1);
	put_partition(txn, "ab", 0, 1);
	put_partition(txn, "A", 9, 1);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	txn = rbegin();
	ck_assert_int_eq(ck_meta_partitions_foreach(meta, txn, "a", collect_partition, &v), 0);
	ck_assert_int_eq(v.n, 2);
	ck_assert_str_eq(v.names[0], "a/0");
	ck_assert_str_eq(v.names[1], "a/1");
	memset(&v, 0, sizeof(v));
	ck_assert_int_eq(ck_meta_partitions_foreach(meta, txn, "a-", collect_partition, &v), 0);
	ck_assert_int_eq(v.n, 1);
	ck_assert_str_eq(v.names[0], "a-/3");
	memset(&v, 0, sizeof(v));
	ck_assert_int_eq(ck_meta_partitions_foreach(meta, txn, "zz", collect_partition, &v), 0);
	ck_assert_int_eq(v.n, 0);
	ck_meta_read_end(txn);
}
END_TEST

/* Deleting a topic removes its partitions and nothing else. */
START_TEST(test_topic_delete)
{
	Chronik__Meta__PartitionRecord *p = NULL;
	Chronik__Meta__TopicRecord *t = NULL;
	MDB_txn *txn = wbegin();
	names_t v = {0};

	put_topic(txn, "a", 3, 1);
	put_topic(txn, "a.b", 1, 2);
	for (int i = 0; i < 3; i++)
		put_partition(txn, "a", i, 1);
	put_partition(txn, "a.b", 0, 1);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	txn = wbegin();
	ck_assert_int_eq(ck_meta_topic_del(meta, txn, "a"), 0);
	ck_assert_int_eq(ck_meta_topic_del(meta, txn, "a"), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_meta_topic_del(meta, txn, "nope"), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	txn = rbegin();
	ck_assert_int_eq(ck_meta_topic_get(meta, txn, "a", &t), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_meta_partition_get(meta, txn, "a", 1, &p), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_meta_partitions_foreach(meta, txn, "a", collect_partition, &v), 0);
	ck_assert_int_eq(v.n, 0);
	ck_assert_int_eq(ck_meta_partitions_foreach(meta, txn, "a.b", collect_partition, &v), 0);
	ck_assert_int_eq(v.n, 1);
	ck_assert_int_eq(ck_meta_topics_foreach(meta, txn, collect_topic, &v), 0);
	ck_assert_int_eq(v.n, 2);
	ck_assert_str_eq(v.names[1], "a.b");
	ck_meta_read_end(txn);
}
END_TEST

/* An aborted write transaction leaves nothing behind. */
START_TEST(test_abort)
{
	Chronik__Meta__TopicRecord *t = NULL;
	MDB_txn *txn = wbegin();
	uint64_t applied;

	put_topic(txn, "gone", 1, 1);
	ck_assert_int_eq(ck_meta_applied_index_put(meta, txn, 9), 0);
	mdb_txn_abort(txn);
	txn = rbegin();
	ck_assert_int_eq(ck_meta_topic_get(meta, txn, "gone", &t), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_meta_applied_index(meta, txn, &applied), 0);
	ck_assert_uint_eq(applied, 0);
	ck_meta_read_end(txn);
}
END_TEST

START_TEST(test_producer_blocks)
{
	MDB_txn *txn = wbegin();
	int64_t next = 0, start = 0, size = 0;

	ck_assert_int_eq(ck_meta_producer_block_put(meta, txn, 3, 5000, 1000), 0);
	ck_assert_int_eq(ck_meta_producer_id_next_put(meta, txn, 6000), 0);
	ck_assert_int_eq(ck_meta_producer_id_next_put(meta, txn, -1), CK_E_INVALID);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	txn = rbegin();
	ck_assert_int_eq(ck_meta_producer_id_next(meta, txn, &next), 0);
	ck_assert_int_eq(next, 6000);
	ck_assert_int_eq(ck_meta_producer_block_get(meta, txn, 3, &start, &size), 0);
	ck_assert_int_eq(start, 5000);
	ck_assert_int_eq(size, 1000);
	ck_assert_int_eq(ck_meta_producer_block_get(meta, txn, 4, &start, &size), CK_E_NOT_FOUND);
	ck_meta_read_end(txn);
}
END_TEST

/* A value that is no record is CK_E_CORRUPT, for gets and walks alike;
 * so is an applied_index of the wrong size. */
START_TEST(test_corrupt_values)
{
	Chronik__Meta__TopicRecord *t = NULL;
	MDB_txn *txn = wbegin();
	MDB_dbi dbi;
	MDB_val k = {3, "bad"}, v = {5, "\xff\xff\xff\xff\xff"};
	MDB_val ak = {13, "applied_index"}, av = {3, "abc"};
	uint64_t applied;

	ck_assert_int_eq(mdb_dbi_open(txn, "topics", 0, &dbi), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "state", 0, &dbi), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &ak, &av, 0), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	txn = rbegin();
	ck_assert_int_eq(ck_meta_topic_get(meta, txn, "bad", &t), CK_E_CORRUPT);
	ck_assert_int_eq(ck_meta_topics_foreach(meta, txn, collect_topic, &(names_t){0}),
	                 CK_E_CORRUPT);
	ck_assert_int_eq(ck_meta_applied_index(meta, txn, &applied), CK_E_CORRUPT);
	ck_meta_read_end(txn);
}
END_TEST

/* One read transaction per thread: a second one while the first is open
 * is refused before LMDB would (a sanitized build aborts, so that the
 * integration tests, which run one, see such a bug), and ending the first
 * frees the thread again. */
START_TEST(test_nested_read)
{
	MDB_txn *a = NULL, *b = NULL;

	ck_assert_int_eq(ck_meta_read_begin(meta, &a), 0);
	ck_assert_int_lt(ck_meta_read_begin(meta, &b), 0);
	ck_meta_read_end(a);
}
END_TEST

START_TEST(test_read_after_read)
{
	MDB_txn *a = NULL, *b = NULL, *w = wbegin();
	uint64_t applied = 1;

	/* A write transaction ended with mdb_txn_abort() is not a read. */
	mdb_txn_abort(w);
	ck_assert_int_eq(ck_meta_read_begin(meta, &a), 0);
	ck_meta_read_end(a);
	ck_meta_read_end(NULL);
	ck_assert_int_eq(ck_meta_read_begin(meta, &b), 0);
	ck_assert_int_eq(ck_meta_applied_index(meta, b, &applied), 0);
	ck_assert_uint_eq(applied, 0);
	ck_meta_read_end(b);
}
END_TEST

/* Bad records are refused before LMDB sees them. */
START_TEST(test_bad_keys)
{
	Chronik__Meta__TopicRecord t = CHRONIK__META__TOPIC_RECORD__INIT;
	Chronik__Meta__PartitionRecord p = CHRONIK__META__PARTITION_RECORD__INIT;
	Chronik__Meta__BrokerRecord b = CHRONIK__META__BROKER_RECORD__INIT;
	char longname[300];
	MDB_txn *txn = wbegin();

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	t.name = "";
	ck_assert_int_eq(ck_meta_topic_put(meta, txn, &t), CK_E_INVALID);
	t.name = longname;
	ck_assert_int_eq(ck_meta_topic_put(meta, txn, &t), CK_E_TOO_LARGE);
	p.topic = "t";
	p.partition = -1;
	ck_assert_int_eq(ck_meta_partition_put(meta, txn, &p), CK_E_INVALID);
	b.id = -1;
	ck_assert_int_eq(ck_meta_broker_put(meta, txn, &b), CK_E_INVALID);
	mdb_txn_abort(txn);
}
END_TEST

/* The offsets database is there for the checkpoint writers. */
START_TEST(test_offsets_dbi)
{
	MDB_txn *txn = wbegin();
	MDB_val k = {6, "hw/t-0"}, v = {1, "7"}, got;

	ck_assert_int_eq(mdb_put(txn, ck_meta_offsets_dbi(meta), &k, &v, 0), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	txn = rbegin();
	ck_assert_int_eq(mdb_get(txn, ck_meta_offsets_dbi(meta), &k, &got), 0);
	ck_assert_uint_eq(got.mv_size, 1);
	ck_meta_read_end(txn);
	ck_assert_int_eq(ck_meta_reader_check(meta, NULL), 0);
}
END_TEST

/* ---- "changes" ---- */

#define CHG_MAX 16

typedef struct {
	uint64_t index[CHG_MAX];
	char topic[CHG_MAX][32];
	int n;
	int stop_after; /* 0: never */
} changes_t;

static int collect_change(void *arg, uint64_t index, const char *topic)
{
	changes_t *c = arg;

	ck_assert_int_lt(c->n, CHG_MAX);
	c->index[c->n] = index;
	snprintf(c->topic[c->n], sizeof(c->topic[0]), "%s", topic);
	c->n++;
	return c->stop_after && c->n == c->stop_after ? 7 : 0;
}

/* The changes from FROM as "index:topic,..." (a read transaction of its
 * own), and the floor. */
static const char *changes_str(uint64_t from, uint64_t *ret_floor)
{
	static char out[512];
	changes_t c = {.n = 0};
	MDB_txn *txn = rbegin();
	size_t len = 0;

	ck_assert_int_eq(ck_meta_changes_foreach(meta, txn, from, collect_change, &c), 0);
	ck_assert_int_eq(ck_meta_changes_floor(meta, txn, ret_floor), 0);
	ck_meta_read_end(txn);
	out[0] = '\0';
	for (int i = 0; i < c.n; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%llu:%s", i ? "," : "",
		                        (unsigned long long)c.index[i], c.topic[i]);
	return out;
}

/* One partition-changing entry as raftd records it: the change first, then
 * parts_index. */
static void change(uint64_t index, const char *topic)
{
	MDB_txn *txn = wbegin();

	ck_assert_int_eq(ck_meta_change_put(meta, txn, index, topic), 0);
	ck_assert_int_eq(ck_meta_parts_index_put(meta, txn, index), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
}

static void trim(uint64_t keep_from)
{
	MDB_txn *txn = wbegin();

	ck_assert_int_eq(ck_meta_changes_trim(meta, txn, keep_from), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
}

/* Records come back in index order from any starting point, an unknown
 * topic as ""; trimming drops the old ones and raises the floor, never
 * lowers it; everything survives a reopen. */

static void write_boot(const char *path, const char *id)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s\n", id);
	ck_assert_int_eq(fclose(f), 0);
}

/* Whether <dir>/REL exists. */
static bool exists(const char *rel)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return stat(path, &st) == 0;
}

START_TEST(test_unsynced_marker)
{
	char boot[200], marker[200], got[64] = {0};
	FILE *f;

	snprintf(boot, sizeof(boot), "%s/boot_id", dir);
	snprintf(marker, sizeof(marker), "%s/meta/unsynced", dir);
	write_boot(boot, "boot-1");
	ck_assert_int_eq(setenv("CHRONIK_BOOT_ID_FILE", boot, 1), 0);
	/* No marker: nothing to do. */
	ck_assert_int_eq(ck_meta_unsynced_recover(dir), 0);
	ck_assert_int_eq(ck_meta_unsynced_mark(dir), 0);
	f = fopen(marker, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(got, sizeof(got), f));
	fclose(f);
	ck_assert_str_eq(got, "boot-1");
	/* The same boot (a process crash): the environment stays. */
	ck_assert_int_eq(ck_meta_unsynced_recover(dir), 0);
	ck_assert(exists("meta/data.mdb"));
	/* A clean stop removes the marker; a new boot then moves nothing. */
	ck_assert_int_eq(ck_meta_unsynced_clear(dir), 0);
	ck_assert_int_eq(ck_meta_unsynced_clear(dir), 0);
	write_boot(boot, "boot-2");
	ck_assert_int_eq(ck_meta_unsynced_recover(dir), 0);
	ck_assert(!exists("meta.torn"));
	/* Marked, then the machine restarts: moved aside, twice over. */
	for (int i = 0; i < 2; i++) {
		char id[16];

		ck_assert_int_eq(ck_meta_unsynced_mark(dir), 0);
		snprintf(id, sizeof(id), "boot-%d", 3 + i);
		write_boot(boot, id);
		ck_assert_int_eq(ck_meta_unsynced_recover(dir), 1);
		ck_assert(!exists("meta"));
		ck_assert(exists("meta.torn/data.mdb"));
		ck_assert(exists("meta.torn/unsynced"));
		ck_assert_int_eq(ck_meta_unsynced_recover(dir), 0);
		/* A fresh environment, as raftd opens it. */
		ck_meta_close(meta);
		ck_assert_int_eq(ck_meta_open(dir, &meta), 0);
	}
	/* No boot id to be had: no marker can be written, and one found
	 * counts as another boot's. */
	ck_assert_int_eq(ck_meta_unsynced_mark(dir), 0);
	snprintf(boot, sizeof(boot), "%s/no-such-boot-id", dir);
	ck_assert_int_eq(setenv("CHRONIK_BOOT_ID_FILE", boot, 1), 0);
	ck_assert_int_lt(ck_meta_unsynced_mark(dir), 0);
	ck_assert_int_eq(ck_meta_unsynced_recover(dir), 1);
	ck_assert(!exists("meta"));
	ck_meta_close(meta);
	ck_assert_int_eq(ck_meta_open(dir, &meta), 0);
	ck_assert_int_eq(unsetenv("CHRONIK_BOOT_ID_FILE"), 0);
}
END_TEST

START_TEST(test_changes_put_walk_trim)
{
	changes_t c = {.stop_after = 1};
	char longname[300];
	uint64_t floor = 99;
	MDB_txn *txn;

	ck_assert_str_eq(changes_str(0, &floor), "");
	ck_assert_uint_eq(floor, 0); /* unknown */
	trim(10);                    /* no floor yet: it stays unknown */
	ck_assert_str_eq(changes_str(0, &floor), "");
	ck_assert_uint_eq(floor, 0);
	/* The first record starts the floor (nothing recorded before it). */
	change(5, "a");
	change(7, "b");
	change(9, NULL);
	change(12, "a");
	change(300, "bb");
	ck_assert_str_eq(changes_str(0, &floor), "5:a,7:b,9:,12:a,300:bb");
	ck_assert_uint_eq(floor, 5);
	ck_assert_str_eq(changes_str(8, &floor), "9:,12:a,300:bb");
	ck_assert_str_eq(changes_str(12, &floor), "12:a,300:bb");
	ck_assert_str_eq(changes_str(301, &floor), "");
	/* The callback's non-zero value ends the walk and comes back. */
	txn = rbegin();
	ck_assert_int_eq(ck_meta_changes_foreach(meta, txn, 6, collect_change, &c), 7);
	ck_assert_int_eq(c.n, 1);
	ck_assert_uint_eq(c.index[0], 7);
	ck_meta_read_end(txn);

	trim(9);
	ck_assert_str_eq(changes_str(0, &floor), "9:,12:a,300:bb");
	ck_assert_uint_eq(floor, 9);
	trim(3); /* behind the floor: nothing moves */
	ck_assert_str_eq(changes_str(0, &floor), "9:,12:a,300:bb");
	ck_assert_uint_eq(floor, 9);
	/* A record after a trim, with no partition change in between: the
	 * floor stays. */
	trim(250);
	ck_assert_str_eq(changes_str(0, &floor), "300:bb");
	ck_assert_uint_eq(floor, 250);
	change(400, "c");
	ck_meta_close(meta);
	ck_assert_int_eq(ck_meta_open(dir, &meta), 0);
	ck_assert_str_eq(changes_str(0, &floor), "300:bb,400:c");
	ck_assert_uint_eq(floor, 250);

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	txn = wbegin();
	ck_assert_int_eq(ck_meta_change_put(meta, txn, 0, "a"), CK_E_INVALID);
	ck_assert_int_eq(ck_meta_change_put(meta, txn, 500, longname), CK_E_TOO_LARGE);
	mdb_txn_abort(txn);
	ck_assert_str_eq(changes_str(0, &floor), "300:bb,400:c");
}
END_TEST

/* The floor restarts at a record whenever partition-changing entries may
 * have gone by unrecorded: parts_index moved without a record (an
 * environment from before "changes", an older raftd, a snapshot that
 * replaced "state"), or records given after parts_index. */
START_TEST(test_changes_floor_restarts)
{
	MDB_txn *txn;
	uint64_t floor = 0;

	/* An environment from before parts_index: the first record starts
	 * the floor. */
	change(20, "w");
	ck_assert_str_eq(changes_str(0, &floor), "20:w");
	ck_assert_uint_eq(floor, 20);
	/* Entries an older raftd applied (parts_index kept, up to 40, no
	 * records), then this one again: the floor follows parts_index, as
	 * the entries after 40 changed no partition record. */
	txn = wbegin();
	ck_assert_int_eq(ck_meta_parts_index_put(meta, txn, 30), 0);
	ck_assert_int_eq(ck_meta_parts_index_put(meta, txn, 40), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	change(50, "x");
	ck_assert_str_eq(changes_str(0, &floor), "20:w,50:x");
	ck_assert_uint_eq(floor, 41);
	change(60, "x");
	(void)changes_str(0, &floor);
	ck_assert_uint_eq(floor, 41);
	/* A snapshot installed: parts_index 70, which "changes" never saw. */
	txn = wbegin();
	ck_assert_int_eq(ck_meta_parts_index_put(meta, txn, 70), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	change(80, "y");
	ck_assert_str_eq(changes_str(0, &floor), "20:w,50:x,60:x,80:y");
	ck_assert_uint_eq(floor, 71);
	/* parts_index already at the entry: whatever came before is unknown. */
	txn = wbegin();
	ck_assert_int_eq(ck_meta_parts_index_put(meta, txn, 90), 0);
	ck_assert_int_eq(ck_meta_change_put(meta, txn, 90, "z"), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_assert_str_eq(changes_str(85, &floor), "90:z");
	ck_assert_uint_eq(floor, 90);
	/* A corrupt floor is reported, not trusted. */
	{
		MDB_dbi dbi;
		uint8_t zero[8] = {0};
		MDB_val k = {8, zero}, v = {3, "abc"};

		txn = wbegin();
		ck_assert_int_eq(mdb_dbi_open(txn, "changes", 0, &dbi), 0);
		ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
		ck_assert_int_eq(ck_meta_changes_floor(meta, txn, &floor), CK_E_CORRUPT);
		ck_assert_int_eq(ck_meta_change_put(meta, txn, 95, "z"), CK_E_CORRUPT);
		mdb_txn_abort(txn);
	}
}
END_TEST

/* ---- "groups" ---- */

static void put_offset(MDB_txn *txn, const char *g, const char *t, int32_t p, int64_t off)
{
	Chronik__Meta__GroupOffsetRecord rec = CHRONIK__META__GROUP_OFFSET_RECORD__INIT;

	rec.offset = off;
	rec.leader_epoch = off % 2 ? -1 : (int32_t)(off / 2);
	rec.metadata.data = (uint8_t *)g;
	rec.metadata.len = strlen(g);
	rec.commit_ms = 1700000000000 + off;
	ck_assert_int_eq(ck_meta_group_offset_put(meta, txn, g, t, p, &rec), 0);
}

/* The offset of G, T, P, or -1 when there is none. */
static int64_t offset_of(const char *g, const char *t, int32_t p)
{
	Chronik__Meta__GroupOffsetRecord *rec = NULL;
	MDB_txn *txn = rbegin();
	int64_t off;
	int r = ck_meta_group_offset_get(meta, txn, g, t, p, &rec);

	ck_meta_read_end(txn);
	ck_assert(r == 0 || r == CK_E_NOT_FOUND);
	off = r == 0 ? rec->offset : -1;
	chronik__meta__group_offset_record__free_unpacked(rec, NULL);
	return off;
}

typedef struct {
	char s[512];
	int calls;
	int stop_at; /* 0: never */
} walk_t;

static int walk_stop(walk_t *w)
{
	return ++w->calls == w->stop_at ? 42 : 0;
}

static int collect_offset(void *arg, const char *t, int32_t p,
                          const Chronik__Meta__GroupOffsetRecord *rec)
{
	walk_t *w = arg;
	size_t n = strlen(w->s);

	snprintf(w->s + n, sizeof(w->s) - n, "%s%s/%d=%lld", n ? "," : "", t, p,
	         (long long)rec->offset);
	return walk_stop(w);
}

static int collect_group(void *arg, const char *g)
{
	walk_t *w = arg;
	size_t n = strlen(w->s);

	snprintf(w->s + n, sizeof(w->s) - n, "%s%s", w->calls ? "," : "", g);
	return walk_stop(w);
}

/* "topic/p=offset,..." of group G, in walk order. */
static const char *offsets_str(const char *g)
{
	static walk_t w;
	MDB_txn *txn = rbegin();

	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(ck_meta_group_offsets_foreach(meta, txn, g, collect_offset, &w), 0);
	ck_meta_read_end(txn);
	return w.s;
}

static const char *groups_str(void)
{
	static walk_t w;
	MDB_txn *txn = rbegin();

	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(ck_meta_groups_foreach(meta, txn, collect_group, &w), 0);
	ck_meta_read_end(txn);
	return w.s;
}

/* Three groups whose names prefix each other's ("g", "g.a") or sort next
 * to them ("h"), with topics that do the same ("a", "a.b", "ab"). */
static void fill_groups(void)
{
	static const char *const groups[] = {"h", "g.a", "g"};
	MDB_txn *txn = wbegin();

	for (size_t i = 0; i < CK_ARRAY_LEN(groups); i++) {
		put_offset(txn, groups[i], "ab", 0, 30 + (int64_t)i);
		put_offset(txn, groups[i], "a", 256, 20 + (int64_t)i);
		put_offset(txn, groups[i], "a.b", 1, 40 + (int64_t)i);
		put_offset(txn, groups[i], "a", 1, 10 + (int64_t)i);
	}
	put_offset(txn, "g", "a", 65536, 99);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
}

/* What is put is got back, through a reopen; a put replaces. */
START_TEST(test_group_offset_round_trip)
{
	Chronik__Meta__GroupOffsetRecord rec = CHRONIK__META__GROUP_OFFSET_RECORD__INIT,
	                                 *got = NULL;
	MDB_txn *txn = wbegin();

	rec.offset = 1234;
	rec.leader_epoch = -1;
	rec.metadata.data = (uint8_t *)"client\0meta"; /* Kafka strings may hold NULs */
	rec.metadata.len = 11;
	rec.commit_ms = 1700000000123;
	ck_assert_int_eq(ck_meta_group_offset_put(meta, txn, "g", "t", 3, &rec), 0);
	put_offset(txn, "g", "t", 4, 5);
	put_offset(txn, "g", "t", 4, 6);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_meta_close(meta);
	ck_assert_int_eq(ck_meta_open(dir, &meta), 0);

	txn = rbegin();
	ck_assert_int_eq(ck_meta_group_offset_get(meta, txn, "g", "t", 3, &got), 0);
	ck_assert_int_eq(got->offset, 1234);
	ck_assert_int_eq(got->leader_epoch, -1);
	ck_assert_uint_eq(got->metadata.len, 11);
	ck_assert_mem_eq(got->metadata.data, "client\0meta", 11);
	ck_assert_int_eq(got->commit_ms, 1700000000123);
	chronik__meta__group_offset_record__free_unpacked(got, NULL);
	ck_meta_read_end(txn);
	ck_assert_int_eq(offset_of("g", "t", 4), 6);
	ck_assert_int_eq(offset_of("g", "t", 5), -1);
	ck_assert_int_eq(offset_of("g", "u", 3), -1);
	ck_assert_int_eq(offset_of("h", "t", 3), -1);
	ck_assert_int_eq(offset_of("gg", "t", 3), -1);
}
END_TEST

/* One group's offsets: by topic bytewise, then partition numerically,
 * none of another group's; the callback's non-zero return comes back. */
START_TEST(test_group_offsets_walk)
{
	walk_t w = {.stop_at = 2};
	MDB_txn *txn;

	fill_groups();
	ck_assert_str_eq(offsets_str("g"), "a/1=12,a/256=22,a/65536=99,a.b/1=42,ab/0=32");
	ck_assert_str_eq(offsets_str("g.a"), "a/1=11,a/256=21,a.b/1=41,ab/0=31");
	ck_assert_str_eq(offsets_str("h"), "a/1=10,a/256=20,a.b/1=40,ab/0=30");
	ck_assert_str_eq(offsets_str("gg"), "");
	txn = rbegin();
	ck_assert_int_eq(ck_meta_group_offsets_foreach(meta, txn, "g", collect_offset, &w), 42);
	ck_assert_str_eq(w.s, "a/1=12,a/256=22");
	ck_meta_read_end(txn);
}
END_TEST

/* Every group with offsets once, in order; stopping works. */
START_TEST(test_groups_walk)
{
	walk_t w = {.stop_at = 2};
	MDB_txn *txn;

	ck_assert_str_eq(groups_str(), "");
	fill_groups();
	ck_assert_str_eq(groups_str(), "g,g.a,h");
	txn = rbegin();
	ck_assert_int_eq(ck_meta_groups_foreach(meta, txn, collect_group, &w), 42);
	ck_assert_str_eq(w.s, "g,g.a");
	ck_meta_read_end(txn);
}
END_TEST

/* A group goes whole, and alone. */
START_TEST(test_group_del)
{
	MDB_txn *txn;

	fill_groups();
	txn = wbegin();
	ck_assert_int_eq(ck_meta_group_del(meta, txn, "g"), 0);
	ck_assert_int_eq(ck_meta_group_del(meta, txn, "g"), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_meta_group_del(meta, txn, "nope"), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_meta_group_del(meta, txn, ""), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_assert_str_eq(groups_str(), "g.a,h");
	ck_assert_str_eq(offsets_str("g"), "");
	ck_assert_str_eq(offsets_str("g.a"), "a/1=11,a/256=21,a.b/1=41,ab/0=31");
	ck_assert_int_eq(offset_of("g", "a", 65536), -1);
}
END_TEST

/* A topic's offsets go from every group, other topics' stay (also those
 * whose names extend it), and a group left without offsets is no more. */
START_TEST(test_topic_offsets_del)
{
	MDB_txn *txn;

	fill_groups();
	txn = wbegin();
	put_offset(txn, "only-a", "a", 0, 7);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_assert_str_eq(groups_str(), "g,g.a,h,only-a");
	txn = wbegin();
	ck_assert_int_eq(ck_meta_topic_offsets_del(meta, txn, "a"), 0);
	ck_assert_int_eq(ck_meta_topic_offsets_del(meta, txn, "a"), 0);
	ck_assert_int_eq(ck_meta_topic_offsets_del(meta, txn, "zz"), 0);
	ck_assert_int_eq(ck_meta_topic_offsets_del(meta, txn, ""), CK_E_INVALID);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_assert_str_eq(groups_str(), "g,g.a,h");
	ck_assert_str_eq(offsets_str("g"), "a.b/1=42,ab/0=32");
	ck_assert_str_eq(offsets_str("g.a"), "a.b/1=41,ab/0=31");
	ck_assert_str_eq(offsets_str("h"), "a.b/1=40,ab/0=30");
}
END_TEST

/* Bad arguments are refused before LMDB sees them; a 256-byte group
 * (CK_META_GROUP_MAX) fits with the longest valid topic name (249 bytes),
 * not with a 255-byte one (LMDB's keys end at 511 bytes). */
START_TEST(test_group_bad_args)
{
	Chronik__Meta__GroupOffsetRecord rec = CHRONIK__META__GROUP_OFFSET_RECORD__INIT,
	                                 *got = NULL;
	char n255[256], n256[257], n257[258], t249[250];
	MDB_txn *txn = wbegin();

	memset(n255, 'x', 255);
	n255[255] = '\0';
	memset(n256, 'y', 256);
	n256[256] = '\0';
	memset(n257, 'z', 257);
	n257[257] = '\0';
	memset(t249, 't', 249);
	t249[249] = '\0';
	ck_assert_int_eq(ck_meta_group_offset_put(meta, txn, NULL, "t", 0, &rec), CK_E_INVALID);
	ck_assert_int_eq(ck_meta_group_offset_put(meta, txn, "g", "", 0, &rec), CK_E_INVALID);
	ck_assert_int_eq(ck_meta_group_offset_put(meta, txn, "g", "t", -1, &rec), CK_E_INVALID);
	ck_assert_int_eq(ck_meta_group_offset_put(meta, txn, n257, "t", 0, &rec), CK_E_TOO_LARGE);
	ck_assert_int_eq(ck_meta_group_offset_put(meta, txn, "g", n256, 0, &rec), CK_E_TOO_LARGE);
	ck_assert_int_eq(ck_meta_group_offset_get(meta, txn, "g", "t", -1, &got), CK_E_INVALID);
	ck_assert_int_eq(ck_meta_group_offset_get(meta, txn, n257, "t", 0, &got), CK_E_TOO_LARGE);
	ck_assert_int_eq(
	    ck_meta_group_offsets_foreach(meta, txn, NULL, collect_offset, &(walk_t){0}),
	    CK_E_INVALID);
	ck_assert_int_eq(ck_meta_group_del(meta, txn, n257), CK_E_TOO_LARGE);
	ck_assert_int_eq(ck_meta_topic_offsets_del(meta, txn, n256), CK_E_TOO_LARGE);
	ck_assert_int_eq(ck_meta_group_offset_put(meta, txn, n256, n255, 0, &rec), CK_E_TOO_LARGE);
	ck_assert_ptr_null(got);
	put_offset(txn, n256, t249, INT32_MAX, 8);
	ck_assert_int_eq(ck_meta_topic_offsets_del(meta, txn, n255), 0); /* no key can hold it */
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_assert_int_eq(offset_of(n256, t249, INT32_MAX), 8);
	ck_assert_str_eq(groups_str(), n256);
	txn = wbegin();
	ck_assert_int_eq(ck_meta_topic_offsets_del(meta, txn, t249), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_assert_str_eq(groups_str(), "");
}
END_TEST

/* The empty group keeps offsets as any other (Kafka's OffsetCommit of ""),
 * beside a group whose name sorts first. */
START_TEST(test_group_empty_name)
{
	MDB_txn *txn = wbegin();

	put_offset(txn, "", "t", 1, 7);
	put_offset(txn, "a", "t", 0, 3);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_assert_int_eq(offset_of("", "t", 1), 7);
	ck_assert_str_eq(offsets_str(""), "t/1=7");
	ck_assert_str_eq(offsets_str("a"), "t/0=3");
	ck_assert_str_eq(groups_str(), ",a");
	txn = wbegin();
	ck_assert_int_eq(ck_meta_group_del(meta, txn, ""), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_assert_str_eq(offsets_str(""), "");
	ck_assert_str_eq(groups_str(), "a");
}
END_TEST

/* Keys of another shape are skipped by every walk, a value that does not
 * unpack by the walks too (get says CK_E_CORRUPT). */
START_TEST(test_group_bad_keys_and_values)
{
	static const MDB_val bad[] = {
	    {5, "nonul"},                  /* no NUL */
	    {3, "g\0t"},                   /* no partition */
	    {7, "g\0t\0abc"},              /* 3-byte partition */
	    {7, "g\0\0\0\0\0\0"},          /* empty topic */
	    {8, "g\0t\0\xff\xff\xff\xff"}, /* partition over INT32_MAX */
	    {9, "g\0t\0x\0\0\0\0"},        /* a NUL in the topic */
	    {9, "x\0t\0\0\0\0\x01\x02"},   /* trailing byte, alone in group x */
	};
	MDB_val ck = {8, "g\0c\0\0\0\0\x01"}, cv = {3, "\xff\xff\xff"}, v = {0, ""};
	Chronik__Meta__GroupOffsetRecord *got = NULL;
	MDB_txn *txn = wbegin();
	MDB_dbi dbi;

	ck_assert_int_eq(mdb_dbi_open(txn, "groups", 0, &dbi), 0);
	for (size_t i = 0; i < CK_ARRAY_LEN(bad); i++)
		ck_assert_int_eq(mdb_put(txn, dbi, (MDB_val *)&bad[i], &v, 0), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &ck, &cv, 0), 0);
	put_offset(txn, "g", "t", 2, 5);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_assert_str_eq(offsets_str("g"), "t/2=5");
	ck_assert_str_eq(groups_str(), "g");
	txn = rbegin();
	ck_assert_int_eq(ck_meta_group_offset_get(meta, txn, "g", "c", 1, &got), CK_E_CORRUPT);
	ck_meta_read_end(txn);
	/* Deletes reach them all the same. */
	txn = wbegin();
	ck_assert_int_eq(ck_meta_topic_offsets_del(meta, txn, "t"), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_assert_str_eq(offsets_str("g"), "");
	txn = wbegin();
	ck_assert_int_eq(ck_meta_group_del(meta, txn, "g"), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	txn = wbegin();
	ck_assert_int_eq(ck_meta_group_del(meta, txn, "g"), CK_E_NOT_FOUND);
	mdb_txn_abort(txn);
}
END_TEST

static Suite *meta_suite(void)
{
	Suite *s = suite_create("ck_meta");
	TCase *tc = tcase_create("meta");

	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip_and_reopen);
	tcase_add_test(tc, test_raw_views);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_foreach_order);
	tcase_add_test(tc, test_partitions_of_one_topic_walk);
	tcase_add_test(tc, test_topic_delete);
	tcase_add_test(tc, test_abort);
	tcase_add_test(tc, test_producer_blocks);
	tcase_add_test(tc, test_corrupt_values);
	tcase_add_test(tc, test_bad_keys);
#if defined(__SANITIZE_ADDRESS__)
	tcase_add_test_raise_signal(tc, test_nested_read, SIGABRT);
#else
	tcase_add_test(tc, test_nested_read);
#endif
	tcase_add_test(tc, test_read_after_read);
	tcase_add_test(tc, test_offsets_dbi);
	tcase_add_test(tc, test_changes_put_walk_trim);
	tcase_add_test(tc, test_changes_floor_restarts);
	tcase_add_test(tc, test_unsynced_marker);
	tcase_add_test(tc, test_group_offset_round_trip);
	tcase_add_test(tc, test_group_offsets_walk);
	tcase_add_test(tc, test_groups_walk);
	tcase_add_test(tc, test_group_del);
	tcase_add_test(tc, test_topic_offsets_del);
	tcase_add_test(tc, test_group_bad_args);
	tcase_add_test(tc, test_group_empty_name);
	tcase_add_test(tc, test_group_bad_keys_and_values);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(meta_suite());
}
