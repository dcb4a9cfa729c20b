"""kclients.py: confluent-kafka (librdkafka) producer and consumer helpers
shared by the end-to-end tests (test_rdkafka.py, test_durability.py,
test_bad_input.py).

Owned by the Kafka integration tests. Messages carry their id at the start of
the value ("<id>:<filler>") so a consumer can tell exactly which
acknowledged messages came back, which are duplicates (allowed only where a
retry may resend) and which are missing.
Not for: node management (kharness.py) or raw protocol (kproto.py).
"""
import threading
import time
import zlib

from kharness import require_module

ck = require_module('confluent_kafka')


def value_of(i, size):
    head = b'%d:' % i
    if size <= len(head):
        return head
    return head + (b'abcdefghijklmnopqrstuvwxyz' * (size // 26 + 1))[:size - len(head)]


def id_of(value):
    if not value:
        return None
    head, sep, _ = value.partition(b':')
    return int(head) if sep and head.isdigit() else None


class Produced:
    """What the broker acknowledged."""

    def __init__(self):
        self.acked = set()
        self.failed = 0
        self.errors = []
        self.checksum = 0
        self.sent = 0
        self.lock = threading.Lock()

    def on_delivery(self, err, msg):
        with self.lock:
            if err is not None:
                self.failed += 1
                if len(self.errors) < 10:
                    self.errors.append(str(err))
                return
            v = msg.value()
            i = id_of(v)
            if i is not None:
                self.acked.add(i)
            self.checksum += zlib.crc32(v)


def producer(bootstrap, acks='all', **conf):
    c = {'bootstrap.servers': bootstrap, 'acks': acks, 'linger.ms': 5,
         'queue.buffering.max.messages': 1000000, 'message.timeout.ms': 300000,
         'retry.backoff.ms': 200}
    c.update(conf)
    return ck.Producer(c)


def produce(bootstrap, topic, count, size=(16, 100), acks='all', start=0, stop=None,
            pace=None, timeout=600, conf=None, result=None):
    """Produces ids START..START+COUNT-1 (until STOP is set) and flushes.
    PACE: seconds to sleep every 1,000 messages. Returns a Produced."""
    res = result or Produced()
    p = producer(bootstrap, acks=acks, **(conf or {}))
    lo, hi = size
    t0 = time.monotonic()
    for i in range(start, start + count):
        if stop is not None and stop.is_set():
            break
        v = value_of(i, lo + (i * 7919) % (hi - lo + 1))
        while True:
            try:
                p.produce(topic, v, on_delivery=res.on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        res.sent += 1
        if i % 1000 == 0:
            p.poll(0)
            if pace:
                time.sleep(pace)
        if time.monotonic() - t0 > timeout:
            break
    left = p.flush(max(1.0, timeout - (time.monotonic() - t0)))
    if left:
        res.errors.append('%d messages still queued after flush' % left)
    return res


class Consumed:
    def __init__(self):
        self.ids = set()
        self.count = 0
        self.duplicates = 0
        self.foreign = 0
        self.checksum = 0
        self.by_partition = {}


def consume_all(bootstrap, topic, partitions, want=None, idle_s=20, timeout=600):
    """Reads PARTITIONS of TOPIC from the beginning with a manually assigned
    consumer until WANT distinct ids came back (or, without WANT, every
    partition reached its end), or nothing new came for IDLE_S seconds."""
    c = ck.Consumer({'bootstrap.servers': bootstrap, 'group.id': 'chronik-ktest',
                     'enable.auto.commit': False, 'enable.partition.eof': True,
                     'fetch.wait.max.ms': 100})
    res = Consumed()
    c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(partitions)])
    eof = set()
    t0 = last = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            msgs = c.consume(num_messages=10000, timeout=0.5)
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.code() == ck.KafkaError._PARTITION_EOF:
                        eof.add(m.partition())
                    continue
                last = time.monotonic()
                eof.discard(m.partition())
                v = m.value()
                i = id_of(v)
                res.by_partition.setdefault(m.partition(), []).append(m.offset())
                if i is None:
                    res.foreign += 1
                elif i in res.ids:
                    res.duplicates += 1
                else:
                    res.ids.add(i)
                    res.count += 1
                    res.checksum += zlib.crc32(v)
            if want is not None and res.count >= want and len(eof) == partitions:
                break
            if want is None and len(eof) == partitions:
                break
            if time.monotonic() - last > idle_s:
                break
    finally:
        c.close()
    return res


class BackgroundProducer:
    """Produces ids from START in a thread (paced: PACE seconds per 1,000
    messages) until COUNT are sent or stop is set, then flushes."""

    def __init__(self, bootstrap, topic, count, pace=0.005, start=0, acks='all', conf=None):
        self.result = Produced()
        self.stop = threading.Event()
        self.exc = None
        self.thread = threading.Thread(target=self._run, args=(bootstrap, topic, count, pace,
                                                               start, acks, conf))
        self.thread.start()

    def _run(self, bootstrap, topic, count, pace, start, acks, conf):
        try:
            produce(bootstrap, topic, count, acks=acks, start=start, stop=self.stop,
                    pace=pace, timeout=600, result=self.result, conf=conf)
        except Exception as e:  # noqa: BLE001 - reported by join()
            self.exc = e

    def acked(self):
        return len(self.result.acked)

    def join(self, timeout=700):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError('producer did not finish within %ds' % timeout)
        if self.exc:
            raise self.exc
        return self.result
