"""Fields of a dump counted straight from its bytes, with no object per socket.

A dump of TIME_WAIT minisockets is a row of identical-size messages: when every
``stride``-th byte says "a socket's message of ``stride`` bytes", a field at offset
``o`` of every socket is the byte column ``view[o:end:stride]``, counted at C speed
with no Python step per socket. The offsets are the struct tables' (inet_diag.py,
netlink.py), past the message's nlmsghdr; nothing outside this module and those two
knows where a field lies in the bytes.

``count_chunk`` counts states (what sockdiag.count_codes sums); ``time_wait_columns``
and ``time_wait_rows`` give what observe/timewait.py aggregates: the local port, the
expiry bucket (``idiag_expires >> 8``: ms left <= 60,000, so one byte of the u32 is a
256 ms bucket) and the destination (remote address, port, bucket) of each socket.
"""

from __future__ import annotations

import socket
import sys

from harness.kernel.endpoints import endpoint
from harness.kernel.inet_diag import (
    INET_DIAG_MSG,
    REPLY_TYPES,
    SOCKET_MSG_LEN,
    TCP_FIN_WAIT2,
    TIMER_TIME_WAIT,
    ChunkResult,
    format_ip,
    walk,
)
from harness.kernel.netlink import NLH_LEN_TYPE_FLAGS, NLM_F_DUMP_INTR, NLMSG_HDRLEN, NLMSGHDR


def _at(field: str) -> int:
    """Offset of an inet_diag_msg field from the start of its netlink message."""
    return NLMSG_HDRLEN + INET_DIAG_MSG.offset[field]


FAMILY = _at("idiag_family")
STATE = _at("idiag_state")
TIMER = _at("idiag_timer")
SPORT_HI, DPORT_HI = _at("idiag_sport"), _at("idiag_dport")  # be16: high byte first
SPORT_LO, DPORT_LO = SPORT_HI + 1, DPORT_HI + 1
DST = _at("idiag_dst")
# The byte of the host-order u32 idiag_expires that holds bits 8-15.
EXPIRES_BUCKET = _at("idiag_expires") + (1 if sys.byteorder == "little" else 2)
BUCKET_MS = 256  # what one step of that byte is
# The byte of the host-order u16 nlmsg_flags that holds NLM_F_DUMP_INTR (bits 0-7).
FLAGS = NLMSGHDR.offset["nlmsg_flags"] + (1 if sys.byteorder == "big" else 0)
LEN, TYPE = NLMSGHDR.offset["nlmsg_len"], NLMSGHDR.offset["nlmsg_type"]
ADDRESS_BYTES = {socket.AF_INET: 4, socket.AF_INET6: 16}
_INTR_BIT = bytes(1 if b & NLM_F_DUMP_INTR else 0 for b in range(256))


def run_length(view: bytes, off: int, length: int) -> tuple[int, int]:
    """(stride, count) of the socket messages of one size that follow one another from
    ``off`` in ``view[:length]`` ((0, 0) when the first is no socket's message).

    Every message of the run has the length (u32) and type (u16) of the first one, a
    socket's message type: checked byte column by byte column (TYPE follows LEN), the
    run's end found by a binary search over those C-speed compares.
    """
    stride = (int.from_bytes(view[off + LEN:off + LEN + 4], sys.byteorder) + 3) & ~3
    msg_type = int.from_bytes(view[off + TYPE:off + TYPE + 2], sys.byteorder)
    if stride < SOCKET_MSG_LEN or stride > 0xFFFF or msg_type not in REPLY_TYPES:
        return 0, 0
    # Each message's length is the stride itself (a 4-aligned length) and its type the
    # first one's: byte by byte, the header's first six bytes are the same everywhere.
    expected = tuple(enumerate(stride.to_bytes(4, sys.byteorder)
                               + msg_type.to_bytes(2, sys.byteorder), LEN))

    def equal(n: int) -> bool:
        end = off + n * stride
        return all(view[off + at:end:stride] == bytes((value,)) * n for at, value in expected)

    good, bad = 0, (length - off) // stride
    if equal(bad):
        return stride, bad
    while bad - good > 1:
        mid = (good + bad) // 2
        if equal(mid):
            good = mid
        else:
            bad = mid
    return stride, good


def message_span(view: bytes, off: int) -> int:
    """Bytes from the message at ``off`` to the next one: its 4-aligned nlmsg_len, at
    least a header (a shorter length is the walker's to refuse)."""
    msg_len = int.from_bytes(view[off + LEN:off + LEN + 4], sys.byteorder)
    return max((msg_len + 3) & ~3, NLMSG_HDRLEN)


def uniform_run(view: bytes, length: int, min_count: int) -> tuple[int, int]:
    """(bytes covered, stride) of ``view[:length]`` when it is one run of equal-size
    socket messages (``run_length``) all the way, but for a shorter tail (NLMSG_DONE),
    of at least ``min_count``; else (0, 0)."""
    stride, n = run_length(view, 0, length)
    if n < min_count or n != length // stride:
        return 0, 0
    return n * stride, stride


def _count_uniform(buf, length: int, counts: list[int], result: ChunkResult) -> tuple[int, int]:
    """Count the states of the leading uniform run (``uniform_run``) from its state
    column. Returns (bytes covered, FIN_WAIT2 minisockets)."""
    view = buf if isinstance(buf, bytes) else bytes(buf[:length])
    end, stride = uniform_run(view, length, 16)
    if not end:
        return 0, 0
    if view[FLAGS:end:stride].translate(_INTR_BIT).count(1):
        result.interrupted = True
    states = view[STATE:end:stride]
    for code in set(states):
        counts[code] += states.count(code)
    fw2_mini = 0
    if TCP_FIN_WAIT2 in states:
        timers = view[TIMER:end:stride]
        fw2_mini = sum(1 for s, t in zip(states, timers, strict=True)
                       if s == TCP_FIN_WAIT2 and t == TIMER_TIME_WAIT)
    return end, fw2_mini


def count_chunk(buf, length: int, counts: list[int], result: ChunkResult) -> int:
    """Add each socket's state to ``counts`` (indexed by TCP_* code) without objects.

    ``counts`` has STATE_SLOTS entries (a state byte indexes it, whatever it holds).
    Returns how many FIN_WAIT2 *minisockets* (timer 3) were seen: /proc/net/sockstat's
    ``tw`` counts those as well as TIME_WAIT.
    """
    off, fw2_mini = _count_uniform(buf, length, counts, result)
    unpack = NLH_LEN_TYPE_FLAGS.unpack_from
    while off + NLMSG_HDRLEN <= length:
        msg_len, msg_type, flags = unpack(buf, off)
        if msg_type in REPLY_TYPES and SOCKET_MSG_LEN <= msg_len <= length - off:
            state = buf[off + STATE]
            counts[state] += 1
            if state == TCP_FIN_WAIT2 and buf[off + TIMER] == TIMER_TIME_WAIT:
                fw2_mini += 1
        else:
            # Rare messages go through the careful walker (errors, DONE, bad lengths:
            # it raises DumpError on those).
            walk(buf[off:length], length - off, _ignore, result)
            if result.done:
                return fw2_mini
        if flags & NLM_F_DUMP_INTR:
            result.interrupted = True
        off += (msg_len + 3) & ~3
    return fw2_mini


def _ignore(buf, off) -> None:
    return None


class TimeWaitColumns:
    """The leading run of equal-size socket messages of one family, as byte columns.

    ``end``: bytes covered (0: no run of at least ``min_count``); ``family``;
    ``interrupted``: a message of the run carries NLM_F_DUMP_INTR; ``sport_hi``,
    ``sport_lo``: the local port's bytes; ``bucket``: the expiry bucket; ``dest()``:
    the columns of a destination key (the remote address's bytes, the remote port's
    two bytes, the bucket), zipped into the keys ``destination`` reads.
    """

    __slots__ = ("_stride", "_view", "bucket", "end", "family", "interrupted", "sport_hi",
                 "sport_lo")

    def __init__(self, view: bytes, length: int, min_count: int = 2):
        self._view = view
        self.end = self.family = 0
        self.interrupted = False
        end, stride = uniform_run(view, length, min_count)
        if not end:
            return
        family = view[FAMILY]
        if family not in ADDRESS_BYTES or view[FAMILY:end:stride] != bytes((family,)) * (
                end // stride):
            return
        self.end, self._stride, self.family = end, stride, family
        self.interrupted = bool(view[FLAGS:end:stride].translate(_INTR_BIT).count(1))
        self.sport_hi = view[SPORT_HI:end:stride]
        self.sport_lo = view[SPORT_LO:end:stride]
        self.bucket = view[EXPIRES_BUCKET:end:stride]

    def dest(self) -> list[bytes]:
        view, end, stride = self._view, self.end, self._stride
        cols = [view[DST + i:end:stride] for i in range(ADDRESS_BYTES[self.family])]
        return [*cols, view[DPORT_HI:end:stride], view[DPORT_LO:end:stride], self.bucket]


def time_wait_rows(view: bytes, start: int, length: int, on_socket,
                   result: ChunkResult) -> None:
    """For each socket message in ``view[start:length]`` (message by message: the tail
    that ``TimeWaitColumns`` did not cover), call ``on_socket(family, (sport hi, lo),
    bucket, destination key)``, the key as ``TimeWaitColumns.dest`` zips it."""
    def one(b, off):
        base = off - NLMSG_HDRLEN
        family = b[base + FAMILY]
        n = ADDRESS_BYTES.get(family, 16)
        bucket = b[base + EXPIRES_BUCKET]
        key = (*b[base + DST:base + DST + n], b[base + DPORT_HI], b[base + DPORT_LO], bucket)
        on_socket(family, (b[base + SPORT_HI], b[base + SPORT_LO]), bucket, key)

    walk(view[start:], length - start, one, result)


def destination(family: int, key: tuple) -> tuple[str, int]:
    """(``ip:port`` of the remote end, expiry bucket) of a destination key."""
    raw, port = bytes(key[:-3]), key[-3] << 8 | key[-2]
    return endpoint(format_ip(family, raw), port), key[-1]
