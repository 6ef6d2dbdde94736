"""Netlink framing: the message header, the error and end-of-dump payloads, attributes.

Declared from include/uapi/linux/netlink.h; field names are the kernel's. A dump reply
is a row of messages, each ``nlmsghdr`` then its payload, padded to 4 bytes
(NLMSG_ALIGN); a message's payload may end with attributes (``struct nlattr``, the
same layout as rtnetlink's ``rtattr``): a 4-byte header, then ``nla_len - 4`` bytes,
the next one 4-aligned.

    >>> NLMSGHDR.size, NLMSGERR.size, NLATTR.size
    (16, 20, 4)
    >>> blob = bytes.fromhex("0500080000000000" "0c0015000100000000000000")
    >>> [(t, bytes(p).hex()) for t, p in attributes(blob, 0, len(blob))]
    [(8, '00'), (21, '0100000000000000')]
"""

from __future__ import annotations

import sys

from harness.kernel.cstruct import CStruct

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLA_TYPE_MASK = 0x3FFF  # nla_type without NLA_F_NESTED and NLA_F_NET_BYTEORDER

NLMSGHDR = CStruct("nlmsghdr", [
    ("nlmsg_len", "I"),
    ("nlmsg_type", "H"),
    ("nlmsg_flags", "H"),
    ("nlmsg_seq", "I"),
    ("nlmsg_pid", "I"),
])
NLMSG_HDRLEN = NLMSGHDR.size
# The payload of NLMSG_ERROR: the error (0 acknowledges) and the request's header.
NLMSGERR = CStruct("nlmsgerr", [("error", "i"), ("msg", NLMSGHDR)])
# The payload of NLMSG_DONE: netlink_dump_done() copies the dump's return value (an
# int: 0, or a negative errno when the dump failed after it started) after the header.
NLMSG_DONE_PAYLOAD = CStruct("nlmsg_done payload", [("dump_done_errno", "i")])
NLATTR = CStruct("nlattr", [("nla_len", "H"), ("nla_type", "H")])

# What the hot loops unpack: length, type and flags of a header; an error's int.
NLH_LEN_TYPE_FLAGS = NLMSGHDR.head("nlmsg_flags")
NLMSG_ERRNO = NLMSGERR.head("error")


def attributes(buf, off: int, end: int):
    """Yield ``(nla_type, payload)`` for each attribute in ``buf[off:end]``, the payload
    a memoryview (no copy). Stops, as the kernel's nla_ok() does, at an attribute whose
    length is shorter than its header or runs past ``end``."""
    view = memoryview(buf)
    header = NLATTR.unpack_from
    hdrlen = NLATTR.size
    while off + hdrlen <= end:
        nla_len, nla_type = header(buf, off)
        if nla_len < hdrlen or off + nla_len > end:
            return
        yield nla_type & NLA_TYPE_MASK, view[off + hdrlen:off + nla_len]
        off += (nla_len + 3) & ~3


def attribute(buf, off: int, end: int, wanted: int):
    """The payload of the first attribute of type ``wanted`` in ``buf[off:end]``, or None."""
    for nla_type, payload in attributes(buf, off, end):
        if nla_type == wanted:
            return payload
    return None


def pack_attribute(nla_type: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes (what a request carries)."""
    length = NLATTR.size + len(payload)
    return NLATTR.pack(length, nla_type) + payload + bytes(-length % 4)


_TYPE = NLMSGHDR.offset["nlmsg_type"]
_DONE_LEN = NLMSG_HDRLEN + NLMSG_DONE_PAYLOAD.size


def ends_with_done(buf, length: int) -> bool:
    """Whether ``buf[:length]`` ends with an NLMSG_DONE message (the last buffer of a
    dump does), looked at without walking the messages before it: what a benchmark's
    bare dump, which receives and discards, needs to know when to stop."""
    at = length - _DONE_LEN + _TYPE
    return at >= _TYPE and int.from_bytes(buf[at:at + 2], sys.byteorder) == NLMSG_DONE
