"""An owner's command line and user reach the listener and CLOSE_WAIT rows of a sample
when the owner is known (schema: NotRequired), on a recorded moment without root."""

from __future__ import annotations

from replay import ReplayReader

from harness.kernel.owners import Owner
from harness.observe import snapshot
from harness.schema.validate import check_line


class DetailedOwners(ReplayReader):
    """The moment's owners, with the cmdline and user psutil would have read."""

    def owners(self, inodes) -> dict:
        return {inode: owner._replace(cmdline=f"python3 server.py --inode {inode}",
                                      user="nobody")
                for inode, owner in super().owners(inodes).items()}


def test_rows_with_a_known_owner_carry_cmdline_and_user():
    s = snapshot.take(reader=DetailedOwners("t0"))
    check_line(s)
    rows = [*s["listeners"], *s["close_wait"]]
    known = [row for row in rows if row["pid"] is not None]
    assert known and len(s["close_wait"]) == 1
    for row in known:
        assert row["cmdline"].startswith("python3 server.py --inode ") and row["user"] == "nobody"
    for row in rows:
        if row["pid"] is None:
            assert "cmdline" not in row and "user" not in row


def test_unreadable_details_are_null_not_absent():
    s = snapshot.take(reader=ReplayReader("t0"))  # owners.json holds pid, fd, name only
    check_line(s)
    full = next(row for row in s["listeners"] if row["local"] == "127.0.0.1:7000")
    assert full["pid"] and full["cmdline"] is None and full["user"] is None
    assert Owner(1, 2, "x").cmdline is None
