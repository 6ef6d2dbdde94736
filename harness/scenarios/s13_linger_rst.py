"""13. SO_LINGER {on, 0}: close() sends RST, no TIME_WAIT, the peer gets ECONNRESET."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, errno_name
from harness.sockets.options import set_linger_rst


class LingerRst(Scenario):
    name = "linger-rst"
    number = 13
    title = "SO_LINGER {1,0}: RST, no TIME_WAIT"
    claim = ("With SO_LINGER set to on with a zero timeout, close() aborts the connection: "
             "the kernel sends RST instead of FIN, neither side enters TIME_WAIT, and the "
             "peer's next read fails with ECONNRESET.")
    control = "SO_LINGER left unset: an ordinary close()"
    control_catches = ("client_error", "time_wait_anywhere", "server_out_rsts",
                       "server_sent_rst", "server_sent_fin")
    expected = {
        "client_error": Expect("ECONNRESET"),
        "time_wait_anywhere": Expect(0),
        "server_out_rsts": Expect(1, "at_least"),
        "server_sent_rst": Expect(True),
        "server_sent_fin": Expect(False),
        "client_sent_rst": Expect(False),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            before = st.counters("server")
            with st.evidence():
                c = st.connect()
                conn, _ = lst.accept()
                c.sendall(b"ping")
                conn.recv(16)
                if not run.control:
                    set_linger_rst(conn)
                conn.close()  # abortive close on the server
                time.sleep(0.1)
                try:
                    data = c.recv(16)
                    run.observe("client_error", "none" if data == b"" else "data")
                except OSError as exc:
                    run.observe("client_error", errno_name(exc))
                c.close()
                time.sleep(0.1)
            run.observe("time_wait_anywhere", len(st.dump("client", states=["TIME_WAIT"])) +
                        len(st.dump("server", states=["TIME_WAIT"])))
            run.observe("server_out_rsts", st.counters("server")["OutRsts"] - before["OutRsts"])
            run.observe("server_sent_rst", st.sent("server", "RST"))
            run.observe("server_sent_fin", st.sent("server", "FIN"))
            run.observe("client_sent_rst", st.sent("client", "RST"))


SCENARIO = LingerRst()
