"""The sampler on real sockets in a throw-away namespace: leak ages and owner, a listener
that never accepts, and the port-exhaustion forecast against the real EADDRNOTAVAIL."""

import collections
import contextlib
import errno
import os
import socket
import subprocess
import threading
import time

import pytest
from sockets_util import nonblocking_connects, ss_counts, wait_for

from harness.kernel.netns import entered
from harness.kernel.owners import socket_owners
from harness.observe.leaks import OwnerCache
from harness.observe.sampler import Sampler

pytestmark = pytest.mark.root
# What these tests check needs every part of a sample fresh (owners at 0.5 s, the
# forecast from this second's TIME_WAIT): an unbounded budget, so that the test does not
# depend on how busy the machine is. The budget itself: test_budget.py.
FRESH = float("inf")


def test_close_wait_leak_ages_grow_by_the_interval_with_the_right_pid(netns):
    with netns() as ns:
        with entered(ns):
            lst = socket.create_server(("127.0.0.1", 7000))
            client = socket.create_connection(("127.0.0.1", 7000))
            server, _ = lst.accept()
            server_fd = server.fileno()
            client.close()  # FIN: the server side goes CLOSE_WAIT and is never closed
        try:
            with Sampler(ns, interval=0.2, leak_threshold_s=0.5, cpu_budget=FRESH) as sampler:
                assert wait_for(lambda: sampler.sample()["states"]["CLOSE_WAIT"] == 1)
                samples = []
                for _ in range(6):
                    samples.append(sampler.sample())
                    time.sleep(0.2)
                summary = sampler.summary()
        finally:
            server.close()
            lst.close()
    rows = [s["close_wait"] for s in samples]
    assert all(len(r) == 1 for r in rows)
    # the owner is looked up once the socket has lasted OWNER_AFTER_S (0.5 s) or the leak
    # threshold (0.5 s here); the first row, 0.2 s old, has none yet
    owned = [r[0] for r in rows if r[0]["age_s"] >= 0.5]
    assert rows[0][0]["age_s"] < 0.5 and rows[0][0]["pid"] is None
    assert len(owned) >= 3
    assert {r["pid"] for r in owned} == {os.getpid()}
    assert {r["fd"] for r in owned} == {server_fd}
    assert all(r[0]["pid"] is None for r in rows if r[0]["age_s"] < 0.5)
    assert {r[0]["local"] for r in rows} == {"127.0.0.1:7000"}
    for before, after, s0, s1 in zip(rows, rows[1:], samples, samples[1:], strict=False):
        grown = after[0]["age_s"] - before[0]["age_s"]
        assert abs(grown - (s1["time"] - s0["time"])) < 0.01
        assert grown > 0.15  # the sampler slept 0.2 s between these samples
    assert samples[-1]["close_wait"][0]["leak"] is True
    assert samples[-1]["leaks"]["count"] == 1
    assert samples[-1]["leaks"]["by_process"][0]["pid"] == os.getpid()
    assert summary["leaks"]["count"] == 1 and summary["leaks"]["sockets"][0]["pid"] == os.getpid()


def test_a_close_wait_that_ends_within_half_a_second_is_never_looked_up(netns):
    """Under load clients pass through CLOSE_WAIT for microseconds; looking up each one's
    owner (every process's fds) cost a quarter of a sample's CPU."""
    looked_up: list[set] = []

    def lookup(inodes):
        looked_up.append(set(inodes))
        return socket_owners(inodes)

    with netns() as ns:
        with entered(ns):
            lst = socket.create_server(("127.0.0.1", 7000))
            client = socket.create_connection(("127.0.0.1", 7000))
            server, _ = lst.accept()
            client.close()  # the server side goes CLOSE_WAIT
        listener_inode = os.fstat(lst.fileno()).st_ino
        try:
            with Sampler(ns, interval=0.1) as sampler:
                sampler._owners = OwnerCache(lookup)
                first = sampler.sample()
                second = sampler.sample()
                server.close()
                third = sampler.sample()
        finally:
            server.close()
            lst.close()
    assert [s["states"]["CLOSE_WAIT"] for s in (first, second, third)] == [1, 1, 0]
    assert second["close_wait"][0]["pid"] is None
    assert looked_up == [{listener_inode}]  # the listener only, once


def test_listener_that_never_accepts_is_full_and_overflows(netns):
    with netns() as ns:
        with entered(ns):
            lst = socket.create_server(("127.0.0.1", 7001), backlog=2)
            clients = nonblocking_connects(("127.0.0.1", 7001), 8)
        try:
            with Sampler(ns, interval=0.5, cpu_budget=FRESH) as sampler:
                first = sampler.sample()
                time.sleep(1.6)  # the dropped SYNs are retransmitted after 1 s
                second = sampler.sample()
                summary = sampler.summary()
        finally:
            for c in clients:
                c.close()
            lst.close()
    for s in (first, second):
        (row,) = s["listeners"]
        assert row["local"] == "127.0.0.1:7001"
        assert row["accept_queue"] == 3 and row["backlog"] == 2
        assert row["fill"] == 1.0 and row["full"] and row["ever_full"]
        assert row["pid"] == os.getpid()
    assert second["counters"]["ListenOverflows"] > first["counters"]["ListenOverflows"]
    assert second["rates"]["ListenOverflows"] > 0
    assert second["listeners"][0]["overflows_per_s"] == second["rates"]["ListenOverflows"]
    assert summary["listeners_ever_full"] == ["127.0.0.1:7001"]
    assert summary["accept_queue_fill_max"] == 1.0
    assert summary["listen_overflows"] > 0


def _serve(lst, stop):
    lst.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, _ = lst.accept()
        except (TimeoutError, OSError):
            continue
        conn.settimeout(1.0)
        with contextlib.suppress(OSError):
            conn.recv(1)  # the client's FIN
        conn.close()


def _client(ns, rate, stop, out):
    with entered(ns):
        start = time.monotonic()
        n = 0
        while not stop.is_set():
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", 7002))
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    out["eaddrnotavail"] = time.time()
                    return
                raise
            finally:
                s.close()
            n += 1
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def test_forecast_exhaustion_within_a_factor_of_1_5(netns):
    sysctls = {"net.ipv4.ip_local_port_range": "40000 40199", "net.ipv4.tcp_tw_reuse": "0"}
    with netns(sysctls) as ns:
        with entered(ns):
            lst = socket.create_server(("127.0.0.1", 7002), backlog=64)
        stop, out = threading.Event(), {}
        server = threading.Thread(target=_serve, args=(lst, stop), daemon=True)
        client = threading.Thread(target=_client, args=(ns, 20.0, stop, out), daemon=True)
        predictions = []
        try:
            with Sampler(ns, interval=0.5, cpu_budget=FRESH) as sampler:
                server.start()
                started = time.time()
                client.start()
                while client.is_alive() and time.time() - started < 20:
                    s = sampler.sample()
                    dests = [r for r in s["ephemeral"]["by_destination"]
                             if r["remote"] == "127.0.0.1:7002"]
                    if dests and 2.0 <= s["time"] - started <= 6.0:
                        predictions.append((s["time"], dests[0]))
                    time.sleep(0.5)
        finally:
            stop.set()
            client.join(5)
            server.join(5)
            lst.close()
    assert "eaddrnotavail" in out, "the client never ran out of ports"
    actual = out["eaddrnotavail"] - started
    assert predictions
    for at, row in predictions:
        assert row["exhausted_in_s"] is not None, row
        assert row["forecast"].startswith("exhausts in")
        predicted = at + row["exhausted_in_s"] - started
        assert actual / 1.5 <= predicted <= actual * 1.5, (predicted, actual, row)


@pytest.mark.parametrize("detail_s", [3600.0, 0.0])  # counted by its own dump; by the details'
def test_port_filtered_time_wait_count_is_exact_every_sample(netns, detail_s):
    with netns({"net.ipv4.tcp_tw_reuse": "0"}) as ns:
        with entered(ns):
            lst = socket.socket()
            lst.bind(("127.0.0.1", 0))
            lst.listen(64)
        port = lst.getsockname()[1]
        # detail_s 0 with an unbounded budget: the details are dumped in every sample
        budget = float("inf") if not detail_s else 0.05
        with Sampler(ns, ports=[port], interval=0.1, detail_s=detail_s,
                     cpu_budget=budget) as sampler:
            try:
                assert sampler.sample()["states"]["TIME_WAIT"] == 0
                with entered(ns):
                    for _ in range(7):  # the client closes first: 7 TIME_WAIT
                        c = socket.create_connection(("127.0.0.1", port))
                        a, _ = lst.accept()
                        c.close()
                        assert wait_for(lambda a=a: a.recv(1) == b"")
                        a.close()
                    stray = socket.create_connection(("127.0.0.1", port))  # not TIME_WAIT
                s = sampler.sample()
                assert s["states"]["TIME_WAIT"] == 7 and s["time_wait"]["count"] == 7
                assert sampler.sample()["states"]["TIME_WAIT"] == 7
                # 20 TIME_WAIT on another port: counted whether the sampler counts the
                # port's sockets or (while they were most) subtracts the others
                with entered(ns):
                    other = socket.socket()
                    other.bind(("127.0.0.1", 0))
                    other.listen(64)
                    for _ in range(20):
                        c = socket.create_connection(other.getsockname())
                        a, _ = other.accept()
                        c.close()
                        assert wait_for(lambda a=a: a.recv(1) == b"")
                        a.close()
                    other.close()
                assert [sampler.sample()["states"]["TIME_WAIT"] for _ in range(3)] == [7] * 3
            finally:
                lst.close()
                with contextlib.suppress(NameError):
                    stray.close()


def test_both_families_counted_as_sock_diag_by_family_counts_them(netns):
    """The sampler dumps both families in one walk (TCPDIAG_GETSOCK); its counts equal
    count_states' (a SOCK_DIAG_BY_FAMILY dump per family), with and without a port
    filter, and an IPv6 TIME_WAIT turns its detail dumps back to one per family."""
    from harness.kernel import sockdiag

    with netns() as ns, contextlib.ExitStack() as keep:
        with entered(ns):
            v6 = keep.enter_context(socket.socket(socket.AF_INET6))
            v6.bind(("::1", 0))
            v6.listen(16)
            port = v6.getsockname()[1]
            v4 = keep.enter_context(socket.socket())
            v4.bind(("127.0.0.1", port))
            v4.listen(16)
            for lst, host in ((v6, "::1"), (v4, "127.0.0.1")):
                keep.enter_context(socket.create_connection((host, port)))  # ESTABLISHED
                keep.enter_context(lst.accept()[0])
                c = socket.create_connection((host, port))  # client closes: TIME_WAIT
                a, _ = lst.accept()
                c.close()
                assert wait_for(lambda a=a: a.recv(1) == b"")
                a.close()
        for ports in ((), (port,)):
            with Sampler(ns, ports=ports, interval=0.1) as sampler:
                got = sampler.sample()["states"]
                assert got == dict(sockdiag.count_states(ns, ports)), ports
                assert got["ESTABLISHED"] == 4 and got["TIME_WAIT"] == 2
                assert got["LISTEN"] == 2
                assert sampler._tw_walk == sockdiag.FAMILIES


def test_established_sockets_grouped_from_the_bytes_match_ss(netns):
    """Hundreds of ESTABLISHED sockets (the column path of kernel.open_groups) with
    shorter messages among them (the FIN_WAIT2 minisockets of clients that closed
    first, their servers in CLOSE_WAIT), SYN_SENT ones (a full listener), IPv4 and IPv6,
    a listener inside the ephemeral range: the states equal `ss -tan`, the open client
    sockets per destination equal ss's, and the ports in use are the clients'."""
    with netns() as ns, entered(ns), contextlib.ExitStack() as stack:
        held = []
        stack.callback(lambda: [s.close() for s in held])
        v4 = socket.create_server(("127.0.0.1", 7300), backlog=512)
        v6 = socket.create_server(("::1", 45000), family=socket.AF_INET6, backlog=512)
        slow = socket.create_server(("127.0.0.1", 7301), backlog=0)
        held += [v4, v6, slow]
        for lst, addr, n in ((v4, ("127.0.0.1", 7300), 300), (v6, ("::1", 45000), 100)):
            for i in range(n):
                c = socket.create_connection(addr)
                held.append(lst.accept()[0])
                if i % 15 == 0:
                    c.close()  # FIN_WAIT2 here, CLOSE_WAIT on the server side
                else:
                    held.append(c)
        held += nonblocking_connects(("127.0.0.1", 7301), 20)
        time.sleep(0.2)
        with Sampler(ns, cpu_budget=FRESH) as sampler:
            s = sampler.sample()
        seen = ss_counts(ns)
        out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Htan", "state",
                              "established"], capture_output=True, text=True,
                             check=True).stdout.split("\n")
        every = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Htan"],
                               capture_output=True, text=True, check=True).stdout.split("\n")
    assert {k: v for k, v in s["states"].items() if k != "TIME_WAIT"} == \
        {k: v for k, v in seen.items() if k != "TIME_WAIT"}
    assert s["states"]["ESTABLISHED"] == 2 * (280 + 93) + 2 and s["states"]["CLOSE_WAIT"] == 27
    assert s["states"]["SYN_SENT"] >= 15
    lo, hi = s["sysctls"]["ip_local_port_range"]
    clients: collections.Counter = collections.Counter()
    ports = set()
    for line in filter(None, out):
        local, remote = line.split()[2:4]
        port = int(local.rsplit(":", 1)[1])
        if lo <= port <= hi and port != 45000:
            clients[remote] += 1
            ports.add(port)
    dests = {d["remote"]: d["open"] for d in s["ephemeral"]["by_destination"]}
    # open: ESTABLISHED as ss lists them, and the clients in FIN_WAIT2 (20 and 7)
    assert dests["127.0.0.1:7300"] == clients["127.0.0.1:7300"] + 20 == 300
    assert dests["[::1]:45000"] == clients["[::1]:45000"] + 7 == 100
    assert dests["127.0.0.1:7301"] == 20  # one accepted, the others SYN_SENT
    # distinct local ports of every client socket (one port may serve two destinations)
    held = {int(line.split()[3].rsplit(":", 1)[1]) for line in filter(None, every)
            if line.split()[0] not in ("LISTEN", "TIME-WAIT")}
    held = {p for p in held if lo <= p <= hi and p != 45000}
    assert s["ephemeral"]["in_use"] == len(held) >= len(ports)


def _churn(lst: socket.socket, stop: threading.Event, made: list) -> None:
    """Short connections through ``lst``, one at a time, until ``stop``: client and
    server sides pass through ESTABLISHED and CLOSE_WAIT while samples are taken."""
    addr = lst.getsockname()
    while not stop.is_set():
        with socket.create_connection(addr) as c:
            a, _ = lst.accept()
            c.close()
            a.recv(1)
            a.close()
        made[0] += 1


def test_established_from_curr_estab_stays_exact_under_churn(netns):
    """Between the budgeted groupings the ESTABLISHED sockets are not dumped: their
    count is Tcp CurrEstab less the dumped CLOSE_WAIT (or CurrEstab alone, on a kernel
    that leaves CLOSE_WAIT out of it: learnt from the first two walks). With short
    connections churning beside 200 held pairs and 30 held CLOSE_WAIT, every such
    sample is within the few churning sockets of the held 400; 50 pairs opened midway
    show in the count at once (the grouping by destination stays the old one, and says
    how old); quiet again, the count equals `ss -tan`'s."""
    with netns() as ns, entered(ns), contextlib.ExitStack() as stack:
        held: list = []
        stack.callback(lambda: [s.close() for s in held])
        lst = socket.create_server(("127.0.0.1", 7400), backlog=512)
        churn_lst = socket.create_server(("127.0.0.1", 7401), backlog=16)
        held += [lst, churn_lst]

        def pairs(n: int) -> None:
            for _ in range(n):
                held.append(socket.create_connection(("127.0.0.1", 7400)))
                held.append(lst.accept()[0])

        pairs(200)
        for _ in range(30):  # the clients close, their servers hold CLOSE_WAIT
            c = socket.create_connection(("127.0.0.1", 7400))
            held.append(lst.accept()[0])
            c.close()
        assert wait_for(lambda: ss_counts(ns).get("CLOSE_WAIT") == 30)
        stop, made = threading.Event(), [0]
        churner = threading.Thread(target=_churn, args=(churn_lst, stop, made), daemon=True)
        with Sampler(ns, interval=0.05, cpu_budget=0.001) as sampler:
            first = sampler.sample()  # two whole walks: what CurrEstab counts is learnt
            assert sampler.sample()["ages_s"]["established"] == 0.0
            churner.start()
            stack.callback(churner.join)
            stack.callback(stop.set)
            before = [sampler.sample() for _ in range(40)]
            pairs(50)
            after = [sampler.sample() for _ in range(40)]
            stop.set()
            churner.join()
            time.sleep(0.2)
            quiet = sampler.sample()
            seen = ss_counts(ns)
    assert made[0] > 20  # the churn ran through the samples
    assert first["states"]["ESTABLISHED"] == 400 and first["states"]["CLOSE_WAIT"] == 30
    churning = 3  # a churning pair's two sides and one socket changing state meanwhile
    for held_estab, samples in ((400, before), (500, after)):
        for s in samples:
            assert s["ages_s"]["established"] > 0  # counted, not walked
            assert abs(s["states"]["ESTABLISHED"] - held_estab) <= churning, s["states"]
            assert 30 <= s["states"]["CLOSE_WAIT"] <= 30 + churning
    (dest,) = [d for d in after[-1]["ephemeral"]["by_destination"]
               if d["remote"] == "127.0.0.1:7400"]
    assert dest["open"] == 200 + 30  # the grouping of the first walk: 30 in FIN_WAIT2
    assert quiet["ages_s"]["established"] > 0
    assert quiet["states"]["ESTABLISHED"] == seen["ESTABLISHED"] == 500
    assert quiet["states"]["CLOSE_WAIT"] == seen["CLOSE_WAIT"] == 30
