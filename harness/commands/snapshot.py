"""`socklife snapshot`: one reading of the TCP sockets, as a summary or JSON."""

from __future__ import annotations

import json

import click

from harness.commands.common import check_netns, netns_option, port_option
from harness.observe import snapshot as snap

EPILOG = """\b
Examples:
  socklife snapshot                       every TCP socket of this namespace
  socklife snapshot --port 8080           sockets with local or remote port 8080
  socklife snapshot --netns lab --json    namespace /run/netns/lab, as JSON (root)
"""


def _fmt(value) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _wrapped(first: str, cells: list[str], indent: str = "  ") -> list[str]:
    """``cells`` after ``first``, three spaces apart, on as many 80-column lines as needed."""
    lines, line = [], first
    for cell in cells:
        if len(line) + len(cell) > 80 and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += cell + "   "
    lines.append(line.rstrip())
    return lines


def render_text(s: dict) -> str:
    """A summary that fits 80 columns."""
    out = []
    where = f"netns {s['netns']}" if s["netns"] else "this namespace"
    nonzero = [(k, v) for k, v in s["states"].items() if v]
    out.append(f"TCP sockets in {where}"[:60] + f": {sum(s['states'].values())}")
    if not s.get("consistent", True):
        out.append("  (the dump was interrupted by changes: the counts are approximate)")
    out += _wrapped("  ", [f"{name} {n}" for name, n in nonzero or [("(none)", 0)]])
    if s["listeners"]:
        out.append("")
        out.append(f"{'LISTENER':<28} {'ACCEPTQ':>7} {'BACKLOG':>7} {'SYNRECV':>7}  PROCESS")
        for row in s["listeners"][:10]:
            proc = f"{row['process']}/{row['pid']}" if row["pid"] else "-"
            full = " FULL" if row["accept_queue"] > row["backlog"] else ""
            out.append(f"{row['local'][:28]:<28} {row['accept_queue']:>7} {row['backlog']:>7} "
                       f"{row['syn_recv']:>7}  {proc[:20]}{full}")
    if s["close_wait"]:
        out.append("")
        out.append(f"CLOSE_WAIT {len(s['close_wait'])}:")
        out.append(f"  {'LOCAL':<24} {'REMOTE':<24} {'PID':>7} {'FD':>5}  PROCESS")
        for row in s["close_wait"][:10]:
            out.append(f"  {row['local'][:24]:<24} {row['remote'][:24]:<24} "
                       f"{_fmt(row['pid']):>7} {_fmt(row['fd']):>5}  {_fmt(row['process'])[:13]}")
    tw = s["time_wait"]
    if tw["count"]:
        e = tw["expires_s"]
        out.append("")
        out.append(f"TIME_WAIT {tw['count']}: expire in {e['min']:.1f}s (min) "
                   f"{e['p50']:.1f}s (median) {e['max']:.1f}s (max)")
    eph = s["ephemeral"]
    out.append("")
    out.append(f"Ephemeral ports {eph['range'][0]}-{eph['range'][1]} ({eph['usable']} usable): "
               f"{eph['in_use']} in use")
    for row in eph["by_destination"][:5]:
        eta = row.get("exhausted_in_s")
        tail = f", exhausts in ~{eta:.0f}s" if eta is not None else ""
        out.append(f"  to {row['remote'][:28]:<28} {row['in_use']:>6} "
                   f"({100 * row['fraction']:.1f}% of range){tail}")
    c = s["counters"]
    out.append("")
    out += _wrapped("Counters: ", [f"{k} {c[k]}" for k in
                                   ("ListenOverflows", "TW", "TWRecycled", "EstabResets")
                                   if k in c])
    return "\n".join(out)


@click.command("snapshot", epilog=EPILOG)
@netns_option
@port_option
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as one JSON object.")
def command(netns, ports, as_json):
    """Print the TCP sockets now: states, listeners and their accept queues,
    CLOSE_WAIT sockets with their owners, TIME_WAIT expiry, ephemeral ports."""
    check_netns(netns)
    s = snap.take(netns=netns, ports=ports)
    click.echo(json.dumps(s) if as_json else render_text(s))
