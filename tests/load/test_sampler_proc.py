"""The child sampler: whole JSON lines at the interval, a last one on SIGTERM."""

from __future__ import annotations

import json
import os
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


SLOW_IMPORT = """
import importlib.abc, sys, time

class Slow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "harness.observe.sampler":
            open({marker!r}, "w").close()   # the child is importing its sampler now
            time.sleep(1.0)
        return None

sys.meta_path.insert(0, Slow())
"""


def test_a_sigterm_while_the_child_starts_still_gives_one_sample(tmp_path):
    """A run shorter than the child's start-up (or a loaded machine) ended with no sample
    at all: the signal killed the child while it was still importing. Here the import of
    its sampler is made slow on purpose and the signal comes in the middle of it."""
    marker = tmp_path / "importing"
    (tmp_path / "sitecustomize.py").write_text(SLOW_IMPORT.format(marker=str(marker)))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen(SampleProcess(None, (), 0.5).command(), stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        deadline = time.monotonic() + 20
        while not marker.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "never imported"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    (line,) = out.splitlines()  # the one last sample
    assert json.loads(line)["schema"] == 1
