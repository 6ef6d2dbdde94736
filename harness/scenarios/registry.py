"""Finds the scenarios: every ``harness/scenarios/sNN_<name>.py`` defines ``SCENARIO``."""

from __future__ import annotations

import importlib
import pkgutil

import harness.scenarios as package
from harness.scenarios.base import Scenario


def all_scenarios() -> list[Scenario]:
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name[:1] == "s" and info.name[1:3].isdigit():
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            found.append(module.SCENARIO)
    return sorted(found, key=lambda s: s.number)


def by_name(names) -> list[Scenario]:
    """Scenarios named ``names`` (name or number), in the order given; KeyError if unknown."""
    index = {}
    for s in all_scenarios():
        index[s.name] = s
        index[str(s.number)] = s
    missing = [n for n in names if n not in index]
    if missing:
        raise KeyError(", ".join(missing))
    return [index[n] for n in names]
