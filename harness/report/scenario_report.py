"""The scenario report: one self-contained HTML page, a section per scenario with its
claim, its sequence diagram (inline SVG, no script), the checks and the verdict."""

from __future__ import annotations

import json
import os
import tempfile
from html import escape

from harness.report.sequence import render_svg

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 900px; color: #222; }
section { border-top: 1px solid #ddd; padding: 1em 0; }
.pass { color: #1e8449; } .fail { color: #c0392b; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
pre { background: #f7f7f7; padding: 8px; font-size: 12px; overflow-x: auto; }
"""


def _section(o) -> str:
    verdict = "PASS" if o.passed else "FAIL"
    cls = "pass" if o.passed else "fail"
    rows = "".join(
        f"<tr><td>{escape(c.key)}</td><td>{escape(c.expect.describe())}</td>"
        f"<td>{escape(json.dumps(c.observed, default=str))}</td>"
        f"<td class={'pass' if c.passed else 'fail'}>{'ok' if c.passed else 'FAIL'}</td></tr>"
        for c in o.checks
    )
    hosts = o.run.hosts
    names = tuple(f"{role} {hosts.get(role, '')}".strip() for role in ("client", "server"))
    diagram = (render_svg(o.run.segments, o.run.transitions, names)
               if o.run.segments or o.run.transitions else "<p>(no segments captured)</p>")
    notes = "".join(f"<li>{escape(n)}</li>" for n in o.run.notes)
    error = f"<p class=fail>error: {escape(o.error)}</p>" if o.error else ""
    evidence = escape(json.dumps(o.run.evidence, indent=1, default=str))
    return (
        f'<section id="{escape(o.name)}"><h2>{o.number}. {escape(o.name)} '
        f'<span class="{cls}">{verdict}</span></h2><p>{escape(o.claim)}</p>{error}'
        f'<div class="diagram">{diagram}</div>'
        f"<table><tr><th>check</th><th>expected</th><th>observed</th><th></th></tr>{rows}</table>"
        f"<ul>{notes}</ul><details><summary>evidence</summary><pre>{evidence}</pre></details>"
        f"</section>"
    )


def render_html(outcomes) -> str:
    passed = sum(o.passed for o in outcomes)
    body = "".join(_section(o) for o in outcomes)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>socklife scenarios</title>"
        f"<style>{STYLE}</style></head><body><h1>TCP lifecycle on this kernel</h1>"
        f"<p>{passed}/{len(outcomes)} scenarios passed.</p>{body}</body></html>"
    )


def write_report(outcomes, path: str) -> None:
    """Write atomically: a reader never sees a half-written report."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".socklife-", suffix=".html")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(render_html(outcomes))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
