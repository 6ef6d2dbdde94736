"""The figures over several hosts (a distributed Locust run, or its recording): the total.

Counts and counters add up, fills and fractions take the worst host: a total's peak of a
state is the peak of the *sum* of each host's latest sample, in the order the samples
arrived (each host on its own clock), not the sum of peaks reached at different times::

    >>> peaks = TotalPeaks()
    >>> peaks.add("a", {"TIME_WAIT": 10}); peaks.add("b", {"TIME_WAIT": 5})
    >>> peaks.add("a", {"TIME_WAIT": 2})
    >>> peaks.peaks["TIME_WAIT"], peaks.latest()["TIME_WAIT"]
    (15, 7)

``total_summary`` turns the runs' merged records.Summary (harness.observe.summary.combine:
the worst host for peaks) into the total's: the peaks of the sum, and CLOSE_WAIT still
held one sample later summed over the hosts (each host's peak: at most what they held
together). Leaks and listen_overflows already add up there; fills, fractions and the
headroom stay the worst host's.
"""

from __future__ import annotations

from harness.kernel.tcp_states import STATES


class TotalPeaks:
    """Each host's latest state counts, and the peak of their sum so far."""

    def __init__(self):
        self.hosts: dict = {}
        self.sums = dict.fromkeys(STATES, 0)
        self.peaks = dict.fromkeys(STATES, 0)

    def add(self, host, states: dict) -> None:
        before = self.hosts.get(host, {})
        for name in set(before) | set(states):
            self.sums[name] = self.sums.get(name, 0) + states.get(name, 0) - before.get(name, 0)
            self.peaks[name] = max(self.peaks.get(name, 0), self.sums[name])
        self.hosts[host] = dict(states)

    def latest(self) -> dict[str, int]:
        """Each host's latest counts, summed: no host counted twice."""
        return dict(self.sums)


def total_summary(merged: dict, hosts: list[dict], peaks: TotalPeaks) -> dict:
    """The total's records.Summary: ``merged`` (combine over the hosts) with the peaks of
    the sum and the hosts' settled CLOSE_WAIT added up."""
    return {**merged, "peaks": dict(peaks.peaks),
            "time_wait_peak": peaks.peaks.get("TIME_WAIT", 0),
            "close_wait_settled_max": sum(h.get("close_wait_settled_max", 0) for h in hosts)}
