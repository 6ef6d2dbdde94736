"""inet_diag wire format: the dump request, the filter bytecode and the reply decode.

Each struct is declared once below as a table of ``(kernel_field_name, format)``
(cstruct.CStruct), from include/uapi/linux/inet_diag.h (netlink framing: netlink.py);
sizes, offsets and accessors are derived from the tables, and tests/kernel/
test_struct_tables.py holds them to the uapi header's values (inet_diag_msg is 72
bytes, idiag_inode at 68, ...). Everything here is pure: bytes in, values out, so it is
tested on recorded dumps without a kernel.

The legacy request (``struct inet_diag_req``, message type TCPDIAG_GETSOCK) is what
``build_request(AF_UNSPEC, ...)`` sends: the kernel answers it with the sockets of both
families in one walk of its hash tables (inet_diag_dump_compat sets AF_UNSPEC), where
SOCK_DIAG_BY_FAMILY needs a walk per family (docs/kernel-notes.md). Its replies are the
same inet_diag_msg, with the request's message type.

Ports are big-endian on the wire (``idiag_sport`` bytes ``1f 90`` are port 8080); all
other integers are host order. A socket's cookie is ``cookie[0] | cookie[1] << 32``.
After the inet_diag_msg come attributes (netlink.attributes): for a full socket
(not a TIME_WAIT or request minisocket) the kernel always sends INET_DIAG_CGROUP_ID,
the u64 id of the socket's cgroup v2 (inet_diag_msg_attrs_fill, Linux >= 5.9, with
CONFIG_SOCK_CGROUP_DATA): no ``idiag_ext`` bit asks for it; ``ss --cgroup`` only
decides whether to print it.
"""

from __future__ import annotations

import socket
from enum import IntEnum

from harness.kernel.cstruct import CStruct
from harness.kernel.endpoints import endpoint
from harness.kernel.netlink import (
    NLATTR,
    NLH_LEN_TYPE_FLAGS,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_DONE_PAYLOAD,
    NLMSG_ERRNO,
    NLMSG_ERROR,
    NLMSG_HDRLEN,
    NLMSGHDR,
    attribute,
    pack_attribute,
)
from harness.kernel.tcp_states import STATE_CODES, STATE_NAMES

# include/uapi/linux/sock_diag.h, netlink.h
SOCK_DIAG_BY_FAMILY = 20
TCPDIAG_GETSOCK = 18  # include/uapi/linux/inet_diag.h, the legacy (compat) request
REPLY_TYPES = (SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK)  # a socket's message in a dump
INET_DIAG_REQ_BYTECODE = 1  # the request's attribute: enum { INET_DIAG_REQ_NONE, ... }

INET_DIAG_SOCKID = CStruct("inet_diag_sockid", [
    ("idiag_sport", "H"),  # be16
    ("idiag_dport", "H"),  # be16
    ("idiag_src", "16s"),  # be32[4]; IPv4 in the first 4 bytes
    ("idiag_dst", "16s"),
    ("idiag_if", "I"),
    ("idiag_cookie", "2I"),
])
INET_DIAG_REQ_V2 = CStruct("inet_diag_req_v2", [
    ("sdiag_family", "B"),
    ("sdiag_protocol", "B"),
    ("idiag_ext", "B"),
    ("pad", "B"),
    ("idiag_states", "I"),
    ("id", INET_DIAG_SOCKID),
])
INET_DIAG_REQ = CStruct("inet_diag_req", [  # the legacy request, TCPDIAG_GETSOCK
    ("idiag_family", "B"),
    ("idiag_src_len", "B"),
    ("idiag_dst_len", "B"),
    ("idiag_ext", "B"),
    ("id", INET_DIAG_SOCKID),
    ("idiag_states", "I"),
    ("idiag_dbs", "I"),
])
INET_DIAG_MSG = CStruct("inet_diag_msg", [
    ("idiag_family", "B"),
    ("idiag_state", "B"),
    ("idiag_timer", "B"),
    ("idiag_retrans", "B"),
    ("id", INET_DIAG_SOCKID),
    ("idiag_expires", "I"),
    ("idiag_rqueue", "I"),
    ("idiag_wqueue", "I"),
    ("idiag_uid", "I"),
    ("idiag_inode", "I"),
])
# The filter program (INET_DIAG_REQ_BYTECODE) is a row of ops; a condition's operand
# follows its op: a port test's port is in the ``no`` of a second op, a cgroup test's
# id is a u64 (inet_diag_bc_run, net/ipv4/inet_diag.c).
INET_DIAG_BC_OP = CStruct("inet_diag_bc_op", [("code", "B"), ("yes", "B"), ("no", "H")])
CGROUP_COND = CStruct("INET_DIAG_BC_CGROUP_COND operand", [("cgroup_id", "Q")])


class Attr(IntEnum):
    """The reply's attributes (include/uapi/linux/inet_diag.h: enum { INET_DIAG_NONE, ...
    }); request one with bit ``1 << (a - 1)`` of ``idiag_ext`` where that applies."""

    INET_DIAG_NONE = 0
    INET_DIAG_MEMINFO = 1
    INET_DIAG_INFO = 2
    INET_DIAG_VEGASINFO = 3
    INET_DIAG_CONG = 4
    INET_DIAG_TOS = 5
    INET_DIAG_TCLASS = 6
    INET_DIAG_SKMEMINFO = 7
    INET_DIAG_SHUTDOWN = 8
    INET_DIAG_DCTCPINFO = 9
    INET_DIAG_PROTOCOL = 10
    INET_DIAG_SKV6ONLY = 11
    INET_DIAG_LOCALS = 12
    INET_DIAG_PEERS = 13
    INET_DIAG_PAD = 14
    INET_DIAG_MARK = 15
    INET_DIAG_BBRINFO = 16
    INET_DIAG_CLASS_ID = 17
    INET_DIAG_MD5SIG = 18
    INET_DIAG_ULP_INFO = 19
    INET_DIAG_SK_BPF_STORAGES = 20
    INET_DIAG_CGROUP_ID = 21
    INET_DIAG_SOCKOPT = 22


INET_DIAG_CGROUP_ID = int(Attr.INET_DIAG_CGROUP_ID)

STATE_NAMES_PADDED = STATE_NAMES + ("UNKNOWN",) * (256 - len(STATE_NAMES))
# Ports are big-endian on the wire and unpacked as native u16: PORT_ORDER[native] is the
# port (a lookup is cheaper than two shifts). It is the big-endian bytes of 0..65535 read
# as native u16s: 1.5 ms at import, where a Python loop over 65,536 ports took 8-15 ms.
_PORTS_BE = bytearray(2 * 65536)
_PORTS_BE[0::2] = b"".join(bytes((high,)) * 256 for high in range(256))
_PORTS_BE[1::2] = bytes(range(256)) * 256
PORT_ORDER = tuple(memoryview(_PORTS_BE).cast("H"))
del _PORTS_BE
ALL_STATES_MASK = 0xFFF
TCP_TIME_WAIT = 6
TCP_FIN_WAIT2 = 5
TIMER_TIME_WAIT = 3  # idiag_timer 3: the minisocket's TIME_WAIT (or FIN_WAIT2) timer

# include/uapi/linux/inet_diag.h: enum { INET_DIAG_BC_NOP, ... }
BC_JMP = 1
BC_S_EQ = 11
BC_D_EQ = 12
BC_CGROUP_COND = 13

SOCKET_MSG_LEN = NLMSG_HDRLEN + INET_DIAG_MSG.size  # the shortest socket message
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
_OP = INET_DIAG_BC_OP.size


def _any_of(tests, negate: bool, tail: int) -> bytes:
    """The program "one of ``tests`` matches" (``negate``: none does), each test a
    condition code and its operand bytes, followed by ``tail`` bytes of another program.

    A test that matches falls through (``yes``: past its operand) into a ``JMP`` whose
    ``no`` jumps to the end of this program: reaching it accepts (or runs the next
    program). A test that fails skips that JMP to the next test; the last test's ``no``
    jumps 4 bytes past the end of everything, which rejects. Negated, every test has its
    JMP, which rejects, and the last test's ``no`` lands on the end (no match accepts).
    The kernel's auditor walks the ``yes`` path, so every op is on it, and every ``no``
    target is an op boundary or past the end.
    """
    if not tests:
        return b""
    total = sum(_OP + len(operand) for _code, operand in tests) + _OP * (len(tests) - 1)
    total += _OP if negate else 0
    out = bytearray()
    pack = INET_DIAG_BC_OP.pack
    for i, (code, operand) in enumerate(tests):
        size = _OP + len(operand)
        last = i == len(tests) - 1
        fail = size + (tail + _OP if last and not negate else _OP)
        out += pack(code, size, fail) + operand
        if negate:
            out += pack(BC_JMP, _OP, total - len(out) + tail + _OP)
        elif not last:
            out += pack(BC_JMP, _OP, total - len(out))
    assert len(out) == total
    return bytes(out)


def compile_ports(ports, negate: bool = False, tail: int = 0) -> bytes:
    """INET_DIAG_REQ_BYTECODE for "local port == P or remote port == P" over ``ports``
    (``negate``: neither port is any of them); ``tail``: bytes of a program that follows
    (compile_filter). A test is an ``S_EQ``/``D_EQ`` op and an op whose ``no`` field
    holds the port in host order.

    >>> compile_ports([80]).hex()
    '0b080c000000500001040c000c080c0000005000'
    >>> compile_ports([80], negate=True).hex()
    '0b080c0000005000010414000c080c000000500001040800'
    """
    unique = dict.fromkeys(ports)
    if len(unique) > MAX_FILTER_PORTS:
        raise ValueError(f"at most {MAX_FILTER_PORTS} ports in a kernel filter, "
                         f"got {len(unique)}")
    tests = []
    for port in unique:
        if not 0 < port < 65536:
            raise ValueError(f"port {port} out of range 1-65535")
        operand = INET_DIAG_BC_OP.pack(0, 0, port)
        tests += [(BC_S_EQ, operand), (BC_D_EQ, operand)]
    return _any_of(tests, negate, tail)


def compile_cgroups(cgroup_ids) -> bytes:
    """INET_DIAG_REQ_BYTECODE for "the socket's cgroup v2 id is one of ``cgroup_ids``"
    (INET_DIAG_BC_CGROUP_COND, then the u64 id). The kernel compares a full socket's id
    exactly (a cgroup's descendants have ids of their own) and gives TIME_WAIT and
    request minisockets id 0, so they never match.

    >>> compile_cgroups([7]).hex()
    '0d0c10000700000000000000'
    """
    tests = []
    for cgroup_id in dict.fromkeys(cgroup_ids):
        if not 0 < cgroup_id < 1 << 64:
            raise ValueError(f"cgroup id {cgroup_id} out of range")
        tests.append((BC_CGROUP_COND, CGROUP_COND.pack(cgroup_id)))
    return _any_of(tests, False, 0)


def compile_filter(ports=(), exclude_ports: bool = False, cgroup_ids=()) -> bytes:
    """The request's whole program: the port test (compile_ports) and, if any, the
    cgroup test (compile_cgroups), both required (empty: no filter)."""
    cgroups = compile_cgroups(cgroup_ids)
    return compile_ports(ports, exclude_ports, len(cgroups)) + cgroups


def build_request(family: int, states_bits: int, bytecode: bytes = b"", seq: int = 1) -> bytes:
    """A SOCK_DIAG_BY_FAMILY dump request for TCP sockets of ``family``; for AF_UNSPEC
    a TCPDIAG_GETSOCK one, answered with both families' sockets from a single walk."""
    if family == socket.AF_UNSPEC:
        msg_type = TCPDIAG_GETSOCK
        payload = INET_DIAG_REQ.build(idiag_family=family, idiag_states=states_bits)
    else:
        msg_type = SOCK_DIAG_BY_FAMILY
        payload = INET_DIAG_REQ_V2.build(sdiag_family=family, sdiag_protocol=socket.IPPROTO_TCP,
                                         idiag_states=states_bits)
    if bytecode:
        payload += pack_attribute(INET_DIAG_REQ_BYTECODE, bytecode)
    header = NLMSGHDR.pack(
        NLMSG_HDRLEN + len(payload), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return header + payload


_MSG = INET_DIAG_MSG
_CGROUP = _MSG.items  # where a record that carries its cgroup id holds it
_NLMSG_LEN = NLMSGHDR.head("nlmsg_len")


def _field(name: str) -> property:
    return property(_MSG.getter(name))


def _port(name: str) -> property:
    at = _MSG.index[name]
    return property(lambda self: PORT_ORDER[self[at]])


def _state(name: str) -> property:
    at = _MSG.index[name]
    return property(lambda self: STATE_NAMES_PADDED[self[at]])


def _cookie(name: str) -> property:
    at = _MSG.index[name]
    return property(lambda self: self[at] | (self[at + 1] << 32))


def _address(name: str) -> property:
    at = _MSG.index[name]
    family = _MSG.index["idiag_family"]
    return property(lambda self: format_ip(self[family], self[at]))


def _endpoint(addr: str, port: str) -> property:
    family, a, p = _MSG.index["idiag_family"], _MSG.index[addr], _MSG.index[port]
    return property(lambda self: endpoint(format_ip(self[family], self[a]),
                                          PORT_ORDER[self[p]]))


class SocketRecord(tuple):
    """One socket of a dump, decoded from ``inet_diag_msg``.

    The tuple holds the message's fields as unpacked (INET_DIAG_MSG's order: ports still
    in wire order, the state as its TCP_* number, the cookie as two halves), and the
    socket's cgroup id after them when the dump asked for it; the attributes below give
    them in usable form, so a dump builds one tuple per socket and nothing else.
    ``SocketRecord(family=2, state="LISTEN", sport=80, ...)`` builds one by hand.

    ``src``/``dst`` are formatted from the raw address bytes on access (an IPv4 address
    is the first 4 of the 16 bytes: ``7f 00 00 01`` -> ``127.0.0.1``). ``expires`` is in
    ms; for a TIME_WAIT minisocket it is the time left, ``timer`` is 3 and ``rqueue``,
    ``wqueue``, ``uid`` and ``inode`` are 0. For LISTEN, ``rqueue`` is the accept-queue
    length and ``wqueue`` the backlog; request sockets (SYN_RECV) have inode 0.
    ``cgroup_id`` is None unless the dump was asked for it (``cgroup=True``), and for
    minisockets, which have none.
    """

    __slots__ = ()
    _fields = ("family", "state", "timer", "retrans", "sport", "dport", "src_raw", "dst_raw",
               "expires", "rqueue", "wqueue", "uid", "inode", "cookie", "cgroup_id")

    def __new__(cls, family: int, state: str, timer: int = 0, retrans: int = 0, sport: int = 0,
                dport: int = 0, src_raw: bytes = bytes(16), dst_raw: bytes = bytes(16),
                expires: int = 0, rqueue: int = 0, wqueue: int = 0, uid: int = 0,
                inode: int = 0, cookie: int = 0, cgroup_id: int | None = None):
        values = _MSG.values(
            idiag_family=family, idiag_state=STATE_CODES[state], idiag_timer=timer,
            idiag_retrans=retrans, idiag_sport=PORT_ORDER[sport], idiag_dport=PORT_ORDER[dport],
            idiag_src=src_raw, idiag_dst=dst_raw, idiag_cookie=(cookie & 0xFFFFFFFF, cookie >> 32),
            idiag_expires=expires, idiag_rqueue=rqueue, idiag_wqueue=wqueue, idiag_uid=uid,
            idiag_inode=inode)
        return tuple.__new__(cls, values if cgroup_id is None else (*values, cgroup_id))

    family = _field("idiag_family")
    state_code = _field("idiag_state")
    timer = _field("idiag_timer")
    retrans = _field("idiag_retrans")
    src_raw = _field("idiag_src")
    dst_raw = _field("idiag_dst")
    expires = _field("idiag_expires")
    rqueue = _field("idiag_rqueue")
    wqueue = _field("idiag_wqueue")
    uid = _field("idiag_uid")
    inode = _field("idiag_inode")
    sport = _port("idiag_sport")
    dport = _port("idiag_dport")
    local = _endpoint("idiag_src", "idiag_sport")
    remote = _endpoint("idiag_dst", "idiag_dport")

    state = _state("idiag_state")
    cookie = _cookie("idiag_cookie")
    src = _address("idiag_src")
    dst = _address("idiag_dst")

    @property
    def cgroup_id(self) -> int | None:
        return self[_CGROUP] if len(self) > _CGROUP else None

    def _asdict(self) -> dict:
        return {name: getattr(self, name) for name in self._fields}

    def __repr__(self) -> str:
        return (f"SocketRecord(family={self.family}, state={self.state!r}, "
                f"local={self.local!r}, remote={self.remote!r}, timer={self.timer}, "
                f"expires={self.expires}, rqueue={self.rqueue}, wqueue={self.wqueue}, "
                f"inode={self.inode}, cookie={self.cookie:#x}"
                + ("" if self.cgroup_id is None else f", cgroup_id={self.cgroup_id}") + ")")

    def __getnewargs__(self):
        return tuple(getattr(self, name) for name in self._fields)


def format_ip(family: int, raw: bytes) -> str:
    """The address of ``idiag_src``/``idiag_dst`` bytes (IPv4: the first 4)."""
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    return socket.inet_ntop(socket.AF_INET6, raw)


def decode_chunk(buf, length: int, append, result: ChunkResult) -> None:
    """Append a SocketRecord per inet_diag_msg in ``buf[:length]`` (the hot loop of dump).

    Same framing and error rules as ``walk``; kept separate because a function call per
    socket would cost a third of the decode.
    """
    off = 0
    header = NLH_LEN_TYPE_FLAGS.unpack_from
    body = _MSG.unpack_from
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


def decode_chunk_cgroup(buf, length: int, append, result: ChunkResult) -> None:
    """``decode_chunk`` whose records carry ``cgroup_id`` (INET_DIAG_CGROUP_ID)."""
    walk(buf, length, lambda b, o: append(decode_msg_cgroup(b, o)), result)


def decode_msg(buf, off: int) -> SocketRecord:
    """Decode the inet_diag_msg at ``off`` (just past its nlmsghdr)."""
    return tuple.__new__(SocketRecord, _MSG.unpack_from(buf, off))


def cgroup_id(buf, off: int) -> int | None:
    """The INET_DIAG_CGROUP_ID of the socket message whose inet_diag_msg is at ``off``
    (None: the message has none, as a minisocket's has not)."""
    (msg_len,) = _NLMSG_LEN.unpack_from(buf, off - NLMSG_HDRLEN)
    payload = attribute(buf, off + _MSG.size, off - NLMSG_HDRLEN + msg_len, INET_DIAG_CGROUP_ID)
    if payload is None or len(payload) < CGROUP_COND.size:
        return None
    return CGROUP_COND.unpack_from(payload)[0]


def decode_msg_cgroup(buf, off: int) -> SocketRecord:
    """``decode_msg``, the record carrying the message's cgroup id."""
    return tuple.__new__(SocketRecord, (*_MSG.unpack_from(buf, off), cgroup_id(buf, off)))


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
            if msg_len >= NLMSG_HDRLEN + NLMSG_DONE_PAYLOAD.size:
                (err,) = NLMSG_DONE_PAYLOAD.unpack_from(buf, off + NLMSG_HDRLEN)
                if err < 0:
                    raise DumpError(-err)
            result.done = True
            return
        elif msg_type == NLMSG_ERROR:
            if msg_len < NLMSG_HDRLEN + NLMSG_ERRNO.size:
                raise DumpError(EPROTO)
            (err,) = NLMSG_ERRNO.unpack_from(buf, off + NLMSG_HDRLEN)
            if err:
                raise DumpError(-err)
            result.done = True
            return
        off += (msg_len + 3) & ~3
