"""Risks read from the sysctls and two samples, each as a sentence with its numbers and
the change that addresses it: ``{"id", "severity", "message", "fix"}``.

Severities: "info" (how things stand), "warning" (will bite under load), "critical"
(biting now).
"""

from __future__ import annotations

from harness.kernel.endpoints import endpoint
from harness.observe.ports import TIME_WAIT_S, reuse_applies

REUSE_MEANING = {
    0: "never: every TIME_WAIT socket keeps its port for 60 s",
    1: "for every destination: new connections may take ports of TIME_WAIT sockets "
       "older than 1 s",
    2: "for loopback destinations only (127.0.0.0/8, ::1): other destinations keep "
       "TIME_WAIT ports for 60 s",
}


def _f(ident: str, severity: str, message: str, fix: str) -> dict:
    return {"id": ident, "severity": severity, "message": message, "fix": fix}


def diagnose(first: dict, second: dict, targets=()) -> list[dict]:
    """Findings from two samples of harness.observe.sampler (``second`` the later one)."""
    s = second
    sys = s["sysctls"]
    out: list[dict] = []
    eph = s["ephemeral"]
    usable, (lo, hi) = eph["usable"], eph["range"]
    reuse = sys.get("tcp_tw_reuse", 2)
    per_dest_max = usable / TIME_WAIT_S
    out.append(_f(
        "port-range", "info",
        f"ip_local_port_range {lo}-{hi} gives {usable} usable ports: without TIME_WAIT "
        f"reuse, one destination (ip:port) sustains at most {per_dest_max:.0f} new "
        f"connections/s ({usable} / 60 s TIME_WAIT).",
        "Widen it (sysctl net.ipv4.ip_local_port_range=\"1024 65000\", below your servers' "
        "ports excluded), reuse connections (keep-alive, pools), or let the server close "
        "first so TIME_WAIT lands there."))
    out.append(_f(
        "tw-reuse", "warning" if reuse == 0 else "info",
        f"tcp_tw_reuse={reuse}: TIME_WAIT ports are reused {REUSE_MEANING.get(reuse, '?')}.",
        "sysctl net.ipv4.tcp_tw_reuse=1 lets outgoing connections to any destination reuse "
        "TIME_WAIT ports (safe with TCP timestamps, on by default)."
        if reuse != 1 else "Nothing to change."))
    for row in eph["by_destination"]:
        if row["exhausted_in_s"] is not None:
            out.append(_f(
                "port-exhaustion", "critical",
                f"Connections to {row['remote']} use {row['in_use']} of {usable} ports and "
                f"arrive at {row['rate_per_s']:.0f}/s: connect() fails with EADDRNOTAVAIL "
                f"in ~{row['exhausted_in_s']:.0f} s.",
                f"Keep the rate to one destination under {per_dest_max:.0f}/s, reuse "
                "connections, or widen ip_local_port_range / enable tcp_tw_reuse."))
        elif row["fraction"] >= 0.5:
            out.append(_f(
                "port-pressure", "warning",
                f"Connections to {row['remote']} hold {row['in_use']} of {usable} ports "
                f"({100 * row['fraction']:.0f}%); {row['forecast']}.",
                "Reuse connections or widen ip_local_port_range."))
    somax = sys.get("somaxconn")
    overflow_delta = (s["counters"].get("ListenOverflows", 0)
                      - first["counters"].get("ListenOverflows", 0))
    total_overflows = s["counters"].get("ListenOverflows", 0)
    for row in s["listeners"]:
        where = f"Listener {row['local']}" + (
            f" ({row['process']}, pid {row['pid']})" if row["pid"] else "")
        if row["full"]:
            out.append(_f(
                "listener-full", "critical",
                f"{where} has its accept queue full ({row['accept_queue']} of "
                f"{row['backlog']} + 1): new SYNs are dropped "
                f"({overflow_delta} overflows during the check).",
                "Accept faster (more workers, a non-blocking accept loop) and raise the "
                f"listen() backlog (now {row['backlog']}, somaxconn {somax})."))
        elif somax and row["backlog"] < somax and row["fill"] >= 0.5:
            out.append(_f(
                "listener-backlog", "warning",
                f"{where} is {100 * row['fill']:.0f}% full with a backlog of "
                f"{row['backlog']}, below somaxconn {somax}.",
                f"Pass a larger backlog to listen() (up to {somax})."))
        elif somax and row["backlog"] < somax:
            out.append(_f(
                "listener-backlog", "info",
                f"{where} has a backlog of {row['backlog']}, below somaxconn {somax}: it "
                f"holds {row['backlog'] + 1} connections not yet accepted before SYNs are "
                "dropped.",
                f"If it serves bursts, pass a larger backlog to listen() (up to {somax})."))
    if total_overflows:
        out.append(_f(
            "listen-overflows", "warning" if not overflow_delta else "critical",
            f"ListenOverflows is {total_overflows} in this namespace "
            f"({overflow_delta} during the check): connections were dropped at a full "
            "accept queue.",
            "Find the listener that fell behind (socklife watch) and accept faster or raise "
            "its backlog."))
    cw = s["close_wait"]
    if cw:
        owners = sorted({f"{r['process']} (pid {r['pid']})" for r in cw if r["pid"]})
        oldest = max((r["age_s"] or 0.0) for r in cw)
        out.append(_f(
            "close-wait", "warning",
            f"{len(cw)} sockets are in CLOSE_WAIT (the peer closed, the application has not)"
            + (f", held by {', '.join(owners[:3])}" if owners else "")
            + (f"; the oldest seen for {oldest:.1f} s" if oldest else "") + ".",
            "Close the socket when recv() returns b'' (end of stream); follow them with "
            "`socklife record` to see whether their ages keep growing (a leak)."))
    tw, cap = s["states"]["TIME_WAIT"], sys.get("tcp_max_tw_buckets")
    if cap and tw >= 0.5 * cap:
        out.append(_f(
            "tw-buckets", "critical" if tw >= 0.9 * cap else "warning",
            f"{tw} TIME_WAIT sockets against tcp_max_tw_buckets {cap} "
            f"({100 * tw / cap:.0f}%): past the cap the kernel skips TIME_WAIT (TWKilled).",
            "Reuse connections, let clients close first, or raise "
            "net.ipv4.tcp_max_tw_buckets."))
    for host, port in targets:
        remote = endpoint(host, port)
        if reuse_applies(reuse, remote):
            message = (f"To {remote}: tcp_tw_reuse={reuse} applies, so ports of TIME_WAIT "
                       f"sockets older than 1 s are reused: about {usable} short "
                       f"connections/s ({usable} ports / 1 s) before ports bind, instead of "
                       f"{per_dest_max:.0f}/s ({usable} / 60 s) without reuse.")
        else:
            message = (f"To {remote}: at most {per_dest_max:.0f} short connections/s can be "
                       f"sustained ({usable} ports / 60 s TIME_WAIT); tcp_tw_reuse={reuse} "
                       "does not apply to it (with tcp_tw_reuse=1 ports are reused after 1 s).")
        out.append(_f("target-rate", "info", message,
                      "Reuse connections to it, spread load over more destination "
                      "addresses/ports, or widen ip_local_port_range."))
    return out
