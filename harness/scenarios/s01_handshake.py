"""1. Three-way handshake."""

from __future__ import annotations

import socket

from harness.kernel.inet_diag import STATE_NAMES
from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage


def accept_and_echo(lst: socket.socket) -> str:
    """Accept one connection; return its state as accept() handed it over (TCP_INFO)."""
    conn, _ = lst.accept()
    with conn:
        state = STATE_NAMES[conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]]
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
        with Stage(run) as st, st.listen() as lst:
            with st.evidence():
                server = st.background(accept_and_echo, lst)
                with st.connect() as c:
                    c.sendall(b"hello")
                    c.recv(64)
                run.observe("accepted_socket_state", server.wait(10))
            segs = st.segments[:3]
            run.observe("first_three", [s["flags"] for s in segs])
            if len(segs) == 3:
                syn, synack, ack = segs
                run.observe("synack_ack_minus_syn_seq",
                            (synack["ack_abs"] - syn["seq_abs"]) % 2**32)
                run.observe("ack_seq_minus_syn_seq", (ack["seq_abs"] - syn["seq_abs"]) % 2**32)
                run.observe("ack_ack_minus_synack_seq",
                            (ack["ack_abs"] - synack["seq_abs"]) % 2**32)
                run.evidence["isn"] = {"client": syn["seq_abs"], "server": synack["seq_abs"]}
                run.evidence["syn_options"] = syn["options"]
            run.observe("client_path", st.path("client"))
            run.observe("server_path", st.path("server"))


SCENARIO = Handshake()
