"""17. Keepalive: a silent dead peer is found after idle + probes x interval."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.s03_close_server_first import errno_name
from harness.scenarios.stage import Stage
from harness.sockets.options import set_keepalive

IDLE, INTVL, CNT = 1, 1, 3


class Keepalive(Scenario):
    name = "keepalive"
    number = 17
    title = "Keepalive: dead peer after idle + 9 probes"
    claim = ("With SO_KEEPALIVE an idle connection is probed after tcp_keepalive_time; "
             "a peer that never answers is declared dead after tcp_keepalive_probes "
             "unanswered probes sent tcp_keepalive_intvl apart, and the application sees "
             "ETIMEDOUT. The keepalive timer is visible in the socket dump (timer 2). "
             "Linux's default is 9 probes, 75 s apart, after 2 h idle.")
    shortened = (f"per-socket TCP_KEEPIDLE={IDLE}s, TCP_KEEPINTVL={INTVL}s, TCP_KEEPCNT={CNT} "
                 "(defaults 7200 s, 75 s, 9)",)
    expected = {
        "default_probes": Expect(9),
        "keepalive_timer_in_dump": Expect(2),
        "server_error": Expect("ETIMEDOUT"),
        "detected_after_s": Expect(float(IDLE + CNT * INTVL), "approx", 0.3),
        "probes_sent": Expect(CNT),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            run.observe("default_probes", int(st.server.sysctl("net.ipv4.tcp_keepalive_probes")))
            c = st.connect()
            conn, _ = lst.accept()
            set_keepalive(conn, IDLE, INTVL, CNT)
            c.sendall(b"last words")
            conn.recv(64)
            quiet_since = time.monotonic()
            # The client host goes silent: nothing it sends reaches the server any more.
            st.client.nft.drop("output", dport=st.port)
            probes = st.server.nft.count("output", sport=st.port, tcp_flags="ack")
            (row,) = st.dump("server", states=["ESTABLISHED"], ports=None)[:1] or [None]
            run.observe("keepalive_timer_in_dump", row.timer if row else None)
            conn.settimeout(IDLE + CNT * INTVL + 5)
            try:
                conn.recv(64)
                run.observe("server_error", "none")
            except OSError as exc:
                run.observe("server_error", errno_name(exc))
            run.observe("detected_after_s", round(time.monotonic() - quiet_since, 2))
            run.observe("probes_sent", probes.packets)
            conn.close()
            c.close()


SCENARIO = Keepalive()
