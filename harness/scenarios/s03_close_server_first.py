"""3. Server closes first: TIME_WAIT on the server, and rebinding its port."""

from __future__ import annotations

import socket
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, errno_name


class CloseServerFirst(Scenario):
    name = "close-server-first"
    number = 3
    title = "Server closes first: TIME_WAIT holds its port"
    claim = ("Whoever sends the first FIN ends in TIME_WAIT. When the server closes first, "
             "the TIME_WAIT socket holds the server's own port: restarting the listener "
             "without SO_REUSEADDR fails with EADDRINUSE, and with SO_REUSEADDR it succeeds.")
    control = "the client sends the first FIN instead (same sockets, the closes swapped)"
    control_catches = ("server_states_after_close", "client_states_after_close",
                       "rebind_without_reuseaddr", "server_path", "client_path")
    expected = {
        "server_states_after_close": Expect("TIME_WAIT", "contains"),
        "client_states_after_close": Expect("TIME_WAIT", "absent"),
        "rebind_without_reuseaddr": Expect("EADDRINUSE"),
        "rebind_with_reuseaddr": Expect("ok"),
        "server_path": Expect(["ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSE"], "in_order"),
        "client_path": Expect(["ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSE"], "in_order"),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st:
            with st.evidence():
                lst = st.listen()  # a usual server: SO_REUSEADDR on its listener
                c = st.connect()
                ports = st.ports_of(c)
                conn, _ = lst.accept()
                lst.close()
                first, second = (c, conn) if run.control else (conn, c)
                first.close()  # this side's FIN goes first
                assert second.recv(16) == b""
                second.close()
                time.sleep(0.1)  # the last ACK
            run.observe("server_states_after_close", st.states("server"))
            run.observe("client_states_after_close", st.states("client"))
            tw = st.dump("server", states=["TIME_WAIT"])
            run.evidence["server_time_wait"] = [f"{r.local} -> {r.remote}" for r in tw]
            run.observe("rebind_without_reuseaddr", self._rebind(st, reuseaddr=False))
            run.observe("rebind_with_reuseaddr", self._rebind(st, reuseaddr=True))
            run.observe("server_path", st.path("server", ports[::-1]))
            run.observe("client_path", st.path("client", ports))

    @staticmethod
    def _rebind(st: Stage, reuseaddr: bool) -> str:
        s = st.socket("server")
        try:
            if reuseaddr:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((st.server.addr, st.port))
            s.listen(1)
            return "ok"
        except OSError as exc:
            return errno_name(exc)
        finally:
            s.close()


SCENARIO = CloseServerFirst()
