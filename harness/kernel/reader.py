"""Everything a sample reads from one network namespace, behind one object.

``NamespaceReader(netns)`` holds a sock_diag socket opened in the namespace and reads
/proc/net/sockstat, the Tcp/TcpExt counters and the TCP sysctls inside it, and socket
owners from /proc. The sampler takes a reader as a parameter, so a test can hand it one
that replays recorded dump bytes and a recorded /proc tree (``SOCKLIFE_PROCFS``)
instead of the kernel: its ``scan`` is the only method that touches netlink.
"""

from __future__ import annotations

from harness.kernel.netns import entered, netns_inode
from harness.kernel.netstat import read_tcp_counters
from harness.kernel.owners import socket_owners
from harness.kernel.sockdiag import FAMILIES, SockDiag, count_codes
from harness.kernel.sockstat import read_sockstat
from harness.kernel.sysctls import read_sysctls


class NamespaceReader:
    """Reads of one namespace (None: the caller's own); close() when done."""

    def __init__(self, netns: str | None = None):
        self.netns = netns
        self.inode = netns_inode(netns)  # what /proc/PID/ns/net links read: net:[INODE]
        self.diag = SockDiag(netns)
        self.pids = None  # the namespace's processes, when a host-wide walk found them

    def close(self) -> None:
        self.diag.close()

    def scan(self, consume, states=None, ports=(), families=FAMILIES, reset=None,
             exclude_ports: bool = False, **cgroup) -> bool:
        """A sock_diag dump fed to ``consume`` buffer by buffer (SockDiag.scan;
        ``cgroup_ids=`` where the dump filters by cgroup: kernel.cgroups)."""
        return self.diag.scan(consume, states, ports, families, reset, exclude_ports, **cgroup)

    def count_codes(self, states=None, ports=(), exclude_ports: bool = False,
                    families=FAMILIES) -> tuple[list[int], int, bool]:
        """Sockets per TCP_* code from the raw bytes of ``scan`` (sockdiag.count_codes)."""
        return count_codes(self.scan, states, ports, exclude_ports, families)

    def sockstat(self) -> dict:
        """/proc/net/sockstat and sockstat6 (IPv4 and IPv6 share sockstat's ``tw``; the
        IPv6 sockets in use are sockstat6's TCP6 ``inuse``)."""
        with entered(self.netns):
            return read_sockstat()

    def counters(self) -> dict[str, int]:
        """Tcp and TcpExt counters by name, cumulative."""
        with entered(self.netns):
            return read_tcp_counters()

    def sysctls(self) -> dict:
        return read_sysctls(self.netns)

    def owners(self, inodes) -> dict:
        """``{inode: Owner}``: the processes of this namespace are read first, then, for
        any socket still missing, the others (kernel.owners)."""
        return socket_owners(inodes, netns=self.netns, pids_first=self.pids)
