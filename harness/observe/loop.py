"""The one sampling loop: a fixed cadence, one catch-up rule, a stop that is safe from a
signal handler or another thread. `record`, `watch`, the exporter and the Locust
sampler child all sample through ``Schedule``.

Ticks are due at ``start + k x interval``. When a sample ends after the next tick was
due, that tick runs at once (late) and any tick it overran besides is skipped and
counted in ``missed`` (Go's time.Ticker rule): the loop never bursts to catch up and
never drifts. With ``duration`` only ticks due before it run (10 s at 1 s: 10 ticks)::

    >>> clock = FakeClock()
    >>> s = Schedule(1.0, duration=5, clock=clock, sleep=clock.sleep)
    >>> took = {0: 0.2, 1: 2.5}          # the sample of tick 1 takes 2.5 s
    >>> started = []
    >>> for k in s:
    ...     started.append((k, clock.now))
    ...     clock.sleep(took.get(k, 0.1))
    >>> started, s.missed                # tick 3 runs late at 3.5; tick 2 is skipped
    ([(0, 0.0), (1, 1.0), (3, 3.5), (4, 4.0)], 1)

``stop()`` ends the loop before the next tick (with ``last_on_stop``, after one more
tick taken at once: the Locust child's final sample). ``final`` is true while the last
tick is being taken (of the duration, or that one after a stop), so its sample can be
taken whole. It only sets a flag and writes a
byte to a pipe, so a signal handler may call it (``stop_on_signals``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time

MIN_INTERVAL_S = 0.05  # the cadences a user may ask for
MAX_INTERVAL_S = 3600.0

class FakeClock:
    """A clock for tests of the loop: ``sleep`` moves it (work and waits alike)."""

    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class Schedule:
    """Iterate to get tick numbers at the cadence; ``missed`` counts skipped ticks."""

    def __init__(self, interval: float, duration: float | None = None, *,
                 clock=time.monotonic, sleep=None, last_on_stop: bool = False):
        if not interval > 0:
            raise ValueError("interval must be > 0")
        self.interval, self.duration = interval, duration
        self.clock = clock
        self.last_on_stop = last_on_stop
        self.stopped = False
        self.final = False  # the tick being yielded is the last: of the duration, or after
        #                     a stop with last_on_stop
        self.missed = 0
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._sleep = sleep or self._wait

    def stop(self) -> None:
        """End the loop at its next wait (async-signal-safe: a flag and a pipe write)."""
        self.stopped = True
        with contextlib.suppress(OSError):
            os.write(self._w, b"x")

    def _wait(self, timeout: float) -> None:
        if timeout > 0 and not self.stopped:
            select.select([self._r], [], [], timeout)

    def wait(self, timeout: float) -> None:
        """Sleep ``timeout`` seconds unless stopped meanwhile (for callers' own waits)."""
        self._sleep(timeout)

    def close(self) -> None:
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Schedule:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _due(self, k: int) -> bool:
        return self.duration is None or k * self.interval < self.duration

    def __iter__(self):
        start = self.clock()
        k = 0
        while not self.stopped and self._due(k):
            self.final = not self._due(k + 1)  # the last tick before the duration ends
            yield k
            latest = int((self.clock() - start) / self.interval)  # the last tick now due
            if latest > k + 1:
                self.missed += latest - k - 1
                k = latest
            else:
                k += 1
                while not self.stopped and self._due(k):
                    left = start + k * self.interval - self.clock()
                    if left <= 0:
                        break
                    self._sleep(left)
        if self.stopped and self.last_on_stop:
            self.final = True
            yield k


@contextlib.contextmanager
def stop_on_signals(schedule: Schedule, signals=(signal.SIGINT, signal.SIGTERM)):
    """SIGINT/SIGTERM stop ``schedule`` instead of raising, so a sample is never cut in
    half; yields a list that gets the signal numbers received (for the exit code)."""
    got: list[int] = []

    def handler(signum, _frame):
        got.append(signum)
        schedule.stop()

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield got
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def samples(sampler, schedule: Schedule):
    """``sampler.sample()`` at every tick of ``schedule``, told how many were missed and
    whether it is the last one after a stop (taken whole, whatever the CPU budget)."""
    for _tick in schedule:
        yield sampler.sample(schedule.missed, final=schedule.final)
