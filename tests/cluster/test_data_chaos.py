#!/usr/bin/python3
"""test_data_chaos.py: partition data on a 3-node cluster under random
faults while a real client produces with acks=all (suite cluster:
cluster_data_chaos; a longer soak in the slow suite).

Owned by the cluster suite. Three nodes (kharness Nodes with ids 1-3, each
other's peers, quorum commit); one topic of 6 partitions, replication
factor 3, min.insync.replicas 2, so that an acknowledged message is on the
disk of at least two nodes. A confluent-kafka producer (acks=all, retries,
bootstrapped from all three nodes) sends about 4,000 numbered messages a
second and records every delivery report. Meanwhile, every
2-5 s, one fault on a random node, half of them on the node leading
partition 0: kill -9 of the whole node and a start 1-4 s later; SIGSTOP of
every process of the node for 3 s; kill -9 of its walwriter, of its
replicator, or of its kafka-frontend (the supervisor restarts it);
SIGSTOP of its replicator for 3 s. At most one node is down at a time.

Then, with every node up and the producer stopped, it checks what a user
would: every acknowledged message is read back by a consumer (duplicates
allowed: a retried send whose first answer was lost), every partition
gets all three replicas back in its ISR, and the three nodes' segment files
hold the same batches for every partition.

Environment: CHRONIK_DATA_CHAOS_SECS (fault phase, default 60),
CHRONIK_DATA_CHAOS_SEED (the faults' random seed; printed, so a run can be
repeated with the same choices; timing still differs). Under the sanitized
build (CHRONIK_KTEST_SANITIZE=1) the harness fails the case on any
sanitizer report in a node log.
Not for: metadata writes under faults (test_chaos.py).
"""
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import (NodeTestCase, create_topic_retrying, main, pause_pids,  # noqa: E402
                      pid_is_chronik,
                      require_module, wait_for)
from test_replication import log_batches  # noqa: E402

SECS = float(os.environ.get('CHRONIK_DATA_CHAOS_SECS', '60'))
PARTS = 6
RATE = 4000  # messages per second offered: every one is checked afterwards


class DataChaos(NodeTestCase):

    PRODUCER_EXTRA = {}  # more producer settings (a subclass's)

    def bootstrap(self, nodes):
        return ','.join(n.bootstrap for n in nodes)

    def metadata(self, nodes):
        from confluent_kafka.admin import AdminClient
        md = AdminClient({'bootstrap.servers': self.bootstrap(nodes)}).list_topics(
            self.topic, timeout=10)
        return md.topics[self.topic].partitions

    def producing(self, nodes, acked, errors, stop):
        ck = self.ck
        p = ck.Producer(dict({'bootstrap.servers': self.bootstrap(nodes), 'acks': 'all',
                              'message.timeout.ms': 120000, 'linger.ms': 2,
                              'queue.buffering.max.messages': 20000}, **self.PRODUCER_EXTRA))

        self.ack_times = []  # (partition, monotonic time) per acknowledgement

        def done(err, msg):
            if err is None:
                acked.add(msg.value())
                self.ack_times.append((msg.partition(), time.monotonic()))
            elif err.code() != ck.KafkaError._MSG_TIMED_OUT:
                errors.append(str(err))
        i, t0 = 0, time.monotonic()
        while not stop.is_set():  # about RATE messages per second
            while i < RATE * (time.monotonic() - t0):
                try:
                    p.produce(self.topic, b'c%08d' % i, on_delivery=done)
                    i += 1
                except BufferError:
                    break
            p.poll(0.02)
        p.flush(150)
        self.sent = i

    def fault(self, nodes, rnd):
        lead = None
        try:
            lead = nodes[self.metadata(nodes)[0].leader - 1]
        except Exception:  # noqa: BLE001 - no leader known right now
            pass
        n = lead if lead is not None and rnd.random() < 0.5 else rnd.choice(nodes)
        kind = rnd.randrange(6)
        what = {0: 'kill -9 of the node', 1: 'SIGSTOP of the node for 3 s',
                2: 'kill -9 of walwriter', 3: 'kill -9 of the replicator',
                4: 'kill -9 of kafka-frontend', 5: 'SIGSTOP of the replicator for 3 s'}[kind]
        sys.stderr.write('%.1f fault: %s %d%s\n' % (time.monotonic() - self.t0, what, n.node_id,
                                                    ' (leads p0)' if n is lead else ''))
        if kind == 0:
            n.kill9_all()
            time.sleep(rnd.uniform(1, 4))
            n.start()
            return
        if kind == 1:
            pause_pids(n.pids(), 3)
            return
        name = {2: 'walwriter', 3: 'replicator', 4: 'kafka-frontend', 5: 'replicator'}[kind]
        pid = n.child(name)['pid']
        if kind == 5:
            pause_pids([pid], 3)
        elif pid > 0 and pid_is_chronik(pid):  # else restarting after an earlier fault
            os.kill(pid, signal.SIGKILL)

    def consume_all(self, nodes, want, timeout=120):
        ck = self.ck
        c = ck.Consumer({'bootstrap.servers': self.bootstrap(nodes), 'group.id': 'chaos',
                         'enable.auto.commit': False})
        got, dups = set(), 0
        try:
            c.assign([ck.TopicPartition(self.topic, p, ck.OFFSET_BEGINNING)
                      for p in range(PARTS)])
            deadline = time.monotonic() + timeout
            while not want <= got and time.monotonic() < deadline:
                for m in c.consume(num_messages=10000, timeout=0.5):
                    if m.error() is None:
                        dups += m.value() in got
                        got.add(m.value())
        finally:
            c.close()
        return got, dups

    def same_logs(self, nodes):
        for p in range(PARTS):
            logs = [log_batches(n.data, self.topic, p) for n in nodes]
            if any(lg != logs[0] for lg in logs[1:]):
                return False
        return True

    def start_producing(self, nodes, prefix):
        """Once three brokers are registered: a topic PREFIX<ms> of PARTS
        partitions, replication factor 3, min.insync.replicas 2, and a
        thread producing to it (self.producing). Returns (acked, errors,
        stop event, thread); sets self.topic and self.t0."""
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({'bootstrap.servers': self.bootstrap(nodes)})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        self.topic = '%s%d' % (prefix, int(time.time() * 1000))
        create_topic_retrying(admin, NewTopic(self.topic, PARTS, 3,
                                              config={'min.insync.replicas': '2'}))
        acked, errors, stop = set(), [], threading.Event()
        t = threading.Thread(target=self.producing, args=(nodes, acked, errors, stop))
        t.start()
        self.t0 = time.monotonic()
        return acked, errors, stop, t

    def raft_leader(self, nodes):
        """The node whose raftd leads, or None."""
        for n in nodes:
            st = n.status()
            raftd = st and n.child('raftd', st)
            if raftd and raftd.get('role') == 'leader':
                return n
        return None

    def placement(self, nodes):
        """{partition: (leader, sorted ISR)} as the nodes in NODES see it."""
        return {k: (v.leader, sorted(v.isrs)) for k, v in self.metadata(nodes).items()}

    def each_partition_acked(self, others, timeout):
        """One message to every partition through a second producer
        bootstrapped from OTHERS; each must be acknowledged within TIMEOUT s."""
        ck = self.ck
        done = {}
        p = ck.Producer({'bootstrap.servers': self.bootstrap(others), 'acks': 'all',
                         'message.timeout.ms': int(timeout * 1000)})
        for part in range(PARTS):
            p.produce(self.topic, b'probe', partition=part,
                      on_delivery=lambda err, msg: done.__setitem__(msg.partition(), err))
        p.flush(timeout + 5)
        bad = {k: str(v) for k, v in done.items() if v is not None}
        self.assertEqual(len(done), PARTS, 'no report for some partitions')
        self.assertEqual(bad, {}, 'partitions refusing writes')

    def producer_done(self, nodes, acked, errors, t, what=''):
        """Once the producer thread T was told to stop: it finished, its
        counts go to stderr (after WHAT), and every acknowledged message is
        checked (check_acked; its count of messages read twice is
        returned)."""
        self.assertFalse(t.is_alive(), 'the producer did not finish')
        sys.stderr.write('%s%d sent, %d acknowledged; %d refused (%s)\n'
                         % (what, self.sent, len(acked), len(errors), errors[:3]))
        return self.check_acked(nodes, acked)

    def whole(self, nodes):
        """Every node's own Metadata lists three ISR members everywhere."""
        return all(len(p.isrs) == 3 for n in nodes for p in self.metadata([n]).values())

    def check_acked(self, nodes, acked):
        """Once every ISR is whole again: every message in ACKED is read
        back, and the three nodes' logs hold the same batches. Returns how
        many messages were read twice."""
        wait_for(lambda: self.whole(nodes), 90, 'every partition with three replicas in its ISR')
        got, dups = self.consume_all(nodes, acked)
        lost = acked - got
        self.assertEqual(len(lost), 0, '%d acknowledged messages lost, e.g. %s'
                         % (len(lost), sorted(lost)[:5]))
        wait_for(lambda: self.same_logs(nodes), 60, 'the three logs of every partition alike')
        sys.stderr.write('all %d acknowledged read back (%d read twice); logs alike\n'
                         % (len(acked), dups))
        return dups

    def test_acked_data_under_faults(self):
        self.ck = require_module('confluent_kafka')
        seed = int(os.environ.get('CHRONIK_DATA_CHAOS_SEED', str(random.randrange(1 << 30))))
        sys.stderr.write('data chaos seed %d, %.0f s of faults\n' % (seed, SECS))
        rnd = random.Random(seed)
        # Leadership also moves back to preferred replicas every 2 s when
        # imbalanced (the default is 300 s), so the faults meet those moves.
        nodes = self.cluster('dchaos', '[metadata]\nleader_imbalance_check_ms = 2000\n')
        acked, errors, stop, t = self.start_producing(nodes, 'chaos')
        faults = 0
        try:
            wait_for(lambda: len(acked) >= 1000, 60, 'the first acknowledgements')
            while time.monotonic() - self.t0 < SECS:
                self.fault(nodes, rnd)
                faults += 1
                time.sleep(rnd.uniform(2, 5))
        finally:
            stop.set()
            t.join(200)
        moves = sum(len(n.log_grep('(preferred replica)')) for n in nodes)
        self.producer_done(nodes, acked, errors, t, '%d faults, %d leadership moves back to '
                           'preferred replicas; ' % (faults, moves))


if __name__ == '__main__':
    main()
