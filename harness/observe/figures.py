"""Figures derived from one sample (records.Sample), each computed here once for every
reader: the run summary, the CSV, the web UI, the exporter, the findings.

    >>> s = {"ephemeral": {"usable": 100, "by_destination": [
    ...     {"remote": "10.0.0.1:80", "in_use": 40, "fraction": 0.4, "exhausted_in_s": None},
    ...     {"remote": "10.0.0.2:80", "in_use": 10, "fraction": 0.1, "exhausted_in_s": 9.0}]}}
    >>> headroom(s), fraction_max(s), soonest_exhaustion(s)
    (60, 0.4, 9.0)
"""

from __future__ import annotations

from harness.observe.listeners import queue_fill


def _destinations(sample: dict) -> list[dict]:
    return (sample.get("ephemeral") or {}).get("by_destination") or []


def headroom(sample: dict) -> int | None:
    """Usable ephemeral ports left for the busiest destination (None: none in use)."""
    dests = _destinations(sample)
    usable = (sample.get("ephemeral") or {}).get("usable")
    if not dests or not usable:
        return None
    return usable - max(d["in_use"] for d in dests)


def fraction_max(sample: dict) -> float:
    """The highest share of the usable range held towards one destination."""
    return max((d["fraction"] for d in _destinations(sample)), default=0.0)


def busiest_destination(sample: dict) -> dict | None:
    """The destination holding the highest share of the usable range (None: none)."""
    return max(_destinations(sample), key=lambda d: d["fraction"], default=None)


def soonest_exhaustion(sample: dict) -> float | None:
    """The soonest forecast exhaustion of a destination's ports, in seconds."""
    times = [d["exhausted_in_s"] for d in _destinations(sample)
             if d.get("exhausted_in_s") is not None]
    return min(times, default=None)


def leak_count(sample: dict) -> int:
    return int((sample.get("leaks") or {}).get("count", 0))


def listener_fill(row: dict) -> float:
    """Accept-queue fill: the queue holds backlog + 1 before the kernel drops SYNs
    (a row written before ``fill`` was recorded is computed the same way)."""
    if "fill" in row:
        return float(row["fill"])
    return queue_fill(row["accept_queue"], row["backlog"])


def fullest_listener(sample: dict) -> dict | None:
    return max(sample.get("listeners") or [], key=listener_fill, default=None)
