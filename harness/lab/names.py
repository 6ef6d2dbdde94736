"""Lab names, who owns them, and removal of stale ones.

A lab made by a process is ``sl-<pid>-<n>-<role>``; tests' throw-away namespaces are
``sl-t<pid>-<n>`` and benchmarks' ``sl-<word>-<pid>``: all carry the owning pid, and one
whose pid is gone is stale. A lab made by ``socklife lab up --name NAME`` is
``sl-NAME-<role>`` with a marker file under /run/socklife/labs: it is kept until
``socklife lab down``.

Subnets: each two-host lab takes one /24 of 198.18.0.0/15 (and the matching fd53:6c::/48
/64), numbered 0..511, by creating ``/run/socklife/subnets/<k>`` with O_EXCL; the file
names the lab. A claim whose lab has no namespace left and whose owner pid is gone is
stale and is taken over, so two live labs never share a subnet (tracepoint events are
machine-wide and told apart by address).
"""

from __future__ import annotations

import contextlib
import os
import re

from harness.kernel.netns import list_netns

PREFIX = "sl-"
MARKERS = "/run/socklife/labs"
SUBNETS = "/run/socklife/subnets"
SUBNET_COUNT = 512
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
    """Remove ``/run/netns/NAME`` (its veth end goes with it); gone already is fine."""
    from pyroute2 import netns

    with contextlib.suppress(OSError):
        netns.remove(name)


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


def _claim_live(lab: str, spaces: set[str]) -> bool:
    if any(ns.startswith(f"{PREFIX}{lab}-") for ns in spaces):
        return True
    pid = owner_pid(f"{PREFIX}{lab}-")
    return pid is not None and pid_alive(pid)


def claim_subnet(lab: str, start: int = 0, folder: str = SUBNETS) -> int:
    """A subnet number no live lab holds, claimed for ``lab`` (its name without ``sl-``).

    Tries ``start`` first, then the next ones; a stale claim is taken over. Raises
    RuntimeError when all 512 are held by live labs."""
    os.makedirs(folder, exist_ok=True)
    spaces = None
    for i in range(SUBNET_COUNT):
        k = (start + i) % SUBNET_COUNT
        path = os.path.join(folder, str(k))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    holder = f.read().strip()
            except FileNotFoundError:
                holder = ""  # released meanwhile: try it again on the next round
            if spaces is None:
                spaces = set(list_netns())
            if holder and _claim_live(holder, spaces):
                continue
            # Stale (or empty: a claimer killed between create and write, long ago).
            # Renaming a fresh claim over it keeps the take-over atomic.
            tmp = f"{path}.{os.getpid()}"
            with open(tmp, "w") as f:
                f.write(lab)
            os.replace(tmp, path)
            return k
        with os.fdopen(fd, "w") as f:
            f.write(lab)
        return k
    raise RuntimeError("every lab subnet (512) is held by a live lab")


def release_subnet(k: int, lab: str, folder: str = SUBNETS) -> None:
    """Give subnet ``k`` back if ``lab`` still holds it."""
    path = os.path.join(folder, str(k))
    try:
        with open(path) as f:
            if f.read().strip() != lab:
                return
        os.unlink(path)
    except FileNotFoundError:
        pass


def release_subnets_of(lab: str, folder: str = SUBNETS) -> None:
    """Give back every subnet ``lab`` holds (``socklife lab down``)."""
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        if name.isdigit():
            release_subnet(int(name), lab, folder)
