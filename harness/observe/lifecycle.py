"""Per-socket lifecycles from tracepoint events (harness.kernel.tracefs), pure.

A lifecycle is the run of ``inet_sock_set_state`` transitions of one socket, keyed by
its kernel address (skaddr) while it is open: the 4-tuple cannot be the key because
CLOSE -> SYN_SENT fires before connect() picks the source port (sport 0 there). A
transition out of CLOSE or LISTEN starts a lifecycle (on 6.18 a server's connection
starts with LISTEN -> SYN_RECV on the child socket cloned from the listener when the
handshake's last ACK arrives; the request socket itself emits nothing), -> CLOSE ends
it. Another transition whose skaddr is unknown joins the open lifecycle of its 4-tuple
(or starts one: a socket seen from the middle of its life).

TIME_WAIT is never a transition: the full socket goes FIN_WAIT2 -> CLOSE (or
CLOSING -> CLOSE) when a TIME_WAIT minisocket takes its place (docs/kernel-notes.md), so
those transitions carry ``"inferred": "TIME_WAIT"``. An orphaned FIN_WAIT2 that the
kernel also hands to a minisocket (tcp_fin_timeout) looks the same here: confirm with
a sock_diag dump where it matters.
"""

from __future__ import annotations

from harness.kernel.endpoints import endpoint

TIME_WAIT_FROM = ("FIN_WAIT2", "CLOSING")


class Lifecycles:
    """Feed events in time order with ``add``; each state event comes back as a transition.

    ``keep=False`` forgets a lifecycle once it ends (for endless live use).
    """

    def __init__(self, keep: bool = True):
        self.keep = keep
        self.open: dict[int, dict] = {}  # skaddr -> lifecycle
        self.by_tuple: dict[tuple[str, str], dict] = {}
        self.done: list[dict] = []

    def add(self, ev: dict) -> dict | None:
        """A transition dict for a state event (None for others, attached as notes)."""
        local = endpoint(ev["saddr"], ev["sport"])
        remote = endpoint(ev["daddr"], ev["dport"])
        key = (local, remote)
        life = self.open.get(ev["skaddr"])
        if ev["event"] != "inet_sock_set_state":
            life = life or self.by_tuple.get(key)
            if life is not None:
                life["notes"].append({"time": ev["time"], "event": ev["event"]})
            return None
        starts = ev["old"] in ("CLOSE", "LISTEN")
        if life is None and not starts:
            life = self.by_tuple.get(key)
        if life is None:
            life = {"local": local, "remote": remote, "family": ev["family"],
                    "skaddrs": [], "transitions": [], "notes": [], "time_wait": False}
        life["local"], life["remote"] = local, remote
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
        self.open[ev["skaddr"]] = life
        self.by_tuple[key] = life
        if ev["new"] == "CLOSE":
            self._finish(life)
        return tr

    def _finish(self, life: dict) -> None:
        for skaddr in life["skaddrs"]:
            if self.open.get(skaddr) is life:
                del self.open[skaddr]
        key = (life["local"], life["remote"])
        if self.by_tuple.get(key) is life:
            del self.by_tuple[key]
        if self.keep:
            self.done.append(life)

    def all(self) -> list[dict]:
        """Every lifecycle (finished first, then open ones), each in time order."""
        live = list({id(lf): lf for lf in self.open.values()}.values())
        return sorted(self.done + live,
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
