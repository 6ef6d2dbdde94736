"""Errors that end a command with exit code 2 and a one-line reason, and the exit status
of a command ended by a signal (128 + the signal's number: 130 for SIGINT, 143 for
SIGTERM, as a shell reports a process the signal killed)."""

import signal


class UsageProblem(Exception):
    """Bad input or an environment that cannot do what was asked (exit 2)."""

    exit_code = 2


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised where the command was (harness.cli installs the
    handler); a plain KeyboardInterrupt is a SIGINT."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def signal_of(exc: BaseException | None) -> int:
    """The signal behind an interruption (SIGINT unless it was an Interrupted)."""
    return exc.signum if isinstance(exc, Interrupted) else signal.SIGINT


def exit_status(signum: int | None) -> int:
    """0 for a command that ran to its end, 128 + ``signum`` for one a signal ended."""
    return 0 if signum is None else 128 + signum
