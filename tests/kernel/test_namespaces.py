"""Finding every namespace: on a recorded /proc tree (grouping by inode, kernel threads
left out, the cache pruned) and live (an unshare -n process with no name anywhere)."""

from __future__ import annotations

import os

import pytest
from unshare_util import unshared_leaker

from harness.kernel import namespaces as nsmod

DOCKER_ID = "0123456789ab" * 5 + "cdef"


def _proc(tmp_path, pid: int, inode: int, comm: str, flags: int = 0, cgroup: str = "/"):
    d = tmp_path / str(pid)
    (d / "ns").mkdir(parents=True)
    os.symlink(f"net:[{inode}]", d / "ns" / "net")  # readlink is all that is read
    (d / "stat").write_text(f"{pid} ({comm}) S 1 {pid} {pid} 0 -1 {flags} 0 0\n")
    (d / "cgroup").write_text(f"4:memory:/x\n0::{cgroup}\n")


@pytest.fixture
def fake_proc(tmp_path, monkeypatch):
    root = tmp_path / "proc"
    root.mkdir()
    for link in ("self", "thread-self"):
        os.symlink(f"/proc/{link}", root / link)
    monkeypatch.setenv("SOCKLIFE_PROCFS", str(root))
    return root


def test_processes_are_grouped_by_namespace_inode(fake_proc, tmp_path):
    own = os.stat("/proc/thread-self/ns/net").st_ino
    _proc(fake_proc, 10, own, "sshd", cgroup="/system.slice/ssh.service")
    _proc(fake_proc, 11, own, "kworker/0:1", flags=nsmod.PF_KTHREAD)
    _proc(fake_proc, 20, 77, "nginx", cgroup=f"/system.slice/docker-{DOCKER_ID}.scope")
    _proc(fake_proc, 21, 77, "nginx (worker)")
    _proc(fake_proc, 30, 88, "python3")
    cache: dict = {}
    found = nsmod.discover(cache, dirs=(str(tmp_path / "none"),))
    assert [(f.inode, f.handle, [p.pid for p in f.processes]) for f in found] == [
        (own, None, [10]),  # the caller's own first; the kernel thread left out
        (77, f"{fake_proc}/20/ns/net", [20, 21]),
        (88, f"{fake_proc}/30/ns/net", [30]),
    ]
    assert nsmod.attribution(found[1].processes[0].cgroup) == {"container": DOCKER_ID}
    assert found[1].processes[1].name == "nginx (worker)"
    assert set(cache) == {10, 11, 20, 21, 30}
    (fake_proc / "30" / "stat").write_text("30 (renamed) S 1 30 30 0 -1 0 0 0\n")
    os.unlink(fake_proc / "21" / "ns" / "net")  # exited: its links are gone
    again = nsmod.discover(cache, dirs=(str(tmp_path / "none"),))
    assert [p.name for p in again[-1].processes] == ["python3"]  # read once, kept
    assert [p.pid for p in again[1].processes] == [20]


def test_a_stale_file_in_the_folders_is_not_a_namespace(fake_proc, tmp_path):
    folder = tmp_path / "netns"
    folder.mkdir()
    (folder / "stale").write_text("")  # a runtime died before mounting it
    found = nsmod.discover({}, dirs=(str(folder),))
    assert all(f.name != "stale" for f in found) and len(found) == 1


@pytest.mark.root
def test_an_unshared_namespace_is_found_with_its_process(netns):
    with unshared_leaker() as leaker, netns() as named:
        found = {f.inode: f for f in nsmod.discover()}
        mine = found[os.stat(leaker.path).st_ino]
        assert mine.name is None and mine.handle == leaker.path
        with open(f"/proc/{leaker.pid}/comm") as f:
            comm = f.read().strip()
        assert [(p.pid, p.name) for p in mine.processes] == [(leaker.pid, comm)]
        by_name = {f.name: f for f in found.values() if f.name}
        assert by_name[named].handle == named and by_name[named].processes == []
        assert by_name[named].inode == os.stat(f"/run/netns/{named}").st_ino
