"""Listening sockets: accept queue against backlog, and the SYN queue (request sockets).

For a LISTEN socket inet_diag reports the accept-queue length in ``idiag_rqueue`` and the
effective backlog in ``idiag_wqueue``; the queue holds backlog + 1 connections before
the kernel drops SYNs (ListenOverflows). Request sockets (SYN_RECV) carry the local
address the SYN was sent to, so a wildcard listener owns those of any address.
"""

from __future__ import annotations

from collections import Counter

WILDCARDS = ("0.0.0.0", "::")


def syn_recv_by_port(records) -> Counter:
    """``{(local ip, port): n}`` of SYN_RECV sockets."""
    return Counter((r.src, r.sport) for r in records if r.state == "SYN_RECV")


def listener_rows(records, owners) -> list[dict]:
    """One dict per LISTEN socket, fullest queue first (design.md ``listeners``)."""
    syn = syn_recv_by_port(records)
    rows = []
    for r in records:
        if r.state != "LISTEN":
            continue
        if r.src in WILDCARDS:
            pending = sum(n for (_ip, port), n in syn.items() if port == r.sport)
        else:
            pending = syn.get((r.src, r.sport), 0)
        owner = owners.get(r.inode)
        rows.append({
            "local": r.local,
            "accept_queue": r.rqueue,
            "backlog": r.wqueue,
            "syn_recv": pending,
            "pid": owner.pid if owner else None,
            "process": owner.process if owner else None,
        })
    rows.sort(key=lambda row: (-row["accept_queue"] / (row["backlog"] + 1), row["local"]))
    return rows
