"""Findings as sentences for a terminal: what every run's end prints first (record,
check, doctor, demo, the Locust plugin's console).

    >>> f = {"id": "connection_churn", "severity": "info", "subject": "127.0.0.1:80",
    ...      "summary": "500 new connections/s to 127.0.0.1:80.", "fix": "Reuse them.",
    ...      "evidence": {}}
    >>> print("\\n".join(finding_lines([f])))
    findings: 1 info
    INFO     connection_churn  127.0.0.1:80
      500 new connections/s to 127.0.0.1:80.
      fix: Reuse them.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter

from harness.observe.findings import SEVERITIES

WIDTH = 79
_UNIT = re.compile(r"(\d) (s|ms)\b")  # "1.0 s" is not cut between number and unit
NBSP = "\u00a0"


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    kept = _UNIT.sub(rf"\1{NBSP}\2", text)
    return [line.replace(NBSP, " ")
            for line in textwrap.wrap(kept, width, initial_indent=first, subsequent_indent=rest)]


def headline(findings) -> str:
    """``findings: 1 critical, 2 info`` (``findings: none`` for an empty list)."""
    counts = Counter(f["severity"] for f in findings)
    parts = [f"{counts[s]} {s}" for s in SEVERITIES if counts[s]]
    return "findings: " + (", ".join(parts) if parts else "none")


def finding_lines(findings, width: int = WIDTH, prefix: str = "",
                  title: str = "") -> list[str]:
    """A headline (after ``title``), then each finding: severity, id, subject (and
    host), the sentence and its fix wrapped to ``width`` columns, each line after
    ``prefix``."""
    out = [prefix + title + headline(findings)]
    room = max(40, width - len(prefix))
    for f in findings:
        host = f"  (on {f['host']})" if f.get("host") else ""
        out.append(f"{prefix}{f['severity'].upper():<8} {f['id']}  {f['subject']}{host}")
        out += [prefix + line for line in _wrap(f["summary"], room, "  ", "  ")]
        out += [prefix + line for line in _wrap(f["fix"], room, "  fix: ", "       ")]
    return out
