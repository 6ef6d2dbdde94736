"""`socklife record`: samples as JSON Lines, one per interval, then a summary line."""

from __future__ import annotations

import sys

import click

from harness.commands.common import (
    check_netns,
    cpu_budget_option,
    interval_option,
    leak_option,
    netns_option,
    port_option,
)
from harness.observe.loop import Schedule, samples, stop_on_signals
from harness.observe.sampler import Sampler
from harness.sinks.jsonl import JsonlWriter
from harness.values import FiniteFloat

EPILOG = """\b
Examples:
  socklife record -o run.jsonl              every second until Ctrl-C
  socklife record -o run.jsonl --port 8080 --interval 0.1 --duration 60
  socklife record -o lab.jsonl --netns lab --leak-threshold 10     (root)
Each line is one sample (snapshot JSON plus rates, leaks, forecasts);
the last line is {"summary": {...}}. Ctrl-C or SIGTERM ends the run
after the current sample.
"""


@click.command("record", epilog=EPILOG)
@click.option("-o", "--output", "output", required=True, metavar="FILE",
              help="JSON Lines file to write (replaced).")
@netns_option
@port_option
@interval_option
@click.option("--duration", type=FiniteFloat(0, min_open=True), default=None,
              metavar="S", help="Stop after S seconds (default: until Ctrl-C or SIGTERM).")
@leak_option
@cpu_budget_option
def command(output, netns, ports, interval, duration, leak_threshold, cpu_budget):
    """Record samples of the TCP sockets to a JSON Lines file, flushed per line."""
    check_netns(netns)
    progress = sys.stderr.isatty()
    with JsonlWriter(output) as out, Sampler(netns, ports, interval, leak_threshold,
                                             cpu_budget=cpu_budget / 100) as sampler:
        def on_sample(s):
            out.write(s)
            if progress:
                st = s["states"]
                sys.stderr.write(
                    f"\rsamples {out.lines}  ESTAB {st['ESTABLISHED']}  TIME_WAIT "
                    f"{st['TIME_WAIT']}  CLOSE_WAIT {st['CLOSE_WAIT']}  leaks "
                    f"{s['leaks']['count']}   ")
                sys.stderr.flush()

        with Schedule(interval, duration) as schedule, stop_on_signals(schedule):
            try:
                for sample in samples(sampler, schedule):
                    on_sample(sample)
            finally:
                out.close(sampler.summary())
    if progress:
        sys.stderr.write("\n")
    click.echo(f"wrote {out.lines} lines to {output}", err=True)
