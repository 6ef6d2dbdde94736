"""The demo run: a server, short_tcp load through Locust in this process, a live view.

``run_demo`` starts an echo server on 127.0.0.1, drives ``ShortTcpUser`` Users against
it with a LocalRunner (gevent; importing this module imports Locust, which
monkey-patches the standard library), samples the kernel once a second through the
plugin (``LoadWatch``), shows a live table and returns the run's figures. Ctrl-C or
SIGTERM (as KeyboardInterrupt) ends it early; the files are completed and the server and
Users stopped either way.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass

import gevent
import gevent.event
from locust import constant_throughput, events
from locust.env import Environment
from rich.console import Group
from rich.live import Live
from rich.table import Table

from harness.load.arguments import Settings
from harness.load.collector import headroom, listener_fill
from harness.load.plugin import LoadWatch
from harness.load.tcp_user import ShortTcpUser
from harness.sockets import Server

SHOWN = ("ESTABLISHED", "SYN_SENT", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE_WAIT",
         "LAST_ACK", "LISTEN")


class DemoUser(ShortTcpUser):
    """Connect, send a line, read the echo, close (the client closes first)."""

    wait_time = constant_throughput(50)  # replaced by run_demo for the --rate asked


@dataclass
class DemoResult:
    summary: dict
    connections: int
    failures: int
    seconds: float
    interrupted: bool
    checks: list[str]


def view(watch: LoadWatch, runner, started: float, duration: float) -> Group:
    """The live view: Locust's figures, then the latest sample's states and queues."""
    total = runner.stats.total
    connects = runner.stats.get("connect", "TCP")
    head = Table.grid(padding=(0, 2))
    head.add_row(f"[b]socklife demo[/b] {time.monotonic() - started:3.0f}/{duration:.0f} s",
                 f"users {runner.user_count}", f"{connects.current_rps:6.0f} connections/s",
                 f"failures {total.num_failures}")
    table = Table(title=f"TCP states on port {watch.settings.ports[0]}", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("now", justify="right")
    table.add_column("peak", justify="right")
    runs = list(watch.collector.hosts.values())
    if runs:
        run = runs[0]
        s = run.latest
        for name in SHOWN:
            table.add_row(name, str(s["states"].get(name, 0)), str(run.peaks.get(name, 0)))
        top = max(s.get("listeners") or [], key=listener_fill, default=None)
        if top:
            table.add_row("accept queue", f"{top['accept_queue']}/{top['backlog'] + 1}",
                          f"{run.fill_max:.0%}")
        room = headroom(s)
        table.add_row("port headroom", "-" if room is None else str(room),
                      "-" if run.headroom_min is None else str(run.headroom_min))
    return Group(head, table)


def run_demo(duration: float, users: int, rate: float, record: str | None,
             console) -> DemoResult:
    """``rate`` connections per second in all, spread over ``users`` Users."""
    DemoUser.wait_time = constant_throughput(rate / users)
    server = Server(behavior="echo").start()
    env = Environment(user_classes=[DemoUser], host=f"tcp://127.0.0.1:{server.port}",
                      events=events)
    runner = env.create_local_runner()
    watch = LoadWatch(env, Settings(interval=1.0, ports=(server.port,), record=record))
    watch.attach()
    started = time.monotonic()
    # Ctrl-C and SIGTERM end the wait below; a Python handler raising inside gevent's
    # hub would not reach this greenlet cleanly
    stop = gevent.event.Event()
    handlers = [gevent.signal_handler(sig, stop.set) for sig in (signal.SIGINT, signal.SIGTERM)]
    try:
        runner.start(users, spawn_rate=users)
        with Live(view(watch, runner, started, duration), console=console,
                  refresh_per_second=2, transient=False) as live:
            while not stop.is_set() and time.monotonic() - started < duration:
                stop.wait(0.5)
                live.update(view(watch, runner, started, duration))
    finally:
        for handler in handlers:
            handler.cancel()
        runner.stop()  # test_stop: the plugin takes its last sample
        runner.quit()
        checks = watch.finish()
        server.stop()
    return DemoResult(summary=watch.collector.summary(),
                      connections=runner.stats.get("connect", "TCP").num_requests,
                      failures=runner.stats.total.num_failures,
                      seconds=time.monotonic() - started, interrupted=stop.is_set(),
                      checks=checks)
