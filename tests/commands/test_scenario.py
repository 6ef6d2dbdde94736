"""`socklife scenario run`: what it needs is checked before any lab is made (nftables
for the scenarios that drop segments, a writable --report)."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.commands.scenario import _drops_segments
from harness.kernel.netns import list_netns
from harness.scenarios.registry import by_name


def test_the_scenarios_that_drop_segments_are_the_ones_that_need_nftables():
    assert _drops_segments(by_name(["lost-final-ack"])[0])
    assert not _drops_segments(by_name(["handshake"])[0])


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
