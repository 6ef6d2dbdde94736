"""The attributes after inet_diag_msg (netlink.attributes) and the cgroup id they carry,
on a recorded dump (tests/fixtures/sockdiag/cgroup_pair.hex, record.py there): sockets
made by a process in a cgroup of its own, one of ours in the root cgroup, and what
`ss -tane --cgroup` printed at the same moment (ss-tane-cgroup.txt)."""

from __future__ import annotations

import json
import pickle
import re

import pytest

from harness.kernel import inet_diag as wire
from harness.kernel import netlink


def chunks(fixture_path, name):
    with open(fixture_path("sockdiag", f"{name}.hex")) as f:
        return [bytes.fromhex(line) for line in f.read().split()]


def messages(bufs):
    """(buffer, offset of inet_diag_msg, end of the message) per socket."""
    out, hdrlen = [], netlink.NLMSG_HDRLEN
    for buf in bufs:
        def keep(b, off, buf=buf):
            (length,) = netlink.NLMSGHDR.head("nlmsg_len").unpack_from(b, off - hdrlen)
            out.append((buf, off, off - hdrlen + length))
        wire.walk(buf, len(buf), keep, wire.ChunkResult())
    return out


def decode(bufs):
    out, result = [], wire.ChunkResult()
    for buf in bufs:
        wire.decode_chunk_cgroup(buf, len(buf), out.append, result)
    assert result.done
    return out


@pytest.fixture
def recorded(fixture_path):
    with open(fixture_path("sockdiag", "cgroup.json")) as f:
        meta = json.load(f)
    with open(fixture_path("sockdiag", "ss-tane-cgroup.txt")) as f:
        ss = f.read()
    return meta, ss


def ss_cgroups(ss: str) -> dict[tuple[str, str], str | None]:
    """{(local, peer): cgroup path or None} of the ss text."""
    out = {}
    for line in ss.splitlines()[1:]:
        fields = line.split()
        found = re.search(r"cgroup:(\S+)", line)
        out[(fields[3], fields[4])] = found.group(1) if found else None
    return out


def test_full_sockets_carry_a_cgroup_id_and_minisockets_none(fixture_path):
    seen = []
    for buf, off, end in messages(chunks(fixture_path, "cgroup_pair")):
        attrs = dict(netlink.attributes(buf, off + wire.INET_DIAG_MSG.size, end))
        state = wire.decode_msg(buf, off).state
        seen.append((state, wire.INET_DIAG_CGROUP_ID in attrs))
        if wire.INET_DIAG_CGROUP_ID in attrs:
            assert len(attrs[wire.INET_DIAG_CGROUP_ID]) == 8
        assert wire.Attr.INET_DIAG_MARK in attrs  # every socket's, minisockets' too
    assert sorted(seen) == [("ESTABLISHED", True), ("ESTABLISHED", True), ("LISTEN", True),
                            ("LISTEN", True), ("TIME_WAIT", False)]


def test_cgroup_ids_are_the_ones_ss_printed(fixture_path, recorded):
    meta, ss = recorded
    paths = {1: "/", meta["cgroup_id"]: meta["path"]}  # 1: the root cgroup's id
    records = decode(chunks(fixture_path, "cgroup_pair"))
    printed = ss_cgroups(ss)
    assert len(records) == len(printed) == 5
    for r in records:
        peer = "0.0.0.0:*" if r.state == "LISTEN" else r.remote  # ss's way
        want = printed[(r.local, peer)]
        assert (paths.get(r.cgroup_id) if r.cgroup_id else None) == want, r
    assert {r.cgroup_id for r in records if r.sport == 7071} == {1}


def test_the_kernel_filtered_by_cgroup(fixture_path, recorded):
    """cgroup_filtered.hex: the same namespace dumped with compile_cgroups([id]):
    exactly the full sockets ss placed in that cgroup."""
    meta, ss = recorded
    records = decode(chunks(fixture_path, "cgroup_filtered"))
    assert {r.cgroup_id for r in records} == {meta["cgroup_id"]}
    in_cgroup = sorted(key[0] for key, path in ss_cgroups(ss).items() if path == meta["path"])
    assert sorted(r.local for r in records) == in_cgroup


def test_records_without_the_option_have_no_cgroup_id(fixture_path):
    out = []
    for buf in chunks(fixture_path, "cgroup_pair"):
        wire.decode_chunk(buf, len(buf), out.append, wire.ChunkResult())
    assert [tuple(r) for r in out] == [tuple(r)[:16] for r in decode(
        chunks(fixture_path, "cgroup_pair"))]
    assert {r.cgroup_id for r in out} == {None}


def test_a_record_with_its_cgroup_id_round_trips(fixture_path):
    r = next(r for r in decode(chunks(fixture_path, "cgroup_pair")) if r.cgroup_id != 1)
    assert pickle.loads(pickle.dumps(r)) == r and r._asdict()["cgroup_id"] == r.cgroup_id
    assert f"cgroup_id={r.cgroup_id}" in repr(r)
    built = wire.SocketRecord(family=2, state="LISTEN", sport=80, cgroup_id=9)
    assert built.cgroup_id == 9 and built.sport == 80 and built.state == "LISTEN"


def test_the_walker_stops_where_the_kernel_would():
    five = wire.CGROUP_COND.pack(5)  # a u64 in host order, as the kernel puts it
    good = netlink.pack_attribute(wire.INET_DIAG_CGROUP_ID, five)
    nested = netlink.NLATTR.pack(8, 0x8000 | 3) + b"abcd"  # NLA_F_NESTED is not the type
    short = netlink.NLATTR.pack(3, 1)  # shorter than its own header
    past = netlink.NLATTR.pack(200, 1) + bytes(4)  # runs past the end
    blob = good + nested + short + good
    assert [(t, bytes(p)) for t, p in netlink.attributes(blob, 0, len(blob))] == [
        (21, five), (3, b"abcd")]
    assert list(netlink.attributes(past, 0, len(past))) == []
    assert netlink.attribute(good, 0, len(good), 21).tobytes() == five
    assert netlink.attribute(good, 0, len(good), 22) is None
