"""Cost of the sampler at 10 Hz over ~100,000 sockets (mostly TIME_WAIT), under churn.

In a private namespace `sl-bsamp-<pid>` (tcp_tw_reuse=0, ip_local_port_range
"10000 65000", server ports 5000-5003 so 4-tuples do not run out) a child process makes
short connections (the client closes first, so each leaves a TIME_WAIT): as fast as it
can until --sockets TIME_WAIT exist, then --churn connections/s for the whole run, which
holds the population (TIME_WAIT lasts 60 s: 1,700/s keeps ~100,000).

The parent then samples with harness.observe.sampler.Sampler at --hz for --duration
seconds and reports, per sample, CPU (time.process_time deltas: user + system, so the
kernel's work for the dump is included), the same plus json.dumps (what `record` adds),
and RSS (first, max, last; the growth over the second half shows whether it is flat).
In the same run it times a bare kernel dump of the same sockets (received, discarded)
and a full SocketRecord decode, and prints the sampler's cost as ratios of those.

With --port P (repeatable) the sampler is port-filtered, as the Locust plugin's default
is: the states are then counted for the connections to or from those ports only (the
churn spreads over server ports 5000-5003, so --port 5000 holds a quarter of them).

Usage (root): python3 benchmarks/bench_sampler.py [--duration 60] [--sockets 100000]
              [--churn 1700] [--hz 10] [--port P]...
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import psutil

from harness.kernel import inet_diag as wire
from harness.kernel.netlink import ends_with_done
from harness.kernel.netns import entered
from harness.kernel.sockdiag import SockDiag
from harness.kernel.tcp_states import NOT_TIME_WAIT
from harness.observe.sampler import Sampler

SERVER_PORTS = (5000, 5001, 5002, 5003)


def churn(ns: str, rate, made, stop) -> None:
    """Child: connect/accept/close in a loop; ``rate.value`` 0 = as fast as possible."""
    with entered(ns):
        listeners = []
        for port in SERVER_PORTS:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(4096)
            listeners.append(s)
        i = 0
        start, base = time.monotonic(), 0
        current = rate.value
        while not stop.is_set():
            if rate.value != current:
                current, start, base = rate.value, time.monotonic(), i
            k = i % len(SERVER_PORTS)
            c = socket.create_connection(("127.0.0.1", SERVER_PORTS[k]))
            a, _ = listeners[k].accept()
            c.close()
            a.close()
            i += 1
            if i % 100 == 0:
                made.value = i
                if current:
                    delay = start + (i - base) / current - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)


def bare_dump(diag: SockDiag) -> None:
    def consume(buf, n, result):
        if ends_with_done(buf, n):
            result.done = True

    diag.scan(consume)


def bare_open_dump(diag: SockDiag) -> None:
    """The states but TIME_WAIT, AF_INET only, received and discarded: the kernel still
    walks every established-hash bucket, TIME_WAIT included, to find them."""
    def consume(buf, n, result):
        wire.walk(buf, n, lambda b, o: None, result)

    diag.scan(consume, NOT_TIME_WAIT, families=(socket.AF_INET,))


def cpu_of(fn, repeat: int) -> float:
    """Median process CPU seconds of ``fn()``."""
    runs = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        runs.append(time.process_time() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0, help="seconds sampled (60)")
    ap.add_argument("--sockets", type=int, default=100_000, help="TIME_WAIT to build first")
    ap.add_argument("--churn", type=float, default=1700.0, help="connections/s during the run")
    ap.add_argument("--hz", type=float, default=10.0, help="samples per second (10)")
    ap.add_argument("--port", type=int, action="append", default=[],
                    help="sample with this port filter (repeatable; default: every socket)")
    args = ap.parse_args()
    if os.geteuid():
        sys.exit("bench_sampler: needs root (a private network namespace)")
    ns = f"sl-bsamp-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    stop = mp.Event()
    proc = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        for key, value in (("net.ipv4.tcp_tw_reuse", "0"),
                           ("net.ipv4.ip_local_port_range", "10000 65000")):
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}"],
                           check=True)
        rate, made = mp.Value("d", 0.0), mp.Value("q", 0)
        proc = mp.get_context("fork").Process(target=churn, args=(ns, rate, made, stop))
        proc.start()
        with SockDiag(ns) as diag:
            t0 = time.monotonic()
            while True:
                tw = diag.count()["TIME_WAIT"]
                print(f"  building: {tw} TIME_WAIT, {made.value} connections, "
                      f"{time.monotonic() - t0:.0f} s", file=sys.stderr)
                if tw >= args.sockets or not proc.is_alive():
                    break
                time.sleep(2)
            rate.value = args.churn
            report(ns, diag, args)
    finally:
        stop.set()
        if proc is not None:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        subprocess.run(["ip", "netns", "del", ns], check=False)


def report(ns: str, diag: SockDiag, args) -> None:
    me = psutil.Process()
    period = 1.0 / args.hz
    cpu, cpu_json, rss, sizes = [], [], [], []
    with Sampler(ns, ports=args.port, interval=period) as sampler:
        start = time.monotonic()
        k = 0
        while time.monotonic() - start < args.duration:
            t = time.process_time()
            s = sampler.sample()
            mid = time.process_time()
            line = json.dumps(s)
            end = time.process_time()
            cpu.append(mid - t)
            cpu_json.append(end - t)
            sizes.append(len(line))
            rss.append(me.memory_info().rss)
            k += 1
            if k % int(10 * args.hz) == 0:
                print(f"  sampling: {k} samples, {s['states']['TIME_WAIT']} TIME_WAIT, "
                      f"rss {rss[-1] / 2**20:.1f} MiB", file=sys.stderr)
            time.sleep(max(0.0, start + k * period - time.monotonic()))
        final = s
    total = sum(final["states"].values())
    t_bare = cpu_of(lambda: bare_dump(diag), 9)
    t_records = cpu_of(lambda: diag.records(), 5)
    t_open = cpu_of(lambda: bare_open_dump(diag), 9)
    med, mean = statistics.median(cpu), statistics.fmean(cpu)
    half = rss[len(rss) // 2:]
    print(f"\nsockets at the end: {total} ({final['states']['TIME_WAIT']} TIME_WAIT), "
          f"churn {args.churn:g}/s, {len(cpu)} samples at {args.hz:g} Hz over "
          f"{args.duration:g} s, port filter {args.port or 'none'}")
    print("| measure | value | x bare dump |")
    print("|---|---|---|")
    print(f"| bare kernel dump, all sockets (CPU ms) | {t_bare * 1000:.1f} | 1.00 |")
    print(f"| full SocketRecord decode (CPU ms) | {t_records * 1000:.1f} | "
          f"{t_records / t_bare:.2f} |")
    print(f"| bare dump of the other states, AF_INET (CPU ms) | {t_open * 1000:.1f} | "
          f"{t_open / t_bare:.2f} |")
    print(f"| sample, median (CPU ms) | {med * 1000:.1f} | {med / t_bare:.2f} |")
    print(f"| sample, mean / p95 / max (CPU ms) | {mean * 1000:.1f} / "
          f"{sorted(cpu)[int(0.95 * len(cpu))] * 1000:.1f} / {max(cpu) * 1000:.1f} | "
          f"{mean / t_bare:.2f} |")
    print(f"| sample + json.dumps, mean (CPU ms) | {statistics.fmean(cpu_json) * 1000:.1f} | "
          f"{statistics.fmean(cpu_json) / t_bare:.2f} |")
    print(f"| share of one core at {args.hz:g} Hz (mean x Hz) | "
          f"{100 * mean * args.hz:.1f}% | |")
    print(f"| JSON line, mean bytes | {statistics.fmean(sizes):.0f} | |")
    print(f"| RSS first / max / last (MiB) | {rss[0] / 2**20:.1f} / {max(rss) / 2**20:.1f} / "
          f"{rss[-1] / 2**20:.1f} | |")
    print(f"| RSS growth over the second half (MiB) | {(half[-1] - half[0]) / 2**20:+.1f} | |")


if __name__ == "__main__":
    main()
