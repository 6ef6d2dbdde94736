"""`socklife exporter`: Prometheus metrics of the sampler over HTTP, and its samples as
JSON (docs/exporter.md)."""

from __future__ import annotations

import ipaddress
import threading

import click

from harness.commands.common import (
    all_netns_option,
    cgroup_ids,
    cgroup_option,
    check_netns,
    cpu_budget_option,
    interval_option,
    leak_option,
    netns_option,
    parse_hostport,
    port_option,
)
from harness.errors import UsageProblem
from harness.observe.loop import Schedule, samples
from harness.values import FiniteFloat

EPILOG = """\b
Examples:
  socklife exporter                         # http://127.0.0.1:9464/metrics
  socklife exporter --listen 127.0.0.1:9500 --port 8080 --top 20
  socklife exporter --netns lab --interval 0.5   # as root
  socklife exporter --all-netns             # every namespace, label netns (root)
  socklife exporter --leak-threshold 10     # CLOSE_WAIT for 10 s is a leak
  socklife exporter --listen 0.0.0.0:9464 --token-file token \\
      --tls-cert cert.pem --tls-key key.pem # other hosts: a token (chmod 600)
Besides /metrics: /api/v1/sample (the latest sample, a `record` line's
JSON) and /api/v1/samples?after=T (the samples kept, after Unix time T;
with --all-netns a sample per namespace per interval, as record writes).
An address other than loopback needs --token-file (clients send
"Authorization: Bearer TOKEN") or --allow-unauthenticated.
"""
KEEP_DEFAULT = 300  # samples: 5 minutes at the default 1 s interval


class Latest:
    """The newest sample, replaced by a sampling thread; read by the collector. Each
    sample also goes into ``ring`` (sample_api.SampleRing) for the JSON API."""

    def __init__(self, sampler, interval: float, ring):
        self.sampler = sampler
        self.schedule = Schedule(interval)
        self.ring = ring
        self.sample = None
        self.error: BaseException | None = None

    def __call__(self):
        return self.sample

    def keep(self, sample) -> None:
        """``sample``: one records.Sample, or a list of them (--all-netns: one per
        namespace, each kept in the ring as a `record` line of its own)."""
        self.sample = sample
        for one in sample if isinstance(sample, list) else [sample]:
            self.ring.add(one)

    def run(self, ticks) -> None:
        """Keep ``self.sample`` the newest of ``ticks`` (loop.samples) until stopped."""
        try:
            for sample in ticks:
                self.keep(sample)
        except Exception as exc:  # reported by the main thread, which then exits
            self.error = exc
            self.schedule.stop()


@click.command("exporter", epilog=EPILOG)
@click.option("--listen", default="127.0.0.1:9464", show_default=True, metavar="HOST:PORT",
              help="Where to serve /metrics and /api/v1/ (loopback by default).")
@netns_option
@all_netns_option
@port_option
@cgroup_option
@interval_option
@cpu_budget_option
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Listeners, destinations and leaking processes exported (fullest, "
                   "busiest, most leaks first; the other processes' leaks as one series).")
@leak_option
@click.option("--keep", type=click.IntRange(1, 100_000), default=KEEP_DEFAULT,
              show_default=True, metavar="N",
              help="Samples kept for /api/v1/samples (the newest N).")
@click.option("--token-file", metavar="FILE",
              help="Answer only requests with \"Authorization: Bearer TOKEN\", TOKEN the "
                   "file's content (every path, /metrics too); not readable by all users.")
@click.option("--allow-unauthenticated", is_flag=True,
              help="Serve a non-loopback --listen without a token (samples name "
                   "processes and pids).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Serve HTTPS with this PEM certificate (chain); needs --tls-key.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="The certificate's PEM private key (unencrypted).")
@click.option("--client-timeout", type=FiniteFloat(0, 3600, min_open=True), default=10.0,
              show_default=True, metavar="S",
              help="A client has S seconds to send its request (TLS handshake included) "
                   "and S for each 64 KiB of the answer, else it is dropped.")
def command(listen, netns, all_netns, ports, cgroups, interval, cpu_budget, top,
            leak_threshold, keep, token_file, allow_unauthenticated, tls_cert, tls_key,
            client_timeout):
    """Serve the sampler's readings as Prometheus metrics (socklife_*) and JSON samples."""
    host, port = parse_hostport(listen)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise UsageProblem(f"--listen needs an IP address, got {host!r}") from None
    from harness.sinks.access import access

    token, tls = access(listen, loopback, token_file, allow_unauthenticated, tls_cert,
                        tls_key)
    check_netns(netns, all_netns)
    ids = cgroup_ids(cgroups)
    from prometheus_client import CollectorRegistry

    from harness.observe.sampler import Sampler
    from harness.sinks.http_server import ExporterServer
    from harness.sinks.prometheus import SamplerCollector, metrics_route
    from harness.sinks.sample_api import SampleRing

    if all_netns:  # a list of samples, a netns label on every series
        from harness.observe.hostwide import HostSampler
        from harness.sinks.prometheus_hosts import HostCollector as SamplerCollector

        sampler = HostSampler(ports, interval, leak_threshold, cpu_budget=cpu_budget / 100,
                              fold=False, cgroup_ids=ids)
    else:
        sampler = Sampler(netns=netns, ports=ports, interval=interval,
                          leak_threshold_s=leak_threshold, cpu_budget=cpu_budget / 100,
                          fold=False, cgroup_ids=ids)
    latest = Latest(sampler, interval, SampleRing(keep, every_netns=all_netns))
    ticks = samples(latest.sampler, latest.schedule)
    latest.keep(next(ticks))  # before serving: every scrape finds a sample
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SamplerCollector(latest, top=top))
    routes = {"/metrics": metrics_route(registry), "/api/v1/sample": latest.ring.sample,
              "/api/v1/samples": latest.ring.samples}
    try:
        server = ExporterServer((host, port), routes, token=token, tls=tls,
                                client_timeout=client_timeout)
    except OSError as exc:
        raise UsageProblem(f"cannot listen on {listen}: {exc.strerror}") from None
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()
    worker = threading.Thread(target=latest.run, args=(ticks,), daemon=True, name="sampler")
    worker.start()
    url = f"{'https' if tls else 'http'}://{listen}"
    who = ("bearer token of " + token_file if token else
           "no authentication" if not loopback else "loopback only")
    click.echo(f"serving {url}/metrics, {url}/api/v1/sample, {url}/api/v1/samples "
               f"({who}; Ctrl-C to stop)", err=True)
    try:
        while worker.is_alive():
            worker.join(0.5)
    finally:
        latest.schedule.stop()
        worker.join()
        latest.schedule.close()
        latest.sampler.close()
        server.shutdown()
        server.server_close()
    if latest.error is not None:
        raise UsageProblem(f"sampling failed: {latest.error}")
    return 0
