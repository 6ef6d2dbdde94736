"""Socket owners: inode -> (pid, fd, process, cmdline, user), read from /proc/PID/fd links.

A link reads ``socket:[12345]``, a namespace link ``net:[4026531840]``::

    >>> parse_socket_link("socket:[12345]")
    12345
    >>> parse_socket_link("pipe:[12345]") is None
    True

This walk is what makes ``ss -p`` slow: a host with 2,000 processes and 100,000 fds
means 100,000 readlinks. ``socket_owners`` keeps it to the processes that can hold the
sockets asked about, and stops once every one is found:

- given ``netns`` (the namespace the inodes were dumped from: a name, or None for the
  calling thread's), it reads first only the processes living there (their
  ``/proc/PID/ns/net`` is that namespace: one readlink each). Only when some inode is
  still unfound are the other processes read: that is the exception, and it costs the
  whole walk. It happens for a socket held by a process outside the socket's namespace
  (made by a thread that entered the namespace for a moment, as socklife's own
  servers, clients and Locust users do with netns.entered, or passed over a unix
  socket), and for a socket with no holder left (closed between the dump and the
  lookup, or a kernel socket). Nothing is missed, the exception is only slower; a
  caller that keeps ``cache`` (or caches per socket, as the sampler does) pays it once
  per socket;
- without ``netns`` every process is read, in pid order;
- ``cache`` (a dict the caller keeps, ``{inode: Owner}``): an owner found earlier is
  returned after one readlink shows its pid still holds the inode at that fd, and what
  is found is added to it. The caller drops the inodes that are gone.

The lowest pid wins a socket several processes hold (a forked server's listener): the
lowest of the socket's namespace when one holds it there. Processes we may not inspect
are skipped. Each owner's command line (``cmdline``, at most CMDLINE_MAX characters)
and user name come from psutil, read only for the processes found to hold a socket.
Socket inodes are unique machine wide, so the map is valid whatever the namespace.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

from harness.kernel.netns import netns_inode
from harness.kernel.procfs import proc_root, read_text

CMDLINE_MAX = 200  # characters of an owner's command line kept (a JVM's runs to kilobytes)
ANY_NETNS = object()  # socket_owners' default: the namespace is not known, read everyone


class Owner(NamedTuple):
    pid: int
    fd: int
    process: str  # /proc/PID/comm: the name `ss -p` and `top` show (15 characters at most)
    cmdline: str | None = None  # arguments joined by spaces, cut to CMDLINE_MAX
    user: str | None = None  # the name of the process's real uid (the uid when it has none)


def parse_socket_link(target: str) -> int | None:
    if target.startswith("socket:[") and target.endswith("]"):
        return int(target[8:-1])
    return None


def short_cmdline(args: list[str], limit: int = CMDLINE_MAX) -> str:
    """``args`` joined by spaces on one printable line of at most ``limit`` characters.

    >>> short_cmdline(["nginx:", "worker", "process"])
    'nginx: worker process'
    >>> short_cmdline(["java", "-cp", "x" * 300], limit=16)
    'java -cp xxxxxx…'
    >>> short_cmdline(["sh", "-c", "a\\nb"])
    'sh -c a?b'
    """
    text = " ".join(args)
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _namespace_link(netns) -> str:
    """``net:[INODE]`` of ``netns`` as /proc/PID/ns/net links read."""
    if netns is None:
        return os.readlink(f"{proc_root()}/thread-self/ns/net")
    return f"net:[{netns_inode(netns)}]"


class _Proc:
    """The /proc links of processes, read relative to one open /proc (``dir_fd``): a
    third less time per readlink than a full path, at 100,000 of them."""

    def __init__(self, root: str):
        self.root = root
        self.fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.fd)

    def pids(self) -> list[int]:
        return sorted(int(p) for p in os.listdir(self.fd) if p.isdigit())

    def netns(self, pid: int) -> str | None:
        try:
            return os.readlink(f"{pid}/ns/net", dir_fd=self.fd)
        except OSError:
            return None  # gone, or not ours to read (nor would its fds be)

    def holds(self, owner: Owner, inode: int) -> bool:
        try:
            return os.readlink(f"{owner.pid}/fd/{owner.fd}", dir_fd=self.fd) == f"socket:[{inode}]"
        except OSError:
            return False

    def read_fds(self, pid: int, wanted: set[int] | None, found: dict[int, tuple]) -> None:
        """Add ``{inode: (pid, fd)}`` for the sockets ``pid`` holds (of ``wanted``,
        unless None) that are not in ``found`` yet; a lower fd wins within the process."""
        fd_dir = f"{pid}/fd"
        try:
            fds = os.listdir(os.path.join(self.root, fd_dir))
        except OSError:
            return
        prefix, readlink, at = fd_dir + "/", os.readlink, self.fd
        for fd in sorted(fds, key=int):
            try:
                inode = parse_socket_link(readlink(prefix + fd, dir_fd=at))
            except OSError:
                continue
            if inode is None or inode in found or (wanted is not None and inode not in wanted):
                continue
            found[inode] = (pid, int(fd))


def _details(root: str, pids: set[int]) -> dict[int, tuple[str, str | None, str | None]]:
    """``{pid: (comm, cmdline, user)}``; a process gone meanwhile keeps what is known."""
    if not pids:
        return {}  # nothing found: psutil is not even imported (~20 ms of a start-up)
    import psutil

    saved = psutil.PROCFS_PATH
    psutil.PROCFS_PATH = root  # a recorded tree (SOCKLIFE_PROCFS), as the fd links are
    try:
        return {pid: _one_process(psutil, root, pid) for pid in pids}
    finally:
        psutil.PROCFS_PATH = saved


def _one_process(psutil, root: str, pid: int) -> tuple[str, str | None, str | None]:
    try:
        comm = read_text(f"{root}/{pid}/comm").strip()
    except OSError:
        comm = "?"
    cmdline = user = None
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            cmdline = short_cmdline(proc.cmdline())
            user = proc.username()
    except psutil.Error:  # exited, a zombie, or not ours to read
        pass
    return comm, cmdline, user


def _walk(proc: _Proc, wanted: set[int] | None, netns,
          pids_first=None) -> dict[int, tuple[int, int]]:
    """``{inode: (pid, fd)}``: the processes of ``netns`` first (``pids_first`` when the
    caller knows them), the others after (all in pid order), until every wanted inode
    is found."""
    pids = proc.pids()
    first, later = pids, []
    if pids_first is not None:
        chosen = set(pids_first)
        first = [p for p in pids if p in chosen]
        later = [p for p in pids if p not in chosen]
    elif netns is not ANY_NETNS:
        home = _namespace_link(netns)
        first = []
        for pid in pids:
            (first if proc.netns(pid) == home else later).append(pid)
    found: dict[int, tuple[int, int]] = {}
    for pid in first + later:
        proc.read_fds(pid, wanted, found)
        if wanted is not None and len(found) == len(wanted):
            break
    return found


def socket_owners(inodes: Iterable[int] | None = None, netns=ANY_NETNS,
                  cache: dict[int, Owner] | None = None,
                  pids_first=None) -> dict[int, Owner]:
    """Owners of ``inodes`` (None: of every socket of every process); see the module
    docstring for ``netns`` and ``cache``. ``pids_first``: the processes of ``netns``,
    when the caller already knows them (a host-wide sampler walks /proc once for every
    namespace: kernel.namespaces), read first without a readlink of each process's
    namespace."""
    wanted = None if inodes is None else {i for i in inodes if i}
    if wanted is not None and not wanted:
        return {}
    root = proc_root()
    proc = _Proc(root)
    try:
        out = {}
        if cache is not None and wanted is not None:
            for inode in wanted & cache.keys():
                if proc.holds(cache[inode], inode):
                    out[inode] = cache[inode]
                else:
                    del cache[inode]
            wanted -= out.keys()
            if not wanted:
                return out
        found = _walk(proc, wanted, netns, pids_first)
    finally:
        proc.close()
    details = _details(root, {pid for pid, _fd in found.values()})
    for inode, (pid, fd) in found.items():
        out[inode] = Owner(pid, fd, *details[pid])
    if cache is not None:
        cache.update(out)
    return out


def owned_by(pids: Iterable[int]) -> dict[int, Owner]:
    """``{inode: Owner}`` of every socket the processes ``pids`` hold (a process tree's:
    kernel.proctree), their fds only; the lowest pid wins a socket several hold."""
    root = proc_root()
    proc = _Proc(root)
    found: dict[int, tuple[int, int]] = {}
    try:
        for pid in sorted(pids):
            proc.read_fds(pid, None, found)
    finally:
        proc.close()
    details = _details(root, {pid for pid, _fd in found.values()})
    return {inode: Owner(pid, fd, *details[pid]) for inode, (pid, fd) in found.items()}
