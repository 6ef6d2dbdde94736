"""A sequence diagram as inline SVG: two hosts as vertical lines, segments as arrows.

Input is what a scenario run gathered: ``segments`` (``{"t", "src": "client"|"server",
"flags": "SYN,ACK", "seq": 0, "ack": 1, "len": 0, "dropped": False}``, seq/ack relative
to each side's ISN) and ``transitions`` (``{"t", "side", "old", "new"}``). Events are
placed one row each in time order (not to scale: a retransmission 1 s later would
otherwise squash the handshake), each arrow sloping down one row, each state change
written beside its host's line at the moment it happened.
"""

from __future__ import annotations

from html import escape

WIDTH = 640
LEFT, RIGHT = 150, 490
ROW = 34
TOP = 56


def segment_label(seg: dict) -> str:
    parts = [seg.get("flags") or "-"]
    if seg.get("seq") is not None:
        parts.append(f"seq={seg['seq']}")
    if seg.get("ack") is not None and "ACK" in (seg.get("flags") or ""):
        parts.append(f"ack={seg['ack']}")
    if seg.get("len"):
        parts.append(f"len={seg['len']}")
    return " ".join(parts)


def render_svg(segments: list[dict], transitions: list[dict],
               names: tuple[str, str] = ("client", "server")) -> str:
    events = [(s["t"], 0, "seg", s) for s in segments]
    events += [(t["t"], 1, "st", t) for t in transitions]
    events.sort(key=lambda e: (e[0], e[1]))
    height = TOP + ROW * (len(events) + 2)
    x_of = {"client": LEFT, "server": RIGHT}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sequence" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="monospace" '
        f'font-size="12">',
        '<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" '
        'orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#333"/></marker></defs>',
    ]
    for role, x in x_of.items():
        label = names[0] if role == "client" else names[1]
        out.append(f'<text x="{x}" y="24" text-anchor="middle" font-weight="bold">'
                   f'{escape(label)}</text>')
        out.append(f'<line x1="{x}" y1="32" x2="{x}" y2="{height - 10}" stroke="#999" '
                   f'stroke-width="2"/>')
    t0 = events[0][0] if events else 0.0
    for row, (t, _order, kind, ev) in enumerate(events):
        y = TOP + row * ROW
        if kind == "seg":
            src = ev.get("src", "client")
            x1, x2 = x_of[src], x_of["server" if src == "client" else "client"]
            dropped = ev.get("dropped")
            color = "#c0392b" if dropped else ("#2c3e50" if src == "client" else "#1e6f5c")
            end_x = (x1 + x2) / 2 if dropped else x2
            dash = ' stroke-dasharray="5,4"' if dropped else ""
            y0 = y + 6  # the arrow starts just below its label
            y1 = y0 + ROW * 0.75 * (0.5 if dropped else 1)
            out.append(f'<line class="segment" x1="{x1}" y1="{y0}" x2="{end_x}" y2="{y1}" '
                       f'stroke="{color}" stroke-width="1.5" marker-end="url(#arrow)"{dash}/>')
            label = segment_label(ev) + ("  (dropped)" if dropped else "")
            out.append(f'<text class="segment-label" x="{(x1 + x2) / 2}" y="{y + 2}" '
                       f'text-anchor="middle" fill="{color}">{escape(label)}</text>')
        else:
            side = ev.get("side", "client")
            x = x_of[side]
            anchor, dx = ("end", -8) if side == "client" else ("start", 8)
            text = str(ev.get("new"))
            if text == "CLOSE" and ev.get("old") in ("FIN_WAIT2", "CLOSING"):
                text = "CLOSE (handed to a timewait minisocket)"
            out.append(f'<text class="state" x="{x + dx}" y="{y + 4}" text-anchor="{anchor}" '
                       f'fill="#8e44ad">{escape(text)}</text>')
        out.append(f'<text x="6" y="{y + 4}" fill="#aaa" font-size="10">'
                   f'{(t - t0) * 1000:.1f} ms</text>')
    out.append("</svg>")
    return "\n".join(out)
