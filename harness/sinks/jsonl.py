"""JSON Lines: one sample per line, flushed per line, a ``{"summary": ...}`` line last.

Each line is written with one ``write`` of the complete string followed by a flush, so
a reader (or a run killed between samples) never sees a partial line.
"""

from __future__ import annotations

import json

from harness.errors import UsageProblem
from harness.schema.version import SCHEMA


class JsonlWriter:
    def __init__(self, path: str):
        try:
            self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise UsageProblem(f"cannot write {path}: {exc.strerror}") from None
        self.path = path
        self.lines = 0

    def write(self, obj: dict) -> None:
        self._file.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._file.flush()
        self.lines += 1

    def close(self, summary: dict | None = None) -> None:
        if self._file.closed:
            return
        try:
            if summary is not None:
                self.write({"schema": SCHEMA, "summary": summary})
        finally:
            self._file.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
