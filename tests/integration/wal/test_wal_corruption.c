/*
 * test_wal_corruption.c: recovery of a real chronik-walwriter from damaged
 * segment files. A log's segment is truncated at every byte position of its
 * last batch, then has a byte flipped, a bad length, garbage behind its
 * zero tail, a corrupt middle segment; after each, walwriter must come back
 * with the log ending at the last good batch, say in its log exactly what
 * it cut, and go on appending from there. Damage in a segment below the
 * recovery point whose index must be rebuilt is unrecoverable: exit 2.
 * walwriter runs with checkpoints effectively off and is stopped with
 * SIGKILL, so every start recovers from the segment files alone.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "ck_segment.h"
#include "wal_itest.h"

#define NB 10

typedef struct {
	wit_t t;
	char dir[512];
	char seg0[600];
	ck_buf_t file;        /* the intact segment */
	uint64_t pos[NB + 1]; /* batch positions; pos[NB] = end */
	int64_t base[NB + 1];
} fx_t;

static void fx_setup(fx_t *f, const char *tag, const char *segment_bytes)
{
	wcl_t c;
	ck_buf_t b = CK_BUF_INIT;
	int64_t base, last;
	char env[128];

	memset(f, 0, sizeof(*f));
	wit_init(&f->t, tag);
	wit_env(&f->t, "CHRONIK_WAL_CHECKPOINT_INTERVAL_MS=2000000000");
	wit_env(&f->t, "CHRONIK_WAL_PREALLOCATE_BYTES=0");
	wit_env(&f->t, "CHRONIK_WAL_RETENTION_MS=-1");
	snprintf(env, sizeof(env), "CHRONIK_WAL_SEGMENT_BYTES=%s", segment_bytes);
	wit_env(&f->t, env);
	wit_start_ready(&f->t);
	wcl_connect(&c, &f->t);
	ck_assert_int_eq(wcl_create(&c, "c", 0, NULL), 0);
	for (int i = 0; i < NB; i++) {
		ck_buf_reset(&b);
		/* The last batch is small so cutting at each of its bytes is quick. */
		wit_batch(&b, i == NB - 1 ? 1 : 1 + i % 3, i == NB - 1 ? 5 : 100 + 20 * (size_t)i,
		          (uint32_t)i);
		ck_assert_int_eq(wcl_append(&c, "c", 0, b.data, b.len, false, 3, &base, &last), 0);
		f->base[i] = base;
		f->base[i + 1] = last + 1;
	}
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&f->t, SIGKILL, 5000), 128 + SIGKILL);
	ck_assert_int_eq(ck_segment_log_dir(f->dir, sizeof(f->dir), f->t.data, "c", 0), 0);
	ck_segment_path(f->seg0, sizeof(f->seg0), f->dir, 0, CK_SEGMENT_FILE_LOG);
	ck_buf_free(&b);
}

/* Reads the single segment and the batch positions. */
static void fx_snapshot(fx_t *f)
{
	ck_buf_reset(&f->file);
	ck_assert_int_eq(wit_read_log(f->t.data, "c", 0, &f->file, NULL), f->base[NB]);
	for (int i = 0, pos = 0; i <= NB; i++) {
		f->pos[i] = (uint64_t)pos;
		if (i < NB) {
			ck_batch_header_t h;
			ck_assert_int_eq(
			    ck_batch_header_parse(f->file.data + pos, f->file.len - pos, &h), 0);
			ck_assert_int_eq(h.base_offset, f->base[i]);
			ck_assert_int_eq(h.partition_leader_epoch, 3);
			pos += (int)ck_batch_total_len(&h);
		}
	}
	ck_assert_uint_eq(f->pos[NB], f->file.len);
}

static void fx_teardown(fx_t *f)
{
	ck_buf_free(&f->file);
	wit_cleanup(&f->t);
}

/* Starts walwriter on the damaged files, returns the log end it reports
 * (and checks the files agree), then kills it. */
static int64_t recover_end(fx_t *f)
{
	Chronik__Wal__LogInfo info;
	wcl_t c;
	int64_t end;

	wit_start_ready(&f->t);
	wcl_connect(&c, &f->t);
	ck_assert_int_eq(wcl_info(&c, "c", 0, &info), 0);
	wcl_close(&c);
	end = wit_read_log(f->t.data, "c", 0, NULL, NULL);
	ck_assert_int_eq(info.log_end_offset, end);
	ck_assert_int_eq(info.durable_end_offset, end);
	ck_assert_int_eq(wit_stop(&f->t, SIGKILL, 5000), 128 + SIGKILL);
	return end;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void expect_cut_line(fx_t *f, size_t from, uint64_t position, uint64_t bytes,
                            const char *reason)
{
	char line[256];

	snprintf(line, sizeof(line),
	         "truncated torn tail log=c-0 segment=00000000000000000000.log position=%llu "
	         "bytes_cut=%llu reason=%s",
	         (unsigned long long)position, (unsigned long long)bytes, reason);
	ck_assert_msg(wit_log_has_after(&f->t, from, line), "walwriter did not log: %s", line);
}

START_TEST(test_truncated_at_every_byte_of_last_batch)
{
	fx_t f;
	size_t from;
	int64_t end;
	ck_buf_t b = CK_BUF_INIT;
	wcl_t c;
	int64_t base;

	fx_setup(&f, "torn", "1073741824");
	fx_snapshot(&f);
	/* Cut exactly between batches: a clean end, nothing to report. */
	ck_test_write_file(f.seg0, f.file.data, f.pos[NB - 1]);
	from = wit_log_size(&f.t);
	ck_assert_int_eq(recover_end(&f), f.base[NB - 1]);
	ck_assert(!wit_log_has_after(&f.t, from, "truncated torn tail"));
	for (uint64_t keep = f.pos[NB - 1] + 1; keep < f.pos[NB]; keep++) {
		ck_test_write_file(f.seg0, f.file.data, keep);
		from = wit_log_size(&f.t);
		end = recover_end(&f);
		ck_assert_msg(end == f.base[NB - 1], "kept %llu bytes: end %lld, want %lld",
		              (unsigned long long)keep, (long long)end, (long long)f.base[NB - 1]);
		if (all_zero(f.file.data + f.pos[NB - 1], keep - f.pos[NB - 1])) {
			/* Only the zero high bytes of its base offset: taken for
			 * preallocated space, kept, no cut to report. */
			ck_assert(!wit_log_has_after(&f.t, from, "truncated torn tail"));
			ck_assert_int_eq(ck_test_file_size(f.seg0), (int64_t)keep);
			continue;
		}
		expect_cut_line(&f, from, f.pos[NB - 1], keep - f.pos[NB - 1], "torn");
		ck_assert_int_eq(ck_test_file_size(f.seg0), (int64_t)f.pos[NB - 1]);
	}
	/* And the log goes on from the cut. */
	wit_start_ready(&f.t);
	wcl_connect(&c, &f.t);
	wit_batch(&b, 2, 50, 77);
	ck_assert_int_eq(wcl_append(&c, "c", 0, b.data, b.len, false, 4, &base, NULL), 0);
	ck_assert_int_eq(base, f.base[NB - 1]);
	wcl_close(&c);
	ck_assert_int_eq(wit_read_log(f.t.data, "c", 0, NULL, NULL), f.base[NB - 1] + 2);
	ck_assert_int_eq(wit_stop(&f.t, SIGTERM, 30000), 0);
	ck_buf_free(&b);
	fx_teardown(&f);
}
END_TEST

START_TEST(test_flipped_bytes)
{
	fx_t f;
	ck_buf_t bad = CK_BUF_INIT;
	size_t from;

	fx_setup(&f, "flip", "1073741824");
	fx_snapshot(&f);
	/* A flipped bit inside the last batch's records. */
	ck_buf_reset(&bad);
	ck_assert_int_eq(ck_buf_append(&bad, f.file.data, f.file.len), 0);
	bad.data[f.pos[NB] - 3] ^= 0x04;
	ck_test_write_file(f.seg0, bad.data, bad.len);
	from = wit_log_size(&f.t);
	ck_assert_int_eq(recover_end(&f), f.base[NB - 1]);
	expect_cut_line(&f, from, f.pos[NB - 1], f.pos[NB] - f.pos[NB - 1], "crc");
	/* A flipped byte in batch 3: batches 3.. are gone. */
	memcpy(bad.data, f.file.data, f.file.len);
	bad.data[f.pos[3] + 70] ^= 0xff;
	ck_test_write_file(f.seg0, bad.data, bad.len);
	from = wit_log_size(&f.t);
	ck_assert_int_eq(recover_end(&f), f.base[3]);
	expect_cut_line(&f, from, f.pos[3], f.pos[NB] - f.pos[3], "crc");
	/* A length field claiming less than a header. */
	memcpy(bad.data, f.file.data, f.file.len);
	ck_be32_put(bad.data + f.pos[2] + 8, 17);
	ck_test_write_file(f.seg0, bad.data, bad.len);
	from = wit_log_size(&f.t);
	ck_assert_int_eq(recover_end(&f), f.base[2]);
	expect_cut_line(&f, from, f.pos[2], f.pos[NB] - f.pos[2], "length");
	/* Wrong magic. */
	memcpy(bad.data, f.file.data, f.file.len);
	bad.data[f.pos[1] + 16] = 1;
	ck_test_write_file(f.seg0, bad.data, bad.len);
	from = wit_log_size(&f.t);
	ck_assert_int_eq(recover_end(&f), f.base[1]);
	expect_cut_line(&f, from, f.pos[1], f.pos[NB] - f.pos[1], "magic");
	ck_buf_free(&bad);
	fx_teardown(&f);
}
END_TEST

START_TEST(test_zero_and_garbage_tail)
{
	fx_t f;
	ck_buf_t bad = CK_BUF_INIT;
	size_t from;

	fx_setup(&f, "zero", "1073741824");
	fx_snapshot(&f);
	/* A preallocated zero tail is normal: nothing cut, no warning. */
	ck_assert_int_eq(ck_buf_append(&bad, f.file.data, f.file.len), 0);
	memset(ck_buf_extend(&bad, 100000), 0, 100000);
	ck_test_write_file(f.seg0, bad.data, bad.len);
	from = wit_log_size(&f.t);
	ck_assert_int_eq(recover_end(&f), f.base[NB]);
	ck_assert(!wit_log_has_after(&f.t, from, "truncated"));
	/* Bytes of a torn write behind the zeros are cut, zeros included. */
	bad.data[f.file.len + 70000] = 0x5a;
	ck_test_write_file(f.seg0, bad.data, bad.len);
	from = wit_log_size(&f.t);
	ck_assert_int_eq(recover_end(&f), f.base[NB]);
	expect_cut_line(&f, from, f.pos[NB], 100000, "garbage");
	ck_buf_free(&bad);
	fx_teardown(&f);
}
END_TEST

START_TEST(test_corrupt_middle_segment_drops_later_ones)
{
	fx_t f;
	int64_t *bases = NULL;
	char path[600];
	ck_buf_t seg = CK_BUF_INIT;
	size_t from;
	int n;

	fx_setup(&f, "multi", "1024");
	n = ck_segment_list(f.dir, &bases);
	ck_assert_int_ge(n, 3);
	/* Flip the last byte of the second segment's data. */
	ck_segment_path(path, sizeof(path), f.dir, bases[1], CK_SEGMENT_FILE_LOG);
	ck_assert_int_eq(ck_test_read_file(path, &seg), 0);
	ck_assert_uint_eq(seg.len, (uint64_t)ck_test_file_size(path));
	seg.data[seg.len - 1] ^= 0x01;
	ck_test_write_file(path, seg.data, seg.len);
	from = wit_log_size(&f.t);
	int64_t end = recover_end(&f);
	ck_assert_int_gt(end, bases[1]);
	ck_assert_int_lt(end, n > 2 ? bases[2] : f.base[NB]);
	ck_assert_int_eq(wit_log_count(&f.t, "dropped segment after a cut log=c-0", NULL), n - 2);
	ck_assert(wit_log_has_after(&f.t, from, "reason=crc"));
	free(bases);
	ck_assert_int_eq(ck_segment_list(f.dir, &bases), 2);
	free(bases);
	ck_buf_free(&seg);
	fx_teardown(&f);
}
END_TEST

/* The segment at BASE in DIR loses its index and its first batch header
 * goes bad. */
static void damage_first_segment(const char *dir, int64_t base)
{
	char path[600];
	FILE *fp;

	ck_segment_path(path, sizeof(path), dir, base, CK_SEGMENT_FILE_INDEX);
	ck_assert_int_eq(unlink(path), 0);
	ck_segment_path(path, sizeof(path), dir, base, CK_SEGMENT_FILE_LOG);
	fp = fopen(path, "r+b");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(fseek(fp, 16, SEEK_SET), 0); /* magic of the first batch */
	ck_assert_int_eq(fputc(7, fp), 7);
	fclose(fp);
}

START_TEST(test_unrecoverable_below_recovery_point)
{
	fx_t f;
	int64_t *bases = NULL;
	wcl_t c;
	int n;

	fx_setup(&f, "fatal", "1024");
	/* A clean stop writes the recovery point past every segment. */
	wit_env_clear(&f.t);
	wit_env(&f.t, "CHRONIK_WAL_SEGMENT_BYTES=1024");
	wit_env(&f.t, "CHRONIK_WAL_RETENTION_MS=-1");
	wit_start_ready(&f.t);
	wcl_connect(&c, &f.t);
	wcl_close(&c);
	ck_assert_int_eq(wit_stop(&f.t, SIGTERM, 30000), 0);
	n = ck_segment_list(f.dir, &bases);
	ck_assert_int_ge(n, 3);
	damage_first_segment(f.dir, bases[0]);
	wit_start(&f.t);
	ck_assert_int_eq(wit_wait_exit(&f.t, 30000), 2);
	ck_assert_int_ge(wit_log_count(&f.t, "unrecoverable data", NULL), 1);
	free(bases);
	fx_teardown(&f);
}
END_TEST

/* The periodic checkpoint (not only the one at a clean stop) moves a
 * written log's recovery point: after a SIGKILL, damage below it is
 * unrecoverable, where without it recovery would verify from the first
 * batch and cut there. */
START_TEST(test_periodic_recovery_point)
{
	ck_buf_t b = CK_BUF_INIT;
	int64_t *bases = NULL, base, last;
	char dir[512];
	wit_t t;
	wcl_t c;
	int n;

	wit_init(&t, "periodic");
	wit_env(&t, "CHRONIK_WAL_CHECKPOINT_INTERVAL_MS=50");
	wit_env(&t, "CHRONIK_WAL_PREALLOCATE_BYTES=0");
	wit_env(&t, "CHRONIK_WAL_RETENTION_MS=-1");
	wit_env(&t, "CHRONIK_WAL_SEGMENT_BYTES=1024");
	wit_start_ready(&t);
	wcl_connect(&c, &t);
	ck_assert_int_eq(wcl_create(&c, "c", 0, NULL), 0);
	/* Checkpoints pass with nothing to write first. */
	usleep(200 * 1000);
	for (int i = 0; i < 12; i++) {
		ck_buf_reset(&b);
		wit_batch(&b, 1, 300, (uint32_t)i);
		ck_assert_int_eq(wcl_append(&c, "c", 0, b.data, b.len, false, 3, &base, &last), 0);
	}
	wcl_close(&c);
	usleep(500 * 1000); /* about ten checkpoints */
	ck_assert_int_eq(wit_stop(&t, SIGKILL, 5000), 128 + SIGKILL);
	ck_assert_int_eq(ck_segment_log_dir(dir, sizeof(dir), t.data, "c", 0), 0);
	n = ck_segment_list(dir, &bases);
	ck_assert_int_ge(n, 3);
	damage_first_segment(dir, bases[0]);
	wit_start(&t);
	ck_assert_int_eq(wit_wait_exit(&t, 30000), 2);
	ck_assert_int_ge(wit_log_count(&t, "unrecoverable data", NULL), 1);
	free(bases);
	ck_buf_free(&b);
	wit_cleanup(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal_corruption");
	TCase *tc = tcase_create("corruption");

	tcase_set_timeout(tc, 300);
	ck_test_add_root(tc);
	tcase_add_test(tc, test_truncated_at_every_byte_of_last_batch);
	tcase_add_test(tc, test_flipped_bytes);
	tcase_add_test(tc, test_zero_and_garbage_tail);
	tcase_add_test(tc, test_corrupt_middle_segment_drops_later_ones);
	tcase_add_test(tc, test_unrecoverable_below_recovery_point);
	tcase_add_test(tc, test_periodic_recovery_point);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
