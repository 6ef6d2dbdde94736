"""Baselines: a run's figures saved once, later runs compared with a tolerance.

A metric regresses when the new value exceeds the baseline by more than
``max(tolerance x baseline, allowance)``: the allowance (one socket or event for
counts, 0.01 for fractions) keeps small numbers from failing on noise. ``leaks`` has
none: a socket in CLOSE_WAIT past the leak threshold is never noise, so a first leak
fails against a baseline of 0::

    >>> limit_for("TIME_WAIT", 100, 0.10)
    110.0
    >>> limit_for("TIME_WAIT", 3, 0.10)
    4.0
    >>> limit_for("leaks", 0, 0.10)
    0.0

States whose baseline peak is 0 are not compared, except CLOSE_WAIT and TIME_WAIT:
a transient state (SYN_SENT, FIN_WAIT1...) that a sample happened to catch once is
sampling noise, not a regression.
"""

from __future__ import annotations

import json
import math

from harness.kernel.tcp_states import STATES
from harness.observe.thresholds import NAMES, Rule, observed

ALLOWANCE = {"ephemeral_fraction": 0.01, "accept_queue_fill": 0.01, "leaks": 0.0}
FORMAT = 1


def limit_for(name: str, base: float, tolerance: float) -> float:
    allowance = ALLOWANCE.get(name, 1.0)
    return round(base + max(base * tolerance, allowance), 6)


def baseline_doc(summary: dict, source: str) -> dict:
    return {"socklife_baseline": FORMAT, "source": source,
            "metrics": {name: observed(name, summary) for name in NAMES}}


def baseline_text(summary: dict, source: str) -> str:
    """The baseline file's content (written by the caller: harness.sinks.outputs)."""
    return json.dumps(baseline_doc(summary, source), indent=1) + "\n"


def load(path: str) -> dict[str, float]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"no such baseline: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{path}: not a baseline (bad JSON)") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(doc, dict) or doc.get("socklife_baseline") != FORMAT:
        raise ValueError(f"{path}: not a socklife baseline")
    metrics = doc.get("metrics")
    if not isinstance(metrics, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in metrics.values()):
        raise ValueError(f"{path}: a socklife baseline without numeric metrics")
    return {k: float(v) for k, v in metrics.items() if k in NAMES}


def rules_from(metrics: dict[str, float], tolerance: float) -> list[Rule]:
    """A max rule per baseline metric; states that were 0 and stayed unused are skipped."""
    out = []
    for name, base in metrics.items():
        if name in STATES and name not in ("CLOSE_WAIT", "TIME_WAIT") and base == 0:
            continue
        out.append(Rule(name, limit_for(name, base, tolerance)))
    return out
