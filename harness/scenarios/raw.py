"""Hand-made TCP segments sent from a raw socket inside a lab host: what the kernel's
own sockets would never send (a stale SYN, a SYN below a TIME_WAIT's window, an RST
aimed at a TIME_WAIT). IPv4 only; no options."""

from __future__ import annotations

import socket
import struct

FLAGS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10}


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def segment(src: str, dst: str, sport: int, dport: int, seq: int, ack: int = 0,
            flags: str = "SYN", window: int = 64240) -> bytes:
    """A bare TCP header (no options, no data) with its checksum over the IPv4
    pseudo-header; ``flags`` like "SYN" or "RST,ACK"."""
    bits = sum(FLAGS[f] for f in flags.split(","))
    header = struct.pack("!HHIIBBHHH", sport, dport, seq % 2**32, ack % 2**32, 5 << 4, bits,
                         window, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(
        "!BBH", 0, socket.IPPROTO_TCP, len(header))
    return header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]


def send(src: str, dst: str, sport: int, dport: int, seq: int, ack: int = 0,
         flags: str = "SYN") -> None:
    """Send one hand-made segment; run it inside the sending host (``host.run(send, ...)``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP) as raw:
        raw.sendto(segment(src, dst, sport, dport, seq, ack, flags), (dst, 0))
