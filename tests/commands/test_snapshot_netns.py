"""`snapshot` by namespace handle, across every namespace, and as a socket listing:
what it shows of an unshare -n process (no name anywhere) holding a listener and a
leaked CLOSE_WAIT, compared with ss; and every bad input in one line, exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from sockets_util import listener, pair
from unshare_util import unshared_leaker

from harness.cli import main


def _json(capsys, args) -> dict:
    assert main(["snapshot", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, needle", [
    (["--netns", "pid:abc"], "bad pid in 'pid:abc'"),
    (["--netns", "pid:999999999"], "no process 999999999"),
    (["--netns", "/run/sl-none/ns"], "no namespace file '/run/sl-none/ns'"),
    (["--netns", "/etc/hostname"], "'/etc/hostname' is not a network namespace"),
    (["--all-netns", "--netns", "x"], "--all-netns and --netns exclude each other"),
    (["--all-netns", "--sockets"], "--sockets, --state and --pid list one namespace"),
    (["--pid", "999999999"], "no process 999999999"),
    (["--pid", "0"], "--pid"),
    (["--state", "WAITING"], "--state"),
])
def test_bad_input_is_one_line_exit_2(capsys, args, needle):
    assert main(["snapshot", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_all_netns_needs_root(capsys, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(["snapshot", "--all-netns"]) == 2
    assert capsys.readouterr().err == "socklife: error: needs root for --all-netns\n"


def _ss_states(prefix: list[str], state: str) -> list[tuple[str, str]]:
    out = subprocess.run([*prefix, "ss", "-Htan", "state", state], capture_output=True,
                         text=True, check=True).stdout
    return sorted((line.split()[2], line.split()[3]) for line in out.splitlines())


@pytest.mark.live
def test_a_listing_by_state_is_what_ss_lists(capsys):
    lst = listener()
    port = lst.getsockname()[1]
    client, server = pair(lst)
    client.close()  # server: CLOSE_WAIT
    try:
        listing = _json(capsys, ["--state", "close_wait", "--port", str(port)])
        rows = [(r["local"], r["remote"]) for r in listing["sockets"]]
        ss = [p for p in _ss_states([], "close-wait") if p[0].endswith(f":{port}")]
        assert rows == ss and len(rows) == 1
        row = listing["sockets"][0]
        assert (row["state"], row["pid"], row["fd"]) == ("CLOSE_WAIT", os.getpid(),
                                                         server.fileno())
        assert listing["states_asked"] == ["CLOSE_WAIT"] and listing["count"] == 1
    finally:
        server.close()
        lst.close()


@pytest.mark.live
def test_a_listing_of_a_process_tree_leaves_the_others_out(capsys):
    lst = listener()
    port = lst.getsockname()[1]
    child = subprocess.Popen(["python3", "-c", f"""
import socket, time
s = socket.create_connection(("127.0.0.1", {port}))
print("ok", flush=True)
time.sleep(60)"""], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ok"
        accepted, _ = lst.accept()
        theirs = _json(capsys, ["--pid", str(child.pid), "--port", str(port)])
        assert [(r["state"], r["pid"]) for r in theirs["sockets"]] == [
            ("ESTABLISHED", child.pid)]
        ours = _json(capsys, ["--pid", str(os.getpid()), "--port", str(port)])
        # this process and its children: the child's socket too
        assert sorted(r["pid"] for r in ours["sockets"]) == sorted(
            [os.getpid(), os.getpid(), child.pid])
        accepted.close()
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        lst.close()


@pytest.mark.live
def test_a_listing_is_never_cut_silently(capsys):
    lst = listener()
    port = lst.getsockname()[1]
    pairs = [pair(lst) for _ in range(3)]
    try:
        assert main(["snapshot", "--sockets", "--port", str(port), "--limit", "2"]) == 0
        text = capsys.readouterr().out
        assert text.splitlines()[0].endswith(": 7")  # a listener, three pairs
        assert text.rstrip().endswith("... and 5 more (use --json)")
    finally:
        for c, s in pairs:
            c.close()
            s.close()
        lst.close()


@pytest.mark.root
def test_an_unshared_namespace_by_path_and_by_pid(capsys):
    with unshared_leaker() as leaker:
        inode = os.stat(leaker.path).st_ino
        for handle in (leaker.path, f"pid:{leaker.pid}"):
            s = _json(capsys, ["--netns", handle])
            assert (s["netns"], s["netns_inode"]) == (handle, inode)
            assert [(r["local"], r["pid"]) for r in s["listeners"]] == [
                (f"127.0.0.1:{leaker.port}", leaker.pid)]
            assert [r["pid"] for r in s["close_wait"]] == [leaker.pid]
            ss = _ss_states(["nsenter", f"--net={leaker.path}"], "close-wait")
            assert [(r["local"], r["remote"]) for r in s["close_wait"]] == ss
        listing = _json(capsys, ["--pid", str(leaker.pid)])
        assert sorted(r["state"] for r in listing["sockets"]) == ["CLOSE_WAIT", "LISTEN"]
        assert listing["netns"] == f"pid:{leaker.pid}"


@pytest.mark.root
def test_every_namespace_with_its_processes(capsys):
    with unshared_leaker() as leaker:
        inode = os.stat(leaker.path).st_ino
        host = _json(capsys, ["--all-netns"])
        assert host["namespaces"][0]["netns"] is None  # this one first
        mine = [s for s in host["namespaces"] if s["netns_inode"] == inode]
        assert len(mine) == 1
        s = mine[0]
        assert s["netns"] == leaker.path and s["states"]["CLOSE_WAIT"] == 1
        assert [p["pid"] for p in s["processes"]] == [leaker.pid]
        assert s["close_wait"][0]["pid"] == leaker.pid
        assert main(["snapshot", "--all-netns"]) == 0
        text = capsys.readouterr().out
        block = text.split(f"TCP sockets in netns {leaker.path}: ")[1]
        assert re.match(rf"\d+\n  inode {inode}; processes: \S+/{leaker.pid}\n", block)
