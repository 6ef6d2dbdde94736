"""`socklife exporter` against node_exporter's tcpstat collector, CPU per scrape and sample.

In a private namespace `sl-bexp-<pid>` holding --sockets TIME_WAIT (default 30,000;
tcp_tw_reuse=0, topped up before each round, since TIME_WAIT lasts 60 s) both run on
127.0.0.1 with a free port:

  node_exporter   prometheus-node-exporter --collector.disable-defaults
                  --collector.tcpstat: a netlink dump of the sockets at every scrape
  socklife        socklife exporter (its default --interval 1): a sampling thread takes
                  a sample every interval; a scrape formats the latest one

Each of --rounds rounds (they alternate, and the medians are quoted) measures:
  node_exporter CPU per scrape     --scrapes back-to-back scrapes, its user + system time
                                   (/proc/PID/stat) over them, divided by their number
  socklife CPU per sample          its sampling thread's time (/proc/PID/task/TID/stat)
                                   over --window seconds, from the end of one sample to
                                   the end of another, divided by the samples between
  socklife CPU per scrape          the process's time over --scrapes scrapes less its
                                   sampling thread's, divided by their number
and the wall time a scrape takes as the scraper sees it. The next lines put the two on
one clock: CPU per second of running at a --scrape-interval scrape (Prometheus's
typical 15 s), node_exporter paying per scrape, socklife per sample and per scrape.

With --concurrent N (0, the default, skips it; docs/performance.md quotes 50 with
--sockets 5000: at 30,000 node_exporter's dump per scrape takes both cores), N scrapers
(threads here) scrape each server together every --every seconds (1) for --concurrent-s
seconds (20), all N connecting at the same instant each time: the scrapes answered and
failed (10 s timeout), the wall time of each (median, p99, max, how many over 1 s), p99
against node_exporter's. A third server joins that round: the same sampler and
collector served by prometheus_client's start_http_server (what `socklife exporter`
served with before its own server), so the two differ only in the server.

Usage (root): python3 benchmarks/bench_exporter.py [--sockets 30000] [--rounds 3]
              [--scrapes 50] [--window 10] [--scrape-interval 15]
              [--concurrent 0] [--concurrent-s 20] [--every 1] [--node-exporter PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

from bench_common import (
    TIME_WAIT_SYSCTLS,
    TimeWait,
    exit_on_sigterm,
    machine_load,
    private_netns,
    require_root,
)

from harness.kernel.netns import entered

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
TICK_S = 1 / os.sysconf("SC_CLK_TCK")
SERVER_PORTS = (7001, 7002)
SOCKLIFE_INTERVAL = 1.0  # the exporter's default


# The exporter as it was served before harness/sinks/http_server.py: same sampler and
# collector, prometheus_client's start_http_server (backlog 5, no client timeout).
PROMETHEUS_CLIENT_SERVER = """
import sys, threading
from prometheus_client import CollectorRegistry, start_http_server
from harness.commands.exporter import Latest
from harness.observe.loop import samples
from harness.observe.sampler import Sampler
from harness.sinks.prometheus import SamplerCollector
from harness.sinks.sample_api import SampleRing
latest = Latest(Sampler(fold=False), 1.0, SampleRing(1))
ticks = samples(latest.sampler, latest.schedule)
latest.keep(next(ticks))
registry = CollectorRegistry(auto_describe=False)
registry.register(SamplerCollector(latest))
start_http_server(int(sys.argv[1]), "127.0.0.1", registry=registry)
latest.run(ticks)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(stat_path: str) -> float:
    """utime + stime of /proc/PID/stat or /proc/PID/task/TID/stat, in seconds."""
    with open(stat_path) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def threads_cpu(pid: int) -> dict[int, float]:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that just ended
            out[int(tid)] = cpu_s(f"/proc/{pid}/task/{tid}/stat")
    return out


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def wait_up(port: int, proc: subprocess.Popen, what: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        try:
            return scrape(port)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench_exporter: {what} did not come up on port {port}"
                                 ) from None
            time.sleep(0.1)


def scrapes(port: int, n: int) -> list[float]:
    """Wall seconds of ``n`` back-to-back scrapes."""
    walls = []
    for _ in range(n):
        t0 = time.perf_counter()
        scrape(port)
        walls.append(time.perf_counter() - t0)
    return walls


def sample_time(port: int) -> float:
    m = re.search(r"^socklife_sample_timestamp_seconds (\S+)$", scrape(port), re.M)
    return float(m.group(1))


def next_sample(port: int) -> float:
    """Wait until the exporter finishes a new sample; its time."""
    first = sample_time(port)
    while (t := sample_time(port)) == first:
        time.sleep(0.005)
    return t


def node_round(port: int, proc: subprocess.Popen, n: int) -> tuple[float, float]:
    """(CPU s per scrape, median wall s) of node_exporter."""
    before = cpu_s(f"/proc/{proc.pid}/stat")
    walls = scrapes(port, n)
    return (cpu_s(f"/proc/{proc.pid}/stat") - before) / n, statistics.median(walls)


def socklife_round(port: int, proc: subprocess.Popen, n: int,
                   window: float) -> tuple[float, int, float, float]:
    """(CPU s per sample, samples, CPU s per scrape, median wall s) of socklife."""
    t_a = next_sample(port)
    threads_a = threads_cpu(proc.pid)
    time.sleep(window)
    t_b = next_sample(port)
    threads_b = threads_cpu(proc.pid)
    deltas = {tid: threads_b.get(tid, 0.0) - cpu for tid, cpu in threads_a.items()}
    sampler_tid = max(deltas, key=deltas.get)  # the only thread busy while nobody scrapes
    samples = round((t_b - t_a) / SOCKLIFE_INTERVAL)
    per_sample = deltas[sampler_tid] / samples
    total_a = cpu_s(f"/proc/{proc.pid}/stat")
    sampler_a = cpu_s(f"/proc/{proc.pid}/task/{sampler_tid}/stat")
    walls = scrapes(port, n)
    total = cpu_s(f"/proc/{proc.pid}/stat") - total_a
    sampler = cpu_s(f"/proc/{proc.pid}/task/{sampler_tid}/stat") - sampler_a
    return per_sample, samples, (total - sampler) / n, statistics.median(walls)


def concurrent_scrapes(port: int, n: int, seconds: float, every: float
                       ) -> tuple[list[float], list[str]]:
    """``n`` threads scrape ``port`` together every ``every`` s for ``seconds``: the wall
    seconds of each scrape answered, and the failures."""
    walls: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    ticks = int(seconds / every)
    start = time.monotonic() + 1.0  # every thread started before the first tick

    def scraper() -> None:
        for k in range(ticks):
            time.sleep(max(0.0, start + k * every - time.monotonic()))
            t0 = time.perf_counter()
            try:
                scrape(port)
            except OSError as exc:
                with lock:
                    failures.append(repr(exc))
                continue
            with lock:
                walls.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=scraper, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return walls, failures


def concurrency_table(results: dict[str, tuple[list[float], list[str]]], n: int,
                      seconds: float, every: float) -> None:
    print(f"\n{n} scrapers together every {every:g} s for {seconds:g} s (each scrape's wall "
          "time as its scraper saw it)\n")
    print(f"| {'server':<18} | {'answered':>8} | {'failed':>6} | {'p50 ms':>7} | "
          f"{'p99 ms':>7} | {'max ms':>7} | {'> 1 s':>5} | {'p99 x node_exporter':>19} |")
    print(f"|{'-' * 20}|{'-' * 9}:|{'-' * 7}:|{'-' * 8}:|{'-' * 8}:|{'-' * 8}:|{'-' * 6}:|"
          f"{'-' * 20}:|")
    p99s = {}
    for name, (walls, failures) in results.items():
        walls = sorted(walls) or [float("nan")]
        p99s[name] = walls[min(len(walls) - 1, int(0.99 * len(walls)))]
        print(f"| {name:<18} | {len(walls):8} | {len(failures):6} | "
              f"{statistics.median(walls) * 1e3:7.1f} | {p99s[name] * 1e3:7.1f} | "
              f"{walls[-1] * 1e3:7.1f} | {sum(w > 1 for w in walls):5} | "
              f"{p99s[name] / p99s['node_exporter']:19.2f} |")
        for failure in sorted(set(failures))[:3]:
            print(f"  {name} failed: {failure}", file=sys.stderr)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sockets", type=int, default=30000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scrapes", type=int, default=50)
    ap.add_argument("--window", type=float, default=10.0, help="seconds of sampling timed")
    ap.add_argument("--scrape-interval", type=float, default=15.0)
    ap.add_argument("--concurrent", type=int, default=0, help="scrapers at once (0: none)")
    ap.add_argument("--concurrent-s", type=float, default=20.0)
    ap.add_argument("--every", type=float, default=1.0, help="seconds between their scrapes")
    ap.add_argument("--node-exporter", default=NODE_EXPORTER, metavar="PATH",
                    help="its binary (a Debian package unpacked with dpkg-deb -x, say)")
    args = ap.parse_args()
    require_root("bench_exporter.py", "it builds sockets in a private namespace")
    if not shutil.which(args.node_exporter):
        sys.exit(f"bench_exporter.py: {args.node_exporter} is not installed "
                 "(Debian: apt-get install prometheus-node-exporter)")
    exit_on_sigterm()
    print(machine_load(), file=sys.stderr)
    rows: dict[str, list[float]] = {k: [] for k in (
        "node_cpu", "node_wall", "sl_sample", "sl_samples", "sl_scrape", "sl_wall", "tw")}
    procs = []
    with private_netns("bexp", TIME_WAIT_SYSCTLS) as ns, entered(ns):
        print(f"building {args.sockets} TIME_WAIT in {ns} ...", file=sys.stderr)
        population = TimeWait(SERVER_PORTS)
        population.add(args.sockets, keep=100)
        try:
            node_port, sl_port = free_port(), free_port()
            node = subprocess.Popen([args.node_exporter, "--collector.disable-defaults",
                                     "--collector.tcpstat",
                                     f"--web.listen-address=127.0.0.1:{node_port}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(node)
            sl = subprocess.Popen([sys.executable, "-m", "harness", "exporter", "--listen",
                                   f"127.0.0.1:{sl_port}"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
            procs.append(sl)
            if args.concurrent:
                pc_port = free_port()
                pc = subprocess.Popen([sys.executable, "-c", PROMETHEUS_CLIENT_SERVER,
                                       str(pc_port)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
                procs.append(pc)
                wait_up(pc_port, pc, "prometheus_client's server")
            page = wait_up(node_port, node, "node_exporter")
            if 'node_tcp_connection_states{state="time_wait"}' not in page:
                raise SystemExit("bench_exporter: node_exporter shows no tcpstat metrics")
            wait_up(sl_port, sl, "socklife exporter")
            for r in range(args.rounds):
                rows["tw"].append(population.top_up(args.sockets))
                cpu, wall = node_round(node_port, node, args.scrapes)
                rows["node_cpu"].append(cpu)
                rows["node_wall"].append(wall)
                rows["tw"].append(population.top_up(args.sockets))
                per_sample, n, per_scrape, wall = socklife_round(sl_port, sl, args.scrapes,
                                                                 args.window)
                rows["sl_sample"].append(per_sample)
                rows["sl_samples"].append(n)
                rows["sl_scrape"].append(per_scrape)
                rows["sl_wall"].append(wall)
                print(f"  round {r + 1}/{args.rounds}: node_exporter {cpu * 1e3:.1f} ms CPU"
                      f" a scrape; socklife {per_sample * 1e3:.1f} ms a sample ({n}),"
                      f" {per_scrape * 1e3:.1f} ms a scrape", file=sys.stderr)
            together = {}
            if args.concurrent:
                for name, port in (("node_exporter", node_port),
                                   ("prometheus_client", pc_port),
                                   ("socklife exporter", sl_port)):
                    population.top_up(args.sockets)
                    print(f"  {args.concurrent} scrapers on {name} for "
                          f"{args.concurrent_s:g} s ...", file=sys.stderr)
                    together[name] = concurrent_scrapes(port, args.concurrent,
                                                        args.concurrent_s, args.every)
        finally:
            for p in procs:
                stop(p)
            population.close()
    print(machine_load(), file=sys.stderr)

    med = {k: statistics.median(v) for k, v in rows.items()}
    node_cpu = med["node_cpu"]
    print(f"\n{args.sockets} TIME_WAIT ({min(rows['tw'])}-{max(rows['tw'])} at the rounds' "
          f"starts), medians of {args.rounds} rounds, {args.scrapes} scrapes each; socklife "
          f"samples every {SOCKLIFE_INTERVAL:g} s ({min(rows['sl_samples'])}-"
          f"{max(rows['sl_samples'])} samples a window)\n")
    print(f"| {'measure':<44} | {'CPU ms':>7} | {'wall ms':>7} | {'x node_exporter':>15} |")
    print(f"|{'-' * 46}|{'-' * 8}:|{'-' * 8}:|{'-' * 16}:|")
    for label, cpu, wall in (
            ("node_exporter tcpstat, per scrape", node_cpu, med["node_wall"]),
            ("socklife exporter, per sample (its thread)", med["sl_sample"], None),
            ("socklife exporter, per scrape", med["sl_scrape"], med["sl_wall"])):
        shown = f"{wall * 1e3:7.1f}" if wall is not None else f"{'-':>7}"
        print(f"| {label:<44} | {cpu * 1e3:7.2f} | {shown} | {cpu / node_cpu:15.2f} |")
    s = args.scrape_interval
    node_rate = node_cpu / s
    sl_rate = med["sl_sample"] / SOCKLIFE_INTERVAL + med["sl_scrape"] / s
    print(f"\nper second of running, scraped every {s:g} s: node_exporter "
          f"{node_rate * 1e3:.2f} ms CPU/s ({100 * node_rate:.2f}% of a core), socklife "
          f"{sl_rate * 1e3:.2f} ms CPU/s ({100 * sl_rate:.2f}% of a core): "
          f"{sl_rate / node_rate:.1f}x")
    if together:
        concurrency_table(together, args.concurrent, args.concurrent_s, args.every)


if __name__ == "__main__":
    main()
