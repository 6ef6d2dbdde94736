"""Prometheus exposition of every namespace of the host (``exporter --all-netns``).

Each namespace's sample is exposed by the one-namespace collector (sinks.prometheus)
and every series gets a ``netns`` label: the namespace's label as the samples carry it
(``netns NAME``, ``netns /proc/PID/ns/net``, ``this namespace``), so one query sums over
the host (``sum(socklife_tcp_sockets{state="close_wait"})``) or picks a container's
(``{netns="netns /run/docker/netns/1a2b..."}``). A family appears once, whatever the
number of namespaces, as the exposition format asks.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.core import Metric

from harness.sinks.prometheus import SamplerCollector

LABEL = "netns"


def netns_label(sample: dict) -> str:
    return sample.get("host") or str(sample.get("netns_inode"))


class HostCollector:
    """Yields metric families from ``latest()``: the newest list of samples, or None."""

    def __init__(self, latest: Callable[[], list[dict] | None], top: int = 10):
        self.latest = latest
        self.top = top

    def describe(self):
        return []

    def collect(self):
        samples = self.latest()
        if not samples:
            return
        families: dict[str, Metric] = {}
        for sample in samples:
            value = netns_label(sample)
            for family in SamplerCollector(lambda s=sample: s, self.top).collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(family.name, family.documentation,
                                                            family.type, family.unit)
                for one in family.samples:
                    merged.samples.append(one._replace(labels={**one.labels, LABEL: value}))
        yield from families.values()
