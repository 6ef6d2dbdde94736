"""10. Old duplicate SYN: the client host answers the SYN+ACK with RST."""

from __future__ import annotations

import random
import socket
import struct
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

STALE_PORT = 45999


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn_segment(src: str, dst: str, sport: int, dport: int, seq: int) -> bytes:
    """A bare TCP SYN (no options) with its checksum over the IPv4 pseudo-header."""
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(
        "!BBH", 0, socket.IPPROTO_TCP, len(header))
    return header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]


class OldDuplicateSyn(Scenario):
    name = "old-duplicate-syn"
    number = 10
    title = "Stale SYN: client host answers RST"
    claim = ("Why three messages: a SYN left over from an old connection can reach the "
             "server long after its sender gave up. The server answers with SYN+ACK; the "
             "client host, which has no such connection, answers RST, and the server drops "
             "the half-open connection instead of accepting it.")
    expected = {
        "server_answered_synack": Expect(True),
        "client_sent_rst": Expect(True),
        "client_rsts_counted": Expect(1, "at_least"),
        "server_half_open_after": Expect(0),
        "accepted": Expect(0),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            before = st.counters("client")["OutRsts"]
            with st.evidence(ports=[st.port]):
                raw = st.client.run(self._send_stale_syn, st.client.addr, st.server.addr,
                                    st.port)
                time.sleep(0.3)
            run.evidence["stale_syn_seq"] = raw
            run.observe("client_rsts_counted", st.counters("client")["OutRsts"] - before)
            run.observe("server_half_open_after", len(st.dump("server", states=["SYN_RECV"])))
            (row,) = st.dump("server", states=["LISTEN"])
            run.observe("accepted", row.rqueue)
            run.observe("server_answered_synack", None if not st.segments else any(
                s["src"] == "server" and s["flags"] == "SYN,ACK" for s in st.segments))
            run.observe("client_sent_rst", st.sent("client", "RST"))
            lst.close()

    @staticmethod
    def _send_stale_syn(src: str, dst: str, port: int) -> int:
        seq = random.getrandbits(32)
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP) as raw:
            raw.sendto(syn_segment(src, dst, STALE_PORT, port, seq), (dst, 0))
        return seq


SCENARIO = OldDuplicateSyn()
