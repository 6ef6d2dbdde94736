"""The rule parser on any text (hypothesis): a Rule with a known name and a finite limit
>= 0 that reads back the same from its own text, or a one-line ValueError."""

from __future__ import annotations

import math

import pytest
from fuzz_util import fuzz
from hypothesis import given
from hypothesis import strategies as st

from harness.observe.thresholds import NAMES, parse_rule

pytestmark = pytest.mark.fuzz

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["", " ", "1e999", "-0", "0x10", "1_000", "nan", "inf", "١٢", "1e-400",
                     "9" * 5000]))
RULES = st.one_of(
    st.text(max_size=40),
    st.tuples(st.sampled_from([*NAMES, "time_wait", " LISTEN ", ""]),
              st.sampled_from(["=", "==", ":", "= "]), NUMBERS).map("".join))


@fuzz(400)
@given(RULES, st.sampled_from(["max", "min"]))
def test_a_rule_parses_to_a_finite_limit_or_says_why_in_one_line(text, kind):
    try:
        rule = parse_rule(text, kind)
    except ValueError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert rule.name in NAMES and rule.kind == kind
    assert math.isfinite(rule.limit) and rule.limit >= 0
    assert parse_rule(str(rule), kind) == rule
