"""Prometheus exposition of the sampler: a custom collector over the latest sample.

Nothing is registered at import: the exporter command makes its own registry. Metric
names carry their unit; the state label uses node_exporter's values
(``node_tcp_connection_states``: established, syn_sent, ..., close_wait, listen), so the
two can sit side by side on one dashboard. Per-listener and per-destination series are
bounded to the top N (fullest queues, busiest destinations).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

PREFIX = "socklife_"


def node_state(name: str) -> str:
    """``TIME_WAIT`` -> ``time_wait``; FIN_WAIT1 -> ``fin_wait1`` (node_exporter's spelling)."""
    return name.lower()


class SamplerCollector:
    """Yields metric families from ``latest()``: the newest sample dict, or None."""

    def __init__(self, latest: Callable[[], dict | None], top: int = 10):
        self.latest = latest
        self.top = top

    def describe(self):
        return []  # collected lazily; no sample is taken at registration

    def collect(self):
        sample = self.latest()
        if sample is None:
            return
        yield from self._states(sample)
        yield from self._listeners(sample)
        yield from self._leaks(sample)
        yield from self._ports(sample)
        yield from self._time_wait(sample)
        yield from self._counters(sample)
        age = GaugeMetricFamily(PREFIX + "sample_timestamp_seconds",
                                "Unix time of the sample these metrics come from.")
        age.add_metric([], sample["time"])
        yield age
        dur = GaugeMetricFamily(PREFIX + "scrape_duration_seconds",
                                "Time taken to read the kernel for the sample behind this "
                                "scrape (sock_diag dump, /proc counters, owners).")
        dur.add_metric([], (sample.get("sampler") or {}).get("sample_s", 0.0))
        yield dur

    def _states(self, s):
        g = GaugeMetricFamily(PREFIX + "tcp_sockets", "TCP sockets by state (sock_diag).",
                              labels=["state"])
        for name, n in s["states"].items():
            g.add_metric([node_state(name)], n)
        yield g

    def _listeners(self, s):
        rows = sorted(s.get("listeners", []),
                      key=lambda r: (-r.get("fill", r["accept_queue"] / (r["backlog"] + 1)),
                                     -r["syn_recv"], r["local"]))[: self.top]
        fams = {
            "accept_queue": GaugeMetricFamily(
                PREFIX + "listener_accept_queue_sockets",
                "Completed connections waiting for accept() (idiag_rqueue).", labels=["local"]),
            "backlog": GaugeMetricFamily(
                PREFIX + "listener_backlog_sockets",
                "Effective listen() backlog; the queue holds backlog + 1.", labels=["local"]),
            "syn_recv": GaugeMetricFamily(
                PREFIX + "listener_syn_recv_sockets",
                "Request sockets in SYN_RECV (the SYN queue).", labels=["local"]),
            "fill": GaugeMetricFamily(
                PREFIX + "listener_accept_queue_fill_ratio",
                "accept_queue / (backlog + 1); 1 means SYNs are being dropped.",
                labels=["local"]),
        }
        for row in rows:
            fill = row.get("fill", row["accept_queue"] / (row["backlog"] + 1))
            for key, fam in fams.items():
                fam.add_metric([row["local"]], fill if key == "fill" else row[key])
        yield from fams.values()

    def _leaks(self, s):
        leaks = s.get("leaks") or {}
        g = GaugeMetricFamily(PREFIX + "close_wait_leaks_sockets",
                              "CLOSE_WAIT sockets older than the leak threshold.")
        g.add_metric([], leaks.get("count", 0))
        yield g
        old = GaugeMetricFamily(PREFIX + "close_wait_oldest_leak_age_seconds",
                                "Age of the oldest leaked CLOSE_WAIT socket (0 if none).")
        old.add_metric([], leaks.get("oldest_s") or 0.0)
        yield old

    def _ports(self, s):
        eph = s.get("ephemeral") or {}
        usable = GaugeMetricFamily(PREFIX + "ephemeral_ports_usable",
                                   "ip_local_port_range minus reserved ports.")
        usable.add_metric([], eph.get("usable", 0))
        yield usable
        total = GaugeMetricFamily(PREFIX + "ephemeral_ports_in_use",
                                  "Local ports of the range held by client sockets.")
        total.add_metric([], eph.get("in_use", 0))
        yield total
        in_use = GaugeMetricFamily(PREFIX + "ephemeral_destination_ports_in_use",
                                   "Ephemeral ports held towards one destination.",
                                   labels=["destination"])
        ratio = GaugeMetricFamily(PREFIX + "ephemeral_destination_used_ratio",
                                  "Share of the usable range held towards one destination.",
                                  labels=["destination"])
        eta = GaugeMetricFamily(PREFIX + "ephemeral_destination_exhaustion_seconds",
                                "Forecast time until the range runs out for a destination.",
                                labels=["destination"])
        busiest = sorted(eph.get("by_destination") or [], key=lambda r: -r["in_use"])
        for row in busiest[: self.top]:
            in_use.add_metric([row["remote"]], row["in_use"])
            ratio.add_metric([row["remote"]], row["fraction"])
            if row.get("exhausted_in_s") is not None:
                eta.add_metric([row["remote"]], row["exhausted_in_s"])
        yield from (in_use, ratio, eta)

    def _time_wait(self, s):
        tw = s.get("time_wait") or {}
        exp = GaugeMetricFamily(PREFIX + "time_wait_expires_seconds",
                                "Time left on TIME_WAIT timers.", labels=["stat"])
        for stat, value in (tw.get("expires_s") or {}).items():
            if value is not None:
                exp.add_metric([stat], value)
        yield exp
        steady = GaugeMetricFamily(PREFIX + "time_wait_steady_state_sockets",
                                   "TIME_WAIT count the current close rate leads to (x 60 s).")
        steady.add_metric([], tw.get("steady_state") or 0)
        yield steady

    def _counters(self, s):
        c = CounterMetricFamily(PREFIX + "kernel", "Kernel TCP counters (Tcp and TcpExt, "
                                "cumulative in the namespace).", labels=["name"])
        for name, value in (s.get("counters") or {}).items():
            c.add_metric([name], value)
        yield c
