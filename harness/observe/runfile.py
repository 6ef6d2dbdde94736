"""Reading a recorded run (JSONL from `socklife record` or the Locust plugin).

Every line is validated against the sample contract (harness.schema) as it is read, and
a line that breaks it is a RunFileError naming the file, the line and the field.
Samples are folded into a RunSummary per sampling host (the Locust plugin's samples
carry ``host``) as they are read, so a long run is never held in memory; a recording of
several hosts also gives each host's summary and the total's (harness.observe.totals),
for rules per host. A file
without its summary line (a run that was killed) is summarised from its samples;
``Run.computed`` says so. The findings are always computed from the samples (the same
rules as live), with the summary line's EADDRNOTAVAIL count.

A last line cut short (no newline, not JSON: a run stopped in the middle of a write) is
left out with a note. ``load_run(path, tolerant=True)`` also reads past broken lines,
for the findings of what is left: a line with wrong types or unknown fields is left out,
one that only lacks sections is read without them; ``Run.problem`` names the first in
one line and ``Run.broken`` says whether there was one beyond a cut last line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from harness.observe.findings import ordered
from harness.observe.summary import RunSummary, combine
from harness.observe.totals import TotalPeaks, total_summary
from harness.schema.validate import ContractError, check_line


class RunFileError(ValueError):
    """The file cannot be read as a run: missing, not JSONL, or without samples."""


@dataclass
class Run:
    summary: dict
    samples: int
    computed: bool  # True when the file had no summary line
    notes: list[str] = field(default_factory=list)  # what was tolerated, one line each
    broken: bool = False  # a line other than a cut last one broke the contract
    problem: str | None = None  # the first such line, file:line: problem
    hosts: dict[str, dict] = field(default_factory=dict)  # label -> Summary (several hosts)
    total: dict | None = None  # over the hosts (harness.observe.totals), when several


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
    ``file:line: field: problem`` (with ``tolerant``: the line is left out, or read in
    part when it only lacks sections, and ``problem``/``notes`` say so).

    A last line without its newline that is not JSON is what a run cut off in the middle
    of a write leaves (a full disk, a crash): it is left out, and ``notes`` says so.
    """

    def __init__(self, path: str, tolerant: bool = False):
        self.path, self.tolerant = path, tolerant
        self.notes: list[str] = []
        self.problem: str | None = None
        self.left_out = 0

    @property
    def broken(self) -> bool:
        return self.problem is not None

    def error(self, number: int, problem: str) -> RunFileError:
        return RunFileError(f"{self.path}:{number}: {problem}")

    def _bad(self, number: int, problem: str) -> None:
        """A line that breaks the contract: raised, or (tolerant) counted."""
        err = self.error(number, problem)
        if not self.tolerant:
            raise err
        self.left_out += 1
        self.problem = self.problem or str(err)

    def __iter__(self):
        for number, raw in _raw_lines(self.path):
            if not raw.strip():
                continue
            read = self._read(number, raw)
            if read is None:
                continue
            if read is StopIteration:
                break
            yield number, *read
        if self.problem is not None:
            more = f"; {self.left_out} lines had problems" if self.left_out > 1 else ""
            self.notes.append(f"{self.problem}{more}: read without them")

    def _read(self, number: int, raw: bytes):
        """(kind, doc), None for a line left out, StopIteration after a cut last line."""
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, 5000 digits
            if not raw.endswith(b"\n"):
                self.notes.append(f"{self.path}:{number}: the last line is cut short "
                                  "(the run stopped in the middle of a write): left out")
                return StopIteration
            self._bad(number, "not UTF-8 text" if isinstance(exc, UnicodeDecodeError)
                      else "not a JSON line")
            return None
        if not isinstance(doc, dict) or not ("summary" in doc or "states" in doc):
            self._bad(number, "neither a sample nor a summary")
            return None
        try:
            kind = check_line(doc)
        except ContractError as exc:
            self._bad(number, str(exc))
            try:  # tolerant: a line that only lacks sections is read without them
                kind = check_line(doc, partial=True)
            except ContractError:
                return None
        if kind == "sample" and when(doc["time"]) is None:
            self._bad(number, f"time: not a date ({doc['time']!r} s)")
            return None
        return kind, doc


class RunFold:
    """A run file's lines folded as they are read: each sampling host's RunSummary and
    the file's own summary line."""

    def __init__(self):
        self.hosts: dict[str | None, RunSummary] = {}
        self.line: dict | None = None  # the summary line, when the file has one
        self.peaks = TotalPeaks()

    def add(self, doc: dict) -> None:
        if "summary" in doc:
            self.line = doc["summary"]
            return
        host = doc.get("host")
        run = self.hosts.get(host)
        if run is None:
            run = self.hosts[host] = RunSummary(host=host)
        run.add(doc)
        self.peaks.add(host, doc.get("states") or {})

    @property
    def samples(self) -> int:
        return sum(h.samples for h in self.hosts.values())

    def summary(self) -> dict:
        """The file's summary line over the one computed from the samples; the findings
        computed from the samples (with the line's EADDRNOTAVAIL count)."""
        failed = (self.line or {}).get("eaddrnotavail", 0)
        computed = combine(list(self.hosts.values())).summary(failed)
        if self.line is None:
            return computed
        # a finding no sample gives (a remote that did not answer) comes from the line
        polled = [f for f in self.line.get("findings") or ()
                  if f.get("id") == "remote_unreachable"]
        return {**computed, **self.line,
                "findings": ordered(computed["findings"] + polled)}

    def host_summaries(self) -> dict[str, dict]:
        """Each labelled host's Summary, in a recording of a Locust run (else empty)."""
        return {host: run.summary() for host, run in self.hosts.items() if host is not None}


def load_run(path: str, tolerant: bool = False) -> Run:
    """The run in ``path``, folded per host (RunFold)."""
    reader = RunFile(path, tolerant)
    fold = RunFold()
    for _number, _kind, doc in reader:
        fold.add(doc)
    if fold.samples == 0:
        raise RunFileError(reader.problem or f"{path}: no samples")
    summary = fold.summary()
    hosts = fold.host_summaries()
    if len(hosts) == 1:  # the one host: the file's own summary (EADDRNOTAVAIL is there)
        hosts = dict.fromkeys(hosts, summary)
    total = (total_summary(summary, list(hosts.values()), fold.peaks)
             if len(fold.hosts) > 1 else None)
    return Run(summary, fold.samples, computed=fold.line is None, notes=reader.notes,
               broken=reader.broken, problem=reader.problem, hosts=hosts, total=total)
