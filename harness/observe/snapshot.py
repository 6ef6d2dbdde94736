"""One reading of a namespace's TCP sockets as the design.md snapshot JSON.

``take()`` does one sock_diag dump (filtered in the kernel by ``ports``), reads the
counters and sysctls inside the same namespace, and looks up owners only for the
sockets that are shown with one (listeners and CLOSE_WAIT), which keeps it cheap.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter

from harness.kernel.inet_diag import STATES
from harness.kernel.netns import entered
from harness.kernel.netstat import read_tcp_counters
from harness.kernel.owners import socket_owners
from harness.kernel.sockdiag import SockDiag
from harness.kernel.sysctls import read_sysctls
from harness.observe.listeners import listener_rows
from harness.observe.ports import ephemeral_usage

# The kernel counters a snapshot carries ("TW" and friends as nstat names them).
COUNTERS = (
    "ListenOverflows", "ListenDrops", "TW", "TWRecycled", "TWKilled", "ActiveOpens",
    "PassiveOpens", "AttemptFails", "EstabResets", "OutRsts", "RetransSegs",
    "TCPTimeouts", "TCPSynRetrans", "TCPAbortOnTimeout", "TCPAbortOnClose",
    "SyncookiesSent", "TCPReqQFullDrop", "TCPReqQFullDoCookies",
)


def state_counts(records) -> dict[str, int]:
    counts = Counter(r.state for r in records)
    return {name: counts.get(name, 0) for name in STATES}


def close_wait_rows(records, owners) -> list[dict]:
    rows = []
    for r in records:
        if r.state != "CLOSE_WAIT":
            continue
        owner = owners.get(r.inode)
        rows.append({
            "local": r.local, "remote": r.remote,
            "pid": owner.pid if owner else None,
            "process": owner.process if owner else None,
            "fd": owner.fd if owner else None,
            "age_s": None, "cookie": r.cookie,
        })
    return rows


def time_wait_summary(records) -> dict:
    left = sorted(r.expires / 1000 for r in records if r.state == "TIME_WAIT")
    if not left:
        return {"count": 0, "expires_s": {"min": None, "p50": None, "max": None}}
    return {
        "count": len(left),
        "expires_s": {"min": left[0], "p50": statistics.median(left), "max": left[-1]},
    }


def read_counters(netns: str | None) -> dict[str, int]:
    with entered(netns):
        flat = read_tcp_counters()
    return {name: flat[name] for name in COUNTERS if name in flat}


def take(netns: str | None = None, ports=(), owners: bool = True, diag: SockDiag | None = None,
         records=None) -> dict:
    """A snapshot dict; ``diag`` reuses an open reader, ``records`` a dump already made."""
    now = time.time()
    if records is None:
        if diag is None:
            with SockDiag(netns) as own:
                records = own.records(None, ports)
        else:
            records = diag.records(None, ports)
    sysctls = read_sysctls(netns)
    wanted = [r.inode for r in records if r.state in ("LISTEN", "CLOSE_WAIT")]
    owner_map = socket_owners(wanted) if owners else {}
    return {
        "time": round(now, 3),
        "netns": netns,
        "consistent": getattr(records, "consistent", True),
        "states": state_counts(records),
        "listeners": listener_rows(records, owner_map),
        "close_wait": close_wait_rows(records, owner_map),
        "time_wait": time_wait_summary(records),
        "ephemeral": ephemeral_usage(records, sysctls),
        "counters": read_counters(netns),
        "sysctls": sysctls,
    }
