"""JSON Lines: one sample per line, written whole, a ``{"summary": ...}`` line last.

Each line goes out whole or not at all (harness.sinks.outputs.LineFile), so a reader,
or a run killed between samples, never sees a partial line. When the disk fills (or
any write fails) the file is cut back to its last complete sample and the write raises
LineWriteError: "cannot write r.jsonl: No space left on device; 812 complete samples
kept" (exit 2 from the CLI); nothing more is written to it, the summary neither.
"""

from __future__ import annotations

import json

from harness.schema.version import SCHEMA
from harness.sinks.outputs import LineFile


def encode(obj: dict) -> str:
    """A record as the JSON of one line (compact; without the newline): what the exporter's
    /api/v1/sample answers too."""
    return json.dumps(obj, separators=(",", ":"))


class JsonlWriter:
    def __init__(self, path: str):
        self._out = LineFile(path, "samples")
        self.path = path
        self._summary = 0

    @property
    def samples(self) -> int:
        """Sample lines written (complete ones)."""
        return self._out.lines

    @property
    def lines(self) -> int:
        """Every line written: the samples and the summary."""
        return self._out.lines + self._summary

    @property
    def failed(self):
        """The LineWriteError that ended the file, or None."""
        return self._out.failed

    def write(self, obj: dict) -> None:
        self._out.write(encode(obj) + "\n")

    def close(self, summary: dict | None = None) -> None:
        """Close; with ``summary``, write it first (unless a write failed already)."""
        if self._out.closed:
            return
        try:
            if summary is not None and self._out.failed is None:
                self._out.write(encode({"schema": SCHEMA, "summary": summary}) + "\n",
                                count=False)
                self._summary = 1
        finally:
            self._out.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
