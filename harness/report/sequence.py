"""A sequence diagram as inline SVG: two hosts as vertical lines, segments as arrows.

Input is what a scenario run gathered: ``segments`` (``{"t", "src": "client"|"server",
"flags": "SYN,ACK", "seq": 0, "ack": 1, "len": 0, "dropped": False, "sport", "dport"}``,
seq/ack relative to each connection's ISNs) and ``transitions`` (``{"t", "side", "old",
"new"}``, plus ``"inferred": True, "timer_s": 60.0`` for a TIME_WAIT a dump found).

Events are placed one row each in time order (not to scale: a retransmission 1 s later
would otherwise squash the handshake; the time column gives the real time), each arrow
sloping down one row. A lost segment (dropped by a lab rule after it was on the wire)
is a red dashed arrow that stops short with a cross. A state change is written beside
its host's line; TIME_WAIT is a band down the line of the side that holds it, from
the moment it began, labelled with the timer the kernel gave it. Where a capture holds
more than one connection, each label starts with the connection's number ([2] ...).
Every label fits its column: the layout below is sized for them (tests check it in
Chromium).
"""

from __future__ import annotations

from html import escape

WIDTH = 820
LEFT, RIGHT = 250, 590  # the two host lines
TIME_X = 4  # the time column, left-aligned, up to ~60 px
ROW = 30
TOP = 50
FONT = 11  # monospace: a character is about 0.6 x FONT wide
CHAR = FONT * 0.6
MAX_EVENTS = 160
SEGMENT_CHARS = int((RIGHT - LEFT - 12) / CHAR)  # 48
SIDE_CHARS = int((LEFT - 8 - 66) / CHAR)  # 26: between the time column and a line
COLORS = {"client": "#2c3e50", "server": "#1e6f5c", "lost": "#c0392b", "state": "#8e44ad",
          "time_wait": "#f5b041"}


def segment_label(seg: dict, conn: int | None = None) -> str:
    parts = [f"[{conn}]"] if conn else []
    parts.append(seg.get("flags") or "-")
    if seg.get("seq") is not None:
        parts.append(f"seq={seg['seq']}")
    if seg.get("ack") is not None and "ACK" in (seg.get("flags") or ""):
        parts.append(f"ack={seg['ack']}")
    if seg.get("len"):
        parts.append(f"len={seg['len']}")
    if seg.get("window") == 0 and "SYN" not in (seg.get("flags") or ""):
        parts.append("win=0")
    text = " ".join(parts)
    if seg.get("dropped"):
        text += " (lost)"
    return text if len(text) <= SEGMENT_CHARS else text[:SEGMENT_CHARS - 1] + "…"


def state_label(tr: dict) -> str:
    new = str(tr.get("new"))
    if tr.get("inferred") and new == "TIME_WAIT":
        timer = tr.get("timer_s")
        text = f"TIME_WAIT, {timer:.1f} s timer" if timer is not None else "TIME_WAIT"
    elif new == "CLOSE" and tr.get("old") in ("FIN_WAIT2", "CLOSING"):
        text = "CLOSE -> minisocket"
    elif new == "SYN_RECV" and tr.get("old") == "LISTEN":
        text = "SYN_RECV (request)"
    else:
        text = new
    return text if len(text) <= SIDE_CHARS else text[:SIDE_CHARS - 1] + "…"


def time_label(dt: float) -> str:
    return f"{dt * 1000:.1f} ms" if dt < 10 else f"{dt:.3f} s"


def _connections(segments: list[dict]) -> dict[tuple, int]:
    """(client port, server port) -> 1, 2, ... in order of appearance."""
    order: dict[tuple, int] = {}
    for s in segments:
        a, b = (s.get("sport"), s.get("dport"))
        key = (a, b) if s.get("src") == "client" else (b, a)
        order.setdefault(key, len(order) + 1)
    return order


def render_svg(segments: list[dict], transitions: list[dict],
               names: tuple[str, str] = ("client", "server")) -> str:
    events = [(s["t"], 0, "seg", s) for s in segments]
    events += [(t["t"], 1, "st", t) for t in transitions]
    events.sort(key=lambda e: (e[0], e[1]))
    hidden = max(0, len(events) - MAX_EVENTS)
    events = events[:MAX_EVENTS]
    rows = len(events) + (1 if hidden else 0)
    height = TOP + ROW * (rows + 1)
    x_of = {"client": LEFT, "server": RIGHT}
    conns = _connections(segments)
    many = len(conns) > 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sequence" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="monospace" '
        f'font-size="{FONT}">',
        '<defs>' + "".join(
            f'<marker id="arrow-{k}" markerWidth="10" markerHeight="8" refX="9" refY="4" '
            f'orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="{c}"/></marker>'
            for k, c in COLORS.items() if k in ("client", "server")) + '</defs>',
    ]
    bands = []
    for row, (_t, _o, kind, ev) in enumerate(events):
        if kind == "st" and ev.get("inferred") and ev.get("new") == "TIME_WAIT":
            bands.append((ev.get("side", "client"), TOP + row * ROW))
    for side, y in bands:  # under everything else
        out.append(f'<rect class="time-wait" x="{x_of[side] - 5}" y="{y - 4}" width="10" '
                   f'height="{height - 8 - (y - 4)}" fill="{COLORS["time_wait"]}" '
                   f'opacity="0.8"/>')
    for role, x in x_of.items():
        label = names[0] if role == "client" else names[1]
        out.append(f'<text x="{x}" y="20" text-anchor="middle" font-weight="bold">'
                   f'{escape(label)}</text>')
        out.append(f'<line class="host" x1="{x}" y1="28" x2="{x}" y2="{height - 8}" '
                   f'stroke="#999" stroke-width="2"/>')
    t0 = events[0][0] if events else 0.0
    for row, (t, _order, kind, ev) in enumerate(events):
        y = TOP + row * ROW
        if kind == "seg":
            out.extend(_arrow(ev, y, x_of, conns.get(_key(ev)) if many else None))
        else:
            side = ev.get("side", "client")
            x = x_of[side]
            anchor, dx = ("end", -10) if side == "client" else ("start", 10)
            cls = "state time-wait-label" if ev.get("inferred") else "state"
            out.append(f'<text class="{cls}" x="{x + dx}" y="{y + 4}" text-anchor="{anchor}" '
                       f'fill="{COLORS["state"]}">{escape(state_label(ev))}</text>')
        out.append(f'<text class="time" x="{TIME_X}" y="{y + 4}" fill="#999" '
                   f'font-size="{FONT - 1}">{escape(time_label(t - t0))}</text>')
    if hidden:
        y = TOP + len(events) * ROW
        out.append(f'<text class="more" x="{(LEFT + RIGHT) / 2}" y="{y + 4}" '
                   f'text-anchor="middle" fill="#999">… {hidden} more events not drawn'
                   f'</text>')
    out.append("</svg>")
    return "\n".join(out)


def _key(seg: dict) -> tuple:
    a, b = seg.get("sport"), seg.get("dport")
    return (a, b) if seg.get("src") == "client" else (b, a)


def _arrow(seg: dict, y: float, x_of: dict, conn: int | None) -> list[str]:
    src = seg.get("src", "client")
    x1, x2 = x_of[src], x_of["server" if src == "client" else "client"]
    lost = bool(seg.get("dropped"))
    color = COLORS["lost"] if lost else COLORS[src]
    y0 = y + 6  # the arrow starts just below its label
    y1 = y0 + ROW * 0.65
    out = []
    if lost:  # stops 60% of the way, where a cross marks the loss
        xe, ye = x1 + (x2 - x1) * 0.6, y0 + (y1 - y0) * 0.6
        out.append(f'<line class="segment lost" x1="{x1}" y1="{y0}" x2="{xe}" y2="{ye}" '
                   f'stroke="{color}" stroke-width="1.5" stroke-dasharray="5,4"/>')
        out.append(f'<path class="loss" d="M{xe - 5},{ye - 5} L{xe + 5},{ye + 5} '
                   f'M{xe - 5},{ye + 5} L{xe + 5},{ye - 5}" stroke="{color}" '
                   f'stroke-width="2"/>')
    else:
        out.append(f'<line class="segment" x1="{x1}" y1="{y0}" x2="{x2}" y2="{y1}" '
                   f'stroke="{color}" stroke-width="1.5" marker-end="url(#arrow-{src})"/>')
    out.append(f'<text class="segment-label" x="{(x1 + x2) / 2}" y="{y + 2}" '
               f'text-anchor="middle" fill="{color}">{escape(segment_label(seg, conn))}'
               f'</text>')
    return out
