"""Throw-away cgroup v2 directories (``sl-t<pid>-<n>``) and a child process holding
sockets made inside one, removed even on failure (root)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_counter = itertools.count()

# The child, once in the cgroup (sk_cgrp_data is set when a socket is created, from
# the creating task's cgroup v2): a listener, an open pair and one TIME_WAIT on
# 127.0.0.1:PORT; prints "ready" and holds them until stdin closes.
CHILD = """
import socket, sys
port = int(sys.argv[1])
lst = socket.create_server(("127.0.0.1", port))
c = socket.create_connection(("127.0.0.1", port))
s, _ = lst.accept()
t = socket.create_connection(("127.0.0.1", port))
u, _ = lst.accept()
t.close()
u.recv(1)
u.close()
print("ready", flush=True)
sys.stdin.read()
"""


def cgroup2_mount() -> str | None:
    """Where the cgroup v2 hierarchy is mounted (None: it is not)."""
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "cgroup2":
                return fields[1]
    return None


@contextmanager
def temp_cgroup() -> Iterator[str]:
    """A fresh cgroup v2 directory; removed at the end (its processes gone first)."""
    mount = cgroup2_mount()
    if mount is None:
        raise RuntimeError("no cgroup v2 hierarchy mounted")
    path = os.path.join(mount, f"sl-t{os.getpid()}-{next(_counter)}")
    os.mkdir(path)
    try:
        yield path
    finally:
        os.rmdir(path)


@contextmanager
def sockets_in_cgroup(netns: str, cgroup: str, port: int) -> Iterator[subprocess.Popen]:
    """The CHILD above, in ``netns`` and ``cgroup``; ended when the block ends. It joins
    the cgroup between fork and exec: `ip netns exec` mounts a sysfs of the namespace,
    where the host's cgroup directories are not."""
    def join() -> None:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write("0")

    child = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", CHILD,
                              str(port)], preexec_fn=join,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the child in {cgroup} did not start: {line!r}")
        yield child
    finally:
        child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
