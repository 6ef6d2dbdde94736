"""`socklife` command line: a click group that loads each subcommand from its own module.

Each subcommand lives in ``harness/commands/<name>.py`` and exposes ``command`` (a
click command or group), imported only when it runs. ``socklife --help`` lists them
without importing any: each one's line comes from the docstring of its ``command``, read
from the source. ``main(argv=None)`` turns every bad-input or environment problem into
one line on stderr and exit code 2, and SIGTERM into the same path as Ctrl-C (exit 143
for SIGTERM, 130 for SIGINT).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import importlib
import inspect
import os
import re
import signal
import sys

import click

from harness import __version__
from harness.errors import Interrupted, UsageProblem, exit_status, signal_of
from harness.kernel.errors import KernelError

COMMANDS = (
    "snapshot", "watch", "record", "doctor", "serve", "connect", "lab", "scenario",
    "trace", "report", "check", "exporter", "demo",
)

EPILOG = """\b
Examples:
  socklife snapshot                      states, listeners, leaks, port headroom
  socklife snapshot --port 8080 --json   only sockets with local or remote port 8080
  socklife record -o run.jsonl --duration 60
  socklife scenario list
"""


COMMANDS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "commands")
# `def command(...):` and its docstring, in a command's source.
_COMMAND_DOC = re.compile(r'^def command\(.*?\).*?:\n\s+"""(.*?)"""', re.S | re.M)


def _module_name(name: str) -> str:
    return f"harness.commands.{name}"


def help_text(name: str) -> str | None:
    """The docstring of ``command`` in ``harness/commands/NAME.py`` (its --help text),
    read from the source; None where it cannot be found there.

    Importing all thirteen commands to list them was most of `socklife --help`'s time;
    a test holds this to what click would show from the imported command.
    """
    try:
        with open(os.path.join(COMMANDS_DIR, f"{name}.py"), encoding="utf-8") as f:
            found = _COMMAND_DOC.search(f.read())
    except OSError:
        return None
    return inspect.cleandoc(found.group(1)) if found else None


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        return importlib.import_module(_module_name(cmd_name)).command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = []
        for name in COMMANDS:
            text = help_text(name)
            # A bare Command shortens the text as the real one would (click's own rule).
            cmd = click.Command(name, help=text) if text else self.get_command(ctx, name)
            rows.append((name, cmd.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="socklife")
def cli() -> None:
    """Watch the kernel's TCP sockets: TIME_WAIT, CLOSE_WAIT leaks, accept queues and
    ephemeral ports, live, under load and in CI (netlink sock_diag, Linux >= 4.x)."""


def _raise_interrupt(signum, frame):
    raise Interrupted(signum)


_OUTPUT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # stdout on a full device


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a script, exit with) 0 ok, 1 failed check, 2 bad usage,
    128 + N after signal N.

    SIGINT and SIGTERM both end a command as Ctrl-C does (an Interrupted raised where it
    was, so its files are completed on the way out), even when SIGINT came in ignored (a
    background job of a shell script starts so, and `kill -INT` must still stop
    `socklife serve &`). The exit status is 130 after SIGINT, 143 after SIGTERM, also
    for commands that catch the interruption to finish their output. Standard output
    on a full device is one line and 2 (a closed pipe is click's: quietly, 1)."""
    previous = {sig: signal.signal(sig, _raise_interrupt)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        rv = cli.main(args=argv, prog_name="socklife", standalone_mode=False)
        sys.stdout.flush()  # a write error of the last output is this command's too
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRNOS:
            raise
        _drop_stdout()  # (a file system's errors are UsageProblems: harness.sinks.outputs)
        with contextlib.suppress(OSError):
            click.echo(f"socklife: error: cannot write the output: {exc.strerror}", err=True)
        return 2
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 2
    except click.UsageError as exc:
        click.echo(f"socklife: error: {exc.format_message()}", err=True)
        return 2
    except (UsageProblem, KernelError) as exc:
        click.echo(f"socklife: error: {exc}", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort as exc:  # click wraps a KeyboardInterrupt
        return exit_status(signal_of(exc.__cause__))
    except KeyboardInterrupt as exc:
        return exit_status(signal_of(exc))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return rv if isinstance(rv, int) else 0


def script() -> None:
    """The `socklife` executable and `python -m harness`: main(), then exit without the
    interpreter's last sweep for garbage cycles.

    That sweep walks every object the imports made (~7 ms of a ~100 ms command that
    prints one sample and exits; docs/performance.md). By then the command has closed its
    files and the streams are flushed here, so what the sweep would free is memory the
    process gives back anyway; objects freed by reference counts are still freed, and
    atexit handlers (weakref.finalize, temporary directories) still run. Only here, not
    in main(): a test or a program calling main() keeps its own collector."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    script()
