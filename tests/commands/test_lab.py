"""`socklife lab up|down|list`, and what a lab leaves behind on the host (nothing)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.cli import main
from harness.kernel.netns import list_netns
from harness.lab import Lab, cleanup_stale
from harness.lab.names import MARKERS

pytestmark = pytest.mark.root


def _host_links():
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def _host_tables():
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def test_normal_exit_leaves_no_namespace_link_or_table_on_the_host():
    links, tables = _host_links(), _host_tables()
    with Lab() as lab:
        made = [h.netns for h in lab.hosts.values()]
        lab.client.nft.count(dport=1)
        lab.server.nft.drop("input", dport=1)
        assert "socklife" in lab.client.exec(["nft", "list", "tables"]).stdout
        assert _host_tables() == tables  # the table is inside the lab host only
    assert not set(made) & set(list_netns())
    assert _host_links().count("\n") == links.count("\n") and "socklife" not in _host_tables()


def test_the_next_lab_removes_a_dead_runs_namespace():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = f"sl-{dead}-0-cli"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        with Lab.single():
            assert stale not in list_netns()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


def test_down_all_and_list(capsys):
    try:
        for name in ("pytesta", "pytestb"):
            assert main(["lab", "up", "--name", name]) == 0
        out = capsys.readouterr().out
        assert "ip netns exec sl-pytestb-cli socklife connect 198." in out
        ours = {f"sl-{n}-{r}" for n in ("pytesta", "pytestb") for r in ("cli", "srv")}
        assert not ours & set(cleanup_stale())  # persistent: never stale
        assert ours <= set(list_netns())
        assert main(["lab", "list"]) == 0
        listing = capsys.readouterr().out
        assert listing.count("persistent") >= 2 and "sl-pytesta-srv" in listing
    finally:
        assert main(["lab", "down", "--all"]) == 0
    out = capsys.readouterr().out
    assert "removed lab pytesta" in out and "removed lab pytestb" in out
    assert not [n for n in list_netns() if n.startswith("sl-pytest")]
    assert not {"pytesta", "pytestb"} & set(os.listdir(MARKERS))


def test_down_leaves_a_running_process_lab_alone(capsys):
    with Lab() as lab:
        assert main(["lab", "down", "--name", lab.name]) == 2
        assert "belongs to running process" in capsys.readouterr().err
        assert lab.client.netns in list_netns()


@pytest.mark.parametrize("args", [
    ["lab", "up", "--name", "t5"],          # would read as a test namespace of pid 5
    ["lab", "up", "--name", "Bad"],
    ["lab", "up", "--sysctl", "net.ipv4.tcp_fin_timeout"],
    ["lab", "up", "--name", "pytestc", "--sysctl", "net.ipv4.no_such_thing=1"],
    ["lab", "down"],
    ["lab", "down", "--name", "x", "--all"],
    ["lab", "up", "--name", "pytestc", "--sysctl", "net.ipv4.tcp_fin_timeout="],
    ["lab", "up", "--name", "pytestc", "--sysctl", "net.ipv4.tcp_fin_timeout=5\n6"],
    ["lab", "up", "--name", "pytestc", "--sysctl", "net.ipv4.tcp_fin_timeout= "],
    ["lab", "up", "--name", "pytestc", "--sysctl", "net.ipv4/../../kernel.x=1"],
])
def test_bad_input_is_one_line(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("socklife: error: ") and err.count("\n") == 1
    assert not [n for n in list_netns() if n.startswith("sl-pytestc")]
    assert not os.path.exists(os.path.join(MARKERS, "pytestc"))


def test_the_name_rule_in_help_is_the_one_enforced(capsys):
    """--help said "(a-z, 0-9)" while t1 was refused: both now come from NAME_RULE."""
    from harness.commands.lab import NAME_RULE

    assert main(["lab", "up", "--help"]) == 0
    assert " ".join(NAME_RULE.split()[:4]) in " ".join(capsys.readouterr().out.split())
    assert main(["lab", "up", "--name", "t1"]) == 2
    assert NAME_RULE in capsys.readouterr().err


def test_sysctl_values_are_words_on_one_line():
    from harness.commands.lab import parse_sysctls

    assert parse_sysctls(["net.ipv4.ip_local_port_range=1024 65535"]) == {
        "net.ipv4.ip_local_port_range": "1024 65535"}


@pytest.mark.parametrize("args, says", [
    (["lab", "up"], "needs root to build lab hosts"),
    (["lab", "down", "--name", "x"], "needs root to remove lab hosts"),
])
def test_not_root_says_what_needs_root(args, says, capsys, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(args) == 2
    assert says in capsys.readouterr().err
