"""Shared settings and strategies of the property-based tests (hypothesis).

Every fuzz test runs a fixed number of examples, derandomized (the examples follow from
the test's own code, so CI cannot flake on a new draw) and without an example database
or deadline: the budget is examples, never time (the whole suite: a few hundred examples
per target, under 60 s on the CI machine).
"""

from __future__ import annotations

import contextlib
import signal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def fuzz(examples: int = 300):
    """The settings of one fuzz test: ``examples`` derandomized examples."""
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# JSON values of every type, with the awkward numbers a hand-edited or corrupted file
# has (negative counts, 0, huge, a float where an int is meant, booleans as numbers)
SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 1, 2**31, 2**63, 10**20]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, -1.5, 1e308, -1e308, 5e-324, 1e16]),
    st.text(max_size=12), st.sampled_from(["", "x", "127.0.0.1:80", "[::1]:80", "LISTEN"]),
)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8)


def mutate_bytes(data: bytes):
    """A strategy: ``data`` with a few bytes flipped, cut, duplicated or inserted."""

    @st.composite
    def mutated(draw):
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 6))):
            if not buf:
                buf += draw(st.binary(min_size=1, max_size=16))
                continue
            at = draw(st.integers(0, len(buf) - 1))
            op = draw(st.sampled_from(["set", "cut", "insert", "dup", "zero-len", "big-len"]))
            if op == "set":
                buf[at] = draw(st.integers(0, 255))
            elif op == "cut":
                del buf[at:]
            elif op == "insert":
                buf[at:at] = draw(st.binary(min_size=1, max_size=16))
            elif op == "dup":
                buf[at:at] = buf[at:at + draw(st.integers(1, 200))]
            else:  # a length word (netlink's nlmsg_len, a record's length) made 0 or huge
                at -= at % 4
                buf[at:at + 4] = (b"\0\0\0\0" if op == "zero-len" else b"\xff\xff\x00\x00")
        return bytes(buf)

    return mutated()


@contextlib.contextmanager
def no_endless_loop(seconds: int = 5):
    """Fail, instead of hanging, when the body runs ``seconds`` (SIGALRM)."""
    def stuck(_sig, _frame):
        raise AssertionError(f"still running after {seconds} s: an endless loop")

    old = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
