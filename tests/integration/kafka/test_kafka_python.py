#!/usr/bin/python3
"""test_kafka_python.py: kafka-python 2.0.2 against a chronik node.

Owned by the Kafka integration tests. What a kafka-python user sees: the
admin client (CreateTopics with 100 topics, DeleteTopics, CreatePartitions,
DescribeConfigs/AlterConfigs and the errors Kafka gives for bad requests,
the ACL calls answered as a Kafka broker without an authorizer answers them),
KafkaProducer auto-creating a topic, KafkaConsumer with manual assignment,
ListOffsets (earliest, latest, by timestamp), long polling, topic configs
taking effect, Metadata answers of 20,000 partitions, and 1,000 idle
connections. Each case starts its own node.
"""
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kharness import (NodeTestCase, admin_client, create_topic, kproto,  # noqa: E402
                      list_topics_raw, main, require_module, topic_name, wait_for,
                      wait_topic)

kafka = require_module('kafka')
import kschema  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic  # noqa: E402
from kafka import errors as kerr  # noqa: E402


def producer(node, **kw):
    kw.setdefault('acks', 'all')
    return KafkaProducer(bootstrap_servers=node.bootstrap, request_timeout_ms=30000,
                         max_block_ms=60000, **kw)


def consumer(node, **kw):
    return KafkaConsumer(bootstrap_servers=node.bootstrap, group_id=None,
                         enable_auto_commit=False, auto_offset_reset='earliest',
                         request_timeout_ms=40000, **kw)


def read_partition(node, topic, partition, count, timeout=60):
    """Reads COUNT records of one partition from offset 0 (manual assignment)."""
    c = consumer(node)
    tp = TopicPartition(topic, partition)
    try:
        c.assign([tp])
        c.seek_to_beginning(tp)
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=1000).values():
                out.extend(recs)
        return out
    finally:
        c.close()


def raw_fetch(node, topic, partition=0, version=4, offset=0):
    """(error, high watermark, records bytes) of a raw Fetch of VERSION (4
    or 10) from OFFSET, up to 10 MiB."""
    c = kproto.Conn('127.0.0.1', node.kafka_port)
    try:
        res = kproto.parse_fetch_v4(c.call(kproto.FETCH, version, kproto.fetch_body(
            topic, partition, offset, max_wait_ms=0, version=version)), version)
    finally:
        c.close()
    return res[(topic, partition)]


def stored_batches(node, topic, partition=0, whole=False):
    """The batches of a partition as stored (kproto.batches_parse of a raw
    Fetch v10 from offset 0, up to 10 MiB; WHOLE: fetched on to the high
    watermark)."""
    out, offset = [], 0
    while True:
        err, hw, data = raw_fetch(node, topic, partition, 10, offset)
        assert err == 0, 'fetch error %d' % err
        got = kproto.batches_parse(data)
        out.extend(got)
        if not whole or not got or got[-1]['last_offset'] + 1 >= hw:
            return out
        offset = got[-1]['last_offset'] + 1


def describe_configs_raw(node, rtype, name, wanted=None):
    """kafka-python's DescribeConfigs responses for one resource."""
    admin = admin_client(node)
    try:
        return admin.describe_configs([ConfigResource(rtype, name, configs=wanted)])
    finally:
        admin.close()


def config_sources(node, rtype, name):
    """{name: config_source} of a resource (v0's is_default as 5 or 4)."""
    out = {}
    for resp in describe_configs_raw(node, rtype, name):
        for res in resp.resources:
            for e in res[4]:
                out[e[0]] = (5 if e[3] else 4) if resp.API_VERSION == 0 else e[3]
    return out


def describe_topic_configs(node, topic, names=None):
    """{name: (value, is_default)} of TOPIC through DescribeConfigs."""
    # kafka-python sends the keys of the dict (None = every config).
    wanted = {n: None for n in names} if names is not None else None
    resps = describe_configs_raw(node, ConfigResourceType.TOPIC, topic, wanted)
    out = {}
    for resp in resps:
        # v0 has is_default; v1+ has config_source there (5 = DEFAULT_CONFIG,
        # 4 = STATIC_BROKER_CONFIG; a topic's own setting is 1).
        v0 = resp.API_VERSION == 0
        for res in resp.resources:
            err, msg, rname, entries = res[0], res[1], res[3], res[4]
            if err != 0:
                raise kerr.for_code(err)('describe_configs %s: %s' % (rname, msg))
            for e in entries:
                out[e[0]] = (e[1], bool(e[3]) if v0 else e[3] in (4, 5))
    return out


class KafkaPythonAdmin(NodeTestCase):

    def test_create_100_topics(self):
        node = self.node().start()
        prefix = topic_name('many')
        wanted = {'%s-%03d' % (prefix, i): 1 + i % 4 for i in range(100)}
        admin = admin_client(node)
        try:
            resp = admin.create_topics([NewTopic(n, p, 1) for n, p in wanted.items()],
                                       timeout_ms=60000)
            errs = {t[0]: t[1] for t in resp.topic_errors}
            self.assertEqual(set(errs), set(wanted), 'CreateTopics answered other topics')
            self.assertEqual([n for n, e in errs.items() if e != 0], [],
                             'topics created with errors: %s' % errs)
            listed = set(admin.list_topics())
            self.assertEqual(set(wanted) - listed, set(), 'topics missing from Metadata')
            described = {t['topic']: len(t['partitions'])
                         for t in admin.describe_topics(list(wanted))}
        finally:
            admin.close()
        self.assertEqual(described, wanted, 'partition counts in Metadata')
        raw = list_topics_raw(node)
        self.assertEqual({n: raw.get(n) for n in wanted}, wanted)

    def test_create_topic_errors(self):
        node = self.node().start()
        name = topic_name('dup')
        create_topic(node, name, 2)
        admin = admin_client(node)
        try:
            with self.assertRaises(kerr.TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, 2, 1)], timeout_ms=30000)
            for bad in ('bad name!', '..', 'x' * 250, 'slash/inside'):
                with self.assertRaises(kerr.InvalidTopicError, msg='topic name %r' % bad):
                    admin.create_topics([NewTopic(bad, 1, 1)], timeout_ms=30000)
            with self.assertRaises(kerr.InvalidPartitionsError):
                admin.create_topics([NewTopic(topic_name('zero'), 0, 1)], timeout_ms=30000)
            with self.assertRaises(kerr.InvalidReplicationFactorError):
                admin.create_topics([NewTopic(topic_name('rf3'), 1, 3)], timeout_ms=30000)
            with self.assertRaises(kerr.InvalidConfigurationError):
                admin.create_topics([NewTopic(topic_name('cfg'), 1, 1,
                                              topic_configs={'retention.ms': 'soon'})],
                                    timeout_ms=30000)
            with self.assertRaises(kerr.InvalidConfigurationError):
                admin.create_topics([NewTopic(topic_name('cfg'), 1, 1,
                                              topic_configs={'no.such.config': '1'})],
                                    timeout_ms=30000)
        finally:
            admin.close()
        topics = list_topics_raw(node)
        self.assertEqual(topics.get(name), 2, 'the duplicate create changed the topic')
        self.assertEqual([t for t in topics if t != name and not t.startswith('__')], [],
                         'a refused topic was created anyway')

    def test_acls_security_disabled(self):
        """No authorizer: every ACL call fails with SECURITY_DISABLED (54), as
        on a Kafka broker without authorizer.class.name, not as an unknown API."""
        from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType,
                                 ResourcePattern, ResourcePatternFilter, ResourceType)
        from kafka.admin.acl_resource import ACLResourcePatternType
        node = self.node().start()
        topic = topic_name('acl')
        create_topic(node, topic, 1)
        admin = admin_client(node)
        try:
            filt = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                             permission_type=ACLPermissionType.ANY,
                             resource_pattern=ResourcePatternFilter(
                                 ResourceType.ANY, None, ACLResourcePatternType.ANY))
            with self.assertRaises(kerr.SecurityDisabledError):
                admin.describe_acls(filt)
            acls = [ACL(principal='User:%s' % who, host='*', operation=ACLOperation.READ,
                        permission_type=ACLPermissionType.ALLOW,
                        resource_pattern=ResourcePattern(ResourceType.TOPIC, topic))
                    for who in ('alice', 'bob')]
            res = admin.create_acls(acls)
            self.assertEqual(res['succeeded'], [])
            self.assertEqual([(a.principal, e) for a, e in res['failed']],
                             [('User:alice', kerr.SecurityDisabledError),
                              ('User:bob', kerr.SecurityDisabledError)])
            res = admin.delete_acls([filt])
            self.assertEqual([(f, m, e) for f, m, e in res],
                             [(filt, [], kerr.SecurityDisabledError)])
            # The node still serves the admin client afterwards.
            self.assertIn(topic, admin.list_topics())
        finally:
            admin.close()
        self.assertTrue(node.log_grep('DescribeAcls refused: no authorizer'), node.log_tail())

    def test_create_topic_name_collision(self):
        """Kafka refuses a topic whose name equals an existing one's once '.'
        and '_' are equated (InvalidTopicError), whether created, validated
        only, or auto-created by a Metadata request; other names pass."""
        node = self.node().start()
        base = topic_name('coll').replace('-', '_')
        dotted = base.replace('_', '.', 1)  # coll.<pid>_<n>
        create_topic(node, dotted, 1)
        admin = admin_client(node)
        try:
            for clash in (base, base.replace('_', '.')):
                with self.assertRaises(kerr.InvalidTopicError, msg=clash) as cm:
                    admin.create_topics([NewTopic(clash, 1, 1)], timeout_ms=30000)
                self.assertIn('collides with existing topic: ' + dotted, str(cm.exception))
                with self.assertRaises(kerr.InvalidTopicError, msg=clash):
                    admin.create_topics([NewTopic(clash, 1, 1)], timeout_ms=30000,
                                        validate_only=True)
            # Neither '-' nor a longer name collides; the same name again is
            # TOPIC_ALREADY_EXISTS, not a collision.
            admin.create_topics([NewTopic(dotted.replace('.', '-'), 1, 1),
                                 NewTopic(base + '_x', 1, 1)], timeout_ms=30000)
            with self.assertRaises(kerr.TopicAlreadyExistsError):
                admin.create_topics([NewTopic(dotted, 1, 1)], timeout_ms=30000)
        finally:
            admin.close()
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            _, _, topics = kproto.parse_metadata(
                c.call(3, 4, kproto.metadata_body(4, [base], auto_create=True)), 4)
        finally:
            c.close()
        self.assertEqual(topics[base][0], 17, 'auto-creating a colliding name')
        names = list_topics_raw(node)
        self.assertIn(dotted, names)
        self.assertNotIn(base, names)
        self.assertNotIn(base.replace('_', '.'), names)

    def test_delete_topics(self):
        node = self.node().start()
        name = topic_name('del')
        create_topic(node, name, 2)
        p = producer(node)
        for i in range(20):
            p.send(name, b'v%d' % i, partition=i % 2).get(30)
        p.close()
        admin = admin_client(node)
        try:
            admin.delete_topics([name], timeout_ms=30000)
            self.assertNotIn(name, admin.list_topics())
            with self.assertRaises(kerr.UnknownTopicOrPartitionError):
                admin.delete_topics([name], timeout_ms=30000)
        finally:
            admin.close()
        self.assertNotIn(name, list_topics_raw(node))
        # Metadata v4 without auto-creation names it unknown.
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            _, _, topics = kproto.parse_metadata(c.call(
                kproto.METADATA, 4, kproto.metadata_body(4, [name], auto_create=False)), 4)
        finally:
            c.close()
        self.assertEqual(topics.get(name, (None,))[0], 3, 'Metadata of a deleted topic')
        # The name can be used again and the new topic starts empty.
        create_topic(node, name, 1)
        p = producer(node)
        md = p.send(name, b'again', partition=0).get(30)
        p.close()
        self.assertEqual(md.offset, 0, 'a re-created topic kept the old log')

    def test_create_partitions(self):
        node = self.node().start()
        name = topic_name('grow')
        create_topic(node, name, 1)
        admin = admin_client(node)
        try:
            admin.create_partitions({name: NewPartitions(3)}, timeout_ms=30000)
            wait_topic(node, name, 3)
            with self.assertRaises(kerr.InvalidPartitionsError):
                admin.create_partitions({name: NewPartitions(2)}, timeout_ms=30000)
            with self.assertRaises(kerr.UnknownTopicOrPartitionError):
                admin.create_partitions({topic_name('nosuch'): NewPartitions(2)},
                                        timeout_ms=30000)
        finally:
            admin.close()
        self.assertEqual(list_topics_raw(node).get(name), 3)
        p = producer(node)
        for part in range(3):
            md = p.send(name, b'p%d' % part, partition=part).get(30)
            self.assertEqual((md.partition, md.offset), (part, 0))
        p.close()
        got = read_partition(node, name, 2, 1)
        self.assertEqual([r.value for r in got], [b'p2'])

    def test_topic_configs_roundtrip(self):
        node = self.node().start()
        name = topic_name('cfg')
        configs = {'retention.ms': '3600000', 'segment.bytes': '1048576',
                   'max.message.bytes': '500000', 'retention.bytes': '104857600'}
        create_topic(node, name, 1, configs=configs)
        got = describe_topic_configs(node, name, list(configs))
        self.assertEqual({k: v[0] for k, v in got.items()}, configs)
        self.assertTrue(all(not v[1] for v in got.values()), 'set configs marked default')
        everything = describe_topic_configs(node, name, None)
        for k, v in configs.items():
            self.assertEqual(everything.get(k, (None,))[0], v, 'all-configs describe of ' + k)
        admin = admin_client(node)
        try:
            resp = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name,
                                                       configs={'retention.ms': '7200000'})])
            self.assertEqual([r[0] for r in resp.resources], [0], str(resp))
            resp = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name,
                                                       configs={'retention.ms': 'never'})])
            self.assertEqual([r[0] for r in resp.resources], [40],
                             'an invalid value must be INVALID_CONFIG: %s' % resp)
            resp = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC,
                                                       topic_name('nosuch'),
                                                       configs={'retention.ms': '1'})])
            self.assertEqual([r[0] for r in resp.resources], [3], str(resp))
        finally:
            admin.close()
        after = describe_topic_configs(node, name, None)
        self.assertEqual(after['retention.ms'][0], '7200000')
        # AlterConfigs (not incremental) replaces the whole set: the others
        # are back to their defaults.
        self.assertNotEqual(after.get('segment.bytes', ('x', True))[0], '1048576')
        self.assertTrue(after.get('segment.bytes', ('x', True))[1])

    def test_configs_copied_from_kafka_3(self):
        """The keys a Kafka 3.x topic describes and a copier (MirrorMaker 2,
        Terraform) sets again: message.format.version, local.retention.*,
        remote.storage.enable=false and the throttled-replica lists were
        INVALID_CONFIG; DescribeConfigs with an empty key list (not null)
        answered no configs, where Kafka answers all; an incremental DELETE
        of a key Kafka does not know is no error there."""
        node = self.node().start()
        name = topic_name('copied')
        configs = {'message.format.version': '3.0-IV1', 'local.retention.ms': '-2',
                   'local.retention.bytes': '-2', 'remote.storage.enable': 'false',
                   'leader.replication.throttled.replicas': '',
                   'follower.replication.throttled.replicas': '*', 'retention.ms': '86400000'}
        create_topic(node, name, 1, configs=configs)
        everything = describe_topic_configs(node, name, None)
        self.assertEqual({k: everything[k][0] for k in configs}, configs)
        # DescribeConfigs v0, keys [] (kafka-python sends null for {}).
        c = kproto.Conn(node.host, node.kafka_port, timeout=30)
        try:
            r = kproto.R(c.call(32, 0, bytes(kproto.W().i32(1).i8(2).string(name).i32(0))))
        finally:
            c.close()
        r.i32()  # throttle_time_ms
        res = r.array(lambda x: (x.i16(), x.string(), x.i8(), x.string(), x.array(
            lambda y: (y.string(), y.string(), y.i8(), y.i8(), y.i8()))))
        self.assertEqual({e[0]: e[1] for e in res[0][4]}, {k: v[0] for k, v in everything.items()},
                         'an empty key list asks for every config')
        for key, bad in (('remote.storage.enable', 'true'), ('message.format.version', 'x'),
                         ('leader.replication.throttled.replicas', '0')):
            admin = admin_client(node)
            try:
                resp = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name,
                                                           configs={key: bad})])
            finally:
                admin.close()
            self.assertEqual([r[0] for r in resp.resources], [40], '%s=%s: %s' % (key, bad, resp))
        # IncrementalAlterConfigs v0: DELETE (1) of both keys.
        body = (kproto.W().i32(1).i8(2).string(name).i32(2)
                .string('no.such.key').i8(1).string(None)
                .string('retention.ms').i8(1).string(None).bool(False))
        c = kproto.Conn(node.host, node.kafka_port, timeout=30)
        try:
            r = kproto.R(c.call(44, 0, bytes(body)))
        finally:
            c.close()
        r.i32()  # throttle_time_ms
        self.assertEqual(r.array(lambda x: (x.i16(), x.string(), x.i8(), x.string())),
                         [(0, None, 2, name)])
        after = describe_topic_configs(node, name, None)
        self.assertTrue(after['retention.ms'][1], 'retention.ms back to its default')
        self.assertEqual(after['message.format.version'][0], '3.0-IV1')

    def test_kafka_topic_keys(self):
        """Kafka's other topic keys: segment.ms rolls the active segment, so
        retention frees a quiet topic's old records; the keys whose ask
        already holds are accepted, stored and described; a value chronik
        would not honour is INVALID_CONFIG saying why."""
        node = self.node(env={'CHRONIK_WAL_RETENTION_CHECK_MS': '200'}).start()
        name = topic_name('keys')
        configs = {'segment.ms': '400', 'retention.ms': '1500', 'index.interval.bytes': '100',
                   'compression.type': 'producer', 'flush.messages': '1', 'flush.ms': '0',
                   'delete.retention.ms': '1000', 'min.cleanable.dirty.ratio': '0.1',
                   'min.compaction.lag.ms': '0',
                   'max.compaction.lag.ms': '9223372036854775807',
                   'unclean.leader.election.enable': 'false', 'preallocate': 'true',
                   'file.delete.delay.ms': '0', 'segment.index.bytes': '1048576',
                   'segment.jitter.ms': '0', 'message.downconversion.enable': 'true'}
        create_topic(node, name, 1, configs=configs)
        got = describe_topic_configs(node, name, None)
        self.assertEqual({k: got.get(k, (None,))[0] for k in configs}, configs)
        self.assertEqual(got['cleanup.policy'], ('delete', True))
        admin = admin_client(node)
        try:
            for k, v in (('compression.type', 'brotli'), ('unclean.leader.election.enable', 'true'),
                         ('segment.ms', '0'), ('min.cleanable.dirty.ratio', '2'),
                         ('max.compaction.lag.ms', '100000')):
                with self.assertRaises(kerr.InvalidConfigurationError, msg='%s=%s' % (k, v)):
                    admin.create_topics([NewTopic(topic_name('cfg'), 1, 1,
                                                  topic_configs={k: v})], timeout_ms=30000)
        finally:
            admin.close()
        p = producer(node)
        for i in range(5):
            p.send(name, b'old%d' % i, partition=0).get(30)
        time.sleep(0.6)  # past segment.ms: the next append starts a new segment
        for i in range(5):
            p.send(name, b'new%d' % i, partition=0).get(30)
        p.close()
        t0 = time.monotonic()
        wait_for(lambda: _latest(node, name, 0, -2) >= 5, 20,
                 'retention deleting the rolled segment of the first 5 records')
        sys.stderr.write('log start %d after %.1f s\n' % (_latest(node, name, 0, -2),
                                                          time.monotonic() - t0))
        self.assertEqual(_latest(node, name, 0, -1), 10)

    def test_retention_empties_a_quiet_topic(self):
        """A topic that went quiet loses its records once retention.ms has
        passed for all of them, the active segment's too, as Kafka rolls
        and deletes it: the log is empty at its end (earliest = latest),
        without a new record or segment.ms to close the segment first
        (before, the records stayed until the next append rolled it); the
        broker keeps no removed segment file open (a reader had opened it:
        its disk space was held until the next restart)."""
        node = self.node(env={'CHRONIK_WAL_RETENTION_CHECK_MS': '200'}).start()
        name = topic_name('quiet')
        create_topic(node, name, 1, configs={'retention.ms': '1500'})
        p = producer(node)
        for i in range(5):
            p.send(name, b'old%d' % i, partition=0).get(30)
        self.assertEqual(len(read_partition(node, name, 0, 5)), 5)
        wait_for(lambda: _latest(node, name, 0, -2) == 5, 20,
                 'retention emptying the quiet log')
        frontend = node.child('kafka-frontend')['pid']
        logdir = os.path.join(node.data, 'log', name + '-0')

        def removed_open():
            out = []
            for fd in os.listdir('/proc/%d/fd' % frontend):
                try:
                    target = os.readlink('/proc/%d/fd/%s' % (frontend, fd))
                except OSError:
                    continue
                if target.startswith(logdir) and target.endswith('(deleted)'):
                    out.append(target)
            return out
        wait_for(lambda: not removed_open(), 10, 'removed segment files closed')
        self.assertEqual(_latest(node, name, 0, -1), 5)
        self.assertTrue(node.log_grep('log emptied by retention'), node.log_tail())
        for i in range(2):
            self.assertEqual(p.send(name, b'new%d' % i, partition=0).get(30).offset, 5 + i)
        p.close()
        self.assertEqual([r.value for r in read_partition(node, name, 0, 2)],
                         [b'new0', b'new1'])

    def test_compacted_topic(self):
        """cleanup.policy=compact (Kafka Connect, Schema Registry, Streams
        changelogs need it): accepted; retention leaves such a topic's
        records alone while it deletes a delete-policy twin's; a keyless
        record is INVALID_RECORD and DeleteRecords POLICY_VIOLATION, as in
        Kafka; "compact,delete" brings retention back. An empty policy
        (IncrementalAlterConfigs SUBTRACT of the last item) keeps every
        record, as in Kafka, where it became "delete" (7 days) before."""
        node = self.node(env={'CHRONIK_WAL_RETENTION_CHECK_MS': '200'}).start()
        cmp, dl, keep = topic_name('cmp'), topic_name('del'), topic_name('keep')
        short = {'segment.ms': '300', 'retention.ms': '1000'}
        create_topic(node, cmp, 1, configs=dict(short, **{'cleanup.policy': 'compact'}))
        create_topic(node, dl, 1, configs=short)
        create_topic(node, keep, 1, configs=dict(short, **{'cleanup.policy': 'compact'}))
        self.assertEqual(_alter_configs(node, [(2, keep, [('cleanup.policy', 3, 'compact')])],
                                        incremental=True), [(keep, 0, None)])
        self.assertEqual(describe_topic_configs(node, cmp, ['cleanup.policy']),
                         {'cleanup.policy': ('compact', False)})
        self.assertEqual(describe_topic_configs(node, keep, ['cleanup.policy']),
                         {'cleanup.policy': ('', False)})

        def produce(topic, keyed, n, tag):
            recs = [(b'k%d' % (i % 3) if keyed else None, b'%s%d' % (tag, i), [])
                    for i in range(n)]
            return kproto.parse_produce(kproto.call_once(
                node.kafka_port, kproto.PRODUCE, 7,
                kproto.produce_body(7, -1, 30000, [(0, kproto.record_batch(recs))], topic=topic),
                30000), 7)[(topic, 0)][0]
        for t in (cmp, dl, keep):
            self.assertEqual(produce(t, True, 5, b'old'), 0)
        time.sleep(0.5)  # past segment.ms: the next append rolls
        for t in (cmp, dl, keep):
            self.assertEqual(produce(t, True, 5, b'new'), 0)
        wait_for(lambda: _latest(node, dl, 0, -2) >= 5, 20, 'retention on the delete topic')
        time.sleep(1)  # several more retention rounds
        self.assertEqual(_latest(node, cmp, 0, -2), 0, 'retention deleted compacted records')
        self.assertEqual(_latest(node, keep, 0, -2), 0, 'retention with an empty policy')
        self.assertEqual(produce(keep, False, 2, b'nokey'), 0)  # not compacted: keys optional
        self.assertEqual(kproto.delete_records(node.kafka_port, keep, {0: 3}), {0: (44, -1)})
        self.assertEqual([r.value for r in read_partition(node, cmp, 0, 10)],
                         [b'old%d' % i for i in range(5)] + [b'new%d' % i for i in range(5)])
        # Kafka's rules for compacted topics.
        self.assertEqual(produce(cmp, False, 2, b'nokey'), 87)  # INVALID_RECORD
        self.assertEqual(produce(dl, False, 2, b'nokey'), 0)
        self.assertEqual(_latest(node, cmp, 0, -1), 10, 'a refused batch was written')
        self.assertEqual(kproto.delete_records(node.kafka_port, cmp, {0: 3}), {0: (44, -1)})
        # compact,delete: retention applies again.
        admin = admin_client(node)
        try:
            resp = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, cmp, configs=dict(
                short, **{'cleanup.policy': 'compact,delete'}))])
            self.assertEqual([r[0] for r in resp.resources], [0], str(resp))
        finally:
            admin.close()
        time.sleep(0.5)
        self.assertEqual(produce(cmp, True, 1, b'last'), 0)
        wait_for(lambda: _latest(node, cmp, 0, -2) >= 5, 20,
                 'retention on the compact,delete topic')

    def test_timestamp_bounds(self):
        """message.timestamp.before.max.ms / after.max.ms (and the deprecated
        difference.max.ms they fall back to) refuse a CreateTime record whose
        timestamp lies too far from the broker's clock with INVALID_TIMESTAMP,
        as Kafka does; nothing of a refused batch is written; LogAppendTime
        topics take any timestamp (the broker stamps its own)."""
        node = self.node().start()
        hour = 3600 * 1000
        bounded, diff, lat = topic_name('tsb'), topic_name('tsd'), topic_name('tsl')
        create_topic(node, bounded, 1, configs={'message.timestamp.before.max.ms': str(hour),
                                                'message.timestamp.after.max.ms': str(hour)})
        create_topic(node, diff, 1, configs={'message.timestamp.difference.max.ms': str(hour)})
        create_topic(node, lat, 1, configs={'message.timestamp.type': 'LogAppendTime',
                                            'message.timestamp.before.max.ms': str(hour)})
        self.assertEqual(describe_topic_configs(node, diff, [
            'message.timestamp.difference.max.ms', 'message.timestamp.before.max.ms']),
            {'message.timestamp.difference.max.ms': (str(hour), False),
             'message.timestamp.before.max.ms': ('9223372036854775807', True)})
        prod = producer(node, retries=0, linger_ms=0)
        try:
            now = int(time.time() * 1000)
            for topic in (bounded, diff):
                for ts in (now - 2 * hour, now + 2 * hour):
                    with self.assertRaises(kerr.InvalidTimestampError, msg=(topic, ts)):
                        prod.send(topic, b'far', timestamp_ms=ts).get(timeout=30)
                for ts in (now - hour // 2, now + hour // 2, None):
                    prod.send(topic, b'near', timestamp_ms=ts).get(timeout=30)
            md = prod.send(lat, b'stamped', timestamp_ms=now - 5 * hour).get(timeout=30)
            self.assertGreaterEqual(md.timestamp, now - 60000, 'LogAppendTime not stamped')
        finally:
            prod.close()
        for topic in (bounded, diff):
            self.assertEqual([r.value for r in read_partition(node, topic, 0, 3)],
                             [b'near'] * 3)
            self.assertEqual(_latest(node, topic, 0, -1), 3, 'a refused record was written')
        # A later bound applies to new records only.
        admin = admin_client(node)
        try:
            resp = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, bounded, configs={
                'message.timestamp.before.max.ms': '9223372036854775807'})])
            self.assertEqual([r[0] for r in resp.resources], [0], str(resp))
        finally:
            admin.close()
        prod = producer(node, retries=0, linger_ms=0)
        try:
            wait_for(lambda: _send_ok(prod, bounded, int(time.time() * 1000) - 2 * hour), 20,
                     'the raised bound')
        finally:
            prod.close()

    def test_broker_configs(self):
        """DescribeConfigs of a broker (kafka-configs.sh --entity-type brokers
        --all): the node's settings and the broker default of every topic
        key, with the values a topic without its own setting uses, each
        read-only; AlterConfigs on a broker is INVALID_CONFIG."""
        node = self.node(config_extra='[wal]\nretention_ms = 7200000\n').start()
        admin = admin_client(node)
        try:
            resps = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER,
                                                           str(node.node_id))])
            rows = {}
            for resp in resps:
                for res in resp.resources:
                    self.assertEqual(res[0], 0, str(res))
                    for e in res[4]:
                        self.assertNotIn(e[0], rows, 'listed twice')
                        rows[e[0]] = (e[1], e[2])  # value, read_only
        finally:
            admin.close()
        # Every topic key has its broker default listed.
        topic = topic_name('bc')
        create_topic(node, topic, 1)
        topic_side = describe_topic_configs(node, topic, None)
        self.assertEqual(rows['broker.id'], (str(node.node_id), True))
        self.assertEqual(rows['log.retention.ms'], ('7200000', True))
        self.assertEqual(topic_side['retention.ms'], ('7200000', True))
        for name, value in (('log.cleanup.policy', 'delete'),
                            ('log.message.timestamp.before.max.ms', '9223372036854775807'),
                            ('log.roll.ms', topic_side['segment.ms'][0]),
                            ('message.max.bytes', topic_side['max.message.bytes'][0]),
                            ('log.segment.bytes', topic_side['segment.bytes'][0]),
                            ('unclean.leader.election.enable', 'false'),
                            ('compression.type', 'producer')):
            self.assertEqual(rows.get(name), (value, True), name)
        # Three topic keys have no broker default (remote.storage.enable and
        # the throttled-replica lists), as in Kafka.
        self.assertEqual(len(rows), 8 + len(topic_side) - 3, sorted(rows))
        # Where a value comes from: the node's configuration file
        # (STATIC_BROKER_CONFIG, 4) or nobody (DEFAULT_CONFIG, 5), for the
        # broker and for a topic without its own setting.
        broker_src = config_sources(node, ConfigResourceType.BROKER, str(node.node_id))
        topic_src = config_sources(node, ConfigResourceType.TOPIC, topic)
        self.assertEqual({k: broker_src[k] for k in ('log.retention.ms', 'broker.id',
                                                     'log.roll.ms', 'num.partitions')},
                         {'log.retention.ms': 4, 'broker.id': 4, 'log.roll.ms': 5,
                          'num.partitions': 5})
        self.assertEqual((topic_src['retention.ms'], topic_src['segment.ms']), (4, 5))
        self.assertTrue(all(ro for _, ro in rows.values()), 'a broker row not read-only')
        admin = admin_client(node)
        try:
            resp = admin.alter_configs([ConfigResource(ConfigResourceType.BROKER,
                                                       str(node.node_id),
                                                       configs={'log.retention.ms': '1'})])
            self.assertEqual([r[0] for r in resp.resources], [40], str(resp))  # INVALID_CONFIG
        finally:
            admin.close()

    def test_topic_view_follows_every_change(self):
        """The broker's view of a topic it has answered about before follows
        changes to it, and only to it: configs, partitions, delete and
        re-create under the same name, with other topics changing between."""
        node = self.node().start()
        a, b = topic_name('seen'), topic_name('other')
        create_topic(node, a, 1, configs={'retention.ms': '1000001'})
        create_topic(node, b, 1)

        def alter(topic, value):
            admin = admin_client(node)
            try:
                resp = admin.alter_configs([ConfigResource(
                    ConfigResourceType.TOPIC, topic, configs={'retention.ms': value})])
            finally:
                admin.close()
            self.assertEqual([r[0] for r in resp.resources], [0], str(resp))

        def retention(topic):
            return describe_topic_configs(node, topic, ['retention.ms'])['retention.ms'][0]

        self.assertEqual(retention(a), '1000001')
        self.assertEqual(list_topics_raw(node).get(a), 1)
        for i in range(3):  # other topics change: A keeps its value
            alter(b, str(2000000 + i))
            self.assertEqual(retention(a), '1000001')
            self.assertEqual(retention(b), str(2000000 + i))
        alter(a, '1000002')
        self.assertEqual(retention(a), '1000002')
        admin = admin_client(node)
        try:
            admin.create_partitions({a: NewPartitions(3)}, timeout_ms=30000)
        finally:
            admin.close()
        self.assertEqual(list_topics_raw(node).get(a), 3)
        self.assertEqual(retention(a), '1000002')
        admin = admin_client(node)
        try:
            admin.delete_topics([a], timeout_ms=30000)
        finally:
            admin.close()
        wait_for(lambda: a not in list_topics_raw(node), 30, 'topic deleted')
        with self.assertRaises(kerr.UnknownTopicOrPartitionError):
            retention(a)
        create_topic(node, a, 2, configs={'retention.ms': '1000003'})
        self.assertEqual(list_topics_raw(node).get(a), 2)
        self.assertEqual(retention(a), '1000003')
        p = producer(node)
        md = p.send(a, b'new', partition=1).get(30)
        p.close()
        self.assertEqual((md.partition, md.offset), (1, 0))

    def test_topic_churn_does_not_grow_the_frontend(self):
        """kafka-frontend kept the state of every partition it ever saw,
        deleted or not (~400 bytes each: a job creating and deleting topics
        grew it for ever). Deleted partitions' states are freed: 30,000 more
        partitions created and deleted leave its memory about where the
        first 10,000 left it."""
        asan = os.environ.get('ASAN_OPTIONS', '')
        node = self.node(env={'GLIBC_TUNABLES': 'glibc.malloc.arena_max=1',
                              'ASAN_OPTIONS': asan + (':' if asan else '') +
                              'quarantine_size_mb=0'}).start()
        require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic as CkNewTopic
        admin = AdminClient({'bootstrap.servers': node.bootstrap})

        def rss_kb():
            with open('/proc/%d/status' % node.child('kafka-frontend')['pid']) as f:
                return int(f.read().split('VmRSS:')[1].split()[0])

        def churn(rounds):
            for r in range(rounds):
                names = [topic_name('churn%d-%d' % (r, i)) for i in range(5)]
                for f in admin.create_topics([CkNewTopic(n, 100, 1) for n in names]).values():
                    f.result(30)
                for f in admin.delete_topics(names).values():
                    f.result(30)
            time.sleep(6)  # a sweep of deleted partitions' states
        # The first churn takes what the states of 10,000 partitions need
        # (freed, the memory stays with the process); the next three reuse
        # it (kept, they would take ~4 MB each). RSS moves by a few MB
        # either way as malloc trims: the peak over them is what counts.
        churn(20)
        base = rss_kb()
        peak = 0
        for _ in range(3):
            churn(20)
            peak = max(peak, rss_kb())
        self.assertLess(peak - base, 6144, 'kafka-frontend grew %d KiB over 30,000 more '
                        'partitions created and deleted' % (peak - base))

    def test_many_topics_each_answered_as_itself(self):
        """Past the broker's first 1,024 cached topics (its table grows),
        every topic a request names is answered with its own state: 1,300
        topics, each with its own retention.ms, described after their
        creation, again after one is deleted."""
        from kafka.admin import NewTopic
        node = self.node().start()
        prefix = topic_name('many')
        names = ['%s-%04d' % (prefix, i) for i in range(1300)]
        admin = admin_client(node)
        try:
            for k in range(0, len(names), 100):
                resp = admin.create_topics(
                    [NewTopic(n, 1, 1, topic_configs={'retention.ms': str(5000000 + i)})
                     for i, n in enumerate(names[k:k + 100], start=k)], timeout_ms=60000)
                self.assertEqual([e[1] for e in resp.topic_errors], [0] * 100, str(resp))
        finally:
            admin.close()

        def described(batch):
            admin = admin_client(node)
            try:
                resps = admin.describe_configs([ConfigResource(
                    ConfigResourceType.TOPIC, n, configs={'retention.ms': None})
                    for n in batch])
            finally:
                admin.close()
            out = {}
            for resp in resps:
                for res in resp.resources:
                    err, rname, entries = res[0], res[3], res[4]
                    out[rname] = (err, {e[0]: e[1] for e in entries})
            return out

        def check_all(gone):
            for k in range(0, len(names), 200):
                got = described(names[k:k + 200])
                for i, n in enumerate(names[k:k + 200], start=k):
                    if n in gone:
                        self.assertEqual(got[n][0], 3, n)  # UNKNOWN_TOPIC_OR_PARTITION
                    else:
                        self.assertEqual(got[n], (0, {'retention.ms': str(5000000 + i)}), n)

        check_all(set())
        admin = admin_client(node)
        try:
            admin.delete_topics([names[7]], timeout_ms=30000)
        finally:
            admin.close()
        wait_for(lambda: names[7] not in list_topics_raw(node), 30, 'topic deleted')
        check_all({names[7]})

    def test_max_message_bytes_enforced(self):
        node = self.node().start()
        name = topic_name('small')
        create_topic(node, name, 1, configs={'max.message.bytes': '4096'})
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            big = kproto.record_batch([(None, b'x' * 20000, [])])
            small = kproto.record_batch([(None, b'y' * 100, [])])
            res = kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, 1, 30000, [(0, big)], topic=name)), 7)
            self.assertEqual(res[(name, 0)][0], 10, 'a 20 KB batch on max.message.bytes=4096')
            res = kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, 1, 30000, [(0, small)], topic=name)), 7)
            self.assertEqual(res[(name, 0)], (0, 0), 'the refused batch took an offset')
        finally:
            c.close()


class RawProtocol(NodeTestCase):
    """Broker behaviour clients rely on, checked byte for byte."""

    def test_produce_across_delete_and_create_again(self):
        """A topic deleted and created again at once, under a stream of
        acks=all Produce requests (one record each): a request answered
        with an error stored nothing (its record was found in the new
        topic, so a client resending it wrote it twice), and a request sent
        after the new topic was created and answered without one is in the
        new topic. An append names the topic's incarnation (its id), which
        walwriter checks against its log's."""
        node = self.node().start()
        require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic as CkNewTopic
        admin = AdminClient({'bootstrap.servers': node.bootstrap})
        for it in range(3):
            name = topic_name('again%d' % it)
            create_topic(node, name, 1)
            answers, stop, created = {}, threading.Event(), []

            def shoot():
                c = kproto.Conn('127.0.0.1', node.kafka_port, timeout=30)
                k = 0
                try:
                    while not stop.is_set():
                        value, after = b'r%d' % k, bool(created)
                        k += 1
                        body = kproto.produce_body(3, -1, 10000, [
                            (0, kproto.record_batch([(None, value, [])]))], topic=name)
                        got = kproto.parse_produce(c.call(kproto.PRODUCE, 3, body), 3)
                        answers[value] = (got[(name, 0)][0], after)
                        time.sleep(0.002)
                finally:
                    c.close()
            shooter = threading.Thread(target=shoot, daemon=True)
            shooter.start()
            try:
                time.sleep(0.1)
                admin.delete_topics([name])[name].result(30)
                admin.create_topics([CkNewTopic(name, 1, 1)])[name].result(30)
                created.append(True)
                time.sleep(0.3)
            finally:
                stop.set()
                shooter.join(30)
            self.assertFalse(shooter.is_alive())
            wait_topic(node, name, 1)
            stored = [r[2] for b in stored_batches(node, name, 0, whole=True)
                      for r in b['records']]
            self.assertEqual(len(stored), len(set(stored)), 'each record once')
            errored = [v for v in stored if answers[v][0] != 0]
            self.assertEqual(errored, [], 'records answered with an error but stored')
            acked_after = [v for v, (err, after) in answers.items() if after and err == 0]
            self.assertTrue(acked_after, 'writes to the new topic acknowledged')
            self.assertEqual(sorted(set(acked_after) - set(stored)), [],
                             'acknowledged writes to the new topic missing from it')

    def test_authorized_operations_and_client_names(self):
        """Asked for them, Metadata v8, DescribeCluster and DescribeGroups v3
        list the operations a client may do: with no authorizer, everything
        the resource type supports, as Kafka answers (they said "not
        requested"). ApiVersions v3 refuses a client software name or
        version KIP-511 does not allow (INVALID_REQUEST, the versions still
        listed); DescribeCluster for controllers is MISMATCHED_ENDPOINT_TYPE,
        for an unknown type UNSUPPORTED_ENDPOINT_TYPE."""
        node = self.node().start()
        name = topic_name('ops')
        create_topic(node, name, 1)
        msgs = kschema.load()
        c = kproto.Conn('127.0.0.1', node.kafka_port)

        def call(key, version, body):
            c.corr += 1
            c.send_raw(kschema.request_frame(msgs, key, version, c.corr, body))
            corr, data = c.recv_frame()
            self.assertEqual(corr, c.corr)
            return kschema.decode_response(msgs, key, version, data)

        try:
            w = kproto.W()
            w.i32(1).string(name).bool(False).bool(True).bool(True)
            md = call(kproto.METADATA, 8, bytes(w))
            self.assertEqual(md['ClusterAuthorizedOperations'], 0x1fa0)
            self.assertEqual([(t['Name'], t['ErrorCode'], t['TopicAuthorizedOperations'])
                              for t in md['Topics']], [(name, 0, 0x0df8)])
            w = kproto.W()
            w.i32(1).string(name).bool(False).bool(False).bool(False)
            md = call(kproto.METADATA, 8, bytes(w))
            self.assertEqual(md['ClusterAuthorizedOperations'], -2 ** 31)
            self.assertEqual(md['Topics'][0]['TopicAuthorizedOperations'], -2 ** 31)
            dc = call(60, 0, bytes(kproto.W().bool(True).tags()))
            self.assertEqual((dc['ErrorCode'], dc['ClusterAuthorizedOperations']), (0, 0x1fa0))
            for etype, err in ((1, 0), (2, 114), (7, 115)):
                dc = call(60, 1, bytes(kproto.W().bool(False).i8(etype).tags()))
                self.assertEqual(dc['ErrorCode'], err, etype)
            w = kproto.W()
            w.i32(1).string('no-such-group').bool(True)
            dg = call(15, 3, bytes(w))
            self.assertEqual(dg['Groups'][0]['AuthorizedOperations'], 0x0148)
            for sw, ver, err in (('librdkafka', '2.0.2', 0), ('-x-', '1.0', 42),
                                 ('', '1.0', 42), ('kafka-python', '2.0.2-', 42),
                                 ('a.b-c', '3', 0)):
                av = call(kproto.API_VERSIONS, 3, bytes(kproto.W().cstring(sw).cstring(ver).tags()))
                self.assertEqual(av['ErrorCode'], err, (sw, ver))
                self.assertTrue(any(k['ApiKey'] == 3 for k in av['ApiKeys']))
        finally:
            c.close()

    def test_create_time_batch_header_set_from_records(self):
        """As Kafka's log validator, the broker sets a CreateTime batch's
        maxTimestamp to its records' largest and its timestamp type to
        CreateTime, whatever the client wrote: a batch claiming a max below
        its first record's timestamp is still found by ListOffsets at that
        timestamp, and one flagged LogAppendTime by the client reads with
        its records' own timestamps (plain, gzip, and recompressed to zstd
        by the topic)."""
        node = self.node().start()
        base = int(time.time() * 1000)
        for cfg in ({}, {'compression.type': 'zstd'}):
            name = topic_name('ts')
            create_topic(node, name, 1, configs=cfg)
            recs = [(b'k%d' % i, b'v%d' % i, []) for i in range(3)]
            # Timestamps base, base-3, base-6; the header says base-6.
            low = kproto.record_batch(recs, base_ts=base, ts_step=-3)
            self.assertEqual(struct.unpack('>q', low[35:43])[0], base - 6)
            lat = bytearray(kproto.gzip_batch(recs, base_ts=base + 1000, ts_step=1))
            lat[21:23] = struct.pack('>h', 1 | 8)  # gzip, LogAppendTime
            lat[35:43] = struct.pack('>q', base + 50000)
            lat[17:21] = struct.pack('>I', kproto.crc32c(bytes(lat[21:])))
            c = kproto.Conn('127.0.0.1', node.kafka_port)
            try:
                for b in (low, bytes(lat)):
                    res = kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                        7, 1, 30000, [(0, b)], topic=name)), 7)
                    self.assertEqual(res[(name, 0)][0], 0, cfg)
            finally:
                c.close()
            batches = stored_batches(node, name)
            self.assertEqual([(b['max_ts'], b['attributes'] & 8, b['crc_ok']) for b in batches],
                             [(base, 0, True), (base + 50000, 0, True)], cfg)
            self.assertEqual(kproto.list_offset(node.kafka_port, name, 0, base), (0, 0), cfg)
            got = read_partition(node, name, 0, 6) if not cfg else []
            self.assertEqual([r.timestamp for r in got][3:],
                             [base + 1000, base + 1001, base + 1002] if not cfg else [], cfg)

    def test_fetch_session_epochs(self):
        """The broker holds no fetch sessions (KIP-227): a full fetch (epoch
        0 or -1) is served whatever session id it names, with session id 0
        in the answer; an incremental one (epoch > 0, or < -1) gets
        FETCH_SESSION_ID_NOT_FOUND and no records, session 0 included (as
        Kafka answers a session it does not know)."""
        node = self.node().start()
        name = topic_name('fsess')
        create_topic(node, name, 1)
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            res = kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, 1, 30000, [(0, kproto.record_batch([(None, b'v0', [])]))], topic=name)), 7)
            self.assertEqual(res[(name, 0)][0], 0)
            for sid, epoch, want in ((0, -1, 0), (0, 0, 0), (77, 0, 0), (77, -1, 0),
                                     (0, 1, 70), (0, 5, 70), (77, 3, 70), (0, -2, 70)):
                body = c.call(kproto.FETCH, 10, kproto.fetch_body(name, 0, 0, version=10,
                                                                  session=(sid, epoch)))
                self.assertEqual(kproto.parse_fetch_top(body), (want, 0), (sid, epoch))
                parts = kproto.parse_fetch_v4(body, 10)
                self.assertEqual(bool(parts.get((name, 0), (0, 0, b''))[2]), want == 0,
                                 (sid, epoch))
        finally:
            c.close()

    def test_acks0_gets_no_response(self):
        node = self.node().start()
        name = topic_name('acks0')
        create_topic(node, name, 1)
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            for i in range(3):
                c.send_raw(kproto.request(kproto.PRODUCE, 7, 1000 + i, kproto.produce_body(
                    7, 0, 30000, [(0, kproto.record_batch([(None, b'a0-%d' % i, [])]))],
                    topic=name)))
            c.send_raw(kproto.request(kproto.API_VERSIONS, 0, 2000, b''))
            corr, body = c.recv_frame()
            self.assertEqual(corr, 2000, 'a response came for an acks=0 produce')
        finally:
            c.close()

        def appended():
            return _latest(node, name, 0) == 3
        wait_for(appended, 30, 'the three acks=0 batches appended')

    def test_metadata_by_topic_id(self):
        """Metadata v12 names a topic by its id (Java's describeTopics by
        TopicCollection.ofTopicIds): the id a v12 answer gave finds the
        topic; an unknown id answers UNKNOWN_TOPIC_ID (100) with a null
        name. v10 and v11 carry ids but cannot look one up: a null name
        there is INVALID_REQUEST (42) with an empty name, as in Kafka (the
        response has no null name in those versions; the broker closed the
        connection instead)."""
        node = self.node().start()
        name = topic_name('byid')
        create_topic(node, name, 2)

        def metadata(version, topics):
            w = kproto.W().uvarint(len(topics) + 1)
            for tid, nm in topics:
                w.raw(tid).cstring(nm).tags()
            w.bool(False)  # no auto-creation
            if version <= 10:
                w.bool(False)  # the cluster's authorized operations
            w.bool(False).tags()  # the topics' authorized operations
            return _schema_call(node, kproto.METADATA, version, bytes(w))['Topics']

        zero = bytes(16)
        got = metadata(12, [(zero, name)])
        self.assertEqual([(t['ErrorCode'], t['Name']) for t in got], [(0, name)])
        tid = got[0]['TopicId']
        self.assertNotEqual(tid, zero)
        got = metadata(12, [(tid, None), (b'\x11' * 16, None)])
        self.assertEqual([(t['ErrorCode'], t['Name'], t['TopicId']) for t in got],
                         [(0, name, tid), (100, None, b'\x11' * 16)])
        self.assertEqual(len(got[0]['Partitions']), 2)
        for version in (10, 11):
            got = metadata(version, [(tid, None)])
            self.assertEqual([(t['ErrorCode'], t['Name']) for t in got], [(42, '')],
                             'v%d' % version)

    def test_delete_topics_by_name_or_id(self):
        """DeleteTopics v6 entries name a topic by name or by id, not both:
        a name with a non-zero id, an entry with neither, and an id given
        twice are INVALID_REQUEST (42) and delete nothing, as Kafka's
        controller answers (the name won before and its topic went); an id
        alone deletes its topic."""
        node = self.node().start()
        a, b = topic_name('dt-a'), topic_name('dt-b')
        for t in (a, b):
            create_topic(node, t, 1)

        def topic_id(name):
            w = kproto.W().uvarint(2).raw(bytes(16)).cstring(name).tags()
            w.bool(False).bool(False).tags()
            return _schema_call(node, kproto.METADATA, 12, bytes(w))['Topics'][0]['TopicId']

        def delete(entries):
            w = kproto.W().uvarint(len(entries) + 1)
            for name, tid in entries:
                w.cstring(name).raw(tid).tags()
            w.i32(20000).tags()
            res = _schema_call(node, 20, 6, bytes(w))['Responses']
            return [(r['Name'], r['ErrorCode']) for r in res]
        ida, idb = topic_id(a), topic_id(b)
        self.assertEqual(delete([(a, idb)]), [(a, 42)])
        self.assertEqual(delete([(None, bytes(16))]), [(None, 42)])
        self.assertEqual(delete([(None, idb), (None, idb)]), [(None, 42)])
        self.assertEqual((topic_id(a), topic_id(b)), (ida, idb), 'a topic went')
        self.assertEqual(delete([(None, idb)]), [(b, 0)])
        self.assertEqual(delete([(a, bytes(16))]), [(a, 0)])

    def test_topic_named_twice_answered_once(self):
        """CreateTopics and DeleteTopics naming a topic twice answer it once,
        INVALID_REQUEST (42) "Duplicate topic name.", and leave it alone; the
        other topics are handled as usual, as Kafka's controller answers
        (one result per copy made librdkafka refuse the whole response)."""
        node = self.node().start()
        dup, ok, gone = topic_name('ctdup'), topic_name('ctok'), topic_name('dtok')
        create_topic(node, gone, 1)

        def results(key, body):
            res = _schema_call(node, key, 1, body)
            rows = res['Topics'] if key == kproto.CREATE_TOPICS else res['Responses']
            return [(r['Name'], r['ErrorCode'], r.get('ErrorMessage')) for r in rows]
        body = kproto.create_topics_body([(dup, 1, 1), (ok, 1, 1), (dup, 1, 1)])
        self.assertEqual(results(kproto.CREATE_TOPICS, body),
                         [(dup, 42, 'Duplicate topic name.'), (ok, 0, None)])
        self.assertEqual(list_topics_raw(node).get(ok), 1)
        self.assertNotIn(dup, list_topics_raw(node))
        w = kproto.W().i32(3).string(ok).string(gone).string(ok).i32(20000)
        self.assertEqual(results(20, bytes(w)),
                         [(ok, 42, None), (gone, 0, None)])
        topics = list_topics_raw(node)
        self.assertEqual((ok in topics, gone in topics), (True, False))

    def test_alter_configs_refused_requests(self):
        """AlterConfigs and IncrementalAlterConfigs naming a topic twice
        change nothing of it: every copy is INVALID_REQUEST (42) "Each
        resource must appear at most once." (both were applied in turn); a
        null value is INVALID_REQUEST "Null value not supported for : <key>"
        (AlterConfigs took it for the default and wiped the topic's other
        settings; IncrementalAlterConfigs SET answered INVALID_CONFIG), but
        for an incremental DELETE, as in Kafka."""
        node = self.node().start()
        name, other = topic_name('acdup'), topic_name('acok')
        create_topic(node, name, 1, configs={'retention.ms': '5000'})
        create_topic(node, other, 1)
        dup = (42, 'Each resource must appear at most once.')
        null = (42, 'Null value not supported for : retention.ms')
        got = _alter_configs(node, [(2, name, [('retention.ms', '111')]),
                                    (2, other, [('retention.ms', '7000')]),
                                    (2, name, [('segment.ms', '3333')])])
        self.assertEqual(got, [(name,) + dup, (other, 0, None), (name,) + dup])
        got = _alter_configs(node, [(2, name, [('retention.ms', 0, '222')]),
                                    (2, name, [('segment.ms', 0, '4444')])], True)
        self.assertEqual(got, [(name,) + dup] * 2)
        got = _alter_configs(node, [(2, name, [('segment.ms', '3333'), ('retention.ms', None)])])
        self.assertEqual(got, [(name,) + null])
        for op in (0, 2):
            got = _alter_configs(node, [(2, name, [('retention.ms', op, None)])], True)
            self.assertEqual(got, [(name,) + null], 'op %d' % op)
        self.assertEqual(_alter_configs(node, [(2, other, [('retention.ms', 1, None)])], True),
                         [(other, 0, None)])
        got = describe_topic_configs(node, name, ['retention.ms', 'segment.ms'])
        self.assertEqual(got['retention.ms'], ('5000', False))
        self.assertTrue(got['segment.ms'][1], got)
        self.assertTrue(describe_topic_configs(node, other, ['retention.ms'])['retention.ms'][1])

    def test_configs_of_illegal_topic_names(self):
        """DescribeConfigs, AlterConfigs and IncrementalAlterConfigs of a
        topic whose name breaks Kafka's rules answer INVALID_TOPIC_EXCEPTION
        (17), as Kafka, not UNKNOWN_TOPIC_OR_PARTITION (3, which clients
        retry); the alters of the empty name (every topic's default)
        INVALID_REQUEST (42), as Kafka's controller."""
        node = self.node().start()
        for name in ('bad name', '', '..', 'x' * 300):
            w = kproto.W().i32(1).i8(2).string(name).i32(-1)
            res = _schema_call(node, 32, 0, bytes(w))['Results']
            self.assertEqual([r['ErrorCode'] for r in res], [17], 'describe %r' % name[:12])
            want = 42 if name == '' else 17
            got = _alter_configs(node, [(2, name, [('retention.ms', '5')])])
            self.assertEqual([e for _, e, _ in got], [want], 'alter %r' % name[:12])
            got = _alter_configs(node, [(2, name, [('retention.ms', 0, '5')])], True)
            self.assertEqual([e for _, e, _ in got], [want], 'incremental %r' % name[:12])

    def test_create_partitions_at_once(self):
        """Two CreatePartitions of one topic at the same time (1 -> 3 and
        1 -> 4) are taken one after the other, as by Kafka's controller:
        each succeeds or is INVALID_PARTITIONS (37), and the topic ends
        with 4 partitions. The second one's new partitions were numbered
        from the count before the first, and raftd refused them with
        INVALID_REQUEST (42) "new partitions must be 3..3+k-1"."""
        node = self.node().start()
        conns = [kproto.Conn('127.0.0.1', node.kafka_port, timeout=30) for _ in range(2)]
        try:
            for it in range(15):
                name = topic_name('race%d' % it)
                create_topic(node, name, 1)
                for c, count in zip(conns, (3, 4)):
                    c.corr += 1
                    c.send_raw(kproto.request(37, 1, c.corr, bytes(
                        kproto.W().i32(1).string(name).i32(count).i32(-1).i32(30000)
                        .bool(False))))
                errs = []
                for c in conns:
                    r = kproto.R(c.recv_frame()[1])
                    r.i32()  # throttle
                    errs += [(e, m) for _, e, m in
                             r.array(lambda x: (x.string(), x.i16(), x.string()))]
                self.assertTrue({e for e, _ in errs} <= {0, 37}, errs)
                self.assertEqual(errs[1][0], 0, errs)
                self.assertEqual(list_topics_raw(node).get(name), 4)
        finally:
            for c in conns:
                c.close()

    def test_list_offsets_partition_named_twice(self):
        """ListOffsets v1+ naming a partition twice answers every copy
        INVALID_REQUEST (42), as Kafka; the other partitions as usual."""
        node = self.node().start()
        name = topic_name('lodup')
        create_topic(node, name, 2)
        w = kproto.W().i32(-1).i32(2)
        w.string(name).i32(2).i32(0).i64(-1).i32(1).i64(-1)
        w.string(name).i32(1).i32(0).i64(-2)
        res = _schema_call(node, kproto.LIST_OFFSETS, 1, bytes(w))
        got = [(t['Name'], p['PartitionIndex'], p['ErrorCode'])
               for t in res['Topics'] for p in t['Partitions']]
        self.assertEqual(got, [(name, 0, 42), (name, 1, 0), (name, 0, 42)])

    def test_names_with_a_nul_byte(self):
        """A topic name with a NUL byte names no topic (Kafka's names are
        ASCII letters, digits, '.', '_' and '-'): "T\\0x" must not reach
        topic T. Produce wrote to T and ElectLeaders ran on T, where the
        name was cut at the NUL, and OffsetFetch answered T's committed
        offset; each request below is refused for that name and echoes it,
        and T is untouched."""
        node = self.node().start()
        name = topic_name('nul')
        create_topic(node, name, 1)
        bad = name + '\x00x'
        W = kproto.W
        batch = kproto.record_batch([(None, b'v', [])])
        res = _schema_call(node, kproto.PRODUCE, 3,
                           kproto.produce_body(3, 1, 5000, [(0, batch)], topic=bad))
        self.assertEqual([(t['Name'], [p['ErrorCode'] for p in t['PartitionResponses']])
                          for t in res['Responses']], [(bad, [17])])
        res = _schema_call(node, 43, 1, bytes(W().i8(0).i32(1).string(bad).i32(1).i32(0)
                                               .i32(5000)))
        self.assertEqual([(r['Topic'], [p['ErrorCode'] for p in r['PartitionResult']])
                          for r in res['ReplicaElectionResults']], [(bad, [3])])
        for key, version, body in (
                (kproto.FETCH, 4, kproto.fetch_body(bad, 0, 0)),
                (kproto.DELETE_RECORDS, 0, bytes(W().i32(1).string(bad).i32(1).i32(0).i64(1)
                                                 .i32(5000))),
                (8, 2, bytes(W().string('g').i32(-1).string('').i64(-1).i32(1).string(bad)
                             .i32(1).i32(0).i64(1).string(''))),
                (37, 1, bytes(W().i32(1).string(bad).i32(3).i32(-1).i32(5000).bool(False)))):
            res = _schema_call(node, key, version, body)
            self.assertIn(repr(bad), repr(res), 'api %d: %s' % (key, res))
            self.assertEqual(set(kschema.error_codes(res)), {3}, 'api %d: %s' % (key, res))
        self.assertEqual((_latest(node, name, 0, ts=-2), _latest(node, name, 0)), (0, 0))
        md = _schema_call(node, kproto.METADATA, 4, bytes(W().i32(1).string(name).bool(False)))
        self.assertEqual([len(t['Partitions']) for t in md['Topics']], [1])
        res = _schema_call(node, 9, 1, bytes(W().string('g').i32(1).string(name).i32(1).i32(0)))
        self.assertEqual(res['Topics'][0]['Partitions'][0]['CommittedOffset'], -1)
        # T's committed offset is not "T\\0x"'s (OffsetFetch answered T's).
        res = _schema_call(node, 8, 2, bytes(W().string('g').i32(-1).string('').i64(-1).i32(1)
                                             .string(name).i32(1).i32(0).i64(1).string('')))
        self.assertEqual(kschema.error_codes(res), [])
        for nm, want in ((bad, -1), (name, 1)):
            res = _schema_call(node, 9, 1, bytes(W().string('g').i32(1).string(nm).i32(1)
                                                 .i32(0)))
            self.assertEqual(res['Topics'][0]['Partitions'][0]['CommittedOffset'], want, nm)

    def test_delete_records(self):
        """DeleteRecords (librdkafka's rd_kafka_DeleteRecords, Java's
        deleteRecords): the log start moves, durably; -1 means the high
        watermark; Kafka's errors for the rest."""
        node = self.node().start()
        name = topic_name('delrec')
        create_topic(node, name, 2)
        prod = KafkaProducer(bootstrap_servers=node.bootstrap, acks='all')
        try:
            for i in range(10):
                prod.send(name, b'm%d' % i, partition=0)
            prod.flush(30)
        finally:
            prod.close()
        self.assertEqual(_latest(node, name, 0), 10)
        self.assertEqual(_delete_records(node, name, {0: 4}), {0: (0, 4)})
        self.assertEqual(_latest(node, name, 0, ts=-2), 4)
        consumer = KafkaConsumer(bootstrap_servers=node.bootstrap, consumer_timeout_ms=5000)
        try:
            tp = TopicPartition(name, 0)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            got = [m.value for m in consumer]
        finally:
            consumer.close()
        self.assertEqual(got, [b'm%d' % i for i in range(4, 10)])
        # Below the start: nothing changes; past the high watermark, a
        # partition nobody has, a topic nobody has: Kafka's errors.
        res = _delete_records(node, name, {0: 2, 1: 1, 7: 0}, version=1)
        self.assertEqual(res, {0: (0, 4), 1: (1, -1), 7: (3, -1)})
        self.assertEqual(_delete_records(node, topic_name('nosuch'), {0: 0}), {0: (3, -1)})
        self.assertEqual(_delete_records(node, name, {0: -5})[0][0], 1)
        # -1: up to the high watermark, in the flexible version.
        self.assertEqual(_delete_records(node, name, {0: -1}, version=2), {0: (0, 10)})
        self.assertEqual(node.stop(), 0)
        node.start()
        self.assertEqual(_latest(node, name, 0, ts=-2), 10, 'the deleted records came back')
        self.assertEqual(_latest(node, name, 0), 10)

    def test_describe_log_dirs(self):
        """DescribeLogDirs v0-v4 (kafka-log-dirs.sh, cluster UIs): the node's
        one log directory with each replica's size on disk, filtered as
        asked; a deleted topic's logs gone."""
        node = self.node().start()
        a, b = topic_name('dirs-a'), topic_name('dirs-b')
        create_topic(node, a, 2)
        create_topic(node, b, 1)
        p = producer(node)
        for i in range(100):
            p.send(a, b'x' * 1000, partition=0)
        p.flush(30)
        for version in range(5):
            top, res = kproto.describe_log_dirs(node.kafka_port, version)
            self.assertEqual(top, 0 if version >= 3 else None)
            self.assertEqual(len(res), 1, res)
            err, log_dir, topics, total, usable = res[0]
            self.assertEqual(err, 0)
            self.assertTrue(os.path.isabs(log_dir) and os.path.isdir(log_dir), log_dir)
            self.assertTrue(log_dir.startswith(os.path.realpath(node.data)), log_dir)
            self.assertEqual(sorted(topics[a]), [0, 1])
            self.assertEqual(sorted(topics[b]), [0])
            self.assertFalse([t for t in topics if t not in (a, b)], topics)
            size0, lag, fut = topics[a][0]
            self.assertGreaterEqual(size0, 100 * 1000, 'the 100 KB written to %s[0]' % a)
            self.assertLess(topics[a][1][0], size0)
            self.assertEqual((lag, fut), (0, False))
            if version >= 4:
                self.assertTrue(0 < usable <= total, (usable, total))
            else:
                self.assertEqual((total, usable), (None, None))
        _, res = kproto.describe_log_dirs(node.kafka_port, 2, [(a, [1, 7]), ('nosuch', [0])])
        self.assertEqual(res[0][2], {a: {1: topics[a][1]}})
        _, res = kproto.describe_log_dirs(node.kafka_port, 1, [])
        self.assertEqual(res[0][2], {})
        # A long filter (a look-up per entry, not a scan).
        _, res = kproto.describe_log_dirs(node.kafka_port, 0, [(a, list(range(200000))),
                                                               (b, [0, 0])])
        self.assertEqual({t: sorted(ps) for t, ps in res[0][2].items()}, {a: [0, 1], b: [0]})
        for i in range(100):
            p.send(a, b'y' * 1000, partition=0)
        p.flush(30)
        p.close()
        _, res = kproto.describe_log_dirs(node.kafka_port, 4, [(a, [0])])
        self.assertGreaterEqual(res[0][2][a][0][0], size0 + 100 * 1000)
        admin = admin_client(node)
        try:
            admin.delete_topics([b], timeout_ms=30000)
        finally:
            admin.close()
        wait_for(lambda: b not in kproto.describe_log_dirs(node.kafka_port, 3)[1][0][2], 10,
                 'the deleted topic gone from DescribeLogDirs')

    def test_acks_all_not_enough_replicas(self):
        node = self.node().start()
        name = topic_name('misr')
        create_topic(node, name, 1, configs={'min.insync.replicas': '2'})
        batch = kproto.record_batch([(None, b'x', [])])
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            res = kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, -1, 30000, [(0, batch)], topic=name)), 7)
            self.assertEqual(res[(name, 0)][0], 19, 'acks=all with ISR 1 < min.insync.replicas 2')
            res = kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, 1, 30000, [(0, batch)], topic=name)), 7)
            self.assertEqual(res[(name, 0)], (0, 0), 'acks=1 is not bound by min.insync.replicas')
        finally:
            c.close()

    def test_acks1_seen_by_the_next_read(self):
        """acks=1 on a partition whose leader is alone in the ISR: once the
        answer is in, the records are there for every reader, as in Kafka
        (which moves the high watermark before it answers): a ListOffsets
        sent right after it on another connection names the new end, a
        Fetch of that offset returns it, and kafka-python's end_offsets
        agrees after each send().get()."""
        node = self.node().start()
        name = topic_name('acks1')
        create_topic(node, name, 1)
        prod_c = kproto.Conn('127.0.0.1', node.kafka_port)
        read_c = kproto.Conn('127.0.0.1', node.kafka_port)
        stale = []
        try:
            for i in range(300):
                res = kproto.parse_produce(prod_c.call(kproto.PRODUCE, 7, kproto.produce_body(
                    7, 1, 30000, [(0, kproto.record_batch([(None, b'v%d' % i, [])]))],
                    topic=name)), 7)
                self.assertEqual(res[(name, 0)], (0, i))
                lo = kproto.parse_list_offsets_v1(read_c.call(
                    kproto.LIST_OFFSETS, 1, kproto.list_offsets_body(name, 0, -1)))
                if lo[(name, 0)][0] != 0 or lo[(name, 0)][2] != i + 1:
                    stale.append((i, lo[(name, 0)]))
            parts = kproto.parse_fetch_v4(read_c.call(
                kproto.FETCH, 4, kproto.fetch_body(name, 0, 299)))
        finally:
            prod_c.close()
            read_c.close()
        self.assertEqual(stale, [], 'ListOffsets after an acks=1 answer missed its records')
        self.assertEqual(parts[(name, 0)][1], 300, 'the high watermark a Fetch names')
        prod = producer(node, acks=1)
        cons = consumer(node)
        try:
            tp = TopicPartition(name, 0)
            for i in range(20):
                prod.send(name, b'kp%d' % i, partition=0).get(timeout=30)
                self.assertEqual(cons.end_offsets([tp])[tp], 301 + i)
        finally:
            prod.close()
            cons.close()

    def test_acks1_answered_while_the_hw_stalls(self):
        """With the high watermark stalled (the node's replicator SIGSTOPped),
        acks=1 still answers, with its offset, after at most about a second
        (the append is durable; acks=1 promises no more), and acks=all
        answers REQUEST_TIMED_OUT after its own timeout_ms; once the
        replicator runs again every record is readable and the next
        acks=1 answer is prompt."""
        node = self.node().start()
        name = topic_name('acks1stall')
        create_topic(node, name, 1)
        c = kproto.Conn('127.0.0.1', node.kafka_port)

        def produce(i, acks, timeout_ms=30000):
            t0 = time.monotonic()
            res = kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, acks, timeout_ms, [(0, kproto.record_batch([(None, b'v%d' % i, [])]))],
                topic=name)), 7)
            return res[(name, 0)], time.monotonic() - t0
        try:
            self.assertEqual(produce(0, 1)[0], (0, 0))
            rep = node.child('replicator')['pid']
            os.kill(rep, signal.SIGSTOP)
            try:
                stalled = [produce(1, 1), produce(2, 1), produce(3, -1, 700)]
            finally:
                os.kill(rep, signal.SIGCONT)
            self.assertEqual([r for r, _ in stalled], [(0, 1), (0, 2), (7, -1)],
                             'acks=1 succeeds, acks=all times out (REQUEST_TIMED_OUT)')
            for r, secs in stalled:
                self.assertLess(secs, 10, 'an answer waited %.1f s' % secs)
            self.assertGreater(stalled[2][1], 0.6, 'acks=all answered before its timeout')
            latest = lambda: kproto.parse_list_offsets_v1(c.call(  # noqa: E731
                kproto.LIST_OFFSETS, 1, kproto.list_offsets_body(name, 0, -1)))[(name, 0)]
            wait_for(lambda: latest() == (0, -1, 4), 20, 'the high watermark past all four')
            res, secs = produce(4, 1)
            self.assertEqual(res, (0, 4))
        finally:
            c.close()

    def test_offsets_asked_right_after_create(self):
        """ListOffsets, OffsetForLeaderEpoch and DeleteRecords sent right after CreateTopics
        answers, on the same connection: the node may not have the new
        partitions' state from its replicator yet; it waits for it instead
        of answering NOT_LEADER_OR_FOLLOWER, so a client that does not
        retry gets offset 0."""
        node = self.node().start()
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        errors = []
        try:
            for i in range(30):
                name = topic_name('fresh%d' % i)
                created = kproto.parse_create_topics_v1(c.call(
                    kproto.CREATE_TOPICS, 1, kproto.create_topics_body([(name, 2, 1)])))
                self.assertEqual(created, {name: 0})
                for part in (1, 0):
                    for ts in (-1, -2):
                        lo = kproto.parse_list_offsets_v1(c.call(
                            kproto.LIST_OFFSETS, 1, kproto.list_offsets_body(name, part, ts)))
                        if lo[(name, part)] != (0, -1, 0):
                            errors.append(('ListOffsets', name, part, ts, lo[(name, part)]))
                name = topic_name('fresh-ole%d' % i)
                created = kproto.parse_create_topics_v1(c.call(
                    kproto.CREATE_TOPICS, 1, kproto.create_topics_body([(name, 1, 1)])))
                self.assertEqual(created, {name: 0})
                ole = kproto.parse_offset_for_leader_epoch(c.call(
                    kproto.OFFSET_FOR_LEADER_EPOCH, 2,
                    kproto.offset_for_leader_epoch_body(2, [(name, [(0, -1, 0)])])), 2)
                if ole[(name, 0)] != (0, 0, 0):
                    errors.append(('OffsetForLeaderEpoch', name, ole[(name, 0)]))
                name = topic_name('fresh-dr%d' % i)
                created = kproto.parse_create_topics_v1(c.call(
                    kproto.CREATE_TOPICS, 1, kproto.create_topics_body([(name, 1, 1)])))
                self.assertEqual(created, {name: 0})
                dr = kproto.parse_delete_records(c.call(
                    kproto.DELETE_RECORDS, 0, kproto.delete_records_body(name, {0: -1})))
                if dr != {0: (0, 0)}:
                    errors.append(('DeleteRecords', name, dr))
        finally:
            c.close()
        self.assertEqual(errors, [])

    def test_fetch_and_produce_errors(self):
        node = self.node().start()
        name = topic_name('errs')
        create_topic(node, name, 1)
        batch = kproto.record_batch([(None, b'v%d' % i, []) for i in range(5)])
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            res = kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, 1, 30000, [(0, batch), (9, batch)], topic=name)), 7)
            self.assertEqual(res[(name, 0)], (0, 0))
            self.assertEqual(res[(name, 9)][0], 3, 'produce to partition 9 of a 1-partition topic')
            missing = topic_name('missing')
            res = kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, 1, 30000, [(0, batch)], topic=missing)), 7)
            # Kafka answers UNKNOWN_TOPIC_OR_PARTITION; chronik may
            # auto-create on produce (CLIENTS.md): then it must really exist.
            self.assertIn(res[(missing, 0)], ((3, -1), (0, 0)), 'produce to an unknown topic')
            if res[(missing, 0)][0] == 0:
                self.assertIn(missing, list_topics_raw(node))
            for off, want in ((0, 0), (5, 0), (6, 1), (1 << 40, 1), (-7, 1)):
                res = kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(
                    name, 0, off, max_wait_ms=0)))
                err, hw, _ = res[(name, 0)]
                self.assertEqual(err, want, 'fetch at offset %d: error' % off)
                if want == 0:
                    self.assertEqual(hw, 5, 'fetch at offset %d: high watermark' % off)
            res = kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(
                name, 0, 3, max_wait_ms=0)))
            recs = [r for b in kproto.batches_parse(res[(name, 0)][2]) for r in b['records']
                    if r[0] >= 3]
            self.assertEqual([(r[0], r[2]) for r in recs], [(3, b'v3'), (4, b'v4')])
            res = kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(
                name, 3, 0, max_wait_ms=0)))
            self.assertEqual(res[(name, 3)][0], 3, 'fetch of an unknown partition')
            # No partitions: nothing to wait for, answered at once as in
            # Kafka (it waited out max_wait_ms).
            start = time.monotonic()
            body = c.call(kproto.FETCH, 4, bytes(kproto.W().i32(-1).i32(20000).i32(1)
                                                 .i32(1 << 20).i8(0).i32(0)))
            self.assertLess(time.monotonic() - start, 10, 'a fetch of nothing waited')
            self.assertEqual(kproto.parse_fetch_v4(body), {})
        finally:
            c.close()

    def test_pipelined_responses_in_order(self):
        """Clients pipeline and match responses by order (kafka-python
        raises CorrelationIdError otherwise): a slow acks=all Produce must
        not be overtaken by the ApiVersions sent after it."""
        node = self.node().start()
        name = topic_name('pipe')
        create_topic(node, name, 2)
        c = kproto.Conn('127.0.0.1', node.kafka_port, timeout=60)
        sent = []
        try:
            frames = []
            for i in range(60):
                corr = 5000 + i
                kind = i % 5
                if kind == 0:
                    body = kproto.produce_body(7, -1, 30000, [(i % 2, kproto.record_batch(
                        [(None, b'p%d' % i, [])] * 20))], topic=name)
                    frames.append(kproto.request(kproto.PRODUCE, 7, corr, body))
                elif kind == 1:
                    frames.append(kproto.request(kproto.API_VERSIONS, 0, corr, b''))
                elif kind == 2:
                    frames.append(kproto.request(kproto.METADATA, 1, corr,
                                                 kproto.metadata_body(1, [name])))
                elif kind == 3:
                    frames.append(kproto.request(kproto.FETCH, 4, corr, kproto.fetch_body(
                        name, 0, 0, max_wait_ms=200, min_bytes=1 << 20)))
                else:
                    frames.append(kproto.request(kproto.LIST_OFFSETS, 1, corr,
                                                 kproto.list_offsets_body(name, 1, -1)))
                sent.append(corr)
            c.send_raw(b''.join(frames))
            got = [c.recv_frame()[0] for _ in sent]
        finally:
            c.close()
        self.assertEqual(got, sent, 'responses out of request order')
        self.assertEqual(_latest(node, name, 0) + _latest(node, name, 1), 12 * 20)

    def test_metadata_shape(self):
        """What every client reads first: brokers with the advertised
        address, a controller, a cluster id, partition leaders."""
        node = self.node().start()
        name = topic_name('md')
        create_topic(node, name, 3)
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            for ver in (1, 4, 5, 7, 8):
                brokers, controller, topics = kproto.parse_metadata(c.call(
                    kproto.METADATA, ver, kproto.metadata_body(ver, [name])), ver)
                self.assertEqual([(b[0], b[1], b[2]) for b in brokers],
                                 [(1, '127.0.0.1', node.kafka_port)], 'v%d brokers' % ver)
                self.assertEqual(controller, 1, 'v%d controller' % ver)
                self.assertEqual(topics[name][0], 0)
                self.assertEqual(sorted(topics[name][1].items()),
                                 [(p, (0, 1)) for p in range(3)], 'v%d partitions' % ver)
            _, _, topics = kproto.parse_metadata(c.call(
                kproto.METADATA, 0, kproto.metadata_body(0, [])), 0)
            self.assertIn(name, topics, 'Metadata v0 with no topics must list all')
            _, _, topics = kproto.parse_metadata(c.call(
                kproto.METADATA, 4, kproto.metadata_body(4, [])), 4)
            self.assertEqual(topics, {}, 'Metadata v1+ with an empty list must list none')
        finally:
            c.close()

    def test_metadata_past_a_megabyte(self):
        """A Metadata answer far larger than its request: two topics of
        10,000 partitions each (~1.4 MB on the wire, more decoded) are listed
        whole, by raw requests for every topic or for one, and by
        kafka-python, and the connection stays usable."""
        node = self.node().start()
        names = [topic_name('wide'), topic_name('wider')]
        parts = 10000
        admin = admin_client(node)
        try:
            resp = admin.create_topics([NewTopic(n, parts, 1) for n in names], timeout_ms=60000)
            self.assertEqual([e[1] for e in resp.topic_errors], [0, 0], str(resp))
        finally:
            admin.close()
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            for ver, want in ((1, None), (8, None), (8, names[1:])):
                _, _, topics = kproto.parse_metadata(c.call(
                    kproto.METADATA, ver, kproto.metadata_body(ver, want)), ver)
                for n in want or names:
                    self.assertEqual(topics[n][0], 0, 'v%d %s' % (ver, n))
                    self.assertEqual(sorted(topics[n][1].items()),
                                     [(p, (0, 1)) for p in range(parts)], 'v%d %s' % (ver, n))
        finally:
            c.close()
        cons = consumer(node)
        try:
            for n in names:
                self.assertEqual(cons.partitions_for_topic(n), set(range(parts)), n)
        finally:
            cons.close()


def _latest(node, topic, p, ts=-1):
    return kproto.list_offset(node.kafka_port, topic, p, ts)[1]


def _schema_call(node, key, version, body):
    """One request on a fresh connection; its response decoded by kschema."""
    msgs = kschema.load()
    c = kproto.Conn('127.0.0.1', node.kafka_port)
    try:
        c.corr += 1
        c.send_raw(kschema.request_frame(msgs, key, version, c.corr, body))
        corr, data = c.recv_frame()
    finally:
        c.close()
    if corr != c.corr:
        raise AssertionError('correlation id %d, sent %d' % (corr, c.corr))
    return kschema.decode_response(msgs, key, version, data)


def _alter_configs(node, resources, incremental=False):
    """[(name, error, message)] of an AlterConfigs v0 (RESOURCES =
    [(type, name, [(key, value)])]) or IncrementalAlterConfigs v0
    ([(type, name, [(key, op, value)])]) request; values may be None."""
    w = kproto.W().i32(len(resources))
    for rtype, name, configs in resources:
        w.i8(rtype).string(name).i32(len(configs))
        for c in configs:
            w.string(c[0])
            if incremental:
                w.i8(c[1])
            w.string(c[-1])
    w.bool(False)
    res = _schema_call(node, 44 if incremental else 33, 0, bytes(w))['Responses']
    return [(r['ResourceName'], r['ErrorCode'], r['ErrorMessage']) for r in res]


def _send_ok(prod, topic, ts):
    try:
        prod.send(topic, b'ok', timestamp_ms=ts).get(timeout=30)
        return True
    except kerr.InvalidTimestampError:
        return False


def _delete_records(node, topic, offsets, version=0):
    return kproto.delete_records(node.kafka_port, topic, offsets, version)


class KafkaPythonClients(NodeTestCase):

    def test_broker_compression_type(self):
        """[kafka] compression_type (here from CHRONIK_KAFKA_COMPRESSION_TYPE)
        is the compression.type of topics without their own, as Kafka's
        broker compression.type: described as the default, batches of a
        plain producer stored gzip; a topic set to producer keeps them as
        sent."""
        node = self.node(env={'CHRONIK_KAFKA_COMPRESSION_TYPE': 'gzip'}).start()
        plain, own = topic_name('bcz'), topic_name('bcp')
        create_topic(node, plain, 1)
        create_topic(node, own, 1, configs={'compression.type': 'producer'})
        self.assertEqual(describe_topic_configs(node, plain, ['compression.type']),
                         {'compression.type': ('gzip', True)})
        p = producer(node)
        try:
            for name in (plain, own):
                for i in range(20):
                    p.send(name, b'v%d' % i, key=b'k').get(30)
        finally:
            p.close()
        self.assertEqual(set(b['codec'] for b in stored_batches(node, plain)), {1})
        self.assertEqual(set(b['codec'] for b in stored_batches(node, own)), {0})
        got = read_partition(node, plain, 0, 20)
        self.assertEqual([r.value for r in got], [b'v%d' % i for i in range(20)])

    def test_topic_compression_type(self):
        """A topic whose compression.type names a codec stores every batch
        with it, recompressing on the broker whatever the producer used, as
        Kafka does (a raw Fetch sees the codec): producers of every codec,
        idempotent, write 1,000 records; confluent-kafka reads back keys,
        values, headers and timestamps as sent, kafka-python too where it
        has the codec (none, gzip), and a Fetch older than v10 of the zstd
        topic is UNSUPPORTED_COMPRESSION_TYPE; changing the key to producer
        keeps the next batches as sent."""
        ck = require_module('confluent_kafka')
        node = self.node().start()

        def stored_codecs(topic):
            return [b['codec'] for b in stored_batches(node, topic)]

        every = ('none', 'gzip', 'snappy', 'lz4', 'zstd')
        producers = {codec: ck.Producer({'bootstrap.servers': node.bootstrap, 'linger.ms': 5,
                                         'compression.codec': codec,
                                         'enable.idempotence': True})
                     for codec in every}

        def produce(topic, codecs, sent, per=200):
            for codec in codecs:
                errs = []
                p = producers[codec]
                p.list_topics(topic, timeout=30)  # else its first send waits ~1 s for it
                for _ in range(per):
                    n = len(sent)
                    key = None if n % 7 == 0 else b'key-%d' % n
                    value = (b'%s value %d ' % (codec.encode(), n)) * (n % 5 + 1)
                    hdrs = [('n', b'%d' % n)] if n % 3 else []
                    p.produce(topic, value, key, partition=0, headers=hdrs,
                              timestamp=1700000000000 + n,
                              on_delivery=lambda e, m: errs.append(e) if e else None)
                    sent.append((key, value, hdrs, 1700000000000 + n))
                self.assertEqual(p.flush(60), 0)
                self.assertEqual(errs, [], '%s into %s' % (codec, topic))

        def read_back(topic, count):
            c = ck.Consumer({'bootstrap.servers': node.bootstrap, 'group.id': 'cz',
                             'enable.auto.commit': False})
            got = []
            try:
                c.assign([ck.TopicPartition(topic, 0, 0)])
                deadline = time.monotonic() + 60
                while len(got) < count and time.monotonic() < deadline:
                    m = c.poll(1)
                    if m is not None and m.error() is None:
                        got.append((m.key(), m.value(), list(m.headers() or []),
                                    m.timestamp()[1]))
            finally:
                c.close()
            return got

        for target, code in (('zstd', 4), ('uncompressed', 0), ('gzip', 1), ('lz4', 3),
                             ('snappy', 2)):
            name = topic_name('cz' + target)
            create_topic(node, name, 1, configs={'compression.type': target})
            self.assertEqual(describe_topic_configs(node, name, ['compression.type']),
                             {'compression.type': (target, False)})
            sent = []
            produce(name, every, sent)
            codecs = stored_codecs(name)
            self.assertEqual(set(codecs), {code}, 'batches stored in %s' % target)
            # Fetch v4-9 predate zstd (KIP-110): Kafka answers
            # UNSUPPORTED_COMPRESSION_TYPE (76) for a zstd topic.
            self.assertEqual(raw_fetch(node, name, 0, 4)[0], 76 if code == 4 else 0, target)
            self.assertGreaterEqual(len(codecs), len(every))
            self.assertEqual(read_back(name, len(sent)), sent, target)
            if code in (0, 1):
                got = read_partition(node, name, 0, len(sent))
                self.assertEqual([(r.key, r.value, r.timestamp) for r in got],
                                 [(k, v, ts) for k, v, _, ts in sent], target)
        # Back to producer: what follows is stored as sent.
        admin = admin_client(node)
        try:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name,
                                                configs={'compression.type': 'producer'})])
        finally:
            admin.close()
        before = len(stored_codecs(name))
        produce(name, ('gzip',), sent, per=50)
        self.assertEqual(set(stored_codecs(name)[before:]), {1})
        self.assertEqual(read_back(name, len(sent)), sent)

    def test_recompression_keeps_each_partitions_order(self):
        """Recompression runs beside the broker's event loop (on its worker
        thread): a partition's batches still go to the log in the order
        they came. Two lz4 producers, five requests in flight each and no
        retries, write 3,000 hard-to-compress records into two partitions
        of a topic whose compression.type flips between gzip (recompressed)
        and producer (stored as sent) every 10 ms meanwhile: every record
        is acknowledged, and each partition holds each producer's records
        once, in the order sent (a batch stored as sent must not overtake
        one of its partition still being recompressed)."""
        ck = require_module('confluent_kafka')
        node = self.node().start()
        name = topic_name('czorder')
        create_topic(node, name, 2, configs={'compression.type': 'gzip'})
        N = 1500  # records per producer
        stop = threading.Event()
        flips = []

        def flip():
            admin = admin_client(node)
            try:
                while not stop.is_set():
                    value = 'producer' if len(flips) % 2 == 0 else 'gzip'
                    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name,
                                                        configs={'compression.type': value})])
                    flips.append(value)
                    time.sleep(0.01)
            finally:
                admin.close()

        flipper = threading.Thread(target=flip, daemon=True)
        flipper.start()
        errs = []
        try:
            prods = [ck.Producer({'bootstrap.servers': node.bootstrap, 'linger.ms': 5,
                                  'compression.codec': 'lz4', 'retries': 0,
                                  'max.in.flight.requests.per.connection': 5,
                                  'batch.size': 1000000}) for _ in range(2)]
            seen = 0
            for n in range(N):
                if n % 150 == 0:
                    # Production spans flips, however fast either side runs.
                    wait_for(lambda: len(flips) > seen, 30, 'compression.type flipped')
                    seen = len(flips)
                for i, p in enumerate(prods):
                    value = (b'%d:%d:' % (i, n)) + os.urandom(5000 + (n % 13) * 1000)
                    while True:
                        try:
                            p.produce(name, value, partition=n % 2,
                                      on_delivery=lambda e, m: errs.append(e) if e else None)
                            break
                        except BufferError:
                            p.poll(0.05)
                    p.poll(0)
            for p in prods:
                self.assertEqual(p.flush(120), 0)
        finally:
            stop.set()
            flipper.join(60)
        self.assertEqual(errs, [])
        self.assertGreater(len(flips), 4, 'compression.type flipped while producing')
        codecs = {b['codec'] for part in (0, 1)
                  for b in stored_batches(node, name, part, whole=True)}
        # librdkafka sends batches lz4 does not shrink uncompressed.
        self.assertIn(1, codecs, 'batches recompressed with gzip')
        self.assertTrue(codecs & {0, 3}, 'batches stored as sent')
        c = ck.Consumer({'bootstrap.servers': node.bootstrap, 'group.id': 'czorder',
                         'enable.auto.commit': False})
        got = {0: [], 1: []}
        try:
            c.assign([ck.TopicPartition(name, part, 0) for part in (0, 1)])
            deadline = time.monotonic() + 120
            while sum(map(len, got.values())) < 2 * N and time.monotonic() < deadline:
                m = c.poll(1)
                if m is not None and m.error() is None:
                    i, n = m.value().split(b':')[:2]
                    got[m.partition()].append((int(i), int(n)))
        finally:
            c.close()
        for part in (0, 1):
            for i in (0, 1):
                self.assertEqual([n for j, n in got[part] if j == i],
                                 list(range(part, N, 2)), 'producer %d, partition %d'
                                 % (i, part))

    def test_producer_autocreates_topic(self):
        node = self.node(env={'CHRONIK_NUM_PARTITIONS': '4'}).start()
        name = topic_name('auto')
        self.assertNotIn(name, list_topics_raw(node))
        p = producer(node)
        try:
            md = p.send(name, b'first', key=b'k').get(60)
        finally:
            p.close()
        self.assertEqual((md.topic, md.offset), (name, 0))
        self.assertIn(md.partition, range(4))
        wait_topic(node, name, 4)

    def test_producer_new_topic_partition0_offset0(self):
        node = self.node(env={'CHRONIK_NUM_PARTITIONS': '4'}).start()
        name = topic_name('new')
        p = producer(node)
        try:
            md = p.send(name, b'hello', partition=0).get(60)
        finally:
            p.close()
        self.assertEqual((md.topic, md.partition, md.offset), (name, 0, 0))
        got = read_partition(node, name, 0, 1)
        self.assertEqual([r.value for r in got], [b'hello'])

    def test_consumer_manual_assignment(self):
        node = self.node().start()
        name = topic_name('assign')
        create_topic(node, name, 2)
        p = producer(node, linger_ms=5)
        sent = {0: [], 1: []}
        futs = []
        for i in range(1000):
            part = i % 2
            key = None if i % 7 == 0 else b'key-%d' % i
            value = b'' if i % 11 == 0 else (b'value-%d-' % i) * (i % 50)
            headers = [('n', b'%d' % i)] if i % 3 == 0 else []
            futs.append(p.send(name, value, key=key, partition=part, headers=headers))
            sent[part].append((key, value, headers))
        for f in futs:
            f.get(60)
        p.close()
        for part in (0, 1):
            got = read_partition(node, name, part, len(sent[part]))
            self.assertEqual(len(got), len(sent[part]), 'partition %d count' % part)
            self.assertEqual([r.offset for r in got], list(range(len(sent[part]))))
            self.assertEqual([(r.key, r.value, list(r.headers)) for r in got], sent[part])
        c = consumer(node)
        try:
            tps = [TopicPartition(name, 0), TopicPartition(name, 1)]
            self.assertEqual(c.end_offsets(tps), {tps[0]: 500, tps[1]: 500})
            c.assign([tps[1]])
            c.seek(tps[1], 490)
            got = []
            deadline = time.monotonic() + 30
            while len(got) < 10 and time.monotonic() < deadline:
                for recs in c.poll(timeout_ms=1000).values():
                    got.extend(recs)
            self.assertEqual([r.offset for r in got], list(range(490, 500)))
        finally:
            c.close()

    def test_pinned_old_api_versions(self):
        """kafka-python pinned to an old broker version (api_version=..., as
        many applications still do) speaks Produce v1/v2 with message sets
        of magic 0/1 and Fetch v1-v3: its writes are stored as v2 batches
        every client reads, and it reads back what it and a new client
        wrote, keys, values, timestamps and all."""
        node = self.node().start()
        modern = producer(node)
        for ver in ((0, 9), (0, 10), (0, 10, 1), (0, 11)):
            name = topic_name('old%s' % ''.join(map(str, ver)))
            create_topic(node, name, 1)
            sent = []
            for codec in (None, 'gzip'):
                p = producer(node, api_version=ver, compression_type=codec, linger_ms=20)
                try:
                    futs = []
                    for i in range(150):
                        n = len(sent)
                        key = None if n % 9 == 0 else b'k%d' % n
                        value = None if n % 13 == 5 and key else b'value-%d' % n * (n % 7)
                        futs.append(p.send(name, value, key=key, timestamp_ms=1700000000000 + n))
                        sent.append((key, value, 1700000000000 + n if ver >= (0, 10) else None))
                    offsets = [f.get(60).offset for f in futs]
                finally:
                    p.close()
                self.assertEqual(offsets, list(range(len(sent) - 150, len(sent))),
                                 'api_version %s %s: offsets acknowledged' % (ver, codec))
            # Stored as v2 batches, the gzip ones compressed with gzip.
            batches = stored_batches(node, name)
            self.assertEqual(sum(b['last_offset'] - b['base_offset'] + 1 for b in batches), 300)
            self.assertEqual(set(b['codec'] for b in batches if b['base_offset'] >= 150), {1},
                             'api_version %s: codec of the gzip batches' % (ver,))
            modern.send(name, b'new', key=b'n', timestamp_ms=1700000009999,
                        headers=[('h', b'x')]).get(60)
            sent.append((b'n', b'new', 1700000009999))
            # A current client sees the records as written (v0 had no
            # timestamps: -1 stored).
            got = read_partition(node, name, 0, len(sent))
            self.assertEqual([(r.key, r.value) for r in got], [s[:2] for s in sent],
                             'api_version %s: read back by a current client' % (ver,))
            self.assertEqual([r.timestamp for r in got],
                             [s[2] if s[2] is not None else -1 for s in sent])
            # The pinned client reads everything, the current client's
            # record too (its header has no place in magic 0/1).
            c = consumer(node, api_version=ver)
            try:
                tp = TopicPartition(name, 0)
                c.assign([tp])
                c.seek(tp, 100)
                old = []
                deadline = time.monotonic() + 30
                while len(old) < len(sent) - 100 and time.monotonic() < deadline:
                    for recs in c.poll(timeout_ms=1000).values():
                        old.extend(recs)
            finally:
                c.close()
            self.assertEqual([(r.offset, r.key, r.value) for r in old],
                             [(i, s[0], s[1]) for i, s in enumerate(sent) if i >= 100],
                             'api_version %s: read back by the pinned client' % (ver,))
            if ver >= (0, 10):
                self.assertEqual([r.timestamp for r in old], [s[2] for s in sent[100:]])
        modern.close()

    def test_list_offsets(self):
        node = self.node().start()
        name = topic_name('offsets')
        create_topic(node, name, 1)
        tp = TopicPartition(name, 0)
        c = consumer(node)
        try:
            self.assertEqual(c.beginning_offsets([tp]), {tp: 0})
            self.assertEqual(c.end_offsets([tp]), {tp: 0})
            base = int(time.time() * 1000) - 3600 * 1000
            p = producer(node)
            for i in range(10):
                p.send(name, b'm%d' % i, partition=0, timestamp_ms=base + i * 1000).get(30)
            p.close()
            self.assertEqual(c.beginning_offsets([tp]), {tp: 0})
            self.assertEqual(c.end_offsets([tp]), {tp: 10})
            res = c.offsets_for_times({tp: base + 4500})[tp]
            self.assertIsNotNone(res, 'no offset for a timestamp inside the log')
            self.assertEqual((res.offset, res.timestamp), (5, base + 5000))
            res = c.offsets_for_times({tp: base - 10000})[tp]
            self.assertEqual((res.offset, res.timestamp), (0, base))
            res = c.offsets_for_times({tp: base + 9000})[tp]
            self.assertEqual((res.offset, res.timestamp), (9, base + 9000))
            self.assertIsNone(c.offsets_for_times({tp: base + 60000})[tp],
                              'a timestamp after the last record must give no offset')
            # Inside one compressed batch: the record itself, not the
            # batch's first (its records are decompressed, as Kafka does).
            for codec, batch in (('gzip', kproto.gzip_batch), ('zstd', kproto.zstd_batch)):
                zname = topic_name('offsets-' + codec)
                create_topic(node, zname, 1)
                ztp = TopicPartition(zname, 0)
                recs = [(None, b'm%d' % i, []) for i in range(10)]
                res = kproto.parse_produce(kproto.call_once(
                    node.kafka_port, kproto.PRODUCE, 7, kproto.produce_body(
                        7, -1, 30000, [(0, batch(recs, base_ts=base, ts_step=1000))],
                        topic=zname), 30000), 7)
                self.assertEqual(res[(zname, 0)], (0, 0))
                res = c.offsets_for_times({ztp: base + 4500})[ztp]
                self.assertEqual((res.offset, res.timestamp), (5, base + 5000), codec)
                res = c.offsets_for_times({ztp: base + 9000})[ztp]
                self.assertEqual((res.offset, res.timestamp), (9, base + 9000), codec)
        finally:
            c.close()
        # Unknown partition.
        conn = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            res = kproto.parse_list_offsets_v1(conn.call(kproto.LIST_OFFSETS, 1,
                                                         kproto.list_offsets_body(name, 7, -1)))
        finally:
            conn.close()
        self.assertEqual(res[(name, 7)][0], 3)

    def test_long_poll_consumer(self):
        node = self.node().start()
        name = topic_name('lp')
        create_topic(node, name, 1)
        tp = TopicPartition(name, 0)
        c = consumer(node, fetch_max_wait_ms=20000)
        got = []
        ready = threading.Event()

        def wait_one():
            c.assign([tp])
            c.seek_to_end(tp)
            c.position(tp)
            ready.set()
            deadline = time.monotonic() + 60
            while not got and time.monotonic() < deadline:
                for recs in c.poll(timeout_ms=500).values():
                    for r in recs:
                        got.append((time.monotonic(), r.value))
        t = threading.Thread(target=wait_one)
        t.start()
        try:
            self.assertTrue(ready.wait(60))
            time.sleep(2)
            p = producer(node, acks=1)
            p.send(name, b'late', partition=0).get(30)
            sent_at = time.monotonic()
            p.close()
            t.join(60)
        finally:
            t.join(60)
            c.close()
        self.assertEqual([v for _, v in got], [b'late'])
        # A consumer that is not woken by new data waits out its 20 s.
        self.assertLess(got[0][0] - sent_at, 8.0,
                        'a waiting consumer got the message %.1fs after it was acknowledged'
                        % (got[0][0] - sent_at))

    def test_long_poll_raw_fetch(self):
        node = self.node().start()
        name = topic_name('lpraw')
        create_topic(node, name, 1)
        c = kproto.Conn('127.0.0.1', node.kafka_port, timeout=30)
        try:
            # Nothing arrives: the broker holds the fetch for max_wait_ms.
            t0 = time.monotonic()
            res = kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(
                name, 0, 0, max_wait_ms=1500, min_bytes=1)))
            waited = time.monotonic() - t0
            self.assertEqual(res[(name, 0)][0], 0)
            self.assertEqual(res[(name, 0)][2], b'')
            self.assertGreater(waited, 1.0, 'an empty fetch with max_wait_ms=1500 came back '
                               'after %.2fs' % waited)
            # Data arrives while it waits: answered soon after, with the data.
            result = {}

            def produce_later():
                time.sleep(1.5)
                p = kproto.Conn('127.0.0.1', node.kafka_port)
                try:
                    result['produce'] = kproto.parse_produce(p.call(
                        kproto.PRODUCE, 7, kproto.produce_body(
                            7, 1, 30000, [(0, kproto.record_batch([(None, b'wake', [])]))],
                            topic=name)), 7)
                    result['at'] = time.monotonic()
                finally:
                    p.close()
            t = threading.Thread(target=produce_later)
            t0 = time.monotonic()
            t.start()
            res = kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(
                name, 0, 0, max_wait_ms=20000, min_bytes=1)))
            done = time.monotonic()
            t.join(30)
        finally:
            c.close()
        self.assertEqual(result.get('produce', {}).get((name, 0)), (0, 0))
        err, hw, data = res[(name, 0)]
        self.assertEqual((err, hw), (0, 1))
        recs = [r for b in kproto.batches_parse(data) for r in (b['records'] or [])]
        self.assertEqual([(r[0], r[2]) for r in recs], [(0, b'wake')])
        self.assertGreater(done - t0, 1.0, 'the fetch did not wait for data')
        self.assertLess(done - result['at'], 5.0, 'the waiting fetch was answered %.1fs after '
                        'the produce' % (done - result['at']))

    def test_1000_idle_connections(self):
        node = self.node().start()
        conns = []
        try:
            for i in range(1000):
                try:
                    conns.append(kproto.Conn('127.0.0.1', node.kafka_port, timeout=30))
                except OSError as e:
                    self.fail_with_log('connection %d refused: %s' % (i, e), node)
            for i, c in enumerate(conns):
                err, keys = kproto.parse_api_versions(c.call(kproto.API_VERSIONS, 0, b''))
                self.assertEqual(err, 0, 'connection %d' % i)
            time.sleep(3)
            name = topic_name('idle')
            create_topic(node, name, 1)
            p = producer(node, acks=1)
            md = p.send(name, b'still serving', partition=0).get(30)
            p.close()
            self.assertEqual(md.offset, 0)
            for i, c in enumerate(conns):
                c.s.settimeout(30)
                err, _ = kproto.parse_api_versions(c.call(kproto.API_VERSIONS, 0, b''))
                self.assertEqual(err, 0, 'idle connection %d no longer served' % i)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(node.child('kafka-frontend')['restarts'], 0)


def _list_offsets(node, topic, ts, version=1):
    """(error, timestamp, offset) of ListOffsets (v1, or v7 for -3, max
    timestamp) for partition 0 of TOPIC."""
    if version == 1:
        return kproto.parse_list_offsets_v1(kproto.call_once(
            node.kafka_port, kproto.LIST_OFFSETS, 1, kproto.list_offsets_body(topic, 0, ts),
            10000))[(topic, 0)]
    w = kproto.W().i32(-1).i8(0).uvarint(2).cstring(topic).uvarint(2)
    w.i32(0).i32(-1).i64(ts).tags().tags().tags()
    p = _schema_call(node, kproto.LIST_OFFSETS, version, bytes(w))['Topics'][0]['Partitions'][0]
    return p['ErrorCode'], p['Timestamp'], p['Offset']


class LogBounds(NodeTestCase):
    """The ends of a partition's log as clients see them: ListOffsets by
    timestamp never answers a record below the log start (DeleteRecords
    moved it), and a consumer's Fetch between the high watermark and the
    log end offset is empty, without an error (on one node, and on the
    leader of a partition whose follower lags in a cluster of three)."""
    maxDiff = None

    def test_offsets_for_times_from_the_log_start(self):
        """Offsets 0-9 (in batches of one record; in one batch; in one gzip
        batch), DeleteRecords up to 5: timestamp 0, or that of a deleted
        record, answers 5 with record 5's timestamp, as Kafka's
        fetchOffsetByTimestamp searches from the logStartOffset; nor does a
        deleted record answer a later timestamp, -3 (max timestamp) or a
        negative timestamp; -4 (earliest local) answers 5, -5 none. A
        kafka-python consumer (auto.offset.reset=latest) seeking to
        offsets_for_times(0) reads 5-9 (it got OFFSET_OUT_OF_RANGE at 0 and
        skipped them). With every record deleted (log start = HW = 10), no
        timestamp has an offset (-1)."""
        node = self.node().start()
        base = int(time.time() * 1000) - 3600 * 1000
        # Record 2 carries the greatest timestamp: deleted, it answers
        # neither a search for that timestamp nor -3.
        stamps = [base + i * 1000 for i in range(10)]
        stamps[2] = base + 50000
        names = {topic_name('lsone'): None, topic_name('lsbatch'): kproto.record_batch,
                 topic_name('lsgzip'): kproto.gzip_batch}
        for name in names:
            create_topic(node, name, 1)
        recs = [(None, b'm%d' % i, []) for i in range(10)]
        p = producer(node)
        try:
            for name, batch in names.items():
                if batch is None:
                    for i, ts in enumerate(stamps):
                        p.send(name, b'm%d' % i, partition=0, timestamp_ms=ts).get(30)
                    continue
                res = kproto.parse_produce(kproto.call_once(
                    node.kafka_port, kproto.PRODUCE, 7, kproto.produce_body(
                        7, -1, 30000, [(0, batch(recs, base_ts=base, ts_step=1000))],
                        topic=name), 30000), 7)
                self.assertEqual(res[(name, 0)], (0, 0))
        finally:
            p.close()
        for name in names:
            self.assertEqual(_delete_records(node, name, {0: 5}), {0: (0, 5)})
        # -4 (earliest local, KIP-405) is the log start; -5 (latest tiered)
        # has no offset; other negative timestamps are searched for, as
        # Kafka's fetchOffsetByTimestamp does.
        got = {name: [_list_offsets(node, name, ts) for ts in (0, base + 3000, base + 7000,
                                                               base + 20000, -2, -1, -4, -5,
                                                               -1000)]
               + [_list_offsets(node, name, -3, version=7)] for name in names}
        want = [(0, base + 5000, 5), (0, base + 5000, 5), (0, base + 7000, 7), (0, -1, -1),
                (0, -1, 5), (0, -1, 10), (0, -1, 5), (0, -1, -1), (0, base + 5000, 5),
                (0, base + 9000, 9)]
        self.assertEqual(got, {name: want for name in names})
        for name in names:
            tp = TopicPartition(name, 0)
            c = KafkaConsumer(bootstrap_servers=node.bootstrap, group_id=None,
                              enable_auto_commit=False, auto_offset_reset='latest',
                              request_timeout_ms=40000)
            try:
                c.assign([tp])
                found = c.offsets_for_times({tp: 0})[tp]
                self.assertEqual((found.offset, found.timestamp), (5, base + 5000), name)
                c.seek(tp, found.offset)
                out = []
                deadline = time.monotonic() + 15
                while len(out) < 5 and time.monotonic() < deadline:
                    for rs in c.poll(timeout_ms=500).values():
                        out.extend(r.value for r in rs)
            finally:
                c.close()
            self.assertEqual(out, [b'm%d' % i for i in range(5, 10)], name)
        for name in names:
            self.assertEqual(_delete_records(node, name, {0: -1}, version=2), {0: (0, 10)})
        got = {name: [_list_offsets(node, name, ts) for ts in (0, base + 7000, -2, -1, -4, -1000)]
               + [_list_offsets(node, name, -3, version=7)] for name in names}
        want = [(0, -1, -1), (0, -1, -1), (0, -1, 10), (0, -1, 10), (0, -1, 10), (0, -1, -1),
                (0, -1, -1)]
        self.assertEqual(got, {name: want for name in names})

    def check_fetch_past_hw(self, node, name, hw, leo, value):
        """Fetches of partition 0 of NAME from NODE, whose high watermark
        is HW and log end offset LEO: below HW records, in [HW, LEO] empty
        without an error, past LEO OFFSET_OUT_OF_RANGE (1); VALUE the
        record at offset 0."""
        c = kproto.Conn('127.0.0.1', node.kafka_port)
        try:
            got = {off: kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(
                name, 0, off)))[(name, 0)] for off in range(leo + 2)}
        finally:
            c.close()
        self.assertEqual(got[0][:2], (0, hw))
        self.assertIn(value, got[0][2])
        self.assertEqual({off: got[off] for off in range(hw, leo + 1)},
                         {off: (0, hw, b'') for off in range(hw, leo + 1)},
                         'a Fetch in [HW %d, LEO %d] not empty without an error' % (hw, leo))
        self.assertEqual(got[leo + 1][0], 1, 'a Fetch past the log end')

    def test_fetch_between_hw_and_log_end(self):
        """The node's replicator stopped: the high watermark stays at 1
        while acks=1 appends offsets 1-3 (and the log end the frontend was
        last told stays at 1 too). A consumer's Fetch at 1-4 is empty, no
        error (it was OFFSET_OUT_OF_RANGE at 2-4), at 5 out of range; once
        the replicator runs again, 1-3 are read."""
        node = self.node().start()
        name = topic_name('hwleo')
        create_topic(node, name, 1)
        c = kproto.Conn('127.0.0.1', node.kafka_port)

        def produce(i):
            return kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, 1, 30000, [(0, kproto.record_batch([(None, b'v%d' % i, [])]))],
                topic=name)), 7)[(name, 0)]
        try:
            self.assertEqual(produce(0), (0, 0))
            wait_for(lambda: _latest(node, name, 0) == 1, 10, 'the high watermark at 1')
            rep = node.child('replicator')['pid']
            os.kill(rep, signal.SIGSTOP)
            try:
                self.assertEqual([produce(i) for i in (1, 2, 3)], [(0, 1), (0, 2), (0, 3)])
                self.check_fetch_past_hw(node, name, 1, 4, b'v0')
            finally:
                os.kill(rep, signal.SIGCONT)
            wait_for(lambda: _latest(node, name, 0) == 4, 20, 'the high watermark at 4')
            parts = kproto.parse_fetch_v4(c.call(kproto.FETCH, 4, kproto.fetch_body(name, 0, 2)))
        finally:
            c.close()
        err, hw, data = parts[(name, 0)]
        self.assertEqual((err, hw), (0, 4))
        self.assertIn(b'v2', data)

    def test_fetch_between_hw_and_log_end_on_a_leader(self):
        """Replication factor 3; one follower's replicator stopped (it stays
        in the ISR: replica_lag_time_max_ms is 120 s), so the HW stays at 3
        while acks=1 appends 3-6 on the leader. A Fetch at 3-7 is empty, no
        error (4-7 were OFFSET_OUT_OF_RANGE: the leader's replicator tells
        the frontend the log end only with a change of HW), at 8 out of
        range; a kafka-python consumer (auto.offset.reset=earliest) seeking
        to 5 waits there instead of starting over at 0, and reads 5 and 6
        once the follower runs again."""
        nodes = self.cluster('hwleo', '[replication]\nreplica_lag_time_max_ms = 120000\n')
        name = topic_name('hwleo3')

        def create():
            res = kproto.parse_create_topics_v1(kproto.call_once(
                nodes[0].kafka_port, kproto.CREATE_TOPICS, 1,
                kproto.create_topics_body([(name, 1, 3)]), 30000))
            if res[name] == 38:  # INVALID_REPLICATION_FACTOR: brokers still registering
                return False
            self.assertIn(res[name], (0, 36))  # 36: created by an earlier try
            return True
        wait_for(create, 30, 'topic %s created' % name)

        def part():
            c = kproto.Conn('127.0.0.1', nodes[0].kafka_port)
            try:
                md = kproto.parse_metadata(c.call(kproto.METADATA, 1, kproto.metadata_body(
                    1, [name])), 1, isr=True)
            finally:
                c.close()
            return md[2][name][1].get(0, (-1, -1, []))
        wait_for(lambda: part()[0] == 0 and len(part()[2]) == 3, 30, 'partition 0 with ISR 3')
        leader = nodes[part()[1] - 1]
        fol = [n for n in nodes if n is not leader][0]
        c = kproto.Conn('127.0.0.1', leader.kafka_port, timeout=60)

        def produce(i, acks):
            return kproto.parse_produce(c.call(kproto.PRODUCE, 7, kproto.produce_body(
                7, acks, 30000, [(0, kproto.record_batch([(None, b'v%d' % i, [])]))],
                topic=name)), 7)[(name, 0)]
        pid = fol.child('replicator')['pid']
        tp = TopicPartition(name, 0)
        cons = KafkaConsumer(bootstrap_servers=','.join(n.bootstrap for n in nodes),
                             group_id=None, enable_auto_commit=False,
                             auto_offset_reset='earliest', request_timeout_ms=40000)
        try:
            self.assertEqual([produce(i, -1) for i in range(3)], [(0, 0), (0, 1), (0, 2)])
            wait_for(lambda: _latest(leader, name, 0) == 3, 10, 'the high watermark at 3')
            os.kill(pid, signal.SIGSTOP)
            try:
                self.assertEqual([produce(i, 1) for i in range(3, 7)],
                                 [(0, 3), (0, 4), (0, 5), (0, 6)])
                self.assertEqual(_latest(leader, name, 0), 3, 'the high watermark moved')
                self.check_fetch_past_hw(leader, name, 3, 7, b'v0')
                cons.assign([tp])
                cons.seek(tp, 5)
                early = []
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:
                    for rs in cons.poll(timeout_ms=300).values():
                        early.extend(r.offset for r in rs)
                self.assertEqual(early, [], 'the consumer at 5 started over')
                self.assertEqual(cons.position(tp), 5)
            finally:
                os.kill(pid, signal.SIGCONT)
            late = []
            deadline = time.monotonic() + 30
            while len(late) < 2 and time.monotonic() < deadline:
                for rs in cons.poll(timeout_ms=500).values():
                    late.extend((r.offset, r.value) for r in rs)
        finally:
            cons.close()
            c.close()
        self.assertEqual(late, [(5, b'v5'), (6, b'v6')])


if __name__ == '__main__':
    socket.setdefaulttimeout(None)
    main()
