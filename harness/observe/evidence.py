"""What the findings are judged on: one host's samples folded as they come.

``Evidence.add(sample)`` keeps, per listener, per destination and per address with
CLOSE_WAIT sockets held (and who holds them), the extremes and the span (first and last
sample, samples) of each condition a rule looks at, and for the namespace's counters
their first, previous and last values, the samples of the run's first ``2 x START_S``
seconds and a sliding window of ``WINDOW_S``: memory follows the sockets' owners and
addresses, never the run's length (at most ``KEPT`` of each kind are followed; the rest
are counted). The rules (harness.observe.findings) read an Evidence and nothing else,
so a run gets the same findings live (record, the Locust collector) and from its file
(check, report).

Samples of a file written before a section existed lack it: every section is read with
a default, so a missing one gives no evidence for its rules instead of an error::

    >>> ev = Evidence()
    >>> ev.add({"time": 1.0, "states": {"CLOSE_WAIT": 0}})
    >>> ev.add({"time": 2.0, "listeners": [{"local": "127.0.0.1:80", "accept_queue": 6,
    ...                                     "backlog": 5}]})
    >>> ev.samples, ev.listeners["127.0.0.1:80"].full.samples
    (2, 1)
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import NamedTuple

from harness.observe.figures import listener_fill
from harness.observe.tw_reuse import reuse_applies

START_S = 5.0  # the run's start: its rates are what later rates are compared with
WINDOW_S = 5.0  # rates of counters over a window this long
HELD_S = 1.0  # a CLOSE_WAIT socket this old is held: its application is not about to close
HALF = 0.5  # a limit half used: twice the load reaches it (warnings)
FORECAST_S = 60.0  # a forecast of exhaustion within TIME_WAIT's 60 s: beyond, it extrapolates
CHURN_MIN_PER_S = 10.0  # new connections per second to one destination worth a finding
SHORT_LIVED_S = 1.0  # connections that live less than this on average are short ones
RISE = 4.0  # a counter's rate this many times its rate at the run's start has risen
RISE_MIN_PER_S = 1.0  # ... and at least this many per second
RISE_MIN_EVENTS = 10  # ... and at least this many in the window
RETRANS_SHARE = 0.01  # data retransmissions: at least this share of the segments sent
KEPT = 1000  # listeners, destinations and processes followed per host
EXAMPLES = 8  # fds and peers kept per process
# The namespace counters the rules read (Tcp / TcpExt names).
COUNTERS = ("ListenOverflows", "ListenDrops", "TCPReqQFullDrop", "TCPReqQFullDoCookies",
            "SyncookiesSent", "TCPTimeWaitOverflow", "ActiveOpens", "PassiveOpens")
# Counters whose rise against the run's start is a finding, derived from the sample's
# counters: SYN retransmissions and their timeouts are left out (a dropped SYN is
# syn_sent_pileup's or accept_queue_overflow's evidence, not a sick connection).
RISING = ("data_retransmits", "timeouts", "EstabResets", "OutRsts")


def rising_counters(counters: dict) -> dict[str, int]:
    """The RISING counters (and OutSegs) of a sample's cumulative counters.

    >>> rising_counters({"RetransSegs": 12, "TCPSynRetrans": 10, "TCPTimeouts": 9,
    ...                  "EstabResets": 1, "OutRsts": 2, "OutSegs": 100})
    {'data_retransmits': 2, 'timeouts': 0, 'EstabResets': 1, 'OutRsts': 2, 'OutSegs': 100}
    """
    syn = counters.get("TCPSynRetrans", 0)
    return {"data_retransmits": counters.get("RetransSegs", 0) - syn,
            "timeouts": max(0, counters.get("TCPTimeouts", 0) - syn),
            "EstabResets": counters.get("EstabResets", 0),
            "OutRsts": counters.get("OutRsts", 0), "OutSegs": counters.get("OutSegs", 0)}


TCP_RTO_MAX_S = 120  # include/net/tcp.h: no retransmission timer waits longer
_DOUBLINGS = 6  # ilog2(TCP_RTO_MAX / TCP_TIMEOUT_INIT): waits of 2, 4 .. 64 s, then 120


def syn_wait_s(retransmissions: int, linear: int = 0) -> float:
    """How long a connect() has waited when its SYN was retransmitted that many times.

    The first retransmission comes after the initial RTO, 1 s (TCP_TIMEOUT_INIT); the
    next ``linear`` ones (net.ipv4.tcp_syn_linear_timeouts, 4 by default since Linux 6.7)
    1 s apart as well; then each waits twice the one before (tcp_retransmit_timer), up
    to TCP_RTO_MAX, 120 s, each (any count read from a run file is answered).

    >>> [syn_wait_s(n) for n in range(5)], [syn_wait_s(n, 4) for n in range(1, 8)]
    ([0.0, 1.0, 3.0, 7.0, 15.0], [1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 11.0])
    >>> syn_wait_s(8), syn_wait_s(9)
    (247.0, 367.0)
    """
    retransmissions, linear = max(0, retransmissions), max(0, linear)
    if retransmissions <= linear + 1:
        return float(retransmissions)
    doubled = retransmissions - linear - 1
    capped = max(0, doubled - _DOUBLINGS)
    return float(linear + 1 + (2 << min(doubled, _DOUBLINGS)) - 2 + capped * TCP_RTO_MAX_S)


def syn_give_up_s(syn_retries: int) -> float:
    """When connect() gives up: tcp_syn_retries is a time budget of
    ``(2 << retries) - 1`` initial RTOs (tcp_model_timeout), checked when the RTO fires,
    and past six doublings each further retry adds TCP_RTO_MAX.

    >>> syn_give_up_s(6), syn_give_up_s(7)
    (127.0, 247.0)
    """
    syn_retries = max(0, syn_retries)
    if syn_retries <= _DOUBLINGS:
        return float((2 << syn_retries) - 1)
    return float((2 << _DOUBLINGS) - 1 + (syn_retries - _DOUBLINGS) * TCP_RTO_MAX_S)


def rises(name: str, start: float, rate: float, events: float, share: float | None) -> bool:
    """Whether a RISING counter's ``rate`` (``events`` in its window) stands well above
    its rate at the run's start; data retransmissions must also be ``RETRANS_SHARE`` of
    the segments sent (``share``).

    >>> rises("OutRsts", 0.0, 3.0, 15, None), rises("OutRsts", 1.0, 3.0, 15, None)
    (True, False)
    """
    if rate < max(RISE * start, RISE_MIN_PER_S) or events < RISE_MIN_EVENTS:
        return False
    return name != "data_retransmits" or (share is not None and share >= RETRANS_SHARE)


def port_of(address: str) -> int | None:
    """``"127.0.0.1:80"`` / ``"[::1]:80"`` -> 80 (None for what is not ip:port).

    >>> port_of("[::1]:80"), port_of("l")
    (80, None)
    """
    _host, sep, port = address.rpartition(":")
    return int(port) if sep and port.isdigit() else None


def serves(listener: str, remote: str) -> bool:
    """Whether a connection to ``remote`` reaches the listener ``listener`` (same port,
    same address or a wildcard one).

    >>> serves("0.0.0.0:80", "10.0.0.1:80"), serves("127.0.0.1:80", "127.0.0.2:80")
    (True, False)
    """
    host, _, port = listener.rpartition(":")
    rhost, _, rport = remote.rpartition(":")
    return port == rport and (host == rhost or host in ("0.0.0.0", "[::]"))


class Rise(NamedTuple):
    """A RISING counter over the run: its rate at the start, its highest later rate (over
    ``window_s``), data retransmissions' share of the segments sent then, and the span
    where it stood above the start."""

    start: float
    rate: float
    share: float | None
    window_s: float
    span: Span


@dataclass
class Span:
    """When a condition held: first and last sample, and how many samples."""

    first: float | None = None
    last: float | None = None
    samples: int = 0

    def hit(self, t: float | None) -> None:
        self.samples += 1
        if t is not None:
            self.first = t if self.first is None else min(self.first, t)
            self.last = t if self.last is None else max(self.last, t)

    def cover(self, t0: float, t1: float) -> None:
        """A sample whose window [t0, t1] held the condition."""
        self.hit(t0)
        self.last = max(self.last, t1)

    def fields(self) -> dict:
        """The three fields every records.FindingEvidence has."""
        return {"first_seen": self.first, "last_seen": self.last, "samples": self.samples}


@dataclass
class ListenerEvidence:
    local: str
    backlog: int = 0
    pid: int | None = None
    process: str | None = None
    cgroup: str | None = None  # its cgroup v2 path, when the dump gave it
    queue_max: int = 0
    fill_max: float = 0.0
    syn_recv_max: int = 0
    full: Span = field(default_factory=Span)  # the queue at backlog + 1
    half: Span = field(default_factory=Span)  # at least half of it
    time_wait_max: int = 0  # server-side TIME_WAIT on its port
    tw_start: tuple | None = None  # (time, count) when this run first saw its port
    tw_rate: float = 0.0  # closes per second into that TIME_WAIT, at least
    accepts_max: float = 0.0  # PassiveOpens per second, when it is the one listener with TW
    tw: Span = field(default_factory=Span)

    def add(self, t: float | None, row: dict) -> None:
        self.backlog = row.get("backlog", self.backlog)
        if row.get("pid") is not None:
            self.pid, self.process = row["pid"], row.get("process")
        self.cgroup = row.get("cgroup", self.cgroup)
        queue = row.get("accept_queue", 0)
        fill = listener_fill(row) if "accept_queue" in row and "backlog" in row else 0.0
        self.queue_max = max(self.queue_max, queue)
        self.fill_max = max(self.fill_max, fill)
        self.syn_recv_max = max(self.syn_recv_max, row.get("syn_recv", 0))
        if fill >= 1.0:
            self.full.hit(t)
        if fill >= HALF:
            self.half.hit(t)
        tw = row.get("time_wait")
        if tw is None or t is None:
            return
        self.time_wait_max = max(self.time_wait_max, tw)
        if tw:
            self.tw.hit(t)
        if self.tw_start is None:
            self.tw_start = (t, tw)
        # TIME_WAIT lasts 60 s: the count is the closes of the last 60 s, so count / 60 and
        # the growth since the run first looked (within 60 s) are both lower bounds.
        t0, n0 = self.tw_start
        rate = tw / 60.0
        if 1.0 <= t - t0 <= 60.0:
            rate = max(rate, (tw - n0) / (t - t0))
        self.tw_rate = max(self.tw_rate, rate)


@dataclass
class DestinationEvidence:
    remote: str
    usable: int = 0
    reuse: bool = False  # tcp_tw_reuse applies to it
    in_use_max: int = 0
    blocking_max: int = 0  # ports connect() cannot take
    ran_out: Span = field(default_factory=Span)
    pressure: Span = field(default_factory=Span)  # half of the range blocked or a forecast
    eta_min: float | None = None
    forecasts: int = 0  # samples with a forecast of exhaustion
    closes_max: float = 0.0  # client-first closes per second (from its TIME_WAIT)
    time_wait_max: int = 0
    connections_max: float = 0.0  # new connections per second, at least
    rps_at_max: float | None = None
    churn: Span = field(default_factory=Span)
    churn_closes: bool = False  # the churn was read from client-side TIME_WAIT
    syn_sent_max: int = 0
    syn_retrans_max: int = 0
    syn_lost: Span = field(default_factory=Span)  # SYN_SENT whose SYN was retransmitted

    def add(self, t: float | None, row: dict, usable: int, tw_reuse: int) -> None:
        self.usable = usable or self.usable
        self.reuse = reuse_applies(tw_reuse, self.remote)
        in_use = row.get("in_use", 0)
        open_n = row.get("open")  # absent from older records: unknown where reuse applies
        blocking = in_use if not self.reuse else (open_n or 0)
        self.in_use_max = max(self.in_use_max, in_use)
        self.blocking_max = max(self.blocking_max, blocking)
        if open_n is not None:
            self.time_wait_max = max(self.time_wait_max, in_use - open_n)
        if usable and blocking >= usable:
            self.ran_out.hit(t)
        eta = row.get("exhausted_in_s")
        if eta is not None and eta <= FORECAST_S:
            self.eta_min = eta if self.eta_min is None else min(self.eta_min, eta)
            self.forecasts += 1
        # half the range blocked, or a forecast of exhaustion within FORECAST_S that held
        # in two samples (one alone is the growth of a pool being opened)
        if (usable and blocking >= HALF * usable) or (self.forecasts >= 2 and eta is not None
                                                      and eta <= FORECAST_S):
            self.pressure.hit(t)
        self.closes_max = max(self.closes_max, row.get("closes_per_s", 0.0))
        syn = row.get("syn_sent", 0)
        self.syn_sent_max = max(self.syn_sent_max, syn)
        retrans = row.get("syn_retrans_max", 0)
        self.syn_retrans_max = max(self.syn_retrans_max, retrans)
        if syn and retrans >= 1:
            self.syn_lost.hit(t)

    def connections(self, t: float | None, rate: float, rps: float | None,
                    from_closes: bool) -> None:
        """A sample's estimate of its new connections per second (see Evidence._churn)."""
        if rate > self.connections_max:
            self.connections_max, self.rps_at_max = rate, rps
            self.churn_closes = from_closes
        if rate >= CHURN_MIN_PER_S:
            self.churn.hit(t)


@dataclass
class CloseWaitEvidence:
    """CLOSE_WAIT sockets held (at least HELD_S old) on one listener (server side) or
    towards one destination (client side), and the processes holding them. Grouped by
    address, not by owner: an owner can be looked up a sample or more late (the CPU
    budget), and the same sockets must not count twice."""

    where: str  # the listener's address, or the destination's
    owners: Counter = field(default_factory=Counter)  # (pid, process) -> sockets seen
    cgroups: dict = field(default_factory=dict)  # (pid, process) -> its cgroup v2 path
    sockets_max: int = 0
    sockets_now: int = 0
    now_at: float | None = None
    oldest_s: float = 0.0
    leaks_max: int = 0
    fds: set = field(default_factory=set)
    peers: set = field(default_factory=set)
    held: Span = field(default_factory=Span)

    def add(self, t: float | None, rows: list[dict]) -> None:
        self.held.hit(t)
        self.sockets_max = max(self.sockets_max, len(rows))
        self.sockets_now, self.now_at = len(rows), t
        self.leaks_max = max(self.leaks_max, sum(1 for r in rows if r.get("leak")))
        self.oldest_s = max(self.oldest_s, *((r.get("age_s") or 0.0) for r in rows))
        for r in rows:
            pid = r.get("pid")
            if pid is not None and ((pid, r.get("process")) in self.owners
                                    or len(self.owners) < EXAMPLES):
                self.owners[(pid, r.get("process"))] += 1
                if r.get("cgroup"):
                    self.cgroups.setdefault((pid, r.get("process")), r["cgroup"])
        for r in rows[:EXAMPLES]:  # the oldest first, as the sampler sorts them
            for kept, value in ((self.fds, r.get("fd")), (self.peers, r.get("remote"))):
                if value is not None and len(kept) < EXAMPLES:
                    kept.add(value)

    def owner(self) -> tuple[int | None, str | None]:
        """The process holding most of them (None, None: not known)."""
        return self.owners.most_common(1)[0][0] if self.owners else (None, None)


@dataclass
class Evidence:
    """One host's run, folded for the rules (see the module's docstring)."""

    samples: int = 0
    started: float | None = None
    ended: float | None = None
    netns: str | None = None
    ports: tuple = ()  # the run's port filter: namespace counters then count other sockets too
    last: dict = field(default_factory=dict)  # the latest sample (settings, listeners)
    sysctls: dict = field(default_factory=dict)
    threshold_s: float | None = None  # the leak threshold
    listeners: dict = field(default_factory=dict)
    destinations: dict = field(default_factory=dict)
    close_wait: dict = field(default_factory=dict)  # address -> CloseWaitEvidence
    dropped: int = 0  # listeners, destinations or processes past KEPT, not followed
    first_counters: dict | None = None
    prev_counters: dict | None = None
    last_counters: dict | None = None
    grew: dict = field(default_factory=dict)  # counter -> Span of samples where it grew
    early: list = field(default_factory=list)  # (time, rising counters) of the first 2 x START_S
    window: deque = field(default_factory=deque)  # (time, counters) of the last WINDOW_S
    start_rates: dict | None = None
    peak_rates: dict = field(default_factory=dict)  # RISING name -> (rate, share, t0, t1)
    rise: dict = field(default_factory=dict)  # RISING name -> Span above the start
    time_wait_max: int = 0
    rps_max: float | None = None

    # -- folding --------------------------------------------------------------------
    def add(self, sample: dict) -> None:
        self.samples += 1
        t = sample.get("time")
        if t is not None:
            self.started = t if self.started is None else min(self.started, t)
            self.ended = t if self.ended is None else max(self.ended, t)
        self.netns = sample.get("netns", self.netns)
        self.ports = tuple(sample.get("ports") or self.ports)
        self.last = sample
        self.sysctls = sample.get("sysctls") or self.sysctls
        self.threshold_s = (sample.get("leaks") or {}).get("threshold_s", self.threshold_s)
        self.time_wait_max = max(self.time_wait_max,
                                 (sample.get("states") or {}).get("TIME_WAIT", 0))
        rps = (sample.get("locust") or {}).get("rps")
        if rps is not None:
            self.rps_max = max(self.rps_max or 0.0, rps)
        for row in sample.get("listeners") or ():
            ev = self._follow(self.listeners, row["local"],
                              lambda row=row: ListenerEvidence(row["local"]))
            if ev is not None:
                ev.add(t, row)
        self._destinations(t, sample)
        self._close_wait(t, sample.get("close_wait") or (), sample.get("listeners") or ())
        self._counters(t, sample.get("counters"))
        self._churn(t, sample, rps)

    def _follow(self, table: dict, key, make):
        """``table[key]``, made by ``make()`` the first time (None past KEPT keys)."""
        ev = table.get(key)
        if ev is None:
            if len(table) >= KEPT:
                self.dropped += 1
                return None
            ev = table[key] = make()
        return ev

    def _destinations(self, t, sample: dict) -> None:
        eph = sample.get("ephemeral") or {}
        usable = eph.get("usable", 0)
        reuse = self.sysctls.get("tcp_tw_reuse", 2)
        for row in eph.get("by_destination") or ():
            ev = self._follow(self.destinations, row["remote"],
                              lambda row=row: DestinationEvidence(row["remote"]))
            if ev is not None:
                ev.add(t, row, usable, reuse)

    def _close_wait(self, t, rows, listeners) -> None:
        """Held CLOSE_WAIT rows by listener (a local port that listens) or by destination."""
        listening = {port_of(row["local"]) for row in listeners}
        held: dict = {}
        for row in rows:  # held a second, or past the run's own leak threshold if shorter
            if row.get("leak") or (row.get("age_s") or 0.0) >= HELD_S:
                server = port_of(row["local"]) in listening
                held.setdefault(row["local"] if server else row["remote"], []).append(row)
        for where, group in held.items():
            ev = self._follow(self.close_wait, where, lambda where=where: CloseWaitEvidence(where))
            if ev is not None:
                ev.add(t, group)

    def _counters(self, t, counters: dict | None) -> None:
        if not counters:
            return
        if self.first_counters is None:
            self.first_counters = counters
        prev = self.prev_counters
        if prev is not None:
            for name in COUNTERS:
                if counters.get(name, 0) > prev.get(name, 0):
                    self.grew.setdefault(name, Span()).hit(t)
        self.prev_counters = self.last_counters = counters
        if t is None:
            return
        rising = rising_counters(counters)
        if self.started is not None and t - self.started <= 2 * START_S:
            self.early.append((t, rising))
        self._window(t, rising, counters)

    def _window(self, t: float, rising: dict, counters: dict) -> None:
        self.window.append((t, rising, counters.get("ActiveOpens", 0),
                            counters.get("PassiveOpens", 0)))
        while len(self.window) > 2 and t - self.window[1][0] >= WINDOW_S:
            self.window.popleft()
        if self.start_rates is None and self.early and t - self.early[0][0] >= START_S:
            self.start_rates = _rates(self.early[0], (t, rising))
        if self.start_rates is None or t - self.started < 2 * START_S:
            return
        base = self.window[0]
        if t - base[0] < WINDOW_S * 0.9:
            return
        self._judge(base, (t, rising))

    def _judge(self, base: tuple, end: tuple) -> None:
        """Compare the rates between ``base`` and ``end`` with the run's start."""
        rates = _rates(base, end)
        dt = end[0] - base[0]
        for name in RISING:
            share = _share(base, end, name)
            if rates[name] > self.peak_rates.get(name, (0.0,))[0]:
                self.peak_rates[name] = (rates[name], share, base[0], end[0])
            if rises(name, self.start_rates[name], rates[name], rates[name] * dt, share):
                self.rise.setdefault(name, Span()).cover(base[0], end[0])

    def _churn(self, t, sample: dict, rps: float | None) -> None:
        """New connections per second per destination: the closes into its client-side
        TIME_WAIT; or, when there are none to read and the sample has one destination,
        the namespace's ActiveOpens rate over the window if those connections are
        short-lived (Little's law: open sockets / rate below 1 s), as when the server
        closes first and no TIME_WAIT stays here. ActiveOpens counts every connection of
        the namespace, so with a port filter it is used only beside Locust's requests,
        when it is at most twice their rate (the connections could be theirs)."""
        rows = (sample.get("ephemeral") or {}).get("by_destination") or ()
        active, passive = self.opens_per_s(t)
        with_tw = [ev for ev in self.listeners.values() if ev.time_wait_max]
        if len(with_tw) == 1 and passive:  # the one listener closing first: its accepts
            with_tw[0].accepts_max = max(with_tw[0].accepts_max, passive)
        for row in rows:
            ev = self.destinations.get(row["remote"])
            if ev is None:
                continue
            rate, from_closes = row.get("closes_per_s", 0.0), True
            if (len(rows) == 1 and active and rate < CHURN_MIN_PER_S
                    and row.get("open", row.get("in_use", 0)) < active * SHORT_LIVED_S
                    and (not self.ports or (rps is not None and active <= 2 * rps))):
                rate, from_closes = active, False  # no client-side TIME_WAIT to read it from
            ev.connections(t, rate, rps, from_closes)

    def opens_per_s(self, t) -> tuple[float | None, float | None]:
        """(ActiveOpens, PassiveOpens) per second over the window (None: under 1 s)."""
        if len(self.window) < 2 or t is None:
            return None, None
        (t0, _r, a0, p0), (t1, _r1, a1, p1) = self.window[0], self.window[-1]
        if t1 - t0 < 1.0:
            return None, None
        return max(0.0, (a1 - a0) / (t1 - t0)), max(0.0, (p1 - p0) / (t1 - t0))

    # -- reading --------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        return (self.ended or 0.0) - (self.started or 0.0)

    def growth(self, name: str) -> int:
        """A counter's growth from the first to the last sample of the run."""
        if not self.first_counters:
            return 0
        return max(0, self.last_counters.get(name, 0) - self.first_counters.get(name, 0))

    def rise_view(self) -> dict[str, Rise]:
        """A Rise per RISING counter: the highest window after the first 2 x START_S
        against the first START_S (its span: the samples whose window rose); for a
        shorter run, its second half against its first (its span: the second half)."""
        if self.start_rates is not None and self.duration_s >= 2 * START_S:
            out = {}
            for name in RISING:
                rate, share, t0, t1 = self.peak_rates.get(name, (0.0, None, 0.0, 0.0))
                out[name] = Rise(self.start_rates[name], rate, share, t1 - t0,
                                 self.rise.get(name, Span()))
            return out
        if len(self.early) < 3:
            return {}
        first, last = self.early[0], self.early[-1]
        mid = next(e for e in self.early if e[0] >= first[0] + (last[0] - first[0]) / 2)
        start, later = _rates(first, mid), _rates(mid, last)
        span = Span(mid[0], last[0], sum(1 for e in self.early if e[0] > mid[0]))
        return {name: Rise(start[name], later[name], _share(mid, last, name),
                           last[0] - mid[0], span) for name in RISING}

    def namespace(self) -> str:
        return f"netns {self.netns}" if self.netns else "namespace"


def _rates(a: tuple, b: tuple) -> dict[str, float]:
    dt = b[0] - a[0]
    return {name: max(0.0, (b[1][name] - a[1][name]) / dt) if dt > 0 else 0.0
            for name in RISING}


def _share(a: tuple, b: tuple, name: str) -> float | None:
    """Data retransmissions as a share of the segments sent between ``a`` and ``b``."""
    if name != "data_retransmits":
        return None
    sent = b[1]["OutSegs"] - a[1]["OutSegs"]
    return (b[1][name] - a[1][name]) / sent if sent > 0 else None
