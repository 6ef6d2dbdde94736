"""`socklife serve`: a server with a lifecycle behaviour, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import errno
import socket

import click

from harness.commands.common import check_netns, netns_option
from harness.errors import UsageProblem, exit_status, signal_of
from harness.sockets import BEHAVIORS, Server
from harness.sockets.behaviors import describe
from harness.sockets.server import Keepalive

EPILOG = """\b
Behaviours:
""" + describe() + """

\b
Examples:
  socklife serve --port 7000                        echo on 127.0.0.1:7000
  socklife serve --port 7000 --behavior never-close a CLOSE_WAIT leak to watch
  socklife serve --port 7000 --behavior no-accept --backlog 5
  socklife serve --port 7000 --reuseport 4 --ipv6   four listeners on [::1]:7000
  socklife serve --port 7000 --netns lab            inside /run/netns/lab (root)
"""


# include/net/tcp.h: what setsockopt accepts (more is EINVAL, at the first connection)
MAX_TCP_KEEPIDLE = MAX_TCP_KEEPINTVL = 32767
MAX_TCP_KEEPCNT = 127


def _bind_problem(exc: OSError, where: str) -> UsageProblem:
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    if exc.errno == errno.EADDRINUSE:
        return UsageProblem(f"cannot listen on {where}: address in use (EADDRINUSE)")
    return UsageProblem(f"cannot listen on {where}: {exc.strerror or exc} ({name})")


@click.command("serve", epilog=EPILOG)
@click.option("--port", type=click.IntRange(1, 65535), required=True, metavar="P",
              help="Port to listen on.")
@click.option("--host", default=None, metavar="H",
              help="Address to listen on (default 127.0.0.1, or ::1 with --ipv6).")
@click.option("--behavior", type=click.Choice(list(BEHAVIORS)), default="echo",
              show_default=True, help="What the server does with each connection (below).")
@click.option("--backlog", type=click.IntRange(0, 65535), default=128, show_default=True,
              metavar="N",
              help="listen() backlog (the accept queue holds backlog+1).")
@click.option("--reuseaddr/--no-reuseaddr", default=True, show_default=True,
              help="SO_REUSEADDR on the listeners.")
@click.option("--reuseport", type=click.IntRange(1, 64), default=1, show_default=True,
              metavar="N", help="N listeners on one port with SO_REUSEPORT (N > 1).")
@click.option("--ipv6", is_flag=True, help="Listen on IPv6 (default host ::1).")
@click.option("--accept-interval-ms", type=click.IntRange(1, 3_600_000), default=100,
              show_default=True, metavar="MS",
              help="slow-accept: accept one connection this often.")
@click.option("--keepalive-idle", type=click.IntRange(1, MAX_TCP_KEEPIDLE), metavar="S",
              default=5, show_default=True,
              help="keepalive: TCP_KEEPIDLE, seconds before the first probe.")
@click.option("--keepalive-intvl", type=click.IntRange(1, MAX_TCP_KEEPINTVL), metavar="S",
              default=2, show_default=True,
              help="keepalive: TCP_KEEPINTVL, seconds between probes.")
@click.option("--keepalive-cnt", type=click.IntRange(1, MAX_TCP_KEEPCNT), metavar="N",
              default=3, show_default=True,
              help="keepalive: TCP_KEEPCNT, unanswered probes before the reset.")
@netns_option
def command(port, host, behavior, backlog, reuseaddr, reuseport, ipv6, accept_interval_ms,
            keepalive_idle, keepalive_intvl, keepalive_cnt, netns):
    """Listen and serve connections with a lifecycle BEHAVIOR until Ctrl-C or SIGTERM."""
    check_netns(netns)
    family = socket.AF_INET6 if ipv6 else None
    host = host or ("::1" if ipv6 else "127.0.0.1")
    if ipv6 and ":" not in host:
        raise UsageProblem(f"--ipv6 needs an IPv6 --host, got {host!r}")
    server = Server(behavior=behavior, host=host, port=port, backlog=backlog,
                    reuseaddr=reuseaddr, reuseport=reuseport, family=family,
                    accept_interval_ms=accept_interval_ms,
                    keepalive=Keepalive(keepalive_idle, keepalive_intvl, keepalive_cnt),
                    netns=netns)
    try:
        server.start()
    except socket.gaierror as exc:
        raise UsageProblem(f"cannot resolve --host {host!r}: {exc.strerror}") from None
    except OSError as exc:
        raise _bind_problem(exc, server.address) from None
    where = f" in netns {netns}" if netns else ""
    listeners = f", {reuseport} SO_REUSEPORT listeners" if reuseport > 1 else ""
    click.echo(f"socklife serve: {behavior} listening on {server.address}{where} "
               f"(backlog {backlog}{listeners}); Ctrl-C to stop")
    stopped_by = None
    try:
        while not server.wait(0.5):
            pass
    except KeyboardInterrupt as exc:
        stopped_by = signal_of(exc)
    finally:
        server.stop()
    click.echo(f"socklife serve: stopped: {server.accepted} accepted, {server.closed} closed",
               err=True)
    if server.error is not None:
        raise UsageProblem(f"server loop failed: {server.error!r}")
    return exit_status(stopped_by)
