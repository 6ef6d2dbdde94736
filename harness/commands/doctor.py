"""`socklife doctor`: the risks in this namespace's TCP settings and sockets, explained."""

from __future__ import annotations

import json
import textwrap
import time

import click

from harness.commands.common import check_netns, netns_option, parse_hostport
from harness.observe.doctor import diagnose
from harness.observe.sampler import Sampler

EPILOG = """\b
Examples:
  socklife doctor
  socklife doctor --target 10.0.0.5:443 --target 127.0.0.1:8080
  socklife doctor --netns lab --json        (root)
"""

MARK = {"info": "-", "warning": "!", "critical": "!!"}


@click.command("doctor", epilog=EPILOG)
@netns_option
@click.option("--target", "targets", metavar="HOST:PORT", multiple=True,
              help="A destination to give the sustainable short-connection rate for.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as a JSON list.")
def command(netns, targets, as_json):
    """Read the sysctls and two samples one second apart, and explain each risk found
    (port exhaustion, accept-queue overflows, CLOSE_WAIT, TIME_WAIT) with its fix."""
    parsed = [parse_hostport(t) for t in targets]
    check_netns(netns)
    with Sampler(netns, interval=1.0) as sampler:
        first = sampler.sample()
        time.sleep(1.0)
        second = sampler.sample()
    findings = diagnose(first, second, parsed)
    if as_json:
        click.echo(json.dumps(findings, indent=1))
        return
    for f in findings:
        click.echo(textwrap.fill(f["message"], 79, initial_indent=f"{MARK[f['severity']]:<3}",
                                 subsequent_indent="   "))
        click.echo(textwrap.fill(f["fix"], 79, initial_indent="   fix: ",
                                 subsequent_indent="        "))
