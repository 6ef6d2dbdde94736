"""cgroup v2 ids and paths: the id is the inode of the cgroup's directory; a cache that
walks the tree again only for an id it does not know, at most once per rescan_s; and
what --cgroup says about a path that names no cgroup."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.cli import main
from harness.kernel.cgroups import CgroupPaths, cgroup2_mount
from harness.kernel.errors import KernelError
from harness.kernel.inet_diag import SocketRecord
from harness.observe.sampler import Sampler


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def tree(tmp_path):
    for rel in ("system.slice/nginx.service", "docker/abc", "user.slice"):
        (tmp_path / rel).mkdir(parents=True)
    return tmp_path


def test_ids_are_directory_inodes_and_paths_come_back(tree):
    clock = Clock()
    paths = CgroupPaths(str(tree), rescan_s=5, clock=clock)
    nginx = os.stat(tree / "system.slice/nginx.service").st_ino
    assert paths.id_of("/system.slice/nginx.service") == nginx
    assert paths.path(os.stat(tree).st_ino) == "/"  # the root: one walk of the tree
    assert paths.path(nginx) == "/system.slice/nginx.service" and paths.scans == 1
    assert paths.path(os.stat(tree / "docker/abc").st_ino) == "/docker/abc"
    assert paths.scans == 1  # known ids cost no walk


def test_an_unknown_id_walks_again_at_most_once_per_rescan(tree):
    clock = Clock()
    paths = CgroupPaths(str(tree), rescan_s=5, clock=clock)
    assert paths.path(1) is None and paths.scans == 1
    (tree / "new").mkdir()
    new = os.stat(tree / "new").st_ino
    clock.now = 1
    assert paths.path(new) is None and paths.scans == 1  # too soon: not walked again
    clock.now = 6
    assert paths.path(new) == "/new" and paths.scans == 2
    assert paths.path(None) is None and paths.scans == 2  # a minisocket: no cgroup


@pytest.mark.parametrize("path, message", [
    ("/sl-none", r"^no cgroup '/sl-none' \(under "),
    ("/../etc", r"^no cgroup '/\.\./etc'"),
    ("system.slice", r"^a cgroup path starts with '/'"),
])
def test_a_path_that_names_no_cgroup_is_one_line(tree, path, message):
    with pytest.raises(KernelError, match=message):
        CgroupPaths(str(tree)).id_of(path)


def test_rows_get_the_cgroup_of_their_record(tree):
    """A record that carries its cgroup id (as the dump's INET_DIAG_CGROUP_ID decode
    gives it) puts the path on its listener and CLOSE_WAIT rows; others get none."""

    class WithCgroup(SocketRecord):
        __slots__ = ()
        cgroup_id = os.stat(tree / "system.slice/nginx.service").st_ino

    lst = WithCgroup(2, "LISTEN", sport=80, src_raw=bytes([127, 0, 0, 1]) + bytes(12))
    cw = WithCgroup(2, "CLOSE_WAIT", sport=80, cookie=7)
    plain = SocketRecord(2, "CLOSE_WAIT", sport=81, cookie=8)
    sampler = Sampler.__new__(Sampler)  # only the row annotation is exercised
    sampler._cgroups = CgroupPaths(str(tree))
    listeners = [{"local": lst.local}]
    close_wait = [{"cookie": 7}, {"cookie": 8}]
    sampler._add_cgroups([lst, cw, plain], listeners, close_wait)
    assert listeners == [{"local": "127.0.0.1:80", "cgroup": "/system.slice/nginx.service"}]
    assert close_wait == [{"cookie": 7, "cgroup": "/system.slice/nginx.service"},
                          {"cookie": 8}]


def test_cgroup_option_bad_path_is_one_line_exit_2(capsys):
    for command in (["snapshot"], ["snapshot", "--sockets"], ["watch"]):
        assert main([*command, "--cgroup", "/sl-no-such-cgroup"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("socklife: error: no cgroup '/sl-no-such-cgroup' (under ")
        assert err.count("\n") == 1


@pytest.mark.root
def test_a_cgroup_made_here_has_its_directory_inode_as_id():
    mount = cgroup2_mount()
    name = f"/sl-cg-{os.getpid()}"
    os.mkdir(mount + name)
    child = None
    try:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        with open(mount + name + "/cgroup.procs", "w") as f:
            f.write(str(child.pid))
        paths = CgroupPaths()
        cgroup_id = paths.id_of(name)
        assert cgroup_id == os.stat(mount + name).st_ino
        assert CgroupPaths().path(cgroup_id) == name
        with open(f"/proc/{child.pid}/cgroup") as f:
            assert f"0::{name}\n" in f.read()
    finally:
        if child is not None:
            child.kill()
            child.wait()
        os.rmdir(mount + name)


def test_without_a_cgroup2_mount_rows_carry_no_cgroup(monkeypatch):
    """Inside `ip netns exec` (a sysfs of the namespace, no cgroup2 there) the rows go
    without a cgroup and nothing fails; --cgroup alone needs the mount."""
    from harness.kernel import cgroups

    def nowhere():
        raise KernelError("no cgroup v2 file system is mounted")

    monkeypatch.setattr(cgroups, "cgroup2_mount", nowhere)
    assert cgroups.available() is None

    class WithCgroup(SocketRecord):
        __slots__ = ()
        cgroup_id = 12345

    sampler = Sampler.__new__(Sampler)
    sampler._cgroups = None
    listeners = [{"local": "0.0.0.0:80"}]
    sampler._add_cgroups([WithCgroup(2, "LISTEN", sport=80)], listeners, [])
    assert listeners == [{"local": "0.0.0.0:80"}] and sampler._cgroups is False
