"""24. tcp_max_tw_buckets overflow: no TIME_WAIT, and what that costs."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

BUCKETS = 2
CONNECTIONS = 5


class TwBucketsOverflow(Scenario):
    name = "tw-buckets-overflow"
    number = 24
    title = "tcp_max_tw_buckets full: no TIME_WAIT, RST"
    claim = (f"tcp_max_tw_buckets caps a host's TIME_WAIT sockets (and FIN_WAIT2 "
             f"minisockets). Past the cap the kernel does not wait: a closing socket that "
             f"would become a minisocket is destroyed at once and counted as "
             f"TCPTimeWaitOverflow. What that costs: a client that closes first and is "
             f"over the cap has no socket when the server's FIN arrives, so it answers "
             f"the FIN with RST instead of ACK (and nothing would catch a retransmitted "
             f"FIN or an old duplicate). Here: cap {BUCKETS}, {CONNECTIONS} connections.")
    shortened = (f"tcp_max_tw_buckets={BUCKETS} on the client (default 131072 here)",)
    control = "tcp_max_tw_buckets left at its default"
    control_catches = ("client_time_wait", "time_wait_overflows", "client_rsts_for_fins")
    expected = {
        "client_time_wait": Expect(BUCKETS),
        "time_wait_overflows": Expect(CONNECTIONS - BUCKETS),
        "client_rsts_for_fins": Expect(CONNECTIONS - BUCKETS),
    }

    def execute(self, run: Run) -> None:
        sysctls = None if run.control else {"client": {"net.ipv4.tcp_max_tw_buckets": BUCKETS}}
        with Stage(run, sysctls=sysctls) as st, st.listen() as lst:
            before = st.counters("client")
            with st.evidence():
                for _ in range(CONNECTIONS):
                    c = st.connect()
                    conn, _ = lst.accept()
                    c.close()  # client first
                    conn.recv(1)
                    time.sleep(0.02)
                    conn.close()
                time.sleep(0.1)
            after = st.counters("client")
            run.observe("client_time_wait", len(st.dump("client", states=["TIME_WAIT"])))
            run.observe("time_wait_overflows", after.get("TCPTimeWaitOverflow", 0)
                        - before.get("TCPTimeWaitOverflow", 0))
            run.observe("client_rsts_for_fins", sum(
                1 for s in st.segments if s["src"] == "client" and "RST" in s["flags"]))
            run.evidence["tcp_max_tw_buckets"] = int(st.client.sysctl(
                "net.ipv4.tcp_max_tw_buckets"))


SCENARIO = TwBucketsOverflow()
