"""`socklife record`: JSONL flushed per line, summary last, clean end on SIGTERM."""

import itertools
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from sockets_util import listener, pair, wait_for

from harness.cli import main


def lines_of(path):
    with open(path) as f:
        text = f.read()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_duration_writes_samples_then_summary(tmp_path, capsys):
    lst = listener()
    port = lst.getsockname()[1]
    c, s = pair(lst)
    out = tmp_path / "run.jsonl"
    try:
        rc = main(["record", "-o", str(out), "--port", str(port), "--interval", "0.05",
                   "--duration", "1"])
    finally:
        c.close(), s.close(), lst.close()
    assert rc == 0
    *samples, last = lines_of(out)
    # t = 0, 0.05, ... 0.95 at most; a loaded machine skips late samples, never bursts
    assert 2 <= len(samples) <= 20
    assert last["summary"]["samples"] == len(samples)
    assert last["summary"]["peaks"]["ESTABLISHED"] == 2
    for key in ("interval_s", "ports", "rates", "leaks", "listeners", "close_wait",
                "time_wait", "ephemeral", "counters", "sysctls", "states"):
        assert key in samples[-1]
    assert samples[0]["rates"] == {} and samples[1]["rates"]
    assert samples[-1]["ports"] == [port]
    assert samples[-1]["listeners"][0]["pid"] == os.getpid()
    assert f"wrote {len(samples) + 1} lines to {out}" in capsys.readouterr().err


def test_unwritable_file_is_one_line_and_exit_2(tmp_path, capsys):
    rc = main(["record", "-o", str(tmp_path / "no" / "such" / "dir.jsonl"), "--duration", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("socklife: error: cannot write")


def test_interval_out_of_range_is_exit_2(tmp_path, capsys):
    assert main(["record", "-o", str(tmp_path / "x.jsonl"), "--interval", "0.01"]) == 2
    assert "--interval" in capsys.readouterr().err


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_leaves_valid_jsonl_with_a_summary_and_exits_128_plus_it(tmp_path, sig,
                                                                          status):
    lst = listener()
    port = lst.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    server, _ = lst.accept()
    client.close()  # a CLOSE_WAIT for the recording to follow
    out = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "record", "-o", str(out),
                             "--port", str(port), "--interval", "0.05"],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: out.exists() and out.read_text().count("\n") >= 5, 20)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.close(), lst.close()
    assert proc.returncode == status, err
    *samples, last = lines_of(out)
    assert len(samples) >= 5 and last["summary"]["samples"] == len(samples)
    ages = [s["close_wait"][0]["age_s"] for s in samples]
    assert ages[0] is None and all(a < b for a, b in itertools.pairwise(ages[1:]))
    assert last["summary"]["peaks"]["CLOSE_WAIT"] == 1
    assert "Traceback" not in err
