"""What the benchmarks share: a private namespace, a TIME_WAIT population, medians.

Every namespace is ``sl-<word>-<pid>`` (harness/lab/names.py: a stale one is removed by
the next run's cleanup) and is deleted when the ``with`` block ends, also on Ctrl-C and,
after ``exit_on_sigterm()``, on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def require_root(script: str, why: str) -> None:
    if os.geteuid() != 0:
        sys.exit(f"{script}: needs root ({why})")


def exit_on_sigterm() -> None:
    """SIGTERM ends the benchmark through ``finally`` blocks, as Ctrl-C does."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@contextmanager
def private_netns(word: str, sysctls: dict[str, str] | None = None) -> Iterator[str]:
    """A fresh namespace ``sl-<word>-<pid>`` with loopback up and ``sysctls`` set."""
    name = f"sl-{word}-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        for key, value in (sysctls or {}).items():
            subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", f"{key}={value}"],
                           check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


# TIME_WAIT without port reuse: the ports are not recycled, so n connections leave n.
TIME_WAIT_SYSCTLS = {"net.ipv4.tcp_tw_reuse": "0",
                     "net.ipv4.ip_local_port_range": "10000 65000"}


def build_time_wait(n: int, ports=(7001, 7002), keep: int = 100) -> list[socket.socket]:
    """In the calling thread's namespace: ``n`` connections to listeners on ``ports``,
    the client closing first (a TIME_WAIT each), except the first ``keep``, held open
    (ESTABLISHED pairs). Returns the open sockets, listeners included: close them."""
    listeners = []
    for port in ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(1024)
        listeners.append(s)
    held = list(listeners)
    for i in range(n):
        lst = listeners[i % len(listeners)]
        c = socket.create_connection(("127.0.0.1", ports[i % len(listeners)]))
        a, _ = lst.accept()
        if i < keep:
            held += [c, a]
            continue
        c.close()
        a.close()
        if i and i % 5000 == 0:
            print(f"  built {i} sockets", file=sys.stderr)
    return held


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall seconds of ``repeat`` calls of ``fn``, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def machine_load() -> str:
    """The load average and the busiest other processes, for the record of a run."""
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    top = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
                         capture_output=True, text=True).stdout.splitlines()[:4]
    return f"load average {load}; busiest: " + ", ".join(" ".join(t.split()) for t in top)
