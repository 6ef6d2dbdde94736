"""The sampler (harness.observe.sampler) as a child process: one JSON sample per line.

Run by the Locust process that samples its host (``python -P .../sampler_proc.py
--interval S [--netns NS] [--port P]...``: as a script, so that the package
harness.load, which imports Locust, is not imported). A process of its own keeps the decoding of
tens of thousands of sockets off the Locust process: in a thread there it would hold
the GIL against the gevent loop, and every socket call of the Users would wait for it
(the convoy effect; see docs/performance.md). No Locust and no gevent here.
SIGTERM takes one last sample and ends; the child also ends when its parent dies.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str] | None = None) -> int:
    # A SIGTERM during start-up (a short run, a loaded machine) must still give the one
    # last sample: note it before anything slow happens, act on it once sampling starts.
    early: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: early.append(signum))
    from harness.observe.leaks import DEFAULT_THRESHOLD_S
    from harness.observe.loop import Schedule, samples, stop_on_signals
    from harness.observe.sampler import Sampler

    ap = argparse.ArgumentParser(prog="sampler_proc.py")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--netns", default=None)
    ap.add_argument("--port", type=int, action="append", default=[])
    ap.add_argument("--leak-threshold", type=float, default=DEFAULT_THRESHOLD_S)
    ap.add_argument("--cpu-budget", type=float, default=2.0, help="percent of one core")
    ap.add_argument("--parent", type=int, default=None, help="end if this pid is gone")
    args = ap.parse_args(argv)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if args.parent is not None and os.getppid() != args.parent:
        return 0  # the parent died before the death signal was armed
    # SIGTERM stops the schedule (never cuts a line short): one last sample, the end
    with Sampler(args.netns, args.port, args.interval, args.leak_threshold,
                 cpu_budget=args.cpu_budget / 100, fold=False) as sampler, \
            Schedule(args.interval, last_on_stop=True) as schedule, \
            stop_on_signals(schedule, (signal.SIGTERM,)):
        if early:
            schedule.stop()
        for sample in samples(sampler, schedule):
            try:
                sys.stdout.write(json.dumps(sample, separators=(",", ":")) + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
