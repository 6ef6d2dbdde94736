"""15. Simultaneous open: two sockets connect to each other without listen()."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, errno_name, tcp_state

PORT_A, PORT_B = 7101, 7102


class SimultaneousOpen(Scenario):
    name = "simultaneous-open"
    number = 15
    drops_segments = True
    title = "Simultaneous open: connect() to connect()"
    claim = ("Two sockets bound to known ports can connect to each other at the same time "
             "with no listener: each receives the other's SYN while in SYN_SENT, moves to "
             "SYN_RECV, answers SYN+ACK, and both end ESTABLISHED. The lab loses each first "
             "SYN on the wire so that both are in SYN_SENT before either SYN arrives.")
    control = ("nothing is lost: the first SYN reaches a socket that is only bound, and "
               "the host answers it with RST")
    control_catches = ("both_established", "syn_recv_seen", "exchanged")
    expected = {
        "both_established": Expect(["ESTABLISHED", "ESTABLISHED"]),
        "syn_recv_seen": Expect(True),
        "exchanged": Expect("a->b b->a"),
        "listeners": Expect(0),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st:
            with st.evidence(ports=[PORT_A, PORT_B]):
                rules = []
                if not run.control:
                    rules = [st.lose("server", tcp_flags="syn", sport=PORT_A),
                             st.lose("client", tcp_flags="syn", sport=PORT_B)]
                a, b = st.socket("client"), st.socket("server")
                a.bind((st.client.addr, PORT_A))
                b.bind((st.server.addr, PORT_B))
                for s, peer in ((a, (st.server.addr, PORT_B)), (b, (st.client.addr, PORT_A))):
                    s.setblocking(False)
                    s.connect_ex(peer)
                seen_syn_recv = False
                deadline = time.monotonic() + 4
                while time.monotonic() < deadline:
                    states = [tcp_state(a), tcp_state(b)]
                    seen_syn_recv |= "SYN_RECV" in states
                    if states == ["ESTABLISHED", "ESTABLISHED"] or "CLOSE" in states:
                        break
                    time.sleep(0.002)
                run.observe("both_established", states)
                run.observe("listeners", len(st.dump("client", states=["LISTEN"], ports=()))
                            + len(st.dump("server", states=["LISTEN"], ports=())))
                run.evidence["lost_first_syns"] = sum(r.packets for r in rules)
                run.observe("exchanged", self._exchange(a, b))
                a.close()
                b.close()
            traced = [t["new"] for t in run.transitions]
            run.observe("syn_recv_seen", seen_syn_recv or "SYN_RECV" in traced)

    @staticmethod
    def _exchange(a, b) -> str:
        try:
            for s in (a, b):
                s.setblocking(True)
                s.settimeout(2)
            a.sendall(b"a->b")
            b.sendall(b"b->a")
            return f"{b.recv(8).decode()} {a.recv(8).decode()}"
        except OSError as exc:
            return errno_name(exc)


SCENARIO = SimultaneousOpen()
