"""Network namespaces by any handle, and entering them.

A handle is what a user types after ``--netns``:

- a name under /run/netns (as ``ip netns add`` makes them): ``lab``;
- a path to a namespace file: ``/proc/PID/ns/net``, ``/run/docker/netns/ID``,
  ``/run/netns/cni-...`` (anything with a ``/``);
- ``pid:N``: the namespace of process N (its ``/proc/N/ns/net``).

::

    >>> netns_path("pid:1")
    '/proc/1/ns/net'
    >>> netns_path("pid:one")
    Traceback (most recent call last):
    ...
    harness.kernel.errors.NamespaceError: bad pid in 'pid:one' (pid:N, N a process id)

``entered(handle)`` moves the *calling thread* into the namespace and back. Sockets opened
inside stay bound to that namespace after the thread returns (a netlink socket, a TCP
socket), and files opened inside (``/proc/thread-self/net/*``, ``/proc/sys/net/*``) show
that namespace. A handle is resolved at each entry, so a ``pid:N`` whose process exited
fails there in one line (the namespace may live on, held by others: ask for it by
another handle). A handle naming the caller's own namespace is entered without setns
(and without root). setns(2) is called directly (``os.setns`` from Python 3.12, libc's
through ctypes before), which costs nothing at import: pyroute2's netns module pulls in
~200 ms of imports, more than a whole ``socklife snapshot`` otherwise takes.
"""

from __future__ import annotations

import fcntl
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harness.kernel.errors import KernelError, NamespaceError

NETNS_DIR = "/run/netns"
PID_PREFIX = "pid:"
CLONE_NEWNET = 0x40000000  # include/uapi/linux/sched.h
NS_GET_NSTYPE = 0xB703  # include/uapi/linux/nsfs.h: _IO(NSIO 0xb7, 0x3), Linux 4.11


def netns_path(handle: str) -> str:
    """The namespace file a handle names; raise NamespaceError (one line) if there is
    none. Whether the file is a network namespace is checked on opening it."""
    if not handle or handle in (".", ".."):
        raise NamespaceError(f"bad namespace name {handle!r}")
    if handle.startswith(PID_PREFIX):
        pid = handle[len(PID_PREFIX):]
        if not (pid.isascii() and pid.isdigit()) or int(pid) == 0:
            raise NamespaceError(f"bad pid in {handle!r} (pid:N, N a process id)")
        if not os.path.exists(f"/proc/{int(pid)}"):
            raise NamespaceError(f"no process {int(pid)} ({handle})")
        return f"/proc/{int(pid)}/ns/net"
    if "/" in handle:
        if not os.path.lexists(handle):
            raise NamespaceError(f"no namespace file {handle!r}")
        return handle
    path = os.path.join(NETNS_DIR, handle)
    if not os.path.exists(path):
        raise NamespaceError(f"no network namespace {handle!r} (not in {NETNS_DIR}; a "
                             f"path or pid:N names others)")
    return path


def _open_netns(handle: str) -> int:
    """An fd of the network namespace ``handle`` names (NamespaceError otherwise)."""
    path = netns_path(handle)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NamespaceError(f"cannot open namespace {handle!r}: {exc.strerror}") from None
    try:
        kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        kind = None  # ENOTTY: a file that is not a namespace
    if kind != CLONE_NEWNET:
        os.close(fd)
        raise NamespaceError(f"{handle!r} is not a network namespace"
                             + (f" ({path})" if path != handle else ""))
    return fd


def own_inode() -> int:
    """Inode of the calling thread's network namespace."""
    return os.stat("/proc/thread-self/ns/net").st_ino


def _is_own(path: str) -> bool:
    """Whether ``path`` is the calling thread's namespace (device and inode alike)."""
    try:
        st, own = os.stat(path), os.stat("/proc/thread-self/ns/net")
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def netns_inode(handle: str | None) -> int:
    """Inode of the namespace ``handle`` names (None: the calling thread's): what
    /proc/PID/ns/net links read as ``net:[INODE]``, the same whatever the handle."""
    if handle is None:
        return own_inode()
    fd = _open_netns(handle)
    try:
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)


def list_netns() -> list[str]:
    """Names of the namespaces under /run/netns (empty when the folder does not exist)."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def check_can_enter(handle: str | None) -> None:
    """Raise a one-line KernelError when ``handle`` cannot be entered by this process."""
    if handle is None:
        return
    path = netns_path(handle)
    if os.geteuid() != 0:
        if not _is_own(path):  # the caller's own namespace needs no setns, nor root
            raise KernelError("needs root for --netns")
        return
    os.close(_open_netns(handle))


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


@contextmanager
def entered(handle: str | None) -> Iterator[None]:
    """Run the body with the calling thread inside namespace ``handle`` (None: stay
    put; the caller's own namespace by another handle: stay put too)."""
    if handle is None or os.geteuid() != 0:
        check_can_enter(handle)  # not root: only the caller's own namespace, entered as is
        yield
        return
    target = _open_netns(handle)
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        os.close(target)
        raise NamespaceError(f"cannot open this thread's network namespace: "
                             f"{exc.strerror}") from None
    try:
        if os.fstat(target).st_ino == os.fstat(home).st_ino:
            os.close(target)
            target = -1
            yield
            return
        _setns(target, f"network namespace {handle!r}")
        os.close(target)
        target = -1
        try:
            yield
        finally:
            _setns(home, "the network namespace this thread came from")
    finally:
        if target >= 0:
            os.close(target)
        os.close(home)
