"""The stage a scenario runs on: two lab hosts, and the evidence gathered while it runs.

``Stage(run, sysctls)`` makes a client and a server host; ``with stage.evidence(ports):``
records, for the code in its body, the state transitions of both sides (tracepoints)
and the segments on the client's interface (AF_PACKET), and stores them in the run for
the verdict and the sequence diagram:

- seq/ack are made relative per connection (each direction's ISN), a new SYN on a
  4-tuple that already carried a connection starting a new one;
- a loss is made with ``stage.lose(role, ...)``: a drop in the receiving host's input
  chain, after the client's capture saw the segment on the wire, so the segment is in
  the capture and the rule's counter and match tell which ones were lost (marked
  ``"dropped": True``);
- the server's SYN_RECV is drawn where the SYN arrived (the tracepoint fires only when
  the handshake's ACK makes the child socket; the request socket emits nothing), and
  TIME_WAIT, which no tracepoint reports, is drawn on the side a dump finds it, with the
  timer the dump gave.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import time
from collections.abc import Iterator
from socket import AF_INET, AF_INET6

from harness.kernel import sockdiag
from harness.kernel.netns import entered
from harness.kernel.netstat import read_tcp_counters
from harness.kernel.tcp_states import STATE_NAMES
from harness.lab import Lab
from harness.observe.lifecycle import Lifecycles
from harness.observe.lifecycle import path as life_path
from harness.scenarios.base import Run


def errno_name(exc: OSError) -> str:
    """OSError -> "ECONNRESET" (what the application saw, by the kernel's name)."""
    if isinstance(exc, TimeoutError) and exc.errno is None:
        return "timeout"
    return errno.errorcode.get(exc.errno, str(exc.errno))


def tcp_state(sock: socket.socket) -> str:
    """The socket's state as the kernel holds it now (TCP_INFO's first byte)."""
    return STATE_NAMES[sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]]


def _connection(seg: dict) -> tuple:
    """The 4-tuple of a segment, the same for both directions."""
    a, b = (seg["src_addr"], seg["sport"]), (seg["dst_addr"], seg["dport"])
    return (a, b) if a <= b else (b, a)


def relative_numbers(segments: list[dict]) -> None:
    """Set ``seq``/``ack`` of each segment relative to its own connection's ISNs (in place;
    the segments carry ``src_addr``, ``dst_addr``, ports, ``flags``, ``seq_abs``, ``ack_abs``).

    A direction's ISN is its SYN's seq; without a captured SYN, its first seq (so the
    numbers still start near 0). A SYN without ACK on a 4-tuple whose connection already
    carried other segments starts a new connection (a reconnect over TIME_WAIT)."""
    isn: dict[tuple, dict[tuple, int]] = {}
    busy: set[tuple] = set()
    for seg in segments:
        conn = _connection(seg)
        me, peer = (seg["src_addr"], seg["sport"]), (seg["dst_addr"], seg["dport"])
        flags = seg["flags"].split(",")
        bases = isn.setdefault(conn, {})
        if "SYN" in flags:
            if "ACK" not in flags and conn in busy and bases.get(me) != seg["seq_abs"]:
                bases.clear()
                busy.discard(conn)
            bases[me] = seg["seq_abs"]
        else:
            busy.add(conn)
            bases.setdefault(me, seg["seq_abs"])
        seg["seq"] = (seg["seq_abs"] - bases[me]) % 2**32
        seg["ack"] = ((seg["ack_abs"] - bases[peer]) % 2**32 if peer in bases
                      else seg["ack_abs"])


def mark_drops(segments: list[dict], rules: list[tuple]) -> list[str]:
    """Mark ``"dropped": True`` on the segments the rules dropped; return what could not
    be matched. ``rules``: (rule, addresses of the host whose input chain it is in, or of
    the sender for an output rule). The first n matches in time order (n = the rule's
    counter) between the rule's addition and its deletion are the segments it dropped."""
    unmatched = []
    for rule, addrs in rules:
        n = rule.packets
        end = rule.deleted_at if rule.deleted_at is not None else float("inf")
        side = "dst_addr" if rule.chain == "input" else "src_addr"
        hits = [s for s in segments if s[side] in addrs and rule.added_at <= s["t"] <= end
                and rule.matches({**s, "src": s["src_addr"], "dst": s["dst_addr"]})]
        for s in hits[:n]:
            s["dropped"] = True
        if len(hits) < n:
            unmatched.append(f"{rule.name}: dropped {n}, {len(hits)} seen on the wire")
    return unmatched


class Stage:
    def __init__(self, run: Run, sysctls: dict[str, dict] | None = None, port: int = 7000):
        self.run, self.port = run, port
        self.lab = Lab(sysctls=sysctls)
        self.events: list[dict] = []
        self.segments: list[dict] = run.segments  # every evidence block's, in time order
        self.lives: list[dict] = []
        self._losses: list[tuple] = []
        self._tw_drawn: set[tuple] = set()

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

    def addrs(self, role: str) -> set[str]:
        h = self.host(role)
        return {a for a in (h.addr, h.addr6) if a}

    def role_of(self, addr: str) -> str | None:
        for role in ("client", "server"):
            if addr in self.addrs(role):
                return role
        return None

    def addr(self, role: str, family: int = AF_INET) -> str:
        h = self.host(role)
        return h.addr6 if family == AF_INET6 else h.addr

    # -- sockets made inside a host (they stay in its namespace, usable from any thread)
    def socket(self, role: str, family: int = AF_INET) -> socket.socket:
        with entered(self.host(role).netns):
            return socket.socket(family, socket.SOCK_STREAM)

    def listen(self, backlog: int = 8, port: int | None = None, reuseaddr: bool = True,
               family: int = AF_INET, **sockopts) -> socket.socket:
        """A listening socket on the server host's address (``sockopts``: IPPROTO_TCP)."""
        lst = self.socket("server", family)
        if reuseaddr:
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for name, value in sockopts.items():
            lst.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
        lst.bind((self.addr("server", family), port or self.port))
        lst.listen(backlog)
        return lst

    def connect(self, port: int | None = None, timeout: float = 5.0,
                family: int = AF_INET) -> socket.socket:
        c = self.socket("client", family)
        c.settimeout(timeout)
        c.connect((self.addr("server", family), port or self.port))
        return c

    def background(self, fn, *args, **kwargs):
        """``fn`` in a thread (in the server host); ``.wait(timeout)`` gives its result."""
        return self.server.start(fn, *args, **kwargs)

    # -- faults ----------------------------------------------------------------------
    def lose(self, role: str, count: int | None = 1, **match):
        """Lose segments on their way to ``role``: drop them in its input chain (after the
        client's capture saw them). ``count`` first matches (None: all of them). The
        segments are marked dropped in the evidence."""
        rule = self.host(role).nft.drop("input", count=count, **match)
        self._losses.append((rule, self.addrs(role)))
        return rule

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
        from harness.kernel.capture import Capture
        from harness.kernel.tracefs import Tracer

        ports = list(ports or [self.port])
        with contextlib.ExitStack() as stack:
            tracer = stack.enter_context(Tracer(
                ports=ports, addrs=sorted(self.addrs("client") | self.addrs("server"))))
            capture = stack.enter_context(
                Capture(netns=self.client.netns, ifname=self.client.ifname, ports=ports))
            yield
            time.sleep(0.05)  # let the last segments and events arrive
            self._add_events(tracer.read())
            self.run.evidence["lost_trace_events"] = tracer.lost
            self._add_segments(capture.read())
        unmatched = mark_drops(self.segments, self._losses)
        note = "drops not seen on the wire: " + "; ".join(unmatched)
        if unmatched and note not in self.run.notes:
            self.run.note(note)
        self._place_syn_recv()
        self._add_time_wait(ports)

    def _add_events(self, events: list[dict]) -> None:
        lives = Lifecycles()
        for ev in events:
            role = self.role_of(ev.get("saddr"))
            if role is None:
                continue
            ev = {**ev, "side": role}
            self.events.append(ev)
            tr = lives.add(ev)
            if tr is not None:
                self.run.transitions.append({
                    "t": ev["time"], "side": role, "old": ev["old"], "new": ev["new"],
                    "sport": ev["sport"], "dport": ev["dport"], "skaddr": ev["skaddr"]})
        for life in lives.all():
            life["side"] = self.role_of(life["local"].rsplit(":", 1)[0].strip("[]"))
            self.lives.append(life)

    def _add_segments(self, segments: list[dict]) -> None:
        for seg in segments:
            role = self.role_of(seg["src"])
            if role is None:
                continue
            rel = {"t": seg["time"], "src": role, "flags": seg["flags"],
                   "seq_abs": seg["seq"], "ack_abs": seg["ack"], "len": seg["len"],
                   "sport": seg["sport"], "dport": seg["dport"], "window": seg.get("window"),
                   "options": seg.get("options", {}), "family": 6 if ":" in seg["src"] else 4}
            self.segments.append({**rel, "src_addr": seg["src"], "dst_addr": seg["dst"]})
        self.segments.sort(key=lambda s: s["t"])
        relative_numbers(self.segments)

    def _place_syn_recv(self) -> None:
        """Move the server's LISTEN -> SYN_RECV to just after its connection's SYN."""
        syns = {(s["sport"], s["dport"]): s["t"] for s in reversed(self.segments)
                if s["src"] == "client" and s["flags"] == "SYN"}
        for tr in self.run.transitions:
            if tr["side"] == "server" and tr["old"] == "LISTEN" and tr["new"] == "SYN_RECV":
                t = syns.get((tr["dport"], tr["sport"]))
                if t is not None and t < tr["t"]:
                    tr["traced_t"], tr["t"] = tr["t"], t + 1e-6
                    tr["note"] = "request socket (traced when the ACK made the child)"

    def _add_time_wait(self, ports) -> None:
        """TIME_WAIT as a dump sees it now, drawn where the side entered it."""
        now = time.monotonic()
        for role in ("client", "server"):
            for r in self.dump(role, states=["TIME_WAIT"], ports=ports):
                key = (r.sport, r.dport)
                fins = [s["t"] for s in self.segments if s["src"] != role
                        and (s["dport"], s["sport"]) == key and "FIN" in s["flags"]
                        and not s.get("dropped")]
                handed = [t["t"] for t in self.run.transitions if t["side"] == role
                          and t["new"] == "CLOSE" and t["old"] in ("FIN_WAIT2", "CLOSING")
                          and (t["sport"], t["dport"]) == key]
                if not fins and not handed:
                    continue
                # the first FIN it took from the peer, or the hand-over to a minisocket
                # when that came later (CLOSING -> TIME_WAIT on the last ACK)
                start = max(fins[:1] + handed[-1:])
                if (role, key, start) in self._tw_drawn:
                    continue
                self._tw_drawn.add((role, key, start))
                self.run.transitions.append({
                    "t": start + 2e-6, "side": role, "old": "FIN_WAIT2", "new": "TIME_WAIT",
                    "sport": r.sport, "dport": r.dport, "inferred": True,
                    "timer_s": round(r.expires / 1000 + (now - start), 1)})
        self.run.transitions.sort(key=lambda t: t["t"])

    # -- views for verdicts -------------------------------------------------------------
    @staticmethod
    def ports_of(sock: socket.socket) -> tuple[int, int]:
        """(local port, remote port) of a connected socket: ``path(role, ports)`` key."""
        return sock.getsockname()[1], sock.getpeername()[1]

    def path(self, role: str, ports: tuple[int, int]) -> list[str]:
        """The states of ``role``'s one socket on the connection ``ports`` = (its local
        port, its remote port), first old state then each new one (TIME_WAIT inferred
        where the socket handed over to a minisocket). [] when nothing was traced; the
        later lifecycle when a 4-tuple was used twice."""
        found = []
        for life in self.lives:
            if life["side"] != role:
                continue
            local = int(life["local"].rsplit(":", 1)[1])
            remote = int(life["remote"].rsplit(":", 1)[1])
            if (local, remote) == tuple(ports):
                found.append(life)
        return life_path(found[-1]) if found else []

    def flags_seen(self, role: str | None = None) -> list[str]:
        return [s["flags"] for s in self.segments if role is None or s["src"] == role]

    def sent(self, role: str, flag: str, port: int | None = None) -> bool | None:
        """Whether ``role`` sent a segment with ``flag`` set (None: nothing captured);
        ``port``: only on connections with that port (either end)."""
        if not self.segments:
            return None
        return any(flag in s["flags"].split(",") for s in self.segments if s["src"] == role
                   and (port is None or port in (s["sport"], s["dport"])))

    def first(self, flags: str, role: str | None = None) -> dict | None:
        for s in self.segments:
            if s["flags"] == flags and (role is None or s["src"] == role):
                return s
        return None

