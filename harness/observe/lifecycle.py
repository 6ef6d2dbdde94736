"""Per-socket lifecycles from tracepoint events (harness.kernel.tracefs), pure.

A lifecycle is the run of ``inet_sock_set_state`` transitions of one connection seen
from one side, keyed by its 4-tuple (local, remote as the socket sees them). The key is
the 4-tuple and not the socket address because the server's half starts on a request
socket (LISTEN -> SYN_RECV, the kernel's NEW_SYN_RECV) and goes on in the full socket
the handshake creates (SYN_RECV -> ESTABLISHED), which lives at another address.
A lifecycle starts at a transition out of CLOSE or LISTEN and ends at -> CLOSE.

TIME_WAIT is never a transition: the full socket goes FIN_WAIT2 -> CLOSE (or
CLOSING -> CLOSE) when a TIME_WAIT minisocket takes its place (kernel-facts.md), so
those transitions carry ``"inferred": "TIME_WAIT"``. An orphaned FIN_WAIT2 that the
kernel also hands to a minisocket (tcp_fin_timeout) looks the same here: confirm with
a sock_diag dump where it matters.
"""

from __future__ import annotations

TIME_WAIT_FROM = ("FIN_WAIT2", "CLOSING")


def endpoint(addr: str, port: int) -> str:
    """("fd00::1", 80) -> "[fd00::1]:80"; ("10.0.0.1", 80) -> "10.0.0.1:80"."""
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


class Lifecycles:
    """Feed events in time order with ``add``; each state event comes back as a transition.

    ``keep=False`` forgets a lifecycle once it ends (for endless live use).
    """

    def __init__(self, keep: bool = True):
        self.keep = keep
        self.open: dict[tuple[str, str], dict] = {}
        self.done: list[dict] = []

    def add(self, ev: dict) -> dict | None:
        """A transition dict for a state event (None for others, attached as notes)."""
        local = endpoint(ev["saddr"], ev["sport"])
        remote = endpoint(ev["daddr"], ev["dport"])
        key = (local, remote)
        life = self.open.get(key)
        if ev["event"] != "inet_sock_set_state":
            if life is not None:
                life["notes"].append({"time": ev["time"], "event": ev["event"]})
            return None
        if life is None or (ev["old"] in ("CLOSE", "LISTEN") and life["transitions"]):
            if life is not None:
                self._finish(key)
            life = {"local": local, "remote": remote, "family": ev["family"],
                    "skaddrs": [], "transitions": [], "notes": [], "time_wait": False}
            self.open[key] = life
        prev = life["transitions"][-1]["time"] if life["transitions"] else None
        tr = {"time": ev["time"], "local": local, "remote": remote, "old": ev["old"],
              "new": ev["new"], "ms": None if prev is None else (ev["time"] - prev) * 1000,
              "pid": ev.get("pid"), "comm": ev.get("comm"), "skaddr": ev["skaddr"]}
        if ev["new"] == "CLOSE" and ev["old"] in TIME_WAIT_FROM:
            tr["inferred"] = "TIME_WAIT"
            life["time_wait"] = True
        life["transitions"].append(tr)
        if ev["skaddr"] not in life["skaddrs"]:
            life["skaddrs"].append(ev["skaddr"])
        if ev["new"] == "CLOSE":
            self._finish(key)
        return tr

    def _finish(self, key) -> None:
        life = self.open.pop(key)
        if self.keep:
            self.done.append(life)

    def all(self) -> list[dict]:
        """Every lifecycle (finished first, then open ones), each in time order."""
        return sorted(self.done + list(self.open.values()),
                      key=lambda lf: lf["transitions"][0]["time"])


def path(life: dict) -> list[str]:
    """States in order, inferred TIME_WAIT included: ["CLOSE", "SYN_SENT", ..., "CLOSE"]."""
    trs = life["transitions"]
    out = [trs[0]["old"]] if trs else []
    for tr in trs:
        if tr.get("inferred"):
            out.append(tr["inferred"])
        out.append(tr["new"])
    return out


def lifecycles(events: list[dict]) -> list[dict]:
    """All lifecycles of ``events`` (tracer output, oldest first)."""
    lc = Lifecycles()
    for ev in events:
        lc.add(ev)
    return lc.all()
