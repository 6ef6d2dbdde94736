"""`socklife exporter` live: scraped directly and by a real Prometheus; its JSON API, the
token, TLS, 50 scrapers at once with silent clients among them; bad input."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack

import pytest
from exporter_util import (
    OPENSSL,
    PROMETHEUS,
    client_context,
    exporter,
    get,
    get_json,
    metric,
    prom_api,
    prometheus,
    self_signed,
    three_pairs,
    token_file,
)
from sockets_util import wait_for

from harness.cli import main
from harness.kernel import sockdiag
from harness.kernel.netns import entered
from harness.schema.version import SCHEMA

TOKEN = "t0ken-for-tests"


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
            sample = get_json(f"http://127.0.0.1:{web}/api/v1/sample")
            assert sample["netns"] == name and sample["states"]["ESTABLISHED"] == 6
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


def answer(url: str, token: str | None = None, context=None) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a GET, error statuses included."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=10, context=context) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_the_sample_endpoints(sockets):
    with exporter("--port", str(sockets), "--keep", "3") as port:
        api = f"http://127.0.0.1:{port}/api/v1"

        def settled():
            doc = get_json(f"{api}/sample")
            return doc["states"]["ESTABLISHED"] == 6 and doc
        doc = wait_for(settled, timeout=5)
        assert doc and doc["schema"] == SCHEMA and doc["ports"] == [sockets]
        status, headers, body = answer(f"{api}/sample")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert int(headers["Content-Length"]) == len(body) and b"\n" not in body

        def full():  # the ring fills up to --keep
            got = get_json(f"{api}/samples")
            return len(got["samples"]) == 3 and got
        got = wait_for(full, timeout=5)
        assert got and got["schema"] == SCHEMA
        times = [s["time"] for s in got["samples"]]
        assert times == sorted(times) and len(set(times)) == 3
        time.sleep(1)  # five more samples: still three kept, all later than asked
        later = [s["time"] for s in get_json(f"{api}/samples?after={times[-1]!r}")["samples"]]
        assert len(later) == 3 and later == sorted(later) and later[0] > times[-1]
        newest = get_json(f"{api}/sample")["time"]
        assert get_json(f"{api}/samples?after={newest!r}")["samples"] == []
        status, headers, body = answer(f"{api}/samples?after=yesterday")
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert body.count(b"\n") == 1 and "not a number" in json.loads(body)["error"]


def test_the_listen_backlog():
    with exporter() as port:
        rows = sockdiag.dump(states=["LISTEN"], ports=[port])
    assert [r.wqueue for r in rows] == [128]


def test_a_token_guards_every_path(tmp_path):
    with exporter("--token-file", str(token_file(tmp_path, TOKEN)), token=TOKEN) as port:
        for path in ("/metrics", "/api/v1/sample", "/api/v1/samples?after=0", "/nope"):
            url = f"http://127.0.0.1:{port}{path}"
            assert answer(url, TOKEN)[0] == (404 if path == "/nope" else 200)
            for wrong in (None, "not-the-token", TOKEN + "x"):
                status, headers, body = answer(url, wrong)
                assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer ")
                assert "error" in json.loads(body)


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command (package openssl)")
def test_tls(tmp_path):
    cert, key = self_signed(tmp_path)
    ctx = client_context(cert)
    with exporter("--tls-cert", str(cert), "--tls-key", str(key), "--token-file",
                  str(token_file(tmp_path, TOKEN)), token=TOKEN, context=ctx) as port:
        doc = get_json(f"https://127.0.0.1:{port}/api/v1/sample", token=TOKEN, context=ctx)
        assert doc["schema"] == SCHEMA
        assert "socklife_tcp_sockets" in get(f"https://127.0.0.1:{port}/metrics", TOKEN, ctx)
        assert answer(f"https://127.0.0.1:{port}/metrics", None, ctx)[0] == 401
        with pytest.raises(OSError):  # plain HTTP gets no answer
            get(f"http://127.0.0.1:{port}/metrics", TOKEN)


@pytest.mark.skipif(PROMETHEUS is None or OPENSSL is None,
                    reason="needs prometheus and openssl (Debian packages)")
def test_prometheus_scrapes_it_with_a_token_over_tls(tmp_path, sockets):
    """The job of docs/exporter.md: Go's HTTP client, not only Python's, gets answers."""
    cert, key = self_signed(tmp_path)
    tok = token_file(tmp_path, TOKEN)
    job = (f"    scheme: https\n    authorization: {{credentials_file: {tok}}}\n"
           f"    tls_config: {{ca_file: {cert}}}\n")
    with exporter("--port", str(sockets), "--tls-cert", str(cert), "--tls-key", str(key),
                  "--token-file", str(tok), token=TOKEN, context=client_context(cert)
                  ) as port, prometheus(port, job=job) as web:
        def established():
            try:
                doc = prom_api(web, "query", query='socklife_tcp_sockets{state="established"}')
            except OSError:
                return None
            return [float(r["value"][1]) for r in doc["data"]["result"]] == [6.0]
        assert wait_for(established, timeout=30, step=0.5)
        targets = prom_api(web, "targets")["data"]["activeTargets"]
    assert [(t["health"], t["scrapeUrl"]) for t in targets] == [
        ("up", f"https://127.0.0.1:{port}/metrics")]


@pytest.mark.root
def test_any_address_needs_a_token_or_says_it_has_none(netns, tmp_path):
    """--listen 0.0.0.0 inside a namespace of the tests' own (nothing else reaches it)."""
    tok = str(token_file(tmp_path, TOKEN))
    with netns() as name:
        with exporter("--allow-unauthenticated", listen="0.0.0.0", inside=name) as port, \
                entered(name):
            assert get_json(f"http://127.0.0.1:{port}/api/v1/sample")["schema"] == SCHEMA
        with exporter("--token-file", tok, listen="0.0.0.0", inside=name, token=TOKEN) as port, \
                entered(name):
            assert answer(f"http://127.0.0.1:{port}/api/v1/sample")[0] == 401
            assert answer(f"http://127.0.0.1:{port}/api/v1/sample", TOKEN)[0] == 200


def test_fifty_scrapers_for_20_s_are_all_answered_with_silent_clients_about():
    """50 threads scrape at once, then every ~0.3 s for 20 s (the JSON paths too), while
    silent connections come and go; every scrape must be answered. How fast: not here
    (benchmarks/bench_exporter.py --concurrent)."""
    paths = ("/metrics", "/api/v1/sample", "/api/v1/samples?after=0")
    with exporter("--client-timeout", "1") as port:
        start = threading.Barrier(50)
        end = time.monotonic() + 20 + 5  # the barrier first
        results: list[list] = [[] for _ in range(50)]

        def scraper(k: int) -> None:
            start.wait(timeout=10)
            stop = time.monotonic() + 20
            n = k
            while time.monotonic() < stop:  # bounded: 20 s, each scrape 10 s at most
                url = f"http://127.0.0.1:{port}{paths[n % 3]}"
                try:
                    status, _, body = answer(url)
                    results[k].append((status == 200 and len(body) > 0) or status)
                except OSError as exc:
                    results[k].append(repr(exc))
                n += 1
                time.sleep(0.3)

        threads = [threading.Thread(target=scraper, args=(k,), daemon=True)
                   for k in range(50)]
        for t in threads:
            t.start()
        silent_dropped = 0
        while time.monotonic() < end and any(t.is_alive() for t in threads):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as quiet:
                silent_dropped += quiet.recv(1) == b""  # the exporter drops it after 1 s
        for t in threads:
            t.join(timeout=max(0.0, end - time.monotonic()) + 15)
        assert not any(t.is_alive() for t in threads)
    failures = [r for rs in results for r in rs if r is not True]
    assert not failures, failures[:5]
    assert all(len(rs) >= 10 for rs in results)  # each scraper kept scraping
    assert silent_dropped >= 5


@pytest.mark.parametrize("make, needle", [
    (lambda d: ["--token-file", str(d / "absent")],
     "cannot read --token-file"),
    (lambda d: ["--token-file", str(token_file(d, mode=0o644))],
     "is open to every user (mode 0644)"),
    (lambda d: ["--listen", "0.0.0.0:9464"],
     "is not loopback: give --token-file FILE (or --allow-unauthenticated"),
    (lambda d: ["--listen", "[::]:9464"], "is not loopback"),
    (lambda d: ["--token-file", str(token_file(d)), "--allow-unauthenticated"],
     "contradict"),
    (lambda d: ["--tls-cert", str(token_file(d))], "--tls-cert needs --tls-key"),
    (lambda d: ["--tls-key", str(token_file(d))], "--tls-key needs --tls-cert"),
    (lambda d: ["--tls-cert", str(d / "absent"), "--tls-key", str(d / "absent")],
     "does not exist"),
    (lambda d: ["--tls-cert", str(token_file(d)), "--tls-key", str(token_file(d))],
     "cannot use --tls-cert"),
    (lambda d: ["--keep", "0"], "--keep"),
    (lambda d: ["--client-timeout", "0"], "--client-timeout"),
])
def test_bad_access_options(capsys, tmp_path, make, needle):
    assert main(["exporter", *make(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


@pytest.mark.root
def test_all_netns_labels_each_namespace():
    from unshare_util import unshared_leaker

    with unshared_leaker() as leaker, exporter("--all-netns", "--port", str(leaker.port)) as web:
        label = f'netns="netns {leaker.path}"'

        def seen():
            text = get(f"http://127.0.0.1:{web}/metrics")
            return metric(text, "socklife_tcp_sockets", f'{{{label},state="close_wait"}}')

        assert wait_for(seen, timeout=10) == 1.0
        # no one newest sample of every namespace: /api/v1/samples has one per namespace
        status, _headers, body = answer(f"http://127.0.0.1:{web}/api/v1/sample")
        assert status == 400 and b"/api/v1/samples" in body
        docs = json.loads(answer(f"http://127.0.0.1:{web}/api/v1/samples")[2])["samples"]
        mine = [d for d in docs if d.get("host") == f"netns {leaker.path}"]
        assert mine and all(d["states"]["CLOSE_WAIT"] == 1 for d in mine)
        assert len({d["netns_inode"] for d in docs}) >= 2  # ours and the test's own
