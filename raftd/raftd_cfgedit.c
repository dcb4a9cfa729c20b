/*
 * raftd_cfgedit.c: config entries changed in a packed TopicRecord
 * (raftd_cfgedit.h). One pass over the record's fields, no allocation.
 */
#include <string.h>

#include "ck_buf.h"
#include "ck_err.h"
#include "raftd_cfgedit.h"

enum {
	CFGEDIT_FIELD_CONFIGS = 4, /* TopicRecord.configs */
	CFGEDIT_ENTRY_NAME = 1,    /* ConfigEntry.name */
	CFGEDIT_WIRE_VARINT = 0,
	CFGEDIT_WIRE_I64 = 1,
	CFGEDIT_WIRE_LEN = 2,
	CFGEDIT_WIRE_I32 = 5,
};

typedef struct {
	const uint8_t *p; /* the whole field, tag included */
	size_t len;
	uint32_t num;
	const uint8_t *body; /* a LEN field's bytes */
	size_t body_len;
} cfgedit_field_t;

/* A varint from S (one-byte ones inline: most tags and lengths here). */
static inline int cfgedit_varint(ck_span_t *s, uint64_t *v)
{
	if (s->len && s->p[0] < 0x80) {
		*v = s->p[0];
		s->p++;
		s->len--;
		return 0;
	}
	return ck_span_uvarint64(s, v);
}

/* Reads the next field of S into F; 1, 0 at the end, or CK_E_CORRUPT. */
static int cfgedit_next(ck_span_t *s, cfgedit_field_t *f)
{
	const uint8_t *start = s->p;
	uint64_t tag, v;

	if (!s->len)
		return 0;
	if (cfgedit_varint(s, &tag) < 0 || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
		return CK_E_CORRUPT;
	f->num = (uint32_t)(tag >> 3);
	f->body = NULL;
	f->body_len = 0;
	switch (tag & 7) {
	case CFGEDIT_WIRE_VARINT:
		if (cfgedit_varint(s, &v) < 0)
			return CK_E_CORRUPT;
		break;
	case CFGEDIT_WIRE_I64:
		if (ck_span_skip(s, 8) < 0)
			return CK_E_CORRUPT;
		break;
	case CFGEDIT_WIRE_I32:
		if (ck_span_skip(s, 4) < 0)
			return CK_E_CORRUPT;
		break;
	case CFGEDIT_WIRE_LEN:
		if (cfgedit_varint(s, &v) < 0 || v > s->len ||
		    ck_span_bytes(s, (size_t)v, &f->body) < 0)
			return CK_E_CORRUPT;
		f->body_len = (size_t)v;
		break;
	default:
		return CK_E_CORRUPT;
	}
	f->p = start;
	f->len = (size_t)(s->p - start);
	return 1;
}

/* The name of a packed ConfigEntry (its last name field; none: ""). */
static int cfgedit_entry_name(const cfgedit_field_t *f, const uint8_t **ret, size_t *ret_len)
{
	ck_span_t s = ck_span(f->body, f->body_len);
	cfgedit_field_t g;
	int r;

	*ret = (const uint8_t *)"";
	*ret_len = 0;
	while ((r = cfgedit_next(&s, &g)) == 1) {
		if (g.num == CFGEDIT_ENTRY_NAME) {
			if (!g.body)
				return CK_E_CORRUPT;
			*ret = g.body;
			*ret_len = g.body_len;
		}
	}
	return r;
}

static bool cfgedit_str_eq(const uint8_t *p, size_t n, const char *s)
{
	return s && strlen(s) == n && !memcmp(p, s, n);
}

/* Whether C sets or deletes the entry named (P, N). */
static bool cfgedit_touched(const Chronik__Meta__AlterTopicConfigs *c, const uint8_t *p, size_t n)
{
	for (size_t j = 0; j < c->n_set; j++)
		if (cfgedit_str_eq(p, n, c->set[j]->name))
			return true;
	for (size_t j = 0; j < c->n_delete_; j++)
		if (cfgedit_str_eq(p, n, c->delete_[j]))
			return true;
	return false;
}

/* Appends N bytes of P to OUT when they fit; counts them either way. */
static void cfgedit_put(uint8_t *out, size_t cap, size_t *at, const void *p, size_t n)
{
	if (*at + n <= cap && n)
		memcpy(out + *at, p, n);
	*at += n;
}

/* Where each field of the record goes: before the configs, a kept
 * config, after them. */
enum { CFGEDIT_PRE, CFGEDIT_KEEP, CFGEDIT_POST, CFGEDIT_DROP };

/* The class of field F of a record altered by C. */
static int cfgedit_class(const cfgedit_field_t *f, const Chronik__Meta__AlterTopicConfigs *c)
{
	const uint8_t *name;
	size_t n;
	int r;

	if (f->num < CFGEDIT_FIELD_CONFIGS)
		return CFGEDIT_PRE;
	if (f->num > CFGEDIT_FIELD_CONFIGS)
		return CFGEDIT_POST;
	if (!f->body)
		return CK_E_CORRUPT;
	r = cfgedit_entry_name(f, &name, &n);
	if (r < 0)
		return r;
	return cfgedit_touched(c, name, n) ? CFGEDIT_DROP : CFGEDIT_KEEP;
}

/* Writes C's set entries as config fields. */
static void cfgedit_put_set(const Chronik__Meta__AlterTopicConfigs *c, uint8_t *out, size_t cap,
                            size_t *at)
{
	for (size_t j = 0; j < c->n_set; j++) {
		const ProtobufCMessage *m = &c->set[j]->base;
		size_t n = protobuf_c_message_get_packed_size(m);
		uint8_t hdr[11];
		size_t h = 1;

		hdr[0] = (CFGEDIT_FIELD_CONFIGS << 3) | CFGEDIT_WIRE_LEN;
		h += ck_uvarint64_put(hdr + 1, n);
		cfgedit_put(out, cap, at, hdr, h);
		if (*at + n <= cap)
			(void)protobuf_c_message_pack(m, out + *at);
		*at += n;
	}
}

#define CFGEDIT_FIELDS_MAX 64

long raftd_cfgedit(const uint8_t *in, size_t len, const Chronik__Meta__AlterTopicConfigs *c,
                   uint8_t *out, size_t cap, size_t *ret_n)
{
	cfgedit_field_t f[CFGEDIT_FIELDS_MAX];
	uint8_t cls[CFGEDIT_FIELDS_MAX];
	ck_span_t s = ck_span(in, len);
	size_t nf = 0, at = 0, kept = 0;
	int r;

	if (c->replace_all)
		return CK_E_INVALID;
	/* One parse; a record of more fields than that is not ours. */
	while ((r = cfgedit_next(&s, &f[nf])) == 1) {
		int k = cfgedit_class(&f[nf], c);

		if (k < 0)
			return k;
		if (nf == CFGEDIT_FIELDS_MAX - 1)
			return CK_E_CORRUPT;
		cls[nf++] = (uint8_t)k;
		kept += k == CFGEDIT_KEEP;
	}
	if (r < 0)
		return r;
	for (int want = CFGEDIT_PRE; want <= CFGEDIT_POST; want++) {
		for (size_t i = 0; i < nf; i++)
			if (cls[i] == want)
				cfgedit_put(out, cap, &at, f[i].p, f[i].len);
		if (want == CFGEDIT_KEEP)
			cfgedit_put_set(c, out, cap, &at);
	}
	*ret_n = kept + c->n_set;
	return (long)at;
}
