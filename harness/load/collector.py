"""Samples from every host of a run: latest per host, history, totals, the run summary,
the findings, the checks.

The collector lives where the results go (the master, or the single process of a local
run). Each host (a worker's host name + namespace, or a ``--socklife-remote``) sends its
own samples, so a total is the sum of each host's latest sample: a host is counted once
however many workers it runs. Each host's run is folded by
harness.observe.summary.RunSummary (with its Evidence) and keeps its own history for the
chart (harness.load.history, on the host's clock). The run summary over all hosts takes
the worst host for peaks and extremes and the sum for counts of events; the total
(harness.observe.totals) adds counts up, and rules without a host hold for every host
and for it. The findings are each host's own (``host`` says which), and a remote that
did not answer has its ``remote_unreachable``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.load.history import History
from harness.load.rows import host_row, total_row
from harness.observe.findings import at_least, ordered, over_hosts
from harness.observe.summary import RunSummary, combine
from harness.observe.thresholds import TOTAL, evaluate_hosts, failed_lines
from harness.observe.totals import TotalPeaks, total_summary
from harness.views.findings import finding_lines
from harness.views.text_table import text_table


@dataclass
class HostRun:
    """One host's samples: the latest, its run summary and its history so far."""

    label: str
    latest: dict | None = None
    run: RunSummary = field(init=False)
    history: History = field(default_factory=History)

    def __post_init__(self):
        self.run = RunSummary(host=self.label)

    @property
    def samples(self) -> int:
        return self.run.samples

    def add(self, sample: dict) -> None:
        self.latest = sample
        self.run.add(sample)
        self.history.add(sample["time"], sample["states"])

    def row(self) -> dict:
        """harness.load.rows' figures of the latest sample (counters grown since the first)."""
        return host_row(self.label, self.latest, self.run.first_counters)


class Collector:
    """Per-host runs, the total, and the remotes' polls."""

    def __init__(self):
        self.hosts: dict[str, HostRun] = {}
        self.peaks = TotalPeaks()
        self.total_history = History()
        self.remotes: list = []  # harness.load.remote.Remote, for their findings
        self.eaddrnotavail = 0

    def expect(self, key: str, label: str) -> None:
        """A host that should send samples (a remote): its rules fail when none came."""
        self.hosts.setdefault(key, HostRun(label))

    def add(self, key: str, label: str, sample: dict) -> None:
        run = self.hosts.get(key)
        if run is None:
            run = self.hosts[key] = HostRun(label)
        run.add(sample)
        self.peaks.add(key, sample["states"])
        last = self.total_history.last_time
        t = sample["time"] if last is None else max(last, sample["time"])
        self.total_history.add(t, self.peaks.latest())

    def first_counters(self, key: str) -> dict | None:
        """The counters of a host's first sample (None before it)."""
        run = self.hosts.get(key)
        return run.run.first_counters if run else None

    @property
    def sampled(self) -> list[HostRun]:
        """The hosts that sent at least one sample."""
        return [h for h in self.hosts.values() if h.latest is not None]

    def rows(self, now: float, load: dict | None = None) -> list[dict]:
        """Each host's latest figures, then their total (harness.load.rows)."""
        rows = [h.row() for h in self.sampled]
        return [*rows, total_row(rows, now, load)] if rows else []

    def points(self, host: str) -> list:
        """The chart's ``[time, [count per state]]`` points of a host (by its label) or
        of the total (harness.load.history); none for a host it does not know."""
        if host == TOTAL:
            return self.total_history.points
        return next((h.history.points for h in self.sampled if h.label == host), [])

    # -- the end of a run -----------------------------------------------------------
    def host_summaries(self) -> dict[str, dict | None]:
        """Each host's records.Summary (None for an expected host that sent nothing).
        Locust counts EADDRNOTAVAIL for the whole run: a host's own only when it is the
        one host, else the total's."""
        failed = self.eaddrnotavail if len(self.sampled) == 1 else 0
        return {h.label: h.run.summary(failed) if h.samples else None
                for h in self.hosts.values()}

    def total_summary(self) -> dict:
        """The figures over all hosts (harness.observe.totals)."""
        hosts = [h.run.summary() for h in self.sampled]
        return total_summary(self.summary(), hosts, self.peaks)

    def table_lines(self) -> list[str]:
        """The end-of-run table: one row per host over the run, and the total (sums for
        counts and counters, worst for fills and fractions)."""
        columns = ("HOST", "SAMPLES", "ESTAB", "SYN_RECV", "TIME_WAIT", "CLOSE_WAIT",
                   "OVERFLOWS", "LEAKS", "QUEUE_FILL", "PORT_FRACTION")
        rows = []
        for label, s in self.host_summaries().items():
            rows.append([label, "0", *("-" for _ in columns[2:])] if s is None
                        else [label, *_figures(s)])
        if len(self.sampled) > 1:
            rows.append([TOTAL, *_figures(self.total_summary())])
        return text_table([(title, "left" if i == 0 else "right")
                           for i, title in enumerate(columns)], rows,
                          title="socklife: peaks per host; total: sums, and the worst "
                                "host's fill and fraction")

    def findings(self) -> list[dict]:
        """Every host's findings so far, critical first, each with its ``host``."""
        found = over_hosts([(h.label, h.run.evidence) for h in self.sampled],
                           self.eaddrnotavail)
        remote = [f for f in (r.finding() for r in self.remotes) if f is not None]
        return ordered(found + [{**f, "host": f["subject"]} for f in remote])

    def finding_lines(self, width: int = 100) -> list[str]:
        """The findings as sentences, per host, for the end of a run."""
        found = self.findings()
        lines = []
        for host in self.hosts.values():
            own = [f for f in found if f.get("host") == host.label]
            lines += finding_lines([{**f, "host": None} for f in own], width,
                                   title=f"socklife: {host.label}: ")
        return lines

    def summary(self) -> dict:
        """The records.Summary over all hosts."""
        runs = [h.run for h in self.sampled]
        out = combine(runs).summary(self.eaddrnotavail)
        out["findings"] = self.findings()
        if runs:
            out["hosts"] = {h.label: h.samples for h in self.sampled}
        return out

    def failed_checks(self, rules, fail_on: str | None = None) -> list[str]:
        """One ``CHECK FAILED: HOST <rule> observed <value>`` line per violated rule and
        host (a rule without a host: every host and the total), and one per finding at
        or above ``fail_on``."""
        several = len(self.hosts) > 1
        lines = failed_lines(evaluate_hosts(rules, self.host_summaries(),
                                            self.total_summary() if several else None))
        for f in at_least(self.findings(), fail_on) if fail_on else ():
            lines.append(f"CHECK FAILED: {f['severity']} finding {f['id']} {f['subject']} "
                         f"on {f['host']} (--socklife-fail-on {fail_on})")
        return lines


def _figures(s: dict) -> list[str]:
    """A row of the end-of-run table from a records.Summary."""
    peaks = s["peaks"]
    return [str(s["samples"]), str(peaks.get("ESTABLISHED", 0)), str(peaks.get("SYN_RECV", 0)),
            str(s["time_wait_peak"]), str(s["close_wait_settled_max"]),
            str(s["listen_overflows"]), str(s["leaks"]["count"]),
            f"{s['accept_queue_fill_max']:.2f}", f"{s['ephemeral_fraction_max']:.3f}"]
