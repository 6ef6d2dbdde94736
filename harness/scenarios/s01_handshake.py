"""1. Three-way handshake."""

from __future__ import annotations

import socket

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, tcp_state

TCP_FASTOPEN = getattr(socket, "TCP_FASTOPEN", 23)
MSG_FASTOPEN = getattr(socket, "MSG_FASTOPEN", 0x20000000)
HELLO = b"hello"


def accept_and_echo(lst: socket.socket) -> str:
    """Accept one connection; return its state as accept() handed it over (TCP_INFO)."""
    conn, _ = lst.accept()
    with conn:
        state = tcp_state(conn)
        conn.sendall(conn.recv(64))
        conn.recv(64)
    return state


class Handshake(Scenario):
    name = "handshake"
    number = 1
    title = "SYN, SYN+ACK, ACK; accept() gives ESTABLISHED"
    claim = ("Connection set-up takes three segments: the client's SYN (seq=x), the "
             "server's SYN+ACK (seq=y, ack=x+1) and the client's ACK (seq=x+1, ack=y+1). "
             "The SYN and the SYN+ACK each consume one sequence number. The client goes "
             "SYN_SENT -> ESTABLISHED, the server's request goes SYN_RECV -> ESTABLISHED, "
             "and accept() hands over a socket that is already ESTABLISHED.")
    control = ("the client's SYN carries its first data (TCP Fast Open without a cookie: "
               "tcp_fastopen=0x5 on the client, 0x202 on the server): the SYN+ACK then "
               "acknowledges x+1+len, so a check that reads the wire must fail")
    control_catches = ("synack_ack_minus_syn_seq", "ack_seq_minus_syn_seq")
    expected = {
        "first_three": Expect(["SYN", "SYN,ACK", "ACK"]),
        "synack_ack_minus_syn_seq": Expect(1),
        "ack_seq_minus_syn_seq": Expect(1),
        "ack_ack_minus_synack_seq": Expect(1),
        "client_path": Expect(["CLOSE", "SYN_SENT", "ESTABLISHED"], "in_order"),
        "server_path": Expect(["LISTEN", "SYN_RECV", "ESTABLISHED"], "in_order"),
        "accepted_socket_state": Expect("ESTABLISHED"),
    }

    def execute(self, run: Run) -> None:
        sysctls = ({"client": {"net.ipv4.tcp_fastopen": 0x5},
                    "server": {"net.ipv4.tcp_fastopen": 0x202}} if run.control else None)
        opts = {"TCP_FASTOPEN": 16} if run.control else {}
        with Stage(run, sysctls=sysctls) as st, st.listen(**opts) as lst:
            with st.evidence():
                server = st.background(accept_and_echo, lst)
                if run.control:
                    c = st.socket("client")
                    c.settimeout(5)
                    c.sendto(HELLO, MSG_FASTOPEN, (st.server.addr, st.port))
                else:
                    c = st.connect()
                    c.sendall(HELLO)
                with c:
                    ports = st.ports_of(c)
                    c.recv(64)
                run.observe("accepted_socket_state", server.wait(10))
            segs = [s for s in st.segments if s["sport"] == ports[0] or s["dport"] == ports[0]]
            syn = next((s for s in segs if s["flags"] == "SYN"), None)
            if syn is not None:
                segs = segs[segs.index(syn):]
            run.observe("first_three", [s["flags"] for s in segs[:3]])
            if len(segs) >= 3:
                syn, synack, ack = segs[:3]
                run.observe("synack_ack_minus_syn_seq",
                            (synack["ack_abs"] - syn["seq_abs"]) % 2**32)
                run.observe("ack_seq_minus_syn_seq", (ack["seq_abs"] - syn["seq_abs"]) % 2**32)
                run.observe("ack_ack_minus_synack_seq",
                            (ack["ack_abs"] - synack["seq_abs"]) % 2**32)
                run.evidence["isn"] = {"client": syn["seq_abs"], "server": synack["seq_abs"]}
                run.evidence["syn_len"] = syn["len"]
                run.evidence["syn_options"] = syn["options"]
            run.observe("client_path", st.path("client", ports))
            run.observe("server_path", st.path("server", ports[::-1]))


SCENARIO = Handshake()
