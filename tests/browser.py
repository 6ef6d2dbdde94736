"""Headless Chromium for page tests: the DOM after scripts ran, console errors, PNGs."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
HAVE_CHROMIUM = shutil.which(CHROMIUM) is not None


def _run(args: list[str], budget_ms: int) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="sl-chromium-") as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr",
             "--v=0", f"--virtual-time-budget={budget_ms}", *args],
            capture_output=True, text=True, timeout=120)


def dump_dom(url: str, budget_ms: int = 5000) -> tuple[str, list[str]]:
    """(the DOM after scripts ran, the page's console messages).

    Chromium's stderr log writes every console message as ``INFO:CONSOLE:<line>] "text"``
    whatever its level (console.error included), so all of them are returned: a clean
    page logs nothing. Uncaught exceptions arrive the same way ("Uncaught Error: ...").
    """
    done = _run(["--dump-dom", url], budget_ms)
    messages = [line for line in done.stderr.splitlines()
                if "Uncaught" in line or re.search(r":CONSOLE[:(]", line)]
    return done.stdout, messages


def screenshot(url: str, path: str, width: int = 1200, height: int = 1600,
               budget_ms: int = 5000) -> None:
    _run([f"--screenshot={path}", f"--window-size={width},{height}", url], budget_ms)


def inked_fraction(path: str, box: tuple[int, int, int, int]) -> float:
    """Share of pixels in ``box`` (left, top, right, bottom) that are not near-white."""
    from PIL import Image

    with Image.open(path) as img:
        region = img.convert("L").crop(box)
        histogram = region.histogram()  # 256 counts of grey levels
        return sum(histogram[:200]) / max(1, sum(histogram))


_BOXES = """<script>
window.addEventListener("load", () => {
  const out = [];
  document.querySelectorAll("svg.sequence").forEach((svg, i) => {
    const width = svg.viewBox.baseVal.width;
    svg.querySelectorAll("text").forEach(t => {
      const b = t.getBBox();
      out.push([i, t.getAttribute("class") || "", t.textContent, b.x, b.y, b.width, b.height,
                width]);
    });
  });
  const pre = document.createElement("pre");
  pre.id = "boxes";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def svg_text_boxes(html_path: str) -> list[list]:
    """[diagram index, class, text, x, y, width, height, svg width] of every text in
    every ``svg.sequence`` of a page, as Chromium lays them out (getBBox)."""
    import json
    import os

    copy = html_path + ".boxes.html"
    with open(html_path, encoding="utf-8") as f:
        page = f.read()
    with open(copy, "w", encoding="utf-8") as f:
        f.write(page.replace("</body>", _BOXES + "</body>"))
    try:
        dom, _ = dump_dom("file://" + os.path.abspath(copy))
    finally:
        os.unlink(copy)
    m = re.search(r'<pre id="boxes">(.*?)</pre>', dom, re.S)
    import html as _html

    return json.loads(_html.unescape(m.group(1))) if m else []


def layout_problems(boxes: list[list]) -> list[str]:
    """Texts outside their diagram, or overlapping another text of the same diagram."""
    problems = []
    for d, cls, text, x, _y, w, _h, width in boxes:
        if x < 0 or x + w > width + 0.5:
            problems.append(f"diagram {d}: {text!r} ({cls}) outside 0..{width}: {x:.0f}+{w:.0f}")
    by_diagram: dict[int, list] = {}
    for box in boxes:
        by_diagram.setdefault(box[0], []).append(box)
    for d, items in by_diagram.items():
        for i, a in enumerate(items):
            for b in items[i + 1:]:
                if (a[3] < b[3] + b[5] and b[3] < a[3] + a[5]
                        and a[4] < b[4] + b[6] - 1 and b[4] < a[4] + a[6] - 1):
                    problems.append(f"diagram {d}: {a[2]!r} overlaps {b[2]!r}")
    return problems
