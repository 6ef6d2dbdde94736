"""The chart's history: each host's state counts over the whole run, bounded per host.

Each host keeps its own points on its own clock (the sample's ``time``), so ten hosts do
not share, and shorten, one window. A history holds at most ``limit`` points: when it is
full every other point is dropped, so it always spans the whole run, coarser the longer
the run (an hour at 1 s keeps a point every 4 s with the default 1,800)::

    >>> h = History(limit=4)
    >>> for t in range(6):
    ...     h.add(float(t), {"TIME_WAIT": t})
    >>> [t for t, _ in h.points], h.points[-1][1][STATES.index("TIME_WAIT")]
    ([0.0, 2.0, 4.0, 5.0], 5)

``total`` sums the hosts' histories the way the run's total is summed: at each point of
any host, each host's latest counts.
"""

from __future__ import annotations

import heapq

from harness.kernel.inet_diag import STATES

LIMIT = 1800  # points per host


class History:
    def __init__(self, limit: int = LIMIT):
        self.limit = limit
        self.points: list[tuple[float, tuple[int, ...]]] = []

    def add(self, t: float, states: dict) -> None:
        if self.points and t < self.points[-1][0]:
            return  # an older sample (a remote's ring read twice): the history moves on
        self.points.append((t, tuple(states.get(name, 0) for name in STATES)))
        if len(self.points) > self.limit:
            self.points = self.points[:-1:2] + self.points[-1:]


def total(histories: list[History], limit: int = LIMIT) -> list[tuple[float, tuple]]:
    """The sum of the hosts' latest counts at each of their points, in time order, thinned
    evenly to at most ``limit`` points (the last one kept)."""
    zero = (0,) * len(STATES)
    latest = [zero] * len(histories)
    sums = list(zero)
    out = []
    merged = heapq.merge(*([(t, i, v) for t, v in h.points] for i, h in
                           enumerate(histories)))
    for t, i, values in merged:
        sums = [s + new - old for s, new, old in zip(sums, values, latest[i], strict=True)]
        latest[i] = values
        out.append((t, tuple(sums)))
    if len(out) > limit:
        step = len(out) / limit
        out = [out[int(k * step)] for k in range(limit - 1)] + out[-1:]
    return out
