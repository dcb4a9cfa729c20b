#!/usr/bin/python3
"""test_bad_input.py: hostile bytes on the Kafka port, each on its own raw
TCP connection, while a well-behaved librdkafka producer keeps producing.

Owned by the Kafka integration tests. Cases: negative, zero and huge frame
lengths; an array count of 2^31-1 followed by a few bytes; a Metadata
(flexible, v9 when advertised) and a Produce v7 request truncated at every
byte (both as a complete shorter frame and as a full-length frame whose
sender stops and half-closes); unknown API keys and versions; a TLS
ClientHello on the plaintext port; Produce batches with a corrupt CRC and
other broken batches; Metadata and admin requests naming 100,000-200,000
topics, each twice; CreatePartitions to 2^31-1 partitions; every advertised
API and version built from kafka.schema with hostile values (kschema.py);
large requests on many connections at once, within
[kafka] queued_max_request_bytes, and large requests that stall while others
wait for that memory (RequestMemory); a small request asking for a response
over [kafka] max_response_bytes (LargeResponses); connections silent in the middle of a
request (IdleMidRequest); more connections than kafka-frontend has fds
(ConnectionLimit); on the supervisor's admin HTTP port (AdminPort), an
endless header line, thousands of connections held open, 100 clients that
trickle their requests, and connections until it is out of fds. Each must get the right error or a closed connection
-- never a hang, never a crash: afterwards kafka-frontend has 0 restarts, the
good producer had no failure and everything it was acknowledged is consumed.
"""
import gzip
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kharness import (SANITIZE, NodeTestCase, admin_client, create_topic, kproto,  # noqa: E402
                      main, proc_kib, scale, topic_name, wait_for)
import kclients  # noqa: E402
import kschema  # noqa: E402

ANSWER_TIMEOUT_S = 10
JOIN_GROUP, HEARTBEAT, SYNC_GROUP, DESCRIBE_GROUPS = 11, 12, 14, 15


def tls_client_hello():
    """A TLS 1.2 ClientHello record as a TLS client sends it first."""
    hello = (b'\x03\x03' + bytes(range(32)) + b'\x00' + b'\x00\x04\x13\x01\xc0\x2f'
             + b'\x01\x00' + b'\x00\x0a\x00\x00\x00\x06\x00\x04\x00\x1d\x00\x17')
    hs = b'\x01' + struct.pack('>I', len(hello))[1:] + hello
    return b'\x16\x03\x01' + struct.pack('>H', len(hs)) + hs


class Outcome:
    """What one hostile connection got: 'closed', 'answered' (a frame with
    the expected correlation id), or a failure text."""

    def __init__(self, label, corr=None):
        self.label = label
        self.corr = corr
        self.data = b''
        self.result = None


def watch(conns, timeout=ANSWER_TIMEOUT_S):
    """Waits until every (socket, Outcome) is closed by the broker or has a
    whole response frame; marks the others 'hung'."""
    pending = {s.fileno(): (s, o) for s, o in conns}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        r, _, _ = select.select(list(pending), [], [], 0.2)
        for fd in r:
            s, o = pending[fd]
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b''
            if not chunk:
                o.result = 'closed' if not o.data else _judge(o)
                del pending[fd]
                continue
            o.data += chunk
            if len(o.data) >= 4 and len(o.data) >= 4 + struct.unpack('>i', o.data[:4])[0]:
                o.result = _judge(o)
                del pending[fd]
    for s, o in pending.values():
        o.result = 'hung: neither an answer nor a close within %ds' % timeout
    for s, _ in conns:
        s.close()
    return [o for _, o in conns]


def _judge(o):
    if len(o.data) < 8:
        return 'closed'  # a partial answer then close: the connection is gone
    size, corr = struct.unpack('>ii', o.data[:8])
    if o.corr is None:
        return 'answered a request without a header (correlation id %d)' % corr
    if corr != o.corr:
        return 'answered with correlation id %d, sent %d' % (corr, o.corr)
    return 'answered'


def open_conn(node):
    s = socket.create_connection(('127.0.0.1', node.kafka_port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def send_all(s, data, half_close=False):
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass


def produce_acks(body, version):
    """The acks of a Produce request's BODY (None when it does not parse)."""
    r = kproto.R(body)
    try:
        if version >= 3:
            if version >= 9:
                r.cstring()
            else:
                r.string()
        return r.i16()
    except (kproto.ShortRead, UnicodeDecodeError):
        return None


class Piped:
    """One request of a pipeline."""

    def __init__(self, corr, key, version, honest, acks0, body):
        self.corr, self.key, self.version = corr, key, version
        self.honest, self.acks0, self.body = honest, acks0, body


def judge_answer(msgs, key, version, honest, data):
    """What is wrong with DATA as the answer to a request (None: nothing)."""
    try:
        tree = kschema.decode_response(msgs, key, version, data, utf8=honest)
    except kschema.Malformed as e:
        return str(e)
    odd = [e for e in kschema.error_codes(tree) if not -1 <= e <= 130]
    return 'error codes Kafka does not have: %s' % odd if odd else None


def read_frame(s):
    """One response frame from S: (correlation id, bytes after it), None at
    the end of the stream."""
    head = b''
    while len(head) < 4:
        try:
            chunk = s.recv(4 - len(head))
        except (ConnectionResetError, BrokenPipeError):
            return None
        if not chunk:
            return None
        head += chunk
    size = struct.unpack('>i', head)[0]
    data = b''
    while len(data) < size:
        try:
            chunk = s.recv(min(size - len(data), 1 << 20))
        except (ConnectionResetError, BrokenPipeError):
            return None
        if not chunk:
            return None
        data += chunk
    return struct.unpack('>i', data[:4])[0], data[4:]


def send_each(node, cases, chunk=64):
    """Sends each of CASES ((label, bytes, correlation id or None,
    half_close)) on its own connection, CHUNK at a time; their Outcomes."""
    outcomes = []
    for i in range(0, len(cases), chunk):
        conns = []
        for label, data, corr, half in cases[i:i + chunk]:
            s = open_conn(node)
            send_all(s, data, half)
            conns.append((s, Outcome(label, corr)))
        outcomes += watch(conns)
    return outcomes


def restarts(node):
    """{subsystem: (pid, restarts)} of NODE."""
    return {ch['name']: (ch['pid'], ch['restarts']) for ch in node.status()['children']}


class SchemaRequests:
    """Requests of every API and version from kafka.schema with hostile
    values (a mixin of a NodeTestCase; also used by tests/cluster)."""

    def hostile_schema_requests(self, node, watched):
        """Every request API and version NODE advertises, built from
        kafka.schema (kschema.py) with structurally valid bodies and hostile
        values: boundary integers, null and empty names, names of internal
        topics, unknown config keys, broken record sets, unknown tagged
        fields; one in twenty has bits flipped afterwards. A request that
        follows the schema is answered with a response that decodes for its
        version, with error codes Kafka has (a close is allowed only for a
        body that breaks the schema, or an acks=0 Produce that failed). Then
        16 connections pipeline 25 such requests each: answers in order,
        every one for the eight pipelines of requests that follow the schema.
        No subsystem of the WATCHED nodes restarts. CHRONIK_KTEST_SEED
        replays a run."""
        seed = int(os.environ.get('CHRONIK_KTEST_SEED') or random.randrange(1 << 30))
        print('seed %d (CHRONIK_KTEST_SEED=%d replays it)' % (seed, seed), flush=True)
        msgs = kschema.load()
        topics = [topic_name('fz') for _ in range(2)]
        for t in topics:
            create_topic(node, t, 3)
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            err, advertised = kproto.parse_api_versions(c.call(kproto.API_VERSIONS, 0, b''))
        finally:
            c.close()
        self.assertEqual(err, 0)
        missing = sorted(k for k in advertised if ('request', k) not in msgs)
        self.assertEqual(missing, [], 'advertised APIs kafka.schema does not describe')
        before = [restarts(n) for n in watched]
        gen = kschema.Gen(seed, topics, ['fz-group'])
        cases, meta = [], {}
        corr = 1000
        for key in sorted(advertised):
            lo, hi = advertised[key]
            for version in range(lo, hi + 1):
                for _ in range(scale(6)):
                    body, honest = gen.body(msgs[('request', key)], version)
                    corr += 1
                    frame = kschema.request_frame(msgs, key, version, corr, body,
                                                  **gen.header())
                    label = 'api %d v%d corr %d' % (key, version, corr)
                    meta[corr] = (key, version, honest, body)
                    if key == kproto.PRODUCE and produce_acks(body, version) == 0:
                        # No answer to acks 0 (a close when it failed, as in
                        # Kafka): an ApiVersions behind it is answered first.
                        corr += 1
                        frame += kschema.request_frame(msgs, kproto.API_VERSIONS, 0, corr, b'')
                        meta[corr] = (kproto.API_VERSIONS, 0, False, body)
                        label += ' (acks 0, then ApiVersions corr %d)' % corr
                    cases.append((label, frame, corr, False))
        outcomes = send_each(node, cases)
        bad = []
        for o in outcomes:
            key, version, honest, body = meta[o.corr]
            if o.result not in ('closed', 'answered'):
                bad.append('%s: %s (body %s)' % (o.label, o.result, body.hex()))
                continue
            if o.result == 'closed':
                if honest:
                    bad.append('%s: closed after a request that follows the schema (body %s)'
                               % (o.label, body.hex()))
                continue
            problem = judge_answer(msgs, key, version, honest, o.data[8:])
            if problem:
                bad.append('%s: %s (body %s)' % (o.label, problem, body.hex()))
        # The same, pipelined: 16 connections each send 25 requests of
        # random APIs at once, half of them only requests that follow the
        # schema and expect an answer.
        rnd = random.Random(seed)
        kinds = [(k, v) for k in sorted(advertised)
                 for v in range(advertised[k][0], advertised[k][1] + 1)]
        pipes = []
        for p in range(16):
            reqs = []
            while len(reqs) < 25:
                key, version = rnd.choice(kinds)
                body, honest = gen.body(msgs[('request', key)], version)
                acks0 = key == kproto.PRODUCE and produce_acks(body, version) == 0
                if p < 8 and (acks0 or not honest):
                    continue
                corr += 1
                reqs.append(Piped(corr, key, version, honest, acks0, body))
            pipes.append(reqs)
        results = [None] * len(pipes)
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(
            i, self.pipelined(node, msgs, pipes[i]))) for i in range(len(pipes))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for i, res in enumerate(results):
            if res is None:
                res = ['no result within 120 s']
            bad += ['pipeline %d: %s' % (i, r) for r in res]
        self.assertEqual(bad, [], 'seed %d:\n  %s\n%s' % (seed, '\n  '.join(bad[:30]),
                                                            node.log_tail()))
        self.assertEqual([restarts(n) for n in watched], before,
                         'a subsystem restarted (seed %d)\n%s' % (seed, node.log_tail()))

    def pipelined(self, node, msgs, reqs):
        """Sends REQS (Piped) on one connection at once and reads the
        answers: in order, one per request but an acks=0 Produce, each well
        formed; a close only while a request that breaks the schema or an
        acks=0 Produce is unanswered. Returns the problems found."""
        s = open_conn(node)
        s.settimeout(60)
        try:
            send_all(s, b''.join(kschema.request_frame(msgs, r.key, r.version, r.corr, r.body)
                                 for r in reqs))
            problems = []
            unanswered = 0  # the first request after the last answer
            for i, r in enumerate(reqs):
                if r.acks0:
                    continue
                try:
                    got = read_frame(s)
                except socket.timeout:
                    return problems + ['api %d v%d corr %d: no answer within 60 s'
                                       % (r.key, r.version, r.corr)]
                if got is None:
                    # A failed acks=0 Produce before R closes too.
                    if not any(q.acks0 or not q.honest for q in reqs[unanswered:]):
                        problems.append('closed before answering api %d v%d corr %d, with '
                                        'only requests that follow the schema left'
                                        % (r.key, r.version, r.corr))
                    return problems
                corr, data = got
                if corr != r.corr:
                    return problems + ['answer with correlation id %d where %d (api %d v%d) '
                                       'was next' % (corr, r.corr, r.key, r.version)]
                unanswered = i + 1
                problem = judge_answer(msgs, r.key, r.version, r.honest, data)
                if problem:
                    problems.append('api %d v%d corr %d: %s (body %s)'
                                    % (r.key, r.version, r.corr, problem, r.body.hex()))
            return problems
        finally:
            s.close()


class BadInput(SchemaRequests, NodeTestCase):

    def setUp(self):
        super().setUp()
        self.n = self.node().start()
        self.good_topic = topic_name('good')
        create_topic(self.n, self.good_topic, 2)
        self.good = kclients.BackgroundProducer(self.n.bootstrap, self.good_topic, 10 ** 7,
                                                pace=0.05, acks='1')
        self.addCleanup(self.good.stop.set)
        self.before = self.n.child('kafka-frontend')

    def tearDown(self):
        self.good.stop.set()
        res = self.good.join()
        if not self._outcome_failed():
            self.check_unharmed(res)
        super().tearDown()

    def check_unharmed(self, res):
        fe = self.n.child('kafka-frontend')
        self.assertEqual((fe['pid'], fe['restarts']), (self.before['pid'], 0),
                         'kafka-frontend restarted: %s\n%s' % (fe, self.n.log_tail()))
        self.assertEqual((res.failed, res.errors), (0, []), 'the good producer was harmed')
        self.assertGreater(len(res.acked), 0, 'the good producer got nothing acknowledged')
        got = kclients.consume_all(self.n.bootstrap, self.good_topic, 2, want=len(res.acked))
        self.assertEqual(res.acked - got.ids, set(), 'acknowledged messages missing')

    def expect(self, outcomes, allowed=('closed', 'answered')):
        bad = ['%s: %s' % (o.label, o.result) for o in outcomes if o.result not in allowed]
        if bad:
            self.fail('%d of %d hostile connections misbehaved:\n  %s\n%s'
                      % (len(bad), len(outcomes), '\n  '.join(bad[:40]), self.n.log_tail()))

    def run_cases(self, cases, allowed=('closed', 'answered'), chunk=64):
        """CASES: (label, bytes, correlation id or None, half_close)."""
        outcomes = send_each(self.n, cases, chunk)
        self.expect(outcomes, allowed)
        self.assertTrue(self.n.kafka_ok(), 'broker no longer serves a fresh connection')
        return outcomes

    def test_bad_frame_lengths(self):
        cases = []
        for size in (-1, -2, -2 ** 31, 0, 1, 2, 3):
            cases.append(('frame length %d' % size, struct.pack('>i', size) + b'\x00\x12\x00',
                          None, False))
        for size in (2 ** 31 - 1, 2 ** 30, 200 * 2 ** 20 + 7):
            cases.append(('frame length %d' % size, struct.pack('>i', size) + b'\x00\x03\x00\x01'
                          + b'\x00' * 16, None, False))
        self.run_cases(cases, allowed=('closed',))

    def test_huge_array_count(self):
        corr = 77
        cases = []
        for api, ver, prefix in ((kproto.METADATA, 1, b''),
                                 (kproto.PRODUCE, 7, bytes(kproto.W().string(None).i16(1)
                                        .i32(30000))),
                                 (kproto.CREATE_TOPICS, 1, b'')):
            body = prefix + struct.pack('>i', 2 ** 31 - 1) + b'\x00\x05topic\x00\x00'
            cases.append(('api %d v%d with array count 2^31-1' % (api, ver),
                          kproto.request(api, ver, corr, body), corr, False))
        # Flexible: compact array length uvarint(2^31) in a Metadata v9.
        body = bytes(kproto.W().uvarint(2 ** 31)) + b'\x05abcd\x00'
        cases.append(('metadata v9 with compact array count 2^31-1',
                      kproto.request(kproto.METADATA, 9, corr, body), corr, False))
        # A produce whose batch bytes claim 2^31-1 bytes.
        body = bytes(kproto.W().string(None).i16(1).i32(30000).i32(1).string('t').i32(1).i32(0)
                     .i32(2 ** 31 - 1)) + b'\x00' * 8
        cases.append(('produce v7 with records length 2^31-1',
                      kproto.request(kproto.PRODUCE, 7, corr, body), corr, False))
        self.run_cases(cases)

    def metadata_version(self):
        c = kproto.Conn('127.0.0.1', self.n.kafka_port)
        try:
            err, keys = kproto.parse_api_versions(c.call(kproto.API_VERSIONS, 0, b''))
        finally:
            c.close()
        lo, hi = keys[kproto.METADATA]
        if lo <= 9 <= hi:
            return 9
        sys.stderr.write('NOTE: Metadata v9 is not advertised (%d-%d); truncating v%d\n'
                         % (lo, hi, hi))
        return hi

    def truncations(self, name, frame, corr):
        """Every truncation of FRAME: a complete frame of the first K body
        bytes, and the full-length frame cut after K bytes then half-closed."""
        body = frame[4:]
        cases = []
        for k in range(len(body)):
            cases.append(('%s body cut to %d of %d bytes' % (name, k, len(body)),
                          struct.pack('>i', k) + body[:k], corr if k >= 8 else None, False))
        for k in range(len(frame)):
            cases.append(('%s stream cut after %d of %d bytes' % (name, k, len(frame)),
                          frame[:k], None, True))
        return cases

    def test_truncated_metadata(self):
        ver = self.metadata_version()
        corr = 4242
        frame = kproto.request(kproto.METADATA, ver, corr,
                               kproto.metadata_body(ver, [self.good_topic], auto_create=False))
        # The whole request is answered (the positive control).
        whole = self.run_cases([('whole metadata v%d' % ver, frame, corr, False)],
                               allowed=('answered',))
        self.assertEqual(whole[0].result, 'answered')
        self.run_cases(self.truncations('metadata v%d' % ver, frame, corr),
                       allowed=('closed', 'answered'))

    def test_truncated_produce(self):
        corr = 4343
        topic = topic_name('trunc')
        create_topic(self.n, topic, 1)
        batch = kproto.record_batch([(b'k', b'value-%d' % i, [('h', b'1')]) for i in range(3)])
        frame = kproto.request(kproto.PRODUCE, 7, corr,
                               kproto.produce_body(7, 1, 30000, [(0, batch)], topic=topic))
        whole = self.run_cases([('whole produce v7', frame, corr, False)], allowed=('answered',))
        self.assertEqual(whole[0].result, 'answered')
        self.run_cases(self.truncations('produce v7', frame, corr))
        # Nothing but the whole request was appended.
        c = kproto.Conn('127.0.0.1', self.n.kafka_port)
        try:
            res = kproto.parse_list_offsets_v1(c.call(kproto.LIST_OFFSETS, 1,
                                                      kproto.list_offsets_body(topic, 0, -1)))
        finally:
            c.close()
        self.assertEqual(res[(topic, 0)][2], 3, 'truncated produce requests appended records')

    def test_unknown_api_key_and_version(self):
        corr = 99
        cases = [
            ('api key 32767', kproto.request(32767, 0, corr, b''), corr, False),
            ('api key 999', kproto.request(999, 0, corr, b'\x00' * 8), corr, False),
            ('api key -1', kproto.request(-1, 0, corr, b''), corr, False),
            ('metadata v99', kproto.request(kproto.METADATA, 99, corr, b'\x00\x00\x00\x00'),
             corr, False),
            ('produce v-1', kproto.request(kproto.PRODUCE, -1, corr, b'\x00' * 10), corr, False),
            ('fetch v32000', kproto.request(kproto.FETCH, 32000, corr, b'\x00' * 10), corr,
             False),
            # Cut after the correlation id: no header of any version.
            ('metadata v98, no client id', struct.pack('>ihhi', 8, kproto.METADATA, 98, corr),
             corr, False),
        ]
        self.run_cases(cases)
        # The log line names the request's key and version, also for a
        # header that cannot be read (it said api_key=-1, "undecodable
        # request header").
        for v in (98, 99):
            wait_for(lambda: self.n.log_grep(
                'api_key=3 reason="unsupported api version (version %d)"' % v), 5,
                'the Metadata v%d line naming its key and version' % v)
        # ApiVersions with an unknown version: error 35 and a v0 body that
        # lists at least ApiVersions itself (KIP-511), then the connection
        # still works.
        c = kproto.Conn('127.0.0.1', self.n.kafka_port)
        try:
            body = c.call(kproto.API_VERSIONS, 99, b'')
            err, keys = kproto.parse_api_versions(body, 0)
            self.assertEqual(err, 35, 'ApiVersions v99 answered error %d' % err)
            self.assertIn(kproto.API_VERSIONS, keys)
            err, keys = kproto.parse_api_versions(c.call(kproto.API_VERSIONS, 0, b''))
            self.assertEqual(err, 0)
        finally:
            c.close()

    def test_refused_request_after_good_ones(self):
        """A Produce and an ApiVersions, then a request refused (unsupported
        version, undecodable body), all in one write: Kafka reads one
        request of a connection at a time, so it answers the first two in
        full and then closes. The connection closed at once, dropping the
        two answers although the records had been written."""
        name = topic_name('refused')
        create_topic(self.n, name, 1)
        refused = [('metadata v99', kproto.request(kproto.METADATA, 99, 3, b'\x00' * 4)),
                   ('truncated metadata', kproto.request(kproto.METADATA, 1, 3,
                                                         b'\x00\x00\x00\x05'))]
        for i, (label, bad) in enumerate(refused):
            c = kproto.Conn('127.0.0.1', self.n.kafka_port, timeout=30)
            try:
                produce = kproto.request(kproto.PRODUCE, 7, 1, kproto.produce_body(
                    7, 1, 30000, [(0, kproto.record_batch([(None, b'v%d' % i, [])]))],
                    topic=name))
                after = kproto.request(kproto.API_VERSIONS, 0, 4, b'')
                c.send_raw(produce + kproto.request(kproto.API_VERSIONS, 0, 2, b'') + bad +
                           after)
                corr, body = c.recv_frame()
                self.assertEqual((corr, kproto.parse_produce(body, 7)), (1, {(name, 0): (0, i)}),
                                 label)
                corr, body = c.recv_frame()
                self.assertEqual((corr, kproto.parse_api_versions(body)[0]), (2, 0), label)
                # Closed with nothing more: the request after it is never read.
                self.assertEqual(c.wait_closed(10), (True, b''), label)
            finally:
                c.close()

    def test_produce_does_not_create_topics(self):
        """A Produce to a topic that does not exist is UNKNOWN_TOPIC_OR_PARTITION
        and creates nothing, as in Kafka (only Metadata requests create
        topics): it created the topic, so a producer writing on while its
        topic was deleted brought it back in the default layout."""
        name = topic_name('noauto')
        c = kproto.Conn('127.0.0.1', self.n.kafka_port, timeout=30)
        try:
            body = kproto.produce_body(3, 1, 30000, [(0, kproto.record_batch([(None, b'x', [])]))],
                                       topic=name)
            self.assertEqual(kproto.parse_produce(c.call(kproto.PRODUCE, 3, body), 3),
                             {(name, 0): (3, -1)})
            _, _, topics = kproto.parse_metadata(c.call(kproto.METADATA, 4, kproto.metadata_body(
                4, [name], auto_create=False)), 4)
            self.assertEqual(topics[name][0], 3, 'the produce created the topic')
        finally:
            c.close()

    def test_longest_topic_name(self):
        """A topic name of Kafka's longest, 249 bytes, is created, written,
        read and deleted like any other. walwriter built a new log's
        directory under "<topic>-<partition>.creating", past the file
        system's 255 bytes for such a name: every append failed its group
        commit and walwriter restarted in a loop ("File name too long")."""
        name = ('L%d-' % os.getpid()).ljust(249, 'x')
        create_topic(self.n, name, 1)
        c = kproto.Conn('127.0.0.1', self.n.kafka_port, timeout=30)
        try:
            for i in range(3):
                body = kproto.produce_body(3, 1, 30000, [(0, kproto.record_batch(
                    [(None, b'v%d' % i, [])]))], topic=name)
                self.assertEqual(kproto.parse_produce(c.call(kproto.PRODUCE, 3, body), 3),
                                 {(name, 0): (0, i)})
            got = kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(name, 0, 0)))
            self.assertEqual(got[(name, 0)][:2], (0, 3))
        finally:
            c.close()
        a = admin_client(self.n)
        try:
            a.delete_topics([name], timeout_ms=30000)
        finally:
            a.close()
        wait_for(lambda: not [d for d in os.listdir(os.path.join(self.n.data, 'log'))
                              if d.startswith(name[:200])], 30, 'the log directory gone')
        self.assertEqual(self.n.child('walwriter')['restarts'], 0, self.n.log_tail())

    def test_partial_frames_held_open(self):
        """Connections that send half a request and then stall hold nothing
        up: new connections are served, and the stalled ones are answered
        once the rest arrives."""
        corr = 555
        frame = kproto.request(kproto.METADATA, 1, corr, kproto.metadata_body(1, [self.good_topic]))
        stalled = []
        try:
            for i in range(50):
                s = open_conn(self.n)
                send_all(s, frame[:1 + i % (len(frame) - 1)])
                stalled.append(s)
            time.sleep(2)
            self.assertTrue(self.n.kafka_ok(), 'stalled connections block new ones')
            conns = []
            for i, s in enumerate(stalled):
                send_all(s, frame[1 + i % (len(frame) - 1):])
                conns.append((s, Outcome('stalled connection %d' % i, corr)))
            stalled = []
            self.expect(watch(conns), allowed=('answered',))
        finally:
            for s in stalled:
                s.close()

    def test_tls_client_hello(self):
        self.run_cases([('TLS ClientHello', tls_client_hello(), None, False),
                        ('TLS ClientHello, half-closed', tls_client_hello(), None, True)],
                       allowed=('closed',))

    def produce_raw(self, topic, parts, acks=1, version=7):
        c = kproto.Conn('127.0.0.1', self.n.kafka_port)
        try:
            return kproto.parse_produce(c.call(kproto.PRODUCE, version, kproto.produce_body(
                version, acks, 30000, parts, topic=topic)), version)
        finally:
            c.close()

    def latest(self, topic, p):
        """The partition's latest offset (ListOffsets v1), asked again, as a
        client does, while the answer is NOT_LEADER_OR_FOLLOWER (6): the
        first request that touches a partition on a node may come before
        the node's replicator described it (its produces here all failed
        validation first)."""
        deadline = time.monotonic() + 10
        while True:
            c = kproto.Conn('127.0.0.1', self.n.kafka_port)
            try:
                res = kproto.parse_list_offsets_v1(c.call(
                    kproto.LIST_OFFSETS, 1, kproto.list_offsets_body(topic, p, -1)))
            finally:
                c.close()
            err = res[(topic, p)][0]
            if err != 6 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(err, 0, 'ListOffsets of %s-%d: error %d' % (topic, p, err))
        return res[(topic, p)][2]

    def test_corrupt_batch_crc(self):
        topic = topic_name('crc')
        create_topic(self.n, topic, 2)
        recs = [(None, b'record-%d' % i, []) for i in range(5)]
        good = kproto.record_batch(recs)
        bad = kproto.record_batch(recs, corrupt_crc=True)
        for acks in (1, -1):
            res = self.produce_raw(topic, [(0, good), (1, bad)], acks=acks)
            self.assertEqual(res[(topic, 0)][0], 0, 'the good partition of the request')
            self.assertEqual(res[(topic, 1)][0], 2, 'a corrupt CRC must be CORRUPT_MESSAGE')
        self.assertEqual((self.latest(topic, 0), self.latest(topic, 1)), (10, 0))
        # A flipped bit inside the records, CRC left as it was.
        flipped = bytearray(good)
        flipped[-3] ^= 0x01
        res = self.produce_raw(topic, [(1, bytes(flipped))])
        self.assertEqual(res[(topic, 1)][0], 2, 'a flipped payload bit')
        self.assertEqual(self.latest(topic, 1), 0, 'a corrupt batch was appended')
        # The partition still takes good batches.
        res = self.produce_raw(topic, [(1, good)])
        self.assertEqual(res[(topic, 1)], (0, 0))

    def test_batch_larger_than_a_segment(self):
        """A batch larger than the topic's segment.bytes is refused with
        RECORD_LIST_TOO_LARGE (18), as Kafka refuses a batch that cannot fit
        in one segment (it was stored in a segment past the limit); one that
        fits is stored."""
        topic = topic_name('segbytes')
        create_topic(self.n, topic, 1, configs={'segment.bytes': '2048'})
        big = kproto.record_batch([(None, b'x' * 1000, []) for _ in range(10)])
        small = kproto.record_batch([(None, b'y' * 100, [])])
        self.assertEqual(self.produce_raw(topic, [(0, big)])[(topic, 0)][0], 18)
        self.assertEqual(self.latest(topic, 0), 0, 'the oversized batch was appended')
        self.assertEqual(self.produce_raw(topic, [(0, small)])[(topic, 0)], (0, 0))

    def test_two_batches_in_one_partition(self):
        """Produce v3 and later carry exactly one batch per partition: two
        are INVALID_RECORD (87), as Kafka answers (they were both stored)."""
        topic = topic_name('twobatch')
        create_topic(self.n, topic, 1)
        one = kproto.record_batch([(None, b'a', [])])
        self.assertEqual(self.produce_raw(topic, [(0, one + one)])[(topic, 0)][0], 87)
        self.assertEqual(self.latest(topic, 0), 0, 'the batches were appended')
        self.assertEqual(self.produce_raw(topic, [(0, one)])[(topic, 0)], (0, 0))

    def test_malformed_batches(self):
        topic = topic_name('malformed')
        create_topic(self.n, topic, 1)
        good = kproto.record_batch([(None, b'x' * 10, [])] * 3)
        too_long = bytearray(good)
        struct.pack_into('>i', too_long, 8, len(good) - 12 + 50)  # batchLength past the end
        too_short = bytearray(good)
        struct.pack_into('>i', too_short, 8, 30)
        magic1 = bytearray(good)
        magic1[16] = 1
        cases = {'batchLength past the end': bytes(too_long),
                 'batchLength too short': bytes(too_short),
                 'magic 1 in a v7 produce': bytes(magic1),  # 43 allowed below
                 'ten bytes': good[:10],
                 'empty records': b''}
        for label, data in cases.items():
            res = self.produce_raw(topic, [(0, data)])
            self.assertIn(res[(topic, 0)][0], (2, 43, 87) if 'magic' in label else (2, 87),
                          '%s: error %d (want CORRUPT_MESSAGE 2 or INVALID_RECORD 87)'
                          % (label, res[(topic, 0)][0]))
        # A record count that does not match the records.
        wrong = bytearray(kproto.record_batch([(None, b'y', [])] * 3))
        struct.pack_into('>i', wrong, 57, 4)
        tail = bytes(wrong[21:])
        struct.pack_into('>I', wrong, 17, kproto.crc32c(tail))
        res = self.produce_raw(topic, [(0, bytes(wrong))])
        self.assertIn(res[(topic, 0)][0], (2, 87), 'record count 4 with 3 records: error %d'
                      % res[(topic, 0)][0])
        # A batch marked transactional: transactions are not served, so no
        # producer can have made it (stored, it would read as committed).
        txn = bytearray(kproto.record_batch([(None, b't', [])] * 2, producer_id=7,
                                            producer_epoch=0, base_sequence=0))
        struct.pack_into('>h', txn, 21, 0x10)
        struct.pack_into('>I', txn, 17, kproto.crc32c(bytes(txn[21:])))
        res = self.produce_raw(topic, [(0, bytes(txn))])
        self.assertEqual(res[(topic, 0)][0], 53, 'a transactional batch: error %d (want '
                         'TRANSACTIONAL_ID_AUTHORIZATION_FAILED)' % res[(topic, 0)][0])
        self.assertEqual(self.latest(topic, 0), 0, 'a malformed batch was appended')


    def test_bad_compressed_batches(self):
        """A batch marked compressed whose records are not a valid stream of
        its codec (as a broken or hostile producer sends: a consumer could
        never read it) is CORRUPT_MESSAGE and not appended, for each codec;
        a gzip stream cut short too; a record count its decompressed
        records do not match INVALID_RECORD or CORRUPT_MESSAGE. A real gzip
        batch goes in and reads back."""
        topic = topic_name('codec')
        create_topic(self.n, topic, 1)
        recs = [(b'k%d' % i, b'value-%d' % i, []) for i in range(4)]
        for codec in (1, 2, 3, 4):
            garbage = kproto.record_batch(recs, codec=codec)  # uncompressed bytes
            res = self.produce_raw(topic, [(0, garbage)])
            self.assertEqual(res[(topic, 0)][0], 2, 'codec %d, not compressed' % codec)
        good = kproto.gzip_batch(recs)
        cut = bytearray(good[:-6])
        struct.pack_into('>i', cut, 8, len(cut) - 12)
        struct.pack_into('>I', cut, 17, kproto.crc32c(bytes(cut[21:])))
        res = self.produce_raw(topic, [(0, bytes(cut))])
        self.assertEqual(res[(topic, 0)][0], 2, 'a gzip stream cut short')
        miscount = bytearray(good)
        struct.pack_into('>i', miscount, 23, 4)  # lastOffsetDelta
        struct.pack_into('>i', miscount, 57, 5)  # recordsCount: 5 of 4 records
        struct.pack_into('>I', miscount, 17, kproto.crc32c(bytes(miscount[21:])))
        res = self.produce_raw(topic, [(0, bytes(miscount))])
        self.assertIn(res[(topic, 0)][0], (2, 87), 'a count beyond the compressed records')
        self.assertEqual(self.latest(topic, 0), 0, 'a bad compressed batch was appended')
        # zstd came with Produce v7 (KIP-110): before it,
        # UNSUPPORTED_COMPRESSION_TYPE (76), as Kafka answers.
        zstd = kproto.zstd_batch(recs)
        for version in (3, 6):
            res = self.produce_raw(topic, [(0, zstd)], version=version)
            self.assertEqual(res[(topic, 0)][0], 76, 'zstd in Produce v%d' % version)
        self.assertEqual(self.latest(topic, 0), 0, 'a zstd batch of Produce v3 was appended')
        res = self.produce_raw(topic, [(0, good)], acks=-1)
        self.assertEqual(res[(topic, 0)], (0, 0))
        c = kproto.Conn('127.0.0.1', self.n.kafka_port)
        try:
            got = kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(topic, 0, 0)))
        finally:
            c.close()
        err, hw, data = got[(topic, 0)]
        self.assertEqual((err, hw), (0, 4))
        self.assertEqual(data, good[:12] + data[12:], 'the gzip batch served as stored')
        self.assertEqual(len(data), len(good))
        self.assertEqual(self.produce_raw(topic, [(0, zstd)])[(topic, 0)], (0, 4),
                         'the zstd batch in Produce v7')

    def test_legacy_message_sets(self):
        """Produce v2 with message sets of magic 1 (what clients older than
        Kafka 0.11 send): a CRC that does not match, a size past the end,
        a gzip wrapper holding garbage are CORRUPT_MESSAGE, a wrapper of
        65 MB once decompressed and a 1.1 MB set MESSAGE_TOO_LARGE, and
        nothing is appended; a good set is appended, and Fetch v0 returns it as magic 0
        messages with good CRCs (v2 gets magic 1 with the timestamps)."""
        topic = topic_name('legacy')
        create_topic(self.n, topic, 1)

        def produce_v2(data):
            w = kproto.W().i16(1).i32(30000).i32(1).string(topic).i32(1).i32(0).bytes_(data)
            c = kproto.Conn('127.0.0.1', self.n.kafka_port)
            try:
                return kproto.parse_produce(c.call(kproto.PRODUCE, 2, bytes(w)), 2)[(topic, 0)]
            finally:
                c.close()
        message = kproto.legacy_message
        good = message(0, b'k0', b'v0') + message(1, None, b'v1', ts=1700000000001)
        bad_crc = bytearray(good)
        bad_crc[-1] ^= 1
        long_size = bytearray(good)
        struct.pack_into('>i', long_size, 8, len(good))
        wrapper = message(0, None, b'not a gzip stream', attr=1)
        for label, data in (('bad CRC', bad_crc), ('size past the end', long_size),
                            ('gzip wrapper of garbage', wrapper), ('cut short', good[:-3])):
            self.assertEqual(produce_v2(bytes(data))[0], 2, label)
        self.assertEqual(self.latest(topic, 0), 0, 'a bad message set was appended')
        # Small on the wire, 65 MB once decompressed: refused before the
        # broker holds it all; a plain set past max.message.bytes too.
        bomb = message(0, None, gzip.compress(b''.join(
            message(i, b'k', bytes(1 << 20)) for i in range(65))), attr=1)
        self.assertLess(len(bomb), 200000)
        self.assertEqual(produce_v2(bomb)[0], 10, 'a wrapper of 65 MB')
        big = b''.join(message(i, b'k', b'z' * 1000) for i in range(1100))
        self.assertEqual(produce_v2(big)[0], 10, 'a set past max.message.bytes')
        self.assertEqual(produce_v2(good), (0, 0))
        self.assertEqual(self.latest(topic, 0), 2)
        for version, magic in ((0, 0), (2, 1)):
            w = kproto.W().i32(-1).i32(0).i32(1).i32(1).string(topic).i32(1) \
                .i32(0).i64(0).i32(1 << 20)
            c = kproto.Conn('127.0.0.1', self.n.kafka_port)
            try:
                r = kproto.R(c.call(kproto.FETCH, version, bytes(w)))
            finally:
                c.close()
            if version >= 1:
                r.i32()  # throttle
            self.assertEqual((r.i32(), r.string(), r.i32(), r.i32(), r.i16(), r.i64()),
                             (1, topic, 1, 0, 0, 2), 'Fetch v%d header' % version)
            got = self.legacy_messages(r.bytes_(), magic)
            self.assertEqual(r.left(), 0)
            self.assertEqual(got, [(0, b'k0', b'v0', 1700000000000 if magic else None),
                                   (1, None, b'v1', 1700000000001 if magic else None)])

    def legacy_messages(self, data, magic):
        """The uncompressed messages of MAGIC in the message set DATA, their
        CRCs checked: [(offset, key, value, timestamp or None)]."""
        got = []
        pos = 0
        while pos < len(data):
            off, size = struct.unpack_from('>qi', data, pos)
            m = data[pos + 12:pos + 12 + size]
            self.assertEqual(struct.unpack_from('>I', m)[0], zlib.crc32(m[4:]), 'CRC')
            self.assertEqual((m[4], m[5]), (magic, 0), 'magic, attributes')
            q = 6 + (8 if magic else 0)
            ts = struct.unpack_from('>q', m, 6)[0] if magic else None
            kl = struct.unpack_from('>i', m, q)[0]
            key = None if kl < 0 else m[q + 4:q + 4 + kl]
            q += 4 + max(kl, 0)
            vl = struct.unpack_from('>i', m, q)[0]
            got.append((off, key, m[q + 4:q + 4 + vl], ts))
            pos += 12 + size
        return got

    def test_legacy_fetch_of_compressed_batches(self):
        """A client pinned to Fetch v2 reading well-compressed batches (1,000
        records of 1 KB in ten gzip batches of ~3 KB): it gets up to its
        partition_max_bytes of converted messages per fetch, so the whole
        partition in one or two fetches (before: twice the stored bytes a
        fetch, 140 round trips); every record once, in order."""
        topic = topic_name('legacyz')
        create_topic(self.n, topic, 1)
        sent = []
        for b in range(10):
            recs = [(b'k%d' % (b * 100 + i), b'%04d' % (b * 100 + i) + b'x' * 996, [])
                    for i in range(100)]
            self.assertEqual(self.produce_raw(topic, [(0, kproto.gzip_batch(recs))])[(topic, 0)],
                             (0, b * 100))
            sent += recs
        got, fetches = [], 0
        while len(got) < len(sent) and fetches < 20:
            w = kproto.W().i32(-1).i32(0).i32(1).i32(1).string(topic).i32(1) \
                .i32(0).i64(len(got)).i32(1 << 20)
            c = kproto.Conn('127.0.0.1', self.n.kafka_port)
            try:
                r = kproto.R(c.call(kproto.FETCH, 2, bytes(w)))
            finally:
                c.close()
            fetches += 1
            r.i32()  # throttle
            self.assertEqual((r.i32(), r.string(), r.i32(), r.i32(), r.i16(), r.i64()),
                             (1, topic, 1, 0, 0, 1000))
            got += self.legacy_messages(r.bytes_(), 1)
        self.assertEqual([(o, k, v) for o, k, v, _ in got],
                         [(i, k, v) for i, (k, v, _) in enumerate(sent)])
        self.assertLessEqual(fetches, 2)

    def test_requests_naming_many_topics(self):
        """Requests naming 100,000-200,000 topics, each twice, are answered
        within a minute (the pairwise duplicate checks they replaced took
        minutes, and the node's whole Kafka port waited): Metadata (no
        auto-creation) lists each unknown name once; CreateTopics answers
        each name once INVALID_REQUEST (42) and creates nothing, as
        CreatePartitions naming a topic twice names it once in its response
        (librdkafka refuses a response that names it twice) with
        INVALID_REQUEST."""
        names = ['dup%06d' % i for i in range(100000)] * 2
        many = ['md%06d' % i for i in range(200000)] * 2
        c = kproto.Conn('127.0.0.1', self.n.kafka_port, timeout=60)
        try:
            md = c.call(kproto.METADATA, 4, kproto.metadata_body(4, many, auto_create=False))
            body = c.call(kproto.CREATE_TOPICS, 1,
                          kproto.create_topics_body([(nm, 1, 1) for nm in names]))
        finally:
            c.close()
        r = kproto.R(md)
        r.i32()  # throttle
        r.array(lambda x: (x.i32(), x.string(), x.i32(), x.string()))
        r.string()
        r.i32()
        listed = r.array(lambda x: (x.i16(), x.string(), x.i8(), x.array(lambda y: y.i32())))
        self.assertEqual([nm for _, nm, _, _ in listed], many[:200000])
        self.assertEqual({e for e, _, _, _ in listed}, {3})
        res = kproto.R(body).array(lambda x: (x.string(), x.i16(), x.string()))
        self.assertEqual([nm for nm, _, _ in res], names[:100000])
        self.assertEqual({e for _, e, _ in res}, {42})
        from confluent_kafka.admin import AdminClient, NewPartitions
        admin = AdminClient({'bootstrap.servers': self.n.bootstrap})
        fs = admin.create_partitions([NewPartitions(self.good_topic, 4),
                                      NewPartitions(self.good_topic, 5)])
        with self.assertRaises(kclients.ck.KafkaException) as cm:
            fs[self.good_topic].result(30)
        self.assertEqual(cm.exception.args[0].code(), kclients.ck.KafkaError.INVALID_REQUEST,
                         cm.exception.args[0])
        md = admin.list_topics(self.good_topic, timeout=10)
        self.assertEqual(len(md.topics[self.good_topic].partitions), 2)
        self.assertFalse(any(t.startswith('dup0') for t in admin.list_topics(timeout=10).topics))

    def test_wide_requests_bounded(self):
        """Requests whose answers repeat per entry take memory of the order of
        the answer: CreateTopics v1 validate_only naming 300,000 new topics
        (each held a plan and a list of configs, ~4 KiB, though configs are
        v5+ fields: 4 GB and 11 s for a million), DescribeConfigs naming one
        topic 50,000 times (each answer a copy of its own: ~1 GB for
        100,000), and 800 connections that each sent 14 bytes of a 1 MiB
        frame (64 KiB set aside for each)."""
        fe = self.n.child('kafka-frontend')['pid']

        def grew_mib(what, run, limit_mib):
            with open('/proc/%d/clear_refs' % fe, 'w') as f:
                f.write('5')  # VmHWM back to VmRSS
            base = proc_kib(fe, 'VmHWM')
            out = run()
            grew = (proc_kib(fe, 'VmHWM') - base) >> 10
            sys.stderr.write('%s: kafka-frontend peak +%d MiB\n' % (what, grew))
            self.assertLess(grew, limit_mib, '%s: kafka-frontend grew %d MiB' % (what, grew))
            return out

        def half_frames():
            socks = []
            for _ in range(800):
                s = open_conn(self.n)
                send_all(s, struct.pack('>i', 1 << 20) + bytes(10))
                socks.append(s)
            time.sleep(1)
            return socks
        # First: the heap the large answers free stays resident.
        socks = grew_mib('800 half-sent frames', half_frames, 20)
        for s in socks:
            s.close()
        names = ['wide%06d' % i for i in range(300000)]
        w = kproto.W().i32(len(names))
        for nm in names:
            w.string(nm).i32(1).i16(1).i32(0).i32(0)
        create = bytes(w.i32(30000).bool(True))
        w = kproto.W().i32(50000)
        for _ in range(50000):
            w.i8(2).string(self.good_topic).i32(-1)
        describe = bytes(w)
        c = kproto.Conn('127.0.0.1', self.n.kafka_port, timeout=60)
        try:
            # ASan's redzones and quarantine: 148 and 409 MiB measured.
            room = 2 if SANITIZE else 1
            body = grew_mib('DescribeConfigs', lambda: c.call(32, 0, describe), 200 * room)
            created = grew_mib('CreateTopics', lambda: c.call(kproto.CREATE_TOPICS, 1, create),
                               300 * room)
        finally:
            c.close()
        r = kproto.R(body)
        r.i32()  # throttle
        res = r.array(lambda x: (x.i16(), x.string(), x.i8(), x.string(), x.array(
            lambda y: (y.string(), y.string(), y.i8(), y.i8(), y.i8()))))
        self.assertEqual(len(res), 50000)
        self.assertEqual(len({repr(x) for x in res}), 1)
        self.assertEqual((res[0][0], res[0][2], res[0][3]), (0, 2, self.good_topic))
        self.assertIn('retention.ms', [k for k, *_ in res[0][4]])
        res = kproto.R(created).array(lambda x: (x.string(), x.i16(), x.string()))
        self.assertEqual([nm for nm, _, _ in res], names)
        self.assertEqual({e for _, e, _ in res}, {0})
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({'bootstrap.servers': self.n.bootstrap})
        self.assertFalse(any(t.startswith('wide0') for t in admin.list_topics(timeout=10).topics))
        self.assertTrue(self.n.kafka_ok())
        self.assertEqual(self.n.child('kafka-frontend')['restarts'], 0)

    def test_create_partitions_huge_count(self):
        """CreatePartitions to 2^31-1 (or 10,001) partitions is refused with
        INVALID_PARTITIONS (37), without kafka-frontend sizing memory by the
        count: it allocated and zeroed ~8 GiB for the new replicas before
        checking the count, its RSS passed 5 GB and every connection
        waited for seconds."""
        topic = topic_name('grow')
        create_topic(self.n, topic, 3)
        fe = self.n.child('kafka-frontend')['pid']
        peak = proc_kib(fe, 'VmHWM')
        c = kproto.Conn('127.0.0.1', self.n.kafka_port, timeout=30)
        try:
            for count in (0x7fffffff, 10001, 0x7ffffffe):
                body = c.call(37, 1, bytes(kproto.W().i32(1).string(topic).i32(count).i32(-1)
                                           .i32(30000).bool(False)))
                r = kproto.R(body)
                r.i32()  # throttle
                res = r.array(lambda x: (x.string(), x.i16(), x.string()))
                self.assertEqual([(nm, err) for nm, err, _ in res], [(topic, 37)],
                                 'count %d: %s' % (count, res))
        finally:
            c.close()
        grew = proc_kib(fe, 'VmHWM') - peak
        self.assertLess(grew, 64 << 10, 'kafka-frontend\'s peak RSS grew by %d KiB' % grew)

    def test_every_api_with_hostile_values(self):
        """SchemaRequests.hostile_schema_requests on this node (the good
        producer and tearDown's checks run as in every case)."""
        self.hostile_schema_requests(self.n, [self.n])


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def http_get(port, path, timeout=5):
    """(status, body) of GET PATH on 127.0.0.1:PORT, or (None, error)."""
    import http.client
    try:
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
        c.request('GET', path)
        r = c.getresponse()
        out = (r.status, r.read())
        c.close()
        return out
    except OSError as e:
        return None, str(e)


def dial(port):
    """A non-blocking socket connecting to 127.0.0.1:PORT."""
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(('127.0.0.1', port))
    except BlockingIOError:
        pass
    return c


def open_idle(port, n, socks):
    """Opens N connections to PORT that never send (into SOCKS, which the
    caller closes), then gives the server 2 s to take them."""
    for _ in range(n):
        socks.append(dial(port))
    time.sleep(2)


class ExpectAll:
    """For a NodeTestCase with node self.n: every outcome must be one of
    ALLOWED."""

    def expect_all(self, outcomes, allowed):
        bad = ['%s: %s' % (o.label, o.result) for o in outcomes if o.result not in allowed]
        self.assertEqual(bad, [], self.n.log_tail())


class ConnectionRequestBytes(NodeTestCase):
    """One producer that pipelines large requests faster than the disk
    takes them: kafka-frontend reads a connection's requests only while
    those in flight hold less than [kafka] max_inflight_request_bytes
    (Kafka itself reads one request per connection at a time), so its
    memory stays bounded; every request is still answered, in order."""

    CAP = 4 << 20     # max_inflight_request_bytes here
    BATCH = 900_000   # bytes of one record, one batch per request
    REQS = 40         # about 36 MB pipelined on one connection

    def test_pipelined_produce_bounded(self):
        asan = os.environ.get('ASAN_OPTIONS', '')
        n = self.node(env={'ASAN_OPTIONS': asan + (':' if asan else '')
                           + 'quarantine_size_mb=0'},
                      config_extra='[kafka]\nmax_inflight_request_bytes = %d\n'
                      % self.CAP).start()
        name = topic_name('inflight')
        create_topic(n, name, 1)
        c = kproto.Conn('127.0.0.1', n.kafka_port, timeout=90)
        # One small produce first: the partition's log exists and is warm.
        c.send_raw(kproto.request(kproto.PRODUCE, 7, 1, kproto.produce_body(
            7, 1, 30000, [(0, kproto.record_batch([(None, b'first', [])]))], topic=name)))
        self.assertEqual(kproto.parse_produce(c.recv_frame()[1], 7)[(name, 0)], (0, 0))
        fe = n.child('kafka-frontend')['pid']
        wal = n.child('walwriter')['pid']
        value = os.urandom(self.BATCH)  # incompressible, like the records' frames
        frames = b''.join(kproto.request(kproto.PRODUCE, 7, 100 + i, kproto.produce_body(
            7, 1, 30000, [(0, kproto.record_batch([(None, value, [])]))], topic=name))
            for i in range(self.REQS))
        base = proc_kib(fe, 'VmRSS')
        os.kill(wal, signal.SIGSTOP)
        try:
            sender = threading.Thread(target=c.send_raw, args=(frames,), daemon=True)
            sender.start()
            time.sleep(3)  # the frontend reads what it may, then stops
            grew = (proc_kib(fe, 'VmRSS') - base) << 10
        finally:
            os.kill(wal, signal.SIGCONT)
        sender.join(60)
        self.assertFalse(sender.is_alive(), 'the requests were not all read')
        got = [c.recv_frame() for _ in range(self.REQS)]
        c.close()
        self.assertEqual([corr for corr, _ in got], [100 + i for i in range(self.REQS)])
        self.assertEqual([kproto.parse_produce(b, 7)[(name, 0)] for _, b in got],
                         [(0, 1 + i) for i in range(self.REQS)])
        # Held: the cap, the request that crossed it, its Append frames to
        # walwriter, the read buffer; unbounded it would be every request
        # (36 MB) and its Append frame (36 MB more).
        self.assertLess(grew, 4 * self.CAP + (8 << 20),
                        'kafka-frontend grew %d MiB while walwriter was stopped'
                        % (grew >> 20))


class PipelinedNeverRead(NodeTestCase):
    """A client that pipelines far more requests than [kafka]
    max_inflight_requests in one write and does not read the answers:
    kafka-frontend takes only the allowed number (the rest of what one read
    brought waits unparsed), so what it holds stays bounded (each queued
    Fetch answer holds a segment file open); all are answered, in order,
    once the client reads. And one that does the same with long polls and
    hangs up is closed at once, not when its polls end."""

    INFLIGHT = 16
    REQS = 300  # ~30 KB of Fetch requests: one or a few reads of the socket

    def frontend_fds(self, n):
        return len(os.listdir('/proc/%d/fd' % n.child('kafka-frontend')['pid']))

    def test_inflight_limit_holds_within_one_read(self):
        n = self.node(config_extra='[kafka]\nmax_inflight_requests = %d\n'
                      % self.INFLIGHT).start()
        name = topic_name('piped')
        create_topic(n, name, 1)
        c = kproto.Conn('127.0.0.1', n.kafka_port, timeout=60)
        # 200 KB of records: 60 MB of answers, more than the sockets'
        # buffers take.
        for i in range(4):
            c.send_raw(kproto.request(kproto.PRODUCE, 7, 1, kproto.produce_body(
                7, 1, 30000, [(0, kproto.record_batch([(None, os.urandom(50000), [])]))],
                topic=name)))
            self.assertEqual(kproto.parse_produce(c.recv_frame()[1], 7)[(name, 0)], (0, i))
        base = self.frontend_fds(n)
        frames = b''.join(kproto.request(kproto.FETCH, 4, 100 + i, kproto.fetch_body(
            name, 0, 0)) for i in range(self.REQS))
        sender = threading.Thread(target=c.send_raw, args=(frames,), daemon=True)
        sender.start()
        time.sleep(3)  # the frontend takes what it may, then stops
        held = self.frontend_fds(n) - base
        got = []
        for _ in range(self.REQS):
            got.append(c.recv_frame())
        sender.join(30)
        c.close()
        self.assertEqual([corr for corr, _ in got], [100 + i for i in range(self.REQS)])
        parsed = [kproto.parse_fetch_v4(b)[(name, 0)] for _, b in got]
        self.assertEqual({(err, hw) for err, hw, _ in parsed}, {(0, 4)})
        self.assertTrue(all(len(recs) > 200000 for _, _, recs in parsed))
        # Each answer waiting to be written holds the segment open: at most
        # the requests in flight and 64 answers to send (the frontend's
        # cap), not one per request the reads brought (~250 here).
        self.assertLess(held, self.INFLIGHT + 64 + 20,
                        'kafka-frontend held %d more fds for one client' % held)

    def test_hangup_while_paused_is_seen(self):
        n = self.node(config_extra='[kafka]\nmax_inflight_requests = %d\n'
                      % self.INFLIGHT).start()
        name = topic_name('polls')
        create_topic(n, name, 1)
        base = self.frontend_fds(n)
        polls = b''.join(kproto.request(kproto.FETCH, 4, i, kproto.fetch_body(
            name, 0, 0, max_wait_ms=(1 << 31) - 1, min_bytes=(1 << 31) - 1))
            for i in range(3 * self.INFLIGHT))
        conns = []
        for _ in range(20):
            c = kproto.Conn('127.0.0.1', n.kafka_port)
            c.send_raw(polls)
            conns.append(c)
        time.sleep(1)
        self.assertGreaterEqual(self.frontend_fds(n) - base, 20)
        for c in conns:
            c.close()
        deadline = time.monotonic() + 10
        while self.frontend_fds(n) - base > 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertLessEqual(self.frontend_fds(n) - base, 2,
                             'connections closed by their clients are still held')
        self.assertEqual(n.child('kafka-frontend')['restarts'], 0)


class QueuedAnswersAllConnections(NodeTestCase):
    """Clients that pipeline requests with large answers (all-topic
    Metadata of ~350 KB) and never read: max_queued_response_bytes bounds
    each connection, [kafka] queued_max_response_bytes all of them (before,
    every such connection held up to 64 MiB: 20 took 1.7 GB). A client
    that reads is served meanwhile, and the memory goes with the
    connections."""

    def rss_mb(self, n):
        with open('/proc/%d/status' % n.child('kafka-frontend')['pid']) as f:
            return int(f.read().split('VmRSS:')[1].split()[0]) // 1024

    def test_unread_answers_bounded_over_all_connections(self):
        # Under ASan, freed memory would wait in a 256 MiB quarantine.
        asan = os.environ.get('ASAN_OPTIONS', '')
        n = self.node(env={'ASAN_OPTIONS': asan + (':' if asan else '') + 'quarantine_size_mb=0'},
                      config_extra='[kafka]\nmax_queued_response_bytes = 33554432\n'
                      'queued_max_response_bytes = 33554432\n').start()
        c = kproto.Conn('127.0.0.1', n.kafka_port, timeout=120)
        names = ['qa%04d-' % i + 'n' * 194 for i in range(1500)]
        res = kproto.parse_create_topics_v1(c.call(kproto.CREATE_TOPICS, 1,
                                                   kproto.create_topics_body(
                                                       [(nm, 1, 1) for nm in names])))
        self.assertEqual(set(res.values()), {0})
        answer = len(c.call(kproto.METADATA, 1, b'\xff\xff\xff\xff'))
        self.assertGreater(answer, 300000)
        base = self.rss_mb(n)
        md = kproto.request(kproto.METADATA, 1, 1, b'\xff\xff\xff\xff')
        hogs = []
        try:
            for _ in range(12):
                s = socket.create_connection(('127.0.0.1', n.kafka_port))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall(md * 200)  # 70 MB of answers each
                hogs.append(s)
            time.sleep(3)
            grown = self.rss_mb(n) - base
            t0 = time.monotonic()
            self.assertEqual(len(c.call(kproto.METADATA, 1, b'\xff\xff\xff\xff')), answer)
            self.assertLess(time.monotonic() - t0, 5)
        finally:
            for s in hogs:
                s.close()
            c.close()
        # 32 MiB, one answer each past it, the allocator's slack.
        self.assertLess(grown, 32 + 12 * answer / 1e6 + 60,
                        'kafka-frontend grew %d MB for 12 connections that do not read' % grown)
        self.assertEqual(n.child('kafka-frontend')['restarts'], 0)


class DecompressionBomb(NodeTestCase):
    """One Produce request carrying the same partition 60 times, each a
    ~3 KB zstd batch that inflates past 64 MiB of zeros: every copy is
    decompressed to be checked (and refused, MESSAGE_TOO_LARGE), seconds of
    CPU in all. kafka-frontend does that on its worker thread: other
    clients keep being answered meanwhile (it stalled them all)."""

    COPIES = 60

    def test_bomb_does_not_stall_other_clients(self):
        n = self.node().start()
        name = topic_name('bomb')
        create_topic(n, name, 1)
        comp = kproto.zstd_compress(bytes((64 << 20) + 1))
        self.assertLess(len(comp), 1 << 20)
        ts = int(time.time() * 1000)
        batch = kproto._batch_wrap(comp, 1, 0, ts, 4, False, -1, -1, -1, ts)
        body = kproto.produce_body(7, 1, 30000, [(0, batch)] * self.COPIES, topic=name)
        lat, stop = [], threading.Event()

        def probe():
            c = kproto.Conn('127.0.0.1', n.kafka_port, timeout=60)
            while not stop.is_set():
                t = time.monotonic()
                c.call(kproto.API_VERSIONS, 0, b'')
                lat.append(time.monotonic() - t)
                time.sleep(0.02)
            c.close()

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        time.sleep(0.5)
        c = kproto.Conn('127.0.0.1', n.kafka_port, timeout=300)
        t0 = time.monotonic()
        got = kproto.parse_produce(c.call(kproto.PRODUCE, 7, body), 7)
        took = time.monotonic() - t0
        stop.set()
        prober.join(60)
        c.close()
        self.assertEqual(got, {(name, 0): (10, -1)})  # MESSAGE_TOO_LARGE
        self.assertGreater(len(lat), 5)
        # The loop answers within a second whatever the worker does (it
        # answered once the whole request was decompressed: the produce's
        # time, seconds).
        self.assertLess(max(lat), 1.0, 'ApiVersions waited %.2f s while the produce '
                        'took %.2f s' % (max(lat), took))
        self.assertEqual(n.child('kafka-frontend')['restarts'], 0)


class AutoCreateMany(NodeTestCase):
    """One Metadata v1 request naming 30,000 unknown topics, with
    auto-creation on (the default): each is created, and the answer lists
    them all. kafka-frontend found each name among the creations in flight
    by walking a list, 30,000 squared steps on the loop that serves every
    client (50,000 names stalled all of them 9.7 s); now a hash table."""

    NAMES = 30000

    def test_many_auto_creations_do_not_stall_other_clients(self):
        n = self.node().start()
        prefix = topic_name('many')
        names = ['%s%05d' % (prefix, i) for i in range(self.NAMES)]
        lat, stop = [], threading.Event()

        def probe():
            c = kproto.Conn('127.0.0.1', n.kafka_port, timeout=60)
            while not stop.is_set():
                t = time.monotonic()
                c.call(kproto.API_VERSIONS, 0, b'')
                lat.append(time.monotonic() - t)
                time.sleep(0.02)
            c.close()

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        time.sleep(0.5)
        c = kproto.Conn('127.0.0.1', n.kafka_port, timeout=300)
        t0 = time.monotonic()
        _, _, topics = kproto.parse_metadata(c.call(kproto.METADATA, 1,
                                                    kproto.metadata_body(1, names)), 1)
        took = time.monotonic() - t0
        stop.set()
        prober.join(60)
        c.close()
        self.assertEqual(sorted(topics), names)
        errs = {e for e, _ in topics.values()}
        # Created (0), or still without a leader (LEADER_NOT_AVAILABLE).
        self.assertLessEqual(errs, {0, 5}, errs)
        self.assertGreater(len(lat), 5)
        # The stall was the whole request; a loaded machine (a sanitized
        # build beside other work) delays one answer by a second or so.
        self.assertLess(max(lat), max(1.0, took / 3), 'ApiVersions waited %.2f s while the '
                        'metadata request took %.2f s' % (max(lat), took))
        _, _, every = kproto.parse_metadata(
            kproto.call_once(n.kafka_port, kproto.METADATA, 1,
                             kproto.metadata_body(1, None), 30000), 1)
        self.assertLessEqual(set(names), set(every))
        self.assertEqual(n.child('kafka-frontend')['restarts'], 0)


class RequestMemory(ExpectAll, NodeTestCase):
    """Large requests on many connections at once: kafka-frontend holds at
    most [kafka] queued_max_request_bytes of them (Kafka's
    queued.max.request.bytes) and makes the rest wait; one that stalls while
    others wait is cut off. Every request is answered in the end."""

    REQ = 7 << 20     # each request's size
    BUDGET = 32 << 20  # queued_max_request_bytes here: four such requests
    CONNS = 24         # 168 MiB of requests in flight at once, unbounded

    def setUp(self):
        super().setUp()
        # Under ASan, freed memory waits in a quarantine (256 MiB) and
        # would count as held: none for this node, so its peak is its own.
        asan = os.environ.get('ASAN_OPTIONS', '')
        self.n = self.node(env={'ASAN_OPTIONS': asan + (':' if asan else '')
                                + 'quarantine_size_mb=0'},
                           config_extra='[kafka]\nmax_request_bytes = %d\n'
                           'queued_max_request_bytes = %d\nidle_timeout_ms = 4000\n'
                           % (8 << 20, self.BUDGET)).start()

    def big_request(self, corr):
        """An ApiVersions request padded to REQ bytes (the padding is
        trailing bytes, which brokers ignore)."""
        head = kproto.request(kproto.API_VERSIONS, 0, corr, b'')
        return struct.pack('>i', self.REQ) + head[4:] + b'\0' * (self.REQ - len(head) + 4)

    def send_in_threads(self, conns, datas, go=None):
        """Sends each of DATAS on its connection from a thread of its own;
        with the event GO, all but the last byte, then the last once GO is
        set."""
        def send(s, d):
            if go is not None:
                send_all(s, d[:-1])
                go.wait(90)
                d = d[-1:]
            send_all(s, d)
        for s in conns:
            s.settimeout(90)  # a sender may wait its turn
        threads = [threading.Thread(target=send, args=(s, d), daemon=True)
                   for s, d in zip(conns, datas)]
        for t in threads:
            t.start()
        return threads

    def test_many_large_requests_bounded(self):
        pid = self.n.child('kafka-frontend')['pid']
        base = proc_kib(pid, 'VmRSS')
        socks = [open_conn(self.n) for _ in range(self.CONNS)]
        go = threading.Event()
        # Every request all but complete at once: unbounded, all of them
        # would be in memory together.
        threads = self.send_in_threads(socks, [self.big_request(100 + i)
                                               for i in range(self.CONNS)], go)
        time.sleep(3)
        go.set()
        out = watch([(s, Outcome('large request %d' % i, 100 + i))
                     for i, s in enumerate(socks)], timeout=60)
        for t in threads:
            t.join(10)
        self.expect_all(out, ('answered',))
        grew = (proc_kib(pid, 'VmHWM') - base) << 10
        # Four requests at a time, each buffer up to twice its size while
        # it grows, and the first 64 KiB of every waiting one.
        self.assertLess(grew, 2 * self.BUDGET + self.CONNS * (128 << 10) + (16 << 20),
                        'kafka-frontend grew %d MiB for %d requests of %d MiB'
                        % (grew >> 20, self.CONNS, self.REQ >> 20))
        self.assertEqual(self.n.child('kafka-frontend')['restarts'], 0)
        self.assertTrue(self.n.log_grep('request memory full'), 'no line about the wait')

    def test_stalled_large_requests_give_way(self):
        """Four connections send a size field and 1 MiB, then a byte a
        second: never idle, but far too slow, and together they hold the
        whole limit."""
        stalled = [open_conn(self.n) for _ in range(4)]
        stop = threading.Event()
        self.addCleanup(stop.set)

        def trickle(s):
            try:
                while not stop.wait(1):
                    s.sendall(b'\0')
            except OSError:
                pass  # cut off
        for s in stalled:
            send_all(s, self.big_request(7)[:1 << 20])
            threading.Thread(target=trickle, args=(s,), daemon=True).start()
        time.sleep(0.5)
        s = open_conn(self.n)
        t0 = time.monotonic()
        threads = self.send_in_threads([s], [self.big_request(8)])
        self.assertTrue(self.n.kafka_ok(), 'a small request waited for request memory')
        out = watch([(s, Outcome('large request after stalled ones', 8))], timeout=60)
        waited = time.monotonic() - t0
        threads[0].join(10)
        self.expect_all(out, ('answered',))
        # 10 s plus a second per 4 MiB, found by a sweep every second.
        self.assertGreater(waited, 9, 'answered before the stalled requests gave way')
        self.assertLess(waited, 30)
        stop.set()
        # Only as many are cut as the waiting request needs: one here.
        cut = 0
        for c in stalled:
            c.settimeout(0.5)
            try:
                cut += c.recv(100) == b''
            except ConnectionResetError:
                cut += 1
            except socket.timeout:
                pass
            c.close()
        self.assertEqual(cut, 1, 'stalled connections closed')
        self.assertTrue(self.n.log_grep('request arriving too slowly'), 'no line about the cut')


class LargeResponses(ExpectAll, NodeTestCase):
    """A small request asking for a huge response: DescribeGroups naming a
    group whose member sent megabytes of metadata many times over. One
    response in memory is bounded by [kafka] max_response_bytes: beyond, the
    connection is closed with a log line (before, kafka-frontend built
    gigabytes per such request and served nobody meanwhile); smaller ones
    are answered."""

    META = 1 << 20  # the member's metadata and its assignment, each

    def setUp(self):
        super().setUp()
        self.n = self.node(config_extra='[kafka]\nmax_response_bytes = %d\n'
                           % (8 << 20)).start()

    def describe(self, conn, group, times):
        body = kproto.W().i32(times)
        for _ in range(times):
            body.string(group)
        return conn.call(DESCRIBE_GROUPS, 0, bytes(body))

    def test_response_over_the_limit_closes_the_connection(self):
        group = 'large-meta'
        c = kproto.Conn('127.0.0.1', self.n.kafka_port, timeout=30)
        self.addCleanup(c.close)
        join = (kproto.W().string(group).i32(30000).string('').string('consumer').i32(1)
                .string('range').i32(self.META).raw(b'M' * self.META))
        r = kproto.R(c.call(JOIN_GROUP, 0, bytes(join)))
        self.assertEqual(r.i16(), 0)
        gen, _, _, member = r.i32(), r.string(), r.string(), r.string()
        sync = (kproto.W().string(group).i32(gen).string(member).i32(1).string(member)
                .i32(self.META).raw(b'A' * self.META))
        self.assertEqual(kproto.R(c.call(SYNC_GROUP, 0, bytes(sync))).i16(), 0)
        pid = self.n.child('kafka-frontend')['pid']
        base = proc_kib(pid, 'VmRSS')
        # Three copies: about 6 MiB, answered whole.
        d = kproto.Conn('127.0.0.1', self.n.kafka_port, timeout=30)
        self.addCleanup(d.close)
        r = kproto.R(self.describe(d, group, 3))
        self.assertEqual(r.i32(), 3)
        self.assertEqual(r.i16(), 0)
        self.assertEqual(r.string(), group)
        # 400 copies: 800 MiB unbounded; closed at the limit.
        e = kproto.Conn('127.0.0.1', self.n.kafka_port, timeout=30)
        self.addCleanup(e.close)
        with self.assertRaises(kproto.Closed):
            self.describe(e, group, 400)
        grew = (proc_kib(pid, 'VmHWM') - base) << 10
        self.assertLess(grew, 64 << 20, 'kafka-frontend grew %d MiB' % (grew >> 20))
        self.assertTrue(self.n.log_grep('response larger than max_response_bytes'),
                        self.n.log_tail())
        # The member and other clients are served on.
        hb = kproto.W().string(group).i32(gen).string(member)
        self.assertEqual(kproto.R(c.call(HEARTBEAT, 0, bytes(hb))).i16(), 0)
        self.assertTrue(self.n.kafka_ok())
        self.assertEqual(self.n.child('kafka-frontend')['restarts'], 0)


class FetchCap(NodeTestCase):
    """A Fetch whose max_bytes is near 2 GiB (librdkafka takes
    fetch.max.bytes up to 2147483135) over a backlog larger than that got
    an answer too large to frame: the connection was closed, every time,
    and the consumer never got on. Kafka caps a consumer's max_bytes at the
    broker's fetch.max.bytes (55 MiB); so does chronik. Here the backlog is
    one partition named 80 times, 1 MiB each."""

    def test_fetch_capped_at_55_mib(self):
        node = self.node().start()
        topic = topic_name('cap')
        create_topic(node, topic, 1)
        # Small batches: each 1 MiB share of the answer is nearly full (a
        # slow broker let librdkafka's batches grow to ~600 KB, and whole
        # batches filled ~45 MB of the 80 shares).
        res = kclients.produce(node.bootstrap, topic, 1500, size=(1000, 1000),
                               conf={'batch.size': 16384})
        self.assertEqual(len(res.acked), 1500, res.errors[:3])
        w = kproto.W().i32(-1).i32(0).i32(1).i32(0x7ffffeff).i8(0)
        w.i32(1).string(topic).i32(80)
        for _ in range(80):
            w.i32(0).i64(0).i64(-1).i32(1 << 20)
        c = kproto.Conn('127.0.0.1', node.kafka_port, timeout=60)
        self.addCleanup(c.close)
        body = c.call(kproto.FETCH, 5, bytes(w))
        self.assertGreater(len(body), 50 << 20)
        self.assertLessEqual(len(body), (55 << 20) + (1 << 20),
                             'a fetch answer of %d MiB' % (len(body) >> 20))
        self.assertTrue(node.kafka_ok())


class IdleMidRequest(ExpectAll, NodeTestCase):
    """[kafka] idle_timeout_ms also closes a connection that went silent in
    the middle of a request (else a client that sends a byte and stops holds
    an fd for ever: a few thousand such take the broker's fds), but never
    one whose request still arrives, however slowly."""

    IDLE_MS = 2000

    def setUp(self):
        super().setUp()
        self.n = self.node(config_extra='[kafka]\nidle_timeout_ms = %d\n'
                           % self.IDLE_MS).start()

    def test_silent_mid_request_closed_slow_one_kept(self):
        corr = 4242
        frame = kproto.request(kproto.METADATA, 1, corr, kproto.metadata_body(1, []))
        silent = []
        for i in range(40):  # a byte of the size field .. all but the last byte
            s = open_conn(self.n)
            send_all(s, frame[:1 + i % (len(frame) - 1)])
            silent.append(s)
        slow = open_conn(self.n)
        t0 = time.monotonic()
        # The slow one sends a byte every 0.4 s, for three idle timeouts.
        step = max(1, len(frame) // int(3 * self.IDLE_MS / 400))
        for k in range(0, len(frame) - 1, step):
            send_all(slow, frame[k:min(k + step, len(frame) - 1)])
            time.sleep(0.4)
        self.assertGreater(time.monotonic() - t0, 2 * self.IDLE_MS / 1000)
        send_all(slow, frame[-1:])
        self.expect_all(watch([(slow, Outcome('slow request', corr))]), ('answered',))
        self.expect_all(watch([(s, Outcome('silent mid-request %d' % i))
                               for i, s in enumerate(silent)], timeout=5), ('closed',))
        self.assertTrue(self.n.log_grep('idle timeout in the middle of a request'),
                        'no line about the idle close')
        self.assertTrue(self.n.kafka_ok())


def nofile_soft(pid):
    """PID's soft limit of open files."""
    with open('/proc/%d/limits' % pid) as f:
        for line in f:
            if line.startswith('Max open files'):
                return int(line.split()[3])
    raise AssertionError('no open files limit for pid %d' % pid)


class ConnectionLimit(NodeTestCase):
    """More connections than kafka-frontend has fds for (it runs with 300
    here, so 225 connections at most), all of them silent in the middle of
    a request: a new client is still served, taking the place of the
    longest silent one."""

    def setUp(self):
        super().setUp()
        self.n = self.node(config_extra='[wrapper]\nkafka-frontend = "prlimit --nofile=300"\n'
                           ).start()

    def test_fd_limit_raised(self):
        """chronik-server started with a low soft limit of open files (a
        login shell's 1024, here 512) raises it to the hard limit for its
        children, or past it to 2^20 (at most fs.nr_open) where it may
        raise the hard limit too; a wrapper's own limit (300 here) still
        wins."""
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        with open('/proc/sys/fs/nr_open') as f:
            cap = min(int(f.read()), 1 << 20)
        want = min(hard, cap) if hard != resource.RLIM_INFINITY else cap
        low = min(512, want // 2)
        n = self.node(name='fdlimit')
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
        try:
            n.start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for name in ('raftd', 'kafka-frontend'):
            self.assertIn(nofile_soft(n.child(name)['pid']), (want, cap), name)
        self.assertEqual(nofile_soft(self.n.child('kafka-frontend')['pid']), 300)
        self.assertTrue(n.log_grep('open file limit raised from=%d' % low), n.log_tail())

    def test_silent_connections_make_room(self):
        fe = self.n.child('kafka-frontend')
        socks = []
        try:
            for i in range(400):
                try:
                    s = open_conn(self.n)
                    s.sendall(b'\x00')  # a byte of a size field, then nothing
                    socks.append(s)
                except OSError:
                    pass  # refused: none was silent long enough yet
            time.sleep(1.5)
            for i in range(5):
                self.assertTrue(self.n.kafka_ok(), 'new client %d not served' % i)
            topic = topic_name('limit')
            create_topic(self.n, topic, 1)
            res = kclients.produce(self.n.bootstrap, topic, 20)
            self.assertEqual(res.failed, 0)
            got = kclients.consume_all(self.n.bootstrap, topic, 1, want=20)
            self.assertEqual(len(got.ids), 20)
        finally:
            for s in socks:
                s.close()
        self.assertTrue(self.n.log_grep('connection limit reached'), 'no line about the limit')
        after = self.n.child('kafka-frontend')
        self.assertEqual((after['pid'], after['restarts']), (fe['pid'], 0))


class WalwriterFileLimit(NodeTestCase):
    """More partitions with data than walwriter has descriptors for (it
    holds three files per log with data; it runs with 600 here): the
    partitions that fit take their records, the others' first append is
    refused with KAFKA_STORAGE_ERROR (56) and nothing of it written, with a
    log line naming the limit; walwriter keeps running (before, the open
    failed inside a group commit: walwriter restarted, again at each new
    partition, and records it had written were reported failed)."""

    def test_first_appends_past_the_fd_limit_refused(self):
        n = self.node(config_extra='[wrapper]\nwalwriter = "prlimit --nofile=600"\n').start()
        topic = topic_name('fdlogs')
        create_topic(n, topic, 200)
        batch = kproto.record_batch([(None, b'v', [])])
        outcomes = []
        for _ in range(2):
            res = kproto.parse_produce(kproto.call_once(
                n.kafka_port, kproto.PRODUCE, 7,
                kproto.produce_body(7, 1, 30000, [(p, batch) for p in range(200)], topic=topic),
                60000), 7)
            outcomes.append({p: res[(topic, p)][0] for p in range(200)})
        ok = {p for p, e in outcomes[0].items() if e == 0}
        self.assertEqual(set(outcomes[0].values()), {0, 56}, outcomes[0])
        self.assertGreater(len(ok), 50)
        self.assertEqual(outcomes[1], outcomes[0], 'the same partitions fit the second time')
        for p in range(200):
            self.assertEqual(kproto.list_offset(n.kafka_port, topic, p, -1),
                             (0, 2 if p in ok else 0), 'partition %d' % p)
        self.assertEqual(n.child('walwriter')['restarts'], 0, n.log_tail())
        self.assertTrue(n.log_grep('too many open files for another log'), n.log_tail())


class AdminPort(NodeTestCase):
    """Hostile clients of the supervisor's admin HTTP port: the supervisor
    keeps its memory, its fds, its log and its other work."""

    def wait_health(self, port, timeout=15):
        deadline = time.monotonic() + timeout
        while http_get(port, '/health')[0] != 200:
            self.assertLess(time.monotonic(), deadline, 'admin HTTP did not come back')
            time.sleep(0.2)

    def test_endless_header_line(self):
        n = self.node().start()
        sup, port = n.proc.pid, n.ports['admin']
        before = rss_kb(sup)
        s = socket.create_connection(('127.0.0.1', port), timeout=10)
        s.sendall(b'GET /metrics HTTP/1.1\r\nX-Long: ')
        chunk, sent = b'a' * (1 << 20), 0
        try:
            while sent < (64 << 20):
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        finally:
            s.close()
        self.assertLess(sent, 64 << 20, 'a 64 MiB header line was taken in')
        self.assertLess(rss_kb(sup) - before, 16 << 10, 'the supervisor grew')
        self.assertEqual(http_get(port, '/health')[0], 200)
        status, body = http_get(port, '/metrics')
        self.assertEqual(status, 200)
        self.assertIn(b'chronik_', body)

    def test_out_of_fds(self):
        """Connections until the supervisor has no fd left: it pauses
        accepting instead of retrying (and logging) in a busy loop, and
        serves again once they are gone."""
        import resource
        n = self.node().start()
        sup, port = n.proc.pid, n.ports['admin']
        soft, hard = resource.prlimit(sup, resource.RLIMIT_NOFILE)
        resource.prlimit(sup, resource.RLIMIT_NOFILE, (48, hard))
        socks = []
        try:
            open_idle(port, 300, socks)
            with open('/proc/%d/stat' % sup) as f:
                t0 = sum(int(x) for x in f.read().rsplit(')', 1)[1].split()[11:13])
            time.sleep(2)
            with open('/proc/%d/stat' % sup) as f:
                t1 = sum(int(x) for x in f.read().rsplit(')', 1)[1].split()[11:13])
        finally:
            for c in socks:
                c.close()
            resource.prlimit(sup, resource.RLIMIT_NOFILE, (soft, hard))
        ticks = os.sysconf('SC_CLK_TCK')
        self.assertLess((t1 - t0) / ticks, 0.5, 'the supervisor spun while out of fds')
        with open(n.log, 'rb') as f:
            log = f.read()
        self.assertIn(b'admin HTTP: accept failed, pausing', log, 'never out of fds')
        self.assertLess(log.count(b'Error from accept'), 5, 'accept failures logged one by one')
        self.wait_health(port)
        self.assertTrue(n.kafka_ok(), 'the node no longer serves Kafka clients')

    def test_connection_cap(self):
        """Thousands of connections held open: the supervisor holds 64 at a
        time (a new one takes the place of one open a second or more), and
        once they close it serves again, and hundreds of requests one after
        another all work (no connection stays counted after it closed)."""
        n = self.node().start()
        sup, port = n.proc.pid, n.ports['admin']
        base = len(os.listdir('/proc/%d/fd' % sup))
        socks = []
        try:
            open_idle(port, 2000, socks)
            held = len(os.listdir('/proc/%d/fd' % sup)) - base
        finally:
            for c in socks:
                c.close()
        self.assertLessEqual(held, 64 + 4, 'the supervisor took %d connections' % held)
        self.assertGreaterEqual(held, 32, 'the supervisor took only %d connections' % held)
        self.wait_health(port)
        for i in range(300):
            self.assertEqual(http_get(port, '/metrics' if i % 10 == 0 else '/health')[0], 200,
                             'request %d after the flood' % i)

    def test_trickling_clients(self):
        """100 clients each sending a header byte every 2 s (evhttp's
        inactivity timeout never ends them) and reconnecting when cut off:
        a scraper is still answered within seconds, again and again, and
        the supervisor neither spins nor fills its log."""
        import threading
        n = self.node().start()
        sup, port = n.proc.pid, n.ports['admin']
        stop = threading.Event()

        def trickle(socks):
            while not stop.wait(2):
                for i, (c, started) in enumerate(socks):
                    try:
                        c.send(b'a' if started else b'GET /health HTTP/1.1\r\nX-Slow: ')
                        socks[i][1] = True
                    except OSError:
                        c.close()
                        socks[i] = [dial(port), False]

        socks = [[dial(port), False] for _ in range(100)]
        t = threading.Thread(target=trickle, args=(socks,), daemon=True)
        t.start()
        try:
            time.sleep(3)
            with open('/proc/%d/stat' % sup) as f:
                t0 = sum(int(x) for x in f.read().rsplit(')', 1)[1].split()[11:13])
            for i in range(5):
                start = time.monotonic()
                status, body = http_get(port, '/health', timeout=10)
                self.assertEqual(status, 200, 'scrape %d under 100 trickling clients: %s'
                                 % (i, body))
                self.assertLess(time.monotonic() - start, 5, 'scrape %d waited' % i)
                time.sleep(1.5)
            with open('/proc/%d/stat' % sup) as f:
                t1 = sum(int(x) for x in f.read().rsplit(')', 1)[1].split()[11:13])
        finally:
            stop.set()
            t.join()
            for c, _ in socks:
                c.close()
        self.assertLess((t1 - t0) / os.sysconf('SC_CLK_TCK'), 2, 'the supervisor spun')
        with open(n.log, 'rb') as f:
            log = f.read()
        self.assertLess(log.count(b'closing the oldest for a new one'), 5,
                        'evictions logged one by one')
        self.wait_health(port)
        self.assertTrue(n.kafka_ok(), 'the node no longer serves Kafka clients')


if __name__ == '__main__':
    main()
