"""Listening sockets: accept queue against backlog, and the SYN queue (request sockets).

For a LISTEN socket inet_diag reports the accept-queue length in ``idiag_rqueue`` and the
effective backlog in ``idiag_wqueue``; the queue holds backlog + 1 connections before
the kernel drops SYNs (ListenOverflows). Request sockets (SYN_RECV) carry the local
address the SYN was sent to, so a wildcard listener owns those of any address.
"""

from __future__ import annotations

from collections import Counter

WILDCARDS = ("0.0.0.0", "::")


def queue_fill(accept_queue: int, backlog: int) -> float:
    """accept_queue / (backlog + 1): the queue holds backlog + 1 before SYNs are dropped.

    >>> queue_fill(6, 5)
    1.0
    """
    return accept_queue / (backlog + 1)


def syn_recv_by_port(records) -> Counter:
    """``{(local ip, port): n}`` of SYN_RECV sockets."""
    return Counter((r.src, r.sport) for r in records if r.state == "SYN_RECV")


def listener_rows(records, owners) -> list[dict]:
    """One dict per LISTEN socket, fullest queue first (records.Listener)."""
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
        row = {
            "local": r.local,
            "accept_queue": r.rqueue,
            "backlog": r.wqueue,
            "syn_recv": pending,
            "pid": owner.pid if owner else None,
            "process": owner.process if owner else None,
        }
        if owner:
            row.update(cmdline=owner.cmdline, user=owner.user)
        rows.append(row)
    rows.sort(key=lambda row: (-queue_fill(row["accept_queue"], row["backlog"]), row["local"]))
    return rows


def flag_listeners(rows: list[dict], overflows_per_s: float | None, ever_full: set[str]) -> None:
    """Add fill, full, overflows_per_s and ever_full to ``rows`` in place.

    fill = accept_queue / (backlog + 1): 1.0 when the queue is full and SYNs are dropped.
    ListenOverflows is one counter per namespace, so its rate is given to every listener
    (there is rarely more than one full at a time); ``ever_full`` collects the ``local``
    of each listener seen full during the run.
    """
    for row in rows:
        row["fill"] = round(queue_fill(row["accept_queue"], row["backlog"]), 4)
        row["full"] = row["accept_queue"] > row["backlog"]
        row["overflows_per_s"] = overflows_per_s
        if row["full"]:
            ever_full.add(row["local"])
        row["ever_full"] = row["local"] in ever_full
