"""A TCP server with a lifecycle behaviour (behaviors.py), run as a selectors loop in a thread.

    >>> with Server(behavior="close-first", port=0) as srv:   # loopback by default
    ...     srv.address.startswith("127.0.0.1:"), srv.port > 0    # the port chosen at bind
    (True, True)

The listening sockets are made in the calling thread (inside ``netns`` when given), so a
bind error (EADDRINUSE) is raised by ``start()``; accepted sockets belong to the same
namespace, so the loop thread itself never has to enter it. The loop is a plain
``selectors`` loop: it runs in a lab namespace thread and, monkey-patched, under gevent.
Counters (read from any thread): ``accepted``, ``closed``, ``open``, ``bytes_in``,
``bytes_out``, ``resets`` (ECONNRESET seen), ``accept_errors`` and ``accepted_by_listener``.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass

from harness.kernel.endpoints import endpoint
from harness.kernel.netns import entered
from harness.sockets.behaviors import BEHAVIORS
from harness.sockets.options import (
    family_of,
    raise_nofile,
    set_keepalive,
    set_linger_rst,
)

RECV_SIZE = 65536
ACCEPT_BATCH = 64


@dataclass(frozen=True)
class Keepalive:
    """TCP_KEEPIDLE, TCP_KEEPINTVL (seconds) and TCP_KEEPCNT for the ``keepalive`` behaviour."""

    idle: int = 5
    intvl: int = 2
    cnt: int = 3


class _Conn:
    __slots__ = ("out", "shut", "sock", "writing")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.out = b""
        self.shut = False  # shutdown(SHUT_WR) done: keep reading, answer nothing
        self.writing = False  # registered for EVENT_WRITE: an answer is waiting to go out


class Server:
    """Listen on ``host:port`` with ``reuseport`` listeners and serve with ``behavior``.

    ``reuseport`` > 1 sets SO_REUSEPORT on that many listeners bound to one port (the kernel
    spreads connections over them by hash). ``family`` defaults to the host's (``::1`` ->
    AF_INET6). ``accept_interval_ms`` is used by ``slow-accept``, ``keepalive`` by
    ``keepalive``.
    """

    def __init__(self, behavior: str = "echo", host: str = "127.0.0.1", port: int = 0,
                 backlog: int = 128, reuseaddr: bool = True, reuseport: int = 1,
                 family: socket.AddressFamily | None = None, accept_interval_ms: int = 100,
                 keepalive: Keepalive = Keepalive(), netns: str | None = None):
        if behavior not in BEHAVIORS:
            raise ValueError(f"unknown behavior {behavior!r} (one of {', '.join(BEHAVIORS)})")
        if reuseport < 1:
            raise ValueError("reuseport must be >= 1 (number of listeners)")
        if accept_interval_ms < 1:
            raise ValueError("accept_interval_ms must be >= 1")
        self.behavior = BEHAVIORS[behavior]
        self.host, self.port, self.backlog = host, port, backlog
        self.reuseaddr, self.reuseport = reuseaddr, reuseport
        self.family = family or family_of(host)
        self.accept_interval = accept_interval_ms / 1000
        self.keepalive = keepalive
        self.netns = netns
        self.accepted = self.closed = self.bytes_in = self.bytes_out = self.resets = 0
        self.accepted_by_listener: list[int] = [0] * reuseport
        self.accept_errors: Counter[str] = Counter()
        self.error: BaseException | None = None
        self._listeners: list[socket.socket] = []
        self._conns: dict[int, _Conn] = {}
        self._leaked: list[_Conn] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._wake_r = self._wake_w = None
        self._sel: selectors.BaseSelector | None = None

    # -- lifecycle --------------------------------------------------------------------
    @property
    def address(self) -> str:
        return endpoint(self.host, self.port)

    @property
    def open(self) -> int:
        """Connections accepted and not closed yet (leaked CLOSE_WAIT ones included)."""
        return self.accepted - self.closed

    def start(self) -> Server:
        raise_nofile()
        with entered(self.netns):
            try:
                for _ in range(self.reuseport):
                    self._listeners.append(self._listen())
            except BaseException:
                self._close_listeners()
                raise
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        if self.behavior.accept == "all":
            for index, lst in enumerate(self._listeners):
                self._sel.register(lst, selectors.EVENT_READ, index)
        self._thread = threading.Thread(target=self._run, name=f"serve-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the loop, close every connection (leaked ones too) and the listeners."""
        if self._thread is None:
            return
        self._stopping = True
        with contextlib.suppress(OSError):  # the loop may have ended on an error already
            self._wake_w.send(b"x")
        self._thread.join()
        self._thread = None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the loop ends (stop() or an error); True if it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _listen(self) -> socket.socket:
        sockaddr = socket.getaddrinfo(self.host, self.port, self.family, socket.SOCK_STREAM)[0][4]
        lst = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            if self.family == socket.AF_INET6:
                lst.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(self.reuseaddr))
            if self.reuseport > 1:
                lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            lst.bind(sockaddr)
            lst.listen(self.backlog)
            lst.setblocking(False)
        except BaseException:
            lst.close()
            raise
        self.port = lst.getsockname()[1]
        return lst

    def _close_listeners(self) -> None:
        for lst in self._listeners:
            lst.close()
        self._listeners.clear()

    # -- the loop ---------------------------------------------------------------------
    def _run(self) -> None:
        sel = self._sel
        slow = self.behavior.accept == "interval"
        next_accept = time.monotonic() + self.accept_interval
        try:
            while not self._stopping:
                timeout = max(0.0, next_accept - time.monotonic()) if slow else None
                for key, mask in sel.select(timeout):
                    data = key.data
                    if isinstance(data, _Conn):
                        if mask & selectors.EVENT_WRITE:
                            self._flush(data)
                        if mask & selectors.EVENT_READ and data.sock.fileno() >= 0:
                            self._on_read(data)
                    elif data is None:
                        self._wake_r.recv(64)
                    else:
                        self._accept(data, ACCEPT_BATCH)
                if slow and time.monotonic() >= next_accept:
                    self._accept(self.accepted % len(self._listeners), 1)
                    next_accept = time.monotonic() + self.accept_interval
        except BaseException as exc:  # reported through .error; the loop must not die silently
            self.error = exc
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        for conn in [*self._conns.values(), *self._leaked]:
            conn.sock.close()
            self.closed += 1
        self._conns.clear()
        self._leaked.clear()
        self._close_listeners()
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    def _accept(self, index: int, limit: int) -> None:
        lst = self._listeners[index]
        for _ in range(limit):
            try:
                sock, _peer = lst.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # EMFILE/ENFILE: leave the connection queued, retry later
                self.accept_errors[errno.errorcode.get(exc.errno, str(exc.errno))] += 1
                time.sleep(0.01)
                return
            sock.setblocking(False)
            if self.behavior.keepalive:
                k = self.keepalive
                set_keepalive(sock, k.idle, k.intvl, k.cnt)
            conn = _Conn(sock)
            self._conns[sock.fileno()] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)
            self.accepted += 1
            self.accepted_by_listener[index] += 1

    def _on_read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.ECONNRESET:
                self.resets += 1
            self._close(conn)
            return
        if not data:  # the peer's FIN
            if self.behavior.close_on_eof:
                self._close(conn)
            else:  # keep the socket, stop watching it: CLOSE_WAIT until stop()
                self._sel.unregister(conn.sock)
                del self._conns[conn.sock.fileno()]
                self._leaked.append(conn)
            return
        self.bytes_in += len(data)
        if not conn.shut:
            conn.out += data
            self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            if exc.errno == errno.ECONNRESET:
                self.resets += 1
            self._close(conn)
            return
        self.bytes_out += sent
        conn.out = conn.out[sent:]
        if conn.out:
            if not conn.writing:
                self._sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
                conn.writing = True
            return
        if conn.writing:
            self._sel.modify(conn.sock, selectors.EVENT_READ, conn)
            conn.writing = False
        after = self.behavior.after_answer
        if after == "close":
            self._close(conn)
        elif after == "rst":
            set_linger_rst(conn.sock)
            self._close(conn)
        elif after == "shutdown":
            conn.sock.shutdown(socket.SHUT_WR)
            conn.shut = True

    def _close(self, conn: _Conn) -> None:
        self._sel.unregister(conn.sock)
        del self._conns[conn.sock.fileno()]
        conn.sock.close()
        self.closed += 1
