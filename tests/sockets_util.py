"""Small socket builders for live tests: states made on purpose, closed after."""

from __future__ import annotations

import socket
import time


def listener(host: str = "127.0.0.1", backlog: int = 128, family=socket.AF_INET) -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(backlog)
    return s


def nonblocking_connects(addr, n: int, family=socket.AF_INET) -> list[socket.socket]:
    out = []
    for _ in range(n):
        c = socket.socket(family, socket.SOCK_STREAM)
        c.setblocking(False)
        c.connect_ex(addr)
        out.append(c)
    return out


def pair(lst: socket.socket) -> tuple[socket.socket, socket.socket]:
    """A connected (client, accepted server socket) pair through ``lst``."""
    c = socket.create_connection(lst.getsockname()[:2])
    s, _ = lst.accept()
    return c, s


def wait_for(predicate, timeout: float = 5.0, step: float = 0.02):
    """Poll ``predicate`` until it returns a truthy value (returned) or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


SS_STATES = {
    "ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV",
    "FIN-WAIT-1": "FIN_WAIT1", "FIN-WAIT-2": "FIN_WAIT2", "TIME-WAIT": "TIME_WAIT",
    "UNCONN": "CLOSE", "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK",
    "LISTEN": "LISTEN", "CLOSING": "CLOSING",
}


def ss_counts(netns: str | None = None, ss_filter: str = "") -> dict[str, int]:
    """State counts as `ss -tan` prints them, in our state names."""
    import subprocess
    from collections import Counter

    cmd = ["ss", "-Htan"] + ([ss_filter] if ss_filter else [])
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    counts = Counter(SS_STATES[line.split()[0]] for line in lines if line.strip())
    return {name: counts.get(name, 0) for name in SS_STATES.values()}
