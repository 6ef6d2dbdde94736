"""Scenario verdicts come only from observed values; overrides flip them with a message."""

from __future__ import annotations

from typing import ClassVar

import pytest

from harness.report.sequence import render_svg, segment_label
from harness.scenarios.base import Check, Expect, Run, Scenario


class Toy(Scenario):
    name, number, title = "toy", 99, "a toy"
    claim = "Two plus two is four. The rest is commentary."
    needs_root = False
    expected: ClassVar[dict[str, Expect]] = {
        "sum": Expect(4), "order": Expect(["a", "c"], "in_order"),
        "ratio": Expect(1.0, "approx", 0.1)}

    def execute(self, run: Run) -> None:
        run.observe("sum", 2 + 2)
        run.observe("order", ["a", "b", "c"])
        run.observe("ratio", 1.05)


class Broken(Toy):
    def execute(self, run: Run) -> None:
        run.observe("sum", 4)
        raise OSError(99, "Cannot assign requested address")


@pytest.mark.parametrize("expect, observed, ok", [
    (Expect(4), 4, True), (Expect(4), 5, False), (Expect(4), None, False),
    (Expect([1, 3], "in_order"), [1, 2, 3], True), (Expect([3, 1], "in_order"), [1, 2, 3], False),
    (Expect(5, "at_least"), 5, True), (Expect(5, "at_most"), 6, False),
    (Expect((1, 2), "between"), 1.5, True), (Expect(60, "approx", 0.05), 57.5, True),
    (Expect(60, "approx", 0.01), 57.5, False), (Expect("RST", "contains"), ["SYN", "RST"], True),
    (Expect("FIN", "absent"), ["SYN", "RST"], True), (Expect("FIN", "absent"), ["FIN"], False),
    (Expect(4, "at_least"), "four", False),
])
def test_expect(expect, observed, ok):
    assert expect.check(observed) is ok


def test_verdict_and_flipped_expectation_message():
    outcome = Toy().run()
    assert outcome.passed and not outcome.failures()
    flipped = Toy().run({"sum": Expect(5)})
    assert not flipped.passed
    assert flipped.failures() == ["sum: expected 5, observed 4"]
    doc = flipped.to_json()
    assert doc["expected"]["sum"]["value"] == 5 and doc["observed"]["sum"] == 4
    assert doc["passed"] is False


def test_unobserved_value_fails_and_errors_are_reported():
    missing = Toy().run({"never": Expect(True)})
    assert missing.failures() == ["never: expected True, observed not observed"]
    broken = Broken().run()
    assert not broken.passed and broken.failures()[0].startswith("error: OSError")
    assert Check("k", Expect(["A", "B"], "in_order"), ["A"]).message() == (
        "k: expected A -> B, observed A")


def test_sequence_svg_has_an_arrow_per_segment_and_states_beside_lines():
    segs = [
        {"t": 0.0, "src": "client", "flags": "SYN", "seq": 0, "ack": None, "len": 0},
        {"t": 0.001, "src": "server", "flags": "SYN,ACK", "seq": 0, "ack": 1, "len": 0},
        {"t": 0.002, "src": "client", "flags": "ACK", "seq": 1, "ack": 1, "len": 0,
         "dropped": True},
    ]
    trans = [{"t": 0.0, "side": "client", "old": "CLOSE", "new": "SYN_SENT"},
             {"t": 0.0015, "side": "client", "old": "SYN_SENT", "new": "ESTABLISHED"}]
    svg = render_svg(segs, trans)
    assert svg.count('class="segment"') == 3
    assert "SYN,ACK seq=0 ack=1" in svg and "(dropped)" in svg
    assert svg.count('class="state"') == 2 and "ESTABLISHED" in svg
    assert segment_label({"flags": "SYN", "seq": 0, "ack": 5}) == "SYN seq=0"
