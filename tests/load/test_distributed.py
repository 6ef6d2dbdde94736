"""Master and workers as separate processes: each host samples once, the master gets all.

On one machine two workers share one kernel: one of them samples (host lock), so the
master's _tcp.csv has one host with one row per interval, not two. With the workers in
two namespaces (each its own "host", joined to the master's namespace by veth pairs)
the master has a series for each.
"""

from __future__ import annotations

import csv
from collections import Counter
from contextlib import ExitStack

import pytest
from load_util import finish, free_port, host_table, start_locust
from netns_util import ip

from harness.sockets import Server

RUN = ("--headless", "-u", "6", "-r", "6", "-t", "6s", "--socklife-interval", "0.5",
       "--expect-workers", "2", "--csv", "dist")


def hosts_in_csv(path) -> Counter:
    """Rows per host (the total rows left out)."""
    return Counter(row["host"] for row in csv.DictReader(path.open()) if row["host"] != "total")


def test_two_workers_on_one_host_sample_it_once(tmp_path):
    master_port = free_port()
    with Server() as srv:
        master = start_locust("short_tcp.py", *RUN, "--master", "--master-bind-host",
                              "127.0.0.1", "--master-bind-port", str(master_port),
                              "--host", f"tcp://127.0.0.1:{srv.port}", cwd=tmp_path)
        workers = [start_locust("short_tcp.py", "--worker", "--master-host", "127.0.0.1",
                                "--master-port", str(master_port), cwd=tmp_path)
                   for _ in range(2)]
        code, out = finish(master)
        worker_out = [finish(w, timeout=20)[1] for w in workers]
    assert code == 0, out
    hosts = hosts_in_csv(tmp_path / "dist_tcp.csv")
    assert len(hosts) == 1, hosts
    (label, rows), = hosts.items()
    # exactly one worker samples; the other says so (a loaded machine may give the one
    # sampler only its last sample in 6 s: how many rows is not the point)
    declined = [o for o in worker_out if f"another process samples {label}" in o]
    assert len(declined) == 1, worker_out
    # 6 s at 0.5 s plus a last sample: about 13 rows; both workers sampling would give ~26
    assert 1 <= rows <= 16, rows
    assert host_table(out)[label][0] == str(rows)  # its samples, in the end-of-run table
    assert "total" not in host_table(out)  # one host: no total row


@pytest.fixture
def three_hosts(netns):
    """A master namespace joined by veth to two worker namespaces: (M, A, B)."""
    with netns() as m, netns() as a, netns() as b:
        for i, peer in enumerate((a, b), start=1):
            ip("-n", m, "link", "add", f"v{i}", "type", "veth", "peer", "name", "up0",
               "netns", peer)
            ip("-n", m, "addr", "add", f"10.233.{i}.1/24", "dev", f"v{i}")
            ip("-n", m, "link", "set", f"v{i}", "up")
            ip("-n", peer, "addr", "add", f"10.233.{i}.2/24", "dev", "up0")
            ip("-n", peer, "link", "set", "up0", "up")
        yield m, a, b


@pytest.mark.root
def test_workers_in_two_namespaces_are_two_hosts_on_the_master(tmp_path, three_hosts):
    m, a, b = three_hosts
    with ExitStack() as stack:
        for ns in (a, b):  # the same target address in each worker's own namespace
            stack.enter_context(Server(port=7300, netns=ns))
        master = start_locust("short_tcp.py", *RUN, "--master", "--host",
                              "tcp://127.0.0.1:7300", cwd=tmp_path,
                              prefix=("ip", "netns", "exec", m))
        workers = [start_locust("short_tcp.py", "--worker", "--master-host", f"10.233.{i}.1",
                                cwd=tmp_path, prefix=("ip", "netns", "exec", ns))
                   for i, ns in ((1, a), (2, b))]
        try:
            code, out = finish(master)
        finally:
            worker_out = [finish(w, timeout=20)[1] for w in workers]
    assert code == 0, out
    hosts = hosts_in_csv(tmp_path / "dist_tcp.csv")
    assert sorted(label.rsplit("/", 1)[-1] for label in hosts) == sorted([a, b]), (
        hosts, out, worker_out)
    table = host_table(out)
    for label, rows in hosts.items():
        assert 3 <= rows <= 16, (label, rows)
        assert table[label][0] == str(rows)
    assert int(table["total"][0]) == sum(hosts.values())
    rows = list(csv.DictReader((tmp_path / "dist_tcp.csv").open()))
    # each namespace sees only its own server's listener; the total counts both
    assert all(row["LISTEN"] == "1" for row in rows if row["host"] != "total")
    assert {row["LISTEN"] for row in rows if row["host"] == "total"} >= {"2"}

