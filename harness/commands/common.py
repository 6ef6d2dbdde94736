"""Options and helpers shared by several subcommands (namespace, ports, HOST:PORT)."""

from __future__ import annotations

import click

from harness.errors import UsageProblem
from harness.kernel.netns import check_can_enter

netns_option = click.option(
    "--netns", "netns", metavar="NS", default=None,
    help="Network namespace under /run/netns (as `ip netns` makes them); needs root.",
)
port_option = click.option(
    "--port", "ports", metavar="P", multiple=True, type=click.IntRange(1, 65535),
    help="Only sockets whose local or remote port is P (repeatable; filtered in the kernel).",
)


def check_netns(netns: str | None) -> None:
    """Fail early, in one line, when ``netns`` cannot be read."""
    check_can_enter(netns)


def parse_hostport(text: str) -> tuple[str, int]:
    """``127.0.0.1:80`` / ``[::1]:80`` / ``localhost:80`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise UsageProblem(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageProblem(f"IPv6 addresses need brackets: [{host}]:{port}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageProblem(f"bad port in {text!r} (1-65535)")
    return host, int(port)
