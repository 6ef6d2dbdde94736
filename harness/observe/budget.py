"""A CPU budget for the sampler: the exact counts every sample, the rest as it allows.

Every sample pays for its exact part (sockstat, the dump of the open sockets and the
listeners, the counters, a port's TIME_WAIT count). What is left of ``share`` (a share
of one core) fills a bucket of CPU time that the parts which may be older draw from:
the TIME_WAIT details (expiry histogram, TIME_WAIT ports per destination), the grouping
of the ESTABLISHED sockets by destination (what a full walk costs beyond the walk that
leaves them in the kernel), the owner lookups of new sockets, the sysctls. A part is due
when its ``min_period`` has passed and the bucket is not in debt; what it costs is then
drawn, so a refresh wanted at every tick is held to the rate the budget allows, and a
lookup needed once in a while (an owner) runs at once. Over budget no part waits longer
than its ``MAX_AGE_S`` (an owner 5 s: the process holding a leak is what its hunter came
for; the details a minute), and the sample says how old each part is::

    >>> b = Budget(0.05, interval=0.1, min_period={"time_wait": 1.0})
    >>> b.exact(0.002)                        # 2 ms a sample at 10 Hz: 2% of a core
    >>> b.due("time_wait", now=0.0)           # never done: due
    True
    >>> b.spent("time_wait", 0.060, now=0.0)  # 60 ms; 3% of a core pays it back in 2 s
    >>> b.due("time_wait", now=1.0), b.due("time_wait", now=2.0)
    (False, True)
"""

from __future__ import annotations

MAX_AGE_S = {"owners": 5.0}  # the longest a part waits over budget; others: DEFAULT_MAX_AGE_S
DEFAULT_MAX_AGE_S = 60.0
SMOOTHING = 0.2  # weight of the newest cost in a running average
BUCKET_S = 2.0  # the bucket holds at most this many seconds of what is left


def running_mean(mean: float | None, x: float) -> float:
    """``mean`` with ``x`` folded in at weight SMOOTHING (``x`` itself when None)."""
    return x if mean is None else (1 - SMOOTHING) * mean + SMOOTHING * x


class Budget:
    """When each optional part of a sample is due, from measured costs."""

    def __init__(self, share: float, interval: float, min_period: dict | None = None):
        self.share = share
        self.interval = interval
        self.min_period = dict(min_period or {})
        self.exact_cost: float | None = None  # CPU seconds of the exact part, averaged
        self.done_at: dict[str, float] = {}
        self.tokens = 0.0  # CPU seconds available to the optional parts (< 0: in debt)
        self._filled_at: float | None = None

    def exact(self, cpu_s: float) -> None:
        """Fold the CPU time of one sample's exact part."""
        self.exact_cost = running_mean(self.exact_cost, cpu_s)

    def left(self) -> float:
        """The share of a core left for the optional parts."""
        used = (self.exact_cost or 0.0) / self.interval
        return max(0.0, self.share - used)

    def _fill(self, now: float) -> None:
        if self._filled_at is not None and now > self._filled_at:
            self.tokens = min(self.left() * BUCKET_S,
                              self.tokens + self.left() * (now - self._filled_at))
        self._filled_at = now if self._filled_at is None else max(self._filled_at, now)

    def due(self, part: str, now: float) -> bool:
        at = self.done_at.get(part)
        if at is None:
            return True
        if now - at < self.min_period.get(part, 0.0) * 0.999:
            return False
        if now - at >= MAX_AGE_S.get(part, DEFAULT_MAX_AGE_S):
            return True
        self._fill(now)
        return self.tokens >= 0.0

    def spent(self, part: str, cpu_s: float, now: float) -> None:
        """``part`` was refreshed at ``now`` for ``cpu_s`` seconds of CPU."""
        self._fill(now)
        self.tokens -= cpu_s  # may go below zero: the next parts wait until it is paid
        self.done_at[part] = now

    def age(self, part: str, now: float) -> float:
        """How old ``part`` is at ``now`` (0.0 when refreshed in this sample)."""
        at = self.done_at.get(part)
        return 0.0 if at is None else round(max(0.0, now - at), 3)
