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
from remote_util import LEAK, fake_remote

from harness.kernel.tcp_states import STATES

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


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        return answer.read().decode()


def host_cells(dom: str) -> dict[str, list[str]]:
    """Host -> its row (host, samples, ESTABLISHED, ...), the total's under Total."""
    return {row[0]: [row[0], *row[4:]] for row in tab_rows(dom) if row and row[1] == ""}


def test_tcp_states_tab_shows_live_numbers_hosts_a_remote_and_its_chart(tmp_path):
    """A local run with a fake exporter as remote ``server``: the tab has a row for this
    host, one for server and the total; its chart (in the tab) draws the total's states
    and offers each host; "Download Data" offers the TCP CSV."""
    port = free_port()
    with fake_remote(LEAK) as url:
        proc = start_locust("short_tcp.py", "-u", "4", "-r", "4", "--autostart", "-t", "40s",
                            "--web-host", "127.0.0.1", "--web-port", str(port),
                            "--socklife-remote", f"server={url}", "--csv", "ui",
                            cwd=tmp_path)
        try:
            wait_for_samples(port)
            for budget_ms in (3000, 6000, 12000):  # a loaded machine renders the tab later
                first = dump_dom(f"http://127.0.0.1:{port}/?tab=tcp-states", budget_ms)
                if "socklife-line" in first:
                    break
            time.sleep(3)
            second = dump_dom(f"http://127.0.0.1:{port}/?tab=tcp-states", 6000)
            reports = dump_dom(f"http://127.0.0.1:{port}/?tab=reports")
            tcp_csv = get(port, "/socklife/tcp.csv")
            server_series = json.loads(get(port, "/socklife/series?host=server"))
        finally:
            proc.terminate()
            finish(proc, timeout=30)
    assert "TCP states" in first
    hosts1, hosts2 = host_cells(first), host_cells(second)
    local = next(h for h in hosts1 if h not in ("server", "total"))
    assert set(hosts1) == {local, "server", "total"}, hosts1
    row1, row2 = hosts1[local], hosts2[local]
    assert int(row2[1]) > int(row1[1]) > 0, (row1, row2)  # more samples on the second look
    assert row1[7] != "" and row1 != row2  # TIME_WAIT column and live values
    assert hosts1["server"][8] == "20"  # the server's CLOSE_WAIT
    assert int(hosts1["total"][8]) >= 20
    # the chart is in the tab, before the table: the total's states, a host to choose
    chart = first[first.index('id="socklife-chart"'):first.index("Port headroom")]
    assert chart.count('class="socklife-line"') >= 2 and 'data-state="TIME_WAIT"' in chart
    assert "Log scale" in chart and ">server</option>" in chart and ">total</option>" in chart
    assert [p[1][STATES.index("CLOSE_WAIT")] for p in server_series["points"]][-1] == 20
    link = re.search(r'<a[^>]*href="([^"]*)"[^>]*>Download TCP states CSV', reports)
    assert link and link.group(1) == "./socklife/tcp.csv", reports[-2000:]
    lines = tcp_csv.splitlines()
    assert lines[0].startswith("time,time_iso,host,") and len(lines) > 3
    assert {line.split(",")[2] for line in lines[1:]} >= {local, "server"}


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
    # the full accept queue is marked: red when full or overflowing at that sample, amber
    # when it was full at an earlier one
    full = re.findall(r'<td[^>]*class="[^"]*socklife-(?:was-)?full[^"]*"[^>]*>(.*?)</td>',
                      dom)
    texts = [re.sub(r"<[^>]+>", "", c) for c in full]
    assert texts and all(t.endswith((" full", " overflowing")) for t in texts), dom
