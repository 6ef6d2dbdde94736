"""5. SO_REUSEADDR on both sockets; SO_REUSEPORT spreads connections."""

from __future__ import annotations

import socket
import threading

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.s03_close_server_first import errno_name
from harness.scenarios.stage import Stage

CLIENT_PORT = 5555
CONNECTIONS = 60


class Reuse(Scenario):
    name = "reuse"
    number = 5
    title = "SO_REUSEADDR on both sockets; SO_REUSEPORT"
    claim = ("A port held in TIME_WAIT can be bound again only if SO_REUSEADDR was set on "
             "the old socket too: a client that bound a fixed source port without it leaves "
             "a TIME_WAIT that blocks even a new socket that sets it. SO_REUSEPORT lets "
             "several listeners share one port, and the kernel spreads connections over "
             "them.")
    expected = {
        "rebind_old_without_new_with": Expect("EADDRINUSE"),
        "rebind_both_with": Expect("ok"),
        "reuseport_listeners_used": Expect(2),
        "reuseport_smallest_share": Expect(0.2, "at_least"),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st:
            with st.listen(backlog=128) as lst:
                run.observe("rebind_old_without_new_with",
                            self._rebind_over_time_wait(st, lst, CLIENT_PORT, old_reuse=False))
                run.observe("rebind_both_with",
                            self._rebind_over_time_wait(st, lst, CLIENT_PORT + 1,
                                                        old_reuse=True))
            counts = self._reuseport(st)
            used = sum(1 for n in counts if n)
            run.observe("reuseport_listeners_used", used)
            run.observe("reuseport_smallest_share", round(min(counts) / CONNECTIONS, 3))
            run.evidence["reuseport_accepted_per_listener"] = counts

    @staticmethod
    def _rebind_over_time_wait(st: Stage, lst, port: int, old_reuse: bool) -> str:
        old = st.socket("client")
        if old_reuse:
            old.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        old.bind((st.client.addr, port))
        old.connect((st.server.addr, st.port))
        conn, _ = lst.accept()
        old.close()  # client closes first: its fixed port goes to TIME_WAIT
        conn.recv(1)
        conn.close()
        new = st.socket("client")
        try:
            new.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            new.bind((st.client.addr, port))
            return "ok"
        except OSError as exc:
            return errno_name(exc)
        finally:
            new.close()

    @staticmethod
    def _reuseport(st: Stage) -> list[int]:
        listeners = []
        for _ in range(2):
            s = st.socket("server")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((st.server.addr, st.port + 1))
            s.listen(CONNECTIONS)
            listeners.append(s)
        counts = [0, 0]
        done = threading.Event()

        def accept(i: int) -> None:
            listeners[i].settimeout(0.2)
            while not done.is_set():
                try:
                    conn, _ = listeners[i].accept()
                except TimeoutError:
                    continue
                counts[i] += 1
                conn.close()

        threads = [threading.Thread(target=accept, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        try:
            for _ in range(CONNECTIONS):
                st.connect(st.port + 1).close()
            while sum(counts) < CONNECTIONS:
                threading.Event().wait(0.01)
        finally:
            done.set()
            for t in threads:
                t.join()
            for s in listeners:
                s.close()
        return counts


SCENARIO = Reuse()
