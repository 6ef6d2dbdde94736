"""The stage a scenario runs on: two lab hosts, and the evidence gathered while it runs.

``Stage(run, sysctls)`` makes a client and a server host; ``with stage.evidence(ports):``
records, for the code in its body, the state transitions of both sides (tracepoints,
when the tracer is available) and the segments on the client's interface (AF_PACKET),
and stores them in the run for the verdict and the sequence diagram.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

from harness.kernel import sockdiag
from harness.kernel.netns import entered
from harness.kernel.netstat import read_tcp_counters
from harness.lab import Lab
from harness.scenarios.base import Run


class Stage:
    def __init__(self, run: Run, sysctls: dict[str, dict] | None = None, port: int = 7000):
        self.run, self.port = run, port
        self.lab = Lab(sysctls=sysctls)
        self.events: list[dict] = []
        self.segments: list[dict] = []

    def __enter__(self) -> Stage:
        self.lab.up()
        self.run.hosts = {"client": self.client.addr, "server": self.server.addr}
        return self

    def __exit__(self, *exc) -> None:
        self.lab.down()

    @property
    def client(self):
        return self.lab.client

    @property
    def server(self):
        return self.lab.server

    def host(self, role: str):
        return self.lab.hosts[role]

    def role_of(self, addr: str) -> str | None:
        return {self.client.addr: "client", self.server.addr: "server"}.get(addr)

    # -- sockets made inside a host (they stay in its namespace, usable from any thread)
    def socket(self, role: str, family: int = socket.AF_INET) -> socket.socket:
        with entered(self.host(role).netns):
            return socket.socket(family, socket.SOCK_STREAM)

    def listen(self, backlog: int = 8, port: int | None = None, reuseaddr: bool = True,
               **sockopts) -> socket.socket:
        """A listening socket on the server host's address (``sockopts``: IPPROTO_TCP)."""
        lst = self.socket("server")
        if reuseaddr:
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for name, value in sockopts.items():
            lst.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
        lst.bind((self.server.addr, port or self.port))
        lst.listen(backlog)
        return lst

    def connect(self, port: int | None = None, timeout: float = 5.0) -> socket.socket:
        c = self.socket("client")
        c.settimeout(timeout)
        c.connect((self.server.addr, port or self.port))
        return c

    def background(self, fn, *args, **kwargs):
        """``fn`` in a thread (in the server host); ``.wait(timeout)`` gives its result."""
        return self.server.start(fn, *args, **kwargs)

    # -- readings --------------------------------------------------------------------
    def counters(self, role: str) -> dict[str, int]:
        with entered(self.host(role).netns):
            return read_tcp_counters()

    def dump(self, role: str, states=None, ports=None):
        return sockdiag.dump(self.host(role).netns, states=states,
                             ports=(self.port,) if ports is None else ports)

    def states(self, role: str, ports=None) -> list[str]:
        return sorted(r.state for r in self.dump(role, ports=ports))

    # -- evidence --------------------------------------------------------------------
    @contextlib.contextmanager
    def evidence(self, ports=None) -> Iterator[None]:
        """Trace transitions and capture segments of ``ports`` during the body."""
        ports = list(ports or [self.port])
        with contextlib.ExitStack() as stack:
            tracer = capture = None
            try:
                from harness.kernel.tracefs import Tracer

                tracer = stack.enter_context(
                    Tracer(ports=ports, addrs=[self.client.addr, self.server.addr]))
            except ImportError:
                self.run.note("no tracer in this build: transitions from sampled states only")
            try:
                from harness.kernel.capture import Capture

                capture = stack.enter_context(
                    Capture(netns=self.client.netns, ifname=self.client.ifname, ports=ports))
            except ImportError:
                self.run.note("no packet capture in this build")
            yield
            time.sleep(0.05)  # let the last segments and events arrive
            if tracer is not None:
                self._add_events(tracer.read())
                self.run.evidence["lost_trace_events"] = tracer.lost
            if capture is not None:
                self._add_segments(capture.read())

    def _add_events(self, events: list[dict]) -> None:
        for ev in events:
            role = self.role_of(ev.get("saddr"))
            if role is None:
                continue
            ev = {**ev, "side": role}
            self.events.append(ev)
            if ev["event"] == "inet_sock_set_state":
                self.run.transitions.append({"t": ev["time"], "side": role, "old": ev["old"],
                                             "new": ev["new"], "sport": ev["sport"]})

    def _add_segments(self, segments: list[dict]) -> None:
        isn: dict[str, int] = {}
        for seg in segments:
            role = self.role_of(seg["src"])
            if role is None:
                continue
            if "SYN" in seg["flags"].split(","):
                isn.setdefault(role, seg["seq"])
            peer = "server" if role == "client" else "client"
            rel = {"t": seg["time"], "src": role, "flags": seg["flags"],
                   "seq": (seg["seq"] - isn[role]) % 2**32 if role in isn else seg["seq"],
                   "ack": (seg["ack"] - isn[peer]) % 2**32 if peer in isn else seg["ack"],
                   "len": seg["len"], "seq_abs": seg["seq"], "ack_abs": seg["ack"],
                   "sport": seg["sport"], "dport": seg["dport"], "window": seg.get("window"),
                   "options": seg.get("options", {})}
            self.segments.append(rel)
            self.run.segments.append(rel)

    # -- views for verdicts -------------------------------------------------------------
    def path(self, role: str, sport: int | None = None) -> list[str]:
        """The states one side's socket went through, first old state then each new one."""
        steps = [t for t in self.run.transitions
                 if t["side"] == role and (sport is None or t["sport"] == sport)]
        if not steps:
            return []
        return [steps[0]["old"]] + [t["new"] for t in steps]

    def flags_seen(self, role: str | None = None) -> list[str]:
        return [s["flags"] for s in self.segments if role is None or s["src"] == role]

    def sent(self, role: str, flag: str) -> bool | None:
        """Whether ``role`` sent a segment with ``flag`` set (None: nothing captured)."""
        if not self.segments:
            return None
        return any(flag in s["flags"].split(",") for s in self.segments if s["src"] == role)

    def first(self, flags: str, role: str | None = None) -> dict | None:
        for s in self.segments:
            if s["flags"] == flags and (role is None or s["src"] == role):
                return s
        return None
