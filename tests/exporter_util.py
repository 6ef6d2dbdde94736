"""Running `socklife exporter` in a child process for live tests, reading its page, and a
real Prometheus (Debian's package) that scrapes it."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

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


PROMETHEUS = shutil.which("prometheus")


@contextmanager
def prometheus(target_port: int, scrape_s: float = 1.0):
    """A Prometheus scraping 127.0.0.1:``target_port`` (job "socklife") every ``scrape_s``,
    its data in a temporary folder; yields its loopback port, stopped and removed after."""
    with tempfile.TemporaryDirectory(prefix="sl-prom-") as tmp:
        config = Path(tmp, "prometheus.yml")
        config.write_text(
            f"global: {{scrape_interval: {scrape_s:g}s, evaluation_interval: {scrape_s:g}s}}\n"
            "scrape_configs:\n  - job_name: socklife\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n")
        web = free_port()
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                                 f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{web}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield web
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def prom_api(web: int, path: str, **params) -> dict:
    """GET /api/v1/PATH from the Prometheus on ``web``: its JSON, errors included (a bad
    query answers 400 with ``{"status": "error", "error": ...}``)."""
    url = f"http://127.0.0.1:{web}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return json.loads(body)
        except ValueError:  # "Service Unavailable" while it starts: not an answer yet
            raise OSError(f"Prometheus answered {exc.code}: {body[:80]!r}") from None


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
