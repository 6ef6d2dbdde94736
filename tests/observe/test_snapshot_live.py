"""snapshot against `ss` on sockets built on purpose in a private namespace."""

from __future__ import annotations

import json
import os
import socket
from contextlib import ExitStack

import pytest
from sockets_util import listener, nonblocking_connects, pair, ss_counts, wait_for

from harness.cli import main
from harness.kernel import inet_diag as wire
from harness.kernel import sockdiag
from harness.kernel.netns import entered

pytestmark = [pytest.mark.root, pytest.mark.live]


def _snapshot_json(capsys, *args):
    capsys.readouterr()
    assert main(["snapshot", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def population(netns):
    """listen(5) + 10 unaccepted connects, a CLOSE_WAIT leak, 5 TIME_WAIT, an IPv6 pair."""
    with netns() as ns, ExitStack() as keep:
        with entered(ns):
            full = keep.enter_context(listener(backlog=5))
            for c in nonblocking_connects(full.getsockname(), 10):
                keep.enter_context(c)
            leaky = keep.enter_context(listener())
            client, server = pair(leaky)
            keep.enter_context(server)
            client.close()  # server never closes: CLOSE_WAIT, client FIN_WAIT2
            tw = keep.enter_context(listener())
            for _ in range(5):
                c, s = pair(tw)
                c.close()  # client closes first: TIME_WAIT on the client
                s.recv(1)
                s.close()
            v6 = keep.enter_context(listener("::1", family=socket.AF_INET6))
            for s in pair(v6):
                keep.enter_context(s)
        yield ns, full.getsockname()[1], server


def _stable_compare(ns, ss_filter=""):
    """Our counts against ss's; retried because handshakes may still be settling."""
    def same():
        ours = sockdiag.count_states(ns)
        theirs = ss_counts(ns, ss_filter)
        return ours == theirs and (ours, theirs)

    return wait_for(same, timeout=3)


def test_snapshot_counts_equal_ss(population, capsys):
    ns, full_port, leaked = population
    assert wait_for(lambda: ss_counts(ns)["SYN_SENT"] == 4 and ss_counts(ns)["TIME_WAIT"] == 5)
    snap = _snapshot_json(capsys, "--netns", ns)
    assert snap["states"] == ss_counts(ns)
    assert snap["states"]["TIME_WAIT"] == 5
    assert snap["states"]["CLOSE_WAIT"] == 1
    assert snap["states"]["FIN_WAIT2"] == 1
    assert snap["states"]["SYN_SENT"] == 4
    assert snap["states"]["LISTEN"] == 4

    (row,) = [r for r in snap["listeners"] if r["local"] == f"127.0.0.1:{full_port}"]
    assert (row["accept_queue"], row["backlog"]) == (6, 5)
    assert row["pid"] == os.getpid()

    (cw,) = snap["close_wait"]
    assert (cw["pid"], cw["fd"]) == (os.getpid(), leaked.fileno())
    assert cw["age_s"] is None
    assert snap["time_wait"]["count"] == 5
    assert 50 <= snap["time_wait"]["expires_s"]["max"] <= 60
    assert any(r["remote"].startswith("[::1]:") for r in snap["ephemeral"]["by_destination"])


def test_count_states_equals_ss_including_fin_wait2_minisocket(population):
    """count_states takes TIME_WAIT from sockstat's tw minus FIN_WAIT2 minisockets."""
    ns, _port, _leaked = population
    assert _stable_compare(ns)


def test_port_filter_runs_in_the_kernel(population):
    ns, full_port, _ = population
    with sockdiag.SockDiag(ns) as diag:
        everything = diag.records()
        all_bytes = diag.bytes_received
        mine = diag.records(ports=[full_port])
        filtered_bytes = diag.bytes_received
    assert {r.sport for r in mine} | {r.dport for r in mine} >= {full_port}
    assert all(full_port in (r.sport, r.dport) for r in mine)
    assert len(mine) == 1 + 10 + 6  # listener, 10 clients, 6 accepted-but-queued
    assert filtered_bytes < all_bytes and len(mine) < len(everything)
    counts = sockdiag.count_states(ns, ports=[full_port])
    assert counts == ss_counts(ns, f"( sport = :{full_port} or dport = :{full_port} )")


def test_excluded_ports_are_the_complement_in_the_kernel(population):
    ns, full_port, _ = population
    with sockdiag.SockDiag(ns) as diag:
        everything = {r.cookie for r in diag.records()}
        mine = {r.cookie for r in diag.records(ports=[full_port])}
        others = []
        diag.scan(lambda buf, n, res: wire.decode_chunk(buf, n, others.append, res),
                  ports=[full_port], exclude_ports=True)
    assert mine and others
    assert not any(full_port in (r.sport, r.dport) for r in others)
    assert {r.cookie for r in others} == everything - mine


def _cookies(diag, families, **kw):
    out = []
    diag.scan(lambda buf, n, res: wire.decode_chunk(buf, n, out.append, res),
              families=families, reset=out.clear, **kw)
    return {r.cookie for r in out}, {r.family for r in out}


def test_one_walk_dumps_both_families_like_a_dump_per_family(population):
    ns, full_port, _ = population
    with sockdiag.SockDiag(ns) as diag:
        for kw in ({}, {"ports": [full_port]}, {"ports": [full_port], "exclude_ports": True},
                   {"states": ["TIME_WAIT", "ESTABLISHED"]}):
            one, one_families = _cookies(diag, sockdiag.ONE_WALK, **kw)
            each, _ = _cookies(diag, sockdiag.FAMILIES, **kw)
            assert one == each and one, kw
        assert one_families == {socket.AF_INET, socket.AF_INET6}
        assert diag._one_walk


def test_one_walk_falls_back_to_a_dump_per_family_when_refused(population, monkeypatch):
    """A kernel that refuses the legacy request (here: a message type it rejects with
    EINVAL) still gets both families, from a dump each, from then on."""
    ns, _port, _ = population
    with sockdiag.SockDiag(ns) as diag:
        each, _ = _cookies(diag, sockdiag.FAMILIES)
        monkeypatch.setattr(wire, "TCPDIAG_GETSOCK", 17)
        one, families = _cookies(diag, sockdiag.ONE_WALK)
        assert not diag._one_walk
    assert one == each and families == {socket.AF_INET, socket.AF_INET6}


def test_dump_states_filter_and_fields(population):
    ns, _port, _ = population
    tw = sockdiag.dump(ns, states=["TIME_WAIT"])
    assert len(tw) == 5
    assert all(r.timer == 3 and r.inode == 0 and 0 < r.expires <= 60_000 for r in tw)
    v6 = [r for r in sockdiag.dump(ns, states=["ESTABLISHED"]) if r.family == socket.AF_INET6]
    assert len(v6) == 2 and all(r.src == "::1" and r.local.startswith("[::1]:") for r in v6)
    cookies = [r.cookie for r in sockdiag.dump(ns)]
    assert len(set(cookies)) == len(cookies)


def test_one_walk_that_fails_midway_starts_over_with_a_dump_per_family(population,
                                                                      monkeypatch):
    """Sockets consumed before the legacy dump failed are thrown away (``reset``), not
    counted twice with the per-family dumps that follow."""
    ns, _port, _ = population
    with sockdiag.SockDiag(ns) as diag:
        each, _ = _cookies(diag, sockdiag.FAMILIES)
        real = diag._one_dump

        def fails_after_the_first_chunk(family, mask, bytecode, consume):
            if family != socket.AF_UNSPEC:
                return real(family, mask, bytecode, consume)

            def first_chunk_then_fail(buf, n, result):
                consume(buf, n, result)
                raise sockdiag.KernelError("sock_diag receive failed: test")

            try:
                return real(family, mask, bytecode, first_chunk_then_fail)
            finally:
                diag._drain()

        monkeypatch.setattr(diag, "_one_dump", fails_after_the_first_chunk)
        got = []
        diag.scan(lambda buf, n, res: wire.decode_chunk(buf, n, got.append, res),
                  families=sockdiag.ONE_WALK, reset=got.clear)
        assert not diag._one_walk
    assert len(got) == len(each) and {r.cookie for r in got} == each
