"""17. Keepalive: a silent dead peer is found after idle + probes x interval, then RST."""

from __future__ import annotations

import itertools
import statistics

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, errno_name
from harness.sockets.options import set_keepalive

IDLE, INTVL = 1, 1
WAIT_S = 13  # longer than IDLE + 9 x INTVL


class Keepalive(Scenario):
    name = "keepalive"
    number = 17
    drops_segments = True
    title = "Keepalive: dead peer after idle + 9 probes, RST"
    claim = ("With SO_KEEPALIVE an idle connection is probed after tcp_keepalive_time; "
             "a peer that never answers is declared dead after tcp_keepalive_probes "
             "unanswered probes sent tcp_keepalive_intvl apart (Linux's default: 9 "
             "probes, 75 s apart, after 2 h idle). Each probe is an empty ACK one byte "
             "below the next sequence number; the keepalive timer is visible in the socket "
             "dump (timer 2). When it gives up, Linux sends an RST to the silent peer and "
             "the application sees ETIMEDOUT.")
    shortened = (f"per-socket TCP_KEEPIDLE={IDLE}s, TCP_KEEPINTVL={INTVL}s (defaults 7200 s, "
                 "75 s); TCP_KEEPCNT left at tcp_keepalive_probes",)
    control = "the peer is alive: nothing it sends is lost, so every probe is answered"
    control_catches = ("server_error", "probes_on_wire", "server_sent_rst")
    expected = {
        "keepalive_timer_in_dump": Expect(2),
        "probes_on_wire": Expect(9),
        "probe_interval_s": Expect(float(INTVL), "approx", 0.25),
        "server_sent_rst": Expect(True),
        "server_error": Expect("ETIMEDOUT"),
        "detected_after_s": Expect(float(IDLE + 9 * INTVL), "approx", 0.25),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            run.evidence["tcp_keepalive_probes"] = int(
                st.server.sysctl("net.ipv4.tcp_keepalive_probes"))
            with st.evidence():
                c = st.connect()
                conn, _ = lst.accept()
                cport = st.ports_of(c)[0]
                probes_cnt = run.evidence["tcp_keepalive_probes"]
                set_keepalive(conn, IDLE, INTVL, probes_cnt)
                c.sendall(b"last words")
                conn.recv(64)
                if not run.control:  # the client host goes silent: nothing reaches the server
                    st.lose("server", count=None, sport=cport)
                (row,) = st.dump("server", states=["ESTABLISHED"], ports=[cport])[:1] or [None]
                run.observe("keepalive_timer_in_dump", row.timer if row else None)
                conn.settimeout(WAIT_S)
                try:
                    conn.recv(64)
                    run.observe("server_error", "none")
                except OSError as exc:
                    run.observe("server_error", errno_name(exc))
                c.close()
                conn.close()
            self._read_wire(st, run, cport)

    @staticmethod
    def _read_wire(st: Stage, run: Run, cport: int) -> None:
        segs = [s for s in st.segments if cport in (s["sport"], s["dport"])]
        data = [s for s in segs if s["src"] == "client" and s["len"]]
        if not data:
            return
        last_data = data[-1]
        nxt = (last_data["seq_abs"] + last_data["len"]) % 2**32
        probes = [s for s in segs if s["src"] == "server" and s["t"] > last_data["t"]
                  and s["flags"] == "ACK" and s["len"] == 0
                  and (s["seq_abs"] - next_seq_before(segs, s)) % 2**32 == 2**32 - 1]
        run.evidence["client_next_seq"] = nxt
        run.observe("probes_on_wire", len(probes))
        if probes:
            gaps = [round(b["t"] - a["t"], 3) for a, b in itertools.pairwise(probes)]
            run.evidence["probe_gaps_s"] = gaps
            if gaps:
                run.observe("probe_interval_s", round(statistics.median(gaps), 3))
        rst = [s for s in segs if s["src"] == "server" and "RST" in s["flags"]]
        run.observe("server_sent_rst", bool(rst))
        if rst:
            run.observe("detected_after_s", round(rst[0]["t"] - last_data["t"], 2))


def next_seq_before(segs: list[dict], probe: dict) -> int:
    """The server's next sequence number before ``probe``: seq + len of its latest
    segment that carried data or SYN/FIN (a keepalive probe is one below it)."""
    nxt = None
    for s in segs:
        if s is probe:
            break
        if s["src"] == "server" and (s["len"] or {"SYN", "FIN"} & set(s["flags"].split(","))):
            nxt = (s["seq_abs"] + s["len"] + 1 if "SYN" in s["flags"] else
                   s["seq_abs"] + s["len"]) % 2**32
    return nxt if nxt is not None else probe["seq_abs"] + 1


SCENARIO = Keepalive()
