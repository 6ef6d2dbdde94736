"""`socklife check`: exit codes 0/1/2, baselines with tolerance, JUnit XML."""

from __future__ import annotations

import json
import os
import socket
import time
import xml.etree.ElementTree as ET

import pytest
from junit_util import validate_junit

from harness.cli import main


@pytest.fixture
def run_file(fixture_path):
    return lambda name: fixture_path("check", name)


def check(capsys, *args):
    capsys.readouterr()
    code = main(["check", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def table(out: str) -> list[str]:
    """The verdict table's rows (after the findings, before the last line)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("RULE "))
    return lines[start + 1:-1]


def test_rules_pass_and_fail(capsys, run_file):
    code, out, _ = check(capsys, run_file("leaky.jsonl"), "--max", "TIME_WAIT=1000",
                         "--max", "listen_overflows=10")
    assert code == 0 and "2/2 rules hold" in out
    code, out, _ = check(capsys, run_file("leaky.jsonl"), "--max", "CLOSE_WAIT=0",
                         "--max", "ephemeral_fraction=0.4", "--min", "ESTABLISHED=5",
                         "--max", "accept_queue_fill=0.99", "--max", "time_wait_peak=899")
    assert code == 1
    rows = {line.split()[0]: line for line in table(out)}
    assert rows["CLOSE_WAIT"].split()[1:] == ["1", "<=", "0", "FAIL"]
    assert rows["ESTABLISHED"].endswith("ok")
    failed = [line.split()[0] for line in table(out) if line.endswith("FAIL")]
    assert failed == ["CLOSE_WAIT", "ephemeral_fraction", "accept_queue_fill", "time_wait_peak"]
    assert out.splitlines()[-1] == "1/5 rules hold, 4 failed"
    assert max(map(len, out.splitlines())) <= 80


def test_killed_run_is_summarised_from_samples(capsys, run_file):
    """A CLOSE_WAIT seen in one sample only is a close about to happen, not a leak."""
    code, _, err = check(capsys, run_file("clean_killed.jsonl"), "--max", "CLOSE_WAIT=0",
                         "--max", "TIME_WAIT=80")
    assert code == 0 and "no summary line" in err and "4 samples" in err
    code, _, _ = check(capsys, run_file("clean_killed.jsonl"), "--max", "TIME_WAIT=79")
    assert code == 1


def test_killed_distributed_run(capsys, run_file):
    """Samples of two Locust hosts, interleaved: each host is folded on its own."""
    code, out, err = check(capsys, run_file("two_hosts_killed.jsonl"),
                           "--max", "listen_overflows=3", "--max", "CLOSE_WAIT=0")
    assert code == 1 and "no summary line" in err
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in table(out)}
    assert rows["total", "listen_overflows"] == ["3", "<=", "3", "ok"]
    assert rows["worker-a", "CLOSE_WAIT"] == ["1", "<=", "0", "FAIL"]
    assert rows["worker-b", "CLOSE_WAIT"] == ["0", "<=", "0", "ok"]
    assert rows["total", "CLOSE_WAIT"] == ["1", "<=", "0", "FAIL"]


def test_rules_per_host_in_a_distributed_recording(capsys, run_file):
    """HOST:NAME=N holds for that host; NAME=N for each host and the total, whose peak is
    that of the sum (TIME_WAIT 420 + 360), not the worst host's."""
    path = run_file("two_hosts_killed.jsonl")
    code, out, _ = check(capsys, path, "--max", "worker-b:CLOSE_WAIT=0", "--max",
                         "TIME_WAIT=500", "--json")
    report = json.loads(out)
    got = [(v["host"], v["rule"], v["observed"], v["passed"]) for v in report["verdicts"]]
    assert got == [("worker-b", "CLOSE_WAIT=0", 0, True),
                   ("worker-a", "TIME_WAIT=500", 420, True),
                   ("worker-b", "TIME_WAIT=500", 360, True),
                   ("total", "TIME_WAIT=500", 780, False)]
    assert code == 1
    code, _, _ = check(capsys, path, "--max", "total:TIME_WAIT=780")
    assert code == 0
    code, out, err = check(capsys, path, "--max", "nobody:CLOSE_WAIT=0")
    assert code == 2
    assert "no host 'nobody' in the recording (its hosts: worker-a, worker-b, total)" in err
    code, _, err = check(capsys, run_file("leaky.jsonl"), "--max", "server:CLOSE_WAIT=0")
    assert code == 2 and "the recording has no hosts" in err


@pytest.mark.parametrize("args, needle", [
    (["nope.jsonl", "--max", "TIME_WAIT=1"], "no such file"),
    (["{corrupt}", "--max", "TIME_WAIT=1"], ":2: not a JSON line"),
    (["{leaky}", "--max", "BOGUS=1"], "unknown name 'BOGUS'"),
    (["{leaky}", "--max", "TIME_WAIT=lots"], "bad number"),
    (["{leaky}", "--max", "TIME_WAIT"], "NAME=N, got 'TIME_WAIT'"),
    (["{leaky}"], "nothing to check"),
    (["{leaky}", "--baseline", "{corrupt}"], "not a baseline"),
    (["{leaky}", "--max", "TIME_WAIT=1", "--tolerance", "x%"], "bad --tolerance"),
    (["{wrong}", "--max", "TIME_WAIT=1"],
     ":2: states.ESTABLISHED: expected an integer, got a string"),
    (["{fixtures}", "--max", "TIME_WAIT=1"], "is a folder"),
    (["{leaky}", "--save-baseline", "/nonexistent/base.json"], "cannot write"),
    (["{leaky}", "--max", "TIME_WAIT=1", "--junit", "/nonexistent/check.xml"],
     "cannot write"),
])
def test_bad_input_exit_2(capsys, run_file, args, needle):
    names = {"corrupt": run_file("corrupt.jsonl"), "leaky": run_file("leaky.jsonl"),
             "wrong": run_file("wrong_types.jsonl"), "fixtures": run_file("")}
    args = [a.format(**names) for a in args]
    code, _, err = check(capsys, *args)
    assert code == 2 and needle in err and err.count("\n") == 1, err


def test_empty_file_is_bad_input(capsys, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"summary": {"samples": 0}}) + "\n")
    code, _, err = check(capsys, str(empty), "--max", "TIME_WAIT=1")
    assert code == 2 and "no samples" in err


def test_baseline_round_trip_with_tolerance(capsys, run_file, tmp_path):
    base = tmp_path / "base.json"
    code, out, _ = check(capsys, run_file("clean_killed.jsonl"), "--save-baseline", str(base))
    assert code == 0 and base.exists()
    # Same run against itself: passes.
    code, _, _ = check(capsys, run_file("clean_killed.jsonl"), "--baseline", str(base))
    assert code == 0
    # The leaky run regresses: TIME_WAIT 900 vs 80 (limit 88), a leak, overflows.
    code, out, _ = check(capsys, run_file("leaky.jsonl"), "--baseline", str(base))
    assert code == 1
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in table(out)}
    assert rows["baseline", "TIME_WAIT"] == ["900", "<=", "88", "FAIL"]
    assert rows["baseline", "leaks"] == ["1", "<=", "0", "FAIL"]
    assert rows["baseline", "listen_overflows"] == ["8", "<=", "1", "FAIL"]
    assert rows["baseline", "LISTEN"] == ["1", "<=", "2", "ok"]
    assert ("baseline", "SYN_SENT") not in rows  # 0 in the baseline: not compared
    # A generous tolerance lets TIME_WAIT through but not overflows from zero.
    code, out, _ = check(capsys, run_file("leaky.jsonl"), "--baseline", str(base),
                         "--tolerance", "1200%")
    failed = [line for line in out.splitlines() if line.endswith("FAIL")]
    assert code == 1 and not any(line.startswith("baseline TIME_WAIT ") for line in failed)


def junit_cases(path) -> tuple[ET.Element, dict[str, ET.Element]]:
    """The testsuite of a JUnit file written by check, valid against both schemas."""
    validate_junit(path)
    suite = ET.parse(path).getroot()
    return suite, {c.get("name"): c for c in suite.findall("testcase")}


def test_junit_xml(capsys, run_file, tmp_path):
    xml = tmp_path / "check.xml"
    before = time.time()
    code, _, _ = check(capsys, run_file("leaky.jsonl"), "--max", "CLOSE_WAIT=0",
                       "--max", "TIME_WAIT=1000", "--junit", str(xml))
    assert code == 1
    suite, cases = junit_cases(xml)
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "1"
    assert suite.get("hostname") == socket.gethostname()
    stamp = time.mktime(time.strptime(suite.get("timestamp"), "%Y-%m-%dT%H:%M:%S"))
    assert before - 1 <= stamp <= time.time()  # local time, no zone: Ant's form
    assert 0 < float(suite.get("time")) < 60
    assert all(0 <= float(c.get("time")) <= float(suite.get("time")) for c in cases.values())
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props == {"run_file": run_file("leaky.jsonl"), "run_started": "2026-11-23T02:13:20Z",
                     "run_ended": "2026-11-23T02:14:00Z", "run_duration_s": "40.0",
                     "samples": "3"}
    failure = cases["CLOSE_WAIT max 0"].find("failure")
    assert failure is not None and failure.get("message") == "observed 1, limit 0"
    assert failure.get("type") == "threshold"
    # The socket still there at the peak: the process that holds it, its fd and age.
    assert failure.text.splitlines() == [
        "CLOSE_WAIT: observed 1, max 0",
        "still in CLOSE_WAIT at the peak: python3 (pid 4242) holds 1",
        "  CLOSE_WAIT 127.0.0.1:7000 -> 127.0.0.1:40000, 40 s, python3 (pid 4242) fd 7"]
    assert cases["TIME_WAIT max 1000"].find("failure") is None
    code, _, _ = check(capsys, run_file("leaky.jsonl"), "--max", "leaks=0", "--junit", str(xml))
    _suite, cases = junit_cases(xml)  # the summary line's leaked socket
    assert cases["leaks max 0"].find("failure").text.splitlines()[1:] == [
        "leaked: python3 (pid 4242) holds 1",
        "  CLOSE_WAIT 127.0.0.1:7000 -> 127.0.0.1:40000, 40 s, python3 (pid 4242) fd 7"]


def test_junit_failures_name_listener_process_and_destination(capsys, run_file, tmp_path):
    """A run killed before its summary: the summary folded from its samples names the
    fullest listener, the busiest destination and the CLOSE_WAIT sockets' owner."""
    killed = tmp_path / "killed.jsonl"
    with open(run_file("leaky.jsonl")) as f:
        killed.write_text("".join(f.readlines()[:3]))
    xml = tmp_path / "check.xml"
    code, _, _ = check(capsys, str(killed), "--max", "CLOSE_WAIT=0", "--max", "leaks=0",
                       "--max", "accept_queue_fill=0.5", "--max", "listen_overflows=0",
                       "--max", "ephemeral_fraction=0.1", "--max", "time_wait_peak=100",
                       "--max", "ESTABLISHED=1", "--junit", str(xml))
    assert code == 1
    suite, cases = junit_cases(xml)
    assert suite.get("failures") == "7"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["run_started"] == "2026-11-23T02:13:20Z" and props["run_duration_s"] == "40.0"

    def text(name):
        return cases[name].find("failure").text.splitlines()

    held = "  CLOSE_WAIT 127.0.0.1:7000 -> 127.0.0.1:40000, 40 s, python3 (pid 4242) fd 7"
    assert text("CLOSE_WAIT max 0")[1:] == [
        "still in CLOSE_WAIT at the peak: python3 (pid 4242) holds 1", held]
    assert text("leaks max 0")[1:] == ["leaked: python3 (pid 4242) holds 1", held]
    listener = ["listeners whose accept queue was full: 127.0.0.1:7000",
                "fullest listener 127.0.0.1:7000, python3 (pid 4242): accept queue at 100% "
                "of backlog + 1"]
    assert text("accept_queue_fill max 0.5")[1:] == listener
    assert text("listen_overflows max 0")[1:] == listener
    busiest = ["busiest destination 127.0.0.1:7000: 14116 ephemeral ports in use, 50.0% of "
               "the range"]
    assert text("ephemeral_fraction max 0.1")[1:] == busiest
    assert text("time_wait_peak max 100")[1:] == busiest
    assert text("ESTABLISHED max 1") == ["ESTABLISHED: observed 5, max 1"]  # nobody to name


@pytest.mark.live
def test_check_a_real_recorded_run(tmp_path, capsys):
    """record a short run with a CLOSE_WAIT leak held open, then check it."""
    import socket
    import subprocess
    import sys

    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    port = lst.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    leaked, _ = lst.accept()
    client.close()  # the server side never closes: CLOSE_WAIT for the whole run
    run = tmp_path / "run.jsonl"
    try:
        subprocess.run([sys.executable, "-m", "harness", "record", "-o", str(run),
                        "--port", str(port), "--interval", "0.2", "--duration", "2"],
                       check=True, capture_output=True, timeout=60)
    finally:
        leaked.close()
        lst.close()
    lines = run.read_text().splitlines()
    assert len(lines) >= 5 and '"summary"' in lines[-1]
    xml = tmp_path / "check.xml"
    code, out, _ = check(capsys, str(run), "--max", "CLOSE_WAIT=0", "--max", "LISTEN=1",
                         "--junit", str(xml))
    assert code == 1
    rows = {line.split()[0]: line.split() for line in table(out)}
    assert rows["CLOSE_WAIT"][1:] == ["1", "<=", "0", "FAIL"]
    assert rows["LISTEN"][-1] == "ok"
    _suite, cases = junit_cases(xml)
    failure = cases["CLOSE_WAIT max 0"].find("failure").text
    assert f" (pid {os.getpid()}) holds 1" in failure  # this process never closed it
    assert f"127.0.0.1:{port} -> 127.0.0.1:" in failure


# --- findings --------------------------------------------------------------------------

@pytest.fixture
def recorded():
    """A real recorded run of tests/fixtures/findings (see its record.py)."""
    from paths import FIXTURES

    return lambda name: str(FIXTURES / "findings" / name)


def test_findings_come_first_then_the_verdicts(capsys, recorded):
    code, out, _ = check(capsys, recorded("overflow.jsonl"), "--max", "LISTEN=1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "findings: 1 critical"
    assert lines[1].split() == ["CRITICAL", "accept_queue_overflow", "127.0.0.1:7010"]
    assert any(line.lstrip().startswith("fix: Accept faster") for line in lines)
    assert lines.index(next(x for x in lines if x.startswith("RULE "))) > 3
    assert lines[-1] == "1/1 rules hold"
    assert max(map(len, lines)) <= 80


@pytest.mark.parametrize("name, fail_on, code, last", [
    ("overflow.jsonl", "critical", 1, "1 finding at or above critical"),
    ("close_wait_held.jsonl", "critical", 0, "no finding at or above critical"),
    ("close_wait_held.jsonl", "warning", 1, "1 finding at or above warning"),
    ("churn.jsonl", "warning", 0, "no finding at or above warning"),  # info only
    ("keepalive.jsonl", "warning", 0, "no finding at or above warning"),
])
def test_fail_on(capsys, recorded, name, fail_on, code, last):
    got, out, _ = check(capsys, recorded(name), "--fail-on", fail_on)
    assert got == code and out.splitlines()[-1] == last, out


def test_fail_on_beside_rules_and_bad_severity(capsys, recorded):
    code, out, _ = check(capsys, recorded("ports.jsonl"), "--max", "LISTEN=1",
                         "--fail-on", "warning")
    assert code == 1 and out.splitlines()[-1] == ("1/1 rules hold; 2 findings at or above "
                                                  "warning")
    code, _, err = check(capsys, recorded("ports.jsonl"), "--fail-on", "info")
    assert code == 2 and err.count("\n") == 1 and "'info' is not one of" in err


def test_json_carries_the_findings(capsys, recorded):
    code, out, _ = check(capsys, recorded("server_first.jsonl"), "--fail-on", "critical",
                         "--json")
    doc = json.loads(out)
    assert code == 1 and doc["passed"] is False and doc["fail_on"] == "critical"
    assert [f["id"] for f in doc["findings"]] == ["time_wait_bucket_overflow",
                                                  "server_time_wait"]
    code, out, _ = check(capsys, recorded("churn.jsonl"), "--fail-on", "warning", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["passed"] and doc["verdicts"] == []
    assert [f["severity"] for f in doc["findings"]] == ["info"]


def test_junit_has_a_testcase_per_failing_finding(capsys, recorded, tmp_path):
    xml = tmp_path / "check.xml"
    code, _, _ = check(capsys, recorded("ports.jsonl"), "--max", "LISTEN=1",
                       "--fail-on", "critical", "--junit", str(xml))
    assert code == 1
    suite, _cases = junit_cases(xml)  # valid against Jenkins's and Ant's strict schemas
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    (finding,) = [c for c in suite.findall("testcase") if c.get("classname") == "socklife.findings"]
    assert finding.get("name") == "ephemeral_exhaustion 127.0.0.1:7030"
    failure = finding.find("failure")
    assert failure.get("type") == "finding critical"
    assert "ran out of local ports" in failure.get("message")
    assert "fix: Reuse connections" in failure.text
    check(capsys, recorded("ports.jsonl"), "--max", "LISTEN=1", "--junit", str(xml))
    assert ET.parse(xml).getroot().get("tests") == "1"  # no --fail-on: findings are context


def test_broken_lines_still_give_the_findings_then_one_line(capsys, run_file):
    code, out, err = check(capsys, run_file("wrong_types.jsonl"), "--max", "TIME_WAIT=1")
    assert code == 2 and out.startswith("findings: ") and err.count("\n") == 1
    assert ":2: states.ESTABLISHED: expected an integer, got a string" in err


def test_a_cut_last_line_is_left_out_with_a_note(capsys, recorded, tmp_path):
    with open(recorded("overflow.jsonl")) as f:
        lines = f.read().splitlines()
    cut = tmp_path / "killed.jsonl"
    cut.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][:200])  # no summary, half a line
    code, out, err = check(capsys, str(cut), "--fail-on", "critical")
    assert code == 1 and "CRITICAL accept_queue_overflow" in out
    notes = err.splitlines()
    assert len(notes) == 2 and f"killed.jsonl:{len(lines) - 1}: the last line" in notes[0]
    assert "cut short" in notes[0] and "no summary line" in notes[1]
