"""The "TCP states" tab of Locust's web UI, and a plain page with a chart of states.

The tab is a stock extended table: its rows ride along in the ``/stats/requests`` JSON
the UI polls every 2 s while a test runs (``extended_stats``). The run's findings come
first, one row each (host, severity, finding, what was seen and the fix), computed
afresh at every poll from each host's evidence; then one row per host with its latest
sample's figures, and a total. The chart is a page of its own, ``/socklife/chart``,
drawing the total of each state over time as inline SVG from ``/socklife/series``.
"""

from __future__ import annotations

import json

from harness.kernel.inet_diag import STATES
from harness.load.collector import Collector
from harness.observe.figures import fullest_listener, headroom, leak_count

TAB_KEY = "tcp-states"
SHOWN = ("ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
         "CLOSE_WAIT", "LAST_ACK", "LISTEN")
STRUCTURE = [{"key": "host", "title": "Host"}, {"key": "severity", "title": "Severity"},
             {"key": "finding", "title": "Finding"},
             {"key": "what", "title": "What was seen, and the fix"},
             {"key": "samples", "title": "Samples"},
             *({"key": s.lower(), "title": s} for s in SHOWN),
             {"key": "accept_queue", "title": "Accept queue"},
             {"key": "leaks", "title": "Leaks"},
             {"key": "headroom", "title": "Port headroom"}]


BLANK = {column["key"]: "" for column in STRUCTURE}


def finding_rows(collector: Collector) -> list[dict]:
    """One row per finding so far, critical first (the figures' columns left empty)."""
    return [{**BLANK, "host": f["host"], "severity": f["severity"].upper(),
             "finding": f"{f['id']} {f['subject']}", "what": f"{f['summary']} Fix: {f['fix']}"}
            for f in collector.findings()]


def table_rows(collector: Collector) -> list[dict]:
    """The findings, then one row per host, then a total (each host's latest sample
    counted once)."""
    return finding_rows(collector) + host_rows(collector)


def host_rows(collector: Collector) -> list[dict]:
    """One row per host, then a total (each host's latest sample counted once)."""
    rows = []
    for run in collector.hosts.values():
        s = run.latest
        top = fullest_listener(s)
        room = headroom(s)
        rows.append({
            **BLANK, "host": run.label, "samples": run.samples,
            **{name.lower(): s["states"].get(name, 0) for name in SHOWN},
            "accept_queue": f"{top['accept_queue']}/{top['backlog'] + 1}" if top else "",
            "leaks": leak_count(s), "headroom": "" if room is None else room,
        })
    if len(rows) > 1:
        total = collector.total_states()
        rows.append({**BLANK, "host": "Total", "samples": sum(r["samples"] for r in rows),
                     **{name.lower(): total[name] for name in SHOWN},
                     "accept_queue": "", "leaks": sum(r["leaks"] for r in rows),
                     "headroom": ""})
    return rows


CHART_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>socklife: TCP states over time</title>
<style>body{font:14px sans-serif;margin:1em}svg{border:1px solid #ccc}
#legend span{margin-right:1em}</style></head>
<body><h3>TCP states over time (all sampling hosts, each counted once)</h3>
<svg id="chart" width="900" height="360"></svg><div id="legend"></div>
<p id="latest"></p>
<script>
const COLORS = {ESTABLISHED:"#1f77b4", SYN_SENT:"#ff7f0e", SYN_RECV:"#2ca02c",
  FIN_WAIT1:"#d62728", FIN_WAIT2:"#9467bd", TIME_WAIT:"#8c564b", CLOSE_WAIT:"#e377c2",
  LAST_ACK:"#7f7f7f", CLOSING:"#bcbd22", CLOSE:"#17becf", LISTEN:"#000"};
function draw(data) {
  const svg = document.getElementById("chart"), W = 900, H = 360, P = 40;
  const pts = data.points;
  if (!pts.length) { svg.innerHTML = ""; return; }
  const t0 = pts[0][0], t1 = Math.max(pts[pts.length - 1][0], t0 + 1);
  let ymax = 1;
  for (const [, st] of pts) for (const k in st) if (st[k] > ymax) ymax = st[k];
  const x = t => P + (W - 2 * P) * (t - t0) / (t1 - t0);
  const y = v => H - P - (H - 2 * P) * v / ymax;
  let out = `<text x="${P}" y="${P - 10}">${ymax}</text><text x="${P}" y="${H - 10}">0</text>`;
  out += `<text x="${W - P - 60}" y="${H - 10}">${Math.round(t1 - t0)} s</text>`;
  const legend = [];
  for (const name of data.states) {
    if (!pts.some(([, st]) => st[name])) continue;
    const d = pts.map(([t, st]) => `${x(t).toFixed(1)},${y(st[name] || 0).toFixed(1)}`);
    out += `<polyline fill="none" stroke="${COLORS[name]}" points="${d.join(" ")}"/>`;
    legend.push(`<span style="color:${COLORS[name]}">${name} ${pts[pts.length-1][1][name]}</span>`);
  }
  svg.innerHTML = out;
  document.getElementById("legend").innerHTML = legend.join("");
  document.getElementById("latest").textContent = `${pts.length} samples`;
}
async function tick() {
  try { draw(await (await fetch("series")).json()); } catch (e) {}
  setTimeout(tick, 2000);
}
tick();
</script></body></html>
"""


def install(web_ui, collector: Collector) -> None:
    """Add the tab, the chart page and the ``/stats/requests`` hook to ``web_ui``."""
    from flask import Response, request

    web_ui.template_args["extended_tabs"] = [{"title": "TCP states", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [{"key": TAB_KEY, "structure": STRUCTURE}]
    app = web_ui.app

    @app.after_request
    def add_tcp_states(response):
        if request.path != "/stats/requests" or response.status_code != 200:
            return response
        data = response.get_json()
        data["extended_stats"] = [{"key": TAB_KEY, "data": table_rows(collector)}]
        response.set_data(json.dumps(data))
        return response

    @app.route("/socklife/series")
    def socklife_series():
        return {"states": list(STATES), "points": [[t, st] for t, st in collector.series]}

    @app.route("/socklife/chart")
    def socklife_chart():
        return Response(CHART_PAGE, mimetype="text/html")
