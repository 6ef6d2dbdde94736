"""Baselines: a run's figures saved once, later runs compared with a tolerance.

A metric regresses when the new value exceeds ``baseline x (1 + tolerance)`` plus a
small absolute allowance (one socket for counts, 0.01 for fractions), so that a
baseline of 0 does not fail on any noise at all while a leak still does::

    >>> limit_for("TIME_WAIT", 100, 0.10)
    111.0
    >>> limit_for("leaks", 0, 0.10)
    1.0
"""

from __future__ import annotations

import json

from harness.kernel.inet_diag import STATES
from harness.observe.thresholds import NAMES, Rule, observed

FRACTIONS = ("ephemeral_fraction", "accept_queue_fill")
FORMAT = 1


def limit_for(name: str, base: float, tolerance: float) -> float:
    allowance = 0.01 if name in FRACTIONS else 1.0
    return round(base * (1 + tolerance) + allowance, 6)


def baseline_doc(summary: dict, source: str) -> dict:
    return {"socklife_baseline": FORMAT, "source": source,
            "metrics": {name: observed(name, summary) for name in NAMES}}


def save(path: str, summary: dict, source: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(baseline_doc(summary, source), f, indent=1)
        f.write("\n")


def load(path: str) -> dict[str, float]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"no such baseline: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{path}: not a baseline (bad JSON)") from None
    if not isinstance(doc, dict) or doc.get("socklife_baseline") != FORMAT:
        raise ValueError(f"{path}: not a socklife baseline")
    return {k: float(v) for k, v in doc["metrics"].items() if k in NAMES}


def rules_from(metrics: dict[str, float], tolerance: float) -> list[Rule]:
    """A max rule per baseline metric; states that were 0 and stayed unused are skipped."""
    out = []
    for name, base in metrics.items():
        if name in STATES and name not in ("CLOSE_WAIT", "TIME_WAIT") and base == 0:
            continue
        out.append(Rule(name, limit_for(name, base, tolerance)))
    return out
