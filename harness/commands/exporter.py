"""`socklife exporter`: Prometheus metrics of the sampler over HTTP."""

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

EPILOG = """\b
Examples:
  socklife exporter                         # http://127.0.0.1:9464/metrics
  socklife exporter --listen 127.0.0.1:9500 --port 8080 --top 20
  socklife exporter --netns lab --interval 0.5   # as root
  socklife exporter --all-netns             # every namespace, label netns (root)
  socklife exporter --leak-threshold 10     # CLOSE_WAIT for 10 s is a leak
"""


class Latest:
    """The newest sample, replaced by a sampling thread; read by the collector."""

    def __init__(self, sampler, interval: float):
        self.sampler = sampler
        self.schedule = Schedule(interval)
        self.sample = None
        self.error: BaseException | None = None

    def __call__(self):
        return self.sample

    def run(self, ticks) -> None:
        """Keep ``self.sample`` the newest of ``ticks`` (loop.samples) until stopped."""
        try:
            for sample in ticks:
                self.sample = sample
        except Exception as exc:  # reported by the main thread, which then exits
            self.error = exc
            self.schedule.stop()


@click.command("exporter", epilog=EPILOG)
@click.option("--listen", default="127.0.0.1:9464", show_default=True, metavar="HOST:PORT",
              help="Where to serve /metrics (loopback by default).")
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
def command(listen, netns, all_netns, ports, cgroups, interval, cpu_budget, top,
            leak_threshold):
    """Serve the sampler's readings as Prometheus metrics (socklife_*)."""
    host, port = parse_hostport(listen)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageProblem(f"--listen needs an IP address, got {host!r}") from None
    check_netns(netns, all_netns)
    ids = cgroup_ids(cgroups)
    from prometheus_client import CollectorRegistry, start_http_server

    from harness.observe.sampler import Sampler
    from harness.sinks.prometheus import SamplerCollector

    if all_netns:  # a list of samples, a netns label on every series
        from harness.observe.hostwide import HostSampler
        from harness.sinks.prometheus_hosts import HostCollector as SamplerCollector

        sampler = HostSampler(ports, interval, leak_threshold, cpu_budget=cpu_budget / 100,
                              fold=False, cgroup_ids=ids)
    else:
        sampler = Sampler(netns=netns, ports=ports, interval=interval,
                          leak_threshold_s=leak_threshold, cpu_budget=cpu_budget / 100,
                          fold=False, cgroup_ids=ids)
    latest = Latest(sampler, interval)
    ticks = samples(latest.sampler, latest.schedule)
    latest.sample = next(ticks)  # before serving: every scrape finds a sample
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SamplerCollector(latest, top=top))
    try:
        server, _thread = start_http_server(port, host, registry=registry)
    except OSError as exc:
        raise UsageProblem(f"cannot listen on {listen}: {exc.strerror}") from None
    worker = threading.Thread(target=latest.run, args=(ticks,), daemon=True, name="sampler")
    worker.start()
    click.echo(f"serving http://{listen}/metrics (Ctrl-C to stop)", err=True)
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
