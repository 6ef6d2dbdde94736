"""Entering a named namespace with setns(2): the thread goes in and comes back, sockets
opened inside stay there, and every failure is one line naming the namespace."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import threading

import pytest

from harness.kernel import netns as kns
from harness.kernel.errors import KernelError, NamespaceError


def _here() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


@pytest.mark.root
def test_entered_moves_the_thread_in_and_back(netns):
    with netns() as ns:
        home = _here()
        target = os.stat(kns.netns_path(ns)).st_ino
        assert target != home
        with kns.entered(ns):
            assert _here() == target
            inside = socket.socket()
            inside.bind(("127.0.0.1", 0))
            inside.listen()
        assert _here() == home
        try:
            port = inside.getsockname()[1]
            # Bound inside: nothing listens on that port here, it does in the namespace.
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            with kns.entered(ns):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
        finally:
            inside.close()


@pytest.mark.root
def test_entered_moves_only_the_calling_thread(netns):
    """Another thread, already running, stays home (a thread started inside inherits
    the namespace of the thread that starts it, as clone(2) does)."""
    with netns() as ns:
        home = _here()
        inside, looked = threading.Event(), threading.Event()
        seen = []

        def other():
            inside.wait(5)
            seen.append(_here())
            looked.set()

        t = threading.Thread(target=other)
        t.start()
        with kns.entered(ns):
            inside.set()
            looked.wait(5)
            assert _here() != home
        t.join()
        assert seen == [home]


@pytest.mark.root
def test_a_body_that_raises_still_comes_back(netns):
    with netns() as ns:
        home = _here()
        with pytest.raises(ValueError), kns.entered(ns):
            raise ValueError
        assert _here() == home


def test_none_stays_put():
    home = _here()
    with kns.entered(None):
        assert _here() == home


def test_a_missing_or_bad_name_is_one_line():
    with pytest.raises(NamespaceError, match=r"^no network namespace 'sl-none-0' "):
        kns.netns_path("sl-none-0")
    for bad in ("", "..", "."):
        with pytest.raises(NamespaceError, match=r"^bad namespace name"):
            kns.netns_path(bad)


def test_not_root_is_one_line(monkeypatch, tmp_path):
    (tmp_path / "lab").touch()
    monkeypatch.setattr(kns, "NETNS_DIR", str(tmp_path))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(KernelError, match=r"^needs root for --netns$"), kns.entered("lab"):
        pass


@pytest.mark.root
def test_a_refused_setns_is_one_line_and_leaves_the_thread_home(netns,
                                                                monkeypatch):
    def refuse(fd, nstype):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    with netns() as ns:
        home = _here()
        monkeypatch.setattr(kns, "_setns_call", lambda: refuse)
        with pytest.raises(NamespaceError) as info, kns.entered(ns):
            pass
        assert str(info.value) == (f"cannot enter network namespace {ns!r}: "
                                   "setns: Operation not permitted")
        assert _here() == home


def test_libc_setns_reports_errno():
    """The call used on Python 3.11 (os.setns exists from 3.12): a file that is not a
    namespace is EINVAL, raised as OSError."""
    setns = kns._setns_call()
    with open("/proc/self/stat") as f, pytest.raises(OSError) as info:
        setns(f.fileno(), kns.CLONE_NEWNET)
    assert info.value.errno == errno.EINVAL


def test_importing_it_loads_neither_pyroute2_nor_ctypes():
    code = ("import sys, harness.kernel.netns; "
            "print(sorted(m for m in ('pyroute2', 'ctypes') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
