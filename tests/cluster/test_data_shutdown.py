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
nothing.
Not for: kill -9 (test_data_chaos.py, test_data_restart.py).
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import main, require_module, wait_for  # noqa: E402
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

            def moved():
                return all(lead != vid and vid not in isr
                           for lead, isr in self.placement(others).values())
            wait_for(moved, 3, 'node %d leading nothing and in no ISR' % vid)
            sys.stderr.write('%.1f others see %s\n' % (time.monotonic() - self.t0,
                                                        self.placement(others)))
            self.each_partition_acked(others, 30)
            victim.start()
            wait_for(lambda: self.whole(nodes), 60, 'node %d back in every ISR' % vid)
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
            before = len(acked)
            wait_for(lambda: len(acked) > before + 2000, 30, 'acknowledgements after the moves')
        finally:
            stop.set()
            t.join(200)
        self.producer_done(nodes, acked, errors, t)
        self.assertEqual(errors, [], 'the producer saw failed messages')

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


if __name__ == '__main__':
    main()
