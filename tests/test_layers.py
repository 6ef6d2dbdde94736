"""The layers the code promises (harness/__init__.py): imports only go down, never into commands.

kernel/ and schema/ import nothing of socklife's but each other's constants (schema may
read kernel constants; kernel never schema); observe/ imports kernel/ and schema/; nothing
below commands/ (and the CLI) imports harness.commands. Read from the sources (AST), so a
function-level import counts too.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from paths import ROOT

PACKAGE = ROOT / "harness"
ALLOWED = {
    "kernel": {"kernel"},
    "schema": {"schema", "kernel"},
    "observe": {"observe", "kernel", "schema"},
    "views": {"views", "observe", "kernel", "schema"},
}


def imports_of(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def ours(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "harness" and len(parts) > 1 else None


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_what_is_below_it(layer):
    bad = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for module in imports_of(path):
            top = ours(module)
            if top is not None and top not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not bad, "\n".join(bad)


def test_nothing_below_the_commands_imports_them():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "commands" or rel.name in ("cli.py", "__main__.py"):
            continue
        bad += [f"{rel} imports {m}" for m in imports_of(path) if ours(m) == "commands"]
    assert not bad, "\n".join(bad)


def test_the_demo_run_imports_no_command():
    code = ("import sys, harness.load.demo_run; "
            "print(sorted(m for m in sys.modules if m.startswith('harness.commands')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
