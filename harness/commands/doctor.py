"""`socklife doctor`: the findings of a short observation, and how the settings stand."""

from __future__ import annotations

import json

import click

from harness.commands.common import check_netns, netns_option, parse_hostport
from harness.observe.findings import findings as run_findings
from harness.observe.loop import Schedule, samples, stop_on_signals
from harness.observe.sampler import Sampler
from harness.schema.version import SCHEMA
from harness.values import FiniteFloat
from harness.views.findings import finding_lines

INTERVAL_S = 0.5  # a sample every half second: rates and held CLOSE_WAIT within 3 s

EPILOG = """\b
Examples:
  socklife doctor                      3 s of samples, then the findings
  socklife doctor --duration 10        longer: rates settle, CLOSE_WAIT ages grow
  socklife doctor --target 10.0.0.5:443 --target 127.0.0.1:8080
  socklife doctor --netns lab --json   (root)
Each finding is one of docs/findings.md: severity, subject, what was seen, the fix.
"""


@click.command("doctor", epilog=EPILOG)
@netns_option
@click.option("--target", "targets", metavar="HOST:PORT", multiple=True,
              help="A destination to give the sustainable short-connection rate for.")
@click.option("--duration", type=FiniteFloat(1, 3600), default=3.0, show_default=True,
              metavar="S", help="Seconds to sample (every 0.5 s) before judging.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"findings": [...]} (docs/record-format.md, DoctorReport).')
def command(netns, targets, duration, as_json):
    """Sample the namespace for a few seconds, then explain what is wrong (accept and
    SYN queues, CLOSE_WAIT, ports, TIME_WAIT, retransmissions) and how its settings
    stand, each with its fix. Ctrl-C judges what was sampled so far."""
    parsed = [parse_hostport(t) for t in targets]
    check_netns(netns)
    with Sampler(netns, interval=INTERVAL_S) as sampler, \
            Schedule(INTERVAL_S, duration) as schedule, stop_on_signals(schedule):
        for _sample in samples(sampler, schedule):
            pass
    ev = sampler.run.evidence
    found = run_findings(ev, settings=True, targets=parsed)
    if as_json:
        click.echo(json.dumps({"schema": SCHEMA, "netns": netns,
                               "duration_s": round(ev.duration_s, 3),
                               "samples": ev.samples, "findings": found}, indent=1))
        return
    click.echo(f"{ev.samples} samples over {ev.duration_s:.1f} s"
               + (f" in netns {netns}" if netns else ""))
    click.echo("\n".join(finding_lines(found)))
