"""14. Simultaneous close: both sides in CLOSING, then both in TIME_WAIT."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

ATTEMPTS = 3


class SimultaneousClose(Scenario):
    name = "simultaneous-close"
    number = 14
    drops_segments = True
    title = "Simultaneous close: both CLOSING, both TIME_WAIT"
    claim = ("When both sides close at once, each receives the other's FIN while its own "
             "is still unacknowledged: both go FIN_WAIT1 -> CLOSING, and on the ACKs both "
             "end in TIME_WAIT. To make the FINs cross, the lab loses both first FINs on "
             "the wire (dropped in each receiver's input): both sides retransmit on the "
             "same timer tick (RetransSegs) and the retransmissions pass each other.")
    control = ("nothing is lost: the client's FIN arrives before the server closes, so the "
               "server goes CLOSE_WAIT -> LAST_ACK and only the client holds TIME_WAIT")
    control_catches = ("client_path", "server_path", "server_time_wait")
    expected = {
        "client_path": Expect(["FIN_WAIT1", "CLOSING"], "in_order"),
        "server_path": Expect(["FIN_WAIT1", "CLOSING"], "in_order"),
        "client_time_wait": Expect(1),
        "server_time_wait": Expect(1),
        "lost_first_fins": Expect(2),
        "retransmitted_fins": Expect(2, "at_least"),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            # The crossing needs both retransmission timers to fire on one tick; when the
            # two close() calls land on different ticks (a busy machine), try again.
            attempts = 0
            while attempts < (1 if run.control else ATTEMPTS):
                attempts += 1
                with st.evidence():
                    ports, lost, retrans = self._close_both(st, lst, lose=not run.control)
                tw = {r: len(st.dump(r, states=["TIME_WAIT"], ports=[ports[0]]))
                      for r in ("client", "server")}
                paths = {"client": st.path("client", ports),
                         "server": st.path("server", ports[::-1])}
                if all("CLOSING" in p for p in paths.values()):
                    break
            run.evidence["attempts"] = attempts
            run.observe("lost_first_fins", lost)
            run.observe("retransmitted_fins", retrans)
            run.observe("client_time_wait", tw["client"])
            run.observe("server_time_wait", tw["server"])
            run.observe("client_path", paths["client"])
            run.observe("server_path", paths["server"])

    @staticmethod
    def _close_both(st: Stage, lst, lose: bool) -> tuple[tuple[int, int], int, int]:
        before = {r: st.counters(r)["RetransSegs"] for r in ("client", "server")}
        c = st.connect()
        ports = st.ports_of(c)
        conn, _ = lst.accept()
        rules = []
        if lose:
            rules = [st.lose("server", tcp_flags="fin,ack", dport=st.port),
                     st.lose("client", tcp_flags="fin,ack", sport=st.port)]
        c.close()
        conn.close()  # both FIN_WAIT1, both FINs lost
        time.sleep(1.0)  # the retransmitted FINs (RTO >= 200 ms) cross
        for rule in rules:
            rule.delete()
        retrans = sum(st.counters(r)["RetransSegs"] - before[r] for r in ("client", "server"))
        return ports, sum(r.packets for r in rules), retrans


SCENARIO = SimultaneousClose()
