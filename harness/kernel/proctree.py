"""A process and its descendants, from /proc/PID/stat's parent pids (one read per
process; the I/O half) and a pure half over ``{pid: ppid}``::

    >>> sorted(descendants({1: 0, 5: 1, 6: 5, 7: 6, 9: 1}, 5))
    [5, 6, 7]
"""

from __future__ import annotations

import os

from harness.kernel.procfs import proc_root, read_text


def parent_of(stat_line: str) -> int:
    """The ppid of a /proc/PID/stat line (after the comm, which may hold ')')::

        >>> parent_of("42 (a) b) S 7 42 42 0")
        7
    """
    return int(stat_line.rpartition(")")[2].split()[1])


def parents() -> dict[int, int]:
    """``{pid: ppid}`` of every process this one may see."""
    root = proc_root()
    out = {}
    for name in os.listdir(root):
        if name.isdigit():
            try:
                out[int(name)] = parent_of(read_text(f"{root}/{name}/stat"))
            except (OSError, ValueError, IndexError):
                continue  # exited meanwhile
    return out


def descendants(ppids: dict[int, int], pid: int) -> set[int]:
    """``pid`` and every process below it in ``ppids``."""
    children: dict[int, list[int]] = {}
    for child, parent in ppids.items():
        children.setdefault(parent, []).append(child)
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo += children.get(p, [])
    return out


def process_tree(pid: int) -> set[int]:
    """``pid`` and its descendants now (empty when ``pid`` does not exist)."""
    ppids = parents()
    return descendants(ppids, pid) if pid in ppids else set()
