"""14. Simultaneous close: both sides in CLOSING, then both in TIME_WAIT."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage


class SimultaneousClose(Scenario):
    name = "simultaneous-close"
    number = 14
    title = "Simultaneous close: both CLOSING, both TIME_WAIT"
    claim = ("When both sides close at once, each receives the other's FIN while its own "
             "is still unacknowledged: both go FIN_WAIT1 -> CLOSING, and on the ACKs both "
             "end in TIME_WAIT. To make the FINs cross, the lab drops both first FINs; their "
             "retransmissions fire on the same timer tick and pass each other on the wire.")
    expected = {
        "client_path": Expect(["FIN_WAIT1", "CLOSING"], "in_order"),
        "server_path": Expect(["FIN_WAIT1", "CLOSING"], "in_order"),
        "client_time_wait": Expect(1),
        "server_time_wait": Expect(1),
        "dropped_first_fins": Expect(2),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            with st.evidence():
                c = st.connect()
                conn, _ = lst.accept()
                rules = [st.client.nft.drop("output", tcp_flags="fin,ack", dport=st.port),
                         st.server.nft.drop("output", tcp_flags="fin,ack", sport=st.port)]
                c.close()
                conn.close()  # both FIN_WAIT1, both FINs lost
                time.sleep(0.05)
                run.observe("dropped_first_fins", sum(r.packets for r in rules))
                for rule in rules:
                    rule.delete()
                time.sleep(1.0)  # the retransmitted FINs (RTO >= 200 ms) cross
            run.observe("client_time_wait", len(st.dump("client", states=["TIME_WAIT"])))
            run.observe("server_time_wait", len(st.dump("server", states=["TIME_WAIT"])))
            run.observe("client_path", st.path("client"))
            run.observe("server_path", st.path("server"))


SCENARIO = SimultaneousClose()
