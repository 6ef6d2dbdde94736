"""TIME_WAIT sockets aggregated straight from dump bytes, and what they forecast.

At 100,000 TIME_WAIT sockets decoding each into an object costs ~100 ms, too much for a
sampler at 10 Hz. A TIME_WAIT dump is a row of equal-size messages, so each field of
interest is a strided byte column (kernel/dump_columns.py, which alone knows where the
fields lie), and ``Counter``s over the zipped columns count sockets by local port and by
(remote address, remote port, expiry bucket) in C, with no Python code run per socket.
The expiry bucket is ``idiag_expires >> 8``, 256 ms.

    >>> bucket_seconds(234)      # 234 * 256 ms
    59.904
"""

from __future__ import annotations

import operator
from collections import Counter
from itertools import compress

from harness.kernel.dump_columns import TimeWaitColumns, destination, time_wait_rows
from harness.kernel.inet_diag import ChunkResult
from harness.observe.ports import BUCKET_MS, close_rate
from harness.observe.tw_reuse import TIME_WAIT_S


def bucket_seconds(bucket: int) -> float:
    return bucket * BUCKET_MS / 1000


class TimeWaitGroups:
    """Counters filled from the raw bytes of a TIME_WAIT dump, chunk by chunk.

    ``hist``: every socket by expiry bucket. ``sports``: sockets by local port
    ``(hi, lo)``. ``dests[family]``: client-side sockets (local port an ephemeral port,
    not a listening one) by ``(dst bytes..., dport hi, dport lo, bucket)``. The leading
    run of equal-size messages goes through C-speed column counting (server-side sockets,
    whose local port is a listening one, and ports outside the range are masked out with
    ``itertools.compress``); only a ragged tail is walked message by message.
    """

    def __init__(self, listening=(), port_range=(32768, 60999)):
        self.lo, self.hi = port_range
        self.listening = set(listening)
        # Local ports (hi, lo) that hold no ephemeral port, among those whose high byte
        # is inside the range: listening ports and the range's ragged edges.
        lo_hi, hi_hi = self.lo >> 8, self.hi >> 8
        self._excluded = {(p >> 8, p & 0xFF) for p in self.listening}
        self._excluded |= {(lo_hi, b) for b in range(self.lo & 0xFF)}
        self._excluded |= {(hi_hi, b) for b in range((self.hi & 0xFF) + 1, 256)}
        self._excluded = {pair for pair in self._excluded if lo_hi <= pair[0] <= hi_hi}
        self._hi_in_range = set(range(lo_hi, hi_hi + 1))
        self.hist: Counter = Counter()
        self.sports: Counter = Counter()
        self.dests: dict[int, Counter] = {}
        self.families: set[int] = set()  # of every socket seen

    def clear(self) -> None:
        self.hist.clear()
        self.sports.clear()
        self.dests.clear()
        self.families.clear()

    def _ephemeral(self, sport: int) -> bool:
        return self.lo <= sport <= self.hi and sport not in self.listening

    def add_chunk(self, buf, length: int, result: ChunkResult) -> None:
        view = bytes(buf[:length])
        run = TimeWaitColumns(view, length)
        if run.end:
            if run.interrupted:
                result.interrupted = True
            hi_col = run.sport_hi
            pairs = list(zip(hi_col, run.sport_lo, strict=True))
            self.sports.update(pairs)
            self.hist.update(run.bucket)
            cols = run.dest()
            inside = min(hi_col) >= self.lo >> 8 and max(hi_col) <= self.hi >> 8
            if not (inside and self._excluded.isdisjoint(pairs)):
                # Keep the client-side rows (high byte in the range and not an excluded
                # pair: True > False) with C-level map and compress, no Python per row.
                keep = list(map(operator.gt, map(self._hi_in_range.__contains__, hi_col),
                                map(self._excluded.__contains__, pairs)))
                cols = [bytes(compress(col, keep)) for col in cols]
            self.dests.setdefault(run.family, Counter()).update(zip(*cols, strict=True))
            self.families.add(run.family)
        if run.end < length:
            time_wait_rows(view, run.end, length, self._one, result)

    def _one(self, family: int, sport: tuple[int, int], bucket: int, dest: tuple) -> None:
        self.families.add(family)
        self.sports[sport] += 1
        self.hist[bucket] += 1
        if self._ephemeral(sport[0] << 8 | sport[1]):
            self.dests.setdefault(family, Counter())[dest] += 1


class TimeWaitView:
    """What one aggregated TIME_WAIT dump says, per destination and overall."""

    def __init__(self, groups: TimeWaitGroups):
        self.hist = groups.hist
        self._groups = groups
        self._tw_pairs: set | None = None
        self._united: tuple | None = None  # (open pairs, those | the TIME_WAIT pairs)
        self.by_dest: dict[str, Counter] = {}
        for family, counter in groups.dests.items():
            for key, n in counter.items():
                remote, bucket = destination(family, key)
                hist = self.by_dest.get(remote)
                if hist is None:
                    hist = self.by_dest[remote] = Counter()
                hist[bucket] += n

    @property
    def count(self) -> int:
        return sum(self.hist.values())

    def on_port(self, port: int) -> int:
        """TIME_WAIT sockets whose local port is ``port`` (a listener's: the server
        closed them first)."""
        return self._groups.sports.get((port >> 8, port & 0xFF), 0)

    def ports_in_use(self, open_ports, open_pairs=frozenset()) -> int:
        """Distinct ephemeral local ports held by these sockets, ``open_ports`` and
        ``open_pairs`` (ports as ``(hi, lo)``, OpenGroups.ports), on ``(hi, lo)`` pairs.

        The TIME_WAIT ports and ``open_pairs`` are united once per view and pairs object
        (the sampler reuses a view for several samples, and between its groupings of the
        ESTABLISHED sockets the same pairs: 100,000 of them at 200,000 sockets, ~15 ms a
        sample to unite again); ``open_ports`` (the decoded sockets') are added each
        call."""
        g = self._groups
        lo_hi, hi_hi = g.lo >> 8, g.hi >> 8
        if self._tw_pairs is None:
            self._tw_pairs = {p for p in g.sports if lo_hi <= p[0] <= hi_hi} - g._excluded
        if self._united is None or self._united[0] is not open_pairs:
            held = {p for p in open_pairs if lo_hi <= p[0] <= hi_hi} - g._excluded
            self._united = (open_pairs, self._tw_pairs | held)
        united = self._united[1]
        extra = {(p >> 8, p & 0xFF) for p in open_ports if lo_hi <= p >> 8 <= hi_hi}
        return len(united) + len(extra - g._excluded - united)


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
    # the last bucket's upper edge, but no timer runs longer than TIME_WAIT itself
    return {"min": bucket_seconds(buckets[0]), "p50": bucket_seconds(p50),
            "max": round(min(bucket_seconds(buckets[-1] + 1), TIME_WAIT_S), 3)}


def time_wait_analysis(count: int, hist: Counter, growth_per_s: float | None) -> dict:
    """records.TimeWait: count, expiry, growth, close rate, steady state, drain time."""
    rate = close_rate(hist)
    expires = expiry_summary(hist)
    return {
        "count": count,
        "expires_s": expires,
        "growth_per_s": None if growth_per_s is None else round(growth_per_s, 2),
        "close_rate_per_s": round(rate, 2),
        "steady_state": round(rate * TIME_WAIT_S),
        # the count and the details are read a moment apart (sockstat, then a dump, or
        # the details from an earlier sample): with none of them in the details, the
        # longest a TIME_WAIT lasts is the bound
        "drained_in_s": (TIME_WAIT_S if expires["max"] is None else expires["max"])
        if count else 0.0,
    }
