"""Prometheus exposition of the sampler: a custom collector over the latest sample.

Nothing is registered at import: the exporter command makes its own registry. Names
follow Prometheus's conventions (the base unit last, ``_total`` on counters, ``quantile``
on a summary) and node_exporter's where it reads the same thing: the state label takes
``node_tcp_connection_states``'s values (established, syn_sent, ..., close_wait, listen)
and each kernel counter is named as node_exporter's netstat collector names it
(``node_netstat_TcpExt_ListenOverflows`` is ``socklife_netstat_TcpExt_ListenOverflows_total``
here), so dashboards and alerts move from one to the other by name. Every HELP text says
the unit and where the figure comes from. Per-listener, per-destination and per-process
series are bounded to the top N (fullest queues, busiest destinations, the processes
holding the most leaks, the other processes' leaks summed in one ``process="other"``).
``metrics_route`` answers GET /metrics on the exporter's server (http_server.py).
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, gzip_accepted

from harness.kernel.netstat import counter_group
from harness.sinks.http_server import Answer, Route

PREFIX = "socklife_"
SOURCE = {"Tcp": "/proc/net/snmp", "TcpExt": "/proc/net/netstat"}
# What each counter of the sample counts (Documentation/networking/snmp_counter.rst).
COUNTS = {
    "ListenOverflows": "times a completed handshake found the accept queue full",
    "ListenDrops": "SYNs and handshake ACKs a listener dropped, overflows included",
    "TW": "sockets put in TIME_WAIT with the full timer",
    "TWRecycled": "TIME_WAIT ports taken over by a new connect() (tcp_tw_reuse)",
    "TWKilled": "sockets put in TIME_WAIT with a timer shortened to 4 s or less",
    "ActiveOpens": "connect()s: CLOSED -> SYN_SENT",
    "PassiveOpens": "handshakes a listener answered: LISTEN -> SYN_RECV",
    "AttemptFails": "handshakes that failed: SYN_SENT or SYN_RECV -> CLOSED, SYN_RECV -> LISTEN",
    "EstabResets": "ESTABLISHED or CLOSE_WAIT connections reset",
    "OutRsts": "segments sent with RST",
    "OutSegs": "segments sent, retransmissions excluded",
    "RetransSegs": "segments retransmitted",
    "TCPTimeouts": "retransmission timer (RTO) expiries",
    "TCPSynRetrans": "SYN and SYN-ACK retransmissions",
    "TCPAbortOnTimeout": "connections aborted after too many retransmissions (ETIMEDOUT)",
    "TCPAbortOnClose": "connections reset by close() with unread data",
    "SyncookiesSent": "SYN cookies sent",
    "TCPReqQFullDrop": "SYNs dropped with the SYN queue full and no syncookies",
    "TCPReqQFullDoCookies": "SYN cookies sent because the SYN queue was full",
    "TCPTimeWaitOverflow": "closing connections that skipped TIME_WAIT: tcp_max_tw_buckets "
                           "reached",
}
DUMP = "netlink sock_diag dump"
QUANTILES = (("0", "min"), ("0.5", "p50"), ("1", "max"))


def node_state(name: str) -> str:
    """``TIME_WAIT`` -> ``time_wait``; FIN_WAIT1 -> ``fin_wait1`` (node_exporter's spelling)."""
    return name.lower()


def counter_metric(name: str) -> str:
    """``ListenOverflows`` -> ``socklife_netstat_TcpExt_ListenOverflows`` (``_total`` is
    added in the exposition), after node_exporter's ``node_netstat_TcpExt_ListenOverflows``."""
    return f"{PREFIX}netstat_{counter_group(name)}_{name}"


def metrics_route(registry) -> Route:
    """GET /metrics as prometheus_client's own server answers it: the text format, or
    OpenMetrics when the Accept header asks for it; gzipped when accepted."""
    def route(_query: str, headers) -> Answer:
        encoder, content_type = choose_encoder(headers.get("Accept"))
        body = encoder(registry)
        if gzip_accepted(headers.get("Accept-Encoding")):
            return Answer(200, content_type, gzip.compress(body),
                          (("Content-Encoding", "gzip"),))
        return Answer(200, content_type, body)
    return route


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
                                "Unix time, in seconds, when the sample behind these metrics "
                                "was taken (the exporter samples every --interval).")
        age.add_metric([], sample["time"])
        yield age
        cost = sample.get("sampler")
        if cost is not None:  # samples of a run carry the sampler's own cost
            dur = GaugeMetricFamily(PREFIX + "sample_duration_seconds",
                                    "Seconds the exporter took to take that sample: the "
                                    f"{DUMP}s, /proc counters and sysctls, socket owners.")
            dur.add_metric([], cost["sample_s"])
            yield dur

    def _states(self, s):
        g = GaugeMetricFamily(PREFIX + "tcp_sockets",
                              f"TCP sockets by state, a count of sockets ({DUMP}, filtered "
                              "by --port in the kernel; TIME_WAIT from /proc/net/sockstat "
                              "without --port); states as node_exporter's "
                              "node_tcp_connection_states.", labels=["state"])
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
                "Completed connections waiting for accept(), a count of sockets (the "
                f"listener's idiag_rqueue in the {DUMP}).", labels=["local"]),
            "backlog": GaugeMetricFamily(
                PREFIX + "listener_backlog_sockets",
                "The listener's effective listen() backlog, a count of sockets (idiag_wqueue "
                f"in the {DUMP}); the accept queue holds backlog + 1.", labels=["local"]),
            "syn_recv": GaugeMetricFamily(
                PREFIX + "listener_syn_recv_sockets",
                "Request sockets in SYN_RECV on the listener's port (its SYN queue), a "
                f"count of sockets ({DUMP}).", labels=["local"]),
            "fill": GaugeMetricFamily(
                PREFIX + "listener_accept_queue_fill_ratio",
                "accept_queue / (backlog + 1), a ratio from 0 to 1 (sock_diag); at 1 the "
                "kernel drops completed handshakes (ListenOverflows).", labels=["local"]),
        }
        for row in rows:
            fill = row.get("fill", row["accept_queue"] / (row["backlog"] + 1))
            for key, fam in fams.items():
                fam.add_metric([row["local"]], fill if key == "fill" else row[key])
        yield from fams.values()

    def _leaks(self, s):
        leaks = s.get("leaks") or {}
        g = GaugeMetricFamily(PREFIX + "close_wait_leaks_sockets",
                              "CLOSE_WAIT sockets older than the leak threshold, a count of "
                              f"sockets per owning process ({DUMP}; owners from "
                              "/proc/PID/fd); the --top processes holding most, the rest "
                              "as process=\"other\"; no series while nothing leaks.",
                              labels=["process", "pid"])
        rows = sorted(leaks.get("by_process") or [], key=lambda r: -r["count"])
        for row in rows[: self.top]:
            pid = "" if row["pid"] is None else str(row["pid"])
            g.add_metric([row["process"] or "unknown", pid], row["count"])
        rest = sum(row["count"] for row in rows[self.top:])
        if rest:
            g.add_metric(["other", ""], rest)
        yield g
        old = GaugeMetricFamily(PREFIX + "close_wait_oldest_leak_age_seconds",
                                "Age of the oldest leaked CLOSE_WAIT socket, in seconds "
                                "since the exporter first saw it in CLOSE_WAIT (0 if none).")
        old.add_metric([], leaks.get("oldest_s") or 0.0)
        yield old

    def _ports(self, s):
        eph = s.get("ephemeral") or {}
        usable = GaugeMetricFamily(PREFIX + "ephemeral_ports_usable",
                                   "Ports of net.ipv4.ip_local_port_range less "
                                   "ip_local_reserved_ports, a count of ports (sysctls).")
        usable.add_metric([], eph.get("usable", 0))
        yield usable
        total = GaugeMetricFamily(PREFIX + "ephemeral_ports_in_use",
                                  "Local ports of that range held by client sockets, open or "
                                  f"in TIME_WAIT, a count of ports ({DUMP}).")
        total.add_metric([], eph.get("in_use", 0))
        yield total
        in_use = GaugeMetricFamily(PREFIX + "ephemeral_destination_ports_in_use",
                                   "Ephemeral ports held towards one destination ip:port, a "
                                   f"count of ports ({DUMP}).", labels=["destination"])
        ratio = GaugeMetricFamily(PREFIX + "ephemeral_destination_used_ratio",
                                  "Ports held towards one destination over the usable range, "
                                  f"a ratio from 0 to 1 ({DUMP}, sysctls).",
                                  labels=["destination"])
        eta = GaugeMetricFamily(PREFIX + "ephemeral_destination_exhaustion_seconds",
                                "Forecast seconds until connect() to a destination runs out "
                                "of ports, from the close rate (TIME_WAIT timers) and the "
                                "growth of open sockets; only while the range would run out.",
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
        expires = tw.get("expires_s") or {}
        exp = Metric(PREFIX + "time_wait_expires_seconds",
                     "Seconds left on the TIME_WAIT timers (the TIME_WAIT-only sock_diag "
                     "dump, 0.256 s buckets): quantile 0 is the soonest, 1 the latest, NaN "
                     "when there is none; _count is the sockets they were read from.",
                     "summary")
        for quantile, key in QUANTILES:
            value = expires.get(key)
            exp.add_sample(exp.name, {"quantile": quantile},
                           math.nan if value is None else value)
        exp.add_sample(exp.name + "_count", {}, tw.get("count", 0))
        yield exp
        steady = GaugeMetricFamily(PREFIX + "time_wait_steady_state_sockets",
                                   "TIME_WAIT sockets the current close rate leads to, a "
                                   "count of sockets (closes per second from the TIME_WAIT "
                                   "timers, x 60 s).")
        steady.add_metric([], tw.get("steady_state") or 0)
        yield steady

    def _counters(self, s):
        for name, value in (s.get("counters") or {}).items():
            group = counter_group(name)
            what = COUNTS.get(name, "kernel counter")
            c = CounterMetricFamily(counter_metric(name),
                                    f"{group} {name} ({SOURCE[group]}): {what}; a count "
                                    "since the network namespace was made (node_exporter: "
                                    f"node_netstat_{group}_{name}).")
            c.add_metric([], value)
            yield c
