"""28. A SYN for a 4-tuple in TIME_WAIT: accepted above the old window, refused below."""

from __future__ import annotations

import time

from harness.scenarios import raw
from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

CLIENT_PORT = 5701
ABOVE, BELOW = 100_000, -100_000


class SynOverTimeWait(Scenario):
    name = "syn-over-time-wait"
    number = 28
    title = "SYN on a TIME_WAIT tuple: above accepted, below refused"
    claim = ("RFC 1122 lets a host reopen a connection whose 4-tuple is in TIME_WAIT if "
             "the new SYN is beyond the old connection (a higher sequence number, or a "
             "newer timestamp). Linux does: a SYN above the old rcv_nxt is answered with "
             "SYN+ACK and the TIME_WAIT socket is gone, the new ISN being the old "
             "connection's snd_nxt + 65537 (not a fresh hash); a SYN below it (and "
             "without a newer timestamp) is refused: the TIME_WAIT socket answers with a "
             "bare ACK for the old connection, and stays. (SYNs hand-made on a raw "
             "socket, without options; tcp_rfc1337=1 on the server so that the client "
             "host's RST for that ACK cannot kill the TIME_WAIT.)")
    shortened = ("tcp_rfc1337=1 on the server",)
    control = ("no TIME_WAIT on the tuple (the client closes first): both SYNs open a new "
               "connection with a fresh ISN")
    control_catches = ("reply_to_syn_below", "time_wait_after_syn_below", "isn_above_tw_snd_nxt")
    expected = {
        "server_time_wait": Expect(1),
        "reply_to_syn_below": Expect("ACK"),
        "time_wait_after_syn_below": Expect(1),
        "reply_to_syn_above": Expect("SYN,ACK"),
        "isn_above_tw_snd_nxt": Expect(65537),
        "time_wait_after_syn_above": Expect(0),
    }

    def execute(self, run: Run) -> None:
        with Stage(run, sysctls={"server": {"net.ipv4.tcp_rfc1337": 1}}) as st, \
                st.listen() as lst:
            with st.evidence():
                c = st.socket("client")
                c.bind((st.client.addr, CLIENT_PORT))
                c.connect((st.server.addr, st.port))
                conn, _ = lst.accept()
                first, second = (c, conn) if run.control else (conn, c)
                first.close()  # this side's FIN first: TIME_WAIT there
                second.recv(1)
                second.close()
                time.sleep(0.1)
            run.observe("server_time_wait", len(self._tw(st)))
            cfin = next(s for s in st.segments if s["src"] == "client" and "FIN" in s["flags"])
            sfin = next(s for s in st.segments if s["src"] == "server" and "FIN" in s["flags"])
            rcv_nxt = (cfin["seq_abs"] + 1) % 2**32
            tw_snd_nxt = (sfin["seq_abs"] + 1) % 2**32
            with st.evidence():
                for key, offset in (("below", BELOW), ("above", ABOVE)):
                    st.client.run(raw.send, st.client.addr, st.server.addr, CLIENT_PORT,
                                  st.port, rcv_nxt + offset)
                    time.sleep(0.1)
                    run.observe(f"time_wait_after_syn_{key}", len(self._tw(st)))
                    time.sleep(0.05)
            after_c = [s for s in st.segments if s["t"] > cfin["t"]]
            syns = [s for s in after_c if s["src"] == "client" and s["flags"] == "SYN"]
            for key, syn in zip(("below", "above"), syns, strict=False):
                reply = next((s for s in after_c if s["src"] == "server" and s["t"] > syn["t"]
                              and s["dport"] == CLIENT_PORT), None)
                run.observe(f"reply_to_syn_{key}", reply["flags"] if reply else "none")
                if key == "above" and reply and "SYN" in reply["flags"]:
                    run.observe("isn_above_tw_snd_nxt", (reply["seq_abs"] - tw_snd_nxt) % 2**32)
            run.evidence["old_rcv_nxt"] = rcv_nxt
            run.evidence["old_snd_nxt"] = tw_snd_nxt

    @staticmethod
    def _tw(st: Stage):
        return [r for r in st.dump("server", states=["TIME_WAIT"]) if r.dport == CLIENT_PORT]


SCENARIO = SynOverTimeWait()
