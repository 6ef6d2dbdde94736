"""`socklife scenario list | run NAME... | run --all`: the lifecycle claims, verified here."""

from __future__ import annotations

import json
import os
import sys

import click

from harness.errors import UsageProblem
from harness.scenarios.base import Outcome
from harness.scenarios.registry import all_scenarios, by_name

EPILOG = """\b
Examples:
  socklife scenario list
  socklife scenario run handshake close-client-first
  socklife scenario run --all --report lifecycle.html
  socklife scenario run 4 --json
"""


@click.group("scenario", epilog=EPILOG)
def command():
    """The TCP lifecycle, verified on this kernel: each scenario runs between two lab
    hosts and gives its evidence (transitions, segments, counters) and a verdict."""


@command.command("list")
def list_cmd():
    """Name and one-line claim of each scenario (`run` needs root for all of them)."""
    for s in all_scenarios():
        click.echo(f"{s.number:>2} {s.name:<24} {s.title}")


def render_outcome(o: Outcome) -> str:
    """A compact evidence table and the pass/fail line, within 80 columns."""
    lines = [f"{o.number:>2}. {o.name}: {o.title}"[:80]]
    for c in o.checks:
        mark = "ok " if c.passed else "XX "
        lines.append(f"   {mark}{c.message()[:74]}")
    for note in o.run.notes:
        lines.append(f"   -- {note[:74]}")
    if o.error:
        lines.append(f"   !! {o.error[:74]}")
    verdict = "PASS" if o.passed else "FAIL"
    lines.append(f"   {verdict} {o.name} ({o.duration_s:.1f} s)")
    return "\n".join(lines)


@command.command("run", epilog=EPILOG)
@click.argument("names", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every scenario.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document at the end.")
@click.option("--report", "report", type=click.Path(dir_okay=False), default=None,
              help="Write a self-contained HTML report with sequence diagrams.")
def run_cmd(names, run_all, as_json, report):
    """Run scenarios by name or number (see `socklife scenario list`)."""
    if run_all == bool(names):
        raise UsageProblem("give scenario names or --all (not both)")
    try:
        chosen = all_scenarios() if run_all else by_name(names)
    except KeyError as exc:
        raise UsageProblem(
            f"unknown scenario: {exc.args[0]} (see `socklife scenario list`)") from None
    need_root = [s.name for s in chosen if s.needs_root]
    if need_root and os.geteuid() != 0:
        raise UsageProblem(f"needs root (lab namespaces, tracefs): {', '.join(need_root)}")
    if report:
        _check_writable(report)
    outcomes = []
    for i, s in enumerate(chosen, 1):
        click.echo(f"[{i}/{len(chosen)}] {s.name} ...", err=True)
        o = s.run()
        outcomes.append(o)
        if not as_json:
            click.echo(render_outcome(o))
    passed = sum(o.passed for o in outcomes)
    if as_json:
        click.echo(json.dumps({"scenarios": [o.to_json() for o in outcomes]}))
    else:
        click.echo(f"\n{passed}/{len(outcomes)} scenarios passed")
    if report:
        from harness.report.scenario_report import write_report

        write_report(outcomes, report)
        click.echo(f"report: {report}", err=True)
    sys.stdout.flush()
    return 0 if passed == len(outcomes) else 1


def _check_writable(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageProblem(f"cannot write report {path!r}")
