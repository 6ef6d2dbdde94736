"""Port headroom forecast: close rate from TIME_WAIT timers, reuse, exhaustion time."""

from collections import Counter

from harness.observe.ports import (
    BUCKET_MS,
    MAX_DESTINATIONS,
    close_rate,
    ephemeral_forecast,
    forecast,
    reuse_applies,
    tw_figures,
)


def hist_of(ages_s):
    """TIME_WAIT histogram of sockets closed ``age`` seconds ago (60 - age left)."""
    return Counter(int((60 - age) * 1000) // BUCKET_MS for age in ages_s)


def test_reuse_by_setting_and_destination():
    assert reuse_applies(1, "10.0.0.1:80")
    assert reuse_applies(2, "127.0.0.5:80") and reuse_applies(2, "[::1]:80")
    assert not reuse_applies(2, "10.0.0.1:80") and not reuse_applies(2, "[fe80::1]:80")
    assert not reuse_applies(0, "127.0.0.1:80")


def test_close_rate_from_timers_of_a_long_running_load():
    ages = [i / 20 for i in range(20 * 40)]  # 20 closes/s for 40 s
    assert abs(close_rate(hist_of(ages)) - 20) < 1.5


def test_close_rate_of_a_load_younger_than_the_window():
    ages = [i / 20 for i in range(20 * 3)]  # 20 closes/s for 3 s
    assert abs(close_rate(hist_of(ages)) - 20) < 3
    assert close_rate(hist_of([30, 40])) == 0.0  # nothing recent
    assert close_rate(Counter()) == 0.0


def test_exhaustion_when_the_steady_state_exceeds_the_range():
    tw = hist_of([i / 20 for i in range(20 * 3)])  # 60 ports held, 20/s
    row = forecast("10.0.0.1:80", 0, tw_figures(tw), usable=200, tw_reuse=0)
    assert row["in_use"] == 60 and abs(row["rate_per_s"] - 20) < 3
    assert 5 < row["exhausted_in_s"] < 9  # (200 - 60) / 20 = 7
    assert row["forecast"].startswith("exhausts in ~")


def test_steady_below_the_range():
    tw = hist_of([i / 2 for i in range(2 * 40)])  # 2/s: steady 120 of 28232
    row = forecast("10.0.0.1:80", 3, tw_figures(tw), usable=28232, tw_reuse=0)
    assert row["exhausted_in_s"] is None
    assert row["forecast"] == "steady at 0% of range"


def test_reuse_leaves_only_open_sockets_binding():
    tw = hist_of([i / 20 for i in range(20 * 3)])
    row = forecast("127.0.0.1:80", 5, tw_figures(tw), usable=200, tw_reuse=2)
    assert row["exhausted_in_s"] is None and "tcp_tw_reuse=2" in row["forecast"]
    growing = forecast("127.0.0.1:80", 100, tw_figures(Counter()), usable=200, tw_reuse=2,
                       open_growth_per_s=10.0)
    assert growing["exhausted_in_s"] == 10.0


def test_ephemeral_block_sorted_by_use():
    eph = ephemeral_forecast({"a:1": 2, "b:1": 9}, {"a:1": tw_figures(hist_of([50.0]))}, 11,
                             {"ip_local_port_range": [100, 199], "tcp_tw_reuse": 0})
    assert eph["usable"] == 100 and eph["in_use"] == 11
    assert [r["remote"] for r in eph["by_destination"]] == ["b:1", "a:1"]
    assert eph["by_destination"][1]["in_use"] == 3


def test_many_destinations_keep_the_most_used_and_every_one_running_out():
    open_by = {f"10.0.0.{i}:80": i for i in range(1, 200)}
    tw = {"10.9.9.9:80": (1, 150.0)}  # hardly used, but 150 new connections a second
    eph = ephemeral_forecast(open_by, tw, 0, {"ip_local_port_range": [1000, 1999],
                                              "tcp_tw_reuse": 0})
    assert eph["destinations"] == 200
    rows = eph["by_destination"]
    assert len(rows) == MAX_DESTINATIONS + 1
    assert rows[0]["remote"] == "10.0.0.199:80" and rows[-1]["remote"] == "10.9.9.9:80"
    assert rows[-1]["exhausted_in_s"] is not None
