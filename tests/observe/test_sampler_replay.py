"""The sampler on recorded kernel moments (tests/fixtures/kernel, see its record.py):
no root, no live socket. The moments hold a full listener on 127.0.0.1:7000 (backlog 3,
4 queued), an IPv6 listener on [::1]:7001 with one connection in CLOSE_WAIT, and
client-side TIME_WAIT towards 127.0.0.1:7002 (30 at t0, 50 at t1, one second later)."""

from __future__ import annotations

from collections import Counter

import pytest
from replay import Moments, ReplayReader

from harness.kernel.inet_diag import TCP_TIME_WAIT, TIMER_TIME_WAIT
from harness.kernel.tcp_states import STATE_CODES
from harness.observe import snapshot
from harness.observe.sampler import Sampler
from harness.schema.validate import check_line

TCP_CLOSE_WAIT = STATE_CODES["CLOSE_WAIT"]


def decoded_states(reader: ReplayReader) -> Counter:
    return Counter(r.state for r in reader.records())


def test_states_match_the_recorded_dump_and_sockstat():
    reader = ReplayReader("t0")
    s = snapshot.take(reader=reader)
    check_line(s)
    want = decoded_states(reader)
    for state, n in s["states"].items():
        if state != "TIME_WAIT":
            assert n == want.get(state, 0), state
    # without a port filter TIME_WAIT is sockstat's tw less the FIN_WAIT2 minisockets
    # (the open-socket dump leaves TIME_WAIT out): the same count the dump holds
    fw2_mini = sum(1 for r in reader.records()
                   if r.state == "FIN_WAIT2" and r.timer == TIMER_TIME_WAIT)
    assert fw2_mini == 1  # the CLOSE_WAIT's client, orphaned
    assert s["states"]["TIME_WAIT"] == want["TIME_WAIT"] == 30
    # the listeners alone first (that dump walks no established hash), then the rest
    listen_mask, open_mask = reader.scans[0][0], reader.scans[1][0]
    assert listen_mask == 1 << STATE_CODES["LISTEN"]
    assert not open_mask & (1 << TCP_TIME_WAIT | listen_mask)
    assert open_mask & (1 << TCP_CLOSE_WAIT)


def test_listener_rows_owners_and_close_wait():
    s = snapshot.take(reader=ReplayReader("t0"))
    rows = {r["local"]: r for r in s["listeners"]}
    full = rows["127.0.0.1:7000"]
    assert (full["accept_queue"], full["backlog"], full["full"]) == (4, 3, True)
    assert full["fill"] == 1.0 and full["pid"] and full["process"] == "python"
    assert s["listeners"][0] is full  # fullest first
    (cw,) = s["close_wait"]
    assert cw["local"] == "[::1]:7001" and cw["pid"] == full["pid"] and cw["fd"] is not None


def test_two_moments_give_rates_ages_and_a_leak():
    moments = Moments("t0", "t1")
    with Sampler(reader=moments, clock=moments, leak_threshold_s=0.5, meter=False) as sampler:
        first = sampler.sample()
        moments.next()
        second = sampler.sample()
        summary = sampler.summary()
    for doc in (first, second):
        check_line(doc)
    dt = second["time"] - first["time"]
    assert 1.0 <= dt < 2.0
    assert first["rates"] == {}
    opens = second["counters"]["ActiveOpens"] - first["counters"]["ActiveOpens"]
    assert opens == 20 and second["rates"]["ActiveOpens"] == pytest.approx(opens / dt, 0.01)
    (cw,) = second["close_wait"]
    assert cw["age_s"] == pytest.approx(dt, abs=0.01) and cw["leak"] is True
    assert cw["pid"] is not None  # looked up once it had lasted 0.5 s
    assert first["close_wait"][0]["pid"] is None  # not in the first sample
    tw = second["time_wait"]
    assert tw["count"] == 50 and tw["growth_per_s"] == pytest.approx(20 / dt, 0.01)
    (dest,) = [d for d in second["ephemeral"]["by_destination"]
               if d["remote"] == "127.0.0.1:7002"]
    assert dest["in_use"] == 50
    assert summary["peaks"]["TIME_WAIT"] == 50 and summary["leaks"]["count"] == 1
    assert summary["listeners_ever_full"] == ["127.0.0.1:7000"]


def test_a_port_filter_counts_only_that_ports_time_wait():
    reader = ReplayReader("t1")
    s = snapshot.take(ports=[7002], reader=reader)
    check_line(s)
    assert s["states"]["TIME_WAIT"] == 50 and s["states"]["LISTEN"] == 1
    assert [r["local"] for r in s["listeners"]] == ["127.0.0.1:7002"]
    assert s["close_wait"] == []
    assert all(ports == (7002,) for _mask, ports, _x in reader.scans)


def test_the_final_sample_of_a_run_is_whole_whatever_the_budget():
    moments = Moments("t0", "t1")
    with Sampler(reader=moments, clock=moments, meter=False, cpu_budget=0.001) as sampler:
        sampler.sample()
        sampler.budget.exact(1.0)  # as if every sample cost a second: nothing is left
        moments.next()
        starved = sampler.sample()
        final = sampler.sample(final=True)
    assert starved["ages_s"]["time_wait"] > 1.0 and starved["time_wait"]["count"] == 50
    assert final["ages_s"] == {"time_wait": 0.0, "sysctls": 0.0, "established": 0.0}
    (dest,) = [d for d in final["ephemeral"]["by_destination"]
               if d["remote"] == "127.0.0.1:7002"]
    assert dest["in_use"] == 50  # the details of t1, not the 30 of t0


class CurrEstabOf:
    """The reader of ``moments`` with Tcp CurrEstab of moment i set by ``curr(i, flat)``:
    a kernel whose counter says otherwise than the recorded one."""

    def __init__(self, moments: Moments, curr):
        self.moments, self.curr = moments, curr

    def __getattr__(self, name):
        return getattr(self.moments, name)

    def counters(self) -> dict:
        flat = self.moments.counters()
        flat["CurrEstab"] = self.curr(self.moments.at, flat)
        return flat


def _starved_pair(curr, ports=()) -> tuple[dict, dict, list]:
    """Samples of t0 (two: the kernel's CurrEstab is learnt from two walks that agree)
    and t1 with no budget left after them; and the scans of t1."""
    moments = Moments("t0", "t0", "t1")
    reader = CurrEstabOf(moments, curr)
    with Sampler(reader=reader, clock=moments, meter=False, cpu_budget=0.001,
                 ports=ports) as sampler:
        first = sampler.sample()
        moments.next()
        sampler.sample()
        sampler.budget.exact(1.0)
        moments.next()
        second = sampler.sample()
    for doc in (first, second):
        check_line(doc)
    return first, second, moments.readers[2].scans


ESTABLISHED_BIT = 1 << STATE_CODES["ESTABLISHED"]


def test_between_groupings_established_is_curr_estab_less_the_dumped_close_wait():
    # recorded: 10 ESTABLISHED + 1 CLOSE_WAIT, CurrEstab 11 (Linux >= 6.10 counts both);
    # at t1 the counter says 5 more: the count follows the counter, not a dump
    first, second, scans = _starved_pair(lambda at, flat: flat["CurrEstab"] + 5 * (at == 2))
    assert first["states"]["ESTABLISHED"] == 10 and first["ages_s"]["established"] == 0.0
    assert second["states"]["ESTABLISHED"] == 15 and second["states"]["CLOSE_WAIT"] == 1
    open_walks = [mask for mask, _p, _x in scans if mask != 1 << STATE_CODES["LISTEN"]]
    assert open_walks and not any(mask & ESTABLISHED_BIT for mask in open_walks)
    assert second["ages_s"]["established"] == pytest.approx(second["time"] - first["time"])
    assert second["close_wait"] and second["close_wait"][0]["local"] == "[::1]:7001"


def test_a_kernel_whose_curr_estab_leaves_close_wait_out_is_learnt_from_the_first_walk():
    # CurrEstab == ESTABLISHED alone (Linux < 6.10): 10 at t0, then 10 + 3
    first, second, _scans = _starved_pair(lambda at, flat: flat["CurrEstab"] - 1 + 3 * (at == 2))
    assert first["states"]["ESTABLISHED"] == 10
    assert second["states"]["ESTABLISHED"] == 13


def test_with_close_wait_and_a_counter_that_matches_neither_reading_every_walk_is_full():
    first, second, scans = _starved_pair(lambda at, flat: 99)
    assert first["states"]["ESTABLISHED"] == second["states"]["ESTABLISHED"] == 10
    assert any(mask & ESTABLISHED_BIT for mask, _p, _x in scans)


def test_a_port_filter_walks_the_established_sockets_every_sample():
    # CurrEstab counts the namespace, not a port: with a filter it is never used, even
    # where it agrees with the port's sockets (ESTABLISHED + its one CLOSE_WAIT, then 5
    # more that are not on the port)
    on_port = sum(1 for r in ReplayReader("t1").records()
                  if r.state == "ESTABLISHED" and 7001 in (r.sport, r.dport))
    first, second, scans = _starved_pair(lambda at, flat: on_port + 1 + 5 * (at == 2),
                                         ports=[7001])
    assert first["states"]["CLOSE_WAIT"] == 1
    assert first["states"]["ESTABLISHED"] == second["states"]["ESTABLISHED"] == on_port
    assert any(mask & ESTABLISHED_BIT for mask, _p, _x in scans)
    assert second["ages_s"]["established"] == 0.0


def test_one_walk_that_matches_the_other_sum_by_chance_does_not_teach_the_sampler():
    # t0 twice: the first walk's CurrEstab is ESTABLISHED alone (as if one more had
    # opened between the counter and the walk), the second's ESTABLISHED + CLOSE_WAIT:
    # no two walks agree, so t1 (with CLOSE_WAIT) is walked whole
    _first, second, scans = _starved_pair(
        lambda at, flat: flat["CurrEstab"] + (-1, 0, 7)[at])
    assert second["states"]["ESTABLISHED"] == 10
    assert any(mask & ESTABLISHED_BIT for mask, _p, _x in scans)


def test_a_kernel_not_known_yet_with_close_wait_is_walked_once_a_sample():
    # the last walk had CLOSE_WAIT and the counter matches neither sum: the walk without
    # ESTABLISHED could not give the count, so it is not tried before the whole walk
    _first, _second, scans = _starved_pair(lambda at, flat: 99)
    listen_only = 1 << STATE_CODES["LISTEN"]
    tw_only = 1 << TCP_TIME_WAIT
    open_walks = [mask for mask, _p, _x in scans if mask not in (listen_only, tw_only)]
    assert len(open_walks) == 1 and open_walks[0] & ESTABLISHED_BIT
