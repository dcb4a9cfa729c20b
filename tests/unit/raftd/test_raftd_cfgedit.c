/*
 * test_raftd_cfgedit.c: unit tests of the packed-record config edit
 * (raftd/raftd_cfgedit.h): over random records and alterations it gives
 * the bytes protobuf-c packs for the merged record (entries not touched
 * kept in order, the set ones after them), it asks for room when OUT is
 * small, and it refuses records that do not parse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_rand.h"
#include "ck_testlib.h"
#include "raftd_cfgedit.h"

#define KEYS 7
static const char *const keys[KEYS] = {"min.insync.replicas", "cleanup.policy",
                                       "unclean.leader.election.enable", "flush.ms",
                                       "compression.type", "a", ""};

typedef struct {
	Chronik__Meta__TopicRecord rec;
	Chronik__Meta__ConfigEntry e[8], *ev[8];
	char vals[8][24];
	uint8_t id[16];
	char name[32];
} rec_t;

typedef struct {
	Chronik__Meta__AlterTopicConfigs ac;
	Chronik__Meta__ConfigEntry e[4], *ev[4];
	char vals[4][24];
	char *del[3];
} alter_t;

static void rand_value(ck_rand_t *r, char *buf, size_t len)
{
	if (ck_rand_below(r, 5) == 0)
		buf[0] = '\0'; /* proto3 leaves an empty value out */
	else
		(void)snprintf(buf, len, "%llu", (unsigned long long)ck_rand_u64(r));
}

static void rand_record(ck_rand_t *r, rec_t *t)
{
	chronik__meta__topic_record__init(&t->rec);
	(void)snprintf(t->name, sizeof(t->name), "topic-%u", (unsigned)ck_rand_below(r, 1000));
	t->rec.name = t->name;
	if (ck_rand_below(r, 4)) {
		for (size_t i = 0; i < 16; i++)
			t->id[i] = (uint8_t)ck_rand_u64(r);
		t->rec.topic_id.data = t->id;
		t->rec.topic_id.len = 16;
	}
	t->rec.partitions = (int32_t)ck_rand_below(r, 3) * (int32_t)ck_rand_below(r, 100000);
	t->rec.created_index = ck_rand_below(r, 2) ? ck_rand_u64(r) >> ck_rand_below(r, 64) : 0;
	t->rec.n_configs = (size_t)ck_rand_below(r, 7);
	for (size_t i = 0; i < t->rec.n_configs; i++) {
		chronik__meta__config_entry__init(&t->e[i]);
		t->e[i].name = (char *)keys[ck_rand_below(r, KEYS)];
		rand_value(r, t->vals[i], sizeof(t->vals[i]));
		t->e[i].value = t->vals[i];
		t->ev[i] = &t->e[i];
	}
	t->rec.configs = t->ev;
}

static void rand_alter(ck_rand_t *r, alter_t *a)
{
	chronik__meta__alter_topic_configs__init(&a->ac);
	a->ac.name = "topic";
	a->ac.n_set = (size_t)ck_rand_below(r, 4);
	for (size_t i = 0; i < a->ac.n_set; i++) {
		chronik__meta__config_entry__init(&a->e[i]);
		a->e[i].name = (char *)keys[ck_rand_below(r, KEYS)];
		rand_value(r, a->vals[i], sizeof(a->vals[i]));
		a->e[i].value = a->vals[i];
		a->ev[i] = &a->e[i];
	}
	a->ac.set = a->ev;
	a->ac.n_delete_ = (size_t)ck_rand_below(r, 3);
	for (size_t i = 0; i < a->ac.n_delete_; i++)
		a->del[i] = (char *)keys[ck_rand_below(r, KEYS)];
	a->ac.delete_ = a->del;
}

static bool named(const char *name, const alter_t *a)
{
	for (size_t j = 0; j < a->ac.n_set; j++)
		if (!strcmp(a->e[j].name, name))
			return true;
	for (size_t j = 0; j < a->ac.n_delete_; j++)
		if (!strcmp(a->del[j], name))
			return true;
	return false;
}

/* The reference: the merged record, packed. */
static size_t expected(const rec_t *t, const alter_t *a, uint8_t *out, size_t *ret_n)
{
	Chronik__Meta__TopicRecord m = t->rec;
	Chronik__Meta__ConfigEntry *v[16];
	size_t n = 0;

	for (size_t i = 0; i < t->rec.n_configs; i++)
		if (!named(t->e[i].name, a))
			v[n++] = t->ev[i];
	for (size_t j = 0; j < a->ac.n_set; j++)
		v[n++] = a->ev[j];
	m.configs = v;
	m.n_configs = n;
	*ret_n = n;
	return chronik__meta__topic_record__pack(&m, out);
}

START_TEST(test_matches_unpack_merge_pack)
{
	ck_rand_t r;
	uint8_t in[1024], want[1024], got[1024];

	ck_rand_seed(&r, 0xc0f1 + (uint64_t)_i);
	for (int iter = 0; iter < 5000; iter++) {
		rec_t t;
		alter_t a;
		size_t len, wlen, wn, gn = 99;
		long glen;

		rand_record(&r, &t);
		rand_alter(&r, &a);
		len = chronik__meta__topic_record__pack(&t.rec, in);
		wlen = expected(&t, &a, want, &wn);
		glen = raftd_cfgedit(in, len, &a.ac, got, sizeof(got), &gn);
		ck_assert_msg(glen == (long)wlen, "seed %d iter %d: length %ld, want %zu", _i, iter,
		              glen, wlen);
		ck_assert_mem_eq(got, want, wlen);
		ck_assert_uint_eq(gn, wn);
		/* Too little room: the length needed, and the same bytes when
		 * given it. */
		if (wlen > 0) {
			ck_assert_int_eq(raftd_cfgedit(in, len, &a.ac, got, wlen - 1, &gn), (long)wlen);
			memset(got, 0, sizeof(got));
			ck_assert_int_eq(raftd_cfgedit(in, len, &a.ac, got, wlen, &gn), (long)wlen);
			ck_assert_mem_eq(got, want, wlen);
		}
	}
}
END_TEST

START_TEST(test_refuses_what_does_not_parse)
{
	Chronik__Meta__TopicRecord rec = CHRONIK__META__TOPIC_RECORD__INIT;
	Chronik__Meta__ConfigEntry e = CHRONIK__META__CONFIG_ENTRY__INIT, *ev[1] = {&e};
	Chronik__Meta__AlterTopicConfigs ac = CHRONIK__META__ALTER_TOPIC_CONFIGS__INIT;
	uint8_t in[256], out[256];
	size_t len, n;
	long r;

	rec.name = "t";
	rec.partitions = 3;
	e.name = "flush.ms";
	e.value = "10";
	rec.configs = ev;
	rec.n_configs = 1;
	len = chronik__meta__topic_record__pack(&rec, in);
	/* Every truncation inside a field fails; none crashes. */
	for (size_t cut = 1; cut < len; cut++) {
		r = raftd_cfgedit(in, cut, &ac, out, sizeof(out), &n);
		ck_assert(r == CK_E_CORRUPT || r >= 0);
	}
	ck_assert_int_eq(raftd_cfgedit(in, len - 1, &ac, out, sizeof(out), &n), CK_E_CORRUPT);
	/* A config entry that is not length-delimited, a bad wire type, a
	 * field number 0. */
	ck_assert_int_eq(raftd_cfgedit((const uint8_t *)"\x20\x01", 2, &ac, out, sizeof(out), &n),
	                 CK_E_CORRUPT);
	ck_assert_int_eq(raftd_cfgedit((const uint8_t *)"\x0b\x01", 2, &ac, out, sizeof(out), &n),
	                 CK_E_CORRUPT);
	ck_assert_int_eq(raftd_cfgedit((const uint8_t *)"\x02\x00", 2, &ac, out, sizeof(out), &n),
	                 CK_E_CORRUPT);
	/* A length past the end. */
	ck_assert_int_eq(raftd_cfgedit((const uint8_t *)"\x0a\x05xy", 4, &ac, out, sizeof(out), &n),
	                 CK_E_CORRUPT);
	/* More fields than the edit takes (its caller unpacks those). */
	{
		Chronik__Meta__ConfigEntry many[70], *mv[70];
		uint8_t big[4096];

		for (int i = 0; i < 70; i++) {
			chronik__meta__config_entry__init(&many[i]);
			many[i].name = "k";
			mv[i] = &many[i];
		}
		rec.configs = mv;
		rec.n_configs = 70;
		len = chronik__meta__topic_record__pack(&rec, big);
		ck_assert_int_eq(raftd_cfgedit(big, len, &ac, out, sizeof(out), &n), CK_E_CORRUPT);
		rec.n_configs = 50;
		len = chronik__meta__topic_record__pack(&rec, big);
		ck_assert_int_gt(raftd_cfgedit(big, len, &ac, out, sizeof(out), &n), 0);
		ck_assert_uint_eq(n, 50);
	}
	/* replace_all is not an edit. */
	ac.replace_all = true;
	ck_assert_int_eq(raftd_cfgedit(in, len, &ac, out, sizeof(out), &n), CK_E_INVALID);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("raftd_cfgedit");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_matches_unpack_merge_pack, 0, 4);
	tcase_add_test(tc, test_refuses_what_does_not_parse);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
