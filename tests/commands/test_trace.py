"""`socklife trace`: output, --json, --netns addresses, root check, SIGTERM cleanup."""

import contextlib
import json
import os
import signal
import subprocess
import sys

import pytest
from paths import FIXTURES
from sockets_util import wait_for

from harness.cli import main
from harness.commands.trace import HEADER, format_line, netns_addresses
from harness.kernel.tracefs import TRACEFS
from harness.lab import Lab
from harness.sockets import Server, run_connect

FIX = FIXTURES / "trace"


def test_netns_addresses_skip_loopback_unless_alone():
    text = (FIX / "ip_addr_client.json").read_text()
    assert netns_addresses(text) == (["198.18.90.1", "fd53:6c:5a::1"], False)
    only_lo = json.dumps([json.loads(text)[0]])
    assert netns_addresses(only_lo) == (["127.0.0.1", "::1"], True)


def test_line_fits_80_columns():
    tr = {"time": 1012.5, "pid": 1234567, "comm": "python3.11", "local": "198.18.255.1:65535",
          "remote": "198.18.255.2:7000", "old": "CLOSE_WAIT", "new": "LAST_ACK", "ms": 59999.9}
    line = format_line(tr, 1000.0)
    assert len(line) <= 80 and len(HEADER) <= 80
    assert line.split()[4:] == ["CLOSE_WAIT>LAST_ACK", "60000"]
    tw = dict(tr, old="FIN_WAIT2", new="CLOSE", inferred="TIME_WAIT", ms=0.0042)
    assert format_line(tw, 1000.0).split()[4:] == ["FIN_WAIT2>TIME_WAIT", "0.004"]


def test_not_root_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["trace", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs root" in err


def _instances(pid: int) -> list[str]:
    return [n for n in os.listdir(os.path.join(TRACEFS, "instances"))
            if n.startswith(f"socklife-{pid}-")]


def _tracing(pid: int) -> bool:
    """The tracer of ``pid`` has its state-change event enabled (a busy machine may take
    more than a second to get there: a fixed sleep missed the connection)."""
    for name in _instances(pid):
        enable = os.path.join(TRACEFS, "instances", name, "events", "sock",
                              "inet_sock_set_state", "enable")
        with contextlib.suppress(OSError), open(enable) as f:
            return f.read().strip() == "1"
    return False


@pytest.mark.root
def test_json_lines_for_one_connection_in_a_namespace():
    with Lab() as lab:
        cmd = [sys.executable, "-m", "harness", "trace", "--netns", lab.client.netns,
               "--port", "7000", "--duration", "3", "--json"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert wait_for(lambda: _tracing(proc.pid), 20), "the tracer never started"
        with Server("echo", host=lab.server.addr, port=7000, netns=lab.server.netns):
            run_connect(lab.server.addr, 7000, count=1, size=5, netns=lab.client.netns)
        out, err = proc.communicate(timeout=10)
        client = lab.client.addr
    assert proc.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    mine = [(r["old"], r["new"], r.get("inferred")) for r in rows
            if r["local"].startswith(client + ":")]
    assert mine == [("CLOSE", "SYN_SENT", None), ("SYN_SENT", "ESTABLISHED", None),
                    ("ESTABLISHED", "FIN_WAIT1", None), ("FIN_WAIT1", "FIN_WAIT2", None),
                    ("FIN_WAIT2", "CLOSE", "TIME_WAIT")]
    assert all({"time", "local", "remote", "old", "new", "ms"} <= set(r) for r in rows)
    assert err == f"socklife: {len(rows)} transitions, 0 events lost\n"
    assert _instances(proc.pid) == []


@pytest.mark.root
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_cleanly_removes_the_instance_and_exits_128_plus_it(sig):
    proc = subprocess.Popen([sys.executable, "-m", "harness", "trace", "--port", "7999"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().split()[:2] == ["TIME", "PID/COMM"]
        assert len(_instances(proc.pid)) == 1
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err
    assert err == "socklife: 0 transitions, 0 events lost\n"
    assert out == "" or out.endswith("\n")  # the header was read above
    assert _instances(proc.pid) == []


@pytest.mark.root
@pytest.mark.parametrize("argv", [["trace", "--duration", "0.1"], ["lab", "list"],
                                  ["scenario", "run", "handshake"]])
def test_commands_remove_stale_instances_of_dead_processes_at_start(argv, capsys):
    proc = subprocess.Popen(["true"])
    proc.wait()
    stale = os.path.join(TRACEFS, "instances", f"socklife-{proc.pid}-7")
    os.mkdir(stale)
    try:
        assert main(argv) == 0
        assert not os.path.exists(stale)
    finally:
        if os.path.exists(stale):
            os.rmdir(stale)
