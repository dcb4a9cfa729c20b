#!/usr/bin/python3
"""recompress_latency.py: how long a small producer waits while the broker
recompresses another client's large batches.

    CHRONIK_BUILD_ROOT=build bench/recompress_latency.py [SECS]

Owned by bench/. Starts one node (tests/integration/kafka/kharness.py: free
loopback ports, a temp dir, stopped and removed at exit) with two topics: a
"big" one whose compression.type is gzip, and a "small" one stored as sent.
Each stage runs SECS seconds (default 8) and prints the small producer's
latency (one 100-byte acks=1 record at a time, sent every 10 ms, each
flushed: p50/p99/max in ms):
  idle      the small producer alone;
  big-none  a second producer writes 900 KB incompressible records
            (librdkafka sends them uncompressed) into a topic stored as sent;
  big-gzip  the same into the gzip topic: the broker recompresses every
            batch, on its worker thread since 2026-12-06 (before: on the
            event loop that serves every client).
The big producer (a process of its own) prints its MB/s beside. CHRONIK_LIBEXEC_DIR picks other
subsystem binaries (an A/B of two builds). Needs confluent-kafka
(/usr/bin/python3). Not for: throughput (bench/kafka.sh).
"""
import multiprocessing
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'integration', 'kafka'))
import kharness  # noqa: E402
import confluent_kafka as ck  # noqa: E402

SECS = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else float('nan')


def big_producer(bootstrap, topic, stop, sent):
    """In a process of its own (no GIL shared with the small producer)."""
    p = ck.Producer({'bootstrap.servers': bootstrap, 'linger.ms': 5,
                     'compression.codec': 'lz4', 'message.max.bytes': 1000000,
                     'batch.size': 1000000, 'acks': 1})
    value = os.urandom(900000)
    while not stop.is_set():
        try:
            p.produce(topic, value)
            with sent.get_lock():
                sent.value += len(value)
        except BufferError:
            p.poll(0.05)
        p.poll(0)
    p.flush(60)


def stage(node, big_topic):
    stop = multiprocessing.Event()
    sent = multiprocessing.Value('q', 0)
    proc = None
    if big_topic:
        proc = multiprocessing.Process(target=big_producer,
                                       args=(node.bootstrap, big_topic, stop, sent))
        proc.start()
        time.sleep(1)
    small = ck.Producer({'bootstrap.servers': node.bootstrap, 'linger.ms': 0, 'acks': 1})
    lat = []
    t0 = time.monotonic()
    b0 = sent.value
    while time.monotonic() - t0 < SECS:
        s = time.monotonic()
        small.produce('small', b'x' * 100)
        small.flush(30)
        lat.append((time.monotonic() - s) * 1000)
        time.sleep(0.01)
    mbs = (sent.value - b0) / (time.monotonic() - t0) / 1e6
    stop.set()
    if proc:
        proc.join(120)
        if proc.is_alive():
            proc.kill()
    return lat, mbs


def main():
    env = {}
    if os.environ.get('CHRONIK_LIBEXEC_DIR'):
        env['CHRONIK_LIBEXEC_DIR'] = os.environ['CHRONIK_LIBEXEC_DIR']
    node = kharness.Node(env=env, name='recompress')
    try:
        node.start()
        kharness.create_topic(node, 'small', 1)
        kharness.create_topic(node, 'bignone', 1)
        kharness.create_topic(node, 'biggzip', 1, configs={'compression.type': 'gzip'})
        print('%-10s %8s %8s %8s %8s %10s' % ('stage', 'sends', 'p50 ms', 'p99 ms', 'max ms',
                                             'big MB/s'))
        for name, topic in (('idle', None), ('big-none', 'bignone'), ('big-gzip', 'biggzip')):
            lat, mbs = stage(node, topic)
            print('%-10s %8d %8.2f %8.2f %8.2f %10s' % (name, len(lat), pct(lat, 0.5),
                                                        pct(lat, 0.99), max(lat),
                                                        '%.1f' % mbs if topic else '-'))
            sys.stdout.flush()
    finally:
        node.stop()
        node.cleanup()


if __name__ == '__main__':
    main()
