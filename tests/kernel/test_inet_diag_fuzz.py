"""The netlink decoder on random and mutated recorded bytes (hypothesis): decode_chunk,
decode_chunk_cgroup (and its attribute walker), count_chunk and walk give a clean
result or the kernel layer's own DumpError, never another exception and never an
endless loop (an alarm turns a hang into a failure)."""

from __future__ import annotations

import contextlib

import pytest
from fuzz_util import fuzz, mutate_bytes, no_endless_loop
from hypothesis import given
from hypothesis import strategies as st
from paths import FIXTURES

from harness.kernel import inet_diag as wire
from harness.kernel.dump_columns import count_chunk

pytestmark = pytest.mark.fuzz

RECORDED = [bytes.fromhex(line.strip())
            for path in sorted((FIXTURES / "sockdiag").glob("*.hex"))
            for line in path.read_text().splitlines() if line.strip()]
BUFFERS = st.one_of(st.binary(max_size=600),
                    st.sampled_from(RECORDED).flatmap(mutate_bytes),
                    st.sampled_from(RECORDED))


def each_decoder(buf: bytes):
    """Run the public walkers over ``buf``; a DumpError is a clean answer too."""
    records: list = []
    for run in (lambda r: wire.decode_chunk(buf, len(buf), records.append, r),
                lambda r: count_chunk(buf, len(buf), [0] * wire.STATE_SLOTS, r),
                lambda r: wire.walk(buf, len(buf), wire.decode_msg, r),
                lambda r: wire.decode_chunk_cgroup(buf, len(buf), records.append, r),
                lambda r: wire.decode_chunk(memoryview(bytearray(buf)), len(buf),
                                            records.append, r)):
        with contextlib.suppress(wire.DumpError):
            run(wire.ChunkResult())
    return records


@fuzz(400)
@given(BUFFERS)
def test_decoders_answer_cleanly_or_with_a_dump_error(buf):
    with no_endless_loop():
        records = each_decoder(buf)
    for r in records:  # every record decoded reads as a socket
        assert isinstance(r.state, str) and r.local and r.remote
        assert 0 <= r.sport < 65536 and r.cookie >= 0


def count(data: bytes, length: int):
    result, counts = wire.ChunkResult(), [0] * wire.STATE_SLOTS
    try:
        count_chunk(data, length, counts, result)
    except wire.DumpError as exc:
        return exc.errno
    return counts, result.done, result.interrupted


@fuzz(300)
@given(st.sampled_from(RECORDED).flatmap(mutate_bytes), st.integers(1, 64))
def test_nothing_past_the_length_given_is_read(buf, extra):
    """Callers pass (buffer, bytes received): what lies past ``length`` must not matter."""
    with no_endless_loop():
        assert count(buf, len(buf)) == count(buf + b"\xff" * extra, len(buf))
