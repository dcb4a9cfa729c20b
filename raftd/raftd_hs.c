/*
 * raftd_hs.c: the Raft hard state file and the raft/ lock (raftd_hs.h).
 * Owned by raftd. Blocking file I/O: called rarely (a term or vote
 * change), so it runs on the event loop thread.
 */
#include "raftd_hs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_buf.h"
#include "ck_crc32c.h"
#include "ck_err.h"
#include "ck_fs.h"

#define RAFTD_HS_MAGIC   "CKRAFTHS"
#define RAFTD_HS_VERSION 1
#define RAFTD_HS_LEN     44

static void raftd_le64_put(uint8_t *p, uint64_t v)
{
	ck_le32_put(p, (uint32_t)v);
	ck_le32_put(p + 4, (uint32_t)(v >> 32));
}

static uint64_t raftd_le64_get(const uint8_t *p)
{
	return (uint64_t)ck_le32_get(p) | ((uint64_t)ck_le32_get(p + 4) << 32);
}

static int raftd_hs_path(char *buf, size_t len, const char *data_dir, const char *name)
{
	if (snprintf(buf, len, "%s/raft%s%s", data_dir, name ? "/" : "", name ? name : "") >=
	    (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int raftd_hs_lock(const char *data_dir, int *ret_fd)
{
	char path[PATH_MAX];
	int fd, r;

	r = raftd_hs_path(path, sizeof(path), data_dir, NULL);
	if (r < 0)
		return r;
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		return -errno;
	r = raftd_hs_path(path, sizeof(path), data_dir, "lock");
	if (r < 0)
		return r;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int raftd_hs_load(const char *data_dir, raft_hard_state_t *ret)
{
	uint8_t buf[RAFTD_HS_LEN + 1];
	char path[PATH_MAX];
	ssize_t n;
	int fd, r;

	r = raftd_hs_path(path, sizeof(path), data_dir, "hardstate");
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = pread(fd, buf, sizeof(buf), 0);
	r = n < 0 ? -errno : 0;
	(void)close(fd);
	if (r < 0)
		return r;
	if (n != RAFTD_HS_LEN || memcmp(buf, RAFTD_HS_MAGIC, 8) != 0 ||
	    ck_le32_get(buf + 8) != RAFTD_HS_VERSION ||
	    ck_le32_get(buf + 40) != ck_crc32c(0, buf, 40))
		return CK_E_CORRUPT;
	ret->term = raftd_le64_get(buf + 12);
	ret->vote = raftd_le64_get(buf + 20);
	ret->commit = raftd_le64_get(buf + 28);
	return 1;
}

int raftd_hs_save(const char *data_dir, const raft_hard_state_t *hs)
{
	char tmp[PATH_MAX], path[PATH_MAX], dir[PATH_MAX];
	uint8_t buf[RAFTD_HS_LEN];
	int fd = -1, r;

	r = raftd_hs_path(tmp, sizeof(tmp), data_dir, "hardstate.tmp");
	if (r == 0)
		r = raftd_hs_path(path, sizeof(path), data_dir, "hardstate");
	if (r == 0)
		r = raftd_hs_path(dir, sizeof(dir), data_dir, NULL);
	if (r < 0)
		return r;
	memcpy(buf, RAFTD_HS_MAGIC, 8);
	ck_le32_put(buf + 8, RAFTD_HS_VERSION);
	raftd_le64_put(buf + 12, hs->term);
	raftd_le64_put(buf + 20, hs->vote);
	raftd_le64_put(buf + 28, hs->commit);
	ck_le32_put(buf + 36, 0);
	ck_le32_put(buf + 40, ck_crc32c(0, buf, 40));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf)) {
		r = errno ? -errno : -EIO;
		goto out;
	}
	if (fdatasync(fd) < 0) {
		r = -errno;
		goto out;
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto out;
	}
	r = ck_fs_dir_sync(dir);
out:
	(void)close(fd);
	return r;
}
