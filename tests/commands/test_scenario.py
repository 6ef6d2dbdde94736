"""`socklife scenario run`: what it needs is checked before any lab is made (nftables
for the scenarios that drop segments, a writable --report)."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.commands.scenario import _drops_segments
from harness.kernel.netns import list_netns
from harness.scenarios.registry import all_scenarios


def test_the_scenarios_that_drop_segments_are_the_ones_that_need_nftables():
    """A tripwire: when a scenario reaches nft another way, this list stops matching."""
    needs = {s.name for s in all_scenarios() if _drops_segments(s)}
    assert {"lost-final-ack", "lost-handshake-ack", "syn-queue", "simultaneous-close",
            "simultaneous-open", "keepalive", "retransmission-timeout"} <= needs
    assert not needs & {"handshake", "close-client-first", "time-wait-length", "reuse"}


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
