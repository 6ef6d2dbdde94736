"""The live view of every namespace of the host (``watch --all-netns``, rich): one row
per namespace with its processes, state counts, leaks and fullest accept queue.

Rows are the namespaces with TCP sockets, busiest first; the empty ones are counted in
a line. On a screen (``fit``) the rows that do not fit are counted, never dropped
silently ("... and N more").
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

PROCESSES_SHOWN = 2  # per row; the rest counted


def _who(s: dict) -> str:
    shown = [f"{p['name']}/{p['pid']}" for p in s.get("processes", [])[:PROCESSES_SHOWN]]
    more = s.get("process_count", len(shown)) - len(shown)
    return ", ".join(shown) + (f" +{more}" if more > 0 else "") or "-"


def _fullest(s: dict) -> str:
    if not s["listeners"]:
        return "-"
    row = s["listeners"][0]  # fullest first
    return f"{row['local']} {row['accept_queue']}/{row['backlog']}" + (
        " FULL" if row["full"] else "")


def host_view(samples: list[dict], header: Text, notes=(), fit: bool = True,
              rows: int | None = None) -> Group:
    """The namespaces of ``samples`` (one records.Sample each) under ``header``;
    ``rows``: at most this many (a screen's height), the rest counted."""
    busy = [s for s in samples if sum(s["states"].values())]
    busy.sort(key=lambda s: -sum(s["states"].values()))
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold",
                  padding=(0, 1, 0, 0))
    for title, justify in (("NAMESPACE", "left"), ("PROCESSES", "left"), ("ESTAB", "right"),
                           ("TIME_WAIT", "right"), ("CLOSE_WAIT", "right"),
                           ("LEAKS", "right"), ("FULLEST LISTENER", "left")):
        table.add_column(title, justify=justify, no_wrap=fit,
                         overflow="ellipsis" if fit else "fold")
    shown = busy if rows is None else busy[:rows]
    for s in shown:
        st = s["states"]
        table.add_row(s.get("host") or str(s["netns"]), _who(s), str(st["ESTABLISHED"]),
                      str(st["TIME_WAIT"]), str(st["CLOSE_WAIT"]), str(s["leaks"]["count"]),
                      _fullest(s), style="red" if s["leaks"]["count"] else "")
    parts: list = [header, table]
    if len(busy) > len(shown):
        parts.append(Text(f"... and {len(busy) - len(shown)} more namespaces with sockets "
                          f"(a taller terminal, or record --all-netns)"))
    empty = len(samples) - len(busy)
    if empty:
        parts.append(Text(f"{empty} namespace{'s' if empty > 1 else ''} without TCP sockets"))
    parts += [Text(f"note: {line}") for line in notes]
    return Group(*parts)
