"""SockDiag.count and .records walk the kernel once for both families (ONE_WALK) and
give what a dump per family (FAMILIES, the reference) gives, on real sockets of both
families in several states, in a throw-away namespace."""

from __future__ import annotations

import socket
from contextlib import ExitStack

import pytest
from sockets_util import listener, pair, ss_counts, wait_for

from harness.kernel import inet_diag as wire
from harness.kernel import sockdiag
from harness.kernel.netns import entered

pytestmark = [pytest.mark.root, pytest.mark.live]


@pytest.fixture
def both_families(netns):
    """Per family (127.0.0.1 and ::1): a listener, 2 open pairs, 3 TIME_WAIT, and a
    CLOSE_WAIT whose peer sits in FIN_WAIT2. Yields (namespace, IPv4 listener port)."""
    with netns() as ns, ExitStack() as keep:
        with entered(ns):
            ports = []
            for host, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
                lst = keep.enter_context(listener(host, family=family))
                ports.append(lst.getsockname()[1])
                for _ in range(2):
                    for s in pair(lst):
                        keep.enter_context(s)
                for _ in range(3):
                    c, s = pair(lst)
                    c.close()  # client closes first: TIME_WAIT on the client
                    s.recv(1)
                    s.close()
                c, s = pair(lst)
                keep.enter_context(s)
                c.close()  # the server never closes: CLOSE_WAIT, the client FIN_WAIT2
        yield ns, ports[0]


def _settled(ns):
    want = {"LISTEN": 2, "ESTABLISHED": 8, "TIME_WAIT": 6, "CLOSE_WAIT": 2, "FIN_WAIT2": 2}
    return wait_for(lambda: all(ss_counts(ns)[k] == n for k, n in want.items()))


def test_count_in_one_walk_equals_a_count_per_family_and_ss(both_families):
    ns, port = both_families
    assert _settled(ns)
    with sockdiag.SockDiag(ns) as diag:
        for ports, ss_filter in (((), ""), ((port,), f"( sport = :{port} or dport = :{port} )")):
            one = diag.count(ports)
            each = diag.count(ports, families=sockdiag.FAMILIES)
            assert one == each == ss_counts(ns, ss_filter), ports
            assert one.consistent and each.consistent
        assert diag._one_walk  # the kernel took the legacy request: no fallback happened
    assert sockdiag.count_states(ns) == ss_counts(ns)


def test_records_in_one_walk_equal_the_records_per_family(both_families):
    ns, port = both_families
    assert _settled(ns)
    with sockdiag.SockDiag(ns) as diag:
        for kw in ({}, {"ports": [port]}, {"states": ["TIME_WAIT", "CLOSE_WAIT", "LISTEN"]}):
            one = diag.records(**kw)
            each = diag.records(families=sockdiag.FAMILIES, **kw)
            # Same sockets, field for field (expiry timers tick between the two dumps).
            assert ({r.cookie: (r.family, r.state, r.local, r.remote, r.inode) for r in one}
                    == {r.cookie: (r.family, r.state, r.local, r.remote, r.inode)
                        for r in each}), kw
            assert len(one) == len(each) and one.consistent
        assert {r.family for r in diag.records()} == {socket.AF_INET, socket.AF_INET6}
        assert diag.bytes_received > 0
    assert len(sockdiag.dump(ns)) == sum(ss_counts(ns).values())


def test_count_and_records_send_one_request_where_a_dump_per_family_sends_two(
        both_families, monkeypatch):
    ns, _port = both_families
    with sockdiag.SockDiag(ns) as diag:
        sent = []
        real = diag._one_dump

        def counting(family, *args):
            sent.append(family)
            return real(family, *args)

        monkeypatch.setattr(diag, "_one_dump", counting)
        diag.count()
        diag.records()
        assert sent == [socket.AF_UNSPEC, socket.AF_UNSPEC]
        sent.clear()
        diag.count(families=sockdiag.FAMILIES)
        assert sent == [socket.AF_INET, socket.AF_INET6]


def test_count_falls_back_to_a_dump_per_family_when_the_kernel_refuses(both_families,
                                                                         monkeypatch):
    ns, _port = both_families
    assert _settled(ns)
    with sockdiag.SockDiag(ns) as diag:
        reference = diag.count(families=sockdiag.FAMILIES)
        monkeypatch.setattr(wire, "TCPDIAG_GETSOCK", 17)  # a type the kernel rejects
        assert diag.count() == reference
        assert not diag._one_walk
        assert {r.family for r in diag.records()} == {socket.AF_INET, socket.AF_INET6}
