"""`socklife report run.jsonl -o report.html`: a self-contained page, findings first, then
plots and the summary."""

from __future__ import annotations

import click

from harness.errors import UsageProblem
from harness.observe.runfile import RunFileError
from harness.sinks.outputs import check_outputs

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
    """The run's findings first, then plots over time (states, TIME_WAIT and its
    forecast, queues, ports, counter rates, Locust requests) and its summary, in one
    HTML file that opens with no network."""
    check_outputs({"-o": output}, inputs={"the input": run_file})
    from harness.report.run_report import write_report

    try:
        notes = write_report(run_file, output)
    except RunFileError as exc:
        raise UsageProblem(str(exc)) from None
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"report: {output}", err=True)
