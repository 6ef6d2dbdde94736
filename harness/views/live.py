"""The live view of a sample (rich): state counts with sparklines, the fullest listeners,
the oldest CLOSE_WAIT sockets with their process, ephemeral headroom, counter rates.

`socklife watch` and `socklife demo` draw it under a header of their own. On a terminal
it fits the screen (columns shrink, long text ends in an ellipsis, at most 23 lines);
written anywhere else (a pipe, a file) nothing is cut: long cells wrap instead.
"""

from __future__ import annotations

from collections import deque

from rich.console import Group
from rich.table import Table
from rich.text import Text

SHOWN_STATES = ("ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
                "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK", "LISTEN")
SPARK = "▁▂▃▄▅▆▇█"
KEPT = 120  # points of history per state (a sparkline shows what fits)
RATES = ("ActiveOpens", "PassiveOpens", "TW", "ListenOverflows", "EstabResets", "TWRecycled")


class StateSeries:
    """The recent counts of each shown state, for the sparklines."""

    def __init__(self, keep: int = KEPT):
        self.values = {name: deque(maxlen=keep) for name in SHOWN_STATES}

    def add(self, sample: dict) -> None:
        for name in SHOWN_STATES:
            self.values[name].append(sample["states"][name])


def sparkline(values, width: int) -> str:
    """The last ``width`` values as bars scaled to their maximum (blank for 0).

    >>> sparkline([0, 1, 2, 4, 8], 5)
    ' ▁▂▄█'
    """
    values = list(values)[-width:]
    top = max(values, default=0)
    if not top:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(7, v * 8 // (top + 1))] if v else " " for v in values)


def _table(fit: bool, *columns: tuple[str, str]) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold",
                  padding=(0, 1, 0, 0))
    for title, justify in columns:
        table.add_column(title, justify=justify, no_wrap=fit,
                         overflow="ellipsis" if fit else "fold")
    return table


def _owner(row: dict) -> str:
    return f"{row['process']}/{row['pid']}" if row.get("pid") else "-"


def live_view(sample: dict, series: StateSeries, header: Text, width: int = 80,
              fit: bool = True) -> Group:
    """The view of ``sample`` under ``header``; ``width`` is the console's, ``fit`` says
    whether it is a screen (cut to fit) or a file (wrap, never cut)."""
    parts: list = [header]
    spark_w = max(10, min(KEPT, width - 24))
    states = _table(fit, ("", "left"), ("", "right"), ("", "left"))
    states.show_header = False
    for name in SHOWN_STATES:
        states.add_row(name, str(sample["states"][name]), sparkline(series.values[name],
                                                                     spark_w))
    parts.append(states)

    listeners = _table(fit, ("LISTENER", "left"), ("QUEUE", "right"), ("BACKLOG", "right"),
                       ("FILL", "right"), ("SYNRECV", "right"), ("PROCESS", "left"))
    for row in sample["listeners"][:3]:
        flag = " FULL" if row["full"] else (" was full" if row["ever_full"] else "")
        listeners.add_row(row["local"], str(row["accept_queue"]), str(row["backlog"]),
                          f"{row['fill']:.2f}", str(row["syn_recv"]), _owner(row) + flag,
                          style="red" if row["full"] else "")
    parts.append(listeners)

    cw = sample["close_wait"]
    parts.append(Text(f"CLOSE_WAIT {len(cw)} (leaks {sample['leaks']['count']})",
                      style="bold"))
    if cw:
        rows = _table(fit, ("LOCAL", "left"), ("PEER", "left"), ("AGE", "right"),
                      ("PROCESS/PID", "left"), ("FD", "right"))
        for row in cw[:3]:
            age = "new" if row["age_s"] is None else f"{row['age_s']:.1f}s"
            fd = "-" if row["fd"] is None else str(row["fd"])
            rows.add_row(row["local"], row["remote"], age,
                         f"{row['process'] or '-'}/{row['pid'] or '-'}", fd,
                         style="red" if row["leak"] else "")
        parts.append(rows)

    eph = sample["ephemeral"]
    parts.append(Text(f"EPHEMERAL {eph['range'][0]}-{eph['range'][1]}: {eph['in_use']} of "
                      f"{eph['usable']} in use", style="bold"))
    for row in eph["by_destination"][:2]:
        parts.append(Text(f"  {row['remote']} {row['in_use']} {row['rate_per_s']:g}/s: "
                          f"{row['forecast']}", no_wrap=fit, overflow="ellipsis"))
    rates = sample["rates"]
    parts.append(Text("/s  " + "  ".join(f"{k} {rates[k]:g}" for k in RATES if k in rates),
                      no_wrap=fit, overflow="ellipsis"))
    return Group(*parts)
