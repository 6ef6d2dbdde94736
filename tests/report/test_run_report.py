"""`socklife report`: a self-contained page whose charts render in headless Chromium."""

from __future__ import annotations

import json

import pytest
from browser import HAVE_CHROMIUM, dump_dom, screenshot

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


def coloured_fraction(path: str, box: tuple[int, int, int, int]) -> float:
    """Share of pixels in ``box`` whose colour channels differ by more than 60 (not grey)."""
    from PIL import Image, ImageChops

    with Image.open(path) as img:
        r, g, b = img.convert("RGB").crop(box).split()
    spread = ImageChops.subtract(ImageChops.lighter(ImageChops.lighter(r, g), b),
                                 ImageChops.darker(ImageChops.darker(r, g), b))
    histogram = spread.histogram()  # 256 counts of max - min channel
    return sum(histogram[61:]) / max(1, sum(histogram))


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


MEASURE = """<script>window.addEventListener("load", () => setTimeout(() => {
  const top = e => Math.round(e.getBoundingClientRect().top + window.scrollY);
  const out = {charts: top(document.querySelector(".charts")), anchors: {}, titles: {}};
  for (const a of document.querySelectorAll(".anchor")) out.anchors[a.id] = top(a);
  for (const t of document.querySelectorAll(".annotation-text"))
    out.titles[t.textContent] = top(t);
  document.body.setAttribute("data-layout", JSON.stringify(out));
}, 500));</script>"""


def layout(html, tmp_path) -> dict:
    """Where the charts, their anchors and their titles sit on the page (px from the
    top), measured by a script added to a copy of the page."""
    import html as entities
    import re

    copy = tmp_path / "measured.html"
    copy.write_text(html.read_text().replace("</body>", MEASURE + "</body>"))
    dom, _errors = dump_dom(copy.as_uri())
    return json.loads(entities.unescape(re.search(r'data-layout="([^"]*)"', dom).group(1)))


@pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs chromium (Debian package chromium)")
def test_report_renders_charts_in_chromium(locust_run, tmp_path):
    from harness.report.run_report import CHARTS

    html = tmp_path / "report.html"
    assert main(["report", str(locust_run), "-o", str(html)]) == 0
    dom, errors = dump_dom(html.as_uri())
    assert errors == []
    assert dom.count('class="main-svg"') >= 1 and dom.count("scatterlayer") >= 6
    where = layout(html, tmp_path)
    # each chart's anchor (a finding's link target) sits at its chart's title
    for anchor, title, _group in CHARTS:
        assert abs(where["anchors"][f"chart-{anchor}"] - where["titles"][title]) < 40, where
    png = tmp_path / "report.png"
    top = where["charts"]
    screenshot(html.as_uri(), str(png), width=1200, height=top + 1700)
    # Six charts of ~260 px below the findings: each band holds coloured trace pixels
    # (axes, grid, text and the findings' light shading are grey or pale, so a chart
    # without its lines would count ~0).
    bands = [coloured_fraction(str(png), (100, top + 60 + 255 * k, 960, top + 300 + 255 * k))
             for k in range(6)]
    assert min(bands) > 0.002, bands
    assert coloured_fraction(str(png), (100, top + 1600, 960, top + 1690)) < 0.002  # below


@pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs chromium (Debian package chromium)")
def test_console_check_sees_errors(tmp_path):
    """The check above is not vacuous: this Chromium reports console.error and throws."""
    page = tmp_path / "bad.html"
    page.write_text("<script>console.error('bad thing'); throw new Error('boom')</script>")
    _dom, messages = dump_dom(page.as_uri(), budget_ms=1000)
    assert any("bad thing" in m for m in messages) and any("Uncaught" in m for m in messages)


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    ("not json\n", ":1: not a JSON line"),
    ('{"summary": {"samples": 0}}\n', "no samples"),
    ("", "no samples"),
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


def test_the_report_opens_with_the_findings(fixture_path, tmp_path):
    """A real recorded overflow: the finding first (colour, linked subject, sentence, fix),
    its span shaded on the listeners' chart, the summary as words."""
    import datetime as dt

    from harness.report.run_report import COLOURS, build_figure, load_series

    run = fixture_path("findings", "overflow.jsonl")
    html = tmp_path / "r.html"
    assert main(["report", run, "-o", str(html)]) == 0
    page = html.read_text()
    assert page.index("<h2>Findings</h2>") < page.index("<h2>Charts</h2>") < \
        page.index("<h2>Summary</h2>")
    block = page[page.index('<div class="finding critical"'):]
    block = block[:block.index("</div>")]
    assert COLOURS["critical"] in block and ">CRITICAL<" in block
    assert '<b>accept_queue_overflow</b> <a href="#chart-listeners">127.0.0.1:7010</a>' in block
    assert "backlog 5 + 1" in block and "<b>Fix:</b> Accept faster" in block
    assert 'id="chart-listeners"' in page
    summary = page[page.index("<h2>Summary</h2>"):]
    assert "<th>Recorded</th>" in summary and "local time" in summary
    assert "ListenOverflows grew by" in summary and '"listen_overflows"' not in summary
    series = load_series(run)
    found = series.fold.summary()["findings"]
    (shade,) = build_figure(series, found).layout.shapes
    first = dt.datetime.fromtimestamp(found[0]["evidence"]["first_seen"])
    assert shade.yref.startswith("y3") and dt.datetime.fromisoformat(str(shade.x0)) < first


def test_a_run_without_findings_says_so_and_a_cut_line_is_noted(fixture_path, tmp_path):
    with open(fixture_path("findings", "keepalive.jsonl")) as f:
        lines = f.read().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][:100])
    html = tmp_path / "r.html"
    assert main(["report", str(cut), "-o", str(html)]) == 0
    page = html.read_text()
    assert "No findings: nothing socklife knows of went wrong" in page
    assert f"cut.jsonl:{len(lines) - 1}: the last line is cut short" in page
