#!/usr/bin/python3
"""netproxy.py: a TCP proxy for one directed link between two cluster nodes
that makes the link slow and unreliable on purpose (tc netem does not work
here). Used by test_slow_links.py; usable by hand:

    /usr/bin/python3 tests/cluster/netproxy.py LISTEN_PORT TARGET_PORT [DELAY_MS]

Owned by the cluster suite. A Link listens on 127.0.0.1:<port> and forwards
every connection to its target. What it can do to the bytes, per direction,
without ever changing or reordering them (TCP's own guarantee; a node must
cope with what TCP can really do):
  - delay: every chunk is held DELAY_MS plus up to JITTER_MS (order kept: a
    chunk never overtakes the one before it);
  - loss: with probability LOSS a chunk is held LOSS_STALL_MS more, as TCP
    holds everything behind a lost segment until its retransmission;
  - resets: reset() closes every open connection at once (both sides see
    the connection die, possibly mid-frame);
  - cut: while cut, new connections are closed at once and open ones are
    reset; heal() lets them through again.
Loopback only; threads only; nothing here outlives close().
"""
import random
import socket
import sys
import threading
import time
from collections import deque

CHUNK = 65536


class _Pipe:
    """One direction of one connection: a reader thread queues chunks with
    the time they may leave, a writer thread sends them then."""

    def __init__(self, link, conn, src, dst):
        self.link, self.conn, self.src, self.dst = link, conn, src, dst
        self.q = deque()
        self.cv = threading.Condition()
        self.eof = False
        self.last_due = 0.0
        for fn in (self._read, self._write):
            threading.Thread(target=fn, daemon=True).start()

    def _due(self):
        lk = self.link
        with lk.lock:
            d = lk.delay_ms + lk.rnd.uniform(0, lk.jitter_ms)
            if lk.loss and lk.rnd.random() < lk.loss:
                d += lk.loss_stall_ms
                lk.stalls += 1
        due = max(time.monotonic() + d / 1000.0, self.last_due)
        self.last_due = due
        return due

    def _read(self):
        try:
            while True:
                data = self.src.recv(CHUNK)
                if not data:
                    break
                with self.cv:
                    self.q.append((self._due(), data))
                    self.cv.notify()
        except OSError:
            pass
        with self.cv:
            self.eof = True
            self.cv.notify()

    def _write(self):
        failed = True
        try:
            while True:
                with self.cv:
                    while not self.q and not self.eof:
                        self.cv.wait()
                    if not self.q:
                        break
                    due, data = self.q[0]
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                with self.cv:
                    self.q.popleft()
                self.dst.sendall(data)
                with self.link.lock:
                    self.link.bytes += len(data)
            self.dst.shutdown(socket.SHUT_WR)
            failed = False
        except OSError:
            pass
        self.link._conn_done(self.conn, failed)


class Link:
    """A proxy from 127.0.0.1:port (chosen free when PORT is 0) to
    127.0.0.1:TARGET."""

    def __init__(self, target, port=0, seed=None, name=''):
        self.target = target
        self.name = name
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.delay_ms = 0.0
        self.jitter_ms = 0.0
        self.loss = 0.0
        self.loss_stall_ms = 300.0
        self.cut = False
        self.closed = False
        self.conns = []  # [[client socket, upstream socket, directions done]]
        self.accepted = 0
        self.resets = 0
        self.stalls = 0
        self.bytes = 0
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(('127.0.0.1', port))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def shape(self, delay_ms=0.0, jitter_ms=0.0, loss=0.0, loss_stall_ms=300.0):
        with self.lock:
            self.delay_ms, self.jitter_ms = delay_ms, jitter_ms
            self.loss, self.loss_stall_ms = loss, loss_stall_ms

    @staticmethod
    def _kill(s):
        try:  # an RST, not a FIN: the peer sees the connection die
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def reset(self):
        """Resets every open connection; returns how many."""
        with self.lock:
            conns, self.conns = self.conns, []
            self.resets += len(conns)
        for conn in conns:
            for s in conn[:2]:
                self._kill(s)
        return len(conns)

    def set_cut(self, cut):
        with self.lock:
            self.cut = cut
        if cut:
            self.reset()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                refuse = self.cut or self.closed
            if refuse:
                self._kill(c)
                continue
            try:
                u = socket.create_connection(('127.0.0.1', self.target), timeout=5)
                u.settimeout(None)
            except OSError:
                self._kill(c)
                continue
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = [c, u, 0]  # the sockets, directions finished
            with self.lock:
                self.conns.append(conn)
                self.accepted += 1
            _Pipe(self, conn, c, u)
            _Pipe(self, conn, u, c)

    def _conn_done(self, conn, failed):
        """One direction of CONN ended: at its EOF (the other direction
        goes on, as a half-closed TCP connection does) or with an error
        (both sockets die)."""
        with self.lock:
            conn[2] += 1
            if not failed and conn[2] < 2:
                return
            if conn not in self.conns:
                return
            self.conns.remove(conn)
        for s in conn[:2]:
            self._kill(s) if failed else s.close()

    def close(self):
        with self.lock:
            self.closed = True
        try:
            self.ls.close()
        except OSError:
            pass
        self.reset()


if __name__ == '__main__':
    if len(sys.argv) < 3:
        sys.stderr.write('usage: netproxy.py LISTEN_PORT TARGET_PORT [DELAY_MS]\n')
        sys.exit(2)
    link = Link(int(sys.argv[2]), int(sys.argv[1]))
    link.shape(float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
    try:
        while True:
            time.sleep(5)
            sys.stderr.write('%d connections, %d bytes\n' % (len(link.conns), link.bytes))
    except KeyboardInterrupt:
        link.close()
