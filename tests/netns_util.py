"""Throw-away network namespaces for tests (``sl-t<pid>-<n>``), removed even on failure."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

_counter = itertools.count()


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


@contextmanager
def temp_netns(sysctls: dict[str, str] | None = None) -> Iterator[str]:
    """A fresh namespace with loopback up and ``sysctls`` (``net.ipv4.x``: value) set."""
    name = f"sl-t{os.getpid()}-{next(_counter)}"
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        for key, value in (sysctls or {}).items():
            ip("netns", "exec", name, "sysctl", "-q", "-w", f"{key}={value}")
        yield name
    finally:
        ip("netns", "del", name, check=False)
