"""Every lifecycle scenario runs and passes on this kernel (root), each as its own test."""

from __future__ import annotations

import json
import os

import pytest

from harness.cli import main
from harness.kernel.netns import list_netns
from harness.scenarios.base import Expect
from harness.scenarios.registry import all_scenarios, by_name

SCENARIOS = all_scenarios()


def test_twenty_scenarios_numbered_in_order():
    assert [s.number for s in SCENARIOS] == list(range(1, 21))
    assert len({s.name for s in SCENARIOS}) == 20
    for s in SCENARIOS:
        assert s.claim and s.title and s.expected, s.name


@pytest.mark.root
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_passes(scenario):
    outcome = scenario.run()
    assert outcome.passed, "\n".join(outcome.failures())
    assert not [n for n in list_netns() if n.startswith(f"sl-{os.getpid()}-")]


@pytest.mark.root
def test_flipped_expectation_fails_naming_both_values():
    (scenario,) = by_name(["time-wait-length"])
    outcome = scenario.run({"timer_kind": Expect(2)})
    assert not outcome.passed
    (message,) = outcome.failures()
    assert message == "timer_kind: expected 2, observed 3"


def test_list_works_without_root(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["scenario", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 20 and lines[0].split()[:2] == ["1", "handshake"]
    assert all(len(line) <= 80 for line in lines)


def test_run_without_root_names_the_scenarios_and_exits_2(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["scenario", "run", "handshake", "isn"]) == 2
    err = capsys.readouterr().err
    assert err == "socklife: error: needs root (lab namespaces, tracefs): handshake, isn\n"


@pytest.mark.parametrize("args", [["run"], ["run", "nope"], ["run", "--all", "isn"]])
def test_bad_run_arguments(args, capsys):
    assert main(["scenario", *args]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.root
def test_json_document(capsys):
    assert main(["scenario", "run", "reuse", "port-exhaustion", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in doc["scenarios"]] == ["reuse", "port-exhaustion"]
    for s in doc["scenarios"]:
        assert {"name", "claim", "passed", "evidence", "expected", "observed"} <= set(s)
        assert s["passed"] is True and set(s["expected"]) == set(s["observed"])
