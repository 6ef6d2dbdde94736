"""The pure TCP segment decoder on frames recorded in a lab, plus byte-level edge cases."""

import json
import struct

import pytest
from paths import FIXTURES

from harness.kernel.capture import bpf_program
from harness.kernel.tcp_segment import decode_frame, flag_names, parse_options
from harness.observe.timeline import relative_segments

FIXTURE = FIXTURES / "capture" / "lab_v4_v6_echo.json"
FRAMES = json.loads(FIXTURE.read_text())["frames"]


@pytest.mark.parametrize("row", FRAMES, ids=[f"frame{i}" for i in range(len(FRAMES))])
def test_recorded_frames_decode_as_recorded(row):
    assert decode_frame(bytes.fromhex(row["frame"])) == row["expected"]


def test_recorded_syn_fields_by_hand():
    # IPv4 SYN: sport bytes a8 72 = 43122, MSS option 02 04 05 b4 = 1460, wscale 03 03 0a.
    seg = decode_frame(bytes.fromhex(FRAMES[0]["frame"]))
    assert (seg["src"], seg["sport"], seg["dport"]) == ("198.18.124.1", 43122, 7000)
    assert seg["flags"] == "SYN" and seg["seq"] == 0xA464D4C3 and seg["ack"] == 0
    assert seg["options"]["mss"] == 1460 and seg["options"]["wscale"] == 10
    v6 = [decode_frame(bytes.fromhex(r["frame"])) for r in FRAMES]
    assert any(s["src"] == "fd53:6c:7c::1" and s["options"]["mss"] == 1440 for s in v6)


def _frame(flags: int, options: bytes = b"", payload: bytes = b"", pad: bytes = b"") -> bytes:
    doff = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", 7000, 40000, 0xFFFFFFFF, 1, doff << 4, flags, 512, 0, 0)
    tcp += options + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return b"\x00" * 12 + b"\x08\x00" + ip + tcp + pad


def test_flag_order_and_byte_order():
    seg = decode_frame(_frame(0x12 | 0x01 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80))
    assert seg["flags"] == "SYN,ACK,FIN,RST,PSH,URG,ECE,CWR"
    assert (seg["sport"], seg["dport"], seg["seq"], seg["window"]) == (7000, 40000, 2**32 - 1, 512)
    assert flag_names(0x11) == "ACK,FIN"


def test_ethernet_padding_is_not_payload():
    # a 54-byte frame is padded to 60 on the wire; the IP total length says 0 payload
    assert decode_frame(_frame(0x10, pad=b"\x00" * 6))["len"] == 0
    assert decode_frame(_frame(0x18, payload=b"hello"))["len"] == 5


def test_options_sack_unknown_and_malformed():
    opts = bytes([1, 1, 5, 10]) + struct.pack("!II", 100, 200) + bytes([30, 4, 0xAB, 0xCD])
    assert parse_options(opts) == {"sack": [[100, 200]], "opt30": "abcd"}
    assert parse_options(bytes([2, 4, 5])) == {"malformed": True}
    assert parse_options(bytes([0, 2, 4, 5, 0xB4])) == {}


def test_not_tcp_or_truncated_gives_none():
    frame = _frame(0x02)
    assert decode_frame(frame[:40]) is None
    udp = bytearray(frame)
    udp[14 + 9] = 17
    assert decode_frame(bytes(udp)) is None
    arp = bytearray(frame)
    arp[12:14] = b"\x08\x06"
    assert decode_frame(bytes(arp)) is None


def test_bpf_jumps_stay_inside_the_program():
    for ports in ((), (7000,), (7000, 8080, 9000)):
        prog = bpf_program(ports)
        for i, (code, jt, jf, _k) in enumerate(prog):
            if code & 0x07 == 0x05:  # BPF_JMP
                assert i + 1 + jt < len(prog) and i + 1 + jf < len(prog)
        assert prog[-1][0] == 0x06 and prog[-1][3] > 0  # ends in "accept"


def test_relative_numbers_of_the_recorded_ipv4_connection():
    segs = [dict(decode_frame(bytes.fromhex(r["frame"])), time=i)
            for i, r in enumerate(FRAMES[:10])]
    rel = relative_segments(segs, client=("198.18.124.1", 43122))
    got = [(s["from"], s["flags"], s["rel_seq"], s["rel_ack"], s["len"]) for s in rel]
    assert got == [
        ("client", "SYN", 0, None, 0), ("server", "SYN,ACK", 0, 1, 0),
        ("client", "ACK", 1, 1, 0), ("client", "ACK,PSH", 1, 1, 5),
        ("server", "ACK", 1, 6, 0), ("server", "ACK,PSH", 1, 6, 5),
        ("client", "ACK", 6, 6, 0), ("client", "ACK,FIN", 6, 6, 0),
        ("server", "ACK,FIN", 6, 7, 0), ("client", "ACK", 7, 7, 0)]
    # wrap-around: relative numbers are taken modulo 2**32
    wrap = [dict(segs[0], seq=2**32 - 1), dict(segs[1], ack=0)]
    assert relative_segments(wrap, client=("198.18.124.1", 43122))[1]["rel_ack"] == 1
