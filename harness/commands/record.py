"""`socklife record`: samples as JSON Lines, one per interval, then a summary line; the
run's findings end the output (stderr), as sentences."""

from __future__ import annotations

import sys

import click

from harness.commands.common import (
    all_netns_option,
    cgroup_ids,
    cgroup_option,
    check_netns,
    cpu_budget_option,
    interval_option,
    leak_option,
    netns_option,
    port_option,
)
from harness.errors import exit_status
from harness.observe.loop import Schedule, samples, stop_on_signals
from harness.observe.sampler import Sampler
from harness.sinks.jsonl import JsonlWriter
from harness.sinks.outputs import check_outputs
from harness.values import FiniteFloat
from harness.views.findings import finding_lines

EPILOG = """\b
Examples:
  socklife record -o run.jsonl              every second until Ctrl-C
  socklife record -o run.jsonl --port 8080 --interval 0.1 --duration 60
  socklife record -o lab.jsonl --netns lab --leak-threshold 10     (root)
  socklife record -o host.jsonl --all-netns --duration 60          (root)
Each line is one sample (snapshot JSON plus rates, leaks, forecasts);
the last line is {"summary": {"findings": [...], ...}}, and the findings
(docs/findings.md) end the output. With --all-netns, one line per
namespace per interval, each with its netns_inode and processes.
Ctrl-C or SIGTERM ends the run after the current sample (exit 130 /
143). A full disk keeps the complete samples, says how many, and exits 2.
"""


@click.command("record", epilog=EPILOG)
@click.option("-o", "--output", "output", required=True, metavar="FILE",
              help="JSON Lines file to write (overwritten; a FIFO or device is written to).")
@netns_option
@all_netns_option
@port_option
@cgroup_option
@interval_option
@click.option("--duration", type=FiniteFloat(0, min_open=True), default=None,
              metavar="S", help="Stop after S seconds (default: until Ctrl-C or SIGTERM).")
@leak_option
@cpu_budget_option
def command(output, netns, all_netns, ports, cgroups, interval, duration, leak_threshold,
            cpu_budget):
    """Record samples of the TCP sockets to a JSON Lines file, each line written whole."""
    check_outputs({"-o": output})
    check_netns(netns, all_netns)
    ids = cgroup_ids(cgroups)
    progress = sys.stderr.isatty() and not all_netns
    if all_netns:
        from harness.observe.hostwide import HostSampler

        sampler = HostSampler(ports, interval, leak_threshold, cpu_budget=cpu_budget / 100,
                              cgroup_ids=ids)
    else:  # the sampler first: a kernel that refuses leaves an existing file as it was
        sampler = Sampler(netns, ports, interval, leak_threshold, cpu_budget=cpu_budget / 100,
                          cgroup_ids=ids)
    with sampler, JsonlWriter(output) as out:
        def on_sample(s):
            if all_netns:  # one line per namespace; a namespace gone is a note
                for one in s:
                    out.write(one)
                for note in sampler.notes:
                    click.echo(f"socklife: note: {note}", err=True)
                sampler.notes.clear()
                return
            out.write(s)
            if progress:
                st = s["states"]
                sys.stderr.write(
                    f"\rsamples {out.lines}  ESTAB {st['ESTABLISHED']}  TIME_WAIT "
                    f"{st['TIME_WAIT']}  CLOSE_WAIT {st['CLOSE_WAIT']}  leaks "
                    f"{s['leaks']['count']}   ")
                sys.stderr.flush()

        summary = None
        with Schedule(interval, duration) as schedule, stop_on_signals(schedule) as got:
            try:
                for sample in samples(sampler, schedule):
                    on_sample(sample)
            finally:
                if progress:
                    sys.stderr.write("\n")
                summary = sampler.summary()
                out.close(summary)  # not after a failed write: LineWriteError
    click.echo(f"wrote {out.lines} lines to {output}", err=True)
    click.echo("\n".join(finding_lines(summary["findings"])), err=True)
    return exit_status(got[0] if got else None)
