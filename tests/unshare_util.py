"""A process in a network namespace of its own, made by ``unshare -n`` (no name under
/run/netns, no file anywhere): it holds a listener and a CLOSE_WAIT socket its code
never closes. Killed (and its namespace gone with it) when the ``with`` ends, also on
failure."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

PORT = 7019

LEAKER = f"""
import socket, sys, time
lst = socket.create_server(("127.0.0.1", {PORT}))
client = socket.create_connection(("127.0.0.1", {PORT}))
leaked, _ = lst.accept()
client.close()  # the peer closes; `leaked` is never closed: CLOSE_WAIT
print("ready", flush=True)
time.sleep(300)
"""


@dataclass
class Leaker:
    pid: int
    port: int = PORT

    @property
    def path(self) -> str:
        return f"/proc/{self.pid}/ns/net"


@contextmanager
def unshared_leaker() -> Iterator[Leaker]:
    """The process (root): ``unshare -n`` execs sh, which brings loopback up and execs
    Python, so the Popen's pid is the process holding the sockets."""
    proc = subprocess.Popen(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" -c "$1"',
         sys.executable, LEAKER], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", f"the leaker did not start: {line!r}"
        yield Leaker(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
