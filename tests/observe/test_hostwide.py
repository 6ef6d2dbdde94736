"""The host-wide sampler: a quiet namespace reuses its last walk (on recorded bytes),
an empty one is not dumped, a namespace that vanishes is dropped with a note (live,
root), and record/doctor/exporter/watch with --all-netns."""

from __future__ import annotations

import json
import os
import time

import pytest
from replay import ReplayReader
from unshare_util import unshared_leaker

from harness.cli import main
from harness.kernel import inet_diag as wire
from harness.kernel.tcp_states import STATE_CODES
from harness.observe.hostwide import HostSampler
from harness.observe.sampler import QUIET_MAX_S, QUIET_MAX_SAMPLES, Sampler
from harness.schema.validate import check_line

LISTEN_ONLY = 1 << STATE_CODES["LISTEN"]


class Tunable(ReplayReader):
    """t0 without its FIN_WAIT2 minisocket (that one always makes a walk), with its
    counters and sockstat changeable between samples."""

    def __init__(self):
        super().__init__("t0")
        self.messages = [m for m in self.messages
                         if wire.decode_msg(m, wire.NLMSG_HDRLEN).state != "FIN_WAIT2"]
        self.extra: dict[str, int] = {}
        self.stat: dict | None = None

    def counters(self) -> dict:
        flat = super().counters()
        return {k: v + self.extra.get(k, 0) for k, v in flat.items()}

    def sockstat(self) -> dict:
        return self.stat if self.stat is not None else super().sockstat()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _walks(reader: Tunable, since: int) -> list[int]:
    """The state masks of the dumps since scan number ``since`` (TIME_WAIT's left out)."""
    tw = 1 << wire.TCP_TIME_WAIT
    return [mask for mask, _ports, _ex in reader.scans[since:] if mask != tw]


def test_a_quiet_namespace_reuses_its_walk_until_a_segment_moves():
    reader, clock = Tunable(), Clock()
    with Sampler(reader=reader, clock=clock, meter=False, fold=False, detail_s=3600,
                 reuse_quiet=True) as sampler:
        first = sampler.sample()
        assert len(_walks(reader, 0)) == 2  # the listeners, then the others
        n = len(reader.scans)
        clock.now += 1
        quiet = sampler.sample()
        assert _walks(reader, n) == [LISTEN_ONLY] and sampler.walks_saved == 1
        assert quiet["states"] == first["states"]
        assert quiet["close_wait"][0]["cookie"] == first["close_wait"][0]["cookie"]
        for name in ("InSegs", "OutSegs", "RetransSegs"):
            reader.extra = {name: 1 + len(reader.extra)}
            n = len(reader.scans)
            clock.now += 1
            sampler.sample()
            assert len(_walks(reader, n)) == 2, name  # a segment moved: walked again
        n = len(reader.scans)
        clock.now += QUIET_MAX_S  # long enough, but too few samples since the last walk
        sampler.sample()
        assert _walks(reader, n) == [LISTEN_ONLY]
        for _ in range(QUIET_MAX_SAMPLES - 2):
            clock.now += 1
            sampler.sample()
        n = len(reader.scans)
        clock.now += 1
        sampler.sample()
        assert len(_walks(reader, n)) == 2  # quiet, but not walked for too long
        check_line(quiet)


def test_an_empty_namespace_is_not_dumped():
    reader = Tunable()
    reader.stat = {"TCP": {"inuse": 0, "orphan": 0, "tw": 0}, "TCP6": {"inuse": 0}}
    with Sampler(reader=reader, meter=False, fold=False, reuse_quiet=True) as sampler:
        s = sampler.sample()
    assert reader.scans == [] and sum(s["states"].values()) == 0
    check_line(s)


def test_without_reuse_every_sample_walks():
    reader, clock = Tunable(), Clock()
    with Sampler(reader=reader, clock=clock, meter=False, fold=False,
                 detail_s=3600) as sampler:
        sampler.sample()
        n = len(reader.scans)
        clock.now += 1
        sampler.sample()
    walks = _walks(reader, n)  # the listeners, then every other state again
    assert walks[0] == LISTEN_ONLY and len(walks) == 2 and sampler.walks_saved == 0


@pytest.mark.root
def test_a_namespace_that_vanishes_is_dropped_with_a_note():
    with HostSampler(fold=False, meter=False) as host:
        with unshared_leaker() as leaker:
            inode = os.stat(leaker.path).st_ino
            first = host.sample()
            assert inode in [s["netns_inode"] for s in first]
        second = host.sample()  # the process was killed: its namespace is gone
    assert inode not in [s["netns_inode"] for s in second]
    assert f"netns {leaker.path} is gone: dropped" in host.notes


@pytest.mark.root
def test_record_writes_a_line_per_namespace_per_interval(tmp_path, capsys):
    out = tmp_path / "host.jsonl"
    with unshared_leaker() as leaker:
        inode = os.stat(leaker.path).st_ino
        assert main(["record", "-o", str(out), "--all-netns", "--interval", "0.5",
                     "--duration", "1"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    samples, summary = lines[:-1], lines[-1]
    mine = [s for s in samples if s["netns_inode"] == inode]
    own = [s for s in samples if s["netns"] is None]  # one per tick (a late one skips)
    assert len(mine) == len(own) >= 1
    assert all(s["states"]["CLOSE_WAIT"] == 1 for s in mine)
    assert all(s["host"] == f"netns {leaker.path}" for s in mine)
    for doc in lines:
        check_line(doc)
    assert "summary" in summary


@pytest.mark.root
def test_doctor_names_the_namespace_of_each_finding(capsys):
    with unshared_leaker() as leaker:
        assert main(["doctor", "--all-netns", "--duration", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["netns"] == "all"
    hosts = {f.get("host") for f in doc["findings"]}
    assert f"netns {leaker.path}" in hosts  # its settings at least


@pytest.mark.root
def test_a_namespace_whose_first_process_exits_is_followed_through_another():
    import subprocess

    with HostSampler(fold=False, meter=False) as host:
        with unshared_leaker() as leaker:
            inode = os.stat(leaker.path).st_ino
            other = subprocess.Popen(["nsenter", f"--net={leaker.path}", "sleep", "60"])
            try:
                for _ in range(100):  # until nsenter has entered and exec'd
                    if os.stat(f"/proc/{other.pid}/ns/net").st_ino == inode:
                        break
                    time.sleep(0.02)
                first = [s for s in host.sample() if s["netns_inode"] == inode]
                assert [s["netns"] for s in first] == [leaker.path]  # the lowest pid's
            except BaseException:
                other.kill()
                other.wait()
                raise
        try:  # the leaker is gone; `other` holds the namespace
            mine = [s for s in host.sample() if s["netns_inode"] == inode]
            assert [s["netns"] for s in mine] == [f"/proc/{other.pid}/ns/net"]
            assert not any("is gone" in note for note in host.notes)
        finally:
            other.kill()
            other.wait()


def test_namespaces_sharing_the_host_hash_are_said_once():
    from harness.observe.hostwide import shared_hash_note

    own = {"sysctls": {"tcp_ehash_entries": 262144}}
    shared = {"sysctls": {"tcp_ehash_entries": -262144}}
    older = {"sysctls": {}}  # a kernel before 6.1 has no such sysctl
    note = shared_hash_note([own, shared, shared, older])
    assert note.startswith("2 of 4 namespaces share the host's established hash "
                           "(262144 buckets)")
    assert "net.ipv4.tcp_child_ehash_entries" in note
    assert shared_hash_note([own, shared, older]) is None


@pytest.mark.root
def test_a_new_namespace_reports_the_shared_hash(netns):
    with netns() as name, Sampler(name, meter=False, fold=False) as sampler:
        assert sampler.sample()["sysctls"]["tcp_ehash_entries"] < 0
