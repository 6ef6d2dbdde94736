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

The total's history (harness.load.collector) gets a point at each sample of any host:
each host's latest counts summed, at the newest sample time seen so far (so a host
whose clock is behind does not take the total back in time).
"""

from __future__ import annotations

from harness.kernel.tcp_states import STATES

LIMIT = 1800  # points per host


class History:
    def __init__(self, limit: int = LIMIT):
        self.limit = limit
        self.points: list[tuple[float, tuple[int, ...]]] = []

    @property
    def last_time(self) -> float | None:
        return self.points[-1][0] if self.points else None

    def add(self, t: float, states: dict) -> None:
        if self.points and t < self.points[-1][0]:
            return  # an older sample (a remote's ring read twice): the history moves on
        self.points.append((t, tuple(states.get(name, 0) for name in STATES)))
        if len(self.points) > self.limit:
            self.points = self.points[:-1:2] + self.points[-1:]
