"""7. Half-close: after shutdown(SHUT_WR) the peer can still send."""

from __future__ import annotations

import socket
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, tcp_state

REPLY = b"still talking after your FIN"


class HalfClose(Scenario):
    name = "half-close"
    number = 7
    title = "After SHUT_WR the peer still sends (FIN_WAIT2)"
    claim = ("shutdown(SHUT_WR) sends a FIN but keeps the receive side open: the peer, in "
             "CLOSE_WAIT, can go on sending, and the data arrives at the half-closed side "
             "while it is in FIN_WAIT2.")
    control = ("close() instead of shutdown(SHUT_WR): the same FIN, but the socket is gone "
               "and the kernel answers the peer's data with RST")
    control_catches = ("received_after_shutdown", "client_state_when_data_arrived",
                       "client_sent_rst")
    expected = {
        "client_state_when_data_arrived": Expect("FIN_WAIT2"),
        "server_state_when_sending": Expect("CLOSE_WAIT"),
        "received_after_shutdown": Expect(REPLY.decode()),
        "client_path": Expect(["ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2"], "in_order"),
        "client_sent_rst": Expect(False),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            with st.evidence():
                c = st.connect()
                ports = st.ports_of(c)
                conn, _ = lst.accept()
                if run.control:
                    c.close()
                else:
                    c.shutdown(socket.SHUT_WR)
                assert conn.recv(16) == b""  # the server sees the client's FIN
                deadline = time.monotonic() + 1.0  # ...and its ACK reaches the client
                while (not run.control and tcp_state(c) == "FIN_WAIT1"
                       and time.monotonic() < deadline):
                    time.sleep(0.005)
                run.observe("server_state_when_sending", tcp_state(conn))
                conn.sendall(REPLY)
                data = b""
                if run.control:
                    time.sleep(0.1)
                    rows = st.dump("client", ports=[ports[0]])
                    run.observe("client_state_when_data_arrived",
                                rows[0].state if rows else "gone")
                else:
                    while len(data) < len(REPLY):
                        chunk = c.recv(64)
                        if not chunk:
                            break
                        data += chunk
                    run.observe("client_state_when_data_arrived", tcp_state(c))
                run.observe("received_after_shutdown", data.decode(errors="replace"))
                conn.close()
                c.close()
            run.observe("client_path", st.path("client", ports))
            run.observe("client_sent_rst", st.sent("client", "RST"))


SCENARIO = HalfClose()
