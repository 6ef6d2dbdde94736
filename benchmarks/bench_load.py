"""Short connections per second through Locust (locustfiles/short_tcp.py, --processes 2)
against `wrk -H 'Connection: close'`, both to the same nginx, and the sampler's cost.

Like with like: short_tcp.py sends the same HTTP/1.1 GET with `Connection: close`
(`--request http --closer server`) that wrk sends, to the same nginx (one worker
process), so each connection is one request and nginx closes first in both. wrk runs
one thread, 10 connections; Locust 10 Users over 2 worker processes. The sampler's cost
is Locust's rate with the plugin sampling at 10 Hz (`--socklife-interval 0.1`) against
the same run with sampling once an hour (a sample at the start and one at the stop, so
effectively off), in the same rounds; and, measured during each sampled run, the CPU
the sampler child takes while it samples (its user + system time, read every 0.1 s,
from 2 s after it started, so its imports are left out) as a share of the machine's
cores: on cores the load saturates, that is what it takes from the load,
measured far more precisely than a few percent of a throughput that moves ±8% from
run to run. As root everything runs in a throw-away namespace
sl-bconn-<pid> (bench_connect.py's `Place`), whose TIME_WAIT sockets vanish with it.

Usage: python benchmarks/bench_load.py [--duration S] [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import psutil
from bench_connect import NGINX_CONF, Place, _interrupt, _stop

from harness.observe.sampler import Sampler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NGINX_PORT = 7002
VARIANTS = {"sampler off": ("3600", None), "sampler 10 Hz, port filter": ("0.1", None),
            "sampler 10 Hz, all ports": ("0.1", "0")}


def start_nginx(place: Place, tmp: str) -> subprocess.Popen:
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(tmp=tmp, port=NGINX_PORT))
    nginx = subprocess.Popen(place.cmd(["nginx", "-p", tmp, "-c", conf]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    place.wait_listening(NGINX_PORT, nginx)
    return nginx


def wrk_rate(place: Place, duration: int) -> float:
    out = subprocess.run(place.cmd([
        "wrk", "-t1", "-c10", f"-d{duration}s", "-H", "Connection: close",
        f"http://127.0.0.1:{NGINX_PORT}/"]), check=True, capture_output=True, text=True).stdout
    return float(out.split("Requests/sec:")[1].split()[0])


def locust_cmd(duration: int, interval: str, *extra: str) -> list[str]:
    """short_tcp.py through Locust as every run here makes it: 10 Users over 2 worker
    processes, `Connection: close` requests to nginx, the plugin sampling every
    ``interval`` seconds."""
    return [sys.executable, "-m", "locust", "-f",
            os.path.join(ROOT, "locustfiles", "short_tcp.py"), "--headless", "-u", "10",
            "-r", "10", "-t", f"{duration}s", "--processes", "2",
            "--host", f"tcp://127.0.0.1:{NGINX_PORT}", "--request", "http",
            "--closer", "server", "--socklife-interval", interval,
            "--only-summary", "--loglevel", "WARNING", *extra]


def _read_sampler_cpu(root: int, seen: dict[int, list[tuple[float, float]]]) -> None:
    """Append to ``seen[pid]`` (time, CPU seconds used so far: user + system) for each
    sampler child (harness/load/sampler_proc.py) below process ``root``."""
    try:
        below = psutil.Process(root).children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for child in below:
        try:
            if any("sampler_proc" in part for part in child.cmdline()):
                t = child.cpu_times()
                seen.setdefault(child.pid, []).append((time.monotonic(), t.user + t.system))
        except psutil.Error:
            continue


def _steady_cores(readings: list[tuple[float, float]], skip_s: float = 2.0) -> float | None:
    """CPU cores used from ``skip_s`` after the first reading (the imports and the first
    samples are done by then) to the last one."""
    start = next(((t, c) for t, c in readings if t - readings[0][0] >= skip_s), None)
    if start is None or readings[-1][0] - start[0] < 1.0:
        return None
    return (readings[-1][1] - start[1]) / (readings[-1][0] - start[0])


def locust_rate(place: Place, duration: int, interval: str, port: str | None,
                tmp: str) -> tuple[float, int, float | None]:
    """(connections per second, samples taken, CPU cores the sampler child used while
    sampling, start-up excluded: read every 0.1 s); ``port`` "0": sample every socket."""
    prefix = os.path.join(tmp, f"load-{interval}-{port}")
    with open(prefix + ".err", "w") as err:
        proc = subprocess.Popen(place.cmd(locust_cmd(
            duration, interval, *(("--socklife-port", port) if port else ()),
            "--csv", prefix, "--json-file", prefix)),
            stdout=subprocess.DEVNULL, stderr=err, cwd=tmp)
        seen: dict[int, list[tuple[float, float]]] = {}
        while proc.poll() is None:
            _read_sampler_cpu(proc.pid, seen)
            time.sleep(0.1)
    if proc.returncode:
        with open(prefix + ".err") as err:
            raise subprocess.CalledProcessError(proc.returncode, "locust", stderr=err.read())
    with open(prefix + ".json") as f:
        stats = {s["name"]: s for s in json.load(f)}
    connect = stats["connect"]
    if connect["num_failures"]:
        print(f"  locust: {connect['num_failures']} failed connects", file=sys.stderr)
    rate = connect["num_requests"] / (connect["last_request_timestamp"] - connect["start_time"])
    with open(prefix + "_tcp.csv") as f:
        samples = sum(1 for _ in csv.DictReader(f))
    cores = [_steady_cores(r) for r in seen.values()]
    return rate, samples, (sum(cores) if cores and None not in cores else None)


def sampler_cpu(place: Place, ports, count: int = 20) -> tuple[float, int]:
    """(CPU ms per sample, sockets seen): what the child sampler does each tick at 10 Hz,
    timed here right after a load run, while its TIME_WAIT sockets are still there."""
    with Sampler(place.netns, ports, 0.1) as sampler:
        sampler.sample()  # the first sample also looks up the listener's owner
        cpu = 0.0
        for _ in range(count):
            start = time.process_time()
            sample = sampler.sample()
            cpu += time.process_time() - start
            time.sleep(0.1)  # the TIME_WAIT details are refreshed once a second
    return cpu * 1000 / count, sum(sample["states"].values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per run")
    ap.add_argument("--runs", type=int, default=3, help="rounds (each: wrk, off, 10 Hz)")
    args = ap.parse_args(argv)
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            print(f"bench_load: {tool} not found (Debian packages wrk, nginx)", file=sys.stderr)
            return 2
    signal.signal(signal.SIGTERM, _interrupt)
    wrk: list[float] = []
    ours: dict[str, list[float]] = {name: [] for name in VARIANTS}
    samples: dict[str, list[int]] = {name: [] for name in VARIANTS if name != "sampler off"}
    in_run: dict[str, list[float]] = {name: [] for name in samples}  # sampler cores per run
    cpu: list[tuple[tuple[float, int], tuple[float, int]]] = []
    tmp = tempfile.mkdtemp(prefix="sl-bench-load-")
    try:
        with Place() as place:
            nginx = start_nginx(place, tmp)
            try:
                names = list(VARIANTS)
                for i in range(args.runs):
                    wrk.append(wrk_rate(place, args.duration))
                    # each variant takes each place in the round in turn: the TIME_WAIT
                    # sockets left by the runs before weigh on all of them alike
                    for name in names[i % len(names):] + names[:i % len(names)]:
                        interval, port = VARIANTS[name]
                        rate, n, cores = locust_rate(place, args.duration, interval, port, tmp)
                        ours[name].append(rate)
                        if interval == "0.1":
                            samples[name].append(n)
                            if cores is not None:
                                in_run[name].append(cores)
                    cpu.append((sampler_cpu(place, (NGINX_PORT,)), sampler_cpu(place, ())))
            finally:
                _stop(nginx)
    except KeyboardInterrupt:
        print("bench_load: interrupted; nginx stopped, namespace removed", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    where = f"namespace {place.netns}" if place.netns else "host loopback"
    m_wrk = statistics.median(wrk)
    m = {name: statistics.median(rates) for name, rates in ours.items()}
    print(f"Short connections per second to nginx ({where}), {args.duration} s runs, "
          f"median of {args.runs}:")
    print(f"{'client':<52} {'conns/s':>9}  runs")
    print(f"{'wrk -t1 -c10 (Connection: close)':<52} {m_wrk:>9,.0f}  "
          + ", ".join(f"{r:,.0f}" for r in wrk))
    for name, rates in ours.items():
        label = f"locust short_tcp.py --processes 2, {name}"
        print(f"{label:<52} {m[name]:>9,.0f}  " + ", ".join(f"{r:,.0f}" for r in rates))
    off = m["sampler off"]
    print(f"{'ratio locust (sampler off) / wrk':<52} {off / m_wrk:>9.2f}")
    for name, counts in samples.items():
        # paired within each round: drift of the machine between rounds cancels out
        paired = [1 - r / o for r, o in zip(ours[name], ours["sampler off"], strict=True)]
        print(f"{name + ': throughput lost':<52} {(off - m[name]) / off:>9.1%}  "
              f"paired by round: median {statistics.median(paired):.1%}, "
              + ", ".join(f"{x:.1%}" for x in paired))
        print(f"{name + ': samples per run':<52} {statistics.median(counts):>9.0f}  "
              + ", ".join(str(n) for n in counts))
        # the sampler child's CPU while it sampled, as a share of all the machine's cores
        share = [c / os.cpu_count() for c in in_run[name]]
        if share:
            print(f"{name + ': sampler CPU during the run, share of the machine':<52} "
                  f"{statistics.median(share):>9.1%}  " + ", ".join(f"{x:.1%}" for x in share))
    for (ms, sockets), (ms_all, _n) in cpu:
        print(f"one sample after the round, {sockets:,} sockets: {ms:.1f} ms CPU with the "
              f"port filter, {ms_all:.1f} ms for all ports (x10 = % of a core at 10 Hz)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
