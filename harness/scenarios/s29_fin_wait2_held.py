"""29. FIN_WAIT2 held by the application never times out; the orphaned one does."""

from __future__ import annotations

import socket
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

FIN_TIMEOUT_S = 2


class FinWait2Held(Scenario):
    name = "fin-wait2-held"
    number = 29
    title = "FIN_WAIT2 after shutdown() stays; orphaned one ends"
    claim = ("tcp_fin_timeout bounds only orphaned FIN_WAIT2 sockets (closed by the "
             "application): those become minisockets with a timer (timer 3) and vanish "
             "after tcp_fin_timeout. A socket that only called shutdown(SHUT_WR) and is "
             "still held by the application has no such timer (timer 0) and stays in "
             "FIN_WAIT2 for as long as the peer keeps its side open.")
    shortened = (f"tcp_fin_timeout={FIN_TIMEOUT_S} s on the client (default 60 s)",)
    control = "the held socket is closed too (orphaned) right after its shutdown()"
    control_catches = ("held_fin_wait2_after", "held_timer")
    expected = {
        "held_timer": Expect(0),
        "orphan_timer": Expect(3),
        "held_fin_wait2_after": Expect(1),
        "orphan_fin_wait2_after": Expect(0),
    }

    def execute(self, run: Run) -> None:
        sysctls = {"client": {"net.ipv4.tcp_fin_timeout": FIN_TIMEOUT_S}}
        with Stage(run, sysctls=sysctls) as st, st.listen() as lst, st.evidence():
            held, orphan = st.connect(), st.connect()
            peers = [lst.accept()[0] for _ in range(2)]  # both stay in CLOSE_WAIT
            ports = {"held": st.ports_of(held)[0], "orphan": st.ports_of(orphan)[0]}
            held.shutdown(socket.SHUT_WR)
            if run.control:
                held.close()
            orphan.close()
            time.sleep(0.2)
            for key, port in ports.items():
                rows = st.dump("client", states=["FIN_WAIT2"], ports=[port])
                run.observe(f"{key}_timer", rows[0].timer if rows else None)
            time.sleep(FIN_TIMEOUT_S + 1)
            for key, port in ports.items():
                run.observe(f"{key}_fin_wait2_after",
                            len(st.dump("client", states=["FIN_WAIT2"], ports=[port])))
            held.close()
            for p in peers:
                p.close()


SCENARIO = FinWait2Held()
