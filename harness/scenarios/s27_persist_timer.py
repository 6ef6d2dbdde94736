"""27. Zero window: the persist timer sends window probes, backing off."""

from __future__ import annotations

import contextlib
import itertools
import socket
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

RCVBUF = 4096
WAIT_S = 3.5


class PersistTimer(Scenario):
    name = "persist-timer"
    number = 27
    title = "Zero window: persist timer, window probes"
    claim = ("When the receiver's application stops reading, its buffer fills and it "
             "advertises a zero window. The sender does not give up and does not send "
             "data: its persist timer (timer 4 in the socket dump) fires with backoff "
             "(each wait about twice the last, from the RTO) and sends a zero-window "
             "probe, an empty ACK one byte below the next sequence number (TCPWinProbe), "
             "which the receiver answers with its window, still 0.")
    control = "the receiving application reads: the window never closes"
    control_catches = ("window_probes", "probe_timer_in_dump", "win_probe_counter")
    expected = {
        "zero_window_advertised": Expect(True),
        "probe_timer_in_dump": Expect(4),
        "window_probes": Expect(3, "at_least"),
        "probe_backoff_ratio": Expect(2.0, "approx", 0.3),
        "win_probe_counter": Expect(3, "at_least"),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st:
            lst = st.socket("server")
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)  # the child inherits
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lst.bind((st.server.addr, st.port))
            lst.listen(1)
            before = st.counters("client").get("TCPWinProbe", 0)
            with st.evidence():
                c = st.connect()
                cport = st.ports_of(c)[0]
                conn, _ = lst.accept()
                c.setblocking(False)
                reader = st.background(self._drain, conn) if run.control else None
                sent = 0
                deadline = time.monotonic() + WAIT_S
                while time.monotonic() < deadline:
                    with contextlib.suppress(BlockingIOError):
                        sent += c.send(b"x" * 65536)
                    time.sleep(0.05)
                rows = st.dump("client", states=["ESTABLISHED"], ports=[cport])
                run.observe("probe_timer_in_dump", rows[0].timer if rows else None)
                run.evidence["bytes_sent_by_application"] = sent
                c.close()
                if reader is not None:
                    reader.wait(5)
                conn.close()
                lst.close()
            run.observe("win_probe_counter", st.counters("client").get("TCPWinProbe", 0) - before)
            segs = [s for s in st.segments if cport in (s["sport"], s["dport"])]
            zero = [s for s in segs if s["src"] == "server" and s["window"] == 0
                    and "SYN" not in s["flags"] and "RST" not in s["flags"]]
            run.observe("zero_window_advertised", bool(zero))
            probes = [s for s in segs if s["src"] == "client" and s["flags"] == "ACK"
                      and s["len"] == 0 and zero and s["t"] > zero[0]["t"]
                      and (s["seq_abs"] + 1) % 2**32 == self._next_seq(segs, s)]
            run.observe("window_probes", len(probes))
            gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(probes)]
            run.evidence["probe_gaps_s"] = [round(g, 3) for g in gaps]
            ratios = [b / a for a, b in itertools.pairwise(gaps) if a > 0]
            if ratios:
                run.observe("probe_backoff_ratio", round(sorted(ratios)[len(ratios) // 2], 2))

    @staticmethod
    def _drain(conn: socket.socket) -> int:
        """Read until the peer closes (the control's reading application)."""
        got = 0
        conn.settimeout(WAIT_S + 5)
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                got += len(chunk)
        return got

    @staticmethod
    def _next_seq(segs: list[dict], probe: dict) -> int | None:
        """The client's next sequence number when ``probe`` left: the highest seq + len
        of data it had sent."""
        top = None
        for s in segs:
            if s is probe:
                break
            if s["src"] == "client" and s["len"]:
                end = (s["seq_abs"] + s["len"]) % 2**32
                top = end if top is None or (end - top) % 2**32 < 2**31 else top
        return top


SCENARIO = PersistTimer()
