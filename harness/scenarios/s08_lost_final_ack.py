"""8. Lost final ACK: LAST_ACK retransmits its FIN; TIME_WAIT answers; CLOSED would RST."""

from __future__ import annotations

import socket
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, tcp_state


class LostFinalAck(Scenario):
    name = "lost-final-ack"
    number = 8
    drops_segments = True
    title = "Lost final ACK: FIN again, TIME_WAIT answers"
    claim = ("If the last ACK of the close is lost, the side in LAST_ACK retransmits its "
             "FIN. The side in TIME_WAIT still knows the connection and acknowledges the "
             "retransmitted FIN again, without RST: that is what TIME_WAIT is for. (The "
             "client half-closes with shutdown(), so its own full socket, not a minisocket, "
             "takes the server's FIN and turns TIME_WAIT.)")
    control = ("tcp_max_tw_buckets=0 on the client: the socket that would turn TIME_WAIT "
               "is closed instead (TCPTimeWaitOverflow), and the retransmitted FIN meets "
               "no connection: the client host answers it with RST")
    control_catches = ("client_time_wait", "client_acks_of_server_fin", "client_sent_rst")
    expected = {
        "final_ack_lost": Expect(1),
        "server_fins": Expect(2, "at_least"),
        "server_retransmissions": Expect(1, "at_least"),
        "client_time_wait": Expect(1),
        "client_acks_of_server_fin": Expect(2, "at_least"),
        "client_sent_rst": Expect(False),
    }

    def execute(self, run: Run) -> None:
        sysctls = {"client": {"net.ipv4.tcp_max_tw_buckets": 0}} if run.control else None
        with Stage(run, sysctls=sysctls) as st, st.listen() as lst:
            before_c, before_s = st.counters("client"), st.counters("server")
            with st.evidence():
                c = st.connect()
                ports = st.ports_of(c)
                conn, _ = lst.accept()
                c.shutdown(socket.SHUT_WR)  # client first: FIN_WAIT1 -> FIN_WAIT2
                conn.recv(1)
                deadline = time.monotonic() + 1.0
                while tcp_state(c) == "FIN_WAIT1" and time.monotonic() < deadline:
                    time.sleep(0.005)
                # the client's ACK of the server's FIN is lost on its way
                rule = st.lose("server", tcp_flags="ack", payload_len=0, dport=st.port)
                conn.close()  # server: LAST_ACK
                time.sleep(1.0)  # the FIN's retransmission timer fires (>= 200 ms)
                run.observe("client_time_wait", len(st.dump("client", states=["TIME_WAIT"])))
                c.close()
            after_c, after_s = st.counters("client"), st.counters("server")
            run.observe("final_ack_lost", rule.packets)
            run.observe("server_retransmissions", after_s["RetransSegs"] - before_s["RetransSegs"])
            run.evidence["client_OutRsts"] = after_c["OutRsts"] - before_c["OutRsts"]
            run.evidence["client_TCPTimeWaitOverflow"] = (
                after_c.get("TCPTimeWaitOverflow", 0) - before_c.get("TCPTimeWaitOverflow", 0))
            run.evidence["client_path"] = st.path("client", ports)
            run.evidence["server_path"] = st.path("server", ports[::-1])
            sfins = [s for s in st.segments if s["src"] == "server" and "FIN" in s["flags"]]
            run.observe("server_fins", len(sfins))
            if sfins:
                run.observe("client_acks_of_server_fin", sum(
                    1 for s in st.segments if s["src"] == "client" and "RST" not in s["flags"]
                    and s["ack_abs"] == (sfins[0]["seq_abs"] + 1) % 2**32))
            run.observe("client_sent_rst", st.sent("client", "RST"))


SCENARIO = LostFinalAck()
