"""Reading a recorded run (JSONL from `socklife record` or the Locust plugin).

Samples are folded into a RunSummary as they are read, so a long run is never held in
memory. A file without its summary line (a run that was killed) is summarised from its
samples; ``Run.computed`` says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from harness.observe.thresholds import RunSummary


class RunFileError(ValueError):
    """The file cannot be read as a run: missing, not JSONL, or without samples."""


@dataclass
class Run:
    summary: dict
    samples: int
    computed: bool  # True when the file had no summary line


def read_records(path: str):
    """Yield each line of a run file as a dict (a sample or ``{"summary": ...}``).

    Raises RunFileError naming the file (and line) when it cannot be read as a run.
    """
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
                yield doc
    except FileNotFoundError:
        raise RunFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise RunFileError(f"{path} is a folder") from None
    except UnicodeDecodeError:
        raise RunFileError(f"{path}: not a text file") from None


def load_run(path: str) -> Run:
    folded = RunSummary()
    summary = None
    for doc in read_records(path):
        if "summary" in doc:
            summary = doc["summary"]
        else:
            folded.add(doc)
    if folded.samples == 0:
        raise RunFileError(f"{path}: no samples")
    if summary is None:
        return Run(folded.summary(), folded.samples, computed=True)
    return Run({**folded.summary(), **summary}, folded.samples, computed=False)
