"""The scenario report in headless Chromium: the handshake's three arrows and labels."""

from __future__ import annotations

import re

import pytest
from browser import HAVE_CHROMIUM, dump_dom, inked_fraction, screenshot

from harness.cli import main

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs chromium (Debian package)")]


def test_handshake_diagram_in_chromium(tmp_path, capsys):
    report = tmp_path / "scenarios.html"
    assert main(["scenario", "run", "handshake", "--report", str(report)]) == 0
    dom, errors = dump_dom(report.as_uri())
    assert errors == []
    labels = re.findall(r'class="segment-label"[^>]*>([^<]*)<', dom)
    assert labels[:3] == ["SYN seq=0", "SYN,ACK seq=0 ack=1", "ACK seq=1 ack=1"]
    assert dom.count('class="segment"') >= 3
    assert "ESTABLISHED" in dom and "PASS" in dom
    png = tmp_path / "scenarios.png"
    screenshot(report.as_uri(), str(png), width=1000, height=900)
    # The first three arrows sit between the two host lines, below the claim.
    assert inked_fraction(str(png), (200, 380, 520, 560)) > 0.01
