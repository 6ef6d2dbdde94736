"""The plugin's pure parts: rules, the collector's totals and summary, CSV rows, host lock."""

from __future__ import annotations

import argparse
import csv

import pytest

from harness.kernel.tcp_states import STATES
from harness.load.arguments import Settings, parse_rule, port_of_host
from harness.load.collector import Collector
from harness.load.csv_sink import COLUMNS, TcpCsv
from harness.load.hostkey import HostLock
from harness.load.rows import host_row, iso_utc


def sample(t, cookies=(), listen_overflows=0, **states):
    return {
        "time": t, "states": {**dict.fromkeys(STATES, 0), **states},
        "listeners": [{"local": "127.0.0.1:7000", "accept_queue": 3, "backlog": 5}],
        "close_wait": [{"cookie": c} for c in cookies],
        "ephemeral": {"usable": 100, "in_use": 40,
                      "by_destination": [{"remote": "127.0.0.1:7000", "in_use": 40,
                                          "fraction": 0.4}]},
        "counters": {"ListenOverflows": listen_overflows},
    }


def test_parse_rule_accepts_states_and_run_figures():
    assert str(parse_rule("CLOSE_WAIT=0")) == "CLOSE_WAIT=0"
    assert parse_rule("ephemeral_fraction=0.5").limit == 0.5
    for bad in ("CLOSE_WAIT", "BOGUS=1", "leaks=x", "leaks=-1"):
        with pytest.raises(ValueError):
            parse_rule(bad)


def test_settings_from_worker_options_and_host_port():
    options = argparse.Namespace(
        socklife_interval=0.5, socklife_netns=None, socklife_port=[7000],
        socklife_max=["TIME_WAIT=10"],  # as the master ships them: text
        socklife_record=None, csv_prefix="run")
    s = Settings.from_options(options)
    assert (s.interval, s.ports, [str(r) for r in s.rules]) == (0.5, (7000,), ["TIME_WAIT=10"])
    assert Settings.from_options(None) == Settings()
    assert s.sample_ports == (7000,) and Settings(ports=(0,)).sample_ports == ()
    assert port_of_host("tcp://127.0.0.1:7000") == 7000
    assert port_of_host("http://[::1]:8080/x") == 8080
    assert port_of_host("http://example") == 80
    assert port_of_host(None) is None


def test_total_counts_each_host_once_whatever_the_number_of_samples():
    c = Collector()
    c.add("a", "a", sample(1.0, TIME_WAIT=10))
    c.add("a", "a", sample(2.0, TIME_WAIT=30))  # a's latest replaces its earlier one
    c.add("b", "b", sample(2.1, TIME_WAIT=5))
    assert c.rows(3.0)[-1]["TIME_WAIT"] == 35 and c.peaks.latest()["TIME_WAIT"] == 35
    summary = c.summary()
    assert summary["samples"] == 3 and summary["hosts"] == {"a": 2, "b": 1}
    assert summary["peaks"]["TIME_WAIT"] == 30


def test_close_wait_rule_counts_sockets_that_outlive_a_sample():
    c = Collector()
    c.add("a", "a", sample(1.0, cookies=[1, 2], CLOSE_WAIT=2))
    c.add("a", "a", sample(2.0, cookies=[3], CLOSE_WAIT=1))  # all transient
    assert c.summary()["close_wait_settled_max"] == 0
    assert c.failed_checks([parse_rule("CLOSE_WAIT=0")]) == []
    c.add("a", "a", sample(3.0, cookies=[3, 4], CLOSE_WAIT=2))  # 3 stayed
    assert c.failed_checks([parse_rule("CLOSE_WAIT=0")]) == [
        "CHECK FAILED: a CLOSE_WAIT=0 observed 1"]


def test_failed_checks_one_line_per_violated_rule():
    c = Collector()
    c.add("a", "a", sample(1.0, listen_overflows=5, TIME_WAIT=7))
    c.add("a", "a", sample(2.0, listen_overflows=12, TIME_WAIT=3))
    c.eaddrnotavail = 4
    rules = [parse_rule(r) for r in ("TIME_WAIT=7", "TIME_WAIT=6", "listen_overflows=6",
                                     "eaddrnotavail=0", "ephemeral_fraction=0.5")]
    assert c.failed_checks(rules) == [
        "CHECK FAILED: a TIME_WAIT=6 observed 7",
        "CHECK FAILED: a listen_overflows=6 observed 7",
        "CHECK FAILED: a eaddrnotavail=0 observed 4",
    ]


def test_csv_has_one_complete_row_per_sample(tmp_path):
    path = tmp_path / "run_tcp.csv"
    sink = TcpCsv(str(path))
    first = sample(1.0, TIME_WAIT=9, listen_overflows=50)
    sink.add(host_row("h", {**first, "locust": {"rps": 5.0, "users": 2}}, first["counters"]))
    sink.add(host_row("h", sample(2.0, listen_overflows=57), first["counters"]))
    sink.close()
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 2 and list(rows[0]) == list(COLUMNS)
    assert [(r["listen_overflows"], r["listen_overflows_total"]) for r in rows] == [
        ("0", "50"), ("7", "57")]  # growth during the run, and the kernel's counter
    assert rows[0]["TIME_WAIT"] == "9" and rows[0]["rps"] == "5.0"
    assert rows[0]["accept_queue_fill"] == "0.5"  # 3 of backlog + 1 = 6
    assert rows[0]["ephemeral_headroom"] == "60"
    assert list(COLUMNS[:3]) == ["time", "time_iso", "host"]
    assert (rows[0]["time"], rows[0]["time_iso"]) == ("1.0", "1970-01-01T00:00:01.000Z")
    assert iso_utc(1795400000.25) == "2026-11-23T02:13:20.250Z"


def test_host_lock_elects_one_holder(tmp_path):
    first, second = HostLock("k", str(tmp_path)), HostLock("k", str(tmp_path))
    assert first.acquire() and first.held
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()
    assert list(tmp_path.iterdir()) == []


def test_pure_parts_do_not_import_locust():
    """Importing the rules, collector or CSV writer must not monkey-patch the process
    (only a Locust process registers the plugin)."""
    import subprocess
    import sys

    code = ("import sys, harness.load, harness.load.arguments, harness.load.collector, "
            "harness.load.csv_sink, harness.load.hostkey; "
            "assert 'locust' not in sys.modules and 'gevent' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_findings_per_host_and_fail_on():
    """Each host's findings carry its label; --socklife-fail-on turns those at or above
    the severity into CHECK FAILED lines; the console lists them per host."""
    c = Collector()
    for t in range(3):  # host a: its listener full from the second sample on
        full = {"local": "127.0.0.1:7000", "accept_queue": 6 if t else 1, "backlog": 5}
        c.add("a", "host-a", {**sample(float(t), listen_overflows=3 * t), "listeners": [full]})
        quiet = {"local": "127.0.0.1:7000", "accept_queue": 1, "backlog": 5}
        c.add("b", "host-b", {**sample(float(t)), "listeners": [quiet]})
    found = c.findings()
    assert [(f["host"], f["id"], f["severity"]) for f in found] == [
        ("host-a", "accept_queue_overflow", "critical")]
    lines = c.failed_checks([], "critical")
    assert lines == ["CHECK FAILED: critical finding accept_queue_overflow 127.0.0.1:7000 "
                     "on host-a (--socklife-fail-on critical)"]
    assert c.failed_checks([]) == []
    text = c.finding_lines()
    assert text[0] == "socklife: host-a: findings: 1 critical"
    assert text[1].split() == ["CRITICAL", "accept_queue_overflow", "127.0.0.1:7000"]
    assert "socklife: host-b: findings: none" in text
    assert c.summary()["findings"] == found


def test_the_tab_puts_the_findings_on_top():
    from harness.load.webui import STRUCTURE, table_rows

    c = Collector()
    for t in range(2):
        full = {"local": "127.0.0.1:7000", "accept_queue": 6, "backlog": 5}
        c.add("a", "host-a", {**sample(float(t), listen_overflows=3 * t), "listeners": [full]})
    rows = table_rows(c)
    keys = {col["key"] for col in STRUCTURE}
    assert all(set(row) == keys for row in rows)
    assert rows[0]["severity"] == "CRITICAL" and rows[0]["host"] == "host-a"
    assert rows[0]["finding"] == "accept_queue_overflow 127.0.0.1:7000"
    assert " Fix: Accept faster" in rows[0]["what"] and rows[0]["samples"] == ""
    assert rows[1]["host"] == "host-a" and rows[1]["samples"] == 2 and rows[1]["severity"] == ""


def test_every_csv_column_is_documented_with_its_unit():
    """docs/ci.md's table of <prefix>_tcp.csv: a row for each column (the states share
    one), with the unit and the total's rule of harness.load.rows."""
    from paths import ROOT

    from harness.load.rows import COLUMNS as DECLARED

    doc = (ROOT / "docs" / "ci.md").read_text()
    table = doc[doc.index("### `<prefix>_tcp.csv`"):]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:4]]
            for line in table.splitlines() if line.startswith("| `")}
    states = "`ESTABLISHED` ... `CLOSING` (the eleven states)"
    for column, unit, how, _meaning in DECLARED:
        name = states if column in STATES else f"`{column}`"
        assert name in rows, name
        assert rows[name][0] == (unit or "-"), name
        assert (rows[name][1] == "-") == (how == ""), name


def test_totals_sum_counts_and_take_the_worst_fill():
    from harness.load.rows import total_row

    c = Collector()
    full = {"local": "127.0.0.1:7000", "accept_queue": 6, "backlog": 5}
    c.add("a", "a", {**sample(1.0, TIME_WAIT=10, listen_overflows=5), "listeners": [full]})
    c.add("b", "b", sample(1.5, TIME_WAIT=4, listen_overflows=100))
    c.add("b", "b", sample(2.5, TIME_WAIT=6, listen_overflows=103))
    *hosts, total = c.rows(9.0)
    assert [r["host"] for r in hosts] == ["a", "b"] and total["host"] == "total"
    assert total["TIME_WAIT"] == 16 and total["listeners"] == 2
    assert total["listen_overflows"] == 3 and total["listen_overflows_total"] == 108
    assert (total["accept_queue"], total["backlog"], total["accept_queue_fill"]) == (6, 5, 1.0)
    assert total["ephemeral_headroom"] == 60 and total["ephemeral_fraction_max"] == 0.4
    assert total["time"] == 9.0 and total_row([], 1.0)["TIME_WAIT"] == ""
    # the total's peak is that of the sum as the samples came: 10 + 4, then 10 + 6
    assert c.total_summary()["peaks"]["TIME_WAIT"] == 16
    assert c.summary()["peaks"]["TIME_WAIT"] == 10  # the record's: the worst host


def test_history_is_per_host_on_its_own_clock_and_bounded():
    from harness.load.history import History

    a = History(limit=100)
    for t in range(1000):
        a.add(1000.0 + t, {"TIME_WAIT": t})
    a.add(10.0, {"TIME_WAIT": 1})  # back in time (a ring read twice): left out
    assert 50 <= len(a.points) <= 100
    assert a.points[0][0] == 1000.0 and a.points[-1][0] == 1999.0  # the whole run
    c = Collector()
    c.add("a", "a", sample(100.0, TIME_WAIT=3))
    c.add("b", "b", sample(50.0, TIME_WAIT=4))  # b's clock is behind
    c.add("a", "a", sample(101.0, TIME_WAIT=5))
    tw = STATES.index("TIME_WAIT")
    assert [(t, v[tw]) for t, v in c.points("total")] == [(100.0, 3), (100.0, 7), (101.0, 9)]
    assert [(t, v[tw]) for t, v in c.points("b")] == [(50.0, 4)]  # its own clock
    assert c.points("nobody") == []
