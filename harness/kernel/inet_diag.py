"""inet_diag wire format: the dump request, the port-filter bytecode and the reply decode.

Layouts are from include/uapi/linux/inet_diag.h and include/uapi/linux/netlink.h
(Linux 6.x); field names are the kernel's. Everything here is pure: bytes in, values
out, so it is tested on recorded dumps without a kernel.

struct nlmsghdr            { u32 nlmsg_len; u16 nlmsg_type; u16 nlmsg_flags;
                             u32 nlmsg_seq; u32 nlmsg_pid; }                     16 bytes
struct inet_diag_sockid    { be16 idiag_sport; be16 idiag_dport; be32 idiag_src[4];
                             be32 idiag_dst[4]; u32 idiag_if; u32 idiag_cookie[2]; } 48
struct inet_diag_req_v2    { u8 sdiag_family; u8 sdiag_protocol; u8 idiag_ext;
                             u8 pad; u32 idiag_states; struct inet_diag_sockid id; } 56
struct inet_diag_req       { u8 idiag_family; u8 idiag_src_len; u8 idiag_dst_len;
                             u8 idiag_ext; struct inet_diag_sockid id;
                             u32 idiag_states; u32 idiag_dbs; }                    60
struct inet_diag_msg       { u8 idiag_family; u8 idiag_state; u8 idiag_timer;
                             u8 idiag_retrans; struct inet_diag_sockid id;
                             u32 idiag_expires; u32 idiag_rqueue; u32 idiag_wqueue;
                             u32 idiag_uid; u32 idiag_inode; }                     72
struct inet_diag_bc_op     { u8 code; u8 yes; u16 no; }                            4

The legacy request (``struct inet_diag_req``, message type TCPDIAG_GETSOCK) is what
``build_request(AF_UNSPEC, ...)`` sends: the kernel answers it with the sockets of both
families in one walk of its hash tables (inet_diag_dump_compat sets AF_UNSPEC), where
SOCK_DIAG_BY_FAMILY needs a walk per family. Its replies are the same inet_diag_msg,
with the request's message type.

Ports are big-endian on the wire (``idiag_sport`` bytes ``1f 90`` are port 8080); all
other integers are host order. A socket's cookie is ``cookie[0] | cookie[1] << 32``.
"""

from __future__ import annotations

import socket
import struct
from operator import itemgetter

# include/uapi/linux/sock_diag.h, netlink.h
SOCK_DIAG_BY_FAMILY = 20
TCPDIAG_GETSOCK = 18  # include/uapi/linux/inet_diag.h, the legacy (compat) request
REPLY_TYPES = (SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK)  # a socket's message in a dump
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
INET_DIAG_REQ_BYTECODE = 1

# include/net/tcp_states.h: index is the kernel's TCP_* value.
STATE_NAMES = (
    "UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
    "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
    "NEW_SYN_RECV",
)
# The states a user sees (design.md); NEW_SYN_RECV request sockets are reported as
# SYN_RECV by inet_diag, so they never reach us under their own number.
STATES = STATE_NAMES[1:12]
NOT_TIME_WAIT = [s for s in STATES if s != "TIME_WAIT"]  # what a dump decodes
STATE_NAMES_PADDED = STATE_NAMES + ("UNKNOWN",) * (256 - len(STATE_NAMES))
# Ports are big-endian on the wire and unpacked as native u16: PORT_ORDER[native] is the
# port (a lookup is cheaper than two shifts). It is the big-endian bytes of 0..65535 read
# as native u16s: 1.5 ms at import, where a Python loop over 65,536 ports took 8-15 ms.
_PORTS_BE = bytearray(2 * 65536)
_PORTS_BE[0::2] = b"".join(bytes((high,)) * 256 for high in range(256))
_PORTS_BE[1::2] = bytes(range(256)) * 256
PORT_ORDER = tuple(memoryview(_PORTS_BE).cast("H"))
del _PORTS_BE
STATE_CODES = {name: code for code, name in enumerate(STATE_NAMES)}
ALL_STATES_MASK = 0xFFF
TCP_TIME_WAIT = 6
TCP_FIN_WAIT2 = 5
TIMER_TIME_WAIT = 3  # idiag_timer 3: the minisocket's TIME_WAIT (or FIN_WAIT2) timer

# include/uapi/linux/inet_diag.h: enum { INET_DIAG_BC_NOP, ... }
BC_JMP = 1
BC_S_EQ = 11
BC_D_EQ = 12

NLMSGHDR = struct.Struct("=IHHII")
NLH_LEN_TYPE_FLAGS = struct.Struct("=IHH")
NLMSG_HDRLEN = NLMSGHDR.size
REQ_V2 = struct.Struct("=BBBBI48s")
REQ_COMPAT = struct.Struct("=BBBB48sII")
NLATTR = struct.Struct("=HH")
INET_DIAG_MSG_LEN = 72
NLMSG_ERRHDR = struct.Struct("=i")
SOCKET_MSG_LEN = NLMSG_HDRLEN + INET_DIAG_MSG_LEN  # the shortest socket message
STATE_SLOTS = 256  # entries of a count_chunk ``counts``: one per value of a state byte
EPROTO = 71  # a message that cannot be one


def states_mask(states) -> int:
    """Bitmask for ``idiag_states`` from state names (None: every state)."""
    if states is None:
        return ALL_STATES_MASK
    mask = 0
    for name in states:
        if name not in STATE_CODES or name in ("UNKNOWN", "NEW_SYN_RECV"):
            raise ValueError(f"unknown TCP state {name!r}")
        mask |= 1 << STATE_CODES[name]
        if name == "SYN_RECV":  # request sockets live under TCP_NEW_SYN_RECV
            mask |= 1 << STATE_CODES["NEW_SYN_RECV"]
    return mask


# The program travels in one netlink attribute whose nla_len is a u16 and holds its own
# 4-byte header; each port costs two 12-byte tests (S_EQ, D_EQ: op, port op, JMP), so
# the longest program, 24 bytes a port, fits (0xFFFF - 4) // 24 = 2730 ports.
MAX_FILTER_PORTS = (0xFFFF - NLATTR.size) // 24


def compile_ports(ports, negate: bool = False) -> bytes:
    """INET_DIAG_REQ_BYTECODE for "local port == P or remote port == P" over ``ports``
    (``negate``: neither port is any of them).

    Each test is an ``S_EQ``/``D_EQ`` op followed by an op whose ``no`` field holds the
    port in host order. A test that matches falls through (``yes`` = 8) into a ``JMP``
    whose ``no`` jumps to the end of the program: reaching the end exactly accepts. A
    test that fails skips that JMP (``no`` = 12) to the next test; the last test's ``no``
    jumps 4 bytes past the end, which rejects. Negated, every test has its JMP, which
    jumps 4 bytes past the end (a match rejects), and the last test's ``no`` lands on the
    end (no match accepts). The kernel's auditor walks the ``yes`` path, so every op is
    on it, and every ``no`` target is an op boundary or the end.

    >>> compile_ports([80]).hex()
    '0b080c000000500001040c000c080c0000005000'
    >>> compile_ports([80], negate=True).hex()
    '0b080c0000005000010414000c080c000000500001040800'
    """
    tests = []
    unique = dict.fromkeys(ports)
    if len(unique) > MAX_FILTER_PORTS:
        raise ValueError(f"at most {MAX_FILTER_PORTS} ports in a kernel filter, "
                         f"got {len(unique)}")
    for port in unique:
        if not 0 < port < 65536:
            raise ValueError(f"port {port} out of range 1-65535")
        tests += [(BC_S_EQ, port), (BC_D_EQ, port)]
    if not tests:
        return b""
    total = 12 * len(tests) - (0 if negate else 4)
    out = bytearray()
    for i, (code, port) in enumerate(tests):
        last = i == len(tests) - 1
        out += struct.pack("=BBH", code, 8, 12)
        out += struct.pack("=BBH", 0, 0, port)
        if negate:
            out += struct.pack("=BBH", BC_JMP, 4, total - len(out) + 4)
        elif not last:
            out += struct.pack("=BBH", BC_JMP, 4, total - len(out))
    assert len(out) == total
    return bytes(out)


def build_request(family: int, states_bits: int, bytecode: bytes = b"", seq: int = 1) -> bytes:
    """A SOCK_DIAG_BY_FAMILY dump request for TCP sockets of ``family``; for AF_UNSPEC
    a TCPDIAG_GETSOCK one, answered with both families' sockets from a single walk."""
    if family == socket.AF_UNSPEC:
        msg_type = TCPDIAG_GETSOCK
        payload = REQ_COMPAT.pack(family, 0, 0, 0, b"", states_bits, 0)
    else:
        msg_type = SOCK_DIAG_BY_FAMILY
        payload = REQ_V2.pack(family, socket.IPPROTO_TCP, 0, 0, states_bits, b"")
    if bytecode:
        attr_len = NLATTR.size + len(bytecode)
        payload += NLATTR.pack(attr_len, INET_DIAG_REQ_BYTECODE) + bytecode
        payload += b"\0" * (-attr_len % 4)
    header = NLMSGHDR.pack(
        NLMSG_HDRLEN + len(payload), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return header + payload


_RAW = struct.Struct("=BBBBHH16s16sIIIIIIII")  # inet_diag_msg, ports as native u16


class SocketRecord(tuple):
    """One socket of a dump, decoded from ``inet_diag_msg``.

    The tuple holds the message's fields as unpacked (ports still in wire order, the
    state as its TCP_* number, the cookie as two halves); the attributes below give
    them in usable form, so a dump builds one tuple per socket and nothing else.
    ``SocketRecord(family=2, state="LISTEN", sport=80, ...)`` builds one by hand.

    ``src``/``dst`` are formatted from the raw address bytes on access (an IPv4 address
    is the first 4 of the 16 bytes: ``7f 00 00 01`` -> ``127.0.0.1``). ``expires`` is in
    ms; for a TIME_WAIT minisocket it is the time left, ``timer`` is 3 and ``rqueue``,
    ``wqueue``, ``uid`` and ``inode`` are 0. For LISTEN, ``rqueue`` is the accept-queue
    length and ``wqueue`` the backlog; request sockets (SYN_RECV) have inode 0.
    """

    __slots__ = ()
    _fields = ("family", "state", "timer", "retrans", "sport", "dport", "src_raw", "dst_raw",
               "expires", "rqueue", "wqueue", "uid", "inode", "cookie")

    def __new__(cls, family: int, state: str, timer: int = 0, retrans: int = 0, sport: int = 0,
                dport: int = 0, src_raw: bytes = bytes(16), dst_raw: bytes = bytes(16),
                expires: int = 0, rqueue: int = 0, wqueue: int = 0, uid: int = 0,
                inode: int = 0, cookie: int = 0):
        return tuple.__new__(cls, (
            family, STATE_CODES[state], timer, retrans, PORT_ORDER[sport], PORT_ORDER[dport],
            src_raw, dst_raw, 0, cookie & 0xFFFFFFFF, cookie >> 32, expires, rqueue, wqueue,
            uid, inode))

    family = property(itemgetter(0))
    state_code = property(itemgetter(1))
    timer = property(itemgetter(2))
    retrans = property(itemgetter(3))
    src_raw = property(itemgetter(6))
    dst_raw = property(itemgetter(7))
    expires = property(itemgetter(11))
    rqueue = property(itemgetter(12))
    wqueue = property(itemgetter(13))
    uid = property(itemgetter(14))
    inode = property(itemgetter(15))

    @property
    def state(self) -> str:
        return STATE_NAMES_PADDED[self[1]]

    @property
    def sport(self) -> int:
        return PORT_ORDER[self[4]]

    @property
    def dport(self) -> int:
        return PORT_ORDER[self[5]]

    @property
    def cookie(self) -> int:
        return self[9] | (self[10] << 32)

    @property
    def src(self) -> str:
        return format_ip(self[0], self[6])

    @property
    def dst(self) -> str:
        return format_ip(self[0], self[7])

    @property
    def local(self) -> str:
        return format_endpoint(self[0], self[6], self.sport)

    @property
    def remote(self) -> str:
        return format_endpoint(self[0], self[7], self.dport)

    def _asdict(self) -> dict:
        return {name: getattr(self, name) for name in self._fields}

    def __repr__(self) -> str:
        return (f"SocketRecord(family={self[0]}, state={self.state!r}, local={self.local!r}, "
                f"remote={self.remote!r}, timer={self[2]}, expires={self[11]}, "
                f"rqueue={self[12]}, wqueue={self[13]}, inode={self[15]}, "
                f"cookie={self.cookie:#x})")

    def __getnewargs__(self):
        return tuple(getattr(self, name) for name in self._fields)


def format_ip(family: int, raw: bytes) -> str:
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    return socket.inet_ntop(socket.AF_INET6, raw)


def format_endpoint(family: int, raw: bytes, port: int) -> str:
    """``127.0.0.1:80`` or ``[::1]:80`` as in design.md."""
    if family == socket.AF_INET:
        return f"{socket.inet_ntop(socket.AF_INET, raw[:4])}:{port}"
    return f"[{socket.inet_ntop(socket.AF_INET6, raw)}]:{port}"


def decode_chunk(buf, length: int, append, result: ChunkResult) -> None:
    """Append a SocketRecord per inet_diag_msg in ``buf[:length]`` (the hot loop of dump).

    Same framing and error rules as ``walk``; kept separate because a function call per
    socket would cost a third of the decode.
    """
    off = 0
    header = NLH_LEN_TYPE_FLAGS.unpack_from
    body = _RAW.unpack_from
    make = tuple.__new__
    cls = SocketRecord
    while off + NLMSG_HDRLEN <= length:
        msg_len, msg_type, flags = header(buf, off)
        if (msg_type not in REPLY_TYPES or msg_len < SOCKET_MSG_LEN
                or off + msg_len > length):
            break  # DONE, an error, or something unusual: the careful walker below
        append(make(cls, body(buf, off + NLMSG_HDRLEN)))
        if flags & NLM_F_DUMP_INTR:
            result.interrupted = True
        off += (msg_len + 3) & ~3
    if off < length:
        walk(memoryview(buf)[off:length], length - off,
             lambda b, o: append(decode_msg(b, o)), result)


def decode_msg(buf, off: int) -> SocketRecord:
    """Decode the inet_diag_msg at ``off`` (just past its nlmsghdr)."""
    return tuple.__new__(SocketRecord, _RAW.unpack_from(buf, off))


class DumpError(Exception):
    """An NLMSG_ERROR reply; ``errno`` is positive."""

    def __init__(self, errno: int):
        super().__init__(errno)
        self.errno = errno


class ChunkResult:
    """What one received buffer held besides sockets: end of dump, interruption."""

    __slots__ = ("done", "interrupted")

    def __init__(self) -> None:
        self.done = False
        self.interrupted = False


def walk(buf, length: int, on_socket, result: ChunkResult) -> None:
    """Call ``on_socket(buf, off)`` for each inet_diag_msg in ``buf[:length]``.

    Sets ``result.done`` at NLMSG_DONE and ``result.interrupted`` on NLM_F_DUMP_INTR;
    raises DumpError on an NLMSG_ERROR carrying a non-zero error, and DumpError(EPROTO)
    on a message that cannot be one (shorter than its header or its struct, or running
    past the end of the buffer: the kernel sends whole messages in a datagram).
    """
    off = 0
    unpack = NLH_LEN_TYPE_FLAGS.unpack_from
    while off + NLMSG_HDRLEN <= length:
        msg_len, msg_type, flags = unpack(buf, off)
        if msg_len < NLMSG_HDRLEN or off + msg_len > length:
            raise DumpError(EPROTO)  # a malformed message: it would loop, or read past
        if flags & NLM_F_DUMP_INTR:
            result.interrupted = True
        if msg_type in REPLY_TYPES:
            if msg_len < SOCKET_MSG_LEN:
                raise DumpError(EPROTO)
            on_socket(buf, off + NLMSG_HDRLEN)
        elif msg_type == NLMSG_DONE:
            # A dump that fails once started (no handler for the protocol: ENOENT)
            # reports its error in the int that follows NLMSG_DONE's header.
            if msg_len >= NLMSG_HDRLEN + 4:
                (err,) = NLMSG_ERRHDR.unpack_from(buf, off + NLMSG_HDRLEN)
                if err < 0:
                    raise DumpError(-err)
            result.done = True
            return
        elif msg_type == NLMSG_ERROR:
            if msg_len < NLMSG_HDRLEN + NLMSG_ERRHDR.size:
                raise DumpError(EPROTO)
            (err,) = NLMSG_ERRHDR.unpack_from(buf, off + NLMSG_HDRLEN)
            if err:
                raise DumpError(-err)
            result.done = True
            return
        off += (msg_len + 3) & ~3


_INTR_BIT = bytes(1 if b & NLM_F_DUMP_INTR else 0 for b in range(256))


def uniform_run(view: bytes, length: int, min_count: int) -> tuple[int, int]:
    """(bytes covered, stride) of the leading run of equal-size socket messages in
    ``view[:length]``, or (0, 0) when there are fewer than ``min_count`` of them all the
    way (a shorter uniform prefix is not worth finding).

    A dump of TIME_WAIT minisockets is a row of identical-size messages: when every
    ``stride``-th byte says "a socket's message (of the type the first one has) of
    ``stride`` bytes", a field at offset ``o`` of every socket is ``view[o:end:stride]``,
    counted at C speed with no Python step per socket.
    """
    stride = (int.from_bytes(view[0:4], "little") + 3) & ~3
    if stride < NLMSG_HDRLEN + INET_DIAG_MSG_LEN or stride > 0xFFFF:
        return 0, 0
    k = length // stride
    if k < min_count or view[4] not in REPLY_TYPES:
        return 0, 0
    end = k * stride
    expected = {0: stride & 0xFF, 1: stride >> 8, 2: 0, 3: 0, 4: view[4], 5: 0}
    for at, value in expected.items():
        if view[at:end:stride] != bytes((value,)) * k:
            return 0, 0
    return end, stride


def _count_uniform(buf, length: int, counts: list[int], result: ChunkResult) -> tuple[int, int]:
    """Count the states of the leading uniform run (``uniform_run``): the state bytes
    are ``view[17::stride]``. Returns (bytes covered, FIN_WAIT2 minisockets)."""
    view = buf if isinstance(buf, bytes) else bytes(buf[:length])
    end, stride = uniform_run(view, length, 16)
    if not end:
        return 0, 0
    if view[6:end:stride].translate(_INTR_BIT).count(1):
        result.interrupted = True
    states = view[NLMSG_HDRLEN + 1:end:stride]
    for code in set(states):
        counts[code] += states.count(code)
    fw2_mini = 0
    if TCP_FIN_WAIT2 in states:
        timers = view[NLMSG_HDRLEN + 2:end:stride]
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
            state = buf[off + 17]
            counts[state] += 1
            if state == TCP_FIN_WAIT2 and buf[off + 18] == TIMER_TIME_WAIT:
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
