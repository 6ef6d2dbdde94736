"""The one sampling loop (observe/loop.py) on a fake clock: cadence, catch-up, stop."""

from __future__ import annotations

import itertools
import os
import signal
import threading

from harness.observe.loop import FakeClock, Schedule, samples, stop_on_signals


def run(interval, work, duration=None, **kw):
    """(tick, start time) for each tick; ``work(k)`` is how long tick k's sample takes."""
    clock = FakeClock()
    schedule = Schedule(interval, duration, clock=clock, sleep=clock.sleep, **kw)
    seen = []
    for k in schedule:
        seen.append((k, round(clock.now, 6)))
        clock.sleep(work(k))
        if len(seen) > 1000:
            break
    schedule.close()
    return seen, schedule


def test_ticks_stay_on_the_grid_and_duration_counts_ticks_before_it():
    clock = FakeClock()
    with Schedule(0.1, 1.0, clock=clock, sleep=clock.sleep) as sched:
        finals = [sched.final for _k in sched]
    assert finals == [False] * 9 + [True]  # the last tick of the duration is known
    seen, s = run(0.1, lambda k: 0.03, duration=1.0)
    assert [k for k, _ in seen] == list(range(10))
    assert [t for _, t in seen] == [round(0.1 * k, 6) for k in range(10)]
    assert s.missed == 0


def test_a_late_tick_runs_at_once_and_the_overrun_ones_are_skipped():
    seen, s = run(1.0, lambda k: 3.2 if k == 2 else 0.1, duration=8)
    assert seen == [(0, 0.0), (1, 1.0), (2, 2.0), (5, 5.2), (6, 6.0), (7, 7.0)]
    assert s.missed == 2  # ticks 3 and 4 never ran


def test_never_faster_than_the_grid_even_when_every_sample_is_slow():
    seen, s = run(1.0, lambda k: 1.5, duration=10)
    starts = [t for _, t in seen]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(starts))
    assert len(seen) + s.missed == 10


def test_stop_ends_before_the_next_tick_or_after_one_last():
    for last, expected in ((False, [0, 1, 2]), (True, [0, 1, 2, 3])):
        clock = FakeClock()
        s = Schedule(1.0, clock=clock, sleep=clock.sleep, last_on_stop=last)
        ticks = []
        for k in s:
            ticks.append((k, s.final))
            if k == 2:
                s.stop()
        s.close()
        assert [k for k, _final in ticks] == expected
        assert [final for _k, final in ticks] == [False] * 3 + [True] * last


def test_stop_from_another_thread_wakes_a_real_wait():
    with Schedule(3600.0) as s:
        threading.Timer(0.2, s.stop).start()
        assert list(s) == [0]  # the hour-long wait ended at once


def test_a_signal_stops_the_loop_between_samples():
    class Sampler:
        calls = 0

        def sample(self, missed=0, final=False):
            self.calls += 1
            if self.calls == 3:
                os.kill(os.getpid(), signal.SIGTERM)
            return {"n": self.calls, "missed": missed}

    with Schedule(0.01) as s, stop_on_signals(s) as got:
        out = list(samples(Sampler(), s))
    assert [o["n"] for o in out] == [1, 2, 3] and got == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is not None  # the old handler is back
