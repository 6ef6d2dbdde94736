"""The exporter over every namespace: each series once per namespace with its netns
label, each family once; and the live view's row per namespace, never cut silently."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from replay import ReplayReader
from rich.console import Console
from rich.text import Text

from harness.observe import snapshot
from harness.sinks.prometheus_hosts import HostCollector
from harness.views.hosts import host_view


def _samples():
    out = []
    for label in ("netns sl-a", "netns /proc/42/ns/net"):
        s = snapshot.take(reader=ReplayReader("t0"))
        s["host"] = label
        out.append(s)
    return out


def test_every_series_carries_its_namespace_once_per_family():
    samples = _samples()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HostCollector(lambda: samples))
    text = generate_latest(registry).decode()
    assert text.count("# TYPE socklife_tcp_sockets gauge") == 1
    for label in ("netns sl-a", "netns /proc/42/ns/net"):
        line = f'socklife_tcp_sockets{{netns="{label}",state="close_wait"}} 1.0'
        assert line in text, text[:2000]
    plain = [line for line in text.splitlines()
             if line.startswith("socklife_") and 'netns="' not in line]
    assert plain == []


def test_no_sample_yet_exposes_nothing():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HostCollector(lambda: None))
    assert generate_latest(registry) == b""


def _render(group, width=120) -> str:
    console = Console(width=width, record=True, color_system=None)
    with console.capture() as cap:
        console.print(group)
    return cap.get()


def test_the_view_counts_the_rows_it_cannot_show_and_the_empty_namespaces():
    samples = _samples() * 3
    empty = dict(samples[0], states=dict.fromkeys(samples[0]["states"], 0), host="netns e")
    text = _render(host_view([*samples, empty], Text("head"), ["netns x is gone: dropped"],
                             rows=4))
    assert text.count("netns sl-a") + text.count("netns /proc/42/ns/net") == 4
    assert "... and 2 more namespaces with sockets" in text
    assert "1 namespace without TCP sockets" in text
    assert "note: netns x is gone: dropped" in text
