"""Ephemeral ports in use, per destination, against the usable range.

A client socket holds a local port from ``ip_local_port_range`` (less the reserved
ports) until it leaves TIME_WAIT; connect() needs a port that is free *for that
destination*, so headroom is counted per remote ip:port. Sockets whose local port is a
listening port are the server side of a connection and hold no ephemeral port.
"""

from __future__ import annotations

from collections import Counter

from harness.kernel.dump_columns import BUCKET_MS
from harness.kernel.sysctls import usable_ports
from harness.observe.tw_reuse import TIME_WAIT_S, reuse_applies

# --- Forecast: how long until connect() to one destination runs out of ports ---------

MAX_DESTINATIONS = 50  # rows of a sample's by_destination (those running out are kept too)
RATE_WINDOW_S = 10.0


def close_rate(tw_hist, window_s: float = RATE_WINDOW_S) -> float:
    """Recent closes per second into TIME_WAIT, from the timers alone.

    A TIME_WAIT socket with 55 s left was closed 5 s ago, so the sockets whose timer is
    above 60 - w closed within the last w seconds. ``tw_hist`` maps ``expires_ms >> 8``
    (BUCKET_MS each) to a count. When every recent socket is younger than the window
    (the load started less than w ago) the window shrinks to the oldest one's age (at
    least 1 s).
    """
    floor = int((TIME_WAIT_S - window_s) * 1000) // BUCKET_MS + 1
    recent = [(b, n) for b, n in tw_hist.items() if b >= floor]
    if not recent:
        return 0.0
    count = sum(n for _b, n in recent)
    window = TIME_WAIT_S - floor * BUCKET_MS / 1000
    if min(tw_hist) >= floor:  # the load is younger than the window: its own age
        oldest_age = TIME_WAIT_S - min(tw_hist) * BUCKET_MS / 1000
        window = min(window, max(1.0, oldest_age))
    return count / window


def tw_figures(tw_hist) -> tuple[int, float]:
    """(TIME_WAIT sockets, closes per second) of one destination's histogram: what a
    forecast needs from it, computed once per TIME_WAIT dump, not once per sample."""
    return sum(tw_hist.values()), close_rate(tw_hist)


def forecast(remote: str, open_n: int, tw: tuple[int, float], usable: int, tw_reuse: int,
             open_growth_per_s: float = 0.0, syn_sent: tuple[int, int] = (0, 0)) -> dict:
    """One ``by_destination`` row: in_use, fraction, rate_per_s, exhausted_in_s, forecast,
    and open, closes_per_s, syn_sent, syn_retrans_max; ``tw`` is the destination's
    ``tw_figures``, ``syn_sent`` its SYN_SENT sockets and their most SYN retransmissions.

    Steady state = rate x 60 s + sockets open now. Below the usable range: "steady at
    X% of range" and no exhaustion; above it: (usable - in_use) / rate seconds. With
    tcp_tw_reuse active for the destination TIME_WAIT sockets hold no port for connect(),
    so only open sockets (and their growth) count.
    """
    tw_n, tw_rate = tw
    in_use = open_n + tw_n
    reuse = reuse_applies(tw_reuse, remote)
    growth = max(0.0, open_growth_per_s)
    rate = tw_rate + growth
    row = {"remote": remote, "in_use": in_use,
           "fraction": round(in_use / usable, 6) if usable else 1.0,
           "rate_per_s": round(rate, 2), "exhausted_in_s": None}
    if reuse:
        # Open sockets that keep growing have no steady state.
        binding, pressure = open_n, growth
        steady = open_n if growth <= 0 else float("inf")
        note = (f" (tcp_tw_reuse={tw_reuse}: TIME_WAIT ports are reused,"
                f" only the {open_n} open sockets hold ports)")
    else:
        binding, pressure = in_use, rate
        steady = round(rate * TIME_WAIT_S) + open_n
        note = ""
    if usable and steady < usable:
        row["forecast"] = f"steady at {100 * steady / usable:.0f}% of range{note}"
    elif pressure > 0:
        eta = max(0.0, (usable - binding) / pressure)
        row["exhausted_in_s"] = round(eta, 1)
        row["forecast"] = f"exhausts in ~{eta:.0f} s{note}"
    else:
        share = 100 * binding / usable if usable else 100.0
        row["forecast"] = f"at {share:.0f}% of range{note}"
    row.update(open=open_n, closes_per_s=round(tw_rate, 2), syn_sent=syn_sent[0],
               syn_retrans_max=syn_sent[1])
    return row


def ephemeral_forecast(open_by_dest, tw_by_dest, ports_in_use: int, sysctls: dict,
                       open_growth=None, syn_sent=None) -> dict:
    """records.Ephemeral from per-destination open counts and TIME_WAIT figures
    (``tw_figures`` per remote; ``syn_sent``: syn_sent_by_destination of the same
    records). ``by_destination`` keeps the MAX_DESTINATIONS most used and every one
    forecast to run out or with a SYN retransmitted; ``destinations`` counts them all."""
    lo, hi = sysctls.get("ip_local_port_range", [32768, 60999])
    usable = usable_ports([lo, hi], sysctls.get("ip_local_reserved_ports", []))
    reuse = sysctls.get("tcp_tw_reuse", 2)
    growth = open_growth or {}
    syn = syn_sent or {}
    rows = [forecast(remote, open_by_dest.get(remote, 0), tw_by_dest.get(remote, (0, 0.0)),
                     usable, reuse, growth.get(remote, 0.0), syn.get(remote, (0, 0)))
            for remote in set(open_by_dest) | set(tw_by_dest)]
    rows.sort(key=lambda r: (-r["in_use"], r["remote"]))
    kept = rows[:MAX_DESTINATIONS] + [r for r in rows[MAX_DESTINATIONS:]
                                      if r["exhausted_in_s"] is not None or r["syn_retrans_max"]]
    return {"range": [lo, hi], "usable": usable, "in_use": ports_in_use,
            "destinations": len(rows), "by_destination": kept}


def split_by_destination(records, sysctls: dict):
    """(open counts, TIME_WAIT histograms, distinct ports) per remote, from records
    (TIME_WAIT ones only when the records hold TIME_WAIT sockets)."""
    lo, hi = sysctls.get("ip_local_port_range", [32768, 60999])
    listening = {r.sport for r in records if r.state == "LISTEN"}
    open_by: Counter = Counter()
    tw_by: dict[str, Counter] = {}
    ports: set[int] = set()
    for r in records:
        if r.state in ("LISTEN", "SYN_RECV") or not lo <= r.sport <= hi or r.sport in listening:
            continue
        ports.add(r.sport)
        if r.state == "TIME_WAIT":
            tw_by.setdefault(r.remote, Counter())[r.expires // BUCKET_MS] += 1
        else:
            open_by[r.remote] += 1
    return open_by, tw_by, len(ports)


def syn_sent_by_destination(records) -> dict[str, tuple[int, int]]:
    """``{remote: (SYN_SENT sockets, their most SYN retransmissions)}``: a connect() whose
    SYN went unanswered is retransmitted after the initial 1 s RTO, then 2 s, 4 s later
    (idiag_retrans counts them), so a retransmission means a SYN was lost or dropped."""
    out: dict[str, tuple[int, int]] = {}
    for r in records:
        if r.state == "SYN_SENT":
            n, most = out.get(r.remote, (0, 0))
            out[r.remote] = (n + 1, max(most, r.retrans))
    return out
