"""Network namespaces by name (``/run/netns/NAME``, as ``ip netns add`` makes them).

``entered(name)`` moves the *calling thread* into the namespace and back. Sockets opened
inside stay bound to that namespace after the thread returns (a netlink socket, a TCP
socket), and files opened inside (``/proc/thread-self/net/*``, ``/proc/sys/net/*``) show
that namespace. The setns(2) call itself goes through pyroute2.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2 import netns as _pyroute2_netns

from harness.kernel.errors import KernelError, NamespaceError

NETNS_DIR = "/run/netns"


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


def _setns(fd: int) -> None:
    try:
        _pyroute2_netns.setns(fd, flags=0)
    except OSError as exc:
        raise KernelError(f"setns failed: {os.strerror(exc.errno or 1)}") from None


@contextmanager
def entered(name: str | None) -> Iterator[None]:
    """Run the body with the calling thread inside namespace ``name`` (None: stay put)."""
    if name is None:
        yield
        return
    check_can_enter(name)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(netns_path(name), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)
