"""Cgroup ids from a live dump against `ss --cgroup`, and the kernel's cgroup filter,
on sockets a child makes in a throw-away cgroup v2 (tests/cgroup_util.py) inside a
throw-away namespace."""

from __future__ import annotations

import os
import re
import socket
import subprocess

import pytest
from cgroup_util import cgroup2_mount, sockets_in_cgroup, temp_cgroup

from harness.kernel import sockdiag
from harness.kernel.netns import entered

pytestmark = [pytest.mark.root, pytest.mark.live]
PORT = 7070


@pytest.fixture
def child_sockets(netns):
    """(namespace, the child's cgroup id): the child's sockets on PORT (a listener, a
    pair, a TIME_WAIT) and a listener of ours on PORT + 1 in our own cgroup."""
    if cgroup2_mount() is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    with netns() as ns, temp_cgroup() as cgroup, sockets_in_cgroup(ns, cgroup, PORT):
        with entered(ns):
            ours = socket.create_server(("127.0.0.1", PORT + 1))
        try:
            yield ns, os.stat(cgroup).st_ino
        finally:
            ours.close()


def ss_cgroup_ids(ns: str) -> dict[tuple[str, str], int | None]:
    """{(local, peer): cgroup id} from `ss -tanH --cgroup` (paths turned into ids by
    the inode of their directory; None where ss printed no cgroup)."""
    out = subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "ss", "-tanH", "--cgroup"],
                         capture_output=True, text=True, check=True).stdout
    mount, ids = cgroup2_mount(), {}
    for line in out.splitlines():
        fields = line.split()
        found = re.search(r"cgroup:(\S+)", line)
        ids[(fields[3], fields[4])] = (os.stat(mount + found.group(1)).st_ino if found
                                       else None)
    return ids


def test_cgroup_ids_are_the_ones_ss_prints(child_sockets):
    ns, child_id = child_sockets
    records = sockdiag.dump(ns, cgroup=True)
    printed = ss_cgroup_ids(ns)
    got = {(r.local, "0.0.0.0:*" if r.state == "LISTEN" else r.remote): r.cgroup_id
           for r in records}
    assert got == printed
    assert sorted(r.state for r in records if r.cgroup_id == child_id) == [
        "ESTABLISHED", "ESTABLISHED", "LISTEN"]
    assert [r.cgroup_id for r in records if r.state == "TIME_WAIT"] == [None]


def test_the_kernel_filters_by_cgroup_and_port(child_sockets):
    ns, child_id = child_sockets
    everyone = sockdiag.dump(ns, cgroup=True)
    mine = sockdiag.dump(ns, cgroup=True, cgroup_ids=[child_id])
    assert sorted(mine) == sorted(r for r in everyone if r.cgroup_id == child_id)
    listening = sockdiag.dump(ns, states=["LISTEN"], ports=[PORT], cgroup_ids=[child_id])
    assert [(r.state, r.sport) for r in listening] == [("LISTEN", PORT)]
    assert [r.sport for r in sockdiag.dump(ns, ports=[PORT + 1], cgroup_ids=[own_cgroup_id()])
            ] == [PORT + 1]
    assert sockdiag.dump(ns, ports=[PORT + 1], cgroup_ids=[child_id]) == []


def own_cgroup_id() -> int:
    """This process's cgroup v2 id (the line ``0::<path>`` of /proc/self/cgroup)."""
    with open("/proc/self/cgroup") as f:
        path = next(line.strip()[3:] for line in f if line.startswith("0::"))
    return os.stat(cgroup2_mount() + path.rstrip("/")).st_ino
