"""Lab names: the owning pid in each form, and what cleanup_stale() may remove."""

from __future__ import annotations

import os
import subprocess

import pytest
from sockets_util import wait_for

from harness.lab import names


@pytest.mark.parametrize("name, pid", [
    ("sl-4242-0-cli", 4242),      # Lab() in process 4242
    ("sl-4242-13-srv", 4242),
    ("sl-t4242-3", 4242),         # tests/netns_util.py
    ("sl-bench-4242", 4242),      # benchmarks: sl-<word>-<pid>
    ("sl-demo-cli", None),        # socklife lab up --name demo
    ("sl-lab1-srv", None),
])
def test_owner_pid(name, pid):
    assert names.owner_pid(name) == pid


def test_cleanup_stale_removes_only_dead_owners_sl_namespaces(monkeypatch, tmp_path):
    dead, live = 999_999_901, os.getpid()
    present = [f"sl-{dead}-0-cli", f"sl-{dead}-0-srv", f"sl-t{dead}-1", f"sl-{live}-0-cli",
               f"sl-t{live}-0", "sl-demo-cli", "sl-kept-cli", f"lab-{dead}-0", f"x{dead}"]
    (tmp_path / "kept").write_text("{}")
    deleted = []
    monkeypatch.setattr(names, "MARKERS", str(tmp_path))
    monkeypatch.setattr(names, "list_netns", lambda: present)
    monkeypatch.setattr(names, "delete_netns", deleted.append)
    monkeypatch.setattr(names, "pid_alive", lambda pid: pid != dead)
    removed = names.cleanup_stale()
    assert removed == deleted == [f"sl-{dead}-0-cli", f"sl-{dead}-0-srv", f"sl-t{dead}-1"]


def test_pid_alive_and_zombies_are_dead():
    assert names.pid_alive(os.getpid())
    assert not names.pid_alive(999_999_901)  # above pid_max (4194304 at most)
    proc = subprocess.Popen(["true"])
    try:
        # killed but not yet reaped: a zombie owns nothing
        assert wait_for(lambda: not names.pid_alive(proc.pid), timeout=5)
    finally:
        proc.wait()


def test_list_labs_groups_namespaces_by_lab(monkeypatch):
    monkeypatch.setattr(names, "list_netns",
                        lambda: ["other", "sl-7-0-cli", "sl-7-0-srv", "sl-demo-cli"])
    assert names.list_labs() == {"7-0": ["sl-7-0-cli", "sl-7-0-srv"], "demo": ["sl-demo-cli"]}


def test_claim_subnet_skips_live_labs_and_takes_over_stale_claims(monkeypatch, tmp_path):
    dead, live = 999_999_902, os.getpid()
    monkeypatch.setattr(names, "list_netns", lambda: ["sl-demo-cli", "sl-demo-srv"])
    monkeypatch.setattr(names, "pid_alive", lambda pid: pid == live)
    (tmp_path / "5").write_text(f"{live}-0")      # a live process's lab
    (tmp_path / "6").write_text("demo")           # a persistent lab whose namespaces exist
    (tmp_path / "7").write_text(f"{dead}-0")      # a killed run's: stale
    assert names.claim_subnet(f"{live}-1", 5, folder=str(tmp_path)) == 7
    assert (tmp_path / "7").read_text() == f"{live}-1"
    assert names.claim_subnet(f"{live}-2", 5, folder=str(tmp_path)) == 8
    names.release_subnet(8, "someone-else", folder=str(tmp_path))  # not theirs to give back
    assert (tmp_path / "8").exists()
    names.release_subnet(8, f"{live}-2", folder=str(tmp_path))
    assert not (tmp_path / "8").exists()
    names.release_subnets_of("demo", folder=str(tmp_path))
    assert not (tmp_path / "6").exists() and (tmp_path / "5").exists()


def test_claim_subnet_when_all_are_held(monkeypatch, tmp_path):
    monkeypatch.setattr(names, "SUBNET_COUNT", 3)
    monkeypatch.setattr(names, "list_netns", lambda: [])
    for k in range(3):
        (tmp_path / str(k)).write_text(f"{os.getpid()}-{k}")
    with pytest.raises(RuntimeError, match="every lab subnet"):
        names.claim_subnet("x", 0, folder=str(tmp_path))
