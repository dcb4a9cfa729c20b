#!/usr/bin/python3
"""test_kcat.py: kcat (librdkafka 2.0.2) round trips through a chronik node.

Owned by the Kafka integration tests. For no compression and each of gzip,
snappy, lz4 and zstd: 100,000 messages (CHRONIK_KTEST_SCALE scales it) of
varied sizes -- empty and null values, null and empty keys, values up to
64 KiB with bytes outside ASCII, headers -- go to a 3-partition topic, one kcat
producer per partition (-p N, -K key delimiter, -H headers, -Z on one
partition so empty fields become NULL), and come back with kcat -C -e in the
same order per partition, byte for byte, at offsets 0..n-1. A raw Fetch
then checks that the broker stored the batches with the producer's codec
(a broker that advertises too little makes librdkafka silently send
uncompressed batches).
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kharness import (NodeTestCase, create_topic, kproto, main, run, scale,  # noqa: E402
                      topic_name)

KCAT = '/usr/bin/kcat'
FMT = '%o|%K|%S|%h|%k%s\n'
CODECS = {'none': 0, 'gzip': 1, 'snappy': 2, 'lz4': 3, 'zstd': 4}

# One producer run per partition: its headers and whether -Z is given.
RUNS = [
    {'headers': [], 'null_empty': True},
    {'headers': [('trace', 'abc-123'), ('app', 'chronik-ktest')], 'null_empty': False},
    {'headers': [('empty', ''), ('long', 'h' * 300)], 'null_empty': True},
]


def _pool(rng):
    """Printable bytes, ':' (the key delimiter, legal in values), UTF-8 and
    high bytes; never a newline (the message delimiter)."""
    alphabet = (b'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
                b' !#$%&()*+,-./:;<=>?@[]^_{}~|\t\xc3\xa9\xe2\x82\xac\xff\x00\x7f')
    return bytes(rng.choice(alphabet) for _ in range(1 << 17))


def _value_size(rng):
    x = rng.random()
    if x < 0.15:
        return 0
    if x < 0.65:
        return rng.randrange(1, 64)
    if x < 0.95:
        return rng.randrange(64, 1024)
    if x < 0.997:
        return rng.randrange(1024, 8192)
    return rng.randrange(8192, 65536)


def gen_messages(rng, pool, n, null_empty):
    """Returns (input bytes for kcat -K :, expected [(key, value)]). With
    NULL_EMPTY (kcat -Z) empty keys and values are expected as None."""
    lines = []
    expect = []
    for i in range(n):
        if rng.random() < 0.25:
            key = b''
        else:
            key = b'k%d' % i + pool[:rng.randrange(0, 24)].replace(b':', b'.')
            key = key.replace(b'\n', b'.')
        size = _value_size(rng)
        off = rng.randrange(0, len(pool) - size + 1)
        value = pool[off:off + size]
        lines.append(key + b':' + value)
        if null_empty:
            expect.append((key or None, value or None))
        else:
            expect.append((key, value))
    return b'\n'.join(lines) + b'\n', expect


def parse_kcat(out):
    """Parses kcat -f FMT output by the printed lengths."""
    msgs = []
    p = 0
    while p < len(out):
        fields = []
        for _ in range(4):
            q = out.index(b'|', p)
            fields.append(out[p:q])
            p = q + 1
        off, klen, vlen = int(fields[0]), int(fields[1]), int(fields[2])
        headers = fields[3]
        key = None if klen < 0 else out[p:p + klen]
        p += max(klen, 0)
        value = None if vlen < 0 else out[p:p + vlen]
        p += max(vlen, 0)
        if out[p:p + 1] != b'\n':
            raise AssertionError('kcat output out of step at byte %d' % p)
        p += 1
        msgs.append((off, key, value, headers))
    return msgs


def expected_headers(run_spec):
    return ','.join('%s=%s' % (k, v) for k, v in run_spec['headers']).encode()


class KcatRoundTrip(NodeTestCase):

    def roundtrip(self, codec):
        node = self.node().start()
        topic = topic_name('kcat-' + codec)
        create_topic(node, topic, 3)
        rng = random.Random('kcat-%s' % codec)
        pool = _pool(rng)
        total = scale(100000)
        per = [total // 3 + (1 if i < total % 3 else 0) for i in range(3)]
        expected = []
        for p, spec in enumerate(RUNS):
            data, exp = gen_messages(rng, pool, per[p], spec['null_empty'])
            expected.append(exp)
            cmd = [KCAT, '-P', '-b', node.bootstrap, '-t', topic, '-p', str(p), '-K', ':',
                   '-X', 'compression.codec=' + codec, '-X', 'linger.ms=5', '-m', '30']
            if spec['null_empty']:
                cmd.append('-Z')
            for k, v in spec['headers']:
                cmd += ['-H', '%s=%s' % (k, v)]
            r = run(cmd, timeout=600, input_data=data, check=False)
            err = r.stderr.decode('utf-8', 'replace')
            if r.returncode != 0 or 'Delivery failed' in err:
                self.fail_with_log('kcat producer (partition %d, %s) exited %d: %s'
                                   % (p, codec, r.returncode, err[-3000:]), node)
        for p, spec in enumerate(RUNS):
            r = run([KCAT, '-C', '-b', node.bootstrap, '-t', topic, '-p', str(p), '-o',
                     'beginning', '-e', '-q', '-f', FMT, '-m', '30'], timeout=600, check=False)
            if r.returncode != 0:
                self.fail_with_log('kcat consumer (partition %d) exited %d: %s' % (
                    p, r.returncode, r.stderr.decode('utf-8', 'replace')[-3000:]), node)
            got = parse_kcat(r.stdout)
            self.assertEqual(len(got), len(expected[p]),
                             'partition %d: %d messages back, %d sent'
                             % (p, len(got), len(expected[p])))
            hdr = expected_headers(spec)
            for i, ((off, key, value, headers), (ekey, evalue)) in enumerate(
                    zip(got, expected[p])):
                if off != i or key != ekey or value != evalue or headers != hdr:
                    self.fail('partition %d message %d differs: got offset %d key %r value %r '
                              'headers %r; sent key %r value %r headers %r'
                              % (p, i, off, key and key[:60], value and value[:60], headers,
                                 ekey and ekey[:60], evalue and evalue[:60], hdr))
        self.check_stored_codec(node, topic, CODECS[codec])

    def check_stored_codec(self, node, topic, codec):
        """The stored batches (fetched raw) carry the producer's codec.
        librdkafka sends a batch uncompressed when compressing does not make
        it smaller, so some may have codec 0, but not all of them."""
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            for p in range(3):
                res = kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(
                    topic, p, 0, max_wait_ms=0, partition_max_bytes=8 << 20)))
                err, hw, data = res[(topic, p)]
                self.assertEqual(err, 0, 'raw fetch of partition %d: error %d' % (p, err))
                batches = kproto.batches_parse(data)
                self.assertTrue(batches, 'raw fetch of partition %d returned no batch' % p)
                self.assertEqual(batches[0]['base_offset'], 0)
                self.assertTrue(all(b['magic'] == 2 and b['crc_ok'] for b in batches),
                                'stored batches with a wrong magic or CRC')
                codecs = set(b['codec'] for b in batches)
                self.assertIn(codec, codecs, 'partition %d: stored batches have codecs %s, '
                              'producer used %d' % (p, sorted(codecs), codec))
                self.assertLessEqual(codecs, {0, codec})
                for prev, nxt in zip(batches, batches[1:]):
                    self.assertEqual(nxt['base_offset'], prev['last_offset'] + 1,
                                     'stored batches are not contiguous')
        finally:
            c.close()

    def test_none(self):
        self.roundtrip('none')

    def test_gzip(self):
        self.roundtrip('gzip')

    def test_snappy(self):
        self.roundtrip('snappy')

    def test_lz4(self):
        self.roundtrip('lz4')

    def test_zstd(self):
        self.roundtrip('zstd')

    def test_old_protocol_versions(self):
        """librdkafka told the broker is older than 0.10
        (api.version.request=false, broker.version.fallback 0.9.0 or
        0.8.2: no ApiVersions, Produce v1/v0 with message sets of magic 0,
        Fetch v1/v0; from 0.10.0 on it asks ApiVersions and speaks the
        current protocol) produces, plain and compressed (lz4 with the
        frame header checksum of KAFKA-3160), and what it wrote comes back
        through it and through a current kcat, in order."""
        node = self.node().start()
        cases = [('0.9.0', c) for c in ('none', 'gzip', 'snappy', 'lz4')] + \
                [('0.8.2.2', 'gzip')]
        for fallback, codec in cases:
            topic = topic_name('kold-%s-%s' % (fallback.replace('.', ''), codec))
            create_topic(node, topic, 1)
            old = ['-X', 'api.version.request=false', '-X', 'broker.version.fallback=' + fallback,
                   '-d', 'protocol']
            want = [b'k%d:value-%d-%s' % (i, i, b'x' * (i % 40)) for i in range(2000)]
            r = run([KCAT, '-P', '-b', node.bootstrap, '-t', topic, '-p', '0', '-K', ':',
                     '-z', codec, '-X', 'linger.ms=5'] + old, timeout=120,
                    input_data=b'\n'.join(want) + b'\n', check=False)
            err = r.stderr.decode('utf-8', 'replace')
            if r.returncode != 0 or 'Delivery failed' in err:
                self.fail_with_log('kcat %s %s producer exited %d: %s'
                                   % (fallback, codec, r.returncode, err[-2000:]), node)
            self.assertRegex(err, r'Sent ProduceRequest \(v[01],', 'an old Produce version')
            # Stored as v2 batches with the producer's codec (Kafka keeps it).
            c = kproto.Conn('127.0.0.1', node.kafka_port)
            try:
                res = kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(
                    topic, 0, 0, max_wait_ms=0, partition_max_bytes=8 << 20)))
            finally:
                c.close()
            batches = kproto.batches_parse(res[(topic, 0)][2])
            self.assertTrue(batches and all(b['magic'] == 2 and b['crc_ok'] for b in batches))
            codecs = set(b['codec'] for b in batches)
            # librdkafka sends a set uncompressed when compressing does not
            # make it smaller.
            self.assertIn(CODECS[codec], codecs, '%s %s: stored codecs' % (fallback, codec))
            self.assertLessEqual(codecs, {0, CODECS[codec]})
            for how, extra in (('old', old), ('current', [])):
                r = run([KCAT, '-C', '-b', node.bootstrap, '-t', topic, '-p', '0', '-o',
                         'beginning', '-e', '-q', '-f', '%o %k:%s\\n'] + extra, timeout=120,
                        check=False)
                lines = r.stdout.split(b'\n')[:-1]
                self.assertEqual(r.returncode, 0, r.stderr[-2000:])
                self.assertEqual(lines, [b'%d %s' % (i, w) for i, w in enumerate(want)],
                                 '%s %s: read back by the %s protocol' % (fallback, codec, how))
                if how == 'old':
                    self.assertRegex(r.stderr.decode('utf-8', 'replace'),
                                     r'Sent FetchRequest \(v[01],', 'an old Fetch version')

if __name__ == '__main__':
    main()
