"""The short-connection client: outcomes counted by errno name, who closes first, source
binding, and the ephemeral-port wall in a namespace with 50 ports."""

from __future__ import annotations

import json
import socket
from collections import Counter

import pytest
from sockets_util import wait_for

from harness.cli import main
from harness.kernel import sockdiag
from harness.sockets import Server, run_connect
from harness.sockets.client import percentiles_ms

PORT = 7000
SMALL_RANGE = {"net.ipv4.ip_local_port_range": "40000 40049", "net.ipv4.tcp_tw_reuse": "0"}


def test_percentiles_are_nearest_rank_in_ms():
    assert percentiles_ms([]) == {"p50": None, "p99": None, "max": None}
    samples = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentiles_ms(samples) == {"p50": 50.0, "p99": 99.0, "max": 100.0}
    assert percentiles_ms([0.002]) == {"p50": 2.0, "p99": 2.0, "max": 2.0}


@pytest.mark.parametrize("kwargs", [
    {"count": 0}, {"concurrency": 0}, {"size": -1}, {"timeout": 0}, {"rate": 0},
    {"closer": "nobody"},
])
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        run_connect("127.0.0.1", 1, **kwargs)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # bound, never listened: connects are refused
    return port


@pytest.mark.live
def test_refused_connections_are_counted_and_the_run_goes_on():
    r = run_connect("127.0.0.1", _closed_port(), count=7, concurrency=3)
    assert (r.attempted, r.ok, dict(r.errors)) == (7, 0, {"ECONNREFUSED": 7})
    assert r.connect_s == []


@pytest.mark.live
def test_ok_run_measures_connect_and_first_byte():
    with Server("echo") as srv:
        r = run_connect("127.0.0.1", srv.port, count=50, concurrency=5, size=100)
        assert (r.attempted, r.ok, dict(r.errors)) == (50, 50, {})
        assert len(r.connect_s) == len(r.first_byte_s) == 50
        assert all(fb >= c for c, fb in zip(sorted(r.connect_s), sorted(r.first_byte_s),
                                            strict=True))
        assert wait_for(lambda: srv.bytes_in == 50 * 100)
        d = r.to_dict()
        assert set(d) >= {"attempted", "ok", "errors", "connect_ms", "first_byte_ms", "rate"}
        assert d["rate"] > 0


@pytest.mark.live
def test_rate_spaces_the_connection_starts():
    with Server("echo") as srv:
        r = run_connect("127.0.0.1", srv.port, count=6, rate=20, concurrency=6)
    assert r.ok == 6
    assert r.elapsed_s >= 5 / 20  # the 6th start is due 0.25 s after the first


@pytest.mark.live
def test_size_zero_connects_and_closes_without_an_exchange():
    with Server("echo") as srv:
        r = run_connect("127.0.0.1", srv.port, count=4, size=0)
        assert (r.ok, r.first_byte_s) == (4, [])
        assert wait_for(lambda: srv.closed == 4)
        assert srv.bytes_in == 0


@pytest.mark.root
def test_timeouts_when_the_accept_queue_is_full(netns):
    # backlog 0 holds one connection: it connects but is never answered; the other
    # SYNs are dropped and never connect. Both end as ETIMEDOUT after `timeout`.
    with netns() as ns, Server("no-accept", port=PORT, backlog=0, netns=ns):
        r = run_connect("127.0.0.1", PORT, count=3, timeout=0.3, netns=ns)
    assert (r.attempted, r.ok, dict(r.errors)) == (3, 0, {"ETIMEDOUT": 3})
    assert len(r.connect_s) == 1


@pytest.mark.root
def test_closer_rst_leaves_no_time_wait_and_resets_the_server(netns):
    with netns() as ns, Server("echo", port=PORT, netns=ns) as srv:
        r = run_connect("127.0.0.1", PORT, count=5, closer="rst", netns=ns)
        assert r.ok == 5
        assert wait_for(lambda: srv.closed == 5)
        assert srv.resets == 5
        assert sockdiag.count_states(ns, ports=[PORT])["TIME_WAIT"] == 0


@pytest.mark.root
@pytest.mark.parametrize("reuseaddr, outcome", [(False, (0, {"EADDRINUSE": 1})), (True, (1, {}))])
def test_fixed_source_port_meets_its_own_time_wait(netns, reuseaddr, outcome):
    # Without SO_REUSEADDR on both sockets bind() refuses the port held by TIME_WAIT. With
    # it, connect() from an explicitly bound port may take over the TIME_WAIT of the same
    # 4-tuple even with tcp_tw_reuse=0: the kernel passes no twp for a bound port, and
    # tcp_twsk_unique() then allows reuse whenever the old connection had timestamps.
    with netns({"net.ipv4.tcp_tw_reuse": "0"}) as ns, Server(port=PORT, netns=ns):
        first = run_connect("127.0.0.1", PORT, bind_port=45000, reuseaddr=reuseaddr, netns=ns)
        assert first.ok == 1

        def client_time_wait():
            tw = sockdiag.dump(ns, states=["TIME_WAIT"], ports=[PORT])
            return [(t.sport, t.dport) for t in tw]

        assert wait_for(lambda: client_time_wait() == [(45000, PORT)])
        again = run_connect("127.0.0.1", PORT, bind_port=45000, reuseaddr=reuseaddr, netns=ns)
        assert (again.ok, dict(again.errors)) == outcome


@pytest.mark.root
@pytest.mark.parametrize("no_port, error", [(False, "EADDRINUSE"), (True, "EADDRNOTAVAIL")])
def test_bind_address_no_port_moves_port_choice_to_connect(netns, no_port, error):
    # bind(127.0.0.1:0) takes a port for good at bind time: EADDRINUSE when none is left.
    # With IP_BIND_ADDRESS_NO_PORT the port is picked by connect(): EADDRNOTAVAIL.
    with netns(SMALL_RANGE) as ns, Server(port=PORT, netns=ns):
        r = run_connect("127.0.0.1", PORT, count=60, bind_address="127.0.0.1",
                        bind_address_no_port=no_port, netns=ns)
    assert r.ok + r.errors[error] == 60 and 45 <= r.ok <= 50, r.to_dict()


@pytest.mark.root
def test_cli_connect_exhausts_fifty_ephemeral_ports(netns, capsys):
    with netns(SMALL_RANGE) as ns, Server(port=PORT, netns=ns):
        capsys.readouterr()
        assert main(["connect", "--netns", ns, f"127.0.0.1:{PORT}", "--count", "80",
                     "--json"]) == 0
        d = json.loads(capsys.readouterr().out)
        assert d["attempted"] == 80
        assert 45 <= d["ok"] <= 50
        assert d["errors"] == {"EADDRNOTAVAIL": 80 - d["ok"]}
        recs = sockdiag.dump(ns, states=["TIME_WAIT"], ports=[PORT])
        client_tw = [t for t in recs if t.dport == PORT]
        assert len(client_tw) == d["ok"]  # every port is held by the client's TIME_WAIT
        assert {t.sport for t in client_tw} <= set(range(40000, 40050))


@pytest.mark.root
def test_cli_closer_client_leaves_time_wait_on_the_client(netns, capsys):
    with netns() as ns, Server(port=PORT, netns=ns):
        assert main(["connect", "--netns", ns, f"127.0.0.1:{PORT}", "--count", "10",
                     "--closer", "client", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["ok"] == 10

        def sides():
            recs = sockdiag.dump(ns, ports=[PORT])
            return (Counter(r.state for r in recs if r.sport == PORT),
                    Counter(r.state for r in recs if r.dport == PORT))

        expected = (Counter(LISTEN=1), Counter(TIME_WAIT=10))
        assert wait_for(lambda: sides() == expected), sides()


@pytest.mark.root
def test_holds_ten_thousand_connections(netns):
    """10,000 open connections on one server: 20,000 ESTABLISHED sockets in the namespace.

    The client sockets live in this process, the server in a `socklife serve` subprocess
    (each process then needs ~10,000 descriptors)."""
    import subprocess
    import sys

    from harness.kernel.netns import entered
    from harness.sockets.options import raise_nofile

    if raise_nofile() < 10_500:
        pytest.skip("RLIMIT_NOFILE hard limit below 10,500")
    n = 10_000
    with netns() as ns:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "serve", "--netns", ns, "--port", str(PORT),
             "--backlog", "4096"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        clients = []
        try:
            assert "listening on 127.0.0.1:7000" in proc.stdout.readline()
            with entered(ns):
                for _ in range(n):
                    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                    clients.append(c)
                    c.connect_ex(("127.0.0.1", PORT))
            assert wait_for(lambda: sockdiag.count_states(ns, ports=[PORT])["ESTABLISHED"]
                            == 2 * n, timeout=30, step=0.2)
            # ESTABLISHED counts the accept queue too: wait until the server took them all
            assert wait_for(lambda: [r.rqueue for r in sockdiag.dump(ns, ["LISTEN"], [PORT])]
                            == [0], timeout=30, step=0.2)
        finally:
            for c in clients:
                c.close()
            proc.terminate()
            _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 143, err  # 128 + SIGTERM, after its stop line
        assert f"{n} accepted" in err


@pytest.mark.live
def test_running_out_of_descriptors_is_counted_as_emfile():
    """With RLIMIT_NOFILE at 40, 60 connections in flight cannot all get a socket."""
    import subprocess
    import sys

    code = (
        "import json, resource\n"
        "from harness.sockets import run_connect\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (40, resource.getrlimit("
        "resource.RLIMIT_NOFILE)[1]))\n"
        "r = run_connect('127.0.0.1', {port}, count=60, concurrency=60, timeout=0.5)\n"
        "print(json.dumps(r.to_dict()))\n"
    )
    with Server("no-accept", backlog=100) as srv:  # connects, never answers: all stay open
        out = subprocess.run([sys.executable, "-c", code.format(port=srv.port)], check=True,
                             capture_output=True, text=True, timeout=60).stdout
    d = json.loads(out)
    assert d["attempted"] == 60 and d["ok"] == 0
    assert set(d["errors"]) == {"EMFILE", "ETIMEDOUT"}
    assert sum(d["errors"].values()) == 60
