"""Cost of the socket owner lookup (inode -> pid/fd) on a host with many processes.

Makes, all removed at the end (and, should this script be killed, ended by EOF on
their stdin):
  - a namespace `sl-bfill-<pid>` with --processes `cat` processes (default 2,000) that
    hold --fds socket fds each (default 50: 25 unix socket pairs), 100,000 fds in all:
    the rest of a busy host, whose fds an owner walk has to read;
  - the namespace to look at, `sl-bown-<pid>`: a `cat` started inside it holding a
    listener and --close-wait CLOSE_WAIT sockets (default 10), started after the
    others (where pids do not wrap, it has the highest: the table says how many
    processes come before it in pid order); and a `cat` started outside it holding a
    listener made inside it by a thread that entered it (as socklife's own servers and
    Locust users make theirs): the exception the namespace filter cannot see.

Then times, median of --repeat, in this process (CPU and wall are close: it is all
readlink and listdir system calls):
  snapshot, no owners   observe.snapshot.take(netns) with a reader that finds no owner:
                        the rest of a snapshot of that namespace, for scale
  snapshot, owners      observe.snapshot.take(netns): as it looks owners up now
  before                --before FILE: socket_owners(inodes) of another checkout's
                        owners.py (git show main:harness/kernel/owners.py > FILE)
  every process         socket_owners(inodes): every process in pid order until all
                        are found (what a snapshot did before the namespace filter)
  namespace first       socket_owners(inodes, netns=NS): its processes first
  ... outside holder    the same for the listener held from outside the namespace
  ... cached            socket_owners(inodes, netns=NS, cache=...) asked again
  every socket          socket_owners(): the owner of every socket of every process
  ss -tanp              iproute2 in the namespace: the same /proc walk, in C
  psutil                psutil.net_connections("tcp") in the namespace (it walks every
                        process's fds to give pids)

Usage (root): python3 benchmarks/bench_owners.py [--processes 2000] [--fds 50]
              [--close-wait 10] [--repeat 7] [--before FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import time

from bench_common import (
    exit_on_sigterm,
    machine_load,
    private_netns,
    require_root,
    spawn_holder,
    timed,
)

from harness.kernel.netns import entered
from harness.kernel.owners import socket_owners
from harness.kernel.reader import NamespaceReader
from harness.observe import snapshot


class NoOwners(NamespaceReader):
    """A snapshot's reads but the owner lookup."""

    def owners(self, inodes) -> dict:
        return {}


def fill(n: int, per: int, stdin: int) -> list[subprocess.Popen]:
    """``n`` processes holding ``per`` socket fds each, in the thread's namespace."""
    procs = []
    for i in range(n):
        fds = []
        for _ in range(per // 2):
            a, b = socket.socketpair()
            fds += [a.detach(), b.detach()]
        procs.append(spawn_holder(fds, stdin))
        if (i + 1) % 500 == 0:
            print(f"  {i + 1} processes", file=sys.stderr)
    return procs


def listener_with_close_wait(n: int) -> list[socket.socket]:
    """A listener and ``n`` accepted sockets whose clients closed (CLOSE_WAIT)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(n + 1)
    out = [lst]
    for _ in range(n):
        c = socket.create_connection(lst.getsockname())
        a, _ = lst.accept()
        c.close()
        out.append(a)
    return out


def inodes_of(socks: list[socket.socket]) -> list[int]:
    return [os.fstat(s.fileno()).st_ino for s in socks]


def load_before(path: str):
    """``socket_owners`` of the owners.py at ``path`` (it may import harness.kernel)."""
    spec = importlib.util.spec_from_file_location("owners_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.socket_owners


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=2000)
    ap.add_argument("--fds", type=int, default=50, help="socket fds per process (even)")
    ap.add_argument("--close-wait", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--before", metavar="FILE", help="an owners.py to time beside this one")
    args = ap.parse_args()
    before = load_before(args.before) if args.before else None
    require_root("bench_owners.py", "it starts processes in private namespaces")
    exit_on_sigterm()
    print(machine_load(), file=sys.stderr)
    stop_r, stop_w = os.pipe()  # every cat reads it: EOF (close, or our death) ends them
    procs: list[subprocess.Popen] = []
    try:
        with private_netns("bfill") as filler, private_netns("bown") as ns:
            t0 = time.monotonic()
            with entered(filler):
                procs += fill(args.processes, args.fds, stop_r)
            print(f"  {args.processes} processes with {args.fds} fds each in "
                  f"{time.monotonic() - t0:.1f} s", file=sys.stderr)
            with entered(ns):
                inside = listener_with_close_wait(args.close_wait)
                outside = listener_with_close_wait(0)
                want = inodes_of(inside)
                procs.append(spawn_holder([s.detach() for s in inside], stop_r))
            want_out = inodes_of(outside)
            procs.append(spawn_holder([s.detach() for s in outside], stop_r))
            holder_in, holder_out = procs[-2].pid, procs[-1].pid
            fds_total = sum(len(os.listdir(f"/proc/{p}/fd")) for p in os.listdir("/proc")
                            if p.isdigit() and os.path.exists(f"/proc/{p}/fd"))
            pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
            n_procs, before_holder = len(pids), pids.index(holder_in)

            checks = {
                "every process": socket_owners(want),
                "namespace first": socket_owners(want, netns=ns),
                "outside holder": socket_owners(want_out, netns=ns),
            }
            problems = [f"{label}: {len(got)} of the sockets found"
                        for label, got in checks.items() if len(got) != len(
                            want_out if label == "outside holder" else want)]
            problems += [f"{label}: owner pid {o.pid}" for label, got in checks.items()
                         for o in got.values()
                         if o.pid != (holder_out if label == "outside holder" else holder_in)]
            cache: dict = {}
            socket_owners(want, netns=ns, cache=cache)
            rows = []

            def row(label, fn, repeat=args.repeat):
                t, result = timed(fn, repeat)
                rows.append((label, t, result))
                return t

            t_snap = row("snapshot of the namespace, no owners",
                         lambda: snapshot.take(ns, reader=NoOwners(ns)))
            row("snapshot of the namespace, owners as take() finds them",
                lambda: snapshot.take(ns))
            if before is not None:
                row(f"before: {os.path.basename(args.before)} socket_owners(inodes)",
                    lambda: before(want))
            row("every process, pid order", lambda: socket_owners(want))
            row("namespace first", lambda: socket_owners(want, netns=ns))
            row("namespace first, outside holder (exception)",
                lambda: socket_owners(want_out, netns=ns))
            row("namespace first, cached", lambda: socket_owners(want, netns=ns, cache=cache))
            row("every socket of every process", socket_owners, max(1, args.repeat // 3))
            with entered(ns):
                row("ss -tanp (in the namespace)",
                    lambda: subprocess.run(["ss", "-tanp"], capture_output=True, check=True))
                import psutil

                row("psutil.net_connections('tcp')", lambda: psutil.net_connections("tcp"),
                    max(1, args.repeat // 3))
    finally:
        os.close(stop_w)
        os.close(stop_r)
        for p in procs:
            p.wait()
    print(machine_load(), file=sys.stderr)

    for problem in problems:
        print(f"WRONG: {problem}")
    print(f"\n{n_procs} processes, {fds_total} fds on the host; the namespace's "
          f"{len(want)} sockets (1 listener, {args.close_wait} CLOSE_WAIT) held by pid "
          f"{holder_in}, which {before_holder} processes precede in pid order; median of "
          f"{args.repeat}\n")
    print(f"| {'lookup':<54} | {'ms':>8} | {'x snapshot':>10} |")
    print(f"|{'-' * 56}|{'-' * 9}:|{'-' * 11}:|")
    for label, t, _ in rows:
        print(f"| {label:<54} | {t * 1000:8.2f} | {t / t_snap:10.2f} |")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
