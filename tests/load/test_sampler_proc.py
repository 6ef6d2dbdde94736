"""The child sampler: whole JSON lines at the interval, a last one on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

from harness.load.source import SampleProcess


def test_child_samples_a_listener_and_ends_with_a_last_sample_on_sigterm():
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(3)
        port = lst.getsockname()[1]
        child = SampleProcess(None, (port,), 0.1)
        proc = subprocess.Popen(child.command(), stdout=subprocess.PIPE, text=True)
        first = json.loads(proc.stdout.readline())
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    lines = rest.splitlines()
    assert lines and all(line.startswith("{") for line in lines)
    last = json.loads(lines[-1])
    assert first["states"]["LISTEN"] == last["states"]["LISTEN"] == 1
    assert first["listeners"][0]["local"] == f"127.0.0.1:{port}"
    assert last["ports"] == [port] and last["interval_s"] == 0.1
    assert last["time"] > first["time"]


def test_child_ends_with_its_parent():
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys; from harness.load.source import SampleProcess;"
         "p = subprocess.Popen(SampleProcess(None, (), 0.2).command(),"
         " stdout=subprocess.DEVNULL); print(p.pid, flush=True);"
         "import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    for _ in range(100):
        try:
            with open(f"/proc/{child_pid}/stat") as f:
                if f.read().split(") ")[1].startswith("Z"):
                    break  # reaped by init soon; it has ended
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"sampler child {child_pid} outlived its parent")
