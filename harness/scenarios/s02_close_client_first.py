"""2. Four-way close, client first."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage
from harness.sockets.options import set_linger_rst


class CloseClientFirst(Scenario):
    name = "close-client-first"
    number = 2
    title = "Client closes first: FIN_WAIT1/2, TIME_WAIT"
    claim = ("The side that closes first sends FIN and goes FIN_WAIT1, then FIN_WAIT2 when "
             "it is acknowledged, then TIME_WAIT when the peer's FIN arrives. The peer goes "
             "CLOSE_WAIT on the FIN, LAST_ACK when it closes, and CLOSED on the last ACK. "
             "Each FIN consumes one sequence number: it is acknowledged with ack = seq + 1.")
    control = "the client closes with SO_LINGER {1, 0}: an RST instead of a FIN"
    control_catches = ("client_path", "server_path", "client_time_wait", "close_segments")
    expected = {
        "client_path": Expect(["ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSE"], "in_order"),
        "server_path": Expect(["ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSE"], "in_order"),
        "client_time_wait": Expect(1),
        "close_segments": Expect(["ACK,FIN", "ACK", "ACK,FIN", "ACK"]),
        "client_fin_ack_gap": Expect(1),
        "server_fin_ack_gap": Expect(1),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            with st.evidence():
                c = st.connect()
                ports = st.ports_of(c)
                conn, _ = lst.accept()
                c.sendall(b"bye")
                conn.recv(16)
                time.sleep(0.05)
                if run.control:
                    set_linger_rst(c)
                c.close()  # the client's FIN goes first
                try:
                    conn.recv(16)
                except ConnectionResetError:
                    run.evidence["server_saw"] = "ECONNRESET"
                time.sleep(0.2)  # the server's ACK and its own FIN in separate segments
                conn.close()
            run.observe("client_time_wait", len(st.dump("client", states=["TIME_WAIT"])))
            run.observe("client_path", st.path("client", ports))
            run.observe("server_path", st.path("server", ports[::-1]))
            run.note("Linux: the closed (orphaned) client socket is replaced by a FIN_WAIT2 "
                     "minisocket once its FIN is acked, so the tracepoint shows FIN_WAIT2 -> "
                     "CLOSE there; the minisocket turns TIME_WAIT on the server's FIN "
                     "(no tracepoint), seen in the dump")
            ends = [i for i, s in enumerate(st.segments)
                    if {"FIN", "RST"} & set(s["flags"].split(","))]
            if ends:
                tail = st.segments[ends[0]:]
                run.observe("close_segments", [s["flags"] for s in tail])
                cfin = tail[0]
                sack = next((s for s in tail if s["src"] == "server"), None)
                sfin = next((s for s in tail if s["src"] == "server" and "FIN" in s["flags"]),
                            None)
                cack = next((s for s in tail[1:] if s["src"] == "client"), None)
                if sack and "FIN" in cfin["flags"]:
                    run.observe("client_fin_ack_gap", (sack["ack_abs"] - cfin["seq_abs"]) % 2**32)
                if sfin and cack:
                    run.observe("server_fin_ack_gap", (cack["ack_abs"] - sfin["seq_abs"]) % 2**32)


SCENARIO = CloseClientFirst()
