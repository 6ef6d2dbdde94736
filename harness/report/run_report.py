"""The run report: one self-contained HTML page for a recorded run (JSONL).

It opens with the run's findings (harness.observe.findings, computed from the samples
as `check` does): severity colour, subject, the sentence and the fix; a finding about a
listener or a destination links to the chart that plots it. Then plots over time,
sharing one time axis, each finding's time span shaded on its chart: sockets by state;
TIME_WAIT against the steady state its close rate leads to; accept-queue fill per
listener; ephemeral headroom per destination; kernel counter rates; and, for a run
recorded by the Locust plugin, requests/s and failures/s. Below them, a table of
CLOSE_WAIT leaks and the run summary as a table in words (clock times, durations).
plotly.js is inlined, so the page opens with no network.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from html import escape

from harness.observe.figures import listener_fill
from harness.observe.runfile import RunFile, RunFileError, RunFold, when
from harness.sinks.outputs import write_text

MAX_POINTS = 2000
TOP = 5
RATE_COUNTERS = ("ActiveOpens", "PassiveOpens", "ListenOverflows", "EstabResets",
                 "RetransSegs", "TW", "TWRecycled")
# The charts, top to bottom: (anchor, title, legend group).
CHARTS = (("states", "Sockets by state", "states"),
          ("time-wait", "TIME_WAIT and the steady state it is heading to", "TIME_WAIT"),
          ("listeners", "Accept-queue fill per listener (1.0 = full)", "accept queue"),
          ("ports", "Ephemeral headroom per destination (% of the port range left)",
           "headroom"),
          ("counters", "Kernel counters (per second)", "counters/s"),
          ("locust", "Locust: requests/s and failures/s", "Locust"))
# The chart each finding is shaded on (and, for a listener or destination, linked to).
CHART_OF = {"accept_queue_overflow": "listeners", "syn_queue_overflow": "listeners",
            "server_time_wait": "listeners", "close_wait_accumulation": "states",
            "ephemeral_exhaustion": "ports", "connection_churn": "ports",
            "syn_sent_pileup": "ports", "time_wait_bucket_overflow": "time-wait",
            "retransmissions_resets": "counters"}
COLOURS = {"critical": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}


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
        self.fold = RunFold()
        self.notes: list[str] = []
        self.interval: float | None = None

    def add(self, s: dict, when: dt.datetime) -> None:
        i = len(self.t)
        self.interval = s.get("interval_s", self.interval)
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
        series.fold.add(doc)
        if kind == "sample":
            series.add(doc, when(doc["time"]))  # a date: RunFile checked
    series.notes.extend(reader.notes)
    if notes is not None:
        notes.extend(reader.notes)
    if not series.t:
        raise RunFileError(f"{path}: no samples")
    return series


def _top(columns: dict[str, dict], n: int) -> list[str]:
    return sorted(columns, key=lambda k: -max(columns[k].values(), default=0))[:n]


def charts(series: Series) -> tuple:
    """The charts this run has (the Locust one only for a Locust run)."""
    has_locust = any(v is not None for v in series.locust["rps"])
    return CHARTS if has_locust else CHARTS[:-1]


def build_figure(series: Series, findings=()):
    """The charts in one figure, ``findings``' time spans shaded on their charts."""
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    shown = charts(series)
    has_locust = len(shown) == len(CHARTS)
    fig = make_subplots(rows=len(shown), cols=1, shared_xaxes=True,
                        subplot_titles=[c[1] for c in shown], vertical_spacing=0.05)
    step = max(1, len(series.t) // MAX_POINTS)
    t = _thin(series.t, step)

    def line(row, name, values, **kw):
        fig.add_trace(go.Scatter(x=t, y=_thin(values, step), name=name, mode="lines",
                                 legendgroup=str(row), legendgrouptitle_text=shown[row - 1][2],
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
    fig.update_layout(height=CHART_PX * len(shown), template="plotly_white",
                      margin={"l": 60, "r": 20, "t": MARGIN_TOP, "b": 40},
                      legend={"font": {"size": 10}})
    _shade(fig, series, findings, [c[0] for c in shown])
    return fig


CHART_PX = 260
MAX_BAND_S = 3600.0
MARGIN_TOP = 60


def _shade(fig, series: Series, findings, anchors: list[str]) -> None:
    """Each finding's span (first_seen to last_seen) as a band on its chart; a span of
    one sample is widened to one interval so it shows."""
    # half an interval each side, between none and half an hour (any value a file holds)
    half = dt.timedelta(seconds=max(0.0, min(series.interval or 1.0, MAX_BAND_S)) / 2)
    for f in findings:
        ev = f["evidence"]
        chart = CHART_OF.get(f["id"])
        if ev.get("first_seen") is None or chart not in anchors:
            continue
        try:
            x0 = dt.datetime.fromtimestamp(ev["first_seen"]) - half
            x1 = dt.datetime.fromtimestamp(ev["last_seen"]) + half
        except OverflowError:  # within half an hour of the year 10000
            continue
        fig.add_vrect(x0=x0, x1=x1, row=anchors.index(chart) + 1, col=1, line_width=0,
                      fillcolor=COLOURS[f["severity"]], opacity=0.15, layer="below",
                      annotation_text=f["id"], annotation_position="top left",
                      annotation_font_size=10)


def _anchors(fig, anchors: list[str]) -> str:
    """An anchor per chart at its top, over the figure (links go to a chart)."""
    height = fig.layout.height
    plot = height - MARGIN_TOP - 40
    spans = []
    for i, name in enumerate(anchors, 1):
        top = fig.layout[f"yaxis{'' if i == 1 else i}"].domain[1]
        px = MARGIN_TOP + (1 - top) * plot - 30
        spans.append(f'<span class="anchor" id="chart-{name}" style="top:{px:.0f}px"></span>')
    return "".join(spans)


def _leak_table(series: Series, findings=()) -> str:
    if not series.leaks:
        held = any(f["id"] == "close_wait_accumulation" for f in findings)
        return ("<p>No CLOSE_WAIT socket passed the leak threshold"
                + (": some were held, younger than it (see the findings above).</p>"
                   if held else ".</p>"))
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
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
.finding { border-left: 6px solid; padding: 4px 12px; margin: 0 0 12px; background: #fafafa; }
.finding .sev { font-weight: bold; color: #fff; padding: 1px 6px; border-radius: 3px; }
.finding p { margin: 4px 0; }
.finding .fix { color: #333; }
.charts { position: relative; }
.anchor { position: absolute; left: 0; }
"""


def _subject(f: dict, anchors: list[str]) -> str:
    """The subject, linked to its finding's chart when it is a listener or a destination
    (an ip:port, not a process name/pid or the namespace)."""
    text = escape(f["subject"])
    chart = CHART_OF.get(f["id"])
    if chart in anchors and ":" in f["subject"]:
        return f'<a href="#chart-{chart}">{text}</a>'
    return text


def findings_html(findings, anchors: list[str]) -> str:
    if not findings:
        return ("<p>No findings: nothing socklife knows of went wrong "
                "(docs/findings.md lists what it looks for).</p>")
    out = []
    for f in findings:
        colour = COLOURS[f["severity"]]
        host = f" on {escape(f['host'])}" if f.get("host") else ""
        out.append(
            f'<div class="finding {f["severity"]}" style="border-color:{colour}">'
            f'<p><span class="sev" style="background:{colour}">{f["severity"].upper()}</span> '
            f"<b>{escape(f['id'])}</b> {_subject(f, anchors)}{host}</p>"
            f"<p>{escape(f['summary'])}</p><p class=\"fix\"><b>Fix:</b> {escape(f['fix'])}</p>"
            "</div>")
    return "".join(out)


def _clock(t: float | None) -> str:
    return "-" if t is None else f"{dt.datetime.fromtimestamp(t):%Y-%m-%d %H:%M:%S}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    if minutes >= 60:
        return f"{int(minutes // 60)} h {int(minutes % 60)} min"
    return f"{int(minutes)} min {secs:.0f} s" if minutes else f"{secs:.1f} s"


def summary_rows(summary: dict, series: Series) -> list[tuple[str, str]]:
    """The run summary in words: (what, how it stood)."""
    peaks = summary.get("peaks") or {}
    busy = ", ".join(f"{name} {n:,}" for name, n in peaks.items() if n and name != "LISTEN")
    leaks = summary.get("leaks") or {}
    every = f", every {series.interval:g} s" if series.interval else ""
    hosts = summary.get("hosts")
    room = summary.get("ephemeral_headroom_min")
    ever_full = summary.get("listeners_ever_full") or []
    rows = [
        ("Recorded", f"from {_clock(summary.get('started'))} to {_clock(summary.get('ended'))}"
                     f" local time ({_duration(summary.get('duration_s') or 0.0)})"),
        ("Samples", f"{summary.get('samples', 0):,}{every}"
                    + (f"; hosts: {', '.join(f'{h} ({n})' for h, n in hosts.items())}"
                       if hosts else "")),
        ("Highest counts", busy or "no sockets but listeners"),
        ("CLOSE_WAIT", f"at most {summary.get('close_wait_settled_max', 0)} still there one "
                       "sample later; " + (f"{leaks['count']} leaked, the oldest "
                                           f"{_duration(leaks.get('oldest_s') or 0.0)}"
                                           if leaks.get("count") else "no leak")),
        ("Accept queues", f"the fullest at {summary.get('accept_queue_fill_max', 0.0):.0%} of "
                          "backlog + 1; " + (f"full: {', '.join(ever_full)}" if ever_full
                                             else "none full")
                          + f"; ListenOverflows grew by {summary.get('listen_overflows', 0)}"),
        ("Ephemeral ports", f"at most {summary.get('ephemeral_fraction_max', 0.0):.1%} of the "
                            "range held towards one destination"
                            + (f", {room:,} left at the lowest" if room is not None else "")
                            + f"; EADDRNOTAVAIL {summary.get('eaddrnotavail', 0)}"),
    ]
    share, rss = summary.get("sampler_cpu_share"), summary.get("sampler_rss_bytes")
    if share is not None or rss is not None:
        rows.append(("Sampler", (f"{share:.1%} of a core" if share is not None else "")
                     + (f", {rss / 2**20:.0f} MB resident" if rss else "")
                     + f", {summary.get('samples_missed', 0)} ticks missed"))
    return rows


def _summary_table(summary: dict, series: Series) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>"
                   for k, v in summary_rows(summary, series))
    return f"<table>{body}</table>"


def render(path: str, notes: list | None = None) -> str:
    """The page of ``path``; the reader's notes (a cut last line) go to ``notes`` too."""
    series = load_series(path)
    if notes is not None:
        notes += series.notes
    summary = series.fold.summary()
    findings = summary["findings"]
    anchors = [c[0] for c in charts(series)]
    fig = build_figure(series, findings)
    plots = fig.to_html(include_plotlyjs=True, full_html=False, div_id="socklife-run")
    notes = "".join(f"<p><i>note: {escape(n)}</i></p>" for n in series.notes)
    name = escape(os.path.basename(path))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>socklife run {name}</title><style>{STYLE}</style>"
        f"</head><body><h1>TCP sockets during {name}</h1>"
        f"<p>{len(series.t)} samples from {series.t[0]:%Y-%m-%d %H:%M:%S} to "
        f"{series.t[-1]:%H:%M:%S}.</p>{notes}<h2>Findings</h2>"
        f"{findings_html(findings, anchors)}<h2>Charts</h2>"
        f'<div class="charts">{_anchors(fig, anchors)}{plots}</div>'
        f"<h2>CLOSE_WAIT leaks</h2>{_leak_table(series, findings)}"
        f"<h2>Summary</h2>{_summary_table(summary, series)}"
        "</body></html>"
    )


def write_report(path: str, out: str) -> list[str]:
    """Render ``path`` into ``out`` (harness.sinks.outputs: a reader never sees half a
    page, and a device or FIFO is written to, never replaced); the reader's notes."""
    notes: list[str] = []
    write_text(out, render(path, notes))
    return notes
