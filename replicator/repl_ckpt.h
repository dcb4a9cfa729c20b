/*
 * repl_ckpt.h: the replicator's high-watermark checkpoints in LMDB `meta`
 * ("offsets" database, see common/ck_meta.h): key and value format.
 *
 * Owned by replicator (the only writer of "hw/" keys).
 *   key   "hw/<topic>-<partition>" (partition in decimal)
 *   value 16 bytes, little-endian: u32 version (1), i32 leader epoch,
 *         i64 high watermark (>= 0)
 * A value that does not decode is ignored by the reader (the HW is then
 * rebuilt from the log), never trusted.
 * Pure: formatting only. Not for: the LMDB transactions (repl_meta.c).
 */
#ifndef REPL_CKPT_H
#define REPL_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "repl_core.h"

#define REPL_CKPT_VERSION   1
#define REPL_CKPT_VALUE_LEN 16
/* "hw/" + topic + "-" + up to 10 digits + NUL. */
#define REPL_CKPT_KEY_MAX (3 + REPL_TOPIC_MAX + 1 + 10 + 1)

/* Writes the key of TOPIC-PARTITION into BUF (LEN bytes, NUL-terminated).
 * Returns its length (without the NUL), or CK_E_INVALID (empty or too long
 * topic, negative partition) or CK_E_TOO_LARGE (BUF too small). */
int repl_ckpt_key(char *buf, size_t len, const char *topic, int32_t partition);
/* Encodes CK into OUT. */
void repl_ckpt_encode(uint8_t out[REPL_CKPT_VALUE_LEN], const repl_ckpt_t *ck);
/* Decodes LEN bytes at VAL. Returns 0 with *RET, or CK_E_CORRUPT (wrong
 * length or version, a negative HW or epoch; *RET untouched). */
int repl_ckpt_decode(const void *val, size_t len, repl_ckpt_t *ret);

#endif
