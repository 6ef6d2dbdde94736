"""Samples from every sampling host: latest per host, totals, the run summary, the
findings, the checks.

The collector lives where the results go (the master, or the single process of a local
run). Each host (host name + namespace) sends its own samples, so a total is the sum of
each host's latest sample: a host is counted once however many workers it runs. Each
host's run is folded by harness.observe.summary.RunSummary (with its Evidence); the run
summary over all hosts takes the worst host for peaks and extremes and the sum for
counts of events, and the findings are each host's own (``host`` says which).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from harness.kernel.inet_diag import STATES
from harness.observe.findings import at_least, over_hosts
from harness.observe.summary import RunSummary, combine
from harness.observe.thresholds import evaluate, failed_lines
from harness.views.findings import finding_lines

SERIES_LEN = 900  # points kept for the chart page


@dataclass
class HostRun:
    """One host's samples: the latest, and its run summary so far."""

    label: str
    latest: dict | None = None
    run: RunSummary = field(init=False)

    def __post_init__(self):
        self.run = RunSummary(host=self.label)

    @property
    def samples(self) -> int:
        return self.run.samples

    def add(self, sample: dict) -> None:
        self.latest = sample
        self.run.add(sample)


class Collector:
    """Per-host runs plus a total series for the chart."""

    def __init__(self):
        self.hosts: dict[str, HostRun] = {}
        self.series: deque = deque(maxlen=SERIES_LEN)
        self.eaddrnotavail = 0

    def add(self, key: str, label: str, sample: dict) -> None:
        run = self.hosts.get(key)
        if run is None:
            run = self.hosts[key] = HostRun(label)
        run.add(sample)
        self.series.append((sample["time"], self.total_states()))

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
        for host in self.hosts.values():
            busy = ", ".join(f"{name} {n}" for name, n in host.run.peaks.items()
                             if n and name != "LISTEN")
            lines.append(f"socklife: {host.label}: {host.samples} samples; "
                         f"peaks {busy or 'none'}")
        return lines

    def findings(self) -> list[dict]:
        """Every host's findings so far, critical first, each with its ``host``."""
        return over_hosts([(h.label, h.run.evidence) for h in self.hosts.values()],
                          self.eaddrnotavail)

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
        runs = [h.run for h in self.hosts.values()]
        out = combine(runs).summary(self.eaddrnotavail)
        if runs:
            out["hosts"] = {h.label: h.samples for h in self.hosts.values()}
        return out

    def failed_checks(self, rules, fail_on: str | None = None) -> list[str]:
        """One ``CHECK FAILED: <rule> observed <value>`` line per violated rule, and one
        per finding at or above ``fail_on``."""
        lines = failed_lines(evaluate(rules, self.summary()))
        for f in at_least(self.findings(), fail_on) if fail_on else ():
            lines.append(f"CHECK FAILED: {f['severity']} finding {f['id']} {f['subject']} "
                         f"on {f['host']} (--socklife-fail-on {fail_on})")
        return lines
