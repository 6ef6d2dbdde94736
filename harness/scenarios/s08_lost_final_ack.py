"""8. Lost final ACK: LAST_ACK retransmits its FIN; TIME_WAIT answers; CLOSED would RST."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage


class LostFinalAck(Scenario):
    name = "lost-final-ack"
    number = 8
    title = "Lost final ACK: FIN again, TIME_WAIT answers"
    claim = ("If the last ACK of the close is lost, the side in LAST_ACK retransmits its "
             "FIN. The side in TIME_WAIT still knows the connection and acknowledges it "
             "again: that is what TIME_WAIT is for. Had it gone straight to CLOSED, the "
             "retransmitted FIN would be answered with RST (shown with tcp_max_tw_buckets=0, "
             "which makes the kernel skip TIME_WAIT).")
    expected = {
        "final_ack_dropped": Expect(1),
        "server_fins": Expect(2, "at_least"),
        "client_acks_of_server_fin": Expect(1, "at_least"),
        "client_resets_with_time_wait": Expect(0),
        "client_resets_without_time_wait": Expect(1, "at_least"),
        "server_retransmissions": Expect(1, "at_least"),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            with st.evidence():
                resets, dropped, retrans = self._close_losing_last_ack(st, lst)
            run.observe("final_ack_dropped", dropped)
            run.observe("client_resets_with_time_wait", resets)
            run.observe("server_retransmissions", retrans)
            if st.segments:
                sfins = [s for s in st.segments if s["src"] == "server" and "FIN" in s["flags"]]
                run.observe("server_fins", len(sfins))
                if sfins:
                    run.observe("client_acks_of_server_fin", sum(
                        1 for s in st.segments if s["src"] == "client"
                        and s["ack_abs"] == (sfins[0]["seq_abs"] + 1) % 2**32))
            st.client.set_sysctl("net.ipv4.tcp_max_tw_buckets", 0)
            resets, _, _ = self._close_losing_last_ack(st, lst)
            run.observe("client_resets_without_time_wait", resets)
            run.evidence["client_time_wait_without_buckets"] = len(
                st.dump("client", states=["TIME_WAIT"]))

    @staticmethod
    def _close_losing_last_ack(st: Stage, lst) -> tuple[int, int, int]:
        before_c, before_s = st.counters("client"), st.counters("server")
        c = st.connect()
        conn, _ = lst.accept()
        c.close()  # client first: FIN_WAIT1 -> FIN_WAIT2
        conn.recv(1)
        time.sleep(0.1)
        rule = st.client.nft.drop("output", once=True, tcp_flags="ack", dport=st.port)
        conn.close()  # server: LAST_ACK; the client's ACK of this FIN is dropped
        time.sleep(1.0)  # the FIN's retransmission timer fires (>= 200 ms)
        after_c, after_s = st.counters("client"), st.counters("server")
        dropped = rule.packets
        rule.delete()
        return (after_c["OutRsts"] - before_c["OutRsts"], dropped,
                after_s["RetransSegs"] - before_s["RetransSegs"])


SCENARIO = LostFinalAck()
