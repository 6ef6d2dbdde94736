"""Socket owners: inode -> (pid, fd, process name), by reading /proc/PID/fd links.

This is what makes ``ss -p`` slow, so it is built once per snapshot and only when asked,
and stops early once every wanted inode is found. A link reads ``socket:[12345]``::

    >>> parse_socket_link("socket:[12345]")
    12345

Processes of every namespace are visible in /proc; socket inodes are unique machine
wide, so one map serves every namespace. Processes we may not inspect are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

from harness.kernel.procfs import proc_root, read_text


class Owner(NamedTuple):
    pid: int
    fd: int
    process: str


def parse_socket_link(target: str) -> int | None:
    if target.startswith("socket:[") and target.endswith("]"):
        return int(target[8:-1])
    return None


def socket_owners(inodes: Iterable[int] | None = None) -> dict[int, Owner]:
    """Owners of ``inodes`` (None: of every socket); the lowest pid/fd wins a shared one."""
    wanted = None if inodes is None else {i for i in inodes if i}
    if wanted is not None and not wanted:
        return {}
    root = proc_root()
    out: dict[int, Owner] = {}
    pids = sorted(int(p) for p in os.listdir(root) if p.isdigit())
    for pid in pids:
        fd_dir = f"{root}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        comm = None
        for fd in sorted(fds, key=int):
            try:
                inode = parse_socket_link(os.readlink(f"{fd_dir}/{fd}"))
            except OSError:
                continue
            if inode is None or inode in out or (wanted is not None and inode not in wanted):
                continue
            if comm is None:
                try:
                    comm = read_text(f"{root}/{pid}/comm").strip()
                except OSError:
                    comm = "?"
            out[inode] = Owner(pid, int(fd), comm)
        if wanted is not None and len(out) == len(wanted):
            break
    return out
