"""The exporter's JSON API: its newest samples in a bounded ring, and the answers of
``GET /api/v1/sample`` (the latest sample, a record line's JSON) and
``GET /api/v1/samples?after=T`` (records.SamplesResponse: the samples kept whose time is
later than T, oldest first; without ``after``, every one kept).

Each sample is encoded once, when it arrives, exactly as ``socklife record`` writes a
line (jsonl.encode), so a scrape of either path costs no JSON encoding however many
clients ask, and an answer is sent from those bytes, not a copy of them. The ring holds
``keep`` samples, or fewer when they would take more than ``max_bytes`` (a sample lists
every CLOSE_WAIT socket: a leak of thousands makes each one large); the newest is
always kept.

    >>> ring = SampleRing(2)
    >>> for t in (1.0, 2.0, 3.0):
    ...     ring.add({"schema": 1, "time": t})
    >>> b"".join(ring.samples("after=1.5", None).body)
    b'{"schema":1,"samples":[{"schema":1,"time":2.0},{"schema":1,"time":3.0}]}'
    >>> ring.samples("after=soon", None).body
    b'{"error":"after=\\'soon\\' is not a number (a Unix time in seconds)"}\\n'
"""

from __future__ import annotations

import math
import threading
from collections import deque
from urllib.parse import parse_qs

from harness.schema.version import SCHEMA
from harness.sinks.http_server import JSON, Answer, json_error
from harness.sinks.jsonl import encode


def after_of(query: str) -> float:
    """The ``after`` of a query string (-inf without one); ValueError saying what is
    wrong with it, or with any other parameter."""
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError(f"cannot read the query {query!r} (expected after=T)") from None
    unknown = sorted(set(params) - {"after"})
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r} (only after=T, a Unix time)")
    values = params.get("after", [])
    if not values:
        return -math.inf
    if len(values) > 1:
        raise ValueError("after given more than once")
    try:
        after = float(values[0])
    except ValueError:
        after = math.nan
    if not math.isfinite(after):
        raise ValueError(f"after={values[0]!r} is not a number (a Unix time in seconds)")
    return after


MAX_BYTES = 64 << 20


class SampleRing:
    """The last ``keep`` samples (at most ``max_bytes`` of them but the newest), each kept
    as its record line's bytes; thread-safe (one sampling thread adds, the server's
    threads read)."""

    def __init__(self, keep: int, max_bytes: int = MAX_BYTES, every_netns: bool = False):
        self.keep = keep
        self.max_bytes = max_bytes
        self.every_netns = every_netns  # --all-netns: a sample per namespace and tick
        self._ring: deque[tuple[float, bytes]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ring)

    def add(self, sample: dict) -> None:
        line = encode(sample).encode()
        with self._lock:
            self._ring.append((sample["time"], line))
            self._bytes += len(line)
            while len(self._ring) > self.keep or (
                    self._bytes > self.max_bytes and len(self._ring) > 1):
                self._bytes -= len(self._ring.popleft()[1])

    def sample(self, _query: str, _headers) -> Answer:
        """GET /api/v1/sample: the newest sample (a 503 before the first). An exporter of
        every namespace has no one newest sample: 400, pointing to /api/v1/samples."""
        if self.every_netns:
            return json_error(400, "this exporter reads every namespace (--all-netns): "
                                   "ask /api/v1/samples, a sample per namespace and "
                                   "interval, each with its netns and netns_inode")
        with self._lock:
            newest = self._ring[-1][1] if self._ring else None
        if newest is None:
            return json_error(503, "no sample taken yet")
        return Answer(200, JSON, newest)

    def samples(self, query: str, _headers) -> Answer:
        """GET /api/v1/samples?after=T: a records.SamplesResponse, or a 400 ApiError."""
        try:
            after = after_of(query)
        except ValueError as exc:
            return json_error(400, str(exc))
        parts = [b'{"schema":%d,"samples":[' % SCHEMA]
        with self._lock:
            for t, line in self._ring:
                if t > after:
                    parts += (line, b",")
        if len(parts) > 1:
            parts.pop()  # the last comma
        parts.append(b"]}")
        return Answer(200, JSON, tuple(parts))
