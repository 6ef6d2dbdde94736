"""Running `socklife exporter` in a child process for live tests, reading its pages (with
a bearer token, over TLS), a self-signed certificate for it, and a real Prometheus
(Debian's package) that scrapes it."""

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

from harness.kernel.netns import entered


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str | None = None, context=None, timeout: float = 5) -> str:
    """The body of ``url`` (``token``: sent as a bearer token; ``context``: an
    ssl.SSLContext for https)."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout, context=context) as r:
        return r.read().decode()


def get_json(url: str, **kw):
    return json.loads(get(url, **kw))


@contextmanager
def exporter(*args, token: str | None = None, context=None, listen: str = "127.0.0.1",
             inside: str | None = None):
    """`socklife exporter --interval 0.2 ARGS` on a free port of ``listen``, run in
    namespace ``inside`` (root) if given; yields the port once /metrics answers on
    127.0.0.1 (with ``token``; over TLS with ``context``)."""
    port = free_port()
    ns = [] if inside is None else ["ip", "netns", "exec", inside]
    proc = subprocess.Popen([*ns, sys.executable, "-m", "harness", "exporter", "--listen",
                             f"{listen}:{port}", "--interval", "0.2", *args],
                            stderr=subprocess.PIPE, text=True)
    scheme = "http" if context is None else "https"
    try:
        def up():
            try:
                with entered(inside):
                    return get(f"{scheme}://127.0.0.1:{port}/metrics", token, context)
            except OSError:
                return None
        assert wait_for(up, timeout=10), proc.stderr.read() if proc.poll() is not None else ""
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


OPENSSL = shutil.which("openssl")


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) for 127.0.0.1 made by the openssl CLI in ``folder``."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True,
                   capture_output=True)
    return cert, key


def client_context(cert: Path):
    """An ssl.SSLContext that trusts ``cert`` alone (and checks the host name)."""
    import ssl

    return ssl.create_default_context(cafile=str(cert))


def token_file(folder: Path, token: str = "t0ken-for-tests", mode: int = 0o600) -> Path:
    path = folder / "token"
    path.write_text(token + "\n")
    path.chmod(mode)
    return path


PROMETHEUS = shutil.which("prometheus")


@contextmanager
def prometheus(target_port: int, scrape_s: float = 1.0, job: str = ""):
    """A Prometheus scraping 127.0.0.1:``target_port`` (job "socklife", more of its YAML
    in ``job``) every ``scrape_s``, its data in a temporary folder; yields its loopback
    port, stopped and removed after."""
    with tempfile.TemporaryDirectory(prefix="sl-prom-") as tmp:
        config = Path(tmp, "prometheus.yml")
        config.write_text(
            f"global: {{scrape_interval: {scrape_s:g}s, evaluation_interval: {scrape_s:g}s}}\n"
            "scrape_configs:\n  - job_name: socklife\n" + job +
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
