"""18. Retransmission timeout: an unreachable peer ends in ETIMEDOUT, no FIN exchange."""

from __future__ import annotations

import socket
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.s03_close_server_first import errno_name
from harness.scenarios.stage import Stage

USER_TIMEOUT_MS = 2000
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


class RetransmissionTimeout(Scenario):
    name = "retransmission-timeout"
    number = 18
    title = "Unreachable peer: ETIMEDOUT, CLOSE, no FIN"
    claim = ("Data sent to a peer that has become unreachable is retransmitted with "
             "exponential backoff until TCP_USER_TIMEOUT (or, by default, tcp_retries2 = 15 "
             "retransmissions, about 15 minutes) runs out; then the connection is dropped: "
             "the application sees ETIMEDOUT and the socket goes straight to CLOSE, with no "
             "FIN exchanged.")
    shortened = (f"TCP_USER_TIMEOUT={USER_TIMEOUT_MS} ms on the client socket",)
    expected = {
        "client_error": Expect("ETIMEDOUT"),
        "gave_up_after_s": Expect((USER_TIMEOUT_MS / 1000, USER_TIMEOUT_MS / 1000 + 2.5),
                                  "between"),
        "retransmissions": Expect(2, "at_least"),
        "client_sent_fin": Expect(False),
        "client_path_end": Expect(["ESTABLISHED", "CLOSE"]),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            run.evidence["tcp_retries2"] = int(st.client.sysctl("net.ipv4.tcp_retries2"))
            with st.evidence():
                c = st.connect()
                conn, _ = lst.accept()
                c.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
                st.server.nft.drop("input", dport=st.port)  # the server host is gone
                before = st.counters("client")["RetransSegs"]
                t0 = time.monotonic()
                c.sendall(b"anyone there?")
                c.settimeout(USER_TIMEOUT_MS / 1000 + 10)
                try:
                    c.recv(64)
                    run.observe("client_error", "none")
                except OSError as exc:
                    run.observe("client_error", errno_name(exc))
                run.observe("gave_up_after_s", round(time.monotonic() - t0, 2))
                run.observe("retransmissions", st.counters("client")["RetransSegs"] - before)
                c.close()
                conn.close()
            run.observe("client_sent_fin", st.sent("client", "FIN"))
            path = [p for p in st.path("client") if p != "CLOSE"] or []
            full = st.path("client")
            run.observe("client_path_end", full[-2:] if len(full) >= 2 else None)
            run.evidence["client_path"] = full or path


SCENARIO = RetransmissionTimeout()
