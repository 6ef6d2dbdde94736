"""TIME_WAIT sockets aggregated straight from dump bytes, and what they forecast.

At 100,000 TIME_WAIT sockets decoding each into an object costs ~100 ms, too much for a
sampler at 10 Hz. A TIME_WAIT dump is a row of equal-size messages, so each field of
interest is a strided byte column (``bytes[offset::stride]``), and a ``Counter`` over the
zipped columns groups sockets by (local port, remote address, remote port, expiry
bucket) in C. Offsets into ``inet_diag_msg`` (include/uapi/linux/inet_diag.h), past the
16-byte nlmsghdr: family +0, state +1, sport +4..5 and dport +6..7 big-endian, dst
+24..(28|40), idiag_expires +52 (u32, native order: ms left <= 60,000, so the byte at
+53 is ``expires >> 8``, a 256 ms bucket and +54/+55 are zero).

    >>> bucket_seconds(234)      # 234 * 256 ms
    59.904
"""

from __future__ import annotations

import socket
from collections import Counter

from harness.kernel import inet_diag as wire
from harness.observe.ports import BUCKET_MS, TIME_WAIT_S, close_rate

HDR = wire.NLMSG_HDRLEN
V4_COLUMNS = (4, 5, 24, 25, 26, 27, 6, 7, 53)
V6_COLUMNS = (4, 5, *range(24, 40), 6, 7, 53)


def bucket_seconds(bucket: int) -> float:
    return bucket * BUCKET_MS / 1000


def _columns(family: int) -> tuple[int, ...]:
    return V4_COLUMNS if family == socket.AF_INET else V6_COLUMNS


def _uniform_prefix(view: bytes, length: int) -> tuple[int, int, int]:
    """(bytes covered, stride, family) of the leading run of equal-size socket messages."""
    stride = (int.from_bytes(view[0:4], "little") + 3) & ~3
    if stride < HDR + wire.INET_DIAG_MSG_LEN or stride > 0xFFFF:
        return 0, 0, 0
    k = length // stride
    if k < 2:
        return 0, 0, 0
    end = k * stride
    expected = {0: stride & 0xFF, 1: stride >> 8, 2: 0, 3: 0, 4: wire.SOCK_DIAG_BY_FAMILY, 5: 0}
    for at, value in expected.items():
        if view[at:end:stride] != bytes((value,)) * k:
            return 0, 0, 0
    family = view[HDR]
    if view[HDR:end:stride] != bytes((family,)) * k:
        return 0, 0, 0
    return end, stride, family


def aggregate_chunk(buf, length: int, groups: Counter, result: wire.ChunkResult) -> None:
    """Add each TIME_WAIT message of ``buf[:length]`` to ``groups``, keyed by
    ``(family, sport hi, sport lo, dst bytes..., dport hi, dport lo, expires >> 8)``."""
    view = bytes(buf[:length])
    end, stride, family = _uniform_prefix(view, length)
    if end:
        if any(b & wire.NLM_F_DUMP_INTR for b in set(view[6:end:stride])):
            result.interrupted = True
        cols = [view[HDR + c:end:stride] for c in _columns(family)]
        groups.update(zip(bytes((family,)) * (end // stride), *cols, strict=True))

    def one(b, off):
        fam = b[off]
        groups[(fam, *(b[off + c] for c in _columns(fam)))] += 1

    if end < length:
        wire.walk(view[end:], length - end, one, result)


class TimeWaitView:
    """What one aggregated TIME_WAIT dump says, per destination and overall."""

    def __init__(self, groups: Counter, listening: set[int], port_range):
        lo, hi = port_range
        self.hist: Counter = Counter()
        self.by_dest: dict[str, Counter] = {}
        self.ports: set[int] = set()
        names: dict[tuple, str] = {}
        for key, n in groups.items():
            bucket = key[-1]
            self.hist[bucket] += n
            sport = key[1] << 8 | key[2]
            if sport in listening or not lo <= sport <= hi:
                continue  # the server side of a connection holds no ephemeral port
            self.ports.add(sport)
            dest = key[3:-1]
            remote = names.get(dest)
            if remote is None:
                remote = names[dest] = _remote(key[0], dest)
            hist = self.by_dest.get(remote)
            if hist is None:
                hist = self.by_dest[remote] = Counter()
            hist[bucket] += n

    @property
    def count(self) -> int:
        return sum(self.hist.values())


def _remote(family: int, dest: tuple) -> str:
    raw, port = bytes(dest[:-2]), dest[-2] << 8 | dest[-1]
    if family == socket.AF_INET:
        return f"{socket.inet_ntop(socket.AF_INET, raw)}:{port}"
    return f"[{socket.inet_ntop(socket.AF_INET6, raw)}]:{port}"


def expiry_summary(hist: Counter) -> dict:
    """``{"min", "p50", "max"}`` seconds left, at the histogram's 0.256 s resolution."""
    total = sum(hist.values())
    if not total:
        return {"min": None, "p50": None, "max": None}
    buckets = sorted(hist)
    seen, p50 = 0, buckets[-1]
    for b in buckets:
        seen += hist[b]
        if seen * 2 >= total:
            p50 = b
            break
    return {"min": bucket_seconds(buckets[0]), "p50": bucket_seconds(p50),
            "max": round(bucket_seconds(buckets[-1] + 1), 3)}


def time_wait_analysis(count: int, hist: Counter, growth_per_s: float | None) -> dict:
    """design.md ``time_wait`` plus growth, close rate, steady state and drain time."""
    rate = close_rate(hist)
    expires = expiry_summary(hist)
    return {
        "count": count,
        "expires_s": expires,
        "growth_per_s": None if growth_per_s is None else round(growth_per_s, 2),
        "close_rate_per_s": round(rate, 2),
        "steady_state": round(rate * TIME_WAIT_S),
        "drained_in_s": expires["max"] if count else 0.0,
    }


def hist_from_records(records) -> Counter:
    """The same histogram from decoded records (one-shot snapshots, tests)."""
    return Counter(r.expires // BUCKET_MS for r in records if r.state == "TIME_WAIT")


