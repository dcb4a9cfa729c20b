#!/usr/bin/env python3
"""record_proxy.py: a recording Kafka TCP proxy for capturing golden frames.

Capture tool of tests/unit/protocol (see README.md); not part of chronik and
not run by the tests. Listens on 127.0.0.1 only, one listener per upstream
broker, forwards every frame unchanged in content and records each one (the
bytes after the 4-byte size) with its API key and version; responses are
matched to requests by correlation id.

Two rewrites keep clients behind the proxy, and neither touches what is
recorded (the recording always holds the upstream's original bytes):
  * broker addresses: every "127.0.0.1" + upstream port inside a response
    (Metadata brokers, FindCoordinator) is replaced by the proxy's port for
    that broker; the lengths do not change;
  * optionally (extra_apis), the ApiVersions response is re-encoded to also
    advertise APIs the upstream lacks, so that clients send those requests
    and their frames get captured (the upstream then drops the connection),
    and a Metadata controller id that names no broker is pointed at the
    first broker, so that admin clients find a controller to send them to.

Standalone use:  record_proxy.py UPSTREAM_HOST:PORT OUT_FILE  (Ctrl-C stops)
Python 3 standard library only.
"""
import socket
import struct
import sys
import threading

HOST = "127.0.0.1"
API_VERSIONS = 18
METADATA = 3


class Recorder:
    """Collects (direction, api_key, api_version, payload, connection) tuples."""

    def __init__(self):
        self.lock = threading.Lock()
        self.frames = []

    def add(self, direction, key, version, payload, conn):
        with self.lock:
            self.frames.append((direction, key, version, bytes(payload), conn))

    def take(self):
        with self.lock:
            out, self.frames = self.frames, []
        return out


def read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(sock):
    head = read_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    if size < 0 or size > 200 * 1024 * 1024:
        return None
    return read_exact(sock, size)


def uvarint(data, pos):
    value, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def put_uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def add_api_versions(payload, version, extra):
    """Returns the ApiVersions response PAYLOAD (header v0 + body) with the
    (key, min, max) entries of EXTRA added for keys it lacks."""
    corr, err = payload[:4], payload[4:6]
    pos = 6
    flex = version >= 3
    if flex:
        n, pos = uvarint(payload, pos)
        n -= 1
    else:
        (n,) = struct.unpack(">i", payload[pos:pos + 4])
        pos += 4
    entries = []
    for _ in range(max(n, 0)):
        key, lo, hi = struct.unpack(">hhh", payload[pos:pos + 6])
        pos += 6
        if flex:
            if payload[pos] != 0:
                return payload  # tagged fields inside entries: leave alone
            pos += 1
        entries.append((key, lo, hi))
    rest = payload[pos:]
    have = {k for k, _, _ in entries}
    entries += [e for e in extra if e[0] not in have]
    entries.sort()
    out = bytearray(corr + err)
    out += put_uvarint(len(entries) + 1) if flex else struct.pack(">i", len(entries))
    for key, lo, hi in entries:
        out += struct.pack(">hhh", key, lo, hi)
        if flex:
            out.append(0)
    return bytes(out + rest)


def fix_controller(payload, version):
    """Returns the Metadata response PAYLOAD (header v0 + body, versions 1-8)
    with a controller id that names one of its brokers: librdkafka's mock
    answers controller 0 next to broker 1, and admin clients then wait for a
    controller forever. Same length, patched in place."""
    if not 1 <= version <= 8:
        return payload
    out = bytearray(payload)
    pos = 4 + (4 if version >= 3 else 0)
    (n,) = struct.unpack(">i", out[pos:pos + 4])
    pos += 4
    ids = []
    for _ in range(n):
        (node,) = struct.unpack(">i", out[pos:pos + 4])
        ids.append(node)
        (hlen,) = struct.unpack(">h", out[pos + 4:pos + 6])
        pos += 6 + hlen + 4
        (rlen,) = struct.unpack(">h", out[pos:pos + 2])
        pos += 2 + max(rlen, 0)
    if version >= 2:
        (clen,) = struct.unpack(">h", out[pos:pos + 2])
        pos += 2 + max(clen, 0)
    (controller,) = struct.unpack(">i", out[pos:pos + 4])
    if ids and controller not in ids:
        out[pos:pos + 4] = struct.pack(">i", ids[0])
    return bytes(out)


class Proxy:
    def __init__(self, upstreams, recorder, extra_apis=()):
        """UPSTREAMS: list of (host, port) brokers to front."""
        self.recorder = recorder
        self.extra_apis = list(extra_apis)
        self.listeners = []
        self.port_map = {}
        self.conn_seq = 0
        self.lock = threading.Lock()
        self.stopping = False
        for host, port in upstreams:
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((HOST, 0))
            ls.listen(64)
            self.listeners.append((ls, (host, port)))
            self.port_map[port] = ls.getsockname()[1]
        self.socks = []

    def bootstrap(self):
        return ",".join("%s:%d" % (HOST, ls.getsockname()[1]) for ls, _ in self.listeners)

    def start(self):
        for ls, up in self.listeners:
            threading.Thread(target=self._accept, args=(ls, up), daemon=True).start()

    def stop(self):
        self.stopping = True
        for ls, _ in self.listeners:
            try:
                ls.close()
            except OSError:
                pass
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, ls, up):
        while not self.stopping:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(up)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conn_seq += 1
                conn = self.conn_seq
                self.socks += [client, server]
            pending = {}
            threading.Thread(target=self._requests, args=(client, server, pending, conn),
                             daemon=True).start()
            threading.Thread(target=self._responses, args=(server, client, pending, conn),
                             daemon=True).start()

    def _requests(self, src, dst, pending, conn):
        while True:
            frame = read_frame(src)
            if frame is None or len(frame) < 8:
                break
            key, version, corr = struct.unpack(">hhi", frame[:8])
            pending[corr] = (key, version)
            self.recorder.add("req", key, version, frame, conn)
            try:
                dst.sendall(struct.pack(">i", len(frame)) + frame)
            except OSError:
                break
        self._close(src, dst)

    def _responses(self, src, dst, pending, conn):
        while True:
            frame = read_frame(src)
            if frame is None or len(frame) < 4:
                break
            (corr,) = struct.unpack(">i", frame[:4])
            key, version = pending.pop(corr, (-1, -1))
            self.recorder.add("resp", key, version, frame, conn)
            out = self._rewrite(frame)
            if key == API_VERSIONS and self.extra_apis:
                out = add_api_versions(out, version, self.extra_apis)
            if key == METADATA and self.extra_apis:
                out = fix_controller(out, version)
            try:
                dst.sendall(struct.pack(">i", len(out)) + out)
            except OSError:
                break
        self._close(src, dst)

    def _rewrite(self, frame):
        for up_port, my_port in self.port_map.items():
            for prefix in (b"\x00\x09" + HOST.encode(), b"\x0a" + HOST.encode()):
                frame = frame.replace(prefix + struct.pack(">i", up_port),
                                      prefix + struct.pack(">i", my_port))
        return frame

    @staticmethod
    def _close(a, b):
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def write_frames(path, label, frames):
    with open(path, "w", encoding="ascii") as f:
        f.write("# %s\n" % label)
        f.write("# <direction> <api key> <api version> <hex of the frame after its size>\n")
        for direction, key, version, payload, _ in frames:
            f.write("%s %d %d %s\n" % (direction, key, version, payload.hex()))


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: record_proxy.py UPSTREAM_HOST:PORT OUT_FILE\n")
        return 2
    host, port = argv[1].rsplit(":", 1)
    rec = Recorder()
    proxy = Proxy([(host, int(port))], rec)
    proxy.start()
    print(proxy.bootstrap(), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    proxy.stop()
    write_frames(argv[2], "recorded from %s" % argv[1], rec.take())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
