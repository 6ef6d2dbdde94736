"""Samples for the load run, read without blocking gevent.

The sampling itself runs in a child process (sampler_proc.py) that prints one JSON
sample per line; here a greenlet reads those lines through gevent's cooperative pipes,
so the Users' greenlets never wait for a dump to be decoded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sampler_proc.py")


class SampleProcess:
    """The child sampler for ``netns``/``ports`` every ``interval`` seconds."""

    def __init__(self, netns: str | None, ports=(), interval: float = 1.0,
                 cpu_budget: float = 2.0):
        self.netns, self.ports, self.interval = netns, tuple(ports), interval
        self.cpu_budget = cpu_budget  # percent of one core
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        # run as a script (-P: its folder not on sys.path), not as harness.load.sampler_proc:
        # importing the package harness.load would import Locust and gevent (0.7 s)
        argv = [sys.executable, "-P", SCRIPT, "--interval", str(self.interval),
                "--cpu-budget", str(self.cpu_budget), "--parent", str(os.getpid())]
        if self.netns:
            argv += ["--netns", self.netns]
        for port in self.ports:
            argv += ["--port", str(port)]
        return argv

    def start(self) -> SampleProcess:
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, text=True)
        return self

    def samples(self) -> Iterator[dict]:
        """Each sample as it comes, until the child ends."""
        for line in self.proc.stdout:
            if line.endswith("\n"):
                yield json.loads(line)

    def finish(self) -> None:
        """Ask for a last sample and the end (samples() then runs out)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()

    def kill(self) -> None:
        if self.proc:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
