"""Decode of recorded sock_diag replies (tests/fixtures/sockdiag/, see record.py there).

Expected values were checked against `ss -tane` printed at recording time
(tests/fixtures/sockdiag/ss-tane.txt): ss's `sk:` column is the socket cookie.
"""

from __future__ import annotations

import errno
import socket
from collections import Counter

import pytest

from harness.kernel import inet_diag as wire
from harness.kernel import netlink
from harness.kernel.dump_columns import FLAGS, STATE, _count_uniform, count_chunk
from harness.kernel.sockdiag import SockDiag, _dump_error
from harness.kernel.tcp_states import STATE_NAMES


def chunks(fixture_path, name):
    with open(fixture_path("sockdiag", f"{name}.hex")) as f:
        return [bytes.fromhex(line.strip()) for line in f if line.strip()]


def decode_all(bufs):
    out, result = [], wire.ChunkResult()
    for buf in bufs:
        wire.walk(buf, len(buf), lambda b, off: out.append(wire.decode_msg(b, off)), result)
    return out, result


def test_ipv4_listeners_request_socket_and_established(fixture_path):
    records, result = decode_all(chunks(fixture_path, "ipv4_mixed"))
    assert result.done and not result.interrupted
    got = [(r.state, r.local, r.remote, r.rqueue, r.wqueue, r.inode, r.cookie) for r in records]
    assert got == [
        ("LISTEN", "127.0.0.1:9090", "0.0.0.0:0", 0, 5, 12842, 0x4F3),
        ("LISTEN", "127.0.0.1:8080", "0.0.0.0:0", 0, 5, 16007, 0x4F4),
        ("SYN_RECV", "127.0.0.1:9090", "127.0.0.1:34274", 0, 0, 0, 0x4F5),
        ("ESTABLISHED", "127.0.0.1:34274", "127.0.0.1:9090", 0, 0, 12843, 0x74F),
    ]
    request = records[2]
    assert request.family == socket.AF_INET and request.timer == 1  # SYN+ACK retransmit timer
    assert request.uid == 0 and 0 < request.expires <= 1000


def test_port_byte_order(fixture_path):
    """idiag_sport is big-endian on the wire: bytes 23 82 are port 9090, not 33315."""
    buf = chunks(fixture_path, "ipv4_mixed")[0]
    off = netlink.NLMSG_HDRLEN
    sport = off + wire.INET_DIAG_MSG.offset["idiag_sport"]
    assert buf[sport:sport + 2] == bytes.fromhex("2382")
    assert wire.decode_msg(buf, off).sport == 9090


def test_ipv6_addresses(fixture_path):
    records, _ = decode_all(chunks(fixture_path, "ipv6_pair"))
    assert [(r.family, r.state, r.local, r.remote) for r in records] == [
        (socket.AF_INET6, "LISTEN", "[::1]:443", "[::]:0"),
        (socket.AF_INET6, "ESTABLISHED", "[::1]:56606", "[::1]:443"),
        (socket.AF_INET6, "ESTABLISHED", "[::1]:443", "[::1]:56606"),
    ]
    assert records[1].src == "::1" and records[1].dst == "::1"


def test_timewait_minisockets_over_a_multipart_reply(fixture_path):
    bufs = chunks(fixture_path, "ipv4_timewait_multipart")
    assert len(bufs) == 3  # two batches of sockets, then NLMSG_DONE alone
    records, result = decode_all(bufs)
    assert result.done and len(records) == 601
    assert {r.state for r in records} == {"TIME_WAIT"}
    assert all(r.timer == wire.TIMER_TIME_WAIT for r in records)
    assert all(r.rqueue == r.wqueue == r.uid == r.inode == 0 for r in records)
    assert all(r.dport == 8080 and 55_000 < r.expires <= 60_000 for r in records)
    assert records[0].local == "127.0.0.1:53192"


def test_count_chunk_agrees_with_decode(fixture_path):
    for name in ("ipv4_mixed", "ipv4_timewait_multipart", "ipv6_pair", "one_walk_all"):
        bufs = chunks(fixture_path, name)
        records, _ = decode_all(bufs)
        counts, result = [0] * 16, wire.ChunkResult()
        for buf in bufs:
            count_chunk(buf, len(buf), counts, result)
        assert result.done
        for code, name_ in enumerate(STATE_NAMES):
            assert counts[code] == sum(r.state == name_ for r in records), name_


def test_error_in_nlmsg_done(fixture_path):
    """No diag handler for the protocol: the dump ends with NLMSG_DONE carrying -ENOENT."""
    (buf,) = chunks(fixture_path, "dump_done_error")
    assert netlink.NLMSGHDR.unpack_from(buf)[1] == netlink.NLMSG_DONE
    with pytest.raises(wire.DumpError) as err:
        decode_all([buf])
    assert err.value.errno == errno.ENOENT
    assert "no tcp_diag" in str(_dump_error(err.value.errno))
    with pytest.raises(wire.DumpError):
        count_chunk(buf, len(buf), [0] * 16, wire.ChunkResult())


def test_nlmsg_error_reply(fixture_path):
    """Bytecode the kernel's auditor rejects: NLMSG_ERROR with -EINVAL."""
    (buf,) = chunks(fixture_path, "nlmsg_error")
    assert netlink.NLMSGHDR.unpack_from(buf)[1] == netlink.NLMSG_ERROR
    with pytest.raises(wire.DumpError) as err:
        decode_all([buf])
    assert err.value.errno == errno.EINVAL
    with pytest.raises(wire.DumpError):
        count_chunk(buf, len(buf), [0] * 16, wire.ChunkResult())


def test_dump_intr_flag_is_seen(fixture_path):
    buf = bytearray(chunks(fixture_path, "ipv4_mixed")[0])
    buf[FLAGS] |= netlink.NLM_F_DUMP_INTR  # nlmsg_flags of the first message
    result = wire.ChunkResult()
    wire.walk(buf, len(buf), lambda b, off: None, result)
    assert result.interrupted


def test_states_mask():
    assert wire.states_mask(None) == 0xFFF
    assert wire.states_mask(["TIME_WAIT"]) == 1 << 6
    assert wire.states_mask(["SYN_RECV"]) == (1 << 3) | (1 << 12)  # request sockets too
    with pytest.raises(ValueError):
        wire.states_mask(["BOGUS"])


class FakeNetlink:
    """Plays back a list of replies (lists of buffers, or an OSError) per request."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.pending = []
        self.requests = 0

    def send(self, data):
        self.requests += 1
        reply = self.replies.pop(0)
        if isinstance(reply, OSError):
            self.pending = [reply]
        else:
            self.pending = list(reply)

    def recv_into(self, view):
        if not self.pending:
            raise BlockingIOError
        item = self.pending.pop(0)
        if isinstance(item, OSError):
            raise item
        view[:len(item)] = item
        return len(item)

    def setblocking(self, flag):
        pass

    def close(self):
        pass


def fake_diag(replies):
    diag = SockDiag.__new__(SockDiag)
    diag.netns, diag._sock, diag._buf, diag._seq = None, FakeNetlink(replies), bytearray(
        1 << 16), 0
    diag.bytes_received = 0
    return diag


def test_interrupted_dump_is_retried_then_marked(fixture_path):
    good = chunks(fixture_path, "ipv4_mixed")
    bad = [bytearray(good[0]), good[1]]
    bad[0][FLAGS] |= netlink.NLM_F_DUMP_INTR
    diag = fake_diag([bad] * 8)
    out = []
    ok = diag.scan(lambda b, n, r: wire.walk(b, n, lambda *_: out.append(1), r),
                   families=(socket.AF_INET,), reset=out.clear)
    assert not ok and diag._sock.requests == 3 and len(out) == 4

    diag = fake_diag([bad, good])
    ok = diag.scan(lambda b, n, r: wire.walk(b, n, lambda *_: None, r),
                   families=(socket.AF_INET,))
    assert ok and diag._sock.requests == 2


def test_enobufs_restarts_the_dump(fixture_path):
    good = chunks(fixture_path, "ipv4_mixed")
    diag = fake_diag([OSError(errno.ENOBUFS, "No buffer space"), good])
    seen = []
    ok = diag.scan(lambda b, n, r: wire.walk(b, n, lambda *_: seen.append(1), r),
                   families=(socket.AF_INET,), reset=seen.clear)
    assert ok and len(seen) == 4


def test_fast_decode_chunk_equals_the_careful_walk(fixture_path):
    for name in ("ipv4_mixed", "ipv4_timewait_multipart", "ipv6_pair", "one_walk_all"):
        bufs = chunks(fixture_path, name)
        careful, _ = decode_all(bufs)
        fast, result = [], wire.ChunkResult()
        for buf in bufs:
            wire.decode_chunk(buf, len(buf), fast.append, result)
        assert result.done and fast == careful
        assert all(type(r) is wire.SocketRecord for r in fast)
    flagged = bytearray(chunks(fixture_path, "ipv4_mixed")[0])
    flagged[FLAGS] |= netlink.NLM_F_DUMP_INTR
    result = wire.ChunkResult()
    wire.decode_chunk(flagged, len(flagged), [].append, result)
    assert result.interrupted


def test_uniform_run_of_minisockets_is_counted_by_slicing(fixture_path):
    buf = bytearray(chunks(fixture_path, "ipv4_timewait_multipart")[0])
    counts = [0] * 16
    covered, fw2 = _count_uniform(buf, len(buf), counts, wire.ChunkResult())
    assert covered == len(buf) and fw2 == 0
    assert counts[wire.TCP_TIME_WAIT] == len(buf) // 96
    buf[FLAGS + 96 * 5] |= netlink.NLM_F_DUMP_INTR
    buf[STATE + 96 * 7] = wire.TCP_FIN_WAIT2  # make one a FIN_WAIT2 minisocket (timer 3)
    result, counts = wire.ChunkResult(), [0] * 16
    assert count_chunk(buf, len(buf), counts, result) == 1
    assert result.interrupted and counts[wire.TCP_FIN_WAIT2] == 1
    mixed = chunks(fixture_path, "ipv4_mixed")[0]  # different lengths: not uniform
    assert _count_uniform(mixed, len(mixed), [0] * 16, wire.ChunkResult()) == (0, 0)


def test_legacy_request_asks_for_both_families():
    """build_request(AF_UNSPEC): a TCPDIAG_GETSOCK request (struct inet_diag_req, 60
    bytes) with the states bitmask after the sockid and the bytecode attribute after it."""
    bytecode = wire.compile_ports([80])
    req = wire.build_request(socket.AF_UNSPEC, 1 << 6, bytecode, seq=7)
    length, msg_type, flags, seq, _pid = netlink.NLMSGHDR.unpack_from(req)
    assert (length, msg_type, seq) == (len(req), wire.TCPDIAG_GETSOCK, 7)
    assert flags == netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP
    legacy = wire.INET_DIAG_REQ
    fields = legacy.unpack_from(req, 16)
    assert fields == legacy.values(idiag_family=socket.AF_UNSPEC, idiag_states=1 << 6)
    assert req[16:16 + 60] == bytes(legacy.offset["idiag_states"]) + (1 << 6).to_bytes(
        4, "little") + bytes(4)
    attr_len, attr_type = netlink.NLATTR.unpack_from(req, 16 + 60)
    assert (attr_len, attr_type) == (4 + len(bytecode), wire.INET_DIAG_REQ_BYTECODE)
    assert req[16 + 64:] == bytecode
    v2 = wire.build_request(socket.AF_INET, 1 << 6)
    assert netlink.NLMSGHDR.unpack_from(v2)[1] == wire.SOCK_DIAG_BY_FAMILY
    assert len(v2) == 16 + 56


def test_one_walk_reply_holds_both_families(fixture_path):
    """A TCPDIAG_GETSOCK dump of the recording's namespace: every socket of both
    families (as ss-tane.txt lists them, with the 601 TIME_WAIT), in messages of the
    request's type 18."""
    bufs = chunks(fixture_path, "one_walk_all")
    types = []
    for buf in bufs:
        wire.walk(buf, len(buf), lambda b, off: types.append(
            netlink.NLMSGHDR.unpack_from(b, off - netlink.NLMSG_HDRLEN)[1]), wire.ChunkResult())
    records, result = decode_all(bufs)
    assert result.done and set(types) == {wire.TCPDIAG_GETSOCK}
    by_kind = Counter((r.family, r.state) for r in records)
    assert by_kind == {
        (socket.AF_INET, "LISTEN"): 2, (socket.AF_INET, "SYN_RECV"): 1,
        (socket.AF_INET, "ESTABLISHED"): 1, (socket.AF_INET, "TIME_WAIT"): 601,
        (socket.AF_INET6, "LISTEN"): 1, (socket.AF_INET6, "ESTABLISHED"): 2,
    }
    counts, result = [0] * 16, wire.ChunkResult()
    for buf in bufs:
        count_chunk(buf, len(buf), counts, result)
    assert counts[wire.TCP_TIME_WAIT] == 601 and sum(counts) == len(records)
