"""`socklife check`: rules, baselines and findings over a recorded run, for CI (exit 1
on failure). The run's findings are printed first, as context; ``--fail-on`` makes
those of a severity or worse fail the check."""

from __future__ import annotations

import json
import time

import click

from harness.errors import UsageProblem
from harness.observe import baseline as baselines
from harness.observe.findings import at_least
from harness.observe.runfile import Run, RunFileError, load_run
from harness.observe.thresholds import NAMES, TOTAL, evaluate, evaluate_hosts, parse_rule
from harness.schema.version import SCHEMA
from harness.sinks.outputs import check_outputs, write_text
from harness.views.findings import finding_lines

EPILOG = """\b
Examples:
  socklife check run.jsonl --max CLOSE_WAIT=0 --max listen_overflows=0
  socklife check run.jsonl --max ephemeral_fraction=0.5 --junit check.xml
  socklife check main.jsonl --save-baseline base.json
  socklife check run.jsonl --baseline base.json --tolerance 10%
  socklife check run.jsonl --fail-on warning --junit check.xml

\b
Names: any TCP state (its peak), leaks, listen_overflows, eaddrnotavail,
ephemeral_fraction, accept_queue_fill, time_wait_peak. In a Locust run's
recording of several hosts, HOST:NAME=N holds for one host (or total);
NAME=N for every host and the total:
  socklife check run.jsonl --max server:CLOSE_WAIT=0 --max TIME_WAIT=5000
Findings (docs/findings.md) are computed from the samples and printed first.
"""


def _tolerance(text: str) -> float:
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageProblem(f"bad --tolerance {text!r} (e.g. 10% or 0.1)") from None
    if not 0 <= value <= 100:
        raise UsageProblem(f"bad --tolerance {text!r}")
    return value


def _rules(texts, kind):
    try:
        return [parse_rule(t, kind) for t in texts]
    except ValueError as exc:
        raise UsageProblem(f"--{kind}: {exc}") from None


def _judge(rules, run, source: str = "") -> tuple[list, list[float]]:
    """The verdicts, and the seconds each took to judge (JUnit's testcase time). In a
    recording of several hosts a rule without a host holds for each and for the total;
    one with a host (``server:CLOSE_WAIT=0``) for that host."""
    verdicts, seconds = [], []
    for rule in rules:
        t0 = time.perf_counter()
        if run.hosts:
            more = evaluate_hosts([rule], run.hosts, run.total, source)
        elif rule.host is not None:
            raise UsageProblem(f"{rule}: the recording has no hosts (it is not a Locust "
                               "run's): give the rule without its host")
        else:
            more = evaluate([rule], run.summary, source)
        verdicts += more
        seconds += [(time.perf_counter() - t0) / max(1, len(more))] * len(more)
    return verdicts, seconds


def _whole(run):
    """The run as one host: a baseline is of a whole run's summary."""
    return Run(run.summary, run.samples, run.computed)


def _check_hosts(rules, run) -> None:
    """A rule naming a host the recording does not have is bad input."""
    known = [*run.hosts, TOTAL] if run.total is not None else list(run.hosts)
    for rule in rules:
        if run.hosts and rule.host is not None and rule.host not in known:
            raise UsageProblem(f"{rule}: no host {rule.host!r} in the recording (its hosts: "
                               f"{', '.join(known)})")


def _table(verdicts) -> str:
    """The verdicts as a table; long rule names wrap instead of being cut."""
    from harness.views.text_table import text_table

    rows = []
    for v in verdicts:
        limit = f"{'<=' if v.rule.kind == 'max' else '>='} {v.rule.limit:g}"
        rows.append([v.label, v.shown(), limit, "ok" if v.passed else "FAIL"])
    return "\n".join(text_table(
        [("RULE", "left"), ("OBSERVED", "right"), ("LIMIT", "right"), ("VERDICT", "left")],
        rows, width=80))


@click.command("check", epilog=EPILOG)
@click.argument("run_file", metavar="RUN.jsonl")
@click.option("--max", "maxes", multiple=True, metavar="NAME=N", help="Fail if NAME > N.")
@click.option("--min", "mins", multiple=True, metavar="NAME=N", help="Fail if NAME < N.")
@click.option("--baseline", metavar="FILE", help="Compare with a saved baseline.")
@click.option("--tolerance", default="10%", show_default=True, metavar="PCT",
              help="How far above the baseline still passes (10% or 0.1; at least one "
                   "socket, 0.01 for fractions, none for leaks).")
@click.option("--save-baseline", metavar="FILE", help="Save this run as a baseline.")
@click.option("--fail-on", type=click.Choice(["warning", "critical"]), default=None,
              metavar="SEVERITY",
              help="Fail on findings this severe or worse (warning or critical).")
@click.option("--junit", metavar="FILE", help="Also write the verdicts (and the findings "
              "at or above --fail-on) as JUnit XML.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the verdicts and findings as one JSON object "
                   "(docs/record-format.md, CheckReport) instead of text.")
def command(run_file, maxes, mins, baseline, tolerance, save_baseline, fail_on, junit,
            as_json):
    """Check a recorded run against limits, an optional baseline and its findings: exit
    0 when every rule holds (and no finding reaches --fail-on), 1 when one fails, 2 on
    bad input."""
    began, t0 = time.time(), time.perf_counter()
    rules = _rules(maxes, "max") + _rules(mins, "min")
    tol = _tolerance(tolerance)
    if not rules and baseline is None and save_baseline is None and not fail_on:
        raise UsageProblem(f"nothing to check: give --max/--min NAME=N ({', '.join(NAMES[:3])}"
                           ", ...), --fail-on SEVERITY, --baseline or --save-baseline")
    check_outputs({"--save-baseline": save_baseline, "--junit": junit},
                  inputs={"the input": run_file, "--baseline": baseline})
    try:
        run = load_run(run_file, tolerant=True)
    except RunFileError as exc:
        raise UsageProblem(str(exc)) from None
    findings = run.summary["findings"]
    if not as_json:
        click.echo("\n".join(finding_lines(findings)))
    if run.broken:  # the findings above are what the file still gave
        raise UsageProblem(run.problem)
    for note in run.notes:
        click.echo(f"note: {note}", err=True)
    if run.computed and not as_json:
        click.echo(f"note: {run_file} has no summary line (killed run?): "
                   f"summarised from its {run.samples} samples", err=True)
    failing = at_least(findings, fail_on) if fail_on else []
    _check_hosts(rules, run)
    verdicts, judged_s = _judge(rules, run)
    if baseline is not None:
        try:
            metrics = baselines.load(baseline)
        except ValueError as exc:
            raise UsageProblem(str(exc)) from None
        more, more_s = _judge(baselines.rules_from(metrics, tol), _whole(run), "baseline ")
        verdicts, judged_s = verdicts + more, judged_s + more_s
    if save_baseline is not None:
        write_text(save_baseline, baselines.baseline_text(run.summary, run_file))
        click.echo(f"baseline saved: {save_baseline}", err=as_json)
    failed = [v for v in verdicts if not v.passed]
    if as_json:
        click.echo(json.dumps({"schema": SCHEMA, "file": run_file, "samples": run.samples,
                               "summary_computed": run.computed,
                               "verdicts": [v.record() for v in verdicts],
                               "findings": findings, "fail_on": fail_on,
                               "passed": not failed and not failing}))
    elif verdicts:
        click.echo(_table(verdicts))
    if junit is not None:
        from harness.sinks.junit import write_junit  # xml.etree: only when asked

        write_junit(junit, verdicts, run.summary, run_file=run_file, started=began,
                    elapsed_s=time.perf_counter() - t0, times_s=judged_s, findings=failing)
    if not as_json:
        lines = []
        if verdicts:
            lines.append(f"{len(verdicts) - len(failed)}/{len(verdicts)} rules hold"
                         + (f", {len(failed)} failed" if failed else ""))
        if fail_on:
            n = len(failing)
            lines.append(f"{n} finding{'s' if n > 1 else ''} at or above {fail_on}"
                         if failing else f"no finding at or above {fail_on}")
        if lines:
            click.echo("; ".join(lines))
    return 1 if failed or failing else 0
