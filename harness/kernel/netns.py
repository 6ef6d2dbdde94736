"""Network namespaces by name (``/run/netns/NAME``, as ``ip netns add`` makes them).

``entered(name)`` moves the *calling thread* into the namespace and back. Sockets opened
inside stay bound to that namespace after the thread returns (a netlink socket, a TCP
socket), and files opened inside (``/proc/thread-self/net/*``, ``/proc/sys/net/*``) show
that namespace. setns(2) is called directly (``os.setns`` from Python 3.12, libc's
through ctypes before), which costs nothing at import: pyroute2's netns module pulls in
~200 ms of imports, more than a whole ``socklife snapshot`` otherwise takes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harness.kernel.errors import KernelError, NamespaceError

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000  # include/uapi/linux/sched.h


def netns_path(name: str) -> str:
    """Path of a named namespace; raise NamespaceError if it does not exist."""
    if not name or "/" in name or name in (".", ".."):
        raise NamespaceError(f"bad namespace name {name!r}")
    path = os.path.join(NETNS_DIR, name)
    if not os.path.exists(path):
        raise NamespaceError(f"no network namespace {name!r} (not in {NETNS_DIR})")
    return path


def list_netns() -> list[str]:
    """Names of the namespaces under /run/netns (empty when the folder does not exist)."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def check_can_enter(name: str | None) -> None:
    """Raise a one-line KernelError when ``name`` cannot be entered by this process."""
    if name is None:
        return
    path = netns_path(name)
    if os.geteuid() != 0:
        raise KernelError("needs root for --netns")
    if not os.access(path, os.R_OK):
        raise NamespaceError(f"cannot open network namespace {name!r}")


@functools.cache
def _setns_call() -> Callable[[int, int], None]:
    """``setns(fd, nstype)`` raising OSError: os.setns where it exists (3.12+), else
    libc's, found on first use (importing ctypes is the only cost)."""
    if hasattr(os, "setns"):
        return os.setns
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    call = libc.setns
    call.argtypes = (ctypes.c_int, ctypes.c_int)
    call.restype = ctypes.c_int

    def setns(fd: int, nstype: int) -> None:
        if call(fd, nstype) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    return setns


def _setns(fd: int, where: str) -> None:
    """Move the calling thread into the network namespace open as ``fd``."""
    try:
        _setns_call()(fd, CLONE_NEWNET)
    except OSError as exc:
        raise NamespaceError(f"cannot enter {where}: setns: {os.strerror(exc.errno or 1)}"
                             ) from None


def _open(path: str, where: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NamespaceError(f"cannot open {where}: {exc.strerror}") from None


@contextmanager
def entered(name: str | None) -> Iterator[None]:
    """Run the body with the calling thread inside namespace ``name`` (None: stay put)."""
    if name is None:
        yield
        return
    check_can_enter(name)
    where = f"network namespace {name!r}"
    home = _open("/proc/thread-self/ns/net", "this thread's network namespace")
    try:
        target = _open(netns_path(name), where)
        try:
            _setns(target, where)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home, "the network namespace this thread came from")
    finally:
        os.close(home)
