"""cgroup v2 ids and paths: what a dump's INET_DIAG_CGROUP_ID means.

The kernel puts each full socket's cgroup v2 id in the dump; the id is the inode of
the cgroup's directory under the cgroup2 mount (/sys/fs/cgroup, or
/sys/fs/cgroup/unified on a hybrid layout), found in /proc/self/mountinfo::

    >>> parse_cgroup2_mount("30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\\n")
    '/sys/fs/cgroup/unified'

``CgroupPaths`` maps ids to paths as ``ss --cgroup`` prints them
(``/system.slice/nginx.service``, ``/docker/<id>``, ``/kubepods.slice/...``) with a
cache: a known id costs a dict lookup; an unknown one makes it walk the cgroup tree
again (its directories only, one stat each), at most once per ``rescan_s``, so a
sample pays nothing beyond the cache while no cgroup appears. ``id_of(path)`` is the
other way, for ``--cgroup PATH``.
"""

from __future__ import annotations

import os
import time

from harness.kernel.errors import KernelError
from harness.kernel.procfs import proc_root, read_text

RESCAN_S = 1.0


def parse_cgroup2_mount(mountinfo: str) -> str | None:
    """The mount point of the first cgroup2 file system in a /proc/PID/mountinfo."""
    for line in mountinfo.splitlines():
        head, sep, tail = line.partition(" - ")
        if sep and tail.split(" ", 1)[0] == "cgroup2":
            fields = head.split()
            if len(fields) >= 5:
                return fields[4].replace("\\040", " ")
    return None


def cgroup2_mount() -> str:
    """Where cgroup v2 is mounted here (KernelError: nowhere)."""
    mount = parse_cgroup2_mount(read_text(f"{proc_root()}/self/mountinfo"))
    if mount is None:
        raise KernelError("no cgroup v2 file system is mounted (cgroup2 in /proc/self/mountinfo)")
    return mount


class CgroupPaths:
    """cgroup v2 id -> path, cached; path -> id."""

    def __init__(self, mount: str | None = None, rescan_s: float = RESCAN_S,
                 clock=time.monotonic):
        self.mount = mount if mount is not None else cgroup2_mount()
        self.rescan_s = rescan_s
        self.clock = clock
        self._paths: dict[int, str] = {}
        self._scanned: float | None = None
        self.scans = 0  # walks of the tree so far (tests, benchmarks)

    def _scan(self) -> None:
        self.scans += 1
        self._scanned = self.clock()
        paths = {}
        for top, dirs, _files in os.walk(self.mount):
            try:
                inode = os.stat(top).st_ino
            except OSError:
                dirs[:] = []  # removed meanwhile
                continue
            rel = os.path.relpath(top, self.mount)
            paths[inode] = "/" if rel == "." else "/" + rel
        self._paths = paths

    def path(self, cgroup_id: int | None) -> str | None:
        """The path of ``cgroup_id`` (None: unknown, or a socket without one)."""
        if cgroup_id is None:
            return None
        found = self._paths.get(cgroup_id)
        if found is None and (self._scanned is None
                              or self.clock() - self._scanned >= self.rescan_s):
            self._scan()
            found = self._paths.get(cgroup_id)
        return found

    def id_of(self, path: str) -> int:
        """The id of the cgroup at ``path`` (as ss prints it, from the mount's root);
        KernelError naming it when there is none."""
        if not path.startswith("/"):
            raise KernelError(f"a cgroup path starts with '/' (as ss --cgroup prints it), "
                              f"got {path!r}")
        full = os.path.normpath(self.mount + path)
        if not (full + "/").startswith(self.mount.rstrip("/") + "/") or not os.path.isdir(full):
            raise KernelError(f"no cgroup {path!r} (under {self.mount})")
        inode = os.stat(full).st_ino
        self._paths[inode] = os.path.normpath(path)
        return inode


def available() -> CgroupPaths | None:
    """A CgroupPaths, or None where no cgroup v2 is mounted (inside `ip netns exec`, whose
    sysfs of the namespace has none): rows then carry no cgroup, and nothing fails."""
    try:
        return CgroupPaths()
    except (KernelError, OSError):
        return None


def cgroup_path(record, paths: CgroupPaths | None) -> str | None:
    """The cgroup path of a SocketRecord: None without a mapping, for a record that
    carries no cgroup id (a minisocket, or a dump that did not decode it) or an id no
    cgroup has any more."""
    if paths is None:
        return None
    return paths.path(getattr(record, "cgroup_id", None))
