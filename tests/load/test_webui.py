"""The "TCP states" tab and the chart page in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest
from load_util import finish, free_port, start_locust

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs chromium")


def dump_dom(url: str, budget_ms: int = 3000) -> str:
    with tempfile.TemporaryDirectory(prefix="sl-chromium-") as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                               f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=60)
    return done.stdout


def tab_rows(dom: str) -> list[list[str]]:
    """The cells of each body row of the tab (host, severity, finding, what, samples,
    ESTABLISHED, ...): the findings' rows first, then one per host."""
    body = dom[dom.index("Port headroom"):]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body)
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in rows]


def tab_row(dom: str) -> list[str]:
    """The first host row: host, samples, ESTABLISHED, ... (the finding columns left out)."""
    row = next(r for r in tab_rows(dom) if r and r[1] == "")
    return [row[0], *row[4:]]


def wait_for_finding(port: int, finding: str, timeout: float = 30) -> None:
    """Until the tab's data (the /stats/requests JSON) holds ``finding``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests",
                                        timeout=1) as answer:
                rows = json.load(answer).get("extended_stats", [{}])[0].get("data", [])
                if any(row.get("finding", "").startswith(finding) for row in rows):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no {finding} reached the web UI")


def wait_for_samples(port: int) -> None:
    """Until the UI is up and the first sample has reached it."""
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/socklife/series",
                                        timeout=1) as answer:
                if json.load(answer)["points"]:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("no sample reached the web UI")


def test_tcp_states_tab_shows_live_numbers_and_chart_draws(tmp_path):
    port = free_port()
    proc = start_locust("short_tcp.py", "-u", "4", "-r", "4", "--autostart", "-t", "40s",
                        "--web-host", "127.0.0.1", "--web-port", str(port), cwd=tmp_path)
    try:
        wait_for_samples(port)
        first = dump_dom(f"http://127.0.0.1:{port}/?tab=tcp-states")
        time.sleep(3)
        second = dump_dom(f"http://127.0.0.1:{port}/?tab=tcp-states")
        chart = dump_dom(f"http://127.0.0.1:{port}/socklife/chart")
    finally:
        proc.terminate()
        finish(proc, timeout=30)
    assert "TCP states" in first
    row1, row2 = tab_row(first), tab_row(second)
    assert row1[0] == row2[0] and row1[0]  # the host
    assert int(row2[1]) > int(row1[1]) > 0, (row1, row2)  # more samples on the second look
    assert row1[7] != "" and row1 != row2  # TIME_WAIT column and live values
    assert chart.count("<polyline") >= 2 and "TIME_WAIT" in chart


def test_the_tab_shows_a_finding_on_top_live(tmp_path):
    """accept_overflow.py's listener overflows: the finding is the tab's first row in the
    browser while the test runs, with its severity, subject, sentence and fix."""
    port = free_port()
    proc = start_locust("accept_overflow.py", "-u", "30", "-r", "30", "--autostart",
                        "-t", "40s", "--web-host", "127.0.0.1", "--web-port", str(port),
                        cwd=tmp_path)
    try:
        wait_for_finding(port, "accept_queue_overflow")
        for budget_ms in (3000, 6000, 12000):  # a loaded machine renders the tab later
            dom = dump_dom(f"http://127.0.0.1:{port}/?tab=tcp-states", budget_ms)
            if "Port headroom" in dom:
                break
    finally:
        proc.terminate()
        finish(proc, timeout=30)
    for title in ("Severity", "Finding", "What was seen, and the fix"):
        assert f">{title}<" in dom
    first = tab_rows(dom)[0]
    assert first[1] == "CRITICAL" and first[2].startswith("accept_queue_overflow 127.0.0.1:")
    assert "The accept queue of 127.0.0.1:" in first[3] and "Fix: Accept faster" in first[3]
    hosts = [row for row in tab_rows(dom) if row and row[1] == ""]
    assert hosts and hosts[0][0] == first[0] and int(hosts[0][4]) > 0  # samples, below
