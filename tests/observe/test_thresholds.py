"""Rules, run summaries and baselines (harness.observe.thresholds/summary/runfile/baseline)."""

from __future__ import annotations

import json

import pytest

from harness.observe import baseline
from harness.observe.runfile import RunFileError, load_run
from harness.observe.summary import RunSummary, combine
from harness.observe.thresholds import NAMES, evaluate, evaluate_hosts, failed_lines, parse_rule


def test_parse_rule():
    rule = parse_rule(" CLOSE_WAIT=0")
    assert (rule.name, rule.limit, rule.kind, str(rule)) == ("CLOSE_WAIT", 0, "max", "CLOSE_WAIT=0")
    assert str(parse_rule("ephemeral_fraction=0.5", "min")) == "ephemeral_fraction=0.5"
    for bad, reason in [("TIME_WAIT", r"expected \[HOST:\]NAME=N"),
                        ("time_wait=1", "unknown name"),
                        ("TIME_WAIT=x", "bad number"), ("TIME_WAIT=-1", "bad limit"),
                        ("TIME_WAIT=nan", "bad limit"), (":TIME_WAIT=1", "empty host"),
                        ("server:BOGUS=1", "unknown name 'BOGUS'")]:
        with pytest.raises(ValueError, match=reason):
            parse_rule(bad)


def test_a_rule_may_name_a_host_and_round_trips_as_text():
    rule = parse_rule("server:CLOSE_WAIT=0")
    assert (rule.host, rule.name, rule.limit, str(rule), rule.bare) == (
        "server", "CLOSE_WAIT", 0, "server:CLOSE_WAIT=0", "CLOSE_WAIT=0")
    assert parse_rule(str(rule)) == rule
    assert parse_rule("CLOSE_WAIT=0").host is None


def test_rules_over_hosts_hold_for_each_host_and_the_total():
    hosts = {"server": {"peaks": {"CLOSE_WAIT": 40}}, "w1": {"peaks": {"CLOSE_WAIT": 0}},
             "gone": None}
    total = {"peaks": {"CLOSE_WAIT": 40}}
    verdicts = evaluate_hosts([parse_rule("CLOSE_WAIT=0")], hosts, total)
    assert [(v.host, v.observed, v.passed) for v in verdicts] == [
        ("server", 40, False), ("w1", 0, True), ("total", 40, False)]  # "gone": no sample
    named = evaluate_hosts([parse_rule("w1:CLOSE_WAIT=0"), parse_rule("gone:CLOSE_WAIT=0"),
                            parse_rule("nobody:CLOSE_WAIT=0"),
                            parse_rule("total:CLOSE_WAIT=50")], hosts, total)
    assert [(v.host, v.passed) for v in named] == [
        ("w1", True), ("gone", False), ("nobody", False), ("total", True)]
    assert failed_lines(named) == [
        "CHECK FAILED: gone CLOSE_WAIT=0 observed nothing (no sample from gone)",
        "CHECK FAILED: nobody CLOSE_WAIT=0 observed nothing (no sample from nobody)"]
    assert named[1].record() == {"rule": "CLOSE_WAIT=0", "name": "CLOSE_WAIT", "kind": "max",
                                 "limit": 0, "observed": None, "passed": False,
                                 "host": "gone"}
    mins = evaluate_hosts([parse_rule("ESTABLISHED=1", "min")], {"a": {"peaks": {}}})
    assert failed_lines(mins) == ["CHECK FAILED: a ESTABLISHED=1 observed 0"]


@pytest.mark.parametrize("limit", ["inf", "-inf", "nan", "1e999", "-1", "Infinity"])
def test_a_limit_is_a_finite_number_at_least_zero(limit):
    with pytest.raises(ValueError, match="bad limit"):
        parse_rule(f"TIME_WAIT={limit}")


def test_evaluate_gives_observed_limit_and_verdict_per_rule():
    summary = {"peaks": {"TIME_WAIT": 1200, "ESTABLISHED": 3}, "leaks": {"count": 2},
               "listen_overflows": 0, "ephemeral_fraction_max": 0.25,
               "accept_queue_fill_max": 1.0, "time_wait_peak": 1200}
    rules = [parse_rule("TIME_WAIT=1000"), parse_rule("leaks=2"),
             parse_rule("ESTABLISHED=4", "min"), parse_rule("ephemeral_fraction=0.2"),
             parse_rule("eaddrnotavail=0")]
    got = [(v.rule.name, v.observed, v.limit, v.passed) for v in evaluate(rules, summary)]
    assert got == [("TIME_WAIT", 1200, 1000, False), ("leaks", 2, 2, True),
                   ("ESTABLISHED", 3, 4, False), ("ephemeral_fraction", 0.25, 0.2, False),
                   ("eaddrnotavail", 0, 0, True)]


def test_run_summary_folds_samples():
    """CLOSE_WAIT counts sockets seen in two samples running: a close about to happen
    (cookie 1, once) is not a leak; cookie 2, held, is."""
    folded = RunSummary()
    for i, (tw, cookies, overflows) in enumerate([(5, (), 0), (9, (1,), 2), (7, (2,), 4),
                                                  (6, (2,), 5)]):
        folded.add({"time": 100.0 + i, "states": {"TIME_WAIT": tw, "CLOSE_WAIT": len(cookies)},
                    "close_wait": [{"cookie": c} for c in cookies],
                    "counters": {"ListenOverflows": overflows}})
    summary = folded.summary()
    assert summary["peaks"]["TIME_WAIT"] == 9 and summary["listen_overflows"] == 5
    assert summary["close_wait_settled_max"] == 1 and summary["duration_s"] == 3.0
    (v,) = evaluate([parse_rule("TIME_WAIT=8")], summary)
    assert not v.passed and v.shown() == "9"


def test_close_wait_rows_without_cookie_are_told_apart_by_address():
    folded = RunSummary()
    for remote in ("127.0.0.1:1", "127.0.0.1:2"):
        folded.add({"states": {"CLOSE_WAIT": 1},
                    "close_wait": [{"local": "127.0.0.1:80", "remote": remote}]})
    assert folded.summary()["close_wait_settled_max"] == 0


def _host(times, tw, overflows, leaks=(), fill=0.0, in_use=0, cpu=None):
    run = RunSummary()
    for i, t in enumerate(times):
        run.add({"time": t, "states": {"TIME_WAIT": tw[i]},
                 "counters": {"ListenOverflows": overflows[i]},
                 "listeners": [{"local": "127.0.0.1:1", "accept_queue": 0, "backlog": 1,
                                "fill": fill}],
                 "ephemeral": {"usable": 1000, "by_destination": [
                     {"remote": "10.0.0.1:80", "in_use": in_use, "fraction": in_use / 1000}]},
                 "close_wait": [{"cookie": c, "local": "l", "remote": "r", "leak": True,
                                 "age_s": 40.0 + i} for c in leaks],
                 **({"sampler": {"cpu_s": cpu[i], "rss_bytes": 1000 * (i + 1),
                                 "sample_s": 0.01, "missed": i}} if cpu else {})})
    return run


def test_combine_takes_the_worst_host_and_sums_events():
    a = _host([1.0, 3.0], [10, 4], [100, 102], leaks=(7,), fill=1.0, in_use=900,
              cpu=[1.0, 1.2])
    b = _host([2.0, 5.0], [30, 1], [0, 1], leaks=(7, 8), fill=0.5, in_use=100,
              cpu=[0.0, 0.9])
    both = combine([a, b]).summary()
    assert both["samples"] == 4 and both["duration_s"] == 4.0
    assert both["peaks"]["TIME_WAIT"] == 30 == both["time_wait_peak"]
    # the same cookie on two hosts is two sockets
    assert both["leaks"]["count"] == 3 and both["leaks"]["oldest_s"] == 41.0
    assert both["listen_overflows"] == 3  # growth during the run, summed over hosts
    assert both["ephemeral_fraction_max"] == 0.9 and both["ephemeral_headroom_min"] == 100
    assert both["accept_queue_fill_max"] == 1.0
    assert both["listeners_ever_full"] == ["127.0.0.1:1"]
    assert both["sampler_cpu_share"] == 0.3  # the worst host: 0.9 s over 3 s
    assert both["sampler_rss_bytes"] == 2000 and both["samples_missed"] == 2
    assert a.summary()["samples"] == 2  # the parts are left as they were


def test_summary_names_who_is_behind_the_figures():
    """The listener at the fill peak, the destination at the fraction peak, the CLOSE_WAIT
    sockets at the settled peak (from its later sample, where the owner is known)."""
    def listener(local, fill, pid):
        return {"local": local, "fill": fill, "pid": pid, "process": "srv",
                "accept_queue": 0, "backlog": 5, "syn_recv": 0}

    def dest(remote, fraction):
        return {"remote": remote, "in_use": int(fraction * 1000), "fraction": fraction}

    cw = {"local": "127.0.0.1:80", "remote": "127.0.0.1:5", "cookie": 9, "fd": None,
          "pid": None, "process": None, "age_s": None}
    folded = RunSummary()
    folded.add({"listeners": [listener("127.0.0.1:80", 0.2, 1), listener("127.0.0.1:81", 0.1, 2)],
                "ephemeral": {"usable": 1000, "by_destination": [dest("10.0.0.1:80", 0.3)]},
                "close_wait": [cw]})
    folded.add({"listeners": [listener("127.0.0.1:81", 0.9, 2)],
                "ephemeral": {"usable": 1000, "by_destination": [dest("10.0.0.2:80", 0.2)]},
                "close_wait": [{**cw, "age_s": 1.0}]})
    folded.add({"listeners": [listener("127.0.0.1:80", 0.9, 1)],
                "close_wait": [{**cw, "pid": 7, "process": "app", "fd": 4, "age_s": 2.0},
                               {**cw, "cookie": 10, "remote": "127.0.0.1:6"}]})
    s = folded.summary()
    assert s["accept_queue_fullest"] == {"local": "127.0.0.1:81", "fill": 0.9, "pid": 2,
                                         "process": "srv"}  # first to reach the peak
    assert s["ephemeral_busiest"] == {"remote": "10.0.0.1:80", "in_use": 300, "fraction": 0.3}
    assert s["close_wait_settled_max"] == 1
    assert s["close_wait_held"] == [{"local": "127.0.0.1:80", "remote": "127.0.0.1:5",
                                     "pid": 7, "process": "app", "fd": 4, "age_s": 2.0}]
    empty = RunSummary().summary()
    assert (empty["accept_queue_fullest"], empty["ephemeral_busiest"],
            empty["close_wait_held"]) == (None, None, [])
    # Across hosts: each name comes from the host with the worst figure.
    other = RunSummary()
    other.add({"listeners": [listener("10.1.1.1:80", 1.0, 3)],
               "ephemeral": {"usable": 1000, "by_destination": [dest("10.0.0.9:80", 0.1)]}})
    both = combine([folded, other]).summary()
    assert both["accept_queue_fullest"]["local"] == "10.1.1.1:80"
    assert both["ephemeral_busiest"] == s["ephemeral_busiest"]
    assert both["close_wait_held"] == s["close_wait_held"]


def test_killed_distributed_run_is_folded_per_host(fixture_path):
    """Two hosts' counters and cookies interleave in one file: folded as one series,
    ListenOverflows would be 5001 - 100 and worker-a's held CLOSE_WAIT would vanish."""
    run = load_run(fixture_path("check", "two_hosts_killed.jsonl"))
    assert run.computed and run.samples == 4
    assert run.summary["listen_overflows"] == 3
    assert run.summary["close_wait_settled_max"] == 1
    assert run.summary["peaks"]["TIME_WAIT"] == 420


def test_summary_line_wins_over_the_folded_samples(fixture_path):
    run = load_run(fixture_path("check", "leaky.jsonl"))
    assert not run.computed
    assert run.summary["listen_overflows"] == 8 and run.summary["leaks"]["count"] == 1


@pytest.mark.parametrize("lines, needle", [
    (['{"time": 1, "states": {"TIME_WAIT": "many"}}'],
     ":1: states.TIME_WAIT: expected an integer, got a string"),
    (['{"time": 1, "states": {}, "listeners": [{"local": "x"}]}'],
     ":1: listeners\\[0\\]: missing field 'accept_queue'"),
    (['[1, 2]'], ":1: neither a sample nor a summary"),
    (['{"time": 1, "states": {}}', '{"summary": 3}'],
     ":2: summary: expected an object, got an integer"),
    (['{"time": 1, "states": {}}', '{"summary": {"peaks": [1]}}'],
     ":2: summary.peaks: expected an object, got a list"),
    (['{"time": 1, "states": {}}', '{"summary": {"listen_overflows": "8"}}'],
     ":2: summary.listen_overflows: expected an integer"),
    (['{"schema": 9, "states": {}}'], ":1: schema: written by a newer socklife"),
    (['{"schema": 1, "states": {}}'], ":1: missing field 'time'"),
    (['{"states": {}}'], ":1: missing field 'time'"),  # even in lines of before the schema
    (['{"time": 1, "states": {}}', '{"time": 2, "states": {"LISTEN": 1}, "schema": 1}',
      '{"time": 3,'], ":2: missing field"),  # a cut last line, but line 2 is bad first

    (['{"summary": {"samples": 0}}'], "no samples"),
    ([], "no samples"),
])
def test_malformed_runs_are_refused_with_a_reason(tmp_path, lines, needle):
    path = tmp_path / "run.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    with pytest.raises(RunFileError, match=needle):
        load_run(str(path))


def test_a_cut_last_line_is_left_out_with_a_note(tmp_path):
    """What a full disk (or a crash mid-write) leaves: complete lines, then part of one."""
    path = tmp_path / "run.jsonl"
    good = '{"time": 1, "states": {"TIME_WAIT": 3}}\n{"time": 2, "states": {"TIME_WAIT": 5}}\n'
    for cut in ('{"time": 3, "sta', '{"time": 3, "states": {"TIME_WAIT": 9}', '\xe2\x82'):
        path.write_bytes(good.encode() + cut.encode("latin-1"))
        run = load_run(str(path))
        assert run.samples == 2 and run.summary["peaks"]["TIME_WAIT"] == 5
        assert run.notes == [f"{path}:3: the last line is cut short (the run stopped in the "
                             "middle of a write): left out"]
    path.write_text(good + '{"time": 3, "sta\n')  # with its newline it is not a cut line
    with pytest.raises(RunFileError, match=":3: not a JSON line"):
        load_run(str(path))
    path.write_bytes(good.encode() + b'\xff{"time": 3}\n')
    with pytest.raises(RunFileError, match=":3: not UTF-8 text"):
        load_run(str(path))


def test_baseline_limits():
    assert baseline.limit_for("TIME_WAIT", 900, 0.10) == 990
    assert baseline.limit_for("TIME_WAIT", 3, 0.10) == 4      # one socket, not 3.3
    assert baseline.limit_for("CLOSE_WAIT", 0, 0.10) == 1
    assert baseline.limit_for("leaks", 0, 0.10) == 0          # a first leak fails
    assert baseline.limit_for("ephemeral_fraction", 0.5, 0.10) == 0.55
    assert baseline.limit_for("accept_queue_fill", 0.0, 0.10) == 0.01


def test_baseline_rules_skip_unused_transient_states():
    metrics = dict.fromkeys(NAMES, 0.0) | {"ESTABLISHED": 5.0}
    names = {r.name for r in baseline.rules_from(metrics, 0.1)}
    assert {"ESTABLISHED", "CLOSE_WAIT", "TIME_WAIT", "leaks", "listen_overflows"} <= names
    assert not names & {"SYN_SENT", "FIN_WAIT1", "LAST_ACK", "CLOSING"}


def test_baseline_files(tmp_path):
    path = tmp_path / "base.json"
    path.write_text(baseline.baseline_text({"peaks": {"TIME_WAIT": 7}, "leaks": {"count": 0}},
                                           "run.jsonl"))
    assert baseline.load(str(path))["TIME_WAIT"] == 7.0
    doc = json.loads(path.read_text())
    assert doc["source"] == "run.jsonl" and set(doc["metrics"]) == set(NAMES)
    for text, reason in [("{", "bad JSON"), ('{"socklife_baseline": 1}', "without numeric"),
                         ('{"socklife_baseline": 1, "metrics": {"leaks": "0"}}',
                          "without numeric"), ('{"metrics": {}}', "not a socklife baseline"),
                         ('{"socklife_baseline": 1, "metrics": {"leaks": NaN}}',
                          "without numeric"),
                         ('{"socklife_baseline": 1, "metrics": {"leaks": Infinity}}',
                          "without numeric")]:
        path.write_text(text)
        with pytest.raises(ValueError, match=reason):
            baseline.load(str(path))
    with pytest.raises(ValueError, match="no such baseline"):
        baseline.load(str(tmp_path / "nope.json"))
