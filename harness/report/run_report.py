"""The run report: one self-contained HTML page for a recorded run (JSONL).

Plots over time, sharing one time axis: sockets by state; TIME_WAIT against the steady
state its close rate leads to; accept-queue fill per listener; ephemeral headroom per
destination; kernel counter rates; and, for a run recorded by the Locust plugin,
requests/s and failures/s. Below them, a table of CLOSE_WAIT leaks and the run summary.
plotly.js is inlined, so the page opens with no network.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import defaultdict
from html import escape

from harness.observe.figures import listener_fill
from harness.observe.runfile import RunFile, RunFileError, when
from harness.observe.summary import RunSummary
from harness.sinks.outputs import write_text

MAX_POINTS = 2000
TOP = 5
RATE_COUNTERS = ("ActiveOpens", "PassiveOpens", "ListenOverflows", "EstabResets",
                 "RetransSegs", "TW", "TWRecycled")


class Series:
    """Columns of one run, thinned to at most MAX_POINTS samples."""

    def __init__(self):
        self.t: list = []
        self.states: dict[str, list] = defaultdict(list)
        self.tw: list = []
        self.tw_steady: list = []
        self.fill: dict[str, dict] = defaultdict(dict)
        self.ports: dict[str, dict] = defaultdict(dict)
        self.rates: dict[str, list] = defaultdict(list)
        self.locust: dict[str, list] = defaultdict(list)
        self.leaks: dict = {}
        self.summary: dict | None = None
        self.folded = RunSummary()

    def add(self, s: dict, when: dt.datetime) -> None:
        i = len(self.t)
        self.t.append(when)
        for name, n in s["states"].items():
            self.states[name].append(n)
        tw = s.get("time_wait") or {}
        self.tw.append(tw.get("count", s["states"].get("TIME_WAIT", 0)))
        self.tw_steady.append(tw.get("steady_state"))
        for row in s.get("listeners", ())[:20]:
            self.fill[row["local"]][i] = listener_fill(row)
        for row in (s.get("ephemeral") or {}).get("by_destination", ())[:20]:
            self.ports[row["remote"]][i] = 100 * row.get("fraction", 0.0)
        rates = s.get("rates") or {}
        for name in RATE_COUNTERS:
            self.rates[name].append(rates.get(name))
        loc = s.get("locust")
        for key in ("rps", "failures_per_s", "users"):
            self.locust[key].append((loc or {}).get(key))
        for row in s.get("close_wait", ()):
            if row.get("leak"):
                key = row.get("cookie") or (row["local"], row["remote"])
                self.leaks[key] = row


def _thin(values: list, step: int) -> list:
    return values[::step] if step > 1 else values


def load_series(path: str, notes: list[str] | None = None) -> Series:
    """The run's columns (every line validated by harness.observe.runfile); what was
    tolerated is added to ``notes``."""
    series = Series()
    reader = RunFile(path)
    for _number, kind, doc in reader:
        if kind == "summary":
            series.summary = doc["summary"]
            continue
        series.add(doc, when(doc["time"]))  # a date: RunFile checked
        series.folded.add(doc)
    if notes is not None:
        notes.extend(reader.notes)
    if not series.t:
        raise RunFileError(f"{path}: no samples")
    return series


def _top(columns: dict[str, dict], n: int) -> list[str]:
    return sorted(columns, key=lambda k: -max(columns[k].values(), default=0))[:n]


def build_figure(series: Series):
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    has_locust = any(v is not None for v in series.locust["rps"])
    titles = ["Sockets by state", "TIME_WAIT and the steady state it is heading to",
              "Accept-queue fill per listener (1.0 = full)",
              "Ephemeral headroom per destination (% of the port range left)",
              "Kernel counters (per second)"]
    if has_locust:
        titles.append("Locust: requests/s and failures/s")
    fig = make_subplots(rows=len(titles), cols=1, shared_xaxes=True, subplot_titles=titles,
                        vertical_spacing=0.05)
    step = max(1, len(series.t) // MAX_POINTS)
    t = _thin(series.t, step)

    groups = ["states", "TIME_WAIT", "accept queue", "headroom", "counters/s", "Locust"]

    def line(row, name, values, **kw):
        fig.add_trace(go.Scatter(x=t, y=_thin(values, step), name=name, mode="lines",
                                 legendgroup=str(row), legendgrouptitle_text=groups[row - 1],
                                 **kw), row=row, col=1)

    for name, values in series.states.items():
        if any(values) and name != "LISTEN":
            line(1, name, values)
    line(2, "TIME_WAIT", series.tw)
    if any(v is not None for v in series.tw_steady):
        line(2, "steady state (forecast)", series.tw_steady, line={"dash": "dash"})
    n = range(len(series.t))
    for key in _top(series.fill, TOP):
        line(3, key, [series.fill[key].get(i) for i in n])
    for key in _top(series.ports, TOP):  # the destinations closest to running out
        used = series.ports[key]
        line(4, key, [round(100 - used[i], 3) if i in used else None for i in n])
    for name, values in series.rates.items():
        if any(values):
            line(5, name, values)
    if has_locust:
        line(6, "requests/s", series.locust["rps"])
        line(6, "failures/s", series.locust["failures_per_s"])
    fig.update_layout(height=260 * len(titles), template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 60, "b": 40}, legend={"font": {"size": 10}})
    return fig


def _leak_table(series: Series) -> str:
    if not series.leaks:
        return "<p>No CLOSE_WAIT leaks.</p>"
    rows = sorted(series.leaks.values(), key=lambda r: -(r.get("age_s") or 0))
    body = "".join(
        f"<tr><td>{escape(str(r.get('process')))}</td><td>{r.get('pid')}</td>"
        f"<td>{r.get('fd')}</td><td>{escape(r['local'])}</td><td>{escape(r['remote'])}</td>"
        f"<td>{r.get('age_s')}</td></tr>" for r in rows[:200])
    return ("<table><tr><th>process</th><th>pid</th><th>fd</th><th>local</th><th>remote</th>"
            f"<th>age (s)</th></tr>{body}</table>")


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
pre { background: #f7f7f7; padding: 8px; font-size: 12px; }
"""


def render(path: str, notes: list[str] | None = None) -> str:
    series = load_series(path, notes)
    fig = build_figure(series)
    summary = series.summary or series.folded.summary()
    charts = fig.to_html(include_plotlyjs=True, full_html=False, div_id="socklife-run")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>socklife run {escape(os.path.basename(path))}</title><style>{STYLE}</style>"
        f"</head><body><h1>TCP sockets during {escape(os.path.basename(path))}</h1>"
        f"<p>{len(series.t)} samples from {series.t[0]:%Y-%m-%d %H:%M:%S} to "
        f"{series.t[-1]:%H:%M:%S}.</p>{charts}<h2>CLOSE_WAIT leaks</h2>{_leak_table(series)}"
        f"<h2>Summary</h2><pre>{escape(json.dumps(summary, indent=1, default=str))}</pre>"
        "</body></html>"
    )


def write_report(path: str, out: str) -> list[str]:
    """Render ``path`` into ``out`` (harness.sinks.outputs: a reader never sees half a
    page, and a device or FIFO is written to, never replaced); the reader's notes."""
    notes: list[str] = []
    write_text(out, render(path, notes))
    return notes
