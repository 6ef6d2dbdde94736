"""Short connections per second: `socklife connect` -> `socklife serve` against
`wrk -H 'Connection: close'` -> nginx, in the same run, median of 3 runs each.

Both pairs close the same way: the server closes first after one answer (serve
--behavior close-first with connect --closer server; nginx with Connection: close), one
process per side, 20 connections in flight. As root everything runs in a throw-away
namespace sl-bconn-<pid> (its TIME_WAIT sockets vanish with it); otherwise on the host's
loopback. nginx gets its own temporary config and directory and is stopped after.

Usage: python benchmarks/bench_connect.py [--count N] [--duration S] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from harness.kernel import sockdiag

SERVE_PORT, NGINX_PORT = 7000, 7001  # below the ephemeral range
NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Place:
    """Where the processes run: a fresh sl- namespace (root) or the host's loopback."""

    def __init__(self):
        self.netns = f"sl-bconn-{os.getpid()}" if os.geteuid() == 0 else None

    def __enter__(self):
        if self.netns:
            subprocess.run(["ip", "netns", "add", self.netns], check=True)
            subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
        return self

    def __exit__(self, *exc):
        if self.netns:
            subprocess.run(["ip", "netns", "del", self.netns], check=False)

    def cmd(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv] if self.netns else argv

    def wait_listening(self, port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not sockdiag.dump(self.netns, states=["LISTEN"], ports=[port]):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench_connect: nothing listens on port {port}")
            time.sleep(0.05)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def socklife_rates(place: Place, count: int, runs: int) -> list[float]:
    serve = subprocess.Popen(place.cmd([
        sys.executable, "-m", "harness", "serve", "--port", str(SERVE_PORT),
        "--behavior", "close-first", "--backlog", "4096"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        place.wait_listening(SERVE_PORT, serve)
        rates = []
        for _ in range(runs):
            out = subprocess.run(place.cmd([
                sys.executable, "-m", "harness", "connect", f"127.0.0.1:{SERVE_PORT}",
                "--count", str(count), "--concurrency", "20", "--closer", "server", "--json"]),
                check=True, capture_output=True, text=True).stdout
            d = json.loads(out)
            if d["errors"]:
                print(f"  socklife connect errors: {d['errors']}", file=sys.stderr)
            rates.append(d["rate"])
        return rates
    finally:
        _stop(serve)


def wrk_rates(place: Place, duration: int, runs: int) -> list[float]:
    tmp = tempfile.mkdtemp(prefix="sl-bench-nginx-")
    try:
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(tmp=tmp, port=NGINX_PORT))
        nginx = subprocess.Popen(place.cmd(["nginx", "-p", tmp, "-c", conf]),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            place.wait_listening(NGINX_PORT, nginx)
            rates = []
            for _ in range(runs):
                out = subprocess.run(place.cmd([
                    "wrk", "-t1", "-c20", f"-d{duration}s", "-H", "Connection: close",
                    f"http://127.0.0.1:{NGINX_PORT}/"]),
                    check=True, capture_output=True, text=True).stdout
                if "Socket errors" in out or "Non-2xx" in out:
                    print("  wrk: " + " ".join(
                        ln.strip() for ln in out.splitlines() if "errors" in ln or "Non-2xx" in ln),
                        file=sys.stderr)
                rates.append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))
            return rates
        finally:
            _stop(nginx)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=50_000, help="connections per socklife run")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            print(f"bench_connect: {tool} not found (Debian packages wrk, nginx)", file=sys.stderr)
            return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with Place() as place:
            ours = socklife_rates(place, args.count, args.runs)
            theirs = wrk_rates(place, args.duration, args.runs)
    except KeyboardInterrupt:
        print("bench_connect: interrupted; servers stopped, namespace removed", file=sys.stderr)
        return 130
    where = f"namespace {place.netns}" if place.netns else "host loopback"
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"Short connections per second on loopback ({where}), median of {args.runs}:")
    print(f"{'client -> server':<44} {'conns/s':>9}  runs")
    print(f"{'socklife connect -> socklife serve':<44} {m_ours:>9,.0f}  "
          + ", ".join(f"{r:,.0f}" for r in ours))
    print(f"{'wrk -t1 -c20 (Connection: close) -> nginx':<44} {m_theirs:>9,.0f}  "
          + ", ".join(f"{r:,.0f}" for r in theirs))
    print(f"{'ratio socklife / wrk':<44} {m_ours / m_theirs:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
