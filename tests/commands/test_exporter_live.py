"""`socklife exporter` live: scraped directly and by a real Prometheus; bad input."""

from __future__ import annotations

import socket
from contextlib import ExitStack

import pytest
from exporter_util import PROMETHEUS, exporter, get, metric, prom_api, prometheus, three_pairs
from sockets_util import wait_for

from harness.cli import main
from harness.kernel.netns import entered


@pytest.fixture
def sockets():
    with three_pairs() as port:
        yield port


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
    assert metric(text, "socklife_netstat_Tcp_ActiveOpens_total") > 0
    assert "# HELP socklife_tcp_sockets TCP sockets by state" in text
    assert "# TYPE socklife_netstat_TcpExt_ListenOverflows_total counter" in text
    assert metric(text, "socklife_sample_duration_seconds") > 0


@pytest.mark.root
def test_netns_exports_the_namespace_sockets(netns):
    with netns() as name, ExitStack() as stack:
        with entered(name):  # sockets made here stay in the namespace
            port = stack.enter_context(three_pairs())
        with exporter("--netns", name, "--port", str(port)) as web:
            def settled():
                text = get(f"http://127.0.0.1:{web}/metrics")
                return metric(text, "socklife_tcp_sockets", '{state="established"}') == 6.0
            assert wait_for(settled, timeout=5)
        with exporter("--port", str(port)) as web:  # the host has none of them
            text = get(f"http://127.0.0.1:{web}/metrics")
            assert metric(text, "socklife_tcp_sockets", '{state="established"}') == 0.0


@pytest.mark.skipif(PROMETHEUS is None, reason="needs prometheus (Debian package prometheus)")
def test_prometheus_scrapes_the_exporter(sockets):
    with exporter("--port", str(sockets)) as port, prometheus(port) as web:
        def states():  # {state: count} once the target is up and scraped
            try:
                doc = prom_api(web, "query", query="socklife_tcp_sockets")
            except OSError:
                return None
            got = {r["metric"]["state"]: float(r["value"][1]) for r in doc["data"]["result"]
                   if r["metric"]["job"] == "socklife"}
            return got.get("established") == 6.0 and got
        got = wait_for(states, timeout=30, step=0.5)
        assert got, "Prometheus never returned the state counts"
        assert got["listen"] == 1.0 and got["syn_sent"] == 0.0 and len(got) == 11


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
    err = capsys.readouterr().err
    assert "Address already in use" in err and err.count("\n") == 1


@pytest.mark.root
def test_all_netns_labels_each_namespace():
    from unshare_util import unshared_leaker

    with unshared_leaker() as leaker, exporter("--all-netns", "--port", str(leaker.port)) as web:
        label = f'netns="netns {leaker.path}"'

        def seen():
            text = get(f"http://127.0.0.1:{web}/metrics")
            return metric(text, "socklife_tcp_sockets", f'{{{label},state="close_wait"}}')

        assert wait_for(seen, timeout=10) == 1.0
