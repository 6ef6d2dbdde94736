"""Option value types shared by the command line and the Locust plugin's arguments.

``FiniteFloat`` is the one type for every option that takes seconds, a rate or a
threshold: NaN and the infinities are refused (click's FloatRange lets NaN through every
range, since no comparison with NaN is true), with the option's name::

    >>> seconds = FiniteFloat(0, 3600, min_open=True)
    >>> seconds.convert("2.5", None, None)
    2.5
    >>> seconds.convert("nan", None, None)
    Traceback (most recent call last):
    ...
    click.exceptions.BadParameter: 'nan' is not a finite number.
    >>> seconds.convert("0", None, None)
    Traceback (most recent call last):
    ...
    click.exceptions.BadParameter: 0 is not in the range 0<x<=3600.

``for_argparse(FiniteFloat(...))`` gives the same check as an argparse ``type=``.
"""

from __future__ import annotations

import math

import click


class FiniteFloat(click.ParamType):
    """A finite float within [min, max] (either bound open or absent)."""

    name = "number"

    def __init__(self, min: float | None = None, max: float | None = None, *,
                 min_open: bool = False, max_open: bool = False):
        self.min, self.max, self.min_open, self.max_open = min, max, min_open, max_open

    def describe(self) -> str:
        """The range as click writes it: ``0<x<=3600``, ``x>=1``."""
        lo = "" if self.min is None else f"{self.min:g}{'<' if self.min_open else '<='}"
        hi = "" if self.max is None else f"{'<' if self.max_open else '<='}{self.max:g}"
        if not lo and not hi:
            return "any finite number"
        if not lo:
            return f"x{hi}"
        if not hi:
            return f"x{'>' if self.min_open else '>='}{self.min:g}"
        return f"{lo}x{hi}"

    def _in_range(self, v: float) -> bool:
        if self.min is not None and (v <= self.min if self.min_open else v < self.min):
            return False
        return not (self.max is not None and (v >= self.max if self.max_open else v > self.max))

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, bool):
            self.fail(f"{value!r} is not a number.", param, ctx)
        try:
            v = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number.", param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        if not self._in_range(v):
            shown = value.strip() if isinstance(value, str) else f"{v:g}"
            self.fail(f"{shown} is not in the range {self.describe()}.", param, ctx)
        return v

    def __repr__(self) -> str:
        return f"FiniteFloat({self.describe()})"


def for_argparse(kind: click.ParamType):
    """``kind`` as an argparse ``type=``: argparse names the argument in its message."""
    import argparse  # the Locust plugin's parser: not imported by the CLI

    def convert(text: str):
        try:
            return kind.convert(text, None, None)
        except click.BadParameter as exc:
            raise argparse.ArgumentTypeError(exc.message.rstrip(".")) from None

    convert.__name__ = kind.name
    return convert
