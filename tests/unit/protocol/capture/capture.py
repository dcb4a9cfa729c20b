#!/usr/bin/env python3
"""capture.py: records golden Kafka frames from real clients (see README.md).

One-time capture tool of tests/unit/protocol; its output, golden/*.frames, is
committed and read by test_kfk_golden. It builds mock_cluster.c (librdkafka's
mock cluster), puts record_proxy.py in front of it on 127.0.0.1, runs kcat,
kafka-python and confluent-kafka through the proxy, and writes one file per
client with every distinct frame (at most PER_KIND per direction, API and
version, correlation ids aside).

    python3 capture.py [OUT_DIR]        (default: ../golden)

Needs kcat, librdkafka-dev, a C compiler and /usr/bin/python3 with the kafka
and confluent_kafka modules. Starts only its own processes and stops them by
PID; leaves nothing running on failure.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ next to the tool
sys.path.insert(0, HERE)
import record_proxy  # noqa: E402

CLIENT_PY = "/usr/bin/python3"
PER_KIND = 3
TOPIC = "golden"

# APIs the mock lacks, advertised anyway so that clients send them (the
# request frames are real; the mock then drops the connection).
EXTRA_APIS = [(15, 0, 4), (16, 0, 2), (19, 0, 4), (20, 0, 3), (21, 0, 1), (32, 0, 2),
              (33, 0, 1), (37, 0, 1), (42, 0, 1), (44, 0, 1)]

KAFKA_PYTHON = r'''
import sys, logging
from kafka import KafkaProducer, KafkaConsumer, KafkaAdminClient, TopicPartition
from kafka.admin import NewTopic, ConfigResource, ConfigResourceType, NewPartitions
logging.basicConfig(level=logging.CRITICAL)
b = sys.argv[1]
p = KafkaProducer(bootstrap_servers=b, request_timeout_ms=5000, linger_ms=5)
for i in range(3):
    p.send("golden", key=b"k%d" % i, value=b"kafka-python %d" % i, partition=i % 2)
p.flush(10)
p.close(5)
c = KafkaConsumer(bootstrap_servers=b, group_id="kp-group", auto_offset_reset="earliest",
                  consumer_timeout_ms=4000, heartbeat_interval_ms=500, session_timeout_ms=6000)
c.subscribe(["golden"])
n = sum(1 for _ in c)
c.commit()
c.close()
c = KafkaConsumer(bootstrap_servers=b)
tp = TopicPartition("golden", 0)
c.assign([tp])
c.seek_to_end(tp)
c.position(tp)
c.close()
print("consumed", n)
def attempt(name, fn):
    try:
        fn()
    except Exception as e:
        print(name, "failed:", type(e).__name__)
try:
    a = KafkaAdminClient(bootstrap_servers=b, request_timeout_ms=3000)
except Exception as e:
    print("admin failed:", type(e).__name__)
    sys.exit(0)
attempt("create_topics", lambda: a.create_topics([NewTopic("kp-new", 2, 1)], timeout_ms=2000))
attempt("describe_configs", lambda: a.describe_configs(
    [ConfigResource(ConfigResourceType.TOPIC, "golden")]))
attempt("delete_topics", lambda: a.delete_topics(["kp-new"], timeout_ms=2000))
attempt("list_consumer_groups", lambda: a.list_consumer_groups())
# Last: against the mock this one never returns; the session is killed.
attempt("describe_consumer_groups", lambda: a.describe_consumer_groups(["kp-group"]))
a.close()
'''

CONFLUENT_KAFKA = r'''
import sys
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource
b = sys.argv[1]
p = Producer({"bootstrap.servers": b, "enable.idempotence": True, "linger.ms": 5})
for i in range(4):
    p.produce("golden", key=b"ck%d" % i, value=b"confluent %d" % i, partition=i % 2,
              headers=[("h", b"v%d" % i)])
p.flush(10)
c = Consumer({"bootstrap.servers": b, "group.id": "ck-group", "auto.offset.reset": "earliest",
              "enable.auto.commit": False})
c.subscribe(["golden"])
got, deadline = 0, __import__("time").time() + 8
while got < 4 and __import__("time").time() < deadline:
    m = c.poll(0.5)
    if m is not None and not m.error():
        got += 1
if got:
    c.commit(asynchronous=False)
c.committed([TopicPartition("golden", 0), TopicPartition("golden", 1)], timeout=5)
c.get_watermark_offsets(TopicPartition("golden", 0), timeout=5)
c.close()
print("consumed", got)
a = AdminClient({"bootstrap.servers": b})
def wait(name, futs):
    for f in (futs.values() if isinstance(futs, dict) else [futs]):
        try:
            f.result(timeout=4)
        except Exception as e:
            print(name, "failed:", type(e).__name__)
wait("create_topics", a.create_topics([NewTopic("ck-new", 2, 1)], operation_timeout=2,
                                      request_timeout=3))
wait("describe_configs", a.describe_configs([ConfigResource("topic", "golden")],
                                            request_timeout=3))
wait("alter_configs", a.alter_configs([ConfigResource("topic", "golden",
                                                      set_config={"retention.ms": "1000"})],
                                      request_timeout=3))
wait("create_partitions", a.create_partitions([NewPartitions("golden", 3)], request_timeout=3))
wait("delete_topics", a.delete_topics(["ck-new"], operation_timeout=2, request_timeout=3))
try:
    a.list_groups(timeout=4)
except Exception as e:
    print("list_groups failed:", type(e).__name__)
'''


def run(cmd, timeout, stdin=None, stop_after=None):
    """Runs CMD; with STOP_AFTER, sends SIGTERM after that many seconds (a
    clean client shutdown, e.g. LeaveGroup). Kills it on TIMEOUT."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        if stop_after is not None:
            try:
                out, _ = p.communicate(stdin, timeout=stop_after)
            except subprocess.TimeoutExpired:
                p.terminate()
                out, _ = p.communicate(timeout=timeout)
        else:
            out, _ = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        out = (out or "") + "\n(killed after %ds)" % timeout
    return out


def kcat_session(b):
    kc = ["kcat", "-b", b, "-X", "log_level=3"]
    log = []
    log.append(run(kc + ["-L"], 20))
    log.append(run(kc + ["-P", "-t", TOPIC, "-p", "0"], 20, stdin="m1\nm2\nm3\n"))
    log.append(run(kc + ["-P", "-t", TOPIC, "-p", "1", "-z", "gzip", "-K", ":",
                         "-X", "enable.idempotence=true"], 20, stdin="k1:v1\nk2:v2\n"))
    log.append(run(kc + ["-C", "-t", TOPIC, "-p", "0", "-o", "beginning", "-e"], 20))
    log.append(run(kc + ["-Q", "-t", "%s:0:-1" % TOPIC], 20))
    log.append(run(kc + ["-G", "kcat-group", "-o", "beginning", "-X",
                         "auto.commit.interval.ms=200", TOPIC], 20, stop_after=8))
    return log


def py_session(script):
    def session(b):
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(script)
        try:
            return [run([CLIENT_PY, f.name, b], 60)]
        finally:
            os.unlink(f.name)
    return session


def client_versions():
    """(kcat, kafka-python, confluent-kafka) version labels."""
    kcat = "kcat"
    for line in subprocess.run(["kcat", "-V"], capture_output=True, text=True).stdout.split("\n"):
        if line.startswith("Version "):
            words = line.split()
            lib = line.split("librdkafka ")[1].split()[0] if "librdkafka " in line else "?"
            kcat = "kcat %s, librdkafka %s" % (words[1], lib)
    py = subprocess.run([CLIENT_PY, "-c", "import kafka, confluent_kafka as c;"
                         "print(kafka.__version__); print(c.version()[0], c.libversion()[0])"],
                        capture_output=True, text=True).stdout.split("\n")
    return (kcat, "kafka-python %s" % py[0].strip(),
            "confluent-kafka %s, librdkafka %s" % tuple(py[1].split()[:2]))


def dedup(frames):
    seen, count, out = set(), {}, []
    for direction, key, version, payload, conn in frames:
        # Correlation ids differ between otherwise identical frames.
        body = payload[:4] + payload[8:] if direction == "req" else payload[4:]
        ident = (direction, key, version, body)
        kind = (direction, key, version)
        if ident in seen or count.get(kind, 0) >= PER_KIND:
            continue
        seen.add(ident)
        count[kind] = count.get(kind, 0) + 1
        out.append((direction, key, version, payload, conn))
    return out


def main(argv):
    out_dir = argv[1] if len(argv) > 1 else os.path.join(HERE, "..", "golden")
    for tool in ("kcat", "cc"):
        if not shutil.which(tool):
            sys.stderr.write("capture.py: %s not found\n" % tool)
            return 1
    tmp = tempfile.mkdtemp(prefix="kfk-capture-")
    mock = proxy = None
    try:
        exe = os.path.join(tmp, "mock_cluster")
        subprocess.run(["cc", "-O1", "-o", exe, os.path.join(HERE, "mock_cluster.c"),
                        "-lrdkafka"], check=True)
        mock = subprocess.Popen([exe, "1", "%s:2" % TOPIC], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        boot = mock.stdout.readline().strip()
        if not boot:
            raise RuntimeError("mock cluster did not start")
        ups = [(h, int(p)) for h, p in (x.rsplit(":", 1) for x in boot.split(","))]
        rec = record_proxy.Recorder()
        proxy = record_proxy.Proxy(ups, rec, EXTRA_APIS)
        proxy.start()
        kcat_v, kp_v, ck_v = client_versions()
        sessions = [("kcat", kcat_session, kcat_v),
                    ("kafka-python", py_session(KAFKA_PYTHON), kp_v),
                    ("confluent-kafka", py_session(CONFLUENT_KAFKA), ck_v)]
        for name, session, version in sessions:
            log = session(proxy.bootstrap())
            time.sleep(0.5)
            frames = dedup(rec.take())
            label = ("%s: %s; frames captured by capture/capture.py through "
                     "record_proxy.py from librdkafka's mock cluster" % (name, version))
            path = os.path.join(out_dir, "%s.frames" % name)
            record_proxy.write_frames(path, label, frames)
            kinds = sorted({(d, k, v) for d, k, v, _, _ in frames})
            print("%s: %d frames -> %s" % (name, len(frames), path))
            print("  " + " ".join("%s%d/v%d" % (d[:3], k, v) for d, k, v in kinds))
            for text in log:
                for line in text.strip().split("\n")[-4:]:
                    if line.strip():
                        print("  | " + line)
    finally:
        if proxy:
            proxy.stop()
        if mock:
            mock.stdin.close()
            try:
                mock.wait(timeout=10)
            except subprocess.TimeoutExpired:
                mock.kill()
                mock.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
