"""Socket owners: on a recorded /proc tree (which processes are read, in what order, the
cache) and live against `ss -tanp` (pid, fd, command line, user) in a namespace."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from contextlib import ExitStack

import pytest
from sockets_util import listener, pair, wait_for

from harness.kernel import owners
from harness.kernel.netns import entered
from harness.kernel.owners import Owner, short_cmdline, socket_owners

HOME, LAB = "net:[4026531840]", "net:[4026532999]"


def _process(root, pid: int, ns: str, fds: dict[int, str], comm: str, args: list[str],
             uid: int = 0) -> None:
    """What socket_owners and psutil read of one process, as /proc lays it out."""
    d = root / str(pid)
    (d / "fd").mkdir(parents=True)
    (d / "ns").mkdir()
    os.symlink(ns, d / "ns" / "net")
    for fd, target in fds.items():
        os.symlink(target, d / "fd" / str(fd))
    (d / "comm").write_text(comm + "\n")
    (d / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in args))
    (d / "stat").write_text(f"{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 0 0 0 0 1 1 0 0 20 0 "
                            "1 0 12345 1000000 100 18446744073709551615" + " 0" * 20 + "\n")
    (d / "status").write_text(f"Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
                              f"Gid:\t0\t0\t0\t0\n")


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """pid 5 lives in another namespace than the lab's (LAB) and shares socket 100 with
    pid 9 (in LAB); 200 is held only by pid 5; 300 by pid 12 (LAB); pid 1 holds none."""
    root = tmp_path / "proc"
    (root / "thread-self" / "ns").mkdir(parents=True)
    os.symlink(LAB, root / "thread-self" / "ns" / "net")
    (root / "stat").write_text("cpu 1 2 3 4\nbtime 1700000000\n")
    _process(root, 1, HOME, {0: "/dev/null", 1: "pipe:[7]"}, "init", ["/sbin/init"])
    _process(root, 5, HOME, {3: "socket:[100]", 4: "socket:[200]", 7: "socket:[100]"},
             "relay", ["relay", "--to", "lab"])
    _process(root, 9, LAB, {2: "/dev/null", 5: "socket:[100]"}, "server",
             ["python3", "-m", "server", "--port", "80"], uid=54321)
    _process(root, 12, LAB, {4: "socket:[300]"}, "nginx", ["nginx:", "worker", "process"])
    monkeypatch.setenv("SOCKLIFE_PROCFS", str(root))
    reads = []  # the pids whose fds were listed, in order
    real = owners._Proc.read_fds

    def spy(self, pid, wanted, found):
        reads.append(pid)
        return real(self, pid, wanted, found)

    monkeypatch.setattr(owners._Proc, "read_fds", spy)
    return root, reads


def test_without_a_namespace_every_process_is_read_in_pid_order(recorded):
    _root, reads = recorded
    got = socket_owners([100, 300])
    assert (got[100].pid, got[100].fd) == (5, 3)  # lowest pid, then lowest fd
    assert (got[300].pid, got[300].fd) == (12, 4)
    assert reads == [1, 5, 9, 12]
    assert socket_owners([]) == {} and reads == [1, 5, 9, 12]


def test_the_namespace_s_processes_are_read_first_and_the_walk_stops_when_all_found(recorded):
    _root, reads = recorded
    got = socket_owners([100, 300], netns=None)  # the thread's namespace: LAB here
    assert (got[100].pid, got[100].fd) == (9, 5)  # the lowest pid *of the namespace*
    assert got[300].pid == 12
    assert reads == [9, 12]  # pids 1 and 5 live elsewhere: their fds are never listed
    reads.clear()
    assert socket_owners([100], netns=None)[100].pid == 9 and reads == [9]


def test_a_socket_held_only_outside_its_namespace_is_still_found(recorded):
    """The exception: found by reading the other processes after the namespace's."""
    _root, reads = recorded
    got = socket_owners([200, 300], netns=None)
    assert (got[200].pid, got[200].fd) == (5, 4) and got[300].pid == 12
    assert reads == [9, 12, 1, 5]
    reads.clear()
    assert socket_owners([999], netns=None) == {}  # no holder: every process was read
    assert sorted(reads) == [1, 5, 9, 12]


def test_details_come_only_for_the_owners_found(recorded, monkeypatch):
    _root, _reads = recorded
    asked = []
    real = owners._one_process
    monkeypatch.setattr(owners, "_one_process",
                        lambda psutil, root, pid: asked.append(pid) or real(psutil, root, pid))
    got = socket_owners([100, 300], netns=None)
    assert sorted(asked) == [9, 12]
    assert got[100] == Owner(9, 5, "server", "python3 -m server --port 80", "54321")
    assert got[300] == Owner(12, 4, "nginx", "nginx: worker process", "root")
    import psutil

    assert psutil.PROCFS_PATH == "/proc"  # put back after reading the recorded tree


def test_a_cache_answers_with_one_readlink_per_owner_until_the_fd_is_closed(recorded):
    root, reads = recorded
    cache: dict[int, Owner] = {}
    first = socket_owners([100, 300], netns=None, cache=cache)
    assert cache == first and reads == [9, 12]
    reads.clear()
    assert socket_owners([100, 300], netns=None, cache=cache) == first
    assert reads == []  # both still held where they were: no process was listed
    os.unlink(root / "9" / "fd" / "5")  # pid 9 closed it: pid 5 still holds 100
    again = socket_owners([100, 300], netns=None, cache=cache)
    assert (again[100].pid, again[100].fd) == (5, 3) and again[300] == first[300]
    assert reads == [9, 12, 1, 5] and cache[100] == again[100]


def test_short_cmdline_is_bounded_and_printable():
    line = short_cmdline(["java", *(["-Dx=" + "y" * 50] * 100)])
    assert len(line) == owners.CMDLINE_MAX and line.endswith("…")
    assert short_cmdline([]) == ""
    assert short_cmdline(["a\tb", "c\x1bd"]) == "a?b c?d"


def _ss_holders(ns: str) -> dict[int, set[tuple[int, int]]]:
    """``{inode: {(pid, fd), ...}}`` from `ss -tanpe` in ``ns``."""
    out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Htanpe"], check=True,
                         capture_output=True, text=True).stdout
    holders = {}
    for line in out.splitlines():
        inode = re.search(r"\bino:(\d+)", line)
        if inode and int(inode.group(1)):
            holders[int(inode.group(1))] = {
                (int(p), int(f)) for p, f in re.findall(r"pid=(\d+),fd=(\d+)", line)}
    return holders


@pytest.mark.root
@pytest.mark.live
def test_owners_agree_with_ss_for_a_process_in_the_namespace_and_one_outside(netns):
    """``cat`` is started inside the namespace holding a listener and a CLOSE_WAIT
    socket; this test process (outside it, having made its sockets through entered())
    holds another listener: both are found, as `ss -p` sees them."""
    with netns() as ns, ExitStack() as keep:
        with entered(ns):
            lst = listener()
            client, accepted = pair(lst)
            client.close()  # accepted: CLOSE_WAIT
            holder = subprocess.Popen(["cat"], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL,
                                      pass_fds=(lst.fileno(), accepted.fileno()))
            mine = keep.enter_context(listener("::1", family=socket.AF_INET6))
        keep.callback(holder.wait)
        keep.callback(holder.stdin.close)  # cat ends at EOF
        held = {os.fstat(s.fileno()).st_ino for s in (lst, accepted)}
        lst.close()
        accepted.close()
        inode = os.fstat(mine.fileno()).st_ino
        ss = wait_for(lambda: (h := _ss_holders(ns)) and held | {inode} <= h.keys() and h)
        assert ss
        for where in (ns, owners.ANY_NETNS):
            got = socket_owners([*held, inode], netns=where)
            assert set(got) == held | {inode}
            for i, owner in got.items():
                assert (owner.pid, owner.fd) in ss[i]
            assert {got[i].pid for i in held} == {holder.pid}
            assert {o.process for i, o in got.items() if i in held} == {"cat"}
            assert got[next(iter(held))].cmdline == "cat"
            assert got[next(iter(held))].user == "root"
            assert (got[inode].pid, got[inode].fd) == (os.getpid(), mine.fileno())
