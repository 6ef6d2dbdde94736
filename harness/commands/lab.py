"""`socklife lab up|down|list`: lab hosts to experiment with by hand (root)."""

from __future__ import annotations

import json
import os
import re

import click

from harness.errors import UsageProblem
from harness.kernel import tracefs
from harness.lab import Lab, cleanup_stale, list_labs
from harness.lab.names import MARKERS, delete_netns, owner_pid, pid_alive, release_subnets_of

EPILOG = """\b
Examples:
  socklife lab up --name demo --sysctl net.ipv4.tcp_tw_reuse=0
  ip netns exec sl-demo-srv socklife serve --host 0.0.0.0 --port 7000
  ip netns exec sl-demo-cli socklife connect 198.18.x.2:7000 --count 100
  socklife snapshot --netns sl-demo-cli
  socklife lab list
  socklife lab down --name demo
"""

NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
NAME_RULE = "a letter, then up to 11 letters or digits; not t<digits> (the tests' labs)"
SYSCTL_KEY = re.compile(r"^net(\.[A-Za-z0-9_-]+)+$")
SYSCTL_VALUE = re.compile(r"^[^\s]+([ \t][^\s]+)*$")  # words, e.g. "1024 65535"


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        raise UsageProblem(f"needs root to {what} (network namespaces)")


def parse_sysctls(items) -> dict[str, str]:
    """``net.KEY=VALUE`` options -> {key: value}; a one-line UsageProblem for a key that
    is not a net.* name or a value that is empty or spans lines."""
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not SYSCTL_KEY.match(key):
            raise UsageProblem(f"bad --sysctl {item!r}: expected net.KEY=VALUE")
        if not SYSCTL_VALUE.match(value):
            raise UsageProblem(f"bad --sysctl {item!r}: the value is empty or not one line")
        values[key] = value
    return values


@click.group("lab", epilog=EPILOG)
def command():
    """Two lab hosts (network namespaces joined by a veth pair) that persist until
    `lab down`, for experiments by hand. Nothing is changed outside them."""
    if os.geteuid() == 0:
        tracefs.cleanup_stale()  # instances a killed socklife left tracing


@command.command("up", epilog=EPILOG)
@click.option("--name", default="lab", show_default=True, help=f"Lab name: {NAME_RULE}.")
@click.option("--sysctl", "sysctls", multiple=True, metavar="KEY=VALUE",
              help="A net.* sysctl for both hosts, e.g. net.ipv4.tcp_tw_reuse=0.")
def up(name, sysctls):
    """Make a client and a server host."""
    values = parse_sysctls(sysctls)
    if not NAME.match(name) or owner_pid(f"sl-{name}-cli") is not None:
        raise UsageProblem(f"bad lab name {name!r}: {NAME_RULE}")
    _need_root("build lab hosts")
    if os.path.exists(os.path.join(MARKERS, name)):
        raise UsageProblem(f"lab {name!r} exists (socklife lab down --name {name})")
    lab = Lab(name=name, sysctls={"client": values, "server": values})
    marker = os.path.join(MARKERS, name)
    os.makedirs(MARKERS, exist_ok=True)
    with open(marker, "w") as f:  # before the namespaces: a kill in between leaves no orphan
        f.write("{}")
    try:
        lab.up()
    except BaseException as exc:
        os.unlink(marker)
        if isinstance(exc, OSError | ValueError):
            raise UsageProblem(f"cannot make lab {name!r}: {exc}") from None
        raise
    info = {role: {"netns": h.netns, "addr": h.addr, "addr6": h.addr6}
            for role, h in lab.hosts.items()}
    with open(marker, "w") as f:
        json.dump(info, f)
    lab.keep()
    for role, h in lab.hosts.items():
        click.echo(f"{role:<7} {h.netns:<16} {h.addr:<15} {h.addr6}")
    srv, cli = lab.hosts["server"], lab.hosts["client"]
    click.echo(f"\ntry:  ip netns exec {srv.netns} socklife serve --host {srv.addr} --port 7000 &"
               f"\n      ip netns exec {cli.netns} socklife connect {srv.addr}:7000 --count 100"
               f"\n      socklife snapshot --netns {cli.netns}"
               f"\n      ip netns exec {cli.netns} bash     (a shell inside the client host)"
               f"\nend:  socklife lab down --name {name}")


@command.command("down", epilog=EPILOG)
@click.option("--name", default=None, help="The lab to remove.")
@click.option("--all", "all_", is_flag=True, help="Every lab made by `lab up`, and stale ones.")
def down(name, all_):
    """Remove a lab made by `lab up` (and stale labs of killed runs)."""
    if bool(name) == all_:
        raise UsageProblem("give --name NAME or --all")
    _need_root("remove lab hosts")
    names = list_labs()
    targets = [name] if name else [n for n in names if _persistent(n)]
    if name and name not in names and not _persistent(name):
        raise UsageProblem(f"no lab {name!r} (see socklife lab list)")
    if name and not _persistent(name):
        pid = owner_pid(names[name][0])
        if pid is not None and pid_alive(pid):
            raise UsageProblem(f"lab {name!r} belongs to running process {pid}; "
                               "it removes the lab when it ends")
    for lab in targets:
        for ns in names.get(lab, []):
            delete_netns(ns)
        marker = os.path.join(MARKERS, lab)
        if os.path.exists(marker):
            os.unlink(marker)
        release_subnets_of(lab)
        click.echo(f"removed lab {lab}")
    for ns in cleanup_stale():
        click.echo(f"removed stale {ns}")


def _persistent(lab: str) -> bool:
    return os.path.exists(os.path.join(MARKERS, lab))


@command.command("list", epilog=EPILOG)
def list_cmd():
    """Every sl- namespace on this machine, by lab."""
    labs = list_labs()
    if not labs:
        click.echo("no labs")
    for lab, spaces in sorted(labs.items()):
        pid = owner_pid(spaces[0])
        if _persistent(lab):
            kind = "persistent"
        elif pid is None:
            kind = "unknown owner"
        else:
            kind = f"pid {pid}" + ("" if pid_alive(pid) else " (stale)")
        click.echo(f"{lab:<20} {kind:<20} {' '.join(spaces)}")
