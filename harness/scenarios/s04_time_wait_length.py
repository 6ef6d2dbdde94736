"""4. TIME_WAIT lasts 60 s on Linux, measured from the socket's timer."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

PAUSE_S = 2.0
FIN_TIMEOUT_S = 5


class TimeWaitLength(Scenario):
    name = "time-wait-length"
    number = 4
    title = "TIME_WAIT lasts 60 s on Linux, not 2 x MSL"
    claim = ("The classic account holds a closed connection in TIME_WAIT for twice the "
             "maximum segment lifetime, 2 x 2 min = 4 min. Linux uses a fixed "
             "TCP_TIMEWAIT_LEN of 60 s, and tcp_fin_timeout does not change it. Measured from "
             "the TIME_WAIT socket's own timer (sock_diag idiag_expires) in two readings "
             f"{PAUSE_S:.0f} s apart, not by waiting a minute.")
    shortened = (f"tcp_fin_timeout set to {FIN_TIMEOUT_S} s on the client, to show it does "
                 "not shorten TIME_WAIT",)
    control = ("the server never sends its FIN: the client's closed socket stays in "
               "FIN_WAIT2, whose timer is tcp_fin_timeout's, read the same way")
    control_catches = ("client_state", "time_wait_total_s")
    expected = {
        "client_state": Expect("TIME_WAIT"),
        "time_wait_total_s": Expect(60.0, "approx", 0.03),
        "timer_kind": Expect(3),
        "timer_runs_down_s": Expect(PAUSE_S, "approx", 0.15),
    }

    def execute(self, run: Run) -> None:
        with Stage(run, sysctls={"client": {"net.ipv4.tcp_fin_timeout": FIN_TIMEOUT_S}}) as st:
            with st.listen() as lst, st.connect() as c:
                with st.evidence():
                    conn, _ = lst.accept()
                    c.close()  # client first: TIME_WAIT on the client
                    conn.recv(1)
                    if not run.control:
                        conn.close()
                    closed_at = time.monotonic()
                    time.sleep(0.2)
                first = self._reading(st)
                t1 = time.monotonic()
                time.sleep(PAUSE_S)
                second = self._reading(st)
                t2 = time.monotonic()
                conn.close()
            if first is None or second is None:
                return
            run.observe("client_state", first.state)
            run.observe("timer_kind", first.timer)
            run.observe("timer_runs_down_s", round((first.expires - second.expires) / 1000, 3))
            total = (t1 - closed_at) + first.expires / 1000
            run.observe("time_wait_total_s", round(total, 2))
            run.evidence.update({
                "expires_ms_first": first.expires, "expires_ms_second": second.expires,
                "seconds_between_readings": round(t2 - t1, 3),
                "tcp_fin_timeout": st.client.sysctl("net.ipv4.tcp_fin_timeout"),
            })
            run.note(f"Linux: {first.state} {total:.1f} s measured (textbook 2MSL: 240 s)")

    @staticmethod
    def _reading(st: Stage):
        rows = st.dump("client", states=["TIME_WAIT", "FIN_WAIT2"])
        return rows[0] if len(rows) == 1 else None


SCENARIO = TimeWaitLength()
