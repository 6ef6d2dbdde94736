"""The Locust plugin: the kernel's TCP sockets sampled beside the load.

``import harness.load`` (or ``from harness.load import plugin``) in a locustfile adds the
``--socklife-*`` arguments and the listeners; nothing opens a socket before ``init``.
arguments (options and rules), hostkey (one sampler per host and namespace),
sampler_proc + source (the sampler as a child process, its lines read cooperatively),
remote (``--socklife-remote``: an exporter's samples polled as a host), collector
(per-host runs, totals, run summary, findings per host, checks), history (each host's
chart points, bounded), rows (the figures of a host's latest sample and their total),
csv_sink (``<prefix>_tcp.csv``), webui + webui_tab.js (the "TCP states" tab: findings
on top, hosts and total, the chart, the CSV under "Download Data"),
tcp_user (a raw TCP User with connect and request timings), target / http_target (the
target a locustfile starts for itself),
demo_run (``socklife demo``), plugin (the wiring into Locust's events).
May import harness.kernel, harness.observe, harness.schema, harness.sockets, harness.lab,
harness.sinks and harness.views (the live view the demo draws, the findings' sentences);
never harness.commands.
"""

import sys

# Register only inside a Locust process (Locust imports itself before the locustfile):
# importing the plugin imports locust, which monkey-patches the standard library, and
# a program that merely uses the pure parts (rules, collector, CSV) must not get that.
if "locust" in sys.modules:
    from harness.load import plugin  # noqa: F401  (registers the arguments and listeners)
