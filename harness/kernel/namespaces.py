"""Every network namespace of the host, and the processes living in each.

Namespaces are found three ways and deduplicated by inode (the ``INODE`` of the
``net:[INODE]`` that /proc/PID/ns/net links read):

- the files under /run/netns (``ip netns add``, CNI's ``cni-...``; the first of
  ``dirs``): these have a name;
- the files under /run/docker/netns (Docker's sandboxes, one per container network);
- /proc/*/ns/net: the namespace of every process, which also finds those made by
  ``unshare -n`` or a runtime that keeps no file (no name anywhere).

A file in those folders counts only when it is a namespace (its device is nsfs): a
stale file left by a runtime that died is not one. Each namespace gets a ``handle``
to enter it by (kernel.netns): its /run/netns name, else its /run/docker/netns path,
else /proc/PID/ns/net of its lowest pid; the caller's own namespace has handle None.

Each process's name, parent and cgroup are read once (``cache``, kept by the caller
between walks) and tell what it belongs to: a container id or a systemd unit, from
its cgroup v2 path (``attribution``)::

    >>> attribution("/system.slice/nginx.service")
    {'unit': 'nginx.service'}
    >>> attribution("/docker/" + "ab" * 32)["container"][:12]
    'abababababab'
    >>> attribution("/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + "cd" * 32
    ...             + ".scope")["container"][:6]
    'cdcdcd'
    >>> attribution("/user.slice/user-0.slice/session-3.scope")
    {'unit': 'session-3.scope'}
    >>> attribution("/")
    {}

Kernel threads (PF_KTHREAD) live in the host's namespace and hold no TCP socket of a
user's: they are left out of the process lists.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from harness.kernel.procfs import proc_root, read_text

SCAN_DIRS = ("/run/netns", "/run/docker/netns")
PF_KTHREAD = 0x00200000  # include/linux/sched.h
# A container's id in a cgroup path component: docker-<id>.scope, cri-containerd-<id>,
# crio-<id>, libpod-<id>, or a bare 64-hex component (/docker/<id>, cgroupfs driver).
_CONTAINER = re.compile(r"^(?:docker-|cri-containerd-|crio-|libpod-|containerd-)?"
                        r"([0-9a-f]{64})(?:\.scope)?$")
_UNIT = re.compile(r"^[^/]+\.(?:service|scope)$")


class NetnsProcess(NamedTuple):
    pid: int
    name: str  # /proc/PID/comm (what `ps` shows, 15 characters at most)
    cgroup: str | None  # cgroup v2 path ("0::" line of /proc/PID/cgroup)


@dataclass
class FoundNetns:
    inode: int
    handle: str | None  # what kernel.netns enters (None: the caller's own namespace)
    name: str | None = None  # its /run/netns name, if it has one
    files: list[str] = field(default_factory=list)  # the namespace files naming it
    processes: list[NetnsProcess] = field(default_factory=list)  # by pid


def parse_cgroup(text: str) -> str | None:
    """The cgroup v2 path of a /proc/PID/cgroup (its ``0::`` line), or None::

        >>> parse_cgroup("4:memory:/x\\n0::/system.slice/ssh.service\\n")
        '/system.slice/ssh.service'
    """
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def attribution(cgroup: str | None) -> dict[str, str]:
    """``{"container": ID}`` or ``{"unit": NAME}`` that a cgroup path shows (the
    innermost component that says), or ``{}``."""
    for part in reversed((cgroup or "").split("/")):
        m = _CONTAINER.match(part)
        if m:
            return {"container": m.group(1)}
        if _UNIT.match(part):
            return {"unit": part}
    return {}


def parse_stat(text: str) -> tuple[str, int]:
    """(comm, flags) of a /proc/PID/stat line (comm may hold spaces and parentheses)::

        >>> parse_stat("42 (my (odd) name) S 1 42 42 0 -1 4194560 0 0")
        ('my (odd) name', 4194560)
    """
    head, _, rest = text.rpartition(")")
    comm = head.partition("(")[2]
    fields = rest.split()
    return comm, int(fields[6]) if len(fields) > 6 else 0


def _nsfs_device() -> int:
    return os.stat(f"{proc_root()}/self/ns/net").st_dev


def _files(dirs, nsfs: int) -> dict[int, list[str]]:
    """``{inode: [paths]}`` of the namespace files in ``dirs`` (nsfs files only)."""
    out: dict[int, list[str]] = {}
    for folder in dirs:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            if st.st_dev == nsfs:
                out.setdefault(st.st_ino, []).append(path)
    return out


def _process(root: str, pid: int) -> NetnsProcess | None:
    """A process's name and cgroup (None: gone, or a kernel thread)."""
    try:
        comm, flags = parse_stat(read_text(f"{root}/{pid}/stat"))
    except (OSError, ValueError, IndexError):
        return None
    if flags & PF_KTHREAD:
        return None
    try:
        cgroup = parse_cgroup(read_text(f"{root}/{pid}/cgroup"))
    except OSError:
        cgroup = None
    return NetnsProcess(pid, comm, cgroup)


def discover(cache: dict[int, NetnsProcess | None] | None = None,
             dirs=SCAN_DIRS) -> list[FoundNetns]:
    """Every network namespace of the host (that this process may see), the caller's
    own first, then by inode. ``cache`` (``{pid: NetnsProcess or None}``, kept by the
    caller) spares re-reading the processes seen before; the gone are dropped from it."""
    root = proc_root()
    nsfs = _nsfs_device()
    files = _files(dirs, nsfs)
    own = os.stat(f"{root}/thread-self/ns/net").st_ino
    cache = {} if cache is None else cache
    by_inode: dict[int, list[NetnsProcess]] = {}
    pids = sorted(int(p) for p in os.listdir(root) if p.isdigit())
    for pid in pids:
        try:
            link = os.readlink(f"{root}/{pid}/ns/net")
        except OSError:
            continue  # gone, or not ours to read
        if pid not in cache:
            cache[pid] = _process(root, pid)
        proc = cache[pid]
        if proc is not None and link.startswith("net:["):
            by_inode.setdefault(int(link[5:-1]), []).append(proc)
    alive = set(pids)
    for pid in [p for p in cache if p not in alive]:
        del cache[pid]
    found = []
    for inode in sorted(set(by_inode) | set(files) | {own}, key=lambda i: (i != own, i)):
        paths = files.get(inode, [])
        procs = by_inode.get(inode, [])
        named = [p for p in paths if os.path.dirname(p) == dirs[0]]
        name = os.path.basename(named[0]) if named else None
        if inode == own:
            handle = None
        elif name is not None:
            handle = name
        elif paths:
            handle = paths[0]
        else:
            handle = f"{root}/{procs[0].pid}/ns/net"
        found.append(FoundNetns(inode, handle, name, paths, procs))
    return found
