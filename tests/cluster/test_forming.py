#!/usr/bin/python3
"""test_forming.py: topics created while a 3-node cluster forms (suite
cluster: cluster_forming).

Owned by the cluster suite. A cluster's brokers register with the
controller one after another in its first second or so, after their nodes
report ready. What a user sees:
  - a CreateTopics with replication factor 3, sent through confluent-kafka
    to one node and through kafka-python to another as soon as the three
    nodes are ready, each once (Kafka's clients do not retry
    INVALID_REPLICATION_FACTOR), succeeds, and every node's Metadata lists
    both topics with three replicas per partition;
  - with one node gone for good (SIGKILL, fenced after its broker session),
    replication factor 3 is still refused with INVALID_REPLICATION_FACTOR
    (after waiting a few seconds for a registration that does not come),
    also when a client closes its connection during that wait, while
    replication factor 2 is created at once.
Not for: creations under faults (test_chaos.py), forwarding
(test_cluster_kafka.c).
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import NodeTestCase, kproto, main, require_module, wait_for  # noqa: E402


class Forming(NodeTestCase):

    def setUp(self):
        super().setUp()
        self.ck = require_module('confluent_kafka')
        self.kafka = require_module('kafka')

    def replicas(self, node, topic):
        """{partition: replica count} of TOPIC in NODE's Metadata, or {}."""
        from confluent_kafka.admin import AdminClient
        md = AdminClient({'bootstrap.servers': node.bootstrap}).list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return {}
        return {p.id: len(p.replicas) for p in t.partitions.values()}

    def test_rf3_created_at_once(self):
        from confluent_kafka.admin import AdminClient, NewTopic
        from kafka.admin import KafkaAdminClient, NewTopic as KpNewTopic
        nodes = self.cluster('form')  # returns once the three nodes are ready
        admin = AdminClient({'bootstrap.servers': nodes[0].bootstrap})
        kp = KafkaAdminClient(bootstrap_servers=nodes[2].bootstrap, request_timeout_ms=30000)
        try:
            fs = admin.create_topics([NewTopic('form-ck', 3, 3)], request_timeout=30)
            kp_resp = kp.create_topics([KpNewTopic('form-kp', 2, 3)], timeout_ms=30000)
        finally:
            kp.close()
        fs['form-ck'].result(30)  # raises on INVALID_REPLICATION_FACTOR
        self.assertEqual([e[1] for e in kp_resp.topic_errors], [0], str(kp_resp))
        for n in nodes:
            wait_for(lambda: self.replicas(n, 'form-ck') == {0: 3, 1: 3, 2: 3}, 10,
                     'form-ck with 3 replicas on node %d' % n.node_id)
            wait_for(lambda: self.replicas(n, 'form-kp') == {0: 3, 1: 3}, 10,
                     'form-kp with 3 replicas on node %d' % n.node_id)

    def test_rf3_refused_with_a_node_gone(self):
        from confluent_kafka.admin import AdminClient, NewTopic
        nodes = self.cluster('gone')
        admin = AdminClient({'bootstrap.servers': nodes[0].bootstrap})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        nodes[2].kill9_all()
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 2, 30,
                 'node 3 fenced')
        t0 = time.monotonic()
        fs = admin.create_topics([NewTopic('gone-rf3', 1, 3)], request_timeout=30)
        with self.assertRaises(self.ck.KafkaException) as cm:
            fs['gone-rf3'].result(30)
        waited = time.monotonic() - t0
        self.assertEqual(cm.exception.args[0].code(),
                         self.ck.KafkaError.INVALID_REPLICATION_FACTOR, str(cm.exception))
        sys.stderr.write('RF 3 refused after %.1f s: %s\n' % (waited, cm.exception))
        # A client that gives up while its creation waits: the node answers
        # the others as before (and the sanitized build finds no leak).
        c = kproto.Conn(nodes[0].host, nodes[0].kafka_port)
        c.send_raw(kproto.request(kproto.CREATE_TOPICS, 1, 7,
                                  kproto.create_topics_body([('gone-orphan', 1, 3)])))
        time.sleep(0.5)
        c.close()
        fs = admin.create_topics([NewTopic('gone-rf2', 1, 2)], request_timeout=30)
        fs['gone-rf2'].result(30)
        wait_for(lambda: self.replicas(nodes[0], 'gone-rf2') == {0: 2}, 10,
                 'gone-rf2 with 2 replicas')


if __name__ == '__main__':
    main()
