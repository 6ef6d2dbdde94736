"""`socklife report`: a self-contained page whose charts render in headless Chromium."""

from __future__ import annotations

import pytest
from browser import HAVE_CHROMIUM, dump_dom, inked_fraction, screenshot

from harness.cli import main


@pytest.fixture
def locust_run(fixture_path):
    """A hand-written run of the Locust plugin: two listeners (one fills up), two
    destinations, a CLOSE_WAIT leak, TIME_WAIT heading to its steady state."""
    return fixture_path("report", "locust_run.jsonl")


def test_report_is_self_contained(locust_run, tmp_path, capsys):
    html = tmp_path / "report.html"
    assert main(["report", str(locust_run), "-o", str(html)]) == 0
    page = html.read_text()
    assert "<script src=\"http" not in page and "cdn" not in page.lower().split("plotly.js")[0]
    for title in ("Sockets by state", "TIME_WAIT and the steady state",
                  "Accept-queue fill per listener", "Ephemeral headroom per destination",
                  "Kernel counters", "Locust: requests\\u002fs"):  # JSON escapes the slash
        assert title in page
    assert "127.0.0.1:40000" in page  # the leak table names the leaked socket
    for listener in ("127.0.0.1:8080", "127.0.0.1:9090"):  # a fill series per listener
        assert f'"name":"{listener}"' in page
    assert len(page) > 1_000_000  # plotly.js is inlined


def test_series_plotted(locust_run):
    from harness.report.run_report import build_figure, load_series

    fig = build_figure(load_series(locust_run))
    y = {(t.legendgroup, t.name): [None if v is None else float(v) for v in t.y]
         for t in fig.data}
    assert y[("2", "steady state (forecast)")] == [0, 6000, 6000, 6000, 6000, 6000]
    assert y[("3", "127.0.0.1:8080")] == [0.0, 0.310078, 1.0, 1.0, 0.465116, 0.0]
    assert y[("4", "127.0.0.1:8080")][-1] == round(100 - 100 * 520 / 28232, 3)  # % left
    assert y[("5", "ListenOverflows")] == [None, 0.0, 3.0, 3.0, 0.0, 0.0]
    assert y[("6", "failures/s")] == [0.0, 0.0, 3.0, 3.0, 0.0, 0.0]
    assert ("1", "LISTEN") not in y and ("1", "ESTABLISHED") in y


@pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs chromium (Debian package chromium)")
def test_report_renders_charts_in_chromium(locust_run, tmp_path):
    html = tmp_path / "report.html"
    assert main(["report", str(locust_run), "-o", str(html)]) == 0
    dom, errors = dump_dom(html.as_uri())
    assert errors == []
    assert dom.count('class="main-svg"') >= 1 and dom.count("scatterlayer") >= 6
    png = tmp_path / "report.png"
    screenshot(html.as_uri(), str(png))
    assert inked_fraction(str(png), (80, 150, 1000, 1200)) > 0.01  # lines and axes drawn


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    ("not json\n", ":1: not a JSON line"),
    ('{"summary": {"samples": 0}}\n', "no samples"),
    ('{"hello": 1}\n', "neither a sample nor a summary"),
])
def test_bad_input_exit_2(tmp_path, capsys, content, needle):
    src = tmp_path / "run.jsonl"
    if content is not None:
        src.write_text(content)
    assert main(["report", str(src), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


def test_unwritable_output(locust_run, capsys):
    assert main(["report", str(locust_run), "-o", "/nonexistent/dir/r.html"]) == 2
    assert "cannot write" in capsys.readouterr().err
