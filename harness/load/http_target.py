"""A small embedded HTTP/1.1 server for HTTP locustfiles run without ``--host``.

Answers every GET with ``ok``, honours ``Connection: close`` (the server then closes
first, so TIME_WAIT lands on the server side) and keeps other connections open
(HTTP/1.1 keep-alive). Runs in a thread: under Locust that is a greenlet.
"""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body in one write: two small writes meet Nagle and delayed ACK (40 ms)
    wbufsize = 65536

    def handle(self):
        # the User went away (end of the run): nothing to answer
        with contextlib.suppress(ConnectionError):
            super().handle()

    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HttpTarget:
    """``start()`` listens on ``host`` (port chosen by the kernel); ``url``; ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> HttpTarget:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"http-target-{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
