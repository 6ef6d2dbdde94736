"""Every docstring example in harness/ runs (a worked example that lies is a bug).

Modules under harness/load import Locust, which monkey-patches the standard library;
they are run in a child process so this one stays unpatched.
"""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest
from paths import ROOT

MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts)
    for p in (ROOT / "harness").rglob("*.py")
    if ">>> " in p.read_text() and p.name != "__main__.py"
)


def test_there_are_doctests():
    assert len(MODULES) >= 10


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    if name.startswith("harness.load"):  # imports Locust: in a child process
        code = (f"import doctest, importlib; m = importlib.import_module({name!r}); "
                "raise SystemExit(doctest.testmod(m, optionflags=doctest.ELLIPSIS).failed)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        return
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
