"""20. TCP Fast Open: data in the SYN."""

from __future__ import annotations

import socket
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

TCP_FASTOPEN = getattr(socket, "TCP_FASTOPEN", 23)
MSG_FASTOPEN = getattr(socket, "MSG_FASTOPEN", 0x20000000)
PAYLOAD = b"GET / in the SYN"


class FastOpen(Scenario):
    name = "fast-open"
    number = 20
    title = "TCP Fast Open: data in the SYN"
    claim = ("The classic account says a SYN carries no data. With TCP Fast Open "
             "(RFC 7413) a client first gets a cookie in a SYN+ACK; on the next connection "
             "its SYN carries the cookie and data, and the server hands the data to the "
             "application before the handshake completes.")
    shortened = ("net.ipv4.tcp_fastopen=3 (client and server) in the lab hosts",)
    control = "TCP_FASTOPEN not set on the listener (the socket option unset)"
    control_catches = ("second_syn_len", "server_passive_tfo")
    expected = {
        "first_syn_len": Expect(0),
        "second_syn_len": Expect(len(PAYLOAD)),
        "server_passive_tfo": Expect(1, "at_least"),
        "data_at_accept": Expect(PAYLOAD.decode()),
    }

    def execute(self, run: Run) -> None:
        sysctls = {"client": {"net.ipv4.tcp_fastopen": 3},
                   "server": {"net.ipv4.tcp_fastopen": 3}}
        opts = {} if run.control else {"TCP_FASTOPEN": 16}
        with Stage(run, sysctls=sysctls) as st, st.listen(**opts) as lst:
            before = st.counters("server")
            with st.evidence():
                for _ in range(2):
                    c = st.socket("client")  # blocking: sendto() does the connect
                    c.sendto(PAYLOAD, MSG_FASTOPEN, (st.server.addr, st.port))
                    conn, _ = lst.accept()
                    conn.settimeout(5)
                    data = conn.recv(64)
                    conn.close()
                    c.close()
                    time.sleep(0.1)
            run.observe("data_at_accept", data.decode(errors="replace"))
            after = st.counters("server")
            run.observe("server_passive_tfo",
                        after.get("TCPFastOpenPassive", 0) - before.get("TCPFastOpenPassive", 0))
            syns = [s for s in st.segments if s["src"] == "client" and s["flags"] == "SYN"]
            if len(syns) >= 2:
                run.observe("first_syn_len", syns[0]["len"])
                run.observe("second_syn_len", syns[1]["len"])
                run.evidence["syn_options"] = [s["options"] for s in syns[:2]]
            run.evidence["TCPFastOpenCookieReqd"] = (after.get("TCPFastOpenCookieReqd", 0)
                                                     - before.get("TCPFastOpenCookieReqd", 0))


SCENARIO = FastOpen()
