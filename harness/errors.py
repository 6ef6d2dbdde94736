"""Errors that end a command with exit code 2 and a one-line reason."""


class UsageProblem(Exception):
    """Bad input or an environment that cannot do what was asked (exit 2)."""

    exit_code = 2
