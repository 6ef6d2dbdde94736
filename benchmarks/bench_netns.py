"""Cost of a host-wide sample (``--all-netns``) against the number of namespaces.

For each count N of --counts (1, 10, 50, 200 by default) it makes N namespaces
``sl-bns<i>-<pid>`` (tcp_tw_reuse=0, ip_local_port_range "10000 65000") and spreads
--sockets TIME_WAIT sockets over them (made from this process, entering each
namespace: listeners on 7001-7002, the client closing first), then samples them with
harness.observe.hostwide.HostSampler at 1 Hz for --samples samples, in three ways
measured in the same run:

- ``quiet``: what --all-netns does (a namespace whose segment counters and sockstat did
  not change since its last walk reuses it; its listeners are dumped every sample);
- ``busy``: the same, with one new connection in every namespace before each sample,
  so that no namespace is quiet (the worst case: every namespace walked every sample);
- ``walk-all``: every namespace walked every sample (reuse_quiet off), the method
  before this measurement;
- ``own-ehash``: busy, in namespaces that each have an established hash of their own
  (made from inside a parent namespace whose net.ipv4.tcp_child_ehash_entries is
  4096: the parent's sysctl, never the host's), so a walk covers its own sockets only;

and, as the floor, a bare kernel dump (every state, received and discarded) in one of
the namespaces, which walks the kernel's shared established hash once: N of those are
what walking every namespace costs the kernel. CPU is time.process_time() around each
sample (user + system: the kernel's walk is included); "share" is CPU over the wall
time at 1 Hz. Only our namespaces are sampled (the discovery is filtered to sl-bns),
but the established hash also holds the other sockets of the machine: the load of the
machine is printed with the figures.

TIME_WAIT lasts 60 s: each method gets namespaces and sockets of its own, made just
before it is measured and removed after (removing a namespace frees its TIME_WAIT at
once), and --samples (default 8) keeps each measurement inside that minute.

Usage (root): python3 benchmarks/bench_netns.py [--counts 1,10,50,200] [--sockets 30000]
              [--samples 8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time

from bench_common import (
    TIME_WAIT_SYSCTLS,
    TimeWait,
    bare_dump,
    exit_on_sigterm,
    machine_load,
    require_root,
    timed,
)

from harness.kernel.namespaces import discover
from harness.kernel.netns import entered
from harness.observe.hostwide import HostSampler

PREFIX = f"sl-bns{os.getpid()}-"
PARENT = f"sl-bnsp{os.getpid()}"  # own-ehash: the namespace the others are made from
CHILD_EHASH = "4096"


def make_namespaces(n: int, own_ehash: bool = False) -> list[str]:
    """``n`` namespaces; ``own_ehash``: made from inside PARENT, whose
    tcp_child_ehash_entries gives each its own established hash (PARENT's sysctl, not
    the host's)."""
    names = [f"{PREFIX}{i}" for i in range(n)]
    make = ["ip", "netns", "add"]
    if own_ehash:
        subprocess.run(["ip", "netns", "add", PARENT], check=True)
        with entered(PARENT), open("/proc/sys/net/ipv4/tcp_child_ehash_entries", "w") as f:
            f.write(CHILD_EHASH)
        make = ["nsenter", f"--net=/run/netns/{PARENT}", *make]
    for name in names:
        subprocess.run([*make, name], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        with entered(name):  # /proc/sys shows the namespace of the thread that opens it
            for key, value in TIME_WAIT_SYSCTLS.items():
                with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                    f.write(value)
    return names


def remove_namespaces() -> None:
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if name.startswith(PREFIX) or name == PARENT:
            subprocess.run(["ip", "netns", "del", name], check=False)


def ours(cache):
    """Discovery kept to this run's namespaces."""
    return [ns for ns in discover(cache) if ns.name and ns.name.startswith(PREFIX)]


def populate(names: list[str], total: int) -> list[TimeWait]:
    """Listeners in every namespace and ``total`` TIME_WAIT spread over them."""
    held = []
    per, extra = divmod(total, len(names))
    for i, name in enumerate(names):
        with entered(name):
            tw = TimeWait()
            tw.add(per + (1 if i < extra else 0))
        held.append(tw)
    return held


def poke(names: list[str]) -> None:
    """One short connection in every namespace: none of them is quiet afterwards."""
    for name in names:
        with entered(name):
            c = socket.create_connection(("127.0.0.1", 7001))
            c.close()


def measure(names, samples: int, reuse: bool, busy: bool) -> tuple[list[float], int]:
    """CPU seconds of each sample after the first, and the walks the samples saved."""
    sampler = HostSampler(interval=1.0, find=ours, fold=False, meter=False)
    sampler.options["reuse_quiet"] = reuse
    cpu = []
    try:
        sampler.sample()  # the first: every namespace walked, its TIME_WAIT detailed
        for _ in range(samples):
            time.sleep(1.0)
            if busy:
                poke(names)
            t0 = time.process_time()
            found = sampler.sample()
            cpu.append(time.process_time() - t0)
            print(f"    sample: {1000 * cpu[-1]:.1f} ms, walks saved so far "
                  f"{sum(s.walks_saved for s in sampler.samplers.values())}", file=sys.stderr)
            assert len(found) == len(names), (len(found), sampler.notes)
        saved = sum(s.walks_saved for s in sampler.samplers.values())
    finally:
        sampler.close()
    return cpu, saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", default="1,10,50,200")
    ap.add_argument("--sockets", type=int, default=30000)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--methods", default="quiet,busy,walk-all,own-ehash")
    args = ap.parse_args()
    require_root("bench_netns.py", "it makes namespaces")
    exit_on_sigterm()
    counts = [int(c) for c in args.counts.split(",")]
    head = git_head()
    print(f"commit {head}; {args.sockets} TIME_WAIT spread over N namespaces; "
          f"{args.samples} samples at 1 Hz per method")
    print(f"{'N':>4} {'method':<9} {'median ms':>10} {'max ms':>8} {'share':>7} "
          f"{'walks saved':>11} {'x bare dump':>11}")
    try:
        for n in counts:
            for method, reuse, busy in (("quiet", True, False), ("busy", True, True),
                                        ("walk-all", False, False), ("own-ehash", True, True)):
                if method not in args.methods.split(","):
                    continue
                names = make_namespaces(n, own_ehash=method == "own-ehash")
                held = populate(names, args.sockets)
                try:
                    with entered(names[0]):
                        bare, _bytes = timed(bare_dump, 5)
                    cpu, saved = measure(names, args.samples, reuse, busy)
                finally:
                    for tw in held:
                        tw.close()
                    remove_namespaces()
                med = statistics.median(cpu)
                print(f"{n:>4} {method:<9} {1000 * med:>10.1f} {1000 * max(cpu):>8.1f} "
                      f"{100 * med / 1.0:>6.1f}% {saved:>11} {med / bare:>11.2f}"
                      f"   (bare dump {1000 * bare:.1f} ms)")
                sys.stdout.flush()
    finally:
        remove_namespaces()
    print(machine_load())


def git_head() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    return "unknown"


if __name__ == "__main__":
    main()
