"""The command tree for tests that go over every command: each leaf command with the
arguments it needs to get past parsing, so one bad value is the only thing wrong."""

from __future__ import annotations

import click

from harness.cli import cli

# The arguments each command needs besides the one under test ({run}: a recorded run,
# {out}: a fresh output path).
REQUIRED = {
    "snapshot": [], "watch": [], "record": ["-o", "{out}"], "doctor": [],
    "serve": ["--port", "7"], "connect": ["127.0.0.1:9"], "lab up": [],
    "lab down": ["--name", "x"], "lab list": [], "scenario list": [],
    "scenario run": ["handshake"], "trace": [], "report": ["{run}", "-o", "{out}"],
    "check": ["{run}", "--max", "TIME_WAIT=1"], "exporter": [], "demo": [],
}


def leaf_commands():
    """[(path like "lab up", click.Command)] of every command that runs."""
    ctx = click.Context(cli)
    out = []

    def walk(group, prefix):
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            path = f"{prefix} {name}".strip()
            if isinstance(cmd, click.Group):
                walk(cmd, path)
            else:
                out.append((path, cmd))

    walk(cli, "")
    return out


def options_of(cmd: click.Command):
    """The command's options (not arguments, not --help)."""
    return [p for p in cmd.params if isinstance(p, click.Option) and p.name != "help"]


def interrupt(proc, sig: int, timeout: float = 30) -> tuple[int, str, str]:
    """Send ``sig`` to a running ``socklife`` (Popen with pipes), wait for it to end
    (killed if it does not), and give (exit status, stdout, stderr)."""
    try:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err
