"""9. Lost third handshake ACK: the server stays SYN_RECV; data completes the handshake."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, tcp_state


class LostHandshakeAck(Scenario):
    name = "lost-handshake-ack"
    number = 9
    drops_segments = True
    title = "Lost third ACK: SYN_RECV; data completes it"
    claim = ("If the handshake's last ACK is lost, the client is ESTABLISHED already while "
             "the server's request sits in SYN_RECV and retransmits its SYN+ACK (after 1 s). "
             "The client's first data segment carries the same acknowledgement, so it "
             "completes the handshake on its own.")
    control = "nothing is lost: the third ACK reaches the server"
    control_catches = ("server_syn_recv_while_lost", "synack_retransmitted")
    expected = {
        "client_state_while_lost": Expect("ESTABLISHED"),
        "server_syn_recv_while_lost": Expect(1),
        "synack_retransmitted": Expect(1, "at_least"),
        "data_completes_handshake": Expect("hello"),
        "synack_retransmitted_when_data_follows": Expect(0),
    }

    def _lose_ack(self, st: Stage, run: Run):
        if not run.control:
            st.lose("server", tcp_flags="ack", payload_len=0, dport=st.port)

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            lst.settimeout(5)
            with st.evidence():
                before = st.counters("server")["TCPSynRetrans"]
                self._lose_ack(st, run)
                c = st.connect()
                time.sleep(0.3)
                run.observe("client_state_while_lost", tcp_state(c))
                run.observe("server_syn_recv_while_lost",
                            len(st.dump("server", states=["SYN_RECV"])))
                conn, _ = lst.accept()  # completes once the retransmitted SYN+ACK is acked
                run.observe("synack_retransmitted",
                            st.counters("server")["TCPSynRetrans"] - before)
                conn.close()
                c.close()
                # Again, but the client speaks at once: its data segment acks the SYN+ACK.
                before = st.counters("server")["TCPSynRetrans"]
                self._lose_ack(st, run)
                c = st.socket("client")
                c.connect((st.server.addr, st.port))
                c.sendall(b"hello")
                conn, _ = lst.accept()
                conn.settimeout(5)
                try:
                    run.observe("data_completes_handshake", conn.recv(16).decode())
                except TimeoutError:
                    run.observe("data_completes_handshake", "timeout")
                run.observe("synack_retransmitted_when_data_follows",
                            st.counters("server")["TCPSynRetrans"] - before)
                conn.close()
                c.close()
            run.evidence["lost_acks"] = sum(1 for s in st.segments if s.get("dropped"))


SCENARIO = LostHandshakeAck()
