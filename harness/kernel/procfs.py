"""Every /proc path goes through here, so tests and tools can point at a recorded tree.

Set ``SOCKLIFE_PROCFS`` to a folder laid out like /proc (``net/netstat``,
``sys/net/ipv4/...``) to read recorded files instead of the kernel. Network files are
read through ``thread-self/net`` so a thread inside another namespace (see netns.py)
reads that namespace's files.
"""

from __future__ import annotations

import os


def proc_root() -> str:
    return os.environ.get("SOCKLIFE_PROCFS", "/proc")


def net_file(name: str) -> str:
    """Path of /proc/net/NAME for the calling thread's namespace."""
    root = proc_root()
    if root == "/proc":
        return f"/proc/thread-self/net/{name}"
    return os.path.join(root, "net", name)


def sys_file(*parts: str) -> str:
    """Path of /proc/sys/PARTS... (sysctls are per namespace of the opener)."""
    return os.path.join(proc_root(), "sys", *parts)


def read_text(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read()
