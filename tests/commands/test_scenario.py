"""`socklife scenario run`: what it needs is checked before any lab is made (nftables
for the scenarios that drop segments, a writable --report)."""

from __future__ import annotations

import inspect
import sys

import pytest

from harness.cli import main
from harness.kernel.netns import list_netns
from harness.scenarios.registry import all_scenarios

FAULT_CALLS = (".lose(", ".nft.")  # Stage.lose, or a lab host's nftables table directly


def test_a_scenario_that_drops_segments_says_so():
    """The declaration the nftables check reads (Scenario.drops_segments) against the
    two ways a scenario's source reaches nft, so neither can drift from the other."""
    for s in all_scenarios():
        source = inspect.getsource(sys.modules[type(s).__module__])
        assert s.drops_segments == any(call in source for call in FAULT_CALLS), s.name
    needs = {s.name for s in all_scenarios() if s.drops_segments}
    assert {"lost-final-ack", "lost-handshake-ack", "syn-queue", "simultaneous-close",
            "simultaneous-open", "keepalive", "retransmission-timeout"} <= needs


@pytest.mark.root
def test_without_nftables_a_fault_scenario_is_exit_2_in_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nft (nor anything else) on the PATH
    before = list_netns()
    assert main(["scenario", "run", "lost-final-ack", "handshake"]) == 2
    err = capsys.readouterr().err
    assert err == ("socklife: error: needs nftables: apt-get install nftables "
                   "(to drop segments in lost-final-ack)\n")
    assert list_netns() == before  # refused before any lab host was made


@pytest.mark.root
@pytest.mark.parametrize("report, says", [("{tmp}", "it is a directory"),
                                          ("{tmp}/no/such.html", "no folder")])
def test_a_report_that_cannot_be_written_is_refused_before_the_run(capsys, tmp_path, report,
                                                                    says):
    before = list_netns()
    assert main(["scenario", "run", "handshake", "--report",
                 report.format(tmp=tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert list_netns() == before
