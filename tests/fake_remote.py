"""A stand-in for `socklife exporter`'s sample endpoint, for the plugin's remote tests and
the 10-remote benchmark: ``python tests/fake_remote.py FIXTURE.jsonl [--token T]
[--delay S] [--mode ok|garbage|schema2|wrong]``. It prints its port on the first line of
stdout and serves, on 127.0.0.1 only:

- ``GET /api/v1/sample``: the latest sample;
- ``GET /api/v1/samples?after=T``: ``{"schema": 1, "samples": [...]}`` with time > T.

It publishes one of the fixture's samples (cycling) every ``--interval`` seconds, its
``time`` the moment of publication, keeping the last 600. ``--token``: 401 without
``Authorization: Bearer T``. ``--delay``: sleep that long before answering (a slow
remote). ``--mode``: garbage (not JSON), schema2 (another contract version), wrong (a
JSON object that is no sample). ``--tls CERT KEY``: HTTPS.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Ring:
    def __init__(self, samples: list[dict], interval: float):
        self.samples, self.interval = samples, interval
        self.start = time.time()
        self.published: deque = deque(maxlen=600)
        self.count = 0
        self.lock = threading.Lock()

    def catch_up(self) -> None:
        with self.lock:
            due = 1 + int((time.time() - self.start) / self.interval)
            while self.count < due:
                sample = dict(self.samples[self.count % len(self.samples)])
                sample["time"] = round(self.start + self.count * self.interval, 3)
                self.published.append(sample)
                self.count += 1


def handler(ring: Ring, token: str | None, delay: float, mode: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args):
            pass

        def answer(self, code: int, body: bytes, kind="application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if delay:
                time.sleep(delay)
            if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
                return self.answer(401, b'{"error": "unauthorized"}')
            url = urllib.parse.urlsplit(self.path)
            ring.catch_up()
            if mode == "garbage":
                return self.answer(200, b"<html>not a sample</html>", "text/html")
            if url.path == "/api/v1/sample":
                doc = ring.published[-1]
            elif url.path == "/api/v1/samples":
                after = float(urllib.parse.parse_qs(url.query).get("after", ["0"])[0])
                doc = {"schema": 1, "samples": [s for s in ring.published if s["time"] > after]}
            else:
                return self.answer(404, json.dumps({"error": f"no {url.path}"}).encode())
            if mode == "schema2":
                doc = {**doc, "schema": 2}
            elif mode == "wrong":
                doc = {"schema": 1, "hello": "world"}
            return self.answer(200, json.dumps(doc).encode())

    return Handler


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture")
    ap.add_argument("--token", default=None)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--mode", default="ok", choices=("ok", "garbage", "schema2", "wrong"))
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), default=None,
                    help="serve HTTPS with this certificate and key")
    args = ap.parse_args(argv)
    with open(args.fixture, encoding="utf-8") as f:
        samples = [d for d in map(json.loads, f) if "states" in d]
    ring = Ring(samples, args.interval)
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 handler(ring, args.token, args.delay, args.mode))
    server.daemon_threads = True
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()  # until killed
    return 0


if __name__ == "__main__":
    sys.exit(main())
