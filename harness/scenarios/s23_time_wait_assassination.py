"""23. TIME_WAIT assassination: an RST ends TIME_WAIT, unless tcp_rfc1337=1."""

from __future__ import annotations

import time

from harness.scenarios import raw
from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage


class TimeWaitAssassination(Scenario):
    name = "time-wait-assassination"
    number = 23
    title = "An RST kills TIME_WAIT unless tcp_rfc1337=1"
    claim = ("RFC 1337's hazard: a TIME_WAIT socket that receives an RST in its window is "
             "destroyed at once (Linux's default tcp_rfc1337=0), so the 60 s that guard "
             "against old duplicates are cut short. With tcp_rfc1337=1 the TIME_WAIT "
             "socket ignores the RST and stays. (The lab sends the RST from the server "
             "host's raw socket, with seq = the TIME_WAIT side's rcv_nxt, read from the "
             "captured FIN.)")
    control = "tcp_rfc1337 inverted on the client: 1 for the first RST, 0 for the second"
    control_catches = ("time_wait_after_rst_rfc1337_0", "time_wait_after_rst_rfc1337_1")
    expected = {
        "time_wait_before_rst": Expect(2),
        "time_wait_after_rst_rfc1337_0": Expect(0),
        "time_wait_after_rst_rfc1337_1": Expect(1),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            targets = []
            with st.evidence():
                for _ in range(2):
                    c = st.connect()
                    cport = st.ports_of(c)[0]
                    conn, _ = lst.accept()
                    c.close()  # client first: TIME_WAIT on the client
                    conn.recv(1)
                    conn.close()
                    targets.append(cport)
                time.sleep(0.1)
            run.observe("time_wait_before_rst", len(st.dump("client", states=["TIME_WAIT"])))
            with st.evidence():
                for setting, cport in zip((0, 1), targets, strict=True):
                    value = 1 - setting if run.control else setting
                    st.client.set_sysctl("net.ipv4.tcp_rfc1337", value)
                    fin = next(s for s in st.segments if s["src"] == "server"
                               and "FIN" in s["flags"] and s["dport"] == cport)
                    st.server.run(raw.send, st.server.addr, st.client.addr, st.port, cport,
                                  fin["seq_abs"] + 1, 0, "RST")
                    time.sleep(0.1)
                    left = st.dump("client", states=["TIME_WAIT"], ports=[cport])
                    run.observe(f"time_wait_after_rst_rfc1337_{setting}", len(left))
                    run.evidence[f"rfc1337_for_rst_{setting}"] = value


SCENARIO = TimeWaitAssassination()
