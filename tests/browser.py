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
