"""`socklife scenario list | run NAME... | run --all`: the lifecycle claims, verified here."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

import click

from harness.errors import UsageProblem, exit_status, signal_of
from harness.kernel import tracefs
from harness.scenarios.base import Outcome
from harness.scenarios.registry import all_scenarios, by_name
from harness.sinks.outputs import check_outputs

EPILOG = """\b
Examples:
  socklife scenario list
  socklife scenario run handshake close-client-first
  socklife scenario run --all --controls --report lifecycle.html
  socklife scenario run 4 --control --json

\b
--control (--controls): run each scenario's negative control after it: the
same experiment with the kernel made to behave otherwise (a sysctl flipped, a
fault removed or added, a socket option unset). The claim's checks must fail
under it; a control that passes is reported as a failure (exit 1), since its
checks could not tell the claim from its opposite.

\b
Ctrl-C or SIGTERM during a run: the scenarios finished so far are written
(--json, --report), marked "interrupted", and the lab is removed; exit 130.
"""


@click.group("scenario", epilog=EPILOG)
def command():
    """The TCP lifecycle, verified on this kernel: each scenario runs between two lab
    hosts and gives its evidence (transitions, segments, counters) and a verdict."""


@command.command("list")
def list_cmd():
    """Name and one-line claim of each scenario (`run` needs root for all of them)."""
    for s in all_scenarios():
        click.echo(f"{s.number:>2} {s.name:<24} {s.title}"[:80])


def _clip(text: str, width: int = 74) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def render_outcome(o: Outcome) -> str:
    """A compact evidence table and the verdict line, within 80 columns."""
    lines = [_clip(f"{o.number:>2}. {o.name}: {o.title}", 80)]
    for c in o.checks:
        mark = "ok " if c.passed else "XX "
        lines.append(f"   {mark}{_clip(c.message())}")
    for note in o.run.notes:
        lines.append(f"   -- {_clip(note)}")
    if o.error:
        lines.append(f"   !! {_clip(o.error)}")
    if o.control is not None:
        ctl = o.control.outcome
        mark = "ok " if o.control.failed_as_expected else "XX "
        lines.append(f"   {mark}{_clip('control: ' + o.control.what)}")
        for c in ctl.checks:
            if not c.passed:
                lines.append(f"      caught by {_clip(c.message(), 62)}")
        if ctl.error:
            lines.append(f"      !! {_clip(ctl.error, 71)}")
    verdict = "PASS" if o.ok else "FAIL"
    took = o.duration_s + (o.control.outcome.duration_s if o.control else 0.0)
    lines.append(f"   {verdict} {o.name} ({took:.1f} s): {o.verdict()}")
    return "\n".join(lines)


def summary(outcomes: list[Outcome], controls: bool, interrupted: bool) -> str:
    """What went wrong, in words, before the numbers."""
    lines = []
    for o in outcomes:
        if not o.passed:
            lines.append(f"claim failed: {o.name}: {'; '.join(o.failures())[:160]}")
        if o.control is not None and not o.control.failed_as_expected:
            lines.append(f"control did not fail as it must: {o.name}: "
                         f"{o.control.verdict()[:160]}")
    if interrupted:
        lines.append("interrupted: the results below are those finished so far")
    held = sum(o.passed for o in outcomes)
    line = f"{held}/{len(outcomes)} scenarios passed"
    if controls:
        caught = sum(1 for o in outcomes if o.control and o.control.failed_as_expected)
        line += f", {caught}/{len(outcomes)} controls failed as expected"
    return "\n".join([*lines, line])


@command.command("run", epilog=EPILOG)
@click.argument("names", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every scenario.")
@click.option("--control", "--controls", "controls", is_flag=True,
              help="Also run each scenario's negative control; it must fail.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document at the end.")
@click.option("--report", "report", default=None, metavar="FILE.html",
              help="Write a self-contained HTML report with sequence diagrams.")
def run_cmd(names, run_all, controls, as_json, report):
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
    check_outputs({"--report": report})
    need_nft = [s.name for s in chosen if s.drops_segments]
    if need_nft and shutil.which("nft") is None:
        raise UsageProblem(f"needs nftables: apt-get install nftables "
                           f"(to drop segments in {', '.join(need_nft)})")
    if need_root:
        tracefs.cleanup_stale()
    outcomes: list[Outcome] = []
    interrupted = None  # the signal that stopped the run
    started = time.monotonic()
    try:
        for i, s in enumerate(chosen, 1):
            click.echo(f"[{i}/{len(chosen)}] {s.name} ...", err=True)
            o = s.run()
            outcomes.append(o)  # kept even if the control is interrupted
            if controls:
                s.add_control(o)
            if not as_json:
                click.echo(render_outcome(o))
    except KeyboardInterrupt as exc:
        interrupted = signal_of(exc)
        click.echo(f"socklife: interrupted during {s.name}: writing the {len(outcomes)} "
                   "finished", err=True)
    ok = all(o.ok for o in outcomes) and not interrupted
    if as_json:
        click.echo(json.dumps({"scenarios": [o.to_json() for o in outcomes],
                               "interrupted": interrupted is not None, "controls": controls,
                               "planned": [s.name for s in chosen],
                               "duration_s": round(time.monotonic() - started, 1)}))
    else:
        click.echo("\n" + summary(outcomes, controls, interrupted is not None))
    if report:
        from harness.report.scenario_report import write_report

        write_report(outcomes, report, interrupted=interrupted is not None,
                     planned=[s.name for s in chosen])
        click.echo(f"report: {report}", err=True)
    sys.stdout.flush()
    if interrupted is not None:
        return exit_status(interrupted)
    return 0 if ok else 1
