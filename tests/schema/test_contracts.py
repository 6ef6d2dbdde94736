"""The sample contract against every producer (psutil's test_contracts.py, for JSON).

Each producer's real output is validated twice: by a standard JSON Schema validator
(jsonschema) against the schema shipped in the package, and by socklife's own reader
validator; both must accept it. Then each validator must reject the same output with
one field broken, so neither can pass everything.
"""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import urllib.error
from importlib import resources

import jsonschema
import pytest
from exporter_util import exporter, get_json
from load_util import finish, start_locust
from paths import ROOT
from sockets_util import wait_for

from harness.load.source import SCRIPT
from harness.schema import records
from harness.schema.generate import markdown, schema_text
from harness.schema.validate import ContractError, check_line, validate
from harness.schema.version import SCHEMA

SHIPPED = json.loads(resources.files("harness.schema").joinpath("sample.schema.json")
                     .read_text())
LINE = jsonschema.Draft202012Validator(SHIPPED)


def ref(name: str) -> jsonschema.Draft202012Validator:
    """A validator for one record of the shipped schema (``#/$defs/NAME``)."""
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}",
                                            "$defs": SHIPPED["$defs"]})


def both_accept(doc: dict) -> None:
    LINE.validate(doc)
    check_line(doc)


def both_reject(doc: dict) -> None:
    assert not LINE.is_valid(doc)
    with pytest.raises(ContractError):
        check_line(doc)


def test_shipped_schema_and_docs_are_generated_from_the_records():
    """`python -m harness.schema` output is what the repository holds."""
    assert (ROOT / "harness" / "schema" / "sample.schema.json").read_text() == schema_text()
    assert (ROOT / "docs" / "record-format.md").read_text() == markdown()
    jsonschema.Draft202012Validator.check_schema(SHIPPED)


@pytest.fixture
def sockets():
    """A listener with one established pair and one CLOSE_WAIT socket, on loopback."""
    lst = socket.create_server(("127.0.0.1", 0))
    port = lst.getsockname()[1]
    a = socket.create_connection(("127.0.0.1", port))
    b, _ = lst.accept()
    c = socket.create_connection(("127.0.0.1", port))
    d, _ = lst.accept()
    c.close()  # d goes CLOSE_WAIT
    yield port
    for s in (a, b, d, lst):
        s.close()


def run_cli(*args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_snapshot_json(sockets):
    out = run_cli("snapshot", "--json", "--port", str(sockets))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    both_accept(doc)
    assert doc["schema"] == SCHEMA and doc["states"]["CLOSE_WAIT"] == 1
    assert "sampler" not in doc  # a one-shot has no cost section


def test_record_lines_and_summary(sockets, tmp_path):
    path = tmp_path / "run.jsonl"
    out = run_cli("record", "-o", str(path), "--port", str(sockets), "--interval", "0.1",
                  "--duration", "0.5", "--leak-threshold", "0.2")
    assert out.returncode == 0, out.stderr
    *samples, last = [json.loads(line) for line in path.read_text().splitlines()]
    # five ticks in 0.5 s, less those a loaded machine made the loop skip
    assert len(samples) + last["summary"]["samples_missed"] == 5 and "summary" in last
    for doc in [*samples, last]:
        both_accept(doc)
    assert samples[-1]["sampler"]["rss_bytes"] > 0
    summary = last["summary"]
    assert summary["leaks"]["count"] == 1 and summary["sampler_rss_bytes"] > 0
    assert [f["id"] for f in summary["findings"]] == ["close_wait_accumulation"]
    broken = copy.deepcopy(last)
    broken["summary"]["findings"][0]["severity"] = "fatal"  # not a severity
    both_reject(broken)
    assert 0 <= summary["sampler_cpu_share"] < 2


def test_the_locust_sampler_child(sockets):
    proc = subprocess.Popen([sys.executable, "-P", SCRIPT, "--interval", "0.1", "--port",
                             str(sockets)], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=20)
    for line in [*lines, *rest.splitlines()]:
        both_accept(json.loads(line))
    assert proc.returncode == 0


def test_the_locust_plugin_recording(tmp_path):
    code, out = finish(start_locust("short_tcp.py", "--headless", "-u", "2", "-r", "2",
                                    "-t", "2s", "--socklife-interval", "0.5",
                                    "--socklife-record", "run.jsonl", cwd=tmp_path))
    assert code == 0, out
    docs = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    for doc in docs:
        both_accept(doc)
    assert "locust" in docs[0] and "host" in docs[0] and "hosts" in docs[-1]["summary"]


def test_the_exporter_api(sockets):
    """/api/v1/sample is a record line; /api/v1/samples a SamplesResponse of them; a bad
    query an ApiError."""
    with exporter("--port", str(sockets), "--leak-threshold", "0.2") as port:
        api = f"http://127.0.0.1:{port}/api/v1"
        doc = wait_for(lambda: (d := get_json(f"{api}/sample"))["leaks"]["count"] and d)
        both_accept(doc)
        assert doc["schema"] == SCHEMA and doc["states"]["CLOSE_WAIT"] == 1
        assert doc["sampler"]["rss_bytes"] > 0  # samples of a run carry their cost
        page = wait_for(lambda: len((d := get_json(f"{api}/samples"))["samples"]) > 2 and d)
        ref("SamplesResponse").validate(page)
        validate(page, records.SamplesResponse)
        for sample in page["samples"]:
            both_accept(sample)
        broken = copy.deepcopy(page)
        broken["samples"][1]["states"]["LISTEN"] = "1"
        assert not ref("SamplesResponse").is_valid(broken)
        with pytest.raises(ContractError):
            validate(broken, records.SamplesResponse)
        with pytest.raises(urllib.error.HTTPError) as bad:
            get_json(f"{api}/samples?after=later")
        assert bad.value.code == 400
        error = json.loads(bad.value.read())
    ref("ApiError").validate(error)
    validate(error, records.ApiError)


def test_doctor_json(sockets):
    out = run_cli("doctor", "--json", "--duration", "1")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    ref("DoctorReport").validate(doc)
    validate(doc, records.DoctorReport)
    assert {"port_range", "tw_reuse"} <= {f["id"] for f in doc["findings"]}


def test_check_json(fixture_path):
    out = run_cli("check", fixture_path("check", "leaky.jsonl"), "--max", "CLOSE_WAIT=0",
                  "--json")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    ref("CheckReport").validate(doc)
    validate(doc, records.CheckReport)
    assert doc["verdicts"][0]["rule"] == "CLOSE_WAIT=0" and doc["passed"] is False


@pytest.mark.parametrize("breakage", [
    ("states", "ESTABLISHED", "3"),              # a count as text
    ("listeners", 0, "backlog", True),           # a flag where a count goes
    ("time_wait", "expires_s", "p50", "soon"),
    ("ephemeral", "range", [1]),                 # a range of one
    ("sysctls", "tcp_tw_reuse", 1.5),
    ("surprise", 1),                             # an undeclared field
])
def test_both_validators_reject_a_broken_sample(sockets, breakage):
    out = run_cli("snapshot", "--json", "--port", str(sockets))
    doc = json.loads(out.stdout)
    broken = copy.deepcopy(doc)
    target = broken
    *path, last, value = breakage
    for key in path:
        target = target[key]
    target[last] = value
    both_reject(broken)


def test_a_summary_line_without_a_field_is_rejected():
    line = {"schema": SCHEMA, "summary": {"samples": 1}}
    both_reject(line)
