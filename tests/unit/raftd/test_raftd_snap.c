/*
 * test_raftd_snap.c: unit tests of raftd's metadata snapshots
 * (raftd/raftd_snap.h): the snapshot record round trips and refuses
 * damage, a snapshot is an LMDB copy holding the state at its index (a
 * copy taken while the environment moves on is named by the index it
 * holds), installing one replaces raftd's databases in a live environment
 * in one transaction (consumer group offsets and states included; a snapshot from
 * before "groups" installs none) and leaves the node-local "offsets"
 * alone, a received
 * snapshot is assembled from chunks and checked (size, CRC, its applied
 * index), and old snapshot files are pruned.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_crc32c.h"
#include "ck_err.h"
#include "ck_lmdb.h"
#include "ck_testlib.h"
#include "raftd_snap.h"

static char a[128], b[128];

static void setup(void)
{
	char p[256];

	ck_test_mkdtemp(a, sizeof(a), "snap-a");
	ck_test_mkdtemp(b, sizeof(b), "snap-b");
	snprintf(p, sizeof(p), "%s/raft", a);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/raft", b);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

/* Writes topics NAMES (NULL-terminated) and APPLIED into META. */
/* Takes a snapshot of META (copy, then publish); returns its index. */
static uint64_t snap_make(ck_meta_t *meta, const char *dir, uint64_t *ret_bytes)
{
	uint64_t index = 0;

	ck_assert_int_eq(raftd_snap_copy(meta, dir, &index, ret_bytes), 0);
	ck_assert_int_eq(raftd_snap_publish(dir, index), 0);
	return index;
}

static void fill(ck_meta_t *meta, const char *const *names, uint64_t applied)
{
	static uint8_t id[16] = {1, 2, 3};
	MDB_txn *txn;

	ck_assert_int_eq(ck_meta_write_begin(meta, &txn), 0);
	for (size_t i = 0; names[i]; i++) {
		Chronik__Meta__TopicRecord t = CHRONIK__META__TOPIC_RECORD__INIT;
		Chronik__Meta__PartitionRecord p = CHRONIK__META__PARTITION_RECORD__INIT;
		int32_t r = 1;

		t.name = (char *)names[i];
		t.topic_id.data = id;
		t.topic_id.len = sizeof(id);
		t.partitions = 1;
		ck_assert_int_eq(ck_meta_topic_put(meta, txn, &t), 0);
		p.topic = (char *)names[i];
		p.replicas = p.isr = &r;
		p.n_replicas = p.n_isr = 1;
		p.leader = 1;
		ck_assert_int_eq(ck_meta_partition_put(meta, txn, &p), 0);
	}
	ck_assert_int_eq(ck_meta_applied_index_put(meta, txn, applied), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
}

/* Commits OFFSET for GROUP at topic "t", partition 0, into META. */
static void put_offset(ck_meta_t *meta, const char *group, int64_t offset)
{
	Chronik__Meta__GroupOffsetRecord rec = CHRONIK__META__GROUP_OFFSET_RECORD__INIT;
	MDB_txn *txn;

	rec.offset = offset;
	ck_assert_int_eq(ck_meta_write_begin(meta, &txn), 0);
	ck_assert_int_eq(ck_meta_group_offset_put(meta, txn, group, "t", 0, &rec), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
}

/* Stores a state of GROUP at generation GEN in META. */
static void put_gstate(ck_meta_t *meta, const char *group, int32_t gen)
{
	Chronik__Meta__GroupStateRecord rec = CHRONIK__META__GROUP_STATE_RECORD__INIT;
	MDB_txn *txn;

	rec.generation = gen;
	ck_assert_int_eq(ck_meta_write_begin(meta, &txn), 0);
	ck_assert_int_eq(ck_meta_group_state_put(meta, txn, group, &rec), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
}

/* The stored generation of GROUP in META, -1 when none. */
static int32_t gstate_of(ck_meta_t *meta, const char *group)
{
	Chronik__Meta__GroupStateRecord *rec = NULL;
	MDB_txn *txn;
	int32_t gen;
	int r;

	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	r = ck_meta_group_state_get(meta, txn, group, &rec);
	ck_meta_read_end(txn);
	if (r == CK_E_NOT_FOUND)
		return -1;
	ck_assert_int_eq(r, 0);
	gen = rec->generation;
	chronik__meta__group_state_record__free_unpacked(rec, NULL);
	return gen;
}

/* The offset of GROUP at "t"/0 in META, -1 when none. */
static int64_t offset_of(ck_meta_t *meta, const char *group)
{
	Chronik__Meta__GroupOffsetRecord *rec = NULL;
	MDB_txn *txn;
	int64_t off;
	int r;

	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	r = ck_meta_group_offset_get(meta, txn, group, "t", 0, &rec);
	ck_meta_read_end(txn);
	ck_assert(r == 0 || r == CK_E_NOT_FOUND);
	off = r == 0 ? rec->offset : -1;
	chronik__meta__group_offset_record__free_unpacked(rec, NULL);
	return off;
}

static int count_cb(void *arg, const Chronik__Meta__TopicRecord *rec)
{
	(void)rec;
	(*(size_t *)arg)++;
	return 0;
}

static size_t topics(ck_meta_t *meta, uint64_t *ret_applied)
{
	size_t n = 0;
	MDB_txn *txn;

	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	ck_assert_int_eq(ck_meta_topics_foreach(meta, txn, count_cb, &n), 0);
	ck_assert_int_eq(ck_meta_applied_index(meta, txn, ret_applied), 0);
	ck_meta_read_end(txn);
	return n;
}

START_TEST(test_meta_record)
{
	raftd_snap_meta_t m = {1234, 5, 1200, true}, got;
	char path[256];
	int fd;
	uint8_t x;

	ck_assert_int_eq(raftd_snap_meta_load(a, &got), 0);
	ck_assert_uint_eq(got.index, 0);
	ck_assert_int_eq(raftd_snap_meta_save(a, &m), 0);
	ck_assert_int_eq(raftd_snap_meta_load(a, &got), 1);
	ck_assert_uint_eq(got.index, 1234);
	ck_assert_uint_eq(got.term, 5);
	ck_assert_uint_eq(got.compact, 1200);
	ck_assert(got.pending);
	m.pending = false;
	ck_assert_int_eq(raftd_snap_meta_save(a, &m), 0);
	ck_assert_int_eq(raftd_snap_meta_load(a, &got), 1);
	ck_assert(!got.pending);
	/* One flipped bit anywhere: damaged. */
	snprintf(path, sizeof(path), "%s/raft/snapshot", a);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &x, 1, 20), 1);
	x ^= 1;
	ck_assert_int_eq(pwrite(fd, &x, 1, 20), 1);
	(void)close(fd);
	ck_assert_int_eq(raftd_snap_meta_load(a, &got), CK_E_CORRUPT);
}
END_TEST

/* A copy taken while the environment moves on (raftd's snapshot thread)
 * is named by the index it holds, and becomes that snapshot. */
START_TEST(test_copy_then_publish)
{
	ck_meta_t *ma;
	char path[PATH_MAX], tmp[PATH_MAX];
	uint64_t index = 0, applied = 0, bytes = 0;
	struct stat sb;

	ck_assert_int_eq(ck_meta_open(a, &ma), 0);
	fill(ma, (const char *const[]){"alpha", NULL}, 5);
	fill(ma, (const char *const[]){"beta", NULL}, 6);
	ck_assert_int_eq(raftd_snap_copy(ma, a, &index, &bytes), 0);
	ck_assert_uint_eq(index, 6);
	ck_assert_uint_gt(bytes, 0);
	snprintf(tmp, sizeof(tmp), "%s/raft/snap-make.tmp", a);
	ck_assert_int_eq(stat(tmp, &sb), 0);
	fill(ma, (const char *const[]){"gamma", NULL}, 7); /* after the copy */
	ck_assert_int_eq(raftd_snap_publish(a, index), 0);
	ck_assert_int_ne(stat(tmp, &sb), 0);
	ck_assert_int_eq(raftd_snap_path(path, sizeof(path), a, 6), 0);
	ck_assert_int_eq(raftd_snap_check(path, &applied), 0);
	ck_assert_uint_eq(applied, 6);
	/* A copy nobody wants goes. */
	ck_assert_int_eq(raftd_snap_copy(ma, a, &index, NULL), 0);
	ck_assert_uint_eq(index, 7);
	raftd_snap_copy_drop(a);
	ck_assert_int_ne(stat(tmp, &sb), 0);
	ck_meta_close(ma);
}
END_TEST

START_TEST(test_create_check_install)
{
	static const char *const one[] = {"alpha", "beta", "gamma", NULL};
	static const char *const two[] = {"old1", "old2", NULL};
	ck_meta_t *ma, *mb;
	char path[PATH_MAX], val[16];
	uint64_t applied = 0, bytes = 0;
	size_t len = 0;

	ck_assert_int_eq(ck_meta_open(a, &ma), 0);
	ck_assert_int_eq(ck_meta_open(b, &mb), 0);
	put_offset(ma, "g", 41);
	put_offset(mb, "old", 5);
	put_gstate(ma, "g", 4);
	put_gstate(mb, "old", 2);
	fill(ma, one, 17);
	fill(mb, two, 9);
	ck_assert_int_eq(ck_lmdb_put(ck_meta_env(mb), ck_meta_offsets_dbi(mb), "wal/x-0", 7, "keep",
	                             4),
	                 0);
	/* Named by the applied index it holds, no other. */
	ck_assert_uint_ne(snap_make(ma, a, &bytes), 16);
	ck_assert_int_eq(raftd_snap_path(path, sizeof(path), a, 16), 0);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_uint_gt(bytes, 0);
	ck_assert_int_eq(raftd_snap_path(path, sizeof(path), a, 17), 0);
	ck_assert_int_eq(raftd_snap_check(path, &applied), 0);
	ck_assert_uint_eq(applied, 17);
	/* Changes after the copy are not in it. */
	fill(ma, (const char *const[]){"later", NULL}, 18);

	ck_assert_int_eq(raftd_snap_install(mb, path), 0);
	ck_assert_uint_eq(topics(mb, &applied), 3);
	ck_assert_uint_eq(applied, 17);
	ck_assert_int_eq(ck_lmdb_get(ck_meta_env(mb), ck_meta_offsets_dbi(mb), "wal/x-0", 7, val,
	                             sizeof(val), &len),
	                 0);
	ck_assert_mem_eq(val, "keep", 4);
	/* Group offsets travel with the snapshot, and replace the old. */
	ck_assert_int_eq(offset_of(mb, "g"), 41);
	ck_assert_int_eq(offset_of(mb, "old"), -1);
	ck_assert_int_eq(gstate_of(mb, "g"), 4);
	ck_assert_int_eq(gstate_of(mb, "old"), -1);
	ck_meta_close(ma);
	ck_meta_close(mb);
	/* Not an LMDB file. */
	ck_test_write_file(path, "junk", 4);
	ck_assert_int_eq(raftd_snap_check(path, &applied), CK_E_CORRUPT);
}
END_TEST

/* A snapshot from before "groups" (the database missing from the file)
 * installs fine, and leaves no group offset behind. */
START_TEST(test_install_without_groups)
{
	ck_meta_t *ma, *mb;
	char path[PATH_MAX];
	uint64_t applied = 0;
	MDB_txn *txn;
	MDB_dbi dbi;

	ck_assert_int_eq(ck_meta_open(a, &ma), 0);
	ck_assert_int_eq(ck_meta_open(b, &mb), 0);
	fill(ma, (const char *const[]){"alpha", NULL}, 4);
	ck_assert_int_eq(ck_meta_write_begin(ma, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "groups", 0, &dbi), 0);
	ck_assert_int_eq(mdb_drop(txn, dbi, 1), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	put_offset(mb, "g", 3);
	ck_assert_int_eq(raftd_snap_path(path, sizeof(path), a, snap_make(ma, a, NULL)), 0);
	ck_meta_close(ma);

	ck_assert_int_eq(raftd_snap_install(mb, path), 0);
	ck_assert_uint_eq(topics(mb, &applied), 1);
	ck_assert_uint_eq(applied, 4);
	ck_assert_int_eq(offset_of(mb, "g"), -1);
	put_offset(mb, "g", 6); /* and the database still takes writes */
	ck_assert_int_eq(offset_of(mb, "g"), 6);
	ck_meta_close(mb);
}
END_TEST

/* Sends the file PATH as chunks of STEP bytes into RX; returns the last
 * result. CRC_XOR damages the checksum. */
static int feed(raftd_snap_rx_t *rx, const char *path, uint64_t index, size_t step,
                uint32_t crc_xor)
{
	ck_buf_t file = CK_BUF_INIT;
	int r = 0;

	ck_assert_int_eq(ck_test_read_file(path, &file), 0);
	for (size_t off = 0; off < file.len; off += step) {
		Chronik__Raftnet__SnapshotChunk c = CHRONIK__RAFTNET__SNAPSHOT_CHUNK__INIT;
		size_t n = CK_MIN(step, file.len - off);

		c.index = index;
		c.term = 3;
		c.offset = off;
		c.data.data = file.data + off;
		c.data.len = n;
		c.total_bytes = file.len;
		c.last = off + n == file.len;
		c.crc32c = c.last ? ck_crc32c(0, file.data, file.len) ^ crc_xor : 0;
		r = raftd_snap_rx_chunk(rx, b, &c);
		if (!c.last)
			ck_assert_int_eq(r, 0);
	}
	ck_buf_free(&file);
	return r;
}

START_TEST(test_receive)
{
	static const char *const one[] = {"alpha", NULL};
	raftd_snap_rx_t rx;
	Chronik__Raftnet__SnapshotChunk c = CHRONIK__RAFTNET__SNAPSHOT_CHUNK__INIT;
	ck_meta_t *ma;
	char src[PATH_MAX], dst[PATH_MAX];
	uint64_t applied = 0;

	ck_assert_int_eq(ck_meta_open(a, &ma), 0);
	fill(ma, one, 40);
	ck_assert_uint_eq(snap_make(ma, a, NULL), 40);
	ck_meta_close(ma);
	ck_assert_int_eq(raftd_snap_path(src, sizeof(src), a, 40), 0);
	ck_assert_int_eq(raftd_snap_path(dst, sizeof(dst), b, 40), 0);
	raftd_snap_rx_init(&rx);

	/* A damaged checksum: dropped. */
	ck_assert_int_eq(feed(&rx, src, 40, 1000, 1), CK_E_CORRUPT);
	ck_assert(!rx.complete);
	ck_assert_int_ne(access(dst, F_OK), 0);
	/* Claiming another index than the file's: dropped. */
	ck_assert_int_eq(feed(&rx, src, 41, 4096, 0), CK_E_CORRUPT);
	/* A chunk that does not continue anything: ignored. */
	c.index = 40;
	c.offset = 5;
	c.total_bytes = 10;
	ck_assert_int_eq(raftd_snap_rx_chunk(&rx, b, &c), CK_E_OUT_OF_ORDER);
	/* Whole, in odd pieces; an earlier partial transfer starts over. */
	ck_assert_int_eq(feed(&rx, src, 40, 777, 0), 1);
	ck_assert(rx.complete);
	ck_assert_uint_eq(rx.index, 40);
	ck_assert_uint_eq(rx.term, 3);
	ck_assert_int_eq(raftd_snap_check(dst, &applied), 0);
	ck_assert_uint_eq(applied, 40);
	raftd_snap_rx_reset(&rx, b);
}
END_TEST

/* Small states keep the configured interval; a large one gets one entry
 * per RAFTD_SNAP_BYTES_PER_ENTRY of its size when that is more. */
START_TEST(test_interval_scales_with_size)
{
	uint64_t big = (uint64_t)52 << 20;

	ck_assert_uint_eq(raftd_snap_interval(100000, 0), 100000);
	ck_assert_uint_eq(raftd_snap_interval(3, 200 << 10), 3);
	ck_assert_uint_eq(raftd_snap_interval(3, RAFTD_SNAP_SCALE_BYTES - 1), 3);
	ck_assert_uint_eq(raftd_snap_interval(3, RAFTD_SNAP_SCALE_BYTES),
	                  RAFTD_SNAP_SCALE_BYTES / RAFTD_SNAP_BYTES_PER_ENTRY);
	ck_assert_uint_eq(raftd_snap_interval(100000, big), big / RAFTD_SNAP_BYTES_PER_ENTRY);
	ck_assert_uint_gt(raftd_snap_interval(100000, big), 400000);
	/* A configured interval above the size's stays. */
	ck_assert_uint_eq(raftd_snap_interval(5000000, big), 5000000);
}
END_TEST

/* Nodes take their snapshots at their own phases of the interval, at
 * least half an interval after the last, at most one and a half. */
START_TEST(test_due_spreads_nodes)
{
	uint64_t due[6];

	for (int32_t id = 1; id <= 5; id++)
		due[id] = raftd_snap_due(0, 100000, id);
	ck_assert_uint_eq(due[1], 100000);
	ck_assert_uint_eq(due[2], 125000);
	ck_assert_uint_eq(due[3], 50000);
	ck_assert_uint_eq(due[4], 75000);
	ck_assert_uint_eq(due[5], due[1]);
	/* The phase holds from one snapshot to the next. */
	ck_assert_uint_eq(raftd_snap_due(100000, 100000, 1), 200000);
	ck_assert_uint_eq(raftd_snap_due(125000, 100000, 2), 225000);
	ck_assert_uint_eq(raftd_snap_due(50000, 100000, 3), 150000);
	/* A snapshot installed from the leader (or a failed try) at any index:
	 * the next one comes back to the node's phase within the bounds. */
	for (uint64_t floor = 0; floor < 300000; floor += 7919) {
		for (int32_t id = 1; id <= 4; id++) {
			uint64_t d = raftd_snap_due(floor, 100000, id);

			ck_assert_uint_ge(d, floor + 50000);
			ck_assert_uint_lt(d, floor + 150000);
			ck_assert_uint_eq(d % 100000, (uint64_t)(id - 1) * 25000);
		}
	}
	/* Tiny intervals and a missing node id stay sane. */
	ck_assert_uint_eq(raftd_snap_due(10, 1, 3), 10);
	ck_assert_uint_eq(raftd_snap_due(10, 3, 2), 12);
	ck_assert_uint_eq(raftd_snap_due(0, 0, 0), 0);
}
END_TEST

START_TEST(test_prune)
{
	char p[PATH_MAX];

	for (uint64_t i = 1; i <= 3; i++) {
		ck_assert_int_eq(raftd_snap_path(p, sizeof(p), a, i * 100), 0);
		ck_test_write_file(p, "x", 1);
	}
	raftd_snap_prune(a, 200);
	ck_assert_int_eq(raftd_snap_path(p, sizeof(p), a, 200), 0);
	ck_assert_int_eq(access(p, F_OK), 0);
	ck_assert_int_eq(raftd_snap_path(p, sizeof(p), a, 100), 0);
	ck_assert_int_ne(access(p, F_OK), 0);
	ck_assert_int_eq(raftd_snap_path(p, sizeof(p), a, 300), 0);
	ck_assert_int_ne(access(p, F_OK), 0);
}
END_TEST

static Suite *snap_suite(void)
{
	Suite *s = suite_create("raftd_snap");
	TCase *tc = tcase_create("snap");

	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_meta_record);
	tcase_add_test(tc, test_create_check_install);
	tcase_add_test(tc, test_install_without_groups);
	tcase_add_test(tc, test_copy_then_publish);
	tcase_add_test(tc, test_receive);
	tcase_add_test(tc, test_prune);
	tcase_add_test(tc, test_interval_scales_with_size);
	tcase_add_test(tc, test_due_spreads_nodes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(snap_suite());
}
