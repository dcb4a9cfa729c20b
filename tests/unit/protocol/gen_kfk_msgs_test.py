#!/usr/bin/env python3
"""gen_kfk_msgs_test.py: generates the round-trip test helpers of the Kafka codec.

Run by meson for tests/unit/protocol at build time (python3 standard library
only); nothing it writes is committed. Reuses the schema model of
kafka-frontend/protocol/gen_codec.py:

    gen_kfk_msgs_test.py GEN_CODEC_DIR SCHEMA OUTDIR -> kfk_msgs_test.h, kfk_msgs_test.c

For every message: a pseudo-random filler that sets every field present in a
version to a value valid for that version (plus random unknown tagged fields
in flexible versions) and every other field to its default, a deep
comparison, and a table of them all.
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else ".")
from gen_codec import (Gen, Out, PRIM, SchemaError, pair_apis,  # noqa: E402
                       parse_schema, write)

TEST_PRELUDE = r"""
/* xorshift64*: deterministic for a given seed. */
static uint64_t kfkt_next(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint32_t kfkt_below(uint64_t *s, uint32_t n) { return (uint32_t)(kfkt_next(s) % n); }

static const char kfkt_pool[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
	"the quick brown fox jumps over the lazy dog \xc3\xa9\xe2\x82\xac!";

static kfk_str_t kfkt_str(uint64_t *s, bool nullable)
{
	kfk_str_t v;

	if (nullable && kfkt_below(s, 5) == 0)
		return KFK_STR_NULL;
	v.len = (int32_t)kfkt_below(s, 24);
	v.ptr = kfkt_pool + kfkt_below(s, (uint32_t)(sizeof(kfkt_pool) - 1 - (size_t)v.len));
	if (kfkt_below(s, 7) == 0)
		v.len = 0;
	return v;
}

static kfk_bytes_t kfkt_bytes(uint64_t *s, bool nullable, kfk_arena_t *a)
{
	kfk_bytes_t v = {NULL, 0};
	uint8_t *p = NULL;
	int32_t i;

	if (nullable && kfkt_below(s, 5) == 0) {
		v.len = -1;
		return v;
	}
	v.len = (int32_t)kfkt_below(s, 40);
	CK_ASSERT(kfk_arena_alloc(a, (size_t)v.len, 1, (void **)&p) == 0);
	for (i = 0; i < v.len; i++)
		p[i] = (uint8_t)kfkt_next(s);
	v.ptr = p;
	return v;
}

static void kfkt_uuid(uint64_t *s, uint8_t u[16])
{
	int i;

	for (i = 0; i < 16; i++)
		u[i] = (uint8_t)kfkt_next(s);
}

static int32_t kfkt_count(uint64_t *s, bool nullable)
{
	if (nullable && kfkt_below(s, 6) == 0)
		return -1;
	return (int32_t)kfkt_below(s, 4);
}

static void *kfkt_items(kfk_arena_t *a, int32_t n, size_t size)
{
	void *p = NULL;

	if (n > 0)
		CK_ASSERT(kfk_arena_alloc(a, (size_t)n, size, &p) == 0);
	return p;
}

/* 0-2 unknown tagged fields on tags below 12 that KNOWN (a bit per tag) does
 * not use, ascending, with random payloads. */
static void kfkt_unknown_tags(uint64_t *s, kfk_raw_tags_t *t, uint64_t known, kfk_arena_t *a)
{
	uint32_t tag, want = kfkt_below(s, 3);

	t->count = 0;
	t->items = kfkt_items(a, 2, sizeof(*t->items));
	for (tag = 0; tag < 12 && (uint32_t)t->count < want; tag++) {
		kfk_bytes_t b;
		if (known & (1ull << tag) || kfkt_below(s, 4) != 0)
			continue;
		b = kfkt_bytes(s, false, a);
		t->items[t->count].tag = tag;
		t->items[t->count].len = (uint32_t)b.len;
		t->items[t->count].ptr = b.ptr;
		t->count++;
	}
}

static bool kfkt_str_same(kfk_str_t a, kfk_str_t b)
{
	return a.len == b.len && (a.len <= 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

static bool kfkt_bytes_same(kfk_bytes_t a, kfk_bytes_t b)
{
	return a.len == b.len && (a.len <= 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

static bool kfkt_tags_same(const kfk_raw_tags_t *a, const kfk_raw_tags_t *b)
{
	int32_t i;

	if (a->count != b->count)
		return false;
	for (i = 0; i < a->count; i++) {
		const kfk_raw_tag_t *x = &a->items[i], *y = &b->items[i];
		if (x->tag != y->tag || x->len != y->len ||
		    (x->len && memcmp(x->ptr, y->ptr, x->len) != 0))
			return false;
	}
	return true;
}

static bool kfkt_differs(char *why, size_t why_len, const char *path)
{
	snprintf(why, why_len, "%s", path);
	return false;
}
"""


class TestGen(Gen):
    def fill_value(self, o, f, lv, ind, elem=False):
        nullable = "false" if elem else self.nullable(f, "v")
        if f.struct:
            o("fill_%s(&%s, v, s, a);" % (f.struct.cbase, lv), ind)
        elif f.base == "uuid":
            o("kfkt_uuid(s, %s);" % lv, ind)
        elif f.base == "string":
            o("%s = kfkt_str(s, %s);" % (lv, nullable), ind)
        elif f.base in ("bytes", "records"):
            o("%s = kfkt_bytes(s, %s, a);" % (lv, nullable), ind)
        elif f.base == "bool":
            o("%s = kfkt_below(s, 2) != 0;" % lv, ind)
        elif f.base == "float64":
            o("%s = (double)(int32_t)kfkt_next(s) / 64.0;" % lv, ind)
        else:
            o("%s = (%s)kfkt_next(s);" % (lv, PRIM[f.base][0]), ind)

    def fill_field(self, o, f, ind):
        lv = "m->" + f.cname
        if not f.is_array:
            self.fill_value(o, f, lv, ind)
            return
        o("%s.count = kfkt_count(s, %s);" % (lv, self.nullable(f, "v")), ind)
        o("%s.items = kfkt_items(a, %s.count, sizeof(*%s.items));" % (lv, lv, lv), ind)
        o("for (i = 0; i < %s.count; i++)" % lv, ind)
        self.fill_value(o, f, "%s.items[i]" % lv, ind + 1, elem=True)

    def gen_fill(self, o, st):
        o("static void fill_%s(%s *m, int16_t v, uint64_t *s, kfk_arena_t *a)\n{"
          % (st.cbase, st.ctype))
        if any(f.is_array for f in st.fields):
            o("int32_t i;\n", 1)
        o("kfk_%s_init(m);" % st.cbase, 1)
        for f in st.fields:
            pos = self.pos_cond(f, "v")
            tagged = self.vcond(f.tagged, "v") if f.tag is not None else "0"
            if pos != "0":
                o("if (%s) {" % pos, 1)
                self.fill_field(o, f, 2)
                o("}", 1)
            if tagged != "0":
                o("if ((%s) && kfkt_below(s, 3) != 0) {" % tagged, 1)
                self.fill_field(o, f, 2)
                o("}", 1)
        if self.m.ever_flex():
            known = " | ".join("((%s) ? (1ull << %d) : 0)" % (self.vcond(f.tagged, "v"), f.tag)
                               for f in st.known_tags()) or "0"
            o("if (%s)" % self.flex_bool("v"), 1)
            o("kfkt_unknown_tags(s, &m->unknown_tags, %s, a);" % known, 2)
        o("(void)v;\n(void)s;\n(void)a;", 1)
        o("}\n")

    def eq_value(self, o, f, a, b, path, ind):
        if f.struct:
            o("if (!eq_%s(&%s, &%s, why, why_len))\n\treturn false;" % (f.struct.cbase, a, b), ind)
            return
        if f.base == "uuid":
            test = "memcmp(%s, %s, 16) != 0" % (a, b)
        elif f.base == "string":
            test = "!kfkt_str_same(%s, %s)" % (a, b)
        elif f.base in ("bytes", "records"):
            test = "!kfkt_bytes_same(%s, %s)" % (a, b)
        else:
            test = "%s != %s" % (a, b)
        o("if (%s)\n\treturn kfkt_differs(why, why_len, \"%s\");" % (test, path), ind)

    def gen_eq(self, o, st):
        o("static bool eq_%s(const %s *x, const %s *y, char *why, size_t why_len)\n{"
          % (st.cbase, st.ctype, st.ctype))
        if any(f.is_array for f in st.fields):
            o("int32_t i;\n", 1)
        for f in st.fields:
            path = "%s.%s" % (st.cbase, f.cname)
            a, b = "x->" + f.cname, "y->" + f.cname
            if f.is_array:
                o("if (%s.count != %s.count)\n\treturn kfkt_differs(why, why_len, \"%s.count\");"
                  % (a, b, path), 1)
                o("for (i = 0; i < %s.count; i++) {" % a, 1)
                self.eq_value(o, f, a + ".items[i]", b + ".items[i]", path + "[]", 2)
                o("}", 1)
            else:
                self.eq_value(o, f, a, b, path, 1)
        if self.m.ever_flex():
            o("if (!kfkt_tags_same(&x->unknown_tags, &y->unknown_tags))\n"
              "\treturn kfkt_differs(why, why_len, \"%s.unknown_tags\");" % st.cbase, 1)
        o("(void)x;\n(void)y;\n(void)why;\n(void)why_len;\nreturn true;", 1)
        o("}\n")

    def gen(self, o):
        sts = self.m.structs + [self.m.root]
        for st in sts:
            self.gen_fill(o, st)
        for st in sts:
            self.gen_eq(o, st)
        rc = self.m.root
        o("static void kfkt_%s_fill(void *m, int16_t v, uint64_t *s, kfk_arena_t *a)\n{\n"
          "\tfill_%s((%s *)m, v, s, a);\n}\n" % (rc.cbase, rc.cbase, rc.ctype))
        o("static bool kfkt_%s_eq(const void *x, const void *y, char *why, size_t n)\n{\n"
          "\treturn eq_%s((const %s *)x, (const %s *)y, why, n);\n}\n"
          % (rc.cbase, rc.cbase, rc.ctype, rc.ctype))
        o("static void kfkt_%s_init(void *m) { kfk_%s_init((%s *)m); }" % (
            rc.cbase, rc.cbase, rc.ctype))
        o("static int kfkt_%s_decode(ck_span_t *in, int16_t v, kfk_arena_t *a, void *ret)\n{\n"
          "\treturn kfk_%s_decode(in, v, a, (%s *)ret);\n}" % (rc.cbase, rc.cbase, rc.ctype))
        o("static int kfkt_%s_encode(ck_buf_t *out, int16_t v, const void *m)\n{\n"
          "\treturn kfk_%s_encode(out, v, (const %s *)m);\n}\n" % (rc.cbase, rc.cbase, rc.ctype))


def gen_tests(msgs):
    h = Out()
    h("/*\n * kfk_msgs_test.h: round-trip test helpers, GENERATED by gen_codec.py from\n"
      " * kafka.schema for tests/unit/protocol only. Do not edit.\n */")
    h("#ifndef KFK_MSGS_TEST_H\n#define KFK_MSGS_TEST_H\n")
    h('#include "kfk_msgs.h"\n')
    h("""typedef enum { KFKT_HEADER, KFKT_REQUEST, KFKT_RESPONSE } kfkt_kind_t;

/* One message of the schema with helpers behind void pointers. fill() sets
 * every field present in version V to a pseudo-random value valid for V (and
 * random unknown tagged fields in flexible versions), every other field to its
 * default; eq() compares all fields and names the first difference in WHY. */
typedef struct {
	const char *name;
	kfkt_kind_t kind;
	int16_t api_key; /* -1 for headers */
	int16_t min_version;
	int16_t max_version;
	size_t size;
	void (*fill)(void *m, int16_t v, uint64_t *seed, kfk_arena_t *a);
	bool (*eq)(const void *x, const void *y, char *why, size_t why_len);
	void (*init)(void *m);
	int (*decode)(ck_span_t *in, int16_t v, kfk_arena_t *a, void *ret);
	int (*encode)(ck_buf_t *out, int16_t v, const void *m);
} kfkt_msg_t;

extern const kfkt_msg_t kfkt_msgs[];
extern const size_t kfkt_msg_count;
""")
    h("#endif")
    o = Out()
    o("/*\n * kfk_msgs_test.c: round-trip test helpers, GENERATED by gen_codec.py.\n */")
    o('#include "kfk_msgs_test.h"\n\n#include <stdio.h>\n#include <string.h>\n\n'
      '#include "ck_err.h"')
    o(TEST_PRELUDE)
    for m in msgs:
        TestGen(m).gen(o)
    o("const kfkt_msg_t kfkt_msgs[] = {")
    for m in msgs:
        rc = m.root.cbase
        o("{\"%s\", KFKT_%s, %d, %d, %d, sizeof(%s), kfkt_%s_fill, kfkt_%s_eq, kfkt_%s_init,"
          % (rc, m.kind.upper(), m.key if m.key is not None else -1, m.lo, m.hi,
             m.root.ctype, rc, rc, rc), 1)
        o(" kfkt_%s_decode, kfkt_%s_encode}," % (rc, rc), 1)
    o("};\n\nconst size_t kfkt_msg_count = sizeof(kfkt_msgs) / sizeof(kfkt_msgs[0]);")
    return h.text(), o.text()


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    try:
        msgs = parse_schema(argv[2])
        pair_apis(msgs)
    except SchemaError as e:
        sys.stderr.write("gen_kfk_msgs_test.py: %s: %s\n" % (argv[2], e))
        return 1
    h, c = gen_tests(msgs)
    write(os.path.join(argv[3], "kfk_msgs_test.h"), h)
    write(os.path.join(argv[3], "kfk_msgs_test.c"), c)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
