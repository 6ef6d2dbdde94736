"""Decode one Ethernet frame carrying TCP over IPv4 or IPv6 (the pure half of capture).

Wire layouts (all multi-byte fields big endian, network order):
- Ethernet II: dst[6] src[6] ethertype(u16); 0x8100 VLAN tags are skipped.
- IPv4 (RFC 791): version/IHL, ..., total length at 2, fragment offset at 6,
  protocol at 9, src at 12, dst at 16; header length = IHL * 4.
- IPv6 (RFC 8200): payload length at 4, next header at 6, src at 8, dst at 24;
  only TCP directly after the fixed 40-byte header is decoded (no extension headers).
- TCP (RFC 9293): sport, dport, seq(u32), ack(u32), data offset (high nibble of byte 12),
  flags (byte 13), window(u16, unscaled as on the wire), options up to data offset * 4.

Worked example: bytes ``1b 58 9c 40`` at TCP offset 0 are sport 0x1b58 = 7000 and
dport 0x9c40 = 40000. ``flags`` is a comma-joined string in the fixed order
SYN,ACK,FIN,RST,PSH,URG,ECE,CWR ("SYN,ACK" for a SYN+ACK).
"""

from __future__ import annotations

import ipaddress
import struct

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
IPPROTO_TCP = 6

# (bit in the TCP flags byte, name), in the order names appear in "flags".
FLAG_ORDER = ((0x02, "SYN"), (0x10, "ACK"), (0x01, "FIN"), (0x04, "RST"),
              (0x08, "PSH"), (0x20, "URG"), (0x40, "ECE"), (0x80, "CWR"))

TCPOPT_EOL, TCPOPT_NOP, TCPOPT_MSS, TCPOPT_WSCALE = 0, 1, 2, 3
TCPOPT_SACK_PERM, TCPOPT_SACK, TCPOPT_TS = 4, 5, 8


def flag_names(bits: int) -> str:
    """0x12 -> "SYN,ACK"."""
    return ",".join(name for bit, name in FLAG_ORDER if bits & bit)


def parse_options(raw: bytes) -> dict:
    """TCP options -> {"mss": 1460, "wscale": 7, "sack_perm": True, "ts": [val, ecr],
    "sack": [[left, right], ...]}; unknown kinds appear as "opt<kind>": hex."""
    out: dict = {}
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == TCPOPT_EOL:
            break
        if kind == TCPOPT_NOP:
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2 or i + raw[i + 1] > len(raw):
            out["malformed"] = True
            break
        size = raw[i + 1]
        body = raw[i + 2:i + size]
        if kind == TCPOPT_MSS and size == 4:
            out["mss"] = struct.unpack("!H", body)[0]
        elif kind == TCPOPT_WSCALE and size == 3:
            out["wscale"] = body[0]
        elif kind == TCPOPT_SACK_PERM and size == 2:
            out["sack_perm"] = True
        elif kind == TCPOPT_TS and size == 10:
            out["ts"] = list(struct.unpack("!II", body))
        elif kind == TCPOPT_SACK and (size - 2) % 8 == 0:
            out["sack"] = [list(struct.unpack_from("!II", body, j))
                           for j in range(0, len(body), 8)]
        else:
            out[f"opt{kind}"] = body.hex()
        i += size
    return out


def decode_frame(frame: bytes) -> dict | None:
    """One Ethernet frame -> a segment dict, or None when it is not (whole) TCP.

    Keys: src, dst (address strings), sport, dport, flags, seq, ack (absolute), len
    (payload bytes), window, options.
    """
    if len(frame) < 14:
        return None
    off = 12
    (ethertype,) = struct.unpack_from("!H", frame, off)
    while ethertype == ETH_P_8021Q and len(frame) >= off + 6:
        off += 4
        (ethertype,) = struct.unpack_from("!H", frame, off)
    off += 2
    if ethertype == ETH_P_IP:
        if len(frame) < off + 20 or frame[off] >> 4 != 4:
            return None
        ihl = (frame[off] & 0x0F) * 4
        total, frag = struct.unpack_from("!H2xH", frame, off + 2)
        if frame[off + 9] != IPPROTO_TCP or frag & 0x1FFF or ihl < 20:
            return None
        src = str(ipaddress.IPv4Address(frame[off + 12:off + 16]))
        dst = str(ipaddress.IPv4Address(frame[off + 16:off + 20]))
        tcp, end = off + ihl, off + total
    elif ethertype == ETH_P_IPV6:
        if len(frame) < off + 40 or frame[off] >> 4 != 6 or frame[off + 6] != IPPROTO_TCP:
            return None
        (plen,) = struct.unpack_from("!H", frame, off + 4)
        src = str(ipaddress.IPv6Address(frame[off + 8:off + 24]))
        dst = str(ipaddress.IPv6Address(frame[off + 24:off + 40]))
        tcp, end = off + 40, off + 40 + plen
    else:
        return None
    end = min(end, len(frame))  # Ethernet padding beyond the IP length is not payload
    if end < tcp + 20:
        return None
    sport, dport, seq, ack, doff, bits, window = struct.unpack_from("!HHIIBBH", frame, tcp)
    hlen = (doff >> 4) * 4
    if hlen < 20 or tcp + hlen > end:
        return None
    return {"src": src, "dst": dst, "sport": sport, "dport": dport,
            "flags": flag_names(bits), "seq": seq, "ack": ack, "len": end - tcp - hlen,
            "window": window, "options": parse_options(frame[tcp + 20:tcp + hlen])}
