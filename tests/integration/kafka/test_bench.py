#!/usr/bin/python3
"""test_bench.py: a short smoke run of chronik-bench (bench/chronik-bench.c)
against a chronik node: produce by count and by duration, consume, and the
numbers it prints are present and consistent.

Owned by the Kafka integration tests; the binary's path comes from
CHRONIK_BENCH (set by meson).
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kharness import (SANITIZE, NodeTestCase, built, main, proc_kib,  # noqa: E402
                      topic_name)


def bench():
    exe = built('CHRONIK_BENCH', 'bench/chronik-bench')
    if not exe:
        raise unittest.SkipTest('chronik-bench not built (librdkafka-dev missing)')
    return exe


def run_bench(args, timeout=300):
    p = subprocess.run([bench()] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    out = p.stdout.decode('utf-8', 'replace')
    result = {}
    for line in out.splitlines():
        if line.startswith('result '):
            for kv in line.split()[1:]:
                k, _, v = kv.partition('=')
                result[k] = v
    return p.returncode, out, p.stderr.decode('utf-8', 'replace'), result


class BenchSmoke(NodeTestCase):

    def check_numbers(self, res, msgs=None):
        self.assertIn('msgs', res)
        if msgs is not None:
            self.assertEqual(int(res['msgs']), msgs)
        self.assertEqual(int(res['failed']), 0)
        self.assertGreater(float(res['msg_per_s']), 0)
        self.assertGreater(float(res['mb_per_s']), 0)
        q = [float(res[k]) for k in ('p50_ms', 'p95_ms', 'p99_ms', 'p999_ms', 'max_ms')]
        self.assertEqual(q, sorted(q), 'percentiles out of order: %s' % q)

    def setUp(self):
        super().setUp()
        bench()

    def test_produce_then_consume(self):
        node = self.node().start()
        topic = topic_name('bench')
        rc, out, err, res = run_bench(['produce', '--brokers', node.bootstrap, '--topic', topic,
                                       '--partitions', '2', '--count', '20000', '--size', '100',
                                       '--acks', 'all', '--linger-ms', '5'])
        self.assertEqual(rc, 0, 'produce exited %d\n%s\n%s' % (rc, out, err[-3000:]))
        self.assertIn('latency ms: p50', out)
        self.check_numbers(res, 20000)
        self.assertEqual(int(res['bytes']), 20000 * 100)
        self.assertGreater(float(res['p50_ms']), 0, 'acks=all latency cannot be 0')
        rc, out, err, res = run_bench(['consume', '--brokers', node.bootstrap, '--topic', topic,
                                       '--count', '20000'])
        self.assertEqual(rc, 0, 'consume exited %d\n%s\n%s' % (rc, out, err[-3000:]))
        self.check_numbers(res, 20000)
        self.assertEqual(int(res['bytes']), 20000 * 100)
        # Without a count it reads to the end of every partition and stops.
        rc, out, err, res = run_bench(['consume', '--brokers', node.bootstrap, '--topic', topic])
        self.assertEqual((rc, int(res.get('msgs', -1))), (0, 20000), out + err[-2000:])

    def test_produce_duration_options(self):
        node = self.node().start()
        topic = topic_name('benchd')
        rc, out, err, res = run_bench(['produce', '--brokers', node.bootstrap, '--topic', topic,
                                       '--partitions', '1', '--duration', '2', '--size', '1000',
                                       '--acks', '1', '--compression', 'lz4', '--batch-size',
                                       '65536', '--inflight', '5', '--report-ms', '500'])
        self.assertEqual(rc, 0, 'produce exited %d\n%s\n%s' % (rc, out, err[-3000:]))
        self.check_numbers(res)
        self.assertGreater(int(res['msgs']), 0)
        self.assertIn('records delivered', err, 'no progress lines on stderr')

    def test_produce_idempotent(self):
        node = self.node().start()
        topic = topic_name('benchi')
        rc, out, err, res = run_bench(['produce', '--brokers', node.bootstrap, '--topic', topic,
                                       '--partitions', '2', '--count', '5000', '--idempotence'])
        self.assertEqual(rc, 0, 'produce exited %d\n%s\n%s' % (rc, out, err[-3000:]))
        self.assertIn('idempotence', out)
        self.check_numbers(res, 5000)
        # Read back exactly once.
        rc, out, err, res = run_bench(['consume', '--brokers', node.bootstrap, '--topic', topic])
        self.assertEqual((rc, int(res.get('msgs', -1))), (0, 5000), out + err[-2000:])

    def test_produce_at_a_rate(self):
        # --rate paces the sends: message i is due at start + i/rate, never
        # earlier, so a run of D seconds sends at most rate * D (+1, the
        # warm-up before the clock starts); a broker this light a load
        # cannot hold back keeps it close to that.
        node = self.node().start()
        topic = topic_name('benchr')
        rc, out, err, res = run_bench(['produce', '--brokers', node.bootstrap, '--topic', topic,
                                       '--partitions', '1', '--duration', '3', '--rate', '2000',
                                       '--acks', 'all'])
        self.assertEqual(rc, 0, 'produce exited %d\n%s\n%s' % (rc, out, err[-3000:]))
        self.assertIn('rate=2000', out)
        self.check_numbers(res)
        self.assertLessEqual(int(res['msgs']), 2000 * 3 + 1, out)
        self.assertGreaterEqual(int(res['msgs']), 2000 * 3 // 2, out)
        self.assertLess(float(res['msg_per_s']), 2000 * 1.05, out)
        # All of them arrive, once.
        rc, out, err, got = run_bench(['consume', '--brokers', node.bootstrap, '--topic', topic])
        self.assertEqual((rc, got.get('msgs')), (0, res['msgs']), out + err[-2000:])

    def test_frontend_gives_memory_back(self):
        # After a full-speed produce and consume, kafka-frontend's freed heap
        # goes back to the kernel once it is quiet (malloc_trim at its
        # periodic sweep, every second with idle_timeout_ms 4000): its RSS
        # returns near where it started instead of staying at the load's
        # level (about 14-30 MiB above it before).
        if SANITIZE:
            self.skipTest('the sanitizer owns the heap (no malloc_trim, a quarantine)')
        node = self.node(config_extra='[kafka]\nidle_timeout_ms = 4000\n').start()
        fe = node.child('kafka-frontend')['pid']
        base = proc_kib(fe, 'VmRSS')
        topic = topic_name('benchm')
        rc, out, err, res = run_bench(['produce', '--brokers', node.bootstrap, '--topic', topic,
                                       '--partitions', '1', '--duration', '3', '--acks', '1'])
        self.assertEqual(rc, 0, 'produce exited %d\n%s\n%s' % (rc, out, err[-3000:]))
        rc, out, err, got = run_bench(['consume', '--brokers', node.bootstrap, '--topic', topic])
        self.assertEqual((rc, got.get('msgs')), (0, res['msgs']), out + err[-2000:])
        peak = proc_kib(fe, 'VmHWM')
        deadline = time.time() + 10
        rss = proc_kib(fe, 'VmRSS')
        while rss > base + (6 << 10) and time.time() < deadline:
            time.sleep(0.5)
            rss = proc_kib(fe, 'VmRSS')
        self.assertGreater(peak, base + (8 << 10), 'the load did not grow the heap')
        self.assertLessEqual(rss, base + (6 << 10),
                             'kafka-frontend kept %d MiB after the load (started at %d, '
                             'peak %d)' % (rss >> 10, base >> 10, peak >> 10))

    def test_bad_usage(self):
        for args in ([], ['produce'], ['produce', '--topic', 't'], ['frobnicate'],
                     ['produce', '--brokers', 'x:1', '--topic', 't', '--acks', '2'],
                     ['produce', '--brokers', 'x:1', '--topic', 't', '--count', '5',
                      '--duration', '1'],
                     ['produce', '--brokers', 'x:1', '--topic', 't', '--rate', 'fast'],
                     ['consume', '--brokers', 'x:1', '--topic', 't', '--rate', '10']):
            rc, out, err, _ = run_bench(args, timeout=30)
            self.assertEqual(rc, 2, 'chronik-bench %s exited %d' % (' '.join(args), rc))
            self.assertIn('usage:', err)


if __name__ == '__main__':
    main()
