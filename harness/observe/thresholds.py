"""Rules over a run: ``NAME=N`` limits checked against a run summary.

A summary (record_format: the ``{"summary": ...}`` line of a record, or one built from
samples with ``RunSummary``) holds each state's peak and the run-level figures. A rule
names one of them::

    >>> rule = parse_rule("TIME_WAIT=1000")
    >>> evaluate([rule], {"peaks": {"TIME_WAIT": 1200}})[0].passed
    False

Names: every TCP state (its peak count over the run; for CLOSE_WAIT, the peak of
sockets still in CLOSE_WAIT one sample later, when the run has it, so a socket whose
application was about to close() is not counted), ``leaks``, ``listen_overflows``,
``eaddrnotavail``, ``ephemeral_fraction``, ``accept_queue_fill``, ``time_wait_peak``.

Live use (the Locust plugin): fold each sample into a ``RunSummary`` as it arrives and
evaluate the rules over ``RunSummary.summary()`` at the end; ``combine`` merges the
summaries of several sampling hosts into one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.kernel.inet_diag import STATES

NAMES = (*STATES, "leaks", "listen_overflows", "eaddrnotavail", "ephemeral_fraction",
         "accept_queue_fill", "time_wait_peak")


@dataclass(frozen=True)
class Rule:
    """``NAME=N`` with ``kind`` "max" (observed must be <= N) or "min" (>= N)."""

    name: str
    limit: float
    kind: str = "max"

    def __str__(self) -> str:
        limit = int(self.limit) if float(self.limit).is_integer() else self.limit
        return f"{self.name}={limit}"

    def allows(self, value: float) -> bool:
        return value <= self.limit if self.kind == "max" else value >= self.limit


def parse_rule(text: str, kind: str = "max") -> Rule:
    """``"CLOSE_WAIT=0"`` -> Rule; ValueError with a one-line reason otherwise."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError(f"expected NAME=N, got {text!r}")
    if name not in NAMES:
        raise ValueError(f"unknown name {name!r} in {text!r} (one of {', '.join(NAMES)})")
    try:
        limit = float(value)
    except ValueError:
        raise ValueError(f"bad number in {text!r}") from None
    if limit < 0 or limit != limit:
        raise ValueError(f"bad limit in {text!r}")
    return Rule(name, limit, kind)


def observed(name: str, summary: dict) -> float:
    """The value of ``name`` in a run summary (0 where the run did not record it)."""
    if name == "CLOSE_WAIT" and "close_wait_settled_max" in summary:
        return summary["close_wait_settled_max"]
    if name in STATES:
        return (summary.get("peaks") or {}).get(name, 0)
    if name == "leaks":
        return (summary.get("leaks") or {}).get("count", 0)
    if name == "ephemeral_fraction":
        return summary.get("ephemeral_fraction_max", 0.0)
    if name == "accept_queue_fill":
        return summary.get("accept_queue_fill_max", 0.0)
    if name == "time_wait_peak":
        return summary.get("time_wait_peak", (summary.get("peaks") or {}).get("TIME_WAIT", 0))
    return summary.get(name, 0) or 0  # listen_overflows, eaddrnotavail


@dataclass(frozen=True)
class Verdict:
    """One rule over one run: ``observed`` against ``limit``, ``passed`` or not."""

    rule: Rule
    observed: float
    source: str = ""  # "baseline " for rules derived from a baseline

    @property
    def label(self) -> str:
        return f"{self.source}{self.rule.name}"

    @property
    def limit(self) -> float:
        return self.rule.limit

    @property
    def passed(self) -> bool:
        return self.rule.allows(self.observed)

    def shown(self) -> str:
        v = self.observed
        return f"{round(v, 4):g}" if isinstance(v, float) else str(v)


def evaluate(rules, summary: dict, source: str = "") -> list[Verdict]:
    """A Verdict per rule, in the order given."""
    return [Verdict(rule, observed(rule.name, summary), source) for rule in rules]


def failed_lines(verdicts) -> list[str]:
    """One ``CHECK FAILED: <rule> observed <value>`` line per violated rule."""
    return [f"CHECK FAILED: {v.rule} observed {v.shown()}" for v in verdicts if not v.passed]


def _identity(row: dict):
    """A CLOSE_WAIT socket across samples: its cookie, else its address pair."""
    cookie = row.get("cookie")
    return cookie if cookie is not None else (row.get("local"), row.get("remote"))


def listener_fill(row: dict) -> float:
    """Accept-queue fill: the queue holds backlog + 1 before the kernel drops SYNs."""
    if "fill" in row:
        return float(row["fill"])
    return row["accept_queue"] / (row["backlog"] + 1)


@dataclass
class RunSummary:
    """Folds samples (record_format) of one host into the run summary, in O(1) memory."""

    samples: int = 0
    started: float | None = None
    ended: float | None = None
    first_counters: dict | None = None
    last_counters: dict | None = None
    peaks: dict = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    fill_max: float = 0.0
    fraction_max: float = 0.0
    headroom_min: int | None = None
    leaks_max: int = 0
    oldest_leak_s: float | None = None
    ever_full: set = field(default_factory=set)
    close_wait_seen: set = field(default_factory=set)
    close_wait_settled_max: int = 0

    def add(self, sample: dict) -> None:
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
        for row in sample.get("listeners", ()):
            fill = listener_fill(row)
            self.fill_max = max(self.fill_max, fill)
            if fill >= 1.0 or row.get("ever_full"):
                self.ever_full.add(row["local"])
        eph = sample.get("ephemeral") or {}
        dests = eph.get("by_destination") or []
        self.fraction_max = max([self.fraction_max, *(d.get("fraction", 0) for d in dests)])
        if dests and eph.get("usable"):
            room = eph["usable"] - max(d["in_use"] for d in dests)
            self.headroom_min = room if self.headroom_min is None else min(self.headroom_min,
                                                                             room)
        leaks = sample.get("leaks") or {}
        self.leaks_max = max(self.leaks_max, int(leaks.get("count", 0)))
        if leaks.get("oldest_s") is not None:
            self.oldest_leak_s = max(self.oldest_leak_s or 0.0, leaks["oldest_s"])
        cookies = {_identity(row) for row in sample.get("close_wait", ())}
        self.close_wait_settled_max = max(self.close_wait_settled_max,
                                          len(cookies & self.close_wait_seen))
        self.close_wait_seen = cookies

    def listen_overflows(self) -> int:
        if not self.first_counters:
            return 0
        return (self.last_counters.get("ListenOverflows", 0)
                - self.first_counters.get("ListenOverflows", 0))

    def summary(self, eaddrnotavail: int = 0) -> dict:
        return {
            "samples": self.samples,
            "duration_s": round((self.ended or 0) - (self.started or 0), 3),
            "started": self.started, "ended": self.ended,
            "peaks": dict(self.peaks),
            "leaks": {"count": self.leaks_max, "oldest_s": self.oldest_leak_s},
            "listen_overflows": self.listen_overflows(),
            "listeners_ever_full": sorted(self.ever_full),
            "eaddrnotavail": eaddrnotavail,
            "ephemeral_fraction_max": self.fraction_max,
            "ephemeral_headroom_min": self.headroom_min,
            "accept_queue_fill_max": self.fill_max,
            "time_wait_peak": self.peaks.get("TIME_WAIT", 0),
            "close_wait_settled_max": self.close_wait_settled_max,
        }


def combine(parts: list[dict]) -> dict:
    """The run summary over several hosts' summaries: the worst host for peaks and
    extremes, the sum for counts of events (overflows, leaks, samples)."""
    if len(parts) == 1:
        return parts[0]
    def present(key):
        return [p[key] for p in parts if p.get(key) is not None]

    peaks = {name: max((p.get("peaks") or {}).get(name, 0) for p in parts) for name in STATES}
    starts, ends = present("started"), present("ended")
    oldest = [p["leaks"]["oldest_s"] for p in parts
              if (p.get("leaks") or {}).get("oldest_s") is not None]
    return {
        "samples": sum(p.get("samples", 0) for p in parts),
        "duration_s": round(max(ends) - min(starts), 3) if starts and ends else 0.0,
        "started": min(starts, default=None), "ended": max(ends, default=None),
        "peaks": peaks,
        "leaks": {"count": sum((p.get("leaks") or {}).get("count", 0) for p in parts),
                  "oldest_s": max(oldest, default=None)},
        "listen_overflows": sum(p.get("listen_overflows", 0) for p in parts),
        "listeners_ever_full": sorted({x for p in parts
                                       for x in p.get("listeners_ever_full", ())}),
        "eaddrnotavail": sum(p.get("eaddrnotavail", 0) for p in parts),
        "ephemeral_fraction_max": max(present("ephemeral_fraction_max"), default=0.0),
        "ephemeral_headroom_min": min(present("ephemeral_headroom_min"), default=None),
        "accept_queue_fill_max": max(present("accept_queue_fill_max"), default=0.0),
        "time_wait_peak": peaks["TIME_WAIT"],
        "close_wait_settled_max": max(present("close_wait_settled_max"), default=0),
    }
