"""`socklife demo`: short TCP connections under Locust, with the kernel watching; the run
ends with its findings, then its figures."""

from __future__ import annotations

import contextlib
import os
import tempfile

import click

from harness.errors import UsageProblem, exit_status
from harness.sinks.outputs import check_outputs
from harness.values import FiniteFloat
from harness.views.findings import finding_lines

EPILOG = """\b
Examples:
  socklife demo                         20 s of short connections, live view, summary
  socklife demo --duration 60           long enough to see TIME_WAIT level off (~60 s)
  socklife demo --rate 2000 --users 20  more connections per second
  socklife demo --report demo.html      also an HTML report of the run
  socklife demo --record demo.jsonl     keep every sample (the `socklife record` format)
"""


def summary_lines(result) -> list[str]:
    s = result.summary
    rate = result.connections / result.seconds if result.seconds else 0.0
    peaks = ", ".join(f"{name} {n}" for name, n in s["peaks"].items() if n and name != "LISTEN")
    room = s["ephemeral_headroom_min"]
    return [
        f"{result.connections} short connections in {result.seconds:.1f} s "
        f"({rate:.0f}/s), {result.failures} failures"
        + (" (interrupted)" if result.signal else ""),
        f"{s['samples']} samples; peaks: {peaks or 'none'}",
        f"TIME_WAIT peak {s['time_wait_peak']}: each connection holds its client port "
        f"for 60 s after the client closes first",
        f"ephemeral ports: at most {s['ephemeral_fraction_max']:.1%} of the range in use"
        + (f", {room} left at the lowest" if room is not None else ""),
        f"accept queue fill max {s['accept_queue_fill_max']:.0%}, "
        f"listen overflows {s['listen_overflows']}",
    ]


@click.command("demo", epilog=EPILOG)
@click.option("--duration", type=FiniteFloat(1, 3600), default=20.0, show_default=True,
              metavar="S", help="Seconds of load.")
@click.option("--users", type=click.IntRange(1, 1000), default=10, show_default=True,
              metavar="N", help="Locust Users, each making short connections back to back.")
@click.option("--rate", type=FiniteFloat(1, 100000), default=500, show_default=True,
              metavar="R", help="Short connections per second, all Users together.")
@click.option("--report", default=None, metavar="FILE.html",
              help="Write an HTML report of the run.")
@click.option("--record", default=None, metavar="FILE.jsonl",
              help="Write every sample as JSONL.")
def command(duration, users, rate, report, record):
    """Start a server, run short TCP connections against it through Locust (in this
    process), watch TIME_WAIT and the ports fill live, then print a summary."""
    check_outputs({"--record": record, "--report": report})
    from rich.console import Console

    from harness.load.demo_run import run_demo  # imports Locust: gevent patches here

    console = Console()
    jsonl = record
    scratch = None
    if report and not record:
        fd, scratch = tempfile.mkstemp(prefix="socklife-demo-", suffix=".jsonl")
        os.close(fd)
        jsonl = scratch
    try:
        result = run_demo(duration, users, rate, jsonl, console)
        console.print()
        found = [{**f, "host": None} for f in result.summary["findings"]]  # one host
        lines = finding_lines(found, width=min(100, console.width - 1))
        for line in [*lines, "", *summary_lines(result)]:
            console.print(line, highlight=False, markup=False)
        if result.write_error:
            raise UsageProblem(result.write_error)
        if report:
            from harness.observe.runfile import RunFileError
            from harness.report.run_report import write_report

            try:
                write_report(jsonl, report)
            except RunFileError as exc:
                raise UsageProblem(f"could not write the report {report}: {exc}") from None
            click.echo(f"report: {report}", err=True)
    finally:
        if scratch:
            with contextlib.suppress(OSError):
                os.unlink(scratch)
    return exit_status(result.signal)
