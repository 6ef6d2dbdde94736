"""`socklife record`: samples as JSON Lines, one per interval, then a summary line."""

from __future__ import annotations

import signal
import sys
import time

import click

from harness.commands.common import check_netns, netns_option, port_option
from harness.observe.leaks import DEFAULT_THRESHOLD_S
from harness.observe.sampler import MAX_INTERVAL_S, MIN_INTERVAL_S, Sampler
from harness.sinks.jsonl import JsonlWriter

EPILOG = """\b
Examples:
  socklife record -o run.jsonl              every second until Ctrl-C
  socklife record -o run.jsonl --port 8080 --interval 0.1 --duration 60
  socklife record -o lab.jsonl --netns lab --leak-threshold 10     (root)
Each line is one sample (snapshot JSON plus rates, leaks, forecasts);
the last line is {"summary": {...}}. Ctrl-C or SIGTERM ends the run
after the current sample.
"""

interval_option = click.option(
    "--interval", type=click.FloatRange(MIN_INTERVAL_S, MAX_INTERVAL_S), default=1.0,
    show_default=True, metavar="S", help="Seconds between samples (0.05 to 3600).")
leak_option = click.option(
    "--leak-threshold", type=click.FloatRange(0, None), default=DEFAULT_THRESHOLD_S,
    show_default=True, metavar="S", help="A CLOSE_WAIT socket older than this is a leak.")


class StopFlag:
    """SIGINT/SIGTERM set a flag instead of raising, so a sample is never cut in half."""

    def __init__(self):
        self.stopped = False
        self._previous = {}

    def __enter__(self) -> StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._stop)
        return self

    def _stop(self, signum, frame) -> None:
        self.stopped = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def sleep_until(self, deadline: float) -> None:
        while not self.stopped:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))


def run_loop(sampler: Sampler, interval: float, duration: float | None, on_sample,
             stop: StopFlag) -> None:
    """Call ``on_sample(sample)`` every ``interval`` until ``duration`` or a stop."""
    start = time.monotonic()
    k = 0
    while not stop.stopped:
        if duration is not None and k * interval >= duration:
            break
        on_sample(sampler.sample())
        k += 1
        now = time.monotonic()
        k = max(k, int((now - start) / interval))  # fell behind: skip, don't burst
        stop.sleep_until(start + k * interval)


@click.command("record", epilog=EPILOG)
@click.option("-o", "--output", "output", required=True, metavar="FILE",
              help="JSON Lines file to write (replaced).")
@netns_option
@port_option
@interval_option
@click.option("--duration", type=click.FloatRange(0, None, min_open=True), default=None,
              metavar="S", help="Stop after S seconds (default: until Ctrl-C or SIGTERM).")
@leak_option
def command(output, netns, ports, interval, duration, leak_threshold):
    """Record samples of the TCP sockets to a JSON Lines file, flushed per line."""
    check_netns(netns)
    progress = sys.stderr.isatty()
    with JsonlWriter(output) as out, Sampler(netns, ports, interval, leak_threshold) as sampler:
        def on_sample(s):
            out.write(s)
            if progress:
                st = s["states"]
                sys.stderr.write(
                    f"\rsamples {out.lines}  ESTAB {st['ESTABLISHED']}  TIME_WAIT "
                    f"{st['TIME_WAIT']}  CLOSE_WAIT {st['CLOSE_WAIT']}  leaks "
                    f"{s['leaks']['count']}   ")
                sys.stderr.flush()

        with StopFlag() as stop:
            try:
                run_loop(sampler, interval, duration, on_sample, stop)
            finally:
                out.close(sampler.summary())
    if progress:
        sys.stderr.write("\n")
    click.echo(f"wrote {out.lines} lines to {output}", err=True)
