#!/usr/bin/python3
"""test_data_restart.py: partition data on a 3-node cluster whose nodes are
all killed at once, again and again, while a real client produces with
acks=all (suite cluster: cluster_data_restart).

Owned by the cluster suite. Three nodes, a topic of 6 partitions,
replication factor 3, min.insync.replicas 2, and a confluent-kafka producer
(acks=all, retries) sending about 4,000 numbered messages a second, as in
test_data_chaos.py. Five rounds: kill -9 of every process of every node
at the same moment, then all three started together; in the second round
two nodes start first and the third once they acknowledge again (the two
must serve every partition, some of whose leaders were on the third,
before it comes back). After each round the producer must be acknowledged again
within 60 s. Then, with the producer stopped, what a user would check:
every acknowledged message is read back, every ISR is whole, the three
nodes' logs hold the same batches.

A second case kills only the replicator of the node leading partition 0,
REPL_KILLS times, while acks=all writes go to the partitions it leads: no
write may wait WAIT_MAX_S or more across a kill (followers whose fetches
were in flight to the dead replicator fetch again once reconnected), and
every acknowledged write is read back.

WipedNodeBack: one node killed, its data directory removed (a replaced
disk) and started again within broker_session_ms, under acks=all load:
it must leave the ISRs before it may lead again (as the leader of some
partitions of a 6-partition topic, then another node killed; as the
preferred leader of every partition, also with only two of its logs
removed; as the follower the controller would elect when the leader dies
before it has fetched anything); every acknowledged message is read back.

A kill -9 keeps the page cache, so this checks what the nodes do when they
all come back (recovery points, high watermarks, leaders and ISRs from the
metadata, followers truncating to the leaders), not the disk's flushes.
Environment: CHRONIK_DATA_RESTART_SEED (the start orders; printed).
Not for: one fault at a time (test_data_chaos.py), network cuts
(test_data_partition.py).
"""
import os
import random
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import (SANITIZE, create_topic_retrying, main, pid_is_chronik,  # noqa: E402
                      require_module, wait_for)
import test_data_chaos  # noqa: E402

ROUNDS = 5
# kill -9s of the leader node's replicator; about 6 in 10 stalled before
# the fix, so 5 miss them all one time in ten. Under the sanitizers the
# processes start too slowly for the bound below: fewer kills, and only
# what was acknowledged is checked there (the bound is the plain build's).
REPL_KILLS = 2 if SANITIZE else 5
REPL_KILL_S = 4   # apart: a stall of the 3 s a lost follower fetch waited shows in each
# The longest an acks=all write may wait across one of them: the
# supervisor's restart delay (doubling to the harness's 1 s, the kills come
# faster than its restart_stable_ms) and the restart, with room for a
# loaded machine; a follower fetch left to the 3 s timer makes it 3 s or more.
WAIT_MAX_S = 2.5


class DataRestart(test_data_chaos.DataChaos):

    test_acked_data_under_faults = None  # the chaos case is test_data_chaos.py's

    def test_acked_data_across_whole_cluster_kills(self):
        self.ck = require_module('confluent_kafka')
        seed = int(os.environ.get('CHRONIK_DATA_RESTART_SEED', str(random.randrange(1 << 30))))
        sys.stderr.write('data restart seed %d\n' % seed)
        rnd = random.Random(seed)
        nodes = self.cluster('drestart')
        acked, errors, stop, t = self.start_producing(nodes, 'rall')
        try:
            wait_for(lambda: len(acked) >= 3000, 60, 'the first acknowledgements')
            for rd in range(ROUNDS):
                time.sleep(2)
                sys.stderr.write('%.1f round %d: kill -9 of every node (%d acknowledged)\n'
                                 % (time.monotonic() - self.t0, rd, len(acked)))
                for n in nodes:
                    n.kill9_all()
                time.sleep(1)
                order = list(nodes)
                rnd.shuffle(order)
                # Started together: a node alone holds Metadata until it
                # hears from a quorum (up to the request timeout, 30 s), so
                # waiting for each in turn waited that out.
                if rd == 1:
                    self.start_together(order[:2])
                    before = len(acked)
                    wait_for(lambda: len(acked) > before + 2000, 60,
                             'acknowledgements from two nodes of three')
                    sys.stderr.write('%.1f acknowledged again by nodes %s; starting %d\n'
                                     % (time.monotonic() - self.t0,
                                        [n.node_id for n in order[:2]], order[2].node_id))
                    order[2].start()
                else:
                    self.start_together(order)
                before = len(acked)
                wait_for(lambda: len(acked) > before + 2000, 60,
                         'acknowledgements after the restart')
                sys.stderr.write('%.1f acknowledged again\n' % (time.monotonic() - self.t0))
        finally:
            stop.set()
            t.join(200)
        self.producer_done(nodes, acked, errors, t)

    @staticmethod
    def start_together(nodes):
        for n in nodes:
            n.start(wait=False)
        for n in nodes:
            n.wait_ready()

    def timed_producing(self, nodes, parts, acked, waits, errors, stop):
        """Produces about 1,000 numbered messages a second with acks=all to
        the partitions PARTS until STOP; every acknowledged message goes to
        ACKED and (its send time, how long it waited) to WAITS."""
        ck = self.ck
        p = ck.Producer({'bootstrap.servers': self.bootstrap(nodes), 'acks': 'all',
                         'message.timeout.ms': 120000, 'linger.ms': 2})
        sent = {}

        def done(err, msg):
            t_sent = sent.pop(msg.value(), None)
            if err is not None:
                errors.append(str(err))
            elif t_sent is not None:
                acked.add(msg.value())
                waits.append((t_sent, time.monotonic() - t_sent))
        i, t0 = 0, time.monotonic()
        while not stop.is_set():
            while i < 1000 * (time.monotonic() - t0):
                v = b'r%08d' % i
                sent[v] = time.monotonic()
                p.produce(self.topic, v, partition=parts[i % len(parts)], on_delivery=done)
                i += 1
            p.poll(0.01)
        p.flush(150)

    def test_acks_all_through_leader_replicator_kills(self):
        """kill -9 of the replicator of the node leading partition 0 (the
        supervisor restarts it at once), REPL_KILLS times, while acks=all
        writes go to the partitions that node leads: no write waits
        WAIT_MAX_S or more (a follower whose fetch was in flight to the
        killed replicator fetches again as soon as it has reconnected, not
        after the 3 s it gives a fetch a live connection never answers),
        and every acknowledged write is read back."""
        self.ck = require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic
        nodes = self.cluster('drrepl')
        admin = AdminClient({'bootstrap.servers': self.bootstrap(nodes)})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        self.topic = 'rkill%d' % int(time.time() * 1000)
        create_topic_retrying(admin, NewTopic(self.topic, test_data_chaos.PARTS, 3,
                                              config={'min.insync.replicas': '2'}))
        md = wait_for(lambda: all(p.leader > 0 for p in self.metadata(nodes).values())
                      and self.metadata(nodes), 30, 'a leader for every partition')
        lead = nodes[md[0].leader - 1]
        parts = sorted(k for k, v in md.items() if v.leader == lead.node_id)
        acked, waits, errors, stop = set(), [], [], threading.Event()
        t = threading.Thread(target=self.timed_producing,
                             args=(nodes, parts, acked, waits, errors, stop))
        t.start()
        kills = []
        try:
            wait_for(lambda: len(acked) >= 2000, 60, 'the first acknowledgements')
            for _ in range(REPL_KILLS):
                pid = lead.child('replicator')['pid']
                self.assertTrue(pid > 0 and pid_is_chronik(pid), 'no replicator to kill')
                kills.append(time.monotonic())
                os.kill(pid, signal.SIGKILL)
                wait_for(lambda: lead.child('replicator')['pid'] not in (0, pid), 30,
                         'the replicator restarted')
                time.sleep(max(0.0, kills[-1] + REPL_KILL_S - time.monotonic()))
            kills.append(time.monotonic())
        finally:
            stop.set()
            t.join(200)
        # The longest wait of a write sent from just before each kill (a
        # follower's fetch then in flight holds it back) to the next kill.
        worst = [max([w for ts, w in list(waits) if a - 0.5 <= ts < b] or [0.0])
                 for a, b in zip(kills, kills[1:])]
        sys.stderr.write('node %d leads partitions %s; longest acks=all waits per replicator '
                         'kill: %s s\n' % (lead.node_id, parts,
                                            ' '.join('%.2f' % w for w in worst)))
        self.assertEqual(errors, [], 'the producer was refused')
        if not SANITIZE:
            self.assertLess(max(worst), WAIT_MAX_S,
                            'an acks=all write waited %.2f s across a kill of the leader '
                            'node\'s replicator' % max(worst))
        self.check_acked(nodes, acked)


class WipedNodeBack(test_data_chaos.DataChaos):
    """A node killed (kill -9 of all its processes), its data directory
    wiped (a replaced disk) and started again well within broker_session_ms
    (4 s): it holds none of the data it had, so it must leave the ISRs
    before it may lead, as Kafka makes a broker whose log directory is new
    do (KIP-966's broker epochs, directory ids). Before, the controller,
    which had not fenced it, kept its ISR places and its leaderships at the
    same leader epoch: a partition it led was led again from an empty log
    (its followers, further on, failing to append what it sent them); a
    partition it followed could elect it from the ISR once the leader died,
    the other replicas then truncating to its empty log. Either way records acknowledged with
    acks=all were gone. Each case: 3 nodes, min.insync.replicas 2, an acks=all
    producer (its delivery reports say what was acknowledged), the wipe
    under load; then, every node up and the producer stopped, a consumer
    reads every partition from its start to its end, and every
    acknowledged message must be there."""

    test_acked_data_under_faults = None  # the chaos case is test_data_chaos.py's

    RATE = 2000  # numbered messages per second offered
    # How long writes may take to be acknowledged again after a kill (a
    # session, an election, a follower catching up take seconds; a wiped
    # leader's followers failing to fetch from it before the fix: never).
    RESUME_S = 60 if SANITIZE else 30

    def producing(self, nodes, acked, errors, stop):
        """Numbered messages at about RATE a second (acks=all, retries)
        until STOP; ACKED: {acknowledged value: partition}. What is still
        unacknowledged after a short flush is purged: only acknowledged
        messages are checked."""
        ck = self.ck
        p = ck.Producer({'bootstrap.servers': self.bootstrap(nodes), 'acks': 'all',
                         'message.timeout.ms': 60000, 'linger.ms': 2,
                         'queue.buffering.max.messages': 20000})

        def done(err, msg):
            if err is None:
                acked[msg.value()] = msg.partition()
            elif err.code() not in (ck.KafkaError._MSG_TIMED_OUT, ck.KafkaError._PURGE_QUEUE,
                                    ck.KafkaError._PURGE_INFLIGHT):
                errors.append(str(err))
        i, t0 = 0, time.monotonic()
        while not stop.is_set():
            while i < self.RATE * (time.monotonic() - t0):
                try:
                    p.produce(self.topic, b'w%08d' % i, on_delivery=done)
                    i += 1
                except BufferError:
                    break
            p.poll(0.02)
        if p.flush(10) > 0:
            p.purge()
            p.flush(10)
        self.sent = i

    def start_producing(self, nodes, prefix):
        """A topic PREFIX<ms> of PARTS partitions (replication factor 3,
        min.insync.replicas 2, placed by the cluster) and the producer."""
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({'bootstrap.servers': self.bootstrap(nodes)})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        self.topic = '%s%d' % (prefix, int(time.time() * 1000))
        create_topic_retrying(admin, NewTopic(self.topic, test_data_chaos.PARTS, 3,
                                              config={'min.insync.replicas': '2'}))
        wait_for(lambda: all(v.leader > 0 for v in self.metadata(nodes).values()), 30,
                 'a leader for every partition')
        return self.start_thread(nodes)

    def start_thread(self, nodes):
        """The producer's thread: (acked, errors, stop event, thread)."""
        acked, errors, stop = {}, [], threading.Event()
        t = threading.Thread(target=self.producing, args=(nodes, acked, errors, stop))
        t.start()
        self.t0 = time.monotonic()
        return acked, errors, stop, t

    def say(self, fmt, *args):
        sys.stderr.write('%.1f %s\n' % (time.monotonic() - self.t0, fmt % args))

    def manual_topic(self, nodes, prefix, assignment, config=None):
        """A topic PREFIX<ms> with ASSIGNMENT (replica lists by partition),
        min.insync.replicas 2 (and CONFIG), once its preferred replicas
        lead."""
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({'bootstrap.servers': self.bootstrap(nodes)})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        self.topic = '%s%d' % (prefix, int(time.time() * 1000))
        create_topic_retrying(admin, NewTopic(self.topic, len(assignment),
                                              replica_assignment=assignment,
                                              config=dict(config or {},
                                                          **{'min.insync.replicas': '2'})))
        want = {p: r[0] for p, r in enumerate(assignment)}
        wait_for(lambda: {k: v.leader for k, v in self.metadata(nodes).items()} == want, 30,
                 'the preferred replicas leading %s' % want)

    def controller(self, nodes):
        return wait_for(lambda: self.raft_leader(nodes), 30, 'a Raft leader')

    def resumed(self, acked, what, more=2000):
        """(whether MORE acknowledgements came within RESUME_S s, WHAT):
        noted, not asserted here, as the check of what was acknowledged
        comes first (check_none_lost)."""
        before = len(acked)
        try:
            wait_for(lambda: len(acked) >= before + more, self.RESUME_S, what)
        except AssertionError as e:
            self.say('%s', e)
            return False, what
        self.say('%s (%d acknowledged)', what, len(acked))
        return True, what

    def kill_wipe_start(self, node, gap=0.5, logs=None, holes=False):
        """kill -9 of NODE's processes, its data directory removed (LOGS:
        only the logs of those partitions of self.topic; with HOLES only
        their second segment's files), a start GAP s later; returns the
        seconds from the kill until it serves Kafka clients again."""
        t = time.monotonic()
        node.kill9_all()
        if logs is None:
            shutil.rmtree(node.data)
        for p in logs or ():
            d = os.path.join(node.data, 'log', '%s-%d' % (self.topic, p))
            if not holes:
                shutil.rmtree(d)
                continue
            segs = sorted(f[:-4] for f in os.listdir(d) if f.endswith('.log'))
            self.assertGreaterEqual(len(segs), 3, 'segments of %s: %s' % (d, segs))
            for ext in ('.log', '.index', '.timeindex'):
                os.unlink(os.path.join(d, segs[1] + ext))
        self.say('node %d killed, %s removed', node.node_id,
                 'its data directory' if logs is None else
                 'its logs of partitions %s%s' % (logs, ' (a middle segment)' if holes else ''))
        time.sleep(gap)
        node.start(wait=False)
        t_started = time.monotonic() - t
        node.wait_ready()
        back = time.monotonic() - t
        self.say('node %d started %.1f s after its kill, serving %.1f s after it',
                 node.node_id, t_started, back)
        return back

    def where(self, nodes):
        """placement() for a message, or why there is none."""
        try:
            return self.placement(nodes)
        except Exception as e:  # noqa: BLE001 - only said
            return 'unknown (%s)' % e

    def fencings(self, nodes, node_id):
        return sum(len(n.log_grep('fencing broker id=%d ' % node_id)) for n in nodes)

    def consume_to_end(self, nodes, want, parts, timeout=90):
        """Every message of partitions 0..PARTS-1 from their start, until
        WANT is all read or every partition has stayed at its end for 3 s."""
        ck = self.ck
        c = ck.Consumer({'bootstrap.servers': self.bootstrap(nodes), 'group.id': 'wiped',
                         'enable.auto.commit': False, 'enable.partition.eof': True})
        got, at_end, since = set(), set(), None
        try:
            c.assign([ck.TopicPartition(self.topic, p, ck.OFFSET_BEGINNING)
                      for p in range(parts)])
            deadline = time.monotonic() + timeout
            while not want <= got and time.monotonic() < deadline:
                for m in c.consume(num_messages=10000, timeout=0.5):
                    if m.error() is None:
                        got.add(m.value())
                        at_end.discard(m.partition())
                    elif m.error().code() == ck.KafkaError._PARTITION_EOF:
                        at_end.add(m.partition())
                if len(at_end) < parts:
                    since = None
                elif since is None:
                    since = time.monotonic()
                elif time.monotonic() - since > 3:
                    break
        finally:
            c.close()
        return got

    def check_none_lost(self, nodes, acked, errors, t, parts, resumed=()):
        """Once the producer thread T was told to stop: every node up, every
        message in ACKED read back (the count and a sample of those missing
        otherwise), then the writes that had to resume (RESUMED: [(ok,
        what)]) did, and every ISR is whole again."""
        t.join(120)
        self.assertFalse(t.is_alive(), 'the producer did not finish')
        self.say('%d sent, %d acknowledged; %d refused (%s)', self.sent, len(acked),
                 len(errors), errors[:3])
        try:
            wait_for(lambda: all(v.leader > 0 for v in self.metadata(nodes).values()), 60,
                     'a leader for every partition')
        except AssertionError as e:
            self.say('%s', e)
        self.say('placement {partition: (leader, ISR)}: %s', self.where(nodes))
        got = self.consume_to_end(nodes, set(acked), parts)
        lost = sorted(set(acked) - got)
        by_part = {}
        for v in lost:
            by_part[acked[v]] = by_part.get(acked[v], 0) + 1
        self.say('%d of %d acknowledged messages read back', len(acked) - len(lost), len(acked))
        self.assertEqual(len(lost), 0, '%d of %d acknowledged messages lost (by partition %s), '
                         'e.g. %s' % (len(lost), len(acked), by_part, lost[:8]))
        for ok, what in resumed:
            self.assertTrue(ok, 'no %s' % what)
        try:
            wait_for(lambda: self.whole(nodes), 90, 'every partition with three replicas in '
                     'its ISR')
        except AssertionError as e:
            raise AssertionError('%s; placement %s' % (e, self.where(nodes)))

    def test_wiped_node_back_then_another_killed(self):
        """A 6-partition topic (assigned by the cluster, so each node leads
        some): node X, not the Raft leader, wiped and back within the
        session; a few seconds later the other node that is not the Raft
        leader (it leads partitions X follows) killed and started again."""
        self.ck = require_module('confluent_kafka')
        nodes = self.cluster('wiped')
        acked, errors, stop, t = self.start_producing(nodes, 'wiped')
        res = []
        try:
            wait_for(lambda: len(acked) >= 3000, 60, 'the first acknowledgements')
            ctl = self.controller(nodes)
            place = self.placement(nodes)
            # X: the node (not the Raft leader) leading the most partitions.
            x, y = sorted([n for n in nodes if n is not ctl],
                          key=lambda n: -sum(v[0] == n.node_id for v in place.values()))
            self.say('Raft leader %d; placement {partition: (leader, ISR)}: %s', ctl.node_id,
                     place)
            self.kill_wipe_start(x)
            res.append(self.resumed(acked, 'acknowledgements after node %d came back'
                                    % x.node_id))
            time.sleep(2)
            self.say('placement before killing node %d: %s', y.node_id, self.where(nodes))
            y.kill9_all()
            self.say('node %d killed', y.node_id)
            res.append(self.resumed(acked, 'acknowledgements without node %d' % y.node_id))
            y.start()
            res.append(self.resumed(acked, 'acknowledgements with node %d back' % y.node_id))
        finally:
            stop.set()
        self.say('node %d fenced %d times', x.node_id, self.fencings(nodes, x.node_id))
        self.check_none_lost(nodes, acked, errors, t, test_data_chaos.PARTS, res)

    def test_wiped_preferred_leader_back(self):
        """Node X (not the Raft leader) is the preferred leader of all 3
        partitions of a topic ([[X, a, b], ...]) and leads them when it is
        wiped and back within the session: it must not lead them again
        from its empty log."""
        self.preferred_leader_back('wipedl', None)

    def test_lost_logs_back(self):
        """As test_wiped_preferred_leader_back, with only X's logs of two of
        the partitions removed (the rest of its data dir kept): its
        walwriter finds them missing below their checkpointed high
        watermarks, and X must not lead them again from empty logs."""
        self.preferred_leader_back('lostlog', [0, 2])
        self.assertEqual(len(self.x.log_grep('below its high watermark')), 2)

    def test_lost_middle_segment_back(self):
        """As test_lost_logs_back, with only a middle segment of each of
        the two logs removed (segment.bytes 32 KiB): X's recovery finds the
        hole, cuts the log there and fetches the rest back. Before, X led
        the partitions again with the hole, and consumers skipped the
        acknowledged records in it."""
        self.preferred_leader_back('lostseg', [0, 2], holes=True)
        self.assertEqual(len(self.x.log_grep('records missing from the log')), 2)
        self.assertEqual(len(self.x.log_grep('below its high watermark')), 2)

    def preferred_leader_back(self, name, logs, holes=False):
        """X leads the 3 partitions of topic NAME<ms> as their preferred
        leader, under load; X killed, its data dir wiped (LOGS None) or the
        logs of partitions LOGS removed (HOLES: a middle segment of each),
        started again; none acknowledged lost."""
        self.ck = require_module('confluent_kafka')
        nodes = self.cluster(name)
        ctl = self.controller(nodes)
        x = self.x = [n for n in nodes if n is not ctl][0]
        a, b = [n.node_id for n in nodes if n is not x]
        self.manual_topic(nodes, name, [[x.node_id, a, b], [x.node_id, b, a],
                                        [x.node_id, a, b]],
                          {'segment.bytes': '32768'} if holes else None)
        acked, errors, stop, t = self.start_thread(nodes)
        res = []
        try:
            wait_for(lambda: len(acked) >= (20000 if holes else 3000), 60,
                     'the first acknowledgements')
            if logs:
                time.sleep(1.5)  # the replicator's HW checkpoint (every second)
            self.kill_wipe_start(x, logs=logs, holes=holes)
            res.append(self.resumed(acked, 'acknowledgements after node %d came back'
                                    % x.node_id))
            time.sleep(1)
        finally:
            stop.set()
        self.say('node %d fenced %d times', x.node_id, self.fencings(nodes, x.node_id))
        self.check_none_lost(nodes, acked, errors, t, 3, res)

    def test_wiped_follower_not_elected(self):
        """Node X (not the Raft leader) follows all 3 partitions of a topic
        led by Y, with X first after Y in replica order ([[Y, X, Z], ...],
        Z the Raft leader), so that the controller would pick it when Y
        goes. Y's replicator is stopped (SIGSTOP) while X is wiped and comes
        back, so that X cannot fetch Y's partitions again; then Y is killed:
        the new leaders must be Z, which holds the data, not X with its
        empty log."""
        self.ck = require_module('confluent_kafka')
        nodes = self.cluster('wipedf')
        z = self.controller(nodes)
        x, y = [n for n in nodes if n is not z]
        self.manual_topic(nodes, 'wipedf', [[y.node_id, x.node_id, z.node_id]] * 3)
        acked, errors, stop, t = self.start_thread(nodes)
        res = []
        try:
            wait_for(lambda: len(acked) >= 3000, 60, 'the first acknowledgements')
            pid = y.child('replicator')['pid']
            self.assertTrue(pid > 0 and pid_is_chronik(pid), 'no replicator on node %d'
                            % y.node_id)
            os.kill(pid, signal.SIGSTOP)
            try:
                self.kill_wipe_start(x)
                time.sleep(0.5)  # X serves clients: its registration is applied
            finally:
                y.kill9_all()  # the stopped replicator too
            self.say('node %d killed', y.node_id)
            res.append(self.resumed(acked, 'acknowledgements without node %d' % y.node_id))
            self.say('placement: %s', self.where(nodes))
            y.start()
            res.append(self.resumed(acked, 'acknowledgements with node %d back' % y.node_id))
        finally:
            stop.set()
        self.say('node %d fenced %d times', x.node_id, self.fencings(nodes, x.node_id))
        self.check_none_lost(nodes, acked, errors, t, 3, res)


if __name__ == '__main__':
    main()
