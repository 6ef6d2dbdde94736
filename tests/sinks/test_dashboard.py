"""The Grafana dashboard: importable JSON, and only metrics a live exporter scrape has."""

from __future__ import annotations

import json
import re
import socket

import pytest
from exporter_util import exporter, get, three_pairs
from paths import ROOT

DASHBOARD = ROOT / "dashboards" / "grafana" / "socklife.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@pytest.fixture(scope="module")
def dash():
    return json.loads(DASHBOARD.read_text())


def expressions(dash) -> list[str]:
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


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
        for t in p["targets"]:
            assert 'instance=~"$instance"' in t["expr"], t["expr"]


def test_covers_what_the_issue_asks(dash):
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for words in ("by state", "time_wait", "forecast", "accept-queue fill", "leaks",
                  "headroom", "overflows"):
        assert words in titles


def test_uses_only_metrics_a_scrape_has(dash):
    used = set(re.findall(r"\b(socklife_[a-z_]+)", " ".join(expressions(dash))))
    assert len(used) >= 8
    # Destinations and exhaustion forecasts exist only while a client holds ports.
    with three_pairs() as port:
        client = socket.create_connection(("127.0.0.1", port))
        try:
            with exporter("--port", str(port)) as web:
                text = get(f"http://127.0.0.1:{web}/metrics")
        finally:
            client.close()
    # Series names, plus families declared without a series right now (no forecast yet).
    exposed = set(re.findall(r"^(socklife_[a-z_]+)[{ ]", text, re.M))
    exposed |= set(re.findall(r"^# TYPE (socklife_[a-z_]+) gauge", text, re.M))
    assert used <= exposed, used - exposed
