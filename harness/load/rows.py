"""The figures of one host's latest sample, and their total over the hosts: the rows of
``<prefix>_tcp.csv``, of the web UI's tab and the console's live figures.

Every column is declared once here with its unit and how the total row gets it:
``sum`` (counts and counters), ``max``/``min`` (the worst host, for fills, fractions,
headroom and forecasts), ``fullest`` (the listener of the host with the fullest accept
queue), ``run`` (Locust's figures: the run's own, the same on every row).
docs/ci.md lists them for people (a test holds it to this table).
Counters are growth since the host's first sample of the run; ``_total`` keeps the
kernel's own counter (since the namespace was made)::

    >>> first = {"ListenOverflows": 100}
    >>> a = host_row("a", {"time": 2.0, "states": {"TIME_WAIT": 3},
    ...                    "counters": {"ListenOverflows": 140}}, first)
    >>> a["listen_overflows"], a["listen_overflows_total"], a["TIME_WAIT"]
    (40, 140, 3)
    >>> b = host_row("b", {"time": 2.5, "states": {"TIME_WAIT": 4}}, None)
    >>> t = total_row([a, b], 3.0)
    >>> t["host"], t["TIME_WAIT"], t["listen_overflows"]
    ('total', 7, 40)
"""

from __future__ import annotations

from datetime import UTC, datetime

from harness.kernel.tcp_states import STATES
from harness.observe.figures import (
    fraction_max,
    fullest_listener,
    headroom,
    leak_count,
    listener_fill,
    soonest_exhaustion,
)
from harness.observe.thresholds import TOTAL

# (column, unit, total, meaning)
COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("time", "s", "", "when the sample was taken, Unix time on the host's own clock (a "
                      "total row: the collecting process's clock when it was written)"),
    ("time_iso", "", "", "the same time in ISO 8601, UTC, to the millisecond"),
    ("host", "", "", "a sampling worker's host name/namespace, a --socklife-remote NAME, "
                     "or total (each host's latest sample, counted once)"),
    *((s, "sockets", "sum", f"sockets in {s}") for s in STATES),
    ("listeners", "sockets", "sum", "listening sockets"),
    ("accept_queue", "sockets", "fullest", "connections waiting in the fullest listener's "
                                           "accept queue"),
    ("backlog", "sockets", "fullest", "that listener's backlog (its queue holds backlog + 1)"),
    ("accept_queue_fill", "ratio", "max", "accept_queue / (backlog + 1) of that listener"),
    ("listen_overflows", "count", "sum", "ListenOverflows (connections the kernel dropped "
                                         "at a full accept queue) since the host's first "
                                         "sample of the run"),
    ("listen_overflows_total", "count", "sum", "the kernel's ListenOverflows counter, since "
                                               "the namespace was made"),
    ("leaks", "sockets", "sum", "CLOSE_WAIT sockets past the leak threshold"),
    ("ephemeral_in_use", "ports", "sum", "local ephemeral ports in use (open and TIME_WAIT)"),
    ("ephemeral_usable", "ports", "sum", "usable ephemeral ports (ip_local_port_range less "
                                         "reserved)"),
    ("ephemeral_headroom", "ports", "min", "ports left towards the busiest destination"),
    ("ephemeral_fraction_max", "ratio", "max", "the busiest destination's share of the "
                                               "usable ports"),
    ("ephemeral_exhausted_in_s", "s", "min", "the sampler's soonest forecast of exhaustion "
                                             "(empty: none)"),
    ("rps", "1/s", "run", "Locust's requests per second (the whole run's)"),
    ("failures_per_s", "1/s", "run", "Locust's failures per second (the whole run's)"),
    ("users", "users", "run", "Locust's running Users (the whole run's)"),
)
NAMES = tuple(c[0] for c in COLUMNS)
HOW = {c[0]: c[2] for c in COLUMNS}


def iso_utc(epoch: float) -> str:
    """``1795400000.25`` -> ``"2026-11-23T02:13:20.250Z"``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def host_row(label: str, sample: dict, first_counters: dict | None) -> dict:
    """One host's figures from its latest sample (``first_counters``: its first sample's
    counters, for growth; "" where the sample has no such figure)."""
    top = fullest_listener(sample)
    eph = sample.get("ephemeral") or {}
    load = sample.get("locust") or {}
    room = headroom(sample)
    soonest = soonest_exhaustion(sample)
    overflows = (sample.get("counters") or {}).get("ListenOverflows")
    since = (first_counters or {}).get("ListenOverflows", overflows)
    return {
        "time": sample["time"], "time_iso": iso_utc(sample["time"]), "host": label,
        **{s: sample["states"].get(s, 0) for s in STATES},
        "listeners": len(sample.get("listeners") or ()),
        "accept_queue": top["accept_queue"] if top else "",
        "backlog": top["backlog"] if top else "",
        "accept_queue_fill": round(listener_fill(top), 4) if top else "",
        "listen_overflows": "" if overflows is None else max(0, overflows - since),
        "listen_overflows_total": "" if overflows is None else overflows,
        "leaks": leak_count(sample),
        "ephemeral_in_use": eph.get("in_use", ""), "ephemeral_usable": eph.get("usable", ""),
        "ephemeral_headroom": "" if room is None else room,
        "ephemeral_fraction_max": round(fraction_max(sample), 6),
        "ephemeral_exhausted_in_s": "" if soonest is None else soonest,
        "rps": load.get("rps", ""), "failures_per_s": load.get("failures_per_s", ""),
        "users": load.get("users", ""),
    }


def total_row(rows: list[dict], t: float, load: dict | None = None) -> dict:
    """The total of the hosts' rows at ``t``: see the module's table; ``load``: Locust's
    figures now (else the latest row's)."""
    out = {"time": t, "time_iso": iso_utc(t), "host": TOTAL}
    fullest = max((r for r in rows if r["accept_queue_fill"] != ""),
                  key=lambda r: r["accept_queue_fill"], default=None)
    latest = max(rows, key=lambda r: r["time"], default={})
    for name, how in HOW.items():
        values = [r[name] for r in rows if r[name] != ""]
        if how == "sum":
            out[name] = sum(values) if values else ""
        elif how in ("max", "min"):
            out[name] = (max if how == "max" else min)(values) if values else ""
        elif how == "fullest":
            out[name] = fullest[name] if fullest else ""
        elif how == "run":
            out[name] = (load or {}).get(name, latest.get(name, ""))
    return out
