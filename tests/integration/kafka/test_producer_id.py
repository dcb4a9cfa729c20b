#!/usr/bin/python3
"""test_producer_id.py: InitProducerId for idempotent producers
(kafka-frontend/kfk_h_producer_id.c) as clients see it: raw requests
(kproto.py) and confluent-kafka (librdkafka 2.0.2).

Owned by the Kafka integration tests. Each case starts its own node.
  ProducerId.test_raw_versions: ApiVersions advertises InitProducerId
    0-4; one request of each version 0-4 (v2+ flexible; v3+ sending the
    id and epoch just given, as a producer bumping its epoch does) answers
    error 0, epoch 0 and a new id each time, strictly increasing.
  ProducerId.test_ids_cross_blocks: 2,500 calls (1,000 one at a time,
    then 1,500 pipelined over three connections, so requests queue while a
    block is allocated) give 2,500 distinct ids, each connection's in
    increasing order, spanning more than two blocks of 1,000.
  ProducerId.test_abandoned_requests: 1,500 requests pipelined on a
    fresh node (they wait for the first block) by a client that closes its
    connection at once; the node goes on (same frontend pid) and the next
    client gets ids.
  ProducerId.test_allocation_failure_is_retriable: with raftd stopped
    (SIGSTOP) and [kafka] request_timeout_ms = 1500, three pipelined
    requests on a fresh node are each answered COORDINATOR_LOAD_IN_PROGRESS
    (14, what clients retry) within the timeout, with one log line; once
    raftd runs again, ids are handed out.
  ProducerId.test_ids_never_reused_after_restart: ids handed out after a
    graceful restart, and again after kill -9 of the whole node, are all
    larger than every id handed out before.
  ProducerId.test_transactions_refused: InitProducerId with a
    transactional id (v1, v4) answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    (53) with no id; FindCoordinator v1-v3 for a transactional id answers
    53 and "transactions are not supported"; a confluent-kafka transactional
    producer's init_transactions() fails at once with a fatal error that
    says so; the node log says "transactions are not supported".
  ProducerId.test_confluent_idempotent_producer: Producer with
    enable.idempotence delivers 1,000 records (acks=all) without a delivery
    error, at consecutive offsets 0..999 of one partition.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kharness import (NodeTestCase, create_topic, kproto, main, pause_pids,  # noqa: E402
                      require_module)

ck = require_module('confluent_kafka')

TXN_UNSUPPORTED = 53  # TRANSACTIONAL_ID_AUTHORIZATION_FAILED
COORDINATOR_LOAD_IN_PROGRESS = 14
INVALID_REQUEST = 42
BLOCK = 1000          # KFK_PID_BLOCK_SIZE


def pipelined(node, version, n):
    """N InitProducerId requests sent at once on one connection, then read:
    [(error, producer_id, epoch)] in request order."""
    c = kproto.Conn(node.host, node.kafka_port, timeout=60)
    try:
        body = kproto.init_producer_id_body(version)
        frames = [kproto.request(kproto.INIT_PRODUCER_ID, version, i + 1, body)
                  for i in range(n)]
        c.send_raw(b''.join(frames))
        out = []
        for i in range(n):
            corr, data = c.recv_frame()
            if corr != i + 1:
                raise AssertionError('correlation id %d, expected %d' % (corr, i + 1))
            if version >= 2:
                r = kproto.R(data)
                r.skip_tags()
                data = data[r.p:]
            _, err, pid, epoch = kproto.parse_init_producer_id(data, version)
            out.append((err, pid, epoch))
        return out
    finally:
        c.close()


class ProducerId(NodeTestCase):

    def new_ids(self, node, n, version=4):
        c = kproto.Conn(node.host, node.kafka_port)
        try:
            got = [kproto.init_producer_id(c, version) for _ in range(n)]
        finally:
            c.close()
        for err, pid, epoch in got:
            self.assertEqual((err, epoch), (0, 0), got[:5])
            self.assertGreaterEqual(pid, 0)
        return [pid for _, pid, _ in got]

    def test_raw_versions(self):
        n = self.node().start()
        c = kproto.Conn(n.host, n.kafka_port)
        try:
            err, keys = kproto.parse_api_versions(c.call(kproto.API_VERSIONS, 0, b''))
            self.assertEqual(err, 0)
            self.assertEqual(keys.get(kproto.INIT_PRODUCER_ID), (0, 4))
            ids = []
            for v in range(5):
                last = ids[-1] if ids else -1
                # v3+: a producer asking again sends its id and epoch; an
                # idempotent producer gets a new id with epoch 0 anyway.
                err, pid, epoch = kproto.init_producer_id(
                    c, v, producer_id=last, producer_epoch=0 if last >= 0 else -1)
                self.assertEqual((err, epoch), (0, 0), 'version %d' % v)
                ids.append(pid)
        finally:
            c.close()
        self.assertGreaterEqual(ids[0], 0)
        self.assertEqual(ids, sorted(set(ids)), ids)

    def test_ids_cross_blocks(self):
        n = self.node().start()
        ids = self.new_ids(n, BLOCK)
        self.assertEqual(ids, sorted(set(ids)))
        results, errors = {}, []

        def one(k):
            try:
                results[k] = pipelined(n, (2, 3, 4)[k], 500)
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append('connection %d: %r' % (k, e))
        threads = [threading.Thread(target=one, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        for k in range(3):
            got = results[k]
            self.assertEqual(len(got), 500)
            for err, pid, epoch in got:
                self.assertEqual((err, epoch), (0, 0), got[:5])
            mine = [pid for _, pid, _ in got]
            self.assertEqual(mine, sorted(mine), 'connection %d out of order' % k)
            ids += mine
        self.assertEqual(len(ids), 2500)
        self.assertEqual(len(set(ids)), 2500, 'duplicate producer ids')
        self.assertGreater(max(ids) - min(ids), 2 * BLOCK)
        self.assertGreaterEqual(min(ids), 0)

    def test_abandoned_requests(self):
        n = self.node().start()
        front = n.child('kafka-frontend')['pid']
        for _ in range(3):
            c = kproto.Conn(n.host, n.kafka_port)
            body = kproto.init_producer_id_body(4)
            c.send_raw(b''.join(kproto.request(kproto.INIT_PRODUCER_ID, 4, i + 1, body)
                                for i in range(1500)))
            c.close()
        ids = self.new_ids(n, 5)
        self.assertEqual(ids, sorted(set(ids)))
        self.assertEqual(n.child('kafka-frontend')['pid'], front, 'the frontend restarted')

    def test_allocation_failure_is_retriable(self):
        """raftd stopped for 3 s: the requests wait and get ids once it is
        back. Stopped for 10 s: after the 5 s of tries they get the
        retriable COORDINATOR_LOAD_IN_PROGRESS, and ids again later."""
        n = self.node(config_extra='[kafka]\nrequest_timeout_ms = 1500\n').start()
        raftd = n.child('raftd')['pid']

        def paused(secs):
            pause = threading.Thread(target=pause_pids, args=([raftd], secs))
            pause.start()
            try:
                time.sleep(0.3)
                t0 = time.monotonic()
                got = pipelined(n, 4, 3)
                return got, time.monotonic() - t0
            finally:
                pause.join(30)
        got, took = paused(3)
        self.assertEqual([(e, ep) for e, _, ep in got], [(0, 0)] * 3, got)
        self.assertGreater(took, 2)
        # The rest of that block, so that the next request allocates.
        rest = pipelined(n, 4, BLOCK - 3)
        self.assertEqual({e for e, _, _ in rest}, {0})
        got, took = paused(10)
        self.assertEqual(got, [(COORDINATOR_LOAD_IN_PROGRESS, -1, -1)] * 3)
        self.assertLess(took, 9.5, 'answered after the tries, not when raftd came back')
        self.assertTrue(n.log_grep('producer id allocation failed'), n.log_tail())
        deadline = time.monotonic() + 60
        while True:
            c = kproto.Conn(n.host, n.kafka_port)
            try:
                err, pid, epoch = kproto.init_producer_id(c, 4)
            finally:
                c.close()
            if err == 0 or time.monotonic() > deadline:
                break
            self.assertEqual(err, COORDINATOR_LOAD_IN_PROGRESS)
            time.sleep(0.5)
        self.assertEqual((err, epoch), (0, 0))
        self.assertGreaterEqual(pid, 0)

    def test_ids_never_reused_after_restart(self):
        n = self.node().start()
        before = self.new_ids(n, 10)
        n.stop()
        n.start()
        after = self.new_ids(n, 10)
        self.assertGreater(min(after), max(before), (before, after))
        n.kill9_all()
        n.start()
        again = self.new_ids(n, 10)
        self.assertGreater(min(again), max(after), (after, again))
        ids = before + after + again
        self.assertEqual(len(set(ids)), len(ids))

    def test_transactions_refused(self):
        n = self.node().start()
        c = kproto.Conn(n.host, n.kafka_port)
        try:
            for v in (1, 4):
                self.assertEqual(kproto.init_producer_id(c, v, 'chronik-tx'),
                                 (TXN_UNSUPPORTED, -1, -1), 'version %d' % v)
                # An empty transactional id is a malformed request in Kafka.
                self.assertEqual(kproto.init_producer_id(c, v, ''),
                                 (INVALID_REQUEST, -1, -1), 'version %d, id ""' % v)
            for v in (1, 2, 3):
                err, msg, node, host, port = kproto.parse_find_coordinator(
                    c.call(kproto.FIND_COORDINATOR, v,
                           kproto.find_coordinator_body(v, 'chronik-tx', key_type=1),
                           flexible_response=v >= 3), v)
                self.assertEqual((err, msg, node, port),
                                 (TXN_UNSUPPORTED, 'transactions are not supported', -1, -1),
                                 'version %d' % v)
            # Idempotent requests on the same connection still work.
            err, pid, epoch = kproto.init_producer_id(c, 4)
            self.assertEqual((err, epoch), (0, 0))
        finally:
            c.close()
        p = ck.Producer({'bootstrap.servers': n.bootstrap, 'transactional.id': 'chronik-tx',
                         'log_level': 0})
        t0 = time.monotonic()
        with self.assertRaises(ck.KafkaException) as cm:
            p.init_transactions(30)
        took = time.monotonic() - t0
        e = cm.exception.args[0]
        self.assertTrue(e.fatal(), e.str())
        self.assertIn('transactions are not supported', e.str())
        self.assertLess(took, 15, 'init_transactions() retried instead of failing')
        self.assertTrue(n.log_grep('transactions are not supported'), n.log_tail())

    def test_confluent_idempotent_producer(self):
        n = self.node().start()
        topic = 'pid-idem'
        create_topic(n, topic, partitions=1)
        p = ck.Producer({'bootstrap.servers': n.bootstrap, 'enable.idempotence': True,
                         'acks': 'all', 'linger.ms': 5, 'log_level': 3})
        acked, errors = [], []

        def done(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                acked.append(msg.offset())
        for i in range(1000):
            while True:
                try:
                    p.produce(topic, value=b'idem-%d' % i, partition=0, on_delivery=done)
                    break
                except BufferError:
                    p.poll(0.1)
            p.poll(0)
        left = p.flush(60)
        self.assertEqual(left, 0, 'records still in flight after 60 s')
        self.assertEqual(errors, [])
        self.assertEqual(sorted(acked), list(range(1000)))


if __name__ == '__main__':
    main()
