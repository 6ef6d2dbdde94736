"""The exporter's JSON answers from its ring of samples (recorded samples, no server)."""

from __future__ import annotations

import json

import pytest

from harness.schema import records
from harness.schema.validate import validate
from harness.schema.version import SCHEMA
from harness.sinks.jsonl import encode
from harness.sinks.sample_api import SampleRing, after_of


def body_of(answer) -> bytes:
    return answer.body if isinstance(answer.body, bytes) else b"".join(answer.body)


@pytest.fixture
def recorded(fixture_path):
    """The samples of a recorded Locust run (record lines made before lines carried the
    schema: given it here; summary left out)."""
    with open(fixture_path("report", "locust_run.jsonl")) as f:
        return [{"schema": SCHEMA, **doc} for doc in map(json.loads, f) if "states" in doc]


def test_the_latest_sample_is_its_record_line(recorded):
    ring = SampleRing(3)
    assert ring.sample("", {}).status == 503  # nothing to answer yet
    for s in recorded:
        ring.add(s)
    answer = ring.sample("", {})
    assert answer.status == 200 and answer.content_type == "application/json"
    assert answer.body == encode(recorded[-1]).encode()


def test_samples_after_a_time_oldest_first_and_bounded(recorded):
    assert len(recorded) > 4
    ring = SampleRing(4)
    for s in recorded:
        ring.add(s)
    kept = recorded[-4:]
    doc = json.loads(body_of(ring.samples("", {})))  # no after: every one kept
    validate(doc, records.SamplesResponse)
    assert doc == {"schema": SCHEMA, "samples": kept}
    after = kept[1]["time"]
    doc = json.loads(body_of(ring.samples(f"after={after!r}", {})))
    assert doc["samples"] == kept[2:]
    assert json.loads(body_of(ring.samples(f"after={kept[-1]['time']}", {})))["samples"] == []
    assert json.loads(body_of(ring.samples("after=0", {})))["samples"] == kept


def test_the_ring_keeps_no_more_than_its_bytes_but_always_the_newest(recorded):
    size = len(encode(recorded[0]))
    ring = SampleRing(100, max_bytes=3 * size)
    for s in recorded:
        ring.add(s)
    assert 1 <= len(ring) <= 3
    assert json.loads(body_of(ring.samples("", {})))["samples"][-1] == recorded[-1]
    tiny = SampleRing(100, max_bytes=1)
    for s in recorded:
        tiny.add(s)
    assert len(tiny) == 1 and tiny.sample("", {}).body == encode(recorded[-1]).encode()


@pytest.mark.parametrize("query, needle", [
    ("after=", "is not a number"),
    ("after=soon", "is not a number"),
    ("after=nan", "is not a number"),
    ("after=inf", "is not a number"),
    ("after=1&after=2", "more than once"),
    ("since=1", "unknown parameter 'since'"),
    ("after", "cannot read the query"),
])
def test_a_bad_query_is_a_400_on_one_line(query, needle):
    answer = SampleRing(2).samples(query, {})
    assert answer.status == 400 and answer.body.count(b"\n") == 1
    doc = json.loads(answer.body)
    validate(doc, records.ApiError)
    assert needle in doc["error"]


def test_after_reads_a_unix_time():
    assert after_of("after=1796172357.929") == 1796172357.929
    assert after_of("after=-1") == -1.0
    assert after_of("") == float("-inf")
