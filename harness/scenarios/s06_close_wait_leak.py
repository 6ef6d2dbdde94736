"""6. CLOSE_WAIT leak: the application never calls close()."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

FIN_TIMEOUT_S = 3


class CloseWaitLeak(Scenario):
    name = "close-wait-leak"
    number = 6
    title = "Never close(): CLOSE_WAIT stays, FIN_WAIT2 ends"
    claim = ("When the peer closes and the application never calls close(), its socket "
             "stays in CLOSE_WAIT for as long as the process holds it: the kernel has no "
             "timer for it. The peer, orphaned in FIN_WAIT2, gives up after "
             "tcp_fin_timeout.")
    shortened = (f"tcp_fin_timeout set to {FIN_TIMEOUT_S} s on the client (default 60 s)",)
    control = ("the application calls close() half a second after the client's FIN (the "
               "leak fixed)")
    control_catches = ("server_close_wait_after_fin_timeout", "client_fin_wait2_lasted_s")
    expected = {
        "server_close_wait_after_fin_timeout": Expect(1),
        "client_fin_wait2_first": Expect(1),
        "client_fin_wait2_after_fin_timeout": Expect(0),
        "client_fin_wait2_lasted_s": Expect((FIN_TIMEOUT_S - 0.5, FIN_TIMEOUT_S + 1.5),
                                            "between"),
    }

    def execute(self, run: Run) -> None:
        sysctls = {"client": {"net.ipv4.tcp_fin_timeout": FIN_TIMEOUT_S}}
        with Stage(run, sysctls=sysctls) as st, st.listen() as lst:
            with st.evidence():
                c = st.connect()
                leaked, _ = lst.accept()  # held, never closed, until the end
                c.close()
                closed = time.monotonic()
                time.sleep(0.2)
                fw2 = st.dump("client", states=["FIN_WAIT2"])
                run.observe("client_fin_wait2_first", len(fw2))
                run.evidence["client_fin_wait2_timer"] = [r.timer for r in fw2]
                if run.control:
                    time.sleep(0.3)
                    leaked.close()
                gone = None
                while time.monotonic() - closed < FIN_TIMEOUT_S + 2:
                    if not st.dump("client", states=["FIN_WAIT2"]):
                        gone = time.monotonic() - closed
                        break
                    time.sleep(0.1)
            run.observe("client_fin_wait2_lasted_s", None if gone is None else round(gone, 2))
            time.sleep(max(0.0, FIN_TIMEOUT_S + 0.5 - (time.monotonic() - closed)))
            run.observe("client_fin_wait2_after_fin_timeout",
                        len(st.dump("client", states=["FIN_WAIT2"])))
            cw = st.dump("server", states=["CLOSE_WAIT"])
            run.observe("server_close_wait_after_fin_timeout", len(cw))
            run.evidence["close_wait"] = [f"{r.local} <- {r.remote}" for r in cw]
            leaked.close()


SCENARIO = CloseWaitLeak()
