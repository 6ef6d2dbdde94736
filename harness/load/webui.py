"""The "TCP states" tab of Locust's web UI: findings, hosts and their total, a chart.

The tab is a stock extended table: its rows ride along in the ``/stats/requests`` JSON
the UI polls every 2 s while a test runs (``extended_stats``). The run's findings come
first, one row each (host, severity, finding, what was seen and the fix), computed
afresh at every poll from each host's evidence; then one row per host with its latest
sample's figures, and the total (harness.load.rows: counts summed, the worst host's
fullest queue and headroom). An accept queue that is full reads ``full`` (or
``overflowing``: connections dropped since the sample before; ``was full``: full at an
earlier sample) and is marked red (amber for ``was full``).

Above the table, in the tab itself, a chart of the states over time: a small script
(``/socklife/tab.js``, added to Locust's page) draws one host's history, or the total,
from ``/socklife/series?host=NAME`` as SVG, with a log scale to choose, and marks the
full accept queues in the table. Locust's "Download Data" tab offers
``/socklife/tcp.csv``: the run's ``<prefix>_tcp.csv`` when it writes one, else each
host's latest row and the total.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time

from harness.kernel.tcp_states import STATES
from harness.load.collector import Collector
from harness.load.rows import NAMES as CSV_COLUMNS
from harness.observe.thresholds import TOTAL

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
CSV_TITLE = "Download TCP states CSV (socklife)"

BLANK = {column["key"]: "" for column in STRUCTURE}


def finding_rows(collector: Collector) -> list[dict]:
    """One row per finding so far, critical first (the figures' columns left empty)."""
    return [{**BLANK, "host": f["host"], "severity": f["severity"].upper(),
             "finding": f"{f['id']} {f['subject']}", "what": f"{f['summary']} Fix: {f['fix']}"}
            for f in collector.findings()]


def table_rows(collector: Collector) -> list[dict]:
    """The findings, then one row per host, then the total."""
    return finding_rows(collector) + host_rows(collector)


def queue_flag(samples: list[dict]) -> str:
    """`` full`` when a listener of these samples is full now (its queue past its
    backlog), `` overflowing`` when its namespace's ListenOverflows rose since the
    sample before (the kernel dropped connections at a full queue in between), ``
    was full`` when one was full at an earlier sample."""
    rows = [row for s in samples for row in s.get("listeners") or ()]
    if any(row["accept_queue"] > row["backlog"] for row in rows):
        return " full"
    if any((row.get("overflows_per_s") or 0) > 0 for row in rows):
        return " overflowing"
    return " was full" if any(row.get("ever_full") for row in rows) else ""


def queue_cell(row: dict, flag: str) -> str:
    """``3/6`` (waiting / the queue's room, backlog + 1), and the flag (queue_flag)."""
    if row["accept_queue"] == "":
        return ""
    return f"{row['accept_queue']}/{row['backlog'] + 1}{flag}"


def host_rows(collector: Collector) -> list[dict]:
    """One row per host that sent samples, then their total (each host's latest sample
    counted once)."""
    runs = collector.sampled
    rows = collector.rows(time.time())
    out = []
    for row, run in zip(rows, [*runs, None], strict=True):
        out.append({
            **BLANK, "host": row["host"],
            "samples": run.samples if run else sum(r.samples for r in runs),
            **{name.lower(): row[name] for name in SHOWN},
            "accept_queue": queue_cell(row, queue_flag([run.latest] if run else
                                                       [r.latest for r in runs])),
            "leaks": row["leaks"],
            "headroom": row["ephemeral_headroom"],
        })
    return out


def series(collector: Collector, host: str) -> dict:
    """The chart's data for one host (or the total): ``[time, [count per state]]``."""
    return {"states": list(STATES), "hosts": [TOTAL, *(h.label for h in collector.sampled)],
            "host": host, "points": collector.points(host)}


def csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([row[name] for name in CSV_COLUMNS])
    return buf.getvalue()


TAB_JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "webui_tab.js")


def install(web_ui, watch) -> None:
    """Add the tab, its chart and CSV to ``web_ui`` (``watch``: the plugin's LoadWatch)."""
    from flask import Response, request, send_file

    collector = watch.collector
    web_ui.template_args["extended_tabs"] = [{"title": "TCP states", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [{"key": TAB_KEY, "structure": STRUCTURE}]
    web_ui.template_args["extended_csv_files"] = [{"href": "./socklife/tcp.csv",
                                                   "title": CSV_TITLE}]
    app = web_ui.app
    with open(TAB_JS, encoding="utf-8") as f:
        script = f.read()

    @app.after_request
    def add_tcp_states(response):
        if request.path == "/" and response.status_code == 200 \
                and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            tag = '<script src="./socklife/tab.js" defer></script>'
            response.set_data(page.replace("</body>", f"{tag}</body>", 1))
            return response
        if request.path != "/stats/requests" or response.status_code != 200:
            return response
        data = response.get_json()
        data["extended_stats"] = [{"key": TAB_KEY, "data": table_rows(collector)}]
        response.set_data(json.dumps(data))
        return response

    @app.route("/socklife/tab.js")
    def socklife_tab_js():
        return Response(script, mimetype="text/javascript")

    @app.route("/socklife/series")
    def socklife_series():
        return series(collector, request.args.get("host", TOTAL))

    @app.route("/socklife/tcp.csv")
    def socklife_csv():
        name = f"socklife_tcp_{time.strftime('%Y%m%d-%H%M%S')}.csv"
        if watch.csv is not None and os.path.exists(watch.csv.path):
            return send_file(os.path.abspath(watch.csv.path), mimetype="text/csv",
                             as_attachment=True, download_name=name)
        answer = Response(csv_text(collector.rows(time.time())), mimetype="text/csv")
        answer.headers["Content-Disposition"] = f"attachment;filename={name}"
        return answer
