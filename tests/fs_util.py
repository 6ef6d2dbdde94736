"""File-system fixtures for tests of outputs: a small tmpfs that fills up (root), and
odd kinds of paths (a character device, a FIFO) made in a test's own folder."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from pathlib import Path


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "64k"):
    """A tmpfs of ``size`` mounted on ``where`` (made), unmounted even when the test
    fails; root only."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "sl-test", str(where)],
                   check=True, capture_output=True)
    try:
        yield where
    finally:
        done = subprocess.run(["umount", str(where)], capture_output=True)
        if done.returncode:  # something still holds it open: detach it now, gone at close
            subprocess.run(["umount", "-l", str(where)], check=True, capture_output=True)


def null_device(path: Path) -> Path:
    """A character device like /dev/null (1, 3) at ``path``; root only."""
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return path


def kind(path: Path) -> str:
    """"char device", "fifo", "regular", "symlink", "directory" (lstat: links not followed)."""
    mode = os.lstat(path).st_mode
    for test, name in ((stat.S_ISLNK, "symlink"), (stat.S_ISCHR, "char device"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISREG, "regular"),
                       (stat.S_ISDIR, "directory")):
        if test(mode):
            return name
    return "other"
