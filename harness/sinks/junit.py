"""JUnit XML for CI systems: one testcase per rule, a failure naming what broke it.

The file follows the Ant JUnit schema that Jenkins and GitLab read (and validates
against its strict form, windyroad's JUnit.xsd, as well as Jenkins's): a ``testsuite``
with ``timestamp`` (local time, no zone, as Ant writes it), ``hostname`` and ``time``
(the seconds ``check`` took), ``properties`` naming the run that was judged, one
``testcase`` per rule with its own ``time``, and ``system-out``/``system-err``. A failed
rule's failure text names the listener, the process or the destination behind the
figure, from what the run summary holds (thresholds.RunSummary). Each finding that fails
the check (``check --fail-on``) is a failed testcase of its own (classname
``socklife.findings``, named ``<id> <subject>``): its sentence is the message, its fix
in the text.
"""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET
from collections import Counter

from harness.sinks.outputs import write_whole

CLASSNAME = "socklife.check"
FINDINGS_CLASSNAME = "socklife.findings"
SHOWN_SOCKETS = 5


def _owner(row: dict) -> str:
    if row.get("pid") is None:
        return "owner unknown"
    return f"{row.get('process') or '?'} (pid {row['pid']})"


def _close_wait(rows: list[dict], what: str) -> list[str]:
    by_owner = Counter(_owner(r) for r in rows)
    lines = [f"{what}: " + ", ".join(f"{owner} holds {n}" for owner, n in by_owner.items())]
    for r in rows[:SHOWN_SOCKETS]:
        age = "" if r.get("age_s") is None else f", {r['age_s']:g} s"
        fd = "" if r.get("fd") is None else f" fd {r['fd']}"
        lines.append(f"  CLOSE_WAIT {r['local']} -> {r['remote']}{age}, {_owner(r)}{fd}")
    if len(rows) > SHOWN_SOCKETS:
        lines.append(f"  ... and {len(rows) - SHOWN_SOCKETS} more")
    return lines


def _listeners(summary: dict) -> list[str]:
    lines = []
    full = summary.get("listeners_ever_full") or []
    if full:
        lines.append("listeners whose accept queue was full: " + ", ".join(full))
    top = summary.get("accept_queue_fullest")
    if top:
        lines.append(f"fullest listener {top['local']}, {_owner(top)}: accept queue at "
                     f"{top['fill']:.0%} of backlog + 1")
    return lines


def _destination(summary: dict) -> list[str]:
    top = summary.get("ephemeral_busiest")
    if not top:
        return []
    return [f"busiest destination {top['remote']}: {top['in_use']} ephemeral ports in use, "
            f"{top['fraction']:.1%} of the range"]


def offenders(name: str, summary: dict) -> list[str]:
    """Lines naming what is behind rule ``name``'s figure in ``summary``: CLOSE_WAIT
    sockets and the processes holding them, the listeners that filled, the busiest
    destination; [] where the summary names nothing (an ESTABLISHED peak)."""
    leaked = (summary.get("leaks") or {}).get("sockets") or []
    held = summary.get("close_wait_held") or []
    if name == "leaks" and (leaked or held):
        return _close_wait(leaked, "leaked") if leaked else _close_wait(
            held, "still in CLOSE_WAIT at the peak")
    if name == "CLOSE_WAIT" and (held or leaked):
        return _close_wait(held, "still in CLOSE_WAIT at the peak") if held else _close_wait(
            leaked, "leaked")
    if name in ("listen_overflows", "accept_queue_fill"):
        return _listeners(summary)
    if name in ("ephemeral_fraction", "eaddrnotavail", "TIME_WAIT", "time_wait_peak"):
        return _destination(summary)
    return []


def _local_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


def _utc(epoch: float | None) -> str:
    return "" if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def write_junit(path: str, verdicts, summary: dict, *, run_file: str, started: float,
                elapsed_s: float, times_s, findings=(), suite: str = "socklife check") -> None:
    """Write ``verdicts`` (thresholds.Verdict) over ``summary`` as JUnit XML, and one
    failed testcase per finding of ``findings`` (those that fail the check).

    ``started``/``elapsed_s``: when ``check`` began (epoch) and the seconds it took;
    ``times_s``: the seconds each verdict took to judge, in order.
    """
    failures = sum(not v.passed for v in verdicts) + len(findings)
    root = ET.Element("testsuite", name=suite, tests=str(len(verdicts) + len(findings)),
                      failures=str(failures), errors="0", skipped="0",
                      time=f"{elapsed_s:.6f}", timestamp=_local_time(started),
                      hostname=socket.gethostname() or "localhost")
    props = ET.SubElement(root, "properties")
    hosts = summary.get("hosts") or {}
    for key, value in (("run_file", run_file), ("run_started", _utc(summary.get("started"))),
                       ("run_ended", _utc(summary.get("ended"))),
                       ("run_duration_s", summary.get("duration_s")),
                       ("samples", summary.get("samples")),
                       ("sampling_hosts", ", ".join(hosts))):
        if value not in (None, ""):
            ET.SubElement(props, "property", name=key, value=str(value))
    for v, seconds in zip(verdicts, times_s, strict=True):
        case = ET.SubElement(root, "testcase", classname=CLASSNAME,
                             name=f"{v.label} {v.rule.kind} {v.rule.limit:g}",
                             time=f"{seconds:.6f}")
        if not v.passed:
            failure = ET.SubElement(case, "failure", type="threshold",
                                    message=f"observed {v.shown()}, limit {v.rule.limit:g}")
            lines = [f"{v.label}: observed {v.shown()}, {v.rule.kind} {v.rule.limit:g}",
                     *offenders(v.rule.name, summary)]
            failure.text = "\n".join(lines) + "\n"
    for f in findings:  # computed with the run as it was read: no time of their own
        host = f" on {f['host']}" if f.get("host") else ""
        case = ET.SubElement(root, "testcase", classname=FINDINGS_CLASSNAME,
                             name=f"{f['id']} {f['subject']}{host}", time="0.000000")
        failure = ET.SubElement(case, "failure", type=f"finding {f['severity']}",
                                message=f["summary"])
        failure.text = f"{f['severity']}: {f['summary']}\nfix: {f['fix']}\n"
    ET.SubElement(root, "system-out")
    ET.SubElement(root, "system-err")
    ET.indent(root)
    with write_whole(path, binary=True) as f:
        ET.ElementTree(root).write(f, encoding="utf-8", xml_declaration=True)
