"""The Grafana dashboard: importable JSON whose every query answers through a real
Prometheus that scraped the exporter, on metrics docs/dashboards.md documents."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from contextlib import contextmanager

import pytest
from exporter_util import PROMETHEUS, exporter, get, prom_api, prometheus
from paths import ROOT
from sockets_util import listener, pair, wait_for

DASHBOARD = ROOT / "dashboards" / "grafana" / "socklife.json"
DOCS = ROOT / "docs" / "dashboards.md"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCRAPE_S = 1
RATE_INTERVAL = f"{4 * SCRAPE_S}s"  # Grafana's $__rate_interval: at least 4 scrape intervals
METRIC = re.compile(r"\b(socklife_[A-Za-z_]+)")


@pytest.fixture(scope="module")
def dash():
    return json.loads(DASHBOARD.read_text())


def targets(dash) -> list[tuple[str, dict]]:
    return [(p["title"], t) for p in dash["panels"] for t in p["targets"]]


def documented() -> dict[str, str]:
    """{metric: when it is present} from the table of docs/dashboards.md; the netstat
    counters from their own table (present always, like the pattern row says)."""
    present, header = {}, None
    for line in DOCS.read_text().splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        header = header or cells
        name = re.fullmatch(r"`(socklife_[A-Za-z_]+)`", cells[0])
        if name and header[0] == "metric":
            present[name.group(1)] = cells[-1] if header[-1] == "present" else "always"
    return present


def test_has_what_grafana_imports(dash):
    assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 30
    assert dash["title"] and dash["uid"] and "time" in dash
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["datasource"] == DATASOURCE
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24 and g["w"] > 0 and g["h"] > 0, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine
        assert p["datasource"] == DATASOURCE and p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
    for title, t in targets(dash):
        assert 'instance=~"$instance"' in t["expr"], t["expr"]
        ranges = re.findall(r"\[([^\]]+)\]", t["expr"])
        assert all(r == "$__rate_interval" for r in ranges), (title, t["expr"])


def test_covers_what_the_issue_asks(dash):
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for words in ("by state", "time_wait", "forecast", "accept-queue fill", "leaks",
                  "headroom", "overflows"):
        assert words in titles


def test_metrics_it_uses_are_documented_and_conditional_ones_say_so(dash):
    docs = documented()
    used = {m for _title, t in targets(dash) for m in METRIC.findall(t["expr"])}
    assert len(used) >= 10 and used <= set(docs), used - set(docs)
    assert docs["socklife_tcp_sockets"] == "always"
    assert docs["socklife_close_wait_leaks_sockets"] == "while something leaks"
    assert docs["socklife_ephemeral_destination_exhaustion_seconds"].startswith("while")


@contextmanager
def watched_listener():
    """A listener with three connected pairs, a CLOSE_WAIT leak held by this process (the
    peer closed, this side never does), and one more connection every 0.2 s (at most 150)
    so the ports towards it keep growing and the exhaustion forecast has a value."""
    lst = listener()
    held = [pair(lst) for _ in range(3)]
    client, leaked = pair(lst)
    client.close()
    stop = threading.Event()

    def grow():
        while not stop.wait(0.2) and len(held) < 150:
            held.append(pair(lst))

    grower = threading.Thread(target=grow, daemon=True)
    grower.start()
    try:
        yield lst.getsockname()[1]
    finally:
        stop.set()
        grower.join()
        for c, s in held:
            c.close()
            s.close()
        leaked.close()
        lst.close()


@pytest.fixture(scope="module")
def scraped():
    """(Prometheus port, the exporter's instance, its /metrics text) once Prometheus has
    scraped the exporter often enough for a rate over $__rate_interval."""
    if PROMETHEUS is None:
        pytest.skip("needs prometheus (Debian package prometheus)")
    with watched_listener() as port, \
            exporter("--port", str(port), "--leak-threshold", "0.5") as web, \
            prometheus(web, SCRAPE_S) as prom:
        instance = f"127.0.0.1:{web}"

        def scrapes():
            try:
                doc = prom_api(prom, "query",
                               query="count_over_time(socklife_sample_timestamp_seconds[1m])")
            except OSError:
                return 0
            return sum(int(r["value"][1]) for r in doc["data"]["result"]) >= 6
        assert wait_for(scrapes, timeout=60, step=0.5), "Prometheus never scraped 6 times"
        yield prom, instance, get(f"http://{instance}/metrics")


def grafana(expr: str, instance: str) -> str:
    """The query as Grafana sends it for one selected instance (a regex matching itself)."""
    out = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$instance", instance)
    assert "$" not in out, f"a variable the test does not know: {expr}"
    return out


def test_every_query_answers_through_prometheus(dash, scraped):
    prom, instance, _text = scraped
    docs = documented()
    now = time.time()
    for title, t in targets(dash):
        query = grafana(t["expr"], instance)
        doc = prom_api(prom, "query_range", query=query, start=now - 15, end=now, step=1)
        assert doc["status"] == "success", f"{title}: {query}: {doc.get('error')}"
        series = doc["data"]["result"]
        if not series:
            conditional = [m for m in METRIC.findall(query) if docs.get(m) != "always"]
            assert conditional == ["socklife_ephemeral_destination_exhaustion_seconds"], (
                f"{title}: {query} came back empty")
        for s in series:
            assert s["metric"]["instance"] == instance
            legend = set(re.findall(r"\{\{(\w+)\}\}", t.get("legendFormat", "")))
            assert legend <= set(s["metric"]), f"{title}: legend {legend - set(s['metric'])}"


def test_leaks_panel_names_this_process(dash, scraped):
    prom, instance, _text = scraped
    expr = next(t["expr"] for _title, t in targets(dash)
                if "socklife_close_wait_leaks_sockets" in t["expr"])
    doc = prom_api(prom, "query", query=grafana(expr, instance))
    got = {(r["metric"]["process"], r["metric"]["pid"]): float(r["value"][1])
           for r in doc["data"]["result"]}
    assert [pid for _process, pid in got] == [str(os.getpid())], got
    assert list(got.values()) == [1.0]


def test_instance_variable_lists_the_exporter(dash, scraped):
    prom, instance, _text = scraped
    variable = next(v for v in dash["templating"]["list"] if v["name"] == "instance")
    metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)",
                                 variable["query"]["query"]).groups()
    doc = prom_api(prom, f"label/{label}/values", **{"match[]": metric})
    assert instance in doc["data"]


def test_every_exposed_metric_is_documented(scraped):
    _prom, _instance, text = scraped
    exposed = set(re.findall(r"^# TYPE (socklife_\w+) ", text, re.M))
    assert "socklife_netstat_TcpExt_ListenOverflows_total" in exposed
    assert exposed == set(documented()), exposed ^ set(documented())
