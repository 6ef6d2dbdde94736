"""Lab names, who owns them, and removal of stale ones.

A lab made by a process is ``sl-<pid>-<n>-<role>``; tests' throw-away namespaces are
``sl-t<pid>-<n>`` and benchmarks' ``sl-<word>-<pid>``: all carry the owning pid, and one
whose pid is gone is stale. A lab made by ``socklife lab up --name NAME`` is
``sl-NAME-<role>`` with a marker file under /run/socklife/labs: it is kept until
``socklife lab down``.
"""

from __future__ import annotations

import os
import re
import subprocess

from harness.kernel.netns import list_netns

PREFIX = "sl-"
MARKERS = "/run/socklife/labs"
_OWNED = re.compile(r"^sl-(?:t|[a-z]+-)?(\d+)(?:-|$)")


def owner_pid(name: str) -> int | None:
    """The pid encoded in an ``sl-`` namespace name, or None for persistent labs."""
    m = _OWNED.match(name)
    return int(m.group(1)) if m else None


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (a killed, unreaped owner)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def is_persistent(name: str) -> bool:
    lab = name[len(PREFIX):].rsplit("-", 1)[0]
    return os.path.exists(os.path.join(MARKERS, lab))


def delete_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def cleanup_stale() -> list[str]:
    """Remove ``sl-`` namespaces whose owning process is gone; returns their names."""
    removed = []
    for name in list_netns():
        if not name.startswith(PREFIX) or is_persistent(name):
            continue
        pid = owner_pid(name)
        if pid is not None and not pid_alive(pid):
            delete_netns(name)
            removed.append(name)
    return removed


def list_labs() -> dict[str, list[str]]:
    """``{lab name: [namespaces]}`` of every ``sl-`` namespace on this machine."""
    labs: dict[str, list[str]] = {}
    for name in list_netns():
        if name.startswith(PREFIX):
            labs.setdefault(name[len(PREFIX):].rsplit("-", 1)[0], []).append(name)
    return labs
