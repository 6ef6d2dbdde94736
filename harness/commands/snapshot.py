"""`socklife snapshot`: one reading of the TCP sockets, as a summary or JSON."""

from __future__ import annotations

import json
import sys

import click

from harness.commands.common import (
    all_netns_option,
    cgroup_ids,
    cgroup_option,
    check_netns,
    netns_option,
    port_option,
)
from harness.errors import UsageProblem
from harness.kernel.tcp_states import STATES
from harness.observe import snapshot as snap

EPILOG = """\b
Examples:
  socklife snapshot                       every TCP socket of this namespace
  socklife snapshot --port 8080           sockets with local or remote port 8080
  socklife snapshot --netns lab --json    namespace /run/netns/lab, as JSON (root)
  socklife snapshot --netns pid:4242      the namespace of process 4242 (root)
  socklife snapshot --netns /run/docker/netns/1a2b3c4d5e6f
  socklife snapshot --all-netns           every namespace with sockets (root)
  socklife snapshot --sockets             every socket, as ss -tanp -o lists them
  socklife snapshot --state CLOSE_WAIT --state LAST_ACK     (filtered in the kernel)
  socklife snapshot --pid 4242            the sockets of process 4242 and its children
"""
PROCESSES_SHOWN = 5  # per namespace block, in text


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

    where = s.get("host") or (f"netns {s['netns']}" if s["netns"] else "this namespace")
    out.print(Text(f"TCP sockets in {where}: {sum(s['states'].values())}"))
    if "processes" in s:
        out.print(Text(_processes_line(s)), overflow="fold")
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


def _processes_line(s: dict) -> str:
    """``inode N; processes: nginx/812 (unit nginx.service), ... and 3 more``."""
    shown = []
    for p in s["processes"][:PROCESSES_SHOWN]:
        tag = (f" (container {p['container'][:12]})" if "container" in p
               else f" (unit {p['unit']})" if "unit" in p else "")
        shown.append(f"{p['name']}/{p['pid']}{tag}")
    more = s["process_count"] - len(shown)
    said = ", ".join(shown) or "none"
    if more > 0:
        said += f" ... and {more} more (use --json)"
    return f"  inode {s['netns_inode']}; processes: {said}"


def render_host(snapshot: dict, width: int = 80) -> str:
    """Every namespace with TCP sockets as a block (render_text), the empty ones
    counted in a line, and the notes about namespaces that could not be read."""
    blocks, empty = [], []
    for s in snapshot["namespaces"]:
        if sum(s["states"].values()):
            blocks.append(render_text(s, width))
        else:
            empty.append(s)
    if empty:
        blocks.append(f"{len(empty)} namespace{'s' if len(empty) > 1 else ''} without TCP "
                      f"sockets (use --json for their processes)")
    blocks += [f"note: {line}" for line in snapshot["notes"]]
    from harness.observe.hostwide import shared_hash_note

    shared = shared_hash_note(snapshot["namespaces"])
    if shared:
        blocks.append(f"note: {shared}")
    return "\n\n".join(blocks)


def _host_snapshot(ports, ids=()) -> dict:
    from harness.observe.hostwide import HostSampler
    from harness.schema.version import SCHEMA

    with HostSampler(ports, owner_after_s=0, meter=False, fold=False,
                     cgroup_ids=ids) as host:
        namespaces = host.sample()
        return {"schema": SCHEMA, "namespaces": namespaces, "notes": host.notes}


def _timer_text(t: dict | None) -> str:
    """``timer:(keepalive,7.2sec,0)`` as ``ss -o`` writes it; "" without a timer."""
    if t is None:
        return ""
    left = t["expires_s"]
    when = f"{left:.1f}sec" if left >= 1 else f"{1000 * left:.0f}ms"
    return f"timer:({t['name']},{when},{t['retrans']})"


def render_listing(listing: dict, width: int = 80, limit: int = 1000) -> str:
    """The sockets of a records.SocketListing as a table; past ``limit`` rows the rest
    are counted ("... and N more (use --json)")."""
    import io

    from rich.console import Console

    out = Console(file=io.StringIO(), width=width, color_system=None, highlight=False,
                  soft_wrap=False)
    where = f"netns {listing['netns']}" if listing["netns"] else "this namespace"
    said = [f"in {where}"]
    if listing["states_asked"]:
        said.append("state " + ",".join(listing["states_asked"]))
    if listing["pid"] is not None:
        said.append(f"held by pid {listing['pid']} and its children")
    out.print(f"TCP sockets {' '.join(said)}: {listing['count']}")
    if not listing["consistent"]:
        out.print("  (the dump was interrupted by changes: the list is approximate)")
    if listing["sockets"]:
        cgroups = any("cgroup" in row for row in listing["sockets"])
        columns = [("STATE", "left"), ("RECV-Q", "right"), ("SEND-Q", "right"),
                   ("LOCAL", "left"), ("PEER", "left"), ("PROCESS", "left"),
                   ("TIMER", "left")] + ([("CGROUP", "left")] if cgroups else [])
        table = _table(*columns)
        for row in listing["sockets"][:limit]:
            proc = f"{row['process']}/{row['pid']} fd {row['fd']}" if row["pid"] else "-"
            cells = [row["state"], str(row["recv_q"]), str(row["send_q"]), row["local"],
                     row["remote"], proc, _timer_text(row["timer"])]
            table.add_row(*cells, *([row.get("cgroup", "-")] if cgroups else []))
        out.print(table)
    if listing["count"] > limit:
        out.print(f"  ... and {listing['count'] - limit} more (use --json)")
    return "\n".join(line.rstrip() for line in out.file.getvalue().splitlines())


@click.command("snapshot", epilog=EPILOG)
@netns_option
@all_netns_option
@port_option
@cgroup_option
@click.option("--state", "states", metavar="STATE", multiple=True,
              type=click.Choice(STATES, case_sensitive=False),
              help="List only the sockets in STATE (repeatable; filtered in the kernel by "
                   "the dump's state mask). Implies --sockets.")
@click.option("--pid", type=click.IntRange(1), default=None, metavar="N",
              help="List only the sockets held by process N and its descendants, in N's "
                   "namespace unless --netns names one (TIME_WAIT has no owner). "
                   "Implies --sockets.")
@click.option("--sockets", "list_sockets", is_flag=True,
              help="List every socket, as `ss -tanp -o` does: state, queues, addresses, "
                   "process, timer (expiry, retransmissions).")
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True,
              metavar="N", help="Sockets shown in text (the rest counted; --json has all).")
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as one JSON object.")
def command(netns, all_netns, ports, cgroups, states, pid, list_sockets, limit, as_json):
    """Print the TCP sockets now: states, listeners and their accept queues,
    CLOSE_WAIT sockets with their owners, TIME_WAIT expiry, ephemeral ports
    (--sockets, --state, --pid: a listing of the sockets instead)."""
    list_sockets = list_sockets or bool(states) or pid is not None
    if list_sockets and all_netns:
        raise UsageProblem("--sockets, --state and --pid list one namespace: use --netns "
                           "(or none) instead of --all-netns")
    check_netns(netns if pid is None or netns else f"pid:{pid}", all_netns)
    ids = cgroup_ids(cgroups)
    if list_sockets:
        from harness.observe.listing import listing

        s = listing(netns, [st.upper() for st in states] or None, ports, pid, ids)
    else:
        s = (_host_snapshot(ports, ids) if all_netns
             else snap.take(netns=netns, ports=ports, cgroup_ids=ids))
    if as_json:
        click.echo(json.dumps(s))
        return
    import shutil  # with bz2 and lzma: 5 ms a --json snapshot does not need

    size = shutil.get_terminal_size((80, 24)).columns if sys.stdout.isatty() else 80
    if list_sockets:
        click.echo(render_listing(s, size, limit))
    else:
        click.echo(render_host(s, size) if all_netns else render_text(s, size))
