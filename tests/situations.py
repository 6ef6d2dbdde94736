"""Situations the findings are about, made from real sockets in private lab hosts (root).

Each situation is a context manager: it builds a lab (harness.lab: one host on loopback,
or a client and a server joined by a veth), starts the sockets and traffic of the
situation in threads inside it, yields a ``Truth`` (the namespace to sample and what was
built there: listener, destination, the owning process) and, on exit, stops the traffic
and removes the lab, even when the body failed. tests/fixtures/findings/record.py
records each into a fixture; tests/observe/test_findings_live.py samples each live.

Ports stay below the ephemeral range (7000s) so a client port never lands on them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass, field

from sockets_util import nonblocking_connects

from harness.lab import Lab
from harness.lab.nft import match_expr
from harness.sockets import Server
from harness.sockets.client import run_connect


@dataclass
class Truth:
    """What a situation built: the namespace to sample and the sockets' addresses."""

    netns: str
    listener: str | None = None  # ip:port of the listener it is about
    destination: str | None = None  # ip:port its clients connect to
    process: str = ""  # name/pid of the process holding the sockets (this one)
    extra: dict = field(default_factory=dict)


def this_process() -> str:
    """``comm/pid`` of this process, as the sampler names owners."""
    with open("/proc/self/comm") as f:
        return f"{f.read().strip()}/{os.getpid()}"


class Background:
    """``fn(stop)`` repeated in a thread inside ``netns`` until stopped; its error, if
    any, re-raised at stop."""

    def __init__(self, host, fn):
        self.stop_event = threading.Event()
        self.thread = host.start(self._loop, fn)

    def _loop(self, fn):
        while not self.stop_event.is_set():
            fn(self.stop_event)

    def stop(self, timeout: float = 15.0):
        self.stop_event.set()
        return self.thread.wait(timeout)


@contextlib.contextmanager
def running(host, fn):
    bg = Background(host, fn)
    try:
        yield bg
    finally:
        bg.stop()


def _paced(n_per_s: float, stop: threading.Event, action) -> None:
    """``action()`` about ``n_per_s`` times a second until ``stop``."""
    action()
    stop.wait(1.0 / n_per_s)


@contextlib.contextmanager
def overflowing_listener(rate: float = 10.0):
    """127.0.0.1:7010, backlog 5, never accepting; clients connect (non-blocking) at
    ``rate`` a second: the queue fills to 6, later SYNs are dropped (ListenOverflows)."""
    clients: list[socket.socket] = []
    with Lab.single() as lab:
        lst = lab.host.run(socket.create_server, ("127.0.0.1", 7010), backlog=5)

        def connect():
            clients.extend(nonblocking_connects(("127.0.0.1", 7010), 1))

        try:
            with running(lab.host, lambda stop: _paced(rate, stop, connect)):
                yield Truth(lab.host.netns, listener="127.0.0.1:7010",
                            destination="127.0.0.1:7010", process=this_process())
        finally:
            for c in [*clients, lst]:
                c.close()


@contextlib.contextmanager
def never_closing_server(count: int = 20):
    """A server on 127.0.0.1:7020 that never closes after its clients' FIN: ``count``
    clients connect, talk and close, and their server sockets stay in CLOSE_WAIT."""
    with Lab.single() as lab, Server("never-close", port=7020, netns=lab.host.netns) as srv:
        lab.host.run(run_connect, "127.0.0.1", 7020, count=count, concurrency=count)
        yield Truth(lab.host.netns, listener=srv.address, process=this_process())


@contextlib.contextmanager
def small_port_range(rate: float = 100.0):
    """200 client ports (40000-40199) and no TIME_WAIT reuse: short connections to an
    echo server on 127.0.0.1:7030, the client closing first, at ``rate`` a second, until
    connect() fails with EADDRNOTAVAIL (and on: it keeps trying)."""
    sysctls = {"host": {"net.ipv4.ip_local_port_range": "40000 40199",
                        "net.ipv4.tcp_tw_reuse": 0}}
    ran_out = threading.Event()
    with Lab.single(sysctls=sysctls) as lab, \
            Server("echo", port=7030, netns=lab.host.netns):
        def burst(stop):
            done = run_connect("127.0.0.1", 7030, count=int(rate / 4), rate=rate,
                               concurrency=8, timeout=1.0)
            if done.errors.get("EADDRNOTAVAIL"):
                ran_out.set()

        with running(lab.host, burst):
            ran_out.wait(20)  # however loaded the machine, sampled once they are out
            yield Truth(lab.host.netns, destination="127.0.0.1:7030", process=this_process())


@contextlib.contextmanager
def server_closes_first(rate: float = 100.0, buckets: int = 100):
    """A close-first server on 127.0.0.1:7040 in a namespace whose tcp_max_tw_buckets is
    ``buckets``: clients wait for its FIN, so TIME_WAIT lands on the server's port and
    the cap is reached (TCPTimeWaitOverflow)."""
    sysctls = {"host": {"net.ipv4.tcp_max_tw_buckets": buckets}}
    with Lab.single(sysctls=sysctls) as lab, \
            Server("close-first", port=7040, netns=lab.host.netns) as srv:
        def burst(stop):
            run_connect("127.0.0.1", 7040, count=int(rate / 4), rate=rate, concurrency=8,
                        closer="server", timeout=1.0)

        with running(lab.host, burst):
            yield Truth(lab.host.netns, listener=srv.address, destination=srv.address,
                        process=this_process())


@contextlib.contextmanager
def syns_dropped(count: int = 10):
    """A client and a server host; the server's firewall drops every SYN to port 7050
    (nft, in the server's own table): ``count`` clients wait in SYN_SENT, retransmitting
    their SYNs after 1 s, 3 s, ..."""
    clients: list[socket.socket] = []
    with Lab() as lab:
        lab.server.nft.drop("input", tcp_flags="syn", dport=7050)
        dest = f"{lab.server.addr}:7050"
        try:
            clients += lab.client.run(nonblocking_connects, (lab.server.addr, 7050), count)
            yield Truth(lab.client.netns, destination=dest, process=this_process())
        finally:
            for c in clients:
                c.close()


@contextlib.contextmanager
def syn_flood(count: int = 40, backlog: int = 8):
    """A listener with backlog ``backlog`` on the server host (port 7060, SYN cookies off)
    whose clients never finish their handshakes (the client host drops the SYN+ACKs):
    the SYN queue fills and further SYNs are dropped (TCPReqQFullDrop)."""
    clients: list[socket.socket] = []
    with Lab(sysctls={"server": {"net.ipv4.tcp_syncookies": 0}}) as lab:
        lst = lab.server.run(socket.create_server, (lab.server.addr, 7060), backlog=backlog)
        lab.client.nft.drop("input", tcp_flags="syn,ack", sport=7060)
        try:
            clients += lab.client.run(nonblocking_connects, (lab.server.addr, 7060), count)
            yield Truth(lab.server.netns, listener=f"{lab.server.addr}:7060",
                        process=this_process())
        finally:
            for c in [*clients, lst]:
                c.close()


def _ping_pong(addr, conns: int, stop: threading.Event) -> None:
    """``conns`` connections each sending 1 KiB and reading the echo every 20 ms."""
    socks = [socket.create_connection(addr, timeout=5) for _ in range(conns)]
    try:
        while not stop.is_set():
            for s in socks:
                s.sendall(b"x" * 1024)
                got = 0
                while got < 1024:
                    got += len(s.recv(65536))
            stop.wait(0.02)
    except OSError:
        stop.wait(0.1)  # a timeout while the path drops: start again
    finally:
        for s in socks:
            s.close()


@contextlib.contextmanager
def lossy_path(clean_s: float = 6.0, lossy_s: float = 3.0, conns: int = 8):
    """``conns`` keep-alive connections between a client and a server host, each in its
    own thread exchanging data; from ``clean_s`` on, for ``lossy_s``, the server's
    firewall drops a quarter of the client's data segments at random (nft numgen), so
    the client retransmits: retransmissions rise against the run's start."""
    with Lab() as lab, Server("echo", host=lab.server.addr, port=7070,
                              netns=lab.server.netns), contextlib.ExitStack() as stack:
        addr = (lab.server.addr, 7070)
        for _ in range(conns):
            stack.enter_context(running(lab.client, lambda stop: _ping_pong(addr, 1, stop)))
        loss = match_expr(data=True, dport=7070) + " numgen random mod 4 0"
        rules = []
        start = threading.Timer(clean_s, lambda: rules.append(
            lab.server.nft.add("input", loss, "drop")))
        lift = threading.Timer(clean_s + lossy_s, lambda: [r.delete() for r in rules])
        for timer in (start, lift):
            timer.daemon = True
            timer.start()
        try:
            yield Truth(lab.client.netns, destination=f"{lab.server.addr}:7070",
                        process=this_process())
        finally:
            start.cancel()
            lift.cancel()


@contextlib.contextmanager
def keep_alive_load(conns: int = 5):
    """A clean load: ``conns`` long-lived connections to an echo server on
    127.0.0.1:7080, each exchanging data every 20 ms. Nothing is wrong."""
    with Lab.single() as lab, Server("echo", port=7080, netns=lab.host.netns), \
            running(lab.host, lambda stop: _ping_pong(("127.0.0.1", 7080), conns, stop)):
        yield Truth(lab.host.netns, destination="127.0.0.1:7080", process=this_process())


@contextlib.contextmanager
def idle_host():
    """A namespace with one listener (127.0.0.1:7090) and no traffic."""
    with Lab.single() as lab, Server("echo", port=7090, netns=lab.host.netns) as srv:
        yield Truth(lab.host.netns, listener=srv.address, process=this_process())


@contextlib.contextmanager
def short_connections(rate: float = 100.0):
    """Short connections to an echo server on 127.0.0.1:7100, the client closing first,
    at ``rate`` a second (default port range and tcp_tw_reuse): churn, nothing more."""
    with Lab.single() as lab, Server("echo", port=7100, netns=lab.host.netns):
        def burst(stop):
            run_connect("127.0.0.1", 7100, count=int(rate / 4), rate=rate, concurrency=4)

        with running(lab.host, burst):
            yield Truth(lab.host.netns, destination="127.0.0.1:7100", process=this_process())

