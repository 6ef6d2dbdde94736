"""A raw TCP User: connect, send one request, read the answer, close.

Each step is timed with ``perf_counter`` and reported to Locust's own statistics as a
request of type ``TCP`` named ``connect`` or ``request``; a failed step is reported with
an ``OSError`` whose message starts with the errno name, so each errno gets its own row
in Locust's failures (e.g. ``EADDRNOTAVAIL`` when the ephemeral ports run out).

``closer`` says who sends the first FIN: ``client`` closes after the answer (TIME_WAIT
on the client), ``server`` waits for the server's FIN and then closes (TIME_WAIT on the
server; needs a server that closes, e.g. ``close-first``). ``netns`` makes each
socket inside that namespace (the connection then lives there, e.g. a lab client host).
"""

from __future__ import annotations

import errno
import socket
import time

from locust import User, task

from harness.kernel.netns import entered

CLOSERS = ("client", "server")


def parse_tcp_host(host: str | None) -> tuple[str, int]:
    """``tcp://127.0.0.1:7000`` -> ("127.0.0.1", 7000); ValueError with one line otherwise."""
    if not host or not host.startswith("tcp://"):
        raise ValueError(f"expected --host tcp://HOST:PORT, got {host!r}")
    rest = host[len("tcp://"):].rstrip("/")
    name, sep, port = rest.rpartition(":")
    if not sep or not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected --host tcp://HOST:PORT, got {host!r}")
    return name.strip("[]"), int(port)


def as_failure(exc: OSError) -> OSError:
    """An OSError whose text names the errno: one failure row per errno in Locust."""
    if isinstance(exc, socket.timeout) or exc.errno is None:
        return OSError(errno.ETIMEDOUT, "ETIMEDOUT: timed out")
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    return OSError(exc.errno, f"{name}: {exc.strerror or exc}")


class TcpUser(User):
    """Short TCP connections to ``host`` (``tcp://HOST:PORT``); subclasses add tasks."""

    abstract = True
    closer = "client"
    payload = b"ping\n"
    timeout = 10.0
    netns: str | None = None

    def __init__(self, environment):
        super().__init__(environment)
        self.address = parse_tcp_host(self.host)
        if self.closer not in CLOSERS:
            raise ValueError(f"closer must be one of {CLOSERS}, got {self.closer!r}")

    def _fire(self, name: str, start: float, length: int = 0, exc: Exception | None = None):
        self.environment.events.request.fire(
            request_type="TCP", name=name, response_time=(time.perf_counter() - start) * 1000,
            response_length=length, exception=exc, context={})

    def short_connection(self) -> bool:
        """One connection's whole life; True when every step succeeded."""
        start = time.perf_counter()
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        if self.netns:
            with entered(self.netns):  # no greenlet switch inside: socket() does not yield
                sock = socket.socket(family)
        else:
            sock = socket.socket(family)
        sock.settimeout(self.timeout)
        try:
            try:
                sock.connect(self.address)
            except OSError as exc:
                self._fire("connect", start, exc=as_failure(exc))
                return False
            self._fire("connect", start)
            start = time.perf_counter()
            try:
                sock.sendall(self.payload)
                answer = sock.recv(65536)
                if self.closer == "server" and answer:
                    while sock.recv(65536):
                        pass
            except OSError as exc:
                self._fire("request", start, exc=as_failure(exc))
                return False
            if not answer:
                self._fire("request", start, exc=OSError(0, "EOF: closed before answering"))
                return False
            self._fire("request", start, len(answer))
            return True
        finally:
            sock.close()


class ShortTcpUser(TcpUser):
    """As many short connections as one User can make, back to back."""

    abstract = True

    @task
    def connection(self):
        self.short_connection()
