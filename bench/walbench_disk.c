/*
 * walbench_disk.c: raw disk baselines of chronik-walbench (walbench.h).
 *
 * These are the floors the walwriter is compared against in the same run on
 * the same filesystem: the latency of one small synced overwrite of
 * preallocated space (what a group commit costs at best) and the bandwidth of
 * large buffered writes with periodic fdatasync (what bulk appends can reach).
 * The files live in the bench directory and are unlinked on every path.
 */
#define CK_LOG_SUBSYSTEM "disk"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "walbench.h"
#include "walbench_core.h"

#define WB_FILL_CHUNK (1u << 20)

static int wb_write_full(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int wb_dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	(void)close(fd);
	return r;
}

/* Zero-fills LEN bytes of FD and makes them durable, so later overwrites
 * change no metadata. */
static int wb_prealloc_zero(int fd, const char *dir, uint64_t len)
{
	uint8_t *zero = calloc(1, WB_FILL_CHUNK);
	int r = -ENOMEM;

	if (!zero)
		goto out;
	for (uint64_t off = 0; off < len; off += WB_FILL_CHUNK) {
		r = wb_write_full(fd, zero, (size_t)CK_MIN((uint64_t)WB_FILL_CHUNK, len - off),
				  (off_t)off);
		if (r < 0)
			goto out;
	}
	r = fsync(fd) < 0 ? -errno : 0;
	if (r == 0)
		r = wb_dir_sync(dir);
out:
	free(zero);
	return r;
}

static int wb_sync_loop(int fd, int iters, size_t block, wb_samples_t *lat, uint64_t *ret_ns)
{
	uint8_t *buf = malloc(block);
	uint64_t t0 = ck_clock_mono_ns();
	int r = -ENOMEM;

	if (!buf)
		goto out;
	for (int i = 0; i < iters; i++) {
		uint64_t t = ck_clock_mono_ns();

		memset(buf, 'a' + i % 26, block);
		r = wb_write_full(fd, buf, block, (off_t)i * (off_t)block);
		if (r == 0 && fdatasync(fd) < 0)
			r = -errno;
		if (r == 0)
			r = wb_samples_add(lat, ck_clock_mono_ns() - t);
		if (r < 0)
			goto out;
	}
	*ret_ns = ck_clock_mono_ns() - t0;
	r = 0;
out:
	free(buf);
	return r;
}

int wb_disk_sync_run(const char *dir, int iters, size_t block_bytes)
{
	char path[4096];
	wb_samples_t lat = {0};
	wb_stats_t st;
	uint64_t elapsed_ns = 0;
	int fd = -1, r;

	if (iters <= 0 || block_bytes == 0)
		return CK_E_INVALID;
	(void)snprintf(path, sizeof(path), "%s/walbench-sync.dat", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		ck_log(CK_LOG_ERROR, "cannot create file path=%s err=%s", path, ck_strerror(r));
		return r;
	}
	r = wb_prealloc_zero(fd, dir, (uint64_t)iters * block_bytes);
	if (r == 0)
		r = wb_sync_loop(fd, iters, block_bytes, &lat, &elapsed_ns);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "sync benchmark failed path=%s err=%s", path, ck_strerror(r));
		goto out;
	}
	wb_stats_compute(lat.v, lat.len, &st);
	printf("disk-sync iters=%d block_bytes=%zu p50_us=%.1f p90_us=%.1f p99_us=%.1f "
	       "p999_us=%.1f max_us=%.1f ops_per_s=%.0f\n",
	       iters, block_bytes, st.p50 / 1e3, st.p90 / 1e3, st.p99 / 1e3, st.p999 / 1e3,
	       st.max / 1e3, (double)iters / ((double)elapsed_ns / 1e9));
	(void)fflush(stdout);
out:
	(void)close(fd);
	(void)unlink(path);
	wb_samples_free(&lat);
	return r;
}

static int wb_seq_loop(int fd, uint64_t total, size_t wsize, uint64_t sync_bytes,
		       uint64_t *ret_ns, uint64_t *ret_worst_sync_ns)
{
	uint8_t *buf = malloc(wsize);
	uint64_t since_sync = 0, worst = 0, t0;
	int r = -ENOMEM;

	if (!buf)
		goto out;
	memset(buf, 'x', wsize);
	t0 = ck_clock_mono_ns();
	for (uint64_t off = 0; off < total;) {
		size_t n = (size_t)CK_MIN((uint64_t)wsize, total - off);

		r = wb_write_full(fd, buf, n, (off_t)off);
		if (r < 0)
			goto out;
		off += n;
		since_sync += n;
		if (since_sync >= sync_bytes || off == total) {
			uint64_t ts = ck_clock_mono_ns();

			if (fdatasync(fd) < 0) {
				r = -errno;
				goto out;
			}
			worst = CK_MAX(worst, ck_clock_mono_ns() - ts);
			since_sync = 0;
		}
	}
	*ret_ns = ck_clock_mono_ns() - t0;
	*ret_worst_sync_ns = worst;
	r = 0;
out:
	free(buf);
	return r;
}

int wb_disk_seq_run(const char *dir, uint64_t total_bytes, size_t write_bytes,
		    uint64_t sync_bytes)
{
	char path[4096];
	uint64_t ns = 0, worst = 0;
	int fd, r;

	if (total_bytes == 0 || write_bytes == 0 || sync_bytes == 0)
		return CK_E_INVALID;
	(void)snprintf(path, sizeof(path), "%s/walbench-seq.dat", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		ck_log(CK_LOG_ERROR, "cannot create file path=%s err=%s", path, ck_strerror(r));
		return r;
	}
	r = wb_seq_loop(fd, total_bytes, write_bytes, sync_bytes, &ns, &worst);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "sequential benchmark failed path=%s err=%s", path,
		       ck_strerror(r));
		goto out;
	}
	printf("disk-seq total_bytes=%llu write_bytes=%zu sync_bytes=%llu secs=%.3f "
	       "mb_per_s=%.1f worst_sync_ms=%.1f\n",
	       (unsigned long long)total_bytes, write_bytes, (unsigned long long)sync_bytes,
	       ns / 1e9, (double)total_bytes / 1e6 / (ns / 1e9), worst / 1e6);
	(void)fflush(stdout);
out:
	(void)close(fd);
	(void)unlink(path);
	return r;
}
