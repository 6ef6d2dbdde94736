"""5. SO_REUSEADDR on both sockets; SO_REUSEPORT spreads connections."""

from __future__ import annotations

import socket
import threading
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, errno_name

CLIENT_PORT = 5555
CONNECTIONS = 60
WAIT_S = 10.0  # for the accept threads to take every connection


class Reuse(Scenario):
    name = "reuse"
    number = 5
    title = "SO_REUSEADDR on both sockets; SO_REUSEPORT"
    claim = ("A port held in TIME_WAIT can be bound again only if SO_REUSEADDR was set on "
             "the old socket too: a client that bound a fixed source port without it leaves "
             "a TIME_WAIT that blocks even a new socket that sets it. SO_REUSEPORT lets "
             "several listeners share one port, and the kernel spreads connections over "
             "them.")
    control = ("SO_REUSEADDR set on the old socket as well, and SO_REUSEPORT left unset on "
               "the second listener")
    control_catches = ("rebind_old_without_new_with", "reuseport_listeners_used",
                       "reuseport_smallest_share")
    expected = {
        "rebind_old_without_new_with": Expect("EADDRINUSE"),
        "rebind_both_with": Expect("ok"),
        "reuseport_listeners_used": Expect(2),
        "reuseport_smallest_share": Expect(0.2, "at_least"),
    }

    def execute(self, run: Run) -> None:
        with Stage(run) as st:
            with st.listen(backlog=128) as lst:
                with st.evidence():
                    run.observe("rebind_old_without_new_with", self._rebind_over_time_wait(
                        st, lst, CLIENT_PORT, old_reuse=run.control))
                run.observe("rebind_both_with",
                            self._rebind_over_time_wait(st, lst, CLIENT_PORT + 1,
                                                        old_reuse=True))
            counts, second = self._reuseport(st, second_reuseport=not run.control)
            run.evidence["second_listener_bind"] = second
            run.evidence["reuseport_accepted_per_listener"] = counts
            run.observe("reuseport_listeners_used", sum(1 for n in counts if n))
            if sum(counts) == CONNECTIONS:
                run.observe("reuseport_smallest_share", round(min(counts) / CONNECTIONS, 3))

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
        time.sleep(0.05)  # the server's FIN has turned the client's socket TIME_WAIT
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
    def _reuseport(st: Stage, second_reuseport: bool) -> tuple[list[int], str]:
        listeners, second = [], "ok"
        for i in range(2):
            s = st.socket("server")
            if i == 0 or second_reuseport:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                s.bind((st.server.addr, st.port + 1))
            except OSError as exc:
                second = errno_name(exc)
                s.close()
                continue
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

        threads = [threading.Thread(target=accept, args=(i,)) for i in range(len(listeners))]
        for t in threads:
            t.start()
        try:
            for _ in range(CONNECTIONS):
                st.connect(st.port + 1).close()
            deadline = time.monotonic() + WAIT_S
            while sum(counts) < CONNECTIONS and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            done.set()
            for t in threads:
                t.join()
            for s in listeners:
                s.close()
        return counts, second


SCENARIO = Reuse()
