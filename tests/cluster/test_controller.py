#!/usr/bin/python3
"""test_controller.py: the controller (the Raft leader's raftd) on a 3-node
cluster, as clients see its decisions in Metadata (suite cluster:
cluster_controller).

Owned by the cluster suite.
  - PausedController: the controller's raftd stopped (SIGSTOP) for longer
    than an election and a broker session, then resumed. The two others
    elect a new controller, which fences the stopped node's broker (its
    heartbeats stopped: the ISRs lose it). When the old controller runs
    again it must not fence the brokers whose heartbeats wait unread in its
    sockets: it did, stepped down, and its fence proposals were forwarded
    to the new leader and committed, so for about half a second every
    partition's ISR lost the live brokers too (acks=all writes with
    min.insync.replicas 2 refused). Every Metadata answer after the resume
    must keep both live brokers listed and in every ISR.
  - RecreatedTopic: a topic deleted and created again at once through
    the controller, its one replica on another node. That node had not
    always applied the deletion when the controller answered both: it
    still listed the old topic (ListOffsets answered its log end, Fetch its
    records) and took produces into the old log, acknowledged and then
    deleted with it (an exploratory helper, 3 of 8 runs). The controller
    answers a deletion once every live broker has applied it.
Not for: fencing of brokers that are really gone (test_cluster.c,
test_replication.py), metadata writes under faults (test_chaos.py).
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import (NodeTestCase, create_topic_retrying, kproto, main,  # noqa: E402
                      require_module, wait_for)

PARTS = 6


class PausedController(NodeTestCase):

    def setUp(self):
        super().setUp()
        require_module('confluent_kafka')

    def raft_leader(self, nodes):
        for n in nodes:
            st = n.status()
            if st and n.child('raftd', st).get('role') == 'leader':
                return n
        return None

    def test_resumed_controller_fences_nobody(self):
        from confluent_kafka.admin import AdminClient, NewTopic
        nodes = self.cluster('paused-ctl')
        admin = AdminClient({'bootstrap.servers': ','.join(n.bootstrap for n in nodes)})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        topic = 'pctl%d' % int(time.time() * 1000)
        create_topic_retrying(admin, NewTopic(topic, PARTS, 3))

        def view(node):
            """(live broker ids, {partition: ISR}) in NODE's Metadata, or
            None (no answer in time). Asked on a connection of its own: an
            AdminClient asks the broker it used last, which can be the
            stopped node's, whose metadata is stale by design."""
            try:
                c = kproto.Conn('127.0.0.1', node.kafka_port, timeout=5)
                try:
                    brokers, _, topics = kproto.parse_metadata(c.call(
                        kproto.METADATA, 1, kproto.metadata_body(1, [topic])), 1, isr=True)
                finally:
                    c.close()
            except Exception:
                return None
            return (sorted(b[0] for b in brokers),
                    {p: v[2] for p, v in topics[topic][1].items()})
        wait_for(lambda: view(nodes[0]) == ([1, 2, 3], {p: [1, 2, 3] for p in range(PARTS)}), 30,
                 'every partition with three replicas in its ISR')
        old = wait_for(lambda: self.raft_leader(nodes), 30, 'a Raft leader')
        others = [n for n in nodes if n is not old]
        live = sorted(n.node_id for n in others)
        watch = others[0]
        raftd = old.child('raftd')['pid']
        os.kill(raftd, signal.SIGSTOP)
        try:
            # A new controller, which fences the stopped node's broker:
            # the ISRs are the two live brokers.
            wait_for(lambda: view(watch) == (live, {p: live for p in range(PARTS)}), 40,
                     'the stopped node fenced by the new controller')
            # The stopped node's broker still answers Metadata at once,
            # from what it knows (a client bootstrapped there is not held).
            alone = AdminClient({'bootstrap.servers': old.bootstrap})
            t0 = time.monotonic()
            md = alone.list_topics(topic, timeout=10)
            self.assertLess(time.monotonic() - t0, 5)
            self.assertEqual(len(md.topics[topic].partitions), PARTS)
            time.sleep(2)  # its heartbeats pile up unread in the stopped raftd
        finally:
            os.kill(raftd, signal.SIGCONT)
        bad, samples, t_end = [], 0, time.monotonic() + 6
        while time.monotonic() < t_end:
            v = view(watch)
            if v is None:  # no answer is no wrong answer
                continue
            brokers, isrs = v
            samples += 1
            missing = [(p, isr) for p, isr in sorted(isrs.items())
                       if not set(live) <= set(isr)]
            if not set(live) <= set(brokers) or missing:
                bad.append((round(t_end - time.monotonic(), 2), brokers, missing))
            time.sleep(0.02)
        self.assertGreater(samples, 20)
        self.assertEqual(bad, [], 'live brokers fenced or out of ISRs after the resume '
                         '(seconds left, brokers, partitions): %r' % bad[:5])
        # The resumed node comes back into the ISRs.
        wait_for(lambda: view(watch) == ([1, 2, 3], {p: [1, 2, 3] for p in range(PARTS)}), 40,
                 'the resumed node back in every ISR')


class RecreatedTopic(NodeTestCase):

    def test_recreated_topic_starts_empty_everywhere(self):
        ck = require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic
        nodes = self.cluster('recreate')
        every = ','.join(n.bootstrap for n in nodes)
        wait_for(lambda: len(AdminClient({'bootstrap.servers': every})
                             .list_topics(timeout=5).brokers) == 3, 30, 'three brokers registered')
        ctl = wait_for(lambda: PausedController.raft_leader(self, nodes), 30, 'a Raft leader')
        host = [n for n in nodes if n is not ctl][0]
        admin = AdminClient({'bootstrap.servers': ctl.bootstrap})
        producer = ck.Producer({'bootstrap.servers': every, 'acks': 1, 'linger.ms': 0})
        self.addCleanup(producer.flush, 10)
        for rnd in range(6):
            topic = 'recreate%d-%d' % (int(time.time() * 1000), rnd)

            def create():
                admin.create_topics([NewTopic(topic, 1, replica_assignment=[[host.node_id]])]
                                    )[topic].result()
            create()
            for i in range(5):
                producer.produce(topic, b'old-%d' % i)
            self.assertEqual(producer.flush(30), 0, 'old records delivered')
            admin.delete_topics([topic])[topic].result()
            create()
            # The replica's node, asked right away: no topic yet, or the
            # new one, empty; never the old log.
            err, off = kproto.list_offset(host.ports['kafka'], topic, 0, -1)
            self.assertTrue(err != 0 or off == 0,
                            'round %d: the latest offset on node %d is %d right after '
                            'the topic was created again' % (rnd, host.node_id, off))
            acked = []
            for i in range(3):
                producer.produce(topic, b'new-%d' % i, on_delivery=lambda e, m: acked.append(
                    (e, m.offset(), m.value())))
            self.assertEqual(producer.flush(30), 0, 'new records delivered')
            self.assertEqual([(e, o) for e, o, _ in acked], [(None, 0), (None, 1), (None, 2)],
                             'round %d: the new records\' offsets' % rnd)
            c = ck.Consumer({'bootstrap.servers': every, 'group.id': 'rc-%s' % topic,
                             'enable.auto.commit': False})
            try:
                c.assign([ck.TopicPartition(topic, 0, 0)])
                got = []
                deadline = time.monotonic() + 15
                while len(got) < 3 and time.monotonic() < deadline:
                    m = c.poll(0.5)
                    if m is not None and not m.error():
                        got.append((m.offset(), m.value()))
            finally:
                c.close()
            self.assertEqual(got, [(o, v) for _, o, v in acked],
                             'round %d: the acknowledged records read back' % rnd)


if __name__ == '__main__':
    main()
