"""26. Writing to a connection the peer closed: RST, then EPIPE."""

from __future__ import annotations

import socket
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, errno_name


class WriteAfterPeerClose(Scenario):
    name = "write-after-peer-close"
    number = 26
    title = "Write after the peer closed: RST, then EPIPE"
    claim = ("A FIN only says the peer will send no more; it does not say whether it "
             "still reads. After the peer close()d, the first write still succeeds "
             "locally (the data leaves in CLOSE_WAIT), the peer's host answers it with RST "
             "because no socket will read it, and the next write fails with EPIPE "
             "(SIGPIPE, ignored by Python). Had the peer only shut down its sending side, "
             "the data would be read and acknowledged.")
    control = "the peer half-closes with shutdown(SHUT_WR) instead of close(): it still reads"
    control_catches = ("peer_sent_rst", "second_write")
    expected = {
        "state_before_write": Expect("CLOSE_WAIT"),
        "first_write": Expect("ok"),
        "peer_sent_rst": Expect(True),
        "second_write": Expect("EPIPE"),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st, st.listen() as lst:
            with st.evidence():
                c = st.connect()
                conn, _ = lst.accept()
                if run.control:
                    c.shutdown(socket.SHUT_WR)
                else:
                    c.close()  # the peer (here the client) closes
                assert conn.recv(16) == b""
                rows = st.dump("server", states=["CLOSE_WAIT"])
                run.observe("state_before_write", rows[0].state if rows else None)
                for key in ("first_write", "second_write"):
                    try:
                        conn.send(b"are you still there?")
                        run.observe(key, "ok")
                    except OSError as exc:
                        run.observe(key, errno_name(exc))
                    time.sleep(0.1)  # the answer (ACK or RST) comes back
                conn.close()
                if run.control:
                    c.recv(64)
                    c.close()
            run.observe("peer_sent_rst", st.sent("client", "RST"))


SCENARIO = WriteAfterPeerClose()
