"""11. Accept queue: backlog + 1 completed connections, then SYNs are dropped."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

BACKLOG = 5
CLIENTS = 10


class AcceptQueue(Scenario):
    name = "accept-queue"
    number = 11
    title = "Accept queue holds backlog+1, then drops SYNs"
    claim = ("A listener that does not accept() holds backlog + 1 completed connections "
             "in its accept queue. A SYN that finds the queue full is dropped without an "
             "answer (ListenOverflows, ListenDrops): those clients stay in SYN_SENT and "
             "retransmit their SYN. No RST is sent, whatever tcp_abort_on_overflow says "
             "(that sysctl is about a final ACK meeting a full queue: scenario "
             "abort-on-overflow).")
    control = f"listen(backlog={CLIENTS}): every connection fits in the queue"
    control_catches = ("accept_queue", "clients_established", "clients_syn_sent",
                       "listen_overflows")
    expected = {
        "accept_queue": Expect(BACKLOG + 1),
        "backlog_reported": Expect(BACKLOG),
        "clients_established": Expect(BACKLOG + 1),
        "clients_syn_sent": Expect(CLIENTS - BACKLOG - 1),
        "listen_overflows": Expect(1, "at_least"),
        "server_sent_rst": Expect(False),
    }

    def execute(self, run: Run) -> None:
        backlog = CLIENTS if run.control else BACKLOG
        with Stage(run) as st:
            before = st.counters("server")
            with st.listen(backlog=backlog), st.evidence():
                clients = self._burst(st)
                time.sleep(1.5)  # the dropped SYNs are retransmitted once meanwhile
                (row,) = st.dump("server", states=["LISTEN"])
                run.observe("accept_queue", row.rqueue)
                run.observe("backlog_reported", row.wqueue)
                states = st.states("client")
                run.observe("clients_established", states.count("ESTABLISHED"))
                run.observe("clients_syn_sent", states.count("SYN_SENT"))
                after = st.counters("server")
                run.observe("listen_overflows", after["ListenOverflows"] -
                            before["ListenOverflows"])
                run.evidence["ListenDrops"] = after["ListenDrops"] - before["ListenDrops"]
                # before anything is closed: closing the listener would reset its queue
                run.observe("server_sent_rst", after["OutRsts"] > before["OutRsts"])
                for c in clients:
                    c.close()
            run.evidence["backlog_asked"] = backlog

    @staticmethod
    def _burst(st: Stage, count: int = CLIENTS) -> list:
        """Non-blocking connects all at once: their SYNs race the queue filling up."""
        out = []
        for _ in range(count):
            c = st.socket("client")
            c.setblocking(False)
            c.connect_ex((st.server.addr, st.port))
            out.append(c)
        time.sleep(0.3)
        return out


SCENARIO = AcceptQueue()
