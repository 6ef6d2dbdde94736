"""`socklife snapshot`: one reading of the TCP sockets, as a summary or JSON."""

from __future__ import annotations

import json
import sys

import click

from harness.commands.common import check_netns, netns_option, port_option
from harness.observe import snapshot as snap

EPILOG = """\b
Examples:
  socklife snapshot                       every TCP socket of this namespace
  socklife snapshot --port 8080           sockets with local or remote port 8080
  socklife snapshot --netns lab --json    namespace /run/netns/lab, as JSON (root)
"""


SHOWN_ROWS = 10  # per table; the rest is counted, never dropped silently
CMDLINE_WIDTH = 120  # a terminal at least this wide also shows the owners' command lines


def _fmt(value) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _table(*columns: tuple[str, str]):
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold",
                  padding=(0, 2, 0, 0))
    for title, justify in columns:
        table.add_column(title, justify=justify, overflow="fold")
    return table


def _more(total: int, what: str) -> list:
    if total <= SHOWN_ROWS:
        return []
    return [f"  ... and {total - SHOWN_ROWS} more {what} (use --json)"]


def render_text(s: dict, width: int = 80) -> str:
    """The snapshot as text ``width`` columns wide; a cell too long for it wraps (folds),
    so nothing is cut, whether on a terminal or in a file. At CMDLINE_WIDTH columns or
    more the listener and CLOSE_WAIT tables add each owner's command line."""
    import io

    from rich.console import Console
    from rich.text import Text

    out = Console(file=io.StringIO(), width=width, color_system=None, highlight=False,
                  soft_wrap=False)
    command = [("COMMAND", "left")] if width >= CMDLINE_WIDTH else []

    def cmdline(row: dict) -> list[str]:
        return [_fmt(row.get("cmdline"))] if command else []

    where = f"netns {s['netns']}" if s["netns"] else "this namespace"
    out.print(Text(f"TCP sockets in {where}: {sum(s['states'].values())}"))
    if not s.get("consistent", True):
        out.print("  (the dump was interrupted by changes: the counts are approximate)")
    nonzero = [f"{k} {v}" for k, v in s["states"].items() if v] or ["(none)"]
    out.print(Text("   ".join(nonzero)), style="", overflow="fold")
    if s["listeners"]:
        out.print()
        table = _table(("LISTENER", "left"), ("ACCEPTQ", "right"), ("BACKLOG", "right"),
                       ("SYNRECV", "right"), ("PROCESS", "left"), *command)
        for row in s["listeners"][:SHOWN_ROWS]:
            proc = f"{row['process']}/{row['pid']}" if row["pid"] else "-"
            full = " FULL" if row["accept_queue"] > row["backlog"] else ""
            table.add_row(row["local"], str(row["accept_queue"]), str(row["backlog"]),
                          str(row["syn_recv"]), proc + full, *cmdline(row))
        out.print(table)
        for line in _more(len(s["listeners"]), "listeners"):
            out.print(line)
    if s["close_wait"]:
        out.print()
        out.print(f"CLOSE_WAIT {len(s['close_wait'])}:")
        table = _table(("LOCAL", "left"), ("REMOTE", "left"), ("PID", "right"),
                       ("FD", "right"), ("PROCESS", "left"), *command)
        for row in s["close_wait"][:SHOWN_ROWS]:
            table.add_row(row["local"], row["remote"], _fmt(row["pid"]), _fmt(row["fd"]),
                          _fmt(row["process"]), *cmdline(row))
        out.print(table)
        for line in _more(len(s["close_wait"]), "CLOSE_WAIT sockets"):
            out.print(line)
    tw = s["time_wait"]
    if tw["count"]:
        e = tw["expires_s"]
        out.print()
        out.print(f"TIME_WAIT {tw['count']}: expire in {e['min']:.1f}s (min) "
                  f"{e['p50']:.1f}s (median) {e['max']:.1f}s (max)")
    eph = s["ephemeral"]
    out.print()
    out.print(f"Ephemeral ports {eph['range'][0]}-{eph['range'][1]} ({eph['usable']} usable): "
              f"{eph['in_use']} in use")
    if eph["by_destination"]:
        table = _table(("TO", "left"), ("IN USE", "right"), ("OF RANGE", "right"),
                       ("FORECAST", "left"))
        for row in eph["by_destination"][:SHOWN_ROWS]:
            eta = row.get("exhausted_in_s")
            said = f"exhausts in ~{eta:.0f}s" if eta is not None else row["forecast"]
            table.add_row(row["remote"], str(row["in_use"]), f"{100 * row['fraction']:.1f}%",
                          said.split(" (")[0])  # the reuse note is in --json
        out.print(table)
        total = eph.get("destinations", len(eph["by_destination"]))
        for line in _more(total, "destinations"):
            out.print(line)
    c = s["counters"]
    out.print()
    out.print(Text("Counters: " + "   ".join(
        f"{k} {c[k]}" for k in ("ListenOverflows", "TW", "TWRecycled", "EstabResets")
        if k in c)), overflow="fold")
    return "\n".join(line.rstrip() for line in out.file.getvalue().splitlines())


@click.command("snapshot", epilog=EPILOG)
@netns_option
@port_option
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as one JSON object.")
def command(netns, ports, as_json):
    """Print the TCP sockets now: states, listeners and their accept queues,
    CLOSE_WAIT sockets with their owners, TIME_WAIT expiry, ephemeral ports."""
    check_netns(netns)
    s = snap.take(netns=netns, ports=ports)
    if as_json:
        click.echo(json.dumps(s))
        return
    import shutil  # with bz2 and lzma: 5 ms a --json snapshot does not need

    size = shutil.get_terminal_size((80, 24)).columns if sys.stdout.isatty() else 80
    click.echo(render_text(s, size))
