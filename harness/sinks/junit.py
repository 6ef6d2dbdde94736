"""JUnit XML for CI systems: one testcase per rule, a failure element when it fails."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def write_junit(path: str, verdicts, suite: str = "socklife check") -> None:
    failures = sum(not v.passed for v in verdicts)
    root = ET.Element("testsuite", name=suite, tests=str(len(verdicts)),
                      failures=str(failures), errors="0")
    for v in verdicts:
        case = ET.SubElement(root, "testcase", classname="socklife.check",
                             name=f"{v.label} {v.rule.kind} {v.rule.limit:g}")
        if not v.passed:
            failure = ET.SubElement(case, "failure",
                                    message=f"observed {v.shown()}, limit {v.rule.limit:g}")
            failure.text = f"{v.label}: observed {v.shown()}, {v.rule.kind} {v.rule.limit:g}"
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
