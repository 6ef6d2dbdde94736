"""`socklife demo`: the load, the live view, the summary, complete files on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from load_util import finish

DEMO = [sys.executable, "-m", "harness", "demo"]


def run(*args, cwd):
    return subprocess.Popen([*DEMO, *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_demo_runs_load_and_sums_up(tmp_path):
    code, out = finish(run("--duration", "3", "--rate", "200", "--record", "demo.jsonl",
                           cwd=tmp_path))
    assert code == 0, out
    assert "TIME_WAIT" in out and "short connections in" in out and " 0 failures" in out
    lines = [json.loads(line) for line in (tmp_path / "demo.jsonl").read_text().splitlines()]
    summary = lines[-1]["summary"]
    assert summary["samples"] == len(lines) - 1 >= 3
    assert summary["time_wait_peak"] > 0  # the client closed first: TIME_WAIT on our side
    during = lines[1:-2]  # not the first (before the Users ran) nor the one after the stop
    assert all(line["locust"]["users"] == 10 and line["locust"]["rps"] > 0 for line in during)
    # it ends with its findings, then the figures: churn, honestly, and nothing worse
    found = summary["findings"]
    assert [(f["id"], f["severity"]) for f in found] == [("connection_churn", "info")], found
    assert found[0]["evidence"]["time_wait_side"] == "client"  # the client closes first
    text = out.splitlines()
    head = text.index("findings: 1 info")
    assert text[head + 1].startswith("INFO     connection_churn  127.0.0.1:")
    assert head < text.index(next(x for x in text if "short connections in" in x))


def test_demo_writes_the_html_report(tmp_path):
    code, out = finish(run("--duration", "2", "--rate", "100", "--report", "demo.html",
                           cwd=tmp_path))
    assert code == 0, out
    page = (tmp_path / "demo.html").read_text()
    assert page.startswith("<!") and "TIME_WAIT" in page
    assert not list(tmp_path.glob("*.jsonl"))  # the scratch record is gone


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_demo_signal_leaves_a_complete_record_and_exits_128_plus_it(tmp_path, sig):
    proc = run("--duration", "60", "--record", "demo.jsonl", cwd=tmp_path)
    record = tmp_path / "demo.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
            not record.exists() or len(record.read_text().splitlines()) < 2):
        time.sleep(0.2)
    proc.send_signal(sig)
    code, out = finish(proc, timeout=30)
    assert code == 128 + sig, out
    assert "(interrupted)" in out and "Traceback" not in out
    last = json.loads(record.read_text().splitlines()[-1])
    assert last["summary"]["samples"] >= 2


def test_demo_bad_duration_is_one_line(tmp_path):
    code, out = finish(run("--duration", "0", cwd=tmp_path))
    assert code == 2 and out.startswith("socklife: error:") and len(out.splitlines()) == 1
