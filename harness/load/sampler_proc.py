"""The sampler as a child process: one JSON sample per line on stdout.

Run by the Locust process that samples its host (``python -m harness.load.sampler_proc
--interval S [--netns NS] [--port P]...``). A process of its own keeps the decoding of
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
import time

from harness.observe.snapshot import take

PR_SET_PDEATHSIG = 1


class _Stop(Exception):
    """Raised by SIGTERM only while sleeping: never in the middle of a line."""


def read(netns: str | None, ports: tuple[int, ...], interval: float) -> dict:
    sample = take(netns, ports)
    sample["interval_s"] = interval
    sample["ports"] = list(ports)
    return sample


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.load.sampler_proc")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--netns", default=None)
    ap.add_argument("--port", type=int, action="append", default=[])
    ap.add_argument("--parent", type=int, default=None, help="end if this pid is gone")
    args = ap.parse_args(argv)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if args.parent is not None and os.getppid() != args.parent:
        return 0  # the parent died before the death signal was armed
    stopping, sleeping = [], []

    def on_term(*_):
        stopping.append(True)
        if sleeping:
            raise _Stop

    signal.signal(signal.SIGTERM, on_term)
    ports = tuple(args.port)
    next_at = time.monotonic()
    while True:
        line = json.dumps(read(args.netns, ports, args.interval))
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            return 0
        if stopping:
            return 0
        next_at = max(next_at + args.interval, time.monotonic() - args.interval)
        delay = next_at - time.monotonic()
        sleeping.append(True)
        try:
            if delay > 0 and not stopping:
                time.sleep(delay)
        except _Stop:
            pass  # one last sample, then the end
        finally:
            sleeping.clear()


if __name__ == "__main__":
    sys.exit(main())
