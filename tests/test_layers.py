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


# What only kernel/ may use: the framing module and the struct tables, where byte
# offsets live (issue 16: no module outside kernel/ indexes netlink bytes).
WIRE_MODULES = {"harness.kernel.netlink", "harness.kernel.cstruct"}
WIRE_NAMES = {"NLMSG_HDRLEN", "NLMSGHDR", "INET_DIAG_MSG", "INET_DIAG_SOCKID", "SOCKET_MSG_LEN",
              "FAMILY", "STATE", "TIMER", "SPORT_HI", "SPORT_LO", "DPORT_HI", "DPORT_LO", "DST",
              "EXPIRES_BUCKET", "FLAGS", "uniform_run"}


def test_no_module_outside_kernel_knows_a_byte_offset():
    """harness/ outside kernel/ and benchmarks/ import no framing module, struct table
    or offset constant, and read none as an attribute (``wire.NLMSG_HDRLEN``)."""
    bad = []
    paths = [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0]
             != "kernel"] + sorted((ROOT / "benchmarks").glob("*.py"))
    for path in paths:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                pass
            elif node.module in WIRE_MODULES:  # a benchmark may ask where a dump ends
                names = {a.name for a in node.names}
                if path.parent.name != "benchmarks" or names != {"ends_with_done"}:
                    bad.append(f"{path.relative_to(ROOT)} imports {node.module}")
            else:
                bad += [f"{path.relative_to(ROOT)} imports {a.name}" for a in node.names
                        if a.name in WIRE_NAMES
                        or f"{node.module}.{a.name}" in WIRE_MODULES]
            if isinstance(node, ast.Attribute) and node.attr in WIRE_NAMES:
                bad.append(f"{path.relative_to(ROOT)} reads .{node.attr}")
    assert not bad, "\n".join(bad)
