"""Each critical finding reproduced live from real sockets in private lab hosts, and the
clean cases giving none (root: namespaces, per-namespace sysctls, nftables).

`socklife record` samples each situation of tests/situations.py for a few seconds; the
findings its summary line carries must be the ones `check` computes from the file.
"""

from __future__ import annotations

import json

import pytest
import situations

from harness.cli import main
from harness.observe.findings import at_least
from harness.observe.runfile import load_run

pytestmark = pytest.mark.root


def record(tmp_path, truth, seconds: float, *extra: str) -> list[dict]:
    """Record ``truth.netns`` for ``seconds``; the findings, checked to be the same live
    (the summary line) and from the file."""
    path = tmp_path / "run.jsonl"
    assert main(["record", "-o", str(path), "--netns", truth.netns, "--interval", "0.5",
                 "--duration", str(seconds), *extra]) == 0
    live = json.loads(path.read_text().splitlines()[-1])["summary"]["findings"]
    again = load_run(str(path)).summary["findings"]
    assert [(f["id"], f["severity"], f["subject"]) for f in live] == \
           [(f["id"], f["severity"], f["subject"]) for f in again]
    return again


def critical(found) -> set[tuple[str, str]]:
    return {(f["id"], f["subject"]) for f in found if f["severity"] == "critical"}


def test_an_overflowing_listener(tmp_path):
    with situations.overflowing_listener() as t:
        found = record(tmp_path, t, 3)
    assert critical(found) == {("accept_queue_overflow", t.listener)}, found
    (f,) = [f for f in found if f["id"] == "accept_queue_overflow"]
    assert f["evidence"]["backlog"] == 5 and f["evidence"]["counters"]["ListenOverflows"] > 0
    assert f"{f['evidence']['process']}/{f['evidence']['pid']}" == t.process


def test_a_never_closing_server(tmp_path):
    # no CPU budget: on a loaded machine the owner lookup could wait 5 s, longer than
    # the run, and the finding would name the sockets' address instead of the process
    with situations.never_closing_server() as t:
        found = record(tmp_path, t, 3, "--leak-threshold", "1.5", "--cpu-budget", "100")
    assert critical(found) == {("close_wait_accumulation", t.process)}, found
    assert found[0]["evidence"]["sockets"] == 20 and found[0]["evidence"]["leaks"] == 20


def test_a_destination_in_a_200_port_range(tmp_path):
    with situations.small_port_range() as t:  # sampled once connect() failed
        found = record(tmp_path, t, 3, "--cpu-budget", "100")  # TIME_WAIT ports fresh
    assert critical(found) == {("ephemeral_exhaustion", t.destination)}, found


def test_server_first_close_into_a_small_time_wait_cap(tmp_path):
    with situations.server_closes_first() as t:
        found = record(tmp_path, t, 3)
    assert critical(found) == {("time_wait_bucket_overflow", t.listener)}, found
    assert ("server_time_wait", t.listener) in {(f["id"], f["subject"]) for f in found}


def test_a_syn_sent_pileup_from_an_nft_drop(tmp_path):
    with situations.syns_dropped() as t:
        found = record(tmp_path, t, 2.5)
    assert critical(found) == {("syn_sent_pileup", t.destination)}, found
    assert found[0]["evidence"]["syn_sent"] == 10


@pytest.mark.parametrize("situation", [situations.keep_alive_load, situations.idle_host])
def test_clean_cases_give_no_warning_or_critical(tmp_path, situation):
    with situation() as t:
        found = record(tmp_path, t, 3)
    assert at_least(found, "warning") == [], found


def test_doctor_on_a_live_overflow_and_on_an_idle_host(capsys):
    with situations.overflowing_listener() as t:
        assert main(["doctor", "--netns", t.netns, "--duration", "1.5", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["samples"] >= 2 and doc["netns"] == t.netns
    assert critical(doc["findings"]) == {("accept_queue_overflow", t.listener)}
    with situations.idle_host() as t:
        assert main(["doctor", "--netns", t.netns, "--duration", "1"]) == 0
    out = capsys.readouterr().out
    assert "CRITICAL" not in out and "WARNING" not in out
    assert f"INFO     port_range  netns {t.netns}" in out
    assert f"INFO     listen_backlog  {t.listener}" in out
