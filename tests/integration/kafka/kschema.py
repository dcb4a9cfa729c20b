"""kschema.py: the broker's own description of the Kafka messages
(kafka-frontend/protocol/kafka.schema) read in Python, for tests that speak
every API and version without a hand-written encoder for each: a generator of
requests whose structure is valid for their version and whose values are
hostile (boundary integers, nulls, odd names, broken record sets), and a
decoder that checks a response is well formed for its version.

Owned by the Kafka integration tests (BadInput.test_every_api_with_hostile_values,
RawProtocol.test_metadata_by_topic_id).
Independent of the C codec on purpose: the schema file is the shared truth,
and this reads it separately, so a bug in the generated C shows up here as a
response that does not decode.
Not for: hand-written requests whose fields a test asserts on (kproto.py).
"""
import os
import random
import struct

from kproto import R, ShortRead, W, gzip_batch, legacy_message, record_batch

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..',
                      'kafka-frontend', 'protocol', 'kafka.schema')
TOP = 1 << 15
PRIMITIVES = {'bool', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float64',
              'string', 'bytes', 'records', 'uuid'}


def _range(text):
    if text == 'none':
        return None
    if text.endswith('+'):
        return (int(text[:-1]), TOP)
    lo, _, hi = text.partition('-')
    return (int(lo), int(hi or lo))


def within(rng, v):
    return rng is not None and rng[0] <= v <= rng[1]


class Field:
    def __init__(self, tokens):
        self.name, typ = tokens[0], tokens[1]
        self.array = typ.startswith('[]')
        self.base = typ[2:] if self.array else typ
        self.versions = _range(tokens[2])
        kv = dict(t.split('=', 1) for t in tokens[3:])
        self.nullable = _range(kv['nullable']) if 'nullable' in kv else None
        self.tag = int(kv['tag']) if 'tag' in kv else None
        self.tagged = _range(kv['tagged']) if 'tagged' in kv else None
        self.never_flexible = kv.get('flexible') == 'none'
        self.fields = []  # a struct's own fields

    def is_struct(self):
        return self.base not in PRIMITIVES


class Message:
    def __init__(self, tokens):
        self.kind, self.name = tokens[0], tokens[1]
        kv = dict(t.split('=', 1) for t in tokens[2:] if '=' in t)
        self.key = int(kv['key']) if 'key' in kv else None
        self.versions = _range(kv['versions'])
        self.flexible = _range(kv['flexible'])
        self.fields = []


def load(path=SCHEMA):
    """{('request'|'response', api key): Message, ('header', name): Message}."""
    msgs = {}
    owners = []  # (indent of the owner, its field list)
    with open(path, encoding='ascii') as f:
        for line in f:
            text = line.rstrip('\n')
            if not text.strip() or text.lstrip().startswith('#'):
                continue
            indent = (len(text) - len(text.lstrip(' '))) // 2
            tokens = text.split()
            if indent == 0:
                m = Message(tokens)
                msgs[(m.kind, m.key if m.key is not None else m.name)] = m
                owners = [(0, m.fields)]
                continue
            while owners[-1][0] >= indent:
                owners.pop()
            fld = Field(tokens)
            owners[-1][1].append(fld)
            if fld.is_struct():
                owners.append((indent, fld.fields))
    return msgs


# ---------------------------------------------------------------- values

I32_EDGES = (0, 1, -1, 2, 3, -2, 0x7fffffff, -0x80000000, 1000, 65536, 0x7ffffffe)
I64_EDGES = (0, 1, -1, -2, 0x7fffffffffffffff, -0x8000000000000000, 1 << 40)
CONFIG_KEYS = ('retention.ms', 'retention.bytes', 'segment.bytes', 'max.message.bytes',
               'cleanup.policy', 'message.timestamp.type', 'compression.type',
               'min.insync.replicas', 'no.such.config', '')
CONFIG_VALUES = ('-1', '0', '1', 'compact', 'delete', 'LogAppendTime', 'zstd', 'abc',
                 '99999999999999999999999', '-9223372036854775808', ' 5', '')


class Gen:
    """Random request bodies for one broker: TOPICS are names that exist
    (so handlers reach past the lookup), GROUPS group ids to use."""

    def __init__(self, seed, topics, groups):
        self.rnd = random.Random(seed)
        self.topics = list(topics)
        self.groups = list(groups)

    def chance(self, p):
        return self.rnd.random() < p

    def int_value(self, name, bits):
        r = self.rnd
        lname = name.lower()
        if 'timeout' in lname or 'maxwait' in lname:
            # Waits stay short so a request that is answered late is a hang,
            # not a long but legitimate wait.
            return r.choice((0, 1, -1, 100, 500, -0x80000000))
        if bits == 8:
            return r.choice((0, 1, -1, 2, 127, -128, r.randint(-128, 127)))
        if lname in ('numpartitions', 'count', 'replicationfactor'):
            # New partitions: few, or refused (10,000 is the most a topic
            # may have; creating that many is legitimate, slow work).
            return r.choice((-1, 0, 1, 2, 3, 4, 5, 10001, -(1 << (bits - 1)),
                             (1 << (bits - 1)) - 1))
        if bits == 16:
            return r.choice((0, 1, -1, 2, 3, 32767, -32768, r.randint(-5, 100)))
        if bits == 32:
            if 'partition' in lname or 'index' in lname or 'count' in lname:
                return r.choice((0, 0, 1, 2, -1, 3, 10000, 10001, 0x7fffffff, -0x80000000))
            return r.choice(I32_EDGES + (r.randint(-100, 100000), r.randint(-2**31, 2**31 - 1)))
        if 'timestamp' in lname:
            return r.choice((-1, -2, -3, 0, 1700000000000, 0x7fffffffffffffff))
        return r.choice(I64_EDGES + (r.randint(0, 1000), r.randint(-2**63, 2**63 - 1)))

    def string_value(self, name, path):
        r = self.rnd
        lname = name.lower()
        if 'topic' in lname or (lname == 'name' and any('topic' in p for p in path)) \
                or lname in ('resourcename', 'topicname'):
            pool = self.topics + ['fz-new-%d' % r.randint(0, 30), '', '.', '..', 'a' * 250,
                                  'bad/name', '__consumer_offsets', '__chronik_metadata',
                                  r.choice(self.topics) + '\x00x']
        elif 'group' in lname:
            pool = self.groups + ['', 'fz-g-%d' % r.randint(0, 5), self.groups[0] + '\x00x']
        elif lname in ('key', 'name', 'configname'):
            pool = list(CONFIG_KEYS)
        elif lname in ('value', 'configvalue'):
            pool = list(CONFIG_VALUES)
        elif lname == 'protocoltype':
            pool = ['consumer', '', 'connect']
        elif 'member' in lname:
            pool = ['', 'fz-m', 'consumer-1-x']
        elif 'mechanism' in lname:
            pool = ['PLAIN', 'GSSAPI', 'SCRAM-SHA-256', '']
        else:
            pool = ['', 'x', 'fz']
        pool += ['\u00e9\u4e2d', 'z' * r.choice((300, 5000))]
        return r.choice(pool)

    def records_value(self):
        r = self.rnd
        kind = r.randint(0, 7)
        if kind == 0:
            return None
        if kind == 1:
            return b''
        if kind == 2:
            return bytes(r.getrandbits(8) for _ in range(r.randint(1, 80)))
        if kind == 3:
            return legacy_message(0, b'k', b'v', magic=r.choice((0, 1)))
        recs = [(b'k%d' % i if r.random() < 0.5 else None, b'v' * r.randint(0, 40),
                 [('h', None)] if r.random() < 0.2 else [])
                for i in range(r.randint(1, 5))]
        data = bytearray(r.choice((record_batch, record_batch, gzip_batch))(recs))
        if kind == 4:  # a batch with one byte changed after its CRC was made
            i = r.randrange(len(data))
            data[i] ^= 1 << r.randrange(8)
        elif kind == 5:  # cut short
            data = data[:r.randrange(len(data))]
        return bytes(data)

    def header(self):
        """Keyword arguments of request_frame: mostly none; now and then a
        null, empty or 3,000-byte client id, or an unknown tagged field in a
        v2 header (a broker skips it)."""
        r = self.rnd
        if not self.chance(0.1):
            return {}
        return r.choice(({'client_id': None}, {'client_id': ''}, {'client_id': 'c' * 3000},
                         {'header_tags': [(r.randint(0, 40), b'\x00' * r.randint(0, 9))]}))

    def body(self, msg, version):
        """(bytes, honest): HONEST is False when the body breaks the schema
        on purpose (a null where none is allowed, an array count that does
        not match, bytes flipped afterwards)."""
        self.honest = True
        w = W()
        self.struct(w, msg.fields, version, within(msg.flexible, version), (msg.name.lower(),))
        data = bytearray(bytes(w))
        if data and self.chance(0.05):
            self.honest = False
            for _ in range(self.rnd.randint(1, 3)):
                i = self.rnd.randrange(len(data))
                data[i] ^= 1 << self.rnd.randrange(8)
        return bytes(data), self.honest

    def struct(self, w, fields, version, flexible, path):
        tags = []
        for f in fields:
            if not within(f.versions, version):
                continue
            fw = w
            if flexible and f.tag is not None and within(f.tagged, version):
                if not self.chance(0.3):
                    continue
                fw = W()
            self.field(fw, f, version, flexible and not f.never_flexible, path)
            if fw is not w:
                tags.append((f.tag, bytes(fw)))
        if flexible:
            if self.chance(0.05):  # a tag this broker does not know: skipped
                tags.append((1000 + self.rnd.randint(0, 5), b'\x01\x02'))
            tags.sort()
            w.uvarint(len(tags))
            for tag, data in tags:
                w.uvarint(tag).uvarint(len(data)).raw(data)

    def field(self, w, f, version, flexible, path):
        nullable = within(f.nullable, version)
        if f.array:
            if self.chance(0.04 if nullable else 0.01):
                if not nullable:
                    self.honest = False
                return w.uvarint(0) if flexible else w.i32(-1)
            n = self.rnd.choice((0, 1, 1, 2, 3))
            if self.chance(0.01):  # more items announced than follow
                self.honest = False
                count = n + self.rnd.choice((1, 1000, 0x7ffffff0))
            else:
                count = n
            if flexible:
                w.uvarint(count + 1)
            else:
                w.i32(count)
            for _ in range(n):
                if f.is_struct():
                    self.struct(w, f.fields, version, flexible, path + (f.name.lower(),))
                else:
                    self.value(w, f, f.base, version, flexible, False, path)
            return w
        if f.is_struct():
            return self.struct(w, f.fields, version, flexible, path + (f.name.lower(),))
        return self.value(w, f, f.base, version, flexible, nullable, path)

    def value(self, w, f, base, version, flexible, nullable, path):
        r = self.rnd
        if base == 'bool':
            return w.i8(r.choice((0, 1, 1, 0xff - 256)))
        if base == 'int8':
            return w.i8(self.int_value(f.name, 8))
        if base == 'int16':
            return w.i16(self.int_value(f.name, 16))
        if base == 'uint16':
            w.b += struct.pack('>H', r.choice((0, 1, 9092, 65535)))
            return w
        if base == 'int32':
            return w.i32(self.int_value(f.name, 32))
        if base == 'uint32':
            return w.u32(r.choice((0, 1, 0xffffffff)))
        if base == 'int64':
            return w.i64(self.int_value(f.name, 64))
        if base == 'float64':
            w.b += struct.pack('>d', r.choice((0.0, -1.0, 1e308, float('nan'), float('inf'))))
            return w
        if base == 'uuid':
            return w.raw(r.choice((bytes(16), b'\xff' * 16, bytes(r.getrandbits(8)
                                                                     for _ in range(16)))))
        if base == 'string':
            if self.chance(0.05 if nullable else 0.01):
                if not nullable:
                    self.honest = False
                return w.cstring(None) if flexible else w.string(None)
            s = self.string_value(f.name, path)
            return w.cstring(s) if flexible else w.string(s)
        # bytes, records
        data = self.records_value() if base == 'records' else \
            r.choice((b'', b'\x00\x01', bytes(r.getrandbits(8) for _ in range(r.randint(0, 60)))))
        if data is None:
            if not nullable:
                self.honest = False
            return w.uvarint(0) if flexible else w.i32(-1)
        if flexible:
            return w.uvarint(len(data) + 1).raw(data)
        return w.bytes_(data)


# ---------------------------------------------------------------- decoding

class Malformed(Exception):
    pass


def request_frame(msgs, key, version, corr, body, client_id='fz', header_tags=()):
    """A whole request frame: size, header (v2 for a flexible version, else
    v1; HEADER_TAGS (tag, bytes) in v2's tagged fields), BODY."""
    w = W().i16(key).i16(version).i32(corr).string(client_id)
    if within(msgs[('request', key)].flexible, version):
        w.uvarint(len(header_tags))
        for tag, data in header_tags:
            w.uvarint(tag).uvarint(len(data)).raw(data)
    payload = bytes(w) + body
    return struct.pack('>i', len(payload)) + payload


def decode_response(msgs, key, version, data, utf8=True):
    """Checks DATA (the frame after its size and correlation id) is one
    whole response of API KEY at VERSION, its strings UTF-8 when UTF8 (a
    response may echo a name the request sent in other bytes). Returns it
    as a dict by field name (arrays as lists, strings as str or bytes when
    not UTF-8, uuids as bytes, absent tagged fields left out). Raises
    Malformed with where it broke."""
    msg = msgs[('response', key)]
    flexible = within(msg.flexible, version)
    r = R(data)
    try:
        if flexible and key != 18:  # ApiVersions answers with header v0
            r.skip_tags()
        out = _dstruct(r, msg.fields, version, flexible, utf8)
    except (ShortRead, UnicodeDecodeError, ValueError) as e:
        raise Malformed('%s v%d: %s at byte %d of %d' % (msg.name, version, e, r.p, len(data)))
    if r.left():
        raise Malformed('%s v%d: %d bytes left over' % (msg.name, version, r.left()))
    return out


def error_codes(tree):
    """Every non-zero ErrorCode in a decoded response."""
    found = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == 'ErrorCode' and v:
                found.append(v)
            else:
                found += error_codes(v)
    elif isinstance(tree, list):
        for v in tree:
            found += error_codes(v)
    return found


def _dstruct(r, fields, version, flexible, utf8):
    tagged, out = {}, {}
    for f in fields:
        if not within(f.versions, version):
            continue
        if flexible and f.tag is not None and within(f.tagged, version):
            tagged[f.tag] = f
            continue
        out[f.name] = _dfield(r, f, version, flexible and not f.never_flexible, utf8)
    if flexible:
        last = -1
        for _ in range(r.uvarint()):
            tag, size = r.uvarint(), r.uvarint()
            if tag <= last:
                raise ValueError('tag %d after %d' % (tag, last))
            last = tag
            chunk = r.take(size)
            if tag in tagged:
                sub = R(chunk)
                out[tagged[tag].name] = _dfield(sub, tagged[tag], version, True, utf8)
                if sub.left():
                    raise ValueError('tagged field %s: %d bytes left' % (tagged[tag].name,
                                                                         sub.left()))
    return out


def _dfield(r, f, version, flexible, utf8):
    nullable = within(f.nullable, version)
    if f.array:
        n = r.uvarint() - 1 if flexible else r.i32()
        if n < 0:
            if not nullable:
                raise ValueError('null array %s' % f.name)
            return None
        if f.is_struct():
            return [_dstruct(r, f.fields, version, flexible, utf8) for _ in range(n)]
        return [_dvalue(r, f, f.base, flexible, False, utf8) for _ in range(n)]
    if f.is_struct():
        return _dstruct(r, f.fields, version, flexible, utf8)
    return _dvalue(r, f, f.base, flexible, nullable, utf8)


FIXED = {'bool': ('>?', 1), 'int8': ('>b', 1), 'int16': ('>h', 2), 'uint16': ('>H', 2),
         'int32': ('>i', 4), 'uint32': ('>I', 4), 'int64': ('>q', 8), 'float64': ('>d', 8)}


def _dvalue(r, f, base, flexible, nullable, utf8=True):
    if base in FIXED:
        fmt, size = FIXED[base]
        return struct.unpack(fmt, r.take(size))[0]
    if base == 'uuid':
        return r.take(16)
    if flexible:
        n = r.uvarint() - 1
    else:
        n = r.i16() if base == 'string' else r.i32()
    if n < 0:
        if not nullable:
            raise ValueError('null %s %s' % (base, f.name))
        return None
    data = r.take(n)
    if base == 'string':
        try:
            return data.decode('utf-8')
        except UnicodeDecodeError:
            if utf8:
                raise
    return data
