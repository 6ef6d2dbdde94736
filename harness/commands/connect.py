"""`socklife connect`: short connections to HOST:PORT, counted by outcome (errno name)."""

from __future__ import annotations

import ipaddress
import json
import socket

import click

from harness.commands.common import check_netns, netns_option, parse_hostport
from harness.errors import UsageProblem, exit_status, signal_of
from harness.sockets import CLOSERS, ConnectResult, run_connect
from harness.values import FiniteFloat

EPILOG = """\b
Closers:
  client   the client closes first: TIME_WAIT on the client
  server   wait for the server's FIN, then close (use a close-first server):
           TIME_WAIT on the server
  rst      close with SO_LINGER {1, 0}: RST, no TIME_WAIT

\b
Exit status: 0 when a connection succeeded, 1 when every attempt failed,
2 on bad input, 130 / 143 after Ctrl-C / SIGTERM (what was counted is
printed first).

\b
Examples:
  socklife connect 127.0.0.1:7000 --count 10000 --concurrency 20
  socklife connect 127.0.0.1:7000 --count 100 --rate 50 --closer server --json
  socklife connect [::1]:7000 --bind-port 40000 --reuseaddr
  socklife connect 127.0.0.1:7000 --netns lab --count 80 --json     (root)
"""


def _ms(p: dict) -> str:
    if p["p50"] is None:
        return "-"
    return f"p50 {p['p50']:.3f}  p99 {p['p99']:.3f}  max {p['max']:.3f}"


def render_text(d: dict) -> str:
    errors = "  ".join(f"{k} {v}" for k, v in d["errors"].items()) or "none"
    stopped = f", stopped: {d['stopped']}" if d.get("stopped") else ""
    return "\n".join([
        f"{d['target']}: {d['attempted']} attempted, {d['ok']} ok in {d['elapsed_s']:.3f} s "
        f"({d['rate']:.0f} conns/s){stopped}",
        f"  errors:        {errors}",
        f"  connect ms:    {_ms(d['connect_ms'])}",
        f"  first byte ms: {_ms(d['first_byte_ms'])}",
    ])


@click.command("connect", epilog=EPILOG)
@click.argument("target", metavar="HOST:PORT")
@click.option("--count", type=click.IntRange(1), default=1, show_default=True,
              help="Connections to attempt (errors included).")
@click.option("--rate", type=FiniteFloat(0, min_open=True), default=None,
              help="At most R connection starts per second (default: as fast as possible).")
@click.option("--concurrency", type=click.IntRange(1, 50000), default=1, show_default=True,
              metavar="C", help="Connections in flight at once.")
@click.option("--closer", type=click.Choice(CLOSERS), default="client", show_default=True,
              help="Who closes first (below).")
@click.option("--size", type=click.IntRange(0, 1 << 24), default=64, show_default=True,
              metavar="B", help="Request bytes; the server's answer is awaited (0: none).")
@click.option("--bind-address", default=None, metavar="A",
              help="bind() each socket to this source address first.")
@click.option("--bind-port", type=click.IntRange(1, 65535), default=None, metavar="P",
              help="bind() each socket to this source port first.")
@click.option("--reuseaddr", is_flag=True, help="SO_REUSEADDR on each client socket.")
@click.option("--bind-address-no-port", is_flag=True,
              help="IP_BIND_ADDRESS_NO_PORT: bind the address now, pick the port at connect.")
@click.option("--timeout", type=FiniteFloat(0, min_open=True), default=5.0,
              show_default=True, metavar="S",
              help="Seconds to connect, and then to finish the exchange (ETIMEDOUT).")
@click.option("--deadline", type=FiniteFloat(0, min_open=True), default=None, metavar="S",
              help="Stop after S seconds in all: connections in flight count as DEADLINE.")
@netns_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def command(target, count, rate, concurrency, closer, size, bind_address, bind_port, reuseaddr,
            bind_address_no_port, timeout, deadline, netns, as_json):
    """Make COUNT short connections to HOST:PORT (connect, send, read the answer, close)
    and count the outcomes by errno name, with connect and first-byte latency."""
    host, port = parse_hostport(target)
    if bind_address is not None:
        try:
            ipaddress.ip_address(bind_address)
        except ValueError:
            raise UsageProblem(f"--bind-address needs an IP address, got {bind_address!r}"
                               ) from None
    check_netns(netns)
    result = ConnectResult(target=target)
    stopped_by = None
    try:
        run_connect(host, port, count=count, rate=rate, concurrency=concurrency,
                    closer=closer, size=size, bind_address=bind_address,
                    bind_port=bind_port, reuseaddr=reuseaddr,
                    bind_address_no_port=bind_address_no_port, timeout=timeout,
                    netns=netns, deadline=deadline, result=result)
    except socket.gaierror as exc:
        raise UsageProblem(f"cannot resolve {host!r}: {exc.strerror}") from None
    except KeyboardInterrupt as exc:
        stopped_by = signal_of(exc)
        result.stopped = "interrupted"
    d = result.to_dict()
    click.echo(json.dumps(d) if as_json else render_text(d))
    if stopped_by is not None:
        return exit_status(stopped_by)
    return 0 if d["ok"] else 1
