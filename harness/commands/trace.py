"""`socklife trace`: every TCP state transition as it happens (tracepoints; root).

Reads sock:inet_sock_set_state in a tracefs instance of its own (harness.kernel.tracefs,
kernel 4.16+ for the tracepoint), one line per transition, like bcc's tcpstates.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

import click

from harness.commands.common import check_netns, netns_option, port_option
from harness.errors import UsageProblem, exit_status, signal_of
from harness.kernel import tracefs
from harness.kernel.netns import netns_path
from harness.kernel.tracefs import Tracer
from harness.observe.lifecycle import Lifecycles
from harness.values import FiniteFloat

EPILOG = """\b
Examples:
  socklife trace --port 7000                 sockets on port 7000
  socklife trace --netns lab --duration 10   addresses of netns lab, for 10 s
  socklife trace --port 80 --json            one JSON object per transition

\b
Columns: TIME seconds since start; PID/COMM the task running when the state
changed (for changes caused by an arriving segment, the task the interrupt
landed on); LOCAL and REMOTE as the socket sees them; OLD>NEW the transition
(ESTAB = ESTABLISHED); MS the time spent in OLD. At exit one line on stderr
counts the transitions and the events the kernel lost (buffer overrun; 0 in
a normal run), as tcpdump reports its drops.

\b
FIN_WAIT2>TIME_WAIT is inferred: the kernel reports FIN_WAIT2 -> CLOSE of
the full socket when a TIME_WAIT minisocket takes its place (JSON: "new":
"CLOSE", "inferred": "TIME_WAIT"). A server's connection starts with
LISTEN>SYN_RECV on the child socket when the handshake completes; the
request socket before it emits nothing.

\b
--netns NS: tracepoints see every namespace and carry no namespace id, so
the trace keeps the sockets whose local or remote address is configured in
NS (`ip -n NS -j addr`). Loopback addresses are used only when NS has no
other: then loopback traffic of other namespaces is shown too (it cannot be
told apart).
"""

HEADER = f"{'TIME':>6} {'PID/COMM':<9} {'LOCAL':<18} {'REMOTE':<18} {'OLD>NEW':<19} {'MS':>5}"
SHORT = {"ESTABLISHED": "ESTAB"}


def netns_addresses(ip_json: str) -> tuple[list[str], bool]:
    """`ip -j addr` output -> (addresses to match, whether they are loopback only)."""
    addrs, loop = [], []
    for link in json.loads(ip_json or "[]"):
        for info in link.get("addr_info", ()):
            if info.get("family") in ("inet", "inet6") and info.get("local"):
                (loop if info.get("scope") == "host" else addrs).append(info["local"])
    return (addrs, False) if addrs else (loop, True)


def _ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}" if ms < 1000 else f"{ms:.0f}"


def format_line(tr: dict, t0: float) -> str:
    """One transition as a line of at most 80 columns for IPv4 endpoints."""
    who = f"{tr['pid']}/{tr['comm']}" if tr.get("pid") is not None else "-"
    new = tr.get("inferred") or tr["new"]
    change = f"{SHORT.get(tr['old'], tr['old'])}>{SHORT.get(new, new)}"
    return (f"{tr['time'] - t0:6.3f} {who[:9]:<9} {tr['local']:<18} {tr['remote']:<18} "
            f"{change:<19} {_ms(tr['ms']):>5}")


def to_json(tr: dict, wall_offset: float) -> str:
    obj = {"time": round(tr["time"] + wall_offset, 6), "mono": tr["time"],
           "pid": tr.get("pid"), "comm": tr.get("comm"), "local": tr["local"],
           "remote": tr["remote"], "old": tr["old"], "new": tr["new"],
           "ms": None if tr["ms"] is None else round(tr["ms"], 3), "skaddr": tr["skaddr"]}
    if tr.get("inferred"):
        obj["inferred"] = tr["inferred"]
    return json.dumps(obj)


def _addresses(netns: str) -> list[str]:
    # `ip -n` takes names only; nsenter enters a path (pid:N through its /proc link)
    argv = ["ip", "-n", netns, "-j", "addr"] if "/" not in netns and ":" not in netns else [
        "nsenter", f"--net={netns_path(netns)}", "ip", "-j", "addr"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise UsageProblem(f"cannot read the addresses of namespace {netns!r}: {exc}") from None
    addrs, loopback_only = netns_addresses(out)
    if not addrs:
        raise UsageProblem(f"namespace {netns!r} has no addresses")
    if loopback_only:
        click.echo(f"socklife: note: {netns} has only loopback addresses: loopback traffic "
                   "of other namespaces is shown too", err=True)
    return addrs


@click.command("trace", epilog=EPILOG)
@netns_option
@port_option
@click.option("--duration", type=FiniteFloat(0, min_open=True), default=None,
              metavar="S", help="Stop after S seconds (default: until Ctrl-C or SIGTERM).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per transition.")
def command(netns, ports, duration, as_json):
    """Print every TCP state transition as it happens (tracepoints, root)."""
    if os.geteuid() != 0:
        raise UsageProblem("needs root for tracepoints (tracefs)")
    check_netns(netns)
    tracefs.cleanup_stale()  # instances a killed socklife left tracing
    addrs = _addresses(netns) if netns else []
    out = sys.stdout
    t0 = time.monotonic()
    wall = time.time() - t0
    lives = Lifecycles(keep=False)
    tracer = Tracer(ports=ports, addrs=addrs)
    count = [0]

    def emit() -> None:
        for ev in tracer.read():
            tr = lives.add(ev)
            if tr is not None:
                count[0] += 1
                out.write((to_json(tr, wall) if as_json else format_line(tr, t0)) + "\n")
        out.flush()

    deadline = None if duration is None else t0 + duration
    stopped_by = None
    with tracer:
        try:
            if not as_json:
                out.write(HEADER + "\n")
                out.flush()
            while deadline is None or time.monotonic() < deadline:
                left = 0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic()))
                time.sleep(left)
                emit()
        except KeyboardInterrupt as exc:
            stopped_by = signal_of(exc)
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while draining
            emit()
        lost = tracer.lost
    why = " (the kernel buffer overran)" if lost else ""
    click.echo(f"socklife: {count[0]} transitions, {lost} events lost{why}", err=True)
    return exit_status(stopped_by)
