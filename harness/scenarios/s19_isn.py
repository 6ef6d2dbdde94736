"""19. Initial sequence numbers are not a counter."""

from __future__ import annotations

import itertools
import statistics

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

CONNECTIONS = 12


def signed_gap(a: int, b: int) -> int:
    """b - a in sequence space (-2**31 .. 2**31)."""
    return ((b - a + 2**31) % 2**32) - 2**31


class InitialSequenceNumbers(Scenario):
    name = "isn"
    number = 19
    title = "ISNs are spread, not a 4 µs counter"
    claim = ("The classic account draws the initial sequence number from a clock that "
             "ticks every 4 µs. Linux (RFC 6528) adds a keyed hash of the 4-tuple to a "
             "clock, so consecutive connections from different source ports to the same "
             "server port start at unrelated places in the 32-bit space.")
    expected = {
        "syns_captured": Expect(CONNECTIONS),
        "median_gap_bits": Expect(24, "at_least"),
        "backward_steps": Expect(1, "at_least"),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen(backlog=64) as lst:
            with st.evidence():
                for _ in range(CONNECTIONS):
                    c = st.connect()
                    conn, _ = lst.accept()
                    conn.close()
                    c.close()
            isns = [s["seq_abs"] for s in st.segments if s["src"] == "client"
                    and s["flags"] == "SYN"]
            run.observe("syns_captured", len(isns) if st.segments else None)
            if len(isns) >= 2:
                gaps = [signed_gap(a, b) for a, b in itertools.pairwise(isns)]
                median = statistics.median(abs(g) for g in gaps)
                run.observe("median_gap_bits", int(median).bit_length())
                run.observe("backward_steps", sum(g < 0 for g in gaps))
                run.evidence["isns"] = isns
                run.evidence["a_4us_counter_would_step_by"] = "about 250 per ms"


SCENARIO = InitialSequenceNumbers()
