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


def tab_row(dom: str) -> list[str]:
    """The cells of the tab's first body row (host, samples, ESTABLISHED, ...)."""
    body = dom[dom.index("Port headroom"):]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", body)
    return [re.sub(r"<[^>]+>", "", c) for c in cells]


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
