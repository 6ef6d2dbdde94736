"""A short-connection client: ``count`` connections, ``concurrency`` at a time, each one
connect -> send ``size`` bytes -> read the ``size``-byte answer -> close, as ``closer`` says.

    >>> from harness.sockets import Server
    >>> with Server(behavior="echo", port=0) as srv:
    ...     r = run_connect("127.0.0.1", srv.port, count=100, concurrency=10)
    >>> d = r.to_dict()
    >>> d["attempted"], d["ok"], d["errors"], sorted(d["connect_ms"])[:2]
    (100, 100, {}, ['max', 'p50'])

``closer``: "client" closes first (TIME_WAIT on the client); "server" waits for the
server's FIN, then closes (use with a close-first server: TIME_WAIT on the server); "rst"
closes with SO_LINGER {1, 0} (RST, no TIME_WAIT anywhere). ``size`` 0 sends nothing and
waits for nothing before closing.

Each failed connection is counted under its errno name (ECONNREFUSED, EADDRNOTAVAIL,
EADDRINUSE, ETIMEDOUT, ECONNRESET, ...) and the run goes on until ``count`` connections
were attempted. ETIMEDOUT is also what a connection gets that did not connect, or did not
finish its exchange, within ``timeout`` seconds; "EOF" counts servers that closed before
answering in full. ``connect_ms`` is connect() to connected; ``first_byte_ms`` is
connect() to the first byte of the answer. ``deadline`` bounds the whole run: then no
connection is started any more, those in flight are closed and counted as "DEADLINE",
and ``stopped`` says "deadline".

Non-blocking sockets in one ``selectors`` loop, in the calling thread (inside ``netns``
when given: every socket is made there).
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

from harness.kernel.endpoints import endpoint
from harness.kernel.netns import entered
from harness.sockets.options import IP_BIND_ADDRESS_NO_PORT, raise_nofile, set_linger_rst

CLOSERS = ("client", "server", "rst")
RECV_SIZE = 65536
TIMEOUT_CHECK_S = 0.05

_CONNECTING, _SENDING, _READING, _WAIT_EOF = range(4)


def _name(err: int) -> str:
    return errno.errorcode.get(err, f"errno {err}")


def percentiles_ms(samples: list[float]) -> dict[str, float | None]:
    """p50 / p99 / max (nearest rank) of durations in seconds, in ms; None when empty."""
    if not samples:
        return {"p50": None, "p99": None, "max": None}
    s = sorted(samples)

    def rank(q: float) -> float:
        return round(1000 * s[min(len(s) - 1, max(0, int(q * len(s) + 0.999999) - 1))], 3)

    return {"p50": rank(0.50), "p99": rank(0.99), "max": round(1000 * s[-1], 3)}


@dataclass
class ConnectResult:
    """Outcome of a run; ``to_dict()`` is the ``socklife connect --json`` object."""

    target: str
    attempted: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    connect_s: list[float] = field(default_factory=list)
    first_byte_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    stopped: str | None = None  # "deadline", or "interrupted" (set by the caller)

    @property
    def rate(self) -> float:
        """Successful connections per second over the run."""
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "target": self.target, "attempted": self.attempted, "ok": self.ok,
            "errors": dict(sorted(self.errors.items())),
            "connect_ms": percentiles_ms(self.connect_s),
            "first_byte_ms": percentiles_ms(self.first_byte_s),
            "rate": round(self.rate, 1), "elapsed_s": round(self.elapsed_s, 3),
            "stopped": self.stopped,
        }


class _Conn:
    __slots__ = ("deadline", "got", "sent", "sock", "stage", "t0")

    def __init__(self, sock: socket.socket, t0: float, deadline: float):
        self.sock, self.t0, self.deadline = sock, t0, deadline
        self.stage = _CONNECTING
        self.got = self.sent = 0


class _Run:
    def __init__(self, sockaddr, family, result: ConnectResult, *, count, rate, concurrency,
                 closer, size, bind, reuseaddr, bind_address_no_port, timeout, deadline):
        self.sockaddr, self.family, self.r = sockaddr, family, result
        self.count, self.rate, self.concurrency = count, rate, concurrency
        self.closer, self.size, self.bind = closer, size, bind
        self.reuseaddr, self.no_port, self.timeout = reuseaddr, bind_address_no_port, timeout
        self.deadline = deadline
        self.payload = b"x" * size
        self.sel = selectors.DefaultSelector()
        self.inflight: dict[int, _Conn] = {}
        self.done = 0

    def run(self) -> None:
        r, sel = self.r, self.sel
        start = time.perf_counter()
        next_check = start + TIMEOUT_CHECK_S
        stop_at = None if self.deadline is None else start + self.deadline
        try:
            while self.done < self.count:
                now = time.perf_counter()
                if stop_at is not None and now >= stop_at:
                    for conn in list(self.inflight.values()):
                        self._finish(conn, "DEADLINE")
                    r.stopped = "deadline"
                    break
                while (r.attempted < self.count and len(self.inflight) < self.concurrency
                       and (self.rate is None or now >= start + r.attempted / self.rate)):
                    self._start()
                    now = time.perf_counter()
                if self.done >= self.count:
                    break
                wait = max(0.0, next_check - now)
                if self.rate is not None and r.attempted < self.count \
                        and len(self.inflight) < self.concurrency:
                    wait = min(wait, max(0.0, start + r.attempted / self.rate - now))
                if stop_at is not None:
                    wait = min(wait, max(0.0, stop_at - now))
                for key, _mask in sel.select(wait if self.inflight else min(wait, 0.01)):
                    self._step(key.data)
                now = time.perf_counter()
                if now >= next_check:
                    self._expire(now)
                    next_check = now + TIMEOUT_CHECK_S
        finally:
            r.elapsed_s = time.perf_counter() - start
            for conn in self.inflight.values():  # only left when interrupted (Ctrl-C)
                conn.sock.close()
            sel.close()

    def _start(self) -> None:
        self.r.attempted += 1
        try:
            sock = socket.socket(self.family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        except OSError as exc:  # EMFILE, ENFILE, ENOBUFS: counted like any other outcome
            self._count_error(_name(exc.errno or 0))
            return
        try:
            if self.reuseaddr:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.no_port:
                sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            if self.bind is not None:
                sock.bind(self.bind)
            t0 = time.perf_counter()
            err = sock.connect_ex(self.sockaddr)
        except OSError as exc:
            sock.close()
            self._count_error(_name(exc.errno or 0))
            return
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self._count_error(_name(err))
            return
        conn = _Conn(sock, t0, t0 + self.timeout)
        self.inflight[sock.fileno()] = conn
        self.sel.register(sock, selectors.EVENT_WRITE, conn)

    def _count_error(self, name: str) -> None:
        self.r.errors[name] += 1
        self.done += 1

    def _finish(self, conn: _Conn, error: str | None = None) -> None:
        self.sel.unregister(conn.sock)
        del self.inflight[conn.sock.fileno()]
        if error is None and self.closer == "rst":
            set_linger_rst(conn.sock)
        conn.sock.close()
        if error is None:
            self.r.ok += 1
            self.done += 1
        else:
            self._count_error(error)

    def _expire(self, now: float) -> None:
        for conn in [c for c in self.inflight.values() if c.deadline <= now]:
            self._finish(conn, "ETIMEDOUT")

    def _step(self, conn: _Conn) -> None:
        try:
            if conn.stage == _CONNECTING:
                err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self._finish(conn, _name(err))
                    return
                now = time.perf_counter()
                self.r.connect_s.append(now - conn.t0)
                conn.deadline = now + self.timeout
                conn.stage = _SENDING
            if conn.stage == _SENDING:
                if conn.sent < self.size:
                    conn.sent += conn.sock.send(self.payload[conn.sent:] if conn.sent else
                                                self.payload)
                    if conn.sent < self.size:
                        return
                conn.stage = _READING
                if self.size == 0:
                    self._answered(conn)
                    return
                self.sel.modify(conn.sock, selectors.EVENT_READ, conn)
                return
            data = conn.sock.recv(RECV_SIZE)
            if conn.stage == _READING:
                if not data:
                    self._finish(conn, "EOF")
                    return
                if conn.got == 0:
                    self.r.first_byte_s.append(time.perf_counter() - conn.t0)
                conn.got += len(data)
                if conn.got >= self.size:
                    self._answered(conn)
            elif not data:  # _WAIT_EOF: the server's FIN
                self._finish(conn)
        except BlockingIOError:
            return
        except OSError as exc:
            self._finish(conn, _name(exc.errno or 0))

    def _answered(self, conn: _Conn) -> None:
        if self.closer == "server":
            conn.stage = _WAIT_EOF
            if self.size == 0:
                self.sel.modify(conn.sock, selectors.EVENT_READ, conn)
        else:
            self._finish(conn)


def run_connect(host: str, port: int, *, count: int = 1, rate: float | None = None,
                concurrency: int = 1, closer: str = "client", size: int = 64,
                bind_address: str | None = None, bind_port: int | None = None,
                reuseaddr: bool = False, bind_address_no_port: bool = False,
                timeout: float = 5.0, netns: str | None = None,
                deadline: float | None = None,
                result: ConnectResult | None = None) -> ConnectResult:
    """Make ``count`` short connections to ``host:port`` and count what happened.

    ``rate``: at most this many connection starts per second (None: as fast as the
    concurrency allows). ``bind_address``/``bind_port``: bind() each socket first (a
    fixed source port collides with its own TIME_WAIT unless SO_REUSEADDR is set on both
    sockets). ``bind_address_no_port``: IP_BIND_ADDRESS_NO_PORT before that bind.
    ``deadline``: seconds for the whole run. ``result``: fill this ConnectResult (so a
    caller interrupted by Ctrl-C still has what was counted).
    Raises ValueError on bad arguments and socket.gaierror when ``host`` does not resolve.
    """
    if count < 1 or concurrency < 1 or size < 0 or timeout <= 0:
        raise ValueError("count and concurrency must be >= 1, size >= 0, timeout > 0")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be > 0")
    if deadline is not None and deadline <= 0:
        raise ValueError("deadline must be > 0")
    if closer not in CLOSERS:
        raise ValueError(f"closer must be one of {', '.join(CLOSERS)}")
    if concurrency > 256:
        raise_nofile()
    with entered(netns):
        family, _t, _p, _c, sockaddr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        bind = None
        if bind_port is not None or bind_address is not None or bind_address_no_port:
            wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
            bind = (bind_address or wildcard, bind_port or 0)
        result = result or ConnectResult(target="")
        result.target = endpoint(sockaddr[0], port)
        _Run(sockaddr, family, result, count=count, rate=rate, concurrency=concurrency,
             closer=closer, size=size, bind=bind, reuseaddr=reuseaddr,
             bind_address_no_port=bind_address_no_port, timeout=timeout,
             deadline=deadline).run()
    return result
