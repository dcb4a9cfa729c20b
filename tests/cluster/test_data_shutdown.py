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


if __name__ == '__main__':
    main()
