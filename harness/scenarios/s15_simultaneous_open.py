"""15. Simultaneous open: two sockets connect to each other without listen()."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.s07_half_close import tcp_state
from harness.scenarios.stage import Stage

PORT_A, PORT_B = 7101, 7102


class SimultaneousOpen(Scenario):
    name = "simultaneous-open"
    number = 15
    title = "Simultaneous open: connect() to connect()"
    claim = ("Two sockets bound to known ports can connect to each other at the same time "
             "with no listener: each receives the other's SYN while in SYN_SENT, moves to "
             "SYN_RECV, answers SYN+ACK, and both end ESTABLISHED. The lab drops each first "
             "SYN so that both are in SYN_SENT before either SYN arrives.")
    expected = {
        "both_established": Expect(["ESTABLISHED", "ESTABLISHED"]),
        "a_syn_recv_seen": Expect(True),
        "exchanged": Expect("a->b b->a"),
        "dropped_first_syns": Expect(2),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st:
            with st.evidence(ports=[PORT_A, PORT_B]):
                rules = [st.client.nft.drop("output", once=True, tcp_flags="syn", sport=PORT_A),
                         st.server.nft.drop("output", once=True, tcp_flags="syn", sport=PORT_B)]
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
                    if states == ["ESTABLISHED", "ESTABLISHED"]:
                        break
                    time.sleep(0.002)
                run.observe("both_established", states)
                run.observe("dropped_first_syns", sum(r.packets for r in rules))
                for s in (a, b):
                    s.setblocking(True)
                    s.settimeout(2)
                a.sendall(b"a->b")
                b.sendall(b"b->a")
                run.observe("exchanged", f"{b.recv(8).decode()} {a.recv(8).decode()}")
                a.close()
                b.close()
            traced = [t["new"] for t in run.transitions]
            run.observe("a_syn_recv_seen", seen_syn_recv or "SYN_RECV" in traced)
            run.evidence["listen_used"] = False


SCENARIO = SimultaneousOpen()
