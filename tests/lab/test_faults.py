"""nftables faults in lab hosts: pure ACKs, data segments, first N, from a time on, IPv6."""

from __future__ import annotations

import socket
import time

import pytest
from sockets_util import wait_for

from harness.kernel import sockdiag
from harness.kernel.netns import entered
from harness.kernel.netstat import read_tcp_counters
from harness.lab import Lab

pytestmark = pytest.mark.root


def _echo_server(addr, port, ready, family=socket.AF_INET):
    """Accept one connection, echo what arrives until the peer closes; returns the bytes."""
    with socket.socket(family) as lst:
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind((addr, port))
        lst.listen(5)
        ready.append(True)
        conn, _ = lst.accept()
        got = b""
        with conn:
            while chunk := conn.recv(100):
                got += chunk
                conn.sendall(chunk)
        return got


def _talk(addr, port, messages, family=socket.AF_INET):
    """Connect, send each message and read its echo; returns the echoes."""
    with socket.socket(family) as c:
        c.settimeout(10)
        c.connect((addr, port))
        out = []
        for m in messages:
            c.sendall(m)
            out.append(c.recv(100))
        return out


def _retrans(netns):
    with entered(netns):
        return read_tcp_counters()["RetransSegs"]


def _serve(lab, port, family=socket.AF_INET):
    ready = []
    addr = lab.server.addr if family == socket.AF_INET else lab.server.addr6
    t = lab.server.start(_echo_server, addr, port, ready, family)
    assert wait_for(lambda: ready)
    return t, addr


def test_first_pure_ack_from_the_client_is_dropped_and_data_completes_the_handshake():
    with Lab() as lab:
        server, addr = _serve(lab, 7010)
        rule = lab.client.nft.drop(tcp_flags="ack", payload_len=0, dport=7010, count=1)
        pure = lab.client.nft.count(tcp_flags="ack", payload_len=0, dport=7010)
        data = lab.client.nft.count(data=True, dport=7010)
        seen = {}

        def hold_after_connect():
            with socket.create_connection((addr, 7010), timeout=5) as c:
                # the third ACK is gone: the server still has a request socket
                seen["server"] = [r.state for r in sockdiag.dump(lab.server.netns,
                                                                 ports=[7010])]
                c.sendall(b"x")
                return c.recv(10)

        assert lab.client.run(hold_after_connect) == b"x"
        assert server.wait(5) == b"x"
        assert rule.packets == 1  # exactly the handshake's ACK
        assert "SYN_RECV" in seen["server"] and "ESTABLISHED" not in seen["server"]
        assert data.packets == 1  # the "x": not a pure ACK, so it passed and completed
        assert pure.packets >= 1  # pure ACKs after the drop pass the gate (echo, FIN)


@pytest.mark.parametrize("n", [1, 2])
def test_first_n_data_segments_lost_on_the_way_in_are_retransmitted(n):
    with Lab() as lab:
        server, addr = _serve(lab, 7011)
        rule = lab.server.nft.drop("input", data=True, dport=7011, count=n)
        before = _retrans(lab.client.netns)
        assert lab.client.run(_talk, addr, 7011, [b"one", b"two"]) == [b"one", b"two"]
        assert server.wait(5) == b"onetwo"
        assert rule.packets == n
        assert _retrans(lab.client.netns) - before >= n


def test_a_drop_in_the_senders_output_is_a_failed_send_not_a_loss():
    """Seen: nft drop in OUTPUT makes the sender's transmit fail (-EPERM); TCP sends the
    segment again later as new data, so RetransSegs stays 0. Drop on the receiver's
    input to simulate a loss on the wire."""
    with Lab() as lab:
        server, addr = _serve(lab, 7015)
        rule = lab.client.nft.drop(data=True, dport=7015, once=True)
        before = _retrans(lab.client.netns)
        assert lab.client.run(_talk, addr, 7015, [b"one"]) == [b"one"]
        assert server.wait(5) == b"one"
        assert rule.packets == 1
        assert _retrans(lab.client.netns) == before


def test_drop_after_cuts_the_client_off_from_that_time_on():
    with Lab() as lab:
        server, addr = _serve(lab, 7012)
        rule = lab.server.nft.drop_after(2.0, saddr=lab.client.addr)
        t0 = time.monotonic()
        assert lab.client.run(_talk, addr, 7012, [b"before"]) == [b"before"]
        assert time.monotonic() - t0 < 2.0, "the machine was too slow to talk before t"
        assert rule.packets == 0
        assert wait_for(lambda: rule.name in lab.server.nft.counters(), timeout=5)

        def after():
            with socket.socket() as c:
                c.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    c.connect((addr, 7013))

        lab.client.run(after)
        assert rule.packets >= 1  # the SYN to 7013 was dropped (no RST came back)
    server.wait(5)


def test_drop_after_is_cancelled_when_the_lab_goes_down():
    with Lab() as lab:
        lab.client.nft.drop_after(30, dport=1)
        timers = list(lab.client.nft._timers)
        assert timers and all(t.is_alive() for t in timers)
    assert wait_for(lambda: not any(t.is_alive() for t in timers), timeout=2)


def test_ipv6_over_the_veth_with_an_ip6_rule():
    with Lab() as lab:
        server, addr6 = _serve(lab, 7014, socket.AF_INET6)
        rule = lab.client.nft.drop(data=True, daddr=addr6, once=True)
        v4 = lab.client.nft.count(data=True, family="ip")
        assert lab.client.run(_talk, addr6, 7014, [b"six"], socket.AF_INET6) == [b"six"]
        assert server.wait(5) == b"six"
        assert rule.packets == 1 and v4.packets == 0


def test_rule_delete_and_bad_arguments():
    with Lab.single() as lab:
        rule = lab.host.nft.count("input", dport=9)
        assert rule.name in lab.host.nft.counters()
        rule.delete()
        assert rule.name not in lab.host.nft.counters()
        for bad in ({"tcp_flags": "syn,bogus"}, {"payload_len": 0, "data": True},
                    {"family": "arp", "payload_len": 0}):
            with pytest.raises(ValueError):
                lab.host.nft.drop(**bad)
        with pytest.raises(ValueError):
            lab.host.nft.drop("forward")
        with pytest.raises(ValueError):
            lab.host.nft.drop(count=0)
