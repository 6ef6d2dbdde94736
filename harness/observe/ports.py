"""Ephemeral ports in use, per destination, against the usable range.

A client socket holds a local port from ``ip_local_port_range`` (less the reserved
ports) until it leaves TIME_WAIT; connect() needs a port that is free *for that
destination*, so headroom is counted per remote ip:port. Sockets whose local port is a
listening port are the server side of a connection and hold no ephemeral port.
"""

from __future__ import annotations

from collections import Counter

from harness.kernel.sysctls import usable_ports


def ephemeral_usage(records, sysctls: dict) -> dict:
    """design.md ``ephemeral``: range, in_use, and per destination in_use and fraction."""
    lo, hi = sysctls.get("ip_local_port_range", [32768, 60999])
    usable = usable_ports([lo, hi], sysctls.get("ip_local_reserved_ports", []))
    listening = {r.sport for r in records if r.state == "LISTEN"}
    ports: set[int] = set()
    per_dest: Counter = Counter()
    for r in records:
        if r.state in ("LISTEN", "SYN_RECV") or not lo <= r.sport <= hi:
            continue
        if r.sport in listening:
            continue
        ports.add(r.sport)
        per_dest[r.remote] += 1
    return {
        "range": [lo, hi],
        "usable": usable,
        "in_use": len(ports),
        "by_destination": [
            {"remote": remote, "in_use": n, "fraction": round(n / usable, 6) if usable else 1.0,
             "exhausted_in_s": None}
            for remote, n in per_dest.most_common()
        ],
    }
