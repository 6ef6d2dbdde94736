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
