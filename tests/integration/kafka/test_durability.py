#!/usr/bin/python3
"""test_durability.py: acknowledged data and topics survive a restart of
the node, a kill -9 of every process of the node, and a kill -9 of
kafka-frontend while librdkafka (confluent-kafka) produces with retries.

Owned by the Kafka integration tests. The producers use acks=all; every
message carries its id, so the consumer can tell which acknowledged messages
came back. Duplicates are allowed only where a retry may resend a message
whose acknowledgement was lost in a crash. CHRONIK_KTEST_SCALE scales message
counts; CHRONIK_KTEST_ROUNDS repeats the crash rounds (soak variant).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kharness import (NodeTestCase, admin_client, create_topic, kproto,  # noqa: E402
                      list_topics_raw, main, scale, topic_name, wait_for, wait_topic)
import kclients  # noqa: E402

ROUNDS = int(os.environ.get('CHRONIK_KTEST_ROUNDS', '1'))


def end_offsets(node, topic, partitions):
    """{partition: latest offset} through raw ListOffsets v1."""
    c = kproto.Conn('127.0.0.1', node.kafka_port)
    out = {}
    try:
        for p in range(partitions):
            res = kproto.parse_list_offsets_v1(c.call(
                kproto.LIST_OFFSETS, 1, kproto.list_offsets_body(topic, p, -1)))
            err, _, off = res[(topic, p)]
            if err:
                raise AssertionError('ListOffsets %s-%d: error %d' % (topic, p, err))
            out[p] = off
    finally:
        c.close()
    return out


class Durability(NodeTestCase):

    def check_all_back(self, node, topic, partitions, acked, allow_dups):
        got = kclients.consume_all(node.bootstrap, topic, partitions, want=len(acked),
                                   timeout=600)
        missing = acked - got.ids
        self.assertEqual(len(missing), 0, '%d acknowledged messages lost (e.g. ids %s)'
                         % (len(missing), sorted(missing)[:10]))
        self.assertEqual(got.foreign, 0)
        if not allow_dups:
            self.assertEqual(got.duplicates, 0, 'duplicated messages')
        return got

    def test_sigterm_restart(self):
        node = self.node().start()
        a, b = topic_name('dur-a'), topic_name('dur-b')
        create_topic(node, a, 3)
        create_topic(node, b, 1, configs={'retention.ms': '86400000'})
        n = scale(50000)
        pa = kclients.produce(node.bootstrap, a, n)
        pb = kclients.produce(node.bootstrap, b, n // 10)
        self.assertEqual((len(pa.acked), pa.failed, len(pb.acked)), (n, 0, n // 10))
        before = end_offsets(node, a, 3)
        for _ in range(ROUNDS):
            self.assertEqual(node.stop(), 0, 'supervisor exit status after SIGTERM')
            node.start()
            topics = list_topics_raw(node)
            self.assertEqual((topics.get(a), topics.get(b)), (3, 1), 'topics after restart')
            self.assertEqual(end_offsets(node, a, 3), before, 'end offsets after restart')
        self.check_all_back(node, a, 3, pa.acked, allow_dups=False)
        self.check_all_back(node, b, 1, pb.acked, allow_dups=False)
        # The logs go on where they stopped.
        more = kclients.produce(node.bootstrap, a, 1000, start=n)
        self.assertEqual(len(more.acked), 1000)
        after = end_offsets(node, a, 3)
        self.assertEqual(sum(after.values()), n + 1000)
        self.assertTrue(all(after[p] >= before[p] for p in range(3)))
        got = self.check_all_back(node, a, 3, pa.acked | more.acked, allow_dups=False)
        for p, offs in got.by_partition.items():
            self.assertEqual(offs, list(range(len(offs))), 'offsets of partition %d' % p)

    def test_kill9_all_processes(self):
        node = self.node().start()
        topic = topic_name('k9')
        create_topic(node, topic, 3)
        acked = set()
        created = []
        next_id = 0
        for rnd in range(ROUNDS):
            per_round = scale(200000)
            bp = kclients.BackgroundProducer(node.bootstrap, topic, per_round, start=next_id)
            next_id += per_round
            try:
                wait_for(lambda: bp.acked() >= min(20000, per_round // 4) or bp.exc, 300,
                         'acknowledged messages before the kill')
                extra = topic_name('k9-new%d' % rnd)
                create_topic(node, extra, 2)
                created.append(extra)
                node.kill9_all()
                bp.stop.set()
                time.sleep(0.5)
                node.start()
            finally:
                bp.stop.set()
                res = bp.join()
            acked |= res.acked
            topics = list_topics_raw(node)
            for t in [topic] + created:
                self.assertIn(t, topics, 'acknowledged topic %s gone after kill -9' % t)
            self.assertEqual(topics[topic], 3)
            self.assertTrue(all(topics[t] == 2 for t in created))
        self.assertGreater(len(acked), 0)
        self.check_all_back(node, topic, 3, acked, allow_dups=True)

    def test_kill9_frontend_while_producing(self):
        node = self.node().start()
        topic = topic_name('fe')
        create_topic(node, topic, 4)
        n = scale(200000)
        bp = kclients.BackgroundProducer(node.bootstrap, topic, n, pace=0.01)
        try:
            for rnd in range(ROUNDS):
                st = node.status()
                fe = node.child('kafka-frontend', st)
                want = (rnd + 1) * n // (ROUNDS + 2)
                wait_for(lambda: bp.acked() >= want or bp.exc or not bp.thread.is_alive(),
                         300, 'acknowledged messages before the kill')
                self.assertTrue(bp.thread.is_alive(), 'the producer finished before the kill; '
                                'raise the count')
                os.kill(fe['pid'], 9)

                def restarted():
                    c = node.child('kafka-frontend')
                    return (c['pid'] not in (0, fe['pid']) and c['state'] == 'ready'
                            and c['restarts'] == fe['restarts'] + 1) and c
                wait_for(restarted, 60, 'kafka-frontend restarted by the supervisor')
        finally:
            res = bp.join()
        self.assertEqual(res.errors, [], 'producer errors')
        self.assertEqual(res.failed, 0, 'messages failed delivery: %s' % res.errors)
        self.assertEqual(len(res.acked), n, 'the producer did not finish every message')
        others = [c for c in node.status()['children'] if c['name'] != 'kafka-frontend']
        self.assertEqual([c['restarts'] for c in others], [0, 0, 0],
                         'other children restarted: %s' % others)
        self.check_all_back(node, topic, 4, res.acked, allow_dups=True)

    def kill_child_while_producing(self, child):
        """kill -9 CHILD mid-stream: the supervisor restarts it alone, the
        producer (librdkafka, retrying) finishes with nothing failed, and
        every acknowledged message is consumed."""
        node = self.node().start()
        topic = topic_name('k-' + child)
        create_topic(node, topic, 2)
        n = scale(100000)
        bp = kclients.BackgroundProducer(node.bootstrap, topic, n, pace=0.02)
        try:
            before = node.child(child)
            wait_for(lambda: bp.acked() >= n // 3 or bp.exc or not bp.thread.is_alive(), 300,
                     'acknowledged messages before the kill')
            self.assertTrue(bp.thread.is_alive(), 'the producer finished before the kill')
            os.kill(before['pid'], 9)

            def restarted():
                c = node.child(child)
                return (c['pid'] not in (0, before['pid']) and c['state'] == 'ready'
                        and c['restarts'] == before['restarts'] + 1)
            wait_for(restarted, 60, '%s restarted by the supervisor' % child)
        finally:
            res = bp.join()
        self.assertEqual((res.failed, res.errors), (0, []), 'producer failures')
        self.assertEqual(len(res.acked), n, 'the producer did not finish every message')
        others = {c['name']: c['restarts'] for c in node.status()['children']
                  if c['name'] != child}
        self.assertEqual(set(others.values()), {0}, 'other children restarted: %s' % others)
        self.check_all_back(node, topic, 2, res.acked, allow_dups=True)
        # Metadata still works after the restart.
        extra = topic_name('after-' + child)
        create_topic(node, extra, 1)

    def test_kill9_walwriter_while_producing(self):
        self.kill_child_while_producing('walwriter')

    def test_kill9_raftd_while_producing(self):
        self.kill_child_while_producing('raftd')

    def test_kill9_replicator_while_producing(self):
        self.kill_child_while_producing('replicator')

    def test_topics_survive_restart(self):
        """Metadata only: many topics, partitions grown and configs altered
        before a restart come back identical."""
        from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
        node = self.node().start()
        prefix = topic_name('meta')
        names = {'%s-%02d' % (prefix, i): 1 + i % 3 for i in range(20)}
        admin = admin_client(node)
        try:
            admin.create_topics([NewTopic(k, v, 1) for k, v in names.items()], timeout_ms=60000)
            grown = sorted(names)[0]
            admin.create_partitions({grown: NewPartitions(5)}, timeout_ms=30000)
            names[grown] = 5
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, grown,
                                                configs={'retention.ms': '123456789'})])
            gone = sorted(names)[1]
            admin.delete_topics([gone], timeout_ms=30000)
            del names[gone]
        finally:
            admin.close()
        wait_topic(node, grown, 5)
        node.kill9_all()
        node.start()
        topics = list_topics_raw(node)
        self.assertEqual({k: topics.get(k) for k in names}, names)
        self.assertNotIn(gone, topics, 'a deleted topic came back')
        admin = admin_client(node)
        try:
            resp = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, grown,
                                                          configs={'retention.ms': None})])
        finally:
            admin.close()
        vals = {e[0]: e[1] for r in resp for res in r.resources for e in res[4]}
        self.assertEqual(vals.get('retention.ms'), '123456789')


if __name__ == '__main__':
    main()
