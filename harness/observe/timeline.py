"""Both exact sources merged per connection: tracepoint lifecycles and captured segments.

``relative_segments`` adds each side's view of the sequence space (the SYN's seq is 0,
as Wireshark's relative numbers); ``connections`` pairs the client's and the server's
lifecycles of one connection with its segments on one time line (time.monotonic()).
"""

from __future__ import annotations

from harness.kernel.endpoints import endpoint
from harness.observe.lifecycle import lifecycles

MOD = 2**32


def relative_segments(segments: list[dict], client: tuple[str, int]) -> list[dict]:
    """Copies of ``segments`` with "from" ("client"/"server"), "rel_seq" and "rel_ack".

    Each side's ISN is the seq of its SYN (else of its first segment seen); rel_ack is
    None where the ACK flag is off or the other side's ISN is not known yet.
    """
    isn: dict[str, int] = {}
    out = []
    for seg in segments:
        side = "client" if (seg["src"], seg["sport"]) == tuple(client) else "server"
        other = "server" if side == "client" else "client"
        if side not in isn or ("SYN" in seg["flags"].split(",")
                               and seg["seq"] != isn[side]):
            isn[side] = seg["seq"]
        acked = "ACK" in seg["flags"].split(",") and other in isn
        out.append(dict(seg, **{"from": side, "rel_seq": (seg["seq"] - isn[side]) % MOD,
                                "rel_ack": (seg["ack"] - isn[other]) % MOD if acked else None}))
    return out


def _conn_key(a: str, b: str) -> frozenset:
    return frozenset((a, b))


def connections(events: list[dict], segments: list[dict] = ()) -> list[dict]:
    """One dict per connection seen by the tracer and/or the capture.

    {"client": "ip:port", "server": "ip:port", "client_life": lifecycle | None,
     "server_life": lifecycle | None, "segments": relative segments,
     "timeline": [{"time", "source": "state" | "segment", "side", "text"}, ...]}
    Listener lifecycles (remote port 0) are left out.
    """
    conns: dict[frozenset, dict] = {}

    def conn(a: str, b: str) -> dict:
        return conns.setdefault(_conn_key(a, b), {"client": None, "server": None,
                                                  "client_life": None, "server_life": None,
                                                  "segments": [], "raw": []})

    for life in lifecycles(events):
        if life["remote"].endswith(":0"):
            continue
        c = conn(life["local"], life["remote"])
        states = {t["old"] for t in life["transitions"]} | {t["new"] for t in life["transitions"]}
        role = "server" if "LISTEN" in states or "SYN_RECV" in states else "client"
        c[f"{role}_life"] = life
        c[role] = life["local"]
        c["client" if role == "server" else "server"] = life["remote"]
    for seg in segments:
        src, dst = endpoint(seg["src"], seg["sport"]), endpoint(seg["dst"], seg["dport"])
        c = conn(src, dst)
        if c["client"] is None and seg["flags"] == "SYN":
            c["client"], c["server"] = src, dst
        c["raw"].append(seg)
    out = []
    for c in conns.values():
        raw = c.pop("raw")
        if c["client"] is None and raw:  # no SYN seen: the lower-port side is the server
            first = raw[0]
            a, b = endpoint(first["src"], first["sport"]), endpoint(first["dst"], first["dport"])
            c["client"], c["server"] = (a, b) if first["sport"] > first["dport"] else (b, a)
        if raw:
            host, _, port = c["client"].rpartition(":")
            c["segments"] = relative_segments(raw, client=(host.strip("[]"), int(port)))
        c["timeline"] = _timeline(c)
        out.append(c)
    return sorted(out, key=lambda c: c["timeline"][0]["time"] if c["timeline"] else 0)


def _timeline(c: dict) -> list[dict]:
    rows = []
    for role in ("client", "server"):
        life = c[f"{role}_life"]
        for tr in life["transitions"] if life else ():
            text = f"{tr['old']} -> {tr['new']}"
            if tr.get("inferred"):
                text += f" (via {tr['inferred']})"
            rows.append({"time": tr["time"], "source": "state", "side": role, "text": text})
    for seg in c["segments"]:
        ack = "" if seg["rel_ack"] is None else f" ack={seg['rel_ack']}"
        rows.append({"time": seg["time"], "source": "segment", "side": seg["from"],
                     "text": f"[{seg['flags']}] seq={seg['rel_seq']}{ack} len={seg['len']}"})
    return sorted(rows, key=lambda r: r["time"])
