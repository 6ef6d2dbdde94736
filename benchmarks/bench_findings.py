"""What the findings add to a sample: the Evidence fold and the rules, against the sample.

Every sample is folded into the run's Evidence as it comes (record, the Locust
collector, a file being read) and the rules run over it at the end, at each web UI poll
and in check/report. This measures, in one run: the CPU of one Sampler.sample() of a
private namespace holding the sockets of the run (a listener with N CLOSE_WAIT sockets,
D destinations, as many TIME_WAIT), the CPU of folding that sample into an Evidence
(Evidence.add) and into a RunSummary (which folds both), and of the rules
(findings()), and prints each as a ratio of the sample. It also folds an hour of samples
at 10 Hz (36,000) and prints the Evidence's memory before and after (tracemalloc),
to show it does not grow with the run.

Usage (root): python3 benchmarks/bench_findings.py [--close-wait 1000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness.kernel.netns import entered
from harness.lab import Lab
from harness.observe.evidence import Evidence
from harness.observe.findings import findings
from harness.observe.sampler import Sampler
from harness.observe.summary import RunSummary


def cpu(fn, rounds: int) -> float:
    """Median CPU seconds of ``fn()`` over ``rounds`` calls."""
    out = []
    for _ in range(rounds):
        t = time.process_time()
        fn()
        out.append(time.process_time() - t)
    return statistics.median(out)


def build(ns: str, close_wait: int, destinations: int) -> list[socket.socket]:
    """A listener whose accepted sockets stay in CLOSE_WAIT (the clients closed, the
    server never does), and client connections to ``destinations`` listeners."""
    keep = []
    with entered(ns):
        lst = socket.create_server(("127.0.0.1", 7000), backlog=4096)
        keep.append(lst)
        for _ in range(close_wait):
            c = socket.create_connection(("127.0.0.1", 7000))
            s, _ = lst.accept()
            c.close()
            keep.append(s)
        for d in range(destinations):
            srv = socket.create_server(("127.0.0.1", 7100 + d))
            keep += [srv, socket.create_connection(("127.0.0.1", 7100 + d))]
    return keep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--close-wait", type=int, default=1000)
    ap.add_argument("--destinations", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    with Lab.single() as lab:
        keep = build(lab.host.netns, args.close_wait, args.destinations)
        try:
            with Sampler(lab.host.netns, interval=0.1, cpu_budget=1.0,
                         owner_after_s=0) as sampler:
                sample = sampler.sample()
                sample_s = cpu(sampler.sample, args.rounds)
        finally:
            for s in keep:
                s.close()
    print(f"a sample: {len(sample['close_wait'])} CLOSE_WAIT rows, "
          f"{len(sample['listeners'])} listeners, "
          f"{len(sample['ephemeral']['by_destination'])} destinations")

    def at(i):  # the same sample, 0.1 s later each time
        return {**sample, "time": sample["time"] + 0.1 * i}

    n = iter(range(10**9))
    ev, run = Evidence(), RunSummary()
    fold_s = cpu(lambda: ev.add(at(next(n))), args.rounds)
    summary_s = cpu(lambda: run.add(at(next(n))), args.rounds)
    rules_s = cpu(lambda: findings(ev), args.rounds)
    print(f"Sampler.sample()      {sample_s * 1e3:8.3f} ms CPU (median of {args.rounds})")
    for name, value in (("Evidence.add", fold_s), ("RunSummary.add", summary_s),
                        ("findings()", rules_s)):
        print(f"{name:<21} {value * 1e3:8.3f} ms CPU  = {value / sample_s:6.1%} of a sample")
    tracemalloc.start()
    hour = Evidence()
    for i in range(600):
        hour.add(at(i))
    first, _ = tracemalloc.get_traced_memory()
    for i in range(600, 36000):
        hour.add(at(i))
    last, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"Evidence memory: {first / 1024:.0f} KiB after 1 min of samples at 10 Hz, "
          f"{last / 1024:.0f} KiB after 1 h ({last / first:.2f}x)")


if __name__ == "__main__":
    main()
