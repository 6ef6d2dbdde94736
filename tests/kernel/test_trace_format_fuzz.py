"""The tracefs parsers on random and mutated recorded input (hypothesis): ring-buffer
pages give records inside the page and events or nothing, never an exception or an
endless loop; format and header files parse or raise ValueError."""

from __future__ import annotations

import contextlib
import json

import pytest
from fuzz_util import fuzz, mutate_bytes, no_endless_loop
from hypothesis import given
from hypothesis import strategies as st
from paths import FIXTURES

from harness.kernel.trace_format import (
    EventLayout,
    iter_page,
    parse_format,
    parse_header_event,
    parse_header_page,
)
from harness.kernel.tracefs import Tracer

pytestmark = pytest.mark.fuzz

EVENTS = FIXTURES / "trace" / "events"
PAGES = [bytes.fromhex(p["page"]) for p in
         json.loads((FIXTURES / "trace" / "lab_pages.json").read_text())["pages"]]
FORMATS = sorted(str(p.read_text()) for p in EVENTS.rglob("format"))
HEADERS = [(EVENTS / "header_page").read_text(), (EVENTS / "header_event").read_text()]


def tracer() -> Tracer:
    t = Tracer(ports=[])  # every port: no event is filtered out before its decode
    t.load_formats(str(EVENTS))
    return t


TRACER = tracer()


@fuzz(400)
@given(st.one_of(st.binary(max_size=600), st.sampled_from(PAGES).flatmap(mutate_bytes)))
def test_a_page_gives_records_inside_it_and_events_or_nothing(page):
    with no_endless_loop():
        records, missed = iter_page(page, TRACER._header, TRACER._types)
        assert isinstance(missed, bool)
        for _ts, off, size in records:
            assert off >= 0 and size >= 0 and off + size <= len(page)
        for ev in TRACER.decode_records(page, records):
            assert ev["event"] and isinstance(ev["sport"], int)


def _mutate_text(draw, text: str) -> str:
    chars = list(text)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, max(0, len(chars) - 1)))
        op = draw(st.sampled_from(["digit", "drop", "insert", "cut"]))
        if op == "digit":
            chars[at:at + 1] = draw(st.sampled_from(["0", "9", "99999", "-1", ";", "["]))
        elif op == "drop":
            del chars[at:at + draw(st.integers(1, 20))]
        elif op == "insert":
            chars[at:at] = draw(st.text(max_size=10))
        else:
            del chars[at:]
    return "".join(chars)


@fuzz(300)
@given(st.data())
def test_format_and_header_files_parse_or_say_why(data):
    text = data.draw(st.sampled_from(FORMATS + HEADERS))
    mutated = _mutate_text(data.draw, text)
    try:
        fmt = parse_format(mutated)
    except ValueError:
        fmt = None
    if fmt is not None:
        EventLayout(fmt, list(fmt["fields"]))
    with contextlib.suppress(ValueError):
        parse_header_page(mutated)
    parse_header_event(mutated)
