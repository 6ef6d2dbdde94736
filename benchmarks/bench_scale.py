"""The sampler at scale: 14,000, 100,000 and 250,000 sockets (issue 22, parts 3-4).

In a private namespace `sl-bscale-<pid>` (tcp_tw_reuse=0, ip_local_port_range
"10000 65000") child processes hold ESTABLISHED pairs (both ends, so a pair is two
sockets), 9,000 pairs each: root here lacks CAP_SYS_RESOURCE and the hard RLIMIT_NOFILE
is 20,000, so 200,000 sockets are spread over 12 processes, as on a real host; another
child keeps a TIME_WAIT population topped up (each TIME_WAIT lasts 60 s, so holding
50,000 costs ~830 connections/s). Three stages:

=========  ==========  ===========
sockets    TIME_WAIT   ESTABLISHED
=========  ==========  ===========
14,000     14,000      0
100,000    50,000      50,000
250,000    50,000      200,000
=========  ==========  ===========

At each stage the parent samples with harness.observe.sampler.Sampler (every socket, no
port filter) and prints, per rate (1 Hz and 10 Hz, --seconds each):
- the CPU share of one core (process time over wall time: the kernel's work for the
  dumps is system time of this process, so it is included), split into the exact part
  (what the budget never defers: the Budget's own running figure) and the rest, against
  the --cpu-budget (default 5%, record's);
- how old the TIME_WAIT details and the ESTABLISHED sockets' grouping by destination
  got (the largest ``ages_s.time_wait`` and ``ages_s.established`` seen);
- RSS first / min / max / last (max - min is the target's "flat": < 10 MB);
- exactness: at the end a sample is taken between two `ss -tan` counts (the TIME_WAIT
  population only shrinks while the top-up waits), and its ESTABLISHED must equal both
  and its TIME_WAIT lie between them.
At 250,000 it also times `snapshot` (harness.observe.snapshot.take, median of 5 wall
seconds) against the bare kernel dump of every socket (bench_common.bare_dump) plus the
owner lookup of its listeners (harness.kernel.owners.socket_owners, measured alone: it
reads the fds of every process of the namespace, 200,000 of them socket fds), and
against `ss -tanp` (the same listing with every socket's process: the same /proc walk).

Usage (root): python3 benchmarks/bench_scale.py [--seconds 600] [--stages 14000,100000,250000]
              [--rates 1,10] [--cpu-budget 5]
A short look: --seconds 30. The whole default run takes ~70 minutes.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import socket
import statistics
import subprocess
import sys
import time

import psutil
from bench_common import (
    TIME_WAIT_SYSCTLS,
    TimeWait,
    bare_dump,
    exit_on_sigterm,
    machine_load,
    private_netns,
    require_root,
    timed,
)

from harness.kernel.netns import entered
from harness.kernel.owners import socket_owners
from harness.kernel.sockdiag import SockDiag
from harness.kernel.sockstat import minisockets, read_sockstat
from harness.observe.loop import Schedule
from harness.observe.sampler import Sampler
from harness.observe.snapshot import take

STAGES = {14_000: (14_000, 0), 100_000: (50_000, 50_000), 250_000: (50_000, 200_000)}
PAIRS_PER_HOLDER = 9_000  # 18,000 fds: under this machine's hard RLIMIT_NOFILE of 20,000
FIRST_PORT = 6000  # holder i listens on FIRST_PORT + i


def top_up(ns: str, tw_target, stop) -> None:
    """Child: keep sockstat's TIME_WAIT at ``tw_target`` (0: pause)."""
    with entered(ns), TimeWait() as tw:
        while not stop.is_set():
            if minisockets(read_sockstat(ipv6=False)) < tw_target.value:
                tw.add(min(500, tw_target.value))
            else:
                time.sleep(0.02)


def hold_pairs(ns: str, port: int, pairs: int, made, stop) -> None:
    """Child: ``pairs`` ESTABLISHED pairs through a listener on ``port``, held until
    ``stop``; ``made`` counts them."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with entered(ns):
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", port))
        lst.listen(4096)
        held = []
        try:
            for i in range(pairs):
                c = socket.create_connection(("127.0.0.1", port))
                a, _ = lst.accept()
                held += [c, a]
                if i % 1000 == 999:
                    with made.get_lock():
                        made.value += 1000
            with made.get_lock():
                made.value += pairs % 1000
            stop.wait()
        finally:
            for s in [*held, lst]:
                s.close()


class Population:
    """The children that make a stage's sockets in namespace ``ns``."""

    def __init__(self, ns: str):
        self.ns = ns
        self.ctx = mp.get_context("fork")
        self.stop = self.ctx.Event()
        self.tw_target = self.ctx.Value("q", 0)
        self.pairs_made = self.ctx.Value("q", 0)
        self.procs = [self.ctx.Process(target=top_up, args=(ns, self.tw_target, self.stop))]
        self.procs[0].start()
        self.pairs = 0

    def grow(self, tw: int, pairs: int) -> None:
        self.tw_target.value = tw
        while self.pairs < pairs:
            n = min(PAIRS_PER_HOLDER, pairs - self.pairs)
            p = self.ctx.Process(target=hold_pairs, args=(
                self.ns, FIRST_PORT + len(self.procs), n, self.pairs_made, self.stop))
            p.start()
            self.procs.append(p)
            self.pairs += n
        t0 = time.monotonic()
        with entered(self.ns):
            while True:
                have = minisockets(read_sockstat(ipv6=False))
                print(f"  building: {have} TIME_WAIT, {self.pairs_made.value} pairs, "
                      f"{time.monotonic() - t0:.0f} s", file=sys.stderr)
                if not all(p.is_alive() for p in self.procs):
                    sys.exit("bench_scale: a holder process ended")
                if have >= tw * 0.98 and self.pairs_made.value >= pairs:
                    return
                time.sleep(3)

    def close(self) -> None:
        self.stop.set()
        for p in self.procs:
            p.join(30)
            if p.is_alive():
                p.kill()


def ss_counts(ns: str) -> dict[str, int]:
    out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-tanH"], capture_output=True,
                         text=True, check=True).stdout
    counts: dict[str, int] = {}
    for line in out.splitlines():
        state = line.split(None, 1)[0]
        counts[state] = counts.get(state, 0) + 1
    return counts


def sample_for(ns: str, hz: float, seconds: float, budget: float, tw_target) -> dict:
    me = psutil.Process()
    rss, tw_age, est_age, exact = [], [], [], []
    with Sampler(ns, interval=1 / hz, cpu_budget=budget / 100) as sampler:
        sampler.sample()  # the first sample refreshes everything: not the steady state
        cpu0, wall0 = time.process_time(), time.monotonic()
        with Schedule(1 / hz, seconds) as schedule:
            for k in schedule:
                s = sampler.sample()
                rss.append(me.memory_info().rss)
                tw_age.append(s["ages_s"]["time_wait"] or 0.0)
                est_age.append(s["ages_s"].get("established") or 0.0)
                exact.append(sampler.budget.exact_cost or 0.0)
                if k % int(30 * hz) == 0:
                    print(f"  {hz:g} Hz: {k} samples, {sum(s['states'].values())} sockets, "
                          f"rss {rss[-1] / 2**20:.1f} MiB", file=sys.stderr)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        missed = schedule.missed
        held = tw_target.value
        tw_target.value = 0  # the top-up pauses: TIME_WAIT only expires meanwhile
        time.sleep(1.0)
        before = ss_counts(ns)
        final = sampler.sample()["states"]
        after = ss_counts(ns)
        tw_target.value = held
    exact_share = statistics.fmean(exact) * hz
    return {"hz": hz, "samples": len(rss), "missed": missed, "share": cpu / wall,
            "exact": exact_share, "rest": cpu / wall - exact_share,
            "tw_age_max": max(tw_age), "est_age_max": max(est_age), "rss": rss,
            "estab": (before.get("ESTAB", 0), final["ESTABLISHED"], after.get("ESTAB", 0)),
            "tw": (before.get("TIME-WAIT", 0), final["TIME_WAIT"], after.get("TIME-WAIT", 0))}


def snapshot_figures(ns: str, pids: list[int]) -> dict:
    t_snap, _ = timed(lambda: take(ns), 5)
    with entered(ns):
        t_bare, _ = timed(bare_dump, 5)
    fds = sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in pids)
    with SockDiag(ns) as diag:  # the snapshot's own lookups: its listeners' owners
        inodes = [r.inode for r in diag.records(states=["LISTEN"])]
    t_owner, _ = timed(lambda: socket_owners(inodes, netns=ns), 5)
    t_ss, _ = timed(lambda: subprocess.run(["ip", "netns", "exec", ns, "ss", "-tanp"],
                                           stdout=subprocess.DEVNULL, check=True), 3)
    return {"snapshot": t_snap, "bare": t_bare, "owners": t_owner, "fds": fds, "ss": t_ss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="per rate and stage (600)")
    ap.add_argument("--stages", default="14000,100000,250000")
    ap.add_argument("--rates", default="1,10", help="samples per second, comma-separated")
    ap.add_argument("--cpu-budget", type=float, default=5.0, help="percent of a core (5)")
    args = ap.parse_args()
    require_root("bench_scale", "a private network namespace, 400,000 file descriptors")
    exit_on_sigterm()
    stages = [int(s) for s in args.stages.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    if any(s not in STAGES for s in stages):
        sys.exit(f"bench_scale: --stages takes {', '.join(map(str, STAGES))}")
    print(f"# bench_scale at {time.strftime('%Y-%m-%d %H:%M')}, {machine_load()}")
    rows = []
    with private_netns("bscale", TIME_WAIT_SYSCTLS) as ns:
        population = Population(ns)
        try:
            for stage in stages:
                tw, estab = STAGES[stage]
                population.grow(tw, estab // 2)
                for hz in rates:
                    rows.append((stage, sample_for(ns, hz, args.seconds, args.cpu_budget,
                                                   population.tw_target)))
                if stage == 250_000:
                    snap = snapshot_figures(ns, [p.pid for p in population.procs])
                    print(f"\nsnapshot at 250,000 sockets: {snap['snapshot'] * 1000:.0f} ms; "
                          f"bare dump {snap['bare'] * 1000:.0f} ms + owner lookup "
                          f"{snap['owners'] * 1000:.0f} ms ({snap['fds']:,} fds in "
                          f"{len(population.procs)} processes) = "
                          f"{(snap['bare'] + snap['owners']) * 1000:.0f} ms; ratio "
                          f"{snap['snapshot'] / (snap['bare'] + snap['owners']):.2f}x "
                          f"(target <= 1.5x); `ss -tanp` {snap['ss'] * 1000:.0f} ms "
                          f"({snap['snapshot'] / snap['ss']:.2f}x)")
        finally:
            population.close()
    print(f"\nCPU budget {args.cpu_budget:g}% of a core; {args.seconds:g} s per rate")
    print("| sockets | Hz | samples (missed) | CPU share | exact part | rest (budget) "
          "| TW details oldest | ESTAB grouping oldest | RSS min / max (MiB) | max-min "
          "| ESTAB ss/sample/ss | TIME_WAIT ss/sample/ss | exact |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for stage, r in rows:
        lo, hi = min(r["rss"]) / 2**20, max(r["rss"]) / 2**20
        e, t = r["estab"], r["tw"]
        ok = e[0] == e[1] == e[2] and t[0] >= t[1] >= t[2]
        print(f"| {stage:,} | {r['hz']:g} | {r['samples']} ({r['missed']}) | "
              f"{100 * r['share']:.1f}% | {100 * r['exact']:.1f}% | {100 * r['rest']:.1f}% | "
              f"{r['tw_age_max']:.0f} s | {r['est_age_max']:.0f} s | {lo:.1f} / {hi:.1f} | "
              f"{hi - lo:.1f} | "
              f"{e[0]}/{e[1]}/{e[2]} | {t[0]}/{t[1]}/{t[2]} | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
