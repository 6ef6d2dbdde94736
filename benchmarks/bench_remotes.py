"""The cost of --socklife-remote on the Locust process that polls: 0, 1 and 10 remotes.

Ten fake exporters (tests/fake_remote.py, each a process of its own on 127.0.0.1,
serving the recorded samples of tests/fixtures/findings/close_wait_leak.jsonl, 4.6 kB
each, one new sample per interval) stand for ten servers under test. A local Locust run
of benchmarks/idle_locustfile.py (one User that only waits, so the plugin's work is
nearly all the process does) polls them at --socklife-interval, writes the TCP CSV and
samples its own host (in a child process, not counted). Measured: the Locust process's
own CPU (user + system, psutil) from 5 s after start to 2 s before the end, as a share
of one core; each variant runs in the same round, so the ratios compare like with like.
Each run is also checked: every remote's rows in the CSV, a total CLOSE_WAIT of 20 per
remote, and each remote's rows spanning the run. Last, the web UI's chart data for ten
hosts with an hour of history each (the per-host bound reached): the time to build the
total's series and one host's.

Usage: python benchmarks/bench_remotes.py [--duration 25] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = os.path.join(ROOT, "tests", "fake_remote.py")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "findings", "close_wait_leak.jsonl")
LOCUSTFILE = os.path.join(ROOT, "benchmarks", "idle_locustfile.py")
VARIANTS = ((0, 1.0), (1, 1.0), (10, 1.0), (10, 0.2))  # (remotes, interval)


@contextlib.contextmanager
def fakes(n: int, interval: float):
    procs = [subprocess.Popen([sys.executable, FAKE, FIXTURE, "--interval", str(interval)],
                              stdout=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        yield [f"http://127.0.0.1:{int(p.stdout.readline())}" for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
            p.stdout.close()


def one_run(remotes: int, interval: float, duration: int, tmp: str) -> tuple[float, str]:
    """(CPU share of one core, what was wrong with the run's figures or "")."""
    with fakes(remotes, interval) as urls:
        prefix = os.path.join(tmp, f"r{remotes}-{interval}")
        args = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "-u", "1",
                "-r", "1", "-t", f"{duration}s", "--only-summary", "--csv", prefix,
                "--socklife-interval", str(interval), "--host", "tcp://127.0.0.1:9"]
        for i, url in enumerate(urls):
            args += ["--socklife-remote", f"s{i}={url}"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, cwd=tmp)
        ps = psutil.Process(proc.pid)
        time.sleep(5)
        c0, t0 = ps.cpu_times(), time.monotonic()
        time.sleep(duration - 7)
        c1, t1 = ps.cpu_times(), time.monotonic()
        _out, err = proc.communicate(timeout=120)
    share = (c1.user + c1.system - c0.user - c0.system) / (t1 - t0)
    return share, problems(f"{prefix}_tcp.csv", remotes, duration, interval, err)


def problems(path: str, remotes: int, duration: int, interval: float, err: str) -> str:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    hosts = {r["host"] for r in rows}
    wrong = []
    for i in range(remotes):
        own = [r for r in rows if r["host"] == f"s{i}"]
        span = float(own[-1]["time"]) - float(own[0]["time"]) if own else 0
        if span < duration - 4 * interval - 3:
            wrong.append(f"s{i} spans {span:.1f} s")
    last_total = [r for r in rows if r["host"] == "total"][-1]
    if int(last_total["CLOSE_WAIT"]) < 20 * remotes:
        wrong.append(f"total CLOSE_WAIT {last_total['CLOSE_WAIT']} < {20 * remotes}")
    if len(hosts) != remotes + 2:
        wrong.append(f"hosts {sorted(hosts)}")
    if "Traceback" in err:
        wrong.append("a traceback")
    return "; ".join(wrong)


def chart_cost() -> tuple[float, float, int]:
    """(ms to build and JSON-encode the web UI's total series, ms for one host's, points
    in the total) of ten hosts with full histories (1,800 points each: the bound),
    medians of 5."""
    sys.path.insert(0, ROOT)
    from harness.kernel.tcp_states import STATES
    from harness.load.collector import Collector
    from harness.load.webui import series

    c = Collector()
    for t in range(3600):  # an hour at 1 s: each history thinned to its bound
        for h in range(10):
            c.add(f"k{h}", f"s{h}", {"time": 1000.0 + t + h / 10,
                                     "states": dict.fromkeys(STATES, t % 97 + h)})

    def ms(fn) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    return (ms(lambda: json.dumps(series(c, "total"))), ms(lambda: json.dumps(series(c, "s3"))),
            len(series(c, "total")["points"]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=25)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    shares: dict = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="sl-bremote-") as tmp:
        for r in range(args.runs):
            for remotes, interval in VARIANTS:
                share, wrong = one_run(remotes, interval, args.duration, tmp)
                shares[remotes, interval].append(share)
                print(f"round {r + 1}: {remotes:2d} remotes at {interval:g} s: "
                      f"{100 * share:.2f}% of a core{'; WRONG: ' + wrong if wrong else ''}",
                      flush=True)
    base = statistics.median(shares[0, 1.0])
    print("\nmedian over runs: the Locust process's CPU, share of one core")
    for (remotes, interval), values in shares.items():
        med = statistics.median(values)
        polls = remotes / interval
        extra = (med - base) / polls * 1000 if polls else 0.0
        print(f"  {remotes:2d} remotes at {interval:g} s: {100 * med:5.2f}%  "
              f"(x{med / base:.2f} of no remote; {extra:.2f} ms CPU per poll)")
    total_ms, host_ms, points = chart_cost()
    print(f"\nweb UI chart data, 10 hosts x an hour: total {total_ms:.0f} ms ({points} points), "
          f"one host {host_ms:.1f} ms (the tab asks every 2 s while it is open)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
