/*
 * raftd_hs.c: the Raft hard state file and the raft/ lock (raftd_hs.h).
 * Owned by raftd. Blocking file I/O: called rarely (a term or vote
 * change), so it runs on the event loop thread. The file is a ck_fs
 * record (magic, version, CRC32C: ck_fs_record_load/save).
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
#include "ck_err.h"
#include "ck_fs.h"

#define RAFTD_HS_MAGIC   "CKRAFTHS"
#define RAFTD_HS_VERSION 1
#define RAFTD_HS_PAYLOAD 28 /* term, vote, commit, reserved: 44 bytes on disk */

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
	uint8_t p[RAFTD_HS_PAYLOAD];
	char path[PATH_MAX];
	int r;

	r = raftd_hs_path(path, sizeof(path), data_dir, "hardstate");
	if (r < 0)
		return r;
	r = ck_fs_record_load(path, RAFTD_HS_MAGIC, RAFTD_HS_VERSION, p, sizeof(p));
	if (r <= 0)
		return r;
	ret->term = raftd_le64_get(p);
	ret->vote = raftd_le64_get(p + 8);
	ret->commit = raftd_le64_get(p + 16);
	return 1;
}

int raftd_hs_save(const char *data_dir, const raft_hard_state_t *hs)
{
	uint8_t p[RAFTD_HS_PAYLOAD];
	char path[PATH_MAX];
	int r;

	r = raftd_hs_path(path, sizeof(path), data_dir, "hardstate");
	if (r < 0)
		return r;
	raftd_le64_put(p, hs->term);
	raftd_le64_put(p + 8, hs->vote);
	raftd_le64_put(p + 16, hs->commit);
	ck_le32_put(p + 24, 0); /* reserved */
	return ck_fs_record_save(path, RAFTD_HS_MAGIC, RAFTD_HS_VERSION, p, sizeof(p), 0644);
}
