#!/usr/bin/python3
"""kafka_admin.py: the Kafka clients of the `cluster_kafka` test
(tests/cluster/test_cluster_kafka.c), run with /usr/bin/python3.

Owned by the cluster suite. Most requests go to the node named by its
Kafka port on 127.0.0.1, not through a client's own routing, so the test
sees the answer of exactly that node (a follower included): kafka-python's
BrokerConnection with its protocol classes for Metadata v5, CreateTopics v3,
CreatePartitions v1 and DeleteTopics v3. Two use a client's routing (it
sends to the controller that Metadata names): KafkaAdminClient.create_topics
for the seed's test (create --admin) and confluent-kafka's AdminClient for
a stream of creates (stream). It prints facts, one a line, and the C side
asserts them:

  result TOPIC ERROR_CODE              one per topic of a write
  converged_ms MS                      every node in --converge agreed
  diverged_ms MS WHY                   they did not within the time
  waited_ms MS ok|timeout              metadata: how long the wait took
  node PORT CONTROLLER_ID              metadata: one per node
  broker PORT ID HOST:PORT             ... each listed broker
  topic PORT NAME ERROR_CODE NPART     ... each listed topic
  part PORT TOPIC P ERR LEADER R,.. I,..   ... each partition (replicas, ISR)
  acked TOPIC first|retried|exists MS  stream: acknowledged (exists: a retry
                                       answered TOPIC_ALREADY_EXISTS), MS
                                       since the stream started
  retry TOPIC ERROR_NAME MS            stream: a retriable failure
  bad TOPIC ERROR_NAME MS              stream: an answer that is neither

Commands (PORTS is a comma list of Kafka ports):
  probe                                 exit 77 when a client is missing
  create PORT PREFIX COUNT NPART RF [--admin] [--converge PORTS]
  produce PORT PREFIX COUNT NPART [--converge PORTS]
                                        create a topic (replication 1), then at
                                        once a record to each partition
                                        (kafka-python, retries=0): result
                                        TOPIC-P per partition
  partitions PORT PREFIX COUNT TOTAL [--converge PORTS]
  delete PORT PREFIX COUNT [--converge PORTS]
  ryw PORT_A PORT_B PREFIX COUNT [--converge PORTS]
                                        create on A, then at once alter,
                                        create partitions or delete on B (and
                                        the next write back on A)
  metadata PORTS [--controller ID] [--brokers ID,..] [--same]
           [--not-leader ID] [--not-in-isr ID] [--offline ID] [--timeout S]
  stream BOOTSTRAP PREFIX               confluent-kafka, until SIGTERM
  dstream PORT PREFIX [--timeout-ms MS] kafka-python to one node, until SIGTERM
                                        (CreateTopics timeout MS, default 10000)
Topics are PREFIX%05d, 0 .. COUNT-1. Exit 0, 1 when a call failed (why on
stderr), 77 when kafka-python or confluent-kafka is not installed.
Not for: starting nodes (cluster_harness.c) or deciding pass/fail.
"""
import signal
import socket
import sys
import time

CONVERGE_TIMEOUT_S = 10


def names(prefix, count):
    return ['%s%05d' % (prefix, i) for i in range(count)]


def emit(*fields):
    print(' '.join(str(f) for f in fields), flush=True)


def ports_of(text):
    return [int(p) for p in text.split(',') if p]


def opt(args, flag, default=None):
    """The value after FLAG in ARGS (removed), or DEFAULT."""
    if flag not in args:
        return default
    i = args.index(flag)
    value = args[i + 1]
    del args[i:i + 2]
    return value


def flag(args, name):
    if name not in args:
        return False
    args.remove(name)
    return True


# ---------------------------------------------------------------- one node

class Node:
    """A kafka-python connection to the broker at 127.0.0.1:PORT."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def call(self, request, timeout=40.0):
        from kafka.conn import BrokerConnection
        if self.conn is None or not self.conn.connected():
            self.close()
            self.conn = BrokerConnection('127.0.0.1', self.port, socket.AF_INET,
                                         api_version=(2, 5, 0),
                                         request_timeout_ms=int(timeout * 1000))
            if not self.conn.connect_blocking(5):
                self.close()
                raise OSError('cannot connect to 127.0.0.1:%d' % self.port)
        future = self.conn.send(request)
        deadline = time.monotonic() + timeout
        while not future.is_done:
            if time.monotonic() > deadline or not self.conn.connected():
                self.close()
                raise OSError('no answer from 127.0.0.1:%d' % self.port)
            for response, fut in self.conn.recv():
                fut.success(response)
            if not future.is_done:
                time.sleep(0.002)
        if future.failed():
            self.close()
            raise OSError('127.0.0.1:%d: %s' % (self.port, future.exception))
        return future.value

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


# ---------------------------------------------------------------- metadata

class View:
    """One node's Metadata answer."""

    def __init__(self, port, resp):
        self.port = port
        self.controller = resp.controller_id
        self.brokers = sorted((b[0], '%s:%d' % (b[1], b[2])) for b in resp.brokers)
        self.topics = []  # (name, error, partition count), as listed
        self.parts = {}   # (topic, p) -> (error, leader, replicas, isr, offline)
        for err, name, _internal, parts in resp.topics:
            self.topics.append((name, err, len(parts)))
            for perr, p, leader, replicas, isr, offline in parts:
                self.parts[(name, p)] = (perr, leader, tuple(replicas), tuple(isr),
                                         tuple(sorted(offline)))

    def assignment(self):
        """What must be the same on every node: topic -> partition -> (leader, replicas)."""
        return {k: (v[1], v[2]) for k, v in self.parts.items()}

    def npart(self, topic):
        for name, err, n in self.topics:
            if name == topic and err == 0:
                return n
        return None

    def emit(self):
        emit('node', self.port, self.controller)
        for bid, ep in self.brokers:
            emit('broker', self.port, bid, ep)
        for name, err, n in self.topics:
            emit('topic', self.port, name, err, n)
        for (topic, p), (err, leader, replicas, isr, _offline) in sorted(self.parts.items()):
            emit('part', self.port, topic, p, err, leader, ','.join(map(str, replicas)) or '-',
                 ','.join(map(str, isr)) or '-')


def fetch(node):
    from kafka.protocol.metadata import MetadataRequest
    resp = node.call(MetadataRequest[5](topics=None, allow_auto_topic_creation=False), 10.0)
    return View(node.port, resp)


def wait_views(nodes, checks, timeout):
    """Polls every node's Metadata until each check (a function of the list of
    views returning None or why not) passes. Returns (ms, views, why)."""
    t0 = time.monotonic()
    why = 'nothing fetched'
    views = []
    while True:
        try:
            views = [fetch(n) for n in nodes]
            why = None
            for check in checks:
                why = check(views)
                if why:
                    break
        except OSError as e:
            why = str(e)
        ms = int((time.monotonic() - t0) * 1000)
        if why is None or time.monotonic() - t0 > timeout:
            return ms, views, why
        time.sleep(0.01)


def check_same(views):
    first = views[0].assignment()
    for v in views[1:]:
        if v.assignment() != first:
            diff = set(first.items()) ^ set(v.assignment().items())
            return 'nodes %d and %d differ, e.g. %s' % (views[0].port, v.port,
                                                        sorted(diff)[:2])
    return None


def converge(ports, want):
    """After a write: waits until every node lists what WANT accepts, the
    same everywhere; prints how long it took."""
    nodes = [Node(p) for p in ports]
    ms, _, why = wait_views(nodes, [lambda vs: next((w for w in map(want, vs) if w), None),
                                    check_same], CONVERGE_TIMEOUT_S)
    if why is None:
        emit('converged_ms', ms)
    else:
        emit('diverged_ms', ms, why)
    for n in nodes:
        n.close()


def cmd_metadata(args):
    ports = ports_of(args.pop(0))
    controller = opt(args, '--controller')
    brokers = opt(args, '--brokers')
    not_leader = opt(args, '--not-leader')
    not_in_isr = opt(args, '--not-in-isr')
    offline = opt(args, '--offline')
    same = flag(args, '--same')
    timeout = float(opt(args, '--timeout', '0'))
    checks = []
    if controller is not None:
        def c_controller(vs, want=int(controller)):
            return next(('node %d says controller %d' % (v.port, v.controller)
                         for v in vs if v.controller != want), None)
        checks.append(c_controller)
    if brokers is not None:
        def c_brokers(vs, want=sorted(ports_of(brokers))):
            return next(('node %d lists brokers %s' % (v.port, [b for b, _ in v.brokers])
                         for v in vs if [b for b, _ in v.brokers] != want), None)
        checks.append(c_brokers)
    if not_leader is not None:
        def c_not_leader(vs, b=int(not_leader)):
            return next(('node %d: %s-%d led by %d' % (v.port, k[0], k[1], b)
                         for v in vs for k, p in v.parts.items() if p[1] == b), None)
        checks.append(c_not_leader)
    if not_in_isr is not None:
        def c_not_in_isr(vs, b=int(not_in_isr)):
            return next(('node %d: %s-%d has %d in its ISR' % (v.port, k[0], k[1], b)
                         for v in vs for k, p in v.parts.items() if b in p[3]), None)
        checks.append(c_not_in_isr)
    if offline is not None:
        # ID's replicas are listed offline, and nothing else is.
        def c_offline(vs, b=int(offline)):
            return next(('node %d: %s-%d offline %s' % (v.port, k[0], k[1], list(p[4]))
                         for v in vs for k, p in v.parts.items()
                         if p[4] != ((b,) if b in p[2] else ())), None)
        checks.append(c_offline)
    if same:
        checks.append(check_same)
    nodes = [Node(p) for p in ports]
    ms, views, why = wait_views(nodes, checks, timeout)
    emit('waited_ms', ms, 'ok' if why is None else 'timeout')
    if why:
        print('metadata: %s' % why, file=sys.stderr)
    for v in views:
        v.emit()
    for n in nodes:
        n.close()
    return 0 if len(views) == len(nodes) else 1


# ---------------------------------------------------------------- writes

def write(port, request, converge_ports, want):
    node = Node(port)
    try:
        resp = node.call(request)
    finally:
        node.close()
    errors = resp.topic_errors if hasattr(resp, 'topic_errors') else resp.topic_error_codes
    for e in errors:
        emit('result', e[0], e[1])
    if converge_ports:
        converge(converge_ports, want)
    return 0


def cmd_create(args):
    converge_ports = ports_of(opt(args, '--converge', ''))
    admin = flag(args, '--admin')
    port, prefix, count, npart, rf = int(args[0]), args[1], int(args[2]), int(args[3]), int(args[4])
    topics = names(prefix, count)

    def want(v):
        for t in topics:
            if v.npart(t) != npart:
                return 'node %d: %s has %s partitions' % (v.port, t, v.npart(t))
            for p in range(npart):
                part = v.parts.get((t, p))
                if not part or part[1] < 0 or len(part[2]) != rf:
                    return 'node %d: %s-%d is %s' % (v.port, t, p, part)
        return None
    if admin:
        # The seed's test as written: the admin client picks the controller.
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        a = KafkaAdminClient(bootstrap_servers='127.0.0.1:%d' % port, request_timeout_ms=30000,
                             client_id='chronik-cluster-kafka')
        try:
            a.create_topics([NewTopic(t, npart, rf) for t in topics], timeout_ms=30000)
        finally:
            a.close()
        for t in topics:
            emit('result', t, 0)
        if converge_ports:
            converge(converge_ports, want)
        return 0
    from kafka.protocol.admin import CreateTopicsRequest
    req = CreateTopicsRequest[3](create_topic_requests=[(t, npart, rf, [], []) for t in topics],
                                 timeout=30000, validate_only=False)
    return write(port, req, converge_ports, want)


def cmd_produce(args):
    """Each topic created (KafkaAdminClient, through the controller), then at
    once one record to each partition with kafka-python's producer as it
    comes (retries=0): the nodes leading them must know them by then."""
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic
    converge_ports = ports_of(opt(args, '--converge', ''))
    port, prefix, count, npart = int(args[0]), args[1], int(args[2]), int(args[3])
    topics = names(prefix, count)
    boot = '127.0.0.1:%d' % port
    a = KafkaAdminClient(bootstrap_servers=boot, request_timeout_ms=30000,
                         client_id='chronik-cluster-kafka')
    prod = KafkaProducer(bootstrap_servers=boot, acks=1, retries=0, linger_ms=0)
    try:
        for t in topics:
            a.create_topics([NewTopic(t, npart, 1)], timeout_ms=30000)
            for p in range(npart):
                try:
                    prod.send(t, b'first', partition=p).get(timeout=30)
                    emit('result', '%s-%d' % (t, p), 0)
                except Exception as e:
                    code = getattr(e, 'errno', None)
                    emit('result', '%s-%d' % (t, p), code if isinstance(code, int) else -1)
                    print('produce %s-%d: %s: %s' % (t, p, type(e).__name__, e),
                          file=sys.stderr)
    finally:
        prod.close()
        a.close()

    def want(v):
        for t in topics:
            if v.npart(t) != npart:
                return 'node %d: %s has %s partitions' % (v.port, t, v.npart(t))
        return None
    if converge_ports:
        converge(converge_ports, want)
    return 0


def cmd_partitions(args):
    from kafka.protocol.admin import CreatePartitionsRequest
    converge_ports = ports_of(opt(args, '--converge', ''))
    port, prefix, count, total = int(args[0]), args[1], int(args[2]), int(args[3])
    topics = names(prefix, count)
    req = CreatePartitionsRequest[1](topic_partitions=[(t, (total, None)) for t in topics],
                                     timeout=30000, validate_only=False)

    def want(v):
        return next(('node %d: %s has %s partitions' % (v.port, t, v.npart(t))
                     for t in topics if v.npart(t) != total), None)
    return write(port, req, converge_ports, want)


def cmd_delete(args):
    from kafka.protocol.admin import DeleteTopicsRequest
    converge_ports = ports_of(opt(args, '--converge', ''))
    port, prefix, count = int(args[0]), args[1], int(args[2])
    topics = names(prefix, count)
    req = DeleteTopicsRequest[3](topics=topics, timeout=30000)

    def want(v):
        listed = {name for name, _, _ in v.topics}
        return next(('node %d still lists %s' % (v.port, t) for t in topics if t in listed), None)
    return write(port, req, converge_ports, want)


def cmd_ryw(args):
    """Read-your-writes across nodes: each topic created (replication 3) on
    PORT_A, and right after the answer one write naming it on PORT_B, in
    turn AlterConfigs (retention.ms), CreatePartitions (to 2, then at once
    to 3 on PORT_A) and DeleteTopics (then at once created again on
    PORT_A): result TOPIC ERROR for each write."""
    from kafka.protocol.admin import (AlterConfigsRequest, CreatePartitionsRequest,
                                      CreateTopicsRequest, DeleteTopicsRequest)
    converge_ports = ports_of(opt(args, '--converge', ''))
    port_a, port_b, prefix, count = int(args[0]), int(args[1]), args[2], int(args[3])
    topics = names(prefix, count)
    a, b = Node(port_a), Node(port_b)
    try:
        for i, t in enumerate(topics):
            r = a.call(CreateTopicsRequest[3](create_topic_requests=[(t, 1, 3, [], [])],
                                              timeout=30000, validate_only=False))
            emit('result', t, r.topic_errors[0][1])
            if i % 3 == 0:
                r = b.call(AlterConfigsRequest[0](resources=[(2, t, [('retention.ms', '86400000')])],
                                                  validate_only=False))
                emit('result', t + '/alter', r.resources[0][0])
            elif i % 3 == 1:
                r = b.call(CreatePartitionsRequest[0](topic_partitions=[(t, (2, None))],
                                                      timeout=30000, validate_only=False))
                emit('result', t + '/partitions', r.topic_errors[0][1])
                # And back on A at once: numbered from B's count, not A's.
                r = a.call(CreatePartitionsRequest[0](topic_partitions=[(t, (3, None))],
                                                      timeout=30000, validate_only=False))
                emit('result', t + '/partitions-back', r.topic_errors[0][1])
            else:
                r = b.call(DeleteTopicsRequest[1](topics=[t], timeout=30000))
                emit('result', t + '/delete', r.topic_error_codes[0][1])
                # Created again on A at once: gone there too by then.
                r = a.call(CreateTopicsRequest[3](create_topic_requests=[(t, 1, 3, [], [])],
                                                  timeout=30000, validate_only=False))
                emit('result', t + '/create-back', r.topic_errors[0][1])
    finally:
        a.close()
        b.close()

    def want(v):
        for i, t in enumerate(topics):
            n = [1, 3, 1][i % 3]
            if v.npart(t) != n:
                return 'node %d: %s has %s partitions, want %s' % (v.port, t, v.npart(t), n)
        return None
    if converge_ports:
        converge(converge_ports, want)
    return 0


# ---------------------------------------------------------------- stream

OK, EXISTS, RETRY, BAD = range(4)


def stream(prefix, create_one):
    """Creates PREFIX00000, PREFIX00001, ... one at a time until SIGTERM;
    CREATE_ONE(name) returns (OK|EXISTS|RETRY|BAD, error name). A failed
    create is retried under the same name; TOPIC_ALREADY_EXISTS is an
    acknowledgement only for a retry."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    t0 = time.monotonic()
    i, tried = 0, False
    while not stop:
        name = '%s%05d' % (prefix, i)
        kind, err = create_one(name)
        ms = int((time.monotonic() - t0) * 1000)
        if kind == OK or (kind == EXISTS and tried):
            emit('acked', name, 'exists' if kind == EXISTS else 'retried' if tried else 'first',
                 ms)
            i, tried = i + 1, False
            continue
        if kind == RETRY:
            emit('retry', name, err, ms)
            tried = True
        else:
            emit('bad', name, err, ms)
            i, tried = i + 1, False
        time.sleep(0.05)
    return 0


def cmd_stream(args):
    """Through one confluent-kafka AdminClient for the whole run,
    bootstrapped from BOOTSTRAP, with librdkafka's default metadata
    refresh (every 5 minutes): it sends each create to the controller that
    Metadata named, and asks again only when it connects to a broker, so
    after the controller dies it depends on the survivors to make it
    reconnect."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic
    bootstrap, prefix = args[0], args[1]
    a = AdminClient({'bootstrap.servers': bootstrap, 'client.id': 'chronik-cluster-stream'})

    def create_one(name):
        try:
            fs = a.create_topics([NewTopic(name, 1, 1)], operation_timeout=10,
                                 request_timeout=8)
            fs[name].result(timeout=30)
            return OK, None
        except KafkaException as e:
            err = e.args[0]
        except Exception as e:  # a future that never resolved
            return RETRY, type(e).__name__
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return EXISTS, err.name()
        if err.retriable() or err.code() in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT,
                                             KafkaError.REQUEST_TIMED_OUT,
                                             KafkaError.NOT_CONTROLLER):
            return RETRY, err.name()
        return BAD, err.name()
    return stream(prefix, create_one)


def cmd_dstream(args):
    """Through kafka-python's protocol classes, each create sent to the
    node at PORT itself (it forwards to the controller)."""
    from kafka.errors import for_code
    from kafka.protocol.admin import CreateTopicsRequest
    timeout_ms = int(opt(args, '--timeout-ms', '10000'))
    node, prefix = Node(int(args[0])), args[1]

    def create_one(name):
        req = CreateTopicsRequest[3](create_topic_requests=[(name, 1, 1, [], [])],
                                     timeout=timeout_ms, validate_only=False)
        try:
            code = node.call(req, timeout_ms / 1000.0 + 5.0).topic_errors[0][1]
        except OSError:
            return RETRY, 'NO_ANSWER'
        err = for_code(code)
        if code == 0:
            return OK, None
        if code == 36:
            return EXISTS, err.message
        # NOT_CONTROLLER is retriable for Kafka clients; the test counts it.
        return (RETRY if err.retriable else BAD), err.message
    return stream(prefix, create_one)


def cmd_probe(args):
    for mod in ('kafka', 'confluent_kafka'):
        try:
            __import__(mod)
        except ImportError:
            print('python module %s is not installed for /usr/bin/python3' % mod)
            return 77
    return 0


COMMANDS = {'probe': cmd_probe, 'create': cmd_create, 'produce': cmd_produce, 'ryw': cmd_ryw,
            'partitions': cmd_partitions,
            'delete': cmd_delete, 'metadata': cmd_metadata, 'stream': cmd_stream,
            'dstream': cmd_dstream}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return COMMANDS[argv[1]](list(argv[2:]))
    except Exception as e:
        print('%s: %s: %s' % (argv[1], type(e).__name__, e), file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
