"""The command line starts cheaply: `--help` lists every command as click would without
importing one, and each command imports only what it uses (no pyroute2, rich,
prometheus_client, plotly or Locust in snapshot --json, check or --help; snapshot's text
table is rich's; check, a reader of recorded runs, loads no netlink wire format)."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from paths import FIXTURES

from harness import cli

HEAVY = ("pyroute2", "rich", "prometheus_client", "plotly", "locust", "gevent")


def _modules_after(argv: list[str], netns: str | None = None) -> set[str]:
    """The modules a fresh interpreter holds after ``main(argv)``."""
    code = ("import json, sys\nfrom harness.cli import main\n"
            f"rc = main({argv!r})\n"
            "print(json.dumps([rc, sorted(sys.modules)]), file=sys.stderr)")
    cmd = [sys.executable, "-c", code]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rc, modules = json.loads(proc.stderr.strip().splitlines()[-1])
    assert rc == 0, proc.stderr
    return set(modules)


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in HEAVY}


def test_the_listing_is_what_click_shows_from_the_imported_commands():
    lazy = click.Context(cli.cli, info_name="socklife")
    fmt = lazy.make_formatter()
    cli.cli.format_commands(lazy, fmt)
    class Imported(click.Group):
        def list_commands(self, ctx):
            return list(cli.COMMANDS)

    imported = Imported("socklife", commands={
        name: cli.cli.get_command(lazy, name) for name in cli.COMMANDS})
    eager = click.Context(imported, info_name="socklife")
    expected = eager.make_formatter()
    imported.format_commands(eager, expected)
    assert fmt.getvalue() == expected.getvalue()
    assert all(cli.help_text(name) for name in cli.COMMANDS)  # none needed an import


def test_help_imports_no_command():
    modules = _modules_after(["--help"])
    assert not {m for m in modules if m.startswith("harness.commands.")}
    assert not _heavy(modules)


def test_a_command_whose_source_has_no_docstring_is_imported_for_its_line(monkeypatch):
    monkeypatch.setattr(cli, "help_text", lambda name: None if name == "check" else "x")
    ctx = click.Context(cli.cli, info_name="socklife")
    fmt = ctx.make_formatter()
    cli.cli.format_commands(ctx, fmt)
    assert "check     Check a recorded run against limits" in fmt.getvalue()


def test_check_imports_nothing_heavy_and_no_xml_without_junit():
    run = f"{FIXTURES}/check/leaky.jsonl"
    modules = _modules_after(["check", run, "--max", "TIME_WAIT=1000000", "--json"])
    assert not _heavy(modules) and "xml.etree.ElementTree" not in modules
    text = _modules_after(["check", run, "--max", "TIME_WAIT=1000000"])
    assert not _heavy(text)  # its verdict table is plain text (views/text_table.py)
    for loaded in (modules, text):
        assert "harness.kernel.tcp_states" in loaded
        assert not {"harness.kernel.inet_diag", "harness.kernel.sysctls", "socket"} & set(loaded)


def test_the_script_exits_with_main_s_status_and_its_files_and_output_whole(tmp_path):
    """`python -m harness` (the `socklife` script) ends without the interpreter's last
    garbage sweep (cli.script): what the command wrote is whole all the same."""
    run = f"{FIXTURES}/check/leaky.jsonl"
    proc = subprocess.run([sys.executable, "-m", "harness", "check", run, "--max",
                           "CLOSE_WAIT=0", "--junit", "j.xml", "--save-baseline", "b.json"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[-1] == "0/1 rules hold, 1 failed"
    import xml.etree.ElementTree as ET

    assert ET.parse(tmp_path / "j.xml").getroot().get("failures") == "1"
    assert json.loads((tmp_path / "b.json").read_text())
    bad = subprocess.run([sys.executable, "-m", "harness", "check", run], cwd=tmp_path,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("socklife: error: nothing to check")


@pytest.mark.root
def test_snapshot_of_an_idle_namespace_imports_nothing_heavy(netns):
    with netns() as ns:
        modules = _modules_after(["snapshot", "--json"], netns=ns)
        assert not _heavy(modules)
        assert "psutil" not in modules  # no socket, no owner: no process details
        assert "shutil" not in modules  # the terminal's width is for the text only
        modules = _modules_after(["snapshot", "--json", "--netns", ns])
        assert not _heavy(modules) and "ctypes" in modules  # setns through libc on 3.11
