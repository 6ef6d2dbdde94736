"""The exporter's collector on hand-written samples (the record contract), no kernel."""

from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.sinks.prometheus import SamplerCollector

# node_exporter's node_tcp_connection_states label values (collector/tcpstat_linux.go)
NODE_STATES = {"established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2", "time_wait",
               "close", "close_wait", "last_ack", "listen", "closing"}


@pytest.fixture
def samples(fixture_path):
    with open(fixture_path("report", "locust_run.jsonl")) as f:
        return [doc for doc in map(json.loads, f) if "states" in doc]


def scrape(sample, top=10) -> dict[str, dict[tuple, float]]:
    """{metric family: {sorted label items: value}} as a Prometheus scrape would parse it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SamplerCollector(lambda: sample, top=top))
    text = generate_latest(registry).decode()
    out: dict[str, dict] = {}
    for fam in text_string_to_metric_families(text):
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


def test_leaks_forecasts_and_counters(samples):
    first, last = scrape(samples[0]), scrape(samples[5])
    assert first["socklife_close_wait_leaks_sockets"][()] == 0
    assert first["socklife_close_wait_oldest_leak_age_seconds"][()] == 0
    assert "socklife_ephemeral_destination_exhaustion_seconds" not in first  # no forecast yet
    assert last["socklife_close_wait_leaks_sockets"][()] == 1
    assert last["socklife_close_wait_oldest_leak_age_seconds"][()] == 50.0
    assert last["socklife_time_wait_steady_state_sockets"][()] == 6000
    assert last["socklife_time_wait_expires_seconds"] == {
        (("stat", "max"),): 60.0, (("stat", "min"),): 55.0, (("stat", "p50"),): 58.0}
    eta = last["socklife_ephemeral_destination_exhaustion_seconds"]
    assert eta == {(("destination", "127.0.0.1:8080"),): 277.1}
    assert last["socklife_kernel_total"][(("name", "ListenOverflows"),)] == 6
    assert last["socklife_kernel_total"][(("name", "ActiveOpens"),)] == 1500


def test_no_sample_yet_exposes_nothing():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SamplerCollector(lambda: None))
    assert generate_latest(registry) == b""
