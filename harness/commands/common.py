"""Options and helpers shared by several subcommands (namespace, ports, interval, CPU
budget, leak threshold, HOST:PORT)."""

from __future__ import annotations

import ipaddress
import os

import click

from harness.errors import UsageProblem
from harness.kernel.inet_diag import MAX_FILTER_PORTS
from harness.kernel.netns import check_can_enter
from harness.observe.leaks import DEFAULT_THRESHOLD_S
from harness.observe.loop import MAX_INTERVAL_S, MIN_INTERVAL_S
from harness.values import FiniteFloat

netns_option = click.option(
    "--netns", "netns", metavar="NS", default=None,
    help="Network namespace: a name under /run/netns (as `ip netns` makes them), a path "
         "(/proc/PID/ns/net, /run/docker/netns/ID) or pid:N (process N's); needs root.",
)

all_netns_option = click.option(
    "--all-netns", "all_netns", is_flag=True,
    help="Every network namespace of the host (/run/netns, /run/docker/netns, "
         "/proc/*/ns/net), each with its processes; needs root.")

cgroup_option = click.option(
    "--cgroup", "cgroups", metavar="PATH", multiple=True,
    help="Only the sockets of cgroup v2 PATH, as `ss --cgroup` prints it "
         "(/system.slice/nginx.service; repeatable; filtered in the kernel). TIME_WAIT "
         "sockets belong to no cgroup.")


def cgroup_ids(paths) -> tuple[int, ...]:
    """The cgroup v2 ids of ``--cgroup`` paths (filtered in the kernel:
    INET_DIAG_BC_CGROUP_COND); a one-line KernelError for a path that names no cgroup."""
    if not paths:
        return ()
    from harness.kernel.cgroups import CgroupPaths

    known = CgroupPaths()
    return tuple(known.id_of(path) for path in paths)


def _few_enough(_ctx, param, ports):
    if len(set(ports)) > MAX_FILTER_PORTS:
        raise click.BadParameter(f"at most {MAX_FILTER_PORTS} different ports (the kernel "
                                 f"filter's limit), got {len(set(ports))}", param=param)
    return ports


port_option = click.option(
    "--port", "ports", metavar="P", multiple=True, type=click.IntRange(1, 65535),
    callback=_few_enough,
    help="Only sockets whose local or remote port is P (repeatable; filtered in the kernel).",
)

interval_option = click.option(
    "--interval", type=FiniteFloat(MIN_INTERVAL_S, MAX_INTERVAL_S), default=1.0,
    show_default=True, metavar="S",
    help=f"Seconds between samples ({MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g}).")
cpu_budget_option = click.option(
    "--cpu-budget", type=FiniteFloat(0.1, 100), default=5.0, show_default=True,
    metavar="PERCENT",
    help="Share of one core for what may be older than one sample: TIME_WAIT details, "
         "open sockets per destination, owner lookups, sysctls (each sample says how "
         "old: ages_s). The counts and the listeners stay exact every sample.")
leak_option = click.option(
    "--leak-threshold", type=FiniteFloat(0), default=DEFAULT_THRESHOLD_S,
    show_default=True, metavar="S", help="A CLOSE_WAIT socket older than this is a leak.")


def check_netns(netns: str | None, all_netns: bool = False) -> None:
    """Fail early, in one line, when ``netns`` (or every namespace) cannot be read."""
    if all_netns:
        if netns is not None:
            raise UsageProblem("--all-netns and --netns exclude each other")
        if os.geteuid() != 0:
            raise UsageProblem("needs root for --all-netns")
        return
    check_can_enter(netns)


def parse_hostport(text: str) -> tuple[str, int]:
    """``127.0.0.1:80`` / ``[::1]:80`` / ``localhost:80`` -> (host, port); a one-line
    UsageProblem that says what is wrong otherwise::

        >>> parse_hostport("[::1]:80")
        ('::1', 80)
        >>> parse_hostport("::1:80")
        Traceback (most recent call last):
        ...
        harness.errors.UsageProblem: IPv6 addresses need brackets: [::1]:80
        >>> parse_hostport("192.0.2.1:80:90")
        Traceback (most recent call last):
        ...
        harness.errors.UsageProblem: expected HOST:PORT, got '192.0.2.1:80:90' (one port)
    """
    if text.startswith("["):
        host, sep, port = text[1:].partition("]")
        if not sep:
            raise UsageProblem(f"no closing ']' in {text!r} (an IPv6 address: [::1]:80)")
        if not port.startswith(":"):
            raise UsageProblem(f"expected [ADDRESS]:PORT, got {text!r}")
        port = port[1:]
        if not _is_ipv6(host):
            raise UsageProblem(f"not an IPv6 address in brackets: {text!r}")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise UsageProblem(f"expected HOST:PORT, got {text!r}")
        if ":" in host:
            if _is_ipv6(host):
                raise UsageProblem(f"IPv6 addresses need brackets: [{host}]:{port}")
            raise UsageProblem(f"expected HOST:PORT, got {text!r} (one port)")
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise UsageProblem(f"bad port in {text!r} (1-65535)")
    return host, int(port)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
