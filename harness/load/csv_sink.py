"""``<csv-prefix>_tcp.csv``: one row per sample of each host, and total rows, each
written whole.

The columns, their units and how a total row gets each are harness.load.rows.COLUMNS
(listed for people in docs/ci.md): time, time_iso, host, the eleven TCP states,
listeners, the fullest accept queue, listen_overflows (growth during the run) and
listen_overflows_total (the kernel's counter), leaks, ephemeral ports, and Locust's
rps, failures_per_s, users. A ``total`` row (host ``total``) follows each round of the
collecting process (every sampling interval), summing each host's latest sample.
"""

from __future__ import annotations

import csv
import io

from harness.load.rows import NAMES as COLUMNS
from harness.sinks.outputs import LineFile


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

    def add(self, row: dict) -> None:
        """One harness.load.rows row (a host's or the total)."""
        self._write_line([row[name] for name in COLUMNS])

    def close(self) -> None:
        self._file.close()
