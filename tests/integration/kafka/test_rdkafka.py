#!/usr/bin/python3
"""test_rdkafka.py: 1,000,000 small messages with acks=all through
confluent-kafka (Python) and through librdkafka's C API (rdk_e2e), all
consumed back: count and checksum equal, no id missing or duplicated, offsets
contiguous per partition. And librdkafka's C Admin API (rdk_admin) through
what an operator's tool does with a topic and a consumer group.

Owned by the Kafka integration tests. CHRONIK_KTEST_SCALE scales the count;
the C programs' paths come from CHRONIK_RDK_E2E and CHRONIK_RDK_ADMIN (set by
meson).
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kharness import NodeTestCase, built, create_topic, main, scale, topic_name  # noqa: E402
import kclients  # noqa: E402

PARTITIONS = 4


class Million(NodeTestCase):

    def test_confluent_python_acks_all(self):
        node = self.node().start()
        topic = topic_name('cfk')
        create_topic(node, topic, PARTITIONS)
        n = scale(1000000)
        prod = kclients.produce(node.bootstrap, topic, n, acks='all', timeout=900)
        self.assertEqual(prod.errors, [], 'producer errors')
        self.assertEqual((len(prod.acked), prod.failed), (n, 0),
                         'acknowledged %d of %d, %d failed' % (len(prod.acked), n, prod.failed))
        got = kclients.consume_all(node.bootstrap, topic, PARTITIONS, want=n, timeout=900)
        self.assertEqual((got.count, got.duplicates, got.foreign), (n, 0, 0),
                         'consumed %d distinct, %d duplicates, %d foreign'
                         % (got.count, got.duplicates, got.foreign))
        self.assertEqual(got.checksum, prod.checksum, 'checksum of consumed values')
        self.assertEqual(got.ids, prod.acked)
        for p, offs in got.by_partition.items():
            self.assertEqual(offs, list(range(len(offs))),
                             'partition %d offsets are not 0..n-1 in order' % p)
        self.assertEqual(sum(len(o) for o in got.by_partition.values()), n)

    def test_librdkafka_c_acks_all(self):
        exe = built('CHRONIK_RDK_E2E', 'tests/integration/kafka/rdk_e2e')
        if not exe:
            raise unittest.SkipTest('rdk_e2e not built (librdkafka-dev missing)')
        node = self.node().start()
        topic = topic_name('rdkc')
        n = scale(1000000)
        p = subprocess.run([exe, '--brokers', node.bootstrap, '--topic', topic, '--create',
                            str(PARTITIONS), '--count', str(n), '--acks', 'all',
                            '--timeout', '900'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=1900)
        out = p.stdout.decode('utf-8', 'replace')
        sys.stderr.write(out)
        if p.returncode != 0:
            self.fail_with_log('rdk_e2e exited %d\n%s\n%s' % (
                p.returncode, out, p.stderr.decode('utf-8', 'replace')[-3000:]), node)
        self.assertIn('result acked=%d consumed=%d missing=0' % (n, n), out)


class RdkafkaAdmin(NodeTestCase):

    def test_librdkafka_c_admin_api(self):
        """Groups listed and described (Stable with member and assignment,
        then Empty), committed offsets listed, altered (refused while the
        group has a member) and deleted, records deleted, watermarks,
        offsets for times, configs, partitions added, ACL calls refused
        (no authorizer), group and topic deleted: each step as rdk_admin
        prints it."""
        exe = built('CHRONIK_RDK_ADMIN', 'tests/integration/kafka/rdk_admin')
        if not exe:
            raise unittest.SkipTest('rdk_admin not built (librdkafka-dev missing)')
        node = self.node().start()
        p = subprocess.run([exe, node.bootstrap, topic_name('rdkadm')],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
        out = p.stdout.decode('utf-8', 'replace')
        sys.stderr.write(out)
        failed = [l for l in out.splitlines() if l.startswith('FAIL')]
        if p.returncode != 0 or failed:
            self.fail_with_log('rdk_admin exited %d\n%s\n%s' % (
                p.returncode, out, p.stderr.decode('utf-8', 'replace')[-3000:]), node)
        self.assertEqual(len([l for l in out.splitlines() if l.startswith('ok ')]), 26, out)
        self.assertIn('result failed=0', out)


if __name__ == '__main__':
    main()
