"""`socklife snapshot`: output shape and bad input (one line, exit 2, no traceback)."""

from __future__ import annotations

import json

import pytest
from sockets_util import listener, pair

from harness.cli import main
from harness.commands.snapshot import render_text


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
