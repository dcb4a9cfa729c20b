/*
 * ck_fs.c: file-system helpers (ck_fs.h).
 *
 * Owned by libck. Every function returns >= 0 or -errno (record files:
 * also CK_E_CORRUPT) and leaves errno alone on success paths that callers
 * could observe; nothing here logs.
 * ck_fs_write_atomic() is the one place that spells out the temp file,
 * fsync, rename, directory fsync sequence; callers with many files to
 * create at once (walwriter's grouped log creation) batch the same steps
 * themselves.
 */
#include "ck_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ck_buf.h"
#include "ck_crc32c.h"
#include "ck_err.h"

/* mkdir that accepts an existing directory (and nothing else). */
static int ck_fs_mkdir_one(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int ck_mkdirs(const char *dir, mode_t mode)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);
	int r;

	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0';
		r = ck_fs_mkdir_one(path, mode);
		if (r < 0)
			return r;
		*p = '/';
	}
	return ck_fs_mkdir_one(path, mode);
}

int ck_fs_space(const char *dir, uint64_t *ret_free, uint64_t *ret_reserve)
{
	struct statvfs st;

	if (statvfs(dir, &st) < 0)
		return -errno;
	*ret_free = (uint64_t)st.f_bfree * st.f_frsize;
	*ret_reserve =
	    CK_MIN(CK_MAX((uint64_t)st.f_blocks * st.f_frsize / 20, (uint64_t)CK_FS_RESERVE_MIN),
	           (uint64_t)CK_FS_RESERVE_MAX);
	return 0;
}

int ck_fs_dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	(void)close(fd);
	return r;
}

int ck_fs_dirname(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	int n;

	if (path[0] == '\0')
		return -EINVAL;
	if (!slash)
		n = snprintf(buf, len, ".");
	else if (slash == path)
		n = snprintf(buf, len, "/");
	else
		n = snprintf(buf, len, "%.*s", (int)(slash - path), path);
	return n >= 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* Writes all LEN bytes at the start of FD and fsyncs it. */
static int ck_fs_write_fd(int fd, const void *data, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)data + done, len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

int ck_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	r = ck_fs_dirname(path, dir, sizeof(dir));
	if (r < 0)
		return r;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = ck_fs_write_fd(fd, data, len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	return ck_fs_dir_sync(dir);
}

ssize_t ck_fs_read_small(const char *path, void *buf, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t done = 0;
	ssize_t r = 0;
	char extra;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;
		if (done < max)
			n = read(fd, (char *)buf + done, max - done);
		else
			n = read(fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) {
			r = (ssize_t)done;
			break;
		}
		if (done == max) {
			r = -EFBIG;
			break;
		}
		done += (size_t)n;
	}
	(void)close(fd);
	return r;
}

int ck_fs_record_load(const char *path, const char *magic, uint32_t version, void *payload,
                      size_t len)
{
	uint8_t buf[CK_FS_RECORD_LEN(CK_FS_RECORD_PAYLOAD_MAX)];
	size_t total = CK_FS_RECORD_LEN(len), crc_at = total - 4;
	ssize_t n;

	if (len > CK_FS_RECORD_PAYLOAD_MAX)
		return -EINVAL;
	n = ck_fs_read_small(path, buf, total);
	if (n == -ENOENT)
		return 0;
	if (n == -EFBIG)
		return CK_E_CORRUPT;
	if (n < 0)
		return (int)n;
	if ((size_t)n != total || memcmp(buf, magic, CK_FS_RECORD_MAGIC_LEN) != 0 ||
	    ck_le32_get(buf + CK_FS_RECORD_MAGIC_LEN) != version ||
	    ck_le32_get(buf + crc_at) != ck_crc32c(0, buf, crc_at))
		return CK_E_CORRUPT;
	memcpy(payload, buf + CK_FS_RECORD_MAGIC_LEN + 4, len);
	return 1;
}

int ck_fs_record_save(const char *path, const char *magic, uint32_t version, const void *payload,
                      size_t len, mode_t mode)
{
	uint8_t buf[CK_FS_RECORD_LEN(CK_FS_RECORD_PAYLOAD_MAX)];
	size_t crc_at = CK_FS_RECORD_LEN(len) - 4;

	if (len > CK_FS_RECORD_PAYLOAD_MAX)
		return -EINVAL;
	memcpy(buf, magic, CK_FS_RECORD_MAGIC_LEN);
	ck_le32_put(buf + CK_FS_RECORD_MAGIC_LEN, version);
	memcpy(buf + CK_FS_RECORD_MAGIC_LEN + 4, payload, len);
	ck_le32_put(buf + crc_at, ck_crc32c(0, buf, crc_at));
	return ck_fs_write_atomic(path, buf, crc_at + 4, mode);
}
