#!/usr/bin/env python3
"""gen_codec.py: generates chronik's Kafka message codec from kafka.schema.

Run by meson at build time (python3 standard library only); nothing it writes
is committed. Usage:

    gen_codec.py codec SCHEMA OUTDIR PARTS   -> kfk_msgs.h, kfk_msgs_api.c,
                                                kfk_msgs_0.c .. kfk_msgs_<PARTS-1>.c

For every message (headers, and the request and response of every API) the
codec output has a C struct tree, kfk_<name>_init() for every struct (sets
the schema defaults), and kfk_<name>_decode() / kfk_<name>_encode() for the
top-level struct, plus the kfk_apis[] dispatch table. The decoders are
straight-line per struct with version tests per field; nested structs are
separate functions whose depth is fixed by the schema, so decoding never
recurses on input. tests/unit/protocol/gen_kfk_msgs_test.py reuses this
module to emit the round-trip test helpers.

Schema format: see the comment at the top of kafka.schema.
"""
import json
import os
import re
import sys

# type -> (C type, reader, writer, fixed wire size or None)
PRIM = {
    "bool": ("bool", "kfk_rd_bool", "kfk_wr_bool", 1),
    "int8": ("int8_t", "kfk_rd_i8", "kfk_wr_i8", 1),
    "int16": ("int16_t", "kfk_rd_i16", "kfk_wr_i16", 2),
    "uint16": ("uint16_t", "kfk_rd_u16", "kfk_wr_u16", 2),
    "int32": ("int32_t", "kfk_rd_i32", "kfk_wr_i32", 4),
    "uint32": ("uint32_t", "kfk_rd_u32", "kfk_wr_u32", 4),
    "int64": ("int64_t", "kfk_rd_i64", "kfk_wr_i64", 8),
    "float64": ("double", "kfk_rd_f64", "kfk_wr_f64", 8),
    "uuid": ("uint8_t", "kfk_rd_uuid", "kfk_wr_uuid", 16),
    "string": ("kfk_str_t", "kfk_rd_str", "kfk_wr_str", None),
    "bytes": ("kfk_bytes_t", "kfk_rd_bytes", "kfk_wr_bytes", None),
    "records": ("kfk_bytes_t", "kfk_rd_bytes", "kfk_wr_bytes", None),
}
C_KEYWORDS = {"auto", "break", "case", "char", "const", "continue", "default", "do",
              "double", "else", "enum", "extern", "float", "for", "goto", "if", "int",
              "long", "register", "return", "short", "signed", "sizeof", "static",
              "struct", "switch", "typedef", "union", "unsigned", "void", "volatile",
              "while", "inline", "restrict", "bool"}


class SchemaError(Exception):
    pass


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = s.lower()
    return s + "_" if s in C_KEYWORDS else s


class Range:
    """A version range: lo..hi inclusive, hi None = open; empty for "none"."""

    def __init__(self, text):
        text = text.strip()
        self.empty = text == "none"
        self.lo, self.hi = 0, None
        if self.empty:
            return
        m = re.fullmatch(r"(\d+)(\+|-(\d+))?", text)
        if not m:
            raise SchemaError("bad version range %r" % text)
        self.lo = int(m.group(1))
        if m.group(2) == "+":
            self.hi = None
        elif m.group(3) is not None:
            self.hi = int(m.group(3))
        else:
            self.hi = self.lo

    def has(self, v):
        return not self.empty and v >= self.lo and (self.hi is None or v <= self.hi)

    def cond(self, var, lo, hi):
        """C test of VAR in this range, knowing lo <= VAR <= hi."""
        return set_cond([v for v in range(lo, hi + 1) if self.has(v)], var, lo, hi)


def set_cond(inside, var, lo, hi):
    """C test of VAR in the version set INSIDE, knowing lo <= VAR <= hi."""
    if not inside:
        return "0"
    if len(inside) == hi - lo + 1:
        return "1"
    runs = []
    for v in sorted(inside):
        if runs and runs[-1][1] == v - 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    terms = []
    for a, b in runs:
        parts = []
        if a == b and lo < a < hi:
            parts.append("%s == %d" % (var, a))
        else:
            if a > lo:
                parts.append("%s >= %d" % (var, a))
            if b < hi:
                parts.append("%s <= %d" % (var, b))
        terms.append(" && ".join(parts))
    if len(terms) == 1:
        return terms[0]
    return " || ".join("(%s)" % t for t in terms)


def c_and(a, b):
    if a == "0" or b == "0":
        return "0"
    if a == "1":
        return b
    if b == "1":
        return a
    return "(%s) && (%s)" % (a, b)


def c_not(a):
    return {"0": "1", "1": "0"}.get(a, "!(%s)" % a)


class Field:
    def __init__(self, name, ftype, versions, opts, lineno):
        self.name = name
        self.cname = snake(name)
        self.lineno = lineno
        self.is_array = ftype.startswith("[]")
        self.base = ftype[2:] if self.is_array else ftype
        self.versions = Range(versions)
        self.nullable = Range(opts.pop("nullable", "none"))
        self.default = opts.pop("default", None)
        self.default_quoted = False  # default="null" is the string, not null
        self.tag = int(opts.pop("tag")) if "tag" in opts else None
        self.tagged = Range(opts.pop("tagged", "none"))
        self.flex_none = opts.pop("flexible", None) == "none"
        if opts:
            raise SchemaError("line %d: unknown options %s" % (lineno, sorted(opts)))
        if (self.tag is None) != self.tagged.empty:
            raise SchemaError("line %d: tag and tagged go together" % lineno)
        self.struct = None  # Struct, for struct-typed fields

    @property
    def is_struct(self):
        return self.base not in PRIM


class Struct:
    def __init__(self, msg, name, cbase):
        self.msg = msg
        self.name = name
        self.cbase = cbase
        self.ctype = "kfk_%s_t" % cbase
        self.fields = []
        self.as_element = False  # used as an array element
        self.as_tagged = False   # needs an is-default test

    def known_tags(self):
        return [f for f in self.fields
                if f.tag is not None and any(f.tagged.has(v) for v in self.msg.vrange())]


class Message:
    def __init__(self, kind, name, key, versions, flex, lineno):
        self.kind, self.name, self.key = kind, name, key
        self.versions = Range(versions)
        self.flex = Range(flex)
        if self.versions.empty or self.versions.hi is None:
            raise SchemaError("line %d: versions must be closed" % lineno)
        self.lo, self.hi = self.versions.lo, self.versions.hi
        self.cbase = snake(name) if kind == "header" else "%s_%s" % (snake(name), kind)
        self.root = Struct(self, name, self.cbase)
        self.structs = []    # children before parents, root last
        self.common = {}

    def vrange(self):
        return range(self.lo, self.hi + 1)

    def ever_flex(self):
        return any(self.flex.has(v) for v in self.vrange())

    def flex_cond(self, var):
        return self.flex.cond(var, self.lo, self.hi)

    def flex_from(self):
        for v in self.vrange():
            if self.flex.has(v):
                return v
        return -1


# ---------------------------------------------------------------- parsing

def tokens(text):
    """Splits a schema line into (key, value) pairs; value None for a bare
    word, ("str", text) for a quoted string."""
    out = []
    for tok in text.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            if v.startswith('"'):
                v = json.loads(v)
                v = ("str", v)
            out.append((k, v))
        else:
            out.append((tok, None))
    return out


def parse_schema(path):
    msgs = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    stack = []  # (indent, Struct) being filled
    msg = None
    pending = None  # (indent, Field) that may open a struct
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent_sp = len(raw) - len(raw.lstrip(" "))
        if indent_sp % 2 or "\t" in raw:
            raise SchemaError("line %d: indent with two spaces" % lineno)
        indent = indent_sp // 2
        toks = tokens(raw.strip())
        if indent == 0:
            while msg is not None and stack:
                done = stack.pop()[1]
                if done is not msg.root:
                    msg.structs.append(done)
            kind, name = toks[0][0], toks[1][0]
            opts = dict(toks[2:])
            if kind not in ("header", "request", "response"):
                raise SchemaError("line %d: unknown kind %s" % (lineno, kind))
            key = int(opts["key"]) if "key" in opts else None
            msg = Message(kind, name, key, opts["versions"], opts.get("flexible", "none"), lineno)
            msgs.append(msg)
            stack = [(0, msg.root)]
            pending = None
            continue
        if msg is None:
            raise SchemaError("line %d: field outside a message" % lineno)
        if pending and indent == pending[0] + 1:
            f = pending[1]
            if not f.is_struct:
                raise SchemaError("line %d: fields under non-struct %s" % (lineno, f.name))
            if f.base in msg.common or any(s.name == f.base for s in msg.structs):
                raise SchemaError("line %d: struct %s defined twice" % (lineno, f.base))
            st = Struct(msg, f.base, struct_cbase(msg, f.base))
            f.struct = st
            stack.append((indent - 1, st))
        while stack and stack[-1][0] >= indent:
            done = stack.pop()[1]
            if done is not msg.root:
                msg.structs.append(done)
        if not stack:
            raise SchemaError("line %d: bad indent" % lineno)
        pending = None
        if toks[0][0] == "struct" and indent == 1:
            st = Struct(msg, toks[1][0], struct_cbase(msg, toks[1][0]))
            msg.common[st.name] = st
            stack.append((indent, st))
            continue
        name, ftype, versions = toks[0][0], toks[1][0], toks[2][0]
        opts = {k: (v[1] if isinstance(v, tuple) else v) for k, v in toks[3:]}
        f = Field(name, ftype, versions, opts, lineno)
        f.default_quoted = isinstance(dict(toks[3:]).get("default"), tuple)
        stack[-1][1].fields.append(f)
        pending = (indent, f)
    while stack:
        done = stack.pop()[1]
        if msg is not None and done is not msg.root:
            msg.structs.append(done)
    for m in msgs:
        finish_message(m)
    return msgs


def struct_cbase(msg, name):
    """C name base of struct NAME: the message's, then the struct name without
    a repeated message prefix (JoinGroupRequestProtocol -> ..._protocol)."""
    prefix = msg.name + (msg.kind.capitalize() if msg.kind != "header" else "")
    short = name[len(prefix):] if name.startswith(prefix) and len(name) > len(prefix) else name
    return "%s_%s" % (msg.cbase, snake(short))


def finish_message(msg):
    # Common structs go first: inline ones may refer to them.
    order = list(msg.common.values()) + [s for s in msg.structs if s.name not in msg.common]
    msg.structs = order
    names = [st.cbase for st in order] + [msg.root.cbase]
    if len(names) != len(set(names)):
        raise SchemaError("%s: struct C names collide" % msg.name)
    for st in msg.structs + [msg.root]:
        for f in st.fields:
            if f.is_struct and f.struct is None:
                # A common struct, or an inline one defined by another field.
                known = {s.name: s for s in order}
                if f.base not in known:
                    raise SchemaError("line %d: unknown type %s" % (f.lineno, f.base))
                f.struct = known[f.base]
            if f.is_struct and not f.is_array and not f.nullable.empty:
                raise SchemaError("line %d: nullable structs are not supported" % f.lineno)
            if f.flex_none and f.base != "string":
                raise SchemaError("line %d: flexible=none only for strings" % f.lineno)
            if f.is_array and f.struct:
                f.struct.as_element = True
        tags = [f.tag for f in st.known_tags()]
        if len(tags) != len(set(tags)):
            raise SchemaError("%s: duplicate tags in %s" % (msg.name, st.name))
    for st in msg.structs + [msg.root]:
        for f in st.fields:
            if f.tag is not None and f.struct and not f.is_array:
                mark_tagged(f.struct)


def mark_tagged(st):
    st.as_tagged = True
    for f in st.fields:
        if f.struct and not f.is_array:
            mark_tagged(f.struct)


# ---------------------------------------------------------------- helpers

def int_literal(value, ctype):
    v = int(value, 0)
    if ctype == "int32_t" and v == -2 ** 31:
        return "INT32_MIN"
    if ctype == "int64_t":
        return "INT64_MIN" if v == -2 ** 63 else "INT64_C(%d)" % v
    if ctype == "uint32_t":
        return "UINT32_C(%d)" % v
    return str(v)


def default_kind(f):
    """('null'|'empty'|'value', literal) for strings, bytes, arrays."""
    if f.default is None:
        return ("empty", None)
    if f.default == "null" and not f.default_quoted:
        return ("null", None)
    if f.is_array or f.base not in ("string",):
        if f.default in ("", "[]") or f.is_array:
            return ("empty", None)
        raise SchemaError("line %d: unsupported default %r" % (f.lineno, f.default))
    return ("empty", None) if f.default == "" else ("value", f.default)


def scalar_default(f):
    ctype = PRIM[f.base][0]
    if f.base == "bool":
        return "true" if f.default == "true" else "false"
    if f.default is None:
        return "0"
    if f.base == "float64":
        return repr(float(f.default))
    return int_literal(f.default, ctype)


def elem_minsz(f, flex):
    """Minimal wire size of one element of array field F."""
    if f.struct:
        return None  # looked up per version
    if f.base == "string":
        return 1 if flex else 2
    if f.base in ("bytes", "records"):
        return 1 if flex else 4
    return PRIM[f.base][3]


def field_minsz(f, v, flex):
    if not f.versions.has(v) or f.tagged.has(v):
        return 0
    if f.is_array:
        return 1 if flex else 4
    if f.struct:
        return struct_minsz(f.struct, v, flex)
    if f.base == "string":
        return 2 if (f.flex_none or not flex) else 1
    if f.base in ("bytes", "records"):
        return 1 if flex else 4
    return PRIM[f.base][3]


def struct_minsz(st, v, flex):
    return sum(field_minsz(f, v, flex) for f in st.fields) + (1 if flex else 0)


class Out:
    def __init__(self):
        self.lines = []

    def __call__(self, text="", ind=0):
        for line in text.split("\n") if text else [""]:
            self.lines.append(("\t" * ind + line) if line else "")

    def text(self):
        return "\n".join(self.lines) + "\n"


# ---------------------------------------------------------------- header

def member_decl(f):
    if f.is_array:
        if f.base == "uuid":
            item = "uint8_t (*items)[16]"
        elif f.struct:
            item = "%s *items" % f.struct.ctype
        else:
            item = "%s *items" % PRIM[f.base][0]
        return "struct {\n\tint32_t count;\n\t%s;\n} %s;" % (item, f.cname)
    if f.struct:
        return "%s %s;" % (f.struct.ctype, f.cname)
    if f.base == "uuid":
        return "uint8_t %s[16];" % f.cname
    return "%s %s;" % (PRIM[f.base][0], f.cname)


def versions_note(f):
    r = f.versions
    if r.empty:
        txt = "tagged only"
    elif r.hi is None:
        txt = "v%d+" % r.lo
    elif r.lo == r.hi:
        txt = "v%d" % r.lo
    else:
        txt = "v%d-%d" % (r.lo, r.hi)
    if not f.nullable.empty:
        txt += ", nullable"
    if f.tag is not None:
        txt += ", tag %d" % f.tag
    if f.default is not None:
        txt += ", default %s" % (f.default if f.default != "" else '""')
    return txt


def gen_struct_typedef(o, st):
    o("typedef struct {")
    for f in st.fields:
        decl = member_decl(f)
        lines = decl.split("\n")
        lines[-1] += " /* %s */" % versions_note(f)
        o("\n".join(lines), 1)
    if st.msg.ever_flex():
        o("kfk_raw_tags_t unknown_tags;", 1)
    if not st.fields and not st.msg.ever_flex():
        o("char unused_;", 1)
    o("} %s;" % st.ctype)
    o()


def gen_header(msgs, apis):
    o = Out()
    o("/*\n * kfk_msgs.h: Kafka message structs and codecs, GENERATED by gen_codec.py from\n"
      " * kafka.schema at build time. Do not edit; edit the schema or the generator.\n *\n"
      " * Every message has kfk_<message>_init() (schema defaults), _decode() and\n"
      " * _encode(); every nested struct has an _init(). Decode:\n"
      " *   int kfk_X_decode(ck_span_t *in, int16_t version, kfk_arena_t *arena, kfk_X_t *ret)\n"
      " * reads one message body from *in, borrowing strings and bytes from it and\n"
      " * taking arrays from ARENA. Fields absent in VERSION get their defaults. On\n"
      " * success *in is advanced past the message (trailing bytes are left for the\n"
      " * caller to judge) and *ret is written; on failure neither is, and whatever\n"
      " * the arena handed out stays until its reset. Returns 0, CK_E_PROTO for\n"
      " * malformed bytes, CK_E_INVALID for a version outside the schema (or a NULL\n"
      " * arena when arrays are present), CK_E_TOO_LARGE when the arena cap is hit,\n"
      " * -ENOMEM.\n"
      " * Encode:\n"
      " *   int kfk_X_encode(ck_buf_t *out, int16_t version, const kfk_X_t *msg)\n"
      " * appends the body big-endian; fields absent in VERSION are skipped and\n"
      " * tagged fields are written only when they differ from their default.\n"
      " * Returns 0, CK_E_INVALID (version outside the schema, null where the\n"
      " * version does not allow null, a string over 32767 bytes, a negative count\n"
      " * other than -1) or -ENOMEM; on failure *out is restored to its old length.\n */")
    o("#ifndef KFK_MSGS_H\n#define KFK_MSGS_H\n")
    o("#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n")
    o('#include "ck_buf.h"\n#include "kfk_arena.h"\n#include "kfk_types.h"\n')
    for m in msgs:
        o("/* ---- %s %s: versions %d-%d, %s */" % (
            m.kind, m.name, m.lo, m.hi,
            "flexible from v%d" % m.flex_from() if m.ever_flex() else "never flexible"))
        o()
        for st in m.structs + [m.root]:
            gen_struct_typedef(o, st)
        for st in m.structs + [m.root]:
            o("void kfk_%s_init(%s *m);" % (st.cbase, st.ctype))
        o("int kfk_%s_decode(ck_span_t *in, int16_t version, kfk_arena_t *arena, %s *ret);"
          % (m.cbase, m.root.ctype))
        o("int kfk_%s_encode(ck_buf_t *out, int16_t version, const %s *msg);"
          % (m.cbase, m.root.ctype))
        o()
    o("/* API keys of the APIs this codec knows. */")
    o("enum {")
    for req, _ in apis:
        o("KFK_API_%s = %d," % (snake(req.name).upper(), req.key), 1)
    o("};\n")
    o("""/* One row of the dispatch table: the versions the schema defines (a broker
 * advertises a sub-range), the first flexible version (-1: never) and the
 * codec entry points behind void pointers to the message structs. */
typedef struct {
	int16_t api_key;
	const char *name;
	int16_t min_version;
	int16_t max_version;
	int16_t flexible_version;
	size_t request_size;
	size_t response_size;
	void (*request_init)(void *msg);
	int (*request_decode)(ck_span_t *in, int16_t version, kfk_arena_t *arena, void *ret);
	int (*request_encode)(ck_buf_t *out, int16_t version, const void *msg);
	void (*response_init)(void *msg);
	int (*response_decode)(ck_span_t *in, int16_t version, kfk_arena_t *arena, void *ret);
	int (*response_encode)(ck_buf_t *out, int16_t version, const void *msg);
} kfk_api_t;

/* Rows in ascending api key order. */
extern const kfk_api_t kfk_apis[];
extern const size_t kfk_api_count;

/* The row for API_KEY, or NULL when the codec does not know it. */
const kfk_api_t *kfk_api_lookup(int16_t api_key);
""")
    o("#endif")
    return o.text()


# ---------------------------------------------------------------- codec

class Gen:
    """Emits the C of one message."""

    def __init__(self, msg):
        self.m = msg

    def vcond(self, rng, var):
        return rng.cond(var, self.m.lo, self.m.hi)

    def compact(self, f, var_flex):
        if f.flex_none or not self.m.ever_flex():
            return "false"
        if self.m.flex_cond("v") == "1":
            return "true"
        return var_flex

    def nullable(self, f, var):
        c = self.vcond(f.nullable, var)
        return {"0": "false", "1": "true"}.get(c, "(%s)" % c)

    def pos_cond(self, f, var):
        vs = [v for v in self.m.vrange() if f.versions.has(v) and not f.tagged.has(v)]
        return set_cond(vs, var, self.m.lo, self.m.hi)

    # -- init
    def gen_init(self, o, st):
        o("void kfk_%s_init(%s *m)\n{" % (st.cbase, st.ctype))
        o("memset(m, 0, sizeof(*m));", 1)
        for f in st.fields:
            lv = "m->" + f.cname
            if f.is_array:
                if default_kind(f)[0] == "null":
                    o("%s.count = -1;" % lv, 1)
            elif f.struct:
                o("kfk_%s_init(&%s);" % (f.struct.cbase, lv), 1)
            elif f.base in ("string", "bytes", "records"):
                kind, val = default_kind(f)
                if kind == "null":
                    o("%s.len = -1;" % lv, 1)
                elif kind == "value":
                    o('%s.ptr = %s;' % (lv, json.dumps(val)), 1)
                    o("%s.len = %d;" % (lv, len(val.encode("utf-8"))), 1)
            elif f.base != "uuid":
                d = scalar_default(f)
                if d not in ("0", "false", "0.0"):
                    o("%s = %s;" % (lv, d), 1)
        o("}\n")

    # -- is-default (tagged struct fields)
    def isdef_expr(self, f, lv):
        if f.is_array:
            return "%s.count == %d" % (lv, -1 if default_kind(f)[0] == "null" else 0)
        if f.struct:
            return "isdef_%s(&%s)" % (f.struct.cbase, lv)
        if f.base == "uuid":
            return "kfk_uuid_is_zero(%s)" % lv
        if f.base in ("string", "bytes", "records"):
            kind, val = default_kind(f)
            if kind == "null":
                return "%s.len == -1" % lv
            if kind == "empty":
                return "%s.len == 0" % lv
            raw = val.encode("utf-8")
            return "(%s.len == %d && memcmp(%s.ptr, %s, %d) == 0)" % (
                lv, len(raw), lv, json.dumps(val), len(raw))
        return "%s == %s" % (lv, scalar_default(f))

    def gen_isdef(self, o, st):
        o("static bool isdef_%s(const %s *m)\n{" % (st.cbase, st.ctype))
        conds = [self.isdef_expr(f, "m->" + f.cname) for f in st.fields]
        if self.m.ever_flex():
            conds.append("m->unknown_tags.count == 0")
        o("return %s;" % ("\n\t       && ".join(conds) if conds else "true"), 1)
        o("}\n")

    # -- decode
    def dec_value(self, o, f, lv, rd, ind, elem=False):
        """Decodes one value (an element when ELEM) of F into lvalue LV."""
        compact = self.compact(f, "r->flex")
        nullable = "false" if elem else self.nullable(f, "r->v")
        if f.struct:
            o("dec_%s(%s, &%s);" % (f.struct.cbase, rd, lv), ind)
        elif f.base == "uuid":
            o("kfk_rd_uuid(%s, %s);" % (rd, lv), ind)
        elif f.base in ("string", "bytes", "records"):
            o("%s = %s(%s, %s, %s);" % (lv, PRIM[f.base][1], rd, compact, nullable), ind)
        else:
            o("%s = %s(%s);" % (lv, PRIM[f.base][1], rd), ind)

    def dec_field(self, o, f, rd, ind):
        lv = "m->" + f.cname
        if not f.is_array:
            self.dec_value(o, f, lv, rd, ind)
            return
        compact = self.compact(f, "r->flex")
        if f.struct:
            minsz = "minsz_%s[r->v - %d]" % (f.struct.cbase, self.m.lo)
        else:
            a, b = elem_minsz(f, False), elem_minsz(f, True)
            minsz = str(a) if a == b or compact == "false" else (
                str(b) if compact == "true" else "(r->flex ? %d : %d)" % (b, a))
        o("{", ind)
        o("int32_t an = kfk_rd_count(%s, %s, %s, %s), ai;" % (
            rd, compact, self.nullable(f, "r->v"), minsz), ind + 1)
        o("%s.count = an;" % lv, ind + 1)
        o("if (an > 0) {", ind + 1)
        o("%s.items = kfk_rd_alloc(%s, (size_t)an, sizeof(*%s.items));" % (lv, rd, lv), ind + 2)
        o("if (!%s.items)" % lv, ind + 2)
        o("%s.count = 0;" % lv, ind + 3)
        o("for (ai = 0; ai < %s.count && !(%s)->err; ai++)" % (lv, rd), ind + 2)
        self.dec_value(o, f, "%s.items[ai]" % lv, rd, ind + 3, elem=True)
        o("}", ind + 1)
        o("}", ind)

    def gen_dec(self, o, st):
        o("static void dec_%s(kfk_rd_t *r, %s *m)\n{" % (st.cbase, st.ctype))
        o("kfk_%s_init(m);" % st.cbase, 1)
        for f in st.fields:
            c = self.pos_cond(f, "r->v")
            if c == "0":
                continue
            if c == "1":
                self.dec_field(o, f, "r", 1)
            else:
                o("if (%s) {" % c, 1)
                self.dec_field(o, f, "r", 2)
                o("}", 1)
        if self.m.ever_flex():
            self.gen_dec_tags(o, st)
        else:
            o("(void)r;", 1)
        o("}\n")

    def gen_dec_tags(self, o, st):
        known = st.known_tags()
        fc = self.m.flex_cond("r->v")
        head = "if (r->flex) " if fc != "1" else ""
        if not known:
            if head:
                o("if (r->flex)", 1)
            o("kfk_rd_tags(r, &m->unknown_tags);", 2 if head else 1)
            return
        o(head + "{", 1)
        o("uint32_t tn = kfk_rd_tags_begin(r), ti, tag;", 2)
        o("int64_t prev = -1;", 2)
        o("kfk_rd_t sub;\n", 2)
        o("for (ti = 0; ti < tn; ti++) {", 2)
        o("if (!kfk_rd_tag_next(r, &prev, &tag, &sub))", 3)
        o("break;", 4)
        o("switch (tag) {", 3)
        for f in sorted(known, key=lambda x: x.tag):
            o("case %d:" % f.tag, 3)
            c = self.vcond(f.tagged, "r->v")
            o("if (%s) {" % c, 4)
            self.dec_field(o, f, "&sub", 5)
            o("kfk_rd_tag_done(r, &sub);", 5)
            o("continue;", 5)
            o("}", 4)
            o("break;", 4)
        o("default:", 3)
        o("break;", 4)
        o("}", 3)
        o("kfk_rd_tag_keep(r, &m->unknown_tags, tn - ti, tag, &sub);", 3)
        o("}", 2)
        o("}", 1)

    # -- encode
    def enc_value(self, o, f, lv, ind, elem=False):
        compact = self.compact(f, "w->flex")
        nullable = "false" if elem else self.nullable(f, "w->v")
        if f.struct:
            o("enc_%s(w, &%s);" % (f.struct.cbase, lv), ind)
        elif f.base in ("string", "bytes", "records"):
            o("%s(w, %s, %s, %s);" % (PRIM[f.base][2], lv, compact, nullable), ind)
        else:
            o("%s(w, %s);" % (PRIM[f.base][2], lv), ind)

    def enc_field(self, o, f, ind):
        lv = "m->" + f.cname
        if not f.is_array:
            self.enc_value(o, f, lv, ind)
            return
        o("if (kfk_wr_count(w, %s.count, %s.items, %s, %s)) {" % (
            lv, lv, self.compact(f, "w->flex"), self.nullable(f, "w->v")), ind)
        o("int32_t ai;", ind + 1)
        o("for (ai = 0; ai < %s.count; ai++)" % lv, ind + 1)
        self.enc_value(o, f, "%s.items[ai]" % lv, ind + 2, elem=True)
        o("}", ind)

    def gen_enc(self, o, st):
        o("static void enc_%s(kfk_wr_t *w, const %s *m)\n{" % (st.cbase, st.ctype))
        for f in st.fields:
            c = self.pos_cond(f, "w->v")
            if c == "0":
                continue
            if c == "1":
                self.enc_field(o, f, 1)
            else:
                o("if (%s) {" % c, 1)
                self.enc_field(o, f, 2)
                o("}", 1)
        if self.m.ever_flex():
            self.gen_enc_tags(o, st)
        else:
            o("(void)w;\n(void)m;", 1)
        o("}\n")

    def gen_enc_tags(self, o, st):
        known = sorted(st.known_tags(), key=lambda x: x.tag)
        fc = self.m.flex_cond("w->v")
        o("%s{" % ("if (w->flex) " if fc != "1" else ""), 1)
        o("const kfk_raw_tags_t *ut = &m->unknown_tags;", 2)
        names = []
        for f in known:
            c = c_and(self.vcond(f.tagged, "w->v"), c_not(self.isdef_expr(f, "m->" + f.cname)))
            o("bool t%d = %s;" % (f.tag, {"1": "true", "0": "false"}.get(c, c)), 2)
            names.append("t%d" % f.tag)
        o("int32_t un = 0;\n", 2)
        o("if (ut->count < 0) {", 2)
        o("kfk_wr_fail(w, CK_E_INVALID);", 3)
        o("return;", 3)
        o("}", 2)
        o("kfk_wr_uvarint(w, (uint32_t)ut->count%s);" % "".join(
            " + (uint32_t)%s" % n for n in names), 2)
        for f in known:
            o("un = kfk_wr_tags_raw_below(w, ut, un, %d);" % f.tag, 2)
            o("if (t%d) {" % f.tag, 2)
            o("size_t at = kfk_wr_tag_begin(w, %d);\n" % f.tag, 3)
            self.enc_field(o, f, 3)
            o("kfk_wr_tag_end(w, at);", 3)
            o("}", 2)
        o("(void)kfk_wr_tags_raw_below(w, ut, un, UINT64_MAX);", 2)
        o("}", 1)

    def gen_minsz(self, o, st):
        sizes = []
        for v in self.m.vrange():
            sizes.append(max(1, struct_minsz(st, v, self.m.flex.has(v))))
        o("static const uint32_t minsz_%s[%d] = {%s};" % (
            st.cbase, len(sizes), ", ".join(str(s) for s in sizes)))

    def gen_public(self, o):
        m = self.m
        rc = m.root
        o("int kfk_%s_decode(ck_span_t *in, int16_t version, kfk_arena_t *arena, %s *ret)\n{"
          % (m.cbase, rc.ctype))
        o("kfk_rd_t r;\n%s msg;\n" % rc.ctype, 1)
        o("if (version < %d || version > %d)\n\treturn CK_E_INVALID;" % (m.lo, m.hi), 1)
        o("kfk_rd_init(&r, in, version, %s, arena);" % self.flex_bool("version"), 1)
        o("dec_%s(&r, &msg);" % rc.cbase, 1)
        o("if (r.err)\n\treturn r.err;", 1)
        o("in->p = r.p;\nin->len = r.len;\n*ret = msg;\nreturn 0;", 1)
        o("}\n")
        o("int kfk_%s_encode(ck_buf_t *out, int16_t version, const %s *msg)\n{"
          % (m.cbase, rc.ctype))
        o("size_t start = out->len;\nkfk_wr_t w;\n", 1)
        o("if (version < %d || version > %d)\n\treturn CK_E_INVALID;" % (m.lo, m.hi), 1)
        o("kfk_wr_init(&w, out, version, %s);" % self.flex_bool("version"), 1)
        o("enc_%s(&w, msg);" % rc.cbase, 1)
        o("return kfk_wr_finish(&w, start);", 1)
        o("}\n")

    def flex_bool(self, var):
        c = self.m.flex_cond(var)
        return {"0": "false", "1": "true"}.get(c, c)

    def gen(self, o):
        m = self.m
        o("/* ---- %s %s */\n" % (m.kind, m.name))
        sts = m.structs + [m.root]
        for st in sts:
            self.gen_init(o, st)
        for st in sts:
            if st.as_element:
                self.gen_minsz(o, st)
        for st in sts:
            if st.as_tagged:
                self.gen_isdef(o, st)
        for st in sts:
            self.gen_dec(o, st)
        for st in sts:
            self.gen_enc(o, st)
        self.gen_public(o)


def msg_weight(m):
    return sum(len(st.fields) + 3 for st in m.structs + [m.root])


def gen_codec_parts(msgs, parts):
    buckets = [[] for _ in range(parts)]
    weights = [0] * parts
    for m in sorted(msgs, key=msg_weight, reverse=True):
        i = weights.index(min(weights))
        buckets[i].append(m)
        weights[i] += msg_weight(m)
    texts = []
    for i, bucket in enumerate(buckets):
        o = Out()
        o("/*\n * kfk_msgs_%d.c: part %d of the Kafka codec, GENERATED by gen_codec.py from\n"
          " * kafka.schema. Do not edit. See kfk_msgs.h for the contracts.\n */" % (i, i))
        o('#include "kfk_msgs.h"\n\n#include "kfk_wire.h"\n')
        bucket.sort(key=lambda m: msgs.index(m))
        for m in bucket:
            Gen(m).gen(o)
        texts.append(o.text())
    return texts


def pair_apis(msgs):
    reqs = {m.name: m for m in msgs if m.kind == "request"}
    resps = {m.name: m for m in msgs if m.kind == "response"}
    apis = []
    for name, req in reqs.items():
        resp = resps.get(name)
        if resp is None or resp.key != req.key or (resp.lo, resp.hi) != (req.lo, req.hi) \
                or resp.flex_from() != req.flex_from():
            raise SchemaError("%s: request and response disagree" % name)
        apis.append((req, resp))
    apis.sort(key=lambda p: p[0].key)
    return apis


def gen_api_table(apis):
    o = Out()
    o("/*\n * kfk_msgs_api.c: the API dispatch table, GENERATED by gen_codec.py from\n"
      " * kafka.schema. Do not edit.\n */")
    o('#include "kfk_msgs.h"\n')
    for req, resp in apis:
        for m in (req, resp):
            t = m.root.ctype
            o("static void %s_init_v(void *m) { kfk_%s_init((%s *)m); }" % (m.cbase, m.cbase, t))
            o("static int %s_decode_v(ck_span_t *in, int16_t v, kfk_arena_t *a, void *ret)\n{\n"
              "\treturn kfk_%s_decode(in, v, a, (%s *)ret);\n}" % (m.cbase, m.cbase, t))
            o("static int %s_encode_v(ck_buf_t *out, int16_t v, const void *m)\n{\n"
              "\treturn kfk_%s_encode(out, v, (const %s *)m);\n}" % (m.cbase, m.cbase, t))
    o("\nconst kfk_api_t kfk_apis[] = {")
    for req, resp in apis:
        o("{%d, \"%s\", %d, %d, %d, sizeof(%s), sizeof(%s)," % (
            req.key, req.name, req.lo, req.hi, req.flex_from(), req.root.ctype,
            resp.root.ctype), 1)
        o(" %s_init_v, %s_decode_v, %s_encode_v," % ((req.cbase,) * 3), 1)
        o(" %s_init_v, %s_decode_v, %s_encode_v}," % ((resp.cbase,) * 3), 1)
    o("};\n")
    o("const size_t kfk_api_count = sizeof(kfk_apis) / sizeof(kfk_apis[0]);\n")
    o("const kfk_api_t *kfk_api_lookup(int16_t api_key)\n{\n\tswitch (api_key) {")
    for i, (req, _) in enumerate(apis):
        o("case %d:\n\treturn &kfk_apis[%d];" % (req.key, i), 1)
    o("default:\n\treturn NULL;\n\t}\n}", 1)
    return o.text()


# ---------------------------------------------------------------- main

def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv):
    if len(argv) < 4 or argv[1] != "codec":
        sys.stderr.write(__doc__)
        return 2
    try:
        msgs = parse_schema(argv[2])
        apis = pair_apis(msgs)
    except SchemaError as e:
        sys.stderr.write("gen_codec.py: %s: %s\n" % (argv[2], e))
        return 1
    outdir = argv[3]
    parts = int(argv[4]) if len(argv) > 4 else 1
    write(os.path.join(outdir, "kfk_msgs.h"), gen_header(msgs, apis))
    write(os.path.join(outdir, "kfk_msgs_api.c"), gen_api_table(apis))
    for i, text in enumerate(gen_codec_parts(msgs, parts)):
        write(os.path.join(outdir, "kfk_msgs_%d.c" % i), text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
