"""Every float option of every command (and of the Locust plugin) is a FiniteFloat: NaN
and the infinities are refused in one line naming the option, exit 2."""

from __future__ import annotations

import argparse

import click
import pytest
from cli_util import REQUIRED, leaf_commands, options_of

from harness.cli import main
from harness.values import FiniteFloat, for_argparse

FLOAT_OPTIONS = [(path, opt.opts[-1]) for path, cmd in leaf_commands()
                 for opt in options_of(cmd) if isinstance(opt.type, FiniteFloat)]


def test_no_command_takes_a_plain_float():
    plain = [f"{path} {opt.opts[-1]}" for path, cmd in leaf_commands()
             for opt in options_of(cmd)
             if isinstance(opt.type, click.types.FloatParamType)]
    assert not plain, plain
    assert len(FLOAT_OPTIONS) >= 10  # interval, duration, rate, timeout, leak threshold...


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "1e999", "NaN"])
@pytest.mark.parametrize("path, flag", FLOAT_OPTIONS)
def test_non_finite_values_are_refused_with_the_option_name(capsys, tmp_path, path, flag,
                                                            bad):
    args = [a.format(out=tmp_path / "out", run="r.jsonl") for a in REQUIRED[path]]
    capsys.readouterr()
    assert main([*path.split(), *args, flag, bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err and "finite" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, ok", [("0.05", True), ("3600", True), ("0.01", False),
                                      ("3601", False), ("x", False), (" 1 ", True)])
def test_range_and_parse(text, ok):
    kind = FiniteFloat(0.05, 3600)
    if ok:
        assert kind.convert(text, None, None) == float(text)
    else:
        with pytest.raises(click.BadParameter):
            kind.convert(text, None, None)


def test_open_bounds_and_description():
    assert FiniteFloat(0, min_open=True).describe() == "x>0"
    assert FiniteFloat(None, 5, max_open=True).describe() == "x<5"
    assert FiniteFloat(1, 2).describe() == "1<=x<=2"
    with pytest.raises(click.BadParameter, match="not in the range x>0"):
        FiniteFloat(0, min_open=True).convert("0", None, None)


def test_locust_arguments_refuse_non_finite_interval(capsys):
    from harness.load.arguments import INTERVAL

    parser = argparse.ArgumentParser(prog="locust")
    parser.add_argument("--socklife-interval", type=for_argparse(INTERVAL))
    assert parser.parse_args(["--socklife-interval", "0.5"]).socklife_interval == 0.5
    for bad in ("nan", "inf", "0"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--socklife-interval", bad])
        err = capsys.readouterr().err
        assert "argument --socklife-interval:" in err, err
