"""Reading a recorded run (JSONL from `socklife record` or the Locust plugin).

Every line is validated against the sample contract (harness.schema) as it is read, and
a line that breaks it is a RunFileError naming the file, the line and the field.
Samples are folded into a RunSummary per sampling host (the Locust plugin's samples
carry ``host``) as they are read, so a long run is never held in memory. A file
without its summary line (a run that was killed) is summarised from its samples;
``Run.computed`` says so. A last line cut short (a run stopped in the middle of a
write) is left out, with a note (``Run.notes``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from harness.observe.summary import RunSummary, combine
from harness.schema.validate import ContractError, check_line


class RunFileError(ValueError):
    """The file cannot be read as a run: missing, not JSONL, or without samples."""


@dataclass
class Run:
    summary: dict
    samples: int
    computed: bool  # True when the file had no summary line
    notes: list[str] = field(default_factory=list)  # what was tolerated, one line each


def when(t: float) -> datetime | None:
    """The local date and time of ``t`` (seconds since 1970), None when there is none
    (a finite number can still be past the year 9999)."""
    try:
        return datetime.fromtimestamp(t)
    except (ValueError, OverflowError, OSError):
        return None


def _raw_lines(path: str):
    """(line number, bytes) of each line, the newline kept; RunFileError when the file
    cannot be opened or read."""
    try:
        with open(path, "rb") as f:
            yield from enumerate(f, 1)
    except FileNotFoundError:
        raise RunFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise RunFileError(f"{path} is a folder") from None
    except PermissionError:
        raise RunFileError(f"cannot read {path}") from None
    except OSError as exc:
        raise RunFileError(f"cannot read {path}: {exc.strerror or exc}") from None


class RunFile:
    """One pass over a run file: iterate to get (line number, "sample" | "summary", doc)
    for each line, validated against the contract; any other problem is a RunFileError
    ``file:line: field: problem``.

    A last line without its newline that is not JSON is what a run cut off in the middle
    of a write leaves (a full disk, a crash): it is left out, and ``notes`` says so.
    """

    def __init__(self, path: str):
        self.path = path
        self.notes: list[str] = []

    def error(self, number: int, problem: str) -> RunFileError:
        return RunFileError(f"{self.path}:{number}: {problem}")

    def __iter__(self):
        for number, raw in _raw_lines(self.path):
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, 5000 digits
                if not raw.endswith(b"\n"):
                    self.notes.append(f"{self.path}:{number}: the last line is cut short "
                                      "(the run stopped in the middle of a write): left out")
                    return
                what = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else \
                    "not a JSON line"
                raise self.error(number, what) from None
            if not isinstance(doc, dict) or not ("summary" in doc or "states" in doc):
                raise self.error(number, "neither a sample nor a summary")
            try:
                kind = check_line(doc)
            except ContractError as exc:
                raise self.error(number, str(exc)) from None
            if kind == "sample" and when(doc["time"]) is None:
                raise self.error(number, f"time: not a date ({doc['time']!r} s)")
            yield number, kind, doc


def load_run(path: str) -> Run:
    reader = RunFile(path)
    hosts: dict[object, RunSummary] = {}
    summary = None
    for _number, kind, doc in reader:
        if kind == "summary":
            summary = doc["summary"]
            continue
        hosts.setdefault(str(doc.get("host")), RunSummary()).add(doc)
    samples = sum(h.samples for h in hosts.values())
    if samples == 0:
        raise RunFileError(f"{path}: no samples")
    computed = combine(list(hosts.values())).summary()
    merged = computed if summary is None else {**computed, **summary}
    return Run(merged, samples, computed=summary is None, notes=reader.notes)
