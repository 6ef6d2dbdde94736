"""The run summary (records.Summary): samples folded one at a time, in bounded memory.

``RunSummary.add(sample)`` folds one host's samples as they come (record, the Locust
collector, a file being read); ``merge`` folds another host's run in, and
``summary()`` writes the record: the only place its keys are written. Each run also
folds its samples into an Evidence, and the summary opens with the run's findings
(harness.observe.findings), per host. Over several hosts the worst host gives peaks,
extremes and fills, and counts of events add up. Three figures also keep who is behind
them, for a failed rule to name: the listener at the fill peak (``accept_queue_fullest``),
the destination at the fraction peak (``ephemeral_busiest``) and the CLOSE_WAIT sockets
at the settled peak (``close_wait_held``)::

    >>> a, b = RunSummary(), RunSummary()
    >>> a.add({"time": 1.0, "states": {"TIME_WAIT": 5}})
    >>> b.add({"time": 2.0, "states": {"TIME_WAIT": 9}})
    >>> a.merge(b)
    >>> s = a.summary()
    >>> s["samples"], s["peaks"]["TIME_WAIT"], s["duration_s"]
    (2, 9, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.kernel.tcp_states import STATES
from harness.observe.evidence import Evidence
from harness.observe.figures import (
    busiest_destination,
    fraction_max,
    fullest_listener,
    headroom,
    listener_fill,
)
from harness.observe.findings import over_hosts

KEPT_LEAKS = 1000  # leaked sockets listed per host (all are counted)
LEAK_FIELDS = ("local", "remote", "pid", "process", "fd", "age_s")
KEPT_HELD = 10  # CLOSE_WAIT sockets named at the settled peak


def _socket(row: dict) -> dict:
    """A CLOSE_WAIT row as the summary lists it (records.LeakedSocket)."""
    return {k: row.get(k) for k in LEAK_FIELDS} | {"age_s": row.get("age_s") or 0.0}


def _identity(row: dict):
    """A CLOSE_WAIT socket across samples: its cookie, else its address pair."""
    cookie = row.get("cookie")
    return cookie if cookie is not None else (row.get("local"), row.get("remote"))


@dataclass
class RunSummary:
    """One run's fold (of one host, or merged over several); ``host`` labels its
    findings (the Locust plugin's sampling host; None for a one-host recording)."""

    host: str | None = None
    evidence: Evidence = field(default_factory=Evidence)
    parts: list = field(default_factory=list)  # the runs merged in, for their findings
    samples: int = 0
    started: float | None = None
    ended: float | None = None
    first_counters: dict | None = None
    last_counters: dict | None = None
    overflows_before: int = 0  # ListenOverflows growth of runs merged in
    peaks: dict = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    fill_max: float = 0.0
    fraction_max: float = 0.0
    headroom_min: int | None = None
    leaked: set = field(default_factory=set)
    leak_rows: dict = field(default_factory=dict)  # identity -> LeakedSocket, bounded
    oldest_leak_s: float | None = None
    ever_full: set = field(default_factory=set)
    close_wait_seen: set = field(default_factory=set)
    close_wait_settled_max: int = 0
    fullest: dict | None = None  # records.FullestListener at fill_max
    busiest: dict | None = None  # records.BusiestDestination at fraction_max
    close_wait_held: list = field(default_factory=list)  # at close_wait_settled_max
    first_close_wait: list = field(default_factory=list)  # of the first sample
    missed: int = 0
    cpu_first: tuple | None = None  # (time, cpu_s) of the first sample with a cost
    cpu_share: float | None = None
    rss_max: int | None = None

    def add(self, sample: dict) -> None:
        self.evidence.add(sample)
        self.samples += 1
        t = sample.get("time")
        if t is not None:
            self.started = t if self.started is None else min(self.started, t)
            self.ended = t if self.ended is None else max(self.ended, t)
        counters = sample.get("counters") or {}
        self.first_counters = self.first_counters or counters
        self.last_counters = counters
        for name, n in (sample.get("states") or {}).items():
            if n > self.peaks.get(name, 0):
                self.peaks[name] = n
        top = fullest_listener(sample)
        if top is not None and (self.fullest is None or listener_fill(top) > self.fill_max):
            self.fullest = {"local": top["local"], "fill": round(listener_fill(top), 4),
                            "pid": top.get("pid"), "process": top.get("process")}
        for row in sample.get("listeners", ()):
            fill = listener_fill(row)
            self.fill_max = max(self.fill_max, fill)
            if fill >= 1.0 or row.get("ever_full"):
                self.ever_full.add(row["local"])
        dest = busiest_destination(sample)
        if dest is not None and (self.busiest is None or dest["fraction"] > self.fraction_max):
            self.busiest = {k: dest[k] for k in ("remote", "in_use", "fraction")}
        self.fraction_max = max(self.fraction_max, fraction_max(sample))
        room = headroom(sample)
        if room is not None:
            self.headroom_min = room if self.headroom_min is None else min(self.headroom_min,
                                                                             room)
        rows = sample.get("close_wait", ())
        for row in rows:
            if row.get("leak"):
                self._leak(row)
        cookies = {_identity(row) for row in rows}
        settled = cookies & self.close_wait_seen
        if settled and len(settled) >= self.close_wait_settled_max:  # later: owners known
            self.close_wait_held = [_socket(row) for row in rows
                                    if _identity(row) in settled][:KEPT_HELD]
        self.close_wait_settled_max = max(self.close_wait_settled_max, len(settled))
        if self.samples == 1:  # kept in case no other sample comes (see summary)
            self.first_close_wait = [_socket(row) for row in rows][:KEPT_HELD]
        self.close_wait_seen = cookies
        self._cost(t, sample.get("sampler"))

    def _leak(self, row: dict) -> None:
        key = _identity(row)
        self.leaked.add(key)
        entry = _socket(row)
        self.oldest_leak_s = max(self.oldest_leak_s or 0.0, entry["age_s"])
        if key in self.leak_rows or len(self.leak_rows) < KEPT_LEAKS:
            self.leak_rows[key] = entry

    def _cost(self, t: float | None, cost: dict | None) -> None:
        if not cost or t is None:
            return
        self.rss_max = max(self.rss_max or 0, cost["rss_bytes"])
        self.missed = max(self.missed, cost.get("missed", 0))  # cumulative in the run
        if self.cpu_first is None:
            self.cpu_first = (t, cost["cpu_s"])
        elif t > self.cpu_first[0]:
            self.cpu_share = round((cost["cpu_s"] - self.cpu_first[1])
                                   / (t - self.cpu_first[0]), 4)

    def listen_overflows(self) -> int:
        """ListenOverflows growth during the run (first to last sample of each host)."""
        if not self.first_counters:
            return self.overflows_before
        return self.overflows_before + max(0, self.last_counters.get("ListenOverflows", 0)
                                           - self.first_counters.get("ListenOverflows", 0))

    def merge(self, other: RunSummary) -> None:
        """Fold another host's run into this one."""
        self.parts.append(other)
        self.overflows_before = self.listen_overflows() + other.listen_overflows()
        self.first_counters = self.last_counters = None
        self.samples += other.samples
        starts = [t for t in (self.started, other.started) if t is not None]
        ends = [t for t in (self.ended, other.ended) if t is not None]
        self.started, self.ended = min(starts, default=None), max(ends, default=None)
        for name, n in other.peaks.items():
            self.peaks[name] = max(self.peaks.get(name, 0), n)
        if other.fullest is not None and (self.fullest is None or other.fill_max > self.fill_max):
            self.fullest = other.fullest
        if other.busiest is not None and (self.busiest is None
                                          or other.fraction_max > self.fraction_max):
            self.busiest = other.busiest
        if other.close_wait_settled_max > self.close_wait_settled_max:
            self.close_wait_held = list(other.close_wait_held)
        self.fill_max = max(self.fill_max, other.fill_max)
        self.fraction_max = max(self.fraction_max, other.fraction_max)
        rooms = [r for r in (self.headroom_min, other.headroom_min) if r is not None]
        self.headroom_min = min(rooms, default=None)
        self.leaked |= {(id(other), k) for k in other.leaked}  # hosts never share a socket
        for key, row in other.leak_rows.items():
            self.leak_rows[(id(other), key)] = row
        olds = [a for a in (self.oldest_leak_s, other.oldest_leak_s) if a is not None]
        self.oldest_leak_s = max(olds, default=None)
        self.ever_full |= other.ever_full
        self.close_wait_settled_max = max(self.close_wait_settled_max,
                                          other.close_wait_settled_max)
        self.missed += other.missed  # kept per host until merged
        shares = [s for s in (self.cpu_share, other.cpu_share) if s is not None]
        self.cpu_share = max(shares, default=None)
        rss = [r for r in (self.rss_max, other.rss_max) if r is not None]
        self.rss_max = max(rss, default=None)

    def host_evidence(self) -> list[tuple[str | None, Evidence]]:
        """(host, Evidence) of this run and of each run merged into it."""
        own = [(self.host, self.evidence)] if self.evidence.samples else []
        return own + [pair for part in self.parts for pair in part.host_evidence()]

    def findings(self, eaddrnotavail: int = 0) -> list[dict]:
        """The run's records.Finding list, critical first, each host's own."""
        return over_hosts(self.host_evidence(), eaddrnotavail)

    def summary(self, eaddrnotavail: int = 0) -> dict:
        """The records.Summary of the run."""
        leaks = sorted(self.leak_rows.values(), key=lambda r: -r["age_s"])
        # a run of one sample has no later one to tell a closing socket by: all are held
        settled, held = self.close_wait_settled_max, list(self.close_wait_held)
        if self.samples == 1:
            settled, held = self.peaks.get("CLOSE_WAIT", 0), list(self.first_close_wait)
        return {
            "findings": self.findings(eaddrnotavail),
            "samples": self.samples,
            "duration_s": round((self.ended or 0) - (self.started or 0), 3),
            "started": self.started, "ended": self.ended,
            "peaks": dict(self.peaks),
            "leaks": {"count": len(self.leaked), "oldest_s": self.oldest_leak_s,
                      "sockets": leaks},
            "listen_overflows": self.listen_overflows(),
            "listeners_ever_full": sorted(self.ever_full),
            "eaddrnotavail": eaddrnotavail,
            "ephemeral_fraction_max": self.fraction_max,
            "ephemeral_headroom_min": self.headroom_min,
            "accept_queue_fill_max": self.fill_max,
            "time_wait_peak": self.peaks.get("TIME_WAIT", 0),
            "close_wait_settled_max": settled,
            "accept_queue_fullest": self.fullest,
            "ephemeral_busiest": self.busiest,
            "close_wait_held": held,
            "samples_missed": self.missed,
            "sampler_cpu_share": self.cpu_share,
            "sampler_rss_bytes": self.rss_max,
        }


def combine(runs: list[RunSummary]) -> RunSummary:
    """One fold over several hosts' runs (the runs themselves are left as they were)."""
    total = RunSummary()
    for run in runs:
        total.merge(run)
    return total
