"""Each server behaviour against the states the kernel reports (sock_diag), in a private
namespace: the states a behaviour promises are the states it leaves."""

from __future__ import annotations

import errno
import socket
from collections import Counter

import pytest
from sockets_util import nonblocking_connects, wait_for

from harness.kernel import sockdiag
from harness.kernel.netns import entered
from harness.sockets import Server, run_connect

pytestmark = [pytest.mark.root, pytest.mark.live]

PORT = 7000


def sides(ns: str, port: int = PORT) -> tuple[Counter, Counter]:
    """(server-side states, client-side states) of the sockets on ``port``."""
    recs = sockdiag.dump(ns, ports=[port])
    server = Counter(r.state for r in recs if r.sport == port)
    client = Counter(r.state for r in recs if r.dport == port)
    return server, client


def settle(ns: str, server: Counter, client: Counter) -> tuple[Counter, Counter]:
    """Wait until the states on PORT are (server, client); return what was seen last.

    Closes on loopback finish in the other thread's time: a FIN_WAIT1 may still be there
    for a moment after close() returns."""
    seen = []

    def done():
        seen[:] = [sides(ns)]
        return seen[0] == (server, client)

    wait_for(done)
    return seen[0]


def test_echo_leaves_time_wait_on_the_client_that_closes(netns):
    with netns() as ns, Server("echo", port=PORT, netns=ns) as srv:
        r = run_connect("127.0.0.1", PORT, count=5, closer="client", netns=ns)
        assert (r.ok, dict(r.errors)) == (5, {})
        assert wait_for(lambda: srv.closed == 5)
        expected = (Counter(LISTEN=1), Counter(TIME_WAIT=5))
        assert settle(ns, *expected) == expected
        assert srv.bytes_in == srv.bytes_out == 5 * 64


def test_close_first_leaves_time_wait_on_the_server(netns):
    with netns() as ns, Server("close-first", port=PORT, netns=ns):
        r = run_connect("127.0.0.1", PORT, count=5, closer="server", netns=ns)
        assert (r.ok, dict(r.errors)) == (5, {})
        expected = (Counter(LISTEN=1, TIME_WAIT=5), Counter())
        assert settle(ns, *expected) == expected


def test_never_close_leaks_close_wait_and_the_client_waits_in_fin_wait2(netns):
    with netns() as ns, Server("never-close", port=PORT, netns=ns) as srv:
        r = run_connect("127.0.0.1", PORT, count=3, closer="client", netns=ns)
        assert r.ok == 3
        expected = (Counter(LISTEN=1, CLOSE_WAIT=3), Counter(FIN_WAIT2=3))
        assert settle(ns, *expected) == expected
        assert (srv.accepted, srv.closed, srv.open) == (3, 0, 3)
    # stop() closes the leaked sockets: CLOSE_WAIT -> LAST_ACK -> gone


def test_no_accept_fills_the_accept_queue_to_backlog_plus_one(netns):
    with netns() as ns, Server("no-accept", port=PORT, backlog=5, netns=ns) as srv:
        with entered(ns):
            clients = nonblocking_connects(("127.0.0.1", PORT), 10)
        try:
            def full():
                lst = sockdiag.dump(ns, states=["LISTEN"], ports=[PORT])[0]
                return lst.rqueue == 6 and lst
            lst = wait_for(full)
            assert (lst.rqueue, lst.wqueue) == (6, 5)
            # server side: queued, never accepted; client side: 4 SYNs dropped
            expected = (Counter(LISTEN=1, ESTABLISHED=6), Counter(ESTABLISHED=6, SYN_SENT=4))
            assert settle(ns, *expected) == expected
            assert srv.accepted == 0
        finally:
            for c in clients:
                c.close()


def test_rst_leaves_no_time_wait_and_the_peer_gets_econnreset(netns):
    with netns() as ns, Server("rst", port=PORT, netns=ns) as srv:
        r = run_connect("127.0.0.1", PORT, count=5, closer="server", netns=ns)
        assert (r.ok, dict(r.errors)) == (0, {"ECONNRESET": 5})
        assert len(r.first_byte_s) == 5  # the answer arrived before the reset
        assert wait_for(lambda: srv.closed == 5)
        expected = (Counter(LISTEN=1), Counter())
        assert settle(ns, *expected) == expected


def test_half_close_server_keeps_receiving_after_its_fin(netns):
    with netns() as ns, Server("half-close", port=PORT, netns=ns) as srv:
        with entered(ns):
            c = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        with c:
            c.sendall(b"ping")
            assert c.recv(10) == b"ping"
            assert c.recv(10) == b""  # the server's FIN
            expected = (Counter(LISTEN=1, FIN_WAIT2=1), Counter(CLOSE_WAIT=1))
            assert settle(ns, *expected) == expected
            c.sendall(b"more")  # data still flows towards the half-closed side
            assert wait_for(lambda: srv.bytes_in == 8)
            assert srv.bytes_out == 4
        assert wait_for(lambda: srv.closed == 1)
        expected = (Counter(LISTEN=1, TIME_WAIT=1), Counter())  # the server's FIN went first
        assert settle(ns, *expected) == expected


def test_slow_accept_takes_connections_one_at_a_time(netns):
    with netns() as ns, Server("slow-accept", port=PORT, accept_interval_ms=300,
                               netns=ns) as srv:
        with entered(ns):
            clients = nonblocking_connects(("127.0.0.1", PORT), 4)
        try:
            seen = []

            def step():
                lst = sockdiag.dump(ns, states=["LISTEN"], ports=[PORT])[0]
                seen.append((srv.accepted, lst.rqueue))
                return srv.accepted == 4 and lst.rqueue == 0

            assert wait_for(step, timeout=10, step=0.05)
            accepted = [a for a, _ in seen]
            assert accepted == sorted(accepted)
            assert set(accepted) >= {1, 2, 3, 4}  # one by one, each step observed
            assert any(q >= 2 for _, q in seen)  # the others waited in the accept queue
        finally:
            for c in clients:
                c.close()


def test_keepalive_timer_is_set_on_accepted_connections_only(netns):
    with netns() as ns, Server("keepalive", port=PORT, netns=ns) as srv:
        with entered(ns):
            c = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        with c:
            c.sendall(b"x")
            assert c.recv(1) == b"x"
            assert wait_for(lambda: srv.accepted == 1)
            recs = sockdiag.dump(ns, states=["ESTABLISHED"], ports=[PORT])
            server = [r for r in recs if r.sport == PORT]
            client = [r for r in recs if r.dport == PORT]
            assert [r.timer for r in server] == [2]  # keepalive
            assert 0 < server[0].expires <= srv.keepalive.idle * 1000
            assert [r.timer for r in client] == [0]


def test_reuseport_spreads_connections_over_the_listeners(netns):
    with netns() as ns, Server("echo", port=PORT, reuseport=4, netns=ns) as srv:
        listeners = sockdiag.dump(ns, states=["LISTEN"], ports=[PORT])
        assert len(listeners) == 4
        r = run_connect("127.0.0.1", PORT, count=200, concurrency=10, netns=ns)
        assert r.ok == 200
        assert sum(srv.accepted_by_listener) == 200
        assert all(n > 0 for n in srv.accepted_by_listener), srv.accepted_by_listener


def test_ipv6_listener(netns):
    with netns() as ns, Server("echo", host="::1", port=PORT, netns=ns) as srv:
        assert srv.address == f"[::1]:{PORT}"
        r = run_connect("::1", PORT, count=3, netns=ns)
        assert r.ok == 3 and r.target == f"[::1]:{PORT}"
        expected = (Counter(LISTEN=1), Counter(TIME_WAIT=3))
        assert settle(ns, *expected) == expected
        assert {r.family for r in sockdiag.dump(ns, ports=[PORT])} == {socket.AF_INET6}


@pytest.mark.parametrize("first, second, rebinds", [
    (True, True, True),     # SO_REUSEADDR on both sockets: the bind succeeds
    (True, False, False),   # not on the new one: EADDRINUSE
    (False, True, False),   # not on the one whose TIME_WAIT holds the port: EADDRINUSE
])
def test_rebinding_over_server_time_wait_needs_reuseaddr_on_both(netns, first, second,
                                                                  rebinds):
    with netns() as ns:
        with Server("close-first", port=PORT, reuseaddr=first, netns=ns):
            assert run_connect("127.0.0.1", PORT, count=1, closer="server", netns=ns).ok == 1
        assert settle(ns, Counter(TIME_WAIT=1), Counter())[0] == Counter(TIME_WAIT=1)
        srv = Server("echo", port=PORT, reuseaddr=second, netns=ns)
        if rebinds:
            with srv:
                assert srv.port == PORT
        else:
            with pytest.raises(OSError) as exc:
                srv.start()
            assert exc.value.errno == errno.EADDRINUSE
