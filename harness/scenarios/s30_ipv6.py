"""30. The handshake and the close over IPv6."""

from __future__ import annotations

import socket
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

MTU = 1500


class Ipv6(Scenario):
    name = "ipv6"
    number = 30
    title = "Handshake and close over IPv6"
    claim = ("TCP's handshake and close are the same over IPv6: SYN, SYN+ACK, ACK with "
             "each SYN consuming one sequence number, FIN/ACK both ways, TIME_WAIT on the "
             "side that closed first. What differs is below TCP: the 40-byte IPv6 header "
             "makes the SYN advertise MSS = MTU - 60 (1440 on a 1500-byte link, 20 less "
             "than IPv4's 1460), and the sockets are AF_INET6 (family 10) in the dump.")
    control = "the same connection over IPv4"
    control_catches = ("syn_mss", "family_on_wire", "client_time_wait_family")
    expected = {
        "first_three": Expect(["SYN", "SYN,ACK", "ACK"]),
        "synack_ack_minus_syn_seq": Expect(1),
        "family_on_wire": Expect(6),
        "syn_mss": Expect(MTU - 60),
        "client_path": Expect(["SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2"],
                              "in_order"),
        "server_path": Expect(["SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK"],
                              "in_order"),
        "client_time_wait_family": Expect(socket.AF_INET6.value),
    }

    def execute(self, run: Run) -> None:
        family = socket.AF_INET if run.control else socket.AF_INET6
        with Stage(run) as st, st.listen(family=family) as lst:
            run.hosts = {"client": st.addr("client", family), "server": st.addr("server", family)}
            with st.evidence():
                c = st.connect(family=family)
                ports = st.ports_of(c)
                conn, _ = lst.accept()
                c.sendall(b"over v6")
                conn.recv(16)
                c.close()
                conn.recv(16)
                time.sleep(0.05)
                conn.close()
                time.sleep(0.05)
            segs = [s for s in st.segments if ports[0] in (s["sport"], s["dport"])]
            run.observe("first_three", [s["flags"] for s in segs[:3]])
            if len(segs) >= 3:
                syn, synack = segs[0], segs[1]
                run.observe("synack_ack_minus_syn_seq",
                            (synack["ack_abs"] - syn["seq_abs"]) % 2**32)
                run.observe("family_on_wire", syn["family"])
                run.observe("syn_mss", syn["options"].get("mss"))
            run.observe("client_path", st.path("client", ports))
            run.observe("server_path", st.path("server", ports[::-1]))
            tw = st.dump("client", states=["TIME_WAIT"])
            run.observe("client_time_wait_family", tw[0].family if tw else None)
            opened = next((t["t"] for t in run.transitions if t["side"] == "client"
                           and t["new"] == "SYN_SENT"), None)
            if opened is not None and segs:
                wait = round(segs[0]["t"] - opened, 3)
                run.evidence["first_syn_on_wire_after_s"] = wait
                if wait > 0.5:
                    run.note(f"Linux: the first SYN left {wait:.2f} s after connect(): the "
                             "very first one, sent while the neighbour entry was still "
                             "unresolved, never reached the wire and was retransmitted "
                             "after the 1 s SYN timeout")


SCENARIO = Ipv6()
