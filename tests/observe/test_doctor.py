"""Doctor findings from synthetic samples: each risk with its numbers and fix."""

import copy

from harness.observe.doctor import diagnose


def sample(**over):
    s = {
        "states": {"TIME_WAIT": 0},
        "sysctls": {"tcp_tw_reuse": 0, "somaxconn": 4096, "tcp_max_tw_buckets": 1000},
        "ephemeral": {"range": [40000, 40199], "usable": 200, "in_use": 0,
                      "by_destination": []},
        "listeners": [], "close_wait": [], "counters": {"ListenOverflows": 0},
    }
    s.update(over)
    return s


def by_id(findings):
    return {f["id"]: f for f in findings}


def test_quiet_namespace_explains_range_and_reuse():
    f = by_id(diagnose(sample(), sample()))
    assert set(f) == {"port-range", "tw-reuse"}
    assert "200 usable ports" in f["port-range"]["message"]
    assert "at most 3 new connections/s" in f["port-range"]["message"]
    assert f["tw-reuse"]["severity"] == "warning" and "tcp_tw_reuse=1" in f["tw-reuse"]["fix"]
    assert all(set(x) == {"id", "severity", "message", "fix"} for x in f.values())


def test_exhaustion_full_listener_overflows_close_wait_and_tw_buckets():
    first = sample()
    second = copy.deepcopy(first)
    second["ephemeral"]["by_destination"] = [{
        "remote": "10.0.0.1:80", "in_use": 150, "fraction": 0.75, "rate_per_s": 20.0,
        "exhausted_in_s": 2.5, "forecast": "exhausts in ~2 s"}]
    second["listeners"] = [{"local": "127.0.0.1:7000", "accept_queue": 6, "backlog": 5,
                            "fill": 1.0, "full": True, "pid": 42, "process": "srv"}]
    second["counters"]["ListenOverflows"] = 8
    second["close_wait"] = [{"pid": 42, "process": "srv", "age_s": 3.0}]
    second["states"]["TIME_WAIT"] = 950
    f = by_id(diagnose(first, second, [("10.0.0.1", 80), ("127.0.0.1", 80)]))
    assert f["port-exhaustion"]["severity"] == "critical"
    assert "150 of 200 ports" in f["port-exhaustion"]["message"]
    assert "(srv, pid 42)" in f["listener-full"]["message"]
    assert "8 during the check" in f["listen-overflows"]["message"]
    assert "1 sockets are in CLOSE_WAIT" in f["close-wait"]["message"]
    assert f["tw-buckets"]["severity"] == "critical" and "95%" in f["tw-buckets"]["message"]
    targets = [x for x in diagnose(first, second, [("10.0.0.1", 80)]) if x["id"] == "target-rate"]
    assert "at most 3 short connections/s" in targets[0]["message"]


def test_small_backlog_is_mentioned():
    s = sample(listeners=[{"local": "0.0.0.0:80", "accept_queue": 0, "backlog": 128,
                           "fill": 0.0, "full": False, "pid": None, "process": None}])
    f = by_id(diagnose(s, s))
    assert f["listener-backlog"]["severity"] == "info"
    assert "backlog of 128, below somaxconn 4096" in f["listener-backlog"]["message"]


def test_reuse_on_loopback_changes_the_target_rate():
    s = sample()
    s["sysctls"]["tcp_tw_reuse"] = 2
    (t,) = [x for x in diagnose(s, s, [("127.0.0.1", 80)]) if x["id"] == "target-rate"]
    assert "tcp_tw_reuse=2 applies" in t["message"]
