"""Lab hosts: veth between namespaces, private sysctls, nftables faults, cleanup."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sockets_util import wait_for

from harness.cli import main
from harness.kernel import sockdiag
from harness.kernel.errors import KernelError
from harness.kernel.netns import entered, list_netns
from harness.kernel.netstat import read_tcp_counters
from harness.lab import Lab, cleanup_stale
from harness.lab.names import owner_pid

pytestmark = pytest.mark.root


def _serve_once(addr, port, ready):
    with socket.socket() as lst:
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind((addr, port))
        lst.listen(5)
        ready.append(True)
        conn, peer = lst.accept()
        with conn:
            conn.sendall(conn.recv(100))
            conn.recv(100)  # until the client closes
        return peer[0]


def _client(addr, port, hold=None):
    with socket.create_connection((addr, port), timeout=5) as c:
        c.sendall(b"hello")
        data = c.recv(100)
        if hold:
            hold()
        return data


def _counters(netns):
    with entered(netns):
        return read_tcp_counters()


def test_two_hosts_talk_over_the_veth():
    with Lab() as lab:
        ready = []
        server = lab.server.start(_serve_once, lab.server.addr, 7000, ready)
        assert wait_for(lambda: ready)

        def look():
            srv = sockdiag.dump(lab.server.netns, states=["ESTABLISHED"], ports=[7000])
            cli = sockdiag.dump(lab.client.netns, states=["ESTABLISHED"], ports=[7000])
            return [(r.local, r.remote) for r in srv], [(r.local, r.remote) for r in cli]

        seen = {}
        assert lab.client.run(_client, lab.server.addr, 7000,
                              hold=lambda: seen.update(states=look())) == b"hello"
        assert server.wait(5) == lab.client.addr
        (srv_pair,), (cli_pair,) = seen["states"]
        assert srv_pair == (cli_pair[1], cli_pair[0])
        assert srv_pair[0] == f"{lab.server.addr}:7000"
        assert lab.client.addr.startswith("198.18.") or lab.client.addr.startswith("198.19.")
        # The veth exists only inside the lab: nothing on the host side.
        assert "198.18." not in subprocess.run(["ip", "addr"], capture_output=True,
                                               text=True).stdout


def test_sysctls_are_private_to_the_lab_host():
    host_value = Path("/proc/sys/net/ipv4/tcp_fin_timeout").read_text().strip()
    with Lab(sysctls={"client": {"net.ipv4.tcp_fin_timeout": 7}}) as lab:
        lab.server.set_sysctl("net.ipv4.ip_local_port_range", (40000, 40049))
        assert lab.client.sysctl("net.ipv4.tcp_fin_timeout") == "7"
        assert lab.server.sysctl("net.ipv4.ip_local_port_range").split() == ["40000", "40049"]
        assert lab.server.sysctl("net.ipv4.tcp_fin_timeout") == "60"
        assert Path("/proc/sys/net/ipv4/tcp_fin_timeout").read_text().strip() == host_value
        with pytest.raises(ValueError):
            lab.client.set_sysctl("kernel.pid_max", 1)


def test_nft_drops_exactly_the_chosen_segment_and_tcp_retransmits():
    with Lab() as lab:
        ready = []
        server = lab.server.start(_serve_once, lab.server.addr, 7001, ready)
        assert wait_for(lambda: ready)
        watch = lab.server.nft.count("output", tcp_flags="syn,ack", sport=7001)  # sees all
        rule = lab.server.nft.drop("output", once=True, tcp_flags="syn,ack", sport=7001)
        before = _counters(lab.server.netns)
        assert lab.client.run(_client, lab.server.addr, 7001) == b"hello"
        server.wait(5)
        after = _counters(lab.server.netns)
        retransmitted = after["TCPSynRetrans"] - before["TCPSynRetrans"]
        assert rule.packets == 1  # the first SYN+ACK, dropped; no other segment matched
        assert retransmitted >= 1  # the server sent it again (the client's SYN retransmit
        assert watch.packets == 1 + retransmitted  # can trigger one more): all went out


def test_lab_is_removed_after_an_exception():
    names = []
    with pytest.raises(RuntimeError), Lab() as lab:
        names = [h.netns for h in lab.hosts.values()]
        lab.client.nft.count("input", dport=1)
        raise RuntimeError("boom")
    assert names and not set(names) & set(list_netns())


SCRIPT = """
import sys, time
from harness.lab import Lab
with Lab() as lab:
    print(lab.client.netns, lab.server.netns, flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_owner(sig):
    """SIGTERM: the lab's own cleanup runs. SIGKILL: the next start removes it as stale."""
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        names = proc.stdout.readline().split()
        assert len(names) == 2 and all(n in list_netns() for n in names)
        assert owner_pid(names[0]) == proc.pid
        proc.send_signal(sig)
        proc.wait(10)
        if sig == signal.SIGKILL:  # left behind until the next start cleans up
            cleanup_stale()
        assert not set(names) & set(list_netns())
    finally:
        proc.kill()
        proc.wait()


def test_not_root_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(KernelError, match="needs root"):
        Lab()
    assert main(["lab", "up", "--name", "x"]) == 2
    assert capsys.readouterr().err == (
        "socklife: error: needs root to build lab hosts (network namespaces)\n")


def test_lab_cli_up_list_down(capsys):
    try:
        assert main(["lab", "up", "--name", "pytestlab", "--sysctl",
                     "net.ipv4.tcp_tw_reuse=0"]) == 0
        out = capsys.readouterr().out
        assert "sl-pytestlab-cli" in out and "sl-pytestlab-srv" in out
        assert "sl-pytestlab-cli" not in cleanup_stale()  # persistent: not stale
        assert "sl-pytestlab-cli" in list_netns()
        assert main(["lab", "list"]) == 0
        assert "persistent" in capsys.readouterr().out
        assert main(["lab", "up", "--name", "pytestlab"]) == 2
        assert "exists" in capsys.readouterr().err
    finally:
        main(["lab", "down", "--name", "pytestlab"])
    assert not [n for n in list_netns() if n.startswith("sl-pytestlab")]
    assert main(["lab", "down", "--name", "nosuchlab"]) == 2
    assert main(["lab", "up", "--sysctl", "kernel.x=1"]) == 2


_SUBNET_OF_A_CHILD = """
import sys, time
from harness.lab import Lab
with Lab() as lab:
    print(lab.client.addr, flush=True)
    sys.stdin.readline()
"""


def test_concurrent_labs_never_share_a_subnet():
    """Labs of other live processes, and one whose first choice is taken, each get a
    subnet of their own, given back on exit."""
    children = [subprocess.Popen([sys.executable, "-c", _SUBNET_OF_A_CHILD], text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                for _ in range(3)]
    try:
        addrs = [c.stdout.readline().strip() for c in children]
        with Lab() as mine:
            taken = {a.rsplit(".", 1)[0] for a in addrs}
            assert len(taken) == 3 and mine.client.addr.rsplit(".", 1)[0] not in taken
            k = mine.k
            assert Path(f"/run/socklife/subnets/{k}").read_text() == mine.name
        assert not os.path.exists(f"/run/socklife/subnets/{k}")
    finally:
        for c in children:
            c.communicate("\n", timeout=30)
    assert not [n for n in list_netns() if any(f"sl-{c.pid}-" in n for c in children)]
