"""The JUnit writer on hand-made summaries: valid against the schemas CI reads, failures
that name their offenders (the check command's own tests: tests/commands/test_check.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import xmlschema
from junit_util import schema, validate_junit

from harness.observe.thresholds import evaluate, parse_rule
from harness.sinks.junit import offenders, write_junit


def write(path, rules, summary):
    verdicts = evaluate([parse_rule(r) for r in rules], summary)
    write_junit(str(path), verdicts, summary, run_file="run.jsonl", started=1795400000.0,
                elapsed_s=0.25, times_s=[0.001] * len(verdicts))
    return ET.parse(path).getroot()


def test_a_passing_run_is_valid_and_has_no_failure(tmp_path):
    suite = write(tmp_path / "ok.xml", ["TIME_WAIT=10", "leaks=0"],
                  {"peaks": {"TIME_WAIT": 3}, "samples": 4})
    validate_junit(tmp_path / "ok.xml")
    assert suite.get("failures") == "0" and suite.get("time") == "0.250000"
    assert [c.get("time") for c in suite.iter("testcase")] == ["0.001000", "0.001000"]
    assert suite.find(".//failure") is None
    assert [e.tag for e in suite] == ["properties", "testcase", "testcase", "system-out",
                                      "system-err"]


def test_the_strict_schema_refuses_what_the_old_writer_wrote(tmp_path):
    """No timestamp, hostname or times: what `check --junit` wrote before. Jenkins's
    lenient schema takes it; Ant's does not, so the validation above has teeth."""
    old = tmp_path / "old.xml"
    old.write_text('<?xml version="1.0"?><testsuite name="socklife check" tests="1" '
                   'failures="1" errors="0"><testcase classname="socklife.check" '
                   'name="CLOSE_WAIT max 0"><failure message="observed 1, limit 0">x'
                   '</failure></testcase></testsuite>')
    schema("jenkins-junit.xsd").validate(str(old))
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema("ant-junit.xsd").validate(str(old))


def test_many_sockets_and_unknown_owners(tmp_path):
    held = [{"local": "127.0.0.1:80", "remote": f"127.0.0.1:{4000 + i}", "pid": 7,
             "process": "app", "fd": 10 + i, "age_s": 1.5} for i in range(6)]
    held.append({"local": "127.0.0.1:80", "remote": "127.0.0.1:5000", "pid": None,
                 "process": None, "fd": None, "age_s": None})
    summary = {"peaks": {"CLOSE_WAIT": 7}, "close_wait_settled_max": 7,
               "close_wait_held": held}
    lines = offenders("CLOSE_WAIT", summary)
    assert lines[0] == ("still in CLOSE_WAIT at the peak: app (pid 7) holds 6, "
                        "owner unknown holds 1")
    assert lines[1] == "  CLOSE_WAIT 127.0.0.1:80 -> 127.0.0.1:4000, 1.5 s, app (pid 7) fd 10"
    assert lines[-1] == "  ... and 2 more" and len(lines) == 7
    suite = write(tmp_path / "cw.xml", ["CLOSE_WAIT=0"], summary)
    validate_junit(tmp_path / "cw.xml")
    assert suite.find(".//failure").text.splitlines()[1:] == lines


def test_rules_without_an_offender_say_only_the_figure():
    summary = {"peaks": {"ESTABLISHED": 9}, "ephemeral_busiest": None}
    assert offenders("ESTABLISHED", summary) == []
    assert offenders("ephemeral_fraction", summary) == []  # an older summary line
    assert offenders("leaks", {"leaks": {"count": 1}}) == []
