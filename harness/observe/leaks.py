"""CLOSE_WAIT sockets followed across samples by socket cookie: age, owner, leak flag.

A socket in CLOSE_WAIT has received the peer's FIN and waits for its application to
close(); one that stays there past a threshold (default 30 s) is a leak. ``age_s`` is
the time since this run first saw the socket (None in that very sample). Owners are
looked up (a walk of /proc) only for cookies not seen before, and cookies that leave
the dump are forgotten, so memory follows the sockets present, not the run length.
"""

from __future__ import annotations

from collections import Counter

from harness.kernel.owners import socket_owners

DEFAULT_THRESHOLD_S = 30.0


def close_wait_rows(records, owners) -> list[dict]:
    """A records.CloseWaitSocket per CLOSE_WAIT record (``age_s`` and ``leak`` are filled
    by LeakTracker.update); ``owners`` maps inode -> Owner."""
    rows = []
    for r in records:
        if r.state != "CLOSE_WAIT":
            continue
        owner = owners.get(r.inode)
        row = {
            "local": r.local, "remote": r.remote,
            "pid": owner.pid if owner else None,
            "process": owner.process if owner else None,
            "fd": owner.fd if owner else None,
            "age_s": None, "cookie": r.cookie,
        }
        if owner:
            row.update(cmdline=owner.cmdline, user=owner.user)
        rows.append(row)
    return rows


class OwnerCache:
    """``cookie -> Owner | None`` for the sockets present; /proc is read only for new ones."""

    def __init__(self, lookup=socket_owners):
        self._lookup = lookup
        self._by_cookie: dict[int, object] = {}

    def resolve(self, records, lookup: bool = True) -> dict:
        """``{inode: Owner}`` for ``records`` (listeners, CLOSE_WAIT); forgets the rest.
        Without ``lookup`` only owners already known are given (new ones wait)."""
        present = {r.cookie: r.inode for r in records}
        if lookup:
            new = {inode for cookie, inode in present.items()
                   if cookie not in self._by_cookie and inode}
            found = self._lookup(new) if new else {}
            for cookie, inode in present.items():
                if cookie not in self._by_cookie:
                    self._by_cookie[cookie] = found.get(inode)
        for gone in self._by_cookie.keys() - present.keys():
            del self._by_cookie[gone]
        return {present[c]: o for c, o in self._by_cookie.items() if o is not None}


class LeakTracker:
    """Ages of CLOSE_WAIT sockets by cookie (the run summary collects the leaks)."""

    def __init__(self, threshold_s: float = DEFAULT_THRESHOLD_S):
        self.threshold_s = threshold_s
        self._first_seen: dict[int, float] = {}

    def update(self, rows: list[dict], now: float) -> dict:
        """Fill ``age_s`` and ``leak`` in the close_wait ``rows`` (oldest first, in place)
        and return the ``leaks`` block."""
        present = set()
        for row in rows:
            cookie = row["cookie"]
            present.add(cookie)
            first = self._first_seen.setdefault(cookie, now)
            row["age_s"] = None if first == now else round(now - first, 3)
            row["leak"] = row["age_s"] is not None and row["age_s"] >= self.threshold_s
        for gone in self._first_seen.keys() - present:
            del self._first_seen[gone]
        rows.sort(key=lambda r: (-(r["age_s"] or 0.0), r["local"], r["remote"]))
        leaks = [r for r in rows if r["leak"]]
        per_process = Counter((r["pid"], r["process"]) for r in leaks)
        return {
            "threshold_s": self.threshold_s,
            "count": len(leaks),
            "oldest_s": leaks[0]["age_s"] if leaks else None,
            "by_process": [{"pid": pid, "process": proc, "count": n}
                           for (pid, proc), n in per_process.most_common()],
        }

    def lasted(self, records, now: float, min_age_s: float) -> list:
        """The CLOSE_WAIT ``records`` first seen at least ``min_age_s`` before ``now``."""
        first = self._first_seen
        return [r for r in records if r.cookie in first and now - first[r.cookie] >= min_age_s]
