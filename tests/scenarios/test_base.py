"""Scenario verdicts come only from observed values; overrides flip them with a message."""

from __future__ import annotations

from typing import ClassVar

import pytest

from harness.lab.nft import Rule, segment_matches
from harness.report.sequence import render_svg, segment_label
from harness.scenarios.base import Check, Expect, Run, Scenario
from harness.scenarios.stage import mark_drops, relative_numbers


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


class Controlled(Toy):
    control = "two plus three"
    control_catches = ("sum",)

    def execute(self, run: Run) -> None:
        super().execute(run)
        if run.control:
            run.observe("sum", 2 + 3)


class Blind(Controlled):
    """Its control changes nothing the checks look at."""

    def execute(self, run: Run) -> None:
        Toy.execute(self, run)


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


def test_control_that_fails_names_its_checks_and_one_that_passes_is_a_failure():
    held = Controlled().run_with_control()
    assert held.passed and held.ok
    assert held.control.failed_as_expected and held.control.checks == ["sum"]
    assert held.verdict() == "claim held; control failed as expected on: sum"
    doc = held.to_json()["control"]
    assert doc["ran"] is True and doc["failed_as_expected"] is True and doc["checks"] == ["sum"]
    blind = Blind().run_with_control()
    assert blind.passed and not blind.ok and not blind.control.failed_as_expected
    assert "CONTROL PASSED" in blind.verdict()
    assert Toy().run().to_json()["control"] == {"ran": False, "failed_as_expected": None,
                                                "checks": []}


def _seg(t, src, flags, seq, ack, sport=40000, dport=7000, length=0):
    """A stage segment between 10.0.0.1 (client) and 10.0.0.2 (server)."""
    addrs = {"client": "10.0.0.1", "server": "10.0.0.2"}
    if src == "server":
        sport, dport = dport, sport
    return {"t": t, "src": src, "flags": flags, "seq_abs": seq, "ack_abs": ack, "len": length,
            "sport": sport, "dport": dport, "src_addr": addrs[src],
            "dst_addr": addrs["server" if src == "client" else "client"]}


def test_relative_numbers_are_per_connection_and_restart_on_a_new_syn():
    segs = [_seg(0, "client", "SYN", 1000, 0), _seg(1, "server", "SYN,ACK", 5000, 1001),
            _seg(2, "client", "SYN", 3_000_000_000, 0, sport=40001),
            _seg(3, "server", "SYN,ACK", 9, 3_000_000_001, sport=40001),
            _seg(4, "client", "ACK", 1001, 5001),
            _seg(5, "client", "SYN", 2_000_000, 0),  # the first 4-tuple again: a new one
            _seg(6, "server", "ACK", 77, 2_000_001)]
    relative_numbers(segs)
    assert [(s["seq"], s["ack"]) for s in segs] == [
        (0, 0), (0, 1), (0, 0), (0, 1), (1, 1), (0, 0), (0, 1)]


def test_mark_drops_marks_the_first_matches_the_counter_says():
    class FakeNft:
        netns = "x"

        def counters(self):
            return {"r1": 1}

    rule = Rule(FakeNft(), "input", "r1", {"tcp_flags": "ack", "payload_len": 0,
                                           "dport": 7000})
    segs = [_seg(rule.added_at - 1, "client", "ACK", 1, 1),  # before the rule
            _seg(rule.added_at + 1, "client", "ACK", 5, 5, length=10),  # data: no match
            _seg(rule.added_at + 2, "client", "ACK", 6, 6),  # the one it dropped
            _seg(rule.added_at + 3, "client", "ACK", 7, 7)]  # passed: counter is 1
    assert mark_drops(segs, [(rule, {"10.0.0.2"})]) == []
    assert [bool(s.get("dropped")) for s in segs] == [False, False, True, False]
    assert segment_matches({"tcp_flags": "fin,ack"}, {"flags": "ACK,FIN"})
    assert not segment_matches({"tcp_flags": "ack"}, {"flags": "ACK,PSH"})


def test_sequence_svg_draws_losses_time_wait_and_connections():
    segs = [
        {"t": 0.0, "src": "client", "flags": "SYN", "seq": 0, "ack": 0, "len": 0,
         "sport": 40000, "dport": 7000},
        {"t": 0.001, "src": "server", "flags": "SYN,ACK", "seq": 0, "ack": 1, "len": 0,
         "sport": 7000, "dport": 40000},
        {"t": 0.002, "src": "client", "flags": "ACK", "seq": 1, "ack": 1, "len": 0,
         "dropped": True, "sport": 40000, "dport": 7000},
        {"t": 0.003, "src": "client", "flags": "SYN", "seq": 0, "ack": 0, "len": 0,
         "sport": 40001, "dport": 7000},
    ]
    trans = [{"t": 0.0, "side": "client", "old": "CLOSE", "new": "SYN_SENT"},
             {"t": 0.0015, "side": "client", "old": "SYN_SENT", "new": "ESTABLISHED"},
             {"t": 0.004, "side": "client", "old": "FIN_WAIT2", "new": "TIME_WAIT",
              "inferred": True, "timer_s": 59.9}]
    svg = render_svg(segs, trans)
    assert svg.count('class="segment"') == 3 and svg.count('class="segment lost"') == 1
    assert "[1] SYN,ACK seq=0 ack=1" in svg and "[1] ACK seq=1 ack=1 (lost)" in svg
    assert "[2] SYN seq=0" in svg and 'class="loss"' in svg
    assert "TIME_WAIT, 59.9 s timer" in svg and svg.count('class="time-wait"') == 1
    assert 'x="245"' in svg.split('class="time-wait"')[1][:20]  # on the client's line
    assert segment_label({"flags": "SYN", "seq": 0, "ack": 5}) == "SYN seq=0"
