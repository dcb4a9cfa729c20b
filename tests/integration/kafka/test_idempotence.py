#!/usr/bin/python3
"""test_idempotence.py: idempotent producers (producer id, epoch and
sequence numbers in the record batch) against one node.

Owned by the Kafka integration tests. Raw Produce requests (kproto) carry
batches of a made-up producer id: the same batch sent again is answered
with the offsets it already has and is not written twice (acks 1 and all),
also after a clean restart and after a kill -9 of every process of the node
(the state is rebuilt from the log); a batch that skips sequences gets
OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch INVALID_PRODUCER_EPOCH, a newer
epoch must start at sequence 0, and a producer's batch must come alone in
its partition's record set (INVALID_RECORD). A confluent-kafka producer with
enable.idempotence=true delivers every message exactly once and in order.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kharness import (NodeTestCase, create_topic, kproto, main,  # noqa: E402
                      require_module, topic_name, wait_for)

OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
INVALID_RECORD = 87


class Idempotence(NodeTestCase):

    def setUp(self):
        super().setUp()
        self.n = self.node().start()
        self.topic = topic_name('idem')
        create_topic(self.n, self.topic, 1)
        self.pid = random.randrange(1 << 40, 1 << 41)

    def produce(self, batches, acks=-1, version=7, conn=None):
        """(error, base offset) of one raw Produce of BATCHES (one record
        set) to partition 0."""
        c = conn or kproto.Conn('127.0.0.1', self.n.kafka_port)
        try:
            body = kproto.produce_body(version, acks, 10000, [(0, b''.join(batches))],
                                       topic=self.topic)
            return kproto.parse_produce(c.call(kproto.PRODUCE, version, body),
                                        version)[(self.topic, 0)]
        finally:
            if conn is None:
                c.close()

    def batch(self, seq, n, epoch=0, pid=None, tag=b'v'):
        return kproto.record_batch(
            [(None, b'%s-%d' % (tag, seq + i), []) for i in range(n)],
            producer_id=self.pid if pid is None else pid, producer_epoch=epoch,
            base_sequence=seq)

    def values(self):
        """Every record value of partition 0, in offset order."""
        c = kproto.Conn('127.0.0.1', self.n.kafka_port)
        out, off = [], 0
        try:
            while True:
                res = kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(
                    self.topic, 0, off, max_wait_ms=0)))
                err, hw, data = res[(self.topic, 0)]
                self.assertEqual(err, 0)
                got = [r for b in kproto.batches_parse(data) for r in b['records']]
                got = [r for r in got if r[0] >= off]
                if not got:
                    return out
                out += [r[2] for r in got]
                off = got[-1][0] + 1
        finally:
            c.close()

    def test_duplicate_answered_with_its_offsets(self):
        b0, b1 = self.batch(0, 3), self.batch(3, 2)
        self.assertEqual(self.produce([b0]), (0, 0))
        self.assertEqual(self.produce([b0]), (0, 0), 'a resent batch')
        self.assertEqual(self.produce([b1], acks=1), (0, 3))
        self.assertEqual(self.produce([b1], acks=1), (0, 3))
        self.assertEqual(self.produce([b0], acks=1), (0, 0), 'an older kept batch')
        # Another producer in between is independent of this one.
        other = self.batch(0, 1, pid=self.pid + 1, tag=b'o')
        self.assertEqual(self.produce([other]), (0, 5))
        self.assertEqual(self.produce([self.batch(5, 1)]), (0, 6))
        self.assertEqual(self.values(),
                         [b'v-0', b'v-1', b'v-2', b'v-3', b'v-4', b'o-0', b'v-5'])

    def test_sequence_and_epoch_errors(self):
        self.assertEqual(self.produce([self.batch(0, 2, epoch=3)]), (0, 0))
        err, _ = self.produce([self.batch(5, 1, epoch=3)])
        self.assertEqual(err, OUT_OF_ORDER_SEQUENCE_NUMBER, 'a gap of sequences')
        err, _ = self.produce([self.batch(1, 1, epoch=3)])
        self.assertEqual(err, OUT_OF_ORDER_SEQUENCE_NUMBER, 'an overlap that is no duplicate')
        err, _ = self.produce([self.batch(2, 1, epoch=2)])
        self.assertEqual(err, INVALID_PRODUCER_EPOCH, 'an older epoch')
        err, _ = self.produce([self.batch(2, 1, epoch=4)])
        self.assertEqual(err, OUT_OF_ORDER_SEQUENCE_NUMBER, 'a new epoch not at 0')
        self.assertEqual(self.produce([self.batch(0, 1, epoch=4)]), (0, 2))
        err, _ = self.produce([self.batch(1, 1, epoch=3)])
        self.assertEqual(err, INVALID_PRODUCER_EPOCH, 'the fenced epoch')
        # Two batches in one record set: refused whole.
        err, _ = self.produce([self.batch(1, 1, epoch=4), self.batch(2, 1, epoch=4)])
        self.assertEqual(err, INVALID_RECORD)
        # Batches without a producer id are untouched by all this (two in
        # one record set are refused too: Produce v3+ carries one).
        plain = kproto.record_batch([(None, b'plain', [])])
        self.assertEqual(self.produce([plain, plain])[0], INVALID_RECORD)
        self.assertEqual(self.produce([plain]), (0, 3))
        self.assertEqual(self.values(), [b'v-0', b'v-1', b'v-0', b'plain'])
        # The refusals are in the broker's log with the producer's state.
        self.assertTrue(self.n.log_grep('producer batch refused'))

    def test_state_survives_restart_and_kill(self):
        self.assertEqual(self.produce([self.batch(0, 4)]), (0, 0))
        self.assertEqual(self.produce([self.batch(4, 4)]), (0, 4))
        self.n.stop()
        self.n.start()
        wait_for(lambda: self.produce([self.batch(4, 4)]) == (0, 4), 30,
                 'the last batch recognised after a restart')
        self.assertEqual(self.produce([self.batch(8, 1)]), (0, 8))
        self.n.kill9_all()
        self.n.start()
        wait_for(lambda: self.produce([self.batch(8, 1)]) == (0, 8), 30,
                 'the last batch recognised after kill -9')
        err, _ = self.produce([self.batch(10, 1)])
        self.assertEqual(err, OUT_OF_ORDER_SEQUENCE_NUMBER)
        self.assertEqual(self.produce([self.batch(9, 1)]), (0, 9))
        self.assertEqual(self.values(), [b'v-%d' % i for i in range(10)])

    def filler(self, mib):
        """MIB MiB of plain batches (about 1 MiB each) to partition 0."""
        rec = [(None, os.urandom(100000), []) for _ in range(10)]
        for _ in range(mib):
            err, _ = self.produce([kproto.record_batch(rec)], acks=1)
            self.assertEqual(err, 0)

    def test_state_from_the_log_tail(self):
        """Start-up reads the producers' state from the last 32 MiB of a
        log only (its cost does not grow with the data): a producer that
        wrote 20 MiB before a restart is still recognised, one whose last
        batch is 65 MiB back is not (its old batch, sent again, is
        appended again). Segments of 8 MiB, so the tail starts inside an
        older segment, found through its index."""
        self.n.stop()
        self.n = self.node(config_extra='[wal]\nsegment_bytes = 8388608\n').start()
        create_topic(self.n, self.topic, 1)
        old = self.batch(0, 1, pid=self.pid + 7, tag=b'old')
        self.assertEqual(self.produce([old]), (0, 0))
        self.filler(45)
        err, at = self.produce([self.batch(0, 2)])
        self.assertEqual(err, 0)
        self.filler(20)
        self.n.stop()
        self.n.start()
        wait_for(lambda: self.produce([self.batch(0, 2)]) == (0, at), 30,
                 'the recent batch recognised after a restart')
        self.assertTrue(self.n.log_grep('producers=1'), 'one producer rebuilt')
        err, again = self.produce([old])
        self.assertEqual(err, 0)
        self.assertGreater(again, at, 'the forgotten producer\'s batch is a new one')
        segs = [f for f in os.listdir(os.path.join(self.n.data, 'log', '%s-0' % self.topic))
                if f.endswith('.log')]
        self.assertGreaterEqual(len(segs), 8, segs)

    def test_confluent_idempotent_producer(self):
        ck = require_module('confluent_kafka')
        topic = topic_name('idemck')
        create_topic(self.n, topic, 3)
        p = ck.Producer({'bootstrap.servers': self.n.bootstrap, 'enable.idempotence': True,
                         'linger.ms': 2, 'message.timeout.ms': 30000})
        failed = []
        total = 3000
        for i in range(total):
            p.produce(topic, b'%d' % i, partition=i % 3,
                      on_delivery=lambda e, m: e and failed.append(str(e)))
            if i % 200 == 0:
                p.poll(0)
        self.assertEqual(p.flush(30), 0)
        self.assertEqual(failed, [])
        c = ck.Consumer({'bootstrap.servers': self.n.bootstrap, 'group.id': 'idem',
                         'enable.auto.commit': False, 'auto.offset.reset': 'earliest'})
        got = {0: [], 1: [], 2: []}
        try:
            c.assign([ck.TopicPartition(topic, q, 0) for q in range(3)])
            wait_for(lambda: self._poll_into(c, got) >= total, 30, 'every message consumed')
        finally:
            c.close()
        for q in range(3):
            self.assertEqual(got[q], [i for i in range(total) if i % 3 == q],
                             'partition %d: every message once, in order' % q)

    @staticmethod
    def _poll_into(c, got):
        for m in c.consume(500, 0.5):
            if not m.error():
                got[m.partition()].append(int(m.value()))
        return sum(len(v) for v in got.values())


if __name__ == '__main__':
    main()
