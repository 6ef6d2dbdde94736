"""Findings from recorded real runs (tests/fixtures/findings, made by its record.py in
private lab hosts), and the rules' edges on folded samples."""

from __future__ import annotations

import json

import pytest
from paths import FIXTURES

from harness.observe import findings as rules
from harness.observe.evidence import Evidence, syn_wait_s
from harness.observe.runfile import load_run
from harness.schema.records import Finding
from harness.schema.validate import validate

RUNS = FIXTURES / "findings"
TRUTH = json.loads((RUNS / "truth.json").read_text())


def expected(name: str) -> set[tuple[str, str, str]]:
    """What each recorded situation must give: (id, severity, subject), from what the
    recording built (truth.json)."""
    t = TRUTH[name]
    listener, dest, proc = t["listener"], t["destination"], t["process"]
    return {
        # a listener that never accepts, clients connecting 10/s: drops at backlog + 1
        "overflow.jsonl": {("accept_queue_overflow", "critical", listener)},
        # a never-closing server; record --leak-threshold 2: the leak is critical
        "close_wait_leak.jsonl": {("close_wait_accumulation", "critical", proc)},
        # the same under the default 30 s threshold: held, not yet leaked
        "close_wait_held.jsonl": {("close_wait_accumulation", "warning", proc)},
        # 200 ports, no reuse, 100 connections/s: out of ports, and churn that would
        # take half the range at any rate above 1.7/s
        "ports.jsonl": {("ephemeral_exhaustion", "critical", dest),
                        ("connection_churn", "warning", dest)},
        # the server closes first under tcp_max_tw_buckets=100 (its churn is said by
        # server_time_wait, once)
        "server_first.jsonl": {("time_wait_bucket_overflow", "critical", listener),
                               ("server_time_wait", "info", listener)},
        # the server host's firewall drops the SYNs
        "syn_sent.jsonl": {("syn_sent_pileup", "critical", dest)},
        # handshakes never finished, SYN cookies off
        "syn_queue.jsonl": {("syn_queue_overflow", "critical", listener)},
        # a quarter of the data dropped from 6 s to 9 s of a 12 s run
        "retransmissions.jsonl": {("retransmissions_resets", "warning", dest)},
        # nothing wrong: keep-alive connections, an idle listener
        "keepalive.jsonl": set(),
        "idle.jsonl": set(),
        # 100 short connections/s on loopback: how things stand, nothing more
        "churn.jsonl": {("connection_churn", "info", dest)},
        # a Locust run (plugin's --socklife-record) against a slow-accept server of
        # backlog 4: its queues overflow (the SYN queue too: SYN cookies were sent)
        "locust_overflow.jsonl": {("accept_queue_overflow", "critical", listener),
                                  ("syn_queue_overflow", "warning", listener),
                                  ("connection_churn", "info", dest)},
    }[name]


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_a_recorded_run_gives_exactly_its_findings(name):
    run = load_run(str(RUNS / name))
    found = run.summary["findings"]
    assert {(f["id"], f["severity"], f["subject"]) for f in found} == expected(name), found
    for f in found:
        validate(f, Finding)
        ev = f["evidence"]
        assert ev["samples"] >= 1 and ev["first_seen"] <= ev["last_seen"]
        assert run.summary["started"] <= ev["first_seen"] <= run.summary["ended"] + 10
        assert f["summary"].endswith(".") and f["fix"].endswith(".")
    assert [f["severity"] for f in found] == sorted(
        (f["severity"] for f in found), key=rules.SEVERITIES.index)


def test_the_locust_run_names_its_host():
    found = load_run(str(RUNS / "locust_overflow.jsonl")).summary["findings"]
    assert {f["host"] for f in found} == {TRUTH["locust_overflow.jsonl"]["extra"]["host"]}


def test_the_evidence_carries_the_numbers():
    by_id = {f["id"]: f for f in load_run(str(RUNS / "overflow.jsonl")).summary["findings"]}
    ev = by_id["accept_queue_overflow"]["evidence"]
    assert ev["backlog"] == 5 and ev["accept_queue_max"] == 6 and ev["fill_max"] == 1.0
    assert ev["counters"]["ListenOverflows"] > 0 and ev["somaxconn"] == 4096
    assert not ev["clamped"] and ev["syn_sent"] > 0 and ev["wait_s"] >= 1.0
    assert ev["process"] + "/" + str(ev["pid"]) == TRUTH["overflow.jsonl"]["process"]
    assert "backlog 5 + 1" in by_id["accept_queue_overflow"]["summary"]
    ports = {f["id"]: f for f in load_run(str(RUNS / "ports.jsonl")).summary["findings"]}
    ev = ports["ephemeral_exhaustion"]["evidence"]
    assert ev["usable"] == 200 and ev["blocking_max"] == 200 and not ev["reuse_applies"]
    assert ev["range"] == [40000, 40199] and ev["tcp_tw_reuse"] == 0
    cw = load_run(str(RUNS / "close_wait_leak.jsonl")).summary["findings"][0]["evidence"]
    assert cw["sockets"] == 20 and cw["leaks"] == 20 and cw["threshold_s"] == 2
    assert len(cw["fds"]) == 8 and len(cw["peers"]) == 8  # examples, bounded
    syn = load_run(str(RUNS / "syn_sent.jsonl")).summary["findings"][0]["evidence"]
    assert syn["syn_sent"] == 10 and syn["syn_retrans_max"] >= 2
    # this kernel's tcp_syn_linear_timeouts=4: retransmissions 1 s apart at first
    assert syn["wait_s"] == syn_wait_s(syn["syn_retrans_max"], 4) == syn["syn_retrans_max"]


def test_check_and_the_recording_agree():
    """The summary line written live by `record` holds what check computes from the
    samples, rule for rule (the fixtures were recorded by this rule set)."""
    for name in sorted(TRUTH):
        lines = (RUNS / name).read_text().splitlines()
        live = json.loads(lines[-1])["summary"]["findings"]
        again = load_run(str(RUNS / name)).summary["findings"]
        assert [(f["id"], f["subject"], f["severity"]) for f in live] == \
               [(f["id"], f["subject"], f["severity"]) for f in again], name


# --- the rules' edges, on samples folded by hand ------------------------------------------

def fold(*samples) -> Evidence:
    ev = Evidence()
    for s in samples:
        ev.add(s)
    return ev


def ids(found) -> list[tuple[str, str, str]]:
    return [(f["id"], f["severity"], f["subject"]) for f in found]


def listener(q, backlog=5, **kw):
    return {"local": "127.0.0.1:80", "accept_queue": q, "backlog": backlog, "syn_recv": 0,
            "pid": 7, "process": "srv", **kw}


def test_a_half_full_queue_warns_and_a_full_one_is_critical():
    half = fold(*({"time": float(t), "listeners": [listener(3)]} for t in range(3)))
    assert ids(rules.findings(half)) == [("accept_queue_overflow", "warning", "127.0.0.1:80")]
    assert ids(rules.findings(fold({"time": 0.0, "listeners": [listener(1)]}))) == []


def test_overflows_elsewhere_in_the_namespace_are_not_pinned_on_a_quiet_listener():
    """ListenOverflows is per namespace: with a port filter and no sampled listener near
    full, the growth belongs to a listener outside the filter (info, the namespace)."""
    quiet = [{"time": float(t), "ports": [80], "listeners": [listener(0)],
              "counters": {"ListenOverflows": 5 * t}} for t in range(3)]
    assert ids(rules.findings(fold(*quiet))) == [("accept_queue_overflow", "info",
                                                  "namespace")]
    unfiltered = [{**s, "ports": []} for s in quiet]
    assert ids(rules.findings(fold(*unfiltered))) == [("accept_queue_overflow", "critical",
                                                       "namespace")]


def test_a_clamped_backlog_says_somaxconn():
    ev = fold({"time": 0.0, "listeners": [listener(129, backlog=128)],
               "sysctls": {"somaxconn": 128}})
    (f,) = rules.findings(ev)
    assert f["evidence"]["clamped"] and "net.core.somaxconn" in f["fix"]


def dest(remote="10.0.0.1:80", **kw):
    row = {"remote": remote, "in_use": 0, "fraction": 0.0, "rate_per_s": 0.0,
           "exhausted_in_s": None, "forecast": "", "open": 0, "closes_per_s": 0.0,
           "syn_sent": 0, "syn_retrans_max": 0}
    return {**row, **kw}


def eph(*rows, usable=200):
    return {"range": [40000, 40199], "usable": usable, "in_use": 0, "by_destination": list(rows)}


def test_ports_held_in_time_wait_block_only_where_reuse_does_not_apply():
    """With tcp_tw_reuse=2 a loopback destination's TIME_WAIT ports are reusable: 200
    ports in TIME_WAIT there are no exhaustion; towards 10.0.0.1 they are."""
    for remote, tw_reuse, want in (("127.0.0.1:80", 2, []),
                                   ("10.0.0.1:80", 2, [("ephemeral_exhaustion", "critical",
                                                        "10.0.0.1:80")])):
        ev = fold({"time": 0.0, "sysctls": {"tcp_tw_reuse": tw_reuse},
                   "ephemeral": eph(dest(remote, in_use=200, open=3))})
        assert ids(rules.findings(ev)) == want


def test_a_forecast_must_hold_twice_and_within_a_minute():
    once = fold({"time": 0.0, "ephemeral": eph(dest(in_use=20, open=20, exhausted_in_s=9.0))})
    assert ids(rules.findings(once)) == []
    far = fold(*({"time": float(t), "ephemeral": eph(dest(in_use=20, exhausted_in_s=900.0))}
                 for t in range(3)))
    assert ids(rules.findings(far)) == []
    near = fold(*({"time": float(t), "ephemeral": eph(dest(in_use=20, exhausted_in_s=9.0))}
                  for t in range(3)))
    (f,) = rules.findings(near)
    assert f["severity"] == "warning" and f["evidence"]["exhausted_in_s"] == 9.0


def test_eaddrnotavail_goes_to_the_host_whose_ports_were_fullest():
    a = fold({"time": 0.0, "ephemeral": eph(dest(in_use=150, open=150))})
    b = fold({"time": 0.0, "ephemeral": eph(dest("10.0.0.2:80", in_use=10, open=10))})
    found = rules.over_hosts([("a", a), ("b", b)], eaddrnotavail=7)
    crit = [f for f in found if f["severity"] == "critical"]
    assert [(f["host"], f["subject"]) for f in crit] == [("a", "10.0.0.1:80")]
    assert crit[0]["evidence"]["eaddrnotavail"] == 7 and "7 times" in crit[0]["summary"]
    nobody = rules.over_hosts([(None, fold({"time": 0.0}))], eaddrnotavail=3)
    assert ids(nobody) == [("ephemeral_exhaustion", "critical", "namespace")]
    assert "host" not in nobody[0]


def cw_row(age, cookie, pid=9, leak=False, local="127.0.0.1:80"):
    return {"local": local, "remote": f"127.0.0.1:{40000 + cookie}", "pid": pid,
            "process": "app" if pid else None, "fd": cookie, "age_s": age, "cookie": cookie,
            "leak": leak}


def test_close_wait_held_a_second_twice_is_a_finding_a_closing_one_is_not():
    closing = fold(*({"time": float(t), "close_wait": [cw_row(0.4, t)]} for t in range(5)))
    assert ids(rules.findings(closing)) == []
    held = fold({"time": 0.0, "close_wait": [cw_row(None, 1)]},
                {"time": 1.0, "close_wait": [cw_row(1.0, 1)]},
                {"time": 2.0, "close_wait": [cw_row(2.0, 1)]})
    assert ids(rules.findings(held)) == [("close_wait_accumulation", "warning", "app/9")]


def test_close_wait_before_its_owner_was_looked_up_is_the_same_process():
    """Under the CPU budget an owner can come a sample late: those rows (pid null) are
    the process's own, not a second finding."""
    ev = fold({"time": 0.0, "close_wait": [cw_row(1.0, 1, pid=None)]},
              {"time": 1.0, "close_wait": [cw_row(2.0, 1, pid=None)]},
              {"time": 2.0, "close_wait": [cw_row(3.0, 1)]},
              {"time": 3.0, "close_wait": [cw_row(4.0, 1)]})
    assert ids(rules.findings(ev)) == [("close_wait_accumulation", "warning", "app/9")]
    unknown = fold(*({"time": float(t), "close_wait": [cw_row(1.0 + t, 1, pid=None)],
                      "listeners": [listener(0)]} for t in range(3)))
    assert ids(rules.findings(unknown)) == [("close_wait_accumulation", "warning",
                                             "127.0.0.1:80")]  # the listener's sockets
    client = fold(*({"time": float(t), "close_wait": [cw_row(1.0 + t, 1, pid=None)]}
                    for t in range(3)))  # no listener on port 80: a client's sockets
    assert ids(rules.findings(client)) == [("close_wait_accumulation", "warning",
                                            "127.0.0.1:40001")]  # towards their server


def counters(t, retrans=0, out=0, resets=0):
    return {"time": float(t), "counters": {"RetransSegs": retrans, "TCPSynRetrans": 0,
                                           "TCPTimeouts": 0, "OutSegs": out,
                                           "EstabResets": resets, "OutRsts": 0}}


def test_a_rise_is_judged_against_the_run_start_over_long_and_short_runs():
    # 20 s at 1 s: 100 segments/s; from 12 s on 20 retransmissions/s (2 %)
    samples, retrans = [], 0
    for t in range(21):
        retrans += 20 if t > 12 else 0
        samples.append(counters(t, retrans=retrans, out=1000 * t))
    (f,) = rules.findings(fold(*samples))
    assert (f["id"], f["severity"]) == ("retransmissions_resets", "warning")
    assert f["evidence"]["rates_start"] == {"data_retransmits": 0.0}
    assert f["evidence"]["rates_peak"]["data_retransmits"] == 20.0
    assert 8.0 <= f["evidence"]["first_seen"] <= 13.0 and f["evidence"]["last_seen"] == 20.0
    # the same rate from the start: nothing rose
    steady = [counters(t, retrans=20 * t, out=1000 * t) for t in range(21)]
    assert rules.findings(fold(*steady)) == []
    # a start that already retransmits: 5/s; three times that is not a rise, six is
    for later, rose in ((15, False), (30, True)):
        samples, retrans = [], 0
        for t in range(21):
            retrans += later if t > 12 else 5
            samples.append(counters(t, retrans=retrans, out=1000 * t))
        assert bool(rules.findings(fold(*samples))) is rose, later
    # 0.5% of segments: below RETRANS_SHARE however it rose
    slight = [counters(t, retrans=5 * max(0, t - 12), out=1000 * t) for t in range(21)]
    assert rules.findings(fold(*slight)) == []
    # a 4 s run: its second half against its first
    short = [counters(t / 2, resets=0 if t < 5 else 10 * (t - 4)) for t in range(9)]
    (f,) = rules.findings(fold(*short))
    assert f["evidence"]["rates_peak"] == {"EstabResets": 20.0}


def test_missing_sections_give_the_findings_they_can():
    """Samples of an older file: no listeners, no ephemeral section, no counters."""
    ev = fold({"time": 0.0, "states": {"CLOSE_WAIT": 1}},
              {"time": 1.0, "close_wait": [cw_row(1.0, 1)]},
              {"time": 2.0, "close_wait": [cw_row(2.0, 1)]})
    assert ids(rules.findings(ev, settings=True)) == [
        ("close_wait_accumulation", "warning", "app/9"),
        ("port_range", "info", "namespace"), ("tw_reuse", "info", "namespace")]


def test_settings_findings_and_targets():
    s = {"time": 0.0, "sysctls": {"tcp_tw_reuse": 0, "somaxconn": 4096},
         "ephemeral": eph(), "listeners": [listener(0, backlog=128)]}
    found = {f["id"]: f for f in rules.findings(fold(s), settings=True,
                                                targets=[("10.0.0.1", 80)])}
    assert set(found) == {"port_range", "tw_reuse", "listen_backlog", "target_rate"}
    assert "200 usable ports" in found["port_range"]["summary"]
    assert "at most 3 new connections/s" in found["port_range"]["summary"]
    assert all(f["severity"] == "info" for f in found.values())
    assert "backlog of 128, below somaxconn 4096" in found["listen_backlog"]["summary"]
    assert "at most 3 short connections/s" in found["target_rate"]["summary"]


def test_findings_are_sorted_critical_first():
    items = [rules.finding(i, s, subj, ".", {"first_seen": None, "last_seen": None,
                                            "samples": 0}, ".")
             for i, s, subj in (("connection_churn", "info", "b"),
                                ("syn_sent_pileup", "critical", "a"),
                                ("accept_queue_overflow", "warning", "c"),
                                ("accept_queue_overflow", "critical", "z"))]
    assert [(f["severity"], f["subject"]) for f in rules.ordered(items)] == [
        ("critical", "z"), ("critical", "a"), ("warning", "c"), ("info", "b")]
    assert [f["subject"] for f in rules.at_least(rules.ordered(items), "warning")] == \
           ["z", "a", "c"]


def test_memory_follows_the_sockets_not_the_run_length():
    """An hour at 10 Hz of ever-new destinations, listeners and CLOSE_WAIT owners: each
    table stops at KEPT, the counters' start and window stay a few seconds long."""
    from harness.observe.evidence import KEPT, START_S, WINDOW_S

    ev = Evidence()
    for i in range(3 * KEPT):
        ev.add({"time": i / 10, "listeners": [listener(0) | {"local": f"10.0.0.{i}:80"}],
                "ephemeral": eph(dest(f"10.1.{i // 250}.{i % 250}:80")),
                "close_wait": [cw_row(2.0, i, pid=i, local=f"10.2.{i // 250}.{i % 250}:80")],
                "counters": {"RetransSegs": i, "OutSegs": 100 * i}})
    assert len(ev.listeners) == len(ev.destinations) == len(ev.close_wait) == KEPT
    assert ev.dropped == 3 * 2 * KEPT
    assert len(ev.early) <= 2 * START_S * 10 + 1 and len(ev.window) <= WINDOW_S * 10 + 2
    assert all(len(p.fds) <= 8 for p in ev.close_wait.values())


def test_findings_name_the_cgroup_beside_the_process():
    """Rows that carry their cgroup (the dump's INET_DIAG_CGROUP_ID) put it in the
    finding's sentence and evidence, beside the process."""
    unit = "/system.slice/app.service"
    held = fold(*({"time": float(t), "close_wait": [dict(cw_row(1.0 + t, 1), cgroup=unit)]}
                  for t in range(3)))
    (found,) = rules.findings(held)
    assert found["evidence"]["cgroup"] == unit
    assert found["summary"].startswith(f"app/9 (cgroup {unit}) held up to 1 socket")
    full = fold(*({"time": float(t), "listeners": [listener(6, cgroup=unit)]}
                  for t in range(3)))
    (queue,) = [f for f in rules.findings(full) if f["id"] == "accept_queue_overflow"]
    assert f"(srv/7, cgroup {unit})" in queue["summary"]
    plain = fold(*({"time": float(t), "close_wait": [cw_row(1.0 + t, 1)]} for t in range(3)))
    assert "cgroup" not in rules.findings(plain)[0]["summary"]
    root = fold(*({"time": float(t), "close_wait": [dict(cw_row(1.0 + t, 1), cgroup="/")]}
                  for t in range(3)))  # the root cgroup, everyone's by default: not named
    assert "cgroup" not in rules.findings(root)[0]["summary"]
