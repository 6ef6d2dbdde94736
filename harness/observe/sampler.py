"""The sampler: a snapshot every interval with rates, leaks, queues and port forecasts.

One sample is cheap whatever the number of TIME_WAIT sockets:
- the listeners come from a LISTEN-only dump (it walks no established hash), then the
  sockets in every other state but TIME_WAIT, both families from one walk of the
  kernel's hash (sockdiag.ONE_WALK): ESTABLISHED ones counted and their client sockets
  grouped by destination straight from the bytes (kernel/open_groups.py: at 200,000
  of them decoding each cost five times the dump), the others (few) decoded;
- without a port or cgroup filter, that walk's ESTABLISHED part (the grouping by
  destination: the open sockets per destination and the ports they hold, in
  ``ephemeral``) is refreshed under the CPU budget like the TIME_WAIT details, and the
  samples between send no ESTABLISHED socket across netlink: the other states are
  dumped and decoded, and the ESTABLISHED count is Tcp CurrEstab (/proc/net/snmp, read
  with the counters) less the dumped CLOSE_WAIT sockets where the kernel counts those in
  CurrEstab (since 2024, Linux 6.10; before, CurrEstab is ESTABLISHED alone). Which of
  the two the kernel does is learnt from full walks with CLOSE_WAIT sockets in them
  (CurrEstab equal to exactly one of ESTABLISHED and ESTABLISHED + CLOSE_WAIT, in two
  walks in a row); until it is known, a sample with CLOSE_WAIT sockets walks them all.
  At 250,000 sockets this is ~70 ms of CPU a sample instead of ~420
  (docs/performance.md);
- the TIME_WAIT count comes from /proc/net/sockstat (O(1)) without a port filter; with
  one, from the TIME_WAIT details below when they are dumped in the sample (every
  sample at intervals >= 1 s), else from a dump counted from the raw bytes
  (kernel/dump_columns.py: no object and no Python step per socket) of the TIME_WAIT
  sockets on the ports, or, when those are most of the namespace's, of the ones on
  other ports, subtracted from sockstat's count;
- the TIME_WAIT details (expiry histogram, ports in use per destination) come from a
  TIME_WAIT-only dump aggregated from the raw bytes (timewait.py over
  kernel/dump_columns.py), refreshed every ``detail_s`` seconds (1 s by default;
  every sample at intervals >= 1 s), or less often when the CPU budget (budget.py,
  ``cpu_budget`` of one core) does not allow it: the count stays exact every sample,
  only the expiry histogram and per destination TIME_WAIT ports are older, and
  ``ages_s`` says by how much; the sysctls and the owner lookups of new sockets share
  the same budget;
- owners are looked up once per socket, for listeners, and for CLOSE_WAIT sockets once
  they have lasted ``OWNER_AFTER_S`` (or the leak threshold, if shorter): a normal close
  passes through CLOSE_WAIT in micro- to milliseconds, and under load looking each of
  those up (every process's fds read, often for a socket already gone) was a quarter
  of a sample's CPU. Until then a CLOSE_WAIT row's pid, fd and process are None.
History is bounded (``history`` samples), so memory stays flat over long runs.

Everything read from the kernel goes through ``reader`` (kernel.reader.NamespaceReader
by default), so a test can run the sampler on recorded bytes without root; ``clock``
gives the sample's time. A one-shot snapshot is a Sampler's first sample with
``owner_after_s=0`` (every owner looked up) and ``meter=False`` (no cost section).
``fold`` folds each sample into ``run`` (summary.RunSummary: the run's summary and
findings, what `record` and `doctor` end with); a sampler whose samples are folded
elsewhere or not at all (snapshot, watch, the exporter, the Locust child) passes False
and never imports the rules.
"""

from __future__ import annotations

import socket
import time
from collections import deque

from harness.kernel import inet_diag as wire
from harness.kernel.open_groups import TCP_CLOSE_WAIT, TCP_ESTABLISHED, OpenGroups
from harness.kernel.reader import NamespaceReader
from harness.kernel.sockdiag import FAMILIES, ONE_WALK, DumpResult
from harness.kernel.sockstat import minisockets, time_wait
from harness.kernel.tcp_states import NOT_TIME_WAIT, STATE_CODES, STATES
from harness.observe.budget import Budget, running_mean
from harness.observe.leaks import DEFAULT_THRESHOLD_S, LeakTracker, OwnerCache, close_wait_rows
from harness.observe.listeners import flag_listeners, listener_rows
from harness.observe.ports import (
    ephemeral_forecast,
    split_by_destination,
    syn_sent_by_destination,
    tw_figures,
)
from harness.observe.timewait import TimeWaitGroups, TimeWaitView, time_wait_analysis
from harness.schema.version import SCHEMA

OPEN_NOT_LISTENING = [s for s in NOT_TIME_WAIT if s != "LISTEN"]
NOT_ESTABLISHED = [s for s in OPEN_NOT_LISTENING if s != "ESTABLISHED"]
RATE_WINDOW_S = 10.0  # growth rates compare with the sample about this long ago
DEFAULT_CPU_BUDGET = 0.05  # of one core, for everything but the exact counts
LEARN_WALKS = 2  # full walks in a row that must agree on what CurrEstab counts
OWNER_AFTER_S = 0.5  # a CLOSE_WAIT socket's owner is looked up once it has lasted this long
# A quiet namespace's sockets are walked again after this long and this many samples
# (both: a sample slower than QUIET_MAX_S would otherwise walk every namespace again,
# every sample): a bound on what no counter shows, such as the queue bytes.
QUIET_MAX_S = 60.0
QUIET_MAX_SAMPLES = 10
# What changes whenever a socket other than TIME_WAIT is made, changes state or goes: a
# segment in or out, a socket hashed or unhashed (sockstat inuse), an orphan.
QUIET_COUNTERS = ("InSegs", "OutSegs", "RetransSegs")
# The kernel counters a sample carries (Tcp and TcpExt names, as nstat shows them).
COUNTERS = (
    "ListenOverflows", "ListenDrops", "TW", "TWRecycled", "TWKilled", "ActiveOpens",
    "PassiveOpens", "AttemptFails", "EstabResets", "OutRsts", "OutSegs", "RetransSegs",
    "TCPTimeouts", "TCPSynRetrans", "TCPAbortOnTimeout", "TCPAbortOnClose",
    "SyncookiesSent", "TCPReqQFullDrop", "TCPReqQFullDoCookies", "TCPTimeWaitOverflow",
)


def state_counts(records, codes) -> dict[str, int]:
    """records.States: ``codes`` (sockets per TCP_* code, OpenGroups.codes, which counts
    every state but LISTEN) and the listeners among ``records``."""
    listeners = sum(1 for r in records if r.state == "LISTEN")
    return {name: listeners if name == "LISTEN" else codes[STATE_CODES[name]]
            for name in STATES}


class _Meter:
    """The sampling process's own CPU and memory (psutil, imported on first use)."""

    def __init__(self):
        import psutil

        self._proc = psutil.Process()

    def read(self, sample_s: float, missed: int) -> dict:
        cpu = self._proc.cpu_times()
        return {"cpu_s": round(cpu.user + cpu.system, 3),
                "rss_bytes": self._proc.memory_info().rss, "sample_s": round(sample_s, 6),
                "missed": missed}


class Sampler:
    """``sample()`` returns one records.Sample; ``summary()`` the run's records.Summary."""

    def __init__(self, netns: str | None = None, ports=(), interval: float = 1.0,
                 leak_threshold_s: float = DEFAULT_THRESHOLD_S, detail_s: float = 1.0,
                 history: int | None = None, *, reader=None, clock=time.time,
                 owner_after_s: float = OWNER_AFTER_S, meter: bool = True,
                 cpu_budget: float = DEFAULT_CPU_BUDGET, fold: bool = True,
                 reuse_quiet: bool = False, cgroup_ids=()):
        self.netns = netns
        self.reader = reader if reader is not None else NamespaceReader(netns)
        self.netns_inode = getattr(self.reader, "inode", None)  # None: a replayed reading
        self.ports = tuple(ports)
        self.interval = interval
        self.detail_s = detail_s
        self.clock = clock
        self.owner_after_s = owner_after_s
        self._meter = _Meter() if meter else None
        self._owners = OwnerCache(self.reader.owners)
        self.leaks = LeakTracker(leak_threshold_s)
        n = history or max(2, int(max(60.0, RATE_WINDOW_S) / interval) + 1)
        self.history: deque = deque(maxlen=n)  # (time, states, tw count, open per dest)
        self._prev: tuple[float, dict] | None = None
        self.budget = Budget(cpu_budget, interval,
                             {"time_wait": detail_s, "sysctls": detail_s})
        self._tw: TimeWaitView | None = None
        self._tw_figures: dict = {}  # remote -> (TIME_WAIT, closes/s) of self._tw
        self._tw_walk = ONE_WALK
        self._sysctls: dict | None = None
        self._tw_mostly_ours = False  # most TIME_WAIT sockets are on self.ports
        self._ever_full: set[str] = set()
        self.reuse_quiet = reuse_quiet  # see _open_sockets
        self._walked: tuple | None = None  # (quiet key, time, sample, records, groups)
        self._estab: OpenGroups | None = None  # the last walk with ESTABLISHED grouped
        self._cw_in_curr: bool | None = None  # CurrEstab counts CLOSE_WAIT (None: unknown)
        self._cw_word: tuple[bool | None, int] = (None, 0)  # _learn: the last word, times
        self._close_wait = 0  # CLOSE_WAIT sockets of the last walk of the open sockets
        self._rest_cost: float | None = None  # CPU of a walk without ESTABLISHED, averaged
        self._samples = 0
        self.walks_saved = 0  # samples that reused a quiet namespace's walk
        # --cgroup: filtered in the kernel (INET_DIAG_BC_CGROUP_COND); no TIME_WAIT
        # minisocket has a cgroup, so the filter leaves them all out
        self.cgroup_ids = tuple(cgroup_ids)
        self._cg = {"cgroup_ids": self.cgroup_ids} if self.cgroup_ids else {}
        self._cgroups = None  # kernel.cgroups.CgroupPaths, made for the first cgroup id
        self.run = None
        if fold:  # the run's summary and findings (the rules' imports only where asked)
            from harness.observe.summary import RunSummary

            self.run = RunSummary()

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _time_wait(self, now: float, listening: set[int], port_range,
                   sockstat: dict) -> tuple[TimeWaitView, float | None]:
        """The TIME_WAIT details, refreshed when the budget says they are due; and the
        CPU seconds the refresh took (None: not dumped in this sample)."""
        if self._tw is not None and not self.budget.due("time_wait", now):
            return self._tw, None
        cpu = time.process_time()
        groups = TimeWaitGroups(listening, port_range)
        if minisockets(sockstat) and not self.cgroup_ids:  # none: nothing to dump
            self.reader.scan(groups.add_chunk, ["TIME_WAIT"], self.ports, self._tw_walk,
                             reset=groups.clear)
        # One walk for both families while there is no IPv6 TIME_WAIT: with both, a
        # dump per family keeps each reply uniform (the column-counting fast path).
        self._tw_walk = FAMILIES if socket.AF_INET6 in groups.families else ONE_WALK
        self._tw = TimeWaitView(groups)
        self._tw_figures = {remote: tw_figures(h) for remote, h in self._tw.by_dest.items()}
        cost = time.process_time() - cpu
        self.budget.spent("time_wait", cost, now)
        return self._tw, cost

    def _time_wait_count(self, records, sockstat: dict, fresh: TimeWaitView | None) -> int:
        """TIME_WAIT sockets on ``self.ports``: ``fresh.count`` when the details were
        dumped in this sample (a TIME_WAIT-only dump with the port filter: FIN_WAIT2
        minisockets are not in it), else counted from the raw bytes of a dump.

        When most of the namespace's TIME_WAIT sockets are on these ports (a load test's
        target), the others are counted instead and subtracted from sockstat's ``tw``
        (``sockstat``: read just before ``records``; it also holds the FIN_WAIT2
        minisockets, ours from ``records`` and the others from the same dump), so the
        many sockets of the port never cross netlink.
        """
        total = minisockets(sockstat)
        if fresh is not None:
            count = fresh.count
        elif self._tw_mostly_ours:
            codes, fw2_mini, _ok = self.reader.count_codes(
                ["TIME_WAIT", "FIN_WAIT2"], self.ports, exclude_ports=True, families=ONE_WALK)
            count = max(0, total - codes[wire.TCP_TIME_WAIT] - fw2_mini
                        - _fin_wait2_minisockets(records))
        else:
            codes, _fw2, _ok = self.reader.count_codes(["TIME_WAIT"], self.ports,
                                                       families=ONE_WALK)
            count = codes[wire.TCP_TIME_WAIT]
        self._tw_mostly_ours = 2 * count > total
        return count

    def _open_sockets(self, port_range, sockstat: dict,
                      flat: dict, now: float) -> tuple[list, OpenGroups, bool, float]:
        """(decoded records, groups, consistent, CPU seconds of the budgeted grouping) of
        every socket but TIME_WAIT: the listeners decoded from a LISTEN-only dump (it
        walks no established hash), then the other states in one walk of both families
        (ONE_WALK: the kernel walks its whole established hash for a dump whatever the
        family): _walk_open.

        ``reuse_quiet`` (the host-wide sampler's): the other states are walked only when
        the namespace has changed since they were last walked. The established hash is
        shared by every namespace of the host, so that walk costs what the host's
        sockets number, and a namespace where nothing happened has nothing new in it:
        its sockets other than TIME_WAIT change only with a segment sent or received
        (Tcp InSegs, OutSegs, RetransSegs) or a socket hashed, unhashed or orphaned
        (sockstat inuse, orphan), all read before the walk; a FIN_WAIT2 minisocket ends
        silently, so a namespace holding one is always walked, and every namespace at
        least every QUIET_MAX_S and QUIET_MAX_SAMPLES.

        An empty namespace (sockstat: no TCP socket in use, which counts every hashed
        one, listeners and SYN_SENT included; no minisocket) is not dumped at all: its
        dumps would walk the whole shared established hash to find nothing."""
        self._samples += 1
        listen = DumpResult()

        def consume(buf, n, result):  # listeners are few: each carries its cgroup id
            wire.decode_chunk_cgroup(buf, n, listen.append, result)

        tcp, tcp6 = sockstat.get("TCP", {}), sockstat.get("TCP6", {})
        key = (tcp.get("inuse"), tcp6.get("inuse"), tcp.get("orphan"),
               *(flat.get(name) for name in QUIET_COUNTERS))
        if _empty(sockstat):
            self._walked = None
            return [], OpenGroups(set(), port_range), True, 0.0
        ok = self.reader.scan(consume, ["LISTEN"], self.ports, ONE_WALK, reset=listen.clear,
                              **self._cg)
        walked = self._walked
        optional = 0.0
        if (not self.reuse_quiet or walked is None or walked[0] != key
                or (now - walked[1] >= QUIET_MAX_S
                    and self._samples - walked[2] >= QUIET_MAX_SAMPLES)
                or any(r.state == "FIN_WAIT2" for r in walked[3])):
            groups, walk_ok, optional = self._walk_open({r.sport for r in listen}, port_range,
                                                        flat.get("CurrEstab"), now)
            self._walked = walked = (key, now, self._samples, groups.records, groups,
                                     walk_ok)
        else:
            self.walks_saved += 1
        return [*listen, *walked[3]], walked[4], ok and walked[5], optional

    def _walk_open(self, listening: set[int], port_range, curr_estab: int | None,
                   now: float) -> tuple[OpenGroups, bool, float]:
        """(groups, consistent, CPU seconds drawn from the budget) of one walk of the
        open sockets but the listeners.

        A full walk counts and groups the ESTABLISHED sockets from the bytes
        (kernel.open_groups) and decodes the rest. Without a port or cgroup filter (the
        namespace's every socket is asked for, as CurrEstab counts them) the grouping is
        a budgeted part, "established": between its refreshes the walk leaves the
        ESTABLISHED sockets in the kernel, their count is CurrEstab less the walk's
        CLOSE_WAIT sockets (or CurrEstab itself, on a kernel whose CurrEstab leaves
        CLOSE_WAIT out), and the per-destination figures are the last full walk's. What
        a full walk costs beyond the walk without ESTABLISHED is what the budget pays.
        """
        counted = not self.ports and not self.cgroup_ids and curr_estab is not None
        # Until the kernel's CurrEstab is known, only a namespace that had no CLOSE_WAIT
        # in its last walk tries the walk without ESTABLISHED: one that has some would be
        # walked a second time, whole (the first walk cannot give the count).
        known = self._cw_in_curr is not None or self._close_wait == 0
        if (counted and known and self._estab is not None
                and not self.budget.due("established", now)):
            cpu = time.process_time()
            rest, ok = self._scan_open(listening, port_range, NOT_ESTABLISHED)
            self._close_wait = close_wait = rest.codes[TCP_CLOSE_WAIT]
            if close_wait == 0 or self._cw_in_curr is not None:
                rest.codes[TCP_ESTABLISHED] = max(
                    0, curr_estab - (close_wait if self._cw_in_curr else 0))
                rest.borrow_grouping(self._estab)
                self._rest_cost = running_mean(self._rest_cost, time.process_time() - cpu)
                return rest, ok, 0.0
            # CLOSE_WAIT sockets and a kernel not known yet: the full walk tells
        cpu = time.process_time()
        groups, ok = self._scan_open(listening, port_range, OPEN_NOT_LISTENING)
        if not counted:
            return groups, ok, 0.0
        established = groups.codes[TCP_ESTABLISHED]
        self._close_wait = close_wait = groups.codes[TCP_CLOSE_WAIT]
        if close_wait and (curr_estab == established + close_wait) != (curr_estab == established):
            self._learn(curr_estab == established + close_wait)
        self._estab = groups
        cost = max(0.0, time.process_time() - cpu - (self._rest_cost or 0.0))
        self.budget.spent("established", cost, now)
        return groups, ok, cost

    def _scan_open(self, listening: set[int], port_range, states) -> tuple[OpenGroups, bool]:
        """One walk of the open sockets in ``states`` through the port and cgroup
        filters, grouped (kernel.open_groups)."""
        groups = OpenGroups(listening, port_range)
        ok = self.reader.scan(groups.add_chunk, states, self.ports, ONE_WALK,
                              reset=groups.clear, **self._cg)
        return groups, ok

    def _learn(self, counts_close_wait: bool) -> None:
        """One full walk's word on whether CurrEstab counts CLOSE_WAIT; taken once two
        walks in a row say the same. CurrEstab is read a moment before the walk, so under
        churn one walk can match the wrong sum by chance (ESTABLISHED having grown by the
        CLOSE_WAIT count meanwhile); twice in a row is what a kernel does, not a race."""
        said, times = self._cw_word
        self._cw_word = (counts_close_wait, times + 1 if said == counts_close_wait else 1)
        if self._cw_word[1] >= LEARN_WALKS:
            self._cw_in_curr = counts_close_wait

    def sample(self, missed: int = 0, final: bool = False) -> dict:
        """One records.Sample; ``missed``: ticks its loop skipped so far (loop.Schedule);
        ``final``: the last of a run, every part refreshed whatever the budget."""
        if final:
            self.budget.done_at.clear()  # nothing is "done" yet: everything is due
        started, cpu_started = time.monotonic(), time.process_time()
        optional = 0.0  # CPU seconds of the parts under the budget, in this sample
        now = self.clock()
        sockstat = self.reader.sockstat()
        flat = self.reader.counters()  # before the dumps: what changes after is seen next
        if self._sysctls is None or self.budget.due("sysctls", now):
            cpu = time.process_time()
            self._sysctls = self.reader.sysctls()
            cost = time.process_time() - cpu
            self.budget.spent("sysctls", cost, now)
            optional += cost
        sysctls = self._sysctls
        port_range = sysctls.get("ip_local_port_range", [32768, 60999])
        records, groups, consistent, cost = self._open_sockets(port_range, sockstat, flat, now)
        optional += cost
        counters = {name: flat[name] for name in COUNTERS if name in flat}
        states = state_counts(records, groups.codes)
        listening = {r.sport for r in records if r.state == "LISTEN"}
        tw, tw_cost = self._time_wait(now, listening, port_range, sockstat)
        if tw_cost is not None:
            optional += tw_cost
        if self.cgroup_ids:
            states["TIME_WAIT"] = 0  # a minisocket has no cgroup
        elif self.ports:
            states["TIME_WAIT"] = self._time_wait_count(
                records, sockstat, tw if tw_cost is not None else None)
        else:
            states["TIME_WAIT"] = time_wait(sockstat, _fin_wait2_minisockets(records))

        cw = [r for r in records if r.state == "CLOSE_WAIT"]
        if self.owner_after_s > 0:
            cw = self.leaks.lasted(cw, now, min(self.owner_after_s, self.leaks.threshold_s))
        wanted = [r for r in records if r.state == "LISTEN"] + cw
        lookup = self.budget.due("owners", now)
        cpu = time.process_time()
        owners = self._owners.resolve(wanted, lookup=lookup)
        if lookup:
            cost = time.process_time() - cpu
            self.budget.spent("owners", cost, now)
            optional += cost
        rates = self._rates(now, counters)
        listeners = listener_rows(records, owners)
        flag_listeners(listeners, rates.get("ListenOverflows"), self._ever_full)
        port_of = {r.local: r.sport for r in records if r.state == "LISTEN"}
        for row in listeners:  # server-side TIME_WAIT: the server closed first
            row["time_wait"] = tw.on_port(port_of[row["local"]])
        close_wait = close_wait_rows(records, owners)
        self._add_cgroups(records, listeners, close_wait)
        leaks = self.leaks.update(close_wait, now)

        open_by, _none, _n = split_by_destination(records, sysctls)
        open_by.update(groups.open_by_remote())
        open_ports = {r.sport for r in records} - listening
        past = self._past(now)
        growth = None
        open_growth = {}
        if past is not None:
            dt = now - past[0]
            growth = (states["TIME_WAIT"] - past[2]) / dt
            open_growth = {d: (n - past[3].get(d, 0)) / dt for d, n in open_by.items()}
        in_use = tw.ports_in_use(open_ports, groups.ports)
        ephemeral = ephemeral_forecast(open_by, self._tw_figures, in_use, sysctls, open_growth,
                                       syn_sent_by_destination(records))
        self.history.append((now, states, states["TIME_WAIT"], dict(open_by)))
        sample = {
            "schema": SCHEMA,
            "time": round(now, 3),
            "netns": self.netns,
            "netns_inode": self.netns_inode,
            "consistent": consistent,
            "interval_s": self.interval,
            "ports": list(self.ports),
            "states": states,
            "listeners": listeners,
            "close_wait": close_wait,
            "leaks": leaks,
            "time_wait": time_wait_analysis(states["TIME_WAIT"], tw.hist, growth),
            "ephemeral": ephemeral,
            "counters": counters,
            "rates": rates,
            "sysctls": sysctls,
            "ages_s": {"time_wait": self.budget.age("time_wait", now),
                       "sysctls": self.budget.age("sysctls", now),
                       "established": self.budget.age("established", now)},
        }
        self.budget.exact(time.process_time() - cpu_started - optional)
        if self._meter is not None:
            sample["sampler"] = self._meter.read(time.monotonic() - started, missed)
        if self.run is not None:
            self.run.add(sample)
        return sample

    def _add_cgroups(self, records, listeners: list, close_wait: list) -> None:
        """``cgroup`` on the listener and CLOSE_WAIT rows whose records carry their
        cgroup id (a dump that decodes INET_DIAG_CGROUP_ID): a dict lookup each, the
        cgroup tree walked only for an id not seen before (kernel.cgroups)."""
        ids = {}
        for r in records:
            cgroup_id = getattr(r, "cgroup_id", None)
            if cgroup_id is not None and r.state in ("LISTEN", "CLOSE_WAIT"):
                ids[r.local if r.state == "LISTEN" else r.cookie] = cgroup_id
        if not ids:
            return
        if self._cgroups is None:
            from harness.kernel.cgroups import available

            self._cgroups = available() or False  # False: no cgroup2 mounted here
        if not self._cgroups:
            return
        for row in listeners:
            path = self._cgroups.path(ids.get(row["local"]))
            if path is not None:
                row["cgroup"] = path
        for row in close_wait:
            path = self._cgroups.path(ids.get(row["cookie"]))
            if path is not None:
                row["cgroup"] = path

    def _rates(self, now: float, counters: dict) -> dict:
        prev, self._prev = self._prev, (now, counters)
        if prev is None or now <= prev[0]:
            return {}
        dt = now - prev[0]
        return {k: round((v - prev[1][k]) / dt, 3) for k, v in counters.items() if k in prev[1]}

    def _past(self, now: float):
        """The oldest kept sample within RATE_WINDOW_S, for growth rates."""
        for entry in self.history:
            if now - entry[0] <= RATE_WINDOW_S and now > entry[0]:
                return entry
        return None

    def summary(self, eaddrnotavail: int = 0) -> dict:
        """The records.Summary of the samples taken so far (a folding sampler's)."""
        if self.run is None:
            raise ValueError("this sampler does not fold its samples (fold=False)")
        return self.run.summary(eaddrnotavail)


def _empty(sockstat: dict) -> bool:
    """No TCP socket in the namespace: sockstat says so (inuse 0 in both families, no
    TIME_WAIT or FIN_WAIT2 minisocket)."""
    tcp, tcp6 = sockstat.get("TCP", {}), sockstat.get("TCP6", {})
    return tcp.get("inuse") == 0 and tcp6.get("inuse", 0) == 0 and minisockets(sockstat) == 0


def _fin_wait2_minisockets(records) -> int:
    """The orphaned FIN_WAIT2 sockets among ``records`` that are minisockets (timer 3)."""
    return sum(1 for r in records if r.state == "FIN_WAIT2" and r.timer == wire.TIMER_TIME_WAIT)
