"""19. Initial sequence numbers: a keyed hash of the 4-tuple plus a 64 ns clock."""

from __future__ import annotations

import itertools
import socket
import statistics
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage
from harness.sockets.options import set_linger_rst

CONNECTIONS = 12
FIXED_PORT = 5601
CLOCK_READINGS = 4
CLOCK_PAUSE_S = 0.2
TICKS_PER_US = 1000 / 64  # secure_tcp_seq(): hash + (ktime_get_real_ns() >> 6)


def signed_gap(a: int, b: int) -> int:
    """b - a in sequence space (-2**31 .. 2**31)."""
    return ((b - a + 2**31) % 2**32) - 2**31


class InitialSequenceNumbers(Scenario):
    name = "isn"
    number = 19
    title = "ISN: hash of the 4-tuple plus a 64 ns clock"
    claim = ("The classic account draws the initial sequence number from a clock that "
             "ticks every 4 µs (250 per ms). Linux (RFC 6528) adds a keyed hash of the "
             "4-tuple to a clock that ticks every 64 ns (15.6 per µs): consecutive "
             "connections from different source ports start at unrelated places in the "
             "32-bit space, while reconnecting on one fixed 4-tuple steps forward with "
             "that clock.")
    control = ("the two halves swapped: the spread measured on one fixed 4-tuple, the "
               "clock measured across different source ports")
    control_catches = ("median_gap_bits", "backward_steps", "clock_ticks_per_us")
    expected = {
        "syns_captured": Expect(CONNECTIONS),
        "median_gap_bits": Expect(24, "at_least"),
        "backward_steps": Expect(1, "at_least"),
        "clock_ticks_per_us": Expect(TICKS_PER_US, "approx", 0.01),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen(backlog=64) as lst:
            with st.evidence():
                spread = [self._connect(st, lst, FIXED_PORT if run.control else 0)
                          for _ in range(CONNECTIONS)]
                clock = []
                for i in range(CLOCK_READINGS):
                    if i:
                        time.sleep(CLOCK_PAUSE_S)
                    clock.append(self._connect(st, lst, 0 if run.control else FIXED_PORT + 1))
            by_port = [s for s in st.segments if s["src"] == "client" and s["flags"] == "SYN"]
            isns = [s["seq_abs"] for s in by_port if s["sport"] in spread]
            run.observe("syns_captured", len(isns) if st.segments else None)
            if len(isns) >= 2:
                gaps = [signed_gap(a, b) for a, b in itertools.pairwise(isns)]
                run.observe("median_gap_bits", int(statistics.median(abs(g) for g in gaps))
                            .bit_length())
                run.observe("backward_steps", sum(g < 0 for g in gaps))
                run.evidence["isns"] = isns
            ticks = [s for s in by_port if s["sport"] in clock]
            if len(ticks) >= 2:
                rates = [signed_gap(a["seq_abs"], b["seq_abs"]) / ((b["t"] - a["t"]) * 1e6)
                         for a, b in itertools.pairwise(ticks)]
                run.evidence["clock_isns"] = [s["seq_abs"] for s in ticks]
                run.evidence["clock_rates_per_us"] = [round(r, 3) for r in rates]
                run.observe("clock_ticks_per_us", round(statistics.median(rates), 3))
            run.evidence["ports"] = {"spread": sorted(set(spread)), "clock": sorted(set(clock))}

    @staticmethod
    def _connect(st: Stage, lst, port: int) -> int:
        """One connection from ``port`` (0: an ephemeral one), ended by RST so that no
        TIME_WAIT holds the 4-tuple; returns the source port."""
        c = st.socket("client")
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind((st.client.addr, port))
        c.settimeout(5)
        c.connect((st.server.addr, st.port))
        conn, _ = lst.accept()
        sport = c.getsockname()[1]
        set_linger_rst(c)
        c.close()
        time.sleep(0.01)
        conn.close()
        return sport


SCENARIO = InitialSequenceNumbers()
