"""Every lifecycle scenario holds on this kernel and its negative control fails.

The root tests share one `socklife scenario run --all --controls --json --report` (about
2.5 minutes): each scenario's verdict is then a test of its own, read from that run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from browser import HAVE_CHROMIUM, layout_problems, svg_text_boxes

from harness.cli import main
from harness.kernel.netns import list_netns
from harness.kernel.tracefs import TRACEFS
from harness.scenarios.base import Expect
from harness.scenarios.registry import all_scenarios, by_name

SCENARIOS = all_scenarios()
NAMES = [s.name for s in SCENARIOS]


def _ours_left(pid: int) -> list[str]:
    spaces = [n for n in list_netns() if n.startswith(f"sl-{pid}-")]
    base = os.path.join(TRACEFS, "instances")
    traces = [n for n in (os.listdir(base) if os.path.isdir(base) else ())
              if n.startswith(f"socklife-{pid}-")]
    return spaces + traces


def test_thirty_scenarios_each_with_a_control():
    assert [s.number for s in SCENARIOS] == list(range(1, 31))
    assert len(set(NAMES)) == 30
    for s in SCENARIOS:
        assert s.claim and s.title and s.expected and s.control, s.name
        assert s.control_catches and set(s.control_catches) <= set(s.expected), s.name


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    report = tmp_path_factory.mktemp("scenarios") / "all.html"
    out = subprocess.run(
        [sys.executable, "-m", "harness", "scenario", "run", "--all", "--controls", "--json",
         "--report", str(report)], capture_output=True, text=True, timeout=600)
    return out, json.loads(out.stdout or "{}"), report


@pytest.mark.root
def test_all_thirty_hold_and_every_control_fails(full_run):
    out, doc, report = full_run
    assert out.returncode == 0, out.stderr[-2000:]
    assert doc["interrupted"] is False and len(doc["scenarios"]) == 30
    assert report.exists() and report.read_text().count('class="sequence"') >= 60


@pytest.mark.root
@pytest.mark.parametrize("name", NAMES)
def test_claim_held_and_control_caught(full_run, name):
    _out, doc, _report = full_run
    (s,) = [s for s in doc["scenarios"] if s["name"] == name]
    failures = [c for c in s["checks"] if not c["passed"]]
    assert s["passed"], f"{s['error']} {failures}"
    ctl = s["control"]
    assert {"ran", "failed_as_expected", "checks"} <= set(ctl) and ctl["ran"] is True
    assert ctl["failed_as_expected"], f"control: {ctl['error']} failed on {ctl['checks']}"
    assert set(ctl["expected_to_fail"]) <= set(ctl["checks"]) and ctl["error"] is None


@pytest.mark.root
@pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs chromium (Debian package)")
def test_every_diagram_fits_in_chromium(full_run):
    _out, _doc, report = full_run
    boxes = svg_text_boxes(str(report))
    assert len({b[0] for b in boxes}) >= 60  # a claim and a control diagram each
    assert layout_problems(boxes) == []


@pytest.mark.root
def test_text_report_names_the_checks_that_caught_the_control(capsys):
    assert main(["scenario", "run", "linger-rst", "--control"]) == 0
    out = capsys.readouterr().out
    assert ("claim held; control failed as expected on: client_error, time_wait_anywhere, "
            "server_out_rsts, server_sent_rst, server_sent_fin") in out
    assert "1/1 scenarios passed, 1/1 controls failed as expected" in out


@pytest.mark.root
def test_a_control_that_passes_is_a_failure(capsys, monkeypatch):
    """A scenario whose checks cannot fail: its control passes, and the run says so."""
    (s,) = by_name(["linger-rst"])
    monkeypatch.setattr(type(s), "expected", {"server_out_rsts": Expect(0, "at_least")})
    monkeypatch.setattr(type(s), "control_catches", ())
    assert main(["scenario", "run", "linger-rst", "--control"]) == 1
    out = capsys.readouterr().out
    assert "CONTROL PASSED: these checks cannot tell the claim from its control" in out
    assert "control did not fail as it must: linger-rst" in out


@pytest.mark.root
def test_flipped_expectation_fails_naming_both_values():
    (scenario,) = by_name(["handshake"])
    outcome = scenario.run({"accepted_socket_state": Expect("SYN_RECV")})
    assert not outcome.passed
    assert outcome.failures() == [
        "accepted_socket_state: expected 'SYN_RECV', observed 'ESTABLISHED'"]


@pytest.mark.root
def test_sigterm_writes_what_finished_and_removes_the_lab(tmp_path):
    report = tmp_path / "partial.html"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "scenario", "run", "--all", "--controls", "--json",
         "--report", str(report)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.monotonic() + 120
    while "[3/30]" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    time.sleep(0.3)  # inside the third scenario's lab
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err  # 128 + SIGTERM
    doc = json.loads(out)
    assert doc["interrupted"] is True and doc["planned"] == NAMES
    assert [s["name"] for s in doc["scenarios"]][:2] == NAMES[:2]
    assert all(s["control"]["ran"] for s in doc["scenarios"][:2])
    page = report.read_text()
    assert "interrupted: " in page and page.count("<section") == len(doc["scenarios"])
    assert _ours_left(proc.pid) == []


def test_list_works_without_root(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["scenario", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 30 and lines[0].split()[:2] == ["1", "handshake"]
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
