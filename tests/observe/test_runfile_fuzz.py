"""The readers on generated and mutated run files (hypothesis): load_run, the report's
series builder and `socklife check` read a run or answer one line naming the file and
line (exit 2), whatever the bytes; never another exception, never exit 1 for bad input.

Inputs: real lines (tests/fixtures/observe/recorded_run.jsonl, recorded here with
`socklife record --port 7411 --port 7412 --interval 0.5 --duration 2 --leak-threshold
0.5` against a never-close and an echo server; the hand-written runs of check/ and
report/) mutated field by field (a value swapped for another type, another value of its
type, deleted, an unknown field added), files cut at any byte, and samples generated
from the contract's own declarations (harness.schema.shape), valid by construction.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json

import pytest
from fuzz_util import JSON, fuzz
from hypothesis import given
from hypothesis import strategies as st
from paths import FIXTURES

from harness.cli import main
from harness.observe.runfile import RunFileError, load_run
from harness.report.run_report import _leak_table, load_series
from harness.schema.records import Sample
from harness.schema.shape import fields
from harness.schema.version import SCHEMA

pytestmark = pytest.mark.fuzz

RUNS = [FIXTURES / "observe" / "recorded_run.jsonl", FIXTURES / "report" / "locust_run.jsonl",
        *(FIXTURES / "check" / f"{name}.jsonl"
          for name in ("clean_killed", "leaky", "two_hosts_killed"))]
LINES = [json.loads(line) for path in RUNS for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def run_path(tmp_path_factory) -> str:
    """One file, rewritten by each example."""
    return str(tmp_path_factory.mktemp("fuzz") / "run.jsonl")


def _same_type(draw, value):
    """Another value of ``value``'s JSON type (the awkward ones included)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return draw(st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 2**63])))
    if isinstance(value, float):
        return draw(st.floats(allow_nan=False, allow_infinity=False))
    if isinstance(value, str):
        return draw(st.text(max_size=20))
    if isinstance(value, list):
        return draw(st.sampled_from([[], value * 2, value[:1]]))
    if isinstance(value, dict):
        return {}
    return draw(JSON)


@st.composite
def mutated_line(draw):
    doc = copy.deepcopy(draw(st.sampled_from(LINES)))
    for _ in range(draw(st.integers(0, 3))):
        node, key = doc, None
        while True:  # walk down to a field
            keys = sorted(node) if isinstance(node, dict) else range(len(node))
            if not keys:
                break
            key = draw(st.sampled_from(list(keys)))
            child = node[key]
            if not isinstance(child, dict | list) or draw(st.booleans()):
                break
            node, key = child, None
        if key is None:
            continue
        op = draw(st.sampled_from(["swap", "same", "same", "delete", "add"]))
        if op == "swap":
            node[key] = draw(JSON)
        elif op == "same":
            node[key] = _same_type(draw, node[key])
        elif op == "delete":
            del node[key]
        elif isinstance(node, dict):
            node[draw(st.text(max_size=8))] = draw(JSON)
    return json.dumps(doc, separators=(",", ":"))


def _for_shape(sh):
    """A strategy for a value of the contract's shape ``sh`` (harness.schema.shape)."""
    kind = sh[0]
    if kind == "int":
        return st.one_of(st.integers(0, 10**6), st.integers(-(2**40), 2**63))
    if kind == "float":
        return st.one_of(st.floats(0, 1e6), st.floats(allow_nan=False, allow_infinity=False))
    if kind == "str":
        return st.one_of(st.sampled_from(["127.0.0.1:80", "[::1]:7000", "python3"]),
                         st.text(max_size=10))
    if kind == "bool":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "literal":
        return st.sampled_from(sh[1])
    if kind == "union":
        return st.one_of([_for_shape(s) for s in sh[1]])
    if kind == "list":
        return st.lists(_for_shape(sh[1]), max_size=3)
    if kind == "tuple":
        return st.tuples(*[_for_shape(s) for s in sh[1]]).map(list)
    if kind == "dict":
        return st.dictionaries(st.text(max_size=10), _for_shape(sh[1]), max_size=3)
    return _record(sh[1])


def _record(record):
    declared = fields(record)
    return st.fixed_dictionaries(
        {name: st.deferred(lambda s=sh: _for_shape(s)) for name, (sh, _d, req) in declared
         if req},
        optional={name: st.deferred(lambda s=sh: _for_shape(s))
                  for name, (sh, _d, req) in declared if not req})


GENERATED = _record(Sample).map(lambda s: json.dumps({**s, "schema": SCHEMA}))


@st.composite
def run_file(draw) -> bytes:
    lines = draw(st.lists(st.one_of(mutated_line(), GENERATED,
                                    st.sampled_from(LINES).map(json.dumps)),
                          min_size=1, max_size=5))
    data = "".join(line + "\n" for line in lines).encode()
    if draw(st.integers(0, 3)) == 0:  # cut short: a run stopped mid-write
        data = data[:len(data) - draw(st.integers(1, len(data)))]
    if draw(st.integers(0, 7)) == 0:
        data += draw(st.binary(max_size=20))
    return data


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path


def _one_line(exc: RunFileError, path: str) -> None:
    text = str(exc)
    assert "\n" not in text and text.startswith(path), text


@fuzz(300)
@given(data=run_file())
def test_readers_read_a_run_or_name_the_line(run_path, data):
    path = _write(run_path, data)
    try:
        run = load_run(path)
        assert run.samples > 0 and isinstance(run.summary, dict)
    except RunFileError as exc:
        _one_line(exc, path)
    try:
        series = load_series(path)
        _leak_table(series)
        json.dumps(series.fold.summary())
    except RunFileError as exc:
        _one_line(exc, path)


@fuzz(200)
@given(data=run_file())
def test_check_exits_0_1_or_2_with_one_line(run_path, data):
    path = _write(run_path, data)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["check", path, "--max", "TIME_WAIT=1", "--max", "leaks=0",
                     "--min", "ephemeral_fraction=0", "--json"])
    problems = [line for line in err.getvalue().splitlines() if "error" in line]
    assert code in (0, 1, 2) and len(problems) == (code == 2), err.getvalue()


@fuzz(20)
@given(data=run_file())
def test_report_writes_a_page_or_one_line(run_path, data):
    """The whole page (plotly included) for a few examples: the figure builder too."""
    path = _write(run_path, data)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["report", path, "-o", path + ".html"])
    problems = [line for line in err.getvalue().splitlines() if "error" in line]
    assert code in (0, 2) and len(problems) == (code == 2), err.getvalue()
