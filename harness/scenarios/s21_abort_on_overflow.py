"""21. A final ACK into a full accept queue: dropped, or RST with tcp_abort_on_overflow."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, errno_name

BACKLOG = 1  # the queue holds BACKLOG + 1 = 2


class AbortOnOverflow(Scenario):
    name = "abort-on-overflow"
    number = 21
    drops_segments = True
    title = "Final ACK into a full queue: drop, or RST"
    claim = ("A handshake whose SYN found room but whose final ACK finds the accept queue "
             "full: with tcp_abort_on_overflow=0 (the default) the server drops that ACK "
             "(ListenOverflows) and keeps the request in SYN_RECV, while the client, "
             "ESTABLISHED already, retransmits its data unanswered; with "
             "tcp_abort_on_overflow=1 the server answers the ACK with RST and the client's "
             "next call fails with ECONNRESET. (The lab loses the client's pure ACK, fills "
             "the queue with two other connections, then the client's first data segment "
             "acts as the final ACK.)")
    control = "tcp_abort_on_overflow inverted in each half: 1 first, then 0"
    control_catches = ("client_error_abort_0", "server_rst_abort_0", "client_error_abort_1",
                       "server_rst_abort_1")
    expected = {
        "listen_overflows_abort_0": Expect(1, "at_least"),
        "request_kept_abort_0": Expect(1),
        "client_error_abort_0": Expect("timeout"),
        "server_rst_abort_0": Expect(False),
        "client_error_abort_1": Expect("ECONNRESET"),
        "server_rst_abort_1": Expect(True),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st:
            for half, port in ((0, st.port), (1, st.port + 1)):
                abort = 1 - half if run.control else half
                st.server.set_sysctl("net.ipv4.tcp_abort_on_overflow", abort)
                with st.evidence(ports=[port]):
                    lport = self._overflow(st, run, half, port)
                run.observe(f"server_rst_abort_{half}", any(
                    s["src"] == "server" and "RST" in s["flags"] and s["dport"] == lport
                    for s in st.segments))

    @staticmethod
    def _overflow(st: Stage, run: Run, half: int, port: int) -> int:
        """The experiment for one setting; returns the late client's port."""
        before = st.counters("server")
        with st.listen(backlog=BACKLOG, port=port):
            st.lose("server", tcp_flags="ack", payload_len=0, dport=port)
            late = st.connect(port)  # ESTABLISHED; its request waits for an ACK
            lport = st.ports_of(late)[0]
            others = [st.connect(port) for _ in range(BACKLOG + 1)]  # fill the queue
            time.sleep(0.1)
            late.sendall(b"late")  # the data segment carries the final ACK
            time.sleep(0.2)
            kept = len(st.dump("server", states=["SYN_RECV"], ports=[port]))
            if half == 0:
                run.observe("request_kept_abort_0", kept)
            run.evidence[f"syn_recv_abort_{half}"] = kept
            late.settimeout(0.8)
            try:
                late.recv(16)
                run.observe(f"client_error_abort_{half}", "none")
            except OSError as exc:
                run.observe(f"client_error_abort_{half}", errno_name(exc))
            after = st.counters("server")
            if half == 0:
                run.observe("listen_overflows_abort_0",
                            after["ListenOverflows"] - before["ListenOverflows"])
            run.evidence[f"abort_{half}_sysctl"] = st.server.sysctl(
                "net.ipv4.tcp_abort_on_overflow")
            for c in [late, *others]:
                c.close()
        return lport


SCENARIO = AbortOnOverflow()
