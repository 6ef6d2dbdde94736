"""Rules over a run: ``NAME=N`` limits checked against a run summary.

A summary (records.Summary: the ``{"summary": ...}`` line of a record, or one folded
from samples by harness.observe.summary.RunSummary) holds each state's peak and the
run-level figures. A rule names one of them::

    >>> rule = parse_rule("TIME_WAIT=1000")
    >>> evaluate([rule], {"peaks": {"TIME_WAIT": 1200}})[0].passed
    False

Names: every TCP state (its peak count over the run; for CLOSE_WAIT, the peak of
sockets still in CLOSE_WAIT one sample later, when the run has it, so a socket whose
application was about to close() is not counted), ``leaks``, ``listen_overflows``,
``eaddrnotavail``, ``ephemeral_fraction``, ``accept_queue_fill``, ``time_wait_peak``.

A rule may name a host (``server:CLOSE_WAIT=0``, a Locust run's sampling host or
remote); over several hosts (``evaluate_hosts``) a rule without one holds for every host
and for the total, and each verdict says which it was judged on::

    >>> hosts = {"server": {"peaks": {"CLOSE_WAIT": 40}}, "w1": {"peaks": {}}}
    >>> for line in failed_lines(evaluate_hosts([parse_rule("CLOSE_WAIT=0")], hosts,
    ...                                         {"peaks": {"CLOSE_WAIT": 40}})):
    ...     print(line)
    CHECK FAILED: server CLOSE_WAIT=0 observed 40
    CHECK FAILED: total CLOSE_WAIT=0 observed 40

Live use (the Locust plugin): fold each sample into a ``RunSummary`` as it arrives and
evaluate the rules over its ``summary()`` at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.kernel.tcp_states import STATES

NAMES = (*STATES, "leaks", "listen_overflows", "eaddrnotavail", "ephemeral_fraction",
         "accept_queue_fill", "time_wait_peak")


TOTAL = "total"  # the host name of the figures over all hosts


@dataclass(frozen=True)
class Rule:
    """``[HOST:]NAME=N`` with ``kind`` "max" (observed must be <= N) or "min" (>= N);
    ``host`` None: every host and the total."""

    name: str
    limit: float
    kind: str = "max"
    host: str | None = None

    def __str__(self) -> str:
        return f"{self.host}:{self.bare}" if self.host else self.bare

    @property
    def bare(self) -> str:
        """``NAME=N`` without the host."""
        limit = int(self.limit) if float(self.limit).is_integer() else self.limit
        return f"{self.name}={limit}"

    def allows(self, value: float) -> bool:
        return value <= self.limit if self.kind == "max" else value >= self.limit


def parse_rule(text: str, kind: str = "max") -> Rule:
    """``"CLOSE_WAIT=0"``, ``"server:CLOSE_WAIT=0"`` -> Rule; ValueError with a one-line
    reason otherwise."""
    name, sep, value = text.partition("=")
    host, colon, name = name.strip().rpartition(":")
    if not sep:
        raise ValueError(f"expected [HOST:]NAME=N, got {text!r}")
    if colon and not host.strip():
        raise ValueError(f"empty host before ':' in {text!r}")
    if name not in NAMES:
        raise ValueError(f"unknown name {name!r} in {text!r} (one of {', '.join(NAMES)})")
    try:
        limit = float(value)
    except ValueError:
        raise ValueError(f"bad number in {text!r}") from None
    if not 0 <= limit < math.inf:  # NaN compares false: refused too
        raise ValueError(f"bad limit in {text!r} (a finite number >= 0)")
    return Rule(name, limit, kind, host.strip() or None)


def observed(name: str, summary: dict | None) -> float | None:
    """The value of ``name`` in a run summary (0 where the run did not record it; None
    without a summary: a host that gave no sample)."""
    if summary is None:
        return None
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
    observed: float | None  # None: the host gave no sample
    source: str = ""  # "baseline " for rules derived from a baseline
    host: str | None = None  # the host judged (None: a one-host run)

    @property
    def label(self) -> str:
        where = f"{self.host} " if self.host else ""
        return f"{where}{self.source}{self.rule.name}"

    @property
    def limit(self) -> float:
        return self.rule.limit

    @property
    def passed(self) -> bool:
        return self.observed is not None and self.rule.allows(self.observed)

    def shown(self) -> str:
        v = self.observed
        if v is None:
            return f"nothing (no sample from {self.host})"
        return f"{round(v, 4):g}" if isinstance(v, float) else str(v)

    def record(self) -> dict:
        """records.Verdict."""
        out = {"rule": f"{self.source}{self.rule.bare}", "name": self.rule.name,
               "kind": self.rule.kind, "limit": self.rule.limit, "observed": self.observed,
               "passed": self.passed}
        return {**out, "host": self.host} if self.host else out


def evaluate(rules, summary: dict, source: str = "") -> list[Verdict]:
    """A Verdict per rule, in the order given."""
    return [Verdict(rule, observed(rule.name, summary), source) for rule in rules]


def evaluate_hosts(rules, hosts: dict[str, dict | None], total: dict | None = None,
                   source: str = "") -> list[Verdict]:
    """Verdicts over several hosts' summaries (``{label: summary}``; None for a host that
    gave no sample): a rule naming a host is judged on it (it fails when the host gave
    no sample or is unknown); one without is judged on each host that gave samples and
    on ``total`` (when given: the figures over all hosts, host ``total``)."""
    out = []
    for rule in rules:
        if rule.host is not None:
            summary = total if rule.host == TOTAL else hosts.get(rule.host)
            out.append(Verdict(rule, observed(rule.name, summary), source, rule.host))
            continue
        for label, summary in hosts.items():
            if summary is not None:
                out.append(Verdict(rule, observed(rule.name, summary), source, label))
        if total is not None:
            out.append(Verdict(rule, observed(rule.name, total), source, TOTAL))
    return out


def failed_lines(verdicts) -> list[str]:
    """One ``CHECK FAILED: [HOST ]<rule> observed <value>`` line per violated rule."""
    return [f"CHECK FAILED: {f'{v.host} ' if v.host else ''}{v.source}{v.rule.bare} "
            f"observed {v.shown()}" for v in verdicts if not v.passed]
