"""The open sockets of a dump, grouped straight from its bytes: ESTABLISHED ones counted,
never decoded.

At 200,000 ESTABLISHED sockets, decoding each into a SocketRecord and filtering the list
in Python cost a sampler ~1.2 s of CPU per sample, five times the kernel's dump. What a
sample needs of an ESTABLISHED socket is only its state and, for a client socket (its
local port an ephemeral one, not a listening one), its destination and local port. The
messages of full sockets are all one size (inet_diag_msg and the same attributes), so
each field is a strided byte column (``bytes[offset::stride]``): the states are counted,
and the client sockets counted by destination and their ports collected, by ``Counter``
and ``set`` over zipped, ``compress``-ed columns in C, with no Python step per socket.
Every socket in another state (SYN_SENT, SYN_RECV, CLOSE_WAIT, FIN_WAIT*, ...; LISTEN
comes in its own dump, which walks no established hash) is decoded, as before.

The offsets are the struct tables' (kernel/dump_columns.py derives them).
"""

from __future__ import annotations

import operator
from collections import Counter
from itertools import compress

from harness.kernel import inet_diag as wire
from harness.kernel.dump_columns import (
    DPORT_HI,
    DPORT_LO,
    DST,
    FAMILY,
    FLAGS,
    SPORT_HI,
    SPORT_LO,
    STATE,
    message_span,
    run_length,
)
from harness.kernel.endpoints import endpoint
from harness.kernel.netlink import NLM_F_DUMP_INTR, NLMSG_HDRLEN
from harness.kernel.tcp_states import STATE_CODES

TCP_ESTABLISHED = STATE_CODES["ESTABLISHED"]
TCP_CLOSE_WAIT = STATE_CODES["CLOSE_WAIT"]
# A destination key's columns: family, dst (16 bytes, a v4 address in the first 4), dport
KEY = (FAMILY, *range(DST, DST + 16), DPORT_HI, DPORT_LO)
MIN_RUN = 16  # equal-size messages in a row worth the columns
# state byte -> 1 where the socket is decoded (anything but ESTABLISHED)
_DECODED = bytes(0 if code == TCP_ESTABLISHED else 1 for code in range(256))


def _decode(buf, off: int, state: int):
    """The SocketRecord at ``off``; a CLOSE_WAIT one carries its cgroup id (its row
    names the cgroup: the attribute walk is paid for those sockets only)."""
    if state == TCP_CLOSE_WAIT:
        return wire.decode_msg_cgroup(buf, off)
    return wire.decode_msg(buf, off)


class OpenGroups:
    """Filled chunk by chunk from a dump of open sockets (``add_chunk``, the consume of
    SockDiag.scan). ``codes``: sockets per TCP_* state code. ``records``: the
    SocketRecord of every socket not ESTABLISHED. ``by_dest``: ESTABLISHED client sockets
    per ``(family, *dst, dport hi, dport lo)``. ``ports``: their local ports, as
    ``(hi, lo)`` pairs.

    ``listening``: the local ports of the listeners (a socket on one is server-side);
    ``port_range``: ip_local_port_range.
    """

    def __init__(self, listening=(), port_range=(32768, 60999)):
        lo, hi = port_range
        # (state, sport hi) of ESTABLISHED sockets whose port may be ephemeral, and the
        # (hi, lo) pairs inside those that are not: listening ports, the range's edges.
        self._maybe = {(TCP_ESTABLISHED, h) for h in range(lo >> 8, (hi >> 8) + 1)}
        excluded = {(p >> 8, p & 0xFF) for p in listening if lo <= p <= hi}
        excluded |= {(lo >> 8, b) for b in range(lo & 0xFF)}
        excluded |= {(hi >> 8, b) for b in range((hi & 0xFF) + 1, 256)}
        self._excluded = excluded
        self.clear()

    def clear(self) -> None:
        self.codes = [0] * wire.STATE_SLOTS
        self.records: list = []
        self.by_dest: Counter = Counter()
        self.ports: set[tuple[int, int]] = set()
        self._by_remote: Counter | None = None

    def borrow_grouping(self, other: OpenGroups) -> None:
        """Take ``other``'s ESTABLISHED grouping (by_dest, ports) as this walk's, for a
        walk that left the ESTABLISHED sockets out (the same objects: nothing reads them
        to change them)."""
        self.by_dest, self.ports = other.by_dest, other.ports
        self._by_remote = other.open_by_remote()

    def add_chunk(self, buf, length: int, result: wire.ChunkResult) -> None:
        """Runs of MIN_RUN or more equal-size socket messages go through the columns;
        the messages between them (request sockets and FIN_WAIT2 minisockets are shorter
        than full sockets; NLMSG_DONE, errors) one by one through wire.walk's checks."""
        view = bytes(buf[:length])
        off = 0
        while off + NLMSG_HDRLEN <= length:
            stride, run = run_length(view, off, length)
            if run >= MIN_RUN:
                self._columns(view, off, off + run * stride, stride, result)
                off += run * stride
                continue
            one = message_span(view, off)
            wire.walk(view[off:off + one], one, self._one, result)
            if result.done:
                return
            off += one

    def _columns(self, view: bytes, start: int, end: int, stride: int, result) -> None:
        if any(b & NLM_F_DUMP_INTR for b in set(view[start + FLAGS:end:stride])):
            result.interrupted = True
        states = view[start + STATE:end:stride]
        codes = self.codes
        for code, n in Counter(states).items():
            codes[code] += n
        decoded = states.translate(_DECODED)
        i = decoded.find(1)
        while i >= 0:
            self.records.append(_decode(view, start + i * stride + NLMSG_HDRLEN, states[i]))
            i = decoded.find(1, i + 1)
        hi_col = view[start + SPORT_HI:end:stride]
        lo_col = view[start + SPORT_LO:end:stride]
        pairs = list(zip(hi_col, lo_col, strict=True))
        keep = list(map(operator.gt,
                        map(self._maybe.__contains__, zip(states, hi_col, strict=True)),
                        map(self._excluded.__contains__, pairs)))
        if not any(keep):
            return
        cols = [bytes(compress(view[start + c:end:stride], keep)) for c in KEY]
        self.by_dest.update(zip(*cols, strict=True))
        self.ports.update(compress(pairs, keep))

    def _one(self, b, off: int) -> None:
        base = off - NLMSG_HDRLEN  # walk gives the offset past the nlmsghdr
        state = b[base + STATE]
        self.codes[state] += 1
        if state != TCP_ESTABLISHED:
            self.records.append(_decode(b, off, state))
            return
        pair = (b[base + SPORT_HI], b[base + SPORT_LO])
        if (state, pair[0]) in self._maybe and pair not in self._excluded:
            self.by_dest[tuple(b[base + c] for c in KEY)] += 1
            self.ports.add(pair)

    def open_by_remote(self) -> Counter:
        """ESTABLISHED client sockets per remote ``ip:port`` (endpoints.endpoint); named
        once per grouping (a copy each call: the caller may add to it)."""
        if self._by_remote is None:
            out: Counter = Counter()
            for key, n in self.by_dest.items():
                out[endpoint(wire.format_ip(key[0], bytes(key[1:17])),
                             key[17] << 8 | key[18])] += n
            self._by_remote = out
        return Counter(self._by_remote)
