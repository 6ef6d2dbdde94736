"""Samples from every sampling host: latest per host, totals, the run summary, the checks.

The collector lives where the results go (the master, or the single process of a local
run). Each host (host name + namespace) sends its own samples, so a total is the sum of
each host's latest sample: a host is counted once however many workers it runs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from harness.kernel.inet_diag import STATES

SERIES_LEN = 900  # points kept for the chart page


def listener_fill(row: dict) -> float:
    """Accept-queue fill: the queue holds backlog + 1 before the kernel drops SYNs."""
    if "fill" in row:
        return float(row["fill"])
    return row["accept_queue"] / (row["backlog"] + 1)


def headroom(sample: dict) -> int | None:
    """Ephemeral ports left for the busiest destination (None when nothing is in use)."""
    eph = sample.get("ephemeral") or {}
    dests = eph.get("by_destination") or []
    if not dests or not eph.get("usable"):
        return None
    return eph["usable"] - max(d["in_use"] for d in dests)


def fraction_max(sample: dict) -> float:
    dests = (sample.get("ephemeral") or {}).get("by_destination") or []
    return max((d["fraction"] for d in dests), default=0.0)


def exhausted_in(sample: dict) -> float | None:
    """The soonest forecast exhaustion of a destination's ports, in seconds (or None)."""
    dests = (sample.get("ephemeral") or {}).get("by_destination") or []
    times = [d["exhausted_in_s"] for d in dests if d.get("exhausted_in_s") is not None]
    return min(times, default=None)


def leak_count(sample: dict) -> int:
    return int((sample.get("leaks") or {}).get("count", 0))


@dataclass
class HostRun:
    """One host's samples: the latest, and what the run summary needs."""

    label: str
    samples: int = 0
    first: dict | None = None
    latest: dict | None = None
    peaks: dict = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    fill_max: float = 0.0
    fraction_max: float = 0.0
    headroom_min: int | None = None
    leaks_max: int = 0
    ever_full: set = field(default_factory=set)
    close_wait_seen: set = field(default_factory=set)
    close_wait_settled_max: int = 0

    def add(self, sample: dict) -> None:
        self.samples += 1
        self.first = self.first or sample
        self.latest = sample
        for name, n in sample["states"].items():
            if n > self.peaks.get(name, 0):
                self.peaks[name] = n
        for row in sample.get("listeners", ()):
            fill = listener_fill(row)
            self.fill_max = max(self.fill_max, fill)
            if fill >= 1.0 or row.get("ever_full"):
                self.ever_full.add(row["local"])
        self.fraction_max = max(self.fraction_max, fraction_max(sample))
        room = headroom(sample)
        if room is not None:
            self.headroom_min = room if self.headroom_min is None else min(self.headroom_min,
                                                                             room)
        self.leaks_max = max(self.leaks_max, leak_count(sample))
        # CLOSE_WAIT that outlived a sample interval: a close that did not come, not one
        # the application was about to make (those last microseconds)
        cookies = {row["cookie"] for row in sample.get("close_wait", ())}
        settled = len(cookies & self.close_wait_seen)
        self.close_wait_settled_max = max(self.close_wait_settled_max, settled)
        self.close_wait_seen = cookies

    def listen_overflows(self) -> int:
        if not self.first:
            return 0
        end = self.latest["counters"].get("ListenOverflows", 0)
        return end - self.first["counters"].get("ListenOverflows", 0)


class Collector:
    """Per-host runs plus a total series; ``on_sample`` is called for each added sample."""

    def __init__(self):
        self.hosts: dict[str, HostRun] = {}
        self.series: deque = deque(maxlen=SERIES_LEN)
        self.eaddrnotavail = 0
        self.started: float | None = None
        self.ended: float | None = None

    def add(self, key: str, label: str, sample: dict) -> None:
        run = self.hosts.get(key)
        if run is None:
            run = self.hosts[key] = HostRun(label)
        run.add(sample)
        t = sample["time"]
        self.started = t if self.started is None else min(self.started, t)
        self.ended = t if self.ended is None else max(self.ended, t)
        self.series.append((t, self.total_states()))

    def total_states(self) -> dict[str, int]:
        """Each host's latest sample, summed: no host counted twice."""
        total = dict.fromkeys(STATES, 0)
        for run in self.hosts.values():
            for name, n in run.latest["states"].items():
                total[name] = total.get(name, 0) + n
        return total

    def host_lines(self) -> list[str]:
        """One line per sampling host for the end of a run (who sampled, what it saw)."""
        lines = []
        for run in self.hosts.values():
            busy = ", ".join(f"{name} {n}" for name, n in run.peaks.items()
                             if n and name != "LISTEN")
            lines.append(f"socklife: {run.label}: {run.samples} samples; peaks {busy or 'none'}")
        return lines

    def summary(self) -> dict:
        """The run summary (record_format.md ``summary``), over all hosts."""
        runs = list(self.hosts.values())
        peaks = {name: max((r.peaks.get(name, 0) for r in runs), default=0) for name in STATES}
        rooms = [r.headroom_min for r in runs if r.headroom_min is not None]
        return {
            "samples": sum(r.samples for r in runs),
            "hosts": {r.label: r.samples for r in runs},
            "duration_s": round((self.ended or 0) - (self.started or 0), 3),
            "started": self.started, "ended": self.ended,
            "peaks": peaks,
            "leaks": {"count": sum(r.leaks_max for r in runs)},
            "listen_overflows": sum(r.listen_overflows() for r in runs),
            "listeners_ever_full": sorted(set().union(*(r.ever_full for r in runs))),
            "eaddrnotavail": self.eaddrnotavail,
            "ephemeral_fraction_max": max((r.fraction_max for r in runs), default=0.0),
            "ephemeral_headroom_min": min(rooms) if rooms else None,
            "accept_queue_fill_max": max((r.fill_max for r in runs), default=0.0),
            "time_wait_peak": peaks.get("TIME_WAIT", 0),
            "close_wait_settled_max": max((r.close_wait_settled_max for r in runs), default=0),
        }


def observed(rule_name: str, summary: dict) -> float:
    """The value a ``--socklife-max`` rule is checked against.

    A state is checked against its peak count, except CLOSE_WAIT: there the peak of the
    sockets still in CLOSE_WAIT one sample later counts, as a socket whose application
    is just about to close() is not a leak.
    """
    if rule_name == "CLOSE_WAIT":
        return summary["close_wait_settled_max"]
    if rule_name in STATES:
        return summary["peaks"].get(rule_name, 0)
    if rule_name == "leaks":
        return summary["leaks"]["count"]
    if rule_name == "ephemeral_fraction":
        return summary["ephemeral_fraction_max"]
    return summary[rule_name]  # listen_overflows, eaddrnotavail


def failed_checks(rules, summary: dict) -> list[str]:
    """One ``CHECK FAILED: <rule> observed <value>`` line per violated rule."""
    lines = []
    for rule in rules:
        value = observed(rule.name, summary)
        if value > rule.limit:
            shown = round(value, 4) if isinstance(value, float) else value
            lines.append(f"CHECK FAILED: {rule} observed {shown}")
    return lines
