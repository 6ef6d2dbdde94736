"""Fake remotes (tests/fake_remote.py) as context managers: each a process of its own, so
a slow one really is slow for the process under test, and each is ended afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

from paths import FIXTURES

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_remote.py")
LEAK = str(FIXTURES / "findings" / "close_wait_leak.jsonl")  # CLOSE_WAIT held: 20


@contextlib.contextmanager
def fake_remote(fixture: str = LEAK, *options: str):
    """The base URL of a fake exporter serving ``fixture`` (options: fake_remote.py's)."""
    proc = subprocess.Popen([sys.executable, SCRIPT, fixture, *options],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
