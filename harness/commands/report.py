"""`socklife report run.jsonl -o report.html`: a self-contained page of plots."""

from __future__ import annotations

import os

import click

from harness.errors import UsageProblem
from harness.observe.runfile import RunFileError

EPILOG = """\b
Examples:
  socklife record -o run.jsonl --duration 60
  socklife report run.jsonl -o run.html
  socklife report load.jsonl -o load.html   # a run of the Locust plugin
"""


@click.command("report", epilog=EPILOG)
@click.argument("run_file", metavar="RUN.jsonl")
@click.option("-o", "--output", required=True, metavar="FILE.html", help="Page to write.")
def command(run_file, output):
    """Plot a recorded run over time (states, TIME_WAIT and its forecast, queues, ports,
    counter rates, Locust requests) into one HTML file that opens with no network."""
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageProblem(f"cannot write {output}")
    from harness.report.run_report import write_report

    try:
        write_report(run_file, output)
    except RunFileError as exc:
        raise UsageProblem(str(exc)) from None
    click.echo(f"report: {output}", err=True)
