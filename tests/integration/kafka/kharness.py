"""kharness.py: node management and a per-case test runner for the
end-to-end Kafka tests (tests/integration/kafka/test_*.py).

Owned by the Kafka integration tests. A Node is one chronik node (supervisor
and its four children, the real binaries of the build tree) on free loopback
ports, in a fresh mkdtemp data dir. The harness records every pid it sees
(supervisor, children from `chronik-server status --json`) and stops only
those, by pid, and removes its temp dir: in Node.cleanup(), at interpreter
exit, on SIGTERM (meson's timeout), and, should this process be SIGKILLed, in
a guardian process of its own session that wakes on the EOF of a pipe and
cleans up from the pid list kept in the temp dir.

Environment:
  CHRONIK_BUILD_ROOT   meson build root (set by meson test); binaries are found there
  CHRONIK_KTEST_SCALE  multiplies message counts (soak variants), default 1
  CHRONIK_KTEST_KEEP   1 = keep temp dirs of failed cases for inspection
  CHRONIK_KTEST_SANITIZE  1 = the build is sanitized (ASan+UBSan): each case
                       stops its nodes with SIGTERM so leaks get reported; any
                       sanitizer report in a node log fails the case
Not for: protocol encoding (kproto.py) or assertions of one test.
"""
import atexit
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kproto  # noqa: E402

PY = '/usr/bin/python3'
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 60
SANITIZE = os.environ.get('CHRONIK_KTEST_SANITIZE') == '1'
# How ASan, LSan and UBSan reports begin (the third: file:line:col: runtime error:),
# and ck_meta's line for a nested read transaction (a sanitized build aborts on it).
SANITIZER_MARKS = (b'ERROR: AddressSanitizer', b'ERROR: LeakSanitizer', b': runtime error: ',
                   b'nested metadata read transaction')

_nodes = []


def scale(n):
    """N scaled by CHRONIK_KTEST_SCALE (at least 1)."""
    return max(1, int(n * float(os.environ.get('CHRONIK_KTEST_SCALE', '1'))))


def build_root():
    root = os.environ.get('CHRONIK_BUILD_ROOT')
    if not root:
        raise unittest.SkipTest('CHRONIK_BUILD_ROOT is not set (run through meson test)')
    return root


def server_bin():
    path = os.path.join(build_root(), 'supervisor', 'chronik-server')
    if not os.access(path, os.X_OK):
        raise AssertionError('%s is not built' % path)
    return path


def built(env_var, rel_path):
    """Path of a helper binary: $ENV_VAR (set by meson), else its place in
    $CHRONIK_BUILD_ROOT; None when not built."""
    path = os.environ.get(env_var)
    if not path and os.environ.get('CHRONIK_BUILD_ROOT'):
        path = os.path.join(os.environ['CHRONIK_BUILD_ROOT'], rel_path)
    return path if path and os.access(path, os.X_OK) else None


def free_port():
    """A loopback port nothing is bound to now, at random below the kernel's
    ephemeral range (as ck_free_ports() in C): a port the kernel hands out
    could become some connection's source port, held for a minute in
    TIME_WAIT, before a node listens on it (or listens again after a
    restart)."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    for _ in range(10000 if low >= 11000 else 0):
        port = random.randrange(10000, low)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(('127.0.0.1', port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raise_nofile():
    """Enough descriptors for 1,000 connections on both ends (inherited by
    the node we start)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def pid_alive(pid):
    """A live process (zombies count as gone)."""
    if pid <= 0:
        return False
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rfind(')') + 2:][:1]
    return state not in ('Z', 'X', '')


def pid_is_chronik(pid):
    """Guards against pid reuse: only our binaries are ever killed."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return b'chronik-' in f.read()
    except OSError:
        return False


def kill_pids(pids, sig=signal.SIGKILL, wait_s=10.0):
    for pid in pids:
        if pid_alive(pid) and pid_is_chronik(pid):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for pid in pids:  # reap those that are our own children
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.02)
    return False


GUARDIAN = r'''
import os, shutil, signal, sys, time
os.setsid()
fd, pids_file, tmp = int(sys.argv[1]), sys.argv[2], sys.argv[3]
while True:
    try:
        if not os.read(fd, 64):
            break
    except InterruptedError:
        continue
pids = []
try:
    pids = [int(l) for l in open(pids_file) if l.strip()]
except OSError:
    pass
def chronik(p):
    try:
        return b'chronik-' in open('/proc/%d/cmdline' % p, 'rb').read()
    except OSError:
        return False
for p in pids:
    if chronik(p):
        try: os.kill(p, signal.SIGKILL)
        except OSError: pass
time.sleep(0.5)
for line in reversed(open('/proc/self/mountinfo').read().splitlines()):
    mp = line.split()[4]
    if mp.startswith(tmp + '/'):
        os.system("umount -l '%s' 2>/dev/null" % mp)
shutil.rmtree(tmp, ignore_errors=True)
'''


def proc_kib(pid, field):
    """FIELD (VmHWM, VmRSS) of PID's /proc status, in KiB."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise AssertionError('no %s for pid %d' % (field, pid))


def pause_pids(pids, secs):
    """SIGSTOPs every chronik process of PIDS for SECS, then SIGCONTs the
    ones still alive (also when the sleep is interrupted)."""
    pids = [p for p in pids if p > 0 and pid_is_chronik(p)]
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    try:
        time.sleep(secs)
    finally:
        for p in pids:
            if pid_alive(p):
                os.kill(p, signal.SIGCONT)


def umount_under(path):
    """Unmounts (lazily) every mount at or below PATH, deepest first."""
    try:
        lines = open('/proc/self/mountinfo').read().splitlines()
    except OSError:
        return
    for line in reversed(lines):
        mp = line.split()[4]
        if mp == path or mp.startswith(path.rstrip('/') + '/'):
            subprocess.run(['umount', '-l', mp], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


class Node:
    """One chronik node on free loopback ports in its own temp dir."""

    def __init__(self, env=None, config_extra='', name='node', node_id=1, host='127.0.0.1'):
        self.node_id = node_id
        self.host = host  # every listener's address (a loopback address)
        self.env = dict(env or {})
        self.config_extra = config_extra
        self.tmp = tempfile.mkdtemp(prefix='chronik-ktest-%s.' % name)
        self.data = os.path.join(self.tmp, 'data')
        self.config = os.path.join(self.tmp, 'cluster.toml')
        self.log = os.path.join(self.tmp, 'node.log')
        self.pids_file = os.path.join(self.tmp, 'pids')
        self.seen = set()
        self.proc = None
        self.termed = False
        self.ports = None
        self.kept = False
        self._guardian_start()
        _nodes.append(self)

    # -- bookkeeping

    def _guardian_start(self):
        r, w = os.pipe()
        os.set_inheritable(r, True)
        self.guardian = subprocess.Popen([PY, '-c', GUARDIAN, str(r), self.pids_file, self.tmp],
                                         pass_fds=(r,), stdin=subprocess.DEVNULL)
        os.close(r)
        self.guardian_fd = w

    def _seen_add(self, pid):
        if pid and pid > 0 and pid not in self.seen:
            self.seen.add(pid)
            with open(self.pids_file, 'a') as f:
                f.write('%d\n' % pid)

    @property
    def bootstrap(self):
        return '%s:%d' % (self.host, self.ports['kafka'])

    @property
    def kafka_port(self):
        return self.ports['kafka']

    def _write_config(self):
        if self.ports is None:
            self.ports = {}
            while len(set(self.ports.values())) < 4:
                self.ports = {k: free_port() for k in ('kafka', 'replication', 'raft', 'admin')}
        p = self.ports
        h = self.host
        text = ('[node]\nid = %d\ndata_dir = "%s"\n'
                '[listeners]\nkafka = "%s:%d"\nreplication = "%s:%d"\n'
                'raft = "%s:%d"\nadmin = "%s:%d"\n'
                '[supervisor]\nrestart_backoff_initial_ms = 100\nrestart_backoff_max_ms = 1000\n'
                'restart_burst = 50\nstop_timeout_ms = 20000\nready_timeout_ms = 60000\n%s\n'
                % (self.node_id, self.data, h, p['kafka'], h, p['replication'], h, p['raft'],
                   h, p['admin'], self.config_extra))
        with open(self.config, 'w') as f:
            f.write(text)

    # -- lifecycle

    def mount_tmpfs(self, size_mb):
        """Puts the data directory on a tmpfs of SIZE_MB (a small disk to
        fill); it is unmounted at cleanup, also by the guardian when the
        test dies. Skips the test where mounting is not allowed."""
        os.makedirs(self.data, exist_ok=True)
        r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%dm' % size_mb, 'tmpfs',
                            self.data], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise unittest.SkipTest('cannot mount a tmpfs (needs root): %s'
                                    % r.stdout.decode(errors='replace').strip())

    def start(self, wait=True):
        """Starts the supervisor; with WAIT, until Kafka clients can use it.
        A port taken between probing and binding gets new ports (first start
        only)."""
        fresh = self.ports is None
        for attempt in range(5):
            self._write_config()
            env = dict(os.environ)
            env.update(self.env)
            logf = open(self.log, 'ab')
            logf.write(b'==== start (attempt %d) ====\n' % attempt)
            logf.flush()
            self.termed = False
            self.proc = subprocess.Popen([server_bin(), 'start', '--config', self.config],
                                         stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                         env=env)
            logf.close()
            self._seen_add(self.proc.pid)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self.status() is not None:
                    break
                time.sleep(0.05)
            if self.proc.poll() is None:
                break
            if not fresh or 'in use' not in self.log_tail(4000):
                raise AssertionError('supervisor exited with %s at start\n%s'
                                     % (self.proc.returncode, self.log_tail()))
            self.ports = None
        if wait:
            self.wait_ready()
        return self

    def status(self):
        """The supervisor's status (dict from `status --json`), or None."""
        try:
            out = subprocess.run([server_bin(), 'status', '--json', '--data-dir', self.data],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=15)
        except subprocess.TimeoutExpired:
            return None
        if out.returncode != 0:
            return None
        try:
            st = json.loads(out.stdout)
        except ValueError:
            return None
        self._seen_add(st.get('supervisor_pid', 0))
        for c in st.get('children', []):
            self._seen_add(c.get('pid', 0))
        return st

    def child(self, name, st=None):
        st = st or self.status()
        if not st:
            raise AssertionError('node does not answer status\n' + self.log_tail())
        for c in st['children']:
            if c['name'] == name:
                return c
        raise AssertionError('no child %s in status' % name)

    def all_ready(self, st=None):
        st = st or self.status()
        return bool(st) and all(c['state'] == 'ready' and c['pid'] > 0 for c in st['children'])

    def kafka_ok(self):
        """True when the Kafka listener answers ApiVersions and a Metadata
        request that lists this broker as a usable controller."""
        c = None
        try:
            c = kproto.Conn(self.host, self.kafka_port, timeout=5)
            err, keys = kproto.parse_api_versions(c.call(kproto.API_VERSIONS, 0, b''))
            if err != 0 or kproto.METADATA not in keys:
                return False
            brokers, controller, _ = kproto.parse_metadata_v1(
                c.call(kproto.METADATA, 1, kproto.metadata_body(1, [])))
            return bool(brokers) and controller >= 0
        except (OSError, kproto.Closed, kproto.ShortRead, AssertionError):
            return False
        finally:
            if c:
                c.close()

    def wait_ready(self, timeout=START_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError('supervisor exited with %s\n%s'
                                     % (self.proc.returncode, self.log_tail()))
            st = self.status()
            if st and self.all_ready(st) and self.kafka_ok():
                return st
            time.sleep(0.2)
        raise AssertionError('node not serving Kafka within %ds\nstatus: %s\n%s'
                             % (timeout, self.status(), self.log_tail()))

    def term(self):
        """SIGTERM to the supervisor, once per start (a second signal cuts a
        controlled shutdown short), without waiting."""
        if self.proc is None or self.proc.poll() is not None or self.termed:
            return
        self.status()
        self.proc.send_signal(signal.SIGTERM)
        self.termed = True

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM to the supervisor (unless term() sent it); returns its
        exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.term()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError('supervisor did not stop within %ds\n%s'
                                 % (timeout, self.log_tail()))

    def pids(self):
        """Supervisor and children pids of the running node."""
        st = self.status()
        if not st:
            raise AssertionError('node does not answer status\n' + self.log_tail())
        return [st['supervisor_pid']] + [c['pid'] for c in st['children'] if c['pid'] > 0]

    def kill9_all(self):
        """kill -9 the supervisor and every child at once. All are stopped
        first: a child that saw the supervisor die before its own SIGKILL
        came (a loaded machine delays this loop) would stop cleanly, which
        is not the crash a test wants."""
        pids = [pid for pid in self.pids() if pid_is_chronik(pid)]
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        if self.proc:
            self.proc.wait(30)
        if not kill_pids(pids, wait_s=30):
            raise AssertionError('processes survived SIGKILL: %s' % pids)
        return pids

    def log_tail(self, n=12000):
        try:
            with open(self.log, 'rb') as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - n))
                return '---- node log ----\n%s\n---- end of node log ----' % (
                    f.read().decode('utf-8', 'replace'))
        except OSError:
            return '(no node log)'

    def metrics(self):
        """{name: value} of the unlabelled samples of GET /metrics on the
        admin port."""
        import urllib.request
        with urllib.request.urlopen('http://%s:%d/metrics' % (self.host, self.ports['admin']),
                                    timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith('#') and '{' not in parts[0]:
                out[parts[0]] = float(parts[1])
        return out

    def log_grep(self, needle):
        try:
            with open(self.log, 'rb') as f:
                return [l.decode('utf-8', 'replace') for l in f if needle.encode() in l]
        except OSError:
            return []

    def sanitizer_reports(self):
        """The lines of the node log where ASan, LSan or UBSan reported."""
        try:
            with open(self.log, 'rb') as f:
                return [l.decode('utf-8', 'replace').rstrip() for l in f
                        if any(m in l for m in SANITIZER_MARKS)]
        except OSError:
            return []

    def cleanup(self, keep=False):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.status()
            except Exception:  # noqa: BLE001 - cleanup goes on
                pass
            self.proc.kill()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        kill_pids(sorted(self.seen))
        umount_under(self.tmp)  # a small data disk (mount_tmpfs) goes, kept or not
        if keep:
            self.kept = True
            sys.stderr.write('kept %s\n' % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self.guardian_fd is not None:
            if keep:  # the guardian must not remove what we keep
                self.guardian.kill()
            os.close(self.guardian_fd)
            self.guardian_fd = None
            try:
                self.guardian.wait(30)
            except subprocess.TimeoutExpired:
                pass
        if self in _nodes:
            _nodes.remove(self)


def _cleanup_all():
    for n in list(_nodes):
        n.cleanup()


atexit.register(_cleanup_all)


def _on_sigterm(signum, frame):
    _cleanup_all()
    os._exit(1)


signal.signal(signal.SIGTERM, _on_sigterm)
raise_nofile()


# ---------------------------------------------------------------- helpers

def wait_for(pred, timeout, what, interval=0.1):
    """Polls PRED until it returns a truthy value; fails with WHAT."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError('timed out after %ss waiting for %s (last: %r)' % (timeout, what, last))


def run(cmd, timeout, input_data=None, check=True, env=None):
    """Runs CMD; returns CompletedProcess (stdout/stderr bytes)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, input=input_data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=e)
    if check and p.returncode != 0:
        raise AssertionError('%s exited %d\nstderr: %s' % (
            ' '.join(cmd), p.returncode, p.stderr.decode('utf-8', 'replace')[-4000:]))
    return p


def topic_name(prefix):
    return '%s-%d-%06d' % (prefix, os.getpid(), random.randrange(10 ** 6))


def require_module(name):
    try:
        return __import__(name)
    except ImportError:
        raise unittest.SkipTest('python module %s is not installed' % name)


def admin_client(node, **kw):
    """A kafka-python KafkaAdminClient on NODE."""
    kafka = require_module('kafka')
    return kafka.KafkaAdminClient(bootstrap_servers=node.bootstrap, request_timeout_ms=30000,
                                  client_id='chronik-ktest-admin', **kw)


def create_topic(node, name, partitions=1, configs=None):
    """Creates NAME through kafka-python's admin client and waits until
    Metadata shows every partition with a leader."""
    from kafka.admin import NewTopic
    admin = admin_client(node)
    try:
        admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})],
                            timeout_ms=30000)
    finally:
        admin.close()
    wait_topic(node, name, partitions)


def wait_topic(node, name, partitions, timeout=30):
    """Waits until Metadata (v1, raw) shows NAME with PARTITIONS leaders."""
    def ok():
        c = None
        try:
            c = kproto.Conn(node.host, node.kafka_port)
            _, _, topics = kproto.parse_metadata_v1(
                c.call(kproto.METADATA, 1, kproto.metadata_body(1, None)))
        except (OSError, kproto.Closed, kproto.ShortRead):
            return False
        finally:
            if c:
                c.close()
        t = topics.get(name)
        return (t is not None and t[0] == 0 and len(t[1]) == partitions
                and all(e == 0 and leader >= 0 for e, leader in t[1].values()))
    wait_for(ok, timeout, 'topic %s with %d partitions in Metadata' % (name, partitions))


def create_topic_retrying(admin, new_topic, timeout=30):
    """Creates NEW_TOPIC (confluent_kafka NewTopic) through ADMIN (its
    AdminClient). Right after a cluster starts, the node that takes the
    creation may not have applied every broker's registration yet: it waits
    up to 5 s for them, then answers INVALID_REPLICATION_FACTOR, as Kafka
    does while brokers start. A slow start (a sanitized build) can take
    longer, so that is retried for TIMEOUT s, as a user would; anything else
    raises (test_forming.py checks the creation without retries)."""
    import confluent_kafka
    deadline = time.monotonic() + timeout
    while True:
        fs = admin.create_topics([new_topic], operation_timeout=30)
        try:
            for f in fs.values():
                f.result(30)
            return
        except confluent_kafka.KafkaException as e:
            if (e.args[0].code() != confluent_kafka.KafkaError.INVALID_REPLICATION_FACTOR
                    or time.monotonic() > deadline):
                raise
            time.sleep(0.2)


def list_topics_raw(node):
    """{name: partition count} from a Metadata v1 request for all topics."""
    c = kproto.Conn(node.host, node.kafka_port)
    try:
        _, _, topics = kproto.parse_metadata_v1(
            c.call(kproto.METADATA, 1, kproto.metadata_body(1, None)))
    finally:
        c.close()
    return {n: len(t[1]) for n, t in topics.items() if t[0] == 0}


# ---------------------------------------------------------------- runner

def assign_ports(nodes):
    """Gives every node in NODES its four listener ports (free ones, no
    port twice among them)."""
    ports = set()

    def port():
        while True:
            p = free_port()
            if p not in ports:
                ports.add(p)
                return p
    for n in nodes:
        n.ports = {k: port() for k in ('kafka', 'replication', 'raft', 'admin')}


class NodeTestCase(unittest.TestCase):
    """A test case that owns zero or more nodes; they are cleaned up after
    the case, logs printed when it failed."""

    def setUp(self):
        self.nodes = []
        self._t0 = time.monotonic()

    def node(self, **kw):
        kw.setdefault('name', self.id().split('.')[-1][:40])
        n = Node(**kw)
        self.nodes.append(n)
        # Cleanups run even when setUp fails, after tearDown.
        self.addCleanup(self._node_cleanup, n)
        return n

    def cluster(self, name, extra='', hosts=None, tmpfs=None):
        """Three nodes on free ports, peers of each other (quorum metadata,
        WAL profile high, EXTRA appended to each config), started and
        ready (an EXTRA that starts with a [metadata] table has its keys
        join the one written here); HOSTS: the three nodes' addresses
        (default 127.0.0.1);
        TMPFS: {node id: MB}, data directories put on a tmpfs of that size
        (Node.mount_tmpfs) before the start."""
        hosts = hosts or ['127.0.0.1'] * 3
        nodes = [self.node(node_id=i, name='%s%d' % (name, i), host=hosts[i - 1])
                 for i in (1, 2, 3)]
        assign_ports(nodes)
        peers = ''.join('[peer.%d]\nraft = "%s:%d"\nreplication = "%s:%d"\nkafka = "%s:%d"\n'
                        % (n.node_id, n.host, n.ports['raft'], n.host, n.ports['replication'],
                           n.host, n.ports['kafka'])
                        for n in nodes)
        meta = ''
        if extra.startswith('[metadata]\n'):  # one table: its keys join ours
            body = extra[len('[metadata]\n'):]
            cut = body.find('\n[')
            meta, extra = (body, '') if cut < 0 else (body[:cut + 1], body[cut + 1:])
        for n in nodes:
            n.config_extra = ('[metadata]\ncommit = "quorum"\n' + meta + '[wal]\nprofile = "high"\n'
                              + extra + peers)
            if tmpfs and n.node_id in tmpfs:
                n.mount_tmpfs(tmpfs[n.node_id])
            n.start(wait=False)
        for n in nodes:
            n.wait_ready()
        return nodes

    def _node_cleanup(self, n):
        failed = self._outcome_failed()
        if SANITIZE and n.proc is not None and n.proc.poll() is None:
            # A sanitized build reports leaks when a process exits: stop
            # the node the way an operator does, not with SIGKILL; the
            # case's other nodes at the same time, as a whole cluster is
            # stopped (one by one, the last waited out its raftd's
            # unanswered proposals: 3 s a case).
            for m in self.nodes:
                m.term()
            try:
                n.stop()
            except AssertionError as e:
                sys.stderr.write('\n[%s] %s\n' % (self.id(), e))
        reports = n.sanitizer_reports()
        if failed or reports:
            sys.stderr.write('\n[%s] %s\n' % (self.id(), n.log_tail(6000)))
        n.cleanup(keep=(failed or bool(reports)) and os.environ.get('CHRONIK_KTEST_KEEP') == '1')
        if reports:
            raise AssertionError('sanitizer reports in the node log:\n' + '\n'.join(reports[:20]))

    def fail_with_log(self, msg, node=None):
        node = node or (self.nodes[-1] if self.nodes else None)
        self.fail('%s\n%s' % (msg, node.log_tail() if node else ''))

    def tearDown(self):
        sys.stderr.write('[%s] %.1fs\n' % (self.id(), time.monotonic() - self._t0))

    def _outcome_failed(self):
        """Whether this case has failed so far."""
        outcome = getattr(self, '_outcome', None)
        if outcome is None:
            return False
        if not getattr(outcome, 'success', True):
            return True
        res = getattr(outcome, 'result', None)
        if res is not None:
            return any(t is self for t, _ in res.failures + res.errors)
        return any(exc for _, exc in getattr(outcome, 'errors', []))


def main():
    """Runs the module's test cases (argv may name some), prints one line per
    case, then 'N passed, M failed' and check's summary line (which
    tests/run-tests.sh counts per case). Exit 1 on any failure, 77 (skip)
    when every case was skipped."""
    import __main__
    names = [a for a in sys.argv[1:] if not a.startswith('-')]
    loader = unittest.TestLoader()
    if names:
        suite = loader.loadTestsFromNames(names, __main__)
    else:
        suite = loader.loadTestsFromModule(__main__)
    sys.stdout.reconfigure(line_buffering=True)
    res = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    skipped = len(res.skipped)
    passed = res.testsRun - failed - skipped
    for case, tb in res.failures + res.errors:
        # The traceback's last line (the assertion's message) beside the
        # name, so a CI summary that keeps only these lines says why.
        last = tb.strip().splitlines()[-1] if tb.strip() else ''
        print('FAILED: %s: %s' % (case.id(), last))
    print('%d passed, %d failed%s' % (passed, failed, ', %d skipped' % skipped if skipped else ''))
    if res.testsRun - skipped > 0:
        print('%d%%: Checks: %d, Failures: %d, Errors: %d' % (
            100 * passed // max(1, passed + failed), passed + failed, len(res.failures),
            len(res.errors)))
    _cleanup_all()
    if failed:
        sys.exit(1)
    if res.testsRun and skipped == res.testsRun:
        sys.exit(77)
    sys.exit(0)


__all__ = ['built', 'Node', 'NodeTestCase', 'main', 'scale', 'wait_for', 'run', 'topic_name',
           'pause_pids',
           'create_topic', 'wait_topic', 'list_topics_raw', 'admin_client', 'kproto',
           'require_module']
