#!/usr/bin/python3
"""Partition data replicated between three nodes (suite cluster).

Three chronik nodes; a topic of 3 partitions with replication factor 3.

Failover: a confluent-kafka producer with acks=all writes numbered messages
while the test kill -9s the whole node leading partition 0. Every message
the producer was told is written must then be read back by a consumer (the
surviving nodes lead every partition); after the killed node restarts, the
three nodes' logs of every partition hold the same batches (the restarted
one fetched what it missed and dropped what it had that was never
committed), checked on the segment files themselves. The same with an
idempotent producer (enable.idempotence): no message is written twice by the
retries that follow a SIGTERM or a kill -9 of the leader's node, and each
partition keeps the produced order; and a raw resend of an idempotent batch
to the next leader is recognised. A Metadata request pipelined behind an
acks=all Produce that a stopped follower holds back is answered as the
cluster is once the Produce is (not as it was when both arrived).
An old leader's diverged tail is truncated when it returns; before that,
OffsetForLeaderEpoch on the new leader ends the old epoch where the new one
begins (what a KIP-320 consumer compares with its position).

Hostile Kafka requests (every API and version from kafka.schema) to each
node, and strangers on the replication port: each answered or closed, no
subsystem restarts.

Consumers: messages produced with acks=1 and acks=all to the leader are
visible to a consumer at once (the high watermark moves as the followers
fetch), and every node's log holds them.

Stale logs (StaleLogs): a node away while topics are deleted (one created
again without it) and the metadata log is compacted past the deletions
comes back by a snapshot and deletes its logs of them.
"""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import (NodeTestCase, create_topic_retrying, kproto, main,  # noqa: E402
                      require_module, wait_for)
from test_bad_input import SchemaRequests  # noqa: E402


def log_batches(data_dir, topic, partition):
    """[(base offset, leader epoch, crc)] of every batch in the partition's
    segment files, in order, up to the first empty header."""
    d = os.path.join(data_dir, 'log', '%s-%d' % (topic, partition))
    out = []
    try:
        names = sorted(f for f in os.listdir(d) if f.endswith('.log'))
    except FileNotFoundError:
        return out
    for name in names:
        with open(os.path.join(d, name), 'rb') as f:
            buf = f.read()
        pos = 0
        while pos + 21 <= len(buf):
            base, length, epoch, magic, crc = struct.unpack_from('>qiibI', buf, pos)
            if length <= 0 or magic != 2 or pos + 12 + length > len(buf):
                break
            out.append((base, epoch, crc))
            pos += 12 + length
    return out


class Replication(SchemaRequests, NodeTestCase):

    def setUp(self):
        super().setUp()
        self.ck = require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic
        # The default 30 s, but 2 s where a follower's leaving the ISR is the
        # point (elsewhere a short limit could take the followers out of the
        # ISR of a leader about to die, leaving the partition without one).
        lag = 2000 if self._testMethodName in ('test_stopped_follower_leaves_isr',
                                               'test_follower_below_log_start',
                                               'test_metadata_answered_in_turn',
                                               'test_isr_shrinks_below_min_after_append') \
            else 30000
        self.nodes3 = self.cluster('repl', '[replication]\nreplica_lag_time_max_ms = %d\n' % lag)
        self.admin = AdminClient({'bootstrap.servers': self.nodes3[0].bootstrap})
        wait_for(lambda: len(self.admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        self.topic = 'rep%d' % int(time.time() * 1000)
        create_topic_retrying(self.admin, NewTopic(self.topic, 3, 3))

    def bootstrap(self, nodes):
        return ','.join(n.bootstrap for n in nodes)

    def partitions(self, nodes):
        md = self.ck.admin.AdminClient({'bootstrap.servers': self.bootstrap(nodes)}) \
            .list_topics(self.topic, timeout=10)
        return md.topics[self.topic].partitions

    def leaders(self, nodes):
        return {p.id: p.leader for p in self.partitions(nodes).values()}

    def consume_all(self, nodes, expect, timeout=60):
        """Values read from every partition's start until EXPECT are all
        there (or TIMEOUT)."""
        c = self.ck.Consumer({'bootstrap.servers': self.bootstrap(nodes), 'group.id': 'g',
                              'enable.auto.commit': False, 'auto.offset.reset': 'earliest'})
        try:
            c.assign([self.ck.TopicPartition(self.topic, p, 0) for p in range(3)])
            got = set()
            deadline = time.monotonic() + timeout
            while not expect <= got and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    got.add(m.value())
            return got
        finally:
            c.close()

    def same_logs(self, nodes, parts=(0, 1, 2)):
        for p in parts:
            logs = [log_batches(n.data, self.topic, p) for n in nodes]
            if not logs[0] or any(lg != logs[0] for lg in logs[1:]):
                return False
        return True

    def test_consumers_see_acked_writes(self):
        nodes = self.nodes3
        for acks in ('1', 'all'):
            prod = self.ck.Producer({'bootstrap.servers': self.bootstrap(nodes), 'acks': acks,
                                     'message.timeout.ms': 20000, 'linger.ms': 5})
            failed = []
            for i in range(300):
                prod.produce(self.topic, b'%s-%d' % (acks.encode(), i), partition=i % 3,
                             on_delivery=lambda e, m: e and failed.append(e))
            self.assertEqual(prod.flush(30), 0, 'acks=%s: messages left' % acks)
            self.assertEqual(failed, [], 'acks=%s' % acks)
        expect = {b'%s-%d' % (a, i) for a in (b'1', b'all') for i in range(300)}
        got = self.consume_all(nodes, expect, timeout=20)
        self.assertEqual(len(expect - got), 0, 'not consumed: %d' % len(expect - got))
        wait_for(lambda: self.same_logs(nodes), 20, 'the three logs of each partition alike')

    def producing(self, nodes, prefix, extra=None):
        """A thread producing numbered messages with acks=all (retrying for
        a minute) until the returned event is set: (acked values, errors,
        stop event, thread). EXTRA: more producer settings."""
        acked, errors = set(), []
        stop = threading.Event()

        def produce():
            conf = {'bootstrap.servers': self.bootstrap(nodes), 'acks': 'all',
                    'message.timeout.ms': 60000, 'retries': 1000000,
                    'linger.ms': 2, 'socket.timeout.ms': 10000}
            conf.update(extra or {})
            prod = self.ck.Producer(conf)

            def done(err, msg):
                if err:
                    errors.append(str(err))
                else:
                    acked.add(msg.value())
            i = 0
            while not stop.is_set():
                prod.produce(self.topic, b'%s%d' % (prefix, i), partition=i % 3,
                             on_delivery=done)
                prod.poll(0)
                i += 1
                if i % 50 == 0:
                    time.sleep(0.01)
            prod.flush(90)
        t = threading.Thread(target=produce, daemon=True)
        t.start()
        return acked, errors, stop, t

    def kill_leader_under_load(self, prefix, extra=None, graceful=False):
        """Produces (acks=all, EXTRA settings), kill -9s the whole node
        leading partition 0 after 500 acknowledgements (GRACEFUL: stops it
        with SIGTERM, a controlled shutdown), stops after 1,000 more; the
        producer must have finished without a refusal.
        Returns (acked values, victim node, survivors, acked at the kill)."""
        nodes = self.nodes3
        acked, errors, stop, t = self.producing(nodes, prefix, extra)
        wait_for(lambda: len(acked) >= 500, 30, '500 messages acknowledged')
        victim_id = self.leaders(nodes)[0]
        victim = nodes[victim_id - 1]
        before = len(acked)
        if graceful:
            victim.stop()
        else:
            victim.kill9_all()
        survivors = [n for n in nodes if n is not victim]
        wait_for(lambda: len(acked) >= before + 1000, 60,
                 'acknowledgements going on after the kill of node %d' % victim_id)
        stop.set()
        t.join(120)
        self.assertFalse(t.is_alive(), 'the producer did not finish')
        self.assertEqual(errors, [], 'the producer was refused')
        for n in survivors:
            restarts = {c['name']: c['restarts'] for c in n.status()['children']}
            self.assertEqual(set(restarts.values()), {0},
                             'node %d restarted children after the kill of node %d: %s'
                             % (n.node_id, victim_id, restarts))
        return acked, victim, survivors, before

    def test_leader_killed_under_acks_all(self):
        nodes = self.nodes3
        acked, victim, survivors, before = self.kill_leader_under_load(b'm')
        victim_id = victim.node_id
        leaders = self.leaders(survivors)
        self.assertNotIn(victim_id, leaders.values(), 'a partition still led by the killed node')
        got = self.consume_all(survivors, acked)
        lost = acked - got
        self.assertEqual(len(lost), 0, '%d acknowledged messages lost, e.g. %s'
                         % (len(lost), sorted(lost)[:5]))
        sys.stderr.write('[failover] node %d killed with %d acknowledged, %d in all; '
                         'all consumed from nodes %s\n'
                         % (victim_id, before, len(acked), [n.node_id for n in survivors]))
        victim.start()
        wait_for(lambda: self.same_logs(nodes), 60,
                 'the restarted node %d holding the same batches as the others' % victim_id)

        sys.stderr.write('[failover] node %d truncated on its return: %s\n'
                         % (victim_id, bool(victim.log_grep('diverges'))))

    def consume_list(self, nodes, timeout=60):
        """{partition: [values]} of everything below each partition's high
        watermark (as it is when called), in offset order."""
        c = self.ck.Consumer({'bootstrap.servers': self.bootstrap(nodes), 'group.id': 'g',
                              'enable.auto.commit': False})
        try:
            ends = {p: c.get_watermark_offsets(self.ck.TopicPartition(self.topic, p),
                                               timeout=10)[1] for p in range(3)}
            c.assign([self.ck.TopicPartition(self.topic, p, 0) for p in range(3)])
            got = {p: [] for p in range(3)}
            last = {p: -1 for p in range(3)}
            deadline = time.monotonic() + timeout
            while any(last[p] + 1 < ends[p] for p in range(3)) and time.monotonic() < deadline:
                for m in c.consume(1000, 0.5):
                    if not m.error():
                        got[m.partition()].append(m.value())
                        last[m.partition()] = m.offset()
            return got
        finally:
            c.close()

    def test_idempotent_producer_leader_stopped(self):
        """As the failover case, with enable.idempotence, the node leading
        partition 0 stopped with SIGTERM (a rolling restart's step): nothing
        lost, nothing written twice, each partition's messages in the order
        they were produced."""
        self.idempotent_failover(graceful=True)

    def test_idempotent_producer_leader_killed(self):
        """The same with kill -9 of the whole node. librdkafka 2.0's
        idempotent producer, once told of the killed node as the leader
        again after it heard of the new one, waits for the dead node until
        its messages time out: Metadata answers must never go back to an
        older leader, which they did when computed on arrival behind an
        acks=all Produce held back for seconds (test_metadata_answered_in_turn)."""
        self.idempotent_failover(graceful=False)

    def idempotent_failover(self, graceful):
        acked, victim, survivors, before = self.kill_leader_under_load(
            b'i', {'enable.idempotence': True}, graceful=graceful)
        got = self.consume_list(survivors)
        values = [v for p in range(3) for v in got[p]]
        self.assertEqual(len(acked - set(values)), 0, 'acknowledged messages lost')
        dups = len(values) - len(set(values))
        self.assertEqual(dups, 0, '%d messages written twice' % dups)
        for p in range(3):
            nums = [int(v[1:]) for v in got[p]]
            self.assertEqual(nums, sorted(nums), 'partition %d out of order' % p)
        sys.stderr.write('[idempotence] node %d %s with %d acknowledged, %d in all, '
                         'no duplicates\n' % (victim.node_id, 'stopped' if graceful else 'killed',
                                               before, len(acked)))

    def raw_produce(self, node, batch):
        """(error, base offset) of one raw acks=all Produce v7 of BATCH to
        partition 0 through NODE."""
        c = kproto.Conn('127.0.0.1', node.kafka_port, timeout=60)
        try:
            res = kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, -1, 30000, [(0, batch)], topic=self.topic)), 7)
        finally:
            c.close()
        return res[(self.topic, 0)]

    def test_resent_batch_known_to_new_leader(self):
        """An idempotent producer's batch, acknowledged by partition 0's
        leader, is sent again to the next leader after the first one was
        killed: the new leader learnt the producer's sequences by
        replication, answers with the batch's offset and writes nothing; the
        next sequence is appended after it, a skipped one refused."""
        nodes = self.nodes3
        pid = 7000000 + int(time.time()) % 100000

        def batch(seq, n):
            return kproto.record_batch([(None, b'r%d' % (seq + i), []) for i in range(n)],
                                       producer_id=pid, producer_epoch=0, base_sequence=seq)
        old = nodes[self.leaders(nodes)[0] - 1]
        # The leader may not have applied the topic yet (another node
        # answered the CreateTopics): UNKNOWN_TOPIC_OR_PARTITION, nothing
        # appended, as a client retries it (seen once in CI).
        first = wait_for(lambda: (lambda r: r if r[0] != 3 else None)(
            self.raw_produce(old, batch(0, 5))), 20, 'the topic known to its leader')
        self.assertEqual(first, (0, 0))
        self.assertEqual(self.raw_produce(old, batch(5, 5)), (0, 5))
        wait_for(lambda: self.same_logs(nodes, [0]), 20, 'partition 0 on every node')
        old.kill9_all()
        rest = [n for n in nodes if n is not old]
        wait_for(lambda: self.leaders(rest)[0] in [n.node_id for n in rest], 30,
                 'a new leader of partition 0')
        new = nodes[self.leaders(rest)[0] - 1]
        wait_for(lambda: self.raw_produce(new, batch(5, 5)) == (0, 5), 30,
                 'the resent batch answered with its offset by node %d' % new.node_id)
        self.assertEqual(self.raw_produce(new, batch(12, 1))[0], 45,
                         'a skipped sequence: OUT_OF_ORDER_SEQUENCE_NUMBER')
        self.assertEqual(self.raw_produce(new, batch(10, 2)), (0, 10))
        got = self.consume_list(rest)[0]
        self.assertEqual(got, [b'r%d' % i for i in range(12)])

    def test_child_faults_under_load(self):
        """acks=all writes go on while single processes fail: the leader
        node's replicator is killed, a follower's walwriter is killed, a
        follower's replicator is stopped for 3 s, the leader node's
        walwriter is killed. Everything acknowledged is consumed, and the
        three logs end up alike."""
        nodes = self.nodes3
        acked, errors, stop, t = self.producing(nodes, b'f')
        try:
            p0 = self.partitions(nodes)[0]
            lead = nodes[p0.leader - 1]
            fol = nodes[[r for r in p0.replicas if r != p0.leader][0] - 1]

            def progress(what):
                n = len(acked)
                wait_for(lambda: len(acked) >= n + 300, 60, 'acknowledgements after ' + what)
            progress('the start')
            os.kill(lead.child('replicator')['pid'], signal.SIGKILL)
            progress('a kill of the leader node\'s replicator')
            os.kill(fol.child('walwriter')['pid'], signal.SIGKILL)
            progress('a kill of a follower\'s walwriter')
            pid = fol.child('replicator')['pid']
            os.kill(pid, signal.SIGSTOP)
            time.sleep(3)
            os.kill(pid, signal.SIGCONT)
            progress('a stop of a follower\'s replicator')
            os.kill(lead.child('walwriter')['pid'], signal.SIGKILL)
            progress('a kill of the leader node\'s walwriter')
        finally:
            stop.set()
            t.join(120)
        self.assertEqual(errors, [], 'the producer was refused')
        got = self.consume_all(nodes, acked)
        self.assertEqual(len(acked - got), 0, '%d acknowledged messages lost'
                         % len(acked - got))
        wait_for(lambda: self.same_logs(nodes), 60, 'the three logs of each partition alike')
        sys.stderr.write('[faults] %d acknowledged, all consumed\n' % len(acked))

    def check_epoch_ends(self, nodes):
        """OffsetForLeaderEpoch (KIP-320) on partition 0 after a leader
        change, where the new leader's log holds 100 records of the old
        epoch, then 100 of its own: the old epoch ends at 100 (a consumer
        that read the dead leader's "lost" records past it sees the
        truncation), the current one at the log end; epochs fenced, unknown
        or newer, a follower and an unknown topic answer as in Kafka."""
        leader_id = self.leaders(nodes)[0]
        leader = [n for n in nodes if n.node_id == leader_id][0]
        follower = [n for n in nodes if n.node_id != leader_id][0]
        epochs = [e for _, e, _ in log_batches(leader.data, self.topic, 0)]
        old_e, new_e = epochs[0], epochs[-1]
        self.assertLess(old_e, new_e, epochs)

        def ask(node, current, epoch, version=4, topic=None):
            topic = topic or self.topic
            return kproto.offset_for_leader_epoch(node.kafka_port, version,
                                                  [(topic, [(0, current, epoch)])])[(topic, 0)]
        self.assertEqual(ask(leader, new_e, old_e), (0, old_e, 100))
        self.assertEqual(ask(leader, -1, new_e), (0, new_e, 200))
        # An epoch between the two that the log never held: the old one's end.
        self.assertEqual(ask(leader, new_e, new_e - 1), (0, old_e, 100))
        if old_e > 0:  # before the log's first epoch: the epoch asked, the log start
            self.assertEqual(ask(leader, new_e, old_e - 1), (0, old_e - 1, 0))
        self.assertEqual(ask(leader, new_e, new_e + 1), (0, -1, -1))
        self.assertEqual(ask(leader, new_e, -1), (0, -1, -1))
        self.assertEqual(ask(leader, old_e, old_e)[0], 74)  # FENCED_LEADER_EPOCH
        self.assertEqual(ask(leader, new_e + 1, old_e)[0], 75)  # UNKNOWN_LEADER_EPOCH
        self.assertEqual(ask(follower, new_e, old_e)[0], 6)  # NOT_LEADER_OR_FOLLOWER
        self.assertEqual(ask(leader, -1, old_e, topic=self.topic + '-none')[0], 3)
        for v in (0, 1, 2, 3):
            self.assertEqual(ask(leader, new_e, old_e, version=v),
                             (0, old_e if v >= 1 else None, 100), 'v%d' % v)
        sys.stderr.write('[epochs] partition 0 on node %d: epoch %d ends at 100, %d at 200\n'
                         % (leader_id, old_e, new_e))

    def test_diverged_leader_truncates(self):
        """The leader of partition 0 takes acks=1 writes its followers never
        fetch (their replicators stopped), then dies: the new leader's log
        ends before them; after more writes there, the old leader returns,
        drops its own tail (truncation by leader epoch, not by HW) and ends
        up with the new leader's batches."""
        nodes = self.nodes3
        old_id = self.leaders(nodes)[0]
        old = nodes[old_id - 1]
        others = [n for n in nodes if n is not old]

        def produce(boot, acks, values):
            prod = self.ck.Producer({'bootstrap.servers': boot, 'acks': acks,
                                     'message.timeout.ms': 30000, 'retries': 1000000})
            failed = []
            for v in values:
                prod.produce(self.topic, v, partition=0,
                             on_delivery=lambda e, m: e and failed.append(e))
            self.assertEqual(prod.flush(60), 0)
            self.assertEqual(failed, [])
        produce(self.bootstrap(nodes), 'all', [b'a%d' % i for i in range(100)])
        wait_for(lambda: self.same_logs(nodes, [0]), 20, 'the first writes on every node')
        stopped = [n.child('replicator')['pid'] for n in others]
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            produce(old.bootstrap, '1', [b'lost%d' % i for i in range(50)])
            old.kill9_all()
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        wait_for(lambda: self.leaders(others)[0] in [n.node_id for n in others], 30,
                 'a new leader of partition 0')
        produce(self.bootstrap(others), 'all', [b'b%d' % i for i in range(100)])
        expect = {b'a%d' % i for i in range(100)} | {b'b%d' % i for i in range(100)}
        got = self.consume_all(others, expect, timeout=20)
        self.assertEqual(expect - got, set())
        self.check_epoch_ends(others)
        old.start()
        wait_for(lambda: self.same_logs(nodes, [0]), 60,
                 'the old leader holding the new leader\'s batches')
        self.assertTrue(old.log_grep('diverges'), 'the old leader did not truncate')
        self.assertGreaterEqual(old.metrics()['chronik_replication_follower_truncations_total'],
                                1)
        got = self.consume_all(nodes, expect, timeout=20)
        self.assertEqual({v for v in got if v.startswith(b'lost')}, set(),
                         'writes only the dead leader held came back')

    def test_stopped_follower_leaves_isr(self):
        """A follower whose replicator stops (its broker still heartbeats, so
        the controller does not fence it) holds acks=all writes back for
        replica_lag_time_max_ms (2 s here), then leaves the ISR and they go
        on; when it runs again it catches up and rejoins the ISR."""
        nodes = self.nodes3
        p0 = self.partitions(nodes)[0]
        fol = nodes[[r for r in p0.replicas if r != p0.leader][0] - 1]
        pid = fol.child('replicator')['pid']
        os.kill(pid, signal.SIGSTOP)
        try:
            prod = self.ck.Producer({'bootstrap.servers': self.bootstrap(nodes), 'acks': 'all',
                                     'message.timeout.ms': 60000})
            failed = []
            t0 = time.monotonic()
            for i in range(200):
                prod.produce(self.topic, b's%d' % i, partition=0,
                             on_delivery=lambda e, m: e and failed.append(e))
            self.assertEqual(prod.flush(60), 0)
            took = time.monotonic() - t0
            self.assertEqual(failed, [])
            wait_for(lambda: fol.node_id not in self.partitions(nodes)[0].isrs, 5,
                     'the stopped follower out of the ISR on every node')
            leader = nodes[p0.leader - 1]
            wait_for(lambda: re.search(r' [1-9][0-9]* under-replicated',
                                       leader.child('replicator')['status']),
                     10, 'the leader\'s status counting partition 0 under-replicated')
            m = leader.metrics()
            self.assertGreaterEqual(m['chronik_replication_under_replicated_partitions'], 1)
            self.assertGreaterEqual(m['chronik_replication_isr_shrinks_total'], 1)
            self.assertEqual(m['chronik_replication_up'], 1)
        finally:
            os.kill(pid, signal.SIGCONT)
        sys.stderr.write('[isr] 200 acks=all writes took %.1f s with node %d stopped\n'
                         % (took, fol.node_id))
        wait_for(lambda: fol.node_id in self.partitions(nodes)[0].isrs, 30,
                 'node %d back in the ISR' % fol.node_id)
        wait_for(lambda: ' 0 under-replicated' in leader.child('replicator')['status'], 10,
                 'the leader\'s status counting no partition under-replicated')
        m = leader.metrics()
        self.assertEqual(m['chronik_replication_under_replicated_partitions'], 0)
        self.assertGreaterEqual(m['chronik_replication_isr_expands_total'], 1)
        self.assertGreater(m['chronik_replication_leader_served_bytes_total'], 0)
        self.assertGreater(fol.metrics()['chronik_replication_follower_fetched_bytes_total'], 0)
        wait_for(lambda: self.same_logs(nodes, [0]), 20, 'the follower caught up')

    def test_leader_cut_off_from_raft(self):
        """The leader of partition 0 loses its Raft contact (its raftd
        stopped: its heartbeats to the controller stop, as when its raft
        port is cut off) while clients still reach its Kafka port. The
        controller fences it after a session and moves its partitions; the
        node itself serves no produce or fetch on them from then on
        (NOT_LEADER_OR_FOLLOWER), and its Metadata names no leader for them
        and closes the connection after the answer, so that a producer and a
        consumer that know only this broker go to the new leader (before: no
        acknowledgement for 30 s, until the supervisor killed the hung
        raftd; an exploratory helper saw 20 s). Every acknowledged message
        is read back afterwards."""
        nodes = self.nodes3
        lead = nodes[self.leaders(nodes)[0] - 1]
        acked, stop = set(), threading.Event()

        def produce():
            # Bootstrapped at the leader only: its connection there is
            # the only one it has when the leader is cut off.
            prod = self.ck.Producer({'bootstrap.servers': lead.bootstrap, 'acks': 'all',
                                     'linger.ms': 5, 'message.timeout.ms': 120000})
            i = 0
            while not stop.is_set():
                prod.produce(self.topic, b'z%d' % i, partition=0,
                             on_delivery=lambda e, m: e is None and acked.add(m.value()))
                i += 1
                prod.poll(0.01)
            prod.flush(120)
        seen = set()

        def consume():
            # Also bootstrapped at the leader only, reading partition 0.
            con = self.ck.Consumer({'bootstrap.servers': lead.bootstrap, 'group.id': 'cut',
                                    'enable.auto.commit': False,
                                    'auto.offset.reset': 'earliest'})
            try:
                con.assign([self.ck.TopicPartition(self.topic, 0, 0)])
                while not stop.is_set():
                    m = con.poll(0.2)
                    if m is not None and not m.error():
                        seen.add(m.value())
            finally:
                con.close()
        t = threading.Thread(target=produce)
        t.start()
        tc = threading.Thread(target=consume)
        tc.start()
        raftd = lead.child('raftd')['pid']
        batch = kproto.record_batch([(None, b'raw', [])])

        def refused():  # NOT_LEADER_OR_FOLLOWER
            return self.raw_produce(lead, batch)[0] == 6
        try:
            wait_for(lambda: len(acked) > 200, 30, 'the first acknowledgements')
            os.kill(raftd, signal.SIGSTOP)
            t0 = time.monotonic()
            wait_for(refused, 20, 'node %d refusing produce with its raftd stopped'
                     % lead.node_id, interval=0.5)
            t_refused = time.monotonic() - t0
            # Its Metadata names no leader for the partition, and the
            # connection closes after the answer (the client asks another
            # broker next).
            c = kproto.Conn('127.0.0.1', lead.kafka_port, timeout=30)
            self.addCleanup(c.close)
            _, _, topics = kproto.parse_metadata_v1(c.call(
                kproto.METADATA, 1, kproto.metadata_body(1, [self.topic])))
            self.assertEqual(topics[self.topic][1][0], (5, -1),
                             'partition 0 in node %d\'s Metadata' % lead.node_id)
            self.assertRaises(kproto.Closed, c.recv_frame)
            # Nor does it answer for the partition as its leader in the
            # other requests a leader serves (6: NOT_LEADER_OR_FOLLOWER).
            port = lead.kafka_port
            self.assertEqual(kproto.list_offset(port, self.topic, 0, -1)[0], 6, 'ListOffsets')
            self.assertEqual(kproto.offset_for_leader_epoch(
                port, 2, [(self.topic, [(0, -1, 0)])])[(self.topic, 0)][0], 6,
                'OffsetForLeaderEpoch')
            self.assertEqual(kproto.delete_records(port, self.topic, {0: 0}, timeout_ms=2000)[0][0],
                             6, 'DeleteRecords')
            self.assertTrue(lead.log_grep('produce requests NOT_LEADER_OR_FOLLOWER'),
                            lead.log_tail())
            # The client finds the new leader (without the close: only once
            # the supervisor killed the hung raftd, 30 s after the stop).
            before = set(acked)
            wait_for(lambda: len(acked) > len(before) + 200, 20,
                     'acknowledgements on a new leader')
            t_acks = time.monotonic() - t0
            # The consumer too reads what the new leader acknowledged.
            new = set(acked) - before
            wait_for(lambda: new & seen, 20, 'the consumer reading from the new leader')
            sys.stderr.write('[cut-off leader] refused %.1f s after the stop; acks again %.1f s, '
                             'read again %.1f s after it\n'
                             % (t_refused, t_acks, time.monotonic() - t0))
        finally:
            os.kill(raftd, signal.SIGCONT)
            stop.set()
            t.join(150)
            tc.join(30)
        self.assertFalse(t.is_alive())
        got = self.consume_all(nodes, acked)
        self.assertEqual(len(acked - got), 0, 'acknowledged messages lost: %d of %d'
                         % (len(acked - got), len(acked)))

        def leader_named():
            c = kproto.Conn('127.0.0.1', lead.kafka_port, timeout=30)
            try:
                _, _, topics = kproto.parse_metadata_v1(c.call(
                    kproto.METADATA, 1, kproto.metadata_body(1, [self.topic])))
            finally:
                c.close()
            return topics[self.topic][1][0][1]
        # Back in contact: its Metadata names partition 0's leader again.
        wait_for(lambda: leader_named() >= 0, 30, 'node %d naming a leader again' % lead.node_id)

    def test_metadata_answered_in_turn(self):
        """A Metadata request sent on one connection right behind an
        acks=all Produce that a stopped follower holds back is answered as
        the cluster is once the Produce is: the follower out of the ISR
        (Kafka's brokers take a connection's requests one at a time; an
        answer computed on arrival would name the old ISR, or a dead
        leader that the other nodes already replaced, and librdkafka's
        idempotent producer then waits for that leader until its messages
        time out)."""
        nodes = self.nodes3
        p0 = self.partitions(nodes)[0]
        leader = nodes[p0.leader - 1]
        fol = nodes[[r for r in p0.replicas if r != p0.leader][0] - 1]
        pid = fol.child('replicator')['pid']
        c = kproto.Conn('127.0.0.1', leader.kafka_port, timeout=60)

        def first_write():
            # The leader may not have applied the topic yet (CreateTopics
            # was answered by node 1): UNKNOWN_TOPIC_OR_PARTITION until it has.
            body = c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, -1, 2000, [(0, kproto.record_batch([(None, b'first', [])]))],
                topic=self.topic))
            return kproto.parse_produce(body, 7)[(self.topic, 0)][0] == 0
        wait_for(first_write, 30, 'a first acks=all write to the leader')
        os.kill(pid, signal.SIGSTOP)
        try:
            batch = kproto.record_batch([(None, b'turn', [])])
            c.send_raw(kproto.request(kproto.PRODUCE, 7, 1, kproto.produce_body(
                7, -1, 30000, [(0, batch)], topic=self.topic)))
            c.send_raw(kproto.request(kproto.METADATA, 1, 2,
                                      kproto.metadata_body(1, [self.topic])))
            t0 = time.monotonic()
            corr, body = c.recv_frame()
            self.assertEqual(corr, 1)
            self.assertEqual(kproto.parse_produce(body, 7)[(self.topic, 0)][0], 0)
            corr, body = c.recv_frame()
            took = time.monotonic() - t0
            self.assertEqual(corr, 2)
            isr = kproto.parse_metadata(body, 1, isr=True)[2][self.topic][1][0][2]
        finally:
            os.kill(pid, signal.SIGCONT)
            c.close()
        self.assertGreater(took, 1.0, 'the Produce was not held back by the stopped follower')
        self.assertNotIn(fol.node_id, isr, 'Metadata named the ISR of before the Produce '
                         'it was sent behind')
        self.assertEqual(len(isr), 2, isr)

    def test_isr_shrinks_below_min_after_append(self):
        """An acks=all Produce to a topic with min.insync.replicas = 3 that a
        stopped follower holds back is answered NOT_ENOUGH_REPLICAS_AFTER_APPEND
        (20) once that follower leaves the ISR, as Kafka's leader answers when
        the high watermark covers the records but the ISR is smaller than
        min.insync.replicas: they are on fewer replicas than asked for (it was
        acknowledged, error 0). The next Produce gets NOT_ENOUGH_REPLICAS (19)
        before any append; with the follower back, writes are acknowledged."""
        nodes = self.nodes3
        name = self.topic + '-min3'
        c = kproto.Conn('127.0.0.1', nodes[0].kafka_port, timeout=60)
        body = c.call(kproto.CREATE_TOPICS, 1, kproto.create_topics_body(
            [(name, [[1, 2, 3]])], 10000, {'min.insync.replicas': '3'}))
        self.assertEqual(kproto.parse_create_topics_v1(body), {name: 0})

        def produce(tag, timeout_ms=30000):
            batch = kproto.record_batch([(None, tag, [])])
            body = c.call(kproto.PRODUCE, 7, kproto.produce_body(7, -1, timeout_ms, [(0, batch)],
                                                                   topic=name))
            return kproto.parse_produce(body, 7)[(name, 0)][0]
        wait_for(lambda: produce(b'first', 2000) == 0, 30, 'a first acks=all write')
        pid = nodes[2].child('replicator')['pid']
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            err = produce(b'held')
            took = time.monotonic() - t0
            after = produce(b'refused')
        finally:
            os.kill(pid, signal.SIGCONT)
        self.assertEqual((err, after), (20, 19), 'took %.1f s' % took)
        self.assertGreater(took, 1.0, 'not held back by the stopped follower')
        wait_for(lambda: produce(b'again', 2000) == 0, 60, 'acks=all with node 3 back')
        c.close()

    def test_new_topic_acks_all_waits_for_replicas(self):
        """An acks=all Produce sent right behind the CreateTopics of its
        topic (replicas 1, 2, 3; node 1 leads), while the replicators of
        nodes 2 and 3 are stopped, is not acknowledged: node 1's replicator
        may learn of the new log from walwriter before it has read the
        partition's replica set, and must not count itself the only replica
        meanwhile (it did: about one such Produce in seven was answered at
        once, error 0, with a single copy that a lost leader would lose).
        With the followers running, the same on a topic with
        min.insync.replicas = 2 is acknowledged (the replicator publishes
        the ISR of a partition whose replica set it has not read as
        unknown, and the frontend then takes LMDB's: not one member)."""
        nodes = self.nodes3
        stopped = [n.child('replicator')['pid'] for n in nodes[1:]]
        c = kproto.Conn('127.0.0.1', nodes[0].kafka_port, timeout=30)
        batch = kproto.record_batch([(None, b'one copy is not enough', [])])

        def create_and_produce(name, timeout_ms, configs=None):
            body = c.call(kproto.CREATE_TOPICS, 1, kproto.create_topics_body(
                [(name, [[1, 2, 3]])], 10000, configs))
            self.assertEqual(kproto.parse_create_topics_v1(body), {name: 0})
            t0 = time.monotonic()
            body = c.call(kproto.PRODUCE, 7, kproto.produce_body(7, -1, timeout_ms, [(0, batch)],
                                                                   topic=name))
            err, _ = kproto.parse_produce(body, 7)[(name, 0)]
            return name, err, round(time.monotonic() - t0, 3)

        answers = [create_and_produce('%s-isr%d' % (self.topic, i), 10000,
                                      {'min.insync.replicas': '2'}) for i in range(30)]
        self.assertEqual([a for a in answers if a[1] != 0], [])
        res = self.ck.admin.ConfigResource('topic', answers[0][0])
        cfg = self.admin.describe_configs([res])[res].result(timeout=10)
        self.assertEqual(cfg['min.insync.replicas'].value, '2')
        answers = []
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            for i in range(30):
                answers.append(create_and_produce('%s-new%d' % (self.topic, i), 300))
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
            c.close()
        acked = [a for a in answers if a[1] == 0]
        self.assertEqual(acked, [], 'acks=all acknowledged with both followers stopped')
        # Each one waited for the followers (not refused before it started).
        self.assertEqual([a for a in answers if a[1] != 7], [], answers)  # REQUEST_TIMED_OUT

    def test_waits_answered_when_their_topic_is_deleted(self):
        """Requests waiting on a partition are answered as soon as its topic
        is deleted, as in Kafka, not at their timeouts (20 s here): an
        acks=all Produce held back by stopped followers, a DeleteRecords
        waiting for the followers' log starts and a Fetch waiting for data
        all get UNKNOWN_TOPIC_OR_PARTITION; the clients retry and find the
        topic gone."""
        nodes = self.nodes3
        name = self.topic + '-doomed'
        stopped = [n.child('replicator')['pid'] for n in nodes[1:]]
        port = nodes[0].kafka_port
        conns = [kproto.Conn('127.0.0.1', port, timeout=60) for _ in range(3)]
        cp, cd, cf = conns
        body = cp.call(kproto.CREATE_TOPICS, 1,
                       kproto.create_topics_body([(name, [[1, 2, 3]])], 10000))
        self.assertEqual(kproto.parse_create_topics_v1(body), {name: 0})
        batch = kproto.record_batch([(None, b'doomed', [])])
        deadline = time.monotonic() + 30
        while True:  # one record in, on all three (the leader may be new)
            res = kproto.parse_produce(cp.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, -1, 10000, [(0, batch)], topic=name)), 7)[(name, 0)]
            if res[0] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(res[0], 0, res)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            cp.send_raw(kproto.request(kproto.PRODUCE, 7, 1, kproto.produce_body(
                7, -1, 20000, [(0, batch)], topic=name)))
            cd.send_raw(kproto.request(kproto.DELETE_RECORDS, 0, 2, kproto.delete_records_body(
                name, {0: 1}, timeout_ms=20000)))
            cf.send_raw(kproto.request(kproto.FETCH, 4, 3, kproto.fetch_body(
                name, 0, 1, max_wait_ms=20000)))
            time.sleep(0.5)
            t0 = time.monotonic()
            self.admin.delete_topics([name])[name].result(timeout=15)
            answers = [c.recv_frame() for c in conns]
            took = time.monotonic() - t0
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
            for c in conns:
                c.close()
        self.assertEqual([a[0] for a in answers], [1, 2, 3])
        self.assertEqual(kproto.parse_produce(answers[0][1], 7)[(name, 0)][0], 3)
        self.assertEqual(kproto.parse_delete_records(answers[1][1]), {0: (3, -1)})
        self.assertEqual(kproto.parse_fetch_v4(answers[2][1])[(name, 0)][0], 3)
        self.assertLess(took, 10.0, 'a request waited for its timeout')

    def test_follower_below_log_start(self):
        """DeleteRecords on the leader while a follower is stopped (and out
        of the ISR) moves the log start past everything that follower
        holds, into the middle of a batch: on its return its log starts
        over at that batch and it rejoins the ISR; the follower that stayed
        moves its own start with the leader's. After the leader dies, the
        new leader's earliest offset is the deleted-up-to offset and
        consumers never see the deleted records again."""
        nodes = self.nodes3
        p0 = self.partitions(nodes)[0]
        lead = nodes[p0.leader - 1]
        fols = [nodes[r - 1] for r in p0.replicas if r != p0.leader]
        away, stayed = fols[0], fols[1]
        prod = self.ck.Producer({'bootstrap.servers': self.bootstrap(nodes), 'acks': 'all',
                                 'message.timeout.ms': 60000, 'batch.num.messages': 1})

        def produce(first, n):
            failed = []
            for i in range(first, first + n):
                prod.produce(self.topic, b'd%d' % i, partition=0,
                             on_delivery=lambda e, m: e and failed.append(e))
                prod.poll(0)
            self.assertEqual(prod.flush(60), 0)
            self.assertEqual(failed, [])

        def produce_batch(first, n):
            """One batch of N records (acks=all) straight to the leader."""
            res = self.raw_produce(lead, kproto.record_batch(
                [(None, b'd%d' % i, []) for i in range(first, first + n)]))
            self.assertEqual(res[0], 0, res)
        produce(0, 100)
        wait_for(lambda: self.same_logs(nodes, [0]), 20, 'partition 0 on every node')
        pid = away.child('replicator')['pid']
        os.kill(pid, signal.SIGSTOP)
        try:
            produce(100, 40)  # held back until the stopped follower leaves the ISR
            produce_batch(140, 20)
            produce(160, 40)
            wait_for(lambda: away.node_id not in self.partitions(nodes)[0].isrs, 10,
                     'the stopped follower out of the ISR')
            self.assertEqual(kproto.list_offset(lead.kafka_port, self.topic, 0, -1), (0, 200))
            self.assertEqual(kproto.delete_records(lead.kafka_port, self.topic, {0: 150}),
                             {0: (0, 150)})
            wait_for(lambda: stayed.log_grep('follower log start moves with the leader'), 10,
                     'node %d moving its log start with the leader\'s' % stayed.node_id)
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: away.node_id in self.partitions(nodes)[0].isrs, 30,
                 'node %d back in the ISR' % away.node_id)
        over = away.log_grep('follower log below the leader\'s log start, starting over')
        self.assertTrue(over, 'no "starting over" line on node %d' % away.node_id)
        self.assertIn('end=100 leader_start=150 at=140', over[0])
        self.assertEqual(away.metrics()['chronik_replication_follower_start_overs_total'], 1)
        self.assertGreaterEqual(
            stayed.metrics()['chronik_replication_follower_log_start_moves_total'], 1)
        lead_batches = [b for b in log_batches(lead.data, self.topic, 0) if b[0] >= 140]
        self.assertEqual(lead_batches[0][0], 140)
        wait_for(lambda: log_batches(away.data, self.topic, 0) == lead_batches, 20,
                 'node %d holding the leader\'s batches from 140 on, and nothing before'
                 % away.node_id)
        produce(200, 10)
        lead.kill9_all()
        rest = [n for n in nodes if n is not lead]
        wait_for(lambda: self.leaders(rest)[0] in (away.node_id, stayed.node_id), 30,
                 'a new leader of partition 0')
        new = nodes[self.leaders(rest)[0] - 1]
        wait_for(lambda: kproto.list_offset(new.kafka_port, self.topic, 0, -2) == (0, 150), 10,
                 'the earliest offset 150 on the new leader, node %d' % new.node_id)
        c = self.ck.Consumer({'bootstrap.servers': self.bootstrap(rest), 'group.id': 'g',
                              'enable.auto.commit': False})
        try:
            c.assign([self.ck.TopicPartition(self.topic, 0, self.ck.OFFSET_BEGINNING)])
            got = []
            deadline = time.monotonic() + 30
            while len(got) < 60 and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    got.append((m.offset(), m.value()))
        finally:
            c.close()
        self.assertEqual(got, [(i, b'd%d' % i) for i in range(150, 210)])
        sys.stderr.write('[log start] node %d started over at 140, node %d followed; '
                         'node %d leads from 150\n' % (away.node_id, stayed.node_id, new.node_id))

    def test_delete_records_waits_for_isr(self):
        """DeleteRecords answers once every ISR replica has moved its log
        start (Kafka's low watermark): with an ISR follower's replicator
        stopped it times out (REQUEST_TIMED_OUT, the leader's own start
        moved); with every replica running it succeeds at once, and the
        node that leads after the leader's kill -9 right after the answer
        starts its log there too."""
        nodes = self.nodes3
        p0 = self.partitions(nodes)[0]
        lead = nodes[p0.leader - 1]
        fol = nodes[[r for r in p0.replicas if r != p0.leader][0] - 1]
        prod = self.ck.Producer({'bootstrap.servers': self.bootstrap(nodes), 'acks': 'all',
                                 'message.timeout.ms': 60000, 'batch.num.messages': 1})
        failed = []
        for i in range(100):
            prod.produce(self.topic, b'w%d' % i, partition=0,
                         on_delivery=lambda e, m: e and failed.append(e))
            prod.poll(0)
        self.assertEqual(prod.flush(60), 0)
        self.assertEqual(failed, [])
        wait_for(lambda: self.same_logs(nodes, [0]), 20, 'partition 0 on every node')
        pid = fol.child('replicator')['pid']
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            res = kproto.delete_records(lead.kafka_port, self.topic, {0: 50}, timeout_ms=1500)
            took = time.monotonic() - t0
            self.assertEqual(res, {0: (7, -1)})  # REQUEST_TIMED_OUT
            self.assertGreaterEqual(took, 1.4)
            self.assertIn(p0.leader, self.partitions(nodes)[0].isrs)
            self.assertIn(fol.node_id, self.partitions(nodes)[0].isrs)
            self.assertEqual(kproto.list_offset(lead.kafka_port, self.topic, 0, -2), (0, 50))
        finally:
            os.kill(pid, signal.SIGCONT)
        t0 = time.monotonic()
        self.assertEqual(kproto.delete_records(lead.kafka_port, self.topic, {0: 60}),
                         {0: (0, 60)})
        took_ok = time.monotonic() - t0
        lead.kill9_all()
        rest = [n for n in nodes if n is not lead]
        wait_for(lambda: self.leaders(rest)[0] in [n.node_id for n in rest], 30,
                 'a new leader of partition 0')
        new = nodes[self.leaders(rest)[0] - 1]
        wait_for(lambda: kproto.list_offset(new.kafka_port, self.topic, 0, -2) == (0, 60), 10,
                 'the earliest offset 60 on the new leader, node %d' % new.node_id)
        sys.stderr.write('[low watermark] timed out after %.2f s with node %d stopped; '
                         'answered in %.3f s with all running\n' % (took, fol.node_id, took_ok))

    def test_hostile_kafka_requests(self):
        """Every API and version with hostile values (test_bad_input.py's
        SchemaRequests) sent to each node in turn, the controller and the
        followers that forward metadata writes to it: answered or closed as
        on one node, and no subsystem of any node restarts."""
        for n in self.nodes3:
            self.hostile_schema_requests(n, self.nodes3)

    def test_hostile_replication_port(self):
        """Strangers on the replication port: random bytes, frames of 2 GiB,
        envelopes of another cluster or from an unknown node, two large first
        frames at once (the second refused before its body), 200 idle
        connections. Each is closed or outlived; the replicator keeps
        running and acks=all writes still replicate."""
        n1 = self.nodes3[0]
        port = n1.ports['replication']
        pid = n1.child('replicator')['pid']

        def varint(v):
            out = b''
            while True:
                b = v & 0x7f
                v >>= 7
                out += bytes([b | (0x80 if v else 0)])
                if not v:
                    return out

        def envelope(cluster, sender, receiver, inc):
            c = cluster.encode()
            body = (b'\x0a' + varint(len(c)) + c + b'\x10' + varint(sender) + b'\x18'
                    + varint(inc) + b'\x20' + varint(receiver))
            return struct.pack('<I', len(body)) + body

        def closed(payload):
            c = socket.create_connection(('127.0.0.1', port), timeout=10)
            try:
                c.sendall(payload)
                return c.recv(1) == b''
            except OSError:
                return True
            finally:
                c.close()
        self.assertTrue(closed(os.urandom(5000)))
        self.assertTrue(closed(struct.pack('<I', 0x7fffffff) + b'x' * 100))
        self.assertTrue(closed(envelope('another', 2, 1, 5)))
        self.assertTrue(closed(envelope('chronik', 9, 1, 5)))
        self.assertTrue(closed(envelope('chronik', 2, 3, 5)))

        def large(first=b''):
            """A connection that announces a 100 MiB frame and sends FIRST."""
            c = socket.create_connection(('127.0.0.1', port), timeout=10)
            c.sendall(struct.pack('<I', 100 << 20) + first)
            return c

        def open_after(c, secs):
            """Whether C is still open SECS seconds on."""
            c.settimeout(secs)
            try:
                return c.recv(1) != b''
            except socket.timeout:
                return True
            except OSError:
                return False
        # Strangers' large first frames share one frame's worth of memory:
        # a second one is refused at once, before its body is awaited; once
        # the first is gone, another is taken again.
        a = large(b'x' * (1 << 20))
        try:
            self.assertTrue(open_after(a, 1), 'the first large frame refused')
            b = large()
            try:
                self.assertFalse(open_after(b, 5), 'a second large frame awaited')
            finally:
                b.close()
        finally:
            a.close()
        time.sleep(0.5)
        b = large()
        try:
            self.assertTrue(open_after(b, 1), 'a large frame refused after the first left')
        finally:
            b.close()
        idle = [socket.create_connection(('127.0.0.1', port), timeout=10) for _ in range(200)]
        try:
            prod = self.ck.Producer({'bootstrap.servers': self.bootstrap(self.nodes3),
                                     'acks': 'all', 'message.timeout.ms': 30000})
            failed = []
            for i in range(100):
                prod.produce(self.topic, b'h%d' % i, partition=i % 3,
                             on_delivery=lambda e, m: e and failed.append(e))
            self.assertEqual(prod.flush(40), 0)
            self.assertEqual(failed, [])
        finally:
            for c in idle:
                c.close()
        self.assertEqual(n1.child('replicator')['pid'], pid, 'the replicator restarted')
        self.assertTrue(n1.log_grep('refusing replication connection'))



class AdminNodeTestCase(NodeTestCase):
    """Clusters driven by raw CreateTopics and confluent-kafka producers."""

    def setUp(self):
        super().setUp()
        self.ck = require_module('confluent_kafka')

    def create(self, node, topics, retry=True):
        """CreateTopics v1 of TOPICS ([(name, assignment)]) on NODE, retried
        (RETRY) while the name is still being deleted; {name: error}."""
        deadline = time.monotonic() + (30 if retry else 0)
        while True:
            c = kproto.Conn('127.0.0.1', node.kafka_port, timeout=60)
            try:
                res = kproto.parse_create_topics_v1(c.call(
                    kproto.CREATE_TOPICS, 1, kproto.create_topics_body(topics, 20000)))
            finally:
                c.close()
            if set(res.values()) == {0} or time.monotonic() > deadline:
                return res
            time.sleep(0.2)

    def produce(self, nodes, topic, prefix, n):
        p = self.ck.Producer({'bootstrap.servers': ','.join(x.bootstrap for x in nodes),
                              'acks': 'all', 'message.timeout.ms': 30000})
        failed = []
        for i in range(n):
            p.produce(topic, b'%s-%d' % (prefix, i), partition=0,
                      on_delivery=lambda e, m: e and failed.append(e))
        self.assertEqual(p.flush(40), 0)
        self.assertEqual(failed, [])


class StaleLogs(AdminNodeTestCase):
    """A node away while topics are deleted (one of them created again, on
    the two nodes left) and the metadata log is compacted past the
    deletions: it comes back by a snapshot, which says nothing of the
    deletions, and must not keep the deleted topics' logs (before, it kept
    them for good, the old incarnation's log under the new topic's name)."""

    def test_deleted_topics_logs_go_after_a_snapshot(self):
        nodes = self.cluster('stale', '[metadata]\nsnapshot_entries = 40\ncompact_keep = 4\n'
                             '[replication]\nreplica_lag_time_max_ms = 3000\n')
        again, gone = 'stale-again', 'stale-gone'
        self.assertEqual(self.create(nodes[0], [(again, [[1, 2, 3]]), (gone, [[1, 2, 3]])]),
                         {again: 0, gone: 0})
        self.produce(nodes, again, b'OLD', 200)
        self.produce(nodes, gone, b'GONE', 50)
        away = nodes[2]
        wait_for(lambda: log_batches(away.data, again, 0) and log_batches(away.data, gone, 0),
                 20, 'node 3 holding both topics')
        away.stop()
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({'bootstrap.servers': nodes[0].bootstrap})
        for f in admin.delete_topics([again, gone], operation_timeout=20).values():
            f.result(40)
        self.assertEqual(self.create(nodes[0], [(again, [[1, 2]])]), {again: 0})
        self.produce(nodes[:2], again, b'new', 5)
        # Enough metadata writes for snapshots and compaction past the
        # deletions on the two nodes left (an entry per created topic).
        for i in range(12):
            res = self.create(nodes[i % 2], [('filler-%d-%d' % (i, j), [[1, 2]])
                                             for j in range(10)])
            self.assertEqual(set(res.values()), {0}, res)
        away.start()
        wait_for(lambda: away.log_grep('snapshot applied'), 30,
                 'node 3 catching up by a snapshot')
        for t in (again, gone):
            wait_for(lambda: not os.path.exists(os.path.join(away.data, 'log', '%s-0' % t)),
                     30, "node 3's log of the deleted %s removed" % t)
        self.assertTrue(away.log_grep('partition logs of deleted or re-created topics'))
        # The new topic is whole on its replicas.
        lead = log_batches(nodes[0].data, again, 0)
        self.assertTrue(lead and lead[-1][0] < 5, lead)
        wait_for(lambda: log_batches(nodes[1].data, again, 0) == lead, 20, 'node 2 alike')

class SnapshotOnFullDisk(AdminNodeTestCase):
    """A wiped node catching up by a snapshot on a disk with room for the
    snapshot's file but not for its copy into LMDB: raftd writes LMDB
    through a shared map of a sparse file, and the install died by SIGBUS
    (again at every restart, the snapshot pending). Now blocks are taken
    ahead of the install as of an apply round: a clean "no room for the
    metadata" error and restart; with space freed the node catches up by
    itself and lists every topic."""

    def test_snapshot_install_on_a_full_disk(self):
        nodes = self.cluster('snapfull', '[metadata]\nsnapshot_entries = 100\ncompact_keep = 4\n',
                             tmpfs={3: 64})
        away = nodes[2]
        away.stop()
        for name in os.listdir(away.data):  # wiped; the tmpfs stays
            path = os.path.join(away.data, name)
            if os.path.isdir(path):
                subprocess.run(['rm', '-rf', path], check=True)
            else:
                os.unlink(path)
        # A few MB of metadata, the logs on nodes 1 and 2 only.
        names = []
        for b in range(30):
            batch = ['snapfull%02d-%03d-' % (b, i) + 'm' * 200 for i in range(100)]
            res = self.create(nodes[b % 2], [(n, [[1 + i % 2]]) for i, n in enumerate(batch)])
            self.assertEqual(set(res.values()), {0}, res)
            names += batch

        def snapshot():
            d = os.path.join(nodes[0].data, 'raft')
            snaps = [f for f in os.listdir(d) if re.match(r'snap-\d+\.mdb$', f)]
            return snaps and os.path.getsize(os.path.join(d, max(snaps)))
        size = wait_for(lambda: (snapshot() or 0) > (2 << 20) and snapshot(), 30,
                        "node 1's snapshot of the topics")
        ballast = os.path.join(away.data, 'ballast')
        st = os.statvfs(away.data)
        with open(ballast, 'wb') as f:  # room for the file, not for its copy
            f.write(bytes(st.f_bavail * st.f_frsize - size * 3 // 2))
        away.start(wait=False)
        wait_for(lambda: away.log_grep('no room for the metadata'), 60,
                 'the install refused for want of room')
        self.assertEqual(away.log_grep('killed by signal'), [], away.log_tail())
        os.unlink(ballast)

        def missing():
            try:
                return set(names) - set(kproto.parse_metadata_v1(kproto.call_once(
                    away.kafka_port, kproto.METADATA, 1, kproto.metadata_body(1), 10000))[2])
            except (kproto.Closed, OSError):
                return None
        wait_for(lambda: missing() == set(), 90, 'node 3 listing every topic once there is room')
        self.assertEqual(away.log_grep('killed by signal'), [], away.log_tail())


class EpochBeforeLeadership(AdminNodeTestCase):
    """A replica checks a client's current_leader_epoch before whether it
    leads, as Kafka's do: a follower answers a stale or future epoch with
    FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH (Fetch, ListOffsets,
    OffsetForLeaderEpoch), NOT_LEADER_OR_FOLLOWER only for the current one.
    And a read_committed Fetch gets an empty aborted_transactions array
    (null for read_uncommitted), as from Kafka."""

    def test_follower_checks_the_epoch_first(self):
        nodes = self.cluster('fepoch')
        topic = 'fepoch'
        self.assertEqual(self.create(nodes[0], [(topic, [[1, 2, 3]])]), {topic: 0})
        self.produce(nodes, topic, b'e', 5)
        leader, follower = nodes[0], nodes[1]

        def fetch(node, epoch, isolation=0):
            return kproto.parse_fetch_v4(kproto.call_once(
                node.kafka_port, kproto.FETCH, 9,
                kproto.fetch_body(topic, 0, 0, version=9, leader_epoch=epoch,
                                  isolation=isolation), 10000), 9, aborted=True)[(topic, 0)]

        def list_offsets(node, epoch):
            body = (kproto.W().i32(-1).i8(0).i32(1).string(topic).i32(1)
                    .i32(0).i32(epoch).i64(-1))
            r = kproto.R(kproto.call_once(node.kafka_port, kproto.LIST_OFFSETS, 4,
                                          bytes(body), 10000))
            r.i32()  # throttle
            self.assertEqual((r.i32(), r.string(), r.i32(), r.i32()), (1, topic, 1, 0))
            return r.i16()

        def ofle(node, epoch):
            return kproto.offset_for_leader_epoch(node.kafka_port, 4,
                                                  [(topic, [(0, epoch, 0)])])[(topic, 0)][0]

        wait_for(lambda: fetch(leader, 0)[0] == 0, 20, 'the leader serving epoch 0')
        self.assertEqual(fetch(follower, 5)[0], 75)  # UNKNOWN_LEADER_EPOCH
        self.assertEqual(fetch(follower, 0)[0], 6)   # NOT_LEADER_OR_FOLLOWER
        self.assertEqual(fetch(leader, 5)[0], 75)
        self.assertEqual(list_offsets(follower, 5), 75)
        self.assertEqual(list_offsets(follower, 0), 6)
        self.assertEqual(ofle(follower, 5), 75)
        self.assertEqual(ofle(follower, 0), 6)
        err, hw, records, txns = fetch(leader, 0, isolation=1)
        self.assertEqual((err, hw, txns), (0, 5, []))
        self.assertTrue(records)
        self.assertIsNone(fetch(leader, 0)[3])


class FencedAssignment(AdminNodeTestCase):
    """A manual assignment may name a registered broker that is down
    (fenced), beside a live one, as Kafka's controller allows: the partition
    starts with the live replicas as ISR and the first as leader, and the
    broker joins when it is back. Naming only fenced brokers, or a broker
    never registered, is INVALID_REPLICA_ASSIGNMENT."""

    def test_manual_assignment_may_name_a_fenced_broker(self):
        nodes = self.cluster('fenced')
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({'bootstrap.servers': nodes[0].bootstrap})
        wait_for(lambda: sorted(admin.list_topics(timeout=10).brokers) == [1, 2, 3], 30,
                 'three brokers registered')
        nodes[2].stop()
        wait_for(lambda: sorted(admin.list_topics(timeout=10).brokers) == [1, 2], 30,
                 'node 3 fenced (gone from the broker list)')
        self.assertEqual(self.create(nodes[0], [('fenced-alone', [[3]])], False),
                         {'fenced-alone': 39})
        self.assertEqual(self.create(nodes[0], [('fenced-unknown', [[1, 9]])], False),
                         {'fenced-unknown': 39})
        self.assertEqual(self.create(nodes[1], [('fenced-ok', [[3, 1], [2, 3]])]),
                         {'fenced-ok': 0})

        def parts():
            md = admin.list_topics('fenced-ok', timeout=10).topics['fenced-ok']
            return {p: (m.leader, sorted(m.isrs), m.replicas)
                    for p, m in md.partitions.items()}
        wait_for(lambda: parts() == {0: (1, [1], [3, 1]), 1: (2, [2], [2, 3])}, 10,
                 'live replicas leading: %r' % (parts(),))
        p = self.ck.Producer({'bootstrap.servers': nodes[0].bootstrap, 'acks': 'all',
                              'message.timeout.ms': 30000})
        failed = []
        for part in (0, 1):
            for i in range(20):
                p.produce('fenced-ok', b'm%d' % i, partition=part,
                          on_delivery=lambda e, m: e and failed.append(e))
        self.assertEqual(p.flush(40), 0)
        self.assertEqual(failed, [])
        nodes[2].start()
        wait_for(lambda: all(isr == sorted(r) for _, isr, r in parts().values()), 40,
                 'node 3 back in both ISRs')


class RestartedLeader(AdminNodeTestCase):
    """A node killed while it led partitions comes back knowing the cluster
    as its own metadata copy had it: until it has caught up with the Raft
    leader, it must not name itself their leader nor take produces for them
    (as a Kafka broker serves clients only once caught up with the metadata
    log). Before, for about half a second after its start it answered
    Metadata from the stale copy and appended acks=1 produces as a stale
    leader, truncated away later; an idempotent producer's sequence broke
    (OUT_OF_ORDER_SEQUENCE_NUMBER, fatal)."""

    def test_restarted_node_waits_for_the_metadata(self):
        nodes = self.cluster('stale-lead', '[replication]\nreplica_lag_time_max_ms = 3000\n')
        topic = 'moved-away'
        self.assertEqual(self.create(nodes[0], [(topic, [[3, 1, 2], [3, 2, 1]])]), {topic: 0})
        self.produce(nodes, topic, b'before', 50)
        away = nodes[2]
        away.kill9_all()

        def leaders(node):
            c = kproto.Conn('127.0.0.1', node.kafka_port, timeout=10)
            try:
                _, _, topics = kproto.parse_metadata_v1(
                    c.call(kproto.METADATA, 1, kproto.metadata_body(1, [topic])))
            finally:
                c.close()
            return {p: leader for p, (_, leader) in topics[topic][1].items()}
        wait_for(lambda: 3 not in leaders(nodes[0]).values(), 30,
                 'leadership moved off the killed node 3')
        away.start(wait=False)
        stale, answers = [], 0
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            try:
                got = leaders(away)
            except (OSError, kproto.Closed, kproto.ShortRead):
                time.sleep(0.01)
                continue
            answers += 1
            if 3 in got.values():
                stale.append(got)
        self.assertGreater(answers, 0, 'node 3 never answered Metadata')
        self.assertEqual(stale, [], 'node 3 named itself leader from its stale metadata')
        self.assertTrue(away.log_grep('metadata caught up'), away.log_tail())

    def test_requests_held_by_the_gate_run_in_turn(self):
        """Requests a connection pipelines to a restarted kafka-frontend
        while it catches up run in the order they came: the produces of one
        connection get increasing offsets and their answers come in turn.
        Before, the waiters ran newest first (and those that came during the
        sync after a second one), so an idempotent producer's pipelined
        batches arrived out of sequence: OUT_OF_ORDER_SEQUENCE_NUMBER, fatal
        for librdkafka, after a kill of kafka-frontend or a node restart."""
        nodes = self.cluster('gate-order')
        topic = 'in-turn'
        self.assertEqual(self.create(nodes[0], [(topic, [[1, 2, 3]])]), {topic: 0})
        self.produce(nodes, topic, b'before', 5)
        for attempt in range(3):
            pid = nodes[0].child('kafka-frontend')['pid']
            os.kill(pid, signal.SIGKILL)
            # The supervisor holds the listening socket: the connection
            # waits in its backlog for the restarted kafka-frontend.
            c = kproto.Conn('127.0.0.1', nodes[0].kafka_port, timeout=60)
            try:
                for i in range(12):
                    batch = kproto.record_batch([(None, b'turn%d-%d' % (attempt, i), [])])
                    c.send_raw(kproto.request(kproto.PRODUCE, 7, 100 + i, kproto.produce_body(
                        7, 1, 30000, [(0, batch)], topic=topic)))
                answers = [c.recv_frame() for _ in range(12)]
            finally:
                c.close()
            self.assertEqual([a[0] for a in answers], list(range(100, 112)))
            res = [kproto.parse_produce(a[1], 7)[(topic, 0)] for a in answers]
            self.assertEqual([r[0] for r in res], [0] * 12, res)
            offsets = [r[1] for r in res]
            self.assertEqual(offsets, sorted(offsets), 'offsets out of send order: %s' % offsets)
            wait_for(lambda: nodes[0].all_ready(), 30, 'kafka-frontend ready again')

    def test_without_a_quorum_answers_after_the_request_timeout(self):
        """Alone (the other two nodes down), a restarted node cannot catch
        up: its first requests wait request_timeout_ms for the sync, then
        it answers from what it knows (a Kafka broker would wait on)."""
        nodes = self.cluster('alone', '[kafka]\nrequest_timeout_ms = 2000\n')
        for n in nodes:
            n.stop()
        nodes[0].start(wait=False)
        t0 = time.monotonic()
        brokers = None
        while brokers is None and time.monotonic() - t0 < 30:
            try:
                c = kproto.Conn('127.0.0.1', nodes[0].kafka_port, timeout=15)
                try:
                    brokers, _, _ = kproto.parse_metadata_v1(
                        c.call(kproto.METADATA, 1, kproto.metadata_body(1, [])))
                finally:
                    c.close()
            except (OSError, kproto.Closed, kproto.ShortRead):
                time.sleep(0.05)
        self.assertIsNotNone(brokers, 'no Metadata answer within 30 s')
        self.assertGreater(time.monotonic() - t0, 1.5, 'answered before the sync gave up')
        self.assertTrue(nodes[0].log_grep('metadata sync failed'), nodes[0].log_tail())


if __name__ == '__main__':
    main()
