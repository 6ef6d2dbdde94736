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
struct inet_diag_msg       { u8 idiag_family; u8 idiag_state; u8 idiag_timer;
                             u8 idiag_retrans; struct inet_diag_sockid id;
                             u32 idiag_expires; u32 idiag_rqueue; u32 idiag_wqueue;
                             u32 idiag_uid; u32 idiag_inode; }                     72
struct inet_diag_bc_op     { u8 code; u8 yes; u16 no; }                            4

Ports are big-endian on the wire (``idiag_sport`` bytes ``1f 90`` are port 8080); all
other integers are host order. A socket's cookie is ``cookie[0] | cookie[1] << 32``.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

# include/uapi/linux/sock_diag.h, netlink.h
SOCK_DIAG_BY_FAMILY = 20
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
NLATTR = struct.Struct("=HH")
# inet_diag_msg in two parts: the first 8 bytes hold the big-endian ports.
MSG_HEAD = struct.Struct(">BBBBHH")
MSG_TAIL = struct.Struct("=16s16sIIIIIIII")
INET_DIAG_MSG_LEN = 72
NLMSG_ERRHDR = struct.Struct("=i")


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


def compile_ports(ports) -> bytes:
    """INET_DIAG_REQ_BYTECODE for "local port == P or remote port == P" over ``ports``.

    Each test is an ``S_EQ``/``D_EQ`` op followed by an op whose ``no`` field holds the
    port in host order. A test that matches falls through (``yes`` = 8) into a ``JMP``
    whose ``no`` jumps to the end of the program: reaching the end exactly accepts. A
    test that fails skips that JMP (``no`` = 12) to the next test; the last test's ``no``
    jumps 4 bytes past the end, which rejects. The kernel's auditor walks the ``yes``
    path, so every op is on it, and every ``no`` target is an op boundary or the end.

    >>> compile_ports([80]).hex()
    '0b080c000000500001040c000c080c0000005000'
    """
    tests = []
    for port in dict.fromkeys(ports):
        if not 0 < port < 65536:
            raise ValueError(f"port {port} out of range 1-65535")
        tests += [(BC_S_EQ, port), (BC_D_EQ, port)]
    if not tests:
        return b""
    total = 12 * len(tests) - 4
    out = bytearray()
    for i, (code, port) in enumerate(tests):
        last = i == len(tests) - 1
        out += struct.pack("=BBH", code, 8, 12)
        out += struct.pack("=BBH", 0, 0, port)
        if not last:
            out += struct.pack("=BBH", BC_JMP, 4, total - len(out))
    assert len(out) == total
    return bytes(out)


def build_request(family: int, states_bits: int, bytecode: bytes = b"", seq: int = 1) -> bytes:
    """A SOCK_DIAG_BY_FAMILY dump request for TCP sockets of ``family``."""
    payload = REQ_V2.pack(family, socket.IPPROTO_TCP, 0, 0, states_bits, b"")
    if bytecode:
        attr_len = NLATTR.size + len(bytecode)
        payload += NLATTR.pack(attr_len, INET_DIAG_REQ_BYTECODE) + bytecode
        payload += b"\0" * (-attr_len % 4)
    header = NLMSGHDR.pack(
        NLMSG_HDRLEN + len(payload), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return header + payload


class SocketRecord(NamedTuple):
    """One socket of a dump, decoded from ``inet_diag_msg``.

    ``src``/``dst`` are formatted from the raw address bytes on access (an IPv4 address
    is the first 4 of the 16 bytes: ``7f 00 00 01`` -> ``127.0.0.1``). ``expires`` is in
    ms; for a TIME_WAIT minisocket it is the time left, ``timer`` is 3 and ``rqueue``,
    ``wqueue``, ``uid`` and ``inode`` are 0. For LISTEN, ``rqueue`` is the accept-queue
    length and ``wqueue`` the backlog; request sockets (SYN_RECV) have inode 0.
    """

    family: int
    state: str
    timer: int
    retrans: int
    sport: int
    dport: int
    src_raw: bytes
    dst_raw: bytes
    expires: int
    rqueue: int
    wqueue: int
    uid: int
    inode: int
    cookie: int

    @property
    def src(self) -> str:
        return format_ip(self.family, self.src_raw)

    @property
    def dst(self) -> str:
        return format_ip(self.family, self.dst_raw)

    @property
    def local(self) -> str:
        return format_endpoint(self.family, self.src_raw, self.sport)

    @property
    def remote(self) -> str:
        return format_endpoint(self.family, self.dst_raw, self.dport)


def format_ip(family: int, raw: bytes) -> str:
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    return socket.inet_ntop(socket.AF_INET6, raw)


def format_endpoint(family: int, raw: bytes, port: int) -> str:
    """``127.0.0.1:80`` or ``[::1]:80`` as in design.md."""
    if family == socket.AF_INET:
        return f"{socket.inet_ntop(socket.AF_INET, raw[:4])}:{port}"
    return f"[{socket.inet_ntop(socket.AF_INET6, raw)}]:{port}"


def decode_msg(buf, off: int) -> SocketRecord:
    """Decode the inet_diag_msg at ``off`` (just past its nlmsghdr)."""
    family, state, timer, retrans, sport, dport = MSG_HEAD.unpack_from(buf, off)
    src, dst, _ifindex, c0, c1, expires, rq, wq, uid, inode = MSG_TAIL.unpack_from(buf, off + 8)
    return SocketRecord(
        family, STATE_NAMES[state] if state < 13 else "UNKNOWN", timer, retrans, sport, dport,
        src, dst, expires, rq, wq, uid, inode, c0 | (c1 << 32),
    )


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
    raises DumpError on an NLMSG_ERROR carrying a non-zero error.
    """
    off = 0
    unpack = NLH_LEN_TYPE_FLAGS.unpack_from
    while off + NLMSG_HDRLEN <= length:
        msg_len, msg_type, flags = unpack(buf, off)
        if msg_len < NLMSG_HDRLEN:
            raise DumpError(71)  # EPROTO: a malformed message would loop forever
        if flags & NLM_F_DUMP_INTR:
            result.interrupted = True
        if msg_type == SOCK_DIAG_BY_FAMILY:
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
            (err,) = NLMSG_ERRHDR.unpack_from(buf, off + NLMSG_HDRLEN)
            if err:
                raise DumpError(-err)
            result.done = True
            return
        off += (msg_len + 3) & ~3


def count_chunk(buf, length: int, counts: list[int], result: ChunkResult) -> int:
    """Add each socket's state to ``counts`` (indexed by TCP_* code) without objects.

    Returns how many FIN_WAIT2 *minisockets* (timer 3) were seen: /proc/net/sockstat's
    ``tw`` counts those as well as TIME_WAIT.
    """
    off = 0
    fw2_mini = 0
    unpack = NLH_LEN_TYPE_FLAGS.unpack_from
    while off + NLMSG_HDRLEN <= length:
        msg_len, msg_type, flags = unpack(buf, off)
        if msg_type == SOCK_DIAG_BY_FAMILY:
            state = buf[off + 17]
            counts[state] += 1
            if state == TCP_FIN_WAIT2 and buf[off + 18] == TIMER_TIME_WAIT:
                fw2_mini += 1
        else:
            # Rare messages go through the careful walker (errors, DONE, bad lengths).
            walk(buf[off:length], length - off, _ignore, result)
            if result.done:
                return fw2_mini
        if flags & NLM_F_DUMP_INTR:
            result.interrupted = True
        if msg_len < NLMSG_HDRLEN:
            raise DumpError(71)
        off += (msg_len + 3) & ~3
    return fw2_mini


def _ignore(buf, off) -> None:
    return None
