/*
 * test_wal_recover.c: the file layer of chronik-walwriter on temp dirs
 * (walwriter/wal_store.h): writing through the group-commit steps, then
 * recovery after torn writes at every byte of the last batch, flipped bytes,
 * zero and garbage tails, lost or wrong indexes, checkpoint resumption,
 * truncation, rolls, retention and preallocation (paused after a failed zero
 * fill, taken up again once the log grew). Everything a reader sees
 * afterwards is checked through common/ck_segment.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_err.h"
#include "ck_log.h"
#include "ck_segment.h"
#include "wal_store.h"
#include "wal_test.h"

static const wal_log_cfg_t cfg_default = {1 << 30, 7LL * 24 * 3600 * 1000, -1, -1, 1 << 20, 256};

typedef struct {
	char data[128];
	char dir[256];
	wal_store_t *s;
	ck_buf_t all;      /* every batch written, concatenated */
	int64_t offs[512]; /* base offset of batch i */
	size_t lens[512];
	int n;
	int64_t next; /* the log end the writes should have left */
} fx_t;

static void fx_open(fx_t *f, const wal_log_cfg_t *cfg)
{
	char p[256];

	memset(f, 0, sizeof(*f));
	ck_test_mkdtemp(f->data, sizeof(f->data), "rec");
	snprintf(p, sizeof(p), "%s/log", f->data);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(wal_store_create(f->data, "t", 0, cfg, cfg, NULL, &f->s), 0);
	snprintf(f->dir, sizeof(f->dir), "%s/log/t-0", f->data);
	ck_assert_int_ne(access(f->dir, F_OK), 0); /* on disk with the first append */
}

static void fx_close(fx_t *f)
{
	wal_store_free(f->s);
	ck_buf_free(&f->all);
	(void)ck_test_rmtree(f->data);
}

static int64_t fx_end(const fx_t *f)
{
	wal_store_stats_t st;
	wal_store_stats(f->s, &st);
	return st.end_offset;
}

/* Writes NB batches (one group) of varied sizes at the log end. */
static void fx_append(fx_t *f, int nb, unsigned seed)
{
	ck_buf_t buf = CK_BUF_INIT;
	wal_store_stats_t st;

	wal_store_stats(f->s, &st);
	for (int i = 0; i < nb; i++) {
		int nrec = 1 + (int)((seed + (unsigned)i) % 3);
		size_t len = wal_test_batch(&buf, st.end_offset, nrec,
		                            20 + (seed * 31 + (unsigned)i * 17) % 200,
		                            seed + (unsigned)i, 1000000 + f->n);
		f->offs[f->n] = st.end_offset;
		f->lens[f->n++] = len;
		st.end_offset += nrec;
	}
	ck_assert_int_eq(wal_store_stage(f->s, buf.data, buf.len, 1000000 + f->n), 0);
	ck_assert_int_eq(wal_store_flush(f->s), 0);
	ck_assert_int_eq(wal_store_sync(f->s), 0);
	ck_assert_int_eq(ck_buf_append(&f->all, buf.data, buf.len), 0);
	f->next = st.end_offset;
	ck_assert_int_eq(fx_end(f), f->next);
	ck_buf_free(&buf);
}

/* Recovers the log (freeing the current store first). */
static int fx_recover(fx_t *f, const wal_ckpt_t *ck, wal_store_cut_t *cut)
{
	wal_store_free(f->s);
	f->s = NULL;
	return wal_store_recover(f->data, "t", 0, ck, &cfg_default, false, &f->s, cut);
}

/* Reads every batch of every segment through ck_segment with CRC checks
 * into OUT; returns the number of batches. */
static int fx_read_all(const fx_t *f, ck_buf_t *out)
{
	int64_t *bases = NULL;
	int n = ck_segment_list(f->dir, &bases), count = 0, r;

	ck_assert_int_ge(n, 1);
	ck_buf_reset(out);
	for (int i = 0; i < n; i++) {
		ck_segment_t seg;
		ck_segment_iter_t it;
		ck_assert_int_eq(ck_segment_open(f->dir, bases[i], &seg), 0);
		ck_assert_int_eq(ck_segment_iter_init(&it, &seg, 0, UINT64_MAX, INT64_MAX,
		                                      CK_SEGMENT_VERIFY_CRC),
		                 0);
		while ((r = ck_segment_iter_next(&it)) == 1) {
			ck_assert_int_eq(ck_segment_iter_read(&it, out), 0);
			count++;
		}
		ck_assert_int_eq(r, 0);
		ck_assert(it.end == CK_SEGMENT_END_EOF || it.end == CK_SEGMENT_END_ZERO);
		ck_segment_iter_done(&it);
		ck_segment_close(&seg);
	}
	free(bases);
	return count;
}

static void seg_path(const fx_t *f, int64_t base, ck_segment_file_t k, char *buf, size_t len)
{
	ck_assert_int_eq(ck_segment_path(buf, len, f->dir, base, k), 0);
}

START_TEST(test_write_and_recover)
{
	fx_t f;
	wal_store_cut_t cut;
	wal_store_stats_t st;
	ck_buf_t got = CK_BUF_INIT, idx1 = CK_BUF_INIT, idx2 = CK_BUF_INIT;
	char p[512];

	fx_open(&f, &cfg_default);
	for (int g = 0; g < 10; g++)
		fx_append(&f, 1 + g % 4, (unsigned)g);
	ck_assert_int_eq(fx_read_all(&f, &got), f.n);
	ck_assert_mem_eq(got.data, f.all.data, f.all.len);
	seg_path(&f, 0, CK_SEGMENT_FILE_INDEX, p, sizeof(p));
	ck_assert_int_eq(ck_test_read_file(p, &idx1), 0);
	ck_assert_uint_gt(idx1.len, 0);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(!cut.cut);
	wal_store_stats(f.s, &st);
	ck_assert_int_eq(st.end_offset, f.next);
	ck_assert_uint_eq(st.size_bytes, f.all.len);
	ck_assert_int_eq(st.segments, 1);
	/* The index a recovery derives is the one the writer wrote. */
	ck_assert_int_eq(ck_test_read_file(p, &idx2), 0);
	ck_assert_uint_eq(idx2.len, idx1.len);
	ck_assert_mem_eq(idx2.data, idx1.data, idx1.len);
	/* And writing goes on where it stopped. */
	fx_append(&f, 3, 99);
	ck_assert_int_eq(fx_read_all(&f, &got), f.n);
	ck_assert_mem_eq(got.data, f.all.data, f.all.len);
	ck_buf_free(&got);
	ck_buf_free(&idx1);
	ck_buf_free(&idx2);
	fx_close(&f);
}
END_TEST

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

START_TEST(test_torn_tail_every_byte)
{
	fx_t f;
	wal_store_cut_t cut;
	ck_buf_t got = CK_BUF_INIT;
	char p[512];
	size_t last_pos, end;

	fx_open(&f, &cfg_default);
	for (int g = 0; g < 4; g++)
		fx_append(&f, 3, (unsigned)g);
	last_pos = f.all.len - f.lens[f.n - 1];
	seg_path(&f, 0, CK_SEGMENT_FILE_LOG, p, sizeof(p));
	ck_log_set_level(CK_LOG_ERROR); /* one warning per cut: too many to read */
	for (end = last_pos + 1; end < f.all.len; end++) {
		ck_test_write_file(p, f.all.data, end);
		ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
		if (all_zero(f.all.data + last_pos, end - last_pos)) {
			/* The zero high bytes of the base offset alone: taken for
			 * preallocated space (test_short_zero_tail). */
			ck_assert(!cut.cut);
			ck_assert_int_eq(fx_read_all(&f, &got), f.n - 1);
			continue;
		}
		ck_assert_msg(cut.cut, "no cut at %zu", end);
		ck_assert_str_eq(cut.reason, "torn");
		ck_assert_uint_eq(cut.position, last_pos);
		ck_assert_uint_eq(cut.bytes_cut, end - last_pos);
		ck_assert_int_eq(fx_end(&f), f.offs[f.n - 1]);
		ck_assert_int_eq(ck_test_file_size(p), (off_t)last_pos);
		ck_assert_int_eq(fx_read_all(&f, &got), f.n - 1);
		ck_assert_mem_eq(got.data, f.all.data, last_pos);
	}
	ck_log_set_level(CK_LOG_INFO);
	ck_buf_free(&got);
	fx_close(&f);
}
END_TEST

START_TEST(test_flipped_byte)
{
	fx_t f;
	wal_store_cut_t cut;
	ck_buf_t got = CK_BUF_INIT;
	char p[512];
	size_t pos5;

	fx_open(&f, &cfg_default);
	for (int g = 0; g < 4; g++)
		fx_append(&f, 3, (unsigned)g);
	pos5 = 0;
	for (int i = 0; i < 5; i++)
		pos5 += f.lens[i];
	seg_path(&f, 0, CK_SEGMENT_FILE_LOG, p, sizeof(p));
	f.all.data[pos5 + f.lens[5] - 3] ^= 0x40;
	ck_test_write_file(p, f.all.data, f.all.len);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(cut.cut);
	ck_assert_str_eq(cut.reason, "crc");
	ck_assert_uint_eq(cut.position, pos5);
	ck_assert_uint_eq(cut.bytes_cut, f.all.len - pos5);
	ck_assert_int_eq(fx_end(&f), f.offs[5]);
	ck_assert_int_eq(fx_read_all(&f, &got), 5);
	ck_assert_mem_eq(got.data, f.all.data, pos5);
	/* A bad length field is cut too. */
	f.all.data[pos5 + f.lens[5] - 3] ^= 0x40;
	ck_be32_put(f.all.data + pos5 - f.lens[4] + 8, 20);
	ck_test_write_file(p, f.all.data, f.all.len);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(cut.cut);
	ck_assert_str_eq(cut.reason, "length");
	ck_assert_int_eq(fx_end(&f), f.offs[4]);
	ck_buf_free(&got);
	fx_close(&f);
}
END_TEST

START_TEST(test_zero_and_garbage_tails)
{
	fx_t f;
	wal_store_cut_t cut;
	ck_buf_t got = CK_BUF_INIT, tail = CK_BUF_INIT;
	char p[512];

	fx_open(&f, &cfg_default);
	fx_append(&f, 5, 1);
	seg_path(&f, 0, CK_SEGMENT_FILE_LOG, p, sizeof(p));
	/* Preallocated zeros: normal, nothing cut, the tail stays. */
	ck_assert_ptr_nonnull(ck_buf_extend(&tail, 10000));
	memset(tail.data, 0, tail.len);
	ck_assert_int_eq(ck_buf_append(&tail, f.all.data, f.all.len), 0);
	memcpy(tail.data + 10000, f.all.data, f.all.len);
	ck_buf_reset(&tail);
	ck_assert_int_eq(ck_buf_append(&tail, f.all.data, f.all.len), 0);
	memset(ck_buf_extend(&tail, 10000), 0, 10000);
	ck_test_write_file(p, tail.data, tail.len);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(!cut.cut);
	ck_assert_int_eq(ck_test_file_size(p), (off_t)tail.len);
	ck_assert_int_eq(fx_read_all(&f, &got), f.n);
	/* Writing after recovery fills the zeros in place. */
	fx_append(&f, 2, 7);
	ck_assert_int_eq(ck_test_file_size(p), (off_t)tail.len);
	ck_assert_int_eq(fx_read_all(&f, &got), f.n);
	ck_assert_mem_eq(got.data, f.all.data, f.all.len);
	/* Garbage behind zeros: a torn write in preallocated space. */
	tail.data[f.all.len + 5000] = 0x33;
	memcpy(tail.data, f.all.data, f.all.len);
	ck_test_write_file(p, tail.data, tail.len);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(cut.cut);
	ck_assert_str_eq(cut.reason, "garbage");
	ck_assert_uint_eq(cut.position, f.all.len);
	ck_assert_int_eq(ck_test_file_size(p), (off_t)f.all.len);
	ck_buf_free(&got);
	ck_buf_free(&tail);
	fx_close(&f);
}
END_TEST

/* A zero tail shorter than a batch header (a segment preallocated up to a
 * small segment.bytes, then a clean stop) is no cut: it stays, and the
 * next append writes over it. A short tail with a non-zero byte is torn. */
START_TEST(test_short_zero_tail)
{
	fx_t f;
	wal_store_cut_t cut;
	ck_buf_t got = CK_BUF_INIT, tail = CK_BUF_INIT;
	char p[512];

	fx_open(&f, &cfg_default);
	fx_append(&f, 5, 1);
	seg_path(&f, 0, CK_SEGMENT_FILE_LOG, p, sizeof(p));
	ck_assert_int_eq(ck_buf_append(&tail, f.all.data, f.all.len), 0);
	memset(ck_buf_extend(&tail, 16), 0, 16);
	ck_test_write_file(p, tail.data, tail.len);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(!cut.cut);
	ck_assert_int_eq(ck_test_file_size(p), (off_t)tail.len);
	ck_assert_int_eq(fx_read_all(&f, &got), f.n);
	fx_append(&f, 2, 7);
	ck_assert_int_eq(fx_read_all(&f, &got), f.n);
	ck_assert_mem_eq(got.data, f.all.data, f.all.len);
	/* One non-zero byte in a short tail: torn, cut. */
	ck_buf_reset(&tail);
	ck_assert_int_eq(ck_buf_append(&tail, f.all.data, f.all.len), 0);
	memset(ck_buf_extend(&tail, 16), 0, 16);
	tail.data[f.all.len + 15] = 0x01;
	ck_test_write_file(p, tail.data, tail.len);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(cut.cut);
	ck_assert_str_eq(cut.reason, "torn");
	ck_assert_int_eq(ck_test_file_size(p), (off_t)f.all.len);
	ck_buf_free(&got);
	ck_buf_free(&tail);
	fx_close(&f);
}
END_TEST

START_TEST(test_checkpoint_resume)
{
	fx_t f;
	wal_store_cut_t cut;
	wal_ckpt_t ck;
	ck_buf_t got = CK_BUF_INIT, idx_full = CK_BUF_INIT, idx_ck = CK_BUF_INIT;
	char p[512], lp[512];

	fx_open(&f, &cfg_default);
	for (int g = 0; g < 6; g++)
		fx_append(&f, 3, (unsigned)g);
	ck_assert(wal_store_ckpt(f.s, &ck));
	ck_assert_int_eq(wal_store_index_sync(f.s), 0);
	wal_store_ckpt_taken(f.s, &ck);
	ck_assert(!wal_store_ckpt(f.s, &(wal_ckpt_t){0}));
	ck_assert_uint_eq(ck.position, f.all.len);
	ck_assert_int_eq(ck.next_offset, fx_end(&f));
	for (int g = 6; g < 12; g++)
		fx_append(&f, 3, (unsigned)g);
	seg_path(&f, 0, CK_SEGMENT_FILE_INDEX, p, sizeof(p));
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert_int_eq(ck_test_read_file(p, &idx_full), 0);
	/* From the checkpoint: same end, same index. */
	ck_assert_int_eq(fx_recover(&f, &ck, &cut), 0);
	ck_assert(!cut.cut);
	ck_assert_int_eq(fx_read_all(&f, &got), f.n);
	ck_assert_int_eq(ck_test_read_file(p, &idx_ck), 0);
	ck_assert_uint_eq(idx_ck.len, idx_full.len);
	ck_assert_mem_eq(idx_ck.data, idx_full.data, idx_full.len);
	/* Torn after the checkpoint: cut at the last batch. */
	seg_path(&f, 0, CK_SEGMENT_FILE_LOG, lp, sizeof(lp));
	ck_test_write_file(lp, f.all.data, f.all.len - 1);
	ck_assert_int_eq(fx_recover(&f, &ck, &cut), 0);
	ck_assert(cut.cut);
	ck_assert_int_eq(fx_end(&f), f.offs[f.n - 1]);
	/* A file now shorter than the checkpoint: rescanned from its start. */
	ck_test_write_file(lp, f.all.data, ck.position - 5);
	ck_assert_int_eq(fx_recover(&f, &ck, &cut), 0);
	ck_assert(cut.cut);
	ck_assert_str_eq(cut.reason, "torn");
	ck_assert_int_eq(fx_read_all(&f, &got), 17);
	ck_buf_free(&got);
	ck_buf_free(&idx_full);
	ck_buf_free(&idx_ck);
	fx_close(&f);
}
END_TEST

START_TEST(test_rolls_and_index_repair)
{
	wal_log_cfg_t c = cfg_default;
	fx_t f;
	wal_store_cut_t cut;
	wal_store_stats_t st;
	ck_buf_t got = CK_BUF_INIT, idx1 = CK_BUF_INIT, idx2 = CK_BUF_INIT;
	int64_t *bases = NULL;
	char p[512];
	int n;

	c.segment_bytes = 2000;
	fx_open(&f, &c);
	fx_append(&f, 2, 99); /* builds the directory and its settings file */
	wal_store_free(f.s);
	/* The settings file makes a restart use these settings. */
	ck_assert_int_eq(wal_store_recover(f.data, "t", 0, NULL, &cfg_default, false, &f.s, &cut),
	                 0);
	for (int g = 0; g < 30; g++)
		fx_append(&f, 2, (unsigned)g);
	wal_store_stats(f.s, &st);
	n = ck_segment_list(f.dir, &bases);
	ck_assert_int_gt(n, 3);
	ck_assert_int_eq(st.segments, n);
	ck_assert_int_eq(fx_read_all(&f, &got), f.n);
	ck_assert_mem_eq(got.data, f.all.data, f.all.len);
	/* A closed segment lost its index: rebuilt identically. */
	seg_path(&f, bases[1], CK_SEGMENT_FILE_INDEX, p, sizeof(p));
	ck_assert_int_eq(ck_test_read_file(p, &idx1), 0);
	ck_assert_int_eq(unlink(p), 0);
	seg_path(&f, bases[1], CK_SEGMENT_FILE_TIMEINDEX, p, sizeof(p));
	ck_assert_int_eq(ck_test_read_file(p, &idx2), 0);
	ck_test_write_file(p, "junk", 4);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(!cut.cut);
	ck_assert_int_eq(ck_test_read_file(p, &got), 0);
	ck_assert_uint_eq(got.len, idx2.len);
	ck_assert_mem_eq(got.data, idx2.data, idx2.len);
	seg_path(&f, bases[1], CK_SEGMENT_FILE_INDEX, p, sizeof(p));
	ck_assert_int_eq(ck_test_read_file(p, &got), 0);
	ck_assert_uint_eq(got.len, idx1.len);
	ck_assert_mem_eq(got.data, idx1.data, idx1.len);
	/* Corruption in a middle segment (no checkpoint: all is scanned):
	 * cut there, later segments dropped. */
	seg_path(&f, bases[2], CK_SEGMENT_FILE_LOG, p, sizeof(p));
	ck_assert_int_eq(ck_test_read_file(p, &got), 0);
	got.data[got.len - 2] ^= 1;
	ck_test_write_file(p, got.data, got.len);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(cut.cut);
	ck_assert_int_eq(cut.segment_base, bases[2]);
	ck_assert_int_eq(cut.segments_dropped, n - 3);
	free(bases);
	ck_assert_int_eq(ck_segment_list(f.dir, &bases), 3);
	wal_store_stats(f.s, &st);
	ck_assert_int_eq(st.segments, 3);
	fx_append(&f, 1, 500); /* the log goes on from the cut */
	ck_buf_free(&got);
	ck_buf_free(&idx1);
	ck_buf_free(&idx2);
	free(bases);
	fx_close(&f);
}
END_TEST

/* A segment file gone from the middle of a log: a single node keeps the
 * records on both sides, a node with peers cuts the log at the hole. */
START_TEST(test_hole_between_segments)
{
	wal_log_cfg_t c = cfg_default;
	fx_t f;
	wal_store_cut_t cut;
	wal_store_stats_t st;
	wal_ckpt_t ck;
	int64_t *bases = NULL, *left = NULL;
	char p[512];
	int n;

	c.segment_bytes = 2000;
	fx_open(&f, &c);
	for (int g = 0; g < 30; g++)
		fx_append(&f, 2, (unsigned)g);
	n = ck_segment_list(f.dir, &bases);
	ck_assert_int_gt(n, 4);
	ck_assert(wal_store_ckpt(f.s, &ck));
	ck_assert_int_eq(ck.segment_base, bases[n - 1]);
	for (int k = CK_SEGMENT_FILE_LOG; k <= CK_SEGMENT_FILE_TIMEINDEX; k++) {
		seg_path(&f, bases[2], (ck_segment_file_t)k, p, sizeof(p));
		ck_assert_int_eq(unlink(p), 0);
	}
	/* Without peers: everything else stays, the end too. */
	ck_assert_int_eq(fx_recover(&f, &ck, &cut), 0);
	ck_assert(!cut.cut);
	wal_store_stats(f.s, &st);
	ck_assert_int_eq(st.segments, n - 1);
	ck_assert_int_eq(st.start_offset, 0);
	ck_assert_int_eq(st.end_offset, f.next);
	ck_assert_int_eq(ck_segment_list(f.dir, &left), n - 1);
	free(left);
	/* With peers: cut where the hole starts, from the same checkpoint
	 * (which names a segment now removed) and without one. */
	for (int with_ck = 1; with_ck >= 0; with_ck--) {
		wal_store_free(f.s);
		f.s = NULL;
		ck_assert_int_eq(wal_store_recover(f.data, "t", 0, with_ck ? &ck : NULL,
		                                   &cfg_default, true, &f.s, &cut),
		                 0);
		wal_store_stats(f.s, &st);
		ck_assert_int_eq(st.segments, 2);
		ck_assert_int_eq(st.end_offset, bases[2]);
		ck_assert_int_eq(ck_segment_list(f.dir, &left), 2);
		ck_assert_int_eq(left[1], bases[1]);
		free(left);
	}
	fx_append(&f, 1, 700); /* the log goes on from the hole */
	ck_assert_int_gt(fx_end(&f), bases[2]);
	free(bases);
	fx_close(&f);
}
END_TEST

static int save_calls;
static wal_ckpt_t saved;
static int save_cb(void *arg, wal_store_t *s, const wal_ckpt_t *c)
{
	save_calls++;
	saved = *c;
	return 0;
}

START_TEST(test_truncate)
{
	wal_log_cfg_t c = cfg_default;
	fx_t f;
	wal_store_cut_t cut;
	wal_store_stats_t st;
	ck_buf_t got = CK_BUF_INIT;
	int64_t end, mid;
	int segs;

	c.segment_bytes = 1500;
	fx_open(&f, &c);
	for (int g = 0; g < 20; g++)
		fx_append(&f, 2, (unsigned)g);
	wal_store_stats(f.s, &st);
	segs = st.segments;
	end = st.end_offset;
	ck_assert_int_eq(wal_store_truncate(f.s, end + 1, save_cb, NULL), CK_E_OFFSET_RANGE);
	ck_assert_int_eq(wal_store_truncate(f.s, -1, save_cb, NULL), CK_E_OFFSET_RANGE);
	ck_assert_int_eq(wal_store_truncate(f.s, end, save_cb, NULL), 0); /* nothing to do */
	ck_assert_int_eq(save_calls, 0);
	/* Into the middle of batch 20 (which holds several offsets, if any):
	 * the whole batch goes, as in Kafka. */
	int k = 20;
	while (k < f.n && f.offs[k + 1] - f.offs[k] < 2)
		k++;
	mid = f.offs[k] + 1;
	ck_assert_int_eq(wal_store_truncate(f.s, mid, save_cb, NULL), 0);
	ck_assert_int_eq(save_calls, 1);
	ck_assert_uint_eq(saved.position, 0); /* recovery point before the cut */
	wal_store_stats(f.s, &st);
	ck_assert_int_eq(st.end_offset, f.offs[k]);
	ck_assert_int_lt(st.segments, segs);
	ck_assert_int_eq(fx_read_all(&f, &got), k);
	ck_assert_mem_eq(got.data, f.all.data, got.len);
	/* Appends continue at the new end; a recovery agrees. */
	f.n = k;
	f.all.len = got.len;
	fx_append(&f, 3, 77);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(!cut.cut);
	ck_assert_int_eq(fx_read_all(&f, &got), f.n);
	ck_assert_mem_eq(got.data, f.all.data, f.all.len);
	/* Down to the very start. */
	ck_assert_int_eq(wal_store_truncate(f.s, 0, save_cb, NULL), 0);
	wal_store_stats(f.s, &st);
	ck_assert_int_eq(st.end_offset, 0);
	ck_assert_int_eq(st.segments, 1);
	ck_assert_uint_eq(st.size_bytes, 0);
	ck_buf_free(&got);
	fx_close(&f);
}
END_TEST

START_TEST(test_retention_and_prealloc)
{
	wal_log_cfg_t c = cfg_default;
	fx_t f;
	wal_store_stats_t st;
	ck_buf_t got = CK_BUF_INIT, file = CK_BUF_INIT;
	wal_store_cut_t cut;
	char p[512];
	int64_t *bases = NULL;
	int n;

	c.segment_bytes = 1500;
	c.retention_bytes = 3000;
	fx_open(&f, &c);
	for (int g = 0; g < 20; g++)
		fx_append(&f, 2, (unsigned)g);
	n = ck_segment_list(f.dir, &bases);
	ck_assert_int_ge(wal_store_retention(f.s, 0, -1), 1);
	wal_store_stats(f.s, &st);
	ck_assert_int_lt(st.segments, n);
	ck_assert_uint_ge(st.size_bytes, 3000);
	free(bases);
	ck_assert_int_eq(ck_segment_list(f.dir, &bases), st.segments);
	ck_assert_int_eq(st.start_offset, bases[0]);
	ck_assert_int_eq(wal_store_retention(f.s, 0, -1), 0); /* settled */
	/* Preallocation: zeros ahead of the active segment, durable; readers
	 * and recovery treat them as the end. */
	wal_store_set_prealloc(f.s, 1000);
	ck_assert(wal_store_prealloc_wanted(f.s));
	while (wal_store_prealloc_step(f.s, 300) == 1)
		;
	ck_assert(!wal_store_prealloc_wanted(f.s));
	seg_path(&f, bases[st.segments - 1], CK_SEGMENT_FILE_LOG, p, sizeof(p));
	ck_assert_int_eq(ck_test_read_file(p, &file), 0);
	ck_assert_int_gt(file.len, 0);
	fx_append(&f, 1, 3);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(!cut.cut);
	wal_store_stats(f.s, &st);
	ck_assert_int_eq(st.end_offset, f.next);
	ck_buf_free(&got);
	ck_buf_free(&file);
	free(bases);
	fx_close(&f);
}
END_TEST

/* The zero tail of a log that has not filled a segment grows with what it
 * holds, from 64 KiB: a partition with a few records does not take
 * preallocate_bytes (8 MiB) of disk. */
START_TEST(test_prealloc_tail_follows_the_log)
{
	wal_log_cfg_t c = cfg_default;
	wal_store_stats_t st;
	int64_t *bases = NULL;
	char p[512];
	struct stat sb;
	fx_t f;

	c.segment_bytes = 4 << 20;
	fx_open(&f, &c);
	fx_append(&f, 2, 1);
	wal_store_set_prealloc(f.s, 1u << 20);
	for (int round = 0; round < 2; round++) {
		uint64_t want;

		while (wal_store_prealloc_step(f.s, 300 << 10) == 1)
			;
		ck_assert(!wal_store_prealloc_wanted(f.s));
		wal_store_stats(f.s, &st);
		ck_assert_int_eq(st.segments, 1);
		ck_assert_int_eq(ck_segment_list(f.dir, &bases), 1);
		seg_path(&f, bases[0], CK_SEGMENT_FILE_LOG, p, sizeof(p));
		free(bases);
		bases = NULL;
		ck_assert_int_eq(stat(p, &sb), 0);
		want = st.size_bytes + (st.size_bytes > (64 << 10) ? st.size_bytes : (64 << 10));
		ck_assert_int_eq((uint64_t)sb.st_size, want);
		/* Past 64 KiB written: as much again ahead. */
		while (st.size_bytes <= (80 << 10)) {
			fx_append(&f, 50, (unsigned)st.end_offset);
			wal_store_stats(f.s, &st);
		}
	}
	fx_close(&f);
}
END_TEST

/* A zero fill that fails (here: the file size limit, as a full disk would)
 * pauses preallocation for that log; once the log has grown by a tail's
 * length it is wanted again and works. Nothing written is lost. */
START_TEST(test_prealloc_paused_after_failure)
{
	const uint64_t tail = 8192;
	struct rlimit lim;
	wal_store_stats_t st;
	wal_store_cut_t cut;
	ck_buf_t got = CK_BUF_INIT;
	uint64_t failed_at;
	fx_t f;

	fx_open(&f, &cfg_default);
	fx_append(&f, 2, 1);
	wal_store_set_prealloc(f.s, tail);
	ck_assert(wal_store_prealloc_wanted(f.s));
	wal_store_stats(f.s, &st);
	failed_at = st.size_bytes;
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &(struct rlimit){failed_at + 1000, lim.rlim_max}),
	                 0);
	ck_assert_int_lt(wal_store_prealloc_step(f.s, tail), 0);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert(!wal_store_prealloc_wanted(f.s)); /* paused */
	for (unsigned g = 2;; g++) {
		fx_append(&f, 2, g);
		wal_store_stats(f.s, &st);
		if (st.size_bytes < failed_at + tail)
			ck_assert(!wal_store_prealloc_wanted(f.s));
		else
			break;
	}
	ck_assert(wal_store_prealloc_wanted(f.s)); /* grown by a tail: again */
	while (wal_store_prealloc_step(f.s, 3000) == 1)
		;
	ck_assert(!wal_store_prealloc_wanted(f.s));
	fx_append(&f, 1, 99);
	ck_assert_int_eq(fx_recover(&f, NULL, &cut), 0);
	ck_assert(!cut.cut);
	ck_assert_int_eq(fx_end(&f), f.next);
	ck_assert_int_eq(fx_read_all(&f, &got), f.n);
	ck_assert_mem_eq(got.data, f.all.data, f.all.len);
	ck_buf_free(&got);
	fx_close(&f);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("wal_recover");
	TCase *tc = tcase_create("recover");

	tcase_set_timeout(tc, 120);
	ck_test_add_root(tc);
	tcase_add_test(tc, test_write_and_recover);
	tcase_add_test(tc, test_torn_tail_every_byte);
	tcase_add_test(tc, test_short_zero_tail);
	tcase_add_test(tc, test_flipped_byte);
	tcase_add_test(tc, test_zero_and_garbage_tails);
	tcase_add_test(tc, test_checkpoint_resume);
	tcase_add_test(tc, test_rolls_and_index_repair);
	tcase_add_test(tc, test_hole_between_segments);
	tcase_add_test(tc, test_truncate);
	tcase_add_test(tc, test_retention_and_prealloc);
	tcase_add_test(tc, test_prealloc_tail_follows_the_log);
	tcase_add_test(tc, test_prealloc_paused_after_failure);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(suite());
}
