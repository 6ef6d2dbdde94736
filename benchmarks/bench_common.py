"""What the benchmarks share: a private namespace, a TIME_WAIT population, the bare
kernel dump, medians.

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

from harness.kernel import inet_diag as wire  # noqa: E402
from harness.kernel.netlink import ends_with_done  # noqa: E402
from harness.kernel.sockdiag import NETLINK_SOCK_DIAG, ONE_WALK  # noqa: E402
from harness.kernel.sockstat import minisockets, read_sockstat  # noqa: E402


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


class TimeWait:
    """In the calling thread's namespace: listeners on ``ports`` and connections through
    them, the client closing first (a TIME_WAIT each, which lasts 60 s). Close it to
    close every socket it holds."""

    def __init__(self, ports=(7001, 7002)):
        self.ports = tuple(ports)
        self.held: list[socket.socket] = []
        for port in self.ports:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(1024)
            self.held.append(s)
        self.listeners = list(self.held)

    def add(self, n: int, keep: int = 0) -> None:
        """``n`` connections, each leaving a TIME_WAIT, except the first ``keep``, held
        open (ESTABLISHED pairs)."""
        for i in range(n):
            lst = self.listeners[i % len(self.listeners)]
            c = socket.create_connection(("127.0.0.1", self.ports[i % len(self.ports)]))
            a, _ = lst.accept()
            if i < keep:
                self.held += [c, a]
                continue
            c.close()
            a.close()
            if i and i % 5000 == 0:
                print(f"  built {i} sockets", file=sys.stderr)

    def top_up(self, target: int) -> int:
        """Connections until sockstat's ``tw`` is ``target`` again; returns it."""
        missing = target - minisockets(read_sockstat(ipv6=False))
        if missing > 0:
            self.add(missing)
        return minisockets(read_sockstat(ipv6=False))

    def close(self) -> None:
        for s in self.held:
            s.close()

    def __enter__(self) -> TimeWait:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bare_dump(families=ONE_WALK) -> int:
    """Receive a whole dump of every socket (all states) and discard it; returns bytes
    received. ONE_WALK: both families in one TCPDIAG_GETSOCK dump, one walk."""
    total = 0
    buf = bytearray(1 << 16)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as s:
        for family in families:
            s.send(wire.build_request(family, wire.ALL_STATES_MASK))
            while True:
                n = s.recv_into(buf)
                total += n
                # NLMSG_DONE closes the dump: it is the last message of the last buffer.
                if ends_with_done(buf, n):
                    break
    return total


def spawn_holder(fds: list[int], stdin: int) -> subprocess.Popen:
    """A `cat` holding ``fds`` (closed here), ending when ``stdin`` reaches EOF."""
    proc = subprocess.Popen(["cat"], stdin=stdin, stdout=subprocess.DEVNULL, pass_fds=fds)
    for fd in fds:
        os.close(fd)
    return proc


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
