#!/usr/bin/python3
"""test_group_chaos.py: a consumer group on a 3-node cluster under random
faults (suite cluster: cluster_group_chaos; a longer soak in the slow
suite).

Owned by the cluster suite. Three nodes (quorum commit); a topic of 6
partitions, replication factor 3, filled first with numbered messages
(acks=all). Then a group of confluent-kafka consumers (or, in a second
case for half as long, kafka-python ones) (subscribe, manual
synchronous commits after each batch they process) reads it slowly while,
every 2-5 s, one fault hits a random node, half of them the group's
coordinator: kill -9 of the whole node and a start 1-4 s later, SIGSTOP of
every process of the node for 3 s, or kill -9 of its kafka-frontend or of
its raftd (the supervisor restarts them). Members also come and go (one
closes and a new one joins every few seconds), so rebalances meet the
faults.

What a user of a group relies on, checked at the end:
- nothing is skipped: every produced message was handed to some member
  (duplicates allowed: at-least-once after a lost commit answer or a
  rebalance);
- an acknowledged commit is never lost: whenever a member is given a
  partition, its first message is at or after every commit of that
  partition acknowledged before the assignment;
- once quiet, the group's committed offsets are the partitions' ends, on
  every node.

Environment: CHRONIK_GROUP_CHAOS_SECS (fault phase, default 45),
CHRONIK_GROUP_CHAOS_SEED (the faults' random seed; printed),
CHRONIK_GROUP_CHAOS_PER_PART (messages per partition, default 4000).
Not for: produce under faults (test_data_chaos.py), metadata writes under
faults (test_chaos.py).
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
import kproto  # noqa: E402
from kharness import (NodeTestCase, create_topic_retrying, main, pause_pids,  # noqa: E402
                      pid_is_chronik, require_module, wait_for)

SECS = float(os.environ.get('CHRONIK_GROUP_CHAOS_SECS', '45'))
PARTS = 6
# messages per partition, produced before the faults (read at ~600/s)
PER_PART = int(os.environ.get('CHRONIK_GROUP_CHAOS_PER_PART', '4000'))
MEMBERS = 3      # members at a time
BATCH = 40       # messages a member takes at a time, then 0.2 s of "processing":
#                  about 600 a second for the group, so the reading spans the faults


class GroupChaos(NodeTestCase):

    def bootstrap(self, nodes):
        return ','.join(n.bootstrap for n in nodes)

    def coordinator(self, nodes):
        """The node FindCoordinator names for the group, or None."""
        for n in nodes:
            try:
                err, _, node, _, _ = kproto.parse_find_coordinator(
                    kproto.call_once(n.kafka_port, kproto.FIND_COORDINATOR, 1,
                                     kproto.find_coordinator_body(1, self.group), 3000), 1)
            except Exception:  # noqa: BLE001 - a node down or restarting
                continue
            if err == 0:
                return next((m for m in nodes if m.node_id == node), None)
        return None

    def fill(self, nodes):
        """PER_PART messages in every partition, each acknowledged."""
        ck = self.ck
        p = ck.Producer({'bootstrap.servers': self.bootstrap(nodes), 'acks': 'all',
                         'linger.ms': 5})
        bad = []
        for i in range(PER_PART):
            for part in range(PARTS):
                while True:
                    try:
                        p.produce(self.topic, b'%d-%d' % (part, i), partition=part,
                                  on_delivery=lambda e, m: e and bad.append(str(e)))
                        break
                    except BufferError:
                        p.poll(0.05)
        self.assertEqual(p.flush(60), 0, 'messages left unsent')
        self.assertEqual(bad, [], 'produce errors')

    def took(self, name, fresh, pending, p, o):
        """Member NAME was handed offset O of partition P."""
        with self.lock:
            floor = fresh.pop(p, None)
            if floor is not None and o < floor:
                self.regressions.append((name, p, o, floor))
            self.seen.add((p, o))
        pending[p] = max(pending.get(p, 0), o + 1)

    def committed_ok(self, pending, p, o):
        """A commit of offset O of partition P was acknowledged."""
        with self.lock:
            if pending.get(p) == o:
                del pending[p]
            self.acked_commit[p] = max(self.acked_commit.get(p, 0), o)

    def assigned(self, fresh, parts):
        with self.lock:
            for p in parts:
                fresh[p] = self.acked_commit.get(p, 0)

    def member(self, idx, stop):
        """One member: consumes until STOP (or its turn to leave is set in
        self.leave), committing synchronously after each batch of at most
        BATCH messages; a failed commit is tried again with the next batch,
        or alone. FRESH: partition -> the commits acknowledged before its
        assignment; PENDING: partition -> the next offset to commit."""
        name, fresh, pending = 'm%d' % idx, {}, {}
        if self.client == 'kafka-python':
            self.member_kafka_python(idx, stop, name, fresh, pending)
            return
        ck = self.ck
        c = ck.Consumer({'bootstrap.servers': self.bootstrap(self.nodes3),
                         'group.id': self.group, 'enable.auto.commit': False,
                         'auto.offset.reset': 'earliest', 'session.timeout.ms': 10000,
                         'heartbeat.interval.ms': 1000, 'client.id': name, 'log_level': 3})

        def on_revoke(consumer, parts):
            for tp in parts:
                fresh.pop(tp.partition, None)
                pending.pop(tp.partition, None)
        c.subscribe([self.topic], on_revoke=on_revoke,
                    on_assign=lambda consumer, parts: self.assigned(
                        fresh, [tp.partition for tp in parts]))
        try:
            while not stop.is_set() and not self.leave.get(idx):
                msgs = c.consume(num_messages=BATCH, timeout=0.5)
                for m in msgs:
                    if m.error() is None:
                        self.took(name, fresh, pending, m.partition(), m.offset())
                if not pending:
                    continue
                if msgs:
                    time.sleep(0.2)  # "processing": the group reads for a while
                tps = [ck.TopicPartition(self.topic, p, o) for p, o in pending.items()]
                try:
                    res = c.commit(offsets=tps, asynchronous=False)
                except ck.KafkaException as e:  # a rebalance or a coordinator move
                    self.commit_errors.append(str(e))
                    time.sleep(0.2)
                    continue
                for tp in res or []:
                    if tp.error is None:
                        self.committed_ok(pending, tp.partition, tp.offset)
        finally:
            c.close()

    def member_kafka_python(self, idx, stop, name, fresh, pending):
        """member() with kafka-python's KafkaConsumer."""
        from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
        from kafka.consumer.subscription_state import ConsumerRebalanceListener
        from kafka import errors as kerr
        test = self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                for tp in revoked:
                    fresh.pop(tp.partition, None)
                    pending.pop(tp.partition, None)

            def on_partitions_assigned(self, assigned):
                test.assigned(fresh, [tp.partition for tp in assigned])
        c = KafkaConsumer(bootstrap_servers=self.bootstrap(self.nodes3).split(','),
                          group_id=self.group, enable_auto_commit=False,
                          auto_offset_reset='earliest', session_timeout_ms=10000,
                          heartbeat_interval_ms=1000, client_id=name,
                          request_timeout_ms=30000, retry_backoff_ms=200)
        c.subscribe([self.topic], listener=Listener())
        try:
            while not stop.is_set() and not self.leave.get(idx):
                got = c.poll(timeout_ms=500, max_records=BATCH)
                for recs in got.values():
                    for m in recs:
                        self.took(name, fresh, pending, m.partition, m.offset)
                if not pending:
                    continue
                if got:
                    time.sleep(0.2)
                offsets = dict(pending)
                try:
                    c.commit({TopicPartition(self.topic, p): OffsetAndMetadata(o, '')
                              for p, o in offsets.items()})
                except kerr.KafkaError as e:
                    self.commit_errors.append(repr(e))
                    time.sleep(0.2)
                    continue
                for p, o in offsets.items():
                    self.committed_ok(pending, p, o)
        finally:
            c.close()

    def fault(self, nodes, rnd):
        coord = self.coordinator(nodes)
        n = coord if coord is not None and rnd.random() < 0.5 else rnd.choice(nodes)
        kind = rnd.randrange(4)
        what = {0: 'kill -9 of the node', 1: 'SIGSTOP of the node for 3 s',
                2: 'kill -9 of kafka-frontend', 3: 'kill -9 of raftd'}[kind]
        sys.stderr.write('%.1f fault: %s %d%s\n' % (time.monotonic() - self.t0, what, n.node_id,
                                                    ' (coordinator)' if n is coord else ''))
        if kind == 0:
            n.kill9_all()
            time.sleep(rnd.uniform(1, 4))
            n.start()
            return
        if kind == 1:
            pause_pids(n.pids(), 3)
            return
        pid = n.child({2: 'kafka-frontend', 3: 'raftd'}[kind])['pid']
        if pid > 0 and pid_is_chronik(pid):  # else restarting after an earlier fault
            os.kill(pid, signal.SIGKILL)

    def committed(self, node):
        """{partition: committed offset} of the group, read through NODE."""
        ck = self.ck
        c = ck.Consumer({'bootstrap.servers': node.bootstrap, 'group.id': self.group,
                         'enable.auto.commit': False})
        try:
            got = c.committed([ck.TopicPartition(self.topic, p) for p in range(PARTS)],
                              timeout=30)
            return {tp.partition: tp.offset for tp in got}
        finally:
            c.close()

    def test_group_under_faults(self):
        self.client = 'confluent-kafka'
        self.group_under_faults(SECS)

    def test_group_under_faults_kafka_python(self):
        """The same with kafka-python members (its own rebalance and
        coordinator-discovery code, older protocol versions), half as long."""
        require_module('kafka')
        self.client = 'kafka-python'
        self.group_under_faults(SECS / 2)

    def group_under_faults(self, secs):
        self.ck = require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic
        seed = int(os.environ.get('CHRONIK_GROUP_CHAOS_SEED', str(random.randrange(1 << 30))))
        sys.stderr.write('group chaos (%s) seed %d, %.0f s of faults\n'
                         % (self.client, seed, secs))
        rnd = random.Random(seed)
        nodes = self.nodes3 = self.cluster('gchaos')
        admin = AdminClient({'bootstrap.servers': self.bootstrap(nodes)})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        self.topic = 'gc%d' % int(time.time() * 1000)
        self.group = 'gcg%d' % int(time.time() * 1000)
        create_topic_retrying(admin, NewTopic(self.topic, PARTS, 3,
                                              config={'min.insync.replicas': '2'}))
        self.fill(nodes)
        self.lock = threading.Lock()
        self.seen, self.acked_commit, self.regressions, self.commit_errors = set(), {}, [], []
        self.leave = {}
        stop = threading.Event()
        threads = {}

        def join(idx):
            t = threading.Thread(target=self.member, args=(idx, stop))
            t.start()
            threads[idx] = t
        for i in range(MEMBERS):
            join(i)
        self.t0 = time.monotonic()
        want = {(p, o) for p in range(PARTS) for o in range(PER_PART)}
        faults, nxt = 0, MEMBERS
        try:
            while time.monotonic() - self.t0 < secs:
                self.fault(nodes, rnd)
                faults += 1
                if rnd.random() < 0.5:  # one member leaves, a new one joins
                    old = rnd.choice([i for i, t in threads.items() if t.is_alive()])
                    self.leave[old] = True
                    join(nxt)
                    nxt += 1
                time.sleep(rnd.uniform(2, 5))
            sys.stderr.write('%.1f faults over; %d of %d read so far\n'
                             % (time.monotonic() - self.t0, len(self.seen), len(want)))
            wait_for(lambda: want <= self.seen, 180 + len(want) / 500,
                     'every message handed to a member', interval=0.5)
            # The last commits: every member commits what it read, then idles.
            wait_for(lambda: all(self.acked_commit.get(p) == PER_PART for p in range(PARTS)),
                     60, 'commits at every partition\'s end', interval=0.5)
        finally:
            stop.set()
            for t in threads.values():
                t.join(60)
        sys.stderr.write('%d faults, %d members in all, %d commit errors (%s)\n'
                         % (faults, nxt, len(self.commit_errors),
                            [e.split('\n')[0][:100] for e in self.commit_errors[:3]]))
        self.assertEqual(self.regressions, [], 'members started before an acked commit '
                         '(member, partition, first offset, acked commit)')
        missing = want - self.seen
        self.assertEqual(len(missing), 0, 'never handed to a member, e.g. %s'
                         % sorted(missing)[:5])
        for n in nodes:
            self.assertEqual(self.committed(n), {p: PER_PART for p in range(PARTS)},
                             'the group\'s offsets through node %d' % n.node_id)


if __name__ == '__main__':
    main()
