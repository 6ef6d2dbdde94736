"""Running Locust as a subprocess for the load tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCUSTFILES = os.path.join(ROOT, "locustfiles")


def locust_cmd(locustfile: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", os.path.join(LOCUSTFILES, locustfile),
            "--only-summary", *args]


def start_locust(locustfile: str, *args: str, cwd: str, prefix=()) -> subprocess.Popen:
    return subprocess.Popen([*prefix, *locust_cmd(locustfile, *args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def host_table(out: str) -> dict[str, list[str]]:
    """The end-of-run table of hosts (``socklife: peaks per host; ...``): host -> its
    figures (SAMPLES, ESTAB, SYN_RECV, TIME_WAIT, CLOSE_WAIT, OVERFLOWS, LEAKS,
    QUEUE_FILL, PORT_FRACTION), the total's under ``total``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("socklife: peaks per "))
    rows = {}
    for line in lines[start + 2:]:
        cells = line.split()
        if len(cells) != 10 or not cells[1].isdigit():
            break
        rows[cells[0]] = cells[1:]
    return rows
