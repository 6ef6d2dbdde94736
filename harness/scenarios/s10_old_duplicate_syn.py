"""10. Old duplicate SYN: the client host answers the SYN+ACK with RST."""

from __future__ import annotations

import random
import time

from harness.scenarios import raw
from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

STALE_PORT = 45999


class OldDuplicateSyn(Scenario):
    name = "old-duplicate-syn"
    number = 10
    drops_segments = True
    title = "Stale SYN: client host answers RST"
    claim = ("Why three messages: a SYN left over from an old connection can reach the "
             "server long after its sender gave up. The server answers with SYN+ACK; the "
             "client host, which has no such connection, answers RST, and the server drops "
             "the half-open connection instead of accepting it.")
    control = "the client host's RSTs are lost on their way to the server"
    control_catches = ("server_half_open_after",)
    expected = {
        "server_answered_synack": Expect(True),
        "client_sent_rst": Expect(True),
        "client_rsts_counted": Expect(1, "at_least"),
        "server_half_open_after": Expect(0),
        "accepted": Expect(0),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            before = st.counters("client")["OutRsts"]
            with st.evidence():
                if run.control:
                    st.lose("server", count=None, tcp_flags="rst", dport=st.port)
                seq = random.getrandbits(32)
                st.client.run(raw.send, st.client.addr, st.server.addr, STALE_PORT, st.port,
                              seq)
                time.sleep(0.3)
                run.observe("server_half_open_after",
                            len(st.dump("server", states=["SYN_RECV"])))
            run.evidence["stale_syn_seq"] = seq
            run.observe("client_rsts_counted", st.counters("client")["OutRsts"] - before)
            (row,) = st.dump("server", states=["LISTEN"])
            run.observe("accepted", row.rqueue)
            run.observe("server_answered_synack", None if not st.segments else any(
                s["src"] == "server" and s["flags"] == "SYN,ACK" for s in st.segments))
            run.observe("client_sent_rst", st.sent("client", "RST"))
            lst.close()


SCENARIO = OldDuplicateSyn()
