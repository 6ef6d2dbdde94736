"""The /proc and sysctl readers on a recorded tree (tests/fixtures/proc, SOCKLIFE_PROCFS)."""

from __future__ import annotations

import pytest

from harness.kernel import netstat, sockstat, sysctls
from harness.kernel.owners import parse_socket_link


@pytest.fixture
def procfs(monkeypatch, fixture_path):
    monkeypatch.setenv("SOCKLIFE_PROCFS", fixture_path("proc"))


def test_netstat_and_snmp_pairs(procfs):
    ext = netstat.read_netstat()["TcpExt"]
    tcp = netstat.read_snmp()["Tcp"]
    assert {"ListenOverflows", "ListenDrops", "TW", "TWRecycled"} <= set(ext)
    assert tcp["MaxConn"] == -1 and tcp["RtoMin"] == 200
    flat = netstat.read_tcp_counters()
    assert flat["ActiveOpens"] == tcp["ActiveOpens"] and flat["TW"] == ext["TW"]


@pytest.mark.parametrize("source", ["recorded", "live"])
def test_counter_group_names_the_line_a_counter_comes_from(request, source):
    if source == "recorded":
        request.getfixturevalue("procfs")
    tcp, ext = netstat.read_snmp()["Tcp"], netstat.read_netstat()["TcpExt"]
    assert set(tcp) == netstat.SNMP_TCP
    assert {netstat.counter_group(name) for name in tcp} == {"Tcp"}
    assert {netstat.counter_group(name) for name in ext} == {"TcpExt"}


def test_parse_pairs_rejects_unpaired_lines():
    with pytest.raises(ValueError):
        netstat.parse_pairs("TcpExt: A B\nIpExt: 1 2\n")


def test_sockstat(procfs):
    s = sockstat.read_sockstat()
    assert set(s["TCP"]) == {"inuse", "orphan", "tw", "alloc", "mem"}
    assert "TCP6" in s and "inuse" in s["TCP6"]
    assert sockstat.parse_sockstat("TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\n") == {
        "TCP": {"inuse": 5, "orphan": 0, "tw": 2, "alloc": 7, "mem": 1}}


def test_sockstat_time_wait_is_tw_less_the_fin_wait2_minisockets(procfs):
    s = sockstat.read_sockstat(ipv6=False)
    assert "TCP6" not in s
    assert sockstat.minisockets(s) == s["TCP"]["tw"]
    assert sockstat.time_wait({"TCP": {"tw": 7}}, 2) == 5
    assert sockstat.time_wait({"TCP": {"tw": 1}}, 2) == 0  # read at another instant
    assert sockstat.minisockets({}) == 0


def test_sysctls_parsed_with_reserved_ports(procfs):
    values = sysctls.read_sysctls()
    assert values["ip_local_port_range"] == [40000, 40049]
    assert values["ip_local_reserved_ports"] == [[8080, 8080], [9000, 9002]]
    assert values["tcp_tw_reuse"] == 2 and values["tcp_fin_timeout"] == 60
    assert set(values) == set(sysctls.SYSCTLS)


def test_usable_ports_subtracts_reserved_inside_the_range():
    assert sysctls.usable_ports([40000, 40049], []) == 50
    assert sysctls.usable_ports([40000, 40049], [[40010, 40019], [1, 100]]) == 40
    assert sysctls.usable_ports([40000, 40049], [[39990, 40004]]) == 45
    assert sysctls.parse_ranges("") == []


def test_socket_link():
    assert parse_socket_link("socket:[12345]") == 12345
    assert parse_socket_link("pipe:[12345]") is None
    assert parse_socket_link("/dev/null") is None
