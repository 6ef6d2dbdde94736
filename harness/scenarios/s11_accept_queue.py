"""11. Accept queue: backlog + 1 completed connections, then SYNs are dropped."""

from __future__ import annotations

import errno
import socket
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
             "in its accept queue. Further SYNs are dropped (ListenOverflows) and those "
             "clients wait in SYN_SENT, retransmitting. With tcp_abort_on_overflow=1 the "
             "server answers an overflowing handshake with RST instead.")
    expected = {
        "accept_queue": Expect(BACKLOG + 1),
        "backlog_reported": Expect(BACKLOG),
        "clients_established": Expect(BACKLOG + 1),
        "clients_syn_sent": Expect(CLIENTS - BACKLOG - 1),
        "listen_overflows": Expect(1, "at_least"),
        "abort_on_overflow_resets": Expect(1, "at_least"),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st:
            before = st.counters("server")
            with st.listen(backlog=BACKLOG) as lst:
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
                for c in clients:
                    c.close()
                del lst
            st.server.set_sysctl("net.ipv4.tcp_abort_on_overflow", 1)
            resets_before = st.counters("server")["OutRsts"]
            with st.listen(backlog=BACKLOG, port=st.port + 1):
                clients = self._burst(st, st.port + 1, count=2 * CLIENTS)
                time.sleep(0.5)
                errors = [c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) for c in clients]
                for c in clients:
                    c.close()
            run.observe("abort_on_overflow_resets",
                        st.counters("server")["OutRsts"] - resets_before)
            run.evidence["client_errors"] = sorted(
                errno.errorcode.get(e, str(e)) for e in errors if e)

    @staticmethod
    def _burst(st: Stage, port: int | None = None, count: int = CLIENTS) -> list:
        """Non-blocking connects all at once: their SYNs race the queue filling up."""
        out = []
        for _ in range(count):
            c = st.socket("client")
            c.setblocking(False)
            c.connect_ex((st.server.addr, port or st.port))
            out.append(c)
        time.sleep(0.3)
        for c in out:
            c.setblocking(True)
            c.settimeout(1.0)
        return out
SCENARIO = AcceptQueue()
