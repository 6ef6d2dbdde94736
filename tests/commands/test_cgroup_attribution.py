"""cgroup attribution end to end (root): a process moved into a cgroup of its own before
it opens a listener and leaks a CLOSE_WAIT has its rows' ``cgroup`` reported, and
``--cgroup`` selects its sockets alone, as ``ss --cgroup`` shows them."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import pytest
from cgroup_util import cgroup2_mount, temp_cgroup

from harness.cli import main
from harness.kernel.netns import entered

pytestmark = [pytest.mark.root, pytest.mark.live]
PORT = 7071

LEAKER = f"""
import socket, sys
lst = socket.create_server(("127.0.0.1", {PORT}))
client = socket.create_connection(("127.0.0.1", {PORT}))
leaked, _ = lst.accept()
client.close()  # `leaked` stays in CLOSE_WAIT
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def leaker_in_cgroup(netns):
    """(namespace, cgroup path as ss prints it) of the leaker; a listener of ours on
    PORT + 1 in the same namespace and our own cgroup."""
    if cgroup2_mount() is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    with netns() as ns, temp_cgroup() as cgroup:
        def join() -> None:  # between fork and exec: before any socket is made
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write("0")

        child = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", LEAKER],
                                 preexec_fn=join, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        with entered(ns):
            ours = socket.create_server(("127.0.0.1", PORT + 1))
        try:
            assert child.stdout.readline().strip() == "ready"
            yield ns, "/" + os.path.relpath(cgroup, cgroup2_mount())
        finally:
            ours.close()
            child.stdin.close()
            child.kill()
            child.wait()
            child.stdout.close()


def _json(capsys, args):
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_rows_name_the_cgroup_and_the_filter_selects_it_alone(leaker_in_cgroup, capsys):
    ns, path = leaker_in_cgroup
    s = _json(capsys, ["snapshot", "--netns", ns, "--json"])
    rows = {r["local"]: r for r in s["listeners"]}
    assert rows[f"127.0.0.1:{PORT}"]["cgroup"] == path
    assert rows[f"127.0.0.1:{PORT + 1}"]["cgroup"] != path
    assert [r["cgroup"] for r in s["close_wait"]] == [path]

    listing = _json(capsys, ["snapshot", "--netns", ns, "--sockets", "--cgroup", path,
                             "--json"])
    ss = subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "ss", "-tanH", "--cgroup"],
                        capture_output=True, text=True, check=True).stdout
    theirs = sorted((line.split()[0], line.split()[3]) for line in ss.splitlines()
                    if re.search(rf"cgroup:{re.escape(path)}(\s|$)", line))
    mine = sorted((r["state"].replace("_", "-"), r["local"]) for r in listing["sockets"])
    assert mine == [(st, local) for st, local in theirs]  # ss: LISTEN, CLOSE-WAIT
    assert {r["state"] for r in listing["sockets"]} == {"LISTEN", "CLOSE_WAIT"}
    assert all(r["cgroup"] == path for r in listing["sockets"])

    only = _json(capsys, ["snapshot", "--netns", ns, "--cgroup", path, "--json"])
    assert [r["local"] for r in only["listeners"]] == [f"127.0.0.1:{PORT}"]
    assert only["states"]["CLOSE_WAIT"] == 1 and only["states"]["TIME_WAIT"] == 0
