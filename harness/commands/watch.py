"""`socklife watch`: a live view of the TCP sockets (rich), refreshed every interval."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import time
import tty

import click
from rich.console import Console
from rich.live import Live
from rich.text import Text

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
from harness.observe.loop import Schedule, samples
from harness.observe.sampler import Sampler
from harness.views.live import StateSeries, live_view

EPILOG = """\b
Examples:
  socklife watch                              this namespace, every second
  socklife watch --port 8080 --interval 0.2
  socklife watch --netns lab                  (root)
  socklife watch --all-netns                  a row per namespace (root)
Keys: q quits (Ctrl-C too).
"""


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
@all_netns_option
@port_option
@cgroup_option
@interval_option
@leak_option
@cpu_budget_option
def command(netns, all_netns, ports, cgroups, interval, leak_threshold, cpu_budget):
    """A live view: state counts with sparklines, listeners by queue fill, the oldest
    CLOSE_WAIT sockets with their process, ephemeral headroom, counter rates
    (--all-netns: a row per namespace)."""
    check_netns(netns, all_netns)
    ids = cgroup_ids(cgroups)
    where = ("every netns" if all_netns else f"netns {netns}" if netns else "this netns") + (
        "  ports " + ",".join(map(str, ports)) if ports else "")
    series = StateSeries()
    console = Console() if sys.stdout.isatty() else Console(width=1000)
    if all_netns:
        from harness.observe.hostwide import HostSampler
        from harness.views.hosts import host_view

        sampler = HostSampler(ports, interval, leak_threshold, cpu_budget=cpu_budget / 100,
                              fold=False, cgroup_ids=ids)
    else:
        sampler = Sampler(netns, ports, interval, leak_threshold, cpu_budget=cpu_budget / 100,
                          fold=False, cgroup_ids=ids)
    with sampler, keys() as pressed, frames(console) as show:

        def wait(timeout: float) -> None:  # the loop's sleep: a key press may end it
            if "q" in pressed(timeout).lower():
                schedule.stop()

        with Schedule(interval, sleep=wait) as schedule:
            for s in samples(sampler, schedule):
                clock = time.strftime("%H:%M:%S", time.localtime())
                header = Text(f"socklife watch  {where}  every {interval:g}s  {clock}  q quits",
                              style="bold")
                if all_netns:
                    fit = console.is_terminal
                    show(host_view(s, header, sampler.notes, fit=fit,
                                   rows=console.height - 6 if fit else None))
                    sampler.notes.clear()
                    continue
                series.add(s)
                show(live_view(s, series, header, console.width, fit=console.is_terminal))
