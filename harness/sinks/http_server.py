"""The exporter's HTTP server: routes by path, a bearer token, TLS, bounded clients.

prometheus_client's ``start_http_server`` listens with a backlog of 5 (50 scrapers at
once saw SYNs dropped and waited 1-4 s for the retransmission), gives a client no
timeout (a connection that sends nothing holds its thread forever), and its TLS wraps
the listening socket, so the handshake runs inside accept(): one client that connects
and stays silent stops every other scrape. This server, a ThreadingHTTPServer:

- listens with a backlog of ``BACKLOG`` (128; the kernel caps it at net.core.somaxconn);
- serves at most ``max_clients`` connections at once, each in a daemon thread; the
  next ones wait in the kernel's accept queue until a thread is free;
- gives each client ``client_timeout`` seconds, from the moment a thread takes it, to
  finish its TLS handshake and send its request head (one deadline, not a timeout per
  read: a client trickling a byte at a time is dropped as surely as a silent one), and
  as long again for each write of the answer (``WRITE_BYTES``); a client past that, or
  whose head is over ``HEAD_MAX`` bytes, is dropped without an answer;
- does the TLS handshake in the client's own thread, not in accept();
- with a token, answers only requests that carry ``Authorization: Bearer TOKEN``
  (compared in constant time, hmac.compare_digest), every path included; others get
  401 with ``WWW-Authenticate: Bearer`` and an ApiError body;
- speaks HTTP/1.0: one request per connection, every answer with its Content-Length,
  then the connection is closed (no idle keep-alive connection holds a thread).

A route is ``route(query, headers) -> Answer``; an unknown path is a 404.
"""

from __future__ import annotations

import hmac
import io
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import urlsplit

from harness.sinks.jsonl import encode

BACKLOG = 128
MAX_CLIENTS = 64
CLIENT_TIMEOUT_S = 10.0
HEAD_MAX = 16384  # bytes of request line and headers
WRITE_BYTES = 1 << 16
JSON = "application/json"


class Answer(NamedTuple):
    status: int
    content_type: str
    body: bytes | tuple[bytes, ...]  # a tuple is sent part by part, never joined
    headers: tuple[tuple[str, str], ...] = ()  # (name, value) beyond those three


Route = Callable[[str, Message], Answer]


def json_error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()
               ) -> Answer:
    """A records.ApiError answer: ``{"error": "..."}`` on one line."""
    return Answer(status, JSON, encode({"error": message}).encode() + b"\n", headers)


class Dropped(OSError):
    """A client dropped without an answer (its head too long)."""


class Handler(BaseHTTPRequestHandler):
    server: ExporterServer
    server_version = "socklife-exporter"
    sys_version = ""  # no Python version in the Server header

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the head is read here, under the client's deadline
        self.rfile = io.BytesIO(self._read_head())

    def _read_head(self) -> bytes:
        deadline = self.server.client.deadline
        head = b""
        while b"\r\n\r\n" not in head and b"\n\n" not in head:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request head not received in time")
            self.connection.settimeout(left)
            chunk = self.connection.recv(4096)
            if not chunk:
                break
            head += chunk
            if len(head) > HEAD_MAX:
                raise Dropped(f"request head over {HEAD_MAX} bytes")
        self.connection.settimeout(self.server.client_timeout)  # bounds the answer's sends
        return head

    def do_GET(self) -> None:
        refused = self.server.refused(self.headers.get("Authorization"))
        if refused is not None:
            self._send(refused)
            return
        url = urlsplit(self.path)
        route = self.server.routes.get(url.path)
        if route is None:
            paths = ", ".join(self.server.routes)
            self._send(json_error(404, f"no such path {url.path!r}; there are {paths}"))
            return
        try:
            answer = route(url.query, self.headers)
        except Exception as exc:  # a bug: the client and stderr hear one line of it
            self.server.log_line(f"{url.path}: {type(exc).__name__}: {exc}")
            answer = json_error(500, f"{url.path} failed: {type(exc).__name__}")
        self._send(answer)

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        parts = (answer.body,) if isinstance(answer.body, bytes) else answer.body
        self.send_header("Content-Length", str(sum(map(len, parts))))
        self.send_header("Cache-Control", "no-store")
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        batch: list[bytes] = []  # parts sent in writes of 64 KiB or more, not one by one
        size = 0
        for part in parts:
            batch.append(part)
            size += len(part)
            if size >= WRITE_BYTES:
                self.wfile.write(b"".join(batch))
                batch, size = [], 0
        if batch:
            self.wfile.write(b"".join(batch))

    def log_message(self, format, *args) -> None:
        """Nothing per request (prometheus_client's server logs nothing either)."""


class ExporterServer(ThreadingHTTPServer):
    """Serves ``routes`` ({path: Route}) on ``address`` (host, port) until shutdown()."""

    request_queue_size = BACKLOG
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], routes: dict[str, Route], *,
                 token: str | None = None, tls: ssl.SSLContext | None = None,
                 client_timeout: float = CLIENT_TIMEOUT_S, max_clients: int = MAX_CLIENTS):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.routes = routes
        self.token = None if token is None else token.encode()
        self.tls = tls
        self.client_timeout = client_timeout
        self._slots = threading.BoundedSemaphore(max_clients)
        self._stopping = threading.Event()
        self.client = threading.local()  # .deadline of the client this thread serves
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (socket.getfqdn: a DNS query at
        # start-up); nothing here uses it
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def refused(self, authorization: str | None) -> Answer | None:
        """The 401 for a request without the right bearer token; None to serve it."""
        if self.token is None:
            return None
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode("latin-1", "replace"), self.token):
            return None
        if not authorization:
            challenge, why = 'Bearer realm="socklife"', "a bearer token is required"
        else:
            challenge = 'Bearer realm="socklife", error="invalid_token"'
            why = "wrong token"
        return json_error(401, f"{why} (Authorization: Bearer TOKEN, the exporter's "
                               "--token-file)", (("WWW-Authenticate", challenge),))

    def process_request(self, request, client_address) -> None:
        """In the accepting thread: wait for a free thread (the next connections wait
        in the kernel's accept queue meanwhile), then hand the client to it."""
        while not self._slots.acquire(timeout=0.2):
            if self._stopping.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()  # no thread was started
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request, client_address) -> None:
        """In the client's thread: TLS first (under the client's deadline), then HTTP."""
        self.client.deadline = time.monotonic() + self.client_timeout
        request.settimeout(self.client_timeout)
        if self.tls is None:
            self.RequestHandlerClass(request, client_address, self)
            return
        # wrap_socket detaches ``request``; the TLS socket is closed here instead
        with self.tls.wrap_socket(request, server_side=True,
                                  do_handshake_on_connect=False) as conn:
            conn.do_handshake()
            self.RequestHandlerClass(conn, client_address, self)
            with suppress(OSError):  # close_notify, without waiting for the client's
                conn.settimeout(0)
                conn.unwrap()

    def handle_error(self, request, client_address) -> None:
        """A client that went away, was too slow or failed its TLS handshake is dropped
        quietly; anything else is one line on stderr, never a traceback."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):  # ssl.SSLError, TimeoutError, Dropped are
            self.log_line(f"answering {client_address[0]}: {type(exc).__name__}: {exc}")

    def log_line(self, text: str) -> None:
        print(f"socklife exporter: error {text}", file=sys.stderr)

    def shutdown(self) -> None:
        self._stopping.set()
        super().shutdown()
