"""Namespaces by any handle: a name, a path to a namespace file, pid:N; each failure is
one line naming the handle, and the caller's own namespace needs no root."""

from __future__ import annotations

import os

import pytest
from unshare_util import unshared_leaker

from harness.kernel import netns as kns
from harness.kernel import sockdiag
from harness.kernel.errors import KernelError, NamespaceError


def test_pid_handles_name_the_process_namespace_file():
    assert kns.netns_path(f"pid:{os.getpid()}") == f"/proc/{os.getpid()}/ns/net"
    assert kns.netns_inode(f"pid:{os.getpid()}") == os.stat("/proc/self/ns/net").st_ino


@pytest.mark.parametrize("handle, message", [
    ("pid:abc", r"^bad pid in 'pid:abc' \(pid:N, N a process id\)$"),
    ("pid:", r"^bad pid in 'pid:'"),
    ("pid:0", r"^bad pid in 'pid:0'"),
    ("pid:999999999", r"^no process 999999999 \(pid:999999999\)$"),
    ("/run/sl-none/ns", r"^no namespace file '/run/sl-none/ns'$"),
])
def test_a_bad_handle_is_one_line(handle, message):
    with pytest.raises(NamespaceError, match=message):
        kns.netns_path(handle)


def test_a_file_that_is_not_a_network_namespace_is_refused(tmp_path):
    plain = tmp_path / "ns"
    plain.write_text("")
    with pytest.raises(NamespaceError, match=r"is not a network namespace$"):
        kns.netns_inode(str(plain))
    with pytest.raises(NamespaceError, match=r"^'/proc/self/ns/uts' is not a network "):
        kns.netns_inode("/proc/self/ns/uts")  # a namespace, of another kind


def test_the_own_namespace_by_path_needs_no_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    home = os.stat("/proc/thread-self/ns/net").st_ino
    for handle in ("/proc/self/ns/net", f"pid:{os.getpid()}"):
        kns.check_can_enter(handle)
        with kns.entered(handle):
            assert os.stat("/proc/thread-self/ns/net").st_ino == home
    with pytest.raises(KernelError, match=r"^needs root for --netns$"):
        kns.check_can_enter("/proc/self/ns/uts")  # not this namespace: root's business


@pytest.mark.root
def test_an_unshared_namespace_is_read_by_path_and_by_pid():
    with unshared_leaker() as leaker:
        inode = os.stat(leaker.path).st_ino
        assert inode != os.stat("/proc/self/ns/net").st_ino
        for handle in (leaker.path, f"pid:{leaker.pid}"):
            assert kns.netns_inode(handle) == inode
            records = sockdiag.dump(handle, states=["LISTEN", "CLOSE_WAIT"])
            assert sorted((r.state, r.sport) for r in records) == [
                ("CLOSE_WAIT", leaker.port), ("LISTEN", leaker.port)]


@pytest.mark.root
def test_a_pid_whose_process_exited_is_one_line():
    with unshared_leaker() as leaker:
        handle = f"pid:{leaker.pid}"
    with pytest.raises(NamespaceError, match=rf"^no process {leaker.pid} \({handle}\)$"):
        kns.check_can_enter(handle)
