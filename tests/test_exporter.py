"""`socklife exporter`: scraped directly and by a real Prometheus; the Grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from sockets_util import listener, pair, wait_for

from harness.cli import main

DASHBOARD = Path(__file__).parent.parent / "dashboards" / "grafana" / "socklife.json"
PROMETHEUS = shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


@contextmanager
def exporter(*args):
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


@pytest.fixture
def sockets():
    """A listener with three connected pairs: 6 ESTABLISHED + 1 LISTEN on its port."""
    lst = listener()
    pairs = [pair(lst) for _ in range(3)]
    yield lst.getsockname()[1]
    for c, s in pairs:
        c.close()
        s.close()
    lst.close()


def metric(text: str, name: str, labels: str = "") -> float | None:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_metrics_match_the_sockets_made(sockets):
    with exporter("--port", str(sockets)) as port:
        def settled():
            text = get(f"http://127.0.0.1:{port}/metrics")
            ok = metric(text, "socklife_tcp_sockets", '{state="established"}') == 6.0
            return ok and text
        text = wait_for(settled, timeout=5)
        assert text
    local = f'{{local="127.0.0.1:{sockets}"}}'
    assert metric(text, "socklife_tcp_sockets", '{state="listen"}') == 1.0
    assert metric(text, "socklife_listener_backlog_sockets", local) == 128.0
    assert metric(text, "socklife_listener_accept_queue_fill_ratio", local) == 0.0
    assert metric(text, "socklife_kernel_total", '{name="ActiveOpens"}') > 0
    assert "# HELP socklife_tcp_sockets TCP sockets by state" in text
    assert "# TYPE socklife_kernel_total counter" in text
    assert metric(text, "socklife_scrape_duration_seconds") is not None


@pytest.mark.skipif(PROMETHEUS is None, reason="needs prometheus (Debian package prometheus)")
def test_prometheus_scrapes_the_exporter(sockets):
    with exporter("--port", str(sockets)) as port, \
            tempfile.TemporaryDirectory(prefix="sl-prom-") as tmp:
        config = Path(tmp, "prometheus.yml")
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n  - job_name: socklife\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
        web = free_port()
        prom = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                                 f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{web}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            query = urllib.parse.quote('socklife_tcp_sockets{state="established"}')

            def answer():
                try:
                    doc = json.loads(get(f"http://127.0.0.1:{web}/api/v1/query?query={query}"))
                except OSError:
                    return None
                result = doc["data"]["result"]
                return result and float(result[0]["value"][1]) == 6.0 and result
            result = wait_for(answer, timeout=30, step=0.5)
            assert result, "Prometheus never returned the state counts"
            assert result[0]["metric"]["job"] == "socklife"
        finally:
            prom.terminate()
            prom.wait(20)


def test_dashboard_uses_only_metrics_a_scrape_has(sockets):
    dash = json.loads(DASHBOARD.read_text())
    assert dash["schemaVersion"] >= 30 and dash["title"]
    names = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "instance"} <= names
    exprs = []
    for p in dash["panels"]:
        assert {"x", "y", "w", "h"} <= set(p["gridPos"]) and p["targets"]
        exprs += [t["expr"] for t in p["targets"]]
    used = set(re.findall(r"\b(socklife_[a-z_]+)", " ".join(exprs)))
    assert len(used) >= 8
    # Destinations and exhaustion forecasts exist only when a client holds ports.
    client = socket.create_connection(("127.0.0.1", sockets))
    try:
        with exporter("--port", str(sockets)) as port:
            text = get(f"http://127.0.0.1:{port}/metrics")
    finally:
        client.close()
    exposed = set(re.findall(r"^# TYPE (\S+)", text, re.M))
    exposed |= {n[:-6] for n in exposed if n.endswith("_total")}
    assert used <= exposed | {n + "_total" for n in exposed}, used - exposed


@pytest.mark.parametrize("args, needle", [
    (["--listen", "localhost:9464"], "needs an IP address"),
    (["--listen", "127.0.0.1"], "expected HOST:PORT"),
    (["--top", "0"], "--top"),
])
def test_bad_input(capsys, args, needle):
    assert main(["exporter", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_busy_port(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["exporter", "--listen", f"127.0.0.1:{port}"]) == 2
    assert "Address already in use" in capsys.readouterr().err
