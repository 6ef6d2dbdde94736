"""Which process samples a host: one per (host name, network namespace).

Workers started with ``--processes`` (or by hand) on one machine share a kernel, so only
one of them may sample it. Each sampler-to-be takes a non-blocking ``flock`` on
``/tmp/socklife-load-<key>.lock``; the one that gets it samples, the others do not. The
lock goes away with the process, so a killed run leaves nothing that blocks the next.
Workers in different namespaces (``ip netns exec``) get different keys: their sockets
are different "hosts".
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import tempfile

from harness.kernel.netns import NETNS_DIR, netns_inode


def namespace_inode(netns: str | None) -> int:
    """Inode of the sampled namespace (any handle: kernel.netns) or this process's own."""
    return netns_inode(netns) if netns else os.stat("/proc/self/ns/net").st_ino


def namespace_name(inode: int) -> str | None:
    """The ``ip netns`` name of a namespace inode, or None (e.g. the host's own)."""
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(NETNS_DIR)):
            with contextlib.suppress(OSError):
                if os.stat(os.path.join(NETNS_DIR, name)).st_ino == inode:
                    return name
    return None


def host_label(netns: str | None) -> tuple[str, str]:
    """(key, label): key is unique per host and namespace, label is for people."""
    inode = namespace_inode(netns)
    host = socket.gethostname()
    name = netns or namespace_name(inode)
    return f"{host}-{inode}", f"{host}/{name}" if name else host


class HostLock:
    """A non-blocking flock held for as long as this process samples ``key``."""

    def __init__(self, key: str, directory: str | None = None):
        self.path = os.path.join(directory or tempfile.gettempdir(),
                                 f"socklife-load-{key}.lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            # unlink first so a waiting process cannot lock a file nobody can find
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            os.close(self._fd)
            self._fd = None
