"""18. Retransmission timeout: an unreachable peer ends in ETIMEDOUT, no FIN exchange."""

from __future__ import annotations

import itertools
import socket
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, errno_name

USER_TIMEOUT_MS = 3000
RETRIES2 = 2
# tcp_model_timeout(): with TCP_RTO_MIN = 200 ms, tcp_retries2 = N <= 9 (below the
# 120 s cap) becomes a budget of 200 ms x (2^(N+1) - 1) of backoff, not N attempts;
# it is checked when the RTO fires, so the give-up comes at the first expiry past it.
RETRIES2_BUDGET_S = round(0.2 * (2 ** (RETRIES2 + 1) - 1), 3)
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


class RetransmissionTimeout(Scenario):
    name = "retransmission-timeout"
    number = 18
    drops_segments = True
    title = "Unreachable peer: backoff, ETIMEDOUT, no FIN"
    claim = ("Data sent to a peer that has become unreachable is retransmitted with "
             "exponential backoff (each wait twice the last, from the RTO of at least "
             "200 ms) until TCP_USER_TIMEOUT runs out or, without it, until the time "
             "tcp_retries2 stands for: Linux turns tcp_retries2 = N into the time N "
             "doubling RTOs from 200 ms would take (N = 15: 924.6 s; "
             f"N = {RETRIES2}: {RETRIES2_BUDGET_S:.1f} s), counted from the first RTO "
             "retransmission and checked when the RTO fires, not a count of N "
             "retransmissions: more go out (a tail loss probe first, then the RTOs "
             "until one expires past the budget). Then the connection is dropped: the "
             "application sees ETIMEDOUT and the socket goes straight to CLOSE, with no "
             "FIN exchanged.")
    shortened = (f"TCP_USER_TIMEOUT={USER_TIMEOUT_MS} ms on the first client socket; "
                 f"tcp_retries2={RETRIES2} on the client for the second",)
    control = "the server host stays reachable: nothing is lost"
    control_catches = ("client_error", "retransmissions", "backoff_ratio",
                       "retries2_gave_up_after_s", "retries2_retransmissions")
    expected = {
        "client_error": Expect("ETIMEDOUT"),
        "gave_up_after_s": Expect((USER_TIMEOUT_MS / 1000, USER_TIMEOUT_MS / 1000 + 1.0),
                                  "between"),
        "retransmissions": Expect(3, "at_least"),
        "backoff_ratio": Expect(2.0, "approx", 0.15),
        "client_sent_fin": Expect(False),
        "client_path_end": Expect(["ESTABLISHED", "CLOSE"]),
        "retries2_gave_up_after_s": Expect((RETRIES2_BUDGET_S, 3 * RETRIES2_BUDGET_S),
                                           "between"),
        "retries2_retransmissions": Expect(RETRIES2 + 1, "at_least"),
    }

    def execute(self, run: Run) -> None:
        sysctls = {"client": {"net.ipv4.tcp_retries2": RETRIES2}}
        with Stage(run, sysctls=sysctls) as st, st.listen() as lst:
            with st.evidence():
                c, ports, conn = self._connected(st, lst)
                c.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
                if not run.control:  # the server host is gone
                    st.lose("server", count=None, sport=ports[0])
                before = st.counters("client")["RetransSegs"]
                answer = conn if run.control else None
                error, took = self._send_and_wait(c, USER_TIMEOUT_MS / 1000 + 3, answer)
                run.observe("client_error", error)
                run.observe("gave_up_after_s", took)
                run.observe("retransmissions", st.counters("client")["RetransSegs"] - before)
                c.close()
                conn.close()
                # Again without TCP_USER_TIMEOUT: tcp_retries2 decides.
                c2, ports2, conn2 = self._connected(st, lst)
                if not run.control:
                    st.lose("server", count=None, sport=ports2[0])
                error2, took2 = self._send_and_wait(c2, 3 * RETRIES2_BUDGET_S + 1,
                                                    conn2 if run.control else None)
                run.evidence["retries2_error"] = error2
                c2.close()
                conn2.close()
            sent = self._data_times(st, ports[0])
            gaps = [round(b - a, 3) for a, b in itertools.pairwise(sent)]
            run.evidence["send_and_retransmit_gaps_s"] = gaps
            if len(gaps) >= 2:
                ratios = [b / a for a, b in itertools.pairwise(gaps) if a > 0]
                run.observe("backoff_ratio", round(sorted(ratios)[len(ratios) // 2], 2))
            sent2 = self._data_times(st, ports2[0])
            run.observe("retries2_retransmissions", max(0, len(sent2) - 1))
            run.evidence["retries2_sent_at_s"] = [round(t - sent2[0], 3) for t in sent2]
            run.observe("retries2_gave_up_after_s", took2 if error2 == "ETIMEDOUT" else error2)
            run.observe("client_sent_fin", st.sent("client", "FIN", port=ports[0]))
            full = st.path("client", ports)
            run.observe("client_path_end", full[-2:] if len(full) >= 2 else None)
            run.evidence["client_path"] = full

    @staticmethod
    def _connected(st: Stage, lst):
        c = st.connect()
        conn, _ = lst.accept()
        return c, st.ports_of(c), conn

    @staticmethod
    def _send_and_wait(c, wait_s: float, answer=None) -> tuple[str, float]:
        """Send, then wait for an answer (``answer``: the server socket replies)."""
        t0 = time.monotonic()
        c.sendall(b"anyone there?")
        if answer is not None:
            answer.sendall(answer.recv(64))
        c.settimeout(wait_s)
        try:
            c.recv(64)
            error = "none"
        except OSError as exc:
            error = errno_name(exc)
        return error, round(time.monotonic() - t0, 2)

    @staticmethod
    def _data_times(st: Stage, port: int) -> list[float]:
        """When the client put its data on the wire: first send, then each retransmission."""
        return [s["t"] for s in st.segments if s["src"] == "client" and s["sport"] == port
                and s["len"]]


SCENARIO = RetransmissionTimeout()
