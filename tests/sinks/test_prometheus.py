"""The exporter's collector on hand-written samples (the record contract), no kernel."""

from __future__ import annotations

import copy
import json
import math
import re
import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.kernel.netstat import parse_pairs
from harness.observe.sampler import COUNTERS
from harness.sinks.prometheus import COUNTS, SamplerCollector

# node_exporter's node_tcp_connection_states label values (collector/tcpstat_linux.go)
NODE_STATES = {"established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2", "time_wait",
               "close", "close_wait", "last_ack", "listen", "closing"}


@pytest.fixture
def samples(fixture_path):
    with open(fixture_path("report", "locust_run.jsonl")) as f:
        return [doc for doc in map(json.loads, f) if "states" in doc]


# What the sampler of a run reports about itself (records.SamplerCost).
COST = {"cpu_s": 1.5, "rss_bytes": 40_000_000, "sample_s": 0.004, "missed": 0}


def exposition(sample, top=10) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SamplerCollector(lambda: sample, top=top))
    return generate_latest(registry).decode()


def scrape(sample, top=10) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} as a Prometheus scrape would parse it."""
    out: dict[str, dict] = {}
    for fam in text_string_to_metric_families(exposition(sample, top)):
        assert fam.documentation, f"{fam.name} has no help text"
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_states_use_node_exporter_labels(samples):
    got = scrape(samples[3])["socklife_tcp_sockets"]
    assert {dict(k)["state"] for k in got} == NODE_STATES
    assert got[(("state", "time_wait"),)] == 300
    assert got[(("state", "established"),)] == 23


def test_top_n_keeps_the_fullest_listener_and_busiest_destination(samples):
    # In the file the nearly idle listener / destination come first.
    m = scrape(samples[2], top=1)
    assert m["socklife_listener_accept_queue_fill_ratio"] == {(("local", "127.0.0.1:8080"),): 1.0}
    assert m["socklife_listener_backlog_sockets"] == {(("local", "127.0.0.1:8080"),): 128}
    assert m["socklife_listener_syn_recv_sockets"] == {(("local", "127.0.0.1:8080"),): 9}
    assert list(m["socklife_ephemeral_destination_ports_in_use"]) == [
        (("destination", "127.0.0.1:8080"),)]
    assert len(scrape(samples[2], top=2)["socklife_listener_accept_queue_sockets"]) == 2


def test_leaks_forecasts_and_time_wait_quantiles(samples):
    first, last = scrape(samples[0]), scrape(samples[5])
    assert "socklife_close_wait_leaks_sockets" not in first  # no series while nothing leaks
    assert first["socklife_close_wait_oldest_leak_age_seconds"][()] == 0
    assert "socklife_ephemeral_destination_exhaustion_seconds" not in first  # no forecast yet
    assert last["socklife_close_wait_leaks_sockets"] == {
        (("pid", "4242"), ("process", "python3")): 1}
    assert last["socklife_close_wait_oldest_leak_age_seconds"][()] == 50.0
    assert last["socklife_time_wait_steady_state_sockets"][()] == 6000
    assert last["socklife_time_wait_expires_seconds"] == {
        (("quantile", "0"),): 55.0, (("quantile", "0.5"),): 58.0, (("quantile", "1"),): 60.0}
    assert last["socklife_time_wait_expires_seconds_count"] == {(): 500}
    none = first["socklife_time_wait_expires_seconds"]  # no TIME_WAIT: NaN, as an empty summary
    assert len(none) == 3 and all(math.isnan(v) for v in none.values())
    eta = last["socklife_ephemeral_destination_exhaustion_seconds"]
    assert eta == {(("destination", "127.0.0.1:8080"),): 277.1}


def test_one_counter_per_kernel_counter_named_as_node_exporter(samples, fixture_path):
    """node_exporter's netstat collector: node_netstat_<line prefix>_<name>, the prefix
    being the line of /proc/net/snmp (Tcp) or /proc/net/netstat (TcpExt) it is on."""
    lines = {}
    for name in ("snmp", "netstat"):
        with open(fixture_path("proc", "net", name)) as f:
            for group, fields in parse_pairs(f.read()).items():
                lines.update(dict.fromkeys(fields, group))
    sample = samples[5]
    got = scrape(sample)
    names = {k for k in got if k.startswith("socklife_netstat_")}
    assert names == {f"socklife_netstat_{lines[c]}_{c}_total" for c in sample["counters"]}
    assert got["socklife_netstat_TcpExt_ListenOverflows_total"] == {(): 6}
    assert got["socklife_netstat_Tcp_ActiveOpens_total"] == {(): 1500}
    text = exposition(sample)
    assert "# TYPE socklife_netstat_TcpExt_ListenOverflows_total counter" in text
    assert "node_netstat_TcpExt_ListenOverflows)" in text  # the HELP names its twin
    assert set(COUNTS) == set(COUNTERS)  # every counter a sample carries has its meaning


def test_leaks_per_process_are_bounded_with_an_other_series(samples):
    sample = copy.deepcopy(samples[5])
    sample["leaks"]["by_process"] = [
        {"pid": 10, "process": "api", "count": 3}, {"pid": 11, "process": "worker", "count": 5},
        {"pid": 12, "process": "cron", "count": 1}, {"pid": None, "process": None, "count": 2}]
    got = scrape(sample, top=2)["socklife_close_wait_leaks_sockets"]
    assert got == {(("pid", "11"), ("process", "worker")): 5,
                   (("pid", "10"), ("process", "api")): 3,
                   (("pid", ""), ("process", "other")): 3}
    got = scrape(sample, top=4)["socklife_close_wait_leaks_sockets"]
    assert got[(("pid", ""), ("process", "unknown"))] == 2 and len(got) == 4


def test_every_help_says_unit_and_source(samples):
    units = ("a count", "seconds", "a ratio", "unix time")
    sources = ("sock_diag", "/proc/", "sysctl", "TIME_WAIT timers", "the exporter")
    sample = {**samples[5], "sampler": COST}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SamplerCollector(lambda: sample))
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    assert len(families) == 16 + len(sample["counters"])
    assert scrape(sample)["socklife_sample_duration_seconds"] == {(): 0.004}
    assert "socklife_sample_duration_seconds" not in scrape(samples[5])  # no cost recorded
    for fam in families:
        assert any(u in fam.documentation.lower() for u in units), fam.name
        assert any(s in fam.documentation for s in sources), fam.name


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="needs promtool (Debian package prometheus)")
def test_promtool_lint_finds_only_node_exporters_camel_case(samples):
    """`promtool check metrics` (Prometheus's own linter): counters end in _total, units
    are base units, quantile only on a summary... The one remark left is CamelCase in
    the netstat names, which are node_exporter's on purpose."""
    sample = {**samples[5], "sampler": COST}
    done = subprocess.run(["promtool", "check", "metrics"], input=exposition(sample),
                          capture_output=True, text=True, timeout=30)
    remarks = (done.stdout + done.stderr).splitlines()
    assert remarks, "promtool had nothing to say: the CamelCase names were expected"
    for line in remarks:
        assert re.match(r"socklife_netstat_Tcp(Ext)?_[A-Za-z]+_total metric names should be "
                        r"written in 'snake_case' not 'camelCase'$", line), line


def test_no_sample_yet_exposes_nothing():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SamplerCollector(lambda: None))
    assert generate_latest(registry) == b""
