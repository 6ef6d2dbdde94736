"""Samples for the load run, taken without blocking gevent.

One reading (``harness.observe.snapshot.take``: a sock_diag dump, /proc counters,
sysctls and the owners of listeners and CLOSE_WAIT sockets) runs in gevent's thread
pool, so the Users' greenlets keep running while the kernel is read.
"""

from __future__ import annotations

from harness.observe.snapshot import take


class SampleSource:
    """``next()`` returns one sample dict (record_format.md) for ``netns``/``ports``."""

    def __init__(self, netns: str | None, ports=(), interval: float = 1.0):
        self.netns, self.ports, self.interval = netns, tuple(ports), interval

    def _read(self) -> dict:
        sample = take(self.netns, self.ports)
        sample["interval_s"] = self.interval
        sample["ports"] = list(self.ports)
        return sample

    def next(self) -> dict:
        import gevent  # the load side only: gevent comes with Locust

        return gevent.get_hub().threadpool.apply(self._read)
