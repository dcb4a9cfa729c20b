/*
 * ck_fs.h: small file-system helpers every process shares: mkdir -p, the
 * fsync of a directory, replacing a small file atomically, and small
 * checked record files (magic, version, payload, CRC32C).
 *
 * Blocking calls (they may wait for the disk): processes call them at
 * start-up, on rare events, or from a thread that may block (walwriter's
 * sync thread), never in a hot path of an event loop.
 * Durability rule they encode: a new or renamed name is durable only after
 * an fsync of the directory holding it; file contents only after an fsync
 * (or fdatasync) of the file itself.
 * Not here: anything that knows what a file holds (a record's payload is
 * the caller's) or a data-dir layout.
 */
#ifndef CK_FS_H
#define CK_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* mkdir -p: creates DIR and its missing parents with MODE (existing
 * directories are left as they are). Nothing is fsync'd. Returns 0, -EINVAL
 * (empty), -ENAMETOOLONG (longer than PATH_MAX - 1), -ENOTDIR (something
 * other than a directory in the way) or -errno. */
int ck_mkdirs(const char *dir, mode_t mode);

/* The space a data directory's disk keeps free (walwriter refuses appends
 * that would eat into it): 5 % of the filesystem, 1 to 32 MiB. */
#define CK_FS_RESERVE_MIN (1u << 20)
#define CK_FS_RESERVE_MAX (32u << 20)

/* statvfs of DIR: *RET_FREE gets the bytes free, *RET_RESERVE the reserve
 * (CK_FS_RESERVE_*) of its filesystem. Returns 0 or -errno. */
int ck_fs_space(const char *dir, uint64_t *ret_free, uint64_t *ret_reserve);

/* fsync of the directory DIR, making the names in it (new files, renames,
 * removals) durable. Returns 0 or -errno. */
int ck_fs_dir_sync(const char *dir);

/*
 * Writes the directory part of PATH ("." when it has no slash, "/" for a
 * file in the root) into BUF (LEN bytes). Returns 0, -EINVAL (empty PATH)
 * or -ENAMETOOLONG.
 */
int ck_fs_dirname(const char *path, char *buf, size_t len);

/*
 * Replaces PATH with LEN bytes of DATA so that after a crash PATH holds
 * either the old contents or the new ones, never a mix: the bytes go to
 * "<PATH>.tmp" (created with MODE, truncated), which is fsync'd, renamed
 * over PATH, and then the directory is fsync'd. On failure PATH is
 * untouched and the temporary file removed. Returns 0, -ENAMETOOLONG, or
 * -errno (-EIO when a write made no progress).
 */
int ck_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/*
 * Reads the whole file PATH when it holds at most MAX bytes. Returns the
 * number of bytes read into BUF, -EFBIG when the file is larger than MAX,
 * or -errno (-ENOENT: no such file).
 */
ssize_t ck_fs_read_small(const char *path, void *buf, size_t max);

/*
 * A small record file: MAGIC (CK_FS_RECORD_MAGIC_LEN bytes), VERSION (u32
 * little-endian), the caller's payload of a fixed length, then a CRC32C
 * (u32 little-endian) of everything before it. raftd's raft/hardstate and
 * raft/snapshot are such records.
 */
#define CK_FS_RECORD_MAGIC_LEN    8
#define CK_FS_RECORD_PAYLOAD_MAX  256
#define CK_FS_RECORD_LEN(payload) (CK_FS_RECORD_MAGIC_LEN + 4 + (payload) + 4)

/*
 * Reads the record PATH into PAYLOAD (LEN bytes, at most
 * CK_FS_RECORD_PAYLOAD_MAX). Returns 1 when it was read, 0 when there is
 * no such file, CK_E_CORRUPT when the size, magic, version or CRC are not
 * those of a record of LEN bytes with MAGIC and VERSION (PAYLOAD is then
 * untouched), or -errno.
 */
int ck_fs_record_load(const char *path, const char *magic, uint32_t version, void *payload,
                      size_t len);

/*
 * Replaces the record PATH with PAYLOAD (LEN bytes, at most
 * CK_FS_RECORD_PAYLOAD_MAX) through ck_fs_write_atomic() (MODE for a new
 * file): after a crash the old record or the new one, never a mix.
 * Returns 0, -EINVAL (LEN too big), or ck_fs_write_atomic()'s errors.
 */
int ck_fs_record_save(const char *path, const char *magic, uint32_t version, const void *payload,
                      size_t len, mode_t mode);

#endif
