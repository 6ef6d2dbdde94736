"""A full listing of sockets, as ``ss -tanp -o`` gives it: state, queues, addresses,
owning process, timer with its expiry and retransmissions (``snapshot --sockets``).

States are filtered in the kernel (the dump's state mask), ports too (bytecode);
``pid`` keeps the sockets held by that process and its descendants (kernel.proctree:
their fds only are read), in the namespace of that process unless one is named. A
TIME_WAIT socket has no owner (the kernel keeps only a minisocket): ``pid`` never
selects one.

The timer names are ss's (``idiag_timer`` 1 "on": retransmission, 2 "keepalive",
3 "timewait", 4 "persist": zero-window probe)::

    >>> from harness.kernel.inet_diag import SocketRecord
    >>> timer(SocketRecord(2, "ESTABLISHED", timer=2, expires=7250, retrans=1))
    {'name': 'keepalive', 'expires_s': 7.25, 'retrans': 1}
    >>> timer(SocketRecord(2, "LISTEN")) is None
    True
"""

from __future__ import annotations

import time

from harness.kernel import sockdiag
from harness.kernel.cgroups import CgroupPaths, available, cgroup_path
from harness.kernel.netns import netns_inode
from harness.kernel.owners import owned_by, socket_owners
from harness.kernel.proctree import process_tree
from harness.schema.version import SCHEMA

TIMER_NAMES = {1: "on", 2: "keepalive", 3: "timewait", 4: "persist"}


def timer(r) -> dict | None:
    """records.SocketTimer of a record, or None (no timer pending)."""
    name = TIMER_NAMES.get(r.timer)
    if name is None:
        return None
    return {"name": name, "expires_s": round(r.expires / 1000, 3), "retrans": r.retrans}


def socket_row(r, owner, cgroups: CgroupPaths | None = None) -> dict:
    """records.ListedSocket of a SocketRecord and its Owner (or None); ``cgroup`` when
    the record carries its cgroup id (a dump that decodes INET_DIAG_CGROUP_ID)."""
    row = {"state": r.state, "recv_q": r.rqueue, "send_q": r.wqueue, "local": r.local,
           "remote": r.remote, "pid": owner.pid if owner else None,
           "process": owner.process if owner else None, "fd": owner.fd if owner else None,
           "timer": timer(r)}
    path = cgroup_path(r, cgroups)
    if path is not None:
        row["cgroup"] = path
    return row


def listing(netns: str | None = None, states=None, ports=(), pid: int | None = None,
            cgroup_ids=()) -> dict:
    """records.SocketListing of ``netns`` (None: this one, or process ``pid``'s);
    ``cgroup_ids``: only the sockets of those cgroups (filtered in the kernel)."""
    if pid is not None and netns is None:
        netns = f"pid:{pid}"
    now = time.time()
    records = sockdiag.dump(netns, states=states, ports=ports, cgroup=True,
                            cgroup_ids=tuple(cgroup_ids))
    cgroups = available()  # None where no cgroup v2 is mounted: no cgroup column
    if pid is not None:
        owners = owned_by(process_tree(pid))
        kept = [r for r in records if r.inode in owners]
    else:
        kept = list(records)
        owners = socket_owners([r.inode for r in kept if r.inode], netns=netns)
    return {"schema": SCHEMA, "time": round(now, 3), "netns": netns,
            "netns_inode": netns_inode(netns), "states_asked": list(states or []) or None,
            "ports": list(ports), "pid": pid, "consistent": records.consistent,
            "count": len(kept),
            "sockets": [socket_row(r, owners.get(r.inode) if r.inode else None, cgroups)
                        for r in kept]}
