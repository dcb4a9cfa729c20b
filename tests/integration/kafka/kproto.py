"""kproto.py: a small hand-written Kafka wire encoder/decoder for the
end-to-end tests of tests/integration/kafka.

Owned by the Kafka integration tests. It exists so the tests can send bytes
no real client would send (bad frames, truncated requests, corrupt batches)
and can look at exactly what the broker answers (raw Fetch batches, long
polling timings). It is written from the protocol documentation, independent
of the broker's codec (kafka-frontend/protocol), so a bug shared by both
cannot hide. Only the APIs and versions the tests use are here.
Not for: anything a real client library can do for the test.
"""
import socket
import struct
import time
import zlib

# ---------------------------------------------------------------- CRC-32C

_CRC32C_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data):
    """CRC-32C (Castagnoli), the checksum of RecordBatch v2."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------- writer

class W:
    """Appends Kafka primitive types to a bytearray."""

    def __init__(self):
        self.b = bytearray()

    def i8(self, v):
        self.b += struct.pack('>b', v)
        return self

    def bool(self, v):
        return self.i8(1 if v else 0)

    def i16(self, v):
        self.b += struct.pack('>h', v)
        return self

    def i32(self, v):
        self.b += struct.pack('>i', v)
        return self

    def u32(self, v):
        self.b += struct.pack('>I', v)
        return self

    def i64(self, v):
        self.b += struct.pack('>q', v)
        return self

    def uvarint(self, v):
        while True:
            byte = v & 0x7F
            v >>= 7
            if v:
                self.b.append(byte | 0x80)
            else:
                self.b.append(byte)
                return self

    def varint(self, v):  # zigzag
        return self.uvarint((v << 1) ^ (v >> 63))

    def raw(self, data):
        self.b += data
        return self

    def string(self, s):
        """int16-length string; None = null."""
        if s is None:
            return self.i16(-1)
        data = s.encode() if isinstance(s, str) else s
        return self.i16(len(data)).raw(data)

    def cstring(self, s):
        """compact (flexible) string; None = null."""
        if s is None:
            return self.uvarint(0)
        data = s.encode() if isinstance(s, str) else s
        return self.uvarint(len(data) + 1).raw(data)

    def bytes_(self, data):
        if data is None:
            return self.i32(-1)
        return self.i32(len(data)).raw(data)

    def tags(self):
        """an empty tagged-field section"""
        return self.uvarint(0)

    def __bytes__(self):
        return bytes(self.b)


# ---------------------------------------------------------------- reader

class ShortRead(Exception):
    pass


class R:
    """Reads Kafka primitive types, raising ShortRead past the end."""

    def __init__(self, data):
        self.d = bytes(data)
        self.p = 0

    def left(self):
        return len(self.d) - self.p

    def take(self, n):
        if n < 0 or self.p + n > len(self.d):
            raise ShortRead('need %d bytes at %d of %d' % (n, self.p, len(self.d)))
        v = self.d[self.p:self.p + n]
        self.p += n
        return v

    def _u(self, fmt, n):
        return struct.unpack(fmt, self.take(n))[0]

    def i8(self):
        return self._u('>b', 1)

    def i16(self):
        return self._u('>h', 2)

    def i32(self):
        return self._u('>i', 4)

    def u32(self):
        return self._u('>I', 4)

    def i64(self):
        return self._u('>q', 8)

    def uvarint(self):
        v = shift = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
            if shift > 63:
                raise ShortRead('varint too long')

    def varint(self):
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode('utf-8', 'replace')

    def cstring(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode('utf-8', 'replace')

    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, item):
        n = self.i32()
        if n < 0:
            return None
        return [item(self) for _ in range(n)]

    def carray(self, item):
        n = self.uvarint()
        if n == 0:
            return None
        return [item(self) for _ in range(n - 1)]

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


# ---------------------------------------------------------------- API keys

PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
FIND_COORDINATOR = 10
API_VERSIONS, CREATE_TOPICS = 18, 19
DELETE_RECORDS, INIT_PRODUCER_ID = 21, 22
OFFSET_FOR_LEADER_EPOCH = 23
DESCRIBE_LOG_DIRS = 35
ELECT_LEADERS = 43

# The first flexible version of each API the tests encode.
FLEXIBLE_FROM = {PRODUCE: 9, FETCH: 12, LIST_OFFSETS: 6, METADATA: 9, FIND_COORDINATOR: 3,
                 API_VERSIONS: 3, CREATE_TOPICS: 5, DELETE_RECORDS: 2, INIT_PRODUCER_ID: 2,
                 ELECT_LEADERS: 2, DESCRIBE_LOG_DIRS: 2, OFFSET_FOR_LEADER_EPOCH: 4}


def request(api_key, version, corr, body, client_id='chronik-ktest'):
    """A whole frame: size, request header (v1, or v2 when flexible), body."""
    w = W().i16(api_key).i16(version).i32(corr).string(client_id)
    if version >= FLEXIBLE_FROM.get(api_key, 1 << 30):
        w.tags()
    payload = bytes(w) + bytes(body)
    return struct.pack('>i', len(payload)) + payload


# ---------------------------------------------------------------- record batch v2

def record_batch(records, base_offset=0, base_ts=None, codec=0, corrupt_crc=False,
                 producer_id=-1, producer_epoch=-1, base_sequence=-1, ts_step=0):
    """RecordBatch magic 2, uncompressed (codec only sets the attribute bits
    when the caller passes already-compressed RECORDS bytes; see
    compressed_batch). RECORDS: list of (key, value, headers) with key/value
    bytes or None and headers a list of (name str, value bytes or None).
    Record i's timestamp is BASE_TS + i * TS_STEP."""
    if base_ts is None:
        base_ts = int(time.time() * 1000)
    body = W()
    for i, (key, value, headers) in enumerate(records):
        r = W().i8(0).varint(i * ts_step).varint(i)
        if key is None:
            r.varint(-1)
        else:
            r.varint(len(key)).raw(key)
        if value is None:
            r.varint(-1)
        else:
            r.varint(len(value)).raw(value)
        r.varint(len(headers))
        for hk, hv in headers:
            hkb = hk.encode()
            r.varint(len(hkb)).raw(hkb)
            if hv is None:
                r.varint(-1)
            else:
                r.varint(len(hv)).raw(hv)
        rb = bytes(r)
        body.varint(len(rb)).raw(rb)
    return _batch_wrap(bytes(body), len(records), base_offset, base_ts, codec, corrupt_crc,
                       producer_id, producer_epoch, base_sequence,
                       base_ts + max(len(records) - 1, 0) * ts_step)


def _batch_wrap(records_bytes, count, base_offset, base_ts, codec, corrupt_crc,
                producer_id, producer_epoch, base_sequence, max_ts=None):
    after_crc = W().i16(codec & 7).i32(max(count - 1, 0)).i64(base_ts)
    after_crc.i64(base_ts if max_ts is None else max_ts)
    after_crc.i64(producer_id).i16(producer_epoch).i32(base_sequence).i32(count)
    after_crc.raw(records_bytes)
    tail = bytes(after_crc)
    crc = crc32c(tail)
    if corrupt_crc:
        crc ^= 0x5A5A5A5A
    # batchLength counts from partitionLeaderEpoch to the end.
    head = W().i64(base_offset).i32(4 + 1 + 4 + len(tail)).i32(-1).i8(2).u32(crc)
    return bytes(head) + tail


def legacy_message(offset, key, value, magic=1, attr=0, ts=1700000000000):
    """One entry of a message set of MAGIC 0 or 1 (the format before Kafka
    0.11): offset, size, then the message with its CRC-32; KEY/VALUE None
    for null; ATTR's low bits a codec (VALUE then the compressed set)."""
    body = struct.pack('>bb', magic, attr) + (struct.pack('>q', ts) if magic else b'')
    for b in (key, value):
        body += struct.pack('>i', -1) if b is None else struct.pack('>i', len(b)) + b
    m = struct.pack('>I', zlib.crc32(body)) + body
    return struct.pack('>qi', offset, len(m)) + m


def gzip_batch(records, **kw):
    """The same records, gzip-compressed (codec 1)."""
    plain = record_batch(records, **kw)
    inner = plain[61:]
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    data = comp.compress(inner) + comp.flush()
    ts, max_ts = struct.unpack('>qq', plain[27:43])
    return _batch_wrap(data, len(records), kw.get('base_offset', 0), ts, 1, False, -1, -1, -1,
                       max_ts)


def zstd_compress(data, level=3):
    """DATA as one zstd frame, through libzstd (the library the build links;
    Python has no zstd module here)."""
    import ctypes
    lib = ctypes.CDLL('libzstd.so.1')
    lib.ZSTD_compressBound.restype = ctypes.c_size_t
    lib.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
    lib.ZSTD_compress.restype = ctypes.c_size_t
    lib.ZSTD_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                  ctypes.c_size_t, ctypes.c_int]
    cap = lib.ZSTD_compressBound(len(data))
    out = ctypes.create_string_buffer(cap)
    n = lib.ZSTD_compress(out, cap, data, len(data), level)
    if n > cap:
        raise AssertionError('ZSTD_compress failed (%d)' % n)
    return out.raw[:n]


def zstd_batch(records, **kw):
    """The same records, zstd-compressed (codec 4)."""
    plain = record_batch(records, **kw)
    ts, max_ts = struct.unpack('>qq', plain[27:43])
    return _batch_wrap(zstd_compress(plain[61:]), len(records), kw.get('base_offset', 0), ts,
                       4, False, -1, -1, -1, max_ts)


def batches_parse(data):
    """Splits raw fetched bytes into batches: a list of dicts with
    base_offset, last_offset, attributes, codec, crc_ok, count, base_ts,
    max_ts, records
    (list of (offset, key, value, headers) for uncompressed batches, else
    None). A trailing partial batch is ignored, as clients do."""
    out = []
    p = 0
    while len(data) - p >= 17:
        base, blen = struct.unpack('>qi', data[p:p + 12])
        if blen < 0 or p + 12 + blen > len(data):
            break
        b = data[p:p + 12 + blen]
        p += 12 + blen
        magic = b[16]
        if magic != 2:
            out.append({'base_offset': base, 'magic': magic})
            continue
        crc = struct.unpack('>I', b[17:21])[0]
        attrs, lod = struct.unpack('>hi', b[21:27])
        count = struct.unpack('>i', b[57:61])[0]
        bt = {'base_offset': base, 'magic': 2, 'last_offset': base + lod, 'attributes': attrs,
              'codec': attrs & 7, 'crc_ok': crc32c(b[21:]) == crc, 'count': count,
              'records': None, 'base_ts': struct.unpack('>q', b[27:35])[0],
              'max_ts': struct.unpack('>q', b[35:43])[0],
              'control': bool(attrs & 0x20)}
        if attrs & 7 == 0:
            bt['records'] = _records_parse(b[61:], base, count)
        elif attrs & 7 == 1:
            bt['records'] = _records_parse(zlib.decompress(b[61:], 47), base, count)
        out.append(bt)
    return out


def _records_parse(data, base, count):
    r = R(data)
    recs = []
    for _ in range(count):
        n = r.varint()
        rr = R(r.take(n))
        rr.i8()
        rr.varint()
        od = rr.varint()
        kl = rr.varint()
        key = None if kl < 0 else rr.take(kl)
        vl = rr.varint()
        val = None if vl < 0 else rr.take(vl)
        hdrs = []
        for _ in range(rr.varint()):
            hk = rr.take(rr.varint()).decode()
            hl = rr.varint()
            hdrs.append((hk, None if hl < 0 else rr.take(hl)))
        recs.append((base + od, key, val, hdrs))
    return recs


# ---------------------------------------------------------------- requests

def api_versions_body(version):
    if version >= 3:
        return bytes(W().cstring('chronik-ktest').cstring('0.1').tags())
    return b''


def metadata_body(version, topics=None, auto_create=False):
    """Metadata request v0..v12. TOPICS None = all topics (v1+)."""
    w = W()
    flex = version >= 9
    if flex:
        if topics is None:
            w.uvarint(0)
        else:
            w.uvarint(len(topics) + 1)
            for t in topics:
                if version >= 10:
                    w.raw(b'\0' * 16)
                w.cstring(t).tags()
    else:
        if topics is None and version >= 1:
            w.i32(-1)
        else:
            topics = topics or []
            w.i32(len(topics))
            for t in topics:
                w.string(t)
    if version >= 4:
        w.bool(auto_create)
    if 8 <= version <= 10:
        w.bool(False)  # include_cluster_authorized_operations
    if version >= 8:
        w.bool(False)  # include_topic_authorized_operations
    if flex:
        w.tags()
    return bytes(w)


def produce_body(version, acks, timeout_ms, parts, topic=None):
    """Produce request v3..v8. PARTS: {topic: [(partition, batch bytes)]} or,
    with TOPIC, a list [(partition, batch bytes)]."""
    if topic is not None:
        parts = {topic: parts}
    w = W().string(None).i16(acks).i32(timeout_ms).i32(len(parts))
    for t, plist in parts.items():
        w.string(t).i32(len(plist))
        for p, batch in plist:
            w.i32(p).bytes_(batch)
    return bytes(w)


def fetch_body(topic, partition, offset, max_wait_ms=0, min_bytes=1, max_bytes=50 << 20,
               partition_max_bytes=10 << 20, version=4, session=(0, -1), leader_epoch=-1,
               isolation=0):
    """Fetch request v4 to v11 (ISOLATION 0 read_uncommitted, 1
    read_committed; from v7 with SESSION's id and epoch, by default none;
    from v9 with current_leader_epoch LEADER_EPOCH; v11's rack id empty)."""
    w = W().i32(-1).i32(max_wait_ms).i32(min_bytes).i32(max_bytes).i8(isolation)
    if version >= 7:
        w.i32(session[0]).i32(session[1])
    w.i32(1).string(topic).i32(1).i32(partition)
    if version >= 9:
        w.i32(leader_epoch)  # current_leader_epoch
    w.i64(offset)
    if version >= 5:
        w.i64(-1)  # log_start_offset (a follower's)
    w.i32(partition_max_bytes)
    if version >= 7:
        w.i32(0)  # forgotten topics
    if version >= 11:
        w.string('')  # rack id
    return bytes(w)


def list_offsets_body(topic, partition, timestamp):
    """ListOffsets request v1."""
    return bytes(W().i32(-1).i32(1).string(topic).i32(1).i32(partition).i64(timestamp))


def delete_records_body(topic, offsets, version=0, timeout_ms=30000):
    """DeleteRecords of {partition: offset} of TOPIC; v0/v1 classic, v2
    flexible."""
    flex = version >= 2
    w = W()

    def array(n):
        w.uvarint(n + 1) if flex else w.i32(n)

    array(1)
    w.cstring(topic) if flex else w.string(topic)
    array(len(offsets))
    for p, off in offsets.items():
        w.i32(p)
        w.i64(off)
        if flex:
            w.tags()
    if flex:
        w.tags()
    w.i32(timeout_ms)
    if flex:
        w.tags()
    return bytes(w)


def create_topics_body(topics, timeout_ms=30000, configs=None):
    """CreateTopics v1: TOPICS = [(name, partitions, replication factor)] or
    [(name, [replicas of partition 0, of partition 1, ...])] (a manual
    assignment; its first replica is the preferred leader); CONFIGS (a
    dict) for every topic."""
    w = W().i32(len(topics))
    for name, *spec in topics:
        if len(spec) == 1:
            w.string(name).i32(-1).i16(-1).i32(len(spec[0]))
            for i, replicas in enumerate(spec[0]):
                w.i32(i).i32(len(replicas))
                for b in replicas:
                    w.i32(b)
        else:
            w.string(name).i32(spec[0]).i16(spec[1]).i32(0)
        w.i32(len(configs or {}))
        for k, v in (configs or {}).items():
            w.string(k).string(v)
    w.i32(timeout_ms).bool(False)
    return bytes(w)


def init_producer_id_body(version, transactional_id=None, timeout_ms=60000, producer_id=-1,
                          producer_epoch=-1):
    """InitProducerId request v0..v4 (TRANSACTIONAL_ID None: idempotent)."""
    w = W()
    if version >= 2:
        w.cstring(transactional_id)
    else:
        w.string(transactional_id)
    w.i32(timeout_ms)
    if version >= 3:
        w.i64(producer_id).i16(producer_epoch)
    if version >= 2:
        w.tags()
    return bytes(w)


def find_coordinator_body(version, key, key_type=0):
    """FindCoordinator request v0..v3 (one key; KEY_TYPE 1 = transaction)."""
    w = W()
    if version >= 3:
        w.cstring(key).i8(key_type).tags()
    else:
        w.string(key)
        if version >= 1:
            w.i8(key_type)
    return bytes(w)


def topic_partitions(w, parts, flex):
    """Writes PARTS = [(topic, [partition, ...])], or None (a null array),
    the topic/partition list several requests share, to W."""
    if parts is None:
        w.uvarint(0) if flex else w.i32(-1)
        return
    w.uvarint(len(parts) + 1) if flex else w.i32(len(parts))
    for topic, ps in parts:
        w.cstring(topic) if flex else w.string(topic)
        w.uvarint(len(ps) + 1) if flex else w.i32(len(ps))
        for p in ps:
            w.i32(p)
        if flex:
            w.tags()


def elect_leaders_body(version, parts, election_type=0, timeout_ms=30000):
    """ElectLeaders v0..v2: PARTS = [(topic, [partition, ...])], or None
    for every partition; ELECTION_TYPE (v1+) 0 preferred, 1 unclean."""
    flex = version >= 2
    w = W()
    if version >= 1:
        w.i8(election_type)
    topic_partitions(w, parts, flex)
    w.i32(timeout_ms)
    if flex:
        w.tags()
    return bytes(w)


# ---------------------------------------------------------------- responses

def parse_init_producer_id(body, version=0):
    """InitProducerId response: (throttle_ms, error, producer_id, epoch)."""
    r = R(body)
    out = (r.i32(), r.i16(), r.i64(), r.i16())
    if version >= 2:
        r.skip_tags()
    if r.left():
        raise AssertionError('%d trailing bytes in InitProducerId response' % r.left())
    return out


def parse_find_coordinator(body, version):
    """FindCoordinator response v0..v3: (error, message, node_id, host, port)."""
    r = R(body)
    if version >= 1:
        r.i32()  # throttle
    err = r.i16()
    msg = None
    if version >= 1:
        msg = r.cstring() if version >= 3 else r.string()
    node = r.i32()
    host = r.cstring() if version >= 3 else r.string()
    port = r.i32()
    return err, msg, node, host, port


def init_producer_id(conn, version, transactional_id=None, producer_id=-1, producer_epoch=-1):
    """One InitProducerId through CONN (a Conn): (error, producer_id, epoch)."""
    _, err, pid, epoch = parse_init_producer_id(
        conn.call(INIT_PRODUCER_ID, version,
                  init_producer_id_body(version, transactional_id, producer_id=producer_id,
                                        producer_epoch=producer_epoch),
                  flexible_response=version >= 2), version)
    return err, pid, epoch


def parse_api_versions(body, version=0):
    r = R(body)
    err = r.i16()
    keys = {}
    if version >= 3 and err == 0:
        for _ in range(r.uvarint() - 1):
            k, lo, hi = r.i16(), r.i16(), r.i16()
            r.skip_tags()
            keys[k] = (lo, hi)
    else:
        for _ in range(max(r.i32(), 0)):
            k, lo, hi = r.i16(), r.i16(), r.i16()
            keys[k] = (lo, hi)
    return err, keys


def parse_metadata(body, version=1, isr=False):
    """Metadata response v0..v8: (brokers, controller_id, topics) with topics
    {name: (error, {partition: (error, leader)})}; with ISR, (error, leader,
    sorted ISR) per partition."""
    r = R(body)
    if version >= 3:
        r.i32()  # throttle
    brokers = r.array(lambda x: (x.i32(), x.string(), x.i32(),
                                 x.string() if version >= 1 else None))
    if version >= 2:
        r.string()  # cluster id
    controller = r.i32() if version >= 1 else -1

    def part(x):
        err, idx, leader = x.i16(), x.i32(), x.i32()
        if version >= 7:
            x.i32()
        x.array(lambda y: y.i32())
        in_sync = x.array(lambda y: y.i32())
        if version >= 5:
            x.array(lambda y: y.i32())
        return idx, ((err, leader, sorted(in_sync or [])) if isr else (err, leader))

    def topic(x):
        err, name = x.i16(), x.string()
        if version >= 1:
            x.i8()  # is_internal
        parts = dict(x.array(part) or [])
        if version >= 8:
            x.i32()
        return name, (err, parts)

    return brokers, controller, dict(r.array(topic))


def parse_metadata_v1(body):
    return parse_metadata(body, 1)


def parse_produce(body, version):
    """Produce response v3..v8: {(topic, partition): (error, base_offset)}."""
    r = R(body)
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p, err, base = r.i32(), r.i16(), r.i64()
            if version >= 2:
                r.i64()
            if version >= 5:
                r.i64()
            if version >= 8:
                r.array(lambda x: (x.i32(), x.string()))
                r.string()
            out[(t, p)] = (err, base)
    return out


def parse_fetch_top(body):
    """Fetch response v7+: (top-level error, session id)."""
    r = R(body)
    r.i32()  # throttle
    return r.i16(), r.i32()


def parse_fetch_v4(body, version=4, aborted=False):
    """Fetch response v4 to v11: {(topic, partition): (error, hw, records
    bytes)}, with ABORTED also the aborted_transactions (None: null)."""
    r = R(body)
    r.i32()  # throttle
    if version >= 7:
        r.i16()  # top-level error
        r.i32()  # session id
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p, err, hw = r.i32(), r.i16(), r.i64()
            r.i64()  # last stable offset
            if version >= 5:
                r.i64()  # log start offset
            txns = r.array(lambda x: (x.i64(), x.i64()))
            if version >= 11:
                r.i32()  # preferred read replica
            out[(t, p)] = (err, hw, r.bytes_() or b'') + ((txns,) if aborted else ())
    return out


def parse_list_offsets_v1(body):
    r = R(body)
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p, err, ts, off = r.i32(), r.i16(), r.i64(), r.i64()
            out[(t, p)] = (err, ts, off)
    return out


def parse_delete_records(body, version=0):
    """{partition: (error, low watermark)} of a DeleteRecords response."""
    flex = version >= 2
    r = R(body)
    r.i32()  # throttle
    out = {}
    for _ in range((r.uvarint() - 1) if flex else r.i32()):
        r.cstring() if flex else r.string()
        for _ in range((r.uvarint() - 1) if flex else r.i32()):
            p, low, err = r.i32(), r.i64(), r.i16()
            if flex:
                r.skip_tags()
            out[p] = (err, low)
        if flex:
            r.skip_tags()
    return out


def call_once(port, api_key, version, body, timeout_ms):
    """The response body of one request on a fresh connection to the Kafka
    listener on PORT, allowed TIMEOUT_MS and 30 s more."""
    c = Conn('127.0.0.1', port, timeout=timeout_ms / 1000.0 + 30)
    try:
        return c.call(api_key, version, body,
                      flexible_response=version >= FLEXIBLE_FROM.get(api_key, 1 << 30))
    finally:
        c.close()


def parse_elect_leaders(body, version=0):
    """(top-level error or None for v0, [(topic, [(partition, error, message)])])
    of an ElectLeaders response."""
    flex = version >= 2
    r = R(body)
    r.i32()  # throttle
    top = r.i16() if version >= 1 else None
    out = []
    for _ in range((r.uvarint() - 1) if flex else r.i32()):
        topic = r.cstring() if flex else r.string()
        ps = []
        for _ in range((r.uvarint() - 1) if flex else r.i32()):
            p, err = r.i32(), r.i16()
            msg = r.cstring() if flex else r.string()
            if flex:
                r.skip_tags()
            ps.append((p, err, msg))
        if flex:
            r.skip_tags()
        out.append((topic, ps))
    return top, out


def elect_leaders(port, parts, version=2, election_type=0, timeout_ms=30000):
    """ElectLeaders (see elect_leaders_body) through the Kafka listener on
    PORT: parse_elect_leaders' answer."""
    return parse_elect_leaders(call_once(port, ELECT_LEADERS, version,
                                         elect_leaders_body(version, parts, election_type,
                                                            timeout_ms), timeout_ms), version)


def describe_log_dirs_body(version, topics=None):
    """DescribeLogDirs v0..v4: TOPICS = [(topic, [partition, ...])], or None
    for every log."""
    flex = version >= 2
    w = W()
    topic_partitions(w, topics, flex)
    if flex:
        w.tags()
    return bytes(w)


def parse_describe_log_dirs(body, version):
    """(top-level error or None before v3, [(error, log_dir, {topic: {partition:
    (size, offset_lag, is_future)}}, total_bytes, usable_bytes)]) of a
    DescribeLogDirs response; the byte counts are None before v4."""
    flex = version >= 2
    r = R(body)
    r.i32()  # throttle
    top = r.i16() if version >= 3 else None
    out = []
    for _ in range((r.uvarint() - 1) if flex else r.i32()):
        err = r.i16()
        log_dir = r.cstring() if flex else r.string()
        topics = {}
        for _ in range((r.uvarint() - 1) if flex else r.i32()):
            name = r.cstring() if flex else r.string()
            parts = {}
            for _ in range((r.uvarint() - 1) if flex else r.i32()):
                p, size, lag, fut = r.i32(), r.i64(), r.i64(), r.i8()
                if flex:
                    r.skip_tags()
                parts[p] = (size, lag, bool(fut))
            if flex:
                r.skip_tags()
            topics[name] = parts
        total = usable = None
        if version >= 4:
            total, usable = r.i64(), r.i64()
        if flex:
            r.skip_tags()
        out.append((err, log_dir, topics, total, usable))
    if flex:
        r.skip_tags()
    if r.left():
        raise AssertionError('%d trailing bytes in DescribeLogDirs response' % r.left())
    return top, out


def describe_log_dirs(port, version, topics=None):
    """DescribeLogDirs through the Kafka listener on PORT."""
    return parse_describe_log_dirs(call_once(port, DESCRIBE_LOG_DIRS, version,
                                             describe_log_dirs_body(version, topics), 10000),
                                   version)


def offset_for_leader_epoch_body(version, topics, replica_id=-1):
    """OffsetForLeaderEpoch v0..v4: TOPICS = [(topic, [(partition,
    current_leader_epoch, leader_epoch)])]; current_leader_epoch is sent
    from v2, REPLICA_ID from v3."""
    flex = version >= 4
    w = W()
    if version >= 3:
        w.i32(replica_id)
    w.uvarint(len(topics) + 1) if flex else w.i32(len(topics))
    for topic, ps in topics:
        w.cstring(topic) if flex else w.string(topic)
        w.uvarint(len(ps) + 1) if flex else w.i32(len(ps))
        for p, current, epoch in ps:
            w.i32(p)
            if version >= 2:
                w.i32(current)
            w.i32(epoch)
            if flex:
                w.tags()
        if flex:
            w.tags()
    if flex:
        w.tags()
    return bytes(w)


def parse_offset_for_leader_epoch(body, version):
    """{(topic, partition): (error, leader_epoch or None before v1,
    end_offset)} of an OffsetForLeaderEpoch response."""
    flex = version >= 4
    r = R(body)
    if version >= 2:
        r.i32()  # throttle
    out = {}
    for _ in range((r.uvarint() - 1) if flex else r.i32()):
        topic = r.cstring() if flex else r.string()
        for _ in range((r.uvarint() - 1) if flex else r.i32()):
            err, p = r.i16(), r.i32()
            epoch = r.i32() if version >= 1 else None
            out[(topic, p)] = (err, epoch, r.i64())
            if flex:
                r.skip_tags()
        if flex:
            r.skip_tags()
    if flex:
        r.skip_tags()
    if r.left():
        raise AssertionError('%d trailing bytes in OffsetForLeaderEpoch response' % r.left())
    return out


def offset_for_leader_epoch(port, version, topics, replica_id=-1):
    """OffsetForLeaderEpoch (see offset_for_leader_epoch_body) through the
    Kafka listener on PORT: parse_offset_for_leader_epoch's answer."""
    return parse_offset_for_leader_epoch(call_once(
        port, OFFSET_FOR_LEADER_EPOCH, version,
        offset_for_leader_epoch_body(version, topics, replica_id), 10000), version)


def delete_records(port, topic, offsets, version=0, timeout_ms=30000):
    """DeleteRecords of {partition: offset} of TOPIC through the Kafka
    listener on PORT: {partition: (error, low watermark)}."""
    return parse_delete_records(call_once(port, DELETE_RECORDS, version,
                                          delete_records_body(topic, offsets, version,
                                                              timeout_ms), timeout_ms), version)


def list_offset(port, topic, partition, timestamp):
    """(error, offset) of ListOffsets v1 for one partition (-2 earliest,
    -1 latest) through the Kafka listener on PORT."""
    c = Conn('127.0.0.1', port)
    try:
        res = parse_list_offsets_v1(c.call(LIST_OFFSETS, 1,
                                           list_offsets_body(topic, partition, timestamp)))
    finally:
        c.close()
    err, _, off = res[(topic, partition)]
    return err, off


def parse_create_topics_v1(body):
    r = R(body)
    return {name: err for name, err, _ in r.array(lambda x: (x.string(), x.i16(), x.string()))}


# ---------------------------------------------------------------- connection

class Closed(Exception):
    """The broker closed the connection (or reset it)."""


class Conn:
    """One blocking TCP connection to the Kafka listener."""

    def __init__(self, host, port, timeout=10.0):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.corr = 0

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send_raw(self, data):
        try:
            self.s.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(str(e))

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except ConnectionResetError as e:
                raise Closed(str(e))
            if not chunk:
                raise Closed('eof after %d of %d bytes' % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def recv_frame(self):
        """One response frame: (correlation id, the bytes after it)."""
        size = struct.unpack('>i', self._recv_exact(4))[0]
        if size < 4 or size > (256 << 20):
            raise AssertionError('bad response frame size %d' % size)
        data = self._recv_exact(size)
        return struct.unpack('>i', data[:4])[0], data[4:]

    def call(self, api_key, version, body, flexible_response=False):
        """Sends one request and returns the response body (header skipped;
        FLEXIBLE_RESPONSE skips the v1 response header's tags)."""
        self.corr += 1
        corr = self.corr
        self.send_raw(request(api_key, version, corr, body))
        got, data = self.recv_frame()
        if got != corr:
            raise AssertionError('correlation id %d, expected %d' % (got, corr))
        if flexible_response:
            r = R(data)
            r.skip_tags()
            data = data[r.p:]
        return data

    def wait_closed(self, timeout):
        """True when the peer closes within TIMEOUT seconds (any bytes that
        arrive first are returned as the second element)."""
        self.s.settimeout(0.2)
        deadline = time.monotonic() + timeout
        got = bytearray()
        while time.monotonic() < deadline:
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True, bytes(got)
            if not chunk:
                return True, bytes(got)
            got += chunk
        return False, bytes(got)
