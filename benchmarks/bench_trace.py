"""Does the tracer keep up with 5,000 short connections per second, and if not, does it
say exactly how many events it lost?

`socklife serve` (echo) and `socklife connect --rate R` run as two processes in a
throw-away namespace sl-btrace-<pid> (loopback; removed after). This process runs a
Tracer on the port and drains it every --interval seconds, decoding every event as
`socklife trace` does. Each connection that completes makes 10 state transitions
(5 per side) and 2 tcp_destroy_sock events; the listener adds 2 transitions and 1 destroy.
Compared: records the kernel wrote (decoded + lost) against the records expected.
A second run with a tiny buffer (--small-kb) shows loss being counted, not hidden.

Usage: python benchmarks/bench_trace.py [--rate 5000] [--seconds 5] [--port 7391]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from harness.kernel.tracefs import Tracer

STATES_PER_CONN, DESTROYS_PER_CONN = 10, 2


def run(netns: str, port: int, rate: int, seconds: float, buffer_kb: int | None,
        interval: float) -> dict:
    count = int(rate * seconds)
    serve = subprocess.Popen([sys.executable, "-m", "harness", "serve", "--port", str(port),
                              "--netns", netns], stdout=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        with Tracer(ports=[port], buffer_kb=buffer_kb) as tr:
            before = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
            client = subprocess.Popen(
                [sys.executable, "-m", "harness", "connect", f"127.0.0.1:{port}", "--count",
                 str(count), "--rate", str(rate), "--concurrency", "50", "--netns", netns,
                 "--json"], stdout=subprocess.PIPE, text=True)
            states = destroys = others = 0
            records = 0
            max_batch = 0
            while True:
                done = client.poll() is not None
                pages = tr.read_raw()
                batch = 0
                for _cpu, page, recs in pages:
                    records += len(recs)
                    for ev in tr.decode_records(page, recs):
                        batch += 1
                        if ev["event"] == "inet_sock_set_state":
                            states += 1
                        elif ev["event"] == "tcp_destroy_sock":
                            destroys += 1
                        else:
                            others += 1
                max_batch = max(max_batch, batch)
                if done and not pages:
                    break
                time.sleep(interval)
            elapsed = time.monotonic() - t0
            result = json.loads(client.stdout.read())
            serve.terminate()
            serve.wait()
            time.sleep(0.2)
            for _cpu, page, recs in tr.read_raw():  # the listener's LISTEN -> CLOSE
                records += len(recs)
                for ev in tr.decode_records(page, recs):
                    states += ev["event"] == "inet_sock_set_state"
                    destroys += ev["event"] == "tcp_destroy_sock"
            after = resource.getrusage(resource.RUSAGE_SELF)
            lost = tr.lost
    finally:
        serve.terminate()
        serve.wait()
    ok = result["ok"]
    expected_states = STATES_PER_CONN * ok + 1  # + LISTEN -> CLOSE (CLOSE -> LISTEN before)
    expected = expected_states + DESTROYS_PER_CONN * ok + 1
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"buffer_kb": tr.buffer_kb, "connections_ok": ok, "errors": result["errors"],
            "conn_per_s": round(ok / result["elapsed_s"], 1), "states": states,
            "states_expected": expected_states, "destroys": destroys, "other_events": others,
            "records": records, "records_expected": expected, "lost": lost,
            "records_plus_lost": records + lost, "tracer_cpu_s": round(cpu, 2),
            "elapsed_s": round(elapsed, 2), "events_per_s": round(records / elapsed),
            "max_batch": max_batch}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--port", type=int, default=7391)
    ap.add_argument("--buffer-kb", type=int, default=None, help="default: the Tracer's")
    ap.add_argument("--small-kb", type=int, default=16)
    ap.add_argument("--interval", type=float, default=0.1)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_trace: needs root (tracefs, namespaces)", file=sys.stderr)
        return 2
    netns = f"sl-btrace-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        for kb in (args.buffer_kb, args.small_kb):
            row = run(netns, args.port, args.rate, args.seconds, kb, args.interval)
            print(json.dumps(row), flush=True)
    finally:
        subprocess.run(["ip", "netns", "delete", netns], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
