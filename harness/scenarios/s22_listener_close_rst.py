"""22. Closing a listener with queued connections resets each of them."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, errno_name

QUEUED = 4


class ListenerCloseRst(Scenario):
    name = "listener-close-rst"
    number = 22
    title = "Closing a listener resets its queued connections"
    claim = ("Connections that completed the handshake but were never accept()ed belong "
             "to the listener's accept queue. Closing the listener aborts each of them: "
             "the kernel sends one RST per queued connection and each client's next call "
             "fails with ECONNRESET, although the clients saw a finished handshake.")
    control = "the connections are accepted (and held) before the listener closes"
    control_catches = ("server_rsts", "clients_reset", "rsts_on_wire")
    expected = {
        "queued_before_close": Expect(QUEUED),
        "server_rsts": Expect(QUEUED),
        "rsts_on_wire": Expect(QUEUED),
        "clients_reset": Expect(QUEUED),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st:
            with st.evidence():
                lst = st.listen(backlog=QUEUED)
                clients = [st.connect() for _ in range(QUEUED)]
                time.sleep(0.1)
                held = [lst.accept()[0] for _ in clients] if run.control else []
                (row,) = st.dump("server", states=["LISTEN"])
                run.observe("queued_before_close", row.rqueue)
                before = st.counters("server")["OutRsts"]
                lst.close()
                time.sleep(0.1)
                run.observe("server_rsts", st.counters("server")["OutRsts"] - before)
                errors = []
                for c in clients:
                    c.settimeout(0.3)
                    try:
                        c.recv(16)
                        errors.append("none")
                    except OSError as exc:
                        errors.append(errno_name(exc))
                    c.close()
                for conn in held:
                    conn.close()
            run.evidence["client_errors"] = errors
            run.observe("clients_reset", errors.count("ECONNRESET"))
            run.observe("rsts_on_wire", sum(1 for s in st.segments
                                            if s["src"] == "server" and "RST" in s["flags"]))


SCENARIO = ListenerCloseRst()
