"""`socklife watch`: a live view of the TCP sockets (rich), refreshed every interval."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections import deque

import click
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from harness.commands.common import check_netns, netns_option, port_option
from harness.commands.record import interval_option, leak_option
from harness.observe.sampler import Sampler

EPILOG = """\b
Examples:
  socklife watch                              this namespace, every second
  socklife watch --port 8080 --interval 0.2
  socklife watch --netns lab                  (root)
Keys: q quits (Ctrl-C too).
"""

SHOWN_STATES = ("ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
                "CLOSE_WAIT", "LAST_ACK", "LISTEN")
SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 50
RATES = ("ActiveOpens", "PassiveOpens", "TW", "ListenOverflows", "EstabResets", "TWRecycled")


def sparkline(values) -> str:
    values = list(values)[-SPARK_WIDTH:]
    top = max(values, default=0)
    if not top:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(7, v * 8 // (top + 1))] if v else " " for v in values)


def _short(text, width: int) -> str:
    text = "-" if text is None else str(text)
    return text if len(text) <= width else text[:width - 1] + "…"


def render(s: dict, series: dict[str, deque], where: str) -> Group:
    """At most 23 lines of at most 80 columns."""
    lines = [Text(f"socklife watch  {where}  every {s['interval_s']:g}s  "
                  f"{time.strftime('%H:%M:%S', time.localtime(s['time']))}  q quits",
                  style="bold")]
    for name in SHOWN_STATES:
        lines.append(Text(f"{name:<12}{s['states'][name]:>9}  {sparkline(series[name])}"))
    lines.append(Text(f"{'LISTENER':<26}{'QUEUE':>7}{'BACKLOG':>8}{'FILL':>6}{'SYNRECV':>8}"
                      f"  PROCESS", style="bold"))
    for row in s["listeners"][:3]:
        proc = f"{row['process']}/{row['pid']}" if row["pid"] else "-"
        flag = " FULL" if row["full"] else (" was full" if row["ever_full"] else "")
        lines.append(Text(f"{_short(row['local'], 26):<26}{row['accept_queue']:>7}"
                          f"{row['backlog']:>8}{row['fill']:>6.2f}{row['syn_recv']:>8}  "
                          f"{_short(proc, 14)}{flag}",
                          style="red" if row["full"] else ""))
    cw = s["close_wait"]
    lines.append(Text(f"CLOSE_WAIT {len(cw)} (leaks {s['leaks']['count']})  "
                      f"{'PEER':<22}{'AGE':>8}  PROCESS/PID FD", style="bold"))
    for row in cw[:3]:
        age = "new" if row["age_s"] is None else f"{row['age_s']:.1f}s"
        lines.append(Text(f"  {_short(row['local'], 21):<21}{_short(row['remote'], 22):<22}"
                          f"{age:>8}  {_short(row['process'], 12)}/{row['pid'] or '-'} "
                          f"{row['fd'] if row['fd'] is not None else '-'}",
                          style="red" if row["leak"] else ""))
    eph = s["ephemeral"]
    lines.append(Text(f"EPHEMERAL {eph['range'][0]}-{eph['range'][1]}: {eph['in_use']} of "
                      f"{eph['usable']} in use", style="bold"))
    for row in eph["by_destination"][:2]:
        lines.append(Text(_short(f"  {row['remote']} {row['in_use']} "
                                 f"{row['rate_per_s']:g}/s: {row['forecast']}", 80)))
    rates = s["rates"]
    lines.append(Text(_short("/s  " + "  ".join(f"{k} {rates[k]:g}" for k in RATES
                                                if k in rates), 80)))
    return Group(*lines)


@contextlib.contextmanager
def keys():
    """Yield a function ``pressed(timeout) -> str`` reading stdin in cbreak mode (a TTY)."""
    if not sys.stdin.isatty():
        yield lambda timeout: time.sleep(timeout) or ""
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)

        def pressed(timeout: float) -> str:
            ready, _w, _x = select.select([fd], [], [], max(0.0, timeout))
            return os.read(fd, 32).decode(errors="replace") if ready else ""

        yield pressed
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def frames(console: Console):
    """Yield ``show(renderable)``: redraws one screen on a terminal; elsewhere (a pipe, a
    file) prints each frame after the last, so a redirected watch is a readable log."""
    if not console.is_terminal:
        yield lambda frame: (console.print(frame), console.print(), console.file.flush())
        return
    with Live(console=console, screen=True, auto_refresh=False) as live:
        yield lambda frame: live.update(frame, refresh=True)


@click.command("watch", epilog=EPILOG)
@netns_option
@port_option
@interval_option
@leak_option
def command(netns, ports, interval, leak_threshold):
    """A live view: state counts with sparklines, listeners by queue fill, the oldest
    CLOSE_WAIT sockets with their process, ephemeral headroom, counter rates."""
    check_netns(netns)
    where = (f"netns {netns}" if netns else "this netns") + (
        "  ports " + ",".join(map(str, ports)) if ports else "")
    series = {name: deque(maxlen=SPARK_WIDTH) for name in SHOWN_STATES}
    console = Console()
    with Sampler(netns, ports, interval, leak_threshold) as sampler, keys() as pressed, \
            frames(console) as show:
        while True:
            start = time.monotonic()
            s = sampler.sample()
            for name in SHOWN_STATES:
                series[name].append(s["states"][name])
            show(render(s, series, where))
            deadline = start + interval
            while (left := deadline - time.monotonic()) > 0:
                if "q" in pressed(left).lower():
                    return
