"""The scenario report in headless Chromium: arrows and labels where the claim puts them.

A page holding one diagram at a known place (body margin 0) lets the test look at
pixels: the lost ACK's red cross between the host lines, the TIME_WAIT band on the line
of the side that holds it, SYN_RECV beside the server's line on the SYN's row.
"""

from __future__ import annotations

import re

import pytest
from browser import (
    HAVE_CHROMIUM,
    dump_dom,
    inked_fraction,
    layout_problems,
    screenshot,
    svg_text_boxes,
)

from harness.cli import main
from harness.report import sequence
from harness.report.scenario_report import render_html
from harness.scenarios.registry import by_name

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs chromium (Debian package)")]


def _alone(tmp_path, outcome, name):
    """A page with only this run's diagram, at (0, 0)."""
    run = outcome.run
    svg = sequence.render_svg(run.segments, run.transitions)
    page = tmp_path / f"{name}.html"
    page.write_text(f"<!DOCTYPE html><html><body style='margin:0'>{svg}</body></html>")
    return page, svg


def _row_of(svg: str, text: str) -> int:
    """The row (0-based) whose label contains ``text``."""
    for m in re.finditer(r'<text class="([^"]*)" x="[^"]*" y="([\d.]+)"[^>]*>([^<]*)<', svg):
        if text in m.group(3):
            return round((float(m.group(2)) - 4 - sequence.TOP) / sequence.ROW)
    raise AssertionError(f"no label {text!r}")


def _y(row: int) -> int:
    return sequence.TOP + row * sequence.ROW


def test_handshake_report_in_chromium(tmp_path, capsys):
    report = tmp_path / "scenarios.html"
    assert main(["scenario", "run", "handshake", "--control", "--report", str(report)]) == 0
    dom, errors = dump_dom(report.as_uri())
    assert errors == []
    labels = re.findall(r'class="segment-label"[^>]*>([^<]*)<', dom)
    assert labels[:3] == ["SYN seq=0", "SYN,ACK seq=0 ack=1", "ACK seq=1 ack=1"]
    assert "claim held; control failed as expected on: synack_ack_minus_syn_seq" in dom
    assert layout_problems(svg_text_boxes(str(report))) == []


def test_lost_ack_and_time_wait_drawn_where_they_happen(tmp_path):
    (scenario,) = by_name(["lost-final-ack"])
    outcome = scenario.run()
    assert outcome.passed, outcome.failures()
    page, svg = _alone(tmp_path, outcome, "lost")
    png = tmp_path / "lost.png"
    screenshot(page.as_uri(), str(png), width=sequence.WIDTH, height=1000)
    lost = _row_of(svg, "(lost)")
    tw = _row_of(svg, "TIME_WAIT, ")
    mid = sequence.LEFT + (sequence.RIGHT - sequence.LEFT) * 0.6
    # the red cross 60% of the way from the client, one row below its label
    cross = (int(mid) - 6, _y(lost) + 10, int(mid) + 6, _y(lost) + 26)
    assert inked_fraction(str(png), cross) > 0.1
    # nothing reaches the server's line on that row: the segment was lost
    assert inked_fraction(str(png), (sequence.RIGHT - 30, _y(lost) + 14,
                                     sequence.RIGHT - 3, _y(lost) + 26)) < 0.05
    # the TIME_WAIT band on the client's line, from its row down, none on the server's
    band = (sequence.LEFT - 4, _y(tw) + 4, sequence.LEFT + 4, _y(tw) + 60)
    assert inked_fraction(str(png), band) > 0.9
    assert inked_fraction(str(png), (sequence.RIGHT + 3, _y(tw) + 4, sequence.RIGHT + 6,
                                     _y(tw) + 60)) < 0.05
    assert tw > lost


def test_server_time_wait_band_and_syn_recv_at_the_syn(tmp_path):
    (scenario,) = by_name(["close-server-first"])
    outcome = scenario.run()
    assert outcome.passed, outcome.failures()
    page, svg = _alone(tmp_path, outcome, "server-first")
    png = tmp_path / "server-first.png"
    screenshot(page.as_uri(), str(png), width=sequence.WIDTH, height=900)
    syn, syn_recv = _row_of(svg, "SYN seq=0"), _row_of(svg, "SYN_RECV (request)")
    assert syn_recv == syn + 1  # right after the SYN, before the SYN+ACK
    assert _row_of(svg, "SYN,ACK") == syn_recv + 1
    tw = _row_of(svg, "TIME_WAIT, ")
    assert inked_fraction(str(png), (sequence.RIGHT - 4, _y(tw) + 4, sequence.RIGHT + 4,
                                     _y(tw) + 40)) > 0.9
    # the label sits right of the server's line, inside the picture
    assert inked_fraction(str(png), (sequence.RIGHT + 10, _y(tw) - 6, sequence.RIGHT + 150,
                                     _y(tw) + 6)) > 0.02


def test_interrupted_report_says_what_did_not_run():
    page = render_html([], interrupted=True, planned=["handshake", "isn"])
    assert "interrupted: 0 of 2 scenarios finished; not run: handshake, isn" in page
