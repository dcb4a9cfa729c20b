/*
 * ck_dataid.c: <data_dir>/dataid, a checked record file (ck_fs.h) holding
 * the data's id (see ck_dataid.h).
 */
#include "ck_dataid.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "ck_err.h"
#include "ck_fs.h"
#include "ck_rand.h"

#define CK_DATAID_MAGIC   "CKDATAID"
#define CK_DATAID_VERSION 1

static int ck_dataid_path(const char *data_dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", data_dir, CK_DATAID_FILE);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static uint64_t ck_dataid_get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int ck_dataid_load(const char *data_dir, uint64_t *ret)
{
	char path[PATH_MAX];
	uint8_t payload[8];
	int r = ck_dataid_path(data_dir, path, sizeof(path));

	*ret = 0;
	if (r < 0)
		return r;
	r = ck_fs_record_load(path, CK_DATAID_MAGIC, CK_DATAID_VERSION, payload, sizeof(payload));
	if (r <= 0)
		return r;
	*ret = ck_dataid_get_le64(payload);
	return *ret != 0 ? 1 : CK_E_CORRUPT;
}

static int ck_dataid_draw(const char *data_dir, uint64_t seed, uint64_t old, uint64_t *ret)
{
	char path[PATH_MAX];
	uint8_t payload[8];
	ck_rand_t rand;
	uint64_t id = 0;
	int r;

	ck_rand_seed(&rand, seed);
	while (id == 0 || id == old)
		id = ck_rand_u64(&rand);
	for (int i = 0; i < 8; i++)
		payload[i] = (uint8_t)(id >> (8 * i));
	r = ck_dataid_path(data_dir, path, sizeof(path));
	if (r == 0)
		r = ck_fs_record_save(path, CK_DATAID_MAGIC, CK_DATAID_VERSION, payload,
		                      sizeof(payload), 0644);
	if (r < 0)
		return r;
	*ret = id;
	return 0;
}

int ck_dataid_ensure(const char *data_dir, uint64_t seed, uint64_t *ret, bool *ret_new)
{
	int r = ck_dataid_load(data_dir, ret);

	*ret_new = false;
	if (r == 1)
		return 0;
	if (r < 0 && r != CK_E_CORRUPT)
		return r;
	/* None, or torn: a new id (the broker then leaves its ISRs once, which
	 * is safe whatever its logs hold). */
	r = ck_dataid_draw(data_dir, seed, 0, ret);
	*ret_new = r == 0;
	return r;
}

int ck_dataid_renew(const char *data_dir, uint64_t seed, uint64_t *ret)
{
	uint64_t old = 0;

	(void)ck_dataid_load(data_dir, &old);
	return ck_dataid_draw(data_dir, seed, old, ret);
}

bool ck_dataid_matches(const char *data_dir, uint64_t recorded, uint64_t *cur)
{
	uint64_t id = 0;

	if (*cur == 0 || recorded == *cur)
		return true;
	if (ck_dataid_load(data_dir, &id) == 1 && id != 0)
		*cur = id;
	return recorded == *cur;
}
