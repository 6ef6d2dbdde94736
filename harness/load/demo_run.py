"""The demo run: a server, short_tcp load through Locust in this process, a live view.

``run_demo`` starts an echo server on 127.0.0.1, drives ``ShortTcpUser`` Users against
it with a LocalRunner (gevent; importing this module imports Locust, which
monkey-patches the standard library), samples the kernel once a second through the
plugin (``LoadWatch``), shows a live table and returns the run's figures. Ctrl-C or
SIGTERM ends it early (``DemoResult.signal`` says which), and so does a --record file
that cannot be written; the files are completed and the server and Users stopped either
way.
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
from rich.text import Text

from harness.load.arguments import Settings
from harness.load.plugin import LoadWatch
from harness.load.tcp_user import ShortTcpUser
from harness.sockets import Server
from harness.views.live import StateSeries, live_view


class DemoUser(ShortTcpUser):
    """Connect, send a line, read the echo, close (the client closes first)."""

    wait_time = constant_throughput(50)  # replaced by run_demo for the --rate asked


@dataclass
class DemoResult:
    summary: dict
    connections: int
    failures: int
    seconds: float
    signal: int | None  # the SIGINT or SIGTERM that ended the run early
    checks: list[str]
    write_error: str | None  # the --record file could not be written (a full disk)


def view(watch: LoadWatch, runner, started: float, duration: float, series: StateSeries,
         console) -> Group:
    """The live view of the latest sample under a header with Locust's figures
    (connections per second are the kernel's ActiveOpens rate, in the view)."""
    head = Text(f"socklife demo  {time.monotonic() - started:3.0f}/{duration:.0f} s  "
                f"port {watch.settings.ports[0]}  users {runner.user_count}  "
                f"requests {runner.stats.total.num_requests}  "
                f"failures {runner.stats.total.num_failures}  Ctrl-C ends", style="bold")
    runs = list(watch.collector.hosts.values())
    if not runs:
        return Group(head, Text("waiting for the first sample..."))
    s = runs[0].latest
    series.add(s)
    return live_view(s, series, head, console.width, fit=console.is_terminal)


def run_demo(duration: float, users: int, rate: float, record: str | None,
             console) -> DemoResult:
    """``rate`` connections per second in all, spread over ``users`` Users."""
    DemoUser.wait_time = constant_throughput(rate / users)
    server = Server(behavior="echo").start()
    env = Environment(user_classes=[DemoUser], host=f"tcp://127.0.0.1:{server.port}",
                      events=events)
    runner = env.create_local_runner()
    watch = LoadWatch(env, Settings(interval=1.0, ports=(server.port,), record=record),
                      say_write_errors=False)  # the demo stops and says it once
    watch.attach()
    started = time.monotonic()
    # Ctrl-C and SIGTERM end the wait below; a Python handler raising inside gevent's
    # hub would not reach this greenlet cleanly
    stop = gevent.event.Event()
    got: list[int] = []

    def on_signal(sig):
        got.append(sig)
        stop.set()

    handlers = [gevent.signal_handler(sig, on_signal, sig)
                for sig in (signal.SIGINT, signal.SIGTERM)]
    series = StateSeries()
    try:
        runner.start(users, spawn_rate=users)
        with Live(view(watch, runner, started, duration, series, console), console=console,
                  auto_refresh=False, transient=False) as live:
            while (not stop.is_set() and not watch.write_error
                   and time.monotonic() - started < duration):
                stop.wait(1.0)
                live.update(view(watch, runner, started, duration, series, console), refresh=True)
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
                      seconds=time.monotonic() - started, signal=got[0] if got else None,
                      checks=checks, write_error=watch.write_error)
