"""``<csv-prefix>_tcp.csv``: one row per sample, each written whole.

Columns: time (Unix seconds), time_iso (the same time in ISO 8601, UTC, to the
millisecond, for spreadsheets and people), host, the eleven TCP states, listeners, the
fullest accept queue (``accept_queue``/``backlog``/``accept_queue_fill``),
``listen_overflows`` (kernel counter, cumulative), ``leaks``, ephemeral ports
(``ephemeral_in_use``, ``ephemeral_usable``, ``ephemeral_headroom`` for the busiest
destination, ``ephemeral_fraction_max``, ``ephemeral_exhausted_in_s``: the sampler's
soonest forecast), and Locust's ``rps``, ``failures_per_s``, ``users``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from harness.kernel.inet_diag import STATES
from harness.observe.figures import (
    fraction_max,
    fullest_listener,
    headroom,
    leak_count,
    listener_fill,
    soonest_exhaustion,
)
from harness.sinks.outputs import LineFile

COLUMNS = (
    "time", "time_iso", "host", *STATES, "listeners", "accept_queue", "backlog",
    "accept_queue_fill",
    "listen_overflows", "leaks", "ephemeral_in_use", "ephemeral_usable", "ephemeral_headroom",
    "ephemeral_fraction_max", "ephemeral_exhausted_in_s", "rps", "failures_per_s", "users",
)


def iso_utc(epoch: float) -> str:
    """``1795400000.25`` -> ``"2026-11-23T02:13:20.250Z"``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def row_of(label: str, sample: dict) -> list:
    listeners = sample.get("listeners") or []
    top = fullest_listener(sample)
    eph = sample.get("ephemeral") or {}
    load = sample.get("locust") or {}
    room = headroom(sample)
    soonest = soonest_exhaustion(sample)
    return [
        sample["time"], iso_utc(sample["time"]), label,
        *(sample["states"].get(s, 0) for s in STATES),
        len(listeners),
        top["accept_queue"] if top else "", top["backlog"] if top else "",
        round(listener_fill(top), 4) if top else "",
        sample.get("counters", {}).get("ListenOverflows", ""),
        leak_count(sample),
        eph.get("in_use", ""), eph.get("usable", ""), "" if room is None else room,
        round(fraction_max(sample), 6), "" if soonest is None else soonest,
        load.get("rps", ""), load.get("failures_per_s", ""), load.get("users", ""),
    ]


class TcpCsv:
    """Append rows to ``path``; each row is written whole or not at all (LineFile)."""

    def __init__(self, path: str):
        self.path = path
        self._file = LineFile(path, "rows")
        self._write_line(COLUMNS, count=False)

    def _write_line(self, values, count: bool = True) -> None:
        buf = io.StringIO()
        csv.writer(buf).writerow(values)
        self._file.write(buf.getvalue(), count)

    @property
    def failed(self):
        """The LineWriteError that ended the file, or None."""
        return self._file.failed

    def add(self, label: str, sample: dict) -> None:
        self._write_line(row_of(label, sample))

    def close(self) -> None:
        self._file.close()
