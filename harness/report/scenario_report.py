"""The scenario report: one self-contained HTML page, a section per scenario with its
claim, its sequence diagram (inline SVG, no script), the checks, the verdict and, when
it ran, the negative control: what it changed, which checks caught it, its diagram."""

from __future__ import annotations

import json
from html import escape

from harness.report.sequence import render_svg
from harness.sinks.outputs import write_text

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 900px; color: #222; }
section { border-top: 1px solid #ddd; padding: 1em 0; }
.pass { color: #1e8449; } .fail { color: #c0392b; }
.interrupted { background: #fdebd0; padding: 6px 10px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
pre { background: #f7f7f7; padding: 8px; font-size: 12px; overflow-x: auto; }
.diagram { overflow-x: auto; }
"""


def _diagram(run) -> str:
    hosts = run.hosts
    names = tuple(f"{role} {hosts.get(role, '')}".strip() for role in ("client", "server"))
    if run.segments or run.transitions:
        return f'<div class="diagram">{render_svg(run.segments, run.transitions, names)}</div>'
    return "<p>(no segments captured)</p>"


def _checks(checks) -> str:
    rows = "".join(
        f"<tr><td>{escape(c.key)}</td><td>{escape(c.expect.describe())}</td>"
        f"<td>{escape(json.dumps(c.observed, default=str))}</td>"
        f"<td class={'pass' if c.passed else 'fail'}>{'ok' if c.passed else 'FAIL'}</td></tr>"
        for c in checks
    )
    head = "<tr><th>check</th><th>expected</th><th>observed</th><th></th></tr>"
    return f"<table>{head}{rows}</table>"


def _control(o) -> str:
    ctl = o.control
    if ctl is None:
        return ""
    cls = "pass" if ctl.failed_as_expected else "fail"
    error = (f"<p class=fail>control error: {escape(ctl.outcome.error)}</p>"
             if ctl.outcome.error else "")
    return (f'<details class="control"><summary>negative control: {escape(ctl.what)} '
            f'<span class="{cls}">{escape(ctl.verdict())}</span></summary>{error}'
            f"{_diagram(ctl.outcome.run)}{_checks(ctl.outcome.checks)}</details>")


def _section(o) -> str:
    verdict = "PASS" if o.ok else "FAIL"
    cls = "pass" if o.ok else "fail"
    notes = "".join(f"<li>{escape(n)}</li>" for n in o.run.notes)
    error = f"<p class=fail>error: {escape(o.error)}</p>" if o.error else ""
    evidence = escape(json.dumps(o.run.evidence, indent=1, default=str))
    return (
        f'<section id="{escape(o.name)}"><h2>{o.number}. {escape(o.name)} '
        f'<span class="{cls}">{verdict}</span></h2><p>{escape(o.claim)}</p>'
        f'<p class="verdict {cls}">{escape(o.verdict())}</p>{error}'
        f"{_diagram(o.run)}{_checks(o.checks)}"
        f"<ul>{notes}</ul>{_control(o)}"
        f"<details><summary>evidence</summary><pre>{evidence}</pre></details>"
        f"</section>"
    )


def render_html(outcomes, interrupted: bool = False, planned: list[str] | None = None) -> str:
    passed = sum(o.ok for o in outcomes)
    head = f"<p>{passed}/{len(outcomes)} scenarios passed"
    if any(o.control is not None for o in outcomes):
        caught = sum(1 for o in outcomes if o.control and o.control.failed_as_expected)
        head += f"; {caught}/{len(outcomes)} controls failed as expected"
    head += ".</p>"
    if interrupted:
        done = {o.name for o in outcomes}
        missing = [n for n in (planned or []) if n not in done]
        head += (f'<p class="interrupted">interrupted: {len(outcomes)} of '
                 f"{len(planned or outcomes)} scenarios finished"
                 + (f"; not run: {escape(', '.join(missing))}" if missing else "") + "</p>")
    body = "".join(_section(o) for o in outcomes)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>socklife scenarios</title>"
        f"<style>{STYLE}</style></head><body><h1>TCP lifecycle on this kernel</h1>"
        f"{head}{body}</body></html>"
    )


def write_report(outcomes, path: str, interrupted: bool = False,
                 planned: list[str] | None = None) -> None:
    """Write through harness.sinks.outputs: a reader never sees a half-written report,
    and a device or FIFO is written to, never replaced."""
    write_text(path, render_html(outcomes, interrupted, planned))
