"""16. Ephemeral port exhaustion, tcp_tw_reuse, IP_BIND_ADDRESS_NO_PORT."""

from __future__ import annotations

import socket
import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage, errno_name
from harness.sockets.options import IP_BIND_ADDRESS_NO_PORT

PORTS = 10
RANGE = (40000, 40000 + PORTS - 1)


class PortExhaustion(Scenario):
    name = "port-exhaustion"
    number = 16
    title = "Port exhaustion: EADDRNOTAVAIL; tcp_tw_reuse"
    claim = ("Each short connection the client closes first keeps its ephemeral port in "
             "TIME_WAIT for 60 s, so a client with N ports to one destination fails with "
             "EADDRNOTAVAIL after N connections. tcp_tw_reuse=1 lets connect() take over a "
             "TIME_WAIT port once it has been in TIME_WAIT longer than tcp_tw_reuse_delay "
             "(1000 ms by default, a sysctl since Linux 6.13; older kernels: 1 s), counted "
             "as TWRecycled; a younger one is not taken. bind() to an address picks a port "
             "for every destination at once; IP_BIND_ADDRESS_NO_PORT defers the choice to "
             "connect().")
    shortened = (f"ip_local_port_range {RANGE[0]}-{RANGE[1]} ({PORTS} ports) on the client",)
    control = ("tcp_tw_reuse_delay=1 ms (its minimum) for the young TIME_WAIT, "
               "tcp_tw_reuse back to 0 for the old ones, IP_BIND_ADDRESS_NO_PORT unset")
    control_catches = ("young_time_wait_reused", "ok_with_tw_reuse", "tw_recycled",
                       "bind_with_no_port")
    expected = {
        "ok_before_exhaustion": Expect(PORTS),
        "error_after": Expect("EADDRNOTAVAIL"),
        "young_time_wait_reused": Expect("EADDRNOTAVAIL"),
        "ok_with_tw_reuse": Expect(PORTS),
        "tw_recycled": Expect(PORTS, "at_least"),
        "bind_without_no_port": Expect("EADDRINUSE"),
        "bind_with_no_port": Expect("ok"),
    }

    def execute(self, run: Run) -> None:
        sysctls = {"client": {"net.ipv4.ip_local_port_range": RANGE,
                              "net.ipv4.tcp_tw_reuse": 0}}
        with Stage(run, sysctls=sysctls) as st, st.listen(backlog=64) as lst:
            with st.evidence():
                ok, err = self._short_connections(st, lst, PORTS + 3)
            run.observe("ok_before_exhaustion", ok)
            run.observe("error_after", err)
            delay_ms = int(st.client.sysctl("net.ipv4.tcp_tw_reuse_delay"))
            run.evidence["tcp_tw_reuse_delay_ms"] = delay_ms
            st.client.set_sysctl("net.ipv4.tcp_tw_reuse", 1)
            if run.control:
                st.client.set_sysctl("net.ipv4.tcp_tw_reuse_delay", 1)
            tw = st.dump("client", states=["TIME_WAIT"])
            _, young = self._short_connections(st, lst, 1)
            run.observe("young_time_wait_reused", young or "ok")
            run.evidence["client_time_wait"] = len(tw)
            run.evidence["oldest_time_wait_age_ms"] = max(
                (60000 - r.expires for r in tw), default=None)
            if run.control:
                st.client.set_sysctl("net.ipv4.tcp_tw_reuse", 0)
            # Ports held in TIME_WAIT also block bind(addr, 0), unless the choice waits
            # for connect() (IP_BIND_ADDRESS_NO_PORT), which may reuse them per destination.
            run.observe("bind_without_no_port", self._bind_any(st, no_port=False))
            run.observe("bind_with_no_port", self._bind_any(st, no_port=not run.control))
            time.sleep(delay_ms / 1000 + 0.1)  # now every TIME_WAIT is older than the delay
            before = st.counters("client")["TWRecycled"]
            ok2, _ = self._short_connections(st, lst, PORTS)
            run.observe("ok_with_tw_reuse", ok2)
            run.observe("tw_recycled", st.counters("client")["TWRecycled"] - before)

    @staticmethod
    def _short_connections(st: Stage, lst, count: int) -> tuple[int, str | None]:
        ok, err = 0, None
        for _ in range(count):
            try:
                c = st.connect()
            except OSError as exc:
                err = errno_name(exc)
                continue
            conn, _ = lst.accept()
            c.close()  # client first: its port goes to TIME_WAIT
            conn.recv(1)
            conn.close()
            ok += 1
        return ok, err

    @staticmethod
    def _bind_any(st: Stage, no_port: bool) -> str:
        s = st.socket("client")
        try:
            if no_port:
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((st.client.addr, 0))
            return "ok"
        except OSError as exc:
            return errno_name(exc)
        finally:
            s.close()


SCENARIO = PortExhaustion()
