"""Speed of reading TCP sockets: socklife's readers against ss, psutil and pyroute2.

Builds N sockets (default 30,000; mostly TIME_WAIT, with tcp_tw_reuse=0 so ports are not
recycled) in a private namespace `sl-bench-<pid>`, then times, in the same run and the
same namespace, the median of --repeat runs of:

  bare dump        one SOCK_DIAG_BY_FAMILY dump per family, received and discarded
  count_states     harness.kernel.sockdiag.count_states()  (TIME_WAIT from sockstat)
  count (ports)    count_states(ports=...) matching every socket: the raw-bytes loop
  dump             harness.kernel.sockdiag.dump(): a SocketRecord per socket
  ss -tan          the iproute2 tool, output discarded
  psutil           psutil.net_connections("tcp")
  pyroute2         pyroute2 DiagSocket.get_sock_stats() for AF_INET and AF_INET6

Usage (root): python3 benchmarks/bench_dump.py [--sockets 30000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness.kernel import inet_diag as wire
from harness.kernel import sockdiag
from harness.kernel.netns import entered

SERVER_PORTS = (7001, 7002)


def build_sockets(n: int) -> list[socket.socket]:
    """n TIME_WAIT sockets (client closes first) plus 100 open pairs; returns open ones."""
    listeners = []
    for port in SERVER_PORTS:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(1024)
        listeners.append(s)
    keep = list(listeners)
    for i in range(n):
        lst = listeners[i % len(listeners)]
        c = socket.create_connection(("127.0.0.1", SERVER_PORTS[i % len(listeners)]))
        a, _ = lst.accept()
        if i < 100:
            keep += [c, a]
            continue
        c.close()
        a.close()
        if i % 5000 == 0:
            print(f"  built {i} sockets", file=sys.stderr)
    return keep


def bare_dump() -> int:
    """Receive a whole dump of each family and discard it; returns bytes received."""
    total = 0
    buf = bytearray(1 << 16)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, sockdiag.NETLINK_SOCK_DIAG) as s:
        for family in (socket.AF_INET, socket.AF_INET6):
            s.send(wire.build_request(family, wire.ALL_STATES_MASK))
            while True:
                n = s.recv_into(buf)
                total += n
                # NLMSG_DONE closes the dump: it is the last message of the last buffer.
                if n >= 20 and int.from_bytes(buf[n - 16:n - 14], "little") == wire.NLMSG_DONE:
                    break
    return total


def pyroute2_stats() -> int:
    from pyroute2 import DiagSocket

    with DiagSocket() as ds:
        ds.bind()
        return sum(len(ds.get_sock_stats(family=f)) for f in (socket.AF_INET, socket.AF_INET6))


def run_ss() -> int:
    return len(subprocess.run(["ss", "-tan"], capture_output=True, check=True).stdout)


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sockets", type=int, default=30000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-pyroute2", action="store_true", help="it takes seconds per run")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_dump.py: needs root (it builds sockets in a private namespace)")
    import psutil

    name = f"sl-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw",
                        "net.ipv4.tcp_tw_reuse=0", "net.ipv4.ip_local_port_range=10000 65000"],
                       check=True)
        # The main thread enters the namespace for the whole run: psutil reads
        # /proc/self/net and ss inherits the namespace from this thread.
        with entered(name):
            print(f"building {args.sockets} sockets in {name} ...", file=sys.stderr)
            keep = build_sockets(args.sockets)
            counts = sockdiag.count_states()
            print(f"population: { {k: v for k, v in counts.items() if v} }", file=sys.stderr)
            rows = []
            t_bare, nbytes = timed(bare_dump, args.repeat)
            rows.append(("bare kernel dump (receive, discard)", t_bare, f"{nbytes} bytes"))
            t, c = timed(sockdiag.count_states, args.repeat)
            rows.append(("socklife count_states()", t, f"{sum(c.values())} sockets"))
            t, c = timed(lambda: sockdiag.count_states(ports=SERVER_PORTS), args.repeat)
            rows.append(("socklife count_states(ports=all)", t, f"{sum(c.values())} sockets"))
            t, d = timed(sockdiag.dump, args.repeat)
            rows.append(("socklife dump() -> SocketRecord", t, f"{len(d)} records"))
            t_ss, _ = timed(run_ss, args.repeat)
            rows.append(("ss -tan", t_ss, "subprocess, output discarded"))
            t, conns = timed(lambda: psutil.net_connections("tcp"), max(1, args.repeat // 2))
            rows.append(("psutil.net_connections('tcp')", t, f"{len(conns)} connections"))
            if not args.skip_pyroute2:
                t, n = timed(pyroute2_stats, 1)
                rows.append(("pyroute2 DiagSocket.get_sock_stats", t, f"{n} messages"))
            for s in keep:
                s.close()
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)

    print(f"\n{args.sockets} sockets, median of {args.repeat} (pyroute2: 1 run)\n")
    print(f"| {'reader':<38} | {'ms':>8} | {'x bare':>7} | {'ss / it':>7} | note |")
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 9}|{'-' * 9}|------|")
    for label, t, note in rows:
        print(f"| {label:<38} | {t * 1000:8.1f} | {t / t_bare:7.2f} | {t_ss / t:7.1f} | {note} |")


if __name__ == "__main__":
    main()
