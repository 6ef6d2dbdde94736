"""Running `socklife exporter` in a child process for live tests, and reading its page."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request
from contextlib import contextmanager

from sockets_util import listener, pair, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


@contextmanager
def exporter(*args):
    """`socklife exporter --interval 0.2 ARGS` on a free loopback port; yields the port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "exporter", "--listen",
                             f"127.0.0.1:{port}", "--interval", "0.2", *args],
                            stderr=subprocess.PIPE, text=True)
    try:
        def up():
            try:
                return get(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                return None
        assert wait_for(up, timeout=10), proc.stderr.read() if proc.poll() is not None else ""
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def three_pairs():
    """A listener with three connected pairs: 6 ESTABLISHED + 1 LISTEN on its port."""
    lst = listener()
    pairs = [pair(lst) for _ in range(3)]
    try:
        yield lst.getsockname()[1]
    finally:
        for c, s in pairs:
            c.close()
            s.close()
        lst.close()


def metric(text: str, name: str, labels: str = "") -> float | None:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None
