"""`socklife snapshot`: output shape and bad input (one line, exit 2, no traceback)."""

from __future__ import annotations

import json

import pytest
from sockets_util import listener, pair

from harness.cli import main
from harness.commands.snapshot import CMDLINE_WIDTH, render_text


@pytest.mark.parametrize("args, needle", [
    (["--port", "0"], "--port"),
    (["--port", "70000"], "--port"),
    (["--port", "abc"], "--port"),
    (["--netns", "sl-does-not-exist"], "no network namespace 'sl-does-not-exist'"),
    (["--bogus"], "No such option"),
])
def test_bad_input_is_one_line_exit_2(capsys, args, needle):
    assert main(["snapshot", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_netns_needs_root(capsys, monkeypatch):
    monkeypatch.setattr("harness.kernel.netns.netns_path", lambda name: "/run/netns/" + name)
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(["snapshot", "--netns", "x"]) == 2
    assert capsys.readouterr().err == "socklife: error: needs root for --netns\n"


@pytest.mark.live
def test_json_has_every_key_of_the_design(capsys):
    lst = listener()
    client, server = pair(lst)
    try:
        port = lst.getsockname()[1]
        assert main(["snapshot", "--json", "--port", str(port)]) == 0
        snap = json.loads(capsys.readouterr().out)
    finally:
        for s in (client, server, lst):
            s.close()
    assert {"time", "netns", "states", "listeners", "close_wait", "time_wait", "ephemeral",
            "counters", "sysctls"} <= set(snap)
    assert snap["states"]["ESTABLISHED"] == 2 and snap["states"]["LISTEN"] == 1
    (row,) = snap["listeners"]
    assert row["local"] == f"127.0.0.1:{port}" and row["process"]
    (dest,) = snap["ephemeral"]["by_destination"]
    assert dest["remote"] == f"127.0.0.1:{port}" and dest["in_use"] == 1
    assert snap["ephemeral"]["in_use"] == 1
    assert "ListenOverflows" in snap["counters"] and "tcp_tw_reuse" in snap["sysctls"]
    text = render_text(snap)
    assert f"127.0.0.1:{port}" in text and max(map(len, text.splitlines())) <= 80


def test_text_fits_80_columns_at_the_widest_values():
    """Every row at its widest: long counters (a busy host's TW 2542794 made the counter
    line 81 columns once), 15-character process names, 7-digit pids, 5-digit fds, IPv6
    endpoints, a long netns name and an interrupted dump."""
    v6 = "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
    states = {name: 1234567 for name in ("ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
                                         "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT",
                                         "LAST_ACK", "LISTEN", "CLOSING")}
    snap = {
        "netns": "sl-" + "n" * 60, "consistent": False, "states": states,
        "listeners": [{"local": v6, "accept_queue": 4096, "backlog": 4095, "syn_recv": 4096,
                       "process": "abcdefghijklmno", "pid": 4194304}],
        "close_wait": [{"local": v6, "remote": v6, "pid": 4194304, "fd": 65535,
                        "process": "abcdefghijklmno"}],
        "time_wait": {"count": 1234567, "expires_s": {"min": 0.1, "p50": 30.5, "max": 60.0}},
        "ephemeral": {"range": [1024, 65535], "usable": 64512, "in_use": 64512,
                      "by_destination": [{"remote": v6, "in_use": 64512, "fraction": 1.0,
                                          "exhausted_in_s": 99999.0}]},
        "counters": {"ListenOverflows": 2**63, "TW": 2**63, "TWRecycled": 2**63,
                     "EstabResets": 2**63},
    }
    lines = render_text(snap).splitlines()
    assert max(map(len, lines)) <= 80, [line for line in lines if len(line) > 80]
    text = "\n".join(lines)
    for needle in ("CLOSING 1234567", f"EstabResets {2**63}", "abcdefghijklm", "4194304",
                   "65535", "approximate", "exhausts in ~99999s"):
        assert needle in text, needle


def test_a_wide_terminal_also_shows_the_command_lines():
    """At CMDLINE_WIDTH columns the listener and CLOSE_WAIT tables add COMMAND; narrower
    (or into a file, 80 columns) they do not, and a long command line folds, never cut."""
    long_cmd = "java -Xmx4g -cp " + "lib/x.jar:" * 20 + " Main"
    snap = {
        "netns": None, "states": {"LISTEN": 1, "CLOSE_WAIT": 1},
        "listeners": [{"local": "127.0.0.1:8080", "accept_queue": 0, "backlog": 128,
                       "syn_recv": 0, "process": "java", "pid": 4242, "cmdline": long_cmd,
                       "user": "app"}],
        "close_wait": [{"local": "127.0.0.1:8080", "remote": "127.0.0.1:50000", "pid": None,
                        "fd": None, "process": None}],
        "time_wait": {"count": 0, "expires_s": {"min": None, "p50": None, "max": None}},
        "ephemeral": {"range": [32768, 60999], "usable": 28232, "in_use": 0,
                      "by_destination": []},
        "counters": {},
    }
    wide = render_text(snap, CMDLINE_WIDTH)
    assert "COMMAND" in wide and max(map(len, wide.splitlines())) <= CMDLINE_WIDTH
    assert "".join(wide.split()).count("".join(long_cmd.split())) == 1  # folded, whole
    narrow = render_text(snap, CMDLINE_WIDTH - 1)
    assert "COMMAND" not in narrow and "lib/x.jar" not in narrow and "java/4242" in narrow
