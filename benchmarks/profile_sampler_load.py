"""Where one sample's CPU goes while short_tcp load runs beside it: per part, at 10 Hz.

bench_load.py says how much the sampler costs; this says where. nginx and Locust
(locustfiles/short_tcp.py --processes 2, its own sampler off) run as in bench_load.py,
in a throw-away namespace sl-bconn-<pid>; after 3 s of load a child process in the
same namespace takes --samples samples with harness.observe.sampler.Sampler at 10 Hz
(port filter on nginx's port, then none) and prints, per part of a sample, the user and
system CPU (getrusage around each call) divided by the number of samples. The parts are
the Sampler's own methods and the readers it calls, wrapped in that child only.

Usage (root): python3 benchmarks/profile_sampler_load.py [--samples 100]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

PARTS = [  # (module, owner attribute or None, function name, label)
    ("harness.observe.sampler", "Sampler", "sample", "whole sample"),
    ("harness.observe.sampler", "Sampler", "_open_sockets", "open sockets: walks + grouping"),
    ("harness.observe.sampler", "Sampler", "_time_wait_count", "port's TIME_WAIT count"),
    ("harness.observe.sampler", "Sampler", "_time_wait", "TIME_WAIT details (1 s)"),
    ("harness.observe.leaks", "OwnerCache", "resolve", "socket owners"),
    ("harness.observe.sampler", None, "read_counters", "counters (netstat, snmp)"),
    ("harness.observe.sampler", None, "read_sockstat", "sockstat"),
    ("harness.observe.sampler", None, "read_sysctls", "sysctls (1 s)"),
    ("harness.observe.sampler", None, "ephemeral_forecast", "ephemeral forecast"),
]


def child(samples: int, ports: list[int]) -> None:
    """Runs inside the namespace: wrap the parts, sample, print one JSON object."""
    import importlib

    from harness.observe.sampler import Sampler

    spent: dict[str, list[float]] = {}

    def wrap(owner, name: str, label: str) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*a, **k):
            t0 = resource.getrusage(resource.RUSAGE_SELF)
            try:
                return fn(*a, **k)
            finally:
                t1 = resource.getrusage(resource.RUSAGE_SELF)
                acc = spent.setdefault(label, [0.0, 0.0])
                acc[0] += t1.ru_utime - t0.ru_utime
                acc[1] += t1.ru_stime - t0.ru_stime

        setattr(owner, name, timed)

    for module, owner, name, label in PARTS:
        mod = importlib.import_module(module)
        wrap(getattr(mod, owner) if owner else mod, name, label)
    with Sampler(None, ports, interval=0.1) as sampler:
        sampler.sample()  # the first one looks up the listener's owner
        spent.clear()
        next_at = time.monotonic()
        for _ in range(samples):  # on a 0.1 s schedule, as sampler_proc.py keeps it
            json.dumps(sampler.sample())
            next_at += 0.1
            time.sleep(max(0.0, next_at - time.monotonic()))
    print(json.dumps({label: [u * 1000 / samples, s * 1000 / samples]
                      for label, (u, s) in spent.items()}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100, help="samples per variant (100)")
    ap.add_argument("--child", nargs="*", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.samples, args.child)
        return 0
    if os.geteuid():
        print("profile_sampler_load: needs root (a private network namespace)", file=sys.stderr)
        return 2
    from bench_connect import Place, _stop
    from bench_load import NGINX_PORT, locust_cmd, start_nginx
    load_s = 3 + args.samples // 10 + 5
    tmp = tempfile.mkdtemp(prefix="sl-prof-load-")
    try:
        with Place() as place:
            nginx = start_nginx(place, tmp)
            try:
                for ports in ([NGINX_PORT], []):
                    load = subprocess.Popen(place.cmd(locust_cmd(load_s, "3600")),
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, cwd=tmp)
                    try:
                        time.sleep(3)
                        out = subprocess.run(place.cmd([
                            sys.executable, os.path.abspath(__file__), "--samples",
                            str(args.samples), "--child", *map(str, ports)]),
                            check=True, capture_output=True, text=True).stdout
                    finally:
                        load.wait()
                    parts = json.loads(out)
                    print(f"\n{args.samples} samples at 10 Hz beside short_tcp load, "
                          f"port filter: {ports or 'none'} (CPU ms per sample)")
                    print(f"{'part':<32} {'user':>6} {'system':>7} {'total':>7}")
                    for label, (u, s) in sorted(parts.items(), key=lambda kv: -sum(kv[1])):
                        print(f"{label:<32} {u:>6.2f} {s:>7.2f} {u + s:>7.2f}")
            finally:
                _stop(nginx)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
