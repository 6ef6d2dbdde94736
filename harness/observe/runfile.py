"""Reading a recorded run (JSONL from `socklife record` or the Locust plugin).

Every line is validated against the sample contract (harness.schema) as it is read, and
a line that breaks it is a RunFileError naming the file, the line and the field.
Samples are folded into a RunSummary per sampling host (the Locust plugin's samples
carry ``host``) as they are read, so a long run is never held in memory. A file
without its summary line (a run that was killed) is summarised from its samples;
``Run.computed`` says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from harness.observe.summary import RunSummary, combine
from harness.schema.validate import ContractError, check_line


class RunFileError(ValueError):
    """The file cannot be read as a run: missing, not JSONL, or without samples."""


@dataclass
class Run:
    summary: dict
    samples: int
    computed: bool  # True when the file had no summary line


def _numbered(path: str):
    """(line number, "sample" | "summary", doc) for each line, validated."""
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError:
                    raise RunFileError(f"{path}:{number}: not a JSON line") from None
                if not isinstance(doc, dict) or not ("summary" in doc or "states" in doc):
                    raise RunFileError(f"{path}:{number}: neither a sample nor a summary")
                try:
                    kind = check_line(doc)
                except ContractError as exc:
                    raise RunFileError(f"{path}:{number}: {exc}") from None
                yield number, kind, doc
    except FileNotFoundError:
        raise RunFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise RunFileError(f"{path} is a folder") from None
    except PermissionError:
        raise RunFileError(f"cannot read {path}") from None
    except UnicodeDecodeError:
        raise RunFileError(f"{path}: not a text file") from None


def read_records(path: str):
    """Yield each line of a run file as a dict (a sample or ``{"summary": ...}``).

    Raises RunFileError naming the file (and line) when it cannot be read as a run.
    """
    for _number, _kind, doc in _numbered(path):
        yield doc


def load_run(path: str) -> Run:
    hosts: dict[object, RunSummary] = {}
    summary = None
    for _number, kind, doc in _numbered(path):
        if kind == "summary":
            summary = doc["summary"]
            continue
        hosts.setdefault(str(doc.get("host")), RunSummary()).add(doc)
    samples = sum(h.samples for h in hosts.values())
    if samples == 0:
        raise RunFileError(f"{path}: no samples")
    computed = combine(list(hosts.values())).summary()
    merged = computed if summary is None else {**computed, **summary}
    return Run(merged, samples, computed=summary is None)
