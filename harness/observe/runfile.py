"""Reading a recorded run (JSONL from `socklife record` or the Locust plugin).

Samples are folded into a RunSummary per sampling host (the Locust plugin's samples
carry ``host``) as they are read, so a long run is never held in memory. A file
without its summary line (a run that was killed) is summarised from its samples;
``Run.computed`` says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from harness.observe.thresholds import NAMES, RunSummary, combine, observed


class RunFileError(ValueError):
    """The file cannot be read as a run: missing, not JSONL, or without samples."""


@dataclass
class Run:
    summary: dict
    samples: int
    computed: bool  # True when the file had no summary line


def _numbered(path: str):
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
                yield number, doc
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
    for _number, doc in _numbered(path):
        yield doc


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value))


def load_run(path: str) -> Run:
    hosts: dict[object, RunSummary] = {}
    summary = None
    for number, doc in _numbered(path):
        if "summary" in doc:
            summary = doc["summary"]
            if not isinstance(summary, dict):
                raise RunFileError(f"{path}:{number}: the summary is not an object")
            continue
        folded = hosts.setdefault(str(doc.get("host")), RunSummary())
        try:
            folded.add(doc)
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            raise RunFileError(f"{path}:{number}: not a sample ({type(exc).__name__}: "
                               f"{exc})") from None
    samples = sum(h.samples for h in hosts.values())
    if samples == 0:
        raise RunFileError(f"{path}: no samples")
    computed = combine([h.summary() for h in hosts.values()])
    merged = computed if summary is None else {**computed, **summary}
    try:
        bad = [name for name in NAMES if not _is_number(observed(name, merged))]
    except (TypeError, AttributeError) as exc:
        raise RunFileError(f"{path}: bad summary line ({exc})") from None
    if bad:
        raise RunFileError(f"{path}: bad summary line ({', '.join(bad)} not a number)")
    return Run(merged, samples, computed=summary is None)
