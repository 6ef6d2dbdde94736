"""The sampler on recorded kernel moments (tests/fixtures/kernel, see its record.py):
no root, no live socket. The moments hold a full listener on 127.0.0.1:7000 (backlog 3,
4 queued), an IPv6 listener on [::1]:7001 with one connection in CLOSE_WAIT, and
client-side TIME_WAIT towards 127.0.0.1:7002 (30 at t0, 50 at t1, one second later)."""

from __future__ import annotations

from collections import Counter

import pytest
from replay import Moments, ReplayReader

from harness.kernel.inet_diag import STATE_CODES, TCP_TIME_WAIT, TIMER_TIME_WAIT
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
    assert final["ages_s"] == {"time_wait": 0.0, "sysctls": 0.0}
    (dest,) = [d for d in final["ephemeral"]["by_destination"]
               if d["remote"] == "127.0.0.1:7002"]
    assert dest["in_use"] == 50  # the details of t1, not the 30 of t0
