#!/usr/bin/python3
"""test_data_shutdown.py: a controlled shutdown (SIGTERM) of a cluster node
while a real client produces with acks=all (suite cluster:
cluster_data_shutdown).

Owned by the cluster suite. Three nodes, a topic of 6 partitions,
replication factor 3, min.insync.replicas 2, the confluent-kafka producer
of test_data_chaos.py (acks=all, about 4,000 numbered messages a second).
As Kafka's brokers do (controlled.shutdown.enable), a node stopped with
SIGTERM first has its partition leadership moved away: the supervisor
asks raftd (SIGUSR2), raftd asks the controller to fence the broker, and
the children stop once no partition needs the node. What a user sees:
  - the stop of the node leading partition 0 says "controlled shutdown
    done" in its log (not "timed out"), and the other nodes' Metadata
    lists it as leader of nothing and in no ISR within 3 s of the stop
    (a node that just vanished stays listed until its broker session of
    4 s lapses);
  - a message to every partition is acknowledged meanwhile;
  - restarted, the node is back in every ISR; every acknowledged message
    is read back and the logs are alike;
  - stopping all three nodes at once ends with no controlled shutdown
    timing out (each one drains, or finds nobody left who could take over).
As Kafka's controller does (auto.leader.rebalance.enable), leadership goes
back to the preferred replicas (each partition's first replica) once the
restarted node is in their ISRs again: with leader_imbalance_check_ms at
1 s, within 20 s of its return every partition is led by its preferred
replica, the producer saw no failed message and every acknowledged one
is read back; with auto_leader_rebalance = false the restarted node leads
nothing. A node that stays away is reported as a leader imbalance by the
controller once, not at every check.
ElectLeaders (kafka-leader-election.sh's request, raw, v0-v2) moves it back
on demand: the restarted node's preferred partitions answer NONE and are
led by it in the answering node's Metadata at once, the others
ELECTION_NOT_NEEDED, an unknown partition or topic
UNKNOWN_TOPIC_OR_PARTITION, a partition named twice INVALID_REQUEST once,
an unclean election of a led partition ELECTION_NOT_NEEDED, a request for
every partition an empty list once all are balanced; with the node
stopped, its partitions PREFERRED_LEADER_NOT_AVAILABLE (also in the answer
for every partition); a request naming 10,001 partitions INVALID_REQUEST.
Not for: kill -9 (test_data_chaos.py, test_data_restart.py).
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import kproto, main, require_module, wait_for  # noqa: E402
import test_data_chaos  # noqa: E402


class DataShutdown(test_data_chaos.DataChaos):

    test_acked_data_under_faults = None  # the chaos case is test_data_chaos.py's

    def test_controlled_shutdown(self):
        self.ck = require_module('confluent_kafka')
        nodes = self.cluster('dstop')
        acked, errors, stop, t = self.start_producing(nodes, 'stop')
        try:
            wait_for(lambda: len(acked) >= 2000, 60, 'the first acknowledgements')
            victim = nodes[self.metadata(nodes)[0].leader - 1]
            others = [n for n in nodes if n is not victim]
            vid = victim.node_id
            t0 = time.monotonic()
            victim.stop()
            stopped = time.monotonic()
            sys.stderr.write('%.1f node %d stopped in %.2f s\n'
                             % (stopped - self.t0, vid, stopped - t0))
            self.assertTrue(victim.log_grep('controlled shutdown done'),
                            'no controlled shutdown in the log of node %d' % vid)
            self.assertFalse(victim.log_grep('controlled shutdown timed out'))
            self.wait_gone(others, vid, 3)
            sys.stderr.write('%.1f others see %s\n' % (time.monotonic() - self.t0,
                                                        self.placement(others)))
            self.each_partition_acked(others, 30)
            victim.start()
            wait_for(lambda: self.whole(nodes), 60, 'node %d back in every ISR' % vid)
            # A graceful stop keeps every log whole: no log found short of
            # the high watermark it checkpointed (a new data id, out of
            # every ISR).
            self.assertEqual(victim.log_grep('below its high watermark'), [])
            before = len(acked)
            wait_for(lambda: len(acked) > before + 2000, 30, 'acknowledgements after the restart')
        finally:
            stop.set()
            t.join(200)
        self.producer_done(nodes, acked, errors, t)
        # All three at once (as tests/cluster/stop.sh does).
        stoppers = [threading.Thread(target=n.stop) for n in nodes]
        t0 = time.monotonic()
        for s in stoppers:
            s.start()
        for s in stoppers:
            s.join(120)
        sys.stderr.write('all three stopped in %.2f s\n' % (time.monotonic() - t0))
        for n in nodes:
            self.assertFalse(n.log_grep('controlled shutdown timed out'),
                             'node %d: a controlled shutdown timed out' % n.node_id)

    def wait_gone(self, others, vid, secs):
        """Waits until OTHERS list node VID as leader of nothing and in no ISR."""
        wait_for(lambda: all(lead != vid and vid not in isr
                             for lead, isr in self.placement(others).values()), secs,
                 'node %d leading nothing and in no ISR' % vid)

    def preferred(self, nodes):
        """{partition: (leader, preferred replica)} as NODES see it."""
        return {k: (v.leader, v.replicas[0]) for k, v in self.metadata(nodes).items()}

    def balanced(self, nodes):
        return all(lead == pref for lead, pref in self.preferred(nodes).values())

    def stop_and_return(self, nodes):
        """SIGTERM of the node leading partition 0, its leadership gone
        elsewhere, then its restart until it is in every ISR again.
        Returns it."""
        victim = nodes[self.metadata(nodes)[0].leader - 1]
        others = [n for n in nodes if n is not victim]
        vid = victim.node_id
        victim.stop()
        wait_for(lambda: all(lead != vid for lead, _ in self.placement(others).values()), 10,
                 'node %d leading nothing' % vid)
        victim.start()
        wait_for(lambda: self.whole(nodes), 60, 'node %d back in every ISR' % vid)
        sys.stderr.write('%.1f node %d back in every ISR: %s\n'
                         % (time.monotonic() - self.t0, vid, self.preferred(nodes)))
        return victim

    def more_acks(self, acked):
        before = len(acked)
        wait_for(lambda: len(acked) > before + 2000, 30, 'acknowledgements after the moves')

    def clean_finish(self, nodes, acked, errors, t):
        """producer_done, and no message failed: a leadership move is a
        retriable NOT_LEADER to the producer."""
        self.producer_done(nodes, acked, errors, t)
        self.assertEqual(errors, [], 'the producer saw failed messages')

    def test_leadership_returns_to_preferred(self):
        self.ck = require_module('confluent_kafka')
        nodes = self.cluster('dreb', '[metadata]\nleader_imbalance_check_ms = 1000\n')
        acked, errors, stop, t = self.start_producing(nodes, 'reb')
        try:
            wait_for(lambda: len(acked) >= 2000, 60, 'the first acknowledgements')
            wait_for(lambda: self.balanced(nodes), 20, 'leaders on preferred replicas at first')
            victim = self.stop_and_return(nodes)
            wait_for(lambda: self.balanced(nodes), 20,
                     'every partition led by its preferred replica again')
            led = [k for k, (lead, _) in self.preferred(nodes).items()
                   if lead == victim.node_id]
            sys.stderr.write('%.1f balanced again; node %d leads %s\n'
                             % (time.monotonic() - self.t0, victim.node_id, led))
            self.assertTrue(led, 'node %d leads nothing' % victim.node_id)
            self.assertTrue(any(n.log_grep('(preferred replica)') for n in nodes),
                            'no controller logged the moves')
            self.more_acks(acked)
        finally:
            stop.set()
            t.join(200)
        self.clean_finish(nodes, acked, errors, t)

    def test_no_rebalance_when_disabled(self):
        self.ck = require_module('confluent_kafka')
        nodes = self.cluster('dnoreb', '[metadata]\nauto_leader_rebalance = false\n'
                             'leader_imbalance_check_ms = 1000\n')
        acked, errors, stop, t = self.start_producing(nodes, 'noreb')
        try:
            wait_for(lambda: len(acked) >= 1000, 60, 'the first acknowledgements')
            victim = self.stop_and_return(nodes)
            time.sleep(4)  # four check intervals
            led = [k for k, (lead, _) in self.preferred(nodes).items()
                   if lead == victim.node_id]
            self.assertEqual(led, [], 'leadership moved back although the rebalance is off')
            self.assertFalse(any(n.log_grep('(preferred replica)') for n in nodes))
        finally:
            stop.set()
            t.join(200)
        self.producer_done(nodes, acked, errors, t)

    def test_imbalance_logged_once(self):
        """A broker that stays away leaves its partitions led elsewhere with no
        move possible: the controller says so once, not every check."""
        self.ck = require_module('confluent_kafka')
        nodes = self.cluster('dimb', '[metadata]\nleader_imbalance_check_ms = 500\n')
        acked, errors, stop, t = self.start_producing(nodes, 'imb')
        try:
            wait_for(lambda: len(acked) >= 1000, 60, 'the first acknowledgements')
            ctl = self.raft_leader(nodes)
            self.assertIsNotNone(ctl, 'no Raft leader')
            victim = next(n for n in nodes if n is not ctl)
            others = [n for n in nodes if n is not victim]
            vid = victim.node_id
            victim.stop()
            self.wait_gone(others, vid, 10)
            line = 'leader imbalance: broker %d ' % vid
            wait_for(lambda: ctl.log_grep(line), 10, 'the controller reporting the imbalance')
            time.sleep(1)  # the state settled
            first = ctl.log_grep(line)
            time.sleep(3)  # six more check intervals, nothing changing
            self.assertEqual(ctl.log_grep(line), first,
                             'the same imbalance logged again at every check')
            self.assertIs(self.raft_leader(others), ctl, 'the controller moved')
            victim.start()
            wait_for(lambda: self.whole(nodes), 60, 'node %d back in every ISR' % vid)
        finally:
            stop.set()
            t.join(200)
        self.producer_done(nodes, acked, errors, t)

    def test_elect_leaders(self):
        self.ck = require_module('confluent_kafka')
        nodes = self.cluster('delect', '[metadata]\nauto_leader_rebalance = false\n')
        acked, errors, stop, t = self.start_producing(nodes, 'elect')
        try:
            wait_for(lambda: len(acked) >= 1000, 60, 'the first acknowledgements')
            victim = self.stop_and_return(nodes)
            vid = victim.node_id
            pref = self.preferred(nodes)
            mine = sorted(k for k, (lead, p) in pref.items() if p == vid)
            self.assertTrue(mine and all(pref[k][0] != vid for k in mine), pref)
            lead = self.raft_leader(nodes)
            asked = next(n for n in nodes if n is not lead)  # forwarded to the controller
            top, res = kproto.elect_leaders(asked.kafka_port, [
                (self.topic, list(range(6)) + [99, 0]), ('no-such-topic', [0])])
            self.assertEqual(top, 0)
            self.assertEqual([r[0] for r in res], [self.topic, 'no-such-topic'])
            got = {p: err for p, err, _ in res[0][1][:7]}
            want = {p: 0 if p in mine else 84 for p in range(6)}
            want[99] = 3
            self.assertEqual(got, want, res)
            self.assertEqual(res[0][1][7][:2], (0, 42), 'partition 0 named twice')
            self.assertEqual([e for _, e, _ in res[1][1]], [3])
            sys.stderr.write('%.1f ElectLeaders through node %d: %s\n'
                             % (time.monotonic() - self.t0, asked.node_id, res))
            now = self.preferred([asked])
            self.assertTrue(all(now[k][0] == vid for k in mine), now)
            wait_for(lambda: self.balanced(nodes), 10, 'every node listing the moves')
            for version in (0, 1, 2):
                top, res = kproto.elect_leaders(lead.kafka_port, None, version=version)
                self.assertEqual((top, res), (None if version == 0 else 0, []))
            _, res = kproto.elect_leaders(lead.kafka_port, [(self.topic, [0])], 1, 1)
            self.assertEqual(res[0][1][0][:2], (0, 84))
            self.more_acks(acked)
        finally:
            stop.set()
            t.join(200)
        self.clean_finish(nodes, acked, errors, t)
        victim.stop()
        others = [n for n in nodes if n is not victim]
        wait_for(lambda: all(lead != vid for lead, _ in self.placement(others).values()), 10,
                 'node %d leading nothing' % vid)
        _, res = kproto.elect_leaders(others[0].kafka_port, [(self.topic, mine)], 1)
        self.assertEqual([e for _, e, _ in res[0][1]], [80] * len(mine), res)
        _, res = kproto.elect_leaders(others[0].kafka_port, None, 1)
        self.assertEqual([(tp, [(p, e) for p, e, _ in ps]) for tp, ps in res],
                         [(self.topic, [(p, 80) for p in mine])])
        self.assertEqual(kproto.elect_leaders(others[0].kafka_port,
                                              [(self.topic, list(range(10001)))], 1),
                         (42, []))
        self.assertFalse(any(n.log_grep('(preferred replica)') for n in nodes))


if __name__ == '__main__':
    main()
